"""SimCLR (Chen et al. 2020) with seasonal positives: two seasons of one location."""

from __future__ import annotations

from typing import Any

from lightly.loss import NTXentLoss
from lightly.models.modules import SimCLRProjectionHead

from eossl.augment import AugmentRecipe
from eossl.methods.common import ProjectedPairMethod

__all__ = ["SimCLR"]


class SimCLR(ProjectedPairMethod):
    """Contrast season A with season B of the same location against all other locations.

    In-batch negatives (gathered across processes), an MLP projection head and
    the NT-Xent loss. The paper's strong crops (scale 0.08-1) are kept; its RGB
    colour jitter becomes multi-band brightness and contrast.

    Args:
        proj_dim: output size of the projection head.
        hidden_dim: hidden size of the projection head.
        temperature: NT-Xent temperature.
        **kwargs: see :class:`~eossl.methods.base.SSLMethod`.
    """

    def __init__(
        self,
        proj_dim: int = 128,
        hidden_dim: int = 2048,
        temperature: float = 0.1,
        augment: AugmentRecipe | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(augment=augment or AugmentRecipe(crop_scale=(0.08, 1.0)), **kwargs)
        self.projection_head = SimCLRProjectionHead(self.feature_dim, hidden_dim, proj_dim)
        self.criterion = NTXentLoss(temperature=temperature, gather_distributed=True)
