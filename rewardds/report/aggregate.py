"""The methods table's rows: jobs grouped by method and every swept setting but ``seed``.

A method is judged over seeds, not by one lucky run: each group carries the
mean and sample std over its completed seeds, the bootstrap bounds averaged,
the privacy figures of its jobs, how many jobs failed, and the paired
differences to the base and to the reference method (:mod:`.compare`).
"""
from __future__ import annotations

import math
import statistics

from rewardds.eval.paired import N_BOOT
from rewardds.report.compare import DEFAULT_REFERENCE, attach_paired
from rewardds.report.quality import filter_means, set_metric_keys
from rewardds.report.sweep import comparison_keys, target_metrics
from rewardds.report.values import QA_COMPARE, finite, job_sort_key, to_float, value_key


def stat(values: list[float], cis: list[tuple[float, float]]) -> dict:
    """Mean, sample std (None for one value), count, and the mean bootstrap bounds."""
    return {
        "mean": statistics.fmean(values) if values else None,
        "std": statistics.stdev(values) if len(values) > 1 else None,
        "n": len(values),
        "lo": statistics.fmean(c[0] for c in cis) if cis else None,
        "hi": statistics.fmean(c[1] for c in cis) if cis else None,
    }


def metric_stat(ok: list[dict], metric: str, split: str = "target") -> dict:
    values, cis = [], []
    for r in ok:
        v = to_float(r["eval"].get(split, {}).get(metric))
        if v is None or not math.isfinite(v):
            continue
        values.append(v)
        ci = r["ci95"].get(split, {}).get(metric)
        if ci is not None:
            cis.append(ci)
    return stat(values, cis)


def formal(rows: list[dict]) -> bool | None:
    """False if any job lacks a formal guarantee, True if all have one, None if unknown."""
    known = [r["formal_guarantee"] for r in rows if isinstance(r["formal_guarantee"], bool)]
    if not known:
        return None
    return all(known)


def comparison_metrics(rows: list[dict]) -> list[str]:
    """Methods-table columns: ROUGE-1/2/L, BLEU, ppl of QA jobs and pass@k of code jobs (whichever exist)."""
    qa: set[str] = set()
    code: set[str] = set()
    for r in rows:
        target = r["eval"].get("target", {})
        passes = {k for k in target if k.startswith("pass@")}
        if passes:
            code |= passes
        else:
            qa |= {k for k in QA_COMPARE if k in target}

    def k_of(name: str) -> tuple:
        tail = name[len("pass@"):]
        return (0, int(tail), "") if tail.isdigit() else (1, 0, tail)

    return [m for m in QA_COMPARE if m in qa] + sorted(code, key=k_of)


def aggregate(rows: list[dict], reference: str | None = DEFAULT_REFERENCE, n_boot: int = N_BOOT,
              paired_metrics: list[str] | None = None) -> list[dict]:
    """The comparison rows: jobs grouped by method and every swept setting except ``seed``.

    Each group: ``method``, ``settings`` (comparison key -> override value),
    ``budget_epsilon``, ``rows`` (its jobs), ``ok`` (completed ones), ``n_failed``,
    ``seeds``, ``metrics`` (target metric -> {"mean", "std", "n", "lo", "hi"}: mean
    and sample std over the completed seeds, lo/hi the mean of their 95% bootstrap
    bounds), ``epsilons``/``deltas``/``synthetic_sizes``/``n_items`` (per completed
    job), ``formal_guarantee`` (see :func:`formal`), ``guarantee_note`` and
    ``paired`` (differences to the base and to ``reference`` on ``paired_metrics``,
    default every :func:`comparison_metrics` metric, see :func:`.compare.attach_paired`). Ordered
    by the settings, then by the method's first job number (the command-line order).
    """
    keys = comparison_keys(rows)
    groups: dict[tuple, dict] = {}
    for r in rows:
        if r["job_dir"] is None:  # a submitit task without a job folder: listed as failed only
            continue
        settings = {k: r["overrides"].get(k, "") for k in keys}
        g = groups.setdefault((r["method"], tuple(settings.values())),
                              {"method": r["method"], "settings": settings, "rows": []})
        g["rows"].append(r)
    first_job: dict = {}
    for g in groups.values():
        j = min(job_sort_key(r["job"]) for r in g["rows"])
        first_job[g["method"]] = min(first_job.get(g["method"], j), j)
    metrics = target_metrics(rows)
    out = []
    for g in groups.values():
        ok = [r for r in g["rows"] if r["status"] == "ok"]
        notes = [r["guarantee_note"] for r in g["rows"] if r["guarantee_note"]]
        budgets = [r["budget_epsilon"] for r in ok + g["rows"] if r["budget_epsilon"] is not None]
        g.update({
            "budget_epsilon": budgets[0] if budgets else None,
            "ok": ok,
            "n_failed": len(g["rows"]) - len(ok),
            "seeds": [r["seed"] for r in ok if r["seed"] is not None],
            "metrics": {m: metric_stat(ok, m) for m in metrics},
            "epsilons": finite(r["epsilon"] for r in ok),
            "deltas": finite(r["delta"] for r in ok),
            "synthetic_sizes": [r["synthetic_size"] for r in ok if r["synthetic_size"] is not None],
            "models": sorted({r["model"] for r in ok if r.get("model")}),
            "n_items": [int(v) for v in finite(r["eval"].get("target", {}).get("n") for r in ok)],
            "formal_guarantee": formal(ok or g["rows"]),
            "guarantee_note": notes[0] if notes else None,
            "task": next((r["task"] for r in g["rows"] if r["task"]), None),
            "set_metrics": {k: stat(finite(r["set_metrics"].get(k) for r in ok), [])
                            for k in set_metric_keys(ok)},
            "filters": filter_means(ok),
        })
        out.append(g)
    budget = lambda e: (e is None, e if e is not None else 0.0)  # noqa: E731
    out = sorted(out, key=lambda g: (tuple(value_key(g["settings"][k]) for k in keys), budget(g["budget_epsilon"]),
                                     first_job[g["method"]]))
    if paired_metrics is None:
        paired_metrics = comparison_metrics([r for r in rows if r["status"] == "ok"])
    attach_paired(out, reference, paired_metrics, n_boot=n_boot)
    return out


def error_bar(st: dict) -> tuple[float, float]:
    """(below, above) the point: the std over seeds when aggregated, else the bootstrap interval, else 0."""
    mean = st.get("mean")
    if mean is None:
        return 0.0, 0.0
    if st.get("n", 0) > 1 and st.get("std") is not None:
        return st["std"], st["std"]
    if st.get("lo") is not None and st.get("hi") is not None:
        return max(0.0, mean - st["lo"]), max(0.0, st["hi"] - mean)
    return 0.0, 0.0
