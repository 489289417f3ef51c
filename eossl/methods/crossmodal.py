"""Cross-modal contrast: Sentinel-1 and Sentinel-2 of one place are the positive pair."""

from __future__ import annotations

from typing import Any

import torch
from lightly.loss import NTXentLoss
from lightly.models.modules import SimCLRProjectionHead
from torch import Tensor, nn
from torch.nn import functional as F

from eossl.augment import AugmentRecipe
from eossl.errors import UserError
from eossl.methods.base import SSLMethod
from eossl.methods.common import stacked_sensors

__all__ = ["CrossModal"]


class CrossModal(SSLMethod):
    """One encoder per sensor; a place's images from two sensors are the positive pair.

    The batch holds every sensor's bands stacked as channels (the datamodule's
    order, ``sensors``); they are split again here. The loss is NT-Xent between the
    sensors' projections of each season (CLIP-style cross-modal contrast, as in
    DeCUR's and CROMA's cross-modal terms), plus, with ``intra_weight > 0``, NT-Xent
    between two seasons of each sensor (DeCUR's intra-modal terms). Heads and loss
    come from lightly.

    Args:
        sensors: the stacked sensors, as ``--sensor`` gives them (``s1-grd,s2-l1c``);
            set by ``eossl pretrain`` from ``--sensor``.
        proj_dim: output size of the projection heads.
        hidden_dim: hidden size of the projection heads.
        temperature: NT-Xent temperature.
        intra_weight: weight of the in-sensor seasonal terms (0: cross-modal only).
        **kwargs: see :class:`~eossl.methods.base.SSLMethod`; ``in_chans`` is the
            total band count.
    """

    one_encoder = False  # one per sensor, built below

    def __init__(
        self,
        sensors: str = "s1-grd,s2-l1c",
        proj_dim: int = 128,
        hidden_dim: int = 2048,
        temperature: float = 0.1,
        intra_weight: float = 0.5,
        augment: AugmentRecipe | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(augment=augment, **kwargs)
        cards, channels = stacked_sensors(sensors, self.hparams.in_chans)
        if len(cards) < 2:
            raise UserError(
                f"crossmodal needs two or more sensors, got {sensors!r}; pass --sensor s1,s2"
            )
        counts = [c.num_bands for c in cards]
        self.names = [c.name for c in cards]
        self.bands = dict(zip(self.names, channels, strict=True))
        self.encoders = nn.ModuleList(self.make_encoder(c) for c in counts)
        self.feature_dim = self.encoders[0].num_features
        self.heads = nn.ModuleList(
            SimCLRProjectionHead(e.num_features, hidden_dim, proj_dim) for e in self.encoders
        )
        self.criterion = NTXentLoss(temperature=temperature, gather_distributed=True)
        optical = [i for i, c in enumerate(cards) if c.modality == "optical"]
        self._reference = optical[0] if optical else 0

    @property
    def backbone(self) -> nn.Module:
        """The first optical sensor's encoder (else the first): what monitors track."""
        return self.encoders[self._reference]

    def sensor_encoders(self) -> dict[str, nn.Module]:
        """Each sensor's encoder, by sensor name (exported as one weights card each)."""
        return dict(zip(self.names, self.encoders, strict=True))

    def encode(self, x: Tensor) -> list[Tensor]:
        """Pooled features of each sensor's bands of stacked images (B, C, H, W)."""
        x = self._to_format(x)
        return [
            enc(x[:, self.bands[n]]).flatten(1)
            for n, enc in zip(self.names, self.encoders, strict=True)
        ]

    def embed(self, x: Tensor) -> Tensor:
        """Every sensor's features, concatenated."""
        return torch.cat(self.encode(x), dim=1)

    def training_step(self, batch: dict[str, Any], batch_idx: int) -> Tensor:
        """Cross-sensor NT-Xent per season, plus the weighted in-sensor seasonal terms."""
        views = self.views(batch)[:2]
        feats = [self.encode(v) for v in views]  # [season][sensor]
        z = [[h(f) for h, f in zip(self.heads, fs, strict=True)] for fs in feats]
        pairs = [(i, j) for i in range(len(self.names)) for j in range(i + 1, len(self.names))]
        cross = torch.stack([self.criterion(zs[i], zs[j]) for zs in z for i, j in pairs]).mean()
        loss = cross
        if self.hparams.intra_weight > 0 and len(z) > 1:
            intra = torch.stack(
                [self.criterion(z[0][k], z[1][k]) for k in range(len(self.names))]
            ).mean()
            loss = cross + self.hparams.intra_weight * intra
            self.log("loss_intra", intra)
        self.log("loss_cross", cross)
        self.track(feats[0][self._reference], len(views[0]))
        self.log("loss", loss, prog_bar=True, on_step=True, on_epoch=True)
        return loss

    def validation_step(self, batch: dict[str, Any], batch_idx: int) -> None:
        """Alignment of the sensors' projections of the same place (no augmentation)."""
        image = batch["image"][:, 0]
        z = [F.normalize(h(f), dim=1) for h, f in zip(self.heads, self.encode(image), strict=True)]
        self.log("val_cross_cosine", (z[0] * z[1]).sum(1).mean(), sync_dist=True)
