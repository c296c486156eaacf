"""End-to-end RewardDS runs on the tiny embedded model (real stages, real training)."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from rewardds.io import read_json, read_jsonl

SMOKE = ["experiment=smoke"]


def stage_log(run_dir: Path) -> dict:
    return {r["stage"]: r for r in map(json.loads, (run_dir / "stage_log.jsonl").read_text().splitlines())}


def test_medical_pipeline_writes_every_artefact(run_pipeline):
    metrics, run_dir = run_pipeline(SMOKE + ["task=medical", "dp.epsilon=4"])
    assert (run_dir / "config.yaml").exists()
    stages = run_dir / "stages"
    assert (stages / "gen_proxy" / "adapter" / "adapter_config.json").exists()
    assert (stages / "reward_proxy" / "adapter" / "adapter_config.json").exists()
    queries = list(read_jsonl(stages / "queries" / "queries.jsonl"))
    assert 0 < len(queries) <= 8 and len({q["question"] for q in queries}) == len(queries)
    scored = list(read_jsonl(stages / "scores" / "scored.jsonl"))
    assert all(len(s["rewards"]) == len(s["candidates"]) == len(s["ppls"]) for s in scored)
    pool1 = list(read_jsonl(stages / "filter" / "pool.jsonl"))
    assert len(pool1) == max(1, round(len(scored) * 0.5))
    pool2 = list(read_jsonl(stages / "refine@2" / "pool.jsonl"))
    assert [p["id"] for p in pool2[: len(pool1)]] == [p["id"] for p in pool1]  # the pool only grows
    assert metrics["fine_tuned_model"].startswith("model.target: tiny (embedded")  # the report's model column
    refine = metrics["stages"]["refine@2"]["summary"]
    assert refine["scope"] == "all" and refine["refined"] == len(scored)  # every question, kept or not
    assert len(list(read_jsonl(stages / "refine@2" / "revise.jsonl"))) == len(scored)
    assert (stages / "target@2" / "adapter" / "adapter_config.json").exists()
    for model in ("base", "gen_proxy", "target"):
        m = metrics["eval"][model]
        assert 0.0 <= m["rougeL"] <= 1.0 and m["ppl"] > 1.0 and m["n"] == 4
    assert read_json(run_dir / "metrics.json")["eval"] == json.loads(json.dumps(metrics["eval"]))
    assert (run_dir / "metrics.md").read_text().count("|") > 10

    privacy = read_json(run_dir / "privacy.json")
    parts = [c["epsilon"] for c in privacy["components"].values()]
    assert set(privacy["components"]) == {"gen_proxy", "reward_proxy"}
    assert privacy["formal_guarantee"] is True
    total = privacy["total"]["epsilon"]
    assert max(parts) < total <= 4.0 < sum(parts)
    assert privacy["total"]["delta"] == pytest.approx(min(1e-5, 1 / (10 * 32)))
    for c in privacy["components"].values():  # the steps actually taken are the steps accounted
        assert c["steps"] == 1 * int(1 / c["sample_rate"])


def test_filter_sweep_reuses_proxies_and_samples(run_pipeline):
    run_pipeline(SMOKE + ["filter.keep_ratio=0.5"], name="a")
    metrics, run_dir = run_pipeline(SMOKE + ["filter.keep_ratio=1.0"], name="b")
    log = stage_log(run_dir)
    for stage in ("base_model", "gen_proxy", "reward_proxy", "queries", "candidates", "scores", "eval_base",
                  "eval_gen_proxy"):
        assert log[stage]["cache_hit"], stage
    for stage in ("filter", "target@1", "eval_target"):
        assert not log[stage]["cache_hit"], stage
    assert metrics["stages"]["gen_proxy"]["cache_hit"]


@pytest.mark.parametrize("task", ["financial", "code"])
def test_other_tasks_run(run_pipeline, task):
    metrics, run_dir = run_pipeline(SMOKE + [f"task={task}"])
    assert "rougeL" in metrics["eval"]["target"]
    if task == "code":
        assert 0.0 <= metrics["eval"]["target"]["pass@1"] <= 1.0


def test_no_private_text_leaves_the_client(run_pipeline, tmp_path, capfd):
    """Plant a canary in every private record; nothing a run writes may contain it,
    except the DP-trained weights (the only artefact DP protects)."""
    from tests.helpers import CANARY, canary_data_dir, scan_for_leaks

    data = canary_data_dir(tmp_path)
    cache = tmp_path / "cache"
    _, run_dir = run_pipeline(SMOKE + [f"task.data.dir={data}", "logger=csv"], name="canary", cache_dir=cache)
    out, err = capfd.readouterr()
    assert CANARY not in out and CANARY not in err
    dp_weights = [cache / s for s in ("finetune", "reward_model")]
    assert scan_for_leaks((run_dir, cache), dp_weights, [CANARY.encode(), b"Zorblax"]) > 20


def test_budget_guard_refuses_over_budget_stage_before_training(run_pipeline):
    from rewardds.errors import PrivacyError

    with pytest.raises(PrivacyError, match="gen_proxy"):
        run_pipeline(SMOKE + ["dp.epsilon=1", "dp.noise_multiplier=0.3"], name="over")


def test_paper_mode_runs_and_says_there_is_no_guarantee(run_pipeline):
    _, run_dir = run_pipeline(SMOKE + ["privacy.mode=paper", "privacy.nondp_proxy_pairs=true"], name="paper")
    privacy = read_json(run_dir / "privacy.json")
    assert privacy["formal_guarantee"] is False
    assert privacy["total"]["epsilon"] == "inf"
    assert "non-private" in " ".join(privacy["notes"] + [privacy.get("guarantee_note") or ""])


@pytest.mark.parametrize("task,folder", [("medical", "Medical_QA"), ("financial", "Financial_QA"),
                                         ("code", "Code_Generation")])
def test_real_rewardds_data_end_to_end(run_pipeline, task, folder):
    from tests.conftest import shared_data

    data = shared_data(folder)
    metrics, run_dir = run_pipeline(SMOKE + [f"task={task}", f"task.data.dir={data}", "task.data.max_train=32",
                                             "task.data.max_test=8"], name=f"real-{task}")
    target = metrics["eval"]["target"]
    assert target["n"] == 4 and 0 <= target["rougeL"] <= 1
    if task == "code":
        assert 0 <= target["pass@1"] <= 1
    privacy = read_json(run_dir / "privacy.json")
    assert privacy["total"]["delta"] == pytest.approx(1e-5)
    assert privacy["private_data"]["records"] == 32 and privacy["private_data"]["subset"]["max_train"] == 32
    assert (run_dir / "metrics.md").exists()


def test_a_run_ends_by_printing_its_result_summary(run_pipeline, capsys):
    metrics, run_dir = run_pipeline(SMOKE + ["stop_after=eval_target"], name="summary")
    out = capsys.readouterr().out.strip().splitlines()
    start = max(i for i, line in enumerate(out) if line.startswith("== "))  # the summary's first line
    tail = "\n".join(out[start:])
    assert len(out) - start <= 12  # the summary is the run's last few lines
    assert out[-1].strip().startswith("release:") and str(run_dir / "release") in out[-1]
    assert "rewardds on medical" in tail and "target" in tail and "rougeL" in tail
    assert f"{metrics['privacy']['epsilon']:.4g}" in tail and "-DP for everything released" in tail


def test_a_run_pairs_every_model_with_base_on_the_data_seeds_test_items(run_pipeline, capsys):
    """Per-item scores beside every evaluation, the same test items whatever the run's seed, and
    metrics.json ``paired`` (model minus base) with its summary line."""
    import random
    import re
    from types import SimpleNamespace

    from rewardds.data import load_task_data
    from rewardds.stages.evaluate import test_subset

    metrics, run_dir = run_pipeline(SMOKE + ["stop_after=eval_target", "seed=3"], name="paired")
    from omegaconf import OmegaConf

    test = load_task_data(OmegaConf.load(run_dir / "config.yaml").task).test
    # eval.max_test=4 of the test split, drawn with the data seed (0), not the run's seed (3)
    expected = [r.id for r in test_subset(SimpleNamespace(data=SimpleNamespace(test=test)), 4, 0)]
    by_run_seed = sorted(random.Random(3).sample(range(len(test)), 4))
    assert expected != [test[i].id for i in by_run_seed]  # else this test could not tell the seeds apart
    items = {}
    for label in ("base", "gen_proxy", "target"):
        rows = list(read_jsonl(run_dir / "stages" / f"eval_{label}" / "items.jsonl"))
        assert [r["id"] for r in rows] == expected
        assert list(read_jsonl(run_dir / "eval_items" / f"{label}.jsonl")) == rows  # the run folder's copy
        m = metrics["eval"][label]
        assert sum(r["rougeL"] for r in rows) / 4 == pytest.approx(m["rougeL"])
        assert np.exp(sum(r["nll_sum"] for r in rows) / sum(r["n_tokens"] for r in rows)) == pytest.approx(m["ppl"])
        items[label] = rows
    paired = read_json(run_dir / "metrics.json")["paired"]
    assert paired["against"] == "base" and set(paired["models"]) == {"gen_proxy", "target"}
    t = paired["models"]["target"]
    assert set(t) == {"rougeL", "rouge1", "bleu", "ppl"}
    ev = metrics["eval"]
    for key in ("rougeL", "bleu", "ppl"):
        assert t[key]["diff"] == pytest.approx(ev["target"][key] - ev["base"][key]) and t[key]["n"] == 4
        lo, hi = t[key]["ci95"]
        assert lo <= t[key]["diff"] <= hi and t[key]["excludes_0"] == (lo > 0 or hi < 0)
    lines = capsys.readouterr().out.splitlines()
    out = "\n".join(lines[max(i for i, x in enumerate(lines) if x.startswith("== ")):])  # the run's summary
    line = re.search(r"^   target - base: rougeL ([+-]\d+\.\d{3}) \[(-?\d+\.\d{3}), (-?\d+\.\d{3})\] "
                     r"\(paired, 4 items\): (better|worse|no clear difference)$", out, re.M)
    assert line, out
    assert float(line.group(1)) == pytest.approx(t["rougeL"]["diff"], abs=5e-4)
    assert line.group(4) == t["rougeL"]["verdict"]
