"""Refuse bad command lines in one line, before Hydra launches anything.

Hydra reports a bad override over several lines with a hint about
HYDRA_FULL_ERROR; for a sweep on SLURM it may only fail inside the jobs. Here
every combination of the sweep is composed and validated up front, and the
first problem is printed as ``error: ...`` with exit status 2.
"""
from __future__ import annotations

import itertools
import os
import sys
from pathlib import Path

CONF_DIR = Path(__file__).resolve().parent.parent / "conf"
SKIP_FLAGS = {"--help", "-h", "--hydra-help", "--info", "-i", "--cfg", "-c", "--shell-completion", "-sc", "--version"}
MAX_COMBINATIONS = 256


def _one_line(exc: BaseException) -> str:
    msg = str(exc)
    cause = exc.__cause__ or exc.__context__
    if cause is not None and str(cause) and str(cause) not in msg:
        msg = f"{msg} {cause}"
    lines = [ln.strip() for ln in msg.splitlines() if ln.strip() and "HYDRA_FULL_ERROR" not in ln]
    return " | ".join(lines)


def expand(overrides: list[str]) -> list[list[str]]:
    """Every job's override list of a (possible) sweep, via Hydra's own parser."""
    from hydra.core.override_parser.overrides_parser import OverridesParser

    parsed = OverridesParser.create().parse_overrides(overrides)
    choices = []
    for o in parsed:
        key = o.get_key_element()
        if o.is_sweep_override():
            vals = [str(v) if not isinstance(v, str) else v for v in o.sweep_string_iterator()]
            choices.append([f"{key}={v}" for v in vals])
        else:
            choices.append([o.input_line])
    combos = [list(c) for c in itertools.islice(itertools.product(*choices), MAX_COMBINATIONS)]
    return combos or [[]]


def check(overrides: list[str]) -> None:
    """Compose and validate; raise with a one-line message on the first problem."""
    from hydra import compose, initialize_config_dir
    from hydra.core.global_hydra import GlobalHydra

    from rewardds.config import register, validate

    register()
    for combo in expand(overrides):
        GlobalHydra.instance().clear()
        with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3"):
            cfg = compose(config_name="config", overrides=[o for o in combo if not o.startswith("hydra")])
            validate(cfg)
    GlobalHydra.instance().clear()


def precheck(argv: list[str]) -> None:
    if any(a.split("=")[0] in SKIP_FLAGS for a in argv) or os.environ.get("REWARDDS_NO_PRECHECK"):
        return
    overrides = [a for a in argv if not a.startswith("-")]
    try:
        check(overrides)
    except Exception as exc:  # noqa: BLE001 - any composition problem is the user's to fix
        print(f"error: {_one_line(exc)}", file=sys.stderr)
        sys.exit(2)
