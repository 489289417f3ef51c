"""The rich console eossl prints tables with: full width in logs too.

Rich takes 80 columns when the output is not a terminal (a log file, a pipe, CI), which
cuts table cells such as weights names. There eossl prints at least ``LOG_WIDTH``
columns, so what a person copies from a log is whole.
"""

from __future__ import annotations

import logging
import sys
from typing import Any

from rich.console import Console
from rich.progress import Progress, TaskID

__all__ = [
    "LOG_WIDTH",
    "LogLines",
    "console",
    "quiet_lightning",
    "say_during_fit",
    "task_progress",
]

LOG_WIDTH = 200
LOG_AFTER = 5.0  # s: a task in a log says its quarters once it has run this long


def console(stderr: bool = False, min_width: int = 0) -> Console:
    """A Console of the terminal's width (at least ``min_width``); ``LOG_WIDTH`` off one."""
    out = Console(stderr=stderr)
    if not out.is_terminal:
        return Console(stderr=stderr, width=max(LOG_WIDTH, min_width))
    return Console(stderr=stderr, width=max(out.width, min_width)) if min_width else out


def task_progress() -> Progress:
    """A transient rich progress bar on a terminal or in Jupyter; in a log, :class:`LogLines`."""
    if Console(stderr=True).is_terminal or Console().is_jupyter:
        return Progress(transient=True)
    return LogLines()


class LogLines(Progress):
    """A progress bar for logs: draws nothing, says each task's quarters on stderr.

    A task says its last quarter, and the others once it has run for ``LOG_AFTER``
    seconds: long work shows it moves, short work says it ended.
    """

    def __init__(self) -> None:
        super().__init__(disable=True)
        self.said: dict[TaskID, int] = {}

    def advance(self, task_id: TaskID, advance: float = 1) -> None:
        super().advance(task_id, advance)
        task = self._tasks[task_id]
        quarter = int(4 * task.completed / task.total) if task.total else 0
        if quarter > self.said.get(task_id, 0) and (
            quarter == 4 or (task.elapsed or 0) >= LOG_AFTER
        ):
            self.said[task_id] = quarter
            print(
                f"eossl: {task.description} {task.completed:g}/{task.total:g} "
                f"({task.elapsed or 0:.0f} s)",
                file=sys.stderr,
                flush=True,
            )


def say_during_fit(trainer: Any, line: str) -> None:
    """Print a line while Lightning fits: above the RichProgressBar, else on stderr."""
    bar = trainer.progress_bar_callback
    rich_console = getattr(bar, "_console", None)
    if rich_console is not None:
        rich_console.print(line, markup=False, highlight=False, soft_wrap=True)
    else:
        print(line, file=sys.stderr, flush=True)


def quiet_lightning() -> None:
    """Hide Lightning's chatter that says nothing to an eossl user (pretraining, fine-tuning)."""
    import warnings

    for pattern in (
        ".*args parameter is intended.*",
        ".*LeafSpec.*",
        ".*litlogger.*",
        ".*does not have many workers.*",
        ".*is not recommended to provide both.*",
        r"\s*Unable to serialize instance",
        ".*litmodels.*",
        ".*DataLoader will create.*worker processes.*",  # eossl says it once (datamodule)
        ".*Total length of `list` across ranks is zero.*",
        ".*Experiment logs directory .* exists and is not empty.*",  # resume: metrics kept aside
        ".*resuming from a checkpoint that ended before the epoch ended.*",  # eossl says it
        ".*is smaller than the logging interval.*",  # a small store: the epoch lines still come
    ):
        warnings.filterwarnings("ignore", message=pattern)
    for name in ("lightning.pytorch.utilities.rank_zero", "lightning.fabric.utilities.seed"):
        tips = logging.getLogger(name)
        if not any(isinstance(f, _DropTips) for f in tips.filters):
            tips.addFilter(_DropTips())


class _DropTips(logging.Filter):
    """Drop Lightning's advertising tips, "Seed set to" and its device and stop notices."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        return not any(s in message for s in _NOISE)


_NOISE = (  # Lightning's lines that tell an eossl user nothing (eossl says what matters)
    "litlogger",
    "litmodels",
    "Seed set to",
    "GPU available:",
    "TPU available:",
    "HPU available:",
    "Loading `train_dataloader` to estimate",
    "`Trainer.fit` stopped:",
    "Restoring states from the checkpoint",  # eossl: resuming from ... at epoch N
    "Restored all states from the checkpoint",
)
