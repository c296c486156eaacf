"""DP-SGD over 2 processes (torch.distributed, gloo, CPU) is the one-process mechanism.

One spawn of 2 ranks runs every check (process start-up dominates the cost):

* noiseless steps (hooks and ghost clipping, physical chunks of 2): each rank's
  share of the global Poisson draw is disjoint, together they are the draw a single
  process makes with the same seed, and the combined gradient equals the
  one-process gradient on the same records;
* noise: an empty step's gradient times q*N has std sigma*C over ~16k coordinates
  (not sqrt(2)*sigma*C or 2*sigma*C: noise is added once per logical step), both
  with the CSPRNG and with seeded sources, and identical on both ranks;
* the real path: ``training.lm.fit`` with ``trainer.devices=2`` under Lightning's
  DDP (ranks started outside Lightning, as SLURM tasks or torchrun start them)
  ends with the weights of the one-process fit.
"""
from __future__ import annotations

import os
import socket
from types import SimpleNamespace

import pytest
import torch

from tests.helpers import LoraCfg

VOCAB, RECORDS, Q = 64, 12, 0.5
SIGMA, CLIP = 1.5, 0.7


def examples() -> list[dict]:
    g = torch.Generator().manual_seed(0)
    out = []
    for i in range(RECORDS):
        ids = torch.randint(3, VOCAB, (5 + i % 7,), generator=g).tolist()
        out.append({"input_ids": ids, "labels": [-100, -100] + ids[2:]})
    return out


def lora_model():
    from transformers import LlamaConfig, LlamaForCausalLM

    from rewardds.models.loading import add_lora

    torch.manual_seed(0)
    cfg = LlamaConfig(vocab_size=VOCAB, hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                      num_attention_heads=4, num_key_value_heads=4, max_position_embeddings=64, pad_token_id=0)
    model = add_lora(LlamaForCausalLM(cfg), LoraCfg, seed=0)
    g = torch.Generator().manual_seed(1)
    for n, p in model.named_parameters():  # non-zero LoRA B: every LoRA weight gets gradient
        if "lora_B" in n:
            p.data = torch.randn(p.shape, generator=g) * 0.05
    return model


def trainables(model) -> dict:
    return {n: p for n, p in model.named_parameters() if p.requires_grad}


def dp_settings(mode: str, sigma: float, seed: int | None, physical: int = 2):
    from rewardds.training.dp import DPSettings

    return DPSettings(noise_multiplier=sigma, max_grad_norm=CLIP, sample_rate=Q, num_records=RECORDS,
                      physical_batch_size=physical, grad_sample_mode=mode, reproducible_seed=seed)


def module(dp, lr: float = 0.0):
    from rewardds.training.lm import CausalLMModule

    return CausalLMModule(lora_model(), lr=lr, pad_id=0, dp=dp)


def noiseless_steps(mode: str, steps: int = 2) -> dict:
    """Seeded Poisson draws, sigma 0: this process's batches and the gradient of each step."""
    from rewardds.training.lm import LMCollator
    from rewardds.training.noise import NoiseSource, PoissonBatchSampler

    ex, dp = examples(), dp_settings(mode, 0.0, seed=5)
    m = module(dp)
    m.configure_optimizers()
    sampler = iter(PoissonBatchSampler(RECORDS, Q, NoiseSource.seeded(5)))
    out = {"batches": [], "grads": []}
    for _ in range(steps):
        idx = next(sampler)
        m._dp_step(LMCollator(0)([ex[i] for i in idx]))
        out["batches"].append(idx)
        out["grads"].append({n: p.grad.detach().clone() for n, p in trainables(m.model).items()})
    return out


def noise_draws(seed: int | None, steps: int = 16) -> torch.Tensor:
    """Empty DP steps: what remains of the gradient is the noise, times q*N back to the sum's scale."""
    from rewardds.training.lm import LMCollator

    dp = dp_settings("hooks", SIGMA, seed)
    m = module(dp)
    m.configure_optimizers()
    draws = []
    for _ in range(steps):
        m._dp_step(LMCollator(0)([]))
        draws.append(torch.cat([p.grad.reshape(-1) for p in trainables(m.model).values()]))
    return torch.cat(draws) * dp.expected_batch_size


def trainer_cfg(devices: int):
    return SimpleNamespace(accelerator="cpu", devices=devices, precision="32-true", num_threads=1,
                           deterministic=False, log_every_n_steps=1, enable_progress_bar=False)


def lightning_fit(devices: int) -> dict:
    """``training.lm.fit`` as the DP stages call it; seeded sampling, sigma 0, AdamW.
    ``seen``: the record indices this process trained on, in order."""
    from rewardds.training.lm import LMDataset, fit

    class Recorded(LMDataset):
        def __getitem__(self, i):
            self.seen.append(int(i))
            return super().__getitem__(i)

    data = Recorded(examples())
    data.seen = []
    m = module(dp_settings("hooks", 0.0, seed=9), lr=1e-2)
    trainer = fit(m, data, batch_size=4, epochs=2, trainer_cfg=trainer_cfg(devices), desc="ddp test")
    return {"steps": m.steps_taken, "weights": {n: p.detach().clone() for n, p in trainables(m.model).items()},
            "seen": data.seen,
            "rank": trainer.global_rank, "world": trainer.world_size,
            "environment": type(getattr(trainer.strategy, "cluster_environment", None)).__name__}


def rank_main(rank: int, world: int, ports: tuple[int, int], folder: str) -> None:
    """One rank: the direct checks in a gloo group, then a Lightning fit that forms its own
    group (on another port: the first group's store may still hold its own)."""
    os.environ.update({"REWARDDS_NO_BAR": "1", "MASTER_ADDR": "127.0.0.1", "MASTER_PORT": str(ports[0]),
                       "WORLD_SIZE": str(world), "RANK": str(rank), "LOCAL_RANK": str(rank), "NODE_RANK": "0"})
    torch.set_num_threads(1)
    torch.distributed.init_process_group("gloo", rank=rank, world_size=world)
    res = {mode: noiseless_steps(mode) for mode in ("hooks", "ghost")}
    res["noise_secure"] = noise_draws(None)
    res["noise_seeded"] = noise_draws(11)
    torch.distributed.destroy_process_group()
    torch.save(res, os.path.join(folder, f"rank{rank}_direct.pt"))
    os.environ["MASTER_PORT"] = str(ports[1])
    torch.save(lightning_fit(world), os.path.join(folder, f"rank{rank}_fit.pt"))


def free_ports(n: int) -> tuple[int, ...]:
    socks = [socket.socket() for _ in range(n)]
    try:
        for s in socks:
            s.bind(("127.0.0.1", 0))
        return tuple(s.getsockname()[1] for s in socks)
    finally:
        for s in socks:
            s.close()


def spawn(fn, args, nprocs: int, timeout_s: float) -> bool:
    """Start ``nprocs`` ranks; False (not a hang) when they do not finish in time, e.g. a
    rank waiting forever in a collective the other never calls."""
    import time

    ctx = torch.multiprocessing.start_processes(fn, args=args, nprocs=nprocs, start_method="spawn", join=False)
    deadline = time.monotonic() + timeout_s
    while not ctx.join(timeout=1.0):
        if time.monotonic() > deadline:
            for p in ctx.processes:
                p.kill()
            return False
    return True


@pytest.fixture(scope="module")
def rank_run(tmp_path_factory):
    folder = tmp_path_factory.mktemp("ddp")
    finished = spawn(rank_main, (2, free_ports(2), str(folder)), nprocs=2, timeout_s=240)

    def results(part: str) -> list[dict]:
        files = [folder / f"rank{r}_{part}.pt" for r in range(2)]
        if not all(f.exists() for f in files):
            pytest.fail(f"the 2 ranks left no {part} results ({'crashed' if finished else 'timed out: a collective out of step?'})")
        return [torch.load(f) for f in files]
    return results


@pytest.fixture(scope="module")
def ranks(rank_run):
    return rank_run("direct")


def assert_one_draw_shared(shares: list[list[int]], draw: list[int]) -> None:
    """The ranks' records (with repeats over steps) are the one-process draw, split between them."""
    assert sorted(shares[0] + shares[1]) == sorted(draw), "the ranks did not share out one global draw"
    assert all(len(s) < len(draw) for s in shares), "a rank trained on the whole draw"


def assert_grads_close(got: dict, want: dict) -> None:
    assert set(got) == set(want)
    for n in want:
        torch.testing.assert_close(got[n], want[n], rtol=1e-4, atol=1e-8)


@pytest.mark.parametrize("mode", ["hooks", "ghost"])
def test_two_rank_noiseless_step_equals_one_process_step(ranks, mode):
    single = noiseless_steps(mode)
    for step, batch in enumerate(single["batches"]):
        shares = [r[mode]["batches"][step] for r in ranks]
        assert not set(shares[0]) & set(shares[1]), "a record went to both ranks"
        assert sorted(shares[0] + shares[1]) == batch, "the ranks' records are not the one global draw"
        for r in ranks:
            assert_grads_close(r[mode]["grads"][step], single["grads"][step])
    assert any(len(b) > 2 for b in single["batches"]), "no step was split into physical chunks"
    assert any(float(g.abs().max()) > 0 for g in single["grads"][0].values())


@pytest.mark.parametrize("source", ["noise_secure", "noise_seeded"])
def test_two_rank_step_adds_noise_once(ranks, source):
    a, b = ranks[0][source], ranks[1][source]
    torch.testing.assert_close(a, b, rtol=0, atol=0)  # the all-reduced update is the same everywhere
    n = a.numel()
    assert n > 10_000
    std, se = float(a.std()), SIGMA * CLIP / (2 * n) ** 0.5  # standard error of a normal sample's std
    assert abs(std - SIGMA * CLIP) < 5 * se, f"noise std {std:.4f}, expected {SIGMA * CLIP:.4f}"
    assert abs(float(a.mean())) < 5 * SIGMA * CLIP / n ** 0.5


def test_lightning_ddp_fit_equals_one_process_fit(rank_run):
    fits = rank_run("fit")
    single = lightning_fit(1)
    assert single["steps"] == 2 * int(1 / Q)
    assert [r["rank"] for r in fits] == [0, 1] and all(r["world"] == 2 for r in fits)
    assert_one_draw_shared([r["seen"] for r in fits], single["seen"])
    for r in fits:
        assert r["steps"] == single["steps"]
        assert_grads_close(r["weights"], single["weights"])


@pytest.mark.parametrize("env, nodes", [({}, 1),
                                        ({"SLURM_NTASKS": "4", "SLURM_NNODES": "2", "SLURM_JOB_NAME": "run"}, 2),
                                        ({"SLURM_NTASKS": "4", "SLURM_NNODES": "2", "SLURM_JOB_NAME": "bash"}, 1),
                                        ({"LOCAL_RANK": "0", "WORLD_SIZE": "8", "LOCAL_WORLD_SIZE": "4"}, 2)])
def test_trainer_spans_the_nodes_of_the_job(monkeypatch, env, nodes):
    from rewardds.training import distributed

    for k in ("SLURM_NTASKS", "SLURM_NNODES", "SLURM_JOB_NAME", "LOCAL_RANK", "WORLD_SIZE", "LOCAL_WORLD_SIZE"):
        monkeypatch.delenv(k, raising=False)
    for k, v in env.items():
        monkeypatch.setenv(k, v)
    assert distributed.trainer_kwargs() == {"num_nodes": nodes}


@pytest.mark.parametrize("env, rank", [({}, 0), ({"RANK": "3", "LOCAL_RANK": "1"}, 3), ({"SLURM_PROCID": "5"}, 5),
                                       ({"LOCAL_RANK": "1"}, 1)])
def test_launch_rank_is_known_before_the_group(monkeypatch, env, rank):
    from rewardds.training import distributed

    for k in ("RANK", "SLURM_PROCID", "LOCAL_RANK"):
        monkeypatch.delenv(k, raising=False)
    for k, v in env.items():
        monkeypatch.setenv(k, v)
    assert distributed.launch_rank() == rank
