"""Checkpoints of a pretraining run: when, how (atomically), and read back safely."""

from __future__ import annotations

import math
import os
import time
import zipfile
from pathlib import Path

import lightning as L
import torch
from lightning.fabric.plugins.io.torch_io import TorchCheckpointIO
from lightning.pytorch.callbacks import Callback

from eossl.errors import UserError
from eossl.weights.verified import holds_objects

__all__ = [
    "AtomicCheckpointIO",
    "CheckpointOnInterrupt",
    "LastCheckpoint",
    "check_fits",
    "check_resumable",
    "finished",
    "load_checkpoint",
    "keep_metrics",
    "latest_checkpoint",
]


def _reason(err: BaseException) -> str:
    """A short reason for a failed write."""
    return (
        getattr(err, "strerror", None) or (str(err).splitlines() or [type(err).__name__])[0][:120]
    )


class LastCheckpoint(Callback):
    """The one writer of ``last.ckpt``: every ``every_n_steps`` steps, and at an epoch end.

    An epoch end saves when training ends there or the last save is ``min_interval_s``
    old: a run of many short epochs (a small or curated training set) would otherwise
    spend seconds per epoch writing checkpoints. A kill loses at most that long.
    """

    def __init__(
        self, dirpath: str | Path, every_n_steps: int = 100, min_interval_s: float = 60.0
    ) -> None:
        self.path = Path(dirpath) / "last.ckpt"
        self.every_n_steps = every_n_steps
        self.min_interval_s = min_interval_s
        self._saved_at = -math.inf

    def _save(self, trainer: L.Trainer) -> None:
        trainer.save_checkpoint(self.path, weights_only=False)
        self._saved_at = time.monotonic()

    def on_train_batch_end(self, trainer: L.Trainer, *args: object) -> None:
        if self.every_n_steps and trainer.global_step % self.every_n_steps == 0:
            self._save(trainer)

    def on_train_epoch_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if trainer.sanity_checking or trainer.fast_dev_run:
            return
        max_epochs, max_steps = trainer.max_epochs, trainer.max_steps
        ends = (
            trainer.should_stop
            or (max_epochs is not None and 0 <= max_epochs <= trainer.current_epoch + 1)
            or 0 <= max_steps <= trainer.global_step
        )
        if ends or time.monotonic() - self._saved_at >= self.min_interval_s:
            self._save(trainer)


class CheckpointOnInterrupt(Callback):
    """Save ``on_exception.ckpt`` when training stops on Ctrl-C or an error, for ``--resume``."""

    def __init__(self, dirpath: str | Path) -> None:
        self.dirpath = Path(dirpath)

    def on_exception(
        self, trainer: L.Trainer, pl_module: L.LightningModule, exception: BaseException
    ) -> None:
        from eossl.methods.base import NonFiniteLoss

        # after a NaN loss the BatchNorm statistics may be NaN too: keep the last good one
        if trainer.global_step > 0 and not isinstance(exception, NonFiniteLoss):
            trainer.save_checkpoint(self.dirpath / "on_exception.ckpt", weights_only=False)


class AtomicCheckpointIO(TorchCheckpointIO):
    """Write checkpoints to a temporary file, fsync, then rename: never a half-written .ckpt."""

    def save_checkpoint(self, checkpoint: dict, path: str | Path, storage_options=None) -> None:
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.name}.tmp")
        try:
            with open(tmp, "wb") as f:
                torch.save(checkpoint, f)
                f.flush()
                os.fsync(f.fileno())
            os.replace(tmp, path)
        except (OSError, RuntimeError) as err:  # torch.save: RuntimeError on a full disk
            tmp.unlink(missing_ok=True)
            raise UserError(
                f"{path}: could not save the checkpoint ({_reason(err)}); "
                "free some disk space, then rerun with --resume"
            ) from err


_LOST = "restore it from a copy, or train afresh (eossl keeps one checkpoint a run)"


def load_checkpoint(path: str | os.PathLike) -> dict:
    """A checkpoint's contents, loaded as plain tensors and containers only (no unpickling).

    Each way it can fail is one line: missing, truncated or corrupt (a byte flipped on disk
    fails the CRC-32 the zip keeps of every tensor), not a PyTorch checkpoint, one that
    holds arbitrary objects (which are never unpickled), or one without weights.
    """
    path = Path(path)
    if not path.is_file():
        raise UserError(f"{path}: checkpoint not found")
    damaged = _damaged_member(path)
    if damaged is not None:
        raise UserError(
            f"{path}: cannot load this checkpoint: {damaged} fails its checksum (damaged on "
            f"disk); {_LOST}"
        )
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:
        text = str(err)
        if "central directory" in text or "zip archive" in text or isinstance(err, EOFError):
            why = f"truncated or corrupt (its zip directory is unreadable); {_LOST}"
        elif holds_objects(err):
            why = "it holds arbitrary Python objects, which eossl never unpickles"
        else:
            why = f"not a PyTorch checkpoint ({type(err).__name__})"
        raise UserError(f"{path}: cannot load this checkpoint: {why}") from err
    weights = state.get("state_dict") if isinstance(state, dict) else None
    if not isinstance(weights, dict) or not all(torch.is_tensor(v) for v in weights.values()):
        raise UserError(
            f"{path}: not a Lightning checkpoint: no 'state_dict' of tensors (write one with "
            "`eossl pretrain`)"
        )
    for key in ("hyper_parameters", "loops", "eossl"):
        if not isinstance(state.get(key, {}), dict):
            raise UserError(f"{path}: not an eossl checkpoint: its {key!r} is not a mapping")
    return state


def _damaged_member(path: Path) -> str | None:
    """The first member of a zip checkpoint whose bytes fail their CRC-32, if any."""
    try:
        with zipfile.ZipFile(path) as zf:
            return zf.testzip()
    except (zipfile.BadZipFile, OSError, ValueError, EOFError):
        return None  # torch.load names what is wrong


def check_resumable(
    path: str | os.PathLike, state: dict, sensors: list[str], max_epochs: int | None
) -> None:
    """One line if a checkpoint cannot go on in this run.

    Exported weights (no optimizer state), another sensor's data, or every epoch of
    ``max_epochs`` already trained.
    """
    if "eossl_card" in state or "optimizer_states" not in state:
        raise UserError(
            f"{path}: holds weights only, not a training run to resume (no optimizer state"
            f"{': an exported file' if 'eossl_card' in state else ''}); resume from a run's "
            "checkpoints/last.ckpt"
        )
    meta = state.get("eossl") or {}
    theirs = [str(m.get("sensor")) for m in meta.get("sensors") or []] or [meta.get("sensor")]
    if None not in theirs and theirs != sensors:
        data = f" ({meta['dataset']})" if meta.get("dataset") else ""
        order = " (the same sensors in another order)" if sorted(theirs) == sorted(sensors) else ""
        raise UserError(
            f"{path}: a checkpoint of {','.join(map(str, theirs))} data{data}, not of this "
            f"run's {','.join(sensors)}{order}; pass --sensor {','.join(map(str, theirs))} "
            "to continue it, or --out NEW_DIR to start afresh"
        )
    if finished(state, max_epochs):
        done = trained_epochs(state)
        raise UserError(
            f"{path}: has trained {done} epoch{'s' * (done != 1)}, all that "
            f"--trainer.max_epochs {max_epochs} asks for; raise --trainer.max_epochs to train "
            f"on (`eossl export {path}` writes its weights)"
        )


def _batch_progress(state: dict) -> dict:
    """Lightning's record of the batches of the epoch a checkpoint was saved in."""
    return state.get("loops", {}).get("fit_loop", {}).get("epoch_loop.batch_progress", {})


def trained_epochs(state: dict) -> int:
    """The epochs a checkpoint has completed (one it stopped in does not count)."""
    return int(state.get("epoch", 0)) + bool(_batch_progress(state).get("is_last_batch", False))


def finished(state: dict, max_epochs: int | None) -> bool:
    """Whether a checkpoint has trained every epoch of ``max_epochs`` (None, -1: no end)."""
    return max_epochs is not None and max_epochs >= 0 and trained_epochs(state) >= max_epochs


def check_fits(path: str | os.PathLike, state: dict, model: torch.nn.Module) -> None:
    """One line if a checkpoint to resume holds another model (another method or backbone)."""
    own, theirs = model.state_dict(), state["state_dict"]
    missing = [k for k in own if k not in theirs]
    shaped = [k for k in own if k in theirs and theirs[k].shape != own[k].shape]
    if missing or shaped or "pytorch-lightning_version" not in state:
        hp = state.get("hyper_parameters") or {}
        kind = str(hp.get("_class_path", "?")).rsplit(".", 1)[-1]
        mine = f"{type(model).__name__} with {getattr(model.hparams, 'backbone', '?')}"
        why = (
            f"{len(missing)} weights missing, {len(shaped)} of another shape, e.g. "
            f"{(missing + shaped)[0]}"
            if missing or shaped
            else "no Lightning version recorded"
        )
        raise UserError(
            f"{path}: a checkpoint of another model ({kind} with {hp.get('backbone', '?')}: "
            f"{why}), not of this run's {mine}; pass the same --method and model options, "
            "or --out NEW_DIR to start afresh"
        )


def resume_line(path: Path, checkpoint: dict) -> str:
    """``eossl: resuming ...``: the epoch a checkpoint holds, and whether it stopped mid-epoch.

    Lightning restarts a stopped epoch with a fresh loader (eossl's samplers are seeded per
    epoch, not resumable within one), so its remaining batches are drawn afresh.
    """
    batches = _batch_progress(checkpoint)
    done = batches.get("current", {}).get("completed", 0)
    epoch = trained_epochs(checkpoint) + 1  # the epoch it goes on with, counted from 1
    if batches.get("is_last_batch", False) or not done:
        return f"eossl: resuming from {path.name} at epoch {epoch}"
    return (
        f"eossl: resuming from {path.name} at epoch {epoch}, stopped after batch {done}; "
        "the rest of that epoch draws its batches afresh"
    )


def keep_metrics(out: Path) -> None:
    """Move an earlier ``metrics.csv`` aside (Lightning would delete it on resume)."""
    metrics = out / "metrics.csv"
    if metrics.exists():
        n = len(list(out.glob("metrics.*.csv")))
        metrics.rename(out / f"metrics.{n}.csv")


def latest_checkpoint(out: Path) -> Path | None:
    """The newest of a run folder's ``last``, ``on_exception`` and ``hpc_ckpt`` checkpoints."""
    found = [
        p
        for p in (out / "checkpoints").glob("*.ckpt")
        if p.name.startswith(("last", "on_exception", "hpc_ckpt"))
    ]
    return max(found, key=lambda p: p.stat().st_mtime) if found else None
