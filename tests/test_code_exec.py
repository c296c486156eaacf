"""Tests for the untrusted-code sandbox (rewardds.eval.code_exec).

Every hostile sample must be scored as a failure, must not harm this process or
the file system, and must leave the sandbox usable for the next call.  Short
timeouts keep the file well under a minute on two cores.
"""
from __future__ import annotations

import json
import os
import re
import socket
import sys
import time
from pathlib import Path

import pytest

from rewardds.eval import code_exec
from rewardds.eval.code_exec import evaluate_samples, extract_code, run_tests, sandbox_info

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="the sandbox targets Linux")

T = 2.0  # seconds per sample in these tests
GOOD = "def add(a, b):\n    return a + b\n"
WRONG = "def add(a, b):\n    return a - b\n"
TESTS = ["assert add(1, 2) == 3", "assert add(-1, 1) == 0", "assert add(2, 2) == 4"]


def _run(code, tests=TESTS, entry_point="add", timeout=T):
    return run_tests(code, tests, entry_point, timeout=timeout)


def _assert_still_works():
    res = _run(GOOD)
    assert res.passed and res.status == "passed", res


# --------------------------------------------------------------------------- ordinary outcomes


def test_correct_solution_passes():
    res = _run(GOOD)
    assert res.passed and res.status == "passed"
    assert "3 tests" in res.detail


def test_wrong_solution_fails_with_the_assert_text():
    res = _run(WRONG)
    assert not res.passed and res.status == "failed"
    assert "test 1 failed: assert add(1, 2) == 3" in res.detail


def test_tests_run_in_order_and_stop_at_first_failure():
    code = "def add(a, b):\n    return 0 if a == 2 else a + b\n"
    res = _run(code)
    assert res.status == "failed" and "test 3" in res.detail and "add(2, 2)" in res.detail


def test_missing_entry_point_and_syntax_error_and_no_code():
    res = _run("def plus(a, b):\n    return a + b\n")
    assert res.status == "failed" and "does not define the entry point 'add'" in res.detail
    res = _run("def add(a, b)\n    return a + b\n")
    assert res.status == "failed" and "SyntaxError" in res.detail
    assert _run(None).status == "no_code"
    assert _run("   \n").status == "no_code"
    res = _run(GOOD, tests=["assert add(1, 2 == 3"])
    assert res.status == "error" and "does not compile" in res.detail


def test_exception_in_test_is_a_failure_with_its_type():
    res = _run("def add(a, b):\n    return a / 0\n")
    assert res.status == "failed" and "ZeroDivisionError" in res.detail


def test_common_stdlib_still_works():
    code = (
        "import os, math, re, heapq, itertools, functools, dataclasses, enum, tempfile, logging, asyncio, subprocess\n"
        "from collections import Counter, namedtuple, deque\nfrom typing import List\n"
        "P = namedtuple('P', 'x y')\n"
        "@dataclasses.dataclass\nclass D:\n    v: int\n"
        "def add(a: int, b: int) -> int:\n"
        "    logging.getLogger('x').debug('ok')\n"
        "    with open('scratch.txt', 'w') as fh:\n        fh.write('inside the working directory is fine')\n"
        "    with tempfile.TemporaryDirectory() as d:\n        open(os.path.join(d, 'f'), 'w').close()\n"
        "    return int(math.fsum([a, b])) + len(Counter()) + D(0).v\n"
    )
    res = _run(code)
    assert res.passed, res


# --------------------------------------------------------------------------- hostile code


def test_infinite_loop_times_out_and_sandbox_recovers():
    start = time.monotonic()
    res = _run("def add(a, b):\n    while True:\n        pass\n")
    elapsed = time.monotonic() - start
    assert res.status == "timeout" and not res.passed
    assert elapsed < T + 2.0
    _assert_still_works()


def test_top_level_infinite_loop_times_out():
    start = time.monotonic()
    res = _run("while True:\n    pass\n")
    assert res.status == "timeout" and time.monotonic() - start < T + 2.0


def test_huge_allocation_fails_without_hurting_us():
    res = _run("x = bytearray(10**10)\n" + GOOD)
    assert not res.passed and res.status in ("failed", "killed"), res
    res = _run("def add(a, b):\n    x = [0] * (10**10)\n    return a + b\n")
    assert not res.passed and res.status in ("failed", "killed"), res
    _assert_still_works()


@pytest.mark.parametrize("netns", ["auto", "off"])
def test_socket_to_localhost_is_refused(netns, monkeypatch):
    if netns == "off":  # the audit hook alone must refuse it where `unshare -n` is unavailable
        monkeypatch.setattr(code_exec, "_NETNS_PREFIX", [])
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.bind(("127.0.0.1", 0))
    listener.listen(1)
    listener.settimeout(0.3)
    port = listener.getsockname()[1]
    try:
        code = (
            "import socket\n"
            "def add(a, b):\n"
            f"    s = socket.create_connection(('127.0.0.1', {port}), timeout=1)\n"
            "    s.sendall(b'leak')\n"
            "    return a + b\n"
        )
        res = _run(code)
        assert not res.passed and res.status == "failed", res
        with pytest.raises(socket.timeout):
            listener.accept()  # nobody connected
    finally:
        listener.close()
    _assert_still_works()


def test_deleting_or_writing_outside_the_working_directory_is_refused(tmp_path):
    sentinel_dir = tmp_path / "keep"
    sentinel_dir.mkdir()
    sentinel = sentinel_dir / "sentinel.txt"
    sentinel.write_text("still here")
    attempts = {
        "os.remove": f"os.remove({str(sentinel)!r})",
        "shutil.rmtree": f"shutil.rmtree({str(sentinel_dir)!r})",
        "os.rename": f"os.rename({str(sentinel)!r}, 'stolen.txt')",
        "os.unlink via dir_fd": f"os.unlink('sentinel.txt', dir_fd=os.open({str(sentinel_dir)!r}, os.O_RDONLY))",
        "overwrite": f"open({str(sentinel)!r}, 'w').write('gone')",
        "relative escape": "open('../../../../../../..' + " + repr(str(sentinel)) + ", 'a').write('x')",
        "chmod": f"os.chmod({str(sentinel)!r}, 0)",
        "symlink": f"os.symlink({str(sentinel)!r}, 'link')",
        "new file": f"open({str(tmp_path / 'new.txt')!r}, 'x').write('x')",
    }
    for name, stmt in attempts.items():
        code = f"import os, shutil\ndef add(a, b):\n    {stmt}\n    return a + b\n"
        res = _run(code)
        assert not res.passed and res.status == "failed", (name, res)
        assert "PermissionError" in res.detail or "sandbox" in res.detail, (name, res)
        assert sentinel.read_text() == "still here", name
    assert sorted(p.name for p in tmp_path.iterdir()) == ["keep"]
    assert os.access(sentinel, os.R_OK)


def test_os_exit_before_the_tests_is_not_a_pass():
    res = _run("import os\nos._exit(0)\n")
    assert not res.passed and res.status == "killed", res
    res = _run("import os\ndef add(a, b):\n    os._exit(0)\n")
    assert not res.passed and res.status == "killed", res
    res = _run("import sys\nsys.exit(0)\n")
    assert not res.passed and res.status == "failed", res


def test_printing_passed_or_forging_results_is_not_a_pass():
    res = _run("print('PASSED')\nprint('passed')\nimport sys\nsys.exit(0)\n")
    assert not res.passed
    # write result-looking lines to every plausible descriptor, then die
    code = (
        "import os\n"
        "for fd in range(1, 64):\n"
        "    for token in ('passed', 'PASSED', 'ok'):\n"
        "        try:\n"
        "            os.write(fd, (token + '\\tpassed\\t3 tests passed\\n').encode())\n"
        "        except OSError:\n"
        "            pass\n"
        "os._exit(0)\n"
    )
    res = _run(code)
    assert not res.passed and res.status == "killed", res


def test_tampering_with_the_harness_does_not_fake_a_pass():
    # monkeypatch the builtins and functions a naive harness would use after the code ran
    code = (
        "import builtins, os, sys, json\n"
        "builtins.AssertionError = KeyError\n"
        "builtins.len = lambda x: 0\n"
        "builtins.enumerate = lambda *a, **k: iter(())\n"
        "builtins.exec = lambda *a, **k: None\n"
        "os.write = lambda fd, data: len(data)\n"
        "json.dumps = lambda *a, **k: 'passed'\n"
        + WRONG
    )
    res = _run(code)
    assert not res.passed and res.status == "failed" and "test 1 failed" in res.detail, res
    # frame introspection that could reach the harness's secret is refused
    for probe in (
        "import sys\ndef add(a, b):\n    return sys._getframe(1).f_locals\n",
        "def add(a, b):\n    try:\n        1 / 0\n    except ZeroDivisionError as e:\n        return e.__traceback__.tb_frame.f_back.f_locals\n",
        "import gc\ndef add(a, b):\n    return gc.get_objects()\n",
        "import signal\ndef add(a, b):\n    signal.signal(signal.SIGALRM, lambda s, f: None)\n",
        "import ctypes\n" + GOOD,
    ):
        res = _run(probe)
        assert not res.passed and res.status == "failed", (probe, res)


def test_process_creation_is_refused():
    for stmt in ("os.fork()", "os.system('true')", "subprocess.run(['true'])",
                 "os.posix_spawn('/bin/true', ['true'], {})", "os.execv('/bin/true', ['true'])",
                 "os.kill(os.getppid(), 0)"):
        code = f"import os, subprocess\ndef add(a, b):\n    {stmt}\n    return a + b\n"
        res = _run(code)
        assert not res.passed and res.status == "failed", (stmt, res)
        assert "not allowed" in res.detail, (stmt, res)
    # a fork loop at top level: refused at the first fork
    res = _run("import os\nwhile True:\n    os.fork()\n")
    assert res.status == "failed" and "os.fork" in res.detail, res
    _assert_still_works()


def test_temporary_directory_is_removed():
    res = _run("import os\ndef add(a, b):\n    raise RuntimeError(os.getcwd())\n")
    assert res.status == "failed"
    cwd = re.search(r"RuntimeError: (\S+)", res.detail).group(1)
    assert "rewardds-exec-" in cwd and not os.path.exists(cwd)


def test_sandbox_info_reports_network_namespace_choice():
    info = sandbox_info()
    assert set(info) >= {"network_namespace", "root", "nproc_limit"}


# --------------------------------------------------------------------------- extraction


def test_code_from_fenced_markdown_is_extracted_and_passes():
    answer = (
        "Here is the code to solve this problem:\n"
        "```python\n"
        "def add(a, b):\n"
        "    return a + b\n"
        "```\n"
        "It returns the sum. Example:\n"
        "```\nprint(add(1, 2))\n```\n"
    )
    code = extract_code(answer, "add")
    assert code == "def add(a, b):\n    return a + b"
    assert _run(code).passed


def test_extract_code_rules():
    # no entry point block -> all blocks joined
    two = "```python\nimport math\n```\ntext\n```py\ndef f(x):\n    return math.sqrt(x)\n```"
    assert extract_code(two) == "import math\n\ndef f(x):\n    return math.sqrt(x)"
    assert extract_code(two, "f") == "def f(x):\n    return math.sqrt(x)"
    # non-python blocks are ignored when python blocks exist
    mixed = "```bash\npip install x\n```\n```python\ndef f():\n    return 1\n```"
    assert extract_code(mixed) == "def f():\n    return 1"
    # truncated generation: unclosed fence runs to the end
    assert extract_code("```python\ndef f():\n    return 1\n", "f") == "def f():\n    return 1"
    # bare code after prose; trailing prose dropped
    bare = "Sure! Here you go.\ndef f(x):\n    return x * 2\nThis doubles x."
    assert extract_code(bare, "f") == "def f(x):\n    return x * 2"
    # code that starts with a constant is kept whole when it all parses
    whole = "MOD = 10**9 + 7\ndef f(x):\n    return x % MOD"
    assert extract_code(whole, "f") == whole
    # nothing code-like
    assert extract_code("I am not sure how to do that.") is None
    assert extract_code("") is None
    assert extract_code("hello") is None


# --------------------------------------------------------------------------- many samples


def test_evaluate_samples_mixed():
    tasks = [
        {"tests": TESTS, "entry_point": "add"},
        {"tests": ["assert mul(2, 3) == 6"], "entry_point": "mul"},
    ]
    samples = [
        [f"```python\n{GOOD}```", WRONG, GOOD],  # c = 2 of 3
        ["def mul(a, b):\n    return a + b", "I don't know.", "def mul(a, b):\n    return a * b"],  # c = 1 of 3
    ]
    out = evaluate_samples(samples, tasks, ks=(1, 2), timeout=T, workers=2)
    assert out["pass@1"] == pytest.approx((2 / 3 + 1 / 3) / 2)
    # pass@2: task 1: 1 - C(1,2)/C(3,2) = 1; task 2: 1 - C(2,2)/C(3,2) = 2/3
    assert out["pass@2"] == pytest.approx((1 + 2 / 3) / 2)
    assert out["n_tasks"] == 2
    assert out["statuses"] == {"passed": 3, "failed": 2, "no_code": 1}
    assert [t["c"] for t in out["per_task"]] == [2, 1]
    with pytest.raises(ValueError):
        evaluate_samples(samples, tasks, ks=(4,))


# --------------------------------------------------------------------------- the dev split

_REPO = Path(__file__).resolve().parents[1]
_DATA_CANDIDATES = [
    Path(os.environ["REWARDDS_SHARED_DATA"]) if os.environ.get("REWARDDS_SHARED_DATA") else None,
    _REPO.parent / "shared" / "data" / "rewardds",
    Path("/work/shared/data/rewardds"),
]
DEV = next((p / "Code_Generation" / "dev.json" for p in _DATA_CANDIDATES if p and (p / "Code_Generation" / "dev.json").exists()), None)


@pytest.fixture(scope="module")
def dev_records():
    if DEV is None:
        if os.environ.get("CI") == "true":
            pytest.fail("Code_Generation/dev.json not found (set REWARDDS_SHARED_DATA); required when CI=true")
        pytest.skip("Code_Generation/dev.json not available")
    with open(DEV, encoding="utf-8") as fh:
        records = [json.loads(line) for line in fh if line.strip()]
    assert records
    return records


@pytest.mark.shared_data
def test_dev_reference_solutions_all_pass(dev_records):
    tasks = [{"tests": r["testcase"], "entry_point": r["entry_point"]} for r in dev_records]
    out = evaluate_samples([[r["code"]] for r in dev_records], tasks, timeout=5.0, workers=2)
    failing = [(r["seq_id"], r["entry_point"], t["details"][0]) for r, t in zip(dev_records, out["per_task"]) if t["c"] == 0]
    assert failing == [], failing
    assert out["pass@1"] == 1.0 and out["n_tasks"] == len(dev_records)


@pytest.mark.shared_data
def test_dev_wrong_solutions_all_fail(dev_records):
    tasks = [{"tests": r["testcase"], "entry_point": r["entry_point"]} for r in dev_records]
    wrong = [[f"def {r['entry_point']}(*a, **k):\n    return None\n"] for r in dev_records]
    out = evaluate_samples(wrong, tasks, timeout=5.0, workers=2)
    assert out["pass@1"] == 0.0
    assert out["statuses"] == {"failed": len(dev_records)}
