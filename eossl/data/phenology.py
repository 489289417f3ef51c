"""Phenological phases of a location's timestamps, from its own vegetation-index curve.

SSL4Eco (Plekhanova et al., 2025, "SSL4Eco: A Global Seasonal Dataset for Geospatial
Foundation Models in Ecology") samples seasons along each location's own phenological
cycle instead of calendar quarters. eossl assigns each valid timestamp a phase from the
location's NDVI curve:

1. the curve's floor and top are its lowest and highest NDVI; a location whose top is
   below ``min_peak`` or whose amplitude is below ``min_amplitude`` has no vegetation
   cycle (water, bare soil, snow, evergreen without contrast) and gets no phases;
2. ``peak``: NDVI in the top quarter of the amplitude; ``dormancy``: in the bottom
   quarter;
3. in between, ``green-up`` if the date comes before the date of the maximum within half a
   year (the curve is rising towards it), else ``senescence``. Dates are circular in the
   year, so southern-hemisphere cycles that peak in January work the same.

Fewer than ``min_dates`` valid dates also give no phases. Phase ``-1`` means "none".
"""

from __future__ import annotations

import numpy as np

from eossl.sensors import Sensor

__all__ = ["NONE", "PHASES", "assign_phases", "ndvi", "red_nir"]

PHASES: tuple[str, ...] = ("dormancy", "green-up", "peak", "senescence")
NONE = -1
_RED, _NIR = 0.665, 0.85  # centre wavelengths in micrometres


def red_nir(sensor: Sensor) -> tuple[int, int]:
    """Indices of the red and near-infrared bands of a card, by centre wavelength.

    Among the bands near each wavelength, the finest one (S2: B08, not B8A).
    """
    waves = np.nan_to_num(sensor.wavelengths, nan=np.inf)
    found = []
    for target, tolerance, name in ((_RED, 0.04, "red"), (_NIR, 0.05, "near-infrared")):
        near = [k for k in range(len(waves)) if abs(waves[k] - target) <= tolerance]
        if not near:
            raise ValueError(f"sensor {sensor.name} has no {name} band for NDVI")
        found.append(min(near, key=lambda k: (sensor.bands[k].gsd, abs(waves[k] - target))))
    return found[0], found[1]


def ndvi(red: np.ndarray, nir: np.ndarray) -> np.ndarray:
    """(NIR - red) / (NIR + red), NaN where both are 0 or not finite."""
    red, nir = np.asarray(red, np.float64), np.asarray(nir, np.float64)
    total = nir + red
    with np.errstate(divide="ignore", invalid="ignore"):
        out = (nir - red) / total
    return np.where((total != 0) & np.isfinite(out), out, np.nan)


def assign_phases(
    values: np.ndarray,
    day_of_year: np.ndarray,
    min_dates: int = 3,
    min_peak: float = 0.3,
    min_amplitude: float = 0.1,
) -> np.ndarray:
    """The phase number (index of :data:`PHASES`, or ``-1``) of each timestamp of a location.

    ``values`` are the location's NDVI per timestamp (NaN where not valid, e.g. cloudy);
    ``day_of_year`` its dates (1-366). See the module docstring for the method.
    """
    values = np.asarray(values, np.float64)
    doy = np.asarray(day_of_year, np.float64)
    out = np.full(values.shape, NONE, dtype=np.int8)
    valid = np.isfinite(values) & np.isfinite(doy)
    if valid.sum() < min_dates:
        return out
    v = values[valid]
    floor, top = float(v.min()), float(v.max())
    amplitude = top - floor
    if top < min_peak or amplitude < min_amplitude:
        return out
    level = (values - floor) / amplitude
    peak_day = float(doy[valid][np.argmax(v)])
    before = (peak_day - doy) % 365.25  # days until the peak, going forward in the year
    phase = np.where(before < 365.25 / 2, PHASES.index("green-up"), PHASES.index("senescence"))
    phase = np.where(level >= 0.75, PHASES.index("peak"), phase)
    phase = np.where(level <= 0.25, PHASES.index("dormancy"), phase)
    out[valid] = phase[valid]
    return out
