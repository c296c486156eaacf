"""Errors that end a run with one clear line instead of a traceback.

Every message names what the user has to fix: the config key, the file, or the
file and line. ``run.py`` prints ``error: <message>`` and exits with status 2.
"""
from __future__ import annotations

import signal


class RewarddsError(Exception):
    """Base class: a problem with the user's input, not a bug."""


class ConfigError(RewarddsError):
    """A config value is invalid; the message names the key."""

    def __init__(self, key: str, message: str):
        self.key = key
        super().__init__(f"config key '{key}': {message}")


class DataError(RewarddsError):
    """A data file is missing or malformed; the message names file and line."""

    def __init__(self, path, message: str, line: int | None = None):
        self.path = str(path)
        self.line = line
        where = f"{self.path}:{line}" if line is not None else self.path
        super().__init__(f"{where}: {message}")


class PrivacyError(RewarddsError):
    """The requested work would break the privacy guarantee or the budget."""


class Interrupted(BaseException):
    """SIGTERM or SIGINT arrived; run.py's signal handlers raise it.

    A BaseException, like KeyboardInterrupt, so that no ``except Exception`` in the
    pipeline or a library swallows it; but neither KeyboardInterrupt nor SystemExit,
    which Lightning's fit turns into a silent exit status 1 (Ctrl-C) or 0 (SIGTERM).
    """

    def __init__(self, signum: int):
        self.signum = int(signum)
        super().__init__(f"interrupted by {signal.Signals(self.signum).name}")

    @property
    def exit_status(self) -> int:
        """128 + the signal number, what a shell reports for a job ended by that signal."""
        return 128 + self.signum
