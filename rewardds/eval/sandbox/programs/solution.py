# rewardds sandbox harness: the solution process
"""The solution process: runs the untrusted code and answers the judge's requests.

``python -I -B -S -X utf8 solution.py <memory bytes> <cpu seconds> <request fd> <reply fd>``
inside bwrap, the job (JSON: code, preamble, entry point) on stdin. Nothing in it is
secret, so nothing the code does can fake a pass; the captured names only keep its
replies working when the code monkeypatches.
"""
import os
import sys

if __name__ == "__main__":  # run by path inside the sandbox, never imported: its helpers sit beside it
    sys.path.insert(0, os.path.dirname(__file__))
    from codec import make_decoder as _make_decoder, make_encoder as _make_encoder
    from harness import confine as _confine, describe as _describe, read_job as _read_job
    # the code under test finds the interpreter as python -I -S leaves it: no extra path or module
    del sys.path[0], sys.modules["codec"], sys.modules["harness"]


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


if __name__ == "__main__":
    _serve()
