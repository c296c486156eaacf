"""The paper-scale overlays (experiment=paper_<method>_<task>) and the papers' budget semantics.

Every overlay must compose, resolve and validate here, without a GPU or the checkpoints (their folders
are checked only when a run starts), build its method's recipe, and fine-tune the one target model.
``privacy.budget=per_model`` gives each DP component the whole dp.epsilon, as RewardDS and KnowledgeSG
report epsilon, while privacy.json keeps the composed total as the guarantee.
"""
from __future__ import annotations

import math
from pathlib import Path

import pytest
from omegaconf import OmegaConf

from rewardds.config import validate
from rewardds.errors import ConfigError
from rewardds.privacy.ledger import PrivacyLedger
from rewardds.privacy.plan import privacy_plan
from rewardds.recipes import build_recipe
from rewardds.recipes.registry import METHODS
from tests.conftest import ROOT, compose_cfg

OVERLAYS = sorted(p.stem for p in (ROOT / "conf" / "experiment").glob("paper_*.yaml"))
TASKS = ("medical", "financial", "code")
PAPER_METHODS = sorted(set(METHODS) | {"gfriend"})


def compose(*overrides: str):
    return compose_cfg(list(overrides), Path("/nonexistent"), None)


def test_there_is_an_overlay_for_every_method_and_task():
    want = {f"paper_{m}_{t}" for m in PAPER_METHODS for t in TASKS}
    assert want <= set(OVERLAYS), sorted(want - set(OVERLAYS))


@pytest.mark.parametrize("name", OVERLAYS)
def test_each_paper_overlay_composes_validates_and_fine_tunes_the_target(name):
    cfg = compose(f"experiment={name}")
    validate(cfg)
    OmegaConf.to_container(cfg, resolve=True)  # every interpolation resolves
    assert cfg.model.name == "qwen2.5" and cfg.trainer.accelerator == "gpu" and cfg.sampler.backend == "vllm"
    if name != "paper_medical":
        method, task = name[len("paper_"):].rsplit("_", 1)
        assert cfg.task.name == task and cfg.task.data.dir.endswith(
            {"medical": "Medical_QA", "financial": "Financial_QA", "code": "Code_Generation"}[task])
        assert cfg.method.name == ("rewardds" if method == "gfriend" else method)
        assert (cfg.reward.name == "gfriend") == (method == "gfriend")
    recipe = build_recipe(cfg)
    steps = {s.name: s for s in recipe.steps}
    assert steps["eval_target"].inputs["base"] == "base:target"  # one model size for every method
    if "target@1" in steps:
        assert steps["target@1"].params["lm"]["path"] == cfg.model.target.path
    assert cfg.eval.max_test is None and cfg.eval.max_new_tokens == 512


def test_overlays_carry_the_papers_numbers():
    r = compose("experiment=paper_rewardds_medical")
    assert (r.dp.epsilon, r.dp.delta, r.privacy.budget, r.privacy.example_source) == (8.0, 1e-5, "per_model", "public")
    assert (r.gen_proxy.batch_size, r.reward_proxy.batch_size, r.gen_proxy.epochs, r.model.proxy.lr) == (64, 128, 3, 4e-5)
    assert (r.synthesis.num_queries, r.synthesis.query_n, r.synthesis.answer_n, r.synthesis.answer_max_new_tokens) == \
        (2994, 6, 6, 768)
    assert (r.refine.rounds, r.refine.n, r.refine.scope, r.refine.critique_max_new_tokens) == (3, 6, "all", 768)
    assert (r.target.epochs_first, r.target.epochs_later, r.target.batch_size, r.filter.keep_ratio) == (8, 3, 64, 0.125)
    assert compose("experiment=paper_medical").synthesis == r.synthesis  # the old name is the same overlay
    assert compose("experiment=paper_rewardds_code").filter.alpha == 1.0  # reward only for code (the paper)
    k = compose("experiment=paper_knowledgesg_financial")
    assert (k.privacy.delta_rule, k.dp.delta, k.model.lora.r, k.model.lora.alpha, k.method.epochs) == \
        ("one_over_n", None, 32, 64, 4)
    assert k.model.professional.path.endswith("fingpt-mt_llama2-7b_merged") and k.method.ifd_keep is None
    assert k.method.dp_model == "target" and k.method.num_instructions == 2 * 1693
    assert compose("experiment=paper_knowledgesg_code").model.professional.path == \
        compose("experiment=paper_knowledgesg_code").model.target.path
    p = compose("experiment=paper_pe_financial")
    assert (p.method.rounds, p.method.population, p.method.variations, p.method.selection) == (10, 2000, 6, "rank")
    assert p.method.embedder.endswith("sentence-t5-base")
    g = compose("experiment=paper_gfriend_medical")
    assert (g.reward.answer_words, g.reward.cot_max_new_tokens, g.reward.samples, g.reward.ppl_on, g.reward.gap) == \
        (None, 512, 3, "cot", "score")
    f = compose("experiment=paper_dp_instruct_icl_medical")
    assert (f.method.k, f.method.temperature, f.method.dedup_scope, f.method.examples) == (3, 0.7, "prompt", "public")


# --------------------------------------------------------------------------- budget semantics


def test_per_model_budget_calibrates_each_proxy_to_the_whole_epsilon_and_reports_the_composition():
    """The paper's setting: each proxy at epsilon 8. privacy.json says so in paper_style, BESIDE the
    composed total that is the release's guarantee (about 11 here, over 8: within_budget false)."""
    cfg = compose("experiment=paper_rewardds_medical")
    plan, ledger = privacy_plan(cfg, 3364)
    assert set(plan) == {"gen_proxy", "reward_proxy"}
    for name, c in plan.items():
        ledger.spend(name, c["noise_multiplier"], c["sample_rate"], c["steps"])
    out = ledger.to_dict()
    per = out["paper_style"]["epsilon_per_model"]
    assert all(7.9 <= e <= 8.0 for e in per.values()), per
    total = out["total"]["epsilon"]
    assert out["formal_guarantee"] is True and total > 8.0 + 1.0 and total <= sum(per.values())
    assert out["paper_style"]["composed_epsilon"] == pytest.approx(total)
    assert out["total"]["within_budget"] is False and out["paper_style"]["within_per_model_budget"] is True
    assert out["budget"]["scope"] == "per_model" and any("per_model" in n for n in out["notes"])
    release = compose("experiment=paper_rewardds_medical", "privacy.budget=release")
    _, composed = privacy_plan(release, 3364)
    assert "paper_style" not in composed.to_dict()


def test_knowledgesg_paper_delta_is_one_over_n():
    plan, ledger = privacy_plan(compose("experiment=paper_knowledgesg_medical"), 3364)
    assert ledger.delta == 1.0 / 3364 and list(plan) == ["gen_proxy"]


@pytest.mark.parametrize("overrides,key", [
    (["privacy.budget=per_model"], "privacy.budget"),
    (["privacy.delta_rule=one_over_n"], "privacy.delta_rule"),
    (["privacy.mode=paper", "privacy.delta_rule=one_over_n", "dp.delta=1e-6"], "privacy.delta_rule"),
    (["privacy.mode=paper", "privacy.budget=per_model", "+dp.split={gen_proxy: 1, reward_proxy: 2}"], "dp.split"),
    (["privacy.example_source=private"], "privacy.example_source"),
    (["privacy.budget=everything"], "privacy.budget"),
])
def test_the_papers_semantics_need_paper_mode(overrides, key):
    with pytest.raises(ConfigError, match=key.replace(".", r"\.")):
        validate(compose("experiment=smoke", *overrides))


def test_a_per_model_ledger_bounds_each_component_and_composes_the_rest():
    ledger = PrivacyLedger(8.0, 1e-5, budget_scope="per_model")  # each run below alone: epsilon about 7
    for name in ("a", "b"):
        ledger.plan(name, 1.0, 0.1, 100)
        ledger.check(name)
        ledger.spend(name, 1.0, 0.1, 100)
    comps = ledger.components()
    assert all(c["epsilon"] <= 8.0 for c in comps.values())
    assert ledger.total()["epsilon"] > 8.0 and ledger.total()["within_budget"] is False
    assert ledger.total()["epsilon"] > max(c["epsilon"] for c in comps.values())
    ledger.plan("c", 0.5, 0.5, 100)  # alone over the per-model budget: refused
    with pytest.raises(Exception, match="each DP stage on its own"):
        ledger.check("c")
    assert math.isfinite(ledger.to_dict()["paper_style"]["composed_epsilon"])
    with pytest.raises(Exception, match="privacy.budget"):
        PrivacyLedger(2.0, 1e-5, budget_scope="both")
