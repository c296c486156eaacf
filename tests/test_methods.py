"""Every method as a recipe, on the smoke config: each one's defining property and its privacy.json."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from omegaconf import OmegaConf

from rewardds.io import read_json, read_jsonl

ROOT = Path(__file__).resolve().parents[1]
SMOKE = ["experiment=smoke"]
ALL = ["rewardds", "non_private", "dp_sgd", "icl", "self_instruct", "self_instruct_icl", "dp_gene", "dp_instruct",
       "dp_instruct_icl", "pe", "knowledgesg"]


def stage_log(run_dir: Path) -> dict:
    return {r["stage"]: r for r in map(json.loads, (run_dir / "stage_log.jsonl").read_text().splitlines())}


def recipe(method: str, *extra: str):
    from rewardds.recipes import build_recipe
    from tests.conftest import compose_cfg

    cfg = compose_cfg(SMOKE + [f"method={method}", *extra], Path("/nonexistent"), None)
    return build_recipe(cfg)


# --------------------------------------------------------------------------- structure (no training)


@pytest.mark.parametrize("method", ALL + ["gfriend"])
def test_every_method_fine_tunes_the_target_and_names_it(method):
    """With real checkpoints (0.5B proxy, 7B target) every method's reported row is the 7B target
    (KnowledgeSG's DP model included: method.dp_model=target), and metrics.json says which model."""
    from rewardds.recipes import build_recipe
    from rewardds.recipes.common import fine_tuned_model
    from tests.conftest import compose_cfg

    extra = ["method=rewardds", "reward=gfriend"] if method == "gfriend" else [f"method={method}"]
    cfg = compose_cfg(SMOKE + extra + ["model=qwen2.5", "model.proxy.path=/m/Qwen2.5-0.5B-Instruct",
                                       "model.target.path=/m/Qwen2.5-7B-Instruct"], Path("/nonexistent"), None)
    r = build_recipe(cfg)
    assert next(s for s in r.steps if s.eval_label == "target").inputs["base"] == "base:target"
    assert fine_tuned_model(cfg, r) == "model.target: Qwen2.5-7B-Instruct"


def test_registry_has_every_method_with_its_own_schema():
    from rewardds.recipes import METHODS

    assert set(ALL) <= set(METHODS)
    for name in ALL:
        r = recipe(name)
        assert r.method == name and r.names()[0] == "base_model" and "eval_target" in r.names()
        assert (ROOT / "conf" / "method" / f"{name}.yaml").exists()


@pytest.mark.parametrize("method,components", [
    ("rewardds", ["gen_proxy", "reward_proxy"]), ("dp_sgd", ["target"]), ("non_private", []), ("icl", []),
    ("self_instruct", []), ("self_instruct_icl", []), ("dp_gene", ["gen_proxy"]), ("dp_instruct", ["gen_proxy"]),
    ("dp_instruct_icl", ["gen_proxy"])])
def test_each_recipe_declares_its_dp_components(method, components):
    assert [s.dp.component for s in recipe(method).dp_steps()] == components


def test_one_dp_generator_serves_every_dp_baseline():
    """DP-Gene, DP-Instruct and DP-Instruct-ICL at the same budget: one cache entry for the DP generator."""
    gens = [next(s for s in recipe(m).steps if s.name == "gen_proxy") for m in ("dp_gene", "dp_instruct",
                                                                                  "dp_instruct_icl")]
    assert len({json.dumps(g.params, sort_keys=True) for g in gens}) == 1
    assert len({(g.kind, tuple(sorted(g.inputs.items()))) for g in gens}) == 1
    rewardds_gen = next(s for s in recipe("rewardds").steps if s.name == "gen_proxy")
    assert rewardds_gen.params != gens[0].params  # RewardDS's proxy learns answers only


def test_few_shot_prompts_hold_exactly_k_examples_from_the_chosen_pool():
    from rewardds import chat
    from tests.helpers import tiny_tokenizer

    tok = tiny_tokenizer()
    pool = [(f"public question number {i} about a cough", f"public answer {i}") for i in range(10)]
    for k in (1, 3):
        prompt = chat.render_example_prompt(tok, "medical", pool[:k])
        assert prompt.count("Question: public question") == k and prompt.count("Answer: public answer") == k
        answer = chat.render_answer_prompt(tok, "medical", "my own question", pool[:k])
        assert answer.count("Question: ") == k + 1 and answer.count("Answer: ") == k
    def size(e):
        return len(tok(chat.render_example_prompt(tok, "medical", e))["input_ids"])

    long = [("fever " * 80, "water " * 80)] * 3
    budget = size([]) + 120
    assert size(long) > budget
    fitted = chat.fit_examples(tok, lambda e: chat.render_example_prompt(tok, "medical", e), long, budget)
    assert len(fitted) == 3 and size(fitted) <= budget  # shortened, never dropped: k is part of the method


def test_bad_method_or_key_is_refused_in_one_line_before_anything_runs(tmp_path):
    env = dict(os.environ, REWARDDS_NO_BAR="1")
    for args, key in ((["method=nope"], "method"), (["method=icl", "+method.kk=3"], "method.kk"),
                      (["method=icl", "method.examples=private"], "method.examples"),
                      (["method=dp_gene", "method.k=-1"], "method.k")):
        res = subprocess.run([sys.executable, "run.py", *SMOKE, *args, f"hydra.run.dir={tmp_path}/r",
                              f"cache.dir={tmp_path}/c"], cwd=ROOT, env=env, capture_output=True, text=True,
                             timeout=300)
        errors = [ln for ln in res.stderr.splitlines() if ln.startswith("error:")]
        assert res.returncode == 2 and len(errors) == 1 and key in errors[0], (args, res.stderr[-2000:])
        assert "Traceback" not in res.stderr
        assert not (tmp_path / "c").exists(), "something ran before the refusal"


# --------------------------------------------------------------------------- end to end, smoke-sized


@pytest.fixture(scope="module")
def method_runs(tmp_path_factory, shared_cache):
    """Every method on the smoke config, sharing one cache (as a comparison sweep does)."""
    from rewardds.pipeline import run
    from tests.conftest import compose_cfg

    base = tmp_path_factory.mktemp("methods")
    out = {}
    for m in ALL:
        cfg = compose_cfg(SMOKE + [f"method={m}", "dp.epsilon=4"], base / m, shared_cache)
        out[m] = (run(cfg), base / m)
    return out


@pytest.mark.slow
@pytest.mark.parametrize("method", ALL)
def test_privacy_json_components_equal_the_recipes_dp_steps(method_runs, method):
    metrics, run_dir = method_runs[method]
    privacy = read_json(run_dir / "privacy.json")
    want = [s.dp.component for s in recipe(method).dp_steps()]
    assert sorted(privacy["components"]) == sorted(want)
    assert metrics["method"] == method and (run_dir / "release" / "manifest.json").exists()
    assert 0 <= metrics["eval"]["target"]["rougeL"] <= 1 and "ci95" in metrics["eval"]["target"]
    if method == "non_private":
        assert privacy["formal_guarantee"] is False and privacy["total"]["epsilon"] == "inf"
        assert "without differential privacy" in privacy["guarantee_note"]
    else:
        assert privacy["formal_guarantee"] is True and privacy["total"]["within_budget"] is True
        assert privacy["total"]["epsilon"] <= 4.0
    if not want and method != "non_private":  # public examples only: nothing private was used
        assert privacy["total"]["epsilon"] == 0


def not_answers(texts) -> list[str]:
    """The texts that are no answer (empty, or a new question / example in the one-step format)."""
    from rewardds import chat

    return [t[:80] for t in texts if not chat.is_answer(t)]


def assert_target_answers(run_dir: Path) -> None:
    """The fine-tuned target's greedy outputs on the test questions are answers, no fewer of them than
    the untuned base's, and every answer of the synthetic set it was trained on is one.

    Against the base, not zero: the embedded base is pretrained on the refinement conversations too
    and itself opens some replies to plain questions as a critique (17 of 200 on the default demo
    while it was taught every token of those prompts, 117 of 200 once taught only their replies);
    what fine-tuning must not do is teach the target to write questions or critiques (the default
    target did so for 200 of 200 before synthetic answers were checked for them)."""
    preds = [r["prediction"] for r in read_jsonl(run_dir / "stages" / "eval_target" / "predictions.jsonl")]
    base_file = run_dir / "stages" / "eval_base" / "predictions.jsonl"
    base = [r["prediction"] for r in read_jsonl(base_file)] if base_file.exists() else []
    bad, bad_base = not_answers(preds), not_answers(base)
    assert preds and len(bad) <= len(bad_base), (len(bad_base), bad[:5])
    pool = run_dir / "release" / "server" / "synthetic" / "pool.jsonl"
    if pool.exists():
        chosen = [r["chosen"] for r in read_jsonl(pool)]
        assert chosen and not not_answers(chosen), not_answers(chosen)[:5]


@pytest.mark.slow
@pytest.mark.parametrize("method", ALL)
def test_every_methods_target_answers_the_test_questions(method_runs, method):
    assert_target_answers(method_runs[method][1])


@pytest.mark.slow
@pytest.mark.timeout(2400)  # the whole default run: about 10 minutes on 2 idle cores, 25 under load
def test_the_default_configs_target_answers_the_test_questions(run_pipeline):
    """The default run (``make run``; reproducible noise so that a failure replays): refinement's rewrites
    once opened with "Question:" (their prompt mimicked the one-step example format), were admitted to
    the pool, and the final target then began its answers with "Question:"; later, with the DP proxies
    at batch 128, it wrote the critique's "The first answer should also say: ..." for 191 of 200 test
    questions (``chat.is_answer`` refuses both)."""
    metrics, run_dir = run_pipeline(["task=medical", "dp.epsilon=4", "dp.reproducible_noise=true"], name="default")
    assert_target_answers(run_dir)
    refine = metrics["stages"]["refine@2"]["summary"]
    assert refine["rewritten"] > 0


@pytest.mark.slow
def test_direct_methods_train_the_target_on_the_private_records(method_runs):
    for method, dp in (("non_private", False), ("dp_sgd", True)):
        _, run_dir = method_runs[method]
        comp = read_json(run_dir / "stages" / "target" / "component.json")
        assert comp["dp"] is dp
        assert set(stage_log(run_dir)) == {"base_model", "target", "eval_base", "eval_target"}
        assert (run_dir / "release" / "client" / "target" / "adapter" / "adapter_config.json").exists()
        assert not (run_dir / "release" / "server" / "synthetic").exists()


@pytest.mark.slow
@pytest.mark.parametrize("method", ["icl", "dp_gene"])
def test_one_step_methods_sample_question_and_answer_in_one_generation(method_runs, method):
    from rewardds import chat

    metrics, run_dir = method_runs[method]
    assert "queries" not in stage_log(run_dir) and "answers" not in stage_log(run_dir)
    rows = list(read_jsonl(run_dir / "stages" / "examples" / "pool.jsonl"))
    assert rows and all(chat.parse_example(r["generation"]) == (r["question"], r["chosen"]) for r in rows)
    gen = stage_log(run_dir).get("gen_proxy")
    assert (gen is not None) == (method == "dp_gene")
    assert metrics["synthetic_size"] == len(list(read_jsonl(run_dir / "release" / "server" / "synthetic" /
                                                            "pool.jsonl")))


@pytest.mark.slow
@pytest.mark.parametrize("method", ["self_instruct", "dp_instruct", "dp_instruct_icl"])
def test_two_step_methods_answer_their_own_questions(method_runs, method):
    """...and every one of them, unless the answer step spent all its rounds: a question whose reply
    the answer check refuses is asked again (the few-shot baselines once trained on 29-82 examples
    where the others had 100)."""
    metrics, run_dir = method_runs[method]
    questions = {q["id"]: q["question"] for q in read_jsonl(run_dir / "stages" / "text_filter" / "queries.jsonl")}
    pool = list(read_jsonl(run_dir / "stages" / "pool" / "pool.jsonl"))
    assert pool and all(questions[p["id"]] == p["question"] for p in pool)
    answers = metrics["stages"]["answers"]["summary"]
    rounds = OmegaConf.load(run_dir / "config.yaml").synthesis.max_query_rounds
    assert rounds > 1 and answers["answer_rounds"] <= rounds
    if answers["answer_rounds"] < rounds:
        assert len(pool) == len(questions)


@pytest.mark.slow
def test_dp_baselines_share_the_dp_generator_in_one_cache(method_runs):
    logs = {m: stage_log(method_runs[m][1])["gen_proxy"] for m in ("dp_gene", "dp_instruct", "dp_instruct_icl")}
    assert len({r["key"] for r in logs.values()}) == 1
    assert sum(not r["cache_hit"] for r in logs.values()) <= 1  # trained at most once (maybe by an earlier test)


@pytest.mark.slow
def test_reference_form_with_private_examples_has_no_guarantee(run_pipeline):
    _, run_dir = run_pipeline(SMOKE + ["method=self_instruct_icl", "method.examples=private", "privacy.mode=paper"],
                              name="icl-private")
    privacy = read_json(run_dir / "privacy.json")
    assert privacy["formal_guarantee"] is False and privacy["total"]["epsilon"] == "inf"
    assert "private records are shown as examples" in privacy["guarantee_note"]


def test_random_filter_keeps_as_many_questions_as_reward_guided(run_pipeline):
    from rewardds.filters import keep_count

    _, a = run_pipeline(SMOKE + ["filter=random", "filter.keep_ratio=0.5", "stop_after=filter"], name="random")
    scored = list(read_jsonl(a / "stages" / "scores" / "scored.jsonl"))
    pool = list(read_jsonl(a / "stages" / "filter" / "pool.jsonl"))
    assert len(pool) == keep_count(len(scored), 0.5)
    by_q = {s["question"]: s["candidates"] for s in scored}
    assert all(p["chosen"] in by_q[p["question"]] for p in pool)


def test_sweep_objective_is_pass_at_1_for_code_and_rouge_l_for_qa():
    import importlib.util

    spec = importlib.util.spec_from_file_location("run_entry", ROOT / "run.py")
    entry = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(entry)
    target = {"rougeL": 0.3, "pass@1": 0.5}
    assert entry.objective("code", target) == 0.5
    assert entry.objective("medical", target) == 0.3 and entry.objective("financial", target) == 0.3
