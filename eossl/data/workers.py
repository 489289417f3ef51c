"""How DataLoader workers start: the start method, the forkserver's imports, their setup.

tensorstore (the hot-path reader) is not fork-safe, so a process that reads through
it starts workers with forkserver. This module imports neither Lightning nor the
model code: a worker unpickles ``init_worker`` from here.
"""

from __future__ import annotations

import ctypes
import multiprocessing
import os
import signal
import sys
from typing import Any

import torch

__all__ = [
    "die_with_parent",
    "init_worker",
    "keep_freed_memory",
    "loader_workers",
    "start_worker_server",
    "worker_context",
]


def worker_context(tensorstore: bool) -> Any:
    """How DataLoader workers start: forkserver where reads go through tensorstore.

    tensorstore is not fork-safe. The forkserver imports the reader's modules once
    (``_PRELOAD``; importing tensorstore starts no thread), so each worker forks from a
    process that has them: the server starts once per process (about 4 s here, begun
    early by ``setup``), then a worker starts in well under a second. Fork elsewhere
    on POSIX (cheapest); spawn on other systems (the only method there).
    """
    if os.name != "posix":
        return None
    if not tensorstore:
        return multiprocessing.get_context("fork")
    context = multiprocessing.get_context("forkserver")
    context.set_forkserver_preload(list(_PRELOAD))
    return context


def loader_workers(num_workers: int, tensorstore: bool) -> dict[str, Any]:
    """DataLoader keywords that start eossl's workers safely (none with 0 workers).

    ``tensorstore``: whether the dataset reads through it (then workers must not fork).
    """
    if num_workers <= 0:
        return {}
    return {"multiprocessing_context": worker_context(tensorstore), "worker_init_fn": init_worker}


_PRELOAD = ("eossl.data.forkserver_guard", "eossl.data.dataset", "tensorstore", "xarray")


def start_worker_server(tensorstore: bool) -> None:
    """Start the forkserver now, so that its imports overlap the model's construction."""
    context = worker_context(tensorstore)
    if context is not None and context.get_start_method() == "forkserver":
        from multiprocessing import forkserver

        forkserver.ensure_running()


def init_worker(worker_id: int) -> None:
    """DataLoader ``worker_init_fn``: one torch thread, freed buffers kept for reuse.

    Workers are the parallelism; :func:`keep_freed_memory` saves page faults, and
    :func:`die_with_parent` ends the worker when its parent ends, however it ends.
    """
    die_with_parent()
    torch.set_num_threads(1)
    keep_freed_memory()


_PR_SET_PDEATHSIG = 1


def die_with_parent() -> bool:
    """Have Linux kill this process when its parent dies, even by SIGKILL (no orphans).

    A worker's parent is the training process (fork) or the forkserver, which itself
    dies with the training process (:mod:`eossl.data.forkserver_guard`). A preempted or
    OOM-killed run would otherwise leave its workers holding gigabytes. Returns whether
    it applied (Linux only); a process whose parent is already gone exits at once.
    """
    if not sys.platform.startswith("linux"):
        return False
    try:
        prctl = ctypes.CDLL(None, use_errno=True).prctl
    except (OSError, AttributeError):
        return False
    if prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0) != 0:
        return False
    if os.getppid() == 1:  # the parent died before the call: nobody would signal us
        os._exit(1)
    return True


# glibc mallopt parameters
_M_TRIM_THRESHOLD, _M_MMAP_THRESHOLD, _M_ARENA_MAX = -1, -3, -8


def keep_freed_memory() -> bool:
    """Have glibc reuse freed buffers instead of handing them back to the kernel.

    Every sample is read into fresh buffers of a few MB, many on tensorstore's
    threads. By default glibc gives each thread its own arena and unmaps or trims
    freed memory, so the next read faults the same pages in again: about a quarter
    of a worker's CPU went to page faults (``perf``; ``benchmarks/README.md``). One arena,
    buffers up to 32 MiB from the heap and up to 64 MiB kept free end that. Only
    for processes eossl starts (DataLoader workers); a no-op off glibc. Returns
    whether it applied.
    """
    if not sys.platform.startswith("linux"):
        return False
    try:
        mallopt = ctypes.CDLL("libc.so.6").mallopt
    except (OSError, AttributeError):  # musl and other C libraries
        return False
    settings = ((_M_ARENA_MAX, 1), (_M_MMAP_THRESHOLD, 32 << 20), (_M_TRIM_THRESHOLD, 64 << 20))
    return all(mallopt(key, value) == 1 for key, value in settings)
