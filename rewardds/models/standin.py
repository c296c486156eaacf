"""Stand-in checkpoints of real architectures, built locally (nothing can be downloaded).

``write_standin(out_dir, arch)`` writes a small HF folder laid out like a real
instruct checkpoint of that family: the transformers architecture (Qwen2 or
Llama), a byte-level BPE tokenizer trained here on the public demo corpora and
saved as a ``PreTrainedTokenizerFast`` with the family's OWN special tokens,
chat template (jinja, as instruct checkpoints ship it) and generation config,
and an embedding padded past the tokenizer (real checkpoints have spare rows).

* ``qwen2``: Qwen2.5-Instruct style: ``<|im_start|>role\\n...<|im_end|>\\n``
  turns, a default system turn, no BOS, EOS ``<|im_end|>``, tied embeddings,
  q/k/v biases (Qwen2's attention).
* ``llama``: Llama-3-Instruct style headers
  (``<|start_header_id|>role<|end_header_id|>\\n\\n...<|eot_id|>``) with BOS
  ``<|begin_of_text|>``, EOS ``<|eot_id|>``, no pad token, and a template that
  has NO system role: it raises on a system message, as Gemma's and Mistral's
  do, so callers must fold the system text into the first user turn.

Weights are random (seeded); ``train_steps > 0`` pretrains the model briefly on
the task's public conversations through its own chat template, enough that it
ends its turns with the end-of-turn token (a random model never stops, and the
pipeline keeps only finished generations). Tests and benchmarks use these
folders exactly as a user's local checkpoint: ``model=hf model.proxy.path=DIR``.
"""
from __future__ import annotations

import argparse
import json
from dataclasses import dataclass
from pathlib import Path

import torch
from omegaconf import OmegaConf

from rewardds import chat
from rewardds.config import TrainerConfig
from rewardds.data import demo_dir, load_records
from rewardds.models.loading import torch_dtype
from rewardds.models.tiny import pretrain_on_conversations, public_conversations

ARCHS = ("qwen2", "llama")

QWEN2_TEMPLATE = (
    "{%- if messages[0]['role'] == 'system' %}"
    "{{- '<|im_start|>system\\n' + messages[0]['content'] + '<|im_end|>\\n' }}"
    "{%- else %}{{- '<|im_start|>system\\nYou are a helpful assistant.<|im_end|>\\n' }}{%- endif %}"
    "{%- for message in messages %}"
    "{%- if not (loop.first and message['role'] == 'system') %}"
    "{{- '<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>\\n' }}"
    "{%- endif %}{%- endfor %}"
    "{%- if add_generation_prompt %}{{- '<|im_start|>assistant\\n' }}{%- endif %}"
)

LLAMA_NO_SYSTEM_TEMPLATE = (
    "{{- bos_token }}"
    "{%- for message in messages %}"
    "{%- if message['role'] == 'system' %}{{- raise_exception('System role not supported') }}{%- endif %}"
    "{%- if (message['role'] == 'user') != (loop.index0 % 2 == 0) %}"
    "{{- raise_exception('Conversation roles must alternate user/assistant/user/assistant/...') }}{%- endif %}"
    "{{- '<|start_header_id|>' + message['role'] + '<|end_header_id|>\\n\\n' + message['content'] | trim"
    " + '<|eot_id|>' }}"
    "{%- endfor %}"
    "{%- if add_generation_prompt %}{{- '<|start_header_id|>assistant<|end_header_id|>\\n\\n' }}{%- endif %}"
)


@dataclass(frozen=True)
class Family:
    """What distinguishes one checkpoint family's tokenizer and chat format."""

    special: tuple[str, ...]
    bos: str | None
    eos: str
    pad: str | None
    stop: tuple[str, ...]  # generation_config eos_token_id: every token that ends a turn
    template: str
    end_of_turn: str  # the token the template closes an assistant turn with


FAMILIES = {
    "qwen2": Family(("<|endoftext|>", "<|im_start|>", "<|im_end|>"), None, "<|im_end|>", "<|endoftext|>",
                    ("<|im_end|>", "<|endoftext|>"), QWEN2_TEMPLATE, "<|im_end|>"),
    "llama": Family(("<|begin_of_text|>", "<|end_of_text|>", "<|start_header_id|>", "<|end_header_id|>",
                     "<|eot_id|>"), "<|begin_of_text|>", "<|eot_id|>", None, ("<|end_of_text|>", "<|eot_id|>"),
                    LLAMA_NO_SYSTEM_TEMPLATE, "<|eot_id|>"),
}


def family(arch: str) -> Family:
    try:
        return FAMILIES[arch]
    except KeyError:
        raise ValueError(f"unknown stand-in architecture {arch!r} (expected {', '.join(ARCHS)})") from None


def public_texts() -> list[str]:
    """Questions and answers of every demo task's public corpus: what the tokenizer learns from
    (public text only: a vocabulary learnt from private records would leak them)."""
    texts = list(chat.SYSTEM_MESSAGES.values())
    for task in sorted(chat.SYSTEM_MESSAGES):
        for r in load_records(demo_dir(task) / "public.jsonl", task):
            texts += [r.question, r.answer]
    return texts


def train_family_tokenizer(arch: str, texts: list[str], vocab_size: int):
    """Byte-level BPE trained on ``texts`` with the family's special tokens and chat template."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    fam = family(arch)
    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=vocab_size, special_tokens=list(fam.special),
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet())
    tok.train_from_iterator(texts, trainer=trainer)
    named = {"bos_token": fam.bos, "eos_token": fam.eos, "pad_token": fam.pad}
    fast = PreTrainedTokenizerFast(tokenizer_object=tok, **{k: v for k, v in named.items() if v is not None},
                                   additional_special_tokens=[t for t in fam.special if t not in named.values()])
    fast.chat_template = fam.template
    return fast


def build_model(arch: str, tokenizer, hidden_size: int, num_layers: int, num_heads: int, num_kv_heads: int,
                seed: int, vocab_multiple: int = 64):
    """A randomly initialised model of ``arch`` sized for ``tokenizer`` (vocabulary padded up to
    ``vocab_multiple``, as real checkpoints pad theirs)."""
    from transformers import LlamaConfig, LlamaForCausalLM, Qwen2Config, Qwen2ForCausalLM

    fam = family(arch)
    vocab = -(-len(tokenizer) // vocab_multiple) * vocab_multiple
    ids = tokenizer.convert_tokens_to_ids
    common = dict(vocab_size=vocab, hidden_size=hidden_size, intermediate_size=2 * hidden_size,
                  num_hidden_layers=num_layers, num_attention_heads=num_heads, num_key_value_heads=num_kv_heads,
                  max_position_embeddings=512, bos_token_id=ids(fam.bos) if fam.bos else None,
                  eos_token_id=ids(fam.eos), rms_norm_eps=1e-6)
    torch.manual_seed(seed)
    if arch == "qwen2":
        return Qwen2ForCausalLM(Qwen2Config(**common, tie_word_embeddings=True))
    return LlamaForCausalLM(LlamaConfig(**common, tie_word_embeddings=False))


def pretrain(model, tokenizer, task: str, steps: int, max_length: int, trainer_cfg, seed: int,
             turn_words: int = 8) -> None:
    """A short pass over the task's public conversations rendered by the model's own template, the
    assistant turns cut to ``turn_words`` words: the model learns to close its turn early, so the
    small generation budgets of ``experiment=smoke`` see finished generations."""
    public = load_records(demo_dir(task) / "public.jsonl", task)
    convs = [c._replace(assistant=chat.shorten(c.assistant, turn_words).removesuffix(" ..."))
             for c in public_conversations(task, public, seed)]
    pretrain_on_conversations(model, tokenizer, task, convs, steps=steps, lr=3e-3, batch_size=16,
                              max_length=max_length, trainer_cfg=trainer_cfg, seed=seed,
                              desc=f"stand-in {model.config.model_type}")


def write_standin(out_dir, arch: str, task: str = "medical", dtype: str = "bfloat16", train_steps: int = 0,
                  vocab_size: int = 600, hidden_size: int = 64, num_layers: int = 2, num_heads: int = 2,
                  num_kv_heads: int = 1, max_length: int = 96, seed: int = 0, trainer_cfg=None) -> Path:
    """Write a stand-in ``arch`` checkpoint (config, safetensors in ``dtype``, tokenizer with its chat
    template, generation_config) to ``out_dir``; returns the folder. Head size is
    ``hidden_size // num_heads`` (32 by default: vLLM's CPU attention needs 32, 64, 80, ...);
    ``max_length`` is the pretraining context (prompts cut from the left; short sequences keep the
    pretraining to seconds)."""
    from transformers import GenerationConfig

    out = Path(out_dir)
    fam = family(arch)
    tok = train_family_tokenizer(arch, public_texts(), vocab_size)
    model = build_model(arch, tok, hidden_size, num_layers, num_heads, num_kv_heads, seed)
    if train_steps > 0:
        pretrain(model, tok, task, train_steps, max_length, trainer_cfg or _cpu_trainer(), seed)
    model.generation_config = GenerationConfig(
        bos_token_id=model.config.bos_token_id, eos_token_id=[tok.convert_tokens_to_ids(t) for t in fam.stop],
        pad_token_id=tok.convert_tokens_to_ids(fam.pad) if fam.pad else None)
    out.mkdir(parents=True, exist_ok=True)
    model.to(torch_dtype(dtype)).save_pretrained(out)
    tok.save_pretrained(out)
    info = {"standin": arch, "dtype": dtype, "train_steps": train_steps, "end_of_turn": fam.end_of_turn}
    (out / "standin.json").write_text(json.dumps(info, indent=1, sort_keys=True))
    return out


def _cpu_trainer():
    """The trainer settings of ``conf/trainer/cpu.yaml``'s schema defaults, quiet."""
    return OmegaConf.merge(OmegaConf.structured(TrainerConfig), {"enable_progress_bar": False})


def main(argv=None) -> None:
    """``python -m rewardds.models.standin OUT --arch qwen2|llama [--train-steps N] [--dtype D]``:
    a local folder to point ``model=hf model.proxy.path=`` (or ``target``) at."""
    ap = argparse.ArgumentParser(description=main.__doc__)
    ap.add_argument("out")
    ap.add_argument("--arch", choices=ARCHS, required=True)
    ap.add_argument("--task", default="medical")
    ap.add_argument("--dtype", default="bfloat16")
    ap.add_argument("--train-steps", type=int, default=100)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args(argv)
    out = write_standin(args.out, args.arch, task=args.task, dtype=args.dtype, train_steps=args.train_steps,
                        seed=args.seed)
    print(out)


if __name__ == "__main__":
    main()
