"""Speed comparisons against TorchGeo: ``eossl bench {loader,augment,train,memory,all}``.

The command line of ``benchmarks/bench.py`` (and of ``eossl bench``, which runs it
from a source checkout): full sizes, the ``--quick`` smoke sizes, and the options
that override them.
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from typing import Any

from .augment import augment
from .loader import loader
from .memory import memory
from .report import SMOKE
from .train import train

__all__ = ["FULL", "QUICK", "add_arguments", "main", "run"]

FULL: dict[str, dict[str, Any]] = {
    "loader": {"samples": 256, "size": 264, "batch_size": 16, "workers": (0, 1, 2), "rounds": 3},
    "augment": {"batch_size": 32, "size": 264, "crop": 224, "rounds": 7},
    "train": {"batch_size": 16, "size": 264, "crop": 224, "steps": 2, "rounds": 5},
    "memory": {"samples": 500, "size": 64, "batch_size": 16, "workers": 0, "repeats": 3},
}
QUICK: dict[str, dict[str, Any]] = {
    "loader": {"samples": 8, "size": 32, "batch_size": 4, "workers": (0,), "rounds": 1},
    "augment": {"batch_size": 4, "size": 32, "crop": 24, "rounds": 1},
    "train": {"batch_size": 4, "size": 32, "crop": 24, "steps": 1, "rounds": 1},
    "memory": {"samples": 4, "size": 16, "batch_size": 4, "workers": 0, "repeats": 1},
}

BENCHMARKS = ("loader", "augment", "train", "memory")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The arguments of ``benchmarks/bench.py`` and ``eossl bench``."""
    parser.add_argument("benchmark", choices=[*BENCHMARKS, "all"], help="what to measure")
    parser.add_argument(
        "--vs",
        choices=["torchgeo", "none"],
        default="torchgeo",
        help="compare against TorchGeo (default) or time eossl (and the bare decode) only",
    )
    parser.add_argument(
        "--samples",
        type=int,
        default=None,
        help="loader: samples per epoch (default 256); memory: the small epoch (default 500; "
        "the large one is 10x)",
    )
    parser.add_argument("--rounds", type=int, default=None, help="timed rounds per side")
    parser.add_argument(
        "--workers",
        default=None,
        help="loader: comma-separated DataLoader worker counts (default 0,1,2)",
    )
    parser.add_argument("--batch-size", type=int, default=None)
    parser.add_argument("--quick", action="store_true", help="tiny sizes: a smoke test")
    parser.set_defaults(run=run)


def sizes(args: argparse.Namespace, name: str) -> dict[str, Any]:
    """The keyword arguments of benchmark ``name`` for parsed ``args``."""
    from eossl.errors import UserError

    kw = dict((QUICK if args.quick else FULL)[name])
    if args.samples is not None and name in ("loader", "memory"):
        kw["samples"] = args.samples
    if args.rounds is not None and "rounds" in kw:
        kw["rounds"] = args.rounds
    if args.batch_size is not None:
        kw["batch_size"] = args.batch_size
    if args.workers is not None and name in ("loader", "memory"):
        try:
            counts = tuple(int(w) for w in str(args.workers).split(","))
        except ValueError:
            raise UserError(f"--workers takes counts like 0,1,2, got {args.workers!r}") from None
        if min(counts) < 0:
            raise UserError(f"--workers counts are 0 or more, got {args.workers}")
        kw["workers"] = counts if name == "loader" else counts[0]
    for key in ("samples", "rounds", "batch_size"):
        if key in kw and kw[key] < 1:
            raise UserError(f"--{key.replace('_', '-')} must be at least 1, got {kw[key]}")
    if name != "memory":
        kw["vs_torchgeo"] = args.vs == "torchgeo"
    return kw


def run(args: argparse.Namespace) -> dict[str, float]:
    """Run the chosen benchmark(s); returns every ratio printed."""
    fns = {"loader": loader, "augment": augment, "train": train, "memory": memory}
    names = BENCHMARKS if args.benchmark == "all" else (args.benchmark,)
    SMOKE["on"] = bool(args.quick)
    if args.quick:
        print(
            "eossl bench --quick: a smoke run (tiny sizes, one round) that checks every "
            "benchmark runs; its numbers are no result. Drop --quick to measure.",
            flush=True,
        )
    ratios: dict[str, float] = {}
    for name in names:
        ratios.update(fns[name](**sizes(args, name)))
    return ratios


def main(argv: Sequence[str] | None = None) -> dict[str, float]:
    """Parse ``argv`` like ``eossl bench`` and run."""
    parser = argparse.ArgumentParser(prog="eossl bench", description=__doc__.splitlines()[0])
    add_arguments(parser)
    return run(parser.parse_args(argv))
