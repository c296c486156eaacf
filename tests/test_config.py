"""Every config group composes into the schema; bad input is refused in one line."""
from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import pytest
from hydra import compose, initialize_config_dir
from omegaconf import OmegaConf

from rewardds.cli import check, expand
from rewardds.config import register, validate
from rewardds.errors import ConfigError

ROOT = Path(__file__).resolve().parents[1]
CONF = ROOT / "conf"
register()


def groups():
    for group in ("task", "model", "dp", "filter", "method", "sampler", "trainer", "logger", "audit", "reward", "experiment"):
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
    (["+dp.split.gen_proxy=0", "+dp.split.reward_proxy=1"], "dp.split"),
    (["+dp.split.audit=1"], "dp.split"),
])
def test_bad_overrides_are_refused_naming_the_key(overrides, needle):
    with pytest.raises(Exception) as info:
        check(overrides)
    assert needle in str(info.value) or needle in str(info.value.__cause__)


def test_sweep_check_reaches_every_combination():
    """A bad value behind the first 256 combinations used to pass the check (the sweep's jobs then
    failed one by one); every value of every key is checked, and the check stays quick."""
    start = time.monotonic()
    with pytest.raises(ConfigError) as info:
        check(["dp.epsilon=4,-1", "seed=range(0,300)"])
    assert info.value.key == "dp.epsilon" and "got -1" in str(info.value)
    with pytest.raises(ConfigError) as info:
        check(["seed=range(0,300)", "dp.epsilon=4,-1"])  # the bad value last in the product's order
    assert info.value.key == "dp.epsilon"
    with pytest.raises(Exception) as info:
        check(["seed=range(0,300)", "dp.epsilon=4,abc"])  # a wrong type too
    assert "dp.epsilon" in str(info.value) and "abc" in str(info.value)
    assert time.monotonic() - start < 60  # not 600 compositions


def test_sweep_check_combines_the_keys_that_interact():
    # eval.pass_k=[1,5] is fine for the QA tasks and needs eval.code_samples >= 5 for code: only the
    # combination (task=code, pass_k=[1,5], code_samples=1) is wrong, and it is not the first
    with pytest.raises(ConfigError) as info:
        check(["task=medical,code", "eval.pass_k=[1],[1,5]", "eval.code_samples=5,1", "seed=range(0,50)"])
    assert info.value.key == "eval.pass_k"
    check(["task=medical,code", "eval.pass_k=[1],[1,5]", "eval.code_samples=5,6", "seed=range(0,50)"])
    # a method's keys depend on the method: method.k is a key of icl, not of rewardds
    with pytest.raises(ConfigError):
        check(["method=icl,rewardds", "method.k=2,3"])


def test_sweep_with_a_bad_value_far_down_exits_2_before_any_job(tmp_path):
    res = run_cli("-m", "experiment=smoke", "dp.epsilon=4,-1", "seed=range(0,300)", f"hydra.sweep.dir={tmp_path}/sweep",
                  f"cache.dir={tmp_path}/cache")
    assert res.returncode == 2, res.stderr[-2000:]
    errors = [ln for ln in res.stderr.splitlines() if ln.startswith("error:")]
    assert errors == ["error: config key 'dp.epsilon': must be > 0, got -1.0"], res.stderr[-2000:]
    assert not (tmp_path / "sweep").exists() and not (tmp_path / "cache").exists()


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


@pytest.mark.parametrize("args,line", [
    (["dp.epsilonn=3"], "error: config key 'dp.epsilonn': not in the schema (rewardds/config.py); did you mean dp.epsilon?"),
    (["method.k=3"], "error: config key 'method.k': not a key of method rewardds (conf/method/rewardds.yaml)"),
    (["-m", "method=icl,rewardds", "method.k=2"],
     "error: config key 'method.k': not a key of method rewardds (conf/method/rewardds.yaml)"),
])
def test_a_key_that_is_not_there_is_refused_without_hydras_plus_advice(args, line, tmp_path):
    # Hydra's own line said "To append to your config use +dp.epsilonn=3", which the project refuses
    res = run_cli(*args, f"hydra.run.dir={tmp_path}/run", f"hydra.sweep.dir={tmp_path}/sweep", f"cache.dir={tmp_path}/cache")
    assert res.returncode == 2, res.stderr[-2000:]
    assert [ln for ln in res.stderr.splitlines() if ln.startswith("error:")] == [line], res.stderr[-2000:]
    assert "+" not in res.stderr


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


@pytest.mark.parametrize("override,key,hint", [
    ("+dp.epsilonn=4", "dp.epsilonn", "dp.epsilon"),  # what Hydra itself suggests after the typo dp.epsilonn=4
    ("++dp.epsilonn=4", "dp.epsilonn", "dp.epsilon"),
    ("++task.data.max_trian=3", "task.data.max_trian", "task.data.max_train"),
    ("+nonsense_key=1", "nonsense_key", None),
])
def test_added_keys_outside_the_schema_are_refused(override, key, hint):
    with pytest.raises(Exception) as info:
        check([override])
    msg = str(info.value)
    assert f"'{key}'" in msg and "\n" not in msg
    if hint:
        assert f"did you mean {hint}" in msg


@pytest.mark.parametrize("overrides", [
    ["hydra.job.name=x", "+hydra.job.env_set.FOO=1", "++hydra.verbose=true"],  # hydra.* is Hydra's own
    ["experiment=smoke"],
    ["+dp.split={gen_proxy: 0.3, reward_proxy: 0.7}"],  # the components of method=rewardds
    ["+dp.split.gen_proxy=0.3", "+dp.split.reward_proxy=0.7"],
])
def test_legit_overrides_still_pass(overrides):
    check(overrides)


def test_cli_refuses_added_unknown_key_in_one_line(tmp_path):
    res = run_cli("+dp.epsilonn=4", f"hydra.run.dir={tmp_path}/run", f"cache.dir={tmp_path}/cache")
    assert res.returncode == 2
    errors = [ln for ln in res.stderr.splitlines() if ln.startswith("error:")]
    assert len(errors) == 1 and "dp.epsilonn" in errors[0] and "dp.epsilon?" in errors[0], res.stderr[-2000:]
    assert not (tmp_path / "run").exists()


@pytest.mark.parametrize("override,key", [
    ("sampler.batch_size=0", "sampler.batch_size"),
    ("synthesis.query_max_new_tokens=0", "synthesis.query_max_new_tokens"),
    ("synthesis.answer_max_new_tokens=-1", "synthesis.answer_max_new_tokens"),
    ("refine.critique_max_new_tokens=0", "refine.critique_max_new_tokens"),
    ("refine.rewrite_max_new_tokens=0", "refine.rewrite_max_new_tokens"),
    ("trainer.num_threads=0", "trainer.num_threads"),
    ("trainer.num_threads=-2", "trainer.num_threads"),
    ("eval.code_timeout=0", "eval.code_timeout"),
    ("eval.code_timeout=inf", "eval.code_timeout"),
    ("model.proxy.max_length=0", "model.proxy.max_length"),
    ("model.target.max_length=0", "model.target.max_length"),
    ("dp.epsilon=inf", "dp.epsilon"),
    ("dp.epsilon=nan", "dp.epsilon"),
    ("dp.max_grad_norm=inf", "dp.max_grad_norm"),
    ("dp.noise_multiplier=nan", "dp.noise_multiplier"),
    ("dp.epsilon_tolerance=0", "dp.epsilon_tolerance"),
    ("synthesis.max_query_rounds=0", "synthesis.max_query_rounds"),
    ("synthesis.query_temperature=-1", "synthesis.query_temperature"),
    ("synthesis.answer_top_p=0", "synthesis.answer_top_p"),
    ("refine.top_p=1.5", "refine.top_p"),
    ("refine.temperature=nan", "refine.temperature"),
    ("target.epochs_first=-1", "target.epochs_first"),
    ("eval.code_samples=0", "eval.code_samples"),
    ("eval.pass_k=[0]", "eval.pass_k"),
    ("task.data.max_public=-1", "task.data.max_public"),
    ("task.rank_alpha=2", "task.rank_alpha"),
    ("privacy.public_examples=-1", "privacy.public_examples"),
    ("model.lora.r=0", "model.lora.r"),
    ("model.lora.dropout=1", "model.lora.dropout"),
    ("model.tiny.num_heads=0", "model.tiny.num_heads"),
    ("model.tiny.hidden_size=30", "model.tiny.hidden_size"),  # not a multiple of num_heads=4
    ("model.tiny.pretrain_steps=-1", "model.tiny.pretrain_steps"),
    ("sampler.gpu_memory_utilization=0", "sampler.gpu_memory_utilization"),
    ("sampler.tensor_parallel_size=0", "sampler.tensor_parallel_size"),
    ("sampler.max_model_len=0", "sampler.max_model_len"),
    ("trainer.log_every_n_steps=0", "trainer.log_every_n_steps"),
    ("trainer.devices=0", "trainer.devices"),
    ("logger.log_samples=-1", "logger.log_samples"),
])
def test_out_of_range_values_are_refused_naming_the_key(override, key):
    with pytest.raises(ConfigError) as info:
        validate(composed([override]))
    assert info.value.key == key


def test_pass_k_beyond_code_samples_is_refused_before_training():
    with pytest.raises(ConfigError) as info:
        validate(composed(["task=code", "eval.pass_k=[1,5]", "eval.code_samples=2"]))
    assert info.value.key == "eval.pass_k"
    validate(composed(["task=code", "eval.pass_k=[1,5]", "eval.code_samples=5"]))
    validate(composed(["task=medical", "eval.pass_k=[1,5]"]))  # pass@k is only computed for code


@pytest.mark.parametrize("override", ["trainer.devices=-1", "trainer.num_threads=null", "dp.noise_multiplier=0.5",
                                      "synthesis.query_temperature=0", "target.epochs_later=0", "sampler.swap_space=0"])
def test_boundary_values_that_mean_something_are_accepted(override):
    validate(composed([override]))


def test_plus_on_a_default_group_says_to_drop_the_plus():
    """experiment is in the defaults list (as null): Hydra refuses +experiment=smoke with advice for YAML files."""
    with pytest.raises(Exception) as info:
        check(["+experiment=smoke"])
    assert "experiment=smoke" in str(info.value) and "without the '+'" in str(info.value)


def test_run_refuses_added_unknown_key_without_the_precheck(tmp_path, monkeypatch):
    """A SLURM job (or REWARDDS_NO_PRECHECK=1) composes without the precheck: main() checks too."""
    monkeypatch.setenv("REWARDDS_NO_PRECHECK", "1")
    res = run_cli("+dp.epsilonn=4", "experiment=smoke", f"hydra.run.dir={tmp_path}/run", f"cache.dir={tmp_path}/cache")
    assert res.returncode == 2, res.stderr[-2000:]
    errors = [ln for ln in res.stderr.splitlines() if ln.startswith("error:")]
    assert len(errors) == 1 and "dp.epsilonn" in errors[0], res.stderr[-2000:]
    assert not (tmp_path / "cache").exists()
