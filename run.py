"""Entry point: ``python run.py task=medical dp.epsilon=4`` (any Hydra override).

Exit status: 0 done; 2 a problem with the input, told in one ``error:`` line;
143 / 130 interrupted by SIGTERM / SIGINT, also one line (the next run resumes
from the last completed stage); 1 a bug, with its traceback.
"""
from __future__ import annotations

import logging
import signal
import sys
from pathlib import Path

import hydra
from omegaconf import DictConfig

from rewardds.config import register
from rewardds.errors import Interrupted, RewarddsError

register()
log = logging.getLogger("rewardds")


_INTERRUPTED: list[int] = []  # the signal being handled, once one arrived


def _raise_interrupted(signum, frame) -> None:
    """Raise Interrupted for the first SIGTERM / SIGINT only.

    A second Ctrl-C 10 ms after the first used to raise inside the first one's handling (while the
    stage was being named and error.txt written), and the run ended "before the run started" with
    no error.txt. Later signals are ignored while the first one unwinds; SIGKILL still ends a run
    that does not stop."""
    if _INTERRUPTED:
        return
    _INTERRUPTED.append(signum)
    raise Interrupted(signum)


class LineTracker:
    """A text stream (stdout, stderr) that remembers whether what was written last ended a line.

    Progress bars (tqdm, Lightning's) end in "\r" or in a partial line; an ``error:`` line printed
    after one was glued to it, and ``grep '^error:'`` on a job's log missed it. :func:`print_error`
    starts a fresh line where the last write did not end one."""

    def __init__(self, stream):
        self._stream = stream
        self.at_line_start = True

    def write(self, text):
        if text:
            self.at_line_start = text.endswith("\n")
        return self._stream.write(text)

    def __getattr__(self, name):  # isatty, fileno, flush, encoding, ...: the stream's own
        return getattr(self._stream, name)


def track_line_ends() -> None:
    """Route sys.stdout and sys.stderr through LineTracker (before Hydra's logging takes them)."""
    for name in ("stdout", "stderr"):
        stream = getattr(sys, name)
        if stream is not None and not isinstance(stream, LineTracker):
            setattr(sys, name, LineTracker(stream))


def print_error(line: str) -> None:
    """``error: <line>`` on stderr, at the start of a line of both streams (they often share a log)."""
    for stream in (sys.stdout, sys.stderr):
        if stream is not None and not getattr(stream, "at_line_start", True):
            stream.write("\n")
        if stream is not None:
            stream.flush()
    print(f"error: {line}", file=sys.stderr, flush=True)


def install_signal_handlers() -> None:
    """SIGTERM (SLURM preemption, ``timeout``, ``kill``) and SIGINT (Ctrl-C) raise Interrupted.

    Installed before Hydra and Lightning start: Lightning's fit chains the
    SIGTERM handler it finds (after its own notifier), so the run ends at once
    with status 143 instead of Lightning's bare SystemExit (status 0, "success"
    to SLURM); Ctrl-C no longer becomes Lightning's silent exit 1 or, while
    sampling, a KeyboardInterrupt traceback.
    """
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, _raise_interrupted)


def interruption_line(exc: Interrupted, cfg: DictConfig) -> str:
    """What was interrupted (StageRunner names the stage it was computing) and what a rerun does."""
    stage = getattr(exc, "rewardds_stage", None)
    where = f"during stage '{stage}'" if stage else "between stages"
    if cfg.cache.enabled:
        then = "the next run with the same config resumes from the last completed stage"
    else:
        then = "the stage cache is off (cache.enabled=false), so a new run starts over"
    return f"{exc} {where}; {then}"


def _from_lightning_sigterm(exc: SystemExit) -> Interrupted | None:
    """Lightning's SIGTERMException (a bare SystemExit: status 0) as Interrupted, else None.

    Seen where run.py's handlers are not installed, e.g. in a submitit job, which
    calls main() itself and only logs SIGTERM; Lightning then stops the fit
    "successfully" and SLURM would record a preempted job as done.
    """
    from pytorch_lightning.utilities.exceptions import SIGTERMException

    if not isinstance(exc, SIGTERMException):
        return None
    interrupted = Interrupted(signal.SIGTERM)
    interrupted.rewardds_stage = getattr(exc, "rewardds_stage", None)
    return interrupted


def _record_interruption(exc: Interrupted, cfg: DictConfig) -> None:
    exc.rewardds_line = interruption_line(exc, cfg)
    _record_failure(cfg, exc.rewardds_line)
    log.error("error: %s", exc.rewardds_line)


def _record_failure(cfg: DictConfig, line: str) -> None:
    """error.txt in the run folder: the one line the sweep report shows for this job."""
    from rewardds.io import write_text

    write_text(Path(cfg.run_dir) / "error.txt", line + "\n")


@hydra.main(version_base="1.3", config_path="conf", config_name="config")
def main(cfg: DictConfig) -> float | None:
    from rewardds.cli import probe_dir, refuse_unknown_keys
    from rewardds.pipeline import run

    try:
        refuse_unknown_keys(cfg)  # again: SLURM jobs and REWARDDS_NO_PRECHECK=1 skip the precheck
        if cfg.cache.enabled:
            probe_dir(cfg.cache.dir, "cache.dir")
        metrics = run(cfg)
    except Interrupted as exc:
        _record_interruption(exc, cfg)
        raise  # ends a sweep too: the __main__ block prints the line and exits 128 + signal
    except SystemExit as exc:
        interrupted = _from_lightning_sigterm(exc)
        if interrupted is None:
            raise
        _record_interruption(interrupted, cfg)
        raise interrupted from None
    except Exception as exc:
        # One line for the sweep report; the traceback goes to the job's log (Hydra keeps none).
        line = f"{type(exc).__name__}: {exc}".splitlines()[0] if not isinstance(exc, RewarddsError) else str(exc)
        _record_failure(cfg, line)
        if isinstance(exc, RewarddsError):
            log.error("error: %s", exc)
            if not _is_multirun():
                print_error(str(exc))
                sys.exit(2)
        else:
            log.exception("run failed")
        raise  # in a sweep the launcher records the failed job and the sweep goes on
    target = metrics.get("eval", {}).get("target", {})
    return objective(cfg.task.name, target)


def objective(task: str, target: dict) -> float | None:
    """What sweepers (Optuna) maximise: pass@1 for code, ROUGE-L for the QA tasks."""
    return target.get("pass@1") if task == "code" else target.get("rougeL")


def _is_multirun() -> bool:
    from hydra.core.hydra_config import HydraConfig

    try:
        return HydraConfig.get().mode.name == "MULTIRUN"
    except ValueError:
        return False


if __name__ == "__main__":
    track_line_ends()
    install_signal_handlers()
    try:
        from rewardds.cli import precheck

        precheck(sys.argv[1:])
        main()
    except Interrupted as exc:
        print_error(getattr(exc, "rewardds_line", f"{exc} before the run started"))
        sys.exit(exc.exit_status)
