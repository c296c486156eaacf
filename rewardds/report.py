"""Privacy-utility report of a sweep: ``python -m rewardds.report SWEEP_DIR [--metric rougeL] [--out DIR]``.

A sweep dir is a Hydra multirun folder (``hydra.sweep.dir``) with one subfolder per
job (``SWEEP_DIR/0``, ``SWEEP_DIR/1``, ...); it may also hold ``.submitit/`` (the
submitit launcher's logs) and ``multirun.yaml``. The report writes into ``--out``
(default: SWEEP_DIR) ``report.md`` (markdown table), ``report.csv`` (one row per
job, every column) and ``privacy_utility.png`` (target utility vs the privacy
budget epsilon, log x axis, one line per filter setting).

Contract with the pipeline: files in each job folder
------------------------------------------------------
``.hydra/overrides.yaml``  (Hydra) the job's command-line overrides, a YAML list of
    strings such as ``dp.epsilon=4``, ``filter.keep_ratio=0.125``. The "swept"
    overrides are the keys whose value differs between jobs.
``.hydra/hydra.yaml``  (Hydra) ``hydra.job.id`` is the submitit job id (``7_3`` on
    SLURM arrays, a pid locally); used to find the job's submitit log.
``config.yaml``  the resolved run config (YAML); ``dp.epsilon`` / ``dp.enabled`` are
    the fallback for the budget when ``privacy.json`` is missing
    (``.hydra/config.yaml`` is the next fallback, then the ``dp.epsilon`` override).
``metrics.json``  written when the job completed::

    {"wall_time_s": float,
     "eval": {"target":    {"rouge1": .., "rouge2": .., "rougeL": .., "bleu": .., "ppl": ..}
                           or {"pass@1": ..},
              "base":      {...},          # the un-fine-tuned model, same keys
              "gen_proxy": {...}},
     "stages": {...}, ...}

``privacy.json``::

    {"total": {"epsilon": float or "inf", "delta": float,
               "epsilon_basic_composition": float},
     "components": {...},
     "formal_guarantee": bool,
     "budget": {"epsilon": float, ...}}

A job without ``metrics.json`` counts as failed (crashed, killed, or still running).
It may hold ``error.txt`` (one line: the error). The report lists failed jobs with
their log: the submitit log ``SWEEP_DIR/.submitit/<id>/<id>_<task>_log.err`` of the
job, else the job's own ``*.log`` (Hydra's job log). Submitit tasks that never got
a job folder (killed before Hydra started) are listed as failed too.

Python API: ``collect(sweep_dir) -> list[dict]`` (one dict per job, see
``collect``'s docstring) and ``main(argv=None) -> int``.
"""
from __future__ import annotations

import argparse
import csv
import io
import json
import math
import re
import sys
from pathlib import Path
from typing import Any, Iterable

import yaml

from rewardds.io import write_bytes, write_text

EPSILON_KEY = "dp.epsilon"
MAIN_METRICS = ("rouge1", "rouge2", "rougeL", "bleu", "ppl", "pass@1")
FALLBACK_METRICS = ("rougeL", "pass@1", "rouge1", "bleu")
HIGHER_IS_BETTER_EXCEPT = ("ppl",)

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


def _read_job(sweep_dir: Path, job_dir: Path) -> dict:
    overrides_list = _load_yaml(job_dir / ".hydra" / "overrides.yaml") or []
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

    row: dict = {
        "job": job_dir.name,
        "job_dir": str(job_dir),
        "overrides": overrides,
        "submitit_id": submitit_id,
        "budget_epsilon": _budget_epsilon(privacy, config, overrides),
        "epsilon": _to_float(_dig(privacy, "total.epsilon")),
        "epsilon_basic_composition": _to_float(_dig(privacy, "total.epsilon_basic_composition")),
        "delta": _to_float(_dig(privacy, "total.delta")),
        "formal_guarantee": _dig(privacy, "formal_guarantee"),
        "task": _dig(config, "task.name"),
        "wall_time_s": None,
        "eval": {},
        "status": "failed",
        "error": None,
        "log": None,
    }
    if isinstance(metrics, dict):
        row["status"] = "ok"
        row["wall_time_s"] = _to_float(metrics.get("wall_time_s"))
        ev = metrics.get("eval")
        if isinstance(ev, dict):
            row["eval"] = {
                name: {k: v for k, v in vals.items() if _to_float(v) is not None}
                for name, vals in ev.items()
                if isinstance(vals, dict)
            }
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
        rows.append({
            "job": f"submitit:{d.name}",
            "job_dir": None,
            "overrides": {},
            "submitit_id": d.name,
            "budget_epsilon": None,
            "epsilon": None,
            "epsilon_basic_composition": None,
            "delta": None,
            "formal_guarantee": None,
            "task": None,
            "wall_time_s": None,
            "eval": {},
            "status": "failed",
            "error": _last_error_line(logs[0]) or "no job folder: the task died before Hydra started",
            "log": str(logs[0]),
        })
    return rows


def collect(sweep_dir) -> list[dict]:
    """Read every job of a sweep; one dict per job, sorted (see ``sort_rows``).

    Keys: ``job`` (folder name), ``job_dir``, ``overrides`` (dict key -> raw value
    string), ``submitit_id``, ``budget_epsilon`` (float; ``inf`` without DP),
    ``epsilon`` (composed total epsilon, float or inf), ``epsilon_basic_composition``,
    ``delta``, ``formal_guarantee``, ``task``, ``wall_time_s``, ``eval`` (dict
    split -> {metric: value}, e.g. ``eval["target"]["rougeL"]``), ``status``
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


def choose_metric(rows: list[dict], wanted: str) -> str | None:
    available = target_metrics(rows)
    if wanted in available:
        return wanted
    for m in FALLBACK_METRICS:
        if m in available:
            return m
    return available[0] if available else None


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
    header = (
        ["job"] + keys
        + ["budget_epsilon", "epsilon", "epsilon_basic_composition", "delta", "formal_guarantee"]
        + [f"{s}.{m}" for s, m in eval_cols]
        + ["wall_time_s", "status", "error", "log", "job_dir"]
    )
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(header)

    def num(v: Any) -> str:
        f = _to_float(v)
        if f is None:
            return "" if v is None else str(v)
        return "inf" if math.isinf(f) and f > 0 else repr(f) if not f.is_integer() else str(f)

    for r in rows:
        w.writerow(
            [r["job"]] + [r["overrides"].get(k, "") for k in keys]
            + [num(r["budget_epsilon"]), num(r["epsilon"]), num(r["epsilon_basic_composition"]),
               num(r["delta"]), "" if r["formal_guarantee"] is None else str(bool(r["formal_guarantee"])).lower()]
            + [num(r["eval"].get(s, {}).get(m)) for s, m in eval_cols]
            + [num(r["wall_time_s"]), r["status"], r["error"] or "", r["log"] or "", r["job_dir"] or ""]
        )
    return buf.getvalue()


def markdown_text(rows: list[dict], sweep_dir: Path, metric: str | None, png_name: str) -> str:
    keys = swept_keys(rows)
    other_keys = [k for k in keys if k != EPSILON_KEY]
    metrics = target_metrics(rows)
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
    lines.append("Budget ε: the requested budget (`privacy.json` budget.epsilon); composed ε: what the "
                 "accountant composed for the whole release (total.epsilon), with its δ. "
                 "Metrics: the fine-tuned target model on the test split.")
    lines.append("")
    header = ["job"] + other_keys + ["budget ε", "composed ε", "δ"] + [f"target {m}" for m in metrics] \
        + ["wall time (s)", "status"]
    lines.append("| " + " | ".join(_md_escape(h) for h in header) + " |")
    lines.append("|" + "|".join("---" if i == 0 or h == "status" else "---:" for i, h in enumerate(header)) + "|")
    for r in rows:
        cells = [r["job"]] + [r["overrides"].get(k, "") for k in other_keys] + [
            _fmt(r["budget_epsilon"]), _fmt(r["epsilon"]), _fmt(r["delta"], 3)
        ] + [_fmt(r["eval"].get("target", {}).get(m)) for m in metrics] + [
            "" if r["wall_time_s"] is None else f"{r['wall_time_s']:.1f}", _status_text(r)
        ]
        lines.append("| " + " | ".join(_md_escape(c) for c in cells) + " |")
    lines.append("")
    if metric:
        lines.append(f"![privacy-utility: target {metric} vs budget ε]({png_name})")
        lines.append("")
    if failed:
        lines.append("## Failed jobs")
        lines.append("")
        for r in failed:
            ov = " ".join(f"{k}={v}" for k, v in r["overrides"].items()) or "(overrides unknown)"
            lines.append(f"- job `{r['job']}` ({_md_escape(ov)}): {_md_escape(r['error'] or 'unknown error')}")
            lines.append(f"  - log: `{r['log']}`" if r["log"] else "  - log: none found")
        lines.append("")
    return "\n".join(lines)


def _group_label(r: dict, keys: list[str]) -> str:
    if not keys:
        return "all jobs"
    return ", ".join(f"{k}={r['overrides'].get(k, '?')}" for k in keys)


def plot_png(rows: list[dict], metric: str | None) -> bytes:
    import matplotlib

    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt
    from matplotlib.lines import Line2D
    from matplotlib.ticker import NullFormatter, ScalarFormatter

    fig, ax = plt.subplots(figsize=(7.5, 4.8), dpi=120)
    try:
        ok = [r for r in rows if r["status"] == "ok" and metric
              and _to_float(r["eval"].get("target", {}).get(metric)) is not None]
        if not ok:
            ax.text(0.5, 0.5, "no completed job with a target metric", ha="center", va="center",
                    transform=ax.transAxes)
            ax.set_axis_off()
        else:
            others = [k for k in swept_keys(rows) if k != EPSILON_KEY]
            groups: dict[str, list[dict]] = {}
            for r in ok:
                groups.setdefault(_group_label(r, others), []).append(r)
            colors = plt.rcParams["axes.prop_cycle"].by_key()["color"]
            xs_all: list[float] = []
            any_composed = False
            def group_key(item: tuple[str, list[dict]]) -> tuple:
                first = item[1][0]
                return tuple(_value_key(first["overrides"].get(k)) for k in others)

            for i, (label, grp) in enumerate(sorted(groups.items(), key=group_key)):
                color = colors[i % len(colors)]
                finite = sorted((r for r in grp if r["budget_epsilon"] is not None
                                 and math.isfinite(r["budget_epsilon"]) and r["budget_epsilon"] > 0),
                                key=lambda r: r["budget_epsilon"])
                xs = [r["budget_epsilon"] for r in finite]
                ys = [float(r["eval"]["target"][metric]) for r in finite]
                xs_all += xs
                if xs:
                    ax.plot(xs, ys, "-o", color=color, label=label, markersize=6, zorder=3)
                for r, x, y in zip(finite, xs, ys):
                    comp = r["epsilon"]
                    if comp is not None and math.isfinite(comp) and comp > 0:
                        any_composed = True
                        xs_all.append(comp)
                        ax.plot([x, comp], [y, y], ":", color=color, linewidth=1, zorder=2)
                        ax.plot([comp], [y], marker="D", markerfacecolor="none", color=color,
                                linestyle="none", markersize=6, zorder=3)
                        ax.annotate(f"{_fmt(comp, 3)}", (comp, y), textcoords="offset points",
                                    xytext=(4, 5), fontsize=7, color=color)
                    elif comp is not None and math.isinf(comp):
                        ax.annotate("composed ε = inf", (x, y), textcoords="offset points",
                                    xytext=(4, -10), fontsize=7, color=color)
                for r in grp:  # DP off: no epsilon to place on the axis
                    if r["budget_epsilon"] is not None and math.isinf(r["budget_epsilon"]):
                        ax.axhline(float(r["eval"]["target"][metric]), color=color, linestyle="--",
                                   linewidth=1, label=f"{label} (no DP)")
            base = [_to_float(r["eval"].get("base", {}).get(metric)) for r in ok]
            base = [b for b in base if b is not None]
            if base:
                ax.axhline(sum(base) / len(base), color="gray", linestyle="-.", linewidth=1,
                           label="base model (not fine-tuned)")
            if xs_all:
                ax.set_xscale("log")
                ticks = sorted({r["budget_epsilon"] for r in ok if r["budget_epsilon"]
                                and math.isfinite(r["budget_epsilon"])})
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
                handles.append(Line2D([], [], marker="D", markerfacecolor="none", color="black",
                                      linestyle="none"))
                labels.append("at composed ε (accountant)")
            ax.legend(handles, labels, fontsize=8, loc="best")
            ax.set_xlabel("privacy budget ε (log scale)")
            arrow = " (lower is better)" if metric in HIGHER_IS_BETTER_EXCEPT else ""
            ax.set_ylabel(f"target {metric}{arrow}")
            tasks = sorted({r["task"] for r in ok if r["task"]})
            ax.set_title(f"{'/'.join(tasks) + ': ' if tasks else ''}utility vs privacy budget")
            ax.grid(True, which="both", alpha=0.3)
        fig.tight_layout()
        buf = io.BytesIO()
        fig.savefig(buf, format="png")
        return buf.getvalue()
    finally:
        plt.close(fig)


def write_report(sweep_dir, out_dir=None, metric: str = "rougeL") -> dict:
    """Collect the sweep and write report.md, report.csv and privacy_utility.png."""
    sweep_dir = Path(sweep_dir)
    out = Path(out_dir) if out_dir is not None else sweep_dir
    rows = collect(sweep_dir)
    chosen = choose_metric(rows, metric)
    paths = {"md": out / "report.md", "csv": out / "report.csv", "png": out / "privacy_utility.png"}
    write_text(paths["csv"], csv_text(rows))
    write_bytes(paths["png"], plot_png(rows, chosen))
    write_text(paths["md"], markdown_text(rows, sweep_dir, chosen, paths["png"].name) + "\n")
    return {"rows": rows, "metric": chosen, "paths": paths}


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="python -m rewardds.report", description=__doc__.splitlines()[0])
    p.add_argument("sweep_dir", help="Hydra multirun folder (hydra.sweep.dir)")
    p.add_argument("--metric", default="rougeL",
                   help="target metric for the plot (default rougeL; falls back to pass@1 etc. when absent)")
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
    if result["metric"] is None:
        print("note: no completed job has target metrics; the plot is empty", file=sys.stderr)
    elif result["metric"] != args.metric:
        print(f"note: metric {args.metric!r} not found; plotted {result['metric']!r}", file=sys.stderr)
    n_failed = sum(r["status"] != "ok" for r in rows)
    print(f"{len(rows)} jobs ({n_failed} failed) -> {result['paths']['md']}, "
          f"{result['paths']['csv'].name}, {result['paths']['png'].name}")
    for r in rows:
        if r["status"] != "ok":
            print(f"  failed job {r['job']}: {r['error']} (log: {r['log']})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
