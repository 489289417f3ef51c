"""Reading GeoTIFFs for ``eossl convert``: bad files, dates, grids, nodata and coordinates.

Shared by the archive layouts (:mod:`eossl.data.convert.trees`) and the chip tiler
(:mod:`eossl.data.convert.chips`).
"""

from __future__ import annotations

import hashlib
import json
import os
import re
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np

from eossl.data.io.schema import natural_key
from eossl.errors import UserError

__all__ = [
    "RESAMPLING",
    "TIF_SUFFIXES",
    "BadFile",
    "BadFileError",
    "bad_file_error",
    "centre_lonlat",
    "error_text",
    "epsg_of",
    "file_key",
    "fingerprint",
    "invalid_pixels",
    "nonfinite_pixels",
    "nodata_attr",
    "parse_date",
    "subdirs",
    "tag_date",
]

# rasterio.enums.Resampling names offered by ``--resampling``.
RESAMPLING = ("nearest", "bilinear", "cubic", "cubic_spline", "lanczos", "average", "mode")

_DATETIME = re.compile(r"(?<!\d)(\d{8})T(\d{6})(?!\d)")
_DATE = re.compile(r"(?<!\d)(\d{8})(?!\d)")
_DASHED = re.compile(r"(?<!\d)(\d{4})-(\d{2})-(\d{2})(?:[T ](\d{2}):(\d{2}):(\d{2}))?")


@dataclass(frozen=True)
class BadFile:
    """A file (or folder) that could not be used, and why."""

    path: str
    reason: str

    def as_dict(self) -> dict[str, str]:
        """JSON form, as recorded in the store attributes."""
        return {"path": self.path, "reason": self.reason}


class BadFileError(Exception):
    """A source file is unreadable or inconsistent; carries the :class:`BadFile`."""

    def __init__(self, path: str | os.PathLike, reason: str) -> None:
        super().__init__(f"{path}: {reason}")
        self.bad = BadFile(str(path), reason)


def error_text(err: BaseException) -> str:
    """``Type: message`` of the innermost cause of an error (GDAL's own words)."""
    while err.__cause__ is not None:
        err = err.__cause__
    return f"{type(err).__name__}: {err}"


def bad_file_error(bad: BadFile) -> UserError:
    """The one-line error that stops a run on a bad file (without ``--skip-bad``)."""
    return UserError(
        f"{bad.path}: {bad.reason}; fix or remove it, or pass --skip-bad to skip bad files"
    )


TIF_SUFFIXES = (".tif", ".tiff")


def subdirs(path: Path) -> list[Path]:
    """The visible folders in ``path``, in natural order (``2`` before ``10``)."""
    return sorted(
        (p for p in path.iterdir() if p.is_dir() and not p.name.startswith(".")),
        key=lambda p: natural_key(p.name),
    )


def _valid(dt: str) -> np.datetime64 | None:
    try:
        when = datetime.fromisoformat(dt)
    except ValueError:
        return None
    if not 1678 <= when.year <= 2261:  # datetime64[ns]'s range: beyond it, values wrap
        return None
    return np.datetime64(when, "ns")


def parse_date(name: str) -> np.datetime64 | None:
    """The first ``YYYYMMDDTHHMMSS`` in ``name``, else the first ``YYYYMMDD`` (or ``YYYY-MM-DD``).

    Returns ``None`` when ``name`` holds no valid date.
    """
    for m in _DATETIME.finditer(name):
        d, t = m.groups()
        if (v := _valid(f"{d[:4]}-{d[4:6]}-{d[6:]}T{t[:2]}:{t[2:4]}:{t[4:]}")) is not None:
            return v
    for m in _DATE.finditer(name):
        d = m.group(1)
        if (v := _valid(f"{d[:4]}-{d[4:6]}-{d[6:]}")) is not None:
            return v
    for m in _DASHED.finditer(name):
        y, mo, d, hh, mm, ss = m.groups()
        text = f"{y}-{mo}-{d}" + (f"T{hh}:{mm}:{ss}" if hh else "")
        if (v := _valid(text)) is not None:
            return v
    return None


def tag_date(tags: dict[str, str]) -> np.datetime64 | None:
    """An acquisition date from TIFF tags (``TIFFTAG_DATETIME``, ``ACQUISITION*``, ``*DATE*``)."""
    ordered = sorted(tags, key=lambda k: (0 if "ACQ" in k.upper() else 1, k))
    for key in ordered:
        if "DATE" not in key.upper() and "TIME" not in key.upper():
            continue
        value = str(tags[key]).strip()
        m = re.match(r"^(\d{4}):(\d{2}):(\d{2})[ T](\d{2}):(\d{2}):(\d{2})", value)
        if m:  # TIFFTAG_DATETIME form
            y, mo, d, hh, mm, ss = m.groups()
            if (v := _valid(f"{y}-{mo}-{d}T{hh}:{mm}:{ss}")) is not None:
                return v
        if (v := parse_date(value.replace("Z", ""))) is not None:
            return v
    return None


def epsg_of(crs: Any) -> int:
    """EPSG code of a rasterio CRS, or 0 when it has none."""
    if crs is None:
        return 0
    code = crs.to_epsg()
    return int(code) if code is not None else 0


def centre_lonlat(crs: Any, xs: np.ndarray, ys: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Longitudes and latitudes of projected points (NaN without a CRS)."""
    xs, ys = np.asarray(xs, np.float64), np.asarray(ys, np.float64)
    if crs is None or len(xs) == 0:
        return np.full(len(xs), np.nan), np.full(len(ys), np.nan)
    if crs.is_geographic and epsg_of(crs) == 4326:
        return xs, ys
    from rasterio.warp import transform

    lon, lat = transform(crs, "EPSG:4326", xs.tolist(), ys.tolist())
    return np.asarray(lon, np.float64), np.asarray(lat, np.float64)


def invalid_pixels(image: np.ndarray, nodata: float | None) -> np.ndarray:
    """Pixels of a (band, y, x) image where every band is nodata (or NaN)."""
    bad = np.ones(image.shape[1:], bool)
    check_nan = image.dtype.kind == "f"
    if nodata is None and not check_nan:
        return np.zeros(image.shape[1:], bool)
    for band in image:
        hit = np.zeros(band.shape, bool)
        if nodata is not None and not np.isnan(nodata):
            hit |= band == nodata
        if check_nan:
            hit |= np.isnan(band)
        bad &= hit
    return bad


def nonfinite_pixels(image: np.ndarray) -> np.ndarray:
    """Pixels of a float (band, y, x) image with an inf or NaN in any band."""
    if image.dtype.kind != "f":
        return np.zeros(image.shape[1:], bool)
    return ~np.isfinite(image).all(axis=0)


def nodata_attr(nodata: float | None) -> float | str | None:
    """A nodata value as stored in the attributes (NaN as the string ``"nan"``)."""
    if nodata is None:
        return None
    if isinstance(nodata, float) and np.isnan(nodata):
        return "nan"
    return float(nodata) if not float(nodata).is_integer() else int(nodata)


def file_key(path: str | os.PathLike) -> list[Any]:
    """What identifies a file's content cheaply: path, size and modification time."""
    st = Path(path).stat()
    return [str(path), st.st_size, st.st_mtime_ns]


def fingerprint(obj: Any) -> str:
    """A short hash of a JSON-serialisable description of the inputs."""
    text = json.dumps(obj, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:32]
