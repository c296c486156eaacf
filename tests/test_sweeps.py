"""Sweeps as users run them: SLURM multirun with a shared stage cache, kill and resume, W&B offline."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from rewardds.io import read_json

ROOT = Path(__file__).resolve().parents[1]


def cli(*args, timeout=900, cwd=ROOT):
    env = dict(os.environ, REWARDDS_NO_BAR="1", WANDB_MODE="offline")
    return subprocess.run([sys.executable, "run.py", *args], cwd=cwd, env=env, capture_output=True, text=True,
                          timeout=timeout)


def stage_records(run_dir: Path) -> list[dict]:
    return [json.loads(x) for x in (run_dir / "stage_log.jsonl").read_text().splitlines()]


@pytest.mark.slurm
@pytest.mark.slow
def test_slurm_sweep_trains_proxies_once_per_epsilon(slurm_cluster, tmp_path):
    sweep, cache = tmp_path / "sweep", tmp_path / "cache"
    res = cli("-m", "hydra/launcher=slurm", "experiment=smoke", "dp.epsilon=2,8", "filter.keep_ratio=0.5,1.0",
              f"hydra.sweep.dir={sweep}", f"cache.dir={cache}", "hydra.launcher.cpus_per_task=1",
              "hydra.launcher.mem_gb=1", "trainer.num_threads=1", timeout=1500)
    assert res.returncode == 0, res.stdout[-3000:] + res.stderr[-3000:]
    jobs = sorted(p for p in sweep.iterdir() if p.name.isdigit())
    assert len(jobs) == 4 and all((j / "metrics.json").exists() for j in jobs)
    computed = {}
    for j in jobs:
        for rec in stage_records(j):
            if not rec["cache_hit"]:
                computed.setdefault(rec["stage"], []).append(rec["key"])
    # the DP proxies ran exactly once per epsilon; every other job reused them from the cache
    assert len(computed["gen_proxy"]) == 2 and len(set(computed["gen_proxy"])) == 2
    assert len(computed["reward_proxy"]) == 2
    assert len(computed["base_model"]) == 1
    assert len(computed["filter"]) == 4  # 2 epsilons x 2 keep ratios
    eps = sorted(read_json(j / "privacy.json")["total"]["epsilon"] for j in jobs)
    assert eps[0] <= 2.0 and eps[-1] <= 8.0 and eps[0] < eps[-1]

    rep = subprocess.run([sys.executable, "-m", "rewardds.report", str(sweep)], capture_output=True, text=True,
                         cwd=ROOT, timeout=300)
    assert rep.returncode == 0, rep.stderr
    csv_rows = (sweep / "report.csv").read_text().strip().splitlines()
    assert len(csv_rows) == 1 + 4
    png = (sweep / "privacy_utility.png").read_bytes()
    assert png[:8] == b"\x89PNG\r\n\x1a\n" and len(png) > 5000


def wait_for(pred, timeout, what):
    t0 = time.monotonic()
    while time.monotonic() - t0 < timeout:
        if pred():
            return
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what}")


def manifests(cache: Path) -> dict:
    """Block kind -> the sorted digests of its completed entries (a kind has one entry per step using it)."""
    out: dict = {}
    for m in cache.glob("*/*/manifest.json"):
        out.setdefault(m.parent.parent.name, []).append(read_json(m)["digest"])
    return {kind: sorted(d) for kind, d in out.items()}


@pytest.mark.slow
@pytest.mark.parametrize("noise", ["secure", "reproducible"])
def test_killed_job_resumes(tmp_path, noise):
    """Secure noise (default): the resubmitted job resumes from the last completed stage and
    completes. With dp.reproducible_noise=true its artefacts equal an uninterrupted run's, byte for byte."""
    cache, run_dir = tmp_path / "cache", tmp_path / "run"
    extra = ["dp.reproducible_noise=true"] if noise == "reproducible" else []
    args = ["experiment=smoke", f"hydra.run.dir={run_dir}", f"cache.dir={cache}", "trainer.num_threads=1"] + extra
    env = dict(os.environ, REWARDDS_NO_BAR="1")
    proc = subprocess.Popen([sys.executable, "run.py", *args], cwd=ROOT, env=env, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    try:  # preempt it (SIGTERM, as SLURM does) while the reward proxy is being trained
        wait_for(lambda: list(cache.glob("finetune/*/manifest.json")) and list(cache.glob("reward_model/*.partial")),
                 600, "the reward proxy stage to start")
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode != 0
    assert not list(cache.glob("reward_model/*/manifest.json"))  # nothing half-written was published
    assert not (run_dir / "metrics.json").exists()

    res = cli(*args)  # resubmitted
    assert res.returncode == 0, res.stderr[-3000:]
    recs = stage_records(run_dir)
    second = recs[[i for i, r in enumerate(recs) if r["stage"] == "base_model"][-1]:]
    assert {r["stage"]: r["cache_hit"] for r in second}["gen_proxy"] is True
    assert {r["stage"]: r["cache_hit"] for r in second}["reward_proxy"] is False
    assert (run_dir / "metrics.json").exists() and (run_dir / "release" / "manifest.json").exists()
    if noise == "secure":
        return

    fresh = tmp_path / "cache_fresh"
    res = cli("experiment=smoke", f"hydra.run.dir={tmp_path / 'run2'}", f"cache.dir={fresh}", "trainer.num_threads=1",
              *extra)
    assert res.returncode == 0, res.stderr[-3000:]
    assert manifests(cache) == manifests(fresh)  # same artefacts, byte for byte, as an uninterrupted run


def test_wandb_offline_run_reads_back(run_pipeline, tmp_path, monkeypatch):
    from rewardds.wandb_offline import find_offline_runs, read_offline_run

    monkeypatch.setenv("WANDB_MODE", "offline")
    monkeypatch.setenv("WANDB_DIR", str(tmp_path))
    metrics, run_dir = run_pipeline(["experiment=smoke", "logger=wandb", "dp.epsilon=3"], name="wb")
    runs = find_offline_runs(run_dir)
    assert len(runs) == 1
    run = read_offline_run(runs[0])
    assert run["config"]["dp"]["epsilon"] == 3.0
    assert run["job_type"] == "pipeline" and run["group"]
    assert run["summary"]["privacy/epsilon_total"] == pytest.approx(metrics["privacy"]["epsilon"])
    assert run["summary"]["eval/target/rougeL"] == pytest.approx(metrics["eval"]["target"]["rougeL"])
    curves = [h for h in run["history"] if any(k.startswith("gen_proxy") for k in h)]
    assert curves, "the DP proxy's privacy curve is logged"
    assert any("gen_proxy-dp/epsilon" in h for h in curves)
    assert any("target_r1-train/loss" in h for h in run["history"])  # server-side training curves
