"""Non-Private and DP-SGD only (method.md section 2): no synthetic data at all.

The target is fine-tuned on the private records themselves: without DP
(``non_private``: the utility ceiling, no guarantee) or with DP-SGD at the whole
budget (``dp_sgd``: the target's own DP run is the release). Both are client
steps: the trained target is what leaves the client.
"""
from __future__ import annotations

from rewardds.recipes.common import base_models, evaluation, private_finetune
from rewardds.recipes.step import Recipe


def build(cfg, method) -> Recipe:
    batch = method.batch_size or cfg.target.batch_size
    train = {"epochs": method.epochs if method.epochs is not None else cfg.target.epochs_first, "batch_size": batch,
             "physical_batch_size": method.physical_batch_size or batch, "loss_on": "answer"}
    dp = "target" if method.name == "dp_sgd" else None
    target = private_finetune(cfg, "target", "target", train, dp, seed_offset=31)
    steps = [base_models(), target]
    steps += evaluation(cfg, {"base": ("target", None), "target": ("target", "target")})
    return Recipe(method.name, steps)
