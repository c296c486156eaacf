"""Every config group composes into the schema; bad input is refused in one line."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from hydra import compose, initialize_config_dir
from omegaconf import OmegaConf

from rewardds.cli import check, expand
from rewardds.config import register, validate

ROOT = Path(__file__).resolve().parents[1]
CONF = ROOT / "conf"
register()


def groups():
    for group in ("task", "model", "dp", "filter", "method", "sampler", "trainer", "logger", "audit", "experiment"):
        for f in sorted((CONF / group).glob("*.yaml")):
            yield group, f.stem


def composed(overrides):
    with initialize_config_dir(config_dir=str(CONF), version_base="1.3"):
        return compose(config_name="config", overrides=overrides)


@pytest.mark.parametrize("group,option", list(groups()))
def test_every_group_option_composes_and_validates(group, option):
    overrides = [f"{group}={option}"]
    if group == "model" and option == "hf":
        overrides += ["model.proxy.path=/p", "model.target.path=/t"]
    cfg = composed(overrides)
    validate(cfg)
    container = OmegaConf.to_container(cfg.get(group) if group != "experiment" else cfg, resolve=False)
    assert container


def test_launcher_groups_compose():
    for launcher in ("slurm", "local"):
        with initialize_config_dir(config_dir=str(CONF), version_base="1.3"):
            cfg = compose(config_name="config", overrides=[f"hydra/launcher={launcher}"], return_hydra_config=True)
        assert "submitit" in cfg.hydra.launcher._target_


def test_filter_alpha_follows_task():
    assert composed(["task=code"]).filter.alpha == 1.0
    assert composed(["task=medical"]).filter.alpha == 0.5


def test_sweep_expansion():
    combos = expand(["dp.epsilon=1,2", "filter.keep_ratio=0.125,0.25", "task=medical"])
    assert len(combos) == 4
    assert ["dp.epsilon=1", "filter.keep_ratio=0.25", "task=medical"] in combos


@pytest.mark.parametrize("overrides,needle", [
    (["task=nonsense"], "nonsense"),
    (["dp.epsilonn=3"], "epsilonn"),
    (["dp.epsilon=abc"], "dp.epsilon"),
    (["dp.epsilon=0"], "dp.epsilon"),
    (["dp.epsilon=4,-1"], "dp.epsilon"),
    (["filter.keep_ratio=1.5"], "filter.keep_ratio"),
    (["privacy.nondp_proxy_pairs=true"], "privacy.nondp_proxy_pairs"),
    (["dp.split.gen_proxy=0"], "dp.split"),
    (["+dp.split.audit=1"], "dp.split"),
])
def test_bad_overrides_are_refused_naming_the_key(overrides, needle):
    with pytest.raises(Exception) as info:
        check(overrides)
    assert needle in str(info.value) or needle in str(info.value.__cause__)


def run_cli(*args, cwd=ROOT):
    return subprocess.run([sys.executable, "run.py", *args], cwd=cwd, capture_output=True, text=True, timeout=120)


@pytest.mark.parametrize("args,needle", [
    (["task=nonsense"], "nonsense"),
    (["dp.epsilonn=3"], "epsilonn"),
    (["dp.epsilon=0"], "dp.epsilon"),
    (["task.data.dir=/no/such/dir"], "/no/such/dir"),
])
def test_cli_prints_one_line_error_and_exits_nonzero(args, needle, tmp_path):
    res = run_cli(*args, f"hydra.run.dir={tmp_path}/run", f"cache.dir={tmp_path}/cache")
    assert res.returncode != 0
    errors = [ln for ln in res.stderr.splitlines() if ln.startswith("error:")]
    assert len(errors) == 1, res.stderr[-2000:]
    assert needle in errors[0]
    assert "Traceback" not in res.stderr


def test_cli_reports_malformed_json_line(tmp_path):
    d = tmp_path / "data"
    d.mkdir()
    good = '{"instruction": "i", "input": "a question here", "output": "an answer here"}\n'
    (d / "train.json").write_text(good + good.replace("question here", "other question") + "{not json\n")
    (d / "dev.json").write_text(good)
    res = run_cli(f"task.data.dir={d}", f"hydra.run.dir={tmp_path}/run", f"cache.dir={tmp_path}/cache")
    assert res.returncode != 0
    errors = [ln for ln in res.stderr.splitlines() if ln.startswith("error:")]
    assert len(errors) == 1 and "train.json:3" in errors[0], res.stderr[-2000:]
