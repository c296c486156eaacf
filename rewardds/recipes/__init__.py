"""Methods as recipes: a typed method config plus an ordered list of steps.

``build_recipe(cfg)`` looks the method up in the registry, checks ``cfg.method``
against the method's own schema, and returns its :class:`Recipe`. The pipeline
runs any recipe the same way (``rewardds.pipeline``).
"""
from __future__ import annotations

import math

from omegaconf import OmegaConf
from omegaconf.errors import OmegaConfBaseException

from rewardds.errors import ConfigError
from rewardds.recipes.configs import (DEDUP_SCOPES, EXAMPLE_SOURCES, IFD_ORDERS, KSG_DEDUP_SOURCES, KSG_DP_MODELS,
                                      KSG_TARGETS, PE_SELECTIONS)
from rewardds.recipes.registry import METHODS, method_entry
from rewardds.recipes.step import Recipe, Step, Touch

__all__ = ["METHODS", "Recipe", "Step", "Touch", "build_recipe", "method_config"]


def method_config(cfg):
    """``cfg.method`` merged over its method's schema: unknown keys and wrong types are refused."""
    node = cfg.method
    name = OmegaConf.select(cfg, "method.name")
    entry = method_entry(name)
    try:
        typed = OmegaConf.merge(OmegaConf.structured(entry.schema), node)
    except OmegaConfBaseException as exc:
        key = getattr(exc, "full_key", None) or getattr(exc, "key", None) or "method"
        key = key if str(key).startswith("method") else f"method.{key}"
        raise ConfigError(str(key), f"not a key of method {name} ({type(exc).__name__})") from None
    _check(cfg, typed)
    return typed


def _check(cfg, m) -> None:
    if "examples" in m:
        if m.examples not in EXAMPLE_SOURCES:
            raise ConfigError("method.examples", f"got {m.examples!r}, expected one of {', '.join(EXAMPLE_SOURCES)}")
        if m.examples == "private" and cfg.privacy.mode != "paper":
            raise ConfigError("method.examples", "private examples in server-side prompts void the guarantee; "
                              "the reference form runs only with privacy.mode=paper")
        if m.k < 0:
            raise ConfigError("method.k", f"must be >= 0, got {m.k}")
        if not 0 < m.temperature:
            raise ConfigError("method.temperature", f"must be > 0, got {m.temperature}")
        if m.dedup_threshold is not None and not 0 < m.dedup_threshold <= 1:
            raise ConfigError("method.dedup_threshold", f"must be in (0, 1], got {m.dedup_threshold}")
    if "dedup_scope" in m and m.dedup_scope not in DEDUP_SCOPES:
        raise ConfigError("method.dedup_scope", f"got {m.dedup_scope!r}, expected one of {', '.join(DEDUP_SCOPES)}")
    if m.name == "pe":
        _check_pe(m)
    if m.name == "knowledgesg":
        _check_knowledgesg(cfg, m)
    for key in ("epochs", "batch_size", "physical_batch_size", "max_new_tokens", "num_instructions", "seed_epochs"):
        v = m.get(key) if key in m else None
        if v is not None and v <= 0 and not (key == "epochs" and v == 0):
            raise ConfigError(f"method.{key}", f"must be > 0, got {v}")


def _check_pe(m) -> None:
    for key in ("rounds", "variations", "embed_batch_size"):
        if m[key] < 1:
            raise ConfigError(f"method.{key}", f"must be >= 1, got {m[key]}")
    if m.population is not None and m.population < 2:
        raise ConfigError("method.population", f"must be >= 2 (a histogram needs bins to choose from), got {m.population}")
    if m.threshold < 0:
        raise ConfigError("method.threshold", f"must be >= 0, got {m.threshold}")
    if m.selection not in PE_SELECTIONS:
        raise ConfigError("method.selection", f"got {m.selection!r}, expected one of {', '.join(PE_SELECTIONS)}")
    if m.noise_multiplier is not None and not m.noise_multiplier > 0:
        raise ConfigError("method.noise_multiplier", f"must be > 0 (or null: calibrated), got {m.noise_multiplier}")
    if m.k < 0:
        raise ConfigError("method.k", f"must be >= 0, got {m.k}")
    if not 0 < m.temperature:
        raise ConfigError("method.temperature", f"must be > 0, got {m.temperature}")
    if not 0 < m.top_p <= 1:
        raise ConfigError("method.top_p", f"must be in (0, 1], got {m.top_p}")
    if m.answer_max_new_tokens is not None and m.answer_max_new_tokens <= 0:
        raise ConfigError("method.answer_max_new_tokens", f"must be > 0, got {m.answer_max_new_tokens}")


def _check_knowledgesg(cfg, m) -> None:
    """KnowledgeSG's keys, and the professional model's tiny sizes (only this method builds it)."""
    if m.dedup_against not in KSG_DEDUP_SOURCES:
        raise ConfigError("method.dedup_against", f"got {m.dedup_against!r}, expected one of "
                          f"{', '.join(KSG_DEDUP_SOURCES)}")
    if m.dedup_against == "private" and (m.dedup_threshold is not None or m.k > 0) and cfg.privacy.mode != "paper":
        raise ConfigError("method.dedup_against", "showing private instructions in prompts, or comparing synthetic "
                          "instructions with them, voids the guarantee; only privacy.mode=paper allows it")
    for key, allowed in (("target", KSG_TARGETS), ("dp_model", KSG_DP_MODELS), ("ifd_order", IFD_ORDERS)):
        if m[key] not in allowed:
            raise ConfigError(f"method.{key}", f"got {m[key]!r}, expected one of {', '.join(allowed)}")
    checks = (("temperature", m.temperature > 0, "> 0"), ("top_p", 0 < m.top_p <= 1, "in (0, 1]"),
              ("k", m.k >= 0, ">= 0"),
              ("min_instruction_tokens", m.min_instruction_tokens >= 0, ">= 0"),
              ("dedup_threshold", m.dedup_threshold is None or 0 < m.dedup_threshold <= 1, "in (0, 1]"),
              ("domain_margin", math.isfinite(m.domain_margin), "a finite number"),
              ("ifd_max", m.ifd_max > 0 and math.isfinite(m.ifd_max), "a finite number > 0"),
              ("ifd_keep", m.ifd_keep is None or 0 < m.ifd_keep <= 1, "in (0, 1] (or null: no IFD ranking)"))
    for key, ok, what in checks:
        if not ok:
            raise ConfigError(f"method.{key}", f"must be {what}, got {m[key]}")
    tiny = cfg.model.professional.tiny
    if cfg.model.professional.path == "tiny" and tiny.hidden_size % tiny.num_heads:
        raise ConfigError("model.professional.tiny.hidden_size", f"must be a multiple of "
                          f"model.professional.tiny.num_heads ({tiny.num_heads}), got {tiny.hidden_size}")


def build_recipe(cfg) -> Recipe:
    typed = method_config(cfg)
    recipe = method_entry(typed.name).build()(cfg, typed)
    names = recipe.names()
    if len(set(names)) != len(names):
        raise RuntimeError(f"recipe {typed.name} has duplicate step names: {names}")
    return recipe
