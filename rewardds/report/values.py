"""Loose values of the job-folder contract: reading them, and writing them as text.

Job folders come from many versions of the pipeline, from crashed jobs and from
hand edits, so every value read from them may be missing or of the wrong type.
These helpers turn such values into numbers or None instead of raising, and
format numbers the same way in every table of the report.  Also the contract's
key names and metric names, shared by every report module.
"""
from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any, Iterable

import yaml

EPSILON_KEY = "dp.epsilon"
SEED_KEY = "seed"
METHOD_KEY = "method"
MAIN_METRICS = ("rouge1", "rouge2", "rougeL", "bleu", "ppl", "pass@1")
FALLBACK_METRICS = ("rougeL", "pass@1", "rouge1", "bleu")
HIGHER_IS_BETTER_EXCEPT = ("ppl",)
QA_COMPARE = ("rouge1", "rouge2", "rougeL", "bleu", "ppl")  # method table columns for QA jobs
DISPLAY = {"rouge1": "ROUGE-1", "rouge2": "ROUGE-2", "rougeL": "ROUGE-L", "bleu": "BLEU", "ppl": "ppl"}


def load_yaml(path: Path) -> Any:
    """The YAML document at ``path``; None when missing or malformed."""
    try:
        with open(path, encoding="utf-8") as fh:
            return yaml.safe_load(fh)
    except (OSError, yaml.YAMLError):
        return None


def load_json(path: Path) -> Any:
    """The JSON document at ``path``; None when missing or malformed."""
    try:
        with open(path, encoding="utf-8") as fh:
            return json.load(fh)
    except (OSError, ValueError):
        return None


def dig(obj: Any, dotted: str) -> Any:
    """``obj["a"]["b"]`` for ``"a.b"``; None when a level is missing or not a dict."""
    for part in dotted.split("."):
        if not isinstance(obj, dict) or part not in obj:
            return None
        obj = obj[part]
    return obj


def to_float(value: Any) -> float | None:
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


def finite(values: Iterable[Any]) -> list[float]:
    """The values that are numbers (inf kept, nan and non-numbers dropped)."""
    out = [to_float(v) for v in values]
    return [v for v in out if v is not None and not math.isnan(v)]


def ci_pair(value: Any) -> tuple[float, float] | None:
    """A ``[lo, hi]`` interval with two finite numbers, lo <= hi; anything else -> None."""
    if not isinstance(value, (list, tuple)) or len(value) != 2:
        return None
    lo, hi = to_float(value[0]), to_float(value[1])
    if lo is None or hi is None or not (math.isfinite(lo) and math.isfinite(hi)) or lo > hi:
        return None
    return lo, hi


def value_key(value: Any) -> tuple:
    """Sort key of an override value: numbers by value, then strings, then missing."""
    f = to_float(value)
    if f is not None:
        return (0, f, "")
    if value is None or value == "":
        return (2, 0.0, "")
    return (1, 0.0, str(value))


def job_sort_key(name: str) -> tuple:
    """Job folders by number (Hydra's ``0``, ``1``, ...), other names after them."""
    return (0, int(name), "") if name.isdigit() else (1, 0, name)


# --------------------------------------------------------------------------- as text


def fmt(value: Any, digits: int = 4) -> str:
    """A number for a markdown cell: 4 significant digits, exponent form when tiny or huge."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "yes" if value else "no"
    f = to_float(value)
    if f is None:
        return str(value)
    if math.isinf(f):
        return "inf" if f > 0 else "-inf"
    if math.isnan(f):
        return "nan"
    if f != 0 and (abs(f) < 1e-3 or abs(f) >= 1e6):
        return f"{f:.{digits - 1}e}"
    return f"{f:.{digits}g}" if abs(f) >= 1 else f"{f:.{digits}f}".rstrip("0").rstrip(".") or "0"


def csv_num(v: Any) -> str:
    """A number for a CSV cell, at full precision (``repr``); blank for None."""
    if isinstance(v, int) and not isinstance(v, bool):
        return str(v)
    f = to_float(v)
    if f is None:
        return "" if v is None else str(v)
    return "inf" if math.isinf(f) and f > 0 else repr(f) if not f.is_integer() else str(f)


def csv_bool(v: Any) -> str:
    """``true`` / ``false`` for a CSV cell; blank for None."""
    return "" if v is None else str(bool(v)).lower()


def md_escape(text: str) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ")


def md_table(header: list[str], body: list[list[str]], left: Iterable[str] = ()) -> list[str]:
    """Markdown table lines; columns named in ``left`` (and the first) are left-aligned."""
    left = set(left)
    lines = ["| " + " | ".join(md_escape(h) for h in header) + " |",
             "|" + "|".join("---" if i == 0 or h in left else "---:" for i, h in enumerate(header)) + "|"]
    lines += ["| " + " | ".join(md_escape(c) for c in cells) + " |" for cells in body]
    return lines
