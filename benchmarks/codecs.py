"""Decode speed and size of codecs on the loader benchmark's chunks: what bounds the loader.

    python benchmarks/codecs.py [--chunks 16] [--rounds 5]

Takes (sample, time) chunks of the loader fixture (13x264x264 uint16), encodes each
with every candidate, then decodes them into a reused buffer (best of ``rounds``, one
thread). ``+crc32c`` candidates append a crc32c and check it before decoding, as the
zarr codec does (google_crc32c). eossl writes ``blosc-lz4-5-shuffle+crc32c`` by default
and wrote ``zstd-3`` before (``--codec``). Ends with ``ratio`` lines: decode speed
against zstd-3, and ``checksum_cost_*``, the decode time with crc32c over without
(bare; ``_zarr_read`` and ``_ts_read``: whole chunks read through zarr-python and
tensorstore), and the crc32c speed of google_crc32c and of tensorstore.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable
from typing import Any

import google_crc32c
import numpy as np
from numcodecs import Blosc, Shuffle, Zstd
from speed.inputs import fixture_store

from eossl.data.io.schema import open_group


def candidates() -> dict[str, tuple[Callable, Callable]]:
    """name -> (encode(array) -> bytes, decode(bytes, out) -> None)."""
    out: dict[str, tuple[Callable, Callable]] = {}
    for level in (1, 3, 9):
        z = Zstd(level=level)
        out[f"zstd-{level}"] = (z.encode, lambda b, o, z=z: z.decode(b, out=o))
    shuffle, z3 = Shuffle(elementsize=2), Zstd(level=3)
    out["shuffle+zstd-3"] = (
        lambda a: z3.encode(shuffle.encode(a)),
        lambda b, o: o.reshape(-1).__setitem__(
            slice(None), shuffle.decode(z3.decode(b)).view(o.dtype)
        ),
    )
    for cname, level in (("zstd", 3), ("lz4", 5)):
        for name, mode in (("shuffle", Blosc.SHUFFLE), ("bitshuffle", Blosc.BITSHUFFLE)):
            c = Blosc(cname=cname, clevel=level, shuffle=mode)
            out[f"blosc-{cname}-{level}-{name}"] = (c.encode, lambda b, o, c=c: c.decode(b, out=o))
    for name in ("blosc-lz4-5-shuffle", "blosc-zstd-3-bitshuffle"):
        encode, decode = out[name]
        out[f"{name}+crc32c"] = (
            lambda a, e=encode: _with_crc(e(a)),
            lambda b, o, d=decode: d(_checked(b), o),
        )
    out["none (memcpy)"] = (
        lambda a: a.tobytes(),
        lambda b, o: o.reshape(-1).__setitem__(slice(None), np.frombuffer(b, o.dtype)),
    )
    return out


def _with_crc(data: bytes) -> bytes:
    """``data`` followed by its crc32c, little-endian (the zarr ``crc32c`` codec's layout)."""
    return bytes(data) + google_crc32c.value(data).to_bytes(4, "little")


def _checked(blob: bytes) -> np.ndarray:
    """The payload of ``blob`` once its trailing crc32c matches (else ``ValueError``)."""
    payload = np.frombuffer(blob, np.uint8)[:-4]  # a view, as the zarr codec takes it
    if google_crc32c.value(payload) != int.from_bytes(blob[-4:], "little"):
        raise ValueError("crc32c mismatch")
    return payload


def read_cost(data: np.ndarray, rounds: int) -> dict[tuple[str, str], float]:
    """Seconds per (sample, time) chunk read whole, lz4 without and with crc32c.

    ``data`` (sample, time, C, H, W) is written as eossl writes it (one shard, one chunk
    per sample and time) to two temporary stores that differ only in the crc32c, then
    read chunk by chunk through zarr-python and through tensorstore (one thread, so
    the time is the CPU cost). Keys: (reader, codecs).
    """
    import tempfile

    import tensorstore as ts
    import zarr
    from zarr.codecs import BloscCodec, Crc32cCodec

    blosc = BloscCodec(cname="lz4", clevel=5, shuffle="shuffle")
    one_thread = ts.Context(
        {"cache_pool": {"total_bytes_limit": 0}, "data_copy_concurrency": {"limit": 1}}
    )
    best: dict[tuple[str, str], float] = {}
    with tempfile.TemporaryDirectory() as tmp:
        reads: dict[tuple[str, str], Callable[[int, int], Any]] = {}
        for name, codecs in (("lz4", (blosc,)), ("lz4+crc32c", (blosc, Crc32cCodec()))):
            path = f"{tmp}/{name}.zarr"
            zarr.create_array(
                path,
                shape=data.shape,
                chunks=(1, 1, *data.shape[2:]),
                shards=data.shape,
                dtype=data.dtype,
                compressors=codecs,
            )[...] = data
            array = zarr.open_array(path, mode="r")
            reads["zarr", name] = lambda j, t, a=array: a[j, t]
            spec = {"driver": "zarr3", "kvstore": {"driver": "file", "path": path}}
            store = ts.open(spec, read=True, context=one_thread).result()
            reads["tensorstore", name] = lambda j, t, a=store: a[j, t].read().result()
        best = dict.fromkeys(reads, float("inf"))
        for r in range(rounds):
            for key in sorted(reads, reverse=bool(r % 2)):
                start = time.perf_counter()
                for j in range(data.shape[0]):
                    for t in range(data.shape[1]):
                        reads[key](j, t)
                per_chunk = (time.perf_counter() - start) / (data.shape[0] * data.shape[1])
                best[key] = min(best[key], per_chunk)
    return best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--chunks", type=int, default=16)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--samples", type=int, default=256)
    parser.add_argument("--size", type=int, default=264)
    args = parser.parse_args()
    import numcodecs.blosc

    numcodecs.blosc.set_nthreads(1)
    bands = open_group(fixture_store(args.samples, args.size))["bands"]
    chunks = [bands[i // 2, i % 2] for i in range(args.chunks)]
    out = np.empty_like(chunks[0])
    coded = {}
    for name, (encode, decode) in candidates().items():
        blobs = [bytes(encode(c)) for c in chunks]
        for b, c in zip(blobs, chunks, strict=True):  # every candidate must round-trip
            decode(b, out)
            assert np.array_equal(out, c), name
        coded[name] = (blobs, decode)
    lz4 = coded["blosc-lz4-5-shuffle+crc32c"][0]
    coded["crc32c check only (lz4 chunks)"] = (lz4, lambda b, o: _checked(b))
    # rounds interleave the candidates (rotating order): load swings hit every one alike
    best = dict.fromkeys(coded, float("inf"))
    names = list(coded)
    for r in range(args.rounds):
        for name in names[r % len(names) :] + names[: r % len(names)]:
            blobs, decode = coded[name]
            start = time.perf_counter()
            for b in blobs:
                decode(b, out)
            best[name] = min(best[name], (time.perf_counter() - start) / len(blobs))
    rows = {}
    for name, (blobs, _) in coded.items():
        size = sum(len(b) for b in blobs) / sum(c.nbytes for c in chunks)
        rows[name] = (best[name] * 1e3, out.nbytes / best[name] / 1e9, size)
    from rich.console import Console
    from rich.table import Table

    table = Table(title=f"decode of {args.chunks} chunks {chunks[0].shape} {chunks[0].dtype}")
    for col in ("codec", "ms/chunk", "GB/s", "stored/raw", "speed vs zstd-3"):
        table.add_column(col, justify="left" if col == "codec" else "right")
    ref = rows["zstd-3"][0]
    for name, (ms, gbs, size) in rows.items():
        table.add_row(name, f"{ms:.2f}", f"{gbs:.2f}", f"{size:.2f}", f"{ref / ms:.2f}x")
    Console(width=100).print(table)
    for name in ("blosc-zstd-3-bitshuffle", "blosc-lz4-5-shuffle", "blosc-lz4-5-shuffle+crc32c"):
        print(f"ratio decode_{name}_vs_zstd-3: {ref / rows[name][0]:.2f}x")
    for cname, name in (("lz4", "blosc-lz4-5-shuffle"), ("zstd", "blosc-zstd-3-bitshuffle")):
        print(f"ratio checksum_cost_{cname}: {rows[name + '+crc32c'][0] / rows[name][0]:.2f}x")
    read = read_cost(bands[: args.chunks // 2, :2], args.rounds)
    for reader in ("zarr", "tensorstore"):
        plain, checked = read[reader, "lz4"], read[reader, "lz4+crc32c"]
        print(f"{reader} read, ms/chunk: lz4 {plain * 1e3:.2f}, lz4+crc32c {checked * 1e3:.2f}")
    stored = sum(len(b) for b in lz4) / len(lz4)
    crc = {
        "google_crc32c": best["crc32c check only (lz4 chunks)"],
        "tensorstore": read["tensorstore", "lz4+crc32c"] - read["tensorstore", "lz4"],
    }
    print("crc32c, GB/s of stored bytes: " + ", ".join(
        f"{name} {stored / max(s, 1e-9) / 1e9:.1f}" for name, s in crc.items()))  # fmt: skip
    for reader, short in (("zarr", "zarr"), ("tensorstore", "ts")):
        cost = read[reader, "lz4+crc32c"] / read[reader, "lz4"]
        print(f"ratio checksum_cost_lz4_{short}_read: {cost:.2f}x")


if __name__ == "__main__":
    main()
