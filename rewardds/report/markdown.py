"""``report.md``: the summary, the methods table with its paired differences, the
leakage and filter tables, the plot, the per-job table and the failed jobs.

Every table says in words what its numbers are (which model, which interval,
over what), because a reader picks a method from this page alone.
"""
from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from rewardds.report.aggregate import comparison_metrics
from rewardds.report.compare import diff_cell, excludes_cell, has_items, headroom_lines, item_counts, paired_points
from rewardds.report.quality import filter_lines, leakage_lines
from rewardds.report.sweep import comparison_keys, fixed_overrides, methods_vary, swept_keys, target_metrics
from rewardds.report.values import DISPLAY, EPSILON_KEY, METHOD_KEY, fmt, md_escape, md_table

NOTE_CHARS = 60  # guarantee notes are shortened to about this length in the markdown table


def status_text(r: dict) -> str:
    if r["status"] != "ok":
        return "FAILED"
    if r["formal_guarantee"] is False:
        return "ok (no formal DP guarantee)"
    if r["error"]:
        return f"ok ({r['error']})"
    return "ok"


def value_cell(value: Any, ci: tuple[float, float] | None) -> str:
    """One job's metric: ``value [lo, hi]`` (the interval when the job reported one)."""
    text = fmt(value)
    if text and ci is not None:
        text += f" [{fmt(ci[0])}, {fmt(ci[1])}]"
    return text


def stat_cell(st: dict | None) -> str:
    """A comparison cell: ``mean ± std [lo, hi]`` (± only with several seeds, [..] only with intervals)."""
    if not st or st["mean"] is None:
        return ""
    text = fmt(st["mean"])
    if st["n"] > 1 and st["std"] is not None:
        text += f" ± {fmt(st['std'])}"
    if st["lo"] is not None and st["hi"] is not None:
        text += f" [{fmt(st['lo'])}, {fmt(st['hi'])}]"
    return text


def range_cell(values: list, fmt_one=fmt) -> str:
    """One value when the seeds agree, else ``min–max``."""
    if not values:
        return ""
    lo, hi = min(values), max(values)
    return fmt_one(lo) if lo == hi else f"{fmt_one(lo)}–{fmt_one(hi)}"


def short_note(note: str, limit: int = NOTE_CHARS) -> str:
    """The first sentence of a guarantee note, cut at a word boundary near ``limit`` characters."""
    text = " ".join(str(note).split())
    text = re.split(r"(?<=[.;])\s", text, maxsplit=1)[0].rstrip(".;")
    if len(text) <= limit:
        return text
    cut = text[:limit].rsplit(" ", 1)[0].rstrip(",:;")
    return cut + "…"


def epsilon_cell(g: dict) -> str:
    if g["formal_guarantee"] is False:
        return f"none ({short_note(g['guarantee_note'])})" if g["guarantee_note"] else "none"
    return range_cell(g["epsilons"])


def seeds_cell(g: dict) -> str:
    return f"{len(g['ok'])}" + (f" (+{g['n_failed']} failed)" if g["n_failed"] else "")


METHODS_EXPLAINED = (
    "One row per method{settings}; every metric is the fine-tuned target model's on the test split "
    "(`eval.target`); fine-tuned model: which model that is (`metrics.json` fine_tuned_model: the config "
    "model and its checkpoint; every method fine-tunes `model.target` unless configured otherwise, `-` for "
    "job folders written before it was recorded). With one seed a cell is `value [lo, hi]`; with several seeds (jobs that differ only in "
    "`seed`) it is `mean ± std [lo, hi]`: the mean over seeds, the sample standard deviation over seeds "
    "(n − 1 denominator; the seeds column gives n, and how many jobs of that row failed) and the bounds "
    "averaged over seeds. [lo, hi] is the 95% percentile bootstrap interval over test items (the test "
    "questions resampled with replacement, the same resamples for every metric of a model; "
    "`metrics.json` eval.target.ci95). ppl: perplexity of the reference answers, lower is better. Test items: "
    "the number of test questions scored. Synthetic size: the synthetic training set (`synthetic_size`; blank "
    "when the method has none). Composed ε: the accountant's total ε for everything released "
    "(`privacy.json` total.epsilon, a range when seeds differ) at δ; `none (...)`: no formal DP guarantee, "
    "with the reason (`guarantee_note`, shortened). `report_methods.csv` has the same rows with every number "
    "in its own column."
)

PAIRED_EXPLAINED = (
    "Paired differences ({name}, {direction} is better): `{name} − base` is the target minus the untuned base "
    "model evaluated inside the same job (`metrics.json` eval.base){ref_text}. They are computed on the "
    "per-item scores (`items.jsonl`) of the test items both sides scored, matched by id: {items} test items "
    "per job. Every run of a sweep scores the same items (`eval.max_test` of them drawn with `task.data.seed`, "
    "not the run's seed). Each cell is `diff [lo, hi]`: the 95% PAIRED percentile bootstrap interval (1000 "
    "resamples of the test items, the same resampled items for both sides, each side's statistic recomputed "
    "on them, perplexity as exp(sum NLL / sum tokens), then differenced). With several seeds the seeds are "
    "resampled first, then the items within each drawn seed (two-level bootstrap), and the difference is "
    "the mean over seeds of the per-seed paired difference. Excludes 0: `yes` when the interval does not "
    "hold 0, i.e. this test set separates the two; `no`: no clear difference. `-`: nothing to pair (job "
    "folders without per-item scores, or no matching reference job). `report_methods.csv` has the paired "
    "differences of every metric."
)


def _paired_columns(groups: list[dict], metric: str) -> tuple[list[str], list[list[str]], str | None]:
    """Header cells, body cells per group and the reference method (None when not in the sweep)."""
    reference = next((g["paired"]["reference_method"] for g in groups if g.get("paired", {}).get("reference_method")),
                     None)
    name = DISPLAY.get(metric, metric)
    header = [f"{name} − base", "excludes 0 (base)"]
    if reference:
        header += [f"{name} − {reference}", f"excludes 0 ({reference})"]
    body = []
    for g in groups:
        p = g.get("paired", {})
        d = (p.get("base") or {}).get(metric)
        cells = [diff_cell(d), excludes_cell(d)]
        if reference:
            if p.get("is_reference"):
                cells += ["(reference)", "-"]
            else:
                r = (p.get("reference") or {}).get(metric)
                cells += [diff_cell(r), excludes_cell(r)]
        body.append(cells)
    return header, body, reference


def methods_lines(rows: list[dict], groups: list[dict], metric: str | None = None) -> list[str]:
    """The methods table; with per-item scores also the paired differences on ``metric`` and the headroom."""
    keys = comparison_keys(rows)
    metrics = comparison_metrics([r for r in rows if r["status"] == "ok"])
    settings = f" and setting of {', '.join(f'`{k}`' for k in keys)}" if keys else ""
    header = ["method", "fine-tuned model"] + keys + ["seeds"] + [DISPLAY.get(m, m) for m in metrics] + [
        "test items", "synthetic size", "composed ε", "δ"]
    body = []
    for g in groups:
        body.append([g["method"] or "?", ", ".join(g.get("models") or []) or "-"]
                    + [g["settings"].get(k, "") for k in keys] + [seeds_cell(g)]
                    + [stat_cell(g["metrics"].get(m)) for m in metrics]
                    + [range_cell(g["n_items"], str), range_cell(g["synthetic_sizes"], str), epsilon_cell(g),
                       range_cell(g["deltas"], lambda d: fmt(d, 3))])
    paired_text: list[str] = []
    if metric and has_items(rows):
        p_header, p_body, reference = _paired_columns(groups, metric)
        header += p_header
        body = [cells + extra for cells, extra in zip(body, p_body)]
        counts = item_counts(groups, metric)
        items = range_cell(counts, str) if counts else "no"
        ref_text = (f", and `{DISPLAY.get(metric, metric)} − {reference}` the target minus the reference method "
                    f"`{reference}`'s target (`--reference`) at the same settings, job paired with job by `seed`"
                    if reference else " (the reference method, `--reference`, is not in this sweep)")
        direction = "lower" if metric == "ppl" else "higher"
        paired_text = [PAIRED_EXPLAINED.format(name=DISPLAY.get(metric, metric), direction=direction,
                                               ref_text=ref_text, items=items), ""]
        paired_text += [part for line in headroom_lines(groups, metric, keys) for part in (line, "")]
    elif metric:
        paired_text = ["No job folder has per-item scores (`items.jsonl`, written by model evaluations since "
                       "paired comparisons exist), so no paired differences.", ""]
    return ["## Methods", "", METHODS_EXPLAINED.format(settings=settings), "", *paired_text,
            *md_table(header, body, left=["method", "fine-tuned model", "composed ε"]), ""]


def job_lines(rows: list[dict]) -> list[str]:
    """The per-job table: swept values, privacy figures, target metrics with intervals, status."""
    keys = swept_keys(rows)
    other_keys = [k for k in keys if k != EPSILON_KEY]
    method_col = methods_vary(rows) and METHOD_KEY not in other_keys
    metrics = target_metrics(rows)
    any_ci = any(r["ci95"].get("target") for r in rows)
    lines = ["Budget ε: the requested budget (`privacy.json` budget.epsilon); composed ε: what the "
             "accountant composed for the whole release (total.epsilon), with its δ. "
             "Metrics: the fine-tuned target model on the test split"
             + ("; [lo, hi]: the 95% bootstrap interval over test items." if any_ci else "."), ""]
    header = ["job"] + (["method"] if method_col else []) + other_keys + ["budget ε", "composed ε", "δ"] \
        + [f"target {m}" for m in metrics] + ["wall time (s)", "status"]
    body = []
    for r in rows:
        target, cis = r["eval"].get("target", {}), r["ci95"].get("target", {})
        body.append([r["job"]] + ([r["method"] or ""] if method_col else [])
                    + [r["overrides"].get(k, "") for k in other_keys]
                    + [fmt(r["budget_epsilon"]), fmt(r["epsilon"]), fmt(r["delta"], 3)]
                    + [value_cell(target.get(m), cis.get(m)) for m in metrics]
                    + ["" if r["wall_time_s"] is None else f"{r['wall_time_s']:.1f}", status_text(r)])
    return lines + md_table(header, body, left=["method", "status"]) + [""]


def markdown_text(rows: list[dict], sweep_dir: Path, metric: str | None, png_name: str,
                  groups: list[dict] | None = None, plot: str = "epsilon") -> str:
    """report.md: summary, the methods table (method/seed sweeps only), the plot, the jobs, the failures."""
    fixed = fixed_overrides(rows)
    n_ok = sum(r["status"] == "ok" for r in rows)
    failed = [r for r in rows if r["status"] != "ok"]
    tasks = sorted({r["task"] for r in rows if r["task"]})

    lines = [f"# Sweep report: {sweep_dir}", ""]
    lines.append(f"{len(rows)} jobs: {n_ok} completed, {len(failed)} failed."
                 + (f" Task: {', '.join(tasks)}." if tasks else ""))
    if fixed:
        lines.append("Fixed overrides: " + ", ".join(f"`{k}={v}`" for k, v in fixed.items()) + ".")
    lines.append("")
    image = []
    if metric:
        against, points = paired_points(groups or [], metric)
        right = (f"; right: target − {against} per method, error bars: the 95% paired bootstrap interval, "
                 "line at 0" if points and has_items(rows) else "")
        if plot == "method":
            image = [f"![target {metric} by method; error bars: the 95% bootstrap interval, "
                     f"± one std over seeds when aggregated{right}]({png_name})", ""]
        else:
            image = [f"![privacy-utility: target {metric} vs budget ε{right}]({png_name})", ""]
    if groups is not None:  # comparison first, then the jobs it aggregates
        lines += methods_lines(rows, groups, metric) + leakage_lines(rows, groups) + filter_lines(rows, groups)
        lines += image + ["## Jobs", ""] + job_lines(rows)
    else:
        lines += job_lines(rows) + image
    if failed:
        lines.append("## Failed jobs")
        lines.append("")
        for r in failed:
            ov = " ".join(f"{k}={v}" for k, v in r["overrides"].items()) or "(overrides unknown)"
            lines.append(f"- job `{r['job']}` ({md_escape(ov)}): {md_escape(r['error'] or 'unknown error')}")
            lines.append(f"  - log: `{r['log']}`" if r["log"] else "  - log: none found")
        lines.append("")
    return "\n".join(lines)
