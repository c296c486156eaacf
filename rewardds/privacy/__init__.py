"""Privacy accounting, budget planning and the privacy ledger (privacy.json)."""
from rewardds.privacy.accounting import (
    ComponentPlan,
    Mechanism,
    calibrate,
    epsilon,
    plan_budget,
    poisson_steps,
)
from rewardds.privacy.ledger import PrivacyLedger

__all__ = ["ComponentPlan", "Mechanism", "PrivacyLedger", "calibrate", "epsilon", "plan_budget", "poisson_steps"]
