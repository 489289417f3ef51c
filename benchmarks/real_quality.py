"""Quality on real imagery (#27): pretrain on a real unlabelled archive, score on real labels.

Converts ``../shared/realdata/eurosat-l2a-unlabelled`` (2,000 real Sentinel-2 L2A patches,
64 px, labels unused) with ``eossl convert --layout patches``, pretrains each recipe on it,
then scores every run with ``eossl evaluate`` on
- EuroSAT MS, 200 real L1C patches (``eurosat-ms-200``, 10 classes), read by TorchGeo's
  ``EuroSAT``: kNN (k=5) leave-one-out and linear 5-fold, accuracy;
- BigEarthNet v1, 36 real L2A patches, read by TorchGeo's ``BigEarthNet``: the same
  probes, 19 classes, micro-F1;
each against random init of the same backbone (as initialised, and with its BatchNorm
statistics recomputed on the data) and the band-statistics baseline, with bootstrap 95%
intervals and the paired interval of each gain.

    python benchmarks/real_quality.py                          # every recipe
    python benchmarks/real_quality.py --recipes simclr --epochs 15
    python benchmarks/real_quality.py --recipes simclr --epochs 1 --samples 200   # smoke
    python benchmarks/real_quality.py --recipes simclr-jitter --epochs 15 --seeds 0 1 2
    python benchmarks/real_quality.py --recipes simclr-jitter --image-sizes 128 224   # sizes

Seeds move a recipe's scores by 3-4 points on 200 patches, so ``--seeds`` pretrains each
recipe once per seed and adds, per probe, the mean and spread over seeds and how many
seeds beat the best baseline.

Pretraining is on L2A (surface reflectance, 12 bands) and EuroSAT is L1C (top of
atmosphere, 13 bands): bands are matched by name (B10 is dropped) and the L2A
normalisation of the card is applied, as a user's evaluation would. The recipe
``simclr-levels`` pretrains on both levels at once: the OSCD cities converted into 64 px
L1C tiles (two dates each) beside the L2A patches, each level normalised with its own
statistics; its card is L1C's.
"""

from __future__ import annotations

import argparse
import itertools
import json
import shutil
import time
from pathlib import Path

from change_quality import tiles
from real_patches import eossl, realdata

RECIPES: dict[str, list[str]] = {
    "simclr": ["--method", "simclr", "--preset", "patches"],
    "barlow": ["--method", "barlow", "--preset", "patches"],
    "moco": ["--method", "moco", "--preset", "patches"],
    # setting 6: a per-band gain/offset augmentation and the spectral-retention head
    "simclr-spectral": ["--method", "simclr", "--preset", "patches",
                        "--model.init_args.augment.band_gain", "0.2",
                        "--model.init_args.augment.band_offset", "0.5",
                        "--model.init_args.spectral_weight", "1.0"],
    # setting 14: L2A views moved toward L1C by a random share of the published difference
    "simclr-jitter": ["--method", "simclr", "--preset", "patches",
                      "--data.level_jitter", "s2-l1c"],
    # setting 19: the L1C OSCD tiles (two real dates) beside the L2A patches, one run on both
    # levels, each normalised with its own statistics (the card is L1C's)
    "simclr-levels": ["--method", "simclr", "--preset", "patches"],
    # setting 25: MAE, a ViT-Tiny/16 on the patches upsampled to 128 px (give --epochs 20)
    "mae": ["--method", "mae", "--preset", "patches",
            "--model.init_args.backbone", "vit_tiny_patch16_224",
            "--model.init_args.augment.crop_size", "128", "--model.init_args.lr", "1.5e-3",
            "--model.init_args.weight_decay", "0.05", "--model.init_args.warmup_epochs", "2",
            "--model.init_args.decoder_dim", "192", "--model.init_args.decoder_depth", "4",
            "--model.init_args.decoder_heads", "6",
            "--model.init_args.figure_every_n_epochs", "0", "--data.level_jitter", "s2-l1c"],
    # curation at the same budget: half the samples, twice the epochs (give --epochs 2x)
    "simclr-curated": ["--method", "simclr", "--preset", "patches",
                       "--curation.keep", "0.5", "--curation.every_n_epochs", "10"],
}  # fmt: skip
BOTH_LEVELS = ("simclr-levels",)
BASELINES = ("random init", "random init, BN on data", "band statistics")
TASKS = ("knn", "linear")


def archive(root: Path, work: Path, samples: int | None) -> Path:
    """The unlabelled L2A archive as an eossl store with statistics (``samples``: a subset)."""
    store = work / f"l2a_{samples or 'all'}.zarr"
    if store.exists():
        return store
    src = root / "eurosat-l2a-unlabelled"
    if samples:  # the first ``samples`` patches, linked into a folder of their own
        subset = work / f"l2a_{samples}"
        subset.mkdir(exist_ok=True)
        for tif in sorted(src.glob("*.tif"))[:samples]:
            if not (subset / tif.name).exists():
                (subset / tif.name).symlink_to(tif.resolve())
        src = subset
    eossl("convert", str(src), str(store), "--layout", "patches", "--quiet")
    eossl("stats", str(store), "--quiet")
    return store


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--recipes", nargs="+", default=list(RECIPES), choices=list(RECIPES))
    parser.add_argument("--epochs", type=int, help="override each recipe's epochs")
    parser.add_argument("--samples", type=int, help="pretrain on the first N patches only")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0], help="pretraining seeds")
    parser.add_argument("--work", default="bench_quality", help="folder for stores and runs")
    parser.add_argument("--reuse", action="store_true", help="keep runs already evaluated")
    parser.add_argument(
        "--image-sizes",
        type=int,
        nargs="+",
        default=[],
        help="also evaluate at these sizes (px; evaluate --image-size), e.g. 224 as Corley et al.",
    )
    args = parser.parse_args()
    root = realdata().parent
    work = Path(args.work)
    work.mkdir(exist_ok=True)
    store = archive(root, work, args.samples)
    benchmarks = {
        "EuroSAT": ["--dataset", "eurosat", "--root", str(root / "eurosat-ms-200")],
        "BigEarthNet": ["--dataset", "bigearthnet", "--root", str(root / "bigearthnet-v1")],
    }
    rows = []
    for name, seed in ((n, s) for n in args.recipes for s in args.seeds):
        label = name if args.seeds == [0] else f"{name}, seed {seed}"
        run = work / "runs" / (name if seed == 0 else f"{name}_seed{seed}")
        record = run / "quality.json"
        if args.reuse and record.exists():
            rows.append(json.loads(record.read_text()))
            continue
        shutil.rmtree(run, ignore_errors=True)
        run.parent.mkdir(parents=True, exist_ok=True)
        data = ["--sensor", "s2-l2a", "--data", str(store)]
        if name in BOTH_LEVELS:  # the OSCD tiles' L1C level is the run's
            data = ["--sensor", "s2-l1c", "--data", f"{tiles(root, work, 64)},{store}"]
        pretrain = [*data, *RECIPES[name]]
        pretrain += ["--seed_everything", str(seed), "--out", str(run)]
        if args.epochs:
            pretrain += ["--trainer.max_epochs", str(args.epochs)]
        start = time.perf_counter()
        eossl("pretrain", *pretrain, log=run.with_suffix(".log"))
        row = {
            "recipe": label,
            "name": name,
            "seed": seed,
            "pretrain_s": round(time.perf_counter() - start),
            "scores": {},
        }
        card = next((run / "weights").glob("*.json"))
        sizes = [None, *args.image_sizes]  # None: the card's own crop size
        for (bench, data), task, size in itertools.product(benchmarks.items(), TASKS, sizes):
            at = f"_{size}px" if size else ""
            out = run / "eval" / f"{bench}_{task}{at}"
            resize = ["--image-size", str(size)] if size else []
            eossl("evaluate", str(card), *data, "--task", task, *resize, "--out", str(out),
                  log=run.parent / f"{run.name}_{bench}_{task}{at}.log")  # fmt: skip
            row["scores"][f"{bench} {task}" + (f", {size} px" if size else "")] = json.loads(
                (out / f"evaluate_{task}.json").read_text()
            )
        record.write_text(json.dumps(row))
        rows.append(row)
        print(f"{label}: pretrained in {row['pretrain_s']} s", flush=True)
    print_table(rows)
    if len(args.seeds) > 1:
        print_seeds(rows)


def print_table(rows: list[dict]) -> None:
    """A markdown table: every score with its interval, and the gain over the best baseline."""
    print(
        "\n| recipe | data, probe | pretrained | random init | random init, BN on data "
        "| band statistics | gain over the best baseline [paired 95%] | pretrain (s) |"
    )
    print("|---|---|---|---|---|---|---|---|")
    for row in rows:
        for where, result in row["scores"].items():
            scores, ci = result["scores"], result["ci95"]
            cells = [
                "{:.3f} ({:.2f}-{:.2f})".format(scores[k], *ci[k]) if k in scores else "-"
                for k in ("pretrained", *BASELINES)
            ]
            best = max((k for k in BASELINES if k in scores), key=scores.get)
            lo, hi = result["details"]["gain_ci95"][best]
            gain = f"{scores['pretrained'] - scores[best]:+.3f} [{lo:+.2f}, {hi:+.2f}] ({best})"
            line = [row["recipe"], where, *cells, gain, str(row["pretrain_s"])]
            print(f"| {' | '.join(line)} |")
    for result in rows[0]["scores"].values() if rows else ():
        d = result["details"]
        print(f"- {d['data']}: {d['protocol']}, {d['samples']} samples, {d['classes']} classes")


def print_seeds(rows: list[dict]) -> None:
    """Per recipe and probe: the mean and spread over seeds, and the seeds above the baselines."""
    import numpy as np

    print("\n| recipe | data, probe | seeds | pretrained, mean (min-max) | best baseline "
          "| seeds above it | mean gain |")  # fmt: skip
    print("|---|---|---|---|---|---|---|")
    for name in dict.fromkeys(r.get("name", r["recipe"]) for r in rows):
        runs = [r for r in rows if r.get("name", r["recipe"]) == name]
        for where in runs[0]["scores"]:
            scores = [r["scores"][where]["scores"] for r in runs]
            mine = np.array([s["pretrained"] for s in scores])
            best = max((k for k in BASELINES if k in scores[0]), key=scores[0].get)
            base = np.array([s[best] for s in scores])  # the same every seed: no pretraining
            above = int((mine > base).sum())
            print(
                f"| {name} | {where} | {len(runs)} | {mine.mean():.3f} ({mine.min():.3f}-"
                f"{mine.max():.3f}) | {base.mean():.3f} ({best}) | {above}/{len(runs)} "
                f"| {(mine - base).mean():+.3f} |"
            )


if __name__ == "__main__":
    main()
