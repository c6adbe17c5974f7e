"""The Transformer in the property-test table: sequences with every head, and raster-order images."""

import pyro_autoregressive as par
from pyro_autoregressive.heads import Bernoulli, Categorical, DiscretizedLogisticMixture

from cases import register, tiny_heads

_TINY = {"d_model": 8, "num_heads": 2, "num_layers": 1, "mlp_ratio": 2, "coupling_hidden": 4}

for _name, _head in tiny_heads().items():
    _continuous = _name.startswith("normal")
    _length = 2 if _continuous else 3
    # max_length above the case's length: condition(length=T) with T < max_length
    register(
        f"transformer-{_name}",
        lambda h=_head: par.Transformer(h(), max_length=4, **_TINY),
        length=_length,
    )
    register(
        f"transformer-{_name}-context",
        lambda h=_head, t=_length: par.Transformer(h(), max_length=t, context_size=2, **_TINY | {"num_layers": 2}),
        length=_length,
    )
    if not _continuous:
        register(f"transformer-{_name}-image", lambda h=_head: par.Transformer(h(), image_shape=(1, 2, 2), **_TINY))
    else:
        register(f"transformer-{_name}-image", lambda h=_head: par.Transformer(h(), image_shape=(1, 1, 2), **_TINY))

# two channels per pixel: in-network channel coupling (Categorical, Bernoulli) or the head's (logistic mixture)
register("transformer-categorical-image-2ch", lambda: par.Transformer(Categorical(3), image_shape=(2, 1, 2), **_TINY))
register(
    "transformer-bernoulli-image-2ch-context",
    lambda: par.Transformer(Bernoulli(), image_shape=(2, 1, 2), context_size=2, **_TINY),
)
register(
    "transformer-logistic_mixture-image-2ch",
    lambda: par.Transformer(DiscretizedLogisticMixture(2, num_classes=4), image_shape=(2, 1, 2), **_TINY),
)
register(
    "transformer-categorical-local-context",
    lambda: par.Transformer(Categorical(3), max_length=3, local_context_channels=2, context_size=2, **_TINY),
    length=3,
)
register(
    "transformer-bernoulli-image-local-context",
    lambda: par.Transformer(Bernoulli(), image_shape=(2, 2, 1), local_context_channels=1, **_TINY),
)
# two layers and a prompt of several positions: the second layer's keys and values of a prompt come from the
# first layer's output, so a wrong mask in the one-pass prefill shows only here
register(
    "transformer-bernoulli-2layers-prefill",
    lambda: par.Transformer(Bernoulli(), max_length=6, **_TINY | {"num_layers": 2}),
    length=6,
)
# continuous pixels with two and three channels (the head couples them)
register("transformer-normal-image-c2", lambda: par.Transformer(par.heads.Normal(), image_shape=(2, 1, 2), **_TINY))
register(
    "transformer-normal_mixture-image-c3",
    lambda: par.Transformer(par.heads.NormalMixture(2), image_shape=(3, 1, 2), **_TINY),
)

# sliding-window attention (rotary positions): W = 2 and sequences of T = 5 > W, longer than max_length = 3 (with a
# window max_length is only the default length); one layer sees x_{i-2..i-1}, two layers x_{i-3..i-1}
for _name, _head in tiny_heads().items():
    register(
        f"transformer-{_name}-window",
        lambda h=_head: par.Transformer(h(), max_length=3, attention_window=2, **_TINY),
        length=5,
    )
register(
    "transformer-bernoulli-window-2layers-contexts",
    lambda: par.Transformer(
        Bernoulli(),
        max_length=3,
        attention_window=2,
        context_size=2,
        local_context_channels=2,
        **_TINY | {"num_layers": 2},
    ),
    length=6,
)
register(
    "transformer-bernoulli-image-2ch-window",
    lambda: par.Transformer(Bernoulli(), image_shape=(2, 1, 3), attention_window=2, **_TINY),
)
# rotary positions without a window (max_length still the limit)
register(
    "transformer-categorical-rotary",
    lambda: par.Transformer(Categorical(3), max_length=4, positions="rotary", **_TINY | {"num_layers": 2}),
    length=4,
)
