"""The methods comparison users pick a method by: every method, several seeds, one budget, one data set.

    python -m benchmarks.bench_methods                    # 11 methods x seeds 0,1,2 at dp.epsilon=4, medical demo
    python -m benchmarks.bench_methods --task financial --seeds 0
    python -m benchmarks.bench_methods --methods rewardds,non_private,dp_instruct --seeds 0,1
    python -m benchmarks.bench_methods --evals            # + leakage / data-quality evaluations, 8 canaries
    python -m benchmarks.bench_methods --real             # real Medical_QA and Financial_QA (../shared/data)
    python -m benchmarks.bench_methods --scale default    # the run's own synthesis and eval sizes (half the time)
    python -m benchmarks.bench_methods --quick            # experiment=smoke, seconds per job: a smoke test
    python -m benchmarks.bench_methods --against-one      # also time one method=rewardds run beside the sweep

One Hydra multirun (``-m method=... seed=...``, jobs in sequence) with one fresh shared stage cache
(the base model is pretrained once; the DP generator of the DP baselines is trained once per seed),
then ``python -m rewardds.report`` on its sweep folder: the methods table with each method's
difference to the untuned base and to ``--reference`` (default rewardds) as paired bootstrap
intervals over the same test items and over the seeds, and the headroom line (non_private - base).

Synthetic sets in the paper's proportions (RewardDS samples about as many questions as the client
has records and keeps 1/8): ``synthesis.num_queries`` = the private set's size, ``filter.keep_ratio``
1/8, so every synthetic-data method trains its target on the same number of examples
(``synthesis.examples``, 125 on the demo's 1000 records); ``synthesis.answer_n`` and ``refine.n`` 6 as
the paper; every test item is evaluated (``eval.max_test=null``: 300 on the demo).

``--real``: Medical_QA and Financial_QA from ../shared/data/rewardds, 1000 private records each
(``task.data.max_train``) and 200 test items held out of the train file (``task.data.holdout_test``:
the shared copies have no test split and their dev split is too small); the base model is the
embedded one pretrained on the task's public demo corpus (general-practice and household-finance
text written for this project: public, and not the private domain); methods non_private, rewardds,
dp_instruct, pe (base is evaluated in every job); one seed.
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from benchmarks.bench_run import LAUNCHER, REPO, gib

METHODS = ("rewardds", "non_private", "dp_sgd", "icl", "self_instruct", "self_instruct_icl", "dp_gene", "dp_instruct",
           "dp_instruct_icl", "pe", "knowledgesg")
REAL_METHODS = ("non_private", "rewardds", "dp_instruct", "pe")
REAL_DATA = {"medical": "Medical_QA", "financial": "Financial_QA"}
SHARED = REPO.parent / "shared" / "data" / "rewardds"
DEMO_PRIVATE = 1000  # records of the demo's private split (rewardds/data/demo/make_demo.py COUNTS)
REAL_PRIVATE, REAL_TEST = 1000, 200
SMALL_ARGS = ["--quick", "--methods", "rewardds,icl,dp_instruct,non_private", "--seeds", "0"]
EVALS = ["eval.similarity=true", "eval.ifd=true", "eval.leakage=true", "eval.pii=true"]
CANARIES = 8


def build_parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(prog="python -m benchmarks.bench_methods", description=__doc__.split("\n\n")[0])
    ap.add_argument("--task", default="medical", choices=("medical", "financial", "code"))
    ap.add_argument("--methods", default=",".join(METHODS), help="comma-separated method names")
    ap.add_argument("--seeds", default="0,1,2", help="comma-separated seeds (the report aggregates over them)")
    ap.add_argument("--epsilon", type=float, default=4.0)
    ap.add_argument("--reference", default="rewardds", help="the report's reference method for paired differences")
    ap.add_argument("--scale", default="paper", choices=("paper", "default"),
                    help="paper: the paper's synthetic-set proportions and every test item; default: the run's own "
                         "defaults (synthesis.num_queries 800, eval.max_test 200), about half the CPU time")
    ap.add_argument("--real", action="store_true", help="the real-data run (Medical_QA, Financial_QA) instead")
    ap.add_argument("--quick", action="store_true", help="experiment=smoke: a smoke test of the benchmark, not a measurement")
    ap.add_argument("--evals", action="store_true", help=f"also the leakage and data-quality evaluations and "
                                                        f"{CANARIES} canaries (an audit run)")
    ap.add_argument("--against-one", action="store_true", help="also one method=rewardds run with its own fresh "
                                                              "cache, to give the sweep's wall time as a ratio")
    ap.add_argument("--args", nargs="+", default=[], metavar="OVERRIDE", help="extra Hydra overrides for every job")
    ap.add_argument("--workdir", default=None, help="keep caches, sweeps and logs here (default: a temp dir, removed)")
    ap.add_argument("--json", action="store_true", help="print one JSON object instead of the tables")
    return ap


def proportions(private_records: int) -> list[str]:
    """The paper's synthetic-set proportions for a private set of ``private_records`` records."""
    return [f"synthesis.num_queries={private_records}", "filter.keep_ratio=0.125", "synthesis.answer_n=6",
            "refine.n=6"]


def sweeps(a) -> list[dict]:
    """(name, overrides) of each multirun this invocation runs."""
    seeds = [s for s in a.seeds.split(",") if s]
    base = [f"dp.epsilon={a.epsilon:g}"] + (list(EVALS) + [f"eval.canaries={CANARIES}"] if a.evals else [])
    if a.quick:
        return [{"name": a.task, "overrides": ["experiment=smoke", f"task={a.task}", *base, *a.args],
                 "methods": [m for m in a.methods.split(",") if m], "seeds": seeds}]
    if not a.real:
        scale = [*proportions(DEMO_PRIVATE), "eval.max_test=null"] if a.scale == "paper" else []
        return [{"name": a.task, "overrides": [f"task={a.task}", *base, *scale, *a.args],
                 "methods": [m for m in a.methods.split(",") if m], "seeds": seeds}]
    out = []
    for task, folder in REAL_DATA.items():
        if not (SHARED / folder).is_dir():
            raise SystemExit(f"error: {SHARED / folder} not found (the real-data run reads ../shared/data/rewardds)")
        out.append({"name": f"real-{task}", "methods": list(REAL_METHODS), "seeds": seeds[:1],
                    "overrides": [f"task={task}", f"task.data.dir={SHARED / folder}",
                                  f"task.data.max_train={REAL_PRIVATE}", f"task.data.holdout_test={REAL_TEST}",
                                  *base, *(proportions(REAL_PRIVATE) if a.scale == "paper" else []),
                                  "eval.max_test=null", *a.args]})
    return out


def measure(args: list[str], log: Path) -> dict:
    """Run ``python run.py ARGS`` as a child; wall time and the peak RSS of its process tree."""
    usage_file = Path(str(log) + ".rusage.json")
    env = dict(os.environ, REWARDDS_NO_BAR="1", WANDB_MODE="offline")
    env.pop("REWARDDS_CACHE", None)
    log.parent.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    with open(log, "w", encoding="utf-8") as fh:
        rc = subprocess.run([sys.executable, "-c", LAUNCHER, str(usage_file), sys.executable, "run.py", *args],
                            cwd=REPO, env=env, stdout=fh, stderr=subprocess.STDOUT).returncode
    wall = time.perf_counter() - t0
    try:
        rss = json.loads(usage_file.read_text())["ru_maxrss"] * (1 if sys.platform == "darwin" else 1024)
    except (OSError, ValueError, KeyError):
        rss = 0
    return {"rc": rc, "wall_s": round(wall, 1), "peak_rss_bytes": rss, "log": str(log)}


def job_times(sweep: Path) -> list[dict]:
    """Per job of a finished sweep: method, seed and its own wall time (metrics.json), for the cost table."""
    rows = []
    for job in sorted((p for p in sweep.iterdir() if p.is_dir() and p.name.isdigit()), key=lambda p: int(p.name)):
        metrics = job / "metrics.json"
        m = json.loads(metrics.read_text()) if metrics.exists() else {}
        rows.append({"job": job.name, "method": m.get("method"), "wall_time_s": m.get("wall_time_s"),
                     "synthetic_size": m.get("synthetic_size"), "ok": metrics.exists()})
    return rows


def run(argv: list[str] | None = None) -> dict:
    from rewardds.report import write_report

    a = build_parser().parse_args(argv)
    work = Path(a.workdir) if a.workdir else Path(tempfile.mkdtemp(prefix="bench-methods-"))
    results = []
    try:
        for sw in sweeps(a):
            folder, cache = work / sw["name"], work / f"cache-{sw['name']}"
            shutil.rmtree(folder, ignore_errors=True)
            shutil.rmtree(cache, ignore_errors=True)
            print(f"bench_methods: {sw['name']}: {len(sw['methods'])} methods x {len(sw['seeds'])} seeds "
                  f"({' '.join(sw['overrides'])})", file=sys.stderr, flush=True)
            # seed before method: Hydra runs the product in this order, so every method's seed 0 comes first
            res = measure(["-m", *sw["overrides"], f"seed={','.join(sw['seeds'])}", f"method={','.join(sw['methods'])}",
                           f"cache.dir={cache}", f"hydra.sweep.dir={folder}"], work / f"{sw['name']}.log")
            report = write_report(folder, reference=a.reference) if folder.exists() else {}
            res.update(name=sw["name"], overrides=sw["overrides"], methods=sw["methods"], seeds=sw["seeds"],
                       jobs=job_times(folder) if folder.exists() else [],
                       report=(folder / "report.md").read_text() if (folder / "report.md").exists() else "",
                       metric=report.get("metric"))
            if a.against_one:
                one = measure([*sw["overrides"], "method=rewardds", f"seed={sw['seeds'][0]}",
                               f"cache.dir={work / ('cache-one-' + sw['name'])}",
                               f"hydra.run.dir={work / ('one-' + sw['name'])}"], work / f"one-{sw['name']}.log")
                res["one"] = one
                res["ratio"] = round(res["wall_s"] / one["wall_s"], 2) if one["wall_s"] else None
            results.append(res)
        return {"sweeps": results}
    finally:
        if not a.workdir:
            shutil.rmtree(work, ignore_errors=True)


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    out = run(argv)
    if args.json:
        print(json.dumps(out, indent=2, default=str))
    for res in out["sweeps"] if not args.json else []:
        print(f"== {res['name']}: {len(res['methods'])} methods x {len(res['seeds'])} seeds, one multirun, one shared "
              f"cache: {res['wall_s']:.0f} s, peak RSS {gib(res['peak_rss_bytes'])}, exit {res['rc']}")
        if "one" in res:
            print(f"   one method=rewardds run (own fresh cache): {res['one']['wall_s']:.0f} s; ratio {res['ratio']}x")
        for j in res["jobs"]:
            print(f"   job {j['job']:>3} {str(j['method']):<18} {j['wall_time_s'] or '-':>8} s  synthetic set "
                  f"{j['synthetic_size'] if j['synthetic_size'] is not None else '-'}{'' if j['ok'] else '  FAILED'}")
        print(res["report"])
    return 0 if all(r["rc"] == 0 for r in out["sweeps"]) else 1


if __name__ == "__main__":
    sys.exit(main())
