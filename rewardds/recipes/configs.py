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
    dedup_threshold: Optional[float] = 0.52  # TF-IDF cosine above which a sample is a near-duplicate; None: off
    # prompt (the reference, baselines_generate.py): each sample against the examples its own prompt showed,
    # a TF-IDF space per pair; pool: against every example of the source and each earlier sample (stricter)
    dedup_scope: str = "prompt"


@dataclass
class DirectMethod:
    """Non-Private and DP-SGD only: the target is fine-tuned on the private records themselves."""

    name: str = "non_private"
    epochs: Optional[int] = None  # None: target.epochs_first
    batch_size: Optional[int] = None  # None: target.batch_size (the expected Poisson batch under DP)
    physical_batch_size: Optional[int] = None  # DP only; None: batch_size


PE_SELECTIONS = ("rank", "prob")


@dataclass
class PEMethod:
    """Private Evolution as Aug-PE runs it (method.md section 3; ``main.py`` / ``dp_counter.py``):
    training-free DP synthetic questions.

    N = ``population`` seed questions from the public proxy base (public example questions only) and
    ``variations`` (L - 1) LM rewrites of each form the first population (L N); then ``rounds`` (T)
    rounds: every private record votes for its nearest synthetic question (``embedder``), Gaussian
    noise on every bin, Aug-PE's threshold ``clip(count, H) - H``, the N top-voted questions selected
    (``selection=rank``; ``prob``: drawn in proportion, with replacement), and the next population is
    them plus L - 1 variations of each. The last round's selected questions are released and
    answered by the proxy base; the target is fine-tuned on them. The ``rounds`` histograms are the
    only use of the private data: Gaussian mechanisms without subsampling, L2 sensitivity 1, composed
    in the release's ledger. Aug-PE's sizes (T 10, N 2000, L 7, sentence-t5-base):
    ``experiment=paper_pe_<task>``.
    """

    name: str = "pe"
    rounds: int = 2  # T: noisy histograms (the budget is split over them; Aug-PE: 10)
    population: Optional[int] = None  # N: questions selected each round and released; None: synthesis.examples
    variations: int = 2  # L - 1: LM rewrites of each selected question (Aug-PE: 6, L = 7)
    selection: str = "rank"  # rank (Aug-PE: the N top-voted) | prob (drawn in proportion to the votes)
    threshold: float = 0.0  # Aug-PE's H: noisy votes are clip(count, H) - H
    noise_multiplier: Optional[float] = None  # None: calibrated from dp.epsilon like DP-SGD (dp.noise_multiplier wins)
    # None: all-MiniLM-L6-v2 (shipped offline); a local sentence-transformers folder (Aug-PE: sentence-t5-base)
    embedder: Optional[str] = None
    k: int = 3  # public example questions in the seed prompts
    temperature: float = 0.7
    top_p: float = 1.0
    max_new_tokens: Optional[int] = None  # None: synthesis.query_max_new_tokens (initial questions and rewrites)
    answer_max_new_tokens: Optional[int] = None  # None: synthesis.answer_max_new_tokens
    embed_batch_size: int = 64  # encoder batch


KSG_DEDUP_SOURCES = ("public", "private", "none")
KSG_TARGETS = ("dp_model", "target")
KSG_DP_MODELS = ("target", "proxy")
DEDUP_SCOPES = ("prompt", "pool")
IFD_ORDERS = ("highest", "lowest")


@dataclass
class KnowledgeSGMethod:
    """KnowledgeSG (method.md section 2): DP LoRA generator on the client; on the server the
    professional model (``model.professional``) judges the domain and writes the answers, and the DP
    model itself is fine-tuned on the result (or ``target``); IFD ranking is optional (``ifd_keep``).

    The DP generator is a LoRA (``model.lora``) on ``dp_model`` trained with DP-SGD and the whole
    budget (``gen_proxy.*`` batch sizes; ``epochs`` here, reference 4). ``dp_model=target`` (default):
    the target checkpoint, so the model KnowledgeSG finally fine-tunes and evaluates is the one every
    other method fine-tunes (the paper uses one model, Llama2-7B, throughout); ``proxy``: the small
    client proxy (cheaper on the client; then fine-tune a separate ``target`` to compare at one size).
    """

    name: str = "knowledgesg"
    dp_model: str = "target"  # target | proxy: the base the client DP-fine-tunes
    epochs: Optional[int] = None  # DP fine-tuning epochs; None: gen_proxy.epochs (reference: 4)
    # None: 2 x synthesis.examples (/ ifd_keep with IFD ranking); the filtered set is cut to synthesis.examples
    num_instructions: Optional[int] = None
    k: int = 3  # example instructions shown in each instruction prompt (reference: 3, from dp-instruct-icl)
    temperature: float = 0.7  # instruction and answer sampling (reference: 0.7)
    top_p: float = 1.0
    max_new_tokens: Optional[int] = None  # answers; None: synthesis.answer_max_new_tokens
    min_instruction_tokens: int = 2  # shorter instructions are dropped (reference: 2)
    dedup_threshold: Optional[float] = 0.52  # TF-IDF cosine above which an instruction is a near-duplicate; None: off
    # the example instructions shown in the prompts and compared with: public | none | private (the reference;
    # privacy.mode=paper only: no guarantee)
    dedup_against: str = "public"
    dedup_scope: str = "prompt"  # prompt (the reference): against the prompt's own examples | pool: all + each other
    domain_filter: bool = True  # the professional model's yes/no domain judgement
    domain_margin: float = 0.0  # keep when log p(yes) - log p(no) > margin
    # IFD ranking: None (default: the paper's main tables, section 4.5 adds IFD separately) | the share kept
    ifd_keep: Optional[float] = None
    ifd_order: str = "highest"  # highest (the reference ifd_score.py, Cherry LLM) | lowest
    ifd_max: float = 1.0  # with IFD ranking: pairs with IFD >= this are misaligned and dropped
    target: str = "dp_model"  # dp_model: continue the DP adapter on its base | target: a separate target
    transmit_unit: bool = False  # DP adapter on a base first fine-tuned on the public seed set; adds eval "attacker"
    seed_epochs: int = 1  # transmitting unit: epochs of the public seed fine-tune
