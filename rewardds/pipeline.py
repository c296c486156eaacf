"""The RewardDS pipeline: stages in order, each cached, data flowing one way.

client:  base model -> DP generation proxy -> (pairs) DP reward proxy
server:  queries -> candidates -> scores -> filter -> target@1
         -> [refine@k -> target@k] for k = 2..K -> evaluation
"""
from __future__ import annotations

import logging
import time
from pathlib import Path

from omegaconf import DictConfig, OmegaConf

from rewardds.io import read_json, write_json, write_text

log = logging.getLogger(__name__)

STAGE_NAMES = ("base_model", "gen_proxy", "reward_proxy", "queries", "candidates", "scores", "filter", "target",
               "refine", "evaluate")


def privacy_plan(cfg: DictConfig, num_records: int) -> tuple[dict, object]:
    """Calibrate both DP components against the one release budget; build the ledger."""
    from rewardds.privacy.accounting import ComponentPlan, plan_budget, poisson_steps
    from rewardds.privacy.ledger import PrivacyLedger

    dp = cfg.dp
    delta = dp.delta if dp.delta is not None else 1.0 / num_records
    notes = []
    if cfg.privacy.mode == "paper":
        if cfg.privacy.nondp_proxy_pairs:
            notes.append("privacy.mode=paper with non-DP proxy pairs: a non-private model trained on every private "
                         "record shapes each record's reward pairs, so the reward proxy has no DP guarantee")
        if cfg.privacy.public_examples > 0:
            notes.append("privacy.mode=paper: private questions are shown as examples in server-side synthesis "
                         "prompts, a leak that no DP training covers")
    if not dp.enabled:
        notes.append("dp.enabled=false: the proxies were trained without differential privacy")
    ledger = PrivacyLedger(dp.epsilon, delta, dp.accountant, enabled=dp.enabled,
                           guarantee_note="; ".join(notes) if notes else None)
    plan = {}
    if not dp.enabled:
        return plan, ledger
    comps = []
    for name, tc in (("gen_proxy", cfg.gen_proxy), ("reward_proxy", cfg.reward_proxy)):
        q, steps = poisson_steps(num_records, tc.batch_size, tc.epochs)
        comps.append(ComponentPlan(name, float(dp.split[name]), q, steps))
    if dp.noise_multiplier is not None:
        sigmas = {c.name: float(dp.noise_multiplier) for c in comps}
    else:
        sigmas = plan_budget(comps, dp.epsilon, delta, dp.accountant, dp.epsilon_tolerance)
    for c in comps:
        plan[c.name] = {"noise_multiplier": sigmas[c.name], "sample_rate": c.sample_rate, "steps": c.steps,
                        "num_records": num_records}
        ledger.plan(c.name, sigmas[c.name], c.sample_rate, c.steps)
    return plan, ledger


def _spend(ctx, name: str) -> None:
    rec = read_json(ctx.paths[name] / "component.json")
    if rec.get("dp"):
        ctx.ledger.spend(name, rec["noise_multiplier"], rec["sample_rate"], rec["steps"],
                         extra={"max_grad_norm": rec["max_grad_norm"], "grad_sample_mode": rec["grad_sample_mode"],
                                "stage_path": str(ctx.paths[name])})
    ctx.ledger.save(ctx.run_dir / "privacy.json")


def run(cfg: DictConfig) -> dict:
    from rewardds.config import validate
    from rewardds.data import load_task_data
    from rewardds.stages import base_model, evaluate, filtering, gen_proxy, refinement, reward_proxy, synthesis, target
    from rewardds.stages.context import Context
    from rewardds.stages.runner import StageRunner
    from rewardds.tracking import Tracker

    from rewardds.quiet import quiet

    quiet()
    validate(cfg)
    t0 = time.perf_counter()
    run_dir = Path(cfg.run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    write_text(run_dir / "config.yaml", OmegaConf.to_yaml(cfg, resolve=True))
    data = load_task_data(cfg.task)
    log.info("task %s: %d public, %d private, %d test records (%s)", cfg.task.name, len(data.public),
             len(data.private), len(data.test), data.source)
    if cfg.audit.name == "canary":  # plans its own DP budget for the records it trains on
        from rewardds import audit

        return audit.run_audit(cfg, data, run_dir)
    plan, ledger = privacy_plan(cfg, len(data.private))
    ledger.save(run_dir / "privacy.json")
    runner = StageRunner(run_dir, Path(cfg.cache.dir) if cfg.cache.enabled else None)
    tracker = Tracker(cfg, run_dir)
    ctx = Context(cfg=cfg, data=data, run_dir=run_dir, runner=runner, ledger=ledger, plan=plan, tracker=tracker)
    metrics: dict = {"task": cfg.task.name, "stages": {}, "eval": {}}
    stop = cfg.stop_after

    def done(stage: str) -> bool:
        return stop is not None and stop == stage

    try:
        base_model.run(ctx)
        if not done("base_model"):
            gen_proxy.run(ctx)
            _spend(ctx, "gen_proxy")
        if not (done("base_model") or done("gen_proxy")):
            reward_proxy.run(ctx)
            _spend(ctx, "reward_proxy")
        order = ["queries", "candidates", "scores", "filter", "target", "refine", "evaluate"]
        stopped = stop in ("base_model", "gen_proxy", "reward_proxy")
        for stage in order:
            if stopped:
                break
            if stage == "queries":
                synthesis.run_queries(ctx)
            elif stage == "candidates":
                synthesis.run_candidates(ctx)
            elif stage == "scores":
                filtering.run_scores(ctx)
            elif stage == "filter":
                filtering.run_filter(ctx)
            elif stage == "target":
                target.run(ctx, 1)
            elif stage == "refine":
                for rnd in range(2, cfg.refine.rounds + 1):
                    refinement.run(ctx, rnd)
                    target.run(ctx, rnd)
            elif stage == "evaluate":
                final = f"target@{cfg.refine.rounds}"
                for label in cfg.eval.models:
                    if label == "base":
                        metrics["eval"]["base"] = evaluate.run(ctx, "base", ctx.paths["target_base"], None)
                    elif label == "gen_proxy":
                        metrics["eval"]["gen_proxy"] = evaluate.run(ctx, "gen_proxy", ctx.paths["proxy_base"], "gen_proxy")
                    elif label == "target":
                        metrics["eval"]["target"] = evaluate.run(ctx, "target", ctx.paths["target_base"], final)
            stopped = done(stage)
        metrics["stages"] = {r["stage"]: {k: r[k] for k in ("cache_hit", "seconds", "key")} for r in runner.records}
        metrics["pool_size"] = _pool_size(ctx)
        metrics["sampling"] = _sampling_stats(ctx)
        metrics["privacy"] = ledger.total()
        metrics["wall_time_s"] = round(time.perf_counter() - t0, 2)
        write_json(run_dir / "metrics.json", metrics)
        _write_table(run_dir, metrics)
        ledger.save(run_dir / "privacy.json")
        tracker.summary({"eval": metrics["eval"], "privacy/epsilon_total": _num(ledger.total()["epsilon"]),
                         "privacy/epsilon_budget": cfg.dp.epsilon, "wall_time_s": metrics["wall_time_s"],
                         "pool_size": metrics["pool_size"]})
        tracker.log_samples(_pool_rows(ctx))
        log.info("run finished in %.1f s: %s", metrics["wall_time_s"], run_dir)
        return metrics
    finally:
        tracker.finish()


def _num(v):
    return float("inf") if v == "inf" else v


def _last_pool(ctx) -> Path | None:
    pools = sorted((k for k in ctx.paths if k.startswith("pool@")), key=lambda k: int(k.split("@")[1]))
    return ctx.paths[pools[-1]] / "pool.jsonl" if pools else None


def _pool_rows(ctx) -> list[dict]:
    from rewardds.io import read_jsonl

    p = _last_pool(ctx)
    return list(read_jsonl(p)) if p else []


def _pool_size(ctx):
    p = _last_pool(ctx)
    return len(_pool_rows(ctx)) if p else None


def _sampling_stats(ctx) -> dict:
    out = {}
    for stage in ("queries", "candidates"):
        if stage in ctx.paths and (ctx.paths[stage] / "sampling.stats.json").exists():
            out[stage] = read_json(ctx.paths[stage] / "sampling.stats.json")
    return out


def _write_table(run_dir: Path, metrics: dict) -> None:
    rows = metrics.get("eval", {})
    if not rows:
        return
    cols = sorted({k for m in rows.values() for k, v in m.items() if isinstance(v, (int, float))})
    lines = ["| model | " + " | ".join(cols) + " |", "|---|" + "---|" * len(cols)]
    for name, m in rows.items():
        lines.append(f"| {name} | " + " | ".join(_fmt(m.get(c)) for c in cols) + " |")
    write_text(run_dir / "metrics.md", "\n".join(lines) + "\n")
    write_json(run_dir / "metrics_table.json", {"columns": ["model"] + cols,
                                                "rows": [[n] + [m.get(c) for c in cols] for n, m in rows.items()]})


def _fmt(v) -> str:
    return "" if v is None else (f"{v:.4f}" if isinstance(v, float) else str(v))
