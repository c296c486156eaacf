"""Entry point: ``python run.py task=medical dp.epsilon=4`` (any Hydra override)."""
from __future__ import annotations

import logging
import sys
from pathlib import Path

import hydra
from omegaconf import DictConfig

from rewardds.config import register

register()
log = logging.getLogger("rewardds")


@hydra.main(version_base="1.3", config_path="conf", config_name="config")
def main(cfg: DictConfig) -> float | None:
    from rewardds.errors import RewarddsError
    from rewardds.io import write_text
    from rewardds.pipeline import run

    try:
        metrics = run(cfg)
    except Exception as exc:
        # One line for the sweep report; the traceback goes to the job's log (Hydra keeps none).
        line = f"{type(exc).__name__}: {exc}".splitlines()[0] if not isinstance(exc, RewarddsError) else str(exc)
        write_text(Path(cfg.run_dir) / "error.txt", line + "\n")
        if isinstance(exc, RewarddsError):
            log.error("error: %s", exc)
            if not _is_multirun():
                print(f"error: {exc}", file=sys.stderr)
                sys.exit(2)
        else:
            log.exception("run failed")
        raise  # in a sweep the launcher records the failed job and the sweep goes on
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
