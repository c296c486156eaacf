"""The record types that flow between stages.

A ``Record`` is one (question, answer) example of a task, whatever file layout it
came from. ``TaskData`` is everything a run reads: a public corpus (role of the
public pre-training data and the only source of example questions in strict
privacy mode), the private records (client side, DP only) and a test split.
"""
from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, field


@dataclass(frozen=True)
class Record:
    id: str
    question: str  # text of the user turn (instruction and input already merged)
    answer: str  # reference answer (assistant turn)
    entry_point: str | None = None  # code task: name the function must have
    tests: tuple[str, ...] = ()  # code task: assert statements
    code: str | None = None  # code task: reference solution

    def to_dict(self) -> dict:
        d = asdict(self)
        d["tests"] = list(self.tests)
        return d


@dataclass
class TaskData:
    task: str
    public: list[Record]
    private: list[Record]
    test: list[Record]
    source: str = "demo"
    extra: dict = field(default_factory=dict)
    # What "the private data set" of the DP guarantee is, for privacy.json:
    # {"source", "records", "subset", "deduplicated", "statement"}, JSON-safe, no
    # paths, no non-DP statistics (see rewardds.data.loaders.describe_private_set).
    # None when the TaskData was not built by the loader.
    private_set: dict | None = None

    def fingerprint(self, split: str) -> str:
        """SHA-256 of a split's content: a cache key that reveals no text."""
        h = hashlib.sha256()
        for r in getattr(self, split):
            h.update(json.dumps(r.to_dict(), sort_keys=True).encode())
        return h.hexdigest()
