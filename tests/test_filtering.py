"""Reward Guided Filtering and refinement admission, on hand-made scores."""
from __future__ import annotations

import numpy as np

from rewardds.stages.filtering import fuse, ranks, select
from rewardds.stages.refinement import admit


def test_ranks_best_gets_m():
    assert list(ranks([0.1, 0.9, 0.5], higher_is_better=True)) == [1, 3, 2]
    assert list(ranks([30.0, 5.0, 12.0], higher_is_better=False)) == [1, 3, 2]  # lowest perplexity is best


def test_fuse_picks_argmax_and_argmin_of_fused_rank():
    rewards = [0.2, 0.8, 0.5, 0.1]
    ppls = [3.0, 9.0, 2.0, 8.0]
    # rank_r = [2, 4, 3, 1]; rank_ppl = [3, 1, 4, 2]
    c, r, s = fuse(rewards, ppls, alpha=0.5)
    np.testing.assert_allclose(s, [2.5, 2.5, 3.5, 1.5])
    assert (c, r) == (2, 3)
    c, r, _ = fuse(rewards, ppls, alpha=1.0)  # code tasks: reward only
    assert (c, r) == (1, 3)
    c, r, _ = fuse(rewards, ppls, alpha=0.0)  # perplexity only
    assert (c, r) == (2, 1)


def make_scored(n, seed=0):
    rng = np.random.default_rng(seed)
    out = []
    for i in range(n):
        m = int(rng.integers(2, 6))
        out.append({"id": f"q{i}", "question": f"question {i}", "candidates": [f"a{i}.{j}" for j in range(m)],
                    "rewards": rng.normal(size=m).tolist(), "ppls": rng.uniform(1, 20, size=m).tolist()})
    return out


def test_select_keeps_exactly_top_fraction_by_chosen_reward():
    scored = make_scored(48)
    pool = select(scored, alpha=0.5, keep_ratio=0.125)
    assert len(pool) == 6
    chosen_rewards = []
    for q in scored:
        c, _, _ = fuse(q["rewards"], q["ppls"], 0.5)
        chosen_rewards.append(q["rewards"][c])
    want = sorted(chosen_rewards, reverse=True)[:6]
    assert [it["reward"] for it in pool] == want
    for it in pool:  # chosen/rejected are the fused argmax/argmin of that question
        q = next(s for s in scored if s["id"] == it["id"])
        c, r, _ = fuse(q["rewards"], q["ppls"], 0.5)
        assert it["chosen"] == q["candidates"][c] and it["rejected"] == q["candidates"][r]


def test_select_keep_all_and_keep_at_least_one():
    scored = make_scored(5, seed=1)
    assert len(select(scored, 0.5, 1.0)) == 5
    assert len(select(scored, 0.5, 0.01)) == 1
    assert select([], 0.5, 0.5) == []


def test_refinement_admits_against_tau_of_previous_pool():
    prev = [0.4, 0.9, 0.6]  # tau = 0.4
    assert admit([0.3, 0.4, 0.5], prev, ratio=1.0) == [False, True, True]
    assert admit([0.45, 0.5], prev, ratio=1.2) == [False, True]  # threshold 0.48
