"""Terrain: the location's smooth random landscape fields, and its relief.

Ten fields, normalised to zero mean and unit std, are drawn together; each is a
mix of octaves of about 2.4 km, 700 m and 250 m and of finer noise. Elevation
sets the relief, so how much colder each pixel is than sea level; the others
drive land cover, snow patchiness, the evergreen share and texture.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from eossl.data.synthetic.noise import (
    _F32,
    _FINE_CELL,
    _bspline,
    _fine_noise,
    _grid,
    _normalise,
    _upsample,
)


class _Fields(NamedTuple):
    """The landscape fields, each (H, W), zero mean and unit std."""

    elev: np.ndarray  # elevation
    wet: np.ndarray  # wetness (lakes)
    urb: np.ndarray  # urban
    agri: np.ndarray  # agriculture
    forest: np.ndarray  # forest
    bare: np.ndarray  # bare soil and rock
    snow: np.ndarray  # snow patchiness
    ever: np.ndarray  # evergreen share of the forest
    tex: np.ndarray  # texture
    park: np.ndarray  # urban parks


# weight of each octave per field, in the order of _Fields
#                         L1    L2    L3   fine
_FIELD_WEIGHTS = np.array(
    [
        [1.0, 0.6, 0.25, 0.08],  # 0 elevation
        [0.6, 1.0, 0.45, 0.15],  # 1 wetness (lakes)
        [0.5, 1.0, 0.50, 0.25],  # 2 urban
        [0.8, 1.0, 0.30, 0.10],  # 3 agriculture
        [0.4, 1.0, 0.70, 0.40],  # 4 forest
        [0.5, 1.0, 0.60, 0.30],  # 5 bare
        [0.0, 0.4, 0.80, 0.60],  # 6 snow patchiness
        [0.2, 0.6, 1.00, 0.60],  # 7 evergreen share
        [0.0, 0.0, 0.40, 1.00],  # 8 texture
        [0.0, 0.0, 0.40, 1.00],
    ]
)  # 9 urban parks


def _landscape_fields(rng: np.random.Generator, size: int, cells: tuple[float, ...]) -> _Fields:
    """Draw the landscape fields on a ``size`` x ``size`` image; ``cells``: octave spacings."""
    H = size
    cell = _FINE_CELL
    o_f, n_f = _grid(0.0, H - 1.0, cell)
    nodes = o_f + cell * np.arange(n_f)
    fine = _fine_noise(rng, _FIELD_WEIGHTS, nodes, cells)
    m_full = _bspline(np.arange(H), o_f, cell, n_f)
    fields = _normalise(_upsample(fine, m_full, m_full))  # (10, H, H)
    return _Fields(*fields)


def _lapse(rng: np.random.Generator, f_elev: np.ndarray) -> np.ndarray:
    """Draw the relief (lowland, hills or mountains): deg C cooler than sea level, (H, W)."""
    r = rng.random()
    if r < 0.55:  # lowland
        base_alt, relief = rng.uniform(0, 300), rng.uniform(10, 150)
    elif r < 0.88:  # hills, plateaus
        base_alt, relief = rng.uniform(100, 800), rng.uniform(100, 600)
    else:  # mountains
        base_alt, relief = rng.uniform(300, 1500), rng.uniform(800, 2500)
    e_lo, e_hi = float(f_elev.min()), float(f_elev.max())
    elev01 = (f_elev - e_lo) * _F32(1.0 / max(e_hi - e_lo, 1e-6))
    return _F32(6.5e-3 * relief) * elev01 + _F32(6.5e-3 * base_alt)
