"""Why a job failed and which log to read: ``error.txt``, submitit's and Hydra's logs.

A job without ``metrics.json`` crashed, was killed or is still running; the
report names the one log that tells which, and its last error line, so a failed
job of a 50-job sweep can be diagnosed from the report alone.
"""
from __future__ import annotations

import re
from pathlib import Path


def first_line(path: Path) -> str | None:
    """The first non-blank line of a file (``error.txt``), stripped; None when absent or blank."""
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return None
    for line in text.splitlines():
        if line.strip():
            return line.strip()
    return None


def last_error_line(path: Path) -> str | None:
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


def submitit_dirs(sweep_dir: Path) -> list[Path]:
    """The task folders of the submitit launcher (``SWEEP_DIR/.submitit/<id>``)."""
    root = sweep_dir / ".submitit"
    if not root.is_dir():
        return []
    return sorted(p for p in root.iterdir() if p.is_dir())


def submitit_log(sweep_dir: Path, submitit_id: str | None, job_num: int | None) -> Path | None:
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
