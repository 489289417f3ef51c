"""MoCo v2/v3 with seasonal positives: two seasons of one location are the positive pair."""

from __future__ import annotations

import copy
from typing import Any, Literal

import torch
from lightly.loss import NTXentLoss
from lightly.models.modules import BYOLPredictionHead, MoCoProjectionHead
from lightly.models.utils import deactivate_requires_grad, update_momentum
from torch import Tensor

from eossl.augment import AugmentRecipe, moco_recipe
from eossl.methods.base import SSLMethod

__all__ = ["MoCo"]


class MoCo(SSLMethod):
    """Momentum contrast (He et al. 2020; Chen et al. 2020, 2021) on seasonal pairs.

    ``version=2``: a 2-layer projection head and a memory queue of negatives.
    ``version=3``: 3-layer heads with batch norm, a predictor, in-batch negatives
    (gathered across processes) and a symmetric loss. Either way the key encoder
    follows the query encoder with a momentum on a cosine schedule.

    Args:
        version: 2 or 3.
        proj_dim: output size of the projection head.
        hidden_dim: hidden size of the heads.
        temperature: InfoNCE temperature.
        queue_size: negatives in the memory queue (v2).
        momentum: starting momentum of the key encoder (rises to 1).
        **kwargs: see :class:`~eossl.methods.base.SSLMethod`.
    """

    def __init__(
        self,
        version: Literal[2, 3] = 2,
        proj_dim: int = 128,
        hidden_dim: int = 2048,
        temperature: float = 0.2,
        queue_size: int = 16384,
        momentum: float = 0.99,
        augment: AugmentRecipe | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(augment=augment or moco_recipe(), **kwargs)
        v3 = version == 3
        self.projection_head = MoCoProjectionHead(
            self.feature_dim, hidden_dim, proj_dim, num_layers=3 if v3 else 2, batch_norm=v3
        )
        self.prediction_head = BYOLPredictionHead(proj_dim, hidden_dim, proj_dim) if v3 else None
        self.backbone_momentum = copy.deepcopy(self.backbone)
        self.projection_head_momentum = copy.deepcopy(self.projection_head)
        deactivate_requires_grad(self.backbone_momentum)
        deactivate_requires_grad(self.projection_head_momentum)
        bank = 0 if v3 else (queue_size, proj_dim)
        self.criterion = NTXentLoss(
            temperature=temperature, memory_bank_size=bank, gather_distributed=True
        )

    def query(self, x: Tensor) -> tuple[Tensor, Tensor]:
        """Backbone features and the (predicted) query projection."""
        features = self.embed(x).flatten(1)
        q = self.projection_head(features)
        if self.prediction_head is not None:
            q = self.prediction_head(q)
        return features, q

    @torch.no_grad()
    def key(self, x: Tensor) -> Tensor:
        """Key projection from the momentum encoder."""
        return self.projection_head_momentum(self.backbone_momentum(self._to_format(x)).flatten(1))

    def training_step(self, batch: dict[str, Any], batch_idx: int) -> Tensor:
        """Season A of each location against season B of the same location."""
        m = self.momentum(self.hparams.momentum)
        update_momentum(self.backbone, self.backbone_momentum, m)
        update_momentum(self.projection_head, self.projection_head_momentum, m)
        season_a, season_b = self.views(batch)[:2]
        features, q_a = self.query(season_a)
        if self.hparams.version == 3:
            _, q_b = self.query(season_b)
            loss = 0.5 * (
                self.criterion(q_a, self.key(season_b)) + self.criterion(q_b, self.key(season_a))
            )
        else:
            loss = self.criterion(q_a, self.key(season_b))
        self.track(features, len(season_a))
        self.log("loss", loss, prog_bar=True, on_step=True, on_epoch=True)
        self.log("momentum", m)
        return loss

    def validation_step(self, batch: dict[str, Any], batch_idx: int) -> None:
        """Alignment of the two seasons' embeddings on held-out locations (no augmentation)."""
        image = batch["image"]
        a, b = self.embed(image[:, 0]), self.embed(image[:, 1])
        cos = torch.nn.functional.cosine_similarity(a, b).mean()
        self.log("val_season_cosine", cos, sync_dist=True)
