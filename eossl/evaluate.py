"""Downstream evaluation of exported weights against random init: kNN, linear, segmentation.

Each task runs the same protocol twice, with the pretrained backbone and with a
random-init one (same seed). The result is a table, a JSON file and a plot.
Normalisation and image size follow the weights card.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import lightning as L
import torch
from torch.nn import functional as F

from eossl.data.labelled import IGNORE, LabelledZarrDataModule, image_labels
from eossl.errors import UserError
from eossl.models import create_backbone
from eossl.weights import load_card, load_verified, torchgeo_weights

__all__ = ["EvalResult", "evaluate"]

Task = Literal["knn", "linear", "segmentation"]
Labels = Literal["majority", "multi"]


@dataclass
class EvalResult:
    """Scores of one task, pretrained vs random init."""

    task: str
    metric: str
    pretrained: float
    random: float
    details: dict[str, Any] = field(default_factory=dict)

    @property
    def gain(self) -> float:
        """Pretrained minus random."""
        return self.pretrained - self.random


def _datamodule(
    card: dict[str, Any], data: str, seed: int, batch_size: int, num_workers: int
) -> LabelledZarrDataModule:
    return LabelledZarrDataModule.from_card(
        card, data, seed=seed, batch_size=batch_size, num_workers=num_workers
    )


def _backbone(
    card: dict[str, Any], card_ref: str | os.PathLike, pretrained: bool, seed: int
) -> torch.nn.Module:
    torch.manual_seed(seed)
    model = create_backbone(card["model"], card["in_chans"], img_size=card["crop_size"])
    if pretrained:
        model.load_state_dict(load_verified(card_ref), strict=True)
    return model.eval()


def image_targets(masks: torch.Tensor, num_classes: int, labels: Labels) -> torch.Tensor:
    """Chip-level targets: the majority class (B,), or the classes present (B, K) as 0/1.

    A class is present when it covers at least 5% of the chip's labelled pixels.
    """
    if labels == "majority":
        return image_labels(masks, num_classes)
    counts = torch.stack([(masks == c).flatten(1).sum(1) for c in range(num_classes)], dim=1)
    share = counts / counts.sum(1, keepdim=True).clamp(min=1)
    return (share >= 0.05).float()


@torch.no_grad()
def _features(
    model: torch.nn.Module,
    dm: LabelledZarrDataModule,
    loader: Any,
    num_classes: int,
    labels: Labels = "majority",
) -> tuple[torch.Tensor, torch.Tensor]:
    feats, targets = [], []
    for batch in loader:
        batch = dm.transform(batch)
        feats.append(model(batch["image"]).flatten(1))
        targets.append(image_targets(batch["mask"], num_classes, labels))
    return torch.cat(feats), torch.cat(targets)


def _score(pred: torch.Tensor, y: torch.Tensor) -> float:
    """Accuracy of class predictions, or micro-F1 of multi-label 0/1 predictions."""
    if y.ndim == 1:
        return float((pred == y).float().mean())
    tp = (pred * y).sum()
    return float(2 * tp / (pred.sum() + y.sum()).clamp(min=1))


def _knn(
    train: torch.Tensor,
    y_train: torch.Tensor,
    test: torch.Tensor,
    y_test: torch.Tensor,
    num_classes: int,
    k: int = 20,
    t: float = 0.07,
) -> float:
    """Weighted cosine kNN (as in DINO's protocol); per-class votes for multi-label."""
    sim = F.normalize(test, dim=1) @ F.normalize(train, dim=1).T
    k = min(k, len(train))
    top, idx = sim.topk(k, dim=1)
    weight = (top / t).exp()
    if y_train.ndim == 2:  # multi-label: weighted share of neighbours with each class
        share = (weight[..., None] * y_train[idx]).sum(1) / weight.sum(1, keepdim=True)
        return _score((share >= 0.5).float(), y_test)
    votes = torch.zeros(len(test), num_classes).scatter_add_(1, y_train[idx], weight)
    return _score(votes.argmax(1), y_test)


def _linear(
    train: torch.Tensor,
    y_train: torch.Tensor,
    test: torch.Tensor,
    y_test: torch.Tensor,
    num_classes: int,
    steps: int = 200,
) -> float:
    """A logistic-regression probe on standardised frozen features (BCE for multi-label)."""
    mu, sd = train.mean(0), train.std(0) + 1e-6
    x_train, x_test = (train - mu) / sd, (test - mu) / sd
    head = torch.nn.Linear(train.shape[1], num_classes)
    opt = torch.optim.LBFGS(head.parameters(), lr=0.5, max_iter=steps)

    def closure() -> torch.Tensor:
        opt.zero_grad()
        logits = head(x_train)
        if y_train.ndim == 2:
            loss = F.binary_cross_entropy_with_logits(logits, y_train)
        else:
            loss = F.cross_entropy(logits, y_train)
        loss = loss + 1e-3 * head.weight.square().sum()
        loss.backward()
        return loss

    opt.step(closure)
    with torch.no_grad():
        logits = head(x_test)
        pred = (logits > 0).float() if y_test.ndim == 2 else logits.argmax(1)
        return _score(pred, y_test)


def _probe(
    task: Task,
    card: dict[str, Any],
    card_ref: str | os.PathLike,
    dm: LabelledZarrDataModule,
    seed: int,
    labels: Labels = "majority",
) -> EvalResult:
    num_classes = dm.num_classes()
    scores = {}
    for pretrained in (True, False):
        model = _backbone(card, card_ref, pretrained, seed)
        train_loader = torch.utils.data.DataLoader(
            torch.utils.data.ConcatDataset([dm.train_set, dm.val_set]), batch_size=dm.batch_size
        )
        f_train, y_train = _features(model, dm, train_loader, num_classes, labels)
        f_test, y_test = _features(model, dm, dm.test_dataloader(), num_classes, labels)
        probe = _knn if task == "knn" else _linear
        scores[pretrained] = probe(f_train, y_train, f_test, y_test, num_classes)
    return EvalResult(
        task,
        "accuracy" if labels == "majority" else "F1 (micro, multi-label)",
        scores[True],
        scores[False],
        {
            "train": len(dm.train_set) + len(dm.val_set),
            "test": len(dm.test_set),
            "classes": num_classes,
        },
    )


def _segmentation(
    card: dict[str, Any],
    card_ref: str | os.PathLike,
    dm: LabelledZarrDataModule,
    seed: int,
    epochs: int,
    out: Path,
    lr: float,
) -> EvalResult:
    from torchgeo.trainers import SemanticSegmentationTask
    from torchmetrics.classification import MulticlassJaccardIndex

    num_classes = dm.num_classes()
    weights = torchgeo_weights(card_ref)
    scores, curves = {}, {}
    for pretrained in (True, False):
        L.seed_everything(seed, verbose=False)
        task = SemanticSegmentationTask(
            model="unet",
            backbone=card["model"],
            weights=weights if pretrained else None,
            in_channels=card["in_chans"],
            num_classes=num_classes,
            ignore_index=IGNORE,
            lr=lr,
        )
        name = "pretrained" if pretrained else "random"
        logger = L.pytorch.loggers.CSVLogger(out, name=f"segmentation_{name}", version="")
        trainer = L.Trainer(
            max_epochs=epochs,
            logger=logger,
            enable_checkpointing=False,
            enable_progress_bar=False,
            enable_model_summary=False,
            accelerator="auto",
            devices=1,
            log_every_n_steps=1,
        )
        trainer.fit(task, datamodule=dm)
        metric = MulticlassJaccardIndex(num_classes, ignore_index=IGNORE, average="macro")
        task.eval()
        with torch.no_grad():
            for batch in dm.test_dataloader():
                batch = dm.transform(batch)
                metric.update(task(batch["image"].to(task.device)).argmax(1).cpu(), batch["mask"])
        scores[pretrained] = float(metric.compute())
        curves[name] = _val_curve(Path(logger.log_dir) / "metrics.csv")
    return EvalResult(
        "segmentation",
        "mIoU",
        scores[True],
        scores[False],
        {
            "epochs": epochs,
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


def evaluate(
    weights: str | os.PathLike,
    data: str | os.PathLike,
    task: Task = "knn",
    out: str | os.PathLike = "eval",
    epochs: int = 5,
    seed: int = 0,
    batch_size: int = 16,
    num_workers: int = 0,
    lr: float = 1e-3,
    labels: Labels = "majority",
) -> EvalResult:
    """Run one downstream task for a weights card, against random init; save JSON and a plot.

    ``labels`` sets the chip-level target of ``knn`` and ``linear``: the majority
    class (accuracy), or every class covering 5% or more of the chip (micro-F1).
    """
    if task not in ("knn", "linear", "segmentation"):
        raise UserError(f"unknown task {task!r}; choose knn, linear or segmentation")
    if labels not in ("majority", "multi"):
        raise UserError(f"unknown labels {labels!r}; choose majority or multi")
    card, _ = load_card(weights)
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    dm = _datamodule(card, str(data), seed, batch_size, num_workers)
    dm.setup()
    if card["in_chans"] != dm.chips.data.stores[0].bands:
        raise UserError(
            f"{data}: has {dm.chips.data.stores[0].bands} bands but the weights "
            f"expect {card['in_chans']}; evaluate on a store of sensor "
            f"{card.get('sensor')}"
        )
    if task == "segmentation":
        result = _segmentation(card, weights, dm, seed, epochs, out, lr)
    else:
        result = _probe(task, card, weights, dm, seed, labels)
    (out / f"evaluate_{task}.json").write_text(
        json.dumps({"weights": card["name"], "data": str(data), **result.__dict__}, indent=2)
    )
    plot_result(result, card["name"], out / f"evaluate_{task}.png")
    return result


def plot_result(result: EvalResult, name: str, path: Path) -> Path:
    """Bar chart of pretrained vs random, plus the validation curves when there are any."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    curves = result.details.get("curves") or {}
    fig, axes = plt.subplots(
        1, 2 if curves else 1, figsize=(9 if curves else 4.5, 3.5), squeeze=False
    )
    ax = axes[0, 0]
    bars = ax.bar(
        ["pretrained", "random init"],
        [result.pretrained, result.random],
        color=["#2a7ab0", "#b0b0b0"],
    )
    ax.bar_label(bars, fmt="%.3f")
    ax.set_ylabel(result.metric)
    ax.set_ylim(0, 1)
    ax.set_title(f"{result.task}: {name}", fontsize=9)
    if curves:
        ax = axes[0, 1]
        for label, values in curves.items():
            ax.plot(range(1, len(values) + 1), values, marker="o", label=label)
        ax.set_xlabel("epoch")
        ax.set_ylabel("validation loss")
        ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def print_result(result: EvalResult) -> None:
    """Print the comparison as a rich table."""
    from rich.console import Console
    from rich.table import Table

    table = Table(title=f"eossl evaluate: {result.task}")
    for col in ("metric", "pretrained", "random init", "gain"):
        table.add_column(col, justify="right")
    table.add_row(
        result.metric, f"{result.pretrained:.3f}", f"{result.random:.3f}", f"{result.gain:+.3f}"
    )
    Console().print(table)
