"""transformers ``generate`` backend: works everywhere, the fast path on CPU."""
from __future__ import annotations

import logging
import os
import time

import torch
from tqdm.auto import tqdm

from rewardds.models.loading import load_causal_lm, load_tokenizer
from rewardds.sampling.base import PRIVATE_BAR_FORMAT, Completion, Sampler, SamplingParams

log = logging.getLogger(__name__)


class HFSampler(Sampler):
    def __init__(self, model_dir, adapter_dir=None, batch_size: int = 32, dtype: str = "float32", device: str | None = None,
                 **options):
        super().__init__(model_dir, adapter_dir, **options)
        self.batch_size = batch_size
        self.loaded_in(dtype)
        self.tokenizer = load_tokenizer(model_dir)
        self.tokenizer.padding_side = "left"
        model = load_causal_lm(model_dir, dtype)
        self.device = device or ("cuda" if torch.cuda.is_available() else "cpu")
        model.to(self.device)  # before the adapter: peft weights must not be moved afterwards
        if adapter_dir:
            from peft import PeftModel

            model = PeftModel.from_pretrained(model, str(adapter_dir))
        self.model = model.eval()
        self.eos_ids = {self.tokenizer.eos_token_id}
        gen_eos = getattr(self.model.generation_config, "eos_token_id", None)
        if gen_eos is not None:
            self.eos_ids |= set(gen_eos if isinstance(gen_eos, list) else [gen_eos])

    @torch.no_grad()
    def generate(self, prompts, params: SamplingParams, desc="sampling", counts=True):
        results: list[list[Completion]] = [[] for _ in prompts]
        # Expand prompts n times; identical prompts batch together.
        jobs = [(i, p) for i, p in enumerate(prompts) for _ in range(params.n)]
        if params.greedy:
            jobs = [(i, p) for i, p in enumerate(prompts)]
        start = time.perf_counter()
        torch.manual_seed(params.seed)
        ntok = 0
        bar = tqdm(total=len(jobs), desc=desc, unit="seq", leave=False, mininterval=2.0,
                   disable=bool(os.environ.get("REWARDDS_NO_BAR")), bar_format=None if counts else PRIVATE_BAR_FORMAT)
        for b in range(0, len(jobs), self.batch_size):
            chunk = jobs[b:b + self.batch_size]
            enc = self.tokenizer([p for _, p in chunk], return_tensors="pt", padding=True, add_special_tokens=False)
            enc = {k: v.to(self.device) for k, v in enc.items()}
            kwargs = dict(max_new_tokens=params.max_new_tokens, pad_token_id=self.tokenizer.pad_token_id,
                          eos_token_id=sorted(self.eos_ids))
            if params.greedy:
                kwargs.update(do_sample=False)
            else:
                kwargs.update(do_sample=True, temperature=params.temperature, top_p=params.top_p)
            out = self.model.generate(**enc, **kwargs)
            new = out[:, enc["input_ids"].shape[1]:].tolist()
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
            bar.update(len(chunk))
            bar.set_postfix(tok_s=f"{ntok / max(1e-9, time.perf_counter() - start):.0f}")
        bar.close()
        if params.greedy and params.n > 1:
            results = [r * params.n for r in results]
        self.stats["prompts"] += len(prompts)
        self.stats["generated_tokens"] += ntok
        self.stats["seconds"] += time.perf_counter() - start
        return results

    def close(self):
        self.model = None
