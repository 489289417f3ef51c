#!/usr/bin/env python3
"""Make a tiny copy of the SSL4EO-S12 v1.1 Zarr release layout.

Mirrors the released files:
``{split}/{S2L1C,S1GRD}/ssl4eos12_{split}_seasonal_data_NNNNNN.zarr.zip``,
zarr format 2 written by xarray and zipped, 64 samples x 4 timestamps per file,
``bands`` (sample, time, band, y, x) as int16 with the +1000 DN offset (S2) or
float16 dB (S1), ``cloud_mask`` in S2 files, string ``band``/``sample`` coordinates,
and chunks that span several samples. Only the image size is shrunk (16 px).
File NNNNNN of ``S1GRD`` and of ``S2L1C`` hold the same places (ids, centres,
coordinates) in the same order, as in the release; S1 dates are a few days off
the S2 ones.

Run from anywhere: ``python tests/data/ssl4eo_s12_v11/data.py``.
"""

import os
import shutil
import zipfile
from pathlib import Path

import numpy as np
import pandas as pd
import xarray as xr

ROOT = Path(__file__).parent
SIZE = 16
SAMPLES = 64
TIMES = 4
S2_BANDS = [
    "B01",
    "B02",
    "B03",
    "B04",
    "B05",
    "B06",
    "B07",
    "B08",
    "B8A",
    "B09",
    "B10",
    "B11",
    "B12",
]
S1_BANDS = ["vv", "vh"]


def make(split: str, modality: str, number: int, seed: int) -> Path:
    place = np.random.default_rng(number)  # the same places in every modality
    rng = np.random.default_rng(seed)
    s2 = modality == "S2L1C"
    names = S2_BANDS if s2 else S1_BANDS
    shape = (SAMPLES, TIMES, len(names), SIZE, SIZE)
    if s2:
        bands = 1000 + rng.integers(0, 4000, (*shape[:3], 1, 1)) + rng.integers(0, 16, shape)
        bands = bands.astype("int16")
    else:
        bands = (rng.normal(-15, 4, (*shape[:3], 1, 1)) + rng.normal(0, 0.5, shape)).astype(
            "float16"
        )
    ids = [f"{number * 1000 + i:07d}" for i in range(SAMPLES)]
    days = place.integers(0, 365, (SAMPLES, TIMES))
    days.sort(axis=1)
    days += np.arange(TIMES) * 10  # distinct within a sample
    if not s2:
        days += rng.integers(-3, 4, days.shape)  # S1 passes a few days off
    times = pd.Timestamp("2021-01-01").to_datetime64() + days.astype("timedelta64[D]")
    data = {
        "bands": (("sample", "time", "band", "y", "x"), bands),
        "time_": (("sample", "time"), times.astype("datetime64[ns]")),
        "center_lat": (("sample",), place.uniform(-60, 70, SAMPLES)),
        "center_lon": (("sample",), place.uniform(-180, 180, SAMPLES)),
        "crs": (("sample",), place.choice([32632, 32633, 32736], SAMPLES).astype("int64")),
        "x_": (("sample", "x"), place.uniform(3e5, 7e5, (SAMPLES, 1)) + 10 * np.arange(SIZE)),
        "y_": (("sample", "y"), place.uniform(4e6, 6e6, (SAMPLES, 1)) - 10 * np.arange(SIZE)),
        "sample_id": (
            ("sample", "time"),
            np.array([[f"{i}_{t}" for t in range(TIMES)] for i in ids]),
        ),
        "file_id": (
            ("sample", "time"),
            np.array([[f"{modality[:2]}_{i}_{t}" for t in range(TIMES)] for i in ids]),
        ),
    }
    if s2:
        cloud = rng.integers(0, 3, (SAMPLES, TIMES, SIZE, SIZE)).astype("uint8")
        cloud[:, 1, : SIZE // 2 + 2] = 4  # the second timestamp is mostly thick cloud
        data["cloud_mask"] = (("sample", "time", "y", "x"), cloud)
    ds = xr.Dataset(
        data,
        coords={
            "band": names,
            "sample": ids,
            "time": np.arange(TIMES),
            "x": np.arange(SIZE),
            "y": np.arange(SIZE),
        },
    )
    # chunks span 8 samples; timestamps are chunked separately, as in the release
    ds = ds.chunk({"sample": 8, "time": 1})
    out = ROOT / split / modality / f"ssl4eos12_{split}_seasonal_data_{number:06d}.zarr.zip"
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_suffix(".tmpdir")
    shutil.rmtree(tmp, ignore_errors=True)
    ds.to_zarr(tmp, zarr_format=2, consolidated=True, mode="w")
    with zipfile.ZipFile(out, "w", zipfile.ZIP_STORED) as zf:
        for dirpath, _, files in os.walk(tmp):
            for f in sorted(files):
                path = Path(dirpath) / f
                zf.write(path, path.relative_to(tmp).as_posix())
    shutil.rmtree(tmp)
    return out


if __name__ == "__main__":
    for i in (1, 2):
        print(make("train", "S2L1C", i, seed=i))
        print(make("train", "S1GRD", i, seed=10 + i))
