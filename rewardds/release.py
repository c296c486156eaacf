"""The release boundary: ``<run_dir>/release/`` holds exactly what leaves the client.

What the client releases is its DP-trained components (the adapters) and the
privacy ledger that accounts for them. What the server builds from them is
post-processing and is released too: the synthetic data, the target adapter
and evaluation metrics on the public test split. Everything else in the run
folder and the cache is client-private: the client secret that keys the cache,
stage keys and timings of client stages, logs of the DP stages, the canary audit, the client-side
evaluations (metrics.json ``client_eval``).

Files are hard-linked from the cache when possible (they are never modified
afterwards), else copied; the folder is built as ``release.partial`` and renamed,
so a reader never sees half a release. ``manifest.json`` lists every file with its
SHA-256 and its role.
"""
from __future__ import annotations

import hashlib
import os
import shutil
from pathlib import Path

from rewardds.io import write_json, write_text

RELEASE = "release"


def _link_or_copy(src: Path, dst: Path) -> None:
    dst.parent.mkdir(parents=True, exist_ok=True)
    try:
        os.link(src, dst)
    except OSError:
        shutil.copy2(src, dst)


def _add_tree(src: Path, dst: Path, role: str, files: dict) -> None:
    for f in sorted(p for p in Path(src).rglob("*") if p.is_file()):
        rel = dst / f.relative_to(src)
        _link_or_copy(f, rel)
        files[rel] = role


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


CLIENT_ONLY_KEYS = ("stages", "wall_time_s", "client_eval")  # metrics.json keys never released


def released_metrics(metrics: dict, client_stages: set[str], test_is_private: bool = False) -> dict:
    """metrics.json without what is client-private: stage keys, cache paths, the wall time, timings and
    sampling statistics of ``client_stages`` (the client's steps and every step that reads the private
    records, such as PE's histograms), the client-side evaluations (``client_eval``: MAUVE/FID/copies/PII
    against the private records, canary exposure), and the test-set evaluations when the test items were
    held out of the private records (``task.data.holdout_test``: then they describe private records)."""
    stages = {name: {k: v for k, v in rec.items() if k in ("cache_hit", "seconds")}
              for name, rec in metrics.get("stages", {}).items() if name not in client_stages}
    keep = {k: v for k, v in metrics.items() if k not in CLIENT_ONLY_KEYS}
    if isinstance(keep.get("sampling"), dict):
        keep["sampling"] = {name: v for name, v in keep["sampling"].items() if name not in client_stages}
    if test_is_private:
        for key in ("eval", "paired"):
            keep.pop(key, None)
    keep["server_stages"] = stages
    return keep


def guarantee_text(privacy: dict) -> str:
    total = privacy["total"]
    if privacy["formal_guarantee"]:
        rep = total.get("replace_one") or {}
        replace = (f" For replacing one private record by another (replace-one) it is ({rep['epsilon']:.4g}, "
                   f"{rep['delta']:.3g})-differentially private (two zero-out steps)." if rep else "")
        return (f"The client's release is ({total['epsilon']:.4g}, {total['delta']:.3g})-differentially private "
                "for zero-out neighbours: replacing one private record by a null record that contributes nothing, "
                "so that the number of records N is the same, public, and stated below (the sample rate and the "
                "steps are computed from it). It is the composition of every DP mechanism below "
                f"({total['accountant']} accountant).{replace} Everything the server made from it is "
                "post-processing and costs no further budget." + paper_style_text(privacy))
    reason = privacy.get("guarantee_note") or "; ".join(n for n in privacy.get("notes", []) if "guarantee" in n)
    return f"This release has NO formal differential-privacy guarantee: {reason or 'see privacy.json'}."


def paper_style_text(privacy: dict) -> str:
    """With ``privacy.budget=per_model``: the papers' per-model figures, said to be beside the guarantee."""
    ps = privacy.get("paper_style")
    if not ps:
        return ""
    per = ", ".join(f"{n} {e:.4g}" for n, e in ps["epsilon_per_model"].items())
    return (f" Per model, as the papers report epsilon (privacy.budget=per_model, each component calibrated to "
            f"{ps['budget_per_model']:g} on its own): {per}, at delta {ps['delta']:.3g}; these figures are for "
            "comparison with the papers' tables, the release's guarantee is the composed one above.")


def write_release(run_dir: Path, privacy: dict, metrics: dict, files: dict[str, Path], client_stages: set[str]) -> Path:
    """Build ``run_dir/release``. ``files``: release path (``client/<component>/adapter``,
    ``server/synthetic/pool.jsonl``, ...) -> file or folder to publish there."""
    run_dir = Path(run_dir)
    final = run_dir / RELEASE
    partial = run_dir / f"{RELEASE}.partial"
    shutil.rmtree(partial, ignore_errors=True)
    partial.mkdir(parents=True)
    listed: dict[Path, str] = {}
    for rel, src in sorted(files.items()):
        side, what = rel.split("/")[0], rel.split("/")[1]
        role = (f"client: {what} (trained on the private records)" if side == "client"
                else f"server: {what} (computed from the client's release and public data)")
        if Path(src).is_dir():
            _add_tree(Path(src), partial / rel, role, listed)
        elif Path(src).exists():
            _link_or_copy(Path(src), partial / rel)
            listed[partial / rel] = role
    write_json(partial / "privacy.json", privacy)
    listed[partial / "privacy.json"] = "client: privacy ledger of the release"
    test_is_private = bool((privacy.get("private_data") or {}).get("holdout_test"))
    write_json(partial / "server" / "metrics.json", released_metrics(metrics, client_stages, test_is_private))
    listed[partial / "server" / "metrics.json"] = "server: evaluation on the public test split"
    components = sorted({rel.split("/")[1] for rel in files if rel.startswith("client/")})
    write_text(partial / "README.md", _readme(privacy, components))
    listed[partial / "README.md"] = "what this release is and what its guarantee covers"
    write_json(partial / "manifest.json", {
        "files": {str(p.relative_to(partial)): {"sha256": _sha256(p), "role": r} for p, r in sorted(listed.items())},
    })
    if final.exists():
        shutil.rmtree(final)
    os.replace(partial, final)
    return final


def _readme(privacy: dict, components: list[str]) -> str:
    data = privacy.get("private_data") or {}
    lines = [
        "# What this folder is",
        "",
        "Everything that leaves the client in this run, and what the server built from it.",
        "",
        "## The guarantee",
        "",
        guarantee_text(privacy),
        "",
    ]
    if data.get("statement"):
        lines += [f"The private data set: {data['statement']}", ""]
    lines += [
        "## Contents",
        "",
        "- `client/<component>/adapter/`: the models the client trained on its private records "
        f"({', '.join(components) or 'none: this method reads no private record'}), the only artefacts computed "
        "from private data.",
        "- `privacy.json`: the (epsilon, delta) of every DP component and of their composition.",
        "- `server/`: synthetic data, the target adapter and metrics on the public test split; all of it is "
        "computed from the client's release and public data only (post-processing).",
        "- `manifest.json`: every file with its SHA-256.",
        "",
        "Not here, and client-private: the run's logs and stage log, the stage cache and its secret key, "
        "timings of client stages, the canary audit, the client-side evaluations (`client_eval` of the run's "
        "metrics.json). Do not publish them.",
        "",
    ]
    return "\n".join(lines)
