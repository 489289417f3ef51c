"""SeasonalZarrDataset: seasonal samples from one or many Zarr stores.

The hot path reads through tensorstore (zarr-python as the fallback, see
:mod:`eossl.data.io.reader`), opens stores lazily in each worker, and reads only the
timestamps (and crop) it needs, in one read per sample.
"""

from __future__ import annotations

import copy
import os
from collections import OrderedDict
from collections.abc import Callable, Sequence
from typing import Any, Literal

import numpy as np
import torch

from eossl.data.handles import Handle, open_handle
from eossl.data.io.reader import READERS, Reader, tensorstore_available
from eossl.data.io.schema import CLOUDY_CODES, StoreInfo
from eossl.data.phenology import decode_phases
from eossl.data.positives import (
    PHENOLOGICAL,
    POSITIVES,
    Positives,
    pairable,
    phase_counts,
    phase_draw,
)
from eossl.data.samples import EmptySampleError, SampleReads, as_roots, stores_of
from eossl.errors import UserError
from eossl.sensors import Sensor, get_sensor

__all__ = ["SeasonalZarrDataset"]


def check_sizes(stores: Sequence[StoreInfo], crop_size: int | None) -> None:
    """Stores read together hold one image size, or ``crop_size`` windows fit in each."""
    if crop_size is not None and crop_size < 1:  # was blamed on the data (sample unreadable)
        raise UserError(f"crop_size must be at least 1 px (--data.crop_size), got {crop_size}")
    first = stores[0]
    for info in stores[1:]:
        if (info.height, info.width) != (first.height, first.width) and crop_size is None:
            raise UserError(
                f"{info.path}: {info.height}x{info.width} images, but {first.path} holds "
                f"{first.height}x{first.width}; pass --data.crop_size N (at most the "
                "smallest) to read windows of one size from each"
            )
    small = min(stores, key=lambda i: min(i.height, i.width))
    if crop_size is not None and crop_size > min(small.height, small.width):
        raise UserError(
            f"crop_size={crop_size} is larger than the stored {small.height}x{small.width} "
            f"images of {small.path}"
        )


def locate(offsets: np.ndarray, index: int) -> tuple[int, int]:
    """(part number, item within the part) of a global index, from the parts' offsets."""
    if not 0 <= index < offsets[-1]:
        raise IndexError(f"index {index} out of range for {offsets[-1]} samples")
    part = int(np.searchsorted(offsets, index, side="right") - 1)
    return part, index - int(offsets[part])


class SeasonalZarrDataset(SampleReads):
    """Samples of several seasons of one location, from SSL4EO-S12-style Zarr stores.

    Args:
        root: a store directory (``*.zarr``), a ``*.zarr.zip`` file, or a folder
            searched recursively for either, or a list of stores. Zarr format 2
            and 3 are read. In a folder that holds stores of several sensors
            (e.g. the v1.1 ``S1GRD``, ``S2L1C`` folders), ``sensor`` picks its own.
        sensor: sensor card name or alias; inferred from the stores if omitted.
            A band count that does not match it is an error.
        seasons: how many timestamps to return per sample, ``"all"`` for every
            valid timestamp in time order, or ``"first"`` for the first valid (and,
            with ``max_cloud_fraction``, clear) one: a fixed view of each location.
        positives: what the ``seasons`` slots hold. ``"season"``: distinct
            timestamps drawn without replacement; a location with fewer valid
            timestamps repeats them, so single-date data gives the same image twice
            (two augmentations of it become the positive pair). ``"same"``: one
            timestamp repeated in every slot (TorchGeo's ``seasons=1``, the v1.1
            loader's ``single_timestamp``). ``"mixed"``: ``"season"`` with
            probability ``season_probability``, else ``"same"``.
            ``"phenology"``: timestamps of different phenological phases of the
            location (SSL4Eco); ``"same-phase"``: timestamps of one phase. Both need
            the phases ``eossl phenology`` stores; a location without a vegetation
            cycle, or with too few phases, falls back to ``"season"`` (counted in
            ``phenology_fallback``).
        season_probability: chance of a seasonal draw with ``positives="mixed"``.
        max_cloud_fraction: skip timestamps whose ``cloud_mask`` shows more than
            this fraction of cloud or shadow. If too few remain, the least cloudy
            are used.
        crop_size: optional random crop (same window for every season), read
            straight from the store, so fewer bytes are decoded and moved.
        seed: makes season draws and crops reproducible (per index and epoch).
        on_bad_sample: ``"error"`` raises on an unreadable sample, naming the
            file and sample; ``"skip"`` counts it and returns the next sample.
        max_open_stores: how many stores each process keeps open at once.
        dtype: ``"float32"`` converts ``image`` in the worker; ``"stored"`` keeps
            the stored dtype (e.g. uint16): half the bytes to collate, share and
            transfer. Convert on the device (the datamodule does).
        return_cloud_mask: include ``cloud_mask`` in each item (where stored).
            Pretraining does not use it; ``max_cloud_fraction`` works either way.
        reader: ``"auto"`` reads through tensorstore where it can open the store,
            else zarr-python; ``"tensorstore"`` or ``"zarr"`` to insist. A process
            that has read through tensorstore must not ``fork`` DataLoader workers:
            use forkserver or spawn (the datamodule does).

    Each item is a dict: ``image`` (seasons, bands, H, W) in stored units (the
    dataset does not normalise), float32 or the stored dtype, ``time`` int64 ns
    since the epoch, ``lat``, ``lon``, ``index``, and ``cloud_mask`` / ``label``
    where stored, and ``scene_label`` (classes,) 0/1 in stores with scene labels.
    """

    def __init__(
        self,
        root: str | os.PathLike | Sequence[str | os.PathLike],
        sensor: str | Sensor | None = None,
        seasons: int | Literal["all", "first"] = 2,
        positives: Positives = "season",
        season_probability: float = 0.5,
        max_cloud_fraction: float | None = None,
        crop_size: int | None = None,
        seed: int | None = None,
        on_bad_sample: Literal["error", "skip"] = "error",
        max_open_stores: int = 64,
        dtype: Literal["float32", "stored"] = "float32",
        return_cloud_mask: bool = True,
        reader: Reader = "auto",
    ) -> None:
        if seasons not in ("all", "first") and (not isinstance(seasons, int) or seasons < 1):
            raise UserError(
                f"seasons must be a positive integer, 'all' or 'first', got {seasons!r}"
            )
        if not 0 <= season_probability <= 1:
            raise UserError(f"season_probability must be in [0, 1], got {season_probability}")
        if max_cloud_fraction is not None and not 0 <= max_cloud_fraction <= 1:
            raise UserError(
                f"max_cloud_fraction is a fraction in [0, 1], got {max_cloud_fraction}"
            )
        if on_bad_sample not in ("error", "skip"):
            raise UserError(f"on_bad_sample must be 'error' or 'skip', got {on_bad_sample!r}")
        if dtype not in ("float32", "stored"):
            raise UserError(f"dtype must be 'float32' or 'stored', got {dtype!r}")
        if reader not in READERS:
            raise UserError(f"reader must be one of {', '.join(READERS)}, got {reader!r}")
        self.reader = reader
        self.root = as_roots(root)[0]
        self.seasons = seasons
        self.season_probability = season_probability
        self.max_cloud_fraction = max_cloud_fraction
        self.crop_size = crop_size
        self.seed = seed
        self.on_bad_sample = on_bad_sample
        self.max_open_stores = max_open_stores
        self.dtype = dtype
        self.return_cloud_mask = return_cloud_mask
        self._epoch = torch.zeros((), dtype=torch.int64).share_memory_()  # seen by workers
        self.bad_samples: list[str] = []
        wanted = get_sensor(sensor) if sensor is not None else None
        self.stores: list[StoreInfo] = stores_of(root, wanted)
        first = self.stores[0]
        for info in self.stores[1:]:
            if info.bands != first.bands:
                raise UserError(
                    f"{info.path}: {info.bands} bands, but {first.path} holds {first.bands}; "
                    "keep one sensor per root"
                )
        check_sizes(self.stores, crop_size)
        self.sensor: Sensor | None = wanted or first.sensor
        self.offsets = np.cumsum([0] + [i.samples for i in self.stores])
        self._handles: OrderedDict[int, Handle] = OrderedDict()
        self._pid: int | None = None
        self.positives = positives

    def __len__(self) -> int:
        return int(self.offsets[-1])

    @property
    def positives(self) -> Positives:
        """What the ``seasons`` slots hold (see the class docstring)."""
        return self._positives

    @positives.setter
    def positives(self, value: Positives) -> None:
        if value not in POSITIVES:
            raise UserError(f"positives must be one of {', '.join(POSITIVES)}, got {value!r}")
        self._positives = value
        # phases decoded once per store, here; the handles take them from this list
        self._store_phases = (
            [self._phases(i) for i in self.stores] if value in PHENOLOGICAL else None
        )
        self.phenology_fallback = sum(
            not pairable(phase_counts(row)[1], value)
            for phase in self._store_phases or []
            for row in phase
        )
        self._handles.clear()  # they hold the phases, or not

    def _phases(self, info: StoreInfo) -> np.ndarray:
        phase = decode_phases(info.attrs, info.samples, info.times, info.path)
        if phase is None:
            raise UserError(
                f"{info.path}: positives {self.positives!r} need phenological phases; "
                f"run `eossl phenology {info.path}` first"
            )
        return phase

    @property
    def band_names(self) -> list[str] | None:
        """Band names of the stores."""
        first = self.stores[0]
        return first.band_names or (self.sensor.band_names if self.sensor else None)

    @property
    def has_label(self) -> bool:
        """Whether every store carries a per-pixel ``label``."""
        return all(i.has_label for i in self.stores)

    @property
    def uses_tensorstore(self) -> bool:
        """Whether reads may go through tensorstore (then workers must not fork)."""
        return self.reader != "zarr" and tensorstore_available()

    def backend(self, store: int = 0) -> str:
        """Which reader reads ``bands`` of store number ``store``: tensorstore or zarr."""
        return self._handle(store).bands.backend

    def where(self, index: int) -> str:
        """``STORE: sample J (index I)``."""
        store, j = self.locate(index)
        return f"{self.stores[store].path}: sample {j} (index {index})"

    def locate(self, index: int) -> tuple[int, int]:
        """(store number, sample within the store) of a global index."""
        return locate(self.offsets, index)

    def _handle(self, store: int) -> Handle:
        if self._pid != os.getpid():  # opened after fork, once per worker
            self._handles.clear()
            self._pid = os.getpid()
        handle = self._handles.get(store)
        if handle is None:
            phase = None if self._store_phases is None else self._store_phases[store]
            handle = open_handle(self.stores[store], self.reader, phase)
            self._handles[store] = handle
            if len(self._handles) > self.max_open_stores:
                self._handles.popitem(last=False)
        else:
            self._handles.move_to_end(store)
        return handle

    @property
    def max_timestamps(self) -> int:
        """The longest time dimension of the stores (1 for single-date data)."""
        return max(i.times for i in self.stores)

    def _choose_times(self, handle: Handle, j: int, rng: np.random.Generator) -> np.ndarray:
        """Timestamps for the ``seasons`` slots of sample ``j`` (see ``positives``)."""
        valid = np.flatnonzero(~np.isnat(handle.times[j]))
        if valid.size == 0 and handle.has_times:  # e.g. every scene failed in `convert`
            raise EmptySampleError(f"sample {j} has no valid timestamp (all of its times are NaT)")
        if valid.size == 0:  # no time coordinate at all: every slot is a timestamp
            valid = np.arange(handle.times.shape[1])
        if self.seasons == "all":
            return valid
        distinct = 1 if self.seasons == "first" else self.seasons
        if self.positives == "same" or (
            self.positives == "mixed" and rng.random() >= self.season_probability
        ):
            distinct = 1
        if self.max_cloud_fraction is not None and handle.cloud_mask is not None:
            masks = handle.cloud_mask.read((j, valid))
            cloudy = np.isin(masks, CLOUDY_CODES).mean(axis=(1, 2))
            clear = valid[cloudy <= self.max_cloud_fraction]
            if clear.size >= distinct:
                valid = clear
            else:  # too few clear timestamps: take the least cloudy ones
                valid = valid[np.argsort(cloudy, kind="stable")[:distinct]]
        if self.seasons == "first":
            return valid[:1]
        chosen = None
        if handle.phase is not None and distinct > 1:
            chosen = phase_draw(valid, handle.phase[j][valid], distinct, self.positives, rng)
        if chosen is None:
            chosen = rng.choice(valid, size=min(distinct, valid.size), replace=False)
        # fewer distinct than slots: repeated in turn
        return np.resize(np.sort(chosen), self.seasons)

    def fixed_view(self) -> SeasonalZarrDataset:
        """A copy with ``seasons="first"``: the same view of a location every time."""
        view = copy.copy(self)
        view.seasons = "first"
        return view

    def choose_times(self, index: int, rng: np.random.Generator) -> np.ndarray:
        """The timestamps drawn for sample ``index`` (see ``seasons`` and ``positives``)."""
        store, j = self.locate(index)
        return self._choose_times(self._handle(store), j, rng)

    def times_of(self, index: int) -> np.ndarray:
        """All timestamps of sample ``index`` (NaT where missing or unknown)."""
        store, j = self.locate(index)
        return self._handle(store).times[j]

    def draw_window(self, rng: np.random.Generator, store: int = 0) -> tuple[slice, slice]:
        """The rows and columns read from ``store``: a random ``crop_size`` window, or all."""
        h, w = self.stores[store].height, self.stores[store].width
        if self.crop_size is None:
            return slice(0, h), slice(0, w)
        y0 = int(rng.integers(0, h - self.crop_size + 1))
        x0 = int(rng.integers(0, w - self.crop_size + 1))
        return slice(y0, y0 + self.crop_size), slice(x0, x0 + self.crop_size)

    def _start(
        self,
        index: int,
        times: np.ndarray | None = None,
        window: tuple[slice, slice] | None = None,
    ) -> Callable[[], dict[str, Any]]:
        """Start the reads of sample ``index``; the returned call waits and builds it.

        ``times`` and ``window`` are drawn here unless given (a multi-modal sample
        draws them once for all its sensors).
        """
        store, j = self.locate(index)
        handle = self._handle(store)
        rng = self._rng(index)
        t = self._choose_times(handle, j, rng) if times is None else times
        ys, xs = self.draw_window(rng, store) if window is None else window
        image = handle.bands.start((j, t, slice(None), ys, xs))
        cloud = label = None
        if handle.cloud_mask is not None and self.return_cloud_mask:
            cloud = handle.cloud_mask.start((j, t, ys, xs))
        if handle.label is not None:
            label = handle.label.start((j, ys, xs))

        def finish() -> dict[str, Any]:
            pixels = image()
            sample: dict[str, Any] = {
                "image": torch.from_numpy(
                    pixels.astype(np.float32) if self.dtype == "float32" else pixels
                ),
                "time": torch.from_numpy(handle.times[j, t].astype("int64")),
                "lat": torch.tensor(float(handle.lat[j])),
                "lon": torch.tensor(float(handle.lon[j])),
                "index": torch.tensor(index),
            }
            if cloud is not None:
                sample["cloud_mask"] = torch.from_numpy(cloud())
            if label is not None:
                sample["label"] = torch.from_numpy(label().astype(np.int64))
            if handle.scene_label is not None:
                sample["scene_label"] = torch.from_numpy(handle.scene_label[j].astype(np.float32))
            return sample

        return finish

    def __getstate__(self) -> dict[str, Any]:
        state = self.__dict__.copy()
        state["_handles"] = OrderedDict()  # never pickle open stores into workers
        state["_pid"] = None
        return state
