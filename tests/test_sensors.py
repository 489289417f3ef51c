import numpy as np
import pytest

from eossl.errors import UserError
from eossl.sensors import get_sensor, list_sensors


@pytest.mark.parametrize(
    ("alias", "bands"),
    [
        ("s2", 13),
        ("s2-l2a", 12),
        ("s1", 2),
        ("landsat-tm-toa", 7),
        ("landsat-etm-toa", 9),
        ("landsat-etm-sr", 6),
        ("landsat-oli-tirs-toa", 11),
        ("landsat-oli-sr", 7),
    ],
)
def test_cards_have_expected_bands(alias: str, bands: int) -> None:
    sensor = get_sensor(alias)
    assert sensor.num_bands == bands
    assert len(set(sensor.band_names)) == bands
    assert sensor.citation.strip()
    assert sensor.default_release in sensor.releases
    if sensor.rgb is not None:
        assert all(0 <= i < bands for i in sensor.rgb)
    if sensor.modality == "optical":
        assert np.all(np.isfinite(sensor.wavelengths))


def test_aliases_unique_and_case_insensitive() -> None:
    seen: set[str] = set()
    for sensor in list_sensors():
        for name in {sensor.name.lower(), *(a.lower() for a in sensor.aliases)}:
            assert name not in seen
            seen.add(name)
    assert get_sensor("S2L1C") is get_sensor("s2")


def test_unknown_sensor_is_one_line_error() -> None:
    with pytest.raises(UserError, match="unknown sensor 'modis'") as err:
        get_sensor("modis")
    assert "\n" not in str(err.value)


def test_v11_statistics_carry_1000_offset() -> None:
    s2 = get_sensor("s2")
    v10, v11 = s2.release("ssl4eo-s12-v1.0"), s2.release("ssl4eo-s12-v1.1")
    assert v11.offset == 1000 and v10.offset == 0
    # applied to data without the offset, the v1.1 mean loses its 1000 DN
    mean_no_offset, _ = v11.mean_std(data_offset=0)
    mean_with_offset, _ = v11.mean_std(data_offset=1000)
    np.testing.assert_allclose(mean_with_offset - mean_no_offset, 1000)
    np.testing.assert_allclose(mean_with_offset, v11.mean)
    assert abs(mean_no_offset[10] - v10.mean[10]) < 5  # cirrus B10 ~22 DN in both


def test_landsat_release_is_uint8_over_255() -> None:
    oli = get_sensor("landsat-oli-sr")
    assert oli.dtype == "uint8"
    assert "ssl4eo-l" in oli.releases


def test_own_card_may_not_shadow_a_known_name(tmp_path) -> None:
    from eossl.errors import UserError
    from eossl.sensors import get_sensor

    bands = "".join(f"  - {{name: b{k}, wavelength: 0.{k + 4}, gsd: 10}}\n" for k in range(4))
    for name, aliases in (("s2", "[]"), ("my-cam", "[S1]"), ("s2-l1c", "[]")):
        card = tmp_path / f"{name}.yaml"
        card.write_text(f"name: {name}\naliases: {aliases}\ndtype: uint16\nbands:\n{bands}")
        with pytest.raises(UserError, match=r"is already sensor card"):
            get_sensor(card)
    assert get_sensor("s2").name == "s2-l1c"  # the built-in card is untouched


@pytest.mark.parametrize(
    ("text", "words"),
    [
        ("name: [unclosed\n", "not a valid YAML sensor card (line 2, column 1): expected ','"),
        (  # safe_load refuses the tag: nothing runs
            'name: !!python/object/apply:os.system ["touch PWNED"]\ndtype: uint16\nbands: []\n',
            "could not determine a constructor for the tag",
        ),
        ("- a\n- b\n", "a sensor card is a mapping of name, dtype and bands"),
        ("name: cam\nbands: [{name: B1, gsd: 10}]\n", "the sensor card lacks 'dtype'"),
        ("name: cam\ndtype: uint16\nbands: []\n", "the sensor card lists no bands"),
        (
            "name: cam\ndtype: uint16\nbands:\n  - {name: B1, gsd: 10}\n"
            "  - {name: b01, gsd: 20}\n",
            "bands B1 and b01 are one band",
        ),
        ("name: cam\ndtype: uint16\nbands:\n", "the sensor card lists no bands"),
        ("name: cam\ndtype: uint16\nbands: [B1, B2]\n", "band 1 ('B1') is not a mapping"),
        ("name: cam\ndtype: uint16\nbands:\n  - {name: B1}\n", "band 1 ({'name': 'B1'}) is"),
        ("name: cam\ndtype: uint16\nbands:\n  - {name: B1, gsd: ten}\n", "malformed sensor card"),
    ],
)
def test_a_bad_card_file_is_one_line(tmp_path, monkeypatch, text: str, words: str) -> None:
    monkeypatch.chdir(tmp_path)
    card = tmp_path / "cam.yaml"
    card.write_text(text)
    with pytest.raises(UserError) as err:
        get_sensor(card)
    assert words in str(err.value) and "\n" not in str(err.value)
    assert not (tmp_path / "PWNED").exists()
