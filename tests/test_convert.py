"""`eossl convert`: each layout vs rasterio reads; padding, nodata, labels, resume, skip-bad."""

import argparse
import shutil
from pathlib import Path

import numpy as np
import pytest
import rasterio
import torch
import zarr
from rasterio.enums import Resampling
from rasterio.windows import Window

from eossl.data import SeasonalZarrDataset
from eossl.data.convert.cli import add_arguments, run
from eossl.data.convert.write import convert
from eossl.data.io.describe import describe
from eossl.data.io.schema import decode_times, open_group
from eossl.data.io.writer import StoreWriter
from eossl.errors import UserError

GEOTIFF = Path(__file__).parent / "data" / "geotiff"
S12 = GEOTIFF / "ssl4eo_s12"
SCENES = GEOTIFF / "scenes"
S2_FILES = ["B1", "B2", "B3", "B4", "B5", "B6", "B7", "B8", "B8A", "B9", "B10", "B11", "B12"]


def _products(location: Path) -> list[Path]:
    return sorted(p for p in location.iterdir() if p.is_dir())


def _read(path: Path, size: int, method: str = "nearest") -> np.ndarray:
    with rasterio.open(path) as f:
        return f.read(out_shape=(f.count, size, size), resampling=Resampling[method])


def _times(group: zarr.Group) -> np.ndarray:
    return decode_times(group["time_"])


def _parse(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    add_arguments(parser)
    return parser.parse_args(argv)


def test_ssl4eo_s12_values_times_padding_and_coordinates(tmp_path: Path) -> None:
    out, skipped = convert(S12 / "s2c", tmp_path / "s2.zarr", "ssl4eo-s12", quiet=True)
    g = open_group(out)
    assert skipped == [] and g["bands"].shape == (3, 4, 13, 24, 24)  # 10 m grid of B02
    assert g.attrs["sensor"] == "s2-l1c" and g.attrs["release"] == "ssl4eo-s12-v1.0"
    assert g.attrs["scale"] == 1e-4 and g.attrs["offset"] == 0 and g.attrs["product"] == "L1C"
    assert g.attrs["source_layout"] == "ssl4eo-s12"
    bands, cloud, times = g["bands"][...], g["cloud_mask"][...], _times(g)
    for i, loc in enumerate(sorted((S12 / "s2c").iterdir())):
        for t, product in enumerate(_products(loc)):
            for b, name in enumerate(S2_FILES):
                with rasterio.open(product / f"{name}.tif") as f:
                    native = f.read(1)
                factor = 24 // native.shape[0]
                expected = np.kron(native, np.ones((factor, factor), native.dtype))
                np.testing.assert_array_equal(bands[i, t, b], expected)  # nearest = repeat
            day = product.name[:8]
            assert str(times[i, t].astype("datetime64[D]")) == f"{day[:4]}-{day[4:6]}-{day[6:]}"
    # location 1 has 3 timestamps: the 4th is padded, never dropped silently
    assert np.isnat(times[1, 3]) and (bands[1, 3] == 0).all() and (cloud[1, 3] == 6).all()
    assert g.attrs["timestamps"]["per_sample"] == {"3": 1, "4": 2}
    assert list(g["sample_id"][1]) == ["0000001"] * 3 + [""]
    # nodata corner (DN 0 in every band) of location 1, first scene
    assert (cloud[1, 0, :12, :12] == 6).all() and (cloud[1, 0, 12:, 12:] == 0).all()
    # CRS and pixel-centre coordinates of the finest band
    with rasterio.open(_products(S12 / "s2c" / "0000001")[0] / "B2.tif") as f:
        left, top = f.bounds.left, f.bounds.top
        assert g["crs"][1] == f.crs.to_epsg() == 32633
    np.testing.assert_allclose(g["x_"][1], left + 5 + 10 * np.arange(24))
    np.testing.assert_allclose(g["y_"][1], top - 5 - 10 * np.arange(24))
    assert 40 < g["center_lat"][1] < 50 and 10 < g["center_lon"][1] < 20
    # reads back with the dataset, drawing only valid timestamps; shows in `eossl info`
    ds = SeasonalZarrDataset(out, seasons="all")
    assert ds[1]["image"].shape == (3, 13, 24, 24) and ds[0]["image"].shape == (4, 13, 24, 24)
    two = SeasonalZarrDataset(out, seasons=2, seed=0)
    assert not (two[1]["time"] == np.iinfo(np.int64).min).any()
    facts = describe(out)
    assert facts["sensor"] == "s2-l1c" and facts["samples"] == 3 and "lz4" in facts["codec"]
    assert facts["checksum"] == "crc32c per chunk"


def test_bilinear_resampling_equals_rasterio(tmp_path: Path) -> None:
    out, _ = convert(
        S12 / "s2c", tmp_path / "b.zarr", "ssl4eo-s12", resampling="bilinear", quiet=True
    )
    bands = zarr.open_group(out)["bands"]
    product = _products(S12 / "s2c" / "0000002")[2]
    for b, name in ((0, "B1"), (4, "B5"), (1, "B2")):
        expected = _read(product / f"{name}.tif", 24, "bilinear")[0]
        np.testing.assert_array_equal(bands[2, 2, b], expected)
    assert zarr.open_group(out).attrs["resampling"] == "bilinear"


def test_ssl4eo_s12_s1_is_inferred_float_with_nan_padding(tmp_path: Path) -> None:
    out, _ = convert(S12 / "s1", tmp_path / "s1.zarr", "ssl4eo-s12", quiet=True)
    g = zarr.open_group(out)
    assert g.attrs["sensor"] == "s1-grd" and g["bands"].dtype == np.float32
    assert list(g["band"][...]) == ["vv", "vh"] and g.attrs["nodata"] == "nan"
    product = _products(S12 / "s1" / "0000000")[3]
    np.testing.assert_array_equal(g["bands"][0, 3, 1], _read(product / "VH.tif", 24)[0])
    assert str(_times(g)[0, 3]) == "2021-10-10T05:34:41.000000000"  # from S1A_IW_GRDH_..._T053441
    assert np.isnan(g["bands"][1, 3]).all()


def test_root_with_several_archives_asks_for_one() -> None:
    with pytest.raises(UserError, match="holds several archives"):
        convert(S12, "/nonexistent/x.zarr", "ssl4eo-s12", quiet=True)


def test_ssl4eo_l(tmp_path: Path) -> None:
    out, _ = convert(GEOTIFF / "ssl4eo_l", tmp_path / "l.zarr", "ssl4eo-l", quiet=True)
    g = zarr.open_group(out)
    assert g.attrs["sensor"] == "landsat-oli-sr" and g.attrs["release"] == "ssl4eo-l"
    assert g.attrs["scale"] == pytest.approx(0.3 / 256) and g["bands"].shape == (2, 4, 7, 16, 16)
    loc = GEOTIFF / "ssl4eo_l" / "ssl4eo_l_oli_sr" / "0000001"
    for t, product in enumerate(_products(loc)):
        np.testing.assert_array_equal(g["bands"][1, t], _read(product / "all_bands.tif", 16))
        assert str(_times(g)[1, t].astype("datetime64[D]")).replace("-", "") == product.name[-8:]
    assert np.isnat(_times(g)[1, 2:]).all() and (g["cloud_mask"][1, 2:] == 6).all()


def test_seco_variable_dates(tmp_path: Path) -> None:
    out, _ = convert(GEOTIFF / "seco", tmp_path / "seco.zarr.zip", "seco", quiet=True)
    assert out.is_file()  # zarr format 2, zipped: the v1.1 form
    g = open_group(out)
    assert g.metadata.zarr_format == 2 and g["bands"].shape == (2, 5, 12, 24, 24)
    assert g.attrs["sensor"] == "s2-l2a" and g.attrs["release"] == "seco"
    assert g.attrs["scale"] == pytest.approx(1 / 255) and g["crs"][0] == 4326
    assert g.attrs["timestamps"]["per_sample"] == {"3": 1, "5": 1}
    loc = GEOTIFF / "seco" / "seasonal_contrast_100k" / "000001"
    product = _products(loc)[1]
    np.testing.assert_array_equal(g["bands"][1, 1, 9], _read(product / "B9.tif", 24)[0])
    assert 28 > g["center_lat"][1] > 27.9 and 78 < g["center_lon"][1] < 78.1
    ds = SeasonalZarrDataset(out, seasons=3, seed=1)
    assert ds[1]["image"].shape == (3, 12, 24, 24)


def test_geotiff_chips_reprojection_nodata_labels(tmp_path: Path) -> None:
    out, _ = convert(
        SCENES,
        tmp_path / "g.zarr",
        "geotiff",
        chip_size=16,
        labels=SCENES / "labels.tif",
        max_nodata=0.5,
        quiet=True,
    )
    g = zarr.open_group(out)
    chips = [(r, c) for r in (0, 16, 24) for c in (0, 16, 24)]  # last chip aligned to the edge
    assert g["bands"].shape == (9, 3, 4, 16, 16) and g["bands"].dtype == np.float32
    times = _times(g)
    assert [str(t.astype("datetime64[s]")) for t in times[4]] == [
        "2021-01-05T00:00:00",
        "2021-03-12T00:00:00",
        "2021-07-20T10:30:00",  # TIFFTAG_DATETIME
    ]
    with rasterio.open(SCENES / "S2_20210105.tif") as f:
        ref = f.read()
    with rasterio.open(SCENES / "S2_20210312_20m.tif") as f:
        coarse = np.kron(f.read(), np.ones((1, 2, 2), np.float32))  # 20 m -> 10 m, nearest
    with rasterio.open(SCENES / "scene_c.tif") as f:
        shifted = np.full_like(ref, np.nan)
        shifted[:, :, 16:] = f.read()[:, :, :24]  # 16 px east
    with rasterio.open(SCENES / "labels.tif") as f:
        labels = f.read(1)
    bands, cloud, label = g["bands"][...], g["cloud_mask"][...], g["label"][...]
    for i, (r, c) in enumerate(chips):
        win = np.s_[:, r : r + 16, c : c + 16]
        for t, scene in enumerate((ref, coarse, shifted)):
            nodata = np.isnan(scene[win]).all(0).mean()
            if nodata > 0.5:  # that date is left out of this chip
                assert np.isnat(times[i, t]) and (cloud[i, t] == 6).all()
                continue
            np.testing.assert_array_equal(bands[i, t], scene[win])
            np.testing.assert_array_equal(cloud[i, t] == 6, np.isnan(scene[win]).all(0))
        np.testing.assert_array_equal(label[i], labels[r : r + 16, c : c + 16])
        np.testing.assert_allclose(g["x_"][i], 400000 + 10 * (c + np.arange(16) + 0.5))
        np.testing.assert_allclose(g["y_"][i], 5200000 - 10 * (r + np.arange(16) + 0.5))
    assert (label[3:6, 14] == 255).all() and (label[6:, 6] == 255).all()  # row 30: 255
    assert g.attrs["dropped"] == {"chips": 0, "chip_dates": 4, "candidate_chips": 9}
    assert (g["crs"][...] == 32633).all() and "UTM zone 33N" in g.attrs["crs_wkt"]
    ds = SeasonalZarrDataset(out, seasons=1, seed=0)
    assert ds.has_label and ds[0]["image"].shape == (1, 4, 16, 16)


def test_geotiff_scale_to_dn_and_max_nodata(tmp_path: Path) -> None:
    out, _ = convert(
        SCENES,
        tmp_path / "dn.zarr",
        "geotiff",
        chip_size=16,
        stride=24,
        labels=SCENES / "labels.tif",
        scale=10000,
        max_nodata=0.0,
        quiet=True,
    )
    g = zarr.open_group(out)
    assert g["bands"].dtype == np.uint16 and g.attrs["scale"] == 1e-4 and g.attrs["nodata"] == 0
    # stride 24 -> chips at 0 and 24; with max_nodata 0 chip (0, 0) keeps only the 20 m scene
    assert g["bands"].shape[0] == 4 and g.attrs["dropped"]["chip_dates"] == 3
    with rasterio.open(SCENES / "S2_20210105.tif") as f:
        expected = np.rint(f.read(window=Window(24, 24, 16, 16)).astype(np.float64) * 10000)
    np.testing.assert_array_equal(g["bands"][3, 0], expected.astype(np.uint16))
    assert np.isnat(_times(g)[0, 0]) and not np.isnat(_times(g)[0, 1])


def test_geotiff_scale_must_be_positive_and_clipping_is_said(
    tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    for bad in (-10000, 0, float("nan")):  # -10000 stored every pixel as 1, with exit 0
        with pytest.raises(UserError, match="--scale must be a positive number"):
            convert(SCENES, tmp_path / "x.zarr", "geotiff", chip_size=16, scale=bad, quiet=True)
    labels = SCENES / "labels.tif"
    convert(SCENES, tmp_path / "c.zarr", "geotiff", chip_size=16, labels=labels, scale=1e9)
    err = capsys.readouterr().err  # reflectance x 1e9 overflows uint16: clipped, was silent
    assert "fell outside uint16 after --scale 1e+09 and were clipped" in err


def test_geotiff_needs_dates_and_rejects_scale_for_integers(tmp_path: Path) -> None:
    with pytest.raises(UserError, match=r"labels\.tif: no date"):
        convert(SCENES, tmp_path / "x.zarr", "geotiff", chip_size=16, quiet=True)
    src = tmp_path / "int"
    src.mkdir()
    with rasterio.open(SCENES / "labels.tif") as f:
        profile, data = f.profile, f.read()
    with rasterio.open(src / "a_20200101.tif", "w", **profile) as f:
        f.write(data)
    with pytest.raises(UserError, match="drop --scale"):
        convert(src, tmp_path / "y.zarr", "geotiff", chip_size=16, scale=100, quiet=True)


def _s2_copy(tmp_path: Path) -> Path:
    src = tmp_path / "s2c"
    shutil.copytree(S12 / "s2c", src)
    return src


def test_bad_file_stops_the_run_with_its_path(tmp_path: Path) -> None:
    src = _s2_copy(tmp_path)
    bad = _products(src / "0000002")[1] / "B4.tif"
    bad.write_bytes(b"not a tiff")
    with pytest.raises(UserError) as err:
        convert(src, tmp_path / "x.zarr", "ssl4eo-s12", quiet=True)
    message = str(err.value)
    assert str(bad) in message and "--skip-bad" in message and "\n" not in message
    assert not (tmp_path / "x.zarr").exists()


def test_skip_bad_lists_skipped_files(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    src = _s2_copy(tmp_path)
    garbage = _products(src / "0000002")[1] / "B4.tif"
    garbage.write_bytes(b"not a tiff")  # fails when scanned
    truncated = _products(src / "0000000")[2] / "B11.tif"
    size = truncated.stat().st_size
    with open(truncated, "r+b") as f:  # header intact, pixels missing: fails when read
        f.truncate(size - 100)
    out = tmp_path / "s.zarr"
    run(_parse([str(src), str(out), "--layout", "ssl4eo-s12", "--skip-bad", "--quiet"]))
    text = capsys.readouterr().out
    assert "skipped 2 bad file(s)" in text and "B4.tif" in text and "B11.tif" in text
    g = zarr.open_group(out)
    assert g.attrs["skipped"] == 2
    assert {Path(b["path"]).name for b in g.attrs["skipped_files"]} == {"B4.tif", "B11.tif"}
    times = _times(g)
    assert np.isnat(times[2, 3]) and not np.isnat(times[2, :3]).any()  # 3 scenes left
    assert np.isnat(times[0, 2]) and (g["cloud_mask"][0, 2] == 6).all()  # read failure: gap
    assert g.attrs["timestamps"]["per_sample"] == {"3": 3}


def test_resume_after_interruption_equals_uninterrupted(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    src = _s2_copy(tmp_path)
    truncated = _products(src / "0000002")[0] / "B8.tif"
    with open(truncated, "r+b") as f:
        f.truncate(truncated.stat().st_size - 100)
    kw = dict(layout="ssl4eo-s12", skip_bad=True, shard=1, threads=1, quiet=True)
    whole, _ = convert(src, tmp_path / "whole.zarr", **kw)
    original, calls = StoreWriter.write, []

    def dying_write(self, start, stop, data, report=None):
        if len(calls) == 2:
            raise KeyboardInterrupt
        calls.append(start)
        original(self, start, stop, data, report)

    monkeypatch.setattr(StoreWriter, "write", dying_write)
    target = tmp_path / "resumed.zarr"
    with pytest.raises(KeyboardInterrupt):
        convert(src, target, **kw)
    assert not target.exists() and (tmp_path / "resumed.zarr.partial").is_dir()
    with pytest.raises(UserError, match="not completely written"):
        SeasonalZarrDataset(tmp_path / "resumed.zarr.partial")
    monkeypatch.setattr(StoreWriter, "write", original)
    written = []
    monkeypatch.setattr(
        StoreWriter,
        "write",
        lambda self, start, stop, data, report=None: (
            written.append(start),
            original(self, start, stop, data, report),
        ),
    )
    resumed, skipped = convert(src, target, **kw)
    assert written == sorted({0, 1, 2} - set(calls))  # only the missing block
    a, b = zarr.open_group(whole), zarr.open_group(resumed)
    for name in a.array_keys():
        np.testing.assert_array_equal(a[name][...], b[name][...])
    assert a.attrs["skipped_files"] == b.attrs["skipped_files"] and len(skipped) == 1
    assert a.attrs["timestamps"] == b.attrs["timestamps"]


def test_changed_inputs_restart_the_partial_store(tmp_path: Path) -> None:
    src = _s2_copy(tmp_path)
    first, _ = convert(src, tmp_path / "a.zarr", "ssl4eo-s12", quiet=True)
    shutil.move(first, tmp_path / "a.zarr.partial")  # as if killed before the rename
    zarr.open_group(tmp_path / "a.zarr.partial", mode="r+").attrs["eossl_complete"] = False
    shutil.rmtree(_products(src / "0000001")[2])  # the source changed meanwhile
    again, _ = convert(src, tmp_path / "a.zarr", "ssl4eo-s12", quiet=True)
    assert zarr.open_group(again).attrs["timestamps"]["per_sample"] == {"2": 1, "4": 2}


def test_cli_run_prints_info_and_refuses_existing_output(
    tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    out = tmp_path / "l.zarr"
    run(_parse([str(GEOTIFF / "ssl4eo_l"), str(out), "--layout", "ssl4eo-l", "--quiet"]))
    text = capsys.readouterr().out
    assert "landsat-oli-sr" in text and "eossl stats" in text
    with pytest.raises(UserError, match="already exists; pass --overwrite"):
        run(_parse([str(GEOTIFF / "ssl4eo_l"), str(out), "--layout", "ssl4eo-l"]))
    with pytest.raises(UserError, match="zarr format 2"):
        run(_parse([str(S12), "x.zarr.zip", "--layout", "seco", "--zarr-format", "3"]))


def test_dask_distributed_scheduler_gives_the_same_store(tmp_path: Path) -> None:
    from distributed import LocalCluster

    local, _ = convert(GEOTIFF / "ssl4eo_l", tmp_path / "t.zarr", "ssl4eo-l", quiet=True)
    with LocalCluster(n_workers=1, processes=False, dashboard_address=None) as cluster:
        dist, _ = convert(
            GEOTIFF / "ssl4eo_l",
            tmp_path / "d.zarr",
            "ssl4eo-l",
            scheduler=cluster.scheduler_address,
            shard=1,
            quiet=True,
        )
    a, b = zarr.open_group(local), zarr.open_group(dist)
    for name in a.array_keys():
        np.testing.assert_array_equal(a[name][...], b[name][...])


def test_location_with_every_scene_bad_is_skipped_not_trained_on(tmp_path: Path) -> None:
    src = _s2_copy(tmp_path)
    for product in _products(src / "0000001"):  # every scene of location 1 fails on read
        band = product / "B11.tif"
        with open(band, "r+b") as f:
            f.truncate(band.stat().st_size - 100)
    out = tmp_path / "s.zarr"
    convert(src, out, "ssl4eo-s12", skip_bad=True, quiet=True)
    assert np.isnat(_times(zarr.open_group(out))[1]).all()
    with pytest.raises(UserError, match="sample 1 .*no valid timestamp"):
        SeasonalZarrDataset(out, seasons=2, seed=0)[1]
    ds = SeasonalZarrDataset(out, seasons=2, seed=0, on_bad_sample="skip")
    item = ds[1]
    assert item["index"] == 2 and item["skipped"] == 1 and len(ds.bad_samples) == 1


def test_undated_scene_without_crs_converts_and_says_so(
    tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    src = tmp_path / "undated"
    src.mkdir()
    rng = np.random.default_rng(3)
    with rasterio.open(
        src / "drone_scene.tif", "w", driver="GTiff", width=40, height=40, count=4,
        dtype="uint16",
    ) as f:  # no date in its name or tags, and no CRS  # fmt: skip
        f.write(rng.integers(1, 5000, (4, 40, 40), dtype=np.uint16))
    out, _ = convert(src, tmp_path / "u.zarr", "geotiff", chip_size=16)
    err = capsys.readouterr().err
    assert "no scene has a date" in err and "no time_" in err
    assert "drone_scene.tif has no CRS: the store records crs 0" in err
    g = zarr.open_group(out, mode="r")
    assert "time_" not in g and g["bands"].shape[1] == 1  # one timestamp per chip
    assert (g["crs"][...] == 0).all() and np.isnan(g["center_lat"][...]).all()
    item = SeasonalZarrDataset(out, seasons=2)[0]  # single-date: the same image twice
    assert torch.equal(item["image"][0], item["image"][1])
