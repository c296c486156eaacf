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
    # the reference's ratio_to_first: ratio * reward >= tau (0.34 * 1.2 = 0.408 clears 0.4)
    assert admit([0.33, 0.34], prev, ratio=1.2) == [False, True]


def test_refinement_admission_keeps_the_references_direction_for_other_ratios_and_negative_rewards():
    """revise_filter.py admits when rw_score * ratio_to_first >= tau. With ratio 0.9 and a positive tau
    that is stricter than tau (a reward of 1.05 does not clear 1.0), with a negative tau looser (-1.05
    clears -1.0); ``reward >= ratio * tau`` (before) decided both the other way."""
    assert admit([1.05, 1.2], [1.0, 2.0], ratio=0.9) == [False, True]
    assert admit([-1.05, -1.2], [-1.0, 0.5], ratio=0.9) == [True, False]
    assert admit([-1.0, -1.01], [-1.0], ratio=1.0) == [True, False]  # ratio 1 (the paper): reward >= tau


def test_refinement_with_scope_all_readmits_a_question_the_filter_dropped(tmp_path):
    """Four scored questions, the filter keeps one (1/4). scope=all critiques and rewrites all four
    (the reference); the rewrite of a dropped question whose reward clears tau (the pool's lowest)
    joins the pool, and every question's latest version is what the next round refines."""
    from rewardds.io import write_jsonl
    from rewardds.stages.refinement import items_to_refine, next_pool

    scored = [{"id": f"q{i}", "question": f"question {i}", "candidates": [f"a{i}.0", f"a{i}.1"],
               "rewards": [r, r - 1.0], "ppls": [2.0, 3.0]} for i, r in enumerate([0.1, 0.9, 0.2, 0.3])]
    pool = select(scored, alpha=0.5, keep_ratio=0.25)
    for it in pool:
        it["round"] = 1
    assert [it["question"] for it in pool] == ["question 1"]  # tau = 0.9
    (tmp_path / "scores").mkdir()
    write_jsonl(tmp_path / "scores" / "scored.jsonl", scored)
    items = items_to_refine("all", 2, pool, {"items": tmp_path / "scores"}, alpha=0.5)
    assert [it["question"] for it in items] == [f"question {i}" for i in range(4)]
    assert items_to_refine("pool", 2, pool, {}, alpha=0.5) == pool  # the cheaper scope: the pool only
    rewrites = [[("better 0", 0.95, 2.0), ("worse 0", 0.5, 4.0)],  # dropped by the filter, now above tau
                [("r1", 0.3, 2.0)],  # the pool's own question, now below tau
                [],  # no usable rewrite
                [("r3", 0.85, 1.5)]]  # below tau
    added, revised, rewritten = next_pool(pool, items, rewrites, alpha=0.5, ratio=1.0, rnd=2)
    assert rewritten == 3
    assert [(x["id"], x["question"], x["chosen"], x["rejected"], x["round"]) for x in added] == [
        ("q0-r2", "question 0", "better 0", "worse 0", 2)]
    assert [x["id"] for x in revised] == ["q0-r2", "q1-r2", "q2", "q3-r2"]
    (tmp_path / "refine").mkdir()
    write_jsonl(tmp_path / "refine" / "revise.jsonl", revised)
    assert items_to_refine("all", 3, pool + added, {"items": tmp_path / "refine"}, alpha=0.5) == revised
