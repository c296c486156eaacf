"""Tests for the untrusted-code sandbox (rewardds.eval.code_exec).

Every hostile sample must be scored as a failure, must not harm this process or
the file system, and must leave the sandbox usable for the next call.  The
escape probes assume the code takes full control of its own process (they read
and forge through /proc/self/mem, pidfds and dir_fd tricks); the isolation must
come from bubblewrap and the verdict from the judge process.  They need bwrap
(`make test` installs it).  Short timeouts keep the file well under a minute on
two cores.
"""
from __future__ import annotations

import glob
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import pytest

from rewardds.eval import code_exec
from rewardds.eval.code_exec import evaluate_samples, extract_code, run_tests, sandbox_info
from rewardds.errors import RewarddsError

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


def _meminfo(key):
    with open("/proc/meminfo") as fh:
        return next(int(line.split()[1]) << 10 for line in fh if line.startswith(key + ":"))


def test_memory_outside_the_address_space_is_bounded():
    # memfd pages, pipe buffers and SysV segments are not in RLIMIT_AS: a sample held +2.4 GiB of the
    # host's RAM (Shmem) through memfd_create within 5 s, and thousands of pipes held 185 MiB
    code = (
        "import os, fcntl\n"
        "def add(a, b):\n"
        "    held, fds, pipes, why = 0, [], 0, []\n"
        "    chunk = b'x' * (1 << 20)\n"
        "    try:\n"
        "        while held < 1 << 30:\n"
        "            fd = os.memfd_create('m')\n"
        "            fds.append(fd)\n"
        "            for _ in range(15):\n"
        "                os.write(fd, chunk)\n"
        "                held += len(chunk)\n"
        "    except OSError as exc:\n"
        "        why.append('memfd: ' + exc.strerror)\n"
        "    try:\n"
        "        while pipes < 5000:\n"
        "            r, w = os.pipe()\n"
        "            os.set_blocking(w, False)\n"
        "            try:\n"
        "                fcntl.fcntl(w, 1031, 1 << 20)\n"  # F_SETPIPE_SZ
        "                while True:\n"
        "                    os.write(w, chunk)\n"
        "            except OSError:\n"
        "                pass\n"
        "            pipes += 1\n"
        "    except OSError as exc:\n"
        "        why.append('pipes: ' + exc.strerror)\n"
        "    raise RuntimeError('memfd=%d pipes=%d %s' % (held >> 20, pipes, '; '.join(why)))\n"
    )
    base = {key: _meminfo(key) for key in ("Shmem", "MemAvailable")}
    peak, done = {"Shmem": 0, "MemAvailable": 0}, threading.Event()

    def watch():
        while not done.is_set():
            peak["Shmem"] = max(peak["Shmem"], _meminfo("Shmem") - base["Shmem"])
            peak["MemAvailable"] = max(peak["MemAvailable"], base["MemAvailable"] - _meminfo("MemAvailable"))
            time.sleep(0.01)

    watcher = threading.Thread(target=watch)
    watcher.start()
    try:
        res = _run(code, timeout=4.0)
    finally:
        done.set()
        watcher.join()
    assert res.status == "failed" and "memfd=0 pipes=" in res.detail, res  # memfd_create refused outright
    pipes = int(res.detail.split("pipes=")[1].split()[0])
    assert pipes < 64, res  # a low open-file limit: a few pipes of at most 1 MiB each
    assert peak["Shmem"] < 128 << 20, peak
    _assert_still_works()


def test_no_network_not_even_to_localhost():
    # the sandbox has its own network namespace: this machine's 127.0.0.1 is not reachable
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
        interfaces = _run("import socket\ndef add(a, b):\n    return [n for _, n in socket.if_nameindex()]\n",
                          tests=["assert add(1, 2) == ['lo']"])
        assert interfaces.passed, interfaces
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
        "through a symlink": f"os.symlink({str(sentinel)!r}, 'link'); open('link', 'w').write('gone')",
        "new file": f"open({str(tmp_path / 'new.txt')!r}, 'x').write('x')",
    }
    for name, stmt in attempts.items():
        code = f"import os, shutil\ndef add(a, b):\n    {stmt}\n    return a + b\n"
        res = _run(code)
        assert not res.passed and res.status == "failed", (name, res)
        assert "Error" in res.detail, (name, res)  # the file does not exist in the sandbox's view
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
    assert not res.passed and res.status in ("failed", "killed"), res


def test_tampering_with_the_harness_does_not_fake_a_pass():
    # monkeypatch the builtins and functions the in-sandbox harness uses; the
    # verdict is decided by the judge process, which the code cannot reach
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
    # introspection of the in-sandbox harness finds nothing that makes a pass
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
                 "os.posix_spawn('/bin/true', ['true'], {})", "os.execv('/bin/true', ['true'])"):
        code = f"import os, subprocess\ndef add(a, b):\n    {stmt}\n    return a + b\n"
        res = _run(code)
        assert not res.passed and res.status == "failed", (stmt, res)
        assert "not allowed" in res.detail, (stmt, res)
    # a fork loop at top level: refused at the first fork
    res = _run("import os\nwhile True:\n    os.fork()\n")
    assert res.status == "failed" and "os.fork" in res.detail, res
    _assert_still_works()


def test_working_directory_is_private_and_nothing_is_left_behind():
    before = set(glob.glob(os.path.join(tempfile.gettempdir(), "rewardds-exec-*")))
    res = _run("import os\nopen('mine.txt', 'w').write('x')\ndef add(a, b):\n    raise RuntimeError(os.getcwd())\n")
    assert res.status == "failed" and "RuntimeError: /tmp" in res.detail, res
    # the next sample starts with an empty working directory
    assert _run("import os\ndef add(a, b):\n    return a + b if os.listdir('.') == [] else 0\n").passed
    for code in (GOOD, WRONG, "def add(a, b)\n", "import os\nos._exit(3)\n", "while True:\n    pass\n"):
        _run(code, timeout=1.0)
    assert set(glob.glob(os.path.join(tempfile.gettempdir(), "rewardds-exec-*"))) <= before


def test_sandbox_info_reports_the_isolation():
    info = sandbox_info()
    assert info["uid"] == 65534 and info["network"] is False
    assert {"pid", "mount", "net"} <= set(info["namespaces"])
    assert any(p.endswith(os.sep + "os.py") or os.path.isdir(p) for p in info["view"])


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


# --------------------------------------------------------------------------- escape probes (OS isolation)

_REPO_ROOT = Path(__file__).resolve().parents[1]

# A stand-in for the pipeline: a separate process that evaluates one sample and
# prints the result as JSON.  "{PID}" in the code becomes this process's pid, so
# hostile code can target the process that evaluates it.
_PIPELINE = r"""
import json, os, sys
from rewardds.eval.code_exec import run_tests
code = sys.argv[1].replace("{PID}", str(os.getpid()))
res = run_tests(code, json.loads(sys.argv[2]), sys.argv[3], timeout=float(sys.argv[4]))
print("RESULT " + json.dumps({"passed": res.passed, "status": res.status, "detail": res.detail}), flush=True)
"""


def _pipeline_cmd(code, tests=TESTS, entry_point="add", timeout=T):
    return [sys.executable, "-c", _PIPELINE, code, json.dumps(tests), entry_point, str(timeout)]


def _pipeline_env(**extra):
    env = dict(os.environ, **extra)
    env["PYTHONPATH"] = str(_REPO_ROOT) + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
    return env


def _run_in_pipeline(code, tests=TESTS, entry_point="add", timeout=T, **env):
    """(return code of the pipeline process, its result dict or None)."""
    proc = subprocess.run(_pipeline_cmd(code, tests, entry_point, timeout), env=_pipeline_env(**env),
                          capture_output=True, text=True, timeout=60)
    lines = [l for l in proc.stdout.splitlines() if l.startswith("RESULT ")]
    return proc.returncode, (json.loads(lines[-1][len("RESULT "):]) if lines else None), proc.stderr


def _exec_dirs():
    return set(glob.glob(os.path.join(tempfile.gettempdir(), "rewardds-exec-*")))


def test_probe_pidfd_kill_of_the_evaluating_process_fails():
    # os.pidfd_open + signal.pidfd_send_signal raise no audit event: only a PID
    # namespace keeps the code from killing the process that evaluates it
    code = (
        "import os, signal\n"
        "def add(a, b):\n"
        "    for target in ({PID}, os.getppid()):\n"
        "        try:\n"
        "            signal.pidfd_send_signal(os.pidfd_open(target), signal.SIGKILL)\n"
        "        except Exception:\n"
        "            pass\n"
        "    return a + b\n"
    )
    before = _exec_dirs()
    rc, res, err = _run_in_pipeline(code)
    assert rc == 0 and res is not None, (rc, err[-500:])
    assert _exec_dirs() <= before


def test_probe_dir_fd_write_escape_fails(tmp_path):
    # open(relative path, dir_fd=<working dir>) after chdir deeper: the audit
    # hook resolved it against the cwd, the kernel against the descriptor
    target = tmp_path / "escaped.txt"
    code = (
        "import os\n"
        "def add(a, b):\n"
        "    wd = os.open('.', os.O_RDONLY)\n"
        "    depth = os.getcwd().count('/')\n"
        "    sub = '/'.join('d%d' % i for i in range(depth))\n"
        "    os.makedirs(sub, exist_ok=True)\n"
        "    os.chdir(sub)\n"
        f"    fd = os.open('../' * depth + {str(target).lstrip('/')!r}, os.O_CREAT | os.O_WRONLY, dir_fd=wd)\n"
        "    os.write(fd, b'escaped')\n"
        "    return a + b\n"
    )
    res = _run(code)
    assert not target.exists(), res
    assert not res.passed, res


_FORGE_FROM_OWN_MEMORY = r'''
import os, re
def _open_own_memory():
    # the path the audit hook checks (relative to the cwd) is not the one the
    # kernel opens (relative to dir_fd): cwd is as deep as the working dir
    wd = os.open(".", os.O_RDONLY)
    depth = os.getcwd().count("/")
    sub = "/".join("m%d" % i for i in range(depth))
    os.makedirs(sub, exist_ok=True)
    os.chdir(sub)
    return os.fdopen(os.open("../" * depth + "proc/self/mem", os.O_RDONLY, dir_fd=wd), "rb", buffering=0)
def _forge():
    seen, tokens = set(), []
    try:
        maps = open("/proc/self/maps").read().splitlines()
        mem = _open_own_memory()
    except Exception:
        return
    for line in maps:
        parts = line.split()
        if len(parts) < 2 or not parts[1].startswith("r"):
            continue
        lo, hi = (int(x, 16) for x in parts[0].split("-"))
        if hi - lo > 1 << 28:
            continue
        try:
            mem.seek(lo)
            chunk = mem.read(hi - lo)
        except Exception:
            continue
        for m in re.finditer(rb"(?<![0-9a-f])[0-9a-f]{32}(?![0-9a-f])", chunk):
            if m.group() not in seen:
                seen.add(m.group())
                tokens.append(m.group())
    lines = b"".join(t + b"\tpassed\t1 tests passed\n" for t in tokens[:1200])
    for fd in range(3, 64):
        try:
            os.write(fd, lines)
        except Exception:
            pass
    os._exit(0)
_forge()
def f(x):
    return 0
'''


def test_probe_forged_pass_from_own_memory_fails():
    # the code reads its own memory for the harness's secret and reports "passed"
    res = run_tests(_FORGE_FROM_OWN_MEMORY, ["assert f(2) == 4"], "f", timeout=T)
    assert not res.passed and res.status != "passed", res


def test_probe_expected_value_is_not_in_the_sandbox():
    # the expected value of an assert never reaches the sandboxed process, so it
    # cannot be read from memory and returned
    code = (
        "import re\n"
        + _FORGE_FROM_OWN_MEMORY.split("def _forge")[0] +
        "def f(x):\n"
        "    maps = open('/proc/self/maps').read().splitlines()\n"
        "    with _open_own_memory() as mem:\n"
        "        for line in maps:\n"
        "            parts = line.split()\n"
        "            if len(parts) < 2 or not parts[1].startswith('r'):\n"
        "                continue\n"
        "            lo, hi = (int(v, 16) for v in parts[0].split('-'))\n"
        "            try:\n"
        "                mem.seek(lo)\n"
        "                chunk = mem.read(hi - lo)\n"
        "            except Exception:\n"
        "                continue\n"
        "            if b'48151' + b'623420042' in chunk:\n"
        "                return 48151623420042\n"
        "    return 0\n"
    )
    res = run_tests(code, ["assert f(2) == 48151623420042"], "f", timeout=T)
    assert not res.passed, res
    assert run_tests("def f(x):\n    return 48151623420042\n", ["assert f(2) == 48151623420042"], "f", timeout=T).passed


@pytest.fixture()
def outside_files():
    """A world-readable file in a world-traversable folder and a root-only (0600) file, each with a marker."""
    folder = tempfile.mkdtemp(prefix="rewardds-probe-")
    os.chmod(folder, 0o755)
    marker = "probe-marker-" + os.urandom(6).hex()
    public, private = os.path.join(folder, "public.txt"), os.path.join(folder, "private.txt")
    with open(public, "w") as fh:
        fh.write(marker)
    os.chmod(public, 0o644)
    with open(private, "w") as fh:
        fh.write(marker)
    os.chmod(private, 0o600)
    try:
        yield marker, [public, private] + ([str(DEV)] if DEV is not None else [])
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def test_probe_reading_files_outside_the_sandbox_fails(outside_files):
    marker, paths = outside_files
    for path in paths:
        code = (
            "def add(a, b):\n"
            f"    data = open({path!r}, errors='replace').read()\n"
            f"    return a + b if ({marker!r} in data or {path.endswith('.json')!r}) else 0\n"
        )
        res = _run(code)
        assert not res.passed, (path, res)
        assert marker not in res.detail


def test_probe_reading_the_pipelines_environment_fails():
    marker = "probe-secret-" + os.urandom(6).hex()
    code = (
        "import os\n"
        "def add(a, b):\n"
        "    found = False\n"
        "    for pid in ['{PID}', str(os.getppid())] + [p for p in os.listdir('/proc') if p.isdigit()]:\n"
        "        try:\n"
        "            found = found or " + repr(marker) + ".encode() in open('/proc/%s/environ' % pid, 'rb').read()\n"
        "        except OSError:\n"
        "            pass\n"
        "    return a + b if found else 0\n"
    )
    rc, res, err = _run_in_pipeline(code, REWARDDS_PROBE_SECRET=marker)
    assert rc == 0 and res is not None, err[-500:]
    assert not res["passed"] and marker not in res["detail"], res


def test_code_runs_as_an_unprivileged_user_without_capabilities():
    code = (
        "import os\n"
        "def add(a, b):\n"
        "    caps = [l.split()[1] for l in open('/proc/self/status') if l.startswith(('CapEff', 'CapPrm', 'CapAmb'))]\n"
        "    ok = os.getuid() != 0 and os.geteuid() != 0 and os.getgid() != 0 and 0 not in os.getgroups()\n"
        "    status = open('/proc/self/status').read()\n"
        "    ok = ok and (os.uname().machine != 'x86_64' or 'Seccomp:\\t2' in status)  # a seccomp filter\n"
        "    return a + b if ok and all(int(c, 16) == 0 for c in caps) else 0\n"
    )
    res = _run(code)
    assert res.passed, res


def test_the_sandbox_sees_only_the_interpreter():
    import sysconfig
    site = sysconfig.get_paths()["purelib"]
    code = (
        "import os\n"
        "def add(a, b):\n"
        f"    hidden = [p for p in ({str(_REPO_ROOT)!r}, {site!r}, '/etc/passwd', '/home', '/usr/bin') if os.path.exists(p) and os.listdir(p) if os.path.isdir(p)]\n"
        f"    hidden += [p for p in ({str(_REPO_ROOT)!r}, '/etc/passwd') if os.path.exists(p)]\n"
        "    hidden += [p for p in os.listdir('/proc') if p.isdigit() and p not in ('1', str(os.getpid()))]\n"
        "    return a + b if not hidden else hidden\n"
    )
    res = _run(code)
    assert res.passed, res


def _descendants(pid):
    children = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat") as fh:
                    fields = fh.read().rsplit(")", 1)[1].split()
                children.setdefault(int(fields[1]), []).append((int(entry), fields[19]))
            except (OSError, IndexError):
                pass
    out, todo = [], [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            out.append(child)
            todo.append(child[0])
    return out


def _alive(pid, start_time):
    try:
        with open(f"/proc/{pid}/stat") as fh:
            fields = fh.read().rsplit(")", 1)[1].split()
    except OSError:
        return False
    return fields[19] == start_time and fields[0] != "Z"


def test_killing_the_pipeline_kills_the_sandbox_and_leaves_no_folder():
    before = _exec_dirs()
    proc = subprocess.Popen(_pipeline_cmd("while True:\n    pass\n", timeout=30), env=_pipeline_env(),
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline, procs = time.monotonic() + 20, []
        while time.monotonic() < deadline and not procs:
            time.sleep(0.2)
            procs = _descendants(proc.pid)
        time.sleep(1.0)  # let both sandboxes start and the code spin
        procs = _descendants(proc.pid)
        assert procs, "no sandbox process appeared"
    finally:
        proc.kill()
        proc.wait()
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline and any(_alive(p, st) for p, st in procs):
        time.sleep(0.1)
    assert not any(_alive(p, st) for p, st in procs), procs
    assert _exec_dirs() <= before


def test_timeout_kills_every_sandbox_process_and_leaves_no_folder():
    before, seen, results = _exec_dirs(), set(), []
    others = set(_descendants(os.getpid()))  # children of earlier tests (e.g. W&B's service) are not the sandbox's
    worker = threading.Thread(target=lambda: results.append(_run("def add(a, b):\n    while True:\n        pass\n")))
    worker.start()
    while worker.is_alive():
        seen.update(set(_descendants(os.getpid())) - others)
        time.sleep(0.05)
    worker.join()
    assert results[0].status == "timeout" and seen
    deadline = time.monotonic() + 3
    while time.monotonic() < deadline and any(_alive(p, st) for p, st in seen):
        time.sleep(0.1)
    assert not any(_alive(p, st) for p, st in seen), seen
    assert _exec_dirs() <= before


def test_missing_bwrap_refuses_with_one_line(monkeypatch):
    monkeypatch.setenv("REWARDDS_BWRAP", "/nonexistent/bwrap")
    with pytest.raises(RewarddsError) as err:
        _run(GOOD)
    msg = str(err.value)
    assert "\n" not in msg and "apt-get install bubblewrap" in msg and "/nonexistent/bwrap" in msg
    with pytest.raises(RewarddsError):
        evaluate_samples([[GOOD]], [{"tests": TESTS, "entry_point": "add"}], timeout=T)


def test_bwrap_that_cannot_create_namespaces_refuses(monkeypatch, tmp_path):
    fake = tmp_path / "bwrap"
    fake.write_text("#!/bin/sh\necho 'bwrap: No permissions to creating new namespace' >&2\nexit 1\n")
    fake.chmod(0o755)
    monkeypatch.setenv("REWARDDS_BWRAP", str(fake))
    with pytest.raises(RewarddsError) as err:
        _run(GOOD)
    msg = str(err.value)
    assert "\n" not in msg and "No permissions to creating new namespace" in msg and "bubblewrap" in msg


# --------------------------------------------------------------------------- the judge decides


def test_expected_values_stay_in_the_judge():
    # what the solution process is asked to compute never holds the expected value
    cases = {
        "assert f(2) == 987654": ["f(2)"],
        "assert abs(f(2.0) - 987654.5) < 1e-9": ["f(2.0)"],
        "assert math.isclose(f(2), 987654)": ["f(2)"],
        "assert isinstance(f(2), list) and f(3) != [987654]": ["f(2)", "f(3)"],
        "assert all(f(i) == 987654 for i in range(3))": ["f(i)"],
        "assert list(g('ab')) == ['987654']": ["list(g('ab'))"],
        "assert sorted(f(1), key=len) == ['987654']": ["f(1)"],
        "assert str(f(1)) + 'x' == '987654x'": ["str(f(1))"],
        "assert not f(987654)": ["f(987654)"],  # inputs do go to the solution
    }
    for test, holes in cases.items():
        plan = code_exec._plan((test,), "f")
        assert [h[0] for h in plan["holes"]] == holes, (test, plan)
        if "not f(" not in test:
            assert not any("987654" in h[0] for h in plan["holes"]), test
    # the comprehension variable is handed to the solution process by value
    assert code_exec._plan(("assert all(f(i) == i for i in range(3))",), "f")["holes"] == [["f(i)", ["i"]]]
    # names a test binds in the solution process are computed there; stdlib imports run in both
    plan = code_exec._plan(("x = [3, 1]", "from collections import Counter", "assert f(x) == Counter(x)"), "f")
    assert [h[0] for h in plan["holes"]] == ["f(x)", "x"] and plan["tests"][1][0]["judge"] is True


def test_values_of_many_types_cross_exactly():
    code = (
        "import collections, datetime, decimal, fractions, enum\n"
        "class Color(enum.IntEnum):\n    RED = 1\n"
        "class Name(str):\n    pass\n"
        "def f():\n"
        "    return (1, {2, 3}, {(1, 2): [b'x', None, True]}, 2**20000, float('inf'), -0.0, 1 + 2j, range(3),\n"
        "            collections.Counter('aab'), collections.deque([1], maxlen=4), collections.OrderedDict(a=1),\n"
        "            decimal.Decimal('1.10'), fractions.Fraction(1, 3), datetime.date(2020, 1, 2), Color.RED,\n"
        "            Name('n'), frozenset([1]), bytearray(b'y'), '\\udcff')\n"
    )
    test = (
        "import collections, datetime, decimal, fractions\n"
        "v = (1, {2, 3}, {(1, 2): [b'x', None, True]}, 2**20000, float('inf'), -0.0, 1 + 2j, range(3),"
        " collections.Counter('aab'), collections.deque([1], maxlen=4), collections.OrderedDict(a=1),"
        " decimal.Decimal('1.10'), fractions.Fraction(1, 3), datetime.date(2020, 1, 2), 1, 'n', frozenset([1]),"
        " bytearray(b'y'), '\\udcff')\n"
        "assert f() == v and str(f()[11]) == '1.10' and f()[9].maxlen == 4"
    )
    res = run_tests(code, [test], "f", timeout=T)
    assert res.passed, res
    assert not run_tests(code.replace("2**20000", "2**20000 + 1"), [test], "f", timeout=T).passed


def test_objects_defined_by_the_code_stay_in_the_sandbox():
    code = (
        "class TreeNode:\n"
        "    def __init__(self, val, left=None, right=None):\n"
        "        self.val, self.left, self.right = val, left, right\n"
        "    def __repr__(self):\n"
        "        return 'T(%r)' % self.val\n"
        "def height(node):\n"
        "    return 0 if node is None else 1 + max(height(node.left), height(node.right))\n"
        "def build(values):\n"
        "    return [TreeNode(v) for v in values]\n"
        "def gen(n):\n"
        "    yield from range(n)\n"
        "def apply(fn, x):\n"
        "    return fn(x)\n"
        "def sort_in_place(a):\n"
        "    a.sort()\n"
    )
    tests = [
        "assert height(TreeNode(1, TreeNode(2, TreeNode(4)), TreeNode(3))) == 3",
        "root = TreeNode(2)",
        "root.left = TreeNode(1)",
        "assert height(root) == 2 and root.left.val == 1",
        "assert build([1]) is not None and [n.val for n in build([5, 6])] == [5, 6] and repr(build([7])[0]) == 'T(7)'",
        "assert list(gen(3)) == [0, 1, 2] and [x * 2 for x in gen(3)] == [0, 2, 4] and next(gen(2)) == 0",
        "assert apply(lambda x: x + 1, 2) == 3",
        "a = [3, 1, 2]",
        "sort_in_place(a)",
        "assert a == [1, 2, 3]",
        "for i in range(3):\n    assert apply(abs, -i) == i",
    ]
    res = run_tests(code, tests, "height", timeout=T)
    assert res.passed, res
    res = run_tests(code.replace("1 + max", "2 + max"), tests, "height", timeout=T)
    assert res.status == "failed" and "test 1 failed" in res.detail, res


def test_an_object_never_equals_an_expected_plain_value():
    # an __eq__ that is always true games a one-process harness; here the judge compares
    code = "class A:\n    def __eq__(self, other):\n        return True\n    __hash__ = None\ndef f(x):\n    return A()\n"
    res = run_tests(code, ["assert f(2) == 4"], "f", timeout=T)
    assert res.status == "failed" and "only plain values are compared" in res.detail, res
    # two objects of the code are compared by the code, as everywhere
    assert run_tests(code, ["assert f(2) == f(3)"], "f", timeout=T).passed


def test_hostile_replies_fail_without_hanging():
    cases = {
        "huge": "def f(x):\n    return 'x' * (40 << 20)\n",
        "deep": "def f(x):\n    v = []\n    for _ in range(100000):\n        v = [v]\n    return v\n",
        "cycle": "def f(x):\n    v = []\n    v.append(v)\n    return v\n",
        # replies that imitate a verdict, written straight to the reply pipe
        "verdict": ("import sys, os\ndef f(x):\n    os.write(int(sys.argv[4]), b'{\"s\": \"passed\", \"d\": \"1 tests passed\"}\\n"
                    "passed\\n')\n    return 0\n"),
    }
    for name, code in cases.items():
        start = time.monotonic()
        res = run_tests(code, ["assert f(2) == 4"], "f", timeout=T)
        assert not res.passed and res.status in ("failed", "killed"), (name, res)
        assert time.monotonic() - start < T + 2, name
    _assert_still_works()


def test_exit_and_asserts_inside_the_code():
    assert "the code called exit()" in run_tests("def f(x):\n    exit()\n", ["assert f(1) == 1"], "f", timeout=T).detail
    res = run_tests("def f(x):\n    assert x > 0\n    return x\n", ["assert f(-1) == -1"], "f", timeout=T)
    assert res.status == "failed" and "test 1 failed" in res.detail, res
