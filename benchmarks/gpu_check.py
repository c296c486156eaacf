"""The GPU check: everything that needs a GPU, in one go, into ONE JSON file.

    bash benchmarks/gpu_check.sh                        # on the GPU machine: < 8 minutes
    python -m benchmarks.gpu_check --out gpu_check.json [--parts dp_step,smoke] [--dry-run]
    python -m benchmarks.gpu_check --device cpu         # tiny shapes on the CPU (tests)

Parts (each a subprocess with its own timeout, all inside one overall budget; a
part that fails or times out is recorded with its error and the others still run;
the JSON is rewritten after every part, so even a killed check leaves the parts
done so far):

* ``dp_step``: benchmarks/bench_dp_step.py on a Qwen2-0.5B-shaped Llama (hidden
  896, 24 layers, 14 heads, 2 kv heads, MLP 4864, vocab 151936; random weights
  from a config), LoRA, non-DP vs DP step (hooks, ghost);
* ``sampler``: benchmarks/bench_sampler.py --size 0.5b, HF vs vLLM throughput;
* ``sampler_lora``: the same 0.5B shape with a LoRA adapter (r 16 on q,k,v,o),
  HF (peft) vs vLLM (LoRA served per request), tokens/s;
* ``smoke``: the smoke pipeline with ``trainer=gpu sampler=vllm``.

``--device cpu`` runs the same parts with tiny shapes and the HF backend only;
``--dry-run`` writes the plan (commands, timeouts) without running anything.
Exit status 0 when every part passed, 1 otherwise (the JSON says which).
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
PARTS = ("dp_step", "sampler", "sampler_lora", "smoke")
BUDGET_S = 460  # all parts together: the check must end within 8 minutes, start-up included
TIMEOUTS = {"dp_step": 110, "sampler": 130, "sampler_lora": 100, "smoke": 170}
QWEN05 = ["--layers", "24", "--hidden", "896", "--intermediate", "4864", "--heads", "14", "--kv-heads", "2",
          "--vocab", "151936"]


@dataclass
class Part:
    name: str
    command: list[str]
    timeout_s: float
    figures_file: str | None = None  # JSON the part writes; else its stdout's JSON
    result: dict = field(default_factory=dict)


def build_parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(prog="python -m benchmarks.gpu_check", description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", default="gpu_check.json", help="the one JSON of results")
    ap.add_argument("--device", choices=["cuda", "cpu"], default="cuda", help="cpu: tiny shapes, HF only")
    ap.add_argument("--parts", default=",".join(PARTS), help=f"comma-separated subset of {', '.join(PARTS)}")
    ap.add_argument("--budget", type=float, default=BUDGET_S, help="seconds for all parts together")
    ap.add_argument("--timeout", action="append", default=[], metavar="PART=SECONDS",
                    help="override one part's timeout (repeatable)")
    ap.add_argument("--workdir", default=None, help="scratch folder (default: next to --out)")
    ap.add_argument("--dry-run", action="store_true", help="write the plan, run nothing")
    ap.add_argument("--_lora-child", dest="lora_child", default=None, help=argparse.SUPPRESS)
    return ap


def _fail(msg: str):
    print(f"error: {msg}", file=sys.stderr)
    raise SystemExit(2)


def parse(argv: list[str]) -> argparse.Namespace:
    """Arguments, checked: unknown parts or malformed timeouts end in one ``error:`` line (exit 2)."""
    args = build_parser().parse_args(argv)
    args.parts = [p for p in args.parts.split(",") if p]
    unknown = [p for p in args.parts if p not in PARTS]
    if unknown or not args.parts:
        _fail(f"--parts: unknown {', '.join(unknown) or '(none given)'}; expected some of {', '.join(PARTS)}")
    if args.budget <= 0:
        _fail(f"--budget must be > 0 seconds, got {args.budget}")
    timeouts = dict(TIMEOUTS)
    for item in args.timeout:
        name, _, value = item.partition("=")
        try:
            seconds = float(value)
        except ValueError:
            seconds = -1.0
        if name not in PARTS or seconds <= 0:
            _fail(f"--timeout {item!r}: expected PART=SECONDS with PART one of {', '.join(PARTS)}, SECONDS > 0")
        timeouts[name] = seconds
    args.timeouts = timeouts
    return args


# -- the plan -------------------------------------------------------------------

def _py(*module_args: str) -> list[str]:
    return [sys.executable, *module_args]


def plan(args, work: Path) -> list[Part]:
    """The parts to run, in order, with their commands (GPU shapes or the tiny CPU ones)."""
    gpu = args.device == "cuda"
    cmds = {
        "dp_step": (_py("-m", "benchmarks.bench_dp_step", "--device", "cuda", *QWEN05, "--seq", "256", "--batch",
                        "8", "--steps", "5", "--warmup", "2", "--modes", "hooks,ghost", "--no-memory", "--json")
                    if gpu else _py("-m", "benchmarks.bench_dp_step", "--quick", "--device", "cpu", "--modes",
                                    "hooks", "--no-memory", "--json"), None),
        "sampler": (_py("-m", "benchmarks.bench_sampler", "--size", "0.5b", "--prompts", "64", "--n", "4",
                        "--max-new-tokens", "64", "--enforce-eager", "--json", str(work / "sampler.json"))
                    if gpu else _py("-m", "benchmarks.bench_sampler", "--backends", "hf", "--hidden", "64",
                                    "--prompts", "4", "--n", "1", "--max-new-tokens", "8", "--json",
                                    str(work / "sampler.json")), str(work / "sampler.json")),
        "sampler_lora": (_py("-m", "benchmarks.gpu_check", "--device", args.device, "--_lora-child",
                             str(work / "sampler_lora.json")), str(work / "sampler_lora.json")),
        "smoke": (_py(str(REPO / "run.py"), "experiment=smoke", *(["trainer=gpu", "sampler=vllm"] if gpu else []),
                      f"hydra.run.dir={work / 'smoke'}", f"cache.dir={work / 'cache'}"),
                  str(work / "smoke" / "metrics.json")),
    }
    return [Part(name, cmds[name][0], args.timeouts[name], cmds[name][1]) for name in args.parts]


# -- running ----------------------------------------------------------------------

def _tail(text: str, lines: int = 12) -> str:
    return "\n".join(text.strip().splitlines()[-lines:])


def _stdout_json(stdout: str) -> dict | None:
    start = stdout.find("{")
    if start < 0:
        return None
    try:
        return json.loads(stdout[start:])
    except json.JSONDecodeError:
        return None


def figure_errors(figures) -> list[str]:
    """Every ``error`` a part's results hold (a benchmark records a failed variant and goes on)."""
    if isinstance(figures, dict):
        found = [f"{k}: {v}" for k, v in figures.items() if k in ("error", "memory_error") and isinstance(v, str)]
        for k, v in figures.items():
            found += [f"{k}.{e}" for e in figure_errors(v)]
        return found
    if isinstance(figures, list):
        return [e for v in figures for e in figure_errors(v)]
    return []


def run_part(part: Part, timeout_s: float) -> dict:
    """Run one part; its status (ok | failed | timeout), wall time, figures or error. Never raises."""
    t0 = time.monotonic()
    res: dict = {"timeout_s": round(timeout_s, 1), "command": part.command}
    env = dict(os.environ, REWARDDS_NO_BAR="1", PYTHONPATH=f"{REPO}{os.pathsep}{os.environ.get('PYTHONPATH', '')}")
    try:
        proc = subprocess.run(part.command, cwd=REPO, env=env, capture_output=True, text=True, timeout=timeout_s)
    except subprocess.TimeoutExpired as exc:
        err = exc.stderr.decode(errors="replace") if isinstance(exc.stderr, bytes) else (exc.stderr or "")
        res.update(status="timeout", seconds=round(time.monotonic() - t0, 1),
                   error=f"no result within {timeout_s:.0f} s", stderr_tail=_tail(err))
        return res
    except OSError as exc:
        res.update(status="failed", seconds=round(time.monotonic() - t0, 1), error=f"{type(exc).__name__}: {exc}")
        return res
    res["seconds"] = round(time.monotonic() - t0, 1)
    figures = None
    if part.figures_file and Path(part.figures_file).exists():
        figures = json.loads(Path(part.figures_file).read_text())
    elif not part.figures_file:
        figures = _stdout_json(proc.stdout)
    if proc.returncode != 0:
        res.update(status="failed", error=f"exit {proc.returncode}: {_tail(proc.stderr, 1)}",
                   stderr_tail=_tail(proc.stderr))
    elif figures is None:
        res.update(status="failed", error="the part wrote no results", stderr_tail=_tail(proc.stderr))
    elif figure_errors(figures):
        res.update(status="failed", error="; ".join(figure_errors(figures))[:2000])
    else:
        res.update(status="ok")
    if figures is not None:
        res["figures"] = figures
    return res


def write(out: Path, report: dict) -> None:
    tmp = out.with_suffix(out.suffix + ".tmp")
    tmp.write_text(json.dumps(report, indent=1) + "\n")
    tmp.replace(out)


def _gpu_name() -> str | None:
    try:
        import torch

        return torch.cuda.get_device_name(0) if torch.cuda.is_available() else None
    except Exception:  # noqa: BLE001 - a description only
        return None


def check(args) -> int:
    out = Path(args.out).resolve()
    out.parent.mkdir(parents=True, exist_ok=True)
    work = Path(args.workdir).resolve() if args.workdir else out.parent / (out.stem + "_work")
    work.mkdir(parents=True, exist_ok=True)
    parts = plan(args, work)
    report = {"check": "gpu_check", "device": args.device, "gpu": None if args.dry_run else _gpu_name(),
              "budget_s": args.budget, "dry_run": args.dry_run, "parts": {}}
    t0 = time.monotonic()
    for part in parts:
        left = args.budget - (time.monotonic() - t0)
        if args.dry_run:
            part.result = {"status": "planned", "timeout_s": part.timeout_s, "command": part.command}
        elif left < 5:
            part.result = {"status": "skipped", "error": f"the {args.budget:.0f} s budget was spent before this part",
                           "command": part.command}
        else:
            part.result = run_part(part, min(part.timeout_s, left))
        report["parts"][part.name] = part.result
        report["seconds"] = round(time.monotonic() - t0, 1)
        write(out, report)  # after every part: a killed check keeps what it finished
    ok = all(p.result["status"] in ("ok", "planned") for p in parts)
    report["ok"] = ok
    write(out, report)
    summary = ", ".join(f"{p.name} {p.result['status']}" for p in parts)
    print(f"gpu_check: {summary}; {report['seconds']:.0f} s; results in {out}")
    return 0 if ok else 1


# -- the LoRA sampling part (run as its own subprocess) ------------------------------

def lora_child(args) -> int:
    """0.5B shape (tiny on the CPU) + a fresh LoRA adapter; tokens/s of each backend with the adapter."""
    import tempfile

    import torch

    from benchmarks import bench_sampler
    from rewardds.sampling.base import SamplingParams

    gpu = args.device == "cuda"
    ns = argparse.Namespace(size="0.5b" if gpu else "tiny", hidden=64, layers=2, heads=None, vocab=1024, seed=0)
    dtype, dtype_name = (torch.bfloat16, "bfloat16") if gpu else (torch.float32, "float32")
    backends = ["hf", "vllm"] if gpu else ["hf"]
    prompts_n, n, max_new = (32, 4, 64) if gpu else (4, 1, 8)
    result = {"model": ns.size, "lora_r": 16, "prompts": prompts_n, "n": n, "max_new_tokens": max_new, "backends": {}}
    with tempfile.TemporaryDirectory() as tmp:
        model_dir, n_params, _ = bench_sampler.build(Path(tmp) / "model", ns, dtype)
        adapter = _save_adapter(model_dir, Path(tmp) / "adapter", dtype)
        result["params"] = n_params
        prompts = bench_sampler.prompts_for(model_dir, prompts_n, 0)
        params = SamplingParams(n=n, temperature=1.0, max_new_tokens=max_new, seed=0)
        for name in backends:
            try:
                result["backends"][name] = _time_backend(name, model_dir, adapter, prompts, params, dtype_name)
            except Exception as exc:  # noqa: BLE001 - recorded; the other backend still runs
                result["backends"][name] = {"error": f"{type(exc).__name__}: {exc}"[:500]}
    Path(args.lora_child).write_text(json.dumps(result, indent=1) + "\n")
    return 0 if all("error" not in r for r in result["backends"].values()) else 1


def _save_adapter(model_dir: Path, out: Path, dtype) -> Path:
    import torch
    from transformers import AutoModelForCausalLM

    from rewardds.models.loading import add_lora

    class Lora:
        r, alpha, dropout = 16, 32, 0.0
        target_modules = ["q_proj", "k_proj", "v_proj", "o_proj"]

    model = add_lora(AutoModelForCausalLM.from_pretrained(str(model_dir), dtype=dtype), Lora, seed=0)
    for name, p in model.named_parameters():  # non-zero B: the adapter changes the outputs
        if "lora_B" in name:
            torch.nn.init.normal_(p, std=0.02)
    model.save_pretrained(str(out))
    return out


def _time_backend(name: str, model_dir: Path, adapter: Path, prompts, params, dtype_name: str) -> dict:
    import gc

    from rewardds.sampling import build_sampler

    t0 = time.perf_counter()
    cfg = {"backend": name, "batch_size": 64, "dtype": dtype_name}
    if name == "vllm":
        cfg.update(batch_size=256, enforce_eager=True)
    sampler = build_sampler(cfg, model_dir, adapter)
    startup = time.perf_counter() - t0
    try:
        t0 = time.perf_counter()
        out = sampler.generate(prompts, params, desc=f"{name} + LoRA")
        wall = time.perf_counter() - t0
        tokens = sum(c.num_tokens for r in out for c in r)
        return {"startup_s": round(startup, 2), "seconds": round(wall, 3), "generated_tokens": tokens,
                "tokens_per_s": round(tokens / wall, 1), "dtype": dtype_name}
    finally:
        sampler.close()
        del sampler
        gc.collect()


def main(argv: list[str] | None = None) -> int:
    args = parse(list(sys.argv[1:] if argv is None else argv))
    if args.lora_child:
        return lora_child(args)
    return check(args)


if __name__ == "__main__":
    sys.exit(main())
