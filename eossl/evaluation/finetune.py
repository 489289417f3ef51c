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
    level_shift: bool = True,
) -> EvalResult:
    """MIoU of the U-Net fine-tuned from the card's weights and from random init.

    The store's bands are matched to the card's by name and normalised as for the probes
    (:class:`~eossl.evaluation.evaluate.CardInputs`, ``level_shift`` included).
    ``freeze_backbone``: the decoder only is trained, on the frozen encoder.
    """
    from torchmetrics.classification import MulticlassJaccardIndex

    dm.setup()
    dm.inputs = store_inputs(card, dm, level_shift)
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


def store_inputs(
    card: dict[str, Any], dm: LabelledZarrDataModule, level_shift: bool = True
) -> Any:
    """The card's :class:`~eossl.evaluation.evaluate.CardInputs` for a labelled store."""
    from types import SimpleNamespace

    from eossl.data.io.schema import find_stores, open_group
    from eossl.evaluation.evaluate import CardInputs, say_unused

    assert dm.chips is not None
    attrs = dict(open_group(find_stores(dm.data)[0]).attrs)
    store = SimpleNamespace(
        name=Path(dm.data).name,
        band_names=list(dm.chips.data.band_names or []),
        sensor=attrs.get("sensor"),
        offset=float(attrs.get("offset", 0.0) or 0.0),
        nodata=attrs.get("nodata"),
    )
    inputs = CardInputs(card, store, level_shift=level_shift)  # type: ignore[arg-type]
    say_unused(store.name, inputs.unused)
    return inputs


def _val_curve(path: Path) -> list[float]:
    import csv

    if not path.exists():
        return []
    rows = list(csv.DictReader(path.open()))
    return [float(r["val_loss"]) for r in rows if r.get("val_loss")]
