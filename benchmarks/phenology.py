"""Phenological phases from NDVI against the synthetic generator's own vegetation cycle.

The generator knows each location's true greenness per timestamp (the mean of its
vegetation state G over land, before reflectance, clouds, snow and noise). This
writes a synthetic S2 store with monthly timestamps, runs ``eossl phenology`` on
it, and compares the phases with those of the true cycle:

    python benchmarks/phenology.py [--samples 128] [--seasons 12] [--size 64] [--index evi]

Prints the confusion table; timestamp agreement where both give a phase, and the
agreement expected by chance from the same marginals; how often "has a cycle"
agrees; and, for what sampling cares about, the share of pairs that truly span two
phases among ``positives: phenology`` pairs and among any two timestamps
(``positives: season``).
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

import numpy as np
from rich.table import Table

from eossl.console import console
from eossl.data.io.schema import validate
from eossl.data.phenology import NONE, PHASES, assign_phases, compute_phenology, decode_phases
from eossl.data.synthetic.store import synthetic_location, write_synthetic
from eossl.sensors import get_sensor


def truth(samples: int, size: int, seasons: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """True greenness (sample, time) and its days of year, regenerated from the seed."""
    card = get_sensor("s2")
    green, days = [], []
    for i in range(samples):
        loc = synthetic_location(card, size, seasons, seed, i)
        t = loc.times
        green.append(loc.greenness)
        days.append((t - t.astype("datetime64[Y]")).astype("timedelta64[D]").astype(int) + 1)
    return np.array(green), np.array(days)


def agreement(found: np.ndarray, true: np.ndarray) -> dict[str, float]:
    """Timestamp agreement where both have a phase, and cycle/no-cycle agreement."""
    both = (found >= 0) & (true >= 0)
    cycle_f, cycle_t = (found >= 0).any(axis=1), (true >= 0).any(axis=1)
    chance = sum(float((found[both] == k).mean() * (true[both] == k).mean()) for k in range(4))
    across = calendar = hits_across = hits_calendar = 0
    for f, t in zip(found, true, strict=True):
        for i in range(len(f)):
            for j in range(i + 1, len(f)):
                if t[i] < 0 or t[j] < 0:
                    continue
                calendar += 1
                hits_calendar += t[i] != t[j]
                if f[i] >= 0 and f[j] >= 0 and f[i] != f[j]:
                    across += 1
                    hits_across += t[i] != t[j]
    return {
        "phase agreement": float((found[both] == true[both]).mean()) if both.any() else np.nan,
        "chance agreement": chance,
        "phenology pairs of truly different phases": hits_across / max(across, 1),
        "calendar pairs of truly different phases": hits_calendar / max(calendar, 1),
        "timestamps compared": int(both.sum()),
        "cycle agreement": float((cycle_f == cycle_t).mean()),
        "locations with a true cycle": int(cycle_t.sum()),
        "locations with a found cycle": int(cycle_f.sum()),
    }


def main(argv: list[str] | None = None) -> dict[str, float]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--samples", type=int, default=128)
    parser.add_argument("--seasons", type=int, default=12)
    parser.add_argument("--size", type=int, default=64)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--index", choices=["ndvi", "evi"], default="ndvi")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        store = write_synthetic(
            Path(tmp) / "s2.zarr", "s2", samples=args.samples, size=args.size,
            seasons=args.seasons, seed=args.seed, shard=16, quiet=True,
        )  # fmt: skip
        meta = compute_phenology(store, index=args.index, quiet=True)[store]
        info = validate(store)
        found = decode_phases({"phenology": meta}, info.samples, info.times)
    green, days = truth(args.samples, args.size, args.seasons, args.seed)
    # the true cycle: the same rule on greenness, whose scale is 0-1 like NDVI's top half
    true = np.stack([assign_phases(g, d) for g, d in zip(green, days, strict=True)])
    result = agreement(found, true)
    out = console()
    table = Table(title=f"found (rows) vs true (columns) phases, {args.samples} locations")
    names = [*PHASES, "none"]
    table.add_column("found \\ true")
    for n in names:
        table.add_column(n, justify="right")
    for a, fa in enumerate([*range(len(PHASES)), NONE]):
        row = [
            str(int(((found == fa) & (true == tb)).sum())) for tb in [*range(len(PHASES)), NONE]
        ]
        table.add_row(names[a], *row)
    out.print(table)
    for key, value in result.items():
        out.print(f"{key}: {value:.3f}" if isinstance(value, float) else f"{key}: {value}")
    return result


if __name__ == "__main__":
    main()
