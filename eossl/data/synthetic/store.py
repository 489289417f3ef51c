"""Write synthetic stores (``eossl synth``) and the cached built-in sample.

Every sample is drawn from its own seed (``[seed, index]``), so a store is the
same whether written in one go, resumed after a kill, or split over workers.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from eossl.data.io.codecs import DEFAULT_CODEC
from eossl.data.io.schema import CLOUDY_CODES
from eossl.data.io.writer import StoreSpec, StoreWriter
from eossl.data.synthetic.location import synth_location
from eossl.parallel import run_blocks
from eossl.sensors import Sensor, get_sensor

__all__ = ["SYNTH_VERSION", "builtin_store", "cache_dir", "synthetic_location", "write_synthetic"]

SYNTH_VERSION = 1  # bump when the generator changes, to rebuild cached stores


def cache_dir() -> Path:
    """Eossl's cache: ``EOSSL_CACHE``, else ``$XDG_CACHE_HOME/eossl``, else ``~/.cache/eossl``."""
    if env := os.environ.get("EOSSL_CACHE"):
        return Path(env).expanduser()
    xdg = os.environ.get("XDG_CACHE_HOME")
    return (Path(xdg) if xdg else Path.home() / ".cache") / "eossl"


def synthetic_location(sensor: Sensor, size: int, seasons: int, seed: int, index: int):
    """Location ``index`` of the store ``write_synthetic`` writes with ``seed``."""
    rng = np.random.default_rng([seed, index])
    lat = float(rng.uniform(-60, 70))
    lon = float(rng.uniform(-180, 180))
    return synth_location(sensor, size=size, seasons=seasons, rng=rng, lat=lat, lon=lon)


def write_synthetic(
    out: str | os.PathLike,
    sensor: str | Sensor = "s2",
    samples: int = 256,
    size: int = 264,
    seasons: int = 4,
    seed: int = 0,
    labels: bool = False,
    zarr_format: int = 3,
    shard: int = 64,
    codec: str = DEFAULT_CODEC,
    overwrite: bool = False,
    threads: int | None = None,
    scheduler: str | None = None,
    workers: int | None = None,
    quiet: bool = False,
    locations: Sequence[int] | None = None,
) -> Path:
    """Write a synthetic store in the eossl schema, with band statistics in its attributes.

    ``codec`` is one of :data:`eossl.data.io.codecs.CODECS`. Resumes a partial store
    left by an interrupted run with the same arguments. ``locations`` picks which of
    the generator's places (by number) the samples are, e.g. to build a store with a
    chosen mix of land covers; by default places ``0 .. samples - 1``.
    """
    sensor = get_sensor(sensor)
    places = list(range(samples)) if locations is None else [int(i) for i in locations]
    samples = len(places)
    spec = StoreSpec(
        samples=samples,
        times=seasons,
        band_names=sensor.band_names,
        height=size,
        width=size,
        dtype="float32" if sensor.modality == "sar" else sensor.dtype,
        cloud_mask=True,
        label=labels,
        zarr_format=zarr_format,
        shard=shard,
        codec=codec,
        attrs={
            "sensor": sensor.name,
            "product": sensor.product,
            "source": "eossl synth",
            "synth": {"seed": seed, "version": SYNTH_VERSION},
            "scale": 1.0 / sensor.quantification if sensor.quantification else 1.0,
            "offset": 0.0,
        },
    )
    writer = StoreWriter(out, spec, overwrite=overwrite)
    writer.say_start()
    c = sensor.num_bands

    def block(bounds: tuple[int, int]) -> np.ndarray:
        start, stop = bounds
        ids = places[start:stop]
        locs = [synthetic_location(sensor, size, seasons, seed, i) for i in ids]
        bands = np.stack([loc.bands for loc in locs])
        cloud = np.stack([loc.cloud_mask for loc in locs])
        writer.write(
            start,
            stop,
            {
                "bands": bands,
                "cloud_mask": cloud,
                "label": np.stack([loc.label for loc in locs]),
                "time_": np.stack([loc.times for loc in locs]),
                "center_lat": [loc.lat for loc in locs],
                "center_lon": [loc.lon for loc in locs],
                "crs": [4326] * len(locs),
                "x_": np.stack([loc.lon + (np.arange(size) - size / 2) * 1e-4 for loc in locs]),
                "y_": np.stack([loc.lat - (np.arange(size) - size / 2) * 1e-4 for loc in locs]),
                "location_id": [f"synth{seed}-{i:07d}" for i in ids],
                "sample_id": [[f"{i:07d}_{t}" for t in range(seasons)] for i in ids],
                "file_id": [[f"synth_{i:07d}_{t}" for t in range(seasons)] for i in ids],
            },
        )
        return _moments(bands, cloud, c)

    pending = writer.pending()
    # Moments of blocks written by an earlier, interrupted run are recomputed from
    # the store, so resumed statistics equal those of an uninterrupted run.
    left = set(pending)
    done = [b for b in spec.blocks() if b not in left]
    moments = run_blocks(
        block,
        pending,
        f"synth {sensor.name}",
        weights=[b[1] - b[0] for b in pending],
        threads=threads,
        scheduler=scheduler,
        workers=workers,
        quiet=quiet,
    )
    for start, stop in done:
        group = writer.group
        moments.append(_moments(group["bands"][start:stop], group["cloud_mask"][start:stop], c))
    total = np.sum(moments, axis=0)
    count, s1, s2 = total[0], total[1], total[2]
    mean = s1 / np.maximum(count, 1)
    std = np.sqrt(np.maximum(s2 / np.maximum(count, 1) - mean**2, 0))
    stats = {
        "mean": mean.tolist(),
        "std": np.maximum(std, 1e-6).tolist(),
        "count": int(count.min()),
        "masked": "cloud, shadow, nodata",
        "method": "clear pixels, every 2nd row and column",
    }
    return writer.finalize({"stats": stats})


def _moments(bands: np.ndarray, cloud: np.ndarray, c: int) -> np.ndarray:
    """Per-band count, sum and sum of squares over clear pixels (every 2nd row/column), float64."""
    out = np.zeros((3, c), np.float64)
    for image, mask in zip(bands[..., ::2, ::2], cloud[..., ::2, ::2], strict=True):
        clear = ~np.isin(mask, CLOUDY_CODES)[:, None]  # (t, 1, h, w)
        x = np.where(clear, image.astype(np.float64), 0.0)
        out[0] += clear.sum()
        out[1] += x.sum(axis=(0, 2, 3))
        out[2] += np.square(x).sum(axis=(0, 2, 3))
    return out


def builtin_store(
    sensor: str | Sensor = "s2",
    samples: int = 256,
    size: int = 128,
    seasons: int = 4,
    quiet: bool = False,
) -> Path:
    """The built-in synthetic store of a sensor: made once into the cache, then reused.

    An incomplete store (an interrupted build) is resumed, never used as it is.
    """
    sensor = get_sensor(sensor)
    name = f"{sensor.name}-n{samples}-s{size}-t{seasons}-v{SYNTH_VERSION}.zarr"
    path = cache_dir() / "synthetic" / name
    if path.exists():
        return path
    path.parent.mkdir(parents=True, exist_ok=True)
    return write_synthetic(
        path, sensor, samples=samples, size=size, seasons=seasons, seed=0, labels=True, quiet=quiet
    )
