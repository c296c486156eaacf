"""The synthetic-set and leakage evaluations every recipe gets, appended in one place.

:func:`with_evaluations` takes any method's recipe and adds, after its model evaluations, the
steps that ``eval.*`` switches on (all off by default; the methods comparison turns them on,
benchmarks/bench_methods.py):

| step | key | side | what |
|---|---|---|---|
| ``similarity`` | ``eval.similarity`` | client | MAUVE and FID, private vs synthetic questions (MiniLM) |
| ``synthetic_ifd`` | ``eval.ifd`` | server | mean IFD of the synthetic pairs under the target base |
| ``synthetic_copies`` | ``eval.leakage`` or ``eval.canaries`` | client | private records / canary secrets copied into the released synthetic texts |
| ``canary_exposure_<label>`` | ``eval.canaries`` > 0 | client | exposure of the planted canaries in the DP proxy, the final target and (rewards) the reward proxy |
| ``pii_<label>`` | ``eval.pii`` | client | PII reconstruction attack on base, DP proxy, target (rewardds.eval.pii) |

What a method trained on is read from the recipe itself: the model of the ``target`` evaluation,
the pool that model was fine-tuned on (the released synthetic set) and every question step
(released ``queries.jsonl``). Methods without a synthetic set (non_private, dp_sgd) get the model
evaluations only.

``eval.canaries=N`` makes the run an AUDIT run: :func:`audit_data` plants N canary records in the
private data before anything trains (the method trains on them like on any record; the data
fingerprint, hence every cache key downstream, changes, so normal runs' cache entries are
untouched), privacy.json's private_data says so, and metrics.json carries ``audit_run``.
"""
from __future__ import annotations

from rewardds.eval.canaries import make_canaries, plant_canaries
from rewardds.recipes.step import Recipe, Step
from rewardds.stages.client_eval import (CANARY_EXPOSURE, CANARY_REWARD_EXPOSURE, PII, SIMILARITY, SYNTHETIC_COPIES,
                                         SYNTHETIC_IFD)

EXPOSURE_LABELS = ("gen_proxy", "target")  # models whose canary exposure an audit run measures
PII_LABELS = ("base", "gen_proxy", "target", "attacker")  # models the PII reconstruction attack is run on
CLIENT_ONLY_NOTE = ("CLIENT-ONLY: computed on the client from the private records or the canary secrets; "
                    "non-DP statistics of the private data, never released (not in release/)")


def _report_path(step: Step) -> tuple[str, ...] | None:
    """Where a step's metrics.json lands in metrics.json's client_eval / synthetic_eval."""
    kind = step.kind
    if kind == SIMILARITY.kind:
        return ("similarity",)
    if kind == SYNTHETIC_IFD.kind:
        return ("ifd",)
    if kind == SYNTHETIC_COPIES.kind:
        return ("copies",)
    if kind in (CANARY_EXPOSURE.kind, CANARY_REWARD_EXPOSURE.kind):  # per model label
        return ("canary_exposure", step.params["label"])
    if kind == "pii":
        return ("pii", step.params["label"])
    return None


def pii_steps(cfg, models: dict[str, Step], trained: dict[str, Step]) -> list[Step]:
    """``eval.pii``: the PII reconstruction attack (:mod:`rewardds.eval.pii`) on the base model, the
    DP proxy and the final target, each scored with the formats its adapter was trained on (a
    fine-tuning step's ``formats``; question -> answer otherwise). ``models``: label -> its evaluation
    step; ``trained``: step name -> step (to read an adapter's formats)."""
    if not cfg.eval.pii:
        return []
    steps = []
    for label in PII_LABELS:
        if label not in models:
            continue
        ev = models[label]
        inputs = {role: ev.inputs[role] for role in ("base", "adapter") if role in ev.inputs}
        adapter = trained.get(inputs.get("adapter", ""))
        formats = list(adapter.params.get("formats", ["answer"])) if adapter is not None else ["answer"]
        which = "proxy" if ev.inputs["base"] == "base:proxy" else "target"
        steps.append(Step(f"pii_{label}", PII,
                          {"task": cfg.task.name, "label": label, "seed": cfg.seed, "formats": formats,
                           "lm": {"dtype": cfg.model[which].dtype, "max_length": cfg.model[which].max_length},
                           "num_candidates": cfg.eval.pii_candidates, "max_records": cfg.eval.pii_max_records},
                          inputs, side="client"))
    return steps


def client_evaluations(cfg, models: dict[str, Step], pool: str | None, queries: list[str],
                       reward: Step | None = None) -> list[Step]:
    """The steps ``eval.*`` switches on. ``models``: label -> the model's evaluation step (its base
    and adapter inputs); ``pool``: the step whose pool.jsonl the final target trained on (None: no
    synthetic set); ``queries``: steps whose queries.jsonl is released; ``reward``: the method's
    scoring step (its reward model, bt or gfriend, is audited on its scores in an audit run), if any."""
    e, task = cfg.eval, cfg.task.name
    steps = []
    if pool is not None and e.similarity:
        steps.append(Step("similarity", SIMILARITY,
                          {"task": task, "seed": cfg.seed, "max_records": e.similarity_max_records,
                           "embed_batch_size": 64}, {"pool": pool, "records": "data:private"}, side="client"))
    if pool is not None and e.ifd:
        steps.append(Step("synthetic_ifd", SYNTHETIC_IFD,
                          {"task": task, "dtype": cfg.model.target.dtype, "max_length": cfg.model.target.max_length},
                          {"base": "base:target", "pool": pool}))
    released = ({"pool": pool} if pool is not None else {}) | {f"queries_{i}": q for i, q in enumerate(queries)}
    if released and (e.leakage or e.canaries > 0):
        canaries = _canary_params(cfg) if e.canaries > 0 else None
        steps.append(Step("synthetic_copies", SYNTHETIC_COPIES,
                          {"task": task, "ngram": e.copy_ngram, "canaries": canaries},
                          {**released, "records": "data:private"}, side="client"))
    if e.canaries > 0:
        for label in EXPOSURE_LABELS:
            if label in models:
                ev = models[label]
                inputs = {role: ev.inputs[role] for role in ("base", "adapter") if role in ev.inputs}
                steps.append(Step(f"canary_exposure_{label}", CANARY_EXPOSURE,
                                  {**_canary_params(cfg), "task": task, "label": label,
                                   "references": e.canary_references, "dtype": ev.params["dtype"],
                                   "max_length": cfg.model.target.max_length}, inputs, side="client"))
        if reward is not None:
            steps.append(Step("canary_exposure_reward_proxy", CANARY_REWARD_EXPOSURE,
                              {**_canary_params(cfg), "label": "reward_proxy", "references": e.canary_references,
                               "scorer": dict(reward.params)},
                              {r: reward.inputs[r] for r in ("base", "reward_proxy")}, side="client"))
    return steps


def _canary_params(cfg) -> dict:
    """What regenerates the planted canaries (make_canaries): their count, secret length and the seed."""
    return {"num": int(cfg.eval.canaries), "digits": int(cfg.eval.canary_digits), "seed": int(cfg.seed)}


def with_evaluations(cfg, recipe: Recipe) -> Recipe:
    """``recipe`` with :func:`client_evaluations` and :func:`pii_steps` appended (idempotent)."""
    if any(_report_path(s) for s in recipe.steps):
        return recipe
    models = {s.eval_label: s for s in recipe.steps if s.eval_label is not None}
    by_name = {s.name: s for s in recipe.steps}
    target = models.get("target")
    trained = by_name.get(target.inputs.get("adapter")) if target is not None else None
    pool = trained.inputs.get("pool") if trained is not None else None
    queries = [s.name for s in recipe.steps if s.kind == "questions"]
    reward = next((s for s in recipe.steps if s.kind == "scores" and "reward_proxy" in s.inputs), None)
    extra = client_evaluations(cfg, models, pool, queries, reward) + pii_steps(cfg, models, by_name)
    return Recipe(recipe.method, list(recipe.steps) + extra) if extra else recipe


def audit_data(cfg, data):
    """The private data an audit run (``eval.canaries`` > 0) trains on: ``data`` plus the canaries."""
    if cfg.eval.canaries <= 0:
        return data
    canaries = make_canaries(cfg.eval.canaries, cfg.eval.canary_digits, cfg.seed)
    return plant_canaries(data, canaries, cfg.eval.canary_repeats, cfg.seed)


def audit_run_note(cfg) -> dict | None:
    """metrics.json ``audit_run``: what was planted (None for a normal run)."""
    if cfg.eval.canaries <= 0:
        return None
    return {"canaries": int(cfg.eval.canaries), "repeats": int(cfg.eval.canary_repeats),
            "secret_digits": int(cfg.eval.canary_digits), "references": int(cfg.eval.canary_references),
            "note": ("AUDIT RUN: made-up canary records were planted in the private data (eval.canaries); the "
                     "method trained on them like on any record. Utility figures are those of the augmented set")}


def collect(steps: list[Step], paths: dict, read_json) -> tuple[dict, dict]:
    """(client_eval, synthetic_eval) of metrics.json from the evaluation steps that ran."""
    client: dict = {}
    server: dict = {}
    for step in steps:
        where = _report_path(step)
        if where is None or step.name not in paths:
            continue
        node = client if step.side == "client" else server
        for key in where[:-1]:
            node = node.setdefault(key, {})
        node[where[-1]] = read_json(paths[step.name] / "metrics.json")
    if client:
        client = {"visibility": "client-only", "note": CLIENT_ONLY_NOTE, **client}
    return client, server


__all__ = ["audit_data", "audit_run_note", "client_evaluations", "collect", "pii_steps", "with_evaluations"]
