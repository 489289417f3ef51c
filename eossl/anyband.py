"""An any-band ViT: TorchGeo's DOFA, whose patch embedding is generated from wavelengths.

DOFA (Xiong et al. 2024, https://arxiv.org/abs/2403.15356) turns each band's centre
wavelength into that band's patch-embedding kernel, so one network takes any set of
bands from any sensor. :class:`AnyBandViT` *is* ``torchgeo.models.DOFA`` (same
modules, same state_dict keys) with three additions: a sine-cosine position
embedding at construction (TorchGeo's is zeros until weights are loaded), inputs of
any size (the position grid is resampled), and ``forward_intermediates`` for
UPerNet-style decoders. Its weights therefore load into ``torchgeo.models.DOFA`` and,
at TorchGeo's sizes, into ``dofa_small_patch16_224`` / ``dofa_base_patch16_224``.

SAR has no optical wavelength: Sentinel-1 channels get a fixed pseudo-wavelength
beyond the optical range (:data:`SAR_WAVELENGTHS`), distinct per polarisation.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
from lightly.models.utils import initialize_2d_sine_cosine_positional_embedding
from timm.layers import resample_abs_pos_embed
from torch import Tensor
from torchgeo.models import DOFA

from eossl.errors import UserError

__all__ = [
    "ANY_BAND_MODELS",
    "SAR_WAVELENGTHS",
    "AnyBandViT",
    "BoundWavelengths",
    "channel_wavelengths",
    "is_any_band",
]

#: Pseudo-wavelengths (micrometres) for SAR polarisations.
SAR_WAVELENGTHS = {"vv": 3.75, "vh": 3.8, "hh": 3.85, "hv": 3.9}

#: Sizes of the any-band ViTs: patch, width, depth, heads. The ``dofa_*_224`` ones
#: are TorchGeo's factories of the same names.
ANY_BAND_MODELS = {
    "dofa_tiny_patch8": (8, 192, 4, 3),
    "dofa_small_patch16_224": (16, 384, 12, 6),
    "dofa_base_patch16_224": (16, 768, 12, 12),
    "dofa_large_patch16_224": (16, 1024, 24, 16),
}


def is_any_band(name: str) -> bool:
    """Whether a model name is one of the any-band ViTs."""
    return name in ANY_BAND_MODELS


def channel_wavelengths(records: Sequence[dict[str, Any]]) -> list[float]:
    """Each channel's wavelength for the embedding: its centre, or SAR's pseudo-wavelength."""
    out = []
    for r in records:
        wavelength = r.get("wavelength")
        if wavelength is None:
            wavelength = SAR_WAVELENGTHS.get(str(r.get("common_name") or r["name"]).lower())
        if wavelength is None:
            raise UserError(
                f"band {r['name']!r} has no wavelength; an any-band model needs one per band"
            )
        out.append(float(wavelength))
    return out


class AnyBandViT(DOFA):
    """TorchGeo's DOFA ViT for any bands, at any input size, with intermediate maps.

    Args:
        name: one of :data:`ANY_BAND_MODELS`.
        img_size: training image size (the stored position grid).
    """

    def __init__(self, name: str = "dofa_small_patch16_224", img_size: int = 224) -> None:
        if not is_any_band(name):
            raise UserError(f"unknown any-band model {name!r}; choose {list(ANY_BAND_MODELS)}")
        patch, dim, depth, heads = ANY_BAND_MODELS[name]
        if img_size % patch:
            raise UserError(f"{name}: image size {img_size} is not a multiple of patch {patch}")
        super().__init__(
            img_size=img_size,
            patch_size=patch,
            embed_dim=dim,
            depth=depth,
            num_heads=heads,
            num_classes=0,
        )
        initialize_2d_sine_cosine_positional_embedding(self.pos_embed, has_class_token=True)
        self.name = name
        self.num_features = dim
        self.grid = img_size // patch

    def tokens(self, x: Tensor, wavelengths: Sequence[float] | Tensor) -> Tensor:
        """(B, C, H, W) and C wavelengths -> (B, patches, D) patch tokens with positions."""
        waves = torch.as_tensor(wavelengths, dtype=torch.float32, device=x.device)
        if waves.numel() != x.shape[1]:
            raise UserError(f"{x.shape[1]} bands but {waves.numel()} wavelengths")
        tokens, _ = self.patch_embed(x, waves)
        grid = (x.shape[-2] // self.patch_size, x.shape[-1] // self.patch_size)
        pos = resample_abs_pos_embed(self.pos_embed[:, 1:], grid, (self.grid, self.grid), 0)
        return tokens + pos

    def with_class_token(self, tokens: Tensor) -> Tensor:
        """Prepend the class token (with its position)."""
        cls = (self.cls_token + self.pos_embed[:, :1]).expand(len(tokens), -1, -1)
        return torch.cat([cls, tokens], dim=1)

    def forward_features(self, x: Tensor, wavelengths: Sequence[float]) -> Tensor:
        """Pooled features: the normalised mean of the patch tokens, as DOFA's."""
        h = self.with_class_token(self.tokens(x, wavelengths))
        for block in self.blocks:
            h = block(h)
        return self.fc_norm(h[:, 1:].mean(dim=1))

    def forward_intermediates(
        self, x: Tensor, wavelengths: Sequence[float], indices: Sequence[int]
    ) -> list[Tensor]:
        """(B, D, H/p, W/p) maps after the given blocks, for UPerNet-style decoders."""
        grid = (x.shape[-2] // self.patch_size, x.shape[-1] // self.patch_size)
        h = self.with_class_token(self.tokens(x, wavelengths))
        wanted = {i % len(self.blocks) for i in indices}
        maps = []
        for i, block in enumerate(self.blocks):
            h = block(h)
            if i in wanted:
                maps.append(h[:, 1:].transpose(1, 2).reshape(len(h), -1, *grid))
        return maps


class BoundWavelengths(torch.nn.Module):
    """An any-band ViT fixed to one band list: ``forward(x)`` gives pooled features."""

    def __init__(self, model: AnyBandViT, wavelengths: Sequence[float]) -> None:
        super().__init__()
        self.model, self.wavelengths = model, list(wavelengths)
        self.num_features = model.num_features

    def forward(self, x: Tensor) -> Tensor:
        return self.model.forward_features(x, self.wavelengths)
