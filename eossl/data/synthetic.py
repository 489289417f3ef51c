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
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cache

import numpy as np

from eossl.data.schema import CLOUD_CODES
from eossl.sensors import Sensor

__all__ = ["CLASSES", "CLOUD_CODES", "SyntheticLocation", "synth_location"]

CLASSES: tuple[str, ...] = (
    "water",
    "forest",
    "cropland",
    "grassland",
    "urban",
    "bare",
    "snow_ice",
)  # label codes 0..6

WATER, FOREST, CROPLAND, GRASSLAND, URBAN, BARE, SNOW_ICE = range(7)
_K = len(CLASSES)
_YEAR = 365.25
_F32 = np.float32


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


# --------------------------------------------------------------------------------------
# Spectral library: surface reflectance at _WL (micrometres).
# --------------------------------------------------------------------------------------
_WL = np.array(
    [
        0.40,
        0.45,
        0.50,
        0.55,
        0.60,
        0.65,
        0.68,
        0.70,
        0.72,
        0.74,
        0.78,
        0.86,
        1.00,
        1.20,
        1.40,
        1.60,
        1.80,
        2.00,
        2.20,
        2.40,
    ]
)
_SPECTRA = {
    # green crop / grass canopy: red well, red edge, NIR plateau, leaf-water SWIR
    "green": [
        0.030,
        0.035,
        0.045,
        0.090,
        0.065,
        0.040,
        0.035,
        0.070,
        0.180,
        0.290,
        0.400,
        0.440,
        0.430,
        0.400,
        0.320,
        0.280,
        0.220,
        0.100,
        0.140,
        0.080,
    ],
    # closed forest canopy in leaf (darker than crops: shadows between crowns)
    "forest_leaf": [
        0.020,
        0.025,
        0.030,
        0.055,
        0.040,
        0.028,
        0.025,
        0.045,
        0.120,
        0.210,
        0.290,
        0.320,
        0.310,
        0.280,
        0.200,
        0.160,
        0.120,
        0.050,
        0.070,
        0.040,
    ],
    # leaf-off deciduous forest: branches, litter, understorey
    "forest_bare": [
        0.040,
        0.045,
        0.050,
        0.060,
        0.065,
        0.070,
        0.070,
        0.075,
        0.090,
        0.110,
        0.140,
        0.160,
        0.170,
        0.175,
        0.160,
        0.170,
        0.160,
        0.110,
        0.120,
        0.090,
    ],
    # senescent / dry grass
    "dry_grass": [
        0.050,
        0.060,
        0.075,
        0.095,
        0.110,
        0.120,
        0.125,
        0.135,
        0.160,
        0.190,
        0.220,
        0.240,
        0.270,
        0.300,
        0.280,
        0.320,
        0.320,
        0.240,
        0.260,
        0.200,
    ],
    # bare soil: rising with wavelength, clay feature at 2.2 um
    "soil": [
        0.050,
        0.065,
        0.080,
        0.100,
        0.125,
        0.150,
        0.160,
        0.170,
        0.180,
        0.190,
        0.205,
        0.225,
        0.260,
        0.290,
        0.300,
        0.330,
        0.340,
        0.300,
        0.310,
        0.280,
    ],
    # urban: flat, 0.1-0.2
    "urban": [
        0.070,
        0.080,
        0.090,
        0.100,
        0.110,
        0.120,
        0.122,
        0.125,
        0.128,
        0.130,
        0.135,
        0.150,
        0.170,
        0.180,
        0.180,
        0.190,
        0.190,
        0.170,
        0.170,
        0.150,
    ],
    "water_clear": [
        0.060,
        0.060,
        0.055,
        0.045,
        0.030,
        0.020,
        0.018,
        0.015,
        0.012,
        0.010,
        0.008,
        0.006,
        0.004,
        0.003,
        0.002,
        0.002,
        0.002,
        0.001,
        0.001,
        0.001,
    ],
    "water_turbid": [
        0.070,
        0.085,
        0.100,
        0.120,
        0.115,
        0.095,
        0.088,
        0.080,
        0.062,
        0.050,
        0.038,
        0.026,
        0.014,
        0.009,
        0.005,
        0.005,
        0.005,
        0.003,
        0.003,
        0.003,
    ],
    # fresh snow: bright in the visible, dark in the SWIR
    "snow": [
        0.950,
        0.960,
        0.960,
        0.950,
        0.940,
        0.930,
        0.920,
        0.910,
        0.900,
        0.890,
        0.870,
        0.830,
        0.700,
        0.450,
        0.150,
        0.080,
        0.050,
        0.020,
        0.040,
        0.020,
    ],
    # glacier ice / old snow (summer)
    "ice": [
        0.600,
        0.620,
        0.610,
        0.590,
        0.560,
        0.520,
        0.500,
        0.480,
        0.460,
        0.440,
        0.400,
        0.330,
        0.180,
        0.060,
        0.020,
        0.010,
        0.010,
        0.005,
        0.008,
        0.005,
    ],
    # cloud top, relative to its visible brightness; seen above the water vapour,
    # so not attenuated at 1.375 um (cirrus band bright over clouds)
    "cloud": [
        1.000,
        1.000,
        1.000,
        1.000,
        0.990,
        0.980,
        0.980,
        0.970,
        0.970,
        0.960,
        0.950,
        0.930,
        0.900,
        0.850,
        0.600,
        0.700,
        0.550,
        0.450,
        0.450,
        0.400,
    ],
}
_SPECTRA = {k: np.asarray(v) for k, v in _SPECTRA.items()}

# per-class texture amplitude (relative brightness) and snow visibility through canopy
_TEX_AMP = np.array([0.03, 0.12, 0.06, 0.08, 0.22, 0.10, 0.03], _F32)
_SNOW_VIS = np.array([0.0, 0.55, 1.0, 1.0, 0.7, 1.0, 0.0], _F32)

# thermal: daytime surface minus air temperature, K = _T0 + (1 - G) * _T1
_T0 = np.array([0.0, 1.5, 2.0, 3.0, 9.0, 12.0, -1.0], _F32)
_T1 = np.array([0.0, 1.0, 8.0, 5.0, 0.0, 0.0, 0.0], _F32)

# SAR backscatter (dB): co-pol (VV/HH) and cross-pol (VH/HV), value = A + G * B
_SAR_A = np.array(
    [
        [-24.0, -29.0],  # water: calm
        [-8.5, -15.5],  # forest: volume scattering in VH
        [-13.0, -22.0],  # cropland: bare / harvested soil
        [-12.0, -20.0],  # grassland
        [-3.0, -9.0],  # urban: double bounce
        [-14.0, -23.0],  # bare
        [-11.0, -18.0],
    ],  # snow / ice
    _F32,
)
_SAR_B = np.array(
    [[8.0, 4.0], [1.0, 1.5], [3.5, 7.0], [1.5, 3.0], [0.0, 0.0], [0.5, 1.0], [0.0, 0.0]], _F32
)
_SAR_TEX = np.array([0.4, 1.0, 0.8, 0.8, 2.5, 1.2, 0.8], _F32)  # dB
_SAR_ENL = 4.4  # equivalent number of looks, Sentinel-1 IW GRDH


def _tokens(sensor: Sensor) -> set[str]:
    text = f"{sensor.name} {sensor.product} {sensor.title}".lower()
    return set(re.split(r"[^a-z0-9]+", text))


def _is_toa(sensor: Sensor) -> bool:
    tok = _tokens(sensor)
    if tok & {"l2a", "sr", "boa", "l2", "l2sp", "surface"}:
        return False
    return bool(tok & {"l1c", "toa", "l1", "l1tp", "l1t", "top"})


def _transmission(wl: np.ndarray) -> np.ndarray:
    """Two-way atmospheric transmission: water-vapour bands at 0.94, 1.13, 1.38, 1.87 um."""
    g = lambda c, w: np.exp(-(((wl - c) / w) ** 2))  # noqa: E731
    t = 1.0 - 0.55 * g(0.945, 0.03) - 0.35 * g(1.135, 0.025) - 0.985 * g(1.375, 0.04)
    t -= 0.9 * g(1.87, 0.05)
    return np.clip(t, 0.005, 1.0)


# --------------------------------------------------------------------------------------
# Smooth random fields: coarse noise, separable cubic B-spline upsampling.
# --------------------------------------------------------------------------------------
def _grid(pmin: float, pmax: float, cell: float) -> tuple[float, int]:
    """Origin and node count of a B-spline grid of spacing ``cell`` covering [pmin, pmax]."""
    origin = pmin - cell
    return origin, int(np.floor((pmax - origin) / cell)) + 3


def _bspline(pos: np.ndarray, origin: float, cell: float, n: int) -> np.ndarray:
    """(len(pos), n) matrix evaluating a cubic B-spline with nodes ``origin + j * cell``."""
    c = (np.asarray(pos, np.float64) - origin) / cell
    i = np.floor(c).astype(np.intp)
    t = c - i
    t2, t3 = t * t, t * t * t
    w = np.stack([(1 - t) ** 3, 3 * t3 - 6 * t2 + 4, -3 * t3 + 3 * t2 + 3 * t + 1, t3], 1) / 6
    cols = np.clip(i[:, None] + np.arange(-1, 3), 0, n - 1)
    m = np.zeros((len(c), n), _F32)
    np.add.at(m, (np.arange(len(c))[:, None], cols), w.astype(_F32))
    return m


# OpenBLAS runs a GEMM on all cores once m * n * k exceeds 65536 * 4; on a busy
# machine (data-loader workers, parallel writers) its spinning threads make these
# small products 100x slower. Keep each product under the threshold: one thread.
_GEMM_SINGLE_THREAD = 200_000


def _matmul(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Multiply 2-D arrays in row blocks small enough for one BLAS thread."""
    m, k = a.shape
    n = b.shape[1]
    step = max(1, _GEMM_SINGLE_THREAD // max(1, k * n))
    if step >= m:
        return a @ b
    out = np.empty((m, n), np.result_type(a, b))
    for i in range(0, m, step):
        np.matmul(a[i : i + step], b, out=out[i : i + step])
    return out


def _upsample(f: np.ndarray, my: np.ndarray, mx: np.ndarray) -> np.ndarray:
    """Upsample: ``my @ f @ mx.T`` for each 2-D field in ``f`` (..., ny, nx) -> (..., H, W)."""
    lead = f.shape[:-2]
    flat = f.reshape((-1,) + f.shape[-2:])
    mxt = np.ascontiguousarray(mx.T)
    out = np.empty((flat.shape[0], my.shape[0], mx.shape[0]), _F32)
    for j in range(flat.shape[0]):
        out[j] = _matmul(my, _matmul(flat[j], mxt))
    return out.reshape(lead + out.shape[-2:])


_SPLINE_STD = 0.48  # std of B-spline interpolated unit white noise (per 2-D)


def _fine_noise(
    rng: np.random.Generator, weights: np.ndarray, nodes: np.ndarray, cells: tuple[float, ...]
) -> np.ndarray:
    """Sum of octaves on the fine grid ``nodes`` (1-D node positions, same in y and x).

    ``weights`` is (fields, len(cells) + 1); the last column weighs white noise on
    the fine grid itself, the others noise on coarser grids of spacing ``cells``.
    """
    nf, n = weights.shape[0], len(nodes)
    w = weights.astype(_F32)
    out = rng.standard_normal((nf, n, n), dtype=_F32)
    out *= w[:, -1, None, None]
    for k, cell in enumerate(cells):
        if not w[:, k].any():
            continue
        o, nk = _grid(nodes[0], nodes[-1], cell)
        m = _bspline(nodes, o, cell, nk)
        noise = rng.standard_normal((nf, nk, nk), dtype=_F32)
        noise *= w[:, k, None, None] / _SPLINE_STD
        out += _upsample(noise, m, m)
    return out


def _normalise(f: np.ndarray) -> np.ndarray:
    """Zero mean, unit std per field (statistics from a subsample), in place."""
    sub = f[..., ::4, ::4]
    axes = (-2, -1)
    mean = sub.mean(axis=axes, keepdims=True)
    std = sub.std(axis=axes, keepdims=True) + 1e-6
    f -= mean
    f /= std
    return f


def _quantile(f: np.ndarray, q: float) -> float:
    return float(np.quantile(f[::4, ::4], min(max(q, 0.0), 1.0)))


@cache
def _log_gamma_table(looks: float) -> np.ndarray:
    """65,536 quantiles of 10 log10(Gamma(L, 1/L)): speckle in dB by table lookup."""
    sample = np.random.default_rng(20240607).gamma(looks, 1.0 / looks, 1 << 20)
    sample.sort()
    return (10.0 * np.log10(sample[8::16])).astype(_F32)


# --------------------------------------------------------------------------------------
# Climate and phenology.
# --------------------------------------------------------------------------------------
def _sigmoid(x):
    return 1.0 / (1.0 + np.exp(-x))


@dataclass
class _Climate:
    lat: float
    t_mean: float  # annual mean air temperature at sea level, deg C
    amp: float  # seasonal half amplitude, deg C
    arid: float  # 0 humid .. 1 desert
    dry_amp: float  # strength of the dry season
    dry_peak: float  # hemisphere-adjusted day of the dry-season peak

    def local_day(self, doy: np.ndarray) -> np.ndarray:
        """Day of year with the southern hemisphere shifted by half a year."""
        return (doy + (0.0 if self.lat >= 0 else _YEAR / 2)) % _YEAR

    def air(self, doy: np.ndarray) -> np.ndarray:
        """Air temperature at sea level, coldest around 20 January (north)."""
        return self.t_mean - self.amp * np.cos(2 * np.pi * (self.local_day(doy) - 20) / _YEAR)


def _climate(rng: np.random.Generator, lat: float) -> _Climate:
    a = abs(lat)
    t_mean = 28.0 - 0.5 * max(a - 15.0, 0.0) - 0.4 * max(a - 65.0, 0.0) + rng.normal(0, 1.5)
    amp = 0.22 * a * rng.uniform(0.75, 1.25)
    arid = float(
        np.clip(
            np.exp(-(((a - 25) / 9) ** 2)) * rng.uniform(0, 1.2) + rng.uniform(-0.1, 0.25), 0, 1
        )
    )
    if a < 45:
        dry_amp = float(np.clip(0.15 + 0.6 * arid + rng.uniform(-0.1, 0.1), 0, 0.9))
    else:
        dry_amp = float(rng.uniform(0, 0.1))
    dry_peak = (200.0 if a > 28 else 40.0) + rng.uniform(-30, 30)
    return _Climate(lat, t_mean, amp, arid, dry_amp, dry_peak)


# --------------------------------------------------------------------------------------
# The generator.
# --------------------------------------------------------------------------------------
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
    if lat is None:
        lat = float(
            np.degrees(np.arcsin(rng.uniform(np.sin(np.radians(-56)), np.sin(np.radians(72)))))
        )
    if lon is None:
        lon = float(rng.uniform(-180, 180))
    lat, lon = float(lat), float(lon)
    sar = sensor.modality == "sar"
    gsds = [b.gsd for b in sensor.bands if b.kind != "thermal"] or [10.0]
    gsd = float(min(gsds))
    T, H = seasons, size

    # ---- timestamps: one per season, jittered; sun-synchronous overpass time -------
    step = _YEAR / T
    doy = (np.arange(T) + 0.5) * step + rng.uniform(-0.3, 0.3, T) * step
    # (the same draws for every sensor, so a seed gives the same place for S1 and S2)
    sar_hour = rng.choice([6.0, 18.0])
    local_hour = (sar_hour if sar else 10.5) + rng.uniform(-0.2, 0.2)
    utc_hour = (local_hour - lon / 15.0) % 24.0
    offset_ns = np.round(
        (np.floor(doy) * 86400 + utc_hour * 3600 + rng.uniform(0, 60, T)) * 1e9
    ).astype(np.int64)
    times = np.datetime64(f"{year}-01-01T00:00:00", "ns") + offset_ns.astype("timedelta64[ns]")
    times = np.sort(times)
    doy_f = np.floor(doy) + utc_hour / 24.0

    clim = _climate(rng, lat)
    a = abs(lat)
    t_air = clim.air(doy_f).astype(_F32)  # (T,)
    dloc = clim.local_day(doy_f)

    # ---- smooth random fields ------------------------------------------------------
    cell = 8.0
    o_f, n_f = _grid(0.0, H - 1.0, cell)
    nodes = o_f + cell * np.arange(n_f)
    cells = (
        max(2 * cell, 2400.0 / gsd),
        max(1.5 * cell, 700.0 / gsd),
        max(1.25 * cell, 250.0 / gsd),
    )  # octaves of about 2.4 km, 700 m, 250 m
    #                      L1    L2    L3   fine
    weights = np.array(
        [
            [1.0, 0.6, 0.25, 0.08],  # 0 elevation
            [0.6, 1.0, 0.45, 0.15],  # 1 wetness (lakes)
            [0.5, 1.0, 0.50, 0.25],  # 2 urban
            [0.8, 1.0, 0.30, 0.10],  # 3 agriculture
            [0.4, 1.0, 0.70, 0.40],  # 4 forest
            [0.5, 1.0, 0.60, 0.30],  # 5 bare
            [0.0, 0.4, 0.80, 0.60],  # 6 snow patchiness
            [0.2, 0.6, 1.00, 0.60],  # 7 evergreen share
            [0.0, 0.0, 0.40, 1.00],  # 8 texture
            [0.0, 0.0, 0.40, 1.00],
        ]
    )  # 9 urban parks
    fine = _fine_noise(rng, weights, nodes, cells)
    m_full = _bspline(np.arange(H), o_f, cell, n_f)
    fields = _normalise(_upsample(fine, m_full, m_full))  # (10, H, H)
    f_elev, f_wet, f_urb, f_agri, f_for, f_bare, f_snow, f_ever, f_tex, f_park = fields
    yy = np.arange(H, dtype=_F32)[:, None]
    xx = np.arange(H, dtype=_F32)[None, :]

    # ---- terrain and climate per pixel -----------------------------------------------
    r = rng.random()
    if r < 0.55:  # lowland
        base_alt, relief = rng.uniform(0, 300), rng.uniform(10, 150)
    elif r < 0.88:  # hills, plateaus
        base_alt, relief = rng.uniform(100, 800), rng.uniform(100, 600)
    else:  # mountains
        base_alt, relief = rng.uniform(300, 1500), rng.uniform(800, 2500)
    e_lo, e_hi = float(f_elev.min()), float(f_elev.max())
    elev01 = (f_elev - e_lo) * _F32(1.0 / max(e_hi - e_lo, 1e-6))
    lapse = _F32(6.5e-3 * relief) * elev01 + _F32(6.5e-3 * base_alt)  # deg C cooler than sea level
    t_mean_pix = _F32(clim.t_mean) - lapse

    # ---- land cover ---------------------------------------------------------------
    arid = clim.arid
    r = rng.random()
    f_water = (
        rng.uniform(0, 0.05)
        if r < 0.5
        else rng.uniform(0.05, 0.2)
        if r < 0.8
        else rng.uniform(0.2, 0.6)
    )
    r = rng.random()
    f_urban = (
        rng.uniform(0, 0.02)
        if r < 0.4
        else rng.uniform(0.02, 0.2)
        if r < 0.8
        else rng.uniform(0.2, 0.7)
    )
    suit = float(np.clip((clim.t_mean - 2.0) / 6.0, 0, 1))
    fr_agri = float(np.clip(rng.uniform(0.0, 0.85) * (1 - arid) * suit, 0, 0.9))
    f_forest = float(np.clip(rng.uniform(0.15, 0.85) * (1 - 0.9 * arid), 0.02, 0.95))
    f_bare_ = float(np.clip(arid * rng.uniform(0.5, 1.0) + rng.uniform(0, 0.08), 0, 0.95))

    label = np.full((H, H), GRASSLAND, np.uint8)
    forest = f_for > _quantile(f_for, 1 - f_forest)
    label[forest] = FOREST
    label[(f_bare > _quantile(f_bare, 1 - f_bare_)) & ~forest] = BARE

    # agricultural parcels: rows of rectangular fields on a rotated grid
    n_parcels = 2048
    agri = f_agri > _quantile(f_agri, 1 - fr_agri)
    has_agri = bool(agri.any())
    if has_agri:
        theta = rng.uniform(-0.6, 0.6)
        u = xx * _F32(np.cos(theta)) + yy * _F32(np.sin(theta))
        v = yy * _F32(np.cos(theta)) - xx * _F32(np.sin(theta))
        ps = max(3.0, float(np.exp(rng.normal(np.log(300.0), 0.4))) / gsd)
        v0, v1 = float(v.min()), float(v.max())
        n_rows = int((v1 - v0) / (0.6 * ps)) + 2
        edges = v0 - rng.uniform(0, ps) + np.cumsum(rng.uniform(0.6, 1.4, n_rows) * ps)
        row = np.searchsorted(edges, v.ravel()).reshape(H, H)
        width = (ps * rng.uniform(0.5, 2.5, n_rows + 1)).astype(_F32)
        shift = rng.uniform(0, 1, n_rows + 1).astype(_F32) * width
        col = np.floor((u - _F32(u.min()) + shift[row]) / width[row]).astype(np.intp)
        pid = (row * 613 + col) % n_parcels
        p_class = rng.choice(
            np.array([CROPLAND, GRASSLAND, BARE], np.uint8), n_parcels, p=[0.72, 0.18, 0.10]
        )
        woodlot = f_for > _quantile(f_for, 0.96)
        sel = agri & ~woodlot
        label[sel] = p_class[pid[sel]]

    # cold: tree line, alpine rock, glaciers; too cold for crops
    cold = t_mean_pix + _F32(0.8) * f_snow
    label[(label == FOREST) & (cold < 0.5)] = GRASSLAND
    label[(label == CROPLAND) & (cold < 2.0)] = GRASSLAND
    label[cold < -3.0] = BARE
    label[cold < -6.5] = SNOW_ICE
    # urban blobs with parks
    urban = (f_urb > _quantile(f_urb, 1 - f_urban)) & (label != SNOW_ICE)
    label[urban] = URBAN
    label[urban & (f_park > 1.3)] = GRASSLAND
    # lakes in low, wet places, and a river
    wet = f_wet - _F32(0.5) * f_elev
    label[wet < _quantile(wet, f_water)] = WATER
    if rng.random() < 0.35 + 0.3 * (1 - arid):
        phi = rng.uniform(0, np.pi)
        ru = xx * _F32(np.cos(phi)) + yy * _F32(np.sin(phi))
        rv = (
            yy * _F32(np.cos(phi))
            - xx * _F32(np.sin(phi))
            - _F32((H / 2) * (np.cos(phi) - np.sin(phi)))
        )  # 0 through the centre
        amp, lam = rng.uniform(0.03, 0.2) * H, rng.uniform(0.5, 1.5) * H
        p1, p2 = rng.uniform(0, 2 * np.pi, 2)
        centre = rng.uniform(-0.3, 0.3) * H
        path = _F32(amp) * np.sin(ru * _F32(2 * np.pi / lam) + _F32(p1)) + _F32(
            0.3 * amp
        ) * np.sin(ru * _F32(6.5 * np.pi / lam) + _F32(p2))
        half = max(0.8, rng.uniform(15, 150) / gsd / 2)
        label[np.abs(rv - _F32(centre) - path) < half] = WATER

    if has_agri:
        parcel = agri & (label == p_class[pid])
        gid = np.where(parcel, pid + _K, label.astype(np.intp))
    else:
        gid = label.astype(np.intp)

    # ---- phenology: G in [0, 1] per class and per parcel, per timestamp -----------------
    g_temp = _sigmoid((t_air - 7.0) / 2.5)
    dry = 0.5 + 0.5 * np.cos(2 * np.pi * (dloc - clim.dry_peak) / _YEAR)
    g_moist = 1 - clim.dry_amp * dry
    turb = rng.uniform(0, 0.5)
    t_glacier = -8.0 + (t_air - clim.t_mean)
    g_cls = np.empty((T, _K), _F32)
    g_cls[:, WATER] = np.clip(turb + rng.normal(0, 0.1, T), 0, 1)
    g_cls[:, FOREST] = g_temp * (1 - 0.3 * clim.dry_amp * dry)
    g_cls[:, CROPLAND] = 0.7 * g_temp * g_moist
    g_cls[:, GRASSLAND] = 0.3 + 0.7 * g_temp * g_moist
    g_cls[:, URBAN] = g_temp * g_moist
    g_cls[:, BARE] = 0.3 * g_temp * g_moist * (1 - arid)
    g_cls[:, SNOW_ICE] = 1 - 0.75 * np.clip((t_glacier + 1) / 6, 0, 1)
    if has_agri:
        if a < 23:
            peak = rng.uniform(0, _YEAR, n_parcels)
            wid = rng.uniform(25, 45, n_parcels)
        else:
            winter = rng.random(n_parcels) < 0.35
            peak = np.where(
                winter, rng.uniform(140, 175, n_parcels), rng.uniform(185, 225, n_parcels)
            )
            wid = np.where(winter, rng.uniform(35, 55, n_parcels), rng.uniform(25, 40, n_parcels))
        delta = (dloc[:, None] - peak[None] + _YEAR / 2) % _YEAR - _YEAR / 2
        sen = 0.9 * wid
        crop = np.where(
            delta < 0,
            np.exp(-0.5 * (delta / wid) ** 2),
            np.where(delta < sen, 1 - 0.5 * delta / sen, 0.0),
        )
        crop *= np.clip((t_air[:, None] + 2) / 8, 0, 1)
        g_par = np.where(
            p_class == CROPLAND,
            crop,
            np.where(
                p_class == GRASSLAND,
                g_cls[:, GRASSLAND, None] * rng.uniform(0.85, 1.05, n_parcels),
                g_cls[:, BARE, None],
            ),
        )
        g_tab = np.concatenate([g_cls, g_par.astype(_F32)], axis=1)
    else:
        g_tab = g_cls
    G = g_tab[:, gid]  # (T, H, W)
    is_forest = label == FOREST
    if is_forest.any():
        ev_mean = 0.75 if a > 55 else 0.9 if a < 20 else rng.uniform(0.05, 0.35)
        ever = np.clip(_F32(ev_mean) + _F32(0.25) * f_ever, 0, 1)
        G = np.where(is_forest, ever + (1 - ever) * G, G)

    land = (label != WATER) & (label != SNOW_ICE)
    greenness = G[:, land].mean(axis=1) if land.any() else np.full(T, np.nan, _F32)

    # ---- snow cover per timestamp (H, W), frozen lakes -----------------------------------
    t_pix = t_air[:, None, None] - lapse  # (T, H, W)
    snow_vis = _SNOW_VIS[label]
    is_water = label == WATER
    snow = []
    snow_reach = -0.5 + 1.2 * float(f_snow.max())  # warmest pixel temperature with snow
    for t in range(T):
        if float(t_pix[t].min()) > max(snow_reach, -4.0):
            snow.append(None)
            continue
        sf = np.clip((_F32(-0.5) - t_pix[t]) / _F32(4.0) + _F32(0.3) * f_snow, 0, 1) * snow_vis
        sf[is_water] = t_pix[t][is_water] < -4.0
        snow.append(sf if sf.any() else None)

    # ---- cloud mask base ------------------------------------------------------------
    base_mask = np.zeros((H, H), np.uint8)
    base_mask[is_water] = CLOUD_CODES["water"]
    base_mask[label == SNOW_ICE] = CLOUD_CODES["snow"]
    cloud_mask = np.empty((T, H, H), np.uint8)
    cloud_mask[:] = base_mask
    for t in range(T):
        if snow[t] is not None:
            cloud_mask[t][snow[t] >= 0.5] = CLOUD_CODES["snow"]

    # texture: a 3-pixel B-spline octave plus per-pixel noise
    o3, n3 = _grid(0.0, H - 1.0, 3.0)
    m3 = _bspline(np.arange(H), o3, 3.0, n3)
    f_tex3 = _upsample(rng.standard_normal((n3, n3), dtype=_F32), m3, m3)
    f_tex3 *= _F32(1 / _SPLINE_STD)
    f_tex += f_tex3
    f_tex *= _F32(0.7)
    tex_n = rng.standard_normal((H, H), dtype=_F32)
    if sar:
        bands = _sar(sensor, rng, label, G, snow, t_pix, f_tex, tex_n)
        return SyntheticLocation(bands, cloud_mask, label, times, lat, lon, greenness)

    # ---- clouds and shadows -------------------------------------------------------------
    alpha, beta = _clouds(rng, T, H, gsd, cells, lat, doy_f)
    for t in range(T):
        if alpha[t] is None:
            continue
        m = cloud_mask[t]
        shade = np.clip(beta[t] * _F32(1 / 0.6), 0, 1)
        m[(shade >= 0.5) & (alpha[t] < 0.15)] = CLOUD_CODES["shadow"]
        m[alpha[t] >= 0.15] = CLOUD_CODES["thin_cloud"]
        m[alpha[t] >= 0.6] = CLOUD_CODES["thick_cloud"]
        beta[t] = shade

    # ---- texture -------------------------------------------------------------------
    tex = _TEX_AMP[label] * (f_tex + _F32(0.5) * tex_n)
    tex += 1
    if has_agri:
        jit = np.ones(g_tab.shape[1], _F32)
        jit[_K:] = rng.uniform(0.85, 1.15, n_parcels)
        tex *= jit[gid]
    np.clip(tex, 0.5, 1.8, out=tex)

    kinds = [b.kind for b in sensor.bands]
    refl = [i for i, k in enumerate(kinds) if k != "thermal"]
    therm = [i for i, k in enumerate(kinds) if k == "thermal"]
    dtype = np.dtype(sensor.dtype)
    out = None
    if refl:
        rbands = _reflective(
            sensor, rng, [sensor.bands[i] for i in refl], label, G, snow, alpha, beta, tex, dtype
        )
        if not therm:
            out = rbands
        else:
            out = np.empty((T, len(kinds), H, H), dtype)
            out[:, refl] = rbands
    if therm:
        if out is None:
            out = np.empty((T, len(kinds), H, H), dtype)
        kelvin = _thermal(label, G, snow, alpha, beta, t_pix, clim, t_air, tex_n, f_tex)
        for i in therm:
            noisy = kelvin + rng.standard_normal(kelvin.shape, dtype=_F32) * _F32(0.2)
            out[:, i] = _thermal_dn(noisy, sensor.bands[i].range, sensor.nodata, dtype)
    return SyntheticLocation(out, cloud_mask, label, times, lat, lon, greenness)


def _clouds(rng, T, H, gsd, cells, lat, doy):
    """Cloud opacity alpha and shadow opacity beta per timestamp ((H, W) or None)."""
    alpha: list = [None] * T
    beta: list = [None] * T
    frac = np.zeros(T)
    for t in range(T):
        r = rng.random()
        frac[t] = 0.0 if r < 0.45 else rng.uniform(0, 0.15) if r < 0.7 else rng.beta(1.0, 1.3)
    cloudy = [t for t in range(T) if frac[t] > 0.002]
    if not cloudy:
        return alpha, beta
    # shadow displacement from cloud height and sun elevation (10:30 local time)
    decl = 23.44 * np.sin(2 * np.pi * (doy - 81) / _YEAR)
    elev = np.clip(90.0 - np.abs(lat - decl) - 10.0, 12.0, 80.0)
    height = rng.uniform(800, 3500, T)
    dist = np.minimum(height / np.tan(np.radians(elev)) / gsd, 0.5 * H)
    az = np.where(lat - decl > 0, 330.0, 210.0) + rng.uniform(-15, 15, T)
    dx = dist * np.sin(np.radians(az))
    dy = -dist * np.cos(np.radians(az))
    reach = float(np.max(dist[cloudy])) + 1
    cell = 8.0
    o, n = _grid(-reach, H - 1.0 + reach, cell)
    nodes = o + cell * np.arange(n)
    w = np.array([[0.5, 1.0, 0.8, 0.5]])
    px = np.arange(H, dtype=np.float64)
    m0 = _bspline(px, o, cell, n)
    for t in cloudy:
        fine = _fine_noise(rng, w, nodes, cells)[0]
        c = _upsample(fine, m0, m0)
        sub = c[::4, ::4]
        sd = float(sub.std()) + 1e-6
        thr = float(np.quantile(sub, 1 - frac[t]))
        soft = rng.uniform(0.3, 1.5) * sd
        scale = _F32(0.45) if rng.random() < 0.15 else _F32(1.0)  # cirrus veil: thin only
        a_t = np.clip((c - _F32(thr)) / _F32(soft), 0, 1)
        if scale != 1:
            a_t *= scale
        my = _bspline(px - dy[t], o, cell, n)
        mx = _bspline(px - dx[t], o, cell, n)
        b_t = np.clip((_upsample(fine, my, mx) - _F32(thr)) / _F32(soft), 0, 1) * scale
        alpha[t], beta[t] = a_t, b_t
    return alpha, beta


def _limits(dtype: np.dtype, nodata) -> tuple[float, float]:
    if dtype.kind in "iu":
        info = np.iinfo(dtype)
        lo, hi = float(max(info.min, 0)), float(info.max)
    else:
        lo, hi = 0.0, float(np.finfo(dtype).max)
    if nodata is not None and not np.isnan(nodata):
        if nodata == lo:
            lo += 1
        elif nodata == hi:
            hi -= 1
    return lo, hi


def _avoid_nodata(x: np.ndarray, nodata) -> np.ndarray:
    """Move valid values that equal ``nodata`` (strictly inside the range) off it."""
    if nodata is None or np.isnan(nodata):
        return x
    hit = x == nodata
    if hit.any():
        x[hit] = np.nextafter(x.dtype.type(nodata), np.inf) if x.dtype.kind == "f" else nodata + 1
    return x


def _reflective(sensor, rng, bands, label, G, snow, alpha, beta, tex, dtype):
    """Reflective bands in stored units, (T, C, H, W)."""
    T, H = G.shape[0], G.shape[1]
    C = len(bands)
    wl = np.array([0.65 if b.wavelength is None else b.wavelength for b in bands])
    s = {k: np.interp(wl, _WL, v) for k, v in _SPECTRA.items()}
    soil = s["soil"] * rng.uniform(0.6, 1.4)
    crop_soil = soil * 0.75
    s0 = np.stack(
        [s["water_clear"], s["forest_bare"], crop_soil, s["dry_grass"], s["urban"], soil, s["ice"]]
    )  # (K, C)
    s1 = np.stack(
        [
            s["water_turbid"],
            s["forest_leaf"],
            s["green"],
            0.95 * s["green"],
            0.75 * s["urban"] + 0.25 * s["green"],
            0.75 * soil + 0.25 * s["dry_grass"],
            s["snow"],
        ]
    )
    trans = _transmission(wl)
    s0 = s0 * trans
    d = s1 * trans - s0
    snow_spec = (s["snow"] * trans).astype(_F32)[:, None, None]
    # low clouds sit under part of the water vapour: partly absorbed in B09/B10
    cloud_spec = (s["cloud"] * (0.35 + 0.65 * trans)).astype(_F32)

    flat = label.ravel()
    s0l = np.take(s0.T.astype(_F32), flat, axis=1).reshape(C, H, H)
    dl = np.take(d.T.astype(_F32), flat, axis=1).reshape(C, H, H)
    s0l *= tex
    dl *= tex
    R = np.empty((T, C, H, H), _F32)
    np.multiply(G[:, None], dl[None], out=R)
    R += s0l[None]
    tmp = np.empty((C, H, H), _F32)
    for t in range(T):
        rt = R[t]
        if snow[t] is not None:
            np.subtract(snow_spec, rt, out=tmp)
            tmp *= snow[t]
            rt += tmp
        if alpha[t] is not None:
            a_t = alpha[t]
            fac = (1 - a_t) * (1 - _F32(0.7) * beta[t])
            rt *= fac
            bright = a_t * (_F32(0.5) + _F32(0.3) * a_t) * _F32(rng.uniform(0.85, 1.1))
            np.multiply(cloud_spec[:, None, None], bright, out=tmp)
            rt += tmp

    # to stored units: path radiance (TOA), noise, rounding, clipping
    # a card without `quantification`: integers as reflectance x 10,000 (x 255 for bytes)
    q = float(
        sensor.quantification or (1.0 if dtype.kind == "f" else min(1e4, _limits(dtype, None)[1]))
    )
    path = 0.025 * (0.44 / wl) ** 4 if _is_toa(sensor) else np.zeros(C)
    # sensor noise, near-gaussian and cheap: the sum of two random int8 (triangular,
    # std 104.5); the second term is the same byte stream one band and one pixel
    # further on, so one random byte per value
    sigma = (0.002 + 0.001 * (wl > 1.0)) * q / 104.5
    N, lag = R.size, H * H + 1
    raw = np.frombuffer(rng.bytes(N + lag), np.int8)
    noise = np.add(raw[:N], raw[lag:], dtype=np.int16).reshape(R.shape)
    R *= _F32(q)
    R += np.multiply(noise, sigma.astype(_F32)[:, None, None], dtype=_F32)
    rounding = 0.5 if dtype.kind in "iu" else 0.0
    R += (path * q + rounding).astype(_F32)[:, None, None]
    lo, hi = _limits(dtype, sensor.nodata)
    np.clip(R, lo, hi, out=R)
    out = R.astype(dtype)
    nodata = sensor.nodata
    if nodata is not None and (dtype.kind == "f" or lo < nodata < hi):
        out = _avoid_nodata(out, nodata)
    return out


def _thermal(label, G, snow, alpha, beta, t_pix, clim, t_air, tex_n, f_tex):
    """Brightness temperature in kelvin, (T, H, W)."""
    T = G.shape[0]
    K = t_pix + (_T0[label] + (1 - G) * _T1[label]) + _F32(273.15)
    K += _F32(0.6) * f_tex + _F32(0.3) * tex_n
    water = label == WATER
    for t in range(T):
        kt = K[t]
        # water lags the air: damped seasonal cycle, not below freezing unless frozen
        tw = max(clim.t_mean + 0.6 * (float(t_air[t]) - clim.t_mean), 0.5) + 273.15
        kt[water] = tw + 0.3 * tex_n[water]
        cold = label == SNOW_ICE
        if snow[t] is not None:
            cold = cold | (snow[t] >= 0.5)
        kt[cold] = np.minimum(kt[cold] - _T0[label[cold]], _F32(273.15 - 0.5)) - 1.0
        if alpha[t] is not None:
            top = kt - _F32(25.0) - _F32(15.0) * alpha[t]
            kt *= 1 - alpha[t]
            kt += alpha[t] * top
            kt -= _F32(4.0) * beta[t]
    return K


def _thermal_dn(kelvin, rng_k, nodata, dtype):
    """Kelvin to stored units: ``range`` mapped linearly onto the dtype (as SSL4EO-L)."""
    if dtype.kind in "iu":
        kmin, kmax = rng_k if rng_k else (200.0, 350.0)
        info = np.iinfo(dtype)
        span = float(info.max) - float(info.min) + 1  # SSL4EO-L: onto [0, 2**bits)
        x = (kelvin - _F32(kmin)) * _F32(span / (kmax - kmin)) + _F32(info.min)
    else:
        x = kelvin
    lo, hi = _limits(dtype, nodata)
    out = np.clip(x, lo, hi).astype(dtype)
    return _avoid_nodata(out, nodata)


def _sar(sensor, rng, label, G, snow, t_pix, f_tex, tex_n):
    """SAR backscatter in dB, (T, C, H, W), with gamma speckle."""
    T, H = G.shape[0], G.shape[1]
    names = [b.name.lower() for b in sensor.bands]
    pol = np.array([1 if n in ("vh", "hv") or n.endswith(("vh", "hv")) else 0 for n in names])
    a_tab = _SAR_A[:, pol]  # (K, C)
    b_tab = _SAR_B[:, pol]
    flat = label.ravel()
    C = len(names)
    al = np.take(a_tab.T, flat, axis=1).reshape(C, H, H)
    bl = np.take(b_tab.T, flat, axis=1).reshape(C, H, H)
    al += (_SAR_TEX[label] * (_F32(0.8) * f_tex + _F32(0.4) * tex_n))[None]
    al += _F32(rng.normal(0, 1.0))  # scene calibration / soil moisture
    db = np.empty((T, C, H, H), _F32)
    np.multiply(G[:, None], bl[None], out=db)
    db += al[None]
    water = label == WATER
    for t in range(T):
        if snow[t] is None:
            continue
        # wet snow (near 0 degC) absorbs; frozen ground slightly darker; lake ice brighter
        adj = np.where(t_pix[t] > -2.0, _F32(-5.0), _F32(-1.0)) * snow[t]
        adj[water] = _F32(7.0) * snow[t][water]
        db[t] += adj[None]
    table = _log_gamma_table(_SAR_ENL)
    idx = np.frombuffer(rng.bytes(2 * db.size), np.uint16).reshape(db.shape)
    db += table[idx]
    dtype = np.dtype(sensor.dtype)
    if dtype.kind in "iu":
        info = np.iinfo(dtype)
        db = np.clip(np.rint(db), info.min, info.max)
    out = db.astype(dtype, copy=False)
    return _avoid_nodata(out, sensor.nodata)
