"""One synthetic location: the recipe that draws it, step by step."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from eossl.data.synthetic.atmosphere import _clouds, _mark_clouds, _surface_mask
from eossl.data.synthetic.climate import _climate, _overpass_times
from eossl.data.synthetic.landcover import _land_cover
from eossl.data.synthetic.noise import _F32, _octaves
from eossl.data.synthetic.reflective import _reflective
from eossl.data.synthetic.sar import _sar
from eossl.data.synthetic.seasons import _greenness, _land_greenness, _snow_cover
from eossl.data.synthetic.terrain import _landscape_fields, _lapse
from eossl.data.synthetic.texture import _brightness_texture, _texture_fields
from eossl.data.synthetic.thermal import _thermal, _thermal_band
from eossl.sensors import Sensor


@dataclass
class SyntheticLocation:
    """One synthetic location: a seasonal image time series and its labels."""

    bands: np.ndarray  # (T, C, H, W) sensor.dtype, stored units (DN or dB)
    cloud_mask: np.ndarray  # (T, H, W) uint8, CLOUD_CODES
    label: np.ndarray  # (H, W) uint8, index into CLASSES
    times: np.ndarray  # (T,) datetime64[ns], sorted, distinct
    lat: float
    lon: float
    greenness: np.ndarray | None = None  # (T,) true vegetation cycle: mean G over land


def _draw_place(
    rng: np.random.Generator, lat: float | None, lon: float | None
) -> tuple[float, float]:
    """Latitude (uniform on the sphere, -56 to 72) and longitude, each drawn when None."""
    if lat is None:
        lat = float(
            np.degrees(np.arcsin(rng.uniform(np.sin(np.radians(-56)), np.sin(np.radians(72)))))
        )
    if lon is None:
        lon = float(rng.uniform(-180, 180))
    return float(lat), float(lon)


def _finest_gsd(sensor: Sensor) -> float:
    """The pixel size (m) of the image: the card's finest non-thermal band, else 10 m."""
    gsds = [b.gsd for b in sensor.bands if b.kind != "thermal"] or [10.0]
    return float(min(gsds))


def _optical_bands(sensor, rng, label, G, snow, alpha, shade, tex, kelvin):
    """Reflective and thermal bands in the card's order and stored units, (T, C, H, W).

    ``kelvin`` is the brightness temperature (T, H, W) when the card has thermal bands.
    """
    T, H = G.shape[0], G.shape[1]
    kinds = [b.kind for b in sensor.bands]
    refl = [i for i, k in enumerate(kinds) if k != "thermal"]
    therm = [i for i, k in enumerate(kinds) if k == "thermal"]
    dtype = np.dtype(sensor.dtype)
    out = None
    if refl:
        rbands = _reflective(
            sensor, rng, [sensor.bands[i] for i in refl], label, G, snow, alpha, shade, tex, dtype
        )
        if not therm:
            out = rbands
        else:
            out = np.empty((T, len(kinds), H, H), dtype)
            out[:, refl] = rbands
    if therm:
        if out is None:
            out = np.empty((T, len(kinds), H, H), dtype)
        for i in therm:
            out[:, i] = _thermal_band(rng, kelvin, sensor.bands[i], sensor.nodata, dtype)
    return out


def synth_location(
    sensor: Sensor,
    size: int = 264,
    seasons: int = 4,
    rng: np.random.Generator | None = None,
    lat: float | None = None,
    lon: float | None = None,
    year: int = 2021,
) -> SyntheticLocation:
    """Draw one synthetic location for ``sensor``: ``seasons`` images of ``size`` x ``size``.

    Args:
        sensor: the sensor card; optical bands are written as
            ``reflectance * quantification`` in ``sensor.dtype`` (thermal bands via
            their kelvin ``range``), SAR bands as dB.
        size: image height and width in pixels.
        seasons: number of timestamps, one per equal part of ``year`` with jitter.
        rng: random generator; the result is a function of its state.
        lat: latitude in degrees; drawn from ``rng`` (uniform on the sphere, -56 to 72)
            when None. Sets the climate: seasons flip south of the equator.
        lon: longitude in degrees; drawn from ``rng`` when None. Sets the UTC overpass time.
        year: calendar year of the timestamps.
    """
    if size < 1 or seasons < 1:
        raise ValueError(f"size and seasons must be >= 1, got {size} and {seasons}")
    rng = np.random.default_rng() if rng is None else rng
    # (the order of the steps is the order of the draws from rng: keep it)
    lat, lon = _draw_place(rng, lat, lon)
    sar = sensor.modality == "sar"
    gsd = _finest_gsd(sensor)

    # when, and the weather then
    times, doy = _overpass_times(rng, seasons, lon, year, sar)
    clim = _climate(rng, lat)
    t_air = clim.air(doy).astype(_F32)  # (T,) at sea level

    # the ground: terrain, relief, land cover
    cells = _octaves(gsd)
    fields = _landscape_fields(rng, size, cells)
    lapse = _lapse(rng, fields.elev)
    cover = _land_cover(rng, fields, clim, lapse, gsd)
    label = cover.label

    # the seasons on it: greenness and snow
    G = _greenness(rng, clim, cover, t_air, clim.local_day(doy), fields.ever)
    greenness = _land_greenness(G, label)
    t_pix = t_air[:, None, None] - lapse  # (T, H, W)
    snow = _snow_cover(label, t_pix, fields.snow)
    cloud_mask = _surface_mask(label, snow)
    f_tex, tex_n = _texture_fields(rng, fields.tex)

    if sar:
        bands = _sar(sensor, rng, label, G, snow, t_pix, f_tex, tex_n)
        return SyntheticLocation(bands, cloud_mask, label, times, lat, lon, greenness)

    # the sky, then the image
    alpha, beta = _clouds(rng, seasons, size, gsd, cells, lat, doy)
    shade = _mark_clouds(cloud_mask, alpha, beta)
    tex = _brightness_texture(rng, cover, f_tex, tex_n)
    kelvin = None
    if any(b.kind == "thermal" for b in sensor.bands):
        kelvin = _thermal(label, G, snow, alpha, shade, t_pix, clim, t_air, tex_n, f_tex)
    bands = _optical_bands(sensor, rng, label, G, snow, alpha, shade, tex, kelvin)
    return SyntheticLocation(bands, cloud_mask, label, times, lat, lon, greenness)
