"""What every SSL method shares: backbone, optimiser and schedule, augmentation, monitors."""

from __future__ import annotations

import math
import time
from dataclasses import asdict
from typing import TYPE_CHECKING, Any, Literal

import lightning as L
import torch
from lightly.models.modules.memory_bank import MemoryBankModule
from lightly.utils.lars import LARS
from lightning.pytorch.utilities import rank_zero_warn
from torch import Tensor, nn

from eossl.augment import AugmentRecipe, MultiBandAugment
from eossl.console import say_during_fit
from eossl.errors import UserError
from eossl.models import create_backbone, has_fixed_size
from eossl.monitors import embedding_std, epoch_line, rankme

if TYPE_CHECKING:
    from eossl.data.normalize import BandStats
    from eossl.sensors import Sensor

__all__ = ["SSLMethod"]

DENSE_TEMPERATURE = 0.2  # DenseCL's


class SSLMethod(L.LightningModule):
    """Base LightningModule of eossl's SSL methods.

    Subclasses define ``training_step`` on ``batch["views"]`` and keep the
    encoder to export in ``self.backbone`` (a timm model). A subclass with one
    encoder per sensor sets ``one_encoder = False`` and builds them with
    :meth:`make_encoder`.

    Args:
        backbone: timm model name.
        in_chans: number of bands (linked from the datamodule's sensor by the CLI).
        backbone_weights: optional local weights (timm key names) to start from.
        optimizer: ``adamw``, ``lars`` or ``sgd``.
        lr: base learning rate for a batch of 256, scaled linearly with the batch.
        weight_decay: weight decay.
        warmup_epochs: linear warm-up before the cosine decay.
        augment: the view augmentation recipe (crop size, operations, probabilities).
        channels_last: use the channels-last memory format (faster convs on GPUs).
        monitor_samples: embeddings kept per epoch for embedding std and RankMe.
        collapse_threshold: warn when the embedding std falls below this.
        spectral_weight: weight of the spectral-retention term (0: none). A linear head
            predicts each view's per-band mean and std from its pooled features, so the
            features keep the spectrum that the contrastive loss may learn to ignore
            (methods with one encoder; used by SimCLR, Barlow Twins, MoCo, BYOL).
        dense_weight: weight of the dense term (0: none; SimCLR and Barlow Twins, CNNs).
            The cells of the two views' stride-16 feature maps that cover the same ground
            (known from the crop boxes) are positives, every other cell a negative
            (:mod:`eossl.methods.dense`): features that agree across dates at one place and
            differ between places, for per-pixel tasks such as change detection.
    """

    one_encoder: bool = True  # False: the subclass builds its own (one per sensor)
    dense_pairs: bool = False  # True: training_step adds dense_term (two views, one encoder)
    pairs: bool = False  # True: the loss compares two views of a location (data.seasons >= 2)

    def __init__(
        self,
        backbone: str = "resnet18",
        in_chans: int = 13,
        backbone_weights: str | None = None,
        optimizer: Literal["adamw", "lars", "sgd"] = "adamw",
        lr: float = 1e-3,
        weight_decay: float = 1e-4,
        warmup_epochs: float = 1.0,
        augment: AugmentRecipe | dict | None = None,
        channels_last: bool = False,
        monitor_samples: int = 1024,
        collapse_threshold: float = 0.05,
        spectral_weight: float = 0.0,
        dense_weight: float = 0.0,
    ) -> None:
        super().__init__()
        if not (math.isfinite(lr) and lr > 0):
            raise UserError(f"--model.init_args.lr {lr}: must be above 0")
        nonnegative = {
            "weight_decay": weight_decay,
            "warmup_epochs": warmup_epochs,
            "spectral_weight": spectral_weight,
            "dense_weight": dense_weight,
        }
        for name, value in nonnegative.items():
            if not (math.isfinite(value) and value >= 0):
                raise UserError(f"--model.init_args.{name} {value}: must be 0 or more")
        if backbone_weights is not None and not self.one_encoder:
            raise UserError(
                f"{type(self).__name__} builds its own encoders (one per sensor, or an "
                "any-band ViT); backbone_weights, one timm encoder's weights, does not apply"
            )
        self.save_hyperparameters()
        _check_ranges(self.hparams)
        if isinstance(augment, dict):
            augment = AugmentRecipe(**augment)
        self.recipe = augment or AugmentRecipe()
        # plain types only, so checkpoints load with torch.load(weights_only=True)
        self.hparams["augment"] = asdict(self.recipe)
        self.augment = MultiBandAugment(self.recipe, in_chans)
        if self.one_encoder:
            self.backbone = self.make_encoder(in_chans, backbone_weights)
            self.feature_dim: int = self.backbone.num_features
            if spectral_weight:
                self.spectral_head = nn.Linear(self.feature_dim, 2 * in_chans)
        elif spectral_weight:
            raise UserError(
                f"{type(self).__name__} has one encoder per sensor; spectral_weight applies "
                "to methods with one encoder"
            )
        if dense_weight:
            self._make_dense_head(type(self).__name__)
        self._monitor: list[Tensor] = []
        self._epoch_start = 0.0
        self._epoch_samples = 0
        self._epoch_indices: list[Tensor] = []
        self._epoch_skipped = 0

    def make_encoder(self, in_chans: int, weights: str | None = None) -> nn.Module:
        """A backbone for ``in_chans`` bands at the views' size, in the chosen memory format."""
        hp = self.hparams
        model = create_backbone(hp.backbone, in_chans, weights, img_size=self.recipe.crop_size)
        return model.to(memory_format=torch.channels_last) if hp.channels_last else model

    def _make_dense_head(self, method: str) -> None:
        """The projection of the dense term's map: the stage of stride 16, cell by cell."""
        from lightly.models.modules.heads import DenseCLProjectionHead

        backbone = getattr(self, "backbone", None) if self.dense_pairs else None
        info = getattr(backbone, "feature_info", None)
        if info is None or has_fixed_size(backbone) or len(info) < 2:
            raise UserError(
                f"dense_weight applies to SimCLR and Barlow Twins with a CNN backbone, not to "
                f"{method} with {self.hparams.backbone}"
            )
        from eossl.methods.dense import cell_offset

        self.dense_stage = len(info) - 2
        self.dense_offset = cell_offset(backbone, self.dense_stage, self.hparams.in_chans)
        channels = info[self.dense_stage]["num_chs"]
        self.dense_head = DenseCLProjectionHead(channels, channels, 128)

    # ---- data --------------------------------------------------------------------------------

    def setup(self, stage: str) -> None:
        """Refuse data of one view per location for a method that compares two."""
        seasons = getattr(self.trainer.datamodule, "seasons", 2)
        if self.pairs and seasons < 2:
            raise UserError(
                f"{type(self).__name__} compares two views of a location; --data.seasons "
                f"{seasons} gives one: pass --data.seasons 2 (single-date data give one date "
                "twice, augmented apart)"
            )

    def augment_batch(self, batch: dict[str, Any]) -> dict[str, Any]:
        """Augment each season of ``batch["image"]`` (B, S, C, H, W) into ``batch["views"]``.

        Called on the device by the datamodule after normalisation. The default
        gives one independently augmented view per season; methods may override.
        """
        image = batch["image"]
        views = [self.augment.transform(image[:, s]) for s in range(image.shape[1])]
        batch["views"] = [self._to_format(view) for view, _ in views]
        if self.hparams.get("dense_weight"):
            batch["boxes"] = [box for _, box in views]
        return batch

    def _to_format(self, x: Tensor) -> Tensor:
        return x.contiguous(memory_format=torch.channels_last) if self.hparams.channels_last else x

    def views(self, batch: dict[str, Any]) -> list[Tensor]:
        """The augmented views; augments here if no datamodule did (e.g. a plain DataLoader)."""
        if "views" not in batch:
            batch = self.augment_batch(batch)
        return batch["views"]

    # ---- monitors ----------------------------------------------------------------------------

    def track(self, features: Tensor, batch_size: int) -> None:
        """Keep backbone features for the epoch's collapse monitors and count samples."""
        self._epoch_samples += batch_size
        kept = sum(len(f) for f in self._monitor)
        if kept < self.hparams.monitor_samples:
            self._monitor.append(features.detach().float()[: self.hparams.monitor_samples - kept])

    def on_train_start(self) -> None:
        self._epoch_start = time.perf_counter()  # an epoch resumed midway has no epoch start

    def on_train_epoch_start(self) -> None:
        self._monitor.clear()
        self._epoch_samples = 0
        self._epoch_indices = []
        self._epoch_skipped = 0
        self._epoch_start = time.perf_counter()

    def on_train_batch_start(self, batch: dict[str, Any], batch_idx: int) -> None:
        if not getattr(self, "_view_size_said", False) and torch.is_tensor(batch.get("image")):
            self._view_size_said = True  # once a run: the loader's images keep their size
            side = min(batch["image"].shape[-2:])
            if self.recipe.crop_size > side and self.trainer.is_global_zero:
                say_during_fit(
                    self.trainer,
                    f"eossl: views of {self.recipe.crop_size} px are upsampled from images of "
                    f"{side} px (--model.init_args.augment.crop_size {side} keeps their "
                    "resolution)",
                )
        if "index" in batch:
            self._epoch_indices.append(batch["index"].detach())
        if "skipped" in batch:
            self._epoch_skipped += int(batch["skipped"].sum())

    def _report_epoch_data(self) -> None:
        """Log how many distinct samples all processes saw, and warn about skipped ones."""
        world = self._trainer.world_size if self._trainer is not None else 1
        if self._epoch_indices:
            indices = torch.cat(self._epoch_indices)
            if world > 1:
                indices = self.all_gather(indices).flatten()
            self.log("unique_samples", float(indices.unique().numel()), rank_zero_only=True)
        skipped = torch.tensor(float(self._epoch_skipped), device=self.device)
        if world > 1:
            skipped = self.all_gather(skipped).sum()
        self.log("skipped_samples", float(skipped), rank_zero_only=True)
        if skipped > 0:
            self._notice(
                f"epoch {self.current_epoch}: {int(skipped)} unreadable samples were skipped "
                "(on_bad_sample=skip); `eossl verify` on the data names the damaged chunks"
            )

    def on_train_epoch_end(self) -> None:
        elapsed = max(time.perf_counter() - self._epoch_start, 1e-9)
        self.log("samples_per_s", self._epoch_samples / elapsed, sync_dist=True)
        self._report_epoch_data()
        self._log_monitors()
        self._print_epoch_line()

    def _print_epoch_line(self) -> None:
        """``eossl: epoch 3/10, loss ..., lr ..., RankMe ..., std ..., samples/s ...``."""
        trainer = self._trainer
        if trainer is None or not trainer.is_global_zero or trainer.sanity_checking:
            return
        say_during_fit(
            trainer, epoch_line(self.current_epoch, trainer.max_epochs, trainer.callback_metrics)
        )

    def _log_monitors(self) -> None:
        if not self._monitor:
            return
        z = torch.cat(self._monitor)
        self._monitor.clear()
        if len(z) < 2:
            return
        std, rank = embedding_std(z), rankme(z)
        self.log_dict({"embedding_std": std, "rankme": rank}, sync_dist=True)
        if std < self.hparams.collapse_threshold:
            self._notice(
                f"representation collapse at epoch {self.current_epoch}: embedding std {std:.3f} "
                f"< {self.hparams.collapse_threshold}, RankMe {rank:.1f} of {z.shape[1]}; lower "
                "the learning rate, raise the temperature or check the augmentations"
            )

    def _notice(self, text: str) -> None:
        """One ``eossl:`` line above the progress bar (rank 0); a warning outside a Trainer."""
        if self._trainer is None:
            rank_zero_warn(text)
        elif self.trainer.is_global_zero:
            say_during_fit(self.trainer, f"eossl: {text}")

    def on_save_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        """Keep what downstream use needs (normalisation, bands, sensor) and the queues.

        lightly keeps memory banks (MoCo v2's and SeCo's queues of negatives) out of
        the ``state_dict``; they are saved here so that a resumed run goes on with
        the same negatives instead of random ones.
        """
        if meta := self.data_meta():
            checkpoint["eossl"] = meta
        banks = {
            name: {"bank": m.bank.detach().clone(), "ptr": m.bank_ptr.detach().clone()}
            for name, m in self.named_modules()
            if isinstance(m, MemoryBankModule) and m.bank.numel()
        }
        if banks:
            checkpoint["memory_banks"] = banks

    def on_load_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        """Restore the memory banks saved by :meth:`on_save_checkpoint` (if shapes match)."""
        modules = dict(self.named_modules())
        for name, saved in checkpoint.get("memory_banks", {}).items():
            module = modules.get(name)
            if isinstance(module, MemoryBankModule) and module.bank.shape == saved["bank"].shape:
                module.bank.copy_(saved["bank"])
                module.bank_ptr.copy_(saved["ptr"])
            else:
                rank_zero_warn(f"checkpoint memory bank {name!r} does not fit; starting it anew")

    def data_meta(self) -> dict[str, Any] | None:
        """Sensor, bands and normalisation of the data this module is trained on.

        With several sensors stacked, ``sensors`` also holds each one's own.
        """
        dm = self.trainer.datamodule if self._trainer is not None else None
        stats = getattr(dm, "stats", None)
        if dm is None or stats is None:
            return None
        meta = {
            **_normalisation(dm.sensor, dm.dataset.band_names if dm.dataset else None, stats),
            "dataset": dm.data or "eossl built-in synthetic sample",
        }
        if getattr(dm, "level_stats", None):  # several processing levels, each its own
            data = dm.dataset
            meta["levels"] = [
                {
                    **_normalisation(data.cards[name], meta["bands"], st),
                    "missing": data.missing[name],
                }
                for name, st in dm.level_stats.items()
            ]
        if len(getattr(dm, "sensors", ())) > 1:
            meta["sensors"] = [
                _normalisation(card, dm.dataset.parts[card.name].band_names, st)
                for card, st in zip(dm.sensors, dm.sensor_stats.values(), strict=True)
            ]
        return meta

    # ---- optimisation ------------------------------------------------------------------------

    def configure_optimizers(self) -> dict[str, Any]:
        """Optimiser with a linearly scaled lr, then per-step warm-up and cosine decay."""
        hp = self.hparams
        batch = self.trainer.datamodule.batch_size if self.trainer.datamodule else 256
        lr = hp.lr * batch * self.trainer.world_size / 256
        decay, no_decay = [], []
        for name, p in self.named_parameters():
            if p.requires_grad:
                (no_decay if p.ndim <= 1 or name.endswith(".bias") else decay).append(p)
        groups = [
            {"params": decay, "weight_decay": hp.weight_decay, "name": "decay"},
            {"params": no_decay, "weight_decay": 0.0, "name": "no_decay"},
        ]
        if hp.optimizer == "adamw":
            opt = torch.optim.AdamW(groups, lr=lr)
        elif hp.optimizer == "lars":
            opt = LARS(groups, lr=lr, momentum=0.9)
        else:
            opt = torch.optim.SGD(groups, lr=lr, momentum=0.9)
        total = max(1, int(self.trainer.estimated_stepping_batches))
        epochs = max(1, self.trainer.max_epochs or 1)
        warmup = min(total - 1, int(total * hp.warmup_epochs / epochs))
        if hp.warmup_epochs >= epochs and not self.trainer.fast_dev_run:
            self._notice(
                f"--model.init_args.warmup_epochs {hp.warmup_epochs:g} is not under the run's "
                f"{epochs} epochs: the learning rate rises for the whole run and never decays"
            )

        def factor(step: int) -> float:
            if step < warmup:
                return (step + 1) / (warmup + 1)
            progress = (step - warmup) / max(1, total - warmup)
            return 0.5 * (1 + math.cos(math.pi * min(progress, 1.0)))

        sched = torch.optim.lr_scheduler.LambdaLR(opt, factor)
        return {"optimizer": opt, "lr_scheduler": {"scheduler": sched, "interval": "step"}}

    def momentum(self, start: float) -> float:
        """Momentum of the key encoder: cosine from ``start`` to 1 over training."""
        from lightly.utils.scheduler import cosine_schedule

        total = max(1, int(self.trainer.estimated_stepping_batches))
        return cosine_schedule(self.global_step, total, start, 1.0)

    def on_before_backward(self, loss: Tensor) -> None:
        """Stop at a NaN or inf loss before it reaches the weights (:class:`NonFiniteLoss`)."""
        if not torch.isfinite(loss.detach()).all():
            raise NonFiniteLoss(float(loss.detach().float().sum()), self.global_step)

    def on_train_batch_end(self, outputs: Any, batch: Any, batch_idx: int) -> None:
        self.log("lr", self.trainer.optimizers[0].param_groups[0]["lr"], prog_bar=False)

    def spectral_term(self, features: Tensor, view: Tensor) -> Tensor:
        """``spectral_weight`` x MSE of the head's per-band mean and std of ``view`` (or 0)."""
        if not self.hparams.get("spectral_weight"):
            return features.new_zeros(())
        flat = view.detach().float().flatten(2)
        target = torch.cat([flat.mean(2), flat.std(2)], dim=1)
        error = nn.functional.mse_loss(self.spectral_head(features.float()), target)
        if self._trainer is not None:
            self.log("spectral_mse", error, on_step=False, on_epoch=True)
        return self.hparams.spectral_weight * error

    def embed(self, x: Tensor) -> Tensor:
        """Pooled backbone features of normalised images (B, C, H, W)."""
        return self.backbone(self._to_format(x))

    def embed_with_map(self, x: Tensor) -> tuple[Tensor, Tensor | None]:
        """Pooled features and, with ``dense_weight``, the dense term's map (else None)."""
        if not self.hparams.get("dense_weight"):
            return self.embed(x), None
        final, (stage,) = self.backbone.forward_intermediates(
            self._to_format(x), indices=[self.dense_stage], intermediates_only=False
        )
        return self.backbone.forward_head(final), stage

    def dense_term(self, a: Tensor, b: Tensor, batch: dict[str, Any]) -> Tensor:
        """``dense_weight`` x the symmetric dense InfoNCE of two views' maps."""
        from eossl.methods.dense import dense_infonce

        za, zb = (self.dense_head(m.permute(0, 2, 3, 1)).permute(0, 3, 1, 2) for m in (a, b))
        box_a, box_b = batch["boxes"][:2]
        size = self.recipe.crop_size
        loss = (
            dense_infonce(za, zb, box_a, box_b, size, DENSE_TEMPERATURE, self.dense_offset)
            + dense_infonce(zb, za, box_b, box_a, size, DENSE_TEMPERATURE, self.dense_offset)
        ) / 2
        if self._trainer is not None:
            self.log("dense_loss", loss, on_step=False, on_epoch=True)
        return self.hparams.dense_weight * loss


class NonFiniteLoss(UserError):
    """The loss became NaN or inf: training stops before the step that would spoil the weights.

    The last checkpoint written before it is kept, and nothing is exported.
    """

    def __init__(self, value: float, step: int) -> None:
        self.value, self.step = value, step
        super().__init__(
            f"the loss became {value} at step {step}; training stopped and nothing was "
            "exported. Try a lower --model.init_args.lr, or check the data with `eossl stats`"
        )


_ABOVE_0, _AT_LEAST_1, _AT_LEAST_0 = "above 0", "at least 1", "0 or more"
_RANGES: dict[str, tuple[str, Any]] = {  # a method's own hyperparameters, where it has them
    **{
        name: (_ABOVE_0, lambda v: v > 0)
        for name in ("temperature", "student_temp", "teacher_temp", "warmup_teacher_temp")
    },
    "lambda_param": (_ABOVE_0, lambda v: v > 0),
    "momentum": ("from 0 to 1", lambda v: 0 <= v <= 1),
    "mask_ratio": ("between 0 and 1, both left out", lambda v: 0 < v < 1),
    **{
        name: (_AT_LEAST_1, lambda v: v >= 1)
        for name in ("proj_dim", "hidden_dim", "bottleneck_dim", "decoder_dim", "decoder_heads")
    },
    **{
        name: (_AT_LEAST_0, lambda v: v >= 0)
        for name in ("queue_size", "nn_bank_size", "local_crops", "warmup_teacher_temp_epochs")
    },
}


def _check_ranges(hparams: Any) -> None:
    """One line for a method hyperparameter outside its range (a zero temperature, ...)."""
    for name, (want, fits) in _RANGES.items():
        value = hparams.get(name)
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            continue
        if not (math.isfinite(value) and fits(value)):
            raise UserError(f"--model.init_args.{name} {value}: must be {want}")


def _normalisation(sensor: Sensor, bands: list[str] | None, stats: BandStats) -> dict[str, Any]:
    """What a weights card records of one input: sensor, bands and their normalisation."""
    return {
        "sensor": sensor.name,
        "modality": sensor.modality,
        "bands": bands or sensor.band_names,
        "mean": list(stats.mean),
        "std": list(stats.std),
        "offset": stats.offset,
        "normalisation_source": stats.source,
        "nodata": sensor.nodata,
    }
