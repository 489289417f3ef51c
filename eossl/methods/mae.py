"""Masked autoencoder (He et al. 2022) for multispectral ViTs; SatMAE options.

Spectral-group tokens and temporal masking follow SatMAE (Cong et al. 2022).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
from lightly.models.modules import MaskedVisionTransformerDecoderTIMM
from lightly.models.modules.masked_vision_transformer_timm import init_weights
from lightly.models.utils import (
    get_at_index,
    initialize_2d_sine_cosine_positional_embedding,
    patchify,
    random_token_mask,
    repeat_token,
    set_at_index,
    unpatchify,
)
from timm.layers import resample_abs_pos_embed
from torch import Tensor, nn
from torch.nn import functional as F

from eossl.augment import AugmentRecipe
from eossl.errors import UserError
from eossl.methods.base import SSLMethod
from eossl.methods.common import require_vit
from eossl.methods.satmae import SpectralGroupEmbed, time_encoding

__all__ = ["MAE"]


class MAE(SSLMethod):
    """Hide most patch tokens, encode the rest with a ViT, reconstruct the hidden pixels.

    Tokens are patches of every band (default), or, with ``spectral_groups``, one
    token per patch and group of bands, each group with its own patch embedding and
    a group encoding (SatMAE). With ``temporal``, the tokens of every season of a
    location form one sequence with a day-of-year encoding, and the mask runs
    across the seasons, so a patch hidden in one season may be seen in another.

    The exported encoder is a plain timm ViT: spectral-group embeddings are folded
    into ``patch_embed`` (their mean), the time encoding is dropped.

    Args:
        mask_ratio: share of tokens hidden from the encoder.
        norm_pix_loss: reconstruct per-patch standardised pixels.
        decoder_dim: width of the decoder.
        decoder_depth: transformer blocks of the decoder.
        decoder_heads: attention heads of the decoder.
        spectral_groups: band indices of each group, e.g. ``[[1, 2, 3, 7], [4, 5, 6, 8],
            [11, 12]]``; ``None`` for one token of all bands per patch.
        temporal: mask across all the seasons of a sample (set ``data.seasons``).
        figure_every_n_epochs: log a reconstruction figure this often (0: never).
        **kwargs: see :class:`~eossl.methods.base.SSLMethod`.
    """

    def __init__(
        self,
        mask_ratio: float = 0.75,
        norm_pix_loss: bool = True,
        decoder_dim: int = 512,
        decoder_depth: int = 8,
        decoder_heads: int = 16,
        spectral_groups: list[list[int]] | None = None,
        temporal: bool = False,
        figure_every_n_epochs: int = 1,
        augment: AugmentRecipe | None = None,
        **kwargs: Any,
    ) -> None:
        recipe = augment or AugmentRecipe(
            vflip=0.0, intensity_p=0.0, grayscale=0.0, blur=0.0
        )  # MAE: resized crop and flip only
        super().__init__(augment=recipe, **kwargs)
        require_vit(self.hparams.backbone, "mae")
        vit, dim, in_chans = self.backbone, self.feature_dim, self.hparams.in_chans
        self.patch_size = vit.patch_embed.patch_size[0]
        if self.recipe.crop_size % self.patch_size:
            raise UserError(
                f"mae: crop_size {self.recipe.crop_size} is not a multiple of the patch "
                f"size {self.patch_size}; set --model.init_args.augment.crop_size"
            )
        if decoder_dim % decoder_heads:
            raise UserError(
                f"mae: decoder_dim {decoder_dim} is not a multiple of decoder_heads "
                f"{decoder_heads}; each head takes an equal share"
            )
        self.grid = self.recipe.crop_size // self.patch_size
        self.groups = spectral_groups or [list(range(in_chans))]
        if any(b < 0 or b >= in_chans for g in self.groups for b in g):
            raise UserError(
                f"mae: spectral_groups {self.groups} name bands outside 0..{in_chans - 1}"
            )
        vit.apply(init_weights)  # MAE's initialisation, as lightly's masked ViT
        nn.init.xavier_uniform_(vit.patch_embed.proj.weight.view(dim, -1))
        initialize_2d_sine_cosine_positional_embedding(vit.pos_embed, num_prefix_tokens=1)
        nn.init.normal_(vit.cls_token, std=0.02)
        self.group_embed = None
        if spectral_groups:
            self.group_embed = SpectralGroupEmbed(
                self.groups, self.patch_size, dim, self.recipe.crop_size
            )
            self.decoder_group_encoding = nn.Parameter(
                0.02 * torch.randn(len(self.groups), decoder_dim)
            )
            vit.patch_embed.requires_grad_(False)  # written by fold_groups()
        self.decoder_embed = nn.Linear(dim, decoder_dim)
        self.decoder = MaskedVisionTransformerDecoderTIMM(
            self.grid**2, decoder_dim, decoder_depth, decoder_heads
        )
        self.decoder_preds = nn.ModuleList(
            nn.Linear(decoder_dim, self.patch_size**2 * len(g)) for g in self.groups
        )
        self._figure: dict[str, Tensor] | None = None

    # ---- tokens ------------------------------------------------------------------------------

    def embed_tokens(self, seasons: list[Tensor], times: Tensor | None) -> Tensor:
        """(B, C, H, W) per season -> (B, seasons * groups * patches, D) with encodings."""
        vit = self.backbone
        pos = resample_abs_pos_embed(
            vit.pos_embed[:, 1:], (self.grid, self.grid), vit.patch_embed.grid_size, 0
        )
        time = time_encoding(times, self.feature_dim) if times is not None else None
        tokens = []
        for s, x in enumerate(seasons):
            if self.group_embed is not None:
                per_group = self.group_embed(x)
            else:
                per_group = [vit.patch_embed(x).flatten(1, 2)]  # dynamic ViTs give (B, h, w, D)
            tokens += [t + pos if time is None else t + pos + time[:, s, None] for t in per_group]
        return torch.cat(tokens, dim=1)

    def random_mask(self, batch: int, tokens: int, device: Any = None) -> tuple[Tensor, Tensor]:
        """Indices of the kept and of the hidden tokens; ``mask_ratio`` of them are hidden."""
        return random_token_mask(
            (batch, tokens), self.hparams.mask_ratio, mask_class_token=True, device=device
        )

    def encode(self, tokens: Tensor, idx_keep: Tensor) -> Tensor:
        """The ViT on the class token and the kept tokens."""
        vit = self.backbone
        cls = (vit.cls_token + vit.pos_embed[:, :1]).expand(len(tokens), -1, -1)
        x = torch.cat([cls, get_at_index(tokens, idx_keep)], dim=1)
        return vit.norm(vit.blocks(vit.norm_pre(x)))

    def decode(self, latent: Tensor, idx_keep: Tensor, n: int, times: Tensor | None) -> Tensor:
        """Decoder tokens of the full sequence: encoded tokens, mask tokens elsewhere."""
        x = self.decoder_embed(latent)
        full = repeat_token(self.decoder.mask_token, (len(x), n))
        full = set_at_index(full, idx_keep, x[:, 1:])
        enc = self.decoder.pos_embed[:, 1:]
        if self.group_embed is not None:
            enc = (enc[:, None] + self.decoder_group_encoding[None, :, None]).flatten(1, 2)
        enc = enc.repeat(1, n // enc.shape[1], 1)
        if times is not None:
            time = time_encoding(times, x.shape[-1])  # (B, S, d)
            enc = enc + time.repeat_interleave(n // time.shape[1], dim=1)
        full = torch.cat([x[:, :1] + self.decoder.pos_embed[:, :1], full + enc], dim=1)
        return self.decoder.decode(full)[:, 1:]

    # ---- loss --------------------------------------------------------------------------------

    def forward_loss(
        self, seasons: list[Tensor], times: Tensor | None = None
    ) -> tuple[Tensor, Tensor, list[Tensor], Tensor]:
        """Loss on the hidden tokens; also the class token, predictions and the mask."""
        tokens = self.embed_tokens(seasons, times)
        idx_keep, idx_mask = self.random_mask(len(tokens), tokens.shape[1], tokens.device)
        latent = self.encode(tokens, idx_keep)
        decoded = self.decode(latent, idx_keep, tokens.shape[1], times)
        mask = torch.zeros(tokens.shape[:2], device=tokens.device)
        mask.scatter_(1, idx_mask, 1.0)
        preds, errors, n = [], [], self.grid**2
        for s, x in enumerate(seasons):
            for g, bands in enumerate(self.groups):
                k = (s * len(self.groups) + g) * n
                pred = self.decoder_preds[g](decoded[:, k : k + n])
                target = patchify(x[:, bands], self.patch_size)
                if self.hparams.norm_pix_loss:
                    target = _standardise(target)
                preds.append(pred)
                errors.append((pred.float() - target).pow(2).mean(-1))
        loss = (torch.cat(errors, 1) * mask).sum() / mask.sum().clamp(min=1)
        return loss, latent[:, 0], preds, mask

    def training_step(self, batch: dict[str, Any], batch_idx: int) -> Tensor:
        """Reconstruct the hidden patches of one season, or of all seasons (temporal)."""
        seasons = self.views(batch)
        times = batch["time"][:, : len(seasons)] if self.hparams.temporal else None
        loss, cls, preds, mask = self.forward_loss(seasons, times)
        self.track(cls, len(cls))
        self.log("loss", loss, prog_bar=True, on_step=True, on_epoch=True)
        if batch_idx == 0:
            self._figure = self.reconstruct(seasons[0][:4], preds, mask[:4])
        return loss

    def validation_step(self, batch: dict[str, Any], batch_idx: int) -> None:
        """The reconstruction loss on centre crops of held-out locations."""
        image = _centre_crop(batch["image"], self.recipe.crop_size)
        seasons = image.shape[1] if self.hparams.temporal else 1
        times = batch["time"][:, :seasons] if self.hparams.temporal else None
        loss = self.forward_loss([image[:, s] for s in range(seasons)], times)[0]
        self.log("val_loss", loss, sync_dist=True)

    def augment_batch(self, batch: dict[str, Any]) -> dict[str, Any]:
        """One crop of the first season, or the same crop of every season (temporal)."""
        image, pipeline = batch["image"], self.augment.pipeline
        views = [pipeline(image[:, 0])]
        if self.hparams.temporal:
            params = pipeline._params
            views += [pipeline(image[:, s], params=params) for s in range(1, image.shape[1])]
        batch["views"] = views
        return batch

    def configure_optimizers(self) -> dict[str, Any]:
        """The base schedule; AdamW with MAE's betas (0.9, 0.95)."""
        config = super().configure_optimizers()
        if self.hparams.optimizer == "adamw":
            for group in config["optimizer"].param_groups:
                group["betas"] = (0.9, 0.95)
        return config

    # ---- figure and export -------------------------------------------------------------------

    @torch.no_grad()
    def reconstruct(self, x: Tensor, preds: list[Tensor], mask: Tensor) -> dict[str, Tensor]:
        """Input, masked input and reconstruction of season 1, all bands, on the CPU."""
        recon, hidden, n, b = torch.zeros_like(x), torch.zeros_like(x), self.grid**2, len(x)
        for g, bands in enumerate(self.groups):
            pred = preds[g][:b].float()
            if self.hparams.norm_pix_loss:  # undo the per-patch standardisation
                target = patchify(x[:, bands], self.patch_size)
                pred = pred * target.var(-1, keepdim=True).add(1e-6).sqrt()
                pred = pred + target.mean(-1, keepdim=True)
            recon[:, bands] = unpatchify(pred, self.patch_size, len(bands))
            m = mask[:, g * n : (g + 1) * n, None].expand_as(pred)
            hidden[:, bands] = unpatchify(m.contiguous(), self.patch_size, len(bands))
        masked = x.masked_fill(hidden.bool(), float("nan"))  # drawn as a grey patch
        images = {"input": x, "masked": masked, "reconstruction": recon}
        images["reconstruction + visible"] = x * (1 - hidden) + recon * hidden
        return {k: v.detach().float().cpu() for k, v in images.items()}

    def fold_groups(self) -> None:
        """Write the mean of the group embeddings into the ViT's ``patch_embed`` for export."""
        if self.group_embed is not None:
            self.group_embed.fold_into(self.backbone.patch_embed.proj)

    def export_state_dict(self) -> dict[str, Tensor]:
        """The encoder in timm key names (called by :mod:`eossl.weights.export`)."""
        self.fold_groups()
        return self.backbone.state_dict()

    def on_train_epoch_end(self) -> None:
        super().on_train_epoch_end()
        self.fold_groups()
        every = self.hparams.figure_every_n_epochs
        if self._figure is None or not every or self.current_epoch % every:
            return
        if not self.trainer.is_global_zero:
            return
        from eossl.evaluation.plots import log_figure, reconstruction_figure

        dm = getattr(self.trainer, "datamodule", None)
        rgb = getattr(getattr(dm, "sensor", None), "rgb", None)
        fig = reconstruction_figure(self._figure, rgb)
        out = Path(self.trainer.default_root_dir) / "reconstructions"
        log_figure(self, fig, "mae/reconstruction", out / f"epoch_{self.current_epoch:03d}.png")
        self._figure = None


def _standardise(patches: Tensor) -> Tensor:
    mean, var = patches.mean(-1, keepdim=True), patches.var(-1, keepdim=True)
    return (patches - mean) / (var + 1e-6).sqrt()


def _centre_crop(image: Tensor, size: int) -> Tensor:
    h, w = image.shape[-2:]
    if h < size or w < size:
        flat = F.interpolate(image.flatten(0, 1), size=(size, size), mode="bilinear")
        return flat.unflatten(0, image.shape[:2])
    top, left = (h - size) // 2, (w - size) // 2
    return image[..., top : top + size, left : left + size]
