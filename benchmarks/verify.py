"""Speed of ``eossl verify``: checksums of a whole store, against reading it whole.

    python benchmarks/verify.py [--samples 128] [--size 264] [--rounds 3]

On the loader benchmark's fixture (synthetic S2 L1C, 13 x 264 x 264 uint16, zarr 3,
sharded, blosc lz4 + crc32c per chunk), and on the same data as a v1.1-style
``.zarr.zip`` (zarr 2, zip CRC-32 per member). Files are in the page cache (a first
pass warms it), so this measures the checks, not the disk. Prints GB/s of
- ``crc32c`` alone on one buffer (the ``crc32c`` package, one thread and every core):
  the ceiling;
- ``eossl verify`` on the store (every chunk's crc32c and every shard index);
- reading every chunk through zarr-python and through tensorstore (each decodes and
  checks the crc32c): what checking a store took without ``eossl verify``;
then ``ratio`` lines: verify's speed over each whole read. TorchGeo has no store
check to compare with.
"""

from __future__ import annotations

import argparse
import os
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from crc32c import crc32c
from speed.inputs import bench_dir, fixture_store

from eossl.data.io.verify import verify_store


def best(fn, rounds: int) -> float:
    fn()  # warm: page cache, imports
    times = []
    for _ in range(rounds):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times)


def raw_crc(rounds: int) -> dict[str, float]:
    buf = os.urandom(256 << 20)
    one = best(lambda: crc32c(buf), rounds)
    cores = os.cpu_count() or 1
    step = len(buf) // cores
    parts = [memoryview(buf)[i * step : (i + 1) * step] for i in range(cores)]
    with ThreadPoolExecutor(cores) as pool:
        every = best(lambda: list(pool.map(crc32c, parts)), rounds)
    return {"crc32c 1 thread": len(buf) / one, f"crc32c {cores} threads": len(buf) / every}


def read_all_zarr(store: Path) -> None:
    import zarr

    zarr.open_group(store, mode="r")["bands"][...]


def read_all_tensorstore(store: Path) -> None:
    import tensorstore as ts

    spec = {"driver": "zarr3", "kvstore": {"driver": "file", "path": str(store / "bands")}}
    ts.open(
        spec, read=True, context=ts.Context({"cache_pool": {"total_bytes_limit": 0}})
    ).result().read().result()


def zip_copy(store: Path) -> Path:
    """The same samples as a v1.1-style ``.zarr.zip`` (made once)."""
    from eossl.cli import main

    out = bench_dir() / f"{store.stem}-v11.zarr.zip"
    if not out.exists():
        assert main(["convert", str(store), str(out), "--layout", "zarr", "--quiet"]) == 0
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--samples", type=int, default=128)
    parser.add_argument("--size", type=int, default=264)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    store = fixture_store(args.samples, args.size)
    speeds = raw_crc(args.rounds)
    check = verify_store(store, quiet=True)
    assert not check.damage
    size = check.bytes
    speeds["eossl verify (zarr 3)"] = size / best(
        lambda: verify_store(store, quiet=True), args.rounds
    )
    speeds["zarr-python read all"] = size / best(lambda: read_all_zarr(store), args.rounds)
    speeds["tensorstore read all"] = size / best(lambda: read_all_tensorstore(store), args.rounds)
    archive = zip_copy(store)
    zipped = verify_store(archive, quiet=True).bytes
    speeds["eossl verify (.zarr.zip)"] = zipped / best(
        lambda: verify_store(archive, quiet=True), args.rounds
    )
    print(
        f"store: {store.name}, {size / 1e9:.3f} GB in {check.files} files, {os.cpu_count()} cores"
    )
    for name, speed in speeds.items():
        print(f"{name:<28} {speed / 1e9:7.2f} GB/s")
    verify = speeds["eossl verify (zarr 3)"]
    for name in ("zarr-python read all", "tensorstore read all"):
        print(f"ratio verify_vs_{name.split()[0]}_read {verify / speeds[name]:.1f}x")


if __name__ == "__main__":
    main()
