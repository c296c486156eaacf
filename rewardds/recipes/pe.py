"""Private Evolution as Aug-PE runs it (method.md section 3) as a recipe.

1. ``pe_init``: N seed questions from the public proxy base, prompted with public example questions
   only (the QUESTIONS block; no private data).
2. ``pe``: the seeds and L - 1 variations of each, then ``method.rounds`` rounds of DP
   nearest-neighbour voting by the private records, noisy histogram, top-N selection, selected
   kept plus L - 1 LM variations each (rewardds/stages/private_evolution.py). The histograms are
   Gaussian mechanisms without subsampling (DPUse ``full_batch``: sample rate 1, ``rounds`` steps),
   planned and calibrated with every other component against dp.epsilon.
3. ``answers`` -> ``pool``: the proxy base answers the last round's selected questions (post-processing).
4. target SFT on the pool, then evaluation.
"""
from __future__ import annotations

from rewardds.recipes.common import base_models, evaluation, sampler, synthetic_examples, target_sft
from rewardds.recipes.step import DPUse, Recipe, Step, Touch
from rewardds.stages.private_evolution import PRIVATE_EVOLUTION
from rewardds.stages.synthesis import ANSWERS, QUESTIONS, TO_POOL

COMPONENT = "pe_histograms"


def build(cfg, method) -> Recipe:
    s, task = cfg.synthesis, cfg.task.name
    question_new = method.max_new_tokens or s.query_max_new_tokens
    answer_new = method.answer_max_new_tokens or s.answer_max_new_tokens
    public = {"base": "base:proxy"}
    steps = [base_models()]
    steps.append(Step("pe_init", QUESTIONS,
                      {"task": task, "examples": "public", "k": method.k,
                       "num_queries": method.population or synthetic_examples(cfg),
                       "query_n": s.query_n, "query_temperature": method.temperature, "query_top_p": method.top_p,
                       "query_max_new_tokens": question_new, "max_query_rounds": s.max_query_rounds,
                       "seed": cfg.seed, "sampler": sampler(cfg)},
                      {**public, "examples": "data:public"}))
    steps.append(Step("pe", PRIVATE_EVOLUTION,
                      {"task": task, "component": COMPONENT, "rounds": method.rounds, "variations": method.variations,
                       "selection": method.selection, "embedder": method.embedder,
                       "threshold": method.threshold, "temperature": method.temperature, "top_p": method.top_p,
                       "max_new_tokens": question_new, "seed": cfg.seed + 211, "sampler": sampler(cfg),
                       "embed_batch_size": method.embed_batch_size},
                      {**public, "population": "pe_init", "records": "data:private"},
                      touches=(Touch.DP_SGD,),  # a DP component of the ledger (Gaussian, not DP-SGD)
                      dp=DPUse(COMPONENT, 0, method.rounds, full_batch=True,
                               noise_multiplier=method.noise_multiplier)))
    steps.append(Step("answers", ANSWERS,
                      {"task": task, "n": 1, "temperature": method.temperature, "top_p": method.top_p,
                       "max_new_tokens": answer_new, "seed": cfg.seed + 101, "sampler": sampler(cfg),
                       "examples": "none", "k": 0, "prompt_tokens": max(32, cfg.model.proxy.max_length),
                       "finished_only": False, "answers_only": True, "max_rounds": cfg.synthesis.max_query_rounds},
                      {**public, "questions": "pe"}))
    steps.append(Step("pool", TO_POOL, {}, {"candidates": "answers"}))
    steps.append(target_sft(cfg, 1, "pool", None))
    steps += evaluation(cfg, {"base": ("target", None), "target": ("target", "target@1")})
    return Recipe(method.name, steps)
