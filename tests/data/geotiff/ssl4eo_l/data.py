#!/usr/bin/env python3
"""Make a tiny copy of the SSL4EO-L layout (TorchGeo ``SSL4EOL``, split ``oli_sr``).

``ssl4eo_l_oli_sr/<7-digit id>/<productid_YYYYMMDD>/all_bands.tif``: one uint8
7-band file per scene at 30 m, shrunk to 16 px. Locations hold 4 and 2 scenes.

Run from anywhere: ``python tests/data/geotiff/ssl4eo_l/data.py``.
"""

import shutil
from pathlib import Path

import numpy as np
import rasterio
from rasterio.transform import from_origin

ROOT = Path(__file__).parent
SIZE = 16
BANDS = 7
TIMES = (4, 2)


def main() -> None:
    rng = np.random.default_rng(1)
    base = ROOT / "ssl4eo_l_oli_sr"
    shutil.rmtree(base, ignore_errors=True)
    for loc, times in enumerate(TIMES):
        for t in range(times):
            path = base / f"{loc:07d}" / f"LC08_146040_2022{3 * t + 2:02d}1{loc}" / "all_bands.tif"
            path.parent.mkdir(parents=True)
            data = rng.integers(0, 256, (BANDS, SIZE, SIZE)).astype("uint8")
            profile = dict(
                driver="GTiff", width=SIZE, height=SIZE, count=BANDS, dtype="uint8",
                crs="EPSG:32644", transform=from_origin(600000 + 9000 * loc, 3000000, 30, 30),
                compress="deflate",
            )  # fmt: skip
            with rasterio.open(path, "w", **profile) as f:
                f.write(data)


if __name__ == "__main__":
    main()
