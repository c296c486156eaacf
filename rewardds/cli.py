"""Refuse bad command lines in one line, before Hydra launches anything.

Hydra reports a bad override over several lines with a hint about
HYDRA_FULL_ERROR; for a sweep on SLURM it may only fail inside the jobs. Here
every job of the sweep is checked up front (see :func:`check`: keys outside the
schema that ``+key=`` / ``++key=`` would add silently included), the run or
sweep folder is probed for writing, and the first problem is printed as
``error: ...`` with exit status 2.
"""
from __future__ import annotations

import copy
import dataclasses
import difflib
import itertools
import os
import re
import sys
import tempfile
import typing
from pathlib import Path
from typing import Iterator

from hydra import compose, initialize_config_dir
from hydra.core.global_hydra import GlobalHydra
from hydra.core.override_parser.overrides_parser import OverridesParser
from hydra.errors import ConfigCompositionException
from omegaconf import OmegaConf
from omegaconf.errors import ConfigAttributeError, ConfigKeyError, OmegaConfBaseException

from rewardds.config import RunConfig, check_values, checked_alone, register, validate
from rewardds.errors import ConfigError

CONF_DIR = Path(__file__).resolve().parent.parent / "conf"
SKIP_FLAGS = {"--help", "-h", "--hydra-help", "--info", "-i", "--cfg", "-c", "--shell-completion", "-sc", "--version"}


def _one_line(exc: BaseException) -> str:
    msg = str(exc)
    cause = exc.__cause__ or (None if exc.__suppress_context__ else exc.__context__)  # `from None`: no cause
    if cause is not None and str(cause) and str(cause) not in msg:
        msg = f"{msg} {cause}"
    lines = [ln.strip() for ln in msg.splitlines() if ln.strip() and "HYDRA_FULL_ERROR" not in ln]
    return " | ".join(lines)


@dataclasses.dataclass(frozen=True)
class _Dimension:
    """One override of the command line: its key and the override of each of its values."""

    key: str  # with Hydra's prefix (+, ++, ~) and @package, as Hydra's parser gives it
    options: tuple[str, ...]  # one override per value ("dp.epsilon=4", "dp.epsilon=-1"); one for a plain override
    plain: bool  # key=value (no prefix, no package): what the job's composition applies with OmegaConf.update


def _dimensions(overrides: list[str]) -> list[_Dimension]:
    """The overrides of a (possible) sweep, each with its values, via Hydra's own parser."""
    out = []
    for o in OverridesParser.create().parse_overrides(overrides):
        key = o.get_key_element()
        plain = not (o.is_add() or o.is_force_add() or o.is_delete()) and o.package is None
        if o.is_sweep_override():
            vals = [str(v) if not isinstance(v, str) else v for v in o.sweep_string_iterator()]
            out.append(_Dimension(key, tuple(f"{key}={v}" for v in vals), plain))
        else:
            out.append(_Dimension(key, (o.input_line,), plain))
    return out


def expand(overrides: list[str]) -> list[list[str]]:
    """Every job's override list of a (possible) sweep (all of them: no cap)."""
    return [list(c) for c in itertools.product(*(d.options for d in _dimensions(overrides)))] or [[]]


def _first_job(overrides: list[str]) -> list[str]:
    return [d.options[0] for d in _dimensions(overrides)]


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


def not_in_schema(key: str) -> ConfigError:
    """The refusal of a key outside the schema, with the closest real key."""
    close = difflib.get_close_matches(key, list(schema_keys()), n=1)
    hint = f"; did you mean {close[0]}?" if close else ""
    return ConfigError(key, f"not in the schema (rewardds/config.py){hint}")


def refuse_unknown_keys(cfg) -> None:
    """Raise ConfigError naming the first key outside the schema, with the closest real key."""
    for key in unknown_keys(OmegaConf.to_container(cfg, resolve=False)):
        raise not_in_schema(key)


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


def _compose(overrides: list[str]):
    GlobalHydra.instance().clear()
    try:
        with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3"):
            return compose(config_name="config", overrides=overrides)
    finally:
        GlobalHydra.instance().clear()


def _unknown_override(exc: ConfigCompositionException, overrides: list[str]) -> ConfigError | None:
    """Hydra's "Could not override 'K'. To append to your config use +K=V" as the project's refusal.

    Its advice contradicts this project, which refuses ``+`` keys outside the schema (they would be
    ignored silently): the line says instead that K is not a key, and which key is meant."""
    if not isinstance(exc.__cause__, (ConfigAttributeError, ConfigKeyError)):
        return None
    match = re.match(r"Could not override '([^']+)'", str(exc))
    if match is None:
        return None
    key = match.group(1)
    if key.startswith("method."):  # a method's own keys: conf/method/<name>.yaml and its schema
        rest = [o for o in overrides if o.partition("=")[0] != key]
        name = OmegaConf.select(_compose(rest), "method.name")
        return ConfigError(key, f"not a key of method {name} (conf/method/{name}.yaml)")
    return not_in_schema(key)


def _composed(overrides: list[str]):
    """One job's config, composed by Hydra and validated; refusals in one line naming the key."""
    try:
        cfg = _compose(overrides)
    except ConfigCompositionException as exc:
        refusal = _unknown_override(exc, overrides)
        if refusal is None:
            raise
        raise refusal from None
    refuse_unknown_keys(cfg)
    validate(cfg)
    return cfg


def _check_alone(cfg, dim: _Dimension) -> None:
    """Every value of a swept key that is checked alone (rewardds.config.checked_alone), set into one
    composed job the way Hydra sets it (the parsed value, ``OmegaConf.update``): the schema's type
    and the range and choice checks (of every key: another key may interpolate this one)."""
    cfg = copy.deepcopy(cfg)
    parser = OverridesParser.create()
    for text in dim.options[1:]:
        value = parser.parse_override(text).value()
        try:
            OmegaConf.update(cfg, dim.key, value, merge=True)
        except OmegaConfBaseException as exc:
            why = next((ln.strip() for ln in str(exc).splitlines() if ln.strip()), type(exc).__name__)
            raise ConfigError(dim.key, f"cannot be {text.partition('=')[2]} ({why})") from None
        check_values(cfg)


def check(overrides: list[str]) -> None:
    """Check every job of a (possible) sweep; raise with a one-line message on the first problem.

    A swept key whose checks read its value alone (ranges, choices, types: ``checked_alone``) is
    checked once per value; the other swept keys (config groups, ``+`` keys, keys that a check
    combines with another) are composed and validated in every combination of their values. So a
    sweep of 2 epsilons x 300 seeds costs one composition and 301 value checks, not 600
    compositions, and no job's error is left for the job to find.
    """
    register()
    refuse_plus_on_default_groups(overrides)
    dims = _dimensions([o for o in overrides if not _is_hydra_override(o)])
    keys = [d.key for d in dims]
    alone = [d for d in dims if len(d.options) > 1 and d.plain and keys.count(d.key) == 1 and checked_alone(d.key)]
    first = None
    for combo in itertools.product(*((d.options[:1] if d in alone else d.options) for d in dims)):
        cfg = _composed(list(combo))
        first = cfg if first is None else first
    for dim in alone:
        _check_alone(first, dim)


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
            cfg = compose(config_name="config", overrides=_first_job(overrides), return_hydra_config=True)
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
