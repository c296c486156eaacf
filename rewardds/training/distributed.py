"""DP-SGD over several processes (DDP ranks): the same mechanism as on one.

The accountant analyses one mechanism per logical step: a Poisson draw over the
whole private dataset (each record in with probability q), the sum of the
per-record clipped gradients of the drawn records, plus ONE Gaussian draw of
std sigma*C, divided by the expected batch size q*N. Over ``W`` ranks:

* the Poisson mask is drawn once, by rank 0 (from its CSPRNG or seeded
  generator), and broadcast; rank r takes every W-th drawn record
  (:func:`shard`), so the ranks' records partition the one global batch;
* every rank clips its own records' gradients (a record lives on one rank);
* only rank 0 adds noise; the noised sum of rank 0 and the plain clipped sums of
  the others are all-reduced (SUM), each already divided by the global q*N.

Drawing the mask or the noise on every rank would be another mechanism:
independent CSPRNG masks are W batches in which a record can appear W times (a
larger sensitivity than accounted), seeded masks give every rank the same records;
W noise draws give std sqrt(W)*sigma*C (CSPRNG) or W*sigma*C (seeded) after the sum.

Gradient synchronisation of Lightning's DDP wrapper is switched off during a DP
step (:func:`no_ddp_grad_sync`): the DP optimizer does the only reduction.
"""
from __future__ import annotations

import contextlib
import os

import torch


def world() -> tuple[int, int]:
    """(rank, world size) of the default process group; (0, 1) when there is none."""
    dist = torch.distributed
    if dist.is_available() and dist.is_initialized():
        return dist.get_rank(), dist.get_world_size()
    return 0, 1


def _comm_device() -> torch.device:
    """Where collective tensors must live: the current CUDA device for NCCL, else the CPU."""
    if torch.distributed.get_backend() == "nccl":
        return torch.device("cuda", torch.cuda.current_device())
    return torch.device("cpu")


def broadcast_from_rank0(tensor: torch.Tensor) -> torch.Tensor:
    """Rank 0's ``tensor`` on every rank (same shape and dtype on all ranks; returned on the CPU)."""
    if world()[1] == 1:
        return tensor
    buf = tensor.to(_comm_device())
    torch.distributed.broadcast(buf, src=0)
    return buf.cpu()


def all_reduce_sum_(tensor: torch.Tensor) -> None:
    """In-place sum over the ranks (no-op on one process)."""
    if world()[1] > 1:
        torch.distributed.all_reduce(tensor, op=torch.distributed.ReduceOp.SUM)


def shard(indices: list[int], rank: int, size: int) -> list[int]:
    """This rank's share of a global batch: every ``size``-th index from ``rank`` (balanced, disjoint)."""
    return indices[rank::size]


@contextlib.contextmanager
def no_ddp_grad_sync(trainer):
    """Inside a DP step, Lightning's DDP wrapper must not average ``p.grad`` on backward:
    the ghost-clipping optimizer reads ``p.grad`` as the clipped sum, and the DP optimizer
    does the one reduction of the step itself."""
    from torch.nn.parallel import DistributedDataParallel

    wrapper = getattr(getattr(trainer, "strategy", None), "model", None) if trainer is not None else None
    if not isinstance(wrapper, DistributedDataParallel):
        yield
        return
    before = wrapper.require_backward_grad_sync
    wrapper.require_backward_grad_sync = False
    try:
        yield
    finally:
        wrapper.require_backward_grad_sync = before


def launch_rank() -> int:
    """This process's global rank as its launcher set it, known before any process group exists
    (torchrun: RANK; SLURM tasks: SLURM_PROCID; Lightning's own launcher: LOCAL_RANK on one node).
    For callers outside a fit, e.g. a stage cache letting only rank 0 publish."""
    for var in ("RANK", "SLURM_PROCID", "LOCAL_RANK"):
        value = os.environ.get(var)
        if value is not None and value.isdigit():
            return int(value)
    return 0


def launched_externally() -> bool:
    """True when every rank is already a process of its own (SLURM tasks, torchrun):
    Lightning then joins them into one group instead of starting processes."""
    if int(os.environ.get("SLURM_NTASKS", "1")) > 1 and os.environ.get("SLURM_JOB_NAME") not in ("bash", "interactive"):
        return True
    return "LOCAL_RANK" in os.environ and int(os.environ.get("WORLD_SIZE", "1")) > 1


def trainer_kwargs() -> dict:
    """What ``pl.Trainer`` needs beyond ``trainer.devices`` to span several nodes: the job's
    node count (Lightning's SLURMEnvironment refuses num_nodes=1 in a 2-node allocation)."""
    return {"num_nodes": num_nodes()}


def num_nodes() -> int:
    """Nodes of this job: SLURM's allocation (Lightning refuses a mismatch), else torchrun's, else 1."""
    if launched_externally() and "SLURM_NNODES" in os.environ:
        return int(os.environ["SLURM_NNODES"])
    if "LOCAL_WORLD_SIZE" in os.environ and "WORLD_SIZE" in os.environ:
        return max(1, int(os.environ["WORLD_SIZE"]) // max(1, int(os.environ["LOCAL_WORLD_SIZE"])))
    return 1
