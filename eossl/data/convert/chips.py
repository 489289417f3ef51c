"""A user's own multi-band scenes (one GeoTIFF per date), tiled into chips.

Every scene is read on the grid of the reference scene (the earliest one):
scenes on other grids are reprojected onto it. The grid is cut into
``chip x chip`` windows every ``stride`` pixels; the last row and column of
chips are aligned with the grid's edge, so every pixel is covered. A chip is one
sample; its timestamps are the scenes, in time order. A (chip, scene) pair whose
nodata fraction exceeds ``max_nodata`` is left out (NaT, nodata), and a chip left
with no scene is dropped. An optional label raster is sampled onto the same chips.

:func:`~eossl.data.convert.chip_scan.scan_geotiff` checks the scenes and plans the
chips; a :class:`ChipPlan` reads one block of chips for the writer.
"""

from __future__ import annotations

import contextlib
import hashlib
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

from eossl.data.convert.rasters import (
    BadFile,
    bad_file_error,
    centre_lonlat,
    epsg_of,
    error_text,
    invalid_pixels,
    nonfinite_pixels,
)
from eossl.data.io.schema import empty_block
from eossl.errors import UserError
from eossl.sensors import Sensor

__all__ = ["ChipPlan", "GeotiffScene", "positions"]


@dataclass(frozen=True)
class GeotiffScene:
    """One scene: its file, acquisition time, source nodata and whether it needs reprojecting."""

    path: str
    time: str | None  # None: no date known (then no scene of the plan has one)
    nodata: float | None
    same_grid: bool


@dataclass
class ChipPlan:
    """What to write from a folder of scenes, and how to read one block of chips."""

    root: str
    scenes: list[GeotiffScene]
    band_names: list[str]
    sensor: Sensor | None
    dtype: str  # stored dtype
    scale: float | None  # float reflectance x scale -> stored DN
    nodata: float | None  # stored nodata (NaN for float stores)
    chip: int
    stride: int
    max_nodata: float
    resampling: str
    crs_wkt: str | None
    transform: tuple[float, ...]  # reference grid (affine a, b, c, d, e, f)
    grid_shape: tuple[int, int]
    chips: list[tuple[int, int]]  # (row, col) of each kept chip's top-left pixel
    keep: np.ndarray  # (chips, scenes) bool: which scenes each chip keeps
    labels: str | None = None
    labels_same_grid: bool = True
    skipped: list[BadFile] = field(default_factory=list)
    inputs: list[Any] = field(default_factory=list)
    dropped: dict[str, int] = field(default_factory=dict)
    dated: bool = True  # False: no scene has a date; the store gets no time_

    @property
    def samples(self) -> int:
        """Number of chips written."""
        return len(self.chips)

    @property
    def times(self) -> int:
        """Timestamps per chip: one slot per scene."""
        return len(self.scenes)

    def part(self, start: int, stop: int) -> ChipPlan:
        """The plan of chips ``start:stop`` only: what one block's worker needs."""
        return replace(
            self, chips=self.chips[start:stop], keep=self.keep[start:stop], skipped=[], inputs=[]
        )

    @property
    def height(self) -> int:
        """Chip height."""
        return self.chip

    @property
    def width(self) -> int:
        """Chip width."""
        return self.chip

    def attrs(self) -> dict[str, Any]:
        """Store attributes that describe the source."""
        if self.scale:
            scale = 1.0 / self.scale
        elif self.sensor is not None and self.sensor.quantification and self.dtype[0] in "ui":
            scale = 1.0 / self.sensor.quantification
        else:
            scale = 1.0
        out: dict[str, Any] = {
            "source_layout": "geotiff",
            "source": self.root,
            "scale": scale,
            "offset": 0.0,
            "chip_size": self.chip,
            "stride": self.stride,
            "max_nodata": self.max_nodata,
            "resampling": self.resampling,
            "crs_wkt": self.crs_wkt,
            "transform": list(self.transform),
            "dropped": self.dropped,
        }
        if self.sensor is not None:
            out["sensor"] = self.sensor.name
            out["product"] = self.sensor.product
        return out

    def describe(self) -> dict[str, Any]:
        """Everything that determines the output, for the resume fingerprint."""
        return {
            "layout": "geotiff",
            "scenes": [[s.path, s.time, str(s.nodata), s.same_grid] for s in self.scenes],
            "bands": self.band_names,
            "dtype": self.dtype,
            "scale": self.scale,
            "nodata": str(self.nodata),
            "chip": self.chip,
            "stride": self.stride,
            "max_nodata": self.max_nodata,
            "resampling": self.resampling,
            "chips": hashlib.sha256(np.asarray(self.chips, np.int64).tobytes()).hexdigest(),
            "keep": hashlib.sha256(np.packbits(self.keep).tobytes()).hexdigest(),
            "shape": list(self.keep.shape),
            "labels": self.labels,
            "inputs": self.inputs,
        }

    # -- reading -------------------------------------------------------------------------

    def read_block(self, start: int, stop: int, skip_bad: bool) -> tuple[dict, list[BadFile]]:
        """Arrays for chips ``start:stop`` and the scenes that failed while reading."""
        from rasterio.windows import Window

        chips = self.chips[start:stop]
        n, t, c, s = len(chips), self.times, len(self.band_names), self.chip
        out: dict[str, Any] = empty_block(n, t, c, s, s, self.dtype, self.nodata)
        keep = self.keep[start:stop]
        bad: list[BadFile] = []
        self.nonfinite = 0  # pixels made nodata for an inf or NaN in some band
        self.clipped = 0  # valid values that --scale took outside the dtype's range
        for j, scene in enumerate(self.scenes):
            wanted = [i for i in range(n) if keep[i, j]]
            if not wanted:
                continue
            try:  # chip by chip: GDAL's block cache serves rows shared by neighbouring chips
                with self._open(scene.path, scene.same_grid, self.resampling) as src:
                    subs = {
                        i: src.read(window=Window(chips[i][1], chips[i][0], s, s)) for i in wanted
                    }
            except Exception as err:
                failure = BadFile(scene.path, f"cannot read ({error_text(err)})")
                if not skip_bad:
                    raise bad_file_error(failure) from err
                bad.append(failure)
                continue
            name = Path(scene.path).name
            for i, sub in subs.items():
                row, col = chips[i]
                image, invalid = self._convert(sub, self._read_nodata(scene))
                out["bands"][i, j] = image
                out["cloud_mask"][i, j] = np.where(invalid, 6, 0)
                if scene.time is not None:
                    out["time_"][i, j] = np.datetime64(scene.time, "ns")
                out["sample_id"][i, j] = f"y{row}_x{col}"
                out["file_id"][i, j] = name
        if self.labels is not None:
            out["label"] = np.stack([self._label(row, col) for row, col in chips])
        out.update(self._coords(chips))
        out["sample_id"] = out["sample_id"].astype(str)
        out["file_id"] = out["file_id"].astype(str)
        return out, bad

    def _read_nodata(self, scene: GeotiffScene) -> float | None:
        """A scene's nodata as read: its own, else NaN (float) or 0 off a reprojected footprint."""
        if scene.nodata is not None:
            return scene.nodata
        if not scene.same_grid:
            return float("nan") if self._float_source else 0.0
        return None

    @property
    def _float_source(self) -> bool:
        return self.scale is not None or self.dtype.startswith("float")

    def _convert(self, sub: np.ndarray, nodata: float | None) -> tuple[np.ndarray, np.ndarray]:
        """Source values to stored values, and the nodata pixels (inf and NaN among them)."""
        invalid = invalid_pixels(sub, nodata)
        odd = nonfinite_pixels(sub) & ~invalid
        self.nonfinite += int(odd.sum())
        invalid |= odd
        if self.scale is not None:
            info = np.iinfo(self.dtype)
            value = np.rint(sub.astype(np.float64) * self.scale)
            outside = ((value < info.min) | (value > info.max)) & ~invalid
            self.clipped += int(outside.sum())
            value = np.clip(np.nan_to_num(value, nan=self.nodata), info.min, info.max)
            if self.nodata is not None:  # valid values off the nodata value
                value[(value == self.nodata) & ~invalid] += 1 if self.nodata < info.max else -1
            image = value.astype(self.dtype)
        else:
            image = sub.astype(self.dtype, copy=True)
        if self.nodata is not None:
            image[:, invalid] = self.nodata
        return image, invalid

    @contextlib.contextmanager
    def _open(self, path: str, same_grid: bool, resampling: str) -> Iterator[Any]:
        """A scene on the reference grid: the file itself, or a reprojecting VRT."""
        import rasterio
        from rasterio.crs import CRS
        from rasterio.enums import Resampling
        from rasterio.transform import Affine
        from rasterio.vrt import WarpedVRT

        with rasterio.open(path) as src:
            if same_grid:
                yield src
                return
            dst_nodata = src.nodata
            if dst_nodata is None:
                dst_nodata = float("nan") if np.dtype(src.dtypes[0]).kind == "f" else 0
            with WarpedVRT(
                src,
                crs=CRS.from_wkt(self.crs_wkt) if self.crs_wkt else None,
                transform=Affine(*self.transform),
                width=self.grid_shape[1],
                height=self.grid_shape[0],
                resampling=Resampling[resampling],
                nodata=dst_nodata,
            ) as vrt:
                yield vrt

    def _label(self, row: int, col: int) -> np.ndarray:
        """The label chip at (row, col): uint8 classes, 255 where unlabelled."""
        from rasterio.windows import Window

        assert self.labels is not None
        try:
            with self._open(self.labels, self.labels_same_grid, "nearest") as src:
                data = src.read(1, window=Window(col, row, self.chip, self.chip))
                nodata = src.nodata
        except Exception as err:
            raise UserError(f"{self.labels}: cannot read the labels ({error_text(err)})") from err
        invalid = np.zeros(data.shape, bool)
        if nodata is not None:
            invalid |= data == nodata
        if data.dtype.kind == "f":
            invalid |= np.isnan(data)
            if (data[~invalid] != np.round(data[~invalid])).any():
                raise UserError(f"{self.labels}: labels must be whole class numbers 0-254")
        values = data[~invalid]
        if values.size and (values.min() < 0 or values.max() > 254):
            raise UserError(
                f"{self.labels}: label values {values.min()}..{values.max()} do not fit 0-254 "
                "(255 marks unlabelled pixels); remap the classes"
            )
        return np.where(invalid, 255, np.nan_to_num(data)).astype(np.uint8)

    def _coords(self, chips: list[tuple[int, int]]) -> dict[str, np.ndarray]:
        from rasterio.crs import CRS

        a, _, c, _, e, f = self.transform[:6]
        s = np.arange(self.chip) + 0.5
        x_ = np.stack([c + (col + s) * a for _, col in chips])
        y_ = np.stack([f + (row + s) * e for row, _ in chips])
        crs = CRS.from_wkt(self.crs_wkt) if self.crs_wkt else None
        cx = np.array([c + (col + self.chip / 2) * a for _, col in chips])
        cy = np.array([f + (row + self.chip / 2) * e for row, _ in chips])
        lon, lat = centre_lonlat(crs, cx, cy)
        return {
            "x_": x_,
            "y_": y_,
            "crs": np.full(len(chips), epsg_of(crs), np.int64),
            "center_lon": lon,
            "center_lat": lat,
        }

    def nodata_fractions(self, j: int) -> np.ndarray:
        """Nodata fraction of every candidate chip in scene ``j``: (rows, cols), read in strips."""
        from rasterio.windows import Window

        scene = self.scenes[j]
        rows, cols = (
            positions(self.grid_shape[0], self.chip, self.stride),
            positions(self.grid_shape[1], self.chip, self.stride),
        )
        out = np.zeros((len(rows), len(cols)), np.float32)
        width = self.grid_shape[1]
        nodata = self._read_nodata(scene)
        with self._open(scene.path, scene.same_grid, self.resampling) as src:
            for a, row in enumerate(rows):
                strip = src.read(window=Window(0, row, width, self.chip))
                invalid = invalid_pixels(strip, nodata) | nonfinite_pixels(strip)
                counts = np.concatenate([[0], np.cumsum(invalid.sum(axis=0))])
                for b, col in enumerate(cols):
                    out[a, b] = (counts[col + self.chip] - counts[col]) / self.chip**2
        return out


def positions(n: int, chip: int, stride: int) -> list[int]:
    """Chip offsets along one axis; the last chip is aligned with the edge."""
    if n < chip:
        return []
    out = list(range(0, n - chip + 1, stride))
    if out[-1] != n - chip:
        out.append(n - chip)
    return out
