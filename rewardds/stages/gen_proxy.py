"""Fine-tuning on the private records (client): LoRA, with DP-SGD or (baselines only) without.

One block serves every method that trains on private records: RewardDS's
generation proxy, the DP generator of the KnowledgeSG baselines (which also
learns to write questions and whole examples), and the target itself for
Non-Private and DP-SGD only. With several ``formats`` each record yields several
training rows; their gradients are summed before clipping, so the record stays
the privacy unit.
"""
from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

from rewardds import chat
from rewardds.io import write_json
from rewardds.models.loading import add_lora, load_causal_lm, load_tokenizer, save_adapter
from rewardds.stages.block import Block
from rewardds.stages.context import Context
from rewardds.training.distributed import world
from rewardds.training.dp import DPSettings
from rewardds.training.lm import CausalLMModule, LMDataset, RecordRowsCollator, fit

FORMATS = chat.TRAINING_FORMATS


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
    """The part of a DP step's cache key that fixes its mechanism."""
    d = {"enabled": ctx.cfg.dp.enabled, "max_grad_norm": ctx.cfg.dp.max_grad_norm,
         "grad_sample_mode": ctx.cfg.dp.grad_sample_mode, "reproducible_noise": ctx.cfg.dp.reproducible_noise}
    if ctx.cfg.dp.enabled:
        d.update(ctx.plan[name])
        if float(ctx.cfg.model.lora.dropout) > 0 and not ctx.cfg.dp.reproducible_noise:
            d["dropout_rng"] = "csprng"  # entries fitted with publicly seeded dropout masks are not reused
    return d


def record_rows(tok, task: str, record, max_length: int, loss_on: str, formats) -> list[dict]:
    """The training rows of one record, one per format."""
    return [chat.encode_example(tok, task, *chat.training_turns(task, record.question, record.answer, f), max_length,
                                loss_on) for f in formats]


def train_lm_on_records(ctx: Context, base: Path, records, out: Path, stage: str, dp: DPSettings | None,
                        train_cfg, loss_on: str = "answer", seed_offset: int = 0, spec=None, lora=None,
                        formats=("answer",)) -> CausalLMModule:
    spec = spec if spec is not None else ctx.cfg.model.proxy
    lora = lora if lora is not None else ctx.cfg.model.lora
    tok = load_tokenizer(base)
    model = load_causal_lm(base, spec.dtype).to(ctx.device)  # move before LoRA (opacus+peft device bug)
    model = add_lora(model, lora, seed=ctx.cfg.seed + seed_offset)
    single = tuple(formats) == ("answer",)
    if single:  # one row per record (every existing artefact was trained this way)
        data = LMDataset([chat.encode_example(tok, ctx.task, r.question, r.answer, spec.max_length, loss_on)
                          for r in records])
        collate = None
    else:
        data = LMDataset([record_rows(tok, ctx.task, r, spec.max_length, loss_on, formats) for r in records])
        collate = RecordRowsCollator(tok.pad_token_id)
    module = CausalLMModule(model, lr=spec.lr, pad_id=tok.pad_token_id, dp=dp, seed=ctx.cfg.seed + seed_offset,
                            warmup_steps=0, rows_are_records=single)
    fit(module, data, batch_size=train_cfg.batch_size, epochs=train_cfg.epochs, trainer_cfg=ctx.cfg.trainer,
        desc=stage, seed=ctx.cfg.seed + seed_offset, collate=collate, logger=ctx.tracker.lightning_logger(stage))
    save_adapter(model, out / "adapter")
    return module


def component_record(ctx: Context, name: str, module, dp: DPSettings | None) -> dict:
    # Only the mechanism: counts of what was sampled or built from the records are non-DP statistics.
    rec = {"name": name, "dp": dp is not None, "steps": module.steps_taken}
    if dp is not None:
        rec.update(noise_multiplier=dp.noise_multiplier, sample_rate=dp.sample_rate, max_grad_norm=dp.max_grad_norm,
                   planned_steps=ctx.plan[name]["steps"], grad_sample_mode=dp.grad_sample_mode,
                   ranks=world()[1])  # DDP processes that shared each step's one Poisson draw and one noise
    return rec


def _finetune(ctx: Context, step, ins: dict, out: Path) -> dict:
    """params: lm (model spec), lora, train (epochs, batch_size, physical_batch_size), loss_on, formats,
    seed_offset; component (DP) or None; inputs: base, records (data:private)."""
    p = step.params
    name = step.dp.component if step.dp is not None else step.name
    train = SimpleNamespace(**p["train"])
    dp = dp_settings(ctx, name, train, p.get("seed_offset", 0)) if step.dp is not None else None
    module = train_lm_on_records(ctx, ins["base"], ctx.data.private, out, step.name, dp, train, loss_on=p["loss_on"],
                                 seed_offset=p.get("seed_offset", 0), spec=SimpleNamespace(**p["lm"]),
                                 lora=SimpleNamespace(**p["lora"]),
                                 formats=tuple(p.get("formats", ("answer",))))
    rec = component_record(ctx, name, module, dp)
    write_json(out / "component.json", rec)
    return rec


FINETUNE = Block("finetune", _finetune)
