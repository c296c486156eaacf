"""End-to-end leakage measures of a method's outputs: copies in the synthetic set, canary exposure.

Two questions about what a method released (method.md, KnowledgeSG's evaluations; issue 13):

* Did private text reach the synthetic set? :func:`copy_counts` counts synthetic texts that share
  a run of ``n`` consecutive words (a word n-gram) with one private record (near-verbatim), or hold
  a whole private text (verbatim). :func:`secret_copies` counts planted canaries whose secret (or
  made-up name) appears in the synthetic texts.
* Did the final model memorise the canaries? :func:`rewardds.eval.canaries.exposure_summary` turns
  a table of canary NLLs (true secret vs reference secrets,
  :func:`rewardds.eval.canaries.canary_nll_table`) into the exposure figures of the canary audit.

Only counts and rates leave these functions, never the text that matched. Counts about private
records are non-DP statistics of the private data: the pipeline keeps them in the client-only
``client_eval`` of metrics.json. Planting the canaries of an audit run
(:func:`rewardds.eval.canaries.plant_canaries`, still importable from here) lives with the canaries.
"""
from __future__ import annotations

import re

import numpy as np

from rewardds.eval.canaries import PLANTED, plant_canaries, planted_ids

__all__ = ["PLANTED", "copy_counts", "plant_canaries", "planted_ids", "secret_copies", "words"]


def words(text: str) -> list[str]:
    """Lower-cased word tokens: the unit of the verbatim comparisons (punctuation and spacing ignored)."""
    return re.findall(r"\w+", str(text).lower())


def _ngrams(tokens: list[str], n: int) -> set[tuple[str, ...]]:
    return {tuple(tokens[i:i + n]) for i in range(len(tokens) - n + 1)}


def copy_counts(synthetic: list[str], private: list[str], n: int) -> dict:
    """How much of ``synthetic`` copies ``private`` (counts and overlap shares only, no text).

    ``near_verbatim``: synthetic texts sharing at least one run of ``n`` consecutive words with a
    private text; ``verbatim``: synthetic texts equal to a private text or containing a whole private
    text of at least ``n`` words; ``private_copied``: private texts that some synthetic text shares
    such a run with; ``max_overlap`` / ``mean_overlap``: the share of a synthetic text's word n-grams
    found in the private texts (max and mean over the synthetic texts with at least one n-gram).
    """
    if n < 1:
        raise ValueError(f"n must be >= 1, got {n}")
    index: dict[tuple[str, ...], set[int]] = {}
    whole = {}
    for j, text in enumerate(private):
        toks = words(text)
        for g in _ngrams(toks, n):
            index.setdefault(g, set()).add(j)
        if toks:
            whole[" ".join(toks)] = len(toks)
    near = verbatim = 0
    copied: set[int] = set()
    overlaps = []
    for text in synthetic:
        toks = words(text)
        grams = _ngrams(toks, n)
        hits = [g for g in grams if g in index]
        if grams:
            overlaps.append(len(hits) / len(grams))
        if hits:
            near += 1
            for g in hits:
                copied |= index[g]
        joined = f" {' '.join(toks)} "
        if toks and any((p == joined.strip()) or (k >= n and f" {p} " in joined) for p, k in whole.items()):
            verbatim += 1
    return {"texts": len(synthetic), "ngram": int(n), "near_verbatim": near, "verbatim": verbatim,
            "private_copied": len(copied), "max_overlap": max(overlaps) if overlaps else 0.0,
            "mean_overlap": float(np.mean(overlaps)) if overlaps else 0.0}


def secret_copies(synthetic: list[str], canaries) -> dict:
    """How many planted canaries show up in ``synthetic``: by their secret digits (as a whole number,
    not inside a longer one) and by their made-up name; ``texts_with_secret``: texts holding one."""
    found_secret: set[str] = set()
    found_name: set[str] = set()
    texts_with_secret = 0
    patterns = [(c, re.compile(rf"(?<!\d){re.escape(c.secret)}(?!\d)")) for c in canaries]
    for text in synthetic:
        lowered = str(text).lower()
        hit = False
        for c, pat in patterns:
            if pat.search(text):
                found_secret.add(c.id)
                hit = True
            if c.name.lower() in lowered:
                found_name.add(c.id)
        texts_with_secret += hit
    return {"canaries": len(canaries), "secret_copies": len(found_secret), "name_copies": len(found_name),
            "texts_with_secret": texts_with_secret}
