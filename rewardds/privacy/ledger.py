"""The privacy ledger of a release: what each DP stage planned and spent.

The ledger guards the budget before a stage trains (:meth:`PrivacyLedger.check`),
records what actually ran (:meth:`PrivacyLedger.spend`) and writes
``privacy.json``. The epsilon of the release is the COMPOSITION of every
recorded DP-SGD run with the chosen accountant (the runs all use the same
private records); the sum of the per-run epsilons is shown beside it as a loose
bound only.

A ledger whose DP is disabled, or that carries a ``guarantee_note`` (e.g.
``privacy.mode=paper``: a component has no DP guarantee), reports no formal
guarantee: total epsilon ``inf`` (the string ``"inf"`` in JSON) and the notes
say why. A run recorded with noise multiplier 0 also has infinite epsilon.

Honesty rule: :meth:`spend` records a run even when it breaks the plan or the
budget (it ran; omitting it would understate the privacy loss), adds a note,
and then raises :class:`PrivacyError`.

Neighbouring relation: **zero-out** (:data:`NEIGHBOURING`). Two data sets are neighbours when
one private record of one is replaced, in the other, by a null record that contributes nothing
(no rows, a zero gradient, no vote). N, the number of records, is the same for both: it is
public, and privacy.json and the release state it (the sample rate B/N and the steps depend on
it). For a Poisson-subsampled Gaussian this is exactly the pair of output distributions the
add/remove-one accountants (opacus PRV, RDP) analyse, so their epsilon is the zero-out epsilon;
under add/remove-one itself, a release that states N (or a sample rate computed from it) would
not be DP at all. Replacing one record by another (replace-one) is two zero-out steps, so the
same release is (2 epsilon, (1 + e^epsilon) delta)-DP for it (group privacy; ``total.replace_one``).
"""
from __future__ import annotations

import math
import numbers
from typing import Any

from rewardds.errors import PrivacyError
from rewardds.io import json_safe, read_json, write_json
from rewardds.privacy.accounting import ACCOUNTANTS, Mechanism, epsilon

_CORE = ("noise_multiplier", "sample_rate", "steps", "epsilon", "delta")
_FORMAT = 1

NEIGHBOURING = "zero-out"
NEIGHBOURING_TEXT = ("zero-out: one private record replaced by a null record that contributes nothing; the number of "
                     "records N is the same for both data sets, public, and stated here (the sample rate and the steps "
                     "are computed from it); replacing one record by another (replace-one) is covered by replace_one")


def replace_one(epsilon_: float, delta: float) -> tuple[float, float]:
    """(epsilon, delta) for replace-one neighbours of a zero-out (epsilon, delta) guarantee: x -> null -> x'
    is two zero-out steps (group privacy: e^eps (e^eps P + delta) + delta)."""
    if not math.isfinite(epsilon_):
        return float("inf"), float(delta)
    return 2.0 * epsilon_, min(1.0, (1.0 + math.exp(epsilon_)) * delta)


def _float(value: Any) -> float:
    return float(value)  # float("inf") parses the serialised "inf"


BUDGET_SCOPES = ("release", "per_model")
PER_MODEL_TEXT = ("privacy.budget=per_model (privacy.mode=paper): dp.epsilon bounds each DP component on its own, "
                  "as RewardDS and KnowledgeSG report epsilon per model; the release as a whole is only "
                  "(total.epsilon, total.delta)-DP, the components composed: that is the guarantee, the "
                  "per-model figures (paper_style) are for comparison with the papers' tables")


class PrivacyLedger:
    def __init__(self, epsilon_budget: float, delta: float, accountant: str = "prv", enabled: bool = True,
                 guarantee_note: str | None = None, private_data: dict | None = None, budget_scope: str = "release"):
        try:
            epsilon_budget = float(epsilon_budget)
        except (TypeError, ValueError):
            raise PrivacyError(f"dp.epsilon must be a number, got {epsilon_budget!r}") from None
        if enabled and not (epsilon_budget > 0):
            raise PrivacyError(f"dp.epsilon must be > 0, got {epsilon_budget!r}")
        if not isinstance(delta, numbers.Real) or not (0 < delta < 1):
            raise PrivacyError(f"dp.delta must be in (0, 1), got {delta!r}")
        if accountant not in ACCOUNTANTS:
            raise PrivacyError(f"dp.accountant must be one of {ACCOUNTANTS}, got {accountant!r}")
        if budget_scope not in BUDGET_SCOPES:
            raise PrivacyError(f"privacy.budget must be one of {BUDGET_SCOPES}, got {budget_scope!r}")
        self.budget_scope = budget_scope  # release: dp.epsilon bounds the composition; per_model: each component
        self.epsilon_budget = epsilon_budget
        self.delta = float(delta)
        self.accountant = accountant
        self.enabled = bool(enabled)
        self.guarantee_note = guarantee_note or None
        self.private_data = dict(private_data) if private_data else None  # which records the guarantee covers
        self._planned: dict[str, Mechanism] = {}
        self._spent: dict[str, Mechanism] = {}
        self._extra: dict[str, dict] = {}
        self._violations: list[str] = []

    # --- budget -------------------------------------------------------------

    def _limit(self) -> float:
        """Never above the budget: calibration may only land below it (accounting.calibrate)."""
        return self.epsilon_budget

    def _eps(self, mechs) -> float:
        return epsilon(list(mechs), self.delta, self.accountant)

    def _budget_text(self) -> str:
        what = "each DP stage on its own (privacy.budget=per_model)" if self.per_model else "all DP stages composed"
        return (f"the budget dp.epsilon={self.epsilon_budget:g} (delta={self.delta:.3g}, "
                f"{self.accountant} accountant, {what})")

    @property
    def per_model(self) -> bool:
        return self.budget_scope == "per_model"

    def _over(self, mechs) -> tuple[float, bool]:
        """(the epsilon the budget is checked on, whether it is over the budget): the composition of
        ``mechs``, or with a per-model budget the largest single component's."""
        mechs = list(mechs)
        if self.per_model:
            worst = max((self._eps([m]) for m in mechs), default=0.0)
            return worst, worst > self._limit()
        eps = self._eps(mechs)
        return eps, eps > self._limit()

    def plan(self, name: str, noise_multiplier: float, sample_rate: float, steps: int) -> None:
        """Register what stage ``name`` intends to run (replaces an earlier plan)."""
        self._planned[name] = Mechanism(name, float(noise_multiplier), float(sample_rate), int(steps))

    def check(self, name: str) -> None:
        """Refuse stage ``name`` if what was spent plus its plan would exceed the budget."""
        if not self.enabled:
            return
        if name not in self._planned:
            raise PrivacyError(f"stage '{name}' has no privacy plan: call plan('{name}', ...) before check")
        planned = self._planned[name]
        others = [m for n, m in self._spent.items() if n != name]
        would, over = self._over([planned] if self.per_model else others + [planned])
        if over:
            spent = (f" composed with the already spent {sorted(n for n, m in self._spent.items() if n != name)}"
                     if others else "")
            raise PrivacyError(
                f"stage '{name}' refused: its plan (noise multiplier {planned.noise_multiplier:.4g}, sample rate "
                f"{planned.sample_rate:.4g}, {planned.steps} steps){spent} would bring the release to epsilon "
                f"{would:.4g}, over {self._budget_text()}; raise dp.epsilon, or raise dp.noise_multiplier "
                "(or unset it to calibrate the noise to the budget), or train fewer steps")

    def check_plan(self) -> None:
        """Refuse a plan whose stages together (plus anything spent) exceed the budget."""
        if not self.enabled:
            return
        mechs = dict(self._spent)
        for n, m in self._planned.items():
            mechs.setdefault(n, m)
        would, over = self._over(mechs.values())
        if over:
            raise PrivacyError(
                f"privacy plan {sorted(mechs)} refused: epsilon {would:.4g} is over {self._budget_text()}; "
                "raise dp.epsilon, or raise dp.noise_multiplier (or unset it to calibrate the noise to the budget)")

    def spend(self, name: str, noise_multiplier: float, sample_rate: float, steps: int,
              extra: dict | None = None) -> None:
        """Record what stage ``name`` actually ran (its total steps; a second call
        for the same name replaces the first, i.e. the earlier output was discarded).

        The run is recorded even when it breaks the plan or the budget; then a
        note is added and PrivacyError raised.
        """
        mech = Mechanism(name, float(noise_multiplier), float(sample_rate), int(steps))
        self._spent[name] = mech
        self._extra[name] = dict(extra or {})
        if not self.enabled:
            return
        problems = []
        planned = self._planned.get(name)
        if planned is not None and mech.steps > planned.steps:
            problems.append(f"stage '{name}' ran {mech.steps} steps, more than the {planned.steps} planned")
        total, over = self._over([mech] if self.per_model else self._spent.values())
        if over:
            problems.append(f"after stage '{name}' the epsilon is {total:.4g}, over {self._budget_text()}")
        if problems:
            msg = "; ".join(problems)
            self._violations.append(msg)
            raise PrivacyError(msg + "; the run is recorded in the ledger. Raise dp.epsilon or dp.noise_multiplier, "
                               "or train fewer steps")

    # --- reports ------------------------------------------------------------

    def components(self) -> dict:
        out = {}
        for name, m in self._spent.items():
            row = {k: v for k, v in self._extra.get(name, {}).items() if k not in _CORE}
            row.update(noise_multiplier=m.noise_multiplier, sample_rate=m.sample_rate, steps=m.steps,
                       epsilon=self._eps([m]), delta=self.delta)
            out[name] = row
        return out

    def formal_guarantee(self) -> bool:
        return self.enabled and self.guarantee_note is None and math.isfinite(self._eps(self._spent.values()))

    def total(self) -> dict:
        mechs = list(self._spent.values())
        composed = self._eps(mechs)
        basic = sum(self._eps([m]) for m in mechs)
        formal = self.formal_guarantee()
        rep_eps, rep_delta = replace_one(composed if formal else float("inf"), self.delta)
        return {
            "epsilon": composed if formal else float("inf"),
            "delta": self.delta,
            "neighbouring": NEIGHBOURING,
            "replace_one": {"epsilon": rep_eps, "delta": rep_delta},
            # basic composition adds the deltas too: the summed epsilon holds at delta * components
            "epsilon_basic_composition": basic if formal else float("inf"),
            "delta_basic_composition": self.delta * max(1, len(mechs)),
            "accountant": self.accountant,
            # what the recorded DP-SGD runs alone would give (a guarantee only when formal_guarantee)
            "epsilon_dp_runs": composed,
            # the composed epsilon against dp.epsilon, also with a per-model budget (then usually false)
            "within_budget": bool(formal and composed <= self._limit()),
        }

    def paper_style(self) -> dict | None:
        """With a per-model budget: each component's own epsilon, as the papers report it, BESIDE the
        composed total (never instead of it; ``total`` is the release's guarantee)."""
        if not self.per_model:
            return None
        per = {n: self._eps([m]) for n, m in self._spent.items()}
        return {"semantics": "per model: each DP component's own epsilon, as RewardDS and KnowledgeSG report it",
                "budget_per_model": self.epsilon_budget, "epsilon_per_model": per, "delta": self.delta,
                "within_per_model_budget": bool(self.enabled and all(e <= self._limit() for e in per.values())),
                "composed_epsilon": self._eps(self._spent.values()), "note": PER_MODEL_TEXT}

    def notes(self) -> list[str]:
        notes = []
        if self.per_model:
            notes.append(PER_MODEL_TEXT)
        if not self.enabled:
            notes.append("DP is disabled (dp.enabled=false): the proxies carry no privacy guarantee; epsilon is inf")
        if self.guarantee_note:
            notes.append(f"no formal guarantee: {self.guarantee_note}")
        for name, m in self._spent.items():
            if m.steps > 0 and m.noise_multiplier == 0:
                notes.append(f"component '{name}' ran without noise (noise multiplier 0): infinite epsilon")
        if self.enabled and self._spent:
            n = sum(1 for m in self._spent.values() if m.steps > 0)
            runs = self._runs_text()
            if self.formal_guarantee():
                notes.append(
                    f"epsilon composes all {n} {runs} (they use the same private records) with the "
                    f"{self.accountant} accountant at delta={self.delta:.3g}; epsilon_basic_composition (the sum "
                    "of the per-component epsilons) is a valid but looser bound, at delta_basic_composition "
                    "(the sum of the per-component deltas)")
                notes.append(
                    "neighbouring data sets: " + NEIGHBOURING_TEXT + " (2 epsilon, (1 + e^epsilon) delta: two "
                    "zero-out steps); under add/remove-one, whose neighbours differ in N, stating N would not be DP")
            else:
                notes.append(
                    f"epsilon_dp_runs composes the {n} {runs} with the {self.accountant} accountant at "
                    f"delta={self.delta:.3g}; it is NOT a guarantee of this release (see above)")
            notes.append("everything sampled from the DP models or built from the noisy releases afterwards is "
                         "post-processing and costs no budget")
        notes.extend(f"VIOLATION: {v}" for v in self._violations)
        return notes

    def _runs_text(self) -> str:
        """What the recorded mechanisms are: DP-SGD runs, and Gaussian mechanisms without subsampling
        (``mechanism: gaussian`` in a component record, e.g. Private Evolution's noisy histograms)."""
        gaussian = [n for n in self._spent if self._extra.get(n, {}).get("mechanism") == "gaussian"]
        if not gaussian:
            return "DP-SGD runs"
        return ("DP mechanisms (" + ", ".join(f"'{n}': Gaussian mechanism without subsampling, "
                                              f"{self._spent[n].steps} releases" for n in gaussian)
                + (", the others DP-SGD runs" if len(gaussian) < len(self._spent) else "") + ")")

    def to_dict(self) -> dict:
        budget = {
            "epsilon": self.epsilon_budget,
            "delta": self.delta,
            "accountant": self.accountant,
            "enabled": self.enabled,
            "scope": self.budget_scope,
            "planned": {n: {"noise_multiplier": m.noise_multiplier, "sample_rate": m.sample_rate, "steps": m.steps}
                        for n, m in self._planned.items()},
        }
        return json_safe({
            "format": _FORMAT,
            "budget": budget,
            "components": self.components(),
            "total": self.total(),
            **({"paper_style": self.paper_style()} if self.per_model else {}),
            "formal_guarantee": self.formal_guarantee(),
            "neighbouring": NEIGHBOURING_TEXT,
            "guarantee_note": self.guarantee_note,
            "private_data": self.private_data,
            "violations": list(self._violations),
            "notes": self.notes(),
        })

    def save(self, path) -> None:
        write_json(path, self.to_dict())

    @classmethod
    def load(cls, path) -> "PrivacyLedger":
        try:
            data = read_json(path)
            budget = data["budget"]
            ledger = cls(_float(budget["epsilon"]), _float(budget["delta"]), budget.get("accountant", "prv"),
                         enabled=bool(budget.get("enabled", True)), guarantee_note=data.get("guarantee_note"),
                         private_data=data.get("private_data"), budget_scope=budget.get("scope", "release"))
            for name, p in budget.get("planned", {}).items():
                ledger.plan(name, _float(p["noise_multiplier"]), _float(p["sample_rate"]), int(p["steps"]))
            for name, c in data.get("components", {}).items():
                ledger._spent[name] = Mechanism(name, _float(c["noise_multiplier"]), _float(c["sample_rate"]),
                                                int(c["steps"]))
                ledger._extra[name] = {k: v for k, v in c.items() if k not in _CORE}
            ledger._violations = list(data.get("violations", []))
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise PrivacyError(f"{path}: not a readable privacy ledger ({type(exc).__name__}: {exc})") from None
        return ledger

    def __repr__(self) -> str:
        return (f"PrivacyLedger(budget={self.epsilon_budget:g}, delta={self.delta:.3g}, accountant={self.accountant!r}, "
                f"enabled={self.enabled}, planned={sorted(self._planned)}, spent={sorted(self._spent)})")
