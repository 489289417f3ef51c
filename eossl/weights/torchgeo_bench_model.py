"""eossl weights as a torchgeo-bench model (``eossl export --harness torchgeo-bench``).

torchgeo-bench builds the model once per dataset with that dataset's ``BandSpec``
list; each band finds its channel by name or wavelength (:mod:`eossl.bands`), and
the benchmark z-scores the inputs (``bandspec_zscore``), as eossl's pretraining did.
Needs torchgeo-bench installed (``pip install`` from its repository).
"""

from __future__ import annotations

import os
from typing import Any

from torch import Tensor
from torchgeo_bench.models.interface import BenchModel

from eossl.weights.harness import HarnessEncoder

__all__ = ["EosslBenchModel"]


class EosslBenchModel(BenchModel):
    """Pooled features of an eossl encoder for torchgeo-bench's frozen-feature probes."""

    def __init__(
        self, bands: list[Any], weights: str | os.PathLike, pretrained: bool = True, **_: Any
    ) -> None:
        super().__init__(bands=bands, normalization="bandspec_zscore")
        self.encoder = HarnessEncoder(weights, bands=bands, pretrained=pretrained)

    def _forward_patch_features(self, images: Tensor, _bboxes: Any = None) -> Tensor:
        return self.encoder.pooled(images)
