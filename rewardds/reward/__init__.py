"""Reward models behind one interface (:class:`RewardScorer`): ``reward=bt`` (the Bradley-Terry
scalar proxy of RewardDS) or ``reward=gfriend`` (a generative judge, method.md section 4)."""
from __future__ import annotations

from rewardds.reward.base import RewardScorer
from rewardds.reward.bt import BTScorer
from rewardds.reward.gfriend import GFriendScorer

__all__ = ["RewardScorer", "build_scorer"]


def build_scorer(ctx, p: dict, ins: dict) -> RewardScorer:
    """The scorer of a step: params ``lm`` (dtype, max_length), ``task`` and, for GFRIEND, ``reward``
    (its scoring settings; absent: Bradley-Terry); inputs ``base`` and ``reward_proxy`` (the trained
    reward step's folder)."""
    reward = p.get("reward")
    adapter = ins["reward_proxy"] / "adapter"
    if reward is not None and reward["name"] == "gfriend":
        return GFriendScorer.from_dirs(ins["base"], adapter, p["lm"]["dtype"], reward["sampler"], ctx.device,
                                       reward["answer_words"], reward["cot_max_new_tokens"], reward["max_length"],
                                       seed=reward["seed"])
    return BTScorer.from_dirs(ins["base"], adapter, p["lm"]["dtype"], p.get("task", ctx.task), p["lm"]["max_length"],
                              ctx.device)
