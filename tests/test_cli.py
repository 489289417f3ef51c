"""The `eossl` command line: subcommands, tables, one-line errors with exit code 2."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

from eossl.cli import main
from eossl.data import SeasonalZarrDataset


def test_help_lists_real_subcommands(capsys: pytest.CaptureFixture) -> None:
    assert main([]) == 0
    out = capsys.readouterr().out
    for name in ("pretrain", "synth", "info", "sensors"):
        assert name in out


def test_synth_then_info(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    out = tmp_path / "s1.zarr"
    assert (
        main(
            [
                "synth",
                str(out),
                "--sensor",
                "s1",
                "--samples",
                "5",
                "--size",
                "24",
                "--seasons",
                "3",
                "--labels",
                "--shard",
                "2",
            ]
        )
        == 0
    )
    text = capsys.readouterr().out
    assert "samples" in text and "vv, vh" in text and "blosc(lz4" in text
    assert "crc32c per chunk" in text
    ds = SeasonalZarrDataset(out, seasons="all")
    assert len(ds) == 5 and ds[4]["image"].shape == (3, 2, 24, 24) and ds.has_label


@pytest.mark.parametrize(
    ("stats", "says"),
    [
        ({"mean": ["x", "y"], "std": [1, 1]}, "damaged (its stats mean attribute is 'x'"),
        ({"mean": [0.0], "std": [1.0]}, "damaged (mean holds 1 values for 2 bands)"),
        ({"mean": [0.0, 0.0], "std": [1.0, -1.0]}, "damaged (its stats std holds -1, damaged"),
    ],
)
def test_info_says_damaged_stats(
    stats: dict, says: str, tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    """Info said "stats: yes" of statistics that pretraining then refused."""
    import json

    out = tmp_path / "s1.zarr"
    assert main(["synth", str(out), "--sensor", "s1", "--samples", "2", "--size", "16"]) == 0
    meta = json.loads((out / "zarr.json").read_text())
    meta["attributes"]["stats"] = {**meta["attributes"].get("stats", {}), **stats}
    (out / "zarr.json").write_text(json.dumps(meta))
    capsys.readouterr()
    assert main(["info", str(out)]) == 0
    assert says in capsys.readouterr().out


def test_info_on_mixed_sensors_names_each(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    from eossl.data.io.describe import describe

    common = ["--samples", "2", "--size", "16", "--seasons", "2"]
    for name, sensor in (("a.zarr", "s2"), ("b.zarr", "s2"), ("c.zarr", "s1")):
        assert main(["synth", str(tmp_path / name), "--sensor", sensor, *common]) == 0
    facts = describe(tmp_path)
    assert facts["sensor"] == "s2-l1c (2 files), s1-grd (1 file)"
    assert facts["image size"] == "16 x 16" and "bands (first file)" in facts
    assert main(["info", str(tmp_path)]) == 0
    assert "s1-grd (1 file)" in capsys.readouterr().out


def test_synth_zip_is_v11_form(tmp_path: Path) -> None:
    import zarr

    out = tmp_path / "x.zarr.zip"
    assert main(["synth", str(out), "--samples", "3", "--size", "16", "--seasons", "2"]) == 0
    group = zarr.open_group(zarr.storage.ZipStore(out, mode="r"), mode="r")
    assert group.metadata.zarr_format == 2 and group["bands"].chunks == (1, 1, 13, 16, 16)
    ds = SeasonalZarrDataset(out)
    assert len(ds) == 3 and ds.stores[0].sensor.name == "s2-l1c"


def test_info_on_v11_archive(v11_s2: Path, capsys: pytest.CaptureFixture) -> None:
    assert main(["info", str(v11_s2)]) == 0
    out = capsys.readouterr().out
    for fact in ("128", "s2-l1c", "int16", "(8, 1, 13, 16, 16)", "blosc"):
        assert fact in out


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["info", "/no/such/store"], "no such file or directory"),
        (["synth", "x.zarr", "--sensor", "nope"], "unknown sensor 'nope'"),
        (["synth", "x.zarr", "--samples", "0"], "--samples must be at least 1"),
        (["synth", "x.zarr.zip", "--zarr-format", "3"], "zarr format 2"),
        (["convert", "s", "o.zarr", "--layout", "geotiff", "--stride", "0"], "--stride must be"),
        (["convert", "s", "o.zarr", "--layout", "geotiff", "--max-nodata", "2"], "[0, 1]"),
        (["convert", "s", "o.zarr", "--layout", "zarr", "--size", "8"], "not used by the zarr"),
        (["pretrain", "--data.max_cloud_fraction", "2"], "max_cloud_fraction is a fraction"),
        (["verify", "x.zarr", "--threads", "0"], "--threads: must be at least 1"),  # traceback
        (["export", "x.ckpt", "o", "--harness", ""], "--harness '' names none"),  # was exit 0
        (["convert", "s", "o.zarr", "--layout", "patches", "--size", "100000"], "at most 4096"),
    ],
)
def test_errors_one_line_exit_2(
    argv: list[str], message: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    proc = subprocess.run(
        [sys.executable, "-m", "eossl.cli", *argv], capture_output=True, text=True
    )
    assert proc.returncode == 2
    *notices, last = proc.stderr.strip().splitlines()
    assert last.startswith("error:") and message in last
    assert all(n.startswith("eossl: ") for n in notices), notices  # what eossl chose, if any
    assert "Traceback" not in proc.stderr


def test_a_store_of_another_sensor_of_as_many_bands_is_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    """Landsat 8 OLI data read as Landsat 5 TM (7 bands each) was accepted without a word."""
    store = tmp_path / "oli.zarr"
    assert main(["synth", str(store), "--sensor", "oli-sr", "--samples", "2", "--size", "8"]) == 0
    capsys.readouterr()
    assert main(["info", str(store), "--sensor", "tm-toa"]) == 2
    err = capsys.readouterr().err
    assert "holds landsat-oli-sr data (its 'sensor' attribute), not landsat-tm-toa" in err
    assert main(["info", str(store), "--sensor", "oli-sr"]) == 0


def test_debug_shows_traceback(tmp_path: Path) -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "eossl.cli", "--debug", "info", str(tmp_path / "none")],
        capture_output=True,
        text=True,
    )
    assert proc.returncode != 0 and "Traceback" in proc.stderr


def test_existing_output_needs_overwrite(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    out = tmp_path / "a.zarr"
    args = ["synth", str(out), "--samples", "2", "--size", "8", "--seasons", "2"]
    assert main(args) == 0
    assert main(args) == 2
    assert "--overwrite" in capsys.readouterr().err
    assert main([*args, "--overwrite"]) == 0


def test_convert_never_replaces_its_own_source(
    tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    """OUT that is SRC, or holds it, is refused before anything is deleted."""
    src = tmp_path / "a.zarr"
    assert main(["synth", str(src), "--samples", "2", "--size", "8", "--seasons", "2"]) == 0
    before = sorted(p.relative_to(src) for p in src.rglob("*"))
    for out in (src, tmp_path):
        code = main(["convert", str(src), str(out), "--layout", "zarr", "--overwrite"])
        assert code == 2
        assert "is the source" in capsys.readouterr().err.strip().splitlines()[-1]
    assert sorted(p.relative_to(src) for p in src.rglob("*")) == before


def test_tables_are_whole_in_a_log(tmp_path: Path) -> None:
    """Off a terminal (a pipe, a log), tables are not cut at 80 columns."""
    env = {**os.environ, "EOSSL_WEIGHTS": str(tmp_path / "none"), "COLUMNS": ""}
    out = subprocess.run(
        [sys.executable, "-m", "eossl.cli", "sensors"], capture_output=True, text=True, env=env
    ).stdout
    assert "landsat-oli-tirs-toa" in out and "…" not in out
    out = subprocess.run(
        [sys.executable, "-m", "eossl.cli", "weights", "list"],
        capture_output=True,
        text=True,
        env=env,
    ).stdout
    assert "no weights registered" in out and "--register" in out


def test_info_without_path_describes_the_demo_store(capsys: pytest.CaptureFixture) -> None:
    import yaml

    from eossl.data.datamodule import SeasonalZarrDataModule
    from eossl.pretrain import configs_dir

    assert main(["info"]) == 0
    out = capsys.readouterr()
    assert "no path given: the built-in synthetic sample" in out.err
    data = yaml.safe_load((configs_dir() / "demo.yaml").read_text())["data"]
    demo = SeasonalZarrDataModule(
        synthetic_samples=data["synthetic_samples"], synthetic_size=data["synthetic_size"]
    )
    size = data["synthetic_size"]
    assert Path(demo.root).name in out.out and f"{size} x {size}" in out.out  # the same store
