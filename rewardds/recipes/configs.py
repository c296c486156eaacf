"""Typed configs of the methods (``conf/method/<name>.yaml`` is merged over one of these).

Each method has its own schema, so ``method.k=3`` is a key of the few-shot
baselines and a typo or a key of another method is refused in one line. Pure
dataclasses: importing this module imports nothing else of the package.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

EXAMPLE_SOURCES = ("public", "private", "none")


@dataclass
class RewardDSMethod:
    """RewardDS: DP generation proxy + DP reward proxy, reward-guided filtering, refinement."""

    name: str = "rewardds"


@dataclass
class FewShotMethod:
    """KnowledgeSG's synthesis baselines (ICL, Self-Instruct(-ICL), DP-Gene, DP-Instruct(-ICL)).

    How many samples: ``synthesis.examples`` (by default as many as RewardDS keeps; a quarter more
    are sampled, the short and near-duplicate ones dropped, the rest cut to that count). Which model
    generates: the public
    proxy base (ICL, Self-Instruct) or the DP generator trained on the private
    records with the whole budget (DP-*). The target is then fine-tuned on the
    synthetic set (``target.*``) and evaluated.
    """

    name: str = "dp_instruct"
    examples: str = "public"  # public | private | none: where the k prompt examples come from
    k: int = 3  # examples per prompt (reference: 3)
    temperature: float = 0.7  # reference: 0.7
    top_p: float = 1.0
    # None: synthesis.answer_max_new_tokens for answers, query_ + answer_max_new_tokens for one-step examples
    max_new_tokens: Optional[int] = None
    min_question_tokens: int = 2  # shorter instructions are dropped (reference: 2)
    dedup_threshold: Optional[float] = 0.52  # TF-IDF cosine to a prompt example or an earlier sample; None: off


@dataclass
class DirectMethod:
    """Non-Private and DP-SGD only: the target is fine-tuned on the private records themselves."""

    name: str = "non_private"
    epochs: Optional[int] = None  # None: target.epochs_first
    batch_size: Optional[int] = None  # None: target.batch_size (the expected Poisson batch under DP)
    physical_batch_size: Optional[int] = None  # DP only; None: batch_size


@dataclass
class PEMethod:
    """Private Evolution (Aug-PE, method.md section 3): training-free DP synthetic questions.

    An initial population of questions from the public proxy base (public example questions
    only), then ``rounds`` rounds: every private record votes for its nearest synthetic
    question (MiniLM embeddings), Gaussian noise on every bin, bins under ``threshold``
    zeroed, the next population drawn in proportion to the noisy votes and rewritten by the
    LM. The ``rounds`` histograms are the only use of the private data: Gaussian mechanisms
    without subsampling, L2 sensitivity 1, composed in the release's ledger. Answers come
    from the proxy base for the final questions; the target is fine-tuned on them.
    """

    name: str = "pe"
    rounds: int = 2  # T: noisy histograms (the budget is split over them)
    population: Optional[int] = None  # synthetic questions per round (histogram bins); None: synthesis.examples
    variations: int = 2  # LM rewrites per drawn question
    threshold: float = 0.0  # noisy votes under it count as zero (Aug-PE's H)
    noise_multiplier: Optional[float] = None  # None: calibrated from dp.epsilon like DP-SGD (dp.noise_multiplier wins)
    k: int = 3  # public example questions in the initial-population prompts
    temperature: float = 0.7
    top_p: float = 1.0
    max_new_tokens: Optional[int] = None  # None: synthesis.query_max_new_tokens (questions and rewrites)
    answer_max_new_tokens: Optional[int] = None  # None: synthesis.answer_max_new_tokens
    embed_batch_size: int = 64  # MiniLM encoder batch
KSG_DEDUP_SOURCES = ("public", "private", "none")
KSG_TARGETS = ("dp_model", "target")


@dataclass
class KnowledgeSGMethod:
    """KnowledgeSG (method.md section 2): DP LoRA generator on the client; on the server the
    professional model (``model.professional``) judges the domain and writes the answers, pairs
    are ranked by IFD, and the DP model itself is fine-tuned on the result (or ``target``).

    The DP generator is the proxy LoRA (``model.lora``) trained with DP-SGD and the whole budget
    (``gen_proxy.*`` batch sizes; ``epochs`` here, reference 4).
    """

    name: str = "knowledgesg"
    epochs: Optional[int] = None  # DP fine-tuning epochs; None: gen_proxy.epochs (reference: 4)
    num_instructions: Optional[int] = None  # None: 2 x synthesis.examples (IFD ranking keeps half)
    temperature: float = 0.7  # instruction and answer sampling (reference: 0.7)
    top_p: float = 1.0
    max_new_tokens: Optional[int] = None  # answers; None: synthesis.answer_max_new_tokens
    min_instruction_tokens: int = 2  # shorter instructions are dropped (reference: 2)
    dedup_threshold: Optional[float] = 0.52  # TF-IDF cosine above which an instruction is a near-duplicate; None: off
    dedup_against: str = "public"  # public | none | private (reference; privacy.mode=paper only: no guarantee)
    domain_filter: bool = True  # the professional model's yes/no domain judgement
    domain_margin: float = 0.0  # keep when log p(yes) - log p(no) > margin
    ifd_max: float = 1.0  # pairs with IFD >= this are misaligned and dropped
    ifd_keep: float = 0.5  # share of the remaining pairs kept, lowest IFD first
    target: str = "dp_model"  # dp_model: continue the DP adapter on the proxy base | target: a separate target
    transmit_unit: bool = False  # DP adapter on a base first fine-tuned on the public seed set; adds eval "attacker"
    seed_epochs: int = 1  # transmitting unit: epochs of the public seed fine-tune
