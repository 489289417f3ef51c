"""Speed comparisons against TorchGeo: ``eossl bench {loader,augment,train,memory,all}``.

Each benchmark builds identical inputs for both sides, times them alternately in
one process (the order rotates every round, so drift on a shared machine hits
every side alike), prints the medians in a table and ends with one line per
comparison, ``ratio NAME: 9.10x``, for scripts:

- ``loader``: :class:`~eossl.data.dataset.SeasonalZarrDataset` seasonal pairs (as the
  datamodule builds it for training)
  against TorchGeo's ``SSL4EOS12`` reading the same locations from its GeoTIFF
  layout, and against the bare decode of the same chunks (the limit), with
  each DataLoader worker count. The ratio lines give the worst worker count.
- ``augment``: the eossl MoCo recipe against TorchGeo's ``moco_augmentations``
  (v2) on the same 13-band batch and crop, in views/s.
- ``train``: eossl MoCo v2 against TorchGeo's ``MoCoTask`` v2 with the same
  backbone, batch, crop and data: ``training_step`` (augmentation included),
  backward and an identical SGD step, on pre-loaded batches.
- ``memory``: peak RSS of a loader epoch over a small and a 10x larger number of
  samples of one store, one subprocess per measurement.

Fixtures (synthetic stores, the GeoTIFF tree) are written once into
``<eossl cache>/bench`` and reused. ``quick=True`` uses tiny sizes (CI smoke test).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import statistics
import subprocess
import sys
import time
import warnings
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from eossl.bench_decode import DecodePairs, RawChunks, v11_zip, without_crc
from eossl.data.workers import one_thread, worker_context

__all__ = [
    "RawChunks",
    "add_arguments",
    "augment",
    "loader",
    "memory",
    "run",
    "train",
]

SENSOR = "s2"
SEASONS_STORED = 4  # SSL4EO-S12 keeps 4 timestamps per location; a pair is drawn from them

FULL: dict[str, dict[str, Any]] = {
    "loader": {"samples": 256, "size": 264, "batch_size": 16, "workers": (0, 1, 2), "rounds": 3},
    "augment": {"batch_size": 32, "size": 264, "crop": 224, "rounds": 7},
    "train": {"batch_size": 16, "size": 264, "crop": 224, "steps": 2, "rounds": 5},
    "memory": {"samples": 500, "size": 64, "batch_size": 16, "workers": 0, "repeats": 3},
}
QUICK: dict[str, dict[str, Any]] = {
    "loader": {"samples": 8, "size": 32, "batch_size": 4, "workers": (0,), "rounds": 1},
    "augment": {"batch_size": 4, "size": 32, "crop": 24, "rounds": 1},
    "train": {"batch_size": 4, "size": 32, "crop": 24, "steps": 1, "rounds": 1},
    "memory": {"samples": 4, "size": 16, "batch_size": 4, "workers": 0, "repeats": 1},
}


# ---- timing and reporting ------------------------------------------------------------------


def alternate(
    cases: dict[str, Callable[[], int]], rounds: int, warmup: int = 1
) -> dict[str, list[float]]:
    """Run every case once per round, in an order that rotates each round.

    Each case does one unit of work and returns how many items it processed;
    the result is the items/s of every round, per case.
    """
    names = list(cases)
    for _ in range(warmup):
        for name in names:
            cases[name]()
    rates: dict[str, list[float]] = {name: [] for name in names}
    for r in range(rounds):
        k = r % len(names)
        for name in names[k:] + names[:k]:
            start = time.perf_counter()
            items = cases[name]()
            rates[name].append(items / max(time.perf_counter() - start, 1e-9))
    return rates


def _median(values: Sequence[float]) -> float:
    return float(statistics.median(values)) if values else float("nan")


def _table(
    title: str, unit: str, groups: dict[str, dict[str, list[float]]], refs: Sequence[str] = ()
) -> None:
    """Medians (and spread) of each case, and its ratio to the ``refs`` cases of its group."""
    from rich.table import Table

    from eossl.console import console

    refs = [r for r in refs if any(r in g for g in groups.values())]
    table = Table(title=title)
    for col in ("setting", "case", f"median {unit}", "min-max", "rounds"):
        left = col in ("setting", "case")
        table.add_column(col, justify="left" if left else "right", no_wrap=left)
    for ref in refs:
        table.add_column(f"vs {ref}", justify="right")
    for setting, cases in groups.items():
        for name, rates in cases.items():
            med = _median(rates)
            cells = [setting, name, f"{med:.1f}", f"{min(rates):.1f}-{max(rates):.1f}"]
            cells.append(str(len(rates)))
            for ref in refs:
                cells.append(f"{med / _median(cases[ref]):.2f}x" if ref in cases else "")
            table.add_row(*cells)
    console(min_width=100).print(table)


SMOKE = {"on": False}  # set by run() for --quick: what is printed is no result


def print_ratios(ratios: dict[str, float]) -> None:
    """One parseable line per comparison: ``ratio NAME: 9.10x``.

    A ``--quick`` run prints ``smoke NAME: 9.10x (not a result)`` instead, so that no
    number from tiny sizes and one round reads like a measurement.
    """
    for name, value in ratios.items():
        if SMOKE["on"]:
            print(f"smoke {name}: {value:.2f}x (not a result)", flush=True)
        else:
            print(f"ratio {name}: {value:.2f}x", flush=True)


def _quiet_warnings() -> None:
    warnings.filterwarnings("ignore", message=".*self.log.*")
    warnings.filterwarnings("ignore", message=".*not attached to a `Trainer`.*")
    warnings.filterwarnings("ignore", category=UserWarning, module="torchgeo")
    warnings.filterwarnings("ignore", message=".*does not have many workers.*")


# ---- fixtures ------------------------------------------------------------------------------


def bench_dir() -> Path:
    """Where benchmark fixtures are cached: ``<eossl cache>/bench``."""
    from eossl.data.synthetic_store import cache_dir

    path = cache_dir() / "bench"
    path.mkdir(parents=True, exist_ok=True)
    return path


def fixture_store(samples: int, size: int, seasons: int = SEASONS_STORED) -> Path:
    """A synthetic S2 L1C store (uint16, zarr 3, sharded, default codec) made once, then reused."""
    from eossl.data.synthetic_store import SYNTH_VERSION, write_synthetic
    from eossl.data.writer import DEFAULT_CODEC

    name = f"{SENSOR}-n{samples}-s{size}-t{seasons}-v{SYNTH_VERSION}-{DEFAULT_CODEC}.zarr"
    path = bench_dir() / name
    if not path.exists():
        write_synthetic(
            path, SENSOR, samples=samples, size=size, seasons=seasons, seed=0, quiet=True
        )
    return path


def _store_with(samples: int, size: int) -> Path:
    """The smallest cached fixture store of ``size`` px with at least ``samples`` samples."""
    from eossl.data.synthetic_store import SYNTH_VERSION
    from eossl.data.writer import DEFAULT_CODEC

    found = []
    pattern = f"{SENSOR}-n*-s{size}-t{SEASONS_STORED}-v{SYNTH_VERSION}-{DEFAULT_CODEC}.zarr"
    for p in bench_dir().glob(pattern):
        n = int(p.name.split("-n", 1)[1].split("-", 1)[0])
        if n >= samples:
            found.append((n, p))
    return min(found)[1] if found else fixture_store(samples, size)


def torchgeo_tree(store: Path, compress: str | None = None) -> Path:
    """The locations of ``store`` written in TorchGeo's ``SSL4EOS12`` GeoTIFF layout.

    ``root/s2c/<7-digit id>/<date>_<date>_<tile>/<B1..B12>.tif``: one uint16 GeoTIFF
    per band and timestamp, all at the stored size (TorchGeo reads every band at
    264 px). Uncompressed by default, TorchGeo's fastest case. Returns ``root``.
    """
    import rasterio
    from rasterio.transform import from_origin
    from torchgeo.datasets import SSL4EOS12

    from eossl.data.schema import decode_times, open_group

    root = bench_dir() / f"{store.name.removesuffix('.zarr')}-{compress or 'raw'}.ssl4eos12"
    done = root / ".complete"
    if done.exists():
        return root
    group = open_group(store)
    bands = group["bands"]
    n, t, c, h, w = bands.shape
    names = SSL4EOS12.metadata["s2c"]["bands"]
    if len(names) != c:
        raise ValueError(f"{store}: {c} bands, TorchGeo's s2c split has {len(names)}")
    times = decode_times(group["time_"])
    profile = {
        "driver": "GTiff",
        "width": w,
        "height": h,
        "count": 1,
        "dtype": str(bands.dtype),
        "crs": "EPSG:32632",
        "transform": from_origin(500000, 5000000, 10, 10),
    }
    if compress:
        profile["compress"] = compress
    for j in range(n):
        sample = bands[j]
        for k in range(t):
            stamp = times[j, k]
            if np.isnat(stamp):  # a date is all TorchGeo needs from the folder name
                stamp = np.datetime64("2020-01-01T10:00:00") + np.timedelta64(90 * k, "D")
            date = str(stamp.astype("datetime64[s]")).replace("-", "").replace(":", "")
            folder = root / "s2c" / f"{j:07d}" / f"{date}_{date}_T32TQM"
            folder.mkdir(parents=True, exist_ok=True)
            for b, name in enumerate(names):
                with rasterio.open(folder / f"{name}.tif", "w", **profile) as f:
                    f.write(sample[k, b], 1)
    done.touch()
    return root


def eossl_dataset(store: Path) -> Any:
    """The dataset eossl trains on: built by the datamodule, as ``eossl pretrain`` does."""
    from eossl.data.datamodule import SeasonalZarrDataModule

    dm = SeasonalZarrDataModule(data=str(store), sensor=SENSOR, seasons=2, seed=0, num_workers=0)
    dm.setup("fit")
    return dm.dataset


def _normalised_pairs(n: int, size: int) -> Any:
    """(n, 2, C, size, size) float32 seasonal pairs of a fixture store, standardised."""
    import torch

    from eossl.data.dataset import SeasonalZarrDataset
    from eossl.data.normalize import BandNormalize, resolve_stats

    ds = SeasonalZarrDataset(_store_with(n, size), seasons=2, seed=0)
    stats = resolve_stats(ds.stores[0], ds.sensor)
    image = torch.stack([ds[i]["image"] for i in range(n)])
    return BandNormalize(stats.mean, stats.std, ds.sensor.nodata)(image).contiguous()


# ---- loader --------------------------------------------------------------------------------


def _epoch(loader: Any) -> int:
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

    _quiet_warnings()
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
                worker_init_fn=one_thread if w > 0 else None,
            )
            for name, ds in datasets.items()
        }
        torch.manual_seed(0)
        rates = alternate({n: (lambda ld=ld: _epoch(ld)) for n, ld in loaders.items()}, rounds)
        per_workers[w] = rates
        del loaders
        done = ", ".join(f"{n} {_median(r):.1f}" for n, r in rates.items())
        print(f"loader workers={w}: {done} samples/s", file=sys.stderr, flush=True)
    _table(
        f"loader: {SENSOR} seasonal pairs 2x13x{size}x{size}, {samples} samples, "
        f"batch {batch_size}",
        "samples/s",
        {f"workers={w}": rates for w, rates in per_workers.items()},
        refs=("torchgeo", "decode"),
    )

    def worst(case: str, ref: str) -> float:
        return min(_median(r[case]) / _median(r[ref]) for r in per_workers.values())

    ratios: dict[str, float] = {}
    if vs_torchgeo:
        ratios["loader_vs_torchgeo"] = worst("eossl", "torchgeo")
    ratios["loader_vs_decode"] = worst("eossl", "decode")
    if forms:
        ratios["loader_zip_vs_decode"] = worst("eossl zip", "decode zip")
        ratios["checksum_cost"] = 1 / worst("eossl", "eossl no crc")
    if max(workers) > 0:
        worker_startup(store, max(workers), batch_size)
    print_ratios(ratios)
    return ratios


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
            worker_init_fn=one_thread,
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


# ---- augment -------------------------------------------------------------------------------


def augment(
    batch_size: int = 32,
    size: int = 264,
    crop: int = 224,
    rounds: int = 7,
    vs_torchgeo: bool = True,
    extra: dict[str, Callable[[Any], Sequence[Any]]] | None = None,
) -> dict[str, float]:
    """Views/s of the eossl MoCo recipe and TorchGeo's ``moco_augmentations`` (v2).

    Both augment the same standardised batch of seasonal pairs (B, 2, 13, H, W):
    eossl through ``MoCo.augment_batch`` (what training runs), TorchGeo through
    its two pipelines, one per season, as ``MoCoTask.training_step`` does.

    Args:
        batch_size: locations per batch (2 views each).
        size: input image size.
        crop: output crop size of both recipes.
        rounds: timed rounds per side (after one warm-up).
        vs_torchgeo: also time TorchGeo.
        extra: more augmentations to time, by name: ``fn(pairs) -> views``.
    """
    import torch

    from eossl.augment import moco_recipe
    from eossl.methods.moco import MoCo

    _quiet_warnings()
    pairs = _normalised_pairs(batch_size, size)
    bands = pairs.shape[2]
    module = MoCo(backbone="resnet18", in_chans=bands, augment=moco_recipe(crop))
    fns: dict[str, Callable[[Any], Sequence[Any]]] = {
        "eossl": lambda x: module.augment_batch({"image": x})["views"]
    }
    fns.update(extra or {})
    if vs_torchgeo:
        from torchgeo.trainers.moco import moco_augmentations

        aug1, aug2 = moco_augmentations(2, crop, torch.full((bands,), 1.0 / bands))
        fns["torchgeo"] = lambda x: [aug1(x[:, 0]), aug2(x[:, 1])]

    def case(fn: Callable[[Any], Sequence[Any]]) -> Callable[[], int]:
        def go() -> int:
            with torch.no_grad():
                views = fn(pairs)
            if any(v.shape[-2:] != (crop, crop) for v in views):
                raise RuntimeError(f"augmentation returned {[tuple(v.shape) for v in views]}")
            return sum(len(v) for v in views)

        return go

    torch.manual_seed(0)
    rates = alternate({name: case(fn) for name, fn in fns.items()}, rounds)
    _table(
        f"augment: MoCo v2 recipe, {batch_size} pairs of 13x{size}x{size} -> {crop} px, "
        f"{torch.get_num_threads()} threads",
        "views/s",
        {"cpu": rates},
        refs=("torchgeo",),
    )
    ratios = {}
    if vs_torchgeo:
        ratios["augment_vs_torchgeo"] = _median(rates["eossl"]) / _median(rates["torchgeo"])
    print_ratios(ratios)
    return ratios


# ---- train ---------------------------------------------------------------------------------


def _sgd(module: Any, lr: float) -> Any:
    import torch

    params = [p for p in module.parameters() if p.requires_grad]
    return torch.optim.SGD(params, lr=lr, momentum=0.9, weight_decay=1e-4)


def eossl_moco(bands: int, crop: int, backbone: str = "resnet18", **kwargs: Any) -> Any:
    """The eossl MoCo v2 of the comparison, stepping outside a Trainer (constant momentum)."""
    from eossl.augment import moco_recipe
    from eossl.methods.moco import MoCo

    module = MoCo(
        version=2,
        backbone=backbone,
        in_chans=bands,
        augment=moco_recipe(crop),
        proj_dim=128,
        hidden_dim=2048,
        temperature=0.2,
        queue_size=16384,
        momentum=0.99,
        **kwargs,
    )
    module.momentum = lambda start: start  # the cosine schedule needs a Trainer
    return module


def train(
    batch_size: int = 16,
    size: int = 264,
    crop: int = 224,
    steps: int = 2,
    rounds: int = 5,
    backbone: str = "resnet18",
    vs_torchgeo: bool = True,
    extra: dict[str, Callable[[int, int], Any]] | None = None,
) -> dict[str, float]:
    """Samples/s of eossl MoCo v2 and TorchGeo ``MoCoTask`` v2: step, backward, SGD.

    Same backbone, heads (2048 -> 128), queue (16,384), temperature, batch, crop
    and pre-loaded standardised seasonal pairs; both augment inside
    ``training_step``; both step the same SGD.

    Args:
        batch_size: locations per batch.
        size: input image size.
        crop: augmentation crop size.
        steps: training steps per timed round.
        rounds: timed rounds per side (after one warm-up step each).
        backbone: timm backbone of both sides.
        vs_torchgeo: also time TorchGeo.
        extra: more eossl modules to time, by name: ``factory(bands, crop) -> module``.
    """
    import torch

    _quiet_warnings()
    pairs = _normalised_pairs(batch_size, size)
    bands = pairs.shape[2]
    lr = 0.03 * batch_size / 256
    torch.manual_seed(0)
    modules: dict[str, tuple[Any, dict[str, Any]]] = {
        "eossl": (eossl_moco(bands, crop, backbone), {"image": pairs})
    }
    for name, factory in (extra or {}).items():
        modules[name] = (factory(bands, crop), {"image": pairs})
    if vs_torchgeo:
        from torchgeo.trainers import MoCoTask

        task = MoCoTask(
            model=backbone,
            in_channels=bands,
            version=2,
            layers=2,
            hidden_dim=2048,
            output_dim=128,
            lr=lr,
            weight_decay=1e-4,
            temperature=0.2,
            memory_bank_size=16384,
            moco_momentum=0.99,
            size=crop,
        )
        modules["torchgeo"] = (task, {"image": pairs.flatten(1, 2)})  # (B, 2*C, H, W)

    def case(module: Any, batch: dict[str, Any]) -> Callable[[], int]:
        module.train()
        opt = _sgd(module, lr)

        def go() -> int:
            for i in range(steps):
                loss = module.training_step(dict(batch), i)
                opt.zero_grad(set_to_none=True)
                loss.backward()
                opt.step()
            return steps * batch_size

        return go

    rates = alternate({name: case(m, b) for name, (m, b) in modules.items()}, rounds)
    _table(
        f"train: MoCo v2 {backbone}, batch {batch_size}, 13x{size}x{size} -> {crop} px, "
        f"{torch.get_num_threads()} threads",
        "samples/s",
        {"cpu": rates},
        refs=("torchgeo",),
    )
    ratios = {}
    if vs_torchgeo:
        ratios["train_vs_torchgeo"] = _median(rates["eossl"]) / _median(rates["torchgeo"])
    print_ratios(ratios)
    return ratios


# ---- memory --------------------------------------------------------------------------------


def _vm_hwm() -> int:
    """Peak RSS of this process in bytes (``VmHWM``; ``ru_maxrss`` survives exec on Linux)."""
    import resource

    with contextlib.suppress(OSError):
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def _memory_child(store: str, samples: int, batch_size: int, workers: int) -> None:
    """One loader epoch over the first ``samples`` of ``store``; prints peak RSS in MiB."""
    import threading

    import psutil
    from torch.utils.data import DataLoader, Subset

    me = psutil.Process()
    peak = [0]
    stop = threading.Event()

    def sample_tree() -> None:  # RSS of this process and its workers, summed
        while not stop.is_set():
            total = 0
            for p in [me, *me.children(recursive=True)]:
                with contextlib.suppress(psutil.Error):
                    total += p.memory_info().rss
            peak[0] = max(peak[0], total)
            stop.wait(0.02)

    ds = eossl_dataset(Path(store))
    baseline = me.memory_info().rss
    watcher = threading.Thread(target=sample_tree, daemon=True)
    watcher.start()
    loader = DataLoader(
        Subset(ds, range(samples)),
        batch_size=batch_size,
        shuffle=True,
        num_workers=workers,
        multiprocessing_context=worker_context(True) if workers else None,
        worker_init_fn=one_thread if workers else None,
    )
    n = _epoch(loader)
    stop.set()
    watcher.join()
    self_peak = _vm_hwm()
    mib = 2**20
    print(
        json.dumps(
            {
                "samples": n,
                "peak_mib": max(peak[0], self_peak) / mib,
                "baseline_mib": baseline / mib,
            }
        )
    )


def memory(
    samples: int = 500,
    size: int = 64,
    batch_size: int = 16,
    workers: int = 0,
    factor: int = 10,
    repeats: int = 3,
) -> dict[str, float]:
    """Peak RSS of a loader epoch over ``samples`` and ``factor`` x ``samples`` samples.

    One store of ``factor * samples`` samples; each epoch runs in a fresh
    subprocess, ``repeats`` times per size (alternately), and the median peak is
    compared. Streaming keeps the peak flat in the number of samples.
    """
    store = fixture_store(samples * factor, size, seasons=2)
    sizes = (samples, samples * factor)
    runs: dict[int, list[dict[str, float]]] = {n: [] for n in sizes}
    for _ in range(repeats):
        for n in sizes:
            code = (
                "from eossl.bench import _memory_child; "
                f"_memory_child({str(store)!r}, {n}, {batch_size}, {workers})"
            )
            out = subprocess.run(
                [sys.executable, "-c", code], capture_output=True, text=True, check=False
            )
            if out.returncode != 0:
                raise RuntimeError(f"memory benchmark child failed:\n{out.stderr[-2000:]}")
            runs[n].append(json.loads(out.stdout.strip().splitlines()[-1]))
    from rich.table import Table

    from eossl.console import console

    table = Table(
        title=f"memory: one loader epoch, {size} px, batch {batch_size}, {workers} workers, "
        f"median of {repeats}"
    )
    for col in ("samples", "baseline MiB", "peak RSS MiB", "growth MiB", "peaks MiB"):
        table.add_column(col, justify="right")
    peak = {n: _median([r["peak_mib"] for r in runs[n]]) for n in sizes}
    for n in sizes:
        base = _median([r["baseline_mib"] for r in runs[n]])
        every = " ".join(f"{r['peak_mib']:.0f}" for r in runs[n])
        table.add_row(str(n), f"{base:.0f}", f"{peak[n]:.0f}", f"{peak[n] - base:.0f}", every)
    console(min_width=100).print(table)
    # the name is fixed (scripts look for it); the table gives the sizes measured
    ratios = {"memory_5000_vs_500": peak[sizes[1]] / peak[sizes[0]]}
    print_ratios(ratios)
    return ratios


# ---- command line --------------------------------------------------------------------------

BENCHMARKS = ("loader", "augment", "train", "memory")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The arguments of ``eossl bench`` (and ``benchmarks/run_all.py``)."""
    parser.add_argument("benchmark", choices=[*BENCHMARKS, "all"], help="what to measure")
    parser.add_argument(
        "--vs",
        choices=["torchgeo", "none"],
        default="torchgeo",
        help="compare against TorchGeo (default) or time eossl (and the bare decode) only",
    )
    parser.add_argument(
        "--samples",
        type=int,
        default=None,
        help="loader: samples per epoch (default 256); memory: the small epoch (default 500; "
        "the large one is 10x)",
    )
    parser.add_argument("--rounds", type=int, default=None, help="timed rounds per side")
    parser.add_argument(
        "--workers",
        default=None,
        help="loader: comma-separated DataLoader worker counts (default 0,1,2)",
    )
    parser.add_argument("--batch-size", type=int, default=None)
    parser.add_argument("--quick", action="store_true", help="tiny sizes: a smoke test")
    parser.set_defaults(run=run)


def sizes(args: argparse.Namespace, name: str) -> dict[str, Any]:
    """The keyword arguments of benchmark ``name`` for parsed ``args``."""
    from eossl.errors import UserError

    kw = dict((QUICK if args.quick else FULL)[name])
    if args.samples is not None and name in ("loader", "memory"):
        kw["samples"] = args.samples
    if args.rounds is not None and "rounds" in kw:
        kw["rounds"] = args.rounds
    if args.batch_size is not None:
        kw["batch_size"] = args.batch_size
    if args.workers is not None and name in ("loader", "memory"):
        try:
            counts = tuple(int(w) for w in str(args.workers).split(","))
        except ValueError:
            raise UserError(f"--workers takes counts like 0,1,2, got {args.workers!r}") from None
        kw["workers"] = counts if name == "loader" else counts[0]
    for key in ("samples", "rounds", "batch_size"):
        if key in kw and kw[key] < 1:
            raise UserError(f"--{key.replace('_', '-')} must be at least 1, got {kw[key]}")
    if name != "memory":
        kw["vs_torchgeo"] = args.vs == "torchgeo"
    return kw


def run(args: argparse.Namespace) -> dict[str, float]:
    """Run the chosen benchmark(s); returns every ratio printed."""
    fns = {"loader": loader, "augment": augment, "train": train, "memory": memory}
    names = BENCHMARKS if args.benchmark == "all" else (args.benchmark,)
    SMOKE["on"] = bool(args.quick)
    if args.quick:
        print(
            "eossl bench --quick: a smoke run (tiny sizes, one round) that checks every "
            "benchmark runs; its numbers are no result. Drop --quick to measure.",
            flush=True,
        )
    ratios: dict[str, float] = {}
    for name in names:
        ratios.update(fns[name](**sizes(args, name)))
    return ratios


def main(argv: Sequence[str] | None = None) -> dict[str, float]:
    """Parse ``argv`` like ``eossl bench`` and run."""
    parser = argparse.ArgumentParser(prog="eossl bench", description=__doc__.splitlines()[0])
    add_arguments(parser)
    return run(parser.parse_args(argv))
