"""``eossl convert --layout zarr``: schema stores (e.g. the v1.1 ``.zarr.zip`` archive) re-encoded.

Every store under SRC (one store, a ``.zarr.zip`` or a folder of them, in
:func:`~eossl.data.io.schema.find_stores` order) is read with zarr-python and written
as one eossl store: one chunk per (sample, time), sharded, the chosen codec with a
crc32c per chunk. Samples keep their order, so the folders of one release (``S1GRD``,
``S2L1C``, ``S2L2A``) stay paired sample for sample. Blocks of whole shards run on
dask through :class:`~eossl.data.io.writer.StoreWriter`: atomic and resumable. Each
block is read back after it is written and compared with its source value for value
before it counts as done.

Copied: ``bands``, ``cloud_mask``, ``label``, ``scene_label``/``class_name``, ``time_``,
``center_lat``/``center_lon``, ``crs``, ``x_``/``y_``, ``sample_id``/``file_id``,
``location_id`` and the band names. xarray's 1-D index coordinates (``sample``,
``time``, ``x``, ``y``) are not, but ``sample`` (v1.1's location ids) becomes
``location_id``, which pairs co-located stores of other sensors.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from eossl.data.io.chunks import damage_text
from eossl.data.io.codecs import DEFAULT_CODEC
from eossl.data.io.schema import (
    StoreInfo,
    decode_times,
    find_stores,
    open_group,
    size_on_disk,
    validate,
)
from eossl.data.io.writer import StoreSpec, StoreWriter, auto_shard
from eossl.errors import UserError

__all__ = ["COPIED", "reencode"]

COPIED = (
    "bands",
    "cloud_mask",
    "label",
    "scene_label",
    "time_",
    "center_lat",
    "center_lon",
    "crs",
    "x_",
    "y_",
    "sample_id",
    "file_id",
    "location_id",
)
_EOSSL_ATTRS = ("eossl_spec", "eossl_complete", "eossl_schema_version")


def _sources(src: Path, sensor: str | None) -> list[StoreInfo]:
    from eossl.sensors import get_sensor

    wanted = get_sensor(sensor) if sensor is not None else None
    stores = [validate(p, sensor=wanted) for p in find_stores(src)]
    first = stores[0]

    def shape(i: StoreInfo) -> tuple[Any, ...]:
        return (i.times, i.bands, i.band_names, i.height, i.width, i.dtype, i.has_cloud_mask,
                i.has_label, i.sensor.name if i.sensor else None)  # fmt: skip

    for info in stores[1:]:
        if shape(info) != shape(first):
            raise UserError(
                f"{info.path}: (times, bands, names, size, dtype, cloud_mask, label, sensor) "
                f"{shape(info)} differs from {first.path} {shape(first)}; re-encode each "
                "kind into its own store"
            )
    return stores


def _classes(info: StoreInfo) -> tuple[list[str] | None, str | None]:
    group = open_group(info.path)
    if "scene_label" not in group:
        return None, None
    names = [str(c) for c in group["class_name"][...]]
    return names, str(group.attrs.get("scene_label_kind", "multi"))


def _attrs(first: StoreInfo) -> dict[str, Any]:
    """The source's attributes, with its implicit sensor and release offset made explicit."""
    attrs = {k: v for k, v in first.attrs.items() if k not in _EOSSL_ATTRS}
    sensor = first.sensor
    if sensor is not None:
        attrs.setdefault("sensor", sensor.name)
        if "offset" not in attrs and "release" not in attrs and sensor.default_release:
            # what resolve_stats assumes of a store that records nothing (the v1.1 archive)
            attrs["release"] = sensor.default_release
            attrs["offset"] = sensor.release().offset
    attrs["source_layout"] = "zarr"
    return attrs


def _pieces(offsets: np.ndarray, start: int, stop: int) -> list[tuple[int, int, int]]:
    """(source store, first sample, end sample) pieces of global samples ``start:stop``."""
    out = []
    s = int(np.searchsorted(offsets, start, side="right") - 1)
    while start < stop:
        end = min(stop, int(offsets[s + 1]))
        out.append((s, start - int(offsets[s]), end - int(offsets[s])))
        start, s = end, s + 1
    return out


def _read(stores: list[StoreInfo], pieces: list[tuple[int, int, int]]) -> dict[str, np.ndarray]:
    """The copied variables of a block, read from its source pieces and concatenated."""
    parts: dict[str, list[np.ndarray]] = {}
    for s, a, b in pieces:
        group = open_group(stores[s].path)
        for name in COPIED:
            source = name
            if name == "location_id" and name not in group:
                source = "sample"  # v1.1: the sample coordinate holds the location ids
            if source not in group or (name == "location_id" and group[source].ndim != 1):
                continue
            try:
                value = group[source][a:b]
            except Exception as err:  # a damaged or truncated chunk, a bad zip CRC
                raise UserError(
                    f"{stores[s].path}: {name} of samples {a}-{b - 1} could not be read "
                    f"({damage_text(err)}); `eossl verify {stores[s].path}` lists the damaged "
                    "chunks"
                ) from err
            if name == "time_":
                value = decode_times(group[name], value)
            elif value.dtype.kind == "U":
                value = value.astype(str)
            elif name == "location_id" and value.dtype.kind in "iu":
                value = value.astype(str)  # an integer sample index: ids are strings
            parts.setdefault(name, []).append(np.asarray(value))
    return {name: np.concatenate(values) for name, values in parts.items()}


def _same(name: str, source: np.ndarray, written: np.ndarray) -> bool:
    if name == "time_":
        source = source.astype("datetime64[ns]").view("int64")
    if source.dtype.kind == "f":
        return np.array_equal(source, written, equal_nan=True)
    return np.array_equal(source, written)


def reencode(
    src: str | os.PathLike,
    out: str | os.PathLike,
    *,
    sensor: str | None = None,
    zarr_format: int = 3,
    shard: int | None = None,
    codec: str = DEFAULT_CODEC,
    overwrite: bool = False,
    run: Callable[..., list[Any]],
) -> tuple[Path, dict[str, Any]]:
    """Write every store under ``src`` into the one eossl store ``out``.

    ``run`` is :func:`~eossl.parallel.run_blocks` bound to a dask client. Returns
    the store and a summary (stores, samples, bytes before and after).
    """
    stores = _sources(Path(src).expanduser(), sensor)
    first = stores[0]
    offsets = np.cumsum([0] + [i.samples for i in stores])
    itemsize = np.dtype(first.dtype).itemsize
    per_sample = first.times * first.bands * first.height * first.width * itemsize
    shard = shard or auto_shard(per_sample)
    classes, kind = _classes(first)
    group = open_group(first.path)
    band_names = first.band_names or (
        list(first.sensor.band_names) if first.sensor else [f"B{k}" for k in range(first.bands)]
    )
    spec = StoreSpec(
        samples=int(offsets[-1]),
        times=first.times,
        band_names=band_names,
        height=first.height,
        width=first.width,
        dtype=first.dtype,
        cloud_mask=first.has_cloud_mask,
        label=first.has_label,
        zarr_format=zarr_format,
        shard=shard,
        codec=codec,
        attrs=_attrs(first),
        source=_fingerprint(stores),
        classes=classes,
        scene_label_kind=kind,
        time="time_" in group,
    )
    writer = StoreWriter(out, spec, overwrite=overwrite)
    writer.say_start()

    def block(item: tuple[int, int]) -> None:
        start, stop = item
        data = _read(stores, _pieces(offsets, start, stop))
        writer.write_checked(start, stop, data, _same)

    pending = writer.pending()
    with writer.kept_on_failure():
        run(block, pending, "re-encode", weights=[b - a for a, b in pending], unit="samples")
    path = writer.finalize()
    before = sum(size_on_disk(i.path) for i in stores)
    return path, {
        "stores": len(stores),
        "samples": spec.samples,
        "bytes_before": before,
        "bytes_after": size_on_disk(path),
    }


def _fingerprint(stores: list[StoreInfo]) -> str:
    from eossl.data.convert.rasters import fingerprint

    return fingerprint([(str(i.path), size_on_disk(i.path), i.samples) for i in stores])
