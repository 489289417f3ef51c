"""Writing stores: atomic, resumable, both zarr formats, readable by zarr, xarray and eossl."""

from pathlib import Path

import numpy as np
import pytest
import xarray as xr
import zarr

from eossl.cli import main
from eossl.data import SeasonalZarrDataset
from eossl.data.io.codecs import CODECS, DEFAULT_CODEC
from eossl.data.io.describe import describe
from eossl.data.io.schema import codec_name, open_group
from eossl.data.io.writer import StoreSpec, StoreWriter
from eossl.data.synthetic.store import builtin_store, write_synthetic
from eossl.errors import UserError

KW = dict(sensor="s2", samples=6, size=16, seasons=3, seed=5, labels=True, shard=2, quiet=True)


def _killed_after_one_block(run) -> None:  # noqa: ANN001
    """``run()`` interrupted (KeyboardInterrupt) once its first block is written."""
    original, calls = StoreWriter.write, {"n": 0}

    def dying_write(self, start, stop, data):
        if calls["n"] == 1:
            raise KeyboardInterrupt
        calls["n"] += 1
        original(self, start, stop, data)

    StoreWriter.write = dying_write
    try:
        with pytest.raises(KeyboardInterrupt):
            run()
    finally:
        StoreWriter.write = original


def test_resume_after_interruption_equals_uninterrupted(tmp_path: Path) -> None:
    whole = write_synthetic(tmp_path / "whole.zarr", **KW)
    # an interrupted run: the first block written, then the process died
    target = tmp_path / "resumed.zarr"
    _killed_after_one_block(lambda: write_synthetic(target, threads=1, **KW))
    assert not target.exists() and target.with_name("resumed.zarr.partial").exists()
    with pytest.raises(UserError, match="not completely written"):
        SeasonalZarrDataset(target.with_name("resumed.zarr.partial"))
    # a kill inside a chunk write leaves zarr's temporary file beside the chunk
    shard = target.with_name("resumed.zarr.partial") / "bands" / "c" / "2" / "0" / "0" / "0"
    shard.mkdir(parents=True, exist_ok=True)
    (shard / f"0.{'ab12' * 8}.partial").write_bytes(b"half a shard")
    resumed = write_synthetic(target, **KW)
    assert not [p for p in resumed.rglob("*") if p.name.endswith(".partial")]
    a, b = zarr.open_group(whole, mode="r"), zarr.open_group(resumed, mode="r")
    for name in ("bands", "cloud_mask", "label", "time_", "center_lat"):
        np.testing.assert_array_equal(a[name][...], b[name][...])
    np.testing.assert_allclose(a.attrs["stats"]["mean"], b.attrs["stats"]["mean"])


@pytest.mark.parametrize("name", ["old.zarr", "old.zarr.zip"])
def test_overwrite_keeps_the_old_store_until_the_new_one_is_whole(
    tmp_path: Path, name: str
) -> None:
    old = write_synthetic(tmp_path / name, **KW)
    before = open_group(old)["bands"][...]
    # a run that would replace it dies half-way (was: the old store deleted first)
    _killed_after_one_block(
        lambda: write_synthetic(old, overwrite=True, threads=1, **{**KW, "seed": 6})
    )
    np.testing.assert_array_equal(open_group(old)["bands"][...], before)
    write_synthetic(old, overwrite=True, **{**KW, "seed": 6})  # resumes, then replaces it
    after = open_group(old)["bands"][...]
    assert not np.array_equal(after, before)
    assert sorted(p.name for p in tmp_path.iterdir()) == [name]  # no .partial, no .replaced


def test_zarr_format_2_zip(tmp_path: Path) -> None:
    out = write_synthetic(tmp_path / "v2.zarr.zip", zarr_format=2, **KW)
    assert out.is_file() and not (tmp_path / "v2.zarr.partial").exists()
    ds = SeasonalZarrDataset(out, seasons="all")
    assert len(ds) == 6 and ds[0]["image"].shape == (3, 13, 16, 16)
    ref = xr.open_zarr(zarr.storage.ZipStore(out, mode="r"))
    np.testing.assert_array_equal(ds[5]["image"].numpy(), ref.bands[5].values.astype("float32"))
    assert str(ref.time_.dtype).startswith("datetime64")


def test_stats_match_numpy(tmp_path: Path) -> None:
    out = write_synthetic(tmp_path / "s.zarr", **KW)
    group = zarr.open_group(out, mode="r")
    bands = group["bands"][...][..., ::2, ::2].astype(np.float64)
    clear = ~np.isin(group["cloud_mask"][...][..., ::2, ::2], (3, 4, 5, 6))
    for band in (0, 7, 12):
        values = bands[:, :, band][clear]
        assert group.attrs["stats"]["mean"][band] == pytest.approx(values.mean(), rel=1e-9)
        assert group.attrs["stats"]["std"][band] == pytest.approx(values.std(), rel=1e-6)


def test_spec_mismatch_restarts_partial(tmp_path: Path) -> None:
    spec = StoreSpec(
        samples=4, times=2, band_names=["a", "b"], height=4, width=4, dtype="uint16", shard=2
    )
    assert not StoreWriter(tmp_path / "x.zarr", spec).restarted  # leaves an empty partial
    assert not StoreWriter(tmp_path / "x.zarr", spec).restarted  # the same: resumed
    other = StoreSpec(
        samples=4, times=3, band_names=["a", "b"], height=4, width=4, dtype="uint16", shard=2
    )
    writer = StoreWriter(tmp_path / "x.zarr", other)
    assert writer.group["bands"].shape[1] == 3 and len(writer.pending()) == 2
    assert writer.restarted  # the converters say so in one line


def test_builtin_store_is_cached_and_rebuilt_if_incomplete(tmp_path: Path) -> None:
    first = builtin_store("s1", samples=4, size=16, seasons=2, quiet=True)
    assert first.is_relative_to(tmp_path.parent.parent) or first.exists()
    mtime = first.stat().st_mtime
    assert builtin_store("s1", samples=4, size=16, seasons=2, quiet=True) == first
    assert first.stat().st_mtime == mtime  # reused, not rebuilt
    import shutil

    shutil.move(first, first.with_name(first.name + ".partial"))  # as if killed
    rebuilt = builtin_store("s1", samples=4, size=16, seasons=2, quiet=True)
    assert rebuilt == first and len(SeasonalZarrDataset(rebuilt)) == 4


# (codec, zarr format, what `eossl info` shows as codec, and as checksum)
WRITTEN = [
    ("lz4", 3, "sharding[blosc(lz4, shuffle, level 5), crc32c]", "crc32c per chunk"),
    ("zstd", 3, "sharding[blosc(zstd, bitshuffle, level 3), crc32c]", "crc32c per chunk"),
    ("zstd-3", 3, "sharding[zstd(level 3)]", "none on chunks (crc32c on the shard index only)"),
    ("lz4", 2, "blosc(lz4, shuffle, level 5)", "zip CRC-32 per chunk (file member)"),
    ("zstd", 2, "blosc(zstd, bitshuffle, level 3)", "zip CRC-32 per chunk (file member)"),
    ("zstd-3", 2, "zstd(level 3)", "zip CRC-32 per chunk (file member)"),
]


def test_every_codec_writes_the_same_values_and_info_names_it(tmp_path: Path) -> None:
    assert DEFAULT_CODEC == "lz4" and set(CODECS) == {"lz4", "zstd", "zstd-3"}
    # zstd-3 in zarr 3 is what eossl wrote before --codec: such stores still read
    ref = zarr.open_group(write_synthetic(tmp_path / "ref.zarr", codec="zstd-3", **KW), mode="r")
    ref_item = SeasonalZarrDataset(tmp_path / "ref.zarr", seasons="all")[4]
    for codec, fmt, shown, checksum in WRITTEN:
        name = f"{codec}.zarr" if fmt == 3 else f"{codec}.zarr.zip"
        out = write_synthetic(tmp_path / name, codec=codec, zarr_format=fmt, **KW)
        group = open_group(out)  # a .zarr.zip, or a directory
        for var in ("bands", "cloud_mask", "label", "time_", "center_lat", "sample_id"):
            np.testing.assert_array_equal(group[var][...], ref[var][...], err_msg=name)
        item = SeasonalZarrDataset(out, seasons="all")[4]
        np.testing.assert_array_equal(item["image"].numpy(), ref_item["image"].numpy())
        facts = describe(out)
        assert (facts["codec"], facts["checksum"]) == (shown, checksum), name


def test_default_codec_checksums_every_array(tmp_path: Path) -> None:
    group = zarr.open_group(write_synthetic(tmp_path / "s.zarr", **KW), mode="r")
    for name in group.array_keys():  # bands, small per-sample arrays and strings alike
        assert "crc32c" in codec_name(group[name]), name


def test_unknown_codec_is_a_one_line_error(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    from eossl.data.convert.write import convert

    with pytest.raises(UserError, match="unknown codec 'lz5'; choose one of lz4, zstd, zstd-3"):
        write_synthetic(tmp_path / "x.zarr", codec="lz5", **KW)
    assert not list(tmp_path.iterdir())  # refused before anything is written
    with pytest.raises(UserError, match="choose one of lz4, zstd, zstd-3"):
        convert(tmp_path / "src", tmp_path / "y.zarr", "geotiff", codec="brotli")
    for command in (["synth", str(tmp_path / "z.zarr")], ["convert", "src", "z.zarr"]):
        layout = ["--layout", "geotiff"] if command[0] == "convert" else []
        assert main([*command, *layout, "--codec", "lz5"]) == 2
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and "'lz4', 'zstd', 'zstd-3'" in err[0]


def test_codec_in_the_resume_fingerprint(tmp_path: Path) -> None:
    def spec(codec: str) -> StoreSpec:
        return StoreSpec(
            samples=4, times=2, band_names=["a", "b"], height=4, width=4, dtype="uint16",
            shard=2, codec=codec, cloud_mask=False,
        )  # fmt: skip

    # partial stores of older eossl (zstd-3, no codec recorded) resume with --codec zstd-3
    assert "codec" not in spec("zstd-3").fingerprint()
    assert spec("lz4").fingerprint()["codec"] == "lz4"
    first = StoreWriter(tmp_path / "x.zarr", spec("zstd-3"))
    first.write(0, 2, {"bands": np.ones((2, 2, 2, 4, 4), "uint16")})
    assert StoreWriter(tmp_path / "x.zarr", spec("zstd-3")).pending() == [(2, 4)]
    # another codec never mixes into it: the partial store restarts
    other = StoreWriter(tmp_path / "x.zarr", spec("lz4"))
    assert len(other.pending()) == 2 and "lz4" in codec_name(other.group["bands"])


def test_a_failed_move_into_place_puts_the_old_store_back(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import os

    from eossl.data.io import writer

    old = write_synthetic(tmp_path / "o.zarr", **KW)
    before = open_group(old)["bands"][...]
    real, calls = os.replace, []

    def second_fails(src, dst):  # the old store moved aside, then the new one cannot move in
        calls.append(dst)
        if len(calls) == 2:
            raise OSError("disk gone")
        real(src, dst)

    monkeypatch.setattr(writer.os, "replace", second_fails)
    with pytest.raises(OSError, match="disk gone"):
        write_synthetic(old, overwrite=True, **{**KW, "seed": 6})
    monkeypatch.undo()
    np.testing.assert_array_equal(open_group(old)["bands"][...], before)
    assert not (tmp_path / "o.zarr.replaced").exists()
    (tmp_path / "o.zarr.replaced").mkdir()  # as a kill between the two renames leaves it
    write_synthetic(old, overwrite=True, **{**KW, "seed": 6})
    assert sorted(p.name for p in tmp_path.iterdir()) == ["o.zarr"]


def test_a_store_larger_than_the_free_disk_is_said_first(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture
) -> None:
    """The uncompressed size against the disk's free space, before the first block."""
    import collections
    import shutil

    usage = collections.namedtuple("usage", "total used free")
    monkeypatch.setattr(shutil, "disk_usage", lambda path: usage(10**9, 10**9 - 5000, 5000))
    write_synthetic(tmp_path / "s.zarr", **KW)
    err = capsys.readouterr().err
    want = "6 samples x 3 dates x 13 bands x 16x16 px are 119.8 kB before compression, and "
    assert want + "the disk has 5.0 kB free" in err.replace("\n", " ")
    monkeypatch.undo()
    write_synthetic(tmp_path / "t.zarr", **KW)
    assert "before compression" not in capsys.readouterr().err
