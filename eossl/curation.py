"""Dynamic dataset curation: the model being trained picks a diverse, balanced subset.

After "Efficient Self-Supervised Learning for Earth Observation via Dynamic Dataset
Curation" (the Nereus / Sentinel-1 Wave Mode paper), which prunes a redundant,
heavy-tailed archive during pretraining with no feature extractor of its own, and
the clustering-based curation of Vo et al. 2024 ("Automatic Data Curation for
Self-Supervised Learning"). Every ``every_n_epochs`` epochs, :class:`DynamicCuration`:

1. embeds every training sample (its first valid timestamp, always the same, so that
   repeats of a place look alike; the centre view at the recipe's crop size) with the
   current backbone, in eval mode, without gradients;
   in DDP each process embeds its share and the embeddings are gathered;
2. clusters the L2-normalised embeddings with spherical k-means (k-means++ start),
   by default into as many clusters as samples are kept (up to 1,024), seeded by the
   run's seed and the epoch; ``levels`` > 1 clusters the centroids again
   (hierarchical k-means, as Vo et al.);
3. keeps ``keep`` of the samples, balanced across the coarsest clusters, then across
   the clusters within each: each gives at most a common cap, chosen so that the kept
   count is exact (small clusters whole, large ones capped), members drawn at random.

Until the next round, every epoch draws its samples from the kept ones; an epoch's
length is ``keep`` of the training set from the start (Lightning fixes it), so a
curated run costs ``keep`` of a full one per epoch. Process 0's selection is broadcast,
so every process sees the same one; each then takes its own shard of it. The kept
indices are part of the checkpoint, so a resumed run goes on with them. Each round is
one console line and one JSON line in ``OUT/curation.jsonl``.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import lightning as L
import numpy as np
import torch
import torch.nn.functional as F
from lightning.pytorch.callbacks import Callback
from lightning.pytorch.utilities import move_data_to_device
from torch import Tensor

from eossl.console import say_during_fit
from eossl.errors import UserError

MAX_CLUSTERS = 1024  # the default finest level: one cluster per kept sample, up to this

__all__ = ["DynamicCuration", "balanced_selection", "hierarchical_kmeans", "kmeans"]


def kmeans(
    x: Tensor, k: int, generator: torch.Generator, iters: int = 30
) -> tuple[Tensor, Tensor]:
    """Spherical k-means of the rows of ``x``: (cluster of each row, unit centroids)."""
    x = F.normalize(x.float(), dim=1)
    n = len(x)
    k = min(k, n)
    first = int(torch.randint(n, (1,), generator=generator))
    centres = [x[first]]
    dist = 1 - x @ x[first]
    for _ in range(1, k):  # k-means++: far points are likelier starts
        weights = dist.clamp(min=0) + 1e-12
        pick = int(torch.multinomial(weights, 1, generator=generator))
        centres.append(x[pick])
        dist = torch.minimum(dist, 1 - x @ x[pick])
    c = torch.stack(centres)
    labels = torch.zeros(n, dtype=torch.long)
    for _ in range(iters):
        new = (x @ c.T).argmax(dim=1)
        if _ and torch.equal(new, labels):
            break
        labels = new
        sums = torch.zeros_like(c).index_add_(0, labels, x)
        empty = torch.bincount(labels, minlength=k) == 0
        c = torch.where(empty[:, None], c, F.normalize(sums, dim=1))
    return labels, c


def hierarchical_kmeans(
    x: Tensor, sizes: list[int], generator: torch.Generator
) -> list[np.ndarray]:
    """Each row's cluster at every level, finest first: k-means, then k-means of the centroids.

    Flat k-means spends its clusters where the data are dense, so a dominant kind of
    sample (open water) takes most of them; clustering the centroids again groups those
    back together (Vo et al. 2024), so the coarse level is balanced by kind, not count.
    """
    levels: list[np.ndarray] = []
    points, assign = x, None
    for k in sizes:
        labels, centres = kmeans(points, k, generator)
        assign = labels if assign is None else labels[assign]
        levels.append(assign.numpy())
        points = centres
    return levels


def _allocate(counts: np.ndarray, size: int, rng: np.random.Generator) -> np.ndarray:
    """How many of each group to take: a common cap, small groups whole, ``size`` in all."""
    size = min(size, int(counts.sum()))
    cap = 0
    while np.minimum(counts, cap + 1).sum() <= size and cap < counts.max():
        cap += 1
    take = np.minimum(counts, cap)
    spare = np.flatnonzero(counts > cap)
    extra = rng.choice(spare, size=size - int(take.sum()), replace=False) if spare.size else []
    take[extra] += 1
    return take


def balanced_selection(
    levels: np.ndarray | list[np.ndarray], size: int, rng: np.random.Generator
) -> np.ndarray:
    """``size`` row numbers, as even across clusters as their sizes allow (sorted).

    ``levels``: each row's cluster, or a list of them from the finest level to the
    coarsest (:func:`hierarchical_kmeans`); the coarsest is balanced first, then each
    level within it, and members are drawn at random within the finest clusters.
    """
    levels = [np.asarray(levels)] if isinstance(levels, np.ndarray) else list(levels)

    def pick(members: np.ndarray, depth: int, k: int) -> np.ndarray:
        if depth < 0:
            return rng.choice(members, size=k, replace=False)
        labels = levels[depth][members]
        groups = [members[labels == c] for c in np.unique(labels)]
        take = _allocate(np.array([len(g) for g in groups]), k, rng)
        return np.concatenate(
            [pick(g, depth - 1, int(t)) for g, t in zip(groups, take, strict=True)]
        )

    everyone = np.arange(len(levels[0]))
    return np.sort(pick(everyone, len(levels) - 1, min(size, len(everyone))))


def balance(labels: np.ndarray) -> float:
    """Normalised entropy of the cluster shares: 1 is perfectly even, 0 one cluster."""
    counts = np.bincount(np.asarray(labels))
    counts = counts[counts > 0]
    if len(counts) < 2:
        return 0.0
    p = counts / counts.sum()
    return float(-(p * np.log(p)).sum() / np.log(len(counts)))


class DynamicCuration(Callback):
    """Prune and rebalance the training set every few epochs with the model's own embeddings.

    Args:
        keep: share of the training samples kept (1 turns curation off).
        every_n_epochs: epochs between rounds (the first round is at epoch 0).
        clusters: k-means clusters of the finest level; by default one per kept sample,
            up to 1,024 (then each cluster gives about one sample: the kept set spreads
            over the whole embedding space, and near-duplicates give one between them).
        levels: levels of hierarchical k-means; each has a quarter of the clusters of the
            one below (at least 2), e.g. 1,024 then 256. 1: flat k-means.
        batch_size: batch size of the embedding pass (default: the datamodule's).
    """

    def __init__(
        self,
        keep: float = 1.0,
        every_n_epochs: int = 5,
        clusters: int | None = None,
        levels: int = 1,
        batch_size: int | None = None,
    ) -> None:
        if not 0 < keep <= 1:
            raise UserError(f"curation.keep is a share in (0, 1], got {keep}")
        if every_n_epochs < 1:
            raise UserError(f"curation.every_n_epochs must be at least 1, got {every_n_epochs}")
        if clusters is not None and clusters < 1:
            raise UserError(f"curation.clusters must be at least 1, got {clusters}")
        if levels < 1:
            raise UserError(f"curation.levels must be at least 1, got {levels}")
        self.keep = keep
        self.every_n_epochs = every_n_epochs
        self.clusters = clusters
        self.levels = levels
        self.batch_size = batch_size
        self.selection: np.ndarray | None = None  # positions in the training subset
        self.round_epoch = -1

    @property
    def enabled(self) -> bool:
        """Whether curation runs (``keep`` below 1)."""
        return self.keep < 1

    # ---- Lightning hooks -------------------------------------------------------------

    def setup(self, trainer: L.Trainer, pl_module: L.LightningModule, stage: str) -> None:
        if self.enabled and stage == "fit":
            data = trainer.datamodule
            if data is None or not hasattr(data, "curate"):
                raise UserError("curation needs eossl's datamodule (SeasonalZarrDataModule)")
            data.curate(self.keep)

    def on_train_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if self.enabled and self.selection is not None:  # resumed: go on with the kept ones
            trainer.datamodule.select(self.selection)
            say_during_fit(
                trainer,
                f"eossl: curation: resumed with the {len(self.selection)} samples kept at "
                f"epoch {self.round_epoch}",
            )

    def on_train_epoch_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        epoch = trainer.current_epoch
        if not self.enabled or epoch % self.every_n_epochs or epoch == self.round_epoch:
            return
        data = trainer.datamodule
        z = self._embed(trainer, pl_module)
        n = len(data.train_set)
        size = data.curated_size
        record: dict[str, Any] = {"epoch": epoch, "of": n}
        if trainer.is_global_zero:
            seed = [int(data.seed), epoch]
            finest = self.clusters or min(size, MAX_CLUSTERS)
            sizes = [max(2, finest // 4**i) for i in range(self.levels)]
            generator = torch.Generator().manual_seed(hash_seed(seed))
            levels = hierarchical_kmeans(z, sizes, generator)
            selection = balanced_selection(levels, size, np.random.default_rng(seed))
            top = levels[-1]  # the coarsest level: what the balance is about
            record.update(
                kept=len(selection),
                levels=sizes,
                clusters=np.bincount(top).tolist(),
                kept_per_cluster=np.bincount(top[selection], minlength=top.max() + 1).tolist(),
                balance_before=round(balance(top), 4),
                balance_after=round(balance(top[selection]), 4),
            )
        else:
            selection = None
        selection = trainer.strategy.broadcast(selection, src=0)
        record = trainer.strategy.broadcast(record, src=0)
        digest = _digest(selection)
        digests = pl_module.all_gather(torch.tensor(digest, device=pl_module.device))
        record["digests"] = [int(d) for d in digests.flatten().tolist()]
        folder = Path(trainer.log_dir or trainer.default_root_dir)  # a collective: every rank
        self.selection, self.round_epoch = np.asarray(selection), epoch
        data.select(self.selection)
        pl_module.log_dict(
            {"curation_kept": float(record["kept"]), "curation_balance": record["balance_after"]},
            rank_zero_only=True,
        )
        if trainer.is_global_zero:
            hierarchy = f" of {' -> '.join(map(str, record['levels']))}" if self.levels > 1 else ""
            say_during_fit(
                trainer,
                f"eossl: curation at epoch {epoch}: kept {record['kept']} of {n} samples in "
                f"{len(record['clusters'])} clusters{hierarchy} (the largest, "
                f"{max(record['clusters'])}, "
                f"-> {record['kept_per_cluster'][int(np.argmax(record['clusters']))]}); "
                f"balance {record['balance_before']:.2f} "
                f"-> {record['balance_after']:.2f}",
            )
            folder.mkdir(parents=True, exist_ok=True)
            with (folder / "curation.jsonl").open("a") as f:
                f.write(json.dumps(record) + "\n")

    def state_dict(self) -> dict[str, Any]:
        return {
            "selection": None if self.selection is None else self.selection.tolist(),
            "round_epoch": self.round_epoch,
        }

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        kept = state_dict.get("selection")
        self.selection = None if kept is None else np.asarray(kept, np.int64)
        self.round_epoch = int(state_dict.get("round_epoch", -1))

    # ---- the embedding pass ------------------------------------------------------------

    @torch.no_grad()
    def _embed(self, trainer: L.Trainer, module: L.LightningModule) -> Tensor:
        """Embeddings of every training sample, gathered from all processes, in order."""
        data = trainer.datamodule
        n = len(data.train_set)
        world, rank = trainer.world_size, trainer.global_rank
        mine = list(range(rank, n, world))
        mine += mine[: -(-n // world) - len(mine)]  # equal shares for all_gather
        loader = data.plain_loader(mine, self.batch_size)
        was_training = module.training
        module.eval()
        parts = []
        try:
            for batch in loader:
                batch = data.normalise(move_data_to_device(batch, module.device))  # no hooks
                image = batch["image"][:, 0]  # the first valid timestamp
                parts.append(module.embed(_centre(image, module.recipe.crop_size)).float())
        finally:
            module.train(was_training)
        z = torch.cat(parts)
        if world > 1:
            z = module.all_gather(z)  # (world, share, D): row i of process r is sample r + i*world
            z = z.transpose(0, 1).reshape(-1, z.shape[-1])[:n]
        return z.cpu()


def _centre(x: Tensor, size: int) -> Tensor:
    """The centre ``size`` square of a batch, resized up where the images are smaller."""
    h, w = x.shape[-2:]
    if h >= size and w >= size:
        top, left = (h - size) // 2, (w - size) // 2
        return x[..., top : top + size, left : left + size]
    return F.interpolate(x, size=(size, size), mode="bilinear", align_corners=False)


def hash_seed(parts: list[int]) -> int:
    """A 63-bit seed from a few integers (torch generators take one integer)."""
    return int(np.random.default_rng(parts).integers(2**63 - 1))


def _digest(selection: Any) -> int:
    """A short fingerprint of a selection, to check that every process holds the same."""
    raw = np.asarray(selection, np.int64).tobytes()
    return int.from_bytes(hashlib.blake2b(raw, digest_size=6).digest(), "little")
