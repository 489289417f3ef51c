"""GeoTIFF trees of published archives: SSL4EO-S12 v1.0, SSL4EO-L and SeCo.

Each archive is ``SRC/<location>/<product>/...``: one folder per location, one
product folder per acquisition, holding either one file per band at native
resolution (SSL4EO-S12, SeCo) or one multi-band file (SSL4EO-L ``all_bands.tif``).
:func:`~eossl.data.convert.tree_scan.scan_tree` lists and checks the files (headers
only) and returns a :class:`TreePlan`, whose :meth:`TreePlan.read_block` reads
locations onto a common pixel grid for the writer.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np

from eossl.data.convert.rasters import (
    BadFile,
    BadFileError,
    bad_file_error,
    centre_lonlat,
    epsg_of,
    error_text,
    invalid_pixels,
)
from eossl.data.io.schema import empty_block
from eossl.sensors import Sensor

__all__ = ["LAYOUTS", "Location", "Scene", "TreePlan"]

# Release recorded per layout, and the TorchGeo folder names that may wrap SRC.
LAYOUTS = {
    "ssl4eo-s12": {"release": "ssl4eo-s12-v1.0", "wrappers": ("s1", "s2c", "s2a")},
    "ssl4eo-l": {"release": "ssl4eo-l", "wrappers": ()},
    "seco": {"release": "seco", "wrappers": ()},
}
_SECO_SCALE = 1 / 255  # SeCo: reflectance in [0, 1] rescaled onto uint8 (seco_downloader.py)


@dataclass(frozen=True)
class Scene:
    """One acquisition of a location: its product folder, time and file names (band order)."""

    name: str
    time: str  # ISO 8601
    stems: tuple[str, ...]  # file names in the product folder, shared between scenes


@dataclass(frozen=True)
class Location:
    """One location and its scenes in time order."""

    id: str
    scenes: tuple[Scene, ...]


@dataclass
class TreePlan:
    """What to write from an archive tree, and how to read one block of it."""

    layout: str
    root: str
    sensor: Sensor
    band_names: list[str]
    dtype: str
    height: int
    width: int
    nodata: float | None
    resampling: str
    multiband: bool
    grid_band: int  # index of the finest band: its footprint gives the coordinates
    locations: list[Location]
    times: int  # timestamps per sample: the largest count of any location
    skipped: list[BadFile] = field(default_factory=list)
    inputs: list[str] = field(default_factory=list)  # digests of the scanned chunks

    @property
    def samples(self) -> int:
        """Number of locations written."""
        return len(self.locations)

    def part(self, start: int, stop: int) -> TreePlan:
        """The plan of samples ``start:stop`` only: what one block's worker needs."""
        return replace(self, locations=self.locations[start:stop], skipped=[], inputs=[])

    def files(self, location: Location, scene: Scene) -> list[str]:
        """Paths of a scene's files, in band order."""
        return [os.path.join(self.root, location.id, scene.name, stem) for stem in scene.stems]

    def attrs(self) -> dict[str, Any]:
        """Store attributes that describe the source."""
        release_name = LAYOUTS[self.layout]["release"]
        release = self.sensor.releases.get(release_name)
        if release is not None:
            scale, offset = release.scale, release.offset
        elif self.layout == "seco":
            scale, offset = _SECO_SCALE, 0.0
        else:
            scale, offset = 1.0, 0.0
        return {
            "sensor": self.sensor.name,
            "product": self.sensor.product,
            "source_layout": self.layout,
            "source": self.root,
            "release": release_name,
            "scale": scale,
            "offset": offset,
            "resampling": self.resampling,
        }

    def describe(self) -> dict[str, Any]:
        """Everything that determines the output, for the resume fingerprint."""
        return {
            "layout": self.layout,
            "bands": self.band_names,
            "dtype": self.dtype,
            "size": [self.height, self.width],
            "nodata": str(self.nodata),
            "resampling": self.resampling,
            "inputs": self.inputs,  # locations, scenes, times and file keys, chunk by chunk
        }

    def read_block(self, start: int, stop: int, skip_bad: bool) -> tuple[dict, list[BadFile]]:
        """Arrays for samples ``start:stop`` and the files that failed while reading pixels.

        Missing timestamps (fewer scenes, or a scene that failed with ``skip_bad``)
        are padded: NaT time, nodata bands, cloud_mask 6, empty ids.
        """
        import rasterio

        locs = self.locations[start:stop]
        n, t, c, h, w = len(locs), self.times, len(self.band_names), self.height, self.width
        out: dict[str, Any] = {
            **empty_block(n, t, c, h, w, self.dtype, self.nodata),
            "location_id": np.array([loc.id for loc in locs], dtype=str),  # pairs s1/s2c/s2a
            "crs": np.zeros(n, np.int64),
            "x_": np.full((n, w), np.nan),
            "y_": np.full((n, h), np.nan),
        }
        centres: list[tuple[Any, float, float]] = []
        bad: list[BadFile] = []
        for i, loc in enumerate(locs):
            geo = None
            for j, scene in enumerate(loc.scenes):
                try:
                    with rasterio.Env():  # one GDAL environment for the scene's files
                        image, scene_geo = self._read_scene(self.files(loc, scene))
                except BadFileError as err:
                    if not skip_bad:
                        raise bad_file_error(err.bad) from None
                    bad.append(err.bad)
                    continue
                out["bands"][i, j] = image
                out["cloud_mask"][i, j] = np.where(invalid_pixels(image, self.nodata), 6, 0)
                out["time_"][i, j] = np.datetime64(scene.time, "ns")
                out["sample_id"][i, j] = loc.id
                out["file_id"][i, j] = scene.name
                geo = geo or scene_geo
            if geo is None:
                centres.append((None, np.nan, np.nan))
                continue
            crs, (left, bottom, right, top) = geo
            out["crs"][i] = epsg_of(crs)
            out["x_"][i] = left + (np.arange(w) + 0.5) * (right - left) / w
            out["y_"][i] = top - (np.arange(h) + 0.5) * (top - bottom) / h
            centres.append((crs, (left + right) / 2, (top + bottom) / 2))
        out["center_lon"], out["center_lat"] = np.full(n, np.nan), np.full(n, np.nan)
        for i, (crs, x, y) in enumerate(centres):
            lon, lat = centre_lonlat(crs, [x], [y])
            out["center_lon"][i], out["center_lat"][i] = lon[0], lat[0]
        out["sample_id"] = out["sample_id"].astype(str)
        out["file_id"] = out["file_id"].astype(str)
        return out, bad

    def _read_scene(self, paths: list[str]) -> tuple[np.ndarray, tuple[Any, tuple]]:
        """One scene on the (height, width) grid, and (crs, bounds) of its finest band."""
        import rasterio
        from rasterio.enums import Resampling

        resampling = Resampling[self.resampling]
        c, h, w = len(self.band_names), self.height, self.width
        image = np.empty((c, h, w), self.dtype)
        geo = None
        for k, path in enumerate(paths):
            try:
                with rasterio.open(path) as src:
                    count = c if self.multiband else 1
                    data = src.read(
                        list(range(1, count + 1)), out_shape=(count, h, w), resampling=resampling
                    )
                    remap = src.nodata is not None and self.nodata is not None
                    if remap and not np.isnan(src.nodata) and src.nodata != self.nodata:
                        data[data == src.nodata] = self.nodata
                    if k == (0 if self.multiband else self.grid_band):
                        geo = (src.crs, tuple(src.bounds))
            except Exception as err:  # rasterio raises many types for broken files
                raise BadFileError(path, f"cannot read ({error_text(err)})") from err
            if self.multiband:
                image[:] = data.astype(self.dtype, copy=False)
            else:
                image[k] = data[0].astype(self.dtype, copy=False)
        assert geo is not None
        return image, geo
