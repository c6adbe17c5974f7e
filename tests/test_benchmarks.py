"""The benchmark scripts as a whole: the one-command report, and the GPU check on a machine without one."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pyro
import pytest
import torch

from conftest import load_script

ROOT = Path(__file__).resolve().parents[1]
FAMILIES = load_script("benchmarks/common.py").FAMILIES


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the message of a machine without CUDA")
def test_gpu_check_without_cuda_says_so_and_exits_0():
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])))
    out = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks/gpu_check.py")], capture_output=True, text=True, env=env, timeout=120
    )
    assert out.returncode == 0, out.stderr
    assert "CUDA is not available" in out.stdout


@pytest.mark.slow
def test_run_all_writes_the_report_with_every_family(tmp_path, capsys):
    report = tmp_path / "benchmarks.md"
    rows = load_script("benchmarks/run_all.py").main(["--quick", "--report", str(report)])
    text = report.read_text()
    assert "--quick" in text and "Machine: CPU" in text and f"torch {torch.__version__}" in text
    lines = [line for line in text.splitlines() if line.startswith("| ") and not line.startswith("| model")]
    for family in FAMILIES:
        assert any(line.startswith(f"| {family} |") for line in lines), family
    kinds = {(row["model"], row["kind"]) for row in rows if "model" in row}  # bench_decoding's rows have none
    for family in FAMILIES:
        assert (family, "sampling") in kinds and (family, "log_prob") in kinds, family
    assert {"GatedPixelCNN", "Transformer", "WaveNet"} <= {model for model, kind in kinds if kind == "memory"}
    assert "x** (" in text  # ratios were written


def test_filter_rounding_counts_every_dtype_and_filter(capsys):
    load_script("benchmarks/filter_rounding.py").main(num_samples=20)
    assert pyro.distributions.is_validation_enabled()  # left as it was
    lines = [line for line in capsys.readouterr().out.splitlines() if "rows scoring -inf" in line]
    assert len(lines) == 9
    assert all(line.endswith("of 20") for line in lines)
    assert all(" 0 of 20" in line for line in lines if line.startswith("float32"))
