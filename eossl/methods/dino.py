"""DINO (Caron et al. 2021) with seasonal global crops and multi-crop local views."""

from __future__ import annotations

import warnings
from dataclasses import replace
from typing import Any

import torch
from lightly.loss import DINOLoss
from lightly.models.modules import DINOProjectionHead
from lightly.models.utils import deactivate_requires_grad, update_momentum
from lightly.utils.scheduler import cosine_schedule
from torch import Tensor

from eossl.augment import AugmentRecipe, MultiBandAugment, check_crop
from eossl.methods.common import SeasonalMethod, frozen_copy

__all__ = ["DINO"]


class DINO(SeasonalMethod):
    """Self-distillation: the student matches the centred, sharpened teacher across views.

    The two global crops are two seasons of one location; ``local_crops`` small
    crops are drawn from the seasons in turn. The teacher (a momentum copy of the
    student) sees only the global crops, the student sees every crop.

    Args:
        proj_dim: prototypes of the DINO head (65,536 in the paper).
        hidden_dim: hidden size of the head.
        bottleneck_dim: bottleneck size of the head.
        local_crops: number of local crops.
        local_crop_size: side of the local crops in pixels.
        local_crop_scale: area range of the local crops.
        student_temp: student softmax temperature.
        teacher_temp: teacher softmax temperature after warm-up.
        warmup_teacher_temp: teacher temperature at the start.
        warmup_teacher_temp_epochs: epochs of the linear teacher-temperature warm-up.
        momentum: starting momentum of the teacher (rises to 1).
        freeze_last_layer: epochs during which the head's last layer is frozen.
        weight_decay_end: weight decay at the end of training, reached by a cosine
            from ``weight_decay`` (0.04 -> 0.4 in the paper); ``None`` keeps it fixed.
        **kwargs: see :class:`~eossl.methods.base.SSLMethod`.
    """

    def __init__(
        self,
        proj_dim: int = 65536,
        hidden_dim: int = 2048,
        bottleneck_dim: int = 256,
        local_crops: int = 8,
        local_crop_size: int = 96,
        local_crop_scale: tuple[float, float] = (0.05, 0.4),
        student_temp: float = 0.1,
        teacher_temp: float = 0.04,
        warmup_teacher_temp: float = 0.04,
        warmup_teacher_temp_epochs: int = 0,
        momentum: float = 0.996,
        freeze_last_layer: int = 1,
        weight_decay_end: float | None = None,
        augment: AugmentRecipe | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(augment=augment or AugmentRecipe(crop_scale=(0.4, 1.0)), **kwargs)
        flag = "--model.init_args.local_crop"
        check_crop(local_crop_size, local_crop_scale, f"{flag}_size", f"{flag}_scale")
        local = replace(self.recipe, crop_size=local_crop_size, crop_scale=local_crop_scale)
        self.local_augment = MultiBandAugment(local, self.hparams.in_chans)
        head = (self.feature_dim, hidden_dim, bottleneck_dim, proj_dim)
        with warnings.catch_warnings():  # lightly's head still uses the old weight_norm
            warnings.filterwarnings("ignore", ".*weight_norm` is deprecated", FutureWarning)
            self.student_head = DINOProjectionHead(*head, freeze_last_layer=freeze_last_layer)
            self.teacher_head = DINOProjectionHead(*head)  # weight-normed: not deep-copyable
        self.teacher_head.load_state_dict(self.student_head.state_dict())
        deactivate_requires_grad(self.teacher_head)
        self.teacher_backbone = frozen_copy(self.backbone)
        self.criterion = DINOLoss(output_dim=proj_dim, student_temp=student_temp)

    def augment_batch(self, batch: dict[str, Any]) -> dict[str, Any]:
        """Two global crops (seasons A and B), then local crops from the seasons in turn."""
        image = batch["image"]
        seasons = image.shape[1]
        views = [self.augment(image[:, s % seasons]) for s in range(2)]
        views += [
            self.local_augment(image[:, i % seasons]) for i in range(self.hparams.local_crops)
        ]
        batch["views"] = [self._to_format(v) for v in views]
        return batch

    def on_train_batch_start(self, batch: dict[str, Any], batch_idx: int) -> None:
        """Move the weight decay along its cosine schedule (when ``weight_decay_end`` is set)."""
        super().on_train_batch_start(batch, batch_idx)
        end = self.hparams.weight_decay_end
        if end is None:
            return
        total = max(1, int(self.trainer.estimated_stepping_batches))
        decay = cosine_schedule(self.global_step, total, self.hparams.weight_decay, end)
        for group in self.trainer.optimizers[0].param_groups:
            if group.get("name") == "decay":
                group["weight_decay"] = decay
        self.log("weight_decay", decay)

    def teacher_temperature(self) -> float:
        """Linear warm-up of the teacher temperature, per epoch."""
        hp = self.hparams
        if self.current_epoch >= hp.warmup_teacher_temp_epochs:
            return hp.teacher_temp
        t = self.current_epoch / hp.warmup_teacher_temp_epochs
        return hp.warmup_teacher_temp + t * (hp.teacher_temp - hp.warmup_teacher_temp)

    def training_step(self, batch: dict[str, Any], batch_idx: int) -> Tensor:
        """Cross-entropy of every student view against the teacher's other global view."""
        m = self.momentum(self.hparams.momentum)
        update_momentum(self.backbone, self.teacher_backbone, m)
        update_momentum(self.student_head, self.teacher_head, m)
        views = self.views(batch)
        with torch.no_grad():
            teacher_out = [self.teacher_head(self.teacher_backbone(v)) for v in views[:2]]
        features = [self.embed(v) for v in views]
        student_out = [self.student_head(f) for f in features]
        loss = self.criterion(teacher_out, student_out, teacher_temp=self.teacher_temperature())
        self.log_loss(loss, features[0])
        self.log("momentum", m)
        return loss

    def on_after_backward(self) -> None:
        self.student_head.cancel_last_layer_gradients(self.current_epoch)
