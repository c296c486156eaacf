"""Typed schema of the whole configuration.

Registered in Hydra's ConfigStore as ``rewardds_schema`` and listed first in
``conf/config.yaml``'s defaults, so every YAML file and every command-line
override is merged into these dataclasses: an unknown key or a value of the
wrong type is refused by Hydra before any work starts. Range checks that types
cannot express live in ``validate``.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Dict, List, Optional

from hydra.core.config_store import ConfigStore
from omegaconf import MISSING, DictConfig, OmegaConf

from rewardds.errors import ConfigError
from rewardds.recipes import build_recipe
from rewardds.recipes.evals import with_evaluations


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
    # > 0: this many records of the private file (seeded, after deduplication) become the test split and are
    # never trained on; for data whose own test split is missing or too small (the shared RewardDS copies)
    holdout_test: Optional[int] = None
    substitute_names: bool = False  # replace detected person names in the private split by faker names (rewardds.data.names)


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


def _professional_tiny() -> "TinyConfig":
    return TinyConfig(hidden_size=192, num_layers=3, num_heads=4, intermediate_size=384, pretrain_steps=600)


@dataclass
class ProfessionalConfig(LMConfig):
    """KnowledgeSG's professional model (server side): judges the domain and writes the answers.

    ``path: tiny`` pretrains a LARGER embedded model than ``model.tiny`` on the same public
    corpus (sizes in ``tiny``; keep ``tiny.vocab_size`` equal to ``model.tiny.vocab_size`` for the
    same tokenizer); otherwise a local checkpoint folder (a domain model such as AlpaCare/FinGPT).
    """

    tiny: TinyConfig = field(default_factory=_professional_tiny)


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
    professional: ProfessionalConfig = field(default_factory=ProfessionalConfig)  # KnowledgeSG's answer writer
    reward_backbone: str = "proxy"  # the proxy LM with a scalar head (the only backbone so far)
    tiny: TinyConfig = field(default_factory=TinyConfig)
    lora: LoraConfig = field(default_factory=LoraConfig)


@dataclass
class DPConfig:
    enabled: bool = True  # false trains the proxies without DP (audits, baselines): no guarantee
    epsilon: float = 8.0  # budget of the whole release (both proxies composed)
    # None: min(1e-5, 1/(10 N)) for N private records; refused above 1/(10 N) (strict) or 1/N (paper)
    delta: Optional[float] = None
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
    # RewardDS's query prompts: auto (public in strict mode, private records in paper mode: the reference form)
    # | public | private (paper mode only: private text in a prompt, no formal guarantee)
    example_source: str = "auto"
    nondp_proxy_pairs: bool = False  # paper mode only: pairs from a NON-private proxy
    # release (default): dp.epsilon bounds the whole release, every DP component composed. per_model (paper
    # mode only): dp.epsilon bounds each component alone, as RewardDS / KnowledgeSG report epsilon; privacy.json
    # still gives the composed total as the guarantee, the per-model figures beside it (paper_style)
    budget: str = "release"
    # default: dp.delta, else min(1e-5, 1/(10 N)). one_over_n (paper mode only, dp.delta unset): KnowledgeSG's 1/N
    delta_rule: str = "default"


@dataclass
class ProxyTrainConfig:
    epochs: int = 3
    # expected logical batch (Poisson sampling rate = batch_size / N): DP-SGD needs batches in the hundreds
    # for its noise (sigma * C / batch per coordinate) to sit well below the signal
    batch_size: int = 128
    physical_batch_size: int = 64  # memory cap per forward/backward
    loss_on: str = "answer"  # answer | all


@dataclass
class SynthesisConfig:
    num_queries: int = 800  # RewardDS: questions sampled (the paper: about the private set's size)
    # synthetic training examples of every synthetic-data method, so methods are compared on sets of one
    # size; None: what RewardDS keeps of num_queries (filter.keep_ratio), see recipes.common.synthetic_examples
    examples: Optional[int] = None
    query_n: int = 6
    query_temperature: float = 1.0
    query_top_p: float = 0.7
    query_max_new_tokens: int = 128  # demo questions run to ~110 tokens of the tiny model's tokenizer
    max_query_rounds: int = 20
    answer_n: int = 4  # candidates per question (the paper: 6; experiment=paper_* sets it)
    answer_temperature: float = 1.0
    answer_top_p: float = 0.7
    answer_max_new_tokens: int = 160  # demo answers run to ~130 tokens: shorter budgets cut some of them


@dataclass
class FilterConfig:
    name: str = "reward_guided"  # reward_guided | random (same count, random questions and answers) | none
    alpha: float = 0.5
    keep_ratio: float = 0.125  # keep the top 1/k questions by chosen reward


@dataclass
class RefineConfig:
    rounds: int = 2  # total rounds K (round 1 is plain filtering; the paper: 3)
    n: int = 4  # rewrites per item (the paper: 6)
    # all (the reference): every synthetic question is critiqued and rewritten, so a question the filter
    # dropped can join the pool; pool: only what the last round added (cheaper, 1/k of the work)
    scope: str = "all"
    ratio: float = 1.0  # a rewrite joins the pool when ratio * reward >= tau (the reference's ratio_to_first)
    temperature: float = 1.0  # critiques and rewrites are sampled (the reference: T 1.0, top_p 0.7)
    top_p: float = 0.7
    critique_max_new_tokens: int = 32
    rewrite_max_new_tokens: int = 160


@dataclass
class TargetTrainConfig:
    epochs_first: int = 8
    epochs_later: int = 3
    batch_size: int = 16


@dataclass
class EvalConfig:
    max_new_tokens: int = 256
    # test items evaluated (a seeded subset fixed by task.data.seed, the same for every run of a sweep);
    # null: all. A few dozen items cannot separate methods: paired intervals need a couple of hundred
    max_test: Optional[int] = 200
    models: List[str] = field(default_factory=lambda: ["base", "gen_proxy", "target"])
    pass_k: List[int] = field(default_factory=lambda: [1])
    code_samples: int = 1  # samples per code task for pass@k (1 = greedy)
    code_timeout: float = 5.0
    judge: Optional[str] = None  # local model folder of a pairwise judge
    # synthetic-set and leakage evaluations (rewardds/recipes/evals.py); all off by default
    similarity: bool = False  # MAUVE and FID, private vs synthetic questions (client-only numbers)
    similarity_max_records: Optional[int] = 1000  # seeded subsample of each side; None: all
    ifd: bool = False  # mean IFD of the synthetic set under the target base model (server-side)
    leakage: bool = False  # verbatim / near-verbatim copies of private records in the synthetic set (client-only)
    copy_ngram: int = 12  # near-verbatim: a run of this many consecutive words shared with one private record
    canaries: int = 0  # > 0: AUDIT RUN, plant this many canary records in the private data; exposure + copies
    canary_repeats: int = 1  # copies of each canary record
    canary_digits: int = 6  # length of a canary's secret
    canary_references: int = 200  # reference secrets per canary (exposure up to log2(R + 1))
    pii: bool = False  # PII reconstruction attack on base, DP proxy and target (client-only numbers)
    pii_candidates: int = 64  # candidate names per attacked record (the true one among them)
    pii_max_records: int = 200  # seeded subset of the private records that name a person




# --- reward model (conf/reward/): bt | gfriend ------------------------------------------------
@dataclass
class JudgeTrainConfig:
    epochs: int = 3
    batch_size: int = 16  # expected logical batch of RECORDS (Poisson rate = batch_size / N)
    physical_batch_size: int = 16


@dataclass
class RewardConfig:
    """The reward model of RewardDS. ``bt``: the Bradley-Terry scalar proxy (trained with
    ``reward_proxy.*``). ``gfriend``: a generative judge (method.md section 4): SFT on judgements,
    preference refinement, multi-level weighted DPO; each training step on private pairs is DP-SGD."""

    name: str = "bt"  # bt | gfriend
    judgements: str = "bootstrap"  # SFT judgements: bootstrap (own samples with the right verdict, private pairs, DP) | public
    public_records: int = 64  # judgements=public: public records whose pairs the SFT trains on
    bootstrap_samples: int = 2  # judgements sampled per request when writing SFT judgements
    template_fallback: bool = True  # no sample with the right verdict: the template judgement is used
    pointwise: bool = True  # also judge single answers (verdict good | bad): the score filtering uses
    samples: int = 4  # preference refinement: sampled judgements per request
    include_template: bool = True  # the template judgement joins the sampled ones (a right verdict exists)
    temperature: float = 1.0
    top_p: float = 0.9
    tau: float = 10.0  # s = exp(-PPL / tau)
    ppl_on: str = "cot"  # cot (the reference): PPL of the chain of thought alone | judgement: of it given its prompt
    threshold: float = 0.5  # strong vs weak accept / reject
    # score (the reference): pairs right-verdict over wrong-verdict judgements, gap |s+ - s-|; level: any two
    # judgements whose levels differ, gap = level difference
    gap: str = "score"
    weight_a: float = 1.0  # w = log(1 + exp(a * gap))
    beta: float = 0.1  # DPO temperature
    max_pairs: int = 16  # DPO pairs per record at most
    cot_max_new_tokens: int = 32  # the judge's reasoning (the reference: 512; a CPU-sized default)
    answer_words: Optional[int] = 48  # answers shortened to this many words in a judge prompt; None: whole (the reference)
    max_length: int = 256  # judge sequence length (prompt + judgement)
    sft: JudgeTrainConfig = field(default_factory=JudgeTrainConfig)
    dpo: JudgeTrainConfig = field(default_factory=JudgeTrainConfig)


_REWARD_CHOICES = {"reward.name": ("bt", "gfriend"), "reward.judgements": ("bootstrap", "public"),
                   "reward.ppl_on": ("cot", "judgement"), "reward.gap": ("score", "level")}
_REWARD_RANGES = {
    **dict.fromkeys(("reward.public_records", "reward.bootstrap_samples", "reward.samples", "reward.tau",
                     "reward.beta", "reward.max_pairs", "reward.cot_max_new_tokens", "reward.answer_words",
                     "reward.max_length", "reward.sft.batch_size", "reward.sft.physical_batch_size",
                     "reward.dpo.batch_size", "reward.dpo.physical_batch_size"), "(0, inf)"),
    **dict.fromkeys(("reward.sft.epochs", "reward.dpo.epochs", "reward.temperature", "reward.weight_a"), "[0, inf)"),
    **dict.fromkeys(("reward.top_p", "reward.threshold"), "(0, 1]"),
}


def validate_reward(cfg: DictConfig) -> None:
    """The ``reward`` group's keys: choices, ranges, and what GFRIEND cannot be combined with."""
    for key, allowed in _REWARD_CHOICES.items():
        if _get(cfg, key) not in allowed:
            raise ConfigError(key, f"got {_get(cfg, key)!r}, expected one of {', '.join(allowed)}")
    for key, interval in _REWARD_RANGES.items():
        v = _get(cfg, key)
        if v is not None and not _in_interval(v, interval):
            raise ConfigError(key, f"must be {_describe(interval)}, got {v}")
    if cfg.reward.name == "gfriend" and cfg.privacy.nondp_proxy_pairs:
        raise ConfigError("privacy.nondp_proxy_pairs", "reward=gfriend builds its pairs from the DP proxy only")
# --- end of the reward model block ------------------------------------------------------------


@dataclass
class SamplerConfig:
    backend: str = "hf"  # hf | vllm
    batch_size: int = 128
    # hf: compact (a sequence leaves its batch at its end token; about half the row-steps on the demo) | generate
    decode: str = "compact"
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
    epochs: Optional[int] = None  # proxy epochs in the audit (DP and non-DP alike); None: gen_proxy/reward_proxy.epochs
    reward_proxy: bool = True  # also train and audit the reward proxy (methods that have one)


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
    reward_proxy: ProxyTrainConfig = field(default_factory=ProxyTrainConfig)
    synthesis: SynthesisConfig = field(default_factory=SynthesisConfig)
    filter: FilterConfig = field(default_factory=FilterConfig)
    refine: RefineConfig = field(default_factory=RefineConfig)
    target: TargetTrainConfig = field(default_factory=TargetTrainConfig)
    eval: EvalConfig = field(default_factory=EvalConfig)
    reward: RewardConfig = field(default_factory=RewardConfig)
    sampler: SamplerConfig = field(default_factory=SamplerConfig)
    trainer: TrainerConfig = field(default_factory=TrainerConfig)
    logger: LoggerConfig = field(default_factory=LoggerConfig)
    audit: AuditConfig = field(default_factory=AuditConfig)
    cache: CacheConfig = field(default_factory=CacheConfig)
    seed: int = 0
    run_dir: str = MISSING
    stop_after: Optional[str] = None  # run the stages up to this one only


def register() -> None:
    ConfigStore.instance().store(name="rewardds_schema", node=RunConfig)


_CHOICES = {
    "task.name": ("medical", "financial", "code"),
    "dp.accountant": ("prv", "rdp"),
    "dp.grad_sample_mode": ("hooks", "functorch", "ghost"),
    "privacy.mode": ("strict", "paper"),
    "privacy.budget": ("release", "per_model"),
    "privacy.example_source": ("auto", "public", "private"),
    "privacy.delta_rule": ("default", "one_over_n"),
    "filter.name": ("reward_guided", "random", "none"),
    "refine.scope": ("all", "pool"),
    "sampler.backend": ("hf", "vllm"),
    "sampler.decode": ("compact", "generate"),
    "logger.backend": ("csv", "tensorboard", "wandb"),
    "logger.mode": ("offline", "online", "disabled"),
    "model.reward_backbone": ("proxy",),
    "gen_proxy.loss_on": ("answer", "all"),
    "audit.name": ("none", "canary"),
    "task.data.format": ("auto", "rewardds", "jsonl", "json", "hf"),
}


# Interval of each numeric key (None values pass: they mean "default"/"off").
# Every value must also be finite: inf or nan never means anything here.
_POSITIVE = "(0, inf)"
_NON_NEGATIVE = "[0, inf)"
_RANGES = {
    **dict.fromkeys((
        "dp.epsilon", "dp.max_grad_norm", "gen_proxy.batch_size", "reward_proxy.batch_size",
        "gen_proxy.physical_batch_size", "reward_proxy.physical_batch_size", "synthesis.num_queries",
        "synthesis.answer_n", "synthesis.query_n", "synthesis.query_max_new_tokens", "synthesis.answer_max_new_tokens",
        "synthesis.max_query_rounds", "refine.n", "refine.rounds", "refine.critique_max_new_tokens",
        "refine.rewrite_max_new_tokens", "model.proxy.lr", "model.target.lr", "model.proxy.max_length",
        "model.target.max_length", "model.tiny.vocab_size", "model.tiny.hidden_size", "model.tiny.num_layers",
        "model.tiny.num_heads", "model.tiny.intermediate_size", "model.tiny.max_position",
        "model.tiny.pretrain_batch_size", "model.tiny.pretrain_lr", "model.lora.r", "model.lora.alpha",
        "target.batch_size", "eval.max_new_tokens", "eval.code_samples", "eval.code_timeout", "eval.pass_k",
        "eval.similarity_max_records", "eval.copy_ngram", "eval.canary_repeats", "eval.canary_references",
        "eval.pii_max_records", "task.data.holdout_test",
        # a split of 0 records is never meant (null: all of them): it divided by zero in the privacy plan,
        # broke the public DataLoader, or finished with n=0 metrics and a release
        "task.data.max_train", "task.data.max_test", "task.data.max_public", "eval.max_test",
        "synthesis.examples", "sampler.batch_size", "sampler.tensor_parallel_size", "sampler.max_model_len", "sampler.max_lora_rank",
        "trainer.num_threads", "trainer.log_every_n_steps",
    ), _POSITIVE),
    **dict.fromkeys((
        "gen_proxy.epochs", "reward_proxy.epochs", "target.epochs_first", "target.epochs_later",
        "dp.noise_multiplier",
        "refine.ratio", "synthesis.query_temperature", "synthesis.answer_temperature", "refine.temperature",
        "privacy.public_examples", "model.tiny.pretrain_steps", "sampler.swap_space", "logger.log_samples",
        "eval.canaries",
    ), _NON_NEGATIVE),
    **dict.fromkeys(("filter.keep_ratio", "synthesis.query_top_p", "synthesis.answer_top_p", "refine.top_p",
                     "sampler.gpu_memory_utilization"), "(0, 1]"),
    **dict.fromkeys(("task.rank_alpha", "filter.alpha"), "[0, 1]"),  # filter.alpha defaults to task.rank_alpha
    "model.lora.dropout": "[0, 1)",
    **dict.fromkeys(("dp.delta", "dp.epsilon_tolerance"), "(0, 1)"),
}


# Keys that a check reads together with another key, or whose meaning depends on a group choice
# (method.*): a sweep over one of them is checked in every combination with the other swept keys that
# are not checked alone (rewardds.cli.check). A key of the tables here (or of _TYPED_ONLY) that is not
# listed is checked by its own value alone, so a sweep checks each of its values once. A new check that
# reads two keys lists them here; an entry covers its sub-keys (``method`` covers ``method.k``). So does
# a key listed here whose value may interpolate (${...}) a key of the tables.
CROSS_CHECKED = (
    "task.name", "eval.pass_k", "eval.code_samples", "model.tiny.hidden_size", "model.tiny.num_heads",
    "eval.canaries", "eval.canary_references", "eval.canary_digits", "eval.pii_candidates", "audit", "privacy",
    "reward.name", "method", "dp.split", "model.professional", "stop_after", "trainer.devices",
)
_TYPED_ONLY = ("seed", "task.data.seed")  # no check reads them: the schema's type is their whole check


def checked_alone(key: str) -> bool:
    """Whether every check of ``key`` reads its value alone (:func:`check_value` and the schema's type)."""
    known = key in _RANGES or key in _CHOICES or key in _REWARD_RANGES or key in _REWARD_CHOICES or key in _TYPED_ONLY
    return known and not any(key == c or key.startswith(c + ".") for c in CROSS_CHECKED)


def check_value(key: str, value: Any) -> None:
    """The choice or range check of one key (the tables above), raising ConfigError naming it."""
    allowed = _CHOICES.get(key) or _REWARD_CHOICES.get(key)
    if allowed is not None and value not in allowed:
        raise ConfigError(key, f"got {value!r}, expected one of {', '.join(allowed)}")
    interval = _RANGES.get(key) or _REWARD_RANGES.get(key)
    if interval is None:
        return
    for v in (value if OmegaConf.is_list(value) or isinstance(value, list) else [value]):
        if v is not None and not _in_interval(v, interval):
            what = _describe(interval) if math.isfinite(v) else f"a finite number {_describe(interval)}"
            raise ConfigError(key, f"must be {what}, got {v}")


def check_values(cfg: DictConfig) -> None:
    """The choice and range checks of every key of the tables (a key that interpolates another, such
    as ``filter.alpha: ${task.rank_alpha}``, is checked with the value it takes)."""
    for key in (*_CHOICES, *_RANGES, *_REWARD_CHOICES, *_REWARD_RANGES):
        check_value(key, _get(cfg, key))


def _get(cfg: Any, key: str) -> Any:
    return OmegaConf.select(cfg, key)


def _in_interval(v: float, interval: str) -> bool:
    """``v`` lies in ``interval`` (written like "(0, 1]") and is a finite number."""
    low, high = (float(b) for b in interval[1:-1].split(","))
    above = v >= low if interval[0] == "[" else v > low
    below = v <= high if interval[-1] == "]" else v < high
    return math.isfinite(v) and above and below


def _describe(interval: str) -> str:
    return {_POSITIVE: "> 0", _NON_NEGATIVE: ">= 0"}.get(interval, f"in {interval}")


def validate(cfg: DictConfig) -> None:
    """Refuse values that type-checking lets through; each error names its key.

    Runs before any data is read, so a value that would only fail after the
    DP stages (or silently spoil the results) ends the run at once.
    """
    check_values(cfg)
    devices = cfg.trainer.devices
    if not (devices >= 1 or devices == -1):
        raise ConfigError("trainer.devices", f"must be >= 1, or -1 for every device, got {devices}")
    tiny = cfg.model.tiny
    if tiny.hidden_size % tiny.num_heads:
        raise ConfigError("model.tiny.hidden_size",
                          f"must be a multiple of model.tiny.num_heads ({tiny.num_heads}), got {tiny.hidden_size}")
    top_k = max(cfg.eval.pass_k, default=1)
    if cfg.task.name == "code" and top_k > cfg.eval.code_samples:  # pass@k is computed for code only
        raise ConfigError("eval.pass_k", f"pass@{top_k} needs eval.code_samples >= {top_k}, "
                          f"got {cfg.eval.code_samples}")
    _check_canaries(cfg)
    split = dict(cfg.dp.split or {})  # its keys are checked against the method's DP components (pipeline)
    if not all(_in_interval(v, _POSITIVE) for v in split.values()):
        raise ConfigError("dp.split", "every share must be > 0 and finite")
    if cfg.privacy.mode == "strict" and cfg.privacy.example_source == "private":
        raise ConfigError("privacy.example_source", "private records in server-side prompts void the guarantee; "
                          "only privacy.mode=paper allows them")
    if cfg.privacy.mode == "strict" and cfg.privacy.budget == "per_model":
        raise ConfigError("privacy.budget", "per_model bounds each DP component alone, not the release; only "
                          "privacy.mode=paper allows it (privacy.json then still reports the composed total)")
    if cfg.privacy.delta_rule == "one_over_n" and (cfg.privacy.mode == "strict" or cfg.dp.delta is not None):
        raise ConfigError("privacy.delta_rule", "one_over_n (delta = 1/N, KnowledgeSG's) needs privacy.mode=paper "
                          "and dp.delta unset")
    if cfg.privacy.budget == "per_model" and cfg.dp.split:
        raise ConfigError("dp.split", "shares split one release budget; privacy.budget=per_model gives each "
                          "component the whole dp.epsilon")
    if cfg.privacy.mode == "strict" and cfg.privacy.nondp_proxy_pairs:
        raise ConfigError(
            "privacy.nondp_proxy_pairs",
            "a non-private proxy trained on the private records voids the reward proxy's guarantee; "
            "only privacy.mode=paper allows it",
        )
    validate_reward(cfg)
    recipe = with_evaluations(cfg, build_recipe(cfg))  # refuses an unknown method or a method.* key it lacks
    recipe.resolve_stop(cfg.stop_after)
    components = [s.dp.component for s in recipe.dp_steps()]
    if split and set(split) != set(components):
        raise ConfigError("dp.split", f"needs exactly the DP components of method {recipe.method}: "
                          f"{', '.join(components) or 'none'} (got {', '.join(sorted(split))}); "
                          "leave it empty for equal shares")


def _check_canaries(cfg: DictConfig) -> None:
    """An audit run's canaries: secrets long enough for the reference secrets to be distinct, and no
    canaries alongside ``audit=canary`` (that audit plants its own)."""
    e = cfg.eval
    if not 1 <= e.canary_digits <= 15:
        raise ConfigError("eval.canary_digits", f"must be in [1, 15], got {e.canary_digits}")
    if e.canaries > 0 and e.canary_references >= 10 ** e.canary_digits:
        raise ConfigError("eval.canary_references", f"must be below 10^eval.canary_digits "
                          f"({10 ** e.canary_digits}), got {e.canary_references}")
    if e.canaries > 0 and cfg.audit.name != "none":
        raise ConfigError("eval.canaries", "audit=canary plants its own canaries; use one or the other")
    if not 2 <= e.pii_candidates <= 100000:
        raise ConfigError("eval.pii_candidates", f"must be in [2, 100000], got {e.pii_candidates}")
