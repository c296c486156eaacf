"""GFRIEND's client steps (method.md section 4): the judge's SFT and its multi-level DPO.

Both start from the labelled pairs RewardDS's reward proxy uses (:func:`build_pairs`:
truth > base answer, truth > DP-proxy answer, DP-proxy answer > base answer). Built from
private records they are private: they, the judgements sampled on them, and every count
of either live in memory only (never written, never logged). A record is one item of the
Poisson-sampled DP-SGD dataset, all its rows clipped together, and its rows depend on that
record alone (and on DP or public models): every random draw a record's rows need (the A/B
orders of its requests, its sampled judgements, which of its DPO pairs are kept) comes from
that record's own seed (:func:`rewardds.stages.runner.record_seed`: an HMAC of the cache's
client secret and the record), never from a generator consumed in sequence over the records,
and its judgements are sampled, and scored by the frozen reference, in batches of its own.
So removing one record changes no other record's rows (tests/test_gfriend.py), and both
training steps are record-level DP components of the one ledger. Only the final judge adapter
is released (``judge_dpo`` runs the ``reward_model`` block kind, whose adapter leaves the client).
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
from rewardds.reward.judgements import (Request, cot_ppl_score, grade, parse_verdict, ppl_score, reasoning_of,
                                        record_requests, render_request, template_judgement)
from rewardds.sampling import SamplingParams, build_sampler
from rewardds.stages.context import Context
from rewardds.stages.gen_proxy import component_record, dp_settings
from rewardds.stages.reward_proxy import build_pairs, greedy_answers
from rewardds.training.dpo import DPOCollator, WeightedDPOModule, record_pairs, row_logprobs, score_pairs
from rewardds.training.lm import CausalLMModule, LMDataset, RecordRowsCollator, fit

log = logging.getLogger(__name__)


def source_records(ctx: Context, p: dict, source: str) -> list:
    """The records a judge step builds its pairs from: the private records, or (``public``) the first
    ``reward.public_records`` public records."""
    return list(ctx.data.private) if source == "private" else list(ctx.data.public[: p["reward"]["public_records"]])


def labelled_pairs(ctx: Context, p: dict, ins: dict, source: str,
                   records: list) -> tuple[list[str], list[list[tuple[str, str]]]]:
    """(questions, pairs per record): the private records' pairs (base and DP-proxy greedy answers),
    or (``public``) truth > base answer on public records."""
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


def record_seeds(ctx: Context, p: dict, records: list, purpose: str) -> list[int]:
    """Each record's seed for one kind of draw of one step (``purpose``), from that record alone."""
    return [ctx.runner.record_seed(f"{purpose}/seed={p['seed']}", r) for r in records]


def all_requests(questions, pairs, rc, seeds: list[int]) -> list[list[Request]]:
    """Per record its requests, A/B orders drawn from the record's own generator (``seeds[i]``)."""
    return [record_requests(i, q, ps, random.Random(seed), pointwise=rc.pointwise)
            for i, (q, ps, seed) in enumerate(zip(questions, pairs, seeds))]


def sample_judgements(sampler_cfg, base: Path, adapter: Path | None, tok, reqs: list[Request], rc, n: int,
                      seeds: list[int], desc: str) -> list[list[str]]:
    """``n`` sampled judgements of each request (temperature ``reward.temperature``); the requests of
    record i are sampled as one group with seed ``seeds[i]`` (``Sampler.generate``), so they depend
    on that record alone, not on the other records' requests or their number."""
    if not reqs:
        return []
    prompts = [render_request(tok, r, rc.answer_words) for r in reqs]
    params = SamplingParams(n=n, temperature=rc.temperature, top_p=rc.top_p, max_new_tokens=rc.cot_max_new_tokens)
    with build_sampler(sampler_cfg, base, adapter) as sampler:
        outs = sampler.generate(prompts, params, desc=desc, counts=False,  # how many requests: a private count
                                seeds=[seeds[r.record] for r in reqs])
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


def sft_rows(ctx: Context, p: dict, ins: dict, tok, records: list) -> list[list[dict]]:
    """Per record, its judge SFT training rows (bootstrap judgements of its requests)."""
    rc = SimpleNamespace(**p["reward"])
    base = ins["base"]
    questions, pairs = labelled_pairs(ctx, p, ins, p["source"], records)
    per_record = all_requests(questions, pairs, rc, record_seeds(ctx, p, records, "judge_sft/ab"))
    flat = [r for reqs in per_record for r in reqs]
    samples = sample_judgements(p["sampler"], base, None, tok, flat, rc, rc.bootstrap_samples,
                                record_seeds(ctx, p, records, "judge_sft/judgements"),
                                "judge SFT: bootstrap judgements")
    by_req = dict(zip(map(id, flat), samples))
    rows = []
    for reqs in per_record:
        texts = [(r, sft_judgement(r, by_req[id(r)], rc.template_fallback)) for r in reqs]
        rows.append([encode_judgement(tok, r, t, rc.answer_words, rc.max_length) for r, t in texts if t is not None])
    return rows


def _judge_sft(ctx: Context, step, ins: dict, out: Path) -> dict:
    """params: task, lm, lora, train (reward.sft), reward, answer_tokens, sampler, seed, source (private |
    public); inputs: base, gen_proxy and records (private) or public (data:public)."""
    p = step.params
    spec, train = SimpleNamespace(**p["lm"]), SimpleNamespace(**p["train"])
    base = ins["base"]
    tok = load_tokenizer(base)
    rows = sft_rows(ctx, p, ins, tok, source_records(ctx, p, p["source"]))
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


def cot_rows(tok, texts: list[str]) -> list[dict]:
    """The chains of thought alone as rows to score (GFRIEND's ``PPLScorer.compute_perplexity(cot)``):
    each judgement's reasoning (:func:`reasoning_of`: what it says before its verdict), tokenised on its
    own after one start token (BOS, or EOS for tokenizers without one), every reasoning token scored; no
    prompt, no verdict."""
    start = tok.bos_token_id if tok.bos_token_id is not None else tok.eos_token_id
    rows = []
    for t in texts:
        ids = tok(reasoning_of(t), add_special_tokens=False)["input_ids"]
        rows.append({"input_ids": [start] + ids, "labels": [-100] + ids})
    return rows


def graded_judgements(ctx: Context, p: dict, ins: dict, tok, per_record: list[list[Request]], rc,
                      seeds: list[int]):
    """Preference refinement: per record, per request, its judgements as (row, reference log-prob,
    level, right verdict, score). Sampled from the SFT judge (plus the template judgement with
    ``include_template``), record i's with seed ``seeds[i]``; s = exp(-PPL / tau) under the SFT judge,
    PPL of the chain of thought alone (``reward.ppl_on=cot``, the reference) or of the whole judgement
    given its prompt (``judgement``); each record's rows scored in batches of their own (so not even
    the float rounding of padded batches mixes records); right verdict accepts, wrong rejects."""
    base, sft = ins["base"], ins["judge_sft"] / "adapter"
    flat = [r for reqs in per_record for r in reqs]
    samples = sample_judgements(p["sampler"], base, sft, tok, flat, rc, rc.samples, seeds,
                                "judge DPO: sampled judgements")
    texts = {id(r): s + ([template_judgement(r)] if rc.include_template else []) for r, s in zip(flat, samples)}
    ref = load_causal_lm(base, p["lm"]["dtype"], adapter=sft).to(ctx.device)
    on_cot = getattr(rc, "ppl_on", "judgement") == "cot"
    out = []
    for reqs in per_record:
        rows = [[encode_judgement(tok, r, t, rc.answer_words, rc.max_length) for t in texts[id(r)]] for r in reqs]
        scored = iter(row_logprobs(ref, [x for rs in rows for x in rs], tok.pad_token_id))
        cots = iter(row_logprobs(ref, cot_rows(tok, [t for r in reqs for t in texts[id(r)]]), tok.pad_token_id)
                    if on_cot else [])
        graded = []
        for r, rs in zip(reqs, rows):
            items = []
            for t, row in zip(texts[id(r)], rs):
                lp, n = next(scored)
                if on_cot:
                    c_lp, c_n = next(cots)
                    score = cot_ppl_score(-c_lp / c_n if c_n else float("nan"), rc.tau)
                else:
                    score = ppl_score(-lp / max(n, 1), rc.tau)
                right = parse_verdict(t) == r.verdict
                items.append((row, lp, grade(right, score, rc.threshold), right, score))
            graded.append(items)
        out.append(graded)
    del ref
    return out


def dpo_items(graded, rc, seeds: list[int]) -> list[list[dict]]:
    """Per record: its weighted DPO pairs, each between two judgements of one of its requests
    (``reward.gap=score``, the reference: right verdict over wrong, weight from the score gap;
    ``level``: any two levels, weight from the level gap); which pairs are kept (at most
    ``reward.max_pairs``) is drawn from the record's own generator (``seeds[i]``)."""
    by_score = getattr(rc, "gap", "level") == "score"
    out = []
    for requests, seed in zip(graded, seeds):
        rng = random.Random(seed)
        flat = [j for judgements in requests for j in judgements]
        groups = [[(j[3], j[4]) if by_score else j[2] for j in js] for js in requests]
        pairs = record_pairs(groups, rc.weight_a, rc.max_pairs, rng, pairing=score_pairs if by_score else None)
        out.append([{"w": flat[i][0], "l": flat[j][0], "ref_w": flat[i][1], "ref_l": flat[j][1], "weight": w}
                    for i, j, w in pairs])
    return out


def dpo_record_items(ctx: Context, p: dict, ins: dict, tok, records: list) -> list[list[dict]]:
    """Per record, its weighted DPO pairs (preference refinement of its requests' judgements)."""
    rc = SimpleNamespace(**p["reward"])
    questions, pairs = labelled_pairs(ctx, p, ins, "private", records)
    per_record = all_requests(questions, pairs, rc, record_seeds(ctx, p, records, "judge_dpo/ab"))
    graded = graded_judgements(ctx, p, ins, tok, per_record, rc,
                               record_seeds(ctx, p, records, "judge_dpo/judgements"))
    return dpo_items(graded, rc, record_seeds(ctx, p, records, "judge_dpo/pairs"))


def _judge_dpo(ctx: Context, step, ins: dict, out: Path) -> dict:
    """params: task, lm, train (reward.dpo), reward, answer_tokens, sampler, seed; inputs: base, gen_proxy,
    judge_sft (the SFT judge: the policy's start and the frozen reference), records (data:private)."""
    from peft import PeftModel

    p = step.params
    rc, spec, train = SimpleNamespace(**p["reward"]), SimpleNamespace(**p["lm"]), SimpleNamespace(**p["train"])
    base = ins["base"]
    tok = load_tokenizer(base)
    items = dpo_record_items(ctx, p, ins, tok, source_records(ctx, p, "private"))
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
