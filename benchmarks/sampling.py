"""What to sample (#17): dynamic curation on a redundant store, phenology vs calendar positives.

Both experiments pretrain with the SimCLR demo preset (ResNet-18, 64 px views; or with
``--recipe patches``, Barlow Twins with the patches preset, batch 32; or ``--recipe
spectral``, the SimCLR demo without intensity jitter, grayscale and blur) on
synthetic stores built from chosen generator places, then score frozen features
with ``eossl evaluate --task knn`` on a *balanced* labelled store: the same number of
places of each land cover (majority class of the label map), none seen in training.

- ``curation``: a redundant, heavy-tailed training store, like the ocean-dominated
  Sentinel-1 Wave Mode archive of the curation paper: ``--water`` (90%) of its samples
  are repeats of a few (``--distinct-water``, 36) places where water is the main
  cover, the rest are as many places of every other cover. (The generator mixes
  covers, so no place is open sea; repeats make the majority truly redundant.) A
  full run of E epochs against ``--curation.keep K`` runs with the same number of
  steps, so about the same wall clock (the embedding passes are counted in the times
  printed). A curated epoch is K of a full one, so its curation rounds (every
  ``--every`` full epochs' worth of steps, 5) and validation passes (every full
  epoch's worth) are spaced to match. Each curated run also prints the share of
  water places it kept.
- ``phenology``: a store with 12 monthly timestamps per place; ``positives: season``
  (any two dates) against ``positives: phenology`` (dates of two different phases of
  the place's own NDVI cycle), same epochs.

    python benchmarks/sampling.py curation [--epochs 10] [--seeds 3] [--per-cover 100]
    python benchmarks/sampling.py phenology [--epochs 10]

``--seeds N`` repeats every run with pretraining seeds 0 .. N-1 (``--seed_everything``
and ``--data.seed``: the model's initialisation, the split, the draws and the
curation). Prints a markdown table: kNN accuracy of each run with its bootstrap
interval, random init and band statistics on the same samples, and the pretraining
seconds; then each run's paired gain over the first (full, or calendar positives),
averaged over the seeds (``paired_knn.py``).
"""

from __future__ import annotations

import argparse
import json
import shutil
import time
from pathlib import Path

import numpy as np
from paired_knn import knn_correct, paired_gain
from real_patches import eossl, score_cells

from eossl.data.datamodule import train_val_split
from eossl.data.synthetic import CLASSES
from eossl.data.synthetic.store import synthetic_location, write_synthetic
from eossl.sensors import get_sensor

SIZE = 64
COVERS = ["water", "forest", "cropland", "grassland", "urban", "bare"]
BATCH, VAL_FRACTION = 32, 0.05  # the demo preset's
SETTINGS = ["--data.batch_size", str(BATCH), "--data.val_fraction", str(VAL_FRACTION)]
RECIPES = {  # all on the demo's batch and validation share, so steps and splits match
    "demo": ["--method", "simclr", "--preset", "demo", "--data.num_workers", "2"],
    "patches": ["--method", "barlow", "--preset", "patches", "--data.num_workers", "2"],
    "spectral": [  # the demo, without the augmentations that alter band values
        "--method", "simclr", "--preset", "demo", "--data.num_workers", "2",
        *(f"--model.init_args.augment.{a}=0" for a in ("intensity_p", "grayscale", "blur")),
    ],
}  # fmt: skip


def survey(places: int, seed: int) -> np.ndarray:
    """The majority land cover (index into CLASSES) of generator places 0 .. places - 1."""
    card = get_sensor("s2")
    return np.array(
        [
            np.bincount(synthetic_location(card, SIZE, 1, seed, i).label.ravel()).argmax()
            for i in range(places)
        ]
    )


def pick(cover: np.ndarray, wanted: dict[str, int], used: set[int]) -> list[int]:
    """Unused places of each wanted cover, in generator order."""
    out = []
    for name, count in wanted.items():
        free = [int(i) for i in np.flatnonzero(cover == CLASSES.index(name)) if i not in used]
        if len(free) < count:
            raise SystemExit(f"only {len(free)} {name} places surveyed; raise --survey")
        out += free[:count]
        used.update(free[:count])
    return out


def kept_places(run: Path, n: int, seed: int) -> np.ndarray:
    """Store indices of the samples the last curation round kept (from the checkpoint)."""
    import torch

    state = torch.load(run / "checkpoints" / "last.ckpt", weights_only=True)["callbacks"]
    (curation,) = [v for k, v in state.items() if "DynamicCuration" in k]
    train, _ = train_val_split(n, seed, VAL_FRACTION)  # the datamodule's split
    return train[np.asarray(curation["selection"])]


def evaluate(card: Path, data: Path, out: Path, log: Path) -> dict:
    eossl("evaluate", str(card), "--data", str(data), "--task", "knn", "--out", str(out),
          log=log)  # fmt: skip
    return json.loads((out / "evaluate_knn.json").read_text())


def pretrain(name: str, work: Path, args: list[str], recipe: str) -> tuple[Path, float]:
    run = work / "runs" / name
    shutil.rmtree(run, ignore_errors=True)
    start = time.perf_counter()
    command = ["pretrain", *RECIPES[recipe], *SETTINGS, *args, "--out", str(run)]
    eossl(*command, log=work / f"{name}.log")
    return next((run / "weights").glob("*.json")), time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("experiment", choices=["curation", "phenology"])
    parser.add_argument("--epochs", type=int, default=10, help="epochs of the plain run")
    parser.add_argument("--train", type=int, default=400, help="training places")
    parser.add_argument("--water", type=float, default=0.9, help="water share (curation)")
    parser.add_argument(
        "--distinct-water", type=int, default=36, help="distinct water places (curation)"
    )
    parser.add_argument("--keep", type=float, nargs="+", default=[0.25], help="curation keeps")
    parser.add_argument(
        "--every", type=float, default=5, help="full epochs' worth of steps between rounds"
    )
    parser.add_argument("--per-cover", type=int, default=25, help="evaluation places per cover")
    parser.add_argument("--survey", type=int, default=3000, help="generator places surveyed")
    parser.add_argument("--seed", type=int, default=7, help="generator seed (the places)")
    parser.add_argument("--seeds", type=int, default=1, help="pretraining seeds per run")
    parser.add_argument(
        "--recipe",
        choices=list(RECIPES),
        default="demo",
        help="demo: SimCLR demo preset; patches: Barlow Twins with the patches preset; "
        "spectral: the SimCLR demo without intensity jitter, grayscale and blur",
    )
    parser.add_argument("--work", default="bench_sampling")
    args = parser.parse_args()
    work = Path(args.work) / args.experiment
    work.mkdir(parents=True, exist_ok=True)
    cover = survey(args.survey, args.seed)
    used: set[int] = set()
    test = pick(cover, dict.fromkeys(COVERS, args.per_cover), used)
    evaluation = work / "balanced.zarr"
    shutil.rmtree(evaluation, ignore_errors=True)
    write_synthetic(evaluation, "s2", size=SIZE, seasons=1, seed=args.seed, labels=True,
                    shard=16, quiet=True, locations=test)  # fmt: skip
    train = work / "train.zarr"
    shutil.rmtree(train, ignore_errors=True)
    runs: list[tuple[str, list[str]]] = []
    epochs = ["--trainer.max_epochs", str(args.epochs)]
    if args.experiment == "curation":
        water = int(round(args.water * args.train))
        others = {c: (args.train - water) // (len(COVERS) - 1) for c in COVERS[1:]}
        distinct = pick(cover, {"water": args.distinct_water, **others}, used)
        repeats = np.resize(distinct[: args.distinct_water], water).tolist()  # redundant
        places = repeats + distinct[args.distinct_water :]
        write_synthetic(train, "s2", size=SIZE, seasons=4, seed=args.seed, shard=16, quiet=True,
                        locations=places)  # fmt: skip
        runs.append(("full", ["--data", str(train), *epochs]))
        n_train = len(train_val_split(len(places), 0, VAL_FRACTION)[0])
        steps = args.epochs * (n_train // BATCH)
        for keep in args.keep:
            per_epoch = int(round(keep * n_train)) // BATCH  # an epoch's steps (drop_last)
            every = str(max(1, round(args.every / keep)))  # in full epochs' worth of steps
            curated = ["--curation.keep", str(keep), "--curation.every_n_epochs", every]
            curated += ["--trainer.max_epochs", str(-(-steps // per_epoch))]  # the same steps
            curated += ["--trainer.check_val_every_n_epoch", str(max(1, round(1 / keep)))]
            runs.append((f"curated keep {keep}", ["--data", str(train), *curated]))
        what = (
            f"{len(places)} training samples: {water} of them repeats of "
            f"{args.distinct_water} water places, and {len(places) - water} other places"
        )
        is_water = np.array([cover[p] == CLASSES.index("water") for p in places])
    else:
        places = pick(cover, dict.fromkeys(COVERS, args.train // len(COVERS)), used)
        write_synthetic(train, "s2", size=SIZE, seasons=12, seed=args.seed, shard=16,
                        quiet=True, locations=places)  # fmt: skip
        eossl("phenology", str(train), "--quiet", log=work / "phenology.log")
        for positives in ("season", "phenology"):
            runs.append((positives, ["--data", str(train), "--data.positives", positives,
                                     *epochs]))  # fmt: skip
        what = f"{len(places)} training places with 12 monthly dates"
    rows = []
    cards: dict[str, list[str]] = {name: [] for name, _ in runs}
    for seed in range(args.seeds):
        seeded = ["--seed_everything", str(seed), "--data.seed", str(seed)]
        for name, extra in runs:
            tag = f"{name.replace(' ', '_')}_seed{seed}"
            card, seconds = pretrain(tag, work, [*extra, *seeded], args.recipe)
            if args.experiment == "curation" and "keep" in name:
                kept = kept_places(card.parent.parent, len(places), seed)
                share = f"{is_water[kept].mean():.0%} of the kept samples"
                print(f"{name}, seed {seed}: water places are {share} "
                      f"({is_water.mean():.0%} of the store)", flush=True)  # fmt: skip
            result = evaluate(card, evaluation, work / "eval" / tag, work / f"{tag}_eval.log")
            rows.append((name, seed, result, seconds))
            cards[name].append(str(card))
            print(f"{name}, seed {seed}: pretrained in {seconds:.0f} s", flush=True)
    print(f"\n{what}; kNN on {len(test)} balanced places ({args.per_cover} per cover)\n")
    print("| run | seed | kNN pretrained | random init | band statistics | pretrain (s) |")
    print("|---|---|---|---|---|---|")
    for name, seed, result, seconds in rows:
        print(f"| {name} | {seed} | {' | '.join(score_cells(result))} | {seconds:.0f} |")
    correct = knn_correct(str(evaluation), [c for run in cards.values() for c in run])
    first, *others = cards
    print(f"\nPaired on the same {len(test)} places, mean over {args.seeds} seed(s):\n")
    print("| run | minus | kNN gain | 95% interval | pretrain (s), mean |")
    print("|---|---|---|---|---|")
    for name in others:
        gain, lo, hi = paired_gain([correct[c] for c in cards[first]],
                                   [correct[c] for c in cards[name]])  # fmt: skip
        seconds = np.mean([s for n, _, _, s in rows if n == name])
        print(f"| {name} | {first} | {gain:+.3f} | {lo:+.3f} to {hi:+.3f} | {seconds:.0f} |")


if __name__ == "__main__":
    main()
