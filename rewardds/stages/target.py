"""Stage 8 (server, not DP): LoRA fine-tuning of the target model on the pool.

Round 1 trains a fresh adapter for ``target.epochs_first`` epochs; later rounds
continue the previous round's adapter for ``target.epochs_later`` epochs.
"""
from __future__ import annotations

from pathlib import Path

from omegaconf import OmegaConf

from rewardds import chat
from rewardds.io import read_jsonl, write_json
from rewardds.models.loading import add_lora, load_causal_lm, load_tokenizer, save_adapter
from rewardds.stages.context import Context
from rewardds.training.lm import CausalLMModule, LMDataset, fit


def run(ctx: Context, rnd: int) -> Path:
    cfg = ctx.cfg
    spec = cfg.model.target
    name = f"target@{rnd}"

    def compute(out: Path) -> dict:
        base = ctx.paths["target_base"]
        tok = load_tokenizer(base)
        pool = list(read_jsonl(ctx.paths[f"pool@{rnd}"] / "pool.jsonl"))
        examples = [chat.encode_example(tok, ctx.task, it["question"], it["chosen"], spec.max_length) for it in pool]
        model = load_causal_lm(base, spec.dtype).to(ctx.device)
        if rnd == 1:
            model = add_lora(model, cfg.model.lora, seed=cfg.seed + 31)
        else:
            from peft import PeftModel

            model = PeftModel.from_pretrained(model, str(ctx.paths[f"target@{rnd - 1}"] / "adapter"), is_trainable=True)
        epochs = cfg.target.epochs_first if rnd == 1 else cfg.target.epochs_later
        module = CausalLMModule(model, lr=spec.lr, pad_id=tok.pad_token_id, seed=cfg.seed + 31 * rnd)
        fit(module, LMDataset(examples), batch_size=cfg.target.batch_size, epochs=epochs, trainer_cfg=cfg.trainer,
            desc=f"target round {rnd}", seed=cfg.seed + 31 * rnd, logger=ctx.tracker.lightning_logger(name))
        save_adapter(model, out / "adapter")
        info = {"round": rnd, "examples": len(examples), "epochs": epochs, "steps": module.steps_taken}
        write_json(out / "info.json", info)
        return info

    inputs = {"base": ctx.digests["target"], "pool": ctx.paths[f"pool@{rnd}"]}
    if rnd > 1:
        inputs["previous"] = ctx.paths[f"target@{rnd - 1}"]
    key = {"round": rnd, "train": OmegaConf.to_container(cfg.target), "lm": OmegaConf.to_container(spec),
           "lora": OmegaConf.to_container(cfg.model.lora), "seed": cfg.seed, "task": ctx.task}
    out = ctx.runner.run(name, key, inputs, compute)
    ctx.paths[name] = out
    return out
