"""Stage 7: Self-Optimizing Refinement (rounds 2..K), as the reference (``Main_sample_answer_grad.py``,
``revise_filter.py``) runs it.

Which items are refined (``refine.scope``):
  ``all`` (the reference): every synthetic question, whether the 1/k filter kept it or not. Round 2
      starts from the filter's scored candidates (``scores``: each question's chosen = fused argmax,
      rejected = fused argmin); a later round from the previous round's rewrites of every question
      (``revise.jsonl``, the reference's ``Revise_data_Epoch{k}``). A question the filter dropped
      joins the pool when its rewrite clears tau: that is what the step is for.
  ``pool``: only the items the last round added to the pool (round 2: the filtered pool), cheaper.

For each item the generation proxy writes a critique of chosen vs rejected (sampled, like the
reference: ``refine.temperature`` / ``refine.top_p``, T 1.0 / top_p 0.7; its prompt says which
answer was preferred), the current target rewrites the chosen answer ``refine.n`` times following the
critique, the rewrites that ended with EOS and are answers (``chat.is_answer``: not a new question in
the one-step example format) are scored like candidates and fused (step 6), and the chosen rewrite
joins the pool when ``refine.ratio * reward >= tau`` (:func:`admit`; tau: the lowest reward in the
previous pool). The pool only grows.
"""
from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

from rewardds import chat
from rewardds.io import read_jsonl, write_jsonl
from rewardds.models.loading import load_tokenizer
from rewardds.sampling import SamplingParams, build_sampler
from rewardds.stages.block import Block
from rewardds.stages.context import Context
from rewardds.stages.filtering import Scorer, choose, fuse

SCOPES = ("all", "pool")
REVISE_FILE = "revise.jsonl"  # every refined question's latest chosen / rejected: what the next round refines


def admit(best_rewards: list[float], previous_rewards: list[float], ratio: float) -> list[bool]:
    """Which new items join: ``ratio * reward >= tau``, tau = the lowest reward of the previous pool.

    The reference's test (``revise_filter.py``: ``rw_score * ratio_to_first >= threshold``), so a
    ``refine.ratio`` means what the paper's ``ratio_to_first`` means; the paper runs it at 1.0, where
    it is ``reward >= tau`` for rewards of either sign. (``reward >= ratio * tau``, the form before,
    admits the opposite way: looser where the reference is stricter for ratio < 1 and positive
    rewards, stricter for negative ones.)"""
    tau = min(previous_rewards)
    return [ratio * r >= tau for r in best_rewards]


def items_to_refine(scope: str, rnd: int, pool: list[dict], ins: dict, alpha: float) -> list[dict]:
    """The items round ``rnd`` critiques and rewrites (see the module docstring)."""
    if scope == "pool":
        return [it for it in pool if it["round"] == rnd - 1] or pool  # refine what the last round added
    previous = ins["items"] / REVISE_FILE
    if previous.exists():  # round > 2: every question's rewrite from the round before
        return list(read_jsonl(previous))
    return choose(list(read_jsonl(ins["items"] / "scored.jsonl")), alpha)  # round 2: every scored question


def next_pool(pool: list[dict], items: list[dict], rewrites: list[list[tuple[str, float, float]]], alpha: float,
              ratio: float, rnd: int) -> tuple[list[dict], list[dict], int]:
    """One round's outcome from the scored rewrites of ``items`` (per item: (text, reward, ppl) of each
    usable rewrite): (the new items admitted to the pool, every item's latest version for the next round,
    how many items had a rewrite). Per item the rewrites are fused (step 6): chosen = argmax, rejected =
    argmin; an item without a usable rewrite keeps its answers for the next round."""
    new_items, revised = [], []
    for it, scored in zip(items, rewrites):
        if not scored:
            revised.append(it)
            continue
        texts, r_, p_ = (list(x) for x in zip(*scored))
        c, r, s = fuse(r_, p_, alpha)
        new = {"id": f"{it['id']}-r{rnd}", "question": it["question"], "chosen": texts[c], "rejected": texts[r],
               "reward": r_[c], "rejected_reward": r_[r], "ppl": p_[c], "fused": float(s[c]), "round": rnd}
        new_items.append(new)
        revised.append(new)
    ok = admit([x["reward"] for x in new_items], [x["reward"] for x in pool], ratio) if new_items else []
    return [x for x, keep in zip(new_items, ok) if keep], revised, len(new_items)


def _critiques(p: dict, rc, ctx: Context, base: Path, adapter: Path, items: list[dict], rnd: int) -> list[str]:
    tok = load_tokenizer(base)
    prompts = [chat.render_critique_prompt(tok, ctx.task, it["question"], it["chosen"], it["rejected"])
               for it in items]
    params = SamplingParams(n=1, temperature=rc.temperature, top_p=rc.top_p, max_new_tokens=rc.critique_max_new_tokens,
                            seed=p["seed"] + 500 + rnd)
    with build_sampler(p["sampler"], base, adapter) as s:
        return [c[0].text for c in s.generate(prompts, params, desc="critiques")]


def _rewrites(p: dict, rc, ctx: Context, ins: dict, items: list[dict], crits: list[str], rnd: int):
    ttok = load_tokenizer(ins["target_base"])
    prompts = [chat.render_rewrite_prompt(ttok, ctx.task, it["question"], it["chosen"], c)
               for it, c in zip(items, crits)]
    params = SamplingParams(n=rc.n, temperature=rc.temperature, top_p=rc.top_p,
                            max_new_tokens=rc.rewrite_max_new_tokens, seed=p["seed"] + rnd)
    with build_sampler(p["sampler"], ins["target_base"], ins["target"] / "adapter") as s:
        return s.generate(prompts, params, desc="rewrites")


def _refine(ctx: Context, step, ins: dict, out: Path) -> dict:
    """params: round, scope, refine (n, ratio, temperature, top_p, critique/rewrite_max_new_tokens), alpha, seed,
    sampler, lm, answer_tokens; inputs: pool (previous pool), target (previous target), gen_proxy, reward_proxy,
    base, target_base, items (scope=all: ``scores`` in round 2, the previous refine step later)."""
    p = step.params
    rnd, rc, scope = p["round"], SimpleNamespace(**p["refine"]), p.get("scope", "pool")
    pool = list(read_jsonl(ins["pool"] / "pool.jsonl"))
    items = items_to_refine(scope, rnd, pool, ins, p["alpha"])
    crits = _critiques(p, rc, ctx, ins["base"], ins["gen_proxy"] / "adapter", items, rnd)
    rewrites = _rewrites(p, rc, ctx, ins, items, crits, rnd)
    kept, not_answers = [], 0
    for it, comps in zip(items, rewrites):
        finished = [c.text for c in comps if c.finished and c.text.strip()]  # the reference keeps EOS-ended ones
        texts = [t for t in finished if chat.is_answer(t)]  # a rewrite that writes a new question is no answer
        not_answers += len(finished) - len(texts)
        kept.append(texts)
    scorer = Scorer.from_step(ctx, p, ins)
    flat_q = [it["question"] for it, texts in zip(items, kept) for _ in texts]
    rewards, ppls = scorer(flat_q, [t for texts in kept for t in texts]) if flat_q else ([], [])
    scorer.close()
    scored, i = [], 0
    for texts in kept:
        scored.append(list(zip(texts, rewards[i:i + len(texts)], ppls[i:i + len(texts)])))
        i += len(texts)
    added, revised, rewritten = next_pool(pool, items, scored, p["alpha"], rc.ratio, rnd)
    in_pool = {x["question"] for x in pool}
    write_jsonl(out / "pool.jsonl", pool + added)
    write_jsonl(out / REVISE_FILE, revised)
    write_jsonl(out / "critiques.jsonl", [{"id": it["id"], "critique": c} for it, c in zip(items, crits)])
    return {"round": rnd, "scope": scope, "refined": len(items), "previous": len(pool), "rewritten": rewritten,
            "added": len(added), "readmitted": sum(x["question"] not in in_pool for x in added),
            "not_answers": not_answers, "tau": min(x["reward"] for x in pool)}


REFINE = Block("refine", _refine)
