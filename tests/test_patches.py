"""`eossl convert --layout patches`: EuroSAT, BigEarthNet v1 (real data), folders, labels."""

import json
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import rasterio
import zarr
from helpers import realdata_dir
from rasterio.enums import Resampling
from rasterio.transform import from_origin

from eossl.cli import main
from eossl.data import SeasonalZarrDataset
from eossl.data.convert.write import convert
from eossl.data.io.describe import describe
from eossl.data.io.schema import decode_times, dims_of, open_group
from eossl.data.io.writer import StoreWriter
from eossl.errors import UserError

EUROSAT = Path(__file__).parent / "data" / "patches" / "eurosat"
CLASSES = ["AnnualCrop", "Forest", "SeaLake"]
BEN = (realdata_dir() or Path("/realdata-not-found")) / "bigearthnet-v1"
BEN_S2, BEN_S1 = BEN / "BigEarthNet-v1.0", BEN / "BigEarthNet-S1-v1.0"
# EuroSAT file order (B8A last) -> s2-l1c card order (B8A after B08)
EUROSAT_TO_CARD = [0, 1, 2, 3, 4, 5, 6, 7, 12, 8, 9, 10, 11]
needs_ben = pytest.mark.usefixtures("bigearthnet")  # fails, never skips, without the data
pytestmark = pytest.mark.filterwarnings("ignore::rasterio.errors.NotGeoreferencedWarning")


def _eurosat_files() -> list[Path]:
    return [EUROSAT / c / f"{c}_{n}.tif" for c in CLASSES for n in (1, 2)]


def _read_all_samples(out: Path) -> None:
    ds = SeasonalZarrDataset(out, seasons=1, seed=0)
    for i in range(len(ds)):
        assert ds[i]["image"].shape[0] == 1 and ds[i]["skipped"] == 0


def _write_patches(folder: Path, names: list[str], count: int = 4, size: int = 16, **kw) -> None:
    rng = np.random.default_rng(len(names))
    for name in names:
        path = folder / name
        path.parent.mkdir(parents=True, exist_ok=True)
        profile = dict(driver="GTiff", width=size, height=size, count=count, dtype="uint16")
        with rasterio.open(path, "w", **profile, **kw) as f:
            f.write(rng.integers(1, 10000, (count, size, size), dtype=np.uint16))


def _error(argv: list[str], capsys: pytest.CaptureFixture) -> str:
    """Run the CLI; it must fail with exit code 2 and one line on stderr. Returns the line."""
    assert main(["convert", *argv, "--quiet"]) == 2
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error:"), lines
    return lines[0]


def test_eurosat_values_bands_labels_and_dataset(tmp_path: Path) -> None:
    out, skipped = convert(EUROSAT, tmp_path / "e.zarr", "patches", shard=4, quiet=True)
    g = open_group(out)
    assert skipped == [] and g["bands"].shape == (6, 1, 13, 16, 16)
    assert g.attrs["sensor"] == "s2-l1c" and g.attrs["patch_source"] == "eurosat"
    assert g.attrs["source_layout"] == "patches" and g.attrs["release"] == "eurosat"
    assert g.attrs["scale"] == 1e-4 and g.attrs["offset"] == 0
    assert [str(b) for b in g["band"][...]][8] == "B8A"
    bands = g["bands"][...]
    for i, path in enumerate(_eurosat_files()):
        with rasterio.open(path) as f:
            expected = f.read()[EUROSAT_TO_CARD]
            assert g["crs"][i] == 32633
            np.testing.assert_allclose(g["x_"][i], f.bounds.left + 5 + 10 * np.arange(16))
        np.testing.assert_array_equal(bands[i, 0], expected)
        assert g["sample_id"][i, 0] == path.stem
        assert g["file_id"][i, 0] == f"{path.parent.name}/{path.name}"
    # each band's values sit in 1000 * (its place in the EuroSAT file + 1) + 0..499
    assert bands[0, 0, 8].min() >= 13000 and bands[0, 0, 12].max() < 12500
    # scene labels: one-hot rows in the folder's class, sorted class names
    assert g.attrs["scene_label_kind"] == "single"
    assert [str(c) for c in g["class_name"][...]] == CLASSES
    np.testing.assert_array_equal(
        g["scene_label"][...], np.repeat(np.eye(3, dtype=np.uint8), 2, 0)
    )
    assert dims_of(g["scene_label"]) == ("sample", "class")
    assert dims_of(g["class_name"]) == ("class",)
    # nodata corner: cloud_mask 6 there, 0 elsewhere; no dates: no time_, every sample reads
    cloud = g["cloud_mask"][...]
    assert (
        (cloud[1, 0, :4, :4] == 6).all() and (cloud[1, 0, 4:] == 0).all() and cloud[0].max() == 0
    )
    assert "time_" not in g
    assert g.attrs["timestamps"]["per_sample"] == {"1": 6}
    _read_all_samples(out)
    item = SeasonalZarrDataset(out, seasons=2, seed=0)[5]  # one date: the same image twice
    assert item["image"].shape == (2, 13, 16, 16) and item["scene_label"].tolist() == [0, 0, 1]
    assert "single, 3 classes" in describe(out)["scene labels (first file)"]


def test_eurosat_zarr_format_2_has_array_dimensions(tmp_path: Path) -> None:
    out, _ = convert(EUROSAT, tmp_path / "e.zarr.zip", "patches", quiet=True)
    g = open_group(out)
    assert g["scene_label"].attrs["_ARRAY_DIMENSIONS"] == ["sample", "class"]
    assert g["class_name"].attrs["_ARRAY_DIMENSIONS"] == ["class"]
    assert g["scene_label"][...].sum(axis=1).tolist() == [1] * 6
    _read_all_samples(out)


@needs_ben
def test_bigearthnet_s2_real_values_resampling_and_multilabels(tmp_path: Path) -> None:
    from torchgeo.datasets import BigEarthNet

    out, skipped = convert(
        BEN_S2, tmp_path / "b.zarr", "patches", resampling="bilinear", shard=8, quiet=True
    )
    g = open_group(out)
    assert skipped == [] and g["bands"].shape == (36, 1, 12, 120, 120)
    assert g.attrs["sensor"] == "s2-l2a" and g.attrs["patch_source"] == "bigearthnet"
    names = [str(b) for b in g["band"][...]]
    classes = [str(c) for c in g["class_name"][...]]
    assert classes == list(BigEarthNet.class_sets[43]) and g.attrs["scene_label_kind"] == "multi"
    ids = [str(s) for s in g["sample_id"][:, 0]]
    assert ids == sorted(ids, key=lambda s: [int(t) if t.isdigit() else t for t in s.split("_")])
    labels, times, crs = g["scene_label"][...], decode_times(g["time_"]), g["crs"][...]
    for i in (0, 1, 11, 23, 35):
        pid = ids[i]
        folder = BEN_S2 / pid
        with rasterio.open(folder / f"{pid}_B02.tif") as f:  # 10 m: exact
            np.testing.assert_array_equal(g["bands"][i, 0, names.index("B02")], f.read(1))
        for band in ("B05", "B8A", "B01"):  # 20 m and 60 m: rasterio's bilinear read
            with rasterio.open(folder / f"{pid}_{band}.tif") as f:
                expected = f.read(1, out_shape=(120, 120), resampling=Resampling.bilinear)
            np.testing.assert_array_equal(g["bands"][i, 0, names.index(band)], expected)
    for i, pid in enumerate(ids):
        meta = json.loads((BEN_S2 / pid / f"{pid}_labels_metadata.json").read_text())
        assert {classes[k] for k in np.flatnonzero(labels[i])} == set(meta["labels"])
        day = pid.split("_")[2][:8]
        assert str(times[i, 0].astype("datetime64[D]")).replace("-", "") == day
        with rasterio.open(BEN_S2 / pid / f"{pid}_B02.tif") as f:
            georeferenced = f.crs is not None
        assert (crs[i] != 0) == georeferenced == np.isfinite(g["center_lat"][i])
    assert str(times[ids.index("S2A_MSIL2A_20170613T101031_39_24"), 0]) == (
        "2017-06-13T10:10:31.000000000"
    )
    assert (crs != 0).sum() == 6  # 30 patches carry no georeferencing: crs 0, NaN coordinates
    _read_all_samples(out)


@needs_ben
def test_bigearthnet_s1_real_two_float_bands(tmp_path: Path) -> None:
    out, _ = convert(BEN_S1, tmp_path / "s1.zarr", "patches", quiet=True)
    g = open_group(out)
    assert g["bands"].shape == (36, 1, 2, 120, 120) and g["bands"].dtype == np.float32
    assert g.attrs["sensor"] == "s1-grd" and g.attrs["nodata"] == "nan"
    assert [str(b) for b in g["band"][...]] == ["vv", "vh"]
    ids = [str(i) for i in g["sample_id"][:, 0]]
    metas = [json.loads((BEN_S1 / p / f"{p}_labels_metadata.json").read_text()) for p in ids]
    # ordered (as the S2 archive: natural order) and labelled by each S1 patch's S2 patch
    from eossl.data.io.schema import natural_key

    places = [m["corresponding_s2_patch"] for m in metas]
    assert [str(i) for i in g["location_id"][...]] == places == sorted(places, key=natural_key)
    j = next(k for k, m in enumerate(metas) if "acquisition_time" in m)  # 6 of 36 have it
    with rasterio.open(BEN_S1 / ids[j] / f"{ids[j]}_VH.tif") as f:
        np.testing.assert_array_equal(g["bands"][j, 0, 1], f.read(1))
    assert str(decode_times(g["time_"])[j, 0]).startswith(metas[j]["acquisition_time"])
    assert g["scene_label"][...].sum(axis=1).min() >= 1
    _read_all_samples(out)


@needs_ben
def test_bigearthnet_band_missing_or_both_archives(
    tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    line = _error([str(BEN), str(tmp_path / "x.zarr"), "--layout", "patches"], capsys)
    assert "holds several archives" in line and "BigEarthNet-S1-v1.0" in line
    src = tmp_path / "ben"
    shutil.copytree(BEN_S2, src)
    first, later = sorted(src.iterdir())[0], sorted(src.iterdir())[5]
    (first / f"{first.name}_B05.tif").unlink()
    line = _error([str(src), str(tmp_path / "x.zarr"), "--layout", "patches"], capsys)
    assert "missing band file(s) B05" in line and first.name in line  # was: pass --sensor
    argv = [str(src), str(tmp_path / "x.zarr"), "--layout", "patches", "--sensor", "s2-l2a"]
    assert "missing band file(s) B05" in _error(argv, capsys)  # the --sensor given, too
    shutil.copy(BEN_S2 / first.name / f"{first.name}_B05.tif", first)
    (later / f"{later.name}_B11.tif").unlink()
    (later / f"{later.name}_labels_metadata.json").write_text('{"labels": ["Moon base"]}')
    line = _error([str(src), str(tmp_path / "x.zarr"), "--layout", "patches"], capsys)
    assert "missing band file(s) B11" in line and "--skip-bad" in line
    out, skipped = convert(src, tmp_path / "s.zarr", "patches", skip_bad=True, quiet=True)
    assert [Path(b.path).name for b in skipped] == [later.name]
    assert open_group(out)["bands"].shape[0] == 35
    (later / f"{later.name}_B11.tif").write_bytes(b"")  # now the labels are what is wrong
    with pytest.raises(UserError, match="unknown class 'Moon base'"):
        convert(src, tmp_path / "t.zarr", "patches", quiet=True)


def test_folder_csv_single_and_multi_labels(tmp_path: Path) -> None:
    src = tmp_path / "src"
    _write_patches(src, ["a/p1.tif", "a/p2.tif", "p3.tif"])
    (tmp_path / "one.csv").write_text("file,class\na/p1.tif,water\np3.tif,crop\na/p2.tif,crop\n")
    out, _ = convert(src, tmp_path / "one.zarr", "patches", labels=tmp_path / "one.csv")
    g = open_group(out)
    assert g.attrs["patch_source"] == "folder" and g.attrs["scene_label_kind"] == "single"
    assert [str(c) for c in g["class_name"][...]] == ["crop", "water"]
    assert g["scene_label"][...].tolist() == [[0, 1], [1, 0], [1, 0]]  # CSV order
    assert [str(s) for s in g["sample_id"][:, 0]] == ["a/p1", "p3", "a/p2"]
    assert [str(b) for b in g["band"][...]] == ["B1", "B2", "B3", "B4"] and "sensor" not in g.attrs
    with rasterio.open(src / "p3.tif") as f:
        np.testing.assert_array_equal(g["bands"][1, 0], f.read())
    (tmp_path / "multi.csv").write_text("a/p1.tif,water;crop\np3.tif, crop \n")
    out, _ = convert(
        src, tmp_path / "m.zarr", "patches", labels=tmp_path / "multi.csv", classes="water,crop"
    )
    g = open_group(out)
    assert g.attrs["scene_label_kind"] == "multi" and g["bands"].shape[0] == 2
    assert [str(c) for c in g["class_name"][...]] == ["water", "crop"]  # --classes order
    assert g["scene_label"][...].tolist() == [[1, 1], [0, 1]]
    _read_all_samples(out)


def test_folder_class_folders_unlabelled_dates_and_band_names(tmp_path: Path) -> None:
    src = tmp_path / "classes"
    _write_patches(src, ["wet/x_20210105.tif", "dry/y_20210312.tif", "dry/z_20210401.tif"])
    out, _ = convert(src, tmp_path / "c.zarr", "patches", quiet=True)
    g = open_group(out)
    assert g.attrs["patch_source"] == "folder" and [str(c) for c in g["class_name"]] == [
        "dry",
        "wet",
    ]
    assert g["scene_label"][...].tolist() == [[1, 0], [1, 0], [0, 1]]
    times = decode_times(g["time_"])[:, 0].astype("datetime64[D]").astype(str).tolist()
    assert times == ["2021-03-12", "2021-04-01", "2021-01-05"]
    # no labels; one undated file: no time_ at all, so every sample still reads
    flat = tmp_path / "flat"
    _write_patches(flat, ["p_20210105.tif", "q.tif"])
    out, _ = convert(flat, tmp_path / "f.zarr", "patches", quiet=True)
    g = open_group(out)
    assert "scene_label" not in g and "class_name" not in g and "time_" not in g
    assert "scene_label_kind" not in g.attrs
    _read_all_samples(out)
    # band descriptions naming a card's bands, in another order: stored in card order
    named = tmp_path / "named"
    _write_patches(named, ["n.tif"], count=13)
    shuffled = ["B8A", "B01", "B02", "B03", "B04", "B05", "B06", "B07", "B08", "B09", "B10"]
    shuffled += ["B11", "b12"]
    with rasterio.open(named / "n.tif", "r+") as f:
        f.descriptions = tuple(shuffled)
        data = f.read()
    out, _ = convert(named, tmp_path / "n.zarr", "patches", quiet=True)
    g = open_group(out)
    assert g.attrs["sensor"] == "s2-l1c"
    np.testing.assert_array_equal(g["bands"][0, 0, 8], data[0])  # B8A: card place 8
    np.testing.assert_array_equal(g["bands"][0, 0, 12], data[12])


def test_eurosat_resume_after_interruption_equals_uninterrupted(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    kw = dict(layout="patches", shard=1, threads=1, quiet=True)
    whole, _ = convert(EUROSAT, tmp_path / "whole.zarr", **kw)
    original, calls = StoreWriter.write, []

    def dying_write(self, start, stop, data, report=None):
        if len(calls) == 3:
            raise KeyboardInterrupt
        calls.append(start)
        original(self, start, stop, data, report)

    monkeypatch.setattr(StoreWriter, "write", dying_write)
    target = tmp_path / "resumed.zarr"
    with pytest.raises(KeyboardInterrupt):
        convert(EUROSAT, target, **kw)
    assert not target.exists() and (tmp_path / "resumed.zarr.partial").is_dir()
    written = []

    def counting_write(self, start, stop, data, report=None):
        written.append(start)
        original(self, start, stop, data, report)

    monkeypatch.setattr(StoreWriter, "write", counting_write)
    resumed, _ = convert(EUROSAT, target, **kw)
    assert sorted(written) == sorted(set(range(6)) - set(calls))
    a, b = zarr.open_group(whole), zarr.open_group(resumed)
    assert sorted(a.array_keys()) == sorted(b.array_keys())
    for name in a.array_keys():
        np.testing.assert_array_equal(a[name][...], b[name][...])
    assert a.attrs["scene_label_kind"] == b.attrs["scene_label_kind"]


@pytest.mark.slow  # three processes that each import lightning: about 30 s
def test_sigkill_then_rerun_equals_uninterrupted(tmp_path: Path) -> None:
    src = tmp_path / "src"
    _write_patches(src, [f"c{i % 3}/p{i}.tif" for i in range(24)], size=64)
    args = ["--layout", "patches", "--shard", "1", "--quiet"]
    killed, partial = tmp_path / "killed.zarr", tmp_path / "killed.zarr.partial"
    cmd = [sys.executable, "-m", "eossl.cli", "convert", str(src)]
    proc = subprocess.Popen([*cmd, str(killed), *args], stderr=subprocess.DEVNULL)
    done, deadline = partial / ".eossl_done", time.time() + 300
    try:
        while not (done.is_dir() and len(list(done.iterdir())) >= 3):
            assert proc.poll() is None, "finished before it could be killed"
            assert time.time() < deadline
            time.sleep(0.02)
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    assert not killed.exists() and partial.is_dir()
    for out in (killed, tmp_path / "whole.zarr"):
        subprocess.run([*cmd, str(out), *args], check=True, stdout=subprocess.DEVNULL)
    a, b = zarr.open_group(killed), zarr.open_group(tmp_path / "whole.zarr")
    assert sorted(a.array_keys()) == sorted(b.array_keys())
    for name in a.array_keys():
        np.testing.assert_array_equal(a[name][...], b[name][...])


def test_skip_bad_lists_unreadable_patches(tmp_path: Path) -> None:
    src = tmp_path / "eurosat"
    shutil.copytree(EUROSAT, src)
    (src / "Forest" / "Forest_1.tif").write_bytes(b"not a tiff")  # found when scanned
    truncated = src / "SeaLake" / "SeaLake_2.tif"
    with open(truncated, "r+b") as f:  # header intact, pixels missing: found when read
        f.truncate(truncated.stat().st_size - 3000)
    out, skipped = convert(src, tmp_path / "s.zarr", "patches", skip_bad=True, quiet=True)
    assert sorted(Path(b.path).name for b in skipped) == ["Forest_1.tif", "SeaLake_2.tif"]
    g = open_group(out)
    assert g.attrs["skipped"] == 2 and g["bands"].shape[0] == 5
    assert g["sample_id"][4, 0] == "" and (g["cloud_mask"][4] == 6).all()
    assert g["scene_label"][4].sum() == 0 and g.attrs["timestamps"]["per_sample"] == {
        "0": 1,
        "1": 4,
    }


def test_a_failed_run_says_what_it_keeps_and_resumes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from eossl.data.convert.patches import PatchPlan
    from eossl.data.convert.rasters import BadFileError, bad_file_error

    original, reads = PatchPlan.read_block, []

    def failing(self, start, stop, skip_bad):  # the sixth file read goes bad while writing
        reads.append(self.patches[0].path)
        if len(reads) == 6:
            bad = BadFileError(self.patches[0].path, "cannot read (truncated)")
            raise bad_file_error(bad.bad) from bad
        return original(self, start, stop, skip_bad)

    monkeypatch.setattr(PatchPlan, "read_block", failing)
    with pytest.raises(UserError) as err:
        convert(EUROSAT, tmp_path / "s.zarr", "patches", shard=1, threads=1, quiet=True)
    said = str(err.value)
    assert "s.zarr.partial keeps the 5 of 6 blocks written: the same command goes on" in said
    assert isinstance(err.value.__cause__, BadFileError)  # what evaluate reads: kept as it was
    monkeypatch.undo()
    out, _ = convert(EUROSAT, tmp_path / "s.zarr", "patches", shard=1, quiet=True)
    assert open_group(out)["bands"].shape[0] == 6


@pytest.mark.parametrize(
    ("case", "message"),
    [
        ("missing", "no such folder"),
        ("empty", "no GeoTIFF patches"),
        ("sensor", "has 4 bands but sensor 's2-l1c' has 13"),
        ("size", "is 24x24 px, expected 16x16"),
        ("class", "unknown class 'rock'; --classes lists crop, water"),
        ("columns", "row 2: expected 'path,label' (2 columns)"),
        ("escape", "row 1: path '../outside.tif' leaves SRC"),
        ("absolute", "is not a file inside SRC"),
        ("twice", "row 2: p1.tif is listed twice (row 1)"),
        ("nolabel", "row 1: no label"),
        ("eurosat-s1", "which sensor s1-grd lacks; pass the matching --sensor (s2-l1c)"),
        ("eurosat-s2a", "holds band B10, which sensor s2-l2a lacks"),  # was: L2A, B10 dropped
    ],
)
def test_errors_are_one_line_exit_2(
    case: str, message: str, tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    src, out, csv = tmp_path / "src", str(tmp_path / "o.zarr"), tmp_path / "l.csv"
    _write_patches(src, ["p1.tif", "p2.tif"])
    rows = {
        "class": "p1.tif,rock\n",
        "columns": "p1.tif,crop\np2.tif,crop,extra\n",
        "escape": "../outside.tif,crop\n",
        "absolute": f"{src / 'p1.tif'},crop\n",
        "twice": "p1.tif,crop\n./p1.tif,water\n",
        "nolabel": "p1.tif, ;\n",
    }
    argv = [str(src), out, "--layout", "patches"]
    if case in rows:
        csv.write_text(rows[case])
        argv += ["--labels", str(csv), "--classes", "crop,water"]
    elif case == "missing":
        argv[0] = str(tmp_path / "nope")
    elif case == "empty":
        argv[0] = str(tmp_path)
        shutil.rmtree(src)
    elif case == "sensor":
        argv += ["--sensor", "s2"]
    elif case == "size":
        _write_patches(src, ["p3.tif"], size=24)
    elif case.startswith("eurosat"):
        argv = [str(EUROSAT), out, "--layout", "patches", "--sensor", case.split("-")[1]]
    assert message in _error(argv, capsys)
    assert not Path(out).exists()


def test_patches_too_small_are_one_line(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    """1x1 patches converted, then pretraining blamed the learning rate for its NaN loss."""
    src = tmp_path / "tiny"
    _write_patches(src, ["forest/a.tif", "water/b.tif"], size=1)
    message = _error([str(src), str(tmp_path / "t.zarr"), "--layout", "patches"], capsys)
    assert "patches of 1x1 px are too small" in message and "--size 16" in message
    assert not (tmp_path / "t.zarr").exists()


def test_options_of_other_layouts_are_refused(tmp_path: Path) -> None:
    with pytest.raises(UserError, match="--scale is for the geotiff layout"):
        convert(EUROSAT, tmp_path / "x.zarr", "patches", scale=10000)
    with pytest.raises(UserError, match="--source and --classes are for the patches layout"):
        convert(EUROSAT, tmp_path / "x.zarr", "geotiff", source="eurosat")
    with pytest.raises(UserError, match="--labels .* is for the folder source"):
        convert(EUROSAT, tmp_path / "x.zarr", "patches", source="eurosat", labels=__file__)


def test_georeferenced_folder_coordinates(tmp_path: Path) -> None:
    src = tmp_path / "geo"
    transform = from_origin(500000, 5300000, 10, 10)
    _write_patches(src, ["g.tif"], crs="EPSG:32632", transform=transform)
    out, _ = convert(src, tmp_path / "g.zarr", "patches", quiet=True)
    g = open_group(out)
    assert g["crs"][0] == 32632 and 47 < g["center_lat"][0] < 48 and 8 < g["center_lon"][0] < 10
    np.testing.assert_allclose(g["y_"][0], 5300000 - 5 - 10 * np.arange(16))


def test_dask_distributed_scheduler_gives_the_same_store(tmp_path: Path) -> None:
    from distributed import LocalCluster

    local, _ = convert(EUROSAT, tmp_path / "t.zarr", "patches", quiet=True)
    with LocalCluster(n_workers=1, processes=False, dashboard_address=None) as cluster:
        dist, _ = convert(
            EUROSAT,
            tmp_path / "d.zarr",
            "patches",
            scheduler=cluster.scheduler_address,
            shard=2,
            quiet=True,
        )
    a, b = zarr.open_group(local), zarr.open_group(dist)
    for name in a.array_keys():
        np.testing.assert_array_equal(a[name][...], b[name][...])


def test_inputs_left_out_are_said(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    """Patches a labels CSV does not list, and folders of no GeoTIFF, were dropped in silence."""
    src = tmp_path / "src"
    _write_patches(src, ["p1.tif", "p2.tif", "p3.tif"])
    (tmp_path / "l.csv").write_text("path,label\np1.tif,water\n")
    out, _ = convert(src, tmp_path / "c.zarr", "patches", labels=tmp_path / "l.csv", quiet=True)
    assert "2 GeoTIFF(s) in" in capsys.readouterr().err
    assert open_group(out)["bands"].shape[0] == 1  # the header row is no patch
    shutil.copy(src / "p2.tif", src / "p2")  # a file named without a suffix: a row, no header
    (tmp_path / "n.csv").write_text("p2,crop\np1.tif,water\n")
    out, _ = convert(src, tmp_path / "n.zarr", "patches", labels=tmp_path / "n.csv", quiet=True)
    assert open_group(out)["bands"].shape[0] == 2
    classes = tmp_path / "classes"
    _write_patches(classes, ["crop/a.tif", "water/b.tif"])
    (classes / "EmptyClass").mkdir()
    convert(classes, tmp_path / "k.zarr", "patches", quiet=True)
    assert "folder(s) EmptyClass hold no GeoTIFF: not classes" in capsys.readouterr().err
    argv = [str(src), str(tmp_path / "x.zarr"), "--layout", "patches", "--classes", "nofile.txt"]
    line = _error(argv, capsys)
    assert "--classes nofile.txt: no such file" in line  # was: unknown class 'p1'
