"""Output heads: the per-step conditional distributions (histograms or parametric)."""

from .base import Head, head_from_config
from .bernoulli import Bernoulli
from .categorical import Categorical
from .logistic_mixture import DiscretizedLogisticMixture
from .normal import Normal
from .normal_mixture import NormalMixture

__all__ = [
    "Bernoulli",
    "Categorical",
    "DiscretizedLogisticMixture",
    "Head",
    "Normal",
    "NormalMixture",
    "head_from_config",
]
