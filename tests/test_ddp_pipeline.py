"""The whole pipeline with ``trainer.devices=2`` (Lightning DDP on CPU, gloo): every rank runs the
pipeline, rank 0 publishes each stage and the run's results, and every DP stage is one mechanism
over both ranks (one Poisson draw, noise once: tests/test_ddp_dp.py checks the step itself)."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.slow
def test_smoke_pipeline_on_two_processes(tmp_path):
    run_dir, cache = tmp_path / "run", tmp_path / "cache"
    env = dict(os.environ, REWARDDS_NO_BAR="1")
    res = subprocess.run([sys.executable, "run.py", "experiment=smoke", "trainer.devices=2", "dp.epsilon=8",
                          f"hydra.run.dir={run_dir}", f"cache.dir={cache}"],
                         cwd=ROOT, capture_output=True, text=True, timeout=900, env=env)
    assert res.returncode == 0, res.stderr[-3000:]
    assert "privacy: (" in res.stdout and "-DP for everything released" in res.stdout
    for kind in ("finetune", "reward_model"):  # both DP components trained by the 2-rank group, all planned steps
        (entry,) = [p for p in (cache / kind).iterdir() if p.is_dir() and not p.name.startswith(".")]
        rec = json.loads((entry / "component.json").read_text())
        assert rec["dp"] and rec["ranks"] == 2 and rec["steps"] == rec["planned_steps"] > 0
    privacy = json.loads((run_dir / "privacy.json").read_text())
    assert privacy["formal_guarantee"] is True
    assert privacy["total"]["epsilon"] <= 8 and set(privacy["components"]) == {"gen_proxy", "reward_proxy"}
    assert (run_dir / "release" / "manifest.json").exists() and (run_dir / "metrics.json").exists()
    rank1 = run_dir / ".rank1"  # rank 1 ran beside rank 0 and wrote no results or release of its own
    assert rank1.is_dir() and not (rank1 / "release").exists() and not (rank1 / "metrics.json").exists()
    assert not list(rank1.glob("wandb")) and res.stdout.count("== rewardds on medical") == 1
