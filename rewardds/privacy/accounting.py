"""Privacy accounting for the DP-SGD runs of a release, and budget planning.

Every DP model of a release is a Poisson-subsampled Gaussian mechanism
(DP-SGD): ``steps`` steps, sample rate ``q``, noise multiplier ``sigma``. The
two proxies are trained on the SAME private records, so the guarantee of the
release is the composition of both mechanisms. :func:`epsilon` composes them
with an accountant (opacus PRV by default: numerical composition of the
privacy-loss distributions, tight; or RDP: looser). Adding the per-model
epsilons is a valid but loose bound and is never used as the guarantee.

Neighbouring relation: the accountants compute the Poisson-subsampled Gaussian's pair
(mixture (1-q) N(0, sigma^2) + q N(1, sigma^2) vs N(0, sigma^2), at a fixed q and T).
That is the add/remove-one pair and equally the zero-out pair (one record replaced by a
null record contributing a zero gradient, N unchanged). The release states N and a
sample rate B/N computed from it, which only zero-out (or replace-one) neighbours share,
so the guarantee is worded for zero-out; replace-one follows at (2 eps, (1 + e^eps)
delta) (rewardds.privacy.ledger).

PRV accuracy. The PRV accountant returns a rigorous *upper* bound
``estimate + eps_error`` (and accounts for ``delta_error = delta / 1000``).
opacus' default ``eps_error = 0.01`` is absolute, i.e. 1 % of epsilon at
epsilon = 1, which is too coarse for calibration; here ``eps_error`` is chosen
per query as about 0.25 % of the expected epsilon (clamped to [1e-3, 1e-2]),
and coarsened only when the discretisation grid would not fit in memory (which
only happens for very large epsilons, where the result remains a valid upper
bound).

Gaussian mechanisms without subsampling (Private Evolution's noisy histograms,
L2 sensitivity 1) are the same mechanism at sample rate 1: :func:`gaussian_mechanism`.
Both accountants are exact there (opacus' PRV at q = 1 is the Gaussian privacy-loss
distribution N(1/(2 sigma^2), 1/sigma^2), its RDP is alpha / (2 sigma^2)); T releases at
noise sigma are sqrt(T)/sigma-GDP (tests/test_accounting_gaussian.py checks this
against dp_accounting and the closed form).
"""
from __future__ import annotations

import functools
import logging
import math
import numbers
import warnings
from dataclasses import dataclass
from typing import Iterable

import numpy as np

from rewardds.errors import PrivacyError

log = logging.getLogger(__name__)

ACCOUNTANTS = ("prv", "rdp")
MAX_SIGMA = 1e3  # largest noise multiplier calibration will consider
MIN_SIGMA = 1e-3  # smallest noise multiplier calibration will return

# RDP orders: opacus' defaults plus larger ones (tighter bounds for large epsilon
# / few steps, where the optimum otherwise sits at the largest default order).
RDP_ORDERS = tuple([1 + x / 10.0 for x in range(1, 100)] + list(range(12, 64))
                   + [64, 80, 96, 128, 160, 192, 256, 384, 512])

_PRV_MAX_POINTS = 2_000_000  # discretisation grid cap (memory ~ 100-200 MB, ~1 s)
_PRV_MAX_EPS_ERROR = 0.5  # opacus' domain bound is only claimed for eps_error < 1


# ---------------------------------------------------------------------------
# mechanisms and epsilon
# ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Mechanism:
    """One DP-SGD training run: Poisson-subsampled Gaussian, ``steps`` times."""

    name: str
    noise_multiplier: float
    sample_rate: float
    steps: int

    def __post_init__(self):
        sigma, q, steps = self.noise_multiplier, self.sample_rate, self.steps
        if not isinstance(sigma, numbers.Real) or math.isnan(sigma) or sigma < 0:
            raise PrivacyError(f"mechanism '{self.name}': noise_multiplier must be >= 0, got {sigma!r}")
        if not isinstance(q, numbers.Real) or not (0 < q <= 1):
            raise PrivacyError(f"mechanism '{self.name}': sample_rate must be in (0, 1], got {q!r}")
        if isinstance(steps, bool) or not isinstance(steps, (int, np.integer)) or steps < 0:
            raise PrivacyError(f"mechanism '{self.name}': steps must be an integer >= 0, got {steps!r}")


def gaussian_mechanism(name: str, noise_multiplier: float, releases: int) -> Mechanism:
    """``releases`` Gaussian mechanisms of L2 sensitivity 1 at noise ``noise_multiplier``, without
    subsampling: every record takes part in every release (sample rate 1)."""
    return Mechanism(name, noise_multiplier, 1.0, releases)


def _check_delta(delta) -> float:
    if not isinstance(delta, numbers.Real) or not (0 < delta < 1):
        raise PrivacyError(f"delta must be in (0, 1), got {delta!r} (config key dp.delta)")
    return float(delta)


def _check_accountant(accountant: str) -> str:
    if accountant not in ACCOUNTANTS:
        raise PrivacyError(f"unknown accountant '{accountant}' (config key dp.accountant): use one of {ACCOUNTANTS}")
    return accountant


def epsilon(mechs: Iterable[Mechanism], delta: float, accountant: str = "prv") -> float:
    """Epsilon at ``delta`` of the composition of all ``mechs``.

    Mechanisms with ``steps == 0`` are ignored (0.0 when none is left); a
    mechanism with ``noise_multiplier == 0`` and steps > 0 gives ``inf``.
    """
    delta = _check_delta(delta)
    _check_accountant(accountant)
    history = []
    for m in mechs:
        if not isinstance(m, Mechanism):
            raise TypeError(f"expected Mechanism, got {type(m).__name__}")
        if m.steps == 0:
            continue
        if m.noise_multiplier == 0:
            return float("inf")
        history.append((float(m.noise_multiplier), float(m.sample_rate), int(m.steps)))
    if not history:
        return 0.0
    # infinite noise: no privacy loss; identical (sigma, q) runs are one longer run
    merged: dict[tuple[float, float], int] = {}
    for s, q, n in history:
        if not math.isinf(s):
            merged[(s, q)] = merged.get((s, q), 0) + n
    if not merged:
        return 0.0
    return _epsilon_cached(tuple(sorted((s, q, n) for (s, q), n in merged.items())), delta, accountant)


@functools.lru_cache(maxsize=8192)
def _epsilon_cached(history: tuple, delta: float, accountant: str) -> float:
    with warnings.catch_warnings(), np.errstate(all="ignore"):
        warnings.simplefilter("ignore")
        if accountant == "rdp":
            return _rdp_epsilon(history, delta)
        eps = _prv_epsilon(history, delta)
        if eps is None or not math.isfinite(eps):
            # grid too large / numerically hopeless: the RDP bound is a valid
            # (looser) upper bound; this only happens for very large epsilons.
            eps = _rdp_epsilon(history, delta)
            log.warning("PRV accountant not usable for %s (epsilon this large); reporting the RDP bound %.4g",
                        history, eps)
        return eps


def _rdp_epsilon(history: tuple, delta: float) -> float:
    from opacus.accountants import RDPAccountant

    acc = RDPAccountant()
    acc.history = list(history)
    try:
        return float(acc.get_epsilon(delta=delta, alphas=list(RDP_ORDERS)))
    except (ValueError, OverflowError, FloatingPointError):
        return float("inf")


def _prv_epsilon(history: tuple, delta: float):
    """opacus PRVAccountant.get_epsilon (same algorithm and error terms), with a chosen
    eps_error, a grid cap, and a cheaper safe-domain bound (see _safe_domain_size)."""
    from opacus.accountants.analysis.prv import (
        Domain,
        PoissonSubsampledGaussianPRV,
        TruncatedPrivacyRandomVariable,
        compose_heterogeneous,
        discretize,
    )

    delta_error = delta / 1000
    eps_error = _prv_eps_error(history, delta)
    prvs = [PoissonSubsampledGaussianPRV(q, s) for s, q, _ in history]
    counts = [n for _, _, n in history]
    total = sum(counts)
    try:
        half_width = _safe_domain_size(history, eps_error, delta_error)
    except (ValueError, OverflowError, FloatingPointError):
        return None
    if not math.isfinite(half_width):
        return None
    spread = math.sqrt(total * math.log(12 / delta_error) / 2)
    # grid points = 2 L / mesh with mesh = eps_error / spread: coarsen eps_error if needed
    needed = 2 * half_width * spread / _PRV_MAX_POINTS
    if needed > eps_error:
        if needed > _PRV_MAX_EPS_ERROR:
            return None
        eps_error = needed
        half_width = _safe_domain_size(history, eps_error, delta_error)
    try:
        domain = Domain.create_aligned(-half_width, half_width, eps_error / spread)
        tprvs = [TruncatedPrivacyRandomVariable(p, domain.t_min, domain.t_max) for p in prvs]
        dprvs = [discretize(t, domain) for t in tprvs]
        composed = compose_heterogeneous(dprvs=dprvs, num_self_compositions=counts)
        _, _, eps_upper = composed.compute_epsilon(delta, delta_error, eps_error)
    except (RuntimeError, ValueError, OverflowError, MemoryError):
        return None
    eps_upper = float(eps_upper)
    return max(eps_upper, 0.0) if math.isfinite(eps_upper) else None


# integer RDP orders only: fast to evaluate; any set of orders gives a valid bound
_DOMAIN_ORDERS = tuple(range(2, 65)) + (80, 96, 128, 160, 192, 256)


@functools.lru_cache(maxsize=4096)
def _rdp_per_step(sigma: float, q: float):
    from opacus.accountants.analysis.rdp import compute_rdp

    return np.asarray(compute_rdp(q=q, noise_multiplier=sigma, steps=1, orders=list(_DOMAIN_ORDERS)), dtype=float)


def _safe_domain_size(history: tuple, eps_error: float, delta_error: float) -> float:
    """opacus' compute_safe_domain_size (Gopi et al., remark 5.6), with RDP evaluated at
    integer orders only and the per-step RDP computed once per (sigma, q).

    opacus also uses fractional orders, which are slow to evaluate for large q; a
    subset of orders can only give a larger (still safe) domain.
    """
    from opacus.accountants.analysis.rdp import get_privacy_spent

    orders = list(_DOMAIN_ORDERS)
    total_steps = sum(n for _, _, n in history)
    per_step = [_rdp_per_step(s, q) for s, q, _ in history]
    composed = sum(n * r for (_, _, n), r in zip(history, per_step))
    bound = get_privacy_spent(orders=orders, rdp=composed, delta=delta_error / 4)[0]
    for r in per_step:
        bound = max(bound, get_privacy_spent(orders=orders, rdp=r, delta=delta_error / (8 * total_steps))[0])
    return max(float(bound), eps_error) + 3


def _prv_eps_error(history: tuple, delta: float) -> float:
    hint = _clt_epsilon(history, delta)
    if not math.isfinite(hint):
        return 0.01
    return float(min(0.01, max(1e-3, 0.0025 * hint)))


# --- cheap approximations (hints only: never used as a guarantee) -----------


def _clt_mu(history) -> float:
    """mu of the CLT Gaussian-DP approximation (Bu et al. 2019) of the composition."""
    total = 0.0
    for s, q, n in history:
        if s == 0:
            return float("inf")
        x = 1.0 / (s * s)
        if x > 700:
            return float("inf")
        total += q * q * n * math.expm1(x)
    return math.sqrt(total)


def _gdp_delta(eps: float, mu: float) -> float:
    from scipy.special import log_ndtr, ndtr

    return float(ndtr(-eps / mu + mu / 2) - math.exp(eps + log_ndtr(-eps / mu - mu / 2)))


def _gdp_epsilon(mu: float, delta: float) -> float:
    if mu == 0:
        return 0.0
    if not math.isfinite(mu) or mu > 50:
        return float("inf")
    if _gdp_delta(0.0, mu) <= delta:
        return 0.0
    hi = 1.0
    while _gdp_delta(hi, mu) > delta:
        hi *= 2
    lo = 0.0
    for _ in range(60):
        mid = (lo + hi) / 2
        if _gdp_delta(mid, mu) > delta:
            lo = mid
        else:
            hi = mid
    return hi


def _clt_epsilon(history, delta: float) -> float:
    return _gdp_epsilon(_clt_mu(history), delta)


def _clt_sigma_guess(sample_rate: float, steps: int, target_epsilon: float, delta: float) -> float:
    """Noise multiplier at which the CLT approximation reaches ``target_epsilon``."""
    lo, hi = 0.0, 60.0  # mu range
    if _gdp_epsilon(hi, delta) <= target_epsilon:
        return MIN_SIGMA
    for _ in range(60):
        mid = (lo + hi) / 2
        if _gdp_epsilon(mid, delta) > target_epsilon:
            hi = mid
        else:
            lo = mid
    mu = lo
    if mu <= 0:
        return MAX_SIGMA
    arg = math.log1p((mu / sample_rate) ** 2 / steps)
    return float(min(MAX_SIGMA, max(MIN_SIGMA, 1.0 / math.sqrt(arg))))


# ---------------------------------------------------------------------------
# calibration
# ---------------------------------------------------------------------------


def _solve_decreasing(f, target: float, tolerance: float, x0: float, xmin: float, xmax: float,
                      what: str, model=None) -> float:
    """Find x in [xmin, xmax] with (1 - tolerance) * target <= f(x) <= target, f decreasing.

    Returns a feasible point (f(x) <= target), within the tolerance unless the
    search is exhausted; raises PrivacyError when even f(xmax) > target.

    ``model`` is a cheap approximation of f (same shape, maybe off by a slowly
    varying factor): the first steps solve ``model(x) * f(x_last) / model(x_last)
    = aim``, then regula falsi (Illinois) on log f versus log x.
    """
    low_ok = (1 - tolerance) * target
    aim_val = target * (1 - tolerance / 2)  # middle of the acceptance window
    aim = math.log(aim_val)

    def g(x):
        val = f(x)
        if not math.isfinite(val):
            return val, math.inf
        return val, (math.log(val) - aim if val > 0 else -math.inf)

    def ok(val):
        return low_ok <= val <= target

    def propose(x, val, gx, prev=None):
        """Next point from x, moving up when gx > 0 (too little noise) and down otherwise:
        secant through the last two points if there are two, else the model, else slope -1."""
        up = gx > 0
        guess = None
        if prev is not None and math.isfinite(gx) and math.isfinite(prev[1]) and prev[1] != gx:
            u, u_prev = math.log(x), math.log(prev[0])
            du = -gx * (u - u_prev) / (gx - prev[1])
            if (du > 0) == up:
                guess = math.exp(u + 1.1 * du)  # overshoot a little to bracket
        if guess is None and model is not None and math.isfinite(val) and val > 0:
            guess = _model_solve(model, x, val, aim_val)
        if guess is None:  # log-log slope -1, overshooting a little
            guess = x * (8.0 if not math.isfinite(gx) else math.exp(1.1 * gx))
        factor = guess / x if up else x / guess
        factor = min(8.0, max(1.02, factor))
        return min(xmax, x * factor) if up else max(xmin, x / factor)

    x = min(xmax, max(xmin, x0))
    val, gx = g(x)
    if ok(val):
        return x
    lo = hi = None  # lo: f > aim (too little noise), hi: f < aim
    if gx > 0:
        lo, glo = x, gx
    else:
        hi, ghi = x, gx
    # --- bracket
    prev = None
    while lo is None or hi is None:
        if lo is not None and lo >= xmax:
            raise PrivacyError(f"{what}: epsilon {val:.4g} > target {target:.4g} even at {xmax:g}")
        if hi is not None and hi <= xmin:
            return hi  # even the smallest value considered stays under the target
        x_next = propose(x, val, gx, prev)
        prev = (x, gx)
        x = x_next
        val, gx = g(x)
        if ok(val):
            return x
        if gx > 0:
            lo, glo = x, gx
        else:
            hi, ghi = x, gx
    # --- one more model step inside the bracket, then Illinois
    if model is not None:
        x = propose(x, val, gx)
        if lo < x < hi:
            val, gx = g(x)
            if ok(val):
                return x
            if gx > 0:
                lo, glo = x, gx
            else:
                hi, ghi = x, gx
    ulo, uhi = math.log(lo), math.log(hi)
    side = 0
    for _ in range(60):
        if math.isfinite(glo) and math.isfinite(ghi) and ghi != glo:
            u = uhi - ghi * (uhi - ulo) / (ghi - glo)
            if not (min(ulo, uhi) < u < max(ulo, uhi)):
                u = (ulo + uhi) / 2
        else:
            u = (ulo + uhi) / 2
        x = math.exp(u)
        val, gx = g(x)
        if ok(val):
            return x
        if gx > 0:
            ulo, glo = u, gx
            if side == -1:
                ghi /= 2
            side = -1
        else:
            uhi, ghi = u, gx
            if side == 1:
                glo /= 2
            side = 1
        if abs(uhi - ulo) < 1e-12:
            break
    return math.exp(uhi)  # feasible (f < aim <= target), maybe not within tolerance


def _model_solve(model, x: float, val: float, aim_val: float):
    """x' with model(x') * val / model(x) = aim_val, searched in [x / 8, 8 x]; None if the model is no help."""
    try:
        m = model(x)
        if not (math.isfinite(m) and m > 0):
            return None
        want = aim_val * m / val
        lo, hi = math.log(x / 8), math.log(x * 8)
        if not (model(math.exp(lo)) > want > model(math.exp(hi))):
            return None
        for _ in range(40):
            mid = (lo + hi) / 2
            if model(math.exp(mid)) > want:
                lo = mid
            else:
                hi = mid
        return math.exp((lo + hi) / 2)
    except (ValueError, OverflowError, ZeroDivisionError):
        return None


def calibrate(sample_rate: float, steps: int, target_epsilon: float, delta: float,
              accountant: str = "prv", tolerance: float = 0.01) -> float:
    """Noise multiplier for one mechanism so that its epsilon is within
    ``[(1 - tolerance) * target_epsilon, target_epsilon]`` (never above).

    ``steps == 0``: 0.0 (no mechanism). Raises PrivacyError when the target cannot
    be reached with a noise multiplier up to MAX_SIGMA.
    """
    Mechanism("calibrate", 1.0, sample_rate, steps)  # validation
    _check_delta(delta)
    _check_accountant(accountant)
    if not (0 < tolerance < 1):
        raise PrivacyError(f"tolerance must be in (0, 1), got {tolerance!r} (config key dp.epsilon_tolerance)")
    if not (isinstance(target_epsilon, (int, float)) and target_epsilon > 0):
        raise PrivacyError(f"target epsilon must be > 0, got {target_epsilon!r} (config key dp.epsilon)")
    if steps == 0:
        return 0.0
    return _calibrate_cached(float(sample_rate), int(steps), float(target_epsilon), float(delta),
                             accountant, float(tolerance))


@functools.lru_cache(maxsize=1024)
def _calibrate_cached(q, steps, target, delta, accountant, tolerance) -> float:
    def f(sigma):
        return epsilon([Mechanism("calibrate", sigma, q, steps)], delta, accountant)

    x0 = _clt_sigma_guess(q, steps, target, delta)
    try:
        return _solve_decreasing(f, target, tolerance, x0, MIN_SIGMA, MAX_SIGMA,
                                 what=f"calibration (q={q:.4g}, steps={steps}, delta={delta:.3g})",
                                 model=lambda sigma: _clt_epsilon([(sigma, q, steps)], delta))
    except PrivacyError as exc:
        raise PrivacyError(
            f"privacy budget too small: epsilon {target:.4g} cannot be reached for q={q:.4g}, "
            f"steps={steps} with a noise multiplier up to {MAX_SIGMA:g} ({exc}); "
            "raise dp.epsilon (or train fewer steps / a smaller batch)") from None


# ---------------------------------------------------------------------------
# budget planning
# ---------------------------------------------------------------------------


@dataclass
class ComponentPlan:
    """One DP mechanism to plan: its share of the budget and its sampling schedule."""

    name: str
    share: float
    sample_rate: float
    steps: int


def plan_budget(components: list[ComponentPlan], epsilon_budget: float, delta: float,
                accountant: str = "prv", tolerance: float = 0.01) -> dict[str, float]:
    """Noise multiplier per component so that the COMPOSED epsilon fits the budget.

    1. each component alone is calibrated to ``share_i / sum(shares) * budget``
       (basic composition: valid but loose);
    2. all noise multipliers are scaled by one common factor ``c`` (normally
       ``c <= 1``) so that the composed epsilon (``accountant``) lies in
       ``[(1 - tolerance) * budget, budget]``.

    Components with ``steps == 0`` get 0.0 and take no part. Results are cached.
    """
    _check_delta(delta)
    _check_accountant(accountant)
    if not (isinstance(epsilon_budget, (int, float)) and math.isfinite(epsilon_budget) and epsilon_budget > 0):
        raise PrivacyError(f"privacy budget must be a finite number > 0, got {epsilon_budget!r} (config key dp.epsilon)")
    if not (0 < tolerance < 1):
        raise PrivacyError(f"tolerance must be in (0, 1), got {tolerance!r} (config key dp.epsilon_tolerance)")
    names = [c.name for c in components]
    if len(set(names)) != len(names):
        raise PrivacyError(f"plan_budget: duplicate component names {names}")
    key = []
    for c in components:
        Mechanism(c.name, 1.0, c.sample_rate, c.steps)  # validation
        if not (isinstance(c.share, (int, float)) and math.isfinite(c.share) and c.share > 0):
            raise PrivacyError(f"component '{c.name}': share must be > 0, got {c.share!r} (config key dp.split)")
        key.append((c.name, float(c.share), float(c.sample_rate), int(c.steps)))
    return dict(_plan_cached(tuple(key), float(epsilon_budget), float(delta), accountant, float(tolerance)))


@functools.lru_cache(maxsize=256)
def _plan_cached(key: tuple, budget: float, delta: float, accountant: str, tolerance: float):
    result = {name: 0.0 for name, _, _, _ in key}
    active = [k for k in key if k[3] > 0]
    if not active:
        return tuple(result.items())
    total_share = sum(share for _, share, _, _ in active)
    base = {}
    for name, share, q, steps in active:
        try:
            base[name] = calibrate(q, steps, share / total_share * budget, delta, accountant, tolerance)
        except PrivacyError as exc:
            raise PrivacyError(
                f"dp.epsilon={budget:g} is too small: component '{name}' (share {share / total_share:.3g} "
                f"of the budget, q={q:.4g}, steps={steps}) cannot reach epsilon "
                f"{share / total_share * budget:.4g} with a noise multiplier up to {MAX_SIGMA:g}; "
                "raise dp.epsilon or change dp.split / train fewer steps") from exc
    if len(active) > 1:
        def composed(c):
            return epsilon([Mechanism(n, c * base[n], q, s) for n, _, q, s in active], delta, accountant)

        cmax = MAX_SIGMA / max(base.values())
        cmin = MIN_SIGMA / max(min(base.values()), MIN_SIGMA)
        c0 = _clt_scale_guess(active, base, budget, delta, accountant)
        c = _solve_decreasing(composed, budget, tolerance, c0, min(cmin, 1.0), max(cmax, 1.0),
                              what=f"budget plan (dp.epsilon={budget:g})",
                              model=lambda c: _clt_epsilon([(c * base[n], q, s) for n, _, q, s in active], delta))
        base = {n: c * s for n, s in base.items()}
    result.update(base)
    return tuple(result.items())


def _clt_scale_guess(active, base, budget, delta, accountant) -> float:
    """First guess of the common factor c: the CLT approximation of the composed
    epsilon, rescaled by how far it is off for the components alone."""
    alone = sum(epsilon([Mechanism(n, base[n], q, s)], delta, accountant) for n, _, q, s in active)
    alone_clt = sum(_clt_epsilon([(base[n], q, s)], delta) for n, _, q, s in active)
    if not (math.isfinite(alone_clt) and alone_clt > 0 and alone > 0):
        return 1.0
    ratio = alone / alone_clt
    target = budget * (1 - 0.005) / ratio  # what the CLT approximation should reach
    lo, hi = 1e-3, 1.0
    composed_clt = lambda c: _clt_epsilon([(c * base[n], q, s) for n, _, q, s in active], delta)
    if composed_clt(hi) >= target:
        return 1.0
    for _ in range(40):
        mid = math.sqrt(lo * hi)
        if composed_clt(mid) > target:
            lo = mid
        else:
            hi = mid
    return hi


# ---------------------------------------------------------------------------
# sampling schedule
# ---------------------------------------------------------------------------


def poisson_steps(num_records: int, expected_batch: int, epochs: int) -> tuple[float, int]:
    """(q, steps) of Poisson sampling: q = expected_batch / N (at most 1) and
    steps = epochs * int(1 / q), the number of batches opacus' DPDataLoader
    draws per epoch."""
    if isinstance(num_records, bool) or not isinstance(num_records, (int, np.integer)) or num_records <= 0:
        raise PrivacyError(f"number of private records must be a positive integer, got {num_records!r}")
    if not isinstance(expected_batch, (int, float, np.integer)) or expected_batch <= 0:
        raise PrivacyError(f"expected batch size must be > 0, got {expected_batch!r}")
    if isinstance(epochs, bool) or not isinstance(epochs, (int, np.integer)) or epochs < 0:
        raise PrivacyError(f"epochs must be an integer >= 0, got {epochs!r}")
    q = min(1.0, expected_batch / num_records)
    return q, int(epochs) * int(1 / q)


def clear_caches() -> None:
    """Drop cached epsilons, calibrations and plans (tests, benchmarks)."""
    _epsilon_cached.cache_clear()
    _calibrate_cached.cache_clear()
    _rdp_per_step.cache_clear()
    _plan_cached.cache_clear()
