"""PNG grids of samples and of completions."""

from __future__ import annotations

import pytest
import torch

from pyro_autoregressive.plotting import save_completion_grid, save_image_grid


def test_image_grid_grey_and_rgb(tmp_path):
    grey = save_image_grid(torch.randint(0, 17, (5, 1, 8, 8)), tmp_path / "grey.png", 17, title="grey")
    rgb = save_image_grid(torch.randint(0, 256, (4, 3, 8, 8)), tmp_path / "rgb.png", 256)
    assert grey.stat().st_size > 0 and rgb.stat().st_size > 0


def test_completion_grid_checks_shapes(tmp_path):
    given = torch.randint(0, 4, (2, 1, 4, 4))
    path = save_completion_grid(given, torch.randint(0, 4, (3, 2, 1, 4, 4)), tmp_path / "c.png", 4)
    assert path.stat().st_size > 0
    with pytest.raises(ValueError, match=r"completed: expected shape \(S, 2, 1, 4, 4\)"):
        save_completion_grid(given, torch.randint(0, 4, (3, 1, 4, 4)), tmp_path / "bad.png", 4)
