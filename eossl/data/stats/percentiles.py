"""Percentiles from histograms: exact for integer bands, within one bin width otherwise.

8- and 16-bit integer bands are counted exactly (``bincount``, in the moments pass);
other bands get a second pass of fixed-bin histograms between the global min and max,
and each percentile is interpolated within its bin (error below one bin width).
"""

from __future__ import annotations

import numpy as np

from eossl.data.stats.blocks import Block, valid_pieces

__all__ = ["hist_block", "percentile_binned", "percentile_exact"]


def hist_block(task: Block) -> np.ndarray:
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


def percentile_exact(hist: np.ndarray, lo: int, q: float) -> float:
    """The numpy default ('linear') percentile from an integer histogram."""
    n = int(hist.sum())
    cum = np.cumsum(hist)
    rank = q / 100 * (n - 1)
    below, above = int(np.floor(rank)), int(np.ceil(rank))
    v_lo = int(np.searchsorted(cum, below, side="right")) + lo
    v_hi = int(np.searchsorted(cum, above, side="right")) + lo
    return float(v_lo + (rank - below) * (v_hi - v_lo))


def percentile_binned(hist: np.ndarray, lo: float, hi: float, q: float) -> float:
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
