"""GFRIEND's judgements as data: the requests a judge answers, their template chains of
thought, verdict parsing and the preference-refinement grade (method.md section 4).

A request is one question with one answer (pointwise: verdict good | bad) or two answers
in a random A/B order (pairwise: verdict A | B). The order of every pairwise request is
drawn from a seeded generator, so the verdict is as often A as B and the judge cannot
learn a position. Requests built from private pairs are private: they live in memory on
the client only.
"""
from __future__ import annotations

import math
import random
import re
from dataclasses import dataclass

from rewardds.chat import shorten

JUDGE_SYSTEM = ("You are a careful judge of answers. Reason briefly about the answers, then give your verdict on "
                "the last line as 'verdict: <choice>'.")
VERDICT_LABEL = "verdict:"
PAIR_OPTIONS = ("A", "B")
POINT_OPTIONS = ("good", "bad")
_VERDICT = re.compile(r"verdict:\s*(A|B|good|bad)\b", re.IGNORECASE)


@dataclass(frozen=True)
class Request:
    """One judgement to make: ``record`` (the privacy unit it comes from), the question, its answers
    (one: pointwise; two: pairwise, in the order shown) and the right verdict (None: unknown)."""

    record: int
    question: str
    answers: tuple[str, ...]
    verdict: str | None = None

    @property
    def options(self) -> tuple[str, str]:
        return PAIR_OPTIONS if len(self.answers) == 2 else POINT_OPTIONS


def pair_request(record: int, question: str, chosen: str, rejected: str, rng: random.Random) -> Request:
    """A labelled pair shown in a random order: the verdict names where ``chosen`` landed."""
    if rng.random() < 0.5:
        return Request(record, question, (chosen, rejected), "A")
    return Request(record, question, (rejected, chosen), "B")


def point_labels(pairs: list[tuple[str, str]]) -> list[tuple[str, str]]:
    """(answer, good|bad) from a record's pairs: an answer only ever chosen is good, one only ever
    rejected is bad; an answer on both sides (the DP proxy's, between truth and base) has no label."""
    chosen = {c for c, _ in pairs}
    rejected = {r for _, r in pairs}
    seen, out = set(), []
    for text in [c for c, _ in pairs] + [r for _, r in pairs]:
        if text in seen or (text in chosen and text in rejected):
            continue
        seen.add(text)
        out.append((text, "good" if text in chosen else "bad"))
    return out


def record_requests(record: int, question: str, pairs: list[tuple[str, str]], rng: random.Random,
                    pointwise: bool = True) -> list[Request]:
    """Every request one record yields: its pairwise ones, then (``pointwise``) its pointwise ones."""
    reqs = [pair_request(record, question, c, r, rng) for c, r in pairs]
    if pointwise:
        reqs += [Request(record, question, (a,), v) for a, v in point_labels(pairs)]
    return reqs


def shown(text: str, words: int | None) -> str:
    """An answer as a judge prompt shows it: whole (``None``, as GFRIEND's prompt does) or its first
    ``words`` words (a short context for small judges)."""
    return text if words is None else shorten(text, words)


def request_text(req: Request, words: int | None) -> str:
    """The user turn: the question and the answers, each shortened to ``words`` words (None: whole)."""
    if len(req.answers) == 2:
        a, b = (shown(x, words) for x in req.answers)
        return (f"Question: {req.question}\nAnswer A: {a}\nAnswer B: {b}\n"
                "Which answer is more helpful, correct and complete? Verdict A or B.")
    return (f"Question: {req.question}\nAnswer: {shown(req.answers[0], words)}\n"
            "Is this answer helpful, correct and complete? Verdict good or bad.")


def render_request(tokenizer, req: Request, words: int) -> str:
    msgs = [{"role": "system", "content": JUDGE_SYSTEM}, {"role": "user", "content": request_text(req, words)}]
    return tokenizer.apply_chat_template(msgs, tokenize=False, add_generation_prompt=True)


def template_reasoning(req: Request, verdict: str) -> str:
    """A short chain of thought that leads to ``verdict`` (what the tiny model can learn)."""
    if len(req.answers) == 2:
        win = 0 if verdict == "A" else 1
        x, y = PAIR_OPTIONS[win], PAIR_OPTIONS[1 - win]
        return (f"Answer {x} covers: {shorten(req.answers[win], 6)} Answer {y} covers: "
                f"{shorten(req.answers[1 - win], 6)} Answer {x} is more complete and correct.")
    quality = "complete and correct" if verdict == "good" else "incomplete or wrong"
    return f"The answer covers: {shorten(req.answers[0], 6)} It is {quality}."


def with_verdict(reasoning: str, verdict: str) -> str:
    return f"{reasoning.strip()}\n{VERDICT_LABEL} {verdict}"


def template_judgement(req: Request) -> str:
    """The right judgement of a labelled request, written from the template."""
    return with_verdict(template_reasoning(req, req.verdict), req.verdict)


def parse_verdict(text: str) -> str | None:
    """The last ``verdict: X`` of a judgement (A/B upper case, good/bad lower case); None: no verdict."""
    found = _VERDICT.findall(text)
    if not found:
        return None
    v = found[-1]
    return v.upper() if v.upper() in PAIR_OPTIONS else v.lower()


def reasoning_of(text: str) -> str:
    """What a judgement says before its first verdict (the chain of thought)."""
    i = text.lower().find(VERDICT_LABEL)
    return (text if i < 0 else text[:i]).strip()


def ppl_score(mean_nll: float, tau: float) -> float:
    """GFRIEND's confidence of a sampled judgement: ``exp(-PPL / tau)``, PPL = exp(mean NLL)."""
    return math.exp(-math.exp(min(mean_nll, 50.0)) / tau)


def cot_ppl_score(mean_nll: float, tau: float) -> float:
    """The score of a chain of thought from its mean NLL (:func:`ppl_score`); a reasoning with no token
    to score (nan) gets 0, the least confident score."""
    return ppl_score(mean_nll, tau) if math.isfinite(mean_nll) else 0.0


LEVELS = {"strong_accept": 3, "weak_accept": 2, "weak_reject": 1, "strong_reject": 0}


def grade(correct: bool, score: float, threshold: float) -> int:
    """Preference-refinement level: right verdicts accept, wrong ones reject; confident (score >=
    threshold) right is the best, confident wrong the worst."""
    if correct:
        return LEVELS["strong_accept"] if score >= threshold else LEVELS["weak_accept"]
    return LEVELS["weak_reject"] if score < threshold else LEVELS["strong_reject"]
