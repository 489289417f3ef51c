#!/usr/bin/env python3
"""Make a tiny copy of the SeCo layout (TorchGeo ``SeasonalContrastS2``).

``seasonal_contrast_100k/<6-digit id>/<product>/<band>.tif``: 12 bands (no B10)
at native resolution, uint8 (reflectance x 255), EPSG:4326, as
``seco_downloader.py`` writes them, shrunk 11x (24/12/4 px). Locations hold 5 and
3 dates, so the store is padded.

Run from anywhere: ``python tests/data/geotiff/seco/data.py``.
"""

import shutil
from pathlib import Path

import numpy as np
import rasterio
from rasterio.transform import from_origin

ROOT = Path(__file__).parent
BANDS = {
    "B1": 60, "B2": 10, "B3": 10, "B4": 10, "B5": 20, "B6": 20, "B7": 20,
    "B8": 10, "B8A": 20, "B9": 60, "B11": 20, "B12": 20,
}  # fmt: skip
SIZE_10M = 24
TIMES = (5, 3)


def main() -> None:
    rng = np.random.default_rng(2)
    base = ROOT / "seasonal_contrast_100k"
    shutil.rmtree(base, ignore_errors=True)
    for loc, times in enumerate(TIMES):
        for t in range(times):
            day = f"20{19 + t // 4}{(3 * t) % 12 + 1:02d}0{loc + 1}"
            product = base / f"{loc:06d}" / f"{day}T053441_{day}T053444_T43RGM"
            product.mkdir(parents=True)
            (product / "metadata.json").write_text(f'{{"system:index": "{product.name}"}}')
            for band, res in BANDS.items():
                n = SIZE_10M * 10 // res
                step = 0.0001 * res / 10
                profile = dict(
                    driver="GTiff", width=n, height=n, count=1, dtype="uint8",
                    crs="+proj=latlong", transform=from_origin(77.0 + loc, 28.0, step, step),
                )  # fmt: skip
                with rasterio.open(product / f"{band}.tif", "w", **profile) as f:
                    f.write(rng.integers(0, 256, (n, n)).astype("uint8"), 1)


if __name__ == "__main__":
    main()
