"""The Bradley-Terry reward proxy (RewardDS's scalar head) behind :class:`RewardScorer`."""
from __future__ import annotations

import math
from pathlib import Path

from rewardds.models.loading import load_tokenizer, torch_dtype
from rewardds.training.reward import score_texts


class BTScorer:
    """Scalar reward r(question, answer); ``prefer`` is the Bradley-Terry ``sigmoid(r_a - r_b)``."""

    def __init__(self, model, tokenizer, task: str, max_length: int):
        self.model, self.tok, self.task, self.max_length = model.eval(), tokenizer, task, max_length

    @classmethod
    def from_dirs(cls, base: Path, adapter: Path, dtype: str, task: str, max_length: int, device: str) -> "BTScorer":
        from peft import PeftModel
        from transformers import AutoModelForSequenceClassification

        tok = load_tokenizer(base)
        rm = AutoModelForSequenceClassification.from_pretrained(str(base), num_labels=1, dtype=torch_dtype(dtype))
        rm.config.pad_token_id = tok.pad_token_id
        return cls(PeftModel.from_pretrained(rm.to(device), str(adapter)), tok, task, max_length)

    def score(self, questions: list[str], answers: list[str]) -> list[float]:
        return score_texts(self.model, self.tok, self.task, questions, answers, self.max_length)

    def prefer(self, question: str, a: str, b: str) -> float:
        ra, rb = self.score([question, question], [a, b])
        return 1.0 / (1.0 + math.exp(-(ra - rb)))

    def close(self) -> None:
        self.model = None
