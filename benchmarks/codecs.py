"""Decode speed and size of codecs on the loader benchmark's chunks: what bounds the loader.

    python benchmarks/codecs.py [--chunks 16] [--rounds 5]

Takes (sample, time) chunks of the loader fixture (13x264x264 uint16), encodes each
with every candidate, then decodes them into a reused buffer (best of ``rounds``, one
thread). eossl writes ``zstd`` level 3 (DESIGN.md). Ends with ``ratio`` lines against it.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable

import numpy as np
from numcodecs import Blosc, Shuffle, Zstd

from eossl import bench
from eossl.data.schema import open_group


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
    out["none (memcpy)"] = (
        lambda a: a.tobytes(),
        lambda b, o: o.reshape(-1).__setitem__(slice(None), np.frombuffer(b, o.dtype)),
    )
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--chunks", type=int, default=16)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--samples", type=int, default=256)
    parser.add_argument("--size", type=int, default=264)
    args = parser.parse_args()
    import numcodecs.blosc

    numcodecs.blosc.set_nthreads(1)
    bands = open_group(bench.fixture_store(args.samples, args.size))["bands"]
    chunks = [bands[i // 2, i % 2] for i in range(args.chunks)]
    out = np.empty_like(chunks[0])
    rows = {}
    for name, (encode, decode) in candidates().items():
        blobs = [bytes(encode(c)) for c in chunks]
        for b, c in zip(blobs, chunks, strict=True):  # every candidate must round-trip
            decode(b, out)
            assert np.array_equal(out, c), name
        best = float("inf")
        for _ in range(args.rounds):
            start = time.perf_counter()
            for b in blobs:
                decode(b, out)
            best = min(best, (time.perf_counter() - start) / len(blobs))
        size = sum(len(b) for b in blobs) / sum(c.nbytes for c in chunks)
        rows[name] = (best * 1e3, out.nbytes / best / 1e9, size)
    from rich.console import Console
    from rich.table import Table

    table = Table(title=f"decode of {args.chunks} chunks {chunks[0].shape} {chunks[0].dtype}")
    for col in ("codec", "ms/chunk", "GB/s", "stored/raw", "speed vs zstd-3"):
        table.add_column(col, justify="left" if col == "codec" else "right")
    ref = rows["zstd-3"][0]
    for name, (ms, gbs, size) in rows.items():
        table.add_row(name, f"{ms:.2f}", f"{gbs:.2f}", f"{size:.2f}", f"{ref / ms:.2f}x")
    Console(width=100).print(table)
    for name in ("blosc-zstd-3-bitshuffle", "blosc-lz4-5-shuffle"):
        print(f"ratio decode_{name}_vs_zstd-3: {ref / rows[name][0]:.2f}x")


if __name__ == "__main__":
    main()
