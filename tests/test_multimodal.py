"""Multi-modal S1 + S2: co-located stores read aligned, and a mismatch is one line."""

import shutil
import zipfile
from pathlib import Path

import numpy as np
import pytest
import xarray as xr
from helpers import one_line

from eossl.data.dataset import SeasonalZarrDataset
from eossl.data.multimodal import MultiModalDataset
from eossl.errors import UserError

V11 = Path(__file__).parent / "data" / "ssl4eo_s12_v11" / "train"


def _rezip(ds: xr.Dataset, out: Path) -> Path:
    """Write a dataset as a v1.1-style zarr 2 .zarr.zip (stored members)."""
    tmp = out.with_suffix(".dir")
    ds.to_zarr(tmp, zarr_format=2, consolidated=True, mode="w")
    with zipfile.ZipFile(out, "w", zipfile.ZIP_STORED) as zf:
        for f in sorted(p for p in tmp.rglob("*") if p.is_file()):
            zf.write(f, f.relative_to(tmp).as_posix())
    shutil.rmtree(tmp)
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
    assert "128 samples" in one_line(err) and "64" in str(err.value)


def test_one_sensor_picks_its_own_stores_from_a_shared_folder() -> None:
    assert len(SeasonalZarrDataset(V11, sensor="s1")) == 128
    assert SeasonalZarrDataset(V11, sensor="s2")[0]["image"].shape[1] == 13


def test_a_missing_sensor_is_named() -> None:
    with pytest.raises(UserError) as err:
        MultiModalDataset(V11 / "S2L1C", ["s1", "s2"])
    assert "has 13 bands but sensor 's1-grd' has 2" in one_line(err)
