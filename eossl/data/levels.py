"""Stores of one platform at several processing levels, read as one dataset.

The run's sensor (``--sensor s2-l1c``) fixes the bands and the card; stores of another
processing level of the same platform (Sentinel-2 L2A beside L1C) train with them when
``--data`` lists them (``--data l1c.zarr,l2a.zarr``). Each level keeps its own
normalisation statistics, so every level arrives standardised, and bands are matched
by name, in any tool's spelling (:func:`eossl.bands.find_channels`): a band a level lacks
(L2A has no B10) is NaN, which normalisation fills with 0 (the mean); a band the run's
sensor lacks is dropped. The card's ``mean`` and ``std`` are the run's own level's; its
``levels`` entry holds every level's.
"""

from __future__ import annotations

import copy
import dataclasses
import os
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor, nn

from eossl.bands import band_info, find_channels
from eossl.data.dataset import SeasonalZarrDataset, check_sizes, locate
from eossl.data.io.schema import StoreInfo
from eossl.data.normalize import BandStats
from eossl.data.samples import SampleReads, stores_of
from eossl.errors import UserError
from eossl.sensors import Sensor

__all__ = ["LevelNormalize", "MixedLevelDataset", "group_levels"]


def group_levels(
    entries: Sequence[str | os.PathLike], sensor: Sensor
) -> dict[str, tuple[Sensor, list[Path]]]:
    """The stores of each listed store or folder, grouped by processing level.

    An entry holding stores of ``sensor`` gives those (a v1.1 folder its own sensor's);
    one holding stores of a single other level of ``sensor``'s platform gives those.
    The run's level comes first; anything else is refused in one line.
    """
    levels: dict[str, tuple[Sensor, list[Path]]] = {sensor.name: (sensor, [])}
    seen: dict[Path, str] = {}
    for entry in entries:
        infos = stores_of(entry)
        for info in infos:
            if info.path.resolve() in seen:
                raise UserError(
                    f"{info.path}: listed twice in --data (in {seen[info.path.resolve()]} and "
                    f"{entry}); list each store once"
                )
        seen.update({i.path.resolve(): str(entry) for i in infos})
        own = {i.sensor.name: i.sensor for i in infos if i.sensor is not None}
        if sensor.name in own or not own:
            card = sensor
        elif len(own) == 1:
            card = next(iter(own.values()))
            if card.platform != sensor.platform:
                raise UserError(
                    f"{entry}: holds {card.name} data, another sensor than {sensor.name}; only "
                    f"other processing levels of {sensor.platform} mix into a run (for "
                    "several sensors at the same places, use --sensor A,B)"
                )
        else:
            raise UserError(
                f"{entry}: holds stores of {', '.join(sorted(own))}; list each level's "
                "stores or folder on its own"
            )
        picked = [i.path for i in infos if i.sensor is None or i.sensor.name == card.name]
        levels.setdefault(card.name, (card, []))[1].extend(picked)
    if not levels[sensor.name][1]:
        found = ", ".join(n for n in levels if n != sensor.name)
        raise UserError(
            f"none of --data holds {sensor.name} stores (it holds {found}): the card takes "
            f"the run's own level's statistics; pass --sensor {found.split(',')[0]}"
        )
    return levels


class MixedLevelDataset(SampleReads):
    """Samples of stores at several processing levels, in the run's bands.

    Args:
        levels: from :func:`group_levels`: each level's card and stores, the run's first.
        sensor: the run's sensor, whose bands every item carries, in its order.
        on_bad_sample: as :class:`~eossl.data.dataset.SeasonalZarrDataset`.
        **kwargs: the other arguments of :class:`~eossl.data.dataset.SeasonalZarrDataset`.

    Each item: ``image`` float32 (seasons, the run's bands, H, W) in stored units, NaN
    in a band its level lacks; ``level``, the number of its level in ``levels``; and
    ``time``, ``lat``, ``lon``, ``index``.
    """

    def __init__(
        self,
        levels: dict[str, tuple[Sensor, Sequence[str | os.PathLike]]],
        sensor: Sensor,
        on_bad_sample: str = "error",
        **kwargs: Any,
    ) -> None:
        kwargs.update(dtype="float32", return_cloud_mask=False, on_bad_sample="error")
        self.sensor = sensor
        seed = kwargs.pop("seed", None)
        self.parts: dict[str, SeasonalZarrDataset] = {  # each level its own draws
            name: SeasonalZarrDataset(
                list(paths), sensor=card, seed=None if seed is None else seed + k, **kwargs
            )
            for k, (name, (card, paths)) in enumerate(levels.items())
        }
        self.cards = {name: card for name, (card, _) in levels.items()}
        check_sizes([i for p in self.parts.values() for i in p.stores], kwargs.get("crop_size"))
        first = next(iter(self.parts.values()))
        self.root = first.root
        self.seed = seed
        self.on_bad_sample = on_bad_sample  # type: ignore[assignment]
        self.bad_samples = []
        self._epoch = torch.zeros((), dtype=torch.int64).share_memory_()
        self.offsets = np.cumsum([0] + [len(p) for p in self.parts.values()])
        self.picks: list[tuple[list[int], list[int]]] = []  # (run's slots, the level's bands)
        self.missing: dict[str, list[str]] = {}
        self.dropped: dict[str, list[str]] = {}
        for name, part in self.parts.items():
            stored = part.band_names or self.cards[name].band_names
            found = find_channels(band_info(self.cards[name], stored), sensor.band_names)
            slots = [i for i, f in enumerate(found) if f is not None]
            self.picks.append((slots, [found[i] for i in slots]))  # type: ignore[misc]
            self.missing[name] = [sensor.band_names[i] for i, f in enumerate(found) if f is None]
            self.dropped[name] = [b for i, b in enumerate(stored) if i not in found]
            if len(slots) < len(found) / 2:
                raise UserError(
                    f"{part.root}: {name} shares {len(slots)} of {sensor.name}'s "
                    f"{len(found)} bands; too few to train on as one sensor"
                )

    def ordered(self, stats: BandStats, level: int) -> BandStats:
        """A level's statistics in the run's band order (0 and 1 where it lacks a band)."""
        slots, own = self.picks[level]
        mean, std = [0.0] * len(self.sensor.bands), [1.0] * len(self.sensor.bands)
        for slot, i in zip(slots, own, strict=True):
            mean[slot], std[slot] = stats.mean[i], stats.std[i]
        return dataclasses.replace(stats, mean=tuple(mean), std=tuple(std))

    def __len__(self) -> int:
        return int(self.offsets[-1])

    def describe(self) -> str:
        """One line: the levels, their samples, and the bands matched."""
        parts = []
        for name, part in self.parts.items():
            notes = []
            if self.missing[name]:
                notes.append(f"without {', '.join(self.missing[name])}: filled with the mean")
            if self.dropped[name]:
                notes.append(f"{', '.join(self.dropped[name])} dropped")
            note = f"; {'; '.join(notes)}" if notes else ""
            parts.append(f"{name} ({len(part):,} samples{note})")
        return (
            f"eossl: {' + '.join(parts)}, each level normalised with its own statistics; "
            f"the card keeps {self.sensor.name}'s"
        )

    def locate(self, index: int) -> tuple[int, int]:
        """(level number, sample within the level) of a global index."""
        return locate(self.offsets, index)

    @property
    def _list(self) -> list[SeasonalZarrDataset]:
        return list(self.parts.values())

    @property
    def stores(self) -> list[StoreInfo]:
        """The run's level's stores."""
        return self._list[0].stores

    @property
    def band_names(self) -> list[str]:
        """The run's sensor's bands: what every item carries."""
        return self.sensor.band_names

    @property
    def max_timestamps(self) -> int:
        """The longest time dimension of any level's stores."""
        return max(p.max_timestamps for p in self._list)

    @property
    def positives(self) -> str:
        """What the ``seasons`` slots hold (the same at every level)."""
        return self._list[0].positives

    @positives.setter
    def positives(self, value: str) -> None:
        for part in self._list:
            part.positives = value  # type: ignore[assignment]

    @property
    def phenology_fallback(self) -> int:
        """Locations drawn plainly for want of phases, at every level."""
        return sum(p.phenology_fallback for p in self._list)

    @property
    def season_probability(self) -> float:
        """Chance of a seasonal draw with ``positives="mixed"``."""
        return self._list[0].season_probability

    @property
    def uses_tensorstore(self) -> bool:
        """Whether reads may go through tensorstore (then workers must not fork)."""
        return any(p.uses_tensorstore for p in self._list)

    def set_epoch(self, epoch: int) -> None:
        """Vary every level's draws per epoch."""
        super().set_epoch(epoch)
        for part in self._list:
            part.set_epoch(epoch)

    def fixed_view(self) -> MixedLevelDataset:
        """A copy that reads each location's first valid timestamp."""
        view = copy.copy(self)
        view.parts = {name: part.fixed_view() for name, part in self.parts.items()}
        return view

    def where(self, index: int) -> str:
        level, j = self.locate(index)
        return self._list[level].where(j)

    def _start(self, index: int) -> Callable[[], dict[str, Any]]:
        level, j = self.locate(index)
        start = self._list[level]._start(j)
        slots, bands = self.picks[level]

        def finish() -> dict[str, Any]:
            item = start()
            image = item["image"]
            shape = (*image.shape[:-3], len(self.sensor.bands), *image.shape[-2:])
            out = image.new_full(shape, np.nan)
            out[..., slots, :, :] = image[..., bands, :, :]
            return {
                "image": out,
                "time": item["time"],
                "lat": item["lat"],
                "lon": item["lon"],
                "index": torch.tensor(index),
                "level": torch.tensor(level),
            }

        return finish


class LevelNormalize(nn.Module):
    """Standardise each sample with its level's statistics, NaN, inf and nodata as 0.

    Takes (B, ..., C, H, W) images and the (B,) level of each. A pixel is nodata when
    every band its level has equals that level's ``nodata``.
    """

    def __init__(self, stats: Sequence[BandStats], cards: Sequence[Sensor]) -> None:
        """``stats``: each level's, in the run's band order (:meth:`MixedLevelDataset.ordered`)."""
        super().__init__()
        mean = torch.tensor([st.mean for st in stats], dtype=torch.float32)
        std = torch.tensor([st.std for st in stats], dtype=torch.float32)
        if (std <= 0).any():
            raise UserError(f"normalisation std must be positive, got {std.tolist()}")
        nodata = [np.nan if c.nodata is None else float(c.nodata) for c in cards]
        self.register_buffer("mean", mean)
        self.register_buffer("std", std)
        self.register_buffer("nodata", torch.tensor(nodata, dtype=torch.float32))

    def forward(self, x: Tensor, level: Tensor) -> Tensor:
        """Normalise ``x`` of shape (B, ..., C, H, W); ``level`` (B,) picks the statistics."""
        shape = (len(x),) + (1,) * (x.ndim - 4) + (-1, 1, 1)
        mean = self.mean[level].view(shape)
        std = self.std[level].view(shape)
        nodata = self.nodata[level].view((len(x),) + (1,) * (x.ndim - 1))
        absent = torch.isnan(x)
        invalid = ~torch.isfinite(x) | ((x == nodata) | absent).all(dim=-3, keepdim=True)
        return ((x.float() - mean) / std).masked_fill(invalid, 0.0)
