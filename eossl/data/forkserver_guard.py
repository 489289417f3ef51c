"""Imported by the DataLoader forkserver only (its preload): it dies with the training process.

The forkserver is a child of the training process, and every worker a child of the
forkserver. Python's forkserver outlives a training process killed by SIGKILL (a
cluster's preemption, the OOM killer), and so do its workers. Here the forkserver asks
Linux to kill it when its parent dies; the workers do the same with the forkserver
(:func:`eossl.data.workers.init_worker`). Anywhere else, importing this does nothing.
"""

from __future__ import annotations

import sys


def _in_forkserver() -> bool:
    """Whether this import runs inside ``multiprocessing.forkserver.main`` (its preload)."""
    frame = sys._getframe(1)
    while frame is not None:
        code = frame.f_code
        if code.co_name == "main" and code.co_filename.endswith("forkserver.py"):
            return True
        frame = frame.f_back
    return False


if _in_forkserver():
    from eossl.data.workers import die_with_parent

    die_with_parent()
