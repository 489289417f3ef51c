"""Moments of every band, block by block: count, mean, M2, min and max, merged exactly.

Each block is reduced to fixed-size partials (count, mean and M2, merged as in Chan et
al.'s parallel variance), so memory stays flat as the store grows. 8- and 16-bit
integer bands also get exact histograms (``bincount``), for exact percentiles.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from eossl.data.io.schema import open_group
from eossl.data.stats.blocks import Block, valid_pieces

__all__ = ["combine", "exact_int_range", "moments_block"]

_EXACT_INT = ("uint8", "int8", "uint16", "int16")  # exact percentiles by bincount


def exact_int_range(dtype: np.dtype) -> tuple[int, int] | None:
    """(min, max) of an 8- or 16-bit integer dtype (exact histograms), else None."""
    if str(dtype) in _EXACT_INT:
        info = np.iinfo(dtype)
        return int(info.min), int(info.max)
    return None


def moments_block(task: Block) -> dict[str, np.ndarray]:
    """Count, mean, M2, min, max, masked count (and integer histograms) of one block."""
    group = open_group(Path(task.path))
    dtype = group["bands"].dtype
    c = group["bands"].shape[2]
    int_range = exact_int_range(dtype)
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


def combine(parts: list[dict[str, np.ndarray]]) -> dict[str, np.ndarray]:
    """The partials of many blocks merged into one."""
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
