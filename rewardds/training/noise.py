"""Where the randomness of DP-SGD comes from: the OS CSPRNG, or a seeded generator.

The guarantee of DP-SGD rests on the Gaussian noise and the Poisson batch draws
being unknown to the adversary. A generator seeded from the run's ``seed`` (which
is written to ``config.yaml`` and W&B) is not: anyone who knows the seed and all
records but one can replay training under both hypotheses and match the released
weights exactly. So by default both come from the operating system's CSPRNG
(``os.urandom``: getrandom(2), ChaCha20 on Linux), drawn fresh for every step and
never stored anywhere.

Gaussian samples are made with the Box-Muller transform from 53-bit uniforms in
float64. Following opacus' ``secure_mode`` (Holohan and Braghin 2021, section
5.1), each noise value is the normalised sum of two independent normals, which
makes the floating-point "gaps" attack on a single Gaussian draw impractical.

``NoiseSource.seeded(seed)`` reproduces a run bit for bit (research, debugging,
regression tests). The pipeline then reports the release as having no formal
guarantee (``dp.reproducible_noise=true``), with the reason.
"""
from __future__ import annotations

import math
import os

import numpy as np
import torch

from rewardds.training import distributed

_TWO_PI = 2.0 * math.pi
_U53 = 2.0 ** -53


def _urandom_uniform(n: int) -> np.ndarray:
    """``n`` uniforms in (0, 1] from the OS CSPRNG (float64, 53 random bits each)."""
    raw = np.frombuffer(os.urandom(8 * n), dtype=np.uint64)
    return ((raw >> np.uint64(11)).astype(np.float64) + 1.0) * _U53


def _urandom_normal(n: int) -> np.ndarray:
    """``n`` standard normals (float64): Box-Muller, two draws summed and renormalised."""
    pairs = (n + 1) // 2
    u = _urandom_uniform(4 * pairs).reshape(2, 2, pairs)
    r = np.sqrt(-2.0 * np.log(u[:, 0]))
    theta = _TWO_PI * u[:, 1]
    z = np.concatenate([r * np.cos(theta), r * np.sin(theta)], axis=1)  # shape (2, 2 * pairs)
    return ((z[0] + z[1]) / math.sqrt(2.0))[:n]


class NoiseSource:
    """Gaussian noise and Bernoulli (Poisson-sampling) masks for one DP training run."""

    def __init__(self, generator: torch.Generator | None):
        self._gen = generator  # None: the OS CSPRNG

    @classmethod
    def secure(cls) -> "NoiseSource":
        return cls(None)

    @classmethod
    def seeded(cls, seed: int, device: str | torch.device = "cpu") -> "NoiseSource":
        return cls(torch.Generator(device=device).manual_seed(int(seed)))

    @property
    def reproducible(self) -> bool:
        return self._gen is not None

    def normal(self, shape, std: float, like: torch.Tensor) -> torch.Tensor:
        """N(0, std^2) noise of ``shape`` on ``like``'s device, in ``like``'s dtype."""
        if std == 0:
            return torch.zeros(shape, dtype=like.dtype, device=like.device)
        if self._gen is not None:
            return torch.normal(0.0, std, size=tuple(shape), device=like.device, dtype=like.dtype,
                                generator=self._gen)
        n = math.prod(shape)
        z = torch.from_numpy(_urandom_normal(n) * std).view(*shape)
        return z.to(device=like.device, dtype=like.dtype)

    def uniform(self, n: int) -> torch.Tensor:
        """``n`` uniforms in [0, 1) (CPU, float64 when secure)."""
        if self._gen is not None:
            return torch.rand(n, generator=self._gen)
        return torch.from_numpy(_urandom_uniform(n) - _U53)


class PoissonBatchSampler(torch.utils.data.Sampler):
    """Batches that include each record independently with probability ``sample_rate``.

    ``int(1 / sample_rate)`` batches an epoch (as opacus' sampler, and as the
    accountant counts steps); an empty batch is still a step. The draws come from
    ``source`` (the CSPRNG unless the run asked for reproducible noise).

    Under DDP (a process group of W ranks when iterated) the mask over ALL
    records is drawn once, by rank 0, and broadcast; each rank yields its share
    of that one global batch (:func:`rewardds.training.distributed.shard`). The
    other ranks' sources are never used, so W ranks make the same mechanism as one.
    """

    def __init__(self, num_records: int, sample_rate: float, source: NoiseSource):
        if not 0 < sample_rate <= 1:
            raise ValueError(f"sample_rate must be in (0, 1], got {sample_rate}")
        self.num_records = int(num_records)
        self.sample_rate = float(sample_rate)
        self.source = source
        self.steps = int(1 / self.sample_rate)

    def __len__(self) -> int:
        return self.steps

    def global_batch(self, rank: int) -> list[int]:
        """Indices of one Poisson draw over all records; rank 0's draw on every rank."""
        if rank == 0:
            mask = self.source.uniform(self.num_records) < self.sample_rate
        else:
            mask = torch.zeros(self.num_records, dtype=torch.bool)
        mask = distributed.broadcast_from_rank0(mask.to(torch.uint8)).bool()
        return mask.nonzero(as_tuple=False).reshape(-1).tolist()

    def __iter__(self):
        for _ in range(self.steps):
            rank, size = distributed.world()  # read at iteration time: the group exists once fit starts
            yield distributed.shard(self.global_batch(rank), rank, size)
