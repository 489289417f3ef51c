"""When and how warm: overpass times, and the location's climate.

The timestamps are one per season with a sun-synchronous overpass time; the
climate sets from the latitude the air temperature through the year, aridity
and a dry season, with the southern hemisphere half a year out of phase.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

_YEAR = 365.25


def _overpass_times(
    rng: np.random.Generator, seasons: int, lon: float, year: int, sar: bool
) -> tuple[np.ndarray, np.ndarray]:
    """Sorted timestamps (datetime64[ns]), one per season, and their fractional day of year.

    Each falls in its equal part of ``year`` with jitter, at the local overpass
    time of a sun-synchronous orbit: about 10:30 (optical), 06:00 or 18:00 (SAR).
    """
    T = seasons
    step = _YEAR / T
    doy = (np.arange(T) + 0.5) * step + rng.uniform(-0.3, 0.3, T) * step
    # (the same draws for every sensor, so a seed gives the same place for S1 and S2)
    sar_hour = rng.choice([6.0, 18.0])
    local_hour = (sar_hour if sar else 10.5) + rng.uniform(-0.2, 0.2)
    utc_hour = (local_hour - lon / 15.0) % 24.0
    offset_ns = np.round(
        (np.floor(doy) * 86400 + utc_hour * 3600 + rng.uniform(0, 60, T)) * 1e9
    ).astype(np.int64)
    times = np.datetime64(f"{year}-01-01T00:00:00", "ns") + offset_ns.astype("timedelta64[ns]")
    times = np.sort(times)
    doy_f = np.floor(doy) + utc_hour / 24.0
    return times, doy_f


@dataclass
class _Climate:
    """The climate of one location (air temperatures at sea level)."""

    lat: float
    t_mean: float  # annual mean air temperature at sea level, deg C
    amp: float  # seasonal half amplitude, deg C
    arid: float  # 0 humid .. 1 desert
    dry_amp: float  # strength of the dry season
    dry_peak: float  # hemisphere-adjusted day of the dry-season peak

    def local_day(self, doy: np.ndarray) -> np.ndarray:
        """Day of year with the southern hemisphere shifted by half a year."""
        return (doy + (0.0 if self.lat >= 0 else _YEAR / 2)) % _YEAR

    def air(self, doy: np.ndarray) -> np.ndarray:
        """Air temperature at sea level, coldest around 20 January (north)."""
        return self.t_mean - self.amp * np.cos(2 * np.pi * (self.local_day(doy) - 20) / _YEAR)


def _climate(rng: np.random.Generator, lat: float) -> _Climate:
    """Draw the climate at latitude ``lat``: warm and arid belts, seasonal amplitude."""
    a = abs(lat)
    t_mean = 28.0 - 0.5 * max(a - 15.0, 0.0) - 0.4 * max(a - 65.0, 0.0) + rng.normal(0, 1.5)
    amp = 0.22 * a * rng.uniform(0.75, 1.25)
    arid = float(
        np.clip(
            np.exp(-(((a - 25) / 9) ** 2)) * rng.uniform(0, 1.2) + rng.uniform(-0.1, 0.25), 0, 1
        )
    )
    if a < 45:
        dry_amp = float(np.clip(0.15 + 0.6 * arid + rng.uniform(-0.1, 0.1), 0, 0.9))
    else:
        dry_amp = float(rng.uniform(0, 0.1))
    dry_peak = (200.0 if a > 28 else 40.0) + rng.uniform(-30, 30)
    return _Climate(lat, t_mean, amp, arid, dry_amp, dry_peak)
