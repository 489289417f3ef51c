"""The real-archive recipe (#27): pretrain on real unlabelled L2A patches, evaluate on real
L1C EuroSAT patches read by TorchGeo's own class. Scores belong in the benchmark
(``benchmarks/real_quality.py``), not here: these tests check that the path runs."""

import json
from pathlib import Path

import pytest
from helpers import realdata_dir

from eossl.cli import main
from eossl.data.scenes import open_scenes

RECIPE = ["--sensor", "s2-l2a", "--method", "simclr", "--preset", "patches"]
RECIPE += ["--data.level_jitter", "s2-l1c"]  # the README's recommended command, 1 epoch


@pytest.fixture(scope="module")
def realdata() -> Path:
    root = realdata_dir()
    if root is None or not (root / "eurosat-ms-200").is_dir():
        pytest.fail("../shared/realdata/eurosat-ms-200 not found; set EOSSL_REALDATA")
    return root


@pytest.fixture(scope="module")
def l2a_subset(realdata: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """48 real unlabelled L2A patches, converted with ``--layout patches``, with statistics."""
    src = tmp_path_factory.mktemp("l2a") / "patches"
    src.mkdir()
    for tif in sorted((realdata / "eurosat-l2a-unlabelled").glob("*.tif"))[:48]:
        (src / tif.name).symlink_to(tif)
    store = src.parent / "l2a.zarr"
    assert main(["convert", str(src), str(store), "--layout", "patches", "--quiet"]) == 0
    assert main(["stats", str(store), "--quiet"]) == 0
    return store


def test_eurosat_class_folders_read_by_torchgeo(realdata: Path) -> None:
    """EuroSAT samples as bare ``<Class>/*.tif`` folders: TorchGeo's class reads them."""
    scenes = open_scenes("eurosat", realdata / "eurosat-ms-200")
    assert len(scenes.dataset) == 200 and len(scenes.class_names) == 10
    item = scenes.dataset[0]
    assert item["image"].shape == (13, 64, 64) and scenes.band_names[-1] == "B8A"
    assert scenes.test_index is None  # one split: evaluate uses leave-one-out or k-fold


def test_recipe_on_real_l2a_evaluates_on_real_l1c_eurosat(
    realdata: Path, l2a_subset: Path, tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    run = tmp_path / "run"
    args = ["pretrain", *RECIPE, "--data", str(l2a_subset), "--out", str(run)]
    args += ["--trainer.max_epochs", "1", "--data.batch_size", "16", "--data.num_workers", "0"]
    assert main(args) == 0
    card = next((run / "weights").glob("*.json"))
    assert json.loads(card.read_text())["bands"][-1] == "B12"  # L2A: 12 bands, no B10
    eurosat = realdata / "eurosat-ms-200"
    out = tmp_path / "eval"
    common = [str(card), "--dataset", "eurosat", "--root", str(eurosat), "--out", str(out)]
    assert main(["evaluate", *common, "--task", "knn"]) == 0
    err = capsys.readouterr().err
    assert "pretrained on s2-l2a, data are s2-l1c" in err and "band B10 is not used" in err
    result = json.loads((out / "evaluate_knn.json").read_text())
    assert result["details"]["protocol"] == "loo" and result["details"]["samples"] == 200
    assert "each band's mean is moved" in err  # L2A weights on L1C: the levels' shift
    assert result["details"]["level_shift"]["B01"] > 500  # L1C's brighter coastal band
    assert set(result["scores"]) >= {"pretrained", "random init, BN on data", "band statistics"}
