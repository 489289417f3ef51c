"""What the ``seasons`` slots of a sample hold: the positives, and draws by phenological phase.

``"season"``, ``"same"`` and ``"mixed"`` need only the timestamps; ``"phenology"`` and
``"same-phase"`` draw by the phases ``eossl phenology`` stores (see
:class:`~eossl.data.dataset.SeasonalZarrDataset`).
"""

from __future__ import annotations

from typing import Literal

import numpy as np

__all__ = ["PHENOLOGICAL", "POSITIVES", "Positives", "pairable", "phase_counts", "phase_draw"]

Positives = Literal["season", "same", "mixed", "phenology", "same-phase"]
POSITIVES: tuple[str, ...] = ("season", "same", "mixed", "phenology", "same-phase")
PHENOLOGICAL: tuple[str, ...] = ("phenology", "same-phase")  # need `eossl phenology`


def phase_counts(phase: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The phases present among a location's timestamps, and how many timestamps each has."""
    return np.unique(phase[phase >= 0], return_counts=True)


def pairable(counts: np.ndarray, positives: str) -> bool:
    """Whether phases can give a pair: two phases (``phenology``), or a phase twice."""
    return counts.size >= 2 if positives == "phenology" else bool((counts >= 2).any())


def phase_draw(
    valid: np.ndarray, phase: np.ndarray, k: int, positives: str, rng: np.random.Generator
) -> np.ndarray | None:
    """``k`` timestamps of different phases (``phenology``) or of one phase (``same-phase``).

    None when the location's phases cannot give two (the caller draws plainly).
    """
    known, counts = phase_counts(phase)
    if not pairable(counts, positives):
        return None
    if positives == "phenology":
        picked = rng.choice(known, size=min(k, known.size), replace=False)
        return np.array([rng.choice(valid[phase == p]) for p in picked])
    members = valid[phase == rng.choice(known[counts >= 2])]
    return rng.choice(members, size=min(k, members.size), replace=False)
