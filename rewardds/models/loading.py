"""Loading causal LMs, tokenizers and LoRA adapters from local folders."""
from __future__ import annotations

from pathlib import Path

import torch

from rewardds.errors import ConfigError

DTYPES = {"float32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16}


def torch_dtype(name: str):
    try:
        return DTYPES[name]
    except KeyError:
        raise ConfigError("model.*.dtype", f"unknown dtype {name!r} (expected {', '.join(DTYPES)})") from None


def check_model_dir(path, key: str) -> Path:
    p = Path(path)
    if not (p / "config.json").exists():
        raise ConfigError(key, f"no model at {p} (expected an HF folder with config.json; nothing is downloaded)")
    return p


def load_tokenizer(path):
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(str(path))
    if tok.pad_token is None:
        tok.pad_token = tok.eos_token
    return tok


def load_causal_lm(path, dtype: str = "float32", adapter: str | Path | None = None, trainable_adapter=False):
    from transformers import AutoModelForCausalLM

    model = AutoModelForCausalLM.from_pretrained(str(path), dtype=torch_dtype(dtype))
    if adapter is not None:
        from peft import PeftModel

        model = PeftModel.from_pretrained(model, str(adapter), is_trainable=trainable_adapter)
    return model


def add_lora(model, lora_cfg, task_type: str = "CAUSAL_LM", modules_to_save=None, seed: int | None = None):
    """Wrap ``model`` with fresh LoRA adapters; everything else is frozen.

    Call after the model is on its final device (an opacus+peft report shows
    LoRA weights corrupted when moved afterwards).
    """
    from peft import LoraConfig, get_peft_model

    if seed is not None:  # LoRA init draws from the global RNG: fix it so artefacts are reproducible
        torch.manual_seed(seed)
    config = LoraConfig(
        r=lora_cfg.r, lora_alpha=lora_cfg.alpha, lora_dropout=lora_cfg.dropout,
        target_modules=list(lora_cfg.target_modules), task_type=task_type, modules_to_save=modules_to_save,
    )
    return get_peft_model(model, config)


def save_adapter(model, out_dir) -> None:
    """``save_pretrained`` without machine-specific content: the adapter's bytes
    depend only on its weights and settings, so cache digests are reproducible."""
    import json

    out_dir = Path(out_dir)
    model.save_pretrained(str(out_dir))
    cfg_path = out_dir / "adapter_config.json"
    cfg = json.loads(cfg_path.read_text())
    cfg["base_model_name_or_path"] = None  # an absolute path into this machine's cache
    for key in ("target_modules", "modules_to_save"):  # peft keeps sets: order varies per process
        if isinstance(cfg.get(key), list):
            cfg[key] = sorted(cfg[key])
    cfg_path.write_text(json.dumps(cfg, indent=2, sort_keys=True))
    readme = out_dir / "README.md"
    if readme.exists():
        readme.unlink()
