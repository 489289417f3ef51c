"""Export a pretrained backbone: timm-named tensors (.pth, .safetensors) and a JSON card."""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import save_file

from eossl.errors import UserError

__all__ = ["export_backbone", "sha256"]


def sha256(path: str | os.PathLike) -> str:
    """Hex sha256 of a file."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _atomic(path: Path, write: Any) -> None:
    """Write through a temporary file and rename, so no half-written file looks complete."""
    tmp = path.with_name(f".{path.name}.tmp")
    try:
        write(tmp)
        os.replace(tmp, path)
    except OSError as err:
        tmp.unlink(missing_ok=True)
        raise UserError(
            f"{path}: could not write ({err.strerror or err}); free some disk space "
            "or choose another output folder"
        ) from err


def export_backbone(
    module: torch.nn.Module, out_dir: str | os.PathLike, name: str, card: dict[str, Any]
) -> Path:
    """Write ``NAME.pth``, ``NAME.safetensors`` and ``NAME.json`` for ``module.backbone``.

    Returns the path of the card.
    """
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    state = {
        k: v.detach().cpu().contiguous().clone() for k, v in module.backbone.state_dict().items()
    }
    pth, st, js = out / f"{name}.pth", out / f"{name}.safetensors", out / f"{name}.json"
    _atomic(pth, lambda p: torch.save(state, p))
    _atomic(st, lambda p: save_file(state, str(p)))
    from eossl import __version__

    full = {
        **card,
        "files": {"pth": pth.name, "safetensors": st.name},
        "sha256": sha256(pth),
        "eossl_version": __version__,
    }
    _atomic(js, lambda p: p.write_text(json.dumps(full, indent=2)))
    return js
