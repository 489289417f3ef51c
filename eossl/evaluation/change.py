"""Change detection on two-date pairs (OSCD): frozen probe and fine-tuning, cities held out.

- **Frozen probe**: the encoder's feature maps of both dates, their absolute difference
  upsampled to every pixel (a hypercolumn), and a per-pixel logistic head. The same head
  runs on the random-init encoder (as initialised, and with BatchNorm statistics of the
  data) and on **change vector analysis** (CVA): the absolute difference of the
  normalised bands, the classic no-learning baseline.
- **Fine-tuning**: TorchGeo's ``ChangeDetectionTask`` (FC-Siam-diff, the card's
  backbone) from the card's weights and from random init, same seed, epochs and data.

Protocol: leave cities out, k folds over cities (a city is never in training and test).
Each head's decision threshold is the F1-best on its training cities. Scores: precision,
recall and F1 of the change class, per city and over all tested pixels, with bootstrap
95% intervals over cities and the paired interval of each gain.
"""

from __future__ import annotations

import copy
import json
import os
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor
from torch.nn import functional as F

from eossl.data.convert.change import city_of
from eossl.data.io.schema import band_names, open_group
from eossl.data.scenes import SceneData
from eossl.errors import UserError
from eossl.evaluation.change_scores import (
    THRESHOLD_PIXELS,
    best_threshold,
    change_scores,
    city_counts,
)
from eossl.evaluation.probes import LinearHead, fit_linear
from eossl.evaluation.results import CVA, PRETRAINED, RANDOM, RANDOM_BN, EvalResult
from eossl.models import encoder_from_card
from eossl.weights import load_card

__all__ = [
    "CVA",
    "ChangePairs",
    "change_vector",
    "city_folds",
    "evaluate_change",
    "load_pairs",
]

PIXELS_PER_CLASS = 10_000  # training pixels of each class per fold (the head's sample)


@dataclass
class ChangePairs:
    """Tiles of two dates with their change mask, in memory."""

    name: str
    bands: np.ndarray  # (N, 2, C, H, W) stored values
    mask: np.ndarray  # (N, H, W) uint8: 0 no change, 1 change, 255 unlabelled
    city: np.ndarray  # (N,) city of each tile
    scored: np.ndarray  # ``mask`` with pixels of an earlier overlapping tile set to 255
    scenes: SceneData  # band names, offset, nodata and sensor, for the card's inputs

    @property
    def cities(self) -> list[str]:
        """Cities in order of first appearance."""
        return list(dict.fromkeys(self.city.tolist()))


def load_pairs(store: str | os.PathLike) -> ChangePairs:
    """The labelled tiles of a change store (``eossl convert --layout oscd``)."""
    path = Path(store).expanduser()
    if not path.exists():
        raise UserError(f"{path}: no such store")
    group = open_group(path)
    if group.attrs.get("label_kind") == "change" and "label" not in group:
        raise UserError(
            f"{path}: no city of this change store has a change mask (cm/<city>-cm.tif); "
            "change detection is scored on labelled cities"
        )
    if group.attrs.get("label_kind") != "change" or "label" not in group:
        raise UserError(
            f"{path}: not a change store (a label of date pairs); convert OSCD with "
            "`eossl convert SRC OUT --layout oscd`"
        )
    if group["bands"].shape[1] != 2:
        raise UserError(f"{path}: change detection needs 2 timestamps per sample")
    mask = _read(path, group, "label")
    keep = np.flatnonzero((mask != 255).any(axis=(1, 2)))
    if keep.size == 0:
        raise UserError(f"{path}: no labelled tile (every change mask is 255)")
    ids = [str(i) for i in _read(path, group, "sample_id")[:, 0].tolist()]
    scenes = SceneData(
        name=path.name,
        dataset=None,  # type: ignore[arg-type]
        band_names=band_names(group) or [],
        class_names=["no change", "change"],
        multilabel=False,
        offset=float(group.attrs.get("offset", 0.0) or 0.0),
        nodata=group.attrs.get("nodata"),
        sensor=group.attrs.get("sensor"),
    )
    bands = _read(path, group, "bands")[keep]
    city = np.array([city_of(ids[i]) for i in keep])
    mask = mask[keep]
    scored = _once(mask, [ids[i] for i in keep])
    return ChangePairs(path.name, bands, mask, city, scored=scored, scenes=scenes)


def _read(path: Path, group: Any, name: str) -> np.ndarray:
    """A whole variable of the store; an unreadable chunk (bit-flipped, truncated) in one line."""
    try:
        return np.asarray(group[name][...])
    except Exception as err:
        raise UserError(
            f"{path}: '{name}' cannot be read ({type(err).__name__}: {err}); `eossl verify "
            f"{path}` names the bad chunks: re-convert the store"
        ) from err


def _once(mask: np.ndarray, ids: list[str]) -> np.ndarray:
    """``mask`` with every pixel scored once: edge tiles overlap their neighbours."""
    import re

    out = mask.copy()
    size = mask.shape[-1]
    covered: dict[str, set[tuple[int, int]]] = {}
    for i, sample in enumerate(ids):
        found = re.search(r"_y(\d+)_x(\d+)$", sample)
        if found is None:
            continue
        row, col = int(found.group(1)), int(found.group(2))
        seen = covered.setdefault(city_of(sample), set())
        for r, c in seen:  # earlier tiles of the city that overlap this one
            dr, dc = r - row, c - col
            if abs(dr) < size and abs(dc) < size:
                out[i, max(dr, 0) : size + min(dr, 0), max(dc, 0) : size + min(dc, 0)] = 255
        seen.add((row, col))
    return out


def convert_release(root: str | os.PathLike, chip: int, work: Path) -> Path:
    """OSCD in its release layout, converted into a store under ``work``."""
    from eossl.data.convert.rasters import BadFileError
    from eossl.data.convert.write import convert

    print(f"eossl: converting {root} (--layout oscd, {chip} px tiles)", file=sys.stderr)
    try:
        out, _ = convert(root, work / "oscd.zarr", "oscd", chip_size=chip, quiet=True)
    except UserError as err:  # a bad file: evaluate has no --skip-bad, convert has
        if not isinstance(err.__cause__, BadFileError):  # its options, as evaluate names them
            raise UserError(str(err).replace("--chip-size", "--tile-size")) from err
        bad = err.__cause__.bad
        raise UserError(
            f"{bad.path}: {bad.reason}; fix or remove it, or convert with `eossl convert "
            f"{root} OUT --layout oscd --skip-bad`, then --data OUT"
        ) from err
    return out


def city_folds(cities: list[str], k: int, seed: int) -> list[list[str]]:
    """``k`` groups of cities (seeded): each is tested once, trained on by the others."""
    if len(cities) < 2:
        raise UserError(f"{len(cities)} labelled city: leaving cities out needs at least 2")
    order = np.random.default_rng(seed).permutation(len(cities))
    return [[cities[i] for i in part] for part in np.array_split(order, min(k, len(cities)))]


# -- features ------------------------------------------------------------------------------


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
    from eossl.harness import default_out_indices

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


def _probe_fold(
    cols: Hypercolumns, mask: np.ndarray, train: np.ndarray, test: np.ndarray, seed: int
) -> dict[int, np.ndarray]:
    """Predicted change maps of the test tiles, from a head fitted on the training tiles."""
    rng = np.random.default_rng(seed)
    balanced, natural = _sample_pixels(mask, train, rng)
    labels = torch.from_numpy(mask[train].reshape(-1).astype(np.int64))
    head = fit_linear(_pixels(cols, train, balanced), labels[balanced], classes=2)
    with torch.no_grad():
        logits = head(_pixels(cols, train, natural))
    threshold = best_threshold(logits[:, 1] - logits[:, 0], labels[natural])
    predicted = cols.margin(head, test) >= threshold
    return {int(i): p.numpy() for i, p in zip(test, predicted, strict=True)}


def _result(task: str, per_city: dict[str, dict[str, np.ndarray]], details: dict) -> EvalResult:
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


# -- the two evaluations ---------------------------------------------------------------------


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
    from rich.progress import Progress

    models = _encoders(card, ref, seed, images)
    per_city: dict[str, dict[str, np.ndarray]] = {}
    maps: dict[str, dict[int, np.ndarray]] = {}
    with Progress(transient=True) as progress:
        bar = progress.add_task("change probe", total=len(models) * len(folds))
        for name, model in models.items():
            cols = Hypercolumns(model, images)
            maps[name] = {}
            for test_cities in folds:
                test = np.flatnonzero(np.isin(pairs.city, test_cities))
                train = np.flatnonzero(~np.isin(pairs.city, test_cities))
                maps[name].update(_probe_fold(cols, pairs.mask, train, test, seed))
                progress.advance(bar)
            per_city[name] = city_counts(pairs, maps[name])
    details = _details(pairs, folds, seed, "per-pixel logistic head on |f(t2) - f(t1)|")
    details["features"] = {n: Hypercolumns(m, images[:1]).dim for n, m in models.items()}
    return _result("change, frozen probe", per_city, details), maps


def _details(pairs: ChangePairs, folds: list, seed: int, head: str) -> dict[str, Any]:
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


def evaluate_change(
    weights: str | os.PathLike,
    data: str | os.PathLike | None = None,
    dataset: str | None = None,
    out: str | os.PathLike = "eval",
    epochs: int = 5,
    seed: int = 0,
    num_folds: int = 5,
    batch_size: int = 16,
    lr: float = 1e-3,
    chip: int = 64,
    finetune: bool = True,
    level_shift: bool = True,
) -> list[EvalResult]:
    """Change detection for a weights card: frozen probe vs CVA, and fine-tuning.

    ``data`` is a change store, or with ``dataset="oscd"`` OSCD's release folder
    (converted into ``chip`` px tiles in a temporary folder). ``epochs`` of fine-tuning;
    ``finetune=False`` runs the frozen probe only. ``level_shift`` as in
    :class:`~eossl.evaluation.evaluate.CardInputs`.
    """
    from eossl.evaluation.change_finetune import check_backbone, finetune_change
    from eossl.evaluation.plots import plot_change_maps
    from eossl.evaluation.results import plot_result

    if dataset not in (None, "oscd"):
        raise UserError(f"--task change reads --dataset oscd or a change store, not {dataset}")
    if data is None:
        raise UserError("pass --data STORE, or --dataset oscd --root FOLDER")
    card_ref = weights
    card = load_card(card_ref)[0]
    with tempfile.TemporaryDirectory(prefix="eossl-oscd-") as work:
        store = convert_release(data, chip, Path(work)) if dataset else data
        pairs = load_pairs(store)
    if finetune:
        check_backbone(card)
    folds = city_folds(pairs.cities, num_folds, seed)
    images = CardPairs(card, pairs, level_shift)(pairs.bands)
    probe, maps = frozen_probe(card, card_ref, pairs, images, folds, seed)
    results = [probe]
    if finetune:
        tuned = finetune_change(card, card_ref, pairs, images, folds, seed, epochs, lr, batch_size)
        details = _details(pairs, folds, seed, "TorchGeo ChangeDetectionTask, FC-Siam-diff")
        details.update(epochs=epochs, lr=lr)
        results.append(_result("change, fine-tuned", tuned[0], details))
        maps.update({f"fine-tuned, {k}": v for k, v in tuned[1].items()})
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    record = {
        "weights": card["name"],
        "data": str(data),
        "results": [r.as_dict() for r in results],
    }
    (out / "evaluate_change.json").write_text(json.dumps(record, indent=2, default=str))
    for r, stem in zip(results, ("probe", "finetune"), strict=False):
        plot_result(r, card["name"], out / f"evaluate_change_{stem}.png")
    plot_change_maps(pairs, maps, out / "evaluate_change_maps.png")
    return results
