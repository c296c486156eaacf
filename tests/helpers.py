"""Small models and tokenizers built locally for tests (no hub downloads)."""
from __future__ import annotations

import torch

from rewardds.models.tiny import train_tokenizer

CORPUS = [
    "the patient has a mild fever and a cough since two days",
    "take rest drink water and see a doctor if the fever persists",
    "my savings account earns little interest what should I do",
    "consider a diversified index fund with low fees for long term goals",
    "write a function that returns the sum of a list",
    "def add(a, b): return a + b",
] * 4


def tiny_tokenizer(vocab_size: int = 300):
    return train_tokenizer(CORPUS, vocab_size)


def tiny_llama(tokenizer, hidden: int = 32, layers: int = 2, seed: int = 0):
    from transformers import LlamaConfig, LlamaForCausalLM

    torch.manual_seed(seed)
    cfg = LlamaConfig(vocab_size=len(tokenizer), hidden_size=hidden, intermediate_size=2 * hidden,
                      num_hidden_layers=layers, num_attention_heads=4, num_key_value_heads=4,
                      max_position_embeddings=256, pad_token_id=tokenizer.pad_token_id,
                      bos_token_id=tokenizer.bos_token_id, eos_token_id=tokenizer.eos_token_id)
    return LlamaForCausalLM(cfg)


class LoraCfg:
    r = 4
    alpha = 8
    dropout = 0.0
    target_modules = ["q_proj", "v_proj"]


CANARY = "Zorblax Quintavelle 7731"


def canary_data_dir(folder, records: int = 32):
    """A RewardDS-layout data folder whose private records all carry CANARY (question and answer)."""
    import json
    from pathlib import Path

    from rewardds.data import demo_dir

    data = Path(folder) / "private_data"
    data.mkdir(parents=True)
    rows = [json.loads(line) for line in (demo_dir("medical") / "private.jsonl").read_text().splitlines()]
    with open(data / "train.json", "w") as fh:
        for r in rows[:records]:
            r["input"] = f"{r['input']} My neighbour is {CANARY}."
            r["output"] = f"{r['output']} Say hello to {CANARY}."
            fh.write(json.dumps(r) + "\n")
    (data / "test.json").write_text((demo_dir("medical") / "test.jsonl").read_text())
    return data


def scan_for_leaks(roots, dp_weight_dirs, needles) -> int:
    """Assert that no file under ``roots`` holds any of ``needles`` (bytes), DP-trained adapter
    weights under ``dp_weight_dirs`` excepted; return how many files were scanned."""
    dp_dirs = {d.resolve() for d in dp_weight_dirs}
    scanned = 0
    for root in roots:
        for f in root.rglob("*"):
            if not f.is_file():
                continue
            real = f.resolve()
            if any(d in real.parents for d in dp_dirs) and "adapter" in real.parts:
                continue
            scanned += 1
            data = real.read_bytes()
            for needle in needles:
                assert needle not in data, f"canary leaked into {f}"
    return scanned
