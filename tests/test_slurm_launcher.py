"""The project's Hydra launcher configs (conf/hydra/launcher/{slurm,local}.yaml) run a
real 2x2 multirun: on a one-machine SLURM cluster (launchers/slurm_local.sh) and as
local processes. A 10-line Hydra app stands in for the pipeline.

The SLURM test starts the cluster itself (root installs the Debian packages the first
time). Without root and without SLURM it is skipped, unless CI=true: then it fails.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SLURM_LOCAL = REPO / "launchers" / "slurm_local.sh"

APP = textwrap.dedent(
    """
    import os
    from pathlib import Path
    import hydra
    from hydra.core.hydra_config import HydraConfig

    @hydra.main(version_base="1.3", config_path=".", config_name="smoke_app")
    def main(cfg):
        out = Path(HydraConfig.get().runtime.output_dir) / "out.txt"
        out.write_text(f"x={cfg.x} y={cfg.y} slurm_job={os.environ.get('SLURM_JOB_ID', '')}\\n")

    if __name__ == "__main__":
        main()
    """
)


def _write_app(tmp_path: Path) -> Path:
    (tmp_path / "app.py").write_text(APP)
    # the project's launcher configs are found through hydra.searchpath
    (tmp_path / "smoke_app.yaml").write_text(
        f"x: 1\ny: a\nhydra:\n  searchpath:\n    - file://{REPO / 'conf'}\n"
    )
    return tmp_path / "app.py"


def _run_sweep(tmp_path: Path, launcher: str, extra: list[str], timeout: float) -> tuple[Path, float]:
    app = _write_app(tmp_path)
    sweep = tmp_path / f"sweep_{launcher}"
    env = dict(os.environ)
    env.pop("REWARDDS_SLURM_PARTITION", None)
    if os.environ.get("SLURM_LOCAL_PARTITION"):
        env["REWARDDS_SLURM_PARTITION"] = os.environ["SLURM_LOCAL_PARTITION"]
    cmd = [sys.executable, str(app), "-m", f"hydra/launcher={launcher}", "x=1,2", "y=a,b",
           f"hydra.sweep.dir={sweep}", *extra]
    t0 = time.monotonic()
    proc = subprocess.run(cmd, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=timeout)
    elapsed = time.monotonic() - t0
    assert proc.returncode == 0, f"{' '.join(cmd)}\n{proc.stdout}\n{proc.stderr}"
    return sweep, elapsed


def _outputs(sweep: Path) -> dict[str, str]:
    return {p.parent.name: p.read_text().strip() for p in sorted(sweep.glob("*/out.txt"))}


@pytest.mark.slurm
def test_slurm_launcher_runs_2x2_sweep(slurm_cluster, tmp_path: Path):
    # 1 CPU / 1 GB per job so the sweep fits a 1-2 core CI node; the rest is slurm.yaml's
    sweep, elapsed = _run_sweep(tmp_path, "slurm",
                                ["hydra.launcher.cpus_per_task=1", "hydra.launcher.mem_gb=1"], timeout=300)
    outs = _outputs(sweep)
    assert sorted(outs) == ["0", "1", "2", "3"], outs
    assert sorted(o.split(" slurm_job=")[0] for o in outs.values()) == ["x=1 y=a", "x=1 y=b", "x=2 y=a", "x=2 y=b"]
    job_ids = {o.split("slurm_job=")[1] for o in outs.values()}
    assert "" not in job_ids and len(job_ids) == 4, outs  # each ran as its own SLURM job
    # submitit logs where the report looks for them (.submitit/<array>_<task>/)
    assert len(list(sweep.glob(".submitit/*_*/*_log.err"))) == 4
    print(f"slurm 2x2 sweep: {elapsed:.1f} s")


def test_local_launcher_runs_2x2_sweep(tmp_path: Path):
    sweep, elapsed = _run_sweep(tmp_path, "local", [], timeout=300)
    outs = _outputs(sweep)
    assert sorted(outs) == ["0", "1", "2", "3"], outs
    assert sorted(o.split(" slurm_job=")[0] for o in outs.values()) == ["x=1 y=a", "x=1 y=b", "x=2 y=a", "x=2 y=b"]
    assert len(list(sweep.glob(".submitit/*/*_log.err"))) == 4
    print(f"local 2x2 sweep: {elapsed:.1f} s")


DDP_APP = textwrap.dedent(
    """
    import json, os
    from pathlib import Path
    import hydra
    from hydra.core.hydra_config import HydraConfig

    @hydra.main(version_base="1.3", config_path=".", config_name="ddp_app")
    def main(cfg):
        from tests.test_ddp_dp import assert_one_draw_shared, lightning_fit

        fit = lightning_fit(cfg.devices)
        rank = int(os.environ["SLURM_PROCID"])
        weights = {n: w.double().sum().item() for n, w in fit["weights"].items()}
        out = Path(HydraConfig.get().runtime.output_dir) / f"rank{rank}.json"
        out.write_text(json.dumps({"rank": fit["rank"], "world": fit["world"], "steps": fit["steps"],
                                   "environment": fit["environment"], "seen": fit["seen"],
                                   "weights": weights}))

    if __name__ == "__main__":
        main()
    """
)


@pytest.mark.slurm
def test_slurm_two_tasks_form_one_dp_ddp_group(slurm_cluster, tmp_path: Path):
    """hydra.launcher.tasks_per_node=2: submitit starts 2 SLURM tasks, Lightning (SLURMEnvironment)
    joins them into one DDP group, and the 2-rank DP-SGD fit ends with the 1-process weights."""
    from tests.test_ddp_dp import assert_one_draw_shared, lightning_fit

    (tmp_path / "app.py").write_text(DDP_APP)
    (tmp_path / "ddp_app.yaml").write_text(f"devices: 2\nhydra:\n  searchpath:\n    - file://{REPO / 'conf'}\n")
    env = dict(os.environ, PYTHONPATH=f"{REPO}{os.pathsep}{os.environ.get('PYTHONPATH', '')}", REWARDDS_NO_BAR="1")
    env.pop("REWARDDS_SLURM_PARTITION", None)
    sweep = tmp_path / "sweep"
    cmd = [sys.executable, str(tmp_path / "app.py"), "-m", "hydra/launcher=slurm", f"hydra.sweep.dir={sweep}",
           "hydra.launcher.tasks_per_node=2", "hydra.launcher.cpus_per_task=1", "hydra.launcher.mem_gb=2"]
    proc = subprocess.run(cmd, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300)
    logs = "\n".join(p.read_text()[-2000:] for p in sweep.glob(".submitit/*/*_log.err"))
    assert proc.returncode == 0, f"{proc.stdout}\n{proc.stderr}\n{logs}"
    (submission,) = sweep.glob(".submitit/*/*_submission.sh")
    assert "#SBATCH --ntasks-per-node=2" in submission.read_text()
    ranks = [json.loads((sweep / "0" / f"rank{r}.json").read_text()) for r in range(2)]
    assert [r["rank"] for r in ranks] == [0, 1] and all(r["world"] == 2 for r in ranks), ranks
    assert all(r["environment"] == "SLURMEnvironment" for r in ranks), ranks
    single = lightning_fit(1)
    assert_one_draw_shared([r["seen"] for r in ranks], single["seen"])
    want = {n: w.double().sum().item() for n, w in single["weights"].items()}
    for r in ranks:
        assert r["steps"] == single["steps"]
        assert r["weights"] == pytest.approx(want, rel=1e-4, abs=1e-6)


@pytest.mark.slurm
def test_slurm_launcher_asks_for_nodes_tasks_and_gpus(slurm_cluster, tmp_path: Path):
    """What a 2-node x 2-GPU job submits (README "Several GPUs / nodes"): one sbatch with
    --nodes, --ntasks-per-node and --gpus-per-node, its tasks started by srun (one rank each).
    The one-node CPU cluster cannot grant it, so sbatch refuses; the script is what is checked."""
    app = _write_app(tmp_path)
    sweep = tmp_path / "sweep"
    cmd = [sys.executable, str(app), "-m", "hydra/launcher=slurm", f"hydra.sweep.dir={sweep}",
           "hydra.launcher.nodes=2", "hydra.launcher.tasks_per_node=2", "hydra.launcher.gpus_per_node=2",
           "hydra.launcher.cpus_per_task=1", "hydra.launcher.mem_gb=1"]
    env = {k: v for k, v in os.environ.items() if k != "REWARDDS_SLURM_PARTITION"}
    proc = subprocess.run(cmd, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120)
    (submission,) = sweep.glob(".submitit/.submission_file_*.sh")  # a refused job's script keeps its temp name
    text = submission.read_text()
    for line in ("#SBATCH --nodes=2", "#SBATCH --ntasks-per-node=2", "#SBATCH --gpus-per-node=2",
                 "#SBATCH --cpus-per-task=1"):
        assert line in text, text
    assert "srun" in text, text
    assert proc.returncode != 0 and "sbatch" in (proc.stdout + proc.stderr).lower()


def _pids(name: str) -> list[int]:
    proc = subprocess.run(["pgrep", "-x", name], capture_output=True, text=True)
    return [int(p) for p in proc.stdout.split()]


@pytest.mark.slurm
def test_slurm_local_starts_after_a_crash_that_left_a_job_running(slurm_cluster, tmp_path: Path):
    """A machine stopped with a job running (every daemon and the job's processes killed at once)
    leaves that job in slurmctld's saved state. A cold start must not bring back a job whose
    processes are gone: the node would stay allocated and the start would time out (seen in CI,
    where an earlier session's cluster had died that way)."""
    sub = subprocess.run(["sbatch", "--parsable", "-o", str(tmp_path / "job.out"), "--wrap", "sleep 600"],
                         capture_output=True, text=True, timeout=60)
    assert sub.returncode == 0, sub.stderr
    job = sub.stdout.strip().split(";")[0]
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            state = subprocess.run(["squeue", "-h", "-j", job, "-o", "%T"], capture_output=True, text=True).stdout
            if state.strip() == "RUNNING":
                break
            time.sleep(0.5)
        assert state.strip() == "RUNNING", state
        subprocess.run(["scontrol", "reconfigure"], capture_output=True, timeout=60)  # saves the state with the job
        time.sleep(2)
        for name in ("slurmctld", "slurmd", "slurmstepd", "sleep"):
            for pid in _pids(name):
                if name != "sleep" or Path(f"/proc/{pid}/cmdline").read_bytes() == b"sleep\x00600\x00":
                    subprocess.run(["kill", "-9", str(pid)], capture_output=True)
        time.sleep(1)
        env = dict(os.environ, SLURM_LOCAL_TIMEOUT="60")
        proc = subprocess.run(["bash", str(SLURM_LOCAL), "start"], capture_output=True, text=True, timeout=300, env=env)
        assert proc.returncode == 0, f"{proc.stdout}\n{proc.stderr[:3000]}"
        node = subprocess.run(["sinfo", "-h", "-N", "-o", "%t"], capture_output=True, text=True).stdout.strip()
        assert node.rstrip("*~#$@") == "idle", node
        left = subprocess.run(["squeue", "-h", "-j", job, "-o", "%T"], capture_output=True, text=True).stdout
        assert left.strip() in ("", "CANCELLED", "FAILED", "NODE_FAIL"), f"the dead job came back: {left}"
    finally:
        subprocess.run(["scancel", job], capture_output=True)
