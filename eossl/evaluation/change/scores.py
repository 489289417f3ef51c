"""Scores of change detection: precision, recall and F1 of the change class.

Counted per city (true positives, false positives, false negatives over its labelled
pixels), pooled over all tested pixels, with bootstrap 95% intervals over cities and the
paired interval of each gain (the same cities resampled for both feature sets).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from torch import Tensor

from eossl.evaluation.results import EvalResult

__all__ = [
    "THRESHOLD_PIXELS",
    "best_threshold",
    "change_result",
    "change_scores",
    "city_counts",
    "pooled_f1",
    "protocol",
]

THRESHOLD_PIXELS = 50_000  # training pixels, drawn at their natural rate, for the threshold


def best_threshold(score: Tensor, y: Tensor) -> float:
    """The score threshold with the best F1 of the positive class."""
    order = score.argsort(descending=True)
    hits = y[order].float().cumsum(0)
    predicted = torch.arange(1, len(y) + 1, dtype=torch.float32)
    f1 = 2 * hits / (predicted + y.sum())
    return float(score[order][int(f1.argmax())])


def city_counts(pairs: Any, maps: dict[int, np.ndarray]) -> dict[str, np.ndarray]:
    """(tp, fp, fn) of each city from the predicted maps of its tiles."""
    out = {c: np.zeros(3, np.int64) for c in pairs.cities}
    for i, pred in maps.items():
        out[pairs.city[i]] += _counts(pred, pairs.scored[i])
    return out


def pooled_f1(per_city: dict[str, np.ndarray]) -> float:
    """F1 of the change class over all pixels of the cities, from their (tp, fp, fn)."""
    return _prf(sum(per_city.values(), np.zeros(3, np.int64)))[2]


# -- scores --------------------------------------------------------------------------------


def _counts(pred: np.ndarray, truth: np.ndarray) -> np.ndarray:
    valid = truth != 255
    p, t = pred[valid].astype(bool), truth[valid] == 1
    return np.array([(p & t).sum(), (p & ~t).sum(), (~p & t).sum()], np.int64)


def _prf(counts: np.ndarray) -> tuple[float, float, float]:
    tp, fp, fn = (float(c) for c in counts)
    precision = tp / (tp + fp) if tp + fp else 0.0
    recall = tp / (tp + fn) if tp + fn else 0.0
    f1 = 2 * tp / (2 * tp + fp + fn) if tp + fp + fn else 0.0
    return precision, recall, f1


def change_scores(
    per_city: dict[str, dict[str, np.ndarray]], seed: int = 0, resamples: int = 1000
) -> dict[str, Any]:
    """Precision, recall and F1 per city and overall; bootstrap intervals over cities.

    ``per_city[name][city]`` holds (tp, fp, fn). The paired interval of each gain
    resamples the same cities for both feature sets.
    """
    names = list(per_city)
    cities = list(per_city[names[0]])
    counts = {n: np.stack([per_city[n][c] for c in cities]) for n in names}
    rng = np.random.default_rng(seed)
    draws = rng.integers(0, len(cities), size=(resamples, len(cities)))
    f1 = {n: np.array([_prf(counts[n][d].sum(0))[2] for d in draws]) for n in names}

    def interval(values: np.ndarray) -> tuple[float, float]:
        lo, hi = np.quantile(values, [0.025, 0.975])
        return float(lo), float(hi)

    return {
        "overall": {n: dict(zip("prf", _prf(counts[n].sum(0)), strict=True)) for n in names},
        "per_city": {
            n: {c: dict(zip("prf", _prf(v), strict=True)) for c, v in per_city[n].items()}
            for n in names
        },
        "ci95": {n: interval(f1[n]) for n in names},
        "gain_ci95": {a: {b: interval(f1[a] - f1[b]) for b in names if b != a} for a in names},
    }


def change_result(
    task: str, per_city: dict[str, dict[str, np.ndarray]], details: dict
) -> EvalResult:
    """An :class:`EvalResult` of F1 per feature set, from (tp, fp, fn) per city."""
    s = change_scores(per_city, seed=details["seed"])
    scores = {n: v["f"] for n, v in s["overall"].items()}
    lead = next(iter(per_city))
    return EvalResult(
        task,
        "F1 (change)",
        scores,
        s["ci95"],
        {
            **details,
            "precision_recall_f1": s["overall"],
            "per_city": s["per_city"],
            "gain_ci95": s["gain_ci95"][lead],
        },
    )


def protocol(pairs: Any, folds: list, seed: int, head: str) -> dict[str, Any]:
    """What a change result was measured on, and how (cities, folds, pixels, head)."""
    labelled = int((pairs.scored != 255).sum())
    changed = int((pairs.scored == 1).sum())
    return {
        "data": pairs.name,
        "protocol": f"leave cities out, {len(folds)} folds over {len(pairs.cities)} cities",
        "samples": labelled,
        "unit": "pixels",
        "train": "other cities",
        "test": labelled,
        "classes": 2,
        "tiles": len(pairs.mask),
        "changed_pixels": changed,
        "cities": pairs.cities,
        "folds": folds,
        "head": head,
        "seed": seed,
    }
