"""rewardds.report on a fake Hydra multirun folder: 2 eps x 2 keep ratios + 1 failed job."""
from __future__ import annotations

import csv
import json
import struct
from pathlib import Path

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
