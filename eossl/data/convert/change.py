"""Two-date change archives (OSCD's release layout), tiled into pairs with a change mask.

A city folder holds ``imgs_1/`` and ``imgs_2/`` (one GeoTIFF per band at its native
10/20/60 m resolution, ``<tile>_B01.tif`` ...), or the ``imgs_1_rect/`` and
``imgs_2_rect/`` folders already on the 10 m grid (preferred when present, as TorchGeo's
``OSCD`` reads them), and ``dates.txt`` (``date_1: YYYYMMDD``). The change mask
(``<city>-cm.tif``: 1 no change, 2 change) lies in ``<city>/cm/`` or in a sibling
``... Labels/<city>/cm/`` folder; a city without one is converted unlabelled. A mask of
0 and 1, or of 0 and 255 (a binary image, as OSCD's ``cm.png``), reads as 0 no change
and 1 or 255 change, with a notice (:func:`mask_coding`); ``--mask-coding`` names the
coding instead of inferring it.

Every band of both dates is resampled, by georeference, onto the first date's finest
grid: the change mask's. A second date a few pixels smaller than the first (three OSCD
cities) covers the same footprint on a coarser grid, so it is resampled onto it too. The
grid is cut into ``chip x chip`` tiles every ``stride`` pixels (the last row and column
aligned with the edge). A tile is one sample with two timestamps, and its ``label`` is
the change mask of the pair: 0 no change, 1 change, 255 unlabelled (docs/schema.md).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

from eossl.data.convert.chips import positions
from eossl.data.convert.patch_sources import band_key
from eossl.data.convert.rasters import (
    TIF_SUFFIXES,
    BadFile,
    BadFileError,
    bad_file_error,
    centre_lonlat,
    epsg_of,
    error_text,
    file_key,
    invalid_pixels,
    parse_date,
    subdirs,
)
from eossl.data.io.schema import empty_block
from eossl.errors import UserError
from eossl.sensors import Sensor, get_sensor, list_sensors

__all__ = ["ChangePlan", "City", "city_of", "scan_change"]

LABEL_CLASSES = ["no change", "change"]
_BAND = re.compile(r"(?:^|_)(B\d{1,2}A?)$", re.IGNORECASE)
_TILE_ID = re.compile(r"_y\d+_x\d+$")


def city_of(sample_id: str) -> str:
    """The city of a tile's ``sample_id`` (``<city>_y<row>_x<col>``)."""
    return _TILE_ID.sub("", str(sample_id))


@dataclass(frozen=True)
class City:
    """One city: the band files of both dates (card order), dates, mask and grid."""

    name: str
    files: tuple[tuple[str, ...], tuple[str, ...]]
    times: tuple[str, str]
    label: str | None
    coding: tuple[int, int]  # the mask's values of no change and of change
    crs_wkt: str | None
    transform: tuple[float, ...]  # the first date's finest grid (affine a, b, c, d, e, f)
    shape: tuple[int, int]
    tiles: tuple[tuple[int, int], ...]  # (row, col) of each tile's top-left pixel
    dates_from_names: bool = False  # no dates.txt: the dates in the band files' names
    labelled: float = 1.0  # the share of the mask's pixels that say change or no change


@dataclass
class ChangePlan:
    """What to write from a change archive, and how to read one block of tiles."""

    root: str
    cities: list[City]
    band_names: list[str]
    sensor: Sensor
    chip: int
    stride: int
    resampling: str
    tiles: list[tuple[int, int, int]]  # (city index, row, col)
    dtype: str = "uint16"
    nodata: float | None = 0
    skipped: list[BadFile] = field(default_factory=list)
    inputs: list[Any] = field(default_factory=list)

    @property
    def samples(self) -> int:
        """Number of tiles written."""
        return len(self.tiles)

    @property
    def times(self) -> int:
        """Two timestamps per tile: the pair."""
        return 2

    @property
    def height(self) -> int:
        """Tile height."""
        return self.chip

    @property
    def width(self) -> int:
        """Tile width."""
        return self.chip

    @property
    def labelled(self) -> bool:
        """Whether any city has a change mask."""
        return any(c.label is not None for c in self.cities)

    def part(self, start: int, stop: int) -> ChangePlan:
        """The plan of tiles ``start:stop`` only: what one block's worker needs."""
        return replace(self, tiles=self.tiles[start:stop], skipped=[], inputs=[])

    def attrs(self) -> dict[str, Any]:
        """Store attributes that describe the source and the pair label."""
        return {
            "source_layout": "oscd",
            "source": self.root,
            "sensor": self.sensor.name,
            "product": self.sensor.product,
            "scale": 1.0 / self.sensor.quantification if self.sensor.quantification else 1.0,
            "offset": 0.0,
            "chip_size": self.chip,
            "stride": self.stride,
            "resampling": self.resampling,
            "cities": [c.name for c in self.cities],
            "label_kind": "change",
            "label_times": [0, 1],
            "label_classes": LABEL_CLASSES,
        }

    def describe(self) -> dict[str, Any]:
        """Everything that determines the output, for the resume fingerprint."""
        return {
            "layout": "oscd",
            "cities": [
                [c.name, c.files, c.times, c.label, list(c.coding), c.transform, c.shape]
                for c in self.cities
            ],
            "bands": self.band_names,
            "chip": self.chip,
            "stride": self.stride,
            "resampling": self.resampling,
            "inputs": self.inputs,
        }

    # -- reading -------------------------------------------------------------------------

    def read_block(self, start: int, stop: int, skip_bad: bool) -> tuple[dict, list[BadFile]]:
        """Arrays for tiles ``start:stop``; a city that fails to read is skipped or raised."""
        tiles = self.tiles[start:stop]
        n, c, s = len(tiles), len(self.band_names), self.chip
        out: dict[str, Any] = empty_block(n, 2, c, s, s, self.dtype, self.nodata)
        out["label"] = np.full((n, s, s), 255, np.uint8)
        bad: list[BadFile] = []
        self.unjudged: dict[str, list[int]] = {}  # city: [labelled px lost to nodata, labelled]
        for k in sorted({t[0] for t in tiles}):
            city = self.cities[k]
            try:
                dates = [self._read_date(city, j) for j in (0, 1)]
                mask = self._read_label(city)
            except BadFileError as err:
                if not skip_bad:
                    raise bad_file_error(err.bad) from err
                bad.append(err.bad)
                continue
            for i, (of_city, row, col) in enumerate(tiles):
                if of_city != k:
                    continue
                window = (slice(row, row + s), slice(col, col + s))
                unjudged = np.zeros((s, s), bool)  # nodata in either date: no change label
                for j, image in enumerate(dates):
                    sub = image[(slice(None), *window)]
                    invalid = invalid_pixels(sub, self.nodata)
                    unjudged |= invalid
                    out["bands"][i, j] = sub
                    out["cloud_mask"][i, j] = np.where(invalid, 6, 0)
                    out["time_"][i, j] = np.datetime64(city.times[j], "ns")
                    out["sample_id"][i, j] = f"{city.name}_y{row}_x{col}"
                    out["file_id"][i, j] = f"{city.name}/{Path(city.files[j][0]).parent.name}"
                if mask is not None:
                    out["label"][i] = np.where(unjudged, 255, mask[window])
                    labelled = mask[window] != 255
                    lost = self.unjudged.setdefault(city.name, [0, 0])
                    lost[0] += int((unjudged & labelled).sum())
                    lost[1] += int(labelled.sum())
        out.update(self._coords(tiles))
        out["sample_id"] = out["sample_id"].astype(str)
        out["file_id"] = out["file_id"].astype(str)
        return out, bad

    def _read_date(self, city: City, j: int) -> np.ndarray:
        """Date ``j`` of a city, every band on the city's grid: (band, y, x)."""
        import rasterio
        from rasterio.crs import CRS
        from rasterio.enums import Resampling
        from rasterio.transform import Affine
        from rasterio.warp import reproject

        out = np.zeros((len(self.band_names), *city.shape), self.dtype)
        crs = CRS.from_wkt(city.crs_wkt) if city.crs_wkt else None
        for b, path in enumerate(city.files[j]):
            try:
                with rasterio.open(path) as src:
                    if src.shape == city.shape and tuple(src.transform)[:6] == city.transform:
                        out[b] = src.read(1)
                        continue
                    reproject(
                        rasterio.band(src, 1),
                        out[b],
                        src_transform=src.transform,
                        src_crs=src.crs or crs,
                        dst_transform=Affine(*city.transform),
                        dst_crs=crs,
                        dst_nodata=0,
                        resampling=Resampling[self.resampling],
                    )
            except Exception as err:
                raise BadFileError(path, f"cannot read ({error_text(err)})") from err
        if self.nodata is not None:  # one band blank where the others are not: a bad file
            blank = [bool((band == self.nodata).all()) for band in out]
            if any(blank) and not all(blank):
                raise BadFileError(
                    city.files[j][blank.index(True)],
                    f"holds only nodata ({self.nodata:g}) where its date's other bands hold data",
                )
        return out

    def _read_label(self, city: City) -> np.ndarray | None:
        """The change mask as 0 no change, 1 change, 255 unlabelled; None without one."""
        if city.label is None:
            return None
        import rasterio

        try:
            with rasterio.open(city.label) as src:
                data = src.read(1)
        except Exception as err:
            raise BadFileError(city.label, f"cannot read ({error_text(err)})") from err
        if data.shape != city.shape:
            raise BadFileError(
                city.label,
                f"change mask is {data.shape[1]}x{data.shape[0]} px, the first date "
                f"{city.shape[1]}x{city.shape[0]}",
            )
        unchanged, changed = city.coding
        return np.select([data == unchanged, data == changed], [0, 1], 255).astype(np.uint8)

    def _coords(self, tiles: list[tuple[int, int, int]]) -> dict[str, np.ndarray]:
        from rasterio.crs import CRS

        s = np.arange(self.chip) + 0.5
        x_, y_, crs = [], [], []
        lon, lat = np.full(len(tiles), np.nan), np.full(len(tiles), np.nan)
        for k in sorted({t[0] for t in tiles}):
            city = self.cities[k]
            a, _, c, _, e, f = city.transform[:6]
            rows = [i for i, t in enumerate(tiles) if t[0] == k]
            ccrs = CRS.from_wkt(city.crs_wkt) if city.crs_wkt else None
            xs = [c + (tiles[i][2] + self.chip / 2) * a for i in rows]
            ys = [f + (tiles[i][1] + self.chip / 2) * e for i in rows]
            lon[rows], lat[rows] = centre_lonlat(ccrs, np.array(xs), np.array(ys))
        for k, row, col in tiles:
            city = self.cities[k]
            a, _, c, _, e, f = city.transform[:6]
            x_.append(c + (col + s) * a)
            y_.append(f + (row + s) * e)
            crs.append(epsg_of(CRS.from_wkt(city.crs_wkt) if city.crs_wkt else None))
        shape = (0, self.chip)
        return {
            "x_": np.stack(x_) if x_ else np.zeros(shape),
            "y_": np.stack(y_) if y_ else np.zeros(shape),
            "crs": np.asarray(crs, np.int64),
            "center_lon": lon,
            "center_lat": lat,
        }


# -- scanning ----------------------------------------------------------------------------


def _date_folder(city: Path, j: int) -> Path | None:
    """``imgs_<j>_rect`` (on the 10 m grid) when present, else ``imgs_<j>``."""
    for name in (f"imgs_{j}_rect", f"imgs_{j}"):
        if (city / name).is_dir():
            return city / name
    return None


def _band_files(folder: Path) -> dict[str, str]:
    """``{band key: path}`` of the ``..._B01.tif`` / ``B01.tif`` files in a date folder."""
    found: dict[str, str] = {}
    for path in sorted(folder.iterdir()):
        m = _BAND.search(path.stem)
        if path.suffix.lower() in TIF_SUFFIXES and m:
            key = band_key(m.group(1))
            if key in found:
                raise BadFileError(
                    folder,
                    f"two files of band {m.group(1)} ({Path(found[key]).name}, {path.name}); "
                    "keep one",
                )
            found[key] = str(path)
    return found


def _sensor_for(keys: set[str], sensor: str | None, where: Path) -> Sensor:
    """The card whose bands the files of both dates hold (each date is checked after)."""
    cards = [c for c in list_sensors() if {band_key(b) for b in c.band_names} == keys]
    if sensor is not None:
        card = get_sensor(sensor)
        extra = sorted(keys - {band_key(b) for b in card.band_names})
        if extra:  # e.g. L1C files (with B10) converted as L2A: a product they are not
            fits = f"; the files fit {cards[0].name}" if cards else ""
            raise UserError(
                f"{where}: band files {', '.join(k.upper() for k in extra)} are not bands of "
                f"--sensor {card.name}{fits} (remove those files to keep {card.name})"
            )
        return card
    if not cards:
        raise UserError(
            f"{where}: band files {', '.join(sorted(keys))} match no sensor card; pass --sensor"
        )
    return cards[0]


def _dates(city: Path, folders: list[Path]) -> tuple[str, str, bool]:
    """The two dates: ``dates.txt`` (``date_1: YYYYMMDD``), else the band file names.

    A ``dates.txt`` that lacks a date, or holds one that does not parse, is a bad file,
    not a reason to guess.
    The last item says whether a date came from the names.
    """
    found: dict[int, np.datetime64] = {}
    text = city / "dates.txt"
    if text.is_file():
        lines = text.read_text(encoding="utf-8-sig", errors="replace").splitlines()
        for line in lines:
            m = re.match(r"\s*date_([12])\s*:\s*(\S*)", line)
            if not m:
                continue
            if int(m.group(1)) - 1 in found:
                raise BadFileError(text, f"date_{m.group(1)} is given twice; keep one")
            if (d := parse_date(m.group(2))) is None:
                raise BadFileError(
                    text, f"date_{m.group(1)} {m.group(2)!r} is not a date (YYYYMMDD, 1678-2261)"
                )
            found[int(m.group(1)) - 1] = d
        if len(found) < 2:  # a dates.txt that does not say both dates is a bad file too
            lacking = " and ".join(f"'date_{j + 1}: YYYYMMDD'" for j in (0, 1) if j not in found)
            first = next((ln.strip() for ln in lines if ln.strip()), "")
            raise BadFileError(text, f"holds no line {lacking} (its first line: {first[:60]!r})")
    named = len(found) < 2
    for j, folder in enumerate(folders):
        if j not in found:
            names = [p.name for p in folder.iterdir()]
            dates = [d for n in names if (d := parse_date(n)) is not None]
            if dates:
                found[j] = min(dates)
    if len(found) < 2:
        raise BadFileError(city, "no dates (dates.txt 'date_1: YYYYMMDD', or dated file names)")
    where = text if not named else city
    day = [np.datetime_as_string(d, unit="D") for d in (found[0], found[1])]
    if found[0] > found[1]:
        raise BadFileError(
            where, f"date_1 ({day[0]}) is after date_2 ({day[1]}): imgs_1 is the earlier date"
        )
    if found[0] == found[1]:
        raise BadFileError(
            where, f"date_1 and date_2 are both {day[0]}: a change pair needs two dates"
        )
    return str(found[0]), str(found[1]), named


OSCD_CODING = (1, 2)  # OSCD's <city>-cm.tif: 1 no change, 2 change; 0 and 255 unlabelled
MASK_CODINGS = {"oscd": OSCD_CODING, "0-255": (0, 255), "0-1": (0, 1)}  # --mask-coding
_CODING_VALUES = {"oscd": {0, 1, 2, 255}, "0-255": {0, 255}, "0-1": {0, 1, 255}}


def mask_coding(values: set[int], where: str | Path, coding: str = "auto") -> tuple[int, int]:
    """The values of no change and change in a mask holding ``values``.

    ``coding`` names one of :data:`MASK_CODINGS`; ``auto`` infers it: OSCD's (1, 2) where
    there is a 2, or only 1 and 255; a binary image's (0, 255) where there are only 0 and
    255; else (0, 1), eossl's own (255 unlabelled).
    """
    if coding == "oscd" and {0, 1} <= values and 2 not in values:  # OSCD's 0 is unlabelled
        raise BadFileError(
            where,
            f"change mask values {sorted(values)} hold no 2 (OSCD's change) but 0 (OSCD's "
            "unlabelled): a 0/1 mask? pass --mask-coding 0-1",
        )
    if coding != "auto":
        if values - _CODING_VALUES[coding]:
            raise BadFileError(
                where,
                f"change mask values {sorted(values)} are not in the --mask-coding {coding} "
                f"values {sorted(_CODING_VALUES[coding])}",
            )
        return MASK_CODINGS[coding]
    if values - set().union(*_CODING_VALUES.values()):
        raise BadFileError(
            where,
            f"change mask values {sorted(values)}: expected OSCD's 1 (no change) and 2 "
            "(change), or 0 (no change) and 1 or 255 (change)",
        )
    if 2 in values or values <= {1, 255}:
        return OSCD_CODING
    return (0, 255) if values <= {0, 255} else (0, 1)


def _mask_coding(path: str | None, coding: str) -> tuple[tuple[int, int], float]:
    """The coding of the mask at ``path`` (OSCD's without one); the share it labels."""
    if path is None:
        return OSCD_CODING, 0.0
    import rasterio

    try:
        with rasterio.open(path) as src:
            count = src.count
            found, counts = np.unique(src.read(1), return_counts=True)
    except Exception as err:
        raise BadFileError(path, f"cannot read ({error_text(err)})") from err
    if count != 1:
        raise BadFileError(path, f"{count} bands; a change mask holds one")
    values = set(found.tolist())
    codes = mask_coding(values, path, coding)
    labelled = float(counts[np.isin(found, codes)].sum() / counts.sum())
    if codes == OSCD_CODING and 0 in values and 1 not in values and 2 in values:
        raise BadFileError(
            path,
            f"change mask values {sorted(values)} hold 0 and 2 but no 1: in OSCD's coding "
            f"(1 no change, 2 change) 0 is unlabelled, which leaves {1 - labelled:.1%} of it "
            "unlabelled; recode it as 1/2 or 0/1",
        )
    return codes, labelled


def _label_path(city: Path, labels_roots: list[Path]) -> str | None:
    """The city's change mask: in ``<city>/cm/`` or a labels folder's; two are refused."""
    found = []
    for folder in [city / "cm", *(root / city.name / "cm" for root in labels_roots)]:
        if folder.is_dir():
            tifs = sorted(p for p in folder.iterdir() if p.suffix.lower() in TIF_SUFFIXES)
            named = [p for p in tifs if p.stem.endswith("-cm")] or tifs
            if len(named) > 1:
                raise BadFileError(
                    folder,
                    f"{len(named)} change masks ({named[0].name}, {named[1].name} ...); keep one",
                )
            found += named
    once: dict[Path, Path] = {}
    for path in found:  # a folder reached twice (the source is a labels root too) counts once
        once.setdefault(path.resolve(), path)
    found = list(once.values())
    if len(found) > 1:
        raise BadFileError(
            city, f"change masks in {len(found)} folders ({', '.join(map(str, found))}); keep one"
        )
    return str(found[0]) if found else None


def _holds_masks(folder: Path) -> bool:
    """A labels folder (``<city>/cm/`` inside, no dates of its own), not a city."""
    if _date_folder(folder, 1) or _date_folder(folder, 2):
        return False
    return any((city / "cm").is_dir() for city in subdirs(folder))


def _city_folders(src: Path) -> tuple[list[Path], list[Path]]:
    """City folders (holding imgs_1 and imgs_2) and the label roots beside them."""
    roots = [src, *(p for p in subdirs(src) if "image" in p.name.lower())]
    for root in roots:
        cities = [p for p in subdirs(root) if _date_folder(p, 1) or _date_folder(p, 2)]
        if cities:  # every folder beside them is a city (one without dates: a bad one)
            cities = [p for p in subdirs(root) if not _holds_masks(p)]
            labels = [p for p in subdirs(root.parent) if "label" in p.name.lower()]
            labels += [p for p in subdirs(root) if _holds_masks(p) and p not in labels]
            return cities, labels
    raise UserError(
        f"{src}: no city folder with imgs_1/ and imgs_2/ (OSCD's layout: "
        "'Onera Satellite Change Detection dataset - Images/<city>/imgs_1/...')"
    )


def _scan_city(
    folder: Path,
    labels_roots: list[Path],
    sensor: str | None,
    chip: int,
    stride: int,
    coding: str = "auto",
) -> tuple[City, Sensor, str | None]:
    """A city's files, dates, grid and tiles; the card; a size notice or None."""
    dates = [_date_folder(folder, j) for j in (1, 2)]
    if dates[0] is None or dates[1] is None:
        held = [f"imgs_{j + 1}/" for j, d in enumerate(dates) if d is not None]
        raise BadFileError(
            folder,
            f"holds {' and '.join(held) or 'neither imgs_1/ nor imgs_2/'}; a city needs both",
        )
    found = [_band_files(d) for d in dates]
    for d, f in zip(dates, found, strict=True):
        if not f:
            raise BadFileError(d, "holds no band files (<tile>_B01.tif ...)")
    card = _sensor_for(set(found[0]) | set(found[1]), sensor, folder)
    files = []
    for d, f in zip(dates, found, strict=True):
        missing = [b for b in card.band_names if band_key(b) not in f]
        if missing:
            raise BadFileError(d, f"missing band file(s) {', '.join(missing)}")
        files.append(tuple(f[band_key(b)] for b in card.band_names))
    heads = []
    for paths in files:  # each date on the grid of its finest band, which every band covers
        every = [_head(p) for p in paths]
        finest = max(range(len(every)), key=lambda i: every[i][2][0] * every[i][2][1])
        heads.append(every[finest])
        cover = [_overlap(heads[-1], head) for head in every]
        short = [(p, c) for p, c in zip(paths, cover, strict=True) if c < MIN_BAND_COVER]
        if len(short) > len(paths) // 2:  # most bands fall short: the finest is the odd one
            raise BadFileError(
                paths[finest],
                f"reaches beyond its date's other bands (they cover {short[0][1]:.0%} of it)",
            )
        if short:
            raise BadFileError(
                short[0][0],
                f"covers {short[0][1]:.0%} of its date's footprint (the finest band's)",
            )
    crs, transform, shape, _ = heads[0]
    covered = _overlap(heads[0], heads[1])
    if covered < MIN_OVERLAP:
        raise BadFileError(
            dates[1],
            f"covers {covered:.0%} of the first date's footprint (at least "
            f"{MIN_OVERLAP:.0%} needed): the two dates are not of one place",
        )
    notice = folder.name if heads[1][2] != shape else None
    tiles = tuple(
        (r, c)
        for r in positions(shape[0], chip, stride)
        for c in positions(shape[1], chip, stride)
    )
    label = _label_path(folder, labels_roots)
    codes, labelled = _mask_coding(label, coding)
    label = label if labelled else None  # a mask that labels no pixel: an unlabelled city
    *times, named = _dates(folder, [d for d in dates if d is not None])
    city = City(
        name=folder.name,
        files=(files[0], files[1]),
        times=(times[0], times[1]),
        label=label,
        coding=codes,
        labelled=labelled,
        crs_wkt=crs.to_wkt() if crs else None,
        transform=transform,
        shape=shape,
        tiles=tiles,
        dates_from_names=named,
    )
    return city, card, notice


MIN_OVERLAP = 0.5  # of the first date's footprint that the second must cover
MIN_LABELLED = 0.99  # of a mask's pixels: a mask that labels fewer is said
MIN_BAND_COVER = 0.95  # of a date's footprint that each of its bands must cover


def _overlap(first: tuple, second: tuple) -> float:
    """The fraction of the first date's footprint that the second date covers."""
    from rasterio.transform import Affine, array_bounds
    from rasterio.warp import transform_bounds

    def bounds(head: tuple) -> tuple[float, float, float, float]:
        crs, transform, shape = head[:3]
        west, south, east, north = array_bounds(*shape, Affine(*transform))
        if crs is not None and first[0] is not None and crs != first[0]:
            return transform_bounds(crs, first[0], west, south, east, north)
        return west, south, east, north

    a, b = bounds(first), bounds(second)
    width = min(a[2], b[2]) - max(a[0], b[0])
    height = min(a[3], b[3]) - max(a[1], b[1])
    area = (a[2] - a[0]) * (a[3] - a[1])
    return max(width, 0) * max(height, 0) / area if area > 0 else 0.0


def _head(path: str) -> tuple[Any, tuple, tuple[int, int], str]:
    """A band file's CRS, transform, shape and dtype; it must hold one band of uint16 DN."""
    import rasterio

    try:
        with rasterio.open(path) as src:
            head = (src.crs, tuple(src.transform)[:6], src.shape, src.dtypes[0])
            count = src.count
    except Exception as err:
        raise BadFileError(path, f"cannot read ({error_text(err)})") from err
    if count != 1 or head[3] != "uint16":
        raise BadFileError(
            path,
            f"{count} band(s) of {head[3]}; a change archive's band file holds one band of "
            "uint16 DN (L1C x 10,000)",
        )
    return head


def scan_change(
    src: str | Path,
    *,
    sensor: str | None = None,
    chip: int = 128,
    stride: int | None = None,
    resampling: str = "nearest",
    skip_bad: bool = False,
    mask_coding: str = "auto",
) -> ChangePlan:
    """Find the cities of a change archive, check them, and plan their tiles.

    ``mask_coding`` is ``auto`` (inferred per mask, see :func:`mask_coding`) or one of
    :data:`MASK_CODINGS`, which every mask must then follow.
    """
    root = Path(src).expanduser()
    if root.is_file():
        raise UserError(f"{root}: a file, not the folder of a change archive (imgs_1/, imgs_2/)")
    if not root.is_dir():
        raise UserError(f"{root}: no such folder")
    if mask_coding != "auto" and mask_coding not in MASK_CODINGS:
        raise UserError(f"--mask-coding {mask_coding!r}: choose auto, {', '.join(MASK_CODINGS)}")
    stride = stride or chip
    folders, labels_roots = _city_folders(root)
    _say_unlisted(folders)
    cities: list[City] = []
    cards: list[Sensor] = []
    skipped: list[BadFile] = []
    notices, small = [], []
    for folder in folders:
        try:
            city, card, notice = _scan_city(
                folder, labels_roots, sensor, chip, stride, mask_coding
            )
        except BadFileError as err:
            if not skip_bad:
                raise bad_file_error(err.bad) from err
            skipped.append(err.bad)
            continue
        if cards and card.name != cards[0].name:
            raise UserError(
                f"{folder}: bands of sensor {card.name}, other cities {cards[0].name}; "
                "pass --sensor"
            )
        cards.append(card)
        if not city.tiles:
            small.append(f"{city.name} ({city.shape[1]}x{city.shape[0]} px)")
            continue
        cities.append(city)
        if notice:
            notices.append(notice)
    if not cities and skipped and not small:
        raise UserError(
            f"{root}: no city left to convert: {len(skipped)} skipped as bad (first: "
            f"{skipped[0].path}: {skipped[0].reason})"
        )
    if not cities:
        raise UserError(f"{root}: no city of at least {chip}x{chip} px to tile; lower --chip-size")
    _say_notices(cities, notices, small, chip, mask_coding)
    tiles = [(k, r, c) for k, city in enumerate(cities) for r, c in city.tiles]
    inputs = [file_key(p) for city in cities for date in city.files for p in date]
    inputs += [file_key(c.label) for c in cities if c.label is not None]
    return ChangePlan(
        root=str(root),
        cities=cities,
        band_names=list(cards[0].band_names),
        sensor=cards[0],
        chip=chip,
        stride=stride,
        resampling=resampling,
        tiles=tiles,
        nodata=cards[0].nodata if cards[0].nodata is not None else 0,
        skipped=skipped,
        inputs=inputs,
    )


def _say_unlisted(folders: list[Path]) -> None:
    """A notice for cities that OSCD's ``train.txt`` / ``test.txt`` list and the folder lacks."""
    if not folders:
        return
    from eossl.console import console

    held = {f.name for f in folders}
    for listing in sorted(folders[0].parent.glob("*.txt")):
        if listing.stem not in ("train", "test"):
            continue
        named = [c for c in re.split(r"[,\s]+", listing.read_text(errors="replace")) if c]
        absent = [c for c in named if c not in held]
        if absent:
            console(stderr=True).print(
                f"eossl: {listing.name} lists {', '.join(absent[:5])}"
                + (f" and {len(absent) - 5} more" if len(absent) > 5 else "")
                + f", not in {folders[0].parent} (a partial download?); converting the "
                f"{len(held)} cities there",
                soft_wrap=True,
            )


def _say_notices(
    cities: list[City], notices: list[str], small: list[str], chip: int, mask_coding: str
) -> None:
    """The one-line notices of a scan (printed whatever --quiet, which hides progress only)."""
    from eossl.console import console

    out = console(stderr=True)
    if notices:
        out.print(
            f"eossl: the second date is on another grid in {', '.join(notices)}: "
            "resampled by georeference onto the first date's (the change mask's)"
        )
    if small:
        out.print(f"eossl: left out, smaller than one {chip} px tile: {', '.join(small)}")
    named = [
        f"{c.name} ({c.times[0][:10]}, {c.times[1][:10]})" for c in cities if c.dates_from_names
    ]
    if named:
        out.print(
            f"eossl: no dates.txt (date_1: YYYYMMDD, date_2: ...) in {', '.join(named)}: "
            "dates taken from the band files' "
            "names, which in older Sentinel-2 names are processing dates; check them"
        )
    binary = [
        f"{c.name} ({c.coding[0]}/{c.coding[1]})"
        for c in cities
        if c.label is not None and c.coding != OSCD_CODING
    ]
    if binary and mask_coding == "auto":
        out.print(
            f"eossl: change masks not in OSCD's 1/2 coding in {', '.join(binary)}: read "
            "as no change/change"
        )
    partly = [
        f"{c.name} ({1 - c.labelled:.0%})"
        for c in cities
        if c.label is not None and c.labelled < MIN_LABELLED
    ]
    if partly:
        out.print(
            f"eossl: change masks leave pixels unlabelled (neither no change nor change in "
            f"their coding) in {', '.join(partly)}: those pixels are not scored"
        )
    unlabelled = [c.name for c in cities if c.label is None]
    if unlabelled:
        out.print(
            f"eossl: no change mask (cm/<city>-cm.tif), or one that labels no pixel, for "
            f"{', '.join(unlabelled)}: "
            "their tiles are unlabelled (255)"
        )
