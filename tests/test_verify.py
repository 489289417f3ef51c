"""``eossl verify``: every chunk checksum of a store, checked at rest (#28)."""

import shutil
import zipfile
from pathlib import Path

import numpy as np
import pytest
from crc32c import crc32c
from helpers import flip_chunk_byte

from eossl.cli import main
from eossl.data.io.verify import verify_store


def test_crc32c_is_the_castagnoli_checksum() -> None:
    assert crc32c(b"123456789") == 0xE3069283  # the check value of CRC-32C


@pytest.fixture
def store(s2_store: Path, tmp_path: Path) -> Path:
    copy = tmp_path / "s2.zarr"
    shutil.copytree(s2_store, copy)
    return copy


def test_clean_store_passes(store: Path, capsys: pytest.CaptureFixture) -> None:
    check = verify_store(store, quiet=True)
    files = [p for p in store.rglob("*") if p.is_file() and p.name != "zarr.json"]
    assert check.damage == [] and check.files == len(files)
    assert check.bytes == sum(p.stat().st_size for p in files)
    assert main(["verify", str(store), "--quiet"]) == 0
    assert "GB/s" in capsys.readouterr().out


def test_flipped_byte_names_its_samples(store: Path, capsys: pytest.CaptureFixture) -> None:
    flip_chunk_byte(store, sample=5, time=1)
    (damage,) = verify_store(store, quiet=True).damage
    assert damage.array == "bands" and damage.samples == (5, 6)
    assert "has a crc32c mismatch" in damage.problem
    assert main(["verify", str(store), "--quiet"]) == 2
    captured = capsys.readouterr()
    assert "damaged chunks" in captured.out and "5-5" in captured.out
    (error,) = [ln for ln in captured.err.splitlines() if ln.startswith("error:")]
    assert "1 damaged chunk(s) in 1 store(s)" in error


def test_damaged_shard_index_and_truncated_shard(store: Path) -> None:
    shard = store / "bands" / "c" / "0" / "0" / "0" / "0" / "0"
    raw = bytearray(shard.read_bytes())
    raw[-6] ^= 0x01  # inside the index
    shard.write_bytes(bytes(raw))
    (damage,) = verify_store(store, quiet=True).damage
    assert "shard index" in damage.problem and damage.samples is not None
    shard.write_bytes(bytes(raw[:10]))
    (damage,) = verify_store(store, quiet=True).damage
    assert "truncated" in damage.problem


def test_zip_member_crc(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    out = tmp_path / "x.zarr.zip"
    assert main(["synth", str(out), "--samples", "6", "--size", "16"]) == 0
    with zipfile.ZipFile(out) as zf:
        members = len([i for i in zf.infolist() if not i.is_dir()])
    check = verify_store(out, quiet=True)
    assert check.damage == [] and check.chunks == members
    flip_chunk_byte(out, sample=2, time=0)
    (damage,) = verify_store(out, quiet=True).damage
    assert damage.file.startswith("bands/2.0.") and damage.problem == "zip CRC-32 mismatch"
    assert damage.samples == (2, 3)
    assert main(["verify", str(out), "--quiet"]) == 2


def test_format2_directory_is_said_unchecked(
    tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    out = tmp_path / "x.zarr.zip"
    assert main(["synth", str(out), "--samples", "4", "--size", "16"]) == 0
    folder = tmp_path / "dir.zarr"
    with zipfile.ZipFile(out) as zf:
        zf.extractall(folder)
    assert main(["verify", str(folder), "--quiet"]) == 0
    assert "eossl:" in capsys.readouterr().err  # the notice: no checksum to check
    chunk = next(p for p in (folder / "bands").iterdir() if not p.name.startswith("."))
    chunk.unlink()  # a fill value to zarr: read as nodata, unless the store says every chunk
    assert main(["verify", str(folder), "--quiet"]) == 2
    assert f"bands/{chunk.name}" in capsys.readouterr().out  # the damaged-chunk table
    assert main(["info", str(folder)]) == 2
    assert "missing (deleted" in capsys.readouterr().err
    import shutil

    shutil.rmtree(folder / "bands")  # .zmetadata still lists it: zarr read it as all nodata
    for command in ("verify", "info"):
        assert main([command, str(folder)]) == 2
        assert "bands/.zarray: missing, though the store's .zmetadata lists it" in (
            capsys.readouterr().err
        )


def test_one_unreadable_store_hides_no_other(
    store: Path, tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    """Several stores: one that does not open is a row of the table, the others are checked."""
    import shutil

    folder = tmp_path / "many"
    folder.mkdir()
    shutil.copytree(store, folder / "good.zarr")
    with zipfile.ZipFile(folder / "junk.zarr.zip", "w") as zf:
        zf.writestr("hello.txt", "hi")
    assert main(["verify", str(folder), "--quiet"]) == 2
    said = capsys.readouterr()
    assert "good.zarr" in said.out and "junk.zarr.zip" in said.out
    assert said.err.strip().splitlines()[-1].startswith("error: 1 damaged")


@pytest.mark.parametrize("damage", ["incomplete", "bands gone", "bands metadata gone", "no zarr"])
def test_a_store_verify_cannot_read_is_one_line(
    damage: str, store: Path, tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    """Once, verify said "0 bad chunks" (exit 0) of stores that info and pretrain refuse."""
    import json
    import shutil

    if damage == "incomplete":
        meta = json.loads((store / "zarr.json").read_text())
        meta["attributes"]["eossl_complete"] = False
        (store / "zarr.json").write_text(json.dumps(meta))
    elif damage == "bands gone":
        shutil.rmtree(store / "bands")
    elif damage == "bands metadata gone":
        (store / "bands" / "zarr.json").unlink()
    else:
        store = tmp_path / "hello.zarr.zip"
        with zipfile.ZipFile(store, "w") as zf:
            zf.writestr("hello.txt", "hi")
    assert main(["verify", str(store), "--quiet"]) == 2
    (error,) = [ln for ln in capsys.readouterr().err.splitlines() if ln.startswith("error:")]
    assert str(store) in error


def test_missing_path_is_one_line(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    assert main(["verify", str(tmp_path / "nope.zarr")]) == 2
    (error,) = [ln for ln in capsys.readouterr().err.splitlines() if ln.startswith("error:")]
    assert "no such file or directory" in error


def test_many_shards_in_parallel_blocks(store: Path) -> None:
    """Every shard file is checked once, whatever the blocks' grouping."""
    from eossl.data.io import verify

    files = [p for p in (store / "bands" / "c").rglob("*") if p.is_file()]
    grouped, totals = verify._batches(files, [1] * len(files), 2)
    assert totals == [len(b) for b in grouped]
    assert sum(len(b) for b in grouped) == len(files) and all(len(b) <= 2 for b in grouped)
    assert np.all([verify.verify_store(store, threads=t, quiet=True).damage == [] for t in (1, 2)])


def test_convert_verify_checks_what_it_wrote(
    v11_s2: Path, tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    out = tmp_path / "s2.zarr"
    args = ["convert", str(v11_s2), str(out), "--layout", "zarr", "--quiet", "--verify"]
    assert main(args) == 0
    printed = capsys.readouterr().out
    assert "eossl verify" in printed and "GB/s" in printed
    assert verify_store(out, quiet=True).chunks > 0


def test_unreadable_metadata_and_zip_are_one_line(
    store: Path, tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    (store / "bands" / "zarr.json").write_text("{not json")
    assert main(["verify", str(store), "--quiet"]) == 2
    (error,) = [ln for ln in capsys.readouterr().err.splitlines() if ln.startswith("error:")]
    assert "damaged zarr metadata" in error
    broken = tmp_path / "broken.zarr.zip"
    broken.write_bytes(b"PK\x03\x04 not really a zip")
    assert main(["verify", str(broken), "--quiet"]) == 2
    (error,) = [ln for ln in capsys.readouterr().err.splitlines() if ln.startswith("error:")]
    assert "broken.zarr.zip" in error


def test_missing_chunk_file_names_its_samples(store: Path, capsys: pytest.CaptureFixture) -> None:
    """eossl writes every chunk (fill values too): a deleted shard is damage, not nodata."""
    shard = store / "bands" / "c" / "1" / "0" / "0" / "0" / "0"  # samples 4-7
    shard.unlink()
    (damage,) = verify_store(store, quiet=True).damage
    assert damage.file == "bands/c/1/0/0/0/0" and damage.samples == (4, 8)
    assert damage.problem == "file missing"
    assert main(["verify", str(store), "--quiet"]) == 2
    assert "1 damaged chunk(s)" in capsys.readouterr().err


def test_missing_chunk_file_stops_readers(store: Path, capsys: pytest.CaptureFixture) -> None:
    """Stats, info and pretraining refuse a store lacking a shard (read as nodata else)."""
    (store / "bands" / "c" / "1" / "0" / "0" / "0" / "0").unlink()
    for command in (["stats", str(store)], ["info", str(store)]):
        assert main(command) == 2
        (error,) = [ln for ln in capsys.readouterr().err.splitlines() if ln.startswith("error:")]
        assert "bands/c/1/0/0/0/0 (samples 4-7) missing (deleted" in error
    from eossl.data.dataset import SeasonalZarrDataset
    from eossl.errors import UserError

    with pytest.raises(UserError, match="samples 4-7"):
        SeasonalZarrDataset(store)


def test_chunks_of_fill_values_are_written(tmp_path: Path) -> None:
    """Samples of nodata (the fill value) are written too: a clean store has no missing file."""
    from eossl.data.io.writer import StoreSpec, StoreWriter

    spec = StoreSpec(
        samples=4, times=2, band_names=["a", "b"], height=4, width=4, dtype="uint16", shard=2
    )  # fmt: skip
    writer = StoreWriter(tmp_path / "x.zarr", spec)
    for start, stop in writer.pending():
        writer.write(start, stop, {"bands": np.zeros((2, 2, 2, 4, 4), "uint16")})  # all nodata
    out = writer.finalize()
    assert (out / "bands" / "c" / "1" / "0" / "0" / "0" / "0").is_file()
    assert verify_store(out, quiet=True).damage == []


@pytest.mark.parametrize("where", ["root", "bands"])
@pytest.mark.parametrize("text", ["[]", "{}", '{"zarr_format": 3, "node_type": "array"}'])
def test_metadata_of_the_wrong_shape_is_one_line(
    store: Path, where: str, text: str, capsys: pytest.CaptureFixture
) -> None:
    """A zarr.json that parses but is no zarr metadata: one line naming it (was a traceback)."""
    meta = store / "zarr.json" if where == "root" else store / "bands" / "zarr.json"
    meta.write_text(text)
    assert main(["verify", str(store), "--quiet"]) == 2
    (error,) = [ln for ln in capsys.readouterr().err.splitlines() if ln.startswith("error:")]
    assert str(meta) in error and "metadata" in error
    for command in (["info", str(store)], ["stats", str(store), "--quiet"]):  # were tracebacks
        assert main(command) == 2
        (error,) = [ln for ln in capsys.readouterr().err.splitlines() if ln.startswith("error:")]
        assert str(store) in error and ("metadata" in error or "cannot open" in error)


def test_chunk_listing_follows_links_to_files_only(tmp_path: Path) -> None:
    """A dangling link is no chunk file (it was, and verify then failed on its stat)."""
    from eossl.data.io.chunks import chunk_keys

    array = tmp_path / "bands"
    (array / "c" / "0").mkdir(parents=True)
    (array / "c" / "0" / "0").write_bytes(b"x")
    (array / "c" / "0" / "1").symlink_to(tmp_path / "gone")  # dangling
    (tmp_path / "real").write_bytes(b"y")
    (array / "c" / "0" / "2").symlink_to(tmp_path / "real")
    (array / "zarr.json").write_text("{}")
    (array / "nested" / "c").mkdir(parents=True)  # a nested array's chunks are not its own
    (array / "nested" / "c" / "0").write_bytes(b"z")
    (array / "0.1").write_bytes(b"v2")
    assert chunk_keys(array) == {"c/0/0", "c/0/2", "0.1"}
