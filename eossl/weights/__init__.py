"""Pretrained weights for downstream use: cards, verified files, TorchGeo, harnesses.

- :mod:`~eossl.weights.card`: a card (path or registered name) and its checks;
- :mod:`~eossl.weights.verified`: its files, checked against their sha256;
- :mod:`~eossl.weights.torchgeo`: TorchGeo ``WeightsEnum`` members;
- :mod:`~eossl.weights.export`: ``eossl export`` (a checkpoint -> files + card) and the
  registry;
- :mod:`~eossl.weights.harness`, :mod:`~eossl.weights.harness_configs`: encoders and
  configs for evaluation harnesses (TerraTorch, PANGAEA, TorchGeo's benchmark), with
  their adapters :mod:`~eossl.weights.terratorch_backbone` and
  :mod:`~eossl.weights.torchgeo_bench_model`.
"""

from eossl.weights.card import list_cards, load_card, registry_dir
from eossl.weights.torchgeo import EosslWeightsEnum, get, torchgeo_weights, transforms_for
from eossl.weights.verified import load_verified, read_pth, verified_checkpoint, verified_file

__all__ = [
    "EosslWeightsEnum",
    "get",
    "list_cards",
    "load_card",
    "load_verified",
    "read_pth",
    "registry_dir",
    "torchgeo_weights",
    "transforms_for",
    "verified_checkpoint",
    "verified_file",
]
