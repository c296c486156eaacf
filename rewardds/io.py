"""Atomic file writes and JSON-lines helpers.

Every artefact is written to a temporary file in the same folder and renamed
into place, so a job killed mid-write never leaves a half-written file.
"""
from __future__ import annotations

import json
import math
import os
import tempfile
from pathlib import Path
from typing import Any, Iterable, Iterator

from rewardds.errors import DataError


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


_MODE = 0o666 & ~_umask()  # what a plain open() would give, not mkstemp's 0600


def _atomic_write_bytes(path: Path, data: bytes) -> None:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.chmod(tmp, _MODE)
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise


def write_bytes(path, data: bytes) -> None:
    _atomic_write_bytes(Path(path), data)


def write_text(path, text: str) -> None:
    _atomic_write_bytes(Path(path), text.encode("utf-8"))


def write_json(path, obj: Any) -> None:
    write_text(path, json.dumps(obj, indent=2, sort_keys=True, default=_default) + "\n")


def read_json(path) -> Any:
    with open(path, encoding="utf-8") as fh:
        return json.load(fh)


def write_jsonl(path, rows: Iterable[dict]) -> int:
    lines = [json.dumps(r, ensure_ascii=False, default=_default) for r in rows]
    write_text(path, "".join(line + "\n" for line in lines))
    return len(lines)


def json_type_name(v) -> str:
    """How a JSON value's type reads in an error message."""
    return {dict: "an object", list: "an array", str: "a string", bool: "a boolean", int: "a number",
            float: "a number", type(None): "null"}.get(type(v), type(v).__name__)


def iter_jsonl(path, text: str | None = None, hint: str = "") -> Iterator[tuple[int, dict]]:
    """Yield (line number, object) for each non-blank line; a bad line raises DataError
    naming file and line (``hint`` is appended to the message). ``text``: the file's
    content when the caller has already read it."""
    if text is None:
        with open(path, encoding="utf-8") as fh:
            text = fh.read()
    for lineno, line in enumerate(text.split("\n"), start=1):
        if not line.strip():
            continue
        try:
            obj = json.loads(line)
        except json.JSONDecodeError as exc:
            raise DataError(path, f"malformed JSON ({exc.msg}){hint}", line=lineno) from None
        if not isinstance(obj, dict):
            raise DataError(path, f"expected a JSON object, got {json_type_name(obj)}{hint}", line=lineno)
        yield lineno, obj


def read_jsonl(path) -> Iterator[dict]:
    """Yield the JSON object on each non-blank line; a bad line raises DataError."""
    for _, obj in iter_jsonl(path):
        yield obj


def json_safe(obj: Any) -> Any:
    """inf / nan -> "inf" / "-inf" / "nan" (JSON has no such numbers); numpy scalars -> Python."""
    if hasattr(obj, "item") and not isinstance(obj, (dict, list, tuple)) and getattr(obj, "shape", None) == ():
        obj = obj.item()
    if isinstance(obj, float) and not math.isfinite(obj):
        return "nan" if math.isnan(obj) else ("inf" if obj > 0 else "-inf")
    if isinstance(obj, dict):
        return {k: json_safe(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [json_safe(v) for v in obj]
    return obj


def _default(obj: Any) -> Any:
    if isinstance(obj, Path):
        return str(obj)
    if hasattr(obj, "item"):
        return obj.item()
    if hasattr(obj, "tolist"):
        return obj.tolist()
    raise TypeError(f"not JSON serialisable: {type(obj).__name__}")
