"""Stage 9: evaluation on the test split, for the target and its comparisons.

QA tasks: ROUGE-1/2/L F1 (stemmed), sentence BLEU, perplexity of the reference
answer, greedy decoding. Code: pass@k by running the task's asserts in the
sandbox (plus ROUGE of the answer text). Each model is its own cached stage, so
a filter sweep re-evaluates only the target.
"""
from __future__ import annotations

import logging
import random
from pathlib import Path

from omegaconf import OmegaConf

from rewardds import chat
from rewardds.io import write_json, write_jsonl
from rewardds.models.loading import load_causal_lm, load_tokenizer
from rewardds.sampling import SamplingParams, build_sampler
from rewardds.stages.context import Context

log = logging.getLogger(__name__)


def test_subset(ctx: Context):
    test = ctx.data.test
    k = ctx.cfg.eval.max_test
    if k is not None and k < len(test):
        idx = sorted(random.Random(ctx.cfg.seed).sample(range(len(test)), k))
        test = [test[i] for i in idx]
    return test


def evaluate_model(ctx: Context, base: Path, adapter: Path | None, label: str, out: Path) -> dict:
    from rewardds.eval import metrics as M

    cfg = ctx.cfg
    ev = cfg.eval
    test = test_subset(ctx)
    tok = load_tokenizer(base)
    prompts = [chat.render_prompt(tok, ctx.task, r.question) for r in test]
    n = ev.code_samples if ctx.task == "code" else 1
    params = SamplingParams(n=n, temperature=0.0 if n == 1 else 0.8, top_p=0.95, max_new_tokens=ev.max_new_tokens,
                            seed=cfg.seed)
    with build_sampler(cfg.sampler, base, adapter) as sampler:
        outs = sampler.generate(prompts, params, desc=f"eval {label}")
    preds = [o[0].text for o in outs]
    result = M.qa_metrics(preds, [r.answer for r in test])
    model = load_causal_lm(base, cfg.model.target.dtype if label != "gen_proxy" else cfg.model.proxy.dtype)
    model.to(ctx.device)
    if adapter is not None:
        from peft import PeftModel

        model = PeftModel.from_pretrained(model, str(adapter))
    result["ppl"] = M.answer_perplexity(model.eval(), tok, prompts, [r.answer for r in test])
    if ev.judge:
        from rewardds.eval.judge import load_judge, win_rate

        judge, jtok = load_judge(ev.judge, ctx.device)
        result.update(win_rate(judge, jtok, [r.question for r in test], preds, [r.answer for r in test]))
    if ctx.task == "code":
        from rewardds.eval.code_exec import evaluate_samples

        code = evaluate_samples([[c.text for c in o] for o in outs],
                                [{"tests": list(r.tests), "entry_point": r.entry_point} for r in test],
                                ks=tuple(ev.pass_k), timeout=ev.code_timeout)
        result.update({k: v for k, v in code.items() if k.startswith("pass@")})
        result["exec_statuses"] = code.get("statuses", {})
    write_jsonl(out / "predictions.jsonl",
                [{"id": r.id, "prediction": p} for r, p in zip(test, preds)])
    write_json(out / "metrics.json", result)
    return result


def run(ctx: Context, label: str, base: Path, adapter_stage: str | None) -> dict:
    def compute(out: Path) -> dict:
        adapter = ctx.paths[adapter_stage] / "adapter" if adapter_stage else None
        return evaluate_model(ctx, base, adapter, label, out)

    inputs = {"base": ctx.digests["proxy" if label == "gen_proxy" else "target"]}
    if adapter_stage:
        inputs["adapter"] = ctx.paths[adapter_stage]
    key = {"eval": OmegaConf.to_container(ctx.cfg.eval), "test": ctx.data.fingerprint("test"), "task": ctx.task,
           "seed": ctx.cfg.seed, "label": label}
    out = ctx.runner.run(f"eval_{label}", key, inputs, compute)
    from rewardds.io import read_json

    return read_json(out / "metrics.json")
