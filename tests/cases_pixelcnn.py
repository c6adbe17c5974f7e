"""The PixelCNN family in the property-test table.

Every head on a one-channel 2x2 image; discrete heads also on 2- and 3-channel
images (channel masks for Categorical/Bernoulli, the head's coupling for the
logistic mixture); contexts global and local. Events stay enumerable.
"""

import pyro_autoregressive as par
from pyro_autoregressive.heads import Bernoulli, Categorical, DiscretizedLogisticMixture

from cases import register, tiny_heads

_COLOUR = {
    "categorical-c3": ((3, 1, 2), lambda: Categorical(3)),
    "categorical-c2": ((2, 1, 2), lambda: Categorical(3)),
    "bernoulli-c3": ((3, 1, 2), Bernoulli),
    "logistic_mixture-c3": ((3, 1, 2), lambda: DiscretizedLogisticMixture(2, num_classes=3)),
    "logistic_mixture-c2": ((2, 1, 2), lambda: DiscretizedLogisticMixture(2, num_classes=4)),
}

for _family, _cls in (("pixelcnn", "PixelCNN"), ("gatedpixelcnn", "GatedPixelCNN")):
    for _name, _head in tiny_heads().items():
        register(
            f"{_family}-{_name}",
            lambda c=_cls, h=_head: getattr(par, c)((1, 2, 2), h(), hidden_channels=4, num_layers=1),
        )
    for _name, (_shape, _head) in _COLOUR.items():
        register(
            f"{_family}-{_name}",
            lambda c=_cls, s=_shape, h=_head: getattr(par, c)(s, h(), hidden_channels=6, num_layers=1),
            # one row: the first vertical convolution only ever reads the zero padding above the image
            unreached=("layers.0.v_conv.weight",) if _cls == "GatedPixelCNN" else (),
        )
    register(
        f"{_family}-categorical-context-local",
        lambda c=_cls: getattr(par, c)(
            (1, 2, 2), Categorical(3), hidden_channels=4, num_layers=2, context_size=2, local_context_channels=2
        ),
    )
    register(
        f"{_family}-bernoulli-c2-context-local",
        lambda c=_cls: getattr(par, c)(
            (2, 2, 2), Bernoulli(), hidden_channels=4, num_layers=1, context_size=2, local_context_channels=1
        ),
    )
    register(
        f"{_family}-normal-context",
        lambda c=_cls: getattr(par, c)((1, 1, 2), par.heads.Normal(), hidden_channels=4, num_layers=1, context_size=2),
        unreached=("layers.0.v_conv.weight",) if _cls == "GatedPixelCNN" else (),
    )

    # continuous values with two and three channels per pixel (the head couples them)
    register(
        f"{_family}-normal-c2",
        lambda c=_cls: getattr(par, c)((2, 1, 2), par.heads.Normal(), hidden_channels=4, num_layers=1),
        unreached=("layers.0.v_conv.weight",) if _cls == "GatedPixelCNN" else (),
    )
    register(
        f"{_family}-normal_mixture-c3-context",
        lambda c=_cls: getattr(par, c)(
            (3, 2, 1), par.heads.NormalMixture(2), hidden_channels=4, num_layers=1, context_size=2
        ),
        # one column: the first horizontal convolution (type A, pixels to the left) only ever reads padding
        unreached=("layers.0.h_conv.weight",) if _cls == "GatedPixelCNN" else (),
    )

# PixelCNN++ builds its own DiscretizedLogisticMixture head
for _name, _shape, _levels in (("pixelcnnpp-2x2", (1, 2, 2), 2), ("pixelcnnpp-c3", (3, 1, 2), 1)):
    register(
        _name,
        lambda s=_shape, n=_levels: par.PixelCNNPlusPlus(
            s, num_components=2, num_classes=4, hidden_channels=4, num_resnet=1, num_hierarchies=n
        ),
        # one row: the u stream (rows above) is shifted out of the image and only padding comes in
        unreached=(
            "u_init.weight",
            "u_init.bias",
            "ul_init_up.weight",
            "ul_init_up.bias",
            "up_u.0.0.conv1.weight",
            "down_u.0.0.aux.weight",
        )
        if _shape[1] == 1
        else (),
    )
register(
    "pixelcnnpp-c2-context-local",
    lambda: par.PixelCNNPlusPlus(
        (2, 2, 2),
        num_components=2,
        num_classes=3,
        hidden_channels=4,
        num_resnet=1,
        num_hierarchies=2,
        context_size=2,
        local_context_channels=2,
    ),
)
