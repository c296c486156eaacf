"""Stage 7: Self-Optimizing Refinement (rounds 2..K).

For every pool item the generation proxy critiques chosen vs rejected, the
current target rewrites the chosen answer ``refine.n`` times following the
critique, the rewrites that are answers (``chat.is_answer``: not a new question
in the one-step example format) are scored like candidates, and the best one joins
the pool when its reward is at least ``refine.ratio * tau`` (tau: the lowest
reward in the previous pool). The pool only grows.
"""
from __future__ import annotations

from pathlib import Path

from types import SimpleNamespace

from rewardds import chat
from rewardds.io import read_jsonl, write_jsonl
from rewardds.models.loading import load_tokenizer
from rewardds.stages.block import Block
from rewardds.sampling import SamplingParams, build_sampler
from rewardds.stages.context import Context
from rewardds.stages.filtering import Scorer, fuse


def admit(best_rewards: list[float], previous_rewards: list[float], ratio: float) -> list[bool]:
    """Which new items join: reward >= ratio * tau, tau = min reward of the previous pool."""
    tau = min(previous_rewards)
    return [r >= ratio * tau for r in best_rewards]


def _refine(ctx: Context, step, ins: dict, out: Path) -> dict:
    """params: round, refine (n, ratio, temperature, top_p, critique/rewrite_max_new_tokens), alpha, seed, sampler,
    lm, answer_tokens; inputs: pool (previous pool), target (previous target), gen_proxy, reward_proxy, base,
    target_base."""
    p = step.params
    rnd, rc = p["round"], SimpleNamespace(**p["refine"])
    pool = list(read_jsonl(ins["pool"] / "pool.jsonl"))
    current = [it for it in pool if it["round"] == rnd - 1] or pool  # refine what the last round added
    base = ins["base"]
    tok = load_tokenizer(base)
    crit_prompts = [chat.render_critique_prompt(tok, ctx.task, it["question"], it["chosen"], it["rejected"])
                    for it in current]
    with build_sampler(p["sampler"], base, ins["gen_proxy"] / "adapter") as s:
        crits = [c[0].text for c in s.generate(crit_prompts, SamplingParams(
            n=1, temperature=0.0, max_new_tokens=rc.critique_max_new_tokens, seed=p["seed"]), desc="critiques")]
    ttok = load_tokenizer(ins["target_base"])
    rw_prompts = [chat.render_rewrite_prompt(ttok, ctx.task, it["question"], it["chosen"], c)
                  for it, c in zip(current, crits)]
    with build_sampler(p["sampler"], ins["target_base"], ins["target"] / "adapter") as s:
        rewrites = s.generate(rw_prompts, SamplingParams(n=rc.n, temperature=rc.temperature, top_p=rc.top_p,
                              max_new_tokens=rc.rewrite_max_new_tokens, seed=p["seed"] + rnd), desc="rewrites")
    scorer = Scorer.from_step(ctx, p, ins)
    new_items, not_answers = [], 0
    for it, comps in zip(current, rewrites):
        finished = [c.text for c in comps if c.finished and c.text.strip()]
        texts = [t for t in finished if chat.is_answer(t)]  # a rewrite that writes a new question is no answer
        not_answers += len(finished) - len(texts)
        if not texts:
            continue
        rewards, ppls = scorer([it["question"]] * len(texts), texts)
        c, r, s = fuse(rewards, ppls, p["alpha"])
        new_items.append({"id": f"{it['id']}-r{rnd}", "question": it["question"], "chosen": texts[c],
                          "rejected": texts[r], "reward": rewards[c], "rejected_reward": rewards[r], "ppl": ppls[c],
                          "fused": float(s[c]), "round": rnd})
    scorer.close()
    ok = admit([x["reward"] for x in new_items], [x["reward"] for x in pool], rc.ratio) if new_items else []
    added = [x for x, keep in zip(new_items, ok) if keep]
    write_jsonl(out / "pool.jsonl", pool + added)
    write_jsonl(out / "critiques.jsonl", [{"id": it["id"], "critique": c} for it, c in zip(current, crits)])
    return {"round": rnd, "previous": len(pool), "rewritten": len(new_items), "added": len(added),
            "not_answers": not_answers, "tau": min(x["reward"] for x in pool)}


REFINE = Block("refine", _refine)
