"""Wall time and peak memory of the README's main command, cold cache then warm.

    python -m benchmarks.bench_run            # python run.py task=medical dp.epsilon=4, twice
    python -m benchmarks.bench_run --quick    # the same with experiment=smoke
    python -m benchmarks.bench_run --args trainer.num_threads=2 --json

Run 1 gets a fresh, empty cache folder (``cache.dir=<tmp>/cache``); run 2 reuses
it (the warm cache a second invocation sees). Each run is a subprocess with its
own ``hydra.run.dir``. Memory per run:

* ``peak RSS``: ``getrusage(RUSAGE_CHILDREN).ru_maxrss`` read by a small
  launcher process whose only child is the run: the largest peak of the run's
  process and of every descendant it waited for (e.g. vLLM or DataLoader
  workers). A maximum over processes, not a sum.
* ``tree RSS``: the sum of RSS over the child's process tree, sampled every
  0.2 s (psutil); catches concurrent workers, may miss short spikes.
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
MAIN_COMMAND = ["task=medical", "dp.epsilon=4"]
TARGET_WALL_S = 300.0
TARGET_RSS_BYTES = 4 * 2**30

SMALL_ARGS = ["--quick"]  # used by `python -m benchmarks`


def build_parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(prog="python -m benchmarks.bench_run", description=__doc__.split("\n\n")[0])
    add_common(ap)
    return ap


def add_common(ap: argparse.ArgumentParser) -> None:
    ap.add_argument("--quick", action="store_true", help="add experiment=smoke (the tests' smallest end-to-end run)")
    ap.add_argument("--args", nargs="+", default=[], metavar="OVERRIDE", help="extra Hydra overrides for every run")
    ap.add_argument("--json", action="store_true", help="print one JSON object instead of the table")
    ap.add_argument("--workdir", default=None, help="keep caches, run dirs and logs here (default: a temp dir, removed)")
    ap.add_argument("--run-script", default=str(REPO / "run.py"),
                    help="entry point to run (default: the repo's run.py; tests pass a stand-in)")
    ap.add_argument("--sample-interval", type=float, default=0.2, help="seconds between process-tree RSS samples")


def base_overrides(args) -> list[str]:
    return [*MAIN_COMMAND, *(["experiment=smoke"] if args.quick else []), *args.args]


# -- one run -------------------------------------------------------------------------

def _tree_rss(pid: int) -> int:
    import psutil

    try:
        root = psutil.Process(pid)
        procs = [root, *root.children(recursive=True)]
    except psutil.Error:
        return 0
    total = 0
    for p in procs:
        try:
            total += p.memory_info().rss
        except psutil.Error:
            pass
    return total


# Runs the entry point and reports getrusage(RUSAGE_CHILDREN) for it. A separate small launcher because
# ru_maxrss survives exec: a child spawned straight from a big process (e.g. `python -m benchmarks` after
# bench_dp_step built its models) would report the parent's peak as its own.
LAUNCHER = """
import json, resource, subprocess, sys
rc = subprocess.call(sys.argv[2:])
ru = resource.getrusage(resource.RUSAGE_CHILDREN)
with open(sys.argv[1], "w") as fh:
    json.dump({"ru_maxrss": ru.ru_maxrss, "cpu_s": ru.ru_utime + ru.ru_stime}, fh)
sys.exit(rc)
"""


def run_pipeline(overrides: list[str], run_dir: Path, cache_dir: Path, log_path: Path, run_script: str,
                 sample_interval: float = 0.2) -> dict:
    """Run the entry point once as a subprocess; wall time, memory, exit code, stage log."""
    usage_file = Path(str(log_path) + ".rusage.json")
    cmd = [sys.executable, "-c", LAUNCHER, str(usage_file),
           sys.executable, run_script, *overrides, f"cache.dir={cache_dir}", f"hydra.run.dir={run_dir}"]
    env = dict(os.environ, REWARDDS_NO_BAR="1", HYDRA_FULL_ERROR="1")
    env.setdefault("WANDB_MODE", "offline")
    env.pop("REWARDDS_CACHE", None)
    log_path.parent.mkdir(parents=True, exist_ok=True)
    peak_tree = [0]
    stop = threading.Event()
    load_before = os.getloadavg()[0]
    with open(log_path, "w", encoding="utf-8") as log:
        t0 = time.perf_counter()
        proc = subprocess.Popen(cmd, cwd=REPO, env=env, stdout=log, stderr=subprocess.STDOUT)

        def sample():
            try:
                import psutil  # noqa: F401
            except ImportError:
                peak_tree[0] = None
                return
            while not stop.is_set():
                peak_tree[0] = max(peak_tree[0], _tree_rss(proc.pid))
                stop.wait(sample_interval)

        sampler = threading.Thread(target=sample, daemon=True)
        sampler.start()
        proc.wait()
        wall = time.perf_counter() - t0
        stop.set()
        sampler.join()
    try:
        usage = json.loads(usage_file.read_text())
    except (OSError, ValueError):
        usage = {"ru_maxrss": 0, "cpu_s": 0.0}
    maxrss = usage["ru_maxrss"] if sys.platform == "darwin" else usage["ru_maxrss"] * 1024
    out = {"command": " ".join(["python", Path(run_script).name, *overrides]), "rc": proc.returncode,
           "wall_s": round(wall, 2), "peak_rss_bytes": maxrss, "tree_rss_peak_bytes": peak_tree[0],
           "cpu_s": round(usage["cpu_s"], 2), "run_dir": str(run_dir), "log": str(log_path),
           "load_avg": [round(load_before, 2), round(os.getloadavg()[0], 2)],  # before, after
           "stages": read_stage_log(run_dir)}
    metrics = run_dir / "metrics.json"
    if metrics.exists():
        try:
            out["pipeline_wall_s"] = json.loads(metrics.read_text()).get("wall_time_s")
        except ValueError:
            pass
    if proc.returncode != 0:
        out["error"] = last_error(log_path)
    return out


def read_stage_log(run_dir: Path) -> list[dict]:
    path = Path(run_dir) / "stage_log.jsonl"
    if not path.exists():
        return []
    rows = []
    for line in path.read_text(encoding="utf-8").splitlines():
        line = line.strip()
        if line:
            try:
                rec = json.loads(line)
            except ValueError:
                continue
            rows.append({"stage": rec.get("stage"), "cache_hit": bool(rec.get("cache_hit")),
                         "seconds": float(rec.get("seconds", 0.0))})
    return rows


def last_error(log_path: Path) -> str:
    lines = [ln.strip() for ln in Path(log_path).read_text(encoding="utf-8", errors="replace").splitlines() if ln.strip()]
    for ln in reversed(lines):
        if ln.startswith("error:") or "Error" in ln:
            return ln[-300:]
    return lines[-1][-300:] if lines else "no output"


# -- formatting ------------------------------------------------------------------------

def gib(n) -> str:
    return "-" if n is None else f"{n / 2**30:.2f} GiB"


def load(r: dict) -> str:
    la = r.get("load_avg")
    return f"{la[0]:.1f}/{la[1]:.1f}" if la else "-"


def hits(stages: list[dict]) -> str:
    return f"{sum(s['cache_hit'] for s in stages)}/{len(stages)}"


def stage_table(runs: list[tuple[str, dict]]) -> list[str]:
    """Rows: stages in first-seen order; columns: runs; cells: seconds, 'hit <s>' for cache hits."""
    order: list[str] = []
    for _, r in runs:
        for s in r["stages"]:
            if s["stage"] not in order:
                order.append(s["stage"])
    if not order:
        return ["(no stage_log.jsonl)"]
    width = max(12, *(len(n) + 1 for n, _ in runs))
    lines = [f"{'stage':<16}" + "".join(f"{n:>{width}}" for n, _ in runs)]
    for st in order:
        cells = []
        for _, r in runs:
            rec = [s for s in r["stages"] if s["stage"] == st]
            if not rec:
                cells.append(f"{'':>{width}}")
            else:
                s = rec[-1]
                cell = f"hit {s['seconds']:.1f}" if s["cache_hit"] else f"{s['seconds']:.1f}"
                cells.append(f"{cell:>{width}}")
        lines.append(f"{st:<16}" + "".join(cells))
    return lines


def render(result: dict) -> str:
    title = (f"bench_run: {result['command']} (fresh cache, then the same cache again); load avg "
             f"{result['load_avg_before']:.2f} before")
    header = (f"{'run':<6} {'wall s':>8} {'pipeline s':>10} {'cpu s':>8} {'peak RSS':>10} {'tree RSS':>10} "
              f"{'cache hits':>10} {'exit':>5} {'load before/after':>18}")
    lines = [title, header]
    for name in ("cold", "warm"):
        r = result.get(name)
        if r is None:
            continue
        lines.append(f"{name:<6} {r['wall_s']:8.1f} {r.get('pipeline_wall_s') or '-':>10} {r['cpu_s']:8.1f} "
                     f"{gib(r['peak_rss_bytes']):>10} {gib(r['tree_rss_peak_bytes']):>10} {hits(r['stages']):>10} "
                     f"{r['rc']:>5} {load(r):>18}")
        if r.get("error"):
            lines.append(f"       error: {r['error']}  (log: {r['log']})")
    t = result["targets"]
    lines.append(f"targets: cold wall < {TARGET_WALL_S:.0f} s: {t['wall']};  peak RSS < {gib(TARGET_RSS_BYTES)}: {t['rss']}")
    lines.append("stage seconds (stage_log.jsonl):")
    lines += ["  " + ln for ln in stage_table([(n, result[n]) for n in ("cold", "warm") if n in result])]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(sys.argv[1:] if argv is None else argv)
    overrides = base_overrides(args)
    work = Path(args.workdir) if args.workdir else Path(tempfile.mkdtemp(prefix="rewardds-bench-run-"))
    work.mkdir(parents=True, exist_ok=True)
    cache = work / "cache"
    if cache.exists():
        shutil.rmtree(cache)  # the cold run must see an empty cache
    result = {"benchmark": "run", "command": " ".join(["python", Path(args.run_script).name, *overrides]), "workdir": str(work),
              "load_avg_before": os.getloadavg()[0]}
    try:
        for name in ("cold", "warm"):
            result[name] = run_pipeline(overrides, work / f"run_{name}", cache, work / f"{name}.log", args.run_script,
                                        args.sample_interval)
            if result[name]["rc"] != 0:
                break
        cold = result["cold"]
        peak = max([r["peak_rss_bytes"] for n in ("cold", "warm") if (r := result.get(n))] +
                   [r["tree_rss_peak_bytes"] or 0 for n in ("cold", "warm") if (r := result.get(n))])
        result["targets"] = {
            "wall": "FAILED" if cold["rc"] else ("ok" if cold["wall_s"] < TARGET_WALL_S else "ABOVE"),
            "rss": "ok" if peak < TARGET_RSS_BYTES else "ABOVE",
            "wall_target_s": TARGET_WALL_S, "rss_target_bytes": TARGET_RSS_BYTES,
        }
        print(json.dumps(result, indent=1) if args.json else render(result))
        failed = any(result[n]["rc"] for n in ("cold", "warm") if n in result)
    finally:
        if not args.workdir and not any(result.get(n, {}).get("rc") for n in ("cold", "warm")):
            shutil.rmtree(work, ignore_errors=True)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
