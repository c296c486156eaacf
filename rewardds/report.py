"""Sweep report: ``python -m rewardds.report SWEEP_DIR [--metric M] [--out DIR]``.

A sweep dir is a Hydra multirun folder (``hydra.sweep.dir``) with one subfolder per
job (``SWEEP_DIR/0``, ``SWEEP_DIR/1``, ...); it may also hold ``.submitit/`` (the
submitit launcher's logs) and ``multirun.yaml``. The report writes into ``--out``
(default: SWEEP_DIR) ``report.md`` (markdown tables), ``report.csv`` (one row per
job, every column) and ``privacy_utility.png``.

Two views of a sweep:

* a privacy-utility sweep (``dp.epsilon=1,2,4,8 filter.keep_ratio=...``): one row
  per job; the plot is target utility vs the budget epsilon (log x axis, one line
  per setting of the other swept keys);
* a method comparison (``method=rewardds,dp_gene,... seed=0,1,2``, i.e. the jobs
  differ in ``method`` or ``seed``): besides the job table, a methods x metrics
  table (markdown, and ``report_methods.csv``) with one row per method and
  setting of the other swept keys (e.g. epsilon); jobs that differ only in
  ``seed`` are aggregated (mean, std over seeds, n seeds). Every metric carries
  its 95% bootstrap interval over test items. The plot: one point per method
  (x: method, or epsilon with one line per method when epsilon is swept too)
  with error bars (the bootstrap interval; the std over seeds when aggregated).

``--metric`` (the plotted metric) defaults to pass@1 for code jobs and rougeL
otherwise, falling back to another target metric when absent.

Contract with the pipeline: files in each job folder
------------------------------------------------------
``.hydra/overrides.yaml``  (Hydra) the job's command-line overrides, a YAML list of
    strings such as ``dp.epsilon=4``, ``method=dp_gene``, ``seed=1``. The "swept"
    overrides are the keys whose value differs between jobs.
``.hydra/hydra.yaml``  (Hydra) ``hydra.job.id`` is the submitit job id (``7_3`` on
    SLURM arrays, a pid locally); used to find the job's submitit log.
``config.yaml``  the resolved run config (YAML); ``dp.epsilon`` / ``dp.enabled`` are
    the fallback for the budget when ``privacy.json`` is missing
    (``.hydra/config.yaml`` is the next fallback, then the ``dp.epsilon`` override);
    ``method.name`` and ``seed`` are fallbacks for the method and seed.
``metrics.json``  written when the job completed (every key optional)::

    {"wall_time_s": float,
     "method": "dp_gene",                 # else the method= override, else config method.name
     "synthetic_size": int or null,       # size of the synthetic training set
     "eval": {"target":    {"rouge1": .., "rouge2": .., "rougeL": .., "bleu": .., "ppl": ..,
                            or "pass@1": .., ...,
                            "n": 24,                               # test items
                            "ci95": {"rougeL": [lo, hi], ...}},    # bootstrap over items
              "base":      {...},          # the un-fine-tuned model, same keys
              "gen_proxy": {...}},
     "stages": {"<step>": {"summary": {"in": .., "kept": .., "dropped": .., "<reason>": ..}}, ...},
     "synthetic_eval": {"ifd": {"ifd_mean": ..}},          # optional, eval.ifd
     "client_eval": {"similarity": {"mauve": .., "fid": ..},  # optional, client-only numbers
                     "copies": {"private": {"near_verbatim": ..}, "canaries": {"secret_copies": ..}},
                     "canary_exposure": {"target": {"exposure_mean": .., "canary_auc": ..}},
                     "pii": {"<label>": {"success_rate": .., "lift": ..}}}, ...}

    The optional keys feed the "Leakage and data quality" table and the "Filters" table (steps whose
    summary has ``kept``); PII is also read from ``eval.<label>.pii``.

``privacy.json``::

    {"total": {"epsilon": float or "inf", "delta": float,
               "epsilon_basic_composition": float},
     "components": {...},
     "formal_guarantee": bool,
     "guarantee_note": str or null,       # why there is no formal guarantee
     "notes": [str, ...],
     "budget": {"epsilon": float, ...}}

A job without ``metrics.json`` counts as failed (crashed, killed, or still running).
It may hold ``error.txt`` (one line: the error). The report lists failed jobs with
their log: the submitit log ``SWEEP_DIR/.submitit/<id>/<id>_<task>_log.err`` of the
job, else the job's own ``*.log`` (Hydra's job log). Submitit tasks that never got
a job folder (killed before Hydra started) are listed as failed too.

Python API: ``collect(sweep_dir) -> list[dict]`` (one dict per job, see
``collect``'s docstring), ``aggregate(rows) -> list[dict]`` (the comparison rows),
``write_report(sweep_dir, out_dir=None, metric=None) -> dict`` and
``main(argv=None) -> int``.
"""
from __future__ import annotations

import argparse
import csv
import io
import json
import math
import re
import statistics
import sys
from pathlib import Path
from typing import Any, Iterable

import yaml

from rewardds.io import write_bytes, write_text

EPSILON_KEY = "dp.epsilon"
SEED_KEY = "seed"
METHOD_KEY = "method"
MAIN_METRICS = ("rouge1", "rouge2", "rougeL", "bleu", "ppl", "pass@1")
FALLBACK_METRICS = ("rougeL", "pass@1", "rouge1", "bleu")
HIGHER_IS_BETTER_EXCEPT = ("ppl",)
QA_COMPARE = ("rouge1", "rouge2", "rougeL", "bleu", "ppl")  # method table columns for QA jobs
DISPLAY = {"rouge1": "ROUGE-1", "rouge2": "ROUGE-2", "rougeL": "ROUGE-L", "bleu": "BLEU", "ppl": "ppl"}
NOTE_CHARS = 60  # guarantee notes are shortened to about this length in the markdown table

# --------------------------------------------------------------------------- reading


def _load_yaml(path: Path) -> Any:
    try:
        with open(path, encoding="utf-8") as fh:
            return yaml.safe_load(fh)
    except (OSError, yaml.YAMLError):
        return None


def _load_json(path: Path) -> Any:
    try:
        with open(path, encoding="utf-8") as fh:
            return json.load(fh)
    except (OSError, ValueError):
        return None


def _dig(obj: Any, dotted: str) -> Any:
    for part in dotted.split("."):
        if not isinstance(obj, dict) or part not in obj:
            return None
        obj = obj[part]
    return obj


def _to_float(value: Any) -> float | None:
    """Numbers, "inf"/"Infinity" strings -> float; anything else -> None."""
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, (int, float)):
        return float(value)
    if isinstance(value, str):
        try:
            return float(value.strip())
        except ValueError:
            return None
    return None


def _parse_override(item: str) -> tuple[str, str]:
    key, sep, value = str(item).partition("=")
    key = key.lstrip("+~")
    return key, value if sep else ""


def _is_job_dir(path: Path) -> bool:
    if not path.is_dir() or path.name.startswith("."):
        return False
    return (
        path.name.isdigit()
        or (path / ".hydra").is_dir()
        or (path / "metrics.json").exists()
        or (path / "error.txt").exists()
    )


def _job_sort_key(name: str) -> tuple:
    return (0, int(name), "") if name.isdigit() else (1, 0, name)


def _first_line(path: Path) -> str | None:
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return None
    for line in text.splitlines():
        if line.strip():
            return line.strip()
    return None


def _last_error_line(path: Path) -> str | None:
    """The last line of a log that looks like an exception message."""
    try:
        lines = path.read_text(encoding="utf-8", errors="replace").splitlines()
    except OSError:
        return None
    pattern = re.compile(r"^[\w.]*(Error|Exception|Interrupt|Exit)\b.*|^\w[\w.]*: .+")
    hydra_error = re.compile(r"^\[[^\]]*\]\[[^\]]*\]\[(?:ERROR|CRITICAL)\] - (.+)")  # Hydra job log
    for line in reversed(lines):
        s = line.strip()
        m = hydra_error.match(s)
        if m:
            return m.group(1).strip()
        if s and pattern.match(s) and "WARNING" not in s:
            return s
    return None


def _submitit_dirs(sweep_dir: Path) -> list[Path]:
    root = sweep_dir / ".submitit"
    if not root.is_dir():
        return []
    return sorted(p for p in root.iterdir() if p.is_dir())


def _submitit_log(sweep_dir: Path, submitit_id: str | None, job_num: int | None) -> Path | None:
    """Find ``.submitit/<id>/<id>_<task>_log.err`` for a job.

    The id comes from ``hydra.job.id`` (``<array>_<index>`` on SLURM, a pid with the
    local executor). Without it, a SLURM array task whose index equals the job number
    is taken (true for a sweep launched in one batch, Hydra's default).
    """
    root = sweep_dir / ".submitit"
    if not root.is_dir():
        return None
    if submitit_id:
        hits = sorted(root.glob(f"{submitit_id}/{submitit_id}_*_log.err")) or sorted(
            root.glob(f"*/{submitit_id}_*_log.err")
        )
        if hits:
            return hits[0]
    if job_num is not None:
        hits = sorted(root.glob(f"*_{job_num}/*_{job_num}_*_log.err"))
        if len(hits) == 1:
            return hits[0]
        if hits:  # several arrays (requeued sweep): the newest
            return max(hits, key=lambda p: p.stat().st_mtime)
    return None


def _budget_epsilon(privacy: Any, config: Any, overrides: dict[str, str]) -> float | None:
    eps = _to_float(_dig(privacy, "budget.epsilon"))
    if eps is not None:
        return eps
    if isinstance(config, dict):
        if _dig(config, "dp.enabled") is False:
            return math.inf
        eps = _to_float(_dig(config, "dp.epsilon"))
        if eps is not None:
            return eps
    return _to_float(overrides.get(EPSILON_KEY))


def _ci_pair(value: Any) -> tuple[float, float] | None:
    """A ``[lo, hi]`` interval with two finite numbers, lo <= hi; anything else -> None."""
    if not isinstance(value, (list, tuple)) or len(value) != 2:
        return None
    lo, hi = _to_float(value[0]), _to_float(value[1])
    if lo is None or hi is None or not (math.isfinite(lo) and math.isfinite(hi)) or lo > hi:
        return None
    return lo, hi


def _read_eval(ev: Any) -> tuple[dict, dict]:
    """``metrics.json`` eval -> (split -> {metric: number}, split -> {metric: (lo, hi)})."""
    values: dict = {}
    cis: dict = {}
    if not isinstance(ev, dict):
        return values, cis
    for name, vals in ev.items():
        if not isinstance(vals, dict):
            continue
        values[name] = {k: v for k, v in vals.items() if _to_float(v) is not None}
        raw = vals.get("ci95")
        pairs = {k: _ci_pair(v) for k, v in raw.items()} if isinstance(raw, dict) else {}
        cis[name] = {k: v for k, v in pairs.items() if v is not None}
    return values, cis


def _job_method(metrics: Any, overrides: dict[str, str], config: Any) -> str | None:
    """metrics.json ``method``, else the ``method=`` override, else config ``method.name``."""
    for value in (_dig(metrics, METHOD_KEY), overrides.get(METHOD_KEY), _dig(config, "method.name")):
        if isinstance(value, str) and value.strip():
            return value.strip()
    return None


def _synthetic_size(metrics: Any) -> int | None:
    value = _to_float(_dig(metrics, "synthetic_size"))
    return int(value) if value is not None and math.isfinite(value) else None


def _guarantee_note(privacy: Any) -> str | None:
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


def _blank_row(job: str, job_dir: Path | None, overrides: dict[str, str], submitit_id: str | None) -> dict:
    """A job row with every key, nothing known yet (a failed job)."""
    return {
        "job": job,
        "job_dir": str(job_dir) if job_dir is not None else None,
        "overrides": overrides,
        "submitit_id": submitit_id,
        "method": overrides.get(METHOD_KEY) or None,
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
        "status": "failed",
        "error": None,
        "log": None,
    }


def _read_job(sweep_dir: Path, job_dir: Path) -> dict:
    overrides_list = _load_yaml(job_dir / ".hydra" / "overrides.yaml") or []
    if not isinstance(overrides_list, list):
        overrides_list = []
    overrides = dict(_parse_override(o) for o in overrides_list if isinstance(o, str))
    hydra_cfg = _load_yaml(job_dir / ".hydra" / "hydra.yaml")
    submitit_id = _dig(hydra_cfg, "hydra.job.id")
    submitit_id = str(submitit_id) if submitit_id not in (None, "???") else None
    job_num = _dig(hydra_cfg, "hydra.job.num")
    if not isinstance(job_num, int):
        job_num = int(job_dir.name) if job_dir.name.isdigit() else None

    config = _load_yaml(job_dir / "config.yaml")
    if not isinstance(config, dict):
        config = _load_yaml(job_dir / ".hydra" / "config.yaml")
    metrics = _load_json(job_dir / "metrics.json")
    privacy = _load_json(job_dir / "privacy.json")

    row = _blank_row(job_dir.name, job_dir, overrides, submitit_id)
    seed = overrides.get(SEED_KEY, _dig(config, "seed"))
    row.update({
        "method": _job_method(metrics, overrides, config),
        "seed": None if seed is None else str(seed),
        "budget_epsilon": _budget_epsilon(privacy, config, overrides),
        "epsilon": _to_float(_dig(privacy, "total.epsilon")),
        "epsilon_basic_composition": _to_float(_dig(privacy, "total.epsilon_basic_composition")),
        "delta": _to_float(_dig(privacy, "total.delta")),
        "formal_guarantee": _dig(privacy, "formal_guarantee"),
        "guarantee_note": _guarantee_note(privacy),
        "task": _dig(config, "task.name"),
    })
    if isinstance(metrics, dict):
        row["status"] = "ok"
        row["wall_time_s"] = _to_float(metrics.get("wall_time_s"))
        row["synthetic_size"] = _synthetic_size(metrics)
        row["eval"], row["ci95"] = _read_eval(metrics.get("eval"))
        row["set_metrics"] = read_set_metrics(metrics)
        row["filters"] = read_filters(metrics)
        if privacy is None:
            row["error"] = "privacy.json missing"
        return row

    # failed (or unfinished) job: find why and where to look
    sub_log = _submitit_log(sweep_dir, submitit_id, job_num)
    own_logs = sorted(job_dir.glob("*.log"))
    row["log"] = str(sub_log) if sub_log else (str(own_logs[0]) if own_logs else None)
    error = _first_line(job_dir / "error.txt")
    if error is None and sub_log is not None:
        error = _last_error_line(sub_log)
    if error is None and own_logs:
        error = _last_error_line(own_logs[0])
    row["error"] = error or "no metrics.json (the job crashed, was killed, or is still running)"
    return row


def _orphan_submitit_rows(sweep_dir: Path, known_ids: set[str], known_logs: set[str]) -> list[dict]:
    """Submitit tasks that left a log but no job folder (died before Hydra ran)."""
    rows = []
    for d in _submitit_dirs(sweep_dir):
        if d.name in known_ids:
            continue
        logs = sorted(d.glob("*_log.err"))
        if not logs or str(logs[0]) in known_logs:
            continue
        # a finished task's folder is named by its own id, e.g. 7_3 (array) or 4242 (local)
        row = _blank_row(f"submitit:{d.name}", None, {}, d.name)
        row["error"] = _last_error_line(logs[0]) or "no job folder: the task died before Hydra started"
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
    ``eval["target"]["rougeL"]``), ``ci95`` (split -> {metric: (lo, hi)}), ``status``
    (``"ok"`` or ``"failed"``), ``error`` (one line or None), ``log`` (path of the
    log to read for a failed job, or None). Values missing from the files are None.
    """
    sweep_dir = Path(sweep_dir)
    if not sweep_dir.is_dir():
        raise FileNotFoundError(f"sweep dir not found: {sweep_dir}")
    job_dirs = sorted((p for p in sweep_dir.iterdir() if _is_job_dir(p)), key=lambda p: _job_sort_key(p.name))
    rows = [_read_job(sweep_dir, d) for d in job_dirs]
    known_ids = {r["submitit_id"] for r in rows if r["submitit_id"]}
    known_logs = {r["log"] for r in rows if r["log"]}
    if any(r["status"] == "failed" and r["submitit_id"] is None for r in rows):
        # ids unknown for some jobs: do not guess orphans, the logs may be theirs
        orphans = []
    else:
        orphans = _orphan_submitit_rows(sweep_dir, known_ids, known_logs)
    return sort_rows(rows + orphans)


def _value_key(value: Any) -> tuple:
    f = _to_float(value)
    if f is not None:
        return (0, f, "")
    if value is None or value == "":
        return (2, 0.0, "")
    return (1, 0.0, str(value))


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
            tuple(_value_key(r["overrides"].get(k)) for k in others),
            _job_sort_key(r["job"]),
        )

    return sorted(rows, key=key)


def target_metrics(rows: Iterable[dict]) -> list[str]:
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


# --------------------------------------------------------------------------- method comparison


def _methods_vary(rows: Iterable[dict]) -> bool:
    return len({r["method"] for r in rows if r["job_dir"] and r["method"]}) > 1


def is_comparison(rows: list[dict]) -> bool:
    """Whether the sweep compares methods or repeats seeds (then the methods table is written)."""
    keys = swept_keys(rows)
    return METHOD_KEY in keys or SEED_KEY in keys or _methods_vary(rows)


def comparison_keys(rows: list[dict]) -> list[str]:
    """Swept settings that tell the comparison rows apart besides the method: all but seed (epsilon first)."""
    return [k for k in swept_keys(rows) if k not in (SEED_KEY, METHOD_KEY)]


def _stat(values: list[float], cis: list[tuple[float, float]]) -> dict:
    """Mean, sample std (None for one value), count, and the mean bootstrap bounds."""
    return {
        "mean": statistics.fmean(values) if values else None,
        "std": statistics.stdev(values) if len(values) > 1 else None,
        "n": len(values),
        "lo": statistics.fmean(c[0] for c in cis) if cis else None,
        "hi": statistics.fmean(c[1] for c in cis) if cis else None,
    }


def _metric_stat(ok: list[dict], metric: str, split: str = "target") -> dict:
    values, cis = [], []
    for r in ok:
        v = _to_float(r["eval"].get(split, {}).get(metric))
        if v is None or not math.isfinite(v):
            continue
        values.append(v)
        ci = r["ci95"].get(split, {}).get(metric)
        if ci is not None:
            cis.append(ci)
    return _stat(values, cis)


def _finite(values: Iterable[Any]) -> list[float]:
    out = [_to_float(v) for v in values]
    return [v for v in out if v is not None and not math.isnan(v)]


def _formal(rows: list[dict]) -> bool | None:
    """False if any job lacks a formal guarantee, True if all have one, None if unknown."""
    known = [r["formal_guarantee"] for r in rows if isinstance(r["formal_guarantee"], bool)]
    if not known:
        return None
    return all(known)


def aggregate(rows: list[dict]) -> list[dict]:
    """The comparison rows: jobs grouped by method and every swept setting except ``seed``.

    Each group: ``method``, ``settings`` (comparison key -> override value),
    ``budget_epsilon``, ``rows`` (its jobs), ``ok`` (completed ones), ``n_failed``,
    ``seeds``, ``metrics`` (target metric -> {"mean", "std", "n", "lo", "hi"}: mean
    and sample std over the completed seeds, lo/hi the mean of their 95% bootstrap
    bounds), ``epsilons``/``deltas``/``synthetic_sizes``/``n_items`` (per completed
    job), ``formal_guarantee`` (see :func:`_formal`) and ``guarantee_note``. Ordered
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
        j = min(_job_sort_key(r["job"]) for r in g["rows"])
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
            "metrics": {m: _metric_stat(ok, m) for m in metrics},
            "epsilons": _finite(r["epsilon"] for r in ok),
            "deltas": _finite(r["delta"] for r in ok),
            "synthetic_sizes": [r["synthetic_size"] for r in ok if r["synthetic_size"] is not None],
            "n_items": [int(v) for v in _finite(r["eval"].get("target", {}).get("n") for r in ok)],
            "formal_guarantee": _formal(ok or g["rows"]),
            "guarantee_note": notes[0] if notes else None,
            "task": next((r["task"] for r in g["rows"] if r["task"]), None),
            "set_metrics": {k: _stat(_finite(r["set_metrics"].get(k) for r in ok), [])
                            for k in set_metric_keys(ok)},
            "filters": _filter_means(ok),
        })
        out.append(g)
    budget = lambda e: (e is None, e if e is not None else 0.0)  # noqa: E731
    return sorted(out, key=lambda g: (tuple(_value_key(g["settings"][k]) for k in keys), budget(g["budget_epsilon"]),
                                      first_job[g["method"]]))


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


def error_bar(stat: dict) -> tuple[float, float]:
    """(below, above) the point: the std over seeds when aggregated, else the bootstrap interval, else 0."""
    mean = stat.get("mean")
    if mean is None:
        return 0.0, 0.0
    if stat.get("n", 0) > 1 and stat.get("std") is not None:
        return stat["std"], stat["std"]
    if stat.get("lo") is not None and stat.get("hi") is not None:
        return max(0.0, mean - stat["lo"]), max(0.0, stat["hi"] - mean)
    return 0.0, 0.0


# --------------------------------------------------------------------------- writing


def _fmt(value: Any, digits: int = 4) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "yes" if value else "no"
    f = _to_float(value)
    if f is None:
        return str(value)
    if math.isinf(f):
        return "inf" if f > 0 else "-inf"
    if math.isnan(f):
        return "nan"
    if f != 0 and (abs(f) < 1e-3 or abs(f) >= 1e6):
        return f"{f:.{digits - 1}e}"
    return f"{f:.{digits}g}" if abs(f) >= 1 else f"{f:.{digits}f}".rstrip("0").rstrip(".") or "0"


def _status_text(r: dict) -> str:
    if r["status"] != "ok":
        return "FAILED"
    if r["formal_guarantee"] is False:
        return "ok (no formal DP guarantee)"
    if r["error"]:
        return f"ok ({r['error']})"
    return "ok"


def _md_escape(text: str) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ")


def _csv_num(v: Any) -> str:
    if isinstance(v, int) and not isinstance(v, bool):
        return str(v)
    f = _to_float(v)
    if f is None:
        return "" if v is None else str(v)
    return "inf" if math.isinf(f) and f > 0 else repr(f) if not f.is_integer() else str(f)


def _csv_bool(v: Any) -> str:
    return "" if v is None else str(bool(v)).lower()


def csv_text(rows: list[dict]) -> str:
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
            + [_csv_num(r["budget_epsilon"]), _csv_num(r["epsilon"]), _csv_num(r["epsilon_basic_composition"]),
               _csv_num(r["delta"]), _csv_bool(r["formal_guarantee"]), r["guarantee_note"] or "",
               _csv_num(r["synthetic_size"])]
        )
        for s, m in eval_cols:
            cells.append(_csv_num(r["eval"].get(s, {}).get(m)))
            if (s, m) in has_ci:
                ci = r["ci95"].get(s, {}).get(m)
                cells += [_csv_num(ci[0]), _csv_num(ci[1])] if ci else ["", ""]
        cells += [_csv_num(r["set_metrics"].get(k)) for k in set_keys]
        w.writerow(cells + [_csv_num(r["wall_time_s"]), r["status"], r["error"] or "", r["log"] or "",
                            r["job_dir"] or ""])
    return buf.getvalue()


def _mean_or_int(values: list) -> Any:
    if not values:
        return None
    m = statistics.fmean(values)
    return int(m) if float(m).is_integer() else m


def _group_set_keys(groups: list[dict]) -> list[str]:
    return set_metric_keys({"set_metrics": g.get("set_metrics", {})} for g in groups)


def methods_csv_text(groups: list[dict], keys: list[str], metrics: list[str]) -> str:
    """The methods table, one row per comparison group, numbers in separate columns.

    Per metric: the mean over seeds, ``_std`` (sample std, blank for one seed) and
    ``_ci_lo``/``_ci_hi`` (the 95% bootstrap bounds, averaged over seeds).
    ``epsilon``/``delta``: the largest composed value among the seeds;
    ``synthetic_size``/``n_items``: the mean over seeds.
    """
    header = (["method"] + keys + ["budget_epsilon", "n_seeds", "n_failed", "seeds"]
              + [f"{m}{suffix}" for m in metrics for suffix in ("", "_std", "_ci_lo", "_ci_hi")]
              + ["n_items", "synthetic_size", "epsilon", "delta", "formal_guarantee", "guarantee_note"])
    set_keys = _group_set_keys(groups)
    header += [f"{k}{suffix}" for k in set_keys for suffix in ("", "_std")]
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(header)
    for g in groups:
        cells = [g["method"] or ""] + [g["settings"].get(k, "") for k in keys] + [
            _csv_num(g["budget_epsilon"]), str(len(g["ok"])), str(g["n_failed"]), " ".join(g["seeds"])]
        for m in metrics:
            st = g["metrics"].get(m) or _stat([], [])
            cells += [_csv_num(st["mean"]), _csv_num(st["std"]), _csv_num(st["lo"]), _csv_num(st["hi"])]
        cells += [_csv_num(_mean_or_int(g["n_items"])), _csv_num(_mean_or_int(g["synthetic_sizes"])),
                  _csv_num(max(g["epsilons"]) if g["epsilons"] else None),
                  _csv_num(max(g["deltas"]) if g["deltas"] else None),
                  _csv_bool(g["formal_guarantee"]), g["guarantee_note"] or ""]
        for k in set_keys:
            st = g.get("set_metrics", {}).get(k) or _stat([], [])
            cells += [_csv_num(st["mean"]), _csv_num(st["std"])]
        w.writerow(cells)
    return buf.getvalue()


def _value_cell(value: Any, ci: tuple[float, float] | None) -> str:
    """One job's metric: ``value [lo, hi]`` (the interval when the job reported one)."""
    text = _fmt(value)
    if text and ci is not None:
        text += f" [{_fmt(ci[0])}, {_fmt(ci[1])}]"
    return text


def _stat_cell(st: dict | None) -> str:
    """A comparison cell: ``mean ± std [lo, hi]`` (± only with several seeds, [..] only with intervals)."""
    if not st or st["mean"] is None:
        return ""
    text = _fmt(st["mean"])
    if st["n"] > 1 and st["std"] is not None:
        text += f" ± {_fmt(st['std'])}"
    if st["lo"] is not None and st["hi"] is not None:
        text += f" [{_fmt(st['lo'])}, {_fmt(st['hi'])}]"
    return text


def _range_cell(values: list, fmt=_fmt) -> str:
    """One value when the seeds agree, else ``min–max``."""
    if not values:
        return ""
    lo, hi = min(values), max(values)
    return fmt(lo) if lo == hi else f"{fmt(lo)}–{fmt(hi)}"


def _short_note(note: str, limit: int = NOTE_CHARS) -> str:
    """The first sentence of a guarantee note, cut at a word boundary near ``limit`` characters."""
    text = " ".join(str(note).split())
    text = re.split(r"(?<=[.;])\s", text, maxsplit=1)[0].rstrip(".;")
    if len(text) <= limit:
        return text
    cut = text[:limit].rsplit(" ", 1)[0].rstrip(",:;")
    return cut + "…"


def _epsilon_cell(g: dict) -> str:
    if g["formal_guarantee"] is False:
        return f"none ({_short_note(g['guarantee_note'])})" if g["guarantee_note"] else "none"
    return _range_cell(g["epsilons"])


def _seeds_cell(g: dict) -> str:
    return f"{len(g['ok'])}" + (f" (+{g['n_failed']} failed)" if g["n_failed"] else "")


def _table(header: list[str], body: list[list[str]], left: Iterable[str] = ()) -> list[str]:
    """Markdown table lines; columns named in ``left`` (and the first) are left-aligned."""
    left = set(left)
    lines = ["| " + " | ".join(_md_escape(h) for h in header) + " |",
             "|" + "|".join("---" if i == 0 or h in left else "---:" for i, h in enumerate(header)) + "|"]
    lines += ["| " + " | ".join(_md_escape(c) for c in cells) + " |" for cells in body]
    return lines


METHODS_EXPLAINED = (
    "One row per method{settings}; every metric is the fine-tuned target model's on the test split "
    "(`eval.target`). With one seed a cell is `value [lo, hi]`; with several seeds (jobs that differ only in "
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


def methods_lines(rows: list[dict], groups: list[dict]) -> list[str]:
    keys = comparison_keys(rows)
    metrics = comparison_metrics([r for r in rows if r["status"] == "ok"])
    settings = f" and setting of {', '.join(f'`{k}`' for k in keys)}" if keys else ""
    header = ["method"] + keys + ["seeds"] + [DISPLAY.get(m, m) for m in metrics] + [
        "test items", "synthetic size", "composed ε", "δ"]
    body = []
    for g in groups:
        body.append([g["method"] or "?"] + [g["settings"].get(k, "") for k in keys] + [_seeds_cell(g)]
                    + [_stat_cell(g["metrics"].get(m)) for m in metrics]
                    + [_range_cell(g["n_items"], str), _range_cell(g["synthetic_sizes"], str), _epsilon_cell(g),
                       _range_cell(g["deltas"], lambda d: _fmt(d, 3))])
    return ["## Methods", "", METHODS_EXPLAINED.format(settings=settings), "",
            *_table(header, body, left=["method", "composed ε"]), ""]


# --------------------------------------------------------------------------- leakage, data quality, filters

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


def read_set_metrics(metrics: Any) -> dict:
    """metrics.json -> {key: number} of :data:`SET_METRICS` and ``pii.<label>.<field>`` (PII
    reconstruction per model label: ``client_eval.pii.<label>``, else ``eval.<label>.pii``)."""
    out = {key: _to_float(_dig(metrics, path)) for key, path, _ in SET_METRICS}
    pii = _dig(metrics, "client_eval.pii")
    if not isinstance(pii, dict):
        evals = _dig(metrics, "eval")
        pii = {label: v["pii"] for label, v in evals.items() if isinstance(v, dict) and isinstance(v.get("pii"), dict)} \
            if isinstance(evals, dict) else {}
    for label, vals in pii.items():
        for field, _ in PII_FIELDS:
            out[f"pii.{label}.{field}"] = _to_float(_dig(vals, field))
    return {k: v for k, v in out.items() if v is not None}


def set_metric_keys(rows: Iterable[dict]) -> list[str]:
    """Keys present in some row: PII per label first (target last of the known labels), then SET_METRICS."""
    present = {k for r in rows for k in r.get("set_metrics", {})}
    labels = sorted({k.split(".")[1] for k in present if k.startswith("pii.")},
                    key=lambda lb: (PII_LABELS.index(lb) if lb in PII_LABELS else len(PII_LABELS), lb))
    pii = [f"pii.{lb}.{f}" for lb in labels for f, _ in PII_FIELDS if f"pii.{lb}.{f}" in present]
    return pii + [key for key, _, _ in SET_METRICS if key in present]


def _set_header(key: str) -> str:
    if key.startswith("pii."):
        _, label, field = key.split(".", 2)
        return f"{dict(PII_FIELDS)[field]} ({label})"
    return next(h for k, _, h in SET_METRICS if k == key)


FILTER_COUNTS = ("in", "questions", "kept", "dropped")


def read_filters(metrics: Any) -> dict:
    """Per server step whose summary has ``kept``: {in, kept, dropped, <reason>: count} (metrics.json
    stages -> step -> summary; ``in`` is the step's ``in`` or ``questions``, dropped = in - kept
    unless given)."""
    out = {}
    stages = _dig(metrics, "stages")
    for name, rec in (stages.items() if isinstance(stages, dict) else ()):
        summary = rec.get("summary") if isinstance(rec, dict) else None
        if not isinstance(summary, dict) or _to_float(summary.get("kept")) is None:
            continue
        n_in = _to_float(summary.get("in", summary.get("questions")))
        kept = _to_float(summary["kept"])
        dropped = _to_float(summary.get("dropped"))
        row = {"in": n_in, "kept": kept, "dropped": dropped if dropped is not None else
               (n_in - kept if n_in is not None else None)}
        row.update({k: float(v) for k, v in summary.items() if k not in FILTER_COUNTS and isinstance(v, int)
                    and not isinstance(v, bool)})
        out[name] = row
    return out


def _filter_means(ok: list[dict]) -> dict:
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
    header = ["method"] + settings_keys + ["ROUGE-L"] + [_set_header(k) for k in keys]
    body = []
    for g in groups:
        body.append([g["method"] or "?"] + [g["settings"].get(k, "") for k in settings_keys]
                    + [_fmt(g["metrics"].get("rougeL", {}).get("mean"))]
                    + [_fmt(g["set_metrics"].get(k, {}).get("mean")) for k in keys])
    return ["## Leakage and data quality", "", LEAKAGE_EXPLAINED.format(settings=settings), "",
            *_table(header, body, left=["method"]), ""]


def filter_lines(rows: list[dict], groups: list[dict]) -> list[str]:
    """Per method and filtering step: items in, kept, dropped and why (means over seeds)."""
    body = []
    settings_keys = comparison_keys(rows)
    for g in groups:
        for step, c in g.get("filters", {}).items():
            reasons = ", ".join(f"{k} {_fmt(v)}" for k, v in c.items() if k not in FILTER_COUNTS)
            body.append([g["method"] or "?"] + [g["settings"].get(k, "") for k in settings_keys]
                        + [step, _fmt(c.get("in")), _fmt(c.get("kept")), _fmt(c.get("dropped")), reasons])
    if not body:
        return []
    header = ["method"] + settings_keys + ["step", "in", "kept", "dropped", "dropped because"]
    return ["## Filters", "", "Per method and filtering step (metrics.json stages -> step -> summary, the mean "
            "over seeds): synthetic items in, kept, dropped, and the count per reason.", "",
            *_table(header, body, left=["method", "step", "dropped because"]), ""]


def job_lines(rows: list[dict]) -> list[str]:
    keys = swept_keys(rows)
    other_keys = [k for k in keys if k != EPSILON_KEY]
    method_col = _methods_vary(rows) and METHOD_KEY not in other_keys
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
                    + [_fmt(r["budget_epsilon"]), _fmt(r["epsilon"]), _fmt(r["delta"], 3)]
                    + [_value_cell(target.get(m), cis.get(m)) for m in metrics]
                    + ["" if r["wall_time_s"] is None else f"{r['wall_time_s']:.1f}", _status_text(r)])
    return lines + _table(header, body, left=["method", "status"]) + [""]


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
        if plot == "method":
            image = [f"![target {metric} by method; error bars: the 95% bootstrap interval, "
                     f"± one std over seeds when aggregated]({png_name})", ""]
        else:
            image = [f"![privacy-utility: target {metric} vs budget ε]({png_name})", ""]
    if groups is not None:  # comparison first, then the jobs it aggregates
        lines += methods_lines(rows, groups) + leakage_lines(rows, groups) + filter_lines(rows, groups) + image
        lines += ["## Jobs", ""] + job_lines(rows)
    else:
        lines += job_lines(rows) + image
    if failed:
        lines.append("## Failed jobs")
        lines.append("")
        for r in failed:
            ov = " ".join(f"{k}={v}" for k, v in r["overrides"].items()) or "(overrides unknown)"
            lines.append(f"- job `{r['job']}` ({_md_escape(ov)}): {_md_escape(r['error'] or 'unknown error')}")
            lines.append(f"  - log: `{r['log']}`" if r["log"] else "  - log: none found")
        lines.append("")
    return "\n".join(lines)


# --------------------------------------------------------------------------- plot


def plot_mode(rows: list[dict]) -> str:
    """"epsilon" (utility vs budget) when completed jobs span two or more finite budgets, or when
    the sweep compares nothing; "method" (one point per method) for a method/seed sweep at one budget."""
    budgets = {r["budget_epsilon"] for r in rows if r["status"] == "ok" and r["budget_epsilon"] is not None
               and math.isfinite(r["budget_epsilon"]) and r["budget_epsilon"] > 0}
    if len(budgets) >= 2 or not is_comparison(rows):
        return "epsilon"
    return "method"


def _line_label(g: dict, with_method: bool, keys: list[str]) -> str:
    parts = ([g["method"] or "?"] if with_method else []) + [f"{k}={g['settings'].get(k, '?')}" for k in keys]
    return ", ".join(parts) or "all jobs"


def _errorbars(ax, xs, stats, color) -> None:
    bars = [error_bar(st) for st in stats]
    if any(b != (0.0, 0.0) for b in bars):
        ax.errorbar(xs, [st["mean"] for st in stats], yerr=[[b[0] for b in bars], [b[1] for b in bars]],
                    fmt="none", ecolor=color, elinewidth=1, capsize=3, zorder=2)


def _base_line(ax, ok: list[dict], metric: str) -> None:
    base = [_to_float(r["eval"].get("base", {}).get(metric)) for r in ok]
    base = [b for b in base if b is not None and math.isfinite(b)]
    if base:
        ax.axhline(sum(base) / len(base), color="gray", linestyle="-.", linewidth=1,
                   label="base model (not fine-tuned)")


def _plot_epsilon(ax, rows: list[dict], groups: list[dict], metric: str) -> None:
    """Target utility vs budget ε (log x), one line per setting of the other swept keys (and method)."""
    from matplotlib.lines import Line2D
    from matplotlib.ticker import NullFormatter, ScalarFormatter

    import matplotlib.pyplot as plt

    with_method = _methods_vary(rows) or METHOD_KEY in swept_keys(rows)
    keys = [k for k in comparison_keys(rows) if k != EPSILON_KEY]
    lines: dict[str, list[dict]] = {}
    for g in groups:
        if g["metrics"].get(metric, {}).get("mean") is not None:
            lines.setdefault(_line_label(g, with_method, keys), []).append(g)
    colors = plt.rcParams["axes.prop_cycle"].by_key()["color"]
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
                ax.annotate(f"{_fmt(comp, 3)}", (comp, y), textcoords="offset points",
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


def _plot_methods(ax, rows: list[dict], groups: list[dict], metric: str) -> None:
    """One point per method (x: method), one series per setting of the other swept keys."""
    import matplotlib.pyplot as plt

    keys = comparison_keys(rows)
    shown = [g for g in groups if g["metrics"].get(metric, {}).get("mean") is not None]
    methods: list = []
    for g in shown:
        if g["method"] not in methods:
            methods.append(g["method"])
    series: dict[str, list[dict]] = {}
    for g in shown:
        series.setdefault(_line_label(g, False, keys), []).append(g)
    colors = plt.rcParams["axes.prop_cycle"].by_key()["color"]
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
    ax.set_xticks(range(len(methods)))
    ax.set_xticklabels([m or "?" for m in methods], rotation=30, ha="right")
    ax.set_xlim(-0.6, len(methods) - 0.4)
    if ax.get_legend_handles_labels()[0]:
        ax.legend(fontsize=8, loc="best")
    budgets = sorted({g["budget_epsilon"] for g in shown if g["budget_epsilon"] is not None
                      and math.isfinite(g["budget_epsilon"])})
    ax.set_xlabel("method")
    ax.set_title("methods compared" + (f" at budget ε = {_fmt(budgets[0])}" if len(budgets) == 1 else ""))


def plot_png(rows: list[dict], metric: str | None, groups: list[dict] | None = None, mode: str | None = None) -> bytes:
    """privacy_utility.png: :func:`_plot_epsilon` or :func:`_plot_methods` (see :func:`plot_mode`);
    error bars: the std over seeds for aggregated points, else the job's 95% bootstrap interval."""
    import matplotlib

    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt

    groups = aggregate(rows) if groups is None else groups
    mode = plot_mode(rows) if mode is None else mode
    fig, ax = plt.subplots(figsize=(7.5, 4.8), dpi=120)
    try:
        ok = [r for r in rows if r["status"] == "ok" and metric
              and _to_float(r["eval"].get("target", {}).get(metric)) is not None]
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
            if any(error_bar(g["metrics"].get(metric, {})) != (0.0, 0.0) for g in groups):
                fig.text(0.01, 0.01, "error bars: 95% bootstrap interval over test items; "
                         "± 1 std over seeds where seeds are aggregated", fontsize=7, color="dimgray")
        fig.tight_layout(rect=(0, 0.03, 1, 1))
        buf = io.BytesIO()
        fig.savefig(buf, format="png")
        return buf.getvalue()
    finally:
        plt.close(fig)


def write_report(sweep_dir, out_dir=None, metric: str | None = None) -> dict:
    """Collect the sweep and write report.md, report.csv, privacy_utility.png (and
    report_methods.csv for a method/seed sweep). ``metric``: the plotted one (default:
    :func:`default_metric`). Returns rows, groups (None unless a comparison), the chosen
    metric, the plot mode and the paths written."""
    sweep_dir = Path(sweep_dir)
    out = Path(out_dir) if out_dir is not None else sweep_dir
    rows = collect(sweep_dir)
    chosen = choose_metric(rows, metric)
    groups = aggregate(rows) if is_comparison(rows) else None
    mode = plot_mode(rows)
    paths = {"md": out / "report.md", "csv": out / "report.csv", "png": out / "privacy_utility.png"}
    if groups is not None:
        paths["methods_csv"] = out / "report_methods.csv"
        write_text(paths["methods_csv"], methods_csv_text(groups, comparison_keys(rows),
                                                          comparison_metrics([r for r in rows if r["status"] == "ok"])))
    write_text(paths["csv"], csv_text(rows))
    write_bytes(paths["png"], plot_png(rows, chosen, groups if groups is not None else aggregate(rows), mode))
    write_text(paths["md"], markdown_text(rows, sweep_dir, chosen, paths["png"].name, groups, mode) + "\n")
    return {"rows": rows, "groups": groups, "metric": chosen, "plot": mode, "paths": paths}


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="python -m rewardds.report", description=__doc__.splitlines()[0])
    p.add_argument("sweep_dir", help="Hydra multirun folder (hydra.sweep.dir)")
    p.add_argument("--metric", default=None,
                   help="target metric for the plot (default: pass@1 for code jobs, rougeL otherwise; "
                        "falls back to another metric when absent)")
    p.add_argument("--out", default=None, help="output folder (default: SWEEP_DIR)")
    args = p.parse_args(argv)
    sweep_dir = Path(args.sweep_dir)
    if not sweep_dir.is_dir():
        print(f"error: sweep dir not found: {sweep_dir}", file=sys.stderr)
        return 2
    result = write_report(sweep_dir, args.out, args.metric)
    rows = result["rows"]
    if not rows:
        print(f"error: no job folders in {sweep_dir}", file=sys.stderr)
        return 1
    wanted = args.metric or default_metric(rows)
    if result["metric"] is None:
        print("note: no completed job has target metrics; the plot is empty", file=sys.stderr)
    elif result["metric"] != wanted:
        print(f"note: metric {wanted!r} not found; plotted {result['metric']!r}", file=sys.stderr)
    n_failed = sum(r["status"] != "ok" for r in rows)
    extra = f", {result['paths']['methods_csv'].name}" if "methods_csv" in result["paths"] else ""
    print(f"{len(rows)} jobs ({n_failed} failed) -> {result['paths']['md']}, "
          f"{result['paths']['csv'].name}{extra}, {result['paths']['png'].name}")
    for r in rows:
        if r["status"] != "ok":
            print(f"  failed job {r['job']}: {r['error']} (log: {r['log']})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
