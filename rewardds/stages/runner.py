"""Runs stages through a content-keyed cache.

A stage's key hashes the config slice that affects it, the code version and the
manifests (file hashes) of the artefacts it reads. The key is an HMAC-SHA256
under a client secret (``.client_secret``, 32 random bytes created on first use
inside the cache folder, mode 0600, never released): the config slice of a client
stage includes a fingerprint of the private records, and a plain hash of it,
published as a folder name or in a log, would let anyone who can guess the
records test a guess exactly (one changed space changes the key). Jobs that
share a cache folder share its secret, so they still share cache entries. Its output folder is built
under ``<key>.partial`` and renamed into place only when complete, so a killed
job leaves no half-written artefact, and a resubmitted job finds the partial
folder (with any Lightning checkpoint) and resumes. Concurrent jobs that need
the same stage take a file lock: one computes, the others wait and reuse.
"""
from __future__ import annotations

import hashlib
import hmac
import json
import logging
import os
import shutil
import tempfile
import time
from pathlib import Path
from typing import Callable

from filelock import FileLock

from rewardds.errors import RewarddsError
from rewardds.io import read_json, write_json
from rewardds.training.distributed import launch_rank

log = logging.getLogger(__name__)

# Bump when a stage's outputs change meaning (2: chat.is_answer refuses critiques and the refinement labels;
# 3: the base is not taught to write its requests' layout, and answer steps retry questions left unanswered).
CODE_VERSION = "3"
MANIFEST = "manifest.json"
STATS_SUFFIX = ".stats.json"
RESUME = "_resume"  # a stage's resumable state (Lightning checkpoints) inside its partial folder
RANK0_WAIT_S = 3600.0  # how long a DDP rank > 0 waits for rank 0 to publish a stage it ran beside it


def digest_dir(path: Path) -> str:
    """SHA-256 over a folder's artefacts (relative names and contents).

    The manifest and ``*.stats.json`` files (timings, throughput: measurements of
    this execution, not results) are left out, so equal results have equal digests.
    """
    h = hashlib.sha256()
    for f in sorted(p for p in Path(path).rglob("*")
                    if p.is_file() and p.name != MANIFEST and not p.name.endswith(STATS_SUFFIX)):
        h.update(str(f.relative_to(path)).encode())
        with open(f, "rb") as fh:
            for block in iter(lambda: fh.read(1 << 20), b""):
                h.update(block)
    return h.hexdigest()


SECRET_FILE = ".client_secret"


def client_secret(folder: Path) -> bytes:
    """The cache's HMAC key: read it, or create it atomically (0600) on first use."""
    folder = Path(folder)
    path = folder / SECRET_FILE
    if not path.exists():
        folder.mkdir(parents=True, exist_ok=True)
        tmp = folder / f".{SECRET_FILE}.{os.getpid()}.tmp"
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as fh:
            fh.write(os.urandom(32))
            fh.flush()
            os.fsync(fh.fileno())
        try:
            os.link(tmp, path)  # first writer wins; concurrent jobs then read the same secret
        except FileExistsError:
            pass
        finally:
            os.unlink(tmp)
    secret = path.read_bytes()
    if len(secret) < 32:
        raise RuntimeError(f"{path}: truncated client secret; delete the cache folder to start afresh")
    return secret


def stage_key(name: str, config: dict, inputs: dict[str, str], secret: bytes) -> str:
    payload = json.dumps({"stage": name, "version": CODE_VERSION, "config": config, "inputs": inputs},
                         sort_keys=True, default=str)
    return hmac.new(secret, payload.encode(), hashlib.sha256).hexdigest()[:32]


def record_seed(secret: bytes, purpose: str, record) -> int:
    """A 62-bit seed for the randomness one record gets in one step: HMAC-SHA256, under the client
    secret, of ``purpose`` (the step, what is drawn, the run's seed) and the record's question and
    answer. It depends on that record alone, not on its position or on the other records, so
    removing or changing one record leaves every other record's draws as they were (record-level
    DP needs each record's training rows to be a function of that record); it is secret, as the
    key is; and the same cache folder gives the same draws again (its entries stay reproducible)."""
    msg = json.dumps(["record-rng", purpose, record.question, record.answer]).encode()
    return int.from_bytes(hmac.new(secret, msg, hashlib.sha256).digest()[:8], "little") >> 2


class StageRunner:
    def __init__(self, run_dir: Path, cache_dir: Path | None):
        self.run_dir = Path(run_dir)
        self.cache_dir = Path(cache_dir) if cache_dir else None
        self.records: list[dict] = []
        self.current: str | None = None  # the stage being computed now
        (self.run_dir / "stages").mkdir(parents=True, exist_ok=True)
        self._secret = client_secret(self.cache_dir or self.run_dir / "stages")

    def record_seed(self, purpose: str, record) -> int:
        """:func:`record_seed` under this runner's client secret."""
        return record_seed(self._secret, purpose, record)

    def manifest_digest(self, out) -> str:
        """Digest of a completed stage folder; a plain string is taken as a digest already."""
        if isinstance(out, str):
            return out
        return read_json(Path(out) / MANIFEST)["digest"]

    def run(self, name: str, config: dict, inputs: dict[str, Path], fn: Callable[[Path], dict | None],
            kind: str | None = None) -> Path:
        """Return the completed output folder of stage ``name``, computing it if needed. ``kind``
        (default: the name before any ``@``) is the cache folder: steps of the same kind with the
        same config and inputs share one entry, whichever method runs them."""
        kind = kind or name.split("@")[0]
        key = stage_key(kind, config, {k: self.manifest_digest(v) for k, v in sorted(inputs.items())}, self._secret)
        home = (self.cache_dir / kind) if self.cache_dir else (self.run_dir / "stages")
        final = home / (key if self.cache_dir else name)
        home.mkdir(parents=True, exist_ok=True)
        start = time.perf_counter()
        hit = self._complete(final, key)
        if not hit and self.cache_dir and launch_rank() > 0:
            hit = self._beside_rank0(name, fn, home, final, key)
        if not hit:
            with FileLock(str(home / f".{final.name}.lock")):
                hit = self._complete(final, key)  # another job may have finished it while we waited
                if not hit:
                    self.current = name
                    try:
                        self._compute(name, fn, final, key)
                    except BaseException as exc:  # noqa: BLE001 - annotated and re-raised
                        exc.rewardds_stage = name  # run.py names the interrupted stage
                        raise
                    finally:
                        self.current = None
        seconds = time.perf_counter() - start
        rec = {"stage": name, "key": key, "cache_hit": hit, "seconds": round(seconds, 3), "path": str(final)}
        self.records.append(rec)
        with open(self.run_dir / "stage_log.jsonl", "a", encoding="utf-8") as fh:
            fh.write(json.dumps(rec) + "\n")
        if hit:
            log.info("[%s] cache hit %s (%s)", name, key, final)
        link = self.run_dir / "stages" / name
        if self.cache_dir and not (link.is_symlink() and Path(os.readlink(link)) == final):
            tmp = link.with_name(f".{name}.link")  # (re)point: a rerun in this folder may use other stages
            if tmp.is_symlink():
                tmp.unlink()
            os.symlink(final, tmp)
            os.replace(tmp, link)
        return final

    def _beside_rank0(self, name: str, fn: Callable[[Path], dict | None], home: Path, final: Path, key: str) -> bool:
        """DDP rank > 0 (``trainer.devices`` > 1, or several SLURM tasks): every rank runs the whole
        pipeline, and rank 0 holds the stage's lock while its fits wait for every rank. So a rank > 0
        runs the stage beside it in a scratch folder (joining its collectives) and then takes the
        result rank 0 publishes; it never writes the cache entry itself."""
        self.current = name
        try:
            with tempfile.TemporaryDirectory(dir=home, prefix=f".{final.name}.rank") as scratch:
                fn(Path(scratch))
        finally:
            self.current = None
        deadline = time.monotonic() + RANK0_WAIT_S
        while not self._complete(final, key):
            if time.monotonic() > deadline:
                raise RewarddsError(f"stage {name}: rank {launch_rank()} waited {RANK0_WAIT_S:.0f} s for rank 0 "
                                    f"to publish it; see rank 0's error.txt")
            time.sleep(0.5)
        return True

    @staticmethod
    def _complete(final: Path, key: str) -> bool:
        """A finished stage folder for this key (without a cache the folder is named by stage, not key)."""
        try:
            return read_json(final / MANIFEST).get("key", key) == key
        except FileNotFoundError:
            return False

    def _compute(self, name, fn, final: Path, key: str) -> None:
        partial = final.with_name(final.name + ".partial")
        partial.mkdir(parents=True, exist_ok=True)  # kept across kills: holds checkpoints to resume from
        log.info("[%s] running", name)
        t0 = time.perf_counter()
        summary = fn(partial) or {}
        shutil.rmtree(partial / RESUME, ignore_errors=True)  # checkpoints are not artefacts
        write_json(partial / MANIFEST, {"stage": name, "key": key, "digest": digest_dir(partial), "summary": summary,
                                         "seconds": round(time.perf_counter() - t0, 3)})
        if final.exists():
            shutil.rmtree(final)
        os.replace(partial, final)
        log.info("[%s] done in %.1f s", name, time.perf_counter() - t0)
