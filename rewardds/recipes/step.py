"""What a recipe is made of: steps, each a building block with parameters.

A step names the building block it runs (``Block``, :mod:`rewardds.stages.block`: a
cache kind and a compute function), the parameters it passes (everything the block reads: they ARE its
cache key, in one place), the artefacts it reads (earlier steps, the base
models, the data splits) and, declared rather than inferred, what private data
it touches. The pipeline plans the budget and writes ``privacy.json`` from those
declarations alone.
"""
from __future__ import annotations

import enum
from dataclasses import dataclass, field
from typing import Any, Mapping

from rewardds.errors import ConfigError
from rewardds.stages.block import Block  # the stages' building blocks; kept importable from here


class Touch(enum.Enum):
    """What a step does with private data."""

    NONE = "none"  # public data and post-processing of DP releases only
    DP_SGD = "dp_sgd"  # trains on private records with DP-SGD: a component of the ledger
    PRIVATE_PROMPT = "private_prompt"  # private text inside a prompt: no DP mechanism covers it
    NONPRIVATE_TRAINING = "nonprivate_training"  # trains on private records without DP

    @property
    def voids_guarantee(self) -> bool:
        return self in (Touch.PRIVATE_PROMPT, Touch.NONPRIVATE_TRAINING)


@dataclass(frozen=True)
class DPUse:
    """A DP component of the ledger: Poisson sampling over ``data`` at ``batch_size``, ``epochs`` epochs
    (DP-SGD); with ``full_batch`` every record takes part in each of ``epochs`` steps (sample rate 1: a
    Gaussian mechanism without subsampling, e.g. Private Evolution's ``epochs`` = rounds histograms)."""

    component: str  # name in privacy.json and dp.split
    batch_size: int  # ignored with full_batch
    epochs: int
    data: str = "data:private"
    full_batch: bool = False
    noise_multiplier: float | None = None  # this component's own noise (not calibrated); dp.noise_multiplier wins


@dataclass(frozen=True)
class Step:
    name: str  # unique in the recipe: the stage name in logs, stage_log.jsonl and run_dir/stages/
    block: Block
    params: Mapping[str, Any] = field(default_factory=dict)
    inputs: Mapping[str, str] = field(default_factory=dict)  # role -> step name | "base:proxy" | "data:private"
    touches: tuple[Touch, ...] = (Touch.NONE,)
    dp: DPUse | None = None
    side: str = "server"  # client | server: client steps keep keys and timings out of the release
    why: str = ""  # for a guarantee-voiding touch: the reason privacy.json gives
    eval_label: str | None = None  # evaluation steps: the label in metrics.json's "eval"

    @property
    def kind(self) -> str:
        return self.block.kind


@dataclass
class Recipe:
    method: str
    steps: list[Step]

    def names(self) -> list[str]:
        return [s.name for s in self.steps]

    def dp_steps(self) -> list[Step]:
        return [s for s in self.steps if s.dp is not None]

    def until(self, stop: str | None) -> list[Step]:
        """The steps up to ``stop``: a step name, or a kind's first step (``target`` = ``target@1``)."""
        if stop is None:
            return list(self.steps)
        names = self.names()
        if stop not in names:
            stop = next(n for n in names if n.split("@")[0] == stop or self._kind_of(n) == stop)
        return self.steps[: names.index(stop) + 1]

    def resolve_stop(self, stop: str | None) -> str | None:
        if stop is None:
            return None
        names = self.names()
        if stop in names or any(n.split("@")[0] == stop or self._kind_of(n) == stop for n in names):
            return stop
        raise ConfigError("stop_after", f"unknown step {stop!r} for method {self.method}; steps: {', '.join(names)}")

    def _kind_of(self, name: str) -> str:
        return next(s.kind for s in self.steps if s.name == name)
