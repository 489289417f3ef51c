"""MoCo v2/v3 with seasonal positives: two seasons of one location are the positive pair."""

from __future__ import annotations

import copy
from typing import Any, Literal

import torch
from lightly.loss import NTXentLoss
from lightly.models.modules import BYOLPredictionHead, MoCoProjectionHead
from lightly.models.utils import deactivate_requires_grad, update_momentum
from lightly.utils import dist
from torch import Tensor
from torch.nn import functional as F

from eossl.augment import AugmentRecipe, moco_recipe
from eossl.methods.base import SSLMethod

__all__ = ["MoCo", "query_key_loss"]


def query_key_loss(q: Tensor, k: Tensor, temperature: float) -> Tensor:
    """MoCo v3's InfoNCE: each query against every key of the global batch; its own is positive.

    Only query-to-key logits, unlike SimCLR's NT-Xent (which also contrasts queries with
    queries), so chance is ln(global batch size).
    """
    q, k = F.normalize(q, dim=1), F.normalize(k, dim=1)
    keys = torch.cat(dist.gather(k), 0) if dist.world_size() > 1 else k
    labels = torch.arange(len(q), device=q.device) + dist.rank() * len(q)
    return F.cross_entropy(q @ keys.T / temperature, labels)


class MoCo(SSLMethod):
    """Momentum contrast (He et al. 2020; Chen et al. 2020, 2021) on seasonal pairs.

    ``version=2``: a 2-layer projection head and a memory queue of negatives.
    ``version=3``: 3-layer heads with batch norm, a predictor, and a symmetric
    query-to-key loss over the global batch (:func:`query_key_loss`). Either way the key encoder
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

    pairs = True

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
        self.criterion = (
            None
            if v3
            else NTXentLoss(
                temperature=temperature,
                memory_bank_size=(queue_size, proj_dim),
                gather_distributed=True,
            )
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
            t = self.hparams.temperature
            loss = 0.5 * (
                query_key_loss(q_a, self.key(season_b), t)
                + query_key_loss(q_b, self.key(season_a), t)
            )
        else:
            loss = self.criterion(q_a, self.key(season_b))
        self.track(features, len(season_a))
        self.log("loss", loss, prog_bar=True, on_step=True, on_epoch=True)
        self.log("momentum", m)
        return loss + self.spectral_term(features, season_a)

    def validation_step(self, batch: dict[str, Any], batch_idx: int) -> None:
        """Alignment of the two seasons' embeddings on held-out locations (no augmentation)."""
        image = batch["image"]
        a, b = self.embed(image[:, 0]), self.embed(image[:, 1])
        cos = torch.nn.functional.cosine_similarity(a, b).mean()
        self.log("val_season_cosine", cos, sync_dist=True)
