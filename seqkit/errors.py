"""The one exception type that seqkit raises for bad input.

Every message says what was wrong and what to do about it; the CLI prints it on one line and
exits with status 2.
"""


class SeqkitError(Exception):
    """Bad input from the user: an unknown task, unreadable data, an incompatible run dir."""


def brief(err: BaseException) -> str:
    """``Type: first line of the message``: a library's error, short enough to quote in a
    ``SeqkitError`` (PyTorch's can run to many lines of advice)."""
    lines = [ln.strip() for ln in str(err).splitlines() if ln.strip()]
    return f"{type(err).__name__}: {lines[0]}" if lines else type(err).__name__
