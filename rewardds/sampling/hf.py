"""transformers backend (a compacting decode loop, or ``model.generate``): works everywhere, the fast path on CPU."""
from __future__ import annotations

import logging
import os
import time

import torch
from tqdm.auto import tqdm

from rewardds.errors import ConfigError
from rewardds.models.loading import load_causal_lm, load_tokenizer
from rewardds.sampling import compact
from rewardds.sampling.base import Completion, PrivateProgress, Sampler, SamplingParams

log = logging.getLogger(__name__)


DECODERS = ("compact", "generate")


class HFSampler(Sampler):
    """``decode``: ``compact`` (default) drops a sequence from its batch once it has ended
    (:mod:`rewardds.sampling.compact`; ``generate`` where the model's generation defaults ask for
    more than it does); ``generate``: transformers' ``model.generate``, every row of a batch run to
    the longest."""

    def __init__(self, model_dir, adapter_dir=None, batch_size: int = 32, dtype: str = "float32", device: str | None = None,
                 decode: str = "compact", **options):
        super().__init__(model_dir, adapter_dir, **options)
        if decode not in DECODERS:
            raise ConfigError("sampler.decode", f"expected one of {', '.join(DECODERS)}, got {decode!r}")
        self.batch_size = batch_size
        self.loaded_in(dtype)
        self.tokenizer = load_tokenizer(model_dir)
        self.tokenizer.padding_side = "left"
        model = load_causal_lm(model_dir, dtype)
        self.device = device or ("cuda" if torch.cuda.is_available() else "cpu")
        model.to(self.device)  # before the adapter: peft weights must not be moved afterwards
        if adapter_dir:
            from peft import PeftModel

            # generation uses the merged weights W + BA: the same function, one matmul per projection
            # instead of three (the tiny model with LoRA on every projection samples ~1.5x faster)
            model = PeftModel.from_pretrained(model, str(adapter_dir)).merge_and_unload()
        self.model = model.eval()
        self.compacting = decode == "compact" and compact.supported(self.model)
        self.eos_ids = {self.tokenizer.eos_token_id}
        gen_eos = getattr(self.model.generation_config, "eos_token_id", None)
        if gen_eos is not None:
            self.eos_ids |= set(gen_eos if isinstance(gen_eos, list) else [gen_eos])

    @torch.no_grad()
    def generate(self, prompts, params: SamplingParams, desc="sampling", counts=True, seeds=None):
        results: list[list[Completion]] = [[] for _ in prompts]
        reps = 1 if params.greedy else params.n
        start = time.perf_counter()
        if seeds is None or params.greedy:
            # Expand prompts n times; identical prompts batch together; one seed for the whole call.
            # Prompts of similar length share a batch (left padding costs a step per padded token).
            order = sorted(range(len(prompts)), key=lambda i: len(prompts[i]))
            jobs = [(i, prompts[i]) for i in order for _ in range(reps)]
            batches = [(params.seed, jobs[b:b + self.batch_size]) for b in range(0, len(jobs), self.batch_size)]
        else:
            # Per group (e.g. one private record's requests): its own batches, its own seed, so its
            # samples do not depend on any other prompt of the call (see Sampler.generate).
            if len(seeds) != len(prompts):
                raise ValueError(f"{len(seeds)} seeds for {len(prompts)} prompts")
            batches = []
            for seed, idx in self.seed_groups(seeds).items():
                jobs = [(i, prompts[i]) for i in idx for _ in range(reps)]
                batches += [((seed + 1_000_003 * k) % 2 ** 63, jobs[b:b + self.batch_size])
                            for k, b in enumerate(range(0, len(jobs), self.batch_size))]
        ntok = 0
        if counts:
            bar = tqdm(total=sum(len(c) for _, c in batches), desc=desc, unit="seq", leave=False, mininterval=2.0,
                       disable=bool(os.environ.get("REWARDDS_NO_BAR")))
        else:
            bar = PrivateProgress(desc)
        try:
            last_seed = None
            for seed, chunk in batches:
                if seed != last_seed:  # one seed per call (its batches continue the stream), or one per batch
                    torch.manual_seed(seed)
                    last_seed = seed
                ntok += self._generate_batch(chunk, params, results)
                if counts:
                    bar.update(len(chunk))
                    bar.set_postfix(tok_s=f"{ntok / max(1e-9, time.perf_counter() - start):.0f}")
        finally:
            bar.close()
        if params.greedy and params.n > 1:
            results = [r * params.n for r in results]
        self.stats["prompts"] += len(prompts)
        self.stats["generated_tokens"] += ntok
        self.stats["seconds"] += time.perf_counter() - start
        return results

    def _generate_batch(self, chunk, params: SamplingParams, results) -> int:
        """Sample one batch of (prompt index, prompt) jobs into ``results``; returns the tokens generated."""
        enc = self.tokenizer([p for _, p in chunk], return_tensors="pt", padding=True, add_special_tokens=False)
        enc = {k: v.to(self.device) for k, v in enc.items()}
        if self.compacting:
            new = compact.generate(self.model, enc["input_ids"], enc["attention_mask"], params.max_new_tokens, self.eos_ids,
                                     params.greedy, params.temperature, params.top_p)
        else:
            kwargs = dict(max_new_tokens=params.max_new_tokens, pad_token_id=self.tokenizer.pad_token_id,
                          eos_token_id=sorted(self.eos_ids))
            if params.greedy:
                kwargs.update(do_sample=False)
            else:
                kwargs.update(do_sample=True, temperature=params.temperature, top_p=params.top_p)
            out = self.model.generate(**enc, **kwargs)
            new = out[:, enc["input_ids"].shape[1]:].tolist()
        ntok = 0
        for (i, _), toks in zip(chunk, new):
            finished, kept = False, []
            for t in toks:
                if t in self.eos_ids:
                    finished = True
                    kept.append(t)
                    break
                kept.append(t)
            text = self.tokenizer.decode([t for t in kept if t not in self.eos_ids], skip_special_tokens=True)
            results[i].append(Completion(text=text.strip(), finished=finished, num_tokens=len(kept)))
            ntok += len(kept)
        return ntok

    def close(self):
        self.model = None
