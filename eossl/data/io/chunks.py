"""Where a zarr store's chunk files lie, and which a store written in full must have.

Read from the metadata and the folder listing alone, no chunk decoded: ``eossl verify``
checks the files' checksums, and every reader (:func:`~eossl.data.io.schema.validate`)
refuses a store written in full (``eossl_every_chunk``) that lacks a file of its bands,
which zarr would read as fill values.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np

from eossl.errors import UserError

__all__ = [
    "ArrayLayout",
    "Damage",
    "chunk_files",
    "damage_text",
    "missing_chunk_files",
    "missing_files",
    "read_zarr_metadata",
    "sample_range",
    "v3_arrays",
    "written_in_full",
]


def read_zarr_metadata(meta: Path) -> dict[str, Any]:
    """A ``zarr.json`` (or format 2 ``.zarray``) as a dict; one line if it is damaged."""
    try:
        doc = json.loads(meta.read_text())
    except (ValueError, UnicodeDecodeError):
        doc = None
    v3 = meta.name == "zarr.json"
    if not isinstance(doc, dict) or (v3 and doc.get("node_type") not in ("array", "group")):
        raise UserError(
            f"{meta}: damaged zarr metadata; restore the file or convert the store again"
        )
    return doc


@dataclass(frozen=True)
class Damage:
    """One chunk (or file) whose bytes do not match their checksum."""

    store: str
    file: str  # store-relative path, or the zip member
    array: str
    samples: tuple[int, int] | None  # [start, stop) along the sample axis, when it has one
    problem: str


@dataclass(frozen=True)
class ArrayLayout:
    """Where an array's chunks lie and how they map to samples."""

    name: str
    shape: tuple[int, ...]
    chunks: tuple[int, ...]  # outer chunk (the shard, when sharded)
    inner: tuple[int, ...] | None  # inner chunk of a shard
    checksum: bool  # chunks end with a crc32c
    index_checksum: bool  # the shard index ends with a crc32c
    index_at_end: bool
    by_sample: bool  # the first axis is the sample axis
    separator: str
    every_chunk: bool = False  # every chunk was written: a missing one is damage
    key_prefix: tuple[str, ...] = ("c",)  # format 3's chunk keys begin with "c"; 2's do not


def sample_range(
    array: ArrayLayout, coords: tuple[int, ...], size: tuple[int, ...]
) -> tuple[int, int] | None:
    """[start, stop) along the sample axis of the chunk at ``coords`` of ``size``, if any."""
    if not array.by_sample or not coords:
        return None
    start = coords[0] * size[0]
    return start, min(start + size[0], array.shape[0])


def v3_arrays(store: Path, every_chunk: bool = False) -> Iterator[ArrayLayout]:
    """The layout of every format-3 array of a store; one line if its metadata is damaged."""
    for meta_path in sorted(store.rglob("zarr.json")):
        layout = _layout(store, meta_path, every_chunk)
        if layout is not None:
            yield layout


def _layout(store: Path, meta_path: Path, every_chunk: bool) -> ArrayLayout | None:
    """One array's layout from its ``zarr.json`` (None for a group)."""
    meta = read_zarr_metadata(meta_path)
    if meta.get("node_type") != "array":
        return None
    try:
        return replace(_array(store, meta_path, meta), every_chunk=every_chunk)
    except (KeyError, TypeError, ValueError, AttributeError) as err:
        raise UserError(
            f"{meta_path}: damaged array metadata ({type(err).__name__}: {err}); restore "
            "the file or convert the store again"
        ) from err


def _check_grid(shape: Any, chunks: Any) -> None:
    """A ValueError unless ``chunks`` has one whole number of at least 1 per dimension."""
    if len(chunks) != len(shape) or not all(
        isinstance(c, int) and not isinstance(c, bool) and c >= 1 for c in chunks
    ):
        raise ValueError(f"chunks {list(chunks)} do not fit shape {list(shape)}")


def _array(store: Path, meta_path: Path, meta: dict[str, Any]) -> ArrayLayout:
    """Where one format-3 array's chunks lie, from its ``zarr.json``."""
    _check_grid(meta["shape"], meta["chunk_grid"]["configuration"]["chunk_shape"])
    codecs = meta.get("codecs", [])
    shard = next((c for c in codecs if c.get("name") == "sharding_indexed"), None)
    conf = shard["configuration"] if shard else {}
    inner_codecs = conf.get("codecs", codecs)
    encoding = meta.get("chunk_key_encoding", {})
    dims = meta.get("dimension_names") or []
    return ArrayLayout(
        name=meta_path.parent.relative_to(store).as_posix(),
        shape=tuple(meta["shape"]),
        chunks=tuple(meta["chunk_grid"]["configuration"]["chunk_shape"]),
        inner=tuple(conf["chunk_shape"]) if shard else None,
        checksum=any(c.get("name") == "crc32c" for c in inner_codecs),
        index_checksum=any(c.get("name") == "crc32c" for c in conf.get("index_codecs", [])),
        index_at_end=conf.get("index_location", "end") == "end",
        by_sample=bool(dims) and dims[0] == "sample",
        separator=encoding.get("configuration", {}).get("separator", "/"),
    )


def missing_chunk_files(store: Path, names: tuple[str, ...] | None = ("bands",)) -> list[Damage]:
    """The chunk files of arrays ``names`` (None: all) that a store written in full lacks.

    Found from the folder listing alone (no chunk read).

    Empty for a store that does not say it was written in full (a zip, another writer's):
    there a missing chunk is a fill value by design.
    """
    if not store.is_dir() or not written_in_full(store):
        return []
    if (store / "zarr.json").exists() and names is None:
        arrays = list(v3_arrays(store, every_chunk=True))
    elif (store / "zarr.json").exists():
        metas = [store / name / "zarr.json" for name in names]  # those arrays' alone: no walk
        found = [_layout(store, m, every_chunk=True) for m in metas if m.is_file()]
        arrays = [a for a in found if a is not None]
    else:
        arrays = v2_arrays(store, names)
    return missing_files(store, arrays)


def chunk_files(
    store: Path, arrays: list[ArrayLayout], keys: dict[str, set[str]] | None = None
) -> list[tuple[ArrayLayout, Path]]:
    """Every chunk (or shard) file of ``arrays``, in order (``keys``: their listing, if made)."""
    keys = keys if keys is not None else {a.name: chunk_keys(store / a.name) for a in arrays}
    return [(a, store / a.name / key) for a in arrays for key in sorted(keys[a.name])]


def chunk_keys(array_dir: Path) -> set[str]:
    """The keys (``c/0/1``, ``0.1``) of the chunk files under ``array_dir``, not of a nested array.

    A directory scan per folder (``os.scandir``: no stat per regular file; a link counts
    only if it leads to a file): a format-2 store holds a file per chunk, hundreds of
    thousands of them at scale.
    """
    keys: set[str] = set()
    folders = [("", str(array_dir))]
    while folders:
        prefix, folder = folders.pop()
        try:
            entries = list(os.scandir(folder))
        except OSError:
            continue
        for entry in entries:
            key = prefix + entry.name
            if entry.is_dir():
                folders.append((key + "/", entry.path))
            elif entry.is_file() and _is_chunk_key(key):
                keys.add(key)
    return keys


def written_in_full(store: Path) -> bool:
    """Whether a complete store says it was written with every chunk (fill values too)."""
    try:  # damaged metadata is reported by v3_arrays
        if (store / "zarr.json").exists():
            attrs = json.loads((store / "zarr.json").read_text()).get("attributes", {})
        else:  # format 2
            attrs = json.loads((store / ".zattrs").read_text())
        return bool(attrs.get("eossl_every_chunk")) and attrs.get("eossl_complete") is True
    except (OSError, ValueError, UnicodeDecodeError, AttributeError):
        return False


def v2_layout(
    name: str, meta: dict[str, Any], dims: list[str], every_chunk: bool = False
) -> ArrayLayout:
    """A format-2 array's layout from its ``.zarray`` and ``_ARRAY_DIMENSIONS``.

    A ValueError, KeyError or TypeError if the metadata cannot place its chunks.
    """
    _check_grid(meta["shape"], meta["chunks"])
    return ArrayLayout(
        name=name,
        shape=tuple(meta["shape"]),
        chunks=tuple(meta["chunks"]),
        inner=None,
        checksum=False,
        index_checksum=False,
        index_at_end=True,
        by_sample=bool(dims) and dims[0] == "sample",
        separator=meta.get("dimension_separator") or ".",
        every_chunk=every_chunk,
        key_prefix=(),
    )


def v2_arrays(store: Path, names: tuple[str, ...] | None = None) -> list[ArrayLayout]:
    """The layout of a format-2 directory's arrays (``names``, else all), written in full."""
    arrays = []
    for meta_path in sorted(store.glob("*/.zarray")):
        name = meta_path.parent.name
        if names is not None and name not in names:
            continue
        meta = read_zarr_metadata(meta_path)
        try:
            attrs_path = meta_path.parent / ".zattrs"
            dims = json.loads(attrs_path.read_text()).get("_ARRAY_DIMENSIONS", [])
        except (OSError, ValueError, AttributeError):
            dims = []
        try:
            arrays.append(v2_layout(name, meta, dims, every_chunk=True))
        except (KeyError, TypeError, ValueError) as err:
            raise UserError(
                f"{meta_path}: damaged array metadata ({type(err).__name__}: {err}); restore "
                "the file or convert the store again"
            ) from err
    return arrays


def missing_files(
    store: Path, arrays: list[ArrayLayout], keys: dict[str, set[str]] | None = None
) -> list[Damage]:
    """A damage for each chunk (or shard) file that a store written in full lacks.

    ``keys``: each array's :func:`chunk_keys`, if already listed (default: listed here).
    Checked for ``bands`` and every variable with a file: one a converter leaves at its
    fill value (``location_id`` where unknown) has none.
    """
    if keys is None:
        keys = {a.name: chunk_keys(store / a.name) for a in arrays if a.every_chunk}
    damage = []
    for array in arrays:
        found = keys.get(array.name, set())
        if not array.every_chunk or (not found and array.name != "bands"):
            continue
        grid = [-(-s // c) for s, c in zip(array.shape, array.chunks, strict=True)]
        for coords in np.ndindex(*grid):
            key = array.separator.join([*array.key_prefix, *map(str, coords)]) or "0"
            if key not in found:
                rel = f"{array.name}/{key}"
                samples = sample_range(array, coords, array.chunks)
                damage.append(Damage(str(store), rel, array.name, samples, "file missing"))
    return damage


def _is_chunk_key(key: str) -> bool:
    """A chunk (or shard) file's key: under ``c/`` (format 3), or dot/slash-separated indices."""
    parts = key.split("/")
    return parts[0] == "c" or all(part.isdigit() for p in parts for part in p.split("."))


def damage_text(err: BaseException) -> str:
    """What went wrong reading a chunk, in a few words: a checksum's raw bytes left out."""
    text = str(err)
    if "checksum do not match" in text or "Digest mismatch" in text:  # zarr, tensorstore
        return "its checksum does not match: the chunk is damaged"
    if "CRC-32" in text:
        return "its zip CRC-32 does not match: the file is damaged"
    first = text.splitlines()[0] if text else ""
    return f"{type(err).__name__}: {first[:160]}"
