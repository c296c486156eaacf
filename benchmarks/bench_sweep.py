"""Cost of a 4-point filter sweep with a shared cache, relative to one full run.

    python -m benchmarks.bench_sweep           # python run.py task=medical dp.epsilon=4 filter.keep_ratio=...
    python -m benchmarks.bench_sweep --quick   # the same with experiment=smoke
    python -m benchmarks.bench_sweep --points 0.125,0.5 --json

First one full run with its own fresh cache (the baseline), then the sweep: one
run per ``filter.keep_ratio`` value, sequentially, all sharing a second fresh
cache folder - what a SLURM array with a shared cache does, minus the
parallelism. Reported: the baseline's and each point's wall time, the ratio
``sum(sweep walls) / baseline wall`` (target <= 1.5), which stages each run
computed or found in the cache (``stage_log.jsonl``), and - for the points after
the first - which recomputed stages dominate the per-point cost.
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import sys
import tempfile
from pathlib import Path

from benchmarks.bench_run import add_common, base_overrides, hits, load, run_pipeline, stage_table

POINTS = "0.125,0.25,0.5,1.0"
TARGET_RATIO = 1.5

SMALL_ARGS = ["--quick"]  # used by `python -m benchmarks`


def build_parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(prog="python -m benchmarks.bench_sweep", description=__doc__.split("\n\n")[0])
    add_common(ap)
    ap.add_argument("--points", default=POINTS, help="filter.keep_ratio values, comma-separated")
    return ap


def per_point_costs(points: list[dict]) -> list[dict]:
    """Stages recomputed by the sweep points after the first (the marginal cost of a point)."""
    later = points[1:]
    if not later:
        return []
    by_stage: dict[str, list[float]] = {}
    for p in later:
        for s in p["stages"]:
            if not s["cache_hit"]:
                by_stage.setdefault(s["stage"], []).append(s["seconds"])
    walls = [p["wall_s"] for p in later]
    mean_wall = statistics.mean(walls)
    n = len(later)
    rows = [{"stage": st, "runs": len(v), "mean_s": round(sum(v) / n, 2),  # per point, 0 where it was a hit
             "share_of_point_wall": round(sum(v) / n / mean_wall, 3) if mean_wall else None}
            for st, v in by_stage.items()]
    rows.sort(key=lambda r: -r["mean_s"])
    hit_s = sum(s["seconds"] for p in later for s in p["stages"] if s["cache_hit"]) / n
    outside = sum(p["wall_s"] - sum(s["seconds"] for s in p["stages"]) for p in later) / n
    rows.append({"stage": "(cache hits, all stages)", "runs": n, "mean_s": round(hit_s, 2),
                 "share_of_point_wall": round(hit_s / mean_wall, 3) if mean_wall else None})
    rows.append({"stage": "(outside stages)", "runs": n,
                 "mean_s": round(outside, 2), "share_of_point_wall": round(outside / mean_wall, 3) if mean_wall else None})
    return rows


def render(result: dict) -> str:
    b = result["baseline"]
    title = (f"bench_sweep: {result['command']} filter.keep_ratio={{{result['points']}}}; load avg "
             f"{result['load_avg_before']:.2f} before")
    lines = [title,
             f"{'run':<14} {'wall s':>8} {'cpu s':>8} {'cache hits':>10} {'exit':>5} {'load before/after':>18}",
             f"{'baseline':<14} {b['wall_s']:8.1f} {b['cpu_s']:8.1f} {hits(b['stages']):>10} {b['rc']:>5} {load(b):>18}"]
    for p in result["sweep"]:
        lines.append(f"{'kr=' + p['keep_ratio']:<14} {p['wall_s']:8.1f} {p['cpu_s']:8.1f} {hits(p['stages']):>10} "
                     f"{p['rc']:>5} {load(p):>18}")
    for r in [b, *result["sweep"]]:
        if r.get("error"):
            lines.append(f"error in {r['command']}: {r['error']} (log: {r['log']})")
    if result.get("ratio") is not None:
        ok = "ok" if result["ratio"] <= TARGET_RATIO else "ABOVE"
        lines.append(f"sweep / one run = {result['sweep_wall_s']:.1f} s / {b['wall_s']:.1f} s = "
                     f"{result['ratio']:.2f}x   (target <= {TARGET_RATIO}x: {ok})")
        lines.append(f"sweep / its first point (also a cold run) = {result['ratio_vs_first_point']:.2f}x")
    lines.append("stage seconds per run (stage_log.jsonl; 'hit' = cache hit):")
    lines += ["  " + ln for ln in stage_table([("baseline", b), *[("kr=" + p["keep_ratio"], p) for p in result["sweep"]]])]
    if result.get("per_point"):
        lines.append("marginal cost of a sweep point (points 2..n: recomputed stages, seconds per point, share of its wall):")
        for r in result["per_point"]:
            share = f"{100 * r['share_of_point_wall']:5.1f}%" if r["share_of_point_wall"] is not None else "      "
            note = "" if r["stage"].startswith("(") else f"  (recomputed in {r['runs']} of {len(result['sweep']) - 1})"
            lines.append(f"  {r['stage']:<28} {r['mean_s']:8.1f} s {share}{note}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(sys.argv[1:] if argv is None else argv)
    overrides = base_overrides(args)
    points = [p.strip() for p in args.points.split(",") if p.strip()]
    work = Path(args.workdir) if args.workdir else Path(tempfile.mkdtemp(prefix="rewardds-bench-sweep-"))
    work.mkdir(parents=True, exist_ok=True)
    for c in ("cache_baseline", "cache_sweep"):
        shutil.rmtree(work / c, ignore_errors=True)
    result = {"benchmark": "sweep", "command": " ".join(["python", Path(args.run_script).name, *overrides]), "points": ",".join(points),
              "workdir": str(work), "load_avg_before": os.getloadavg()[0], "sweep": []}
    failed = False
    try:
        result["baseline"] = run_pipeline(overrides, work / "run_baseline", work / "cache_baseline",
                                          work / "baseline.log", args.run_script, args.sample_interval)
        failed = result["baseline"]["rc"] != 0
        for i, kr in enumerate(points):
            if failed:
                break
            r = run_pipeline([*overrides, f"filter.keep_ratio={kr}"], work / f"run_sweep_{i}", work / "cache_sweep",
                             work / f"sweep_{i}.log", args.run_script, args.sample_interval)
            r["keep_ratio"] = kr
            result["sweep"].append(r)
            failed = r["rc"] != 0
        if not failed:
            result["sweep_wall_s"] = round(sum(p["wall_s"] for p in result["sweep"]), 2)
            result["ratio"] = round(result["sweep_wall_s"] / result["baseline"]["wall_s"], 3)
            # the first point is itself a full run on a fresh cache: the same ratio without the separate
            # baseline, so without the run-to-run (load) noise between two cold runs
            result["ratio_vs_first_point"] = round(result["sweep_wall_s"] / result["sweep"][0]["wall_s"], 3)
            result["target_ratio"] = TARGET_RATIO
            result["per_point"] = per_point_costs(result["sweep"])
        print(json.dumps(result, indent=1) if args.json else render(result))
    finally:
        if not args.workdir and not failed:
            shutil.rmtree(work, ignore_errors=True)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
