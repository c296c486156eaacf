"""DP-SGD step cost vs the same non-DP step (time and peak memory).

Same model (a peft-LoRA Llama built from a config), same batch, same optimiser:

* ``nondp``  - ``CausalLMModule(dp=None)._plain_step(batch)``
* ``hooks`` / ``functorch`` / ``ghost`` - ``CausalLMModule(dp=...)._dp_step(batch)``
  with noise multiplier 1.0 and the batch as one logical batch
  (physical batch size = batch size, so one chunk, one optimiser step).

Time: every variant gets its own model copy (same seed) in this process; after
warm-up the variants are stepped interleaved (A B C D A B C D ...) and the
median ms/step is reported with its ratio to ``nondp``.

Memory: one fresh subprocess per variant (peak RSS is a process-wide
high-water mark, so variants cannot share a process). It reports
``ru_maxrss`` after building everything and after the steps; the delta is the
extra peak the step needs. On CUDA, ``torch.cuda.max_memory_allocated`` minus
the memory allocated before the steps.

    python -m benchmarks.bench_dp_step                 # reference: 4 layers, d=256, seq 128, batch 16
    python -m benchmarks.bench_dp_step --quick --json  # tiny model, seconds
    python -m benchmarks.bench_dp_step --profile hooks # where the DP overhead goes
    python -m benchmarks.bench_dp_step --processes 2   # the DP step over 2 gloo ranks vs 1 process (CPU)

``--processes N`` (CPU, torch.distributed gloo): the same logical batch stepped by
one process with all ``--threads`` and by N ranks with threads/N each (each rank
clips its share of the records, rank 0 adds the noise, one all-reduce), in one
run: half the 1-process steps, the N-rank steps, the other half (never at the
same time). Reported: median ms of each and their ratio (N-rank / 1-process).
"""
from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

MODES = ("hooks", "functorch", "ghost")
TARGET_RATIO = 1.10
REPO = Path(__file__).resolve().parents[1]

# Used by `python -m benchmarks` (small, but still the reference model shape).
SMALL_ARGS = ["--steps", "5", "--warmup", "2"]


def build_parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(prog="python -m benchmarks.bench_dp_step", description=__doc__.split("\n\n")[0])
    ap.add_argument("--layers", type=int, default=4)
    ap.add_argument("--hidden", type=int, default=256)
    ap.add_argument("--intermediate", type=int, default=None, help="MLP width (default 2 x hidden)")
    ap.add_argument("--heads", type=int, default=4)
    ap.add_argument("--kv-heads", type=int, default=None, help="key/value heads (GQA; default: --heads)")
    ap.add_argument("--vocab", type=int, default=1024, help="vocabulary size (the tiny model's default)")
    ap.add_argument("--seq", type=int, default=128)
    ap.add_argument("--batch", type=int, default=16)
    ap.add_argument("--lora-r", type=int, default=8)
    ap.add_argument("--lora-alpha", type=int, default=16)
    ap.add_argument("--lora-targets", default="q_proj,k_proj,v_proj,o_proj")
    ap.add_argument("--modes", default=",".join(MODES), help="comma-separated grad_sample_modes")
    ap.add_argument("--steps", type=int, default=10, help="timed steps per variant")
    ap.add_argument("--warmup", type=int, default=2)
    ap.add_argument("--device", default="auto", help="cpu | cuda | auto (cuda when available)")
    ap.add_argument("--threads", type=int, default=None, help="torch.set_num_threads (default: torch's)")
    ap.add_argument("--no-memory", action="store_true", help="skip the per-variant memory subprocesses")
    ap.add_argument("--memory-steps", type=int, default=2)
    ap.add_argument("--json", action="store_true", help="print one JSON object instead of the table")
    ap.add_argument("--quick", action="store_true", help="tiny model, 2 steps: a smoke test, not a measurement")
    ap.add_argument("--profile", metavar="VARIANT", default=None,
                    help="profile one variant (nondp|hooks|functorch|ghost) with torch.profiler and cProfile")
    ap.add_argument("--profile-steps", type=int, default=3)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--processes", type=int, default=1,
                    help="N > 1: time the DP step over N gloo ranks against 1 process, interleaved (CPU)")
    ap.add_argument("--_memory-child", dest="memory_child", default=None, help=argparse.SUPPRESS)
    return ap


def resolve(args) -> argparse.Namespace:
    if args.quick:
        args.layers, args.hidden, args.seq, args.batch, args.vocab, args.heads = 1, 32, 16, 4, 128, 4
        args.steps, args.warmup, args.memory_steps = 2, 1, 1
    if args.intermediate is None:
        args.intermediate = 2 * args.hidden
    if args.device == "auto":
        import torch

        args.device = "cuda" if torch.cuda.is_available() else "cpu"
    return args


# -- building ---------------------------------------------------------------

class _Lora:
    def __init__(self, args):
        self.r, self.alpha, self.dropout = args.lora_r, args.lora_alpha, 0.0
        self.target_modules = [t for t in args.lora_targets.split(",") if t]


def build_model(args):
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM

    from rewardds.models.loading import add_lora

    torch.manual_seed(args.seed)
    cfg = LlamaConfig(vocab_size=args.vocab, hidden_size=args.hidden, intermediate_size=args.intermediate,
                      num_hidden_layers=args.layers, num_attention_heads=args.heads,
                      num_key_value_heads=args.kv_heads or args.heads,
                      max_position_embeddings=max(256, args.seq), pad_token_id=0, bos_token_id=1, eos_token_id=2,
                      tie_word_embeddings=False)
    with torch.device(args.device):  # built (randomly initialised) on the device: a 0.5B shape in seconds on a GPU
        model = LlamaForCausalLM(cfg)  # on its device before LoRA (see add_lora)
    model = add_lora(model, _Lora(args))
    for n, p in model.named_parameters():  # non-zero LoRA B: every LoRA weight gets a gradient, as after step 1
        if p.requires_grad and "lora_B" in n:
            torch.nn.init.normal_(p, std=0.02)
    model.train()
    return model


def build_batch(args):
    import torch

    g = torch.Generator().manual_seed(args.seed + 1)
    ids = torch.randint(3, args.vocab, (args.batch, args.seq), generator=g)
    return {"input_ids": ids.to(args.device), "labels": ids.clone().to(args.device),
            "attention_mask": torch.ones_like(ids).to(args.device),
            "record_of_row": torch.arange(args.batch), "num_records": args.batch}


def build_module(args, variant: str):
    from rewardds.training.dp import DPSettings
    from rewardds.training.lm import CausalLMModule

    dp = None
    if variant != "nondp":
        num_records = 100 * args.batch
        dp = DPSettings(noise_multiplier=1.0, max_grad_norm=1.0, sample_rate=args.batch / num_records,
                        num_records=num_records, physical_batch_size=args.batch, grad_sample_mode=variant)
    module = CausalLMModule(build_model(args), lr=1e-4, pad_id=0, dp=dp, seed=args.seed)
    module.configure_optimizers()
    return module


def step(module, batch):
    if module.dp is None:
        return module._plain_step(batch)
    return module._dp_step(batch)


def _sync(device):
    if device == "cuda":
        import torch

        torch.cuda.synchronize()


# -- timing -------------------------------------------------------------------

def time_variants(args, variants):
    modules, errors = {}, {}
    batch = build_batch(args)
    for v in variants:
        try:
            modules[v] = build_module(args, v)
            for _ in range(args.warmup):
                step(modules[v], batch)
            _sync(args.device)
        except Exception as exc:  # noqa: BLE001 - reported, the other variants still run
            errors[v] = _describe(exc)
            modules.pop(v, None)
    times = {v: [] for v in modules}
    for _ in range(args.steps):
        for v, m in modules.items():  # interleaved: A B C D A B C D ...
            _sync(args.device)
            t0 = time.perf_counter()
            step(m, batch)
            _sync(args.device)
            times[v].append(time.perf_counter() - t0)
    return times, errors


def _describe(exc: BaseException) -> str:
    import traceback

    tb = traceback.extract_tb(exc.__traceback__)
    where = next((f for f in reversed(tb) if "rewardds" in f.filename or "benchmarks" in f.filename), tb[-1] if tb else None)
    loc = f" at {Path(where.filename).name}:{where.lineno} ({where.name})" if where else ""
    last = f"; raised in {Path(tb[-1].filename).name}:{tb[-1].lineno} ({tb[-1].name})" if tb else ""
    return f"{type(exc).__name__}: {exc}{loc}{last}"


# -- several processes (gloo) ---------------------------------------------------------

def _rank_share(batch, rank: int, size: int):
    import torch

    from rewardds.training.base import select_records

    return select_records(batch, torch.arange(rank, int(batch["num_records"]), size))


def _processes_rank(rank: int, args, port: int, folder: str) -> None:
    """One of N ranks: its share of the batch, threads/N, timed steps (barrier to barrier)."""
    import torch
    import torch.distributed as dist

    size = args.processes
    torch.set_num_threads(max(1, args.threads // size))
    os.environ.update({"MASTER_ADDR": "127.0.0.1", "MASTER_PORT": str(port)})
    dist.init_process_group("gloo", rank=rank, world_size=size)
    module, share = build_module(args, args.modes.split(",")[0]), _rank_share(build_batch(args), rank, size)
    times = []
    for _ in range(args.warmup + args.steps):
        dist.barrier()
        t0 = time.perf_counter()
        step(module, share)
        dist.barrier()  # the N-rank step ends when its slowest rank does
        times.append(time.perf_counter() - t0)
    dist.destroy_process_group()
    if rank == 0:
        with open(os.path.join(folder, "times.json"), "w") as fh:
            json.dump(times[args.warmup:], fh)


def _time_single(module, batch, steps: int) -> list[float]:
    times = []
    for _ in range(steps):
        t0 = time.perf_counter()
        step(module, batch)
        times.append(time.perf_counter() - t0)
    return times


def time_processes(args) -> dict:
    """Median ms/step of the DP step on 1 process (all threads) and on ``args.processes`` gloo
    ranks (threads/N each), A-B-A in one run: half the 1-process steps before the ranks start,
    half after they end (never concurrently: the machine's cores are the point)."""
    import socket
    import tempfile

    import torch
    import torch.multiprocessing as mp

    args.threads = args.threads or torch.get_num_threads()
    torch.set_num_threads(args.threads)
    mode = args.modes.split(",")[0]
    single, batch = build_module(args, mode), build_batch(args)
    _time_single(single, batch, args.warmup)
    before = _time_single(single, batch, (args.steps + 1) // 2)
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    with tempfile.TemporaryDirectory() as folder:
        mp.start_processes(_processes_rank, args=(args, port, folder), nprocs=args.processes, start_method="spawn")
        with open(os.path.join(folder, "times.json")) as fh:
            ranks = json.load(fh)
    torch.set_num_threads(args.threads)
    ones = before + _time_single(single, batch, args.steps // 2)
    one, many = statistics.median(ones) * 1000, statistics.median(ranks) * 1000
    return {"mode": mode, "processes": args.processes, "batch": args.batch, "steps": args.steps,
            "threads_total": args.threads, "threads_per_rank": max(1, args.threads // args.processes),
            "one_process_ms": round(one, 2), "n_process_ms": round(many, 2), "ratio": round(many / one, 3),
            "one_process_times_ms": [round(t * 1000, 1) for t in ones],
            "n_process_times_ms": [round(t * 1000, 1) for t in ranks], "load_avg": os.getloadavg()[0]}


def render_processes(r: dict) -> str:
    return (f"DP step ({r['mode']}), batch {r['batch']}, {r['steps']} interleaved rounds: 1 process "
            f"({r['threads_total']} threads) {r['one_process_ms']:.1f} ms, {r['processes']} gloo ranks "
            f"({r['threads_per_rank']} threads each) {r['n_process_ms']:.1f} ms; ratio {r['ratio']:.3f} "
            f"(load avg {r['load_avg']:.1f} after)")


# -- memory (one fresh process per variant) -------------------------------------

def _maxrss_bytes(who=resource.RUSAGE_SELF) -> int:
    rss = resource.getrusage(who).ru_maxrss
    return rss if sys.platform == "darwin" else rss * 1024  # Linux reports KiB


def _proc_status_bytes(field: str) -> int | None:
    try:
        with open("/proc/self/status") as fh:
            for line in fh:
                if line.startswith(field + ":"):
                    return int(line.split()[1]) * 1024
    except OSError:
        return None
    return None


def _reset_peak_rss() -> int | None:
    """Linux: reset this process's RSS high-water mark (VmHWM) to its current RSS; return that RSS (bytes)."""
    try:
        with open("/proc/self/clear_refs", "w") as fh:
            fh.write("5")
    except OSError:
        return None
    return _proc_status_bytes("VmRSS")


def memory_child(args) -> dict:
    """Peak memory of steady-state steps above the state after one warm-up step (model, optimiser state, batch)."""
    import gc

    import torch

    variant = args.memory_child
    module = build_module(args, variant)
    batch = build_batch(args)
    step(module, batch)  # warm-up: optimiser state and gradient buffers exist from now on
    gc.collect()
    if args.device == "cuda":
        torch.cuda.synchronize()
        before = torch.cuda.memory_allocated()
        torch.cuda.reset_peak_memory_stats()
        kind = "cuda max_memory_allocated"
    else:
        # Not ru_maxrss: it also carries the parent's high-water mark over fork+exec (vfork: the exec'ing child
        # still shares the parent's mm), so a child of a big benchmark process reads the parent's peak.
        before = _reset_peak_rss()
        kind = "RSS high-water mark (VmHWM) after a reset"
        if before is None:  # no reset: the delta is only what the steps add above the build's own peak
            before = _maxrss_bytes()
            kind = "ru_maxrss delta (no peak reset available: lower bound)"
    for _ in range(args.memory_steps):
        step(module, batch)
    if args.device == "cuda":
        torch.cuda.synchronize()
        peak = torch.cuda.max_memory_allocated()
    else:
        peak = _proc_status_bytes("VmHWM") if kind.startswith("RSS") else _maxrss_bytes()
    return {"variant": variant, "kind": kind, "before": before, "peak": peak, "delta": peak - before}


def measure_memory(args, argv, variants):
    """One fresh subprocess per variant, run concurrently (each reads only its own high-water mark)."""
    procs = {}
    for v in variants:
        cmd = [sys.executable, "-m", "benchmarks.bench_dp_step", *argv, "--_memory-child", v]
        # glibc: serve every allocation >= 64 KiB by mmap and give it back on free (no dynamic threshold), so
        # RSS follows live tensors instead of the allocator's cache
        env = dict(os.environ, MALLOC_MMAP_THRESHOLD_="65536")
        procs[v] = subprocess.Popen(cmd, cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    out = {}
    for v, p in procs.items():
        stdout, stderr = p.communicate()
        lines = [ln for ln in stdout.splitlines() if ln.startswith("{")]
        if p.returncode != 0 or not lines:
            err = (stderr.strip().splitlines() or ["no output"])[-1]
            out[v] = {"error": f"exit {p.returncode}: {err}"}
        else:
            out[v] = json.loads(lines[-1])
    return out


# -- profiling ----------------------------------------------------------------------

def _op_self_ms(module, batch, steps, device) -> tuple[dict, float]:
    from torch.profiler import ProfilerActivity, profile

    acts = [ProfilerActivity.CPU] + ([ProfilerActivity.CUDA] if device == "cuda" else [])
    t0 = time.perf_counter()
    with profile(activities=acts) as prof:
        for _ in range(steps):
            step(module, batch)
        _sync(device)
    wall = (time.perf_counter() - t0) / steps * 1000
    attr = "self_device_time_total" if device == "cuda" else "self_cpu_time_total"
    return {e.key: getattr(e, attr) / 1000 / steps for e in prof.key_averages()}, wall


def profile_variant(args) -> None:
    """Per-op self time of ``variant`` minus the same op in the non-DP step, then Python frames."""
    import cProfile
    import io
    import pstats

    v = args.profile
    batch = build_batch(args)
    mods = {"nondp": build_module(args, "nondp")}
    if v != "nondp":
        mods[v] = build_module(args, v)
    for m in mods.values():
        for _ in range(args.warmup):
            step(m, batch)
    ops, walls = {}, {}
    for name, m in mods.items():
        ops[name], walls[name] = _op_self_ms(m, batch, args.profile_steps, args.device)
    print(f"== torch.profiler self time per step (ms), {args.profile_steps} steps each; wall under the profiler: "
          + ", ".join(f"{k} {w:.0f} ms" for k, w in walls.items()) + " ==")
    base = ops["nondp"]
    other = ops.get(v, base)
    names = sorted(set(base) | set(other), key=lambda k: -(other.get(k, 0) - base.get(k, 0)))
    print(f"{'op':<60} {'nondp':>9} {v:>9} {'extra':>9}")
    for k in names[:25]:
        b, o = base.get(k, 0.0), other.get(k, 0.0)
        print(f"{k[:60]:<60} {b:9.2f} {o:9.2f} {o - b:+9.2f}")
    print(f"{'TOTAL self':<60} {sum(base.values()):9.2f} {sum(other.values()):9.2f} "
          f"{sum(other.values()) - sum(base.values()):+9.2f}")
    pr = cProfile.Profile()
    pr.enable()
    for _ in range(args.profile_steps):
        step(mods[v], batch)
    pr.disable()
    buf = io.StringIO()
    st = pstats.Stats(pr, stream=buf)
    st.sort_stats("tottime").print_stats(r"rewardds|opacus|peft|bench_dp_step", 25)
    print(f"== cProfile, {v}, {args.profile_steps} steps: Python frames of rewardds/opacus/peft by own time ==")
    print(buf.getvalue())


# -- main ---------------------------------------------------------------------------

def render(result: dict) -> str:
    cfg = result["config"]
    title = (f"DP step vs non-DP step: peft-LoRA Llama {cfg['layers']} layers d={cfg['hidden']} seq {cfg['seq']} "
             f"batch {cfg['batch']} (LoRA r={cfg['lora_r']} on {cfg['lora_targets']}, "
             f"{cfg['trainable_params']} trainable params), device {cfg['device']}, {cfg['threads']} threads, "
             f"{cfg['steps']} interleaved steps (median), load avg {cfg['load_avg']:.2f} before")
    header = (f"{'variant':<10} {'ms/step':>9} {'ratio':>7} {'paired':>7} {'min ms':>8} {'max ms':>8} {'peak +MiB':>10} "
              f"{'mem ratio':>9}  target")
    lines = [title, header]
    base_mem = result["variants"].get("nondp", {}).get("peak_delta_mib")
    for v, r in result["variants"].items():
        if "error" in r:
            lines.append(f"{v:<10} FAILED: {r['error']}")
            continue
        mem = r.get("peak_delta_mib")
        mem_s = f"{mem:10.1f}" if mem is not None else f"{'-':>10}"
        mr = f"{mem / base_mem:9.2f}" if mem is not None and base_mem else f"{'-':>9}"
        tgt = "" if v == "nondp" else (f"ok (<= {TARGET_RATIO:.2f}x)" if r["ratio"] <= TARGET_RATIO else
                                        f"ABOVE {TARGET_RATIO:.2f}x")
        lines.append(f"{v:<10} {r['median_ms']:9.1f} {r['ratio']:7.3f} {r['paired_ratio']:7.3f} {r['min_ms']:8.1f} {r['max_ms']:8.1f} {mem_s} {mr}  {tgt}")
    lines.append("ratio: median ms / non-DP median ms; paired: median over rounds of the per-round ratio")
    lines.append("peak +MiB: peak memory of a step above the state after a warm-up step "
                 f"({result['memory_kind']}; a fresh process per variant)")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    args = resolve(build_parser().parse_args(argv))
    import torch

    if args.threads:
        torch.set_num_threads(args.threads)
    if args.memory_child:
        print(json.dumps(memory_child(args)))
        return 0
    if args.profile:
        profile_variant(args)
        return 0
    modes = [m for m in args.modes.split(",") if m]
    unknown = [m for m in modes if m not in MODES]
    if unknown:
        print(f"error: unknown grad_sample_mode {unknown} (expected {', '.join(MODES)})", file=sys.stderr)
        return 2
    if args.processes > 1:
        if args.device != "cpu":
            print("error: --processes: only --device cpu (torch.distributed gloo) is supported", file=sys.stderr)
            return 2
        if args.batch < args.processes:
            print(f"error: --batch {args.batch} gives a rank no record with --processes {args.processes}",
                  file=sys.stderr)
            return 2
        r = time_processes(args)
        print(json.dumps({"benchmark": "dp_step_processes", **r}, indent=1) if args.json else render_processes(r))
        return 0
    variants = ["nondp", *modes]
    load_before = os.getloadavg()[0]  # before our own threads add to it
    times, errors = time_variants(args, variants)
    child_argv = [a for a in argv if a not in ("--json",)]
    if args.threads is None:
        child_argv += ["--threads", str(torch.get_num_threads())]
    mem = {} if args.no_memory else measure_memory(args, child_argv, [v for v in variants if v not in errors])
    probe = build_model(args)
    result = {
        "benchmark": "dp_step",
        "config": {"layers": args.layers, "hidden": args.hidden, "intermediate": args.intermediate, "seq": args.seq,
                   "batch": args.batch, "vocab": args.vocab, "lora_r": args.lora_r, "lora_targets": args.lora_targets,
                   "trainable_params": sum(p.numel() for p in probe.parameters() if p.requires_grad),
                   "device": args.device, "threads": torch.get_num_threads(), "steps": args.steps,
                   "warmup": args.warmup, "torch": torch.__version__, "load_avg": load_before},
        "memory_kind": "not measured",
        "target_ratio": TARGET_RATIO,
        "variants": {},
    }
    base = statistics.median(times["nondp"]) if times.get("nondp") else None
    for v in variants:
        if v in errors:
            result["variants"][v] = {"error": errors[v]}
            continue
        ms = [t * 1000 for t in times[v]]
        med = statistics.median(ms)
        r = {"median_ms": round(med, 2), "min_ms": round(min(ms), 2), "max_ms": round(max(ms), 2),
             "ratio": round(med / (base * 1000), 3) if base else None,
             # median over rounds of (this variant / non-DP in the same round): robust to load drifting
             "paired_ratio": round(statistics.median(t / b for t, b in zip(times[v], times["nondp"])), 3)
             if base else None,
             "times_ms": [round(t, 2) for t in ms]}
        m = mem.get(v)
        if m and "error" not in m:
            result["memory_kind"] = m["kind"]
            r["peak_delta_mib"] = round(m["delta"] / 2**20, 1)
            r["peak_mib"] = round(m["peak"] / 2**20, 1)
        elif m:
            r["memory_error"] = m["error"]
        result["variants"][v] = r
    print(json.dumps(result, indent=1) if args.json else render(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
