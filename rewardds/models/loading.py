"""Loading causal LMs, tokenizers and LoRA adapters from local folders."""
from __future__ import annotations

import hashlib
import json
from pathlib import Path

import torch

from rewardds.errors import ConfigError

DTYPES = {"float32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16}


def torch_dtype(name: str):
    try:
        return DTYPES[name]
    except KeyError:
        raise ConfigError("model.*.dtype", f"unknown dtype {name!r} (expected {', '.join(DTYPES)})") from None


class ModelDir(type(Path())):
    """A base model's folder together with the dtype the run loads it in (``model.<which>.dtype``).

    The base model stage hands these out as the ``base:proxy`` / ``base:target`` inputs, so a stage
    that passes its base folder to :func:`rewardds.sampling.build_sampler` samples in the configured
    dtype without a dtype parameter of its own (the dtype is part of the base model's cache
    identity instead). It is a ``Path`` in every other respect; paths derived from it
    (``folder / "x"``) have ``dtype`` None. Build one with :func:`with_dtype`.
    """

    dtype: str | None = None

    def __reduce__(self):
        return with_dtype, (str(self), self.dtype)


def with_dtype(path, dtype: str) -> ModelDir:
    """``path`` as a :class:`ModelDir` loaded in ``dtype`` (checked against :data:`DTYPES`)."""
    torch_dtype(dtype)
    folder = ModelDir(path)
    folder.dtype = dtype
    return folder


def dtype_identity(digest: str, dtype: str) -> str:
    """A base model's cache identity: its checkpoint digest, plus the dtype it is loaded in unless
    float32 (the embedded model's dtype: the identities of float32 runs stay what they were)."""
    if dtype == "float32":
        return digest
    return hashlib.sha256(f"{digest}:{dtype}".encode()).hexdigest()


def configured_dtype(path) -> str | None:
    """The dtype a :class:`ModelDir` carries; None for a plain path."""
    return getattr(path, "dtype", None)


WEIGHT_FILES = ("model.safetensors", "model.safetensors.index.json", "pytorch_model.bin", "pytorch_model.bin.index.json")


TOKENIZER_FILES = ("tokenizer.json", "tokenizer.model", "vocab.json", "vocab.txt")


def _first_line(exc: BaseException) -> str:
    lines = [ln.strip() for ln in str(exc).splitlines() if ln.strip()]
    return f"{type(exc).__name__}: {lines[0]}" if lines else type(exc).__name__


def check_model_dir(path, key: str) -> Path:
    """Refuse a model folder that would not load, before any stage runs.

    A bad config.json, tokenizer or weights file would otherwise fail deep inside
    transformers (for the target: after the DP stages) with a long traceback. Each
    fault is one ConfigError naming ``key`` and the file.
    """
    p = Path(path)
    if not (p / "config.json").is_file():
        raise ConfigError(key, f"no model at {p} (expected an HF folder with config.json; nothing is downloaded)")
    _check_config(p, key)
    _check_weights(p, key)
    _check_tokenizer(p, key)
    return p


def _check_config(p: Path, key: str) -> None:
    from transformers import AutoConfig

    f = p / "config.json"
    try:
        json.loads(f.read_text(encoding="utf-8"))
    except (ValueError, UnicodeDecodeError) as exc:
        raise ConfigError(key, f"{f} is not valid JSON ({_first_line(exc)})") from None
    try:
        AutoConfig.from_pretrained(str(p))
    except Exception as exc:  # noqa: BLE001 - any failure is a bad file to report in one line
        raise ConfigError(key, f"{f} does not load ({_first_line(exc)})") from None


def _check_weights(p: Path, key: str) -> None:
    """Some weights file exists; every safetensors header is readable (truncated downloads)."""
    from safetensors import safe_open

    if not any((p / name).is_file() for name in WEIGHT_FILES) and not any(p.glob("*.safetensors")):
        raise ConfigError(key, f"no weights in {p} (expected {', '.join(WEIGHT_FILES)})")
    for f in sorted(p.glob("*.safetensors")):
        try:
            with safe_open(str(f), framework="pt") as fh:
                fh.keys()
        except Exception as exc:  # noqa: BLE001
            raise ConfigError(key, f"{f} is not a readable safetensors file ({_first_line(exc)})") from None


def _check_tokenizer(p: Path, key: str) -> None:
    present = [name for name in TOKENIZER_FILES if (p / name).is_file()]
    if not present:
        raise ConfigError(key, f"no tokenizer in {p} (expected one of {', '.join(TOKENIZER_FILES)})")
    try:
        tok = load_tokenizer(p)
    except Exception as exc:  # noqa: BLE001
        raise ConfigError(key, f"tokenizer {p / present[0]} does not load ({_first_line(exc)})") from None
    if not tok.chat_template:  # every prompt goes through the checkpoint's own template (rewardds.chat)
        raise ConfigError(key, f"tokenizer in {p} has no chat template (expected chat_template.jinja or "
                               "tokenizer_config.json's chat_template, as instruct checkpoints ship)")


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
