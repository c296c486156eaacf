"""Faults end a run with one ``error:`` line and a meaningful exit status, never a traceback.

Everything here runs the real ``run.py`` in a subprocess: bad model folders,
unwritable run or cache folders, and SIGTERM / SIGINT in the middle of a stage.
"""
from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def run_cli(*args, timeout=180):
    env = dict(os.environ, REWARDDS_NO_BAR="1")
    return subprocess.run([sys.executable, "run.py", *args], cwd=ROOT, capture_output=True, text=True,
                          timeout=timeout, env=env)


def one_error_line(res) -> str:
    """The run's single ``error:`` line; fails when there is none, several, or a traceback."""
    errors = [ln for ln in res.stderr.splitlines() if ln.startswith("error:")]
    assert len(errors) == 1, res.stderr[-3000:]
    assert "Traceback" not in res.stderr, res.stderr[-3000:]
    return errors[0]


# --------------------------------------------------------------------------- model folders


@pytest.fixture(scope="module")
def good_model(tmp_path_factory) -> Path:
    """A real (tiny) local HF causal-LM folder: config.json, weights, tokenizer."""
    from tests.helpers import tiny_llama, tiny_tokenizer

    out = tmp_path_factory.mktemp("good-model")
    tok = tiny_tokenizer()
    tiny_llama(tok).save_pretrained(out)
    tok.save_pretrained(out)
    return out


def broken_copy(good: Path, dest: Path, breakage: str) -> tuple[Path, str]:
    """A copy of ``good`` with one fault; returns the folder and the file the error must name."""
    shutil.copytree(good, dest)
    if breakage == "config_not_json":
        (dest / "config.json").write_text("{not json")
        return dest, "config.json"
    if breakage == "unknown_model_type":
        cfg = json.loads((dest / "config.json").read_text())
        cfg["model_type"] = "no_such_architecture"
        (dest / "config.json").write_text(json.dumps(cfg))
        return dest, "config.json"
    if breakage == "broken_tokenizer":
        (dest / "tokenizer.json").write_text('{"version": "1.0", "model": {"type": "Nonsense"}}')
        return dest, "tokenizer.json"
    if breakage == "no_tokenizer":
        for f in dest.iterdir():
            if f.name.startswith(("tokenizer", "special_tokens")) or f.name == "chat_template.jinja":
                f.unlink()
        return dest, "tokenizer"
    if breakage == "no_weights":
        for f in dest.glob("*.safetensors"):
            f.unlink()
        return dest, "model.safetensors"
    if breakage == "truncated_weights":
        w = dest / "model.safetensors"
        w.write_bytes(w.read_bytes()[:100])
        return dest, "model.safetensors"
    raise ValueError(breakage)


@pytest.mark.parametrize("breakage,which", [
    ("config_not_json", "proxy"), ("unknown_model_type", "proxy"), ("broken_tokenizer", "proxy"),
    ("no_tokenizer", "proxy"), ("no_weights", "proxy"), ("truncated_weights", "proxy"),
    ("config_not_json", "target"), ("broken_tokenizer", "target"),  # the target shares the checks
])
def test_bad_model_folder_is_one_error_line_naming_key_and_file(good_model, tmp_path, breakage, which):
    bad, needle = broken_copy(good_model, tmp_path / "bad", breakage)
    paths = {"proxy": good_model, "target": good_model, which: bad}
    res = run_cli("model=hf", f"model.proxy.path={paths['proxy']}", f"model.target.path={paths['target']}",
                  "model.proxy.dtype=float32", "model.target.dtype=float32",
                  f"hydra.run.dir={tmp_path}/run", f"cache.dir={tmp_path}/cache")
    assert res.returncode == 2, res.stderr[-3000:]
    line = one_error_line(res)
    assert f"model.{which}.path" in line and needle in line and str(bad) in line, line
    assert (tmp_path / "run" / "error.txt").read_text().strip() == line[len("error: "):]


# --------------------------------------------------------------------------- zero sizes


@pytest.mark.parametrize("key", ["task.data.max_train", "task.data.max_public", "task.data.max_test", "eval.max_test"])
def test_zero_size_is_one_error_line_before_any_work(tmp_path, key):
    """0 records of a split is never meant: it used to divide by zero in the privacy plan (max_train),
    break the DataLoader (max_public), or finish with n=0 metrics and a release (the test sizes)."""
    res = run_cli("experiment=smoke", f"{key}=0", f"hydra.run.dir={tmp_path}/run", f"cache.dir={tmp_path}/cache")
    assert res.returncode == 2, res.stderr[-3000:]
    assert one_error_line(res) == f"error: config key '{key}': must be > 0, got 0"
    assert not (tmp_path / "run" / "metrics.json").exists() and not (tmp_path / "run" / "release").exists()
    assert not (tmp_path / "cache").exists() or not any((tmp_path / "cache").iterdir())  # nothing ran


# --------------------------------------------------------------------------- unreadable data


@pytest.mark.parametrize("fault", ["eio", "a_file"])
def test_unreadable_data_is_one_error_line_naming_the_file(tmp_path, fault):
    d = tmp_path / "data"
    d.mkdir()
    record = '{"instruction": "i", "input": "a question here", "output": "an answer here"}\n'
    (d / "dev.json").write_text(record)
    if fault == "eio":  # a regular file whose read fails with EIO (its first page is unmapped)
        (d / "train.json").symlink_to("/proc/self/mem")
        where, expected = d, f"error: {d / 'train.json'}: cannot be read (Input/output error)"
    else:
        where = d / "dev.json"
        expected = f"error: {where}: is a file, not a folder (task.data.dir names the folder of train.json)"
    res = run_cli("experiment=smoke", f"task.data.dir={where}", f"hydra.run.dir={tmp_path}/run",
                  f"cache.dir={tmp_path}/cache")
    assert res.returncode == 2, res.stderr[-3000:]
    assert one_error_line(res) == expected
    assert (tmp_path / "run" / "error.txt").read_text().strip() == expected[len("error: "):]


# --------------------------------------------------------------------------- SIGTERM / SIGINT

RESUME_HINT = "the next run with the same config resumes from the last completed stage"
LONG_TRAINING = ["gen_proxy.epochs=1000"]  # the gen_proxy stage then runs for minutes: time to interrupt it
LONG_SAMPLING = ["synthesis.num_queries=100000", "synthesis.max_query_rounds=100000"]


@pytest.fixture(scope="module")
def cache(tmp_path_factory) -> Path:
    """A stage cache holding the smoke run's client stages (base model, both proxies)."""
    cache = tmp_path_factory.mktemp("signal-cache")
    res = run_cli("experiment=smoke", "stop_after=reward_proxy", f"hydra.run.dir={cache.parent / 'warm-run'}",
                  f"cache.dir={cache}", "trainer.num_threads=1", timeout=600)
    assert res.returncode == 0, res.stderr[-3000:]
    return cache


class Run:
    """``run.py experiment=smoke`` in the background, its stdout and stderr in files to poll."""

    def __init__(self, run_dir: Path, cache: Path, extra=(), bars: bool = False):
        self.run_dir = run_dir
        run_dir.parent.mkdir(parents=True, exist_ok=True)
        self.out, self.err = run_dir.parent / f"{run_dir.name}.out", run_dir.parent / f"{run_dir.name}.err"
        env = dict(os.environ, REWARDDS_NO_BAR="1", WANDB_MODE="offline")
        if bars:  # progress bars drawn as on a terminal, into the files
            env.pop("REWARDDS_NO_BAR")
        with open(self.out, "w") as out, open(self.err, "w") as err:
            self.proc = subprocess.Popen(
                [sys.executable, "run.py", "experiment=smoke", f"hydra.run.dir={run_dir}", f"cache.dir={cache}",
                 "trainer.num_threads=1", *extra], cwd=ROOT, env=env, stdout=out, stderr=err)

    def log(self) -> str:
        return self.out.read_text() + self.err.read_text()

    def wait_for(self, *needles: str, timeout: float = 300) -> None:
        deadline = time.monotonic() + timeout
        while not all(n in self.log() for n in needles):
            assert self.proc.poll() is None, f"run ended (rc {self.proc.returncode}) before {needles}:\n{self.log()[-3000:]}"
            assert time.monotonic() < deadline, f"no {needles} after {timeout} s:\n{self.log()[-3000:]}"
            time.sleep(0.1)

    def interrupt(self, sig: int, settle: float = 2.0, times: int = 1, gap: float = 0.01) -> subprocess.CompletedProcess:
        time.sleep(settle)  # well inside the stage's loop (Lightning's fit, the sampler)
        for i in range(times):  # Ctrl-C pressed again while the first one unwinds
            if i:
                time.sleep(gap)
            self.proc.send_signal(sig)
        try:
            self.proc.wait(timeout=120)
        finally:
            if self.proc.poll() is None:
                self.proc.kill()
        return subprocess.CompletedProcess(self.proc.args, self.proc.returncode, self.out.read_text(),
                                           self.err.read_text())


def stage_hits(run_dir: Path) -> dict[str, bool]:
    recs = [json.loads(x) for x in (run_dir / "stage_log.jsonl").read_text().splitlines()]
    return {r["stage"]: r["cache_hit"] for r in recs}


def assert_interrupted(res, run_dir: Path, sig: int, stage: str) -> None:
    name = signal.Signals(sig).name
    assert res.returncode == 128 + sig, f"rc {res.returncode}\n{res.stderr[-3000:]}"
    line = one_error_line(res)
    assert line == f"error: interrupted by {name} during stage '{stage}'; {RESUME_HINT}", line
    assert (run_dir / "error.txt").read_text().strip() == line[len("error: "):]
    assert not (run_dir / "metrics.json").exists()


def test_sigterm_during_training_exits_143_and_the_rerun_completes(tmp_path):
    cache = tmp_path / "cache"
    run = Run(tmp_path / "run", cache)
    run.wait_for("[base_model] running", "base model: ")  # Lightning's fit starts right after
    assert_interrupted(run.interrupt(signal.SIGTERM), run.run_dir, signal.SIGTERM, "base_model")
    assert list(cache.glob("base_model/*.partial")) and not list(cache.glob("base_model/*/manifest.json"))

    rerun = Run(tmp_path / "rerun", cache)  # the same config again
    rerun.proc.wait(timeout=600)
    assert rerun.proc.returncode == 0, rerun.log()[-3000:]
    assert (rerun.run_dir / "metrics.json").exists() and not (rerun.run_dir / "error.txt").exists()


def test_sigint_during_training_exits_130_naming_the_stage(cache, tmp_path):
    run = Run(tmp_path / "run", cache, LONG_TRAINING)
    run.wait_for("[gen_proxy] running", "gen_proxy: 32 records")
    assert_interrupted(run.interrupt(signal.SIGINT), run.run_dir, signal.SIGINT, "gen_proxy")
    assert stage_hits(run.run_dir) == {"base_model": True}  # resumed from the last completed stage


def test_sigterm_during_dp_training_exits_143_naming_the_stage(cache, tmp_path):
    run = Run(tmp_path / "run", cache, LONG_TRAINING)
    run.wait_for("[gen_proxy] running", "gen_proxy: 32 records")
    assert_interrupted(run.interrupt(signal.SIGTERM), run.run_dir, signal.SIGTERM, "gen_proxy")


def test_sigint_during_sampling_exits_130_without_traceback(cache, tmp_path):
    run = Run(tmp_path / "run", cache, LONG_SAMPLING)
    run.wait_for("[queries] running")
    assert_interrupted(run.interrupt(signal.SIGINT), run.run_dir, signal.SIGINT, "queries")
    assert stage_hits(run.run_dir) == {"base_model": True, "gen_proxy": True, "reward_proxy": True}


def test_double_sigint_still_names_the_stage_and_writes_error_txt(cache, tmp_path):
    # the second Ctrl-C, 10 ms after the first, used to interrupt the first one's handling: "before the
    # run started", no error.txt
    run = Run(tmp_path / "run", cache, LONG_TRAINING)
    run.wait_for("[gen_proxy] running", "gen_proxy: 32 records")
    assert_interrupted(run.interrupt(signal.SIGINT, times=2), run.run_dir, signal.SIGINT, "gen_proxy")


def test_interruption_line_starts_a_line_after_a_progress_bar(cache, tmp_path):
    # the sampler's bar ends in "\r" (cleared, not closed with a newline): the error line was glued to
    # it, and `grep '^error:'` on the job's log missed it
    run = Run(tmp_path / "run", cache, LONG_SAMPLING, bars=True)
    run.wait_for("[queries] running", "queries round 1")  # the bar is drawn (a fixed wait missed it under load)
    res = run.interrupt(signal.SIGINT, settle=1.0)
    assert res.returncode == 130, res.stderr[-3000:]
    raw = run.err.read_bytes().decode()  # as written: read_text() would turn each "\r" into a newline
    assert "\r" in raw  # a bar was drawn
    lines = [ln for ln in raw.split("\n") if ln.startswith("error:")]  # what grep '^error:' sees
    assert lines == [f"error: interrupted by SIGINT during stage 'queries'; {RESUME_HINT}"], repr(raw[-500:])


# --------------------------------------------------------------------------- unwritable folders


@pytest.fixture
def a_file(tmp_path) -> Path:
    f = tmp_path / "a_file"
    f.write_text("not a folder\n")
    return f


def unwritable_dirs(a_file: Path) -> dict[str, Path]:
    """Folders that cannot be made, even by root (who ignores permission bits)."""
    return {"under_a_file": a_file / "sub", "proc": Path("/proc/rewardds-test/sub"), "sys": Path("/sys/rewardds-test")}


@pytest.mark.parametrize("where", ["under_a_file", "proc", "sys"])
def test_unwritable_cache_dir_is_one_error_line(tmp_path, a_file, where):
    bad = unwritable_dirs(a_file)[where]
    res = run_cli("experiment=smoke", f"hydra.run.dir={tmp_path}/run", f"cache.dir={bad}")
    assert res.returncode == 2, res.stderr[-3000:]
    line = one_error_line(res)
    assert "config key 'cache.dir'" in line and str(bad) in line, line
    assert (tmp_path / "run" / "error.txt").read_text().strip() == line[len("error: "):]


@pytest.mark.parametrize("where", ["under_a_file", "proc"])
def test_unwritable_run_dir_is_one_error_line(tmp_path, a_file, where):
    bad = unwritable_dirs(a_file)[where]
    res = run_cli("experiment=smoke", f"hydra.run.dir={bad}", f"cache.dir={tmp_path}/cache")
    assert res.returncode == 2, res.stderr[-3000:]
    line = one_error_line(res)
    assert "config key 'hydra.run.dir'" in line and str(bad) in line, line


def test_unwritable_sweep_dir_is_one_error_line(tmp_path, a_file):
    bad = a_file / "sweep"
    res = run_cli("-m", "experiment=smoke", "dp.epsilon=4,8", f"hydra.sweep.dir={bad}", f"cache.dir={tmp_path}/cache")
    assert res.returncode == 2, res.stderr[-3000:]
    assert "config key 'hydra.sweep.dir'" in one_error_line(res)


# --------------------------------------------------------------------------- sweeps


def test_sweep_records_a_failed_job_and_goes_on(cache, tmp_path):
    """A job's bad input fails that job only (error.txt in its folder); the next job still runs."""
    sweep = tmp_path / "sweep"
    res = run_cli("-m", "experiment=smoke", "task.data.dir=/no/such/dir,null", "stop_after=base_model",
                  f"hydra.sweep.dir={sweep}", f"cache.dir={cache}")
    assert "/no/such/dir" in (sweep / "0" / "error.txt").read_text()
    assert not (sweep / "1" / "error.txt").exists(), res.stderr[-3000:]
    assert stage_hits(sweep / "1") == {"base_model": True}


def test_error_line_leaves_out_a_suppressed_cause(a_file):
    res = run_cli("experiment=smoke", "hydra.run.dir=/proc/rewardds-test", f"cache.dir={a_file.parent}/cache")
    assert "Errno" not in one_error_line(res)


def test_sigterm_without_our_handlers_is_still_a_failure(cache, tmp_path):
    """Where run.py's handlers are not installed (a submitit job calls main() directly) Lightning's
    SIGTERMException, a bare SystemExit, must not pass for success."""
    run_dir = tmp_path / "run"
    argv = ["run.py", "experiment=smoke", f"hydra.run.dir={run_dir}", f"cache.dir={cache}", "trainer.num_threads=1",
            *LONG_TRAINING]
    err = tmp_path / "err"
    env = dict(os.environ, REWARDDS_NO_BAR="1", HYDRA_MAIN_MODULE="__main__")  # conf/ next to run.py, as usual
    with open(err, "w") as fh:
        proc = subprocess.Popen([sys.executable, "-c", f"import sys, run; sys.argv = {argv!r}; run.main()"],
                                cwd=ROOT, env=env, stdout=fh, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 300
        while "gen_proxy: 32 records" not in err.read_text():
            assert proc.poll() is None and time.monotonic() < deadline, err.read_text()[-3000:]
            time.sleep(0.1)
        time.sleep(2.0)
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode != 0
    assert (run_dir / "error.txt").read_text().strip() == (
        f"interrupted by SIGTERM during stage 'gen_proxy'; {RESUME_HINT}")


@pytest.mark.parametrize("stage,cache_enabled,expected", [
    ("gen_proxy", True, f"interrupted by SIGTERM during stage 'gen_proxy'; {RESUME_HINT}"),
    (None, True, f"interrupted by SIGTERM between stages; {RESUME_HINT}"),
    ("queries", False, "interrupted by SIGTERM during stage 'queries'; "
                       "the stage cache is off (cache.enabled=false), so a new run starts over"),
])
def test_interruption_line(stage, cache_enabled, expected):
    from omegaconf import OmegaConf

    import run
    from rewardds.errors import Interrupted

    exc = Interrupted(signal.SIGTERM)
    if stage:
        exc.rewardds_stage = stage
    assert run.interruption_line(exc, OmegaConf.create({"cache": {"enabled": cache_enabled}})) == expected
    assert exc.exit_status == 143 and Interrupted(signal.SIGINT).exit_status == 130
