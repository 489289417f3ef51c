"""``eossl stats``: per-band statistics of stores, out of core on dask.

Mean, std, min, max and the 1st/99th percentiles of every band, over every
sample and timestamp, in float64, with nodata, non-finite values, padded
timestamps (NaT) and cloudy pixels (``cloud_mask`` 3 thin cloud, 4 thick cloud,
5 shadow, 6 no data) masked. Work is split into blocks of whole shards (or
chunks), each read chunk by chunk through ``dask.array.from_zarr`` and reduced to
fixed-size partials, so memory stays flat as the store grows:

- moments: count, mean and M2 per block, merged exactly (Chan et al.);
- percentiles: exact integer histograms (``bincount``) for 8- and 16-bit
  integer bands; otherwise a second pass of fixed-bin histograms between the
  global min and max, interpolated within a bin (error below one bin width).

The result goes to the ``stats`` attribute of every store (``.zarr.zip`` files
are rewritten atomically) and is printed as a table. See ``docs/convert.md``.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import shutil
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from rich import box
from rich.table import Table

from eossl.console import console
from eossl.data.schema import (
    CLOUDY_CODES,
    decode_times,
    find_stores,
    infer_sensor,
    open_group,
    validate,
)
from eossl.errors import UserError
from eossl.parallel import add_dask_arguments, dask_client, run_blocks

__all__ = [
    "MASKED_CODES",
    "Block",
    "add_arguments",
    "compute_stats",
    "run",
    "sample_blocks",
    "stats_table",
    "store_nodata",
    "valid_pieces",
    "write_attrs",
    "write_stats",
]

MASKED_CODES = CLOUDY_CODES  # thin cloud, thick cloud, shadow, no data
log = logging.getLogger(__name__)
_EXACT_INT = ("uint8", "int8", "uint16", "int16")  # exact percentiles by bincount
_BLOCK_SAMPLES = 64  # samples per block, rounded to whole chunks/shards


@dataclass(frozen=True)
class Block:
    """One block of work: sample ranges of one store, and what to accumulate."""

    path: str
    ranges: tuple[tuple[int, int], ...]
    nodata: float | None
    bins: int = 0  # 0: moments (+ exact int histograms); >0: float histogram pass
    lo: tuple[float, ...] = ()
    hi: tuple[float, ...] = ()


def store_nodata(info_attrs: dict[str, Any], sensor: Any) -> float | None:
    """A store's nodata value (its attribute, else its sensor's); NaN for ``"nan"``."""
    value = info_attrs.get("nodata", sensor.nodata if sensor is not None else None)
    if value is None:
        return None
    return float("nan") if value == "nan" else float(value)


def _int_range(dtype: np.dtype) -> tuple[int, int] | None:
    if str(dtype) in _EXACT_INT:
        info = np.iinfo(dtype)
        return int(info.min), int(info.max)
    return None


def valid_pieces(task: Block) -> Any:
    """Yield (first sample, first time, values (k, T, C, H, W), valid mask) per chunk piece.

    Valid: not cloud-masked, not nodata, finite, and not a padded (NaT) timestamp.
    """
    import dask.array as da

    group = open_group(Path(task.path))
    bands = group["bands"]
    x = da.from_zarr(bands)
    cloud = da.from_zarr(group["cloud_mask"]) if "cloud_mask" in group else None
    times = group.get("time_", None)
    sample_chunk = bands.chunks[0]
    time_chunk = bands.chunks[1]
    for start, stop in task.ranges:
        nat = np.isnat(decode_times(times, times[start:stop])) if times is not None else None
        s0 = start
        while s0 < stop:
            s1 = min((s0 // sample_chunk + 1) * sample_chunk, stop)
            for t0 in range(0, bands.shape[1], time_chunk):
                t1 = min(t0 + time_chunk, bands.shape[1])
                try:
                    values = x[s0:s1, t0:t1].compute(scheduler="sync")
                    mask = None if cloud is None else cloud[s0:s1, t0:t1].compute(scheduler="sync")
                except Exception as err:  # a corrupt or truncated chunk
                    which = f"sample {s0}" if s1 - s0 == 1 else f"samples {s0}-{s1 - 1}"
                    raise UserError(
                        f"{task.path}: {which} could not be read "
                        f"({type(err).__name__}: {str(err)[:80]}); re-download or re-convert "
                        "the store, or use --sample to estimate from the readable part"
                    ) from err
                valid = np.ones(values.shape, bool)
                if mask is not None:
                    valid &= ~np.isin(mask, MASKED_CODES)[:, :, None]
                if nat is not None and not nat.all():  # all NaT: a store without times
                    valid &= ~nat[s0 - start : s1 - start, t0:t1, None, None, None]
                if task.nodata is not None and not np.isnan(task.nodata):
                    valid &= values != task.nodata
                if values.dtype.kind == "f":
                    valid &= np.isfinite(values)
                yield s0, t0, values, valid
            s0 = s1


def _moments_block(task: Block) -> dict[str, np.ndarray]:
    """Count, mean, M2, min, max, masked count (and integer histograms) of one block."""
    group = open_group(Path(task.path))
    dtype = group["bands"].dtype
    c = group["bands"].shape[2]
    int_range = _int_range(dtype)
    acc = {
        "n": np.zeros(c, np.float64),
        "mean": np.zeros(c, np.float64),
        "m2": np.zeros(c, np.float64),
        "min": np.full(c, np.inf),
        "max": np.full(c, -np.inf),
        "masked": np.zeros(c, np.int64),
    }
    if int_range is not None:
        acc["hist"] = np.zeros((c, int_range[1] - int_range[0] + 1), np.int64)
    for _, _, values, valid in valid_pieces(task):
        for b in range(c):
            v = values[:, :, b][valid[:, :, b]]
            acc["masked"][b] += valid[:, :, b].size - v.size
            if v.size == 0:
                continue
            if int_range is not None:
                acc["hist"][b] += np.bincount(
                    (v.astype(np.int64) - int_range[0]), minlength=acc["hist"].shape[1]
                )
            v = v.astype(np.float64)
            mean = v.mean()
            _merge(acc, b, float(v.size), mean, float(np.square(v - mean).sum()))
            acc["min"][b] = min(acc["min"][b], v.min())
            acc["max"][b] = max(acc["max"][b], v.max())
    return acc


def _merge(acc: dict[str, np.ndarray], b: int, n: float, mean: float, m2: float) -> None:
    """Merge (n, mean, M2) into band ``b`` of ``acc`` (Chan et al. parallel variance)."""
    n0 = acc["n"][b]
    total = n0 + n
    delta = mean - acc["mean"][b]
    acc["mean"][b] += delta * n / total
    acc["m2"][b] += m2 + delta**2 * n0 * n / total
    acc["n"][b] = total


def _combine(parts: list[dict[str, np.ndarray]]) -> dict[str, np.ndarray]:
    out = {k: np.array(v, copy=True) for k, v in parts[0].items()}
    for part in parts[1:]:
        for b in range(len(out["n"])):
            if part["n"][b] > 0:
                _merge(out, b, part["n"][b], part["mean"][b], part["m2"][b])
        out["min"] = np.minimum(out["min"], part["min"])
        out["max"] = np.maximum(out["max"], part["max"])
        out["masked"] = out["masked"] + part["masked"]
        if "hist" in out:
            out["hist"] = out["hist"] + part["hist"]
    return out


def _hist_block(task: Block) -> np.ndarray:
    """Fixed-bin histograms between ``lo`` and ``hi`` of every band, for one block."""
    lo, hi = np.asarray(task.lo), np.asarray(task.hi)
    hist = np.zeros((len(lo), task.bins), np.int64)
    for _, _, values, valid in valid_pieces(task):
        for b in range(len(lo)):
            v = values[:, :, b][valid[:, :, b]].astype(np.float64)
            if v.size == 0 or not np.isfinite(lo[b]):
                continue
            width = (hi[b] - lo[b]) / task.bins or 1.0
            idx = np.clip(((v - lo[b]) / width).astype(np.int64), 0, task.bins - 1)
            hist[b] += np.bincount(idx, minlength=task.bins)
    return hist


def _percentile_exact(hist: np.ndarray, lo: int, q: float) -> float:
    """The numpy default ('linear') percentile from an integer histogram."""
    n = int(hist.sum())
    cum = np.cumsum(hist)
    rank = q / 100 * (n - 1)
    below, above = int(np.floor(rank)), int(np.ceil(rank))
    v_lo = int(np.searchsorted(cum, below, side="right")) + lo
    v_hi = int(np.searchsorted(cum, above, side="right")) + lo
    return float(v_lo + (rank - below) * (v_hi - v_lo))


def _percentile_binned(hist: np.ndarray, lo: float, hi: float, q: float) -> float:
    """The numpy default percentile from a fixed-bin histogram (within one bin width).

    Each order statistic is placed inside its bin (spread evenly over the bin),
    then neighbouring order statistics are interpolated as numpy does.
    """
    n = int(hist.sum())
    cum = np.cumsum(hist)
    width = (hi - lo) / len(hist)

    def order_stat(k: int) -> float:
        b = int(np.searchsorted(cum, k, side="right"))
        before = cum[b - 1] if b > 0 else 0
        return lo + (b + (k - before + 0.5) / hist[b]) * width

    rank = q / 100 * (n - 1)
    below, above = int(np.floor(rank)), int(np.ceil(rank))
    a, b = order_stat(below), order_stat(above)
    return float(np.clip(a + (rank - below) * (b - a), lo, hi))


def sample_blocks(
    paths: list[Path], sample: int | None, seed: int
) -> tuple[list[tuple[str, tuple[tuple[int, int], ...]]], int, int]:
    """Blocks of (store, sample ranges) aligned with chunks and shards; and samples used/total."""
    sizes, steps = [], []
    for path in paths:
        bands = open_group(path)["bands"]
        sizes.append(bands.shape[0])
        shards = getattr(bands, "shards", None)
        unit = shards[0] if shards else bands.chunks[0]
        steps.append(max(unit, (_BLOCK_SAMPLES // unit) * unit))
    total = int(sum(sizes))
    blocks: list[tuple[str, tuple[tuple[int, int], ...]]] = []
    if sample is None or sample >= total:
        for path, n, step in zip(paths, sizes, steps, strict=True):
            blocks += [(str(path), ((s, min(s + step, n)),)) for s in range(0, n, step)]
        return blocks, total, total
    chosen = np.sort(np.random.default_rng(seed).choice(total, size=sample, replace=False))
    offsets = np.cumsum([0, *sizes])
    for k, path in enumerate(paths):
        local = chosen[(chosen >= offsets[k]) & (chosen < offsets[k + 1])] - offsets[k]
        for i in range(0, len(local), _BLOCK_SAMPLES):
            part = local[i : i + _BLOCK_SAMPLES]
            blocks.append((str(path), tuple((int(j), int(j) + 1) for j in part)))
    return blocks, sample, total


def compute_stats(
    path: str | os.PathLike,
    sample: int | None = None,
    seed: int = 0,
    bins: int = 65536,
    threads: int | None = None,
    scheduler: str | None = None,
    workers: int | None = None,
    quiet: bool = False,
) -> dict[str, Any]:
    """Per-band statistics of the store(s) at ``path`` (see the module docstring)."""
    if sample is not None and sample < 1:
        raise UserError(f"--sample must be at least 1, got {sample}")
    if bins < 2:
        raise UserError(f"--bins must be at least 2, got {bins}")
    paths = find_stores(path)
    infos = [validate(p) for p in paths]
    first = infos[0]
    for info in infos[1:]:
        if (info.bands, info.dtype) != (first.bands, first.dtype):
            raise UserError(
                f"{info.path}: {info.bands} bands of {info.dtype} differ from {first.path} "
                f"({first.bands} of {first.dtype}); compute stats per sensor"
            )
    nodata = [store_nodata(i.attrs, i.sensor or infer_sensor(open_group(i.path), i.path))
              for i in infos]  # fmt: skip
    blocks, used, total = sample_blocks(paths, sample, seed)
    with dask_client(scheduler, workers) as client:
        return _compute(infos, nodata, blocks, used, total, seed, bins, threads, quiet, client)


def _compute(
    infos: list[Any],
    nodata: list[float | None],
    blocks: list[tuple[str, tuple[tuple[int, int], ...]]],
    used: int,
    total: int,
    seed: int,
    bins: int,
    threads: int | None,
    quiet: bool,
    client: Any,
) -> dict[str, Any]:
    first = infos[0]
    nodata_of = {str(i.path): nd for i, nd in zip(infos, nodata, strict=True)}
    opts = dict(threads=threads, quiet=quiet, client=client)
    weights = [sum(b - a for a, b in ranges) for _, ranges in blocks]
    tasks = [Block(p, ranges, nodata_of[p]) for p, ranges in blocks]
    int_range = _int_range(np.dtype(first.dtype))
    passes = 1 if int_range is not None else 2
    parts = run_blocks(
        _moments_block, tasks, f"stats 1/{passes}", weights=weights, unit="samples", **opts
    )
    acc = _combine(parts)
    c = first.bands
    n = acc["n"]
    where = first.path if len(infos) == 1 else f"{first.path.parent} ({len(infos)} stores)"
    if not n.any():
        raise UserError(
            f"{where}: no valid pixel in {used} samples (all nodata, NaN or cloud-masked); "
            "nothing to normalise by or train on: check the data, or the nodata value "
            f"({nodata[0]})"
        )
    empty = [first.band_names[b] if first.band_names else str(b) for b in np.flatnonzero(n == 0)]
    if empty and not quiet:
        log.warning(
            "%s: band(s) %s have no valid pixel: their stats are mean 0, std 1", where,
            ", ".join(empty),
        )  # fmt: skip
    if int_range is not None:
        hists = acc["hist"]
        method = "exact (integer histogram)"
    else:
        hist_tasks = [
            Block(t.path, t.ranges, t.nodata, bins, tuple(acc["min"]), tuple(acc["max"]))
            for t in tasks
        ]
        hists = np.sum(
            run_blocks(_hist_block, hist_tasks, "stats 2/2", weights=weights, unit="samples",
                       **opts),
            axis=0,
        )  # fmt: skip
        method = f"histogram of {bins} bins between min and max (within one bin width)"
    mean, std, lo, hi, p1, p99 = [], [], [], [], [], []
    for b in range(c):
        if n[b] == 0:
            mean.append(0.0)
            std.append(1.0)
            for lst in (lo, hi, p1, p99):
                lst.append(None)
            continue
        mean.append(float(acc["mean"][b]))
        std.append(float(max(np.sqrt(acc["m2"][b] / n[b]), 1e-6)))
        lo.append(float(acc["min"][b]))
        hi.append(float(acc["max"][b]))
        for q, lst in ((1, p1), (99, p99)):
            if int_range is not None:
                lst.append(_percentile_exact(hists[b], int_range[0], q))
            else:
                lst.append(_percentile_binned(hists[b], lo[-1], hi[-1], q))
    return {
        "mean": mean,
        "std": std,
        "min": lo,
        "max": hi,
        "p1": p1,
        "p99": p99,
        "count": [int(x) for x in n],
        "masked": [int(x) for x in acc["masked"]],
        "mask": "cloud_mask 3,4,5,6; nodata; non-finite; NaT timestamps",
        "nodata": None if nodata[0] is None else ("nan" if np.isnan(nodata[0]) else nodata[0]),
        "bands": first.band_names,
        "samples": int(used),
        "of_samples": int(total),
        "method": "every sample" if used == total else f"{used} random samples (seed {seed})",
        "percentiles": method,
        "dtype": "float64 accumulation",
    }


def write_stats(path: str | os.PathLike, stats: dict[str, Any]) -> list[Path]:
    """Store ``stats`` in the ``stats`` attribute of every store at ``path``."""
    stores = find_stores(path)
    for store in stores:
        write_attrs(store, {"stats": stats})
    return stores


def write_attrs(store: Path, attrs: dict[str, Any]) -> None:
    """Update the root attributes of one store (a ``.zarr.zip`` is rewritten atomically)."""
    if store.is_file():
        _rewrite_zip_attrs(store, attrs)
        return
    import zarr

    group = zarr.open_group(store, mode="r+")
    group.attrs.update(attrs)
    if (store / ".zmetadata").exists():
        zarr.consolidate_metadata(store)


def _rewrite_zip_attrs(path: Path, attrs: dict[str, Any]) -> None:
    """Rewrite a ``.zarr.zip`` with updated root attributes: copy to a temp file, then rename."""
    tmp = path.with_name(path.name + ".stats-tmp")
    seen = set()
    try:
        with (
            zipfile.ZipFile(path) as src,
            zipfile.ZipFile(tmp, "w", zipfile.ZIP_STORED, allowZip64=True) as dst,
        ):
            names = set(src.namelist())
            for info in src.infolist():
                name = info.filename
                if name in (".zattrs", ".zmetadata", "zarr.json"):
                    meta = json.loads(src.read(info))
                    if name == ".zattrs":
                        meta.update(attrs)
                    elif name == ".zmetadata":
                        meta.setdefault("metadata", {}).setdefault(".zattrs", {}).update(attrs)
                    else:
                        meta.setdefault("attributes", {}).update(attrs)
                    dst.writestr(_copy_info(info), json.dumps(meta, indent=2))
                    seen.add(name)
                    continue
                with src.open(info) as fi, dst.open(_copy_info(info), "w") as fo:
                    shutil.copyfileobj(fi, fo, 1 << 20)
            if ".zgroup" in names and ".zattrs" not in seen:
                dst.writestr(".zattrs", json.dumps(attrs, indent=2))
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def _copy_info(info: zipfile.ZipInfo) -> zipfile.ZipInfo:
    out = zipfile.ZipInfo(info.filename, date_time=info.date_time)
    out.compress_type = info.compress_type
    out.external_attr = info.external_attr
    return out


def stats_table(stats: dict[str, Any], title: str = "band statistics") -> Table:
    """A rich table of :func:`compute_stats` output."""
    table = Table(
        title=title,
        caption=f"{stats['method']}; percentiles: {stats['percentiles']}",
        box=box.SIMPLE_HEAD,
        pad_edge=False,
        collapse_padding=True,
    )
    for col in ("band", "mean", "std", "min", "max", "p1", "p99", "count", "masked"):
        table.add_column(col, justify="left" if col == "band" else "right", no_wrap=True)
    names = stats.get("bands") or [str(i) for i in range(len(stats["mean"]))]

    def fmt(v: Any) -> str:
        return "-" if v is None else f"{v:.5g}"

    for b, name in enumerate(names):
        table.add_row(
            name,
            *(fmt(stats[k][b]) for k in ("mean", "std", "min", "max", "p1", "p99")),
            str(stats["count"][b]),
            str(stats["masked"][b]),
        )
    return table


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The arguments of ``eossl stats``."""
    parser.add_argument("path", help="store, .zarr.zip or folder of stores (one sensor)")
    parser.add_argument(
        "--sample", type=int, default=None, help="quick estimate from N random samples"
    )
    parser.add_argument("--seed", type=int, default=0, help="seed of --sample (default: 0)")
    parser.add_argument(
        "--bins",
        type=int,
        default=65536,
        help="histogram bins for float percentiles (default: 65536)",
    )
    parser.add_argument(
        "--dry-run", action="store_true", help="print the statistics; do not write them"
    )
    add_dask_arguments(parser)


def run(args: argparse.Namespace) -> None:
    """Run ``eossl stats`` from parsed arguments."""
    stats = compute_stats(
        args.path,
        sample=args.sample,
        seed=args.seed,
        bins=args.bins,
        scheduler=args.scheduler,
        workers=args.workers,
        quiet=args.quiet,
    )
    out = console()
    out.print(stats_table(stats, f"eossl stats: {args.path}"))
    if args.dry_run:
        out.print("dry run: nothing written")
        return
    written = write_stats(args.path, stats)
    out.print(f"wrote stats to {len(written)} store(s) (attribute 'stats')")
