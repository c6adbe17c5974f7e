"""The how-to guides (docs/guides/*.md), the getting-started page and the generation page run as written.

Each page's ```python blocks are extracted and executed in order, in one namespace, in a
temporary directory (the files a guide writes land there): one test per page. The
multi-process guide's script also runs under ``torchrun`` with two CPU processes (gloo).
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import torch

DOCS = Path(__file__).resolve().parents[1] / "docs"
GUIDES = DOCS / "guides"
PAGES = sorted(path.name for path in GUIDES.glob("*.md") if path.name != "index.md")
#: every page whose code runs, relative to docs/
RUNNABLE = ["getting_started.md", "generation.md", *(f"guides/{page}" for page in PAGES)]


def python_blocks(page: str) -> list[str]:
    """The ```python blocks of ``docs/<page>``, in order."""
    return re.findall(r"^```python\n(.*?)^```", (DOCS / page).read_text(), flags=re.S | re.M)


def test_every_guide_is_listed_and_has_code():
    index = (GUIDES / "index.md").read_text()
    assert len(PAGES) >= 7
    for page in PAGES:
        assert f"]({page})" in index and page.removesuffix(".md") in index, f"{page} is not in the guides' index"
        assert python_blocks(f"guides/{page}"), f"{page} has no python block to run"


@pytest.mark.parametrize("page", RUNNABLE)
def test_page_runs(page, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    code = "\n".join(python_blocks(page))
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # tiny models: one thread is fastest, and never oversubscribes a shared machine
    torch.manual_seed(0)
    try:
        exec(compile(code, str(DOCS / page), "exec"), {"__name__": "page_" + Path(page).stem})
    finally:
        torch.set_num_threads(threads)


@pytest.mark.slow
def test_multiprocess_guide_under_torchrun(tmp_path):
    """Two processes (gloo on the CPU) train in step: their weights are identical at the end."""
    (script,) = [block for block in python_blocks("guides/gpu_and_processes.md") if "process_group(" in block]
    # test only: each process writes its weights
    script += "\n    torch.save(model.state_dict(), f'weights_{distributed.rank()}.pt')\n"
    (tmp_path / "train_ddp.py").write_text(script)
    root = str(Path(__file__).resolve().parents[1])
    path = os.pathsep.join(filter(None, [root, os.environ.get("PYTHONPATH")]))
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": path}
    command = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node", "2", "train_ddp.py"]
    result = subprocess.run(command, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300, check=False)
    assert result.returncode == 0, result.stderr[-3000:]
    assert "2 process(es)" in result.stdout
    first, second = (torch.load(tmp_path / f"weights_{rank}.pt") for rank in (0, 1))
    assert all(torch.equal(first[name], second[name]) for name in first)
