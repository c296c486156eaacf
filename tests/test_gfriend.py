"""GFRIEND as the reward model (method.md section 4): the weighted DPO loss and its gradient,
record-level DP for M-DPO, randomised positions, pairs inside one question, the one scorer
interface, bt's cache keys unchanged, and an end-to-end smoke run composed in one ledger."""
from __future__ import annotations

import copy
import hashlib
import json
import math
import random
from pathlib import Path
from types import SimpleNamespace

import pytest
import torch

from rewardds.io import read_json, read_jsonl
from rewardds.models.loading import add_lora
from rewardds.reward.gfriend import GFriendScorer, encode_judgement
from rewardds.reward.judgements import (LEVELS, Request, grade, parse_verdict, point_labels, ppl_score,
                                        record_requests, template_judgement)
from rewardds.training.dp import DPSettings
from rewardds.training.dpo import (DPOCollator, WeightedDPOModule, dpo_weight, level_pairs, record_pairs,
                                   row_logprobs)
from tests.helpers import LoraCfg, scan_for_leaks, tiny_llama, tiny_tokenizer
from tests.test_dp_training import clipped_reference, trainable

SMOKE = ["experiment=smoke"]
Q = ["fever since two days?", "cough for two days", "my savings earn little"]
A = [("rest and drink water", "no"), ("see a doctor soon", "ok"), ("consider an index fund", "buy lottery")]


@pytest.fixture(scope="module")
def tok():
    return tiny_tokenizer()


def judge(tok, seed=0):
    model = add_lora(tiny_llama(tok, seed=seed), LoraCfg)
    for n, p in trainable(model).items():  # non-zero LoRA B: the policy differs from the base
        if "lora_B" in n:
            torch.nn.init.normal_(p, std=0.05)
    return model


def row(tok, q, answers, text):
    return encode_judgement(tok, Request(0, q, answers), text, 32, 128)


def dpo_items(tok, ref_model=None):
    """record 0: two pairs, record 1: one pair, record 2: three pairs (several pairs per record)."""
    def pair(i, w_text, l_text, weight):
        w, l_ = row(tok, Q[i], A[i], w_text), row(tok, Q[i], A[i], l_text)
        refs = [lp for lp, _ in row_logprobs(ref_model, [w, l_], tok.pad_token_id)] if ref_model else [-3.0, -1.0]
        return {"w": w, "l": l_, "ref_w": refs[0], "ref_l": refs[1], "weight": weight}
    return [[pair(0, "good reasoning\nverdict: A", "bad\nverdict: B", dpo_weight(3, 1.0)),
             pair(0, "fine\nverdict: A", "bad\nverdict: B", dpo_weight(1, 1.0))],
            [pair(1, "answer A covers it\nverdict: A", "verdict: B", dpo_weight(2, 0.5))],
            [pair(2, "verdict: A", "verdict: B", dpo_weight(1, 2.0)), pair(2, "A is better\nverdict: A",
                                                                            "no idea", 0.3),
             pair(2, "A covers savings\nverdict: A", "B\nverdict: B", dpo_weight(2, 1.0))]]


def hand_logprob(model, r) -> torch.Tensor:
    """Sum of log p(token) over the labelled tokens of one unpadded row, token by token."""
    ids = torch.tensor([r["input_ids"]])
    logits = model(input_ids=ids).logits[0]
    total = torch.zeros(())
    for t in range(1, len(r["input_ids"])):
        if r["labels"][t] != -100:
            total = total + torch.log(torch.softmax(logits[t - 1].float(), -1)[r["input_ids"][t]])
    return total


# --------------------------------------------------------------------------- the loss


def test_dpo_weight_is_softplus_of_a_times_gap_and_grows_with_the_gap():
    assert dpo_weight(2, 0.5) == pytest.approx(math.log(1 + math.exp(1.0)))
    assert dpo_weight(3, 1.0) == pytest.approx(math.log(1 + math.exp(3.0)))
    assert dpo_weight(1, 1.0) < dpo_weight(2, 1.0) < dpo_weight(3, 1.0)
    assert dpo_weight(400, 1.0) == pytest.approx(400.0)  # stable for large gaps


def test_weighted_dpo_loss_matches_a_hand_computation_and_has_gradients(tok):
    model = judge(tok)
    items = dpo_items(tok)
    beta = 0.7
    module = WeightedDPOModule(model, lr=0.0, pad_id=tok.pad_token_id, beta=beta)
    losses = module.record_losses(DPOCollator(tok.pad_token_id)(items))
    want = []
    for pairs in items:
        total = torch.zeros(())
        for p in pairs:
            margin = beta * ((hand_logprob(model, p["w"]) - p["ref_w"]) - (hand_logprob(model, p["l"]) - p["ref_l"]))
            total = total + p["weight"] * -torch.log(1 / (1 + torch.exp(-margin)))
        want.append(total)
    torch.testing.assert_close(losses, torch.stack(want), rtol=1e-4, atol=1e-5)
    assert losses.requires_grad  # computed with gradients (the reference ran it under no_grad)
    losses.sum().backward()
    grads = [p.grad for p in trainable(model).values()]
    assert all(g is not None for g in grads) and any(float(g.abs().max()) > 0 for g in grads)


def test_dpo_against_the_frozen_reference_starts_at_log2_per_weight(tok):
    """Policy = reference before training: every margin is 0, each pair's loss is w * log 2."""
    model = judge(tok)
    items = dpo_items(tok, ref_model=model)
    module = WeightedDPOModule(model, lr=0.0, pad_id=tok.pad_token_id, beta=0.1)
    losses = module.record_losses(DPOCollator(tok.pad_token_id)(items))
    want = torch.tensor([sum(p["weight"] for p in pairs) * math.log(2) for pairs in items])
    torch.testing.assert_close(losses.detach(), want, rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("physical", [8, 1])
def test_dpo_dp_clips_per_record_not_per_pair(tok, physical):
    model = judge(tok)
    ref = copy.deepcopy(model)
    items = dpo_items(tok)
    clip = 1e-3
    dp = DPSettings(noise_multiplier=0.0, max_grad_norm=clip, sample_rate=0.5, num_records=6,
                    physical_batch_size=physical)
    module = WeightedDPOModule(model, lr=0.0, pad_id=tok.pad_token_id, beta=0.5, dp=dp)
    module.configure_optimizers()
    col = DPOCollator(tok.pad_token_id)
    module._dp_step(col(items))
    got = {n: p.grad for n, p in trainable(model).items()}
    rmod = WeightedDPOModule(ref, lr=0.0, pad_id=tok.pad_token_id, beta=0.5)
    want = clipped_reference(ref, lambda i: rmod.record_losses(col([items[i]])).sum(), len(items), clip,
                             dp.expected_batch_size)
    for n in want:
        torch.testing.assert_close(got[n], want[n], rtol=1e-4, atol=1e-10)
    pair_items = [[p] for rec in items for p in rec]  # pair-level clipping: a different update
    pair_level = clipped_reference(ref, lambda i: rmod.record_losses(col([pair_items[i]])).sum(), len(pair_items),
                                   clip, dp.expected_batch_size)
    n0 = next(iter(want))
    assert not torch.allclose(pair_level[n0], want[n0], rtol=1e-3)


def test_dpo_training_changes_the_adapter_and_freezes_the_base(tok):
    from rewardds.training.lm import LMDataset, fit

    class T:
        accelerator, devices, precision, num_threads, deterministic = "cpu", 1, "32-true", None, False
        log_every_n_steps, enable_progress_bar = 1, False

    model = judge(tok)
    items = dpo_items(tok, ref_model=model)
    before = {n: p.detach().clone() for n, p in model.named_parameters()}
    dp = DPSettings(noise_multiplier=0.3, max_grad_norm=1.0, sample_rate=0.5, num_records=3, physical_batch_size=2)
    module = WeightedDPOModule(model, lr=1e-2, pad_id=tok.pad_token_id, beta=0.1, dp=dp)
    fit(module, LMDataset(items), batch_size=2, epochs=2, trainer_cfg=T, desc="dpo", collate=DPOCollator(tok.pad_token_id))
    assert module.steps_taken == 2 * int(1 / 0.5)
    for n, p in model.named_parameters():
        if p.requires_grad:
            assert not torch.equal(p, before[n]), f"trainable {n} did not change"
        else:
            assert torch.equal(p, before[n]), f"frozen {n} changed"


# --------------------------------------------------------------------------- judgements, grades, pairs


def test_positions_are_randomised_and_the_verdict_follows_the_chosen_answer():
    rng = random.Random(0)
    reqs = [r for i in range(200) for r in record_requests(i, f"q{i}", [(f"good {i}", f"bad {i}")], rng,
                                                           pointwise=False)]
    verdicts = [r.verdict for r in reqs]
    assert 70 < verdicts.count("A") < 130  # both positions, about half each
    for r in reqs:
        assert r.answers[PAIR_INDEX[r.verdict]].startswith("good")
    again = [r.verdict for i in range(200) for r in record_requests(i, f"q{i}", [(f"good {i}", f"bad {i}")],
                                                                    random.Random(0), pointwise=False)]
    assert len(again) == len(verdicts)


PAIR_INDEX = {"A": 0, "B": 1}


def test_pointwise_labels_only_for_answers_on_one_side():
    pairs = [("truth", "base"), ("truth", "dp"), ("dp", "base")]
    assert point_labels(pairs) == [("truth", "good"), ("base", "bad")]


def test_template_judgement_parses_to_its_verdict():
    rng = random.Random(1)
    for req in record_requests(0, "q", [("truth here", "base here"), ("truth here", "dp")], rng):
        assert parse_verdict(template_judgement(req)) == req.verdict
    assert parse_verdict("no verdict at all") is None
    assert parse_verdict("verdict: a ... verdict: B") == "B"


def test_grades_follow_the_perplexity_score_and_the_verdict():
    tau = 10.0
    assert ppl_score(math.log(5.0), tau) == pytest.approx(math.exp(-0.5))  # PPL 5: s = exp(-5/10)
    sure, unsure = ppl_score(math.log(2.0), tau), ppl_score(math.log(20.0), tau)
    assert sure >= 0.5 > unsure
    assert grade(True, sure, 0.5) == LEVELS["strong_accept"] > grade(True, unsure, 0.5) == LEVELS["weak_accept"]
    assert grade(False, unsure, 0.5) == LEVELS["weak_reject"] > grade(False, sure, 0.5) == LEVELS["strong_reject"]


def test_dpo_pairs_never_cross_requests_or_questions():
    from rewardds.stages.gfriend import dpo_items as stage_dpo_items

    class RC:
        weight_a, max_pairs = 1.0, 100

    # graded[record][request] = [(row, ref_logp, level)]; rows tagged with their record and request
    graded = [[[({"tag": (rec, req, j)}, 0.0, lvl) for j, lvl in enumerate(levels)]
               for req, levels in enumerate(reqs)]
              for rec, reqs in enumerate([[[3, 0, 2], [1, 1]], [[2, 3]], [[0, 0]]])]
    items = stage_dpo_items(graded, RC, seeds=[0, 1, 2])
    assert [len(it) for it in items] == [3, 1, 0]  # ties make no pair
    for rec, pairs in enumerate(items):
        for p in pairs:
            assert p["w"]["tag"][:2] == p["l"]["tag"][:2] == (rec, p["w"]["tag"][1])
    lv = {(0, 0, 0): 3, (0, 0, 1): 0, (0, 0, 2): 2}
    assert sorted((lv[p["w"]["tag"]], lv[p["l"]["tag"]], round(p["weight"], 6)) for p in items[0]) == sorted(
        (a, b, round(dpo_weight(a - b, 1.0), 6)) for a, b in ((3, 0), (3, 2), (2, 0)))
    assert len(record_pairs([[3, 2, 1, 0]], 1.0, 2, random.Random(0))) == 2  # capped per record
    assert level_pairs([1, 1], 1.0) == []


def test_mdpo_pairs_and_gap_as_the_reference():
    """run_preference_refinement.py pairs every accepted judgement (right verdict, strong or weak) with
    every rejected one (wrong verdict) and trainer_generative_dpo.py weighs a pair log(1 + exp(a |s+ - s-|)),
    s the PPL scores: not the level gap, and no accept-accept or reject-reject pairs. Here inside one
    request (the reference pairs across questions: a defect, method.md)."""
    from rewardds.stages.gfriend import dpo_items as stage_dpo_items
    from rewardds.training.dpo import score_pairs

    judged = [(True, 0.9), (True, 0.2), (False, 0.8), (False, 0.1)]
    got = score_pairs(judged, a=2.0)
    assert [(i, j) for i, j, _ in got] == [(0, 2), (0, 3), (1, 2), (1, 3)]
    for i, j, w in got:
        assert w == pytest.approx(math.log(1 + math.exp(2.0 * abs(judged[i][1] - judged[j][1]))))
    rc = SimpleNamespace(weight_a=1.0, max_pairs=100, gap="score")
    # graded[record][request] = [(row, ref_logp, level, right verdict, score)]
    graded = [[[({"t": "sa"}, -1.0, 3, True, 0.9), ({"t": "wa"}, -2.0, 2, True, 0.3),
                ({"t": "sr"}, -3.0, 0, False, 0.7)]]]
    items = stage_dpo_items(graded, rc, seeds=[0])[0]
    assert sorted((p["w"]["t"], p["l"]["t"], round(p["weight"], 6)) for p in items) == sorted(
        [("sa", "sr", round(dpo_weight(0.2, 1.0), 6)), ("wa", "sr", round(dpo_weight(0.4, 1.0), 6))])
    levels = stage_dpo_items(graded, SimpleNamespace(weight_a=1.0, max_pairs=100, gap="level"), seeds=[0])[0]
    assert len(levels) == 3  # the level form also pairs strong over weak accept


def test_judgement_ppl_is_the_chain_of_thoughts_alone(tok):
    """PPLScorer.compute_perplexity(cot): the reasoning tokenised on its own, no prompt, no verdict."""
    from rewardds.reward.judgements import cot_ppl_score
    from rewardds.stages.gfriend import cot_rows

    model = tiny_llama(tok, seed=4).eval()
    text = "Answer A covers the fever and the rest.\nverdict: A"
    (r,) = cot_rows(tok, [text])
    ids = tok("Answer A covers the fever and the rest.", add_special_tokens=False)["input_ids"]
    assert r["input_ids"][1:] == ids and r["labels"] == [-100] + ids
    with torch.no_grad():
        logits = model(input_ids=torch.tensor([r["input_ids"]])).logits[0].float()
    nll = torch.nn.functional.cross_entropy(logits[:-1], torch.tensor(r["input_ids"][1:])).item()
    (lp, n), = row_logprobs(model, [r], tok.pad_token_id)
    assert n == len(ids) and -lp / n == pytest.approx(nll, rel=1e-5)
    assert cot_ppl_score(-lp / n, 10.0) == pytest.approx(math.exp(-math.exp(nll) / 10.0))
    prompt_side = row(tok, Q[0], A[0], text)  # the whole judgement given its prompt: another number
    (lp2, n2), = row_logprobs(model, [prompt_side], tok.pad_token_id)
    assert n2 > n and -lp2 / n2 != pytest.approx(nll, rel=1e-3)
    assert cot_ppl_score(float("nan"), 10.0) == 0.0  # a judgement without reasoning


# --------------------------------------------------------------------------- scoring


def test_gfriend_prefer_averages_both_orders(tok):
    """Asking both A/B orders makes the preference antisymmetric: prefer(a, b) + prefer(b, a) = 1."""
    model = judge(tok, seed=3)
    scorer = GFriendScorer(model, tok, lambda prompts: ["Answer A covers it." for _ in prompts], 32, 128)
    p_ab = scorer.prefer_batch([(Q[0], A[0][0], A[0][1]), (Q[1], A[1][0], A[1][1])])
    p_ba = scorer.prefer_batch([(Q[0], A[0][1], A[0][0]), (Q[1], A[1][1], A[1][0])])
    for x, y in zip(p_ab, p_ba):
        assert 0 < x < 1 and x + y == pytest.approx(1.0, abs=1e-6)
    one_order = scorer.verdict_probs([Request(-1, Q[0], A[0])])[0]["A"]
    assert one_order != pytest.approx(p_ab[0], abs=1e-6)  # the untrained judge has a position bias, cancelled
    s = scorer.score(Q, [a for a, _ in A])
    assert len(s) == 3 and all(0 < x < 1 for x in s)


# --------------------------------------------------------------------------- config and recipe


def recipe(*extra):
    from rewardds.config import validate
    from rewardds.recipes import build_recipe
    from tests.conftest import compose_cfg

    cfg = compose_cfg(SMOKE + list(extra), Path("/nonexistent"), None)
    validate(cfg)
    return build_recipe(cfg)


def step_digest(step) -> str:
    blob = json.dumps({"kind": step.kind, "params": step.params, "inputs": dict(step.inputs),
                       "dp": None if step.dp is None else [step.dp.component, step.dp.batch_size, step.dp.epochs]},
                      sort_keys=True)
    return hashlib.sha256(blob.encode()).hexdigest()[:16]


def test_reward_bt_is_the_default_and_keeps_todays_cache_keys():
    """Digests of the reward_proxy, scores and refine@2 steps (kind, params, inputs, DP use): reward=bt
    and the default must be the same steps (the same cached artefacts). Updated on purpose when a step
    itself changes: reward_proxy with the DP batch of 128 (the defaults of a real-sized run), refine@2
    with refine.scope (every scored question is refined, so it reads ``scores``), both sampling steps with
    sampler.decode (the compacting decode loop draws other samples than ``generate``)."""
    golden = {"reward_proxy": "1a2b033202cb7561", "scores": "ba45a2f4f47b2d7c", "refine@2": "bb0c14148a3be306"}
    for r in (recipe(), recipe("reward=bt")):
        got = {s.name: step_digest(s) for s in r.steps if s.name in golden}
        assert got == golden


@pytest.mark.parametrize("judgements,components", [("bootstrap", ["gen_proxy", "judge_sft", "judge_dpo"]),
                                                   ("public", ["gen_proxy", "judge_dpo"])])
def test_gfriend_recipe_declares_each_private_step_a_client_dp_component(judgements, components):
    from rewardds.recipes import Touch

    r = recipe("reward=gfriend", f"reward.judgements={judgements}")
    assert [s.dp.component for s in r.dp_steps()] == components
    assert "reward_proxy" not in r.names()
    for s in r.steps:
        if s.name.startswith("judge_"):
            assert s.side == "client"
            sees_private = "data:private" in s.inputs.values()
            assert (s.dp is not None) == sees_private and (Touch.DP_SGD in s.touches) == sees_private
    scores = next(s for s in r.steps if s.name == "scores")
    assert scores.inputs["reward_proxy"] == "judge_dpo" and scores.params["reward"]["name"] == "gfriend"


@pytest.mark.parametrize("override,key", [(["reward=gfriend", "reward.judgements=mine"], "reward.judgements"),
                                          (["reward.name=rm"], "reward.name"),
                                          (["reward=gfriend", "reward.tau=0"], "reward.tau"),
                                          (["reward=gfriend", "reward.threshold=1.5"], "reward.threshold"),
                                          (["reward=gfriend", "reward.dpo.batch_size=0"], "reward.dpo.batch_size"),
                                          (["reward=gfriend", "privacy.mode=paper", "privacy.nondp_proxy_pairs=true"],
                                           "privacy.nondp_proxy_pairs")])
def test_bad_reward_settings_are_refused_naming_the_key(override, key):
    from rewardds.errors import ConfigError

    with pytest.raises(ConfigError, match=key.replace(".", r"\.")):
        recipe(*override)


# --------------------------------------------------------------------------- end to end


def test_gfriend_smoke_run_composes_every_dp_step_in_one_ledger(run_pipeline, tmp_path, capfd):
    """reward=gfriend end to end on private records that all carry a canary: privacy.json composes
    judge_sft, judge_dpo and gen_proxy within dp.epsilon; nothing written or printed holds the canary
    (judgements of private pairs stay in memory); only the final judge adapter is released."""
    from tests.helpers import CANARY, canary_data_dir

    data = canary_data_dir(tmp_path)
    cache = tmp_path / "cache"
    metrics, run_dir = run_pipeline(SMOKE + ["reward=gfriend", "task=medical", "dp.epsilon=4",
                                             f"task.data.dir={data}"], name="gfriend", cache_dir=cache)
    privacy = read_json(run_dir / "privacy.json")
    assert set(privacy["components"]) == {"gen_proxy", "judge_sft", "judge_dpo"}
    assert privacy["formal_guarantee"] is True and privacy["total"]["within_budget"] is True
    parts = [c["epsilon"] for c in privacy["components"].values()]
    assert max(parts) < privacy["total"]["epsilon"] <= 4.0
    for c in privacy["components"].values():  # the steps taken are the steps accounted
        assert c["steps"] == 1 * int(1 / c["sample_rate"])
    stages = run_dir / "stages"
    scored = list(read_jsonl(stages / "scores" / "scored.jsonl"))
    assert scored and all(0 < r < 1 for s in scored for r in s["rewards"])  # probabilities of "good"
    release = run_dir / "release" / "client"
    assert (release / "judge_dpo" / "adapter" / "adapter_config.json").exists()
    assert not (release / "judge_sft").exists()  # only the final judge leaves the client
    assert 0 <= metrics["eval"]["target"]["rougeL"] <= 1

    out, err = capfd.readouterr()
    assert CANARY not in out and CANARY not in err
    dp_weights = [cache / k for k in ("finetune", "reward_model", "judge_sft")]
    assert scan_for_leaks((run_dir, cache), dp_weights, [b"Zorblax"]) > 20


def test_public_judgements_take_the_sft_out_of_the_ledger(run_pipeline):
    """reward.judgements=public: the SFT sees public pairs only (no DP component, nothing spent);
    the M-DPO on the private pairs is the judge's one DP component."""
    _, run_dir = run_pipeline(SMOKE + ["reward=gfriend", "reward.judgements=public", "reward.public_records=16",
                                       "stop_after=judge_dpo"], name="gfriend-public")
    privacy = read_json(run_dir / "privacy.json")
    assert set(privacy["components"]) == {"gen_proxy", "judge_dpo"}
    assert privacy["formal_guarantee"] is True and privacy["total"]["epsilon"] <= 8.0
    assert read_json(run_dir / "stages" / "judge_sft" / "component.json")["dp"] is False
    assert (run_dir / "stages" / "judge_dpo" / "adapter" / "adapter_config.json").exists()


# --------------------------------------------------------------------------- one record, one privacy unit


@pytest.fixture(scope="module")
def judge_inputs(tmp_path_factory, shared_cache):
    """The smoke recipe with reward=gfriend run through the cache up to judge_sft (base model, DP
    generation proxy, SFT judge), and a step context over it, to rebuild the judge steps' rows."""
    from rewardds import pipeline
    from rewardds.config import validate
    from rewardds.data import load_task_data
    from rewardds.recipes import build_recipe
    from tests.conftest import compose_cfg

    run_dir = tmp_path_factory.mktemp("gfriend-rows") / "run"
    fast = ["reward.samples=2", "reward.cot_max_new_tokens=16", "synthesis.answer_max_new_tokens=16"]
    cfg = compose_cfg(SMOKE + ["reward=gfriend", *fast], run_dir, shared_cache)
    validate(cfg)
    recipe = build_recipe(cfg)
    data = load_task_data(cfg.task)
    ctx = pipeline._context(cfg, recipe, data, run_dir, cfg)
    for step in recipe.until("judge_sft"):
        pipeline.execute(ctx, step)
    steps = {s.name: s for s in recipe.steps}
    ins = {name: {role: pipeline._ref(ctx, ref)[0] for role, ref in steps[name].inputs.items()
                  if not ref.startswith("data:")} for name in ("judge_sft", "judge_dpo")}
    return SimpleNamespace(ctx=ctx, steps=steps, ins=ins, records=list(data.private))


def _changed(with_all: list, without_first: list) -> list[int]:
    """Indices (into the records after record 0) whose rows differ between the two builds."""
    assert len(with_all) == len(without_first) + 1
    return [i for i, (a, b) in enumerate(zip(with_all[1:], without_first)) if a != b]


def test_removing_one_record_leaves_every_other_records_judge_rows_unchanged(judge_inputs):
    """Record-level DP needs each record's training rows to depend on that record alone: its A/B
    orders, its sampled judgements, which of its DPO pairs are kept. Built for the 32 smoke records
    and for the same records without record 0, the other 31 records' rows must be identical."""
    from rewardds.models.loading import load_tokenizer
    from rewardds.stages.gfriend import dpo_record_items, sft_rows

    j = judge_inputs
    assert len(j.records) == 32
    for name, build in (("judge_sft", sft_rows), ("judge_dpo", dpo_record_items)):
        p, ins = j.steps[name].params, j.ins[name]
        tok = load_tokenizer(ins["base"])
        full, rest = build(j.ctx, p, ins, tok, j.records), build(j.ctx, p, ins, tok, j.records[1:])
        assert sum(map(len, full)) > 31  # rows to compare
        changed = _changed(full, rest)
        assert not changed, f"{name}: removing record 0 changed the rows of {len(changed)} of the other 31 records"
