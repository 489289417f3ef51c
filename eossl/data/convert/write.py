"""Convert a source to a store: scan it in its layout, then write the plan block by block.

Layouts: ``ssl4eo-s12``, ``ssl4eo-l`` and ``seco`` (see :mod:`eossl.data.convert.trees`),
``geotiff`` (see :mod:`eossl.data.convert.chips`) and ``patches`` (EuroSAT, BigEarthNet
or a folder of patches with scene labels; see :mod:`eossl.data.convert.patches`), and
``oscd`` (two-date change archives, tiled into pairs with a change mask; see
:mod:`eossl.data.convert.change`), and ``zarr`` (stores in the schema, e.g. the v1.1
``.zarr.zip`` archive, re-encoded into eossl's sharded layout; see
:mod:`eossl.data.convert.reencode`). The sources are scanned first (in parallel), then
blocks of whole shards are read and written by :class:`~eossl.data.io.writer.StoreWriter`
on dask (:func:`~eossl.parallel.run_blocks`): atomic, resumable, and equal to an
uninterrupted run. See ``docs/convert.md``.
"""

from __future__ import annotations

import math
import os
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
from rich.markup import escape

from eossl.console import console
from eossl.data.convert.change import ChangePlan, scan_change
from eossl.data.convert.chip_scan import scan_geotiff
from eossl.data.convert.chips import ChipPlan
from eossl.data.convert.patch_sources import parse_classes
from eossl.data.convert.patches import PatchPlan, scan_patches
from eossl.data.convert.rasters import RESAMPLING, BadFile, fingerprint, nodata_attr
from eossl.data.convert.tree_scan import scan_tree
from eossl.data.convert.trees import TreePlan
from eossl.data.io.codecs import DEFAULT_CODEC, check_codec
from eossl.data.io.writer import StoreSpec, StoreWriter, auto_shard, check_replaceable
from eossl.errors import UserError
from eossl.parallel import dask_client, run_blocks

__all__ = ["LAYOUT_NAMES", "convert"]

MAX_SIZE = 4096  # pixels a side of a resampled patch: 16x BigEarthNet's, 64x EuroSAT's

LAYOUT_NAMES = ("ssl4eo-s12", "ssl4eo-l", "seco", "geotiff", "patches", "oscd", "zarr")
Plan = TreePlan | ChipPlan | PatchPlan | ChangePlan
CHIP_SIZE = {"geotiff": 264, "oscd": 128}  # default --chip-size of the tiling layouts
MIN_CHIP = 16  # px: smaller chips tile a scene into millions that no backbone can use
_MAX_LISTED = 1000  # skipped files listed in the store attributes (all are counted)


def convert(
    src: str | os.PathLike,
    out: str | os.PathLike,
    layout: str,
    *,
    sensor: str | None = None,
    resampling: str = "nearest",
    size: int | None = None,
    chip_size: int | None = None,
    stride: int | None = None,
    labels: str | os.PathLike | None = None,
    max_nodata: float = 0.5,
    nodata: float | None = None,
    scale: float | None = None,
    dtype: str = "uint16",
    source: str | None = None,
    classes: str | list[str] | None = None,
    mask_coding: str | None = None,
    skip_bad: bool = False,
    zarr_format: int | None = None,
    shard: int | None = None,
    codec: str = DEFAULT_CODEC,
    overwrite: bool = False,
    threads: int | None = None,
    scheduler: str | None = None,
    workers: int | None = None,
    quiet: bool = False,
) -> tuple[Path, list[BadFile]]:
    """Convert ``src`` in ``layout`` to the store ``out``; returns it and the skipped files.

    Resumes a partial store left by an interrupted run on the same inputs. For
    ``patches``, ``source`` picks eurosat, bigearthnet or folder (default: detected),
    ``labels`` is a CSV and ``classes`` fixes the class list (see docs/convert.md).
    ``codec`` is one of :data:`~eossl.data.io.codecs.CODECS`. ``chip_size`` defaults to
    264 px for ``geotiff`` and 128 px for ``oscd``; ``mask_coding`` (``oscd``) names the
    change masks' coding (default: inferred).
    """
    if layout not in LAYOUT_NAMES:
        raise UserError(f"unknown layout {layout!r}; choose one of {', '.join(LAYOUT_NAMES)}")
    if resampling not in RESAMPLING:
        raise UserError(
            f"unknown resampling {resampling!r}; choose one of {', '.join(RESAMPLING)}"
        )
    check_codec(codec)
    out = Path(out).expanduser()
    fmt = zarr_format or (2 if out.name.endswith(".zip") else 3)
    if out.name.endswith(".zip") and fmt == 3:
        raise UserError(
            "a .zarr.zip store is written in zarr format 2; drop --zarr-format 3 "
            "or write a .zarr directory"
        )
    src_path = Path(src).expanduser().resolve()
    if out.resolve() == src_path or out.resolve() in src_path.parents:
        raise UserError(f"{out}: is the source {src} or holds it; write the store elsewhere")
    if out.exists() or out.is_symlink():
        check_replaceable(out, overwrite)
    if size is not None and size < 1:
        raise UserError(f"--size must be at least 1, got {size}")
    if size is not None and size > MAX_SIZE:  # 100000 px asked numpy for 224 GiB per block
        raise UserError(
            f"--size {size}: patches are at most {MAX_SIZE} px a side; cut larger images into "
            "chips with --layout geotiff --chip-size"
        )
    if shard is not None and shard < 1:
        raise UserError(f"--shard must be at least 1, got {shard}")
    if stride is not None and stride < 1:
        raise UserError(f"--stride must be at least 1 px, got {stride}")
    chip = chip_size or CHIP_SIZE["oscd"]
    if layout == "oscd" and stride is not None and stride > chip:  # geotiff may sample sparsely
        raise UserError(
            f"--stride {stride} is larger than --chip-size {chip}: the pixels between a "
            "city's tiles would have no change label; use a stride of at most the chip size"
        )
    if chip_size is not None and chip_size < MIN_CHIP:
        raise UserError(
            f"--chip-size {chip_size}: chips under {MIN_CHIP} px are too small to train or "
            f"evaluate on (a ResNet's last stage sees 1/32 of a side); use {MIN_CHIP} or more"
        )
    if chip_size is not None and layout not in CHIP_SIZE:
        raise UserError(f"--chip-size is for the geotiff and oscd layouts, not {layout}")
    if not 0 <= max_nodata <= 1:
        raise UserError(f"--max-nodata is a fraction in [0, 1], got {max_nodata}")
    if scale is not None and not (math.isfinite(scale) and scale > 0):
        raise UserError(f"--scale must be a positive number, got {scale}")
    if dtype != "uint16" and (layout != "geotiff" or scale is None):
        raise UserError(
            f"--dtype {dtype} is for the geotiff layout with --scale (the dtype of scaled "
            f"values); {layout} keeps the files' own"
        )
    if mask_coding is not None and layout != "oscd":
        raise UserError(f"--mask-coding is for the oscd layout, not {layout}")
    with dask_client(scheduler, workers) as client:

        def parallel(fn, blocks, description, weights=None, unit="blocks"):  # noqa: ANN001, ANN202
            return run_blocks(
                fn, blocks, description, weights, unit, threads=threads, quiet=quiet, client=client
            )

        if layout == "zarr":
            return _reencode(src, out, sensor, fmt, shard, codec, overwrite, quiet, parallel, {
                "--resampling": resampling != "nearest", "--size": size is not None,
                "--chip-size": chip_size is not None, "--stride": stride is not None,
                "--labels": labels is not None, "--nodata": nodata is not None,
                "--scale": scale is not None, "--source": source is not None,
                "--classes": classes is not None, "--skip-bad": skip_bad,
            })  # fmt: skip
        if layout != "patches" and (source is not None or classes is not None):
            raise UserError(f"--source and --classes are for the patches layout, not {layout}")
        if layout == "patches":
            for flag, value in (("--scale", scale), ("--stride", stride), ("--nodata", nodata)):
                if value is not None:
                    raise UserError(f"{flag} is for the geotiff layout, not patches")
            plan: Plan = scan_patches(
                src,
                source=source,
                sensor=sensor,
                labels=labels,
                classes=parse_classes(classes) if isinstance(classes, str) else classes,
                size=size,
                resampling=resampling,
                skip_bad=skip_bad,
                run=parallel,
            )
        elif layout == "oscd":
            given = {"--size": size, "--labels": labels, "--scale": scale, "--nodata": nodata}
            for flag, value in given.items():
                if value is not None:
                    raise UserError(f"{flag} is not used by the oscd layout (see docs/convert.md)")
            plan = scan_change(
                src,
                sensor=sensor,
                chip=chip_size or CHIP_SIZE["oscd"],
                stride=stride,
                resampling=resampling,
                skip_bad=skip_bad,
                mask_coding=mask_coding or "auto",
            )
        elif layout == "geotiff":
            if size is not None:
                raise UserError("--size is for the archive layouts; use --chip-size with geotiff")
            plan = scan_geotiff(
                src,
                chip=chip_size or CHIP_SIZE["geotiff"],
                stride=stride,
                labels=labels,
                max_nodata=max_nodata,
                nodata=nodata,
                scale=scale,
                dtype=dtype,
                sensor=sensor,
                resampling=resampling,
                skip_bad=skip_bad,
                run=parallel,
            )
        else:
            for flag, value in (("--labels", labels), ("--scale", scale), ("--stride", stride)):
                if value is not None:
                    raise UserError(f"{flag} is for the geotiff layout, not {layout}")
            plan = scan_tree(
                src,
                layout,
                sensor=sensor,
                size=size,
                resampling=resampling,
                skip_bad=skip_bad,
                run=parallel,
            )
        return _write(plan, out, fmt, shard, codec, skip_bad, overwrite, parallel)


def _reencode(
    src: str | os.PathLike,
    out: Path,
    sensor: str | None,
    fmt: int,
    shard: int | None,
    codec: str,
    overwrite: bool,
    quiet: bool,
    parallel: Callable[..., list[Any]],
    given: dict[str, bool],
) -> tuple[Path, list[BadFile]]:
    """``--layout zarr``: re-encode stores; a summary of sizes before and after."""
    from eossl.data.convert.reencode import reencode

    wrong = [flag for flag, set_ in given.items() if set_]
    if wrong:
        raise UserError(
            f"{wrong[0]} is not used by the zarr layout (it copies stores as they are)"
        )
    path, summary = reencode(
        src,
        out,
        sensor=sensor,
        zarr_format=fmt,
        shard=shard,
        codec=codec,
        overwrite=overwrite,
        run=parallel,
    )
    if not quiet:
        mib = 2**20
        before, after = summary["bytes_before"], summary["bytes_after"]
        console(stderr=True).print(
            f"re-encoded {summary['stores']} store(s), {summary['samples']} samples, "
            f"checked equal value for value: {before / mib:.1f} MiB -> {after / mib:.1f} MiB "
            f"({after / max(before, 1):.2f}x)"
        )
    return path, []


def _write(
    plan: Plan,
    out: Path,
    fmt: int,
    shard: int | None,
    codec: str,
    skip_bad: bool,
    overwrite: bool,
    parallel: Callable[..., list[Any]],
) -> tuple[Path, list[BadFile]]:
    """Write the planned store block by block, then finalise it (see :func:`convert`)."""
    bands = len(plan.band_names)
    per_sample = plan.times * bands * plan.height * plan.width * np.dtype(plan.dtype).itemsize
    shard = shard or auto_shard(per_sample)
    attrs = {**plan.attrs(), "nodata": nodata_attr(plan.nodata)}
    patches = plan if isinstance(plan, PatchPlan) else None
    if isinstance(plan, ChipPlan) and plan.crs_wkt is None:
        console(stderr=True).print(
            f"eossl: {escape(plan.scenes[0].path)} has no CRS: the store records crs 0 and "
            "NaN centre lat/lon (pixels and chips are unaffected)"
        )
    if not getattr(plan, "dated", True):
        if patches is not None:
            dated = sum(p.time is not None for p in patches.patches)
            why = f"only {dated} of {patches.samples} patches have" if dated else "no patch has"
            what = "one timestamp per sample"
        else:
            why, what = "no scene has", "timestamps in file-name order"
        console(stderr=True).print(
            f"eossl: {why} a date (file name or TIFFTAG_DATETIME): the store has no "
            f"time_ ({what}); seasonal positives need dates"
        )
    spec = StoreSpec(
        samples=plan.samples,
        times=plan.times,
        band_names=plan.band_names,
        height=plan.height,
        width=plan.width,
        dtype=plan.dtype,
        cloud_mask=True,
        label=(isinstance(plan, ChipPlan) and plan.labels is not None)
        or (isinstance(plan, ChangePlan) and plan.labelled),
        zarr_format=fmt,
        shard=shard,
        codec=codec,
        attrs=attrs,
        source=fingerprint({"plan": plan.describe(), "skip_bad": skip_bad}),
        classes=patches.classes if patches is not None else None,
        scene_label_kind=patches.label_kind if patches is not None else None,
        time=getattr(plan, "dated", True),
    )
    writer = StoreWriter(out, spec, overwrite=overwrite)
    writer.say_start()

    def block(item: tuple[int, int, Plan]) -> int:
        start, stop, part = item
        data, bad = part.read_block(0, stop - start, skip_bad)
        report = {"bad": [b.as_dict() for b in bad], "nonfinite": getattr(part, "nonfinite", 0)}
        report["clipped"] = getattr(part, "clipped", 0)  # values --scale took off the dtype
        report["unjudged"] = getattr(part, "unjudged", {})  # change labels lost to nodata
        if "cloud_mask" in data and "sample_id" in data:  # images read, but of no valid pixel
            blank = (np.asarray(data["cloud_mask"]) == 6).all(axis=(-2, -1))
            report["empty"] = int((blank & (np.asarray(data["sample_id"]) != "")).sum())
        writer.write(start, stop, data, report=report)
        return len(bad)

    pending = writer.pending()
    with writer.kept_on_failure():
        parallel(  # each block carries its own part of the plan: small to ship to workers
            block,
            [(start, stop, plan.part(start, stop)) for start, stop in pending],
            f"convert {plan.attrs()['source_layout']}",
            weights=[b[1] - b[0] for b in pending],
            unit="samples",
        )
    if writer.group.attrs.get("eossl_complete"):  # killed while finalising: attrs are set
        listed = [BadFile(**b) for b in writer.group.attrs.get("skipped_files", [])]
        return writer.finalize(), listed
    reports = [report or {} for _, report in sorted(writer.block_reports().items())]
    # a file read by several blocks (a city's bands, cut into many tiles) is listed once
    read_bad = list(
        {b["path"]: BadFile(**b) for report in reports for b in report.get("bad", [])}.values()
    )
    nonfinite = sum(report.get("nonfinite", 0) for report in reports)
    if nonfinite:
        console(stderr=True).print(
            f"eossl: {nonfinite} pixel(s) held inf or NaN in some band: stored as nodata "
            "and masked (cloud_mask 6), as the source's nodata is"
        )
    clipped = sum(report.get("clipped", 0) for report in reports)
    if clipped:
        console(stderr=True).print(
            f"eossl: {clipped} value(s) fell outside {plan.dtype} after --scale "
            f"{plan.scale:g} and were clipped to its range: check --scale (Sentinel-2 "
            "reflectance x 10000 is the usual DN)"
        )
    lost: dict[str, list[int]] = {}
    for report in reports:
        for city, (gone, labelled) in report.get("unjudged", {}).items():
            lost.setdefault(city, [0, 0])
            lost[city][0] += gone
            lost[city][1] += labelled
    unjudged = [f"{c} ({g / n:.0%})" for c, (g, n) in lost.items() if n and g / n >= 0.5]
    if unjudged:
        console(stderr=True).print(
            f"eossl: most labelled pixels have no data in one of the dates, so they are "
            f"unlabelled (255), in {', '.join(unjudged)}: check those cities' band files"
        )
    empty = sum(report.get("empty", 0) for report in reports)
    if empty:
        console(stderr=True).print(
            f"eossl: {empty} image(s) hold no valid pixel (all nodata, NaN or inf): kept, "
            "masked whole (cloud_mask 6)"
        )
    skipped = [*plan.skipped, *read_bad]
    if "time_" in writer.group:
        valid = writer.group["time_"][...] != np.iinfo(np.int64).min
        policy = "padded: NaT in time_, nodata in bands, 6 in cloud_mask"
    else:  # no dates known: a slot is valid where it has an id
        valid = writer.group["sample_id"][...] != ""
        policy = "no dates known: no time_; a skipped slot has an empty sample_id"
    counts = Counter(int(c) for c in valid.sum(axis=1))
    final = {
        "timestamps": {
            "policy": policy,
            "per_sample": {str(k): v for k, v in sorted(counts.items())},
        },
        "skipped": len(skipped),
        "skipped_files": [b.as_dict() for b in skipped[:_MAX_LISTED]],
    }
    return writer.finalize(final), skipped
