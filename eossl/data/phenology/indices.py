"""Vegetation indices from a card's bands: NDVI, and EVI where there is a blue band."""

from __future__ import annotations

import numpy as np

from eossl.sensors import Sensor

_WAVES = {"blue": (0.49, 0.03), "red": (0.665, 0.04), "near-infrared": (0.85, 0.05)}
INDICES: dict[str, tuple[str, ...]] = {
    "ndvi": ("red", "near-infrared"),
    "evi": ("blue", "red", "near-infrared"),
}


def index_bands(sensor: Sensor, index: str = "ndvi") -> list[int]:
    """The card's bands a vegetation index needs (red, NIR; EVI: blue first), by wavelength.

    Among the bands near each centre wavelength, the finest one (S2: B08, not B8A).
    """
    if index not in INDICES:
        raise ValueError(f"unknown vegetation index {index!r}; use {' or '.join(INDICES)}")
    waves = np.nan_to_num(sensor.wavelengths, nan=np.inf)
    found = []
    for name in INDICES[index]:
        target, tolerance = _WAVES[name]
        near = [k for k in range(len(waves)) if abs(waves[k] - target) <= tolerance]
        if not near:
            raise ValueError(f"sensor {sensor.name} has no {name} band for {index.upper()}")
        found.append(min(near, key=lambda k: (sensor.bands[k].gsd, abs(waves[k] - target))))
    return found


def red_nir(sensor: Sensor) -> tuple[int, int]:
    """Indices of the red and near-infrared bands of a card (see :func:`index_bands`)."""
    red, nir = index_bands(sensor, "ndvi")
    return red, nir


def ndvi(red: np.ndarray, nir: np.ndarray) -> np.ndarray:
    """(NIR - red) / (NIR + red), NaN where both are 0 or not finite."""
    red, nir = np.asarray(red, np.float64), np.asarray(nir, np.float64)
    total = nir + red
    with np.errstate(divide="ignore", invalid="ignore"):
        out = (nir - red) / total
    return np.where((total != 0) & np.isfinite(out), out, np.nan)


def evi(blue: np.ndarray, red: np.ndarray, nir: np.ndarray) -> np.ndarray:
    """2.5 (NIR - red) / (NIR + 6 red - 7.5 blue + 1), of reflectances; NaN where undefined."""
    blue, red, nir = (np.asarray(b, np.float64) for b in (blue, red, nir))
    total = nir + 6 * red - 7.5 * blue + 1
    with np.errstate(divide="ignore", invalid="ignore"):
        out = 2.5 * (nir - red) / total
    return np.where((total > 0) & np.isfinite(out), out, np.nan)
