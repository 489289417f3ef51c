"""Phenological phases from a location's own vegetation-index curve (SSL4Eco)."""

import numpy as np
import pytest

from eossl.data.phenology import NONE, PHASES, assign_phases, ndvi, red_nir
from eossl.sensors import get_sensor


def _names(phases: np.ndarray) -> list[str]:
    return [PHASES[p] if p != NONE else "none" for p in phases]


def test_a_northern_crop_cycle() -> None:
    days = np.array([15, 100, 170, 230, 300])
    curve = np.array([0.2, 0.5, 0.8, 0.55, 0.22])
    assert _names(assign_phases(curve, days)) == [
        "dormancy",
        "green-up",
        "peak",
        "senescence",
        "dormancy",
    ]


def test_a_southern_cycle_peaks_across_the_new_year() -> None:
    days = np.array([20, 80, 160, 250, 320])
    curve = np.array([0.82, 0.55, 0.18, 0.2, 0.5])  # peak in January, low in winter (June)
    assert _names(assign_phases(curve, days)) == [
        "peak",
        "senescence",
        "dormancy",
        "dormancy",
        "green-up",
    ]


def test_cloudy_dates_get_no_phase_and_the_rest_still_do() -> None:
    days = np.array([15, 100, 170, 230, 300])
    curve = np.array([0.2, np.nan, 0.8, 0.55, 0.22])
    assert _names(assign_phases(curve, days)) == [
        "dormancy",
        "none",
        "peak",
        "senescence",
        "dormancy",
    ]


@pytest.mark.parametrize(
    "curve",
    [
        [-0.3, -0.25, -0.2, -0.3, -0.28],  # water
        [0.12, 0.14, 0.15, 0.13, 0.12],  # bare soil
        [0.7, 0.72, 0.75, 0.71, 0.7],  # evergreen with no contrast
        [0.2, np.nan, 0.8, np.nan, np.nan],  # too few clear dates
    ],
)
def test_no_cycle_means_no_phases(curve: list[float]) -> None:
    days = np.array([15, 100, 170, 230, 300])
    assert (assign_phases(np.array(curve), days) == NONE).all()


def test_ndvi_from_card_bands() -> None:
    s2 = get_sensor("s2")
    red, nir = red_nir(s2)
    assert (s2.band_names[red], s2.band_names[nir]) == ("B04", "B08")
    oli = get_sensor("landsat-oli-sr")
    red, nir = red_nir(oli)
    assert oli.bands[red].wavelength < 0.7 < oli.bands[nir].wavelength
    assert np.allclose(ndvi([1000, 0], [3000, 0])[:1], [0.5]) and np.isnan(ndvi([0], [0])[0])
    with pytest.raises(ValueError, match="no red band"):
        red_nir(get_sensor("s1"))
