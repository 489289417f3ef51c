"""The loader benchmark: seasonal pairs/s of eossl, TorchGeo's GeoTIFFs and the bare decode."""

from __future__ import annotations

import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from eossl.data.workers import init_worker, worker_context

from .decode import DecodePairs
from .inputs import SENSOR, eossl_dataset, fixture_store, torchgeo_tree, v11_zip, without_crc
from .report import alternate, median, print_ratios, print_table, quiet_warnings

__all__ = ["epoch", "loader", "per_item", "worker_startup"]


def epoch(loader: Any) -> int:
    n = 0
    for batch in loader:
        n += len(batch["image"] if isinstance(batch, dict) else batch)
    return n


def loader(
    samples: int = 256,
    size: int = 264,
    batch_size: int = 16,
    workers: Sequence[int] = (0, 1, 2),
    rounds: int = 5,
    vs_torchgeo: bool = True,
    forms: bool = True,
    extra: dict[str, Callable[[Path], Any]] | None = None,
) -> dict[str, float]:
    """Seasonal pairs/s of eossl, TorchGeo GeoTIFFs and the bare decode of the same data.

    With ``forms``, the same locations are also read from a v1.1-form ``.zarr.zip``
    (zarr 2, 8 samples per chunk; by eossl and by its bare decode) and from a copy
    without chunk checksums (``checksum_cost``: eossl without crc32c over eossl).
    Every loader starts its workers with forkserver (tensorstore is not fork-safe);
    a warm-up epoch runs before the timed ones.

    Args:
        samples: locations per epoch (every side reads the same ones, in one shuffled order).
        size: image size in pixels (264 as SSL4EO-S12).
        batch_size: DataLoader batch size.
        workers: DataLoader worker counts to measure.
        rounds: timed epochs per side and worker count (after one warm-up epoch).
        vs_torchgeo: also time TorchGeo's ``SSL4EOS12`` on the GeoTIFF copy.
        forms: also time the v1.1 zip form and the copy without checksums.
        extra: more datasets to time alongside, by name: ``factory(store) -> Dataset``.

    Returns:
        The ratios (worst worker count), also printed as ``ratio`` lines.
    """
    import torch
    from torch.utils.data import DataLoader, Subset

    quiet_warnings()
    store = fixture_store(samples, size)
    datasets: dict[str, Any] = {"eossl": eossl_dataset(store)}
    for name, factory in (extra or {}).items():
        datasets[name] = factory(store)
    if vs_torchgeo:
        from torchgeo.datasets import SSL4EOS12

        datasets["torchgeo"] = SSL4EOS12(str(torchgeo_tree(store)), split="s2c", seasons=2)
    datasets["decode"] = DecodePairs(store, seasons=2, seed=0)
    if forms:
        zipped = v11_zip(store)
        datasets["eossl zip"] = eossl_dataset(zipped)
        datasets["decode zip"] = DecodePairs(zipped, seasons=2, seed=0)
        datasets["eossl no crc"] = eossl_dataset(without_crc(store))
    order = np.random.default_rng(0).permutation(samples).tolist()
    per_workers: dict[int, dict[str, list[float]]] = {}
    for w in workers:
        loaders = {
            name: DataLoader(
                Subset(ds, range(samples)),
                batch_size=batch_size,
                sampler=order,
                num_workers=w,
                persistent_workers=w > 0,
                prefetch_factor=4 if w > 0 else None,
                multiprocessing_context=worker_context(True) if w > 0 else None,
                worker_init_fn=init_worker if w > 0 else None,
            )
            for name, ds in datasets.items()
        }
        torch.manual_seed(0)
        rates = alternate({n: (lambda ld=ld: epoch(ld)) for n, ld in loaders.items()}, rounds)
        per_workers[w] = rates
        del loaders
        done = ", ".join(f"{n} {median(r):.1f}" for n, r in rates.items())
        print(f"loader workers={w}: {done} samples/s", file=sys.stderr, flush=True)
    print_table(
        f"loader: {SENSOR} seasonal pairs 2x13x{size}x{size}, {samples} samples, "
        f"batch {batch_size}",
        "samples/s",
        {f"workers={w}": rates for w, rates in per_workers.items()},
        refs=("torchgeo", "decode"),
    )

    def worst(case: str, ref: str) -> float:
        return min(median(r[case]) / median(r[ref]) for r in per_workers.values())

    ratios: dict[str, float] = {}
    if vs_torchgeo:
        ratios["loader_vs_torchgeo"] = worst("eossl", "torchgeo")
    ratios["loader_vs_decode"] = worst("eossl", "decode")
    if forms:
        ratios["loader_zip_vs_decode"] = worst("eossl zip", "decode zip")
        ratios["checksum_cost"] = 1 / worst("eossl", "eossl no crc")
    ratios.update(per_item(store, min(samples, 48), rounds, vs_torchgeo))
    if max(workers) > 0:
        worker_startup(store, max(workers), batch_size)
    print_ratios(ratios)
    return ratios


def per_item(
    store: Path, samples: int = 48, rounds: int = 5, vs_torchgeo: bool = True
) -> dict[str, float]:
    """Seasonal pairs/s read one at a time in one process, as a user's loop or a notebook does.

    ``SeasonalZarrDataset(store, seasons=2)[i]`` for each i, against zarr-python reading the
    same two timestamps of each sample (two basic slices) and TorchGeo's ``SSL4EOS12[i]`` on
    the GeoTIFF copy. Returns ``item_vs_zarr`` and ``item_vs_torchgeo``.
    """
    import zarr

    from eossl.data.dataset import SeasonalZarrDataset

    eossl_ds = SeasonalZarrDataset(store, seasons=2, seed=0)
    bands = zarr.open_group(store, mode="r")["bands"]
    cases: dict[str, Callable[[], int]] = {
        "eossl": lambda: sum(1 for i in range(samples) if eossl_ds[i] is not None),
        "zarr-python": lambda: sum(
            1 for i in range(samples) if bands[i, 0] is not None and bands[i, 1] is not None
        ),
    }
    if vs_torchgeo:
        from torchgeo.datasets import SSL4EOS12

        tg = SSL4EOS12(str(torchgeo_tree(store)), split="s2c", seasons=2)
        cases["torchgeo"] = lambda: sum(1 for i in range(samples) if tg[i] is not None)
    rates = alternate(cases, rounds)
    print_table(
        f"one sample at a time: {SENSOR} seasonal pairs, {samples} samples, one process",
        "samples/s",
        {"one at a time": rates},
        refs=("zarr-python", "torchgeo"),
    )
    out = {"item_vs_zarr": median(rates["eossl"]) / median(rates["zarr-python"])}
    if vs_torchgeo:
        out["item_vs_torchgeo"] = median(rates["eossl"]) / median(rates["torchgeo"])
    return out


def worker_startup(store: Path, workers: int = 2, batch_size: int = 16) -> dict[str, float]:
    """Seconds to the first batch of a fresh and of a later epoch, per start method.

    forkserver (tensorstore on the hot path) starts each worker from a clean
    process, which imports eossl again; fork (zarr-python, the fallback) copies
    the parent. With persistent workers only the first epoch pays it.
    """
    from torch.utils.data import DataLoader

    from eossl.data.dataset import SeasonalZarrDataset

    out: dict[str, float] = {}
    rows = []
    for method, reader in (("forkserver", "auto"), ("fork", "zarr")):
        ds = SeasonalZarrDataset(store, seasons=2, seed=0, dtype="stored", reader=reader)
        loader = DataLoader(
            ds,
            batch_size=batch_size,
            num_workers=workers,
            persistent_workers=True,
            multiprocessing_context=worker_context(method == "forkserver"),
            worker_init_fn=init_worker,
        )
        firsts = []
        for _ in range(2):  # a fresh epoch (workers start), then a later one (they persist)
            start = time.perf_counter()
            for _batch in loader:
                firsts.append(time.perf_counter() - start)
                break
        out[method] = firsts[0]
        rows.append((f"{method} ({reader})", f"{firsts[0]:.2f}", f"{firsts[1]:.2f}"))
        del loader
    from rich.table import Table

    from eossl.console import console

    table = Table(title=f"worker start-up: {workers} persistent workers, batch {batch_size}")
    for col in ("start method (reader)", "first batch, s", "next epoch's first batch, s"):
        table.add_column(col, justify="right")
    for row in rows:
        table.add_row(*row)
    console(min_width=100).print(table)
    return out
