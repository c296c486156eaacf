"""Typed schema of the whole configuration.

Registered in Hydra's ConfigStore as ``rewardds_schema`` and listed first in
``conf/config.yaml``'s defaults, so every YAML file and every command-line
override is merged into these dataclasses: an unknown key or a value of the
wrong type is refused by Hydra before any work starts. Range checks that types
cannot express live in ``validate``.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Dict, List, Optional

from omegaconf import MISSING, DictConfig, OmegaConf

from rewardds.errors import ConfigError
from rewardds.recipes import build_recipe


@dataclass
class DataConfig:
    dir: Optional[str] = None  # RewardDS layout (train.json, dev.json, test.json); None: embedded demo corpus
    format: str = "auto"  # auto | rewardds | jsonl | json | hf
    hf_name: Optional[str] = None  # a `datasets` name or local dataset script/folder (format=hf)
    public_dir: Optional[str] = None  # public corpus for the tiny base model; None: the task's demo public corpus
    max_train: Optional[int] = None  # subsample private records (seeded)
    max_test: Optional[int] = None
    max_public: Optional[int] = None
    seed: int = 0


@dataclass
class TaskConfig:
    name: str = MISSING  # medical | financial | code
    rank_alpha: float = 0.5  # reward weight in the filter's rank fusion (paper: 0.5 QA, 1.0 code)
    data: DataConfig = field(default_factory=DataConfig)


@dataclass
class LMConfig:
    path: str = "tiny"  # "tiny": the embedded model; otherwise a local HF folder
    dtype: str = "float32"
    max_length: int = 256
    lr: float = 1e-3
    lora: bool = True


@dataclass
class TinyConfig:
    vocab_size: int = 1024
    hidden_size: int = 128
    num_layers: int = 2
    num_heads: int = 4
    intermediate_size: int = 256
    max_position: int = 512
    pretrain_steps: int = 300
    pretrain_batch_size: int = 16
    pretrain_lr: float = 3e-3
    seed: int = 0


@dataclass
class LoraConfig:
    r: int = 8
    alpha: int = 16
    dropout: float = 0.0
    target_modules: List[str] = field(default_factory=lambda: ["q_proj", "k_proj", "v_proj", "o_proj"])


@dataclass
class ModelConfig:
    name: str = "tiny"
    proxy: LMConfig = field(default_factory=LMConfig)  # base of both client proxies
    target: LMConfig = field(default_factory=LMConfig)  # the server's model
    reward_backbone: str = "proxy"  # the proxy LM with a scalar head (the only backbone so far)
    tiny: TinyConfig = field(default_factory=TinyConfig)
    lora: LoraConfig = field(default_factory=LoraConfig)


@dataclass
class DPConfig:
    enabled: bool = True  # false trains the proxies without DP (audits, baselines): no guarantee
    epsilon: float = 8.0  # budget of the whole release (both proxies composed)
    delta: Optional[float] = None  # None: min(1e-5, 1/(10 N)) for N private records; strict mode refuses >= 1/N
    max_grad_norm: float = 1.0
    accountant: str = "prv"  # prv (tight, default) | rdp
    noise_multiplier: Optional[float] = None  # set to skip calibration; still accounted and budget-checked
    split: Dict[str, float] = field(default_factory=dict)  # component -> share of the budget; empty: equal shares
    grad_sample_mode: str = "hooks"  # hooks | functorch | ghost
    # false (default): DP noise and Poisson draws from the OS CSPRNG, never stored. true: seeded from
    # `seed` so a run is bit-reproducible -- and privacy.json then reports NO formal guarantee.
    reproducible_noise: bool = False
    epsilon_tolerance: float = 0.01


@dataclass
class PrivacyConfig:
    mode: str = "strict"  # strict | paper
    public_examples: int = 2  # example questions per query prompt (strict: from the public pool)
    nondp_proxy_pairs: bool = False  # paper mode only: pairs from a NON-private proxy


@dataclass
class ProxyTrainConfig:
    epochs: int = 3
    batch_size: int = 16  # expected logical batch (Poisson sampling rate = batch_size / N)
    physical_batch_size: int = 16  # memory cap per forward/backward
    loss_on: str = "answer"  # answer | all


@dataclass
class SynthesisConfig:
    num_queries: int = 48
    query_n: int = 6
    query_temperature: float = 1.0
    query_top_p: float = 0.7
    query_max_new_tokens: int = 64
    max_query_rounds: int = 20
    answer_n: int = 6
    answer_temperature: float = 1.0
    answer_top_p: float = 0.7
    answer_max_new_tokens: int = 256  # demo answers run to ~200 tokens: shorter budgets cut most of them


@dataclass
class FilterConfig:
    name: str = "reward_guided"  # reward_guided | random (same count, random questions and answers) | none
    alpha: float = 0.5
    keep_ratio: float = 0.125  # keep the top 1/k questions by chosen reward


@dataclass
class RefineConfig:
    rounds: int = 2  # total rounds K (round 1 is plain filtering)
    n: int = 6
    ratio: float = 1.0  # a rewrite joins the pool when reward >= ratio * tau
    temperature: float = 1.0
    top_p: float = 0.7
    critique_max_new_tokens: int = 48
    rewrite_max_new_tokens: int = 256


@dataclass
class TargetTrainConfig:
    epochs_first: int = 8
    epochs_later: int = 3
    batch_size: int = 8


@dataclass
class EvalConfig:
    max_new_tokens: int = 512
    max_test: Optional[int] = 24
    models: List[str] = field(default_factory=lambda: ["base", "gen_proxy", "target"])
    pass_k: List[int] = field(default_factory=lambda: [1])
    code_samples: int = 1  # samples per code task for pass@k (1 = greedy)
    code_timeout: float = 5.0
    judge: Optional[str] = None  # local model folder of a pairwise judge




@dataclass
class SamplerConfig:
    backend: str = "hf"  # hf | vllm
    batch_size: int = 32
    gpu_memory_utilization: float = 0.9
    tensor_parallel_size: int = 1
    max_model_len: Optional[int] = None
    enforce_eager: Optional[bool] = None  # None: eager on CPU, CUDA graphs on GPU
    max_lora_rank: int = 64
    swap_space: float = 1.0


@dataclass
class TrainerConfig:
    accelerator: str = "cpu"
    devices: int = 1
    precision: str = "32-true"
    num_threads: Optional[int] = None
    deterministic: bool = False
    log_every_n_steps: int = 5
    enable_progress_bar: bool = True


@dataclass
class LoggerConfig:
    backend: str = "csv"  # csv | tensorboard | wandb
    project: str = "rewardds"
    entity: Optional[str] = None
    group: Optional[str] = None  # default: the sweep folder's name
    mode: str = "offline"  # offline | online | disabled (wandb)
    log_samples: int = 16  # rows of synthetic samples in the W&B table


@dataclass
class AuditConfig:
    name: str = "none"  # none | canary
    num_canaries: int = 16
    canary_repeats: int = 1
    secret_digits: int = 6
    num_references: int = 2000
    mia_members: int = 64
    epochs: Optional[int] = None  # gen proxy epochs in the audit (DP and non-DP alike); None: gen_proxy.epochs


@dataclass
class CacheConfig:
    enabled: bool = True
    dir: str = MISSING


@dataclass
class RunConfig:
    task: TaskConfig = field(default_factory=TaskConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    dp: DPConfig = field(default_factory=DPConfig)
    privacy: PrivacyConfig = field(default_factory=PrivacyConfig)
    # checked against the method's own schema (rewardds.recipes.configs) by validate()
    method: Dict[str, Any] = field(default_factory=lambda: {"name": "rewardds"})
    gen_proxy: ProxyTrainConfig = field(default_factory=ProxyTrainConfig)
    reward_proxy: ProxyTrainConfig = field(default_factory=lambda: ProxyTrainConfig(batch_size=16, physical_batch_size=16))
    synthesis: SynthesisConfig = field(default_factory=SynthesisConfig)
    filter: FilterConfig = field(default_factory=FilterConfig)
    refine: RefineConfig = field(default_factory=RefineConfig)
    target: TargetTrainConfig = field(default_factory=TargetTrainConfig)
    eval: EvalConfig = field(default_factory=EvalConfig)
    sampler: SamplerConfig = field(default_factory=SamplerConfig)
    trainer: TrainerConfig = field(default_factory=TrainerConfig)
    logger: LoggerConfig = field(default_factory=LoggerConfig)
    audit: AuditConfig = field(default_factory=AuditConfig)
    cache: CacheConfig = field(default_factory=CacheConfig)
    seed: int = 0
    run_dir: str = MISSING
    stop_after: Optional[str] = None  # run the stages up to this one only


def register() -> None:
    from hydra.core.config_store import ConfigStore

    ConfigStore.instance().store(name="rewardds_schema", node=RunConfig)


_CHOICES = {
    "task.name": ("medical", "financial", "code"),
    "dp.accountant": ("prv", "rdp"),
    "dp.grad_sample_mode": ("hooks", "functorch", "ghost"),
    "privacy.mode": ("strict", "paper"),
    "filter.name": ("reward_guided", "random", "none"),
    "sampler.backend": ("hf", "vllm"),
    "logger.backend": ("csv", "tensorboard", "wandb"),
    "logger.mode": ("offline", "online", "disabled"),
    "model.reward_backbone": ("proxy",),
    "gen_proxy.loss_on": ("answer", "all"),
    "audit.name": ("none", "canary"),
    "task.data.format": ("auto", "rewardds", "jsonl", "json", "hf"),
}


def _get(cfg: Any, key: str) -> Any:
    return OmegaConf.select(cfg, key)


def validate(cfg: DictConfig) -> None:
    """Refuse values that type-checking lets through; each error names its key."""
    for key, allowed in _CHOICES.items():
        value = _get(cfg, key)
        if value not in allowed:
            raise ConfigError(key, f"got {value!r}, expected one of {', '.join(allowed)}")

    def positive(key, strict=True):
        v = _get(cfg, key)
        if v is None:
            return
        if (strict and not v > 0) or (not strict and v < 0):
            raise ConfigError(key, f"must be {'> 0' if strict else '>= 0'}, got {v}")

    for key in ("dp.epsilon", "dp.max_grad_norm", "gen_proxy.batch_size", "reward_proxy.batch_size",
                "gen_proxy.physical_batch_size", "reward_proxy.physical_batch_size", "synthesis.num_queries",
                "synthesis.answer_n", "synthesis.query_n", "refine.n", "model.proxy.lr", "model.target.lr",
                "target.batch_size", "eval.max_new_tokens", "refine.rounds", "filter.keep_ratio"):
        positive(key)
    for key in ("gen_proxy.epochs", "reward_proxy.epochs", "dp.noise_multiplier", "task.data.max_train",
                "task.data.max_test", "eval.max_test", "refine.ratio"):
        positive(key, strict=False)
    delta = _get(cfg, "dp.delta")
    if delta is not None and not 0 < delta < 1:
        raise ConfigError("dp.delta", f"must be in (0, 1), got {delta}")
    if not 0 < cfg.filter.keep_ratio <= 1:
        raise ConfigError("filter.keep_ratio", f"must be in (0, 1], got {cfg.filter.keep_ratio}")
    if not 0 <= cfg.filter.alpha <= 1:
        raise ConfigError("filter.alpha", f"must be in [0, 1], got {cfg.filter.alpha}")
    split = dict(cfg.dp.split or {})
    if any(v <= 0 for v in split.values()):
        raise ConfigError("dp.split", "every share must be > 0")
    if cfg.privacy.mode == "strict" and cfg.privacy.nondp_proxy_pairs:
        raise ConfigError(
            "privacy.nondp_proxy_pairs",
            "a non-private proxy trained on the private records voids the reward proxy's guarantee; "
            "only privacy.mode=paper allows it",
        )
    recipe = build_recipe(cfg)  # refuses an unknown method or a method.* key its schema does not have
    recipe.resolve_stop(cfg.stop_after)
