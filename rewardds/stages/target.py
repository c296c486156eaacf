"""Target SFT (server, not DP): LoRA fine-tuning of the target model on a synthetic pool.

Round 1 trains a fresh adapter for ``target.epochs_first`` epochs; later rounds
continue the previous round's adapter for ``target.epochs_later`` epochs.
"""
from __future__ import annotations

from pathlib import Path

from types import SimpleNamespace

from rewardds import chat
from rewardds.io import read_jsonl, write_json
from rewardds.models.loading import add_lora, load_causal_lm, load_tokenizer, save_adapter
from rewardds.stages.block import Block
from rewardds.stages.context import Context
from rewardds.training.lm import CausalLMModule, LMDataset, fit


def _target_sft(ctx: Context, step, ins: dict, out: Path) -> dict:
    """params: round, epochs, batch_size, lm (target spec), lora, seed; inputs: base, pool, previous (round > 1)."""
    p = step.params
    rnd, spec = p["round"], SimpleNamespace(**p["lm"])
    tok = load_tokenizer(ins["base"])
    pool = list(read_jsonl(ins["pool"] / "pool.jsonl"))
    examples = [chat.encode_example(tok, ctx.task, it["question"], it["chosen"], spec.max_length) for it in pool]
    model = load_causal_lm(ins["base"], spec.dtype).to(ctx.device)
    if ins.get("previous") is None:
        model = add_lora(model, SimpleNamespace(**p["lora"]), seed=p["seed"] + 31)
    else:
        from peft import PeftModel

        model = PeftModel.from_pretrained(model, str(ins["previous"] / "adapter"), is_trainable=True)
    module = CausalLMModule(model, lr=spec.lr, pad_id=tok.pad_token_id, seed=p["seed"] + 31 * rnd)
    fit(module, LMDataset(examples), batch_size=p["batch_size"], epochs=p["epochs"], trainer_cfg=ctx.cfg.trainer,
        desc=f"target round {rnd}", seed=p["seed"] + 31 * rnd, logger=ctx.tracker.lightning_logger(step.name))
    save_adapter(model, out / "adapter")
    info = {"round": rnd, "examples": len(examples), "epochs": p["epochs"], "steps": module.steps_taken}
    write_json(out / "info.json", info)
    return info


TARGET_SFT = Block("target_sft", _target_sft)
