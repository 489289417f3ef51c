"""Smoke tests of the benchmarks: tiny sizes, no timing assertions.

They check that each benchmark runs, prints its ``smoke NAME: X.YZx`` lines (no ``ratio``
line: a quick run is no result) and
that these parse; and that both sides of the loader comparison read the same data.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

import numpy as np
import pytest
import zarr

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))  # where they live

from speed.cli import main  # noqa: E402
from speed.decode import RawChunks, ZipChunks  # noqa: E402
from speed.inputs import fixture_store, torchgeo_tree, v11_zip, without_crc  # noqa: E402

RATIO = re.compile(r"^smoke (\w+): (\d+(?:\.\d+)?)x \(not a result\)$", re.MULTILINE)

EXPECTED = {
    "loader": {
        "loader_vs_torchgeo",
        "loader_vs_decode",
        "loader_zip_vs_decode",
        "checksum_cost",
        "item_vs_zarr",
        "item_vs_torchgeo",
    },
    "augment": {"augment_vs_torchgeo"},
    "train": {"train_vs_torchgeo"},
    "memory": {"memory_5000_vs_500"},
}


def _ratios(out: str) -> dict[str, float]:
    return {name: float(value) for name, value in RATIO.findall(out)}


@pytest.mark.parametrize("name", list(EXPECTED))
def test_benchmark_prints_parseable_ratios(name: str, capsys: pytest.CaptureFixture) -> None:
    returned = main([name, "--quick"])
    out = capsys.readouterr().out
    printed = _ratios(out)
    assert "a smoke run" in out and "\nratio " not in out  # nothing that reads like a result
    assert set(printed) == EXPECTED[name]
    assert set(returned) == EXPECTED[name]
    assert all(value > 0 for value in printed.values())


def test_without_torchgeo_no_torchgeo_ratio(capsys: pytest.CaptureFixture) -> None:
    main(["loader", "--quick", "--vs", "none"])
    without = {"loader_vs_torchgeo", "item_vs_torchgeo"}
    assert set(_ratios(capsys.readouterr().out)) == EXPECTED["loader"] - without


def test_bad_workers_is_a_user_error() -> None:
    from eossl.errors import UserError

    with pytest.raises(UserError, match="--workers"):
        main(["loader", "--quick", "--workers", "one"])
    with pytest.raises(UserError, match="--workers counts are 0 or more"):  # was a traceback
        main(["loader", "--quick", "--workers", "-1"])


def test_eossl_bench_runs_the_script_command(capsys: pytest.CaptureFixture) -> None:
    from eossl.cli import main as eossl_main

    assert eossl_main(["bench", "loader", "--quick", "--workers", "one"]) == 2
    assert "error: --workers takes counts" in capsys.readouterr().err


def test_bare_decode_reads_the_zarr_chunks(s2_store) -> None:
    raw = RawChunks(s2_store)
    bands = zarr.open_group(s2_store, mode="r")["bands"]
    for j in (0, 5, bands.shape[0] - 1):  # several shards of 4 samples
        np.testing.assert_array_equal(raw.read(j, [3, 1]), bands[j, [3, 1]])


def test_torchgeo_tree_holds_the_store_content() -> None:
    from torchgeo.datasets import SSL4EOS12

    store = fixture_store(2, 264)  # TorchGeo reads every band at 264 px
    stored = zarr.open_group(store, mode="r")["bands"][1]  # (time, band, y, x)
    ds = SSL4EOS12(str(torchgeo_tree(store)), split="s2c", seasons=4)
    image = ds[1]["image"].numpy().reshape(stored.shape)  # seasons in a random order
    for season in image:
        assert any(np.array_equal(season, s) for s in stored)


def test_store_forms_hold_the_same_values(tmp_path, s2_store) -> None:
    import shutil

    store = shutil.copytree(s2_store, tmp_path / "s2.zarr")
    bands = zarr.open_group(store, mode="r")["bands"][...]
    zipped, plain = v11_zip(store), without_crc(store)
    z = zarr.open_group(zarr.storage.ZipStore(zipped, mode="r"), mode="r")["bands"]
    assert z.metadata.zarr_format == 2 and z.chunks[:2] == (8, 1)
    codecs = zarr.open_group(plain, mode="r")["bands"].metadata.codecs[0].codecs
    assert [type(c).__name__ for c in codecs] == ["BytesCodec", "BloscCodec"]  # no crc32c
    np.testing.assert_array_equal(zarr.open_group(plain, mode="r")["bands"][...], bands)
    raw = ZipChunks(zipped)
    for j in (0, 9, 11):  # two chunks of 8 samples
        np.testing.assert_array_equal(raw.read(j, [2, 0]), bands[j, [2, 0]])
