"""KnowledgeSG (method.md section 2, arXiv 2410.05725) as a recipe.

client:  base models -> [transmitting unit: public seed fine-tune] -> DP LoRA generator
         (the whole budget; the adapter is the only release)
server:  instructions from the DP model -> short / near-duplicate filter -> domain judgement
         by the professional model -> professional answers -> IFD ranking with the model being
         fine-tuned -> SFT of the DP model (or a separate target) -> evaluation

Instruction count: ``method.num_instructions``, by default twice ``synthesis.examples`` (the
size every method of a comparison trains on; IFD ranking keeps half). The reference samples 2x
the private set size; N is a private count, so a DP-free recipe cannot read it: set the count
explicitly. Strict mode compares instructions only with PUBLIC text and with
each other; ``method.dedup_against=private`` (the reference) needs ``privacy.mode=paper`` and the
release then has no formal guarantee.
"""
from __future__ import annotations

from dataclasses import replace

from rewardds.recipes.common import (base_models, evaluation, model_eval_params, plain, private_finetune, sampler,
                                     synthetic_examples)
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


def build(cfg, method) -> Recipe:
    task, s = cfg.task.name, cfg.synthesis
    dp_base = "seed_base" if method.transmit_unit else "base:proxy"  # the DP adapter's base model
    steps = [base_models(), Step("professional_model", PROFESSIONAL_MODEL)]
    if method.transmit_unit:
        steps.append(seed_base(cfg, method))
    steps.append(dp_generator(cfg, method, dp_base))
    gen = {"base": dp_base, "adapter": "gen_proxy"}
    steps.append(Step("queries", QUESTIONS,
                      {"task": task, "examples": "none", "k": 0,
                       "num_queries": method.num_instructions or 2 * synthetic_examples(cfg), "query_n": s.query_n,
                       "query_temperature": method.temperature, "query_top_p": method.top_p,
                       "query_max_new_tokens": s.query_max_new_tokens, "max_query_rounds": s.max_query_rounds,
                       "seed": cfg.seed, "sampler": sampler(cfg)}, gen))
    steps.append(text_filter(method))
    questions = "text_filter"
    if method.domain_filter:
        steps.append(Step("domain", DOMAIN_FILTER,
                          {"task": task, "margin": method.domain_margin, "dtype": cfg.model.professional.dtype},
                          {"base": "base:professional", "items": "text_filter"}))
        questions = "domain"
    steps.append(Step("answers", ANSWERS,
                      {"task": task, "n": 1, "temperature": method.temperature, "top_p": method.top_p,
                       "max_new_tokens": method.max_new_tokens or s.answer_max_new_tokens, "seed": cfg.seed + 101,
                       "sampler": sampler(cfg), "examples": "none", "k": 0, "finished_only": False},
                      {"base": "base:professional", "questions": questions}))
    steps.append(Step("pool", TO_POOL, {}, {"candidates": "answers"}))
    trained = _trained_model(cfg, method, dp_base)
    steps.append(Step("ifd", IFD_FILTER,
                      {"task": task, "dtype": trained["lm"]["dtype"], "max_length": trained["lm"]["max_length"],
                       "max_ifd": method.ifd_max, "keep_share": method.ifd_keep},
                      {**trained["inputs"], "pool": "pool"}))
    steps.append(sft(cfg, trained))
    steps += evaluations(cfg, method, dp_base)
    return Recipe(method.name, steps)


def dp_generator(cfg, method, dp_base: str) -> Step:
    """The client's DP LoRA fine-tune (the whole budget): learns to answer and to write instructions,
    so the server can sample instructions from it. Without the transmitting unit and with
    ``method.epochs`` unset it is the same cache entry as the DP-Instruct baselines' generator."""
    train = plain(cfg.gen_proxy)
    if method.epochs is not None:
        train["epochs"] = method.epochs
    step = private_finetune(cfg, "gen_proxy", "proxy", train, "gen_proxy", formats=GENERATOR_FORMATS)
    return step if dp_base == "base:proxy" else replace(step, inputs={**step.inputs, "base": dp_base})


def seed_base(cfg, method) -> Step:
    """Transmitting unit: the proxy base fine-tuned on the public seed set both sides agree on."""
    return Step("seed_base", SEED_BASE,
                {"task": cfg.task.name, "lm": plain(cfg.model.proxy), "lora": plain(cfg.model.lora),
                 "epochs": method.seed_epochs, "batch_size": cfg.gen_proxy.batch_size, "seed": cfg.seed},
                {"base": "base:proxy", "seed": "data:public"})


def text_filter(method) -> Step:
    """Short instructions and near-duplicates (of each other and of ``method.dedup_against``)."""
    src = method.dedup_against if method.dedup_threshold is not None else "none"
    inputs = {"items": "queries"}
    if src != "none":
        inputs["references"] = f"data:{src}"
    private = src == "private"
    return Step("text_filter", TEXT_FILTER,
                {"file": "queries.jsonl", "min_tokens": method.min_instruction_tokens,
                 "dedup_threshold": method.dedup_threshold, "references": src},
                inputs, touches=(Touch.PRIVATE_PROMPT,) if private else (Touch.NONE,), why=DEDUP_WHY if private else "")


def _trained_model(cfg, method, dp_base: str) -> dict:
    """What the final SFT trains: the DP model (its adapter continued on its base) or a fresh target."""
    if method.target == "dp_model":
        return {"lm": plain(cfg.model.proxy), "inputs": {"base": dp_base, "adapter": "gen_proxy"},
                "previous": "gen_proxy"}
    return {"lm": plain(cfg.model.target), "inputs": {"base": "base:target"}, "previous": None}


def sft(cfg, trained: dict) -> Step:
    """Normal (non-DP) fine-tuning on the IFD-ranked set, ``target.*`` epochs and batch size."""
    params = {"round": 1, "epochs": cfg.target.epochs_first, "batch_size": cfg.target.batch_size,
              "lm": trained["lm"], "lora": plain(cfg.model.lora), "seed": cfg.seed, "task": cfg.task.name}
    inputs = {"base": trained["inputs"]["base"], "pool": "ifd"}
    if trained["previous"] is not None:
        inputs["previous"] = trained["previous"]
    return Step("target@1", TARGET_SFT, params, inputs)


def evaluations(cfg, method, dp_base: str) -> list[Step]:
    """base / gen_proxy / target as usual (labels in ``eval.models``); with the transmitting unit the DP
    models are evaluated on the seed base, plus ``attacker``: the intercepted DP adapter merged into
    the ORIGINAL public base, what an interceptor without the seed model gets."""
    which = "proxy" if method.target == "dp_model" else "target"
    steps = evaluation(cfg, {"base": (which, None), "gen_proxy": ("proxy", "gen_proxy"), "target": (which, "target@1")})
    if not method.transmit_unit:
        return steps
    on_seed = {"gen_proxy"} | ({"target"} if which == "proxy" else set())
    steps = [replace(st, inputs={**st.inputs, "base": dp_base}) if st.eval_label in on_seed else st for st in steps]
    params = {"label": "attacker", "eval": model_eval_params(cfg), "dtype": cfg.model.proxy.dtype, "seed": cfg.seed,
              "data_seed": cfg.task.data.seed, "sampler": sampler(cfg), "task": cfg.task.name}
    inputs = {"base": "base:proxy", "test": "data:test", "adapter": "gen_proxy"}
    return steps + [Step("eval_attacker", EVALUATE, params, inputs, eval_label="attacker")]
