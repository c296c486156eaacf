"""The pipeline's sampling stages on the real vLLM engine (CPU build), LoRA adapter included."""
from __future__ import annotations

import os

import pytest

from rewardds.io import read_json, read_jsonl

try:
    import vllm  # noqa: F401
except Exception as exc:  # noqa: BLE001
    if os.environ.get("CI") == "true":
        raise RuntimeError(f"CI must test the real vLLM engine (make vllm): {exc}") from exc
    pytest.skip(f"vllm not installed ({exc}); run `make vllm`", allow_module_level=True)

# vLLM's CPU attention needs head_dim >= 32: the smoke model is widened to 128 (4 heads).
VLLM_SMOKE = ["experiment=smoke", "sampler=vllm", "model.tiny.hidden_size=128", "stop_after=candidates"]


@pytest.mark.vllm
@pytest.mark.slow
def test_sampling_stages_run_on_vllm(run_pipeline):
    metrics, run_dir = run_pipeline(VLLM_SMOKE, name="vllm")
    stages = run_dir / "stages"
    queries = list(read_jsonl(stages / "queries" / "queries.jsonl"))
    cands = list(read_jsonl(stages / "candidates" / "candidates.jsonl"))
    assert queries and cands
    assert all(1 <= len(c["candidates"]) <= 3 for c in cands)
    stats = read_json(stages / "candidates" / "sampling.stats.json")
    assert stats["generated_tokens"] > 0 and stats["tokens_per_second"] > 0
    assert metrics["sampling"]["queries"]["tokens_per_second"] > 0
    assert not (run_dir / "stages" / "scores").exists()  # stop_after=candidates
