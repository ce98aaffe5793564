"""One error type for everything a user can get wrong.

The CLI prints an :class:`AdvTrojanError` as one line (``advtrojan: error: ...``) and exits
with status 2; an OSError (permission denied, disk full) is one line too, and anything else is
reported in one line as unexpected (exit 1), with its traceback under `--debug`.
"""


class AdvTrojanError(Exception):
    """A problem with the user's input (files, options, shapes), explained in its message."""


class DataError(AdvTrojanError):
    """A dataset file is missing, truncated, garbled or does not match what it claims to be."""


class ConfigError(AdvTrojanError):
    """An option, preset or run configuration is invalid."""


class WriteError(AdvTrojanError, OSError):
    """A file cannot be written (no space, read-only, no permission). An OSError as well, so code
    that tolerates unwritable places (a cache) still catches it."""
