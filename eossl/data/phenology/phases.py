"""Phases of one location's index curve, and their one-character codes in a store."""

from __future__ import annotations

from typing import Any

import numpy as np

from eossl.errors import UserError

PHASES: tuple[str, ...] = ("dormancy", "green-up", "peak", "senescence")
NONE = -1


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


def day_of_year(times: np.ndarray) -> np.ndarray:
    """Day of year (1-366) of ``datetime64`` values, NaN where NaT."""
    times = np.asarray(times, "datetime64[ns]")
    days = (times - times.astype("datetime64[Y]")).astype("timedelta64[D]").astype(np.float64)
    return np.where(np.isnat(times), np.nan, days + 1)


def encode_phases(phase: np.ndarray) -> str:
    """One character per (sample, timestamp): ``0``-``3``, or ``-`` for none."""
    codes = np.where(phase >= 0, phase + ord("0"), ord("-")).astype(np.uint8)
    return codes.tobytes().decode("ascii")


def decode_phases(
    attrs: dict[str, Any], samples: int, times: int, where: Any = ""
) -> np.ndarray | None:
    """The (sample, timestamp) phases of a store's ``phenology`` attribute, or None."""
    meta = attrs.get("phenology")
    if not isinstance(meta, dict):
        return None
    text = meta.get("phase")
    if (
        not isinstance(text, str)
        or len(text) != samples * times
        or list(meta.get("phases", [])) != list(PHASES)
    ):
        raise UserError(
            f"{where}: its phenology attribute does not fit the store "
            f"({samples} samples x {times} timestamps); rerun `eossl phenology` on it"
        )
    codes = np.frombuffer(text.encode("ascii", "replace"), np.uint8).astype(np.int16) - ord("0")
    if ((codes < 0) & (codes != ord("-") - ord("0")) | (codes >= len(PHASES))).any():
        raise UserError(f"{where}: its phenology attribute holds unknown phase codes; rerun "
                        "`eossl phenology` on it")  # fmt: skip
    return np.where(codes >= 0, codes, NONE).astype(np.int8).reshape(samples, times)
