"""Stages 4-5 (server): synthetic questions, then candidate answers, from the DP proxy.

Everything sampled from a DP model is post-processing and costs no budget. The
only other text in a prompt is example questions, which in strict mode come from
the public pool (never from private records).
"""
from __future__ import annotations

import logging
import random
from pathlib import Path

from omegaconf import OmegaConf

from rewardds import chat
from rewardds.io import read_jsonl, write_json, write_jsonl
from rewardds.models.loading import load_tokenizer
from rewardds.sampling import SamplingParams, build_sampler
from rewardds.stages.context import Context

log = logging.getLogger(__name__)


def example_pool(ctx: Context) -> list[str]:
    """Questions that may appear in a server-side prompt."""
    if ctx.cfg.privacy.mode == "paper":
        log.warning("privacy.mode=paper: private questions are shown as examples in synthesis prompts")
        return [r.question for r in ctx.data.private]
    return [r.question for r in ctx.data.public]


def normalise(text: str) -> str:
    return " ".join(text.lower().split())


def sample_questions(sampler, tok, task: str, pool: list[str], s, k_examples: int, seed: int) -> list[str]:
    """Sample until ``s.num_queries`` unique questions or ``s.max_query_rounds`` rounds."""
    rng = random.Random(seed)
    seen: set[str] = {normalise(q) for q in pool}  # copying an example verbatim is not a new question
    out: list[str] = []
    prompts_per_round = max(1, -(-s.num_queries // s.query_n))
    for rnd in range(s.max_query_rounds):
        prompts = []
        for _ in range(prompts_per_round):
            ex = rng.sample(pool, k=min(k_examples, len(pool))) if k_examples else []
            prompts.append(chat.render_question_prompt(tok, task, ex))
        params = SamplingParams(n=s.query_n, temperature=s.query_temperature, top_p=s.query_top_p,
                                max_new_tokens=s.query_max_new_tokens, seed=seed + rnd)
        for comps in sampler.generate(prompts, params, desc=f"queries round {rnd + 1}"):
            for c in comps:
                key = normalise(c.text)
                if c.finished and len(key.split()) >= 2 and key not in seen:
                    seen.add(key)
                    out.append(c.text.strip())
        log.info("queries: %d unique after round %d", len(out), rnd + 1)
        if len(out) >= s.num_queries:
            break
    return out[: s.num_queries]


def run_queries(ctx: Context) -> Path:
    cfg = ctx.cfg
    s = cfg.synthesis

    def compute(out: Path) -> dict:
        base = ctx.paths["proxy_base"]
        tok = load_tokenizer(base)
        pool = example_pool(ctx)
        with build_sampler(cfg.sampler, base, ctx.paths["gen_proxy"] / "adapter") as sampler:
            qs = sample_questions(sampler, tok, ctx.task, pool, s, cfg.privacy.public_examples, cfg.seed)
            stats = dict(sampler.stats, tokens_per_second=sampler.tokens_per_second)
        if not qs:
            from rewardds.errors import RewarddsError

            raise RewarddsError("query synthesis produced no finished question; raise synthesis.query_max_new_tokens "
                                "or synthesis.max_query_rounds")
        write_jsonl(out / "queries.jsonl", [{"id": f"q{i:05d}", "question": q} for i, q in enumerate(qs)])
        write_json(out / "sampling.stats.json", stats)
        return {"queries": len(qs), "tokens_per_second": stats["tokens_per_second"]}

    pool_fp = ctx.data.fingerprint("private" if cfg.privacy.mode == "paper" else "public")
    key = {"synthesis": {k: s[k] for k in s if k.startswith("query") or k in ("num_queries", "max_query_rounds")},
           "examples": cfg.privacy.public_examples, "mode": cfg.privacy.mode, "pool": pool_fp, "seed": cfg.seed,
           "task": ctx.task, "sampler": OmegaConf.to_container(cfg.sampler)}
    out = ctx.runner.run("queries", key, {"base": ctx.digests["proxy"], "gen_proxy": ctx.paths["gen_proxy"]}, compute)
    ctx.paths["queries"] = out
    return out


def run_candidates(ctx: Context) -> Path:
    cfg = ctx.cfg
    s = cfg.synthesis

    def compute(out: Path) -> dict:
        base = ctx.paths["proxy_base"]
        tok = load_tokenizer(base)
        queries = list(read_jsonl(ctx.paths["queries"] / "queries.jsonl"))
        prompts = [chat.render_prompt(tok, ctx.task, q["question"]) for q in queries]
        params = SamplingParams(n=s.answer_n, temperature=s.answer_temperature, top_p=s.answer_top_p,
                                max_new_tokens=s.answer_max_new_tokens, seed=cfg.seed + 101)
        with build_sampler(cfg.sampler, base, ctx.paths["gen_proxy"] / "adapter") as sampler:
            outs = sampler.generate(prompts, params, desc="candidate answers")
            stats = dict(sampler.stats, tokens_per_second=sampler.tokens_per_second)
        rows, dropped = [], 0
        for q, comps in zip(queries, outs):
            kept = [c.text for c in comps if c.finished and c.text.strip()]  # only answers that ended with EOS
            dropped += len(comps) - len(kept)
            if kept:
                rows.append({"id": q["id"], "question": q["question"], "candidates": kept})
        write_jsonl(out / "candidates.jsonl", rows)
        write_json(out / "sampling.stats.json", stats)
        return {"questions": len(rows), "candidates": sum(len(r["candidates"]) for r in rows), "unfinished_dropped": dropped,
                "tokens_per_second": stats["tokens_per_second"]}

    key = {"synthesis": {k: s[k] for k in s if k.startswith("answer")}, "seed": cfg.seed, "task": ctx.task,
           "sampler": OmegaConf.to_container(cfg.sampler)}
    out = ctx.runner.run("candidates", key, {"base": ctx.digests["proxy"], "gen_proxy": ctx.paths["gen_proxy"],
                                             "queries": ctx.paths["queries"]}, compute)
    ctx.paths["candidates"] = out
    return out
