"""data2vec (Baevski et al. 2022) for multispectral ViTs: predict the teacher's layers."""

from __future__ import annotations

from typing import Any, Literal

import torch
from lightly.models.modules import MaskedVisionTransformerTIMM
from lightly.models.utils import random_block_mask, random_token_mask, update_momentum
from torch import Tensor, nn
from torch.nn import functional as F

from eossl.augment import AugmentRecipe
from eossl.methods.base import SSLMethod
from eossl.methods.common import frozen_copy, require_vit

__all__ = ["Data2Vec"]


class Data2Vec(SSLMethod):
    """A student ViT regresses the teacher's contextual features at masked patches.

    The student sees the image with masked patches; it regresses, at the masked
    patches, the average of the top ``top_k`` layers of a momentum teacher that sees
    the whole image (each layer instance-normalised over the tokens).

    Args:
        mask_ratio: share of patch tokens replaced by the mask token.
        masking: ``"block"`` masks rectangles of at least ``min_block`` patches, as
            data2vec and BEiT do for images; ``"random"`` masks single patches.
        min_block: smallest block of masked patches (16 in the paper).
        top_k: teacher layers averaged into the target.
        momentum: starting momentum of the teacher (rises to 1).
        loss_beta: Smooth-L1 transition point (0 gives the L2 loss).
        **kwargs: see :class:`~eossl.methods.base.SSLMethod`.
    """

    def __init__(
        self,
        mask_ratio: float = 0.6,
        masking: Literal["block", "random"] = "block",
        min_block: int = 16,
        top_k: int = 6,
        momentum: float = 0.9998,
        loss_beta: float = 2.0,
        augment: AugmentRecipe | None = None,
        **kwargs: Any,
    ) -> None:
        recipe = augment or AugmentRecipe(
            crop_scale=(0.08, 1.0), intensity_p=0.0, grayscale=0.0, blur=0.0
        )
        super().__init__(augment=recipe, **kwargs)
        require_vit(self.hparams.backbone, "data2vec")
        self.student = MaskedVisionTransformerTIMM(self.backbone, pos_embed_initialization="learn")
        self.teacher = frozen_copy(self.student)
        self.regression_head = nn.Linear(self.feature_dim, self.feature_dim)

    @torch.no_grad()
    def targets(self, x: Tensor) -> Tensor:
        """Average of the teacher's top-k layers, each instance-normalised over tokens."""
        _, layers = self.teacher.forward_intermediates(x)
        top = [F.instance_norm(t.float().transpose(1, 2)).transpose(1, 2) for t in layers]
        return torch.stack(top[-self.hparams.top_k :]).mean(0)

    def token_mask(self, x: Tensor) -> Tensor:
        """(batch, tokens) bool, True where a patch is masked; never the class token."""
        hp, n = self.hparams, len(x)
        h, w = self.backbone.patch_embed.dynamic_feat_size(x.shape[-2:])
        prefix = self.backbone.num_prefix_tokens
        if hp.masking == "block":
            grid = random_block_mask(
                (n, h, w),
                batch_mask_ratio=1.0,
                min_image_mask_ratio=hp.mask_ratio,
                max_image_mask_ratio=hp.mask_ratio,
                min_num_masks_per_block=max(1, min(hp.min_block, int(hp.mask_ratio * h * w))),
                device=x.device,
            ).flatten(1)
        else:
            grid = torch.zeros(n, h * w, dtype=torch.bool, device=x.device)
            _, idx = random_token_mask((n, h * w), hp.mask_ratio, device=x.device)
            grid.scatter_(1, idx, True)
        empty = ~grid.any(1)  # tiny grids: a block may not fit; mask one patch there
        grid[empty, torch.randint(h * w, (int(empty.sum()),), device=x.device)] = True
        return torch.cat([grid.new_zeros(n, prefix), grid], 1)

    def loss(self, x: Tensor) -> tuple[Tensor, Tensor]:
        """The masked-prediction loss and the student's class tokens."""
        mask = self.token_mask(x)
        encoded = self.student.encode(x, mask=mask)
        pred = self.regression_head(encoded[mask])
        target = self.targets(x)[mask]
        beta = self.hparams.loss_beta
        loss = (
            F.smooth_l1_loss(pred.float(), target, beta=beta)
            if beta
            else F.mse_loss(pred.float(), target)
        )
        return loss, encoded[:, 0]

    def training_step(self, batch: dict[str, Any], batch_idx: int) -> Tensor:
        """Regress the teacher's contextual targets at the masked patches."""
        m = self.momentum(self.hparams.momentum)
        update_momentum(self.student, self.teacher, m)
        x = self.views(batch)[0]
        loss, cls = self.loss(x)
        self.track(cls, len(x))
        self.log("loss", loss, prog_bar=True, on_step=True, on_epoch=True)
        self.log("momentum", m)
        return loss

    def validation_step(self, batch: dict[str, Any], batch_idx: int) -> None:
        """The same loss on held-out locations, without augmentation."""
        self.log("val_loss", self.loss(batch["image"][:, 0])[0], sync_dist=True)

    def augment_batch(self, batch: dict[str, Any]) -> dict[str, Any]:
        """One augmented view of the first season: data2vec needs no positive pair."""
        batch["views"] = [self._to_format(self.augment(batch["image"][:, 0]))]
        return batch
