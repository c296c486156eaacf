"""The empirical privacy audit: statistics on hand-made inputs, and one real audit on the smoke model."""
from __future__ import annotations

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


def test_candidate_ranks_rank_true_and_references_in_one_set():
    true_r, ref_r = audit.candidate_ranks([[0.1, 0.5, 0.3], [0.9, 0.5, 0.3]])
    assert true_r.tolist() == [1, 3]
    assert ref_r.tolist() == [3, 2, 2, 1]


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


def test_eps_lower_bound_zero_for_identical_positive_for_separated():
    same = np.linspace(0, 1, 200)
    assert audit.eps_lower_bound(same, same, delta=1e-5)["eps_lb"] == 0.0
    rng = np.random.default_rng(1)
    assert audit.eps_lower_bound(rng.normal(size=500), rng.normal(size=500), delta=1e-5)["eps_lb"] < 0.5
    sep = audit.eps_lower_bound(np.ones(200), np.zeros(200), delta=1e-5)
    # perfect separation of 200 vs 200: log((0.025^(1/200) - delta) / (1 - 0.025^(1/200))) ~ 3.98
    p = 0.025 ** (1 / 200)
    assert sep["eps_lb"] == pytest.approx(math.log((p - 1e-5) / (1 - p)), rel=1e-6)
    assert sep["tpr"] == 1.0 and sep["fpr"] == 0.0
    # the attack's direction is fixed in advance (higher score = member): reversed scores prove nothing
    assert audit.eps_lower_bound(np.zeros(200), np.ones(200), delta=1e-5)["eps_lb"] == 0.0
    # the TNR/FNR form: half the non-members score below every member, the other half above
    one_sided = audit.eps_lower_bound(np.ones(200), np.r_[np.zeros(100), np.full(100, 2.0)], delta=1e-5)
    assert one_sided["direction"] == "tnr/fnr" and one_sided["eps_lb"] > 2.5
    assert audit.eps_lower_bound([1.0], [0.0], delta=1e-5)["eps_lb"] == 0.0  # one sample each proves nothing


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
def test_audit_end_to_end_writes_every_field(run_pipeline, dp):
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
    assert m["eps_lb"]["eps_lb"] >= 0.0 and m["members_scored"] == m["nonmembers_scored"] == 6
    assert rep["canary_game"]["eps_lb"]["eps_lb"] >= 0.0
    assert (run_dir / "audit.md").read_text().count("|") > 20
    privacy = read_json(run_dir / "privacy.json")
    th = rep["theoretical"]
    assert th["delta"] == pytest.approx(1 / 21)  # planned for the records actually trained on
    if dp == "dp=none":
        assert th["epsilon"] == "inf" and rep["dp_enabled"] is False
    else:
        assert set(privacy["components"]) == {"gen_proxy"}  # the reward proxy is not trained in the audit
        assert privacy["total"]["epsilon"] == pytest.approx(th["epsilon"]) and 0 < th["epsilon"] < 4.0
        assert privacy["components"]["gen_proxy"]["steps"] == th["steps"] == int(1 / th["sample_rate"])
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
