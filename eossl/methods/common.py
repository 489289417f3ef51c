"""Pieces shared by the joint-embedding methods: seasonal validation, frozen teacher copies."""

from __future__ import annotations

import copy
from typing import Any

from lightly.models.utils import deactivate_requires_grad
from torch import Tensor, nn
from torch.nn import functional as F

from eossl.errors import UserError
from eossl.methods.base import SSLMethod
from eossl.models import is_vit

__all__ = ["SeasonalMethod", "frozen_copy", "require_vit"]


def frozen_copy(module: nn.Module) -> nn.Module:
    """A copy of ``module`` without gradients: the momentum (teacher) encoder."""
    teacher = copy.deepcopy(module)
    deactivate_requires_grad(teacher)
    return teacher


def require_vit(name: str, method: str) -> None:
    """One-line error when a ViT-only method gets a CNN backbone."""
    if not is_vit(name):
        raise UserError(
            f"{method} needs a ViT backbone, got {name!r}; "
            "pass --model.init_args.backbone vit_small_patch16_224"
        )


class SeasonalMethod(SSLMethod):
    """A joint-embedding method whose positive pair is two seasons of one location.

    The datamodule's ``augment_batch`` gives one augmented view per season, so
    ``self.views(batch)[:2]`` are season A and season B of each location.
    """

    def log_loss(self, loss: Tensor, features: Tensor) -> None:
        """Log the loss and keep backbone features for the collapse monitors."""
        self.track(features, len(features))
        self.log("loss", loss, prog_bar=True, on_step=True, on_epoch=True)

    def validation_step(self, batch: dict[str, Any], batch_idx: int) -> None:
        """Alignment of the two seasons' embeddings on held-out locations (no augmentation)."""
        image = batch["image"]
        a, b = self.embed(image[:, 0]), self.embed(image[:, -1])
        self.log("val_season_cosine", F.cosine_similarity(a, b).mean(), sync_dist=True)


class ProjectedPairMethod(SeasonalMethod):
    """Seasonal methods whose loss compares the two seasons' projections directly.

    Subclasses set ``self.projection_head`` and ``self.criterion``; the step is
    ``criterion(head(f(season A)), head(f(season B)))`` (SimCLR, Barlow Twins).
    """

    projection_head: nn.Module
    criterion: nn.Module

    def training_step(self, batch: dict[str, Any], batch_idx: int) -> Tensor:
        """The criterion between the projections of the two seasons."""
        season_a, season_b = self.views(batch)[:2]
        h_a, h_b = self.embed(season_a), self.embed(season_b)
        loss = self.criterion(self.projection_head(h_a), self.projection_head(h_b))
        self.log_loss(loss, h_a)
        return loss
