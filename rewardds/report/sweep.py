"""The shape of a sweep: which overrides vary, in what order jobs are listed, which
metric to show, and whether the sweep compares methods.

Decided from the job rows alone (no files), so the tables and the plot of one
report agree on it.
"""
from __future__ import annotations

import math
from typing import Iterable

from rewardds.report.values import (
    EPSILON_KEY,
    FALLBACK_METRICS,
    MAIN_METRICS,
    METHOD_KEY,
    SEED_KEY,
    job_sort_key,
    value_key,
)


def swept_keys(rows: Iterable[dict]) -> list[str]:
    """Override keys whose value differs between jobs (dp.epsilon first)."""
    rows = [r for r in rows if r["overrides"]]
    keys: list[str] = []
    for r in rows:
        for k in r["overrides"]:
            if k not in keys:
                keys.append(k)
    varying = [k for k in keys if len({r["overrides"].get(k) for r in rows}) > 1]
    return sorted(varying, key=lambda k: (k != EPSILON_KEY, keys.index(k)))


def fixed_overrides(rows: Iterable[dict]) -> dict[str, str]:
    """Overrides every job shares (key -> value)."""
    rows = [r for r in rows if r["overrides"]]
    varying = set(swept_keys(rows))
    out: dict[str, str] = {}
    for r in rows:
        for k, v in r["overrides"].items():
            if k not in varying:
                out.setdefault(k, v)
    return out


def sort_rows(rows: list[dict]) -> list[dict]:
    """By budget epsilon, then the other swept overrides, then job number."""
    others = [k for k in swept_keys(rows) if k != EPSILON_KEY]

    def key(r: dict) -> tuple:
        eps = r["budget_epsilon"]
        return (
            (eps is None, eps if eps is not None else 0.0),
            tuple(value_key(r["overrides"].get(k)) for k in others),
            job_sort_key(r["job"]),
        )

    return sorted(rows, key=key)


def target_metrics(rows: Iterable[dict]) -> list[str]:
    """The target metrics some job reported, the main ones first."""
    names: list[str] = []
    for r in rows:
        for k in r["eval"].get("target", {}):
            if k not in names:
                names.append(k)
    main = [m for m in MAIN_METRICS if m in names]
    return main + sorted(n for n in names if n not in main)


def default_metric(rows: Iterable[dict]) -> str:
    """pass@1 when the sweep has code jobs, else rougeL."""
    rows = list(rows)
    code = any(r["task"] == "code" or "pass@1" in r["eval"].get("target", {}) for r in rows)
    return "pass@1" if code else "rougeL"


def choose_metric(rows: list[dict], wanted: str | None = None) -> str | None:
    """``wanted`` (default: :func:`default_metric`) if some job has it, else a fallback."""
    available = target_metrics(rows)
    if wanted is None:
        wanted = default_metric(rows)
    if wanted in available:
        return wanted
    for m in FALLBACK_METRICS:
        if m in available:
            return m
    return available[0] if available else None


def methods_vary(rows: Iterable[dict]) -> bool:
    """Whether the jobs (with a folder) ran more than one method."""
    return len({r["method"] for r in rows if r["job_dir"] and r["method"]}) > 1


def is_comparison(rows: list[dict]) -> bool:
    """Whether the sweep compares methods or repeats seeds (then the methods table is written)."""
    keys = swept_keys(rows)
    return METHOD_KEY in keys or SEED_KEY in keys or methods_vary(rows)


# How a job runs, not what it computes: seeds run as two multiruns with different thread counts, log
# intervals, caches or loggers are one experiment, aggregated in one row (threads change the float
# summation order, as a different machine would, not the method or its data).
EXECUTION_KEYS = ("trainer.num_threads", "trainer.log_every_n_steps", "cache.dir")
EXECUTION_PREFIXES = ("logger.",)


def is_execution_key(key: str) -> bool:
    return key in EXECUTION_KEYS or key.startswith(EXECUTION_PREFIXES)


def comparison_keys(rows: list[dict]) -> list[str]:
    """Swept settings that tell the comparison rows apart besides the method: all but seed and the
    execution settings (epsilon first)."""
    return [k for k in swept_keys(rows) if k not in (SEED_KEY, METHOD_KEY) and not is_execution_key(k)]


def plot_mode(rows: list[dict]) -> str:
    """"epsilon" (utility vs budget) when completed jobs span two or more finite budgets, or when
    the sweep compares nothing; "method" (one point per method) for a method/seed sweep at one budget."""
    budgets = {r["budget_epsilon"] for r in rows if r["status"] == "ok" and r["budget_epsilon"] is not None
               and math.isfinite(r["budget_epsilon"]) and r["budget_epsilon"] > 0}
    if len(budgets) >= 2 or not is_comparison(rows):
        return "epsilon"
    return "method"
