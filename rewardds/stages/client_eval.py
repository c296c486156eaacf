"""Evaluations of a method's synthetic set and final model beyond test-set utility (issue 13).

Blocks (each writes ``metrics.json``, numbers only; see rewardds/recipes/evals.py for the steps):

* ``client_similarity`` (client): MAUVE and FID between all-MiniLM-L6-v2 embeddings of the private
  and the synthetic questions (:mod:`rewardds.eval.similarity`). A statistic of the private records.
* ``synthetic_ifd`` (server): the IFD of every synthetic (question, answer) pair under the target's
  public base model, encoded as training encodes it (:func:`rewardds.eval.ifd.ifd_scores`); mean,
  median and share of misaligned pairs (IFD >= 1). Needs no private data.
* ``synthetic_copies`` (client): verbatim / near-verbatim copies of private records and planted
  canary secrets in the released synthetic texts (pool.jsonl, queries.jsonl), counts only
  (:mod:`rewardds.eval.leakage`).
* ``canary_exposure`` (client): exposure of the planted canaries (audit runs, ``eval.canaries``)
  in a trained model: true secret vs reference secrets, as the canary audit scores them
  (:mod:`rewardds.eval.canaries`);
  ``canary_reward_exposure`` the same on a reward proxy's rewards.

Client blocks read the private records and the canary secrets; nothing they write holds text.
"""
from __future__ import annotations

import math
import random
from pathlib import Path

import numpy as np

from rewardds.eval.canaries import canary_nll_table, exposure_summary, make_canaries, planted_ids, reward_canary_table
from rewardds.eval.ifd import ifd_scores
from rewardds.eval.leakage import copy_counts, secret_copies
from rewardds.eval.pii import evaluate_pii
from rewardds.eval.similarity import frechet_distance, mauve_score
from rewardds.io import read_jsonl, write_json
from rewardds.models.loading import load_causal_lm, load_tokenizer
from rewardds.reward import build_scorer
from rewardds.stages.block import Block
from rewardds.stages.context import Context
from rewardds.stages.private_evolution import Encoder


def client_records(ctx: Context) -> list:
    """The private records the client really holds: an audit run's planted canaries left out."""
    planted = planted_ids(ctx.data)
    return [r for r in ctx.data.private if r.id not in planted]


def _sample(items: list, k: int | None, seed: int) -> list:
    if k is None or len(items) <= k:
        return list(items)
    return [items[i] for i in sorted(random.Random(seed).sample(range(len(items)), k))]


def _pool(ins: dict) -> list[dict]:
    return list(read_jsonl(ins["pool"] / "pool.jsonl")) if ins.get("pool") is not None else []


def _finish(out: Path, result: dict) -> dict:
    write_json(out / "metrics.json", result)
    return result


def _similarity(ctx: Context, step, ins: dict, out: Path) -> dict:
    """params: task, seed, max_records, embed_batch_size; inputs: pool, records (data:private)."""
    p = step.params
    private = _sample([r.question for r in client_records(ctx)], p["max_records"], p["seed"])
    synthetic = _sample([it["question"] for it in _pool(ins)], p["max_records"], p["seed"] + 1)
    result = {"encoder": "all-MiniLM-L6-v2", "n_private": len(private), "n_synthetic": len(synthetic),
              "mauve": None, "fid": None}
    if len(private) >= 2 and len(synthetic) >= 2:
        enc = Encoder(ctx.device, p["embed_batch_size"])
        priv, syn = enc.encode(private), enc.encode(synthetic)
        result.update(mauve=mauve_score(priv, syn, seed=p["seed"]), fid=frechet_distance(priv, syn))
        del priv
    return _finish(out, result)


def _synthetic_ifd(ctx: Context, step, ins: dict, out: Path) -> dict:
    """params: task, dtype, max_length; inputs: base (the target's public base model), pool."""
    p = step.params
    pool = _pool(ins)
    scores = []
    if pool:
        tok = load_tokenizer(ins["base"])
        model = load_causal_lm(ins["base"], p["dtype"]).to(ctx.device)
        scores = ifd_scores(model, tok, ctx.task, [it["question"] for it in pool], [it["chosen"] for it in pool],
                            p["max_length"])
    finite = [s for s in scores if math.isfinite(s)]
    return _finish(out, {
        "model": "target base", "n": len(pool), "n_scored": len(finite),
        "ifd_mean": float(np.mean(finite)) if finite else None,
        "ifd_median": float(np.median(finite)) if finite else None,
        "share_misaligned": float(np.mean([s >= 1 for s in finite])) if finite else None})


def _synthetic_copies(ctx: Context, step, ins: dict, out: Path) -> dict:
    """params: task, ngram, canaries ({num, digits, seed} or None); inputs: pool (optional), queries_<i>
    (steps with queries.jsonl), records (data:private). Counts over every released synthetic text."""
    p = step.params
    files = {"pool": [t for it in _pool(ins) for t in (it["question"], it["chosen"])]}
    for role in sorted(r for r in ins if r.startswith("queries")):
        files[role] = [q["question"] for q in read_jsonl(ins[role] / "queries.jsonl")]
    texts = [t for ts in files.values() for t in ts]
    private = [t for r in client_records(ctx) for t in (r.question, r.answer)]
    result = {"private": copy_counts(texts, private, p["ngram"]),
              "by_file": {name: copy_counts(ts, private, p["ngram"])["near_verbatim"] for name, ts in files.items()}}
    if p["canaries"]:
        c = p["canaries"]
        result["canaries"] = secret_copies(texts, make_canaries(c["num"], c["digits"], c["seed"]))
    del private
    return _finish(out, result)


def _canary_exposure(ctx: Context, step, ins: dict, out: Path) -> dict:
    """params: task, label, num, digits, references, seed, dtype, max_length; inputs: base, adapter (optional)."""
    p = step.params
    adapter = ins["adapter"] / "adapter" if ins.get("adapter") is not None else None
    tok = load_tokenizer(ins["base"])
    model = load_causal_lm(ins["base"], p["dtype"], adapter=adapter).to(ctx.device).eval()
    canaries = make_canaries(p["num"], p["digits"], p["seed"])
    table = canary_nll_table(model, tok, ctx.task, canaries, p["references"], p["digits"], p["seed"], p["max_length"])
    return _finish(out, {"label": p["label"], **exposure_summary(table, p["seed"])})


def _canary_reward_exposure(ctx: Context, step, ins: dict, out: Path) -> dict:
    """params: as canary_exposure plus ``scorer`` (the method's scoring params: lm, task and, for
    GFRIEND, reward); inputs: base and reward_proxy, as the method's scoring step has them.
    The canaries' exposure in the reward model's scores (Bradley-Terry rewards or the GFRIEND
    judge's probability of "good"): true secret's answer vs the references'."""
    p = step.params
    scorer = build_scorer(ctx, p["scorer"], ins)
    try:
        canaries = make_canaries(p["num"], p["digits"], p["seed"])
        table = reward_canary_table(scorer, ctx.task, canaries, p["references"], p["digits"], p["seed"])
    finally:
        scorer.close()
    return _finish(out, {"label": p["label"], **exposure_summary(table, p["seed"])})


def _pii(ctx: Context, step, ins: dict, out: Path) -> dict:
    """params: task, label, lm (dtype, max_length), formats (the model's training formats), seed,
    num_candidates, max_records; inputs: base, adapter (optional). The PII reconstruction attack
    (:mod:`rewardds.eval.pii`) against the client's records (an audit run's canaries left out)."""
    p = step.params
    adapter = ins["adapter"] / "adapter" if ins.get("adapter") is not None else None
    result = evaluate_pii(p["lm"], ins["base"], adapter, client_records(ctx), seed=p["seed"], task=p["task"],
                          num_candidates=p["num_candidates"], max_records=p["max_records"],
                          formats=tuple(p["formats"]), device=ctx.device)
    return _finish(out, {"label": p["label"], **result})


SIMILARITY = Block("client_similarity", _similarity)
SYNTHETIC_IFD = Block("synthetic_ifd", _synthetic_ifd)
SYNTHETIC_COPIES = Block("synthetic_copies", _synthetic_copies)
CANARY_EXPOSURE = Block("canary_exposure", _canary_exposure)
CANARY_REWARD_EXPOSURE = Block("canary_reward_exposure", _canary_reward_exposure)
PII = Block("pii", _pii)
