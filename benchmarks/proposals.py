"""Measure proposed speed-ups against the current code, alternately, in one process.

    python benchmarks/proposals.py [loader|train|all] [--quick]

Each proposal is a local subclass here (nothing in eossl is patched); the loader
proposal is also a diff in benchmarks/patches/ (see benchmarks/README.md).
Proposals 1 (gathered basic selections, stored dtype, no cloud mask) and 3 (the
fused augmentation) are in eossl; what is left:

- loader, patch 2: read eossl-written stores without zarr (direct chunk reads);
- train: ``channels_last`` activations.
"""

from __future__ import annotations

import argparse
import os
from collections.abc import Sequence
from typing import Any

import torch
from speed.cli import FULL, QUICK
from speed.decode import RawChunks
from speed.loader import loader
from speed.train import eossl_moco, train

from eossl.data.dataset import SeasonalZarrDataset


class DirectDataset(SeasonalZarrDataset):
    """Patch 2: eossl-written stores (zarr 3, one chunk per (sample, time), sharded,
    zstd, a directory) are read without zarr: the shard index once per shard and
    process, then pread + zstd decode of the wanted chunks straight into the output
    (:class:`speed.decode.RawChunks`). Crops and other stores take the zarr path."""

    def _raw(self, store: int) -> RawChunks | None:
        readers = self.__dict__.setdefault("_readers", {})
        if readers.get("pid") != os.getpid():  # one set of open files per worker
            readers.clear()
            readers["pid"] = os.getpid()
        if store not in readers:
            try:
                readers[store] = RawChunks(self.stores[store].path)
            except (ValueError, OSError, KeyError):
                readers[store] = None
        return readers[store]

    def _read(self, index: int) -> dict[str, Any]:
        store, j = self.locate(index)
        raw = self._raw(store)
        if raw is None or self.crop_size is not None or self.dtype != "stored":
            return super()._read(index)
        handle = self._handle(store)
        t = self._choose_times(handle, j, self._rng(index))
        return {
            "image": torch.from_numpy(raw.read(j, t)),
            "time": torch.from_numpy(handle.times[j, t].astype("int64")),
            "lat": torch.tensor(float(handle.lat[j])),
            "lon": torch.tensor(float(handle.lon[j])),
            "index": torch.tensor(index),
        }


def direct_dataset(store: Any) -> DirectDataset:
    """Patch 2's dataset, built as the datamodule builds eossl's for pretraining."""
    return DirectDataset(
        store, sensor="s2", seasons=2, seed=0, dtype="stored", return_cloud_mask=False
    )


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("benchmark", choices=["loader", "train", "all"])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--rounds", type=int, default=None)
    parser.add_argument("--workers", default=None)
    parser.add_argument("--samples", type=int, default=None)
    args = parser.parse_args(argv)
    sizes = QUICK if args.quick else FULL
    names = ("loader", "train") if args.benchmark == "all" else (args.benchmark,)
    for name in names:
        kw = dict(sizes[name])
        if args.rounds:
            kw["rounds"] = args.rounds
        if name == "loader":
            if args.samples:
                kw["samples"] = args.samples
            if args.workers:
                kw["workers"] = tuple(int(w) for w in args.workers.split(","))
            loader(**kw, extra={"eossl direct (patch 2)": direct_dataset})
        else:
            train(
                **kw,
                extra={
                    "eossl channels_last": lambda b, c: eossl_moco(b, c, channels_last=True),
                },
            )


if __name__ == "__main__":
    main()
