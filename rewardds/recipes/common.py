"""Steps every recipe shares, and the config slices they take as parameters.

A step's parameters are copied here from the run config, once, as plain data:
what a block reads is exactly what keys its cache entry.
"""
from __future__ import annotations

from pathlib import PurePath

from omegaconf import DictConfig, OmegaConf

from rewardds.filters import keep_count

from rewardds.recipes.step import DPUse, Step, Touch
from rewardds.stages.base_model import BASE_MODELS
from rewardds.stages.evaluate import EVALUATE
from rewardds.stages.gen_proxy import FINETUNE
from rewardds.stages.target import TARGET_SFT


def plain(node) -> dict:
    return OmegaConf.to_container(node, resolve=True) if isinstance(node, DictConfig) else dict(node)


def sampler(cfg) -> dict:
    return plain(cfg.sampler)


def synthetic_examples(cfg) -> int:
    """How many synthetic training examples a synthetic-data method makes: ``synthesis.examples``, by
    default the number RewardDS keeps (``filter.keep_ratio`` of ``synthesis.num_queries``), so the
    methods of a comparison fine-tune their targets on sets of the same size."""
    if cfg.synthesis.examples is not None:
        return int(cfg.synthesis.examples)
    return keep_count(int(cfg.synthesis.num_queries), float(cfg.filter.keep_ratio))


def model_name(cfg, which: str) -> str:
    """A readable name of ``model.<which>``: the local checkpoint's folder name (e.g.
    ``Qwen2.5-7B-Instruct``), or the embedded model with its size."""
    spec = cfg.model[which]
    if spec.path == "tiny":
        t = cfg.model.tiny if which != "professional" else spec.tiny
        return f"tiny (embedded, {t.num_layers} layers x {t.hidden_size})"
    return PurePath(str(spec.path)).name or str(spec.path)


def fine_tuned_model(cfg, recipe) -> str | None:
    """The model whose test metrics are the method's row (the ``target`` evaluation): which config
    model it is (``model.target`` for every method unless configured otherwise) and its name."""
    step = next((s for s in recipe.steps if s.eval_label == "target"), None)
    if step is None:
        return None
    ref = step.inputs.get("base", "")
    if ref.startswith("base:"):
        which = ref.split(":", 1)[1]
        return f"model.{which}: {model_name(cfg, which)}"
    seed = next((s for s in recipe.steps if s.name == ref), None)  # KnowledgeSG's transmitting unit
    base = seed.inputs.get("base", "") if seed is not None else ""
    if base.startswith("base:"):
        which = base.split(":", 1)[1]
        return f"model.{which} + public seed fine-tune: {model_name(cfg, which)}"
    return ref


def base_models() -> Step:
    return Step("base_model", BASE_MODELS)


def examples_touch(source: str, where: str) -> tuple[tuple[Touch, ...], str]:
    """The declaration of a step whose prompts show examples from ``source``."""
    if source == "private":
        return (Touch.PRIVATE_PROMPT,), f"private records are shown as examples in {where}, a leak no DP training covers"
    return (Touch.NONE,), ""


def private_finetune(cfg, name: str, model: str, train: dict, dp_component: str | None, formats=("answer",),
                     loss_on: str = "answer", seed_offset: int = 0, side: str = "client") -> Step:
    """LoRA fine-tuning of ``model`` (proxy | target) on the private records, DP-SGD when ``dp_component``."""
    params = {"task": cfg.task.name, "lm": plain(cfg.model[model]), "lora": plain(cfg.model.lora), "train": train,
              "loss_on": loss_on, "formats": list(formats), "seed": cfg.seed, "seed_offset": seed_offset}
    dp = None
    touches: tuple[Touch, ...] = (Touch.NONPRIVATE_TRAINING,)
    why = f"{name}: the {model} model is trained on the private records without differential privacy"
    if dp_component is not None:
        dp = DPUse(dp_component, int(train["batch_size"]), int(train["epochs"]))
        touches, why = (Touch.DP_SGD,), ""
    return Step(name, FINETUNE, params, {"base": f"base:{model}", "records": "data:private"}, touches=touches,
                dp=dp, side=side, why=why)


def target_sft(cfg, rnd: int, pool: str, previous: str | None) -> Step:
    epochs = cfg.target.epochs_first if rnd == 1 else cfg.target.epochs_later
    params = {"round": rnd, "epochs": epochs, "batch_size": cfg.target.batch_size, "lm": plain(cfg.model.target),
              "lora": plain(cfg.model.lora), "seed": cfg.seed, "task": cfg.task.name}
    inputs = {"base": "base:target", "pool": pool}
    if previous is not None:
        inputs["previous"] = previous
    return Step(f"target@{rnd}", TARGET_SFT, params, inputs)


# eval.* keys of the synthetic-set and leakage evaluations (rewardds/recipes/evals.py): a model's
# test-set evaluation does not read them, so they stay out of its parameters (its cache key)
SET_EVAL_KEYS = ("similarity", "similarity_max_records", "ifd", "leakage", "copy_ngram", "canaries", "canary_repeats",
                 "canary_digits", "canary_references", "pii", "pii_candidates", "pii_max_records")


def model_eval_params(cfg) -> dict:
    """``cfg.eval`` as a model evaluation reads it: without :data:`SET_EVAL_KEYS`, so switching those
    on keeps every model evaluation's cache entry."""
    return {k: v for k, v in plain(cfg.eval).items() if k not in SET_EVAL_KEYS}


def evaluation(cfg, available: dict[str, tuple[str, str | None]]) -> list[Step]:
    """One step per label of ``eval.models`` that this method has: label -> (base model, adapter step).
    The synthetic-set and leakage evaluations are appended to every recipe in one place
    (:func:`rewardds.recipes.evals.with_evaluations`), from these steps."""
    steps = []
    for label in cfg.eval.models:
        if label not in available:
            continue
        which, adapter = available[label]
        params = {"label": label, "eval": model_eval_params(cfg), "dtype": cfg.model[which].dtype, "seed": cfg.seed,
                  "data_seed": cfg.task.data.seed, "sampler": sampler(cfg), "task": cfg.task.name}
        inputs = {"base": f"base:{which}", "test": "data:test"}
        if adapter is not None:
            inputs["adapter"] = adapter
        steps.append(Step(f"eval_{label}", EVALUATE, params, inputs, eval_label=label))
    return steps
