"""Smoke tests of the benchmarks: each runs with its tiniest settings and prints its table / JSON.

No timing assertions. bench_run and bench_sweep drive a stand-in entry point here
(same command-line contract as run.py: Hydra overrides in, ``stage_log.jsonl``
in ``hydra.run.dir`` out), because even ``experiment=smoke`` takes minutes on a
shared 2-core machine; the real pipeline is exercised by the slow test at the end.
"""
from __future__ import annotations

import json
import textwrap

import pytest

from benchmarks import __main__ as bench_main
from benchmarks import bench_dp_step, bench_run, bench_sweep

STAND_IN = textwrap.dedent("""
    import json, sys, time
    from pathlib import Path

    ov = dict(a.split("=", 1) for a in sys.argv[1:])
    assert ov["task"] == "medical" and ov["dp.epsilon"] == "4" and ov["experiment"] == "smoke", ov
    run, cache = Path(ov["hydra.run.dir"]), Path(ov["cache.dir"])
    run.mkdir(parents=True, exist_ok=True)
    cache.mkdir(parents=True, exist_ok=True)
    ballast = bytearray(20 * 2**20)  # something for the memory columns to see
    ballast[::4096] = b"x" * len(ballast[::4096])
    stages = [("base_model", "base"), ("gen_proxy", "gen"), ("filter", "filter" + ov.get("filter.keep_ratio", "d"))]
    with open(run / "stage_log.jsonl", "w") as fh:
        for stage, key in stages:
            hit = (cache / key).exists()
            (cache / key).touch()
            fh.write(json.dumps({"stage": stage, "key": key, "cache_hit": hit, "seconds": 0.0 if hit else 0.05}) + "\\n")
    time.sleep(0.05)
""")


@pytest.fixture
def stand_in(tmp_path):
    path = tmp_path / "stand_in_run.py"
    path.write_text(STAND_IN)
    return str(path)


def _json(capsys) -> dict:
    out = capsys.readouterr().out
    return json.loads(out[out.index("{"):])


def test_dp_step_quick_json_and_table(capsys):
    assert bench_dp_step.main(["--quick", "--json"]) == 0
    res = _json(capsys)
    assert res["benchmark"] == "dp_step" and res["config"]["device"] in ("cpu", "cuda")
    assert set(res["variants"]) == {"nondp", "hooks", "functorch", "ghost"}
    for name, v in res["variants"].items():
        assert "error" not in v, (name, v)
        assert v["median_ms"] > 0 and len(v["times_ms"]) == res["config"]["steps"]
        assert "peak_delta_mib" in v, (name, v)  # the per-variant memory subprocess answered
    assert res["variants"]["nondp"]["ratio"] == 1.0
    table = bench_dp_step.render(res)
    assert "ms/step" in table and "ratio" in table and "ghost" in table and "peak +MiB" in table


def test_run_quick_cold_then_warm(stand_in, tmp_path, capsys):
    assert bench_run.main(["--quick", "--run-script", stand_in, "--workdir", str(tmp_path / "w"), "--json"]) == 0
    res = _json(capsys)
    cold, warm = res["cold"], res["warm"]
    assert cold["rc"] == warm["rc"] == 0
    assert [s["cache_hit"] for s in cold["stages"]] == [False] * 3  # the cold run saw an empty cache
    assert [s["cache_hit"] for s in warm["stages"]] == [True] * 3
    assert cold["peak_rss_bytes"] >= 20 * 2**20  # the stand-in's ballast, seen through RUSAGE_CHILDREN
    assert res["targets"]["wall"] in ("ok", "ABOVE") and res["targets"]["rss"] == "ok"
    assert bench_run.main(["--quick", "--run-script", stand_in]) == 0
    table = capsys.readouterr().out
    assert "cold" in table and "warm" in table and "targets:" in table and "hit" in table


def test_sweep_quick_ratio_and_stages(stand_in, capsys):
    assert bench_sweep.main(["--quick", "--run-script", stand_in, "--json"]) == 0
    res = _json(capsys)
    assert [p["keep_ratio"] for p in res["sweep"]] == ["0.125", "0.25", "0.5", "1.0"]
    assert res["ratio"] > 0 and res["sweep_wall_s"] > 0
    # the first point fills the shared cache, later ones reuse everything but the filter
    assert [sum(s["cache_hit"] for s in p["stages"]) for p in res["sweep"]] == [0, 2, 2, 2]
    assert res["per_point"][0]["stage"] == "filter"
    assert bench_sweep.main(["--quick", "--run-script", stand_in, "--points", "0.5,1.0"]) == 0
    table = capsys.readouterr().out
    assert "sweep / one run" in table and "kr=0.5" in table and "marginal cost" in table


def test_main_lists_and_refuses_unknown(capsys):
    assert bench_main.main(["--list"]) == 0
    names = capsys.readouterr().out.split()
    assert names[:3] == ["dp_step", "run", "sweep"]
    assert bench_main.main(["--only", "nope"]) == 2


def test_main_passes_args_after_double_dash(stand_in, capsys):
    assert bench_main.main(["--only", "run", "--", "--run-script", stand_in]) == 0
    out = capsys.readouterr().out
    assert "== run: python -m benchmarks.bench_run --quick --run-script" in out and "exit 0" in out


@pytest.mark.slow
def test_run_quick_real_pipeline(tmp_path, capsys):
    """The real entry point accepts the benchmark's overrides (cache.dir, hydra.run.dir) and logs its stages."""
    assert bench_run.main(["--quick", "--workdir", str(tmp_path / "w"), "--json"]) == 0, capsys.readouterr().out
    res = _json(capsys)
    assert res["cold"]["stages"] and not any(s["cache_hit"] for s in res["cold"]["stages"])
    assert res["warm"]["stages"] and all(s["cache_hit"] for s in res["warm"]["stages"])
    assert res["cold"]["peak_rss_bytes"] > 0


def test_bench_sampler_times_the_compacting_loop_beside_generate(capsys):
    from benchmarks import bench_sampler

    result = bench_sampler.main(["--backends", "hf,hf-generate", "--prompts", "4", "--n", "2", "--max-new-tokens", "6",
                                 "--hidden", "64", "--threads", "1"])
    rows = {r["backend"]: r for r in result["results"]}
    assert set(rows) == {"hf", "hf-generate"}
    assert all(r["sequences"] == 8 and r["generated_tokens"] > 0 for r in rows.values())
    assert result["compact_over_generate"] == rows["hf"]["tokens_per_s"] / rows["hf-generate"]["tokens_per_s"]
    assert "HF compacting loop / HF generate tokens/s" in capsys.readouterr().out
