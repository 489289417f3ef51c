"""Backbones from timm for any number of input bands, optionally from a local weights file."""

from __future__ import annotations

from pathlib import Path

import timm
import torch
from torch import nn

from eossl.errors import UserError

__all__ = [
    "create_backbone",
    "encoder_from_card",
    "has_fixed_size",
    "is_vit",
    "load_state_dict",
    "size_mismatch",
]


def size_mismatch(err: RuntimeError) -> str:
    """The first "size mismatch for ..." line of ``load_state_dict``'s error, or its type."""
    lines = [ln.strip() for ln in str(err).splitlines() if "size mismatch" in ln]
    return lines[0] if lines else type(err).__name__


def is_vit(name: str) -> bool:
    """Whether a timm model name is a plain vision transformer (patch tokens, class token)."""
    return name.startswith(("vit", "deit", "eva", "beit"))


def _pretrained_cfg(model: nn.Module) -> dict:
    return getattr(model, "pretrained_cfg", None) or {}


def has_fixed_size(model: nn.Module) -> bool:
    """Whether a timm model is built for one input size (transformers), unlike a CNN."""
    return bool(_pretrained_cfg(model).get("fixed_input_size"))


def load_state_dict(path: str | Path) -> dict[str, torch.Tensor]:
    """Tensors from a ``.safetensors`` or ``.pth`` file (never unpickling objects)."""
    path = Path(path)
    if not path.is_file():
        raise UserError(f"{path}: weights file not found")
    if path.suffix == ".safetensors":
        from safetensors.torch import load_file

        try:
            return load_file(str(path))
        except Exception as err:  # SafetensorError: a damaged or foreign file
            raise UserError(f"{path}: not a readable safetensors file ({err})") from err
    from eossl.weights.verified import read_pth

    state = read_pth(path)
    if isinstance(state, dict) and "state_dict" in state:
        state = state["state_dict"]
    if not isinstance(state, dict) or not all(torch.is_tensor(v) for v in state.values()):
        raise UserError(f"{path}: holds no state_dict of tensors (timm key names)")
    return state


def create_backbone(
    name: str, in_chans: int, weights: str | None = None, img_size: int | None = None
) -> nn.Module:
    """A timm model without classifier (``num_classes=0``) that returns pooled features.

    Args:
        name: any timm model name (``resnet18``, ``resnet50``, ``vit_small_patch16_224``...).
        in_chans: number of input bands.
        weights: optional local ``.pth``/``.safetensors`` state_dict in timm key names.
        img_size: training image size. ViTs keep the positional grid of their default
            size and resample it on the fly (``dynamic_img_size``) to whatever size
            they see, so the state_dict loads into ``timm.create_model(name,
            in_chans=C)`` with ``strict=True`` whatever the crop size; others ignore it.
    """
    from eossl.weights.card import MODEL_NAME

    if not MODEL_NAME.fullmatch(name):
        raise UserError(
            f"backbone {name!r}: a timm model name (resnet18, vit_small_patch16_224), not a "
            "source; eossl loads weights from files only with --model.init_args.backbone_weights"
        )
    kwargs: dict = {"in_chans": in_chans, "num_classes": 0, "pretrained": False}
    if img_size is not None and is_vit(name):
        kwargs.update(dynamic_img_size=True, dynamic_img_pad=True)
    try:
        model = timm.create_model(name, **kwargs)
    except RuntimeError as err:
        raise UserError(f"unknown backbone {name!r} ({err}); see timm.list_models()") from err
    fixed = _pretrained_cfg(model).get("input_size", (0, 0, 0))[-1]
    if img_size is not None and not is_vit(name) and has_fixed_size(model) and fixed != img_size:
        try:  # a Swin-like model built for its grid: build it for the crop size
            model = timm.create_model(name, **kwargs, img_size=img_size)
        except Exception as err:
            raise UserError(
                f"backbone {name} takes {fixed} px images and cannot be built for {img_size} "
                f"px crops ({type(err).__name__}); pick a CNN (resnet18), a ViT, or "
                f"--model.init_args.augment.crop_size {fixed}"
            ) from err
    if weights is not None:
        state = load_state_dict(weights)
        state = {
            k: v for k, v in state.items() if not k.startswith(("fc.", "head.", "classifier."))
        }
        try:
            missing, unexpected = model.load_state_dict(state, strict=False)
        except RuntimeError as err:  # tensors of another shape
            raise UserError(
                f"{weights}: does not fit {name} with in_chans={in_chans} ({size_mismatch(err)})"
            ) from err
        if unexpected or missing:
            raise UserError(
                f"{weights}: does not fit {name} with in_chans={in_chans} "
                f"(missing {missing[:3]}, unexpected {unexpected[:3]})"
            )
    return model


def encoder_from_card(card: dict, weights: str | Path | None = None) -> nn.Module:
    """The backbone a weights card describes, random or with the card's checked weights.

    ``weights``: the card's path or registered name, to load its ``.pth`` after checking
    its sha256; None for random init. A timm card gives the timm model; an any-band
    card an :class:`~eossl.anyband.AnyBandViT` (call it with wavelengths).
    """
    from eossl.anyband import AnyBandViT, is_any_band
    from eossl.weights.verified import load_verified

    if is_any_band(card["model"]):
        model = AnyBandViT(card["model"], img_size=int(card["crop_size"]))
    else:
        model = create_backbone(card["model"], card["in_chans"], img_size=card["crop_size"])
    if weights is not None:
        try:
            model.load_state_dict(load_verified(weights), strict=True)
        except RuntimeError as err:
            lines = [ln.strip() for ln in str(err).splitlines() if ln.strip()]
            why = next((ln for ln in lines[1:] if ln), lines[0] if lines else "")
            raise UserError(
                f"{weights}: the weights do not fit {card['model']} with "
                f"{card['in_chans']} bands ({why[:160]})"
            ) from err
    return model
