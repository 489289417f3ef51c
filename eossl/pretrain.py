"""``eossl pretrain``: LightningCLI over a method and the Zarr datamodule.

``--sensor`` and ``--method`` pick ``configs/<sensor>_<method>.yaml``; every
field can be overridden in dotted form (``--trainer.max_epochs 5``). With no
``--data`` the built-in synthetic store and the demo preset are used.
"""

from __future__ import annotations

import contextlib
import inspect
import io
import logging
import math
import os
import re
import sys
import time
from pathlib import Path

import lightning as L
import torch
from lightning.fabric.plugins.io.torch_io import TorchCheckpointIO
from lightning.pytorch.callbacks import Callback, ModelCheckpoint, RichProgressBar
from lightning.pytorch.cli import LightningCLI
from lightning.pytorch.loggers import CSVLogger, TensorBoardLogger
from lightning.pytorch.utilities import rank_zero_only

from eossl.curation import DynamicCuration
from eossl.data.datamodule import SeasonalZarrDataModule
from eossl.errors import OneLineParser, UserError
from eossl.methods import METHODS
from eossl.methods.base import SSLMethod
from eossl.sensors import Sensor, fused_sensor, get_sensors, is_card_file, list_sensors


def _reason(err: BaseException) -> str:
    """A short reason for a failed write."""
    return (
        getattr(err, "strerror", None) or (str(err).splitlines() or [type(err).__name__])[0][:120]
    )


__all__ = ["PretrainCLI", "config_path", "configs_dir", "pretrain_cli"]


def configs_dir() -> Path:
    """Folder of the LightningCLI presets."""
    packaged = Path(__file__).parent / "configs"
    return packaged if packaged.is_dir() else Path(__file__).resolve().parent.parent / "configs"


REFERENCE_SENSOR = "s2"  # every method has a recipe for it; the recipes hold no band facts


def config_path(sensor: Sensor, method: str) -> Path:
    """``configs/<sensor>_<method>.yaml`` for a sensor card (any of its names).

    A sensor with no preset of its own for ``method`` gets the method's reference
    recipe, ``configs/s2_<method>.yaml``: the recipes set the model, optimiser and
    augmentations only, and the data (bands, statistics) follow ``--sensor``.
    """
    if method not in METHODS:
        raise UserError(f"unknown method {method!r}; choose one of: {', '.join(METHODS)}")
    for name in (sensor.name, *sensor.aliases, REFERENCE_SENSOR):
        path = configs_dir() / f"{name}_{method}.yaml"
        if path.exists():
            return path
    raise UserError(
        f"no preset for sensor {sensor.name!r} and method {method!r} in "
        f"{configs_dir()}; pass --config FILE"
    )


def demo_config(method: str) -> Path:
    """The demo preset of ``method``: its own ``demo_<method>.yaml``, else ``demo.yaml``."""
    own = configs_dir() / f"demo_{method}.yaml"
    return own if own.exists() else configs_dir() / "demo.yaml"


def preset_paths(name: str, method: str) -> list[Path]:
    """``configs/<name>.yaml`` then ``configs/<name>_<method>.yaml``: recipes layered on top.

    ``demo`` is the exception: a method's own ``demo_<method>.yaml`` replaces ``demo.yaml``,
    as when no ``--data`` is given.
    """
    if not re.fullmatch(r"[a-z0-9][a-z0-9-]*", name):
        raise UserError(f"--preset {name!r}: a preset is a name such as 'patches', not a path")
    if name == "demo":
        return [demo_config(method)]
    found = [
        path
        for path in (configs_dir() / f"{name}.yaml", configs_dir() / f"{name}_{method}.yaml")
        if path.exists()
    ]
    if found:
        return found
    sensors = {n for s in list_sensors() for n in (s.name, *s.aliases)}
    known = sorted({p.stem.split("_")[0] for p in configs_dir().glob("*.yaml")} - sensors)
    raise UserError(f"no preset {name!r} for {method}; presets: {', '.join(known)}")


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
        if trainer.global_step > 0:
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


def _check_checkpoint(path: Path) -> None:
    """Refuse a missing checkpoint, or one that only loads by unpickling objects."""
    if not path.is_file():
        raise UserError(f"{path}: checkpoint not found")
    try:
        torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:
        raise UserError(
            f"{path}: not a checkpoint eossl can load safely ({type(err).__name__}); it "
            "would need unpickling arbitrary objects, so it is not loaded"
        ) from err


def _num_bands(sensor: str) -> int:
    return sum(s.num_bands for s in get_sensors(sensor))


class PretrainCLI(LightningCLI):
    """LightningCLI whose model's ``in_chans`` follows the datamodule's sensor.

    ``--curation.*`` configures :class:`~eossl.curation.DynamicCuration` (off unless
    ``--curation.keep`` is below 1).

    The run folder's loggers and the atomic checkpoint writer are handed to the
    Trainer when it is built, not kept as configuration defaults, so ``config.yaml``
    holds only values that ``--config`` reads back (a logger object does not).
    ``--trainer.logger false`` still turns the loggers off, and
    ``--trainer.enable_progress_bar false`` the progress bar.
    """

    def __init__(self, *args: object, out: Path, **kwargs: object) -> None:
        self.out = out
        super().__init__(*args, **kwargs)

    def add_arguments_to_parser(self, parser) -> None:  # noqa: D102
        parser.link_arguments("data.sensor", "model.init_args.in_chans", compute_fn=_num_bands)
        # --curation.keep 0.25 --curation.every_n_epochs 5 (--curation.clusters, .levels)
        parser.add_lightning_class_args(DynamicCuration, "curation")

    def instantiate_trainer(self, **kwargs: object) -> L.Trainer:  # noqa: D102
        if self.config_init.get("trainer.logger") in (None, True):
            kwargs.setdefault(
                "logger",
                [
                    CSVLogger(self.out, name="", version=""),
                    TensorBoardLogger(self.out, name="tensorboard", version=""),
                ],
            )
        if not self.config_init.get("trainer.plugins"):
            kwargs.setdefault("plugins", [AtomicCheckpointIO()])
        if self.config_init.get("trainer.enable_progress_bar") is False:
            callbacks = self.trainer_defaults.get("callbacks", [])
            self.trainer_defaults["callbacks"] = [
                c for c in callbacks if not isinstance(c, RichProgressBar)
            ]
        return super().instantiate_trainer(**kwargs)


def _quiet_warnings() -> None:
    """Hide library chatter that says nothing to an eossl user."""
    import warnings

    for pattern in (
        ".*args parameter is intended.*",
        ".*LeafSpec.*",
        ".*litlogger.*",
        ".*does not have many workers.*",
        ".*is not recommended to provide both.*",
        r"\s*Unable to serialize instance",
        ".*litmodels.*",
        ".*DataLoader will create.*worker processes.*",  # eossl says it once (datamodule)
        ".*Total length of `list` across ranks is zero.*",
        ".*Experiment logs directory .* exists and is not empty.*",  # resume: metrics kept aside
    ):
        warnings.filterwarnings("ignore", message=pattern)
    for name in ("lightning.pytorch.utilities.rank_zero", "lightning.fabric.utilities.seed"):
        tips = logging.getLogger(name)
        if not any(isinstance(f, _DropTips) for f in tips.filters):
            tips.addFilter(_DropTips())


class _DropTips(logging.Filter):
    """Drop Lightning's advertising tips (litlogger, litmodels) and "Seed set to" notices."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        return not any(s in message for s in ("litlogger", "litmodels", "Seed set to"))


def _keep_metrics(out: Path) -> None:
    """Move an earlier ``metrics.csv`` aside (Lightning would delete it on resume)."""
    metrics = out / "metrics.csv"
    if metrics.exists():
        n = len(list(out.glob("metrics.*.csv")))
        metrics.rename(out / f"metrics.{n}.csv")


def _latest_checkpoint(out: Path) -> Path | None:
    found = [
        p
        for p in (out / "checkpoints").glob("*.ckpt")
        if p.name.startswith(("last", "on_exception", "hpc_ckpt"))
    ]
    return max(found, key=lambda p: p.stat().st_mtime) if found else None


def pretrain_cli(argv: list[str]) -> None:
    """Run ``eossl pretrain`` with the given arguments (without the subcommand name)."""
    _quiet_warnings()

    pre = OneLineParser(prog="eossl pretrain", add_help=False)
    pre.add_argument(
        "--sensor",
        default="s2",
        help="sensor card, alias or card file (.yaml), or several co-located sensors "
        "separated by commas, e.g. s1,s2 (default: s2)",
    )
    pre.add_argument("--method", default="moco", help=f"one of {', '.join(METHODS)}")
    pre.add_argument(
        "--data",
        default=None,
        help="store, .zarr.zip or folder of stores (default: built-in sample)",
    )
    pre.add_argument(
        "--preset",
        default=None,
        help="a recipe layered on the method's: configs/PRESET.yaml, then PRESET_METHOD.yaml "
        "(e.g. patches: small archives of small single-date patches)",
    )
    pre.add_argument("--out", default=None, help="run folder (default: runs/SENSOR_METHOD)")
    pre.add_argument("--resume", action="store_true", help="continue from the last checkpoint")
    pre.add_argument(
        "--auto-resume",
        action="store_true",
        help="resume if OUT holds a checkpoint, else start (for requeued jobs)",
    )
    pre.add_argument(
        "--ckpt-path", "--ckpt_path", default=None, help="resume from this checkpoint"
    )
    pre.add_argument("-h", "--help", action="store_true")
    known, rest = pre.parse_known_args(argv)
    if known.help:
        print(pre.format_help().replace("usage: ", "eossl options: ", 1))
    sensors = get_sensors(known.sensor)
    sensor = fused_sensor(sensors)
    own_config = any(a == "--config" or a.startswith("--config=") for a in rest)
    out = Path(known.out or f"runs/{sensor.name}_{known.method}")
    try:
        preset = config_path(sensor, known.method)
        args = ["--config", str(preset)]
        if preset.stem.split("_")[0] not in (sensor.name, *sensor.aliases) and not own_config:
            print(
                f"eossl: no {sensor.name} preset for {known.method}; using the method's "
                f"reference recipe {preset.name} with {sensor.name}'s bands and statistics",
                file=sys.stderr,
            )
    except UserError:
        if not own_config:
            raise
        args = []  # the user's --config carries the whole recipe
    if known.preset is not None:
        for path in preset_paths(known.preset, known.method):
            args += ["--config", str(path)]
    if known.data is None:
        demo = demo_config(known.method)
        args += ["--config", str(demo)]
    else:
        from eossl.data.io.schema import find_stores

        find_stores(known.data)  # a missing path fails here, in one line
        args += ["--data.data", known.data]
    names = ",".join(s.name for s in sensors)
    args += ["--data.sensor", known.sensor if is_card_file(known.sensor) else names]
    if "sensors" in inspect.signature(METHODS.get(known.method, SSLMethod)).parameters:
        args += ["--model.init_args.sensors", names]  # a method with one encoder per sensor
    args += ["--trainer.default_root_dir", str(out)]
    if known.help:
        rest.append("--help")
    print_only = any(a.startswith("--print_config") or a in ("--help",) for a in rest)
    ckpt_path = known.ckpt_path
    if not print_only:
        ckpt = _latest_checkpoint(out)
        if known.auto_resume and ckpt is not None:
            known.resume = True
        if known.resume:
            if ckpt is None:
                raise UserError(f"{out}: no checkpoint to resume from; run without --resume")
            ckpt_path = ckpt_path or str(ckpt)
            _keep_metrics(out)
        elif ckpt is not None and ckpt_path is None:
            raise UserError(
                f"{out}: holds an earlier run; pass --resume to continue it or "
                "--out NEW_DIR to start afresh"
            )
        if ckpt_path is not None:
            _check_checkpoint(Path(ckpt_path))
        if known.data is None and rank_zero_only.rank == 0:  # once, not per DDP rank
            print(
                f"eossl: no --data given, so training on the built-in synthetic "
                f"{sensor.title} sample with the demo preset ({demo.name}); "
                "pass --data PATH for the full recipe.",
                file=sys.stderr,
            )
    if known.help:  # Lightning's help, without its `--data CONFIG` (eossl's --data is above)
        text = io.StringIO()
        with contextlib.redirect_stdout(text), contextlib.suppress(SystemExit):
            _build_cli(args + rest, out)
        print(_drop_data_config(text.getvalue()), end="")
        raise SystemExit(0)
    try:
        cli = _build_cli(args + rest, out)
    except SystemExit:
        raise
    except Exception as err:  # jsonargparse wraps errors raised by our own classes
        cause: BaseException | None = err
        while cause is not None and not isinstance(cause, UserError):
            cause = cause.__cause__ or cause.__context__
        if cause is not None:
            raise cause from err
        lines = [ln.strip() for ln in str(err).splitlines() if ln.strip()]
        first = " ".join(lines[:2])[:300] if lines else type(err).__name__
        nested = re.search(r"NestedArg\(key='([^']+)'", str(err))
        section = re.match(r'Parser key "([^"]+)"', lines[0]) if lines else None
        if nested and section:  # a field the class does not have, e.g. a misspelt one
            first = (
                f"--{section.group(1)}.init_args.{nested.group(1)} is not an option of the "
                f"{section.group(1)}; see `eossl pretrain --print_config` for every field"
            )
        raise UserError(f"invalid configuration: {first}") from err
    _fit_and_export(cli, ckpt_path, out)


def _drop_data_config(text: str) -> str:
    """Lightning's help less ``--data CONFIG``: eossl's ``--data`` takes that flag (a path)."""
    text = text.replace(" [--data CONFIG]", "")
    return re.sub(r"\n  --data CONFIG +Path to a configuration file\.", "", text)


def _build_cli(args: list[str], out: Path) -> PretrainCLI:
    return PretrainCLI(
        SSLMethod,
        SeasonalZarrDataModule,
        subclass_mode_model=True,
        args=args,
        save_config_kwargs={"overwrite": True},
        out=out,
        trainer_defaults={
            "enable_model_summary": False,  # its table ends in "Total FLOPs: 0"; one line below
            "callbacks": [
                # no "best" checkpoint: an SSL loss is no measure of better features (MoCo
                # v2's rises while its queue fills), so last.ckpt is the one kept. This
                # callback saves nothing; it stops Lightning adding one that would.
                ModelCheckpoint(dirpath=out / "checkpoints", save_top_k=0, save_last=False),
                LastCheckpoint(out / "checkpoints", every_n_steps=100),
                CheckpointOnInterrupt(out / "checkpoints"),
                RichProgressBar(),
            ],
        },
        parser_kwargs={"prog": "eossl pretrain", "exit_on_error": False, "allow_abbrev": False},
        run=False,
    )


def _fit_and_export(cli: PretrainCLI, ckpt_path: str | None, out: Path) -> None:
    from lightning.pytorch.utilities.exceptions import SIGTERMException

    if cli.trainer.is_global_zero:
        model = cli.model
        trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
        print(
            f"eossl: {type(model).__name__} with a {model.hparams.backbone} backbone, "
            f"{trainable / 1e6:.1f} M trainable parameters",
            file=sys.stderr,
        )
    try:  # weights_only: a resumed checkpoint is never unpickled
        cli.trainer.fit(cli.model, cli.datamodule, ckpt_path=ckpt_path, weights_only=True)
    except SIGTERMException:
        print(
            f"eossl: terminated; checkpoint saved, continue with --resume (--out {out})",
            file=sys.stderr,
        )
        raise SystemExit(143) from None
    if cli.trainer.is_global_zero:
        from eossl.export import export_trained

        cards = export_trained(cli.model, out / "weights")
        names = ", ".join(c.name for c in cards)
        print(f"eossl: weights exported to {cards[0].parent} ({names})", file=sys.stderr)
