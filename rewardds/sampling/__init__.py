"""Text generation backends behind one interface (``Sampler``).

``build_sampler`` picks the backend named by the ``sampler`` group. The backends
are imported when asked for (vLLM is an optional install), from a table here:
the interface in ``base`` knows nothing of them, so there is no import circle.
"""
from __future__ import annotations

import importlib

from rewardds.errors import ConfigError
from rewardds.models.loading import configured_dtype
from rewardds.sampling.base import Completion, Sampler, SamplingParams

__all__ = ["BACKENDS", "Completion", "Sampler", "SamplingParams", "build_sampler"]

BACKENDS = {"hf": "rewardds.sampling.hf:HFSampler", "vllm": "rewardds.sampling.vllm:VLLMSampler"}


def build_sampler(cfg, model_dir, adapter_dir=None, dtype: str | None = None) -> Sampler:
    """Instantiate the backend named by ``cfg["backend"]`` (the ``sampler`` group, or a step's copy of it).

    The model is loaded in ``dtype``; by default the dtype ``model_dir`` carries (a base model folder
    of the run, :class:`rewardds.models.loading.ModelDir`: ``model.<which>.dtype``), else the backend's
    default. The dtype belongs to the model, not to the ``sampler`` group.
    """
    opts = dict(cfg)
    dtype = dtype or configured_dtype(model_dir)
    if dtype is not None:
        opts["dtype"] = dtype
    backend = opts.pop("backend")
    if backend not in BACKENDS:
        raise ConfigError("sampler.backend", f"unknown backend {backend!r} (expected {' or '.join(BACKENDS)})")
    module, cls = BACKENDS[backend].split(":")
    return getattr(importlib.import_module(module), cls)(model_dir, adapter_dir, **opts)
