"""Run model-generated Python against assert test cases, in a sandbox.

Generated code is untrusted.  :func:`run_tests` runs it in a separate process
with several independent layers, so that no single one has to be perfect:

Process level (set up by the parent, enforced by the kernel)
  * ``sys.executable -I -B`` (isolated mode: no PYTHON* variables, no user site,
    no script directory on ``sys.path``; no .pyc writing), started with
    ``start_new_session=True`` so it leads its own process group;
  * a fresh temporary working directory, deleted afterwards; a minimal
    environment (PATH, HOME=TMPDIR=that directory, C.UTF-8, one BLAS thread);
    stdin and stdout are ``/dev/null``; stderr goes to a capped file of which
    only a short tail is ever read;
  * a wall-clock timeout, after which the whole process group gets SIGKILL (the
    group is killed before the child is reaped, so its id cannot be reused);
  * resource limits set in ``preexec_fn``: RLIMIT_AS = ``memory_mb``,
    RLIMIT_CPU = ceil(timeout) + 1 s, RLIMIT_FSIZE = 16 MiB, RLIMIT_CORE = 0 and,
    when not root, RLIMIT_NPROC = 0 (no new processes or threads; the kernel
    exempts root from RLIMIT_NPROC, so as root the audit hook below is what
    refuses fork/exec);
  * a new network namespace (``unshare -n``, or ``unshare -r -n`` through a
    user namespace when not root) when that works on this machine: detected
    once per process and cached; without it the audit hook still refuses
    sockets.  ``REWARDDS_SANDBOX_NETNS=0`` turns it off.

Interpreter level (inside the child, installed before the untrusted code runs)
  * a ``sys.addaudithook`` guard (audit hooks cannot be removed) refusing:
    socket creation/connect/DNS and the network client modules; fork, exec,
    ``os.system``, ``posix_spawn``, ``subprocess.Popen``, ``pty.spawn``;
    ``os.kill``/``killpg``; writing, creating, deleting, renaming, chmod/chown,
    utime, truncate, xattr, hard and symbolic links for any path outside the
    working directory (paths are resolved lexically against ``os.getcwd()`` or
    the ``dir_fd``, so ``..`` cannot escape; symlink creation is refused so
    lexical resolution stays exact; path objects other than str/bytes/int are
    refused for writes, since their ``__fspath__`` could answer differently to
    the hook); ``shutil.rmtree``/``move``/``copy*`` outside it; ctypes, cffi
    and loading native extension modules from anywhere but the interpreter's
    own library directories; writing to device files; reading
    ``/proc/*/mem`` and other processes' descriptors; sqlite extensions;
    ``setrlimit``; adding audit hooks; and the introspection
    that could reach the harness's frames (``sys._getframe`` answers with a
    ValueError, which the stdlib already tolerates; ``tb_frame``/``gi_frame``
    /``cr_frame``/``ag_frame``, ``sys._current_frames``, ``settrace``/
    ``setprofile``, ``gc.get_objects``/``get_referrers``/``get_referents``,
    ``signal.signal`` (handlers receive frames), breakpoints).  Reading files
    is allowed.
  * functions the hook cannot see are removed before the code runs:
    ``_posixsubprocess.fork_exec`` (``subprocess`` is pre-imported and its
    private reference replaced, so ``import subprocess``/``asyncio`` still
    work), ``signal.signal``, ``os.mknod``/``mkfifo``/``chroot``; importing
    those modules afresh is refused.
  * the harness keeps private references to every builtin and function it
    uses after the untrusted code starts, so monkeypatching ``builtins``,
    ``os`` or ``json`` cannot change how the tests are run or reported.

Result channel
  The job (code, tests and a random result token) reaches the child through an
  already unlinked file passed as a descriptor.  The child reports on a
  dedicated pipe (``pass_fds``): one line prefixed with the result token, which
  is never written anywhere the untrusted code can read.  A second token (which
  may leak) only marks "about to run the untrusted code", to tell a harness
  failure ("error") from untrusted code that ended the process ("killed").
  Printing "PASSED", ``sys.exit(0)``, ``os._exit(0)``, writing to stray
  descriptors or a crash before the tests finish therefore never counts as a
  pass.

Execution: the solution runs as module ``solution`` (``__name__`` is not
``"__main__"``, so demo code under a main guard is skipped), then each test
string runs in order in the same namespace; the first failing assert stops it.
An ``entry_point`` that is not defined fails with a clear detail, except when
it names a builtin (six Code_Generation train records say ``list``/``set``/
``len``, the call the asserts wrap, e.g. ``assert list(permutations("ab"))``).

Not done: dropping to an unprivileged uid.  In our CI the interpreter lives
under /root (mode 0700), which the child could then no longer import from.

Limits of the design: this guards against accidental and naive harm by model
output, not against an adversary who targets CPython itself.  Answers that
game the asserts from inside Python (e.g. return an object whose ``__eq__`` is
always true) pass, as in every assert-based harness.  As root the child may
start threads (RLIMIT_NPROC does not apply); they are bounded by RLIMIT_AS
and die with the process group.
"""
from __future__ import annotations

import json
import math
import os
import re
import resource
import secrets
import select
import shutil
import signal
import subprocess
import sys
import tempfile
import textwrap
import threading
import time
import ast
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from rewardds.eval.metrics import pass_at_k

__all__ = ["ExecResult", "extract_code", "run_tests", "evaluate_samples", "STATUSES"]

STATUSES = ("passed", "failed", "timeout", "error", "killed", "no_code")
DETAIL_CHARS = 300
FSIZE_LIMIT = 16 * 2**20  # largest file the child may write (bytes)
_RESULT_MAX = 1 << 16  # bytes read back from the result pipe


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


# --------------------------------------------------------------------------- the child harness

# Runs as `python -I -B -c _CHILD_SOURCE <payload fd> <result fd>`.  Everything
# after the "untrusted boundary" uses only local copies of builtins/functions
# taken before the untrusted code ran, literals and methods of exact str/list/
# dict/int objects, none of which the untrusted code can replace.
_CHILD_SOURCE = r'''
import sys, os
def _main():
    import json, signal, _signal
    try:
        import _posixsubprocess
    except ImportError:
        _posixsubprocess = None
    payload_fd, result_fd = int(sys.argv[1]), int(sys.argv[2])
    with open(payload_fd, "rb") as fh:  # an already unlinked file: it never had a path
        raw = fh.read()
    payload = json.loads(raw.decode("utf-8"))
    del raw
    ready_token = payload["ready_token"]
    result_token = payload["result_token"]
    code, tests, entry_point = payload["code"], payload["tests"], payload["entry_point"]
    workdir, preamble, memory_mb = payload["workdir"], payload["preamble"], payload["memory_mb"]
    del payload

    _write, _exit, _exec, _compile = os.write, os._exit, exec, compile
    _type, _callable, _str, _int, _len = type, callable, str, int, len
    _join, _bytes_decode = str.join, bytes.decode
    _getcwd, _readlink, _stat = os.getcwd, os.readlink, os.stat
    _BaseException, _AssertionError, _SystemExit = BaseException, AssertionError, SystemExit
    _MemoryError, _SyntaxError, _PermissionError, _ValueError = MemoryError, SyntaxError, PermissionError, ValueError
    _ModuleNotFoundError = ModuleNotFoundError

    def clean(text):
        # exact str without newlines/tabs, at most 500 characters
        try:
            text = _join("", (text,))
        except _BaseException:
            text = "?"
        text = text.replace("\t", " ").replace("\r", " ").replace("\n", " ")
        if _len(text) > 500:
            text = text[:497] + "..."
        return text

    def emit(token, status, detail):
        line = token + "\t" + status + "\t" + clean(detail) + "\n"
        try:
            _write(result_fd, line.encode("utf-8", "replace"))
        except _BaseException:
            pass

    def finish(status, detail):
        emit(result_token, status, detail)
        _exit(0)

    def describe(exc):
        try:
            name = _join("", (_type(exc).__name__,))
        except _BaseException:
            name = "exception"
        try:
            msg = _join("", (_str(exc),))
        except _BaseException:
            msg = ""
        if _type(exc) is _MemoryError:
            msg = (msg + " " if msg else "") + "(memory limit " + _str(memory_mb) + " MB)"
        return name + (": " + msg if msg else "")

    # ---- trusted preparation -------------------------------------------------
    compiled = []
    for i, src in enumerate(tests):
        try:
            compiled.append((src, _compile(src, "<test %d>" % (i + 1), "exec", dont_inherit=True, optimize=0)))
        except (SyntaxError, ValueError) as exc:
            finish("error", "test %d does not compile (%s): %s" % (i + 1, describe(exc), src))
    try:
        solution = _compile(code, "<solution>", "exec", dont_inherit=True, optimize=0)
    except _SyntaxError as exc:
        finish("failed", "SyntaxError: %s (line %s)" % (exc.msg, exc.lineno))
    except (ValueError, MemoryError, RecursionError) as exc:
        finish("failed", "code does not compile: " + describe(exc))

    import types
    module = types.ModuleType("solution")
    sys.modules["solution"] = module
    ns = module.__dict__
    if preamble:
        _exec(_compile(preamble, "<preamble>", "exec", dont_inherit=True), ns)

    # Remove what the audit hook cannot see: fork_exec (no audit event of its
    # own), signal handlers (they receive frames), mknod/mkfifo/chroot.
    # `subprocess` is imported here so that importing it later (asyncio does)
    # still works; its private reference to fork_exec is replaced.
    import subprocess

    def no_fork_exec(*args, **kwargs):
        raise _PermissionError("sandbox: starting processes is not allowed")

    subprocess._fork_exec = no_fork_exec
    if _posixsubprocess is not None and hasattr(_posixsubprocess, "fork_exec"):
        del _posixsubprocess.fork_exec
    for mod in (signal, _signal):
        if hasattr(mod, "signal"):
            delattr(mod, "signal")
    import posix
    for mod in (os, posix):
        for name in ("mknod", "mkfifo", "chroot"):
            if hasattr(mod, name):
                delattr(mod, name)

    # ---- the audit hook ----------------------------------------------------------
    wd = os.path.realpath(workdir)
    wd_slash = wd + "/"
    ext_roots = []
    for entry in sys.path:
        if entry and entry[0] == "/":
            real = os.path.realpath(entry)
            if real != wd and not real.startswith(wd_slash):
                ext_roots.append(real.rstrip("/") + "/")
    ext_roots = tuple(ext_roots)
    UNKNOWN = object()
    O_WRITE = os.O_WRONLY | os.O_RDWR | os.O_APPEND | os.O_CREAT | os.O_TRUNC
    S_IFMT, S_IFDIR, S_IFCHR, S_IFBLK = 0o170000, 0o040000, 0o020000, 0o060000
    WRITE_DEVICES = frozenset(("/dev/null", "/dev/stdout", "/dev/stderr"))
    READ_DEVICES = frozenset(("/dev/null", "/dev/zero", "/dev/full", "/dev/random", "/dev/urandom", "/dev/stdin", "/dev/stdout", "/dev/stderr"))
    DENY_MODULES = frozenset(("ctypes", "_ctypes", "_ctypes_test", "cffi", "_cffi_backend", "_posixsubprocess", "posix",
                              "_signal", "signal", "subprocess"))
    FRAME_ATTRS = frozenset(("tb_frame", "gi_frame", "cr_frame", "ag_frame"))
    DENY = frozenset((
        "os.fork", "os.forkpty", "os.posix_spawn", "os.spawn", "os.exec", "os.system", "subprocess.Popen",
        "pty.spawn", "os.kill", "os.killpg", "signal.pthread_kill", "os.link", "os.symlink", "os.startfile",
        "sys._current_frames", "sys._current_exceptions", "sys.settrace", "sys.setprofile",
        "gc.get_objects", "gc.get_referrers", "gc.get_referents", "sys.addaudithook",
        "resource.setrlimit", "resource.prlimit", "sqlite3.enable_load_extension",
        "sqlite3.load_extension", "builtins.breakpoint", "pdb.Pdb", "webbrowser.open", "urllib.Request",
        "os.add_dll_directory", "cpython.run_command", "cpython.run_file", "cpython.run_module",
    ))
    DENY_PREFIX = ("socket.", "ctypes.", "ftplib.", "smtplib.", "poplib.", "imaplib.", "nntplib.",
                   "telnetlib.", "http.client.", "urllib.", "_winapi.", "winreg.", "msvcrt.")

    def refuse(what):
        raise _PermissionError("sandbox: " + what + " is not allowed")

    def as_path(p):
        # exact str for str/bytes (the same data the OS call uses), None for an
        # exact int descriptor, UNKNOWN for anything else
        if _type(p) is _int:
            return None
        try:
            return _join("", (p,))
        except _BaseException:
            pass
        try:
            return _bytes_decode(p, "utf-8", "surrogateescape")
        except _BaseException:
            return UNKNOWN

    def fd_path(fd):
        return _readlink("/proc/self/fd/" + "%d" % fd)

    def resolve(s, dir_fd):
        if s[:1] != "/":
            if dir_fd is None or (_type(dir_fd) is _int and dir_fd < 0):
                base = _getcwd()
            elif _type(dir_fd) is _int:
                base = fd_path(dir_fd)
            else:
                return UNKNOWN
            s = base + "/" + s
        out = []
        for part in s.split("/"):
            if part == "" or part == ".":
                continue
            if part == "..":
                if out:
                    out.pop()
                continue
            out.append(part)
        return "/" + "/".join(out)

    def inside(s):
        return s.startswith(wd_slash)

    def target(p, dir_fd=None):
        # the normalised absolute path a destructive call acts on, or UNKNOWN
        s = as_path(p)
        if s is UNKNOWN:
            return UNKNOWN
        if s is None:
            s = fd_path(p)
            if s[:1] != "/":  # a pipe, socket or anonymous file
                return UNKNOWN
            return resolve(s, None)
        return resolve(s, dir_fd)

    def check_write(what, p, dir_fd=None):
        s = target(p, dir_fd)
        if s is UNKNOWN or not inside(s):
            refuse(what + " outside the working directory")

    def file_type(s):
        try:
            return _stat(s).st_mode & S_IFMT
        except _BaseException:
            return 0

    def on_open(args):
        p, mode, flags = args[0], args[1], args[2]
        write = False
        if _type(flags) is _int:
            write = (flags & O_WRITE) != 0
        elif flags is not None:
            write = True
        if mode is not None:
            if _type(mode) is _str:
                for ch in "wax+":
                    if ch in mode:
                        write = True
            else:
                write = True
        s = as_path(p)
        if s is None:  # an already open descriptor
            return
        if s is UNKNOWN:
            if write:
                refuse("writing through a path object of this type")
            return
        s = resolve(s, None)
        if s is UNKNOWN:
            refuse("this path")
        kind = file_type(s)
        if s.startswith("/proc/") and (s.endswith("/mem") or "/fd/" in s or "/fdinfo/" in s) or s.startswith("/dev/fd/"):
            refuse("opening " + s)
        if (kind == S_IFCHR or kind == S_IFBLK) and s not in (WRITE_DEVICES if write else READ_DEVICES):
            refuse("opening the device " + s)
        if write:
            if s not in WRITE_DEVICES and not inside(s):
                refuse("writing " + s + " (outside the working directory)")
        elif mode is None and kind == S_IFDIR and s != wd and not inside(s):
            refuse("opening the directory " + s + " as a descriptor")

    def refuse_import(what):
        # an ImportError, so that `try: import ctypes except ImportError:` still works
        raise _ModuleNotFoundError("sandbox: " + what + " is not allowed")

    def on_import(args):
        name = as_path(args[0])
        if name is UNKNOWN or name is None:
            refuse_import("this import")
        if name.split(".")[0] in DENY_MODULES:
            refuse_import("importing " + name)
        if args[1] is not None:
            s = as_path(args[1])
            if s is UNKNOWN or s is None:
                refuse_import("loading a native module from this path")
            s = resolve(s, None)
            if s is UNKNOWN or not s.startswith(ext_roots):
                refuse_import("loading a native module from " + s)

    def on_sqlite(args):
        s = as_path(args[0])
        if s == ":memory:" or s == "":
            return
        if s is UNKNOWN or s is None or s.startswith("file:"):
            refuse("this sqlite3 database")
        check_write("sqlite3.connect", s)

    def on_getattr(args):
        if args[1] in FRAME_ATTRS:
            refuse("access to frame objects")

    def on_getframe(args):
        raise _ValueError("sandbox: stack frames are not accessible")

    def first(what):
        def check(args):
            check_write(what, args[0], args[-1])
        return check

    def no_dirfd(what):
        def check(args):
            check_write(what, args[0])
        return check

    def both(what):
        def check(args):
            check_write(what, args[0], args[2])
            check_write(what, args[1], args[3])
        return check

    def pair(what):
        def check(args):
            check_write(what, args[0])
            check_write(what, args[1])
        return check

    def dst(what):
        def check(args):
            check_write(what, args[1])
        return check

    def rmtree(args):
        check_write("shutil.rmtree", args[0], args[1] if _len(args) > 1 else None)

    handlers = {
        "open": on_open,
        "import": on_import,
        "object.__getattr__": on_getattr,
        "sys._getframe": on_getframe,
        "sqlite3.connect": on_sqlite,
        "os.remove": first("removing files"),
        "os.rmdir": first("removing directories"),
        "os.mkdir": first("creating directories"),
        "os.chmod": first("chmod"),
        "os.chown": first("chown"),
        "os.utime": first("utime"),
        "os.truncate": no_dirfd("truncate"),
        "os.setxattr": no_dirfd("setxattr"),
        "os.removexattr": no_dirfd("removexattr"),
        "os.chflags": no_dirfd("chflags"),
        "os.lchflags": no_dirfd("chflags"),
        "os.rename": both("renaming"),
        "shutil.rmtree": rmtree,
        "shutil.move": pair("shutil.move"),
        "shutil.copyfile": dst("copying"),
        "shutil.copymode": dst("copying"),
        "shutil.copystat": dst("copying"),
        "shutil.copytree": dst("copying"),
        "shutil.chown": no_dirfd("chown"),
    }
    get_handler = handlers.get

    def hook(event, args):
        if event in DENY:
            refuse(event)
        handler = get_handler(event)
        if handler is not None:
            handler(args)
        elif event.startswith(DENY_PREFIX):
            refuse(event)

    # A few dataset records name a builtin the asserts wrap the call in
    # (`assert list(permutations("ab")) == ...` with entry_point "list"): such
    # an entry point need not be defined by the code.
    import builtins
    builtin_names = frozenset(dir(builtins))

    sys.addaudithook(hook)
    # ---- untrusted boundary: from here on only captured names are used -----------
    emit(ready_token, "ready", "")
    try:
        _exec(solution, ns)
    except _SystemExit as exc:
        finish("failed", "the code called exit() before the tests ran")
    except _BaseException as exc:
        finish("failed", "the code raised " + describe(exc))
    if entry_point and not (entry_point in builtin_names and entry_point not in ns):
        fn = ns.get(entry_point)
        if fn is None:
            finish("failed", "the code does not define the entry point '" + entry_point + "'")
        if not _callable(fn):
            finish("failed", "the entry point '" + entry_point + "' is not callable")
    n_done = 0
    for src, test in compiled:
        n_done = n_done + 1
        try:
            _exec(test, ns)
        except _AssertionError as exc:
            finish("failed", "test %d failed: " % n_done + src)
        except _SystemExit:
            finish("failed", "test %d: the code called exit(): " % n_done + src)
        except _BaseException as exc:
            finish("failed", "test %d raised " % n_done + describe(exc) + ": " + src)
    finish("passed", "%d tests passed" % n_done)

_main()
'''


# --------------------------------------------------------------------------- network namespace

_NETNS_LOCK = threading.Lock()
_NETNS_PREFIX: list[str] | None = None


def _netns_prefix() -> list[str]:
    """Command prefix that runs the child in a fresh network namespace, or [] (cached)."""
    global _NETNS_PREFIX
    with _NETNS_LOCK:
        if _NETNS_PREFIX is not None:
            return _NETNS_PREFIX
        prefix: list[str] = []
        unshare = shutil.which("unshare") or next((p for p in ("/usr/bin/unshare", "/bin/unshare") if os.path.exists(p)), None)
        if os.environ.get("REWARDDS_SANDBOX_NETNS", "1").lower() not in ("0", "false", "no", "off") and unshare:
            probe = "import socket\ns = socket.socket()\ns.settimeout(1)\ntry:\n    s.connect(('127.0.0.1', 9))\nexcept OSError:\n    pass\n"
            for candidate in ([unshare, "-n", "--"], [unshare, "-r", "-n", "--"]):
                try:  # probed under the same resource limits the sandbox uses
                    done = subprocess.run(
                        candidate + [sys.executable, "-I", "-c", probe],
                        stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, timeout=20,
                        start_new_session=True, preexec_fn=_make_preexec(_limits(5.0, 512)),
                    )
                except (OSError, subprocess.SubprocessError):
                    continue
                if done.returncode == 0:
                    prefix = candidate
                    break
        _NETNS_PREFIX = prefix
        return prefix


def sandbox_info() -> dict:
    """What this machine's sandbox uses (for logs/reports)."""
    prefix = _netns_prefix()
    return {
        "network_namespace": " ".join([os.path.basename(prefix[0])] + prefix[1:-1]) if prefix else None,
        "root": os.geteuid() == 0,
        "nproc_limit": os.geteuid() != 0,
    }


# --------------------------------------------------------------------------- running one sample


def _limits(timeout: float, memory_mb: int) -> list[tuple[int, tuple[int, int]]]:
    cpu = int(math.ceil(timeout)) + 1
    wanted = [
        (resource.RLIMIT_AS, memory_mb * 2**20, memory_mb * 2**20),
        (resource.RLIMIT_CPU, cpu, cpu + 1),
        (resource.RLIMIT_FSIZE, FSIZE_LIMIT, FSIZE_LIMIT),
        (resource.RLIMIT_CORE, 0, 0),
    ]
    if os.geteuid() != 0 and hasattr(resource, "RLIMIT_NPROC"):
        wanted.append((resource.RLIMIT_NPROC, 0, 0))
    out = []
    for res, soft, hard in wanted:
        try:
            _, cur_hard = resource.getrlimit(res)
        except (ValueError, OSError):
            continue
        if cur_hard != resource.RLIM_INFINITY:
            hard = min(hard, cur_hard)
            soft = min(soft, hard)
        out.append((res, (soft, hard)))
    return out


def _make_preexec(limits):
    setrlimit = resource.setrlimit

    def preexec():  # runs in the forked child: no imports, no allocation-heavy work
        for res, value in limits:
            try:
                setrlimit(res, value)
            except (ValueError, OSError):
                pass

    return preexec


def _child_env(workdir: str) -> dict:
    return {
        "PATH": "/usr/local/bin:/usr/bin:/bin",
        "HOME": workdir,
        "TMPDIR": workdir,
        "LANG": "C.UTF-8",
        "LC_ALL": "C.UTF-8",
        "OMP_NUM_THREADS": "1",
        "OPENBLAS_NUM_THREADS": "1",
        "MKL_NUM_THREADS": "1",
    }


def _wait(proc: subprocess.Popen, timeout: float) -> bool:
    """Wait for the child to exit WITHOUT reaping it; False on timeout."""
    deadline = time.monotonic() + timeout
    pidfd = None
    if hasattr(os, "pidfd_open"):
        try:
            pidfd = os.pidfd_open(proc.pid)
        except OSError:
            pidfd = None
    try:
        if pidfd is not None:
            remaining = max(0.0, deadline - time.monotonic())
            ready, _, _ = select.select([pidfd], [], [], remaining)
            return bool(ready)
        delay = 0.001
        while True:
            try:
                info = os.waitid(os.P_PID, proc.pid, os.WEXITED | os.WNOHANG | os.WNOWAIT)
            except ChildProcessError:
                return True
            if info is not None and info.si_pid:
                return True
            if time.monotonic() >= deadline:
                return False
            time.sleep(min(delay, max(0.0, deadline - time.monotonic())))
            delay = min(delay * 2, 0.02)
    finally:
        if pidfd is not None:
            os.close(pidfd)


def _kill_group(pid: int) -> None:
    try:
        os.killpg(pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass


def _read_available(fd: int) -> bytes:
    os.set_blocking(fd, False)
    chunks, total = [], 0
    while total < _RESULT_MAX:
        try:
            chunk = os.read(fd, _RESULT_MAX - total)
        except BlockingIOError:
            break
        if not chunk:
            break
        chunks.append(chunk)
        total += len(chunk)
    return b"".join(chunks)


def _tail(path: str, limit: int = 2000) -> str:
    try:
        with open(path, "rb") as fh:
            fh.seek(0, os.SEEK_END)
            size = fh.tell()
            fh.seek(max(0, size - limit))
            return fh.read().decode("utf-8", "replace").strip()
    except OSError:
        return ""


def _rmtree(path: str) -> None:
    def fix(func, p, _exc):
        try:
            os.chmod(os.path.dirname(p), 0o700)
            if os.path.isdir(p) and not os.path.islink(p):
                os.chmod(p, 0o700)
            func(p)
        except OSError:
            pass

    shutil.rmtree(path, onerror=fix)
    if os.path.exists(path):  # second pass after permissions were fixed
        shutil.rmtree(path, ignore_errors=True)


def run_tests(code: str | None, tests: list[str], entry_point: str | None, timeout: float = 5.0, memory_mb: int = 512, *, preamble: str = "") -> ExecResult:
    """Run ``code`` and then each assert in ``tests`` (in order) in the sandbox.

    Statuses: "passed" (every test ran and held), "failed" (syntax error, the
    code raised/exited, ``entry_point`` missing or not callable, an assert
    failed or a test raised; ``detail`` names which), "timeout" (wall clock
    or CPU limit), "killed" (the process ended before reporting, e.g.
    ``os._exit`` or a crash), "error" (the harness itself could not run, or a
    test does not compile), "no_code" (``code`` is None or blank).
    ``preamble`` is trusted code run in the solution's namespace first (e.g.
    common imports).
    """
    if code is None or not str(code).strip():
        return ExecResult(False, "no_code", "no code found in the answer")
    if isinstance(tests, str):
        tests = [tests]
    tests = [str(t) for t in tests]
    start = time.monotonic()
    root = tempfile.mkdtemp(prefix="rewardds-exec-")
    try:
        work = os.path.join(root, "work")
        os.mkdir(work, 0o700)
        ready_token, result_token = secrets.token_hex(16), secrets.token_hex(16)
        # The payload (with the secret result token) goes through an unlinked
        # file passed as a descriptor, so no other process can find it by path.
        payload = tempfile.TemporaryFile(dir=root)
        payload.write(json.dumps({
            "ready_token": ready_token, "result_token": result_token, "code": str(code), "tests": tests,
            "entry_point": entry_point or "", "workdir": work, "preamble": preamble, "memory_mb": memory_mb,
        }).encode("utf-8"))
        payload.flush()
        payload.seek(0)
        stderr_path = os.path.join(root, "stderr.txt")
        r_fd, w_fd = os.pipe()
        try:
            with open(stderr_path, "wb") as err:
                cmd = _netns_prefix() + [sys.executable, "-I", "-B", "-c", _CHILD_SOURCE, str(payload.fileno()), str(w_fd)]
                try:
                    proc = subprocess.Popen(
                        cmd, cwd=work, env=_child_env(work), stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                        stderr=err, pass_fds=(w_fd, payload.fileno()), close_fds=True, start_new_session=True,
                        preexec_fn=_make_preexec(_limits(timeout, memory_mb)),
                    )
                except (OSError, subprocess.SubprocessError) as exc:
                    return ExecResult(False, "error", _short(f"could not start the sandbox: {exc}"), time.monotonic() - start)
                finally:
                    os.close(w_fd)
                    payload.close()
                finished = _wait(proc, timeout)
                _kill_group(proc.pid)  # the whole group, before the child is reaped
                returncode = proc.wait()
            seconds = time.monotonic() - start
            data = _read_available(r_fd)
        finally:
            os.close(r_fd)
        ready, status, detail = False, None, ""
        for line in data.split(b"\n"):
            token, _, rest = line.partition(b"\t")
            if token == ready_token.encode():
                ready = True
            elif token == result_token.encode() and status is None:
                st, _, det = rest.decode("utf-8", "replace").partition("\t")
                if st in STATUSES:
                    status, detail = st, det
        if status is not None:
            return ExecResult(status == "passed", status, _short(detail), seconds)
        if not finished:
            return ExecResult(False, "timeout", f"exceeded the {timeout:g} s wall-clock limit", seconds)
        if returncode < 0:
            sig = -returncode
            try:
                name = signal.Signals(sig).name
            except ValueError:
                name = f"signal {sig}"
            if sig == signal.SIGXCPU:
                return ExecResult(False, "timeout", f"exceeded the CPU time limit ({name})", seconds)
            what = "the code" if ready else "the sandbox harness"
            return ExecResult(False, "killed" if ready else "error", _short(f"{what} was killed by {name} before the tests finished"), seconds)
        if ready:
            return ExecResult(False, "killed", _short(f"the process exited (status {returncode}) before the tests finished"), seconds)
        tail = _tail(stderr_path)
        return ExecResult(False, "error", _short(f"sandbox harness failed (status {returncode}): {tail[-DETAIL_CHARS:]}"), seconds)
    finally:
        _rmtree(root)


# --------------------------------------------------------------------------- many samples


def evaluate_samples(samples: list[list[str]], tasks: list[dict], ks=(1,), timeout: float = 5.0, workers: int = 2, memory_mb: int = 512, preamble: str = "") -> dict:
    """pass@k over tasks, running every sample through :func:`extract_code` and :func:`run_tests`.

    ``samples[i]`` holds the n answers for ``tasks[i]`` (``{"tests": [...],
    "entry_point": str}``; the dataset's ``testcase`` key is accepted for
    ``tests``).  Returns ``{"pass@1": ..., "pass@k": ..., "n_tasks": ...,
    "statuses": {status: count}, "per_task": [{"n", "c", "statuses",
    "details"}]}``; each pass@k is the unbiased estimator averaged over tasks
    (pass@1 is always reported) and needs at least k samples for every task.
    ``workers`` samples run at once (threads, each waiting on its own child).
    """
    if len(samples) != len(tasks):
        raise ValueError(f"{len(samples)} sample lists for {len(tasks)} tasks")
    ks = sorted({int(k) for k in ks} | {1})
    for i, answers in enumerate(samples):
        if len(answers) < ks[-1]:
            raise ValueError(f"task {i} has {len(answers)} samples; pass@{ks[-1]} needs at least {ks[-1]}")
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
