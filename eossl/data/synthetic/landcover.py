"""Land cover: the classes, and a label map with spatial structure.

Forest, bare ground and grassland come from the landscape fields, agricultural
parcels from a rotated grid of rectangular fields; the cold brings the tree line,
alpine rock and glaciers; then urban blobs with parks, lakes in low wet places
and perhaps a river. Each parcel keeps its own id, for its own crop calendar.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple

import numpy as np

from eossl.data.synthetic.climate import _Climate
from eossl.data.synthetic.noise import _F32, _quantile
from eossl.data.synthetic.terrain import _Fields

CLASSES: tuple[str, ...] = (
    "water",
    "forest",
    "cropland",
    "grassland",
    "urban",
    "bare",
    "snow_ice",
)  # label codes 0..6

WATER, FOREST, CROPLAND, GRASSLAND, URBAN, BARE, SNOW_ICE = range(7)
_K = len(CLASSES)
_N_PARCELS = 2048  # parcel ids, reused across the image


@dataclass
class _LandCover:
    """The label map, and the group each pixel's greenness follows."""

    label: np.ndarray  # (H, W) uint8, index into CLASSES
    gid: np.ndarray  # (H, W) intp: the class, or _K + parcel id inside a parcel
    p_class: np.ndarray | None  # (_N_PARCELS,) class of each parcel; None: no agriculture


class _CoverFractions(NamedTuple):
    """Target area fractions of the classes."""

    water: float
    urban: float
    agri: float
    forest: float
    bare: float


def _cover_fractions(rng: np.random.Generator, clim: _Climate) -> _CoverFractions:
    """Draw the area fractions: little agriculture or forest where it is arid or cold."""
    arid = clim.arid
    r = rng.random()
    f_water = (
        rng.uniform(0, 0.05)
        if r < 0.5
        else rng.uniform(0.05, 0.2)
        if r < 0.8
        else rng.uniform(0.2, 0.6)
    )
    r = rng.random()
    f_urban = (
        rng.uniform(0, 0.02)
        if r < 0.4
        else rng.uniform(0.02, 0.2)
        if r < 0.8
        else rng.uniform(0.2, 0.7)
    )
    suit = float(np.clip((clim.t_mean - 2.0) / 6.0, 0, 1))
    fr_agri = float(np.clip(rng.uniform(0.0, 0.85) * (1 - arid) * suit, 0, 0.9))
    f_forest = float(np.clip(rng.uniform(0.15, 0.85) * (1 - 0.9 * arid), 0.02, 0.95))
    f_bare_ = float(np.clip(arid * rng.uniform(0.5, 1.0) + rng.uniform(0, 0.08), 0, 0.95))
    return _CoverFractions(f_water, f_urban, fr_agri, f_forest, f_bare_)


def _pixel_grid(H: int) -> tuple[np.ndarray, np.ndarray]:
    """Row and column coordinates, (H, 1) and (1, H) float32."""
    yy = np.arange(H, dtype=_F32)[:, None]
    xx = np.arange(H, dtype=_F32)[None, :]
    return yy, xx


def _parcels(rng: np.random.Generator, H: int, gsd: float) -> tuple[np.ndarray, np.ndarray]:
    """Agricultural parcels: rows of rectangular fields on a rotated grid.

    Returns the parcel id of each pixel (H, W) and the class of each parcel
    (cropland, grassland or bare fallow).
    """
    yy, xx = _pixel_grid(H)
    theta = rng.uniform(-0.6, 0.6)
    u = xx * _F32(np.cos(theta)) + yy * _F32(np.sin(theta))
    v = yy * _F32(np.cos(theta)) - xx * _F32(np.sin(theta))
    ps = max(3.0, float(np.exp(rng.normal(np.log(300.0), 0.4))) / gsd)
    v0, v1 = float(v.min()), float(v.max())
    n_rows = int((v1 - v0) / (0.6 * ps)) + 2
    edges = v0 - rng.uniform(0, ps) + np.cumsum(rng.uniform(0.6, 1.4, n_rows) * ps)
    row = np.searchsorted(edges, v.ravel()).reshape(H, H)
    width = (ps * rng.uniform(0.5, 2.5, n_rows + 1)).astype(_F32)
    shift = rng.uniform(0, 1, n_rows + 1).astype(_F32) * width
    col = np.floor((u - _F32(u.min()) + shift[row]) / width[row]).astype(np.intp)
    pid = (row * 613 + col) % _N_PARCELS
    p_class = rng.choice(
        np.array([CROPLAND, GRASSLAND, BARE], np.uint8), _N_PARCELS, p=[0.72, 0.18, 0.10]
    )
    return pid, p_class


def _apply_cold(label: np.ndarray, cold: np.ndarray) -> None:
    """Tree line, alpine rock, glaciers; too cold for crops (in place)."""
    label[(label == FOREST) & (cold < 0.5)] = GRASSLAND
    label[(label == CROPLAND) & (cold < 2.0)] = GRASSLAND
    label[cold < -3.0] = BARE
    label[cold < -6.5] = SNOW_ICE


def _river(rng: np.random.Generator, label: np.ndarray, gsd: float) -> None:
    """A meandering river across the image, through about its centre (in place)."""
    H = label.shape[0]
    yy, xx = _pixel_grid(H)
    phi = rng.uniform(0, np.pi)
    ru = xx * _F32(np.cos(phi)) + yy * _F32(np.sin(phi))
    rv = (
        yy * _F32(np.cos(phi))
        - xx * _F32(np.sin(phi))
        - _F32((H / 2) * (np.cos(phi) - np.sin(phi)))
    )  # 0 through the centre
    amp, lam = rng.uniform(0.03, 0.2) * H, rng.uniform(0.5, 1.5) * H
    p1, p2 = rng.uniform(0, 2 * np.pi, 2)
    centre = rng.uniform(-0.3, 0.3) * H
    path = _F32(amp) * np.sin(ru * _F32(2 * np.pi / lam) + _F32(p1)) + _F32(0.3 * amp) * np.sin(
        ru * _F32(6.5 * np.pi / lam) + _F32(p2)
    )
    half = max(0.8, rng.uniform(15, 150) / gsd / 2)
    label[np.abs(rv - _F32(centre) - path) < half] = WATER


def _land_cover(
    rng: np.random.Generator, fields: _Fields, clim: _Climate, lapse: np.ndarray, gsd: float
) -> _LandCover:
    """Draw the land cover from the landscape ``fields``, the climate and the relief."""
    H = fields.elev.shape[0]
    frac = _cover_fractions(rng, clim)
    label = np.full((H, H), GRASSLAND, np.uint8)
    forest = fields.forest > _quantile(fields.forest, 1 - frac.forest)
    label[forest] = FOREST
    label[(fields.bare > _quantile(fields.bare, 1 - frac.bare)) & ~forest] = BARE

    agri = fields.agri > _quantile(fields.agri, 1 - frac.agri)
    has_agri = bool(agri.any())
    if has_agri:
        pid, p_class = _parcels(rng, H, gsd)
        woodlot = fields.forest > _quantile(fields.forest, 0.96)
        sel = agri & ~woodlot
        label[sel] = p_class[pid[sel]]

    t_mean_pix = _F32(clim.t_mean) - lapse
    _apply_cold(label, t_mean_pix + _F32(0.8) * fields.snow)
    # urban blobs with parks
    urban = (fields.urb > _quantile(fields.urb, 1 - frac.urban)) & (label != SNOW_ICE)
    label[urban] = URBAN
    label[urban & (fields.park > 1.3)] = GRASSLAND
    # lakes in low, wet places, and a river
    wet = fields.wet - _F32(0.5) * fields.elev
    label[wet < _quantile(wet, frac.water)] = WATER
    if rng.random() < 0.35 + 0.3 * (1 - clim.arid):
        _river(rng, label, gsd)

    if has_agri:
        parcel = agri & (label == p_class[pid])
        gid = np.where(parcel, pid + _K, label.astype(np.intp))
        return _LandCover(label, gid, p_class)
    return _LandCover(label, label.astype(np.intp), None)
