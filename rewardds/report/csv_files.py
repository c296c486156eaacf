"""``report.csv`` (one row per job) and ``report_methods.csv`` (one row per comparison
group): every number of the markdown tables in its own column, at full precision,
for spreadsheets and scripts.  Blank cells: not known (a failed job, a metric the
job did not report, no per-item scores to pair).
"""
from __future__ import annotations

import csv
import io
import statistics
from typing import Any

from rewardds.report.aggregate import stat
from rewardds.report.quality import set_metric_keys
from rewardds.report.values import MAIN_METRICS, csv_bool, csv_num


def csv_text(rows: list[dict]) -> str:
    """report.csv: per job its overrides, privacy figures, every eval metric (with ci bounds), set metrics, status."""
    keys: list[str] = []
    for r in rows:
        for k in r["overrides"]:
            if k not in keys:
                keys.append(k)
    splits: dict[str, list[str]] = {}
    for r in rows:
        for split, vals in r["eval"].items():
            names = splits.setdefault(split, [])
            names.extend(k for k in vals if k not in names)
    eval_cols = []
    for split in sorted(splits, key=lambda s: (s != "target", s)):
        main = [m for m in MAIN_METRICS if m in splits[split]]
        eval_cols += [(split, m) for m in main + sorted(set(splits[split]) - set(main))]
    has_ci = {(s, m) for r in rows for s, cis in r["ci95"].items() for m in cis}
    header = (
        ["job", "method"] + keys
        + ["budget_epsilon", "epsilon", "epsilon_basic_composition", "delta", "formal_guarantee", "guarantee_note",
           "synthetic_size"]
    )
    for s, m in eval_cols:
        header.append(f"{s}.{m}")
        if (s, m) in has_ci:
            header += [f"{s}.{m}_ci_lo", f"{s}.{m}_ci_hi"]
    set_keys = set_metric_keys(rows)
    header += set_keys + ["wall_time_s", "status", "error", "log", "job_dir"]
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(header)
    for r in rows:
        cells = (
            [r["job"], r["method"] or ""] + [r["overrides"].get(k, "") for k in keys]
            + [csv_num(r["budget_epsilon"]), csv_num(r["epsilon"]), csv_num(r["epsilon_basic_composition"]),
               csv_num(r["delta"]), csv_bool(r["formal_guarantee"]), r["guarantee_note"] or "",
               csv_num(r["synthetic_size"])]
        )
        for s, m in eval_cols:
            cells.append(csv_num(r["eval"].get(s, {}).get(m)))
            if (s, m) in has_ci:
                ci = r["ci95"].get(s, {}).get(m)
                cells += [csv_num(ci[0]), csv_num(ci[1])] if ci else ["", ""]
        cells += [csv_num(r["set_metrics"].get(k)) for k in set_keys]
        w.writerow(cells + [csv_num(r["wall_time_s"]), r["status"], r["error"] or "", r["log"] or "",
                            r["job_dir"] or ""])
    return buf.getvalue()


def mean_or_int(values: list) -> Any:
    if not values:
        return None
    m = statistics.fmean(values)
    return int(m) if float(m).is_integer() else m


def _paired_header(side: str, metrics: list[str]) -> list[str]:
    return ([f"{m}_vs_{side}{suffix}" for m in metrics for suffix in ("", "_lo", "_hi", "_excludes_0")]
            + [f"vs_{side}_n_items", f"vs_{side}_n_seeds"])


def _paired_cells(diffs: dict | None, metrics: list[str]) -> list[str]:
    """diff, lo, hi, excludes_0 per metric, then the shared items (fewest over seeds) and seeds paired."""
    diffs = diffs or {}
    cells = []
    for m in metrics:
        d = diffs.get(m)
        cells += ([csv_num(d["diff"]), csv_num(d["ci95"][0]), csv_num(d["ci95"][1]), csv_bool(d["excludes_0"])]
                  if d else ["", "", "", ""])
    any_d = next((d for d in diffs.values() if d), None)
    return cells + ([str(any_d["n"]), str(any_d["n_seeds"])] if any_d else ["", ""])


def methods_csv_text(groups: list[dict], keys: list[str], metrics: list[str]) -> str:
    """The methods table, one row per comparison group, numbers in separate columns.

    Per metric: the mean over seeds, ``_std`` (sample std, blank for one seed) and
    ``_ci_lo``/``_ci_hi`` (the 95% bootstrap bounds, averaged over seeds).
    ``epsilon``/``delta``: the largest composed value among the seeds;
    ``synthetic_size``/``n_items``: the mean over seeds.  Paired differences
    (:mod:`.compare`): ``<metric>_vs_base`` with ``_lo``, ``_hi`` (95% paired
    interval) and ``_excludes_0``, ``vs_base_n_items`` (test items shared, the
    fewest over seeds) and ``vs_base_n_seeds``; the same with ``vs_reference``
    and a ``reference`` column when the reference method is in the sweep.
    """
    reference = next((g["paired"]["reference_method"] for g in groups if g.get("paired", {}).get("reference_method")),
                     None)
    header = (["method"] + keys + ["budget_epsilon", "n_seeds", "n_failed", "seeds"]
              + [f"{m}{suffix}" for m in metrics for suffix in ("", "_std", "_ci_lo", "_ci_hi")]
              + ["n_items", "synthetic_size", "epsilon", "delta", "formal_guarantee", "guarantee_note"])
    header += _paired_header("base", metrics)
    if reference:
        header += ["reference"] + _paired_header("reference", metrics)
    set_keys = set_metric_keys({"set_metrics": g.get("set_metrics", {})} for g in groups)
    header += [f"{k}{suffix}" for k in set_keys for suffix in ("", "_std")]
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(header)
    for g in groups:
        cells = [g["method"] or ""] + [g["settings"].get(k, "") for k in keys] + [
            csv_num(g["budget_epsilon"]), str(len(g["ok"])), str(g["n_failed"]), " ".join(g["seeds"])]
        for m in metrics:
            st = g["metrics"].get(m) or stat([], [])
            cells += [csv_num(st["mean"]), csv_num(st["std"]), csv_num(st["lo"]), csv_num(st["hi"])]
        cells += [csv_num(mean_or_int(g["n_items"])), csv_num(mean_or_int(g["synthetic_sizes"])),
                  csv_num(max(g["epsilons"]) if g["epsilons"] else None),
                  csv_num(max(g["deltas"]) if g["deltas"] else None),
                  csv_bool(g["formal_guarantee"]), g["guarantee_note"] or ""]
        paired = g.get("paired", {})
        cells += _paired_cells(paired.get("base"), metrics)
        if reference:
            cells += [reference] + _paired_cells(paired.get("reference"), metrics)
        for k in set_keys:
            st = g.get("set_metrics", {}).get(k) or stat([], [])
            cells += [csv_num(st["mean"]), csv_num(st["std"])]
        w.writerow(cells)
    return buf.getvalue()
