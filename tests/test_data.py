"""Task data loading (rewardds.data) and the embedded demo corpora."""
from __future__ import annotations

import ast
import json
import logging
import os
import re
import shutil
import tempfile
from pathlib import Path

import pytest
from omegaconf import OmegaConf

from rewardds.config import DataConfig, TaskConfig
from rewardds.data import demo_dir, load_records, load_task_data
from rewardds.data.demo import code_tasks, make_demo, people
from rewardds.errors import ConfigError, DataError

REPO = Path(__file__).resolve().parents[1]
SHARED = Path(__file__).resolve().parents[2] / "shared" / "data" / "rewardds"
TASKS = ("medical", "financial", "code")
COUNTS = make_demo.COUNTS


def task_cfg(name, **data):
    return TaskConfig(name=name, data=DataConfig(**data))


def write_lines(path: Path, rows) -> Path:
    path.write_text("".join((r if isinstance(r, str) else json.dumps(r)) + "\n" for r in rows), encoding="utf-8")
    return path


MED = {"instruction": "doctor prompt", "input": "I have a cough.", "output": "Drink water and rest."}
FIN = {"instruction": "Answer the question.", "input": "Should I save?", "output": "Yes, save some money."}
CODE = {"seq_id": 11, "instruction": "Write a function that adds one.", "output": "```python\ndef inc(x):\n    return x + 1\n```",
        "code": "def inc(x):\n    return x + 1", "entry_point": "inc", "testcase": ["assert inc(1) == 2", "assert inc(0) == 1"]}


# ----------------------------------------------------------------- demo corpora


@pytest.mark.parametrize("task", TASKS)
def test_demo_loads_with_expected_counts(task):
    td = load_task_data(task_cfg(task))
    assert td.task == task and td.source == "demo"
    for split, n in COUNTS.items():
        recs = getattr(td, split)
        assert len(recs) == n, split
        assert len({r.id for r in recs}) == n
        for r in recs:
            assert r.question.strip() and r.answer.strip()
            if task == "code":
                assert r.entry_point and r.code and len(r.tests) == 3
                assert re.search(rf"\b{r.entry_point}\b", r.question)  # named by the task or by the loader
            else:
                assert r.entry_point is None and r.code is None and r.tests == ()
                assert 80 <= len(r.answer) <= 600


@pytest.mark.parametrize("task", TASKS)
def test_demo_splits_are_disjoint(task):
    td = load_task_data(task_cfg(task))
    qs = {s: {r.question for r in getattr(td, s)} for s in COUNTS}
    assert not qs["public"] & qs["private"]
    assert not qs["public"] & qs["test"]
    assert not qs["private"] & qs["test"]


def test_demo_code_references_pass_their_tests():
    td = load_task_data(task_cfg("code"))
    for r in td.public + td.private + td.test:
        ns: dict = {}
        exec(r.code, ns)
        assert callable(ns[r.entry_point])
        for t in r.tests:
            exec(t, ns)
        assert f"```python\n{r.code}\n```" in r.answer


@pytest.mark.parametrize("task", ["medical", "financial"])
def test_demo_private_and_test_records_name_a_person(task):
    full = re.compile(r"\b(%s) (%s)\b" % ("|".join(people.FIRST_NAMES), "|".join(people.LAST_NAMES)))
    td = load_task_data(task_cfg(task))
    assert all(full.search(r.question) for r in td.private + td.test)
    assert not any(full.search(r.question) for r in td.public)
    names = [full.search(r.question).group(0) for r in td.private + td.test]
    assert len(set(names)) == len(names)  # each person once: a name is one record's individual detail
    if task == "financial":
        acct = re.compile(r"\b(\d{4}-\d{4}-\d{4}|AC\d{12})\b")
        assert all(acct.search(r.question) for r in td.private + td.test)


# The private domain's note format (what every private answer shares, and DP fine-tuning can learn)
DOMAIN_LABELS = {"medical": ("Assessment:", "Plan:", "Treatment:"), "financial": ("Summary:", "Numbers:",
                                                                                    "Recommendation:")}


def _words(text: str) -> list[str]:
    return re.findall(r"[a-z]+", text.lower())


@pytest.mark.parametrize("task", ["medical", "financial"])
def test_demo_private_domain_is_not_in_the_public_corpus(task):
    """Every private and test answer is written in the domain's note format, which no public answer
    uses, and much of the private answers' vocabulary never occurs in public text: a model
    pretrained on the public corpus is fluent but not in-domain."""
    td = load_task_data(task_cfg(task))
    labels = DOMAIN_LABELS[task]
    assert all(r.answer.startswith(labels[0]) and all(lab in r.answer for lab in labels) for r in td.private + td.test)
    assert not any(lab in r.answer for r in td.public for lab in labels)
    public_words = {w for r in td.public for w in _words(r.question + " " + r.answer)}
    private_words = [w for r in td.private for w in _words(r.answer)]
    unseen = sum(w not in public_words for w in private_words) / len(private_words)
    assert unseen > 0.2, unseen


def _ledger_family(entry_point: str) -> str | None:
    for fam in code_tasks.LEDGER_FAMILIES:
        pattern = re.escape(fam[0]).replace(re.escape("{p}"), ".+")
        if re.fullmatch(pattern, entry_point):
            return fam[0]
    return None


def test_demo_code_private_families_are_not_public_and_test_parameters_are_held_out():
    td = load_task_data(task_cfg("code"))
    assert all(_ledger_family(r.entry_point) for r in td.private + td.test)
    assert not any(_ledger_family(r.entry_point) for r in td.public)
    assert not {r.entry_point for r in td.private} & {r.entry_point for r in td.test}
    families = {_ledger_family(r.entry_point) for r in td.test}
    assert families == {fam[0] for fam in code_tasks.LEDGER_FAMILIES}  # the test covers the whole mix


def test_demo_files_are_generated_by_make_demo():
    files = make_demo.build()
    for task in TASKS:
        for split in COUNTS:
            on_disk = (demo_dir(task) / f"{split}.jsonl").read_text(encoding="utf-8")
            assert on_disk == files[task][split], f"{task}/{split}.jsonl is stale: run python -m rewardds.data.demo.make_demo"


def test_demo_dir_and_bad_task():
    assert demo_dir("code") == REPO / "rewardds" / "data" / "demo" / "code"
    with pytest.raises(ConfigError, match="task.name"):
        demo_dir("legal")
    with pytest.raises(ConfigError, match="task.name"):
        load_task_data(task_cfg("legal"))


def test_accepts_omegaconf_config():
    cfg = OmegaConf.structured(task_cfg("financial", max_train=7, max_test=3, max_public=5))
    td = load_task_data(cfg)
    assert (len(td.public), len(td.private), len(td.test)) == (5, 7, 3)


# -------------------------------------------------------------- field mapping


def test_field_mapping(tmp_path):
    med = load_records(write_lines(tmp_path / "m.jsonl", [{**MED, "input": "  I have a cough.  "}]), "medical")[0]
    assert med.question == "I have a cough." and med.answer == "Drink water and rest." and med.id == "m-1"
    assert "doctor prompt" not in med.question

    fin = load_records(write_lines(tmp_path / "f.jsonl", [FIN, {**FIN, "input": ""}, {k: FIN[k] for k in ("instruction", "output")}]),
                       "financial")
    assert fin[0].question == "Answer the question.\nShould I save?"
    assert fin[1].question == fin[2].question == "Answer the question."

    named = {**CODE, "seq_id": 12, "instruction": "Write a function `inc` that adds one."}
    substring = {**CODE, "seq_id": 13, "instruction": "Write an increment function that adds one."}
    code = load_records(write_lines(tmp_path / "c.jsonl", [CODE, named, substring]), "code")
    assert code[0].question == "Write a function that adds one.\nThe function must be named `inc`."
    assert code[1].question == named["instruction"]
    assert code[2].question.endswith("The function must be named `inc`.")  # 'increment' is not the word 'inc'
    assert code[0].id == "11" and code[0].tests == ("assert inc(1) == 2", "assert inc(0) == 1")
    assert code[0].code == CODE["code"] and code[0].entry_point == "inc"


def test_extra_fields_and_blank_lines(tmp_path):
    p = write_lines(tmp_path / "x.jsonl", ["", json.dumps({**MED, "source": "web", "n": 3}), "   ", json.dumps(MED)])
    recs = load_records(p, "medical")
    assert [r.id for r in recs] == ["x-2", "x-4"]


def test_blank_testcase_entries_are_dropped(tmp_path):
    p = write_lines(tmp_path / "c.jsonl", [{**CODE, "testcase": ["assert inc(1) == 2", "", "  "]}])
    assert load_records(p, "code")[0].tests == ("assert inc(1) == 2",)


# ----------------------------------------------------------------- validation


def _bad(tmp_path, task, rows, name="bad.jsonl"):
    p = write_lines(tmp_path / name, rows)
    with pytest.raises(DataError) as ei:
        load_records(p, task)
    msg = str(ei.value)
    assert name in msg
    return ei.value, msg


@pytest.mark.parametrize(
    "task,rows,line,needle",
    [
        ("medical", [MED, MED, '{"input": "x", "output": '], 3, "malformed JSON"),
        ("medical", [MED, "[1, 2]"], 2, "expected a JSON object"),
        ("medical", [MED, {"instruction": "d", "input": "q"}], 2, "missing required field 'output'"),
        ("medical", [MED, "", {"instruction": "d", "output": "a"}], 3, "missing required field 'input'"),
        ("financial", [FIN, {"input": "q", "output": "a"}], 2, "missing required field 'instruction'"),
        ("code", [CODE, {k: v for k, v in CODE.items() if k != "testcase"} | {"seq_id": 2}], 2, "missing required field 'testcase'"),
        ("medical", [MED, MED, {**MED, "output": "   "}], 3, "field 'output' is empty"),
        ("financial", [{**FIN, "instruction": ""}], 1, "field 'instruction' is empty"),
        ("medical", [{**MED, "input": 5}], 1, "field 'input' must be a string"),
        ("code", [CODE, {**CODE, "seq_id": 2, "testcase": "assert inc(1) == 2"}], 2, "'testcase' must be a list of strings"),
        ("code", [{**CODE, "testcase": ["assert inc(1) == 2", 3]}], 1, "'testcase' must be a list of strings"),
        ("code", [{**CODE, "testcase": []}], 1, "'testcase' is empty"),
        ("code", [{**CODE, "entry_point": "my func"}], 1, "'entry_point' must be a Python identifier"),
        ("code", [{**CODE, "entry_point": "def"}], 1, "'entry_point' must be a Python identifier"),
        ("code", [{**CODE, "seq_id": [1]}], 1, "'seq_id' must be an integer or a string"),
    ],
)
def test_validation_errors_name_file_line_and_field(tmp_path, task, rows, line, needle):
    err, msg = _bad(tmp_path, task, rows)
    assert err.line == line
    assert f"bad.jsonl:{line}:" in msg
    assert needle in msg


def test_duplicate_id_names_both_lines(tmp_path):
    err, msg = _bad(tmp_path, "code", [CODE, {**CODE, "seq_id": 12}, {**CODE, "seq_id": 11}])
    assert err.line == 3 and "bad.jsonl:3:" in msg
    assert msg.endswith("bad.jsonl:3: duplicate id: field 'seq_id' repeats the id of line 1")


def test_missing_file(tmp_path):
    with pytest.raises(DataError, match="nope.jsonl: file not found"):
        load_records(tmp_path / "nope.jsonl", "medical")


# ------------------------------------------------------- JSON array and formats


def test_json_array_equals_jsonl(tmp_path):
    rows = [MED, {**MED, "input": "I have a fever."}, {**MED, "input": "My knee hurts."}]
    jl = load_records(write_lines(tmp_path / "a.jsonl", rows), "medical")
    arr_path = tmp_path / "a.json"
    arr_path.write_text("[\n" + ",\n".join(json.dumps(r) for r in rows) + "\n]\n")
    for fmt in ("auto", "json", "rewardds"):
        arr = load_records(arr_path, "medical", fmt)
        assert [(r.question, r.answer) for r in arr] == [(r.question, r.answer) for r in jl]
        assert [r.id for r in arr] == ["a-2", "a-3", "a-4"]  # line of each element
    compact = tmp_path / "c.json"
    compact.write_text(json.dumps([CODE, {**CODE, "seq_id": 12}]))
    code_arr = load_records(compact, "code")
    code_jl = load_records(write_lines(tmp_path / "c.jsonl", [CODE, {**CODE, "seq_id": 12}]), "code")
    assert code_arr == code_jl


def test_json_array_errors_carry_lines(tmp_path):
    p = tmp_path / "bad.json"
    p.write_text('[\n  {"input": "q", "output": "a"},\n  "oops"\n]\n')
    with pytest.raises(DataError, match=r"bad.json:3: expected a JSON object"):
        load_records(p, "medical")
    p.write_text('[\n  {"input": "q", "output": "a"},\n  {"input": "q2",\n   "output": }\n]\n')
    with pytest.raises(DataError, match=r"bad.json:4: malformed JSON"):
        load_records(p, "medical")
    p.write_text('[\n  {"input": "q", "output": "a"},\n  {"input": "", "output": "b"}\n]\n')
    with pytest.raises(DataError, match=r"bad.json:3: field 'input' is empty"):
        load_records(p, "medical")
    p.write_text('[\n  {"input": "q", "output": "a"}\n')
    with pytest.raises(DataError, match=r"bad.json:\d+: malformed JSON"):
        load_records(p, "medical")


def test_jsonl_format_on_array_file_hints(tmp_path):
    p = tmp_path / "arr.json"
    p.write_text(json.dumps([MED]))
    with pytest.raises(DataError, match="format=json"):
        load_records(p, "medical", "jsonl")
    with pytest.raises(ConfigError, match="task.data.format"):
        load_records(p, "medical", "xml")


# ------------------------------------------------------------ folder layout


def _rewardds_dir(tmp_path, n_train=20, test=True, dev=True):
    d = tmp_path / "Medical_QA"
    d.mkdir()
    write_lines(d / "train.json", [{**MED, "input": f"train question {i}"} for i in range(n_train)])
    if dev:
        write_lines(d / "dev.json", [{**MED, "input": f"dev question {i}"} for i in range(4)])
    if test:
        write_lines(d / "test.json", [{**MED, "input": f"test question {i}"} for i in range(6)])
    return d


def test_dir_layout_prefers_test_json(tmp_path, caplog):
    d = _rewardds_dir(tmp_path)
    with caplog.at_level(logging.WARNING, logger="rewardds.data.loaders"):
        td = load_task_data(task_cfg("medical", dir=str(d)))
    assert len(td.private) == 20 and len(td.test) == 6 and td.test[0].question == "test question 0"
    assert td.source == str(d) and td.extra["test_split"] == "test"
    assert len(td.public) == COUNTS["public"]  # the demo public corpus
    assert not caplog.records


def test_dir_layout_falls_back_to_dev(tmp_path, caplog):
    d = _rewardds_dir(tmp_path, test=False)
    with caplog.at_level(logging.WARNING, logger="rewardds.data.loaders"):
        td = load_task_data(task_cfg("medical", dir=str(d)))
    assert [r.question for r in td.test] == [f"dev question {i}" for i in range(4)]
    assert td.extra["test_split"] == "dev"
    assert any("dev.json" in r.getMessage() and "test.json" in r.getMessage() for r in caplog.records)


def test_dir_layout_errors(tmp_path):
    with pytest.raises(DataError, match="data directory not found"):
        load_task_data(task_cfg("medical", dir=str(tmp_path / "missing")))
    d = _rewardds_dir(tmp_path)
    (d / "train.json").unlink()
    with pytest.raises(DataError, match="train.json"):
        load_task_data(task_cfg("medical", dir=str(d)))
    d2 = tmp_path / "only_train"
    d2.mkdir()
    write_lines(d2 / "train.json", [MED])
    with pytest.raises(DataError, match="test.json"):
        load_task_data(task_cfg("medical", dir=str(d2)))


def test_public_dir(tmp_path):
    d = _rewardds_dir(tmp_path)
    pub = tmp_path / "pub"
    pub.mkdir()
    write_lines(pub / "public.jsonl", [{**MED, "input": f"public question {i}"} for i in range(9)])
    td = load_task_data(task_cfg("medical", dir=str(d), public_dir=str(pub)))
    assert [r.question for r in td.public] == [f"public question {i}" for i in range(9)]
    with pytest.raises(DataError, match="public"):
        load_task_data(task_cfg("medical", dir=str(d), public_dir=str(tmp_path / "nothing")))


def test_unreadable_file_is_one_error_naming_it(tmp_path):
    # EIO: /proc/self/mem is a regular file whose first page (address 0) cannot be read
    d = _rewardds_dir(tmp_path)
    (d / "train.json").unlink()
    (d / "train.json").symlink_to("/proc/self/mem")
    with pytest.raises(DataError) as info:
        load_task_data(task_cfg("medical", dir=str(d)))
    assert str(info.value) == f"{d / 'train.json'}: cannot be read (Input/output error)"


def test_file_without_read_permission_is_one_error_naming_it():
    # root reads every file: the loader runs as nobody in a forked child, on a file only root may read
    folder = Path(tempfile.mkdtemp(prefix="rewardds-perm-"))
    try:
        folder.chmod(0o755)
        path = folder / "train.json"
        write_lines(path, [MED])
        path.chmod(0o000)
        read_end, write_end = os.pipe()
        pid = os.fork()
        if pid == 0:  # the child: drop to nobody, load, report the outcome on the pipe
            try:
                os.close(read_end)
                os.setgid(65534)
                os.setuid(65534)
                try:
                    load_records(path, "medical")
                    out = "loaded"
                except DataError as exc:
                    out = "DataError " + str(exc)
                except BaseException as exc:  # noqa: BLE001 - what the parent asserts on
                    out = type(exc).__name__
                os.write(write_end, out.encode())
            finally:
                os._exit(0)
        os.close(write_end)
        with os.fdopen(read_end, "rb") as fh:
            out = fh.read().decode()
        os.waitpid(pid, 0)
        assert out == f"DataError {path}: cannot be read (Permission denied)"
    finally:
        shutil.rmtree(folder)


def test_data_dir_that_is_a_file_is_named_as_such(tmp_path):
    f = tmp_path / "train.json"
    write_lines(f, [MED])
    with pytest.raises(DataError) as info:
        load_task_data(task_cfg("medical", dir=str(f)))
    assert str(info.value) == f"{f}: is a file, not a folder (task.data.dir names the folder of train.json)"


# ---------------------------------------------------------------- subsampling


def test_subsampling_is_seeded_and_ordered(tmp_path):
    d = _rewardds_dir(tmp_path, n_train=50)
    full = load_task_data(task_cfg("medical", dir=str(d)))
    a = load_task_data(task_cfg("medical", dir=str(d), max_train=10, max_test=3, max_public=25, seed=1))
    b = load_task_data(task_cfg("medical", dir=str(d), max_train=10, max_test=3, max_public=25, seed=1))
    c = load_task_data(task_cfg("medical", dir=str(d), max_train=10, seed=2))
    assert (len(a.private), len(a.test), len(a.public)) == (10, 3, 25)
    assert a.private == b.private and a.test == b.test and a.public == b.public
    assert a.private != c.private
    order = {r.id: i for i, r in enumerate(full.private)}
    assert [order[r.id] for r in a.private] == sorted(order[r.id] for r in a.private)
    assert set(r.id for r in a.private) <= set(order)
    assert a.extra["full_sizes"]["private"] == 50
    big = load_task_data(task_cfg("medical", dir=str(d), max_train=500))
    assert big.private == full.private
    for bad in (0, -1):  # 0 records of a split is refused like a negative size
        with pytest.raises(ConfigError, match="task.data.max_train"):
            load_task_data(task_cfg("medical", dir=str(d), max_train=bad))


# ------------------------------------------------------------------ HF format


def test_hf_format_local_folder(tmp_path, monkeypatch):
    datasets = pytest.importorskip("datasets")
    monkeypatch.setattr(datasets.config, "HF_DATASETS_CACHE", tmp_path / "hf_cache")
    monkeypatch.setattr(datasets.config, "HF_DATASETS_OFFLINE", True, raising=False)
    d = tmp_path / "hfdata"
    d.mkdir()
    write_lines(d / "train.jsonl", [CODE] + [{**CODE, "seq_id": i, "instruction": f"Task {i}: add one."} for i in (12, 13)])
    write_lines(d / "test.jsonl", [{**CODE, "seq_id": 21}])
    td = load_task_data(task_cfg("code", format="hf", hf_name=str(d)))
    assert [r.id for r in td.private] == ["11", "12", "13"] and [r.id for r in td.test] == ["21"]
    assert td.private[0].tests == tuple(CODE["testcase"]) and td.source.startswith("hf:")
    with pytest.raises(ConfigError, match="task.data.hf_name"):
        load_task_data(task_cfg("code", format="hf"))


# ------------------------------------------------------------------ real data

# The shared README counts 78 Code_Generation dev records, but dev.json holds 79:
# its last line has no trailing newline, so `wc -l` reports one less (79 is also
# the count in docs/method.md).
# Code_Generation train.json holds 1497 lines but 1491 distinct records: 6 repeat
# an earlier record's instruction, output and code (only the testcase list
# differs) and are removed as duplicates of the private split.
REAL = {
    "medical": ("Medical_QA", 3364, 112),
    "financial": ("Financial_QA", 1693, 18),
    "code": ("Code_Generation", 1491, 79),
}


def _shared_or_skip():
    if not SHARED.is_dir():
        if os.environ.get("CI") == "true":
            pytest.fail(f"{SHARED} is missing; CI must provide the shared RewardDS data")
        pytest.skip(f"{SHARED} not available")
    return SHARED


@pytest.mark.shared_data
@pytest.mark.parametrize("task", TASKS)
def test_real_data_loads(task):
    root = _shared_or_skip()
    folder, n_train, n_dev = REAL[task]
    td = load_task_data(task_cfg(task, dir=str(root / folder)))
    assert (len(td.private), len(td.test)) == (n_train, n_dev)
    assert td.extra["test_split"] == "dev"
    assert all(r.question and r.answer for r in td.private + td.test)
    if task == "code":
        for r in td.test:  # every dev task has a reference solution defining the entry point
            defs = {n.name for n in ast.walk(ast.parse(r.code)) if isinstance(n, ast.FunctionDef)}
            assert r.entry_point in defs and r.tests


# ------------------------------------------------------------ empty inputs


def _dir(tmp_path, train=20, test=6, dev=None, name="Medical_QA"):
    """A RewardDS-layout folder; a split given as 0 is an empty file, None no file."""
    d = tmp_path / name
    d.mkdir()
    for split, n in (("train", train), ("test", test), ("dev", dev)):
        if n is not None:
            write_lines(d / f"{split}.json", [{**MED, "input": f"{split} question {i}"} for i in range(n)])
    return d


@pytest.mark.parametrize("empty", ["train", "test", "dev"])
def test_empty_split_file_is_refused(tmp_path, empty):
    sizes = {"train": 20, "test": None if empty == "dev" else 6, "dev": None}
    sizes[empty] = 0
    d = _dir(tmp_path, **sizes)
    with pytest.raises(DataError) as ei:
        load_task_data(task_cfg("medical", dir=str(d)))
    assert str(ei.value) == f"{d / (empty + '.json')}: no records"


@pytest.mark.parametrize("content", ["", "\n  \n\n", "[]", "[\n]\n"])
def test_file_without_records_is_refused(tmp_path, content):
    p = tmp_path / "e.json"
    p.write_text(content)
    with pytest.raises(DataError) as ei:
        load_records(p, "medical")
    assert str(ei.value) == f"{p}: no records"


def test_empty_public_corpus_is_refused(tmp_path):
    # The tiny base model is pretrained on the public corpus: an empty one cannot train it.
    d = _dir(tmp_path)
    pub = tmp_path / "pub"
    pub.mkdir()
    (pub / "public.jsonl").write_text("")
    with pytest.raises(DataError, match=r"public.jsonl: no records$"):
        load_task_data(task_cfg("medical", dir=str(d), public_dir=str(pub)))


def _hf_offline(tmp_path, monkeypatch):
    datasets = pytest.importorskip("datasets")
    monkeypatch.setattr(datasets.config, "HF_DATASETS_CACHE", tmp_path / "hf_cache")
    monkeypatch.setattr(datasets.config, "HF_DATASETS_OFFLINE", True, raising=False)
    return datasets


def test_hf_empty_split_is_refused(tmp_path, monkeypatch):
    datasets = _hf_offline(tmp_path, monkeypatch)
    d = tmp_path / "hfempty"
    rows = datasets.Dataset.from_list([MED, {**MED, "input": "q2"}])
    datasets.DatasetDict({"train": rows, "test": rows.filter(lambda r: False)}).save_to_disk(str(d))
    with pytest.raises(DataError) as ei:
        load_task_data(task_cfg("medical", format="hf", hf_name=str(d)))
    assert str(ei.value) == f"{d}[test]: no records"


# ------------------------------------------------------- odd field contents


@pytest.mark.parametrize(
    "testcase,index,detail",
    [
        (["assert inc(1) == 2", "", "assert inc((1) == 2"], 2, "SyntaxError at line 1"),
        (["return inc(1) == 2"], 0, "SyntaxError at line 1"),  # ast.parse accepts it, compile does not
        (["assert inc(1) == 2", "x = 1\n  assert inc(x) == 2"], 1, "IndentationError at line 2"),
    ],
)
def test_testcase_that_is_not_python_is_refused(tmp_path, testcase, index, detail):
    err, msg = _bad(tmp_path, "code", [CODE, {**CODE, "seq_id": 12, "testcase": testcase}])
    assert err.line == 2
    assert msg.endswith(f"bad.jsonl:2: field 'testcase[{index}]' is not valid Python ({detail})")


def test_testcase_with_null_byte_is_refused(tmp_path):
    err, msg = _bad(tmp_path, "code", [{**CODE, "testcase": ["assert inc(1) == 2\x00"]}])
    assert err.line == 1 and "field 'testcase[0]' is not valid Python" in msg


LONE = "\ud800"


@pytest.mark.parametrize(
    "task,row,field",
    [
        ("medical", {**MED, "input": f"I have a cough {LONE}."}, "input"),
        ("medical", {**MED, "output": f"Rest {LONE}"}, "output"),
        ("financial", {**FIN, "instruction": f"Answer {LONE}"}, "instruction"),
        ("financial", {**FIN, "input": f"Save {LONE}?"}, "input"),
        ("code", {**CODE, "instruction": f"Add one {LONE}"}, "instruction"),
        ("code", {**CODE, "output": f"{CODE['output']}{LONE}"}, "output"),
        ("code", {**CODE, "code": f"{CODE['code']}  # {LONE}"}, "code"),
        ("code", {**CODE, "testcase": ["assert inc(1) == 2", f"assert inc(0) == 1  # {LONE}"]}, "testcase[1]"),
        ("code", {**CODE, "seq_id": f"id{LONE}"}, "seq_id"),
    ],
)
def test_lone_surrogate_is_refused(tmp_path, task, row, field):
    base = {"medical": MED, "financial": FIN, "code": {**CODE, "seq_id": 1}}[task]
    err, msg = _bad(tmp_path, task, [base, row])  # json.dumps writes the surrogate as a \ud800 escape
    assert err.line == 2
    assert msg.endswith(f"bad.jsonl:2: field '{field}' is not valid Unicode text (a lone surrogate such as \\ud800)")


# ------------------------------------------------------------ deduplication


def test_private_duplicates_are_removed_keeping_the_first(tmp_path, caplog):
    d = tmp_path / "Financial_QA"
    d.mkdir()
    rows = [{**FIN, "input": f"question {i}", "output": f"answer {i}"} for i in range(4)]
    dups = [
        {**rows[1]},  # the same record again
        {**rows[2], "input": "  question 2 ", "output": "answer 2\n"},  # same after stripping
        {"instruction": f"{FIN['instruction']}\nquestion 3", "output": "answer 3"},  # same merged question
    ] * 3
    distinct_late = [{**rows[0], "output": "answer 0 (revised)"}, {**rows[0], "input": "question  0"}]
    write_lines(d / "train.json", rows + dups + distinct_late)
    write_lines(d / "test.json", [rows[0], rows[0]])
    with caplog.at_level(logging.WARNING, logger="rewardds.data.loaders"):
        td = load_task_data(task_cfg("financial", dir=str(d)))
    assert [r.id for r in td.private] == ["train-1", "train-2", "train-3", "train-4", "train-14", "train-15"]
    assert len({(r.question, r.answer) for r in td.private}) == len(td.private) == 6
    assert len(td.test) == 2  # only the private split is the DP unit
    warnings = [r.getMessage() for r in caplog.records]
    assert len(warnings) == 1
    msg = warnings[0]
    assert str(d / "train.json") in msg and "duplicate records removed" in msg
    assert not re.search(r"\d", msg.replace(str(d / "train.json"), ""))  # no count, no line numbers


def test_code_duplicates_differing_only_in_tests_are_one_record(tmp_path):
    d = tmp_path / "Code_Generation"
    d.mkdir()
    write_lines(d / "train.json", [CODE, {**CODE, "seq_id": 12, "testcase": ["assert inc(5) == 6"]}, {**CODE, "seq_id": 13, "output": "other"}])
    write_lines(d / "test.json", [{**CODE, "seq_id": 21}])
    td = load_task_data(task_cfg("code", dir=str(d)))
    assert [r.id for r in td.private] == ["11", "13"] and td.private[0].tests == tuple(CODE["testcase"])


def test_subset_is_drawn_from_distinct_records(tmp_path):
    d = _dir(tmp_path, train=10)
    with (d / "train.json").open("a") as fh:
        fh.write("".join(json.dumps({**MED, "input": f"train question {i}"}) + "\n" for i in range(10)))
    td = load_task_data(task_cfg("medical", dir=str(d), max_train=12))
    assert len(td.private) == 10 and td.extra["full_sizes"]["private"] == 10


# ---------------------------------------------------- no values in errors

MARK = "PATIENT Jane Doe HIV+"


@pytest.mark.parametrize(
    "task,rows",
    [
        ("code", [{**CODE, "entry_point": f"{MARK}"}]),
        ("code", [{**CODE, "seq_id": MARK}, {**CODE, "seq_id": MARK}]),
        ("code", [{**CODE, "seq_id": [MARK]}]),
        ("code", [{**CODE, "testcase": [f"assert {MARK}"]}]),
        ("code", [{**CODE, "testcase": [MARK, 3]}]),
        ("code", [{**CODE, "testcase": f"assert {MARK}"}]),
        ("medical", [{**MED, "input": f"{MARK} {LONE}"}]),
        ("medical", [{**MED, "input": {"note": MARK}}]),
        ("medical", [json.dumps(MARK)]),
        ("medical", [f'{{"input": "{MARK}", "output": {MARK}}}']),
    ],
)
def test_errors_do_not_quote_values(tmp_path, task, rows):
    _, msg = _bad(tmp_path, task, rows)
    assert MARK not in msg and "Jane" not in msg


def test_json_array_errors_do_not_quote_values(tmp_path):
    p = tmp_path / "bad.json"
    for text in (f'[{json.dumps(MARK)}]', f'[{{"input": "{MARK}", "output": {MARK}}}]', f'[{json.dumps(MED)}, {MARK}]'):
        p.write_text(text)
        with pytest.raises(DataError) as ei:
            load_records(p, "medical")
        assert MARK not in str(ei.value) and "Jane" not in str(ei.value)


def test_hf_load_error_does_not_quote_dataset_content(tmp_path, monkeypatch):
    # A datasets message is unbounded: here it quotes text read from the folder;
    # an arrow error can quote a record ("Failed to parse string: '...' as int64").
    _hf_offline(tmp_path, monkeypatch)
    d = tmp_path / "broken"
    d.mkdir()
    (d / "dataset_dict.json").write_text(json.dumps({"splits": ["Jane_Doe_HIV"]}))
    with pytest.raises(DataError) as ei:
        load_task_data(task_cfg("medical", format="hf", hf_name=str(d)))
    msg = str(ei.value)
    assert msg.startswith(f"{d}: could not load with datasets") and "Jane" not in msg


# ------------------------------------------------------ the private set


PRIVATE_SET_KEYS = {"source", "records", "subset", "holdout_test", "deduplicated", "statement"}


def test_private_set_demo():
    ps = load_task_data(task_cfg("medical")).private_set
    assert set(ps) == PRIVATE_SET_KEYS
    assert ps["source"] == "demo:medical" and ps["records"] == COUNTS["private"]
    assert ps["subset"] is None and ps["deduplicated"] is True
    assert str(COUNTS["private"]) in ps["statement"]
    assert json.loads(json.dumps(ps)) == ps


def test_private_set_subset_names_file_not_path_nor_file_size(tmp_path):
    d = _dir(tmp_path, train=37)
    with (d / "train.json").open("a") as fh:  # 5 duplicates: 42 lines, 37 distinct
        fh.write("".join(json.dumps({**MED, "input": f"train question {i}"}) + "\n" for i in range(5)))
    td = load_task_data(task_cfg("medical", dir=str(d), max_train=10, seed=3))
    ps = td.private_set
    assert set(ps) == PRIVATE_SET_KEYS
    assert ps["source"] == "train.json" and ps["records"] == len(td.private) == 10
    assert ps["subset"] == {"max_train": 10, "seed": 3} and ps["deduplicated"] is True
    text = json.dumps(ps)
    assert str(tmp_path) not in text and "Medical_QA" not in text
    assert not re.search(r"\b(37|42|5)\b", text)  # neither the file's size nor the duplicates
    assert "10" in ps["statement"] and "train.json" in ps["statement"]


def test_private_set_subset_is_config_only(tmp_path):
    # max_train >= the file's size still reads as a subset: whether the file held
    # more than max_train records is a statistic of the private data.
    d = _dir(tmp_path, train=8)
    ps = load_task_data(task_cfg("medical", dir=str(d), max_train=8, seed=1)).private_set
    assert ps["records"] == 8 and ps["subset"] == {"max_train": 8, "seed": 1}
    assert load_task_data(task_cfg("medical", dir=str(d))).private_set["subset"] is None


def test_private_set_hf_names_folder_only(tmp_path, monkeypatch):
    _hf_offline(tmp_path, monkeypatch)
    d = tmp_path / "hfdata"
    d.mkdir()
    write_lines(d / "train.jsonl", [CODE, {**CODE, "seq_id": 12, "output": "other"}])
    write_lines(d / "test.jsonl", [{**CODE, "seq_id": 21}])
    ps = load_task_data(task_cfg("code", format="hf", hf_name=str(d))).private_set
    assert ps["source"] == "hf:hfdata[train]" and ps["records"] == 2
    assert str(tmp_path) not in json.dumps(ps)


def test_holdout_test_takes_test_items_out_of_the_private_file(tmp_path):
    from rewardds.release import released_metrics

    rows = [{**MED, "input": f"Question number {i} about a cough.", "output": f"Answer {i}."} for i in range(30)]
    write_lines(tmp_path / "train.json", rows)
    write_lines(tmp_path / "dev.json", rows[:2])
    td = load_task_data(task_cfg("medical", dir=str(tmp_path), holdout_test=7, seed=3))
    assert len(td.test) == 7 and len(td.private) == 23
    assert not {r.question for r in td.test} & {r.question for r in td.private}
    again = load_task_data(task_cfg("medical", dir=str(tmp_path), holdout_test=7, seed=3))
    assert [r.question for r in again.test] == [r.question for r in td.test]  # seeded
    assert td.private_set["holdout_test"] == 7 and "not covered" in td.private_set["statement"]
    with pytest.raises(ConfigError, match="task.data.holdout_test") as err:
        load_task_data(task_cfg("medical", dir=str(tmp_path), holdout_test=30))
    assert "30" not in str(err.value).split("holdout_test'")[-1]  # the file's size is not given away
    metrics = {"eval": {"target": {"rougeL": 0.5}}, "paired": {}, "method": "rewardds"}
    assert "eval" in released_metrics(metrics, set()) and "eval" not in released_metrics(metrics, set(), True)
