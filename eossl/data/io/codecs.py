"""The codecs stores are written with (``StoreSpec.codec``, ``--codec``).

``lz4`` (default; blosc lz4, byte shuffle), ``zstd`` (blosc zstd, bit shuffle) or
``zstd-3`` (plain zstd level 3, what eossl wrote before). In zarr format 3, ``lz4`` and
``zstd`` end every chunk with a crc32c checksum (bytes -> blosc -> crc32c inside the
shard), so a flipped byte is a read error, not wrong values. Zarr format 2 has no
checksum codec that the v1.1 form's readers (tensorstore, older numcodecs) accept: a
``.zarr.zip`` relies on the zip's CRC-32 of every member, a format-2 directory is
unchecked.
"""

from __future__ import annotations

from typing import Any

from numcodecs import Blosc, Zstd
from zarr.codecs import BloscCodec, Crc32cCodec, ZstdCodec

from eossl.errors import UserError

__all__ = ["CODECS", "DEFAULT_CODEC", "check_codec", "codec_help", "compressors"]

CODECS: dict[str, str] = {
    "lz4": "blosc lz4, byte shuffle, crc32c per chunk (default)",
    "zstd": "blosc zstd, bit shuffle, crc32c per chunk (smaller, slower)",
    "zstd-3": "zstd level 3, no checksum (what eossl wrote before)",
}
DEFAULT_CODEC = "lz4"


def check_codec(codec: str) -> str:
    """``codec`` if it is one of :data:`CODECS`, else a one-line :class:`UserError`."""
    if codec not in CODECS:
        raise UserError(f"unknown codec {codec!r}; choose one of {', '.join(CODECS)}")
    return codec


def codec_help() -> str:
    """The ``--codec`` help of ``eossl synth`` and ``eossl convert``."""
    return "; ".join(f"{name}: {what}" for name, what in CODECS.items())


def compressors(codec: str, zarr_format: int) -> Any:
    """The bytes-to-bytes codecs of a numeric array (format 2: the one compressor)."""
    if zarr_format == 2:
        if codec == "zstd-3":
            return Zstd(level=3)
        if codec == "zstd":
            return Blosc(cname="zstd", clevel=3, shuffle=Blosc.BITSHUFFLE)
        return Blosc(cname="lz4", clevel=5, shuffle=Blosc.SHUFFLE)
    if codec == "zstd-3":
        return (ZstdCodec(level=3),)
    if codec == "zstd":
        return (BloscCodec(cname="zstd", clevel=3, shuffle="bitshuffle"), Crc32cCodec())
    return (BloscCodec(cname="lz4", clevel=5, shuffle="shuffle"), Crc32cCodec())
