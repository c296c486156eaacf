"""rewardds.report on a fake Hydra multirun folder: 2 eps x 2 keep ratios + 1 failed job."""
from __future__ import annotations

import csv
import json
import re
import struct
from pathlib import Path

import numpy as np
import pytest
import yaml

from rewardds import report

EPS = (1.0, 4.0)
KEEP = (0.125, 0.25)


def _job(sweep: Path, num: int, overrides: list[str], submitit_id: str) -> Path:
    d = sweep / str(num)
    (d / ".hydra").mkdir(parents=True)
    (d / ".hydra" / "overrides.yaml").write_text(yaml.safe_dump(overrides))
    (d / ".hydra" / "hydra.yaml").write_text(
        yaml.safe_dump({"hydra": {"job": {"name": "run", "id": submitit_id, "num": num}}})
    )
    sub = sweep / ".submitit" / submitit_id
    sub.mkdir(parents=True)
    (sub / f"{submitit_id}_0_log.out").write_text("")
    (sub / f"{submitit_id}_0_log.err").write_text("submitit INFO (2026-01-01) - Starting with JobEnvironment\n")
    (d / "run.log").write_text("[HYDRA] started\n")
    return d


def _completed(d: Path, eps: float, keep: float) -> None:
    cfg = {"task": {"name": "medical"}, "dp": {"enabled": True, "epsilon": eps, "delta": None},
           "filter": {"name": "reward_guided", "keep_ratio": keep}}
    (d / "config.yaml").write_text(yaml.safe_dump(cfg))
    rouge_l = 0.20 + 0.03 * eps + (0.05 if keep == 0.25 else 0.0)
    metrics = {
        "wall_time_s": 100.0 + 10 * eps,
        "eval": {
            "target": {"rouge1": rouge_l + 0.1, "rouge2": rouge_l / 2, "rougeL": rouge_l,
                       "bleu": 10 * rouge_l, "ppl": 30.0 - eps},
            "base": {"rouge1": 0.2, "rouge2": 0.05, "rougeL": 0.15, "bleu": 1.0, "ppl": 50.0},
            "gen_proxy": {"ppl": 40.0},
        },
        "stages": {"gen_proxy": {"wall_time_s": 10.0}},
    }
    privacy = {
        "total": {"epsilon": round(eps * 0.97, 4), "delta": 1e-5, "epsilon_basic_composition": eps},
        "components": {"gen_proxy": {"epsilon": eps / 2}, "reward_proxy": {"epsilon": eps / 2}},
        "formal_guarantee": True,
        "budget": {"epsilon": eps, "delta": 1e-5},
    }
    (d / "metrics.json").write_text(json.dumps(metrics))
    (d / "privacy.json").write_text(json.dumps(privacy))


@pytest.fixture()
def sweep(tmp_path: Path) -> Path:
    sweep = tmp_path / "sweep"
    sweep.mkdir()
    (sweep / "multirun.yaml").write_text("hydra: {}\n")
    num = 0
    # written in an order different from the expected sort
    for keep in reversed(KEEP):
        for eps in reversed(EPS):
            d = _job(sweep, num, ["task=medical", f"dp.epsilon={eps:g}", f"filter.keep_ratio={keep:g}"],
                     f"7_{num}")
            _completed(d, eps, keep)
            num += 1
    failed = _job(sweep, num, ["task=medical", "dp.epsilon=8", "filter.keep_ratio=0.125"], f"7_{num}")
    (failed / ".hydra" / "config.yaml").write_text(yaml.safe_dump({"dp": {"enabled": True, "epsilon": 8.0}}))
    (failed / "error.txt").write_text("PrivacyError: noise multiplier search failed for epsilon=8\n")
    return sweep


def test_collect_reads_every_job(sweep: Path):
    rows = report.collect(sweep)
    assert len(rows) == 5
    ok = [r for r in rows if r["status"] == "ok"]
    assert len(ok) == 4
    # sorted by budget epsilon, then keep_ratio
    assert [(r["budget_epsilon"], r["overrides"]["filter.keep_ratio"]) for r in rows] == [
        (1.0, "0.125"), (1.0, "0.25"), (4.0, "0.125"), (4.0, "0.25"), (8.0, "0.125")]
    assert report.swept_keys(rows) == ["dp.epsilon", "filter.keep_ratio"]
    assert ok[0]["epsilon"] == pytest.approx(0.97)
    assert ok[0]["eval"]["target"]["rougeL"] == pytest.approx(0.23)
    failed = rows[-1]
    assert failed["status"] == "failed"
    assert failed["error"].startswith("PrivacyError")
    assert failed["log"] == str(sweep / ".submitit" / "7_4" / "7_4_0_log.err")


def test_main_writes_table_csv_png(sweep: Path, tmp_path: Path, capsys):
    out = tmp_path / "out"
    assert report.main([str(sweep), "--out", str(out)]) == 0
    assert "failed job 4" in capsys.readouterr().out

    md = (out / "report.md").read_text()
    table = [line for line in md.splitlines() if line.startswith("| ")]
    header = [c.strip() for c in table[0].strip("|").split("|")]
    assert header[:5] == ["job", "filter.keep_ratio", "budget ε", "composed ε", "δ"]
    assert "target rougeL" in header and "target ppl" in header and header[-2:] == ["wall time (s)", "status"]
    body = [[c.strip() for c in line.strip("|").split("|")] for line in table[1:]]
    assert len(body) == 5
    col = {name: i for i, name in enumerate(header)}
    assert [(r[col["budget ε"]], r[col["filter.keep_ratio"]]) for r in body] == [
        ("1", "0.125"), ("1", "0.25"), ("4", "0.125"), ("4", "0.25"), ("8", "0.125")]
    first = body[0]
    assert first[col["job"]] == "3"  # eps=1, keep=0.125 was written last
    assert first[col["composed ε"]] == "0.97"
    assert first[col["δ"]] == "1.00e-05"
    assert first[col["target rougeL"]] == "0.23"
    assert first[col["wall time (s)"]] == "110.0"
    assert first[col["status"]] == "ok"
    assert body[-1][col["status"]] == "FAILED"
    assert "Fixed overrides: `task=medical`" in md
    assert "## Failed jobs" in md
    assert str(sweep / ".submitit" / "7_4" / "7_4_0_log.err") in md
    assert "PrivacyError: noise multiplier search failed" in md

    with open(out / "report.csv", newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert len(rows) == 5
    assert rows[0]["job"] == "3" and rows[0]["dp.epsilon"] == "1" and rows[0]["filter.keep_ratio"] == "0.125"
    assert float(rows[0]["target.rougeL"]) == pytest.approx(0.23)
    assert float(rows[0]["epsilon"]) == pytest.approx(0.97)
    assert float(rows[0]["budget_epsilon"]) == 1.0
    assert float(rows[3]["base.rougeL"]) == pytest.approx(0.15)
    assert rows[3]["formal_guarantee"] == "true"
    assert rows[4]["status"] == "failed" and rows[4]["log"].endswith("7_4_0_log.err")
    assert rows[4]["target.rougeL"] == ""

    png = (out / "privacy_utility.png").read_bytes()
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    width, height = struct.unpack(">II", png[16:24])
    assert width > 300 and height > 200
    assert len(png) > 10_000
    assert not list(out.glob(".*.tmp"))  # atomic writes left no temp file


def test_default_out_is_sweep_dir_and_failed_log_fallback(sweep: Path):
    # a failed job without submitit logs points at its own *.log
    import shutil

    shutil.rmtree(sweep / ".submitit" / "7_4")
    (sweep / "4" / "error.txt").unlink()
    assert report.main([str(sweep)]) == 0
    md = (sweep / "report.md").read_text()
    assert str(sweep / "4" / "run.log") in md
    assert "no metrics.json" in md
    # an error logged by the job (Hydra's log format) becomes the reason
    (sweep / "4" / "run.log").write_text("[2026-01-01 10:00:00,000][rewardds][ERROR] - error: dp.epsilon too small\n")
    assert report.collect(sweep)[-1]["error"] == "error: dp.epsilon too small"
    assert (sweep / "report.csv").exists() and (sweep / "privacy_utility.png").exists()


def test_metric_fallback_inf_epsilon_and_orphans(tmp_path: Path):
    sweep = tmp_path / "s"
    for num, eps in enumerate((2.0, 4.0)):
        d = _job(sweep, num, [f"dp.epsilon={eps:g}"], f"9_{num}")
        (d / "metrics.json").write_text(json.dumps({"wall_time_s": 1.0, "eval": {"target": {"pass@1": eps / 10}}}))
        (d / "privacy.json").write_text(json.dumps({"total": {"epsilon": "inf", "delta": 0.0},
                                                    "formal_guarantee": False,
                                                    "budget": {"epsilon": eps}}))
    orphan = sweep / ".submitit" / "9_2"
    orphan.mkdir(parents=True)
    (orphan / "9_2_0_log.err").write_text("slurmstepd: error: *** JOB 12 CANCELLED AT 2026-01-01 ***\n")
    result = report.write_report(sweep, tmp_path / "o", metric="rougeL")
    assert result["metric"] == "pass@1"
    rows = result["rows"]
    assert rows[0]["epsilon"] == float("inf")
    assert rows[-1]["job"] == "submitit:9_2" and rows[-1]["status"] == "failed"
    assert "CANCELLED" in rows[-1]["error"]
    md = (tmp_path / "o" / "report.md").read_text()
    assert "no formal DP guarantee" in md and "| inf |" in md
    assert (tmp_path / "o" / "privacy_utility.png").stat().st_size > 5_000


def test_missing_sweep_dir(tmp_path: Path, capsys):
    assert report.main([str(tmp_path / "nope")]) == 2
    assert "not found" in capsys.readouterr().err


# --------------------------------------------------------------------------- method comparisons

METHOD_ROUGE_L = {"rewardds": 0.30, "dp_instruct": 0.26, "non_private": 0.40, "dp_sgd": 0.28}  # at seed 0
SEEDS = (0, 1, 2)
NONDP_NOTE = ("non-private reference: the target is fine-tuned on the private records directly, without any DP "
              "mechanism. It bounds the utility from above.")


def _method_metrics(method: str, seed: int, code: bool = False) -> dict:
    v = METHOD_ROUGE_L[method] + 0.01 * seed
    target = {"rouge1": v + 0.1, "rouge2": v / 2, "rougeL": v, "bleu": 100 * v, "ppl": 20.0 - 10 * v}
    if code:
        target["pass@1"] = v
    ci95 = {m: [x - 0.05, x + 0.04] for m, x in target.items()}
    target.update({"n": 24, "ci95": ci95})
    size = {"rewardds": 1000 + seed, "dp_instruct": 800}.get(method)
    model = {"dp_instruct": None}.get(method, "model.target: Qwen2.5-7B-Instruct")  # None: an older job folder
    return {"method": method, "synthetic_size": size, "wall_time_s": 50.0,
            **({"fine_tuned_model": model} if model else {}),
            "eval": {"target": target, "base": {"rougeL": 0.15, "pass@1": 0.1, "n": 24}}}


def _method_privacy(method: str, eps: float) -> dict:
    if method == "non_private":
        return {"total": {"epsilon": "inf", "delta": 1e-5}, "formal_guarantee": False,
                "guarantee_note": NONDP_NOTE, "budget": {"epsilon": eps, "delta": 1e-5}}
    return {"total": {"epsilon": round(eps * 0.99, 4), "delta": 1e-5}, "formal_guarantee": True,
            "guarantee_note": None, "budget": {"epsilon": eps, "delta": 1e-5}}


def _method_sweep(root: Path, methods, seeds, eps_values=(4.0,), task="medical", fail=None) -> Path:
    """A `method=... dp.epsilon=... seed=...` multirun (Hydra numbers jobs method-major)."""
    sweep = root / "msweep"
    num = 0
    for method in methods:
        for eps in eps_values:
            for seed in seeds:
                d = _job(sweep, num, [f"task={task}", f"method={method}", f"dp.epsilon={eps:g}", f"seed={seed}"],
                         f"8_{num}")
                cfg = {"task": {"name": task}, "method": {"name": method}, "seed": seed,
                       "dp": {"enabled": method != "non_private", "epsilon": eps}}
                (d / "config.yaml").write_text(yaml.safe_dump(cfg))
                if fail == (method, seed):
                    (d / "error.txt").write_text("RuntimeError: CUDA out of memory\n")
                else:
                    (d / "metrics.json").write_text(json.dumps(_method_metrics(method, seed, code=task == "code")))
                    (d / "privacy.json").write_text(json.dumps(_method_privacy(method, eps)))
                num += 1
    return sweep


def _md_table(md: str, after: str) -> tuple[list[str], list[list[str]]]:
    """Header and body cells of the first markdown table after the line ``after``."""
    lines = md.splitlines()
    start = lines.index(after)
    table = []
    for line in lines[start + 1:]:
        if line.startswith("|"):
            table.append(line)
        elif table:
            break
    split = lambda line: [c.strip() for c in line.strip().strip("|").split("|")]  # noqa: E731
    return split(table[0]), [split(line) for line in table[2:]]


@pytest.fixture()
def method_sweep(tmp_path: Path) -> Path:
    return _method_sweep(tmp_path, list(METHOD_ROUGE_L), SEEDS, fail=("dp_instruct", 2))


def test_collect_reads_the_method_contract(method_sweep: Path):
    rows = report.collect(method_sweep)
    assert len(rows) == 12
    by = {(r["method"], r["overrides"]["seed"]): r for r in rows}
    ok = by[("rewardds", "1")]
    assert ok["synthetic_size"] == 1001 and ok["guarantee_note"] is None
    assert ok["ci95"]["target"]["rougeL"] == pytest.approx((0.26, 0.35))
    assert "ci95" not in ok["eval"]["target"]  # eval keeps the numbers only
    assert by[("non_private", "0")]["guarantee_note"] == NONDP_NOTE
    assert by[("non_private", "0")]["epsilon"] == float("inf")
    assert by[("dp_sgd", "0")]["synthetic_size"] is None
    failed = by[("dp_instruct", "2")]  # no metrics.json: the method comes from the override
    assert failed["status"] == "failed" and failed["method"] == "dp_instruct"
    # without the override the method comes from config.yaml (method.name)
    d = Path(failed["job_dir"])
    (d / ".hydra" / "overrides.yaml").write_text(yaml.safe_dump(["task=medical", "seed=2"]))
    assert [r for r in report.collect(method_sweep) if r["job"] == d.name][0]["method"] == "dp_instruct"


def test_method_sweep_table_aggregates_seeds(method_sweep: Path, tmp_path: Path, capsys):
    out = tmp_path / "out"
    assert report.main([str(method_sweep), "--out", str(out)]) == 0
    assert "note: metric" not in capsys.readouterr().err
    md = (out / "report.md").read_text()
    header, body = _md_table(md, "## Methods")
    assert header == ["method", "fine-tuned model", "seeds", "ROUGE-1", "ROUGE-2", "ROUGE-L", "BLEU", "ppl",
                      "test items", "synthetic size", "composed ε", "δ"]
    col = {name: i for i, name in enumerate(header)}
    assert [r[0] for r in body] == ["rewardds", "dp_instruct", "non_private", "dp_sgd"]  # command-line order
    rows = {r[0]: r for r in body}
    # rewardds: rougeL 0.30, 0.31, 0.32 -> mean 0.31, sample std 0.01; intervals [v-0.05, v+0.04] averaged
    assert rows["rewardds"][col["ROUGE-L"]] == "0.31 ± 0.01 [0.26, 0.35]"
    assert rows["rewardds"][col["seeds"]] == "3"
    assert rows["rewardds"][col["fine-tuned model"]] == "model.target: Qwen2.5-7B-Instruct"
    assert rows["dp_instruct"][col["fine-tuned model"]] == "-"  # job folders that did not record it
    assert rows["rewardds"][col["synthetic size"]] == "1000–1002"
    assert rows["rewardds"][col["composed ε"]] == "3.96" and rows["rewardds"][col["δ"]] == "1.00e-05"
    assert rows["rewardds"][col["test items"]] == "24"
    # dp_instruct: seed 2 failed -> 2 seeds, 0.26 and 0.27
    assert rows["dp_instruct"][col["seeds"]] == "2 (+1 failed)"
    assert rows["dp_instruct"][col["ROUGE-L"]] == "0.265 ± 0.0071 [0.215, 0.305]"
    assert rows["dp_instruct"][col["synthetic size"]] == "800"
    eps_cell = rows["non_private"][col["composed ε"]]
    assert eps_cell.startswith("none (non-private reference: the target is fine-tuned") and eps_cell.endswith(")")
    assert len(eps_cell) < len(NONDP_NOTE)  # shortened
    assert rows["dp_sgd"][col["synthetic size"]] == ""
    assert "mean over seeds" in md and "standard deviation" in md and "bootstrap" in md
    # the per-job table is still there, each metric with its own interval
    jheader, jbody = _md_table(md, "## Jobs")
    jcol = {name: i for i, name in enumerate(jheader)}
    assert "method" in jheader and "seed" in jheader
    first = [r for r in jbody if r[jcol["job"]] == "0"][0]
    assert first[jcol["target rougeL"]] == "0.3 [0.25, 0.34]"
    assert "## Failed jobs" in md and "CUDA out of memory" in md

    with open(out / "report_methods.csv", newline="") as fh:
        mrows = {r["method"]: r for r in csv.DictReader(fh)}
    assert list(mrows) == ["rewardds", "dp_instruct", "non_private", "dp_sgd"]
    r = mrows["rewardds"]
    assert float(r["rougeL"]) == pytest.approx(0.31) and float(r["rougeL_std"]) == pytest.approx(0.01)
    assert float(r["rougeL_ci_lo"]) == pytest.approx(0.26) and float(r["rougeL_ci_hi"]) == pytest.approx(0.35)
    assert r["n_seeds"] == "3" and r["n_failed"] == "0" and r["seeds"] == "0 1 2"
    assert r["synthetic_size"] == "1001" and float(r["epsilon"]) == pytest.approx(3.96)
    assert mrows["dp_instruct"]["n_failed"] == "1"
    assert mrows["non_private"]["epsilon"] == "inf" and mrows["non_private"]["formal_guarantee"] == "false"
    assert mrows["non_private"]["guarantee_note"] == NONDP_NOTE
    assert mrows["dp_sgd"]["synthetic_size"] == ""
    with open(out / "report.csv", newline="") as fh:
        jobs = list(csv.DictReader(fh))
    job0 = [j for j in jobs if j["job"] == "0"][0]
    assert job0["method"] == "rewardds" and job0["synthetic_size"] == "1000"
    assert float(job0["target.rougeL_ci_lo"]) == pytest.approx(0.25)

    png = (out / "privacy_utility.png").read_bytes()
    assert png[:8] == b"\x89PNG\r\n\x1a\n" and len(png) > 10_000


def test_method_groups_and_plot_mode(method_sweep: Path, tmp_path: Path):
    result = report.write_report(method_sweep, tmp_path / "o")
    assert result["plot"] == "method" and result["metric"] == "rougeL"
    groups = {g["method"]: g for g in result["groups"]}
    g = groups["rewardds"]
    s = g["metrics"]["rougeL"]
    assert s["n"] == 3 and s["mean"] == pytest.approx(0.31) and s["std"] == pytest.approx(0.01)
    assert report.error_bar(s) == pytest.approx((0.01, 0.01))  # seed spread when aggregated
    one = report.aggregate([r for r in result["rows"] if r["job"] == "0"])[0]["metrics"]["rougeL"]
    assert one["std"] is None and report.error_bar(one) == pytest.approx((0.05, 0.04))  # the bootstrap interval


def test_single_seed_method_sweep_shows_bootstrap_intervals(tmp_path: Path):
    sweep = _method_sweep(tmp_path, ["rewardds", "dp_sgd"], (0,))
    result = report.write_report(sweep, tmp_path / "o")
    md = (tmp_path / "o" / "report.md").read_text()
    header, body = _md_table(md, "## Methods")
    col = {name: i for i, name in enumerate(header)}
    assert [r[col["seeds"]] for r in body] == ["1", "1"]
    assert body[0][col["ROUGE-L"]] == "0.3 [0.25, 0.34]"
    assert result["plot"] == "method"


def test_code_method_sweep_defaults_to_pass_at_1(tmp_path: Path, capsys):
    sweep = _method_sweep(tmp_path, ["rewardds", "dp_sgd"], (0, 1), task="code")
    out = tmp_path / "o"
    assert report.main([str(sweep), "--out", str(out)]) == 0
    assert "note: metric" not in capsys.readouterr().err
    md = (out / "report.md").read_text()
    header, body = _md_table(md, "## Methods")
    assert header == ["method", "fine-tuned model", "seeds", "pass@1", "test items", "synthetic size", "composed ε",
                      "δ"]
    assert body[0][3] == "0.305 ± 0.0071 [0.255, 0.345]"
    assert report.write_report(sweep, out)["metric"] == "pass@1"
    assert report.write_report(sweep, out, metric="rougeL")["metric"] == "rougeL"  # an explicit choice wins


def test_method_by_epsilon_sweep_draws_lines(tmp_path: Path):
    sweep = _method_sweep(tmp_path, ["rewardds", "dp_sgd"], (0, 1), eps_values=(1.0, 4.0))
    result = report.write_report(sweep, tmp_path / "o")
    assert result["plot"] == "epsilon"
    md = (tmp_path / "o" / "report.md").read_text()
    header, body = _md_table(md, "## Methods")
    assert header[:4] == ["method", "fine-tuned model", "dp.epsilon", "seeds"]
    assert [(r[0], r[2], r[3]) for r in body] == [("rewardds", "1", "2"), ("dp_sgd", "1", "2"),
                                                  ("rewardds", "4", "2"), ("dp_sgd", "4", "2")]
    assert (tmp_path / "o" / "privacy_utility.png").stat().st_size > 10_000


def test_tolerates_missing_and_malformed_contract_keys(tmp_path: Path):
    sweep = _method_sweep(tmp_path, ["rewardds", "dp_sgd"], (0,))
    m = json.loads((sweep / "0" / "metrics.json").read_text())
    m["eval"]["target"]["ci95"] = {"rougeL": [0.1], "bleu": "wide", "rouge1": [None, None]}
    del m["synthetic_size"], m["method"]
    (sweep / "0" / "metrics.json").write_text(json.dumps(m))
    p = json.loads((sweep / "1" / "privacy.json").read_text())
    p["formal_guarantee"], p["guarantee_note"] = False, None
    (sweep / "1" / "privacy.json").write_text(json.dumps(p))
    report.write_report(sweep, tmp_path / "o")
    md = (tmp_path / "o" / "report.md").read_text()
    header, body = _md_table(md, "## Methods")
    col = {name: i for i, name in enumerate(header)}
    assert body[0][0] == "rewardds"  # from the override
    assert body[0][col["ROUGE-L"]] == "0.3" and body[0][col["synthetic size"]] == ""
    assert body[1][col["composed ε"]] == "none"


def test_a_method_whose_jobs_all_failed_keeps_its_row(tmp_path: Path):
    sweep = _method_sweep(tmp_path, ["rewardds", "dp_sgd"], (0,),
                          fail=("dp_sgd", 0))
    result = report.write_report(sweep, tmp_path / "o")
    md = (tmp_path / "o" / "report.md").read_text()
    header, body = _md_table(md, "## Methods")
    col = {name: i for i, name in enumerate(header)}
    assert [r[0] for r in body] == ["rewardds", "dp_sgd"]
    assert body[1][col["seeds"]] == "0 (+1 failed)" and body[1][col["ROUGE-L"]] == "" and body[1][col["composed ε"]] == ""
    assert result["paths"]["png"].stat().st_size > 5_000


# --------------------------------------------------------------------------- leakage, data quality, filters


def _set_evals(method: str, seed: int) -> dict:
    """metrics.json keys of the synthetic-set and leakage evaluations, as a pipeline run writes them."""
    if method in ("non_private", "dp_sgd"):  # no synthetic set: the target's canary exposure only
        return {"client_eval": {"canary_exposure": {"target": {"exposure_mean": 6.0, "canary_auc": 0.98}}}}
    v = {"rewardds": 0.1, "dp_instruct": 0.2}[method] + 0.01 * seed
    out = {"client_eval": {"visibility": "client-only",
                           "similarity": {"mauve": 0.5 + v, "fid": 1.0 - v, "n_private": 32},
                           "copies": {"private": {"near_verbatim": seed, "verbatim": 0},
                                      "canaries": {"secret_copies": 0, "name_copies": 0}},
                           "canary_exposure": {"target": {"exposure_mean": 1.0 + v, "canary_auc": 0.5 + v}}},
           "synthetic_eval": {"ifd": {"ifd_mean": 0.8 + v}},
           "stages": {"text_filter": {"cache_hit": False, "seconds": 1.0,
                                      "summary": {"in": 10 + seed, "too_short": 1, "near_duplicate": 2,
                                                  "kept": 7 + seed}},
                      "queries": {"cache_hit": False, "seconds": 1.0, "summary": {"queries": 10}}}}
    if method == "rewardds":
        out["client_eval"]["pii"] = {"base": {"success_rate": 0.02, "lift": 1.3, "n": 50},
                                     "target": {"success_rate": 0.03 + 0.01 * seed, "lift": 2.0, "n": 50}}
    return out


def test_method_sweep_reports_leakage_quality_and_filter_counts(tmp_path: Path):
    sweep = _method_sweep(tmp_path, list(METHOD_ROUGE_L), (0, 1))
    for d in sorted(p for p in sweep.iterdir() if p.name.isdigit()):
        m = json.loads((d / "metrics.json").read_text())
        m.update(_set_evals(m["method"], int(yaml.safe_load((d / "config.yaml").read_text())["seed"])))
        (d / "metrics.json").write_text(json.dumps(m))
    out = tmp_path / "out"
    assert report.main([str(sweep), "--out", str(out)]) == 0
    md = (out / "report.md").read_text()
    header, body = _md_table(md, "## Leakage and data quality")
    assert header == ["method", "ROUGE-L", "PII success (base)", "PII lift (base)", "PII success (target)",
                      "PII lift (target)", "canary exposure (target)", "canary AUC (target)", "canary copies",
                      "private copies", "MAUVE", "FID", "IFD"]
    rows = {r[0]: dict(zip(header, r)) for r in body}
    assert list(rows) == ["rewardds", "dp_instruct", "non_private", "dp_sgd"]
    rw = rows["rewardds"]
    assert (rw["ROUGE-L"], rw["PII success (target)"], rw["PII lift (target)"]) == ("0.305", "0.035", "2")
    assert (rw["MAUVE"], rw["FID"], rw["IFD"], rw["private copies"]) == ("0.605", "0.895", "0.905", "0.5")
    assert (rw["canary exposure (target)"], rw["canary AUC (target)"], rw["canary copies"]) == ("1.105", "0.605", "0")
    assert rows["dp_instruct"]["PII success (target)"] == "" and rows["dp_instruct"]["MAUVE"] == "0.705"
    assert rows["non_private"]["canary exposure (target)"] == "6" and rows["non_private"]["MAUVE"] == ""
    assert "client-side" in md and "never in `release/`" in md

    fheader, fbody = _md_table(md, "## Filters")
    assert fheader == ["method", "step", "in", "kept", "dropped", "dropped because"]
    assert [r[:2] for r in fbody] == [["rewardds", "text_filter"], ["dp_instruct", "text_filter"]]  # only filters
    assert fbody[0][2:] == ["10.5", "7.5", "3", "too_short 1, near_duplicate 2"]

    with open(out / "report_methods.csv", newline="") as fh:
        mrows = {r["method"]: r for r in csv.DictReader(fh)}
    assert float(mrows["rewardds"]["mauve"]) == pytest.approx(0.605)
    assert float(mrows["rewardds"]["pii.target.success_rate"]) == pytest.approx(0.035)
    assert mrows["dp_sgd"]["mauve"] == "" and float(mrows["dp_sgd"]["canary_exposure"]) == 6.0
    with open(out / "report.csv", newline="") as fh:
        jobs = {(j["method"], j["seed"]): j for j in csv.DictReader(fh)}
    assert float(jobs[("rewardds", "1")]["ifd"]) == pytest.approx(0.91)


def test_a_sweep_without_the_new_evaluations_has_no_leakage_table(method_sweep: Path, tmp_path: Path):
    report.write_report(method_sweep, tmp_path / "o")
    md = (tmp_path / "o" / "report.md").read_text()
    assert "## Leakage and data quality" not in md and "## Filters" not in md


# --------------------------------------------------------------------------- paired comparisons

N_ITEMS = 60
DELTAS = {"rewardds": 0.10, "dp_instruct": -0.05, "non_private": 0.20, "dp_sgd": 0.10}  # target - base per item


def _item_rows(values, nll) -> list[dict]:
    return [{"id": f"q{i}", "rouge1": v, "rouge2": v / 2, "rougeL": v, "bleu": 100 * v, "nll_sum": s, "n_tokens": 5}
            for i, (v, s) in enumerate(zip(values, nll))]


def _write_items(path: Path, rows: list[dict]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))


def _items_sweep(root: Path, deltas=DELTAS, seeds=(0, 1), skip=(), symmetric=()) -> tuple[Path, dict]:
    """A method sweep whose jobs wrote per-item scores: each job's own base is offset by 0.1 * seed
    (so pairing a target with another job's base would show), its target is that base + the
    method's delta + item noise (exactly mean-zero noise for methods in ``symmetric``).
    Seed-1 jobs keep their items in the stage folder only (as before the run-folder copies).
    Returns the sweep and (method, seed) -> {"target": rows, "base": rows}."""
    sweep = _method_sweep(root, list(deltas), seeds)
    base = np.random.default_rng(0).uniform(0.1, 0.5, size=N_ITEMS)
    written = {}
    for d in sorted(p for p in sweep.iterdir() if p.name.isdigit()):
        method = json.loads((d / "metrics.json").read_text())["method"]
        seed = int(yaml.safe_load((d / "config.yaml").read_text())["seed"])
        if (method, seed) in skip:
            continue
        own_base = base + 0.1 * seed
        if method in symmetric:
            noise = 0.05 * np.array([(-1) ** i for i in range(N_ITEMS)])
        else:
            noise = np.random.default_rng(100 * seed + list(deltas).index(method)).normal(0, 0.05, size=N_ITEMS)
        rows = {"base": _item_rows(own_base, np.full(N_ITEMS, 10.0)),
                "target": _item_rows(own_base + deltas[method] + noise, 10.0 - 10 * deltas[method] + noise)}
        for label, r in rows.items():
            where = d / "eval_items" / f"{label}.jsonl" if seed == 0 else d / "stages" / f"eval_{label}" / "items.jsonl"
            _write_items(where, r)
        written[(method, seed)] = rows
    return sweep, written


def _mean_diff(a: list[dict], b: list[dict], key: str = "rougeL") -> float:
    return float(np.mean([r[key] for r in a]) - np.mean([r[key] for r in b]))


def _cell_numbers(cell: str) -> tuple[float, float, float]:
    diff, lo, hi = re.fullmatch(r"([+-]?[\d.]+) \[(-?[\d.]+), (-?[\d.]+)\]", cell).groups()
    return float(diff), float(lo), float(hi)


def test_methods_table_pairs_targets_with_their_own_base_and_the_reference(tmp_path: Path):
    sweep, items = _items_sweep(tmp_path)
    out = tmp_path / "out"
    assert report.main([str(sweep), "--out", str(out)]) == 0
    md = (out / "report.md").read_text()
    header, body = _md_table(md, "## Methods")
    assert header[-4:] == ["ROUGE-L − base", "excludes 0 (base)", "ROUGE-L − rewardds", "excludes 0 (rewardds)"]
    rows = {r[0]: dict(zip(header, r)) for r in body}
    for method, delta in DELTAS.items():
        diff, lo, hi = _cell_numbers(rows[method]["ROUGE-L − base"])
        assert lo <= diff <= hi and diff == pytest.approx(delta, abs=0.02)
    assert [rows[m]["excludes 0 (base)"] for m in DELTAS] == ["yes", "yes", "yes", "yes"]
    assert _cell_numbers(rows["dp_instruct"]["ROUGE-L − base"])[2] < 0  # worse than base, and says so
    assert rows["rewardds"]["ROUGE-L − rewardds"] == "(reference)"
    assert rows["dp_sgd"]["excludes 0 (rewardds)"] == "no"  # the same delta: no clear difference
    assert rows["non_private"]["excludes 0 (rewardds)"] == "yes"
    assert _cell_numbers(rows["non_private"]["ROUGE-L − rewardds"])[1] > 0
    assert "60 test items per job" in md and "PAIRED percentile bootstrap" in md and "two-level" in md
    headroom = [line for line in md.splitlines() if line.startswith("Headroom")]
    assert len(headroom) == 1 and headroom[0].startswith("Headroom: non_private beats base by +0.2")
    assert headroom[0].endswith("ROUGE-L (paired, 60 items); the comparison can separate methods.")

    with open(out / "report_methods.csv", newline="") as fh:
        mrows = {r["method"]: r for r in csv.DictReader(fh)}
    for method in DELTAS:
        r = mrows[method]
        # the mean over seeds of each job's target minus ITS OWN base (bases differ by 0.1 per seed)
        expected = np.mean([_mean_diff(items[(method, s)]["target"], items[(method, s)]["base"]) for s in (0, 1)])
        assert float(r["rougeL_vs_base"]) == pytest.approx(expected)
        assert float(r["rougeL_vs_base_lo"]) <= expected <= float(r["rougeL_vs_base_hi"])
        assert r["rougeL_vs_base_excludes_0"] == "true" and r["vs_base_n_items"] == "60"
        assert r["vs_base_n_seeds"] == "2" and r["reference"] == "rewardds"
        ppl_diff = float(r["ppl_vs_base"])
        assert (ppl_diff < 0) == (DELTAS[method] > 0)  # lower NLL -> lower perplexity
    expected = np.mean([_mean_diff(items[("dp_sgd", s)]["target"], items[("rewardds", s)]["target"]) for s in (0, 1)])
    assert float(mrows["dp_sgd"]["rougeL_vs_reference"]) == pytest.approx(expected)
    assert mrows["dp_sgd"]["rougeL_vs_reference_excludes_0"] == "false"
    assert mrows["rewardds"]["rougeL_vs_reference"] == ""

    png = (out / "privacy_utility.png").read_bytes()
    assert struct.unpack(">II", png[16:24])[0] > 1400  # the second panel: differences to the reference


def test_paired_columns_say_dash_without_items_and_base_only_without_the_reference(tmp_path: Path, capsys):
    sweep, _ = _items_sweep(tmp_path, skip={("dp_sgd", 0), ("dp_sgd", 1), ("dp_instruct", 1)})
    out = tmp_path / "out"
    assert report.main([str(sweep), "--out", str(out), "--reference", "pe"]) == 0
    assert "reference method 'pe' is not in the sweep" in capsys.readouterr().err
    md = (out / "report.md").read_text()
    header, body = _md_table(md, "## Methods")
    assert header[-2:] == ["ROUGE-L − base", "excludes 0 (base)"] and "ROUGE-L − pe" not in header
    rows = {r[0]: dict(zip(header, r)) for r in body}
    assert rows["dp_sgd"]["ROUGE-L − base"] == "-" and rows["dp_sgd"]["excludes 0 (base)"] == "-"
    assert "the reference method, `--reference`, is not in this sweep" in md
    with open(out / "report_methods.csv", newline="") as fh:
        mrows = {r["method"]: r for r in csv.DictReader(fh)}
    assert "reference" not in mrows["rewardds"] and mrows["dp_sgd"]["rougeL_vs_base"] == ""
    assert mrows["dp_instruct"]["vs_base_n_seeds"] == "1"  # the seed without items is left out
    # a sweep written before per-item scores: no paired columns, and the report says why
    old = _method_sweep(tmp_path / "old", ["rewardds", "dp_sgd"], (0,))
    report.write_report(old, tmp_path / "o2")
    md = (tmp_path / "o2" / "report.md").read_text()
    assert "no paired differences" in md and "− base" not in _md_table(md, "## Methods")[0]


def test_headroom_warns_when_non_private_does_not_beat_base(tmp_path: Path):
    sweep, _ = _items_sweep(tmp_path, deltas={"rewardds": 0.1, "non_private": 0.0}, seeds=(0,),
                            symmetric={"non_private"})
    report.write_report(sweep, tmp_path / "o")
    md = (tmp_path / "o" / "report.md").read_text()
    warning = [line for line in md.splitlines() if "headroom" in line.lower() and "non_private" in line]
    assert len(warning) == 1 and warning[0].startswith("**Warning** (headroom): non_private − base is 0.000 [-0.0")
    assert "holds 0" in warning[0] and "cannot separate methods" in warning[0]


def test_bad_items_file_and_empty_sweep_are_one_error_line_exit_2(tmp_path: Path, capsys):
    sweep, _ = _items_sweep(tmp_path, deltas={"rewardds": 0.1, "dp_sgd": 0.0}, seeds=(0,))
    bad = sweep / "1" / "eval_items" / "target.jsonl"
    bad.write_text('{"id": "q0", "rougeL": "high"}\n')
    assert report.main([str(sweep), "--out", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error: ") and f"{bad}:1: field 'rougeL' must be a number" in err[0]
    empty = tmp_path / "empty"
    empty.mkdir()
    assert report.main([str(empty)]) == 2
    assert capsys.readouterr().err.strip() == f"error: no job folders in {empty}"


def test_python_dash_m_runs_the_package(tmp_path: Path):
    import subprocess
    import sys

    sweep, _ = _items_sweep(tmp_path, deltas={"rewardds": 0.1, "dp_sgd": 0.0}, seeds=(0,))
    proc = subprocess.run([sys.executable, "-m", "rewardds.report", str(sweep), "--out", str(tmp_path / "o")],
                          capture_output=True, text=True, cwd=Path(__file__).resolve().parents[1], timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert (tmp_path / "o" / "report.md").exists() and "report_methods.csv" in proc.stdout


def test_execution_settings_do_not_split_the_methods_table(tmp_path: Path):
    """Seeds run as two multiruns with different thread counts (or log intervals) are one experiment:
    the methods table aggregates them over all seeds instead of one row per thread count."""
    sweep = _method_sweep(tmp_path, ["rewardds", "dp_sgd"], (0, 1, 2))
    for d in sweep.iterdir():
        if d.name.isdigit():
            ov = yaml.safe_load((d / ".hydra" / "overrides.yaml").read_text())
            threads = 2 if "seed=2" not in ov else 1
            (d / ".hydra" / "overrides.yaml").write_text(yaml.safe_dump(ov + [f"trainer.num_threads={threads}"]))
    result = report.write_report(sweep, tmp_path / "o")
    groups = result["groups"]
    assert sorted(g["method"] for g in groups) == ["dp_sgd", "rewardds"], [g["settings"] for g in groups]
    assert all(g["metrics"]["rougeL"]["n"] == 3 for g in groups)
