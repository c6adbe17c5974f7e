"""Shared fixtures: the device option, float64 models from the case table, helpers."""

from __future__ import annotations

import importlib.util
import itertools
import os
import sys
import zlib
from pathlib import Path
from types import ModuleType

import pytest
import torch

import pyro_autoregressive as par

from cases import CASES, Case


def pytest_configure(config: pytest.Config) -> None:
    """Under pytest-xdist, share the cores between the workers instead of each taking all of them."""
    workers = int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "0"))
    if workers:
        cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
        torch.set_num_threads(max(1, cores // workers))


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption("--device", default="cpu", help="device to run the property table on (cpu, cuda)")


@pytest.fixture(scope="session")
def device(request: pytest.FixtureRequest) -> torch.device:
    name = request.config.getoption("--device")
    if name.startswith("cuda") and not torch.cuda.is_available():
        pytest.skip("--device cuda given but CUDA is not available")
    return torch.device(name)


@pytest.fixture(params=CASES, ids=[c.id for c in CASES])
def case(request: pytest.FixtureRequest) -> Case:
    return request.param


def seed_for(*names: object) -> int:
    """A fixed seed per test and case (stable across runs and processes)."""
    return zlib.crc32("/".join(map(str, names)).encode())


def build(case: Case, device: torch.device, dtype: torch.dtype = torch.float64) -> par.AutoregressiveModel:
    torch.manual_seed(seed_for("build", case.id))
    model = case.model().to(device=device, dtype=dtype)
    # give the (otherwise zero-initialised-ish) network some spread so that every test has teeth
    with torch.no_grad():
        for p in model.parameters():
            p.add_(0.3 * torch.randn_like(p))
    return model


def make_context(model: par.AutoregressiveModel, case: Case, batch_shape: tuple[int, ...]):
    """Random contexts of the given batch shape (None where the model takes none)."""
    kw = {"device": model.device, "dtype": model.dtype}
    context = torch.randn(*batch_shape, model.context_size, **kw) if model.context_size else None
    local_shape = model.local_context_shape(model.layout(case.length))
    local = torch.randn(*batch_shape, *local_shape, **kw) if local_shape is not None else None
    return context, local


def condition(model: par.AutoregressiveModel, case: Case, batch_shape: tuple[int, ...] = ()):
    """The case's distribution with contexts of ``batch_shape`` (expanded when it has none)."""
    context, local = make_context(model, case, batch_shape)
    d = model.condition(context, local_context=local, length=case.length)
    return d if d.batch_shape == batch_shape else d.expand(batch_shape)


def all_values(d: par.AutoregressiveDistribution) -> torch.Tensor:
    """Every value of a discrete event, ``(K ** numel, *event_shape)``."""
    k = d.model.head.num_classes
    numel = d.event_shape.numel()
    grid = torch.tensor(list(itertools.product(range(k), repeat=numel)), device=d.model.device)
    return grid.reshape(-1, *d.event_shape)


def real_line(points: int, dtype: torch.dtype, device: torch.device, scale: float = 3.0):
    """Quadrature nodes and log-weights covering the whole real line.

    Midpoint rule in ``t`` on ``(-1, 1)`` under ``x = scale * t / (1 - t^2)``: dense
    near 0, reaching the far tails, exact enough for the smooth densities here.
    """
    t = (torch.arange(points, dtype=dtype, device=device) + 0.5) * (2.0 / points) - 1.0
    x = scale * t / (1.0 - t * t)
    log_w = torch.log(scale * (1.0 + t * t) / (1.0 - t * t) ** 2 * (2.0 / points))
    return x, log_w


def vary_step(d: par.AutoregressiveDistribution, x: torch.Tensor, step: int, values: torch.Tensor) -> torch.Tensor:
    """Copies of ``x (*B, *E)`` whose step ``step`` (one channel) takes each of ``values (M,)``: ``(M, *B, *E)``."""
    steps = d.layout.to_steps(x).expand((len(values),) + x.shape[: -len(d.event_shape)] + (d.num_steps, -1)).clone()
    steps[..., step, 0] = values.reshape((-1,) + (1,) * (steps.dim() - 3))
    return d.layout.from_steps(steps)


def load_script(relative: str) -> ModuleType:
    """Import a script of the repository (``examples/x.py``, ``benchmarks/x.py``) as a module.

    Its folder is on ``sys.path`` while it loads, as when it is run as ``python <path>``
    (the benchmarks import their ``common`` helpers that way).
    """
    path = Path(__file__).resolve().parents[1] / relative
    spec = importlib.util.spec_from_file_location(path.stem, path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.path.insert(0, str(path.parent))
    try:
        spec.loader.exec_module(module)
    finally:
        sys.path.remove(str(path.parent))
    return module


def forge_weights(path: Path, tensors: dict[str, torch.Tensor]) -> None:
    """Replace a saved model's weights by ``tensors``, with the config's checksum forged to match."""
    import hashlib
    import json

    from safetensors.torch import save_file

    save_file(tensors, path / "model.safetensors")
    config = json.loads((path / "config.json").read_text())
    config["weights_sha256"] = hashlib.sha256((path / "model.safetensors").read_bytes()).hexdigest()
    (path / "config.json").write_text(json.dumps(config))
