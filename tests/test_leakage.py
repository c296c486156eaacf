"""Copies of private text and canary secrets in a synthetic set; canary planting (rewardds.eval.leakage)."""
from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest

from rewardds import audit
from rewardds.eval import leakage
from rewardds.io import read_json, write_jsonl

PRIVATE = ["my father has had a dry cough and a mild fever for three days now, what should he take",
           "Doctor, I feel a sharp pain in the lower right side of my belly after meals"]


def test_copy_counts_finds_near_verbatim_and_verbatim_copies_only():
    copied = "Hi! " + " ".join(PRIVATE[0].split()[2:16]) + " -- said someone"  # a 14-word run, case/punct changed
    synthetic = [copied.upper(), PRIVATE[1] + ".", "how do I treat a sprained ankle at home", "fever"]
    c = leakage.copy_counts(synthetic, PRIVATE, n=12)
    assert (c["texts"], c["near_verbatim"], c["verbatim"], c["private_copied"]) == (4, 2, 1, 2)
    assert c["max_overlap"] == pytest.approx(1.0) and 0 < c["mean_overlap"] < 1
    short = leakage.copy_counts(["a dry cough and a mild fever"], PRIVATE, n=12)  # a 7-word run: no copy at n=12
    assert short["near_verbatim"] == short["verbatim"] == short["private_copied"] == 0
    assert leakage.copy_counts(["a dry cough and a mild fever"], PRIVATE, n=5)["near_verbatim"] == 1
    assert set(c) == {"texts", "ngram", "near_verbatim", "verbatim", "private_copied", "max_overlap", "mean_overlap"}


def test_secret_copies_counts_whole_secrets_and_names():
    canaries = audit.make_canaries(3, 6, seed=0)
    c0, c1 = canaries[0], canaries[1]
    texts = [f"Sure. {audit.canary_answer(c0.secret)}", f"call 9{c1.secret}1 now", f"{c1.name.upper()} is fine"]
    found = leakage.secret_copies(texts, canaries)
    assert found == {"canaries": 3, "secret_copies": 1, "name_copies": 1, "texts_with_secret": 1}
    assert leakage.secret_copies(["nothing here 123"], canaries)["secret_copies"] == 0


def test_exposure_summary_of_a_memorised_and_an_unmemorised_table():
    leaky = np.array([[0.1, 5, 6, 7], [0.2, 3, 4, 9]])  # the true secrets have the lowest NLL
    s = audit.exposure_summary(leaky, seed=0)
    assert s["exposure_mean"] == pytest.approx(2.0) and s["rank1_fraction"] == 1.0 and s["canary_auc"] == 1.0
    assert s["max_possible"] == pytest.approx(2.0) and s["references"] == 3 and s["canaries"] == 2
    blind = audit.exposure_summary(np.array([[9.0, 1, 2, 3], [9.0, 1, 2, 3]]), seed=0)
    assert blind["exposure_mean"] == pytest.approx(0.0) and blind["canary_auc"] == 0.0
    assert blind["chance_mean"] == pytest.approx(audit.exposure_chance(3))


def _medical_data(n: int = 10):
    from rewardds.data import demo_dir, load_records
    from rewardds.records import TaskData

    private = load_records(demo_dir("medical") / "private.jsonl", "medical")[:n]
    return TaskData("medical", public=[], private=private, test=[],
                    private_set={"source": "demo:medical", "records": n, "statement": "The private set."})


def test_plant_canaries_adds_marked_records_and_says_it_is_an_audit_run():
    data = _medical_data()
    canaries = audit.make_canaries(2, 6, seed=0)
    planted = leakage.plant_canaries(data, canaries, repeats=2, seed=0)
    assert len(planted.private) == 14 and len(data.private) == 10  # the original is untouched
    ids = leakage.planted_ids(planted)
    assert len(ids) == 4 and {r.id for r in planted.private} >= ids and not leakage.planted_ids(data)
    assert planted.private_set["records"] == 14 and "AUDIT RUN" in planted.private_set["statement"]
    assert planted.fingerprint("private") != data.fingerprint("private")
    assert planted.private == leakage.plant_canaries(data, canaries, repeats=2, seed=0).private  # seeded
    from rewardds.stages.client_eval import client_records

    assert client_records(SimpleNamespace(data=planted)) == data.private  # evaluations see the real records


def _copies_step(canaries: int):
    from rewardds.recipes import build_recipe
    from rewardds.recipes.evals import with_evaluations
    from tests.conftest import compose_cfg

    cfg = compose_cfg(["experiment=smoke", "method=dp_instruct", "eval.leakage=true", f"eval.canaries={canaries}"],
                      Path("/nonexistent"), None)
    return cfg, next(s for s in with_evaluations(cfg, build_recipe(cfg)).steps if s.name == "synthetic_copies")


def test_copies_block_finds_a_canary_and_a_private_record_copied_on_purpose(tmp_path):
    """A synthetic set into which a canary answer and a private question were copied on purpose."""
    from rewardds.stages.client_eval import SYNTHETIC_COPIES

    cfg, step = _copies_step(3)
    data = _medical_data()
    canaries = audit.make_canaries(3, cfg.eval.canary_digits, cfg.seed)
    ctx = SimpleNamespace(data=leakage.plant_canaries(data, canaries, 1, cfg.seed), task="medical")
    pool, queries, out = tmp_path / "pool", tmp_path / "queries", tmp_path / "out"
    for d in (pool, queries, out):
        d.mkdir()
    write_jsonl(pool / "pool.jsonl", [
        {"id": "q0", "question": "what helps a sore throat?", "chosen": f"Hmm. {canaries[1].answer}", "round": 1},
        {"id": "q1", "question": "is walking good for the knees?", "chosen": "Yes, in moderation.", "round": 1}])
    write_jsonl(queries / "queries.jsonl", [{"id": "q0", "question": data.private[4].question},
                                            {"id": "q1", "question": "is walking good for the knees?"}])
    summary = SYNTHETIC_COPIES.fn(ctx, step, {"pool": pool, "queries_0": queries, "records": None}, out)
    assert summary == read_json(out / "metrics.json")
    assert summary["canaries"] == {"canaries": 3, "secret_copies": 1, "name_copies": 0, "texts_with_secret": 1}
    assert summary["private"]["verbatim"] == 1 and summary["private"]["private_copied"] >= 1
    assert summary["by_file"] == {"pool": 0, "queries_0": 1}
    blob = (out / "metrics.json").read_text()
    assert canaries[1].secret not in blob and data.private[4].question[:30] not in blob  # counts, never text
