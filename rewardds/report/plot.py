"""``privacy_utility.png``: the target metric against the privacy budget or by method,
and, when the jobs wrote per-item scores, a second panel with each method's paired
difference to the reference method (or to the base) and its 95% paired interval.

matplotlib is imported inside the functions that draw: it is heavy and only the
PNG needs it (the tables, the CSV and the library API do not).
"""
from __future__ import annotations

import io
import math

from rewardds.report.aggregate import aggregate, error_bar
from rewardds.report.compare import item_counts, paired_points
from rewardds.report.sweep import comparison_keys, methods_vary, plot_mode, swept_keys
from rewardds.report.values import EPSILON_KEY, HIGHER_IS_BETTER_EXCEPT, METHOD_KEY, fmt, to_float


def _line_label(g: dict, with_method: bool, keys: list[str]) -> str:
    parts = ([g["method"] or "?"] if with_method else []) + [f"{k}={g['settings'].get(k, '?')}" for k in keys]
    return ", ".join(parts) or "all jobs"


def _errorbars(ax, xs, stats, color) -> None:
    bars = [error_bar(st) for st in stats]
    if any(b != (0.0, 0.0) for b in bars):
        ax.errorbar(xs, [st["mean"] for st in stats], yerr=[[b[0] for b in bars], [b[1] for b in bars]],
                    fmt="none", ecolor=color, elinewidth=1, capsize=3, zorder=2)


def _base_line(ax, ok: list[dict], metric: str) -> None:
    base = [to_float(r["eval"].get("base", {}).get(metric)) for r in ok]
    base = [b for b in base if b is not None and math.isfinite(b)]
    if base:
        ax.axhline(sum(base) / len(base), color="gray", linestyle="-.", linewidth=1,
                   label="base model (not fine-tuned)")


def _colors() -> list[str]:
    import matplotlib.pyplot as plt  # heavy: only when drawing

    return plt.rcParams["axes.prop_cycle"].by_key()["color"]


def _plot_epsilon(ax, rows: list[dict], groups: list[dict], metric: str) -> None:
    """Target utility vs budget ε (log x), one line per setting of the other swept keys (and method)."""
    from matplotlib.lines import Line2D  # heavy: only when drawing
    from matplotlib.ticker import NullFormatter, ScalarFormatter

    with_method = methods_vary(rows) or METHOD_KEY in swept_keys(rows)
    keys = [k for k in comparison_keys(rows) if k != EPSILON_KEY]
    lines: dict[str, list[dict]] = {}
    for g in groups:
        if g["metrics"].get(metric, {}).get("mean") is not None:
            lines.setdefault(_line_label(g, with_method, keys), []).append(g)
    colors = _colors()
    xs_all: list[float] = []
    any_composed = False
    for i, (label, grp) in enumerate(lines.items()):
        color = colors[i % len(colors)]
        finite = sorted((g for g in grp if g["budget_epsilon"] is not None
                         and math.isfinite(g["budget_epsilon"]) and g["budget_epsilon"] > 0),
                        key=lambda g: g["budget_epsilon"])
        xs = [g["budget_epsilon"] for g in finite]
        stats = [g["metrics"][metric] for g in finite]
        ys = [st["mean"] for st in stats]
        xs_all += xs
        if xs:
            ax.plot(xs, ys, "-o", color=color, label=label, markersize=6, zorder=3)
            _errorbars(ax, xs, stats, color)
        for g, x, y in zip(finite, xs, ys):
            comp = max(g["epsilons"]) if g["epsilons"] else None
            if g["formal_guarantee"] is not False and comp is not None and math.isfinite(comp) and comp > 0:
                any_composed = True
                xs_all.append(comp)
                ax.plot([x, comp], [y, y], ":", color=color, linewidth=1, zorder=2)
                ax.plot([comp], [y], marker="D", markerfacecolor="none", color=color,
                        linestyle="none", markersize=6, zorder=3)
                ax.annotate(f"{fmt(comp, 3)}", (comp, y), textcoords="offset points",
                            xytext=(4, 5), fontsize=7, color=color)
            elif comp is not None and (math.isinf(comp) or g["formal_guarantee"] is False):
                ax.annotate("composed ε = inf" if math.isinf(comp) else "no formal guarantee", (x, y),
                            textcoords="offset points", xytext=(4, -10), fontsize=7, color=color)
        for g in grp:  # DP off: no epsilon to place on the axis
            if g["budget_epsilon"] is not None and math.isinf(g["budget_epsilon"]):
                ax.axhline(g["metrics"][metric]["mean"], color=color, linestyle="--", linewidth=1,
                           label=f"{label} (no DP)")
    _base_line(ax, [r for r in rows if r["status"] == "ok"], metric)
    if xs_all:
        ax.set_xscale("log")
        ticks = sorted({g["budget_epsilon"] for g in groups if g["budget_epsilon"]
                        and math.isfinite(g["budget_epsilon"])})
        if ticks:
            ax.set_xticks(ticks)
            ax.xaxis.set_major_formatter(ScalarFormatter())
            ax.xaxis.set_minor_formatter(NullFormatter())
        lo, hi = min(xs_all), max(xs_all)
        ax.set_xlim(lo / 1.4, hi * 1.4)
    handles, labels = ax.get_legend_handles_labels()
    handles.append(Line2D([], [], marker="o", color="black", linestyle="none"))
    labels.append("at budget ε")
    if any_composed:
        handles.append(Line2D([], [], marker="D", markerfacecolor="none", color="black", linestyle="none"))
        labels.append("at composed ε (accountant)")
    ax.legend(handles, labels, fontsize=8, loc="best")
    ax.set_xlabel("privacy budget ε (log scale)")
    ax.set_title("utility vs privacy budget")


def _method_axis(ax, methods: list) -> None:
    ax.set_xticks(range(len(methods)))
    ax.set_xticklabels([m or "?" for m in methods], rotation=30, ha="right")
    ax.set_xlim(-0.6, len(methods) - 0.4)
    ax.set_xlabel("method")


def _plot_methods(ax, rows: list[dict], groups: list[dict], metric: str) -> None:
    """One point per method (x: method), one series per setting of the other swept keys."""
    keys = comparison_keys(rows)
    shown = [g for g in groups if g["metrics"].get(metric, {}).get("mean") is not None]
    methods: list = []
    for g in shown:
        if g["method"] not in methods:
            methods.append(g["method"])
    series: dict[str, list[dict]] = {}
    for g in shown:
        series.setdefault(_line_label(g, False, keys), []).append(g)
    colors = _colors()
    width = 0.6 / max(1, len(series))
    for i, (label, grp) in enumerate(series.items()):
        color = colors[i % len(colors)]
        offset = (i - (len(series) - 1) / 2) * width
        xs = [methods.index(g["method"]) + offset for g in grp]
        stats = [g["metrics"][metric] for g in grp]
        ax.plot(xs, [st["mean"] for st in stats], "o", color=color, markersize=7, zorder=3,
                label=label if keys else None)
        _errorbars(ax, xs, stats, color)
        for g, x, st in zip(grp, xs, stats):
            if g["formal_guarantee"] is False:
                ax.annotate("no DP guarantee", (x, st["mean"]), textcoords="offset points", xytext=(5, -10),
                            fontsize=7, color=color)
    _base_line(ax, [r for r in rows if r["status"] == "ok"], metric)
    _method_axis(ax, methods)
    if ax.get_legend_handles_labels()[0]:
        ax.legend(fontsize=8, loc="best")
    budgets = sorted({g["budget_epsilon"] for g in shown if g["budget_epsilon"] is not None
                      and math.isfinite(g["budget_epsilon"])})
    ax.set_title("methods compared" + (f" at budget ε = {fmt(budgets[0])}" if len(budgets) == 1 else ""))


def _plot_paired(ax, rows: list[dict], groups: list[dict], metric: str) -> None:
    """Target − reference (or base) per method, error bars from the 95% paired interval, a line at 0."""
    against, points = paired_points(groups, metric)
    keys = comparison_keys(rows)
    methods: list = []
    for g, _ in points:
        if g["method"] not in methods:
            methods.append(g["method"])
    series: dict[str, list[tuple[dict, dict]]] = {}
    for g, d in points:
        series.setdefault(_line_label(g, False, keys), []).append((g, d))
    colors = _colors()
    width = 0.6 / max(1, len(series))
    ax.axhline(0.0, color="gray", linewidth=1, zorder=1)
    for i, (label, grp) in enumerate(series.items()):
        color = colors[i % len(colors)]
        offset = (i - (len(series) - 1) / 2) * width
        xs = [methods.index(g["method"]) + offset for g, _ in grp]
        ys = [d["diff"] for _, d in grp]
        below = [max(0.0, d["diff"] - d["ci95"][0]) for _, d in grp]
        above = [max(0.0, d["ci95"][1] - d["diff"]) for _, d in grp]
        ax.errorbar(xs, ys, yerr=[below, above], fmt="o", color=color, ecolor=color, elinewidth=1, capsize=3,
                    markersize=7, zorder=3, label=label if keys else None)
    _method_axis(ax, methods)
    if ax.get_legend_handles_labels()[0]:
        ax.legend(fontsize=8, loc="best")
    counts = item_counts(groups, metric)
    items = "" if not counts else f", {counts[0]}" + (f"–{counts[-1]}" if counts[-1] != counts[0] else "") + " items"
    arrow = " (lower is better)" if metric in HIGHER_IS_BETTER_EXCEPT else ""
    ax.set_ylabel(f"target {metric} − {against}{arrow}")
    ax.set_title(f"paired difference to {against} (95% paired interval{items})")
    ax.grid(True, which="both", alpha=0.3)


def plot_png(rows: list[dict], metric: str | None, groups: list[dict] | None = None, mode: str | None = None,
             paired_panel: bool = True) -> bytes:
    """privacy_utility.png: :func:`_plot_epsilon` or :func:`_plot_methods` (see :func:`plot_mode`);
    error bars: the std over seeds for aggregated points, else the job's 95% bootstrap interval.
    With ``paired_panel`` and paired differences on ``metric`` a second panel: :func:`_plot_paired`."""
    import matplotlib  # heavy: only the PNG needs it

    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt

    groups = aggregate(rows) if groups is None else groups
    mode = plot_mode(rows) if mode is None else mode
    ok = [r for r in rows if r["status"] == "ok" and metric
          and to_float(r["eval"].get("target", {}).get(metric)) is not None]
    panel = paired_panel and bool(ok) and bool(paired_points(groups, metric)[1])
    if panel:
        fig, (ax, ax_paired) = plt.subplots(1, 2, figsize=(13, 4.8), dpi=120)
    else:
        fig, ax = plt.subplots(figsize=(7.5, 4.8), dpi=120)
    try:
        if not ok:
            ax.text(0.5, 0.5, "no completed job with a target metric", ha="center", va="center",
                    transform=ax.transAxes)
            ax.set_axis_off()
        else:
            (_plot_methods if mode == "method" else _plot_epsilon)(ax, rows, groups, metric)
            arrow = " (lower is better)" if metric in HIGHER_IS_BETTER_EXCEPT else ""
            ax.set_ylabel(f"target {metric}{arrow}")
            tasks = sorted({r["task"] for r in ok if r["task"]})
            if tasks:
                ax.set_title(f"{'/'.join(tasks)}: {ax.get_title()}")
            ax.grid(True, which="both", alpha=0.3)
            if panel:
                _plot_paired(ax_paired, rows, groups, metric)
            if any(error_bar(g["metrics"].get(metric, {})) != (0.0, 0.0) for g in groups):
                fig.text(0.01, 0.01, "error bars: 95% bootstrap interval over test items; "
                         "± 1 std over seeds where seeds are aggregated"
                         + ("; right: 95% paired bootstrap interval of the difference" if panel else ""),
                         fontsize=7, color="dimgray")
        fig.tight_layout(rect=(0, 0.03, 1, 1))
        buf = io.BytesIO()
        fig.savefig(buf, format="png")
        return buf.getvalue()
    finally:
        plt.close(fig)
