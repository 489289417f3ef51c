"""The result of an evaluation: its record, its table and its plot.

Every score is of one of the feature sets on the same samples: the pretrained
backbone, the same backbone at random init (as initialised, and for probes with its
BatchNorm statistics recomputed on the data), and (for probes) band statistics.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from eossl.console import console

__all__ = [
    "BAND_STATS",
    "PRETRAINED",
    "RANDOM",
    "RANDOM_BN",
    "EvalResult",
    "plot_result",
    "print_change",
    "print_result",
]

PRETRAINED, RANDOM, BAND_STATS = "pretrained", "random init", "band statistics"
RANDOM_BN = "random init, BN on data"  # random init with BatchNorm statistics of the data


@dataclass
class EvalResult:
    """Scores of one task: pretrained, random init and (for probes) band statistics."""

    task: str
    metric: str
    scores: dict[str, float]
    ci: dict[str, tuple[float, float]] = field(default_factory=dict)
    details: dict[str, Any] = field(default_factory=dict)

    @property
    def pretrained(self) -> float:
        """Score of the pretrained backbone."""
        return self.scores[PRETRAINED]

    @property
    def random(self) -> float:
        """Score of the same backbone at random init."""
        return self.scores[RANDOM]

    @property
    def gain(self) -> float:
        """Pretrained minus random."""
        return self.pretrained - self.random

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready: every score, its interval, and the details."""
        return {
            "task": self.task,
            "metric": self.metric,
            "pretrained": self.pretrained,
            "random": self.random,
            "scores": self.scores,
            "ci95": self.ci,
            "details": self.details,
        }


CVA = "change vector analysis"  # the no-learning change baseline: |difference| of the bands
COLOURS = {
    PRETRAINED: "#2a7ab0",
    RANDOM: "#b0b0b0",
    RANDOM_BN: "#808080",
    BAND_STATS: "#d9a441",
    CVA: "#d9a441",
}
BASELINES = (RANDOM, RANDOM_BN, BAND_STATS, CVA)


def plot_result(result: EvalResult, name: str, path: Path) -> Path:
    """Bars of every score with its 95% interval, plus the validation curves if any."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    curves = result.details.get("curves") or {}
    fig, axes = plt.subplots(
        1, 2 if curves else 1, figsize=(9 if curves else 5, 3.6), squeeze=False
    )
    ax = axes[0, 0]
    names = list(result.scores)
    values = [result.scores[n] for n in names]
    errors = None
    if result.ci:
        errors = np.array(
            [
                [v - result.ci[n][0], result.ci[n][1] - v]
                for n, v in zip(names, values, strict=True)
            ]
        ).T.clip(min=0)
    labels = [n.replace(", ", "\n") for n in names]
    bars = ax.bar(labels, values, yerr=errors, capsize=4, color=[COLOURS.get(n) for n in names])
    ax.bar_label(bars, fmt="%.3f", label_type="center")
    ax.set_ylabel(result.metric)
    ax.set_ylim(0, 1)
    d = result.details
    size = f", {_px(d['image_size'])} px" if d.get("image_size") else ""
    where = f"\n{d['data']}, {d['protocol']}, n={d['test']}{size}" if "protocol" in d else ""
    ax.set_title(f"{result.task}: {name}{where}", fontsize=8)
    if curves:
        ax = axes[0, 1]
        for label, curve in curves.items():
            ax.plot(range(1, len(curve) + 1), curve, marker="o", label=label)
        ax.set_xlabel("epoch")
        ax.set_ylabel("validation loss")
        ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def _px(size: int | list[int]) -> str:
    """An image size, or the sizes of several encoders (``64 + 32``)."""
    return " + ".join(map(str, size)) if isinstance(size, list) else str(size)


def print_result(result: EvalResult) -> None:
    """Print every score, its interval and its gain over the baselines as a rich table."""
    from rich.table import Table

    d = result.details
    caption = (
        f"{d['data']}: {d['protocol']}, {d['samples']} {d.get('unit', 'samples')} "
        f"({d['train']} train, "
        f"{d['test']} tested), {d['classes']} classes"
        + (f", k={d['k']}" if d.get("k") else "")
        + (f", {_px(d['image_size'])} px" if d.get("image_size") else "")
        + "; in brackets: the paired 95% interval of the gain"
        if "protocol" in d
        else f"{d.get('train')} train, {d.get('test')} test samples, {d.get('epochs')} "
        + ("epoch" if d.get("epochs") == 1 else "epochs")
    )
    table = Table(title=f"eossl evaluate: {result.task}", caption=caption)
    others = [b for b in BASELINES if b in result.scores]
    for col in ("features", result.metric, "95% CI", *(f"vs {b}" for b in others)):
        table.add_column(col, justify="left" if col == "features" else "right")
    gain_ci = d.get("gain_ci95", {})
    for name, value in result.scores.items():
        lo, hi = result.ci.get(name, (float("nan"), float("nan")))
        vs = []
        for other in others:
            cell = ""
            if other in result.scores and other != name:
                cell = f"{value - result.scores[other]:+.3f}"
                if name == PRETRAINED and other in gain_ci:
                    cell += " [{:+.2f}, {:+.2f}]".format(*gain_ci[other])
            vs.append(cell)
        table.add_row(name, f"{value:.3f}", f"{lo:.3f}-{hi:.3f}" if result.ci else "", *vs)
    console(min_width=120).print(table)


def print_change(result: EvalResult) -> None:
    """A change-detection result: its table (as :func:`print_result`), then F1 per city."""
    from rich.table import Table

    print_result(result)
    per_city = result.details["per_city"]
    names = list(per_city)
    cities = list(per_city[names[0]])
    table = Table(title=f"{result.task}: precision / recall / F1 per city")
    table.add_column("city")
    for name in names:
        table.add_column(name, justify="right")
    for city in cities:
        cells = ["{p:.2f} / {r:.2f} / {f:.2f}".format(**per_city[n][city]) for n in names]
        table.add_row(city, *cells)
    overall = result.details["precision_recall_f1"]
    table.add_row(
        "all pixels", *["{p:.2f} / {r:.2f} / {f:.2f}".format(**overall[n]) for n in names]
    )
    console(min_width=120).print(table)
