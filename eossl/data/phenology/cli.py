"""``eossl phenology``: arguments and runner."""

from __future__ import annotations

import argparse
from pathlib import Path

from eossl.console import console
from eossl.data.io.schema import (
    decode_times,
    open_group,
    validate,
)
from eossl.data.phenology.compute import MIN_DATES, compute_phenology, write_phenology
from eossl.data.phenology.indices import INDICES
from eossl.data.phenology.phases import decode_phases
from eossl.data.phenology.report import phase_summary, phenology_table, plot_phases
from eossl.errors import UserError
from eossl.parallel import add_dask_arguments


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The arguments of ``eossl phenology``."""
    parser.add_argument("path", help="store, .zarr.zip or folder of optical stores")
    parser.add_argument("--sensor", default=None, help="sensor card (default: from the stores)")
    parser.add_argument(
        "--index",
        choices=list(INDICES),
        default="ndvi",
        help="vegetation index: ndvi (red, NIR) or evi (blue, red, NIR; reflectance)",
    )
    parser.add_argument(
        "--min-clear",
        type=float,
        default=0.25,
        help="least share of clear pixels for a timestamp's index (default: 0.25)",
    )
    parser.add_argument("--plot", default=None, help="save a plot of phases by month to this PNG")
    parser.add_argument("--dry-run", action="store_true", help="print the phases; write nothing")
    add_dask_arguments(parser)


PLOT_FORMATS = (".png", ".pdf", ".svg")


def run(args: argparse.Namespace) -> None:
    """Run ``eossl phenology`` from parsed arguments."""
    if args.plot and (
        Path(args.plot).suffix.lower() not in PLOT_FORMATS or Path(args.plot).is_dir()
    ):
        raise UserError(
            f"--plot {args.plot}: a file ending in {', '.join(PLOT_FORMATS)}, for the plot"
        )
    results = compute_phenology(
        args.path,
        sensor=args.sensor,
        index=args.index,
        min_clear=args.min_clear,
        scheduler=args.scheduler,
        workers=args.workers,
        quiet=args.quiet,
        min_dates=MIN_DATES,
    )
    phases, times = [], []
    for store, meta in results.items():
        info = validate(store)
        phases.append(decode_phases({"phenology": meta}, info.samples, info.times, store))
        group = open_group(store)
        times.append(decode_times(group["time_"]) if "time_" in group else None)
    summary = phase_summary(phases)
    out = console()
    out.print(phenology_table(summary, f"eossl phenology: {args.path}"))
    n = summary["locations with a cycle"] + summary["locations without"]
    out.print(
        f"{summary['locations without']} of {n} locations have no vegetation cycle (water, bare, "
        "snow, too few clear dates): the plain seasonal draw is used for them"
    )
    if args.plot:
        plot_phases(phases, times, args.plot)
        out.print(f"plot: {args.plot}")
    if args.dry_run:
        out.print("dry run: nothing written")
        return
    write_phenology(results)
    out.print(f"wrote phases to {len(results)} store(s) (attribute 'phenology')")
