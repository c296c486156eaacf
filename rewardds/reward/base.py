"""The one interface filtering and refinement use for a reward model, whichever it is."""
from __future__ import annotations

from typing import Protocol, runtime_checkable


@runtime_checkable
class RewardScorer(Protocol):
    """``score``: a pointwise reward of each answer to its question (higher is better; only the
    order within a question and against the pool's lowest reward matter). ``prefer``: the
    probability that answer ``a`` is better than answer ``b`` for ``question``."""

    def score(self, questions: list[str], answers: list[str]) -> list[float]: ...

    def prefer(self, question: str, a: str, b: str) -> float: ...

    def close(self) -> None: ...
