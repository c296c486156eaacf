"""Instruction-Following Difficulty (IFD) of (question, answer) pairs (method.md section 2).

``IFD = mean NLL(answer | instruction) / mean NLL(answer alone)`` (Li et al.,
"Cherry LLM", 2024; used by Superfiltering and KnowledgeSG).  Below 1 the
instruction makes the answer easier to produce; at or above 1 it does not help
at all and KnowledgeSG drops the pair as misaligned
(:func:`rewardds.filters.ifd_filter`).

Both terms are computed over exactly the same answer tokens, the ones training
supervises:

* conditional: the ids of :func:`rewardds.chat.encode_example` as they are fed
  to fine-tuning: the chat prompt of :func:`rewardds.chat.render_prompt`
  (system message, question, assistant header) followed by the answer tokens
  the template writes (the answer text plus its end-of-turn token(s)), with
  the same truncation; the NLL is averaged over the supervised (answer) tokens,
  as :func:`rewardds.training.lm.token_losses` averages the training loss.
* unconditional ("answer alone"): those same answer tokens preceded by one
  start-of-text token only: the tokenizer's BOS, or, for tokenizers without
  one (GPT-2, Qwen2.5), its EOS, the document separator such models are
  pretrained with.  No system message, no role header, no question.  This is
  the reference definition: Cherry LLM and Superfiltering score the response
  text tokenised on its own (BOS and the response, no template), i.e. the
  response's loss without the instruction.  The one start token is what lets
  the first answer token be scored at all, so numerator and denominator
  average over the same tokens.

The NLLs are not computed with :func:`rewardds.eval.metrics.per_example_nll`:
that scorer tokenises ``answer + eos`` on its own, which is not the template's
answer rendering used in training (e.g. Qwen's ``<|im_end|>``).  The batched
scorer here takes token ids instead; it right-pads, always passes the
attention mask and computes log-probabilities in float32.
"""
from __future__ import annotations

import math

from rewardds import chat

__all__ = ["ifd_scores"]


def _start_id(tokenizer) -> int:
    """The single token the unconditional ("answer alone") sequence starts with."""
    for name in ("bos_token_id", "eos_token_id"):
        tid = getattr(tokenizer, name, None)
        if tid is not None:
            return int(tid)
    raise ValueError("IFD needs a tokenizer with a BOS or an EOS token to start the answer-only sequence")


def _pad_id(tokenizer) -> int:
    for name in ("pad_token_id", "eos_token_id"):
        tid = getattr(tokenizer, name, None)
        if tid is not None:
            return int(tid)
    return 0


def _pair_rows(tokenizer, task: str, question: str, answer: str, max_length: int, start: int):
    """(conditional ids, unconditional ids, number of answer tokens): the answer is the
    tail of both sequences (encode_example puts the supervised tokens last)."""
    ex = chat.encode_example(tokenizer, task, question, answer, max_length)
    n = sum(1 for label in ex["labels"] if label != -100)
    ids = list(ex["input_ids"])
    return ids, [start] + ids[len(ids) - n:], n


def _mean_tail_nll(model, rows: list[tuple[list[int], int]], pad_id: int, batch_size: int) -> list[float]:
    """Mean NLL (nats per token) of the last ``n`` tokens of each ``(ids, n)`` row, token
    ``t`` scored from the logits at ``t - 1``; ``nan`` when nothing is scored.

    Rows are batched longest first, right-padded and run with the attention
    mask, so padding never changes a score; the model's train/eval mode is
    restored afterwards.
    """
    import torch
    import torch.nn.functional as F

    device = next(model.parameters()).device
    order = sorted(range(len(rows)), key=lambda i: -len(rows[i][0]))
    out = [float("nan")] * len(rows)
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad():
            for s in range(0, len(order), batch_size):
                idx = order[s:s + batch_size]
                width = max(len(rows[i][0]) for i in idx)
                ids = torch.full((len(idx), width), pad_id, dtype=torch.long)
                mask = torch.zeros((len(idx), width), dtype=torch.long)
                for r, i in enumerate(idx):
                    ids[r, : len(rows[i][0])] = torch.tensor(rows[i][0], dtype=torch.long)
                    mask[r, : len(rows[i][0])] = 1
                logits = model(input_ids=ids.to(device), attention_mask=mask.to(device)).logits
                for r, i in enumerate(idx):
                    length, n = len(rows[i][0]), min(rows[i][1], len(rows[i][0]) - 1)
                    if n <= 0:
                        continue
                    first = length - n
                    nll = F.cross_entropy(logits[r, first - 1:length - 1].float(), ids[r, first:length].to(logits.device))
                    out[i] = float(nll)
    finally:
        model.train(was_training)
    return out


def ifd_scores(model, tokenizer, task: str, questions: list[str], answers: list[str], max_length: int,
               batch_size: int = 8) -> list[float]:
    """IFD of each (question, answer) pair under ``model``, in input order.

    ``task`` picks the chat system message (as in training); ``max_length``
    is the training max length (the pair is truncated as
    :func:`rewardds.chat.encode_example` truncates it).  KnowledgeSG computes
    IFD with the model about to be fine-tuned on the pairs.  ``nan`` where the
    ratio is undefined (answer-alone NLL of 0, or no answer token), which
    :func:`rewardds.filters.ifd_filter` treats as misaligned.  Scoring
    synthetic pairs releases nothing private; scoring private records with it
    gives unnoised per-record losses, which must never be logged.
    """
    if len(questions) != len(answers):
        raise ValueError(f"{len(questions)} questions but {len(answers)} answers")
    if batch_size < 1:
        raise ValueError("batch_size must be >= 1")
    start = _start_id(tokenizer)
    rows = []
    for q, a in zip(questions, answers):
        cond, uncond, n = _pair_rows(tokenizer, task, q, a, max_length, start)
        rows += [(cond, n), (uncond, n)]
    nll = _mean_tail_nll(model, rows, _pad_id(tokenizer), batch_size)
    out = []
    for cond, uncond in zip(nll[0::2], nll[1::2]):
        out.append(cond / uncond if uncond > 0 and math.isfinite(cond) else float("nan"))
    return out
