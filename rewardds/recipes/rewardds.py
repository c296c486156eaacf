"""RewardDS (method.md section 1) as a recipe.

client:  base models -> DP generation proxy -> DP reward proxy (pairs in memory)
         (reward=gfriend: -> judge SFT (DP with bootstrap judgements) -> judge M-DPO (DP))
server:  queries -> candidates -> scores -> filter -> target@1
         -> [refine@k -> target@k] for k = 2..K -> evaluation
"""
from __future__ import annotations

from rewardds.recipes.common import base_models, evaluation, examples_touch, plain, private_finetune, sampler, target_sft
from rewardds.recipes.step import DPUse, Recipe, Step, Touch
from rewardds.stages.filtering import SCORES, SELECT
from rewardds.stages.gfriend import JUDGE_DPO, JUDGE_SFT
from rewardds.stages.refinement import REFINE
from rewardds.stages.reward_proxy import REWARD_MODEL
from rewardds.stages.synthesis import ANSWERS, QUESTIONS


def build(cfg, method) -> Recipe:
    s, task, paper = cfg.synthesis, cfg.task.name, cfg.privacy.mode == "paper"
    gen = private_finetune(cfg, "gen_proxy", "proxy", plain(cfg.gen_proxy), "gen_proxy", loss_on=cfg.gen_proxy.loss_on)
    if cfg.reward.name == "gfriend":
        reward_steps, reward_name, reward_params = gfriend_steps(cfg)
    else:
        reward_steps, reward_name, reward_params = [bt_step(cfg, paper)], "reward_proxy", {}
    example_source = cfg.privacy.example_source
    source = example_source if example_source != "auto" else ("private" if paper else "public")
    touches, why = examples_touch(source, "server-side synthesis prompts (privacy.mode=paper)")
    queries = Step(
        "queries", QUESTIONS,
        {"task": task, "examples": source, "k": cfg.privacy.public_examples, "num_queries": s.num_queries,
         "query_n": s.query_n, "query_temperature": s.query_temperature, "query_top_p": s.query_top_p,
         "query_max_new_tokens": s.query_max_new_tokens, "max_query_rounds": s.max_query_rounds, "seed": cfg.seed,
         "sampler": sampler(cfg)},
        {"base": "base:proxy", "adapter": "gen_proxy", "examples": f"data:{source}"}, touches=touches, why=why)
    candidates = Step(
        "candidates", ANSWERS,
        {"task": task, "n": s.answer_n, "temperature": s.answer_temperature, "top_p": s.answer_top_p,
         "max_new_tokens": s.answer_max_new_tokens, "seed": cfg.seed + 101, "sampler": sampler(cfg),
         "examples": "none", "k": 0, "answers_only": True, "max_rounds": s.max_query_rounds},
        {"base": "base:proxy", "adapter": "gen_proxy", "questions": "queries"})
    scorer = {"lm": plain(cfg.model.proxy), "answer_tokens": s.answer_max_new_tokens, "task": task, **reward_params}
    scorer_inputs = {"base": "base:proxy", "gen_proxy": "gen_proxy", "reward_proxy": reward_name}
    scores = Step("scores", SCORES, scorer, {**scorer_inputs, "candidates": "candidates"})
    f = cfg.filter
    filt = Step("filter", SELECT, {"name": f.name, "alpha": f.alpha, "keep_ratio": f.keep_ratio, "seed": cfg.seed},
                {"scores": "scores"})
    steps = [base_models(), gen, *reward_steps, queries, candidates, scores, filt, target_sft(cfg, 1, "filter", None)]
    pool = "filter"
    for rnd in range(2, cfg.refine.rounds + 1):
        rc = plain(cfg.refine)
        scope = rc.pop("scope")
        inputs = {**scorer_inputs, "pool": pool, "target": f"target@{rnd - 1}", "target_base": "base:target"}
        if scope == "all":  # every question: the scored candidates in round 2, the last round's rewrites later
            inputs["items"] = "scores" if rnd == 2 else pool
        refine = Step(
            f"refine@{rnd}", REFINE,
            {**scorer, "round": rnd, "scope": scope, "refine": rc, "alpha": f.alpha, "seed": cfg.seed,
             "sampler": sampler(cfg)}, inputs)
        steps += [refine, target_sft(cfg, rnd, refine.name, f"target@{rnd - 1}")]
        pool = refine.name
    steps += evaluation(cfg, {"base": ("target", None), "gen_proxy": ("proxy", "gen_proxy"),
                              "target": ("target", f"target@{cfg.refine.rounds}")})
    return Recipe(method.name, steps)


def bt_step(cfg, paper: bool) -> Step:
    """The Bradley-Terry reward proxy (reward=bt): one DP component, ``reward_proxy``."""
    s, task = cfg.synthesis, cfg.task.name
    paper_pairs = bool(paper and cfg.privacy.nondp_proxy_pairs)
    reward_touch = (Touch.DP_SGD, Touch.NONPRIVATE_TRAINING) if paper_pairs else (Touch.DP_SGD,)
    return Step(
        "reward_proxy", REWARD_MODEL,
        {"task": task, "lm": plain(cfg.model.proxy), "lora": plain(cfg.model.lora), "train": plain(cfg.reward_proxy),
         "answer_tokens": s.answer_max_new_tokens, "sampler": sampler(cfg), "seed": cfg.seed,
         "paper_pairs": paper_pairs, "nondp_train": plain(cfg.gen_proxy)},
        {"base": "base:proxy", "gen_proxy": "gen_proxy", "records": "data:private"},
        touches=reward_touch, dp=DPUse("reward_proxy", cfg.reward_proxy.batch_size, cfg.reward_proxy.epochs),
        side="client",
        why="privacy.mode=paper with non-DP proxy pairs: a non-private model trained on every private record "
            "shapes each record's reward pairs, so the reward proxy has no DP guarantee" if paper_pairs else "")


def gfriend_steps(cfg) -> tuple[list[Step], str, dict]:
    """reward=gfriend: (steps, the step the scorer reads, the scorer's extra params).

    judge_sft is a DP component when its judgements come from the private pairs (bootstrap);
    with public judgements it sees no private data. judge_dpo (preference refinement and M-DPO
    on the private pairs) is always one."""
    r, task = cfg.reward, cfg.task.name
    settings = {k: v for k, v in plain(r).items() if k not in ("sft", "dpo")}
    common = {"task": task, "lm": plain(cfg.model.proxy), "answer_tokens": cfg.synthesis.answer_max_new_tokens,
              "sampler": sampler(cfg), "seed": cfg.seed, "reward": settings,
              # each record's draws from its own HMAC seed (stages.gfriend): entries made with generators
              # consumed in sequence over the records (one record's rows depending on others) are not reused
              "record_rng": "hmac"}
    private = r.judgements == "bootstrap"
    sft = Step(
        "judge_sft", JUDGE_SFT,
        {**common, "lora": plain(cfg.model.lora), "train": plain(r.sft), "source": "private" if private else "public"},
        {"base": "base:proxy", "gen_proxy": "gen_proxy", "records": "data:private"} if private
        else {"base": "base:proxy", "public": "data:public"},
        touches=(Touch.DP_SGD,) if private else (Touch.NONE,),
        dp=DPUse("judge_sft", r.sft.batch_size, r.sft.epochs) if private else None, side="client")
    dpo = Step(
        "judge_dpo", JUDGE_DPO, {**common, "train": plain(r.dpo)},
        {"base": "base:proxy", "gen_proxy": "gen_proxy", "judge_sft": "judge_sft", "records": "data:private"},
        touches=(Touch.DP_SGD,), dp=DPUse("judge_dpo", r.dpo.batch_size, r.dpo.epochs), side="client")
    scoring = {"name": "gfriend", "sampler": sampler(cfg), "answer_words": r.answer_words,
               "cot_max_new_tokens": r.cot_max_new_tokens, "max_length": r.max_length, "seed": cfg.seed}
    return [sft, dpo], dpo.name, {"reward": scoring}
