"""Read arrays of a store on the hot path: tensorstore, with zarr-python as the fallback.

``open_reader`` gives one object per array with one method, ``read(index)``, where
``index`` holds ints, slices and at most one 1-D integer array (the timestamps of a
sample). A timestamp repeated in the array is read once. Which reader is used:

- **tensorstore** (``"auto"``, the default, where it can open the array): zarr format
  3 sharded directories, zarr format 2 directories, and zarr format 2 inside a
  ``.zarr.zip`` through tensorstore's zip kvstore. One read per call, for every
  timestamp and the crop at once; no decoded-chunk cache. Chunk checksums (crc32c in
  the stores eossl writes) are checked by tensorstore. Its zip kvstore does not check
  the zip's CRC-32, so in a format-2 ``.zarr.zip`` (the v1.1 form, no chunk checksum)
  eossl checks the CRC-32 of each zip member (chunk) the first time a process reads it.
- **zarr-python** (the fallback): when tensorstore is not installed, cannot open the
  array (a codec or filter it lacks), the zip's members are compressed by the zip
  itself (Python's zipfile checks their CRC-32), or ``reader="zarr"`` is asked for.
  ``describe`` says which one an array uses.

tensorstore is not safe across ``fork``: a process that has opened tensorstore must
start DataLoader workers with forkserver or spawn (the datamodule does).
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import os
import zipfile
import zlib
from collections.abc import Callable
from pathlib import Path
from typing import Any, Literal

import numpy as np
import zarr
from zarr.core.sync import sync

from eossl.errors import UserError

__all__ = [
    "READERS",
    "ArrayReader",
    "Reader",
    "forked_after_tensorstore",
    "member_data_offset",
    "open_reader",
    "tensorstore_available",
]

Reader = Literal["auto", "tensorstore", "zarr"]
READERS: tuple[str, ...] = ("auto", "tensorstore", "zarr")

Index = tuple[Any, ...]

log = logging.getLogger(__name__)


def tensorstore_available() -> bool:
    """Whether tensorstore can be imported."""
    try:
        import tensorstore  # noqa: F401
    except ImportError:
        return False
    return True


def _distinct(index: Index) -> tuple[Index, np.ndarray | None]:
    """``index`` with its integer array made unique and sorted, and how to expand back."""
    for axis, value in enumerate(index):
        if isinstance(value, np.ndarray):
            if value.size < 2 or bool(np.all(value[1:] > value[:-1])):
                return index, None  # sorted and distinct already (the usual case)
            distinct, slot = np.unique(value, return_inverse=True)
            if np.array_equal(distinct, value):
                return index, None
            return (*index[:axis], distinct, *index[axis + 1 :]), slot
    return index, None


def _expand(out: np.ndarray, index: Index, slot: np.ndarray | None) -> np.ndarray:
    """Repeat the distinct reads of ``_distinct`` back into the asked-for order."""
    if slot is None:
        return out
    axis = sum(isinstance(v, slice) for v in index[: _array_axis(index)])
    return np.take(out, slot, axis=axis)


def _array_axis(index: Index) -> int:
    return next(k for k, v in enumerate(index) if isinstance(v, np.ndarray))


class ArrayReader:
    """One array of one store, opened in the process that reads it."""

    backend = "zarr"

    def __init__(self, array: zarr.Array) -> None:
        self.array = array
        self.shape = tuple(array.shape)
        self.dtype = np.dtype(array.dtype)

    def start(self, index: Index) -> Callable[[], np.ndarray]:
        """Begin ``read(index)``; the returned call gives its result (zarr: read now)."""
        out = self.read(index)
        return lambda: out

    def read(self, index: Index) -> np.ndarray:
        """``array[index]``, outer-indexed: the integer array selects along its own axis.

        zarr 3 resolves an index array point by point inside a shard (about 10x
        slower than whole-chunk reads), so each distinct value is one basic
        selection, fetched concurrently.
        """
        index, slot = _distinct(index)
        if not any(isinstance(v, np.ndarray) for v in index):
            return np.asarray(self.array[index])
        axis = _array_axis(index)
        arr = getattr(self.array, "async_array", None) or self.array._async_array

        async def gather() -> list[Any]:
            parts = ((*index[:axis], int(v), *index[axis + 1 :]) for v in index[axis])
            return await asyncio.gather(*(arr.getitem(p) for p in parts))

        out_axis = sum(not isinstance(v, (int, np.integer)) for v in index[:axis])
        out = np.stack(sync(gather()), axis=out_axis)
        return _expand(out, index, slot)


class TensorstoreReader(ArrayReader):
    """The array read through tensorstore; zip members' CRC-32 checked by eossl."""

    backend = "tensorstore"

    def __init__(self, array: zarr.Array, store: Path, name: str) -> None:
        import tensorstore as ts

        super().__init__(array)
        zipped = store.is_file()
        path = f"{name}/"
        kvstore: dict[str, Any] = (
            {"driver": "zip", "base": {"driver": "file", "path": str(store)}, "path": path}
            if zipped
            else {"driver": "file", "path": str(store / path)}
        )
        spec = {
            "driver": "zarr3" if array.metadata.zarr_format == 3 else "zarr",
            "kvstore": kvstore,
            "recheck_cached_metadata": False,
            "recheck_cached_data": False,
        }
        self.ts_array = ts.open(spec, read=True, context=_context()).result()
        format2 = array.metadata.zarr_format == 2  # format 3: crc32c inside each chunk
        self.members = ZipMembers(store, name, array) if zipped and format2 else None

    def read(self, index: Index) -> np.ndarray:
        """``array[index]`` (outer indexing) in one tensorstore read."""
        return self.start(index)()

    def start(self, index: Index) -> Callable[[], np.ndarray]:
        """Begin the read; the returned call waits for it (zip CRCs checked meanwhile)."""
        index, slot = _distinct(index)
        future = self.ts_array.oindex[index].read()
        members = self.members

        def result() -> np.ndarray:
            if members is not None:
                members.check(index)  # while tensorstore decodes
            return _expand(future.result(), index, slot)

        return result


def member_data_offset(fd: int, info: zipfile.ZipInfo) -> int:
    """File offset of a stored zip member's bytes (its local header's lengths may differ)."""
    header = os.pread(fd, 30, info.header_offset)
    name, extra = int.from_bytes(header[26:28], "little"), int.from_bytes(header[28:30], "little")
    return info.header_offset + 30 + name + extra


class ZipMembers:
    """CRC-32 checks of the zip members (chunks) of one array of a ``.zarr.zip``."""

    def __init__(self, store: Path, name: str, array: zarr.Array) -> None:
        with zipfile.ZipFile(store) as zf:
            self.infos = {
                i.filename: i for i in zf.infolist() if i.filename.startswith(f"{name}/")
            }
        if any(i.compress_type != zipfile.ZIP_STORED for i in self.infos.values()):
            raise ValueError(f"{store}: zip members are compressed; read with zarr-python")
        self.file = open(store, "rb")  # noqa: SIM115 (kept open for the handle's lifetime)
        self.store = store
        self.name = name
        self.shape = tuple(array.shape)
        self.chunks = tuple(array.chunks)
        self.encode = array.metadata.encode_chunk_key
        self.offsets: dict[str, int] = {}
        self.verified: set[str] = set()  # members already checked in this process

    def keys(self, index: Index) -> list[str]:
        """The chunk keys (member names) that ``index`` touches."""
        index = (*index, *(slice(None),) * (len(self.shape) - len(index)))
        ranges: list[Any] = []
        for value, chunk, size in zip(index, self.chunks, self.shape, strict=True):
            if isinstance(value, slice):
                start, stop, _ = value.indices(size)
                ranges.append(range(start // chunk, (max(stop, start + 1) - 1) // chunk + 1))
            elif isinstance(value, np.ndarray):
                ranges.append(sorted({int(v) // chunk for v in value}))
            else:
                ranges.append([int(value) // chunk])
        return [f"{self.name}/{self.encode(key)}" for key in itertools.product(*ranges)]

    def _data_offset(self, info: zipfile.ZipInfo) -> int:
        offset = self.offsets.get(info.filename)
        if offset is None:
            offset = self.offsets[info.filename] = member_data_offset(self.file.fileno(), info)
        return offset

    def check(self, index: Index) -> None:
        """Raise if a touched member's bytes do not match the CRC-32 in the zip.

        A member is checked the first time this process reads it (a multi-sample
        v1.1 chunk is read for each of its samples); the store's handle, and with it
        this record, is dropped when the dataset closes the store.
        """
        for key in self.keys(index):
            info = self.infos.get(key)
            if info is None or key in self.verified:  # never written (fill value), or checked
                continue
            data = os.pread(self.file.fileno(), info.compress_size, self._data_offset(info))
            crc = zlib.crc32(data)
            if crc != info.CRC:
                raise ValueError(
                    f"zip member {key}: CRC-32 mismatch (stored {info.CRC:08x}, read {crc:08x})"
                )
            self.verified.add(key)


_CONTEXT: tuple[int, Any] | None = None


def _context() -> Any:
    """One tensorstore context per process, with no chunk cache.

    Its decode threads stay at tensorstore's default (one per core), also in a
    DataLoader worker: with a batch's reads started together (``start``) that was
    faster here than one thread per worker.
    """
    global _CONTEXT
    if _CONTEXT is None or _CONTEXT[0] != os.getpid():
        import tensorstore as ts

        _CONTEXT = (os.getpid(), ts.Context({"cache_pool": {"total_bytes_limit": 0}}))
    return _CONTEXT[1]


def forked_after_tensorstore() -> bool:
    """Whether this process was forked from one that had used tensorstore (unsafe to use)."""
    return _CONTEXT is not None and _CONTEXT[0] != os.getpid()


_WARNED_FORK = False


def open_reader(array: zarr.Array, store: Path, name: str, reader: Reader = "auto") -> ArrayReader:
    """A reader of ``store``'s array ``name`` (opened as ``array`` by zarr-python).

    ``"auto"`` uses tensorstore where it can open the array, else zarr-python;
    ``"tensorstore"`` raises where it cannot; ``"zarr"`` always uses zarr-python.
    A process forked after its parent used tensorstore falls back to zarr-python
    (``"auto"``, with one warning) or raises (``"tensorstore"``): tensorstore aborts
    a forked process that uses it.
    """
    global _WARNED_FORK
    if reader == "zarr" or (reader == "auto" and not tensorstore_available()):
        return ArrayReader(array)
    if forked_after_tensorstore():
        if reader == "tensorstore":
            raise UserError(
                "this process was forked after tensorstore was used; start DataLoader "
                "workers with multiprocessing_context='forkserver' (or 'spawn')"
            )
        if not _WARNED_FORK:
            _WARNED_FORK = True
            log.warning(
                "DataLoader worker forked after tensorstore was used: reading with "
                "zarr-python (slower); pass multiprocessing_context='forkserver'"
            )
        return ArrayReader(array)
    try:
        return TensorstoreReader(array, store, name)
    except Exception:
        if reader == "tensorstore":
            raise
        return ArrayReader(array)
