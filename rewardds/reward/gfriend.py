"""The GFRIEND generative judge behind :class:`RewardScorer`.

The judge writes a short chain of thought (greedy), then its verdict is read from its
likelihood: the probability of each verdict after that reasoning, normalised over the two
choices. ``score`` is pointwise (the probability of the verdict "good"); ``prefer`` asks
both A/B orders and averages them, which cancels a position bias: ``prefer(q, a, b) +
prefer(q, b, a) == 1`` exactly.
"""
from __future__ import annotations

import math
from pathlib import Path
from typing import Callable

from rewardds.models.loading import load_causal_lm, load_tokenizer
from rewardds.reward.judgements import JUDGE_SYSTEM, Request, reasoning_of, render_request, request_text, with_verdict
from rewardds.sampling import SamplingParams, build_sampler
from rewardds.training.dpo import row_logprobs


def encode_judgement(tokenizer, req: Request, judgement: str, words: int, max_length: int) -> dict:
    """Token ids and labels (on the judgement only) of a request answered by ``judgement``; the
    prompt is cut from the left when too long, so the judgement is always supervised."""
    msgs = [{"role": "system", "content": JUDGE_SYSTEM}, {"role": "user", "content": request_text(req, words)}]
    prompt = render_request(tokenizer, req, words)
    full = tokenizer.apply_chat_template(msgs + [{"role": "assistant", "content": judgement}], tokenize=False,
                                         add_generation_prompt=False)
    if not full.startswith(prompt):
        raise ValueError("chat template does not extend the prompt with the judgement")
    p_ids = tokenizer(prompt, add_special_tokens=False)["input_ids"]
    j_ids = tokenizer(full[len(prompt):], add_special_tokens=False)["input_ids"]
    if len(p_ids) + len(j_ids) > max_length:
        j_ids = j_ids[: max(1, max_length // 2)]
        p_ids = p_ids[-(max_length - len(j_ids)):]
    return {"input_ids": p_ids + j_ids, "labels": [-100] * len(p_ids) + j_ids}


class GFriendScorer:
    """``generate(prompts) -> texts``: the judge's greedy reasoning (a sampler over the same
    adapter); ``model``: the judge itself, for the verdict likelihoods."""

    def __init__(self, model, tokenizer, generate: Callable[[list[str]], list[str]], words: int, max_length: int,
                 close: Callable[[], None] | None = None):
        self.model, self.tok, self.generate = model.eval(), tokenizer, generate
        self.words, self.max_length = words, max_length
        self._close = close

    @classmethod
    def from_dirs(cls, base: Path, adapter: Path, dtype: str, sampler_cfg: dict, device: str, words: int,
                  cot_max_new_tokens: int, max_length: int, seed: int = 0) -> "GFriendScorer":
        from peft import PeftModel

        tok = load_tokenizer(base)
        model = PeftModel.from_pretrained(load_causal_lm(base, dtype).to(device), str(adapter))
        sampler = build_sampler(sampler_cfg, base, adapter)
        params = SamplingParams(n=1, temperature=0.0, max_new_tokens=cot_max_new_tokens, seed=seed)

        def generate(prompts):
            return [c[0].text for c in sampler.generate(prompts, params, desc="judge reasoning")]

        return cls(model, tok, generate, words, max_length, close=sampler.close)

    def verdict_probs(self, reqs: list[Request]) -> list[dict[str, float]]:
        """Per request: each verdict's probability after the judge's own reasoning."""
        if not reqs:
            return []
        cots = [reasoning_of(t) for t in self.generate([render_request(self.tok, r, self.words) for r in reqs])]
        rows = [encode_judgement(self.tok, r, with_verdict(c, o), self.words, self.max_length)
                for r, c in zip(reqs, cots) for o in r.options]
        lps = [lp for lp, _ in row_logprobs(self.model, rows, self.tok.pad_token_id)]
        out = []
        for k, r in enumerate(reqs):
            a, b = lps[2 * k], lps[2 * k + 1]
            m = max(a, b)
            pa = math.exp(a - m) / (math.exp(a - m) + math.exp(b - m))
            out.append({r.options[0]: pa, r.options[1]: 1.0 - pa})
        return out

    def score(self, questions: list[str], answers: list[str]) -> list[float]:
        probs = self.verdict_probs([Request(-1, q, (a,)) for q, a in zip(questions, answers)])
        return [p["good"] for p in probs]

    def prefer_batch(self, items: list[tuple[str, str, str]]) -> list[float]:
        """P(a better than b) for each (question, a, b): both orders asked, averaged."""
        reqs = [Request(-1, q, (a, b)) for q, a, b in items] + [Request(-1, q, (b, a)) for q, a, b in items]
        probs = self.verdict_probs(reqs)
        n = len(items)
        return [(probs[i]["A"] + probs[n + i]["B"]) / 2 for i in range(n)]

    def prefer(self, question: str, a: str, b: str) -> float:
        return self.prefer_batch([(question, a, b)])[0]

    def close(self) -> None:
        if self._close is not None:
            self._close()
            self._close = None
