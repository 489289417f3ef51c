"""Sensor and dataset cards, loaded from ``datasets/*.yaml``.

A card describes one sensor product: its bands (name, centre wavelength, GSD),
the dtype and nodata of distributed values, and the normalisation of each known
release (SSL4EO-S12 v1.0, the v1.1 Zarr release, SSL4EO-L, ...). Cards are data,
not code: add a YAML file to support a new product.
"""

from __future__ import annotations

import os
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path

import numpy as np
import yaml

from eossl.errors import UserError

__all__ = [
    "Band",
    "Release",
    "Sensor",
    "cards_dir",
    "fused_sensor",
    "get_sensor",
    "get_sensors",
    "is_card_file",
    "level_shift",
    "list_sensors",
]


def cards_dir() -> Path:
    """Folder holding the dataset cards (``EOSSL_CARDS`` overrides it)."""
    if env := os.environ.get("EOSSL_CARDS"):
        return Path(env)
    packaged = Path(__file__).parent / "datasets"
    if packaged.is_dir():
        return packaged
    return Path(__file__).resolve().parent.parent / "datasets"


@dataclass(frozen=True)
class Band:
    """One spectral band or polarisation."""

    name: str
    wavelength: float | None  # centre wavelength in micrometres; None for SAR
    gsd: float  # native ground sample distance in metres
    kind: str = "reflective"  # reflective | thermal | sar
    range: tuple[float, float] | None = None  # thermal: kelvin mapped onto dtype range
    common: str | None = None  # STAC eo:common_name (blue, nir08, swir16...; vv, vh for SAR)


@dataclass(frozen=True)
class Release:
    """Normalisation of one published release of a dataset.

    Stored values are ``physical / scale + offset``; ``mean`` and ``std`` are in
    stored units, exactly as the release publishes them.
    """

    name: str
    description: str = ""
    layout: str | None = None
    offset: float = 0.0
    scale: float = 1.0
    mean: tuple[float, ...] | None = None
    std: tuple[float, ...] | None = None
    source: str | None = None

    def mean_std(self, data_offset: float = 0.0) -> tuple[np.ndarray, np.ndarray] | None:
        """Mean and std to standardise data whose stored values carry ``data_offset``.

        The release's own offset is removed and the data's offset added, so the
        normalisation matches the release's pretraining whatever the data's offset.
        """
        if self.mean is None or self.std is None:
            return None
        mean = np.asarray(self.mean, dtype=np.float64) - self.offset + data_offset
        return mean, np.asarray(self.std, dtype=np.float64)


@dataclass(frozen=True)
class Sensor:
    """A sensor product card."""

    name: str
    title: str
    aliases: tuple[str, ...]
    platform: str
    product: str
    modality: str  # optical | sar
    dtype: str
    nodata: float | None
    units: str
    quantification: float | None  # DN per unit reflectance; None for SAR
    rgb: tuple[int, int, int] | None
    bands: tuple[Band, ...]
    releases: dict[str, Release] = field(default_factory=dict)
    default_release: str | None = None
    citation: str = ""

    @property
    def band_names(self) -> list[str]:
        """Band names in storage order."""
        return [b.name for b in self.bands]

    @property
    def num_bands(self) -> int:
        """Number of bands."""
        return len(self.bands)

    @property
    def wavelengths(self) -> np.ndarray:
        """Centre wavelengths in micrometres (NaN for SAR)."""
        return np.array([np.nan if b.wavelength is None else b.wavelength for b in self.bands])

    def release(self, name: str | None = None) -> Release:
        """A release by name, or the default release."""
        key = name or self.default_release
        if key not in self.releases:
            known = ", ".join(self.releases) or "none"
            raise UserError(f"sensor {self.name!r} has no release {key!r}; known: {known}")
        return self.releases[key]

    @classmethod
    def from_yaml(cls, path: Path) -> Sensor:
        """Load and check one card."""
        try:
            raw = yaml.safe_load(path.read_text())
        except (OSError, UnicodeDecodeError) as err:
            raise UserError(f"{path}: cannot read this sensor card ({err})") from err
        except yaml.YAMLError as err:
            where = getattr(err, "problem_mark", None)
            at = f" (line {where.line + 1}, column {where.column + 1})" if where else ""
            why = getattr(err, "problem", None) or type(err).__name__
            raise UserError(f"{path}: not a valid YAML sensor card{at}: {why}") from err
        if not isinstance(raw, dict):
            raise UserError(f"{path}: a sensor card is a mapping of name, dtype and bands")
        if not raw.get("bands"):
            raise UserError(f"{path}: the sensor card lists no bands")
        for k, b in enumerate(raw["bands"] if isinstance(raw["bands"], list) else [None]):
            if not isinstance(b, dict) or "name" not in b or "gsd" not in b:
                raise UserError(
                    f"{path}: band {k + 1} ({b!r:.40}) is not a mapping with a name and a gsd "
                    "(m), e.g. {name: B1, wavelength: 0.49, gsd: 10}"
                )
        try:
            bands = tuple(
                Band(
                    name=str(b["name"]),
                    wavelength=None if b.get("wavelength") is None else float(b["wavelength"]),
                    gsd=float(b["gsd"]),
                    kind=b.get("kind", "reflective"),
                    range=tuple(b["range"]) if b.get("range") else None,
                    common=b.get("common"),
                )
                for b in raw["bands"]
            )
            releases = {
                key: Release(
                    name=key,
                    description=rel.get("description", ""),
                    layout=rel.get("layout"),
                    offset=float(rel.get("offset") or 0.0),
                    scale=float(rel.get("scale") or 1.0),
                    mean=None if rel.get("mean") is None else tuple(map(float, rel["mean"])),
                    std=None if rel.get("std") is None else tuple(map(float, rel["std"])),
                    source=rel.get("source"),
                )
                for key, rel in (raw.get("releases") or {}).items()
            }
            sensor = cls(
                name=raw["name"],
                title=raw.get("title", raw["name"]),
                aliases=tuple(raw.get("aliases") or ()),
                platform=raw.get("platform", ""),
                product=raw.get("product", ""),
                modality=raw.get("modality", "optical"),
                dtype=raw["dtype"],
                nodata=raw.get("nodata"),
                units=raw.get("units", ""),
                quantification=raw.get("quantification"),
                rgb=tuple(raw["rgb"]) if raw.get("rgb") else None,
                bands=bands,
                releases=releases,
                default_release=raw.get("default_release"),
                citation=raw.get("citation", ""),
            )
        except KeyError as err:
            raise UserError(f"{path}: the sensor card lacks {err.args[0]!r}") from err
        except (TypeError, ValueError) as err:
            raise UserError(f"{path}: malformed sensor card ({err})") from err
        names = [canonical_band(b.name) for b in bands]
        twice = [b.name for b, n in zip(bands, names, strict=True) if names.count(n) > 1]
        if twice:
            raise UserError(
                f"{path}: bands {' and '.join(twice[:2])} are one band (names compare without "
                "case or a leading zero); give each band its own name"
            )
        for rel in releases.values():
            for stat in (rel.mean, rel.std):
                if stat is not None and len(stat) != len(bands):
                    raise UserError(
                        f"{path}: release {rel.name!r} has {len(stat)} statistics "
                        f"for {len(bands)} bands"
                    )
        return sensor


@cache
def _cards() -> dict[str, Sensor]:
    cards = {}
    for path in sorted(cards_dir().glob("*.yaml")):
        sensor = Sensor.from_yaml(path)
        cards[sensor.name] = sensor
    return cards


def list_sensors() -> list[Sensor]:
    """All known sensor cards."""
    return list(_cards().values())


def is_card_file(name: str | os.PathLike) -> bool:
    """Whether ``name`` names a card file (``.yaml``/``.yml``) rather than a card."""
    return str(name).lower().endswith((".yaml", ".yml"))


def _names(sensor: Sensor) -> set[str]:
    return {sensor.name.lower(), *(a.lower() for a in sensor.aliases)}


def _check_names_free(sensor: Sensor, path: Path) -> None:
    """Refuse a card of one's own that takes a known card's name or alias.

    ``s2`` would then mean two sensors: a store written with one is refused by the other.
    """
    for other in _cards().values():
        if other == sensor:  # the same card loaded again
            continue
        clash = _names(sensor) & _names(other)
        if clash:
            raise UserError(
                f"{path}: the name or alias {sorted(clash)[0]!r} is already sensor card "
                f"{other.name!r}; give the card another name and aliases"
            )


def canonical_band(name: str) -> str:
    """A band name to compare: ``B1``, ``b01`` -> ``B01``; ``B8a`` -> ``B8A``; ``vv`` -> ``VV``."""
    name = name.strip().upper()
    match = re.fullmatch(r"B0?(\d)", name)
    return f"B0{match.group(1)}" if match else name


def get_sensor(name: str | os.PathLike | Sensor) -> Sensor:
    """A sensor card by name or alias (case-insensitive), or a card file of your own.

    A path to a ``.yaml`` card (the format of ``datasets/*.yaml``) loads it and makes
    its name and aliases known to this process, for sensors eossl has no card for.
    """
    if isinstance(name, Sensor):
        return name
    if "+" in str(name) and not is_card_file(name):  # a fused card's name: s1-grd+s2-l1c
        return fused_sensor([get_sensor(n) for n in str(name).split("+")])
    if is_card_file(name):
        path = Path(name)
        if not path.is_file():
            raise UserError(f"{path}: no such sensor card file")
        sensor = Sensor.from_yaml(path)
        _check_names_free(sensor, path)
        _cards()[sensor.name] = sensor
        return sensor
    key = str(name).lower()
    for sensor in _cards().values():
        if key == sensor.name.lower() or key in (a.lower() for a in sensor.aliases):
            return sensor
    known = ", ".join(sorted({a for s in _cards().values() for a in (s.name, *s.aliases)}))
    raise UserError(f"unknown sensor {name!r}; choose one of: {known}")


def get_sensors(spec: str | Sensor | Sequence[str | Sensor]) -> list[Sensor]:
    """One or more sensor cards: ``"s2"``, ``"s1,s2"`` or a list of names or cards."""
    if isinstance(spec, Sensor):
        return [spec]
    names = spec.split(",") if isinstance(spec, str) else list(spec)
    cards = [get_sensor(n.strip() if isinstance(n, str) else n) for n in names]
    if len({c.name for c in cards}) != len(cards):
        raise UserError(f"sensor {spec!r} names one sensor twice")
    return cards


def fused_sensor(sensors: list[Sensor]) -> Sensor:
    """The card of several sensors' bands stacked as channels, in order (early fusion).

    Its name joins theirs with ``+`` (``s1-grd+s2-l1c``); its values are normalised
    per sensor before stacking, so it has no dtype, offset or nodata of its own.
    """
    if len(sensors) == 1:
        return sensors[0]
    names = [b.name for s in sensors for b in s.bands]
    clash = sorted({n for n in names if names.count(n) > 1})
    if clash:
        raise UserError(
            f"sensors {', '.join(s.name for s in sensors)} share band names ({', '.join(clash)}); "
            "fuse sensors with distinct bands, e.g. s1 and s2"
        )
    optical = [i for i, s in enumerate(sensors) if s.rgb is not None]
    rgb = None
    if optical:
        first = optical[0]
        shift = sum(s.num_bands for s in sensors[:first])
        rgb = tuple(int(i) + shift for i in sensors[first].rgb)  # type: ignore[union-attr]
    return Sensor(
        name="+".join(s.name for s in sensors),
        title=" + ".join(s.title for s in sensors),
        aliases=(),
        platform=" + ".join(dict.fromkeys(s.platform for s in sensors)),
        product=" + ".join(s.product for s in sensors),
        modality="+".join(s.modality for s in sensors),
        dtype="float32",
        nodata=None,
        units="normalised per sensor",
        quantification=None,
        rgb=rgb,  # type: ignore[arg-type]
        bands=tuple(b for s in sensors for b in s.bands),
        citation="\n".join(dict.fromkeys(s.citation for s in sensors if s.citation)),
    )


def level_shift(frm: Sensor, to: Sensor) -> tuple[str, dict[str, float]] | None:
    """Per-band mean of ``to`` minus that of ``frm``: two processing levels of one platform.

    Taken from a release both cards publish statistics for (the same places and dates at
    both levels, e.g. SSL4EO-S12 v1.0's L1C and L2A), in stored units: how much brighter
    or darker a band typically is at ``to``'s level (the atmosphere's path radiance, for
    L1C against L2A). ``None`` where the cards are one sensor, other platforms, or share
    no such release. Returns the release's name and the shift of each shared band.
    """
    if frm.name == to.name or frm.platform != to.platform or not frm.quantification:
        return None
    if frm.quantification != to.quantification:
        return None
    for name in to.releases:
        a, b = frm.releases.get(name), to.releases.get(name)
        if a is None or a.mean is None or b.mean is None or a.scale != b.scale:
            continue
        if a.scale * frm.quantification != 1:  # the release's units are not the cards' DN
            continue
        base = {band: m - a.offset for band, m in zip(frm.band_names, a.mean, strict=True)}
        shift = {
            band: m - b.offset - base[band]
            for band, m in zip(to.band_names, b.mean, strict=True)
            if band in base
        }
        return name, shift
    return None
