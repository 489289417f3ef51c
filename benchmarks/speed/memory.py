"""The memory benchmark: peak RSS of a loader epoch, one child process per measurement."""

from __future__ import annotations

import contextlib
import json
import subprocess
import sys
from pathlib import Path

from eossl.data.workers import init_worker, worker_context

from .inputs import eossl_dataset, fixture_store
from .loader import epoch
from .report import median, print_ratios

__all__ = ["memory"]

BENCHMARKS = Path(__file__).resolve().parents[1]  # benchmarks/, where a child imports speed


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
        worker_init_fn=init_worker if workers else None,
    )
    n = epoch(loader)
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
                f"import sys; sys.path.insert(0, {str(BENCHMARKS)!r}); "
                "from speed.memory import _memory_child; "
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
    peak = {n: median([r["peak_mib"] for r in runs[n]]) for n in sizes}
    for n in sizes:
        base = median([r["baseline_mib"] for r in runs[n]])
        every = " ".join(f"{r['peak_mib']:.0f}" for r in runs[n])
        table.add_row(str(n), f"{base:.0f}", f"{peak[n]:.0f}", f"{peak[n] - base:.0f}", every)
    console(min_width=100).print(table)
    # the name is fixed (scripts look for it); the table gives the sizes measured
    ratios = {"memory_5000_vs_500": peak[sizes[1]] / peak[sizes[0]]}
    print_ratios(ratios)
    return ratios
