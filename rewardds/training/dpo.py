"""Multi-level weighted DPO (GFRIEND's M-DPO) with the private record as the DP unit.

Each private record yields several judgement pairs (winner, loser: two judgements of the
same request, so of the same question, with different preference-refinement levels).
A pair's loss is ``-w * log sigmoid(beta * ((lp_w - ref_w) - (lp_l - ref_l)))`` with
``w = log(1 + exp(a * gap))``, ``gap`` the difference of the two judgements' PPL scores (the
reference, ``reward.gap=score``; pairs: right verdict over wrong) or of their levels
(``reward.gap=level``; pairs: any two levels), ``lp`` the trainable judge's
summed log-probability of the judgement given its prompt and ``ref`` the frozen SFT
judge's (computed once, before training: the reference never trains). The loss is
computed WITH gradients (the reference implementation ran it under no_grad). A record's
pair losses are summed into one record loss; under DP-SGD its rows' gradients are summed
before clipping (:mod:`rewardds.training.dp`), so the record, not the pair, is the unit.
"""
from __future__ import annotations

import math
import random
from collections import defaultdict

import torch
import torch.nn.functional as F

from rewardds.training.base import TrainableModule
from rewardds.training.lm import pad_rows


def dpo_weight(gap: float, a: float) -> float:
    """``log(1 + exp(a * gap))``: grows with the level gap (softplus, computed stably)."""
    x = a * gap
    return x + math.log1p(math.exp(-x)) if x > 0 else math.log1p(math.exp(x))


def sequence_logprobs(model, input_ids, attention_mask, labels) -> torch.Tensor:
    """Summed log-probability of each row's labelled tokens (labels -100 elsewhere)."""
    out = model(input_ids=input_ids, attention_mask=attention_mask)
    logp = out.logits[:, :-1].float().log_softmax(-1)
    target = labels[:, 1:]
    valid = target != -100
    tok = logp.gather(-1, target.clamp(min=0).unsqueeze(-1)).squeeze(-1)
    return (tok * valid).sum(1)


def level_pairs(levels: list[int], a: float) -> list[tuple[int, int, float]]:
    """(winner, loser, weight) for every two judgements of one request whose levels differ."""
    return [(i, j, dpo_weight(levels[i] - levels[j], a)) for i in range(len(levels)) for j in range(len(levels))
            if levels[i] > levels[j]]


def score_pairs(judgements: list[tuple[bool, float]], a: float) -> list[tuple[int, int, float]]:
    """GFRIEND's pairs (``run_preference_refinement.py``, ``trainer_generative_dpo.py``): every judgement
    with the right verdict (strong or weak accept) over every one with the wrong verdict (strong or weak
    reject) of the same request, weighted ``log(1 + exp(a * |s+ - s-|))``, s the PPL scores. Given per
    judgement (right verdict, score)."""
    return [(i, j, dpo_weight(abs(si - sj), a)) for i, (ci, si) in enumerate(judgements)
            for j, (cj, sj) in enumerate(judgements) if ci and not cj]


def record_pairs(groups: list[list], a: float, max_pairs: int, rng: random.Random,
                 pairing=None) -> list[tuple[int, int, float]]:
    """The DPO pairs of one record: pairs inside each group (the judgements of one request, given as
    ``pairing`` reads them: levels for :func:`level_pairs`, the default, or (right verdict, score) for
    :func:`score_pairs`; indices are flat over the record's judgements), at most ``max_pairs`` (a
    seeded sample, so a record's contribution is bounded)."""
    pairing = pairing or level_pairs
    pairs, offset = [], 0
    for group in groups:
        pairs += [(offset + i, offset + j, w) for i, j, w in pairing(group, a)]
        offset += len(group)
    if len(pairs) > max_pairs:
        pairs = rng.sample(pairs, max_pairs)
    return pairs


class DPOCollator:
    """Items: per record, a list of pairs ``{"w": row, "l": row, "ref_w", "ref_l", "weight"}``
    (rows: ``input_ids``/``labels`` dicts). Rows go in (winner, loser) order per pair."""

    def __init__(self, pad_id: int):
        self.pad_id = pad_id

    def __call__(self, items):
        rows, record, winner, ref, weight = [], [], [], [], []
        for r, pairs in enumerate(items):
            for p in pairs:
                rows += [p["w"], p["l"]]
                record += [r, r]
                winner += [True, False]
                ref += [p["ref_w"], p["ref_l"]]
                weight += [p["weight"], p["weight"]]
        return {
            "input_ids": pad_rows([x["input_ids"] for x in rows], self.pad_id),
            "labels": pad_rows([x["labels"] for x in rows], -100),
            "attention_mask": pad_rows([[1] * len(x["input_ids"]) for x in rows], 0),
            "record_of_row": torch.tensor(record, dtype=torch.long),
            "is_winner": torch.tensor(winner, dtype=torch.bool),
            "ref_logp": torch.tensor(ref, dtype=torch.float32),
            "weight": torch.tensor(weight, dtype=torch.float32),
            "num_records": len(items),
        }


def weighted_dpo_losses(policy_logp, batch, beta: float) -> torch.Tensor:
    """Per record: the sum of its pairs' weighted DPO losses."""
    win = batch["is_winner"].to(policy_logp.device)
    ref = batch["ref_logp"].to(policy_logp.device)
    margin = beta * ((policy_logp[win] - ref[win]) - (policy_logp[~win] - ref[~win]))
    pair_loss = -batch["weight"].to(policy_logp.device)[win] * F.logsigmoid(margin)
    rec = batch["record_of_row"].to(policy_logp.device)[win]
    n = int(batch["num_records"])
    return torch.zeros(n, dtype=pair_loss.dtype, device=pair_loss.device).index_add(0, rec, pair_loss)


class WeightedDPOModule(TrainableModule):
    """The judge (its LoRA adapter trainable) under M-DPO; several rows per record."""

    def __init__(self, model, lr: float, pad_id: int, beta: float, dp=None, **kw):
        super().__init__(model, lr, dp=dp, rows_are_records=False, **kw)
        self.pad_id = pad_id
        self.beta = beta

    def record_losses(self, batch):
        lp = sequence_logprobs(self.model, batch["input_ids"], batch["attention_mask"], batch["labels"])
        return weighted_dpo_losses(lp, batch, self.beta)


@torch.no_grad()
def row_logprobs(model, rows: list[dict], pad_id: int, batch_size: int = 16) -> list[tuple[float, int]]:
    """(summed log-probability, number of labelled tokens) of each row, in eval mode, no gradients:
    the frozen reference's side of DPO and the perplexity of sampled judgements."""
    model.eval()
    device = next(model.parameters()).device
    out: list[tuple[float, int]] = []
    for i in range(0, len(rows), batch_size):
        chunk = rows[i:i + batch_size]
        ids = pad_rows([r["input_ids"] for r in chunk], pad_id).to(device)
        labels = pad_rows([r["labels"] for r in chunk], -100).to(device)
        mask = pad_rows([[1] * len(r["input_ids"]) for r in chunk], 0).to(device)
        lp = sequence_logprobs(model, ids, mask, labels)
        counts = (labels[:, 1:] != -100).sum(1)
        out += [(float(a), int(n)) for a, n in zip(lp.tolist(), counts.tolist())]
    return out
