"""The CLI's own error: bad arguments or configuration (exit status 2)."""


class UsageError(Exception):
    """Bad arguments or configuration; the message names the culprit."""
