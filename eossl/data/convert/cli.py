"""``eossl convert`` on the command line: its arguments, and what it prints."""

from __future__ import annotations

import argparse
from pathlib import Path

from rich.console import Console
from rich.markup import escape

from eossl.console import console
from eossl.data.convert.change import MASK_CODINGS
from eossl.data.convert.patch_sources import SOURCES
from eossl.data.convert.rasters import RESAMPLING, BadFile
from eossl.data.convert.write import LAYOUT_NAMES, convert
from eossl.data.io.codecs import CODECS, DEFAULT_CODEC, codec_help
from eossl.parallel import add_dask_arguments

__all__ = ["add_arguments", "run"]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The arguments of ``eossl convert``."""
    parser.add_argument("src", help="source folder (see --layout)")
    parser.add_argument("out", help="output store: DIR.zarr, or FILE.zarr.zip (zarr format 2)")
    parser.add_argument(
        "--layout",
        required=True,
        choices=LAYOUT_NAMES,
        help="ssl4eo-s12 (v1.0 GeoTIFFs), ssl4eo-l, seco, geotiff (your own scenes), "
        "patches (EuroSAT, BigEarthNet, a folder of patches: one sample each, scene labels), "
        "oscd (two-date change archives: tiles of a pair with its change mask), "
        "or zarr (stores in the schema, e.g. the v1.1 .zarr.zip archive, re-encoded)",
    )
    parser.add_argument("--sensor", default=None, help="sensor card (default: inferred)")
    parser.add_argument(
        "--resampling",
        default="nearest",
        choices=RESAMPLING,
        help="onto the finest band's grid / the reference scene's grid (default: nearest)",
    )
    parser.add_argument(
        "--size",
        type=int,
        default=None,
        help="archive and patch layouts: output size (default: finest band)",
    )
    geo = parser.add_argument_group("geotiff and oscd layouts")
    geo.add_argument(
        "--chip-size",
        type=int,
        default=None,
        help="chip (tile) size in px (default: 264; oscd: 128)",
    )
    geo.add_argument("--stride", type=int, default=None, help="chip step in px (default: chip)")
    geo.add_argument(
        "--labels",
        default=None,
        help="geotiff: label raster sampled onto the chips; patches: CSV of path,label",
    )
    geo.add_argument(
        "--max-nodata",
        type=float,
        default=0.5,
        help="leave out a chip's date above this nodata fraction (default: 0.5)",
    )
    geo.add_argument("--nodata", type=float, default=None, help="source nodata (default: tags)")
    geo.add_argument(
        "--scale",
        type=float,
        default=None,
        help="store float reflectance as round(value x SCALE) in --dtype (e.g. 10000)",
    )
    geo.add_argument("--dtype", default="uint16", help="dtype with --scale (default: uint16)")
    geo.add_argument(
        "--mask-coding",
        default=None,
        choices=("auto", *MASK_CODINGS),
        help="oscd: the change masks' no-change/change values: oscd (1/2), 0-255, 0-1 "
        "(default: auto, inferred per mask with a notice)",
    )
    pat = parser.add_argument_group("patches layout")
    pat.add_argument(
        "--source",
        default=None,
        choices=("auto", *SOURCES),
        help="eurosat, bigearthnet or folder (default: auto, detected from SRC)",
    )
    pat.add_argument(
        "--classes",
        default=None,
        help="class names in order, comma-separated or a file with one per line "
        "(default: sorted folder/CSV names; BigEarthNet's 43 classes)",
    )
    parser.add_argument(
        "--skip-bad", action="store_true", help="skip unreadable files, list them at the end"
    )
    parser.add_argument(
        "--zarr-format",
        type=int,
        choices=(2, 3),
        default=None,
        help="3 (sharded, default) or 2 (SSL4EO-S12 v1.1 form; default for .zip)",
    )
    parser.add_argument(
        "--shard", type=int, default=None, help="samples per shard (default: 64, less if large)"
    )
    parser.add_argument("--codec", default=DEFAULT_CODEC, choices=tuple(CODECS), help=codec_help())
    parser.add_argument("--overwrite", action="store_true", help="replace an existing store")
    parser.add_argument(
        "--verify", action="store_true", help="then check every chunk's checksum (eossl verify)"
    )
    add_dask_arguments(parser)


def run(args: argparse.Namespace) -> None:
    """Run ``eossl convert`` from parsed arguments."""
    from eossl.data.io.describe import print_info

    path, skipped = convert(
        args.src,
        args.out,
        args.layout,
        sensor=args.sensor,
        resampling=args.resampling,
        size=args.size,
        chip_size=args.chip_size,
        stride=args.stride,
        labels=args.labels,
        max_nodata=args.max_nodata,
        nodata=args.nodata,
        scale=args.scale,
        dtype=args.dtype,
        source=args.source,
        classes=args.classes,
        mask_coding=args.mask_coding,
        skip_bad=args.skip_bad,
        zarr_format=args.zarr_format,
        shard=args.shard,
        codec=args.codec,
        overwrite=args.overwrite,
        scheduler=args.scheduler,
        workers=args.workers,
        quiet=args.quiet,
    )
    out = console()
    out.print(f"wrote {escape(str(path))}")
    print_info(path)
    if skipped:
        print_skipped(skipped, out)
        say_padding(path, out)
    if args.verify:
        import time

        from eossl.data.io.verify import report, verify_store

        start = time.perf_counter()
        report([verify_store(path, quiet=args.quiet)], time.perf_counter() - start)
    out.print(f"next: eossl stats {escape(str(path))}  (band statistics for normalisation)")


def say_padding(path: Path, console: Console) -> None:
    """A line for samples that skipped files leave as padding (no valid timestamp)."""
    from eossl.data.io.schema import open_group

    group = open_group(Path(path))
    attrs, count = group.attrs, group["bands"].shape[0]
    padded = int((attrs.get("timestamps") or {}).get("per_sample", {}).get("0", 0))
    if padded:
        console.print(
            f"eossl: {padded} of {count} samples are padding where files were skipped: "
            "pretraining reads them as unreadable (--data.on_bad_sample skip passes over "
            "them); rerun without those files to drop them",
            soft_wrap=True,
        )


def print_skipped(skipped: list[BadFile], console: Console, limit: int = 50) -> None:
    """List the skipped files in full (paths are never shortened)."""
    console.print(f"[bold yellow]skipped {len(skipped)} bad file(s)[/] (--skip-bad):")
    for bad in skipped[:limit]:
        console.print(f"  {escape(bad.path)}: {escape(bad.reason)}", soft_wrap=True)
    if len(skipped) > limit:
        console.print(f"  ... and {len(skipped) - limit} more (store attribute skipped_files)")
