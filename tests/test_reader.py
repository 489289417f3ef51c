"""The hot-path reader: tensorstore equals zarr-python, checksums hold, workers start."""

import platform
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from helpers import assert_same_items, flip_chunk_byte
from torch.utils.data import DataLoader

from eossl.data.dataset import SeasonalZarrDataset
from eossl.data.io import reader as reader_module
from eossl.data.io.reader import ArrayReader, TensorstoreReader, open_reader
from eossl.data.io.schema import open_group
from eossl.data.synthetic.store import write_synthetic
from eossl.data.workers import init_worker
from eossl.errors import UserError

V11 = Path(__file__).parent / "data" / "ssl4eo_s12_v11" / "train"


@pytest.fixture(scope="module")
def stores(tmp_path_factory: pytest.TempPathFactory, s2_store: Path) -> dict[str, Path]:
    """One store of each form eossl reads."""
    root = tmp_path_factory.mktemp("forms")

    def synth(name: str, **kw) -> Path:
        return write_synthetic(
            root / name, "s2", samples=6, size=24, seasons=3, seed=3, shard=4, quiet=True, **kw
        )

    return {
        "zarr3 sharded, lz4 + crc32c": s2_store,
        "zarr3 sharded, zstd-3": synth("zstd3.zarr", codec="zstd-3"),
        "zarr3 in zip": synth("z3.zarr.zip"),
        "zarr2 directory": synth("z2.zarr", zarr_format=2),
        "zarr2 zip, one sample per chunk": synth("z2.zarr.zip", zarr_format=2),
        "v1.1 zip, int16, 8 samples per chunk": V11
        / "S2L1C"
        / next(p.name for p in sorted((V11 / "S2L1C").iterdir())),
        "v1.1 zip, float16 S1": next((V11 / "S1GRD").iterdir()),
    }


SELECTIONS = [
    lambda n, t, h, w: (0, np.array([0, t - 1]), slice(None), slice(None), slice(None)),
    lambda n, t, h, w: (n - 1, np.array([1, 1]), slice(None), slice(3, h - 2), slice(1, 9)),
    lambda n, t, h, w: (n // 2, np.array([t - 1, 0, t - 1]), slice(None)),
    lambda n, t, h, w: (1, np.array([0]), slice(1, 2), slice(h - 4, h), slice(0, w)),
]


@pytest.mark.parametrize("sel", range(len(SELECTIONS)))
def test_tensorstore_equals_zarr_python(stores: dict[str, Path], sel: int) -> None:
    for form, path in stores.items():
        group = open_group(path)
        for name in ("bands", "cloud_mask"):
            if name not in group:
                continue
            array = group[name]
            ts_reader = open_reader(array, path, name, "tensorstore")
            assert isinstance(ts_reader, TensorstoreReader), form
            n, t = array.shape[:2]
            index = SELECTIONS[sel](n, t, *array.shape[-2:])[: array.ndim]
            expect = np.stack([array[(index[0], int(k), *index[2:])] for k in index[1]])
            got = ts_reader.read(index)
            assert got.dtype == expect.dtype == array.dtype, form
            np.testing.assert_array_equal(got, expect, err_msg=f"{form} {name}")
            np.testing.assert_array_equal(ArrayReader(array).read(index), expect)


def test_label_without_time_axis(s2_store: Path) -> None:
    group = open_group(s2_store)
    got = open_reader(group["label"], s2_store, "label", "tensorstore").read(
        (5, slice(2, 20), slice(4, 30))
    )
    np.testing.assert_array_equal(got, group["label"][5, 2:20, 4:30])


def test_dataset_reads_the_same_either_way(stores: dict[str, Path]) -> None:
    for form, path in stores.items():
        kw = {"seasons": 2, "seed": 4, "crop_size": 8}
        fast = SeasonalZarrDataset(path, reader="tensorstore", **kw)
        slow = SeasonalZarrDataset(path, reader="zarr", **kw)
        assert fast.backend() == "tensorstore" and slow.backend() == "zarr", form
        assert_same_items(fast, slow, (0, len(fast) - 1))


@pytest.mark.parametrize("form", ["zarr3", "v1.1 zip"])
def test_flipped_byte_is_an_error_naming_file_and_sample(tmp_path: Path, form: str) -> None:
    if form == "zarr3":
        store = write_synthetic(
            tmp_path / "s.zarr", "s2", samples=8, size=32, seasons=2, seed=1, shard=4, quiet=True
        )
        sample = 5
    else:
        store = tmp_path / "v.zarr.zip"
        shutil.copy(sorted((V11 / "S2L1C").iterdir())[0], store)
        sample = 11  # chunk 1 holds samples 8-15
    flip_chunk_byte(store, sample if form == "zarr3" else sample // 8, 1)  # zip: chunk number
    ds = SeasonalZarrDataset(store, seasons="all", reader="tensorstore")
    assert ds.backend() == "tensorstore"
    with pytest.raises(UserError, match=rf"{store.name}: sample {sample} .*could not be read"):
        try:
            ds[sample]
        except UserError as err:  # the checksum caught it, not a decoder by luck
            said = "its checksum does not match" if form == "zarr3" else "CRC-32 does not"
            assert said in str(err)
            raise
    ds[sample - 4]  # the other chunks still read
    skipping = SeasonalZarrDataset(store, seasons="all", on_bad_sample="skip")
    item = skipping[sample]
    assert int(item["skipped"]) >= 1 and len(skipping.bad_samples) >= 1


def test_fallback_when_tensorstore_is_missing(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(reader_module, "tensorstore_available", lambda: False)
    path = next((V11 / "S2L1C").iterdir())
    group = open_group(path)
    assert open_reader(group["bands"], path, "bands").backend == "zarr"
    with pytest.raises(ModuleNotFoundError):  # asked for, and missing: no silent fallback
        monkeypatch.setitem(__import__("sys").modules, "tensorstore", None)
        open_reader(group["bands"], path, "bands", "tensorstore")


def test_fallback_when_tensorstore_cannot_open(tmp_path: Path) -> None:
    import zarr
    from numcodecs import Delta

    store = tmp_path / "delta.zarr"
    array = zarr.create_array(
        store,
        name="bands",
        shape=(2, 8),
        chunks=(1, 8),
        dtype="uint16",
        filters=[Delta("u2")],
        zarr_format=2,
    )
    array[:] = np.arange(16).reshape(2, 8)
    assert open_reader(array, store, "bands").backend == "zarr"  # tensorstore lacks delta
    with pytest.raises(ValueError, match="delta"):  # asked for: tensorstore's own error
        open_reader(array, store, "bands", "tensorstore")


def _indices(loader: DataLoader) -> list[int]:
    return sorted(i for batch in loader for i in batch["index"].tolist())


def test_workers_start_after_the_parent_has_read(v11_s2: Path) -> None:
    from eossl.data.datamodule import SeasonalZarrDataModule

    dm = SeasonalZarrDataModule(str(v11_s2), num_workers=2, batch_size=16, val_fraction=0)
    dm.setup("fit")
    dm.dataset[0]  # the parent reads through tensorstore
    assert dm.dataset.backend() == "tensorstore"
    loader = dm.train_dataloader()
    assert loader.multiprocessing_context.get_start_method() == "forkserver"
    assert loader.worker_init_fn is init_worker
    assert _indices(loader) == list(range(128))
    dm.dataset.set_epoch(1)  # persistent workers see the new epoch
    assert _indices(loader) == list(range(128))


def test_labelled_workers_start_after_the_parent_has_read(tmp_path: Path) -> None:
    from eossl.data.labelled import LabelledZarrDataModule
    from eossl.data.scenes import open_scenes

    store = write_synthetic(
        tmp_path / "l.zarr", "s2", samples=8, size=24, seasons=2, seed=3, shard=4,
        labels=True, quiet=True,
    )  # fmt: skip
    dm = LabelledZarrDataModule(str(store), [0.0] * 13, [1.0] * 13, size=16, num_workers=2)
    dm.setup()
    dm.chips[0]  # the parent reads through tensorstore: forked workers could not
    loader = dm.train_dataloader()
    assert loader.multiprocessing_context.get_start_method() == "forkserver"
    assert loader.worker_init_fn is init_worker
    assert sum(len(batch["mask"]) for batch in loader) == len(dm.train_set)
    assert open_scenes(None, str(store), seed=0).tensorstore  # evaluate's loader likewise


@pytest.mark.skipif(platform.libc_ver()[0] != "glibc", reason="a glibc setting")
def test_keep_freed_memory_applies_in_a_fresh_process() -> None:
    code = "from eossl.data.workers import keep_freed_memory as k; raise SystemExit(not k())"
    assert subprocess.run([sys.executable, "-c", code], check=False).returncode == 0


def test_forked_workers_fall_back_to_zarr(v11_s2: Path, caplog: pytest.LogCaptureFixture) -> None:
    ds = SeasonalZarrDataset(v11_s2, seed=0)
    ds[0]  # tensorstore used in this process: forked workers must not use it
    loader = DataLoader(ds, batch_size=32, num_workers=2, multiprocessing_context="fork")
    assert _indices(loader) == list(range(128))


def test_batched_reads_equal_single_reads_and_handle_bad_samples(tmp_path: Path) -> None:
    store = write_synthetic(
        tmp_path / "s.zarr", "s2", samples=8, size=24, seasons=3, seed=5, shard=4, quiet=True
    )
    ds = SeasonalZarrDataset(store, seed=1, crop_size=16)
    batch = ds.__getitems__([6, 0, 3, 6])
    for i, item in zip([6, 0, 3, 6], batch, strict=True):
        single = ds[i]
        assert all(torch.equal(item[k], single[k]) for k in single)
    flip_chunk_byte(store, 3, 0)
    flip_chunk_byte(store, 3, 1)
    flip_chunk_byte(store, 3, 2)
    with pytest.raises(UserError, match="sample 3 "):
        SeasonalZarrDataset(store, seed=1).__getitems__([0, 3])
    skipping = SeasonalZarrDataset(store, seed=1, on_bad_sample="skip")
    got = skipping.__getitems__([2, 3, 5])
    assert [int(x["index"]) for x in got] == [2, 4, 5]  # 3 passed over, as __getitem__ does
    assert [int(x["skipped"]) for x in got] == [0, 1, 0] and len(skipping.bad_samples) == 1


def test_unreadable_sample_advice_fits_the_cause(
    s2_store: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    ds = SeasonalZarrDataset(s2_store, reader="zarr")

    def denied(self, index):
        raise PermissionError(13, "Permission denied", "bands/c/0/0/0/0/0")

    monkeypatch.setattr(ArrayReader, "read", denied)
    with pytest.raises(UserError, match="sample 2 .*check that you may read the file") as err:
        ds[2]
    assert "re-download" not in str(err.value)
    assert "--data.on_bad_sample skip" in str(err.value)  # the CLI form first
