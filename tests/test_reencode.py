"""``eossl convert --layout zarr``: schema stores re-encoded into eossl's sharded layout."""

from pathlib import Path

import numpy as np
import pytest
import zarr
from helpers import assert_same_items, flip_chunk_byte

from eossl.data.convert.write import convert
from eossl.data.dataset import SeasonalZarrDataset
from eossl.data.io.schema import checksum_name, open_group
from eossl.data.normalize import resolve_stats
from eossl.data.synthetic.store import write_synthetic
from eossl.errors import UserError

V11 = Path(__file__).parent / "data" / "ssl4eo_s12_v11" / "train"


@pytest.mark.parametrize("modality", ["S2L1C", "S1GRD"])
def test_v11_archive_reencodes_value_for_value(tmp_path: Path, modality: str) -> None:
    src = V11 / modality
    out, skipped = convert(src, tmp_path / "out.zarr", "zarr", quiet=True)
    assert skipped == []
    group = open_group(out)
    bands = group["bands"]
    assert bands.metadata.zarr_format == 3 and bands.chunks == (1, 1, *bands.shape[2:])
    assert checksum_name(bands) == "crc32c per chunk"
    kw = {"seasons": "all", "reader": "zarr"}
    source, copy = SeasonalZarrDataset(src, **kw), SeasonalZarrDataset(out, **kw)
    assert copy.sensor == source.sensor  # now recorded, not guessed from the folder name
    assert_same_items(source, copy)
    for name in ("sample_id", "file_id", "crs", "x_", "y_"):
        whole = np.concatenate([open_group(p)[name][...] for p in sorted(src.iterdir())])
        np.testing.assert_array_equal(group[name][...], whole.astype(group[name].dtype))
    a = resolve_stats(source.stores[0], source.sensor)
    b = resolve_stats(copy.stores[0], copy.sensor)
    assert (a.mean, a.std, a.offset) == (b.mean, b.std, b.offset)  # normalised the same


def test_any_schema_store_with_labels(tmp_path: Path, s2_store: Path) -> None:
    out, _ = convert(s2_store, tmp_path / "z.zarr", "zarr", codec="zstd", shard=5, quiet=True)
    assert open_group(out)["bands"].shards[0] == 5
    kw = {"seasons": "all", "reader": "zarr"}
    assert_same_items(SeasonalZarrDataset(s2_store, **kw), SeasonalZarrDataset(out, **kw))
    assert open_group(out).attrs["stats"] == open_group(s2_store).attrs["stats"]


def test_mismatched_stores_and_raster_flags_are_one_line_errors(
    tmp_path: Path, s2_store: Path
) -> None:
    mixed = tmp_path / "mixed"
    mixed.mkdir()
    (mixed / "a.zarr.zip").symlink_to(next((V11 / "S2L1C").iterdir()).resolve())
    (mixed / "b.zarr.zip").symlink_to(next((V11 / "S1GRD").iterdir()).resolve())
    with pytest.raises(UserError, match=r"b\.zarr\.zip: .* differs from .*a\.zarr\.zip"):
        convert(mixed, tmp_path / "o.zarr", "zarr", quiet=True)
    with pytest.raises(UserError, match="--size is not used by the zarr layout"):
        convert(s2_store, tmp_path / "o.zarr", "zarr", size=8, quiet=True)
    with pytest.raises(UserError, match="nothing: no such file or directory"):
        convert(tmp_path / "nothing", tmp_path / "o.zarr", "zarr", quiet=True)


def test_a_block_that_reads_back_different_is_not_marked_done(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    original = zarr.Array.__setitem__

    def lossy(self, key, value):  # a disk that silently drops the lowest bit of bands
        if self.basename == "bands":
            value = np.asarray(value) & ~np.asarray(1, value.dtype)
        original(self, key, value)

    monkeypatch.setattr(zarr.Array, "__setitem__", lossy)
    with pytest.raises(UserError, match=r"bands of samples \d+-\d+ reads back different"):
        convert(V11 / "S2L1C", tmp_path / "o.zarr", "zarr", threads=1, quiet=True)
    monkeypatch.undo()
    assert not (tmp_path / "o.zarr").exists()
    writer_done = tmp_path / "o.zarr.partial" / ".eossl_done"
    assert not any(writer_done.iterdir())  # nothing counted as written
    out, _ = convert(V11 / "S2L1C", tmp_path / "o.zarr", "zarr", quiet=True)  # resumes clean
    assert_same_items(
        SeasonalZarrDataset(V11 / "S2L1C", seasons="all"), SeasonalZarrDataset(out, seasons="all")
    )


@pytest.mark.parametrize("name", ["d.zarr", "d.zarr.zip"])
def test_a_damaged_source_chunk_is_one_line(tmp_path: Path, name: str) -> None:
    source = write_synthetic(
        tmp_path / name, sensor="s2", samples=4, size=8, seasons=2, shard=2, quiet=True,
        zarr_format=2 if name.endswith(".zip") else 3,
    )  # fmt: skip
    flip_chunk_byte(source, sample=3, time=1)
    with pytest.raises(UserError) as err:  # was a traceback of 80-270 lines
        convert(source, tmp_path / "o.zarr", "zarr", quiet=True)
    said = str(err.value)
    assert "could not be read" in said and "eossl verify" in said and "\\x" not in said
    assert "checksum does not match" in said or "CRC-32 does not match" in said
