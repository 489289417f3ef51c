"""A card's files checked against the sha256 it records, and read as plain tensors only."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path
from typing import Any

import torch

from eossl.errors import UserError
from eossl.weights.card import card_file, load_card

__all__ = ["load_verified", "read_pth", "sha256", "verified_checkpoint", "verified_file"]

_DIGESTS = {"pth": "sha256", "safetensors": "sha256_safetensors", "torchgeo_ckpt": "sha256_ckpt"}


def sha256(path: str | os.PathLike) -> str:
    """Hex sha256 of a file."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def verified_file(card: str | os.PathLike, kind: str = "pth") -> Path:
    """The card's ``kind`` file (pth, safetensors, torchgeo_ckpt), checked against its sha256.

    The file must sit in the card's own folder (see :func:`card_file`).
    """
    info, card_path = load_card(card)
    path = card_file(info, card_path, kind)
    expected = info.get(_DIGESTS[kind])
    if not expected or not isinstance(expected, str):
        raise UserError(
            f"{card_path}: the card has no {_DIGESTS[kind]!r} to check {path.name} against; "
            "eossl loads only files its card vouches for: re-export them with `eossl export`"
        )
    digest = sha256(path)
    if digest != expected:
        raise UserError(
            f"{path}: sha256 {digest[:12]}... does not match the card's "
            f"{expected[:12]}...; the file was modified or corrupted, re-export it"
        )
    return path


def holds_objects(err: BaseException) -> bool:
    """Whether ``torch.load(weights_only=True)`` refused a file for the objects it holds.

    Such objects (classes, functions such as ``os.system``) could run code if unpickled;
    a file of other bytes fails with another message.
    """
    text = str(err)
    return "GLOBAL" in text or "can still be loaded" in text


def read_pth(path: Path) -> Any:
    """A ``.pth`` file's content, never unpickling objects (a malicious file fails here)."""
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:
        what = (
            "holds Python objects other than tensors, which eossl never unpickles"
            if holds_objects(err)
            else f"not a plain tensor state_dict ({type(err).__name__})"
        )
        raise UserError(f"{path}: {what}; export weights with `eossl export`") from err


def load_verified(card: str | os.PathLike) -> dict[str, torch.Tensor]:
    """The backbone tensors of a card, after checking their sha256 against it.

    A file that is not a state_dict of tensors, or whose tensors hold NaN or inf, is a
    one-line error.
    """
    path = verified_file(card, "pth")
    state = read_pth(path)
    if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise UserError(f"{path}: not a state_dict of tensors; export weights with `eossl export`")
    broken = [k for k, v in state.items() if v.is_floating_point() and not v.isfinite().all()]
    if broken:
        raise UserError(
            f"{path}: {len(broken)} tensors hold NaN or inf ({broken[0]} ...); the weights are "
            "broken (a diverged run?)"
        )
    return state


def verified_checkpoint(card: str | os.PathLike) -> str:
    """The card's TorchGeo ``.ckpt``, checked against its sha256, as a path for ``weights=``.

    TorchGeo loads a ``.ckpt`` path without checking it; pass it through this first.
    """
    return str(verified_file(card, "torchgeo_ckpt"))
