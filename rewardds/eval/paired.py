"""Paired comparisons of two models scored on the same test items.

Each model evaluation writes ``items.jsonl`` (:data:`ITEMS_FILE`): one row per
test item, its ``id`` and the per-item value of every metric
(:data:`ITEM_FIELDS`).  Two such files are matched by ``id`` (only items present
on both sides count) and compared with the paired bootstrap of
:mod:`rewardds.eval.bootstrap`: the same resampled items for both models, the
statistic recomputed per side (a mean for ROUGE, BLEU and pass@k; perplexity as
``exp(sum NLL / sum tokens)``), then differenced.  Per-model intervals overlap
even when one model is better on almost every item; the paired interval of the
difference says whether the test set separates them.

Used by the pipeline (:func:`for_run`: each evaluated model minus the base in
``metrics.json`` ``paired``, and the summary lines a run ends with) and by the
sweep report (``rewardds.report``: methods vs the base and vs a reference
method, over seeds with :func:`compare_over_seeds`).

Test items are the public test split, so the per-item scores and the section
written from them may be released like any test metric.
"""
from __future__ import annotations

import math
from pathlib import Path
from typing import Iterable, Sequence

import numpy as np

from rewardds.errors import DataError
from rewardds.eval.bootstrap import hierarchical_paired_bootstrap, mean_statistic, ratio_statistic
from rewardds.io import iter_jsonl, write_jsonl

__all__ = ["ITEMS_FILE", "ITEMS_DIR", "ITEM_FIELDS", "RUN_METRICS", "N_BOOT", "item_rows", "read_items", "align",
           "compare", "compare_over_seeds", "verdict", "format_diff", "for_run", "section", "summary_lines",
           "main_metric"]

ITEMS_FILE = "items.jsonl"  # in each evaluation stage's folder, beside predictions.jsonl and metrics.json
ITEMS_DIR = "eval_items"  # the run folder's copies, <label>.jsonl, so a sweep report needs no stage cache
# an items.jsonl row: the test item's id, ROUGE/BLEU of its prediction, the reference answer's summed NLL
# and token count (perplexity is their ratio over items); code tasks add pass@k (for each k of eval.pass_k)
# and the task's sample counts
ITEM_FIELDS = ("id", "rouge1", "rouge2", "rougeL", "bleu", "nll_sum", "n_tokens", "pass@1", "n_samples", "n_correct")
RUN_METRICS = ("rougeL", "rouge1", "bleu", "ppl")  # compared in a run's metrics.json (pass@1 added for code)
LOWER_IS_BETTER = ("ppl",)
N_BOOT = 1000
NO_ITEMS = "no items"


def item_rows(ids: Sequence, scores: dict[str, list]) -> list[dict]:
    """``items.jsonl`` rows: ``{"id": ..., metric: value, ...}`` from per-item score lists."""
    for name, values in scores.items():
        if len(values) != len(ids):
            raise ValueError(f"{len(values)} {name} scores for {len(ids)} items")
    return [{"id": item_id, **{name: values[i] for name, values in scores.items()}} for i, item_id in enumerate(ids)]


def read_items(path) -> list[dict] | None:
    """The rows of an ``items.jsonl``; None when the file does not exist (an evaluation written before
    per-item scores existed).  A row without ``id`` or with a non-numeric score raises DataError
    naming file and line."""
    path = Path(path)
    if not path.is_file():
        return None
    rows = []
    for line, row in iter_jsonl(path):
        if "id" not in row:
            raise DataError(path, "item row without 'id'", line=line)
        for key, value in row.items():
            if key != "id" and (isinstance(value, bool) or not isinstance(value, (int, float))):
                raise DataError(path, f"field '{key}' must be a number, got {value!r}", line=line)
        rows.append(row)
    return rows


def _keys(rows: Iterable[dict]) -> list[tuple[str, int]]:
    """(id, occurrence) per row: a repeated id stays a separate item, matched to the same occurrence."""
    seen: dict[str, int] = {}
    out = []
    for row in rows:
        key = str(row["id"])
        out.append((key, seen.get(key, 0)))
        seen[key] = seen.get(key, 0) + 1
    return out


def align(model: list[dict], against: list[dict]) -> tuple[list[dict], list[dict]]:
    """The rows of both sides for the items they share (matched by ``id``), in ``model``'s order."""
    other = dict(zip(_keys(against), against))
    pairs = [(row, other[key]) for key, row in zip(_keys(model), model) if key in other]
    return [m for m, _ in pairs], [a for _, a in pairs]


def _statistic(rows: list[dict], metric: str):
    """The bootstrap statistic of ``metric`` over ``rows``; None when some row lacks its values."""
    def finite(name: str) -> list[float] | None:
        values = [row.get(name) for row in rows]
        if any(not isinstance(v, (int, float)) or isinstance(v, bool) or not math.isfinite(v) for v in values):
            return None
        return [float(v) for v in values]

    if metric == "ppl":
        nll, tokens = finite("nll_sum"), finite("n_tokens")
        return None if nll is None or tokens is None else ratio_statistic(nll, tokens, transform=np.exp)
    values = finite(metric)
    return None if values is None else mean_statistic(values)


def verdict(metric: str, lo: float | None, hi: float | None) -> str:
    """``better`` / ``worse`` when the interval of model − against excludes 0 (lower ppl is better),
    else ``no clear difference``."""
    if lo is None or hi is None or math.isnan(lo) or math.isnan(hi):
        return NO_ITEMS
    sign = -1 if metric in LOWER_IS_BETTER else 1
    if lo > 0:
        return "better" if sign > 0 else "worse"
    if hi < 0:
        return "worse" if sign > 0 else "better"
    return "no clear difference"


def _num(v: float) -> float | None:
    return None if v is None or math.isnan(v) else float(v)


def compare_over_seeds(pairs: Sequence[tuple[list[dict], list[dict]]], metrics: Iterable[str],
                       n_boot: int = N_BOOT, seed: int = 0) -> dict:
    """``model − against`` per metric, from one (model rows, against rows) pair per seed.

    Each pair is aligned by id and a pair without shared items is dropped (``n_seeds`` counts the
    rest); a metric some pair cannot compute (values missing) is left out.  One pair: the paired
    bootstrap over items; several: the two-level bootstrap over seeds and items
    (:func:`rewardds.eval.bootstrap.hierarchical_paired_bootstrap`; the difference is the mean
    over seeds of the per-seed paired difference).  Per metric: ``diff``, ``ci95``
    ``[lo, hi]``, ``n`` (shared items, the fewest over seeds), ``n_max``, ``n_seeds``,
    ``excludes_0`` and ``verdict`` (:func:`verdict`).
    """
    aligned = [(m, a) for m, a in (align(m, a) for m, a in pairs) if m]
    out: dict = {}
    for metric in metrics:
        stats = [(_statistic(m, metric), _statistic(a, metric)) for m, a in aligned]
        if not stats or any(sm is None or sa is None for sm, sa in stats):
            continue
        r = hierarchical_paired_bootstrap(stats, n_boot=n_boot, seed=seed)
        lo, hi = _num(r["lo"]), _num(r["hi"])
        out[metric] = {"diff": _num(r["diff"]), "ci95": [lo, hi], "n": min(r["n"]), "n_max": max(r["n"]),
                       "n_seeds": r["n_seeds"], "excludes_0": lo is not None and hi is not None and (lo > 0 or hi < 0),
                       "verdict": verdict(metric, lo, hi)}
    return out


def compare(model: list[dict], against: list[dict], metrics: Iterable[str], n_boot: int = N_BOOT,
            seed: int = 0) -> dict:
    """``model − against`` on the items both scored: :func:`compare_over_seeds` with one seed."""
    return compare_over_seeds([(model, against)], metrics, n_boot=n_boot, seed=seed)


def main_metric(metric_names: Iterable[str]) -> str:
    """The metric a summary leads with: pass@1 for code, else ROUGE-L."""
    return "pass@1" if "pass@1" in set(metric_names) else "rougeL"


def section(rows_by_label: dict[str, list[dict]], base: str = "base", n_boot: int = N_BOOT) -> dict:
    """metrics.json ``paired``: every label but ``base`` minus ``base`` on :data:`RUN_METRICS`
    (and pass@1 when the items have it): ``{"against", "n_boot", "alpha", "models": {label: {metric: ...}}}``."""
    out: dict = {"against": base, "n_boot": n_boot, "alpha": 0.05,
                 "method": "paired percentile bootstrap over the test items both models scored (matched by id)",
                 "models": {}}
    if base not in rows_by_label:
        out["note"] = f"no per-item scores of '{base}': nothing to pair with"
        return out
    has_pass = any("pass@1" in row for rows in rows_by_label.values() for row in rows)
    metrics = RUN_METRICS + (("pass@1",) if has_pass else ())
    for label, rows in rows_by_label.items():
        if label != base:
            out["models"][label] = compare(rows, rows_by_label[base], metrics, n_boot=n_boot)
    return out


def for_run(item_files: dict[str, Path], run_dir: Path, base: str = "base") -> dict:
    """The run's ``paired`` section from its evaluations' ``items.jsonl`` (label -> file); each file
    is also copied to ``run_dir/eval_items/<label>.jsonl`` for the sweep report."""
    rows_by_label = {}
    for label, path in item_files.items():
        rows = read_items(path)
        if rows is not None:
            write_jsonl(Path(run_dir) / ITEMS_DIR / f"{label}.jsonl", rows)
            rows_by_label[label] = rows
    return section(rows_by_label, base=base)


def format_diff(v: float, signed: bool = True) -> str:
    """A difference or bound as text: 3 decimals (1 from 100 up), ``+`` on positive differences when
    ``signed``, and ``0.000`` for anything that rounds to zero (no ``-0.000``)."""
    digits = 1 if abs(v) >= 100 else 3
    if round(v, digits) == 0:
        return f"{0.0:.{digits}f}"
    return f"{v:+.{digits}f}" if signed else f"{v:.{digits}f}"


def summary_lines(paired: dict | None) -> list[str]:
    """One console line per compared model, on its main metric, e.g.
    ``   target - base: rougeL +0.213 [0.171, 0.254] (paired, 200 items): better``."""
    if not paired:
        return []
    lines = []
    for label, per_metric in paired.get("models", {}).items():
        metric = main_metric(per_metric)
        m = per_metric.get(metric)
        if not m or m["diff"] is None or None in m["ci95"]:
            continue
        lo, hi = m["ci95"]
        lines.append(f"   {label} - {paired['against']}: {metric} {format_diff(m['diff'])} "
                     f"[{format_diff(lo, False)}, {format_diff(hi, False)}] "
                     f"(paired, {m['n']} items): {m['verdict']}")
    return lines
