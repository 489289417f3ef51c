"""MultiModalDataset: co-located samples of several sensors (Sentinel-1 and Sentinel-2).

The stores of each sensor are paired by sample: sample ``i`` of one sensor is the
same place as sample ``i`` of every other. That is checked when the dataset opens
(see :func:`check_aligned`). Each item holds one image per sensor, read with the
same crop window; timestamps are drawn for the reference sensor (the first optical
one, where cloud filtering applies) and matched in the others (see ``pairing``).
"""

from __future__ import annotations

import copy
import os
from collections.abc import Callable, Sequence
from typing import Any, Literal

import numpy as np
import torch

from eossl.data.dataset import SeasonalZarrDataset
from eossl.data.io.reader import Reader
from eossl.data.io.schema import StoreInfo, open_group
from eossl.data.positives import PHENOLOGICAL, Positives
from eossl.data.samples import SampleReads, as_roots, stores_of
from eossl.errors import UserError
from eossl.sensors import Sensor, get_sensors

__all__ = ["PAIRINGS", "MultiModalDataset", "Pairing", "check_aligned"]

Pairing = Literal["nearest", "independent"]
PAIRINGS: tuple[str, ...] = ("nearest", "independent")
EARTH_RADIUS_M = 6_371_000.0


def _ids(info: StoreInfo) -> np.ndarray | None:
    """A store's location ids: ``location_id``, else the ``sample`` coordinate (v1.1).

    ``None`` where neither is stored, or where any id is empty (not known).
    """
    group = open_group(info.path)
    for name in ("location_id", "sample"):
        if name in group and group[name].ndim == 1:
            ids = np.asarray(group[name][...]).astype(object).astype(str)
            if ids.size and (ids != "").all():
                return ids
    return None


def _centres(info: StoreInfo) -> np.ndarray:
    """(sample, 2) centre latitude and longitude, NaN where not stored."""
    group = open_group(info.path)
    out = np.full((info.samples, 2), np.nan)
    for k, name in enumerate(("center_lat", "center_lon")):
        if name in group:
            out[:, k] = group[name][...]
    return out


def _distance_m(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Great-circle distance in metres between (lat, lon) rows, in degrees."""
    lat1, lon1, lat2, lon2 = (np.radians(v) for v in (a[:, 0], a[:, 1], b[:, 0], b[:, 1]))
    dlat, dlon = np.sin((lat2 - lat1) / 2), np.sin((lon2 - lon1) / 2)
    h = dlat**2 + np.cos(lat1) * np.cos(lat2) * dlon**2
    return 2 * EARTH_RADIUS_M * np.arcsin(np.sqrt(np.clip(h, 0, 1)))


def _named(data: SeasonalZarrDataset) -> str:
    """A dataset's store, or its stores' folder."""
    paths = [s.path for s in data.stores]
    return str(paths[0]) if len(paths) == 1 else f"the {len(paths)} stores in {paths[0].parent}"


def check_aligned(
    first: SeasonalZarrDataset, other: SeasonalZarrDataset, tolerance_m: float = 500.0
) -> str:
    """Check that two sensors' datasets hold the same places in the same order.

    Compared, in this order: location ids where both stores carry them, else the
    centre coordinates (within ``tolerance_m``), and always the sample count. The
    first mismatch raises one line naming both files and the sample. Returns how
    the check was made (``ids``, ``coordinates`` or ``count``).
    """
    n1, n2 = len(first), len(other)
    if n1 != n2:
        raise UserError(
            f"{_named(first)} holds {n1} samples but {_named(other)} {n2}; "
            "co-located stores must hold the same places in the same order"
        )
    ids1 = [_ids(s) for s in first.stores]
    ids2 = [_ids(s) for s in other.stores]
    if all(i is not None for i in ids1 + ids2):
        a, b = np.concatenate(ids1), np.concatenate(ids2)
        bad = np.flatnonzero(a != b)
        if bad.size:
            i = int(bad[0])
            raise UserError(
                f"{first.where(i)} is location '{a[i]}' but {other.where(i)} is "
                f"'{b[i]}'; co-located stores must hold the same places in the same order"
            )
        return "ids"
    c1 = np.concatenate([_centres(s) for s in first.stores])
    c2 = np.concatenate([_centres(s) for s in other.stores])
    known = np.isfinite(c1).all(axis=1) & np.isfinite(c2).all(axis=1)
    if not known.any():
        return "count"
    far = np.zeros(n1, dtype=bool)
    far[known] = _distance_m(c1[known], c2[known]) > tolerance_m
    if far.any():
        i = int(np.flatnonzero(far)[0])
        d = float(_distance_m(c1[i : i + 1], c2[i : i + 1])[0])
        raise UserError(
            f"{first.where(i)} (lat {c1[i, 0]:.4f}, lon {c1[i, 1]:.4f}) is {d / 1000:.1f} km "
            f"from {other.where(i)} (lat {c2[i, 0]:.4f}, lon {c2[i, 1]:.4f}); co-located "
            f"stores must hold the same places in the same order (tolerance {tolerance_m:g} m)"
        )
    return "coordinates"


def _plain(positives: Positives) -> Positives:
    """The other sensors' positives: phases come from the reference (optical) sensor."""
    return "season" if positives in PHENOLOGICAL else positives


def _nearest(candidates: np.ndarray, wanted: np.ndarray) -> np.ndarray:
    """For each wanted time, the index of the nearest valid candidate time."""
    valid = np.flatnonzero(~np.isnat(candidates))
    if valid.size == 0 or np.isnat(wanted).any():
        return np.array([], dtype=int)
    gap = np.abs(candidates[valid][None, :] - wanted[:, None]).astype("int64")
    return valid[gap.argmin(axis=1)]


class MultiModalDataset(SampleReads):
    """Co-located samples of several sensors, from one folder holding their stores.

    Args:
        root: a folder (or list of stores) holding the stores of every sensor, e.g.
            the v1.1 release's ``train/`` with ``S1GRD/`` and ``S2L1C/``, or the
            outputs of ``eossl synth --sensor s1,s2`` or ``eossl convert``.
        sensors: the sensors, in the order their bands are stacked (``["s1", "s2"]``).
        pairing: which timestamps of the other sensors go with the reference's:
            ``"nearest"`` in time (the default), or an ``"independent"`` draw.
        tolerance_m: how far apart the centres of one sample may be (see
            :func:`check_aligned`).
        max_cloud_fraction: applies to optical sensors only.
        Other arguments as :class:`~eossl.data.dataset.SeasonalZarrDataset`.

    Each item: ``image`` and ``modality_time`` are dicts keyed by sensor name; ``time``
    (the reference sensor's), ``lat``, ``lon``, ``index``, and ``scene_label`` where
    the reference stores it.
    """

    def __init__(
        self,
        root: str | os.PathLike | Sequence[str | os.PathLike],
        sensors: Sequence[str | Sensor],
        seasons: int | Literal["all", "first"] = 2,
        positives: Positives = "season",
        season_probability: float = 0.5,
        max_cloud_fraction: float | None = None,
        crop_size: int | None = None,
        seed: int | None = None,
        on_bad_sample: Literal["error", "skip"] = "error",
        dtype: Literal["float32", "stored"] = "float32",
        reader: Reader = "auto",
        pairing: Pairing = "nearest",
        tolerance_m: float = 500.0,
    ) -> None:
        cards = get_sensors(sensors)  # refuses a sensor named twice
        if len(cards) < 2:
            raise UserError(f"sensors must be two or more different sensors, got {list(sensors)}")
        if pairing not in PAIRINGS:
            raise UserError(f"pairing must be one of {', '.join(PAIRINGS)}, got {pairing!r}")
        self.root = as_roots(root)[0]
        self.sensors = cards
        self.pairing = pairing
        self.seed = seed
        self.on_bad_sample = on_bad_sample
        self.bad_samples = []
        self._epoch = torch.zeros((), dtype=torch.int64).share_memory_()
        optical = [c.name for c in cards if c.modality == "optical"]
        self.reference = optical[0] if optical else cards[0].name
        self.parts: dict[str, SeasonalZarrDataset] = {}
        for card in cards:
            self.parts[card.name] = SeasonalZarrDataset(
                [s.path for s in stores_of(root, card)],
                sensor=card,
                seasons=seasons,
                positives=positives if card.name == self.reference else _plain(positives),
                season_probability=season_probability,
                max_cloud_fraction=max_cloud_fraction if card.modality == "optical" else None,
                crop_size=crop_size,
                seed=seed,
                on_bad_sample="error",  # this dataset counts and skips, once per sample
                dtype=dtype,
                return_cloud_mask=False,
                reader=reader,
            )
        ref = self.parts[self.reference]
        self.alignment = {}
        for name, part in self.parts.items():
            s0, s1 = ref.stores[0], part.stores[0]
            if (s0.height, s0.width) != (s1.height, s1.width):
                raise UserError(
                    f"{s1.path}: {s1.height}x{s1.width} images, but {s0.path} holds "
                    f"{s0.height}x{s0.width}; co-located stores need the same image size"
                )
            if name != self.reference:
                self.alignment[name] = check_aligned(ref, part, tolerance_m)

    def __len__(self) -> int:
        return len(self.parts[self.reference])

    @property
    def stores(self) -> list[StoreInfo]:
        """The reference sensor's stores."""
        return self.parts[self.reference].stores

    @property
    def band_names(self) -> list[str]:
        """Every sensor's band names, in the order of ``sensors``."""
        return [b for p in self.parts.values() for b in (p.band_names or [])]

    @property
    def max_timestamps(self) -> int:
        """The longest time dimension of any sensor's stores."""
        return max(p.max_timestamps for p in self.parts.values())

    @property
    def positives(self) -> str:
        """What the ``seasons`` slots hold (as in every sensor)."""
        return self.parts[self.reference].positives

    @positives.setter
    def positives(self, value: Positives) -> None:
        for name, part in self.parts.items():
            part.positives = value if name == self.reference else _plain(value)

    @property
    def phenology_fallback(self) -> int:
        """Locations of the reference sensor drawn plainly for want of phases."""
        return self.parts[self.reference].phenology_fallback

    @property
    def season_probability(self) -> float:
        """Chance of a seasonal draw with ``positives="mixed"``."""
        return self.parts[self.reference].season_probability

    @property
    def uses_tensorstore(self) -> bool:
        """Whether reads may go through tensorstore (then workers must not fork)."""
        return any(p.uses_tensorstore for p in self.parts.values())

    def fixed_view(self) -> MultiModalDataset:
        """A copy that reads the reference's first valid timestamp (see ``seasons``)."""
        view = copy.copy(self)
        view.parts = {name: part.fixed_view() for name, part in self.parts.items()}
        return view

    def where(self, index: int) -> str:
        """Each sensor's file and sample of ``index``."""
        return "; ".join(p.where(index) for p in self.parts.values())

    def _times(self, name: str, index: int, ref_times: np.ndarray, rng: np.random.Generator):
        part = self.parts[name]
        if self.pairing == "nearest":
            picked = _nearest(part.times_of(index), ref_times)
            if picked.size:
                return picked
        return part.choose_times(index, rng)  # independent, or no dates to match

    def _start(self, index: int) -> Callable[[], dict[str, Any]]:
        rng = self._rng(index)
        ref = self.parts[self.reference]
        t_ref = ref.choose_times(index, rng)
        window = ref.draw_window(rng, ref.locate(index)[0])
        ref_times = ref.times_of(index)[t_ref]
        started = {}
        for name, part in self.parts.items():
            t = t_ref if name == self.reference else self._times(name, index, ref_times, rng)
            started[name] = part._start(index, times=t, window=window)

        def finish() -> dict[str, Any]:
            items = {name: start() for name, start in started.items()}
            sample = dict(items[self.reference])
            sample["image"] = {name: item["image"] for name, item in items.items()}
            sample["modality_time"] = {name: item["time"] for name, item in items.items()}
            return sample

        return finish
