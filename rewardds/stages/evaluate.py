"""Stage 9: evaluation on the test split, for the target and its comparisons.

QA tasks: ROUGE-1/2/L F1 (stemmed), sentence BLEU, perplexity of the reference
answer, greedy decoding. Code: pass@k by running the task's asserts in the
sandbox (plus ROUGE of the answer text). Each model is its own cached stage, so
a filter sweep re-evaluates only the target.

Besides ``predictions.jsonl`` and ``metrics.json`` every evaluation writes
``items.jsonl``: one row per test item, its ``id`` and each metric's per-item
value (:data:`rewardds.eval.paired.ITEM_FIELDS`), so two models scored on the
same items can be compared pairwise (:mod:`rewardds.eval.paired`).  These are
scores of the public test split, not of private records: they may be released
like the metrics.

Which test items: all of them, or ``eval.max_test`` of them drawn with the DATA
seed (``task.data.seed``), never the run's ``seed``; every run of a sweep (other
methods, other seeds) thus scores the same items and can be paired with any other.
"""
from __future__ import annotations

import logging
import random
from pathlib import Path

from types import SimpleNamespace

from rewardds import chat
from rewardds.eval import metrics as M
from rewardds.eval.judge import load_judge, win_rate
from rewardds.eval.paired import ITEMS_FILE, item_rows
from rewardds.eval.sandbox import evaluate_samples
from rewardds.io import write_json, write_jsonl
from rewardds.models.loading import load_causal_lm, load_tokenizer
from rewardds.sampling import SamplingParams, build_sampler
from rewardds.stages.block import Block
from rewardds.stages.context import Context

log = logging.getLogger(__name__)


def test_subset(ctx: Context, max_test: int | None, data_seed: int):
    """The test records a model is scored on: ``max_test`` of them (sorted by position) drawn with
    ``data_seed`` (``task.data.seed``), the same for every run of a sweep whatever its ``seed``."""
    test = ctx.data.test
    if max_test is not None and max_test < len(test):
        idx = sorted(random.Random(data_seed).sample(range(len(test)), max_test))
        test = [test[i] for i in idx]
    return test


def evaluate_model(ctx: Context, base: Path, adapter: Path | None, label: str, out: Path, ev, dtype: str, seed: int,
                   sampler_cfg, data_seed: int = 0) -> dict:
    """Score one model on the test subset; ``seed`` seeds sampling, ``data_seed`` picks the subset."""
    test = test_subset(ctx, ev.max_test, data_seed)
    tok = load_tokenizer(base)
    prompts = [chat.render_prompt(tok, ctx.task, r.question) for r in test]
    n = ev.code_samples if ctx.task == "code" else 1
    params = SamplingParams(n=n, temperature=0.0 if n == 1 else 0.8, top_p=0.95, max_new_tokens=ev.max_new_tokens,
                            seed=seed)
    with build_sampler(sampler_cfg, base, adapter) as sampler:
        outs = sampler.generate(prompts, params, desc=f"eval {label}")
    preds = [o[0].text for o in outs]
    refs = [r.answer for r in test]
    model = load_causal_lm(base, dtype)
    model.to(ctx.device)
    if adapter is not None:
        from peft import PeftModel

        model = PeftModel.from_pretrained(model, str(adapter))
    # per-item scores, then point estimates + 95% bootstrap intervals over test items (the same
    # resamples for every model)
    scores = M.qa_item_scores(preds, refs, nll_sums=M.answer_nll_sums(model.eval(), tok, prompts, refs))
    result = M.qa_metrics_from_scores(scores)
    if ev.judge:
        judge, jtok = load_judge(ev.judge, ctx.device)
        result.update(win_rate(judge, jtok, [r.question for r in test], preds, [r.answer for r in test]))
    if ctx.task == "code":
        code = evaluate_samples([[c.text for c in o] for o in outs],
                                [{"tests": list(r.tests), "entry_point": r.entry_point} for r in test],
                                ks=tuple(ev.pass_k), timeout=ev.code_timeout)
        pk = M.pass_at_k_metrics(code["per_task"], ks=tuple(ev.pass_k))
        scores.update(M.code_item_scores(code["per_task"], ks=tuple(ev.pass_k)))
        result.update({k: v for k, v in pk.items() if k.startswith("pass@")})
        result["ci95"].update(pk["ci95"])
        result["exec_statuses"] = code.get("statuses", {})
    write_jsonl(out / "predictions.jsonl",
                [{"id": r.id, "prediction": p} for r, p in zip(test, preds)])
    write_jsonl(out / ITEMS_FILE, item_rows([r.id for r in test], scores))
    write_json(out / "metrics.json", result)
    return result


def _evaluate(ctx: Context, step, ins: dict, out: Path) -> dict:
    """params: label, eval, dtype, seed, data_seed, sampler; inputs: base, adapter (optional), test (data:test)."""
    p = step.params
    adapter = ins["adapter"] / "adapter" if ins.get("adapter") is not None else None
    return evaluate_model(ctx, ins["base"], adapter, p["label"], out, SimpleNamespace(**p["eval"]), p["dtype"],
                          p["seed"], p["sampler"], data_seed=p.get("data_seed", 0))


EVALUATE = Block("evaluate", _evaluate)
