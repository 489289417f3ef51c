"""``eossl stats`` on the command line: its arguments, and the table it prints."""

from __future__ import annotations

import argparse
from typing import Any

from rich import box
from rich.table import Table

from eossl.console import console
from eossl.data.stats.compute import compute_stats, write_stats
from eossl.errors import seed
from eossl.parallel import add_dask_arguments

__all__ = ["add_arguments", "run", "stats_table"]


def stats_table(stats: dict[str, Any], title: str = "band statistics") -> Table:
    """A rich table of :func:`compute_stats` output."""
    table = Table(
        title=title,
        caption=f"{stats['method']}; percentiles: {stats['percentiles']}",
        box=box.SIMPLE_HEAD,
        pad_edge=False,
        collapse_padding=True,
    )
    for col in ("band", "mean", "std", "min", "max", "p1", "p99", "count", "masked"):
        table.add_column(col, justify="left" if col == "band" else "right", no_wrap=True)
    names = stats.get("bands") or [str(i) for i in range(len(stats["mean"]))]

    def fmt(v: Any) -> str:
        return "-" if v is None else f"{v:.5g}"

    for b, name in enumerate(names):
        table.add_row(
            name,
            *(fmt(stats[k][b]) for k in ("mean", "std", "min", "max", "p1", "p99")),
            str(stats["count"][b]),
            str(stats["masked"][b]),
        )
    return table


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The arguments of ``eossl stats``."""
    parser.add_argument("path", help="store, .zarr.zip or folder of stores (one sensor)")
    parser.add_argument(
        "--sample", type=int, default=None, help="quick estimate from N random samples"
    )
    parser.add_argument("--seed", type=seed, default=0, help="seed of --sample (default: 0)")
    parser.add_argument(
        "--bins",
        type=int,
        default=65536,
        help="histogram bins for float percentiles (default: 65536)",
    )
    parser.add_argument(
        "--dry-run", action="store_true", help="print the statistics; do not write them"
    )
    add_dask_arguments(parser)


def run(args: argparse.Namespace) -> None:
    """Run ``eossl stats`` from parsed arguments."""
    stats = compute_stats(
        args.path,
        sample=args.sample,
        seed=args.seed,
        bins=args.bins,
        scheduler=args.scheduler,
        workers=args.workers,
        quiet=args.quiet,
    )
    out = console()
    out.print(stats_table(stats, f"eossl stats: {args.path}"))
    if args.dry_run:
        out.print("dry run: nothing written")
        return
    written = write_stats(args.path, stats)
    out.print(f"wrote stats to {len(written)} store(s) (attribute 'stats')")
