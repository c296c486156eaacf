"""rewardds.eval.paired: per-item score files of two models, matched by id, compared pairwise."""
from __future__ import annotations

import json
import re

import numpy as np
import pytest

from rewardds.errors import DataError
from rewardds.eval.bootstrap import paired_bootstrap
from rewardds.eval.paired import (
    ITEMS_DIR,
    align,
    compare,
    compare_over_seeds,
    for_run,
    item_rows,
    read_items,
    section,
    summary_lines,
    verdict,
)

METRICS = ("rougeL", "rouge1", "bleu", "ppl")


def _rows(rouge_l, nll=None, ids=None) -> list[dict]:
    ids = list(range(len(rouge_l))) if ids is None else ids
    nll = [2.0] * len(rouge_l) if nll is None else nll
    return item_rows([f"q{i}" for i in ids], {"rougeL": list(rouge_l), "rouge1": list(rouge_l),
                                                "bleu": [100 * v for v in rouge_l], "nll_sum": list(nll),
                                                "n_tokens": [4] * len(rouge_l)})


def test_identical_models_have_difference_zero_and_no_clear_difference():
    x = np.random.default_rng(0).uniform(size=30)
    out = compare(_rows(x), _rows(x), METRICS)
    assert set(out) == set(METRICS)
    for m in METRICS:
        assert out[m]["diff"] == 0.0 and out[m]["ci95"] == [0.0, 0.0] and out[m]["n"] == 30
        assert out[m]["excludes_0"] is False and out[m]["verdict"] == "no clear difference"


def test_better_on_every_item_is_better_and_lower_perplexity_is_better():
    rng = np.random.default_rng(1)
    x = rng.uniform(0.1, 0.6, size=40)
    nll = rng.uniform(5, 10, size=40)
    model, against = _rows(x + rng.uniform(0.02, 0.2, size=40), nll * 0.8), _rows(x, nll)
    out = compare(model, against, METRICS)
    assert out["rougeL"]["ci95"][0] > 0 and out["rougeL"]["verdict"] == "better" and out["rougeL"]["excludes_0"]
    assert out["ppl"]["diff"] < 0 and out["ppl"]["ci95"][1] < 0 and out["ppl"]["verdict"] == "better"
    back = compare(against, model, METRICS)
    assert back["rougeL"]["verdict"] == "worse" and back["ppl"]["verdict"] == "worse"
    # the interval is the paired bootstrap of the two per-item vectors
    r = paired_bootstrap([row["rougeL"] for row in model], [row["rougeL"] for row in against])
    assert out["rougeL"]["ci95"] == [r["lo"], r["hi"]] and out["rougeL"]["diff"] == r["diff"]


def test_items_are_matched_by_id_and_only_shared_items_count():
    x = np.random.default_rng(2).uniform(size=20)
    against = _rows(x)
    # the model scored items 5..19 only, in reverse order, each 0.1 better
    model = _rows((x + 0.1)[5:][::-1], ids=list(range(5, 20))[::-1])
    a, b = align(model, against)
    assert [r["id"] for r in a] == [r["id"] for r in b] and len(a) == 15
    out = compare(model, against, ["rougeL"])["rougeL"]
    assert out["n"] == 15 and out["diff"] == pytest.approx(0.1) and out["ci95"] == pytest.approx([0.1, 0.1])
    # repeated ids stay separate items, matched occurrence by occurrence
    dup_a = item_rows(["q", "q"], {"rougeL": [0.0, 1.0]})
    dup_b = item_rows(["q", "q"], {"rougeL": [0.5, 1.5]})
    assert compare(dup_b, dup_a, ["rougeL"])["rougeL"]["ci95"] == pytest.approx([0.5, 0.5])
    assert compare(model, _rows(x, ids=list(range(100, 120))), ["rougeL"]) == {}  # nothing shared
    assert compare(_rows(x), [{k: v for k, v in r.items() if k != "nll_sum"} for r in _rows(x)], ["ppl"]) == {}


def test_over_seeds_is_the_mean_of_per_seed_differences():
    rng = np.random.default_rng(3)
    pairs = []
    for d in (0.05, 0.10, 0.15):
        x = rng.uniform(size=25)
        pairs.append((_rows(x + d), _rows(x)))
    out = compare_over_seeds(pairs, ["rougeL"])["rougeL"]
    assert out["diff"] == pytest.approx(0.10) and out["n_seeds"] == 3 and out["n"] == 25
    assert 0.05 - 1e-9 <= out["ci95"][0] < 0.10 < out["ci95"][1] <= 0.15 + 1e-9 and out["verdict"] == "better"


def test_verdict():
    assert verdict("rougeL", 0.1, 0.2) == "better" and verdict("rougeL", -0.2, -0.1) == "worse"
    assert verdict("ppl", 0.1, 0.2) == "worse" and verdict("ppl", -0.2, -0.1) == "better"
    assert verdict("bleu", -1.0, 2.0) == "no clear difference" and verdict("bleu", None, None) == "no items"


def test_read_items_missing_and_malformed(tmp_path):
    assert read_items(tmp_path / "nope.jsonl") is None
    bad = tmp_path / "items.jsonl"
    bad.write_text('{"id": "a", "rougeL": 0.5}\n{"rougeL": 0.5}\n')
    with pytest.raises(DataError, match=r"items.jsonl:2: item row without 'id'"):
        read_items(bad)
    bad.write_text('{"id": "a", "rougeL": "high"}\n')
    with pytest.raises(DataError, match=r"items.jsonl:1: field 'rougeL' must be a number"):
        read_items(bad)
    bad.write_text('{"id": "a", "rougeL": 0.5\n')
    with pytest.raises(DataError, match=r"items.jsonl:1: malformed JSON"):
        read_items(bad)


def test_run_section_copies_items_and_prints_one_line_per_model(tmp_path):
    x = np.random.default_rng(4).uniform(size=5)
    files = {}
    for label, rows in {"base": _rows(x), "target": _rows(x + 0.25), "gen_proxy": _rows(x)}.items():
        files[label] = tmp_path / "stages" / label / "items.jsonl"
        files[label].parent.mkdir(parents=True)
        files[label].write_text("".join(json.dumps(r) + "\n" for r in rows))
    files["old"] = tmp_path / "stages" / "old" / "items.jsonl"  # an evaluation without per-item scores
    run = tmp_path / "run"
    out = for_run(files, run)
    assert sorted(p.name for p in (run / ITEMS_DIR).iterdir()) == ["base.jsonl", "gen_proxy.jsonl", "target.jsonl"]
    assert out["against"] == "base" and set(out["models"]) == {"target", "gen_proxy"}
    assert set(out["models"]["target"]) == set(METRICS)
    lines = summary_lines(out)
    assert lines == ["   target - base: rougeL +0.250 [0.250, 0.250] (paired, 5 items): better",
                     "   gen_proxy - base: rougeL 0.000 [0.000, 0.000] (paired, 5 items): no clear difference"]
    json.dumps(out, allow_nan=False)
    # code: pass@1 leads; per-task differences 0, 1, 0: a resample's mean is k/3, P(k = 0) = 8/27 and
    # P(k = 3) = 1/27, both above 2.5%, so the interval is [0, 1]
    code = {label: item_rows(["t0", "t1", "t2"], {"pass@1": v, "rougeL": [0.0] * 3})
            for label, v in {"base": [0.0, 0.0, 1.0], "target": [0.0, 1.0, 1.0]}.items()}
    code_out = section(code)
    assert "pass@1" in code_out["models"]["target"]
    assert re.fullmatch(r"   target - base: pass@1 \+0\.333 \[0\.000, 1\.000\] \(paired, 3 items\): "
                        r"no clear difference", summary_lines(code_out)[0])
    no_base = section({"target": _rows(x)})
    assert no_base["models"] == {} and "no per-item scores of 'base'" in no_base["note"]
    assert summary_lines(no_base) == [] and summary_lines(None) == []
