"""Paired kNN comparison of weights cards on the same labelled samples.

``eossl evaluate`` gives each card's score and its paired gain over random init and
band statistics; this gives the paired 95% bootstrap interval of card B minus card A
(e.g. a curated run against the full run of ``benchmarks/sampling.py``), with the
same protocol: kNN (k as ``eossl evaluate`` picks it), leave-one-out, on the store's
scene labels. Several pairs (one per pretraining seed) give the mean gain over the
seeds, its interval resampling the samples (the same resample for every seed).

    python benchmarks/paired_knn.py STORE CARD_A CARD_B [CARD_A2 CARD_B2 ...]
"""

from __future__ import annotations

import argparse
import functools
from collections.abc import Sequence

import numpy as np

from eossl.data.scenes import open_scenes
from eossl.evaluation.evaluate import _features, _test_folds
from eossl.evaluation.probes import default_k, knn_predict, predict_folds


def knn_correct(store: str, cards: Sequence[str], k: int | None = None) -> dict[str, np.ndarray]:
    """Whether each card's leave-one-out kNN prediction of each sample is right.

    ``k`` defaults to ``eossl evaluate``'s choice (:func:`eossl.evaluation.probes.default_k`).
    """
    from eossl.weights import load_card

    scenes = open_scenes(None, store, seed=0)
    out = {}
    for ref in cards:
        feats, labels, _, _, blank = _features([(load_card(ref)[0], ref)], scenes, 0, 16, 0)
        keep = ~blank  # samples with no valid pixel are left out, as eossl evaluate does
        feats, labels = {name: x[keep] for name, x in feats.items()}, labels[keep]
        folds = _test_folds(scenes, len(labels), "loo", 5, 0)
        probe = functools.partial(knn_predict, k=k or default_k(len(labels) - 1))
        tested = np.concatenate(folds)
        pred = predict_folds(feats["pretrained"], labels, probe, folds)[tested]
        out[ref] = (pred == labels[tested]).numpy()
    return out


def paired_gain(
    correct_a: Sequence[np.ndarray], correct_b: Sequence[np.ndarray], resamples: int = 2000
) -> tuple[float, float, float]:
    """Mean accuracy gain of B over A across seeds, and its 95% bootstrap interval.

    Each seed's A and B are scored on the same samples; a resample draws samples, the
    same ones for every seed, and averages the seeds' gains on them.
    """
    gains = np.stack([b.astype(float) - a for a, b in zip(correct_a, correct_b, strict=True)])
    rng = np.random.default_rng(0)
    n = gains.shape[1]
    draws = [gains[:, i].mean() for i in rng.integers(0, n, size=(resamples, n))]
    lo, hi = np.quantile(draws, [0.025, 0.975])
    return float(gains.mean()), float(lo), float(hi)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("store", help="eossl store with scene labels")
    parser.add_argument("cards", nargs="+", help="weights cards: A B, then A B of more seeds")
    parser.add_argument("--k", type=int, default=None, help="neighbours (default: as evaluate)")
    args = parser.parse_args()
    if len(args.cards) % 2:
        parser.error("give the cards in pairs: A B [A B ...]")
    correct = knn_correct(args.store, args.cards, args.k)
    a = [correct[c] for c in args.cards[0::2]]
    b = [correct[c] for c in args.cards[1::2]]
    for i, (ca, cb) in enumerate(zip(a, b, strict=True)):
        gain, lo, hi = paired_gain([ca], [cb])
        print(f"pair {i}: A {ca.mean():.3f}, B {cb.mean():.3f}, B - A {gain:+.3f} "
              f"(paired 95% CI {lo:+.3f} to {hi:+.3f})")  # fmt: skip
    gain, lo, hi = paired_gain(a, b)
    print(f"mean over {len(a)} pair(s): B - A {gain:+.3f} (95% CI {lo:+.3f} to {hi:+.3f}), "
          f"{len(a[0])} samples, kNN leave-one-out")  # fmt: skip


if __name__ == "__main__":
    main()
