"""Downstream evaluation of exported weights: kNN, linear probe, segmentation fine-tune.

Probes run on frozen features of the pretrained backbone, the same backbone at
random init (same seed; as initialised, and with its BatchNorm statistics recomputed
on the data) and a band-statistics baseline (per-band mean and std of each image),
with the same protocol (see :mod:`eossl.evaluation.probes`). The data are an eossl
store, or a benchmark in its own layout read by TorchGeo (EuroSAT, BigEarthNet), with
bands matched by name, the pretraining normalisation and the pretraining image size.
The result is a table with sample counts and 95% intervals, a JSON file and a plot.
"""

from __future__ import annotations

import copy
import functools
import json
import math
import os
import sys
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any, Literal

import numpy as np
import torch
from torch.nn import functional as F

from eossl.anyband import BoundWavelengths, channel_wavelengths, is_any_band
from eossl.bands import WAVELENGTH_TOLERANCE, channel_records, find_channels
from eossl.console import task_progress
from eossl.data.labelled import LabelledZarrDataModule, image_targets
from eossl.data.normalize import BandNormalize
from eossl.data.scenes import SceneData, canonical_band, match_bands, open_scenes
from eossl.data.workers import loader_workers
from eossl.errors import UserError
from eossl.evaluation.finetune import finetune_segmentation
from eossl.evaluation.probes import (
    Protocol,
    band_statistics,
    bootstrap_ci,
    default_k,
    folds,
    knn_predict,
    linear_predict,
    predict_folds,
    score,
)
from eossl.evaluation.results import (
    BAND_STATS,
    PRETRAINED,
    RANDOM,
    RANDOM_BN,
    EvalResult,
    plot_result,
)
from eossl.models import encoder_from_card
from eossl.weights.card import load_card

__all__ = ["evaluate", "image_targets"]

Task = Literal["knn", "linear", "segmentation"]
Labels = Literal["majority", "multi"]


def _backbone(
    card: dict[str, Any],
    card_ref: str | os.PathLike,
    pretrained: bool,
    seed: int,
    inputs: CardInputs,
) -> torch.nn.Module:
    """The card's encoder, pretrained or random; an any-band one bound to the inputs' bands."""
    torch.manual_seed(seed)
    model = encoder_from_card(card, card_ref if pretrained else None)
    if inputs.wavelengths is not None:
        model = BoundWavelengths(model, inputs.wavelengths)
    return model.eval()


def _platform(sensor: str) -> str | None:
    from eossl.sensors import get_sensor

    try:
        return get_sensor(sensor).platform
    except UserError:  # a card eossl does not know
        return None


def _data_sensor(card_sensor: str | None, data_sensor: str | None) -> str | None:
    """The data's sensor that the card's is compared with.

    Data of several sensors (BigEarthNet's ``all``: ``s1-grd+s2-l2a``) give each of the
    card's sensors the part of its own platform: ``s2-l2a`` for an ``s2-l1c`` card.
    """
    if not card_sensor or not data_sensor or "+" not in data_sensor:
        return data_sensor
    mine = [_same_platform(c, data_sensor) for c in card_sensor.split("+")]
    if None in mine:  # a card part of no platform of the data's: compare them whole
        return data_sensor
    return "+".join(dict.fromkeys(str(d) for d in mine))


def _same_platform(card_part: str, data_sensor: str) -> str | None:
    """The part of ``data_sensor`` (``a+b``) of ``card_part``'s platform, if any."""
    platform = _platform(card_part)
    return next((d for d in data_sensor.split("+") if platform and _platform(d) == platform), None)


def _level_shift(card_sensor: str, data_sensor: str) -> tuple[str, dict[str, float]] | None:
    """The release, and the data level's mean minus the weights' per band (DN), or None.

    Each sensor of the card (``+`` joins those of a fused card) is shifted toward the
    data's sensor of the same platform.
    """
    from eossl.sensors import get_sensor, level_shift

    found: list[tuple[str, dict[str, float]]] = []
    for card_part in card_sensor.split("+"):
        data_part = _same_platform(card_part, data_sensor)
        try:
            one = level_shift(get_sensor(card_part), get_sensor(data_part)) if data_part else None
        except UserError:  # a card eossl does not know: no shift
            one = None
        if one is not None:
            found.append(one)
    if not found:
        return None
    return found[0][0], {band: v for _, shift in found for band, v in shift.items()}


def _describe_shift(release: str, shift: dict[str, float]) -> str:
    largest = sorted(shift, key=lambda b: -abs(shift[b]))[:3]
    return (
        f"; each band's mean is moved by the two levels' difference in {release} "
        f"({', '.join(f'{b} {shift[b]:+.0f}' for b in largest)} ...; --no-level-shift "
        "keeps it)"
    )


def _check_wavelengths(
    card: dict[str, Any], sensor: str | None, scenes: SceneData, picks: dict[str, int]
) -> None:
    """Refuse bands of one name that lie elsewhere in the spectrum (Landsat B5, S2 B05)."""
    from eossl.sensors import get_sensor

    if not sensor:
        return
    try:
        data = {canonical_band(b.name): b.wavelength for b in get_sensor(sensor).bands}
    except UserError:  # a sensor eossl has no card for: the names are all there is
        return
    own = {r["name"]: r.get("wavelength") for r in channel_records(card)}
    for name, pick in picks.items():
        theirs = scenes.band_names[pick] if pick >= 0 else None
        a, b = own.get(name), data.get(canonical_band(theirs or ""))
        if a is not None and b is not None and abs(a - b) > WAVELENGTH_TOLERANCE:
            raise UserError(
                f"{scenes.name}: its band {theirs} ({sensor}) is at {b:.3f} µm, the weights' "
                f"{name} ({card.get('sensor')}) at {a:.3f} µm: the same name on another "
                f"sensor; evaluate on {card.get('sensor')} data"
            )


class CardInputs:
    """Bands matched to a weights card by name, normalised and resized as in pretraining.

    A card band the data lack is filled with 0 after normalisation (the pretraining
    mean); data bands the card does not know are dropped. Both get a one-line notice.
    ``channels`` keeps only those card bands: an any-band encoder takes just them (with
    their wavelengths), a fixed-band one gets the pretraining mean for the others.
    Images are resized to ``image_size`` px (default: the card's pretraining crop size).
    Data of another processing level of the same platform (L1C for weights pretrained on
    L2A) have each band's mean moved by the two levels' typical difference
    (:func:`~eossl.sensors.level_shift`), unless ``level_shift`` is False; said in the
    notice.
    """

    def __init__(
        self,
        card: dict[str, Any],
        scenes: SceneData,
        channels: list[str] | None = None,
        level_shift: bool = True,
        image_size: int | None = None,
    ) -> None:
        wanted = card.get("bands") or scenes.band_names
        if len(wanted) != card["in_chans"]:
            raise UserError(
                f"{card['name']}: the card names no bands and {scenes.name} has "
                f"{len(wanted)}, not its in_chans={card['in_chans']}; add the pretraining "
                "bands to the card ('bands')"
            )
        if not scenes.band_names:
            scenes.band_names = list(wanted)
        picks, missing, unused = match_bands(list(wanted), scenes.band_names)
        any_band = is_any_band(card.get("model", ""))
        absent = missing
        if channels:  # the card's other bands count as missing, said by the user
            picks, missing = _only(card, wanted, channels, picks)
        if len(missing) == len(wanted):
            raise UserError(
                f"{scenes.name}: none of its bands ({', '.join(scenes.band_names)}) is a band "
                f"of the weights ({', '.join(wanted)}); evaluate on data of sensor "
                f"{card.get('sensor')}"
            )
        _check_wavelengths(card, scenes.sensor, scenes, dict(zip(wanted, picks, strict=True)))
        sensor = _data_sensor(card.get("sensor"), scenes.sensor)
        if absent and not any_band:  # said once the data are known to fit the weights
            _say(
                f"eossl: {scenes.name} has no {', '.join(absent)}; filled with the "
                "pretraining mean (0 after normalisation)"
            )
        self.unused = unused  # said once for all cards, by _features
        level: dict[str, float] = {}
        own = next((e for e in card.get("levels") or [] if e["sensor"] == sensor), None)
        if own is not None and own["sensor"] != card.get("sensor"):  # pretrained on it too
            card = {**card, "mean": own["mean"], "std": own["std"], "offset": own.get("offset", 0)}
            _say(
                f"eossl: weights pretrained on {' and '.join(e['sensor'] for e in card['levels'])}"
                f"; data are {sensor}: normalised with that level's own statistics"
            )
        elif sensor and card.get("sensor") in (None, "", "unknown"):
            _say(
                f"eossl: {card['name']}: the card names no sensor, so the {sensor} "
                f"data of {scenes.name} are normalised with the card's statistics as they are "
                "(no level shift)"
            )
        elif sensor and card.get("sensor") and sensor != card["sensor"]:
            found = _level_shift(card["sensor"], sensor) if level_shift else None
            level = found[1] if found else {}
            _say(
                f"eossl: weights pretrained on {card['sensor']}, data are {sensor}; "
                "bands are matched by name" + (_describe_shift(*found) if found else "")
            )
        present = [i for i, p in enumerate(picks) if p >= 0]
        self.picks = torch.tensor([picks[i] for i in present])
        self.slots = torch.tensor(present)
        self.bands = len(wanted)
        self.wavelengths = None
        if any_band:  # the bands present, each with its wavelength
            records = channel_records(card)
            self.wavelengths = channel_wavelengths([records[i] for i in present])
            self.slots, self.bands, missing = torch.arange(len(present)), len(present), []
        shift = scenes.offset - float(card.get("offset") or 0.0)
        mean = [card["mean"][i] + shift + level.get(wanted[i], 0.0) for i in present]
        nodata = scenes.nodata if not isinstance(scenes.nodata, str) else None
        self.normalize = BandNormalize(mean, [card["std"][i] for i in present], nodata)
        self.level = {wanted[i]: level[wanted[i]] for i in present if wanted[i] in level}
        self.size = int(image_size or card["crop_size"])
        self.missing = missing

    def __call__(self, image: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(B, C, H, W) stored values -> (network input at the card's size, band statistics)."""
        self.normalize.to(image.device)  # a no-op once there
        normed = self.normalize(image[:, self.picks.to(image.device)].float())
        out = normed.new_zeros(len(image), self.bands, *image.shape[-2:])
        out[:, self.slots.to(image.device)] = normed
        stats = band_statistics(normed)
        size = (self.size, self.size)
        if out.shape[-2:] != size:
            out = F.interpolate(
                out, size=size, mode="bilinear", align_corners=False, antialias=True
            )
        return out, stats


def say_unused(name: str, unused: list[str]) -> None:
    """The notice for data bands that the weights do not take."""
    if unused:
        which = f"bands {', '.join(unused)} are" if len(unused) > 1 else f"band {unused[0]} is"
        _say(f"eossl: {name}: {which} not used by the weights")


def store_inputs(
    card: dict[str, Any], dm: LabelledZarrDataModule, level_shift: bool = True
) -> CardInputs:
    """The card's :class:`CardInputs` for a labelled store (segmentation)."""
    from types import SimpleNamespace

    from eossl.data.io.schema import find_stores, open_group

    assert dm.chips is not None
    attrs = dict(open_group(find_stores(dm.data)[0]).attrs)
    store = SimpleNamespace(
        name=Path(dm.data).name,
        band_names=list(dm.chips.data.band_names or []),
        sensor=attrs.get("sensor"),
        offset=float(attrs.get("offset", 0.0) or 0.0),
        nodata=attrs.get("nodata"),
    )
    inputs = CardInputs(card, store, level_shift=level_shift)  # type: ignore[arg-type]
    say_unused(store.name, inputs.unused)
    return inputs


def _only(
    card: dict[str, Any], wanted: list[str], channels: list[str], picks: list[int]
) -> tuple[list[int], list[str]]:
    """Keep only ``channels`` of the card's bands: the others count as missing."""
    found = find_channels(channel_records(card), channels)
    unknown = [c for c, f in zip(channels, found, strict=True) if f is None]
    if unknown:
        raise UserError(f"--channels {', '.join(unknown)}: not bands of {card['name']}")
    picks = [p if i in found else -1 for i, p in enumerate(picks)]
    return picks, [b for b, p in zip(wanted, picks, strict=True) if p < 0]


def _say(line: str) -> None:
    print(line, file=sys.stderr)


IMAGE_SIZES = (16, 1024)  # px: the smallest a ResNet pools, the largest worth a CPU's time


def check_image_size(size: int, task: str, name: str = "image_size") -> None:
    """One line for an image size (``name``, as the user gave it) that a probe cannot use."""
    if task not in ("knn", "linear"):
        raise UserError(
            f"{name}: for task knn or linear (one vector per image); task {task} keeps the "
            "data's own pixels"
        )
    low, high = IMAGE_SIZES
    if isinstance(size, bool) or not isinstance(size, int) or not low <= size <= high:
        raise UserError(f"{name} must be a whole number of px from {low} to {high}, got {size}")


BN_SAMPLES = 2048  # images that re-estimate the BatchNorm statistics of the random init


def _batchnorms(model: torch.nn.Module) -> list[torch.nn.Module]:
    return [m for m in model.modules() if isinstance(m, torch.nn.modules.batchnorm._BatchNorm)]


def has_batchnorm(model: torch.nn.Module) -> bool:
    """Whether ``model`` has BatchNorm layers (whose running statistics can be recomputed)."""
    return bool(_batchnorms(model))


@torch.no_grad()
def recompute_batchnorm(
    model: torch.nn.Module, batches: Iterable[torch.Tensor]
) -> torch.nn.Module:
    """``model`` with its BatchNorm running statistics re-estimated on ``batches``.

    A random network's running statistics (mean 0, variance 1) do not match real data,
    so its features are distorted by the data's scale; recomputing them, with no label
    and no gradient, is the fair random-init baseline (a cumulative average over batches).
    """
    for m in _batchnorms(model):
        m.reset_running_stats()
        m.momentum = None
    model.train()
    for x in batches:
        model(x)
    return model.eval()


def _counted(items: Iterable[Any], progress: Any, bar: Any) -> Iterator[Any]:
    for item in items:
        yield item
        progress.advance(bar)


@torch.no_grad()
def _features(
    cards: list[tuple[dict[str, Any], str | os.PathLike]],
    scenes: SceneData,
    seed: int,
    batch_size: int,
    num_workers: int,
    channels: list[str] | None = None,
    level_shift: bool = True,
    image_size: int | None = None,
) -> tuple[dict[str, torch.Tensor], torch.Tensor, list[str], dict[str, float], torch.Tensor]:
    """One pass over the data: pretrained, random-init and band-statistics features.

    A backbone with BatchNorm also gets the random-init baseline with its statistics
    recomputed on (up to ``BN_SAMPLES`` of) the data, in a pass before.
    With several cards (e.g. the S1 and S2 encoders of a cross-modal run), each
    encoder reads its own bands and their features are concatenated, as are the
    band statistics. Returns the features, the targets, the card bands the data lack,
    the level shift of each band (DN; empty on data of the weights' own level) and which
    samples are blank (:func:`blank_samples`).
    """
    inputs = [CardInputs(card, scenes, channels, level_shift, image_size) for card, _ in cards]
    unused = [b for b in inputs[0].unused if all(b in i.unused for i in inputs)]
    say_unused(scenes.name, unused)
    models = [
        {name: _backbone(card, ref, name == PRETRAINED, seed, i) for name in (PRETRAINED, RANDOM)}
        for (card, ref), i in zip(cards, inputs, strict=True)
    ]
    batchnorm = all(has_batchnorm(m[RANDOM]) for m in models)
    loader = torch.utils.data.DataLoader(
        scenes.dataset,
        batch_size=batch_size,
        num_workers=num_workers,
        **loader_workers(num_workers, scenes.tensorstore),
    )
    n = len(scenes.dataset)
    names = [PRETRAINED, RANDOM, *([RANDOM_BN] if batchnorm else []), BAND_STATS]
    feats: dict[str, list[torch.Tensor]] = {name: [] for name in names}
    targets, blank = [], []
    with task_progress() as progress:
        if batchnorm:  # a seeded sample of the data, in a pass of its own
            pick = torch.randperm(n, generator=torch.Generator().manual_seed(seed))[:BN_SAMPLES]
            sample = torch.utils.data.DataLoader(
                torch.utils.data.Subset(scenes.dataset, pick.tolist()),
                batch_size=batch_size,
                num_workers=num_workers,
                **loader_workers(num_workers, scenes.tensorstore),
            )
            for card_inputs, card_models in zip(inputs, models, strict=True):
                bar = progress.add_task("BatchNorm statistics", total=len(sample))
                images = (card_inputs(b["image"])[0] for b in sample)
                model = copy.deepcopy(card_models[RANDOM])  # the same random weights
                card_models[RANDOM_BN] = recompute_batchnorm(
                    model, _counted(images, progress, bar)
                )
        bar = progress.add_task("features", total=n)
        for batch in loader:
            parts: dict[str, list[torch.Tensor]] = {name: [] for name in feats}
            for card_inputs, card_models in zip(inputs, models, strict=True):
                image, stats = card_inputs(batch["image"])
                for name, model in card_models.items():
                    parts[name].append(model(image).flatten(1))
                parts[BAND_STATS].append(stats)
            for name, chunks in parts.items():
                feats[name].append(torch.cat(chunks, dim=1))
            label = batch["label"]
            targets.append(label.float() if scenes.multilabel else label.long())
            blank.append(blank_samples(batch["image"], scenes.nodata))
            progress.advance(bar, len(batch["label"]))
    missing = [b for i in inputs for b in i.missing]
    shifts = {b: round(v, 1) for i in inputs for b, v in i.level.items()}
    features = {k: torch.cat(v) for k, v in feats.items()}
    return features, torch.cat(targets), missing, shifts, torch.cat(blank)


def blank_samples(image: torch.Tensor, nodata: Any) -> torch.Tensor:
    """(B,) True where an image (B, C, H, W) holds no valid pixel: NaN, inf or nodata only."""
    x = image.float().flatten(2)
    bad = ~torch.isfinite(x)
    if isinstance(nodata, (int, float)) and math.isfinite(nodata):
        bad |= x == nodata
    return bad.flatten(1).all(dim=1)


def _leave_out_blank(
    name: str, blank: torch.Tensor, test_folds: list[np.ndarray]
) -> tuple[np.ndarray, list[np.ndarray]]:
    """The samples to keep, and the test folds renumbered over them; said in one line."""
    keep = ~blank.numpy()
    if keep.all():
        return keep, test_folds
    _say(
        f"eossl: {name}: {int(blank.sum())} of {len(keep)} samples hold no valid pixel "
        "(NaN, inf or nodata in every band): left out of the evaluation"
    )
    index = np.cumsum(keep) - 1
    renumbered = [index[f[keep[f]]] for f in test_folds]
    return keep, [f for f in renumbered if f.size]


def _test_folds(
    scenes: SceneData, n: int, protocol: Protocol, num_folds: int, seed: int
) -> list[np.ndarray]:
    if protocol != "split":
        return folds(n, protocol, num_folds, seed)
    test = scenes.test_index
    if test is None:  # no split of its own (a store, a bare folder): a seeded 20%
        order = np.random.default_rng(seed).permutation(n)
        test = np.sort(order[: max(1, n // 5)])
        _say(
            f"eossl: {scenes.name} has no test split of its own: {len(test)} of its {n} "
            f"samples, drawn with seed {seed}, are the test split"
        )
    return [test]


def _sizes_fit(name: str, task: Task, k: int | None, n: int, test_folds: list) -> int:
    """The training samples of the largest test fold, once they suit the probe."""
    if n < 4:
        raise UserError(
            f"{name}: {n} labelled samples (with valid pixels) are too few to evaluate"
        )
    if not test_folds:
        raise UserError(f"{name}: no sample of the test split holds a valid pixel")
    n_train = n - max(len(f) for f in test_folds)
    if task == "knn" and k is not None and k > n_train:
        raise UserError(f"--k {k}: a fold trains on {n_train} samples; choose k up to that")
    return n_train


def _probe(
    task: Task,
    cards: list[tuple[dict[str, Any], str | os.PathLike]],
    scenes: SceneData,
    seed: int,
    batch_size: int,
    num_workers: int,
    protocol: Protocol | Literal["auto"],
    k: int | None,
    num_folds: int | None,
    channels: list[str] | None = None,
    level_shift: bool = True,
    image_size: int | None = None,
) -> EvalResult:
    sizes = [image_size or int(card["crop_size"]) for card, _ in cards]
    if image_size is None:  # the cards' own sizes, held to --image-size's bounds
        for (card, _), size in zip(cards, sizes, strict=True):
            if not IMAGE_SIZES[0] <= size <= IMAGE_SIZES[1]:
                raise UserError(
                    f"{card['name']}: its crop size, {size} px, is outside "
                    f"{IMAGE_SIZES[0]}-{IMAGE_SIZES[1]} px; pass --image-size"
                )
    n = len(scenes.dataset)
    if protocol == "auto":
        protocol = "split" if n > 1000 else ("loo" if task == "knn" else "kfold")
        if num_folds is not None and protocol != "kfold":
            raise UserError(
                f"--folds: for --protocol kfold; --protocol auto chose {protocol} for "
                f"{n} samples, which has no folds (pass --protocol kfold)"
            )
    if protocol == "kfold" and num_folds is not None and num_folds > n >= 4:
        _say(f"eossl: --folds {num_folds} with {n} samples: {n} folds (leave-one-out)")
    num_folds = num_folds or 5
    test_folds = _test_folds(scenes, n, protocol, num_folds, seed) if n >= 4 else []
    n_train = _sizes_fit(scenes.name, task, k, n, test_folds)
    feats, y, missing, shifts, blank = _features(
        cards, scenes, seed, batch_size, num_workers, channels, level_shift, image_size
    )
    keep, test_folds = _leave_out_blank(scenes.name, blank, test_folds)
    if not keep.all():
        mask = torch.from_numpy(keep)
        feats, y, n = {name: x[mask] for name, x in feats.items()}, y[mask], int(keep.sum())
        n_train = _sizes_fit(scenes.name, task, k, n, test_folds)
    if scenes.multilabel and bool((y == y[0]).all()):  # micro-F1 1.000 for every feature set
        held = [scenes.class_names[int(i)] for i in torch.nonzero(y[0]).flatten()]
        raise UserError(
            f"{scenes.name}: every sample holds the same labels ({', '.join(held) or 'none'}); "
            "a probe needs samples that differ"
        )
    if not scenes.multilabel and len(torch.unique(y)) < 2:
        raise UserError(
            f"{scenes.name}: every sample is of one class ({scenes.class_names[int(y[0])]}); "
            "a probe needs at least 2 classes"
        )
    k = k or default_k(n_train)
    probe = functools.partial(knn_predict, k=k) if task == "knn" else linear_predict
    tested = np.concatenate(test_folds)
    preds = {name: predict_folds(x, y, probe, test_folds)[tested] for name, x in feats.items()}
    y = y[tested]
    scores = {name: score(pred, y) for name, pred in preds.items()}
    ci = {name: bootstrap_ci(pred, y, seed=seed) for name, pred in preds.items()}
    gain_ci = {
        other: bootstrap_ci(preds[PRETRAINED], y, preds[other], seed=seed)
        for other in preds
        if other != PRETRAINED
    }
    return EvalResult(
        task,
        "F1 (micro, multi-label)" if scenes.multilabel else "accuracy",
        scores,
        ci,
        {
            "data": scenes.name,
            "protocol": protocol if protocol != "kfold" else f"{len(test_folds)}-fold",
            "samples": n,
            "train": n_train,
            "test": len(tested),
            "classes": len(scenes.class_names),
            "k": k if task == "knn" else None,
            "image_size": sizes[0] if len(set(sizes)) == 1 else sizes,  # px each encoder saw
            "features": {name: int(x.shape[1]) for name, x in feats.items()},
            "bands_filled": missing,
            "level_shift": shifts,  # DN added to each band's mean (another processing level)
            "gain_ci95": gain_ci,  # pretrained minus each baseline, paired bootstrap
        },
    )


def evaluate(
    weights: str | os.PathLike | list[str | os.PathLike],
    data: str | os.PathLike | None = None,
    task: Task = "knn",
    out: str | os.PathLike = "eval",
    epochs: int = 5,
    seed: int = 0,
    batch_size: int = 16,
    num_workers: int = 0,
    lr: float = 1e-3,
    labels: Labels | None = None,
    dataset: str | None = None,
    bands: str = "s2",
    num_classes: int = 19,
    protocol: Protocol | Literal["auto"] = "auto",
    k: int | None = None,
    num_folds: int | None = None,
    channels: list[str] | None = None,
    level_shift: bool = True,
    freeze_backbone: bool = False,
    image_size: int | None = None,
) -> EvalResult:
    """Run one downstream task for a weights card; save JSON and a plot in ``out``.

    ``data`` is an eossl store, or with ``dataset`` (``eurosat``, ``bigearthnet``) the
    benchmark's root folder. ``knn`` and ``linear`` use a store's scene labels, or with
    ``labels`` its per-pixel labels as chip targets: the majority class (accuracy) or
    every class covering 5% of the chip (micro-F1). ``protocol``: ``split`` (the
    benchmark's test split; 20% of a store), ``loo`` (leave-one-out), ``kfold``, or
    ``auto`` (``split`` above 1,000 samples, else ``loo`` for kNN, ``kfold`` for linear).
    ``k``: neighbours (default 20, or 5 with fewer than 200 training samples).
    Several ``weights`` (kNN and linear only) concatenate their encoders' features,
    each reading its own bands: e.g. the S1 and S2 cards of a cross-modal run on
    BigEarthNet with ``bands="all"``. ``channels``: give the encoders only these of
    their bands (kNN and linear): an any-band encoder takes just them, a fixed-band
    one gets the pretraining mean for the others. ``level_shift``: data of another
    processing level than the weights' (L1C for L2A weights) get each band's mean moved
    by the levels' typical difference (see :class:`CardInputs`).
    ``freeze_backbone`` (segmentation): train the decoder only, on the frozen encoder.
    ``image_size`` (kNN and linear): resize each image to this many px before the
    encoder (default: the card's pretraining crop size), e.g. 224 as in Corley et al.
    """
    if task not in ("knn", "linear", "segmentation"):
        raise UserError(f"unknown task {task!r}; choose knn, linear or segmentation")
    if labels not in (None, "majority", "multi"):
        raise UserError(f"unknown labels {labels!r}; choose majority or multi")
    if protocol not in ("auto", "split", "loo", "kfold"):
        raise UserError(f"unknown protocol {protocol!r}; choose auto, split, loo or kfold")
    if freeze_backbone and task != "segmentation":
        raise UserError(f"freeze_backbone trains a decoder: for segmentation, not {task}")
    if image_size is not None:
        check_image_size(image_size, task)
    if data is None:
        raise UserError("pass --data STORE, or --dataset NAME --data ROOT")
    refs = list(weights) if isinstance(weights, (list, tuple)) else [weights]
    loaded = [load_card(ref) for ref in refs]
    cards = [(info, ref) for (info, _), ref in zip(loaded, refs, strict=True)]
    paths = [path.resolve() for _, path in loaded]
    if len(set(paths)) < len(paths):
        twice = next(p for p in paths if paths.count(p) > 1)
        raise UserError(f"{twice.name} is given twice; pass each weights card once")
    card = cards[0][0]
    name = " + ".join(c["name"] for c, _ in cards)
    if len(cards) > 1 and task == "segmentation":
        raise UserError("--task segmentation takes one weights card; pass one")
    out = Path(out)
    if task == "segmentation":
        if dataset is not None:
            raise UserError("--task segmentation needs an eossl store with per-pixel labels")
        dm = LabelledZarrDataModule.from_card(
            card, str(data), seed=seed, batch_size=batch_size, num_workers=num_workers
        )
        dm.setup()
        dm.inputs = store_inputs(card, dm, level_shift)
        result = finetune_segmentation(card, refs[0], dm, seed, epochs, out, lr, freeze_backbone)
    else:
        scenes = open_scenes(
            dataset, data, bands=bands, num_classes=num_classes, seed=seed, labels=labels
        )
        result = _probe(
            task,
            cards,
            scenes,
            seed,
            batch_size,
            num_workers,
            protocol,
            k,
            num_folds,
            channels,
            level_shift,
            image_size,
        )
    result.details["weights"] = name
    out.mkdir(parents=True, exist_ok=True)  # only once there is a result to write
    (out / f"evaluate_{task}.json").write_text(
        json.dumps({"weights": name, "data": str(data), **result.as_dict()}, indent=2)
    )
    plot_result(result, name, out / f"evaluate_{task}.png")
    return result
