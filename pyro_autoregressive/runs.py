"""The folder of a ``train`` run: its configuration, checkpoints, metrics, loss curves and samples.

::

    RUN/
      config.json          the settings (every flag), the model's config, the data and its split,
                           the number of processes, the versions of Python and the libraries
      checkpoints/last/    the latest epoch: model/ (par.save), trainer.safetensors, trainer.json
      checkpoints/best/    the kept weights of the best epoch so far (par.save)
      model/               the final model (par.save): the best epoch's kept weights
      metrics.json         per-epoch history; at the end the test NLL and the baseline
      metrics.csv          one row per epoch (nats per example and bits per dimension)
      loss.png             training and validation NLL per epoch
      samples ...          samples of the final model, as the data calls for (``cli.outputs.RUN_FILES``):
                           images samples.png and completions.png; audio samples.wav and
                           samples.png (waveforms); text samples.txt; other sequences samples.npy

Every file is replaced atomically (written beside, then renamed), so a process
killed at any moment leaves each one complete: the old or the new.
"""

from __future__ import annotations

import csv
import io
import json
import os
import platform
import shutil
from importlib import metadata
from pathlib import Path
from typing import Any

from .atomic import write_file_atomically
from .training import FitResult, bits_per_dim

__all__ = [
    "CHECKPOINTS",
    "CONFIG_NAME",
    "FORMAT",
    "check_new_run",
    "check_resumable",
    "create",
    "read_config",
    "versions",
    "write_config",
    "write_loss_plot",
    "write_metrics",
]

#: the value of ``config.json``'s ``format``: what marks a folder as a run
FORMAT = "pyro-autoregressive run"
FORMAT_VERSION = 1
CONFIG_NAME = "config.json"
CHECKPOINTS = "checkpoints"
MODEL = "model"
METRICS_JSON, METRICS_CSV, LOSS_PLOT = "metrics.json", "metrics.csv", "loss.png"
_CSV_COLUMNS = (
    "epoch",
    "train_nll",
    "train_bits_per_dim",
    "val_nll",
    "val_bits_per_dim",
    "test_nll",
    "test_bits_per_dim",
    "lr",
    "seconds",
)


def versions() -> dict[str, str]:
    """The versions of Python and of the libraries a run's numbers depend on."""
    found = {"python": platform.python_version()}
    for name in ("pyro-autoregressive", "torch", "pyro-ppl", "numpy", "safetensors"):
        try:
            found[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            found[name] = "not installed"
    return found


def read_config(run: Path) -> dict[str, Any] | None:
    """The ``config.json`` of the run folder ``run``, or None where ``run`` holds no run (no such file, not ours)."""
    try:
        config = json.loads((run / CONFIG_NAME).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if not isinstance(config, dict) or config.get("format") != FORMAT or not isinstance(config.get("settings"), dict):
        return None
    return config


def check_new_run(out: Path, settings: dict[str, Any], *, force: bool) -> None:
    """Refuse an ``--out`` that cannot take a new run with ``settings``, in one line naming ``--out``.

    Refused: a file (or a path through one); a folder that cannot be written or
    created; a non-empty folder that holds no run; a folder holding a run, unless
    ``force`` (then :func:`create` deletes it): of another configuration (the first
    differences are named) or of this one (``--resume`` continues it).
    """
    where = repr(os.fspath(out))
    if out.exists() or out.is_symlink():
        if not out.is_dir():
            raise ValueError(f"--out: {where} is a file; expected a folder for the run (new or empty)")
        if not _writable(out):
            raise ValueError(f"--out: cannot write in {where} (permission denied)")
        entries = sorted(p.name for p in out.iterdir())
        if not entries:
            return
        stored = read_config(out)
        if stored is None:
            shown = ", ".join(entries[:3]) + (", ..." if len(entries) > 3 else "")
            raise ValueError(f"--out: {where} is not empty ({shown}) and holds no run; choose a new or empty folder")
        if force:
            return
        differences = _differences(stored["settings"], settings)
        if differences:
            raise ValueError(
                f"--out: {where} holds a run of another configuration ({differences}); "
                f"choose another --out, or --force to replace it"
            )
        raise ValueError(
            f"--out: {where} holds a run of this configuration; continue it with --resume {os.fspath(out)}, "
            f"or replace it with --force"
        )
    parent = out.absolute().parent
    while not parent.exists():
        parent = parent.parent
    if not parent.is_dir():
        raise ValueError(f"--out: {where} cannot be created: {os.fspath(parent)!r} is a file")
    if not _writable(parent):
        raise ValueError(f"--out: {where} cannot be created in {os.fspath(parent)!r} (permission denied)")


def check_resumable(run: Path) -> dict[str, Any]:
    """The config of the run folder ``run`` to resume; a ``ValueError`` naming ``--resume`` if it holds none."""
    where = repr(os.fspath(run))
    if not run.is_dir():
        raise ValueError(f"--resume: {where} is not a run folder (no such directory)")
    config = read_config(run)
    if config is None:
        raise ValueError(f"--resume: {where} holds no run (no {CONFIG_NAME} written by train)")
    if not _writable(run):
        raise ValueError(f"--resume: cannot write in {where} (permission denied)")
    return config


def create(out: Path, *, force: bool) -> None:
    """Make the run folder ``out`` (``force``: delete the run it holds first; :func:`check_new_run` allowed it)."""
    if force and read_config(out) is not None:
        shutil.rmtree(out)
    out.mkdir(parents=True, exist_ok=True)


def write_config(out: Path, config: dict[str, Any]) -> None:
    """``out/config.json``: ``config`` marked as a run's (``format``, ``format_version``), atomically."""
    document = {"format": FORMAT, "format_version": FORMAT_VERSION, **config}
    write_file_atomically(out / CONFIG_NAME, (json.dumps(document, indent=2) + "\n").encode())


def write_metrics(
    out: Path, result: FitResult, dims: int, summary: dict[str, Any], test_nll: float | None = None
) -> None:
    """``metrics.json`` (``summary``, the best epoch, the history, the test NLL when given) and ``metrics.csv``.

    Epochs are counted from 1 in both files. The test NLL is that of the kept
    weights, the best epoch's: in the CSV it fills that epoch's row.
    """
    best = result.best_epoch
    metrics = {
        **summary,
        "epochs_run": len(result.history),
        "best_epoch": best + 1,
        "stopped": result.stopped,
        "train_seconds": round(result.seconds, 1),
        "val_nll": result.val_nll[best] if result.val_nll else None,
        "test_nll": test_nll,
        "test_bits_per_dim": None if test_nll is None else bits_per_dim(test_nll, dims),
        "history": [{**vars(record), "epoch": record.epoch + 1} for record in result.history],  # epochs from 1
    }
    write_file_atomically(out / METRICS_JSON, (json.dumps(metrics, indent=2) + "\n").encode())
    table = io.StringIO()
    writer = csv.DictWriter(table, _CSV_COLUMNS, lineterminator="\n")
    writer.writeheader()
    for record, entry in zip(result.history, metrics["history"], strict=True):
        tested = test_nll is not None and record.epoch == best
        row = entry | {
            "test_nll": test_nll if tested else None,
            "test_bits_per_dim": bits_per_dim(test_nll, dims) if tested else None,
        }
        writer.writerow({key: "" if row[key] is None else row[key] for key in _CSV_COLUMNS})
    write_file_atomically(out / METRICS_CSV, table.getvalue().encode())


def write_loss_plot(out: Path, result: FitResult, title: str) -> None:
    """``loss.png``: the training and validation NLL per epoch in bits per dimension, the best epoch marked."""
    from .plotting import save_loss_curves

    save_loss_curves(result.history, out / LOSS_PLOT, best_epoch=result.best_epoch, title=title)  # atomically


def _writable(folder: Path) -> bool:
    """Whether this process may create files in ``folder``."""
    return os.access(folder, os.W_OK | os.X_OK)


def _differences(stored: dict[str, Any], settings: dict[str, Any], shown: int = 3) -> str:
    """The first settings that differ, as ``name: ours here, theirs in the run``."""
    keys = [key for key in settings if stored.get(key) != settings[key]]
    keys += [key for key in stored if key not in settings]
    text = "; ".join(f"{key}: {settings.get(key)!r} here, {stored.get(key)!r} in the run" for key in keys[:shown])
    return text + ("; ..." if len(keys) > shown else "")
