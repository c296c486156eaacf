"""Batched decoding that stops computing a sequence once it has ended.

``model.generate`` runs every row of a batch until the longest one ends: on the demo, answers
average about 60 tokens under a 160-token budget, so most of the row-steps of a batch are spent
on rows that already wrote their end-of-turn token. This loop drops a row from the batch (and
its KV cache) at its end token, so a batch costs the tokens it writes. It samples as
``generate`` does (the library's own temperature, top-k and top-p warpers, then one
multinomial draw per row and step; argmax when greedy); :func:`supported` says when a model's
generation defaults ask for more (a repetition penalty, banned words, a minimum length, ...),
and the caller then uses ``generate``.
"""
from __future__ import annotations

import torch
from transformers import DynamicCache, LogitsProcessorList, TemperatureLogitsWarper, TopKLogitsWarper, TopPLogitsWarper

GENERATE_TOP_K = 50  # what transformers' generate samples with when neither the model nor the call sets top_k
# generation-config fields whose defaults leave the logits alone; anything else set means "use generate"
_NEUTRAL = {"repetition_penalty": (None, 1.0), "no_repeat_ngram_size": (None, 0), "encoder_no_repeat_ngram_size": (None, 0),
            "bad_words_ids": (None,), "suppress_tokens": (None,), "begin_suppress_tokens": (None,),
            "forced_bos_token_id": (None,), "forced_eos_token_id": (None,), "min_length": (None, 0),
            "min_new_tokens": (None, 0), "diversity_penalty": (None, 0.0), "typical_p": (None, 1.0),
            "epsilon_cutoff": (None, 0.0), "eta_cutoff": (None, 0.0), "min_p": (None,), "sequence_bias": (None,),
            "exponential_decay_length_penalty": (None,), "renormalize_logits": (None, False),
            "num_beams": (None, 1), "guidance_scale": (None, 1.0), "watermarking_config": (None,)}


def supported(model) -> bool:
    """Whether this loop samples as ``model.generate`` would: a decoder-only model whose generation
    config adds no logits processor beyond temperature, top-k and top-p."""
    if getattr(model.config, "is_encoder_decoder", False):
        return False
    gc = getattr(model, "generation_config", None)
    return gc is None or all(getattr(gc, k, None) in ok for k, ok in _NEUTRAL.items())


def warpers(model, temperature: float, top_p: float) -> LogitsProcessorList:
    """The warpers ``generate`` applies when sampling, in its order: temperature, top-k (the
    model's default, else the library's own default of 50), top-p."""
    out = LogitsProcessorList()
    if temperature != 1.0:
        out.append(TemperatureLogitsWarper(temperature))
    top_k = getattr(getattr(model, "generation_config", None), "top_k", None)
    top_k = GENERATE_TOP_K if top_k is None else top_k
    if top_k:
        out.append(TopKLogitsWarper(top_k))
    if top_p < 1.0:
        out.append(TopPLogitsWarper(top_p))
    return out


@torch.no_grad()
def generate(model, input_ids: torch.Tensor, attention_mask: torch.Tensor, max_new_tokens: int, eos_ids: set[int],
           greedy: bool, temperature: float = 1.0, top_p: float = 1.0) -> list[list[int]]:
    """New tokens of each row of a left-padded batch, each ending with its end token when it wrote
    one within ``max_new_tokens``. Random draws use torch's global generator (seed it first)."""
    rows = torch.arange(input_ids.shape[0], device=input_ids.device)
    out: list[list[int]] = [[] for _ in range(input_ids.shape[0])]
    warp = None if greedy else warpers(model, temperature, top_p)
    eos = torch.tensor(sorted(eos_ids), device=input_ids.device)
    cache = DynamicCache(config=model.config)
    mask = attention_mask.long()
    pos = (mask.cumsum(-1) - 1).clamp(min=0)
    ids = input_ids
    for _ in range(max_new_tokens):
        logits = model(input_ids=ids, attention_mask=mask, position_ids=pos, past_key_values=cache, use_cache=True,
                       logits_to_keep=1).logits[:, -1, :].float()
        nxt = logits.argmax(-1) if greedy else torch.multinomial(warp(None, logits).softmax(-1), 1).squeeze(1)
        for r, t in zip(rows.tolist(), nxt.tolist()):
            out[r].append(t)
        done = torch.isin(nxt, eos)
        if bool(done.all()):
            break
        if bool(done.any()):  # the ended rows leave the batch and the cache
            keep = (~done).nonzero().squeeze(1)
            cache.batch_select_indices(keep)
            rows, nxt, mask, pos = rows[keep], nxt[keep], mask[keep], pos[keep]
        mask = torch.cat([mask, mask.new_ones(len(rows), 1)], dim=1)
        pos = pos[:, -1:] + 1
        ids = nxt[:, None]
    return out
