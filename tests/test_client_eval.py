"""The synthetic-set and leakage evaluations of a whole run (eval.similarity / ifd / leakage / canaries)."""
from __future__ import annotations

import json
import math
from pathlib import Path

import pytest

from rewardds import audit
from rewardds.io import read_json

SMOKE = ["experiment=smoke"]
ON = ["eval.similarity=true", "eval.ifd=true", "eval.leakage=true", "eval.pii=true", "eval.pii_max_records=8"]
CANARIES = ["eval.canaries=4", "eval.canary_references=30"]


def _recipe(*overrides: str):
    from rewardds.recipes import build_recipe
    from rewardds.recipes.evals import with_evaluations
    from tests.conftest import compose_cfg

    cfg = compose_cfg(SMOKE + list(overrides), Path("/nonexistent"), None)
    return with_evaluations(cfg, build_recipe(cfg))


def test_off_by_default_and_switching_on_keeps_every_other_steps_cache_key():
    plain, on = _recipe("method=dp_instruct"), _recipe("method=dp_instruct", *ON, *CANARIES)
    assert plain.names() == _recipe("method=dp_instruct", "eval.copy_ngram=5").names()  # nothing added when off
    added = [n for n in on.names() if n not in plain.names()]
    assert added == ["similarity", "synthetic_ifd", "synthetic_copies", "canary_exposure_gen_proxy",
                     "canary_exposure_target", "pii_base", "pii_gen_proxy", "pii_target"]
    for a, b in zip(plain.steps, on.steps):  # model evaluations included: same parameters, same inputs
        assert (a.name, dict(a.params), dict(a.inputs)) == (b.name, dict(b.params), dict(b.inputs))
    sides = {s.name: s.side for s in on.steps}
    assert sides["similarity"] == sides["synthetic_copies"] == sides["canary_exposure_target"] == "client"
    assert sides["synthetic_ifd"] == "server" and sides["pii_gen_proxy"] == sides["pii_target"] == "client"
    steps = {s.name: s for s in on.steps}
    # each model is attacked with the formats it was trained on: the DP generator on its own, the rest on answers
    assert steps["pii_gen_proxy"].params["formats"] == list(steps["gen_proxy"].params["formats"]) != ["answer"]
    assert steps["pii_target"].params["formats"] == steps["pii_base"].params["formats"] == ["answer"]
    assert steps["pii_gen_proxy"].inputs == {"base": "base:proxy", "adapter": "gen_proxy"}
    direct = _recipe("method=non_private", *ON, *CANARIES).names()  # no synthetic set: the target's exposure only
    assert [n for n in direct if n not in _recipe("method=non_private").names()] == [
        "canary_exposure_target", "pii_base", "pii_target"]


def test_bad_keys_are_refused_by_name():
    from rewardds.config import validate
    from rewardds.errors import ConfigError
    from tests.conftest import compose_cfg

    for overrides, key in ((["eval.canaries=-1"], "eval.canaries"), (["eval.copy_ngram=0"], "eval.copy_ngram"),
                           (["eval.canaries=2", "eval.canary_digits=2", "eval.canary_references=100"],
                            "eval.canary_references"),
                           (["eval.canaries=2", "audit=canary"], "eval.canaries"),
                           (["eval.pii_candidates=1"], "eval.pii_candidates"),
                           (["eval.pii_max_records=0"], "eval.pii_max_records")):
        with pytest.raises(ConfigError, match=key.replace(".", r"\.")):
            validate(compose_cfg(SMOKE + overrides, Path("/nonexistent"), None))


def test_released_metrics_drop_the_client_side_evaluations():
    from rewardds.release import released_metrics

    metrics = {"method": "m", "eval": {"target": {"rougeL": 0.3}}, "synthetic_eval": {"ifd": {"ifd_mean": 0.9}},
               "client_eval": {"similarity": {"mauve": 0.5}}, "stages": {}, "wall_time_s": 1.0}
    out = released_metrics(metrics, set())
    assert "client_eval" not in out and out["synthetic_eval"] == metrics["synthetic_eval"] and out["eval"]


@pytest.fixture(scope="module")
def audit_run(tmp_path_factory, shared_cache):
    """A strict DP run (dp_instruct) with every evaluation on and 4 canaries planted."""
    from rewardds.pipeline import run
    from tests.conftest import compose_cfg

    run_dir = tmp_path_factory.mktemp("client-eval") / "run"
    cfg = compose_cfg(SMOKE + ["method=dp_instruct", "dp.epsilon=4", "logger=wandb", *ON, *CANARIES], run_dir,
                      shared_cache)
    return run(cfg), run_dir, cfg


def test_metrics_hold_every_new_number(audit_run):
    metrics, run_dir, _ = audit_run
    assert read_json(run_dir / "metrics.json") == json.loads(json.dumps(metrics))
    ce = metrics["client_eval"]
    assert ce["visibility"] == "client-only" and "CLIENT-ONLY" in ce["note"]
    sim = ce["similarity"]
    assert 0.0 <= sim["mauve"] <= 1.0 and sim["fid"] >= 0.0 and sim["n_private"] == 32  # canaries left out
    copies = ce["copies"]
    assert copies["private"]["texts"] > 0 and copies["private"]["ngram"] == 12
    for label in ("gen_proxy", "target"):
        e = ce["canary_exposure"][label]
        assert e["canaries"] == 4 and e["references"] == 30
        assert 0.0 <= e["exposure_mean"] <= e["max_possible"] == pytest.approx(math.log2(31))
        assert 0.0 <= e["canary_auc"] <= 1.0
    for label in ("base", "gen_proxy", "target"):
        pii = ce["pii"][label]
        assert pii["label"] == label and pii["random_rate"] == pytest.approx(1 / 64)
        assert 1 <= pii["n"] <= 8 and 0.0 <= pii["success_rate"] <= 1.0
        assert pii["lift"] == pytest.approx(pii["success_rate"] - 1 / 64)
    ifd = metrics["synthetic_eval"]["ifd"]
    assert ifd["n"] == metrics["synthetic_size"] and ifd["n_scored"] >= 1 and ifd["ifd_mean"] > 0
    assert metrics["audit_run"]["canaries"] == 4
    privacy = read_json(run_dir / "privacy.json")
    assert privacy["formal_guarantee"] is True and "AUDIT RUN" in privacy["private_data"]["statement"]
    assert privacy["private_data"]["records"] == 32 + 4  # the plan is for the records trained on


def test_strict_dp_run_copies_no_canary_into_the_synthetic_set(audit_run):
    metrics, _, _ = audit_run
    assert metrics["client_eval"]["copies"]["canaries"] == {"canaries": 4, "secret_copies": 0, "name_copies": 0,
                                                            "texts_with_secret": 0}


def test_release_holds_no_client_side_number_and_no_canary(audit_run):
    metrics, run_dir, cfg = audit_run
    released = read_json(run_dir / "release" / "server" / "metrics.json")
    assert "client_eval" not in released and released["synthetic_eval"] == metrics["synthetic_eval"]
    blob = b"".join(f.read_bytes() for f in (run_dir / "release").rglob("*")
                    if f.is_file() and f.suffix != ".safetensors")
    for word in (b"mauve", b"fid", b"canary_exposure", b"near_verbatim", b"secret_copies", b"success_rate"):
        assert word not in blob, word
    assert all(not name.startswith(("similarity", "synthetic_copies", "canary_exposure", "pii_"))
               for name in released["server_stages"])
    # the canaries are client secrets: in no file the run wrote (DP weights excepted) and in no summary
    canaries = audit.make_canaries(4, 6, cfg.seed)
    needles = [s.encode() for c in canaries for s in (c.secret, c.name)]
    for f in run_dir.rglob("*"):
        if f.is_file() and f.resolve().suffix not in (".safetensors", ".bin"):
            data = f.resolve().read_bytes()
            assert not any(n in data for n in needles), f"canary in {f}"
    for name in ("similarity", "synthetic_copies", "canary_exposure_target"):
        assert "summary" not in metrics["stages"][name]  # client steps: no summary in the stage records


def test_tracker_gets_server_side_and_canary_numbers_only(audit_run):
    """W&B leaves the client: IFD and the made-up canaries' figures go there; MAUVE, FID and copies of
    private records (non-DP statistics of the private data) do not."""
    from rewardds.wandb_offline import find_offline_runs, read_offline_run

    metrics, run_dir, _ = audit_run
    (run,) = find_offline_runs(run_dir)
    summary = read_offline_run(run)["summary"]
    assert summary["synthetic_eval/ifd/ifd_mean"] == pytest.approx(metrics["synthetic_eval"]["ifd"]["ifd_mean"])
    exposure = metrics["client_eval"]["canary_exposure"]["target"]["exposure_mean"]
    assert summary["canary/target/exposure_mean"] == pytest.approx(exposure)
    assert summary["canary/secret_copies"] == 0
    keys = [k.lower() for k in _keys(summary)]  # keys, not the text: random artefact ids may spell anything
    for word in ("mauve", "fid", "near_verbatim", "private_copied", "client_eval", "success_rate", "pii"):
        assert not any(word in k for k in keys), word


def _keys(node, prefix=""):
    """Every key path of a nested summary."""
    for k, v in node.items():
        yield f"{prefix}{k}"
        if isinstance(v, dict):
            yield from _keys(v, f"{prefix}{k}/")


def test_rewardds_audit_run_also_measures_the_reward_proxy(run_pipeline):
    metrics, run_dir = run_pipeline(SMOKE + ["eval.canaries=3", "eval.canary_references=20"], name="rewardds-audit")
    exposure = metrics["client_eval"]["canary_exposure"]
    assert set(exposure) == {"gen_proxy", "target", "reward_proxy"}
    rp = exposure["reward_proxy"]
    assert rp["label"] == "reward_proxy" and rp["canaries"] == 3 and rp["references"] == 20
    assert 0.0 <= rp["exposure_mean"] <= rp["max_possible"] and 0.0 <= rp["canary_auc"] <= 1.0
    assert metrics["client_eval"]["copies"]["canaries"]["secret_copies"] == 0
    assert "client_eval" not in read_json(run_dir / "release" / "server" / "metrics.json")


@pytest.mark.slow
def test_gfriend_audit_run_measures_the_judge_through_the_scorer_interface(run_pipeline):
    """reward=gfriend: the reward model audited on canaries is the judge (its score of each candidate)."""
    metrics, _ = run_pipeline(SMOKE + ["reward=gfriend", "eval.canaries=2", "eval.canary_references=10"],
                              name="gfriend-audit")
    rp = metrics["client_eval"]["canary_exposure"]["reward_proxy"]
    assert rp["canaries"] == 2 and rp["references"] == 10 and 0.0 <= rp["canary_auc"] <= 1.0
