"""``eossl pretrain``: LightningCLI over a method and the Zarr datamodule.

``--sensor`` and ``--method`` pick ``configs/<sensor>_<method>.yaml``; every
field can be overridden in dotted form (``--trainer.max_epochs 5``). With no
``--data`` the built-in synthetic store and the demo preset are used.
"""

from __future__ import annotations

import contextlib
import inspect
import io
import re
import sys
from pathlib import Path

import lightning as L
from lightning.pytorch.callbacks import ModelCheckpoint, RichProgressBar
from lightning.pytorch.cli import LightningCLI
from lightning.pytorch.loggers import CSVLogger, TensorBoardLogger
from lightning.pytorch.utilities import rank_zero_only

from eossl.checkpoints import (
    AtomicCheckpointIO,
    CheckpointOnInterrupt,
    LastCheckpoint,
    check_fits,
    check_resumable,
    finished,
    keep_metrics,
    latest_checkpoint,
    load_checkpoint,
    resume_line,
)
from eossl.console import quiet_lightning
from eossl.curation import DynamicCuration
from eossl.data.datamodule import SeasonalZarrDataModule
from eossl.errors import OneLineParser, UserError
from eossl.methods import METHODS
from eossl.methods.base import NonFiniteLoss, SSLMethod
from eossl.sensors import Sensor, fused_sensor, get_sensors, is_card_file, list_sensors

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


def pretrain_cli(argv: list[str]) -> None:
    """Run ``eossl pretrain`` with the given arguments (without the subcommand name)."""
    quiet_lightning()

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
    if out.exists() and not out.is_dir():
        raise UserError(f"--out {out}: a file, not a folder for the run")
    layered = preset_paths(known.preset, known.method) if known.preset is not None else []
    try:
        preset = config_path(sensor, known.method)
        args = ["--config", str(preset)]
        if preset.stem.split("_")[0] not in (sensor.name, *sensor.aliases) and not own_config:
            then = f", then --preset {known.preset} ({', '.join(p.name for p in layered)})"
            print(
                f"eossl: no {sensor.name} preset for {known.method}; using the method's "
                f"reference recipe {preset.name} with {sensor.name}'s bands and statistics"
                + (then if layered else ""),
                file=sys.stderr,
            )
    except UserError:
        if not own_config:
            raise
        args = []  # the user's --config carries the whole recipe
    for path in layered:
        args += ["--config", str(path)]
    demo = known.data is None and not own_config  # a run's config.yaml names its data
    if demo:
        args += ["--config", str(demo_config(known.method))]
    elif known.data is not None:
        from eossl.data.io.schema import find_stores
        from eossl.data.samples import as_roots, listed_roots

        for path in as_roots(listed_roots(known.data)):
            find_stores(path)  # a missing path fails here, in one line
        args += ["--data.data", known.data]
    names = ",".join(s.name for s in sensors)
    args += ["--data.sensor", known.sensor if is_card_file(known.sensor) else names]
    if "sensors" in inspect.signature(METHODS.get(known.method, SSLMethod)).parameters:
        args += ["--model.init_args.sensors", names]  # a method with one encoder per sensor
    if known.help:
        rest.append("--help")
    print_only = any(a.startswith("--print_config") or a in ("--help",) for a in rest)
    ckpt_path = known.ckpt_path
    state: dict | None = None
    if not print_only:
        ckpt = latest_checkpoint(out)
        if known.auto_resume and ckpt is not None:
            known.resume = True
        theirs = ckpt_path is not None and out.resolve() not in Path(ckpt_path).resolve().parents
        if known.resume and theirs and not known.auto_resume:  # another run's checkpoint
            raise UserError(
                f"--resume goes on from {out}'s own checkpoint and --ckpt-path names "
                f"another run's ({ckpt_path}); pass one of them"
            )
        if known.resume:
            if ckpt is None:
                raise UserError(f"{out}: no checkpoint to resume from; run without --resume")
            ckpt_path = ckpt_path or str(ckpt)
        elif ckpt is not None and ckpt_path is None:
            raise UserError(
                f"{out}: holds an earlier run; pass --resume to continue it or "
                "--out NEW_DIR to start afresh"
            )
        if ckpt_path is not None:
            state = load_checkpoint(ckpt_path)  # a missing, truncated or unsafe one fails here
        if demo and rank_zero_only.rank == 0:  # once, not per DDP rank
            print(
                f"eossl: no --data given, so training on the built-in synthetic "
                f"{sensor.title} sample with the demo preset "
                f"({demo_config(known.method).name}); "
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
        # after the user's --config: a config copied from another run names its folder
        cli = _build_cli([*args, *rest, "--trainer.default_root_dir", str(out)], out)
    except SystemExit:
        raise
    except Exception as err:  # jsonargparse wraps errors raised by our own classes
        cause: BaseException | None = err
        first: BaseException = err  # the error a class of ours (or a library) raised first
        while cause is not None and not isinstance(cause, UserError):
            first = cause
            cause = cause.__cause__ or cause.__context__
        if cause is not None:
            raise cause from err
        if first is not err and not _parser_error(first):  # a class's own check (kornia's)
            raise UserError(f"invalid configuration: {config_error(str(first))}") from err
        raise UserError(f"invalid configuration: {config_error(str(err))}") from err
    if state is not None:
        assert ckpt_path is not None
        trainer, dm = cli.trainer, cli.datamodule
        epochs = None if trainer.fast_dev_run else trainer.max_epochs
        if known.auto_resume and finished(state, epochs):  # a requeued job that had ended
            _finish(out, ckpt_path)
            return
        check_resumable(ckpt_path, state, [c.name for c in dm.sensors], epochs)
        check_fits(ckpt_path, state, cli.model)  # another run's: one line, not Lightning's
        keep_metrics(out)
        if rank_zero_only.rank == 0:
            print(resume_line(Path(ckpt_path), state), file=sys.stderr)
    _fit_and_export(cli, ckpt_path, out)


def _finish(out: Path, ckpt_path: str) -> None:
    """A run whose every epoch is trained: its weights exported if the run stopped before."""
    from eossl.weights.export import export_checkpoint

    weights = out / "weights"
    if not any(weights.glob("*.json")):
        export_checkpoint(ckpt_path, weights)
    print(f"eossl: {out} has trained every epoch; its weights are in {weights}", file=sys.stderr)


def _parser_error(err: BaseException) -> bool:
    """Whether jsonargparse itself raised ``err`` (a value of the wrong type or name)."""
    tb = err.__traceback__
    while tb is not None and tb.tb_next is not None:
        tb = tb.tb_next
    return tb is None or "jsonargparse" in tb.tb_frame.f_code.co_filename


def config_error(message: str) -> str:
    """Jsonargparse's nested report of a bad field, as one line that names the field."""
    lines = [ln.strip() for ln in message.splitlines() if ln.strip()]
    section = re.match(r'Parser key "([^"]+)"', lines[0]) if lines else None
    keys = re.findall(r"NestedArg\(key='([^']+)', val=(.*)\)$", message, re.M)
    nested = max(keys, key=lambda k: len(k[0])) if keys else None  # the full dotted path
    if section and nested:
        flag = f"--{section.group(1)}.init_args.{nested[0]}"
        wrong = re.search(r"Expected a <class '(\w+)'>\. Got value: (.*)", message)
        if wrong:  # the field exists; its value has the wrong type
            kind = wrong.group(1)
            article = "an" if kind[0] in "aeiou" else "a"
            return f"{flag}: expected {article} {kind}, got {wrong.group(2)!r}"
        leaf = re.escape(nested[0].rsplit(".", 1)[-1])
        union = re.search(
            rf'Parser key "{leaf}":\s*Does not validate against any of the Union subtypes\s*'
            rf"Subtypes: \[(.*)\][\s\S]*?Given value: (.*)",
            message,
        )
        if union:  # the field exists; its value fits none of the types it takes
            kinds = re.sub(r"<class '(?:\w+\.)*(\w+)'>", r"\1", union.group(1))
            kinds = " or ".join(_top_level(kinds.replace("NoneType", "None")))
            return f"{flag}: expected {kinds}, got {union.group(2)!r}"
        other = re.search(r"(Expected [^\n]*?)\. Got value: (.*)", message)
        if other and "is not accepted" not in message:  # the field exists; its value does not fit
            return f"{flag}: {other.group(1).lower()}, got {other.group(2)}"
        return (  # a field the class does not have, e.g. a misspelt one
            f"{flag} is not an option of the {section.group(1)}; see "
            "`eossl pretrain --print_config` for every field"
        )
    return " ".join(lines[:2])[:300] if lines else "unreadable configuration"


def _top_level(text: str) -> list[str]:
    """``"list[float], tuple[int, int]"`` split at its top-level commas."""
    parts, depth, start = [], 0, 0
    for i, ch in enumerate(text):
        depth += {"[": 1, "]": -1}.get(ch, 0)
        if ch == "," and depth == 0:
            parts.append(text[start:i].strip())
            start = i + 1
    return [*parts, text[start:].strip()]


def check_length(trainer: L.Trainer) -> None:
    """Refuse a run that trains nothing (0 epochs or steps) or never ends (-1 and no steps)."""
    if trainer.fast_dev_run:
        return
    epochs, steps = trainer.max_epochs, trainer.max_steps
    if epochs == 0 or steps == 0:
        raise UserError(
            "--trainer.max_epochs 0 (or max_steps 0) trains nothing and would export "
            "untrained weights; give at least 1"
        )
    if trainer.limit_train_batches == 0:
        raise UserError(
            "--trainer.limit_train_batches 0 trains nothing and would export untrained "
            "weights; give a number of batches above 0 (or a fraction)"
        )
    if steps < 0 and (epochs is None or epochs < 0):
        raise UserError(
            f"--trainer.max_epochs {epochs} never ends, and eossl's warm-up and cosine "
            "schedule need an end; give a number of epochs (or --trainer.max_steps)"
        )


class EpochProgressBar(RichProgressBar):
    """Lightning's rich progress bar counting epochs from 1, as eossl's epoch lines do."""

    def _get_train_description(self, current_epoch: int) -> str:
        total = self.trainer.max_epochs
        text = f"Epoch {current_epoch + 1}" + (f"/{total}" if total and total > 0 else "")
        return f"{text:{len(self.validation_description)}}"


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
                EpochProgressBar(),
            ],
        },
        parser_kwargs={"prog": "eossl pretrain", "exit_on_error": False, "allow_abbrev": False},
        run=False,
    )


def _fit_and_export(cli: PretrainCLI, ckpt_path: str | None, out: Path) -> None:
    from lightning.pytorch.utilities.exceptions import SIGTERMException

    check_length(cli.trainer)
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
    except NonFiniteLoss as err:
        last = out / "checkpoints" / "last.ckpt"
        kept = f"the last good checkpoint is {last}" if last.exists() else "no checkpoint was kept"
        raise UserError(f"{err}; {kept}") from err
    except SIGTERMException:
        print(
            f"eossl: terminated; checkpoint saved, continue with --resume (--out {out})",
            file=sys.stderr,
        )
        raise SystemExit(143) from None
    if cli.trainer.is_global_zero:
        from eossl.weights.export import export_trained

        cards = export_trained(cli.model, out / "weights")
        names = ", ".join(c.name for c in cards)
        print(f"eossl: weights exported to {cards[0].parent} ({names})", file=sys.stderr)
