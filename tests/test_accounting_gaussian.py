"""The accountant on Gaussian mechanisms WITHOUT subsampling (Private Evolution's histograms).

A Poisson-subsampled Gaussian at sample rate 1 is exactly the Gaussian mechanism, so T
histogram releases at noise sigma (L2 sensitivity 1) are one Mechanism(q=1, steps=T). These
tests prove the existing PRV and RDP code computes that composition correctly, against
Google's dp_accounting and the Gaussian-DP closed form (T rounds = sqrt(T)/sigma-GDP).
"""
from __future__ import annotations

import math

import pytest
from scipy.stats import norm

from rewardds.privacy.accounting import calibrate, epsilon, gaussian_mechanism

DELTA = 1e-5
CASES = [(1.0, 1), (1.0, 2), (2.0, 5), (5.0, 10), (0.8, 3)]


def gdp_delta(eps: float, mu: float) -> float:
    """delta(eps) of mu-GDP: Phi(-eps/mu + mu/2) - e^eps Phi(-eps/mu - mu/2) (Dong, Roth, Su 2019)."""
    return float(norm.cdf(-eps / mu + mu / 2) - math.exp(eps) * norm.cdf(-eps / mu - mu / 2))


def dp_accounting_epsilon(sigma: float, rounds: int, kind: str) -> float:
    import dp_accounting
    from dp_accounting import pld, rdp

    acc = pld.PLDAccountant() if kind == "pld" else rdp.RdpAccountant()
    acc.compose(dp_accounting.GaussianDpEvent(sigma), rounds)
    return float(acc.get_epsilon(DELTA))


def test_gaussian_mechanism_is_the_unsubsampled_mechanism():
    m = gaussian_mechanism("pe_histograms", 2.0, 5)
    assert (m.sample_rate, m.steps, m.noise_multiplier) == (1.0, 5, 2.0)


@pytest.mark.parametrize("sigma,rounds", CASES)
def test_prv_matches_dp_accounting_pld_and_the_gdp_closed_form(sigma, rounds):
    eps = epsilon([gaussian_mechanism("pe", sigma, rounds)], DELTA, "prv")
    reference = dp_accounting_epsilon(sigma, rounds, "pld")
    mu = math.sqrt(rounds) / sigma
    # the PRV result is a rigorous upper bound within its eps_error (<= 0.01) of the truth
    assert reference <= eps + 1e-6 and eps <= reference + 0.011 + 0.003 * reference, (eps, reference)
    # the closed form: at the reference epsilon, the GDP delta is the target delta
    assert gdp_delta(reference, mu) == pytest.approx(DELTA, rel=1e-3)
    assert gdp_delta(eps, mu) <= DELTA * (1 + 1e-6)  # our epsilon is never below the true one


@pytest.mark.parametrize("sigma,rounds", CASES)
def test_rdp_matches_dp_accounting_rdp(sigma, rounds):
    eps = epsilon([gaussian_mechanism("pe", sigma, rounds)], DELTA, "rdp")
    assert eps == pytest.approx(dp_accounting_epsilon(sigma, rounds, "rdp"), rel=2e-3)


def test_calibration_for_t_rounds_hits_the_budget():
    """The noise the planner picks for T rounds at epsilon 4 gives epsilon within 1 % under 4 (GDP closed form)."""
    sigma = calibrate(1.0, 3, 4.0, DELTA)
    true_eps = dp_accounting_epsilon(sigma, 3, "pld")
    assert 0.985 * 4.0 <= true_eps <= 4.0


def test_pe_component_is_planned_as_q1_and_t_steps():
    """The pipeline's planner sees PE's DPUse as q = 1 and steps = rounds, whatever the number of records."""
    from pathlib import Path

    from rewardds.pipeline import privacy_plan
    from tests.conftest import compose_cfg

    cfg = compose_cfg(["experiment=smoke", "method=pe", "method.rounds=3", "dp.epsilon=4"], Path("/nonexistent"),
                      None)
    plan, ledger = privacy_plan(cfg, 37)
    assert set(plan) == {"pe_histograms"}
    p = plan["pe_histograms"]
    assert (p["sample_rate"], p["steps"]) == (1.0, 3)
    assert 0.985 * 4 <= dp_accounting_epsilon(p["noise_multiplier"], 3, "pld") <= 4.0


def test_method_noise_multiplier_overrides_calibration():
    from pathlib import Path

    from rewardds.pipeline import privacy_plan
    from tests.conftest import compose_cfg

    cfg = compose_cfg(["experiment=smoke", "method=pe", "method.rounds=2", "method.noise_multiplier=3.0",
                       "dp.epsilon=4"], Path("/nonexistent"), None)
    plan, _ = privacy_plan(cfg, 37)
    assert plan["pe_histograms"]["noise_multiplier"] == 3.0
    cfg = compose_cfg(["experiment=smoke", "method=pe", "method.rounds=2", "method.noise_multiplier=0.5",
                       "dp.epsilon=1"], Path("/nonexistent"), None)
    from rewardds.errors import PrivacyError

    with pytest.raises(PrivacyError, match="pe_histograms"):
        privacy_plan(cfg, 37)
