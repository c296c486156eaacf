"""The sandbox of this machine: bubblewrap's command line, the read-only view, the seccomp filter.

Built and probed once per process (and per ``REWARDDS_BWRAP``); :func:`check_sandbox` raises
:class:`SandboxUnavailable`, in one line saying how to install bwrap, where none can be made. The
in-sandbox programs (``programs/*.py``) are bound read-only at ``PROGRAMS_DIR`` inside it, away from
the repository and site-packages, which the sandbox never sees.
"""
from __future__ import annotations

import fcntl
import os
import shutil
import struct
import subprocess
import sys
import sysconfig
import threading
from dataclasses import dataclass
from pathlib import Path

from rewardds.eval.sandbox.programs.harness import SANDBOX_UID
from rewardds.eval.sandbox.result import SandboxUnavailable, short

TMPFS_BYTES = 64 * 2**20  # size of the sandbox's private /tmp
INSTALL_HINT = "install it with `apt-get install bubblewrap`"
PROGRAMS = ("harness", "codec", "solution", "judge", "probe")  # programs/<name>.py, bound into every sandbox
PROGRAMS_DIR = "/rewardds-sandbox"  # where they sit inside
_PROGRAMS_HOST = Path(__file__).resolve().parent / "programs"


def program(name: str) -> str:
    """The path inside the sandbox of the program ``name`` (one of ``PROGRAMS``)."""
    return f"{PROGRAMS_DIR}/{name}.py"


def _program_binds() -> list[tuple[str, str]]:
    """(host file, path inside) of each program: real files of this package, shipped by path."""
    binds = [(str(_PROGRAMS_HOST / f"{name}.py"), program(name)) for name in PROGRAMS]
    missing = [host for host, _ in binds if not os.path.isfile(host)]
    if missing:
        raise SandboxUnavailable(f"the sandbox programs are missing from this install ({', '.join(missing)}): "
                                 "reinstall rewardds")
    return binds


# A seccomp filter (x86_64) on top of the namespaces: no new user namespaces
# (as root there is no user namespace of ours whose --disable-userns would
# forbid them), and none of the kernel interfaces that keep being the way
# into kernel bugs.  clone3 answers ENOSYS (its flags cannot be inspected; glibc
# falls back to clone).  A foreign system-call ABI (i386, x32) kills the process.
# Memory that RLIMIT_AS does not count is refused too: memfd pages (one sample
# held 2.4 GiB of Shmem through memfd_create + write), memfd_secret, and the
# SysV / POSIX IPC objects (segments, message queues, semaphores) that outlive
# the mapping or the descriptor; the standard library needs none of them here.
_SECCOMP_ERRNO = {435: 38,  # clone3 -> ENOSYS
                  308: 1,  # setns
                  425: 1, 426: 1, 427: 1,  # io_uring_setup/enter/register
                  323: 1, 321: 1, 298: 1,  # userfaultfd, bpf, perf_event_open
                  248: 1, 249: 1, 250: 1,  # add_key, request_key, keyctl
                  319: 1, 447: 1,  # memfd_create, memfd_secret
                  29: 1, 30: 1, 31: 1, 67: 1,  # shmget, shmat, shmctl, shmdt
                  64: 1, 65: 1, 66: 1, 220: 1,  # semget, semop, semctl, semtimedop
                  68: 1, 69: 1, 70: 1, 71: 1,  # msgget, msgsnd, msgrcv, msgctl
                  240: 1, 241: 1, 242: 1, 243: 1, 244: 1, 245: 1}  # mq_open ... mq_getsetattr
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
BWRAP_ENV = {"PATH": "/usr/sbin:/usr/bin:/sbin:/bin"}  # bwrap runs as the sandbox's pid 1: no secrets in its environment
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
        out = subprocess.run([ldd, *binaries], capture_output=True, text=True, timeout=60, env=BWRAP_ENV).stdout
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
    opts += ["--perms", "0755", "--dir", PROGRAMS_DIR]
    for host, inside in _program_binds():
        opts += ["--ro-bind", host, inside]
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
    return short(lines[-1] if lines else "no output", 200)


def _build_sandbox() -> _Sandbox:
    asked, bwrap = _bwrap_path()
    if bwrap is None:
        raise SandboxUnavailable(f"code evaluation runs generated code only inside a bubblewrap sandbox, and {asked} "
                                 f"was not found: {INSTALL_HINT} (or set REWARDDS_BWRAP to the bwrap binary)")
    exe, binds, hidden, natives = _view()
    root = os.geteuid() == 0
    box = _Sandbox(bwrap, exe, tuple([bwrap] + _bwrap_options(root, binds, hidden)), "root" if root else "userns",
                   binds, natives, _seccomp_program())
    filter_fd = sealed(box.seccomp) if box.seccomp else None
    try:
        done = subprocess.run([*command(box, filter_fd), "-S", program("probe")], capture_output=True, text=True,
                              timeout=60, stdin=subprocess.DEVNULL, env=BWRAP_ENV, start_new_session=True,
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


def sandbox() -> _Sandbox:
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
    sandbox()


def sandbox_info() -> dict:
    """What this machine's sandbox uses (for logs/reports); raises SandboxUnavailable."""
    box = sandbox()
    return {"bwrap": box.bwrap, "mode": box.mode, "uid": SANDBOX_UID, "network": False,
            "namespaces": ["pid", "mount", "net", "ipc", "uts", "cgroup"] + (["user"] if box.mode == "userns" else []),
            "view": list(box.view), "programs": [program(name) for name in PROGRAMS]}


def sealed(data: bytes) -> int:
    """A read-only memfd holding ``data`` (the job): no file name, nothing left behind."""
    fd = os.memfd_create("rewardds-job", os.MFD_CLOEXEC | os.MFD_ALLOW_SEALING)
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view):]
    fcntl.fcntl(fd, fcntl.F_ADD_SEALS, fcntl.F_SEAL_SEAL | fcntl.F_SEAL_SHRINK | fcntl.F_SEAL_GROW | fcntl.F_SEAL_WRITE)
    os.lseek(fd, 0, os.SEEK_SET)
    return fd


def command(box: _Sandbox, filter_fd: int | None) -> list[str]:
    """bwrap, its options and the interpreter (isolated mode, no .pyc writing, UTF-8)."""
    seccomp = [] if filter_fd is None else ["--seccomp", str(filter_fd)]
    return [*box.prefix, *seccomp, box.python, "-I", "-B", "-X", "utf8"]
