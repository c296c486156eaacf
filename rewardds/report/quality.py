"""Leakage, synthetic-data quality and filter counts: read from each job's
``metrics.json``, averaged over seeds, written as the report's second and third tables.

These numbers come from the optional evaluations of ``rewardds/recipes/evals.py``
(MAUVE/FID, IFD, copies, canaries, PII); most are client-side, non-DP
statistics of the private records, which is why the table's text says the
report must stay on the client.  Kept apart from the utility tables because
they are optional and have their own columns per model label.
"""
from __future__ import annotations

import statistics
from typing import Any, Iterable

from rewardds.report.sweep import comparison_keys
from rewardds.report.values import dig, fmt, md_table, to_float

# (key, dotted path in metrics.json, column header) of the synthetic-set and leakage evaluations
# (rewardds/recipes/evals.py); PII reconstruction columns are added per model label when present
SET_METRICS = (
    ("canary_exposure", "client_eval.canary_exposure.target.exposure_mean", "canary exposure (target)"),
    ("canary_auc", "client_eval.canary_exposure.target.canary_auc", "canary AUC (target)"),
    ("canary_copies", "client_eval.copies.canaries.secret_copies", "canary copies"),
    ("private_copies", "client_eval.copies.private.near_verbatim", "private copies"),
    ("mauve", "client_eval.similarity.mauve", "MAUVE"),
    ("fid", "client_eval.similarity.fid", "FID"),
    ("ifd", "synthetic_eval.ifd.ifd_mean", "IFD"),
)
PII_FIELDS = (("success_rate", "PII success"), ("lift", "PII lift"))
PII_LABELS = ("base", "gen_proxy", "target")  # shown in this order, other labels after them
FILTER_COUNTS = ("in", "questions", "kept", "dropped")


def read_set_metrics(metrics: Any) -> dict:
    """metrics.json -> {key: number} of :data:`SET_METRICS` and ``pii.<label>.<field>`` (PII
    reconstruction per model label: ``client_eval.pii.<label>``, else ``eval.<label>.pii``)."""
    out = {key: to_float(dig(metrics, path)) for key, path, _ in SET_METRICS}
    pii = dig(metrics, "client_eval.pii")
    if not isinstance(pii, dict):
        evals = dig(metrics, "eval")
        pii = {label: v["pii"] for label, v in evals.items() if isinstance(v, dict) and isinstance(v.get("pii"), dict)} \
            if isinstance(evals, dict) else {}
    for label, vals in pii.items():
        for field, _ in PII_FIELDS:
            out[f"pii.{label}.{field}"] = to_float(dig(vals, field))
    return {k: v for k, v in out.items() if v is not None}


def set_metric_keys(rows: Iterable[dict]) -> list[str]:
    """Keys present in some row: PII per label first (target last of the known labels), then SET_METRICS."""
    present = {k for r in rows for k in r.get("set_metrics", {})}
    labels = sorted({k.split(".")[1] for k in present if k.startswith("pii.")},
                    key=lambda lb: (PII_LABELS.index(lb) if lb in PII_LABELS else len(PII_LABELS), lb))
    pii = [f"pii.{lb}.{f}" for lb in labels for f, _ in PII_FIELDS if f"pii.{lb}.{f}" in present]
    return pii + [key for key, _, _ in SET_METRICS if key in present]


def set_header(key: str) -> str:
    if key.startswith("pii."):
        _, label, field = key.split(".", 2)
        return f"{dict(PII_FIELDS)[field]} ({label})"
    return next(h for k, _, h in SET_METRICS if k == key)


def read_filters(metrics: Any) -> dict:
    """Per server step whose summary has ``kept``: {in, kept, dropped, <reason>: count} (metrics.json
    stages -> step -> summary; ``in`` is the step's ``in`` or ``questions``, dropped = in - kept
    unless given)."""
    out = {}
    stages = dig(metrics, "stages")
    for name, rec in (stages.items() if isinstance(stages, dict) else ()):
        summary = rec.get("summary") if isinstance(rec, dict) else None
        if not isinstance(summary, dict) or to_float(summary.get("kept")) is None:
            continue
        n_in = to_float(summary.get("in", summary.get("questions")))
        kept = to_float(summary["kept"])
        dropped = to_float(summary.get("dropped"))
        row = {"in": n_in, "kept": kept, "dropped": dropped if dropped is not None else
               (n_in - kept if n_in is not None else None)}
        row.update({k: float(v) for k, v in summary.items() if k not in FILTER_COUNTS and isinstance(v, int)
                    and not isinstance(v, bool)})
        out[name] = row
    return out


def filter_means(ok: list[dict]) -> dict:
    """step -> count -> mean over the completed seeds (steps in first-seen order)."""
    out: dict = {}
    for r in ok:
        for step, counts in r.get("filters", {}).items():
            for k, v in counts.items():
                if v is not None:
                    out.setdefault(step, {}).setdefault(k, []).append(v)
    return {step: {k: statistics.fmean(vs) for k, vs in counts.items()} for step, counts in out.items()}


LEAKAGE_EXPLAINED = (
    "One row per method{settings}, the mean over seeds. ROUGE-L: the target on the test split (as above). "
    "PII success / lift: the PII reconstruction attack (a masked person's name picked among candidates by the "
    "model's likelihood) per model, its success rate and lift over random guessing. Canary exposure / AUC: "
    "audit runs (`eval.canaries`): exposure in bits of the planted canaries' secrets in the final target "
    "(chance ~1.4, at most log2(R + 1)) and P(a canary's secret beats one reference secret) (0.5 = chance). "
    "Canary copies: canaries whose secret appears in the released synthetic texts. Private copies: synthetic "
    "texts sharing a run of `eval.copy_ngram` words with one private record. MAUVE (1 = same distribution) "
    "and FID (0 = same) of all-MiniLM-L6-v2 embeddings, private vs synthetic questions. IFD: mean "
    "instruction-following difficulty of the synthetic pairs under the target base (below 1: the question "
    "helps). Everything but IFD and the canary figures is a client-side, non-DP statistic of the private "
    "records (metrics.json `client_eval`): never in `release/`; keep this report on the client."
)


def leakage_lines(rows: list[dict], groups: list[dict]) -> list[str]:
    """The leakage and data-quality table (empty when no job has any of these numbers)."""
    ok = [r for r in rows if r["status"] == "ok"]
    keys = set_metric_keys(ok)
    if not keys:
        return []
    settings_keys = comparison_keys(rows)
    settings = f" and setting of {', '.join(f'`{k}`' for k in settings_keys)}" if settings_keys else ""
    header = ["method"] + settings_keys + ["ROUGE-L"] + [set_header(k) for k in keys]
    body = []
    for g in groups:
        body.append([g["method"] or "?"] + [g["settings"].get(k, "") for k in settings_keys]
                    + [fmt(g["metrics"].get("rougeL", {}).get("mean"))]
                    + [fmt(g["set_metrics"].get(k, {}).get("mean")) for k in keys])
    return ["## Leakage and data quality", "", LEAKAGE_EXPLAINED.format(settings=settings), "",
            *md_table(header, body, left=["method"]), ""]


def filter_lines(rows: list[dict], groups: list[dict]) -> list[str]:
    """Per method and filtering step: items in, kept, dropped and why (means over seeds)."""
    body = []
    settings_keys = comparison_keys(rows)
    for g in groups:
        for step, c in g.get("filters", {}).items():
            reasons = ", ".join(f"{k} {fmt(v)}" for k, v in c.items() if k not in FILTER_COUNTS)
            body.append([g["method"] or "?"] + [g["settings"].get(k, "") for k in settings_keys]
                        + [step, fmt(c.get("in")), fmt(c.get("kept")), fmt(c.get("dropped")), reasons])
    if not body:
        return []
    header = ["method"] + settings_keys + ["step", "in", "kept", "dropped", "dropped because"]
    return ["## Filters", "", "Per method and filtering step (metrics.json stages -> step -> summary, the mean "
            "over seeds): synthetic items in, kept, dropped, and the count per reason.", "",
            *md_table(header, body, left=["method", "step", "dropped because"]), ""]
