"""Weights cards: where a card is found, what it must hold, and the files it names.

A card is a path, or a name in the local registry. Every field is checked before anything
is loaded; the files it names must sit in its own folder.
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path
from typing import Any

import numpy as np

from eossl.errors import UserError, finite_number

__all__ = [
    "MAX_CROP",
    "MODEL_NAME",
    "card_file",
    "check_card",
    "list_cards",
    "load_card",
    "registry_dir",
]


def registry_dir() -> Path:
    """The weights registry: ``EOSSL_WEIGHTS``, else ``<eossl cache>/weights``."""
    if env := os.environ.get("EOSSL_WEIGHTS"):
        folder = Path(env).expanduser()
    else:
        from eossl.data.synthetic.store import cache_dir

        folder = cache_dir() / "weights"
    if folder.exists() and not folder.is_dir():
        named = " (EOSSL_WEIGHTS)" if os.environ.get("EOSSL_WEIGHTS") else ""
        raise UserError(f"{folder}: the weights registry{named} is a file, not a folder")
    return folder


def load_card(card: str | os.PathLike) -> tuple[dict[str, Any], Path]:
    """A card by path, or by name from the registry; returns (card, the card's path)."""
    path = Path(card)
    if path.is_file() and path.suffix in (".pth", ".safetensors", ".ckpt"):
        raise UserError(
            f"{path}: a weights file, not its card; pass the .json card beside it (or its folder)"
        )
    if path.suffix != ".json" and path.is_dir():
        cards = sorted(path.glob("*.json"))
        if len(cards) != 1:
            raise UserError(f"{path}: expected one weights card (*.json), found {len(cards)}")
        path = cards[0]
    elif path.suffix != ".json" and not path.exists():
        candidate = registry_dir() / f"{card}.json"
        if candidate.exists():
            path = candidate
    if not path.is_file():
        if path.suffix == ".json" or path.is_dir() or path.is_symlink():  # not a name to list
            what = (
                "a folder" if path.is_dir() else "a link to nothing" if path.is_symlink() else ""
            )
            raise UserError(f"{path}: no weights card file{f' ({what})' if what else ''}")
        known = ", ".join(c["name"] for c in list_cards()) or "none registered"
        raise UserError(
            f"{card}: no such weights card; pass a .json card or a registered name ({known})"
        )
    try:
        info = json.loads(path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise UserError(f"{path}: not a valid weights card ({err})") from err
    check_card(info, path)
    return info, path


_REQUIRED = {"name": str, "model": str, "in_chans": int, "method": str, "crop_size": int}


def check_card(info: Any, path: Path) -> None:
    """Refuse a card that lacks what loading it needs, in one line that names the field."""
    if not isinstance(info, dict):
        raise UserError(
            f"{path}: not a weights card (a JSON {type(info).__name__}, not an object)"
        )
    for key, kind in _REQUIRED.items():
        value = info.get(key)
        if not isinstance(value, kind) or isinstance(value, bool) or value in ("", 0):
            found = "missing" if key not in info else repr(value)
            raise UserError(
                f"{path}: not a usable weights card: {key!r} is {found}; "
                "re-export it with `eossl export`"
            )
    if not MODEL_NAME.fullmatch(info["model"]):
        raise UserError(
            f"{path}: not a usable weights card: 'model' must be a timm model name, not a "
            f"source ({info['model']!r})"
        )
    if info["in_chans"] < 1 or not 1 <= info["crop_size"] <= MAX_CROP:
        raise UserError(
            f"{path}: not a usable weights card: 'in_chans' must be at least 1 and "
            f"'crop_size' 1-{MAX_CROP}, got {info['in_chans']} and {info['crop_size']!r}"
        )
    bands = info.get("bands")
    if bands is not None and (
        not isinstance(bands, list)
        or len(bands) != info["in_chans"]
        or not all(isinstance(b, str) and b for b in bands)
        or len(set(bands)) != len(bands)
    ):
        raise UserError(
            f"{path}: not a usable weights card: 'bands' must name {info['in_chans']} "
            f"different bands, got {bands!r:.120}"
        )
    _check_normalisation(info, path, info, "")
    sensor = info.get("sensor", "")
    if not isinstance(sensor, str) or re.search(r"[/\\]|\.ya?ml$", sensor, re.IGNORECASE):
        raise UserError(
            f"{path}: not a usable weights card: 'sensor' must be a sensor card name "
            f"(s2-l1c), got {info['sensor']!r:.60}"
        )
    files = info.get("files")
    if not isinstance(files, dict) or not all(isinstance(v, str) for v in files.values()):
        raise UserError(
            f"{path}: not a usable weights card: 'files' must map kinds to file names "
            f'({{"pth": "NAME.pth"}}), got {files!r:.80}'
        )
    for kind, name in files.items():  # every one, read now or not: no path out of the folder
        if name in ("", ".", "..") or Path(name).name != name or "\\" in name:
            raise UserError(
                f"{path}: not a usable weights card: files[{kind!r}] must be a file name in "
                f"the card's own folder, got {name!r:.80}"
            )
    levels = info.get("levels")
    if levels is not None:
        if not isinstance(levels, list) or not all(
            isinstance(e, dict) and isinstance(e.get("sensor"), str) for e in levels
        ):
            raise UserError(
                f"{path}: not a usable weights card: 'levels' must list objects with a "
                f"'sensor' and its 'mean', 'std' and 'offset', got {levels!r:.80}"
            )
        for entry in levels:
            _check_normalisation(entry, path, info, f"levels[{entry['sensor']}].")


# a timm model name; timm's sources ("hf-hub:", "local-dir:") would read files or the network
MODEL_NAME = re.compile(r"[A-Za-z0-9_.\-]+")
MAX_CROP = 2048  # pixels: a card's crop size beyond any sensor's patches
# float32 is what normalises: 1e308 overflows it, 1e-300 is 0 in it
_F32_MAX, _F32_TINY = float(np.finfo(np.float32).max), float(np.finfo(np.float32).tiny)


def _check_normalisation(entry: dict, path: Path, info: dict, where: str) -> None:
    """``mean``, ``std`` (and ``offset``) of a card or of one of its ``levels``."""
    for key in ("mean", "std"):
        values = entry.get(key)
        if not isinstance(values, list) or len(values) != info["in_chans"]:
            raise UserError(
                f"{path}: not a usable weights card: {where}{key!r} must list "
                f"{info['in_chans']} values, one per band; re-export it with `eossl export`"
            )
        if not all(finite_number(v) and abs(v) < _F32_MAX for v in values) or (
            key == "std" and not all(v >= _F32_TINY for v in values)
        ):
            raise UserError(
                f"{path}: not a usable weights card: {where}{key!r} must hold finite numbers"
                f"{' above 0' if key == 'std' else ''}, got {values}"
            )
    if entry.get("offset") is not None and not finite_number(entry["offset"]):
        raise UserError(
            f"{path}: not a usable weights card: {where}'offset' must be a number, got "
            f"{entry['offset']!r}"
        )


def card_file(info: dict[str, Any], card_path: Path, kind: str = "pth") -> Path:
    """The card's ``kind`` file, which must exist in the card's own folder (not hashed).

    A name with a path in it, or a link that leads out of the folder, is refused.
    """
    name = str((info.get("files") or {}).get(kind, ""))
    if not name or Path(name).name != name or name in (".", ".."):
        raise UserError(
            f"{card_path}: the card names its {kind} file {name!r}, not a file in its own "
            "folder; refusing to read it"
        )
    path = card_path.parent / name
    if not path.is_file():
        raise UserError(f"{path}: weights file named by the card is missing")
    if path.resolve().parent != card_path.parent.resolve():
        raise UserError(
            f"{path}: a link to {path.resolve()}, outside the card's folder; refusing to read "
            "it (copy the file into the folder)"
        )
    return path


def list_cards(problems: list[str] | None = None) -> list[dict[str, Any]]:
    """The usable cards in the registry; each one skipped is said in ``problems``.

    A card is usable when it loads (:func:`load_card`) and its weights file sits in its
    own folder (:func:`card_file`).
    """
    folder = registry_dir()
    cards = []
    for path in sorted(folder.glob("*.json")) if folder.is_dir() else []:
        try:
            info = load_card(path)[0]
            card_file(info, path)
        except UserError as err:
            if problems is not None:
                problems.append(str(err))
            continue
        cards.append(info)
    return cards
