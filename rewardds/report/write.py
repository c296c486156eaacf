"""``write_report``: collect a sweep, aggregate it, write report.md, the CSV files and the PNG.

The one place that decides which files a report has, so the command line and
the Python API (benchmarks call it) write the same report.
"""
from __future__ import annotations

from pathlib import Path

from rewardds.io import write_bytes, write_text
from rewardds.report.aggregate import aggregate, comparison_metrics
from rewardds.report.collect import collect
from rewardds.report.compare import DEFAULT_REFERENCE
from rewardds.report.csv_files import csv_text, methods_csv_text
from rewardds.report.markdown import markdown_text
from rewardds.report.plot import plot_png
from rewardds.report.sweep import choose_metric, comparison_keys, is_comparison, plot_mode


def write_report(sweep_dir, out_dir=None, metric: str | None = None, reference: str | None = DEFAULT_REFERENCE) -> dict:
    """Collect the sweep and write report.md, report.csv, privacy_utility.png (and
    report_methods.csv for a method/seed sweep). ``metric``: the plotted one, also the
    metric of the paired columns in report.md (default: pass@1 for code, else
    rougeL); ``reference``: the method every other is paired with (besides the base;
    ignored when not in the sweep). Returns rows, groups (None unless a comparison),
    the chosen metric, the plot mode and the paths written."""
    sweep_dir = Path(sweep_dir)
    out = Path(out_dir) if out_dir is not None else sweep_dir
    rows = collect(sweep_dir)
    chosen = choose_metric(rows, metric)
    ok = [r for r in rows if r["status"] == "ok"]
    metrics = comparison_metrics(ok)
    paired_metrics = metrics + ([chosen] if chosen and chosen not in metrics else [])
    all_groups = aggregate(rows, reference=reference, paired_metrics=paired_metrics)
    groups = all_groups if is_comparison(rows) else None
    mode = plot_mode(rows)
    paths = {"md": out / "report.md", "csv": out / "report.csv", "png": out / "privacy_utility.png"}
    if groups is not None:
        paths["methods_csv"] = out / "report_methods.csv"
        write_text(paths["methods_csv"], methods_csv_text(groups, comparison_keys(rows), metrics))
    write_text(paths["csv"], csv_text(rows))
    # the paired panel belongs to the methods table: only for a method/seed comparison
    write_bytes(paths["png"], plot_png(rows, chosen, all_groups, mode, paired_panel=groups is not None))
    write_text(paths["md"], markdown_text(rows, sweep_dir, chosen, paths["png"].name, groups, mode) + "\n")
    return {"rows": rows, "groups": groups, "metric": chosen, "plot": mode, "paths": paths}
