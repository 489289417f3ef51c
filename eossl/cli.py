"""The ``eossl`` command line.

User mistakes print one line (``error: ...``) and exit with code 2; ``--debug``
shows the traceback instead.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

from eossl.console import console
from eossl.errors import OneLineParser, UserError, seed

__all__ = ["main"]

COMMANDS: dict[str, tuple[str, Callable[[argparse.ArgumentParser], None]]] = {}


def command(name: str, help: str) -> Callable:
    """Register a subcommand: the decorated function adds its arguments."""

    def wrap(fn: Callable[[argparse.ArgumentParser], None]) -> Callable:
        COMMANDS[name] = (help, fn)
        return fn

    return wrap


@command("pretrain", "self-supervised pretraining (LightningCLI; see `eossl pretrain --help`)")
def _pretrain_args(p: argparse.ArgumentParser) -> None:
    p.set_defaults(run=None)  # handled by eossl.pretrain before argparse sees it


@command("synth", "write a synthetic multispectral store (no downloads)")
def _synth_args(p: argparse.ArgumentParser) -> None:
    from eossl.data.io.codecs import CODECS, DEFAULT_CODEC, codec_help
    from eossl.parallel import add_dask_arguments

    p.add_argument(
        "out",
        help="output store: DIR.zarr, or FILE.zarr.zip (zarr format 2 zip); with several "
        "sensors, a folder that gets one store per sensor",
    )
    p.add_argument(
        "--sensor",
        default="s2",
        help="sensor card or alias, or several separated by commas (s1,s2): co-located "
        "stores of the same synthetic places (default: s2)",
    )
    p.add_argument("--samples", type=int, default=256, help="locations (default: 256)")
    p.add_argument("--size", type=int, default=264, help="image size in pixels (default: 264)")
    p.add_argument("--seasons", type=int, default=4, help="timestamps per location (default: 4)")
    p.add_argument("--seed", type=seed, default=0)
    p.add_argument("--labels", action="store_true", help="also write a per-pixel land-cover label")
    p.add_argument(
        "--zarr-format",
        type=int,
        choices=(2, 3),
        default=None,
        help="3 (sharded, default) or 2 (SSL4EO-S12 v1.1 form; default for .zip)",
    )
    p.add_argument("--shard", type=int, default=64, help="samples per shard (default: 64)")
    p.add_argument("--codec", default=DEFAULT_CODEC, choices=tuple(CODECS), help=codec_help())
    p.add_argument("--overwrite", action="store_true", help="replace an existing store")
    add_dask_arguments(p, quiet=False)
    p.set_defaults(run=_synth)


MIN_SYNTH_SIZE = 8  # pixels a side (2 px gave a NaN loss at the first step)
MAX_SYNTH_SIZE = 2048  # pixels a side: 8x SSL4EO-S12's 264 px patches


def _synth(args: argparse.Namespace) -> None:
    from eossl.data.io.describe import print_info
    from eossl.data.synthetic.store import write_synthetic

    for name in ("samples", "size", "seasons", "shard"):
        if getattr(args, name) < 1:
            raise UserError(f"--{name} must be at least 1, got {getattr(args, name)}")
    if args.size < MIN_SYNTH_SIZE:  # a 2 px scene has no texture, and its statistics fail
        raise UserError(
            f"--size {args.size} is too small to train on; give at least {MIN_SYNTH_SIZE}"
        )
    if args.size > MAX_SYNTH_SIZE:  # one image of 100,000 px is 260 GB of 13 bands
        raise UserError(
            f"--size {args.size}: synthetic images are at most {MAX_SYNTH_SIZE} px a side"
        )
    if args.out.endswith(".zip") and not args.out.endswith(".zarr.zip"):
        raise UserError(f"{args.out}: a zipped store is named NAME.zarr.zip")
    fmt = args.zarr_format or (2 if args.out.endswith(".zip") else 3)
    if args.out.endswith(".zip") and fmt == 3:
        raise UserError(
            "a .zarr.zip store is written in zarr format 2; drop --zarr-format 3 "
            "or write a .zarr directory"
        )
    from eossl.sensors import get_sensors

    sensors = get_sensors(args.sensor)
    if len(sensors) > 1 and args.out.endswith((".zarr", ".zip")):
        raise UserError(
            f"{args.out}: with several sensors OUT is a folder that gets one store per "
            "sensor (e.g. `eossl synth demo --sensor s1,s2`)"
        )
    for sensor in sensors:
        out = args.out
        if len(sensors) > 1:  # the same seed draws the same places for every sensor
            out = str(Path(args.out) / f"{sensor.name}.zarr{'.zip' if fmt == 2 else ''}")
        path = write_synthetic(
            out,
            sensor,
            samples=args.samples,
            size=args.size,
            seasons=args.seasons,
            seed=args.seed,
            labels=args.labels,
            zarr_format=fmt,
            shard=args.shard,
            codec=args.codec,
            overwrite=args.overwrite,
            workers=args.workers,
            scheduler=args.scheduler,
        )
        console().print(f"wrote {path}")
        print_info(path)


@command("info", "describe Zarr stores as a table")
def _info_args(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "path",
        nargs="?",
        default=None,
        help="store, .zarr.zip or folder of stores (default: the built-in sample that "
        "`eossl pretrain` uses without --data)",
    )
    p.add_argument("--sensor", default=None, help="check against this sensor card")
    p.set_defaults(run=_info)


def _info(args: argparse.Namespace) -> None:
    from eossl.data.io.describe import print_info

    path = args.path
    if path is None:  # the store the demo trains on: the demo preset's size
        import yaml

        from eossl.data.synthetic.store import builtin_store
        from eossl.pretrain import configs_dir

        data = yaml.safe_load((configs_dir() / "demo.yaml").read_text())["data"]
        samples, size = data["synthetic_samples"], data["synthetic_size"]
        print(
            f"eossl: no path given: the built-in synthetic sample that `eossl pretrain` "
            f"trains on without --data ({samples} samples, {size} px; made once into the cache)",
            file=sys.stderr,
        )
        path = builtin_store(args.sensor or "s2", samples=samples, size=size)
    print_info(path, args.sensor)


def _delegate(module: str) -> Callable[[argparse.ArgumentParser], None]:
    """Arguments and runner of a subcommand that lives in its own module."""

    def add(p: argparse.ArgumentParser) -> None:
        import importlib

        mod = importlib.import_module(module)
        mod.add_arguments(p)
        p.set_defaults(run=lambda args: mod.run(args))

    return add


command(
    "convert",
    "convert GeoTIFF archives (SSL4EO-S12, SSL4EO-L, SeCo, scenes, patches) to Zarr, or "
    "re-encode Zarr stores (the v1.1 zips)",
)(_delegate("eossl.data.convert.cli"))
command("stats", "per-band statistics of a store, with dask, out of core")(
    _delegate("eossl.data.stats.cli")
)
command("verify", "check every chunk checksum of stores (crc32c, zip CRC-32), in parallel")(
    _delegate("eossl.data.io.verify")
)
command(
    "phenology",
    "phenological phase of every timestamp from each location's NDVI curve (SSL4Eco), with dask",
)(_delegate("eossl.data.phenology.cli"))


@command("export", "export a pretraining checkpoint's backbone for timm and TorchGeo")
def _export_args(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "ckpt", help="checkpoint written by `eossl pretrain` (e.g. OUT/checkpoints/last.ckpt)"
    )
    p.add_argument("out_dir", help="folder for NAME.pth, NAME.safetensors, NAME.ckpt, NAME.json")
    p.add_argument(
        "--name", default=None, help="file name stem (default: eossl_SENSOR_METHOD_MODEL)"
    )
    p.add_argument(
        "--register",
        action="store_true",
        help="also copy into the weights registry (EOSSL_WEIGHTS)",
    )
    p.add_argument(
        "--overwrite",
        action="store_true",
        help="replace files in OUT_DIR, and registered weights of the same name",
    )
    p.add_argument(
        "--harness",
        default=None,
        help="also write configs for these harnesses, comma-separated: terratorch, pangaea, "
        "torchgeo-bench (into OUT_DIR/<harness>/)",
    )
    p.set_defaults(run=_export)


def _export(args: argparse.Namespace) -> None:

    from eossl.weights.export import export_checkpoint
    from eossl.weights.harness_configs import HARNESSES, write_harness_configs

    harnesses = [h.strip() for h in (args.harness or "").split(",") if h.strip()]
    if args.harness is not None and not harnesses:
        raise UserError(
            f"--harness {args.harness!r} names none; choose from {', '.join(HARNESSES)}"
        )
    unknown = [h for h in harnesses if h not in HARNESSES]
    if unknown:  # before anything is written
        raise UserError(f"unknown harness {unknown[0]!r}; choose from {', '.join(HARNESSES)}")
    if Path(args.out_dir).exists() and not Path(args.out_dir).is_dir():
        raise UserError(f"{args.out_dir}: a file, not a folder; choose a folder for OUT_DIR")
    if args.name is not None and not args.name.strip():
        raise UserError("--name '': give the weights a name, or leave --name out")
    if Path(args.ckpt).is_dir():
        found = sorted(Path(args.ckpt).rglob("*.ckpt"))
        hint = f" (e.g. {found[0]})" if found else ""
        raise UserError(f"{args.ckpt}: a folder; pass a checkpoint (.ckpt) in it{hint}")
    cards = export_checkpoint(
        args.ckpt, args.out_dir, args.name, register=args.register, overwrite=args.overwrite
    )
    for card in cards:
        console().print(
            f"wrote {card.with_suffix('')}.{{pth,safetensors,ckpt,json}}"
            + (" and registered it" if args.register else "")
        )
        for path in write_harness_configs(card, harnesses) if harnesses else []:
            console().print(f"wrote {path}")


@command("weights", "list the weights in the registry")
def _weights_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("action", choices=["list"], help="list: show the registered weights")
    p.set_defaults(run=_weights)


def _weights(args: argparse.Namespace) -> None:
    from rich.table import Table

    from eossl.weights.card import list_cards, registry_dir

    problems: list[str] = []
    cards = list_cards(problems)
    for problem in problems:
        print(f"eossl: skipped {problem}", file=sys.stderr)
    if not cards:
        print(
            f"no weights registered in {registry_dir()}; add some with "
            "`eossl export CKPT OUT_DIR --register` (EOSSL_WEIGHTS chooses the folder)"
        )
        return
    table = Table(title=f"eossl weights in {registry_dir()}")
    for col in ("name", "model", "bands", "sensor", "method", "crop", "epochs", "sha256"):
        table.add_column(col, no_wrap=col == "name")
    for c in cards:
        table.add_row(
            c["name"],
            c["model"],
            str(c["in_chans"]),
            str(c.get("sensor")),
            c["method"],
            str(c.get("crop_size")),
            str(c.get("epochs")),
            c["sha256"][:12],
        )
    console().print(table)


command(
    "evaluate",
    "evaluate weights downstream (kNN, linear probe, segmentation, change detection) vs "
    "random init and band stats",
)(_delegate("eossl.evaluation.cli"))


@command("bench", "speed benchmarks against TorchGeo (loader, augment, train, memory)")
def _bench_args(p: argparse.ArgumentParser) -> None:
    """The arguments and runner of ``python benchmarks/bench.py`` in the source checkout.

    The speed benchmarks live in ``benchmarks/`` as every other benchmark does, so the
    library ships no benchmark-only code (TorchGeo GeoTIFF trees, memory child processes);
    the documented ``eossl bench`` commands keep working from a checkout.
    """
    folder = Path(__file__).resolve().parents[1] / "benchmarks"
    if not (folder / "speed").is_dir():
        raise UserError(
            "`eossl bench` runs from a source checkout (git clone, then pip install -e .), "
            "as `python benchmarks/bench.py` with the same arguments"
        )
    if str(folder) not in sys.path:
        sys.path.insert(0, str(folder))
    from speed.cli import add_arguments

    add_arguments(p)


@command("sensors", "list the sensor cards and their aliases")
def _sensors_args(p: argparse.ArgumentParser) -> None:
    p.set_defaults(run=_sensors)


def _sensors(args: argparse.Namespace) -> None:
    from rich.table import Table

    from eossl.sensors import list_sensors

    table = Table(title="eossl sensor cards")
    for col in ("name", "aliases", "bands", "dtype", "releases"):
        table.add_column(col)
    for s in list_sensors():
        table.add_row(
            s.name,
            ", ".join(s.aliases),
            f"{s.num_bands}: {' '.join(s.band_names)}",
            s.dtype,
            ", ".join(s.releases),
        )
    console().print(table)


def _one_line(message: str) -> str:
    """The user-facing line of an error, also when a DataLoader worker wrapped it."""
    if "Original Traceback" in message:  # torch re-raises worker errors with their traceback
        message = message.strip().splitlines()[-1]
        message = message.split("UserError: ", 1)[-1]
    return message.strip().splitlines()[0] if message.strip() else message


def build_parser(only: str | None = None) -> argparse.ArgumentParser:
    """The top-level parser; subcommand arguments are added for ``only`` (all if None)."""
    from eossl import __version__

    parser = OneLineParser(
        prog="eossl",
        description="Self-supervised pretraining on multispectral Earth-observation imagery.",
    )
    parser.add_argument("--version", action="version", version=f"eossl {__version__}")
    parser.add_argument("--debug", action="store_true", help="show tracebacks of errors")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=OneLineParser)
    for name, (help_text, add) in COMMANDS.items():
        sub_parser = sub.add_parser(name, help=help_text, description=help_text)
        if only is None or name == only:
            add(sub_parser)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``eossl`` console script."""
    argv = list(sys.argv[1:] if argv is None else argv)
    debug = "--debug" in argv
    if debug:
        argv.remove("--debug")
    try:
        if argv and argv[0] == "pretrain":
            from eossl.pretrain import pretrain_cli

            pretrain_cli(argv[1:])
            return 0
        first = next((a for a in argv if not a.startswith("-")), None)
        parser = build_parser(only=first if first in COMMANDS else "")
        args = parser.parse_args(argv)
        if args.command is None:
            parser.print_help()
            return 0
        args.run(args)
        return 0
    except UserError as err:
        if debug:
            raise
        print(f"error: {_one_line(str(err))}", file=sys.stderr)
        return 2
    except OSError as err:  # a path that is a file, not a folder; no permission; ...
        if debug:
            raise
        where = f"{err.filename}: " if err.filename else ""
        print(f"error: {where}{err.strerror or err}", file=sys.stderr)
        return 2
    except MemoryError as err:
        if debug:
            raise
        print(
            f"error: out of memory ({_one_line(str(err)) or 'MemoryError'}); use smaller "
            "sizes, batches or blocks",
            file=sys.stderr,
        )
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
