"""Exported encoders as EO harnesses take them: any band order in, feature maps out.

:class:`HarnessEncoder` wraps a weights card's backbone for TerraTorch, PANGAEA and
torchgeo-bench. It takes the harness's bands in the harness's order, by any name
(``B8A``, ``B8a``, ``NIR_NARROW``, ``nir08``) or wavelength (:mod:`eossl.bands`):

- a fixed-band encoder gets each band on the channel that carries it; a channel the
  harness lacks is 0 (the pretraining mean, after normalisation), and a harness band
  the encoder does not know is left out;
- an any-band encoder (:mod:`eossl.anyband`) takes exactly the harness's bands, each
  with its own wavelength.

``forward`` returns the maps after ``out_indices`` (timm's ``forward_intermediates``),
``out_channels`` their widths, as UPerNet-style decoders expect; ``pooled`` gives one
vector per image. Inputs are normalised by the harness: configure it with the card's
``mean`` and ``std`` (``eossl export --harness`` writes them into the config).
"""

from __future__ import annotations

import os
import sys
from collections.abc import Sequence
from typing import Any

import torch
from torch import Tensor, nn

from eossl.anyband import channel_wavelengths, is_any_band
from eossl.bands import channel_records, find_channels
from eossl.errors import UserError
from eossl.models import encoder_from_card
from eossl.weights.card import load_card

__all__ = ["HarnessEncoder", "PangaeaEncoder", "default_out_indices"]


def default_out_indices(card: dict[str, Any], model: nn.Module) -> list[int]:
    """Four levels: a CNN's last four stages; a ViT's blocks at 1/4, 1/2, 3/4 and the end."""
    if is_any_band(card["model"]):
        depth = len(model.blocks)
    else:
        depth = len(model.feature_info)
        if not any(str(f.get("module", "")).startswith("blocks") for f in model.feature_info):
            return list(range(max(0, depth - 4), depth))
    return sorted({max(0, depth * k // 4 - 1) for k in (1, 2, 3, 4)})


class HarnessEncoder(nn.Module):
    """A weights card's encoder for a harness's bands (see the module docstring).

    Args:
        weights: a card (``.json`` path or registered name).
        bands: the harness's input bands, in order: names, wavelengths (micrometres),
            or objects with ``name`` / ``wavelength_um``. Default: the card's own.
        out_indices: stages (CNN) or blocks (ViT) whose maps ``forward`` returns.
        pretrained: load the card's weights (checked against their sha256).
    """

    def __init__(
        self,
        weights: str | os.PathLike,
        bands: Sequence[Any] | None = None,
        out_indices: Sequence[int] | None = None,
        pretrained: bool = True,
    ) -> None:
        super().__init__()
        card, path = load_card(weights)
        self.card = card
        records = channel_records(card)
        wanted = list(bands) if bands is not None else [r["name"] for r in records]
        slots = find_channels(records, wanted)
        self.any_band = is_any_band(card["model"])
        if all(s is None for s in slots) and not self.any_band:
            raise UserError(
                f"{card['name']}: none of the bands {[str(b) for b in wanted]} is a band of "
                f"these weights ({', '.join(r['name'] for r in records)})"
            )
        self.model = encoder_from_card(card, path if pretrained else None)
        if self.any_band:  # takes the harness's bands as they are, with their wavelengths
            self.wavelengths = _wavelengths(records, wanted, slots)
        else:  # each harness band onto the channel that carries it
            kept = [i for i, s in enumerate(slots) if s is not None]
            self.register_buffer("take", torch.tensor(kept), persistent=False)
            self.register_buffer("slots", torch.tensor([slots[i] for i in kept]), persistent=False)
            self.channels = len(records)
        self.left_out = [str(b) for b, s in zip(wanted, slots, strict=True) if s is None]
        self.missing = [r["name"] for i, r in enumerate(records) if i not in slots]
        if not self.any_band and (self.left_out or self.missing):
            print(
                f"eossl: {card['name']}: harness bands not in the weights, left out: "
                f"{self.left_out or 'none'}; weights' bands the harness lacks, set to the "
                f"pretraining mean: {self.missing or 'none'}",
                file=sys.stderr,
            )
        self.out_indices = list(out_indices or default_out_indices(card, self.model))
        self.out_channels = self._widths()

    def _widths(self) -> list[int]:
        if self.any_band:
            return [self.model.num_features] * len(self.out_indices)
        info = self.model.feature_info
        return [info[i]["num_chs"] for i in self.out_indices]

    def arrange(self, x: Tensor) -> Tensor:
        """The harness's (B, bands, H, W) as the encoder's channels."""
        if self.any_band:
            return x
        out = x.new_zeros(len(x), self.channels, *x.shape[-2:])
        out[:, self.slots] = x[:, self.take]
        return out

    def forward(self, x: Tensor, **_: Any) -> list[Tensor]:
        """Feature maps (B, C_i, H_i, W_i) after each of ``out_indices``."""
        x = self.arrange(x)
        if self.any_band:
            return self.model.forward_intermediates(x, self.wavelengths, self.out_indices)
        return self.model.forward_intermediates(
            x, indices=self.out_indices, intermediates_only=True
        )

    def pooled(self, x: Tensor) -> Tensor:
        """One feature vector per image, as the encoder was pretrained to give."""
        x = self.arrange(x)
        if self.any_band:
            return self.model.forward_features(x, self.wavelengths)
        return self.model(x)


def _wavelengths(records: list[dict], wanted: list[Any], slots: list[int | None]) -> list[float]:
    """Wavelengths of the harness's bands: the card's channel's, else the band's own."""
    out = []
    for band, slot in zip(wanted, slots, strict=True):
        if slot is not None:
            out += channel_wavelengths([records[slot]])
            continue
        own = band if isinstance(band, (int, float)) else getattr(band, "wavelength_um", None)
        if own is None:
            raise UserError(
                f"band {band!r} is not a band of these weights and has no wavelength; "
                "pass it as a wavelength in micrometres"
            )
        out.append(float(own))
    return out


class PangaeaEncoder(HarnessEncoder):
    """A weights card as a PANGAEA encoder (configs from ``eossl export --harness pangaea``).

    ``forward({"optical": x, "sar": y})`` stacks the modalities' bands in
    ``input_bands`` order (a single time step, ``(B, C, 1, H, W)`` or ``(B, C, H, W)``)
    and returns the maps after ``output_layers``.
    """

    def __init__(
        self,
        encoder_weights: str | os.PathLike,
        input_bands: dict[str, list[str]],
        input_size: int,
        output_layers: Sequence[int] | None = None,
        download_url: str | None = None,
        **_: Any,
    ) -> None:
        bands = [b for modality in input_bands.values() for b in modality]
        super().__init__(encoder_weights, bands, output_layers)
        self.model_name = self.card["name"]
        self.input_bands, self.input_size = input_bands, input_size
        self.output_layers, self.output_dim = self.out_indices, self.out_channels
        self.embed_dim = self.out_channels[-1]
        self.multi_temporal = False
        self.encoder_weights, self.download_url = str(encoder_weights), download_url

    def load_encoder_weights(self, logger: Any = None) -> None:
        """Nothing to do: the weights were loaded, and checked, at construction."""

    def freeze(self) -> None:
        """Freeze the encoder's parameters."""
        self.requires_grad_(False)

    def forward(self, image: dict[str, Tensor], **_: Any) -> list[Tensor]:
        parts = [image[m].squeeze(2) if image[m].ndim == 5 else image[m] for m in self.input_bands]
        return super().forward(torch.cat(parts, dim=1))
