"""Load a task's records: the embedded demo corpora or a RewardDS-layout folder.

Every file, whatever its layout on disk, becomes a list of :class:`Record`:

* medical:   question = ``input`` (the constant doctor ``instruction`` is dropped:
  the chat template's system message plays its role), answer = ``output``.
* financial: question = ``instruction`` + "\\n" + ``input`` (just ``instruction``
  when ``input`` is empty or absent), answer = ``output``.
* code:      question = ``instruction`` + "\\nThe function must be named `f`."
  (unless the instruction already names ``entry_point``), answer = ``output``,
  plus ``entry_point``, ``tests`` (``testcase``) and ``code``.

``id`` is ``seq_id`` when present, else ``"<file stem>-<line>"``.

Files are JSON lines (the RewardDS ``*.json`` files are JSON lines too) or one
JSON array; ``format=auto`` tells them apart by the first non-blank character.
Each problem is a :class:`DataError` naming the file, the line and the field,
and what is wrong with it, never the value: the records are private, and an
error message ends up in terminals, logs and W&B. A file without records is
refused, as is text that is not valid Unicode (a lone surrogate such as the
JSON escape ``\\ud800``) and a code test that does not compile.

The private split is deduplicated (see :func:`dedupe`): record-level DP counts
one record per distinct record, and ``TaskData.private_set`` says what that
set is for ``privacy.json``. With ``substitute_names`` the person names detected
in the private split are then replaced by generated ones
(:func:`rewardds.data.names.substitute_names`, for the PII attack); the
client-only map of the replacements is ``TaskData.extra["name_map"]``, in memory.
"""
from __future__ import annotations

import json
import keyword
import logging
import random
import re
from pathlib import Path
from typing import Any, Iterator

from rewardds.data.names import substitute_names
from rewardds.errors import ConfigError, DataError
from rewardds.records import Record, TaskData
from rewardds.io import iter_jsonl, json_type_name

log = logging.getLogger(__name__)

TASKS = ("medical", "financial", "code")
FORMATS = ("auto", "rewardds", "jsonl", "json", "hf")
SPLITS = ("public", "private", "test")

_DEMO_ROOT = Path(__file__).resolve().parent / "demo"

# Files looked for in a RewardDS-layout folder, in order of preference.
_TRAIN_FILES = ("train.json", "train.jsonl")
_TEST_FILES = ("test.json", "test.jsonl")
_DEV_FILES = ("dev.json", "dev.jsonl")
_PUBLIC_FILES = ("public.jsonl", "public.json", "train.json", "train.jsonl")


# --------------------------------------------------------------------------- API


def demo_dir(task: str) -> Path:
    """Folder of the embedded demo corpus of ``task`` (public/private/test .jsonl)."""
    _check_task(task)
    return _DEMO_ROOT / task


def load_records(path, task: str, fmt: str = "auto") -> list[Record]:
    """Read one file (JSON lines or a JSON array; ``fmt="hf"``: a `datasets` file/folder)."""
    _check_task(task)
    _check_format(fmt)
    if fmt == "hf":
        ds = _hf_load(str(path))
        splits = list(ds.keys()) if hasattr(ds, "keys") else [None]
        if len(splits) != 1:
            raise DataError(path, f"holds several splits ({', '.join(map(str, splits))}); "
                                  "load it with load_task_data(format=hf) or point to one split")
        split = splits[0]
        rows = ds[split] if split is not None else ds
        return _hf_records(rows, task, f"{path}[{split}]" if split else str(path), split or "train")
    path = Path(path)
    if path.is_dir():
        raise DataError(path, "is a folder, not a file")
    if not path.is_file():
        raise DataError(path, "file not found")
    return _to_records(_iter_rows(path, fmt), task, path, path.stem)


def load_task_data(task_cfg) -> TaskData:
    """Public, private and test records of the task described by ``task_cfg``.

    ``task_cfg`` has ``.name`` and ``.data`` (a ``DataConfig``; an omegaconf
    DictConfig or the dataclass). ``data.dir`` None: the embedded demo corpus.
    """
    name = _cfg(task_cfg, "name")
    if name not in TASKS:
        raise ConfigError("task.name", f"got {name!r}, expected one of {', '.join(TASKS)}")
    data = _cfg(task_cfg, "data")
    fmt = _cfg(data, "format", "auto") or "auto"
    _check_format(fmt)
    seed = _cfg(data, "seed", 0) or 0
    limits = {}
    for split, key in (("public", "max_public"), ("private", "max_train"), ("test", "max_test")):
        v = _cfg(data, key)
        if v is not None and (isinstance(v, bool) or not isinstance(v, int) or v <= 0):  # 0 records: never meant
            raise ConfigError(f"task.data.{key}", f"must be an integer > 0 or null, got {v!r}")
        limits[split] = v

    data_dir = _cfg(data, "dir")
    paths: dict[str, str] = {}
    extra: dict[str, Any] = {}
    if fmt == "hf":
        hf_name = _cfg(data, "hf_name")
        if not hf_name:
            raise ConfigError("task.data.hf_name", "is required when task.data.format=hf")
        private, test, test_split = _hf_task(str(hf_name), name)
        paths["private"] = f"{hf_name}[train]"
        paths["test"] = f"{hf_name}[{test_split}]"
        extra["test_split"] = test_split
        source = f"hf:{hf_name}"
        private_source = f"hf:{_public_name(str(hf_name))}[train]"
    elif data_dir is None:
        d = demo_dir(name)
        private = load_records(d / "private.jsonl", name)
        test = load_records(d / "test.jsonl", name)
        paths["private"], paths["test"] = str(d / "private.jsonl"), str(d / "test.jsonl")
        extra["test_split"] = "test"
        source = "demo"
        private_source = f"demo:{name}"
    else:
        d = Path(str(data_dir)).expanduser()
        if d.exists() and not d.is_dir():
            raise DataError(d, "is a file, not a folder (task.data.dir names the folder of train.json)")
        if not d.is_dir():
            raise DataError(d, "data directory not found")
        train_file = _first_existing(d, _TRAIN_FILES)
        if train_file is None:
            raise DataError(d / "train.json", "missing train.json (the private records) in the data directory")
        test_file = _first_existing(d, _TEST_FILES)
        extra["test_split"] = "test"
        if test_file is None:
            test_file = _first_existing(d, _DEV_FILES)
            if test_file is None:
                raise DataError(d / "test.json", "missing test split: neither test.json nor dev.json found")
            log.warning("%s: no test.json, using %s as the test split", d, test_file.name)
            extra["test_split"] = "dev"
        private = load_records(train_file, name, fmt)
        test = load_records(test_file, name, fmt)
        paths["private"], paths["test"] = str(train_file), str(test_file)
        source = str(d)
        private_source = train_file.name

    public_dir = _cfg(data, "public_dir")
    if public_dir is None:
        public_file = demo_dir(name) / "public.jsonl"
        public = load_records(public_file, name)
    else:
        p = Path(str(public_dir)).expanduser()
        if p.is_file():
            public_file = p
        elif p.is_dir():
            public_file = _first_existing(p, _PUBLIC_FILES)
            if public_file is None:
                raise DataError(p, f"no public corpus found: expected one of {', '.join(_PUBLIC_FILES)}")
        else:
            raise DataError(p, "public corpus directory not found")
        public = load_records(public_file, name, "json" if fmt == "hf" else fmt)
    paths["public"] = str(public_file)

    private, removed = dedupe(private)
    if removed:
        # Neither the count nor the lines: both are non-DP statistics of the private data.
        log.warning("%s: duplicate records removed (record-level DP counts one record per distinct record); "
                    "N below counts distinct records", paths["private"])
    holdout = _cfg(data, "holdout_test")
    if holdout:
        private, test = hold_out(private, int(holdout), seed, paths["private"])
        paths["test"], extra["test_split"] = f"{paths['private']} (held out)", "held out of the private file"
    splits = {"public": public, "private": private, "test": test}
    # Sizes before subsampling (private: distinct records). Non-DP statistics of
    # the private file: for the caller's checks only, never for a log or a release.
    extra["full_sizes"] = {k: len(v) for k, v in splits.items()}
    extra["paths"] = paths
    for split, limit in limits.items():
        splits[split] = subsample(splits[split], limit, seed, split)
    if _substitute_flag(data):
        # After dedupe (duplicates stay duplicates) and subsampling (only the records used).
        # The map is client-only: kept in memory, never logged or written (see rewardds.data.names).
        splits["private"], extra["name_map"] = substitute_names(splits["private"], seed)
    private_set = describe_private_set(private_source, len(splits["private"]), limits["private"], seed,
                                       int(holdout) if holdout else None)
    return TaskData(task=name, public=splits["public"], private=splits["private"], test=splits["test"],
                    source=source, extra=extra, private_set=private_set)


def dedupe(records: list[Record]) -> tuple[list[Record], bool]:
    """The distinct records, first occurrence kept, in file order; and whether any were dropped.

    Record-level DP protects one record; a record written twice would be one
    person counted twice. Two records are duplicates when their ``question``
    and ``answer`` are equal as the loader produced them: instruction and
    input merged (a financial ``instruction``+``input`` pair equals the same
    text in ``instruction`` alone), leading and trailing white space stripped,
    the code task's "must be named" sentence appended; compared exactly (case
    and inner white space count). The id (``seq_id`` or line) and, for code,
    ``testcase`` and ``code`` are not compared: training sees question and
    answer only, so records that differ only there are the same example.
    """
    seen: set[tuple[str, str]] = set()
    out = []
    for r in records:
        key = (r.question, r.answer)
        if key not in seen:
            seen.add(key)
            out.append(r)
    return out, len(out) != len(records)


def hold_out(records: list[Record], k: int, seed: int, where: str) -> tuple[list[Record], list[Record]]:
    """(the rest, ``k`` seeded records) of ``records``: test items held out of the private records, so a
    data set without a usable test split can still be evaluated on items no model was trained on."""
    if k >= len(records):  # the message gives no count: the file's size is a statistic of the private data
        raise ConfigError("task.data.holdout_test", f"is not below the number of distinct records of {Path(where).name}")
    rng = random.Random(f"rewardds-holdout-{seed}")
    held = set(rng.sample(range(len(records)), k))
    return ([r for i, r in enumerate(records) if i not in held], [r for i, r in enumerate(records) if i in held])


def describe_private_set(source: str, n: int, max_train: int | None, seed: int, holdout: int | None = None) -> dict:
    """What "the private data set" of the DP guarantee is, for ``privacy.json``.

    JSON-safe and free of non-DP statistics: ``source`` is a file name (no
    folder: paths may hold user names) or ``demo:<task>`` / ``hf:<name>[train]``,
    ``records`` is N, the number of records trained on (public in DP
    accounting). ``subset`` depends on the config alone (``max_train`` set, even
    when the file holds no more): whether the file held more records is a
    statistic of the private data. The file's size and the number of duplicates
    are not given. ``deduplicated`` is the loader's policy (always applied), not
    whether duplicates were found.
    """
    subset = None if max_train is None else {"max_train": int(max_train), "seed": int(seed)}
    statement = (f"The privacy guarantee covers the {n} records of the private set: the distinct records "
                 f"of {source} (records with the same question and answer count once)")
    if subset is not None:
        statement += (f", of which a seeded random subset of at most {max_train} was drawn "
                      f"(task.data.max_train={max_train}, task.data.seed={seed}). It is a guarantee "
                      f"for the {n} records drawn, not for {source} as a whole: records not drawn were not "
                      f"used, and which records are drawn depends on the file")
    statement += (f". N = {n} is public: the guarantee is for zero-out neighbours (one record replaced by a null "
                  "record, N unchanged), not for data sets of another size")
    if holdout:
        statement += (f". A further {holdout} records of {source} were held out as the test split "
                      f"(task.data.holdout_test={holdout}, task.data.seed={seed}): no model was trained on them, "
                      "and the evaluation's outputs (predictions, metrics) describe them, so they are not covered "
                      "by the guarantee and stay with the client")
    return {"source": source, "records": n, "subset": subset, "deduplicated": True, "holdout_test": holdout,
            "statement": statement + "."}


def subsample(records: list, k: int | None, seed: int, salt: str = "") -> list:
    """A seeded random subset of size ``k`` in original order (``k`` None: all)."""
    if k is None or k >= len(records):
        return list(records)
    rng = random.Random(f"rewardds-subsample-{salt}-{seed}")
    keep = sorted(rng.sample(range(len(records)), k))
    return [records[i] for i in keep]


# ------------------------------------------------------------------ file parsing


def _iter_rows(path: Path, fmt: str) -> Iterator[tuple[int, dict]]:
    """(line number, object) for each record of a JSON-lines or JSON-array file."""
    try:
        data = path.read_bytes()
    except OSError as exc:  # permission, EIO, a file gone since the check: the file's problem, not a bug
        raise DataError(path, f"cannot be read ({exc.strerror or type(exc).__name__})") from None
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        raise DataError(path, "not valid UTF-8 text", line=line) from None
    first = next((c for c in text if not c.isspace()), "")
    if fmt != "jsonl" and first == "[":
        yield from _iter_array(path, text)
    else:
        # fmt=json on a file that starts with '{' is read as JSON lines: the
        # RewardDS files are named *.json but hold one object per line.
        hint = "; the file looks like a JSON array, use format=json or auto" if first == "[" else ""
        yield from iter_jsonl(path, text, hint)


def _iter_array(path: Path, text: str) -> Iterator[tuple[int, dict]]:
    dec = json.JSONDecoder()
    n = len(text)
    pos, line, counted = 0, 1, 0

    def skip(i: int) -> int:
        while i < n and text[i].isspace():
            i += 1
        return i

    def line_at(i: int) -> int:
        nonlocal line, counted
        line += text.count("\n", counted, i)
        counted = i
        return line

    i = skip(pos) + 1  # past '['
    i = skip(i)
    if i < n and text[i] == "]":
        i = skip(i + 1)
        if i < n:
            raise DataError(path, "extra data after the JSON array", line=line_at(i))
        return
    while True:
        if i >= n:
            raise DataError(path, "malformed JSON (unterminated array)", line=line_at(n))
        start_line = line_at(i)
        try:
            obj, i = dec.raw_decode(text, i)
        except json.JSONDecodeError as exc:
            raise DataError(path, f"malformed JSON ({exc.msg})", line=exc.lineno) from None
        if not isinstance(obj, dict):
            raise DataError(path, f"expected a JSON object, got {json_type_name(obj)}", line=start_line)
        yield start_line, obj
        i = skip(i)
        if i < n and text[i] == ",":
            i = skip(i + 1)
            if i < n and text[i] == "]":
                raise DataError(path, "malformed JSON (trailing comma in array)", line=line_at(i))
            continue
        if i < n and text[i] == "]":
            i = skip(i + 1)
            if i < n:
                raise DataError(path, "extra data after the JSON array", line=line_at(i))
            return
        raise DataError(path, "malformed JSON (expected ',' or ']' in array)", line=line_at(min(i, n)))


# ------------------------------------------------------------- record mapping


def _to_records(rows, task: str, path, stem: str) -> list[Record]:
    out: list[Record] = []
    seen: dict[str, int] = {}
    for line, obj in rows:
        rec = _to_record(obj, task, path, line, stem)
        if rec.id in seen:
            raise DataError(path, f"duplicate id: field 'seq_id' repeats the id of line {seen[rec.id]}", line=line)
        seen[rec.id] = line
        out.append(rec)
    if not out:
        # An empty split trains on nothing or scores nothing (ROUGE 0, ppl nan): refuse it.
        raise DataError(path, "no records")
    return out


def _to_record(obj: dict, task: str, path, line: int, stem: str) -> Record:
    rid = _record_id(obj, path, line, stem)
    if task == "medical":
        # ``instruction`` is the same doctor prompt on every record: not required, dropped.
        question = _text(obj, "input", path, line)
        return Record(id=rid, question=question.strip(), answer=_text(obj, "output", path, line).strip())
    if task == "financial":
        instruction = _text(obj, "instruction", path, line).strip()
        # ``input`` may be absent or empty (Alpaca-style records put the whole
        # question in ``instruction``); every real record has one.
        inp = _text(obj, "input", path, line, required=False, allow_empty=True).strip()
        question = f"{instruction}\n{inp}" if inp else instruction
        return Record(id=rid, question=question, answer=_text(obj, "output", path, line).strip())
    # code
    instruction = _text(obj, "instruction", path, line).strip()
    answer = _text(obj, "output", path, line).strip()
    code = _text(obj, "code", path, line)
    entry_point = _text(obj, "entry_point", path, line).strip()
    if not entry_point.isidentifier() or keyword.iskeyword(entry_point):
        raise DataError(path, "field 'entry_point' must be a Python identifier (a name a function can have)", line=line)
    tests = _tests(obj, path, line)
    if not re.search(rf"(?<![A-Za-z0-9_]){re.escape(entry_point)}(?![A-Za-z0-9_])", instruction):
        instruction = f"{instruction}\nThe function must be named `{entry_point}`."
    return Record(id=rid, question=instruction, answer=answer, entry_point=entry_point, tests=tests, code=code)


def _record_id(obj: dict, path, line: int, stem: str) -> str:
    sid = obj.get("seq_id")
    if sid is None:
        return f"{stem}-{line}"
    if isinstance(sid, bool) or not isinstance(sid, (int, str)):
        raise DataError(path, f"field 'seq_id' must be an integer or a string, got {json_type_name(sid)}", line=line)
    if isinstance(sid, str) and not sid.strip():
        raise DataError(path, "field 'seq_id' is empty", line=line)
    if isinstance(sid, str):
        _check_unicode(sid, "seq_id", path, line)
    return str(sid).strip()


def _text(obj: dict, key: str, path, line: int, required: bool = True, allow_empty: bool = False) -> str:
    value = obj.get(key)
    if value is None:  # absent, or null (what `datasets` puts in a missing column)
        if required:
            raise DataError(path, f"missing required field '{key}'", line=line)
        return ""
    if not isinstance(value, str):
        raise DataError(path, f"field '{key}' must be a string, got {json_type_name(value)}", line=line)
    if not allow_empty and not value.strip():
        raise DataError(path, f"field '{key}' is empty", line=line)
    _check_unicode(value, key, path, line)
    return value


def _check_unicode(value: str, field: str, path, line: int) -> None:
    """Refuse a lone surrogate: JSON's ``\\ud800`` escape parses, but the string is
    not text (no UTF-8 encoding), so tokenizers and file writers fail on it later."""
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise DataError(path, f"field '{field}' is not valid Unicode text (a lone surrogate such as \\ud800)",
                        line=line) from None


def _tests(obj: dict, path, line: int) -> tuple[str, ...]:
    value = obj.get("testcase")
    if value is None:
        raise DataError(path, "missing required field 'testcase'", line=line)
    if not isinstance(value, (list, tuple)) or not all(isinstance(t, str) for t in value):
        raise DataError(path, "field 'testcase' must be a list of strings", line=line)
    # Relaxed for the real data: 5 Code_Generation train records pad their
    # testcase list with empty strings. Blank entries are dropped; a record
    # needs at least one real test to be evaluable.
    tests = []
    for i, t in enumerate(value):
        field = f"testcase[{i}]"  # 0-based position in the file's list, blank entries included
        _check_unicode(t, field, path, line)
        if t.strip():
            _check_python(t.strip(), field, path, line)
            tests.append(t.strip())
    if not tests:
        raise DataError(path, "field 'testcase' is empty (no non-blank test)", line=line)
    return tuple(tests)


def _check_python(src: str, field: str, path, line: int) -> None:
    """Refuse a test that does not compile: it would fail every answer, even the
    reference solution. ``compile`` in 'exec' mode as the test runner does (it
    also catches what ``ast.parse`` lets through, e.g. ``return`` at top level).
    The compiler's message is not shown: it can quote the test's text."""
    try:
        compile(src, "<testcase>", "exec", dont_inherit=True)
    except (SyntaxError, ValueError, RecursionError, MemoryError) as exc:
        where = f" at line {exc.lineno}" if isinstance(exc, SyntaxError) and exc.lineno else ""
        raise DataError(path, f"field '{field}' is not valid Python ({type(exc).__name__}{where})", line=line) from None


# ----------------------------------------------------------------- HF datasets


def _hf_load(name: str):
    try:
        import datasets
    except ImportError:
        raise ConfigError("task.data.format", "format=hf needs the 'datasets' package (pip install datasets)") from None
    p = Path(name).expanduser()
    builders = {".json": "json", ".jsonl": "json", ".csv": "csv", ".parquet": "parquet"}
    try:
        if p.is_dir() and ((p / "dataset_dict.json").exists() or (p / "state.json").exists()):
            return datasets.load_from_disk(str(p))
        if p.is_file():
            if p.suffix not in builders:
                raise DataError(p, f"cannot load a '{p.suffix}' file with datasets; use .json/.jsonl/.csv/.parquet")
            return datasets.load_dataset(builders[p.suffix], data_files={"train": str(p)})
        return datasets.load_dataset(str(p) if p.exists() else name)
    except DataError:
        raise
    except Exception as exc:  # datasets raises many types; one clear line for the user
        raise DataError(name, _hf_error(exc)) from None


def _hf_error(exc: Exception) -> str:
    """What went wrong in `datasets`, without its message: that message can quote
    the data (an arrow conversion error names the value it could not convert)."""
    if isinstance(exc, FileNotFoundError):
        return ("could not load with datasets (FileNotFoundError): no such local dataset, or a folder "
                "that is not a saved dataset, or not on the Hub (offline?)")
    if isinstance(exc, ConnectionError):
        return "could not load with datasets (ConnectionError): the Hub is not reachable; use a local path"
    return (f"could not load with datasets ({type(exc).__name__}; its message is withheld as it may quote "
            "records): check the dataset with the datasets library directly")


def _public_name(hf_name: str) -> str:
    """``hf_name`` as ``privacy.json`` may show it: a local path's last part only
    (a folder above may hold a user name), a Hub id as it is."""
    p = Path(hf_name).expanduser()
    return p.name if p.exists() else hf_name


def _hf_task(name: str, task: str) -> tuple[list[Record], list[Record], str]:
    ds = _hf_load(name)
    splits = set(ds.keys()) if hasattr(ds, "keys") else set()
    if "train" not in splits:
        raise DataError(name, f"no 'train' split (found: {', '.join(sorted(splits)) or 'none'})")
    test_split = next((s for s in ("test", "validation", "dev") if s in splits), None)
    if test_split is None:
        raise DataError(name, f"no test split: expected test, validation or dev (found: {', '.join(sorted(splits))})")
    if test_split != "test":
        log.warning("%s: no test split, using %s as the test split", name, test_split)
    private = _hf_records(ds["train"], task, f"{name}[train]", "train")
    test = _hf_records(ds[test_split], task, f"{name}[{test_split}]", test_split)
    return private, test, test_split


def _hf_records(rows, task: str, where: str, stem: str) -> list[Record]:
    # "line" is the 1-based row number of the split.
    return _to_records(((i, dict(row)) for i, row in enumerate(rows, start=1)), task, where, stem)


# -------------------------------------------------------------------- helpers


def _cfg(obj, key: str, default=None):
    if obj is None:
        return default
    if isinstance(obj, dict):
        return obj.get(key, default)
    return getattr(obj, key, default)


def _substitute_flag(data) -> bool:
    value = _cfg(data, "substitute_names", False)
    if not isinstance(value, bool):
        raise ConfigError("task.data.substitute_names", f"must be true or false, got {type(value).__name__}")
    return value


def _check_task(task: str) -> None:
    if task not in TASKS:
        raise ConfigError("task.name", f"got {task!r}, expected one of {', '.join(TASKS)}")


def _check_format(fmt: str) -> None:
    if fmt not in FORMATS:
        raise ConfigError("task.data.format", f"got {fmt!r}, expected one of {', '.join(FORMATS)}")


def _first_existing(folder: Path, names) -> Path | None:
    return next((folder / n for n in names if (folder / n).is_file()), None)


