"""SimCLR (Chen et al. 2020) with seasonal positives: two seasons of one location."""

from __future__ import annotations

from typing import Any

from lightly.loss import NTXentLoss
from lightly.models.modules import NNMemoryBankModule, SimCLRProjectionHead
from torch import Tensor

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
        nn_bank_size: projections kept for nearest-neighbour positives; 0 turns them off.
        **kwargs: see :class:`~eossl.methods.base.SSLMethod`.
    """

    def __init__(
        self,
        proj_dim: int = 128,
        hidden_dim: int = 2048,
        temperature: float = 0.1,
        nn_bank_size: int = 0,
        augment: AugmentRecipe | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(augment=augment or AugmentRecipe(crop_scale=(0.08, 1.0)), **kwargs)
        self.projection_head = SimCLRProjectionHead(self.feature_dim, hidden_dim, proj_dim)
        self.criterion = NTXentLoss(temperature=temperature, gather_distributed=True)
        self.nn_bank = NNMemoryBankModule(size=(nn_bank_size, proj_dim)) if nn_bank_size else None

    def pair_loss(self, z_a: Tensor, z_b: Tensor) -> Tensor:
        """NT-Xent between the two seasons, or between each and the other's nearest neighbour."""
        if self.nn_bank is None:
            return self.criterion(z_a, z_b)
        nn_a = self.nn_bank(z_a.detach(), update=False)
        nn_b = self.nn_bank(z_b.detach(), update=True)
        return (self.criterion(nn_a, z_b) + self.criterion(nn_b, z_a)) / 2
