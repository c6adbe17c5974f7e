"""WaveNet in the property-test table.

Discrete cases have ``T = 3`` (enumerable), continuous ones ``T = 2`` (the table
integrates every conditional). The models' default ``length`` differs from the
case's, so ``condition(length=...)`` is exercised everywhere.
"""

import pyro_autoregressive as par
from pyro_autoregressive.heads import Categorical, Normal

from cases import register, tiny_heads

for _name, _head in tiny_heads().items():
    _length = 2 if _name.startswith("normal") else 3
    register(
        f"wavenet-{_name}",
        lambda h=_head: par.WaveNet(h(), length=7, residual_channels=4, skip_channels=8, num_layers=2, num_stacks=1),
        length=_length,
    )
    register(
        f"wavenet-{_name}-context-local",
        lambda h=_head: par.WaveNet(
            h(),
            length=5,
            residual_channels=4,
            skip_channels=8,
            num_layers=2,
            num_stacks=2,
            context_size=2,
            local_context_channels=2,
            hop_length=2,
        ),
        length=_length,
    )
register(
    "wavenet-categorical-kernel3-onehot",
    lambda: par.WaveNet(
        Categorical(3),
        length=3,
        residual_channels=3,
        skip_channels=8,
        num_layers=2,
        num_stacks=1,
        kernel_size=3,
        one_hot=True,
    ),
    length=3,
)
register(
    "wavenet-normal-local-hop1",
    lambda: par.WaveNet(
        Normal(), length=2, residual_channels=3, skip_channels=8, num_layers=1, num_stacks=2, local_context_channels=1
    ),
    length=2,
)
