"""Experiment tracking: Lightning loggers per training stage, one W&B run per job.

Only metrics, configs and synthetic samples are ever logged; private records
never reach a logger. DP stages log only steps, noise multiplier and epsilon
spent (training.base); the console is not captured (``console="off"``), so log
lines never reach W&B either.

W&B (``logger=wandb``) is written when the job ends, not while it runs. wandb stamps
every logged row with the wall-clock time and the seconds since the W&B run started
(``_timestamp``, ``_runtime``; wandb 0.31 always sets ``_runtime`` itself) and samples
system statistics while the run is open. A run opened at the start would carry when
each client stage ended and how long its private work took (judge_dpo's rows grow with
the number of private requests). So every row (each stage's curve, the DP stages'
privacy curves), the summary and the sample table are kept in memory and replayed into
one W&B run in :meth:`Tracker.finish`: its rows share one ``_timestamp`` (the moment it
is opened) and their ``_runtime`` counts the seconds of the replay only; system
statistics and the machine metadata (command line, program, paths) are off. The config
sent holds no local path (:func:`public_config`). What remains is when the W&B run was
created: when the job finished.
"""
from __future__ import annotations

import logging
import os
import time
from pathlib import Path

from omegaconf import DictConfig, OmegaConf
from pytorch_lightning.loggers.logger import Logger

from rewardds.wandb_offline import WandbFileError, read_offline_run

log = logging.getLogger(__name__)

LOCAL_PATH = "<local path, not logged>"
DIR_KEYS = ("dir", "public_dir", "run_dir")  # config keys whose value is a folder of this machine


def sweep_group(run_dir: Path) -> str | None:
    """Hydra multirun jobs live in SWEEP_DIR/<job number>: the sweep folder names the group. A single
    run has none (its folder's name is the time the job started)."""
    return run_dir.parent.name if run_dir.name.isdigit() else None


def _is_local_path(key: str, value) -> bool:
    """A value that names a file or folder of this machine: every value of a folder key, an absolute or
    home-relative path anywhere, and a model or dataset path (``path``, ``hf_name``) that exists here
    (``tiny``, the embedded model, and hub names stay)."""
    if not isinstance(value, str) or not value:
        return False
    if key in DIR_KEYS or value.startswith(("/", "~")):
        return True
    return key in ("path", "hf_name") and value != "tiny" and (value.startswith(".") or Path(value).exists())


def public_config(cfg: DictConfig) -> dict:
    """The resolved config without local paths (data folders, the cache, the run folder, local checkpoint
    folders): what W&B may hold. A path can name the client, a patient list, a user."""

    def clean(node, key=""):
        if isinstance(node, dict):
            return {k: clean(v, k) for k, v in node.items()}
        if isinstance(node, list):
            return [clean(v, key) for v in node]
        return LOCAL_PATH if _is_local_path(key, node) else node

    return clean(OmegaConf.to_container(cfg, resolve=True))


class BufferedLogger(Logger):
    """A Lightning logger that keeps a stage's rows for the W&B run written at the end, named as
    WandbLogger names them (``<stage>-<metric>``, ``trainer/global_step``)."""

    def __init__(self, rows: list, prefix: str):
        super().__init__()
        self._rows, self._prefix = rows, prefix

    @property
    def name(self):
        return self._prefix

    @property
    def version(self):
        return ""

    def log_hyperparams(self, params, *args, **kwargs):  # the run's config is logged once, cleaned
        pass

    def log_metrics(self, metrics, step=None):
        row = {f"{self._prefix}-{k}": v for k, v in metrics.items()}
        if step is not None:
            row["trainer/global_step"] = step
        self._rows.append(row)


class Tracker:
    def __init__(self, cfg: DictConfig, run_dir: Path):
        self.cfg = cfg
        self.run_dir = Path(run_dir)
        self.backend = cfg.logger.backend
        self.wandb_run = None
        self._rows: list[dict] = []  # W&B: everything waits for finish()
        self._summary: dict = {}
        self._samples: list[dict] = []
        self._finished = False

    def lightning_logger(self, stage: str):
        if self.backend == "csv":
            from pytorch_lightning.loggers import CSVLogger

            return CSVLogger(str(self.run_dir / "logs"), name=stage.replace("@", "_r"), version="")
        if self.backend == "tensorboard":
            from pytorch_lightning.loggers import TensorBoardLogger

            return TensorBoardLogger(str(self.run_dir / "logs"), name=stage.replace("@", "_r"), version="")
        return BufferedLogger(self._rows, stage.replace("@", "_r"))

    def log_metrics(self, metrics: dict, prefix: str = "") -> None:
        if self.backend == "wandb":
            self._rows.append({f"{prefix}{k}": v for k, v in _flatten(metrics).items() if _is_number(v)})

    def summary(self, values: dict) -> None:
        if self.backend == "wandb":
            self._summary.update({k: v for k, v in _flatten(values).items() if _is_number(v) or isinstance(v, str)})

    def log_samples(self, rows: list[dict]) -> None:
        """A table of synthetic (question, chosen answer, reward) rows; never private text."""
        if self.backend == "wandb":
            self._samples = list(rows[: self.cfg.logger.log_samples])

    def finish(self) -> None:
        """W&B: open the run, replay what was kept, close it (see the module docstring)."""
        if self.backend != "wandb" or self._finished:
            return
        self._finished = True
        import wandb

        cfg = self.cfg
        os.environ.setdefault("WANDB_MODE", cfg.logger.mode)
        os.environ.setdefault("WANDB_SILENT", "true")
        job = self.run_dir.name if self.run_dir.name.isdigit() else None
        self.wandb_run = run = wandb.init(
            project=cfg.logger.project, entity=cfg.logger.entity,
            group=cfg.logger.group or sweep_group(self.run_dir) or f"{cfg.task.name}-runs",
            job_type=cfg.stop_after or "pipeline",
            name=f"{cfg.task.name}-eps{cfg.dp.epsilon:g}" + (f"-{job}" if job else ""),
            dir=str(self.run_dir), mode=cfg.logger.mode, reinit="finish_previous", config=public_config(cfg),
            settings=wandb.Settings(console="off", save_code=False, x_disable_stats=True, x_disable_meta=True),
        )
        opened = time.time()
        try:
            for row in self._rows:
                run.log({**row, "_timestamp": opened})
            if self._samples:
                cols = ["question", "chosen", "reward", "round"]
                run.log({"synthetic_samples": wandb.Table(columns=cols, data=[[r.get(c) for c in cols]
                                                                               for r in self._samples]),
                         "_timestamp": opened})
            for k, v in self._summary.items():
                run.summary[k] = v
        finally:
            sync_file = getattr(run.settings, "sync_file", None)
            run.finish()
            self.wandb_run = None
            if cfg.logger.mode == "offline" and sync_file:
                _wait_written(Path(sync_file))


def _wait_written(path: Path, timeout: float = 120.0) -> None:
    """Offline W&B: ``finish()`` returns before wandb's writer process has flushed the run file (under
    load the whole file, config included, can still be missing). Wait until its exit record is there."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if path.exists() and read_offline_run(path)["exit_code"] is not None:
                return
        except WandbFileError:
            pass
        time.sleep(0.2)
    log.warning("W&B: %s was not completely written after %.0f s", path.name, timeout)


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
