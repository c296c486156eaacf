"""The embedded default model: a small Llama trained from scratch on public text.

It plays the role of the public pretrained checkpoint (Qwen2.5 in the paper) when
nothing can be downloaded. The tokenizer is trained on the public corpus only:
a vocabulary learnt from private text would itself leak it.
"""
from __future__ import annotations

import logging
import random
from pathlib import Path
from typing import NamedTuple

import torch

from rewardds import chat
from rewardds.records import Record
from rewardds.training.lm import CausalLMModule, LMDataset, fit

log = logging.getLogger(__name__)

SPECIAL = ["<|pad|>", "<|bos|>", "<|end|>", "<|system|>", "<|user|>", "<|assistant|>"]
CHAT_TEMPLATE = (
    "{{ bos_token }}{% for m in messages %}<|{{ m['role'] }}|>{{ m['content'] }}<|end|>{% endfor %}"
    "{% if add_generation_prompt %}<|assistant|>{% endif %}"
)


def train_tokenizer(texts: list[str], vocab_size: int):
    """Byte-level BPE trained locally, wrapped as a transformers fast tokenizer."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size, special_tokens=SPECIAL, initial_alphabet=pre_tokenizers.ByteLevel.alphabet()
    )
    tok.train_from_iterator(texts, trainer=trainer)
    fast = PreTrainedTokenizerFast(
        tokenizer_object=tok, bos_token="<|bos|>", eos_token="<|end|>", pad_token="<|pad|>",
        additional_special_tokens=SPECIAL[3:],
    )
    fast.chat_template = CHAT_TEMPLATE
    fast.padding_side = "left"
    return fast


def build_model(tokenizer, cfg):
    from transformers import LlamaConfig, LlamaForCausalLM

    torch.manual_seed(cfg.seed)
    config = LlamaConfig(
        vocab_size=len(tokenizer), hidden_size=cfg.hidden_size, intermediate_size=cfg.intermediate_size,
        num_hidden_layers=cfg.num_layers, num_attention_heads=cfg.num_heads, num_key_value_heads=cfg.num_heads,
        max_position_embeddings=cfg.max_position, bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id, pad_token_id=tokenizer.pad_token_id, tie_word_embeddings=False,
        rms_norm_eps=1e-5, torch_dtype="float32",
    )
    return LlamaForCausalLM(config)


class Conversation(NamedTuple):
    """One (user, assistant) pair of the base's pretraining. ``loss_on`` is ``all`` where the user
    turn is public text the base should model too (a public question), ``answer`` where it is a
    request the framework writes (the question, one-step and refinement prompts): a base that learns
    to write a request's layout writes it in place of an answer once DP noise pulls a fine-tuned
    proxy back towards its pretraining (the refinement labels, found by the benchmark)."""
    user: str
    assistant: str
    loss_on: str = "answer"


def public_conversations(task: str, public: list[Record], seed: int, max_examples: int = 2) -> list[Conversation]:
    """The conversations the base model learns from, all made of public records: answering
    public questions; writing new questions in the format query synthesis asks for; writing whole
    new (question, answer) examples as one-step synthesis asks (0..``max_examples`` examples shown,
    kept short to fit the context); and the two refinement tasks (:func:`refinement_conversations`).
    A real checkpoint can do all of these from its instructions; the embedded model learns them here."""
    rng = random.Random(seed)
    pairs = [Conversation(r.question, r.answer, "all") for r in public]
    questions = [r.question for r in public]
    for r in public:
        k = rng.randint(0, max_examples)
        examples = rng.sample([q for q in questions if q != r.question], k=min(k, len(questions) - 1))
        pairs.append(Conversation(chat.question_request(task, examples), r.question))
    one_step = random.Random(seed + 1)
    for r in public:
        shown = [(chat.shorten(x.question, 24), chat.shorten(x.answer, 24))
                 for x in one_step.sample(public, k=one_step.randint(0, max_examples)) if x is not r]
        pairs.append(Conversation(chat.example_request(task, shown), chat.format_example(r.question, r.answer)))
    pairs += refinement_conversations(public, random.Random(seed + 2))
    rng.shuffle(pairs)
    return pairs


def _sentences(text: str) -> list[str]:
    parts = [p.strip() for p in text.replace("\n", " ").split(". ")]
    return [p if p.endswith((".", "?", "!")) else p + "." for p in parts if p]


def refinement_conversations(public: list[Record], rng: random.Random, share: float = 0.2) -> list[Conversation]:
    """Self-Optimizing Refinement's two requests, taught on public records with three or more
    sentences (a ``share`` of them): the preferred answer lacks one sentence, the other answer lacks
    two others but keeps that one; the critique of the preferred answer names the sentence it lacks,
    and the rewrite of the preferred answer following that critique is the whole answer."""
    out = []
    for r in public:
        sentences = _sentences(r.answer)
        if len(sentences) < 3 or rng.random() >= share:
            continue
        missing, *others = rng.sample(range(len(sentences)), 3)
        preferred = " ".join(s for i, s in enumerate(sentences) if i != missing)
        other = " ".join(s for i, s in enumerate(sentences) if i not in others)
        critique = f"{chat.CRITIQUE_OPENING} {chat.shorten(sentences[missing], 16)}"
        out.append(Conversation(chat.critique_request(r.question, preferred, other), critique))
        out.append(Conversation(chat.rewrite_request(r.question, preferred, critique), r.answer))
    return out


def pretraining_examples(tokenizer, task: str, convs: list[Conversation], max_length: int) -> list[dict]:
    """Token ids and labels of each conversation the base model is pretrained on, supervised as its
    ``loss_on`` says."""
    return [chat.encode_example(tokenizer, task, c.user, c.assistant, max_length, loss_on=c.loss_on) for c in convs]


def pretrain_on_conversations(model, tokenizer, task: str, convs: list[Conversation], steps: int, lr: float,
                               batch_size: int, max_length: int, trainer_cfg, seed: int, desc: str) -> None:
    """Train ``model`` on conversations rendered by ``tokenizer``'s chat template (loss as each
    :class:`Conversation` says) for ``steps`` steps: the embedded model's and the stand-ins' pretraining."""
    data = LMDataset(pretraining_examples(tokenizer, task, convs, max_length))
    steps_per_epoch = max(1, len(data) // batch_size)
    epochs = max(1, -(-steps // steps_per_epoch))
    pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id  # Llama 3: no pad
    module = CausalLMModule(model, lr=lr, pad_id=pad, warmup_steps=20, total_steps=steps)
    log.info("pretraining %s: %d conversations, %d steps", desc, len(data), steps)
    fit(module, data, batch_size=batch_size, epochs=epochs, max_steps=steps, trainer_cfg=trainer_cfg, desc=desc,
        seed=seed)


def pretrain_tiny(task: str, public: list[Record], cfg, max_length: int, out_dir: Path, trainer_cfg) -> Path:
    """Train tokenizer and model on the public corpus; save an HF folder to ``out_dir``."""
    convs = public_conversations(task, public, cfg.seed)
    texts = [chat.system_message(task)] + [c.user for c in convs] + [c.assistant for c in convs]
    tokenizer = train_tokenizer(texts, cfg.vocab_size)
    model = build_model(tokenizer, cfg)
    pretrain_on_conversations(model, tokenizer, task, convs, steps=cfg.pretrain_steps, lr=cfg.pretrain_lr,
                              batch_size=cfg.pretrain_batch_size, max_length=max_length, trainer_cfg=trainer_cfg,
                              seed=cfg.seed, desc="base model")
    out_dir.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(out_dir)
    tokenizer.save_pretrained(out_dir)
    return out_dir
