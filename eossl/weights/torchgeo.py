"""eossl weights as TorchGeo ``WeightsEnum`` members.

A member's ``get_state_dict()`` checks the sha256 recorded in the card before it
loads anything, and loads plain tensors only. Its ``transforms`` reproduce the
pretraining resize and normalisation, and its ``meta`` carries TorchGeo's keys.
TorchGeo's trainers accept the member as ``weights=``.
"""

from __future__ import annotations

import os
from typing import Any

import kornia.augmentation as K
import torch
from torchvision.models._api import Weights

from eossl.weights.card import card_file, load_card
from eossl.weights.verified import load_verified

try:  # the class TorchGeo's trainers check with isinstance
    from torchgeo.trainers.segmentation import WeightsEnum
except ImportError:  # pragma: no cover - older/newer layouts
    from torchvision.models._api import WeightsEnum

__all__ = ["EosslWeightsEnum", "get", "torchgeo_weights", "transforms_for"]


def transforms_for(info: dict[str, Any]) -> K.AugmentationSequential:
    """Kornia resize and normalisation exactly as in pretraining (stored units)."""
    mean = torch.tensor(info["mean"], dtype=torch.float32)
    std = torch.tensor(info["std"], dtype=torch.float32)
    size = int(info["crop_size"])
    return K.AugmentationSequential(
        K.Resize(size), K.Normalize(mean=mean, std=std), data_keys=None
    )


class EosslWeightsEnum(WeightsEnum):
    """TorchGeo/torchvision ``WeightsEnum`` whose members load verified local files."""

    def get_state_dict(self, *args: Any, **kwargs: Any) -> dict[str, torch.Tensor]:
        return load_verified(self.meta["card"])


def torchgeo_weights(card: str | os.PathLike) -> EosslWeightsEnum:
    """A ``WeightsEnum`` member for an exported card (path or registered name)."""
    info, card_path = load_card(card)
    pth = card_file(info, card_path, "pth")  # its sha256 is checked when TorchGeo loads it
    meta = {
        "dataset": info.get("dataset"),
        "in_chans": info["in_chans"],
        "model": info["model"],
        "publication": None,
        "repo": "https://github.com/eossl/eossl",
        "ssl_method": info["method"],
        "bands": info.get("bands"),
        "card": str(card_path),
        "mean": info.get("mean"),
        "std": info.get("std"),
        "offset": info.get("offset", 0.0),
        "crop_size": info.get("crop_size"),
        "sensor": info.get("sensor"),
    }
    weights = Weights(
        url=pth.resolve().as_uri(),
        transforms=transforms_for(info),
        meta=meta,
    )
    enum = EosslWeightsEnum(f"EosslWeights_{info['name']}", {info["name"]: weights})
    return enum[info["name"]]


def get(name: str) -> EosslWeightsEnum:
    """The registered weights called ``name``, as a ``WeightsEnum`` member."""
    return torchgeo_weights(name)
