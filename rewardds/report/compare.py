"""Paired differences between the rows of the methods table.

Two methods' own 95% intervals over test items usually overlap, and then nothing
can be said about their difference.  Scored on the same test items (every run of a
sweep scores the same ``eval.max_test`` items), two models can be compared item by
item instead: each comparison row gets, per metric,

* ``target - base``: each job's target minus the untuned base evaluated inside
  the same job (``metrics.json`` eval.base), and
* ``target - reference``: minus the reference method's target (``--reference``,
  default ``rewardds``) at the same settings of the other swept keys, job
  matched with job by ``seed``,

from the per-item scores (``items.jsonl``) with the paired bootstrap of
:mod:`rewardds.eval.paired`: over items for one seed, over seeds and then items
when seeds are aggregated.  The headroom line says whether ``non_private`` (the
target fine-tuned on the private records directly) beats the base at all: if it
does not, the test set cannot separate methods by what they learn.
"""
from __future__ import annotations

from rewardds.eval.paired import N_BOOT, compare_over_seeds, format_diff
from rewardds.report.values import DISPLAY

DEFAULT_REFERENCE = "rewardds"
HEADROOM_METHOD = "non_private"


def _scored(r: dict, label: str) -> list[dict] | None:
    return r.get("items", {}).get(label)


def base_pairs(ok: list[dict]) -> list[tuple[list[dict], list[dict]]]:
    """(target items, base items) of each completed job that wrote both: a job's target with its own base."""
    return [(_scored(r, "target"), _scored(r, "base")) for r in ok if _scored(r, "target") and _scored(r, "base")]


def reference_pairs(ok: list[dict], reference_ok: list[dict]) -> list[tuple[list[dict], list[dict]]]:
    """(target items, the reference's target items) of the jobs of one seed (a seed without a
    reference job, or without items on either side, is left out)."""
    by_seed: dict = {}
    for r in reference_ok:
        if _scored(r, "target"):
            by_seed.setdefault(r["seed"], r)
    return [(_scored(r, "target"), _scored(by_seed[r["seed"]], "target")) for r in ok
            if _scored(r, "target") and r["seed"] in by_seed]


def has_items(rows: list[dict]) -> bool:
    """Whether some completed job wrote per-item scores of its target."""
    return any(r["status"] == "ok" and _scored(r, "target") for r in rows)


def attach_paired(groups: list[dict], reference: str | None, metrics: list[str], n_boot: int = N_BOOT) -> None:
    """Add ``paired`` to each comparison group: ``{"base": {metric: diff}, "reference": {metric: diff}
    or None, "reference_method": the reference when it is in the sweep (else None), "is_reference"}``;
    each diff as :func:`rewardds.eval.paired.compare_over_seeds` returns it (empty: no per-item scores)."""
    present = reference is not None and any(g["method"] == reference for g in groups)
    refs = {tuple(g["settings"].items()): g for g in groups if present and g["method"] == reference}
    for g in groups:
        is_ref = present and g["method"] == reference
        paired = {"base": compare_over_seeds(base_pairs(g["ok"]), metrics, n_boot=n_boot),
                  "reference": None, "reference_method": reference if present else None, "is_reference": is_ref}
        ref = refs.get(tuple(g["settings"].items()))
        if present and not is_ref and ref is not None:
            paired["reference"] = compare_over_seeds(reference_pairs(g["ok"], ref["ok"]), metrics, n_boot=n_boot)
        g["paired"] = paired


def paired_points(groups: list[dict], metric: str) -> tuple[str, list[tuple[dict, dict]]]:
    """(what the differences are against, [(group, diff)]): against the reference method when it is in
    the sweep (its own row left out), else against the base; groups without a paired diff left out."""
    reference = next((g["paired"]["reference_method"] for g in groups if g.get("paired", {}).get("reference_method")),
                     None)
    side = "reference" if reference else "base"
    points = []
    for g in groups:
        p = g.get("paired", {})
        d = (p.get(side) or {}).get(metric)
        if d and d["diff"] is not None and None not in d["ci95"] and not p.get("is_reference"):
            points.append((g, d))
    return reference or "base", points


def diff_cell(d: dict | None) -> str:
    """``+0.213 [0.171, 0.254]`` (:func:`rewardds.eval.paired.format_diff`); ``-`` when there is nothing to pair."""
    if not d or d.get("diff") is None or None in d.get("ci95", [None]):
        return "-"
    lo, hi = d["ci95"]
    return f"{format_diff(d['diff'])} [{format_diff(lo, False)}, {format_diff(hi, False)}]"


def excludes_cell(d: dict | None) -> str:
    """``yes`` when the paired interval excludes 0, ``no`` when it holds 0, ``-`` when there is none."""
    if not d or d.get("diff") is None or None in d.get("ci95", [None]):
        return "-"
    return "yes" if d["excludes_0"] else "no"


def item_counts(groups: list[dict], metric: str) -> list[int]:
    """Every per-seed count of shared test items behind the paired cells of ``metric``."""
    counts = set()
    for g in groups:
        for side in ("base", "reference"):
            d = (g.get("paired", {}).get(side) or {}).get(metric)
            if d:
                counts |= {d["n"], d["n_max"]}
    return sorted(counts)


def headroom_lines(groups: list[dict], metric: str, keys: list[str]) -> list[str]:
    """Per ``non_private`` row: does it beat the base on ``metric``, by how much (paired interval)?"""
    lines = []
    name = DISPLAY.get(metric, metric)
    for g in groups:
        if g["method"] != HEADROOM_METHOD:
            continue
        d = g.get("paired", {}).get("base", {}).get(metric)
        where = "".join(f", {k}={g['settings'].get(k, '')}" for k in keys)
        if not d or d["diff"] is None or None in d["ci95"]:
            lines.append(f"Headroom{where}: unknown: the {HEADROOM_METHOD} jobs wrote no per-item scores.")
            continue
        text = f"{diff_cell(d)} {name} (paired, {d['n']} items)"
        if d["verdict"] == "better":
            lines.append(f"Headroom{where}: {HEADROOM_METHOD} beats base by {text}; the comparison can "
                         "separate methods.")
        elif d["verdict"] == "worse":
            lines.append(f"**Warning** (headroom{where}): {HEADROOM_METHOD} is worse than base by {text}: "
                         "fine-tuning even on the private records costs utility on this test set, so gains over "
                         "base cannot be told from noise.")
        else:
            lines.append(f"**Warning** (headroom{where}): {HEADROOM_METHOD} − base is {text}, an interval that "
                         "holds 0: training on the private records directly does not beat the untuned base, so "
                         "this test set cannot separate methods by what they learn (more test items, "
                         "`eval.max_test`, or a harder task).")
    return lines

