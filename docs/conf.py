"""Sphinx configuration. Build (extra ``[docs]``): ``sphinx-build -W -n -b html docs docs/_build``."""

import sys
from pathlib import Path

DOCS = Path(__file__).resolve().parent
sys.path.insert(0, str(DOCS.parent))  # the package beside docs/, installed or not

project = "pyro-autoregressive"
author = "pyro-autoregressive contributors"
copyright = "the pyro-autoregressive contributors, Apache-2.0"
extensions = [
    "myst_parser",
    "sphinx.ext.autodoc",
    "sphinx.ext.napoleon",
    "sphinx.ext.mathjax",
    "sphinx.ext.intersphinx",
]
source_suffix = {".md": "markdown", ".rst": "restructuredtext"}
root_doc = "index"
exclude_patterns = ["_build", "_inventories"]

# Markdown: $...$ and $$...$$ maths (rendered by MathJax), {py:class}`...` roles, heading anchors
myst_enable_extensions = ["dollarmath", "amsmath"]
myst_heading_anchors = 3

autodoc_member_order = "bysource"
autodoc_inherit_docstrings = False  # torch's own forward() docstrings are not ours to show

# every reference must resolve (sphinx-build -n); no exceptions are listed in nitpick_ignore
nitpicky = True

# Links to the real documentation sites, resolved from small local inventories (the build runs
# offline); docs/_inventories/build.py writes them, and checks them against the live ones.
intersphinx_mapping = {
    name: (url, str(DOCS / "_inventories" / f"{name}.inv"))
    for name, url in {
        "python": "https://docs.python.org/3/",
        "torch": "https://docs.pytorch.org/docs/stable/",
        "pyro": "https://docs.pyro.ai/en/stable/",
        "numpy": "https://numpy.org/doc/stable/",
    }.items()
}

html_theme = "furo"
html_title = "pyro-autoregressive"
