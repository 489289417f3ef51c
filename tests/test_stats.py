"""`eossl stats`: out-of-core band statistics against numpy, written where the datamodule reads."""

import argparse
import zipfile
from pathlib import Path

import numpy as np
import pytest
import zarr

from eossl.data.convert.write import convert
from eossl.data.io.describe import describe
from eossl.data.io.schema import decode_times, open_group, validate
from eossl.data.normalize import resolve_stats
from eossl.data.stats.cli import add_arguments, run
from eossl.data.stats.compute import compute_stats, write_stats
from eossl.errors import UserError

GEOTIFF = Path(__file__).parent / "data" / "geotiff"
V11 = Path(__file__).parent / "data" / "ssl4eo_s12_v11" / "train"


def _numpy_stats(path: Path, nodata: float | None) -> list[np.ndarray]:
    """Per-band valid values, masked as documented, straight from the whole store."""
    g = open_group(path)
    x = g["bands"][...].astype(np.float64)
    valid = np.isfinite(x)
    if "cloud_mask" in g:
        valid &= ~np.isin(g["cloud_mask"][...], (3, 4, 5, 6))[:, :, None]
    valid &= ~np.isnat(decode_times(g["time_"]))[:, :, None, None, None]
    if nodata is not None:
        valid &= x != nodata
    return [x[:, :, b][valid[:, :, b]] for b in range(x.shape[2])]


@pytest.fixture(scope="module")
def s2_store(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The converted SSL4EO-S12 fixture (uint16, nodata corner, padding) with cloudy pixels."""
    out = tmp_path_factory.mktemp("stats") / "s2.zarr"
    convert(GEOTIFF / "ssl4eo_s12" / "s2c", out, "ssl4eo-s12", shard=2, quiet=True)
    cloud = zarr.open_group(out, mode="r+")["cloud_mask"]
    mask = cloud[...]
    for code, rows in ((3, slice(0, 3)), (4, slice(5, 7)), (5, slice(20, 21))):
        mask[0, 1, rows] = code
    mask[2, 0, :, 4] = 2  # snow stays in
    cloud[...] = mask
    return out


def test_integer_stats_equal_numpy_exactly(s2_store: Path) -> None:
    stats = compute_stats(s2_store, quiet=True)
    values = _numpy_stats(s2_store, nodata=0)
    for b, v in enumerate(values):
        assert stats["count"][b] == v.size
        assert stats["mean"][b] == pytest.approx(v.mean(), rel=1e-12)
        assert stats["std"][b] == pytest.approx(v.std(), rel=1e-9)
        assert (stats["min"][b], stats["max"][b]) == (v.min(), v.max())
        assert stats["p1"][b] == pytest.approx(np.percentile(v, 1), abs=1e-9)
        assert stats["p99"][b] == pytest.approx(np.percentile(v, 99), abs=1e-9)
    total = 3 * 4 * 24 * 24
    assert stats["masked"][0] == total - stats["count"][0] > 24 * 24  # padding + clouds + nodata
    assert stats["percentiles"].startswith("exact") and stats["samples"] == 3


def test_float_stats_with_histogram_percentiles(tmp_path: Path) -> None:
    out, _ = convert(GEOTIFF / "ssl4eo_s12" / "s1", tmp_path / "s1.zarr", "ssl4eo-s12", quiet=True)
    stats = compute_stats(out, bins=4096, quiet=True)
    for b, v in enumerate(_numpy_stats(out, nodata=None)):
        width = (v.max() - v.min()) / 4096
        assert stats["mean"][b] == pytest.approx(v.mean(), rel=1e-9)
        assert stats["std"][b] == pytest.approx(v.std(), rel=1e-9)
        assert abs(stats["p1"][b] - np.percentile(v, 1)) <= width
        assert abs(stats["p99"][b] - np.percentile(v, 99)) <= width
    assert "4096 bins" in stats["percentiles"]


def test_sample_estimate(s2_store: Path) -> None:
    stats = compute_stats(s2_store, sample=2, seed=3, quiet=True)
    full = compute_stats(s2_store, quiet=True)
    assert stats["samples"] == 2 and stats["of_samples"] == 3 and "2 random" in stats["method"]
    assert 0 < stats["count"][0] < full["count"][0]
    assert stats == compute_stats(s2_store, sample=2, seed=3, quiet=True)  # reproducible


def test_written_stats_drive_normalisation_and_info(
    s2_store: Path, capsys: pytest.CaptureFixture
) -> None:
    parser = argparse.ArgumentParser()
    add_arguments(parser)
    run(parser.parse_args([str(s2_store), "--dry-run", "--quiet"]))
    assert "stats" not in zarr.open_group(s2_store).attrs
    assert "B8A" in capsys.readouterr().out
    run(parser.parse_args([str(s2_store), "--quiet"]))
    assert "wrote stats to 1 store" in capsys.readouterr().out
    info = validate(s2_store)
    resolved = resolve_stats(info, info.sensor)
    assert resolved.mean == tuple(info.attrs["stats"]["mean"]) and "store stats" in resolved.source
    assert describe(s2_store)["stats"] == "yes"


@pytest.mark.parametrize("name", ["v2.zarr.zip", "v2.zarr"])
def test_zarr_format_2_stores_are_updated(tmp_path: Path, name: str) -> None:
    out, _ = convert(GEOTIFF / "ssl4eo_l", tmp_path / name, "ssl4eo-l", zarr_format=2, quiet=True)
    before = open_group(out)["bands"][...]
    stats = compute_stats(out, quiet=True)
    write_stats(out, stats)
    group = open_group(out)  # consolidated metadata is read, so it must carry the stats
    assert group.attrs["stats"]["mean"] == stats["mean"] and group.attrs["sensor"]
    np.testing.assert_array_equal(group["bands"][...], before)
    if out.is_file():
        assert zipfile.ZipFile(out).testzip() is None
        assert list(tmp_path.iterdir()) == [out]  # no temporary file left


def test_released_v11_archive_with_chunks_spanning_samples() -> None:
    stats = compute_stats(V11 / "S2L1C", quiet=True)
    values = [np.concatenate(v) for v in zip(
        *(_numpy_stats(p, nodata=0) for p in sorted((V11 / "S2L1C").glob("*.zip"))),
        strict=True,
    )]  # fmt: skip
    for b in (0, 10, 12):
        assert stats["mean"][b] == pytest.approx(values[b].mean(), rel=1e-12)
        assert stats["p99"][b] == pytest.approx(np.percentile(values[b], 99))
    assert stats["samples"] == 128


def test_errors() -> None:
    with pytest.raises(UserError, match="--sample must be at least 1"):
        compute_stats(V11, sample=0)
    with pytest.raises(UserError, match="differ from"):
        compute_stats(V11, quiet=True)  # S1 and S2 stores mixed


def test_stores_with_their_own_stats_are_pooled(tmp_path: Path) -> None:
    """--data a.zarr,b.zarr with stats of each: one normalisation, equal to stats of both."""
    from eossl.data import SeasonalZarrDataModule
    from eossl.data.normalize import pooled_stats
    from eossl.data.synthetic.store import write_synthetic

    both = tmp_path / "both"
    a, b = both / "a.zarr", both / "b.zarr"
    write_synthetic(a, "s2", samples=6, size=16, seasons=2, seed=1, shard=3, quiet=True)
    write_synthetic(b, "s2", samples=10, size=16, seasons=2, seed=7, shard=5, quiet=True)
    zarr.open_group(b, mode="r+")["bands"][:5] //= 2  # another brightness than a
    for store in (a, b):
        write_stats(store, compute_stats(store, quiet=True))
    pooled = pooled_stats([validate(a), validate(b)], None)
    exact = compute_stats(both, quiet=True)  # one pass over both stores
    np.testing.assert_allclose(pooled.mean, exact["mean"], rtol=1e-9)
    np.testing.assert_allclose(pooled.std, exact["std"], rtol=1e-9)
    assert resolve_stats(validate(a), None).mean != pytest.approx(pooled.mean)
    dm = SeasonalZarrDataModule(f"{a},{b}", sensor="s2", batch_size=2, num_workers=0)
    dm.setup()
    assert dm.stats is not None and dm.stats.mean == pooled.mean
    write_stats(both, exact)  # one `eossl stats` over the folder: nothing to pool
    assert pooled_stats([validate(a), validate(b)], None).source.startswith("store stats")
    zarr.open_group(b, mode="r+").attrs["offset"] = 1000
    with pytest.raises(UserError, match="offset by 1000 DN"):
        pooled_stats([validate(a), validate(b)], None)


def test_damaged_stats_and_empty_stores_are_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    """NaN in a store's stats is named (it blamed the learning rate); 0 samples is refused."""
    from eossl.cli import main
    from eossl.data import SeasonalZarrDataModule
    from eossl.data.synthetic.store import write_synthetic

    store = write_synthetic(tmp_path / "s.zarr", "s2", samples=4, size=16, seasons=2, quiet=True)
    group = zarr.open_group(store, mode="r+")
    attrs = dict(group.attrs)
    attrs["stats"]["mean"][0] = float("nan")
    group.attrs.put(attrs)
    dm = SeasonalZarrDataModule(str(store), sensor="s2", batch_size=2, num_workers=0)
    with pytest.raises(UserError, match="its stats mean attribute is nan, not a finite number"):
        dm.setup()
    attrs["stats"]["mean"][0], attrs["offset"] = 1000.0, "abc"
    group.attrs.put(attrs)
    with pytest.raises(UserError, match="its offset attribute is 'abc'"):
        SeasonalZarrDataModule(str(store), sensor="s2", batch_size=2, num_workers=0).setup()
    group["bands"].resize((0, *group["bands"].shape[1:]))
    for command in (["stats", str(store)], ["phenology", str(store), "--dry-run"]):
        assert main(command) == 2
        assert "holds no image (0 samples" in capsys.readouterr().err
    assert main(["stats", str(store), "--bins", str(10**11)]) == 2
    assert "--bins must be 2 to 1048576" in capsys.readouterr().err
    assert main(["phenology", str(store), "--plot", str(tmp_path / "x.txt")]) == 2
    assert "a file ending in .png, .pdf, .svg" in capsys.readouterr().err


def test_damaged_zip_is_left_unchanged_when_attrs_are_written(tmp_path: Path) -> None:
    """A member failing its CRC-32 while `stats`/`phenology` rewrite a .zarr.zip: one line."""
    from eossl.data.io.attrs import write_attrs
    from eossl.data.synthetic.store import write_synthetic

    store = write_synthetic(tmp_path / "s.zarr.zip", "s2", samples=4, size=16, quiet=True)
    with zipfile.ZipFile(store) as zf:
        member = next(i for i in zf.infolist() if i.filename.startswith("bands/c/"))
        start = member.header_offset + 30 + len(member.filename) + len(member.extra)
    data = bytearray(store.read_bytes())
    data[start + member.compress_size // 2] ^= 0x40
    store.write_bytes(data)
    with pytest.raises(UserError, match="damaged .*left unchanged"):
        write_attrs(store, {"stats": {}})
    assert store.read_bytes() == data and not list(tmp_path.glob("*tmp*"))
