"""`eossl evaluate` on benchmarks in their own layouts: probes, baselines, band matching."""

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
from helpers import tiny

from eossl.cli import main
from eossl.data.scenes import canonical_band, match_bands, open_scenes
from eossl.errors import UserError
from eossl.evaluation.evaluate import CardInputs
from eossl.evaluation.probes import (
    band_statistics,
    bootstrap_ci,
    folds,
    knn_predict,
    predict_folds,
    score,
)
from eossl.sensors import get_sensor, level_shift


@pytest.fixture(scope="module")
def card(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Weights of a one-step S2 L1C run (13 bands, with B10), as the demo exports them."""
    out = tmp_path_factory.mktemp("pretrain") / "run"
    assert main(["pretrain", "--out", str(out), "--trainer.fast_dev_run", "1", *tiny()]) == 0
    return next((out / "weights").glob("*.json"))


def test_bigearthnet_in_its_own_layout(
    card: Path, bigearthnet: Path, tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    args = ["evaluate", str(card), "--dataset", "bigearthnet", "--root", str(bigearthnet)]
    assert main([*args, "--out", str(tmp_path), "--batch-size", "8"]) == 0
    captured = capsys.readouterr()
    assert "has no B10; filled with the pretraining mean" in captured.err
    for word in (
        "pretrained",
        "random init",
        "BN on data",
        "band statistics",
        "36 samples",
        "loo",
    ):
        assert word in captured.out
    result = json.loads((tmp_path / "evaluate_knn.json").read_text())
    assert set(result["scores"]) == {
        "pretrained",
        "random init",
        "random init, BN on data",
        "band statistics",
    }
    assert set(result["details"]["gain_ci95"]) == set(result["scores"]) - {"pretrained"}
    assert result["details"]["samples"] == result["details"]["test"] == 36
    assert result["details"]["bands_filled"] == ["B10"]
    assert result["details"]["features"]["band statistics"] == 2 * 12  # the data's own bands
    for name, (lo, hi) in result["ci95"].items():
        assert 0 <= lo <= result["scores"][name] <= hi <= 1
    gain = result["scores"]["pretrained"] - result["scores"]["band statistics"]
    lo, hi = result["details"]["gain_ci95"]["band statistics"]
    assert lo <= gain <= hi
    assert (tmp_path / "evaluate_knn.png").stat().st_size > 1000


def test_recompute_batchnorm_takes_the_data_statistics() -> None:
    """The fair random-init baseline: running statistics are the data's, over all batches."""
    from eossl.evaluation.evaluate import has_batchnorm, recompute_batchnorm

    model = torch.nn.Sequential(torch.nn.Conv2d(3, 4, 1), torch.nn.BatchNorm2d(4))
    x = torch.randn(40, 3, 8, 8) * 5 + 3
    recompute_batchnorm(model, x.split(8))  # five batches: their cumulative average
    with torch.no_grad():
        h = model[0](x)
    mean = h.mean((0, 2, 3))
    assert not model.training and has_batchnorm(model)
    assert torch.allclose(model[1].running_mean, mean, atol=1e-4)
    assert torch.allclose(model[1].running_var, h.var((0, 2, 3)), rtol=0.05)
    assert not has_batchnorm(torch.nn.Sequential(torch.nn.LayerNorm(4)))


@pytest.mark.parametrize(("bands", "channels"), [("s1", 2), ("all", 14)])
def test_bigearthnet_bands(bigearthnet: Path, bands: str, channels: int) -> None:
    scenes = open_scenes("bigearthnet", bigearthnet, bands=bands, num_classes=43)
    assert len(scenes.dataset) == 36 and len(scenes.class_names) == 43
    item = scenes.dataset[0]
    assert item["image"].shape == (channels, 120, 120) and item["label"].shape == (43,)
    assert scenes.test_index.tolist() == list(range(23, 36))  # 10 train + 13 val, 13 test


def test_linear_split_protocol(card: Path, bigearthnet: Path, tmp_path: Path) -> None:
    args = ["evaluate", str(card), "--dataset", "bigearthnet", "--root", str(bigearthnet)]
    args += ["--task", "linear", "--protocol", "split", "--out", str(tmp_path)]
    assert main(args) == 0
    details = json.loads((tmp_path / "evaluate_linear.json").read_text())["details"]
    assert (details["train"], details["test"]) == (23, 13)


def test_band_matching_against_numpy(bigearthnet: Path) -> None:
    s2 = get_sensor("s2")
    scenes = open_scenes("bigearthnet", bigearthnet, bands="s2")
    picks, missing, unused = match_bands(s2.band_names, scenes.band_names)
    assert missing == ["B10"] and unused == []
    assert [scenes.band_names[p] for p in picks if p >= 0] == [
        b for b in s2.band_names if b != "B10"
    ]
    rng = np.random.default_rng(0)
    card = {
        "bands": s2.band_names,
        "in_chans": 13,
        "mean": rng.uniform(500, 2000, 13).tolist(),
        "std": rng.uniform(200, 900, 13).tolist(),
        "offset": 1000.0,  # card in the v1.1 convention; BigEarthNet carries no offset
        "crop_size": 120,
        "sensor": "s2-l1c",
    }
    image = torch.stack([scenes.dataset[i]["image"] for i in range(3)])
    out, stats = CardInputs(card, scenes, level_shift=False)(image)
    shifted, _ = CardInputs(card, scenes)(image)  # L1C weights, L2A data: the levels' shift
    level = level_shift(get_sensor("s2-l1c"), get_sensor("s2-l2a"))
    assert level is not None and level[0] == "ssl4eo-s12-v1.0"
    x = image.numpy()
    for c, name in enumerate(s2.band_names):
        if name == "B10":
            assert (out[:, c] == 0).all() and (shifted[:, c] == 0).all()
            continue
        src = scenes.band_names.index(name)
        want = (x[:, src] - (card["mean"][c] - 1000.0)) / card["std"][c]
        want[x[:, src] == 0] = 0  # nodata where every band is 0: none in these patches
        np.testing.assert_allclose(out[:, c].numpy(), want, rtol=1e-4, atol=1e-4)
        moved = (x[:, src] - (card["mean"][c] - 1000.0 + level[1][name])) / card["std"][c]
        np.testing.assert_allclose(shifted[:, c].numpy(), moved, rtol=1e-4, atol=1e-4)
    normed = out[:, [c for c, b in enumerate(s2.band_names) if b != "B10"]].numpy()
    want = np.concatenate([normed.mean((2, 3)), normed.std((2, 3), ddof=1)], axis=1)
    np.testing.assert_allclose(stats.numpy(), want, rtol=1e-4, atol=1e-4)


def test_level_shift_on_data_of_two_sensors(bigearthnet: Path) -> None:
    """BigEarthNet's ``all`` (S1 + L2A): an L1C card's bands get the L2A shift; S1's none."""
    scenes = open_scenes("bigearthnet", bigearthnet, bands="all")
    assert scenes.sensor == "s1-grd+s2-l2a"
    want = level_shift(get_sensor("s2-l1c"), get_sensor("s2-l2a"))
    assert want is not None
    s2 = get_sensor("s2-l1c")
    card = {"bands": s2.band_names, "in_chans": 13, "mean": [1000.0] * 13, "std": [500.0] * 13}
    card |= {"crop_size": 64, "sensor": "s2-l1c", "name": "l1c"}
    assert CardInputs(card, scenes).level == {b: v for b, v in want[1].items() if b != "B10"}
    fused = {**card, "bands": ["VV", "VH", *s2.band_names], "in_chans": 15}
    fused |= {"mean": [0.0] * 15, "std": [1.0] * 15, "sensor": "s1-grd+s2-l1c"}
    assert CardInputs(fused, scenes).level == CardInputs(card, scenes).level
    alone = open_scenes("bigearthnet", bigearthnet, bands="s2")  # a fused card, S2 data only
    assert CardInputs(fused, alone).level == CardInputs(card, scenes).level
    s1 = {**card, "bands": ["VV", "VH"], "in_chans": 2, "sensor": "s1-grd"}
    assert CardInputs(s1 | {"mean": [0.0] * 2, "std": [1.0] * 2}, scenes).level == {}


def test_bands_of_one_name_on_another_sensor_are_refused(bigearthnet: Path) -> None:
    """Landsat's B5 is near-infrared, Sentinel-2's B05 red edge: a name is not a band."""
    scenes = open_scenes("bigearthnet", bigearthnet, bands="s2")
    oli = get_sensor("landsat-oli-sr")
    card = {"bands": oli.band_names, "in_chans": 7, "mean": [0.0] * 7, "std": [1.0] * 7}
    card |= {"crop_size": 64, "sensor": oli.name, "name": "oli"}
    with pytest.raises(UserError) as err:
        CardInputs(card, scenes)
    assert "its band B05 (s2-l2a) is at 0.704 µm, the weights' B5 (landsat-oli-sr) at" in str(
        err.value
    )
    s2 = get_sensor("s2-l1c")  # another level of the same bands passes
    card |= {"bands": s2.band_names, "in_chans": 13, "mean": [0.0] * 13, "std": [1.0] * 13}
    assert CardInputs(card | {"sensor": s2.name}, scenes).bands == 13


def test_image_size_resizes_what_the_encoder_sees(
    card: Path, bigearthnet: Path, tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    scenes = open_scenes("bigearthnet", bigearthnet, bands="s2")
    image = torch.stack([scenes.dataset[i]["image"] for i in range(2)])
    loaded = json.loads(card.read_text())
    own, _ = CardInputs(loaded, scenes)(image)
    big, stats = CardInputs(loaded, scenes, image_size=96)(image)
    assert own.shape[-1] == loaded["crop_size"] and big.shape[-2:] == (96, 96)
    assert torch.equal(stats, CardInputs(loaded, scenes)(image)[1])  # band stats as they were
    args = ["evaluate", str(card), "--dataset", "bigearthnet", "--root", str(bigearthnet)]
    args += ["--task", "knn", "--image-size", "96", "--out", str(tmp_path)]
    assert main(args) == 0
    details = json.loads((tmp_path / "evaluate_knn.json").read_text())["details"]
    assert details["image_size"] == 96
    assert "96 px" in capsys.readouterr().out
    for flags, words in (
        (
            ["--image-size", "8"],
            "--image-size must be a whole number of px from 16 to 1024, got 8",
        ),
        (["--image-size", "64", "--task", "segmentation"], "--image-size: for task knn or"),
    ):
        assert main([*args[:-2], *flags, "--out", str(tmp_path)]) == 2
        assert words in capsys.readouterr().err


def test_level_shift_between_processing_levels() -> None:
    """L1C minus L2A per band, from SSL4EO-S12 v1.0's statistics; none across platforms."""
    l1c, l2a = get_sensor("s2-l1c"), get_sensor("s2-l2a")
    name, up = level_shift(l2a, l1c)  # type: ignore[misc]
    _, down = level_shift(l1c, l2a)  # type: ignore[misc]
    rel1, rel2 = l1c.release(name), l2a.release(name)
    for band in ("B01", "B04", "B09", "B12"):
        want = rel1.mean[l1c.band_names.index(band)] - rel2.mean[l2a.band_names.index(band)]
        assert up[band] == pytest.approx(want) and down[band] == pytest.approx(-want)
    assert up["B01"] > 500 and "B10" not in up  # L1C's coastal band: the path radiance
    assert level_shift(l1c, l1c) is None and level_shift(l1c, get_sensor("s1")) is None
    assert level_shift(get_sensor("landsat-etm-toa"), get_sensor("landsat-etm-sr")) is None


def test_canonical_band_names() -> None:
    assert [canonical_band(b) for b in ("B1", "b01", "B8a", "vv", "B11")] == [
        "B01",
        "B01",
        "B8A",
        "VV",
        "B11",
    ]


def test_band_statistics_and_probes_against_numpy() -> None:
    x = torch.randn(5, 3, 8, 8)
    flat = x.numpy().reshape(5, 3, -1)
    want = np.concatenate([flat.mean(2), flat.std(2, ddof=1)], axis=1)
    np.testing.assert_allclose(band_statistics(x).numpy(), want, rtol=1e-5, atol=1e-6)
    # two tight clusters: leave-one-out 1-NN is perfect, and the interval is [1, 1]
    feats = torch.cat([torch.randn(6, 4) * 0.01 + 5, torch.randn(6, 4) * 0.01 - 5])
    feats[:, 1] = torch.arange(12.0) % 2  # a feature that does not follow the class
    y = torch.tensor([0] * 6 + [1] * 6)
    pred = predict_folds(feats, y, lambda a, b, c: knn_predict(a, b, c, k=1), folds(12, "loo"))
    assert score(pred, y) == 1.0 and bootstrap_ci(pred, y) == (1.0, 1.0)
    assert bootstrap_ci(pred, y, baseline=pred) == (0.0, 0.0)  # paired: no gain over itself
    lo, hi = bootstrap_ci(pred, y, baseline=1 - pred)  # every prediction flipped
    assert lo == hi == 1.0
    multi = torch.tensor([[1.0, 0.0], [1.0, 1.0]])
    assert score(torch.tensor([[1.0, 0.0], [0.0, 1.0]]), multi) == pytest.approx(2 * 2 / (2 + 3))


def test_dataset_needs_root(card: Path, capsys: pytest.CaptureFixture) -> None:
    assert main(["evaluate", str(card), "--dataset", "eurosat"]) == 2
    assert "needs --root" in capsys.readouterr().err


def test_out_under_a_file_is_refused_before_any_work(
    card: Path, tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    (tmp_path / "afile").write_text("x")
    args = ["evaluate", str(card), "--dataset", "eurosat", "--root", str(tmp_path)]
    assert main([*args, "--out", str(tmp_path / "afile" / "sub")]) == 2
    assert f"{tmp_path / 'afile'} is a file, not a folder" in capsys.readouterr().err


def test_more_folds_than_samples_is_said(
    card: Path, bigearthnet: Path, tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    args = ["evaluate", str(card), "--dataset", "bigearthnet", "--root", str(bigearthnet)]
    args += ["--task", "knn", "--protocol", "kfold", "--folds", "50", "--out", str(tmp_path)]
    assert main(args) == 0
    assert "--folds 50 with 36 samples: 36 folds (leave-one-out)" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("flags", "says"),
    [  # each was accepted and ignored (or a traceback), the result as if it were not given
        (["--num-workers", "-1"], "--num-workers must be 0 or more"),  # was ValueError
        (["--task", "linear", "--k", "3"], "--k: for --task knn; --task linear does not"),
        (["--protocol", "loo", "--folds", "7"], "--task knn --protocol loo does not use it"),
        (["--bands", "s1"], "--bands: for --dataset bigearthnet; --dataset eurosat does not"),
        (["--num-classes", "43"], "--num-classes: for --dataset bigearthnet"),
        (["--labels", "multi"], "--labels: for --task knn or linear on a store"),
        (["--data", "x.zarr"], "--data x.zarr and --dataset eurosat: pass one"),
        (["--task", "segmentation", "--protocol", "loo"], "--task segmentation does not use"),
        (["--task", "segmentation", "--channels", "B02"], "--channels: for --task knn or"),
        (["--task", "change", "--num-workers", "2"], "--task change does not use it"),
    ],
)
def test_flags_the_task_would_ignore_are_refused(
    card: Path, tmp_path: Path, flags: list[str], says: str, capsys: pytest.CaptureFixture
) -> None:
    args = ["evaluate", str(card), "--dataset", "eurosat", "--root", str(tmp_path), *flags]
    assert main(args) == 2
    err = capsys.readouterr().err
    assert says in err and len(err.strip().splitlines()) == 1
    assert main(["evaluate", str(card), "--data", "x.zarr", "--root", str(tmp_path)]) == 2
    assert "is the folder of a --dataset; name the dataset" in capsys.readouterr().err
    assert main(["evaluate", str(card), str(card.parent), "--data", "x.zarr"]) == 2
    assert "is given twice; pass each weights card once" in capsys.readouterr().err


def _edited_card(card: Path, folder: Path, **changes: object) -> Path:
    """A copy of ``card`` and its files in ``folder``, with fields changed (None: removed)."""
    shutil.copytree(card.parent, folder)
    info = json.loads(card.read_text())
    for key, value in changes.items():
        info.pop(key) if value is None else info.__setitem__(key, value)
    (folder / card.name).write_text(json.dumps(info))
    return folder / card.name


def test_cards_missing_fields_get_a_clear_answer(
    card: Path, bigearthnet: Path, tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    data = ["--dataset", "bigearthnet", "--root", str(bigearthnet), "--out", str(tmp_path / "e")]
    cases = [  # (field changes, exit code, what stderr says)
        ({"sha256": None}, 2, "the card has no 'sha256' to check"),  # was "corrupted"
        (
            {"bands": None},
            2,
            "names no bands and BigEarthNet v1 (s2, 19 classes) has 12, not its in_chans=13",
        ),
        ({"crop_size": 8}, 2, "its crop size, 8 px, is outside 16-1024 px; pass --image-size"),
        (
            {"sensor": None},
            0,
            "the card names no sensor, so the s2-l2a data of BigEarthNet v1",
        ),
    ]
    for i, (changes, code, says) in enumerate(cases):
        edited = _edited_card(card, tmp_path / f"card{i}", **changes)
        assert main(["evaluate", str(edited), *data]) == code, changes
        assert says in capsys.readouterr().err


def test_missing_benchmark_is_one_line(
    card: Path, tmp_path: Path, capsys: pytest.CaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    assert main(["evaluate", str(card), "--dataset", "eurosat", "--root", str(tmp_path)]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error:") and "cannot read eurosat" in err and len(err.splitlines()) == 1
    assert not (tmp_path / "eval").exists()  # no output folder for a run that wrote nothing


def test_store_with_scene_labels(
    card: Path, bigearthnet: Path, tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    """`convert --layout patches` output evaluates with its own multi-label scene labels."""
    from eossl.data.convert.write import convert

    store, _ = convert(
        bigearthnet / "BigEarthNet-v1.0", tmp_path / "ben.zarr", "patches", quiet=True
    )
    args = [
        "evaluate",
        str(card),
        "--data",
        str(store),
        "--task",
        "linear",
        "--out",
        str(tmp_path),
    ]
    assert main(args) == 0
    assert "5-fold, 36 samples" in capsys.readouterr().out
    result = json.loads((tmp_path / "evaluate_linear.json").read_text())
    assert result["metric"].startswith("F1") and result["details"]["classes"] == 43
    scenes = open_scenes(None, store)
    assert scenes.multilabel and scenes.dataset[0]["label"].shape == (43,)
    assert main([*args, "--protocol", "split"]) == 0  # a store has no split: 20%, said
    assert "has no test split of its own: 7 of its 36 samples" in capsys.readouterr().err


def test_blank_samples_are_left_out_in_one_line(
    card: Path, bigearthnet: Path, tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    """A sample with no valid pixel (nodata in every band) is not scored as a blank image."""
    import zarr

    from eossl.data.convert.write import convert

    store, _ = convert(
        bigearthnet / "BigEarthNet-v1.0", tmp_path / "ben.zarr", "patches", quiet=True
    )
    bands = zarr.open_group(store, mode="r+")["bands"]
    bands[5] = 0  # the store's nodata, in every band and pixel
    args = ["evaluate", str(card), "--data", str(store), "--out", str(tmp_path / "eval")]
    assert main(args) == 0
    err = capsys.readouterr().err
    assert "1 of 36 samples hold no valid pixel" in err and "left out" in err
    result = json.loads((tmp_path / "eval" / "evaluate_knn.json").read_text())
    assert result["details"]["samples"] == 35 and result["details"]["test"] == 35


def test_blank_samples_against_numpy() -> None:
    from eossl.evaluation.evaluate import blank_samples

    image = torch.rand(4, 3, 5, 5) * 100 + 1
    image[0] = float("nan")
    image[1] = 0.0  # nodata in every band
    image[2, :, 0, 0] = float("nan")  # one pixel missing: still valid
    image[3, 0] = 0.0  # one band at the nodata value, the others valid: not blank
    mixed = torch.zeros(1, 3, 5, 5)
    mixed[0, 0] = float("nan")  # NaN in one band, nodata in the others: nothing valid
    image = torch.cat([image, mixed])
    assert blank_samples(image, 0).tolist() == [True, True, False, False, True]
    assert blank_samples(image, None).tolist() == [True, False, False, False, False]


def test_eurosat_in_torchgeo_layout(
    card: Path, tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    """EuroSAT MS read by TorchGeo's own class: B8A stored last is matched by name."""
    import shutil

    from torchgeo.datasets import EuroSAT

    fixture = Path(__file__).parent / "data" / "patches" / "eurosat"
    root = tmp_path / "eurosat"
    shutil.copytree(fixture, root / EuroSAT.base_dir)
    names = sorted(p.name for p in fixture.rglob("*.tif"))
    for split in ("train", "val", "test"):  # TorchGeo's split files list .jpg names
        text = "".join(n.replace(".tif", ".jpg") + "\n" for n in names)
        (root / EuroSAT.split_filenames[split]).write_text(text)
    scenes = open_scenes("eurosat", root)
    assert scenes.band_names[-1] == "B8A" and not scenes.multilabel
    assert scenes.class_names == ["AnnualCrop", "Forest", "SeaLake"]
    args = ["evaluate", str(card), "--dataset", "eurosat", "--root", str(root), "--k", "1"]
    assert main([*args, "--out", str(tmp_path / "eval"), "--protocol", "split"]) == 0
    result = json.loads((tmp_path / "eval" / "evaluate_knn.json").read_text())
    assert result["metric"] == "accuracy" and result["details"]["bands_filled"] == []
    assert result["details"]["test"] == 6 and result["details"]["classes"] == 3


def test_progress_in_a_log_says_each_quarter(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture
) -> None:
    """Off a terminal (a log) rich draws nothing: long work says its quarters, short its end."""
    import eossl.console
    from eossl.console import task_progress

    with task_progress() as progress:  # pytest's stderr is not a terminal
        short = progress.add_task("short", total=8)
        for _ in range(8):
            progress.advance(short)
    assert capsys.readouterr().err.splitlines() == ["eossl: short 8/8 (0 s)"]
    monkeypatch.setattr(eossl.console, "LOG_AFTER", 0.0)
    with task_progress() as progress:
        long = progress.add_task("long", total=8)
        for _ in range(8):
            progress.advance(long)
    said = [line.split(" (")[0] for line in capsys.readouterr().err.splitlines()]
    assert said == ["eossl: long 2/8", "eossl: long 4/8", "eossl: long 6/8", "eossl: long 8/8"]


def test_segmentation_matches_bands_by_name(
    s2_store: Path, tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    """L2A weights (12 bands) on an L1C store (13): was 'has 13 bands but the weights expect
    12'; now its bands are matched by name and shifted by level, as for kNN and linear."""
    run = tmp_path / "l2a"
    args = ["pretrain", "--sensor", "s2-l2a", "--out", str(run), *tiny()]
    assert main([*args, "--trainer.fast_dev_run", "1"]) == 0
    card = next((run / "weights").glob("*.json"))
    out = tmp_path / "eval"
    args = ["evaluate", str(card), "--data", str(s2_store), "--task", "segmentation"]
    assert main([*args, "--epochs", "1", "--batch-size", "4", "--out", str(out)]) == 0
    err = capsys.readouterr().err
    assert "band B10 is not used by the weights" in err
    assert "weights pretrained on s2-l2a, data are s2-l1c" in err
    assert json.loads((out / "evaluate_segmentation.json").read_text())["pretrained"] >= 0


def test_a_benchmark_given_as_data_says_which_flags(
    card: Path, tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    """Was 'cannot open as a Zarr store ... re-download/re-convert it'."""
    (tmp_path / "oscd" / "Images" / "paris" / "imgs_1").mkdir(parents=True)
    (tmp_path / "eurosat" / "Forest").mkdir(parents=True)
    (tmp_path / "eurosat" / "Forest" / "Forest_1.tif").write_bytes(b"")
    for root, task, says in (
        ("oscd", "change", "pass --dataset oscd --root"),
        ("eurosat", "knn", "pass --dataset eurosat --root"),
    ):
        args = ["evaluate", str(card), "--data", str(tmp_path / root), "--task", task]
        assert main(args) == 2
        assert says in capsys.readouterr().err


def test_broken_bigearthnet_patches_are_named(
    card: Path, bigearthnet: Path, tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    """A missing patch folder was a traceback; bad label files were 'not a raster'."""
    root = tmp_path / "ben"
    shutil.copytree(bigearthnet, root)
    first = (root / "bigearthnet-test.csv").read_text().splitlines()[0].split(",")[0]
    patch = root / "BigEarthNet-v1.0" / first
    labels = patch / f"{first}_labels_metadata.json"
    args = ["evaluate", str(card), "--dataset", "bigearthnet", "--root", str(root)]
    args += ["--task", "knn", "--out", str(tmp_path / "e")]
    label_text = labels.read_text()
    for breaks, says in (
        (lambda: labels.write_text("{not json"), "_labels_metadata.json is not valid JSON"),
        (
            lambda: labels.write_text('{"labels": ["Moon base"]}'),
            "holds a label that is not a BigEarthNet class ('Moon base')",
        ),
        (lambda: labels.unlink(), "has no <patch>_labels_metadata.json"),
        (lambda: shutil.rmtree(patch), "listed in the split's CSV but missing"),
    ):
        breaks()
        assert main(args) == 2
        errors = [ln for ln in capsys.readouterr().err.splitlines() if ln.startswith("error:")]
        assert len(errors) == 1 and says in errors[0] and first in errors[0], errors
        if patch.is_dir():
            labels.write_text(label_text)


def test_labels_of_one_class_are_refused_for_every_task(
    card: Path, s2_store: Path, tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    """Multi-label scored micro-F1 1.000 and segmentation an mIoU 'gain' on one class."""
    import zarr

    store = tmp_path / "one.zarr"
    shutil.copytree(s2_store, store)
    zarr.open_group(store, mode="r+")["label"][:] = 3
    base = ["evaluate", str(card), "--data", str(store), "--out", str(tmp_path / "e")]
    for extra, says in (
        (["--task", "knn", "--labels", "multi"], "every sample holds the same labels"),
        (["--task", "segmentation", "--epochs", "1"], "every labelled pixel is of one class (3)"),
    ):
        assert main([*base, *extra]) == 2
        errors = [ln for ln in capsys.readouterr().err.splitlines() if ln.startswith("error:")]
        assert len(errors) == 1 and says in errors[0], errors


def test_an_empty_benchmark_root_gives_no_download_advice(
    card: Path, tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    (tmp_path / "empty").mkdir()
    args = ["evaluate", str(card), "--dataset", "eurosat", "--root", str(tmp_path / "empty")]
    assert main([*args, "--out", str(tmp_path / "e")]) == 2
    err = capsys.readouterr().err
    assert "no eurosat files found" in err and "download" not in err  # eossl never downloads
