"""SatMAE's multispectral and temporal token encodings (Cong et al. 2022), for :class:`MAE`."""

from __future__ import annotations

import torch
from timm.layers import PatchEmbed
from torch import Tensor, nn

__all__ = ["SpectralGroupEmbed", "time_encoding"]


class SpectralGroupEmbed(nn.Module):
    """One token per patch and group of bands: a patch embedding and an encoding per group.

    Args:
        groups: band indices of each group.
        patch_size: patch side in pixels.
        dim: token width.
        img_size: nominal image size (any multiple of ``patch_size`` works).
    """

    def __init__(self, groups: list[list[int]], patch_size: int, dim: int, img_size: int) -> None:
        super().__init__()
        self.groups = groups
        self.embeds = nn.ModuleList(
            PatchEmbed(img_size, patch_size, len(g), dim, strict_img_size=False) for g in groups
        )
        for embed in self.embeds:  # MAE initialises patch embeddings like linear layers
            nn.init.xavier_uniform_(embed.proj.weight.view(dim, -1))
        self.encoding = nn.Parameter(0.02 * torch.randn(len(groups), dim))

    def forward(self, x: Tensor) -> list[Tensor]:
        """(B, C, H, W) -> a (B, patches, dim) token tensor per group."""
        return [
            embed(x[:, bands]) + enc
            for embed, enc, bands in zip(self.embeds, self.encoding, self.groups, strict=True)
        ]

    @torch.no_grad()
    def fold_into(self, proj: nn.Conv2d) -> None:
        """Write the mean over groups of the tokens into a single all-band patch projection."""
        weight, bias = torch.zeros_like(proj.weight), torch.zeros_like(proj.bias)
        for embed, enc, bands in zip(self.embeds, self.encoding, self.groups, strict=True):
            weight[:, bands] += embed.proj.weight / len(self.groups)
            bias += (embed.proj.bias + enc) / len(self.groups)
        proj.weight.copy_(weight)
        proj.bias.copy_(bias)


def time_encoding(times: Tensor, dim: int) -> Tensor:
    """Sine-cosine encoding of the day of year: (B, S) int64 ns since 1970 -> (B, S, dim).

    Missing times (NaT) are encoded as day 0.
    """
    days = times.double() / 86_400e9
    doy = torch.where(times > 0, days % 365.25, torch.zeros_like(days)).float()
    omega = 1.0 / 10000 ** (torch.arange(dim // 2, device=times.device) / (dim / 2))
    angles = doy[..., None] * omega
    return torch.cat([angles.sin(), angles.cos()], dim=-1)
