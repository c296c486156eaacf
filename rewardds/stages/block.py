"""What a stage module offers a recipe: a building block, a cache kind and a compute function.

Each stage module defines its blocks (``FINETUNE = Block("finetune", _finetune)``); recipes
(:mod:`rewardds.recipes.step`) compose steps from them. The type lives with the stages so that they
need nothing from the recipes above them.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable


@dataclass(frozen=True)
class Block:
    """A reusable building block: ``fn(ctx, step, inputs, out) -> summary``.

    ``kind`` names its folder in the stage cache, so the same block with the same
    parameters and inputs is one cache entry whichever method runs it.
    """

    kind: str
    fn: Callable[..., dict | None]
    cached: bool = True  # False: ``fn(ctx, step)`` manages its own cache entries (the base models)
