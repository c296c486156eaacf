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

import logging
import math
import time
from pathlib import Path

import numpy as np
import torch
from omegaconf import DictConfig, OmegaConf

from rewardds import chat
from rewardds.errors import ConfigError
from rewardds.eval.audit_statistics import (
    ALPHA,
    CANARY_BOUND_METHOD,
    FPR_LEVELS,
    auc,
    canary_eps_bounds,
    canary_eps_lower_bound,
    clopper_pearson,
    cutoff_levels,
    pessimistic_ranks,
    rank_cutoffs,
    threshold_eps_estimate,
    tpr_at_fpr,
)
from rewardds.eval.canaries import (
    CHANCE_SIMS,
    Canary,
    audit_rng,
    candidate_nll_sums,
    canary_answer,
    canary_candidates,
    canary_game_auc,
    canary_nll_table,
    canary_records,
    exposure,
    exposure_chance,
    exposure_null,
    exposure_summary,
    exposure_table,
    format_secret,
    make_canaries,
    ranks_within,
    reference_secrets,
    reward_canary_table,
)
from rewardds.io import json_safe, read_json, write_json, write_text
from rewardds.models.loading import load_causal_lm, load_tokenizer
from rewardds.privacy.plan import privacy_plan
from rewardds.recipes import build_recipe
from rewardds.records import Record, TaskData
from rewardds.reward.bt import BTScorer
from rewardds.stages import base_model
from rewardds.stages.context import Context
from rewardds.stages.gen_proxy import component_record, dp_key, dp_settings, train_lm_on_records
from rewardds.stages.runner import StageRunner
from rewardds.tracking import Tracker
from rewardds.training.lm import LMCollator, token_losses

# run_audit, and the canary primitives (rewardds.eval.canaries) and audit statistics
# (rewardds.eval.audit_statistics) under the import path they had when they lived here
__all__ = [
    "ALPHA", "CANARY_BOUND_METHOD", "CHANCE_SIMS", "CLIENT_ONLY_NOTE", "Canary", "FPR_LEVELS", "auc",
    "candidate_nll_sums", "canary_answer", "canary_candidates", "canary_eps_bounds", "canary_eps_lower_bound",
    "canary_game_auc", "canary_nll_table", "canary_records", "clopper_pearson", "cutoff_levels", "exposure",
    "exposure_chance", "exposure_null", "exposure_summary", "exposure_table", "format_secret", "make_canaries",
    "pessimistic_ranks", "rank_cutoffs", "ranks_within", "reference_secrets", "reward_canary_table", "run_audit",
    "split_private", "threshold_eps_estimate", "tpr_at_fpr",
]

log = logging.getLogger(__name__)

STAGE = "audit_gen_proxy"

REWARD_STAGE = "audit_reward_proxy"

CLIENT_ONLY_NOTE = ("CLIENT-ONLY: this report holds non-DP statistics of the private records (member and held-out "
                    "losses, membership-inference thresholds and rates); do not release it.")



# --------------------------------------------------------------------------- the records trained on


def split_private(records: list[Record], holdout: int, seed: int) -> tuple[list[Record], list[Record]]:
    """(trained members, held-out non-members): a seeded random split."""
    order = audit_rng(seed, 2).permutation(len(records))
    out = [records[int(i)] for i in order[:holdout]]
    keep = sorted(int(i) for i in order[holdout:])  # keep the original order of the trained records
    return [records[i] for i in keep], out


def _training_loss(model, tok, task: str, records: list[Record], max_length: int, loss_on: str,
                   batch_size: int = 16) -> np.ndarray:
    """Each record's loss exactly as training computed it (same encoding and truncation, mean NLL per
    supervised token). Most demo records exceed ``max_length``: scoring them untruncated would mix in
    answer tokens the model never saw."""
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
    order = audit_rng(cfg.seed, 3).permutation(len(train_records))
    train_records = [train_records[int(i)] for i in order]
    mia_idx = np.sort(audit_rng(cfg.seed, 4).choice(len(members), size=a.mia_members, replace=False))
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


def _audit_reward_proxy(ctx, acfg: DictConfig, gen_out: Path, canaries: list[Canary], seed: int) -> dict | None:
    """Train the method's reward proxy on the audit's records (pairs from the audited generation proxy,
    DP-SGD at its planned share) and measure the canaries' exposure in its rewards. None when the
    method has no DP-planned reward proxy."""
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
