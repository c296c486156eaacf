"""Stage 0: the public base models (proxy base and target base).

For ``model.*.path=tiny`` the embedded model is trained on the public corpus
(cached like any stage); a real checkpoint is only checked and fingerprinted.
"""
from __future__ import annotations

import hashlib
from pathlib import Path

from omegaconf import OmegaConf

from rewardds.io import write_json
from rewardds.models.loading import check_model_dir
from rewardds.recipes.step import Block
from rewardds.stages.context import Context


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
            out[which] = ctx.paths["tiny"] / "model"
            ctx.digests[which] = ctx.runner.manifest_digest(ctx.paths["tiny"])
        else:
            out[which] = check_model_dir(spec.path, f"model.{which}.path")
            ctx.digests[which] = fingerprint_checkpoint(out[which])
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


def _pretrain(ctx: Context, out: Path, max_length: int) -> dict:
    from rewardds.models.tiny import pretrain_tiny

    pretrain_tiny(ctx.task, ctx.data.public, ctx.cfg.model.tiny, max_length, out / "model", ctx.cfg.trainer)
    write_json(out / "info.json", {"kind": "tiny", "public_records": len(ctx.data.public)})
    return {"public_records": len(ctx.data.public)}


BASE_MODELS = Block("base_model", lambda ctx, step: run(ctx), cached=False)
