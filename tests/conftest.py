"""Shared fixtures: tiny stores written by eossl itself, in a session temp dir."""

from pathlib import Path

import pytest
from helpers import realdata_dir

DATA = Path(__file__).parent / "data"
V11 = DATA / "ssl4eo_s12_v11"


@pytest.fixture(autouse=True)
def _isolated_cache(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch):
    """Never touch the user's cache: the built-in store goes to a session temp dir."""
    monkeypatch.setenv("EOSSL_CACHE", str(tmp_path_factory.getbasetemp() / "cache"))


@pytest.fixture(scope="session")
def s2_store(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A small synthetic S2 L1C store with labels (zarr format 3, sharded)."""
    from eossl.data.synthetic.store import write_synthetic

    out = tmp_path_factory.mktemp("stores") / "s2.zarr"
    return write_synthetic(
        out, "s2", samples=12, size=32, seasons=4, seed=1, labels=True, shard=4, quiet=True
    )


@pytest.fixture(scope="session")
def v11_s2() -> Path:
    """The tiny copy of the SSL4EO-S12 v1.1 release (two S2 L1C .zarr.zip files)."""
    return V11 / "train" / "S2L1C"


@pytest.fixture(scope="session")
def single_date_store(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A synthetic S2 L1C store with one timestamp per location, as patch archives have."""
    from eossl.data.synthetic.store import write_synthetic

    out = tmp_path_factory.mktemp("stores") / "single.zarr"
    return write_synthetic(out, "s2", samples=12, size=40, seasons=1, seed=2, shard=4, quiet=True)


@pytest.fixture(scope="session")
def bigearthnet() -> Path:
    """36 real BigEarthNet v1 S2/S1 pairs in the dataset's own layout (read-only)."""
    root = realdata_dir()
    if root is None:
        pytest.fail("../shared/realdata/bigearthnet-v1 not found; set EOSSL_REALDATA")
    return root / "bigearthnet-v1"
