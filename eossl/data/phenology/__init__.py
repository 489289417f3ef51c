"""Phenological phases of a location's timestamps, from its own vegetation-index curve.

SSL4Eco (Plekhanova et al., 2025, "SSL4Eco: A Global Seasonal Dataset for Geospatial
Foundation Models in Ecology") samples seasons along each location's own phenological
cycle instead of calendar quarters. eossl assigns each valid timestamp a phase from the
location's NDVI curve:

1. the curve's floor and top are its lowest and highest NDVI; a location whose top is
   below ``min_peak`` or whose amplitude is below ``min_amplitude`` has no vegetation
   cycle (water, bare soil, snow, evergreen without contrast) and gets no phases;
2. ``peak``: NDVI in the top quarter of the amplitude; ``dormancy``: in the bottom
   quarter;
3. in between, ``green-up`` if the date comes before the date of the maximum within half a
   year (the curve is rising towards it), else ``senescence``. Dates are circular in the
   year, so southern-hemisphere cycles that peak in January work the same.

Fewer than ``min_dates`` valid dates also give no phases. Phase ``-1`` means "none".
NDVI is the default; EVI (``index="evi"``: blue, red and NIR, on reflectance, which
resists saturation over dense canopy) where the card has a blue band.

A timestamp's NDVI is the mean NDVI of its clear vegetated pixels: pixels the
``cloud_mask`` marks as cloud, shadow or no data, nodata values and padded (NaT)
timestamps are left out, and so are pixels with NDVI <= 0 (water, snow, rock), so a
lake or a snowy winter does not dilute the curve (a timestamp with no such pixel
scores 0). A timestamp with less than ``min_clear`` of its pixels clear gets none.
On synthetic stores whose true vegetation cycle is known, this rule agreed best with
the truth (benchmarks/phenology.py).
``eossl phenology`` computes this for every store out of core on dask (as ``eossl
stats`` does) and keeps the phases in each store's ``phenology`` attribute: one
character per (sample, timestamp), ``0``-``3`` for the phases, ``-`` for none.

Modules: ``indices`` (NDVI, EVI), ``phases`` (the phases of a curve and their codes),
``compute`` (the dask pass over stores, written back), ``report`` (table, plot) and
``cli`` (``eossl phenology``).
"""

from eossl.data.phenology.compute import compute_phenology, ensure_phenology, write_phenology
from eossl.data.phenology.indices import evi, index_bands, ndvi, red_nir
from eossl.data.phenology.phases import NONE, PHASES, assign_phases, decode_phases, encode_phases
from eossl.data.phenology.report import phase_shares, phase_summary, plot_phases

__all__ = [
    "NONE",
    "PHASES",
    "assign_phases",
    "compute_phenology",
    "decode_phases",
    "encode_phases",
    "ensure_phenology",
    "evi",
    "index_bands",
    "ndvi",
    "phase_shares",
    "phase_summary",
    "plot_phases",
    "red_nir",
    "write_phenology",
]
