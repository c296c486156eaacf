"""What running one sample comes to (:class:`ExecResult`), and the error that stops all code evaluation."""
from __future__ import annotations

from dataclasses import dataclass

from rewardds.errors import RewarddsError

STATUSES = ("passed", "failed", "timeout", "error", "killed", "no_code")
DETAIL_CHARS = 300


class SandboxUnavailable(RewarddsError):
    """bubblewrap is missing or cannot create the sandbox: code evaluation refuses to run."""


@dataclass
class ExecResult:
    passed: bool
    status: str  # one of STATUSES
    detail: str  # short, at most ~DETAIL_CHARS characters
    seconds: float = 0.0  # wall-clock time of the child process


def short(text: str, limit: int = DETAIL_CHARS) -> str:
    """``text`` on one line (when it has several) and at most ``limit`` characters."""
    text = " ".join(str(text).split()) if "\n" in str(text) else str(text)
    return text if len(text) <= limit else text[: limit - 3] + "..."
