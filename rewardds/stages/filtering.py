"""Stage 6: Reward Guided Filtering.

Every candidate is scored by the reward proxy and by the generation proxy's
perplexity; per question the two rankings are fused,
``s = alpha * rank_reward + (1 - alpha) * rank_ppl`` (best candidate has rank m),
the argmax becomes the chosen answer and the argmin the rejected one, and the
top ``keep_ratio`` of questions by the chosen answer's reward are kept.
Scoring is its own cached stage so a sweep over filter settings reuses it.
"""
from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import torch

from rewardds import chat
from rewardds.io import read_jsonl, write_jsonl
from rewardds.stages.context import Context


def ranks(values, higher_is_better: bool) -> np.ndarray:
    """Rank 1 (worst) .. m (best); ties keep their input order."""
    v = np.asarray(values, dtype=float)
    order = np.argsort(v if higher_is_better else -v, kind="stable")
    r = np.empty(len(v), dtype=float)
    r[order] = np.arange(1, len(v) + 1)
    return r


def fuse(rewards, ppls, alpha: float) -> tuple[int, int, np.ndarray]:
    """(chosen index, rejected index, fused scores) for one question's candidates."""
    s = alpha * ranks(rewards, True) + (1 - alpha) * ranks(ppls, False)
    return int(np.argmax(s)), int(np.argmin(s)), s


def select(scored: list[dict], alpha: float, keep_ratio: float) -> list[dict]:
    """Chosen/rejected per question, then the top ``keep_ratio`` questions by chosen reward."""
    items = []
    for q in scored:
        c, r, s = fuse(q["rewards"], q["ppls"], alpha)
        items.append({"id": q["id"], "question": q["question"], "chosen": q["candidates"][c],
                      "rejected": q["candidates"][r], "reward": q["rewards"][c], "rejected_reward": q["rewards"][r],
                      "ppl": q["ppls"][c], "fused": float(s[c])})
    keep = max(1, int(round(len(items) * keep_ratio))) if items else 0
    items.sort(key=lambda it: -it["reward"])  # stable: ties keep question order
    return items[:keep]


class Scorer:
    """Reward proxy + generation-proxy perplexity for (question, answer) pairs."""

    def __init__(self, ctx: Context):
        from peft import PeftModel
        from transformers import AutoModelForSequenceClassification

        from rewardds.models.loading import load_causal_lm, load_tokenizer, torch_dtype

        self.ctx = ctx
        base = ctx.paths["proxy_base"]
        self.tok = load_tokenizer(base)
        dtype = ctx.cfg.model.proxy.dtype
        rm = AutoModelForSequenceClassification.from_pretrained(str(base), num_labels=1, dtype=torch_dtype(dtype))
        rm.config.pad_token_id = self.tok.pad_token_id
        self.reward_model = PeftModel.from_pretrained(rm.to(ctx.device), str(ctx.paths["reward_proxy"] / "adapter")).eval()
        lm = load_causal_lm(base, dtype).to(ctx.device)
        self.lm = PeftModel.from_pretrained(lm, str(ctx.paths["gen_proxy"] / "adapter")).eval()

    @torch.no_grad()
    def __call__(self, questions: list[str], answers: list[str]) -> tuple[list[float], list[float]]:
        from rewardds.eval.metrics import per_example_nll
        from rewardds.training.reward import score_texts

        L = self.ctx.cfg.model.proxy.max_length
        rewards = score_texts(self.reward_model, self.tok, self.ctx.task, questions, answers, L)
        prompts = [chat.render_prompt(self.tok, self.ctx.task, q) for q in questions]
        nll = per_example_nll(self.lm, self.tok, prompts, answers, max_length=L + self.ctx.cfg.synthesis.answer_max_new_tokens)
        return rewards, [math.exp(min(x, 50.0)) for x in nll]


def run_scores(ctx: Context) -> Path:
    def compute(out: Path) -> dict:
        rows = list(read_jsonl(ctx.paths["candidates"] / "candidates.jsonl"))
        qs = [r["question"] for r in rows for _ in r["candidates"]]
        ans = [a for r in rows for a in r["candidates"]]
        rewards, ppls = Scorer(ctx)(qs, ans)
        i = 0
        for r in rows:
            m = len(r["candidates"])
            r["rewards"], r["ppls"] = rewards[i:i + m], ppls[i:i + m]
            i += m
        write_jsonl(out / "scored.jsonl", rows)
        return {"scored": len(ans), "mean_reward": float(np.mean(rewards)) if rewards else None}

    out = ctx.runner.run("scores", {"task": ctx.task}, {k: ctx.paths[k] for k in ("gen_proxy", "reward_proxy", "candidates")}
                         | {"base": ctx.digests["proxy"]}, compute)
    ctx.paths["scores"] = out
    return out


def run_filter(ctx: Context) -> Path:
    f = ctx.cfg.filter

    def compute(out: Path) -> dict:
        scored = list(read_jsonl(ctx.paths["scores"] / "scored.jsonl"))
        pool = select(scored, f.alpha, f.keep_ratio if f.name == "reward_guided" else 1.0)
        for it in pool:
            it["round"] = 1
        write_jsonl(out / "pool.jsonl", pool)
        return {"questions": len(scored), "kept": len(pool)}

    out = ctx.runner.run("filter", {"name": f.name, "alpha": f.alpha, "keep_ratio": f.keep_ratio},
                         {"scores": ctx.paths["scores"]}, compute)
    ctx.paths["pool@1"] = out
    return out
