"""``eossl convert``: GeoTIFF archives, a user's own scenes and patch archives -> a store.

- :mod:`.cli`: the command's arguments and what it prints;
- :mod:`.write`: :func:`~eossl.data.convert.write.convert`: scan the source in its
  layout, then write the planned store block by block;
- :mod:`.rasters`: GeoTIFF reading shared by the layouts (bad files, dates, nodata);
- :mod:`.trees`, :mod:`.tree_scan`: the archive trees (SSL4EO-S12 v1.0, SSL4EO-L, SeCo);
- :mod:`.chips`, :mod:`.chip_scan`: a folder of one's own scenes, tiled into chips;
- :mod:`.patches`, :mod:`.patch_sources`, :mod:`.patch_bands`: patch archives
  (EuroSAT, BigEarthNet, a folder of patches) with scene labels;
- :mod:`.change`: two-date change archives (OSCD), tiled into pairs with a change mask;
- :mod:`.reencode`: ``--layout zarr``, stores in the schema re-encoded.

Each layout gives a plan (``TreePlan``, ``ChipPlan``, ``PatchPlan``, ``ChangePlan``) whose
``read_block`` reads one block of samples for the writer.
"""

import warnings

from rasterio.errors import NotGeoreferencedWarning

# a GeoTIFF without georeferencing gets eossl's own one-line notice (crs 0, coordinates NaN);
# rasterio's two-line warning would say it again, once per file
warnings.filterwarnings("ignore", category=NotGeoreferencedWarning)
