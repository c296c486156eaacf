"""The privacy ledger: budget guard, spend records, privacy.json."""
from __future__ import annotations

import json
import math

import pytest

from rewardds.errors import PrivacyError
from rewardds.privacy.accounting import ComponentPlan, Mechanism, calibrate, epsilon, plan_budget
from rewardds.privacy.ledger import PrivacyLedger

BUDGET = 4.0
DELTA = 1e-5
Q = {"gen_proxy": 0.01, "reward_proxy": 0.02}
STEPS = {"gen_proxy": 300, "reward_proxy": 200}


@pytest.fixture(scope="module")
def sigmas():
    comps = [ComponentPlan(n, 0.5, Q[n], STEPS[n]) for n in Q]
    return plan_budget(comps, BUDGET, DELTA)


def planned_ledger(sigmas, **kw) -> PrivacyLedger:
    ledger = PrivacyLedger(BUDGET, DELTA, **kw)
    for n in Q:
        ledger.plan(n, sigmas[n], Q[n], STEPS[n])
    return ledger


def strict_json(path):
    """JSON as a strict parser sees it (no Infinity / NaN literals)."""
    def refuse(const):
        raise AssertionError(f"non-standard JSON constant {const}")
    return json.loads(path.read_text(), parse_constant=refuse)


def test_full_run_within_budget(sigmas, tmp_path):
    ledger = planned_ledger(sigmas)
    ledger.check_plan()
    for n in Q:
        ledger.check(n)
        ledger.spend(n, sigmas[n], Q[n], STEPS[n], extra={"max_grad_norm": 1.0})
    comps = ledger.components()
    assert set(comps) == set(Q)
    for n, c in comps.items():
        assert c["noise_multiplier"] == sigmas[n] and c["sample_rate"] == Q[n] and c["steps"] == STEPS[n]
        assert c["delta"] == DELTA and c["max_grad_norm"] == 1.0
        assert c["epsilon"] == pytest.approx(epsilon([Mechanism(n, sigmas[n], Q[n], STEPS[n])], DELTA))
    total = ledger.total()
    assert total["accountant"] == "prv" and total["delta"] == DELTA
    assert max(c["epsilon"] for c in comps.values()) < total["epsilon"] <= BUDGET
    assert total["epsilon"] < total["epsilon_basic_composition"] == pytest.approx(sum(c["epsilon"] for c in comps.values()))
    assert total["within_budget"] is True
    d = ledger.to_dict()
    assert d["formal_guarantee"] is True
    assert {"budget", "components", "total", "formal_guarantee", "notes"} <= set(d)
    assert d["budget"]["epsilon"] == BUDGET
    assert any("compos" in note for note in d["notes"])


def test_guard_refuses_over_budget_stage(sigmas):
    ledger = planned_ledger(sigmas)
    ledger.plan("reward_proxy", 0.3, Q["reward_proxy"], STEPS["reward_proxy"])  # far too little noise
    ledger.check("gen_proxy")
    with pytest.raises(PrivacyError) as err:
        ledger.check("reward_proxy")
    msg = str(err.value)
    assert "reward_proxy" in msg and "dp.epsilon" in msg and "dp.noise_multiplier" in msg and "4" in msg
    with pytest.raises(PrivacyError, match="plan"):
        ledger.check_plan()


def test_guard_composes_with_what_was_spent(sigmas):
    """Each stage alone fits in the budget, but not after the other has been spent."""
    ledger = PrivacyLedger(BUDGET, DELTA)
    sigma = calibrate(Q["gen_proxy"], STEPS["gen_proxy"], 0.95 * BUDGET, DELTA)
    alone = epsilon([Mechanism("g", sigma, Q["gen_proxy"], STEPS["gen_proxy"])], DELTA)
    assert alone < BUDGET
    ledger.plan("gen_proxy", sigma, Q["gen_proxy"], STEPS["gen_proxy"])
    ledger.plan("reward_proxy", sigma, Q["gen_proxy"], STEPS["gen_proxy"])
    ledger.check("reward_proxy")  # nothing spent yet: fits
    ledger.check("gen_proxy")
    ledger.spend("gen_proxy", sigma, Q["gen_proxy"], STEPS["gen_proxy"])
    with pytest.raises(PrivacyError, match="reward_proxy.*gen_proxy"):
        ledger.check("reward_proxy")


def test_check_needs_a_plan():
    with pytest.raises(PrivacyError, match="no privacy plan"):
        PrivacyLedger(BUDGET, DELTA).check("gen_proxy")


def test_spend_more_steps_than_planned_is_refused_and_recorded(sigmas):
    ledger = planned_ledger(sigmas)
    with pytest.raises(PrivacyError, match="gen_proxy.*301.*300"):
        ledger.spend("gen_proxy", sigmas["gen_proxy"], Q["gen_proxy"], STEPS["gen_proxy"] + 1)
    assert ledger.components()["gen_proxy"]["steps"] == 301  # it ran: the ledger does not hide it
    assert any("VIOLATION" in n for n in ledger.to_dict()["notes"])


def test_spend_fewer_steps_is_fine_and_replaces(sigmas):
    ledger = planned_ledger(sigmas)
    ledger.spend("gen_proxy", sigmas["gen_proxy"], Q["gen_proxy"], 100)
    ledger.spend("gen_proxy", sigmas["gen_proxy"], Q["gen_proxy"], 250)
    assert ledger.components()["gen_proxy"]["steps"] == 250


def test_spend_over_budget_is_refused(sigmas):
    ledger = planned_ledger(sigmas)
    ledger.spend("gen_proxy", sigmas["gen_proxy"], Q["gen_proxy"], STEPS["gen_proxy"])
    with pytest.raises(PrivacyError, match="over the budget"):
        ledger.spend("reward_proxy", 0.3, Q["reward_proxy"], STEPS["reward_proxy"])
    assert ledger.total()["within_budget"] is False


def test_zero_noise_means_infinite_epsilon(tmp_path):
    ledger = PrivacyLedger(BUDGET, DELTA)
    ledger.plan("gen_proxy", 0.0, 0.01, 10)
    with pytest.raises(PrivacyError, match="gen_proxy"):
        ledger.check("gen_proxy")
    with pytest.raises(PrivacyError):
        ledger.spend("gen_proxy", 0.0, 0.01, 10)
    assert ledger.total()["epsilon"] == math.inf
    assert ledger.to_dict()["formal_guarantee"] is False
    ledger.save(tmp_path / "privacy.json")
    data = strict_json(tmp_path / "privacy.json")
    assert data["total"]["epsilon"] == "inf" and data["components"]["gen_proxy"]["epsilon"] == "inf"


def test_save_load_round_trip(sigmas, tmp_path):
    ledger = planned_ledger(sigmas, accountant="prv")
    ledger.spend("gen_proxy", sigmas["gen_proxy"], Q["gen_proxy"], STEPS["gen_proxy"], extra={"grad_sample_mode": "hooks"})
    path = tmp_path / "run" / "privacy.json"
    ledger.save(path)
    assert [p.name for p in path.parent.iterdir()] == ["privacy.json"]  # atomic: no temporary left
    assert strict_json(path) == ledger.to_dict()
    loaded = PrivacyLedger.load(path)
    assert loaded.to_dict() == ledger.to_dict()
    # the loaded ledger keeps guarding: the plan of the remaining stage still fits
    loaded.check("reward_proxy")
    loaded.spend("reward_proxy", sigmas["reward_proxy"], Q["reward_proxy"], STEPS["reward_proxy"])
    assert loaded.total()["epsilon"] <= BUDGET


def test_disabled_ledger_has_no_guarantee(tmp_path):
    ledger = PrivacyLedger(8.0, DELTA, enabled=False)
    ledger.plan("gen_proxy", 0.0, 0.01, 10)
    ledger.check("gen_proxy")  # no budget to guard
    ledger.spend("gen_proxy", 0.0, 0.01, 10)
    d = ledger.to_dict()
    assert d["formal_guarantee"] is False
    assert d["total"]["epsilon"] == "inf" and d["total"]["epsilon_basic_composition"] == "inf"
    assert any("dp.enabled=false" in n for n in d["notes"])
    ledger.save(tmp_path / "privacy.json")
    data = strict_json(tmp_path / "privacy.json")
    assert data["total"]["epsilon"] == "inf" and data["formal_guarantee"] is False
    loaded = PrivacyLedger.load(tmp_path / "privacy.json")
    assert loaded.total()["epsilon"] == math.inf and loaded.to_dict() == d
    empty = PrivacyLedger(8.0, DELTA, enabled=False).to_dict()  # nothing ran with DP
    assert empty["total"]["epsilon"] == "inf" and empty["formal_guarantee"] is False


def test_guarantee_note_voids_the_guarantee(sigmas, tmp_path):
    note = "reward pairs come from a non-private proxy; the reward proxy has no DP guarantee"
    ledger = planned_ledger(sigmas, guarantee_note=note)
    for n in Q:
        ledger.check(n)
        ledger.spend(n, sigmas[n], Q[n], STEPS[n])
    total = ledger.total()
    assert total["epsilon"] == math.inf
    assert total["epsilon_dp_runs"] <= BUDGET  # what the DP runs alone would give, for information
    d = ledger.to_dict()
    assert d["formal_guarantee"] is False and any(note in n for n in d["notes"])
    ledger.save(tmp_path / "privacy.json")
    loaded = PrivacyLedger.load(tmp_path / "privacy.json")
    assert loaded.guarantee_note == note and loaded.to_dict() == d


def test_extra_cannot_override_accounting_fields(sigmas):
    ledger = planned_ledger(sigmas)
    ledger.spend("gen_proxy", sigmas["gen_proxy"], Q["gen_proxy"], 10, extra={"steps": 1, "epsilon": 0.0, "note": "x"})
    c = ledger.components()["gen_proxy"]
    assert c["steps"] == 10 and c["epsilon"] > 0 and c["note"] == "x"


def test_rdp_ledger(sigmas):
    ledger = PrivacyLedger(BUDGET, DELTA, accountant="rdp")
    for n in Q:
        ledger.plan(n, sigmas[n], Q[n], STEPS[n])
    with pytest.raises(PrivacyError, match="rdp"):  # PRV-calibrated noise is too little under RDP
        ledger.check_plan()


def test_bad_construction_and_load(tmp_path):
    with pytest.raises(PrivacyError, match="dp.epsilon"):
        PrivacyLedger(0.0, DELTA)
    with pytest.raises(PrivacyError, match="dp.delta"):
        PrivacyLedger(1.0, 1.5)
    with pytest.raises(PrivacyError, match="dp.accountant"):
        PrivacyLedger(1.0, DELTA, accountant="moments")
    bad = tmp_path / "privacy.json"
    bad.write_text("{}")
    with pytest.raises(PrivacyError, match="privacy.json"):
        PrivacyLedger.load(bad)


def test_budget_is_never_exceeded_not_even_by_a_rounding_slack():
    """An epsilon of 8.004 against a budget of 8 was reported within budget (0.1% slack)."""
    mech = Mechanism("gen_proxy", 1.0, 0.05, 400)
    eps = epsilon([mech], DELTA)
    ledger = PrivacyLedger(eps / 1.0005, DELTA)  # the run is 0.05% over the budget
    ledger.plan("gen_proxy", mech.noise_multiplier, mech.sample_rate, mech.steps)
    with pytest.raises(PrivacyError):
        ledger.check_plan()
    with pytest.raises(PrivacyError, match="over the budget"):
        ledger.spend("gen_proxy", mech.noise_multiplier, mech.sample_rate, mech.steps)
    assert ledger.total()["within_budget"] is False
    exact = PrivacyLedger(eps, DELTA)  # exactly at the budget is fine
    exact.spend("gen_proxy", mech.noise_multiplier, mech.sample_rate, mech.steps)
    assert exact.total()["within_budget"] is True


def test_calibrated_plan_lands_at_or_below_the_budget(sigmas):
    ledger = planned_ledger(sigmas)
    ledger.check_plan()
    for n in Q:
        ledger.spend(n, sigmas[n], Q[n], STEPS[n])
    assert ledger.total()["epsilon"] <= BUDGET and ledger.total()["within_budget"] is True


def test_basic_composition_is_labelled_with_its_summed_delta(sigmas):
    ledger = planned_ledger(sigmas)
    for n in Q:
        ledger.spend(n, sigmas[n], Q[n], STEPS[n])
    total = ledger.total()
    assert total["delta"] == DELTA and total["delta_basic_composition"] == pytest.approx(2 * DELTA)
    assert any("delta_basic_composition" in note for note in ledger.notes())


def test_the_guarantee_is_stated_for_zero_out_neighbours_with_n_public(sigmas):
    """privacy.json and the release state N (and the sample rate B/N and the steps imply it). Under
    add/remove-one, whose neighbours differ in N, that would not be DP; the guarantee is for zero-out
    neighbours (one record replaced by a null record: same N), which is what the Poisson-subsampled
    Gaussian accountants compute, and for replace-one at (2 eps, (1 + e^eps) delta). The ledger, the
    data set statement and the release README say the same."""
    from rewardds.data.loaders import describe_private_set
    from rewardds.release import _readme, guarantee_text

    ledger = planned_ledger(sigmas)
    for n in Q:
        ledger.spend(n, sigmas[n], Q[n], STEPS[n])
    ledger.private_data = describe_private_set("train.json", 32, None, 0)
    d = json.loads(json.dumps(ledger.to_dict()))
    total = d["total"]
    assert total["neighbouring"] == "zero-out" and "null record" in d["neighbouring"]
    assert total["replace_one"]["epsilon"] == pytest.approx(2 * total["epsilon"])
    assert total["replace_one"]["delta"] == pytest.approx((1 + math.exp(total["epsilon"])) * DELTA)
    assert any("zero-out" in note for note in d["notes"])
    statement = d["private_data"]["statement"]
    assert "32 records" in statement and "public" in statement and "zero-out" in statement
    for text in (guarantee_text(d), _readme(d, sorted(Q))):
        assert "null record" in text and "replace" in text and f"{total['replace_one']['epsilon']:.4g}" in text
        assert "adding or removing" not in text
