"""The PixelRNN family (Row LSTM, Diagonal BiLSTM) in the property-test table.

As for PixelCNN: every head on a one-channel 2x2 image; discrete heads on 2- and
3-channel images (channel masks for Categorical/Bernoulli, the head's coupling
for the logistic mixture); continuous two- and three-channel pixels; contexts
global and local. Some cases take a 3x3 first layer, the others the default 7x7.
"""

import pyro_autoregressive as par
from pyro_autoregressive.heads import Bernoulli, Categorical, DiscretizedLogisticMixture, Normal, NormalMixture

from cases import register, tiny_heads

_SHAPES = {
    "categorical-c3": ((3, 1, 2), lambda: Categorical(3)),
    "categorical-c2": ((2, 2, 1), lambda: Categorical(3)),
    "bernoulli-c3": ((3, 1, 2), Bernoulli),
    "logistic_mixture-c3": ((3, 1, 2), lambda: DiscretizedLogisticMixture(2, num_classes=3)),
    "logistic_mixture-c2": ((2, 1, 2), lambda: DiscretizedLogisticMixture(2, num_classes=4)),
    "normal-c2": ((2, 1, 2), Normal),
    "normal_mixture-c3": ((3, 2, 1), lambda: NormalMixture(2)),
}


def _unreached(cls: str, shape: tuple[int, int, int]) -> tuple[str, ...]:
    """Parameters a tiny image cannot reach: with one row there is no row above (the Row LSTM's
    state-to-state, the Diagonal BiLSTM's right-to-left direction); with one column the right-to-left
    direction has no right neighbour and (two rows) only its first row is read."""
    _, height, width = shape
    unreached: list[str] = []
    for k in range(1):  # one layer
        if cls == "RowLSTM" and height == 1:
            unreached.append(f"blocks.{k}.state_to_state.weight")
        if cls == "DiagonalBiLSTM" and height == 1:
            unreached.append(f"blocks.{k}.pixels_to_state.weight")
        if cls == "DiagonalBiLSTM" and (height == 1 or width == 1):
            unreached.append(f"blocks.{k}.right_to_left.weight")
    return tuple(unreached)


for _family, _cls in (("rowlstm", "RowLSTM"), ("diagonalbilstm", "DiagonalBiLSTM")):
    for _name, _head in tiny_heads().items():
        register(
            f"{_family}-{_name}",
            lambda c=_cls, h=_head: getattr(par, c)(
                (1, 2, 2), h(), hidden_channels=4, num_layers=1, first_kernel_size=3
            ),
        )
    for _name, (_shape, _head) in _SHAPES.items():
        register(
            f"{_family}-{_name}",
            lambda c=_cls, s=_shape, h=_head: getattr(par, c)(
                s, h(), hidden_channels=6, num_layers=1, first_kernel_size=3
            ),
            unreached=_unreached(_cls, _shape),
        )
    register(
        f"{_family}-categorical-context-local-2layers",
        lambda c=_cls: getattr(par, c)(
            (1, 2, 2), Categorical(3), hidden_channels=4, num_layers=2, context_size=2, local_context_channels=2
        ),
    )
    register(
        f"{_family}-bernoulli-2x3-2layers",
        lambda c=_cls: getattr(par, c)((1, 2, 3), Bernoulli(), hidden_channels=4, num_layers=2, first_kernel_size=3),
    )
    register(
        f"{_family}-bernoulli-c2-context-local",
        lambda c=_cls: getattr(par, c)(
            (2, 2, 2), Bernoulli(), hidden_channels=4, num_layers=1, context_size=2, local_context_channels=1
        ),
    )
