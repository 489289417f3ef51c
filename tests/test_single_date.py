"""Single-date data: every method but SeCo pretrains; ``positives`` picks the pair."""

from pathlib import Path

import numpy as np
import pytest
import torch
from helpers import tiny
from test_methods import ARGS

from eossl.cli import main
from eossl.data import SeasonalZarrDataModule
from eossl.data.dataset import SeasonalZarrDataset

TINY = tiny(moco=False)[4:]  # without the synthetic-store size: these runs pass --data


def _times(data: SeasonalZarrDataset) -> np.ndarray:
    return np.stack([data[i]["time"].numpy() for i in range(len(data))])


def test_single_date_gives_one_image_twice(single_date_store: Path) -> None:
    data = SeasonalZarrDataset(single_date_store, seasons=2, seed=0)
    sample = data[3]
    assert sample["image"].shape[0] == 2
    assert torch.equal(sample["image"][0], sample["image"][1])
    assert data.max_timestamps == 1


@pytest.mark.parametrize(
    ("positives", "p", "same_share"),
    [("same", 0.5, 1.0), ("season", 0.5, 0.0), ("mixed", 0.0, 1.0)],
)
def test_positives_on_seasonal_store(
    s2_store: Path, positives: str, p: float, same_share: float
) -> None:
    data = SeasonalZarrDataset(
        s2_store, seasons=2, positives=positives, season_probability=p, seed=0
    )
    times = _times(data)
    assert (times[:, 0] == times[:, 1]).mean() == same_share
    if positives == "same":  # parity with TorchGeo's seasons=1: any timestamp, drawn anew
        data.set_epoch(1)
        assert (_times(data)[:, 0] != times[:, 0]).any()
        sample = data[0]
        assert torch.equal(sample["image"][0], sample["image"][1])


def test_mixed_draws_both_kinds(s2_store: Path) -> None:
    data = SeasonalZarrDataset(s2_store, seasons=2, positives="mixed", seed=0)
    same = []
    for epoch in range(3):
        data.set_epoch(epoch)
        times = _times(data)
        same.append(times[:, 0] == times[:, 1])
    same = np.concatenate(same)
    assert 0 < same.mean() < 1


def test_datamodule_says_which_positives(
    single_date_store: Path, capsys: pytest.CaptureFixture
) -> None:
    dm = SeasonalZarrDataModule(str(single_date_store), num_workers=0, batch_size=4)
    dm.setup()
    assert dm.dataset.positives == "same"
    assert "positives: same -- two augmentations of one timestamp (single-date data)\n" in (
        capsys.readouterr().err  # season, the default: no choice of the user's to name
    )
    asked = SeasonalZarrDataModule(
        str(single_date_store), num_workers=0, batch_size=4, positives="mixed"
    )
    asked.setup()  # what was asked, and why it was not given
    assert "(single-date data: positives mixed needs two" in capsys.readouterr().err
    same = SeasonalZarrDataModule(
        str(single_date_store), num_workers=0, batch_size=4, positives="same"
    )
    same.setup()
    assert "two augmentations of one timestamp (single-date data)\n" in capsys.readouterr().err


@pytest.mark.parametrize("method", ["moco", "simclr", "byol", "barlow", "dino", "data2vec", "mae"])
def test_every_method_but_seco_pretrains_on_single_dates(
    method: str, single_date_store: Path, tmp_path: Path
) -> None:
    extra = ARGS.get(method, [])
    if method == "moco":
        extra = ["--model.init_args.queue_size", "16", "--model.init_args.hidden_dim", "64"]
    if method == "mae":
        extra = ARGS["mae"]
    args = ["pretrain", "--method", method, "--data", str(single_date_store)]
    args += ["--out", str(tmp_path / "run"), "--trainer.fast_dev_run", "1", *TINY, *extra]
    assert main(args) == 0
    assert next((tmp_path / "run" / "weights").glob("*.json")).is_file()


def test_seco_refuses_single_dates(
    single_date_store: Path, tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    args = ["pretrain", "--method", "seco", "--data", str(single_date_store)]
    args += ["--out", str(tmp_path / "run"), "--trainer.fast_dev_run", "1", *TINY]
    assert main(args) == 2
    err = capsys.readouterr().err.strip().splitlines()[-1]
    assert err.startswith("error: seco contrasts two seasons") and "moco" in err


def test_patches_preset(
    single_date_store: Path, tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    """`--preset patches` layers configs/patches.yaml, then patches_moco.yaml (MoCo v3)."""
    import yaml

    args = [
        "pretrain",
        "--method",
        "moco",
        "--data",
        str(single_date_store),
        "--preset",
        "patches",
    ]
    args += ["--out", str(tmp_path / "run"), *TINY, "--model.init_args.hidden_dim", "64"]
    with pytest.raises(SystemExit):
        main([*args, "--print_config"])
    config = yaml.safe_load(capsys.readouterr().out)
    model = config["model"]["init_args"]
    assert model["version"] == 3 and model["backbone"] == "resnet18"
    assert model["augment"]["intensity_p"] == 0 and model["augment"]["rot90"] == 0.5
    assert config["data"]["val_fraction"] == 0
    assert main([*args, "--trainer.fast_dev_run", "1"]) == 0


@pytest.mark.parametrize("preset", ["nope", "../configs/demo"])
def test_unknown_preset_is_one_line(preset: str, capsys: pytest.CaptureFixture) -> None:
    assert main(["pretrain", "--preset", preset, "--trainer.fast_dev_run", "1"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error:") and "preset" in err and len(err.splitlines()) == 1


def test_demo_preset_takes_the_methods_own_demo(
    single_date_store: Path, tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    """`--preset demo` with --data: demo_simclr.yaml alone (demo.yaml holds MoCo's fields)."""
    import yaml

    args = ["pretrain", "--method", "simclr", "--data", str(single_date_store)]
    args += ["--preset", "demo", "--out", str(tmp_path / "run")]
    with pytest.raises(SystemExit):
        main([*args, "--print_config"])
    config = yaml.safe_load(capsys.readouterr().out)
    assert config["model"]["init_args"]["backbone"] == "resnet18"
    assert "queue_size" not in config["model"]["init_args"]
