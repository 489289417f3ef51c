import shutil
import zipfile
from pathlib import Path

import numpy as np
import pytest
import torch
import xarray as xr
import zarr
from helpers import one_line
from torch.utils.data import DataLoader
from zarr.storage import ZipStore

from eossl.data import SeasonalZarrDataset
from eossl.errors import UserError


def _xr(path: Path) -> xr.Dataset:
    return xr.open_zarr(ZipStore(path, mode="r"))


def test_reads_v11_release_layout(v11_s2: Path) -> None:
    ds = SeasonalZarrDataset(v11_s2, seed=0)
    assert len(ds) == 128  # two files of 64 samples
    assert ds.sensor is not None and ds.sensor.name == "s2-l1c"
    assert ds.stores[0].dtype == "int16"
    sample = ds[70]
    assert sample["image"].shape == (2, 13, 16, 16)
    assert sample["image"].dtype == torch.float32
    assert {"time", "lat", "lon", "cloud_mask"} <= sample.keys()


def test_values_equal_written(v11_s2: Path) -> None:
    ds = SeasonalZarrDataset(v11_s2, seasons="all")
    path = sorted(v11_s2.glob("*.zarr.zip"))[1]
    ref = _xr(path)
    for index in (64, 77, 127):
        j = index - 64
        got = ds[index]
        np.testing.assert_array_equal(got["image"].numpy(), ref.bands[j].values.astype("float32"))
        np.testing.assert_array_equal(
            got["time"].numpy(), ref.time_[j].values.astype("datetime64[ns]").view("int64")
        )
        np.testing.assert_array_equal(got["cloud_mask"].numpy(), ref.cloud_mask[j].values)
        assert float(got["lat"]) == pytest.approx(float(ref.center_lat[j]), rel=1e-6)


def test_seasons_are_distinct_and_reproducible(v11_s2: Path) -> None:
    ds = SeasonalZarrDataset(v11_s2, seasons=2, seed=3)
    for i in range(0, 128, 7):
        times = ds[i]["time"]
        assert times[0] != times[1]
    again = SeasonalZarrDataset(v11_s2, seasons=2, seed=3)
    assert torch.equal(ds[5]["time"], again[5]["time"])
    drawn = {tuple(ds[5]["time"].tolist())}
    for epoch in range(1, 8):
        ds.set_epoch(epoch)
        drawn.add(tuple(ds[5]["time"].tolist()))
    assert len(drawn) > 1  # other epochs draw other pairs


def test_cloud_threshold_skips_cloudy_timestamp(v11_s2: Path) -> None:
    # timestamp 1 of every fixture sample is > 50% thick cloud
    ds = SeasonalZarrDataset(v11_s2, seasons=3, max_cloud_fraction=0.3, seed=0)
    ref = _xr(sorted(v11_s2.glob("*.zarr.zip"))[0]).time_.values
    for i in range(10):
        cloudy_time = ref[i, 1].astype("datetime64[ns]").view("int64")
        assert cloudy_time not in ds[i]["time"].tolist()


def test_crop_is_shared_by_seasons(v11_s2: Path) -> None:
    full = SeasonalZarrDataset(v11_s2, seasons="all")
    crop = SeasonalZarrDataset(v11_s2, seasons="all", crop_size=8, seed=0)
    img, small = full[3]["image"], crop[3]["image"]
    assert small.shape == (4, 13, 8, 8)
    hits = [
        (y, x)
        for y in range(9)
        for x in range(9)
        if torch.equal(img[..., y : y + 8, x : x + 8], small)
    ]
    assert len(hits) == 1
    for bad in (0, -5):  # were "sample 0 could not be read" / "only nodata": the data blamed
        with pytest.raises(UserError, match="crop_size must be at least 1 px"):
            SeasonalZarrDataset(v11_s2, crop_size=bad)


def test_dataloader_two_workers(v11_s2: Path) -> None:
    ds = SeasonalZarrDataset(v11_s2, seed=0)
    loader = DataLoader(
        ds, batch_size=16, num_workers=2, shuffle=True, multiprocessing_context="fork"
    )
    seen = []
    for batch in loader:
        assert batch["image"].shape[1:] == (2, 13, 16, 16)
        seen.extend(batch["index"].tolist())
    assert sorted(seen) == list(range(128))


def test_reads_eossl_store(s2_store: Path) -> None:
    ds = SeasonalZarrDataset(s2_store, seasons=2, seed=0)
    assert len(ds) == 12 and ds.has_label
    sample = ds[0]
    assert sample["image"].shape == (2, 13, 32, 32)
    assert sample["label"].shape == (32, 32)
    group = zarr.open_group(s2_store, mode="r")
    assert group["bands"].shards is not None and group.metadata.zarr_format == 3
    ref = xr.open_zarr(s2_store)  # readable by xarray too
    t = ds._choose_times(ds._handle(0), 0, ds._rng(0))
    np.testing.assert_array_equal(
        sample["image"].numpy(), ref.bands[0].values[t].astype("float32")
    )


# ---- errors: one line, naming the file and the fix ------------------------------------------


def test_missing_path(tmp_path: Path) -> None:
    with pytest.raises(UserError) as err:
        SeasonalZarrDataset(tmp_path / "nope")
    assert "no such file" in one_line(err)


def test_no_stores(tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()
    with pytest.raises(UserError) as err:
        SeasonalZarrDataset(tmp_path / "empty")
    assert "no Zarr stores" in one_line(err)


def test_missing_bands_variable(tmp_path: Path) -> None:
    group = zarr.open_group(tmp_path / "x.zarr", mode="w")
    group.create_array("images", shape=(2, 2), dtype="int16")
    with pytest.raises(UserError) as err:
        SeasonalZarrDataset(tmp_path / "x.zarr")
    assert "no 'bands' variable" in one_line(err) and "x.zarr" in str(err.value)


def test_wrong_dims(tmp_path: Path) -> None:
    group = zarr.open_group(tmp_path / "x.zarr", mode="w")
    group.create_array(
        "bands", shape=(2, 13, 8, 8), dtype="int16", dimension_names=["sample", "band", "y", "x"]
    )
    with pytest.raises(UserError) as err:
        SeasonalZarrDataset(tmp_path / "x.zarr")
    assert "expected ('sample', 'time', 'band', 'y', 'x')" in one_line(err)


def test_band_count_mismatch(v11_s2: Path) -> None:
    with pytest.raises(UserError) as err:
        SeasonalZarrDataset(next(v11_s2.glob("*.zarr.zip")), sensor="s1")
    message = one_line(err)
    assert "has 13 bands but sensor 's1-grd' has 2" in message and "--sensor" in message
    with pytest.raises(UserError) as err:  # a folder of stores: none of them is S1's
        SeasonalZarrDataset(v11_s2, sensor="s1")
    assert one_line(err).endswith(
        "no store of sensor s1-grd (only s2-l1c); add one, or pass --sensor for the data there"
    )


def _corrupt_copy(src: Path, dst: Path) -> Path:
    """Copy a v1.1 zip, replacing the bytes of one bands chunk (samples 8-15, time 2)."""
    with zipfile.ZipFile(src) as zin, zipfile.ZipFile(dst, "w") as zout:
        for item in zin.infolist():
            data = zin.read(item.filename)
            if item.filename == "bands/1.2.0.0.0":
                data = b"\x00garbage" * 10
            zout.writestr(item, data)
    return dst


def test_corrupt_chunk_names_file_and_sample(v11_s2: Path, tmp_path: Path) -> None:
    src = sorted(v11_s2.glob("*.zarr.zip"))[0]
    bad = _corrupt_copy(src, tmp_path / src.name)
    ds = SeasonalZarrDataset(bad, seasons="all")
    ds[0]  # other chunks are fine
    with pytest.raises(UserError) as err:
        ds[9]
    message = one_line(err)
    assert str(bad) in message and "sample 9" in message


def test_corrupt_chunk_skip(v11_s2: Path, tmp_path: Path) -> None:
    src = sorted(v11_s2.glob("*.zarr.zip"))[0]
    bad = _corrupt_copy(src, tmp_path / src.name)
    ds = SeasonalZarrDataset(bad, seasons="all", on_bad_sample="skip")
    sample = ds[9]
    assert int(sample["index"]) == 16  # samples 9..15 share the bad chunk
    assert len(ds.bad_samples) == 7


def test_partial_store_is_invisible(s2_store: Path, tmp_path: Path) -> None:
    shutil.copytree(s2_store, tmp_path / "done.zarr")
    shutil.copytree(s2_store, tmp_path / "half.zarr.partial")
    assert len(SeasonalZarrDataset(tmp_path)) == 12


def test_stored_dtype_without_cloud_mask_matches_float(s2_store) -> None:
    ref = SeasonalZarrDataset(s2_store, seasons=2, seed=3)
    fast = SeasonalZarrDataset(
        s2_store, seasons=2, seed=3, dtype="stored", return_cloud_mask=False
    )
    a, b = ref[5], fast[5]
    assert b["image"].dtype == torch.uint16
    assert "cloud_mask" not in b and "cloud_mask" in a
    torch.testing.assert_close(b["image"].float(), a["image"])


def test_indexing_past_the_end_raises_index_error(v11_s2: Path) -> None:
    """The sequence protocol: ``data[len(data)]`` is an IndexError, so iteration ends."""
    data = SeasonalZarrDataset(v11_s2, sensor="s2")
    with pytest.raises(IndexError):
        data[len(data)]
    assert data[-1]["index"] == len(data) - 1
