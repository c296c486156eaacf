"""Shared fixtures: compose the real Hydra config and run the real pipeline on tiny settings."""
from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared" / "data" / "rewardds"

os.environ.setdefault("REWARDDS_NO_BAR", "1")
os.environ.setdefault("WANDB_MODE", "offline")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")


def compose_cfg(overrides: list[str], run_dir: Path, cache_dir: Path | None):
    from hydra import compose, initialize_config_dir

    from rewardds.config import register

    register()
    extra = [f"run_dir={run_dir}", "trainer.enable_progress_bar=false"]
    extra += [f"cache.dir={cache_dir}"] if cache_dir else ["cache.enabled=false", f"cache.dir={run_dir}/nocache"]
    with initialize_config_dir(config_dir=str(ROOT / "conf"), version_base="1.3"):
        return compose(config_name="config", overrides=list(overrides) + extra)


@pytest.fixture(scope="session")
def shared_cache(tmp_path_factory) -> Path:
    """One stage cache for the session: the tiny base model is pretrained once per task."""
    return tmp_path_factory.mktemp("stage-cache")


@pytest.fixture
def run_pipeline(tmp_path, shared_cache):
    from rewardds.pipeline import run

    def _run(overrides, name="run", cache_dir=None):
        cfg = compose_cfg(overrides, tmp_path / name, cache_dir or shared_cache)
        return run(cfg), tmp_path / name

    return _run


def shared_data(name: str) -> Path:
    """A dataset folder under ../shared/data/rewardds; skip when absent, fail in CI."""
    path = SHARED / name
    if not path.exists():
        if os.environ.get("CI") == "true":
            pytest.fail(f"{path} is missing in CI")
        pytest.skip(f"{path} not present")
    return path


@pytest.fixture(scope="session")
def slurm_cluster():
    """A real one-machine SLURM cluster (launchers/slurm_local.sh); skip without root, fail in CI."""
    script = ROOT / "launchers" / "slurm_local.sh"
    try:
        proc = subprocess.run(["bash", str(script), "start"], capture_output=True, text=True, timeout=900)
    except subprocess.TimeoutExpired:
        pytest.fail("launchers/slurm_local.sh start did not finish in 900 s")
    if proc.returncode == 3:
        msg = f"no SLURM and not root: {proc.stderr.strip()}"
        if os.environ.get("CI") == "true":
            pytest.fail(f"CI=true but the SLURM cluster cannot start ({msg})")
        pytest.skip(msg)
    assert proc.returncode == 0, f"slurm_local.sh start failed:\n{proc.stdout}\n{proc.stderr}"
    yield
