"""MAUVE and FID of sentence-embedding sets (rewardds.eval.similarity)."""
from __future__ import annotations

import numpy as np
import pytest

from rewardds.eval.similarity import frechet_distance, mauve_score


def test_fid_matches_a_hand_computation_on_2d_gaussians():
    rng = np.random.default_rng(0)
    p = rng.normal(size=(400, 2)) @ np.array([[2.0, 0.0], [0.5, 1.0]]) + [1.0, -1.0]
    q = rng.normal(size=(300, 2)) * [0.5, 3.0]
    mu1, mu2 = p.mean(0), q.mean(0)
    s1, s2 = np.cov(p.T), np.cov(q.T)
    # sqrt of s1 s2 by hand: its eigenvalues are real and positive (product of two SPD matrices)
    w, v = np.linalg.eig(s1 @ s2)
    root = (v @ np.diag(np.sqrt(w)) @ np.linalg.inv(v)).real
    want = np.sum((mu1 - mu2) ** 2) + np.trace(s1 + s2 - 2 * root)
    assert frechet_distance(p, q) == pytest.approx(want, rel=1e-6)
    assert frechet_distance(p, p) == pytest.approx(0.0, abs=1e-6)
    # same covariance, shifted mean: exactly the squared shift
    assert frechet_distance(p, p + [3.0, 4.0]) == pytest.approx(25.0, rel=1e-6)


def test_fid_refuses_mismatched_or_too_small_sets():
    with pytest.raises(ValueError, match="widths"):
        frechet_distance(np.zeros((3, 2)), np.zeros((3, 3)))
    with pytest.raises(ValueError, match="at least 2 rows"):
        frechet_distance(np.zeros((1, 2)), np.zeros((3, 2)))


@pytest.fixture(scope="module")
def embeddings():
    """Real all-MiniLM-L6-v2 embeddings of small demo question sets (medical and code)."""
    from rewardds.data import demo_dir, load_records
    from rewardds.stages.private_evolution import Encoder

    enc = Encoder()
    med = [r.question for r in load_records(demo_dir("medical") / "private.jsonl", "medical")[:80]]
    code = [r.question for r in load_records(demo_dir("code") / "private.jsonl", "code")[:40]]
    return enc.encode(med[:40]), enc.encode(med[40:80]), enc.encode(code)


def test_mauve_is_near_one_for_the_same_set_and_low_for_unrelated_text(embeddings):
    med_a, med_b, code = embeddings
    assert mauve_score(med_a, med_a) > 0.99
    assert mauve_score(med_a, med_b) > 0.5  # two samples of one distribution
    assert mauve_score(med_a, code) < 0.1  # medical questions vs programming tasks
    assert frechet_distance(med_a, code) > 3 * frechet_distance(med_a, med_b)
