"""Run every benchmark in this folder, one after the other.

python benchmarks/run_all.py            # all of them
python benchmarks/run_all.py made       # those whose file name contains "made"
"""

from __future__ import annotations

import pathlib
import runpy
import sys

if __name__ == "__main__":
    here = pathlib.Path(__file__).parent
    sys.path.insert(0, str(here))
    wanted = sys.argv[1:]
    for path in sorted(here.glob("bench_*.py")):
        if wanted and not any(w in path.stem for w in wanted):
            continue
        print(f"=== {path.name}")
        sys.argv = [str(path)]
        runpy.run_path(str(path), run_name="__main__")
