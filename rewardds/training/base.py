"""One training loop for every model: per-record losses, optionally DP-SGD.

Subclasses implement ``record_losses(batch) -> Tensor[num_records]``. Batches
are dicts of row tensors plus ``record_of_row`` (which record each row belongs
to) and ``num_records``; for a plain LM each row is its own record.

What a DP run logs: only what is itself DP or public (steps, the noise
multiplier, the epsilon spent so far). The loss of a Poisson batch of private
records is an unnoised statistic of those records, so it never reaches a logger,
the progress bar or W&B. Non-DP runs (target SFT on synthetic data) log their loss.

Several processes (``trainer.devices`` > 1, SLURM tasks): non-DP steps are
Lightning's DDP as is; a DP step is one mechanism over all ranks (one Poisson
draw, one noise draw, see :mod:`rewardds.training.distributed`).
"""
from __future__ import annotations

import logging
import math

import pytorch_lightning as pl
import torch

from rewardds.errors import ConfigError
from rewardds.privacy.accounting import Mechanism, epsilon
from rewardds.training import distributed
from rewardds.training import dp as dpmod

log = logging.getLogger(__name__)

ROW_KEYS = ("input_ids", "attention_mask", "labels")


def select_records(batch: dict, records: torch.Tensor) -> dict:
    """Sub-batch with only the rows of the given record indices (renumbered 0..k-1)."""
    rmap = torch.full((batch["num_records"],), -1, dtype=torch.long)
    rmap[records] = torch.arange(len(records))
    rows = rmap[batch["record_of_row"]] >= 0
    out = {k: v[rows] for k, v in batch.items() if isinstance(v, torch.Tensor) and v.dim() > 0 and len(v) == len(rows)}
    out["record_of_row"] = rmap[batch["record_of_row"][rows]]
    out["num_records"] = len(records)
    if "pair_rows" in batch:  # pairs of row indices (reward pairs): keep the selected records' pairs, renumbered
        row_map = torch.cumsum(rows.long(), 0) - 1
        keep = rmap[batch["record_of_pair"]] >= 0
        out["pair_rows"] = row_map[batch["pair_rows"][keep]]
        out["record_of_pair"] = rmap[batch["record_of_pair"][keep]]
    for k, v in batch.items():
        if k not in out:
            out[k] = v
    return out


class TrainableModule(pl.LightningModule):
    def __init__(self, model, lr: float, dp: dpmod.DPSettings | None = None, warmup_steps: int = 0,
                 total_steps: int | None = None, weight_decay: float = 0.0, rows_are_records: bool = True,
                 seed: int = 0):
        super().__init__()
        self.model = model
        self.lr = lr
        self.dp = dp
        self.warmup_steps = warmup_steps
        self.total_steps = total_steps
        self.weight_decay = weight_decay
        self.rows_are_records = rows_are_records
        self.seed = seed
        self.automatic_optimization = False
        self.steps_taken = 0
        self._gsm = None
        self._opt = None

    # -- to implement -----------------------------------------------------
    def record_losses(self, batch: dict) -> torch.Tensor:
        raise NotImplementedError

    # -- optimisation -----------------------------------------------------
    def trainable_parameters(self):
        return [p for p in self.model.parameters() if p.requires_grad]

    def configure_optimizers(self):
        if self.dp is not None:  # DP state in float32 whatever the frozen base's dtype
            dpmod.keep_trainables_fp32(self.model)
        params = self.trainable_parameters()
        if not params:
            raise ConfigError("model", "no trainable parameters")
        opt = torch.optim.AdamW(params, lr=self.lr, weight_decay=self.weight_decay)
        if self.dp is not None:
            dpmod.check_fp32(params)
            self._gsm = dpmod.wrap_model(self.model, self.dp, self.rows_are_records)
            opt = dpmod.wrap_optimizer(opt, self.dp, dpmod.noise_source(self.dp, 7919, params[0].device))
        self._opt = opt
        warm, total = self.warmup_steps, self.total_steps

        def factor(step):
            if warm and step < warm:
                return (step + 1) / warm
            if total and total > warm:
                progress = min(1.0, (step - warm) / max(1, total - warm))
                return 0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * progress))
            return 1.0

        base = opt.original_optimizer if self.dp is not None else opt
        self._sched = torch.optim.lr_scheduler.LambdaLR(base, factor)
        return opt

    def training_step(self, batch, batch_idx):
        if self.dp is None:
            loss = self._plain_step(batch)
        else:
            with distributed.no_ddp_grad_sync(self._trainer):  # the DP optimizer does the one reduction
                loss = self._dp_step(batch)
        self._sched.step()
        self.steps_taken += 1
        if self.dp is not None:
            self._log_dp()
        elif loss is not None:
            self.log("train/loss", loss, prog_bar=True, on_step=True, batch_size=max(1, int(batch["num_records"])))
        return None

    def _log_dp(self) -> None:
        """Steps, noise multiplier and epsilon so far (this component alone): nothing data-dependent."""
        self.log("dp/steps", float(self.steps_taken), prog_bar=True, on_step=True, batch_size=1)
        self.log("dp/noise_multiplier", float(self.dp.noise_multiplier), on_step=True, batch_size=1)
        every = getattr(self._trainer, "log_every_n_steps", 1) if self._trainer is not None else 1
        last = self._trainer is not None and self.steps_taken >= self._trainer.estimated_stepping_batches
        if self.dp.delta is not None and (self.steps_taken % max(1, every) == 0 or last):
            eps = epsilon([Mechanism("so_far", self.dp.noise_multiplier, self.dp.sample_rate, self.steps_taken)],
                          self.dp.delta, self.dp.accountant)
            self.log("dp/epsilon", float(eps), prog_bar=True, on_step=True, batch_size=1)

    def _plain_step(self, batch):
        opt = self._opt
        opt.zero_grad(set_to_none=True)
        if batch["num_records"] == 0:
            return None
        loss = self.record_losses(batch).mean()
        self._backward(loss)
        opt.step()
        return loss.detach()

    def _backward(self, loss):
        if self._trainer is not None:
            self.manual_backward(loss)
        else:  # driven directly (tests, benchmarks)
            loss.backward()

    def _chunks(self, batch):
        n, size = int(batch["num_records"]), self.dp.physical_batch_size
        if n <= size:
            return [batch]
        return [select_records(batch, torch.arange(i, min(n, i + size))) for i in range(0, n, size)]

    def _dp_step(self, batch):
        opt = self._opt
        params = self.trainable_parameters()
        opt.zero_grad(set_to_none=True)
        if batch["num_records"] == 0:
            dpmod.zero_contribution(params)
            opt.step()
            return None
        chunks = self._chunks(batch)
        for i, chunk in enumerate(chunks):
            if chunk["input_ids"].shape[0] == 0:  # records that yield no rows contribute zero gradient
                dpmod.zero_contribution(params, int(chunk["num_records"]))
            elif self.dp.grad_sample_mode == "ghost":
                self._ghost_backward(self.record_losses(chunk))
            else:
                self._backward(self.record_losses(chunk).sum())
                if not self.rows_are_records:
                    dpmod.sum_rows_per_record(params, chunk["record_of_row"], int(chunk["num_records"]))
            if i < len(chunks) - 1:
                opt.signal_skip_step(do_skip=True)
                opt.step()
                opt.zero_grad(set_to_none=True)
            else:
                opt.step()
        return None  # the loss of private records is not released (see the module docstring)

    def _ghost_backward(self, losses):
        """Ghost clipping: a norm pass, then a backward of the clip-weighted loss."""
        gsm = self._gsm
        losses.sum().backward(retain_graph=True)
        self._opt.zero_grad(set_to_none=True)
        coeff = gsm.get_clipping_coef()
        gsm.disable_hooks()
        (coeff.detach() * losses).sum().backward()
        gsm.enable_hooks()

    def on_train_start(self):
        self.model.train()  # from_pretrained leaves models in eval mode; opacus only records activations in train mode

    def on_train_end(self):
        if self._gsm is not None:  # leave a plain model behind for saving and inference
            self._gsm._close()
            self._gsm = None

    # -- resumable state ---------------------------------------------------
    def on_save_checkpoint(self, checkpoint):
        checkpoint["rewardds_steps_taken"] = self.steps_taken

    def on_load_checkpoint(self, checkpoint):
        self.steps_taken = checkpoint.get("rewardds_steps_taken", 0)
