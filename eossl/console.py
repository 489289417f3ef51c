"""The rich console eossl prints tables with: full width in logs too.

Rich takes 80 columns when the output is not a terminal (a log file, a pipe, CI), which
cuts table cells such as weights names. There eossl prints at least ``LOG_WIDTH``
columns, so what a person copies from a log is whole.
"""

from __future__ import annotations

from rich.console import Console

__all__ = ["LOG_WIDTH", "console"]

LOG_WIDTH = 200


def console(stderr: bool = False, min_width: int = 0) -> Console:
    """A Console of the terminal's width (at least ``min_width``); ``LOG_WIDTH`` off one."""
    out = Console(stderr=stderr)
    if not out.is_terminal:
        return Console(stderr=stderr, width=max(LOG_WIDTH, min_width))
    return Console(stderr=stderr, width=max(out.width, min_width)) if min_width else out
