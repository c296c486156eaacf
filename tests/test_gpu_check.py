"""benchmarks/gpu_check: the CPU side of the one-go GPU check (CI has no GPU).

The plan (GPU shapes, timeouts inside the 8-minute budget), argument errors, the
per-part status capture (ok / failed / timeout, the JSON rewritten after each
part) and a tiny real run on the CPU.
"""
from __future__ import annotations

import json
import sys

import pytest

from benchmarks import gpu_check


def read(path):
    return json.loads(path.read_text())


def test_dry_run_plans_every_part_with_gpu_shapes_inside_the_budget(tmp_path):
    out = tmp_path / "plan.json"
    assert gpu_check.main(["--dry-run", "--out", str(out)]) == 0
    report = read(out)
    assert list(report["parts"]) == list(gpu_check.PARTS)
    assert all(p["status"] == "planned" for p in report["parts"].values())
    cmd = {name: " ".join(p["command"]) for name, p in report["parts"].items()}
    for shape in ("--hidden 896", "--layers 24", "--heads 14", "--kv-heads 2", "--intermediate 4864",
                  "--vocab 151936", "--device cuda"):
        assert shape in cmd["dp_step"]
    assert "--size 0.5b" in cmd["sampler"] and "--device cuda" in cmd["sampler_lora"]
    assert "trainer=gpu" in cmd["smoke"] and "sampler=vllm" in cmd["smoke"]
    assert report["budget_s"] <= 8 * 60 - 20  # start-up and JSON writing fit in the 8 minutes


@pytest.mark.parametrize("argv, key", [(["--parts", "dp_step,nope"], "--parts"),
                                       (["--timeout", "smoke=abc"], "--timeout"),
                                       (["--timeout", "nope=3"], "--timeout"),
                                       (["--budget", "0"], "--budget")])
def test_bad_arguments_end_in_one_error_line(argv, key, capsys, tmp_path):
    with pytest.raises(SystemExit) as exc:
        gpu_check.main([*argv, "--out", str(tmp_path / "x.json")])
    assert exc.value.code == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith(f"error: {key}")
    assert not (tmp_path / "x.json").exists()


def test_run_part_records_failures_timeouts_and_figure_errors(tmp_path):
    py = sys.executable
    failing = gpu_check.Part("f", [py, "-c", "import sys; sys.exit('boom: no CUDA')"], 30)
    res = gpu_check.run_part(failing, 30)
    assert res["status"] == "failed" and "boom: no CUDA" in res["error"] and "exit 1" in res["error"]
    slow = gpu_check.Part("s", [py, "-c", "import time; time.sleep(30)"], 1)
    res = gpu_check.run_part(slow, 1)
    assert res["status"] == "timeout" and res["seconds"] < 20
    bad_variant = gpu_check.Part("v", [py, "-c", "print('{\"variants\": {\"hooks\": {\"error\": \"OOM\"}}}')"], 30)
    res = gpu_check.run_part(bad_variant, 30)
    assert res["status"] == "failed" and "OOM" in res["error"] and res["figures"]["variants"]["hooks"]


def test_tiny_cpu_check_keeps_every_part_when_one_times_out(tmp_path):
    out = tmp_path / "cpu.json"
    rc = gpu_check.main(["--device", "cpu", "--parts", "dp_step,sampler_lora", "--timeout", "dp_step=0.5",
                         "--out", str(out)])
    assert rc == 1  # one part did not pass
    parts = read(out)["parts"]
    assert parts["dp_step"]["status"] == "timeout"
    lora = parts["sampler_lora"]
    assert lora["status"] == "ok", lora
    hf = lora["figures"]["backends"]["hf"]
    assert hf["generated_tokens"] > 0 and hf["tokens_per_s"] > 0
    assert read(out)["ok"] is False
