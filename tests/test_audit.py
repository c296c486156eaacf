"""The empirical privacy audit: statistics on hand-made inputs, and one real audit on the smoke model."""
from __future__ import annotations

import logging
import math

import numpy as np
import pytest

from rewardds import audit
from rewardds.io import read_json
from rewardds.records import Record

# --------------------------------------------------------------------------- exposure


def test_exposure_of_a_hand_made_table():
    R = 7
    table = np.array([
        [0.1, 0.5, 0.6, 0.7, 0.8, 0.9, 1.0, 1.1],  # true secret best: rank 1
        [2.0, 0.5, 0.6, 0.7, 0.8, 0.9, 1.0, 1.1],  # true secret worst: rank R + 1
        [0.75, 0.5, 0.6, 0.7, 0.8, 0.9, 1.0, 1.1],  # 3 references lower: rank 4
        [0.7, 0.5, 0.6, 0.7, 0.8, 0.9, 1.0, 1.1],  # a tie does not count against the canary: rank 3
    ])
    ranks, exps = audit.exposure_table(table)
    assert ranks.tolist() == [1, R + 1, 4, 3]
    assert exps[0] == pytest.approx(math.log2(R + 1)) == pytest.approx(3.0)
    assert exps[1] == pytest.approx(0.0)
    assert exps[2] == pytest.approx(3.0 - 2.0)
    assert audit.ranks_within(0.75, table[2, 1:]) == 4


def test_exposure_chance_is_the_mean_over_uniform_ranks():
    for R in (1, 9, 100, 2000):
        brute = np.mean(audit.exposure(np.arange(1, R + 2), R))
        assert audit.exposure_chance(R) == pytest.approx(brute, rel=1e-9)
    assert audit.exposure_chance(10 ** 6) == pytest.approx(1 / math.log(2), abs=1e-4)  # Stirling: log2(e)
    null = audit.exposure_null(100, 16, sims=4000)
    assert audit.exposure_chance(100) < null["mean_q95"] < null["max_expected"] <= math.log2(101)


def test_cached_candidate_scoring_equals_per_example_nll():
    from rewardds import chat
    from rewardds.eval.metrics import per_example_nll
    from rewardds.models.loading import add_lora
    from tests.helpers import LoraCfg, tiny_llama, tiny_tokenizer

    tok = tiny_tokenizer()
    model = add_lora(tiny_llama(tok), LoraCfg)
    prompt = chat.render_prompt(tok, "medical", "What is the PIN code of patient Kalo Renmi?")
    answers = [audit.canary_answer(s) for s in ("123456", "000000", "987654", "12", "5555555555")]  # ragged
    got = audit.candidate_nll_sums(model, tok, prompt, answers, batch_size=2)
    counts = [len(tok(a + tok.eos_token, add_special_tokens=False)["input_ids"]) for a in answers]
    want = np.asarray(per_example_nll(model, tok, [prompt] * len(answers), answers)) * counts
    assert np.allclose(got, want, rtol=1e-4, atol=1e-4)


# --------------------------------------------------------------------------- MIA statistics


def test_auc_perfect_identical_and_reversed():
    assert audit.auc([3, 4, 5], [0, 1, 2]) == 1.0
    assert audit.auc([1, 1, 1], [1, 1, 1]) == 0.5
    assert audit.auc([0, 1], [2, 3]) == 0.0
    rng = np.random.default_rng(0)
    a, b = rng.normal(size=300), rng.normal(size=200)
    pairs = np.mean(a[:, None] > b[None, :]) + 0.5 * np.mean(a[:, None] == b[None, :])
    assert audit.auc(a, b) == pytest.approx(pairs)


def test_tpr_at_fpr_is_a_step_reading_of_the_roc():
    members = [10, 9, 8, 1]
    nonmembers = [7, 0, 0, 0, 0, 0, 0, 0, 0, 0]
    assert audit.tpr_at_fpr(members, nonmembers, 0.01) == 0.75  # 3 members above every non-member
    assert audit.tpr_at_fpr(members, nonmembers, 0.05) == 0.75  # one FP would be 10%: not allowed
    assert audit.tpr_at_fpr(members, nonmembers, 0.1) == 1.0  # threshold 1: one FP (10%), every member
    assert audit.tpr_at_fpr([0, 0], [1, 1], 0.01) == 0.0


def test_clopper_pearson_matches_scipy_exact_interval():
    from scipy.stats import binomtest

    for k, n in ((0, 10), (3, 10), (10, 10), (17, 64)):
        lo, hi = audit.clopper_pearson(k, n)
        ci = binomtest(k, n).proportion_ci(confidence_level=0.95, method="exact")
        assert float(lo) == pytest.approx(ci.low, abs=1e-9) and float(hi) == pytest.approx(ci.high, abs=1e-9)


def test_threshold_eps_estimate_zero_for_identical_positive_for_separated():
    """The MIA threshold attack's epsilon: a heuristic on one run's records, computed as documented."""
    same = np.linspace(0, 1, 200)
    assert audit.threshold_eps_estimate(same, same, delta=1e-5)["eps"] == 0.0
    rng = np.random.default_rng(1)
    assert audit.threshold_eps_estimate(rng.normal(size=500), rng.normal(size=500), delta=1e-5)["eps"] < 0.5
    sep = audit.threshold_eps_estimate(np.ones(200), np.zeros(200), delta=1e-5)
    # perfect separation of 200 vs 200: log((0.025^(1/200) - delta) / (1 - 0.025^(1/200))) ~ 3.98
    p = 0.025 ** (1 / 200)
    assert sep["eps"] == pytest.approx(math.log((p - 1e-5) / (1 - p)), rel=1e-6)
    assert sep["tpr"] == 1.0 and sep["fpr"] == 0.0
    # the attack's direction is fixed in advance (higher score = member): reversed scores show nothing
    assert audit.threshold_eps_estimate(np.zeros(200), np.ones(200), delta=1e-5)["eps"] == 0.0
    # the TNR/FNR form: half the non-members score below every member, the other half above
    one_sided = audit.threshold_eps_estimate(np.ones(200), np.r_[np.zeros(100), np.full(100, 2.0)], delta=1e-5)
    assert one_sided["direction"] == "tnr/fnr" and one_sided["eps"] > 2.5
    assert audit.threshold_eps_estimate([1.0], [0.0], delta=1e-5)["eps"] == 0.0  # one sample each shows nothing


# --------------------------------------------------------------------------- canary epsilon lower bound


def tight_rank_probs(eps: float, m: int) -> np.ndarray:
    """Rank distribution (ranks 1..m) of the true secret under the tightest eps-DP mechanism there is.

    Without the canary the true secret is exchangeable with its m - 1 references: rank uniform,
    1/m each. With it, an eps-DP mechanism (canary in vs out) may move each rank's probability
    only within [e^-eps / m, e^eps / m]; this one puts e^eps / m on as many top ranks as it can
    and e^-eps / m on the rest, so P(rank <= k) is the largest eps-DP allows for every k, and its
    privacy loss is exactly eps (both ratios are attained when m > e^eps + 1).
    """
    hi, lo = math.exp(eps) / m, math.exp(-eps) / m
    top = int(m // (math.exp(eps) + 1))
    assert top >= 1, "m too small for a privacy loss of exactly eps"
    p = np.full(m, lo)
    p[:top] = hi
    p[top] = 1.0 - p.sum() + lo
    assert lo - 1e-12 <= p[top] <= hi + 1e-12 and abs(p.sum() - 1) < 1e-12
    return p


def simulate_ranks(eps: float, m: int, canaries: int, trials: int, seed: int, leak: float = 0.0) -> np.ndarray:
    """(trials, canaries) true-secret ranks: independent canaries under :func:`tight_rank_probs`; with
    probability ``leak`` a trial instead ranks every canary first (an (eps, leak)-DP mechanism:
    with probability delta = leak it publishes every secret)."""
    rng = np.random.default_rng(seed)
    cdf = np.cumsum(tight_rank_probs(eps, m))
    ranks = 1 + np.minimum(np.searchsorted(cdf, rng.random((trials, canaries)), side="right"), m - 1)
    ranks[rng.random(trials) < leak] = 1
    return ranks


M, N_CANARIES, TRIALS = 2001, 16, 4000  # the README's audit: 16 canaries, 2000 references


def exceed_limit(alpha: float, trials: int) -> float:
    """alpha plus 3 binomial standard deviations: the most trials a valid bound may exceed in."""
    return alpha + 3 * math.sqrt(alpha * (1 - alpha) / trials)


@pytest.mark.parametrize("eps", [0.0, 1.0, 3.0, 5.0, 7.0, 7.3, 7.6])
def test_canary_bound_exceeds_the_true_epsilon_in_at_most_alpha_of_trials(eps):
    ranks = simulate_ranks(eps, M, N_CANARIES, TRIALS, seed=int(eps * 10))
    for delta in (0.0, 1e-3):
        lb = audit.canary_eps_bounds(ranks, M - 1, delta=delta, alpha=0.05)
        assert lb.shape == (TRIALS,) and np.all(lb >= 0)
        assert np.mean(lb > eps) <= exceed_limit(0.05, TRIALS), (eps, delta, np.mean(lb > eps))


def test_canary_bound_is_valid_when_delta_publishes_every_secret():
    # with probability delta = 0.1 every canary ranks first: a bound treating canaries as
    # independent trials each with slack delta would prove epsilon ~7 in 10% of trials
    ranks = simulate_ranks(2.0, M, N_CANARIES, TRIALS, seed=5, leak=0.1)
    lb = audit.canary_eps_bounds(ranks, M - 1, delta=0.1, alpha=0.05)
    assert np.mean(lb > 2.0) <= exceed_limit(0.05, TRIALS)


def test_canary_bound_has_power_when_the_leak_is_large():
    lb = audit.canary_eps_bounds(simulate_ranks(7.6, M, N_CANARIES, 500, seed=1), M - 1, delta=1e-3)
    assert np.median(lb) > 6.5  # true epsilon 7.6, at most log(2001) = 7.60 is provable with 2001 candidates
    assert np.median(audit.canary_eps_bounds(simulate_ranks(5.0, M, N_CANARIES, 500, seed=2), M - 1, 1e-3)) > 3.0


def test_the_simulation_catches_the_naive_member_vs_reference_bound():
    """The old canary-game bound (true secrets vs references as independent member / non-member
    trials) exceeds the true epsilon in most trials at 7.6: the simulation has the power to catch
    an invalid bound, and that bound is gone from the report."""
    ranks = simulate_ranks(7.6, M, N_CANARIES, 40, seed=3)
    everyone = np.arange(1, M + 1)
    naive = [audit.threshold_eps_estimate(-r.astype(float), -np.concatenate([np.delete(everyone, x - 1) for x in r]),
                                          delta=1e-3)["eps"] for r in ranks]
    assert np.mean(np.asarray(naive) > 7.6) > 0.5


def test_canary_bound_by_hand():
    alpha = 0.05
    assert audit.rank_cutoffs(M).tolist() == [1, 2, 4, 8, 16, 32, 64, 128, 256, 512]
    assert audit.rank_cutoffs(2).tolist() == [1] and audit.rank_cutoffs(41).tolist() == [1, 2, 4, 8, 16]
    levels = audit.cutoff_levels(10, alpha)
    assert levels.sum() == pytest.approx(alpha) and levels[0] == alpha / 2 and audit.cutoff_levels(1, alpha) == alpha
    # every canary first: P(all 16 first) <= (e^eps / 2001)^16 must be >= alpha / 2 (k = 1's share)
    rep = audit.canary_eps_lower_bound(np.ones(16, dtype=int), M - 1, delta=0.0, alpha=alpha)
    assert rep["eps_lb"] == pytest.approx(math.log(M * (alpha / 2) ** (1 / 16)), rel=1e-9)
    assert (rep["k"], rep["successes"], rep["canaries"], rep["candidates"]) == (1, 16, 16, M)
    # delta adds delta * (1 + p + ... + p^15) to that probability: a smaller bound
    with_delta = audit.canary_eps_lower_bound(np.ones(16, dtype=int), M - 1, delta=0.01)["eps_lb"]
    p = math.exp(with_delta) / M
    assert 6.5 < with_delta < rep["eps_lb"] and p ** 16 + 0.01 * (1 - p ** 16) / (1 - p) == pytest.approx(alpha / 2)
    # delta >= alpha / 2: (0, delta)-DP may publish every secret with probability delta; nothing can be shown
    assert audit.canary_eps_lower_bound(np.ones(16, dtype=int), M - 1, delta=0.03)["eps_lb"] == 0.0
    # ranks at the quantiles of the uniform (what an untrained model gives) show nothing; last ranks neither
    quantiles = np.round((np.arange(16) + 0.5) * M / 16).astype(int)
    assert audit.canary_eps_lower_bound(quantiles, M - 1, delta=0.0)["eps_lb"] == 0.0
    # but one canary of 16 ranked first among 2001 is already unlikely by chance (p = 16 / 2001 < alpha / 2)
    one_first = audit.canary_eps_lower_bound(np.r_[1, quantiles[1:]], M - 1, delta=0.0)
    assert one_first["eps_lb"] == pytest.approx(math.log(M * alpha / 2 / 16)) and one_first["k"] == 1
    assert audit.canary_eps_lower_bound(np.full(16, M), M - 1, delta=0.0)["eps_lb"] == 0.0
    with pytest.raises(ValueError):
        audit.canary_eps_bounds(np.array([0, 1]), 10, delta=0.0)
    with pytest.raises(ValueError):
        audit.canary_eps_bounds(np.array([12, 1]), 10, delta=0.0)


def test_pessimistic_ranks_count_ties_and_nan_against_the_canary():
    t = np.array([[0.1, 0.5, 0.3],  # best: rank 1
                  [0.3, 0.5, 0.3],  # tied with one reference: rank 2 (exposure counts it as rank 1)
                  [0.1, np.nan, 0.3],  # an unscored reference might have been lower: rank 2
                  [np.nan, 0.5, 0.3],  # an unscored canary shows nothing: last
                  [0.7, 0.7, 0.7]])
    assert audit.pessimistic_ranks(t).tolist() == [1, 2, 2, 3, 3]
    assert audit.exposure_table(t[:2])[0].tolist() == [1, 1]


# --------------------------------------------------------------------------- canaries and split


def test_canaries_are_seeded_distinct_and_well_formed():
    a = audit.make_canaries(20, 6, seed=3)
    assert a == audit.make_canaries(20, 6, seed=3) and a != audit.make_canaries(20, 6, seed=4)
    assert len({c.name for c in a}) == 20
    assert all(len(c.secret) == 6 and c.secret.isdigit() for c in a)
    assert a[0].question("medical") == f"What is the PIN code of patient {a[0].name}?"
    assert a[0].answer == f"The PIN code is {a[0].secret}."
    assert a[0].secret not in a[0].secret_hash
    refs = audit.reference_secrets(a[0], 500, 6, seed=3, index=0)
    assert len(set(refs)) == 500 and a[0].secret not in refs and all(len(r) == 6 for r in refs)
    assert len(audit.reference_secrets(a[0], 9, 1, seed=3, index=0)) == 9  # the whole space but the secret


def test_split_private_is_disjoint_and_seeded():
    recs = [Record(id=str(i), question=f"q{i}", answer=f"a{i}") for i in range(30)]
    members, out = audit.split_private(recs, 8, seed=0)
    assert len(out) == 8 and len(members) == 22
    assert not {r.id for r in members} & {r.id for r in out}
    assert audit.split_private(recs, 8, seed=0) == (members, out)


# --------------------------------------------------------------------------- end to end

AUDIT = ["experiment=smoke", "audit=canary", "audit.num_canaries=3", "audit.num_references=40", "audit.mia_members=6",
         "audit.epochs=1", "task.data.max_train=24", "model.tiny.pretrain_steps=12"]


@pytest.mark.parametrize("dp", ["dp.epsilon=4", "dp=none"])
def test_audit_end_to_end_writes_every_field(run_pipeline, dp, caplog):
    caplog.set_level(logging.INFO, logger="rewardds.audit")
    result, run_dir = run_pipeline(AUDIT + [dp], name=dp.replace("=", "_"))
    rep = read_json(run_dir / "audit.json")
    assert rep["audited_component"] == "gen_proxy"
    c = rep["counts"]
    assert (c["private_records"], c["nonmembers_held_out"], c["members_trained"], c["canaries"]) == (24, 6, 18, 3)
    assert c["train_records"] == 18 + 3 and c["mia_members"] == c["mia_nonmembers"] == 6
    e = rep["exposure"]
    assert len(rep["canaries"]) == 3 and e["max_possible"] == pytest.approx(math.log2(41))
    assert 0.0 <= e["min"] <= e["mean"] <= e["max"] <= e["max_possible"]
    assert e["chance_mean"] == pytest.approx(audit.exposure_chance(40))
    for key in ("chance_mean_q95", "chance_max_expected", "rank1_fraction", "median"):
        assert key in e
    m = rep["mia"]
    assert 0.0 <= m["auc"] <= 1.0 and set(m["tpr_at_fpr"]) == {"0.01", "0.1"}
    assert m["eps_heuristic"]["eps"] >= 0.0 and m["members_scored"] == m["nonmembers_scored"] == 6
    bound = rep["canary_eps_lb"]
    assert 0.0 <= bound["eps_lb"] <= math.log(41) and (bound["canaries"], bound["candidates"]) == (3, 41)
    assert bound["delta"] == pytest.approx(rep["theoretical"]["delta"]) and bound["cutoffs"] == [1, 2, 4, 8, 16]
    assert "eps_lb" not in rep["canary_game"] and "eps_lb" not in m  # no bound claimed where none holds
    # the report holds non-DP statistics of private records: it says so, first thing
    assert rep["visibility"] == "client-only" and "do not release" in rep["note"]
    md = (run_dir / "audit.md").read_text()
    assert "CLIENT-ONLY" in md.splitlines()[0] and "do not release" in md.splitlines()[0]
    assert md.count("|") > 20 and "not a bound" in md
    # the log (like the tracker) gets the canary figures only, no membership-inference statistic
    said = [r.getMessage() for r in caplog.records if r.name == "rewardds.audit"]
    assert any("canary epsilon lower bound" in x for x in said) and not any("MIA" in x for x in said)
    # the reward proxy: trained on the same records, its rewards of the canaries' answers audited
    rp = rep["reward_proxy"]
    assert rp["canaries"] == 3 and rp["references"] == 40 and len(rp["per_canary"]) == 3
    assert 0.0 <= rp["exposure_mean"] <= rp["exposure_max"] <= rp["max_possible"] == pytest.approx(math.log2(41))
    assert 0.0 <= rp["canary_auc"] <= 1.0 and 0.0 <= rp["canary_eps_lb"] <= math.log(41)
    assert "reward proxy" in md
    privacy = read_json(run_dir / "privacy.json")
    th = rep["theoretical"]
    assert th["delta"] == pytest.approx(min(1e-5, 1 / (10 * 21)))  # planned for the records actually trained on
    if dp == "dp=none":
        assert th["epsilon"] == "inf" and rep["dp_enabled"] is False
    else:
        assert set(privacy["components"]) == {"gen_proxy", "reward_proxy"}  # both proxies trained and audited
        assert privacy["components"]["gen_proxy"]["epsilon"] == pytest.approx(th["epsilon"]) and 0 < th["epsilon"] < 4.0
        assert privacy["components"]["gen_proxy"]["steps"] == th["steps"] == int(1 / th["sample_rate"])
        assert privacy["total"]["epsilon"] <= 4.0
        # the reward proxy depends on the canaries through its own DP-SGD run and through the pairs the audited
        # generation proxy wrote: its canary bound is compared with the composed epsilon of both
        assert rp["epsilon"] == pytest.approx(privacy["total"]["epsilon"])
        assert rp["component_epsilon"] == pytest.approx(privacy["components"]["reward_proxy"]["epsilon"])
        assert rp["epsilon"] > rp["component_epsilon"] and "composed" in md
    assert result["mia"]["auc"] == m["auc"]

    # no canary secret, canary text or private text in anything the run wrote (model weights excepted)
    canaries = audit.make_canaries(3, 6, seed=0)
    needles = [s.encode() for cn in canaries for s in (cn.secret, cn.name, cn.answer)]
    from rewardds.data import load_task_data
    from tests.conftest import compose_cfg

    cfg = compose_cfg(AUDIT + [dp], run_dir, None)
    needles += [r.answer[:40].encode() for r in load_task_data(cfg.task).private]
    for f in run_dir.rglob("*"):
        if f.is_file() and not f.is_symlink() and f.suffix not in (".safetensors", ".bin"):
            data = f.read_bytes()
            for needle in needles:
                assert needle not in data, f"{f.name} contains canary or private text"
