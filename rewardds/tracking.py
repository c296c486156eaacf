"""Experiment tracking: Lightning loggers per training stage, one W&B run per job.

Only metrics, configs and synthetic samples are ever logged; private records
never reach a logger. DP stages log only steps, noise multiplier and epsilon
spent (training.base); the console is not captured (``console="off"``), so log
lines never reach W&B either.
"""
from __future__ import annotations

import logging
import os
from pathlib import Path

from omegaconf import DictConfig, OmegaConf

log = logging.getLogger(__name__)


def sweep_group(run_dir: Path) -> str:
    """Hydra multirun jobs live in SWEEP_DIR/<job number>: the sweep folder names the group."""
    return run_dir.parent.name if run_dir.name.isdigit() else run_dir.name


class Tracker:
    def __init__(self, cfg: DictConfig, run_dir: Path):
        self.cfg = cfg
        self.run_dir = Path(run_dir)
        self.backend = cfg.logger.backend
        self.wandb_run = None
        if self.backend == "wandb":
            import wandb

            os.environ.setdefault("WANDB_MODE", cfg.logger.mode)
            os.environ.setdefault("WANDB_SILENT", "true")
            job_type = cfg.stop_after or "pipeline"
            self.wandb_run = wandb.init(
                project=cfg.logger.project, entity=cfg.logger.entity, group=cfg.logger.group or sweep_group(self.run_dir),
                job_type=job_type, name=f"{cfg.task.name}-eps{cfg.dp.epsilon:g}-{self.run_dir.name}",
                dir=str(self.run_dir), mode=cfg.logger.mode, reinit="finish_previous",
                config=OmegaConf.to_container(cfg, resolve=True),
                settings=wandb.Settings(console="off", save_code=False),
            )

    def lightning_logger(self, stage: str):
        if self.backend == "csv":
            from pytorch_lightning.loggers import CSVLogger

            return CSVLogger(str(self.run_dir / "logs"), name=stage.replace("@", "_r"), version="")
        if self.backend == "tensorboard":
            from pytorch_lightning.loggers import TensorBoardLogger

            return TensorBoardLogger(str(self.run_dir / "logs"), name=stage.replace("@", "_r"), version="")
        from pytorch_lightning.loggers import WandbLogger

        return WandbLogger(experiment=self.wandb_run, prefix=stage.replace("@", "_r"))

    def log_metrics(self, metrics: dict, prefix: str = "") -> None:
        if self.wandb_run is not None:
            self.wandb_run.log({f"{prefix}{k}": v for k, v in _flatten(metrics).items() if _is_number(v)})

    def summary(self, values: dict) -> None:
        if self.wandb_run is not None:
            for k, v in _flatten(values).items():
                if _is_number(v) or isinstance(v, str):
                    self.wandb_run.summary[k] = v

    def log_samples(self, rows: list[dict]) -> None:
        """A table of synthetic (question, chosen answer, reward) rows; never private text."""
        if self.wandb_run is None or not rows:
            return
        import wandb

        cols = ["question", "chosen", "reward", "round"]
        table = wandb.Table(columns=cols, data=[[r.get(c) for c in cols] for r in rows[: self.cfg.logger.log_samples]])
        self.wandb_run.log({"synthetic_samples": table})

    def finish(self) -> None:
        if self.wandb_run is not None:
            self.wandb_run.finish()
            self.wandb_run = None


def _is_number(v) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def _flatten(d: dict, prefix: str = "") -> dict:
    out = {}
    for k, v in d.items():
        key = f"{prefix}{k}"
        if isinstance(v, dict):
            out.update(_flatten(v, key + "/"))
        else:
            out[key] = v
    return out
