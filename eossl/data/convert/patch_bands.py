"""Bands and files of patch archives: which file holds which card band, and the grid.

:func:`reference_layout` reads one patch's headers and decides the sensor card,
the band order (matched by name, case-insensitive, ``B8a`` = ``B8A``), the band
files, sizes, dtype and nodata that every other patch must match.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from eossl.data.convert.patch_sources import EUROSAT_BANDS, Listing, Patch, band_key
from eossl.data.convert.rasters import BadFileError, error_text
from eossl.errors import UserError
from eossl.sensors import Sensor, get_sensor, list_sensors

__all__ = ["band_files", "reference_layout"]


def band_files(folder: Path, pid: str, suffixes: tuple[str, ...]) -> tuple[str, ...]:
    """A BigEarthNet patch's band file names in file-number order; raises BadFileError."""
    default = tuple(pid + s for s in suffixes)
    if all((folder / name).is_file() for name in default):
        return default
    found = {band_key(b): name for b, name in _bands_in(folder, pid).items()}
    wanted = [band_key(s[1:].rsplit(".", 1)[0]) for s in suffixes]
    missing = [
        s[1:].rsplit(".", 1)[0] for s, b in zip(suffixes, wanted, strict=True) if b not in found
    ]
    if missing:
        raise BadFileError(folder, f"missing band file(s) {', '.join(missing)}")
    return tuple(found[b] for b in wanted)


def _bands_in(folder: Path, pid: str) -> dict[str, str]:
    """``{band: file name}`` of the ``<patch>_<band>.tif`` files in a BigEarthNet folder."""
    prefix = pid + "_"
    return {
        p.stem[len(prefix) :]: p.name
        for p in sorted(folder.iterdir())
        if p.suffix.lower() in (".tif", ".tiff") and p.name.startswith(prefix)
    }


def _match(names: Sequence[str], card: Sensor, where: str) -> list[int]:
    """Index in ``names`` of each card band, matched by name; UserError naming a missing band."""
    index = {band_key(n): i for i, n in enumerate(names)}
    extra = [n for n in names if band_key(n) not in {band_key(b) for b in card.band_names}]
    if extra:  # e.g. L1C's B10 under --sensor s2-l2a: dropped, and mislabelled as L2A
        whole = _card_for(names)
        raise UserError(
            f"{where}: holds band {', '.join(extra)}, which sensor {card.name} lacks; "
            f"pass the matching --sensor{f' ({whole.name})' if whole else ''}"
        )
    for band in card.band_names:
        if band_key(band) not in index:
            raise UserError(
                f"{where}: has no band {band} of sensor {card.name} (found {', '.join(names)}); "
                "pass the matching --sensor"
            )
    return [index[band_key(b)] for b in card.band_names]


def _card_for(names: Sequence[str]) -> Sensor | None:
    """The card whose bands are exactly ``names`` (any order, case-insensitive)."""
    keys = {band_key(n) for n in names}
    for card in list_sensors():
        if {band_key(b) for b in card.band_names} == keys and card.num_bands == len(names):
            return card
    return None


def _closest_card(names: Sequence[str], where: Path) -> Sensor:
    """The smallest card holding every band in ``names``: to name the bands that are missing."""
    if not names:
        raise BadFileError(where, "holds no band files (<patch>_<band>.tif)")
    keys = {band_key(n) for n in names}
    cards = [c for c in list_sensors() if keys <= {band_key(b) for b in c.band_names}]
    if not cards:
        raise UserError(
            f"{where}: band files {', '.join(names)} match no sensor card; a BigEarthNet "
            f"patch holds {where.name}_B02.tif ... (or _VV.tif, _VH.tif), or pass --sensor"
        )
    return min(cards, key=lambda c: c.num_bands)  # _match then names the missing band


def reference_layout(listing: Listing, patch: Patch, sensor: str | None) -> dict[str, Any]:
    """Bands, files and grid of the sources from one patch's files; raises BadFileError."""
    root, source = listing.root, listing.source
    where = root / patch.path
    if source == "bigearthnet":
        if not where.is_dir():
            raise BadFileError(where, "is not a patch folder")
        found = _bands_in(where, patch.id)
        card = get_sensor(sensor) if sensor else _card_for(list(found))
        card = card or _closest_card(list(found), where)
        have, wanted = {band_key(n) for n in found}, {band_key(b) for b in card.band_names}
        lacking = [b for b in card.band_names if band_key(b) not in have]
        if lacking and have <= wanted:  # a band file gone: the patch is bad (--skip-bad)
            raise BadFileError(where, f"missing band file(s) {', '.join(lacking)}")
        names = list(found)
        suffixes = tuple(
            f"_{names[i]}{Path(found[names[i]]).suffix}" for i in _match(names, card, str(where))
        )
        band_map = [(k, 1) for k in range(card.num_bands)]
    else:
        suffixes = ("",)
    paths = [str(where)] if suffixes == ("",) else [str(where / (patch.id + s)) for s in suffixes]
    heads = [_header(path) for path in paths]
    count, dtype, descriptions = heads[0]["count"], heads[0]["dtype"], heads[0]["descriptions"]
    if source == "eurosat":
        card = get_sensor(sensor or "s2-l1c")
        if count != len(EUROSAT_BANDS):
            raise UserError(
                f"{paths[0]}: has {count} bands; a EuroSAT MS patch has 13 (B01..B12, B8A "
                "last); pass --source folder for other patches"
            )
        band_map = [(0, i + 1) for i in _match(EUROSAT_BANDS, card, paths[0])]
    elif source == "folder":
        card, band_map = _folder_bands(paths[0], count, descriptions, sensor)
    names = card.band_names if card else [f"B{i + 1}" for i in range(count)]
    if card is None and all(descriptions) and len(set(descriptions)) == count:
        names = [str(d) for d in descriptions]
    nodata = heads[0]["nodata"]
    if nodata is None:
        nodata = card.nodata if card else None
    if dtype.kind == "f" and nodata is None:
        nodata = float("nan")
    return {
        "sensor": card,
        "band_names": list(names),
        "band_map": band_map,
        "suffixes": suffixes,
        "counts": tuple(h["count"] for h in heads),
        "shapes": tuple(h["shape"] for h in heads),
        "dtype": str(dtype),
        "grid_file": int(np.argmax([h["shape"][0] * h["shape"][1] for h in heads])),
        "nodata": nodata,
    }


def _header(path: str) -> dict[str, Any]:
    """Band count, size, dtype, nodata and band descriptions of a file; raises BadFileError."""
    import rasterio

    try:
        with rasterio.open(path) as src:
            return {
                "count": src.count,
                "shape": (src.height, src.width),
                "dtype": np.dtype(src.dtypes[0]),
                "nodata": src.nodata,
                "descriptions": list(src.descriptions),
            }
    except Exception as err:
        raise BadFileError(path, f"cannot open ({error_text(err)})") from err


def _folder_bands(
    path: str, count: int, descriptions: list[str | None], sensor: str | None
) -> tuple[Sensor | None, list[tuple[int, int]]]:
    """Card and band map of a folder patch: by band description where they name bands."""
    names = [str(d) if d else "" for d in descriptions]
    named = all(names) and len(set(map(band_key, names))) == count
    if sensor:
        card = get_sensor(sensor)
        if count != card.num_bands:
            raise UserError(
                f"{path}: has {count} bands but sensor {card.name!r} has {card.num_bands}; "
                "pass the matching --sensor or none"
            )
        known = {band_key(b) for b in card.band_names}
        if named and any(band_key(n) in known for n in names):  # descriptions name the bands
            return card, [(0, i + 1) for i in _match(names, card, path)]
        return card, [(0, i + 1) for i in range(count)]  # file order is the card's order
    card = _card_for(names) if named else None
    if card is not None:
        return card, [(0, i + 1) for i in _match(names, card, path)]
    return None, [(0, i + 1) for i in range(count)]
