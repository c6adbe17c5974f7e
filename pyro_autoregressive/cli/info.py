"""``pyro-autoregressive info``: a run's or a saved model's configuration, size, event shape and data."""

from __future__ import annotations

import argparse
import json
from typing import Any

from .families import family_of
from .flags import run_or_model
from .run_info import Run, open_run

__all__ = ["add_parser", "describe", "info"]


def describe(run: Run) -> dict[str, Any]:
    """What ``info`` shows, JSON-ready: model, family, configuration, parameters, event shape, data, split, metrics."""
    model = run.model
    config = model.config()
    head = config.pop("head", None)
    config.pop("type", None)
    split = run.split
    result: dict[str, Any] = {
        "path": str(run.path),
        "kind": "run" if run.is_run else "saved model",
        "model": type(model).__name__,
        "family": family_of(model),
        "config": config,
        "head": head if head is not None else repr(model.head),
        "parameters": sum(p.numel() for p in model.parameters()),
        "dtype": str(model.dtype).removeprefix("torch."),
        "event_shape": list(model.layout().event_shape),
        "context_size": model.context_size,
        "data": run.spec.to_dict() | {"recorded": bool(run.spec.load)},
    }
    if split is not None:
        result["split"] = {k: split.get(k) for k in ("method", "seed", "size", "fractions")} | {
            part: _count(split.get(part)) for part in ("train", "val", "test")
        }
    extra = {k: v for k, v in run.record.items() if k not in ("data", "split")}
    if extra:
        result["run"] = extra
    if run.metrics:
        result["metrics"] = {k: v for k, v in run.metrics.items() if not isinstance(v, (list, dict))}
    return result


def _count(part: Any) -> int | None:
    if isinstance(part, dict) and {"start", "stop"} <= set(part):
        return int(part["stop"]) - int(part["start"])
    return len(part) if isinstance(part, list) else None


def _text(info: dict[str, Any]) -> str:
    family = f" (--model {info['family']})" if info["family"] else ""
    config = ", ".join(f"{k}={json.dumps(v)}" for k, v in info["config"].items())
    head = dict(info["head"]) if isinstance(info["head"], dict) else info["head"]
    if isinstance(head, dict):
        head = f"{head.pop('type')}({', '.join(f'{k}={v}' for k, v in head.items())})"
    data = info["data"]
    shape = f"{data['kind']} {tuple(data['event_shape'])}, {data['levels']} levels"
    shape += f", {data['num_classes']} classes" if data["num_classes"] else ""
    shape += f", {data['sample_rate']} Hz {data['audio_encoding']}" if data["sample_rate"] else ""
    rows = [
        (info["kind"], info["path"]),
        ("model", f"{info['model']}{family}"),
        ("config", config),
        ("head", head),
        ("parameters", f"{info['parameters']:,} ({info['dtype']})"),
        ("event shape", str(tuple(info["event_shape"]))),
        ("context", str(info["context_size"] or "none")),
        ("data", shape),
        ("source", data["load"].get("source", "not recorded (a bare model: inferred from its event shape)")),
    ]
    options = {k: v for k, v in data["load"].items() if k not in ("source", "sha256")}
    if options:
        rows.append(("loaded with", ", ".join(f"{k}={v}" for k, v in options.items())))
    if "split" in info:
        s = info["split"]
        seed = f", seed {s['seed']}" if s.get("seed") is not None else ""
        rows.append(("split", f"{s['method']}{seed}: train {s['train']}, val {s['val']}, test {s['test']}"))
    for section in ("run", "metrics"):
        for key, value in info.get(section, {}).items():
            shown = f"{value:.4g}" if isinstance(value, float) else value
            rows.append((f"{section}.{key}", json.dumps(shown) if isinstance(shown, (dict, list)) else str(shown)))
    width = max(len(key) for key, _ in rows) + 2
    return "\n".join(f"{key:<{width}}{value}" for key, value in rows)


def info(args: argparse.Namespace) -> int:
    result = describe(open_run(args.path))
    print(json.dumps(result, indent=2) if args.json else _text(result))
    return 0


def add_parser(commands: argparse._SubParsersAction) -> None:
    p = commands.add_parser(
        "info",
        help="a run's or saved model's configuration, parameter count, event shape and data",
        description="Print what a run folder or a saved model holds: the model's class and constructor "
        "configuration, its parameter count and event shape, the data it was trained on and the split.",
    )
    p.add_argument("path", type=run_or_model, metavar="RUN_OR_MODEL", help="a run folder or a saved model")
    p.add_argument("--json", action="store_true", help="print JSON instead of text")
    p.set_defaults(run=info)
