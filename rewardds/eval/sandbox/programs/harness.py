# rewardds sandbox harness: the trusted start of every sandboxed process
"""Confinement, the job and error descriptions, shared by the sandboxed programs.

Trusted code: it runs before any job is read, and before the untrusted code, in
each of the solution and judge processes. Standard library only.
"""
import os

SANDBOX_UID = 65534  # nobody: the sandbox's uid and gid
FSIZE_LIMIT = 16 * 2**20  # largest file the sandboxed code may write (bytes)
# open descriptors: each pipe (up to 1 MiB of buffer), socket or epoll set is kernel memory outside
# RLIMIT_AS; 2000 pipes held 185 MiB. Python and the harness need a dozen.
NOFILE_LIMIT = 64


def confine(memory_bytes, cpu_seconds):
    # Trusted, before any job is read: drop to the unprivileged uid (as root,
    # bwrap leaves us uid 0 with only CAP_SETUID/CAP_SETGID), check that no
    # capability is left, and set the resource limits.
    import resource
    if os.getuid() == 0 or os.geteuid() == 0:
        os.setgroups([])
        os.setresgid(SANDBOX_UID, SANDBOX_UID, SANDBOX_UID)
        os.setresuid(SANDBOX_UID, SANDBOX_UID, SANDBOX_UID)
    with open("/proc/self/status") as fh:
        caps = [line.split()[1] for line in fh if line.startswith(("CapEff:", "CapPrm:", "CapAmb:"))]
    if (os.getresuid() != (SANDBOX_UID, SANDBOX_UID, SANDBOX_UID)
            or os.getresgid() != (SANDBOX_UID, SANDBOX_UID, SANDBOX_UID)
            or len(caps) != 3 or any(int(c, 16) for c in caps)):
        os.write(2, b"sandbox: could not drop to an unprivileged uid without capabilities\n")
        os._exit(97)
    for res, soft, hard in ((resource.RLIMIT_AS, memory_bytes, memory_bytes),
                            (resource.RLIMIT_CPU, cpu_seconds, cpu_seconds + 1),
                            (resource.RLIMIT_FSIZE, FSIZE_LIMIT, FSIZE_LIMIT),
                            (resource.RLIMIT_CORE, 0, 0),
                            (resource.RLIMIT_NPROC, 0, 0),
                            (resource.RLIMIT_NOFILE, NOFILE_LIMIT, NOFILE_LIMIT),
                            (resource.RLIMIT_MSGQUEUE, 0, 0)):
        cur_hard = resource.getrlimit(res)[1]
        if cur_hard != resource.RLIM_INFINITY:
            hard = min(hard, cur_hard)
            soft = min(soft, hard)
        resource.setrlimit(res, (soft, hard))


def read_job():
    """The job (JSON) from stdin, a sealed memfd; stdin is then /dev/null."""
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


def describe(exc, memory_mb=None):
    """One line (at most 500 characters) naming ``exc``, safe against exceptions whose str() raises."""
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
