"""Pairwise judge: a local LM says which of two answers is better, in both orders.

The verdict is read from the judge's likelihood of replying "A" versus "B", so no
sampling noise enters. Each (prediction, reference) pair is judged twice with the
positions swapped; a prediction scores 1 when preferred in both orders, 0.5 when
the verdict follows the position (the judge's position bias), 0 otherwise.
"""
from __future__ import annotations

from pathlib import Path

from rewardds.eval.metrics import per_example_nll
from rewardds.models.loading import check_model_dir, load_causal_lm, load_tokenizer

JUDGE_SYSTEM = "You are an impartial judge of answer quality."


def judge_request(question: str, first: str, second: str) -> str:
    return (f"Question: {question}\nAnswer A: {first}\nAnswer B: {second}\n"
            "Which answer is more helpful and correct? Reply with A or B.")


def _prompts(tokenizer, items: list[tuple[str, str, str]]) -> list[str]:
    return [tokenizer.apply_chat_template(
        [{"role": "system", "content": JUDGE_SYSTEM}, {"role": "user", "content": judge_request(q, a, b)}],
        tokenize=False, add_generation_prompt=True) for q, a, b in items]


def prefers_first(model, tokenizer, items: list[tuple[str, str, str]], batch_size: int = 8) -> list[bool]:
    """For each (question, answer A, answer B): does the judge prefer A?"""
    prompts = _prompts(tokenizer, items)
    nll_a = per_example_nll(model, tokenizer, prompts, ["A"] * len(prompts), batch_size=batch_size)
    nll_b = per_example_nll(model, tokenizer, prompts, ["B"] * len(prompts), batch_size=batch_size)
    return [a < b for a, b in zip(nll_a, nll_b)]


def win_rate(model, tokenizer, questions: list[str], predictions: list[str], references: list[str]) -> dict:
    forward = prefers_first(model, tokenizer, list(zip(questions, predictions, references)))
    backward = prefers_first(model, tokenizer, list(zip(questions, references, predictions)))
    scores = [(f + (not b)) / 2 for f, b in zip(forward, backward)]
    consistent = [f != b for f, b in zip(forward, backward)]  # same answer preferred in both orders
    n = len(scores)
    return {"judge_win_rate": sum(scores) / n if n else None,
            "judge_consistency": sum(consistent) / n if n else None, "judge_n": n}


def load_judge(path: str | Path, device: str = "cpu"):
    path = check_model_dir(path, "eval.judge")
    return load_causal_lm(path).to(device).eval(), load_tokenizer(path)
