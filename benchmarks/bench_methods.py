"""The methods comparison as users run it, against one RewardDS run, side by side.

    python -m benchmarks.bench_methods            # 9 methods on the medical demo, dp.epsilon=4
    python -m benchmarks.bench_methods --quick    # the same with experiment=smoke
    python -m benchmarks.bench_methods --methods rewardds,icl --json
    python -m benchmarks.bench_methods --methods all     # also knowledgesg and pe
    python -m benchmarks.bench_methods --canaries 0 --no-evals   # utility only, as before issue 13

Run 1: ``python run.py method=rewardds`` with a fresh cache (the reference).
Run 2: ``python run.py -m method=<all>`` (one Hydra multirun, jobs in sequence,
one fresh shared cache: the DP generator of the DP baselines is trained once),
then ``python -m rewardds.report`` on its sweep folder. Reported: wall time of
each, the ratio run 2 / run 1 (target: under 4x), peak RSS of each, and the
report's methods table (ROUGE-L or pass@1 with 95% intervals, synthetic set
size, epsilon) and its leakage and data-quality table. Both runs are measured in this one invocation,
on the same load.

Both runs evaluate leakage and data quality (:data:`EVALS`, rewardds/recipes/evals.py): MAUVE/FID
against the private questions, the synthetic set's IFD, copies of private records in it, and, with
``--canaries N`` (default 8), an AUDIT run: N canary records planted in the private data, their
exposure in the DP proxy and the final target, and their secrets searched in the synthetic set.
The canaries change the private set (N more records, part of the DP plan): ``--canaries 0`` for
utility figures of the unmodified data.
"""
from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
from pathlib import Path

from benchmarks.bench_run import LAUNCHER, REPO, gib  # noqa: F401  (LAUNCHER: peak RSS of a child tree)

METHODS = ("rewardds", "non_private", "dp_sgd", "icl", "self_instruct", "self_instruct_icl", "dp_gene", "dp_instruct",
           "dp_instruct_icl")
TARGET_RATIO = 4.0
SMALL_ARGS = ["--quick", "--methods", "rewardds,icl,dp_instruct,non_private"]
EVALS = ["eval.similarity=true", "eval.ifd=true", "eval.leakage=true", "eval.pii=true"]  # the comparison's extra evaluations
CANARIES = 8


def build_parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(prog="python -m benchmarks.bench_methods", description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true", help="add experiment=smoke")
    ap.add_argument("--methods", default=",".join(METHODS),
                    help="comma-separated method names, or 'all' for every registered method (knowledgesg, pe too)")
    ap.add_argument("--args", nargs="+", default=[], metavar="OVERRIDE", help="extra Hydra overrides for every run")
    ap.add_argument("--workdir", default=None, help="keep caches, runs and logs here (default: a temp dir, removed)")
    ap.add_argument("--json", action="store_true", help="print one JSON object instead of the table")
    ap.add_argument("--canaries", type=int, default=CANARIES,
                    help="canary records planted for the end-to-end leakage audit (eval.canaries; 0: none)")
    ap.add_argument("--no-evals", action="store_true", help="skip MAUVE/FID, IFD, the copy scan and the PII attack (eval.*)")
    return ap


def evaluations(a) -> list[str]:
    """The eval.* overrides of the comparison: leakage and data quality, canaries unless 0."""
    if a.canaries < 0:
        raise SystemExit("error: --canaries must be >= 0")
    return ([] if a.no_evals else list(EVALS)) + ([f"eval.canaries={a.canaries}"] if a.canaries else [])


def _measure(args: list[str], log: Path) -> dict:
    import os
    import subprocess
    import time

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


def run(argv: list[str] | None = None) -> dict:
    a = build_parser().parse_args(argv)
    if a.methods == "all":
        from rewardds.recipes import METHODS as REGISTERED

        methods = list(REGISTERED)
    else:
        methods = [m for m in a.methods.split(",") if m]
    common = (["experiment=smoke"] if a.quick else []) + ["task=medical", "dp.epsilon=4"] + evaluations(a)
    common += list(a.args)
    work = Path(a.workdir) if a.workdir else Path(tempfile.mkdtemp(prefix="bench-methods-"))
    for sub in ("cache-one", "cache-all", "one", "sweep"):
        shutil.rmtree(work / sub, ignore_errors=True)
    try:
        one = _measure(common + ["method=rewardds", f"cache.dir={work / 'cache-one'}", f"hydra.run.dir={work / 'one'}"],
                       work / "one.log")
        sweep = work / "sweep"
        allm = _measure(["-m", *common, f"method={','.join(methods)}", f"cache.dir={work / 'cache-all'}",
                         f"hydra.sweep.dir={sweep}"], work / "sweep.log")
        from rewardds.report import write_report

        report = write_report(sweep) if sweep.exists() else {}
        table = (sweep / "report.md").read_text() if (sweep / "report.md").exists() else ""
        return {"methods": methods, "overrides": common, "one": one, "all": allm,
                "ratio": round(allm["wall_s"] / one["wall_s"], 2) if one["wall_s"] else None,
                "target_ratio": TARGET_RATIO, "report": table, "jobs": len(report.get("rows", []) or [])}
    finally:
        if not a.workdir:
            shutil.rmtree(work, ignore_errors=True)


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    result = run(argv)
    if args.json:
        print(json.dumps(result, indent=2))
    else:
        one, allm = result["one"], result["all"]
        print(f"bench_methods: {' '.join(result['overrides'])}")
        print(f"  method=rewardds alone (fresh cache): {one['wall_s']:.1f} s, peak RSS {gib(one['peak_rss_bytes'])}, "
              f"exit {one['rc']}")
        print(f"  {len(result['methods'])} methods, one multirun, one shared cache: {allm['wall_s']:.1f} s, peak RSS "
              f"{gib(allm['peak_rss_bytes'])}, exit {allm['rc']}")
        ok = result["ratio"] is not None and result["ratio"] <= TARGET_RATIO
        print(f"  ratio {result['ratio']}x (target <= {TARGET_RATIO}x): {'met' if ok else 'MISSED'}")
        print(result["report"])
    return 0 if result["one"]["rc"] == 0 and result["all"]["rc"] == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
