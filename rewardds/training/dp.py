"""DP-SGD inside a LightningModule, with opacus doing the per-sample work.

Why manual optimisation: every Poisson-sampled step, even an empty one, must
release a noisy gradient for the accountant's analysis to hold; logical batches
are split into physical chunks without changing the mechanism; and gradients of
several rows that come from the same private record are summed *before*
clipping, so the record (not the row) is the privacy unit.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch

from rewardds.errors import ConfigError


@dataclass(frozen=True)
class DPSettings:
    noise_multiplier: float
    max_grad_norm: float
    sample_rate: float
    num_records: int
    physical_batch_size: int
    grad_sample_mode: str = "hooks"  # hooks | functorch | ghost
    secure_mode: bool = False

    @property
    def expected_batch_size(self) -> float:
        return self.sample_rate * self.num_records


def wrap_model(model, dp: DPSettings, rows_are_records: bool):
    """Attach opacus per-sample gradient hooks to ``model`` (in place)."""
    if dp.grad_sample_mode == "ghost":
        if not rows_are_records:
            raise ConfigError(
                "dp.grad_sample_mode",
                "ghost clipping clips each row, but here several rows form one record; use hooks or functorch",
            )
        from opacus.grad_sample import GradSampleModuleFastGradientClipping

        return GradSampleModuleFastGradientClipping(
            model, batch_first=True, loss_reduction="sum", max_grad_norm=dp.max_grad_norm, use_ghost_clipping=True
        )
    from opacus.grad_sample import GradSampleModule

    return GradSampleModule(
        model, batch_first=True, loss_reduction="sum", force_functorch=dp.grad_sample_mode == "functorch"
    )


def wrap_optimizer(optimizer, dp: DPSettings, generator=None):
    if dp.grad_sample_mode == "ghost":
        from opacus.optimizers import DPOptimizerFastGradientClipping as cls
    else:
        from opacus.optimizers import DPOptimizer as cls
    return cls(
        optimizer, noise_multiplier=dp.noise_multiplier, max_grad_norm=dp.max_grad_norm,
        expected_batch_size=max(dp.expected_batch_size, 1e-12), loss_reduction="mean",
        generator=None if dp.secure_mode else generator, secure_mode=dp.secure_mode,
    )


def sum_rows_per_record(params, record_of_row: torch.Tensor, num_records: int) -> None:
    """Turn per-row gradient samples into per-record ones (rows of a record summed)."""
    for p in params:
        gs = p.grad_sample
        if isinstance(gs, list):  # opacus keeps a list when backward ran twice without a step
            raise RuntimeError("per-record aggregation expects one backward per optimizer call")
        agg = torch.zeros((num_records, *gs.shape[1:]), dtype=gs.dtype, device=gs.device)
        agg.index_add_(0, record_of_row.to(gs.device), gs)
        p.grad_sample = agg


def zero_contribution(params, num_records: int = 0) -> None:
    """Records that add nothing (an empty Poisson batch, or records without rows):
    zero per-sample gradients (hooks/functorch) and a zero summed gradient (ghost),
    so the optimizer step still adds its noise."""
    for p in params:
        p.grad_sample = torch.zeros((num_records, *p.shape), dtype=p.dtype, device=p.device)
        p.grad = torch.zeros_like(p)


def poisson_loader(dataset, sample_rate: float, collate_fn, seed: int):
    """DataLoader whose batches include each record independently with prob. q."""
    from opacus.utils.uniform_sampler import UniformWithReplacementSampler

    g = torch.Generator().manual_seed(seed)
    sampler = UniformWithReplacementSampler(num_samples=len(dataset), sample_rate=sample_rate, generator=g)
    return torch.utils.data.DataLoader(dataset, batch_sampler=sampler, collate_fn=collate_fn)
