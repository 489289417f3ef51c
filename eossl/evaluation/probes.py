"""Frozen-feature probes: kNN and linear, their protocols, scores and confidence intervals.

Every feature set (pretrained, random init, band statistics) goes through the same
protocol: features are standardised with the training fold's statistics, then
probed. Predictions are made for every test sample, so the score and its bootstrap
confidence interval come from the same predictions.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

import numpy as np
import torch
from torch import Tensor
from torch.nn import functional as F

__all__ = [
    "LinearHead",
    "Protocol",
    "band_statistics",
    "bootstrap_ci",
    "default_k",
    "fit_linear",
    "folds",
    "knn_predict",
    "linear_predict",
    "predict_folds",
    "score",
]

Protocol = Literal["split", "loo", "kfold"]
Probe = Callable[[Tensor, Tensor, Tensor], Tensor]


def band_statistics(images: Tensor) -> Tensor:
    """The band-statistics baseline: per-band mean and std of each image, (B, 2C)."""
    flat = images.flatten(2)
    return torch.cat([flat.mean(2), flat.std(2)], dim=1)


def _standardise(train: Tensor, test: Tensor) -> tuple[Tensor, Tensor]:
    mu, sd = train.mean(0), train.std(0).nan_to_num(0.0) + 1e-6
    return (train - mu) / sd, (test - mu) / sd


def default_k(n_train: int) -> int:
    """The kNN neighbours ``eossl evaluate`` uses: 20 from 200 training samples, else 5."""
    return 20 if n_train >= 200 else 5


def knn_predict(
    train: Tensor, y_train: Tensor, test: Tensor, k: int = 20, t: float = 0.07
) -> Tensor:
    """Weighted cosine kNN (DINO's protocol): class votes, or per-class shares >= 0.5."""
    train, test = _standardise(train, test)
    sim = F.normalize(test, dim=1) @ F.normalize(train, dim=1).T
    top, idx = sim.topk(min(k, len(train)), dim=1)
    weight = (top / t).exp()
    if y_train.ndim == 2:  # multi-label: weighted share of neighbours with each class
        share = (weight[..., None] * y_train[idx]).sum(1) / weight.sum(1, keepdim=True)
        return (share >= 0.5).float()
    classes = int(y_train.max()) + 1
    votes = torch.zeros(len(test), classes).scatter_add_(1, y_train[idx], weight)
    return votes.argmax(1)


@dataclass
class LinearHead:
    """A fitted logistic regression: logits of ``(features - mu) / sd @ weight.T + bias``."""

    weight: Tensor  # (classes, features)
    bias: Tensor  # (classes,)
    mu: Tensor  # (features,)
    sd: Tensor

    def __call__(self, features: Tensor) -> Tensor:
        return ((features - self.mu) / self.sd) @ self.weight.T + self.bias


def fit_linear(
    train: Tensor, y_train: Tensor, steps: int = 200, l2: float = 1e-3, classes: int | None = None
) -> LinearHead:
    """Logistic regression (softmax, or one sigmoid per class) fitted with L-BFGS.

    ``classes``: the number of classes (default: the largest label + 1).
    """
    mu, sd = train.mean(0), train.std(0).nan_to_num(0.0) + 1e-6
    train = (train - mu) / sd
    torch.manual_seed(0)
    if classes is None:
        classes = y_train.shape[1] if y_train.ndim == 2 else int(y_train.max()) + 1
    head = torch.nn.Linear(train.shape[1], classes)
    opt = torch.optim.LBFGS(head.parameters(), lr=0.5, max_iter=steps)

    def closure() -> Tensor:
        opt.zero_grad()
        logits = head(train)
        if y_train.ndim == 2:
            loss = F.binary_cross_entropy_with_logits(logits, y_train)
        else:
            loss = F.cross_entropy(logits, y_train)
        loss = loss + l2 * head.weight.square().sum()
        loss.backward()
        return loss

    with torch.enable_grad():
        opt.step(closure)
    return LinearHead(head.weight.detach(), head.bias.detach(), mu, sd)


def linear_predict(
    train: Tensor, y_train: Tensor, test: Tensor, steps: int = 200, l2: float = 1e-3
) -> Tensor:
    """Logistic regression (softmax, or one sigmoid per class) fitted with L-BFGS."""
    with torch.no_grad():
        logits = fit_linear(train, y_train, steps, l2)(test)
    return (logits > 0).float() if y_train.ndim == 2 else logits.argmax(1)


def score(pred: Tensor, y: Tensor) -> float:
    """Accuracy of class predictions, or micro-F1 of multi-label 0/1 predictions."""
    if y.ndim == 1:
        return float((pred == y).float().mean())
    tp = (pred * y).sum()
    return float(2 * tp / (pred.sum() + y.sum()).clamp(min=1))


def bootstrap_ci(
    pred: Tensor,
    y: Tensor,
    baseline: Tensor | None = None,
    resamples: int = 1000,
    level: float = 0.95,
    seed: int = 0,
) -> tuple[float, float]:
    """Percentile bootstrap interval of :func:`score` over the test samples.

    With ``baseline`` (another feature set's predictions of the same samples), the
    interval of the gain ``score(pred) - score(baseline)``, resampled in pairs.
    """
    rng = np.random.default_rng(seed)
    n = len(y)
    draws = [
        score(pred[i], y[i]) - (score(baseline[i], y[i]) if baseline is not None else 0.0)
        for i in rng.integers(0, n, size=(resamples, n))
    ]
    lo, hi = np.quantile(draws, [(1 - level) / 2, (1 + level) / 2])
    return float(lo), float(hi)


def folds(n: int, protocol: Protocol, k: int = 5, seed: int = 0) -> list[np.ndarray]:
    """Test indices of each fold: one per sample (``loo``) or ``k`` shuffled folds."""
    if protocol == "loo":
        return [np.array([i]) for i in range(n)]
    order = np.random.default_rng(seed).permutation(n)
    return [part for part in np.array_split(order, min(k, n)) if part.size]


def predict_folds(
    features: Tensor, y: Tensor, probe: Probe, test_folds: list[np.ndarray]
) -> Tensor:
    """Out-of-fold predictions for every sample: each fold is predicted by the others."""
    pred = torch.zeros_like(y)
    for test in test_folds:
        train = np.setdiff1d(np.arange(len(y)), test)
        pred[test] = probe(features[train], y[train], features[test]).to(pred.dtype)
    return pred
