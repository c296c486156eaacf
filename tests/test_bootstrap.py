"""rewardds.eval.bootstrap: percentile bootstrap intervals that resample test items."""
from __future__ import annotations

import math

import numpy as np
import pytest

from rewardds.eval.bootstrap import bootstrap_ci, mean_statistic, ratio_statistic, resample_indices


def test_hand_checked_tiny_cases():
    # values [0, 0, 0, 1]: a resample's mean is k/4 with k ~ Binomial(4, 1/4):
    # P(k=0) = 0.316, P(k<=2) = 0.949, P(k<=3) = 0.996, so the 2.5% quantile is 0 and
    # the 97.5% quantile is 3/4 (far from the cdf's jumps, so 20000 resamples settle it).
    assert bootstrap_ci([0, 0, 0, 1], n_boot=20000) == (0.0, 0.75)
    # values [0, 1]: means 0, 1/2, 1 with probabilities 1/4, 1/2, 1/4
    assert bootstrap_ci([0.0, 1.0], n_boot=20000) == (0.0, 1.0)
    # constant data and a single item have no spread
    assert bootstrap_ci([0.3] * 7) == pytest.approx((0.3, 0.3), abs=1e-15)
    assert bootstrap_ci([2.5]) == (2.5, 2.5)
    lo, hi = bootstrap_ci([])
    assert math.isnan(lo) and math.isnan(hi)


def test_ratio_statistic_hand_checked():
    # items (nll 2, 1 token) and (nll 0, 1 token): a resample of 2 items has mean NLL
    # 2, 1 or 0 with probabilities 1/4, 1/2, 1/4 -> perplexity e^2, e, 1.
    stat = ratio_statistic([2.0, 0.0], [1, 1], transform=np.exp)
    lo, hi = bootstrap_ci(stat, n=2, n_boot=20000)
    assert lo == pytest.approx(1.0) and hi == pytest.approx(math.e ** 2)
    # the statistic on all items in order is the point estimate: exp(sum / sum)
    point = ratio_statistic([3.0, 1.0, 2.0], [2, 1, 3], transform=np.exp)(np.arange(3)[None, :])
    assert point[0] == pytest.approx(math.exp(6.0 / 6))


def test_interval_contains_point_estimate():
    rng = np.random.default_rng(1)
    for n in (5, 24, 200):
        x = rng.normal(0.3, 0.1, size=n)
        lo, hi = bootstrap_ci(x)
        assert lo < x.mean() < hi
        nll, tok = rng.uniform(0.5, 3.0, size=n) * 10, rng.integers(5, 20, size=n)
        lo, hi = bootstrap_ci(ratio_statistic(nll, tok, transform=np.exp), n=n)
        assert lo < math.exp(nll.sum() / tok.sum()) < hi


def test_width_shrinks_like_one_over_sqrt_n():
    rng = np.random.default_rng(2)
    widths = {}
    for n in (100, 1600):
        x = rng.binomial(1, 0.3, size=n).astype(float)
        lo, hi = bootstrap_ci(x, n_boot=4000)
        widths[n] = hi - lo
    # 16 x the items -> about 1/4 the width (2 * 1.96 * sqrt(0.21 / n))
    assert widths[100] / widths[1600] == pytest.approx(4.0, rel=0.25)
    assert widths[1600] == pytest.approx(2 * 1.96 * math.sqrt(0.21 / 1600), rel=0.2)


def test_deterministic_for_a_seed():
    x = np.random.default_rng(3).normal(size=40)
    assert bootstrap_ci(x, seed=7) == bootstrap_ci(x, seed=7)
    assert bootstrap_ci(x, seed=7) != bootstrap_ci(x, seed=8)
    assert np.array_equal(resample_indices(40, 50, seed=7), resample_indices(40, 50, seed=7))
    # large n goes through chunks and stays deterministic
    big = np.random.default_rng(4).normal(size=5000)
    assert bootstrap_ci(big, n_boot=500) == bootstrap_ci(big, n_boot=500)


def test_metrics_of_one_model_share_the_resamples():
    x = np.random.default_rng(5).uniform(size=30)
    out = bootstrap_ci({"a": x, "b": x + 1.0, "c": mean_statistic(x)})
    assert set(out) == {"a", "b", "c"}
    # b = a + 1 item by item: with the same resampled items its interval is a's shifted by 1
    assert out["b"][0] == pytest.approx(out["a"][0] + 1.0) and out["b"][1] == pytest.approx(out["a"][1] + 1.0)
    assert out["c"] == pytest.approx(out["a"])
    assert out["a"] == bootstrap_ci(x)  # same seed, same n -> same indices as alone


def test_bad_input():
    with pytest.raises(ValueError, match="'b'"):
        bootstrap_ci({"a": [1.0, 2.0], "b": [1.0]})
    with pytest.raises(ValueError, match="alpha"):
        bootstrap_ci([1.0, 2.0], alpha=1.5)
    with pytest.raises(ValueError, match="n_boot"):
        bootstrap_ci([1.0, 2.0], n_boot=0)
    with pytest.raises(ValueError, match="n="):
        bootstrap_ci(lambda idx: idx.mean(axis=1))  # a bare function does not know n
    assert bootstrap_ci(lambda idx: idx.mean(axis=1), n=3, n_boot=200)[1] <= 2.0
    with pytest.raises(ValueError):
        ratio_statistic([1.0], [1, 2])
