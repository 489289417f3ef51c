"""GeoTIFF trees of published archives: SSL4EO-S12 v1.0, SSL4EO-L and SeCo.

Each archive is ``SRC/<location>/<product>/...``: one folder per location, one
product folder per acquisition, holding either one file per band at native
resolution (SSL4EO-S12, SeCo) or one multi-band file (SSL4EO-L ``all_bands.tif``).
:func:`scan_tree` lists and checks the files (headers only) and returns a
:class:`TreePlan`, whose :meth:`TreePlan.read_block` reads locations onto a
common pixel grid for the writer.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

from eossl.data.rasters import (
    BadFile,
    BadFileError,
    bad_file_error,
    centre_lonlat,
    epsg_of,
    error_text,
    file_key,
    fingerprint,
    invalid_pixels,
    natural_key,
    parse_date,
)
from eossl.errors import UserError
from eossl.sensors import Sensor, get_sensor, list_sensors

__all__ = ["LAYOUTS", "Location", "Scene", "TreePlan", "scan_tree"]

# Release recorded per layout, and the TorchGeo folder names that may wrap SRC.
LAYOUTS = {
    "ssl4eo-s12": {"release": "ssl4eo-s12-v1.0", "wrappers": ("s1", "s2c", "s2a")},
    "ssl4eo-l": {"release": "ssl4eo-l", "wrappers": ()},
    "seco": {"release": "seco", "wrappers": ()},
}
_WRAPPER_PREFIX = {"ssl4eo-l": "ssl4eo_l_", "seco": "seasonal_contrast_"}
# SSL4EO-L product ids start with the sensor: LT04/LT05 (TM), LE07 (ETM+), LC08/LC09 (OLI).
_LANDSAT = {
    ("LT", 7): "landsat-tm-toa",
    ("LE", 9): "landsat-etm-toa",
    ("LE", 6): "landsat-etm-sr",
    ("LC", 11): "landsat-oli-tirs-toa",
    ("LC", 7): "landsat-oli-sr",
}
_SECO_SCALE = 1 / 255  # SeCo: reflectance in [0, 1] rescaled onto uint8 (seco_downloader.py)
_TIF = (".tif", ".tiff")


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
        fill = 0 if self.nodata is None else self.nodata
        out: dict[str, Any] = {
            "bands": np.full((n, t, c, h, w), fill, self.dtype),
            "cloud_mask": np.full((n, t, h, w), 6, np.uint8),
            "time_": np.full((n, t), np.datetime64("NaT"), "datetime64[ns]"),
            "sample_id": np.full((n, t), "", dtype=object),
            "file_id": np.full((n, t), "", dtype=object),
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


def _normalise_band(stem: str) -> str:
    """File stem to card band name: ``B1`` -> ``B01``, ``B8A`` stays, ``VV`` -> ``vv``."""
    m = re.fullmatch(r"[Bb](\d{1,2})([Aa]?)", stem)
    if m:
        number, a = int(m.group(1)), m.group(2).upper()
        return f"B{number}A" if a else f"B{number:02d}"
    if stem.lower() in ("vv", "vh", "hh", "hv"):
        return stem.lower()
    return stem


def _subdirs(path: Path) -> list[Path]:
    return sorted(
        (p for p in path.iterdir() if p.is_dir() and not p.name.startswith(".")),
        key=lambda p: natural_key(p.name),
    )


def _tifs(path: Path) -> list[Path]:
    return sorted(p for p in path.iterdir() if p.suffix.lower() in _TIF and p.is_file())


def _resolve_root(src: Path, layout: str) -> Path:
    """SRC itself, or the single archive folder inside it (``s2c``, ``ssl4eo_l_oli_sr``, ...)."""
    if not src.is_dir():
        raise UserError(f"{src}: no such folder; pass the folder that holds the location folders")
    names = {p.name for p in _subdirs(src)}
    wrappers = [n for n in names if n in LAYOUTS[layout]["wrappers"]]
    prefix = _WRAPPER_PREFIX.get(layout)
    if prefix:
        wrappers += [n for n in names if n.startswith(prefix)]
    if not wrappers or any(n.isdigit() for n in names):
        return src
    if len(wrappers) > 1:
        choices = ", ".join(str(src / n) for n in sorted(wrappers))
        raise UserError(f"{src}: holds several archives; convert one at a time: {choices}")
    return src / wrappers[0]


def _infer_sensor(layout: str, root: Path, bands: list[str], first: Path) -> Sensor:
    """The sensor of an archive from its band files (or count) and product id."""
    if layout == "seco":
        return get_sensor("s2-l2a")
    if layout == "ssl4eo-s12":
        found = set(bands)
        for sensor in list_sensors():
            if set(sensor.band_names) == found:
                return sensor
        raise UserError(
            f"{first}: band files {', '.join(sorted(found))} match no sensor card; pass --sensor"
        )
    # ssl4eo-l: one file; the band count and the product id prefix decide
    import rasterio

    path = first / "all_bands.tif"
    try:
        with rasterio.open(path) as src:
            count = src.count
    except Exception as err:
        raise UserError(f"{path}: cannot read ({err}); pass --sensor, or fix the file") from err
    for part in (root.name, *root.parts[::-1]):
        if part.lower().startswith("ssl4eo_l_"):
            try:
                sensor = get_sensor(part.lower().removeprefix("ssl4eo_l_"))
            except UserError:
                continue
            if sensor.num_bands == count:
                return sensor
    prefix = first.name[:2].upper()
    name = _LANDSAT.get((prefix, count))
    if name is None:
        matches = [k for k in _LANDSAT.items() if k[0][1] == count]
        if len(matches) == 1:
            name = matches[0][1]
    if name is None:
        raise UserError(
            f"{path}: {count} bands and product id {first.name!r} match no Landsat card; "
            "pass --sensor (e.g. oli_sr, tm_toa)"
        )
    return get_sensor(name)


def _band_files(product: Path) -> dict[str, Path]:
    return {_normalise_band(p.stem): p for p in _tifs(product)}


def _scene(
    product: Path, sensor: Sensor, multiband: bool, dtype: np.dtype
) -> tuple[Scene, list[Any]]:
    """Check one product folder (names, headers); raises BadFileError."""
    import rasterio

    when = parse_date(product.name)
    if when is None:
        raise BadFileError(product, "no date (YYYYMMDD or YYYYMMDDTHHMMSS) in the folder name")
    if multiband:
        files = [product / "all_bands.tif"]
        if not files[0].is_file():
            raise BadFileError(product, "no all_bands.tif")
    else:
        found = _band_files(product)
        missing = [b for b in sensor.band_names if b not in found]
        if missing:
            raise BadFileError(product, f"missing band file(s) {', '.join(missing)}")
        files = [found[b] for b in sensor.band_names]
    keys = []
    for path in files:
        try:
            with rasterio.open(path) as src:
                count, src_dtype = src.count, np.dtype(src.dtypes[0])
            keys.append(file_key(path))
        except Exception as err:
            raise BadFileError(path, f"cannot open ({error_text(err)})") from err
        want = sensor.num_bands if multiband else 1
        if count != want:
            raise BadFileError(path, f"has {count} bands, expected {want}")
        if src_dtype != dtype and not np.can_cast(src_dtype, dtype, "safe"):
            raise BadFileError(path, f"dtype {src_dtype} does not fit the store's {dtype}")
    time = str(when.astype("datetime64[s]"))
    return Scene(product.name, time, tuple(f.name for f in files)), keys


def _first_scene_grid(
    product: Path, sensor: Sensor, multiband: bool
) -> tuple[int, int, int, np.dtype]:
    """(height, width, index of the finest band, dtype) from the first product's headers."""
    import rasterio

    files = (
        [product / "all_bands.tif"]
        if multiband
        else [_band_files(product).get(b) for b in sensor.band_names]
    )
    best, shape, dtype = 0, (0, 0), None
    for k, path in enumerate(files):
        if path is None:
            raise UserError(
                f"{product}: missing {sensor.band_names[k]}.tif for sensor {sensor.name}; "
                "pass the matching --sensor"
            )
        try:
            with rasterio.open(path) as src:
                if src.height * src.width > shape[0] * shape[1]:
                    best, shape = k, (src.height, src.width)
                dtype = dtype or np.dtype(src.dtypes[0])
        except Exception as err:
            raise UserError(f"{path}: cannot open ({err}); fix or remove it") from err
    assert dtype is not None
    return shape[0], shape[1], best, dtype


def _reference(
    root: Path,
    location_dirs: list[Path],
    layout: str,
    sensor: str | None,
    multiband: bool,
    skip_bad: bool,
) -> tuple[Sensor, int, int, int, np.dtype]:
    """Sensor, grid and dtype from the first usable product folder."""
    error: UserError | None = None
    tries = 0
    for loc_dir in location_dirs:
        for product in _subdirs(loc_dir):
            bands = sorted(_band_files(product))
            try:
                card = (
                    get_sensor(sensor) if sensor else _infer_sensor(layout, root, bands, product)
                )
                return (card, *_first_scene_grid(product, card, multiband))
            except UserError as err:
                if not skip_bad or tries >= 100:
                    raise
                error, tries = err, tries + 1
    if error is not None:
        raise error
    raise UserError(f"{root}: no product folders; expected {root}/<id>/<product>/...")


def scan_tree(
    src: str | os.PathLike,
    layout: str,
    sensor: str | None = None,
    size: int | None = None,
    resampling: str = "nearest",
    skip_bad: bool = False,
    run: Callable[..., list[Any]] | None = None,
) -> TreePlan:
    """List and check an archive tree (file headers, not pixels) and plan the store.

    ``run(fn, blocks, description, weights)`` runs the checks in parallel (e.g.
    :func:`eossl.parallel.run_blocks`); serial when ``None``.
    """
    import rasterio

    if layout not in LAYOUTS:
        raise UserError(f"unknown layout {layout!r}; choose one of {', '.join(LAYOUTS)}")
    root = _resolve_root(Path(src).expanduser().resolve(), layout)
    location_dirs = _subdirs(root)
    if not location_dirs:
        raise UserError(f"{root}: no location folders; expected {root}/<id>/<product>/...")
    multiband = layout == "ssl4eo-l"
    card, height, width, grid_band, dtype = _reference(
        root, location_dirs, layout, sensor, multiband, skip_bad
    )
    if size is not None:
        height = width = size
    nodata: float | None = card.nodata
    if dtype.kind == "f":
        nodata = float("nan") if nodata is None else float(nodata)

    def check(dirs: Sequence[Path]) -> tuple[list[Location], list[BadFile], list[Any]]:
        with rasterio.Env():
            return _check(dirs)

    def _check(dirs: Sequence[Path]) -> tuple[list[Location], list[BadFile], str]:
        locs, bad, keys = [], [], []
        stems: dict[tuple[str, ...], tuple[str, ...]] = {}  # one tuple per distinct naming
        for loc_dir in dirs:
            scenes = []
            products = _subdirs(loc_dir)
            if not products:
                empty = BadFile(str(loc_dir), "no product folders")
                if not skip_bad:
                    raise bad_file_error(empty)
                bad.append(empty)
            for product in products:
                try:
                    scene, k = _scene(product, card, multiband, dtype)
                except BadFileError as err:
                    if not skip_bad:
                        raise bad_file_error(err.bad) from None
                    bad.append(err.bad)
                    continue
                scenes.append(replace(scene, stems=stems.setdefault(scene.stems, scene.stems)))
                keys.append([loc_dir.name, scene.name, scene.time, k])
            if scenes:
                scenes.sort(key=lambda s: (s.time, s.name))
                locs.append(Location(loc_dir.name, tuple(scenes)))
        return locs, bad, fingerprint(keys)  # a digest, so the plan stays small

    step = 64
    chunks = [location_dirs[i : i + step] for i in range(0, len(location_dirs), step)]
    if run is None:
        results = [check(c) for c in chunks]
    else:
        results = run(check, chunks, f"scan {layout}", [len(c) for c in chunks], "locations")
    locations = [loc for r in results for loc in r[0]]
    skipped = [b for r in results for b in r[1]]
    inputs = [r[2] for r in results]
    shared: dict[tuple[str, ...], tuple[str, ...]] = {}
    locations = [
        Location(
            loc.id,
            tuple(replace(s, stems=shared.setdefault(s.stems, s.stems)) for s in loc.scenes),
        )
        for loc in locations
    ]
    if not locations:
        raise UserError(f"{root}: no readable location; see the skipped files above")
    return TreePlan(
        layout=layout,
        root=str(root),
        sensor=card,
        band_names=card.band_names,
        dtype=str(dtype),
        height=height,
        width=width,
        nodata=nodata,
        resampling=resampling,
        multiband=multiband,
        grid_band=grid_band,
        locations=locations,
        times=max(len(loc.scenes) for loc in locations),
        skipped=skipped,
        inputs=inputs,
    )
