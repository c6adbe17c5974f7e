"""The README's Pyro example runs as written; its commands are the ones CI runs and the command line accepts."""

from __future__ import annotations

import re
import shlex
from pathlib import Path

from pyro_autoregressive import cli

README = Path(__file__).resolve().parents[1] / "README.md"


def test_readme_example_runs():
    block = re.search(r"```python\n(.*?)```", README.read_text(), flags=re.S)
    assert block is not None
    namespace: dict[str, object] = {}
    exec(compile(block.group(1), str(README), "exec"), namespace)
    assert "made" in namespace


def test_ci_runs_the_readme_test_command():
    commands = re.findall(r"```bash\n(.*?)\n```", README.read_text(), flags=re.S)
    assert len(commands) == 2, "the Quickstart gives exactly two commands"
    assert commands[0].endswith(".venv/bin/pyro-autoregressive train"), "command 1 trains the default model"
    ci = (README.parent / ".ci" / "run").read_text()
    assert commands[1] in ci


def readme_command_lines() -> list[list[str]]:
    """The command lines of the README's command-line section, as the arguments after the program."""
    section = README.read_text().split("## The command line on your data", 1)[1].split("\n## ", 1)[0]
    block = re.search(r"```sh\n(.*?)```", section, flags=re.S)
    assert block is not None
    lines = [shlex.split(line) for line in block.group(1).splitlines() if line and not line.startswith("#")]
    argvs = [line[line.index("pyro_autoregressive") + 1 :] if line[0] == "torchrun" else line[1:] for line in lines]
    assert all(line[0] in ("pyro-autoregressive", "torchrun") for line in lines)
    return argvs


def test_readme_command_lines_parse(monkeypatch):
    """Every flag of the README's examples exists and takes the value shown (paths are not checked here)."""
    monkeypatch.setattr(cli.data, "data_source", str)  # the README's files do not exist here
    for module in (cli.sample, cli.evaluate, cli.info):
        monkeypatch.setattr(module, "run_or_model", str)
    parser = cli.build_parser()
    argvs = readme_command_lines()
    assert {argv[0] for argv in argvs} >= {"train", "sample", "evaluate"} and len(argvs) >= 8
    resumable = hasattr(parser.parse_args(["train"]), "resume")  # train --resume comes with the run folders
    for argv in argvs:
        if "--resume" not in argv or resumable:
            parser.parse_args(argv)
