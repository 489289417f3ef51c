"""Phenological phases of a location's timestamps, from its own vegetation-index curve.

SSL4Eco (Plekhanova et al., 2025, "SSL4Eco: A Global Seasonal Dataset for Geospatial
Foundation Models in Ecology") samples seasons along each location's own phenological
cycle instead of calendar quarters. eossl assigns each valid timestamp a phase from the
location's NDVI curve:

1. the curve's floor and top are its lowest and highest NDVI; a location whose top is
   below ``min_peak`` or whose amplitude is below ``min_amplitude`` has no vegetation
   cycle (water, bare soil, snow, evergreen without contrast) and gets no phases;
2. ``peak``: NDVI in the top quarter of the amplitude; ``dormancy``: in the bottom
   quarter;
3. in between, ``green-up`` if the date comes before the date of the maximum within half a
   year (the curve is rising towards it), else ``senescence``. Dates are circular in the
   year, so southern-hemisphere cycles that peak in January work the same.

Fewer than ``min_dates`` valid dates also give no phases. Phase ``-1`` means "none".
NDVI is the default; EVI (``index="evi"``: blue, red and NIR, on reflectance, which
resists saturation over dense canopy) where the card has a blue band.

A timestamp's NDVI is the mean NDVI of its clear vegetated pixels: pixels the
``cloud_mask`` marks as cloud, shadow or no data, nodata values and padded (NaT)
timestamps are left out, and so are pixels with NDVI <= 0 (water, snow, rock), so a
lake or a snowy winter does not dilute the curve (a timestamp with no such pixel
scores 0). A timestamp with less than ``min_clear`` of its pixels clear gets none.
On synthetic stores whose true vegetation cycle is known, this rule agreed best with
the truth (benchmarks/phenology.py).
``eossl phenology`` computes this for every store out of core on dask (as ``eossl
stats`` does) and keeps the phases in each store's ``phenology`` attribute: one
character per (sample, timestamp), ``0``-``3`` for the phases, ``-`` for none.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from rich import box
from rich.table import Table

from eossl.console import console
from eossl.data.io.attrs import write_attrs
from eossl.data.io.schema import (
    StoreInfo,
    decode_times,
    find_stores,
    infer_sensor,
    open_group,
    validate,
)
from eossl.data.normalize import data_offset
from eossl.data.stats.blocks import Block, sample_blocks, store_nodata, valid_pieces
from eossl.errors import UserError
from eossl.parallel import add_dask_arguments, run_blocks
from eossl.sensors import Sensor, get_sensor

__all__ = [
    "NONE",
    "PHASES",
    "assign_phases",
    "compute_phenology",
    "decode_phases",
    "evi",
    "index_bands",
    "ensure_phenology",
    "ndvi",
    "phase_shares",
    "phase_summary",
    "plot_phases",
    "red_nir",
    "write_phenology",
]

PHASES: tuple[str, ...] = ("dormancy", "green-up", "peak", "senescence")
NONE = -1
_WAVES = {"blue": (0.49, 0.03), "red": (0.665, 0.04), "near-infrared": (0.85, 0.05)}
INDICES: dict[str, tuple[str, ...]] = {
    "ndvi": ("red", "near-infrared"),
    "evi": ("blue", "red", "near-infrared"),
}


def index_bands(sensor: Sensor, index: str = "ndvi") -> list[int]:
    """The card's bands a vegetation index needs (red, NIR; EVI: blue first), by wavelength.

    Among the bands near each centre wavelength, the finest one (S2: B08, not B8A).
    """
    if index not in INDICES:
        raise ValueError(f"unknown vegetation index {index!r}; use {' or '.join(INDICES)}")
    waves = np.nan_to_num(sensor.wavelengths, nan=np.inf)
    found = []
    for name in INDICES[index]:
        target, tolerance = _WAVES[name]
        near = [k for k in range(len(waves)) if abs(waves[k] - target) <= tolerance]
        if not near:
            raise ValueError(f"sensor {sensor.name} has no {name} band for {index.upper()}")
        found.append(min(near, key=lambda k: (sensor.bands[k].gsd, abs(waves[k] - target))))
    return found


def red_nir(sensor: Sensor) -> tuple[int, int]:
    """Indices of the red and near-infrared bands of a card (see :func:`index_bands`)."""
    red, nir = index_bands(sensor, "ndvi")
    return red, nir


def ndvi(red: np.ndarray, nir: np.ndarray) -> np.ndarray:
    """(NIR - red) / (NIR + red), NaN where both are 0 or not finite."""
    red, nir = np.asarray(red, np.float64), np.asarray(nir, np.float64)
    total = nir + red
    with np.errstate(divide="ignore", invalid="ignore"):
        out = (nir - red) / total
    return np.where((total != 0) & np.isfinite(out), out, np.nan)


def evi(blue: np.ndarray, red: np.ndarray, nir: np.ndarray) -> np.ndarray:
    """2.5 (NIR - red) / (NIR + 6 red - 7.5 blue + 1), of reflectances; NaN where undefined."""
    blue, red, nir = (np.asarray(b, np.float64) for b in (blue, red, nir))
    total = nir + 6 * red - 7.5 * blue + 1
    with np.errstate(divide="ignore", invalid="ignore"):
        out = 2.5 * (nir - red) / total
    return np.where((total > 0) & np.isfinite(out), out, np.nan)


def assign_phases(
    values: np.ndarray,
    day_of_year: np.ndarray,
    min_dates: int = 3,
    min_peak: float = 0.3,
    min_amplitude: float = 0.1,
) -> np.ndarray:
    """The phase number (index of :data:`PHASES`, or ``-1``) of each timestamp of a location.

    ``values`` are the location's NDVI per timestamp (NaN where not valid, e.g. cloudy);
    ``day_of_year`` its dates (1-366). See the module docstring for the method.
    """
    values = np.asarray(values, np.float64)
    doy = np.asarray(day_of_year, np.float64)
    out = np.full(values.shape, NONE, dtype=np.int8)
    valid = np.isfinite(values) & np.isfinite(doy)
    if valid.sum() < min_dates:
        return out
    v = values[valid]
    floor, top = float(v.min()), float(v.max())
    amplitude = top - floor
    if top < min_peak or amplitude < min_amplitude:
        return out
    level = (values - floor) / amplitude
    peak_day = float(doy[valid][np.argmax(v)])
    before = (peak_day - doy) % 365.25  # days until the peak, going forward in the year
    phase = np.where(before < 365.25 / 2, PHASES.index("green-up"), PHASES.index("senescence"))
    phase = np.where(level >= 0.75, PHASES.index("peak"), phase)
    phase = np.where(level <= 0.25, PHASES.index("dormancy"), phase)
    out[valid] = phase[valid]
    return out


def day_of_year(times: np.ndarray) -> np.ndarray:
    """Day of year (1-366) of ``datetime64`` values, NaN where NaT."""
    times = np.asarray(times, "datetime64[ns]")
    days = (times - times.astype("datetime64[Y]")).astype("timedelta64[D]").astype(np.float64)
    return np.where(np.isnat(times), np.nan, days + 1)


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
) -> dict[Path, dict[str, Any]]:
    """The ``phenology`` attribute of every store at ``path`` (see the module docstring)."""
    if not 0 <= min_clear <= 1:
        raise UserError(f"--min-clear is a fraction in [0, 1], got {min_clear}")
    wanted = get_sensor(sensor) if sensor is not None else None
    infos = [validate(p, sensor=wanted) for p in find_stores(path)]
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
        else np.full(values.shape, np.datetime64("NaT"), "datetime64[ns]")
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


def encode_phases(phase: np.ndarray) -> str:
    """One character per (sample, timestamp): ``0``-``3``, or ``-`` for none."""
    codes = np.where(phase >= 0, phase + ord("0"), ord("-")).astype(np.uint8)
    return codes.tobytes().decode("ascii")


def decode_phases(
    attrs: dict[str, Any], samples: int, times: int, where: Any = ""
) -> np.ndarray | None:
    """The (sample, timestamp) phases of a store's ``phenology`` attribute, or None."""
    meta = attrs.get("phenology")
    if not isinstance(meta, dict):
        return None
    text = meta.get("phase")
    if (
        not isinstance(text, str)
        or len(text) != samples * times
        or list(meta.get("phases", [])) != list(PHASES)
    ):
        raise UserError(
            f"{where}: its phenology attribute does not fit the store "
            f"({samples} samples x {times} timestamps); rerun `eossl phenology` on it"
        )
    codes = np.frombuffer(text.encode("ascii", "replace"), np.uint8).astype(np.int16) - ord("0")
    if ((codes < 0) & (codes != ord("-") - ord("0")) | (codes >= len(PHASES))).any():
        raise UserError(f"{where}: its phenology attribute holds unknown phase codes; rerun "
                        "`eossl phenology` on it")  # fmt: skip
    return np.where(codes >= 0, codes, NONE).astype(np.int8).reshape(samples, times)


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


def phase_summary(phases: list[np.ndarray]) -> dict[str, int]:
    """Timestamps per phase, and locations with and without a cycle."""
    every = np.concatenate([p.reshape(len(p), -1) for p in phases]) if phases else np.zeros((0, 1))
    out = {name: int((every == k).sum()) for k, name in enumerate(PHASES)}
    out["no phase"] = int((every == NONE).sum())
    cycle = (every >= 0).any(axis=1)
    out["locations with a cycle"] = int(cycle.sum())
    out["locations without"] = int((~cycle).sum())
    return out


def phase_shares(summary: dict[str, int]) -> dict[str, float]:
    """Each phase's (and "no phase"'s) share of the timestamps of a :func:`phase_summary`."""
    keys = (*PHASES, "no phase")
    total = sum(summary[k] for k in keys) or 1
    return {k: summary[k] / total for k in keys}


def phenology_table(summary: dict[str, int], title: str) -> Table:
    """A rich table of :func:`phase_summary`."""
    table = Table(title=title, box=box.SIMPLE_HEAD, pad_edge=False)
    table.add_column("phase")
    table.add_column("timestamps", justify="right")
    table.add_column("share", justify="right")
    for key, share in phase_shares(summary).items():
        table.add_row(key, str(summary[key]), f"{100 * share:.0f}%")
    return table


def plot_phases(
    phases: Sequence[np.ndarray], times: Sequence[np.ndarray | None], png: str | Path
) -> None:
    """Save a stacked bar chart of the phenological phases of timestamps, by calendar month."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    counts = np.zeros((len(PHASES) + 1, 12))
    for phase, time in zip(phases, times, strict=True):
        if time is None:
            continue
        known = ~np.isnat(time)
        month = time[known].astype("datetime64[M]").astype(np.int64) % 12
        for k in range(len(PHASES) + 1):  # the last row: no phase
            code = k if k < len(PHASES) else -1
            counts[k] += np.bincount(month[phase[known] == code], minlength=12)
    colours = ["#8c6d31", "#9ccc65", "#1b7837", "#e08214", "#bdbdbd"]
    fig, ax = plt.subplots(figsize=(7, 3.2))
    bottom = np.zeros(12)
    for k, name in enumerate([*PHASES, "no phase"]):
        ax.bar(np.arange(1, 13), counts[k], bottom=bottom, color=colours[k], label=name)
        bottom += counts[k]
    ax.set_xticks(np.arange(1, 13))
    ax.set_xlabel("month")
    ax.set_ylabel("timestamps")
    ax.legend(fontsize=7, ncol=5, loc="upper center", bbox_to_anchor=(0.5, 1.18))
    fig.tight_layout()
    fig.savefig(png, dpi=120)
    plt.close(fig)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The arguments of ``eossl phenology``."""
    parser.add_argument("path", help="store, .zarr.zip or folder of optical stores")
    parser.add_argument("--sensor", default=None, help="sensor card (default: from the stores)")
    parser.add_argument(
        "--index",
        choices=list(INDICES),
        default="ndvi",
        help="vegetation index: ndvi (red, NIR) or evi (blue, red, NIR; reflectance)",
    )
    parser.add_argument(
        "--min-clear",
        type=float,
        default=0.25,
        help="least share of clear pixels for a timestamp's index (default: 0.25)",
    )
    parser.add_argument("--plot", default=None, help="save a plot of phases by month to this PNG")
    parser.add_argument("--dry-run", action="store_true", help="print the phases; write nothing")
    add_dask_arguments(parser)


def run(args: argparse.Namespace) -> None:
    """Run ``eossl phenology`` from parsed arguments."""
    results = compute_phenology(
        args.path,
        sensor=args.sensor,
        index=args.index,
        min_clear=args.min_clear,
        scheduler=args.scheduler,
        workers=args.workers,
        quiet=args.quiet,
    )
    phases, times = [], []
    for store, meta in results.items():
        info = validate(store)
        phases.append(decode_phases({"phenology": meta}, info.samples, info.times, store))
        group = open_group(store)
        times.append(decode_times(group["time_"]) if "time_" in group else None)
    summary = phase_summary(phases)
    out = console()
    out.print(phenology_table(summary, f"eossl phenology: {args.path}"))
    n = summary["locations with a cycle"] + summary["locations without"]
    out.print(
        f"{summary['locations without']} of {n} locations have no vegetation cycle (water, bare, "
        "snow, too few clear dates): the plain seasonal draw is used for them"
    )
    if args.plot:
        plot_phases(phases, times, args.plot)
        out.print(f"plot: {args.plot}")
    if args.dry_run:
        out.print("dry run: nothing written")
        return
    write_phenology(results)
    out.print(f"wrote phases to {len(results)} store(s) (attribute 'phenology')")
