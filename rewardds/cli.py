"""Refuse bad command lines in one line, before Hydra launches anything.

Hydra reports a bad override over several lines with a hint about
HYDRA_FULL_ERROR; for a sweep on SLURM it may only fail inside the jobs. Here
every combination of the sweep is composed and validated up front (including
keys outside the schema that ``+key=`` / ``++key=`` would add silently), the
run or sweep folder is probed for writing, and the first problem is printed as
``error: ...`` with exit status 2.
"""
from __future__ import annotations

import dataclasses
import difflib
import itertools
import os
import sys
import tempfile
import typing
from pathlib import Path
from typing import Iterator

from hydra import compose, initialize_config_dir
from hydra.core.global_hydra import GlobalHydra
from hydra.core.override_parser.overrides_parser import OverridesParser
from omegaconf import OmegaConf

from rewardds.config import RunConfig, register, validate
from rewardds.errors import ConfigError

CONF_DIR = Path(__file__).resolve().parent.parent / "conf"
SKIP_FLAGS = {"--help", "-h", "--hydra-help", "--info", "-i", "--cfg", "-c", "--shell-completion", "-sc", "--version"}
MAX_COMBINATIONS = 256


def _one_line(exc: BaseException) -> str:
    msg = str(exc)
    cause = exc.__cause__ or (None if exc.__suppress_context__ else exc.__context__)  # `from None`: no cause
    if cause is not None and str(cause) and str(cause) not in msg:
        msg = f"{msg} {cause}"
    lines = [ln.strip() for ln in msg.splitlines() if ln.strip() and "HYDRA_FULL_ERROR" not in ln]
    return " | ".join(lines)


def expand(overrides: list[str]) -> list[list[str]]:
    """Every job's override list of a (possible) sweep, via Hydra's own parser."""
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


def _field_types(schema) -> dict[str, object]:
    """Field name -> its dataclass type, or None for a leaf or a free-form map (any key allowed)."""
    out = {}
    for name, hint in typing.get_type_hints(schema).items():
        args = [a for a in typing.get_args(hint) if a is not type(None)]
        inner = args[0] if typing.get_origin(hint) is typing.Union and len(args) == 1 else hint
        out[name] = inner if dataclasses.is_dataclass(inner) else None
    return out


def schema_keys(schema=None, prefix: str = "") -> Iterator[str]:
    """Every dotted key the schema defines (for did-you-mean suggestions)."""
    for name, sub in _field_types(schema or RunConfig).items():
        yield prefix + name
        if sub is not None:
            yield from schema_keys(sub, prefix + name + ".")


def unknown_keys(tree: dict, schema=None, prefix: str = "") -> Iterator[str]:
    """Dotted keys of a composed config that the schema does not define.

    Hydra's ``+key=`` / ``++key=`` open the struct flag, so a typo'd key is added
    beside the real one and the run silently uses the default; this walk finds it.
    """
    fields = _field_types(schema or RunConfig)
    for name, value in tree.items():
        if name not in fields:
            yield prefix + str(name)
        elif fields[name] is not None and isinstance(value, dict):
            yield from unknown_keys(value, fields[name], prefix + name + ".")


def refuse_unknown_keys(cfg) -> None:
    """Raise ConfigError naming the first key outside the schema, with the closest real key."""
    for key in unknown_keys(OmegaConf.to_container(cfg, resolve=False)):
        close = difflib.get_close_matches(key, list(schema_keys()), n=1)
        hint = f"; did you mean {close[0]}?" if close else ""
        raise ConfigError(key, f"not in the schema (rewardds/config.py){hint}")


def _default_groups() -> set[str]:
    """Config groups named in conf/config.yaml's defaults list."""
    defaults = OmegaConf.to_container(OmegaConf.load(CONF_DIR / "config.yaml"))["defaults"]
    return {k for d in defaults if isinstance(d, dict) for k in d}


def refuse_plus_on_default_groups(overrides: list[str]) -> None:
    """``+experiment=smoke`` (the usual Hydra idiom) clashes with ``experiment: null`` in
    the defaults list; Hydra's own message then gives advice for YAML files only."""
    groups = _default_groups()
    for o in overrides:
        key, _, value = o.partition("=")
        if key.startswith("+") and not key.startswith("++") and key[1:] in groups:
            raise ConfigError(key[1:], f"is already in the defaults list: write {key[1:]}={value}, without the '+'")


def _is_hydra_override(override: str) -> bool:
    """``hydra.*`` / ``hydra/...`` (also with ``+``, ``++`` or ``~``) configure Hydra itself, not the run."""
    return override.lstrip("+~").startswith("hydra")


def check(overrides: list[str]) -> None:
    """Compose and validate; raise with a one-line message on the first problem."""
    register()
    refuse_plus_on_default_groups(overrides)
    for combo in expand(overrides):
        GlobalHydra.instance().clear()
        with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3"):
            cfg = compose(config_name="config", overrides=[o for o in combo if not _is_hydra_override(o)])
            refuse_unknown_keys(cfg)
            validate(cfg)
    GlobalHydra.instance().clear()


def probe_dir(path, key: str) -> None:
    """Raise ConfigError naming ``key`` unless ``path`` is, or can be made, a writable folder.

    Tries what Hydra or the stage cache will do (make a folder in the deepest
    existing ancestor) with a temporary folder it removes again, so permissions,
    read-only mounts, /proc and a regular file in the way are all caught, even
    for root, for whom the permission bits say nothing.
    """
    target = Path(path).absolute()
    existing = target
    while not existing.exists() and existing != existing.parent:
        existing = existing.parent
    if not existing.is_dir():
        raise ConfigError(key, f"cannot create {target}: {existing} is a file, not a folder")
    try:
        os.rmdir(tempfile.mkdtemp(prefix=".rewardds-probe-", dir=existing))
    except OSError as exc:
        raise ConfigError(key, f"cannot create {target}: {existing} is not writable ({exc.strerror})") from None


def probe_run_dir(overrides: list[str], multirun: bool) -> None:
    """Probe Hydra's run (or sweep) folder before Hydra creates it and fails with a traceback."""
    key = "hydra.sweep.dir" if multirun else "hydra.run.dir"
    GlobalHydra.instance().clear()
    try:
        with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3"):
            cfg = compose(config_name="config", overrides=expand(overrides)[0], return_hydra_config=True)
            path = str(cfg.hydra.sweep.dir if multirun else cfg.hydra.run.dir)
    except Exception:  # noqa: BLE001 - a folder named after runtime values: Hydra resolves it later
        return
    finally:
        GlobalHydra.instance().clear()
    probe_dir(path, key)


def precheck(argv: list[str]) -> None:
    if any(a.split("=")[0] in SKIP_FLAGS for a in argv) or os.environ.get("REWARDDS_NO_PRECHECK"):
        return
    overrides = [a for a in argv if not a.startswith("-")]
    try:
        check(overrides)
        probe_run_dir(overrides, multirun=any(a in ("-m", "--multirun") for a in argv))
    except Exception as exc:  # noqa: BLE001 - any composition problem is the user's to fix
        print(f"error: {_one_line(exc)}", file=sys.stderr)
        sys.exit(2)
