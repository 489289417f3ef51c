"""Collapse detectors: embedding std (lightly) and RankMe (effective rank)."""

from __future__ import annotations

import math

import torch
from lightly.utils.debug import std_of_l2_normalized
from torch import Tensor

__all__ = ["embedding_std", "rankme"]


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
