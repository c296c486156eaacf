"""What every stage receives: config, data, the stage runner, the privacy ledger."""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from omegaconf import DictConfig

from rewardds.records import TaskData
from rewardds.stages.runner import StageRunner


@dataclass
class Context:
    cfg: DictConfig
    data: TaskData
    run_dir: Path
    runner: StageRunner
    ledger: Any  # rewardds.privacy.ledger.PrivacyLedger
    plan: dict  # DP plan per component: noise_multiplier, sample_rate, steps
    tracker: Any  # rewardds.tracking.Tracker
    metrics: dict = field(default_factory=dict)
    paths: dict = field(default_factory=dict)  # stage name -> completed output folder
    digests: dict = field(default_factory=dict)  # "proxy"/"target" -> identity of the base checkpoints

    @property
    def task(self) -> str:
        return self.cfg.task.name

    @property
    def device(self) -> str:
        if self.cfg.trainer.accelerator in ("gpu", "cuda") and torch.cuda.is_available():
            return "cuda"
        return "cpu"

    def lm_cfg(self, which: str):
        return self.cfg.model[which]
