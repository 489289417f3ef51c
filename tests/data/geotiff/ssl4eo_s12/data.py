#!/usr/bin/env python3
"""Make a tiny copy of the SSL4EO-S12 v1.0 GeoTIFF layout (TorchGeo ``SSL4EOS12``).

``{s1,s2c}/<7-digit id>/<product>/<BAND>.tif``: one file per band at native
resolution, shrunk 11x (10 m bands 24 px, 20 m bands 12 px, 60 m bands 4 px).
Locations hold different numbers of timestamps (4, 3, 4) to test padding; the
S2 scenes carry a nodata (DN 0) corner. S2 is uint16 DN, S1 float32 dB.

Run from anywhere: ``python tests/data/geotiff/ssl4eo_s12/data.py``.
"""

import shutil
from pathlib import Path

import numpy as np
import rasterio
from rasterio.transform import from_origin

ROOT = Path(__file__).parent
S2 = {  # TorchGeo file names and their native resolution in metres
    "B1": 60, "B2": 10, "B3": 10, "B4": 10, "B5": 20, "B6": 20, "B7": 20,
    "B8": 10, "B8A": 20, "B9": 60, "B10": 60, "B11": 20, "B12": 20,
}  # fmt: skip
S1 = {"VV": 10, "VH": 10}
SIZE_10M = 24  # 264 in the release
TIMES = (4, 3, 4)


def write(path: Path, array: np.ndarray, res: int, origin: tuple[float, float], epsg: int):
    path.parent.mkdir(parents=True, exist_ok=True)
    profile = dict(
        driver="GTiff", width=array.shape[1], height=array.shape[0], count=1,
        dtype=array.dtype, crs=f"EPSG:{epsg}", transform=from_origin(*origin, res, res),
        compress="deflate",
    )  # fmt: skip
    with rasterio.open(path, "w", **profile) as f:
        f.write(array, 1)


def main() -> None:
    rng = np.random.default_rng(0)
    for split in ("s1", "s2c"):
        shutil.rmtree(ROOT / split, ignore_errors=True)
    for loc, times in enumerate(TIMES):
        epsg = 32632 + loc
        origin = (300000.0 + 5000 * loc, 5000000.0 - 3000 * loc)
        for t in range(times):
            day = f"2021{3 * t + 1:02d}{10 + loc:02d}"
            s2 = ROOT / "s2c" / f"{loc:07d}" / f"{day}T101031_{day}T101029_T32TNT"
            s1 = ROOT / "s1" / f"{loc:07d}" / f"S1A_IW_GRDH_1SDV_{day}T053441_{day}T053506_031700"
            for band, res in S2.items():
                n = SIZE_10M * 10 // res
                dn = rng.integers(1, 5000, (n, n)).astype("uint16")
                if loc == 1 and t == 0:
                    dn[: n // 2, : n // 2] = 0  # nodata corner in every band
                write(s2 / f"{band}.tif", dn, res, origin, epsg)
            for band, res in S1.items():
                db = rng.normal(-15, 4, (SIZE_10M, SIZE_10M)).astype("float32")
                write(s1 / f"{band}.tif", db, res, origin, epsg)


if __name__ == "__main__":
    main()
