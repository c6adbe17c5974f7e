"""Step layouts are exact inverses and put steps in the documented order."""

from __future__ import annotations

import pytest
import torch

from pyro_autoregressive.layout import ImageLayout, PermutedLayout, SequenceLayout


@pytest.mark.parametrize("layout", [SequenceLayout(5), ImageLayout((3, 2, 4)), PermutedLayout([2, 0, 1])], ids=repr)
def test_round_trip(layout):
    x = torch.randn(2, 3, *layout.event_shape)
    steps = layout.to_steps(x)
    assert steps.shape == (2, 3, layout.num_steps, layout.channels)
    assert torch.equal(layout.from_steps(steps), x)


def test_image_raster_order():
    layout = ImageLayout((2, 2, 3))
    x = torch.arange(12).reshape(2, 2, 3)  # channel 0: 0..5, channel 1: 6..11
    steps = layout.to_steps(x)
    assert steps[:, 0].tolist() == [0, 1, 2, 3, 4, 5]  # row by row, left to right
    assert steps[1].tolist() == [1, 7]  # the channels of one pixel form a step


@pytest.mark.parametrize(
    "make, match",
    [
        (lambda: SequenceLayout(0), "length"),
        (lambda: ImageLayout((1, 2)), "image_shape"),
        (lambda: PermutedLayout([0, 2]), "order"),
    ],
)
def test_bad_layouts(make, match):
    with pytest.raises(ValueError, match=match):
        make()


def test_layouts_know_their_positions():
    from pyro_autoregressive.layout import ImageLayout, PermutedLayout, SequenceLayout

    assert SequenceLayout(5).positions == (5,)
    assert ImageLayout((3, 4, 2)).positions == (4, 2)
    assert PermutedLayout([2, 0, 1]).positions == (3,)
