"""KnowledgeSG (method.md section 2, arXiv 2410.05725) as a recipe.

client:  base models -> [transmitting unit: public seed fine-tune] -> DP LoRA generator on
         ``method.dp_model`` (the target checkpoint by default; the whole budget; the adapter is the
         only release)
server:  instructions from the DP model (k example instructions in each prompt, as the reference's
         dp-instruct-icl prompts; public in strict mode) -> short / near-duplicate filter (each
         instruction against its own prompt's examples) -> domain judgement by the professional model
         -> professional answers -> [IFD ranking, ``method.ifd_keep``] -> SFT of the DP model (or a
         separate target) -> evaluation

Sizes: the set is cut to ``synthesis.examples`` (the size every method of a comparison trains on)
after the domain filter, or after the IFD ranking when it is on (it then keeps ``ifd_keep`` of
``synthesis.examples / ifd_keep`` pairs). Instructions sampled: ``method.num_instructions``, by
default twice what the filters must leave. The reference samples 2x the private set size; N is a
private count, so a DP-free recipe cannot read it: set the count explicitly. Strict mode compares
instructions only with PUBLIC text; ``method.dedup_against=private`` (the reference: private example
instructions in the prompts, compared with) needs ``privacy.mode=paper`` and the release then has no
formal guarantee.
"""
from __future__ import annotations

import math
from dataclasses import replace

from rewardds.recipes.common import (base_models, evaluation, examples_touch, model_eval_params, plain,
                                     private_finetune, sampler, synthetic_examples)
from rewardds.recipes.fewshot import GENERATOR_FORMATS
from rewardds.recipes.step import Recipe, Step, Touch
from rewardds.stages.base_model import PROFESSIONAL_MODEL
from rewardds.stages.evaluate import EVALUATE
from rewardds.stages.filtering import TEXT_FILTER
from rewardds.stages.knowledgesg import DOMAIN_FILTER, IFD_FILTER, SEED_BASE
from rewardds.stages.synthesis import ANSWERS, QUESTIONS, TO_POOL
from rewardds.stages.target import TARGET_SFT

DEDUP_WHY = ("knowledgesg's near-duplicate filter compares synthetic instructions with the private records "
             "(method.dedup_against=private): which instructions survive depends on the private text, a "
             "data-dependent release that no DP training covers")


def sizes(cfg, method) -> tuple[int, int, int]:
    """(instructions sampled, pairs left after the domain filter, pairs trained on)."""
    wanted = synthetic_examples(cfg)
    before_ifd = math.ceil(wanted / method.ifd_keep) if method.ifd_keep is not None else wanted
    return method.num_instructions or 2 * before_ifd, before_ifd, wanted


def build(cfg, method) -> Recipe:
    task, s = cfg.task.name, cfg.synthesis
    dp_base = "seed_base" if method.transmit_unit else f"base:{method.dp_model}"  # the DP adapter's base model
    sampled, before_ifd, wanted = sizes(cfg, method)
    steps = [base_models(), Step("professional_model", PROFESSIONAL_MODEL)]
    if method.transmit_unit:
        steps.append(seed_base(cfg, method))
    steps.append(dp_generator(cfg, method, dp_base))
    src = method.dedup_against
    k = method.k if src != "none" else 0
    touches, why = examples_touch(src if k else "none", "knowledgesg's instruction prompts")
    gen = {"base": dp_base, "adapter": "gen_proxy", **({"examples": f"data:{src}"} if k else {})}
    steps.append(Step("queries", QUESTIONS,
                      {"task": task, "examples": src if k else "none", "k": k, "num_queries": sampled,
                       "query_n": s.query_n, "query_temperature": method.temperature, "query_top_p": method.top_p,
                       "query_max_new_tokens": s.query_max_new_tokens, "max_query_rounds": s.max_query_rounds,
                       "seed": cfg.seed, "sampler": sampler(cfg)}, gen, touches=touches, why=why))
    steps.append(text_filter(method, None if method.domain_filter else before_ifd))
    questions = "text_filter"
    if method.domain_filter:
        steps.append(Step("domain", DOMAIN_FILTER,
                          {"task": task, "margin": method.domain_margin, "dtype": cfg.model.professional.dtype,
                           "max_kept": before_ifd},
                          {"base": "base:professional", "items": "text_filter"}))
        questions = "domain"
    steps.append(Step("answers", ANSWERS,
                      {"task": task, "n": 1, "temperature": method.temperature, "top_p": method.top_p,
                       "max_new_tokens": method.max_new_tokens or s.answer_max_new_tokens, "seed": cfg.seed + 101,
                       "sampler": sampler(cfg), "examples": "none", "k": 0, "finished_only": False, "answers_only": True,
                       "max_rounds": s.max_query_rounds},
                      {"base": "base:professional", "questions": questions}))
    steps.append(Step("pool", TO_POOL, {}, {"candidates": "answers"}))
    trained = _trained_model(cfg, method, dp_base)
    pool = "pool"
    if method.ifd_keep is not None:
        steps.append(Step("ifd", IFD_FILTER,
                          {"task": task, "dtype": trained["lm"]["dtype"], "max_length": trained["lm"]["max_length"],
                           "max_ifd": method.ifd_max, "keep_share": method.ifd_keep, "order": method.ifd_order,
                           "max_kept": wanted},
                          {**trained["inputs"], "pool": "pool"}))
        pool = "ifd"
    steps.append(sft(cfg, trained, pool))
    steps += evaluations(cfg, method, dp_base)
    return Recipe(method.name, steps)


def dp_generator(cfg, method, dp_base: str) -> Step:
    """The client's DP LoRA fine-tune (the whole budget) of ``method.dp_model``: learns to answer and to
    write instructions, so the server can sample instructions from it. With ``dp_model=proxy``, no
    transmitting unit and ``method.epochs`` unset it is the same cache entry as the DP-Instruct
    baselines' generator."""
    train = plain(cfg.gen_proxy)
    if method.epochs is not None:
        train["epochs"] = method.epochs
    step = private_finetune(cfg, "gen_proxy", method.dp_model, train, "gen_proxy", formats=GENERATOR_FORMATS)
    return step if dp_base == f"base:{method.dp_model}" else replace(step, inputs={**step.inputs, "base": dp_base})


def seed_base(cfg, method) -> Step:
    """Transmitting unit: the DP model's public base fine-tuned on the public seed set both sides agree on."""
    return Step("seed_base", SEED_BASE,
                {"task": cfg.task.name, "lm": plain(cfg.model[method.dp_model]), "lora": plain(cfg.model.lora),
                 "epochs": method.seed_epochs, "batch_size": cfg.gen_proxy.batch_size, "seed": cfg.seed},
                {"base": f"base:{method.dp_model}", "seed": "data:public"})


def text_filter(method, max_kept: int | None) -> Step:
    """Short instructions and near-duplicates: of their own prompt's example instructions
    (``dedup_scope=prompt``, the reference), or of every ``dedup_against`` text and each other (``pool``)."""
    src = method.dedup_against if method.dedup_threshold is not None else "none"
    inputs = {"items": "queries"}
    if src != "none":
        inputs["references"] = f"data:{src}"
    private = src == "private"
    params = {"file": "queries.jsonl", "min_tokens": method.min_instruction_tokens,
              "dedup_threshold": method.dedup_threshold, "references": src, "dedup_scope": method.dedup_scope}
    if max_kept is not None:
        params["max_kept"] = max_kept
    return Step("text_filter", TEXT_FILTER, params, inputs,
                touches=(Touch.PRIVATE_PROMPT,) if private else (Touch.NONE,), why=DEDUP_WHY if private else "")


def _trained_model(cfg, method, dp_base: str) -> dict:
    """What the final SFT trains: the DP model (its adapter continued on its base) or a fresh target."""
    if method.target == "dp_model":
        return {"lm": plain(cfg.model[method.dp_model]), "inputs": {"base": dp_base, "adapter": "gen_proxy"},
                "previous": "gen_proxy"}
    return {"lm": plain(cfg.model.target), "inputs": {"base": "base:target"}, "previous": None}


def sft(cfg, trained: dict, pool: str) -> Step:
    """Normal (non-DP) fine-tuning on the filtered set, ``target.*`` epochs and batch size."""
    params = {"round": 1, "epochs": cfg.target.epochs_first, "batch_size": cfg.target.batch_size,
              "lm": trained["lm"], "lora": plain(cfg.model.lora), "seed": cfg.seed, "task": cfg.task.name}
    inputs = {"base": trained["inputs"]["base"], "pool": pool}
    if trained["previous"] is not None:
        inputs["previous"] = trained["previous"]
    return Step("target@1", TARGET_SFT, params, inputs)


def evaluations(cfg, method, dp_base: str) -> list[Step]:
    """base / gen_proxy / target as usual (labels in ``eval.models``); with the transmitting unit the DP
    models are evaluated on the seed base, plus ``attacker``: the intercepted DP adapter merged into
    the ORIGINAL public base, what an interceptor without the seed model gets."""
    dp = method.dp_model
    which = dp if method.target == "dp_model" else "target"
    steps = evaluation(cfg, {"base": (which, None), "gen_proxy": (dp, "gen_proxy"), "target": (which, "target@1")})
    if not method.transmit_unit:
        return steps
    on_seed = {"gen_proxy"} | ({"target"} if method.target == "dp_model" else set())
    steps = [replace(st, inputs={**st.inputs, "base": dp_base}) if st.eval_label in on_seed else st for st in steps]
    params = {"label": "attacker", "eval": model_eval_params(cfg), "dtype": cfg.model[dp].dtype, "seed": cfg.seed,
              "data_seed": cfg.task.data.seed, "sampler": sampler(cfg), "task": cfg.task.name}
    inputs = {"base": f"base:{dp}", "test": "data:test", "adapter": "gen_proxy"}
    return steps + [Step("eval_attacker", EVALUATE, params, inputs, eval_label="attacker")]
