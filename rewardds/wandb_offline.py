"""Read W&B offline runs (``WANDB_MODE=offline``) without a W&B server.

wandb (0.31) writes an offline run as ``wandb/offline-run-<time>-<id>/run-<id>.wandb``
and no JSON of metrics. That file uses the LevelDB log framing:

* a 7-byte file header: ``b":W&B"``, a 2-byte magic (0xBEE1, little-endian), a
  1-byte version (0);
* then 32 KiB blocks (the header counts toward the first block); a block whose
  remaining space is under 7 bytes is padded with zeros;
* each chunk: crc32 (4 bytes, little-endian, ``zlib.crc32(type_byte + payload)``),
  payload length (2 bytes, little-endian), type (1 byte: 1 full, 2 first,
  3 middle, 4 last), payload. A record that does not fit in a block is split
  into first/middle.../last chunks.

Each reassembled payload is a protobuf ``wandb.proto.wandb_internal_pb2.Record``.
The ones read here: ``run`` (project, group, job_type, display name, initial
config), ``config`` (later config updates), ``history`` (one logged step),
``summary`` (summary updates), ``exit`` (exit code). Values are JSON strings
(``value_json``) under ``key`` or a ``nested_key`` path; they are decoded, and
nested paths become nested dicts.

    from rewardds.wandb_offline import find_offline_runs, read_offline_run
    for run_dir in find_offline_runs("outputs/sweeps/medical/..."):
        run = read_offline_run(run_dir)
        run["config"], run["summary"], run["history"], run["group"], run["job_type"]

Importing this module does not import wandb; reading a file does (for the
protobuf classes only: no wandb service is started).
"""
from __future__ import annotations

import json
import logging
import struct
import zlib
from pathlib import Path
from typing import Any, Iterator

log = logging.getLogger(__name__)

HEADER_IDENT = b":W&B"
HEADER_LEN = 7
BLOCK_SIZE = 32 * 1024
CHUNK_HEADER_LEN = 7
FULL, FIRST, MIDDLE, LAST = 1, 2, 3, 4


class WandbFileError(ValueError):
    """The file is not a W&B run file (bad header) or cannot be read."""


def _chunks(data: bytes, path: str) -> Iterator[tuple[int, bytes]]:
    pos = HEADER_LEN
    n = len(data)
    while pos < n:
        left = BLOCK_SIZE - (pos % BLOCK_SIZE)
        if left < CHUNK_HEADER_LEN:  # block trailer padding
            pos += left
            continue
        if pos + CHUNK_HEADER_LEN > n:
            log.warning("%s: truncated chunk header at byte %d (run still writing or killed)", path, pos)
            return
        crc, length, ctype = struct.unpack_from("<IHB", data, pos)
        if crc == 0 and length == 0 and ctype == 0:  # zero padding / preallocated tail
            pos += left
            continue
        start = pos + CHUNK_HEADER_LEN
        end = start + length
        if end > n or length > left - CHUNK_HEADER_LEN:
            log.warning("%s: truncated or oversized chunk at byte %d; stopping", path, pos)
            return
        payload = data[start:end]
        if zlib.crc32(bytes([ctype]) + payload) & 0xFFFFFFFF != crc:
            log.warning("%s: CRC mismatch at byte %d; stopping", path, pos)
            return
        yield ctype, payload
        pos = end


def iter_record_payloads(path) -> Iterator[bytes]:
    """Yield the reassembled record payloads (protobuf bytes) of a ``.wandb`` file."""
    path = Path(path)
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise WandbFileError(f"{path}: cannot read ({exc})") from None
    if len(data) < HEADER_LEN or data[:4] != HEADER_IDENT:
        raise WandbFileError(f"{path}: not a W&B run file (header {data[:HEADER_LEN]!r})")
    pending: bytearray | None = None
    for ctype, payload in _chunks(data, str(path)):
        if ctype == FULL:
            pending = None
            yield payload
        elif ctype == FIRST:
            pending = bytearray(payload)
        elif ctype == MIDDLE:
            if pending is not None:
                pending += payload
        elif ctype == LAST:
            if pending is not None:
                pending += payload
                yield bytes(pending)
            pending = None
        else:
            log.warning("%s: unknown chunk type %d; skipped", path, ctype)


def iter_records(path) -> Iterator[Any]:
    """Yield ``wandb_internal_pb2.Record`` messages of a ``.wandb`` file."""
    from wandb.proto import wandb_internal_pb2 as pb

    for payload in iter_record_payloads(path):
        rec = pb.Record()
        try:
            rec.ParseFromString(payload)
        except Exception:  # noqa: BLE001 - a corrupt record must not end the read
            log.warning("%s: a record does not parse; skipped", path)
            continue
        yield rec


def _decode(value_json: str) -> Any:
    try:
        return json.loads(value_json)
    except (TypeError, ValueError):
        return value_json


def _item_path(item: Any) -> list[str]:
    nested = list(getattr(item, "nested_key", []) or [])
    return nested if nested else [item.key]


def _set_path(target: dict, path: list[str], value: Any) -> None:
    for part in path[:-1]:
        nxt = target.get(part)
        if not isinstance(nxt, dict):
            nxt = target[part] = {}
        target = nxt
    target[path[-1]] = value


def _del_path(target: dict, path: list[str]) -> None:
    for part in path[:-1]:
        target = target.get(part)
        if not isinstance(target, dict):
            return
    target.pop(path[-1], None)


def _apply(target: dict, update_items, remove_items=()) -> None:
    for item in update_items:
        _set_path(target, _item_path(item), _decode(item.value_json))
    for item in remove_items:
        _del_path(target, _item_path(item))


def _wandb_file(run_dir_or_file) -> Path:
    p = Path(run_dir_or_file)
    if p.is_file():
        return p
    if p.is_dir():
        files = sorted(p.glob("run-*.wandb")) or sorted(p.glob("*.wandb"))
        if files:
            return max(files, key=lambda f: f.stat().st_size)
        raise WandbFileError(f"{p}: no run-*.wandb file in this folder")
    raise WandbFileError(f"{p}: no such file or folder")


def read_offline_run(run_dir_or_wandb_file, *, keep_internal: bool = False) -> dict:
    """Read one offline run: an ``offline-run-*`` folder or its ``run-*.wandb`` file.

    Returns a dict with ``config`` (dict), ``summary`` (dict, the final values),
    ``history`` (list of dicts, one per logged step, with ``_step``, ``_runtime``,
    ``_timestamp``), ``group``, ``job_type``, ``name`` (display name), ``project``,
    plus ``run_id``, ``entity``, ``tags``, ``exit_code`` (None when the run did not
    finish), ``start_time`` (when the W&B run was created, seconds since the epoch) and ``path`` (the
    .wandb file). Nested keys become nested dicts. W&B's
    internal ``_wandb`` entries of config and summary are dropped unless
    ``keep_internal``. A truncated file (run killed or still running) gives what
    was written before the cut.
    """
    path = _wandb_file(run_dir_or_wandb_file)
    out: dict[str, Any] = {
        "config": {}, "summary": {}, "history": [],
        "group": None, "job_type": None, "name": None, "project": None,
        "run_id": None, "entity": None, "tags": [], "exit_code": None, "start_time": None, "path": str(path),
    }
    config: dict = out["config"]
    summary: dict = out["summary"]
    for rec in iter_records(path):
        kind = rec.WhichOneof("record_type")
        if kind == "history":
            row: dict = {}
            _apply(row, rec.history.item)
            if "_step" not in row and rec.history.HasField("step"):
                row["_step"] = rec.history.step.num
            out["history"].append(row)
        elif kind == "summary":
            _apply(summary, rec.summary.update, rec.summary.remove)
        elif kind == "config":
            _apply(config, rec.config.update, rec.config.remove)
        elif kind == "run":
            run = rec.run
            for field, key in (("project", "project"), ("run_group", "group"), ("job_type", "job_type"),
                               ("display_name", "name"), ("run_id", "run_id"), ("entity", "entity")):
                value = getattr(run, field, "")
                if value:
                    out[key] = value
            if list(run.tags):
                out["tags"] = list(run.tags)
            if run.HasField("start_time"):
                out["start_time"] = run.start_time.seconds + run.start_time.nanos / 1e9
            if run.HasField("config"):
                _apply(config, run.config.update, run.config.remove)
            if run.HasField("summary"):
                _apply(summary, run.summary.update, run.summary.remove)
        elif kind == "exit":
            out["exit_code"] = rec.exit.exit_code
    if not keep_internal:
        config.pop("_wandb", None)
        summary.pop("_wandb", None)
    return out


def find_offline_runs(root) -> list[Path]:
    """Every ``offline-run-*`` folder holding a ``.wandb`` file under ``root``, oldest first.

    ``root`` may be a W&B dir (``wandb/``), a folder above it (a run or sweep dir),
    or an offline-run folder itself. ``latest-run`` symlinks are not followed twice.
    """
    root = Path(root)
    if not root.exists():
        return []
    candidates = [root] if root.name.startswith("offline-run-") else []
    candidates += [p for p in root.rglob("offline-run-*") if p.is_dir()]
    seen: set[Path] = set()
    runs = []
    for p in candidates:
        real = p.resolve()
        if real in seen or not p.is_dir() or not any(p.glob("*.wandb")):
            continue
        seen.add(real)
        runs.append(p)
    return sorted(runs, key=lambda p: (p.name, str(p)))
