"""KnowledgeSG's server-side blocks (method.md section 2), and its transmitting unit.

Blocks (parameters -> output):
  domain_filter  ``queries.jsonl``  the instructions the professional model judges to be of the
                 task's domain: "yes" more likely than "no" (by ``margin``) as its answer to a
                 yes/no domain question; ``judgements.jsonl`` holds every log-likelihood pair
  ifd_filter     ``pool.jsonl``     pairs ranked by IFD under the model about to be fine-tuned:
                 IFD >= ``max_ifd`` dropped, the ``keep_share`` with the highest (the reference)
                 or lowest IFD kept
  seed_base      a model folder     the transmitting unit: the public base fine-tuned (no DP,
                 public data only) on the public seed set, merged, saved as a checkpoint

Every input here is synthetic text, the professional model, or public data: nothing private is
read, so each block is post-processing of the DP release.
"""
from __future__ import annotations

import math
from pathlib import Path
from types import SimpleNamespace

from rewardds import chat
from rewardds.errors import RewarddsError
from rewardds.eval.ifd import _mean_tail_nll, _pad_id, ifd_scores
from rewardds.filters import ifd_filter
from rewardds.io import read_jsonl, write_json, write_jsonl
from rewardds.models.loading import add_lora, load_causal_lm, load_tokenizer
from rewardds.stages.block import Block
from rewardds.stages.context import Context
from rewardds.training.lm import CausalLMModule, LMDataset, fit

DOMAINS = {"medical": "medicine or health", "financial": "finance, money or the economy",
           "code": "Python programming"}
ANSWER_WORDS = ("Yes", "No")  # the two answers whose likelihoods decide; the assistant turn starts with one


def domain_request(task: str, instruction: str) -> str:
    """The user turn asking the professional model whether ``instruction`` belongs to the domain."""
    return (f"Is the following request about {DOMAINS[task]}? Answer Yes or No.\n\n"
            f"Request: {instruction}")


def domain_keep(logp_yes: float, logp_no: float, margin: float = 0.0) -> bool:
    """KnowledgeSG's decision: keep when the answer "yes" is more likely than "no" by more than
    ``margin`` (log-likelihoods of the whole answer word); undefined scores are not kept."""
    if not (math.isfinite(logp_yes) and math.isfinite(logp_no)):
        return False
    return logp_yes - logp_no > margin


def answer_loglik(model, tok, prompts: list[str], word: str, batch_size: int = 8) -> list[float]:
    """Log-likelihood of ``word`` (all its tokens) as the continuation of each rendered prompt."""
    w = tok(word, add_special_tokens=False)["input_ids"]
    rows = [(tok(p, add_special_tokens=False)["input_ids"] + w, len(w)) for p in prompts]
    return [-nll * len(w) for nll in _mean_tail_nll(model, rows, _pad_id(tok), batch_size)]


def judge_domain(model, tok, task: str, instructions: list[str]) -> list[tuple[float, float]]:
    """(log p(yes), log p(no)) of the professional model's answer to each instruction's domain question."""
    prompts = [chat.render_prompt(tok, task, domain_request(task, q)) for q in instructions]
    yes, no = (answer_loglik(model, tok, prompts, w) for w in ANSWER_WORDS)
    return list(zip(yes, no))


def _domain_filter(ctx: Context, step, ins: dict, out: Path) -> dict:
    """params: task, margin, dtype, max_kept (optional: the first this many in-domain instructions);
    inputs: base (the professional model), items (a step with queries.jsonl)."""
    p = step.params
    items = list(read_jsonl(ins["items"] / "queries.jsonl"))
    tok = load_tokenizer(ins["base"])
    model = load_causal_lm(ins["base"], p["dtype"]).to(ctx.device)
    scores = judge_domain(model, tok, ctx.task, [it["question"] for it in items])
    kept = [it for it, (y, n) in zip(items, scores) if domain_keep(y, n, p["margin"])]
    write_jsonl(out / "judgements.jsonl", [{"id": it["id"], "logp_yes": y, "logp_no": n}
                                           for it, (y, n) in zip(items, scores)])
    if not kept:
        raise RewarddsError(f"{step.name}: the professional model judged no instruction to be of the domain; "
                            "lower method.domain_margin or set method.domain_filter=false")
    summary = {"in": len(items), "off_domain": len(items) - len(kept)}
    if p.get("max_kept") is not None and len(kept) > p["max_kept"]:  # the comparison's one size, sampling order
        summary["over_size"] = len(kept) - p["max_kept"]
        kept = kept[: p["max_kept"]]
    write_jsonl(out / "queries.jsonl", kept)
    return {**summary, "kept": len(kept)}


def _ifd_filter(ctx: Context, step, ins: dict, out: Path) -> dict:
    """params: task, dtype, max_length, max_ifd, keep_share, order (highest | lowest), max_kept (optional);
    inputs: base, adapter (optional: the DP adapter being fine-tuned), pool (a step with pool.jsonl)."""
    p = step.params
    pool = list(read_jsonl(ins["pool"] / "pool.jsonl"))
    tok = load_tokenizer(ins["base"])
    adapter = ins["adapter"] / "adapter" if ins.get("adapter") is not None else None
    model = load_causal_lm(ins["base"], p["dtype"], adapter=adapter).to(ctx.device)
    scores = ifd_scores(model, tok, ctx.task, [it["question"] for it in pool], [it["chosen"] for it in pool],
                        p["max_length"])
    kept, summary = ifd_filter(pool, scores, p["keep_share"], p["max_ifd"], order=p.get("order", "lowest"),
                               max_kept=p.get("max_kept"))
    if not kept:
        raise RewarddsError(f"{step.name}: every pair has IFD >= method.ifd_max; raise method.ifd_max")
    write_jsonl(out / "pool.jsonl", kept)
    finite = [s for s in scores if math.isfinite(s)]
    return {"in": len(pool), **summary, "mean_ifd": sum(finite) / len(finite) if finite else None,
            "mean_ifd_kept": sum(it["ifd"] for it in kept) / len(kept)}


def _seed_base(ctx: Context, step, ins: dict, out: Path) -> dict:
    """params: task, lm (spec), lora, epochs, batch_size, seed; inputs: base, seed (data:public).

    The public base LoRA-fine-tuned on the public seed set without DP (public data: no privacy
    cost), merged into a full checkpoint that client and server share as the DP adapter's base."""
    p = step.params
    spec = SimpleNamespace(**p["lm"])
    tok = load_tokenizer(ins["base"])
    public = list(ctx.data.public)
    data = LMDataset([chat.encode_example(tok, ctx.task, r.question, r.answer, spec.max_length) for r in public])
    model = add_lora(load_causal_lm(ins["base"], spec.dtype).to(ctx.device), SimpleNamespace(**p["lora"]),
                     seed=p["seed"] + 53)
    module = CausalLMModule(model, lr=spec.lr, pad_id=tok.pad_token_id, seed=p["seed"] + 53)
    fit(module, data, batch_size=p["batch_size"], epochs=p["epochs"], trainer_cfg=ctx.cfg.trainer,
        desc="transmitting unit", seed=p["seed"] + 53, logger=ctx.tracker.lightning_logger(step.name))
    merged = model.merge_and_unload()
    merged.save_pretrained(out)
    tok.save_pretrained(out)
    info = {"public_records": len(public), "epochs": p["epochs"], "steps": module.steps_taken}
    write_json(out / "info.json", info)
    return info


DOMAIN_FILTER = Block("domain_filter", _domain_filter)
IFD_FILTER = Block("ifd_filter", _ifd_filter)
SEED_BASE = Block("seed_base", _seed_base)
