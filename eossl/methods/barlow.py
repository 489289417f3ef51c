"""Barlow Twins (Zbontar et al. 2021) with seasonal positives: two seasons of one location."""

from __future__ import annotations

from typing import Any

from lightly.loss import BarlowTwinsLoss
from lightly.models.modules import BarlowTwinsProjectionHead

from eossl.augment import AugmentRecipe
from eossl.methods.common import ProjectedPairMethod

__all__ = ["BarlowTwins"]


class BarlowTwins(ProjectedPairMethod):
    """Drive the cross-correlation of the two seasons' embeddings towards the identity.

    The diagonal makes the embedding invariant to season and augmentation; the
    off-diagonal term (weighted by ``lambda_param``) decorrelates its dimensions,
    so no negatives, momentum encoder or predictor are needed.

    Args:
        proj_dim: output size of the projector (8192 in the paper).
        hidden_dim: hidden size of the projector (8192 in the paper).
        lambda_param: weight of the redundancy-reduction (off-diagonal) term.
        **kwargs: see :class:`~eossl.methods.base.SSLMethod`.
    """

    def __init__(
        self,
        proj_dim: int = 8192,
        hidden_dim: int = 8192,
        lambda_param: float = 5e-3,
        augment: AugmentRecipe | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(augment=augment or AugmentRecipe(crop_scale=(0.08, 1.0)), **kwargs)
        self.projection_head = BarlowTwinsProjectionHead(self.feature_dim, hidden_dim, proj_dim)
        self.criterion = BarlowTwinsLoss(lambda_param=lambda_param, gather_distributed=True)
