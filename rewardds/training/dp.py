"""DP-SGD inside a LightningModule, with opacus doing the per-sample work.

Why manual optimisation: every Poisson-sampled step, even an empty one, must
release a noisy gradient for the accountant's analysis to hold; logical batches
are split into physical chunks without changing the mechanism; and gradients of
several rows that come from the same private record are summed *before*
clipping, so the record (not the row) is the privacy unit.

The noise and the Poisson draws come from :mod:`rewardds.training.noise` (the OS
CSPRNG unless ``reproducible_seed`` is set), not from opacus' generator. The
trainable parameters, their per-sample gradients, the clipping, the noise and the
optimiser state are float32 whatever the frozen base model's dtype
(:func:`check_fp32`): clipping in bf16 lets a clipped norm exceed C.

Several processes (DDP): one global Poisson draw shared out over the ranks, one
noise draw (rank 0) per logical step, a SUM all-reduce, the global q*N; see
:mod:`rewardds.training.distributed`.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch

from rewardds.errors import ConfigError
from rewardds.training.distributed import world
from rewardds.training.noise import NoiseSource, PoissonBatchSampler


@dataclass(frozen=True)
class DPSettings:
    noise_multiplier: float
    max_grad_norm: float
    sample_rate: float
    num_records: int
    physical_batch_size: int
    grad_sample_mode: str = "hooks"  # hooks | functorch | ghost
    reproducible_seed: int | None = None  # None: noise and sampling from the OS CSPRNG (the guarantee holds)
    delta: float | None = None  # for the epsilon-so-far curve (the only training metric a DP stage logs)
    accountant: str = "prv"

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


def noise_source(dp: DPSettings, salt: int, device) -> NoiseSource:
    """The CSPRNG, or (reproducible runs only) a generator seeded with ``reproducible_seed + salt``."""
    if dp.reproducible_seed is None:
        return NoiseSource.secure()
    return NoiseSource.seeded(dp.reproducible_seed + salt, device)


class _OwnNoise:
    """Mixin for opacus' DP optimizers: Gaussian noise from a :class:`NoiseSource`.

    Under DDP only rank 0 adds noise (``self.rank``, set by opacus' distributed
    optimizers); the others pass their clipped sums on, so that the all-reduced
    step carries one draw of std sigma*C, as accounted (see training.distributed).
    """

    noise_source: NoiseSource

    def add_noise(self):
        from opacus.optimizers.optimizer import _check_processed_flag, _mark_as_processed

        sigma = getattr(self, "_adjusted_noise_multiplier", self.noise_multiplier)
        noisy = getattr(self, "rank", 0) == 0
        for p in self.params:
            _check_processed_flag(p.summed_grad)
            noise = self.noise_source.normal(p.summed_grad.shape, sigma * self.max_grad_norm, p.summed_grad) \
                if noisy else 0.0
            p.grad = (p.summed_grad + noise).view_as(p)
            _mark_as_processed(p.summed_grad)


class _SumOverRanks:
    """Mixin for opacus' distributed DP optimizers: all-reduce SUM of the already scaled
    gradients. opacus divides by the world size afterwards (it expects a per-rank
    expected batch); we scale by the global expected batch q*N instead, so there is
    nothing left to divide and the normalisation is the one-process one by construction."""

    def reduce_gradients(self):
        for p in self.params:
            if p.requires_grad:
                torch.distributed.all_reduce(p.grad, op=torch.distributed.ReduceOp.SUM)


def _optimizer_class(ghost: bool, distributed: bool = False):
    from opacus import optimizers as o

    if distributed:
        base = o.DistributedDPOptimizerFastGradientClipping if ghost else o.DistributedDPOptimizer
        return type(f"Rewardds{base.__name__}", (_OwnNoise, _SumOverRanks, base), {})
    base = o.DPOptimizerFastGradientClipping if ghost else o.DPOptimizer
    return type(f"Rewardds{base.__name__}", (_OwnNoise, base), {})


def wrap_optimizer(optimizer, dp: DPSettings, source: NoiseSource):
    """opacus DP optimizer with our noise; the distributed variant when a process group of
    several ranks exists (the caller runs inside Lightning's fit, after the group is set up)."""
    opt = _optimizer_class(dp.grad_sample_mode == "ghost", world()[1] > 1)(
        optimizer, noise_multiplier=dp.noise_multiplier, max_grad_norm=dp.max_grad_norm,
        expected_batch_size=max(dp.expected_batch_size, 1e-12), loss_reduction="mean",
    )
    opt.noise_source = source
    return opt


def _inputs_to_fp32(module, args):
    return tuple(a.float() if torch.is_tensor(a) and a.is_floating_point() and a.dtype != torch.float32 else a
                 for a in args)


def keep_trainables_fp32(model) -> int:
    """Cast trainable parameters to float32 in place; modules whose own weights were
    cast get a pre-hook that casts their inputs (e.g. a scalar head on a bf16 trunk).
    peft already keeps LoRA weights in float32 and casts their inputs. Returns the
    number of parameters cast."""
    cast = 0
    for module in model.modules():
        own = [p for p in module.parameters(recurse=False) if p.requires_grad and p.dtype != torch.float32]
        for p in own:
            p.data = p.data.float()
        if own:
            module.register_forward_pre_hook(_inputs_to_fp32)
            cast += len(own)
    return cast


def check_fp32(params) -> None:
    """DP state must be float32: refuse trainable parameters of another dtype."""
    bad = sorted({str(p.dtype) for p in params if p.dtype != torch.float32})
    if bad:
        raise ConfigError("model.proxy.dtype", f"DP-SGD needs float32 trainable parameters (got {', '.join(bad)}); "
                          "the frozen base may be bf16, LoRA and heads are kept in float32")


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


def poisson_loader(dataset, dp: DPSettings, collate_fn):
    """DataLoader whose batches include each record independently with prob. q."""
    source = NoiseSource.secure() if dp.reproducible_seed is None else NoiseSource.seeded(dp.reproducible_seed)
    sampler = PoissonBatchSampler(len(dataset), dp.sample_rate, source)
    return torch.utils.data.DataLoader(dataset, batch_sampler=sampler, collate_fn=collate_fn)
