"""Segmentation fine-tuning through TorchGeo: pretrained weights against random init.

A U-Net from TorchGeo's ``SemanticSegmentationTask`` is fine-tuned on an eossl store's
per-pixel labels, once from the card's weights and once from random init with the
same seed, and scored by macro mIoU on the held-out chips.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import lightning as L
import torch

from eossl.console import quiet_lightning
from eossl.data.labelled import IGNORE, LabelledZarrDataModule
from eossl.errors import UserError
from eossl.evaluation.results import PRETRAINED, RANDOM, EvalResult
from eossl.evaluation.tasks import torchgeo_task
from eossl.weights.torchgeo import torchgeo_weights

__all__ = ["downstream_trainer", "finetune_segmentation"]


def downstream_trainer(epochs: int, **kwargs: Any) -> L.Trainer:
    """A Lightning trainer for a downstream fit: one device, no checkpoints, bar or summary.

    Lightning's tips, device notices and its ``_pytree`` deprecation notice are dropped,
    as in pretraining.
    """
    quiet_lightning()
    return L.Trainer(
        max_epochs=epochs,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        accelerator="auto",
        devices=1,
        **kwargs,
    )


def finetune_segmentation(
    card: dict[str, Any],
    card_ref: str | os.PathLike,
    dm: LabelledZarrDataModule,
    seed: int,
    epochs: int,
    out: Path,
    lr: float,
    freeze_backbone: bool = False,
) -> EvalResult:
    """MIoU of the U-Net fine-tuned from the card's weights and from random init.

    ``dm.inputs`` (:func:`~eossl.evaluation.evaluate.store_inputs`) matches the store's
    bands to the card's by name and normalises them as for the probes.
    ``freeze_backbone``: the decoder only is trained, on the frozen encoder.
    """
    from torchmetrics.classification import MulticlassJaccardIndex

    dm.setup()
    stored = dm.chips.data.stores[0].bands if dm.chips is not None else None
    if dm.inputs is None and card["in_chans"] != stored:  # no band matching set up
        raise UserError(
            f"{dm.data}: has {stored} bands but the weights expect {card['in_chans']}; "
            "set the datamodule's inputs (eossl.evaluation.evaluate.store_inputs)"
        )
    num_classes = dm.num_classes()
    weights = torchgeo_weights(card_ref)
    scores, curves = {}, {}
    for pretrained in (True, False):
        L.seed_everything(seed, verbose=False)
        task = torchgeo_task("SemanticSegmentation")(
            model="unet",
            backbone=card["model"],
            weights=weights if pretrained else None,
            in_channels=card["in_chans"],
            num_classes=num_classes,
            ignore_index=IGNORE,
            lr=lr,
            freeze_backbone=freeze_backbone,
        )
        name = "pretrained" if pretrained else "random"
        logger = L.pytorch.loggers.CSVLogger(out, name=f"segmentation_{name}", version="")
        trainer = downstream_trainer(epochs, logger=logger, log_every_n_steps=1)
        trainer.fit(task, datamodule=dm)
        metric = MulticlassJaccardIndex(num_classes, ignore_index=IGNORE, average="macro")
        task.eval()
        with torch.no_grad():
            for batch in dm.test_dataloader():
                batch = dm.transform(batch)
                metric.update(task(batch["image"].to(task.device)).argmax(1).cpu(), batch["mask"])
        scores[PRETRAINED if pretrained else RANDOM] = float(metric.compute())
        curves[name] = _val_curve(Path(logger.log_dir) / "metrics.csv")
    return EvalResult(
        "segmentation, frozen encoder + decoder" if freeze_backbone else "segmentation",
        "mIoU",
        scores,
        details={
            "epochs": epochs,
            "freeze_backbone": freeze_backbone,
            "classes": num_classes,
            "curves": curves,
            "train": len(dm.train_set),
            "test": len(dm.test_set),
        },
    )


def _val_curve(path: Path) -> list[float]:
    import csv

    if not path.exists():
        return []
    rows = list(csv.DictReader(path.open()))
    return [float(r["val_loss"]) for r in rows if r.get("val_loss")]
