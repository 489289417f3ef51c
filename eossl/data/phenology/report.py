"""The phases of a store as a table and a plot."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
from rich import box
from rich.table import Table

from eossl.data.phenology.phases import NONE, PHASES


def phase_summary(phases: list[np.ndarray]) -> dict[str, int]:
    """Timestamps per phase, and locations with and without a cycle."""
    every = np.concatenate([p.reshape(len(p), -1) for p in phases]) if phases else np.zeros((0, 1))
    out = {name: int((every == k).sum()) for k, name in enumerate(PHASES)}
    out["no phase"] = int((every == NONE).sum())
    cycle = (every >= 0).any(axis=1)
    out["locations with a cycle"] = int(cycle.sum())
    out["locations without"] = int((~cycle).sum())
    return out


def phase_shares(summary: dict[str, int]) -> dict[str, float]:
    """Each phase's (and "no phase"'s) share of the timestamps of a :func:`phase_summary`."""
    keys = (*PHASES, "no phase")
    total = sum(summary[k] for k in keys) or 1
    return {k: summary[k] / total for k in keys}


def phenology_table(summary: dict[str, int], title: str) -> Table:
    """A rich table of :func:`phase_summary`."""
    table = Table(title=title, box=box.SIMPLE_HEAD, pad_edge=False)
    table.add_column("phase")
    table.add_column("timestamps", justify="right")
    table.add_column("share", justify="right")
    for key, share in phase_shares(summary).items():
        table.add_row(key, str(summary[key]), f"{100 * share:.0f}%")
    return table


def plot_phases(
    phases: Sequence[np.ndarray], times: Sequence[np.ndarray | None], png: str | Path
) -> None:
    """Save a stacked bar chart of the phenological phases of timestamps, by calendar month."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    counts = np.zeros((len(PHASES) + 1, 12))
    for phase, time in zip(phases, times, strict=True):
        if time is None:
            continue
        known = ~np.isnat(time)
        month = time[known].astype("datetime64[M]").astype(np.int64) % 12
        for k in range(len(PHASES) + 1):  # the last row: no phase
            code = k if k < len(PHASES) else -1
            counts[k] += np.bincount(month[phase[known] == code], minlength=12)
    colours = ["#8c6d31", "#9ccc65", "#1b7837", "#e08214", "#bdbdbd"]
    fig, ax = plt.subplots(figsize=(7, 3.2))
    bottom = np.zeros(12)
    for k, name in enumerate([*PHASES, "no phase"]):
        ax.bar(np.arange(1, 13), counts[k], bottom=bottom, color=colours[k], label=name)
        bottom += counts[k]
    ax.set_xticks(np.arange(1, 13))
    ax.set_xlabel("month")
    ax.set_ylabel("timestamps")
    ax.legend(fontsize=7, ncol=5, loc="upper center", bbox_to_anchor=(0.5, 1.18))
    fig.tight_layout()
    fig.savefig(png, dpi=120)
    plt.close(fig)
