"""#28: inputs that once gave a traceback, a misleading line or a silent result now get one
``error:`` line and exit 2 (or a one-line notice), through the CLI as a user meets them."""

import json
import shutil
from pathlib import Path

import pytest
import torch
from helpers import tiny

from eossl.cli import main


def _one_error(capsys: pytest.CaptureFixture) -> str:
    err = capsys.readouterr().err
    errors = [ln for ln in err.splitlines() if ln.startswith("error:")]
    assert len(errors) == 1 and "Traceback" not in err, err[-2000:]
    return errors[0]


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A finished two-step run (checkpoint and exported weights)."""
    out = tmp_path_factory.mktemp("runs") / "a"
    args = ["pretrain", "--out", str(out), "--trainer.max_steps", "2", *tiny()]
    assert main([*args, "--trainer.max_epochs", "1"]) == 0
    return out


@pytest.mark.parametrize(
    ("flag", "value", "says"),
    [
        ("--trainer.max_epochs", "-1", "never ends"),  # was OverflowError
        ("--trainer.max_epochs", "0", "trains nothing"),  # was silent untrained weights
        ("--model.init_args.lr", "-1", "lr -1.0: must be above 0"),  # was ValueError
        ("--model.init_args.lr", "abc", "lr: expected a float, got 'abc'"),  # was "not an option"
        ("--model.init_args.lrr", "1", "lrr is not an option of the model"),
        # was "--model.init_args.crop_size: expected a int": the path lost ".augment"
        ("--model.init_args.augment.crop_size", "abc", "augment.crop_size: expected an int"),
        # was jsonargparse's "Does not validate against any of the Union subtypes"
        ("--model.init_args.augment.crop_size", "0", "crop_size must be at least 1 px, got 0"),
        ("--model.init_args.augment.crop_scale", "[0, 1]", "crop_scale must be [low, high]"),
        # was "... is not an option of the model": the field exists, the value has 3 items
        ("--model.init_args.augment.crop_scale", "[0.1, 0.2, 0.3]", "a tuple with 2 elements"),
        # was "... is not an option of the model": a field of a union type (list or None)
        (
            "--model.init_args.augment.grayscale_weights",
            "abc",
            "grayscale_weights: expected list[float] or None, got 'abc'",
        ),
        # each was accepted: a degenerate loss, or one that pushes positives apart
        ("--model.init_args.temperature", "0", "temperature 0.0: must be above 0"),
        ("--model.init_args.temperature", "-0.5", "temperature -0.5: must be above 0"),
        ("--model.init_args.momentum", "1.5", "momentum 1.5: must be from 0 to 1"),
        ("--model.init_args.hidden_dim", "0", "hidden_dim 0: must be at least 1"),  # traceback
        ("--model.init_args.queue_size", "-5", "queue_size -5: must be 0 or more"),
        ("--trainer.limit_train_batches", "0", "limit_train_batches 0 trains nothing"),
        ("--data.seasons", "1", "compares two views of a location; --data.seasons 1 gives"),
        ("--model.init_args.augment.hflip", "-0.5", "hflip -0.5: a probability, from 0 to 1"),
        ("--model.init_args.augment.contrast", "-1", "contrast -1.0: the half-width of a"),
        # was "Does not validate against any of the Union subtypes": the cause is said
        ("--model.init_args.augment.blur_sigma", "[-1, 2]", "sigma out of bounds"),
        ("--meth", "moco", "unrecognized arguments: --meth"),  # abbreviations refused
        ("--trainer.max_epoch", "3", "max_epoch"),
    ],
)
def test_pretrain_refuses(
    flag: str, value: str, says: str, tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    out = tmp_path / "r"
    args = ["pretrain", "--out", str(out), *tiny(), flag, value]
    if flag != "--trainer.max_epochs":
        args += ["--trainer.max_epochs", "1"]
    assert main(args) == 2
    assert says in _one_error(capsys)
    assert not (out / "weights").exists()


@pytest.mark.parametrize(
    ("flag", "value", "says"),
    [  # were "--model.init_args.augment.crop_*": a flag the user did not give
        ("local_crop_size", "0", "--model.init_args.local_crop_size must be at least 1 px"),
        ("local_crop_scale", "[0.5, 0.1]", "--model.init_args.local_crop_scale must be [low"),
    ],
)
def test_dino_local_crops_name_their_own_flags(
    flag: str, value: str, says: str, tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    args = ["pretrain", "--method", "dino", "--out", str(tmp_path / "r"), *tiny(moco=False)]
    assert main([*args, "--trainer.max_epochs", "1", f"--model.init_args.{flag}", value]) == 2
    assert says in _one_error(capsys)


def test_views_larger_than_the_images_are_said(
    tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    """A 48 px view of a 40 px image is upsampled: said once (it was silent)."""
    args = ["pretrain", "--out", str(tmp_path / "r"), *tiny(), "--trainer.max_steps", "2"]
    assert (
        main([*args, "--trainer.max_epochs", "1", "--model.init_args.augment.crop_size", "48"])
        == 0
    )
    said = capsys.readouterr()  # above the progress bar, or on stderr in a log
    text = said.out + said.err
    assert text.count("eossl: views of 48 px are upsampled from images of 40 px") == 1


def test_convert_refuses_abbreviations(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    args = ["convert", str(tmp_path), str(tmp_path / "o.zarr"), "--layout", "geotiff"]
    assert main([*args, "--chip", "32"]) == 2
    assert "--chip" in _one_error(capsys)


def test_non_finite_loss_stops_and_exports_nothing(
    tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    """A 2-pixel store (its statistics break) makes the loss NaN at the first step."""
    from eossl.data.synthetic.store import write_synthetic

    store = write_synthetic(tmp_path / "s.zarr", "s2", samples=8, size=2, seasons=2, quiet=True)
    out = tmp_path / "r"
    args = ["pretrain", "--data", str(store), "--out", str(out), "--preset", "demo"]
    args += ["--data.num_workers", "0", "--data.batch_size", "4", "--trainer.max_epochs", "1"]
    args += ["--model.init_args.augment.crop_size", "32"]
    assert main(args) == 2
    line = _one_error(capsys)
    assert "the loss became nan at step 0" in line and "lower --model.init_args.lr" in line
    assert "eossl stats" in line and "nothing was exported" in line
    assert not (out / "weights").exists()
    assert not (out / "checkpoints" / "on_exception.ckpt").exists()  # no spoilt checkpoint


def test_synth_refuses_a_size_too_small(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    assert main(["synth", str(tmp_path / "s.zarr"), "--size", "1"]) == 2
    assert "too small to train on" in _one_error(capsys)
    assert main(["synth", str(tmp_path / "b.zarr"), "--size", "100000"]) == 2  # was 260 GB
    assert "at most 2048 px" in _one_error(capsys) and not list(tmp_path.iterdir())
    assert main(["synth", str(tmp_path / "y.zip"), "--samples", "2", "--size", "16"]) == 2
    assert "NAME.zarr.zip" in _one_error(capsys) and not list(tmp_path.iterdir())  # was written


def test_evaluate_one_fold_and_bad_cards(
    run: Path, tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    card = next((run / "weights").glob("*.json"))
    store = tmp_path / "l.zarr"
    assert main(["synth", str(store), "--samples", "8", "--size", "32", "--labels"]) == 0
    capsys.readouterr()
    args = ["evaluate", str(card), "--data", str(store), "--task", "linear"]
    assert main([*args, "--protocol", "kfold", "--folds", "1"]) == 2  # was RuntimeError
    assert "--folds must be at least 2" in _one_error(capsys)
    assert main([*args, "--protocol", "kfold", "--folds", "0"]) == 2
    assert "--folds must be at least 2" in _one_error(capsys)  # was "at least 1"
    (tmp_path / "afile.txt").write_text("")
    assert main([*args, "--out", str(tmp_path / "afile.txt")]) == 2  # was after the work
    assert "a file, not a folder" in _one_error(capsys)
    broken = tmp_path / "broken"
    shutil.copytree(card.parent, broken)
    info = json.loads(card.read_text())
    del info["in_chans"]
    (broken / card.name).write_text(json.dumps(info))
    assert main(["evaluate", str(broken / card.name), "--data", str(store)]) == 2  # was KeyError
    assert "'in_chans' is missing" in _one_error(capsys)
    info = json.loads(card.read_text())
    for field, value in (  # each was a traceback from deep in torch
        ("crop_size", -64),
        ("mean", ["x"] * info["in_chans"]),
        ("std", [0.0] * info["in_chans"]),
        ("offset", "abc"),
    ):
        (broken / card.name).write_text(json.dumps({**info, field: value}))
        assert main(["evaluate", str(broken / card.name), "--data", str(store)]) == 2
        assert f"'{field}'" in _one_error(capsys)


def test_eurosat_files_of_the_wrong_shape_and_one_class(
    run: Path, tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    """A patch of 3 bands or of another size is named in one line; one class is refused."""
    import numpy as np
    import rasterio
    from helpers import realdata_dir

    shared = realdata_dir() / "eurosat-ms-200"  # type: ignore[operator]
    card = next((run / "weights").glob("*.json"))
    root = tmp_path / "eurosat"
    for name in ("Forest", "River"):
        (root / name).mkdir(parents=True)
        for tif in sorted((shared / name).glob("*.tif"))[:4]:
            shutil.copy(tif, root / name / tif.name)
    args = ["evaluate", str(card), "--dataset", "eurosat", "--root", str(root), "--task", "knn"]
    args += ["--out", str(tmp_path / "eval")]
    assert main(args) == 0
    capsys.readouterr()
    assert main([*args, "--k", "100"]) == 2  # was run with 7 neighbours, reported as k=100
    assert "a fold trains on 7 samples" in _one_error(capsys)
    bad = root / "River" / "River_bad.tif"
    for count, (h, w) in ((3, (64, 64)), (13, (40, 50))):
        profile = {"driver": "GTiff", "count": count, "height": h, "width": w, "dtype": "uint16"}
        with rasterio.open(bad, "w", **profile) as dst:
            dst.write(np.ones((count, h, w), np.uint16))
        assert main(args) == 2
        error = _one_error(capsys)
        assert "River_bad.tif" in error and f"{w}x{h} px" in error
        assert "expected 13" in error if count == 3 else "must be of one size" in error
        assert str(root) in error  # the user's file, not the link TorchGeo reads
    good = sorted((root / "Forest").glob("*.tif"))[0].read_bytes()
    bad.write_bytes(good[: len(good) // 2])  # its header intact, half its pixels gone
    assert main(args) == 2
    error = _one_error(capsys)  # was "cannot read it (13 bands of 64x64 px); expected 13"
    assert "River_bad.tif: cannot read it, truncated or corrupt" in error
    nan = np.full((13, 64, 64), 1000, np.float32)
    nan[:, :8, :8] = np.nan  # TorchGeo casts it to int32: INT_MIN, silently
    profile = {"driver": "GTiff", "count": 13, "height": 64, "width": 64, "dtype": "float32"}
    with rasterio.open(bad, "w", **profile) as dst:
        dst.write(nan)
    assert main(args) == 2
    assert "River_bad.tif: NaN or infinite values" in _one_error(capsys)
    bad.unlink()
    shutil.rmtree(root / "River")
    (root / "Highway").mkdir()  # a class folder without patches: said, not a class
    assert main(args) == 2  # was accuracy 1.000 for every feature set
    assert "no .tif in Highway: not a class" in capsys.readouterr().err
    assert main(args) == 2
    assert "every sample is of one class (Forest)" in _one_error(capsys)


def test_pretrain_on_a_store_without_stats_says_run_stats(
    tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    from helpers import realdata_dir

    shared = realdata_dir() / "eurosat-ms-200"  # type: ignore[operator]
    root = tmp_path / "eurosat" / "Forest"
    root.mkdir(parents=True)
    for tif in sorted((shared / "Forest").glob("*.tif"))[:4]:
        shutil.copy(tif, root / tif.name)
    store = tmp_path / "es.zarr"
    assert main(["convert", str(root.parent), str(store), "--layout", "patches", "--quiet"]) == 0
    capsys.readouterr()
    args = ["pretrain", "--sensor", "s2-l1c", "--method", "simclr", "--data", str(store)]
    assert main([*args, "--out", str(tmp_path / "run"), *tiny(moco=False)[4:]]) == 2
    assert f"run `eossl stats {store}` first" in _one_error(capsys)  # was: "has no release"


def test_weights_list_says_what_it_skips(
    run: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture
) -> None:
    registry = tmp_path / "registry"
    monkeypatch.setenv("EOSSL_WEIGHTS", str(registry))
    registry.mkdir()
    (registry / "list.json").write_text("[1, 2]")  # was TypeError
    good = json.loads(next((run / "weights").glob("*.json")).read_text())
    (registry / "outside.json").write_text(json.dumps({**good, "files": {"pth": "../x.pth"}}))
    assert main(["weights", "list"]) == 0
    err = capsys.readouterr().err
    assert "skipped" in err and "list.json: not a weights card" in err
    assert "outside.json: not a usable weights card: files['pth'] must be a file name" in err


def test_truncated_checkpoint_is_called_truncated(
    run: Path, tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    data = (run / "checkpoints" / "last.ckpt").read_bytes()
    cut = tmp_path / "cut.ckpt"
    cut.write_bytes(data[: len(data) // 2])
    assert main(["export", str(cut), str(tmp_path / "w")]) == 2
    assert "truncated or corrupt" in _one_error(capsys)


def test_export_never_replaces_silently(
    run: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture
) -> None:
    monkeypatch.setenv("EOSSL_WEIGHTS", str(tmp_path / "registry"))
    ckpt = str(run / "checkpoints" / "last.ckpt")
    args = ["export", ckpt, str(tmp_path / "w"), "--name", "mine", "--register"]
    assert main(args) == 0
    assert main(args) == 2  # the folder holds the files
    assert "pass --overwrite" in _one_error(capsys)
    assert main([*args, "--overwrite"]) == 0  # same weights: registering again is fine
    other = torch.load(ckpt, weights_only=True)
    key = next(k for k in other["state_dict"] if k.startswith("backbone.") and "weight" in k)
    other["state_dict"][key] = other["state_dict"][key] + 1
    torch.save(other, tmp_path / "other.ckpt")
    again = ["export", str(tmp_path / "other.ckpt"), str(tmp_path / "w2"), "--name", "mine"]
    capsys.readouterr()
    assert main([*again, "--register"]) == 2  # other weights under a registered name
    said = _one_error(capsys)
    assert "other weights are registered under this name" in said
    assert f"the weights are written to {tmp_path / 'w2'}, not registered" in said
    assert main([*again, "--register", "--overwrite"]) == 0
    card = tmp_path / "w" / "mine.json"
    before = {p.name: p.read_bytes() for p in (tmp_path / "w").iterdir()}
    (tmp_path / "w" / "mine.ckpt").unlink()
    (tmp_path / "w" / "mine.ckpt").mkdir()  # in the way of the third file of four
    before.pop("mine.ckpt")
    assert main([*again[:2], str(tmp_path / "w"), "--name", "mine", "--overwrite"]) == 2
    assert "mine.ckpt: a folder is in the way" in _one_error(capsys)
    after = {p.name: p.read_bytes() for p in (tmp_path / "w").iterdir() if p.is_file()}
    assert after == before  # was: the new .pth and .safetensors beside the old card
    assert json.loads(card.read_text())["name"] == "mine"


def test_config_of_another_run_writes_to_out(run: Path, tmp_path: Path) -> None:
    out = tmp_path / "b"
    args = ["pretrain", "--config", str(run / "config.yaml"), "--out", str(out), *tiny()]
    assert main([*args, "--trainer.max_steps", "1", "--trainer.max_epochs", "1"]) == 0
    assert f"default_root_dir: {out}" in (out / "config.yaml").read_text()
    assert (out / "weights").is_dir()


def test_no_rasterio_warning_for_a_geotiff_without_crs(
    tmp_path: Path, capfd: pytest.CaptureFixture
) -> None:
    import numpy as np
    import rasterio

    src = tmp_path / "src"
    src.mkdir()
    for i in range(2):
        with rasterio.open(src / f"p{i}.tif", "w", driver="GTiff", width=16, height=16,
                           count=3, dtype="uint16") as f:  # fmt: skip
            f.write(np.full((3, 16, 16), 100 + i, np.uint16))
    assert main(["convert", str(src), str(tmp_path / "o.zarr"), "--layout", "patches"]) == 0
    assert "NotGeoreferencedWarning" not in capfd.readouterr().err


def test_non_finite_values_are_nodata_with_one_notice(
    tmp_path: Path, capfd: pytest.CaptureFixture
) -> None:
    """Item 9: inf and NaN in float scenes are stored as nodata and masked, said once."""
    import numpy as np
    import rasterio
    import zarr
    from rasterio.transform import from_origin

    src = tmp_path / "src"
    src.mkdir()
    for day, fill in (("20210105", np.inf), ("20210401", None)):
        data = np.full((3, 32, 32), 0.2, np.float32)
        if fill is None:
            data[1, :4, :] = -np.inf  # one band of the first 4 rows
        else:
            data[:] = fill  # the whole scene
        with rasterio.open(src / f"S_{day}.tif", "w", driver="GTiff", width=32, height=32,
                           count=3, dtype="float32", crs="EPSG:32632",
                           transform=from_origin(500000, 5300000, 10, 10)) as f:  # fmt: skip
            f.write(data)
    out = tmp_path / "o.zarr"
    assert main(["convert", str(src), str(out), "--layout", "geotiff", "--chip-size", "16",
                 "--scale", "10000"]) == 0  # fmt: skip
    notices = [line for line in capfd.readouterr().err.splitlines() if "inf or NaN" in line]
    assert len(notices) == 1 and notices[0].startswith("eossl: 128 pixel(s)")
    g = zarr.open_group(out, mode="r")
    bands, mask = g["bands"][...], g["cloud_mask"][...]
    valid = mask != 6
    assert (bands[..., :][np.broadcast_to(valid[:, :, None], bands.shape)] == 2000).all()
    # the all-inf scene is left out of every chip (nodata fraction 1); the other keeps its
    # valid pixels, and the rows with -inf in one band are masked in the two top chips
    assert (mask[:, 0] == 6).all()
    assert (mask[:2, 1, :4] == 6).all() and (mask[:2, 1, 4:] == 0).all()


def test_scenes_sharing_a_date_are_said_once(tmp_path: Path, capfd: pytest.CaptureFixture) -> None:
    """Item 15: two scenes of one date stay two timestamps, with one notice naming the date."""
    import numpy as np
    import rasterio
    from rasterio.transform import from_origin

    src = tmp_path / "src"
    src.mkdir()
    for name in ("A_20210105.tif", "B_20210105.tif", "C_20210401.tif"):
        with rasterio.open(src / name, "w", driver="GTiff", width=16, height=16, count=3,
                           dtype="uint16", crs="EPSG:32632",
                           transform=from_origin(500000, 5300000, 10, 10)) as f:  # fmt: skip
            f.write(np.full((3, 16, 16), 100, np.uint16))
    out = tmp_path / "o.zarr"
    assert main(["convert", str(src), str(out), "--layout", "geotiff", "--chip-size", "16"]) == 0
    notices = [line for line in capfd.readouterr().err.splitlines() if "share a date" in line]
    assert len(notices) == 1 and "2021-01-05 (2 scenes)" in notices[0]
    assert "2021-04-01" not in notices[0]


def test_integer_sample_coordinate_converts_to_string_ids(v11_s2: Path, tmp_path: Path) -> None:
    """Item 17: a v1.1-style zip whose ``sample`` is 0..n-1 converts; ids are those strings."""
    import os
    import zipfile

    import numpy as np
    import xarray as xr
    import zarr

    src = sorted(v11_s2.glob("*.zarr.zip"))[0]
    with zipfile.ZipFile(src) as zf:
        zf.extractall(tmp_path / "unzipped")
    ds = xr.open_zarr(tmp_path / "unzipped", consolidated=True).load()
    ds = ds.assign_coords(sample=np.arange(ds.sizes["sample"])).chunk({"sample": 8, "time": 1})
    ds.to_zarr(tmp_path / "int", zarr_format=2, consolidated=True, mode="w")
    (tmp_path / "src").mkdir()
    with zipfile.ZipFile(tmp_path / "src" / "part_000001.zarr.zip", "w") as zf:
        for folder, _, files in os.walk(tmp_path / "int"):
            for name in files:
                path = Path(folder) / name
                zf.write(path, path.relative_to(tmp_path / "int").as_posix())
    out = tmp_path / "out.zarr"
    assert main(["convert", str(tmp_path / "src"), str(out), "--layout", "zarr", "--quiet"]) == 0
    ids = zarr.open_group(out, mode="r")["location_id"][...]
    assert [str(i) for i in ids] == [str(i) for i in range(ds.sizes["sample"])]


def test_patches_of_no_valid_pixel_are_said(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    """An all-NaN patch is converted (masked whole), with a one-line count (was silent)."""
    import numpy as np
    import rasterio
    from rasterio.transform import from_origin

    src = tmp_path / "src"
    src.mkdir()
    for i in range(3):
        image = np.random.default_rng(i).random((4, 16, 16)).astype("float32")
        if i == 0:
            image[:] = np.nan
        profile = {"driver": "GTiff", "count": 4, "height": 16, "width": 16, "dtype": "float32"}
        profile.update(crs="EPSG:32631", transform=from_origin(500000, 5000000, 10, 10))
        with rasterio.open(src / f"p{i}.tif", "w", **profile) as dst:
            dst.write(image)
    assert main(["convert", str(src), str(tmp_path / "p.zarr"), "--layout", "patches"]) == 0
    assert "1 image(s) hold no valid pixel" in capsys.readouterr().err
    quiet = ["convert", str(src), str(tmp_path / "q.zarr"), "--layout", "patches", "--quiet"]
    assert main(quiet) == 0  # --quiet hides progress bars, not notices (it hid this one)
    assert "1 image(s) hold no valid pixel" in capsys.readouterr().err


def test_weights_of_another_sensor_are_refused_without_a_fill_notice(
    s2_store: Path, capsys: pytest.CaptureFixture
) -> None:
    """S1 weights on S2 data: one error, not first a notice that every band was filled."""
    from eossl.errors import UserError
    from eossl.evaluation.evaluate import CardInputs, open_scenes

    card = {"bands": ["VV", "VH"], "in_chans": 2, "sensor": "s1-grd", "mean": [0.0, 0.0]}
    card |= {"std": [1.0, 1.0], "crop_size": 32, "model": "resnet18"}
    scenes = open_scenes(None, str(s2_store), labels="majority", seed=0)
    with pytest.raises(UserError, match="none of its bands"):
        CardInputs(card, scenes)
    assert "filled with" not in capsys.readouterr().err


def test_channels_name_each_band_once(capsys: pytest.CaptureFixture) -> None:
    for given, message in ((",", "no band named"), ("B02,B03,B02", "lists B02 twice")):
        assert main(["evaluate", "w.json", "--data", "x.zarr", "--channels", given]) == 2
        assert message in capsys.readouterr().err


@pytest.mark.parametrize("layout", ["geotiff", "oscd"])
def test_chips_too_small_to_use_are_refused(
    layout: str, tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    """``--chip-size 1`` tiled a city into 360,000 one-pixel tiles for hours; now one line."""
    (tmp_path / "src").mkdir()
    out = tmp_path / "o.zarr"
    assert main(["convert", str(tmp_path / "src"), str(out), "--layout", layout,
                 "--chip-size", "1"]) == 2  # fmt: skip
    err = _one_error(capsys)
    assert "--chip-size 1: chips under 16 px" in err and not out.exists()


def test_a_registry_that_is_a_file_and_a_checkpoint_folder(
    run: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture
) -> None:
    """EOSSL_WEIGHTS naming a file: said before export writes anything (it wrote 4 files)."""
    registry = tmp_path / "afile.txt"
    registry.write_text("notes")
    monkeypatch.setenv("EOSSL_WEIGHTS", str(registry))
    assert main(["weights", "list"]) == 2  # was "no weights registered in afile.txt"
    assert "the weights registry (EOSSL_WEIGHTS) is a file, not a folder" in _one_error(capsys)
    out = tmp_path / "w"
    ckpt = str(run / "checkpoints" / "last.ckpt")
    assert main(["export", ckpt, str(out), "--register"]) == 2
    assert "(EOSSL_WEIGHTS) is a file" in _one_error(capsys)
    assert not out.exists() and registry.read_text() == "notes"
    assert main(["export", str(run / "checkpoints"), str(out)]) == 2  # was "not found"
    assert "a folder; pass a checkpoint (.ckpt) in it (e.g." in _one_error(capsys)
    assert main(["export", ckpt, str(out), "--name", ""]) == 2  # was the default name
    assert "--name ''" in _one_error(capsys) and not out.exists()
    pth = next((run / "weights").glob("*.pth"))
    assert main(["evaluate", str(pth), "--data", "s.zarr"]) == 2  # was a utf-8 decode error
    assert "a weights file, not its card; pass the .json card beside it" in _one_error(capsys)
    exported = next((run / "weights").glob("*.ckpt"))
    assert main(["export", str(exported), str(out)]) == 2  # was "(class None)"
    assert "exported weights (their card is" in _one_error(capsys) and not out.exists()
    afile = tmp_path / "afile.zarr"
    afile.write_text("")
    assert main(["synth", str(afile / "x.zarr"), "--samples", "2", "--size", "16"]) == 2
    assert "afile.zarr is a file, not a folder" in _one_error(capsys)  # was x.zarr.partial's


def test_evaluate_flags_checked_before_any_work(capsys: pytest.CaptureFixture) -> None:
    """A seed numpy refuses, an unusable learning rate, change-only flags elsewhere."""
    base = ["evaluate", "w.json", "--data", "s.zarr"]
    for extra, says in (
        (["--seed", "-1"], "a seed is 0 to 2**32 - 1"),  # was numpy's ValueError traceback
        (["--lr", "nan"], "--lr must be a positive number"),  # was Lightning's, after 45 s
        (["--lr", "inf"], "--lr must be a positive number"),  # was trained at lr inf
        (["--probe-only"], "--probe-only: for --task change"),  # was ignored in silence
        (["--tile-size", "32", "--task", "linear"], "--tile-size: for --task change"),
        (["--tile-size", "0"], "--tile-size: for --task change"),  # 0 passed as "not given"
        (["--freeze-backbone"], "--task knn trains no decoder"),
        (["--lr", "0.01"], "--lr: for fine-tuning"),  # was ignored by knn in silence
        (["--epochs", "3", "--task", "change", "--probe-only"], "--probe-only has no epochs"),
        (["--freeze-backbone", "--task", "change", "--probe-only"], "without --probe-only"),
    ):
        assert main([*base, *extra]) == 2
        assert says in _one_error(capsys)
