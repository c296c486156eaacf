"""Running one sample (:func:`run_tests`): the solution and judge sandboxes, their pipes, the verdict.

Two sandboxes per sample, connected only by two pipes; the judge writes the verdict to this process
on a third pipe that the solution process never has (see :mod:`rewardds.eval.sandbox`).
"""
from __future__ import annotations

import json
import math
import os
import select
import signal
import subprocess
import tempfile
import time

from rewardds.eval.sandbox.bwrap import BWRAP_ENV, command, program, sandbox, sealed
from rewardds.eval.sandbox.plan import plan_tests
from rewardds.eval.sandbox.result import DETAIL_CHARS, STATUSES, ExecResult, short

_VERDICT_MAX = 1 << 16  # bytes read back from the judge


def _spawn(box, name: str, limits: list[str], fds: tuple, job: dict, stderr) -> subprocess.Popen:
    """Start the program ``name`` in a fresh sandbox, the job on its stdin and ``fds`` passed to it."""
    job_fd = sealed(json.dumps(job).encode("utf-8"))
    filter_fd = sealed(box.seccomp) if box.seccomp else None  # bwrap reads and closes it
    try:
        # no site (-S): nothing outside the standard library is in the view anyway
        return subprocess.Popen([*command(box, filter_fd), "-S", program(name), *limits, *map(str, fds)],
                                stdin=job_fd, stdout=subprocess.DEVNULL, stderr=stderr, close_fds=True,
                                pass_fds=fds + (() if filter_fd is None else (filter_fd,)),
                                start_new_session=True, env=BWRAP_ENV)
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
        return ExecResult(False, "error", short(f"sandbox judge failed: {_tail(judge_err)[-DETAIL_CHARS:]}"), seconds)
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
    return ExecResult(status == "passed", status, short(detail), seconds)


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
    box = sandbox()
    if isinstance(tests, str):
        tests = [tests]
    tests = [str(t) for t in tests]
    plan = plan_tests(tuple(tests), entry_point or "")
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
                solution = _spawn(box, "solution", limits, (req_r, rep_w),
                                  {"code": str(code), "preamble": preamble, "entry_point": entry_point or "",
                                   "memory_mb": memory_mb, "native_roots": list(box.native_roots)}, solution_err)
                judge = _spawn(box, "judge", limits, (rep_r, req_w, ver_w),
                               {"tests": tests, "plan": plan, "max_reply": 32 << 20}, judge_err)
            except OSError as exc:
                return ExecResult(False, "error", short(f"could not start the sandbox: {exc}"), time.monotonic() - start)
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
