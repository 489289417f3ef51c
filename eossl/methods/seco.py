"""Seasonal Contrast (SeCo, Mañas et al. 2021): three embedding subspaces, three queues."""

from __future__ import annotations

import copy
from typing import Any

import torch
from lightly.loss.memory_bank import MemoryBankModule
from lightly.models.modules import MoCoProjectionHead
from lightly.models.utils import deactivate_requires_grad, update_momentum
from torch import Tensor, nn
from torch.nn import functional as F

from eossl.augment import AugmentRecipe, seco_recipe
from eossl.errors import UserError
from eossl.methods.base import SSLMethod

__all__ = ["SeCo"]

SUBSPACES = ("all", "season", "augment")


class SeCo(SSLMethod):
    """One encoder, three projection heads, three queues; the loss sums three InfoNCE terms.

    Views, with A and B two random augmentations and s1, s2 two seasons:
    ``q = A(s1)``, ``k0 = B(s1)``, ``k1 = A(s2)`` (replayed parameters), ``k2 = B(s2)``.

    - ``all``: invariant to everything; positive ``k2``.
    - ``season``: invariant to season, not augmentation; positive ``k1``, with
      ``k0`` and ``k2`` (other augmentation) as extra negatives.
    - ``augment``: invariant to augmentation, not season; positive ``k0``, with
      ``k1`` and ``k2`` (other season) as extra negatives.

    Args:
        proj_dim: output size of each head.
        hidden_dim: hidden size of each head.
        temperature: InfoNCE temperature.
        queue_size: negatives per queue.
        momentum: starting momentum of the key encoder (rises to 1).
        **kwargs: see :class:`~eossl.methods.base.SSLMethod`.
    """

    pairs = True

    def __init__(
        self,
        proj_dim: int = 128,
        hidden_dim: int = 2048,
        temperature: float = 0.07,
        queue_size: int = 16384,
        momentum: float = 0.99,
        augment: AugmentRecipe | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(augment=augment or seco_recipe(), **kwargs)
        self.heads = nn.ModuleDict(
            {s: MoCoProjectionHead(self.feature_dim, hidden_dim, proj_dim) for s in SUBSPACES}
        )
        self.backbone_momentum = copy.deepcopy(self.backbone)
        self.heads_momentum = copy.deepcopy(self.heads)
        deactivate_requires_grad(self.backbone_momentum)
        deactivate_requires_grad(self.heads_momentum)
        self.queues = nn.ModuleDict(
            {
                s: MemoryBankModule(size=(queue_size, proj_dim), gather_distributed=True)
                for s in SUBSPACES
            }
        )

    def setup(self, stage: str) -> None:
        """Refuse single-date positives: SeCo's season subspace needs two timestamps."""
        super().setup(stage)
        data = getattr(self.trainer.datamodule, "dataset", None)
        if getattr(data, "positives", "season") == "same":
            if getattr(data, "max_timestamps", 1) > 1:  # the user's choice, not the data's
                raise UserError(
                    "seco contrasts two seasons of a location: it takes --data.positives "
                    f"season, not same (the data hold up to {data.max_timestamps} timestamps "
                    "per location)"
                )
            raise UserError(
                "seco contrasts two seasons of a location, but this data gives one timestamp "
                "per location (positives: same); use moco, simclr, byol, barlow, dino, mae or "
                "data2vec"
            )

    def augment_batch(self, batch: dict[str, Any]) -> dict[str, Any]:
        """Four views: two augmentations (A, B) of two seasons, A and B each replayed."""
        image = batch["image"]
        pipeline = self.augment.pipeline
        q = pipeline(image[:, 0])
        params_a = pipeline._params
        k0 = pipeline(image[:, 0])
        params_b = pipeline._params
        k1 = pipeline(image[:, 1], params=params_a)
        k2 = pipeline(image[:, 1], params=params_b)
        batch["views"] = [self._to_format(v) for v in (q, k0, k1, k2)]
        return batch

    def _infonce(self, q: Tensor, pos: Tensor, extra: list[Tensor], space: str) -> Tensor:
        q, pos = F.normalize(q, dim=1), F.normalize(pos, dim=1)
        _, bank = self.queues[space](pos, update=True)  # returns the queue before this batch
        logits = [(q * pos).sum(1, keepdim=True)]
        logits += [(q * F.normalize(e, dim=1)).sum(1, keepdim=True) for e in extra]
        if bank is not None:
            logits.append(q @ bank.to(q.dtype))
        logits = torch.cat(logits, dim=1) / self.hparams.temperature
        return F.cross_entropy(logits, torch.zeros(len(q), dtype=torch.long, device=q.device))

    def training_step(self, batch: dict[str, Any], batch_idx: int) -> Tensor:
        """Sum of the three subspace losses."""
        m = self.momentum(self.hparams.momentum)
        update_momentum(self.backbone, self.backbone_momentum, m)
        update_momentum(self.heads, self.heads_momentum, m)
        q_img, k0_img, k1_img, k2_img = self.views(batch)
        features = self.embed(q_img)
        with torch.no_grad():
            keys = [self.backbone_momentum(k).flatten(1) for k in (k0_img, k1_img, k2_img)]
        losses = {}
        for space in SUBSPACES:
            q = self.heads[space](features)
            with torch.no_grad():
                k0, k1, k2 = (self.heads_momentum[space](k) for k in keys)
            if space == "all":
                losses[space] = self._infonce(q, k2, [], space)
            elif space == "season":
                losses[space] = self._infonce(q, k1, [k0, k2], space)
            else:
                losses[space] = self._infonce(q, k0, [k1, k2], space)
        loss = sum(losses.values())
        self.track(features, len(q_img))
        self.log("loss", loss, prog_bar=True, on_step=True, on_epoch=True)
        self.log_dict({f"loss_{s}": v for s, v in losses.items()}, on_epoch=True)
        return loss

    def validation_step(self, batch: dict[str, Any], batch_idx: int) -> None:
        """Alignment of the two seasons' embeddings on held-out locations."""
        image = batch["image"]
        a, b = self.embed(image[:, 0]), self.embed(image[:, 1])
        self.log("val_season_cosine", F.cosine_similarity(a, b).mean(), sync_dist=True)
