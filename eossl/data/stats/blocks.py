"""The valid pixels of stores, block by block: what ``eossl stats`` and ``eossl phenology`` read.

Work is split into blocks of whole shards (or chunks) of one store, each read chunk by
chunk through ``dask.array.from_zarr``. A pixel is valid when it is not cloud-masked
(``cloud_mask`` 3 thin cloud, 4 thick cloud, 5 shadow, 6 no data), not nodata, finite,
and not at a padded (NaT) timestamp.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from eossl.data.io.chunks import damage_text
from eossl.data.io.schema import CLOUDY_CODES, decode_times, open_group
from eossl.errors import UserError

__all__ = ["MASKED_CODES", "Block", "sample_blocks", "store_nodata", "valid_pieces"]

MASKED_CODES = CLOUDY_CODES  # thin cloud, thick cloud, shadow, no data
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
                        f"{task.path}: {which} could not be read ({damage_text(err)}); "
                        f"`eossl verify {task.path}` lists the damaged chunks; re-download or "
                        "re-convert the store"
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
