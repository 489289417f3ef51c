#!/usr/bin/env python3
"""Make a tiny folder of a user's own scenes, for the ``geotiff`` layout.

Three 4-band float32 reflectance scenes (0-1) of one 40 x 40 px area at 10 m in
EPSG:32633, one per date, plus ``labels.tif``:
- ``S2_20210105.tif``: the reference grid; a NaN nodata block at the top-left.
- ``S2_20210312_20m.tif``: the same area on a 20 m grid (20 x 20 px), so it is
  reprojected; with nearest resampling each pixel becomes a 2 x 2 block.
- ``scene_c.tif``: shifted 16 px east (nodata 0 in the strip it does not
  cover); its date is only in TIFFTAG_DATETIME (2021:07:20 10:30:00).
- ``labels.tif``: uint8 classes 0-4 on the reference grid, nodata 255 in one row.

Run from anywhere: ``python tests/data/geotiff/scenes/data.py``.
"""

from pathlib import Path

import numpy as np
import rasterio
from rasterio.transform import from_origin

ROOT = Path(__file__).parent
SIZE = 40
X0, Y0 = 400000.0, 5200000.0


def write(name: str, data: np.ndarray, res: float, x0: float, nodata=None, tags=None) -> None:
    profile = dict(
        driver="GTiff", width=data.shape[-1], height=data.shape[-2], count=data.shape[0],
        dtype=data.dtype, crs="EPSG:32633", transform=from_origin(x0, Y0, res, res),
        nodata=nodata, compress="deflate",
    )  # fmt: skip
    with rasterio.open(ROOT / name, "w", **profile) as f:
        f.write(data)
        if tags:
            f.update_tags(**tags)


def main() -> None:
    rng = np.random.default_rng(3)
    for old in ROOT.glob("*.tif"):
        old.unlink()
    a = rng.uniform(0.01, 0.6, (4, SIZE, SIZE)).astype("float32")
    a[:, :12, :12] = np.nan
    write("S2_20210105.tif", a, 10, X0, nodata=float("nan"))
    b = rng.uniform(0.01, 0.6, (4, SIZE // 2, SIZE // 2)).astype("float32")
    write("S2_20210312_20m.tif", b, 20, X0)
    c = rng.uniform(0.01, 0.6, (4, SIZE, SIZE)).astype("float32")
    write(
        "scene_c.tif",
        c,
        10,
        X0 + 160,
        nodata=0.0,
        tags={"TIFFTAG_DATETIME": "2021:07:20 10:30:00"},
    )
    labels = rng.integers(0, 5, (1, SIZE, SIZE)).astype("uint8")
    labels[0, 30] = 255
    write("labels.tif", labels, 10, X0, nodata=255)


if __name__ == "__main__":
    main()
