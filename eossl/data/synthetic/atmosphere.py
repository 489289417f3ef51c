"""The atmosphere: gas absorption, path radiance, clouds and their shadows.

Water vapour absorbs in narrow bands (0.94, 1.13, 1.375, 1.87 um); products at
the top of the atmosphere add Rayleigh path radiance. Clouds are smoothed noise
thresholded at a random cloud fraction per timestamp, thin at their edges; their
shadows are the same field displaced along the sun direction. The cloud mask
codes water, snow, clouds and shadows.
"""

from __future__ import annotations

import re

import numpy as np

from eossl.data.io.schema import CLOUD_CODES
from eossl.data.synthetic.climate import _YEAR
from eossl.data.synthetic.landcover import SNOW_ICE, WATER
from eossl.data.synthetic.noise import _F32, _FINE_CELL, _bspline, _fine_noise, _grid, _upsample
from eossl.sensors import Sensor


def _tokens(sensor: Sensor) -> set[str]:
    text = f"{sensor.name} {sensor.product} {sensor.title}".lower()
    return set(re.split(r"[^a-z0-9]+", text))


def _is_toa(sensor: Sensor) -> bool:
    """Whether the card is a top-of-atmosphere product (L1C, TOA), not surface reflectance."""
    tok = _tokens(sensor)
    if tok & {"l2a", "sr", "boa", "l2", "l2sp", "surface"}:
        return False
    return bool(tok & {"l1c", "toa", "l1", "l1tp", "l1t", "top"})


def _transmission(wl: np.ndarray) -> np.ndarray:
    """Two-way atmospheric transmission: water-vapour bands at 0.94, 1.13, 1.38, 1.87 um."""
    g = lambda c, w: np.exp(-(((wl - c) / w) ** 2))  # noqa: E731
    t = 1.0 - 0.55 * g(0.945, 0.03) - 0.35 * g(1.135, 0.025) - 0.985 * g(1.375, 0.04)
    t -= 0.9 * g(1.87, 0.05)
    return np.clip(t, 0.005, 1.0)


def _path_radiance(sensor: Sensor, wl: np.ndarray) -> np.ndarray:
    """Rayleigh path radiance (reflectance) at wavelengths ``wl``; zero for surface products."""
    return 0.025 * (0.44 / wl) ** 4 if _is_toa(sensor) else np.zeros(len(wl))


def _surface_mask(label: np.ndarray, snow: list) -> np.ndarray:
    """The cloud mask before clouds, (T, H, W) uint8: land, water, snow and ice."""
    T, (H, W) = len(snow), label.shape
    base_mask = np.zeros((H, W), np.uint8)
    base_mask[label == WATER] = CLOUD_CODES["water"]
    base_mask[label == SNOW_ICE] = CLOUD_CODES["snow"]
    cloud_mask = np.empty((T, H, W), np.uint8)
    cloud_mask[:] = base_mask
    for t in range(T):
        if snow[t] is not None:
            cloud_mask[t][snow[t] >= 0.5] = CLOUD_CODES["snow"]
    return cloud_mask


def _clouds(rng, T, H, gsd, cells, lat, doy):
    """Cloud opacity alpha and shadow opacity beta per timestamp ((H, W) or None)."""
    alpha: list = [None] * T
    beta: list = [None] * T
    frac = np.zeros(T)
    for t in range(T):
        r = rng.random()
        frac[t] = 0.0 if r < 0.45 else rng.uniform(0, 0.15) if r < 0.7 else rng.beta(1.0, 1.3)
    cloudy = [t for t in range(T) if frac[t] > 0.002]
    if not cloudy:
        return alpha, beta
    # shadow displacement from cloud height and sun elevation (10:30 local time)
    decl = 23.44 * np.sin(2 * np.pi * (doy - 81) / _YEAR)
    elev = np.clip(90.0 - np.abs(lat - decl) - 10.0, 12.0, 80.0)
    height = rng.uniform(800, 3500, T)
    dist = np.minimum(height / np.tan(np.radians(elev)) / gsd, 0.5 * H)
    az = np.where(lat - decl > 0, 330.0, 210.0) + rng.uniform(-15, 15, T)
    dx = dist * np.sin(np.radians(az))
    dy = -dist * np.cos(np.radians(az))
    reach = float(np.max(dist[cloudy])) + 1
    cell = _FINE_CELL
    o, n = _grid(-reach, H - 1.0 + reach, cell)
    nodes = o + cell * np.arange(n)
    w = np.array([[0.5, 1.0, 0.8, 0.5]])
    px = np.arange(H, dtype=np.float64)
    m0 = _bspline(px, o, cell, n)
    for t in cloudy:
        fine = _fine_noise(rng, w, nodes, cells)[0]
        c = _upsample(fine, m0, m0)
        sub = c[::4, ::4]
        sd = float(sub.std()) + 1e-6
        thr = float(np.quantile(sub, 1 - frac[t]))
        soft = rng.uniform(0.3, 1.5) * sd
        scale = _F32(0.45) if rng.random() < 0.15 else _F32(1.0)  # cirrus veil: thin only
        a_t = np.clip((c - _F32(thr)) / _F32(soft), 0, 1)
        if scale != 1:
            a_t *= scale
        my = _bspline(px - dy[t], o, cell, n)
        mx = _bspline(px - dx[t], o, cell, n)
        b_t = np.clip((_upsample(fine, my, mx) - _F32(thr)) / _F32(soft), 0, 1) * scale
        alpha[t], beta[t] = a_t, b_t
    return alpha, beta


def _mark_clouds(cloud_mask: np.ndarray, alpha: list, beta: list) -> list:
    """Mark shadows, thin and thick clouds in ``cloud_mask`` (in place).

    Returns the shadow darkness per timestamp ((H, W) in [0, 1] or None).
    """
    shade = list(beta)
    for t in range(len(alpha)):
        if alpha[t] is None:
            continue
        m = cloud_mask[t]
        s = np.clip(beta[t] * _F32(1 / 0.6), 0, 1)
        m[(s >= 0.5) & (alpha[t] < 0.15)] = CLOUD_CODES["shadow"]
        m[alpha[t] >= 0.15] = CLOUD_CODES["thin_cloud"]
        m[alpha[t] >= 0.6] = CLOUD_CODES["thick_cloud"]
        shade[t] = s
    return shade
