"""SeasonalZarrDataModule: splits, loaders and on-device normalisation for Zarr stores."""

from __future__ import annotations

import os
import sys
from typing import Any, Literal

import lightning as L
import numpy as np
import torch
from lightning.pytorch.utilities import rank_zero_only
from torch.utils.data import DataLoader, DistributedSampler, RandomSampler, Subset

from eossl.augment import LevelJitter
from eossl.data.dataset import SeasonalZarrDataset
from eossl.data.io.reader import Reader
from eossl.data.levels import LevelNormalize, MixedLevelDataset, group_levels
from eossl.data.multimodal import MultiModalDataset, Pairing
from eossl.data.normalize import (
    BandNormalize,
    BandStats,
    StackNormalize,
    pooled_stats,
    stack_stats,
)
from eossl.data.phenology import ensure_phenology
from eossl.data.positives import PHENOLOGICAL, Positives
from eossl.data.samples import listed_roots, stores_of
from eossl.data.workers import loader_workers, start_worker_server
from eossl.errors import UserError
from eossl.sensors import Sensor, fused_sensor, get_sensor, get_sensors, level_shift

__all__ = ["SeasonalZarrDataModule", "train_val_split"]

MAX_JITTER_STD = 10.0  # a level shift larger than this many stds means other units


@rank_zero_only
def _say(line: str) -> None:
    print(line, file=sys.stderr)


class _EpochSampler(RandomSampler):
    """Shuffles with a per-epoch seed and tells the dataset the epoch.

    Lightning calls ``set_epoch`` before each epoch, so seeded season draws and
    crops change every epoch, also in persistent workers. With curation, each epoch
    draws ``size`` samples from the positions ``owner.selection`` keeps (all of them
    until the first round).
    """

    def __init__(self, data: Subset, seed: int, owner: Any = None) -> None:
        self.owner = owner
        super().__init__(data, generator=torch.Generator().manual_seed(seed))
        self.seed = seed

    @property
    def num_samples(self) -> int:
        size = getattr(self.owner, "curated_size", None)
        return len(self.data_source) if size is None else size

    def __iter__(self):
        size = getattr(self.owner, "curated_size", None)
        if size is None:
            yield from super().__iter__()
            return
        pool = _pool(self.owner, len(self.data_source))
        order = torch.randperm(len(pool), generator=self.generator).numpy()
        yield from pool[order][:size].tolist()

    def set_epoch(self, epoch: int) -> None:
        self.generator.manual_seed(self.seed + epoch)
        self.data_source.dataset.set_epoch(epoch)


class _DistributedEpochSampler(DistributedSampler):
    """Each process gets its own shard of the samples; the epoch also reseeds season draws.

    With curation, the shards are cut from the same ``size`` kept samples.
    """

    def __init__(self, data: Subset, owner: Any = None, **kwargs: Any) -> None:
        super().__init__(data, **kwargs)
        self.owner = owner
        size = getattr(owner, "curated_size", None)
        if size is not None:
            self.num_samples = (
                size // self.num_replicas if self.drop_last else -(-size // self.num_replicas)
            )
            self.total_size = self.num_samples * self.num_replicas

    def __iter__(self):
        if getattr(self.owner, "curated_size", None) is None:
            return super().__iter__()
        pool = _pool(self.owner, len(self.dataset))
        g = torch.Generator().manual_seed(self.seed + self.epoch)
        order = pool[torch.randperm(len(pool), generator=g).numpy()]
        order = np.resize(order, max(self.total_size, 1))[: self.total_size]  # pad by repeating
        return iter(order[self.rank : self.total_size : self.num_replicas].tolist())

    def set_epoch(self, epoch: int) -> None:
        super().set_epoch(epoch)
        self.dataset.dataset.set_epoch(epoch)


def _pool(owner: Any, n: int) -> np.ndarray:
    """The positions an epoch may draw from: curation's kept ones, else all."""
    kept = getattr(owner, "selection", None)
    return np.arange(n) if kept is None else np.asarray(kept)


def train_val_split(n: int, seed: int, val_fraction: float) -> tuple[np.ndarray, np.ndarray]:
    """The sample indices the datamodule trains and validates on: a seeded permutation."""
    order = np.random.default_rng(seed).permutation(n)
    n_val = int(round(n * val_fraction))
    return order[n_val:], order[:n_val]


def _refuse_empty(data: SeasonalZarrDataset, sensor: Sensor, probes: int = 4) -> None:
    """Refuse data whose probed samples hold only nodata or NaN: nothing to learn."""
    from eossl.data.stats.blocks import store_nodata

    info = data.stores[0]
    nodata = store_nodata(info.attrs, sensor)
    for i in np.linspace(0, len(data) - 1, min(probes, len(data))).astype(int):
        image = data[int(i)]["image"].numpy()
        valid = np.isfinite(image) if image.dtype.kind == "f" else np.ones(image.shape, bool)
        if nodata is not None and not np.isnan(nodata):
            valid &= image != nodata
        if valid.any():
            return
    raise UserError(
        f"{info.path}: the {min(probes, len(data))} samples probed hold only nodata or NaN "
        f"pixels (nodata {nodata}); nothing to train on: check the data"
    )


class SeasonalZarrDataModule(L.LightningDataModule):
    """Seasonal samples from Zarr stores, split by sample, normalised on the device.

    With ``data=None`` it uses the built-in synthetic store of ``sensor``, made
    once into the cache (see :func:`eossl.data.synthetic.store.builtin_store`).

    Several sensors (``sensor="s1,s2"``) are read co-located from one folder (see
    :class:`~eossl.data.multimodal.MultiModalDataset`); each is normalised with its
    own statistics and their bands are stacked as channels, in the order given, so
    every method trains on them (early fusion) and ``crossmodal`` splits them again.

    Args:
        data: store, ``.zarr.zip`` or folder of stores; ``None`` for the built-in sample.
            Several, separated by commas, train together; those of another processing
            level of the sensor (``l1c.zarr,l2a.zarr`` with ``s2-l1c``) are band-matched
            and normalised with their own statistics (see :mod:`eossl.data.levels`).
        sensor: sensor card name or alias (``s2``, ``s2-l2a``, ``s1``, ``landsat-oli-sr``...),
            or several separated by commas (``s1,s2``).
        seasons: timestamps per sample (2 for seasonal contrast).
        positives: ``season`` (two timestamps of a location; one repeated where a
            location has only one), ``same`` (one timestamp, two augmentations) or
            ``mixed`` (``season`` with probability ``season_probability``), or
            ``phenology`` / ``same-phase`` (timestamps of different phases, or of one
            phase, of the location's NDVI cycle; phases are computed once into the
            stores where missing, see ``eossl phenology``). The run says in one line
            which it uses. Single-date stores always use ``same``.
        season_probability: chance of a seasonal pair with ``positives: mixed``.
        batch_size: samples per batch.
        num_workers: DataLoader worker processes.
        crop_size: the window read from the store (a random crop, the same for every
            season), in the workers, before transfer; ``None`` reads whole images. The
            method's ``augment.crop_size`` then sets the size of the views (a random
            resized crop of this window): both apply, in that order.
        val_fraction: share of samples held out for validation (0 for none).
        max_cloud_fraction: skip timestamps cloudier than this.
        release: card release whose statistics to use, instead of the store's stats.
        seed: seeds the split, the shuffling and the season draws.
        pin_memory: pin host memory for faster transfer to a GPU.
        on_bad_sample: ``error`` or ``skip`` unreadable samples.
        synthetic_samples: size of the built-in synthetic store.
        synthetic_size: image size of the built-in synthetic store.
        reader: ``auto`` (tensorstore where it can open the store, else zarr-python),
            ``tensorstore`` or ``zarr``; see docs/schema.md, "Reading".
        pairing: with several sensors, which of their timestamps go with the optical
            sensor's: ``nearest`` in time or ``independent`` draws.
        level_jitter: another processing level of the sensor (``s2-l1c`` for L2A data):
            every training image is moved toward it by a random share (0 to
            ``level_jitter_max``) of the two levels' published mean difference (see
            :func:`eossl.sensors.level_shift`), so weights meet both levels in pretraining.
        level_jitter_max: the largest share of that difference.
    """

    def __init__(
        self,
        data: str | None = None,
        sensor: str = "s2",
        seasons: int = 2,
        positives: Positives = "season",
        season_probability: float = 0.5,
        batch_size: int = 64,
        num_workers: int = 2,
        crop_size: int | None = None,
        val_fraction: float = 0.05,
        max_cloud_fraction: float | None = None,
        release: str | None = None,
        seed: int = 0,
        pin_memory: bool = True,
        on_bad_sample: Literal["error", "skip"] = "error",
        synthetic_samples: int = 256,
        synthetic_size: int = 128,
        reader: Reader = "auto",
        pairing: Pairing = "nearest",
        level_jitter: str | None = None,
        level_jitter_max: float = 1.5,
    ) -> None:
        super().__init__()
        self.save_hyperparameters()
        for name, value in (("batch_size", batch_size), ("seasons", seasons)):
            if value < 1:
                raise UserError(f"data.{name} must be at least 1, got {value}")
        if num_workers < 0:
            raise UserError(f"data.num_workers must be 0 or more, got {num_workers}")
        if not 0 <= val_fraction < 1:
            raise UserError(f"val_fraction must be in [0, 1), got {val_fraction}")
        if max_cloud_fraction is not None and not 0 <= max_cloud_fraction <= 1:
            raise UserError(
                f"data.max_cloud_fraction is a fraction in [0, 1], got {max_cloud_fraction}"
            )
        self.data = data
        self.sensors: list[Sensor] = get_sensors(sensor)
        self.sensor: Sensor = fused_sensor(self.sensors)  # the stack of them, with several
        self.seasons = seasons
        self.positives = positives
        self.overridden: str | None = None  # positives asked for that one date cannot give
        self.season_probability = season_probability
        self.batch_size = batch_size
        self.num_workers = num_workers
        self.crop_size = crop_size
        self.val_fraction = val_fraction
        self.max_cloud_fraction = max_cloud_fraction
        self.release = release
        self.seed = seed
        self.pin_memory = pin_memory
        self.on_bad_sample = on_bad_sample
        self.synthetic_samples = synthetic_samples
        self.synthetic_size = synthetic_size
        self.reader = reader
        self.pairing = pairing
        self.level_jitter = level_jitter
        self.level_jitter_max = level_jitter_max
        self.jitter: LevelJitter | None = None
        if not 0 < level_jitter_max <= 10:  # also NaN
            raise UserError(f"data.level_jitter_max must be in (0, 10], got {level_jitter_max}")
        self.dataset: SeasonalZarrDataset | MultiModalDataset | MixedLevelDataset | None = None
        self.stats: BandStats | None = None
        self.normalize: BandNormalize | StackNormalize | LevelNormalize | None = None
        self.sensor_stats: dict[str, BandStats] = {}
        self.level_stats: dict[str, BandStats] = {}  # several processing levels: each one's
        self.curated_size: int | None = None  # set by curation: samples per epoch
        self.selection: np.ndarray | None = None  # the training positions curation keeps

    @property
    def root(self) -> str | list[str]:
        """The data path in use (the cached synthetic stores when ``data`` is None)."""
        if self.data is not None:
            return listed_roots(self.data)
        from eossl.data.synthetic.store import builtin_store

        stores = [
            str(builtin_store(s, samples=self.synthetic_samples, size=self.synthetic_size))
            for s in self.sensors
        ]
        return stores[0] if len(stores) == 1 else stores

    def prepare_data(self) -> None:
        """Build the synthetic store, and phenological phases, if needed (on one process)."""
        root = self.root
        if self.positives in PHENOLOGICAL:
            optical = [c for c in self.sensors if c.modality == "optical"]
            if not optical:
                raise UserError(
                    f"positives {self.positives!r} need an optical sensor for NDVI, got "
                    f"{', '.join(c.name for c in self.sensors)}"
                )
            if len(self.sensors) == 1 and isinstance(root, list):  # each level's stores
                for card, paths in group_levels(root, self.sensor).values():
                    if paths:
                        ensure_phenology(paths, card)
                return
            ensure_phenology([s.path for s in stores_of(root, optical[0])], optical[0])

    def setup(self, stage: str | None = None) -> None:
        """Open the stores, split by sample and resolve the normalisation."""
        if self.dataset is not None:
            return
        common: dict[str, Any] = {
            "seasons": self.seasons,
            "positives": self.positives,
            "season_probability": self.season_probability,
            "max_cloud_fraction": self.max_cloud_fraction,
            "crop_size": self.crop_size,
            "seed": self.seed,
            "on_bad_sample": self.on_bad_sample,
            "dtype": "stored",  # converted to float on the device, in on_after_batch_transfer
            "reader": self.reader,
        }
        dataset: SeasonalZarrDataset | MultiModalDataset | MixedLevelDataset
        root = self.root
        one = len(self.sensors) == 1 and isinstance(root, list)
        levels = group_levels(root, self.sensor) if one else {}
        if len(levels) > 1:
            dataset = MixedLevelDataset(levels, self.sensor, **common)
            parts = dataset.parts
            _say(dataset.describe())
        elif len(self.sensors) > 1:
            dataset = MultiModalDataset(root, self.sensors, pairing=self.pairing, **common)
            parts = dataset.parts
            _say(
                f"eossl: {' + '.join(parts)} at the same places (checked by "
                f"{', '.join(sorted(set(dataset.alignment.values())))}), bands stacked in "
                f"that order; {self.pairing} timestamps paired with {dataset.reference}"
            )
        else:
            dataset = SeasonalZarrDataset(
                root, sensor=self.sensor, return_cloud_mask=False, **common
            )
            parts = {self.sensor.name: dataset}
        if dataset.max_timestamps == 1:
            if dataset.positives not in ("same", "season"):  # season: the default, no choice
                self.overridden = dataset.positives
            dataset.positives = "same"
        self.dataset = dataset
        _say(self.describe_positives())
        n = len(self.dataset)
        train, val = train_val_split(n, self.seed, self.val_fraction)
        if not train.size:
            where = self.data if self.data is not None else root
            raise UserError(f"{where}: {n} samples leave none for training")
        self.train_set = Subset(self.dataset, train.tolist())
        self.val_set = Subset(self.dataset, val.tolist())
        if train.size < self.batch_size:
            _say(
                f"eossl: data.batch_size {self.batch_size} is more than the {train.size} "
                f"training samples: each step is one batch of all {train.size}"
            )
        cards = {c.name: c for c in self.sensors}
        if isinstance(dataset, MixedLevelDataset):
            cards = dataset.cards
        self.sensor_stats = {
            name: pooled_stats(part.stores, cards[name], self.release)
            for name, part in parts.items()
        }
        for name, st in self.sensor_stats.items():
            if st.source.startswith("pooled"):
                _say(
                    f"eossl: {name}: {len(parts[name].stores)} stores with their own stats, "
                    "normalised alike with their pooled mean and std"
                )
        for name, part in parts.items():
            _refuse_empty(part, cards[name])
        if isinstance(dataset, MixedLevelDataset):  # each level its own, in the run's bands
            self.level_stats = {
                name: dataset.ordered(st, k)
                for k, (name, st) in enumerate(self.sensor_stats.items())
            }
            self.normalize = LevelNormalize(list(self.level_stats.values()), list(cards.values()))
            self.stats = self.level_stats[self.sensor.name]
            self.sensor_stats = {self.sensor.name: self.stats}
        else:
            norms = {
                name: BandNormalize(st.mean, st.std, cards[name].nodata)
                for name, st in self.sensor_stats.items()
            }
            if len(parts) > 1:
                self.stats = stack_stats(list(self.sensor_stats.values()))
                self.normalize = StackNormalize(norms)
            else:
                self.stats = self.sensor_stats[self.sensor.name]
                self.normalize = norms[self.sensor.name]
        if self.level_jitter is not None:
            self.jitter = self._level_jitter(self.level_jitter)
        cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None
        if cores is not None and self.num_workers > cores:
            _say(
                f"eossl: {self.num_workers} DataLoader workers on {cores} CPU cores; "
                f"--data.num_workers {cores} may be as fast"
            )
        if self.num_workers > 0:
            start_worker_server(dataset.uses_tensorstore)

    def _level_jitter(self, other: str) -> LevelJitter:
        """The jitter toward ``other``'s level, in std units of this run's statistics."""
        if len(self.sensors) > 1:
            raise UserError("data.level_jitter takes a single sensor's data")
        if isinstance(self.dataset, MixedLevelDataset):
            raise UserError(
                "data.level_jitter takes one processing level's data; "
                f"{', '.join(self.dataset.parts)} already train together"
            )
        try:
            to = get_sensor(other)
        except UserError as err:
            raise UserError(f"data.level_jitter: {err}") from err
        if to.name == self.sensor.name:
            raise UserError(
                f"data.level_jitter {other}: the data are {to.name} already; name the other "
                "level the weights will meet (s2-l1c for L2A data, s2-l2a for L1C)"
            )
        found = level_shift(self.sensor, to)
        if found is None:
            raise UserError(
                f"data.level_jitter {other}: no published difference between {self.sensor.name} "
                f"and {to.name}; the levels with one are Sentinel-2's s2-l1c and s2-l2a"
            )
        release, shift = found
        assert self.stats is not None
        vector = [
            shift.get(b, 0.0) / s
            for b, s in zip(self.sensor.band_names, self.stats.std, strict=True)
        ]
        band, std = max(zip(self.sensor.band_names, vector, strict=True), key=lambda b: abs(b[1]))
        if abs(std) > MAX_JITTER_STD:
            raise UserError(
                f"data.level_jitter: {band}'s shift ({shift[band]:+.0f} DN) is {abs(std):.3g} of "
                f"the store's standard deviations: its values are not in {self.sensor.name}'s DN "
                "(reflectance 0-1?) or the band is constant; check the store's stats"
            )
        largest = sorted(shift.items(), key=lambda kv: -abs(kv[1]))[:3]
        _say(
            f"eossl: each view moved toward {to.name} by 0-{self.level_jitter_max:g} x the "
            f"{release} mean difference ({', '.join(f'{b} {v:+.0f}' for b, v in largest)}, ...)"
        )
        return LevelJitter(torch.tensor(vector), self.level_jitter_max)

    def describe_positives(self) -> str:
        """One line saying what the positive pair of each location is in this run."""
        data = self.dataset
        if data is None or self.seasons == 1:
            return "eossl: one timestamp per location (positives do not apply)"
        if data.positives == "same":
            why = " (single-date data)" if data.max_timestamps == 1 else ""
            if self.overridden:
                why = (
                    f" (single-date data: positives {self.overridden} needs two timestamps of "
                    "a location)"
                )
            return f"eossl: positives: same -- two augmentations of one timestamp{why}"
        seasonal = "two seasons of a location; one timestamp twice where it has only one"
        if data.positives in PHENOLOGICAL:
            which = "different phases" if data.positives == "phenology" else "one phase"
            return (
                f"eossl: positives: {data.positives} -- two timestamps of {which} of a "
                f"location's own NDVI cycle (SSL4Eco); {data.phenology_fallback} of "
                f"{len(data)} locations have none and use two seasons"
            )
        if data.positives == "mixed":
            return (
                f"eossl: positives: mixed -- {seasonal} (p={data.season_probability}), "
                "else two augmentations of one timestamp"
            )
        return f"eossl: positives: season -- {seasonal}"

    # ---- curation (eossl.curation.DynamicCuration) ----------------------------------------

    def curate(self, keep: float) -> None:
        """Make every training epoch ``keep`` of the training set long (before its loader)."""
        self.curated_size = max(1, int(round(keep * len(self.train_set))))

    def select(self, positions: np.ndarray) -> None:
        """The positions in the training subset that the next epochs draw from."""
        self.selection = np.asarray(positions, np.int64)

    def plain_loader(self, positions: list[int], batch_size: int | None = None) -> DataLoader:
        """The training samples at ``positions``, in order, not augmented, for embedding.

        Each comes at its first valid timestamp, always the same view, so that two
        copies of a place look alike to curation.
        """
        indices = [self.train_set.indices[p] for p in positions]
        view = Subset(self.dataset.fixed_view(), indices)
        return self._loader(view, train=False, batch_size=batch_size, one_off=True)

    def _loader(
        self, data: Subset, train: bool, batch_size: int | None = None, one_off: bool = False
    ) -> DataLoader:
        """A DataLoader of ``data``.

        ``one_off``: read once, whole, in this process: not sharded across processes,
        and with no persistent workers.
        """
        workers = self.num_workers
        sampler: Any = _EpochSampler(data, self.seed, owner=self) if train else None
        distributed = torch.distributed.is_available() and torch.distributed.is_initialized()
        if distributed and not one_off:
            sampler = _DistributedEpochSampler(
                data, owner=self if train else None, shuffle=train, seed=self.seed,
                drop_last=train,
            )  # fmt: skip
        size = len(data) if self.curated_size is None or not train else self.curated_size
        return DataLoader(
            data,
            batch_size=batch_size or self.batch_size,
            sampler=sampler,
            num_workers=workers,
            pin_memory=self.pin_memory and torch.cuda.is_available(),
            persistent_workers=workers > 0 and not one_off,
            drop_last=train and size >= self.batch_size,
            prefetch_factor=4 if workers > 0 else None,
            **loader_workers(workers, self.dataset.uses_tensorstore),
        )

    def train_dataloader(self) -> DataLoader:
        """Shuffled training batches."""
        return self._loader(self.train_set, train=True)

    def val_dataloader(self) -> DataLoader | list:
        """Validation batches (none when ``val_fraction`` is 0)."""
        return self._loader(self.val_set, train=False) if len(self.val_set) else []

    def on_after_batch_transfer(
        self, batch: dict[str, Any], dataloader_idx: int
    ) -> dict[str, Any]:
        """Normalise on the device, then apply the method's augmentations when training.

        The datamodule owns the normalisation; the LightningModule owns its
        augmentation recipe as ``augment_batch(batch)``. Both run here, batched,
        on the accelerator, after transfer.
        """
        batch = self.normalise(batch)
        trainer = self.trainer
        if self.jitter is not None and trainer is not None and trainer.training:
            batch["image"] = self.jitter.to(batch["image"].device)(batch["image"])
        module = trainer.lightning_module if trainer is not None else None
        augment = getattr(module, "augment_batch", None)
        if augment is not None and trainer.training:
            batch = augment(batch)
        return batch

    def normalise(self, batch: dict[str, Any]) -> dict[str, Any]:
        """``image`` as float32, normalised band by band (several sensors: stacked)."""
        image = batch["image"]
        if isinstance(image, dict):  # several sensors: normalised each, stacked as channels
            assert isinstance(self.normalize, StackNormalize)
            self.normalize.to(next(iter(image.values())).device)
            batch["image"] = self.normalize(image)
        elif isinstance(self.normalize, LevelNormalize):  # several processing levels
            self.normalize.to(image.device)
            batch["image"] = self.normalize(image, batch["level"])
        else:
            batch["image"] = image.float()  # the dataset returns the stored dtype
            if self.normalize is not None:
                self.normalize.to(image.device)
                batch["image"] = self.normalize(batch["image"])
        return batch
