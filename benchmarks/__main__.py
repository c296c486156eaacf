"""Run every benchmark in sequence with small settings: ``python -m benchmarks``.

    python -m benchmarks                       # each benchmark's SMALL_ARGS (dp_step: reference model, 5 steps;
                                               # run and sweep: experiment=smoke)
    python -m benchmarks --only dp_step        # one of them (repeatable, or comma-separated)
    python -m benchmarks --only judge          # reward models: bt vs gfriend judgement accuracy (bench_judge)
    python -m benchmarks --full                # every benchmark with its own defaults (full settings: long)
    python -m benchmarks --only run -- --args trainer.num_threads=2   # after --: passed to each benchmark
    python -m benchmarks --list

A benchmark is a module ``benchmarks/bench_<name>.py`` with ``main(argv)`` (an int return is its exit code);
its optional ``SMALL_ARGS`` list is what this runner passes without ``--full``.
"""
from __future__ import annotations

import argparse
import importlib
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ORDER = ("dp_step", "run", "sweep")  # ours first, in this order; any other bench_*.py after them


def discover() -> list[str]:
    found = sorted(p.stem[len("bench_"):] for p in HERE.glob("bench_*.py"))
    return [n for n in ORDER if n in found] + [n for n in found if n not in ORDER]


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    extra: list[str] = []
    if "--" in argv:
        i = argv.index("--")
        argv, extra = argv[:i], argv[i + 1:]
    names = discover()
    ap = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__.split("\n\n")[0])
    ap.add_argument("--only", action="append", default=[], help=f"benchmark name: {', '.join(names)}")
    ap.add_argument("--full", action="store_true", help="each benchmark's own (full) defaults instead of SMALL_ARGS")
    ap.add_argument("--list", action="store_true")
    args = ap.parse_args(argv)
    if args.list:
        print("\n".join(names))
        return 0
    chosen = [n for o in args.only for n in o.split(",") if n] or names
    unknown = [n for n in chosen if n not in names]
    if unknown:
        print(f"error: unknown benchmark {', '.join(unknown)} (available: {', '.join(names)})", file=sys.stderr)
        return 2
    status = 0
    for name in chosen:
        mod = importlib.import_module(f"benchmarks.bench_{name}")
        if not hasattr(mod, "main"):
            print(f"== {name}: skipped (no main(argv))")
            continue
        bench_argv = ([] if args.full else list(getattr(mod, "SMALL_ARGS", []))) + extra
        print(f"== {name}: python -m benchmarks.bench_{name} {' '.join(bench_argv)}".rstrip(), flush=True)
        t0 = time.perf_counter()
        rc = mod.main(bench_argv)
        rc = rc if isinstance(rc, int) else 0  # some benchmarks return their results instead of an exit code
        print(f"== {name}: exit {rc} in {time.perf_counter() - t0:.1f} s\n", flush=True)
        status = status or rc
    return status


if __name__ == "__main__":
    sys.exit(main())
