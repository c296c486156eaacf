"""Entry point: ``python run.py task=medical dp.epsilon=4`` (any Hydra override)."""
from __future__ import annotations

import logging
import sys

import hydra
from omegaconf import DictConfig

from rewardds.config import register

register()
log = logging.getLogger("rewardds")


@hydra.main(version_base="1.3", config_path="conf", config_name="config")
def main(cfg: DictConfig) -> float | None:
    from rewardds.errors import RewarddsError
    from rewardds.pipeline import run

    try:
        metrics = run(cfg)
    except RewarddsError as exc:
        log.error("error: %s", exc)
        print(f"error: {exc}", file=sys.stderr)
        if _is_multirun():
            raise  # let the launcher record the failed job; the sweep goes on
        sys.exit(2)
    target = metrics.get("eval", {}).get("target", {})
    return target.get("rougeL", target.get("pass@1"))  # objective for sweepers (Optuna)


def _is_multirun() -> bool:
    from hydra.core.hydra_config import HydraConfig

    try:
        return HydraConfig.get().mode.name == "MULTIRUN"
    except ValueError:
        return False


if __name__ == "__main__":
    from rewardds.cli import precheck

    precheck(sys.argv[1:])
    main()
