"""Judgement accuracy of the two reward models, side by side: Bradley-Terry (``reward=bt``) and
the GFRIEND judge (``reward=gfriend``), trained on the same labelled pairs at the same epsilon
and without DP.

    python -m benchmarks.bench_judge                 # medical demo, experiment=smoke, dp.epsilon=4
    python -m benchmarks.bench_judge --epsilon 8 --test 48 --args task.data.max_train=64
    python -m benchmarks.bench_judge --json

Four runs of ``rewardds.pipeline.run`` up to the reward step (one fresh cache: the base model
and the generation proxy of each privacy setting are trained once): bt and gfriend with
``dp.epsilon``, bt and gfriend with ``dp.enabled=false`` (the whole client non-private, so its
pairs come from a non-DP generation proxy). Held-out pairs are built like the reward pairs
(truth > DP-proxy answer > base answer, :func:`build_pairs`) from the task's TEST split with
the DP run's generation proxy, the same pairs for all four. Reported per model: pairwise
accuracy (``prefer(q, chosen, rejected) > 0.5``; GFRIEND asks both A/B orders) with the mean
``|prefer - 0.5|`` (how decided the model is: near 0, an accuracy is a coin toss), pointwise
accuracy (``score(chosen) > score(rejected)``, what filtering uses), and the reward steps'
training time (seconds, from stage_log.jsonl). Ties count one half.
"""
from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
import time
from pathlib import Path
from types import SimpleNamespace

REPO = Path(__file__).resolve().parents[1]
REWARD_STEPS = {"bt": ("reward_proxy",), "gfriend": ("judge_sft", "judge_dpo")}
SMALL_ARGS = ["--test", "8"]


def build_parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(prog="python -m benchmarks.bench_judge", description=__doc__.split("\n\n")[0])
    ap.add_argument("--task", default="medical")
    ap.add_argument("--epsilon", type=float, default=4.0)
    ap.add_argument("--test", type=int, default=24, help="test records the held-out pairs come from")
    ap.add_argument("--full", action="store_true", help="the default config instead of experiment=smoke")
    ap.add_argument("--args", nargs="+", default=[], metavar="OVERRIDE", help="extra Hydra overrides for every run")
    ap.add_argument("--workdir", default=None, help="keep caches and runs here (default: a temp dir, removed)")
    ap.add_argument("--json", action="store_true", help="print one JSON object instead of the table")
    return ap


def compose(overrides: list[str]):
    from hydra import compose as hydra_compose
    from hydra import initialize_config_dir

    from rewardds.config import register

    register()
    with initialize_config_dir(config_dir=str(REPO / "conf"), version_base="1.3"):
        return hydra_compose(config_name="config", overrides=overrides)


def train(base: list[str], reward: str, dp: bool, eps: float, work: Path) -> tuple[Path, float, object]:
    """One pipeline run up to the reward model; (run folder, training seconds of its reward steps, cfg)."""
    from rewardds.pipeline import run

    name = f"{reward}-{'dp' if dp else 'nodp'}"
    privacy = [f"dp.epsilon={eps:g}"] if dp else ["dp.enabled=false"]
    cfg = compose(base + privacy + [f"reward={reward}", f"stop_after={REWARD_STEPS[reward][-1]}",
                                    f"run_dir={work / name}", f"cache.dir={work / 'cache'}",
                                    "trainer.enable_progress_bar=false"])
    run(cfg)
    log = [json.loads(x) for x in (work / name / "stage_log.jsonl").read_text().splitlines()]
    seconds = sum(r["seconds"] for r in log if r["stage"] in REWARD_STEPS[reward])
    return work / name, seconds, cfg


def base_dir(cfg, run_dir: Path) -> Path:
    return run_dir / "stages" / "base_model" / "model" if cfg.model.proxy.path == "tiny" else Path(cfg.model.proxy.path)


def heldout_pairs(cfg, run_dir: Path, n: int) -> list[tuple[str, str, str]]:
    """(question, chosen, rejected) from the first ``n`` test records, with the DP run's proxy."""
    from rewardds.data import load_task_data
    from rewardds.recipes.common import plain
    from rewardds.stages.reward_proxy import build_pairs, greedy_answers

    test = load_task_data(cfg.task).test[:n]
    qs = [r.question for r in test]
    base = base_dir(cfg, run_dir)

    def answers(adapter, desc):
        return greedy_answers(plain(cfg.sampler), cfg.task.name, base, adapter, qs,
                              cfg.synthesis.answer_max_new_tokens, cfg.seed, desc)

    pairs = build_pairs([r.answer for r in test], answers(None, "held-out: base answers"),
                        answers(run_dir / "stages" / "gen_proxy" / "adapter", "held-out: DP proxy answers"))
    return [(q, c, r) for q, ps in zip(qs, pairs) for c, r in ps]


def scorer_for(cfg, run_dir: Path, reward: str):
    """The scorer the filtering step of this run would use (same params as its ``scores`` step)."""
    from rewardds.recipes import build_recipe
    from rewardds.reward import build_scorer

    scores = next(s for s in build_recipe(cfg).steps if s.name == "scores")
    device = "cuda" if cfg.trainer.accelerator in ("gpu", "cuda") else "cpu"
    ctx = SimpleNamespace(device=device, task=cfg.task.name)
    ins = {"base": base_dir(cfg, run_dir), "reward_proxy": run_dir / "stages" / REWARD_STEPS[reward][-1]}
    return build_scorer(ctx, dict(scores.params), ins)


def accuracy(wins: list[float]) -> float | None:
    return sum(1.0 if w > 0 else 0.5 if w == 0 else 0.0 for w in wins) / len(wins) if wins else None


def evaluate(scorer, pairs) -> dict:
    t0 = time.perf_counter()
    prefer = scorer.prefer_batch(pairs) if hasattr(scorer, "prefer_batch") else [scorer.prefer(*p) for p in pairs]
    chosen = scorer.score([q for q, _, _ in pairs], [c for _, c, _ in pairs])
    rejected = scorer.score([q for q, _, _ in pairs], [r for _, _, r in pairs])
    scorer.close()
    return {"pairwise_accuracy": accuracy([p - 0.5 for p in prefer]),
            "mean_margin": round(sum(abs(p - 0.5) for p in prefer) / len(prefer), 4) if prefer else None,
            "pointwise_accuracy": accuracy([c - r for c, r in zip(chosen, rejected)]),
            "judge_seconds": round(time.perf_counter() - t0, 2)}


def table(res: dict) -> str:
    lines = [f"judgement accuracy on {res['pairs']} held-out {res['task']} pairs (test split), epsilon "
             f"{res['epsilon']:g} vs no DP",
             f"{'model':<9} {'privacy':<9} {'pairwise':>9} {'|p-0.5|':>8} {'pointwise':>10} {'train s':>8} {'judge s':>8}"]
    for v in res["variants"]:
        priv = f"eps={res['epsilon']:g}" if v["dp"] else "no DP"
        lines.append(f"{v['reward']:<9} {priv:<9} {v['pairwise_accuracy']:>9.3f} {v['mean_margin']:>8.3f} "
                     f"{v['pointwise_accuracy']:>10.3f} "
                     f"{v['train_seconds']:>8.1f} {v['judge_seconds']:>8.1f}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    from rewardds.quiet import quiet

    args = build_parser().parse_args(argv)
    quiet()
    base = [f"task={args.task}"] + ([] if args.full else ["experiment=smoke"]) + list(args.args)
    work = Path(args.workdir) if args.workdir else Path(tempfile.mkdtemp(prefix="bench_judge_"))
    try:
        runs = {(r, dp): train(base, r, dp, args.epsilon, work) for dp in (True, False) for r in ("bt", "gfriend")}
        dp_dir, _, dp_cfg = runs[("bt", True)]
        pairs = heldout_pairs(dp_cfg, dp_dir, args.test)
        variants = []
        for (reward, dp), (run_dir, seconds, cfg) in runs.items():
            res = evaluate(scorer_for(cfg, run_dir, reward), pairs)
            variants.append({"reward": reward, "dp": dp, "train_seconds": round(seconds, 2), **res})
        out = {"benchmark": "judge", "task": args.task, "epsilon": args.epsilon, "pairs": len(pairs),
               "overrides": base, "variants": variants}
        print(json.dumps(out, indent=2) if args.json else table(out), flush=True)
        return 0
    finally:
        if not args.workdir:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
