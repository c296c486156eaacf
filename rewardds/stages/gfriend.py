"""GFRIEND's client steps (method.md section 4): the judge's SFT and its multi-level DPO.

Both start from the labelled pairs RewardDS's reward proxy uses (:func:`build_pairs`:
truth > base answer, truth > DP-proxy answer, DP-proxy answer > base answer). Built from
private records they are private: they, the judgements sampled on them, and every count
of either live in memory only (never written, never logged). Each record's requests and
judgements depend on that record alone (and on DP or public models), and a record is one
item of the Poisson-sampled DP-SGD dataset, all its rows clipped together: both training
steps are record-level DP components of the one ledger. Only the final judge adapter is
released (``judge_dpo`` runs the ``reward_model`` block kind, whose adapter leaves the client).
"""
from __future__ import annotations

import logging
import random
from pathlib import Path
from types import SimpleNamespace

from rewardds.io import write_json
from rewardds.models.loading import add_lora, load_causal_lm, load_tokenizer, save_adapter
from rewardds.stages.block import Block
from rewardds.reward.gfriend import encode_judgement
from rewardds.reward.judgements import (Request, grade, parse_verdict, ppl_score, record_requests, render_request,
                                        template_judgement)
from rewardds.sampling import SamplingParams, build_sampler
from rewardds.stages.context import Context
from rewardds.stages.gen_proxy import component_record, dp_settings
from rewardds.stages.reward_proxy import build_pairs, greedy_answers
from rewardds.training.dpo import DPOCollator, WeightedDPOModule, record_pairs, row_logprobs
from rewardds.training.lm import CausalLMModule, LMDataset, RecordRowsCollator, fit

log = logging.getLogger(__name__)


def labelled_pairs(ctx: Context, p: dict, ins: dict, source: str) -> tuple[list[str], list[list[tuple[str, str]]]]:
    """(questions, pairs per record): the private records' pairs (base and DP-proxy greedy answers),
    or (``public``) truth > base answer on the first ``reward.public_records`` public records."""
    records = ctx.data.private if source == "private" else ctx.data.public[: p["reward"]["public_records"]]
    questions = [r.question for r in records]

    def answers(adapter, desc):
        return greedy_answers(p["sampler"], ctx.task, ins["base"], adapter, questions, p["answer_tokens"], p["seed"],
                              desc)

    base_ans = answers(None, "judge pairs: base answers")
    if source == "public":
        pairs = [[(r.answer, b)] if r.answer.strip() != b.strip() else [] for r, b in zip(records, base_ans)]
        return questions, pairs
    dp_ans = answers(ins["gen_proxy"] / "adapter", "judge pairs: DP proxy answers")
    return questions, build_pairs([r.answer for r in records], base_ans, dp_ans)


def all_requests(questions, pairs, rc, seed: int) -> list[list[Request]]:
    """Per record its requests, A/B orders drawn from a generator seeded with ``seed``."""
    rng = random.Random(seed)
    return [record_requests(i, q, ps, rng, pointwise=rc.pointwise) for i, (q, ps) in enumerate(zip(questions, pairs))]


def sample_judgements(sampler_cfg, base: Path, adapter: Path | None, tok, reqs: list[Request], rc, n: int,
                      seed: int, desc: str) -> list[list[str]]:
    """``n`` sampled judgements of each request (temperature ``reward.temperature``)."""
    if not reqs:
        return []
    prompts = [render_request(tok, r, rc.answer_words) for r in reqs]
    params = SamplingParams(n=n, temperature=rc.temperature, top_p=rc.top_p, max_new_tokens=rc.cot_max_new_tokens,
                            seed=seed)
    with build_sampler(sampler_cfg, base, adapter) as sampler:
        outs = sampler.generate(prompts, params, desc=desc, counts=False)  # how many requests: a private count
        return [[c.text for c in o] for o in outs]


def sft_judgement(req: Request, samples: list[str], fallback: bool) -> str | None:
    """Bootstrap: the first sample with the right verdict; else the template judgement (or none)."""
    for text in samples:
        if parse_verdict(text) == req.verdict:
            return text
    return template_judgement(req) if fallback else None


def _train(ctx: Context, step, module, data, collate, train) -> None:
    fit(module, data, batch_size=train.batch_size, epochs=train.epochs, trainer_cfg=ctx.cfg.trainer, desc=step.name,
        seed=step.params["seed"] + 3, collate=collate, logger=ctx.tracker.lightning_logger(step.name))


def _judge_sft(ctx: Context, step, ins: dict, out: Path) -> dict:
    """params: task, lm, lora, train (reward.sft), reward, answer_tokens, sampler, seed, source (private |
    public); inputs: base, gen_proxy and records (private) or public (data:public)."""
    p = step.params
    rc, spec, train = SimpleNamespace(**p["reward"]), SimpleNamespace(**p["lm"]), SimpleNamespace(**p["train"])
    base = ins["base"]
    tok = load_tokenizer(base)
    questions, pairs = labelled_pairs(ctx, p, ins, p["source"])
    per_record = all_requests(questions, pairs, rc, p["seed"] + 31)
    flat = [r for reqs in per_record for r in reqs]
    samples = sample_judgements(p["sampler"], base, None, tok, flat, rc, rc.bootstrap_samples, p["seed"] + 37,
                                "judge SFT: bootstrap judgements")
    by_req = dict(zip(map(id, flat), samples))
    rows = []
    for reqs in per_record:
        texts = [(r, sft_judgement(r, by_req[id(r)], rc.template_fallback)) for r in reqs]
        rows.append([encode_judgement(tok, r, t, rc.answer_words, rc.max_length) for r, t in texts if t is not None])
    name = step.dp.component if step.dp is not None else step.name
    dp = dp_settings(ctx, name, train, seed_offset=5) if step.dp is not None else None
    if dp is None:  # no privacy unit to keep: records without rows carry nothing
        rows = [r for r in rows if r]
    model = add_lora(load_causal_lm(base, spec.dtype).to(ctx.device), SimpleNamespace(**p["lora"]), seed=p["seed"] + 5)
    module = CausalLMModule(model, lr=spec.lr, pad_id=tok.pad_token_id, dp=dp, seed=p["seed"] + 5,
                            rows_are_records=False)
    _train(ctx, step, module, LMDataset(rows), RecordRowsCollator(tok.pad_token_id), train)
    save_adapter(model, out / "adapter")
    rec = component_record(ctx, name, module, dp)
    write_json(out / "component.json", rec)
    return rec


def graded_judgements(ctx: Context, p: dict, ins: dict, tok, per_record: list[list[Request]], rc):
    """Preference refinement: per record, per request, its judgements as (row, reference log-prob,
    level). Sampled from the SFT judge (plus the template judgement with ``include_template``);
    s = exp(-PPL / tau) under the SFT judge; right verdict accepts, wrong rejects."""
    base, sft = ins["base"], ins["judge_sft"] / "adapter"
    flat = [r for reqs in per_record for r in reqs]
    samples = sample_judgements(p["sampler"], base, sft, tok, flat, rc, rc.samples, p["seed"] + 41,
                                "judge DPO: sampled judgements")
    texts = [s + ([template_judgement(r)] if rc.include_template else []) for r, s in zip(flat, samples)]
    rows = [[encode_judgement(tok, r, t, rc.answer_words, rc.max_length) for t in ts] for r, ts in zip(flat, texts)]
    ref = load_causal_lm(base, p["lm"]["dtype"], adapter=sft).to(ctx.device)
    scored = row_logprobs(ref, [x for rs in rows for x in rs], tok.pad_token_id)
    del ref
    graded, k = {}, 0
    for r, ts, rs in zip(flat, texts, rows):
        items = []
        for t, row in zip(ts, rs):
            lp, n = scored[k]
            k += 1
            level = grade(parse_verdict(t) == r.verdict, ppl_score(-lp / max(n, 1), rc.tau), rc.threshold)
            items.append((row, lp, level))
        graded[id(r)] = items
    return [[graded[id(r)] for r in reqs] for reqs in per_record]


def dpo_items(graded, rc, seed: int) -> list[list[dict]]:
    """Per record: its weighted DPO pairs, each between two judgements of one of its requests."""
    rng = random.Random(seed)
    out = []
    for requests in graded:
        flat = [j for judgements in requests for j in judgements]
        pairs = record_pairs([[lvl for _, _, lvl in js] for js in requests], rc.weight_a, rc.max_pairs, rng)
        out.append([{"w": flat[i][0], "l": flat[j][0], "ref_w": flat[i][1], "ref_l": flat[j][1], "weight": w}
                    for i, j, w in pairs])
    return out


def _judge_dpo(ctx: Context, step, ins: dict, out: Path) -> dict:
    """params: task, lm, train (reward.dpo), reward, answer_tokens, sampler, seed; inputs: base, gen_proxy,
    judge_sft (the SFT judge: the policy's start and the frozen reference), records (data:private)."""
    from peft import PeftModel

    p = step.params
    rc, spec, train = SimpleNamespace(**p["reward"]), SimpleNamespace(**p["lm"]), SimpleNamespace(**p["train"])
    base = ins["base"]
    tok = load_tokenizer(base)
    questions, pairs = labelled_pairs(ctx, p, ins, "private")
    per_record = all_requests(questions, pairs, rc, p["seed"] + 43)
    items = dpo_items(graded_judgements(ctx, p, ins, tok, per_record, rc), rc, p["seed"] + 47)
    name = step.dp.component
    dp = dp_settings(ctx, name, train, seed_offset=9)
    if dp is None:
        items = [it for it in items if it]
    model = PeftModel.from_pretrained(load_causal_lm(base, spec.dtype).to(ctx.device), str(ins["judge_sft"] / "adapter"),
                                      is_trainable=True)
    module = WeightedDPOModule(model, lr=spec.lr, pad_id=tok.pad_token_id, beta=rc.beta, dp=dp, seed=p["seed"] + 9)
    _train(ctx, step, module, LMDataset(items), DPOCollator(tok.pad_token_id), train)
    save_adapter(model, out / "adapter")
    rec = component_record(ctx, name, module, dp)
    write_json(out / "component.json", rec)
    return rec


JUDGE_SFT = Block("judge_sft", _judge_sft)
JUDGE_DPO = Block("reward_model", _judge_dpo)  # the released judge: the reward_model kind's adapter leaves the client
