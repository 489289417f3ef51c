"""Masked autoencoding across sensors for an any-band ViT (DOFA-style).

Each step shows the encoder one sensor's bands (or a random subset of them) with
their wavelengths, hides most patches and reconstructs every shown band of the
hidden ones. The decoder's output layer is conditioned on each band's wavelength, as
the encoder's input layer is, so neither has a fixed band count: one model serves
S2, Landsat and S1 and any subset of their bands (Xiong et al. 2024, DOFA).
"""

from __future__ import annotations

from typing import Any

import torch
from lightly.models.modules import MaskedVisionTransformerDecoderTIMM
from lightly.models.utils import get_at_index, random_token_mask, repeat_token, set_at_index
from torch import Tensor, nn
from torchgeo.models.dofa import FCResLayer, position_embedding

from eossl.anyband import AnyBandViT, channel_wavelengths
from eossl.augment import AugmentRecipe
from eossl.bands import band_info
from eossl.methods.base import SSLMethod
from eossl.methods.common import stacked_sensors
from eossl.methods.mae import _centre_crop, _standardise

__all__ = ["AnyBandMAE"]


class AnyBandMAE(SSLMethod):
    """MAE for :class:`~eossl.anyband.AnyBandViT` on one sensor's bands per step.

    Args:
        sensors: the stacked sensors (``s1-grd,s2-l1c``); set by ``eossl pretrain``.
        mask_ratio: share of patches hidden from the encoder.
        min_bands: each step keeps a random subset of at least this share of the
            chosen sensor's bands (1.0: all of them).
        decoder_dim / decoder_depth / decoder_heads: the decoder.
        **kwargs: see :class:`~eossl.methods.base.SSLMethod`; ``backbone`` is one of
            :data:`~eossl.anyband.ANY_BAND_MODELS`.
    """

    one_encoder = False  # an AnyBandViT, not a timm model

    def __init__(
        self,
        sensors: str = "s2-l1c",
        mask_ratio: float = 0.75,
        min_bands: float = 0.5,
        decoder_dim: int = 256,
        decoder_depth: int = 2,
        decoder_heads: int = 4,
        augment: AugmentRecipe | None = None,
        **kwargs: Any,
    ) -> None:
        kwargs.setdefault("backbone", "dofa_small_patch16_224")
        recipe = augment or AugmentRecipe(vflip=0.0, intensity_p=0.0, grayscale=0.0, blur=0.0)
        super().__init__(augment=recipe, **kwargs)
        cards, channels = stacked_sensors(sensors, self.hparams.in_chans)
        self.groups = [list(range(c.start, c.stop)) for c in channels]
        waves = [w for c in cards for w in channel_wavelengths(band_info(c))]
        self.register_buffer("wavelengths", torch.tensor(waves), persistent=False)
        self.backbone = AnyBandViT(self.hparams.backbone, img_size=self.recipe.crop_size)
        self.feature_dim = self.backbone.num_features
        self.patch = self.backbone.patch_size
        grid = self.backbone.grid
        self.decoder_embed = nn.Linear(self.feature_dim, decoder_dim)
        self.decoder = MaskedVisionTransformerDecoderTIMM(
            grid**2, decoder_dim, decoder_depth, decoder_heads
        )
        self.band_query = FCResLayer(decoder_dim)  # wavelength -> the output layer's band query
        self.decoder_pred = nn.Linear(decoder_dim, self.patch**2)

    def choose_bands(self) -> list[int]:
        """One sensor's bands, a random subset of at least ``min_bands`` of them."""
        group = self.groups[int(torch.randint(len(self.groups), ()))]
        low = max(1, round(self.hparams.min_bands * len(group)))
        keep = int(torch.randint(low, len(group) + 1, ()))
        return sorted(group[i] for i in torch.randperm(len(group))[:keep].tolist())

    def forward_loss(self, x: Tensor, wavelengths: Tensor) -> tuple[Tensor, Tensor]:
        """Reconstruction loss of the hidden patches of every band; also the class token."""
        vit, p = self.backbone, self.patch
        tokens = vit.tokens(x, wavelengths)
        b, n, _ = tokens.shape
        idx_keep, idx_mask = random_token_mask(
            (b, n + 1), self.hparams.mask_ratio, mask_class_token=False, device=x.device
        )
        h = vit.with_class_token(tokens)
        h = get_at_index(h, idx_keep)
        for block in vit.blocks:
            h = block(h)
        latent = vit.fc_norm(h)
        d = self.decoder_embed(latent)
        full = set_at_index(repeat_token(self.decoder.mask_token, (b, n + 1)), idx_keep, d)
        decoded = self.decoder.decode(self.decoder.add_pos_embed(full))[:, 1:]  # (B, N, Dd)
        query = self.band_query(position_embedding(decoded.shape[-1], wavelengths * 1000))
        pred = self.decoder_pred(decoded[:, :, None] * query[None, None])  # (B, N, C, p*p)
        c, gh, gw = x.shape[1], x.shape[-2] // p, x.shape[-1] // p
        target = x.reshape(b, c, gh, p, gw, p).permute(0, 2, 4, 1, 3, 5).reshape(b, n, c, p * p)
        target = _standardise(target)
        error = (pred.float() - target).pow(2).mean(dim=(-1, -2))  # (B, N)
        hidden = torch.zeros(b, n + 1, device=x.device).scatter_(1, idx_mask, 1.0)[:, 1:]
        return (error * hidden).sum() / hidden.sum().clamp(min=1), latent[:, 0]

    def augment_batch(self, batch: dict[str, Any]) -> dict[str, Any]:
        """One augmented crop of the first season."""
        batch["views"] = [self.augment.pipeline(batch["image"][:, 0])]
        return batch

    def training_step(self, batch: dict[str, Any], batch_idx: int) -> Tensor:
        """MAE on a random sensor's (subset of) bands."""
        bands = self.choose_bands()
        x = self.views(batch)[0][:, bands]
        loss, cls = self.forward_loss(x, self.wavelengths[bands])
        self.track(cls, len(cls))
        self.log("loss", loss, prog_bar=True, on_step=True, on_epoch=True)
        self.log("bands_shown", float(len(bands)), on_step=False, on_epoch=True)
        return loss

    def validation_step(self, batch: dict[str, Any], batch_idx: int) -> None:
        """Reconstruction loss of each sensor's bands on centre crops."""
        image = _centre_crop(batch["image"], self.recipe.crop_size)[:, 0]
        losses = [self.forward_loss(image[:, g], self.wavelengths[g])[0] for g in self.groups]
        self.log("val_loss", torch.stack(losses).mean(), sync_dist=True)

    def card_extras(self) -> dict[str, Any]:
        """What an any-band weights card adds: how to rebuild the model in TorchGeo."""
        return {"any_band": True, "torchgeo_model": "torchgeo.models.DOFA"}
