"""``pyro-autoregressive train``: fit a model by maximum likelihood into a run folder; resumable, torchrun-ready."""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path
from typing import Any

import torch

from .. import distributed, runs
from ..atomic import current_directory
from ..baselines import independent_histogram_nll
from ..checkpoints import STATE_NAME
from ..persistence import save
from ..training import LAST, PRECISIONS, fit, mean_nll
from .data import add_data_flags, load_options, open_data, split_of, split_parts
from .data_spec import DataSpec
from .families import add_model_flags, build_model
from .flags import COUNT, POSITIVE, add_device_flags, device, float_above, int_at_least
from .outputs import check_run_outputs, report, write_run_samples
from .run_info import data_record

__all__ = ["add_parser", "train"]

#: flags of this command rather than of the run (they may differ when it is resumed)
_NOT_SETTINGS = frozenset(
    ("command", "run", "flag_defaults", "out", "resume", "force", "device", "threads", "no_progress")
)
#: settings a resumed run may change (the others are the run's)
_CHANGEABLE = ("epochs", "patience", "max_minutes")
#: the exit status after Ctrl-C (128 + SIGINT)
INTERRUPTED = 130


def train(args: argparse.Namespace) -> int:
    """Train in the run folder ``--out`` (or go on with ``--resume RUN``); under torchrun, every process runs this."""
    with distributed.process_group(device(args)) as on:
        return _train(args, on)


def _train(args: argparse.Namespace, on: torch.device) -> int:
    main = distributed.is_main()
    resuming = args.resume is not None
    out = Path(args.resume if resuming else args.out)
    refusal = None
    if main:  # rank 0 makes the folder: it alone decides, before any work, and tells the others
        try:
            _check_out(args, out)
        except ValueError as error:
            refusal = str(error)
    refusal = distributed.broadcast_text(refusal)
    if refusal is not None:
        raise ValueError(refusal)
    stored = runs.read_config(out) if resuming else None
    if resuming and stored is None:  # e.g. a process of another machine that does not see the run folder
        raise ValueError(f"--resume: process {distributed.rank()} cannot read the run {os.fspath(out)!r}")
    if stored is not None:
        args = _resumed(args, stored["settings"])

    torch.manual_seed(args.seed)
    if stored is not None:  # the run's data as recorded (its fingerprint checked) and its recorded split
        load = dict(stored["data"]["load"])
        dataset = open_data(load.pop("source"), load)
    else:
        dataset = open_data(args.data, load_options(args))
    spec = DataSpec.from_dataset(dataset, labels=not args.no_labels)
    check_run_outputs(spec.kind)  # a missing matplotlib or soundfile is said before training
    model = build_model(args.model, args.model_options, spec).to(on)
    split = split_of(dataset, args.split_seed, stored["split"] if stored is not None else None)
    parts = split_parts(dataset, split, spec, model)
    if distributed.world_size() > 1:
        torch.manual_seed(args.seed + distributed.rank())  # the same initial weights, but each its own dropout
    dims = spec.dims
    if main:
        if not resuming:
            runs.create(out, force=args.force)
        runs.write_config(out, _run_config(args, model, spec, split, on, stored))
    summary = {"model": args.model, "data": args.data, "device": str(on), "processes": distributed.world_size()}

    def after_epoch(result: Any) -> None:
        if main:
            runs.write_metrics(out, result, dims, summary)

    schedule = None
    if args.schedule == "cosine":
        schedule = lambda optimizer: torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, args.epochs)  # noqa: E731
    try:
        result = fit(
            model,
            parts["train"].values,
            val=parts["val"].values,
            train_context=parts["train"].context,
            val_context=parts["val"].context,
            epochs=args.epochs,
            batch_size=args.batch_size,
            lr=args.lr,
            weight_decay=args.weight_decay,
            patience=args.patience,
            max_seconds=None if args.max_minutes is None else args.max_minutes * 60,
            max_grad_norm=args.max_grad_norm,
            scheduler=schedule,
            ema_decay=args.ema,
            precision=args.precision,
            progress=not args.no_progress and main,
            seed=args.seed,
            checkpoint_dir=out / runs.CHECKPOINTS,
            resume=resuming,
            callback=after_epoch,
        )
    except KeyboardInterrupt:
        if main:
            print(_interrupted(out, args.epochs), file=sys.stderr)
        return INTERRUPTED
    test = parts["test"]
    test_nll = mean_nll(model, test.values, test.context, precision=args.precision, across_processes=True)
    if main:
        _finish(args, out, model, spec, parts, result, summary, test_nll, on)
    distributed.barrier()  # the run is written when any process returns
    return 0


def _finish(
    args: argparse.Namespace,
    out: Path,
    model: torch.nn.Module,
    spec: DataSpec,
    parts: dict[str, Any],
    result: Any,
    summary: dict[str, Any],
    test_nll: float,
    on: torch.device,
) -> None:
    """Rank 0 writes the final model, samples, metrics and loss curves, and prints the report."""
    train, test = parts["train"], parts["test"]
    baseline = independent_histogram_nll(train.values, test.values, spec.levels)
    save(model, out / runs.MODEL)
    runs.write_metrics(out, result, spec.dims, {**summary, "baseline_test_nll": baseline}, test_nll)
    runs.write_loss_plot(out, result, title=f"{args.model} on {args.data}")
    written, seconds = write_run_samples(
        model, spec, out, test=(test.values, test.context), progress=not args.no_progress
    )
    processes = f" x {distributed.world_size()} processes" if distributed.world_size() > 1 else ""
    print(f"{args.model} on {args.data}: {len(result.history)} epochs in {result.seconds:.0f} s on {on}{processes}")
    print(report(f"{args.model} (test)", test_nll, spec.dims, spec.kind))
    print(report("independent histograms", baseline, spec.dims, spec.kind))
    names = ", ".join(Path(p).name for p in written)
    files = f"model/, checkpoints/, config.json, metrics.json, metrics.csv, loss.png, {names}"
    print(f"wrote the run {out}: {files} ({seconds:.2f} s sampling)")


def _settings(args: argparse.Namespace) -> dict[str, Any]:
    """The flags that define the run (the model, the data, every hyper-parameter, the seed)."""
    return {key: value for key, value in vars(args).items() if key not in _NOT_SETTINGS}


def _check_out(args: argparse.Namespace, out: Path) -> None:
    """Refuse, in one line, a run folder this command cannot write (before any work)."""
    if args.resume is None:
        runs.check_new_run(out, _settings(args), force=args.force)
        return
    if args.force:
        raise ValueError("--force: expected --resume RUN (go on with the run) or --force (replace it), not both")
    if args.out != args.flag_defaults["out"] and Path(args.out) != out:
        raise ValueError(f"--out: a resumed run stays in its folder {os.fspath(out)!r}; give --resume RUN alone")
    _resumed(args, runs.check_resumable(out)["settings"])


def _resumed(args: argparse.Namespace, stored: dict[str, Any]) -> argparse.Namespace:
    """``args`` with the run's settings; a flag given with another value than the run's is refused.

    A flag is taken as given when its value is not the parser's default, so the
    run's settings win over every default; ``--epochs``, ``--patience`` and
    ``--max-minutes`` may change (to train longer, say).
    """
    defaults, current = args.flag_defaults, _settings(args)
    for key, value in current.items():
        given = key in defaults and value != defaults[key]  # derived values (model_options) are the run's
        if key in stored and key not in _CHANGEABLE and given and value != stored[key]:
            raise ValueError(
                f"--resume: --{key.replace('_', '-')} {value!r} differs from the run's {stored[key]!r}; a resumed run "
                f"keeps its settings (only {', '.join('--' + k.replace('_', '-') for k in _CHANGEABLE)} may change)"
            )
    merged = {**current, **stored}
    merged |= {key: current[key] for key in _CHANGEABLE if current[key] != defaults.get(key)}
    return argparse.Namespace(**{**vars(args), **merged})


def _run_config(
    args: argparse.Namespace,
    model: torch.nn.Module,
    spec: DataSpec,
    split: Any,
    on: torch.device,
    stored: dict[str, Any] | None,
) -> dict[str, Any]:
    """What ``config.json`` records: the settings, the model, the data and its split, the processes, versions."""
    here = {"processes": distributed.world_size(), "device": str(on), "versions": runs.versions()}
    if stored is not None:  # resumed: the run's record, its settings updated, this session appended
        config = {key: value for key, value in stored.items() if key not in ("format", "format_version")}
        return {**config, "settings": _settings(args), "resumed": [*config.get("resumed", []), here]}
    return {"settings": _settings(args), "model": model.config(), **data_record(spec, split), **here}


def _interrupted(out: Path, epochs: int) -> str:
    """The line after Ctrl-C: which epoch is kept and how to go on."""
    again = f"continue with: pyro-autoregressive train --resume {os.fspath(out)}"
    last = out / runs.CHECKPOINTS / LAST
    try:
        state = json.loads((current_directory(last) / STATE_NAME).read_text())
        done = state["state"]["epoch"] + 1
    except (OSError, ValueError, KeyError, TypeError):
        return f"interrupted before the first epoch ended (no checkpoint yet); {again}"
    return f"interrupted: epoch {done} of {epochs} is the last complete one, kept in {os.fspath(last)}; {again}"


def add_parser(commands: argparse._SubParsersAction) -> None:
    p = commands.add_parser("train", help="fit a model by maximum likelihood into a run folder (resumable)")
    add_model_flags(p)
    add_data_flags(p)
    p.add_argument("--epochs", type=COUNT, default=300)
    p.add_argument("--batch-size", type=COUNT, default=50, help="examples per step, over all processes")
    p.add_argument("--lr", type=POSITIVE, default=2e-3)
    p.add_argument("--weight-decay", type=float_above(0.0, inclusive=True), default=0.0)
    p.add_argument("--schedule", choices=("constant", "cosine"), default="constant", help="learning-rate schedule")
    p.add_argument("--max-grad-norm", type=POSITIVE, default=None, help="clip the gradients' norm to this")
    p.add_argument("--ema", type=float_above(0.0, below=1.0), default=None, help="EMA decay of the kept weights")
    p.add_argument("--precision", choices=PRECISIONS, default="fp32", help="bf16: autocast (for CUDA)")
    p.add_argument("--patience", type=COUNT, default=10, help="stop after this many epochs without improvement")
    p.add_argument("--max-minutes", type=POSITIVE, default=None, help="stop after this much training time")
    p.add_argument("--seed", type=int_at_least(0), default=0, help="initial weights, data order, dropout")
    p.add_argument("--out", default="runs/latest", help="the run folder (new or empty; see --resume, --force)")
    p.add_argument("--resume", metavar="RUN", default=None, help="go on with the run in RUN from its last checkpoint")
    p.add_argument("--force", action="store_true", help="replace the run that --out holds")
    p.add_argument("--no-progress", action="store_true")
    add_device_flags(p)
    p.set_defaults(run=train)
    p.set_defaults(flag_defaults=p.flag_defaults())
