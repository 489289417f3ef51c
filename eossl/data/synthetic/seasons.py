"""The seasons on the ground: vegetation greenness and snow cover per timestamp.

Greenness G in [0, 1] follows the air temperature (green-up and leaf fall) and
the dry season per class, a crop calendar with harvest per parcel, and an
evergreen share in forests. Snow lies where the pixel is cold enough, patchy and
partly hidden under canopy; lakes freeze.
"""

from __future__ import annotations

import numpy as np

from eossl.data.synthetic.climate import _YEAR, _Climate
from eossl.data.synthetic.landcover import (
    _K,
    BARE,
    CROPLAND,
    FOREST,
    GRASSLAND,
    SNOW_ICE,
    URBAN,
    WATER,
    _LandCover,
)
from eossl.data.synthetic.noise import _F32

# snow visibility through the canopy, per class
_SNOW_VIS = np.array([0.0, 0.55, 1.0, 1.0, 0.7, 1.0, 0.0], _F32)


def _sigmoid(x):
    return 1.0 / (1.0 + np.exp(-x))


def _class_greenness(
    rng: np.random.Generator, clim: _Climate, t_air: np.ndarray, dloc: np.ndarray
) -> np.ndarray:
    """G per timestamp and class, (T, K); for water, its turbidity."""
    T = len(t_air)
    arid = clim.arid
    g_temp = _sigmoid((t_air - 7.0) / 2.5)
    dry = 0.5 + 0.5 * np.cos(2 * np.pi * (dloc - clim.dry_peak) / _YEAR)
    g_moist = 1 - clim.dry_amp * dry
    turb = rng.uniform(0, 0.5)
    t_glacier = -8.0 + (t_air - clim.t_mean)
    g_cls = np.empty((T, _K), _F32)
    g_cls[:, WATER] = np.clip(turb + rng.normal(0, 0.1, T), 0, 1)
    g_cls[:, FOREST] = g_temp * (1 - 0.3 * clim.dry_amp * dry)
    g_cls[:, CROPLAND] = 0.7 * g_temp * g_moist
    g_cls[:, GRASSLAND] = 0.3 + 0.7 * g_temp * g_moist
    g_cls[:, URBAN] = g_temp * g_moist
    g_cls[:, BARE] = 0.3 * g_temp * g_moist * (1 - arid)
    g_cls[:, SNOW_ICE] = 1 - 0.75 * np.clip((t_glacier + 1) / 6, 0, 1)
    return g_cls


def _crop_calendar(
    rng: np.random.Generator,
    clim: _Climate,
    t_air: np.ndarray,
    dloc: np.ndarray,
    n_parcels: int,
) -> np.ndarray:
    """G of a crop in each parcel, (T, n_parcels): green-up, senescence, then harvest.

    The tropics grow all year round; elsewhere a share of the parcels is winter crops.
    """
    a = abs(clim.lat)
    if a < 23:
        peak = rng.uniform(0, _YEAR, n_parcels)
        wid = rng.uniform(25, 45, n_parcels)
    else:
        winter = rng.random(n_parcels) < 0.35
        peak = np.where(winter, rng.uniform(140, 175, n_parcels), rng.uniform(185, 225, n_parcels))
        wid = np.where(winter, rng.uniform(35, 55, n_parcels), rng.uniform(25, 40, n_parcels))
    delta = (dloc[:, None] - peak[None] + _YEAR / 2) % _YEAR - _YEAR / 2
    sen = 0.9 * wid
    crop = np.where(
        delta < 0,
        np.exp(-0.5 * (delta / wid) ** 2),
        np.where(delta < sen, 1 - 0.5 * delta / sen, 0.0),
    )
    crop *= np.clip((t_air[:, None] + 2) / 8, 0, 1)
    return crop


def _parcel_greenness(
    rng: np.random.Generator,
    clim: _Climate,
    t_air: np.ndarray,
    dloc: np.ndarray,
    p_class: np.ndarray,
    g_cls: np.ndarray,
) -> np.ndarray:
    """G per timestamp and parcel, (T, n_parcels): crops, meadows, fallow."""
    n_parcels = len(p_class)
    crop = _crop_calendar(rng, clim, t_air, dloc, n_parcels)
    return np.where(
        p_class == CROPLAND,
        crop,
        np.where(
            p_class == GRASSLAND,
            g_cls[:, GRASSLAND, None] * rng.uniform(0.85, 1.05, n_parcels),
            g_cls[:, BARE, None],
        ),
    )


def _evergreen(
    rng: np.random.Generator, clim: _Climate, label: np.ndarray, G: np.ndarray, f_ever: np.ndarray
) -> np.ndarray:
    """Raise G in forests by their evergreen share: mostly evergreen in the boreal and tropics."""
    a = abs(clim.lat)
    is_forest = label == FOREST
    if is_forest.any():
        ev_mean = 0.75 if a > 55 else 0.9 if a < 20 else rng.uniform(0.05, 0.35)
        ever = np.clip(_F32(ev_mean) + _F32(0.25) * f_ever, 0, 1)
        G = np.where(is_forest, ever + (1 - ever) * G, G)
    return G


def _greenness(
    rng: np.random.Generator,
    clim: _Climate,
    cover: _LandCover,
    t_air: np.ndarray,
    dloc: np.ndarray,
    f_ever: np.ndarray,
) -> np.ndarray:
    """G in [0, 1] per timestamp and pixel, (T, H, W).

    ``t_air`` is the air temperature at sea level and ``dloc`` the hemisphere-adjusted
    day of year, per timestamp.
    """
    g_cls = _class_greenness(rng, clim, t_air, dloc)
    if cover.p_class is not None:
        g_par = _parcel_greenness(rng, clim, t_air, dloc, cover.p_class, g_cls)
        g_tab = np.concatenate([g_cls, g_par.astype(_F32)], axis=1)
    else:
        g_tab = g_cls
    G = g_tab[:, cover.gid]  # (T, H, W)
    return _evergreen(rng, clim, cover.label, G, f_ever)


def _land_greenness(G: np.ndarray, label: np.ndarray) -> np.ndarray:
    """The true vegetation cycle, (T,): mean G over land (neither water nor ice)."""
    land = (label != WATER) & (label != SNOW_ICE)
    return G[:, land].mean(axis=1) if land.any() else np.full(len(G), np.nan, _F32)


def _snow_cover(label: np.ndarray, t_pix: np.ndarray, f_snow: np.ndarray) -> list:
    """Snow fraction per timestamp, (H, W) in [0, 1] or None when snow free; frozen lakes.

    ``t_pix`` is the air temperature per timestamp and pixel, (T, H, W).
    """
    T = len(t_pix)
    snow_vis = _SNOW_VIS[label]
    is_water = label == WATER
    snow = []
    snow_reach = -0.5 + 1.2 * float(f_snow.max())  # warmest pixel temperature with snow
    for t in range(T):
        if float(t_pix[t].min()) > max(snow_reach, -4.0):
            snow.append(None)
            continue
        sf = np.clip((_F32(-0.5) - t_pix[t]) / _F32(4.0) + _F32(0.3) * f_snow, 0, 1) * snow_vis
        sf[is_water] = t_pix[t][is_water] < -4.0
        snow.append(sf if sf.any() else None)
    return snow
