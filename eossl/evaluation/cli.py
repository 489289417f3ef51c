"""``eossl evaluate``: its arguments and the checks of their combinations."""

from __future__ import annotations

import argparse
import math
from pathlib import Path

from eossl.errors import UserError, seed

__all__ = ["add_arguments", "run"]


def add_arguments(p: argparse.ArgumentParser) -> None:
    """Arguments of ``eossl evaluate``."""
    p.add_argument(
        "weights",
        nargs="+",
        help="weights card (.json), its folder, or a registered name; several (knn, linear): "
        "their features concatenated, each encoder on its own bands (e.g. S1 + S2 cards "
        "with --bands all)",
    )
    p.add_argument("--data", default=None, help="eossl store with scene or per-pixel labels")
    p.add_argument(
        "--dataset",
        choices=["eurosat", "bigearthnet", "oscd"],
        default=None,
        help="a benchmark in its own layout, read by TorchGeo from --root (oscd: converted "
        "into --tile-size tiles first)",
    )
    p.add_argument("--root", default=None, help="the benchmark's folder (with --dataset)")
    p.add_argument(
        "--bands", choices=["s2", "s1", "all"], default=None, help="bigearthnet: which sensor (s2)"
    )
    p.add_argument(
        "--num-classes", type=int, choices=[19, 43], default=None, help="bigearthnet classes (19)"
    )
    p.add_argument(
        "--task",
        choices=["knn", "linear", "segmentation", "change"],
        default="knn",
        help="change: change detection on two-date pairs (OSCD), cities held out",
    )
    p.add_argument(
        "--tile-size", type=int, help="change, --dataset oscd: tile size (px, default 64)"
    )
    p.add_argument(
        "--probe-only",
        action="store_true",
        help="change: the frozen probe against CVA only, no fine-tuning",
    )
    p.add_argument(
        "--freeze-backbone",
        action="store_true",
        help="segmentation, change: train the decoder only, on the frozen encoder (TorchGeo's "
        "freeze_backbone; SeCo's OSCD protocol), against the same on a frozen random encoder",
    )
    p.add_argument(
        "--channels",
        default=None,
        help="give the encoder only these bands, comma-separated (e.g. B02,B03,B04,B08): an "
        "any-band encoder takes just them, a fixed-band one the pretraining mean for the rest",
    )
    p.add_argument(
        "--no-level-shift",
        dest="level_shift",
        action="store_false",
        help="data of another processing level than the weights' (L1C for L2A weights): "
        "keep the weights' band means as they are (default: moved by the levels' typical "
        "difference)",
    )
    p.add_argument(
        "--image-size",
        type=int,
        default=None,
        help="knn, linear: resize each image to this many px before the encoder (default: "
        "the weights' pretraining crop size), e.g. 224 as in Corley et al.",
    )
    p.add_argument(
        "--protocol",
        choices=["auto", "split", "loo", "kfold"],
        default="auto",
        help="split (the test split), loo (leave-one-out), kfold; auto: split above 1,000 "
        "samples, else loo (knn) or kfold (linear)",
    )
    p.add_argument("--k", type=int, default=None, help="kNN neighbours (default 20; 5 if small)")
    p.add_argument(
        "--folds",
        type=int,
        default=None,
        help="folds of --protocol kfold, or of cities (change; 5)",
    )
    p.add_argument(
        "--out", default="eval", help="folder for the JSON result and the plot (default: eval)"
    )
    p.add_argument(
        "--epochs", type=int, default=None, help="fine-tuning epochs (segmentation, change; 5)"
    )
    p.add_argument("--batch-size", type=int, default=16)
    p.add_argument("--num-workers", type=int, default=0)
    p.add_argument(
        "--lr",
        type=float,
        default=None,
        help="fine-tuning learning rate (segmentation, change; 1e-3)",
    )
    p.add_argument("--seed", type=seed, default=0)
    p.add_argument(
        "--labels",
        choices=["majority", "multi"],
        default=None,
        help="chip targets from per-pixel labels: majority class, or multi-label",
    )


def run(args: argparse.Namespace) -> None:
    """``eossl evaluate``: check the flags, evaluate, print the table."""
    from eossl.evaluation.evaluate import check_image_size, evaluate
    from eossl.evaluation.results import print_result

    for name in ("epochs", "batch_size"):
        if getattr(args, name) is not None and getattr(args, name) < 1:
            raise UserError(f"--{name.replace('_', '-')} must be at least 1")
    if args.num_workers < 0:
        raise UserError(f"--num-workers must be 0 or more, got {args.num_workers}")
    _refuse_unused(args)
    if args.lr is not None and (not math.isfinite(args.lr) or args.lr <= 0):
        raise UserError(f"--lr must be a positive number, got {args.lr}")
    trains = args.task in ("segmentation", "change") and not args.probe_only
    untrained = [f for f, v in (("--epochs", args.epochs), ("--lr", args.lr)) if v is not None]
    if untrained and not trains:
        raise UserError(
            f"{' and '.join(untrained)}: for fine-tuning (--task segmentation or change, "
            f"without --probe-only); --task {args.task}{' --probe-only' * args.probe_only} "
            "has no epochs or learning rate"
        )
    args.epochs = 5 if args.epochs is None else args.epochs
    args.lr = 1e-3 if args.lr is None else args.lr
    if args.freeze_backbone and not trains:
        raise UserError(
            "--freeze-backbone: for --task segmentation or change, without --probe-only; "
            f"--task {args.task}{' --probe-only' * args.probe_only} trains no decoder"
        )
    args.bands = args.bands or "s2"
    args.num_classes = args.num_classes or 19
    if args.folds is not None and args.folds < 2:
        raise UserError("--folds must be at least 2 (each fold is tested on the others)")
    if args.k is not None and args.k < 1:
        raise UserError("--k must be at least 1")
    out = Path(args.out)
    if out.exists() and not out.is_dir():
        raise UserError(f"--out {args.out}: a file, not a folder for the results")
    if blocker := next((p for p in out.parents if p.exists() and not p.is_dir()), None):
        raise UserError(f"--out {args.out}: {blocker} is a file, not a folder")
    if args.dataset is not None and args.root is None:
        raise UserError(f"--dataset {args.dataset} needs --root, the folder that holds it")
    if args.dataset is None and args.data is None:
        raise UserError("pass --data STORE, or --dataset NAME --root FOLDER")
    if args.task == "change" and args.dataset not in (None, "oscd"):
        raise UserError(f"--dataset {args.dataset} has no change labels; use --dataset oscd")
    if args.dataset == "oscd" and args.task != "change":
        raise UserError("--dataset oscd is for --task change")
    if args.data is not None:
        _benchmark_hint(Path(args.data))
    if args.image_size is not None:
        check_image_size(args.image_size, args.task, "--image-size")
    if args.task == "change":
        _evaluate_change(args)
        return
    result = evaluate(
        args.weights if len(args.weights) > 1 else args.weights[0],
        args.root if args.dataset else args.data,
        args.task,
        out=args.out,
        epochs=args.epochs,
        seed=args.seed,
        batch_size=args.batch_size,
        num_workers=args.num_workers,
        lr=args.lr,
        labels=args.labels,
        dataset=args.dataset,
        bands=args.bands,
        num_classes=args.num_classes,
        protocol=args.protocol,
        k=args.k,
        num_folds=args.folds,
        channels=_channels(args.channels),
        level_shift=args.level_shift,
        freeze_backbone=args.freeze_backbone,
        image_size=args.image_size,
    )
    print_result(result)
    print(f"saved {args.out}/evaluate_{args.task}.json and .png")


def _evaluate_change(args: argparse.Namespace) -> None:
    from eossl.evaluation.change.evaluate import evaluate_change
    from eossl.evaluation.results import print_change

    if len(args.weights) > 1:
        raise UserError("--task change takes one weights card; pass one")
    if args.tile_size is not None and args.dataset != "oscd":
        raise UserError(
            "--tile-size cuts --dataset oscd's cities; a converted store (--data) keeps the "
            "tiles it was converted with"
        )
    args.tile_size = 64 if args.tile_size is None else args.tile_size
    if args.tile_size < 16:
        raise UserError("--tile-size must be at least 16 px")
    results = evaluate_change(
        args.weights[0],
        args.root if args.dataset else args.data,
        dataset=args.dataset,
        out=args.out,
        epochs=args.epochs,
        seed=args.seed,
        num_folds=args.folds,
        batch_size=args.batch_size,
        lr=args.lr,
        chip=args.tile_size,
        finetune=not args.probe_only,
        level_shift=args.level_shift,
        freeze_backbone=args.freeze_backbone,
    )
    for result in results:
        print_change(result)
    print(f"saved {args.out}/evaluate_change.json and evaluate_change_*.png")


def _refuse_unused(args: argparse.Namespace) -> None:
    """One line for flags given that this task or data would ignore."""
    probe = args.task in ("knn", "linear")
    if args.data is not None and args.dataset is not None:
        raise UserError(
            f"--data {args.data} and --dataset {args.dataset}: pass one (a store, or a "
            "benchmark in its own layout with --root)"
        )
    if args.root is not None and args.dataset is None:
        raise UserError(f"--root {args.root} is the folder of a --dataset; name the dataset")
    ignored = {  # flag: (given, what it is for)
        "--probe-only": (args.probe_only and args.task != "change", "--task change"),
        "--tile-size": (args.tile_size is not None and args.task != "change", "--task change"),
        "--k": (args.k is not None and args.task != "knn", "--task knn"),
        "--protocol": (args.protocol != "auto" and not probe, "--task knn or linear"),
        "--channels": (args.channels is not None and not probe, "--task knn or linear"),
        "--labels": (
            args.labels is not None and (not probe or args.dataset is not None),
            "--task knn or linear on a store (--data) with per-pixel labels",
        ),
        "--bands": (
            args.bands is not None and args.dataset != "bigearthnet",
            "--dataset bigearthnet",
        ),
        "--num-classes": (
            args.num_classes is not None and args.dataset != "bigearthnet",
            "--dataset bigearthnet",
        ),
        "--num-workers": (
            args.num_workers != 0 and args.task == "change",
            "--task knn, linear or segmentation (change detection holds its tiles in memory)",
        ),
        "--folds": (
            args.folds is not None
            and (args.task == "segmentation" or args.protocol in ("loo", "split")),
            "--protocol kfold (knn, linear) and --task change (folds of cities)",
        ),
    }
    for flag, (given, used_by) in ignored.items():
        if given:
            where = f"--task {args.task}"
            if flag == "--folds" and args.protocol != "auto":
                where += f" --protocol {args.protocol}"
            if flag in ("--bands", "--num-classes"):
                where = f"--dataset {args.dataset}" if args.dataset else "a store (--data)"
            if flag == "--labels" and args.dataset:
                where = f"--dataset {args.dataset}"
            raise UserError(f"{flag}: for {used_by}; {where} does not use it")


def _benchmark_hint(path: Path) -> None:
    """One line for a benchmark in its own layout given as ``--data`` (a store's flag)."""
    if not path.is_dir() or (path / "zarr.json").exists() or (path / ".zgroup").exists():
        return
    if next(path.glob("*.zarr*"), None) is not None:
        return  # a folder of stores
    if next(path.glob("*/imgs_1"), None) or next(path.glob("*/*/imgs_1"), None):
        kind, layout = "oscd", "oscd"
    elif next(path.glob("*/*.tif"), None):
        kind, layout = "eurosat", "patches"
    else:
        return
    raise UserError(
        f"--data {path}: a benchmark in its own layout, not an eossl store; pass --dataset "
        f"{kind} --root {path}, or convert it first (eossl convert {path} OUT.zarr --layout "
        f"{layout})"
    )


def _channels(text: str | None) -> list[str] | None:
    """``--channels B02,B03``: the band names, each once; one line when empty or repeated."""
    if text is None:
        return None
    names = [c.strip() for c in text.split(",") if c.strip()]
    if not names:
        raise UserError(f"--channels {text!r}: no band named; give e.g. B02,B03,B04,B08")
    repeated = sorted({n for n in names if names.count(n) > 1})
    if repeated:
        raise UserError(f"--channels lists {', '.join(repeated)} twice; name each band once")
    return names
