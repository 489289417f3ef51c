"""A user's own multi-band scenes (one GeoTIFF per date), tiled into chips.

Every scene is read on the grid of the reference scene (the earliest one):
scenes on other grids are reprojected onto it. The grid is cut into
``chip x chip`` windows every ``stride`` pixels; the last row and column of
chips are aligned with the grid's edge, so every pixel is covered. A chip is one
sample; its timestamps are the scenes, in time order. A (chip, scene) pair whose
nodata fraction exceeds ``max_nodata`` is left out (NaT, nodata), and a chip left
with no scene is dropped. An optional label raster is sampled onto the same chips.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
from collections.abc import Callable, Iterator
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
    invalid_pixels,
    natural_key,
    parse_date,
    tag_date,
)
from eossl.errors import UserError
from eossl.sensors import Sensor, get_sensor, list_sensors

__all__ = ["ChipPlan", "GeotiffScene", "scan_geotiff"]

_TIF = (".tif", ".tiff")
_OUT_DTYPES = ("uint16", "int16", "uint8", "int32", "uint32")


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
        fill = 0 if self.nodata is None else self.nodata
        out: dict[str, Any] = {
            "bands": np.full((n, t, c, s, s), fill, self.dtype),
            "cloud_mask": np.full((n, t, s, s), 6, np.uint8),
            "time_": np.full((n, t), np.datetime64("NaT"), "datetime64[ns]"),
            "sample_id": np.full((n, t), "", dtype=object),
            "file_id": np.full((n, t), "", dtype=object),
        }
        keep = self.keep[start:stop]
        bad: list[BadFile] = []
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
        """Source values to stored values, and the nodata pixels."""
        invalid = invalid_pixels(sub, nodata)
        if self.scale is not None:
            info = np.iinfo(self.dtype)
            value = np.rint(sub.astype(np.float64) * self.scale)
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
            _positions(self.grid_shape[0], self.chip, self.stride),
            _positions(self.grid_shape[1], self.chip, self.stride),
        )
        out = np.zeros((len(rows), len(cols)), np.float32)
        width = self.grid_shape[1]
        nodata = self._read_nodata(scene)
        with self._open(scene.path, scene.same_grid, self.resampling) as src:
            for a, row in enumerate(rows):
                strip = src.read(window=Window(0, row, width, self.chip))
                counts = np.concatenate(
                    [[0], np.cumsum(invalid_pixels(strip, nodata).sum(axis=0))]
                )
                for b, col in enumerate(cols):
                    out[a, b] = (counts[col + self.chip] - counts[col]) / self.chip**2
        return out


def _positions(n: int, chip: int, stride: int) -> list[int]:
    """Chip offsets along one axis; the last chip is aligned with the edge."""
    if n < chip:
        return []
    out = list(range(0, n - chip + 1, stride))
    if out[-1] != n - chip:
        out.append(n - chip)
    return out


def _same_grid(head: dict[str, Any], ref: dict[str, Any]) -> bool:
    """Whether a raster (header facts) lies on the reference grid, pixel for pixel."""
    a, b = head["transform"], ref["transform"]
    return (
        head["crs"] == ref["crs"]
        and head["shape"] == ref["shape"]
        and a.almost_equals(b, precision=1e-9 * max(1.0, abs(b.a)))
    )


def _header(path: Path, nodata: float | None) -> dict[str, Any]:
    """Header facts of one scene; raises BadFileError."""
    import rasterio

    try:
        with rasterio.open(path) as src:
            when = parse_date(path.stem)
            if when is None:
                when = tag_date({**src.tags(), **src.tags(ns="IMAGE_STRUCTURE")})
            return {
                "path": str(path),
                "time": when,
                "count": src.count,
                "dtype": np.dtype(src.dtypes[0]),
                "crs": src.crs,
                "transform": src.transform,
                "shape": (src.height, src.width),
                "nodata": src.nodata if nodata is None else nodata,
                "descriptions": list(src.descriptions),
                "key": file_key(path),
            }
    except Exception as err:
        raise BadFileError(path, f"cannot open ({error_text(err)})") from err


def _band_names(ref: dict[str, Any], sensor: str | None) -> tuple[list[str], Sensor | None]:
    count = ref["count"]
    if sensor:
        card = get_sensor(sensor)
        if card.num_bands != count:
            raise UserError(
                f"{ref['path']}: has {count} bands but sensor {card.name!r} has "
                f"{card.num_bands}; pass the matching --sensor or none"
            )
        return card.band_names, card
    names = [str(d) if d else "" for d in ref["descriptions"]]
    if not all(names) or len(set(names)) != count:
        names = [f"B{i + 1}" for i in range(count)]
    lowered = [n.lower() for n in names]
    for card in list_sensors():
        if [b.lower() for b in card.band_names] == lowered:
            return card.band_names, card
    return names, None


def scan_geotiff(
    src: str | os.PathLike,
    chip: int = 264,
    stride: int | None = None,
    labels: str | os.PathLike | None = None,
    max_nodata: float = 0.5,
    nodata: float | None = None,
    scale: float | None = None,
    dtype: str = "uint16",
    sensor: str | None = None,
    resampling: str = "nearest",
    skip_bad: bool = False,
    run: Callable[..., list[Any]] | None = None,
) -> ChipPlan:
    """Check the scenes of a folder, find each chip's nodata, and plan the store.

    Reads every scene once (in strips) to measure nodata per chip; ``run`` runs
    the per-scene work in parallel (serial when ``None``).
    """
    root = Path(src).expanduser().resolve()
    if not root.is_dir():
        raise UserError(f"{root}: no such folder; pass a folder of GeoTIFF scenes")
    stride = stride or chip
    if chip < 1 or stride < 1:
        raise UserError(f"--chip-size and --stride must be at least 1, got {chip} and {stride}")
    if not 0.0 <= max_nodata <= 1.0:
        raise UserError(f"--max-nodata must be a fraction in [0, 1], got {max_nodata}")
    if dtype not in _OUT_DTYPES:
        raise UserError(f"--dtype must be one of {', '.join(_OUT_DTYPES)}, got {dtype!r}")
    label_path = Path(labels).expanduser().resolve() if labels else None
    paths = sorted(
        (p for p in root.iterdir() if p.suffix.lower() in _TIF and p.is_file()),
        key=lambda p: natural_key(p.name),
    )
    paths = [p for p in paths if label_path is None or p.resolve() != label_path]
    if not paths:
        raise UserError(f"{root}: no GeoTIFF scenes (*.tif, *.tiff) found")
    skipped: list[BadFile] = []

    def fail(bad: BadFile) -> None:
        if not skip_bad:
            raise bad_file_error(bad)
        skipped.append(bad)

    headers = []
    for path in paths:
        try:
            head = _header(path, nodata)
        except BadFileError as err:
            fail(err.bad)
            continue
        headers.append(head)
    if not headers:
        raise UserError(f"{root}: no readable scene; see the skipped files above")
    dated = any(h["time"] is not None for h in headers)
    if dated:  # an undated scene cannot be put in time among dated ones
        for head in [h for h in headers if h["time"] is None]:
            fail(
                BadFile(
                    head["path"],
                    "no date while other scenes have one: name it with YYYYMMDD or set "
                    "TIFFTAG_DATETIME (a folder of undated scenes converts without dates)",
                )
            )
            headers.remove(head)
        headers.sort(key=lambda h: (h["time"], natural_key(Path(h["path"]).name)))
    else:  # no dates at all: timestamps in name order, no time_ (said by convert)
        headers.sort(key=lambda h: natural_key(Path(h["path"]).name))
    ref = headers[0]
    usable = [ref]
    for head in headers[1:]:
        if head["count"] != ref["count"]:
            fail(
                BadFile(
                    head["path"], f"has {head['count']} bands, {ref['path']} has {ref['count']}"
                )
            )
            continue
        if head["crs"] is None and ref["crs"] is not None:
            fail(BadFile(head["path"], "has no CRS, so it cannot be put on the reference grid"))
            continue
        usable.append(head)
    src_dtype = ref["dtype"]
    if scale is not None:
        if src_dtype.kind != "f":
            raise UserError(
                f"{ref['path']}: --scale turns float reflectance into DN, but the scenes are "
                f"already {src_dtype}; drop --scale"
            )
        out_dtype, out_nodata = dtype, 0.0 if nodata is None else float(nodata)
    elif src_dtype.kind == "f":
        out_dtype, out_nodata = "float32", float("nan")
    else:
        out_dtype = str(src_dtype)
        out_nodata = ref["nodata"] if ref["nodata"] is not None else None
    for head in list(usable[1:]):
        if head["dtype"] != src_dtype and not np.can_cast(head["dtype"], src_dtype, "safe"):
            fail(BadFile(head["path"], f"dtype {head['dtype']} does not fit {src_dtype}"))
            usable.remove(head)
    shape = ref["shape"]
    if shape[0] < chip or shape[1] < chip:
        raise UserError(
            f"{ref['path']}: {shape[0]}x{shape[1]} px is smaller than --chip-size {chip}"
        )
    band_names, card = _band_names(ref, sensor)
    scenes = []
    for head in usable:
        scenes.append(
            GeotiffScene(
                path=head["path"],
                time=str(head["time"].astype("datetime64[s]")) if dated else None,
                nodata=None if head["nodata"] is None else float(head["nodata"]),
                same_grid=_same_grid(head, ref),
            )
        )
    labels_same_grid = True
    if label_path is not None:
        labels_same_grid = _check_labels(label_path, ref)
    plan = ChipPlan(
        root=str(root),
        scenes=scenes,
        band_names=band_names,
        sensor=card,
        dtype=out_dtype,
        scale=scale,
        nodata=out_nodata,
        chip=chip,
        stride=stride,
        max_nodata=max_nodata,
        resampling=resampling,
        crs_wkt=ref["crs"].to_wkt() if ref["crs"] is not None else None,
        transform=tuple(ref["transform"])[:6],
        grid_shape=shape,
        chips=[],
        keep=np.zeros((0, len(scenes)), bool),
        labels=str(label_path) if label_path else None,
        labels_same_grid=labels_same_grid,
        dated=dated,
        skipped=skipped,
        inputs=[h["key"] for h in usable] + ([file_key(label_path)] if label_path else []),
    )
    _plan_chips(plan, skip_bad, run)
    return plan


def _check_labels(path: Path, ref: dict[str, Any]) -> bool:
    import rasterio

    try:
        with rasterio.open(path) as src:
            if src.count != 1:
                raise UserError(f"{path}: labels need one band, found {src.count}")
            facts = {"crs": src.crs, "transform": src.transform, "shape": src.shape}
            return _same_grid(facts, ref)
    except UserError:
        raise
    except Exception as err:
        raise UserError(f"{path}: cannot open the labels ({err})") from err


def _plan_chips(plan: ChipPlan, skip_bad: bool, run: Callable[..., list[Any]] | None) -> None:
    """Measure nodata per chip and scene; keep the chips and scenes under ``max_nodata``."""

    def measure(j: int) -> tuple[int, np.ndarray | None, BadFile | None]:
        try:
            return j, plan.nodata_fractions(j), None
        except Exception as err:
            bad = BadFile(plan.scenes[j].path, f"cannot read ({error_text(err)})")
            if not skip_bad:
                raise bad_file_error(bad) from err
            return j, None, bad

    indices = list(range(len(plan.scenes)))
    if run is None:
        results = [measure(j) for j in indices]
    else:
        results = run(measure, indices, "scan geotiff (nodata)", None, "scenes")
    good = [(j, frac) for j, frac, bad in results if frac is not None]
    plan.skipped.extend(bad for _, _, bad in results if bad is not None)
    if not good:
        raise UserError(f"{plan.root}: no readable scene; see the skipped files above")
    plan.scenes = [plan.scenes[j] for j, _ in good]
    fractions = np.stack([frac for _, frac in good], axis=-1)  # (rows, cols, scenes)
    rows = _positions(plan.grid_shape[0], plan.chip, plan.stride)
    cols = _positions(plan.grid_shape[1], plan.chip, plan.stride)
    keep = fractions <= plan.max_nodata
    chips, kept = [], []
    for a, row in enumerate(rows):
        for b, col in enumerate(cols):
            if keep[a, b].any():
                chips.append((row, col))
                kept.append(keep[a, b])
    total = len(rows) * len(cols)
    plan.chips = chips
    plan.keep = np.array(kept, bool).reshape(len(chips), len(plan.scenes))
    plan.dropped = {
        "chips": total - len(chips),
        "chip_dates": int((~keep).sum() - (total - len(chips)) * len(plan.scenes)),
        "candidate_chips": total,
    }
    if not chips:
        raise UserError(
            f"{plan.root}: every chip has more than --max-nodata {plan.max_nodata} nodata; "
            "raise --max-nodata or check the nodata value (--nodata)"
        )
