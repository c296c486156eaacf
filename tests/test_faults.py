"""Faults end a run with one ``error:`` line and a meaningful exit status, never a traceback.

Everything here runs the real ``run.py`` in a subprocess: bad model folders,
unwritable run or cache folders, and SIGTERM / SIGINT in the middle of a stage.
"""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
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
