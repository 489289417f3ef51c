"""S1 + S2 on real imagery: pretrain across modalities, evaluate S2 only, S1 only and both.

Converts BigEarthNet v1's S2 and S1 patches (``../shared/realdata/bigearthnet-v1``, 36
real co-located pairs) with ``eossl convert --layout patches`` into one folder (they pair
by each S1 patch's ``corresponding_s2_patch``), pretrains with the labels unused, and
evaluates with ``eossl evaluate --dataset bigearthnet`` (TorchGeo's reader, 19 classes,
kNN leave-one-out and linear 5-fold) against random init and band statistics:

- ``crossmodal``: one encoder per sensor; S2 with its card (``--bands s2``), S1 with its
  card (``--bands s1``), both with the two cards' features concatenated (``--bands all``);
- ``fusion``: Barlow Twins on the stacked S1 + S2 bands, one card (``--bands all``);
- ``anyband``: the any-band MAE (DOFA-style ViT), one card for every band; evaluated on
  S2, on S2's blue, green, red and NIR only (``--channels``), on S1 and on both.

    python benchmarks/multimodal.py
    python benchmarks/multimodal.py --recipes crossmodal --epochs 50

Ends with a markdown table of every score with its 95% interval and the sample counts.
"""

from __future__ import annotations

import argparse
import json
import shutil
import time
from pathlib import Path

from real_patches import eossl, realdata, score_cells

SENSORS = "s1,s2-l2a"
RECIPES: dict[str, list[str]] = {
    "crossmodal": ["--method", "crossmodal", "--preset", "patches"],
    "fusion": ["--method", "barlow", "--preset", "patches"],
    "anyband": ["--method", "anyband", "--preset", "patches"],
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--recipes", nargs="+", default=list(RECIPES), choices=list(RECIPES))
    parser.add_argument("--epochs", type=int, default=30, help="pretraining epochs")
    parser.add_argument("--work", default="bench_multimodal", help="folder for stores and runs")
    args = parser.parse_args()
    root, work = realdata(), Path(args.work)
    stores = work / "stores"
    stores.mkdir(parents=True, exist_ok=True)
    for archive, name in (("BigEarthNet-v1.0", "s2.zarr"), ("BigEarthNet-S1-v1.0", "s1.zarr")):
        if not (stores / name).exists():
            eossl("convert", str(root / archive), str(stores / name), "--layout", "patches")
            eossl("stats", str(stores / name), "--quiet")
    rows = []
    for name in args.recipes:
        run = work / "runs" / name
        shutil.rmtree(run, ignore_errors=True)
        start = time.perf_counter()
        eossl(
            "pretrain", "--sensor", SENSORS, "--data", str(stores), *RECIPES[name],
            "--trainer.max_epochs", str(args.epochs), "--data.batch_size", "12",
            "--out", str(run), log=work / f"{name}.log",
        )  # fmt: skip
        seconds = round(time.perf_counter() - start)
        cards = {p.stem.split("_")[1]: p for p in (run / "weights").glob("*.json")}
        if name == "crossmodal":
            evals = {
                "S2": (["s2"], [cards["s2-l2a"]]),
                "S1": (["s1"], [cards["s1-grd"]]),
                "S1 + S2": (["all"], [cards["s1-grd"], cards["s2-l2a"]]),
            }
        elif name == "anyband":
            card = list(cards.values())
            evals = {
                "S2": (["s2"], card),
                "S2 B02,B03,B04,B08": (["s2", "--channels", "B02,B03,B04,B08"], card),
                "S1": (["s1"], card),
                "S1 + S2": (["all"], card),
            }
        else:
            evals = {"S1 + S2 (fused)": (["all"], list(cards.values()))}
        for data, (bands, paths) in evals.items():
            row = {"recipe": name, "data": data, "pretrain_s": seconds}
            for task in ("knn", "linear"):
                out = work / "eval" / name / data.replace(" ", "").replace(",", "")
                eossl(
                    "evaluate", *map(str, paths), "--dataset", "bigearthnet", "--root",
                    str(root), "--bands", *bands, "--task", task, "--out", str(out),
                    log=work / f"{name}_{task}.log",
                )  # fmt: skip
                row[task] = json.loads((out / f"evaluate_{task}.json").read_text())
            rows.append(row)
        print(f"{name}: done in {seconds} s", flush=True)
    print_table(rows)


def print_table(rows: list[dict]) -> None:
    """One markdown row per recipe, data and task: each score with its 95% interval."""
    print("\n| recipe | evaluated on | task | pretrained | random init | band statistics |")
    print("|---|---|---|---|---|---|")
    for row in rows:
        for task in ("knn", "linear"):
            cells = score_cells(row[task])
            print(f"| {row['recipe']} | {row['data']} | {task} | {' | '.join(cells)} |")
    d = rows[0]["knn"]["details"]
    print(
        f"\nBigEarthNet v1, 19 classes: kNN (k={d['k']}) leave-one-out and linear 5-fold, "
        f"{d['samples']} samples, micro-F1 with bootstrap 95% intervals; pretraining "
        f"{rows[0]['pretrain_s']} s and more per recipe on this machine"
    )


if __name__ == "__main__":
    main()
