"""The code sandbox: run model-generated Python against assert test cases, in an operating-system sandbox.

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
  itself (split once per task by :mod:`.plan`, here in the trusted parent) and asks the
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

The programs: real files, shipped by path
  What runs inside the sandbox is ``programs/``: ``solution.py`` and
  ``judge.py`` (with ``harness.py``, the confinement, and ``codec.py``, the
  plain values), bound read-only at ``/rewardds-sandbox/`` and started as
  ``python -I -B -S -X utf8 /rewardds-sandbox/<program>.py <limits> <fds>``,
  the job (JSON) on stdin. Everything else here runs in the evaluating
  process: :mod:`.extract` (the code in an answer), :mod:`.plan` (splitting
  the asserts), :mod:`.bwrap` (the sandbox), :mod:`.runner` (one sample) and
  :mod:`.samples` (pass@k).

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
from rewardds.eval.sandbox.bwrap import check_sandbox, sandbox_info
from rewardds.eval.sandbox.extract import extract_code
from rewardds.eval.sandbox.result import STATUSES, ExecResult, SandboxUnavailable
from rewardds.eval.sandbox.runner import run_tests
from rewardds.eval.sandbox.samples import evaluate_samples

__all__ = ["ExecResult", "SandboxUnavailable", "check_sandbox", "extract_code", "run_tests", "evaluate_samples",
           "sandbox_info", "STATUSES"]
