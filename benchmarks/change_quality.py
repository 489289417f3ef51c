"""Change detection on real two-date imagery (#26): do seasonal positives help, on OSCD?

Converts the 10 shared OSCD cities (``../shared/realdata/oscd``, Sentinel-2 L1C, two dates
each) with ``eossl convert --layout oscd`` into 64 px tiles, pretrains one recipe on the
tiles twice, with the two real dates as the positive pair (``positives: season``) and with
two augmentations of one date (``positives: same``), then scores each run with
- ``eossl evaluate --task change`` on the same cities, leave-cities-out (5 folds): the
  frozen probe against change vector analysis and random init, and TorchGeo's
  ``ChangeDetectionTask`` (FC-Siam-diff) fine-tuned from the weights against random init;
  F1 of the change class with bootstrap intervals over cities;
- ``eossl evaluate --dataset eurosat`` (kNN and linear) on the 200 real EuroSAT patches.

    python benchmarks/change_quality.py                                    # both runs
    python benchmarks/change_quality.py --positives season --finetune-epochs 2
    python benchmarks/change_quality.py --positives same --finetune-epochs 0 --reuse
    python benchmarks/change_quality.py --rescore ...   # the same weights, evaluated again
    python benchmarks/change_quality.py --positives season --dense-weight 1  # + dense term
    python benchmarks/change_quality.py --positives season --rescore --freeze-backbone \
        --finetune-epochs 10          # a decoder trained on the frozen encoder (SeCo's protocol)

Pretraining on the tiles that are then evaluated uses no label; the change masks are read
only by the evaluation, and the cities it tests are held out of its heads' training.
"""

from __future__ import annotations

import argparse
import json
import shutil
import time
from pathlib import Path

from real_patches import eossl, realdata

RECIPE = ["--method", "simclr", "--preset", "patches"]
POSITIVES = ("season", "same")


def tiles(root: Path, work: Path, size: int) -> Path:
    """The OSCD cities as a store of ``size`` px tiles, with statistics."""
    store = work / f"oscd_{size}.zarr"
    if not store.exists():
        eossl("convert", str(root / "oscd"), str(store), "--layout", "oscd",
              "--chip-size", str(size), "--quiet")  # fmt: skip
        eossl("stats", str(store), "--quiet")
    return store


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--positives", nargs="+", default=list(POSITIVES), choices=POSITIVES)
    parser.add_argument("--epochs", type=int, default=20, help="pretraining epochs")
    parser.add_argument(
        "--finetune-epochs", type=int, default=2, help="fine-tuning epochs (0: the probe only)"
    )
    parser.add_argument(
        "--freeze-backbone",
        action="store_true",
        help="fine-tune the decoder only, on the frozen encoder (SeCo's protocol)",
    )
    parser.add_argument("--tile", type=int, default=64, help="tile size in px")
    parser.add_argument("--seed", type=int, default=0, help="pretraining seed")
    parser.add_argument(
        "--dense-weight", type=float, default=0.0, help="weight of the dense term (0: none)"
    )
    parser.add_argument("--work", default="bench_change", help="folder for stores and runs")
    parser.add_argument("--reuse", action="store_true", help="keep runs already evaluated")
    parser.add_argument(
        "--rescore", action="store_true", help="keep pretrained weights, evaluate them again"
    )
    args = parser.parse_args()
    if args.freeze_backbone and not args.finetune_epochs:
        parser.error("--freeze-backbone trains a decoder: give --finetune-epochs N (N > 0)")
    root = realdata().parent
    work = Path(args.work)
    work.mkdir(exist_ok=True)
    store = tiles(root, work, args.tile)
    rows = []
    for positives in args.positives:
        name = f"simclr_{positives}" + (
            f"_dense{args.dense_weight:g}" if args.dense_weight else ""
        )
        dense = (
            ["--model.init_args.dense_weight", str(args.dense_weight)] if args.dense_weight else []
        )
        run, record = work / "runs" / name, work / "runs" / name / "quality.json"
        if args.reuse and record.exists():
            rows.append(json.loads(record.read_text()))
            continue
        if args.rescore and any((run / "weights").glob("*.json")):
            old = json.loads(record.read_text()) if record.exists() else {}
            row = {"run": name, "pretrain_s": old.get("pretrain_s"), "scores": {}}
        else:
            shutil.rmtree(run, ignore_errors=True)
            start = time.perf_counter()
            eossl("pretrain", "--sensor", "s2-l1c", "--data", str(store), *RECIPE,
                  "--data.positives", positives, "--trainer.max_epochs", str(args.epochs),
                  "--seed_everything", str(args.seed), "--out", str(run),
                  *dense, log=work / f"{name}.log")  # fmt: skip
            row = {"run": name, "pretrain_s": round(time.perf_counter() - start), "scores": {}}
        card = next((run / "weights").glob("*.json"))
        out = run / "eval" / ("change_frozen" if args.freeze_backbone else "change")
        tune = (
            ["--epochs", str(args.finetune_epochs)] if args.finetune_epochs else ["--probe-only"]
        )
        if args.freeze_backbone and args.finetune_epochs:
            tune.append("--freeze-backbone")
        eossl("evaluate", str(card), "--task", "change", "--data", str(store), *tune,
              "--out", str(out), log=work / f"{name}_change.log")  # fmt: skip
        for result in json.loads((out / "evaluate_change.json").read_text())["results"]:
            row["scores"][result["task"]] = result
        for task in ("knn", "linear"):
            out = run / "eval" / f"eurosat_{task}"
            eossl("evaluate", str(card), "--dataset", "eurosat",
                  "--root", str(root / "eurosat-ms-200"), "--task", task, "--out", str(out),
                  log=work / f"{name}_eurosat_{task}.log")  # fmt: skip
            row["scores"][f"EuroSAT {task}"] = json.loads(
                (out / f"evaluate_{task}.json").read_text()
            )
        record.write_text(json.dumps(row))
        rows.append(row)
        print(f"{name}: pretrained in {row['pretrain_s']} s", flush=True)
    print_table(rows)


def print_table(rows: list[dict]) -> None:
    """A markdown table: each score with its interval; the gain over the strongest baseline."""
    print("\n| run | evaluation | pretrained | baselines | gain over the best [paired 95%] |")
    print("|---|---|---|---|---|")
    for row in rows:
        for where, result in row["scores"].items():
            scores, ci = result["scores"], result["ci95"]
            others = [k for k in scores if k != "pretrained"]
            cells = ", ".join(
                "{} {:.3f} ({:.2f}-{:.2f})".format(k, scores[k], *ci[k]) for k in others
            )
            best = max(others, key=scores.get)
            lo, hi = result["details"]["gain_ci95"][best]
            gain = f"{scores['pretrained'] - scores[best]:+.3f} [{lo:+.2f}, {hi:+.2f}] ({best})"
            pre = "{:.3f} ({:.2f}-{:.2f})".format(scores["pretrained"], *ci["pretrained"])
            print(f"| {row['run']} | {where} ({result['metric']}) | {pre} | {cells} | {gain} |")


if __name__ == "__main__":
    main()
