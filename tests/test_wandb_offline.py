"""rewardds.wandb_offline against a real offline W&B run (made in a subprocess)."""
from __future__ import annotations

import os
import struct
import subprocess
import sys
import textwrap
import time
import zlib
from pathlib import Path

import pytest

from rewardds.wandb_offline import (
    BLOCK_SIZE,
    WandbFileError,
    find_offline_runs,
    iter_record_payloads,
    read_offline_run,
)

pytest.importorskip("wandb")

MAKE_RUN = textwrap.dedent(
    """
    import wandb
    run = wandb.init(project="rewardds-test", group="g1", job_type="gen_proxy", name="proxy-eps4",
                     config={"lr": 0.001, "dp": {"epsilon": 4.0}, "tags": ["a", "b"]})
    run.config.update({"big": "x" * 70000})  # a record longer than one 32 KiB block
    for i in range(4):
        run.log({"loss": 1.0 / (i + 1), "eval": {"rougeL": 0.1 * i}})
    run.summary["final_rougeL"] = 0.42
    run.summary["privacy"] = {"epsilon": 3.9}
    run.finish()
    """
)


@pytest.fixture(scope="module")
def offline_run(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("wandb_root")
    env = {k: v for k, v in os.environ.items() if not k.startswith("WANDB_")}
    env.update(WANDB_MODE="offline", WANDB_DIR=str(root), WANDB_SILENT="true",
               WANDB_DISABLE_GIT="true", WANDB_CONSOLE="off")
    # wandb starts a service process; a subprocess keeps it out of the test process
    proc = subprocess.run([sys.executable, "-c", MAKE_RUN], cwd=root, env=env,
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return root


def test_find_and_read_real_offline_run(offline_run: Path):
    runs = find_offline_runs(offline_run)
    assert len(runs) == 1 and runs[0].name.startswith("offline-run-")
    assert find_offline_runs(offline_run / "wandb") == runs
    assert find_offline_runs(runs[0]) == runs

    run = read_offline_run(runs[0])
    assert run["project"] == "rewardds-test"
    assert run["group"] == "g1"
    assert run["job_type"] == "gen_proxy"
    assert run["name"] == "proxy-eps4"
    assert run["exit_code"] == 0
    assert 0 < time.time() - run["start_time"] < 3600  # when the W&B run was created
    cfg = run["config"]
    assert cfg["lr"] == 0.001 and cfg["dp"] == {"epsilon": 4.0} and cfg["tags"] == ["a", "b"]
    assert cfg["big"] == "x" * 70000
    assert "_wandb" not in cfg

    hist = run["history"]
    assert [h["_step"] for h in hist] == [0, 1, 2, 3]
    assert [h["loss"] for h in hist] == pytest.approx([1.0, 0.5, 1 / 3, 0.25])
    assert [h["eval"]["rougeL"] for h in hist] == pytest.approx([0.0, 0.1, 0.2, 0.3])

    summ = run["summary"]
    assert summ["final_rougeL"] == 0.42
    assert summ["privacy"] == {"epsilon": 3.9}
    assert summ["loss"] == pytest.approx(0.25)
    assert summ["eval"]["rougeL"] == pytest.approx(0.3)

    # the .wandb file itself works too
    same = read_offline_run(Path(run["path"]))
    assert same["history"] == hist and same["summary"] == summ


def test_truncated_file_gives_the_records_before_the_cut(offline_run: Path, tmp_path: Path):
    src = Path(read_offline_run(find_offline_runs(offline_run)[0])["path"])
    data = src.read_bytes()
    cut = tmp_path / "run-cut.wandb"
    cut.write_bytes(data[: len(data) - 200])
    run = read_offline_run(cut)
    assert run["group"] == "g1" and run["exit_code"] is None
    assert len(run["history"]) >= 1


def _frame(records: list[bytes]) -> bytes:
    """Write records in the LevelDB log framing (as wandb does)."""
    out = bytearray(b":W&B" + struct.pack("<H", 0xBEE1) + b"\x00")
    for rec in records:
        first = True
        while True:
            left = BLOCK_SIZE - len(out) % BLOCK_SIZE
            if left < 7:
                out += b"\x00" * left
                continue
            part, rec = rec[: left - 7], rec[left - 7:]
            ctype = (1 if not rec else 2) if first else (4 if not rec else 3)
            out += struct.pack("<IHB", zlib.crc32(bytes([ctype]) + part), len(part), ctype) + part
            first = False
            if not rec:
                break
    return bytes(out)


def test_framing_across_blocks(tmp_path: Path):
    records = [b"a" * 10, b"b" * 40000, b"c" * 100000, b"d" * (BLOCK_SIZE - 7 - 7 - 3), b"e"]
    f = tmp_path / "run-x.wandb"
    f.write_bytes(_frame(records))
    assert list(iter_record_payloads(f)) == records


def test_not_a_wandb_file(tmp_path: Path):
    bad = tmp_path / "run-bad.wandb"
    bad.write_bytes(b"hello world")
    with pytest.raises(WandbFileError):
        read_offline_run(bad)
    with pytest.raises(WandbFileError):
        read_offline_run(tmp_path / "missing")
    assert find_offline_runs(tmp_path / "missing") == []
