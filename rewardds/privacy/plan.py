"""The privacy plan of a run: delta, the guarantee notes, and every DP component calibrated.

Read from the recipe's declarations alone (``Step.touches``, ``Step.dp``), before
anything trains: the pipeline and the canary audit both plan here.
"""
from __future__ import annotations

import logging

from omegaconf import DictConfig

from rewardds.errors import ConfigError
from rewardds.privacy.accounting import ComponentPlan, plan_budget, poisson_steps
from rewardds.privacy.ledger import PrivacyLedger
from rewardds.recipes import Recipe, build_recipe

log = logging.getLogger(__name__)


def default_delta(num_records: int) -> float:
    """min(1e-5, 1/(10 N)): well below 1/N, at which releasing one random record verbatim is DP."""
    return min(1e-5, 1.0 / (10 * num_records))


def delta_limit(mode: str, num_records: int) -> tuple[float, str]:
    """The largest delta a run may use, and how it is written: 1/(10 N) in strict mode (the default's own
    bound), 1/N in paper mode (KnowledgeSG's delta). delta = 1/N is met by publishing one random record
    verbatim; a guarantee needs delta well below it."""
    if mode == "paper":
        return 1.0 / num_records, "1/N"
    return 1.0 / (10 * num_records), "1/(10 N)"


def resolve_delta(cfg: DictConfig, num_records: int) -> float:
    """dp.delta, else 1/N with ``privacy.delta_rule=one_over_n`` (KnowledgeSG's delta; paper mode only),
    else :func:`default_delta`; refused above :func:`delta_limit`."""
    if cfg.dp.delta is not None:
        delta = cfg.dp.delta
    elif cfg.privacy.delta_rule == "one_over_n":
        delta = 1.0 / num_records
    else:
        delta = default_delta(num_records)
    if cfg.dp.enabled:
        limit, written = delta_limit(cfg.privacy.mode, num_records)
        if delta > limit:
            raise ConfigError("dp.delta", f"{delta:g} is above {written} = {limit:.3g} for N={num_records} private "
                              f"records (privacy.mode={cfg.privacy.mode}): publishing one random record verbatim meets "
                              "delta = 1/N; use a smaller one (default min(1e-5, 1/(10 N)))")
    return float(delta)


def guarantee_notes(cfg: DictConfig, recipe: Recipe) -> list[str]:
    """Why this run has no formal guarantee (empty: it has one), from the steps' declarations."""
    notes = []
    if cfg.dp.enabled and cfg.dp.reproducible_noise and recipe.dp_steps():
        notes.append("dp.reproducible_noise=true: the DP noise and the Poisson batches were drawn from a generator "
                     "seeded with the run's public seed, so anyone who knows the seed can replay training and "
                     "remove the noise")
    for step in recipe.steps:
        if any(t.voids_guarantee for t in step.touches) and step.why:
            notes.append(step.why)
    if not cfg.dp.enabled and recipe.dp_steps():
        names = ", ".join(s.dp.component for s in recipe.dp_steps())
        notes.append(f"dp.enabled=false: {names} were trained on the private records without differential privacy")
    return notes


def privacy_plan(cfg: DictConfig, num_records: int, private_data: dict | None = None,
                 recipe: Recipe | None = None) -> tuple[dict, object]:
    """Calibrate every DP component of the recipe against the one release budget, build the
    ledger and check the whole plan before anything trains."""
    recipe = recipe or build_recipe(cfg)
    dp = cfg.dp
    delta = resolve_delta(cfg, num_records)
    notes = guarantee_notes(cfg, recipe)
    ledger = PrivacyLedger(dp.epsilon, delta, dp.accountant, enabled=dp.enabled,
                           guarantee_note="; ".join(notes) if notes else None, private_data=private_data,
                           budget_scope=cfg.privacy.budget)
    plan: dict = {}
    dp_steps = recipe.dp_steps()
    if not dp.enabled or not dp_steps:
        return plan, ledger
    split = dict(dp.split or {})  # keys checked against the recipe's components by config.validate
    comps = []
    for step in dp_steps:
        use = step.dp
        if use.full_batch:  # every record in every step: a Gaussian mechanism without subsampling
            q, steps = 1.0, int(use.epochs)
        else:
            if use.batch_size > num_records:
                log.warning("%s: batch size %d is larger than the %d private records: sample rate 1, every record "
                            "in every step", use.component, use.batch_size, num_records)
            q, steps = poisson_steps(num_records, use.batch_size, use.epochs)
        comps.append(ComponentPlan(use.component, float(split.get(use.component, 1.0)), q, steps))
    fixed = {s.dp.component: float(s.dp.noise_multiplier) for s in dp_steps if s.dp.noise_multiplier is not None}
    if dp.noise_multiplier is not None:
        sigmas = {c.name: float(dp.noise_multiplier) for c in comps}
    else:  # components with their own noise are not calibrated; check_plan below still guards the budget
        free = [c for c in comps if c.name not in fixed]
        if cfg.privacy.budget == "per_model":  # the papers' semantics: each component calibrated to dp.epsilon alone
            sigmas = {}
            for c in free:
                sigmas.update(plan_budget([c], dp.epsilon, delta, dp.accountant, dp.epsilon_tolerance))
        else:
            sigmas = dict(plan_budget(free, dp.epsilon, delta, dp.accountant, dp.epsilon_tolerance) if free else {})
        sigmas.update(fixed)
    for c in comps:
        plan[c.name] = {"noise_multiplier": sigmas[c.name], "sample_rate": c.sample_rate, "steps": c.steps,
                        "num_records": num_records}
        ledger.plan(c.name, sigmas[c.name], c.sample_rate, c.steps)
    ledger.check_plan()  # e.g. a hand-set dp.noise_multiplier: refused before any DP step trains
    return plan, ledger
