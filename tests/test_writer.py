"""Writing stores: atomic, resumable, both zarr formats, readable by zarr, xarray and eossl."""

from pathlib import Path

import numpy as np
import pytest
import xarray as xr
import zarr

from eossl.data import SeasonalZarrDataset
from eossl.data.synthetic_store import builtin_store, write_synthetic
from eossl.data.writer import StoreSpec, StoreWriter
from eossl.errors import UserError

KW = dict(sensor="s2", samples=6, size=16, seasons=3, seed=5, labels=True, shard=2, quiet=True)


def test_resume_after_interruption_equals_uninterrupted(tmp_path: Path) -> None:
    whole = write_synthetic(tmp_path / "whole.zarr", **KW)
    # an interrupted run: the first block written, then the process died
    target = tmp_path / "resumed.zarr"
    calls = {"n": 0}
    original = StoreWriter.write

    def dying_write(self, start, stop, data):
        if calls["n"] == 1:
            raise KeyboardInterrupt
        calls["n"] += 1
        original(self, start, stop, data)

    StoreWriter.write = dying_write
    try:
        with pytest.raises(KeyboardInterrupt):
            write_synthetic(target, threads=1, **KW)
    finally:
        StoreWriter.write = original
    assert not target.exists() and target.with_name("resumed.zarr.partial").exists()
    with pytest.raises(UserError, match="not completely written"):
        SeasonalZarrDataset(target.with_name("resumed.zarr.partial"))
    resumed = write_synthetic(target, **KW)
    a, b = zarr.open_group(whole, mode="r"), zarr.open_group(resumed, mode="r")
    for name in ("bands", "cloud_mask", "label", "time_", "center_lat"):
        np.testing.assert_array_equal(a[name][...], b[name][...])
    np.testing.assert_allclose(a.attrs["stats"]["mean"], b.attrs["stats"]["mean"])


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
    StoreWriter(tmp_path / "x.zarr", spec)  # leaves an empty partial store
    other = StoreSpec(
        samples=4, times=3, band_names=["a", "b"], height=4, width=4, dtype="uint16", shard=2
    )
    writer = StoreWriter(tmp_path / "x.zarr", other)
    assert writer.group["bands"].shape[1] == 3 and len(writer.pending()) == 2


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
