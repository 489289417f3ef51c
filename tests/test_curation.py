"""Dynamic dataset curation: k-means on the model's embeddings, balanced caps, resume."""

import csv
import json
from pathlib import Path

import numpy as np
import pytest
import torch
from helpers import DECODER, VIT, tiny

from eossl.cli import main
from eossl.curation import balance, balanced_selection, hierarchical_kmeans, kmeans

RUN = ["pretrain", "--method", "simclr", "--model.init_args.backbone", "resnet18"]
RUN += ["--trainer.limit_val_batches", "0", *tiny(moco=False)]
CURATE = ["--curation.keep", "0.5", "--curation.every_n_epochs", "2", "--curation.clusters", "3"]


def test_kmeans_finds_separated_groups_and_repeats_under_a_seed() -> None:
    g = torch.Generator().manual_seed(0)
    centres = torch.eye(8)[:3] * 10
    x = torch.cat([c + torch.randn(50, 8, generator=g) for c in centres])
    labels, _ = kmeans(x, 3, torch.Generator().manual_seed(1))
    truth = np.repeat(np.arange(3), 50)
    for k in range(3):  # each true group is one cluster
        assert len(set(labels.numpy()[truth == k])) == 1
    again, _ = kmeans(x, 3, torch.Generator().manual_seed(1))
    assert torch.equal(labels, again)


def test_balanced_selection_caps_big_clusters_and_keeps_small_ones() -> None:
    labels = np.array([0] * 90 + [1] * 6 + [2] * 4)  # 90% one cluster, like open water
    kept = balanced_selection(labels, 30, np.random.default_rng(0))
    assert len(kept) == 30 and len(set(kept)) == 30
    assert np.bincount(labels[kept]).tolist() == [20, 6, 4]
    assert balance(labels[kept]) > balance(labels)
    again = balanced_selection(labels, 30, np.random.default_rng(0))
    assert np.array_equal(kept, again)
    assert len(balanced_selection(labels, 500, np.random.default_rng(0))) == 100


def test_hierarchical_clusters_rebalance_a_dense_majority() -> None:
    """90% of the rows crowd one region (in 9 tight clumps), 10% spread over 5 others.

    Flat k-means gives the crowd most clusters; k-means of the centroids groups them
    again, so the coarse balance gives the 5 rare kinds most of the kept rows.
    """
    g = torch.Generator().manual_seed(0)
    crowd = torch.randn(9, 16, generator=g) * 0.05 + torch.eye(16)[0] * 3
    rare = torch.eye(16)[1:6] * 3
    x = torch.cat(
        [c + 0.01 * torch.randn(100, 16, generator=g) for c in crowd]
        + [r + 0.01 * torch.randn(20, 16, generator=g) for r in rare]
    )
    is_rare = np.r_[np.zeros(900, bool), np.ones(100, bool)]
    flat = balanced_selection(
        hierarchical_kmeans(x, [16], torch.Generator().manual_seed(1)), 100,
        np.random.default_rng(0),
    )  # fmt: skip
    levels = hierarchical_kmeans(x, [16, 4], torch.Generator().manual_seed(1))
    assert [len(level) for level in levels] == [1000, 1000]
    deep = balanced_selection(levels, 100, np.random.default_rng(0))
    assert len(deep) == 100 and is_rare[deep].mean() > is_rare[flat].mean()
    assert is_rare[deep].mean() >= 0.5


def _records(out: Path) -> list[dict]:
    return [json.loads(line) for line in (out / "curation.jsonl").read_text().splitlines()]


def _unique(out: Path) -> list[float]:
    rows = csv.DictReader((out / "metrics.csv").open())
    return [float(r["unique_samples"]) for r in rows if r.get("unique_samples")]


def test_curated_run_logs_rounds_and_trains_on_the_kept_samples(
    tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    out = tmp_path / "run"
    args = [*RUN, "--out", str(out), "--trainer.max_epochs", "3", *CURATE]
    assert main(args) == 0
    shown = capsys.readouterr()
    err = shown.out + shown.err  # above the progress bar, or on stderr
    assert "eossl: curation at epoch 0: kept 6 of 11 samples in 3 clusters (the largest" in err
    records = _records(out)
    assert [r["epoch"] for r in records] == [0, 2]
    assert all(r["kept"] == 6 and sum(r["kept_per_cluster"]) == 6 for r in records)
    assert all(r["balance_after"] >= r["balance_before"] - 1e-6 for r in records)
    assert _unique(out) == [4.0, 4.0, 4.0]  # an epoch: 6 kept samples, batches of 4, drop_last
    config = (out / "config.yaml").read_text()
    assert "curation:\n  keep: 0.5\n  every_n_epochs: 2" in config


def test_resumed_run_goes_on_with_the_kept_samples(
    tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    out = tmp_path / "run"
    args = [*RUN, "--out", str(out), *CURATE]
    assert main([*args, "--trainer.max_epochs", "1"]) == 0
    saved = torch.load(out / "checkpoints" / "last.ckpt", weights_only=True)
    (state,) = [v for k, v in saved["callbacks"].items() if "DynamicCuration" in k]
    kept = state["selection"]
    assert len(kept) == 6 and state["round_epoch"] == 0
    capsys.readouterr()
    assert main([*args, "--trainer.max_epochs", "2", "--resume"]) == 0
    shown = capsys.readouterr()
    assert "curation: resumed with the 6 samples kept at epoch 0" in shown.out + shown.err
    assert [r["epoch"] for r in _records(out)] == [0]  # no new round at epoch 1
    final = torch.load(out / "checkpoints" / "last.ckpt", weights_only=True)
    (state,) = [v for k, v in final["callbacks"].items() if "DynamicCuration" in k]
    assert state["selection"] == kept


@pytest.mark.parametrize(
    ("flag", "value", "message"),
    [
        ("--curation.keep", "0", "curation.keep is a share in (0, 1]"),
        ("--curation.every_n_epochs", "0", "curation.every_n_epochs must be at least 1"),
    ],
)
def test_bad_curation_options_are_one_line_errors(
    flag: str, value: str, message: str, tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    assert main([*RUN, "--out", str(tmp_path), flag, value, "--trainer.fast_dev_run", "1"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err[-1].startswith("error:") and message in err[-1]


@pytest.mark.parametrize("method", ["mae", "crossmodal"])
def test_fast_dev_run_with_curation_for_every_kind_of_encoder(
    method: str, tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    args = ["pretrain", "--method", method, "--out", str(tmp_path / "run"), *tiny(moco=False)]
    args += ["--trainer.fast_dev_run", "1", "--curation.keep", "0.5"]
    if method == "mae":
        args += [*VIT, *DECODER]
    else:
        args += ["--sensor", "s1,s2"]
    assert main(args) == 0
    shown = capsys.readouterr()
    assert "eossl: curation at epoch 0: kept 6 of 11 samples" in shown.out + shown.err


def test_the_embedding_view_is_the_first_valid_timestamp_every_time(s2_store: Path) -> None:
    from eossl.data.dataset import SeasonalZarrDataset

    data = SeasonalZarrDataset(s2_store, seed=0, reader="zarr").fixed_view()
    first = data.times_of(3)[0].astype("int64")
    for epoch in range(3):
        data.set_epoch(epoch)
        item = data[3]
        assert item["image"].shape[0] == 1 and int(item["time"][0]) == first
    assert SeasonalZarrDataset(s2_store).seasons == 2  # the original is untouched
