"""Persistence: atomic saves (kill -9 at random moments), checksums, eval-mode loads, every malformed file an error.

Format-1 files, masks in a file and users' classes are tested in ``test_validation.py``;
the round trip of every model x head in ``test_properties.py``.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
from collections.abc import Callable
from pathlib import Path

import pytest
import torch

import pyro_autoregressive as par
from pyro_autoregressive.heads import Categorical

from conftest import forge_weights, load_script


def _made(seed: int = 0) -> par.MADE:
    torch.manual_seed(seed)
    return par.MADE(3, Categorical(3), hidden_sizes=(4,))


def _same_weights(a: torch.nn.Module, b: torch.nn.Module) -> bool:
    sa, sb = a.state_dict(), b.state_dict()
    return sa.keys() == sb.keys() and all(torch.equal(sa[k], sb[k]) for k in sa)


# -- load: eval mode, format, dtype ------------------------------------------------------------------


def test_load_returns_the_model_in_eval_mode(tmp_path):
    """A loaded model with dropout is a fixed function: log_prob does not change from call to call."""
    torch.manual_seed(0)
    model = par.Transformer(Categorical(3), max_length=6, d_model=16, num_heads=2, num_layers=2, dropout=0.2)
    loaded = par.load(par.save(model, tmp_path / "m"))
    assert not any(module.training for module in loaded.modules())
    x = torch.randint(0, 3, (16, 6))
    d = loaded.condition()
    assert torch.equal(d.log_prob(x), d.log_prob(x))


def _edit_config(edit: Callable[[dict], None]) -> Callable[[Path], None]:
    def apply(path: Path) -> None:
        config = json.loads((path / "config.json").read_text())
        edit(config)
        (path / "config.json").write_text(json.dumps(config))

    return apply


def _write(name: str, data: bytes) -> Callable[[Path], None]:
    return lambda path: (path / name).write_bytes(data)


def _set(key: str, value: object) -> Callable[[Path], None]:
    return _edit_config(lambda config: config.__setitem__(key, value))


def _drop(key: str) -> Callable[[Path], None]:
    return _edit_config(lambda config: config.pop(key))


def _weights(edit: Callable[[dict], None], *, forge: bool = True) -> Callable[[Path], None]:
    """Edit the tensors of the weights file; ``forge``: rewrite the config's checksum to match (a crafted file)."""
    from safetensors.torch import load_file, save_file

    def apply(path: Path) -> None:
        tensors = load_file(path / "model.safetensors")
        edit(tensors)
        if forge:
            forge_weights(path, tensors)
        else:
            save_file(tensors, path / "model.safetensors")

    return apply


def _bytes(edit: Callable[[bytes], bytes], *, forge: bool = False) -> Callable[[Path], None]:
    def apply(path: Path) -> None:
        (path / "model.safetensors").write_bytes(edit((path / "model.safetensors").read_bytes()))
        if forge:
            digest = hashlib.sha256((path / "model.safetensors").read_bytes()).hexdigest()
            _set("weights_sha256", digest)(path)

    return apply


def _pickle(path: Path) -> None:
    torch.save(_made().state_dict(), path / "model.safetensors")


def _flip(data: bytes) -> bytes:
    return data[:-5] + bytes([data[-5] ^ 1]) + data[-4:]


_CONFIG_TEXT = '{"format_version": 3, "dtype": "float32", "type": "MADE"'
#: (id, how the saved model is damaged, the file named, the problem named)
MALFORMED = [
    ("format_version 999", _set("format_version", 999), "config.json", r"format_version: expected an int in \[1, 3\]"),
    ("format_version 0", _set("format_version", 0), "config.json", r"format_version: .* got 0"),
    ("format_version true", _set("format_version", True), "config.json", r"format_version: .* got True"),
    ("format_version str", _set("format_version", "3"), "config.json", r"format_version: .* got '3'"),
    ("dtype _dynamo", _set("dtype", "_dynamo"), "config.json", r"dtype: expected one of .* got '_dynamo'"),
    ("dtype complex64", _set("dtype", "complex64"), "config.json", r"dtype: .* got 'complex64'"),
    ("dtype int64", _set("dtype", "int64"), "config.json", r"dtype: .* got 'int64'"),
    ("dtype number", _set("dtype", 64), "config.json", r"dtype: .* got 64"),
    ("no type", _drop("type"), "config.json", r"missing keys \['type'\]"),
    ("no dtype", _drop("dtype"), "config.json", r"missing keys \['dtype'\]"),
    ("no format_version", _drop("format_version"), "config.json", r"missing keys \['format_version'\]"),
    ("no checksum", _drop("weights_sha256"), "config.json", "missing key 'weights_sha256'"),
    ("unknown type", _set("type", "os.system"), "config.json", "expected a model 'type'"),
    ("no argument", _drop("event_size"), "config.json", "do not build a MADE: .*event_size"),
    ("extra argument", _set("extra", 1), "config.json", "do not build a MADE: .*extra"),
    ("bad argument", _set("event_size", "3"), "config.json", "do not build a MADE: event_size"),
    ("head not an object", _set("head", "Categorical"), "config.json", "do not build a MADE: head"),
    ("bad head", _set("head", {"type": "Categorical"}), "config.json", "do not build a MADE: .*num_classes"),
    ("bad json", _write("config.json", b'{"format_version": 3,'), "config.json", "not a valid JSON config"),
    ("not utf-8", _write("config.json", b"\xff\xfe{}"), "config.json", "not a valid JSON config"),
    ("json list", _write("config.json", b"[1, 2]"), "config.json", "expected a JSON object, got list"),
    ("json NaN", _write("config.json", (_CONFIG_TEXT + ', "x": NaN}').encode()), "config.json", "NaN is not JSON"),
    (
        "duplicate key",
        _write("config.json", (_CONFIG_TEXT + ', "dtype": "float64"}').encode()),
        "config.json",
        r"duplicate keys \['dtype'\]",
    ),
    ("truncated", _bytes(lambda b: b[: len(b) // 2]), "model.safetensors", "checksum mismatch"),
    ("empty", _bytes(lambda b: b""), "model.safetensors", "checksum mismatch"),
    ("a bit flipped", _bytes(_flip), "model.safetensors", "checksum mismatch"),
    ("pickle", _pickle, "model.safetensors", "checksum mismatch"),
    ("other weights", _weights(lambda t: t["direct.weight"].add_(1), forge=False), "model.safetensors", "checksum"),
    ("truncated, forged", _bytes(lambda b: b[: len(b) // 2], forge=True), "model.safetensors", "not a valid safe"),
    ("empty, forged", _bytes(lambda b: b"", forge=True), "model.safetensors", "not a valid safetensors"),
    ("header, forged", _bytes(lambda b: b"\xff" * 8 + b[8:], forge=True), "model.safetensors", "not a valid safe"),
    ("missing tensor", _weights(lambda t: t.pop("direct.weight")), "model.safetensors", r"missing \['direct.weight'\]"),
    (
        "extra tensor",
        _weights(lambda t: t.update(extra=torch.zeros(2))),
        "model.safetensors",
        r"unexpected \['extra'\]",
    ),
    (
        "wrong shape",
        _weights(lambda t: t.update({"direct.weight": torch.zeros(2, 2)})),
        "model.safetensors",
        r"direct.weight: expected torch.float32 of shape \(\d+, \d+\), got torch.float32 of shape \(2, 2\)",
    ),
    (
        "wrong dtype",
        _weights(lambda t: t.update({"direct.weight": t["direct.weight"].double()})),
        "model.safetensors",
        r"direct.weight: expected torch.float32 .* got torch.float64",
    ),
    (
        "complex",
        _weights(lambda t: t.update({"direct.weight": t["direct.weight"].to(torch.complex64)})),
        "model.safetensors",
        r"direct.weight: .* got torch.complex64",
    ),
    (
        "NaN weights",
        _weights(lambda t: t["direct.weight"].view(-1)[0].fill_(float("nan"))),
        "model.safetensors",
        "direct.weight: holds non-finite values",
    ),
]


@pytest.mark.parametrize("damage, file, problem", [m[1:] for m in MALFORMED], ids=[m[0] for m in MALFORMED])
def test_every_malformed_file_is_a_value_error_naming_the_file(tmp_path, damage, file, problem):
    path = par.save(_made(), tmp_path / "m")
    damage(path)
    with pytest.raises(ValueError, match=re.escape(str(path.resolve() / file)) + ".*" + problem):
        par.load(path)


def test_files_of_format_2_load_without_a_checksum(tmp_path):
    """Format 2 had no checksum: such a file loads, exactly (format 1: ``test_files_of_format_1_load_exactly``)."""
    model = _made()
    path = par.save(model, tmp_path / "m")
    _edit_config(lambda config: config.pop("weights_sha256") and config.update(format_version=2))(path)
    assert _same_weights(par.load(path), model)


# -- save: atomic, leftovers, refusals ---------------------------------------------------------------


def test_save_replaces_the_directory_and_removes_leftovers_of_killed_saves(tmp_path):
    par.save(_made(0), tmp_path / "m")
    for stale in (".m.saving-abc123", ".m.replaced-0123abcd"):  # what killed saves leave behind
        (tmp_path / stale).mkdir()
        (tmp_path / stale / "model.safetensors").write_bytes(b"partial")
    (tmp_path / ".other.saving-x").mkdir()  # another directory's: not ours to remove
    new = _made(1)
    par.save(new, tmp_path / "m")
    assert sorted(p.name for p in tmp_path.iterdir()) == [".other.saving-x", "m"]
    assert sorted(p.name for p in (tmp_path / "m").iterdir()) == ["config.json", "model.safetensors"]
    assert _same_weights(par.load(tmp_path / "m"), new)


def test_a_save_killed_between_its_renames_leaves_the_old_model_loadable(tmp_path):
    """The state a kill between the two renames leaves: the old copy moved aside, the new one staged."""
    old, new = _made(0), _made(1)
    path = par.save(old, tmp_path / "m")
    os.replace(path, tmp_path / ".m.replaced-feedface")
    par.save(new, tmp_path / "staged")
    os.replace(tmp_path / "staged", tmp_path / ".m.saving-k1ll3d")
    assert _same_weights(par.load(path), old)
    par.save(new, path)  # puts the old copy back first, then replaces it; no leftovers
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m"]
    assert _same_weights(par.load(path), new)


def test_a_save_failing_between_its_renames_puts_the_old_model_back(tmp_path, monkeypatch):
    old = _made(0)
    path = par.save(old, tmp_path / "m")
    calls = []
    replace = os.replace

    def failing_replace(src, dst):
        calls.append(src)
        if len(calls) == 2:  # the second rename of the swap: the new copy taking the name
            raise OSError("disk on fire")
        replace(src, dst)

    monkeypatch.setattr(os, "replace", failing_replace)
    with pytest.raises(OSError, match="disk on fire"):
        par.save(_made(1), path)
    monkeypatch.undo()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m"]
    assert _same_weights(par.load(path), old)


def test_save_refuses_a_directory_holding_other_files(tmp_path):
    (tmp_path / "m").mkdir()
    (tmp_path / "m" / "notes.txt").write_text("mine")
    with pytest.raises(ValueError, match=r"path: .* holds \['notes.txt'\]"):
        par.save(_made(), tmp_path / "m")
    assert (tmp_path / "m" / "notes.txt").read_text() == "mine"
    (tmp_path / "f").write_text("a file")
    with pytest.raises(ValueError, match="path: expected a directory"):
        par.save(_made(), tmp_path / "f")


def test_saved_config_records_the_checksum_of_the_weights(tmp_path):
    path = par.save(_made(), tmp_path / "m")
    config = json.loads((path / "config.json").read_text())
    assert config["format_version"] == 3
    assert config["weights_sha256"] == hashlib.sha256((path / "model.safetensors").read_bytes()).hexdigest()


def _kill_during_save(kills: int, directory: Path) -> None:
    counts = load_script("benchmarks/kill_during_save.py").run(kills, directory)
    assert counts["kills"] == kills and counts["not loadable"] == 0, counts
    assert counts["loaded A"] + counts["loaded B"] == kills, counts
    assert counts["with leftovers"] > 0, f"no kill landed inside a save: {counts}"


def test_kill_during_save_leaves_a_loadable_model(tmp_path):
    """SIGKILL at random moments of a save loop (5 kills; the slow test and the script do 50 or more)."""
    _kill_during_save(5, tmp_path)


@pytest.mark.slow
def test_kill_during_save_leaves_a_loadable_model_50_times(tmp_path):
    _kill_during_save(50, tmp_path)
