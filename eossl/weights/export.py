"""Export a pretrained backbone for downstream use.

``NAME.pth`` and ``NAME.safetensors`` hold the backbone ``state_dict`` in timm key
names (plain tensors), ``NAME.json`` is the card (model, bands, normalisation,
crop size, sha256), and ``NAME.ckpt`` is a checkpoint that TorchGeo's
``SemanticSegmentationTask(weights=...)`` and ``ClassificationTask`` load as is.
"""

from __future__ import annotations

import json
import os
import re
import shutil
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import save_file

from eossl.bands import band_info
from eossl.errors import UserError
from eossl.weights.card import registry_dir
from eossl.weights.verified import sha256, verified_file


def _reason(err: BaseException) -> str:
    """A short reason for a failed write."""
    return (
        getattr(err, "strerror", None) or (str(err).splitlines() or [type(err).__name__])[0][:120]
    )


__all__ = [
    "atomic_write",
    "export_all",
    "export_backbone",
    "export_checkpoint",
    "load_method",
]


def atomic_write(path: Path, write: Any) -> None:
    """Write through a temporary file and rename, so no half-written file looks complete.

    Every file gets the mode of a plain new file (0644 under the usual umask).
    """
    _move_in([(_staged(path, write), path)])


def _staged(path: Path, write: Any) -> Path:
    """``path``'s content written to a temporary file beside it; one line when it fails."""
    if path.is_dir():
        raise UserError(f"{path}: a folder is in the way of this file; move it, or choose "
                        "another output folder or --name")  # fmt: skip
    tmp = path.with_name(f".{path.name}.tmp")
    try:
        write(tmp)
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)
    except (OSError, RuntimeError) as err:  # torch.save reports a full disk as RuntimeError
        tmp.unlink(missing_ok=True)
        raise UserError(
            f"{path}: could not write ({_reason(err)}); free some disk space "
            "or choose another output folder"
        ) from err
    return tmp


def _move_in(staged: list[tuple[Path, Path]]) -> None:
    """Rename each staged temporary file onto its path, only once all are written."""
    for tmp, path in staged:
        os.replace(tmp, path)


_SHA_KEYS = ("sha256", "sha256_safetensors", "sha256_ckpt")  # of the .pth, .safetensors, .ckpt


def _state_of(
    module: torch.nn.Module, encoder: torch.nn.Module | None = None
) -> dict[str, torch.Tensor]:
    export = getattr(module, "export_state_dict", None)
    if encoder is not None:
        state = encoder.state_dict()
    else:
        state = export() if callable(export) else module.backbone.state_dict()
    return {k: v.detach().cpu().contiguous().clone() for k, v in state.items()}


def export_backbone(
    module: torch.nn.Module,
    out_dir: str | os.PathLike,
    name: str,
    card: dict[str, Any],
    encoder: torch.nn.Module | None = None,
    overwrite: bool = True,
) -> Path:
    """Write ``NAME.pth``, ``.safetensors``, ``.ckpt`` and ``.json`` for ``module.backbone``.

    ``encoder``: export this one of the module's encoders instead (one of
    ``sensor_encoders()``). ``overwrite=False`` refuses to replace existing files.
    Returns the path of the card.
    """
    if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9._+-]*", name):
        raise UserError(
            f"--name {name!r}: a weights name is letters, digits, '.', '_', '+' and '-', with no "
            "path; choose the folder with OUT_DIR"
        )
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    state = _state_of(module, encoder)
    pth, st, ckpt, js = (
        out / f"{name}{ext}" for ext in (".pth", ".safetensors", ".ckpt", ".json")
    )
    if not overwrite and (there := [p.name for p in (pth, st, ckpt, js) if p.exists()]):
        raise UserError(
            f"{out}: already holds {', '.join(there)}; pass --overwrite to replace them, or "
            "choose another OUT_DIR or --name"
        )
    from eossl.weights.card import check_card

    files = {"pth": pth.name, "safetensors": st.name, "torchgeo_ckpt": ckpt.name}
    check_card({**card, "name": name, "files": files}, js)  # what eossl would refuse to load
    broken = [k for k, v in state.items() if v.is_floating_point() and not v.isfinite().all()]
    if broken:
        raise UserError(
            f"{js}: not written: the weights hold NaN or inf ({broken[0]}, {len(broken)} "
            "tensors); export an earlier checkpoint"
        )
    # TorchGeo's extract_backbone: hparams 'backbone' selects the 'model.backbone.model.' keys
    tg = {
        "hyper_parameters": {"backbone": card["model"], "in_channels": card["in_chans"]},
        "state_dict": {f"model.backbone.model.{k}": v for k, v in state.items()},
        "eossl_card": name,
    }
    staged: list[tuple[Path, Path]] = []
    try:  # all four written first, then moved in: a failure leaves the old set as it was
        for path, write in (
            (pth, lambda p: torch.save(state, p)),
            (st, lambda p: save_file(state, str(p))),
            (ckpt, lambda p: torch.save(tg, p)),
        ):
            staged.append((_staged(path, write), path))
        from eossl import __version__

        full = {
            **card,
            "name": name,
            "files": files,
            **{key: sha256(tmp) for key, (tmp, _) in zip(_SHA_KEYS, staged, strict=True)},
            "eossl_version": __version__,
        }
        staged.append((_staged(js, lambda p: p.write_text(json.dumps(full, indent=2))), js))
    except BaseException:
        for tmp, _ in staged:
            tmp.unlink(missing_ok=True)
        raise
    _move_in(staged)
    return js


def load_method(ckpt_path: str | os.PathLike) -> tuple[torch.nn.Module, dict[str, Any]]:
    """Rebuild an eossl method from its Lightning checkpoint (loaded with weights_only=True)."""
    from eossl.checkpoints import load_checkpoint
    from eossl.methods import METHODS

    path = Path(ckpt_path)
    ckpt = load_checkpoint(path)
    hp = dict(ckpt.get("hyper_parameters") or {})
    classes = {f"{c.__module__.rsplit('.', 1)[0]}.{c.__name__}": c for c in METHODS.values()}
    classes.update({f"{c.__module__}.{c.__name__}": c for c in METHODS.values()})
    cls = classes.get(hp.get("_class_path", ""))
    if cls is None:
        if path.with_suffix(".json").is_file():  # a file `eossl export` wrote, beside its card
            raise UserError(
                f"{path}: exported weights (their card is {path.with_suffix('.json').name}), not "
                "a pretraining checkpoint; export takes RUN/checkpoints/last.ckpt"
            )
        found = hp.get("_class_path")
        raise UserError(
            f"{path}: not an eossl pretraining checkpoint "
            f"({f'class {found!r}' if found else 'no eossl method in it'}); export takes "
            "RUN/checkpoints/last.ckpt"
        )
    try:
        module = cls(**{k: v for k, v in hp.items() if not k.startswith("_")})
    except UserError:
        raise
    except Exception as err:  # a hyper-parameter the class does not take, of the wrong type
        raise UserError(
            f"{path}: its hyper-parameters do not build {cls.__name__} "
            f"({type(err).__name__}: {str(err)[:120]}); not a checkpoint of this eossl"
        ) from err
    missing = sorted(set(module.state_dict()) - set(ckpt["state_dict"]))
    if missing:  # exported weights left at random init would pass for trained ones
        raise UserError(
            f"{path}: lacks {len(missing)} of the model's tensors ({missing[0]} ...); not a "
            "complete eossl checkpoint"
        )
    try:
        module.load_state_dict(ckpt["state_dict"], strict=False)
    except RuntimeError as err:
        from eossl.models import size_mismatch

        raise UserError(
            f"{path}: its weights do not fit {cls.__name__} with {hp.get('backbone')} "
            f"({size_mismatch(err)})"
        ) from err
    method = next(k for k, c in METHODS.items() if c is cls)
    progress = ckpt.get("loops", {}).get("fit_loop", {}).get("epoch_progress", {})
    epochs = progress.get("current", {}).get("processed", ckpt.get("epoch", 0))
    steps = ckpt.get("global_step", 0)
    return module, {**ckpt.get("eossl", {}), "method": method, "epochs": epochs, "steps": steps}


def card_for(module: torch.nn.Module, meta: dict[str, Any]) -> dict[str, Any]:
    """The weights card of a trained method, from its data metadata (see ``data_meta``)."""
    hp = module.hparams
    if meta.get("mean") is None:
        raise UserError(
            "no pretraining normalisation recorded; export from a checkpoint "
            "written by `eossl pretrain`"
        )
    return {
        "model": hp.backbone,
        "in_chans": hp.in_chans,
        "bands": meta.get("bands"),
        "band_info": band_info(meta.get("sensor", "unknown"), meta.get("bands")),
        "sensor": meta.get("sensor", "unknown"),
        "modality": meta.get("modality"),
        "method": meta["method"],
        "mean": meta.get("mean"),
        "std": meta.get("std"),
        "offset": meta.get("offset", 0.0),
        "normalisation_source": meta.get("normalisation_source"),
        "nodata": meta.get("nodata"),
        "crop_size": module.recipe.crop_size,
        "epochs": meta.get("epochs"),
        "steps": meta.get("steps"),
        **({"fast_dev_run": True} if meta.get("fast_dev_run") else {}),
        "dataset": meta.get("dataset"),
        **({"levels": meta["levels"]} if meta.get("levels") else {}),  # each level's own
        **(module.card_extras() if hasattr(module, "card_extras") else {}),
    }


def default_name(card: dict[str, Any]) -> str:
    """``eossl_<sensor>_<method>_<model>``."""
    return f"eossl_{card['sensor']}_{card['method']}_{card['model']}"


def export_all(
    module: torch.nn.Module,
    meta: dict[str, Any],
    out_dir: str | os.PathLike,
    name: str | None = None,
    overwrite: bool = True,
) -> list[Path]:
    """Export every encoder of a method: one card, or one per sensor (``sensor_encoders``).

    A per-sensor card records that sensor's bands and normalisation, and is named
    ``NAME_<sensor>`` (``NAME`` defaults to the card's usual name).
    """
    encoders = getattr(module, "sensor_encoders", None)
    if encoders is None:
        card = card_for(module, meta)
        return [
            export_backbone(module, out_dir, name or default_name(card), card, overwrite=overwrite)
        ]
    own = {m["sensor"]: m for m in meta.get("sensors") or []}
    paths = []
    for sensor, encoder in encoders().items():
        if sensor not in own:
            raise UserError(f"no normalisation recorded for sensor {sensor}; re-run pretraining")
        card = card_for(module, {**meta, **own[sensor]})
        card["in_chans"] = len(own[sensor]["bands"])
        card["trained_with"] = meta.get("sensor")
        out_name = f"{name}_{sensor}" if name else default_name(card)
        paths.append(
            export_backbone(module, out_dir, out_name, card, encoder=encoder, overwrite=overwrite)
        )
    return paths


def export_trained(
    module: torch.nn.Module, out_dir: str | os.PathLike, name: str | None = None
) -> list[Path]:
    """Export a method right after training (``trainer.fit``); returns the cards' paths."""
    from eossl.methods import METHODS

    method = next((k for k, c in METHODS.items() if type(module) is c), type(module).__name__)
    meta = {**(module.data_meta() or {}), "method": method, **_progress(module)}
    return export_all(module, meta, out_dir, name)


def _progress(module: torch.nn.Module) -> dict[str, Any]:
    """Epochs whose batches all ran (as a checkpoint records them) and optimizer steps.

    A ``fast_dev_run`` trains no epoch: it is recorded as such, with its one step.
    """
    if module._trainer is None:
        return {"epochs": None, "steps": None}
    trainer = module.trainer
    if trainer.fast_dev_run:
        return {"epochs": 0, "steps": trainer.global_step, "fast_dev_run": True}
    return {
        "epochs": trainer.fit_loop.epoch_progress.current.processed,
        "steps": trainer.global_step,
    }


def export_checkpoint(
    ckpt_path: str | os.PathLike,
    out_dir: str | os.PathLike,
    name: str | None = None,
    register: bool = False,
    overwrite: bool = False,
) -> list[Path]:
    """``eossl export``: backbone files and cards from a pretraining checkpoint.

    Existing files in ``out_dir``, and registered weights of the same name but other
    contents, are replaced only with ``overwrite``.
    """
    if register:
        registry_dir()  # a registry that is a file: said before anything is written
    module, meta = load_method(ckpt_path)
    _say_unknown_sensors(meta)
    try:
        paths = export_all(module, meta, out_dir, name, overwrite)
    except UserError as err:
        raise UserError(f"{ckpt_path}: {err}") from err
    if register:
        for path in paths:
            try:
                register_card(path, overwrite)
            except UserError as err:
                raise UserError(
                    f"{err} (the weights are written to {out_dir}, not registered)"
                ) from err
    return paths


def _say_unknown_sensors(meta: dict[str, Any]) -> None:
    """A notice for each sensor of the checkpoint that has no card in this process."""
    from eossl.console import console
    from eossl.sensors import get_sensor

    names = [meta.get("sensor"), *(m.get("sensor") for m in meta.get("sensors") or [])]
    for name in dict.fromkeys(n for n in names if n and "+" not in str(n)):
        try:
            get_sensor(str(name))
        except UserError:
            console(stderr=True).print(
                f"eossl: sensor {name!r} has no card here: the card's bands get no "
                "wavelengths or harness names (pass its YAML card to pretraining to keep them)"
            )


def register_card(card_path: str | os.PathLike, overwrite: bool = False) -> Path:
    """Copy a card and its files into the weights registry; returns the registered card.

    Weights registered under the same name with other contents are replaced only with
    ``overwrite``; registering the same weights again changes nothing.
    """
    card_path = Path(card_path)
    card = json.loads(card_path.read_text())
    for kind in card["files"]:
        verified_file(card_path, kind)  # in the card's folder, and unchanged
    dest = registry_dir()
    there = dest / card_path.name
    if there.is_file() and not overwrite:
        try:
            same = json.loads(there.read_text()).get("sha256") == card["sha256"]
        except (json.JSONDecodeError, AttributeError):
            same = False
        if not same:
            raise UserError(
                f"{card['name']}: other weights are registered under this name in {dest}; "
                "pass --overwrite to replace them, or export with another --name"
            )
    dest.mkdir(parents=True, exist_ok=True)
    for file in card["files"].values():
        atomic_write(dest / file, lambda p, f=file: shutil.copyfile(card_path.parent / f, p))
    atomic_write(dest / card_path.name, lambda p: shutil.copyfile(card_path, p))
    return dest / card_path.name
