"""Paired kNN comparison of two weights cards on the same labelled samples.

``eossl evaluate`` gives each card's score and its paired gain over random init and
band statistics; this gives the paired 95% bootstrap interval of card B minus card A
(e.g. a curated run against the full run of ``benchmarks/sampling.py``), with the
same protocol: kNN (k=5), leave-one-out, on the store's scene labels.

    python benchmarks/paired_knn.py STORE CARD_A CARD_B
"""

from __future__ import annotations

import argparse
import functools

import numpy as np

from eossl.data.scenes import open_scenes
from eossl.evaluate import _features, _test_folds
from eossl.probes import bootstrap_ci, knn_predict, predict_folds, score
from eossl.weights import load_card


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("store", help="eossl store with scene labels")
    parser.add_argument("a", help="weights card A")
    parser.add_argument("b", help="weights card B")
    parser.add_argument("--k", type=int, default=5)
    args = parser.parse_args()
    scenes = open_scenes(None, args.store, seed=0)
    preds, y = {}, None
    for ref in (args.a, args.b):
        feats, labels, _ = _features([(load_card(ref)[0], ref)], scenes, 0, 16, 0)
        folds = _test_folds(scenes, len(labels), "loo", 5, 0)
        tested = np.concatenate(folds)
        probe = functools.partial(knn_predict, k=args.k)
        preds[ref] = predict_folds(feats["pretrained"], labels, probe, folds)[tested]
        y = labels[tested]
    lo, hi = bootstrap_ci(preds[args.b], y, preds[args.a], seed=0)
    a, b = score(preds[args.a], y), score(preds[args.b], y)
    print(f"A {a:.3f}, B {b:.3f}, B - A {b - a:+.3f} (paired 95% CI {lo:+.3f} to {hi:+.3f}), "
          f"{len(y)} samples, kNN k={args.k} leave-one-out")  # fmt: skip


if __name__ == "__main__":
    main()
