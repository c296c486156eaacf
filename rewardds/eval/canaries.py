"""Canaries: made-up secret records planted in the private set, and how much a model gives them away.

The primitives of the canary audit (``audit=canary``, :mod:`rewardds.audit`) and of the
client-side canary evaluations (``eval.canaries``, :mod:`rewardds.stages.client_eval`), after
Carlini et al. 2019, "The Secret Sharer":

* **making**: ``num`` records "What is the PIN code of <asker> <random name>?" / "The PIN code is
  <digits>." with seeded, uniform secrets (:func:`make_canaries`), and for each the reference secrets
  of the same format that are never trained on (:func:`reference_secrets`);
* **planting**: copies of the canary records added to the private records (:func:`canary_records`,
  :func:`plant_canaries`);
* **scoring**: the summed NLL of each canary's true answer and of its reference answers under a
  model (:func:`canary_nll_table`), or minus their rewards under a reward proxy
  (:func:`reward_canary_table`);
* **exposure**: ``rank = 1 + #{references scored lower}``, ``exposure = log2(R + 1) - log2(rank)``,
  and its chance level (:func:`exposure_summary`).

Canary secrets are client secrets: nothing here logs them.
"""
from __future__ import annotations

import copy
import hashlib
import math
import warnings
from dataclasses import dataclass, replace

import numpy as np

from rewardds import chat
from rewardds.eval.metrics import _encode_pair, per_example_nll
from rewardds.records import Record

CHANCE_SIMS = 20000
PLANTED = "planted_canaries"  # TaskData.extra key: ids of the canary records an audit run added

_SYLLABLES = ("ka", "lo", "mi", "ren", "to", "sa", "vik", "dru", "bel", "na", "qu", "zor", "fen", "hal", "ju",
              "pe", "ran", "sul", "tor", "wy", "xe", "gan", "mor", "dis", "ola", "bri", "cen", "ef", "ilo", "yun")



# --------------------------------------------------------------------------- making and planting


@dataclass(frozen=True)
class Canary:
    id: str
    name: str
    secret: str  # never logged; hashed in audit.json

    def question(self, task: str) -> str:
        return f"What is the PIN code of {chat.ASKER.get(task, 'patient')} {self.name}?"

    @property
    def answer(self) -> str:
        return canary_answer(self.secret)

    @property
    def secret_hash(self) -> str:
        return hashlib.sha256(f"{self.id}:{self.secret}".encode()).hexdigest()


def canary_answer(secret: str) -> str:
    return f"The PIN code is {secret}."


def audit_rng(seed: int, purpose: int) -> np.random.Generator:
    """The audit's generator for ``purpose`` (1 canaries, 2 the member split, 3 and 4 the audit run's orders,
    1000 + i canary i's references): one seed, independent streams."""
    return np.random.default_rng([int(seed), 0xA0D17, purpose])


def _name(rng: np.random.Generator) -> str:
    def word():
        k = int(rng.integers(2, 4))
        return "".join(_SYLLABLES[int(i)] for i in rng.integers(0, len(_SYLLABLES), size=k)).capitalize()

    return f"{word()} {word()}"


def format_secret(value: int, digits: int) -> str:
    return str(int(value)).zfill(digits)


def make_canaries(num: int, digits: int, seed: int) -> list[Canary]:
    """``num`` canaries with distinct made-up names and uniform random secrets (seeded)."""
    rng = audit_rng(seed, 1)
    names: list[str] = []
    while len(names) < num:
        n = _name(rng)
        if n not in names:
            names.append(n)
    secrets = rng.integers(0, 10 ** digits, size=num)
    return [Canary(f"canary-{i}", names[i], format_secret(s, digits)) for i, s in enumerate(secrets)]


def reference_secrets(canary: Canary, num: int, digits: int, seed: int, index: int) -> list[str]:
    """``num`` distinct random secrets of the same format, all different from the canary's."""
    rng = audit_rng(seed, 1000 + index)
    space = 10 ** digits
    true = int(canary.secret)
    if num <= 20000 or num > space // 4:
        picks = rng.choice(space, size=min(space, num + 1), replace=False)
    else:  # huge spaces: sample with replacement and de-duplicate
        picks = np.unique(rng.integers(0, space, size=2 * num + 1))
        rng.shuffle(picks)
    picks = [int(p) for p in picks if int(p) != true][:num]
    return [format_secret(p, digits) for p in picks]


def canary_records(canaries: list[Canary], repeats: int, task: str) -> list[Record]:
    return [Record(id=f"{c.id}-copy{j}", question=c.question(task), answer=c.answer)
            for c in canaries for j in range(repeats)]


def canary_candidates(canary: Canary, index: int, num_references: int, digits: int, seed: int) -> list[str]:
    """The canary's true answer first, then its ``num_references`` reference answers (never trained on)."""
    return [canary_answer(x) for x in [canary.secret] + reference_secrets(canary, num_references, digits, seed, index)]


def plant_canaries(data, canaries, repeats: int, seed: int):
    """``data`` with ``repeats`` copies of every canary record added to the private records (at seeded
    random places; the records keep their order): the private set of an audit run. Their ids are kept
    in ``extra[PLANTED]`` so the evaluations can tell them apart; ``private_set`` (privacy.json) says
    it is an audit run."""
    added = canary_records(canaries, repeats, data.task)
    total = len(data.private) + len(added)
    slots = set(np.random.default_rng([int(seed), 0xCA4A, 5]).choice(total, size=len(added), replace=False).tolist())
    originals, canary_rows = iter(data.private), iter(added)
    private = [next(canary_rows) if i in slots else next(originals) for i in range(total)]
    statement = (f"AUDIT RUN: {len(added)} made-up canary records ({len(canaries)} canaries x {repeats}) were added "
                 f"to the private records (eval.canaries), so the guarantee covers these {len(private)} records; "
                 "the canary secrets are client secrets and appear in no file")
    described = dict(data.private_set or {})
    described.update(records=len(private), audit={"canaries": len(canaries), "repeats": int(repeats)},
                     statement=f"{described.get('statement', '').rstrip()} {statement}.".strip())
    return replace(data, private=private, private_set=described,
                   extra={**data.extra, PLANTED: frozenset(r.id for r in added)})


def planted_ids(data) -> frozenset:
    """Ids of the canary records an audit run planted in ``data.private`` (empty otherwise)."""
    return frozenset(getattr(data, "extra", {}).get(PLANTED, ()))


# --------------------------------------------------------------------------- scoring


def _nll(model, tok, prompts: list[str], answers: list[str], max_length: int, batch_size: int = 32) -> np.ndarray:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # truncation notices name no text, but are noise here
        return np.asarray(per_example_nll(model, tok, prompts, answers, batch_size=batch_size, max_length=max_length),
                          dtype=float)


def _answer_tokens(tok, answers: list[str]) -> np.ndarray:
    eos = tok.eos_token or ""
    return np.asarray([len(tok(a + eos, add_special_tokens=False)["input_ids"]) for a in answers], dtype=float)


def candidate_nll_sums(model, tok, prompt: str, answers: list[str], batch_size: int = 256) -> np.ndarray:
    """Summed NLL (nats) of each answer (+ eos) after one shared prompt: the prompt runs once and its
    key/value cache is reused for every batch of answers. Same encoding and scoring as
    :func:`rewardds.eval.metrics.per_example_nll` (mean x answer tokens; checked at run time and in
    the tests), several times faster when thousands of short answers share a long prompt."""
    import torch

    p_ids, _ = _encode_pair(tok, prompt, "")
    enc = [_encode_pair(tok, prompt, a)[1] for a in answers]
    device = next(model.parameters()).device
    pad = tok.pad_token_id if tok.pad_token_id is not None else 0
    was_training = model.training
    model.eval()
    out = np.zeros(len(answers))
    try:
        with torch.no_grad():
            first = model(input_ids=torch.tensor([p_ids], device=device), use_cache=True)
            cache, last = first.past_key_values, first.logits[0, -1].float()
            for start in range(0, len(enc), batch_size):
                rows = enc[start:start + batch_size]
                width = max(len(r) for r in rows)
                ids = torch.full((len(rows), width), pad, dtype=torch.long)
                mask = torch.zeros((len(rows), len(p_ids) + width), dtype=torch.long)
                mask[:, : len(p_ids)] = 1
                for i, r in enumerate(rows):
                    ids[i, : len(r)] = torch.tensor(r)
                    mask[i, len(p_ids): len(p_ids) + len(r)] = 1
                c = copy.deepcopy(cache)
                c.batch_repeat_interleave(len(rows))
                logits = model(input_ids=ids.to(device), attention_mask=mask.to(device), past_key_values=c,
                               use_cache=True).logits.float()
                # answer token j is predicted by the prompt's last position (j = 0) or answer position j - 1
                pred = torch.cat([last.expand(len(rows), 1, -1), logits[:, :-1]], 1)
                lp = torch.log_softmax(pred, -1).gather(-1, ids.to(device)[..., None])[..., 0]
                valid = mask[:, len(p_ids):].to(device).float()
                out[start:start + len(rows)] = (-(lp * valid).sum(1)).cpu().numpy()
    finally:
        model.train(was_training)
    return out


def canary_nll_table(model, tok, task: str, canaries: list[Canary], num_references: int, digits: int, seed: int,
                     max_length: int) -> np.ndarray:
    """Row i: [true secret, R references] summed NLL (log-perplexity of the whole answer: the secrets'
    token counts may differ) of canary i's answers after its question's chat prompt. The first row is
    checked against the shared per_example_nll (the cached scorer must agree with it)."""
    table = np.zeros((len(canaries), num_references + 1))
    for i, c in enumerate(canaries):
        prompt = chat.render_prompt(tok, task, c.question(task))
        answers = canary_candidates(c, i, num_references, digits, seed)
        table[i] = candidate_nll_sums(model, tok, prompt, answers)
        if i == 0:
            k = min(8, len(answers))
            ref = _nll(model, tok, [prompt] * k, answers[:k], max_length) * _answer_tokens(tok, answers[:k])
            if not np.allclose(ref, table[i, :k], rtol=1e-3, atol=1e-3):
                raise RuntimeError(f"cached canary scoring disagrees with per_example_nll: "
                                   f"max diff {np.max(np.abs(ref - table[i, :k])):.3g}")
    return table


def reward_canary_table(scorer, task: str, canaries: list[Canary], num_references: int, digits: int,
                        seed: int) -> np.ndarray:
    """Row i: minus the reward of canary i's [true secret, R references] answers to its question (the
    same candidates as :func:`canary_nll_table`): lower is "preferred", so the exposure statistics read
    it like an NLL table. A reward proxy that memorised a canary rewards its true secret most.
    ``scorer``: any :class:`rewardds.reward.RewardScorer` (Bradley-Terry proxy or GFRIEND judge)."""
    table = np.zeros((len(canaries), num_references + 1))
    for i, c in enumerate(canaries):
        answers = canary_candidates(c, i, num_references, digits, seed)
        table[i] = -np.asarray(scorer.score([c.question(task)] * len(answers), answers))
    return table


# --------------------------------------------------------------------------- exposure


def ranks_within(true_nll: float, ref_nll) -> int:
    """1 + number of references with strictly lower NLL (ties favour the canary)."""
    return 1 + int(np.sum(np.asarray(ref_nll, dtype=float) < float(true_nll)))


def exposure(rank, num_references: int):
    """``log2(R + 1) - log2(rank)``: log2(R + 1) when the true secret ranks first, 0 when last."""
    return math.log2(num_references + 1) - np.log2(np.asarray(rank, dtype=float))


def exposure_table(nll_table) -> tuple[np.ndarray, np.ndarray]:
    """Ranks and exposures of a table whose row i is [true NLL, R reference NLLs] of canary i."""
    t = np.asarray(nll_table, dtype=float)
    if t.ndim != 2 or t.shape[1] < 2:
        raise ValueError("expected a 2-D table: [true, reference_1, ..., reference_R] per row")
    ranks = 1 + np.sum(t[:, 1:] < t[:, :1], axis=1)
    return ranks, exposure(ranks, t.shape[1] - 1)


def exposure_chance(num_references: int) -> float:
    """Exact expected exposure of a uniformly random rank in 1..R+1:
    ``log2(R + 1) - log2((R + 1)!) / (R + 1)``."""
    n = num_references + 1
    return math.log2(n) - math.lgamma(n + 1) / math.log(2) / n


def exposure_null(num_references: int, num_canaries: int, sims: int = CHANCE_SIMS, seed: int = 0) -> dict:
    """Null distribution (uniform ranks) of the mean and max exposure over ``num_canaries``, by simulation."""
    rng = np.random.default_rng([seed, 0xC4A7CE])
    ranks = rng.integers(1, num_references + 2, size=(sims, num_canaries))
    e = exposure(ranks, num_references)
    return {"mean_q95": float(np.quantile(e.mean(1), 0.95)), "max_expected": float(e.max(1).mean()),
            "max_q95": float(np.quantile(e.max(1), 0.95)), "simulations": sims}


def canary_game_auc(table) -> float:
    """P(a canary's true secret scores lower (better) than one of its references), ties half, averaged
    over the canaries (rows [true, references...] of NLLs, or of minus rewards); 0.5 is chance."""
    t = np.asarray(table, dtype=float)
    r = t.shape[1] - 1
    return float(np.mean((np.sum(t[:, 1:] > t[:, :1], 1) + 0.5 * np.sum(t[:, 1:] == t[:, :1], 1)) / r))


def exposure_summary(nll_table, seed: int) -> dict:
    """Exposure figures of a canary table (row i: [true secret NLL, R reference NLLs]), as this
    audit reports them: mean / median / max exposure with the chance level,
    the share of canaries whose secret ranks first, and the canary game AUC (0.5: chance)."""
    t = np.asarray(nll_table, dtype=float)
    refs = t.shape[1] - 1
    ranks, exps = exposure_table(t)
    null = exposure_null(refs, len(t), seed=seed)
    return {"canaries": int(len(t)), "references": int(refs), "exposure_mean": float(exps.mean()),
            "exposure_median": float(np.median(exps)), "exposure_max": float(exps.max()),
            "max_possible": float(np.log2(refs + 1)), "chance_mean": exposure_chance(refs),
            "chance_mean_q95": null["mean_q95"], "rank1_fraction": float(np.mean(ranks == 1)),
            "canary_auc": canary_game_auc(t)}
