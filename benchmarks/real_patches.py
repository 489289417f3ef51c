"""Quality on real imagery: pretrain on real BigEarthNet patches, evaluate against baselines.

Converts the BigEarthNet v1 S2 patches (``../shared/realdata/bigearthnet-v1``, 36 real
L2A patches) with ``eossl convert --layout patches``, pretrains each recipe on them with
the labels unused, and evaluates every run with ``eossl evaluate --dataset bigearthnet``
(TorchGeo's own reader, 19 classes, kNN leave-one-out and linear 5-fold), against random
init of the same backbone and the band-statistics baseline. The ``demo`` recipe is the
README's default run (synthetic data only): whether synthetic pretraining transfers.

    python benchmarks/real_patches.py                       # every recipe
    python benchmarks/real_patches.py --recipes simclr moco --epochs 50

Ends with a markdown table of every score with its 95% interval and the sample counts.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
SPECTRAL_JITTER = [  # the methods' reference augmentations, at the patches preset's crop
    "--model.init_args.augment.intensity_p",
    "0.8",
    "--model.init_args.augment.grayscale",
    "0.2",
    "--model.init_args.augment.blur",
    "0.5",
]
RECIPES: dict[str, list[str]] = {
    "simclr": ["--method", "simclr", "--preset", "patches"],
    "moco": ["--method", "moco", "--preset", "patches"],
    "barlow": ["--method", "barlow", "--preset", "patches"],
    "byol": ["--method", "byol", "--preset", "patches"],
    "simclr-jitter": ["--method", "simclr", "--preset", "patches", *SPECTRAL_JITTER],
    "demo": [],  # `eossl pretrain --sensor s2 --method moco`: synthetic data only
}


def realdata() -> Path:
    """``../shared/realdata/bigearthnet-v1`` beside the checkout, or ``$EOSSL_REALDATA``."""
    for candidate in (os.environ.get("EOSSL_REALDATA"), HERE.parents[1] / "shared" / "realdata"):
        if candidate and (Path(candidate) / "bigearthnet-v1").is_dir():
            return Path(candidate) / "bigearthnet-v1"
    sys.exit("../shared/realdata/bigearthnet-v1 not found; set EOSSL_REALDATA")


def eossl(*args: str, log: Path | None = None) -> None:
    """Run an eossl command in a fresh process (as a user would), its output to ``log``."""
    command = [sys.executable, "-m", "eossl.cli", *args]
    with open(log or os.devnull, "w") as out:
        code = subprocess.call(command, stdout=out, stderr=subprocess.STDOUT)
    if code:
        sys.exit(f"failed ({code}): {' '.join(command)}; see {log}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--recipes", nargs="+", default=list(RECIPES), choices=list(RECIPES))
    parser.add_argument("--epochs", type=int, default=100, help="epochs of the patch recipes")
    parser.add_argument("--work", default="bench_real", help="folder for stores and runs")
    parser.add_argument(
        "--reuse", action="store_true", help="keep recipes already trained and evaluated in WORK"
    )
    args = parser.parse_args()
    root, work = realdata(), Path(args.work)
    work.mkdir(exist_ok=True)
    store = work / "ben_s2.zarr"
    if not store.exists():
        eossl("convert", str(root / "BigEarthNet-v1.0"), str(store), "--layout", "patches")
        eossl("stats", str(store), "--quiet")
    rows = []
    for name in args.recipes:
        run, out = work / "runs" / name, work / "eval" / name
        done = [out / f"evaluate_{task}.json" for task in ("knn", "linear")]
        if args.reuse and all(p.exists() for p in done):
            row = {
                t: json.loads(p.read_text()) for t, p in zip(("knn", "linear"), done, strict=True)
            }
            seconds = json.loads((run / "pretrain_seconds.json").read_text())
            rows.append({"recipe": name, "pretrain_s": seconds, **row})
            continue
        shutil.rmtree(run, ignore_errors=True)
        if name == "demo":
            pretrain = ["--sensor", "s2", "--method", "moco"]
        else:
            pretrain = ["--sensor", "s2-l2a", "--data", str(store), *RECIPES[name]]
            pretrain += ["--trainer.max_epochs", str(args.epochs)]
        start = time.perf_counter()
        eossl("pretrain", *pretrain, "--out", str(run), log=work / f"{name}.log")
        seconds = time.perf_counter() - start
        (run / "pretrain_seconds.json").write_text(json.dumps(round(seconds)))
        card = next((run / "weights").glob("*.json"))
        row = {"recipe": name, "pretrain_s": round(seconds)}
        for task in ("knn", "linear"):
            eossl("evaluate", str(card), "--dataset", "bigearthnet", "--root", str(root),
                  "--task", task, "--out", str(out), log=work / f"{name}_{task}.log")  # fmt: skip
            row[task] = json.loads((out / f"evaluate_{task}.json").read_text())
        rows.append(row)
        print(f"{name}: done in {seconds:.0f} s", flush=True)
    print_table(rows)


def score_cells(result: dict) -> list[str]:
    """Pretrained, random-init and band-statistics scores of an evaluate JSON, with intervals."""
    return [
        "{:.3f} ({:.2f}-{:.2f})".format(result["scores"][k], *result["ci95"][k])
        for k in ("pretrained", "random init", "band statistics")
    ]


def print_table(rows: list[dict]) -> None:
    """One markdown row per recipe: each score with its interval; the sample counts below."""
    print("\n| recipe | task | pretrained | random init | band statistics | pretrain (s) |")
    print("|---|---|---|---|---|---|")
    for row in rows:
        for task in ("knn", "linear"):
            cells = score_cells(row[task])
            print(f"| {row['recipe']} | {task} | {' | '.join(cells)} | {row['pretrain_s']} |")
    d = rows[0]["knn"]["details"]
    print(
        f"\n{d['data']}: kNN (k={d['k']}) leave-one-out and linear 5-fold, {d['samples']} "
        f"samples, micro-F1 with bootstrap 95% intervals"
    )


if __name__ == "__main__":
    main()
