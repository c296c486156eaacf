"""Sweep report: ``python -m rewardds.report SWEEP_DIR [--metric M] [--reference METHOD] [--out DIR]``.

Bad input ends with one ``error: ...`` line naming the folder or file and exit
status 2 (as ``run.py``); notes about fallbacks go to stderr and the report is
still written.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from rewardds.errors import RewarddsError
from rewardds.report.collect import job_dirs
from rewardds.report.compare import DEFAULT_REFERENCE
from rewardds.report.logs import submitit_dirs
from rewardds.report.sweep import default_metric
from rewardds.report.write import write_report


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m rewardds.report", description=__doc__.splitlines()[0])
    p.add_argument("sweep_dir", help="Hydra multirun folder (hydra.sweep.dir)")
    p.add_argument("--metric", default=None,
                   help="target metric for the plot and the paired columns (default: pass@1 for code jobs, "
                        "rougeL otherwise; falls back to another metric when absent)")
    p.add_argument("--reference", default=None,
                   help=f"method every other method is paired with, besides the untuned base (default: "
                        f"{DEFAULT_REFERENCE}; not in the sweep: only the base columns)")
    p.add_argument("--out", default=None, help="output folder (default: SWEEP_DIR)")
    return p


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    sweep_dir = Path(args.sweep_dir)
    if not sweep_dir.is_dir():
        print(f"error: sweep dir not found: {sweep_dir}", file=sys.stderr)
        return 2
    if not job_dirs(sweep_dir) and not submitit_dirs(sweep_dir):
        print(f"error: no job folders in {sweep_dir}", file=sys.stderr)
        return 2
    try:
        result = write_report(sweep_dir, args.out, args.metric, reference=args.reference or DEFAULT_REFERENCE)
    except RewarddsError as exc:  # a malformed items.jsonl: the message names file and line
        print(f"error: {exc}", file=sys.stderr)
        return 2
    rows = result["rows"]
    wanted = args.metric or default_metric(rows)
    if result["metric"] is None:
        print("note: no completed job has target metrics; the plot is empty", file=sys.stderr)
    elif result["metric"] != wanted:
        print(f"note: metric {wanted!r} not found; plotted {result['metric']!r}", file=sys.stderr)
    if args.reference and not any(r["method"] == args.reference for r in rows):
        print(f"note: reference method {args.reference!r} is not in the sweep; paired columns against the base "
              "only", file=sys.stderr)
    n_failed = sum(r["status"] != "ok" for r in rows)
    extra = f", {result['paths']['methods_csv'].name}" if "methods_csv" in result["paths"] else ""
    print(f"{len(rows)} jobs ({n_failed} failed) -> {result['paths']['md']}, "
          f"{result['paths']['csv'].name}{extra}, {result['paths']['png'].name}")
    for r in rows:
        if r["status"] != "ok":
            print(f"  failed job {r['job']}: {r['error']} (log: {r['log']})")
    return 0
