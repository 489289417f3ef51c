"""User-facing errors: one line, no traceback, exit code 2."""


class UserError(Exception):
    """A mistake in the user's input: a bad path, argument, store or card.

    The CLI prints ``error: <message>`` and exits with code 2; ``--debug`` shows
    the traceback.
    """
