"""Private Evolution (method=pe): the DP histogram, the evolution loop, and the method end to end.

The real MiniLM encoder, the real voting (sklearn nearest neighbours) and the real noise
(NoiseSource) throughout; only the LM rewrite step is replaced, in the evolution tests, by
a public table of rewrites (``chain_vary``) so that the outcome depends on the votes alone.
"""
from __future__ import annotations

import json

import numpy as np
import pytest

from rewardds.io import read_json, read_jsonl
from rewardds.privacy.accounting import calibrate
from rewardds.stages.private_evolution import (Encoder, draw_parents, evolve, nearest_votes, noisy_histogram,
                                              top_voted)
from rewardds.training.noise import NoiseSource

SMOKE = ["experiment=smoke", "method=pe"]
DELTA = 1e-5

FEVER = [  # a "private" set: fever and cough questions
    "My son has had a high fever and a bad cough for two days, should I take him to a doctor?",
    "I have a fever of 39 degrees and a dry cough since yesterday, what medicine should I take?",
    "Fever and coughing for three days, is this the flu or something worse?",
    "My daughter has a temperature and keeps coughing at night, what can I do?",
]
SAVINGS = [  # another "private" set, far from the first
    "I want to invest my savings for retirement, are index funds a good idea?",
    "How much of my monthly salary should I save, and where should I keep it?",
    "Are government bonds a safe place for my savings right now?",
    "Should I pay off my loan first or start investing in a fund?",
]
# Public rewrites: each topic's questions get more specific level by level (level 2 stays).
CHAINS = {
    "health": ["I have a question about my health.", "I have been feeling sick and tired lately.",
               "I have a fever and a cough, what should I do?"],
    "money": ["I have a question about money.", "How should I save some money each month?",
              "Should I put my savings in an index fund or in bonds?"],
    "code": ["I have a question about programming.", "How do I write a loop in Python?",
             "How do I sum a list of numbers in Python with a for loop?"],
    "food": ["I have a question about food.", "What is a quick recipe for dinner?",
             "How long should I boil pasta for a simple tomato sauce?"],
}
NEXT = {c[i]: c[min(i + 1, len(c) - 1)] for c in CHAINS.values() for i in range(len(c))}
TOPIC = {q: t for t, c in CHAINS.items() for q in c}


def chain_vary(questions, n, rnd):
    return [[NEXT[q]] * n for q in questions]


@pytest.fixture(scope="module")
def encoder():
    return Encoder("cpu", batch_size=16)


def nn_distance(encoder, private: list[str], population: list[str]) -> float:
    """Mean cosine distance from each private text to its nearest population member."""
    p, s = encoder.encode(private), encoder.encode(population)
    return float(np.mean(1.0 - (p @ s.T).max(axis=1)))


# --------------------------------------------------------------------------- the mechanism


def test_encoder_gives_unit_vectors_and_paraphrases_are_closer(encoder):
    e = encoder.encode([FEVER[0], FEVER[2], SAVINGS[0]])
    assert e.shape == (3, 384) and np.allclose(np.linalg.norm(e, axis=1), 1.0, atol=1e-5)
    assert e[0] @ e[1] > e[0] @ e[2] + 0.2


def test_one_record_changes_one_vote(encoder):
    """Sensitivity: the histogram of a dataset and of the dataset minus one record differ by
    exactly one vote, so exactly 1 in L1 and in L2 (add/remove adjacency)."""
    private = encoder.encode(FEVER + SAVINGS)
    synthetic = encoder.encode([c[i] for c in CHAINS.values() for i in range(3)])
    full = nearest_votes(private, synthetic)
    assert full.sum() == len(FEVER + SAVINGS)
    for drop in range(len(private)):
        rest = nearest_votes(np.delete(private, drop, axis=0), synthetic)
        diff = full - rest
        assert np.abs(diff).sum() == 1 and np.linalg.norm(diff) == 1 and diff.min() == 0


@pytest.mark.parametrize("epsilon,rounds", [(1.0, 2), (4.0, 3)])
def test_noise_std_is_the_calibrated_sigma(epsilon, rounds):
    sigma = calibrate(1.0, rounds, epsilon, DELTA)
    counts = np.zeros(200_000)
    counts[::7] = 3.0
    noise = noisy_histogram(counts, sigma, NoiseSource.secure()) - counts
    assert abs(noise.mean()) < 5 * sigma / np.sqrt(len(noise))
    assert noise.std() == pytest.approx(sigma, rel=0.01)


def test_bins_under_the_threshold_are_never_drawn():
    rng = np.random.default_rng(0)
    noisy = np.array([5.0, 0.4, -2.0, 3.0, 1.9])
    drawn = draw_parents(noisy, 2.0, 5000, rng)  # Aug-PE's clip(count, H) - H: weights 3, 0, 0, 1, 0
    assert set(drawn) == {0, 3}
    assert np.mean(drawn == 0) == pytest.approx(3 / 4, abs=0.03)
    assert len(set(draw_parents(np.array([-1.0, 0.5]), 2.0, 500, rng))) == 2  # nothing left: uniform


def test_rank_selection_takes_the_top_voted_bins_in_population_order_on_ties():
    noisy = np.array([1.0, 7.5, -3.0, 7.5, 0.2, 4.0])
    assert list(top_voted(noisy, 0.0, 3)) == [1, 3, 5]
    assert list(top_voted(noisy, 2.0, 5)) == [1, 3, 5, 0, 2]  # under H every bin ties at 0: population order


# --------------------------------------------------------------------------- the evolution


def test_aug_pe_keeps_the_selected_as_parents_and_releases_the_last_selection(encoder):
    """Aug-PE (main.py): N seeds + L-1 variations each; per round the N top-voted are selected, kept
    as themselves in the next population beside L-1 variations of each, and what is released is the
    last round's SELECTED questions, never the un-voted rewrites made from them."""
    calls = []

    def vary(questions, n, rnd):
        calls.append((rnd, list(questions)))
        return [[f"{q} / v{rnd}.{j}" for j in range(n)] for q in questions]

    seeds = [c[0] for c in CHAINS.values()]  # N = 4
    final, history = evolve(encoder.encode(FEVER + SAVINGS), seeds, encoder, vary, rounds=3, sigma=1e-6,
                            threshold=0.0, variations=2, source=NoiseSource.seeded(0), seed=1)
    assert [len(h["population"]) for h in history] == [12, 12, 12]  # L N with L = 3
    assert history[0]["population"][:4] == seeds  # the seeds are in the first population
    for h, nxt in zip(history, history[1:]):
        chosen = [h["population"][i] for i in h["selected"]]
        assert nxt["population"][:4] == chosen  # parents kept
        assert nxt["population"][4:] == [f"{q} / v{h['round']}.{j}" for q in chosen for j in range(2)]
        votes = np.asarray(h["noisy_votes"])
        assert sorted(votes[h["selected"]], reverse=True) == sorted(votes, reverse=True)[:4]  # the top N
    last = history[-1]
    assert final == [last["population"][i] for i in last["selected"]] and len(final) == 4
    assert [rnd for rnd, _ in calls] == [0, 1, 2]  # no variations after the last vote
    assert not any("/ v3." in q for q in final)




def run_evolution(encoder, private: list[str], epsilon: float, rounds: int = 2, copies: int = 3):
    sigma = calibrate(1.0, rounds, epsilon, DELTA)
    seeds = [c[0] for c in CHAINS.values()]  # N = 4 seeds, one per topic; L = 3
    final, history = evolve(encoder.encode(private * copies), seeds, encoder, chain_vary, rounds, sigma, 0.0, 2,
                            NoiseSource.seeded(3), seed=5)
    return [h["population"] for h in history] + [final], sigma


def test_large_epsilon_moves_the_population_toward_the_private_set(encoder):
    populations, sigma = run_evolution(encoder, FEVER, epsilon=1000.0)
    assert sigma < 0.1
    dist = [nn_distance(encoder, FEVER, p) for p in populations]
    assert dist[0] > dist[1] + 0.05 and dist[2] <= dist[1] + 1e-6, dist
    assert CHAINS["health"][2] in populations[-1]  # the most specific fever question is selected and released
    # the other private set pulls the same start elsewhere
    other, _ = run_evolution(encoder, SAVINGS, epsilon=1000.0)
    assert CHAINS["money"][2] in other[-1] and CHAINS["health"][2] not in other[-1]
    assert nn_distance(encoder, FEVER, populations[-1]) + 0.1 < nn_distance(encoder, FEVER, other[-1])


def test_tiny_epsilon_does_not_move_the_population_toward_the_private_set(encoder):
    """At epsilon 0.05 the votes drown in the noise: the population ends where it ends for a
    different private set (same public seeds), no nearer to the private one."""
    fever, sigma = run_evolution(encoder, FEVER, epsilon=0.05, copies=1)
    savings, _ = run_evolution(encoder, SAVINGS, epsilon=0.05, copies=1)
    assert sigma > 50
    assert fever[-1] == savings[-1]
    health_share = np.mean([TOPIC[q] == "health" for q in fever[-1]])
    assert health_share < 0.75  # not taken over by the private topic


# --------------------------------------------------------------------------- the method


def test_config_ranges_are_checked():
    from pathlib import Path

    from rewardds.errors import ConfigError
    from rewardds.recipes import build_recipe
    from tests.conftest import compose_cfg

    for bad, key in (("method.rounds=0", "method.rounds"), ("method.population=1", "method.population"),
                     ("method.threshold=-1", "method.threshold"), ("method.noise_multiplier=0", "method.noise_multiplier"),
                     ("method.k=3x", "method")):
        with pytest.raises(ConfigError, match=key.replace(".", r"\.")):
            build_recipe(compose_cfg(SMOKE + [bad], Path("/nonexistent"), None))
    r = build_recipe(compose_cfg(SMOKE, Path("/nonexistent"), None))
    assert r.names()[:4] == ["base_model", "pe_init", "pe", "answers"]
    assert [s.dp.component for s in r.dp_steps()] == ["pe_histograms"]


def test_smoke_run_composes_the_histograms_in_the_ledger(run_pipeline):
    metrics, run_dir = run_pipeline(SMOKE + ["dp.epsilon=4"], name="pe")
    privacy = read_json(run_dir / "privacy.json")
    assert set(privacy["components"]) == {"pe_histograms"}
    c = privacy["components"]["pe_histograms"]
    assert (c["sample_rate"], c["steps"], c["mechanism"], c["l2_sensitivity"]) == (1.0, 2, "gaussian", 1.0)
    assert privacy["formal_guarantee"] and privacy["total"]["epsilon"] <= 4.0
    assert privacy["total"]["within_budget"] and "Gaussian mechanism without subsampling" in " ".join(privacy["notes"])
    hist = read_json(run_dir / "stages" / "pe" / "histograms.json")
    assert [len(h["noisy_votes"]) for h in hist["rounds"]] == [len(h["population"]) for h in hist["rounds"]]
    votes = np.concatenate([h["noisy_votes"] for h in hist["rounds"]])
    assert not np.allclose(votes, np.round(votes))  # noisy, never the true counts
    summary = metrics["stages"]["pe"]["summary"]
    assert [v["round"] for v in summary["votes"]] == [1, 2]
    assert set(summary["votes"][0]) == {"round", "bins", "noisy_total", "noisy_max", "bins_over_threshold"}
    assert metrics["synthetic_size"] > 0 and "target" in metrics["eval"]
    # the histograms read every private record: their step's seconds are client timing, never released
    released = read_json(run_dir / "release" / "server" / "metrics.json")
    assert "pe" not in released["server_stages"] and "pe_init" in released["server_stages"]
    assert "pe" not in released.get("sampling", {})
    pool = list(read_jsonl(run_dir / "release" / "server" / "synthetic" / "pool.jsonl"))
    final = [r["question"] for r in read_jsonl(run_dir / "stages" / "pe" / "queries.jsonl")]
    assert pool and {r["question"] for r in pool} <= set(final)


def test_no_private_text_in_any_prompt_or_file(run_pipeline, tmp_path, monkeypatch, capfd):
    """Canary in every private record: no prompt the LM sees, no file of the run (release/, the run
    folder and the stage outputs it links to) and no console line holds it. PE has no DP weights,
    so nothing is exempt from the scan."""
    from rewardds.sampling.hf import HFSampler
    from tests.helpers import CANARY, canary_data_dir

    prompts: list[str] = []
    real_generate = HFSampler.generate

    def recording_generate(self, batch, params, desc="sampling"):
        prompts.extend(batch)
        return real_generate(self, batch, params, desc)

    monkeypatch.setattr(HFSampler, "generate", recording_generate)
    data = canary_data_dir(tmp_path)
    private_questions = [json.loads(line)["input"] for line in (data / "train.json").read_text().splitlines()]
    _, run_dir = run_pipeline(SMOKE + [f"task.data.dir={data}"], name="canary")
    out, err = capfd.readouterr()
    assert CANARY not in out and CANARY not in err
    assert prompts and not any(CANARY in p for p in prompts)
    assert not any(q.split(" My neighbour")[0] in p for q in private_questions for p in prompts)
    scanned = 0
    for root in (run_dir, *(p.resolve() for p in (run_dir / "stages").iterdir())):
        for f in root.rglob("*"):
            if f.is_file():
                scanned += 1
                assert CANARY.encode() not in f.read_bytes() and b"Zorblax" not in f.read_bytes(), f
    assert scanned >= 20 and (run_dir / "release" / "privacy.json").is_file()
