"""Physically plausible synthetic multispectral scenes, with labels.

:func:`synth_location` draws one location: a land-cover map with spatial
structure (lakes and rivers, forest, cropland parcels, grassland, urban blobs,
bare soil and rock, glaciers) and a time series of one image per season, in the
stored units of a sensor card:

- optical bands: surface reflectance from a small library of class spectra
  (0.40-2.40 um, with the vegetation red edge, dark water, snow dark in the
  SWIR, ...) evaluated at each band's centre wavelength, attenuated in the
  water-vapour (0.94 um) and cirrus (1.375 um) absorption bands, with Rayleigh
  path radiance for top-of-atmosphere products; thermal bands hold a brightness
  temperature mapped onto the dtype through the band's ``range``;
- seasons follow the latitude: temperature-driven green-up and leaf fall,
  per-parcel crop calendars with harvest (bare soil after it), a dry season,
  seasonal snow and frozen lakes, hemispheres flipped, weak seasonality in the
  tropics;
- thin and thick clouds from smoothed noise with a random cloud fraction per
  timestamp, and their shadows displaced along the sun direction;
- SAR (VV/VH in dB) from per-class backscatter with seasonal crops, wet snow and
  multiplicative gamma speckle.

Everything is float32 arithmetic on a handful of full-size arrays: random fields
are drawn on coarse grids and upsampled with separable cubic B-spline matrices
(two small matrix products), and the image is a class-spectra lookup modulated
per pixel and per season. A 13-band 264 x 264 x 4-season Sentinel-2 location
takes a few tens of milliseconds on one core.

The modules, in the order of the recipe (:mod:`.location`):

- ``noise``: smooth random fields, B-spline upsampling;
- ``climate``: overpass times; temperature, aridity and dry season by latitude;
- ``terrain``: the landscape's random fields, and the relief (lapse rate);
- ``landcover``: the classes, and the label map with parcels, lakes and rivers;
- ``seasons``: vegetation greenness per class and parcel, snow cover;
- ``texture``: pixel-scale brightness variation;
- ``atmosphere``: gas transmission, path radiance, clouds, shadows, cloud mask;
- ``spectra``: the spectral library;
- ``reflective``, ``thermal``, ``sar``: rendering each kind of band;
- ``units``: stored value ranges and nodata.
"""

from eossl.data.io.schema import CLOUD_CODES
from eossl.data.synthetic.landcover import CLASSES
from eossl.data.synthetic.location import SyntheticLocation, synth_location

__all__ = ["CLASSES", "CLOUD_CODES", "SyntheticLocation", "synth_location"]
