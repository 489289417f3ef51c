"""LabelledZarrDataModule: single-date chips and per-pixel labels for downstream tasks.

Yields TorchGeo-style batches (``image`` (B, C, H, W), ``mask`` (B, H, W)),
normalised and resized on the device exactly as the weights were pretrained.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any, Literal

import lightning as L
import numpy as np
import torch
from torch.nn import functional as F
from torch.utils.data import DataLoader, Dataset, Subset

from eossl.data.dataset import SeasonalZarrDataset
from eossl.data.normalize import BandNormalize
from eossl.data.workers import loader_workers
from eossl.errors import UserError

__all__ = ["LabelledChips", "LabelledZarrDataModule", "image_labels", "image_targets"]

IGNORE = 255


class LabelledChips(Dataset[dict[str, Any]]):
    """One clear timestamp per location, with its ``label`` map as ``mask``."""

    def __init__(self, root: str, seed: int = 0, max_cloud_fraction: float = 0.2) -> None:
        self.data = SeasonalZarrDataset(
            root, seasons=1, seed=seed, max_cloud_fraction=max_cloud_fraction
        )
        if not self.data.has_label:
            raise UserError(
                f"{root}: no 'label' variable; make a labelled store with "
                "`eossl synth --labels` or `eossl convert --labels`"
            )

    def __len__(self) -> int:
        return len(self.data)

    def __getitem__(self, index: int) -> dict[str, Any]:
        sample = self.data[index]
        return {"image": sample["image"][0], "mask": sample["label"], "index": sample["index"]}


def image_labels(masks: torch.Tensor, num_classes: int) -> torch.Tensor:
    """Majority class of each mask (B, H, W), ignoring unlabelled pixels."""
    counts = torch.stack([(masks == c).flatten(1).sum(1) for c in range(num_classes)], dim=1)
    return counts.argmax(1)


def image_targets(
    masks: torch.Tensor, num_classes: int, labels: Literal["majority", "multi"]
) -> torch.Tensor:
    """Chip-level targets: the majority class (B,), or the classes present (B, K) as 0/1.

    A class is present when it covers at least 5% of the chip's labelled pixels.
    """
    if labels == "majority":
        return image_labels(masks, num_classes)
    counts = torch.stack([(masks == c).flatten(1).sum(1) for c in range(num_classes)], dim=1)
    share = counts / counts.sum(1, keepdim=True).clamp(min=1)
    return (share >= 0.05).float()


def not_a_change_store(attrs: dict[str, Any], path: str | os.PathLike) -> None:
    """One line for a change store where one image's labels are needed."""
    if attrs.get("label_kind") == "change":
        raise UserError(
            f"{path}: a change store, whose labels belong to a pair of dates, not to one "
            "image; evaluate it with --task change"
        )


class LabelledZarrDataModule(L.LightningDataModule):
    """Train/val/test splits of a labelled store, normalised like the pretrained weights.

    Args:
        data: labelled store (``eossl synth --labels``, ``eossl convert --labels``).
        mean: per-band mean in the store's units.
        std: per-band std.
        size: image size the weights were pretrained at (images are resized to it).
        nodata: nodata value to fill.
        batch_size: samples per batch.
        num_workers: DataLoader workers.
        split: train and validation shares; the rest is the test split.
        seed: seeds the split and the timestamp draws.
    """

    def __init__(
        self,
        data: str,
        mean: list[float],
        std: list[float],
        size: int,
        nodata: float | None = None,
        batch_size: int = 16,
        num_workers: int = 0,
        split: tuple[float, float] = (0.6, 0.2),
        seed: int = 0,
    ) -> None:
        super().__init__()
        self.data, self.size, self.seed = data, size, seed
        self.batch_size, self.num_workers, self.split = batch_size, num_workers, split
        self.normalize = BandNormalize(mean, std, nodata)
        self.chips: LabelledChips | None = None
        # stored bands -> the weights' input (bands matched by name, normalised, resized),
        # set by the evaluation; None: every stored band, normalised with mean and std
        self.inputs: Callable[[torch.Tensor], tuple[torch.Tensor, torch.Tensor]] | None = None

    @classmethod
    def from_card(
        cls, card: dict[str, Any] | str, data: str, **kwargs: Any
    ) -> LabelledZarrDataModule:
        """A datamodule normalised and sized like the weights of an eossl card (dict or path)."""
        from eossl.data.io.schema import find_stores, open_group
        from eossl.weights.card import load_card

        if not isinstance(card, dict):
            card, _ = load_card(card)
        attrs = dict(open_group(find_stores(data)[0]).attrs)
        not_a_change_store(attrs, data)
        shift = float(attrs.get("offset", card.get("offset", 0.0)) or 0.0) - float(
            card.get("offset") or 0.0
        )
        mean = [m + shift for m in card["mean"]]
        return cls(
            data,
            mean,
            card["std"],
            size=int(card["crop_size"]),
            nodata=card.get("nodata"),
            **kwargs,
        )

    def setup(self, stage: str | None = None) -> None:
        """Open the store and split it by sample."""
        if self.chips is not None:
            return
        self.chips = LabelledChips(self.data, seed=self.seed)
        n = len(self.chips)
        order = np.random.default_rng(self.seed).permutation(n).tolist()
        n_train = max(1, int(n * self.split[0]))
        n_val = max(1, int(n * self.split[1]))
        if n - n_train - n_val < 1:
            raise UserError(f"{self.data}: {n} samples are too few for train/val/test splits")
        self.train_set = Subset(self.chips, order[:n_train])
        self.val_set = Subset(self.chips, order[n_train : n_train + n_val])
        self.test_set = Subset(self.chips, order[n_train + n_val :])

    def num_classes(self) -> int:
        """Classes present in the labels (largest label + 1, ignoring 255); at least 2."""
        self.setup()
        present: set[int] = set()
        for i in range(len(self.chips)):
            mask = self.chips.data[i]["label"]
            present.update(int(c) for c in torch.unique(mask[mask != IGNORE]))
        if len(present) < 2:  # mIoU of one class: every model "learns" it
            held = f"of one class ({present.pop()})" if present else "unlabelled (255)"
            raise UserError(f"{self.data}: every labelled pixel is {held}; segmentation needs 2+")
        return max(present) + 1

    def _loader(self, data: Subset, shuffle: bool) -> DataLoader:
        return DataLoader(
            data,
            batch_size=self.batch_size,
            shuffle=shuffle,
            num_workers=self.num_workers,
            **loader_workers(self.num_workers, self.chips.data.uses_tensorstore),
        )

    def train_dataloader(self) -> DataLoader:
        return self._loader(self.train_set, True)

    def val_dataloader(self) -> DataLoader:
        return self._loader(self.val_set, False)

    def test_dataloader(self) -> DataLoader:
        return self._loader(self.test_set, False)

    def predict_dataloader(self) -> DataLoader:
        return self._loader(self.test_set, False)

    def transform(self, batch: dict[str, Any]) -> dict[str, Any]:
        """Normalise and resize a batch on its device, as in pretraining."""
        if self.inputs is not None:
            image = self.inputs(batch["image"])[0]
        else:
            self.normalize.to(batch["image"].device)
            image = self.normalize(batch["image"])
            image = F.interpolate(
                image, size=(self.size, self.size), mode="bilinear", align_corners=False
            )
        mask = batch["mask"][:, None].float()
        mask = F.interpolate(mask, size=(self.size, self.size), mode="nearest")[:, 0].long()
        return {**batch, "image": image, "mask": mask}

    def on_after_batch_transfer(
        self, batch: dict[str, Any], dataloader_idx: int
    ) -> dict[str, Any]:
        return self.transform(batch)
