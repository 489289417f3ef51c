"""BYOL (Grill et al. 2020) with seasonal positives: two seasons of one location."""

from __future__ import annotations

from typing import Any

import torch
from lightly.loss import NegativeCosineSimilarity
from lightly.models.modules import BYOLPredictionHead, BYOLProjectionHead
from lightly.models.utils import update_momentum
from torch import Tensor

from eossl.augment import AugmentRecipe
from eossl.methods.common import SeasonalMethod, frozen_copy

__all__ = ["BYOL"]


class BYOL(SeasonalMethod):
    """The online network predicts the target network's projection of the other season.

    The target network is a momentum copy of the online backbone and projector
    (momentum on a cosine schedule up to 1); the loss is symmetric and has no
    negatives.

    Args:
        proj_dim: output size of the projector and predictor.
        hidden_dim: hidden size of the projector and predictor.
        momentum: starting momentum of the target network (rises to 1).
        **kwargs: see :class:`~eossl.methods.base.SSLMethod`.
    """

    pairs = True

    def __init__(
        self,
        proj_dim: int = 256,
        hidden_dim: int = 4096,
        momentum: float = 0.996,
        augment: AugmentRecipe | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(augment=augment or AugmentRecipe(crop_scale=(0.08, 1.0)), **kwargs)
        self.projection_head = BYOLProjectionHead(self.feature_dim, hidden_dim, proj_dim)
        self.prediction_head = BYOLPredictionHead(proj_dim, hidden_dim, proj_dim)
        self.backbone_momentum = frozen_copy(self.backbone)
        self.projection_head_momentum = frozen_copy(self.projection_head)
        self.criterion = NegativeCosineSimilarity()

    def online(self, x: Tensor) -> tuple[Tensor, Tensor]:
        """Backbone features and the predicted projection."""
        features = self.embed(x)
        return features, self.prediction_head(self.projection_head(features))

    @torch.no_grad()
    def target(self, x: Tensor) -> Tensor:
        """Projection by the momentum (target) network."""
        return self.projection_head_momentum(self.backbone_momentum(self._to_format(x)))

    def training_step(self, batch: dict[str, Any], batch_idx: int) -> Tensor:
        """Each season's prediction against the target projection of the other season."""
        m = self.momentum(self.hparams.momentum)
        update_momentum(self.backbone, self.backbone_momentum, m)
        update_momentum(self.projection_head, self.projection_head_momentum, m)
        season_a, season_b = self.views(batch)[:2]
        h_a, p_a = self.online(season_a)
        _, p_b = self.online(season_b)
        loss = 0.5 * (
            self.criterion(p_a, self.target(season_b)) + self.criterion(p_b, self.target(season_a))
        )
        self.log_loss(loss, h_a)
        self.log("momentum", m)
        return loss + self.spectral_term(h_a, season_a)
