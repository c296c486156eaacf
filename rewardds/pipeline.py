"""Runs a method's recipe: plan the privacy budget, run the steps in order, release.

The pipeline alone spends privacy. Before anything trains it reads every step's
declaration (``Step.touches``, ``Step.dp``), calibrates every DP-SGD component of
the recipe against the one budget (``dp.epsilon``) and refuses a plan over it;
after each DP step it records what ran; a step that puts private text in a
prompt or trains without DP voids the formal guarantee, with the step's reason.
Steps exchange files only, through the content-keyed cache (``StageRunner``).
"""
from __future__ import annotations

import logging
import shutil
import time
from pathlib import Path

import torch
from omegaconf import DictConfig, OmegaConf

from rewardds import audit
from rewardds.config import validate
from rewardds.data import load_task_data
from rewardds.eval import paired
from rewardds.eval.sandbox import check_sandbox
from rewardds.io import read_json, read_jsonl, write_json, write_text
from rewardds.privacy.plan import privacy_plan
from rewardds.quiet import quiet
from rewardds.recipes import Recipe, Step, Touch, build_recipe
from rewardds.recipes import evals
from rewardds.recipes.common import fine_tuned_model
from rewardds.release import RELEASE, write_release
from rewardds.stages.context import Context
from rewardds.stages.gen_proxy import dp_key
from rewardds.stages.runner import StageRunner
from rewardds.tracking import Tracker
from rewardds.training.distributed import launch_rank
from rewardds.training.lm import cpu_threads

log = logging.getLogger(__name__)

# Result files of a run folder: removed when a run starts, so a rerun never leaves an earlier run's results.
RESULT_FILES = ("metrics.json", "metrics.md", "metrics_table.json", "stage_log.jsonl", "error.txt", "privacy.json",
                "audit.json", "audit.md")
RELEASE_FILES = {  # a step's output files that leave the client (or that the server publishes): kind -> files
    "finetune": ("adapter",), "reward_model": ("adapter",), "questions": ("queries.jsonl",),
    "target_sft": ("adapter",),
}
POOL_KINDS = ("select", "refine", "one_step", "to_pool", "text_filter", "ifd_filter")  # steps whose output holds pool.jsonl


# --------------------------------------------------------------------------- running steps


def _ref(ctx, ref: str) -> tuple[Path | None, str | Path]:
    """(path, digest or completed folder) of a step input: a step name, ``base:<model>`` or ``data:<split>``."""
    if ref.startswith("base:"):
        which = ref.split(":", 1)[1]
        return ctx.paths[f"{which}_base"], ctx.digests[which]
    if ref.startswith("data:"):
        split = ref.split(":", 1)[1]
        return None, ctx.data.fingerprint(split) if split in ("public", "private", "test") else split
    return ctx.paths[ref], ctx.paths[ref]


def execute(ctx, step: Step) -> Path | None:
    """Run one step through the cache; its output folder becomes ``ctx.paths[step.name]``."""
    if not step.block.cached:
        step.block.fn(ctx, step)
        return None
    if step.dp is not None and ctx.cfg.dp.enabled:
        ctx.ledger.check(step.dp.component)
    resolved = {role: _ref(ctx, ref) for role, ref in step.inputs.items()}
    paths = {role: path for role, (path, _) in resolved.items()}
    key = dict(step.params)
    if step.dp is not None:
        key["dp"] = dp_key(ctx, step.dp.component)  # the mechanism is part of the cache key
    out = ctx.runner.run(step.name, key, {role: d for role, (_, d) in resolved.items()},
                         lambda folder: step.block.fn(ctx, step, paths, folder), kind=step.kind)
    ctx.paths[step.name] = out
    if step.dp is not None:
        _spend(ctx, step.dp.component, out)
    return out


def _spend(ctx, component: str, out: Path) -> None:
    rec = read_json(out / "component.json")
    if rec.get("dp"):  # DP-SGD runs carry their clipping; other mechanisms their kind and sensitivity
        extra = {k: rec[k] for k in ("max_grad_norm", "grad_sample_mode", "mechanism", "l2_sensitivity") if k in rec}
        ctx.ledger.spend(component, rec["noise_multiplier"], rec["sample_rate"], rec["steps"], extra=extra)
    ctx.ledger.save(ctx.run_dir / "privacy.json")


def run(cfg: DictConfig) -> dict:
    quiet()
    validate(cfg)
    # the sampling stages run before (or without) any training: the thread count Lightning fits use
    # (trainer.num_threads) holds for them too; more threads than free cores makes torch crawl
    torch.set_num_threads(cpu_threads(cfg.trainer.num_threads))
    recipe = evals.with_evaluations(cfg, build_recipe(cfg))
    t0 = time.perf_counter()
    run_dir = Path(cfg.run_dir)
    rank = launch_rank()
    if rank > 0:  # a DDP rank > 0 runs every step beside rank 0 (its collectives need it) and writes nothing of its own
        return _run_beside_rank0(cfg, recipe, run_dir / f".rank{rank}")
    run_dir.mkdir(parents=True, exist_ok=True)
    clean_slate(run_dir)
    write_text(run_dir / "config.yaml", OmegaConf.to_yaml(cfg, resolve=True))
    data = evals.audit_data(cfg, load_task_data(cfg.task))  # eval.canaries > 0: canaries planted (audit run)
    log.info("task %s: %d public, %d private, %d test records (%s)", cfg.task.name, len(data.public),
             len(data.private), len(data.test), data.source)
    if cfg.audit.name == "canary":  # plans its own DP budget for the records it trains on
        return audit.run_audit(cfg, data, run_dir)
    steps = recipe.until(recipe.resolve_stop(cfg.stop_after))
    if cfg.task.name == "code" and any(s.kind == "evaluate" for s in steps):
        check_sandbox()  # refuse now, not after hours of training, when generated code cannot be sandboxed
    ctx = _context(cfg, recipe, data, run_dir, cfg)
    runner, ledger, tracker = ctx.runner, ctx.ledger, ctx.tracker
    ledger.save(run_dir / "privacy.json")
    metrics: dict = {"task": cfg.task.name, "method": recipe.method, "fine_tuned_model": fine_tuned_model(cfg, recipe),
                     "stages": {}, "eval": {}}
    item_files: dict[str, Path] = {}  # eval label -> its per-item scores
    try:
        for step in steps:
            out = execute(ctx, step)
            if step.eval_label is not None:
                metrics["eval"][step.eval_label] = read_json(out / "metrics.json")
                item_files[step.eval_label] = out / paired.ITEMS_FILE
        metrics["paired"] = paired.for_run(item_files, run_dir)  # each model minus base, on the same test items
        metrics["stages"] = _stage_records(runner, recipe)
        metrics["pool_size"] = metrics["synthetic_size"] = _pool_size(ctx, steps)
        metrics["sampling"] = _sampling_stats(ctx, steps)
        metrics["privacy"] = ledger.total()
        metrics["client_eval"], metrics["synthetic_eval"] = evals.collect(steps, ctx.paths, read_json)
        if evals.audit_run_note(cfg):
            metrics["audit_run"] = evals.audit_run_note(cfg)
        metrics["wall_time_s"] = round(time.perf_counter() - t0, 2)
        write_json(run_dir / "metrics.json", metrics)
        _write_table(run_dir, metrics)
        ledger.save(run_dir / "privacy.json")
        _release(ctx, recipe, steps, metrics)
        # test items held out of the private file (task.data.holdout_test) are private records: their scores stay here
        held_out = bool((data.private_set or {}).get("holdout_test"))
        tracker.summary({"eval": {} if held_out else metrics["eval"], "privacy/epsilon_total": _num(ledger.total()["epsilon"]),
                         "privacy/epsilon_budget": cfg.dp.epsilon,  # no wall time: it includes the client stages'
                         "pool_size": metrics["pool_size"], "method": recipe.method,
                         "synthetic_eval": metrics["synthetic_eval"], **canary_summary(metrics["client_eval"])})
        tracker.log_samples(_pool_rows(ctx, steps))
        log.info("run finished in %.1f s: %s", metrics["wall_time_s"], run_dir)
        print(result_summary(metrics, ledger.to_dict(), run_dir), flush=True)
        return metrics
    finally:
        tracker.finish()


def canary_summary(client_eval: dict) -> dict:
    """The client evaluations that may reach the tracker and the console: figures of the made-up
    canaries only (their exposure in a model, their secrets found in the synthetic set), as the
    canary audit releases them. MAUVE, FID, PII and private-record copies are statistics of the
    private records: they stay in the client-only metrics.json."""
    out: dict = {}
    for label, e in client_eval.get("canary_exposure", {}).items():
        out[f"canary/{label}/exposure_mean"] = e.get("exposure_mean")
        out[f"canary/{label}/canary_auc"] = e.get("canary_auc")
    copies = client_eval.get("copies", {}).get("canaries")
    if copies:
        out["canary/secret_copies"] = copies.get("secret_copies")
    return out


def _run_beside_rank0(cfg: DictConfig, recipe: Recipe, run_dir: Path) -> dict:
    """DDP rank > 0: the same steps as rank 0 (every training step's DDP group needs all ranks),
    in a scratch run folder, with rank 0's cached results taken once published
    (:meth:`StageRunner.run`). No metrics, release, W&B run or summary: rank 0 writes those."""
    run_dir.mkdir(parents=True, exist_ok=True)
    data = evals.audit_data(cfg, load_task_data(cfg.task))
    ctx = _context(cfg, recipe, data, run_dir, OmegaConf.merge(cfg, {"logger": {"backend": "csv"}}))  # no 2nd W&B run
    for step in recipe.until(recipe.resolve_stop(cfg.stop_after)):
        execute(ctx, step)
    return {"method": recipe.method, "rank": launch_rank()}


def _context(cfg: DictConfig, recipe: Recipe, data, run_dir: Path, tracker_cfg: DictConfig):
    """The steps' context: the privacy plan of ``recipe`` (checked whole before anything trains),
    the stage cache and the tracker (configured by ``tracker_cfg``)."""
    plan, ledger = privacy_plan(cfg, len(data.private), getattr(data, "private_set", None), recipe)
    runner = StageRunner(run_dir, Path(cfg.cache.dir) if cfg.cache.enabled else None)
    return Context(cfg=cfg, data=data, run_dir=run_dir, runner=runner, ledger=ledger, plan=plan,
                   tracker=Tracker(tracker_cfg, run_dir))


def result_summary(metrics: dict, privacy: dict, run_dir: Path) -> str:
    """The lines a run ends with: what it made, how good, at what privacy cost, where it is."""
    lines = [f"== {metrics['method']} on {metrics['task']}: done in {metrics['wall_time_s']:.1f} s"]
    for label, m in metrics.get("eval", {}).items():
        keys = [k for k in ("pass@1", "rougeL", "bleu", "ppl") if isinstance(m.get(k), (int, float))]
        ci = m.get("ci95", {})
        cells = [f"{k} {m[k]:.4g}" + (f" [{ci[k][0]:.3g}, {ci[k][1]:.3g}]" if ci.get(k) and None not in ci[k] else "")
                 for k in keys]
        lines.append(f"   {label:<10} " + ", ".join(cells) + f" (n={m.get('n')})")
    lines += paired.summary_lines(metrics.get("paired"))
    if metrics.get("synthetic_size") is not None:
        lines.append(f"   synthetic training set: {metrics['synthetic_size']} examples")
    ifd = metrics.get("synthetic_eval", {}).get("ifd")
    if ifd and ifd.get("ifd_mean") is not None:
        lines.append(f"   synthetic set IFD (target base): mean {ifd['ifd_mean']:.4g}, "
                     f"{ifd['share_misaligned']:.0%} of pairs >= 1")
    canary = canary_summary(metrics.get("client_eval", {}))
    if canary:
        lines.append("   audit run, canaries: " + ", ".join(f"{k.split('/', 1)[1]} {v:.4g}" for k, v in canary.items()
                                                            if isinstance(v, (int, float))))
    if metrics.get("client_eval"):
        lines.append("   client-only evaluations (MAUVE, FID, copies of private records): metrics.json client_eval")
    total = privacy["total"]
    if privacy["formal_guarantee"]:
        lines.append(f"   privacy: ({total['epsilon']:.4g}, {total['delta']:.3g})-DP for everything released "
                     f"(budget {privacy['budget']['epsilon']:g}"
                     + (" per model, privacy.budget=per_model" if privacy.get("paper_style") else "") + ")")
    else:
        lines.append(f"   privacy: NO formal guarantee: {privacy.get('guarantee_note') or 'see privacy.json'}")
    lines.append(f"   release: {Path(run_dir) / 'release'} (what leaves the client; the rest is client-private)")
    return "\n".join(lines)


def _stage_records(runner, recipe: Recipe) -> dict:
    """Per step: cache hit and seconds; server steps also their summary (counts of synthetic data)."""
    sides = {s.name: s.side for s in recipe.steps}
    out = {}
    for r in runner.records:
        rec = {k: r[k] for k in ("cache_hit", "seconds")}
        if sides.get(r["stage"], "server") == "server":
            manifest = Path(r["path"]) / "manifest.json"
            if manifest.exists():
                rec["summary"] = read_json(manifest).get("summary", {})
        out[r["stage"]] = rec
    return out


def clean_slate(run_dir: Path) -> None:
    """Remove an earlier run's results from this folder (a rerun, or a resubmitted sweep job),
    so that nothing stale is read as this run's outcome. Cached stages are not touched."""
    for name in RESULT_FILES:
        (run_dir / name).unlink(missing_ok=True)
    for name in (RELEASE, f"{RELEASE}.partial", "logs", paired.ITEMS_DIR):
        shutil.rmtree(run_dir / name, ignore_errors=True)
    stages = run_dir / "stages"
    if stages.is_dir():
        for link in stages.iterdir():
            if link.is_symlink():
                link.unlink()


def _release(ctx, recipe: Recipe, steps: list[Step], metrics: dict) -> Path:
    """release/: what client steps release (their DP adapters) and the ledger, plus what the server made."""
    files: dict[str, Path] = {}
    for step in steps:
        if step.name not in ctx.paths:
            continue
        out = ctx.paths[step.name]
        if step.side == "client":
            for f in RELEASE_FILES.get(step.kind, ()):
                files[f"client/{step.dp.component if step.dp else step.name}/{f}"] = out / f
        elif step.kind in RELEASE_FILES:
            target = "target/adapter" if step.kind == "target_sft" else f"synthetic/{RELEASE_FILES[step.kind][0]}"
            files[f"server/{target}"] = out / RELEASE_FILES[step.kind][0]
        if step.kind in POOL_KINDS and (out / "pool.jsonl").exists():
            files["server/synthetic/pool.jsonl"] = out / "pool.jsonl"  # the last pool is the synthetic set
    # client-private timings: client steps and any step that reads the private records (e.g. PE's histograms)
    clients = {s.name for s in recipe.steps if s.side == "client" or "data:private" in s.inputs.values()}
    return write_release(ctx.run_dir, ctx.ledger.to_dict(), metrics, files, clients)


def _num(v):
    return float("inf") if v == "inf" else v


def _last_pool(ctx, steps: list[Step]) -> Path | None:
    pools = [s.name for s in steps if s.kind in POOL_KINDS and s.name in ctx.paths
             and (ctx.paths[s.name] / "pool.jsonl").exists()]
    return ctx.paths[pools[-1]] / "pool.jsonl" if pools else None


def _pool_rows(ctx, steps) -> list[dict]:
    p = _last_pool(ctx, steps)
    return list(read_jsonl(p)) if p else []


def _pool_size(ctx, steps):
    return len(_pool_rows(ctx, steps)) if _last_pool(ctx, steps) else None


def _sampling_stats(ctx, steps) -> dict:
    out = {}
    for step in steps:
        if step.name in ctx.paths and (ctx.paths[step.name] / "sampling.stats.json").exists():
            out[step.name] = read_json(ctx.paths[step.name] / "sampling.stats.json")
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


__all__ = ["run", "privacy_plan", "execute", "Touch"]
