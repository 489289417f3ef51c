"""How DataLoader workers start: the start method, the forkserver's imports, one thread each.

tensorstore (the hot-path reader) is not fork-safe, so a process that reads through
it starts workers with forkserver. This module imports neither Lightning nor the
model code: a worker unpickles ``one_thread`` from here.
"""

from __future__ import annotations

import multiprocessing
import os
from typing import Any

import torch

__all__ = ["one_thread", "start_worker_server", "worker_context"]


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


_PRELOAD = ("eossl.data.dataset", "tensorstore", "xarray")


def start_worker_server(tensorstore: bool) -> None:
    """Start the forkserver now, so that its imports overlap the model's construction."""
    context = worker_context(tensorstore)
    if context is not None and context.get_start_method() == "forkserver":
        from multiprocessing import forkserver

        forkserver.ensure_running()


def one_thread(worker_id: int) -> None:
    """DataLoader ``worker_init_fn``: one torch thread per worker (workers are the parallelism)."""
    torch.set_num_threads(1)
