"""Run independent blocks of work on dask, with a rich progress bar.

Local threads by default; ``workers=N`` starts a dask.distributed ``LocalCluster``
and ``scheduler=ADDRESS`` uses a running cluster. eossl has no scheduler of its own.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable, Iterator, Sequence
from typing import Any, TypeVar

from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)

from eossl.errors import UserError, count

T = TypeVar("T")
_SKIPPED = object()  # a block not run because an earlier one failed


class _Failure:
    """An exception raised by a block, carried out of the worker thread."""

    def __init__(self, error: BaseException) -> None:
        self.error = error


__all__ = ["add_dask_arguments", "dask_client", "progress_bar", "run_blocks"]


def progress_bar(quiet: bool = False) -> Progress:
    """The progress bar eossl uses for long work."""
    return Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.fields[unit]}"),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
        disable=quiet,
        transient=False,
    )


@contextlib.contextmanager
def dask_client(scheduler: str | None, workers: int | None) -> Iterator[Any]:
    """A dask.distributed client for a running scheduler or a new LocalCluster; else None.

    Open it once around several :func:`run_blocks` calls (``client=``) to start a
    LocalCluster only once.
    """
    if scheduler is None and workers is None:
        yield None
        return
    if workers is not None and workers < 1:  # a cluster of none waits for ever
        raise UserError(f"--workers must be at least 1, got {workers}")
    from distributed import Client, LocalCluster

    if scheduler is not None:
        with Client(scheduler) as client:
            yield client
    else:
        with _workers_ignore_ctrl_c():  # Ctrl-C is the parent's: it closes the cluster
            cluster = LocalCluster(
                n_workers=workers, threads_per_worker=1, processes=True, dashboard_address=None
            )
        with cluster, Client(cluster) as client:
            yield client


@contextlib.contextmanager
def _workers_ignore_ctrl_c() -> Iterator[None]:
    """Processes started inside inherit an ignored SIGINT (Python keeps it ignored).

    Ctrl-C reaches the whole process group: worker processes printed a KeyboardInterrupt
    traceback each while the parent was already closing them. (A worker the nanny restarts
    later gets Python's default handler back.)
    """
    import signal

    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)


def run_blocks(
    fn: Callable[[T], Any],
    blocks: Sequence[T],
    description: str,
    weights: Sequence[int] | None = None,
    unit: str = "samples",
    scheduler: str | None = None,
    workers: int | None = None,
    threads: int | None = None,
    quiet: bool = False,
    client: Any = None,
) -> list[Any]:
    """Apply ``fn`` to every block in parallel and return the results in order.

    ``weights`` (e.g. samples per block) scale the progress bar. The first
    exception stops the run and is re-raised. ``client`` (from :func:`dask_client`)
    is used instead of ``scheduler``/``workers`` when given.
    """
    weights = list(weights) if weights is not None else [1] * len(blocks)
    results: list[Any] = [None] * len(blocks)
    given = contextlib.nullcontext(client) if client is not None else None
    with (
        progress_bar(quiet) as progress,
        given or dask_client(scheduler, workers) as client,
    ):
        task = progress.add_task(description, total=sum(weights), unit=unit)
        if client is None:
            import dask
            from dask.callbacks import Callback

            class _Advance(Callback):
                def _posttask(self, key: Any, result: Any, *args: Any) -> None:
                    if isinstance(key, str) and key.startswith("eossl-block-"):
                        progress.advance(task, weights[int(key.rsplit("-", 1)[1])])

            failed = threading.Event()

            def guarded(block: T) -> Any:
                # dask's threaded scheduler re-raises the first error at once while other
                # blocks still write; a failure is returned instead, blocks not yet begun
                # are skipped, and it is raised once every thread is done (no write is left
                # pending when the process exits)
                if failed.is_set():
                    return _SKIPPED
                try:
                    return fn(block)
                except BaseException as err:
                    failed.set()
                    return _Failure(err)

            tasks = [
                dask.delayed(guarded, pure=False)(b, dask_key_name=f"eossl-block-{i}")
                for i, b in enumerate(blocks)
            ]
            with _Advance():
                results = list(
                    dask.compute(
                        *tasks, scheduler="threads", num_workers=threads or dask.system.CPU_COUNT
                    )
                )
            for result in results:
                if isinstance(result, _Failure):
                    raise result.error
        else:
            from distributed import as_completed as dist_completed

            futures = client.map(fn, blocks, pure=False)
            index = {f.key: i for i, f in enumerate(futures)}
            for fut in dist_completed(futures):
                i = index[fut.key]
                results[i] = fut.result()
                progress.advance(task, weights[i])
    return results


def add_dask_arguments(parser: Any, quiet: bool = True) -> None:
    """``--workers``, ``--scheduler`` (and ``--quiet``) of the commands that run on dask."""
    parser.add_argument(
        "--workers", type=count, default=None, help="run on a dask LocalCluster with N workers"
    )
    parser.add_argument("--scheduler", default=None, help="address of a running dask scheduler")
    if quiet:
        parser.add_argument(
            "--quiet",
            action="store_true",
            help="no progress bars (notices are still shown)",
        )
