"""Scan an archive tree (SSL4EO-S12 v1.0, SSL4EO-L, SeCo): list and check it, plan the store.

:func:`scan_tree` finds the archive inside SRC, takes the sensor from the band files
(SSL4EO-L: the band count and product id), checks every product folder's name and file
headers (not pixels) and returns a :class:`~eossl.data.convert.trees.TreePlan`.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np

from eossl.data.convert.rasters import (
    TIF_SUFFIXES,
    BadFile,
    BadFileError,
    bad_file_error,
    error_text,
    file_key,
    fingerprint,
    parse_date,
    subdirs,
)
from eossl.data.convert.trees import LAYOUTS, Location, Scene, TreePlan
from eossl.errors import UserError
from eossl.sensors import Sensor, get_sensor, list_sensors

__all__ = ["scan_tree"]

_WRAPPER_PREFIX = {"ssl4eo-l": "ssl4eo_l_", "seco": "seasonal_contrast_"}
# SSL4EO-L product ids start with the sensor: LT04/LT05 (TM), LE07 (ETM+), LC08/LC09 (OLI).
_LANDSAT = {
    ("LT", 7): "landsat-tm-toa",
    ("LE", 9): "landsat-etm-toa",
    ("LE", 6): "landsat-etm-sr",
    ("LC", 11): "landsat-oli-tirs-toa",
    ("LC", 7): "landsat-oli-sr",
}


def _normalise_band(stem: str) -> str:
    """File stem to card band name: ``B1`` -> ``B01``, ``B8A`` stays, ``VV`` -> ``vv``."""
    m = re.fullmatch(r"[Bb](\d{1,2})([Aa]?)", stem)
    if m:
        number, a = int(m.group(1)), m.group(2).upper()
        return f"B{number}A" if a else f"B{number:02d}"
    if stem.lower() in ("vv", "vh", "hh", "hv"):
        return stem.lower()
    return stem


def _tifs(path: Path) -> list[Path]:
    return sorted(p for p in path.iterdir() if p.suffix.lower() in TIF_SUFFIXES and p.is_file())


def _resolve_root(src: Path, layout: str) -> Path:
    """SRC itself, or the single archive folder inside it (``s2c``, ``ssl4eo_l_oli_sr``, ...)."""
    if not src.is_dir():
        raise UserError(f"{src}: no such folder; pass the folder that holds the location folders")
    names = {p.name for p in subdirs(src)}
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
        for product in subdirs(loc_dir):
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
    location_dirs = subdirs(root)
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
            products = subdirs(loc_dir)
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
