"""How often a filtered sample scores ``-inf`` because the sampler and ``log_prob`` round differently.

``sample`` reads each conditional from the cached state, ``log_prob`` from the parallel pass;
they agree exactly in float64 and up to the network's rounding otherwise, so a level at a
filter's threshold can be kept by one and dropped by the other. For a random
``Transformer(Categorical(16))`` of 32 steps this counts, per dtype and filter, the rows of
2000 samples whose ``log_prob`` (validation off) is ``-inf``. Not a speed benchmark: a
measurement quoted in ``docs/api.md`` (Decoding).

    python benchmarks/filter_rounding.py
"""

from __future__ import annotations

import pyro
import torch

import pyro_autoregressive as par

FILTERS = {"top_k(5)": lambda d: d.top_k(5), "top_p(0.9)": lambda d: d.top_p(0.9), "min_p(0.2)": lambda d: d.min_p(0.2)}


@torch.no_grad()
def main(num_samples: int = 2000) -> None:
    torch.manual_seed(0)
    for label, dtype, autocast in [
        ("float32", torch.float32, False),
        ("bfloat16 weights", torch.bfloat16, False),
        ("bfloat16 autocast", torch.float32, True),
    ]:
        model = par.Transformer(par.heads.Categorical(16), max_length=32, d_model=32, num_heads=2, num_layers=2)
        model = model.eval().to(dtype)
        for name, make in FILTERS.items():
            # validation off (within this block only): a value outside a filter scores -inf, not an error
            with torch.autocast("cpu", dtype=torch.bfloat16, enabled=autocast), pyro.validation_enabled(False):
                d = make(model.condition())
                x = d.sample((num_samples,))
                bad = int((~torch.isfinite(d.log_prob(x))).sum())
            print(f"{label:18s} {name:11s} rows scoring -inf: {bad} of {num_samples}")


if __name__ == "__main__":
    main()
