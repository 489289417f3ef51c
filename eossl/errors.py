"""User-facing errors: one line, no traceback, exit code 2."""

import argparse
import math
from typing import Any


class UserError(Exception):
    """A mistake in the user's input: a bad path, argument, store or card.

    The CLI prints ``error: <message>`` and exits with code 2; ``--debug`` shows
    the traceback.
    """


class OneLineParser(argparse.ArgumentParser):
    """argparse that reports a usage mistake in one line, with exit code 2.

    Abbreviated flags are refused (``--meth`` for ``--method``), as Lightning's layer
    refuses them: a flag means the same thing at every layer, and a later flag that
    shares a prefix cannot change what an old command line means.
    """

    def __init__(self, *args, **kwargs) -> None:  # noqa: ANN002, ANN003
        kwargs.setdefault("allow_abbrev", False)
        super().__init__(*args, **kwargs)

    def error(self, message: str) -> None:  # type: ignore[override]
        raise UserError(f"{message} (see `{self.prog} --help`)")


def seed(text: str) -> int:
    """An argparse type: a seed numpy and torch both take (0 to 2**32 - 1)."""
    value = int(text)
    if not 0 <= value < 2**32:
        raise argparse.ArgumentTypeError(f"a seed is 0 to 2**32 - 1, got {text}")
    return value


def count(text: str) -> int:
    """An argparse type: a whole number of at least 1 (threads, workers, counts)."""
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {text}")
    return value


def finite_number(value: Any) -> bool:
    """A real number read from a file: an int or float (not a bool), not NaN or inf."""
    if not isinstance(value, (int, float)) or isinstance(value, bool):
        return False
    try:
        return math.isfinite(value)
    except OverflowError:  # an int beyond any float
        return False
