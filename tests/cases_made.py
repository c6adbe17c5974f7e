"""MADE in the property-test table."""

import pyro_autoregressive as par
from pyro_autoregressive.heads import Categorical

from cases import register, tiny_heads

for _name, _head in tiny_heads().items():
    _continuous = _name.startswith("normal")
    _size = 2 if _continuous else 3
    register(f"made-{_name}", lambda h=_head, d=_size: par.MADE(d, h(), hidden_sizes=(8, 8)))
    register(
        f"made-{_name}-context-order",
        lambda h=_head, d=_size: par.MADE(d, h(), hidden_sizes=(8,), context_size=2, order=list(range(d))[::-1]),
    )
register(
    "made-categorical-onehot-random",
    lambda: par.MADE(3, Categorical(3), hidden_sizes=(8,), order="random", one_hot=True),
)
register("made-categorical-nohidden", lambda: par.MADE(3, Categorical(3), hidden_sizes=(), context_size=2))
