"""The sampling interface every backend implements.

Stages only ever call ``Sampler.generate``; the HF and vLLM backends return the
same ``Completion`` objects, so switching ``sampler=`` changes nothing
downstream.
"""
from __future__ import annotations

import abc
import os
import threading
from dataclasses import dataclass
from pathlib import Path

from tqdm.auto import tqdm


# progress line of a client stage sampling on private prompts: alive, but no count or rate (see generate)
PRIVATE_BAR_FORMAT = "{desc}: {elapsed} elapsed"
PRIVATE_BAR_INTERVAL_S = 10.0  # its redraw period: a clock, never a batch or a request


class PrivateProgress:
    """The progress line of sampling on private prompts (``counts=False``): the elapsed time only,
    redrawn every ``interval`` seconds by a clock thread, never on a batch or a finished request.
    A bar redrawn per batch draws ceil(jobs / batch_size) + 1 times: how many requests private
    records made (GFRIEND: pairs per record) would be readable from the terminal or a job log.
    Use as a context manager around the whole generation; ``REWARDDS_NO_BAR`` switches it off."""

    def __init__(self, desc: str, interval: float = PRIVATE_BAR_INTERVAL_S):
        self.bar = tqdm(total=None, desc=desc, bar_format=PRIVATE_BAR_FORMAT, leave=False,
                        disable=bool(os.environ.get("REWARDDS_NO_BAR")))
        self._stop = threading.Event()
        self._clock = threading.Thread(target=self._tick, args=(interval,), daemon=True)
        self._clock.start()

    def _tick(self, interval: float) -> None:
        while not self._stop.wait(interval):
            self.bar.refresh()

    def close(self) -> None:
        self._stop.set()
        self._clock.join()
        self.bar.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


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

    @staticmethod
    def seed_groups(seeds: list[int]) -> dict[int, list[int]]:
        """Prompt indices per seed, in order of first appearance (see ``generate``)."""
        groups: dict[int, list[int]] = {}
        for i, s in enumerate(seeds):
            groups.setdefault(int(s), []).append(i)
        return groups

    def loaded_in(self, dtype: str) -> None:
        """Record the weights' dtype; it is reported with the stats (``sampling.stats.json``)."""
        self.dtype = self.stats["dtype"] = str(dtype)

    @abc.abstractmethod
    def generate(self, prompts: list[str], params: SamplingParams, desc: str = "sampling",
                 counts: bool = True, seeds: list[int] | None = None) -> list[list[Completion]]:
        """Return ``params.n`` completions for each prompt, in prompt order.

        ``counts=False``: for prompts built from private records, whose number or answers are not
        public (client stages): no progress bar with counts or token rates, only a
        :class:`PrivateProgress` line redrawn on a clock, and no count in a log line.

        ``seeds`` (one int per prompt; sampling only): the prompts that share a seed are one group,
        e.g. the requests of one private record, and a group's samples depend on its seed and its
        own prompts alone, not on the other prompts of the call, their number or their order
        (``params.seed`` is then unused). Without it, samples follow ``params.seed`` and the
        prompt's position (or batch), which is faster where that is allowed (public or server prompts).
        """

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
