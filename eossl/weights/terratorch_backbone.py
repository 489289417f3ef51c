"""eossl weights as a TerraTorch backbone: ``backbone="eossl"``.

Importing this module registers the builder :func:`eossl` in TerraTorch's backbone
registry (TerraTorch imports it from ``custom_modules``: ``eossl export --harness
terratorch`` writes that folder and a config). TerraTorch's factories then build::

    EncoderDecoderFactory().build_model(
        task="segmentation", backbone="eossl", backbone_weights="CARD.json",
        backbone_model_bands=["BLUE", "GREEN", "RED", "NIR_NARROW"],
        decoder="UperNetDecoder", num_classes=10)

Band names may be TerraTorch's (``B01``..``B8A``, HLS ``BLUE``...), TorchGeo's or the
card's; see :class:`~eossl.weights.harness.HarnessEncoder`.
"""

from __future__ import annotations

from collections.abc import Sequence

from terratorch.registry import TERRATORCH_BACKBONE_REGISTRY

from eossl.weights.harness import HarnessEncoder

__all__ = ["eossl"]


@TERRATORCH_BACKBONE_REGISTRY.register
def eossl(
    weights: str,
    model_bands: Sequence[str] | None = None,
    out_indices: Sequence[int] | None = None,
    pretrained: bool = True,
) -> HarnessEncoder:
    """An eossl weights card as a TerraTorch backbone (``out_channels``, a list of maps)."""
    bands = [getattr(b, "value", b) for b in model_bands] if model_bands else None
    return HarnessEncoder(weights, bands, out_indices, pretrained)
