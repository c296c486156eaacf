"""Reading a sweep: one row (a dict) per job folder, from the files the pipeline and
Hydra leave there (the contract is in the package docstring, ``rewardds.report``).

Every other report module works on these rows only, so the tables can be tested
on hand-written rows and an older or broken job folder degrades to missing
values (None, ``-``) instead of a crash.  The one exception: a per-item score
file (``items.jsonl``) that exists but is malformed raises DataError naming the
file and line, because silently dropping it would change the paired intervals.
"""
from __future__ import annotations

import math
from pathlib import Path
from typing import Any

from rewardds.eval.paired import ITEMS_DIR, ITEMS_FILE, read_items
from rewardds.report.logs import first_line, last_error_line, submitit_dirs, submitit_log
from rewardds.report.quality import read_filters, read_set_metrics
from rewardds.report.sweep import sort_rows
from rewardds.report.values import EPSILON_KEY, METHOD_KEY, SEED_KEY, ci_pair, dig, job_sort_key, load_json, \
    load_yaml, to_float

ITEM_LABELS = ("target", "base")  # the evaluations the paired comparisons need


def parse_override(item: str) -> tuple[str, str]:
    """``"+dp.epsilon=4"`` -> ``("dp.epsilon", "4")``."""
    key, sep, value = str(item).partition("=")
    key = key.lstrip("+~")
    return key, value if sep else ""


def is_job_dir(path: Path) -> bool:
    if not path.is_dir() or path.name.startswith("."):
        return False
    return (
        path.name.isdigit()
        or (path / ".hydra").is_dir()
        or (path / "metrics.json").exists()
        or (path / "error.txt").exists()
    )


def job_dirs(sweep_dir: Path) -> list[Path]:
    """The sweep's job folders, by job number."""
    return sorted((p for p in Path(sweep_dir).iterdir() if is_job_dir(p)), key=lambda p: job_sort_key(p.name))


def budget_epsilon(privacy: Any, config: Any, overrides: dict[str, str]) -> float | None:
    eps = to_float(dig(privacy, "budget.epsilon"))
    if eps is not None:
        return eps
    if isinstance(config, dict):
        if dig(config, "dp.enabled") is False:
            return math.inf
        eps = to_float(dig(config, "dp.epsilon"))
        if eps is not None:
            return eps
    return to_float(overrides.get(EPSILON_KEY))


def read_eval(ev: Any) -> tuple[dict, dict]:
    """``metrics.json`` eval -> (split -> {metric: number}, split -> {metric: (lo, hi)})."""
    values: dict = {}
    cis: dict = {}
    if not isinstance(ev, dict):
        return values, cis
    for name, vals in ev.items():
        if not isinstance(vals, dict):
            continue
        values[name] = {k: v for k, v in vals.items() if to_float(v) is not None}
        raw = vals.get("ci95")
        pairs = {k: ci_pair(v) for k, v in raw.items()} if isinstance(raw, dict) else {}
        cis[name] = {k: v for k, v in pairs.items() if v is not None}
    return values, cis


def read_job_items(job_dir: Path, labels=ITEM_LABELS) -> dict:
    """label -> the rows of its ``items.jsonl`` (the run folder's ``eval_items/<label>.jsonl``, else
    the evaluation stage's ``stages/eval_<label>/items.jsonl``); labels without one are left out."""
    out = {}
    for label in labels:
        for path in (job_dir / ITEMS_DIR / f"{label}.jsonl", job_dir / "stages" / f"eval_{label}" / ITEMS_FILE):
            rows = read_items(path)
            if rows is not None:
                out[label] = rows
                break
    return out


def job_method(metrics: Any, overrides: dict[str, str], config: Any) -> str | None:
    """metrics.json ``method``, else the ``method=`` override, else config ``method.name``."""
    for value in (dig(metrics, METHOD_KEY), overrides.get(METHOD_KEY), dig(config, "method.name")):
        if isinstance(value, str) and value.strip():
            return value.strip()
    return None


def synthetic_size(metrics: Any) -> int | None:
    value = to_float(dig(metrics, "synthetic_size"))
    return int(value) if value is not None and math.isfinite(value) else None


def guarantee_note(privacy: Any) -> str | None:
    """Why the job has no formal guarantee: ``guarantee_note``, else its first note."""
    if not isinstance(privacy, dict) or privacy.get("formal_guarantee") is not False:
        return None
    note = privacy.get("guarantee_note")
    if isinstance(note, str) and note.strip():
        return note.strip()
    notes = privacy.get("notes")
    if isinstance(notes, list):
        for n in notes:
            if isinstance(n, str) and n.strip():
                return n.strip()
    return None


def blank_row(job: str, job_dir: Path | None, overrides: dict[str, str], submitit_id: str | None) -> dict:
    """A job row with every key, nothing known yet (a failed job)."""
    return {
        "job": job,
        "job_dir": str(job_dir) if job_dir is not None else None,
        "overrides": overrides,
        "submitit_id": submitit_id,
        "method": overrides.get(METHOD_KEY) or None,
        "model": None,
        "seed": overrides.get(SEED_KEY),
        "budget_epsilon": None,
        "epsilon": None,
        "epsilon_basic_composition": None,
        "delta": None,
        "formal_guarantee": None,
        "guarantee_note": None,
        "task": None,
        "synthetic_size": None,
        "wall_time_s": None,
        "eval": {},
        "set_metrics": {},
        "filters": {},
        "ci95": {},
        "items": {},
        "status": "failed",
        "error": None,
        "log": None,
    }


def read_job(sweep_dir: Path, job_dir: Path) -> dict:
    """One job folder -> its row (see :func:`collect`)."""
    overrides_list = load_yaml(job_dir / ".hydra" / "overrides.yaml") or []
    if not isinstance(overrides_list, list):
        overrides_list = []
    overrides = dict(parse_override(o) for o in overrides_list if isinstance(o, str))
    hydra_cfg = load_yaml(job_dir / ".hydra" / "hydra.yaml")
    submitit_id = dig(hydra_cfg, "hydra.job.id")
    submitit_id = str(submitit_id) if submitit_id not in (None, "???") else None
    job_num = dig(hydra_cfg, "hydra.job.num")
    if not isinstance(job_num, int):
        job_num = int(job_dir.name) if job_dir.name.isdigit() else None

    config = load_yaml(job_dir / "config.yaml")
    if not isinstance(config, dict):
        config = load_yaml(job_dir / ".hydra" / "config.yaml")
    metrics = load_json(job_dir / "metrics.json")
    privacy = load_json(job_dir / "privacy.json")

    row = blank_row(job_dir.name, job_dir, overrides, submitit_id)
    seed = overrides.get(SEED_KEY, dig(config, "seed"))
    row.update({
        "method": job_method(metrics, overrides, config),
        "model": dig(metrics, "fine_tuned_model") if isinstance(dig(metrics, "fine_tuned_model"), str) else None,
        "seed": None if seed is None else str(seed),
        "budget_epsilon": budget_epsilon(privacy, config, overrides),
        "epsilon": to_float(dig(privacy, "total.epsilon")),
        "epsilon_basic_composition": to_float(dig(privacy, "total.epsilon_basic_composition")),
        "delta": to_float(dig(privacy, "total.delta")),
        "formal_guarantee": dig(privacy, "formal_guarantee"),
        "guarantee_note": guarantee_note(privacy),
        "task": dig(config, "task.name"),
    })
    if isinstance(metrics, dict):
        row["status"] = "ok"
        row["wall_time_s"] = to_float(metrics.get("wall_time_s"))
        row["synthetic_size"] = synthetic_size(metrics)
        row["eval"], row["ci95"] = read_eval(metrics.get("eval"))
        row["set_metrics"] = read_set_metrics(metrics)
        row["filters"] = read_filters(metrics)
        row["items"] = read_job_items(job_dir)
        if privacy is None:
            row["error"] = "privacy.json missing"
        return row

    # failed (or unfinished) job: find why and where to look
    sub_log = submitit_log(sweep_dir, submitit_id, job_num)
    own_logs = sorted(job_dir.glob("*.log"))
    row["log"] = str(sub_log) if sub_log else (str(own_logs[0]) if own_logs else None)
    error = first_line(job_dir / "error.txt")
    if error is None and sub_log is not None:
        error = last_error_line(sub_log)
    if error is None and own_logs:
        error = last_error_line(own_logs[0])
    row["error"] = error or "no metrics.json (the job crashed, was killed, or is still running)"
    return row


def orphan_submitit_rows(sweep_dir: Path, known_ids: set[str], known_logs: set[str]) -> list[dict]:
    """Submitit tasks that left a log but no job folder (died before Hydra ran)."""
    rows = []
    for d in submitit_dirs(sweep_dir):
        if d.name in known_ids:
            continue
        logs = sorted(d.glob("*_log.err"))
        if not logs or str(logs[0]) in known_logs:
            continue
        # a finished task's folder is named by its own id, e.g. 7_3 (array) or 4242 (local)
        row = blank_row(f"submitit:{d.name}", None, {}, d.name)
        row["error"] = last_error_line(logs[0]) or "no job folder: the task died before Hydra started"
        row["log"] = str(logs[0])
        rows.append(row)
    return rows


def collect(sweep_dir) -> list[dict]:
    """Read every job of a sweep; one dict per job, sorted (see ``sort_rows``).

    Keys: ``job`` (folder name), ``job_dir``, ``overrides`` (dict key -> raw value
    string), ``submitit_id``, ``method`` (str), ``seed`` (str), ``budget_epsilon``
    (float; ``inf`` without DP), ``epsilon`` (composed total epsilon, float or inf),
    ``epsilon_basic_composition``, ``delta``, ``formal_guarantee``, ``guarantee_note``
    (why there is no formal guarantee, or None), ``task``, ``synthetic_size`` (int),
    ``wall_time_s``, ``eval`` (dict split -> {metric: value}, numbers only, e.g.
    ``eval["target"]["rougeL"]``), ``ci95`` (split -> {metric: (lo, hi)}), ``items``
    (label -> per-item score rows of ``target`` and ``base``, where the job wrote
    them), ``status`` (``"ok"`` or ``"failed"``), ``error`` (one line or None),
    ``log`` (path of the log to read for a failed job, or None). Values missing
    from the files are None.  A malformed ``items.jsonl`` raises DataError.
    """
    sweep_dir = Path(sweep_dir)
    if not sweep_dir.is_dir():
        raise FileNotFoundError(f"sweep dir not found: {sweep_dir}")
    rows = [read_job(sweep_dir, d) for d in job_dirs(sweep_dir)]
    known_ids = {r["submitit_id"] for r in rows if r["submitit_id"]}
    known_logs = {r["log"] for r in rows if r["log"]}
    if any(r["status"] == "failed" and r["submitit_id"] is None for r in rows):
        # ids unknown for some jobs: do not guess orphans, the logs may be theirs
        orphans = []
    else:
        orphans = orphan_submitit_rows(sweep_dir, known_ids, known_logs)
    return sort_rows(rows + orphans)
