"""User-facing errors.

Every problem caused by the user's input (a data file, a protocol, an option) is raised as a
:class:`BenchError`. The CLI prints its message as one line and exits non-zero; it never shows a
traceback for these. Messages say what is wrong, where, and how to fix it.
"""


class BenchError(Exception):
    """A problem with the user's input, reported as one line by the CLI."""

    def __init__(self, message: str):
        # Keep the message on one line whatever the caller built.
        super().__init__(" ".join(str(message).split()))


class DataError(BenchError):
    """A data folder or file is missing, unreadable or malformed."""


class ConfigError(BenchError):
    """An unknown or invalid option, protocol key or value."""


class TrainingError(BenchError):
    """Training stopped because it cannot give a meaningful result (a non-finite or diverging loss,
    non-finite weights); nothing is written as the run's result."""


class OutputError(BenchError):
    """An output path (run record, checkpoint, table) cannot be written: read-only, not a folder, or the
    disk is full."""
