"""What eossl's datasets share: the stores under a root, and reads that fail well.

:func:`stores_of` finds the validated stores of one sensor under a root (or a list of
them); :class:`SampleReads` gives seeded draws per epoch, batched reads, and an
unreadable sample as one line naming its file and sample (or skipped and counted).
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, Literal

import numpy as np
import torch
from torch.utils.data import Dataset

from eossl.data.io.chunks import damage_text
from eossl.data.io.schema import StoreInfo, find_stores, infer_sensor, open_group, validate
from eossl.errors import UserError
from eossl.sensors import Sensor

__all__ = ["EmptySampleError", "SampleReads", "as_roots", "listed_roots", "stores_of"]

log = logging.getLogger(__name__)


def as_roots(root: str | os.PathLike | Sequence[str | os.PathLike]) -> list[Path]:
    """``root`` as a list of paths: one store or folder, or a list of them."""
    return [Path(root)] if isinstance(root, (str, os.PathLike)) else [Path(r) for r in root]


def listed_roots(data: str) -> str | list[str]:
    """``--data`` as given: one path, or several separated by commas (a list)."""
    listed = [p.strip() for p in data.split(",") if p.strip()]
    if os.path.exists(data) or "," not in data or not listed:
        return data
    return listed if len(listed) > 1 else listed[0]


def stores_of(
    root: str | os.PathLike | Sequence[str | os.PathLike], sensor: Sensor | None = None
) -> list[StoreInfo]:
    """The validated stores under ``root`` (or listed in it) that hold ``sensor``'s data.

    Stores of other known sensors are left out, so one folder may hold the stores of
    several sensors (the v1.1 release's ``S1GRD``, ``S2L1C`` and ``S2L2A`` folders).
    """
    roots = as_roots(root)
    paths = [p for r in roots for p in find_stores(r)]
    if sensor is None:
        return [validate(p) for p in paths]
    found, others = [], set()
    # a folder, or several stores: other sensors' stores are left out, not refused
    mixed = len(paths) > 1 or paths != [Path(r).expanduser() for r in roots]
    for path in paths:
        group = open_group(path)
        own = infer_sensor(group, path) if mixed else None
        if own is not None and own.name != sensor.name:
            others.add(own.name)
            continue
        found.append(validate(path, group, sensor=sensor))
    if not found:
        if not others:
            validate(paths[0], sensor=sensor)  # names the band counts where they differ
        held = ", ".join(sorted(others))
        raise UserError(
            f"{', '.join(map(str, roots))}: no store of sensor {sensor.name} (only {held}); "
            f"add one, or pass --sensor for the data there"
        )
    if others:
        log.info("%s: using the %s stores, not those of %s", roots[0], sensor.name, others)
    return found


class EmptySampleError(ValueError):
    """A location with no valid timestamp: unreadable like a corrupt chunk (skippable)."""


class SampleReads(Dataset[dict[str, Any]]):
    """What eossl's datasets share: seeded draws per epoch, and reads that fail well.

    An unreadable sample raises one line naming its file and sample, or with
    ``on_bad_sample="skip"`` is counted and the next one returned. A batch starts
    every read before it waits for the first. Subclasses define ``_start`` and ``where``.
    """

    seed: int | None
    on_bad_sample: Literal["error", "skip"]
    bad_samples: list[str]
    root: Path
    _epoch: torch.Tensor

    def __len__(self) -> int:
        raise NotImplementedError

    def _start(self, index: int) -> Callable[[], dict[str, Any]]:
        """Start the reads of sample ``index``; the returned call waits and builds it."""
        raise NotImplementedError

    def where(self, index: int) -> str:
        """The file(s) and sample of ``index``, for messages."""
        raise NotImplementedError

    @property
    def epoch(self) -> int:
        """The epoch that seeds the draws (shared with worker processes)."""
        return int(self._epoch)

    def set_epoch(self, epoch: int) -> None:
        """Vary the seeded draws per epoch; workers see it through shared memory."""
        self._epoch.fill_(epoch)

    def _rng(self, index: int) -> np.random.Generator:
        if self.seed is None:
            return np.random.default_rng()
        return np.random.default_rng([self.seed, self.epoch, index])

    def __getitem__(self, index: int) -> dict[str, Any]:
        if not -len(self) <= index < len(self):  # the sequence protocol: iteration ends here
            raise IndexError(f"sample {index} of {len(self)}")
        if index < 0:
            index += len(self)
        for attempt in range(len(self)):
            i = (index + attempt) % len(self)
            try:
                sample = self._read(i)
                sample["skipped"] = torch.tensor(attempt)  # unreadable samples passed over
                return sample
            except UserError:
                raise
            except Exception as err:
                where = self.where(i)
                if self.on_bad_sample == "error":
                    raise UserError(
                        f"{where} could not be read ({damage_text(err)}); "
                        f"{_advice(err)}, or pass --data.on_bad_sample skip "
                        "(on_bad_sample='skip' in Python) to skip and count such samples"
                    ) from err
                self.bad_samples.append(where)
                log.warning("skipping unreadable %s (%s)", where, err)
        raise UserError(f"{self.root}: no readable sample left")

    def _read(self, index: int) -> dict[str, Any]:
        return self._start(index)()

    def __getitems__(self, indices: list[int]) -> list[dict[str, Any]]:
        """A batch of samples whose reads all run at once (the DataLoader calls this).

        With tensorstore, every sample's read is started before the first is waited
        for, so chunks decode on tensorstore's threads while others are fetched. A
        sample that fails is read again alone by ``__getitem__`` (error or skip).
        """
        started: list[Callable[[], dict[str, Any]] | None] = []
        for i in indices:
            try:
                started.append(self._start(i if i >= 0 else i + len(self)))
            except Exception:
                started.append(None)
        out = []
        for i, finish in zip(indices, started, strict=True):
            try:
                if finish is None:
                    raise LookupError
                sample = finish()
                sample["skipped"] = torch.tensor(0)
            except Exception:
                sample = self[i]  # errors and skips, one at a time
            out.append(sample)
        return out


def _advice(err: BaseException) -> str:
    """What to do about a sample that could not be read, by what went wrong."""
    if isinstance(err, PermissionError) or "PERMISSION_DENIED" in str(err):
        return "check that you may read the file (its permissions)"
    if isinstance(err, FileNotFoundError) or "NOT_FOUND" in str(err):
        return "the file is gone: check the path, or re-convert the data"
    return "re-download or re-convert the file"
