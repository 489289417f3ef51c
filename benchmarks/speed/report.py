"""Timing and reporting: alternate rounds, tables of medians, the ``ratio NAME: 9.10x`` lines."""

from __future__ import annotations

import statistics
import time
import warnings
from collections.abc import Callable, Sequence

__all__ = ["SMOKE", "alternate", "median", "print_ratios", "print_table", "quiet_warnings"]


def alternate(
    cases: dict[str, Callable[[], int]], rounds: int, warmup: int = 1
) -> dict[str, list[float]]:
    """Run every case once per round, in an order that rotates each round.

    Each case does one unit of work and returns how many items it processed;
    the result is the items/s of every round, per case.
    """
    names = list(cases)
    for _ in range(warmup):
        for name in names:
            cases[name]()
    rates: dict[str, list[float]] = {name: [] for name in names}
    for r in range(rounds):
        k = r % len(names)
        for name in names[k:] + names[:k]:
            start = time.perf_counter()
            items = cases[name]()
            rates[name].append(items / max(time.perf_counter() - start, 1e-9))
    return rates


def median(values: Sequence[float]) -> float:
    return float(statistics.median(values)) if values else float("nan")


def print_table(
    title: str, unit: str, groups: dict[str, dict[str, list[float]]], refs: Sequence[str] = ()
) -> None:
    """Medians (and spread) of each case, and its ratio to the ``refs`` cases of its group."""
    from rich.table import Table

    from eossl.console import console

    refs = [r for r in refs if any(r in g for g in groups.values())]
    table = Table(title=title)
    for col in ("setting", "case", f"median {unit}", "min-max", "rounds"):
        left = col in ("setting", "case")
        table.add_column(col, justify="left" if left else "right", no_wrap=left)
    for ref in refs:
        table.add_column(f"vs {ref}", justify="right")
    for setting, cases in groups.items():
        for name, rates in cases.items():
            med = median(rates)
            cells = [setting, name, f"{med:.1f}", f"{min(rates):.1f}-{max(rates):.1f}"]
            cells.append(str(len(rates)))
            for ref in refs:
                cells.append(f"{med / median(cases[ref]):.2f}x" if ref in cases else "")
            table.add_row(*cells)
    console(min_width=100).print(table)


SMOKE = {"on": False}  # set by speed.cli.run for --quick: what is printed is no result


def print_ratios(ratios: dict[str, float]) -> None:
    """One parseable line per comparison: ``ratio NAME: 9.10x``.

    A ``--quick`` run prints ``smoke NAME: 9.10x (not a result)`` instead, so that no
    number from tiny sizes and one round reads like a measurement.
    """
    for name, value in ratios.items():
        if SMOKE["on"]:
            print(f"smoke {name}: {value:.2f}x (not a result)", flush=True)
        else:
            print(f"ratio {name}: {value:.2f}x", flush=True)


def quiet_warnings() -> None:
    warnings.filterwarnings("ignore", message=".*self.log.*")
    warnings.filterwarnings("ignore", message=".*not attached to a `Trainer`.*")
    warnings.filterwarnings("ignore", category=UserWarning, module="torchgeo")
    warnings.filterwarnings("ignore", message=".*does not have many workers.*")
