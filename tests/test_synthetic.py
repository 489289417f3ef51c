"""The synthetic scene generator: shapes, determinism and physical plausibility."""

from __future__ import annotations

import numpy as np
import pytest

from eossl.data.synthetic import CLASSES, CLOUD_CODES, SyntheticLocation, synth_location
from eossl.sensors import Band, Sensor

WATER, FOREST, CROPLAND, GRASSLAND, URBAN, BARE, SNOW_ICE = range(7)
LAND, W_CODE, SNOW, THIN, THICK, SHADOW = (
    CLOUD_CODES[k] for k in ("land", "water", "snow", "thin_cloud", "thick_cloud", "shadow")
)

S2_BANDS = [
    ("B01", 0.4427, 60),
    ("B02", 0.4927, 10),
    ("B03", 0.5598, 10),
    ("B04", 0.6646, 10),
    ("B05", 0.7041, 20),
    ("B06", 0.7405, 20),
    ("B07", 0.7828, 20),
    ("B08", 0.8328, 10),
    ("B8A", 0.8647, 20),
    ("B09", 0.9451, 60),
    ("B10", 1.3735, 60),
    ("B11", 1.6137, 20),
    ("B12", 2.2024, 20),
]
B02, B03, B04, B08, B8A, B09, B10, B11 = 1, 2, 3, 7, 8, 9, 10, 11


def _sensor(
    name,
    bands,
    modality="optical",
    dtype="uint16",
    nodata=0,
    quantification=10000.0,
    product="L1C",
    rgb=(3, 2, 1),
) -> Sensor:
    return Sensor(
        name=name,
        title=name,
        aliases=(),
        platform="",
        product=product,
        modality=modality,
        dtype=dtype,
        nodata=nodata,
        units="",
        quantification=quantification,
        rgb=rgb,
        bands=tuple(bands),
    )


S2 = _sensor("s2-l1c", [Band(n, w, g) for n, w, g in S2_BANDS])
S1 = _sensor(
    "s1-grd",
    [Band("vv", None, 10, "sar"), Band("vh", None, 10, "sar")],
    modality="sar",
    dtype="float32",
    nodata=None,
    quantification=None,
    product="GRD",
    rgb=None,
)
TM = _sensor(
    "landsat-tm-toa",
    [
        Band("B1", 0.485, 30),
        Band("B2", 0.56, 30),
        Band("B3", 0.66, 30),
        Band("B4", 0.83, 30),
        Band("B5", 1.65, 30),
        Band("B6", 11.45, 120, "thermal", (248.15, 318.15)),
        Band("B7", 2.215, 30),
    ],
    dtype="uint8",
    nodata=None,
    quantification=640.0,
    product="TOA",
    rgb=(2, 1, 0),
)

SIZE = 128


def _loc(sensor, seed, size=SIZE, **kw) -> SyntheticLocation:
    return synth_location(sensor, size=size, rng=np.random.default_rng(seed), **kw)


def _doy(times: np.ndarray) -> np.ndarray:
    year = times.astype("datetime64[Y]")
    return (times - year).astype("timedelta64[s]").astype(np.float64) / 86400.0


def _closest(times: np.ndarray, doy: float) -> int:
    d = np.abs(_doy(times) - doy)
    return int(np.argmin(np.minimum(d, 365.25 - d)))


def _ndvi(bands: np.ndarray) -> np.ndarray:
    nir, red = bands[B08].astype(np.float32), bands[B04].astype(np.float32)
    return (nir - red) / (nir + red)


@pytest.mark.parametrize(
    ("sensor", "channels", "dtype"), [(S2, 13, np.uint16), (S1, 2, np.float32), (TM, 7, np.uint8)]
)
def test_shapes_and_dtypes(sensor, channels, dtype):
    loc = _loc(sensor, 0, size=48, seasons=3)
    assert loc.bands.shape == (3, channels, 48, 48)
    assert loc.bands.dtype == dtype
    assert loc.cloud_mask.shape == (3, 48, 48) and loc.cloud_mask.dtype == np.uint8
    assert loc.label.shape == (48, 48) and loc.label.dtype == np.uint8
    assert loc.times.shape == (3,) and loc.times.dtype == np.dtype("datetime64[ns]")
    assert loc.label.max() < len(CLASSES)
    assert set(np.unique(loc.cloud_mask)) <= set(CLOUD_CODES.values())
    assert isinstance(loc.lat, float) and isinstance(loc.lon, float)
    assert -90 <= loc.lat <= 90 and -180 <= loc.lon <= 180
    assert np.isfinite(loc.bands.astype(np.float64)).all()


@pytest.mark.parametrize("size", [1, 7, 32, 100])
def test_odd_sizes(size):
    loc = _loc(S2, 3, size=size, seasons=2)
    assert loc.bands.shape == (2, 13, size, size)


def test_default_size_and_seasons():
    loc = synth_location(S2, rng=np.random.default_rng(0))
    assert loc.bands.shape == (4, 13, 264, 264)


def test_deterministic_given_seed():
    for sensor in (S2, S1, TM):
        a, b = _loc(sensor, 42), _loc(sensor, 42)
        np.testing.assert_array_equal(a.bands, b.bands)
        np.testing.assert_array_equal(a.cloud_mask, b.cloud_mask)
        np.testing.assert_array_equal(a.label, b.label)
        np.testing.assert_array_equal(a.times, b.times)
        assert (a.lat, a.lon) == (b.lat, b.lon)
        c = _loc(sensor, 43)
        assert not np.array_equal(a.bands, c.bands)


def test_same_seed_same_place_for_s1_and_s2():
    """Land cover does not depend on the sensor (same GSD), so S1 and S2 can be paired."""
    np.testing.assert_array_equal(_loc(S2, 5, lat=40.0).label, _loc(S1, 5, lat=40.0).label)


def test_times_distinct_sorted_within_year():
    for seasons in (1, 4, 12):
        loc = _loc(S2, 1, size=16, seasons=seasons, year=2019)
        assert len(loc.times) == seasons
        assert np.all(np.diff(loc.times) > np.timedelta64(0, "ns"))
        assert np.all(loc.times.astype("datetime64[Y]") == np.datetime64("2019", "Y"))
    loc = _loc(S2, 1, size=16, seasons=4)
    # one per season: spread over the year
    assert np.all(np.diff(_doy(loc.times)) > 30)


def test_label_has_spatial_structure():
    loc = _loc(S2, 2, size=SIZE, lat=45.0)
    same = (loc.label[:, 1:] == loc.label[:, :-1]).mean()
    assert same > 0.85  # patches, not per-pixel noise
    assert len(np.unique(loc.label)) >= 3


def test_class_spectra():
    """Vegetation red edge, dark water in the NIR, low water-vapour and cirrus bands."""
    found = 0
    for seed in range(8):
        loc = _loc(S2, seed, lat=45.0)
        t = _closest(loc.times, 196)  # mid-July
        b = loc.bands[t].astype(np.float32) / 1e4
        clear = loc.cloud_mask[t] == LAND
        water = (loc.label == WATER) & (loc.cloud_mask[t] == W_CODE)
        veg = np.isin(loc.label, (FOREST, GRASSLAND)) & clear
        if water.sum() < 50 or veg.sum() < 50:
            continue
        found += 1
        assert np.median(b[B08][water]) < 0.3 * np.median(b[B08][veg])
        assert np.median(b[B8A][water]) < 0.05
        assert np.median(b[B04][veg]) < 0.08
        assert np.median(b[B08][veg]) > 0.25
        assert np.median(b[B10][clear]) < 0.02  # cirrus band: absorbed by water vapour
        assert np.median(b[B09][veg]) < np.median(b[B8A][veg])
    assert found >= 3


@pytest.mark.parametrize(("lat", "flipped"), [(50.0, False), (-50.0, True)])
def test_forest_phenology_follows_hemisphere(lat, flipped):
    diffs = []
    for seed in range(10):
        loc = _loc(S2, seed, lat=lat)
        jul, jan = _closest(loc.times, 196), _closest(loc.times, 20)
        ndvi = {}
        for t in (jul, jan):
            sel = (loc.label == FOREST) & (loc.cloud_mask[t] == LAND)
            if sel.sum() >= 50:
                ndvi[t] = float(np.median(_ndvi(loc.bands[t])[sel]))
        if len(ndvi) == 2:
            diffs.append(ndvi[jul] - ndvi[jan])
    assert len(diffs) >= 4
    diffs = np.array(diffs)
    if flipped:
        assert np.median(diffs) < -0.2 and np.all(diffs < 0)
    else:
        assert np.median(diffs) > 0.2 and np.all(diffs > 0)


def test_tropics_weak_seasonality():
    spreads = []
    for seed in range(6):
        loc = _loc(S2, seed, lat=2.0)
        vals = []
        for t in range(4):
            sel = (loc.label == FOREST) & (loc.cloud_mask[t] == LAND)
            if sel.sum() >= 50:
                vals.append(np.median(_ndvi(loc.bands[t])[sel]))
        if len(vals) >= 2:
            spreads.append(max(vals) - min(vals))
            assert min(vals) > 0.6
    assert spreads and np.median(spreads) < 0.1


def test_cropland_harvest():
    """Crop parcels are green in one season and bare soil in another."""
    cycled = []
    for seed in range(8):
        loc = _loc(S2, seed, lat=48.0)
        crop = loc.label == CROPLAND
        clear = (loc.cloud_mask == LAND).all(axis=0)
        sel = crop & clear
        if sel.sum() < 200:
            continue
        ndvi = np.stack([_ndvi(loc.bands[t])[sel] for t in range(4)])
        cycled.append(((ndvi.max(0) > 0.6) & (ndvi.min(0) < 0.3)).mean())
    assert cycled and max(cycled) > 0.3


def test_winter_snow_at_high_latitude():
    winter, summer = [], []
    for seed in range(6):
        loc = _loc(S2, seed, lat=68.0)
        tw, ts = _closest(loc.times, 45), _closest(loc.times, 210)
        winter.append((loc.cloud_mask[tw] == SNOW).mean())
        summer.append((loc.cloud_mask[ts] == SNOW).mean())
        snow = (loc.cloud_mask[tw] == SNOW) & (loc.label != SNOW_ICE)
        if snow.sum() > 100:
            b = loc.bands[tw].astype(np.float32) / 1e4
            ndsi = (b[B03] - b[B11]) / (b[B03] + b[B11])
            assert np.median(b[B03][snow]) > 0.4  # bright in the visible
            assert np.median(b[B11][snow]) < 0.2  # dark in the SWIR
            assert np.median(ndsi[snow]) > 0.5
    assert np.median(winter) > 0.3
    assert np.mean(winter) > np.mean(summer) + 0.2
    # and lowland mid-latitude summers are snow free
    loc = _loc(S2, 0, lat=45.0)
    assert (loc.cloud_mask[_closest(loc.times, 200)] == SNOW).mean() < 0.05


def test_glaciers_at_high_latitude():
    assert any((_loc(S2, seed, lat=80.0).label == SNOW_ICE).mean() > 0.2 for seed in range(4))


def test_clouds_marked_where_bright():
    thick_seen = thin_seen = shadow_seen = 0
    for seed in range(12):
        loc = _loc(S2, seed, lat=30.0)
        for t in range(4):
            m = loc.cloud_mask[t]
            b = loc.bands[t].astype(np.float32) / 1e4
            land = (m == LAND) & (loc.label != WATER)
            if land.sum() < 200:
                continue
            blue_land = np.median(b[B02][land])
            assert blue_land < 0.2
            if (m == THICK).sum() > 200:
                thick_seen += 1
                assert np.median(b[B02][m == THICK]) > 0.4
                assert np.median(b[B10][m == THICK]) > 0.05  # clouds are seen in the cirrus band
            if (m == THIN).sum() > 200:
                thin_seen += 1
                assert np.median(b[B02][m == THIN]) > blue_land
            if ((m == SHADOW) & (loc.label != WATER)).sum() > 200:
                shadow_seen += 1
                sh = (m == SHADOW) & (loc.label != WATER)
                assert np.median(b[B08][sh]) < np.median(b[B08][land])
    assert thick_seen >= 2 and thin_seen >= 2 and shadow_seen >= 1


def test_cloud_fraction_varies():
    fractions = [
        (loc.cloud_mask >= THIN).mean(axis=(1, 2))
        for loc in (_loc(S2, seed, size=64) for seed in range(10))
    ]
    fractions = np.concatenate(fractions)
    assert (fractions < 0.01).mean() > 0.2  # often clear
    assert fractions.max() > 0.5  # sometimes overcast


def test_sar_backscatter():
    for seed in range(6):
        loc = _loc(S1, seed, lat=45.0)
        assert set(np.unique(loc.cloud_mask)) <= {LAND, W_CODE, SNOW}
        vv, vh = loc.bands[:, 0], loc.bands[:, 1]
        water, urban, forest = (loc.label == k for k in (WATER, URBAN, FOREST))
        if water.sum() > 100:
            assert -27 < np.median(vv[:, water]) < -16
        if water.sum() > 100 and urban.sum() > 100:
            assert np.median(vv[:, water]) + 10 < np.median(vv[:, urban])
        if forest.sum() > 100:
            assert -18 < np.median(vh[:, forest]) < -12
            if water.sum() > 100:
                assert np.median(vh[:, water]) < np.median(vh[:, forest]) - 5
        assert np.median(vv) > np.median(vh)  # co-pol above cross-pol
        # speckle: pixel-to-pixel variation of a few dB
        assert 1.0 < np.std(np.diff(vv[0], axis=1)) < 6.0


def test_thermal_band():
    loc = _loc(TM, 4, lat=50.0)
    kelvin = 248.15 + loc.bands[:, 5].astype(np.float32) * 70.0 / 256.0
    jul, jan = _closest(loc.times, 196), _closest(loc.times, 20)
    clear = (loc.cloud_mask[jul] == LAND) & (loc.cloud_mask[jan] <= SNOW)
    assert clear.sum() > 100
    assert np.median(kelvin[jul][clear]) > np.median(kelvin[jan][clear]) + 8
    assert 285 < np.median(kelvin[jul][clear]) < 315


def test_valid_pixels_never_nodata():
    loc = _loc(S2, 0, lat=70.0)  # snow and clouds: bright, and dark water
    assert loc.bands.min() >= 1  # S2 nodata is 0
    # a nodata value at the top of the range: saturated pixels stay below it
    tm = _sensor("tm", TM.bands, dtype="uint8", nodata=255, quantification=640.0, product="TOA")
    loc = _loc(tm, 0, lat=70.0)
    assert loc.bands.max() <= 254
    # a nodata value inside the range is stepped over
    odd = _sensor("odd", S2.bands, nodata=500)
    loc = _loc(odd, 1)
    assert not (loc.bands == 500).any()
    sar = _sensor(
        "sar0",
        S1.bands,
        modality="sar",
        dtype="float32",
        nodata=-20.0,
        quantification=None,
        product="GRD",
        rgb=None,
    )
    assert not (_loc(sar, 2).bands == -20.0).any()


def test_packaged_cards():
    """Every dataset card that ships with eossl synthesises (small size)."""
    from eossl.sensors import list_sensors

    sensors = list_sensors()
    if not sensors:
        pytest.skip("no dataset cards")
    for sensor in sensors:
        loc = _loc(sensor, 0, size=32, seasons=2)
        assert loc.bands.shape == (2, sensor.num_bands, 32, 32)
        assert loc.bands.dtype == np.dtype(sensor.dtype)
