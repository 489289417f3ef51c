"""Figures logged during pretraining (matplotlib, no display needed)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor

__all__ = ["log_figure", "reconstruction_figure", "rgb_composite"]


def rgb_composite(
    images: Sequence[Tensor], rgb: Sequence[int] | None, low: float = 2, high: float = 98
) -> list[np.ndarray]:
    """RGB composites (H, W, 3) in [0, 1] of same-shaped (B, C, H, W) tensors.

    Each sample is stretched between the ``low`` and ``high`` percentiles of the
    first tensor (the input), so every panel of a row shares one stretch. Without
    ``rgb`` bands (e.g. SAR), the first band is shown in grey. NaN pixels are light grey.
    """
    bands = list(rgb) if rgb else [0, 0, 0]
    first = images[0][:, bands].float()
    flat = first.flatten(1)
    lo = torch.quantile(flat, low / 100, dim=1)[:, None, None, None]
    hi = torch.quantile(flat, high / 100, dim=1)[:, None, None, None]
    scale = (hi - lo).clamp(min=1e-6)
    return [
        np.nan_to_num(
            ((x[:, bands].float() - lo) / scale).clamp(0, 1).permute(0, 2, 3, 1).numpy(), nan=0.85
        )
        for x in images
    ]


def reconstruction_figure(panels: dict[str, Tensor], rgb: Sequence[int] | None) -> Any:
    """A grid of samples (rows) by panels (columns: input, masked input, reconstruction...).

    Args:
        panels: title -> (B, C, H, W) standardised images; the first is the input.
        rgb: band indices of red, green and blue (the sensor card's ``rgb``).
    """
    from matplotlib.figure import Figure  # no pyplot: no GUI backend, no global state

    titles = list(panels)
    composites = rgb_composite([panels[t] for t in titles], rgb)
    rows, cols = len(composites[0]), len(titles)
    fig = Figure(figsize=(2.2 * cols, 2.2 * rows), layout="constrained")
    axes = fig.subplots(rows, cols, squeeze=False)
    for r in range(rows):
        for c, title in enumerate(titles):
            axes[r, c].imshow(composites[c][r], interpolation="nearest")
            axes[r, c].set_axis_off()
            if r == 0:
                axes[r, c].set_title(title, fontsize=9)
    return fig


def log_figure(module: Any, fig: Any, tag: str, png: str | Path) -> None:
    """Save ``fig`` as ``png`` and add it to every TensorBoard logger of ``module``."""
    from lightning.pytorch.loggers import TensorBoardLogger

    png = Path(png)
    png.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(png, dpi=100)
    for logger in module.loggers:
        if isinstance(logger, TensorBoardLogger):
            logger.experiment.add_figure(tag, fig, global_step=module.current_epoch)
