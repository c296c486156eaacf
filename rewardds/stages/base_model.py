"""Stage 0: the public base models (proxy base and target base; KnowledgeSG's professional model).

For ``model.*.path=tiny`` the embedded model is trained on the public corpus
(cached like any stage); a real checkpoint is only checked and fingerprinted.
The professional model is its own step (only KnowledgeSG needs it): for
``model.professional.path=tiny`` a larger embedded model (``model.professional.tiny``)
pretrained on the same public corpus.
"""
from __future__ import annotations

import hashlib
from pathlib import Path

from omegaconf import OmegaConf

from rewardds.data import demo_dir, load_records
from rewardds.io import write_json
from rewardds.models.loading import check_model_dir, dtype_identity, with_dtype
from rewardds.models.tiny import pretrain_tiny
from rewardds.records import Record
from rewardds.stages.block import Block
from rewardds.stages.context import Context
from rewardds.stages.knowledgesg import ANSWER_WORDS, domain_request


def run(ctx: Context) -> dict[str, Path]:
    cfg = ctx.cfg
    out = {}
    for which in ("proxy", "target"):
        spec = cfg.model[which]
        if spec.path == "tiny":
            if "tiny" not in ctx.paths:
                ctx.paths["tiny"] = ctx.runner.run(
                    "base_model",
                    {"task": ctx.task, "tiny": OmegaConf.to_container(cfg.model.tiny), "max_length": spec.max_length,
                     "public": ctx.data.fingerprint("public")},
                    {},
                    lambda d: _pretrain(ctx, d, spec.max_length),
                )
            folder, digest = ctx.paths["tiny"] / "model", ctx.runner.manifest_digest(ctx.paths["tiny"])
        else:
            folder = check_model_dir(spec.path, f"model.{which}.path")
            digest = fingerprint_checkpoint(folder)
        # the folder carries model.<which>.dtype to the samplers; the dtype is part of the model's identity
        out[which], ctx.digests[which] = with_dtype(folder, spec.dtype), dtype_identity(digest, spec.dtype)
    ctx.paths["proxy_base"], ctx.paths["target_base"] = out["proxy"], out["target"]
    return out


def fingerprint_checkpoint(path: Path) -> str:
    """Cheap identity of an external checkpoint: its config and its files' sizes and times."""
    h = hashlib.sha256(str(path.resolve()).encode())
    for f in sorted(path.iterdir()):
        if f.is_file():
            st = f.stat()
            h.update(f"{f.name}:{st.st_size}:{int(st.st_mtime)}".encode())
    h.update((path / "config.json").read_bytes())
    return h.hexdigest()


def professional(ctx: Context) -> Path:
    """The professional model's folder, as ``ctx.paths["professional_base"]`` / ``ctx.digests["professional"]``
    (so a step input ``base:professional`` resolves like ``base:proxy``)."""
    spec = ctx.cfg.model.professional
    if spec.path == "tiny":
        tiny = OmegaConf.to_container(spec.tiny)
        folder = ctx.runner.run(
            "professional_model",
            {"task": ctx.task, "tiny": tiny, "max_length": spec.max_length, "public": ctx.data.fingerprint("public"),
             "corpus": "public+domain_judgements"},
            {},
            lambda d: _pretrain(ctx, d, spec.max_length, spec.tiny, professional_corpus(ctx.task, ctx.data.public)),
            kind="base_model",
        )
        path, digest = folder / "model", ctx.runner.manifest_digest(folder)
    else:
        path = check_model_dir(spec.path, "model.professional.path")
        digest = fingerprint_checkpoint(path)
    ctx.paths["professional_base"] = with_dtype(path, spec.dtype)
    ctx.digests["professional"] = dtype_identity(digest, spec.dtype)
    return path


def professional_corpus(task: str, public: list) -> list:
    """The task's public records plus yes/no domain judgements, all public: each public question of
    the task judged "Yes", as many public questions of the other tasks' demo corpora judged "No".
    A real domain model knows its domain; this teaches the embedded one the question it is asked."""
    yes, no = ANSWER_WORDS
    others = [r for t in sorted(DOMAIN_TASKS - {task}) for r in load_records(demo_dir(t) / "public.jsonl", t)]
    others = others[:: max(1, len(others) // max(1, len(public)))][: len(public)]
    judged = [Record(f"judge-yes-{i}", domain_request(task, r.question), yes) for i, r in enumerate(public)]
    judged += [Record(f"judge-no-{i}", domain_request(task, r.question), no) for i, r in enumerate(others)]
    return list(public) + judged


DOMAIN_TASKS = {"medical", "financial", "code"}


def _pretrain(ctx: Context, out: Path, max_length: int, tiny=None, corpus=None) -> dict:
    tiny = tiny if tiny is not None else ctx.cfg.model.tiny
    corpus = corpus if corpus is not None else ctx.data.public
    pretrain_tiny(ctx.task, corpus, tiny, max_length, out / "model", ctx.cfg.trainer)
    write_json(out / "info.json", {"kind": "tiny", "public_records": len(corpus)})
    return {"public_records": len(corpus)}


BASE_MODELS = Block("base_model", lambda ctx, step: run(ctx), cached=False)
PROFESSIONAL_MODEL = Block("base_model", lambda ctx, step: professional(ctx), cached=False)
