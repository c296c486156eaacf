"""Causal-LM fine-tuning (base pretraining, DP generation proxy, target SFT)."""
from __future__ import annotations

import logging
import os
import random

import numpy as np
import pytorch_lightning as pl
import torch
import torch.nn.functional as F

from rewardds.training.base import TrainableModule
from rewardds.training import distributed
from rewardds.training import dp as dpmod

log = logging.getLogger(__name__)


class LMDataset(torch.utils.data.Dataset):
    """Pre-tokenised examples: dicts with ``input_ids`` and ``labels`` lists."""

    def __init__(self, examples: list[dict]):
        self.examples = examples

    def __len__(self):
        return len(self.examples)

    def __getitem__(self, i):
        return self.examples[i]


def pad_rows(rows: list[list[int]], pad: int, side: str = "right") -> torch.Tensor:
    width = max((len(r) for r in rows), default=0)
    out = torch.full((len(rows), width), pad, dtype=torch.long)
    for i, r in enumerate(rows):
        if r:
            if side == "right":
                out[i, : len(r)] = torch.tensor(r)
            else:
                out[i, width - len(r):] = torch.tensor(r)
    return out


class LMCollator:
    def __init__(self, pad_id: int):
        self.pad_id = pad_id

    def __call__(self, items: list[dict]) -> dict:
        n = len(items)
        ids = pad_rows([it["input_ids"] for it in items], self.pad_id)
        labels = pad_rows([it["labels"] for it in items], -100)
        mask = pad_rows([[1] * len(it["input_ids"]) for it in items], 0)
        return {"input_ids": ids, "labels": labels, "attention_mask": mask,
                "record_of_row": torch.arange(n), "num_records": n}


class RecordRowsCollator:
    """Items that are lists of rows (several training rows of one private record):
    ``record_of_row`` says which record each row belongs to, for record-level DP."""

    def __init__(self, pad_id: int):
        self.rows = LMCollator(pad_id)

    def __call__(self, items: list[list[dict]]) -> dict:
        flat = [row for rows in items for row in rows]
        batch = self.rows(flat)
        batch["record_of_row"] = torch.tensor([r for r, rows in enumerate(items) for _ in rows], dtype=torch.long)
        batch["num_records"] = len(items)
        return batch


def item_length(item) -> int:
    """Tokens of one dataset item: an encoded row, a list of token ids, or any nesting of them (the rows
    of one record; a reward record's (chosen ids, rejected ids) pairs)."""
    if isinstance(item, dict):
        return len(item["input_ids"])
    if isinstance(item, (list, tuple)) and item and isinstance(item[0], int):
        return len(item)
    return sum(item_length(part) for part in item)


class LengthGroupedBatches(torch.utils.data.Sampler):
    """Shuffled batches of items of similar length (non-DP training only): each epoch shuffles the items,
    cuts them into groups of ``group`` batches, sorts every group by length, cuts it into batches and
    shuffles the batches. Rows are padded to their batch's longest, so this spends the compute on tokens
    rather than padding (a third of the pretraining's work went to padding with uniform batches); every
    item is still seen once an epoch, in a seeded random batch."""

    def __init__(self, dataset, batch_size: int, seed: int, group: int = 32):
        self.lengths = [item_length(dataset[i]) for i in range(len(dataset))]
        self.batch_size, self.group = max(1, int(batch_size)), group
        self.generator = torch.Generator().manual_seed(seed)

    def __len__(self) -> int:
        return -(-len(self.lengths) // self.batch_size)

    def __iter__(self):
        order = torch.randperm(len(self.lengths), generator=self.generator).tolist()
        span = self.batch_size * self.group
        batches = []
        for start in range(0, len(order), span):
            chunk = sorted(order[start:start + span], key=lambda i: self.lengths[i])
            batches += [chunk[i:i + self.batch_size] for i in range(0, len(chunk), self.batch_size)]
        for b in torch.randperm(len(batches), generator=self.generator).tolist():
            yield batches[b]


def token_losses(model, batch) -> torch.Tensor:
    """Mean cross-entropy over each row's supervised tokens (one value per row)."""
    out = model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"])
    logits = out.logits[:, :-1].float()
    labels = batch["labels"][:, 1:]
    ce = F.cross_entropy(logits.reshape(-1, logits.size(-1)), labels.reshape(-1), ignore_index=-100, reduction="none")
    ce = ce.view(labels.shape)
    valid = (labels != -100).float()
    return (ce * valid).sum(1) / valid.sum(1).clamp(min=1.0)


class CausalLMModule(TrainableModule):
    """``rows_are_records=False``: a record has several rows (RecordRowsCollator); its loss is
    the mean of its rows' losses, and under DP their gradients are summed before clipping."""

    def __init__(self, model, lr: float, pad_id: int, dp=None, rows_are_records: bool = True, **kw):
        super().__init__(model, lr, dp=dp, rows_are_records=rows_are_records, **kw)
        self.pad_id = pad_id

    def record_losses(self, batch):
        rows = token_losses(self.model, batch)
        if self.rows_are_records:
            return rows
        n = int(batch["num_records"])
        rec = batch["record_of_row"].to(rows.device)
        total = torch.zeros(n, dtype=rows.dtype, device=rows.device).index_add(0, rec, rows)
        count = torch.zeros(n, dtype=rows.dtype, device=rows.device).index_add(0, rec, torch.ones_like(rows))
        return total / count.clamp(min=1.0)


def cpu_threads(configured: int | None) -> int:
    """Torch threads: the configured number, else the CPUs this job was given (SLURM
    allocation or CPU affinity), not every core of a node shared with other jobs."""
    if configured:
        return int(configured)
    slurm = os.environ.get("SLURM_CPUS_PER_TASK")
    if slurm and slurm.isdigit():
        return max(1, int(slurm))
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not Linux
        return max(1, os.cpu_count() or 1)


def make_trainer(trainer_cfg, epochs: int, max_steps: int = -1, logger=None, callbacks=None, ckpt=False,
                 steps_per_epoch: int | None = None, precision: str | None = None):
    torch.set_num_threads(cpu_threads(trainer_cfg.num_threads))
    return pl.Trainer(
        max_epochs=epochs, max_steps=max_steps, accelerator=trainer_cfg.accelerator, devices=trainer_cfg.devices,
        precision=precision or trainer_cfg.precision, logger=logger if logger is not None else False,
        enable_checkpointing=ckpt, enable_model_summary=False, use_distributed_sampler=False,
        num_sanity_val_steps=0, enable_progress_bar=trainer_cfg.enable_progress_bar and not os.environ.get("REWARDDS_NO_BAR"),
        log_every_n_steps=max(1, min(trainer_cfg.log_every_n_steps, steps_per_epoch or trainer_cfg.log_every_n_steps)),
        callbacks=callbacks or [], deterministic=trainer_cfg.deterministic,
        gradient_clip_val=None, accumulate_grad_batches=1, **distributed.trainer_kwargs(),
    )


def seed_from_csprng() -> None:
    """Seed torch (every device), numpy and ``random`` from the OS CSPRNG, for a DP fit. What a DP fit
    draws from these generators besides its noise and batches (which have their own source,
    training.noise) is dropout: seeded with the run's public seed, the masks would be known to anyone,
    and since the stream is consumed record after record, which mask a record gets would depend on
    the records drawn before it (a record's gradient would depend on other records, outside what
    the accountant analyses). From the CSPRNG each mask is a fresh secret draw. Never stored."""
    random.seed(os.urandom(32))
    np.random.seed(int.from_bytes(os.urandom(4), "little"))
    torch.manual_seed(int.from_bytes(os.urandom(8), "little"))


def fit(module: TrainableModule, dataset, batch_size: int, epochs: int, trainer_cfg, desc: str, seed: int = 0,
        max_steps: int = -1, collate=None, logger=None, callbacks=None, ckpt_path=None):
    """Train ``module`` on ``dataset``: Poisson batches when the module is DP, shuffled batches otherwise.
    A non-DP fit (or a DP fit with ``dp.reproducible_noise``) seeds every generator with ``seed``; a DP
    fit seeds them from the CSPRNG (:func:`seed_from_csprng`)."""
    collate = collate or LMCollator(getattr(module, "pad_id", 0))
    if module.dp is not None:
        loader = dpmod.poisson_loader(dataset, module.dp, collate)
    else:
        batches = LengthGroupedBatches(dataset, batch_size, seed)
        loader = torch.utils.data.DataLoader(dataset, batch_sampler=batches, collate_fn=collate)
    log.info("%s: %d records, %d epochs, %d steps per epoch%s", desc, len(dataset), epochs, len(loader),
             " (DP-SGD, Poisson sampling)" if module.dp is not None else "")
    if module.dp is not None and module.dp.reproducible_seed is None:
        seed_from_csprng()  # dropout masks of a DP fit: secret, as its noise is
    else:
        pl.seed_everything(seed, workers=True, verbose=False)
    # DP: "32-true" so Lightning never casts the trainable (LoRA, head) weights to bf16; the frozen
    # base keeps the dtype it was loaded with (model.*.dtype), see training.dp.keep_trainables_fp32.
    ckpt = any(isinstance(c, pl.callbacks.ModelCheckpoint) for c in callbacks or [])
    trainer = make_trainer(trainer_cfg, epochs, max_steps, logger=logger, callbacks=callbacks, ckpt=ckpt,
                           steps_per_epoch=len(loader), precision="32-true" if module.dp is not None else None)
    trainer.fit(module, loader, ckpt_path=ckpt_path)
    return trainer
