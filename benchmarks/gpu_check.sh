#!/usr/bin/env bash
# The GPU check in one go (< 8 minutes on one GPU): DP-step benchmark on a 0.5B shape,
# HF vs vLLM sampling (with and without a LoRA adapter), the smoke pipeline with
# trainer=gpu sampler=vllm. ONE JSON of results: $GPU_CHECK_OUT (default gpu_check.json).
#   bash benchmarks/gpu_check.sh                      # everything
#   bash benchmarks/gpu_check.sh --parts dp_step      # arguments pass to benchmarks/gpu_check.py
# Exit 0 when every part passed; the JSON has each part's status, error and figures.
set -uo pipefail
cd "$(dirname "$0")/.."
PY="${PYTHON:-python}"
[ -x .venv/bin/python ] && [ -z "${PYTHON:-}" ] && PY=.venv/bin/python
exec "$PY" -m benchmarks.gpu_check --out "${GPU_CHECK_OUT:-gpu_check.json}" "$@"
