"""The index of every timestamp of every store, out of core on dask; phases written back."""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from eossl.data.io.attrs import write_attrs
from eossl.data.io.schema import (
    StoreInfo,
    decode_times,
    find_stores,
    infer_sensor,
    open_group,
    refuse_empty,
    validate,
)
from eossl.data.normalize import data_offset
from eossl.data.phenology.indices import evi, index_bands, ndvi
from eossl.data.phenology.phases import PHASES, assign_phases, day_of_year, encode_phases
from eossl.data.stats.blocks import Block, sample_blocks, store_nodata, valid_pieces
from eossl.errors import UserError
from eossl.parallel import run_blocks
from eossl.sensors import Sensor, get_sensor

MIN_DATES = 3  # timestamps of a place below which no green-up and senescence can be told


@dataclass(frozen=True)
class _IndexBlock(Block):
    """A block of samples, and how to take the vegetation index from its bands."""

    index: str = "ndvi"
    bands: tuple[int, ...] = ()  # as index_bands gives them
    offset: float = 0.0
    scale: float = 1.0  # reflectance per DN (EVI needs reflectance)
    min_clear: float = 0.25


def _index_block(task: _IndexBlock) -> np.ndarray:
    """Mean index of the clear vegetated pixels of every (sample, timestamp) of a block."""
    group = open_group(Path(task.path))
    k = sum(b - a for a, b in task.ranges)
    out = np.full((k, group["bands"].shape[1]), np.nan, np.float32)
    rows = np.cumsum([0] + [b - a for a, b in task.ranges])  # first row of each range
    starts = np.array([a for a, _ in task.ranges])
    for s0, t0, values, valid in valid_pieces(task):
        r = int(np.searchsorted(starts, s0, side="right")) - 1  # the range holding s0
        i = int(rows[r]) + s0 - int(starts[r])
        refl = [
            (values[:, :, b].astype(np.float64) - task.offset) * task.scale for b in task.bands
        ]
        ok = np.logical_and.reduce([valid[:, :, b] for b in task.bands])
        index = evi(*refl) if task.index == "evi" else ndvi(*refl)
        ok &= np.isfinite(index)
        clear = ok.mean(axis=(2, 3))
        green = ok & (index > 0)  # water, snow and bare rock are not vegetation
        total = np.where(green, index, 0.0).sum(axis=(2, 3))
        count = green.sum(axis=(2, 3))
        mean = np.where(count > 0, total / np.maximum(count, 1), 0.0)  # none green: 0
        mean[clear < task.min_clear] = np.nan
        out[i : i + len(mean), t0 : t0 + mean.shape[1]] = mean
    return out


def compute_phenology(
    path: str | os.PathLike,
    sensor: str | Sensor | None = None,
    index: str = "ndvi",
    min_clear: float = 0.25,
    threads: int | None = None,
    scheduler: str | None = None,
    workers: int | None = None,
    quiet: bool = False,
    min_dates: int = 0,
) -> dict[Path, dict[str, Any]]:
    """The ``phenology`` attribute of every store at ``path`` (see the module docstring).

    ``min_dates``: refuse stores of fewer dated timestamps per place (``eossl phenology``
    asks for :data:`MIN_DATES`; pretraining takes any store, and its places without a
    cycle fall back to plain seasonal pairs).
    """
    if not 0 <= min_clear <= 1:
        raise UserError(f"--min-clear is a fraction in [0, 1], got {min_clear}")
    wanted = get_sensor(sensor) if sensor is not None else None
    infos = [validate(p, sensor=wanted) for p in find_stores(path)]
    refuse_empty(infos)
    for info in infos if min_dates else []:  # "no vegetation cycle" for every place, else
        group = open_group(info.path)
        dated = "time_" in group and not np.isnat(decode_times(group["time_"])).all()
        if info.times < min_dates or not dated:
            held = f"{info.times} timestamp(s) per location" if dated else "no dates"
            raise UserError(
                f"{info.path}: {held}; a vegetation cycle needs {min_dates} or more dated "
                "timestamps of a place (a time series, such as SSL4EO-S12's four seasons)"
            )
    tasks, weights, cards = [], [], []
    for info in infos:
        card = wanted or info.sensor or infer_sensor(open_group(info.path), info.path)
        if card is None:
            raise UserError(f"{info.path}: unknown sensor; pass --sensor to find its red/NIR")
        try:
            bands = tuple(index_bands(card, index))
        except ValueError as err:
            raise UserError(f"{info.path}: {err}; phenology needs optical data") from None
        cards.append(card)
        how = {
            "index": index,
            "bands": bands,
            "offset": data_offset(info, card),
            "scale": float(info.attrs.get("scale") or 1 / (card.quantification or 1)),
            "min_clear": min_clear,
        }
        nodata = store_nodata(info.attrs, card)
        blocks, _, _ = sample_blocks([info.path], None, 0)
        for p, ranges in blocks:
            tasks.append(_IndexBlock(p, ranges, nodata, **how))
            weights.append(sum(b - a for a, b in ranges))
    parts = run_blocks(
        _index_block, tasks, "phenology", weights=weights, unit="samples", threads=threads,
        scheduler=scheduler, workers=workers, quiet=quiet,
    )  # fmt: skip
    out: dict[Path, dict[str, Any]] = {}
    for info, card in zip(infos, cards, strict=True):
        mine = [v for t, v in zip(tasks, parts, strict=True) if t.path == str(info.path)]
        out[info.path] = _attribute(info, np.concatenate(mine), index, min_clear, card)
    return out


def _attribute(
    info: StoreInfo, values: np.ndarray, index: str, min_clear: float, card: Sensor
) -> dict[str, Any]:
    group = open_group(info.path)
    times = (
        decode_times(group["time_"])
        if "time_" in group
        else np.full(values.shape, np.datetime64("NaT", "ns"), "datetime64[ns]")
    )
    doy = day_of_year(times)
    phase = np.stack([assign_phases(v, d) for v, d in zip(values, doy, strict=True)])
    names = info.band_names or card.band_names
    return {
        "index": index.upper(),
        "bands": [names[b] for b in index_bands(card, index)],
        "phases": list(PHASES),
        "phase": encode_phases(phase),
        "min_clear": min_clear,
        "method": "eossl.data.phenology (SSL4Eco-style phases from each location's own curve)",
    }


def write_phenology(results: dict[Path, dict[str, Any]]) -> None:
    """Store each result in its store's ``phenology`` attribute."""
    for store, meta in results.items():
        write_attrs(store, {"phenology": meta})


def ensure_phenology(paths: list[Path], sensor: Sensor) -> None:
    """Compute and store the phases of the stores that lack them, saying so in one line."""
    missing = [p for p in paths if not isinstance(validate(p).attrs.get("phenology"), dict)]
    if not missing:
        return
    print(
        f"eossl: computing phenological phases of {len(missing)} store(s) once "
        "(`eossl phenology`; kept in their 'phenology' attribute)",
        file=sys.stderr,
    )
    for path in missing:
        write_phenology(compute_phenology(path, sensor=sensor))
