"""Stage 1 (client): the generation proxy, LoRA fine-tuned with DP-SGD on private records."""
from __future__ import annotations

from pathlib import Path

from omegaconf import OmegaConf

from rewardds import chat
from rewardds.io import write_json
from rewardds.models.loading import add_lora, load_causal_lm, load_tokenizer, save_adapter
from rewardds.stages.context import Context
from rewardds.training.dp import DPSettings
from rewardds.training.lm import CausalLMModule, LMDataset, fit


def dp_settings(ctx: Context, name: str, train_cfg, seed_offset: int = 0) -> DPSettings | None:
    if not ctx.cfg.dp.enabled:
        return None
    p = ctx.plan[name]
    return DPSettings(
        noise_multiplier=p["noise_multiplier"], max_grad_norm=ctx.cfg.dp.max_grad_norm, sample_rate=p["sample_rate"],
        num_records=p["num_records"], physical_batch_size=train_cfg.physical_batch_size,
        grad_sample_mode=ctx.cfg.dp.grad_sample_mode, delta=ctx.ledger.delta, accountant=ctx.cfg.dp.accountant,
        reproducible_seed=ctx.cfg.seed + seed_offset if ctx.cfg.dp.reproducible_noise else None,
    )


def dp_key(ctx: Context, name: str) -> dict:
    """The part of a DP stage's cache key that fixes its mechanism."""
    d = {"enabled": ctx.cfg.dp.enabled, "max_grad_norm": ctx.cfg.dp.max_grad_norm,
         "grad_sample_mode": ctx.cfg.dp.grad_sample_mode, "reproducible_noise": ctx.cfg.dp.reproducible_noise}
    if ctx.cfg.dp.enabled:
        d.update(ctx.plan[name])
    return d


def train_lm_on_records(ctx: Context, base: Path, records, out: Path, stage: str, dp: DPSettings | None,
                        train_cfg, loss_on: str = "answer", seed_offset: int = 0) -> CausalLMModule:
    spec = ctx.cfg.model.proxy
    tok = load_tokenizer(base)
    model = load_causal_lm(base, spec.dtype).to(ctx.device)  # move before LoRA (opacus+peft device bug)
    model = add_lora(model, ctx.cfg.model.lora, seed=ctx.cfg.seed + seed_offset)
    examples = [chat.encode_example(tok, ctx.task, r.question, r.answer, spec.max_length, loss_on) for r in records]
    module = CausalLMModule(model, lr=spec.lr, pad_id=tok.pad_token_id, dp=dp, seed=ctx.cfg.seed + seed_offset,
                            warmup_steps=0)
    fit(module, LMDataset(examples), batch_size=train_cfg.batch_size, epochs=train_cfg.epochs,
        trainer_cfg=ctx.cfg.trainer, desc=stage, seed=ctx.cfg.seed + seed_offset, logger=ctx.tracker.lightning_logger(stage))
    save_adapter(model, out / "adapter")
    return module


def component_record(ctx: Context, name: str, module, dp: DPSettings | None) -> dict:
    # Only the mechanism: counts of what was sampled or built from the records are non-DP statistics.
    rec = {"name": name, "dp": dp is not None, "steps": module.steps_taken}
    if dp is not None:
        rec.update(noise_multiplier=dp.noise_multiplier, sample_rate=dp.sample_rate, max_grad_norm=dp.max_grad_norm,
                   planned_steps=ctx.plan[name]["steps"], grad_sample_mode=dp.grad_sample_mode)
    return rec


def run(ctx: Context) -> Path:
    cfg = ctx.cfg
    name = "gen_proxy"
    if cfg.dp.enabled:
        ctx.ledger.check(name)

    def compute(out: Path) -> dict:
        dp = dp_settings(ctx, name, cfg.gen_proxy)
        module = train_lm_on_records(ctx, ctx.paths["proxy_base"], ctx.data.private, out, name, dp, cfg.gen_proxy,
                                     loss_on=cfg.gen_proxy.loss_on)
        rec = component_record(ctx, name, module, dp)
        write_json(out / "component.json", rec)
        return rec

    key = {"private": ctx.data.fingerprint("private"), "task": ctx.task, "train": OmegaConf.to_container(cfg.gen_proxy),
           "lora": OmegaConf.to_container(cfg.model.lora), "lm": OmegaConf.to_container(cfg.model.proxy),
           "dp": dp_key(ctx, name), "seed": cfg.seed}
    out = ctx.runner.run(name, key, {"base": ctx.digests["proxy"]}, compute)
    ctx.paths[name] = out
    return out
