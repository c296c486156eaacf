"""Reward model: an LM with a scalar head trained with the Bradley-Terry loss.

The privacy unit is the private record: all preference pairs built from one
record sit in one Poisson-sampled item, their row gradients are summed and
clipped together (record-level DP, not pair-level).
"""
from __future__ import annotations

import torch
import torch.nn.functional as F

from rewardds import chat
from rewardds.models.loading import add_lora, torch_dtype
from rewardds.training.base import TrainableModule
from rewardds.training.lm import pad_rows


def encode_reward_text(tokenizer, task: str, question: str, answer: str, max_length: int) -> list[int]:
    ids = tokenizer(chat.render_for_reward(tokenizer, task, question, answer), add_special_tokens=False)["input_ids"]
    return ids[-max_length:]  # keep the end: the answer and its closing token


class PairDataset(torch.utils.data.Dataset):
    """One item per private record: its list of (chosen_ids, rejected_ids) pairs."""

    def __init__(self, records_pairs: list[list[tuple[list[int], list[int]]]]):
        self.items = list(records_pairs)  # a record without pairs still counts: it is the privacy unit

    def __len__(self):
        return len(self.items)

    def __getitem__(self, i):
        return self.items[i]


class PairCollator:
    """Each record's DISTINCT texts as rows, and its pairs as (chosen row, rejected row) indices.

    A record's pairs share answers (truth > base, truth > DP proxy, DP proxy > base are three pairs of
    three texts), so every text is scored once and each pair reads two scores: half the rows of one
    row per pair side, the same losses and gradients."""

    def __init__(self, pad_id: int):
        self.pad_id = pad_id

    def __call__(self, items):
        rows, record_of_row, pair_rows, record_of_pair = [], [], [], []
        for r, pairs in enumerate(items):
            index: dict[tuple, int] = {}
            for c_ids, r_ids in pairs:
                ends = []
                for ids in (c_ids, r_ids):
                    if tuple(ids) not in index:
                        index[tuple(ids)] = len(rows)
                        rows.append(list(ids))
                        record_of_row.append(r)
                    ends.append(index[tuple(ids)])
                pair_rows.append(ends)
                record_of_pair.append(r)
        return {
            "input_ids": pad_rows(rows, self.pad_id),
            "attention_mask": pad_rows([[1] * len(x) for x in rows], 0),
            "record_of_row": torch.tensor(record_of_row, dtype=torch.long),
            "pair_rows": torch.tensor(pair_rows, dtype=torch.long).view(-1, 2),
            "record_of_pair": torch.tensor(record_of_pair, dtype=torch.long),
            "num_records": len(items),
        }


def reward_scores(model, input_ids, attention_mask) -> torch.Tensor:
    return model(input_ids=input_ids, attention_mask=attention_mask).logits.squeeze(-1).float()


class RewardModule(TrainableModule):
    def __init__(self, model, lr: float, pad_id: int, dp=None, **kw):
        super().__init__(model, lr, dp=dp, rows_are_records=False, **kw)
        self.pad_id = pad_id

    def record_losses(self, batch):
        r = reward_scores(self.model, batch["input_ids"], batch["attention_mask"])
        pairs = batch["pair_rows"].to(r.device)
        pair_loss = -F.logsigmoid(r[pairs[:, 0]] - r[pairs[:, 1]])
        rec = batch["record_of_pair"].to(r.device)
        n = int(batch["num_records"])
        total = torch.zeros(n, dtype=pair_loss.dtype, device=pair_loss.device).index_add(0, rec, pair_loss)
        count = torch.zeros(n, dtype=pair_loss.dtype, device=pair_loss.device).index_add(0, rec, torch.ones_like(pair_loss))
        return total / count.clamp(min=1.0)


def build_reward_model(base_dir, dtype, lora_cfg, pad_id: int, seed: int = 0):
    """Sequence-classification head (1 output) on the proxy's base LM, LoRA-adapted."""
    from transformers import AutoModelForSequenceClassification

    torch.manual_seed(seed)  # the new score head is drawn from the global RNG
    model = AutoModelForSequenceClassification.from_pretrained(str(base_dir), num_labels=1, dtype=torch_dtype(dtype))
    model.config.pad_token_id = pad_id
    return add_lora(model, lora_cfg, task_type="SEQ_CLS", seed=seed)


@torch.no_grad()
def score_texts(model, tokenizer, task: str, questions: list[str], answers: list[str], max_length: int,
                batch_size: int = 32) -> list[float]:
    """Scalar reward for each (question, answer); right-padded with the attention mask passed."""
    model.eval()
    out: list[float] = []
    for i in range(0, len(questions), batch_size):
        ids = [encode_reward_text(tokenizer, task, q, a, max_length)
               for q, a in zip(questions[i:i + batch_size], answers[i:i + batch_size])]
        batch_ids = pad_rows(ids, tokenizer.pad_token_id)
        mask = pad_rows([[1] * len(x) for x in ids], 0)
        device = next(model.parameters()).device
        out += reward_scores(model, batch_ids.to(device), mask.to(device)).tolist()
    return out
