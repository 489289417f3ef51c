"""Band names across tools, and matching a harness's bands to a weights card's channels.

eossl names a band as its product does (Sentinel-2 ``B02`` and ``B8A``, Landsat ``B5``,
Sentinel-1 ``vv``). Each band's dataset card also gives its STAC ``eo:common_name``
(``blue``, ``nir08``, ``swir16``...), from which the other conventions follow:

- TorchGeo: ``B2`` ... ``B8A`` / ``B8a`` (``SSL4EOS12``), and ``B02`` ... (``Sentinel2``);
- TerraTorch: ``B01`` ... ``B8A`` and its HLS names (``BLUE``, ``NIR_NARROW``, ``SWIR_1``);
- PANGAEA: ``B1`` ... ``B8A``, ``VV``, ``VH``;
- torchgeo-bench: lower-case short names (``red``, ``nir``, ``vv``, ``b02``).

A weights card lists every channel with all of these (``band_info``), so any of
them, or a centre wavelength, finds the channel (:func:`find_channels`).
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Iterable, Sequence
from typing import Any

from eossl.errors import UserError
from eossl.sensors import Sensor, fused_sensor, get_sensors

__all__ = ["TERRATORCH_NAMES", "band_info", "channel_records", "find_channels"]

#: STAC common name -> TerraTorch's ``HLSBands`` / ``SARBands`` name.
TERRATORCH_NAMES = {
    "coastal": "COASTAL_AEROSOL",
    "blue": "BLUE",
    "green": "GREEN",
    "red": "RED",
    "rededge071": "RED_EDGE_1",
    "rededge075": "RED_EDGE_2",
    "rededge078": "RED_EDGE_3",
    "nir": "NIR_BROAD",
    "nir08": "NIR_NARROW",
    "nir09": "WATER_VAPOR",
    "cirrus": "CIRRUS",
    "swir16": "SWIR_1",
    "swir22": "SWIR_2",
    "lwir": "THERMAL_INFRARED_1",
    "lwir11": "THERMAL_INFRARED_1",
    "lwir12": "THERMAL_INFRARED_2",
    "vv": "VV",
    "vh": "VH",
}

#: How close (micrometres) a requested wavelength must be to a channel's centre.
WAVELENGTH_TOLERANCE = 0.05


def _aliases(name: str, common: str | None) -> list[str]:
    """``name`` in the other tools' spellings, then its common and TerraTorch names."""
    out = [name]
    numbered = re.fullmatch(r"[Bb]0*(\d+)([Aa]?)", name)
    if numbered:
        digits, a = int(numbered[1]), numbered[2].upper()
        out += [f"B{digits}{a}", f"B{digits:02d}{a}", f"B{digits}{a.lower()}"]
    out += [name.upper(), name.lower()]
    if common:
        out += [common, common.upper(), TERRATORCH_NAMES.get(common, "")]
    return list(dict.fromkeys(a for a in out if a))


def band_info(sensor: Sensor | str, bands: Sequence[str] | None = None) -> list[dict[str, Any]]:
    """The card's record of each channel, in input order.

    ``sensor``: a card or its name (``s1-grd+s2-l1c`` for stacked sensors);
    ``bands``: the channels' names, default all the sensor's. A name the sensor card
    does not know gets a record with its spellings only.
    """
    if isinstance(sensor, str):
        try:
            sensor = fused_sensor(get_sensors(sensor.split("+")))
        except UserError:
            sensor = None
    known = {b.name: b for b in sensor.bands} if sensor is not None else {}
    names = list(bands) if bands is not None else list(known)
    records = []
    for name in names:
        b = known.get(name)
        common = b.common if b else None
        records.append(
            {
                "name": name,
                "common_name": common,
                "terratorch": TERRATORCH_NAMES.get(common or ""),
                "aliases": _aliases(name, common),
                "wavelength": b.wavelength if b else None,
                "gsd": b.gsd if b else None,
                "kind": b.kind if b else None,
            }
        )
    return records


def channel_records(card: dict[str, Any]) -> list[dict[str, Any]]:
    """A weights card's channels (its ``band_info``; rebuilt from its sensor for older cards)."""
    return card.get("band_info") or band_info(card.get("sensor", "unknown"), card.get("bands"))


def _labels(band: Any) -> tuple[str | None, float | None]:
    """A requested band's name and centre wavelength.

    From a str, a number, or an object with ``name`` and ``wavelength_um``
    (torchgeo-bench's ``BandSpec``) or ``wavelength``.
    """
    if isinstance(band, str):
        return band, None
    if isinstance(band, (int, float)):
        return None, float(band)
    wavelength = getattr(band, "wavelength_um", getattr(band, "wavelength", None))
    return getattr(band, "name", None), None if wavelength is None else float(wavelength)


def find_channels(records: Sequence[dict[str, Any]], wanted: Sequence[Any]) -> list[int | None]:
    """For each requested band, the card's channel that carries it, or None.

    A band is found by name: a channel's own eossl name first, then any spelling in
    the card's ``aliases`` (each exact, then case-insensitive); else by centre
    wavelength in micrometres (the nearest channel within
    :data:`WAVELENGTH_TOLERANCE`). It may be a str, a number, or an object with
    ``name`` and ``wavelength_um``. A band no channel carries is None. An alias that
    several channels of a stacked card share at different wavelengths is decided by
    the band's wavelength, or is a one-line error.
    """
    tables = [  # own names, then aliases; exact, then case-folded
        (fold, _spellings(records, spell, fold))
        for fold in (False, True)
        for spell in (lambda r: [r["name"]], lambda r: r["aliases"])
    ]
    out: list[int | None] = []
    for band in wanted:
        name, wavelength = _labels(band)
        found = None
        if name is not None:
            keys = ((name.lower() if fold else name, table) for fold, table in tables)
            hits = next((table[key] for key, table in keys if key in table), None)
            found = None if hits is None else _one(records, hits, name, wavelength)
        if found is None and wavelength is not None:
            found = _nearest(records, range(len(records)), wavelength)
        out.append(found)
    return out


def _spellings(
    records: Sequence[dict[str, Any]], spell: Callable[[dict[str, Any]], Iterable[str]], fold: bool
) -> dict[str, list[int]]:
    """Each spelling ``spell(record)`` gives (lower-cased with ``fold``): its channels."""
    table: dict[str, list[int]] = {}
    for i, record in enumerate(records):
        for key in dict.fromkeys(k.lower() if fold else k for k in spell(record)):
            table.setdefault(key, []).append(i)
    return table


def _nearest(
    records: Sequence[dict[str, Any]], among: Iterable[int], wavelength: float
) -> int | None:
    """The channel among ``among`` nearest ``wavelength``, if within the tolerance."""
    distance = {
        i: math.inf if (w := records[i]["wavelength"]) is None else abs(w - wavelength)
        for i in among
    }
    if not distance:
        return None
    best = min(distance, key=distance.__getitem__)
    return best if distance[best] <= WAVELENGTH_TOLERANCE else None


def _one(
    records: Sequence[dict[str, Any]], hits: list[int], name: str, wavelength: float | None
) -> int | None:
    """The one channel a name stands for among ``hits``: by wavelength where they differ."""
    waves = [records[i]["wavelength"] for i in hits if records[i]["wavelength"] is not None]
    if len(hits) == 1 or not waves or max(waves) - min(waves) <= WAVELENGTH_TOLERANCE:
        return hits[0]
    if wavelength is not None:
        return _nearest(records, hits, wavelength)
    listed = ", ".join(f"{records[i]['name']} at {records[i]['wavelength']} um" for i in hits)
    raise UserError(
        f"band {name!r} names several channels of these weights ({listed}); "
        "give its wavelength, or a name only one of them has"
    )
