"""The sampling interface every backend implements.

Stages only ever call ``Sampler.generate``; the HF and vLLM backends return the
same ``Completion`` objects, so switching ``sampler=`` changes nothing
downstream.
"""
from __future__ import annotations

import abc
from dataclasses import dataclass
from pathlib import Path


# progress bar of a client stage sampling on private prompts: alive, but no count or rate (see generate)
PRIVATE_BAR_FORMAT = "{desc}: {elapsed} elapsed"


@dataclass(frozen=True)
class SamplingParams:
    n: int = 1
    temperature: float = 1.0  # 0 means greedy
    top_p: float = 1.0
    max_new_tokens: int = 128
    seed: int = 0

    @property
    def greedy(self) -> bool:
        return self.temperature <= 0.0


@dataclass(frozen=True)
class Completion:
    text: str  # decoded continuation, special tokens stripped
    finished: bool  # True when generation ended on EOS (not on max_new_tokens)
    num_tokens: int  # generated tokens, EOS included


class Sampler(abc.ABC):
    """Generates continuations of already-rendered prompt strings.

    ``model_dir`` is an HF folder (weights + tokenizer); ``adapter_dir`` an
    optional peft LoRA folder applied on top. Prompts are full strings made by
    ``rewardds.chat`` (chat template applied, generation prompt added).
    """

    def __init__(self, model_dir: str | Path, adapter_dir: str | Path | None = None, **options):
        self.model_dir = str(model_dir)
        self.adapter_dir = str(adapter_dir) if adapter_dir else None
        self.options = options
        self.stats = {"prompts": 0, "generated_tokens": 0, "seconds": 0.0}
        self.dtype: str | None = None  # what the backend loads the weights in (model.<which>.dtype)

    def loaded_in(self, dtype: str) -> None:
        """Record the weights' dtype; it is reported with the stats (``sampling.stats.json``)."""
        self.dtype = self.stats["dtype"] = str(dtype)

    @abc.abstractmethod
    def generate(self, prompts: list[str], params: SamplingParams, desc: str = "sampling",
                 counts: bool = True) -> list[list[Completion]]:
        """Return ``params.n`` completions for each prompt, in prompt order. ``counts=False``: the
        progress bar shows elapsed time only (no item counts, no token rates), for prompts built
        from private records whose number or answers are not public (client stages)."""

    def close(self) -> None:
        """Free the engine (GPU memory, worker processes)."""

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    @property
    def tokens_per_second(self) -> float:
        s = self.stats["seconds"]
        return self.stats["generated_tokens"] / s if s > 0 else 0.0
