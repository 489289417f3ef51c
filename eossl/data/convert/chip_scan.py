"""Scan a folder of one's own scenes (one GeoTIFF per date) and plan its chips.

:func:`scan_geotiff` reads every scene's header, puts the scenes in time order on the
grid of the reference scene (the earliest), reads each scene once in strips to measure
the nodata of every chip, and returns a :class:`~eossl.data.convert.chips.ChipPlan`.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from eossl.data.convert.chips import ChipPlan, GeotiffScene, positions
from eossl.data.convert.rasters import (
    TIF_SUFFIXES,
    BadFile,
    BadFileError,
    bad_file_error,
    error_text,
    file_key,
    parse_date,
    tag_date,
)
from eossl.data.io.schema import natural_key
from eossl.errors import UserError
from eossl.sensors import Sensor, get_sensor, list_sensors

__all__ = ["scan_geotiff"]

_OUT_DTYPES = ("uint16", "int16", "uint8", "int32", "uint32")


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
        (p for p in root.iterdir() if p.suffix.lower() in TIF_SUFFIXES and p.is_file()),
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
        _say_same_dates(headers)
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


def _say_same_dates(headers: list[dict[str, Any]]) -> None:
    """One notice when scenes share a date: they stay separate timestamps of equal time."""
    from collections import Counter

    from eossl.console import console

    counts = Counter(str(h["time"].astype("datetime64[D]")) for h in headers)
    shared = {day: n for day, n in counts.items() if n > 1}
    if shared:
        days = ", ".join(f"{day} ({n} scenes)" for day, n in sorted(shared.items())[:3])
        more = f" and {len(shared) - 3} more dates" if len(shared) > 3 else ""
        console(stderr=True).print(
            f"eossl: scenes share a date: {days}{more}; each stays a timestamp of its own "
            "(equal times); merge or remove duplicates if they are the same acquisition"
        )


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
    rows = positions(plan.grid_shape[0], plan.chip, plan.stride)
    cols = positions(plan.grid_shape[1], plan.chip, plan.stride)
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
