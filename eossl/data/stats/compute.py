"""Per-band statistics of stores, out of core on dask (``eossl stats``).

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

import logging
import os
from pathlib import Path
from typing import Any

import numpy as np

from eossl.data.io.attrs import write_attrs
from eossl.data.io.schema import find_stores, infer_sensor, open_group, refuse_empty, validate
from eossl.data.stats.blocks import Block, sample_blocks, store_nodata
from eossl.data.stats.moments import combine, exact_int_range, moments_block
from eossl.data.stats.percentiles import hist_block, percentile_binned, percentile_exact
from eossl.errors import UserError
from eossl.parallel import dask_client, run_blocks

__all__ = ["compute_stats", "write_stats"]

log = logging.getLogger(__name__)


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
    if not 2 <= bins <= 1 << 20:  # a histogram per band and block, in memory
        raise UserError(f"--bins must be 2 to 1048576, got {bins}")
    paths = find_stores(path)
    infos = [validate(p) for p in paths]
    refuse_empty(infos)
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
    int_range = exact_int_range(np.dtype(first.dtype))
    passes = 1 if int_range is not None else 2
    parts = run_blocks(
        moments_block, tasks, f"stats 1/{passes}", weights=weights, unit="samples", **opts
    )
    acc = combine(parts)
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
    if empty:
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
            run_blocks(hist_block, hist_tasks, "stats 2/2", weights=weights, unit="samples",
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
                lst.append(percentile_exact(hists[b], int_range[0], q))
            else:
                lst.append(percentile_binned(hists[b], lo[-1], hi[-1], q))
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
