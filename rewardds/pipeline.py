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


CLIENT_STAGES = {"gen_proxy", "reward_proxy"}  # computed from private records: client-private keys and timings
# Result files of a run folder: removed when a run starts, so a rerun never leaves an earlier run's results.
RESULT_FILES = ("metrics.json", "metrics.md", "metrics_table.json", "stage_log.jsonl", "error.txt", "privacy.json",
                "audit.json", "audit.md")


def default_delta(num_records: int) -> float:
    """min(1e-5, 1/(10 N)): well below 1/N, at which releasing one random record verbatim is DP."""
    return min(1e-5, 1.0 / (10 * num_records))


def resolve_delta(cfg: DictConfig, num_records: int) -> float:
    from rewardds.errors import ConfigError

    delta = cfg.dp.delta if cfg.dp.delta is not None else default_delta(num_records)
    if cfg.privacy.mode == "strict" and cfg.dp.enabled and delta >= 1.0 / num_records:
        raise ConfigError("dp.delta", f"{delta:g} is >= 1/N for N={num_records} private records: publishing one "
                          "random record verbatim meets that delta; use a smaller one (default min(1e-5, 1/(10 N)))")
    return float(delta)


def guarantee_notes(cfg: DictConfig) -> list[str]:
    """Why this configuration has no formal guarantee (empty: it has one)."""
    notes = []
    if cfg.dp.enabled and cfg.dp.reproducible_noise:
        notes.append("dp.reproducible_noise=true: the DP noise and the Poisson batches were drawn from a generator "
                     "seeded with the run's public seed, so anyone who knows the seed can replay training and "
                     "remove the noise")
    if cfg.privacy.mode == "paper":
        if cfg.privacy.nondp_proxy_pairs:
            notes.append("privacy.mode=paper with non-DP proxy pairs: a non-private model trained on every private "
                         "record shapes each record's reward pairs, so the reward proxy has no DP guarantee")
        if cfg.privacy.public_examples > 0:
            notes.append("privacy.mode=paper: private questions are shown as examples in server-side synthesis "
                         "prompts, a leak that no DP training covers")
    if not cfg.dp.enabled:
        notes.append("dp.enabled=false: the proxies were trained without differential privacy")
    return notes


def privacy_plan(cfg: DictConfig, num_records: int, private_data: dict | None = None) -> tuple[dict, object]:
    """Calibrate every DP component against the one release budget, build the ledger and
    check the whole plan before anything trains."""
    from rewardds.privacy.accounting import ComponentPlan, plan_budget, poisson_steps
    from rewardds.privacy.ledger import PrivacyLedger

    dp = cfg.dp
    delta = resolve_delta(cfg, num_records)
    notes = guarantee_notes(cfg)
    ledger = PrivacyLedger(dp.epsilon, delta, dp.accountant, enabled=dp.enabled,
                           guarantee_note="; ".join(notes) if notes else None, private_data=private_data)
    plan = {}
    if not dp.enabled:
        return plan, ledger
    comps = []
    for name, tc in (("gen_proxy", cfg.gen_proxy), ("reward_proxy", cfg.reward_proxy)):
        if tc.batch_size > num_records:
            log.warning("%s.batch_size=%d is larger than the %d private records: sample rate 1, every record in "
                        "every step", name, tc.batch_size, num_records)
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
    ledger.check_plan()  # e.g. a hand-set dp.noise_multiplier: refused before any DP stage trains
    return plan, ledger


def _spend(ctx, name: str) -> None:
    rec = read_json(ctx.paths[name] / "component.json")
    if rec.get("dp"):
        ctx.ledger.spend(name, rec["noise_multiplier"], rec["sample_rate"], rec["steps"],
                         extra={"max_grad_norm": rec["max_grad_norm"], "grad_sample_mode": rec["grad_sample_mode"]})
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
    clean_slate(run_dir)
    write_text(run_dir / "config.yaml", OmegaConf.to_yaml(cfg, resolve=True))
    data = load_task_data(cfg.task)
    log.info("task %s: %d public, %d private, %d test records (%s)", cfg.task.name, len(data.public),
             len(data.private), len(data.test), data.source)
    if cfg.audit.name == "canary":  # plans its own DP budget for the records it trains on
        from rewardds import audit

        return audit.run_audit(cfg, data, run_dir)
    plan, ledger = privacy_plan(cfg, len(data.private), getattr(data, "private_set", None))
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
        metrics["stages"] = {r["stage"]: {k: r[k] for k in ("cache_hit", "seconds")} for r in runner.records}
        metrics["pool_size"] = _pool_size(ctx)
        metrics["sampling"] = _sampling_stats(ctx)
        metrics["privacy"] = ledger.total()
        metrics["wall_time_s"] = round(time.perf_counter() - t0, 2)
        write_json(run_dir / "metrics.json", metrics)
        _write_table(run_dir, metrics)
        ledger.save(run_dir / "privacy.json")
        _release(ctx, metrics)
        tracker.summary({"eval": metrics["eval"], "privacy/epsilon_total": _num(ledger.total()["epsilon"]),
                         "privacy/epsilon_budget": cfg.dp.epsilon, "wall_time_s": metrics["wall_time_s"],
                         "pool_size": metrics["pool_size"]})
        tracker.log_samples(_pool_rows(ctx))
        log.info("run finished in %.1f s: %s", metrics["wall_time_s"], run_dir)
        return metrics
    finally:
        tracker.finish()


def clean_slate(run_dir: Path) -> None:
    """Remove an earlier run's results from this folder (a rerun, or a resubmitted sweep job),
    so that nothing stale is read as this run's outcome. Cached stages are not touched."""
    import shutil

    from rewardds.release import RELEASE

    for name in RESULT_FILES:
        (run_dir / name).unlink(missing_ok=True)
    for name in (RELEASE, f"{RELEASE}.partial", "logs"):
        shutil.rmtree(run_dir / name, ignore_errors=True)
    stages = run_dir / "stages"
    if stages.is_dir():
        for link in stages.iterdir():
            if link.is_symlink():
                link.unlink()


def _release(ctx, metrics: dict) -> Path:
    """release/: the DP adapters and the ledger, plus what the server made from them."""
    from rewardds.release import write_release

    client = {n: ctx.paths[n] / "adapter" for n in sorted(CLIENT_STAGES) if n in ctx.paths}
    server = {}
    if "queries" in ctx.paths:
        server["synthetic/queries.jsonl"] = ctx.paths["queries"] / "queries.jsonl"
    pool = _last_pool(ctx)
    if pool is not None:
        server["synthetic/pool.jsonl"] = pool
    targets = sorted((k for k in ctx.paths if k.startswith("target@")), key=lambda k: int(k.split("@")[1]))
    if targets:
        server["target/adapter"] = ctx.paths[targets[-1]] / "adapter"
    return write_release(ctx.run_dir, ctx.ledger.to_dict(), metrics, client, server, CLIENT_STAGES)


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
