"""Stage 6: Reward Guided Filtering.

Every candidate is scored by the reward proxy and by the generation proxy's
perplexity; per question the two rankings are fused,
``s = alpha * rank_reward + (1 - alpha) * rank_ppl`` (best candidate has rank m),
the argmax becomes the chosen answer and the argmin the rejected one, and the
top ``keep_ratio`` of questions by the chosen answer's reward are kept.
Scoring is its own cached stage so a sweep over filter settings reuses it.

``filter=random`` keeps the same number of questions, chosen at random, with a
random candidate each: the control that shows whether the reward signal, not
the smaller pool, is what helps. ``text_filter`` drops short and near-duplicate
instructions (KnowledgeSG's filters), comparing only with the texts it is given.
"""
from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import torch

from rewardds import chat
from rewardds.errors import RewarddsError
from rewardds.eval.metrics import per_example_nll
from rewardds.filters import keep_count, length_filter, prompt_dedup, random_select, similarity_dedup
from rewardds.io import read_jsonl, write_jsonl
from rewardds.models.loading import load_causal_lm, load_tokenizer
from rewardds.reward import build_scorer
from rewardds.stages.block import Block
from rewardds.stages.context import Context
from rewardds.stages.synthesis import PROMPT_EXAMPLES_FILE, example_records


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


def choose(scored: list[dict], alpha: float) -> list[dict]:
    """Every question's chosen (fused argmax) and rejected (fused argmin) candidate, in question order:
    what the filter ranks, and what refinement with ``refine.scope=all`` critiques and rewrites (the
    reference's ``Revise_data_Epoch1``: every synthetic question, kept by the filter or not)."""
    items = []
    for q in scored:
        c, r, s = fuse(q["rewards"], q["ppls"], alpha)
        items.append({"id": q["id"], "question": q["question"], "chosen": q["candidates"][c],
                      "rejected": q["candidates"][r], "reward": q["rewards"][c], "rejected_reward": q["rewards"][r],
                      "ppl": q["ppls"][c], "fused": float(s[c])})
    return items


def select(scored: list[dict], alpha: float, keep_ratio: float) -> list[dict]:
    """Chosen/rejected per question, then the top ``keep_ratio`` questions by chosen reward."""
    items = choose(scored, alpha)
    keep = keep_count(len(items), keep_ratio)
    items.sort(key=lambda it: -it["reward"])  # stable: ties keep question order
    return items[:keep]


class Scorer:
    """Reward (any :class:`rewardds.reward.RewardScorer`) + generation-proxy perplexity of
    (question, answer) pairs."""

    def __init__(self, ctx: Context, reward, base: Path, lm_adapter: Path, dtype: str, max_length: int,
                 answer_tokens: int):
        from peft import PeftModel

        self.task = ctx.task
        self.reward = reward
        self.max_length, self.answer_tokens = max_length, answer_tokens
        self.tok = load_tokenizer(base)
        lm = load_causal_lm(base, dtype).to(ctx.device)
        self.lm = PeftModel.from_pretrained(lm, str(lm_adapter)).eval()

    @classmethod
    def from_step(cls, ctx: Context, p: dict, ins: dict) -> "Scorer":
        """params: lm (dtype, max_length), answer_tokens, reward (GFRIEND only); inputs: base, reward_proxy,
        gen_proxy."""
        return cls(ctx, build_scorer(ctx, p, ins), ins["base"], ins["gen_proxy"] / "adapter", p["lm"]["dtype"],
                   p["lm"]["max_length"], p["answer_tokens"])

    @torch.no_grad()
    def __call__(self, questions: list[str], answers: list[str]) -> tuple[list[float], list[float]]:
        rewards = self.reward.score(questions, answers)
        prompts = [chat.render_prompt(self.tok, self.task, q) for q in questions]
        nll = per_example_nll(self.lm, self.tok, prompts, answers, max_length=self.max_length + self.answer_tokens)
        return rewards, [math.exp(min(x, 50.0)) for x in nll]

    def close(self) -> None:
        self.reward.close()


def _scores(ctx: Context, step, ins: dict, out: Path) -> dict:
    rows = list(read_jsonl(ins["candidates"] / "candidates.jsonl"))
    qs = [r["question"] for r in rows for _ in r["candidates"]]
    ans = [a for r in rows for a in r["candidates"]]
    scorer = Scorer.from_step(ctx, step.params, ins)
    rewards, ppls = scorer(qs, ans)
    scorer.close()
    i = 0
    for r in rows:
        m = len(r["candidates"])
        r["rewards"], r["ppls"] = rewards[i:i + m], ppls[i:i + m]
        i += m
    write_jsonl(out / "scored.jsonl", rows)
    return {"scored": len(ans), "mean_reward": float(np.mean(rewards)) if rewards else None}


def _select(ctx: Context, step, ins: dict, out: Path) -> dict:
    """params: name (reward_guided | random | none), alpha, keep_ratio, seed; inputs: scores."""
    p = step.params
    scored = list(read_jsonl(ins["scores"] / "scored.jsonl"))
    if p["name"] == "random":
        pool, _ = random_select(scored, p["keep_ratio"], p["seed"])
    else:
        pool = select(scored, p["alpha"], p["keep_ratio"] if p["name"] == "reward_guided" else 1.0)
    for it in pool:
        it["round"] = 1
    write_jsonl(out / "pool.jsonl", pool)
    return {"questions": len(scored), "kept": len(pool)}


def _text_filter(ctx: Context, step, ins: dict, out: Path) -> dict:
    """params: file (queries.jsonl | pool.jsonl), min_tokens, dedup_threshold (None: off), references
    (public | private | none: the example source), dedup_scope (prompt: each item against the examples
    its own prompt showed, pairwise TF-IDF, as KnowledgeSG's code; pool: against every reference text
    and the earlier kept items, in one TF-IDF space), max_kept (optional: at most this many of the
    survivors, in sampling order); inputs: items (a step with that file, and with dedup_scope=prompt
    its prompt_examples.jsonl). Counts of what was dropped are in the summary."""
    p = step.params
    items = list(read_jsonl(ins["items"] / p["file"]))
    kept, short = length_filter(items, min_tokens=p["min_tokens"])
    summary = {"in": len(items), "too_short": short["dropped"]}
    if p["dedup_threshold"] is not None:
        refs = [r.question for r in example_records(ctx, p["references"])]
        if p.get("dedup_scope", "pool") == "prompt":
            shown = {r["id"]: r["examples"] for r in read_jsonl(ins["items"] / PROMPT_EXAMPLES_FILE)}
            examples = [[refs[j] for j in shown.get(it["id"], [])] if refs else [] for it in kept]
            kept, dedup = prompt_dedup(kept, examples, threshold=p["dedup_threshold"])
            summary["near_example"] = dedup["near_example"]
        else:
            kept, dedup = similarity_dedup(kept, refs, threshold=p["dedup_threshold"])
            summary.update(near_reference=dedup.get("near_reference", 0),
                           near_duplicate=dedup.get("near_duplicate", 0))
    if not kept:
        raise RewarddsError(f"{step.name}: every synthetic item was filtered out; lower method.min_question_tokens "
                            "or raise method.dedup_threshold")
    if p.get("max_kept") is not None and len(kept) > p["max_kept"]:
        summary["over_size"] = len(kept) - p["max_kept"]
        kept = kept[: p["max_kept"]]
    write_jsonl(out / p["file"], kept)
    summary["kept"] = len(kept)
    return summary


SCORES = Block("scores", _scores)
SELECT = Block("select", _select)
TEXT_FILTER = Block("text_filter", _text_filter)
