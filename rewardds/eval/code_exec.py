"""Run model-generated Python against assert test cases, in an operating-system sandbox.

Generated code is untrusted: it is assumed to take full control of the process
it runs in (arbitrary system calls, reading and writing its own memory).  The
boundary is therefore drawn by the kernel, and the verdict is decided by a
process the untrusted code cannot reach.

The sandbox (bubblewrap, ``bwrap``)
  Every sandboxed process is started by ``bwrap`` with new PID, mount, network,
  IPC, UTS (and, where possible, cgroup) namespaces, ``--die-with-parent`` and
  ``--new-session``:

  * its view of the file system is an empty tmpfs with, read-only, only what
    the interpreter needs: the executable, the standard library (its
    site-packages and test folders covered by empty tmpfs mounts; no
    third-party packages, no repository, no data) and the shared libraries that
    ``ldd`` lists for the executable and the standard library's extension
    modules (plus ``/etc/ld.so.cache`` and ``libgcc_s``; not those of tkinter,
    curses, readline, nis or ctypes, which therefore do not import); a fresh ``/proc`` for
    its own PID namespace (no other process of the machine is visible, so
    nothing outside can be signalled, traced or read, e.g. the pipeline's
    ``/proc/<pid>/environ``); a minimal ``/dev``; a private, size-limited
    tmpfs ``/tmp`` as working directory.  Nothing of this exists on the host,
    so no ``/tmp/rewardds-exec-*`` folder is created or left behind; the job
    reaches the process through a sealed memfd, its stderr goes to an unnamed
    temporary file;
  * it runs as uid/gid 65534 with no capabilities, no supplementary groups and
    ``no_new_privs``.  As root, ``bwrap`` sets the namespaces up with real
    privileges and the harness (trusted code that runs before any job is read)
    drops to host uid 65534; a user namespace is not used then, because bwrap
    can only map the sandbox uid onto the caller's uid, i.e. onto host root.
    As another user, bwrap needs a user namespace (``--unshare-user
    --disable-userns --uid 65534``).  Either way the harness checks that no
    capability is left before it continues;
  * no network (an own network namespace with only a down loopback);
  * a seccomp filter (x86_64): no new user namespaces, io_uring, bpf,
    userfaultfd, perf_event_open, keyrings, setns; foreign syscall ABIs kill;
  * resource limits set by the harness before any job is read: RLIMIT_AS =
    ``memory_mb``, RLIMIT_CPU = ceil(timeout) + 1 s, RLIMIT_FSIZE = 16 MiB,
    RLIMIT_CORE = 0, RLIMIT_NPROC = 0 (no new processes or threads);
  * the environment of ``bwrap`` itself is emptied (the sandbox's pid 1 is
    bwrap, whose ``/proc/1/environ`` would otherwise show the pipeline's);
  * a wall-clock timeout, after which the ``bwrap`` process group is killed;
    ``--die-with-parent`` then takes the whole PID namespace down, and does the
    same when the evaluating process itself is killed (even by SIGKILL).

  Without a working bwrap, code evaluation refuses to run (SandboxUnavailable,
  one line saying how to install it); there is no weaker fallback.
  ``REWARDDS_BWRAP`` names the bwrap binary to use.

The verdict: who decides that a test passed
  Two sandboxes run per sample, connected only by two pipes: the *solution*
  process runs the untrusted code; the *judge* process holds the tests and
  writes the verdict to the parent on a third pipe that the solution process
  never has.  Both run as uid 65534 but share no namespace, so neither can see,
  signal or trace the other.  The judge evaluates each top-level ``assert``
  itself (split once per task by :func:`_plan`, here in the trusted parent) and asks the
  solution process only for the values of the sub-expressions that involve
  the solution: in ``assert f(2) == 4`` the solution process is sent the
  expression ``f(2)`` and answers with a plain value (numbers, strings, bytes,
  lists, tuples, dicts, sets, ranges, a few stdlib types: a JSON encoding that
  the judge decodes without running any code of the solution); the judge
  compares it with ``4``, which the solution process never sees.  Comparisons,
  boolean logic, arithmetic and calls of builtins or stdlib functions in the
  assert run in the judge (``abs(f(x) - 2.0) < 1e-9``, ``math.isclose(f(x),
  2.0)``, ``isinstance(f(x), list)``); a conversion such as
  ``list(permutations("ab"))`` or ``str(f(x))`` runs in the solution process.
  A value that is not plain (an instance of a class the code defines, a
  generator) stays in the solution process and the judge holds a handle to it:
  it can be iterated (items are sent as values), passed back into later calls,
  asked for ``str``/``len``/``bool``/attributes, and compared with another
  such object; compared with a plain value it is never equal.  The solution
  process can therefore lie only about the values it computes, never about
  the outcome of a comparison with an expected value.  Reading its own memory,
  printing "PASSED", writing to stray descriptors, exiting early or breaking
  its own harness never yields a pass.

Execution: the solution runs as module ``solution`` (``__name__`` is not
``"__main__"``, so demo code under a main guard is skipped), then each test
string in order in the same namespace; the first failing assert stops it.
Top-level statements of a test string other than ``assert`` (setup such as
``root = TreeNode(2)``, class definitions, imports) run in the solution
process; stdlib imports also run in the judge.  An ``entry_point`` that is not
defined fails with a clear detail, except when it names a builtin (six
Code_Generation train records say ``list``/``set``/``len``, the call the
asserts wrap, e.g. ``assert list(permutations("ab"))``).

Inside the solution process an audit hook still refuses process creation,
sockets, ctypes/cffi and native modules from outside the standard library,
with clear messages.  It is a convenience and a speed bump, not a boundary.

Limits of the design
  * The kernel is the boundary: a kernel exploit reachable from an
    unprivileged process in these namespaces escapes.  A small seccomp filter
    (x86_64 only; elsewhere none) refuses new user namespaces, io_uring, bpf,
    userfaultfd, perf events and keyrings, not the rest of the system calls.
  * What the judge cannot see it cannot check.  These run inside the solution
    process, as in any assert-based harness, and can be faked by it: asserts
    nested in loops or functions of a test string; comparisons with expected
    values that a test binds in its own setup statements (``expected = ...``);
    comparisons of two objects the code defines (``assert f(x) ==
    TreeNode(1)`` uses the code's own ``__eq__``); calls of a function the
    solution's namespace provides with the expected value as an argument
    (``isclose(f(x), 2.0)`` when the solution, not the test, imported
    ``isclose``; ``math.isclose`` is the judge's).  The solution process
    receives the inputs of each call, and learns that a test passed when the
    judge moves on to the next one.
  * Only plain values cross; an object with a custom ``__eq__`` never equals
    an expected plain value, which is stricter than running the assert in
    one process.
  * The judge decodes what the solution process sends without running its
    code, but a crafted value (e.g. a large set of colliding hashes) can make
    it slow: that sample then times out.
  * Cost: two sandboxes per sample (about 15-30 ms of bwrap and interpreter
    start-up each, started in parallel).
"""
from __future__ import annotations

import ast
import builtins
import copy
import fcntl
import functools
import json
import math
import os
import re
import select
import shutil
import signal
import struct
import subprocess
import sys
import sysconfig
import tempfile
import textwrap
import threading
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from rewardds.errors import RewarddsError
from rewardds.eval.metrics import pass_at_k

__all__ = ["ExecResult", "SandboxUnavailable", "check_sandbox", "extract_code", "run_tests", "evaluate_samples",
           "sandbox_info", "STATUSES"]

STATUSES = ("passed", "failed", "timeout", "error", "killed", "no_code")
DETAIL_CHARS = 300
FSIZE_LIMIT = 16 * 2**20  # largest file the sandboxed code may write (bytes)
TMPFS_BYTES = 64 * 2**20  # size of the sandbox's private /tmp
SANDBOX_UID = 65534  # nobody
_VERDICT_MAX = 1 << 16  # bytes read back from the judge
INSTALL_HINT = "install it with `apt-get install bubblewrap`"


class SandboxUnavailable(RewarddsError):
    """bubblewrap is missing or cannot create the sandbox: code evaluation refuses to run."""


@dataclass
class ExecResult:
    passed: bool
    status: str  # one of STATUSES
    detail: str  # short, at most ~DETAIL_CHARS characters
    seconds: float = 0.0  # wall-clock time of the child process


def _short(text: str, limit: int = DETAIL_CHARS) -> str:
    text = " ".join(str(text).split()) if "\n" in str(text) else str(text)
    return text if len(text) <= limit else text[: limit - 3] + "..."


# --------------------------------------------------------------------------- code extraction

_PY_LANGS = {"", "python", "py", "python3", "py3", "python 3", "pycon"}
_CODE_START = re.compile(
    r"^(?:(?:async\s+)?def\s+\w+\s*\(|class\s+\w+|import\s+[\w.]|from\s+[\w.]+\s+import\b|@\w)"
)


def _fenced_blocks(text: str) -> list[tuple[str, str]]:
    """(language, body) of each ``` fenced block; an unclosed last block runs to the end."""
    blocks, lang, body, inside = [], "", [], False
    for line in text.splitlines():
        stripped = line.strip()
        if stripped.startswith("```"):
            if inside:
                blocks.append((lang, textwrap.dedent("\n".join(body))))
                inside, body = False, []
            else:
                inside, lang, body = True, stripped[3:].strip().lower(), []
            continue
        if inside:
            body.append(line)
    if inside and body:
        blocks.append((lang, textwrap.dedent("\n".join(body))))
    return [(lang, b) for lang, b in blocks if b.strip()]


def _defines(code: str, entry_point: str) -> bool:
    name = re.escape(entry_point)
    return re.search(rf"^[ \t]*(?:(?:async\s+)?def\s+{name}\s*\(|class\s+{name}\b|{name}\s*=)", code, re.M) is not None


def _parses(code: str) -> ast.Module | None:
    try:
        return ast.parse(code)
    except (SyntaxError, ValueError, MemoryError, RecursionError):
        return None


def extract_code(answer: str, entry_point: str | None = None) -> str | None:
    """The Python code in a model answer, or None when there is none.

    1. Fenced blocks (```python, ```py or a bare ```; blocks in other languages
       only when there is nothing else): the first block that defines
       ``entry_point`` if one does, else all blocks joined.  An unclosed final
       fence (a truncated generation) runs to the end of the text.
    2. Otherwise bare code: the whole answer if it parses and contains a
       def/class/import; else the lines from the first line that starts (at
       column 0) with ``def``/``class``/``import``/``from ... import``/a
       decorator onward, cut to the longest prefix that parses (so trailing
       prose is dropped; if no prefix parses the text is returned as is and
       fails with its SyntaxError).
    """
    if not answer or not answer.strip():
        return None
    blocks = _fenced_blocks(answer)
    if blocks:
        python = [b for lang, b in blocks if lang in _PY_LANGS or lang.startswith("python")]
        candidates = python or [b for _, b in blocks]
        if entry_point:
            for block in candidates:
                if _defines(block, entry_point):
                    return block.strip("\n")
        return "\n\n".join(b.strip("\n") for b in candidates)

    tree = _parses(answer)
    if tree is not None and any(isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef, ast.Import, ast.ImportFrom)) for n in tree.body):
        return answer.strip("\n")
    lines = answer.splitlines()
    start = next((i for i, line in enumerate(lines) if _CODE_START.match(line)), None)
    if start is None:
        return None
    lines = lines[start:]
    for end in range(len(lines), 0, -1):
        candidate = "\n".join(lines[:end]).rstrip()
        if _parses(candidate) is not None:
            return candidate
    return "\n".join(lines).rstrip()


# --------------------------------------------------------------------------- the sandboxed harnesses
#
# Both run as `python -I -B -S -X utf8 -c <source> <memory bytes> <cpu seconds> <fds...>`
# inside bwrap, with the job (JSON) on stdin.  "rewardds sandbox harness" marks
# their command lines.

_PROLOGUE = r'''# rewardds sandbox harness
import os, sys
def _confine(memory_bytes, cpu_seconds):
    # Trusted, before any job is read: drop to the unprivileged uid (as root,
    # bwrap leaves us uid 0 with only CAP_SETUID/CAP_SETGID), check that no
    # capability is left, and set the resource limits.
    import resource
    if os.getuid() == 0 or os.geteuid() == 0:
        os.setgroups([])
        os.setresgid(@UID@, @UID@, @UID@)
        os.setresuid(@UID@, @UID@, @UID@)
    with open("/proc/self/status") as fh:
        caps = [line.split()[1] for line in fh if line.startswith(("CapEff:", "CapPrm:", "CapAmb:"))]
    if (os.getresuid() != (@UID@, @UID@, @UID@) or os.getresgid() != (@UID@, @UID@, @UID@)
            or len(caps) != 3 or any(int(c, 16) for c in caps)):
        os.write(2, b"sandbox: could not drop to an unprivileged uid without capabilities\n")
        os._exit(97)
    for res, soft, hard in ((resource.RLIMIT_AS, memory_bytes, memory_bytes),
                            (resource.RLIMIT_CPU, cpu_seconds, cpu_seconds + 1),
                            (resource.RLIMIT_FSIZE, @FSIZE@, @FSIZE@),
                            (resource.RLIMIT_CORE, 0, 0),
                            (resource.RLIMIT_NPROC, 0, 0)):
        cur_hard = resource.getrlimit(res)[1]
        if cur_hard != resource.RLIM_INFINITY:
            hard = min(hard, cur_hard)
            soft = min(soft, hard)
        resource.setrlimit(res, (soft, hard))
def _read_job():
    chunks = []
    while True:
        chunk = os.read(0, 1 << 20)
        if not chunk:
            break
        chunks.append(chunk)
    null = os.open("/dev/null", os.O_RDONLY)
    os.dup2(null, 0)
    os.close(null)
    import json
    return json.loads(b"".join(chunks).decode("utf-8"))
def _describe(exc, memory_mb=None):
    try:
        name = str.join("", (type(exc).__name__,))
    except BaseException:
        name = "exception"
    try:
        msg = str.join("", (str(exc),))
    except BaseException:
        msg = ""
    if type(exc) is MemoryError and memory_mb:
        msg = (msg + " " if msg else "") + "(memory limit %s MB)" % memory_mb
    text = name + (": " + msg if msg else "")
    text = text.replace("\t", " ").replace("\r", " ").replace("\n", " ")
    return text if len(text) <= 500 else text[:497] + "..."
'''.replace("@UID@", str(SANDBOX_UID)).replace("@FSIZE@", str(FSIZE_LIMIT))

# Plain values cross between the two processes as JSON; anything else as a
# handle.  Decoding only ever builds builtin and stdlib values.
_CODEC = r'''
_BIG_INT_BITS = 12000  # larger ints travel as hex (int <-> decimal text is limited)
_MAX_DEPTH = 200
def _make_encoder(store):
    """encode(value) -> JSON-able; store(value) -> handle for a value that is not plain."""
    import math
    mods = sys.modules
    isfinite, _type, _id, _isinstance = math.isfinite, type, id, isinstance
    def pairs(items, depth, active):
        return [[enc(k, depth, active), enc(v, depth, active)] for k, v in items]
    def enc(v, depth, active):
        t = _type(v)
        if v is None or t is bool or t is str:
            return v
        if t is int:
            return v if v.bit_length() <= _BIG_INT_BITS else {"$i": format(v, "x")}
        if t is float:
            return v if isfinite(v) else {"$f": repr(v)}
        if t is complex:
            return {"$c": [enc(v.real, depth, active), enc(v.imag, depth, active)]}
        if t is bytes:
            return {"$b": v.hex()}
        if t is bytearray:
            return {"$ba": v.hex()}
        if t is range:
            return {"$r": [v.start, v.stop, v.step]}
        if depth >= _MAX_DEPTH or _id(v) in active:
            return {"$h": store(v)}
        active.add(_id(v))
        depth += 1
        try:
            if t is list:
                return [enc(x, depth, active) for x in v]
            if t is tuple:
                return {"$t": [enc(x, depth, active) for x in v]}
            if t is dict:
                return {"$d": pairs(v.items(), depth, active)}
            if t is set:
                return {"$s": [enc(x, depth, active) for x in v]}
            if t is frozenset:
                return {"$fs": [enc(x, depth, active) for x in v]}
            col = mods.get("collections")
            if col is not None:
                if t is col.deque:
                    return {"$dq": [v.maxlen, [enc(x, depth, active) for x in v]]}
                if t is col.Counter:
                    return {"$C": pairs(v.items(), depth, active)}
                if t is col.OrderedDict:
                    return {"$od": pairs(v.items(), depth, active)}
                if t is col.defaultdict:
                    return {"$dd": pairs(v.items(), depth, active)}
            dec = mods.get("decimal")
            if dec is not None and t is dec.Decimal:
                return {"$dec": str(v)}
            fr = mods.get("fractions")
            if fr is not None and t is fr.Fraction:
                return {"$fr": [enc(v.numerator, depth, active), enc(v.denominator, depth, active)]}
            dt = mods.get("datetime")
            if dt is not None:
                if t is dt.datetime:
                    return {"$dt": v.isoformat()}
                if t is dt.date:
                    return {"$da": v.isoformat()}
                if t is dt.time:
                    return {"$tm": v.isoformat()}
                if t is dt.timedelta:
                    return {"$td": [v.days, v.seconds, v.microseconds]}
            # subclasses of plain types travel as their plain value
            if _isinstance(v, int):
                return enc(int.__index__(v), depth, active)
            if _isinstance(v, float):
                return enc(float.__float__(v), depth, active)
            if _isinstance(v, str):
                return str.__str__(v)
            if _isinstance(v, tuple):
                return enc(tuple.__getitem__(v, slice(None)), depth, active)
            if _isinstance(v, list):
                return enc(list.copy(v), depth, active)
            if _isinstance(v, dict):
                return enc(dict.copy(v), depth, active)
            if _isinstance(v, frozenset):
                return enc(frozenset.copy(v), depth, active)
            if _isinstance(v, set):
                return enc(set.copy(v), depth, active)
            return {"$h": store(v)}
        finally:
            active.discard(_id(v))
    return lambda value: enc(value, 0, set())
def _make_decoder(handle):
    """decode(JSON value) -> value; handle(ref) -> the object a handle stands for."""
    def items(x):
        if type(x) is not list:
            raise ValueError("bad value")
        return [dec(i) for i in x]
    def pairs(x):
        if type(x) is not list or any(type(p) is not list or len(p) != 2 for p in x):
            raise ValueError("bad pairs")
        return [(dec(k), dec(v)) for k, v in x]
    def ints(x, n):
        if type(x) is not list or len(x) != n or any(type(i) is not int for i in x):
            raise ValueError("bad ints")
        return x
    def text(x):
        if type(x) is not str:
            raise ValueError("bad text")
        return x
    def dec(x):
        t = type(x)
        if x is None or t is bool or t is int or t is float or t is str:
            return x
        if t is list:
            return [dec(i) for i in x]
        if t is not dict or len(x) != 1:
            raise ValueError("bad value")
        (tag, v), = x.items()
        if tag == "$t":
            return tuple(items(v))
        if tag == "$d":
            return dict(pairs(v))
        if tag == "$s":
            return set(items(v))
        if tag == "$fs":
            return frozenset(items(v))
        if tag == "$i":
            return int(text(v), 16)
        if tag == "$f":
            if v not in ("nan", "inf", "-inf"):
                raise ValueError("bad float")
            return float(v)
        if tag == "$c":
            re_im = items(v)
            if len(re_im) != 2 or any(type(p) not in (int, float) for p in re_im):
                raise ValueError("bad complex")
            return complex(re_im[0], re_im[1])
        if tag == "$b":
            return bytes.fromhex(text(v))
        if tag == "$ba":
            return bytearray.fromhex(text(v))
        if tag == "$r":
            return range(*ints(v, 3))
        if tag in ("$dq", "$C", "$od", "$dd"):
            import collections
            if tag == "$dq":
                if type(v) is not list or len(v) != 2 or not (v[0] is None or type(v[0]) is int):
                    raise ValueError("bad deque")
                return collections.deque(items(v[1]), v[0])
            kind = {"$C": collections.Counter, "$od": collections.OrderedDict}.get(tag)
            return kind(pairs(v)) if kind is not None else collections.defaultdict(None, pairs(v))
        if tag == "$dec":
            import decimal
            return decimal.Decimal(text(v))
        if tag == "$fr":
            import fractions
            return fractions.Fraction(*ints(v, 2))
        if tag in ("$dt", "$da", "$tm", "$td"):
            import datetime
            if tag == "$td":
                return datetime.timedelta(*ints(v, 3))
            kind = {"$dt": datetime.datetime, "$da": datetime.date, "$tm": datetime.time}[tag]
            return kind.fromisoformat(text(v))
        if tag == "$h":
            return handle(v)
        raise ValueError("bad tag")
    return dec
'''

# The solution process: runs the untrusted code and answers the judge's
# requests.  Nothing in it is secret, so nothing it does can fake a pass; the
# captured names only keep its replies working when the code monkeypatches.
_SOLUTION_SOURCE = _PROLOGUE + _CODEC + r'''
def _guard(native_roots):
    # Defence in depth, not the boundary (that is the OS sandbox): clear
    # refusals of process creation, sockets, ctypes/cffi and foreign native code.
    _PermissionError, _ModuleNotFoundError, _type, _str = PermissionError, ModuleNotFoundError, type, str
    deny = frozenset(("os.fork", "os.forkpty", "os.posix_spawn", "os.spawn", "os.exec", "os.system",
                      "subprocess.Popen", "pty.spawn", "os.startfile"))
    deny_prefix = ("socket.", "ctypes.")
    deny_modules = frozenset(("ctypes", "_ctypes", "_ctypes_test", "cffi", "_cffi_backend"))
    def hook(event, args):
        if event in deny or event.startswith(deny_prefix):
            raise _PermissionError("sandbox: " + event + " is not allowed")
        if event == "import":
            name = args[0]
            if _type(name) is not _str or name.partition(".")[0] in deny_modules:
                raise _ModuleNotFoundError("sandbox: importing %s is not allowed" % (name if _type(name) is _str else "this"))
            path = args[1]
            if path is not None and not (_type(path) is _str and path.startswith(native_roots)):
                raise _ModuleNotFoundError("sandbox: loading native code from outside the standard library is not allowed")
    sys.addaudithook(hook)

def _serve():
    _confine(int(sys.argv[1]), int(sys.argv[2]))
    req_fd, rep_fd = int(sys.argv[3]), int(sys.argv[4])
    job = _read_job()
    code, preamble, entry_point, memory_mb = job["code"], job["preamble"], job["entry_point"], job["memory_mb"]
    native_roots = tuple(job["native_roots"])
    del job
    import builtins, json, types, _sitebuiltins
    builtins.exit = _sitebuiltins.Quitter("exit", "Ctrl-D (i.e. EOF)")  # what `site` would add (python -S)
    builtins.quit = _sitebuiltins.Quitter("quit", "Ctrl-D (i.e. EOF)")
    _write, _exit, _exec, _eval, _compile, _next = os.write, os._exit, exec, eval, compile, next
    _scan = json.decoder.JSONDecoder().scan_once  # the C scanner: json.loads would look up builtins.len
    _dumps, _type, _callable, _describe_, _tuple, _range = json.dumps, type, callable, _describe, tuple, range
    _BaseException, _SystemExit, _AssertionError, _StopIteration = BaseException, SystemExit, AssertionError, StopIteration
    _readline = os.fdopen(req_fd, "rb", buffering=1 << 16).readline
    objects, count = {}, [0]

    def store(value):
        count[0] += 1
        ref = count[0]
        objects[ref] = value
        try:
            name = str.join("", (_type(value).__name__,))
        except _BaseException:
            name = "object"
        return [ref, name]

    def lookup(ref):
        return objects[ref[0]]

    encode, decode = _make_encoder(store), _make_decoder(lookup)

    def send(obj):
        try:
            data = (_dumps(obj, separators=(",", ":")) + "\n").encode("ascii")
        except _BaseException as exc:
            data = (_dumps({"x": "raise", "d": "the value cannot be sent: " + _describe_(exc), "a": False}) + "\n").encode("ascii")
        view = memoryview(data)
        try:
            while view:
                view = view[_write(rep_fd, view):]
        except OSError:
            _exit(0)

    def describe(exc):
        return _describe_(exc, memory_mb)

    send({"started": 1})
    try:
        solution = _compile(code, "<solution>", "exec", dont_inherit=True)
    except SyntaxError as exc:
        send({"fail": "SyntaxError: %s (line %s)" % (exc.msg, exc.lineno)})
        _exit(0)
    except (ValueError, MemoryError, RecursionError) as exc:
        send({"fail": "code does not compile: " + describe(exc)})
        _exit(0)
    module = types.ModuleType("solution")
    sys.modules["solution"] = module
    ns = module.__dict__
    if preamble:
        _exec(_compile(preamble, "<preamble>", "exec", dont_inherit=True), ns)
    builtin_names = frozenset(dir(builtins))
    _guard(native_roots)
    # ---- the untrusted code runs from here on ----
    try:
        _exec(solution, ns)
    except _SystemExit:
        send({"fail": "the code called exit() before the tests ran"})
        _exit(0)
    except _BaseException as exc:
        send({"fail": "the code raised " + describe(exc)})
        _exit(0)
    if entry_point and not (entry_point in builtin_names and entry_point not in ns):
        fn = ns.get(entry_point)
        if fn is None:
            send({"fail": "the code does not define the entry point '" + entry_point + "'"})
            _exit(0)
        if not _callable(fn):
            send({"fail": "the entry point '" + entry_point + "' is not callable"})
            _exit(0)
    send({"ready": 1})
    compiled = {}
    while True:
        line = _readline()
        if not line:
            _exit(0)
        try:
            req = _scan(line.decode("utf-8"), 0)[0]
            op = req["op"]
            if op == "exec":
                _exec(_compile(req["src"], "<test>", "exec", dont_inherit=True), ns)
                reply = {"v": None}
            elif op == "eval":
                key = (req["src"], _tuple(req["names"]))
                fn = compiled.get(key)
                if fn is None:
                    fn = _eval(_compile("lambda " + ", ".join(key[1]) + ": (" + key[0] + ")", "<test>", "eval",
                                        dont_inherit=True), ns)
                    compiled[key] = fn
                reply = {"v": encode(fn(*[decode(a) for a in req["args"]]))}
            else:  # "next": up to k items of an iterator the judge holds a handle to
                it, out, done = objects[req["h"]], [], False
                for _ in _range(req["k"]):
                    try:
                        out.append(_next(it))
                    except _StopIteration:
                        done = True
                        break
                reply = {"items": [encode(x) for x in out], "done": done}
        except _SystemExit:
            reply = {"x": "exit"}
        except _BaseException as exc:
            reply = {"x": "raise", "d": describe(exc), "a": _type(exc) is _AssertionError}
        send(reply)

_serve()
'''

# The judge: holds the tests, evaluates each assert (as split by _plan) with
# the values the solution process sends for the sub-expressions that involve
# the solution, and writes the verdict on a pipe only it has.
_JUDGE_SOURCE = _PROLOGUE + _CODEC + r'''
def _judge():
    _confine(int(sys.argv[1]), int(sys.argv[2]))
    rep_fd, req_fd, verdict_fd = int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5])
    job = _read_job()
    tests, plan, max_reply = job["tests"], job["plan"], job["max_reply"]
    import builtins, json

    def verdict(status, detail):
        os.write(verdict_fd, (json.dumps({"s": status, "d": detail}) + "\n").encode("ascii"))
        os._exit(0)

    # ---- talking to the solution process ------------------------------------------------
    class Gone(Exception):
        """the solution process ended (or closed its end)"""

    class BadReply(Exception):
        """the solution process answered something that is not a reply"""

    class Raised(Exception):
        def __init__(self, detail, is_assert):
            super().__init__(detail)
            self.detail, self.is_assert = detail, is_assert

    class Exited(Exception):
        pass

    readline = os.fdopen(rep_fd, "rb", buffering=1 << 16).readline

    def recv():
        line = readline(max_reply + 1)
        if not line:
            raise Gone()
        if len(line) > max_reply or not line.endswith(b"\n"):
            raise BadReply("a reply larger than %d MiB" % (max_reply >> 20))
        try:
            msg = json.loads(line)
        except (ValueError, RecursionError, MemoryError):
            raise BadReply("not JSON") from None
        if type(msg) is not dict:
            raise BadReply("not an object")
        return msg

    def request(obj):
        view = memoryview((json.dumps(obj, separators=(",", ":")) + "\n").encode("ascii"))
        try:
            while view:
                view = view[os.write(req_fd, view):]
        except OSError:
            raise Gone() from None
        return recv()

    def value_of(reply):
        if len(reply) == 1 and "v" in reply:
            try:
                return decode(reply["v"])
            except Exception as exc:
                raise BadReply("undecodable value: " + type(exc).__name__) from None
        kind = reply.get("x")
        if kind == "exit":
            raise Exited()
        if kind == "raise" and type(reply.get("d")) is str:
            raise Raised(reply["d"][:500], reply.get("a") is True)
        raise BadReply("unexpected reply")

    nonplain = []  # type names of handles compared with a plain value in the current assert

    class Handle:
        """An object that stays in the solution process."""
        __slots__ = ("ref", "kind")

        def __init__(self, ref, kind):
            self.ref, self.kind = ref, kind

        def _op(self, src, *others):
            return call(src, ("_a", "_b", "_c")[:1 + len(others)], (self,) + others)

        def _typed(self, src, want):
            value = self._op(src)
            if type(value) is not want:
                raise TypeError("%s of a %s object is not a %s" % (src, self.kind, want.__name__))
            return value

        def __bool__(self):
            return self._typed("bool(_a)", bool)

        def __len__(self):
            return self._typed("len(_a)", int)

        def __str__(self):
            return self._typed("str(_a)", str)

        def __repr__(self):
            return self._typed("repr(_a)", str)

        def __iter__(self):
            return RemoteIterator(self._op("iter(_a)"))

        def __eq__(self, other):
            if type(other) is Handle:
                return self._op("_a == _b", other)
            nonplain.append(self.kind)
            return NotImplemented

        def __ne__(self, other):
            if type(other) is Handle:
                return self._op("_a != _b", other)
            nonplain.append(self.kind)
            return NotImplemented

        __hash__ = object.__hash__

        def __getattr__(self, name):
            if name.startswith("__"):
                raise AttributeError(name)
            return self._op("getattr(_a, _b)", name)

        def __getitem__(self, key):
            return self._op("_a[_b]", key)

        def __call__(self, *args, **kwargs):
            return self._op("_a(*_b, **_c)", list(args), dict(kwargs))

    class RemoteIterator:
        def __init__(self, handle):
            if type(handle) is not Handle:
                raise TypeError("iter() gave no iterator")
            self.handle, self.buffer, self.done, self.batch = handle, [], False, 1

        def __iter__(self):
            return self

        def __next__(self):
            if not self.buffer:
                if self.done:
                    raise StopIteration
                reply = request({"op": "next", "h": self.handle.ref[0], "k": self.batch})
                if set(reply) != {"items", "done"} or type(reply["items"]) is not list or type(reply["done"]) is not bool:
                    value_of(reply)
                    raise BadReply("unexpected reply")
                try:
                    self.buffer = [decode(x) for x in reversed(reply["items"])]
                except Exception as exc:
                    raise BadReply("undecodable value: " + type(exc).__name__) from None
                self.done, self.batch = reply["done"], min(self.batch * 2, 1024)
                if not self.buffer:
                    raise StopIteration
            return self.buffer.pop()

    def to_handle(ref):
        if type(ref) is not list or len(ref) != 2 or type(ref[0]) is not int or type(ref[1]) is not str:
            raise ValueError("bad handle")
        return Handle(ref, ref[1][:100])

    def store(value):
        if type(value) is Handle:
            return value.ref
        raise TypeError("a %s object cannot be passed into the sandbox" % type(value).__name__)

    encode, decode = _make_encoder(store), _make_decoder(to_handle)

    def call(src, names, values):
        return value_of(request({"op": "eval", "src": src, "names": list(names), "args": [encode(v) for v in values]}))

    # ---- the run ------------------------------------------------------------------------
    holes = plan["holes"]
    env = {"__builtins__": builtins, "__rewardds_hole__": lambda k, *values: call(holes[k][0], holes[k][1], values)}
    for name in plan["modules"]:
        try:
            env[name] = __import__(name)
        except ImportError:
            pass
    try:
        first = recv()
    except (Gone, BadReply):
        verdict("error", "the sandboxed interpreter did not start")
    if first != {"started": 1}:
        verdict("error", "the sandboxed interpreter did not start")
    try:
        ready = recv()
    except Gone:
        verdict("killed", "before the tests ran")
    except BadReply as exc:
        verdict("failed", "the sandboxed process sent an invalid reply (%s)" % exc)
    if ready != {"ready": 1}:
        if set(ready) == {"fail"} and type(ready["fail"]) is str:
            verdict("failed", ready["fail"][:500])
        verdict("failed", "the sandboxed process sent an invalid reply")
    for i, (src, steps) in enumerate(zip(tests, plan["tests"]), 1):
        label = "<test %d>" % i
        try:
            for step in steps:
                if "assert" in step:
                    del nonplain[:]
                    if not eval(compile(step["assert"], label, "eval", dont_inherit=True), env):
                        note = ""
                        if nonplain:
                            note = (" (the code returned a %s object; only plain values are compared outside the sandbox)"
                                    % nonplain[0])
                        verdict("failed", "test %d failed: %s%s" % (i, src, note))
                    continue
                if step["judge"]:  # a stdlib import: the judge needs the names too
                    try:
                        exec(compile(step["exec"], label, "exec", dont_inherit=True), env)
                    except Exception:
                        pass
                value_of(request({"op": "exec", "src": step["exec"]}))
        except Gone:
            verdict("killed", "during test %d: %s" % (i, src))
        except BadReply as exc:
            verdict("failed", "test %d: the sandboxed process sent an invalid reply (%s): %s" % (i, exc, src))
        except Exited:
            verdict("failed", "test %d: the code called exit(): %s" % (i, src))
        except Raised as exc:
            if exc.is_assert:
                verdict("failed", "test %d failed: %s" % (i, src))
            verdict("failed", "test %d raised %s: %s" % (i, exc.detail, src))
        except Exception as exc:
            verdict("failed", "test %d raised %s: %s" % (i, _describe(exc), src))
    verdict("passed", "%d tests passed" % len(tests))

_judge()
'''


# --------------------------------------------------------------------------- splitting asserts (trusted, here)
#
# Each test becomes a list of steps for the judge: {"exec": statement, "judge":
# bool} runs a statement in the solution process (a stdlib import also in the
# judge), {"assert": expression} is evaluated by the judge, where each call
# __rewardds_hole__(k, *locals) asks the solution process for the value of
# holes[k] = [source, names of the judge's local variables it uses].

_HOLE = "__rewardds_hole__"
_BUILTIN_NAMES = frozenset(dir(builtins))
_STDLIB = frozenset(sys.stdlib_module_names)
# single-argument conversions of a solution value: computed in the solution process
_CONVERT = frozenset(("list", "tuple", "set", "frozenset", "sorted", "len", "str", "repr", "bool", "int", "float",
                      "dict", "sum", "min", "max", "abs", "round", "complex", "bytes", "bytearray", "any", "all",
                      "hash", "next"))
_COMPREHENSIONS = (ast.ListComp, ast.SetComp, ast.GeneratorExp, ast.DictComp)


def _targets(node: ast.AST) -> set[str]:
    return {n.id for n in ast.walk(node) if isinstance(n, ast.Name)}


def _params(args: ast.arguments) -> set[str]:
    names = {a.arg for a in args.posonlyargs + args.args + args.kwonlyargs}
    return names | {a.arg for a in (args.vararg, args.kwarg) if a is not None}


def _free(node: ast.AST) -> set[str]:
    """Names an expression reads that it does not bind itself (lambda parameters, comprehension targets)."""
    if isinstance(node, ast.Name):
        return {node.id} if isinstance(node.ctx, ast.Load) else set()
    if isinstance(node, ast.Lambda):
        out = _free(node.body) - _params(node.args)
        for default in node.args.defaults + [d for d in node.args.kw_defaults if d is not None]:
            out |= _free(default)
        return out
    if isinstance(node, _COMPREHENSIONS):
        bound, out = set(), set()
        for gen in node.generators:
            out |= _free(gen.iter) - bound
            bound |= _targets(gen.target)
            for cond in gen.ifs:
                out |= _free(cond) - bound
        for part in ([node.key, node.value] if isinstance(node, ast.DictComp) else [node.elt]):
            out |= _free(part) - bound
        return out
    out = set()
    for child in ast.iter_child_nodes(node):
        out |= _free(child)
    return out


def _bound_names(stmt: ast.stmt) -> set[str]:
    """Names a top-level statement binds in the namespace it runs in."""
    out: set[str] = set()

    def visit(n):
        if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            out.add(n.name)
            return
        if isinstance(n, (ast.Import, ast.ImportFrom)):
            out.update((a.asname or a.name).split(".")[0] for a in n.names)
            return
        if isinstance(n, (ast.Global, ast.Nonlocal)):
            out.update(n.names)
        if isinstance(n, ast.Name) and not isinstance(n.ctx, ast.Load):
            out.add(n.id)
        if isinstance(n, (ast.Lambda,) + _COMPREHENSIONS):
            return
        for child in ast.iter_child_nodes(n):
            visit(child)

    visit(stmt)
    return out


def _stdlib_import(stmt: ast.stmt) -> bool:
    if isinstance(stmt, ast.Import):
        return all(a.name.split(".")[0] in _STDLIB for a in stmt.names)
    return (isinstance(stmt, ast.ImportFrom) and not stmt.level and bool(stmt.module)
            and stmt.module.split(".")[0] in _STDLIB and all(a.name != "*" for a in stmt.names))


class _Splitter:
    """Splits one task's tests between the judge and the solution process.

    A name belongs to the solution process when it is the entry point, when a
    test statement bound it there, or when it is neither a builtin nor a
    stdlib module (nor a name a test's stdlib import bound in the judge).  A
    sub-expression is computed there as a whole when it is rooted in such a
    name: the name itself, a call of a solution callable (with all its
    arguments), an attribute or subscript of a solution value, or a
    single-argument conversion (``list``, ``str``, ``len``, ...) of one.
    Everything around it, comparisons above all, is evaluated by the judge.
    """

    def __init__(self, entry_point: str):
        self.entry_point = entry_point
        self.in_solution: set[str] = set()
        self.in_judge: set[str] = set()
        self.holes: list[list] = []
        self.modules: set[str] = set()

    def is_solution_name(self, name: str) -> bool:
        if name == self.entry_point or name in self.in_solution:
            return True
        return name not in self.in_judge and name not in _BUILTIN_NAMES and name not in _STDLIB

    def involves_solution(self, node, local) -> bool:
        return any(self.is_solution_name(n) for n in _free(node) - local)

    def solution_rooted(self, node, local) -> bool:
        if isinstance(node, ast.Name):
            return True
        if isinstance(node, ast.Call):
            if self.involves_solution(node.func, local):
                return True
            return (isinstance(node.func, ast.Name) and node.func.id in _CONVERT and len(node.args) == 1
                    and not node.keywords and not isinstance(node.args[0], ast.Starred)
                    and self.solution_rooted(node.args[0], local))
        if isinstance(node, (ast.Attribute, ast.Subscript)):
            return self.involves_solution(node.value, local)
        return False

    def hole(self, node, local) -> ast.Call:
        names = sorted(_free(node) & local)
        self.holes.append([ast.unparse(node), names])
        call = ast.Call(func=ast.Name(_HOLE, ast.Load()),
                        args=[ast.Constant(len(self.holes) - 1)] + [ast.Name(n, ast.Load()) for n in names], keywords=[])
        return ast.copy_location(call, node)

    def split(self, node, local):
        """``node`` with each solution-rooted sub-expression replaced by a request for its value."""
        if not self.involves_solution(node, local):
            return node
        if self.solution_rooted(node, local):
            return self.hole(node, local)
        new = copy.copy(node)
        if isinstance(node, ast.Lambda):
            new.body = self.split(node.body, local | _params(node.args))
            return new
        if isinstance(node, _COMPREHENSIONS):
            inner, gens = set(local), []
            for gen in node.generators:
                g = copy.copy(gen)
                g.iter = self.split(gen.iter, frozenset(inner))
                inner |= _targets(gen.target)
                g.ifs = [self.split(c, frozenset(inner)) for c in gen.ifs]
                gens.append(g)
            new.generators, inner = gens, frozenset(inner)
            if isinstance(node, ast.DictComp):
                new.key, new.value = self.split(node.key, inner), self.split(node.value, inner)
            else:
                new.elt = self.split(node.elt, inner)
            return new
        for field, value in ast.iter_fields(node):
            if isinstance(value, ast.expr):
                setattr(new, field, self.split(value, local))
            elif isinstance(value, list):
                setattr(new, field, [self.split_part(v, local) for v in value])
        return new

    def split_part(self, value, local):
        if isinstance(value, ast.expr):
            return self.split(value, local)
        if isinstance(value, ast.keyword):
            kw = copy.copy(value)
            kw.value = self.split(value.value, local)
            return kw
        return value

    def step(self, stmt: ast.stmt, src: str) -> dict:
        if isinstance(stmt, ast.Assert):
            holes = len(self.holes)
            try:
                expr = self.split(stmt.test, frozenset())
                text = ast.unparse(ast.fix_missing_locations(expr))
                compile(text, "<assert>", "eval", dont_inherit=True)
            except Exception:  # not expressible for the judge (e.g. an f-string unparse cannot write)
                del self.holes[holes:]
                return {"exec": ast.get_source_segment(src, stmt) or ast.unparse(stmt), "judge": False}
            self.modules.update(n for n in _free(expr) if n in _STDLIB and not self.is_solution_name(n))
            return {"assert": text}
        names = _bound_names(stmt)
        judge = _stdlib_import(stmt)
        if judge:
            self.in_solution -= names
            self.in_judge |= names
        else:
            self.in_solution |= names
            self.in_judge -= names
        return {"exec": ast.get_source_segment(src, stmt) or ast.unparse(stmt), "judge": judge}


@functools.lru_cache(maxsize=256)
def _plan(tests: tuple, entry_point: str) -> dict | str:
    """The judge's program for these tests, or the detail of a test that does not compile."""
    splitter = _Splitter(entry_point)
    steps = []
    for i, src in enumerate(tests, 1):
        try:
            compile(src, f"<test {i}>", "exec", dont_inherit=True)
            tree = ast.parse(src)
        except (SyntaxError, ValueError, MemoryError, RecursionError) as exc:
            return _short(f"test {i} does not compile ({type(exc).__name__}: {exc}): {src}")
        steps.append([splitter.step(stmt, src) for stmt in tree.body])
    return {"tests": steps, "holes": splitter.holes, "modules": sorted(splitter.modules)}


# --------------------------------------------------------------------------- the sandbox (bwrap)


# A seccomp filter (x86_64) on top of the namespaces: no new user namespaces
# (as root there is no user namespace of ours whose --disable-userns would
# forbid them), and none of the kernel interfaces that keep being the way
# into kernel bugs.  clone3 answers ENOSYS (its flags cannot be inspected; glibc
# falls back to clone).  A foreign system-call ABI (i386, x32) kills the process.
_SECCOMP_ERRNO = {435: 38,  # clone3 -> ENOSYS
                  308: 1,  # setns
                  425: 1, 426: 1, 427: 1,  # io_uring_setup/enter/register
                  323: 1, 321: 1, 298: 1,  # userfaultfd, bpf, perf_event_open
                  248: 1, 249: 1, 250: 1}  # add_key, request_key, keyctl
_SECCOMP_NO_NEWUSER = (56, 272)  # clone, unshare: flags in the first argument
_CLONE_NEWUSER = 0x10000000


def _seccomp_program() -> bytes | None:
    """The filter as raw BPF for ``bwrap --seccomp``, or None where it is not written for this machine."""
    if os.uname().machine != "x86_64":
        return None
    ld, jeq, jge, jset, ret = 0x20, 0x15, 0x35, 0x45, 0x06
    allow, kill = 0x7FFF0000, 0x80000000
    prog = [(ld, 0, 0, 4), (jeq, 1, 0, 0xC000003E), (ret, 0, 0, kill),  # arch must be x86_64
            (ld, 0, 0, 0), (jge, 0, 1, 0x40000000), (ret, 0, 0, kill)]  # no x32 numbers
    for nr, errno in _SECCOMP_ERRNO.items():
        prog += [(jeq, 0, 1, nr), (ret, 0, 0, 0x00050000 | errno)]
    for nr in _SECCOMP_NO_NEWUSER:
        prog += [(jeq, 0, 4, nr), (ld, 0, 0, 16), (jset, 0, 1, _CLONE_NEWUSER), (ret, 0, 0, 0x00050001),
                 (ret, 0, 0, allow)]
    prog.append((ret, 0, 0, allow))
    return b"".join(struct.pack("=HBBI", *ins) for ins in prog)


@dataclass(frozen=True)
class _Sandbox:
    bwrap: str
    python: str  # the interpreter, at the same path inside as outside
    prefix: tuple  # bwrap and its options, up to the command
    mode: str  # "root" (privileged namespaces, uid dropped by the harness) or "userns"
    view: tuple  # host paths bound read-only
    native_roots: tuple  # where the harness allows native modules from
    seccomp: bytes | None  # BPF program, or None


_SANDBOX_LOCK = threading.Lock()
_SANDBOXES: dict[str, _Sandbox | SandboxUnavailable] = {}
_VIEW: tuple | None = None
_BWRAP_ENV = {"PATH": "/usr/sbin:/usr/bin:/sbin:/bin"}  # bwrap runs as the sandbox's pid 1: no secrets in its environment
_CHILD_ENV = {"PATH": "/usr/bin:/bin", "HOME": "/tmp", "TMPDIR": "/tmp", "LANG": "C.UTF-8", "LC_ALL": "C.UTF-8",
              "OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}


def _interpreter() -> tuple[str, list[str], list[str]]:
    """(base interpreter, its standard-library folders, folders inside them to hide)."""
    exe = os.path.realpath(getattr(sys, "_base_executable", None) or sys.executable)
    base = {"base": sys.base_prefix, "installed_base": sys.base_prefix, "platbase": sys.base_exec_prefix,
            "installed_platbase": sys.base_exec_prefix}  # the base interpreter's, not a venv's
    folders = []
    for key in ("stdlib", "platstdlib"):
        path = sysconfig.get_paths(vars=base).get(key)
        if path and os.path.isdir(path):
            folders.append(os.path.realpath(path))
    dynload = sysconfig.get_config_var("DESTSHARED")
    if dynload and os.path.isdir(dynload):
        folders.append(os.path.realpath(dynload))
    folders = [f for f in dict.fromkeys(folders) if not any(f != o and f.startswith(o + "/") for o in folders)]
    hidden = [os.path.join(f, name) for f in folders for name in ("site-packages", "dist-packages", "test")
              if os.path.isdir(os.path.join(f, name))]
    return exe, folders, hidden


def _shared_libraries(binaries: list[str]) -> list[str]:
    """The shared libraries (and the ELF interpreter) that ``ldd`` resolves for ``binaries``."""
    ldd = shutil.which("ldd")
    if ldd is None:
        return [p for p in ("/lib", "/lib64", "/usr/lib", "/usr/lib64") if os.path.isdir(p)]
    try:
        out = subprocess.run([ldd, *binaries], capture_output=True, text=True, timeout=60, env=_BWRAP_ENV).stdout
    except (OSError, subprocess.SubprocessError):
        out = ""
    libs = []
    for line in out.splitlines():
        parts = line.split()
        path = parts[2] if len(parts) >= 3 and parts[1] == "=>" else (parts[0] if parts else "")
        if path.startswith("/") and os.path.exists(path):
            libs.append(path)
    for lib in list(libs):  # glibc dlopens libgcc_s for thread cancellation and unwinding
        if os.path.basename(lib).startswith("libc.so"):
            gcc = os.path.join(os.path.dirname(lib), "libgcc_s.so.1")
            if os.path.exists(gcc):
                libs.append(gcc)
    if os.path.exists("/etc/ld.so.cache"):
        libs.append("/etc/ld.so.cache")
    return list(dict.fromkeys(libs))


# Extension modules whose libraries are not made available (GUI, terminal, NIS,
# ctypes/libffi): importing them fails in the sandbox, and every library bound
# costs bwrap time per sample.
_NO_LIBRARIES_FOR = ("_tkinter", "_curses", "readline", "nis", "_dbm", "_gdbm", "_crypt", "ossaudiodev", "spwd",
                     "_ctypes", "_test", "xx")


def _view() -> tuple:
    """(interpreter, read-only binds, hidden folders, native roots), computed once per process."""
    global _VIEW
    if _VIEW is None:
        exe, folders, hidden = _interpreter()
        natives = [os.path.join(root, f) for folder in folders for root, _, files in os.walk(folder)
                   if not any(root == h or root.startswith(h + "/") for h in hidden)
                   for f in files if f.endswith(".so") and not f.startswith(_NO_LIBRARIES_FOR)]
        binds = [exe] + folders + _shared_libraries([exe] + natives)
        _VIEW = (exe, tuple(dict.fromkeys(binds)), tuple(hidden), tuple(f.rstrip("/") + "/" for f in folders))
    return _VIEW


def _parents(paths) -> list[str]:
    """Every folder above ``paths``, outermost first: bwrap would create them 0700 (unreadable for the sandbox uid)."""
    out = set()
    for path in paths:
        parent = os.path.dirname(path)
        while parent not in ("/", ""):
            out.add(parent)
            parent = os.path.dirname(parent)
    return sorted(out, key=lambda p: (p.count("/"), p))


def _bwrap_options(root: bool, binds, hidden) -> list[str]:
    opts = ["--unshare-pid", "--unshare-net", "--unshare-ipc", "--unshare-uts", "--unshare-cgroup-try",
            "--die-with-parent", "--new-session"]
    if root:  # real namespaces; the harness drops to SANDBOX_UID with these two capabilities
        opts += ["--cap-drop", "ALL", "--cap-add", "CAP_SETUID", "--cap-add", "CAP_SETGID"]
    else:
        opts += ["--unshare-user", "--disable-userns", "--uid", str(SANDBOX_UID), "--gid", str(SANDBOX_UID)]
    for folder in _parents(binds):
        opts += ["--perms", "0755", "--dir", folder]
    for path in binds:
        opts += ["--ro-bind", path, path]
    for path in hidden:
        opts += ["--tmpfs", path]
    opts += ["--proc", "/proc", "--dev", "/dev", "--size", str(TMPFS_BYTES), "--perms", "1777", "--tmpfs", "/tmp",
             "--chdir", "/tmp", "--clearenv"]
    for key, value in _CHILD_ENV.items():
        opts += ["--setenv", key, value]
    return opts


def _bwrap_path() -> tuple[str, str | None]:
    """(what was asked for, the bwrap binary or None)."""
    wanted = os.environ.get("REWARDDS_BWRAP", "")
    if wanted:
        return f"REWARDDS_BWRAP={wanted}", wanted if os.path.isfile(wanted) and os.access(wanted, os.X_OK) else None
    found = shutil.which("bwrap") or next((p for p in ("/usr/bin/bwrap", "/bin/bwrap") if os.access(p, os.X_OK)), None)
    return "bwrap", found


def _first_line(text: str) -> str:
    lines = [l.strip() for l in text.splitlines() if l.strip()]
    return _short(lines[-1] if lines else "no output", 200)


def _build_sandbox() -> _Sandbox:
    asked, bwrap = _bwrap_path()
    if bwrap is None:
        raise SandboxUnavailable(f"code evaluation runs generated code only inside a bubblewrap sandbox, and {asked} "
                                 f"was not found: {INSTALL_HINT} (or set REWARDDS_BWRAP to the bwrap binary)")
    exe, binds, hidden, natives = _view()
    root = os.geteuid() == 0
    box = _Sandbox(bwrap, exe, tuple([bwrap] + _bwrap_options(root, binds, hidden)), "root" if root else "userns",
                   binds, natives, _seccomp_program())
    probe = _PROLOGUE + "_confine(256 << 20, 10)\nprint('sandbox-ok', os.getuid())\n"
    filter_fd = _sealed(box.seccomp) if box.seccomp else None
    try:
        done = subprocess.run([*_command(box, filter_fd), "-S", "-c", probe], capture_output=True, text=True,
                              timeout=60, stdin=subprocess.DEVNULL, env=_BWRAP_ENV, start_new_session=True,
                              pass_fds=() if filter_fd is None else (filter_fd,))
        ok, why = done.returncode == 0 and done.stdout.split() == ["sandbox-ok", str(SANDBOX_UID)], done.stderr
    except (OSError, subprocess.SubprocessError) as exc:
        ok, why = False, str(exc)
    finally:
        if filter_fd is not None:
            os.close(filter_fd)
    if not ok:
        raise SandboxUnavailable(f"bubblewrap ({bwrap}) cannot create the code sandbox here ({_first_line(why)}); "
                                 f"code evaluation refuses to run without it ({INSTALL_HINT}; in a container, "
                                 f"allow user namespaces or run as root)")
    return box


def _sandbox() -> _Sandbox:
    """The sandbox of this machine (probed once per bwrap choice), or SandboxUnavailable."""
    key = os.environ.get("REWARDDS_BWRAP", "")
    with _SANDBOX_LOCK:
        if key not in _SANDBOXES:
            try:
                _SANDBOXES[key] = _build_sandbox()
            except SandboxUnavailable as exc:
                _SANDBOXES[key] = exc
        box = _SANDBOXES[key]
    if isinstance(box, SandboxUnavailable):
        raise SandboxUnavailable(str(box))
    return box


def check_sandbox() -> None:
    """Raise SandboxUnavailable (one line, how to install bwrap) unless generated code can be sandboxed here.

    Cheap after the first call; a pipeline that evaluates code can call it at
    start-up instead of failing at the evaluation stage."""
    _sandbox()


def sandbox_info() -> dict:
    """What this machine's sandbox uses (for logs/reports); raises SandboxUnavailable."""
    box = _sandbox()
    return {"bwrap": box.bwrap, "mode": box.mode, "uid": SANDBOX_UID, "network": False,
            "namespaces": ["pid", "mount", "net", "ipc", "uts", "cgroup"] + (["user"] if box.mode == "userns" else []),
            "view": list(box.view)}


# --------------------------------------------------------------------------- running one sample


def _sealed(data: bytes) -> int:
    """A read-only memfd holding ``data`` (the job): no file name, nothing left behind."""
    fd = os.memfd_create("rewardds-job", os.MFD_CLOEXEC | os.MFD_ALLOW_SEALING)
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view):]
    fcntl.fcntl(fd, fcntl.F_ADD_SEALS, fcntl.F_SEAL_SEAL | fcntl.F_SEAL_SHRINK | fcntl.F_SEAL_GROW | fcntl.F_SEAL_WRITE)
    os.lseek(fd, 0, os.SEEK_SET)
    return fd


def _command(box: _Sandbox, filter_fd: int | None) -> list[str]:
    """bwrap, its options and the interpreter (isolated mode, no .pyc writing, UTF-8)."""
    seccomp = [] if filter_fd is None else ["--seccomp", str(filter_fd)]
    return [*box.prefix, *seccomp, box.python, "-I", "-B", "-X", "utf8"]


def _spawn(box: _Sandbox, source: str, limits: list[str], fds: tuple, job: dict, stderr) -> subprocess.Popen:
    job_fd = _sealed(json.dumps(job).encode("utf-8"))
    filter_fd = _sealed(box.seccomp) if box.seccomp else None  # bwrap reads and closes it
    try:
        # no site (-S): nothing outside the standard library is in the view anyway
        return subprocess.Popen([*_command(box, filter_fd), "-S", "-c", source, *limits, *map(str, fds)],
                                stdin=job_fd, stdout=subprocess.DEVNULL, stderr=stderr, close_fds=True,
                                pass_fds=fds + (() if filter_fd is None else (filter_fd,)),
                                start_new_session=True, env=_BWRAP_ENV)
    finally:
        os.close(job_fd)
        if filter_fd is not None:
            os.close(filter_fd)


def _kill(proc: subprocess.Popen | None) -> None:
    """Kill bwrap's process group; --die-with-parent then ends the whole PID namespace.

    Only while bwrap is not reaped yet: its pid (the group id) cannot be reused before."""
    if proc is None or proc.poll() is not None:
        return
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass
    proc.wait()


def _read_verdict(fd: int, deadline: float) -> dict | str:
    """The judge's verdict, "timeout" or "gone" (the judge ended without one)."""
    data = b""
    while not data.endswith(b"\n") and len(data) < _VERDICT_MAX:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            return "timeout"
        ready, _, _ = select.select([fd], [], [], remaining)
        if not ready:
            return "timeout"
        chunk = os.read(fd, _VERDICT_MAX - len(data))
        if not chunk:
            break
        data += chunk
    try:
        verdict = json.loads(data)
    except ValueError:
        return "gone"
    if not (isinstance(verdict, dict) and verdict.get("s") in STATUSES and isinstance(verdict.get("d"), str)):
        return "gone"
    return verdict


def _tail(fh, limit: int = 2000) -> str:
    try:
        fh.seek(0, os.SEEK_END)
        fh.seek(max(0, fh.tell() - limit))
        return fh.read().decode("utf-8", "replace").strip()
    except OSError:
        return ""


def _signal_name(sig: int) -> str:
    try:
        return signal.Signals(sig).name
    except ValueError:
        return f"signal {sig}"


def _ended(rc: int | None) -> tuple[str, str]:
    """(status, how) for a solution process that ended before the tests finished (bwrap: 128 + signal)."""
    if rc is not None and rc > 128:
        name = _signal_name(rc - 128)
        if rc - 128 == signal.SIGXCPU:
            return "timeout", f"exceeded the CPU time limit ({name})"
        return "killed", f"the code was killed by {name}"
    return "killed", "the code ended the process" + (f" (exit status {rc})" if rc is not None else "")


def _result(verdict, solution: subprocess.Popen, solution_err, judge_err, timeout: float, seconds: float) -> ExecResult:
    if verdict == "timeout":
        return ExecResult(False, "timeout", f"exceeded the {timeout:g} s wall-clock limit", seconds)
    if verdict == "gone":
        return ExecResult(False, "error", _short(f"sandbox judge failed: {_tail(judge_err)[-DETAIL_CHARS:]}"), seconds)
    status, detail = verdict["s"], verdict["d"]
    if status == "killed":
        try:
            rc = solution.wait(timeout=1.0)
        except subprocess.TimeoutExpired:
            rc = None
        status, how = _ended(rc)
        detail = f"{how} {detail}"  # the judge said when
    elif status == "error" and detail.startswith("the sandboxed interpreter did not start"):
        detail = f"sandbox harness failed: {_tail(solution_err)[-DETAIL_CHARS:]}"
    return ExecResult(status == "passed", status, _short(detail), seconds)


def run_tests(code: str | None, tests: list[str], entry_point: str | None, timeout: float = 5.0, memory_mb: int = 512, *, preamble: str = "") -> ExecResult:
    """Run ``code`` and then each assert in ``tests`` (in order) in the sandbox.

    Statuses: "passed" (every test ran and held), "failed" (syntax error, the
    code raised/exited, ``entry_point`` missing or not callable, an assert
    failed or a test raised; ``detail`` names which), "timeout" (wall clock
    or CPU limit), "killed" (the process ended before the tests finished,
    e.g. ``os._exit`` or a crash), "error" (the harness itself could not run,
    or a test does not compile), "no_code" (``code`` is None or blank).
    ``preamble`` is trusted code run in the solution's namespace first (e.g.
    common imports).  Raises SandboxUnavailable when bwrap cannot sandbox.
    """
    if code is None or not str(code).strip():
        return ExecResult(False, "no_code", "no code found in the answer")
    box = _sandbox()
    if isinstance(tests, str):
        tests = [tests]
    tests = [str(t) for t in tests]
    plan = _plan(tuple(tests), entry_point or "")
    if isinstance(plan, str):
        return ExecResult(False, "error", plan)
    limits = [str(memory_mb * 2**20), str(int(math.ceil(timeout)) + 1)]
    start = time.monotonic()
    req_r, req_w = os.pipe()  # judge -> solution
    rep_r, rep_w = os.pipe()  # solution -> judge
    ver_r, ver_w = os.pipe()  # judge -> us
    solution = judge = None
    with tempfile.TemporaryFile() as solution_err, tempfile.TemporaryFile() as judge_err:
        try:
            try:
                solution = _spawn(box, _SOLUTION_SOURCE, limits, (req_r, rep_w),
                                  {"code": str(code), "preamble": preamble, "entry_point": entry_point or "",
                                   "memory_mb": memory_mb, "native_roots": list(box.native_roots)}, solution_err)
                judge = _spawn(box, _JUDGE_SOURCE, limits, (rep_r, req_w, ver_w),
                               {"tests": tests, "plan": plan, "max_reply": 32 << 20}, judge_err)
            except OSError as exc:
                return ExecResult(False, "error", _short(f"could not start the sandbox: {exc}"), time.monotonic() - start)
            finally:
                for fd in (req_r, req_w, rep_r, rep_w, ver_w):
                    os.close(fd)
            verdict = _read_verdict(ver_r, start + timeout)
            seconds = time.monotonic() - start
            _kill(judge)
            return _result(verdict, solution, solution_err, judge_err, timeout, seconds)
        finally:
            _kill(judge)
            _kill(solution)
            os.close(ver_r)


# --------------------------------------------------------------------------- many samples


def evaluate_samples(samples: list[list[str]], tasks: list[dict], ks=(1,), timeout: float = 5.0, workers: int = 2, memory_mb: int = 512, preamble: str = "") -> dict:
    """pass@k over tasks, running every sample through :func:`extract_code` and :func:`run_tests`.

    ``samples[i]`` holds the n answers for ``tasks[i]`` (``{"tests": [...],
    "entry_point": str}``; the dataset's ``testcase`` key is accepted for
    ``tests``).  Returns ``{"pass@1": ..., "pass@k": ..., "n_tasks": ...,
    "statuses": {status: count}, "per_task": [{"n", "c", "statuses",
    "details"}]}``; each pass@k is the unbiased estimator averaged over tasks
    (pass@1 is always reported) and needs at least k samples for every task.
    ``workers`` samples run at once (threads, each waiting on its own
    sandbox).  Raises SandboxUnavailable before running anything when bwrap
    cannot sandbox generated code on this machine.
    """
    if len(samples) != len(tasks):
        raise ValueError(f"{len(samples)} sample lists for {len(tasks)} tasks")
    ks = sorted({int(k) for k in ks} | {1})
    for i, answers in enumerate(samples):
        if len(answers) < ks[-1]:
            raise ValueError(f"task {i} has {len(answers)} samples; pass@{ks[-1]} needs at least {ks[-1]}")
    check_sandbox()
    jobs = [(i, j) for i, answers in enumerate(samples) for j in range(len(answers))]

    def one(job):
        i, j = job
        task = tasks[i]
        entry_point = task.get("entry_point")
        tests = task.get("tests", task.get("testcase"))
        if tests is None:
            raise ValueError(f"task {i} has neither 'tests' nor 'testcase'")
        answer = samples[i][j]
        code = extract_code(answer, entry_point) if isinstance(answer, str) else None
        return run_tests(code, tests, entry_point, timeout=timeout, memory_mb=memory_mb, preamble=preamble)

    with ThreadPoolExecutor(max_workers=max(1, int(workers))) as pool:
        results = list(pool.map(one, jobs))

    per_task = [{"n": len(answers), "c": 0, "statuses": [], "details": []} for answers in samples]
    for (i, _), res in zip(jobs, results):
        per_task[i]["c"] += int(res.passed)
        per_task[i]["statuses"].append(res.status)
        per_task[i]["details"].append(res.detail)
    out: dict = {}
    for k in ks:
        out[f"pass@{k}"] = (
            sum(pass_at_k(t["n"], t["c"], k) for t in per_task) / len(per_task) if per_task else float("nan")
        )
    out["n_tasks"] = len(tasks)
    out["statuses"] = dict(Counter(r.status for r in results))
    out["per_task"] = per_task
    return out
