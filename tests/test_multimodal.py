"""Multi-modal S1 + S2: co-located stores read aligned, and a mismatch is one line."""

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
import xarray as xr
from helpers import DECODER, VIT, one_line

from eossl.cli import main
from eossl.data.dataset import SeasonalZarrDataset
from eossl.data.io.writer import move_into_place
from eossl.data.multimodal import MultiModalDataset
from eossl.errors import UserError
from eossl.evaluation.tasks import torchgeo_task
from eossl.weights import torchgeo_weights

V11 = Path(__file__).parent / "data" / "ssl4eo_s12_v11" / "train"


def _rezip(ds: xr.Dataset, out: Path) -> Path:
    """Write a dataset as a v1.1-style zarr 2 .zarr.zip (stored members)."""
    tmp = out.with_suffix(".dir")
    ds.to_zarr(tmp, zarr_format=2, consolidated=True, mode="w")
    move_into_place(tmp, out)
    return out


def test_v11_s1_and_s2_read_aligned() -> None:
    data = MultiModalDataset(V11, ["s1", "s2"], seed=0, crop_size=8)
    assert data.alignment == {"s1-grd": "ids"} and data.reference == "s2-l1c"
    assert len(data) == 128 and data.band_names[:2] == ["vv", "vh"]
    s1 = SeasonalZarrDataset(V11 / "S1GRD", sensor="s1")
    s2 = SeasonalZarrDataset(V11 / "S2L1C", sensor="s2")
    for index in (0, 70, 127):
        item = data[index]
        img1, img2 = item["image"]["s1-grd"], item["image"]["s2-l1c"]
        assert img1.shape == (2, 2, 8, 8) and img2.shape == (2, 13, 8, 8)
        assert img1.dtype == img2.dtype  # float32
        # each image is the stored data of its own sensor at the same place and window
        t1 = item["modality_time"]["s1-grd"].numpy().astype("datetime64[ns]")
        t2 = item["time"].numpy().astype("datetime64[ns]")
        # nearest pairing: the S1 dates are within the fixture's few days of the S2 dates
        assert (np.abs(t1 - t2) <= np.timedelta64(3, "D")).all()
        store1, j1 = s1.locate(index)
        store2, j2 = s2.locate(index)
        assert j1 == j2
        assert np.isclose(float(item["lat"]), s2._handle(store2).lat[j2])
        assert np.isclose(s1._handle(store1).lat[j1], s2._handle(store2).lat[j2])
        times1 = list(s1.times_of(index))
        rows = [times1.index(t) for t in t1]
        full = s1._handle(store1).bands.read((j1, np.array(rows), slice(None)))
        found = [
            (y, x)
            for y in range(9)
            for x in range(9)
            if np.array_equal(full[..., y : y + 8, x : x + 8].astype(np.float32), img1.numpy())
        ]
        assert found, "the S1 image is not a window of its own store"
        y, x = found[0]
        full2 = s2._handle(store2).bands.read((j2, np.searchsorted(s2.times_of(index), t2)))
        assert np.array_equal(full2[..., y : y + 8, x : x + 8].astype(np.float32), img2.numpy())


def test_independent_pairing_draws_s1_dates_alone() -> None:
    data = MultiModalDataset(V11, ["s1", "s2"], seed=0, pairing="independent")
    far = 0
    for index in range(20):
        item = data[index]
        t1 = item["modality_time"]["s1-grd"].numpy()
        t2 = item["time"].numpy()
        far += int((np.abs(t1 - t2) > 3 * 86400 * 10**9).any())
    assert far > 0


def test_shuffled_s1_is_a_one_line_error(tmp_path: Path) -> None:
    for folder in ("S2L1C", "S1GRD"):
        (tmp_path / folder).mkdir()
    shutil.copy(next((V11 / "S2L1C").glob("*1.zarr.zip")), tmp_path / "S2L1C")
    src = next((V11 / "S1GRD").glob("*1.zarr.zip"))
    ds = xr.open_zarr(f"zip::{src}")
    order = np.arange(ds.sizes["sample"])
    order[[5, 9]] = order[[9, 5]]  # two places swapped
    _rezip(ds.isel(sample=order).load(), tmp_path / "S1GRD" / src.name)
    with pytest.raises(UserError) as err:
        MultiModalDataset(tmp_path, ["s1", "s2"])
    message = one_line(err)
    assert "sample 5" in message and "S1GRD" in message and "S2L1C" in message


def test_far_apart_centres_without_ids_are_an_error(tmp_path: Path) -> None:
    for folder in ("S2L1C", "S1GRD"):
        (tmp_path / folder).mkdir()
    for folder, shift in (("S2L1C", 0.0), ("S1GRD", 0.05)):
        src = next((V11 / folder).glob("*1.zarr.zip"))
        ds = xr.open_zarr(f"zip::{src}").load()
        ds = ds.drop_vars("sample")  # no ids: the centres are compared
        lon = ds.center_lon.values.copy()
        lon[3:] += shift  # the first three places agree, the fourth is ~5 km off
        ds["center_lon"] = ("sample", lon)
        _rezip(ds, tmp_path / folder / src.name)
    with pytest.raises(UserError) as err:
        MultiModalDataset(tmp_path, ["s1", "s2"])
    message = one_line(err)
    assert "sample 3" in message and "km from" in message


def test_sample_counts_must_match(tmp_path: Path) -> None:
    (tmp_path / "S2L1C").mkdir()
    (tmp_path / "S1GRD").mkdir()
    for f in (V11 / "S2L1C").glob("*.zarr.zip"):
        shutil.copy(f, tmp_path / "S2L1C")
    shutil.copy(next((V11 / "S1GRD").glob("*1.zarr.zip")), tmp_path / "S1GRD")
    with pytest.raises(UserError) as err:
        MultiModalDataset(tmp_path, ["s1", "s2"])
    said = one_line(err)
    assert "the 2 stores in" in said and "S2L1C holds 128 samples but" in said
    assert "S1GRD/ssl4eos12_train_seasonal_data_000001.zarr.zip 64; co-located" in said


def test_one_sensor_picks_its_own_stores_from_a_shared_folder() -> None:
    assert len(SeasonalZarrDataset(V11, sensor="s1")) == 128
    assert SeasonalZarrDataset(V11, sensor="s2")[0]["image"].shape[1] == 13


def test_a_missing_sensor_is_named() -> None:
    with pytest.raises(UserError) as err:
        MultiModalDataset(V11 / "S2L1C", ["s1", "s2"])
    assert "S2L1C: no store of sensor s1-grd (only s2-l1c); add one" in one_line(err)


SMALL = [
    "--model.init_args.backbone",
    "resnet18",
    "--data.num_workers",
    "0",
    "--data.batch_size",
    "4",
    "--model.init_args.augment.crop_size",
    "32",
    "--model.init_args.hidden_dim",
    "64",
]
FAST = ["--trainer.fast_dev_run", "2", *SMALL]


@pytest.fixture(scope="module")
def crossmodal_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """``eossl pretrain --sensor s1,s2 --method crossmodal`` on the v1.1-layout fixture."""
    out = tmp_path_factory.mktemp("crossmodal") / "run"
    args = ["pretrain", "--sensor", "s1,s2", "--method", "crossmodal", "--data", str(V11)]
    steps = ["--trainer.max_epochs", "1", "--trainer.limit_train_batches", "2"]
    assert main([*args, "--out", str(out), *steps, *SMALL]) == 0
    return out


def test_crossmodal_exports_one_card_per_sensor(crossmodal_run: Path) -> None:
    cards = {
        p.stem: json.loads(p.read_text()) for p in (crossmodal_run / "weights").glob("*.json")
    }
    s1 = cards["eossl_s1-grd_crossmodal_resnet18"]
    s2 = cards["eossl_s2-l1c_crossmodal_resnet18"]
    assert (s1["in_chans"], s1["bands"], s1["modality"]) == (2, ["vv", "vh"], "sar")
    assert (s2["in_chans"], len(s2["bands"]), s2["modality"]) == (13, 13, "optical")
    assert s1["trained_with"] == s2["trained_with"] == "s1-grd+s2-l1c"
    # each card holds its own sensor's normalisation: v1.1 S2 carries the +1000 DN offset
    assert s2["offset"] == 1000 and s1["offset"] == 0 and len(s1["mean"]) == 2


@pytest.mark.parametrize(("sensor", "bands"), [("s1-grd", 2), ("s2-l1c", 13)])
def test_crossmodal_encoders_load_into_torchgeo(
    crossmodal_run: Path, sensor: str, bands: int
) -> None:
    card = crossmodal_run / "weights" / f"eossl_{sensor}_crossmodal_resnet18.json"
    state = torch.load(card.with_suffix(".pth"), weights_only=True)
    ckpt = torch.load(crossmodal_run / "checkpoints" / "last.ckpt", weights_only=True)
    index = ["s1-grd", "s2-l1c"].index(sensor)
    for key, value in state.items():  # the exported encoder is the trained one
        assert torch.equal(ckpt["state_dict"][f"encoders.{index}.{key}"], value)
    for weights in (str(card.with_suffix(".ckpt")), torchgeo_weights(card)):
        task = torchgeo_task("SemanticSegmentation")(
            model="unet", backbone="resnet18", weights=weights, in_channels=bands, num_classes=3
        )
        encoder = task.model.encoder.state_dict()
        for key, value in state.items():
            assert torch.equal(encoder[key], value), key


@pytest.mark.parametrize("method", ["simclr", "crossmodal"])
def test_fast_dev_run_on_the_builtin_s1_s2_sample(tmp_path: Path, method: str) -> None:
    out = tmp_path / "run"
    args = ["pretrain", "--sensor", "s1,s2", "--method", method, "--out", str(out)]
    small = ["--data.synthetic_samples", "12", "--data.synthetic_size", "40"]
    assert main([*args, *FAST, *small]) == 0
    if method == "crossmodal":
        assert len(list((out / "weights").glob("*.json"))) == 2
        return
    card = json.loads(next((out / "weights").glob("*.json")).read_text())
    assert card["sensor"] == "s1-grd+s2-l1c" and card["in_chans"] == 15
    assert card["bands"][:2] == ["vv", "vh"] and card["modality"] == "sar+optical"
    assert card["offset"] == 0 and len(card["mean"]) == 15
    state = torch.load(out / "weights" / f"{card['name']}.pth", weights_only=True)
    assert state["conv1.weight"].shape[1] == 15


def test_crossmodal_with_one_sensor_is_a_one_line_error(capsys: pytest.CaptureFixture) -> None:
    assert main(["pretrain", "--method", "crossmodal", "--out", "unused", *FAST]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err[-1].startswith("error:") and "--sensor s1,s2" in err[-1]


def test_stacked_normalisation_uses_each_sensors_stats() -> None:
    from eossl.data.normalize import BandNormalize, StackNormalize

    s1, s2 = BandNormalize([-10.0, -17.0], [3.0, 4.0]), BandNormalize([1000.0], [10.0], 0)
    x1, x2 = torch.full((1, 2, 2, 2), -10.0), torch.full((1, 1, 2, 2), 1010.0)
    x2[..., 0, 0] = 0  # nodata in S2 only
    out = StackNormalize({"s1-grd": s1, "s2-l1c": s2})({"s2-l1c": x2, "s1-grd": x1})
    assert out.shape == (1, 3, 2, 2)
    assert torch.allclose(out[0, 0], torch.zeros(2, 2))
    assert torch.allclose(out[0, 1], torch.full((2, 2), 7 / 4))
    assert out[0, 2, 0, 0] == 0 and out[0, 2, 1, 1] == 1


def test_export_from_the_checkpoint_gives_the_same_cards(
    crossmodal_run: Path, tmp_path: Path
) -> None:
    from eossl.weights.export import export_checkpoint

    paths = export_checkpoint(crossmodal_run / "checkpoints" / "last.ckpt", tmp_path, "mine")
    assert sorted(p.name for p in paths) == ["mine_s1-grd.json", "mine_s2-l1c.json"]
    for path in paths:
        sensor = path.stem.split("_")[1]
        auto = crossmodal_run / "weights" / f"eossl_{sensor}_crossmodal_resnet18.json"
        key = "sha256_safetensors"  # (a .pth holds its own file name)
        assert json.loads(path.read_text())[key] == json.loads(auto.read_text())[key]


def test_synth_writes_colocated_stores(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    import zarr

    out = tmp_path / "demo"
    assert main(["synth", str(out), "--sensor", "s1,s2", "--samples", "4", "--size", "24"]) == 0
    s1 = zarr.open_group(out / "s1-grd.zarr", mode="r")
    s2 = zarr.open_group(out / "s2-l1c.zarr", mode="r")
    assert s1["bands"].shape[2] == 2 and s2["bands"].shape[2] == 13
    assert np.array_equal(s1["center_lat"][:], s2["center_lat"][:])
    data = MultiModalDataset(out, ["s1", "s2"], seed=0)
    assert data.alignment == {"s1-grd": "ids"} and len(data) == 4
    capsys.readouterr()
    assert main(["synth", str(tmp_path / "x.zarr"), "--sensor", "s1,s2"]) == 2
    assert "one store per sensor" in capsys.readouterr().err


def test_bigearthnet_s1_and_s2_pair_by_their_s2_patch(bigearthnet: Path, tmp_path: Path) -> None:
    """Real BigEarthNet: converted S1 and S2 stores pair by id, sample for sample."""
    import zarr

    for archive, name in (("BigEarthNet-v1.0", "s2.zarr"), ("BigEarthNet-S1-v1.0", "s1.zarr")):
        args = ["convert", str(bigearthnet / archive), str(tmp_path / name)]
        assert main([*args, "--layout", "patches"]) == 0
    data = MultiModalDataset(tmp_path, ["s1", "s2-l2a"], seed=0)
    assert data.alignment == {"s1-grd": "ids"} and len(data) == 36
    s1 = zarr.open_group(tmp_path / "s1.zarr", mode="r")
    for j in (0, 17, 35):
        s1_patch = str(s1["sample_id"][j, 0])
        meta = bigearthnet / "BigEarthNet-S1-v1.0" / s1_patch / f"{s1_patch}_labels_metadata.json"
        assert json.loads(meta.read_text())["corresponding_s2_patch"] == str(
            zarr.open_group(tmp_path / "s2.zarr", mode="r")["sample_id"][j, 0]
        )
    item = data[5]
    assert item["image"]["s1-grd"].shape == (2, 2, 120, 120)
    assert item["image"]["s2-l2a"].shape == (2, 12, 120, 120)


def test_converted_v10_trees_pair_by_location_folder(tmp_path: Path) -> None:
    """SSL4EO-S12 v1.0: `s1` and `s2c` trees, converted, pair by their location folders."""
    from eossl.data.convert.write import convert

    src = Path(__file__).parent / "data" / "geotiff" / "ssl4eo_s12"
    for tree in ("s1", "s2c"):
        convert(src / tree, tmp_path / f"{tree}.zarr", "ssl4eo-s12", quiet=True)
    data = MultiModalDataset(tmp_path, ["s1", "s2"], seed=0)
    assert data.alignment == {"s1-grd": "ids"} and len(data) == 3
    alone = SeasonalZarrDataset(tmp_path / "s1.zarr", sensor="s1", seasons="all")
    item, whole = data[2], alone[2]
    times = list(whole["time"].numpy())
    rows = [times.index(t) for t in item["modality_time"]["s1-grd"].numpy()]
    assert torch.equal(item["image"]["s1-grd"], whole["image"][rows])


def test_evaluate_s1_and_s2_encoders_together_on_bigearthnet(
    crossmodal_run: Path, bigearthnet: Path, tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    """Two cards, one run: each encoder reads its own bands; features are concatenated."""
    cards = [
        str(crossmodal_run / "weights" / f"eossl_{s}_crossmodal_resnet18.json")
        for s in ("s1-grd", "s2-l1c")
    ]
    args = ["--dataset", "bigearthnet", "--root", str(bigearthnet), "--out", str(tmp_path)]
    assert main(["evaluate", *cards, *args, "--bands", "all"]) == 0
    err = capsys.readouterr().err
    assert "not used by the weights" not in err  # every band is some encoder's
    result = json.loads((tmp_path / "evaluate_knn.json").read_text())
    features = result["details"]["features"]
    assert features["pretrained"] == features["random init"] == 2 * 512
    assert features["band statistics"] == 2 * (2 + 12)  # mean, std of each band; no B10
    assert result["details"]["samples"] == 36 and " + " in result["weights"]
    assert main(["evaluate", *cards, *args, "--task", "segmentation"]) == 2


def test_mae_masks_across_s1_and_s2(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    """The S1 + S2 MAE preset: S1 is a token group of its own, masked with S2's groups."""
    import yaml

    out = tmp_path / "run"
    args = ["pretrain", "--sensor", "s1,s2", "--method", "mae", "--out", str(out)]
    vit = [*VIT, *DECODER]
    small = ["--data.synthetic_samples", "12", "--data.synthetic_size", "40"]
    fast = ["--trainer.fast_dev_run", "1", "--data.num_workers", "0", "--data.batch_size", "4"]
    fast += ["--model.init_args.augment.crop_size", "32"]
    assert main([*args, *vit, *small, *fast]) == 0
    assert "reference recipe" not in capsys.readouterr().err  # its own preset
    with pytest.raises(SystemExit):  # Lightning's --print_config prints, then exits
        main([*args, *vit, *small, *fast, "--print_config"])
    config = yaml.safe_load(capsys.readouterr().out)
    assert config["model"]["init_args"]["spectral_groups"][0] == [0, 1]
    card = json.loads(next((out / "weights").glob("*.json")).read_text())
    assert card["in_chans"] == 15 and card["sensor"] == "s1-grd+s2-l1c"


@pytest.mark.parametrize("method", ["crossmodal", "anyband"])
def test_own_encoders_refuse_backbone_weights(method: str, tmp_path: Path) -> None:
    from eossl.methods import METHODS

    with pytest.raises(UserError, match="backbone_weights"):
        METHODS[method](sensors="s1-grd,s2-l1c", in_chans=15, backbone_weights="w.pth")
