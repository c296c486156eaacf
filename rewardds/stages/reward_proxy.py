"""Stages 2-3 (client): preference pairs from each private record, then the DP reward proxy.

Pairs (chosen > rejected) per record: truth > base, truth > DP proxy, DP proxy >
base; in privacy.mode=paper also truth > non-DP proxy and non-DP proxy > base.
The pairs contain private text, so they are built in memory and never written;
not even their counts leave this stage (a non-DP statistic of the records).
"""
from __future__ import annotations

import logging
from pathlib import Path

from types import SimpleNamespace

from rewardds import chat
from rewardds.io import write_json
from rewardds.models.loading import load_tokenizer, save_adapter
from rewardds.sampling import SamplingParams, build_sampler
from rewardds.stages.block import Block
from rewardds.stages.context import Context
from rewardds.stages.gen_proxy import component_record, dp_settings, train_lm_on_records
from rewardds.training.lm import fit
from rewardds.training.reward import PairCollator, PairDataset, RewardModule, build_reward_model, encode_reward_text

log = logging.getLogger(__name__)


def greedy_answers(sampler_cfg, task: str, base: Path, adapter: Path | None, questions: list[str], max_new_tokens: int,
                   seed: int, desc: str) -> list[str]:
    tok = load_tokenizer(base)
    prompts = [chat.render_prompt(tok, task, q) for q in questions]
    params = SamplingParams(n=1, temperature=0.0, max_new_tokens=max_new_tokens, seed=seed)
    with build_sampler(sampler_cfg, base, adapter) as sampler:
        outs = sampler.generate(prompts, params, desc=desc, counts=False)  # prompts: private questions
    return [o[0].text for o in outs]


def build_pairs(truth: list[str], base: list[str], dp: list[str], nondp: list[str] | None = None) -> list[list[tuple[str, str]]]:
    """Per record, the list of (chosen, rejected) answer texts."""
    out = []
    for i, t in enumerate(truth):
        pairs = [(t, base[i]), (t, dp[i]), (dp[i], base[i])]
        if nondp is not None:
            pairs += [(t, nondp[i]), (nondp[i], base[i])]
        out.append([(c, r) for c, r in pairs if c.strip() != r.strip()])  # identical texts carry no preference
    return out


def _reward_model(ctx: Context, step, ins: dict, out: Path) -> dict:
    """params: task, lm, lora, train, answer_tokens, sampler, seed, paper_pairs, nondp_train;
    inputs: base, gen_proxy (the DP generation proxy), records (data:private)."""
    p = step.params
    name = step.dp.component
    base, spec, train = ins["base"], SimpleNamespace(**p["lm"]), SimpleNamespace(**p["train"])
    records = ctx.data.private
    questions = [r.question for r in records]

    def answers(adapter, desc):
        return greedy_answers(p["sampler"], ctx.task, base, adapter, questions, p["answer_tokens"], p["seed"], desc)

    base_ans = answers(None, "pairs: base answers")
    dp_ans = answers(ins["gen_proxy"] / "adapter", "pairs: DP proxy answers")
    nondp_ans = None
    if p["paper_pairs"]:
        log.warning("privacy.mode=paper: training a NON-private proxy on the private records for reward pairs; "
                    "the reward proxy then has no DP guarantee")
        module = train_lm_on_records(ctx, base, records, out / "_resume" / "nondp", "nondp_proxy", None,
                                     SimpleNamespace(**p["nondp_train"]), seed_offset=17, spec=spec,
                                     lora=SimpleNamespace(**p["lora"]))
        nondp_ans = answers(out / "_resume" / "nondp" / "adapter", "pairs: non-DP answers")
        del module
    texts = build_pairs([r.answer for r in records], base_ans, dp_ans, nondp_ans)
    tok = load_tokenizer(base)
    L = spec.max_length
    items = [[(encode_reward_text(tok, ctx.task, records[i].question, c, L),
               encode_reward_text(tok, ctx.task, records[i].question, r, L)) for c, r in pairs]
             for i, pairs in enumerate(texts)]
    dp = dp_settings(ctx, name, train, seed_offset=1)
    model = build_reward_model(base, spec.dtype, SimpleNamespace(**p["lora"]), tok.pad_token_id, seed=p["seed"] + 1)
    model.to(ctx.device)
    module = RewardModule(model, lr=spec.lr, pad_id=tok.pad_token_id, dp=dp, seed=p["seed"] + 1)
    fit(module, PairDataset(items), batch_size=train.batch_size, epochs=train.epochs, trainer_cfg=ctx.cfg.trainer,
        desc=step.name, seed=p["seed"] + 1, collate=PairCollator(tok.pad_token_id),
        logger=ctx.tracker.lightning_logger(step.name))
    save_adapter(model, out / "adapter")
    rec = component_record(ctx, name, module, dp)
    if nondp_ans is not None:
        rec["nondp_proxy_pairs"] = True
    write_json(out / "component.json", rec)
    return rec


REWARD_MODEL = Block("reward_model", _reward_model)
