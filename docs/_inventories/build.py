"""Write the small intersphinx inventories that ``docs/conf.py`` reads instead of downloading them.

The documentation refers to a few dozen objects of Python, PyTorch, Pyro and NumPy (type
hints and ``:class:`` references). Their inventories are downloaded by intersphinx at build
time, which an offline build (CI without network) cannot do; so each project gets a local
``objects.inv`` listing only those objects, with the address of each on its project's real
documentation site (``BASE_URLS``: the links in the built pages point there).

    python docs/_inventories/build.py          # rewrite docs/_inventories/*.inv from OBJECTS
    python docs/_inventories/build.py --check  # compare OBJECTS with the live inventories (needs network)

``--check`` downloads each project's real ``objects.inv`` and reports every object whose name,
role or address differs (an alias, marked below, is checked under the name it stands for).
Add an object here when ``sphinx-build -n`` reports a ``py:...`` reference of these
projects as not found, run the script, and commit the ``.inv`` files. Needs ``sphobjinv``
(the ``docs`` extra).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import sphobjinv as soi

HERE = Path(__file__).resolve().parent

#: each project's documentation root (the links of the built pages start here)
BASE_URLS = {
    "python": "https://docs.python.org/3/",
    "torch": "https://docs.pytorch.org/docs/stable/",
    "pyro": "https://docs.pyro.ai/en/stable/",
    "numpy": "https://numpy.org/doc/stable/",
}

#: per project: (name, role, page#anchor relative to the base; "$" stands for the name), and for an
#: alias (a name the type hints produce that the project documents under another) the name documented
OBJECTS: dict[str, list[tuple[str, str, str] | tuple[str, str, str, str]]] = {
    "python": [
        ("collections.abc.Callable", "class", "library/collections.abc.html#$"),
        ("collections.abc.Iterable", "class", "library/collections.abc.html#$"),
        ("collections.abc.Iterator", "class", "library/collections.abc.html#$"),
        ("collections.abc.Sequence", "class", "library/collections.abc.html#$"),
        ("os.PathLike", "class", "library/os.html#$"),
        ("pathlib.Path", "class", "library/pathlib.html#$"),
        ("typing.Protocol", "class", "library/typing.html#$"),
        ("typing.NamedTuple", "class", "library/typing.html#$"),
        ("typing.Self", "data", "library/typing.html#$"),
    ],
    "torch": [
        ("torch.Tensor", "class", "tensors.html#$"),
        ("torch.Size", "class", "size.html#$"),
        ("torch.dtype", "class", "tensor_attributes.html#$"),
        ("torch.device", "class", "tensor_attributes.html#$"),
        ("torch.nn.Module", "class", "generated/torch.nn.Module.html#$"),
        # the hints name the defining module; the documentation lists it as torch.nn.Module
        (
            "torch.nn.modules.module.Module",
            "class",
            "generated/torch.nn.Module.html#torch.nn.Module",
            "torch.nn.Module",
        ),
        (
            "torch.nn.functional.scaled_dot_product_attention",
            "function",
            "generated/torch.nn.functional.scaled_dot_product_attention.html#$",
        ),
        ("torch.optim.Optimizer", "class", "optim.html#$"),
        # the hints name the defining module; the documentation lists it as torch.optim.Optimizer
        ("torch.optim.optimizer.Optimizer", "class", "optim.html#torch.optim.Optimizer", "torch.optim.Optimizer"),
        ("torch.utils.data.DataLoader", "class", "data.html#$"),
        ("torch.optim.swa_utils.AveragedModel", "class", "generated/torch.optim.swa_utils.AveragedModel.html#$"),
        ("torch.distributions.distribution.Distribution", "class", "distributions.html#$"),
        ("torch.distributions.distribution.Distribution.expand", "method", "distributions.html#$"),
        ("torch.distributions.constraints.Constraint", "class", "distributions.html#$"),
        ("torch.autocast", "class", "amp.html#$"),
    ],
    "pyro": [
        ("pyro.sample", "function", "primitives.html#$"),
        ("pyro.module", "function", "primitives.html#$"),
        ("pyro.plate", "class", "primitives.html#$"),
        ("pyro.distributions.TorchDistribution", "class", "distributions.html#$"),
        ("pyro.distributions.ConditionalDistribution", "class", "distributions.html#$"),
        ("pyro.infer.svi.SVI", "class", "inference_algos.html#$"),
        ("pyro.infer.trace_elbo.Trace_ELBO", "class", "inference_algos.html#$"),
    ],
    "numpy": [
        ("numpy.ndarray", "class", "reference/generated/numpy.ndarray.html#$"),
        ("numpy.savetxt", "function", "reference/generated/numpy.savetxt.html#$"),
    ],
}


def _entries(project: str):
    for entry in OBJECTS[project]:
        name, role, uri = entry[:3]
        documented = entry[3] if len(entry) == 4 else name
        yield name, role, uri, documented


def write(project: str) -> Path:
    """Write ``<project>.inv`` from :data:`OBJECTS`."""
    inventory = soi.Inventory()
    inventory.project, inventory.version = project, "stable"
    for name, role, uri, _ in _entries(project):
        inventory.objects.append(soi.DataObjStr(name=name, domain="py", role=role, priority="1", uri=uri, dispname="-"))
    path = HERE / f"{project}.inv"
    soi.writebytes(path, soi.compress(inventory.data_file(contract=True)))
    return path


def check(project: str) -> list[str]:
    """The differences between :data:`OBJECTS` and the project's live inventory."""
    live = soi.Inventory(url=BASE_URLS[project] + "objects.inv")
    found = {(o.name, o.role): o.uri for o in live.objects if o.domain == "py"}
    problems = []
    for name, role, uri, documented in _entries(project):
        expected = uri.replace("$", name)
        actual = found.get((documented, role))
        if actual is None:
            problems.append(f"{project}: {role} {documented} is not in the live inventory")
        elif actual.replace("$", documented) != expected:
            problems.append(f"{project}: {name}: ours {expected}, live {actual.replace('$', documented)}")
    return problems


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--check", action="store_true", help="compare with the live inventories (network)")
    args = parser.parse_args()
    if args.check:
        problems = [problem for project in OBJECTS for problem in check(project)]
        print("\n".join(problems) or "every object matches the live inventories")
        return 1 if problems else 0
    for project in OBJECTS:
        print(write(project))
    return 0


if __name__ == "__main__":
    sys.exit(main())
