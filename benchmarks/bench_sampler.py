"""Throughput of the sampling backends (HF compacting loop, HF ``generate``, vLLM) on the same prompts.

    python -m benchmarks.bench_sampler [--hidden 128 --layers 2 --prompts 64 --n 4 --max-new-tokens 64]
    python -m benchmarks.bench_sampler --model-dir outputs/cache/base_model/<key>/model --max-new-tokens 160
    python -m benchmarks.bench_sampler --size 0.5b          # Qwen2-0.5B-shaped, random weights
    python -m benchmarks.bench_sampler --json out.json      # also write the results as JSON

The model is built here from a config (random weights, tokenizer trained on a
generated text: nothing is downloaded) and saved to a temporary folder. Device
agnostic: CUDA with bfloat16 when available, else CPU with float32. Each backend
gets one small warm-up call, then one timed ``generate`` over all prompts
(``n`` samples each); engine start-up is reported separately. Random weights
rarely emit EOS, so every backend generates close to prompts x n x max-new-tokens; the
compacting loop (``hf``, a sequence leaves its batch at its end token) only gains over
``hf-generate`` on a model that ends its answers, e.g. the run's cached base (``--model-dir``).
"""
from __future__ import annotations

import argparse
import gc
import json
import os
import platform
import random
import sys
import tempfile
import time
from pathlib import Path

import torch

SIZES = {
    # Qwen2.5-0.5B's shape: 494M parameters with the tied 151936-token embedding.
    "0.5b": dict(arch="qwen2", hidden_size=896, num_layers=24, num_heads=14, num_kv_heads=2, intermediate_size=4864,
                 vocab_size=151936, tie=True),
}

WORDS = ("patient fever cough doctor rest water medicine pressure sleep headache savings account interest "
         "fund index fees budget income rent debt credit shares bonds inflation python function list string "
         "return sort value key loop test code name small clear answer question what how why should could "
         "the a of to and in is it for with on that this be are was as at by from or an").split()  # noqa: SIM905


def _corpus(n_lines: int = 600, seed: int = 0) -> list[str]:
    rng = random.Random(seed)
    return [" ".join(rng.choice(WORDS) for _ in range(rng.randint(6, 20))) for _ in range(n_lines)]


def build(out: Path, args, dtype: torch.dtype) -> tuple[Path, int, int]:
    """Tokenizer + randomly initialised model saved as an HF folder."""
    from transformers import (
        LlamaConfig,
        LlamaForCausalLM,
        Qwen2Config,
        Qwen2ForCausalLM,
    )

    from rewardds.models.tiny import train_tokenizer

    tok = train_tokenizer(_corpus(), args.vocab)
    torch.manual_seed(args.seed)
    common = dict(bos_token_id=tok.bos_token_id, eos_token_id=tok.eos_token_id, pad_token_id=tok.pad_token_id,
                  max_position_embeddings=2048, rms_norm_eps=1e-6)
    if args.size == "tiny":
        heads = args.heads or max(1, args.hidden // 32)  # head_dim 32: the smallest vLLM's CPU attention takes
        cfg = LlamaConfig(vocab_size=len(tok), hidden_size=args.hidden, intermediate_size=2 * args.hidden,
                          num_hidden_layers=args.layers, num_attention_heads=heads, num_key_value_heads=heads,
                          tie_word_embeddings=False, **common)
        cls = LlamaForCausalLM
    else:
        s = SIZES[args.size]
        cfg = Qwen2Config(vocab_size=s["vocab_size"], hidden_size=s["hidden_size"],
                          intermediate_size=s["intermediate_size"], num_hidden_layers=s["num_layers"],
                          num_attention_heads=s["num_heads"], num_key_value_heads=s["num_kv_heads"],
                          tie_word_embeddings=s["tie"], **common)
        cls = Qwen2ForCausalLM
    model = cls(cfg).to(dtype)
    model.save_pretrained(out)
    tok.save_pretrained(out)
    n_params = sum(p.numel() for p in model.parameters())
    del model
    gc.collect()
    return out, n_params, len(tok)


def prompts_for(model_dir: Path, count: int, seed: int) -> list[str]:
    from rewardds import chat
    from rewardds.models.loading import load_tokenizer

    tok = load_tokenizer(model_dir)
    rng = random.Random(seed)
    qs = [" ".join(rng.choice(WORDS) for _ in range(rng.randint(8, 24))) + "?" for _ in range(count)]
    return [chat.render_prompt(tok, "medical", q) for q in qs]


def run_backend(name: str, model_dir: Path, prompts: list[str], params, args, dtype_name: str) -> dict:
    from rewardds.sampling.base import SamplingParams

    t0 = time.perf_counter()
    if name in ("hf", "hf-generate"):
        from rewardds.sampling.hf import HFSampler

        sampler = HFSampler(model_dir, batch_size=args.hf_batch_size, dtype=dtype_name,
                            decode="compact" if name == "hf" else "generate")
    else:
        from rewardds.sampling.vllm import VLLMSampler

        opts = dict(batch_size=args.vllm_batch_size, dtype=dtype_name, enforce_eager=args.enforce_eager,
                    max_model_len=args.max_model_len)
        if args.gpu_memory_utilization is not None:
            opts["gpu_memory_utilization"] = args.gpu_memory_utilization
        sampler = VLLMSampler(model_dir, **opts)
    startup = time.perf_counter() - t0
    try:
        warm = SamplingParams(n=1, temperature=1.0, max_new_tokens=4, seed=args.seed)
        sampler.generate(prompts[: min(4, len(prompts))], warm, desc=f"{name} warm-up")
        for k in sampler.stats:
            sampler.stats[k] = type(sampler.stats[k])(0)
        t0 = time.perf_counter()
        out = sampler.generate(prompts, params, desc=f"{name} bench")
        wall = time.perf_counter() - t0
        finished = sum(c.finished for r in out for c in r)
        return dict(backend=name, startup_s=round(startup, 2), seconds=round(wall, 3),
                    sequences=sum(len(r) for r in out), finished=finished,
                    generated_tokens=sampler.stats["generated_tokens"],
                    tokens_per_s=round(sampler.stats["generated_tokens"] / wall, 1))
    finally:
        sampler.close()
        del sampler
        gc.collect()
        if torch.cuda.is_available():
            torch.cuda.empty_cache()


def main(argv=None) -> dict:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--size", choices=["tiny", *SIZES], default="tiny")
    p.add_argument("--hidden", type=int, default=128)
    p.add_argument("--layers", type=int, default=2)
    p.add_argument("--heads", type=int, default=None, help="default: hidden/32")
    p.add_argument("--vocab", type=int, default=1024, help="tokenizer vocabulary (tiny model's embedding size)")
    p.add_argument("--prompts", type=int, default=64)
    p.add_argument("--n", type=int, default=4)
    p.add_argument("--max-new-tokens", type=int, default=64)
    p.add_argument("--temperature", type=float, default=1.0)
    p.add_argument("--top-p", type=float, default=1.0)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--backends", default="hf,hf-generate,vllm", help="hf (compacting loop), hf-generate, vllm")
    p.add_argument("--hf-batch-size", type=int, default=64, help="sequences per HF generate call")
    p.add_argument("--vllm-batch-size", type=int, default=256, help="vLLM max_num_seqs")
    p.add_argument("--enforce-eager", action="store_true", help="vLLM without torch.compile / CUDA graphs")
    p.add_argument("--max-model-len", type=int, default=1024)
    p.add_argument("--gpu-memory-utilization", type=float, default=None)
    p.add_argument("--threads", type=int, default=None, help="torch threads of this process (HF backend)")
    p.add_argument("--model-dir", default=None, help="benchmark this HF folder instead of building a model")
    p.add_argument("--json", default=None, metavar="PATH", help="also write the results as JSON ('-': stdout)")
    args = p.parse_args(argv)

    from rewardds.sampling.base import SamplingParams

    if args.threads:
        torch.set_num_threads(args.threads)
    cuda = torch.cuda.is_available()
    dtype, dtype_name = (torch.bfloat16, "bfloat16") if cuda else (torch.float32, "float32")
    device = (torch.cuda.get_device_name(0) if cuda
              else f"CPU ({os.cpu_count()} cores, {platform.processor() or platform.machine()})")
    with tempfile.TemporaryDirectory(prefix="bench_sampler_") as tmp:
        if args.model_dir:
            model_dir, n_params, vocab = Path(args.model_dir), None, None
        else:
            model_dir, n_params, vocab = build(Path(tmp) / "model", args, dtype)
        prompts = prompts_for(model_dir, args.prompts, args.seed)
        params = SamplingParams(n=args.n, temperature=args.temperature, top_p=args.top_p,
                                max_new_tokens=args.max_new_tokens, seed=args.seed)
        rows = []
        for name in [b.strip() for b in args.backends.split(",") if b.strip()]:
            print(f"[bench] {name}: {len(prompts)} prompts x n={args.n}, max_new_tokens={args.max_new_tokens} "
                  f"on {device}", file=sys.stderr, flush=True)
            rows.append(run_backend(name, model_dir, prompts, params, args, dtype_name))

    by = {r["backend"]: r for r in rows}
    ratio = (by["vllm"]["tokens_per_s"] / by["hf"]["tokens_per_s"]
             if {"hf", "vllm"} <= set(by) and by["hf"]["tokens_per_s"] > 0 else None)
    compact_ratio = (by["hf"]["tokens_per_s"] / by["hf-generate"]["tokens_per_s"]
                     if {"hf", "hf-generate"} <= set(by) and by["hf-generate"]["tokens_per_s"] > 0 else None)
    versions = {"torch": torch.__version__}
    try:
        import transformers

        versions["transformers"] = transformers.__version__
        import vllm

        versions["vllm"] = vllm.__version__
    except ImportError:
        pass
    result = dict(device=device, dtype=dtype_name, size=args.size, params=n_params, vocab=vocab,
                  hidden=args.hidden if args.size == "tiny" else None,
                  layers=args.layers if args.size == "tiny" else None,
                  prompts=args.prompts, n=args.n, max_new_tokens=args.max_new_tokens,
                  enforce_eager=args.enforce_eager, torch_threads=torch.get_num_threads(),
                  load_average=round(os.getloadavg()[0], 2) if hasattr(os, "getloadavg") else None,
                  versions=versions, results=rows, vllm_over_hf=ratio,
                  compact_over_generate=compact_ratio)

    shape = f"{args.size}" + (f" (hidden {args.hidden}, {args.layers} layers)" if args.size == "tiny" else "")
    print(f"\nsampler throughput: {shape}, {n_params or '?'} params, {device}, {dtype_name}, "
          f"torch threads {torch.get_num_threads()}, load average {result['load_average']}")
    print(f"{args.prompts} prompts x n={args.n}, max_new_tokens={args.max_new_tokens}")
    print(f"{'backend':11} {'startup s':>10} {'gen s':>8} {'seqs':>6} {'EOS':>5} {'tokens':>8} {'tok/s':>10}")
    for r in rows:
        print(f"{r['backend']:11} {r['startup_s']:>10.1f} {r['seconds']:>8.2f} {r['sequences']:>6} {r['finished']:>5} "
              f"{r['generated_tokens']:>8} {r['tokens_per_s']:>10.0f}")
    if ratio is not None:
        print(f"vLLM / HF tokens/s: {ratio:.2f}x")
    if compact_ratio is not None:
        print(f"HF compacting loop / HF generate tokens/s: {compact_ratio:.2f}x")
    if args.json:
        text = json.dumps(result, indent=1)
        if args.json == "-":
            print(text)
        else:
            Path(args.json).write_text(text + "\n")
    return result


if __name__ == "__main__":
    main()
