"""The sandbox's programs as modules: the codec and the harness helpers, on the host.

The solution and judge programs confine the process they run in, so they are exercised through
bubblewrap (tests/test_code_exec.py); here only that importing them does nothing.
"""
from __future__ import annotations

import collections
import datetime
import decimal
import fractions
import importlib
import json
import math
import os
import shutil
import sys

import pytest

from rewardds.eval.sandbox import bwrap
from rewardds.eval.sandbox.programs import codec, harness


def _roundtrip(value, store=None, handle=None):
    encode = codec.make_encoder(store or (lambda v: pytest.fail(f"{v!r} should be plain")))
    decode = codec.make_decoder(handle or (lambda ref: pytest.fail(f"unexpected handle {ref!r}")))
    wire = json.loads(json.dumps(encode(value), allow_nan=False))  # what crosses the pipe is strict JSON
    return decode(wire)


PLAIN = [
    None, True, False, 0, -7, 2**20000, 1.5, -0.0, "text", "", b"\x00\xff", bytearray(b"ab"), 3 + 4j,
    range(1, 10, 3), [1, [2, [3]]], (1, "a", (2,)), {1: "a", (2, 3): [4]}, {1, 2}, frozenset({"x"}),
    {"nested": [({1}, frozenset())]},
    collections.deque([1, 2], maxlen=5), collections.OrderedDict(b=1, a=2),
    decimal.Decimal("1.10"), fractions.Fraction(3, 7),
    datetime.datetime(2024, 1, 2, 3, 4, 5), datetime.date(2024, 1, 2), datetime.time(3, 4),
    datetime.timedelta(days=1, seconds=2, microseconds=3),
]


@pytest.mark.parametrize("value", PLAIN, ids=lambda v: type(v).__name__)
def test_plain_values_cross_exactly(value):
    back = _roundtrip(value)
    assert back == value and type(back) is type(value)


@pytest.mark.xfail(strict=True, reason="known bug, kept as it was (this change only moves the codec): the decoder "
                   "builds Counter(pairs), which counts the (key, count) pairs; a solution returning a Counter "
                   "fails an assert that compares it with an expected Counter or dict")
def test_a_counter_crosses_exactly():
    assert _roundtrip(collections.Counter("abca")) == collections.Counter("abca")


def test_special_floats_and_defaultdict_cross():
    assert math.isnan(_roundtrip(float("nan")))
    assert _roundtrip(float("-inf")) == float("-inf")
    d = _roundtrip(collections.defaultdict(list, {"a": [1]}))
    assert type(d) is collections.defaultdict and d == {"a": [1]} and d.default_factory is None


def test_subclasses_of_plain_types_travel_as_their_plain_value():
    class Score(int):
        pass

    class Names(list):
        pass

    assert type(_roundtrip(Score(3))) is int and type(_roundtrip(Names([1]))) is list


def test_other_objects_stay_behind_a_handle():
    kept = []

    def store(value):
        kept.append(value)
        return [len(kept), type(value).__name__]

    obj = object()
    wire = codec.make_encoder(store)([obj, 1])
    assert wire == [{"$h": [1, "object"]}, 1] and kept == [obj]
    assert codec.make_decoder(lambda ref: ("handle", ref))(wire) == [("handle", [1, "object"]), 1]


def test_cycles_and_deep_values_become_handles():
    cycle = []
    cycle.append(cycle)
    stored = []
    encode = codec.make_encoder(lambda v: stored.append(v) or [len(stored), "list"])
    assert encode(cycle) == [{"$h": [1, "list"]}] and stored == [cycle]
    deep = v = []
    for _ in range(codec.MAX_DEPTH + 5):
        v.append([])
        v = v[0]
    text = json.dumps(encode(deep))
    assert '"$h"' in text


@pytest.mark.parametrize("wire", [
    {"$nope": 1}, {"$t": [1], "$s": [1]}, {"$f": "1.5"}, {"$t": 5}, {"$c": ["a", 1]}, {"$r": [1, 2]},
    {"$d": [[1]]}, {"$i": 12}, {"$dq": [1.5, []]}, {"$fr": [1, "2"]},
])
def test_the_decoder_refuses_what_it_does_not_know(wire):
    with pytest.raises((ValueError, TypeError)):
        codec.make_decoder(lambda ref: ref)(wire)


def test_describe_is_one_short_line():
    assert harness.describe(ValueError("a\nb\tc")) == "ValueError: a b c"
    assert harness.describe(MemoryError(), 512) == "MemoryError: (memory limit 512 MB)"
    assert len(harness.describe(RuntimeError("x" * 2000))) == 500

    class Hostile(Exception):
        def __str__(self):
            raise RuntimeError("no")

    assert harness.describe(Hostile()) == "Hostile"


def test_the_runner_ships_the_program_files_by_path():
    for name in bwrap.PROGRAMS:
        host = bwrap._PROGRAMS_HOST / f"{name}.py"
        assert host.is_file() and host.read_text().startswith("# rewardds sandbox harness")
        assert bwrap.program(name) == f"{bwrap.PROGRAMS_DIR}/{name}.py"
    assert harness.SANDBOX_UID == 65534


@pytest.mark.parametrize("name", ["solution", "judge", "probe"])
def test_importing_a_program_confines_nothing(name):
    path, uid = list(sys.path), os.getuid()
    module = importlib.import_module(f"rewardds.eval.sandbox.programs.{name}")
    assert sys.path == path and os.getuid() == uid and "harness" not in sys.modules
    assert not hasattr(module, "_confine")


@pytest.mark.skipif(os.geteuid() != 0 or shutil.which("bwrap") is None,
                    reason="needs bwrap, and root to hand a program to another owner")
def test_a_program_the_sandbox_cannot_read_makes_the_probe_refuse_in_one_line(tmp_path, monkeypatch):
    for name in bwrap.PROGRAMS:
        (tmp_path / f"{name}.py").write_text((bwrap._PROGRAMS_HOST / f"{name}.py").read_text())
    os.chown(tmp_path / "codec.py", 65534, 65534)  # neither root's nor readable by others
    (tmp_path / "codec.py").chmod(0o600)
    monkeypatch.setattr(bwrap, "_PROGRAMS_HOST", tmp_path)
    with pytest.raises(bwrap.SandboxUnavailable) as err:
        bwrap._build_sandbox()
    assert "\n" not in str(err.value) and "codec.py" in str(err.value)
