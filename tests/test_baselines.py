"""The independent-histogram baseline."""

import math

import torch

from pyro_autoregressive.baselines import independent_histogram_nll


def test_uniform_counts_give_log_levels_per_dimension():
    train = torch.arange(5).repeat(3, 1).T  # every level once in each of 3 dimensions
    test = torch.tensor([[0, 4, 2], [1, 1, 1]])
    assert abs(independent_histogram_nll(train, test, 5) - 3 * math.log(5)) < 1e-12


def test_smoothing_and_fit():
    train = torch.zeros(8, 2, dtype=torch.long)  # always level 0
    nll_seen = independent_histogram_nll(train, torch.zeros(1, 2, dtype=torch.long), 3)
    nll_unseen = independent_histogram_nll(train, torch.full((1, 2), 2), 3)
    assert abs(nll_seen - 2 * -math.log(9 / 11)) < 1e-12
    assert abs(nll_unseen - 2 * -math.log(1 / 11)) < 1e-12
