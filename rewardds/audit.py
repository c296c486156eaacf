"""Empirical privacy audit of the client's proxies (``audit=canary``).

Two attacks on the model the client trains first, the DP generation proxy, and
the canary attack on the reward proxy trained after it on the same records
(``audit.reward_proxy``, methods with one: a memorised canary makes the reward
proxy reward its true secret's answer above the reference secrets' answers;
scored as minus the reward, read like the NLL table below):

* **Canary exposure** (Carlini et al. 2019, "The Secret Sharer"). ``num_canaries``
  made-up records "What is the PIN code of <asker> <random name>?" /
  "The PIN code is <secret_digits random digits>." are added to the training
  records, each ``canary_repeats`` times. For each canary the log-perplexity of
  its true secret is compared with that of ``num_references`` other random
  secrets of the same format (never trained on):
  ``rank = 1 + #{references with lower log-perplexity}`` and
  ``exposure = log2(R + 1) - log2(rank)``. An untrained model gives a uniform
  rank; its expected exposure (the chance level) is
  ``log2(R + 1) - log2((R + 1)!) / (R + 1)`` (exact, ~1.44 for large R).
* **Loss-based membership inference** (score = minus the record's training
  loss: mean NLL of its answer tokens given the prompt, encoded and truncated
  exactly as in training). ``mia_members`` private records are held out BEFORE training (the
  non-members, same distribution); the members are ``mia_members`` of the
  records trained on. Reported: ROC AUC, TPR at FPR 1% / 10% and the epsilon a
  threshold attack seems to show (:func:`threshold_eps_estimate`: a heuristic, not a
  bound, since these records share one model).
* **Epsilon lower bound from the canaries** (:func:`canary_eps_lower_bound`): without
  a canary its true secret ranks <= k with probability exactly k / (R + 1); DP caps
  how far training can raise that, which a one-run tail bound turns into a
  95%-confidence lower bound on the epsilon of one canary, valid although the
  canaries share one model.

The DP plan is recomputed for the records actually trained on (private records
minus the held-out non-members, plus every canary copy), exactly as the
pipeline would plan it (the generation proxy gets its ``dp.split`` share of the
release budget); ``privacy.json`` then records the generation proxy alone.

``audit.json`` and ``audit.md`` are client-only (a ``visibility`` field and a first line say so): the
MIA figures are non-DP statistics of the private records. Only the exposure and the canary bound
(synthetic canaries and the model) reach the log and the tracker.

Nothing secret is logged: canary secrets appear in ``audit.json`` only as
SHA-256 hashes (a 6-digit secret's hash can be brute-forced, and the canaries
can be regenerated from the seed; they are synthetic, the hash is a habit, not
a protection) and no private text is written.
"""
from __future__ import annotations

import hashlib
import logging
import math
import time
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from omegaconf import DictConfig, OmegaConf

from rewardds.errors import ConfigError
from rewardds.io import json_safe, read_json, write_json, write_text
from rewardds.records import Record, TaskData

log = logging.getLogger(__name__)

STAGE = "audit_gen_proxy"
FPR_LEVELS = (0.01, 0.1)
ALPHA = 0.05  # 95%: the canary bound is one-sided at ALPHA; the MIA's Clopper-Pearson bounds each at ALPHA / 2
CHANCE_SIMS = 20000
CLIENT_ONLY_NOTE = ("CLIENT-ONLY: this report holds non-DP statistics of the private records (member and held-out "
                    "losses, membership-inference thresholds and rates); do not release it.")
CANARY_BOUND_METHOD = (
    "(1 - alpha)-confidence lower bound on one canary's epsilon (in vs out), from one run: without it, the true "
    "secret ranks <= k among its R + 1 candidates (ties counted against it) with probability k / (R + 1); "
    "(eps, delta)-DP bounds the chance that any j canaries all rank <= k by b_j = p^j + delta (1 + ... + p^(j-1)), "
    "p = e^eps k / (R + 1), whatever their dependence; the count of canaries ranking <= k then rules out eps "
    "when C(n, j) b_j / C(count, j) <= level_k for some j; k in 1, 2, 4, ... <= (R + 1) / 2, level alpha / 2 "
    "for k = 1 and alpha / 2 shared by the other cutoffs (Bonferroni); the largest eps ruled out, floored at 0, "
    "at most log(R + 1)")

_SYLLABLES = ("ka", "lo", "mi", "ren", "to", "sa", "vik", "dru", "bel", "na", "qu", "zor", "fen", "hal", "ju",
              "pe", "ran", "sul", "tor", "wy", "xe", "gan", "mor", "dis", "ola", "bri", "cen", "ef", "ilo", "yun")


# --------------------------------------------------------------------------- canaries


@dataclass(frozen=True)
class Canary:
    id: str
    name: str
    secret: str  # never logged; hashed in audit.json

    def question(self, task: str) -> str:
        from rewardds.chat import ASKER

        return f"What is the PIN code of {ASKER.get(task, 'patient')} {self.name}?"

    @property
    def answer(self) -> str:
        return canary_answer(self.secret)

    @property
    def secret_hash(self) -> str:
        return hashlib.sha256(f"{self.id}:{self.secret}".encode()).hexdigest()


def canary_answer(secret: str) -> str:
    return f"The PIN code is {secret}."


def _rng(seed: int, purpose: int) -> np.random.Generator:
    return np.random.default_rng([int(seed), 0xA0D17, purpose])


def _name(rng: np.random.Generator) -> str:
    def word():
        k = int(rng.integers(2, 4))
        return "".join(_SYLLABLES[int(i)] for i in rng.integers(0, len(_SYLLABLES), size=k)).capitalize()

    return f"{word()} {word()}"


def format_secret(value: int, digits: int) -> str:
    return str(int(value)).zfill(digits)


def make_canaries(num: int, digits: int, seed: int) -> list[Canary]:
    """``num`` canaries with distinct made-up names and uniform random secrets (seeded)."""
    rng = _rng(seed, 1)
    names: list[str] = []
    while len(names) < num:
        n = _name(rng)
        if n not in names:
            names.append(n)
    secrets = rng.integers(0, 10 ** digits, size=num)
    return [Canary(f"canary-{i}", names[i], format_secret(s, digits)) for i, s in enumerate(secrets)]


def reference_secrets(canary: Canary, num: int, digits: int, seed: int, index: int) -> list[str]:
    """``num`` distinct random secrets of the same format, all different from the canary's."""
    rng = _rng(seed, 1000 + index)
    space = 10 ** digits
    true = int(canary.secret)
    if num <= 20000 or num > space // 4:
        picks = rng.choice(space, size=min(space, num + 1), replace=False)
    else:  # huge spaces: sample with replacement and de-duplicate
        picks = np.unique(rng.integers(0, space, size=2 * num + 1))
        rng.shuffle(picks)
    picks = [int(p) for p in picks if int(p) != true][:num]
    return [format_secret(p, digits) for p in picks]


def canary_records(canaries: list[Canary], repeats: int, task: str) -> list[Record]:
    return [Record(id=f"{c.id}-copy{j}", question=c.question(task), answer=c.answer)
            for c in canaries for j in range(repeats)]


def split_private(records: list[Record], holdout: int, seed: int) -> tuple[list[Record], list[Record]]:
    """(trained members, held-out non-members): a seeded random split."""
    order = _rng(seed, 2).permutation(len(records))
    out = [records[int(i)] for i in order[:holdout]]
    keep = sorted(int(i) for i in order[holdout:])  # keep the original order of the trained records
    return [records[i] for i in keep], out


# --------------------------------------------------------------------------- statistics


def ranks_within(true_nll: float, ref_nll) -> int:
    """1 + number of references with strictly lower NLL (ties favour the canary)."""
    return 1 + int(np.sum(np.asarray(ref_nll, dtype=float) < float(true_nll)))


def exposure(rank, num_references: int):
    """``log2(R + 1) - log2(rank)``: log2(R + 1) when the true secret ranks first, 0 when last."""
    return math.log2(num_references + 1) - np.log2(np.asarray(rank, dtype=float))


def exposure_table(nll_table) -> tuple[np.ndarray, np.ndarray]:
    """Ranks and exposures of a table whose row i is [true NLL, R reference NLLs] of canary i."""
    t = np.asarray(nll_table, dtype=float)
    if t.ndim != 2 or t.shape[1] < 2:
        raise ValueError("expected a 2-D table: [true, reference_1, ..., reference_R] per row")
    ranks = 1 + np.sum(t[:, 1:] < t[:, :1], axis=1)
    return ranks, exposure(ranks, t.shape[1] - 1)


def exposure_chance(num_references: int) -> float:
    """Exact expected exposure of a uniformly random rank in 1..R+1:
    ``log2(R + 1) - log2((R + 1)!) / (R + 1)``."""
    n = num_references + 1
    return math.log2(n) - math.lgamma(n + 1) / math.log(2) / n


def exposure_null(num_references: int, num_canaries: int, sims: int = CHANCE_SIMS, seed: int = 0) -> dict:
    """Null distribution (uniform ranks) of the mean and max exposure over ``num_canaries``, by simulation."""
    rng = np.random.default_rng([seed, 0xC4A7CE])
    ranks = rng.integers(1, num_references + 2, size=(sims, num_canaries))
    e = exposure(ranks, num_references)
    return {"mean_q95": float(np.quantile(e.mean(1), 0.95)), "max_expected": float(e.max(1).mean()),
            "max_q95": float(np.quantile(e.max(1), 0.95)), "simulations": sims}


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


# --------------------------------------------------------------------------- scoring


def _nll(model, tok, prompts: list[str], answers: list[str], max_length: int, batch_size: int = 32) -> np.ndarray:
    from rewardds.eval.metrics import per_example_nll

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # truncation notices name no text, but are noise here
        return np.asarray(per_example_nll(model, tok, prompts, answers, batch_size=batch_size, max_length=max_length),
                          dtype=float)


def candidate_nll_sums(model, tok, prompt: str, answers: list[str], batch_size: int = 256) -> np.ndarray:
    """Summed NLL (nats) of each answer (+ eos) after one shared prompt: the prompt runs once and its
    key/value cache is reused for every batch of answers. Same encoding and scoring as
    :func:`rewardds.eval.metrics.per_example_nll` (mean x answer tokens; checked at run time and in
    the tests), several times faster when thousands of short answers share a long prompt."""
    import copy

    import torch

    from rewardds.eval.metrics import _encode_pair

    p_ids, _ = _encode_pair(tok, prompt, "")
    enc = [_encode_pair(tok, prompt, a)[1] for a in answers]
    device = next(model.parameters()).device
    pad = tok.pad_token_id if tok.pad_token_id is not None else 0
    was_training = model.training
    model.eval()
    out = np.zeros(len(answers))
    try:
        with torch.no_grad():
            first = model(input_ids=torch.tensor([p_ids], device=device), use_cache=True)
            cache, last = first.past_key_values, first.logits[0, -1].float()
            for start in range(0, len(enc), batch_size):
                rows = enc[start:start + batch_size]
                width = max(len(r) for r in rows)
                ids = torch.full((len(rows), width), pad, dtype=torch.long)
                mask = torch.zeros((len(rows), len(p_ids) + width), dtype=torch.long)
                mask[:, : len(p_ids)] = 1
                for i, r in enumerate(rows):
                    ids[i, : len(r)] = torch.tensor(r)
                    mask[i, len(p_ids): len(p_ids) + len(r)] = 1
                c = copy.deepcopy(cache)
                c.batch_repeat_interleave(len(rows))
                logits = model(input_ids=ids.to(device), attention_mask=mask.to(device), past_key_values=c,
                               use_cache=True).logits.float()
                # answer token j is predicted by the prompt's last position (j = 0) or answer position j - 1
                pred = torch.cat([last.expand(len(rows), 1, -1), logits[:, :-1]], 1)
                lp = torch.log_softmax(pred, -1).gather(-1, ids.to(device)[..., None])[..., 0]
                valid = mask[:, len(p_ids):].to(device).float()
                out[start:start + len(rows)] = (-(lp * valid).sum(1)).cpu().numpy()
    finally:
        model.train(was_training)
    return out


def canary_candidates(canary: Canary, index: int, num_references: int, digits: int, seed: int) -> list[str]:
    """The canary's true answer first, then its ``num_references`` reference answers (never trained on)."""
    return [canary_answer(x) for x in [canary.secret] + reference_secrets(canary, num_references, digits, seed, index)]


def canary_nll_table(model, tok, task: str, canaries: list[Canary], num_references: int, digits: int, seed: int,
                     max_length: int) -> np.ndarray:
    """Row i: [true secret, R references] summed NLL (log-perplexity of the whole answer: the secrets'
    token counts may differ) of canary i's answers after its question's chat prompt. The first row is
    checked against the shared per_example_nll (the cached scorer must agree with it)."""
    from rewardds import chat

    table = np.zeros((len(canaries), num_references + 1))
    for i, c in enumerate(canaries):
        prompt = chat.render_prompt(tok, task, c.question(task))
        answers = canary_candidates(c, i, num_references, digits, seed)
        table[i] = candidate_nll_sums(model, tok, prompt, answers)
        if i == 0:
            k = min(8, len(answers))
            ref = _nll(model, tok, [prompt] * k, answers[:k], max_length) * _answer_tokens(tok, answers[:k])
            if not np.allclose(ref, table[i, :k], rtol=1e-3, atol=1e-3):
                raise RuntimeError(f"cached canary scoring disagrees with per_example_nll: "
                                   f"max diff {np.max(np.abs(ref - table[i, :k])):.3g}")
    return table


def canary_game_auc(table) -> float:
    """P(a canary's true secret scores lower (better) than one of its references), ties half, averaged
    over the canaries (rows [true, references...] of NLLs, or of minus rewards); 0.5 is chance."""
    t = np.asarray(table, dtype=float)
    r = t.shape[1] - 1
    return float(np.mean((np.sum(t[:, 1:] > t[:, :1], 1) + 0.5 * np.sum(t[:, 1:] == t[:, :1], 1)) / r))


def exposure_summary(nll_table, seed: int) -> dict:
    """Exposure figures of a canary table (row i: [true secret NLL, R reference NLLs]), as this
    audit reports them: mean / median / max exposure with the chance level,
    the share of canaries whose secret ranks first, and the canary game AUC (0.5: chance)."""
    t = np.asarray(nll_table, dtype=float)
    refs = t.shape[1] - 1
    ranks, exps = exposure_table(t)
    null = exposure_null(refs, len(t), seed=seed)
    return {"canaries": int(len(t)), "references": int(refs), "exposure_mean": float(exps.mean()),
            "exposure_median": float(np.median(exps)), "exposure_max": float(exps.max()),
            "max_possible": float(np.log2(refs + 1)), "chance_mean": exposure_chance(refs),
            "chance_mean_q95": null["mean_q95"], "rank1_fraction": float(np.mean(ranks == 1)),
            "canary_auc": canary_game_auc(t)}


def _training_loss(model, tok, task: str, records: list[Record], max_length: int, loss_on: str,
                   batch_size: int = 16) -> np.ndarray:
    """Each record's loss exactly as training computed it (same encoding and truncation, mean NLL per
    supervised token). Most demo records exceed ``max_length``: scoring them untruncated would mix in
    answer tokens the model never saw."""
    import torch

    from rewardds import chat
    from rewardds.training.lm import LMCollator, token_losses

    examples = [chat.encode_example(tok, task, r.question, r.answer, max_length, loss_on) for r in records]
    collate = LMCollator(tok.pad_token_id)
    device = next(model.parameters()).device
    out = []
    with torch.no_grad():
        for i in range(0, len(examples), batch_size):
            batch = collate(examples[i:i + batch_size])
            batch = {k: v.to(device) if torch.is_tensor(v) else v for k, v in batch.items()}
            out.extend(token_losses(model, batch).tolist())
    return np.asarray(out, dtype=float)


def _answer_tokens(tok, answers: list[str]) -> np.ndarray:
    eos = tok.eos_token or ""
    return np.asarray([len(tok(a + eos, add_special_tokens=False)["input_ids"]) for a in answers], dtype=float)


# --------------------------------------------------------------------------- the audit


def _check(cfg: DictConfig, num_private: int) -> None:
    a = cfg.audit
    if a.num_canaries < 1:
        raise ConfigError("audit.num_canaries", f"must be >= 1, got {a.num_canaries}")
    if a.canary_repeats < 1:
        raise ConfigError("audit.canary_repeats", f"must be >= 1, got {a.canary_repeats}")
    if not 1 <= a.secret_digits <= 15:
        raise ConfigError("audit.secret_digits", f"must be in [1, 15], got {a.secret_digits}")
    if not 1 <= a.num_references < 10 ** a.secret_digits:
        raise ConfigError("audit.num_references",
                          f"must be in [1, 10^secret_digits - 1], got {a.num_references} with {a.secret_digits} digits")
    if a.mia_members < 1 or 2 * a.mia_members > num_private:
        raise ConfigError("audit.mia_members",
                          f"needs 1 <= mia_members and 2 * mia_members <= {num_private} private records "
                          f"(half held out as non-members), got {a.mia_members}")
    if a.epochs is not None and a.epochs < 1:
        raise ConfigError("audit.epochs", f"must be >= 1 or null, got {a.epochs}")


def _audit_cfg(cfg: DictConfig) -> DictConfig:
    """The run's config with the audit's training overrides applied (same for DP and non-DP runs)."""
    acfg = cfg.copy()
    if cfg.audit.epochs is not None:
        acfg.gen_proxy.epochs = int(cfg.audit.epochs)
        acfg.reward_proxy.epochs = int(cfg.audit.epochs)
    return acfg


def run_audit(cfg: DictConfig, data: TaskData, run_dir: Path) -> dict:
    """Train the generation proxy on private records + canaries; measure exposure and MIA; write audit.json.

    The DP plan is made for the records this audit actually trains on.
    """
    from rewardds.models.loading import load_causal_lm, load_tokenizer
    from rewardds.privacy.plan import privacy_plan
    from rewardds.stages import base_model
    from rewardds.stages.context import Context
    from rewardds.stages.gen_proxy import component_record, dp_key, dp_settings, train_lm_on_records
    from rewardds.stages.runner import StageRunner
    from rewardds.tracking import Tracker

    t0 = time.perf_counter()
    run_dir = Path(run_dir)
    a = cfg.audit
    _check(cfg, len(data.private))
    acfg = _audit_cfg(cfg)
    task = cfg.task.name

    # 1. canaries, member / non-member split
    canaries = make_canaries(a.num_canaries, a.secret_digits, cfg.seed)
    members, nonmembers = split_private(list(data.private), a.mia_members, cfg.seed)
    train_records = members + canary_records(canaries, a.canary_repeats, task)
    order = _rng(cfg.seed, 3).permutation(len(train_records))
    train_records = [train_records[int(i)] for i in order]
    mia_idx = np.sort(_rng(cfg.seed, 4).choice(len(members), size=a.mia_members, replace=False))
    mia_members = [members[int(i)] for i in mia_idx]
    n_train = len(train_records)
    log.info("audit: %d canaries x %d copies, %d member records trained, %d held out as non-members",
             len(canaries), a.canary_repeats, len(members), len(nonmembers))

    # 2. DP plan for what is actually trained on; the ledger records the generation proxy only
    plan, ledger = privacy_plan(acfg, n_train)
    ledger.save(run_dir / "privacy.json")
    runner = StageRunner(run_dir, Path(cfg.cache.dir) if cfg.cache.enabled else None)
    tracker = Tracker(cfg, run_dir)
    audit_data = TaskData(task=data.task, public=data.public, private=train_records, test=[], source=data.source)
    ctx = Context(cfg=acfg, data=audit_data, run_dir=run_dir, runner=runner, ledger=ledger, plan=plan, tracker=tracker)
    try:
        base_model.run(ctx)
        name = "gen_proxy"
        if acfg.dp.enabled:
            ledger.check(name)

        def compute(out: Path) -> dict:
            dp = dp_settings(ctx, name, acfg.gen_proxy)
            module = train_lm_on_records(ctx, ctx.paths["proxy_base"], train_records, out, STAGE, dp, acfg.gen_proxy,
                                         loss_on=acfg.gen_proxy.loss_on)
            rec = component_record(ctx, name, module, dp)
            write_json(out / "component.json", rec)
            return rec

        key = {"private": audit_data.fingerprint("private"), "task": task,
               "train": OmegaConf.to_container(acfg.gen_proxy), "lora": OmegaConf.to_container(acfg.model.lora),
               "lm": OmegaConf.to_container(acfg.model.proxy), "dp": dp_key(ctx, name), "seed": cfg.seed}
        t_train = time.perf_counter()
        out = runner.run(STAGE, key, {"base": ctx.digests["proxy"]}, compute)
        train_s = time.perf_counter() - t_train
        rec = read_json(out / "component.json")
        if rec.get("dp"):
            ledger.spend(name, rec["noise_multiplier"], rec["sample_rate"], rec["steps"],
                         extra={"max_grad_norm": rec["max_grad_norm"], "grad_sample_mode": rec["grad_sample_mode"],
                                "audit": True})
        ledger.save(run_dir / "privacy.json")

        # 3. scoring
        t_score = time.perf_counter()
        base = ctx.paths["proxy_base"]
        tok = load_tokenizer(base)
        model = load_causal_lm(base, acfg.model.proxy.dtype, adapter=out / "adapter").to(ctx.device)
        model.eval()
        max_len = int(acfg.model.proxy.max_length)
        R = int(a.num_references)
        table = canary_nll_table(model, tok, task, canaries, R, a.secret_digits, cfg.seed, max_len)
        ranks, exps = exposure_table(table)
        null = exposure_null(R, len(canaries), seed=cfg.seed)
        delta = float(ledger.delta)
        bound = canary_eps_lower_bound(pessimistic_ranks(table), R, delta)
        canary_auc = canary_game_auc(table)

        def mia_nll(records):
            return _training_loss(model, tok, task, records, max_len, acfg.gen_proxy.loss_on)

        m_nll, n_nll = mia_nll(mia_members), mia_nll(nonmembers)
        del model
        m_ok, n_ok = m_nll[np.isfinite(m_nll)], n_nll[np.isfinite(n_nll)]
        score_s = time.perf_counter() - t_score
        total = ledger.total()  # the generation proxy's alone (the reward proxy is spent below)
        comp = ledger.components().get(name, {})
        reward = _audit_reward_proxy(ctx, acfg, out, canaries, cfg.seed) if a.reward_proxy else None
        mia = {
            "auc": auc(-m_ok, -n_ok),
            "tpr_at_fpr": {str(f): tpr_at_fpr(-m_ok, -n_ok, f) for f in FPR_LEVELS},
            "eps_heuristic": threshold_eps_estimate(-m_ok, -n_ok, delta),
            "member_nll_mean": float(m_ok.mean()) if len(m_ok) else None,
            "nonmember_nll_mean": float(n_ok.mean()) if len(n_ok) else None,
            "members_scored": len(m_ok), "nonmembers_scored": len(n_ok),
            "unscored": int(len(m_nll) - len(m_ok) + len(n_nll) - len(n_ok)),
        }
        result = {
            "visibility": "client-only",
            "note": CLIENT_ONLY_NOTE,
            "task": task,
            "audited_component": "gen_proxy",
            "dp_enabled": bool(acfg.dp.enabled),
            "theoretical": {
                "epsilon": total["epsilon"] if acfg.dp.enabled else float("inf"),
                "delta": delta,
                "accountant": ledger.accountant,
                "release_budget_epsilon": float(cfg.dp.epsilon) if acfg.dp.enabled else float("inf"),
                "noise_multiplier": comp.get("noise_multiplier"),
                "sample_rate": comp.get("sample_rate"),
                "steps": comp.get("steps", rec.get("steps")),
                "canary_group_epsilon_note": (
                    f"each canary is {a.canary_repeats} records: group privacy applies to it" if a.canary_repeats > 1
                    else None),
            },
            "counts": {
                "private_records": len(data.private), "members_trained": len(members),
                "nonmembers_held_out": len(nonmembers), "canaries": len(canaries),
                "canary_repeats": int(a.canary_repeats), "train_records": n_train,
                "mia_members": len(mia_members), "mia_nonmembers": len(nonmembers), "references_per_canary": R,
            },
            "training": {"epochs": int(acfg.gen_proxy.epochs), "batch_size": int(acfg.gen_proxy.batch_size),
                         "lr": float(acfg.model.proxy.lr), "steps": rec.get("steps"),
                         "loss_on": acfg.gen_proxy.loss_on, "cache_hit": runner.records[-1]["cache_hit"]},
            "exposure": {
                "mean": float(exps.mean()), "max": float(exps.max()), "min": float(exps.min()),
                "median": float(np.median(exps)), "max_possible": math.log2(R + 1),
                "chance_mean": exposure_chance(R), "chance_mean_q95": null["mean_q95"],
                "chance_max_expected": null["max_expected"], "chance_max_q95": null["max_q95"],
                "rank1_fraction": float(np.mean(ranks == 1)),
                "log_perplexity": ("summed NLL (nats) of the answer tokens + eos given the chat prompt (= per_example_nll x "
                                   "answer tokens; the prompt's KV cache is reused)"),
                "chance_method": (f"chance_mean exact: log2(R+1) - log2((R+1)!)/(R+1) for a uniform rank; "
                                  f"q95 of the mean / max over {len(canaries)} canaries by simulation "
                                  f"({null['simulations']} draws, uniform ranks)"),
            },
            "canaries": [{"id": c.id, "secret_sha256": c.secret_hash, "rank": int(r), "exposure": float(e)}
                         for c, r, e in zip(canaries, ranks, exps)],
            "canary_eps_lb": {**bound, "unit": f"one canary = {a.canary_repeats} training record(s)",
                              "confidence": 1 - ALPHA},
            "canary_game": {
                "auc": canary_auc,
                "description": ("P(a canary's true secret has a lower log-perplexity than one of its references), ties "
                                "half, averaged over the canaries; descriptive, no bound"),
            },
            "mia": mia,
            "reward_proxy": reward,
            "methods": {
                "mia_score": ("-(training loss of the record): mean NLL per supervised token, same encoding and "
                              "truncation as training (gen_proxy.loss_on, model.proxy.max_length)"),
                "tpr_at_fpr": "largest empirical TPR over thresholds with empirical FPR <= level (step ROC, no "
                              "interpolation)",
                "canary_eps_lb": CANARY_BOUND_METHOD,
                "mia_eps_heuristic": ("NOT a bound: max over thresholds of log((TPR_low - delta) / FPR_high) and "
                                      "log((TNR_low - delta) / FNR_high), Clopper-Pearson bounds each one-sided at "
                                      f"{ALPHA / 2:g}, floored at 0; valid only for independent training runs, while "
                                      "these members and non-members share one model and the threshold is picked on "
                                      "the same samples"),
            },
            "timing_s": {"train": round(train_s, 2), "score": round(score_s, 2),
                         "total": round(time.perf_counter() - t0, 2)},
            "notes": [
                ("the reward proxy is trained on the same records (its pairs from the audited generation proxy) "
                 "and audited by its rewards (reward_proxy)" if reward else
                 "only the generation proxy is trained and audited (audit.reward_proxy=false, or the method has no "
                 "reward proxy)"),
                (f"the DP plan is computed for the {n_train} records trained on (members + canary copies); each "
                 "proxy gets its dp.split share of the release budget, so its epsilon is below dp.epsilon; "
                 "privacy.json records the audited proxies alone; theoretical is the generation proxy's"),
                "canary secrets appear only as SHA-256 hashes (low entropy: not a protection, a habit)",
            ] + (["dp.enabled=false: no formal guarantee (epsilon inf)"] if not acfg.dp.enabled else []),
        }
        write_json(run_dir / "audit.json", json_safe(result))
        write_text(run_dir / "audit.md", _markdown(result))
        # only what the synthetic canaries and the (DP) model give leaves the run directory: the MIA
        # figures are non-DP statistics of private records and stay in the client-only audit.json
        summary = {"exposure_mean": result["exposure"]["mean"], "canary_eps_lb": bound["eps_lb"]}
        if reward:
            summary.update(reward_exposure_mean=reward["exposure_mean"], reward_canary_eps_lb=reward["canary_eps_lb"])
        tracker.summary({"audit": summary})
        log.info("audit: exposure mean %.2f (chance %.2f), max %.2f of %.2f; canary epsilon lower bound %.2f "
                 "(theoretical %s); membership inference in the client-only %s", result["exposure"]["mean"],
                 result["exposure"]["chance_mean"], result["exposure"]["max"], result["exposure"]["max_possible"],
                 bound["eps_lb"], _fmt(result["theoretical"]["epsilon"]), run_dir / "audit.json")
        return result
    finally:
        tracker.finish()


REWARD_STAGE = "audit_reward_proxy"


def reward_canary_table(scorer, task: str, canaries: list[Canary], num_references: int, digits: int,
                        seed: int) -> np.ndarray:
    """Row i: minus the reward of canary i's [true secret, R references] answers to its question (the
    same candidates as :func:`canary_nll_table`): lower is "preferred", so the exposure statistics read
    it like an NLL table. A reward proxy that memorised a canary rewards its true secret most.
    ``scorer``: any :class:`rewardds.reward.RewardScorer` (Bradley-Terry proxy or GFRIEND judge)."""
    table = np.zeros((len(canaries), num_references + 1))
    for i, c in enumerate(canaries):
        answers = canary_candidates(c, i, num_references, digits, seed)
        table[i] = -np.asarray(scorer.score([c.question(task)] * len(answers), answers))
    return table


def _audit_reward_proxy(ctx, acfg: DictConfig, gen_out: Path, canaries: list[Canary], seed: int) -> dict | None:
    """Train the method's reward proxy on the audit's records (pairs from the audited generation proxy,
    DP-SGD at its planned share) and measure the canaries' exposure in its rewards. None when the
    method has no DP-planned reward proxy."""
    from rewardds.recipes import build_recipe
    from rewardds.stages.gen_proxy import dp_key

    step = next((s for s in build_recipe(acfg).steps if s.name == "reward_proxy" and s.dp is not None), None)
    if step is None:
        return None
    name, a = step.dp.component, acfg.audit
    if acfg.dp.enabled:
        ctx.ledger.check(name)
    base = ctx.paths["proxy_base"]
    key = {"private": ctx.data.fingerprint("private"), "params": dict(step.params), "dp": dp_key(ctx, name)}
    out = ctx.runner.run(REWARD_STAGE, key, {"base": ctx.digests["proxy"], "gen_proxy": gen_out},
                         lambda folder: step.block.fn(ctx, step, {"base": base, "gen_proxy": gen_out}, folder))
    rec = read_json(out / "component.json")
    if rec.get("dp"):
        ctx.ledger.spend(name, rec["noise_multiplier"], rec["sample_rate"], rec["steps"],
                         extra={"max_grad_norm": rec["max_grad_norm"], "grad_sample_mode": rec["grad_sample_mode"],
                                "audit": True})
    ctx.ledger.save(ctx.run_dir / "privacy.json")
    from rewardds.reward.bt import BTScorer

    scorer = BTScorer.from_dirs(base, out / "adapter", acfg.model.proxy.dtype, ctx.task,
                                int(acfg.model.proxy.max_length), ctx.device)
    R = int(a.num_references)
    table = reward_canary_table(scorer, ctx.task, canaries, R, a.secret_digits, seed)
    scorer.close()
    ranks, exps = exposure_table(table)
    bound = canary_eps_lower_bound(pessimistic_ranks(table), R, float(ctx.ledger.delta))
    comp = ctx.ledger.components().get(name, {})
    # the reward proxy depends on the canaries through its own DP-SGD run and through its pairs, written by
    # the audited generation proxy: its bound is compared with the composed epsilon of both
    return {**exposure_summary(table, seed), "canary_eps_lb": bound["eps_lb"],
            "epsilon": ctx.ledger.total()["epsilon"] if acfg.dp.enabled else float("inf"),
            "component_epsilon": comp.get("epsilon") if acfg.dp.enabled else float("inf"),
            "steps": rec.get("steps"), "cache_hit": ctx.runner.records[-1]["cache_hit"],
            "per_canary": [{"id": c.id, "secret_sha256": c.secret_hash, "rank": int(r), "exposure": float(e)}
                           for c, r, e in zip(canaries, ranks, exps)],
            "score": "minus the reward proxy's reward of each candidate answer (the true secret's vs the references')"}


def _fmt(v, nd: int = 3) -> str:
    if v is None:
        return "-"
    if isinstance(v, float):
        return "inf" if v == float("inf") else f"{v:.{nd}f}"
    return str(v)


def _markdown(r: dict) -> str:
    e, m, th, c = r["exposure"], r["mia"], r["theoretical"], r["counts"]
    rows = [
        ("DP", "on" if r["dp_enabled"] else "off"),
        ("theoretical epsilon (gen proxy)", _fmt(th["epsilon"])),
        ("delta", f"{th['delta']:.3g}"),
        ("exposure mean (chance, q95)", f"{_fmt(e['mean'], 2)} ({_fmt(e['chance_mean'], 2)}, {_fmt(e['chance_mean_q95'], 2)})"),
        ("exposure max (of possible)", f"{_fmt(e['max'], 2)} (of {_fmt(e['max_possible'], 2)})"),
        ("canaries ranked first", f"{e['rank1_fraction']:.2f}"),
        (f"epsilon lower bound from canaries ({1 - ALPHA:.0%} confidence)", _fmt(r["canary_eps_lb"]["eps_lb"], 2)),
        ("MIA AUC", _fmt(m["auc"])),
        ("MIA TPR @ 1% FPR", _fmt(m["tpr_at_fpr"]["0.01"])),
        ("MIA TPR @ 10% FPR", _fmt(m["tpr_at_fpr"]["0.1"])),
        ("MIA epsilon (heuristic, not a bound)", _fmt(m["eps_heuristic"]["eps"], 2)),
        ("records: trained / canaries x repeats / MIA members / non-members",
         f"{c['train_records']} / {c['canaries']} x {c['canary_repeats']} / {c['mia_members']} / {c['mia_nonmembers']}"),
        ("training epochs / steps", f"{r['training']['epochs']} / {r['training']['steps']}"),
    ]
    rp = r.get("reward_proxy")
    if rp:
        rows += [
            ("reward proxy: theoretical epsilon (composed with the generation proxy; its own run alone)",
             f"{_fmt(rp['epsilon'])} ({_fmt(rp.get('component_epsilon'))})"),
            ("reward proxy: exposure mean (chance)", f"{_fmt(rp['exposure_mean'], 2)} ({_fmt(rp['chance_mean'], 2)})"),
            ("reward proxy: canaries ranked first", f"{rp['rank1_fraction']:.2f}"),
            (f"reward proxy: epsilon lower bound from canaries ({1 - ALPHA:.0%} confidence)",
             _fmt(rp["canary_eps_lb"], 2)),
        ]
    title = "generation and reward proxies" if rp else "generation proxy"
    scope = ("Both proxies are trained on the same records and audited (the reward proxy by its rewards of the "
             "canaries' answers)." if rp else "Only the generation proxy is trained and audited.")
    lines = [f"> {CLIENT_ONLY_NOTE}", "", f"# Privacy audit of the {title}", "", scope, "",
             "| quantity | value |", "|---|---|"]
    lines += [f"| {k} | {v} |" for k, v in rows]
    return "\n".join(lines) + "\n"
