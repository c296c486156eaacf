"""Evaluation metrics (method.md section 1, step 9).

QA tasks: ROUGE-1/2/L F1 with stemming, sentence BLEU and the perplexity of the
reference answer given the prompt.  Code tasks: the unbiased pass@k estimator
(the tests themselves run in :mod:`rewardds.eval.sandbox`).

Perplexity scoring is shared with the membership-inference audit and the
filter's perplexity ranking through :func:`per_example_nll`; both it and
:func:`answer_perplexity` go through the same batched scorer
(:func:`_answer_nll_sums`), which right-pads every batch and always passes the
attention mask (the reference implementation scored padded batches without it).

Every metric also exists per item (:func:`rouge_per_item`,
:func:`sentence_bleu_per_item`, :func:`answer_nll_sums`,
:func:`pass_at_k_per_task`), so that :func:`qa_metrics` and
:func:`pass_at_k_metrics` can attach 95% percentile bootstrap intervals over
test items (:mod:`rewardds.eval.bootstrap`): with a few dozen test questions a
small difference between two models is often noise.  :func:`qa_item_scores` and
:func:`code_item_scores` gather those per-item values in the form the evaluation
stage writes to ``items.jsonl`` (:mod:`rewardds.eval.paired` pairs two models'
files item by item).
"""
from __future__ import annotations

import functools
import math
import warnings
from functools import lru_cache
from typing import Sequence

import numpy as np

from rewardds.eval.bootstrap import bootstrap_ci, ratio_statistic

__all__ = [
    "rouge_scores",
    "rouge_per_item",
    "sentence_bleu",
    "sentence_bleu_per_item",
    "qa_metrics",
    "qa_item_scores",
    "qa_metrics_from_scores",
    "code_item_scores",
    "answer_perplexity",
    "answer_nll_sums",
    "perplexity_from_nll_sums",
    "per_example_nll",
    "pass_at_k",
    "pass_at_k_per_task",
    "pass_at_k_metrics",
]

ROUGE_TYPES = ("rouge1", "rouge2", "rougeL")
N_BOOT = 1000  # bootstrap resamples for the ci95 intervals


def _check_pairs(predictions: Sequence, references: Sequence, what: str = "predictions") -> None:
    if len(predictions) != len(references):
        raise ValueError(f"{len(predictions)} {what} but {len(references)} references")


# --------------------------------------------------------------------------- text overlap


@lru_cache(maxsize=1)
def _rouge_scorer():
    from rouge_score import rouge_scorer

    return rouge_scorer.RougeScorer(list(ROUGE_TYPES), use_stemmer=True)


def rouge_per_item(predictions: list[str], references: list[str]) -> dict[str, list[float]]:
    """ROUGE-1/2/L F1 of each prediction/reference pair: ``{"rouge1": [...], ...}``.

    Uses the ``rouge-score`` package with ``use_stemmer=True`` (Porter stemmer;
    its tokenizer lower-cases and keeps only ``[a-z0-9]`` runs).  ROUGE-L is the
    sentence-level LCS variant (``rougeL``, not ``rougeLsum``).
    """
    _check_pairs(predictions, references)
    out: dict[str, list[float]] = {key: [] for key in ROUGE_TYPES}
    if not predictions:
        return out
    scorer = _rouge_scorer()
    for pred, ref in zip(predictions, references):
        # rouge-score's signature is score(target, prediction).
        scores = scorer.score(ref or "", pred or "")
        for key in ROUGE_TYPES:
            out[key].append(scores[key].fmeasure)
    return out


def _mean(values: list[float]) -> float:
    """Left-to-right sum / count (0.0 for no values): the arithmetic the aggregate metrics always used."""
    return sum(values) / len(values) if values else 0.0


def rouge_scores(predictions: list[str], references: list[str]) -> dict:
    """Mean ROUGE-1/2/L F1 (each in [0, 1]) over prediction/reference pairs.

    The mean of :func:`rouge_per_item`.  An empty list gives 0.0 for every key.
    """
    return {key: _mean(values) for key, values in rouge_per_item(predictions, references).items()}


def sentence_bleu_per_item(predictions: list[str], references: list[str]) -> list[float]:
    """Sentence-level BLEU in [0, 100] of each prediction, one reference each.

    Each pair is scored with ``sacrebleu.sentence_bleu`` using sacrebleu's
    sentence-level defaults, spelled out here: ``smooth_method="exp"``
    (exponential decay smoothing of zero n-gram counts, Chen & Cherry 2014
    method 3), effective order on (n-gram orders longer than the hypothesis are
    ignored), the ``13a`` tokenizer, case-sensitive, max n-gram order 4.
    """
    _check_pairs(predictions, references)
    if not predictions:
        return []
    import sacrebleu

    return [
        sacrebleu.sentence_bleu(
            pred or "", [ref or ""], smooth_method="exp", tokenize="13a", use_effective_order=True
        ).score
        for pred, ref in zip(predictions, references)
    ]


def sentence_bleu(predictions: list[str], references: list[str]) -> float:
    """Mean sentence-level BLEU in [0, 100] (:func:`sentence_bleu_per_item`; not corpus BLEU).

    An empty list gives 0.0.
    """
    return _mean(sentence_bleu_per_item(predictions, references))


def _ci_lists(intervals: dict) -> dict:
    """``{name: (lo, hi)}`` -> ``{name: [lo, hi]}`` for JSON; an undefined bound (no items) is None."""
    return {name: [None if math.isnan(v) else v for v in pair] for name, pair in intervals.items()}


def qa_item_scores(predictions: list[str], references: list[str], *,
                   nll_sums: Sequence[tuple[float, int]] | None = None) -> dict[str, list]:
    """Per item: ``rouge1``, ``rouge2``, ``rougeL``, ``bleu`` and, with ``nll_sums`` (from
    :func:`answer_nll_sums`, one per pair), ``nll_sum`` and ``n_tokens`` of the reference answer
    (perplexity is a ratio of their sums, so it has no per-item value of its own)."""
    scores: dict = dict(rouge_per_item(predictions, references))
    scores["bleu"] = sentence_bleu_per_item(predictions, references)
    if nll_sums is not None:
        if len(nll_sums) != len(predictions):
            raise ValueError(f"{len(nll_sums)} nll_sums but {len(predictions)} predictions")
        scores["nll_sum"] = [float(s) for s, _ in nll_sums]
        scores["n_tokens"] = [int(t) for _, t in nll_sums]
    return scores


def qa_metrics_from_scores(scores: dict[str, list], *, n_boot: int = N_BOOT, seed: int = 0) -> dict:
    """:func:`qa_metrics` from :func:`qa_item_scores` (so the evaluation stage scores each item once)."""

    per_item: dict = {key: scores[key] for key in (*ROUGE_TYPES, "bleu")}
    out: dict = {key: _mean(values) for key, values in per_item.items()}
    n = len(scores["bleu"])
    out["n"] = n
    if "nll_sum" in scores:
        sums = list(zip(scores["nll_sum"], scores["n_tokens"]))
        out["ppl"] = perplexity_from_nll_sums(sums)
        per_item["ppl"] = _perplexity_statistic(sums)
    out["ci95"] = _ci_lists(bootstrap_ci(per_item, n_boot=n_boot, alpha=0.05, seed=seed, n=n))
    return out


def qa_metrics(predictions: list[str], references: list[str], *, nll_sums: Sequence[tuple[float, int]] | None = None,
               n_boot: int = N_BOOT, seed: int = 0) -> dict:
    """QA metrics with 95% bootstrap intervals over test items.

    Keys: ``rouge1``, ``rouge2``, ``rougeL`` (mean F1, [0, 1]), ``bleu`` (mean
    sentence BLEU, [0, 100]), ``n`` (pairs scored), with ``nll_sums`` (from
    :func:`answer_nll_sums`, one per pair) also ``ppl`` (corpus perplexity, equal
    to :func:`answer_perplexity`), and ``ci95``: ``{metric: [lo, hi]}`` for each
    of those metrics, percentile intervals from ``n_boot`` resamples of the
    items, the same resamples for every metric (``ppl`` is recomputed as
    ``exp(sum NLL / sum tokens)`` on each resample).  Bounds are None without items.
    """
    return qa_metrics_from_scores(qa_item_scores(predictions, references, nll_sums=nll_sums), n_boot=n_boot,
                                  seed=seed)


# --------------------------------------------------------------------------- perplexity


def _no_grad(fn):
    """``@torch.no_grad()`` with torch imported on first call, so that importing
    this module (for ROUGE/BLEU/pass@k, or the code sandbox) does not load torch."""

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        import torch

        with torch.no_grad():
            return fn(*args, **kwargs)

    return wrapper


def _token_ids(tokenizer, text: str, add_special_tokens: bool) -> list[int]:
    ids = tokenizer(text, add_special_tokens=add_special_tokens)["input_ids"]
    if hasattr(ids, "tolist"):
        ids = ids.tolist()
    return list(ids)


def _encode_pair(tokenizer, prompt: str, answer: str) -> tuple[list[int], list[int]]:
    """Prompt ids and answer ids (answer + eos), tokenized separately.

    Separate tokenization makes the prompt/answer boundary exact, so exactly the
    answer tokens (and the appended eos) are scored.  The prompt gets the
    tokenizer's own special tokens (e.g. Llama's BOS) unless the rendered prompt
    already starts with the BOS text (chat templates usually write it), so BOS
    is never doubled; a trailing EOS that some tokenizers append is removed.
    """
    bos = getattr(tokenizer, "bos_token", None)
    eos = getattr(tokenizer, "eos_token", None)
    add_special = not (bos and prompt.startswith(bos))
    p_ids = _token_ids(tokenizer, prompt, add_special)
    eos_id = getattr(tokenizer, "eos_token_id", None)
    if add_special and p_ids and eos_id is not None and p_ids[-1] == eos_id and not (eos and prompt.endswith(eos)):
        p_ids = p_ids[:-1]
    a_ids = _token_ids(tokenizer, answer + (eos or ""), False)
    return p_ids, a_ids


def _truncate(p_ids: list[int], a_ids: list[int], max_length: int) -> tuple[list[int], list[int], bool]:
    """Fit prompt + answer into ``max_length`` tokens.

    The whole prompt is kept and the answer's tail dropped while that still
    leaves the answer at least ``min(len(answer), max_length // 2)`` tokens;
    beyond that the prompt loses tokens from its start.
    """
    if len(p_ids) + len(a_ids) <= max_length:
        return p_ids, a_ids, False
    a_keep = max(min(len(a_ids), max_length - len(p_ids)), min(len(a_ids), max_length // 2))
    p_keep = max_length - a_keep
    return p_ids[len(p_ids) - p_keep:] if p_keep > 0 else [], a_ids[:a_keep], True


@_no_grad
def _answer_nll_sums(model, tokenizer, prompts, answers, batch_size: int = 8, max_length: int = 1024):
    """(summed NLL in nats, number of scored answer tokens) per example, in input order.

    Examples are sorted by length, right-padded per batch and run with the
    attention mask; token ``t`` is scored from the logits at ``t - 1`` (an answer
    token at position 0, possible only with an empty prompt and no BOS, is not
    scored).  Log-probabilities are computed in float32 whatever the model dtype.
    """
    import torch

    _check_pairs(prompts, answers, "prompts")
    if batch_size < 1 or max_length < 2:
        raise ValueError("batch_size must be >= 1 and max_length >= 2")
    encoded, n_truncated = [], 0
    for prompt, answer in zip(prompts, answers):
        p_ids, a_ids = _encode_pair(tokenizer, prompt, answer)
        p_ids, a_ids, cut = _truncate(p_ids, a_ids, max_length)
        n_truncated += cut
        encoded.append((p_ids, a_ids))
    if n_truncated:
        warnings.warn(f"{n_truncated} of {len(encoded)} prompt+answer pairs exceeded max_length={max_length} and were truncated")

    pad_id = getattr(tokenizer, "pad_token_id", None)
    if pad_id is None:
        pad_id = getattr(tokenizer, "eos_token_id", None)
    if pad_id is None:
        pad_id = 0
    try:
        device = next(model.parameters()).device
    except StopIteration:  # pragma: no cover - parameter-less model
        device = torch.device("cpu")

    order = sorted(range(len(encoded)), key=lambda i: -(len(encoded[i][0]) + len(encoded[i][1])))
    results: list[tuple[float, int]] = [(0.0, 0)] * len(encoded)
    was_training = model.training
    model.eval()
    try:
        for start in range(0, len(order), batch_size):
            idx = order[start:start + batch_size]
            seqs = [encoded[i][0] + encoded[i][1] for i in idx]
            width = max(len(s) for s in seqs)
            input_ids = torch.full((len(idx), width), pad_id, dtype=torch.long)
            attention_mask = torch.zeros((len(idx), width), dtype=torch.long)
            for row, seq in enumerate(seqs):
                input_ids[row, : len(seq)] = torch.tensor(seq, dtype=torch.long)
                attention_mask[row, : len(seq)] = 1
            logits = model(input_ids=input_ids.to(device), attention_mask=attention_mask.to(device)).logits
            for row, i in enumerate(idx):
                p_len, a_len = len(encoded[i][0]), len(encoded[i][1])
                first = max(p_len, 1)  # first scored target position
                end = p_len + a_len
                if end <= first:
                    results[i] = (0.0, 0)
                    continue
                targets = input_ids[row, first:end].to(logits.device)
                nll = torch.nn.functional.cross_entropy(
                    logits[row, first - 1 : end - 1].float(), targets, reduction="sum"
                )
                results[i] = (float(nll), end - first)
    finally:
        model.train(was_training)
    return results


@_no_grad
def per_example_nll(model, tokenizer, prompts: list[str], answers: list[str], batch_size: int = 8, max_length: int = 1024) -> list[float]:
    """Mean negative log-likelihood (nats per token) of each answer given its prompt.

    Prompts are already-rendered strings; each answer is appended as is plus
    ``tokenizer.eos_token`` and only those answer tokens are scored (the prompt
    is context).  ``nan`` for an example with no scored token.  Same batched
    code path as :func:`answer_perplexity`.
    """
    return [s / n if n else float("nan") for s, n in _answer_nll_sums(model, tokenizer, prompts, answers, batch_size, max_length)]


def answer_nll_sums(model, tokenizer, prompts: list[str], answers: list[str], batch_size: int = 8,
                    max_length: int = 1024) -> list[tuple[float, int]]:
    """Per item: (summed NLL in nats of the answer + eos tokens, number of those tokens).

    The per-item form of :func:`answer_perplexity` (same scorer); pass it to
    :func:`qa_metrics` as ``nll_sums`` to get ``ppl`` and its interval.
    """
    return _answer_nll_sums(model, tokenizer, prompts, answers, batch_size, max_length)


def perplexity_from_nll_sums(sums: Sequence[tuple[float, int]]) -> float:
    """``exp(total NLL / total tokens)``; ``nan`` when no token was scored."""
    total_nll = sum(s for s, _ in sums)
    total_tokens = sum(n for _, n in sums)
    if total_tokens == 0:
        return float("nan")
    return math.exp(total_nll / total_tokens)


def _perplexity_statistic(sums: Sequence[tuple[float, int]]):
    """Bootstrap statistic of :func:`perplexity_from_nll_sums` over resampled items."""
    return ratio_statistic([s for s, _ in sums], [n for _, n in sums], transform=np.exp)


@_no_grad
def answer_perplexity(model, tokenizer, prompts: list[str], answers: list[str], batch_size: int = 8, max_length: int = 1024) -> float:
    """Corpus-level perplexity of the answers given the prompts.

    ``exp(total answer NLL / total answer tokens)`` over all examples, so long
    answers weigh more than short ones (not a mean of per-example
    perplexities).  Scoring as in :func:`per_example_nll`; ``nan`` when nothing
    was scored (e.g. empty input).
    """
    return perplexity_from_nll_sums(_answer_nll_sums(model, tokenizer, prompts, answers, batch_size, max_length))


# --------------------------------------------------------------------------- pass@k


def pass_at_k(n: int, c: int, k: int) -> float:
    """Unbiased pass@k estimator of Chen et al. (2021) for one task.

    ``1 - C(n - c, k) / C(n, k)`` with ``n`` samples of which ``c`` are correct,
    computed as ``1 - prod_{i = n - c + 1}^{n} (1 - k / i)`` so that large ``n``
    does not overflow.  Requires ``0 <= c <= n`` and ``1 <= k <= n``.
    """
    if not (isinstance(n, int) and isinstance(c, int) and isinstance(k, int)):
        raise TypeError("n, c and k must be integers")
    if n < 1 or not 0 <= c <= n:
        raise ValueError(f"need n >= 1 and 0 <= c <= n, got n={n}, c={c}")
    if not 1 <= k <= n:
        raise ValueError(f"pass@{k} needs 1 <= k <= n samples, got n={n}")
    if n - c < k:
        return 1.0
    prod = 1.0
    for i in range(n - c + 1, n + 1):
        prod *= 1.0 - k / i
    return 1.0 - prod


def _task_counts(task) -> tuple[int, int]:
    """(samples, correct) of one task: a list of per-sample pass booleans, or a dict with ``n`` and ``c``
    (an entry of :func:`rewardds.eval.sandbox.evaluate_samples`' ``per_task``)."""
    if isinstance(task, dict):
        return int(task["n"]), int(task["c"])
    passes = list(task)
    return len(passes), sum(bool(p) for p in passes)


def pass_at_k_per_task(per_task: Sequence, k: int) -> list[float]:
    """The unbiased pass@k estimate of each task (see :func:`pass_at_k` and :func:`_task_counts`)."""
    return [pass_at_k(n, c, k) for n, c in map(_task_counts, per_task)]


def code_item_scores(per_task: Sequence, ks: Sequence[int] = (1,)) -> dict[str, list]:
    """Per task: ``pass@k`` for each k (pass@1 always; :func:`pass_at_k_per_task`), ``n_samples`` and
    ``n_correct`` (the samples generated and those that passed every test)."""
    counts = [_task_counts(t) for t in per_task]
    out: dict = {f"pass@{k}": pass_at_k_per_task(per_task, k) for k in sorted({int(k) for k in ks} | {1})}
    out["n_samples"] = [n for n, _ in counts]
    out["n_correct"] = [c for _, c in counts]
    return out


def pass_at_k_metrics(per_task: Sequence, ks: Sequence[int] = (1,), *, n_boot: int = N_BOOT, seed: int = 0) -> dict:
    """pass@k over tasks with 95% bootstrap intervals over tasks.

    ``per_task``: per task, the pass booleans of its samples (or ``{"n", "c"}``
    dicts).  Keys: ``pass@k`` for each k (pass@1 always; the mean over tasks of
    :func:`pass_at_k`, as ``evaluate_samples`` reports it; ``nan`` without
    tasks), ``n`` (tasks) and ``ci95``: ``{"pass@k": [lo, hi]}``.  The
    resamples are those of :func:`qa_metrics` for the same number of items and
    seed, so code and text metrics of one model stay paired.
    """
    per_item = {f"pass@{k}": pass_at_k_per_task(per_task, k) for k in sorted({int(k) for k in ks} | {1})}
    out: dict = {name: _mean(v) if v else float("nan") for name, v in per_item.items()}
    out["n"] = len(per_task)
    out["ci95"] = _ci_lists(bootstrap_ci(per_item, n_boot=n_boot, alpha=0.05, seed=seed, n=len(per_task)))
    return out
