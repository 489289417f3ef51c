"""The frozen change probe: a per-pixel logistic head on |f(date 2) - f(date 1)|.

The encoder's feature maps of both dates, their absolute difference upsampled to every
pixel (a hypercolumn), and a per-pixel logistic head fitted on the training cities. The
head reads the finest levels (stem, then each stage): how many is chosen on two inner folds
over the training cities, F1-best, since changes a few pixels wide blur in coarse maps. The
same head runs on the random-init encoder (as initialised, and with BatchNorm statistics
of the data) and on **change vector analysis** (CVA): the absolute difference of the
normalised bands, the classic no-learning baseline. Each head's decision threshold is
the F1-best on its training cities.
"""

from __future__ import annotations

import copy
from typing import Any

import numpy as np
import torch
from torch import Tensor
from torch.nn import functional as F

from eossl.console import task_progress
from eossl.errors import UserError
from eossl.evaluation.change.pairs import ChangePairs, city_folds
from eossl.evaluation.change.scores import (
    THRESHOLD_PIXELS,
    best_threshold,
    change_result,
    city_counts,
    pooled_f1,
    protocol,
)
from eossl.evaluation.probes import LinearHead, fit_linear
from eossl.evaluation.results import CVA, PRETRAINED, RANDOM, RANDOM_BN, EvalResult
from eossl.models import encoder_from_card

__all__ = ["CardPairs", "Hypercolumns", "change_vector", "frozen_probe"]

PIXELS_PER_CLASS = 10_000  # training pixels of each class per fold (the head's sample)


def change_vector(x1: Tensor, x2: Tensor) -> Tensor:
    """Change vector analysis: the absolute per-band difference of normalised images."""
    return (x2 - x1).abs()


class CardPairs:
    """A card's input for the pairs: bands matched by name, normalised as in pretraining."""

    def __init__(self, card: dict[str, Any], pairs: ChangePairs, level_shift: bool = True) -> None:
        from eossl.evaluation.evaluate import CardInputs

        self.inputs = CardInputs(card, pairs.scenes, level_shift=level_shift)
        if self.inputs.wavelengths is not None:
            raise UserError(f"{card['name']}: change detection takes a fixed-band encoder")

    def __call__(self, bands: np.ndarray) -> Tensor:
        """(N, 2, C, H, W) stored values -> (N, 2, card bands, H, W) network input."""
        i = self.inputs
        x = torch.from_numpy(bands.astype(np.float32))
        n, t = x.shape[:2]
        normed = i.normalize(x.flatten(0, 1)[:, i.picks])
        out = normed.new_zeros(n * t, i.bands, *x.shape[-2:])
        out[:, i.slots] = normed
        return out.unflatten(0, (n, t))


class Hypercolumns:
    """Per-pixel |f(date 2) - f(date 1)| of an encoder's feature maps, or CVA's bands.

    The maps stay at their own resolution; a pixel's features are their bilinear
    upsampling to the tile (``F.interpolate``, ``align_corners=False``), read at sampled
    pixels only (:meth:`at`). A linear head is applied level by level before upsampling
    (:meth:`margin`), which is the same linear map and far cheaper than a full hypercolumn.
    """

    def __init__(self, model: torch.nn.Module | None, images: Tensor, batch: int = 32) -> None:
        self.size = tuple(images.shape[-2:])
        if model is None:  # CVA: the bands themselves
            self.levels = [change_vector(images[:, 0], images[:, 1]).half()]
            return
        idx = _levels(model)
        parts: list[list[Tensor]] = []
        with torch.no_grad():
            for start in range(0, len(images), batch):
                x = images[start : start + batch]
                f1, f2 = (
                    model.forward_intermediates(x[:, j], indices=idx, intermediates_only=True)
                    for j in (0, 1)
                )
                parts.append([(b - a).abs().half() for a, b in zip(f1, f2, strict=True)])
        self.levels = [torch.cat(level) for level in zip(*parts, strict=True)]

    def prefix(self, depth: int) -> Hypercolumns:
        """The same hypercolumns, read from the ``depth`` finest levels only."""
        view = copy.copy(self)
        view.levels = self.levels[:depth]
        return view

    @property
    def dim(self) -> int:
        """Features per pixel."""
        return sum(level.shape[1] for level in self.levels)

    def tile(self, i: int) -> Tensor:
        """(D, H, W) features of every pixel of tile ``i``."""
        maps = [
            F.interpolate(level[i : i + 1].float(), size=self.size, mode="bilinear")
            for level in self.levels
        ]
        return torch.cat(maps, dim=1)[0]

    def at(self, tiles: np.ndarray, rows: np.ndarray, cols: np.ndarray) -> Tensor:
        """(P, D) features of pixels (tile, row, col), as :meth:`tile` gives them."""
        h, w = self.size
        out = torch.empty(len(tiles), self.dim)
        for t in np.unique(tiles):
            hit = np.flatnonzero(tiles == t)
            grid = torch.stack(
                [
                    torch.from_numpy((2 * cols[hit] + 1) / w - 1),
                    torch.from_numpy((2 * rows[hit] + 1) / h - 1),
                ],
                dim=-1,
            ).float()[None, None]
            feats = [
                F.grid_sample(
                    level[t : t + 1].float(), grid, align_corners=False, padding_mode="border"
                )[0, :, 0]
                for level in self.levels
            ]
            out[torch.from_numpy(hit)] = torch.cat(feats).T.contiguous()
        return out

    def margin(self, head: LinearHead, tiles: np.ndarray, batch: int = 64) -> Tensor:
        """(T, H, W) change-minus-no-change logit of every pixel of ``tiles``."""
        w = (head.weight[1] - head.weight[0]) / head.sd
        bias = float(head.bias[1] - head.bias[0] - (w * head.mu).sum())
        out = []
        for start in range(0, len(tiles), batch):
            pick = torch.from_numpy(np.asarray(tiles[start : start + batch]))
            total = torch.full((len(pick), *self.size), bias)
            offset = 0
            for level in self.levels:
                c = level.shape[1]
                part = torch.einsum("nchw,c->nhw", level[pick].float(), w[offset : offset + c])
                total += F.interpolate(part[:, None], size=self.size, mode="bilinear")[:, 0]
                offset += c
            out.append(total)
        return torch.cat(out)


def _levels(model: torch.nn.Module) -> list[int]:
    """Every stage of a CNN, the stem's too (the finest maps); a ViT's four harness blocks."""
    from eossl.weights.harness import default_out_indices

    info = getattr(model, "feature_info", None)
    if info is not None and not any(str(f.get("module", "")).startswith("blocks") for f in info):
        return list(range(len(info)))
    return default_out_indices({"model": ""}, model)


def _sample_pixels(
    mask: np.ndarray, tiles: np.ndarray, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    """Flat indices into ``mask[tiles]``: a sample of both classes, and one at their rate."""
    flat = mask[tiles].reshape(-1)
    balanced = []
    for cls in (0, 1):
        where = np.flatnonzero(flat == cls)
        balanced.append(rng.choice(where, min(PIXELS_PER_CLASS, where.size), replace=False))
    labelled = np.flatnonzero(flat != 255)
    natural = rng.choice(labelled, min(THRESHOLD_PIXELS, labelled.size), replace=False)
    return np.concatenate(balanced), natural


def _pixels(cols: Hypercolumns, tiles: np.ndarray, flat: np.ndarray) -> Tensor:
    """Features of pixels given as flat indices into (tiles, H, W)."""
    h, w = cols.size
    tile, rest = np.divmod(flat, h * w)
    row, col = np.divmod(rest, w)
    return cols.at(tiles[tile], row, col)


def _training_pixels(
    cols: Hypercolumns, mask: np.ndarray, train: np.ndarray, seed: int
) -> tuple[Tensor, Tensor, Tensor, Tensor]:
    """Features and labels of a balanced sample of training pixels, and of a natural one."""
    rng = np.random.default_rng(seed)
    balanced, natural = _sample_pixels(mask, train, rng)
    labels = torch.from_numpy(mask[train].reshape(-1).astype(np.int64))
    x_bal, x_nat = _pixels(cols, train, balanced), _pixels(cols, train, natural)
    return x_bal, labels[balanced], x_nat, labels[natural]


def _fit_head(
    x_bal: Tensor, y_bal: Tensor, x_nat: Tensor, y_nat: Tensor
) -> tuple[LinearHead, float]:
    """A logistic head on the balanced pixels; its F1-best threshold on the natural ones."""
    head = fit_linear(x_bal, y_bal, classes=2)
    with torch.no_grad():
        logits = head(x_nat)
    return head, best_threshold(logits[:, 1] - logits[:, 0], y_nat)


def _maps(cols: Hypercolumns, head: LinearHead, threshold: float, tiles: np.ndarray) -> dict:
    """Predicted change maps of ``tiles``, by tile index."""
    predicted = cols.margin(head, tiles) >= threshold
    return {int(i): p.numpy() for i, p in zip(tiles, predicted, strict=True)}


def _depth(cols: Hypercolumns, pairs: ChangePairs, train: np.ndarray, seed: int) -> int:
    """How many levels, finest first, the head reads: the F1-best on the training cities.

    Two inner folds over the training cities (a test city is never looked at); the
    pixels' features are read once per fold, and each depth fits its own head on the
    first of their columns. Ties go to the shallower depth.
    """
    cities = list(dict.fromkeys(pairs.city[train].tolist()))
    if len(cols.levels) == 1 or len(cities) < 2:
        return len(cols.levels)
    widths = np.cumsum([level.shape[1] for level in cols.levels])
    maps: list[dict[int, np.ndarray]] = [{} for _ in widths]
    for held in city_folds(cities, 2, seed):
        inner = np.isin(pairs.city[train], held)
        x_bal, y_bal, x_nat, y_nat = _training_pixels(cols, pairs.mask, train[~inner], seed)
        for d, width in enumerate(widths):
            head, threshold = _fit_head(x_bal[:, :width], y_bal, x_nat[:, :width], y_nat)
            maps[d].update(_maps(cols.prefix(d + 1), head, threshold, train[inner]))
    scores = [pooled_f1(city_counts(pairs, m)) for m in maps]
    return int(np.argmax(scores)) + 1


def _probe_fold(
    cols: Hypercolumns, pairs: ChangePairs, train: np.ndarray, test: np.ndarray, seed: int
) -> tuple[dict[int, np.ndarray], int]:
    """Predicted change maps of the test tiles, and the depth the head read."""
    view = cols.prefix(_depth(cols, pairs, train, seed))
    head, threshold = _fit_head(*_training_pixels(view, pairs.mask, train, seed))
    return _maps(view, head, threshold, test), len(view.levels)


def _encoders(card: dict[str, Any], ref: Any, seed: int, images: Tensor) -> dict[str, Any]:
    from eossl.evaluation.evaluate import has_batchnorm, recompute_batchnorm

    torch.manual_seed(seed)
    random = encoder_from_card(card, None).eval()
    models: dict[str, Any] = {PRETRAINED: encoder_from_card(card, ref).eval(), RANDOM: random}
    if has_batchnorm(random):
        sample = images[torch.randperm(len(images), generator=torch.Generator().manual_seed(seed))]
        batches = (sample[i : i + 32].flatten(0, 1) for i in range(0, min(len(sample), 1024), 32))
        models[RANDOM_BN] = recompute_batchnorm(copy.deepcopy(random), batches)
    models[CVA] = None
    return models


def frozen_probe(
    card: dict[str, Any], ref: Any, pairs: ChangePairs, images: Tensor, folds: list, seed: int
) -> tuple[EvalResult, dict[str, dict[int, np.ndarray]]]:
    """F1 of the per-pixel head on each feature set, cities held out."""
    models = _encoders(card, ref, seed, images)
    per_city: dict[str, dict[str, np.ndarray]] = {}
    maps: dict[str, dict[int, np.ndarray]] = {}
    depths: dict[str, list[int]] = {}
    widths: dict[str, list[int]] = {}
    with task_progress() as progress:
        bar = progress.add_task("change probe", total=len(models) * len(folds))
        for name, model in models.items():
            cols = Hypercolumns(model, images)
            maps[name], depths[name], widths[name] = {}, [], []
            for test_cities in folds:
                test = np.flatnonzero(np.isin(pairs.city, test_cities))
                train = np.flatnonzero(~np.isin(pairs.city, test_cities))
                fold_maps, depth = _probe_fold(cols, pairs, train, test, seed)
                maps[name].update(fold_maps)
                depths[name].append(depth)
                widths[name].append(cols.prefix(depth).dim)
                progress.advance(bar)
            per_city[name] = city_counts(pairs, maps[name])
    head = "per-pixel logistic head on |f(t2) - f(t1)| of the finest levels (depth by inner CV)"
    details = protocol(pairs, folds, seed, head)
    details["features"] = {n: Hypercolumns(m, images[:1]).dim for n, m in models.items()}
    details["features_read"] = widths  # of those, what the head read in each fold
    details["depth"] = depths  # levels read, finest first, in each fold
    return change_result("change, frozen probe", per_city, details), maps
