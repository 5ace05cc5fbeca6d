"""The one exception type that seqkit raises for bad input.

Every message says what was wrong and what to do about it; the CLI prints it and exits non-zero.
"""


class SeqkitError(Exception):
    """Bad input from the user: an unknown task, unreadable data, an incompatible run dir."""
