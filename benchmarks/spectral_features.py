"""How far hand-made spectral features go on real EuroSAT: the ceiling of "keep the spectrum".

The band-statistics baseline (each image's per-band mean and std) reaches kNN 0.62-0.66 and
linear 0.75-0.77 on the 200 real EuroSAT MS patches of ``../shared/realdata/eurosat-ms-200``.
Could a pretext that teaches a network a richer spectral summary beat it? This measures the
summaries themselves, with the probes and folds of ``eossl evaluate`` (kNN k=5 leave-one-out,
linear 5-fold, seed 0): per-band mean and std of the DN and of log(1 + DN); per-band 10/50/90
percentiles; and a bag of spectral words, the histogram of each image's pixels over ``k``
k-means clusters of the pixel spectra (fitted on 100,000 pixels of these images, labels
unused), alone and beside the band statistics. B10 is dropped, as for L2A weights.

    python benchmarks/spectral_features.py
    python benchmarks/spectral_features.py --clusters 16 32 --root DIR
"""

from __future__ import annotations

import argparse
import functools
from pathlib import Path

import numpy as np
import rasterio
import torch
from rich.console import Console
from rich.table import Table

from eossl.evaluation.probes import folds, knn_predict, linear_predict, predict_folds, score

ROOT = Path(__file__).resolve().parents[2] / "shared" / "realdata" / "eurosat-ms-200"
B10 = 10  # EuroSAT MS band order: B01 ... B09, B10, B11, B12, B8A


def kmeans(x: torch.Tensor, k: int, iterations: int = 30, seed: int = 0) -> torch.Tensor:
    """Lloyd's k-means: ``k`` centres of the rows of ``x``."""
    order = torch.randperm(len(x), generator=torch.Generator().manual_seed(seed))
    centres = x[order[:k]].clone()
    for _ in range(iterations):
        nearest = torch.cdist(x, centres).argmin(1)
        for j in range(k):
            if (nearest == j).any():
                centres[j] = x[nearest == j].mean(0)
    return centres


def probes(features: np.ndarray, y: torch.Tensor) -> tuple[float, float]:
    """kNN (leave-one-out) and linear (5-fold) accuracy, as ``eossl evaluate`` scores them."""
    x, n, out = torch.tensor(features, dtype=torch.float32), len(y), []
    for protocol, probe in (("loo", functools.partial(knn_predict, k=5)), ("kfold", None)):
        parts = folds(n, protocol, 5, 0)  # type: ignore[arg-type]
        tested = np.concatenate(parts)
        pred = predict_folds(x, y, probe or linear_predict, parts)[tested]
        out.append(score(pred, y[tested]))
    return out[0], out[1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--root", type=Path, default=ROOT, help="EuroSAT MS class folders")
    parser.add_argument("--clusters", type=int, nargs="+", default=[8, 16, 32, 64])
    args = parser.parse_args()
    files = sorted(args.root.glob("*/*.tif"))
    if not files:
        raise SystemExit(f"error: {args.root}: no <Class>/*.tif files")
    classes = sorted({f.parent.name for f in files})
    y = torch.tensor([classes.index(f.parent.name) for f in files])
    images = np.stack([rasterio.open(f).read().astype(np.float32) for f in files])
    images = np.delete(images, B10, axis=1)
    logged = np.log1p(images)
    n, c = images.shape[:2]
    z = (logged - logged.mean((0, 2, 3), keepdims=True)) / logged.std((0, 2, 3), keepdims=True)
    stats = np.concatenate([images.mean((2, 3)), images.std((2, 3))], 1)
    rows = {
        "band statistics (mean, std)": stats,
        "mean, std of log(1 + DN)": np.concatenate([z.mean((2, 3)), z.std((2, 3))], 1),
        "percentiles 10/50/90 of log(1 + DN)": np.percentile(
            z.reshape(n, c, -1), [10, 50, 90], axis=2
        )
        .transpose(1, 0, 2)
        .reshape(n, -1),
    }
    pixels = torch.tensor(z.transpose(0, 2, 3, 1).reshape(-1, c))
    sample = pixels[torch.randperm(len(pixels), generator=torch.Generator().manual_seed(0))][
        :100_000
    ]
    for k in args.clusters:
        centres = kmeans(sample, k)
        words = torch.cat([torch.cdist(p, centres).argmin(1) for p in pixels.split(65_536)])
        counts = np.stack([np.bincount(w, minlength=k) for w in words.view(n, -1).numpy()])
        share = np.sqrt(counts / counts.sum(1, keepdims=True))  # Hellinger: rare words count
        rows[f"bag of {k} spectral words"] = share
        rows[f"bag of {k} spectral words + band statistics"] = np.concatenate([share, stats], 1)
    table = Table(title=f"Hand-made spectral features, EuroSAT MS, {n} real patches")
    for name in ("features", "dims", "kNN (LOO, k=5)", "linear (5-fold)"):
        table.add_column(name, justify="left" if name == "features" else "right")
    for name, features in rows.items():
        knn, linear = probes(features, y)
        table.add_row(name, str(features.shape[1]), f"{knn:.3f}", f"{linear:.3f}")
    Console().print(table)


if __name__ == "__main__":
    main()
