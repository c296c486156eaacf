"""Reusable data filters for synthetic (question, answer) sets (method.md sections 1 and 2).

Pure functions: explicit arguments in, ``(kept, summary)`` out, inputs never
mutated, no I/O, no logging.  ``summary`` is a dict of counts (``kept``,
``dropped`` and the rule-specific reasons) so a pipeline step can report what
its filter did.  The steps that call these functions decide what to log.

Privacy: the filters only see what they are given.  A count of items dropped
*because they resemble private text* (``similarity_dedup`` with private
references) is itself a statistic of the private data; a step must not log or
release it unless the run is in a mode that already declares no formal
guarantee.

Items are dicts with at least ``"id"`` and ``"question"``; the filters copy
every other field through unchanged.
"""
from __future__ import annotations

import math
import random
from typing import Callable, Sequence

import numpy as np

from rewardds.eval.metrics import sentence_bleu

__all__ = ["keep_count", "random_select", "length_filter", "similarity_dedup", "prompt_dedup", "pair_tfidf_cosine",
           "ifd_filter"]


def keep_count(n: int, keep_ratio: float) -> int:
    """How many of ``n`` items a ``keep_ratio`` keeps: ``max(1, round(n * keep_ratio))``, 0 when ``n == 0``.

    The same count as Reward Guided Filtering
    (:func:`rewardds.stages.filtering.select`), so a baseline that keeps "the
    same share" keeps exactly as many questions; ``round`` is Python's
    (half to even), as there.
    """
    return max(1, int(round(n * keep_ratio))) if n else 0


def _summary(n_in: int, kept: list, **reasons: int) -> dict:
    return {"kept": len(kept), "dropped": n_in - len(kept), **reasons}


def _field_text(item: dict, field: str, position: int) -> str:
    """The text under ``field``; a missing field is an error (naming the position, not the text)
    rather than an empty string, so a misspelt field name cannot silently drop everything."""
    try:
        text = item[field]
    except KeyError:
        raise ValueError(f"item at position {position} has no field {field!r}") from None
    return "" if text is None else str(text)


# --------------------------------------------------------------------------- random selection


def random_select(scored: list[dict], keep_ratio: float, seed: int) -> tuple[list[dict], dict]:
    """The random baseline to Reward Guided Filtering.

    Keeps as many questions as :func:`rewardds.stages.filtering.select` would
    for the same ``keep_ratio`` (:func:`keep_count`), but picks the questions
    at random, and for each one a random candidate as ``"chosen"`` and a
    different random candidate as ``"rejected"`` (the same one when the
    question has a single candidate).  This isolates what the reward proxy and
    the perplexity ranking contribute: same data budget, no guidance.

    The output items have exactly the fields ``select`` writes (``id``,
    ``question``, ``chosen``, ``rejected``, ``reward``, ``rejected_reward``,
    ``ppl``, ``fused``), with ``reward``/``ppl`` taken from the chosen index and
    ``rejected_reward`` from the rejected one, so target training and
    Self-Optimizing Refinement (whose admission threshold is the pool's lowest
    reward) run unchanged.  ``fused`` is ``None``: no fused ranking was used.
    Kept questions are in input order.  Deterministic for a given ``seed``
    (its own ``random.Random``, no global state touched).
    """
    rng = random.Random(seed)
    n = len(scored)
    picked = sorted(rng.sample(range(n), keep_count(n, keep_ratio)))
    kept = []
    for i in picked:
        q = scored[i]
        m = len(q["candidates"])
        if m == 0:
            raise ValueError(f"question at position {i} has no candidates")
        c = rng.randrange(m)
        r = c if m == 1 else rng.choice([j for j in range(m) if j != c])
        kept.append({"id": q["id"], "question": q["question"], "chosen": q["candidates"][c],
                     "rejected": q["candidates"][r], "reward": q["rewards"][c], "rejected_reward": q["rewards"][r],
                     "ppl": q["ppls"][c], "fused": None})
    return kept, _summary(n, kept)


# --------------------------------------------------------------------------- length


def _token_count(text: str, tokenizer) -> int:
    if tokenizer is None:
        return len(text.split())
    ids = tokenizer(text, add_special_tokens=False)["input_ids"]
    return len(ids)


def length_filter(items: list[dict], min_tokens: int = 2, field: str = "question",
                  tokenizer=None) -> tuple[list[dict], dict]:
    """Drop items whose ``field`` has fewer than ``min_tokens`` tokens.

    KnowledgeSG drops generated instructions shorter than 2 tokens: a one-word
    "instruction" is a sampling failure, not a task.  Tokens are whitespace
    tokens unless a (Hugging Face) ``tokenizer`` is given, in which case they
    are its tokens without special tokens.  Summary reason: ``too_short``.
    """
    kept = [it for pos, it in enumerate(items) if _token_count(_field_text(it, field, pos), tokenizer) >= min_tokens]
    return kept, _summary(len(items), kept, too_short=len(items) - len(kept))


# --------------------------------------------------------------------------- similarity


def _tfidf_similarity(texts: list[str], references: list[str]) -> tuple[Callable, Callable]:
    """Two functions: ``to_refs(i)``, item ``i``'s highest cosine similarity to any
    reference, and ``to_kept(i, mask)``, its similarities to the earlier items
    selected by the boolean ``mask`` (length ``i``), in one TF-IDF space fitted
    on references + items.

    Similarities are computed for blocks of item rows at a time, so memory stays
    at ``block * (len(references) + len(texts))`` floats whatever the set size.
    """
    from sklearn.feature_extraction.text import TfidfVectorizer

    try:
        matrix = TfidfVectorizer().fit_transform(list(references) + list(texts))  # rows are L2-normalised
    except ValueError:  # empty vocabulary: no text has a word token, so nothing is similar to anything
        return (lambda i: 0.0), (lambda i, mask: np.zeros(int(mask.sum())))
    refs, cands = matrix[: len(references)], matrix[len(references):]
    block, cache = 256, {}

    def rows(i: int):
        start = i - i % block
        if start not in cache:
            cache.clear()
            chunk = cands[start:start + block]
            to_refs = (chunk @ refs.T).toarray().max(axis=1) if len(references) else np.zeros(chunk.shape[0])
            cache[start] = (to_refs, (chunk @ cands.T).toarray())
        return cache[start][0][i - start], cache[start][1][i - start]

    return (lambda i: float(rows(i)[0])), (lambda i, mask: rows(i)[1][:i][mask])


def _bleu_similarity(texts: list[str], references: list[str]) -> tuple[Callable, Callable]:
    """The same two functions with sentence BLEU on the 0-1 scale: item ``i`` is the
    hypothesis, each other text a single reference, with the project's BLEU
    settings (:func:`rewardds.eval.metrics.sentence_bleu`).  Quadratic in the set
    size (about 0.1 ms a pair): meant for hundreds to a few thousand texts."""

    def bleu(i: int, others: Sequence[str]):
        return np.array([sentence_bleu([texts[i]], [o]) / 100.0 for o in others])

    def to_kept(i: int, mask):
        return bleu(i, [texts[j] for j in np.flatnonzero(mask)])

    return (lambda i: float(bleu(i, references).max(initial=0.0))), to_kept


_SIMILARITY = {"tfidf": _tfidf_similarity, "bleu": _bleu_similarity}


def similarity_dedup(items: list[dict], references: Sequence[str], threshold: float = 0.52,
                     field: str = "question", method: str = "tfidf") -> tuple[list[dict], dict]:
    """Drop near-duplicates: an item whose similarity to any reference text, or to
    any EARLIER KEPT item, exceeds ``threshold`` (strictly greater).

    Items are visited in input order, so of a group of near-duplicates the first
    one stays.  ``method="tfidf"`` (KnowledgeSG's code): cosine similarity of
    scikit-learn ``TfidfVectorizer`` vectors (default settings: lower-cased word
    tokens of 2+ characters, smoothed IDF, L2 norm) fitted on references +
    items, threshold 0.52.  ``method="bleu"`` (KnowledgeSG's paper): sentence
    BLEU of the item against each text, on the 0-1 scale.  An item with no word
    token has similarity 0 to everything (leave such items to
    :func:`length_filter`).

    PRIVACY: comparing synthetic text with PRIVATE references is a
    data-dependent release of private information (what survives, and how many
    are dropped, depend on the private texts) that no DP training covers.  In
    strict mode pass only PUBLIC texts (or none) as ``references``; a
    paper-faithful run that passes private examples must declare no formal
    guarantee.  This function does not know which kind it was given.

    Summary reasons: ``near_reference`` and ``near_duplicate``.
    """
    if method not in _SIMILARITY:
        raise ValueError(f"similarity method must be one of {sorted(_SIMILARITY)}, got {method!r}")
    texts = [_field_text(it, field, pos) for pos, it in enumerate(items)]
    to_refs, to_kept = _SIMILARITY[method](texts, [str(r) for r in references])
    kept, kept_mask = [], np.zeros(len(items), dtype=bool)
    near_ref = near_dup = 0
    for i, item in enumerate(items):
        if to_refs(i) > threshold:
            near_ref += 1
        elif np.any(to_kept(i, kept_mask[:i]) > threshold):
            near_dup += 1
        else:
            kept_mask[i] = True
            kept.append(item)
    return kept, _summary(len(items), kept, near_reference=near_ref, near_duplicate=near_dup)


def pair_tfidf_cosine(text: str, other: str) -> float:
    """TF-IDF cosine of two texts in a space fitted on just those two (KnowledgeSG's
    ``calculate_similarity``): scikit-learn ``TfidfVectorizer`` defaults, so a word both texts share
    weighs 1 and a word of one of them 1 + ln(3/2). ``nan`` when the pair has no word token (the
    vectorizer has no vocabulary)."""
    from sklearn.feature_extraction.text import TfidfVectorizer

    try:
        m = TfidfVectorizer().fit_transform([text, other])  # rows are L2-normalised
    except ValueError:
        return float("nan")
    return float((m[0] @ m[1].T).toarray()[0, 0])


def prompt_dedup(items: list[dict], examples: Sequence[Sequence[str]], threshold: float = 0.52,
                 field: str = "question") -> tuple[list[dict], dict]:
    """KnowledgeSG's near-duplicate filter as its code runs it: item ``i`` is dropped when its
    :func:`pair_tfidf_cosine` with any of ``examples[i]`` (the examples shown in the prompt that
    produced it) exceeds ``threshold``, or cannot be computed (the reference's ``except`` branch
    drops it too). Items are not compared with each other nor with examples of other prompts.

    PRIVACY: as :func:`similarity_dedup`: with private examples the survivors depend on private
    text; strict mode passes public examples only. Summary reason: ``near_example``.
    """
    if len(items) != len(examples):
        raise ValueError(f"{len(items)} items but {len(examples)} example lists")
    kept = []
    for pos, (item, shown) in enumerate(zip(items, examples)):
        text = _field_text(item, field, pos)
        sims = [pair_tfidf_cosine(text, str(e)) for e in shown]
        if not any(not math.isfinite(x) or x > threshold for x in sims):
            kept.append(item)
    return kept, _summary(len(items), kept, near_example=len(items) - len(kept))


# --------------------------------------------------------------------------- IFD


IFD_ORDERS = ("highest", "lowest")


def ifd_filter(items: list[dict], ifd_scores: Sequence[float], keep_share: float,
               max_ifd: float = 1.0, order: str = "highest", max_kept: int | None = None) -> tuple[list[dict], dict]:
    """KnowledgeSG's IFD ranking: drop misaligned pairs, keep a share of the rest by IFD.

    ``ifd_scores[i]`` is item ``i``'s IFD (:func:`rewardds.eval.ifd.ifd_scores`:
    mean answer NLL with the instruction over mean answer NLL without it).
    IFD >= ``max_ifd`` (1 by default) means the instruction does not help the
    model produce the answer at all: such pairs are misaligned and dropped, as
    are pairs whose IFD is not a finite number. Of the remaining pairs the
    ``keep_share`` share (:func:`keep_count` of the remaining number, at most
    ``max_kept``) is kept: ``order="highest"`` keeps the highest IFD, as
    KnowledgeSG's ``ifd_score.py`` (and Cherry LLM) do: the hardest pairs the
    instruction still explains; ``"lowest"`` the easiest. Ties keep input order;
    kept items are copies in input order with an added ``"ifd"`` field.

    Summary reasons: ``misaligned`` (IFD >= max_ifd or not finite) and
    ``ranked_out``.
    """
    if len(items) != len(ifd_scores):
        raise ValueError(f"{len(items)} items but {len(ifd_scores)} IFD scores")
    if order not in IFD_ORDERS:
        raise ValueError(f"order must be one of {IFD_ORDERS}, got {order!r}")
    aligned = [i for i, s in enumerate(ifd_scores) if math.isfinite(s) and s < max_ifd]
    count = keep_count(len(aligned), keep_share)
    if max_kept is not None:
        count = min(count, max_kept)
    sign = -1.0 if order == "highest" else 1.0
    best = sorted(aligned, key=lambda i: sign * ifd_scores[i])[:count]
    kept = [dict(items[i], ifd=float(ifd_scores[i])) for i in sorted(best)]
    return kept, _summary(len(items), kept, misaligned=len(items) - len(aligned), ranked_out=len(aligned) - len(kept))
