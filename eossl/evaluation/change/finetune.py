"""Change detection fine-tuned through TorchGeo's ``ChangeDetectionTask``, cities held out.

FC-Siam-diff with the card's backbone, initialised from the card's weights (a TorchGeo
``WeightsEnum`` member) and from random init with the same seed, trained on the tiles
of the training cities (random flips and 90-degree turns, a tenth held out for
validation), then thresholded at the F1-best value on its training cities. With
``freeze_backbone`` only the decoder trains, on the frozen encoder, as SeCo evaluates
OSCD (BatchNorm statistics still follow the data). Unlabelled pixels (255) count in
neither the loss nor the metrics.
"""

from __future__ import annotations

from typing import Any

import lightning as L
import numpy as np
import torch
from torch import Tensor
from torch.nn import functional as F

from eossl.console import task_progress
from eossl.evaluation.change.scores import THRESHOLD_PIXELS, best_threshold, city_counts
from eossl.evaluation.finetune import downstream_trainer
from eossl.evaluation.results import PRETRAINED, RANDOM
from eossl.evaluation.tasks import torchgeo_task
from eossl.weights.torchgeo import torchgeo_weights

__all__ = ["ChangeTiles", "MaskedBCE", "change_task", "check_backbone", "finetune_change"]

MAX_POS_WEIGHT = 20.0  # the BCE weight of changed pixels: their rarity, at most this
UNLABELLED = 255


class MaskedBCE(torch.nn.Module):
    """Binary cross-entropy over the labelled pixels only (TorchGeo's BCE has no ignore)."""

    def __init__(self, pos_weight: float) -> None:
        super().__init__()
        self.register_buffer("pos_weight", torch.tensor(float(pos_weight)))

    def forward(self, logits: Tensor, target: Tensor) -> Tensor:
        labelled = target != UNLABELLED
        loss = F.binary_cross_entropy_with_logits(
            logits, target * labelled, pos_weight=self.pos_weight, reduction="none"
        )
        return (loss * labelled).sum() / labelled.sum().clamp(min=1)


class ChangeTiles(torch.utils.data.Dataset):
    """Tiles as ``ChangeDetectionTask`` takes them: image (2, C, H, W), mask (1, H, W).

    The mask is 0 (no change), 1 (change) or 255 (unlabelled).
    """

    def __init__(self, images: Tensor, mask: np.ndarray, index: np.ndarray, augment: bool):
        self.images, self.index, self.augment = images, index, augment
        self.mask = torch.from_numpy(mask.astype(np.float32))

    def __len__(self) -> int:
        return len(self.index)

    def __getitem__(self, k: int) -> dict[str, Tensor]:
        i = int(self.index[k])
        image, mask = self.images[i], self.mask[i][None]
        if self.augment:
            turns = int(torch.randint(4, ()))
            image, mask = image.rot90(turns, (-2, -1)), mask.rot90(turns, (-2, -1))
            if torch.rand(()) < 0.5:
                image, mask = image.flip(-1), mask.flip(-1)
        return {"image": image, "mask": mask}


def check_backbone(card: dict[str, Any]) -> None:
    """A one-line error when FC-Siam-diff (segmentation_models_pytorch) lacks the backbone."""
    import segmentation_models_pytorch as smp

    from eossl.errors import UserError

    if card["model"] not in smp.encoders.get_encoder_names():
        raise UserError(
            f"{card['name']}: TorchGeo's ChangeDetectionTask has no {card['model']} encoder "
            "(it takes segmentation_models_pytorch's, e.g. resnet18/50); pass --probe-only"
        )


def change_task(
    card: dict[str, Any], weights: Any, pos_weight: float, lr: float, freeze_backbone: bool = False
) -> Any:
    """TorchGeo's FC-Siam-diff with the card's backbone; unlabelled pixels ignored."""
    task = torchgeo_task("ChangeDetection")(
        model="fcsiamdiff",
        backbone=card["model"],
        weights=weights,
        in_channels=card["in_chans"],
        task="binary",
        loss="bce",
        ignore_index=UNLABELLED,
        lr=lr,
        freeze_backbone=freeze_backbone,
    )
    task.criterion = MaskedBCE(pos_weight)
    return task


@torch.no_grad()
def _probabilities(task: Any, images: Tensor, index: np.ndarray, batch: int) -> np.ndarray:
    task.eval()
    out = []
    for start in range(0, len(index), batch):
        x = images[index[start : start + batch]].to(task.device)
        out.append(task(x).sigmoid()[:, 0].cpu().numpy())
    return np.concatenate(out)


def finetune_change(
    card: dict[str, Any],
    card_ref: Any,
    pairs: Any,
    images: Tensor,
    folds: list[list[str]],
    seed: int,
    epochs: int,
    lr: float,
    batch_size: int,
    freeze_backbone: bool = False,
) -> tuple[dict[str, dict[str, np.ndarray]], dict[str, dict[int, np.ndarray]]]:
    """(tp, fp, fn) per city and predicted maps, fine-tuned from the card and from random."""
    weights = torchgeo_weights(card_ref)
    maps: dict[str, dict[int, np.ndarray]] = {PRETRAINED: {}, RANDOM: {}}
    rng = np.random.default_rng(seed)
    with task_progress() as progress:
        what = "change decoder on the frozen encoder" if freeze_backbone else "change fine-tuning"
        bar = progress.add_task(what, total=2 * len(folds))
        for test_cities in folds:
            held = np.isin(pairs.city, test_cities)
            test, train = np.flatnonzero(held), rng.permutation(np.flatnonzero(~held))
            val, fit = train[: max(1, len(train) // 10)], train[max(1, len(train) // 10) :]
            labelled = pairs.mask[fit] != UNLABELLED
            changed = float((pairs.mask[fit] == 1).sum())
            pos_weight = min(MAX_POS_WEIGHT, (labelled.sum() - changed) / max(changed, 1.0))
            loaders = [
                torch.utils.data.DataLoader(
                    ChangeTiles(images, pairs.mask, part, augment=part is fit),
                    batch_size=batch_size,
                    shuffle=part is fit,
                )
                for part in (fit, val)
            ]
            for pretrained in (True, False):
                L.seed_everything(seed, verbose=False)
                task = change_task(
                    card, weights if pretrained else None, pos_weight, lr, freeze_backbone
                )
                trainer = downstream_trainer(epochs, logger=False)
                trainer.fit(task, *loaders)
                name = PRETRAINED if pretrained else RANDOM
                task.to(trainer.strategy.root_device)  # fit hands the model back on the CPU
                seen = _probabilities(task, images, train, batch_size)
                truth = pairs.mask[train].reshape(-1)
                valid = np.flatnonzero(truth != UNLABELLED)
                pick = rng.choice(valid, min(THRESHOLD_PIXELS, valid.size), replace=False)
                threshold = best_threshold(
                    torch.from_numpy(seen.reshape(-1)[pick]), torch.from_numpy(truth[pick])
                )
                for i, p in zip(test, _probabilities(task, images, test, batch_size), strict=True):
                    maps[name][int(i)] = p >= threshold
                progress.advance(bar)
    return {name: city_counts(pairs, m) for name, m in maps.items()}, maps
