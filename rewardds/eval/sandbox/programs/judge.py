# rewardds sandbox harness: the judge process
"""The judge: holds the tests and writes the verdict on a pipe only it has.

``python -I -B -S -X utf8 judge.py <memory bytes> <cpu seconds> <reply fd> <request fd> <verdict fd>``
inside bwrap, the job (JSON: tests, their plan from ``rewardds.eval.sandbox.plan``) on stdin.
It evaluates each assert as planned, with the values the solution process sends for the
sub-expressions that involve the solution; no code of the solution runs here.
"""
import os
import sys

if __name__ == "__main__":  # run by path inside the sandbox, never imported: its helpers sit beside it
    sys.path.insert(0, os.path.dirname(__file__))
    from codec import make_decoder as _make_decoder, make_encoder as _make_encoder
    from harness import confine as _confine, describe as _describe, read_job as _read_job
    # the code under test finds the interpreter as python -I -S leaves it: no extra path or module
    del sys.path[0], sys.modules["codec"], sys.modules["harness"]


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


if __name__ == "__main__":
    _judge()
