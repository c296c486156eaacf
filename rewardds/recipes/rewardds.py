"""RewardDS (method.md section 1) as a recipe.

client:  base models -> DP generation proxy -> DP reward proxy (pairs in memory)
server:  queries -> candidates -> scores -> filter -> target@1
         -> [refine@k -> target@k] for k = 2..K -> evaluation
"""
from __future__ import annotations

from rewardds.recipes.common import base_models, evaluation, examples_touch, plain, private_finetune, sampler, target_sft
from rewardds.recipes.step import DPUse, Recipe, Step, Touch
from rewardds.stages.filtering import SCORES, SELECT
from rewardds.stages.refinement import REFINE
from rewardds.stages.reward_proxy import REWARD_MODEL
from rewardds.stages.synthesis import ANSWERS, QUESTIONS


def build(cfg, method) -> Recipe:
    s, task, paper = cfg.synthesis, cfg.task.name, cfg.privacy.mode == "paper"
    gen = private_finetune(cfg, "gen_proxy", "proxy", plain(cfg.gen_proxy), "gen_proxy", loss_on=cfg.gen_proxy.loss_on)
    paper_pairs = bool(paper and cfg.privacy.nondp_proxy_pairs)
    reward_touch = (Touch.DP_SGD, Touch.NONPRIVATE_TRAINING) if paper_pairs else (Touch.DP_SGD,)
    reward = Step(
        "reward_proxy", REWARD_MODEL,
        {"task": task, "lm": plain(cfg.model.proxy), "lora": plain(cfg.model.lora), "train": plain(cfg.reward_proxy),
         "answer_tokens": s.answer_max_new_tokens, "sampler": sampler(cfg), "seed": cfg.seed,
         "paper_pairs": paper_pairs, "nondp_train": plain(cfg.gen_proxy)},
        {"base": "base:proxy", "gen_proxy": "gen_proxy", "records": "data:private"},
        touches=reward_touch, dp=DPUse("reward_proxy", cfg.reward_proxy.batch_size, cfg.reward_proxy.epochs),
        side="client",
        why="privacy.mode=paper with non-DP proxy pairs: a non-private model trained on every private record "
            "shapes each record's reward pairs, so the reward proxy has no DP guarantee" if paper_pairs else "")
    source = "private" if paper else "public"
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
         "examples": "none", "k": 0},
        {"base": "base:proxy", "adapter": "gen_proxy", "questions": "queries"})
    scorer = {"lm": plain(cfg.model.proxy), "answer_tokens": s.answer_max_new_tokens, "task": task}
    scorer_inputs = {"base": "base:proxy", "gen_proxy": "gen_proxy", "reward_proxy": "reward_proxy"}
    scores = Step("scores", SCORES, scorer, {**scorer_inputs, "candidates": "candidates"})
    f = cfg.filter
    filt = Step("filter", SELECT, {"name": f.name, "alpha": f.alpha, "keep_ratio": f.keep_ratio, "seed": cfg.seed},
                {"scores": "scores"})
    steps = [base_models(), gen, reward, queries, candidates, scores, filt, target_sft(cfg, 1, "filter", None)]
    pool = "filter"
    for rnd in range(2, cfg.refine.rounds + 1):
        refine = Step(
            f"refine@{rnd}", REFINE,
            {**scorer, "round": rnd, "refine": plain(cfg.refine), "alpha": f.alpha, "seed": cfg.seed,
             "sampler": sampler(cfg)},
            {**scorer_inputs, "pool": pool, "target": f"target@{rnd - 1}", "target_base": "base:target"})
        steps += [refine, target_sft(cfg, rnd, refine.name, f"target@{rnd - 1}")]
        pool = refine.name
    steps += evaluation(cfg, {"base": ("target", None), "gen_proxy": ("proxy", "gen_proxy"),
                              "target": ("target", f"target@{cfg.refine.rounds}")})
    return Recipe(method.name, steps)
