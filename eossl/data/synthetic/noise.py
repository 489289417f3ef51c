"""Smooth random fields: coarse noise upsampled with separable cubic B-splines.

A field is white noise on a coarse grid of B-spline nodes, evaluated at the
pixels by two small matrix products; octaves on grids of different spacing add
up to structure at several scales. Everything is float32.
"""

from __future__ import annotations

import numpy as np

_F32 = np.float32

_FINE_CELL = 8.0  # spacing (pixels) of the fine node grid the octaves are summed on


def _octaves(gsd: float) -> tuple[float, float, float]:
    """Node spacings (pixels) of the coarse octaves: about 2.4 km, 700 m and 250 m."""
    cell = _FINE_CELL
    return (
        max(2 * cell, 2400.0 / gsd),
        max(1.5 * cell, 700.0 / gsd),
        max(1.25 * cell, 250.0 / gsd),
    )


def _grid(pmin: float, pmax: float, cell: float) -> tuple[float, int]:
    """Origin and node count of a B-spline grid of spacing ``cell`` covering [pmin, pmax]."""
    origin = pmin - cell
    return origin, int(np.floor((pmax - origin) / cell)) + 3


def _bspline(pos: np.ndarray, origin: float, cell: float, n: int) -> np.ndarray:
    """(len(pos), n) matrix evaluating a cubic B-spline with nodes ``origin + j * cell``."""
    c = (np.asarray(pos, np.float64) - origin) / cell
    i = np.floor(c).astype(np.intp)
    t = c - i
    t2, t3 = t * t, t * t * t
    w = np.stack([(1 - t) ** 3, 3 * t3 - 6 * t2 + 4, -3 * t3 + 3 * t2 + 3 * t + 1, t3], 1) / 6
    cols = np.clip(i[:, None] + np.arange(-1, 3), 0, n - 1)
    m = np.zeros((len(c), n), _F32)
    np.add.at(m, (np.arange(len(c))[:, None], cols), w.astype(_F32))
    return m


# OpenBLAS runs a GEMM on all cores once m * n * k exceeds 65536 * 4; on a busy
# machine (data-loader workers, parallel writers) its spinning threads make these
# small products 100x slower. Keep each product under the threshold: one thread.
_GEMM_SINGLE_THREAD = 200_000


def _matmul(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Multiply 2-D arrays in row blocks small enough for one BLAS thread."""
    m, k = a.shape
    n = b.shape[1]
    step = max(1, _GEMM_SINGLE_THREAD // max(1, k * n))
    if step >= m:
        return a @ b
    out = np.empty((m, n), np.result_type(a, b))
    for i in range(0, m, step):
        np.matmul(a[i : i + step], b, out=out[i : i + step])
    return out


def _upsample(f: np.ndarray, my: np.ndarray, mx: np.ndarray) -> np.ndarray:
    """Upsample: ``my @ f @ mx.T`` for each 2-D field in ``f`` (..., ny, nx) -> (..., H, W)."""
    lead = f.shape[:-2]
    flat = f.reshape((-1,) + f.shape[-2:])
    mxt = np.ascontiguousarray(mx.T)
    out = np.empty((flat.shape[0], my.shape[0], mx.shape[0]), _F32)
    for j in range(flat.shape[0]):
        out[j] = _matmul(my, _matmul(flat[j], mxt))
    return out.reshape(lead + out.shape[-2:])


_SPLINE_STD = 0.48  # std of B-spline interpolated unit white noise (per 2-D)


def _fine_noise(
    rng: np.random.Generator, weights: np.ndarray, nodes: np.ndarray, cells: tuple[float, ...]
) -> np.ndarray:
    """Sum of octaves on the fine grid ``nodes`` (1-D node positions, same in y and x).

    ``weights`` is (fields, len(cells) + 1); the last column weighs white noise on
    the fine grid itself, the others noise on coarser grids of spacing ``cells``.
    """
    nf, n = weights.shape[0], len(nodes)
    w = weights.astype(_F32)
    out = rng.standard_normal((nf, n, n), dtype=_F32)
    out *= w[:, -1, None, None]
    for k, cell in enumerate(cells):
        if not w[:, k].any():
            continue
        o, nk = _grid(nodes[0], nodes[-1], cell)
        m = _bspline(nodes, o, cell, nk)
        noise = rng.standard_normal((nf, nk, nk), dtype=_F32)
        noise *= w[:, k, None, None] / _SPLINE_STD
        out += _upsample(noise, m, m)
    return out


def _normalise(f: np.ndarray) -> np.ndarray:
    """Zero mean, unit std per field (statistics from a subsample), in place."""
    sub = f[..., ::4, ::4]
    axes = (-2, -1)
    mean = sub.mean(axis=axes, keepdims=True)
    std = sub.std(axis=axes, keepdims=True) + 1e-6
    f -= mean
    f /= std
    return f


def _quantile(f: np.ndarray, q: float) -> float:
    """The ``q`` quantile of a field (from a subsample), ``q`` clipped to [0, 1]."""
    return float(np.quantile(f[::4, ::4], min(max(q, 0.0), 1.0)))
