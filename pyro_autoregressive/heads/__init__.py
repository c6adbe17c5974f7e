"""Output heads: the per-step conditional distributions (histograms or parametric).

Two kinds: :class:`DiscreteHead` (``Categorical``, ``Bernoulli``,
``DiscretizedLogisticMixture``) and :class:`ContinuousHead` (``Normal``,
``NormalMixture``). Decoding transforms make new heads from them:
:meth:`Head.tempered` and :class:`Truncated`.
"""

from .base import ContinuousHead, DiscreteHead, Head, head_from_config
from .bernoulli import Bernoulli
from .categorical import Categorical
from .logistic_mixture import DiscretizedLogisticMixture
from .normal import Normal
from .normal_mixture import NormalMixture
from .truncated import Truncated

__all__ = [
    "Bernoulli",
    "Categorical",
    "ContinuousHead",
    "DiscreteHead",
    "DiscretizedLogisticMixture",
    "Head",
    "Normal",
    "NormalMixture",
    "Truncated",
    "head_from_config",
]
