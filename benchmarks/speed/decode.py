"""The bare decode of a store's bytes: the limit of any reader.

:class:`RawChunks` (zarr 3 sharded directory) and :class:`ZipChunks` (zarr 2
``.zarr.zip``, the SSL4EO-S12 v1.1 form) read each chunk's bytes with ``os.pread``,
check its checksum (crc32c in the chunk, or the zip member's CRC-32) and decode it
into the output: no zarr, no selection logic. :class:`DecodePairs` serves them as a
dataset of seasonal pairs.
"""

from __future__ import annotations

import json
import os
import zipfile
import zlib
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

__all__ = ["DecodePairs", "RawChunks", "ZipChunks"]


class RawChunks:
    """Bare decode of the ``bands`` chunks of a zarr 3 sharded directory store.

    Reads each (sample, time) chunk's bytes with ``os.pread`` at the offset the
    shard index gives, checks their crc32c (where stored) and decodes them (zstd or
    blosc) straight into the output array: no zarr, no selection logic. Shard
    indexes are read once per process, up front of the timed work. Opened lazily
    (after fork) like the dataset.
    """

    def __init__(self, store: str | os.PathLike) -> None:
        self.store = Path(store)
        meta = json.loads((self.store / "bands" / "zarr.json").read_text())
        self.shape = tuple(meta["shape"])
        self.dtype = np.dtype(meta["data_type"]).newbyteorder("<")
        sharding = [c for c in meta["codecs"] if c["name"] == "sharding_indexed"]
        sep = meta.get("chunk_key_encoding", {}).get("configuration", {}).get("separator", "/")
        inner = sharding[0]["configuration"] if sharding else {}
        codecs = [c["name"] for c in inner.get("codecs", [])]
        index = [c["name"] for c in inner.get("index_codecs", [])]
        chunk = tuple(inner.get("chunk_shape", ()))
        if (
            len(sharding) != 1
            or codecs[:1] != ["bytes"]
            or codecs[1:] not in (["zstd"], ["blosc"], ["zstd", "crc32c"], ["blosc", "crc32c"])
            or inner.get("index_location", "end") != "end"
            or index not in (["bytes"], ["bytes", "crc32c"])
            or chunk != (1, 1, *self.shape[2:])
            or sep != "/"
        ):
            raise ValueError(
                f"{self.store}: bare decode reads zarr 3 stores sharded over (sample, time) "
                "chunks with bytes, zstd or blosc, and crc32c codecs (as eossl writes them)"
            )
        self.codec = codecs[1]
        self.chunk_crc = codecs[-1] == "crc32c"
        self.shard = tuple(meta["chunk_grid"]["configuration"]["chunk_shape"])
        self.crc = 4 if index[-1] == "crc32c" else 0
        self._index: dict[int, tuple[int, np.ndarray]] = {}
        self._pid: int | None = None
        self._decoder: Any = None

    def __getstate__(self) -> dict[str, Any]:
        return {**self.__dict__, "_index": {}, "_pid": None, "_decoder": None}

    def _shard(self, s: int) -> tuple[int, np.ndarray]:
        if self._pid != os.getpid():
            import google_crc32c
            from numcodecs import Blosc, Zstd

            self._crc32c = google_crc32c.value
            decoder = Zstd() if self.codec == "zstd" else Blosc()
            self._index, self._pid, self._decoder = {}, os.getpid(), decoder
        if s not in self._index:
            fd = os.open(self.store / "bands" / "c" / str(s) / "0" / "0" / "0" / "0", os.O_RDONLY)
            n = self.shard[0] * self.shard[1]
            end = os.fstat(fd).st_size - self.crc
            raw = os.pread(fd, 16 * n, end - 16 * n)
            self._index[s] = (fd, np.frombuffer(raw, "<u8").reshape(self.shard[0], -1, 2))
        return self._index[s]

    def prepare(self) -> None:
        """Read every shard index now (not in the timed work)."""
        for s in range(-(-self.shape[0] // self.shard[0])):
            self._shard(s)

    def read(self, sample: int, times: Sequence[int]) -> np.ndarray:
        """(len(times), C, H, W) of one sample, decoded from the chunk bytes."""
        fd, index = self._shard(sample // self.shard[0])
        out = np.empty((len(times), *self.shape[2:]), self.dtype)
        for k, t in enumerate(times):
            offset, nbytes = index[sample % self.shard[0], t]
            data: Any = os.pread(fd, int(nbytes), int(offset))
            if self.chunk_crc:
                data, stored = np.frombuffer(data, np.uint8)[:-4], data[-4:]
                if self._crc32c(data) != int.from_bytes(stored, "little"):
                    raise ValueError(f"{self.store}: sample {sample}: crc32c mismatch")
            self._decoder.decode(data, out=out[k])
        return out


class ZipChunks:
    """Bare decode of the ``bands`` chunks of a zarr 2 ``.zarr.zip`` (stored members).

    Each chunk (several samples in the v1.1 form) is read with ``pread``, its zip
    CRC-32 checked (as Python's zipfile does) and decoded whole; the sample is cut out.
    """

    def __init__(self, store: str | os.PathLike) -> None:
        self.store = Path(store)
        with zipfile.ZipFile(self.store) as zf:
            meta = json.loads(zf.read("bands/.zarray"))
            self.infos = {i.filename: i for i in zf.infolist()}
        self.shape = tuple(meta["shape"])
        self.chunks = tuple(meta["chunks"])
        self.sep = meta.get("dimension_separator") or "."
        self.dtype = np.dtype(meta["dtype"])
        if self.chunks[1:] != (1, *self.shape[2:]) or meta.get("filters"):
            raise ValueError(f"{self.store}: bare zip decode reads (samples, 1, C, H, W) chunks")
        self.compressor = meta["compressor"]
        self._pid: int | None = None

    def __getstate__(self) -> dict[str, Any]:
        return {**self.__dict__, "_pid": None}

    def _open(self) -> None:
        if self._pid != os.getpid():
            from numcodecs import get_codec

            self._fd = os.open(self.store, os.O_RDONLY)
            self._decoder = get_codec(self.compressor)
            self._buf = np.empty(self.chunks, self.dtype)
            self._offsets: dict[str, int] = {}
            self._pid = os.getpid()

    def _offset(self, info: zipfile.ZipInfo) -> int:
        offset = self._offsets.get(info.filename)
        if offset is None:
            header = os.pread(self._fd, 30, info.header_offset)
            name, extra = np.frombuffer(header[26:30], "<u2")
            offset = self._offsets[info.filename] = info.header_offset + 30 + int(name + extra)
        return offset

    def read(self, sample: int, times: Sequence[int]) -> np.ndarray:
        """(len(times), C, H, W) of one sample, decoded from its chunks."""
        self._open()
        n = self.chunks[0]
        out = np.empty((len(times), *self.shape[2:]), self.dtype)
        for k, t in enumerate(times):
            key = self.sep.join(map(str, (sample // n, int(t), 0, 0, 0)))
            info = self.infos[f"bands/{key}"]
            data = os.pread(self._fd, info.compress_size, self._offset(info))
            if zlib.crc32(data) != info.CRC:
                raise ValueError(f"{self.store}: bands/{key}: CRC-32 mismatch")
            self._decoder.decode(data, out=self._buf)
            out[k] = self._buf[sample % n, 0]
        return out


class DecodePairs:
    """A map-style dataset of bare-decoded seasonal pairs (stored-dtype tensors): the limit."""

    def __init__(self, store: str | os.PathLike, seasons: int = 2, seed: int = 0) -> None:
        self.raw: RawChunks | ZipChunks = (
            ZipChunks(store) if Path(store).is_file() else RawChunks(store)
        )
        self.seasons = seasons
        self.seed = seed

    def __len__(self) -> int:
        return self.raw.shape[0]

    def __getitem__(self, index: int) -> Any:
        import torch

        rng = np.random.default_rng([self.seed, index])
        times = np.sort(rng.choice(self.raw.shape[1], self.seasons, replace=False))
        return torch.from_numpy(self.raw.read(index, times))
