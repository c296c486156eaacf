"""KnowledgeSG's synthesis baselines (method.md section 2) as recipes.

| method            | generator      | steps                                  | examples in          |
|-------------------|----------------|----------------------------------------|----------------------|
| icl               | public base    | one step (question and answer at once) | the one-step prompt  |
| self_instruct     | public base    | question, then answer                  | the question prompt  |
| self_instruct_icl | public base    | question, then answer                  | both prompts         |
| dp_gene           | DP generator   | one step                               | the one-step prompt  |
| dp_instruct       | DP generator   | question, then answer                  | the question prompt  |
| dp_instruct_icl   | DP generator   | question, then answer                  | both prompts         |

Then short and near-duplicate instructions are dropped, the target is fine-tuned on
the synthetic set and evaluated. The DP generator (client) is the proxy fine-tuned
on the private records with the whole budget; each record gives three training rows
(answer it, write its question, write the whole example: the three things the
server asks of it), clipped together, so one DP generator serves all three DP
methods (one cache entry at a given budget). ``method.examples`` says where the k
examples come from: ``public`` (default, strict), ``none``, or ``private`` (the
reference form; needs ``privacy.mode=paper``; the release then has no guarantee).
"""
from __future__ import annotations

import math

from rewardds.recipes.common import (base_models, evaluation, examples_touch, plain, private_finetune, sampler,
                                     synthetic_examples, target_sft)
from rewardds.recipes.step import Recipe, Step
from rewardds.stages.filtering import TEXT_FILTER
from rewardds.stages.synthesis import ANSWERS, ONE_STEP, QUESTIONS, TO_POOL

ONE_STEP_METHODS = ("icl", "dp_gene")
ICL_ANSWERS = ("self_instruct_icl", "dp_instruct_icl")
DP_METHODS = ("dp_gene", "dp_instruct", "dp_instruct_icl")
GENERATOR_FORMATS = ("answer", "question", "example")
OVERSAMPLE = 1.25  # samples per wanted example: the short / near-duplicate filter drops some, the rest is cut to size


def build(cfg, method) -> Recipe:
    name, s, task = method.name, cfg.synthesis, cfg.task.name
    wanted = synthetic_examples(cfg)
    sampled = math.ceil(wanted * OVERSAMPLE)
    src = method.examples
    k = method.k if src != "none" else 0
    answer_new = method.max_new_tokens or s.answer_max_new_tokens
    one_step_new = method.max_new_tokens or (s.query_max_new_tokens + s.answer_max_new_tokens)
    prompt_tokens = max(32, cfg.model.proxy.max_length)  # few-shot prompts are shortened to the generator's context
    steps = [base_models()]
    gen_inputs = {"base": "base:proxy"}
    if name in DP_METHODS:
        steps.append(private_finetune(cfg, "gen_proxy", "proxy", plain(cfg.gen_proxy), "gen_proxy",
                                      formats=GENERATOR_FORMATS))
        gen_inputs["adapter"] = "gen_proxy"
    examples_in = {"examples": f"data:{src}"} if src != "none" else {}
    if name in ONE_STEP_METHODS:
        touches, why = examples_touch(src, f"{name}'s one-step synthesis prompts")
        steps.append(Step("examples", ONE_STEP,
                          {"task": task, "num": sampled, "n": s.query_n, "temperature": method.temperature,
                           "top_p": method.top_p, "max_new_tokens": one_step_new, "answer_max_new_tokens": answer_new,
                           "max_rounds": s.max_query_rounds,
                           "seed": cfg.seed, "sampler": sampler(cfg), "examples": src, "k": k,
                           "prompt_tokens": prompt_tokens, "answers_only": True},
                          {**gen_inputs, **examples_in}, touches=touches, why=why))
        steps.append(_text_filter(cfg, method, "pool.jsonl", "examples", wanted))
        pool = "text_filter"
    else:
        touches, why = examples_touch(src, f"{name}'s question prompts")
        steps.append(Step("queries", QUESTIONS,
                          {"task": task, "examples": src, "k": k, "num_queries": sampled, "query_n": s.query_n,
                           "query_temperature": method.temperature, "query_top_p": method.top_p,
                           "query_max_new_tokens": s.query_max_new_tokens, "max_query_rounds": s.max_query_rounds,
                           "seed": cfg.seed, "sampler": sampler(cfg)},
                          {**gen_inputs, **examples_in}, touches=touches, why=why))
        steps.append(_text_filter(cfg, method, "queries.jsonl", "queries", wanted))
        icl = name in ICL_ANSWERS and src != "none"
        a_touches, a_why = examples_touch(src if icl else "none", f"{name}'s answer prompts")
        steps.append(Step("answers", ANSWERS,
                          {"task": task, "n": 1, "temperature": method.temperature, "top_p": method.top_p,
                           "max_new_tokens": answer_new, "seed": cfg.seed + 101, "sampler": sampler(cfg),
                           "examples": src if icl else "none", "k": k if icl else 0, "prompt_tokens": prompt_tokens,
                           "finished_only": False, "answers_only": True, "max_rounds": s.max_query_rounds},
                          {**gen_inputs, "questions": "text_filter", **(examples_in if icl else {})},
                          touches=a_touches, why=a_why))
        steps.append(Step("pool", TO_POOL, {}, {"candidates": "answers"}))
        pool = "pool"
    steps.append(target_sft(cfg, 1, pool, None))
    available = {"base": ("target", None), "target": ("target", "target@1")}
    if name in DP_METHODS:
        available["gen_proxy"] = ("proxy", "gen_proxy")
    steps += evaluation(cfg, available)
    return Recipe(name, steps)


def _text_filter(cfg, method, file: str, items: str, wanted: int) -> Step:
    """Drop instructions under ``method.min_question_tokens`` and near-duplicates (TF-IDF cosine over
    ``method.dedup_threshold``): of the examples their own prompt showed (``method.dedup_scope=prompt``,
    the reference), or of each other and of the whole example pool (``pool``); keep the first ``wanted``
    of the rest."""
    src = method.examples
    touches, why = examples_touch(src if method.dedup_threshold is not None else "none",
                                  "the near-duplicate filter's comparisons")
    inputs = {"items": items}
    if src != "none":
        inputs["references"] = f"data:{src}"
    return Step("text_filter", TEXT_FILTER,
                {"file": file, "min_tokens": method.min_question_tokens, "dedup_threshold": method.dedup_threshold,
                 "references": src, "dedup_scope": method.dedup_scope, "max_kept": wanted},
                inputs, touches=touches, why=why.replace("are shown as examples in", "are compared with in"))
