# rewardds sandbox harness: plain values as JSON, shared by the solution and the judge
"""Plain values cross between the two sandboxed processes as JSON; anything else as a handle.

Decoding only ever builds builtin and standard-library values: the judge decodes what the
solution process sends without running any of its code. Standard library only; the encoder
handles a collections / decimal / fractions / datetime value only when that module is already
imported (it never imports one for the untrusted code), the decoder imports one only when a value
of it arrives.
"""
import sys

BIG_INT_BITS = 12000  # larger ints travel as hex (int <-> decimal text is limited)
MAX_DEPTH = 200


def make_encoder(store):
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
            return v if v.bit_length() <= BIG_INT_BITS else {"$i": format(v, "x")}
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
        if depth >= MAX_DEPTH or _id(v) in active:
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


def make_decoder(handle):
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
