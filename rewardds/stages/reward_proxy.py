"""Stages 2-3 (client): preference pairs from each private record, then the DP reward proxy.

Pairs (chosen > rejected) per record: truth > base, truth > DP proxy, DP proxy >
base; in privacy.mode=paper also truth > non-DP proxy and non-DP proxy > base.
The pairs contain private text, so they are built in memory and never written;
not even their counts leave this stage (a non-DP statistic of the records).
"""
from __future__ import annotations

import logging
from pathlib import Path

from omegaconf import OmegaConf

from rewardds import chat
from rewardds.io import write_json
from rewardds.models.loading import save_adapter
from rewardds.sampling import SamplingParams, build_sampler
from rewardds.stages.context import Context
from rewardds.stages.gen_proxy import component_record, dp_key, dp_settings, train_lm_on_records
from rewardds.training.lm import fit
from rewardds.training.reward import PairCollator, PairDataset, RewardModule, build_reward_model, encode_reward_text

log = logging.getLogger(__name__)


def greedy_answers(ctx: Context, base: Path, adapter: Path | None, questions: list[str], desc: str) -> list[str]:
    from rewardds.models.loading import load_tokenizer

    tok = load_tokenizer(base)
    prompts = [chat.render_prompt(tok, ctx.task, q) for q in questions]
    params = SamplingParams(n=1, temperature=0.0, max_new_tokens=ctx.cfg.synthesis.answer_max_new_tokens,
                            seed=ctx.cfg.seed)
    with build_sampler(ctx.cfg.sampler, base, adapter) as sampler:
        outs = sampler.generate(prompts, params, desc=desc)
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


def run(ctx: Context) -> Path:
    cfg = ctx.cfg
    name = "reward_proxy"
    if cfg.dp.enabled:
        ctx.ledger.check(name)

    def compute(out: Path) -> dict:
        from rewardds.models.loading import load_tokenizer

        base = ctx.paths["proxy_base"]
        records = ctx.data.private
        questions = [r.question for r in records]
        base_ans = greedy_answers(ctx, base, None, questions, "pairs: base answers")
        dp_ans = greedy_answers(ctx, base, ctx.paths["gen_proxy"] / "adapter", questions, "pairs: DP proxy answers")
        nondp_ans = None
        if cfg.privacy.mode == "paper" and cfg.privacy.nondp_proxy_pairs:
            log.warning("privacy.mode=paper: training a NON-private proxy on the private records for reward pairs; "
                        "the reward proxy then has no DP guarantee")
            module = train_lm_on_records(ctx, base, records, out / "_resume" / "nondp", "nondp_proxy", None,
                                         cfg.gen_proxy, seed_offset=17)
            nondp_ans = greedy_answers(ctx, base, out / "_resume" / "nondp" / "adapter", questions, "pairs: non-DP answers")
            del module
        texts = build_pairs([r.answer for r in records], base_ans, dp_ans, nondp_ans)
        tok = load_tokenizer(base)
        L = cfg.model.proxy.max_length
        q_text = {i: records[i].question for i in range(len(records))}
        items = [[(encode_reward_text(tok, ctx.task, q_text[i], c, L), encode_reward_text(tok, ctx.task, q_text[i], r, L))
                  for c, r in pairs] for i, pairs in enumerate(texts)]
        dataset = PairDataset(items)
        dp = dp_settings(ctx, name, cfg.reward_proxy, seed_offset=1)
        model = build_reward_model(base, cfg.model.proxy.dtype, cfg.model.lora, tok.pad_token_id, seed=cfg.seed + 1)
        model.to(ctx.device)
        module = RewardModule(model, lr=cfg.model.proxy.lr, pad_id=tok.pad_token_id, dp=dp, seed=cfg.seed + 1)
        fit(module, dataset, batch_size=cfg.reward_proxy.batch_size, epochs=cfg.reward_proxy.epochs,
            trainer_cfg=cfg.trainer, desc=name, seed=cfg.seed + 1, collate=PairCollator(tok.pad_token_id),
            logger=ctx.tracker.lightning_logger(name))
        save_adapter(model, out / "adapter")
        rec = component_record(ctx, name, module, dp)
        if nondp_ans is not None:
            rec["nondp_proxy_pairs"] = True
        write_json(out / "component.json", rec)
        return rec

    key = {"private": ctx.data.fingerprint("private"), "task": ctx.task,
           "train": OmegaConf.to_container(cfg.reward_proxy), "lora": OmegaConf.to_container(cfg.model.lora),
           "lm": OmegaConf.to_container(cfg.model.proxy), "dp": dp_key(ctx, name), "seed": cfg.seed,
           "answer_tokens": cfg.synthesis.answer_max_new_tokens, "sampler": cfg.sampler.backend,
           "paper_pairs": bool(cfg.privacy.mode == "paper" and cfg.privacy.nondp_proxy_pairs)}
    out = ctx.runner.run(name, key, {"base": ctx.digests["proxy"], "gen_proxy": ctx.paths["gen_proxy"]}, compute)
    ctx.paths[name] = out
    return out
