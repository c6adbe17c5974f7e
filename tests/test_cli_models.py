"""Every model family from the command line: size flags and --model-config reach the constructor, checked."""

from __future__ import annotations

import json

import pytest
from cli_data import png_folder, text_file, wav_folder

import pyro_autoregressive as par
from pyro_autoregressive import cli
from pyro_autoregressive.cli import families, main
from pyro_autoregressive.cli.data_spec import DataSpec
from pyro_autoregressive.cli.families import FAMILIES, OPTIONS, build_model

IMAGE = DataSpec("image", (1, 4, 4), 5, num_classes=2)
TEXT = DataSpec("text", (12,), 256)

#: a value of every option unlike any family's default, and the families' kinds of data to build on
ODD_VALUES = {
    "hidden_sizes": (6, 5),
    "hidden_channels": 6,
    "num_layers": 2,
    "kernel_size": 5,
    "first_kernel_size": 5,
    "num_components": 3,
    "num_resnet": 1,
    "num_hierarchies": 2,
    "dropout": 0.125,
    "residual_channels": 6,
    "skip_channels": 7,
    "num_stacks": 1,
    "d_model": 12,
    "num_heads": 3,
    "mlp_ratio": 2,
    "attention_window": 4,
}


def parse(argv):
    return cli.build_parser().parse_args(["train", *argv])


def flag_argv(family):
    """The size flags of ``family``, each set to its value of :data:`ODD_VALUES`."""
    argv = []
    for key in family.options:
        value = ODD_VALUES[key]
        if family.name == "wavenet" and key == "kernel_size":
            value = 3
        argv += [OPTIONS[key].flag, *map(str, value if isinstance(value, tuple) else (value,))]
    return argv


@pytest.mark.parametrize("name", list(FAMILIES))
def test_size_flags_reach_the_constructor(name):
    """Each flag a family takes ends up in the saved configuration of the model built."""
    family = FAMILIES[name]
    args = parse(["--model", name, *flag_argv(family)])
    spec = IMAGE if "image" in family.kinds else TEXT
    config = build_model(name, args.model_options, spec).config()
    assert config["type"] == family.class_name
    for key in family.options:
        expected = 3 if (name, key) == ("wavenet", "kernel_size") else ODD_VALUES[key]
        assert config[key] == (list(expected) if isinstance(expected, tuple) else expected), key
    json.dumps(args.model_options)  # JSON-native: a run's record holds it
    assert config["context_size"] == spec.num_classes


@pytest.mark.parametrize("name", list(FAMILIES))
def test_defaults_build(name):
    family = FAMILIES[name]
    spec = DataSpec("image", (3, 8, 8), 17) if "image" in family.kinds else DataSpec("audio", (32,), 256)
    model = build_model(name, parse(["--model", name]).model_options, spec)
    assert tuple(model.layout().event_shape) == ((spec.dims,) if name == "made" else spec.event_shape)
    assert (model.head.num_classes or 0) == 17 if spec.is_image else 256


def test_pixelcnnpp_takes_the_data_levels_and_fitting_hierarchies():
    model = build_model("pixelcnnpp", parse(["--model", "pixelcnnpp"]).model_options, DataSpec("image", (1, 6, 6), 9))
    config = model.config()
    assert config["num_classes"] == 9 and config["num_hierarchies"] == 2  # 6 is divisible by 2, not by 4


def test_model_config_json_and_file(tmp_path):
    args = parse(["--model-config", '{"hidden_channels": 7, "num_layers": 2}'])
    assert (
        args.model == "gated" and args.model_options["hidden_channels"] == 7 and args.model_options["num_layers"] == 2
    )
    path = tmp_path / "m.json"
    path.write_text(json.dumps({"hidden_sizes": [9, 3]}))
    args = parse(["--model", "made", "--model-config", str(path)])
    assert args.model_options == {"hidden_sizes": [9, 3]}
    args = parse(["--model-config", '{"hidden_channels": 7}', "--hidden-channels", "5"])  # the flag wins
    assert args.model_options["hidden_channels"] == 5


BAD_MODEL_FLAGS = [
    (
        ["--model-config", '{"hiden_channels": 7}'],
        "argument --model-config: unknown key 'hiden_channels' for --model gated",
    ),
    (
        ["--model-config", '{"num_layers": "2"}'],
        "argument --model-config: key 'num_layers': expected an int >= 1, got \"2\"",
    ),
    (
        ["--model-config", '{"num_layers": 2.5}'],
        "argument --model-config: key 'num_layers': expected an int >= 1, got 2.5",
    ),
    (
        ["--model-config", '{"num_layers": true}'],
        "argument --model-config: key 'num_layers': expected an int >= 1, got true",
    ),
    (
        ["--model-config", '{"kernel_size": 4}'],
        "argument --model-config: key 'kernel_size': expected an odd int >= 1, got 4",
    ),
    (
        ["--model", "made", "--model-config", '{"hidden_sizes": [8, 0]}'],
        "key 'hidden_sizes': expected a list of int >= 1s",
    ),
    (
        ["--model-config", '{"image_shape": [1, 8, 8]}'],
        "argument --model-config: key 'image_shape' is set from the data",
    ),
    (
        ["--model-config", "[1, 2]"],
        "argument --model-config: expected a JSON object of constructor keywords, got [1, 2]",
    ),
    (["--model-config", "{oops"], "argument --model-config: not valid JSON"),
    (
        ["--model-config", "missing.json"],
        "argument --model-config: expected a JSON object or a .json file, got 'missing.json'",
    ),
    (["--d-model", "16"], "argument --d-model: --model gated does not take it (its size flags: --hidden-channels"),
    (["--model", "wavenet", "--hidden-channels", "4"], "argument --hidden-channels: --model wavenet does not take it"),
    (["--kernel-size", "4"], "argument --kernel-size: expected an odd int >= 1 for --model gated, got 4"),
    (
        ["--model", "wavenet", "--kernel-size", "1"],
        "argument --kernel-size: expected an int >= 2 for --model wavenet, got 1",
    ),
    (["--model", "pixelcnnpp", "--dropout", "1"], "argument --dropout: expected a number in [0, 1), got '1'"),
    (["--num-layers", "0"], "argument --num-layers: expected an int >= 1, got '0'"),
    (
        ["--model", "made", "--hidden-sizes", "8", "x"],
        "argument --hidden-sizes/--hidden: expected an int >= 1, got 'x'",
    ),
    (["--model", "lstm"], "argument --model: invalid choice: 'lstm'"),
]


@pytest.mark.parametrize(("argv", "expected"), BAD_MODEL_FLAGS, ids=[" ".join(a) for a, _ in BAD_MODEL_FLAGS])
def test_bad_model_flag_is_one_line(argv, expected, capsys, monkeypatch):
    monkeypatch.setattr(cli.train, "fit", lambda *a, **k: pytest.fail("trained despite a bad flag"))
    with pytest.raises(SystemExit) as exit_info:
        main(["train", *argv])
    err = capsys.readouterr().err
    assert exit_info.value.code == 2 and err.count("\n") == 1, err
    assert err.startswith("pyro-autoregressive train: error: ") and expected in err, err


@pytest.mark.parametrize(
    ("model", "data", "kind"),
    [("pixelcnn", "text", "text"), ("rowlstm", "sounds", "audio"), ("wavenet", "images", "image")],
)
def test_a_family_that_cannot_model_the_data_is_one_error(model, data, kind, tmp_path, capsys, monkeypatch):
    source = {"text": text_file, "sounds": wav_folder, "images": png_folder}[data](tmp_path)
    length = [] if data == "images" else ["--length", "64"]
    monkeypatch.setattr(cli.train, "fit", lambda *a, **k: pytest.fail("trained a model that cannot fit the data"))
    with pytest.raises(SystemExit) as exit_info:
        main(["train", "--model", model, "--data", str(source), *length, "--out", str(tmp_path / "run")])
    err = capsys.readouterr().err
    assert exit_info.value.code == 2 and err.count("\n") == 1, err
    assert f"--model {model} cannot model --data {source}" in err and f"this is {kind} data" in err, err
    assert not (tmp_path / "run").exists()


TINY = {
    "made": ["--hidden-sizes", "8"],
    "pixelcnn": ["--hidden-channels", "4", "--num-layers", "1"],
    "gated": ["--hidden-channels", "4", "--num-layers", "1"],
    "pixelcnnpp": ["--hidden-channels", "4", "--num-resnet", "1", "--num-components", "2"],
    "rowlstm": ["--hidden-channels", "4", "--num-layers", "1"],
    "diagonalbilstm": ["--hidden-channels", "4", "--num-layers", "1"],
    "wavenet": ["--residual-channels", "4", "--skip-channels", "4", "--num-layers", "2", "--num-stacks", "1"],
    "transformer": ["--d-model", "8", "--num-heads", "2", "--num-layers", "1"],
}
RUNS = [(name, "images") for name, f in FAMILIES.items() if "image" in f.kinds] + [
    ("made", "text"),
    ("wavenet", "sounds"),
    ("transformer", "text"),
]


@pytest.mark.slow
@pytest.mark.parametrize(("name", "data"), RUNS, ids=[f"{n}-{d}" for n, d in RUNS])
def test_every_family_trains_one_epoch(name, data, tmp_path):
    """Built from its tiny flags on tiny data, trained one epoch, saved with the run's record and samples."""
    source = {"images": png_folder, "text": text_file, "sounds": wav_folder}[data](tmp_path)
    length = [] if data == "images" else ["--length", "16"]
    out = tmp_path / "run"
    argv = ["train", "--model", name, *TINY[name], "--data", str(source), *length, "--epochs", "1"]
    assert main([*argv, "--out", str(out), "--no-progress", "--threads", "1"]) == 0
    record = json.loads((out / "config.json").read_text())
    kind = {"images": "image", "text": "text", "sounds": "audio"}[data]
    assert record["settings"]["model"] == name and record["data"]["kind"] == kind
    model = par.load(out / "model")
    assert type(model).__name__ == FAMILIES[name].class_name
    assert model.context_size == (2 if data == "images" else 0)  # the two class folders as one-hot labels
    expected = {"image": ["samples.png", "completions.png"], "audio": ["samples.wav", "samples.png"]}
    for file in expected.get(kind, ["samples.txt"]):
        assert (out / file).stat().st_size > 0, file


def test_family_table_matches_the_library():
    """Every family's class exists, its defaults are constructor keywords, every option has a flag."""
    for family in FAMILIES.values():
        assert family.class_name in par.__all__
        assert set(family.options) <= set(OPTIONS)
        missing = set(family.defaults) - set(family.options)
        assert missing <= {"attention_window"}, missing  # only an option the library may not have yet
    assert families.DEFAULT_MODEL == "gated"
