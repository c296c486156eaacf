"""Distribution similarity of two text sets from their sentence embeddings (KnowledgeSG's evaluation).

Both numbers compare the private instructions with the synthetic ones (method.md section 2): they
are statistics of the private records, computed and kept on the client (``client_eval`` in
metrics.json, never in ``release/``).

* MAUVE (Pillutla et al., 2021) through the ``mauve-text`` package, given precomputed features
  only (``p_features``/``q_features``), so it never loads or downloads a featurising model.
  1 for the same distribution, near 0 for unrelated ones.
* FID: the Frechet distance between Gaussians fitted to the two embedding sets,
  ``|mu_p - mu_q|^2 + Tr(S_p + S_q - 2 (S_p S_q)^(1/2))`` (real part of the matrix square root).
  0 for the same mean and covariance; larger is farther.
"""
from __future__ import annotations

import numpy as np

__all__ = ["frechet_distance", "mauve_score"]


def _as_matrix(x, name: str) -> np.ndarray:
    a = np.asarray(x, dtype=np.float64)
    if a.ndim != 2 or a.shape[0] < 2:
        raise ValueError(f"{name}: expected a 2-D array with at least 2 rows (one embedding per row), got {a.shape}")
    return a


def frechet_distance(p, q) -> float:
    """Frechet distance of the Gaussians fitted to the rows of ``p`` and ``q`` (same width)."""
    from scipy.linalg import sqrtm

    p, q = _as_matrix(p, "p"), _as_matrix(q, "q")
    if p.shape[1] != q.shape[1]:
        raise ValueError(f"embedding widths differ: {p.shape[1]} vs {q.shape[1]}")
    mu_p, mu_q = p.mean(0), q.mean(0)
    s_p, s_q = np.atleast_2d(np.cov(p, rowvar=False)), np.atleast_2d(np.cov(q, rowvar=False))
    root = sqrtm(s_p @ s_q)
    if isinstance(root, tuple):  # older scipy returns (sqrtm, error estimate)
        root = root[0]
    value = float(np.sum((mu_p - mu_q) ** 2) + np.trace(s_p) + np.trace(s_q) - 2.0 * np.trace(np.real(root)))
    return max(value, 0.0)  # rounding can take a distance of identical sets a hair below 0


def mauve_score(p, q, seed: int = 0, num_buckets="auto") -> float:
    """MAUVE of two embedding sets (rows), from features only: nothing is featurised or downloaded."""
    import mauve

    p, q = _as_matrix(p, "p"), _as_matrix(q, "q")
    out = mauve.compute_mauve(p_features=p, q_features=q, num_buckets=num_buckets, seed=int(seed), verbose=False,
                              device_id=-1)
    return float(out.mauve)
