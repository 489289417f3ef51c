"""Stored units: the valid range of a band's dtype, kept clear of the nodata value."""

from __future__ import annotations

import numpy as np


def _limits(dtype: np.dtype, nodata) -> tuple[float, float]:
    """Lowest and highest valid stored value: the dtype's range (from 0), less ``nodata``."""
    if dtype.kind in "iu":
        info = np.iinfo(dtype)
        lo, hi = float(max(info.min, 0)), float(info.max)
    else:
        lo, hi = 0.0, float(np.finfo(dtype).max)
    if nodata is not None and not np.isnan(nodata):
        if nodata == lo:
            lo += 1
        elif nodata == hi:
            hi -= 1
    return lo, hi


def _avoid_nodata(x: np.ndarray, nodata) -> np.ndarray:
    """Move valid values that equal ``nodata`` (strictly inside the range) off it."""
    if nodata is None or np.isnan(nodata):
        return x
    hit = x == nodata
    if hit.any():
        x[hit] = np.nextafter(x.dtype.type(nodata), np.inf) if x.dtype.kind == "f" else nodata + 1
    return x
