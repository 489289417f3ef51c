"""The inputs both sides read: synthetic eossl stores, their other forms, TorchGeo's GeoTIFFs.

Fixtures are written once into ``<eossl cache>/bench`` and reused: a synthetic S2 L1C
store (:func:`fixture_store`), the same locations in TorchGeo's ``SSL4EOS12`` layout
(:func:`torchgeo_tree`), and copies of a store in the v1.1 form (:func:`v11_zip`) and
without chunk checksums (:func:`without_crc`).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

__all__ = [
    "SENSOR",
    "bench_dir",
    "eossl_dataset",
    "fixture_store",
    "normalised_pairs",
    "torchgeo_tree",
    "v11_zip",
    "without_crc",
]

SENSOR = "s2"
SEASONS_STORED = 4  # SSL4EO-S12 keeps 4 timestamps per location; a pair is drawn from them


def bench_dir() -> Path:
    """Where benchmark fixtures are cached: ``<eossl cache>/bench``."""
    from eossl.data.synthetic.store import cache_dir

    path = cache_dir() / "bench"
    path.mkdir(parents=True, exist_ok=True)
    return path


def fixture_store(samples: int, size: int, seasons: int = SEASONS_STORED) -> Path:
    """A synthetic S2 L1C store (uint16, zarr 3, sharded, default codec) made once, then reused."""
    from eossl.data.io.codecs import DEFAULT_CODEC
    from eossl.data.synthetic.store import SYNTH_VERSION, write_synthetic

    name = f"{SENSOR}-n{samples}-s{size}-t{seasons}-v{SYNTH_VERSION}-{DEFAULT_CODEC}.zarr"
    path = bench_dir() / name
    if not path.exists():
        write_synthetic(
            path, SENSOR, samples=samples, size=size, seasons=seasons, seed=0, quiet=True
        )
    return path


def _store_with(samples: int, size: int) -> Path:
    """The smallest cached fixture store of ``size`` px with at least ``samples`` samples."""
    from eossl.data.io.codecs import DEFAULT_CODEC
    from eossl.data.synthetic.store import SYNTH_VERSION

    found = []
    pattern = f"{SENSOR}-n*-s{size}-t{SEASONS_STORED}-v{SYNTH_VERSION}-{DEFAULT_CODEC}.zarr"
    for p in bench_dir().glob(pattern):
        n = int(p.name.split("-n", 1)[1].split("-", 1)[0])
        if n >= samples:
            found.append((n, p))
    return min(found)[1] if found else fixture_store(samples, size)


def torchgeo_tree(store: Path, compress: str | None = None) -> Path:
    """The locations of ``store`` written in TorchGeo's ``SSL4EOS12`` GeoTIFF layout.

    ``root/s2c/<7-digit id>/<date>_<date>_<tile>/<B1..B12>.tif``: one uint16 GeoTIFF
    per band and timestamp, all at the stored size (TorchGeo reads every band at
    264 px). Uncompressed by default, TorchGeo's fastest case. Returns ``root``.
    """
    import rasterio
    from rasterio.transform import from_origin
    from torchgeo.datasets import SSL4EOS12

    from eossl.data.io.schema import decode_times, open_group

    root = bench_dir() / f"{store.name.removesuffix('.zarr')}-{compress or 'raw'}.ssl4eos12"
    done = root / ".complete"
    if done.exists():
        return root
    group = open_group(store)
    bands = group["bands"]
    n, t, c, h, w = bands.shape
    names = SSL4EOS12.metadata["s2c"]["bands"]
    if len(names) != c:
        raise ValueError(f"{store}: {c} bands, TorchGeo's s2c split has {len(names)}")
    times = decode_times(group["time_"])
    profile = {
        "driver": "GTiff",
        "width": w,
        "height": h,
        "count": 1,
        "dtype": str(bands.dtype),
        "crs": "EPSG:32632",
        "transform": from_origin(500000, 5000000, 10, 10),
    }
    if compress:
        profile["compress"] = compress
    for j in range(n):
        sample = bands[j]
        for k in range(t):
            stamp = times[j, k]
            if np.isnat(stamp):  # a date is all TorchGeo needs from the folder name
                stamp = np.datetime64("2020-01-01T10:00:00") + np.timedelta64(90 * k, "D")
            date = str(stamp.astype("datetime64[s]")).replace("-", "").replace(":", "")
            folder = root / "s2c" / f"{j:07d}" / f"{date}_{date}_T32TQM"
            folder.mkdir(parents=True, exist_ok=True)
            for b, name in enumerate(names):
                with rasterio.open(folder / f"{name}.tif", "w", **profile) as f:
                    f.write(sample[k, b], 1)
    done.touch()
    return root


def eossl_dataset(store: Path) -> Any:
    """The dataset eossl trains on: built by the datamodule, as ``eossl pretrain`` does."""
    from eossl.data.datamodule import SeasonalZarrDataModule

    dm = SeasonalZarrDataModule(data=str(store), sensor=SENSOR, seasons=2, seed=0, num_workers=0)
    dm.setup("fit")
    return dm.dataset


def normalised_pairs(n: int, size: int) -> Any:
    """(n, 2, C, size, size) float32 seasonal pairs of a fixture store, standardised."""
    import torch

    from eossl.data.dataset import SeasonalZarrDataset
    from eossl.data.normalize import BandNormalize, resolve_stats

    ds = SeasonalZarrDataset(_store_with(n, size), seasons=2, seed=0)
    stats = resolve_stats(ds.stores[0], ds.sensor)
    image = torch.stack([ds[i]["image"] for i in range(n)])
    return BandNormalize(stats.mean, stats.std, ds.sensor.nodata)(image).contiguous()


def _copy(
    src: Path, out: Path, zarr_format: int, per_chunk: int, compressors: Any, shard: int = 0
) -> Path:
    """``src`` rewritten with ``bands``/``cloud_mask`` chunks of ``per_chunk`` samples.

    One timestamp per chunk; ``shard`` samples per shard where it is > 0.
    """
    import shutil

    import zarr

    from eossl.data.io.schema import open_group
    from eossl.data.io.writer import move_into_place

    tmp = out.with_name(out.name + ".tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    group = open_group(src)
    dst = zarr.open_group(tmp, mode="w", zarr_format=zarr_format)
    dst.attrs.update(group.attrs.asdict())
    for name, array in group.arrays():
        image = name in ("bands", "cloud_mask")
        per = per_chunk if image else array.shape[0]
        chunks = (per, 1, *array.shape[2:]) if image else array.shape
        dims = getattr(array.metadata, "dimension_names", None)
        attrs = array.attrs.asdict()
        if zarr_format == 2 and dims:
            attrs["_ARRAY_DIMENSIONS"] = list(dims)
        new = dst.create_array(
            name,
            shape=array.shape,
            chunks=chunks,
            shards=(shard, *array.shape[1:]) if image and shard else None,
            dtype=array.dtype,
            compressors=compressors if image else "auto",
            fill_value=array.fill_value,
            attributes=attrs,
            dimension_names=dims if zarr_format == 3 else None,
        )
        step = shard or per
        for start in range(0, array.shape[0], step):
            new[start : start + step] = array[start : start + step]
    if zarr_format == 2:
        zarr.consolidate_metadata(tmp)
    move_into_place(tmp, out)
    return out


def v11_zip(store: Path) -> Path:
    """``store`` in the v1.1 form, once: zarr 2 ``.zarr.zip``, blosc lz4, 8 samples per chunk."""
    from numcodecs import Blosc

    out = store.with_name(store.name.removesuffix(".zarr") + "-v11.zarr.zip")
    if not out.exists():
        _copy(store, out, 2, 8, Blosc(cname="lz4", clevel=5, shuffle=Blosc.SHUFFLE))
    return out


def without_crc(store: Path) -> Path:
    """``store`` with the same blosc lz4 chunks and shards, but no crc32c per chunk, once."""
    from zarr.codecs import BloscCodec

    out = store.with_name(store.name.removesuffix(".zarr") + "-nocrc.zarr")
    if not out.exists():
        codec = BloscCodec(cname="lz4", clevel=5, shuffle="shuffle")
        _copy(store, out, 3, 1, [codec], shard=64)
    return out
