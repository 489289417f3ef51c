"""Collapse detectors (embedding std from lightly, RankMe) and the one console line per epoch."""

from __future__ import annotations

import math
from typing import Any

import torch
from lightly.utils.debug import std_of_l2_normalized
from torch import Tensor

__all__ = ["epoch_line", "embedding_std", "rankme"]


def embedding_std(z: Tensor) -> float:
    """Std of l2-normalised embeddings, scaled so that ~1 is healthy and 0 is collapsed."""
    return float(std_of_l2_normalized(z.float()) * math.sqrt(z.shape[1]))


def rankme(z: Tensor, eps: float = 1e-7) -> float:
    """RankMe (Garrido et al. 2023): exp of the entropy of the normalised singular values.

    Ranges from 1 (collapsed to a line) to min(N, D) (full rank).
    """
    s = torch.linalg.svdvals(z.float())
    p = s / (s.sum() + eps) + eps
    return float(torch.exp(-(p * p.log()).sum()))


_EPOCH_FIELDS = (
    ("loss_epoch", "loss", ".4f"),
    ("lr", "lr", ".3g"),
    ("rankme", "RankMe", ".1f"),
    ("embedding_std", "std", ".3f"),
    ("samples_per_s", "samples/s", ".0f"),
)


def epoch_line(epoch: int, max_epochs: int | None, metrics: dict[str, Any]) -> str:
    """One console line per epoch: loss, lr, RankMe, embedding std and samples/s."""
    total = f"/{max_epochs}" if max_epochs and max_epochs > 0 else ""
    parts = [f"epoch {epoch + 1}{total}"]
    for key, label, fmt in _EPOCH_FIELDS:
        if key in metrics:
            parts.append(f"{label} {float(metrics[key]):{fmt}}")
    return "eossl: " + ", ".join(parts)
