#!/usr/bin/env python3
"""Make a tiny copy of the EuroSAT MS layout (TorchGeo ``EuroSAT``), for ``--layout patches``.

``eurosat/<Class>/<Class>_<n>.tif``: 3 classes x 2 patches of 13-band 16 x 16 px
uint16 GeoTIFFs (64 x 64 in the release) at 10 m in EPSG:32633, bands in EuroSAT's
file order: B01..B12, then B8A last. Band ``b`` of that order holds values
``1000 * (b + 1) + 0..499``, so a band out of place shows in its values.
``AnnualCrop_2.tif`` has a nodata corner (DN 0 in every band).

Run from anywhere: ``python tests/data/patches/data.py``.
"""

import shutil
from pathlib import Path

import numpy as np
import rasterio
from rasterio.transform import from_origin

ROOT = Path(__file__).parent / "eurosat"
CLASSES = ("AnnualCrop", "Forest", "SeaLake")
SIZE = 16


def main() -> None:
    rng = np.random.default_rng(13)
    shutil.rmtree(ROOT, ignore_errors=True)
    for c, name in enumerate(CLASSES):
        (ROOT / name).mkdir(parents=True)
        for n in (1, 2):
            offsets = 1000 * np.arange(1, 14, dtype=np.uint16)[:, None, None]
            data = (offsets + rng.integers(0, 500, (13, SIZE, SIZE))).astype(np.uint16)
            if (c, n) == (0, 2):
                data[:, :4, :4] = 0
            origin = (400000.0 + 1000 * (2 * c + n), 5200000.0)
            profile = dict(
                driver="GTiff", width=SIZE, height=SIZE, count=13, dtype="uint16",
                crs="EPSG:32633", transform=from_origin(*origin, 10, 10), compress="deflate",
            )  # fmt: skip
            with rasterio.open(ROOT / name / f"{name}_{n}.tif", "w", **profile) as f:
                f.write(data)


if __name__ == "__main__":
    main()
