"""The eossl Zarr schema (that of SSL4EO-S12 v1.1): find, open, validate, describe stores.

A store holds ``bands`` with dims (sample, time, band, y, x) plus per-sample
metadata; see ``docs/schema.md``. Stores are directories (``*.zarr``) or zip
files (``*.zarr.zip``), in zarr format 2 or 3.
"""

from __future__ import annotations

import logging
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import zarr
from zarr.storage import LocalStore, ZipStore

from eossl.data.io.chunks import missing_chunk_files, read_zarr_metadata
from eossl.errors import UserError
from eossl.sensors import Sensor, get_sensor, list_sensors

log = logging.getLogger(__name__)

SCHEMA_VERSION = "1.0"
BANDS_DIMS = ("sample", "time", "band", "y", "x")
CLOUD_CODES = {
    "land": 0,
    "water": 1,
    "snow": 2,
    "thin_cloud": 3,
    "thick_cloud": 4,
    "shadow": 5,
    "nodata": 6,
}
CLOUDY_CODES = (3, 4, 5, 6)  # thin, thick cloud, shadow, no data: counted in the cloud fraction

# Folder names of the SSL4EO-S12 v1.1 release, used when a store names no sensor.
_RELEASE_FOLDERS = {"s2l1c": "s2-l1c", "s2l2a": "s2-l2a", "s1grd": "s1-grd"}


def is_store(path: Path) -> bool:
    """Whether ``path`` names a Zarr store (directory or zip)."""
    name = path.name
    return (name.endswith(".zarr") and path.is_dir()) or (
        name.endswith(".zarr.zip") and path.is_file()
    )


def find_stores(root: str | os.PathLike) -> list[Path]:
    """Stores at ``root``: the store itself, or every store found recursively below it."""
    root = Path(root).expanduser()
    if not root.exists():
        raise UserError(
            f"{root}: no such file or directory; pass a .zarr store, a .zarr.zip file "
            "or a folder that contains them"
        )
    if is_store(root):
        return [root]
    if root.is_file():
        raise UserError(f"{root}: not a Zarr store; expected a .zarr directory or .zarr.zip file")
    if (root / "zarr.json").exists() or (root / ".zgroup").exists():
        return [root]  # a store directory without the .zarr suffix
    stores = []
    for dirpath, dirnames, filenames in os.walk(root):
        here = Path(dirpath)
        for d in list(dirnames):
            if d.endswith(".zarr"):
                stores.append(here / d)
                dirnames.remove(d)  # don't descend into a store
            elif d.endswith(".partial"):
                dirnames.remove(d)  # half-written output is never read
        stores.extend(here / f for f in filenames if f.endswith(".zarr.zip"))
    if not stores:
        raise UserError(
            f"{root}: no Zarr stores (*.zarr, *.zarr.zip) found; create one with "
            "`eossl synth` or `eossl convert`"
        )
    return sorted(stores, key=lambda p: natural_key(str(p)))


def natural_key(text: str) -> list[Any]:
    """Sort key that orders embedded numbers numerically."""
    return [int(t) if t.isdigit() else t for t in re.split(r"(\d+)", text)]


def empty_block(
    samples: int, times: int, bands: int, height: int, width: int, dtype: Any, nodata: Any
) -> dict[str, np.ndarray]:
    """A write block with every slot padded, for a converter to fill.

    Nodata bands (0 without nodata), ``cloud_mask`` 6 (no data), NaT times, empty ids.
    """
    fill = 0 if nodata is None else nodata
    return {
        "bands": np.full((samples, times, bands, height, width), fill, dtype),
        "cloud_mask": np.full((samples, times, height, width), CLOUD_CODES["nodata"], np.uint8),
        "time_": np.full((samples, times), np.datetime64("NaT", "ns"), "datetime64[ns]"),
        "sample_id": np.full((samples, times), "", dtype=object),
        "file_id": np.full((samples, times), "", dtype=object),
    }


def open_group(path: Path) -> zarr.Group:
    """Open a store read-only (directory or zip, zarr format 2 or 3)."""
    try:
        store = ZipStore(path, mode="r") if path.is_file() else LocalStore(path, read_only=True)
        return zarr.open_group(store, mode="r")
    except UserError:
        raise
    except PermissionError as err:
        raise UserError(f"{path}: permission denied; check that you may read it") from err
    except Exception as err:  # zarr raises many types for unreadable metadata
        raise UserError(
            f"{path}: cannot open as a Zarr store ({type(err).__name__}: {err}); "
            "check that the file is complete, or re-download/re-convert it"
        ) from err


def decode_times(array: zarr.Array, values: np.ndarray | None = None) -> np.ndarray:
    """Times as ``datetime64[ns]``, decoding CF ``units`` the way xarray writes them."""
    raw = array[...] if values is None else values
    if np.issubdtype(raw.dtype, np.datetime64):
        return raw.astype("datetime64[ns]")
    units = array.attrs.get("units")
    if units is None:
        return raw.astype("datetime64[ns]")
    import xarray as xr

    calendar = array.attrs.get("calendar", "proleptic_gregorian")
    fill = array.attrs.get("_FillValue", array.fill_value)
    raw = np.asarray(raw)
    mask = raw == fill if fill is not None and np.issubdtype(raw.dtype, np.integer) else None
    out = xr.coding.times.decode_cf_datetime(raw, units, calendar).astype("datetime64[ns]")
    if mask is not None and mask.any() and not (raw[mask] == 0).all():
        out[mask] = np.datetime64("NaT", "ns")
    return np.asarray(out)


def dims_of(array: zarr.Array) -> tuple[str, ...] | None:
    """Dimension names of an array in either zarr format."""
    names = getattr(array.metadata, "dimension_names", None)
    if names:
        return tuple(names)
    dims = array.attrs.get("_ARRAY_DIMENSIONS")
    return tuple(dims) if dims else None


def band_names(group: zarr.Group) -> list[str] | None:
    """Band names from the ``band`` coordinate, if present."""
    if "band" not in group:
        return None
    return [str(b) for b in group["band"][...]]


def infer_sensor(group: zarr.Group, path: Path) -> Sensor | None:
    """The sensor of a store: its ``sensor`` attribute, else its band names or folder."""
    name = group.attrs.get("sensor")
    if name:
        try:
            return get_sensor(str(name))
        except UserError:  # a user's own card, not loaded in this process: read by shape
            log.info("%s: sensor %r has no card here; reading it without one", path, name)
    names = band_names(group)
    if names:
        lowered = [n.lower() for n in names]
        for sensor in list_sensors():
            if [b.lower() for b in sensor.band_names] == lowered:
                return sensor
    for part in reversed(path.parts):
        if part.lower() in _RELEASE_FOLDERS:
            return get_sensor(_RELEASE_FOLDERS[part.lower()])
    return None


@dataclass(frozen=True)
class StoreInfo:
    """Shape and metadata of one validated store."""

    path: Path
    samples: int
    times: int
    bands: int
    height: int
    width: int
    dtype: str
    band_names: list[str] | None
    sensor: Sensor | None
    has_cloud_mask: bool
    has_label: bool
    attrs: dict[str, Any]


def check_metadata(path: Path) -> None:
    """Each variable's metadata file of a directory store parses as zarr metadata."""
    if not path.is_dir():
        return
    root = path / "zarr.json"
    if root.exists() and read_zarr_metadata(root)["node_type"] != "group":
        raise UserError(
            f"{root}: damaged zarr metadata (the root is no group); restore the file or "
            "convert the store again"
        )
    for meta in sorted(path.glob("*/zarr.json")) + sorted(path.glob("*/.zarray")):
        read_zarr_metadata(meta)
    consolidated = path / ".zmetadata"  # format 2: zarr opens what it lists, files or not
    if consolidated.is_file() and not root.exists():
        listed = read_zarr_metadata(consolidated).get("metadata", {})
        for key in sorted(k for k in listed if k.endswith("/.zarray")):
            if not (path / key).is_file():
                raise UserError(
                    f"{path / key}: missing, though the store's .zmetadata lists it (deleted?); "
                    "restore it or convert the store again"
                )
    bands = path / "bands"
    if bands.is_dir() and not any((bands / m).is_file() for m in ("zarr.json", ".zarray")):
        raise UserError(
            f"{bands}: its metadata file (zarr.json or .zarray) is missing; restore it or "
            "convert the store again"
        )


def check_complete(path: Path, group: zarr.Group) -> None:
    """One line if the writer of ``path`` marked it as not completely written."""
    if group.attrs.get("eossl_complete") is False:
        raise UserError(
            f"{path}: this store was not completely written; rerun the command "
            "that created it to resume"
        )


def validate(
    path: Path, group: zarr.Group | None = None, sensor: Sensor | None = None
) -> StoreInfo:
    """Check a store against the schema, raising a one-line ``UserError`` on a mismatch."""
    group = open_group(path) if group is None else group
    check_metadata(path)
    check_complete(path, group)
    _check_chunk_files(path)
    if "bands" not in group:
        raise UserError(
            f"{path}: no 'bands' variable; an eossl/SSL4EO-S12 store needs "
            f"bands{BANDS_DIMS} (convert GeoTIFFs with `eossl convert`)"
        )
    bands = group["bands"]
    dims = dims_of(bands)
    if bands.ndim != 5 or (dims is not None and tuple(dims) != BANDS_DIMS):
        raise UserError(
            f"{path}: 'bands' has dims {dims or bands.shape}, expected {BANDS_DIMS}; "
            "re-convert the data with `eossl convert`"
        )
    names = band_names(group)
    store_sensor = infer_sensor(group, path)
    declared = _declared_sensor(group)
    if sensor is not None and declared is not None and declared.name != sensor.name:
        raise UserError(
            f"{path}: holds {declared.name} data (its 'sensor' attribute), not "
            f"{sensor.name}; pass --sensor {declared.name}"
        )
    sensor = sensor or store_sensor
    n, t, c, h, w = bands.shape
    if names is not None and len(names) != c:
        raise UserError(f"{path}: 'band' lists {len(names)} names but 'bands' has {c} bands")
    if sensor is not None and sensor.num_bands != c:
        raise UserError(
            f"{path}: has {c} bands but sensor {sensor.name!r} has "
            f"{sensor.num_bands}; pass the matching --sensor (e.g. "
            f"{_guess_alias(c)})"
        )
    return StoreInfo(
        path=path,
        samples=n,
        times=t,
        bands=c,
        height=h,
        width=w,
        dtype=str(bands.dtype),
        band_names=names,
        sensor=sensor,
        has_cloud_mask="cloud_mask" in group,
        has_label="label" in group,
        attrs=dict(group.attrs),
    )


def _declared_sensor(group: zarr.Group) -> Sensor | None:
    """The card a store's ``sensor`` attribute names, where this process knows it."""
    name = group.attrs.get("sensor")
    try:
        return get_sensor(str(name)) if name else None
    except UserError:  # a user's own card, not loaded here
        return None


def refuse_empty(infos: list[StoreInfo]) -> None:
    """One line when stores hold no image: no sample, or images of 0 pixels."""
    for info in infos:
        if 0 in (info.samples, info.times, info.height, info.width):
            raise UserError(
                f"{info.path}: holds no image ({info.samples} samples x {info.times} "
                f"timestamps of {info.height}x{info.width} px); nothing to compute"
            )


def _check_chunk_files(path: Path) -> None:
    """One line if a store written in full lacks a file of its bands (read as nodata else)."""
    missing = missing_chunk_files(path)
    if missing:
        first = missing[0]
        where = f" (samples {first.samples[0]}-{first.samples[1] - 1})" if first.samples else ""
        more = f" and {len(missing) - 1} more" if len(missing) > 1 else ""
        raise UserError(
            f"{path}: {first.file}{where}{more} missing (deleted, or dropped by a zarr write "
            "of fill values); `eossl verify` lists them: restore the store or convert it again"
        )


def _guess_alias(num_bands: int) -> str:
    matches = [
        s.aliases[0] if s.aliases else s.name for s in list_sensors() if s.num_bands == num_bands
    ]
    return " or ".join(matches) or "a sensor with that many bands"


_SHUFFLE = {-1: "autoshuffle", 0: "noshuffle", 1: "shuffle", 2: "bitshuffle"}
_CHECKSUMS = ("crc32c", "crc32", "adler32", "fletcher32")


def _codec_label(codec: Any) -> str:
    """``blosc(lz4, shuffle, level 5)``, ``zstd(level 3)``, ``crc32c``: one codec, zarr 2 or 3."""
    name = getattr(codec, "codec_id", None) or type(codec).__name__.removesuffix("Codec").lower()
    if getattr(codec, "cname", None) is not None:  # blosc
        cname = getattr(codec.cname, "value", codec.cname)
        shuffle = getattr(codec.shuffle, "value", codec.shuffle)
        shuffle = _SHUFFLE.get(shuffle, str(shuffle)) if isinstance(shuffle, int) else shuffle
        return f"{name}({cname}, {shuffle}, level {codec.clevel})"
    if getattr(codec, "level", None) is not None:
        check = ", checksum" if getattr(codec, "checksum", False) else ""
        return f"{name}(level {codec.level}{check})"
    return name


def _chunk_codecs(array: zarr.Array) -> list[Any]:
    """The codecs every chunk goes through, without serialisers (inside shards, if sharded)."""
    meta = array.metadata
    if getattr(meta, "zarr_format", 3) == 2:
        return [*(meta.filters or ()), *([meta.compressor] if meta.compressor else [])]
    out = []
    for codec in meta.codecs:
        out.extend(getattr(codec, "codecs", None) or [codec])  # the sharding codec's inner ones
    skip = ("Bytes", "VLen", "Transpose")
    return [c for c in out if not any(k in type(c).__name__ for k in skip)]


def codec_name(array: zarr.Array) -> str:
    """A short description of an array's compression codecs, e.g. ``sharding[zstd(level 3)]``."""
    meta = array.metadata
    names = ", ".join(_codec_label(c) for c in _chunk_codecs(array)) or "none"
    sharded = getattr(meta, "zarr_format", 3) == 3 and any(
        getattr(c, "codecs", None) for c in meta.codecs
    )
    return f"sharding[{names}]" if sharded else names


def checksum_name(array: zarr.Array, zipped: bool = False) -> str:
    """What catches a corrupted chunk of ``array``: a checksum codec, the zip's CRC-32, or none.

    ``zipped``: the store is a ``.zarr.zip`` (zip keeps a CRC-32 of every member).
    """
    labels = [_codec_label(c) for c in _chunk_codecs(array)]
    found = [n for n in labels if n in _CHECKSUMS or n.endswith("checksum)")]
    if found:
        return f"{found[0]} per chunk"
    if zipped:
        return "zip CRC-32 per chunk (file member)"
    meta = array.metadata
    for codec in getattr(meta, "codecs", ()):
        index = [type(c).__name__ for c in getattr(codec, "index_codecs", ())]
        if "Crc32cCodec" in index:
            return "none on chunks (crc32c on the shard index only)"
    return "none"


def chunk_shape(array: zarr.Array) -> tuple[int, ...]:
    """The inner chunk shape (inside shards, if sharded)."""
    return tuple(array.chunks)


def size_on_disk(path: Path) -> int:
    """Bytes used by a store."""
    if path.is_file():
        return path.stat().st_size
    return sum(f.stat().st_size for f in path.rglob("*") if f.is_file())
