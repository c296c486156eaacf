"""The statistics of the privacy audit: membership inference, and the epsilon lower bound from canaries.

* **Loss-based membership inference**: ROC AUC (:func:`auc`), TPR at a fixed FPR
  (:func:`tpr_at_fpr`) and the epsilon a threshold attack seems to show
  (:func:`threshold_eps_estimate`: a heuristic, not a bound, since the scored records share one
  model).
* **Epsilon lower bound from the canaries** (:func:`canary_eps_lower_bound`): without a canary
  its true secret ranks <= k with probability exactly k / (R + 1); DP caps how far training can
  raise that, which a one-run tail bound turns into a (1 - alpha)-confidence lower bound on the
  epsilon of one canary, valid although the canaries share one model.

Numbers in, numbers out: no model and no record text here.
"""
from __future__ import annotations

import math

import numpy as np

FPR_LEVELS = (0.01, 0.1)

ALPHA = 0.05  # 95%: the canary bound is one-sided at ALPHA; the MIA's Clopper-Pearson bounds each at ALPHA / 2

CANARY_BOUND_METHOD = (
    "(1 - alpha)-confidence lower bound on one canary's epsilon (in vs out), from one run: without it, the true "
    "secret ranks <= k among its R + 1 candidates (ties counted against it) with probability k / (R + 1); "
    "(eps, delta)-DP bounds the chance that any j canaries all rank <= k by b_j = p^j + delta (1 + ... + p^(j-1)), "
    "p = e^eps k / (R + 1), whatever their dependence; the count of canaries ranking <= k then rules out eps "
    "when C(n, j) b_j / C(count, j) <= level_k for some j; k in 1, 2, 4, ... <= (R + 1) / 2, level alpha / 2 "
    "for k = 1 and alpha / 2 shared by the other cutoffs (Bonferroni); the largest eps ruled out, floored at 0, "
    "at most log(R + 1)")



# --------------------------------------------------------------------------- membership inference


def auc(member_scores, nonmember_scores) -> float:
    """ROC AUC = P(member score > non-member score) + 0.5 P(tie) (Mann-Whitney, average ranks)."""
    from scipy.stats import rankdata

    m = np.asarray(member_scores, dtype=float)
    n = np.asarray(nonmember_scores, dtype=float)
    if len(m) == 0 or len(n) == 0:
        return float("nan")
    r = rankdata(np.concatenate([m, n]))
    return float((r[: len(m)].sum() - len(m) * (len(m) + 1) / 2) / (len(m) * len(n)))


def _counts(member_scores, nonmember_scores):
    """For each threshold t (every distinct score, plus +inf): #members and #non-members with score >= t."""
    m = np.sort(np.asarray(member_scores, dtype=float))
    n = np.sort(np.asarray(nonmember_scores, dtype=float))
    thr = np.unique(np.concatenate([m, n, [np.inf]]))
    tp = len(m) - np.searchsorted(m, thr, side="left")
    fp = len(n) - np.searchsorted(n, thr, side="left")
    return thr, tp, fp


def tpr_at_fpr(member_scores, nonmember_scores, fpr: float) -> float:
    """Largest empirical TPR over thresholds whose empirical FPR is <= ``fpr`` (no interpolation).

    A step (conservative) reading of the ROC curve, as in Carlini et al. 2022 (LiRA);
    with n non-members, an FPR below 1/n means no false positive at all.
    """
    _, tp, fp = _counts(member_scores, nonmember_scores)
    n1, n0 = len(member_scores), len(nonmember_scores)
    ok = fp / n0 <= fpr + 1e-12
    return float((tp[ok] / n1).max()) if ok.any() else 0.0


def clopper_pearson(k, n, alpha: float = ALPHA) -> tuple[np.ndarray, np.ndarray]:
    """Exact binomial bounds: (lower, upper), each one-sided at level ``alpha / 2``."""
    from scipy.stats import beta

    k = np.asarray(k, dtype=float)
    n = np.asarray(n, dtype=float)
    with np.errstate(invalid="ignore"):
        lo = np.where(k > 0, beta.ppf(alpha / 2, np.maximum(k, 1e-300), n - k + 1), 0.0)
        hi = np.where(k < n, beta.ppf(1 - alpha / 2, k + 1, np.maximum(n - k, 1e-300)), 1.0)
    return lo, hi


def threshold_eps_estimate(member_scores, nonmember_scores, delta: float, alpha: float = ALPHA) -> dict:
    """Epsilon a threshold attack ("member" iff score >= t) seems to show: a heuristic, NOT a bound.

    For every threshold t: ``log((TPR_low - delta) / FPR_high)`` and the symmetric
    ``log((TNR_low - delta) / FNR_high)``, with Clopper-Pearson bounds each one-sided
    at ``alpha / 2`` (so TPR_low and FPR_high hold together with probability >= 1 - alpha);
    the maximum over thresholds and both directions, floored at 0.

    This is a lower bound only when every score comes from its own training run (the
    multi-run audits of Jagielski et al. 2020 / Nasr et al. 2021). On the members and
    held-out records of ONE model the scores are not independent trials, the split has a
    fixed size (no record's membership is an independent coin), and the threshold and
    direction are picked on the same samples without correction: no guarantee holds, so
    the audit reports it as a heuristic. :func:`canary_eps_lower_bound` is the bound.
    """
    m = np.asarray(member_scores, dtype=float)
    n = np.asarray(nonmember_scores, dtype=float)
    n1, n0 = len(m), len(n)
    out = {"eps": 0.0, "direction": None, "threshold": None, "tpr": None, "fpr": None, "alpha": alpha,
           "delta": delta, "members": n1, "nonmembers": n0}
    if n1 == 0 or n0 == 0:
        return out
    thr, tp, fp = _counts(m, n)
    tpr_lo, _ = clopper_pearson(tp, n1, alpha)
    _, fpr_hi = clopper_pearson(fp, n0, alpha)
    tnr_lo, _ = clopper_pearson(n0 - fp, n0, alpha)
    _, fnr_hi = clopper_pearson(n1 - tp, n1, alpha)
    with np.errstate(divide="ignore", invalid="ignore"):
        e1 = np.where((tpr_lo - delta > 0) & (fpr_hi > 0), np.log(np.maximum(tpr_lo - delta, 1e-300) / fpr_hi), -np.inf)
        e2 = np.where((tnr_lo - delta > 0) & (fnr_hi > 0), np.log(np.maximum(tnr_lo - delta, 1e-300) / fnr_hi), -np.inf)
    i1, i2 = int(np.argmax(e1)), int(np.argmax(e2))
    best, i, direction = (e1[i1], i1, "tpr/fpr") if e1[i1] >= e2[i2] else (e2[i2], i2, "tnr/fnr")
    if best > 0:
        out.update(eps=float(best), direction=direction, threshold=float(thr[i]), tpr=float(tp[i] / n1),
                   fpr=float(fp[i] / n0))
    return out


# --------------------------------------------------------------------------- the canary bound


def pessimistic_ranks(nll_table) -> np.ndarray:
    """Rank of each true secret among its candidates with ties and unscored (NaN) candidates counted
    AGAINST it: ``1 + #{references whose NLL is not above the true secret's}`` (a NaN true NLL ranks
    last). :func:`canary_eps_lower_bound` needs this: with it, at most k candidates can rank <= k, so
    a secret the model never saw ranks <= k with probability at most k / (R + 1)."""
    t = np.asarray(nll_table, dtype=float)
    if t.ndim != 2 or t.shape[1] < 2:
        raise ValueError("expected a 2-D table: [true, reference_1, ..., reference_R] per row")
    return 1 + np.sum(~(t[:, 1:] > t[:, :1]), axis=1)


def rank_cutoffs(num_candidates: int) -> np.ndarray:
    """The cutoffs k tried by the canary bound: 1, 2, 4, ... up to half the candidates (at least 1).
    Fixed by the candidate count alone, before any rank is seen (a larger k could show at most
    log(candidates / k) < log 2)."""
    ks = [1]
    while ks[-1] * 2 <= num_candidates / 2:
        ks.append(ks[-1] * 2)
    return np.asarray(ks, dtype=int)


def cutoff_levels(num_cutoffs: int, alpha: float) -> np.ndarray:
    """Significance level of each cutoff, summing to ``alpha`` (weighted Bonferroni): half for k = 1
    (the secret extracted outright: what a leaking model shows, and where delta costs most), the other
    half shared by the larger cutoffs (partial leaks)."""
    if num_cutoffs == 1:
        return np.array([alpha])
    return np.r_[alpha / 2, np.full(num_cutoffs - 1, alpha / 2 / (num_cutoffs - 1))]


def _tail_eps(n: int, k: int, m: int, delta: float, level: float) -> np.ndarray:
    """For s = 0..n: the largest eps that s of n canaries ranking <= k among m candidates rule out at
    significance ``level`` (-inf where none is ruled out); indexed by s.

    Under (eps, delta)-DP for each canary (in vs out; out, its secret is exchangeable with its
    m - 1 references) any j given canaries all rank <= k with probability at most
    ``b_j = p^j + delta (1 + p + ... + p^(j-1))``, ``p = e^eps k / m`` (induction over the canaries,
    removing one at a time), whatever the dependence between them (one model). Hence
    ``P(S >= s) <= E[C(S, j)] / C(s, j) <= C(n, j) b_j / C(s, j)`` for every j <= s. eps is ruled
    out when that is <= level for some j; b_j grows with p, so the largest such p is found by
    bisection per j.
    """
    from scipy.special import gammaln

    s = np.arange(n + 1, dtype=float)[:, None]
    j = np.arange(1, n + 1, dtype=float)[None, :]
    ok = j <= s
    # log(C(n, j) / C(s, j)) - log(level), where j <= s
    base = np.where(ok, gammaln(n + 1) - gammaln(n - j + 1) - gammaln(s + 1) + gammaln(np.maximum(s - j, 0) + 1)
                    - math.log(level), 0.0)

    def ruled_out(p):  # C(n, j) b_j(p) / C(s, j) <= level
        geo = np.where(p < 1, (1 - p ** j) / np.where(p < 1, 1 - p, 1.0), j)  # 1 + p + ... + p^(j-1)
        with np.errstate(divide="ignore"):
            return ok & (base + np.log(p ** j + delta * geo) <= 0)

    lo, hi = np.zeros(ok.shape), np.ones(ok.shape)
    feasible = ruled_out(lo) if delta > 0 else ok  # delta = 0: p -> 0 always qualifies
    for _ in range(60):
        mid = (lo + hi) / 2
        good = ruled_out(mid)
        lo, hi = np.where(good, mid, lo), np.where(good, hi, mid)
    with np.errstate(divide="ignore"):
        eps = np.where(feasible & (lo > 0), np.log(np.maximum(lo, 1e-300) * m / k), -np.inf)
    return eps.max(axis=1)


def _canary_eps_table(ranks, num_references: int, delta: float, alpha: float):
    """(eps per cutoff, shape (..., K); successes per cutoff; the cutoffs) for true-secret ranks (..., n)."""
    r = np.asarray(ranks)
    m = int(num_references) + 1
    if r.ndim < 1 or r.shape[-1] < 1:
        raise ValueError("expected at least one canary rank")
    if np.any(r < 1) or np.any(r > m) or not np.all(np.asarray(r) == np.round(r)):
        raise ValueError(f"ranks must be integers in [1, {m}] (num_references + 1 candidates)")
    if not (0 <= delta < 1 and 0 < alpha < 1):
        raise ValueError(f"need 0 <= delta < 1 and 0 < alpha < 1, got delta={delta}, alpha={alpha}")
    ks = rank_cutoffs(m)
    n = r.shape[-1]
    succ = np.stack([np.sum(r <= k, axis=-1) for k in ks], axis=-1)
    levels = cutoff_levels(len(ks), alpha)
    eps = np.stack([_tail_eps(n, int(k), m, delta, float(levels[i]))[succ[..., i]] for i, k in enumerate(ks)], axis=-1)
    return eps, succ, ks


def canary_eps_bounds(ranks, num_references: int, delta: float, alpha: float = ALPHA) -> np.ndarray:
    """Canary epsilon lower bound (see :func:`canary_eps_lower_bound`) for each row of ``ranks``
    (shape (..., canaries)), vectorised for simulations; floored at 0."""
    eps, _, _ = _canary_eps_table(ranks, num_references, delta, alpha)
    return np.maximum(eps.max(axis=-1), 0.0)


def canary_eps_lower_bound(ranks, num_references: int, delta: float, alpha: float = ALPHA) -> dict:
    """A (1 - alpha)-confidence lower bound on the epsilon of one canary (in vs out), from one run.

    Without canary i its true secret is exchangeable with its R references, so under the exact
    null it ranks <= k with probability k / (R + 1) (ties counted against it: use
    :func:`pessimistic_ranks`); (eps, delta)-DP lets training raise that to at most
    ``e^eps k / (R + 1) + delta``. The canaries share one model, so they are not independent
    trials: the tail bound of :func:`_tail_eps` holds for any dependence (delta accumulates
    over the canaries rather than counting once per trial). For each cutoff k of
    :func:`rank_cutoffs` the count of canaries ranking <= k rules out every eps whose tail bound
    is <= that cutoff's level (:func:`cutoff_levels`: alpha split over the cutoffs, Bonferroni);
    so all cutoffs hold together with probability >= 1 - alpha. The bound is the largest eps ruled out,
    floored at 0, and at most log(R + 1). If each canary is several records (canary_repeats > 1)
    the bound is on that group's epsilon.
    """
    eps, succ, ks = _canary_eps_table(np.asarray(ranks)[None], num_references, delta, alpha)
    i = int(np.argmax(eps[0]))
    best = float(eps[0, i])
    out = {"eps_lb": max(best, 0.0), "k": None, "successes": None, "canaries": int(np.asarray(ranks).size),
           "candidates": int(num_references) + 1, "cutoffs": ks.tolist(), "alpha": alpha, "delta": delta}
    if best > 0:
        out.update(k=int(ks[i]), successes=int(succ[0, i]))
    return out
