"""The docstring examples of the package run, seeded, as part of the suite (zuko does the same)."""

from __future__ import annotations

import doctest
import importlib
import pkgutil

import pytest
import torch

import pyro_autoregressive

MODULES = sorted(
    name
    for _, name, _ in pkgutil.walk_packages(pyro_autoregressive.__path__, prefix="pyro_autoregressive.")
    if name not in ("pyro_autoregressive.cli", "pyro_autoregressive.__main__")  # the command line
)


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples(name):
    module = importlib.import_module(name)
    torch.manual_seed(0)
    finder = doctest.DocTestFinder(exclude_empty=True)
    runner = doctest.DocTestRunner(optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    for test in finder.find(module, name):  # each example sees its module's names, as a reader would
        runner.run(test)
    result = runner.summarize(verbose=False)
    assert result.failed == 0, f"{result.failed} of {result.attempted} docstring examples of {name} failed"


def test_docstring_examples_exist():
    """The test above has something to run: the models' examples are found."""
    finder = doctest.DocTestFinder(exclude_empty=True)
    found = sum(len(t.examples) for name in MODULES for t in finder.find(importlib.import_module(name), name))
    assert found >= 20, found
