"""rewardds.eval.bootstrap: percentile bootstrap intervals that resample test items."""
from __future__ import annotations

import math

import numpy as np
import pytest

from rewardds.eval.bootstrap import (
    bootstrap_ci,
    hierarchical_paired_bootstrap,
    mean_statistic,
    paired_bootstrap,
    ratio_statistic,
    resample_indices,
)


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


# --------------------------------------------------------------------------- paired differences


def test_paired_identical_models_differ_by_exactly_zero():
    x = np.random.default_rng(10).uniform(size=50)
    r = paired_bootstrap(x, x)
    assert r == {"diff": 0.0, "lo": 0.0, "hi": 0.0, "n": 50}
    nll, tok = np.random.default_rng(11).uniform(1, 5, size=50), np.arange(1, 51)
    ppl = ratio_statistic(nll, tok, transform=np.exp)
    assert paired_bootstrap(ppl, ppl) == {"diff": 0.0, "lo": 0.0, "hi": 0.0, "n": 50}


def test_paired_uses_the_same_items_for_both_sides():
    # model = against + 0.1 on every item: the difference is 0.1 on every resample, though the
    # two models' own intervals are wide (the items' difficulty cancels in the pairs)
    x = np.random.default_rng(12).uniform(size=40)
    r = paired_bootstrap(x + 0.1, x)
    assert r["diff"] == pytest.approx(0.1) and r["lo"] == pytest.approx(0.1) and r["hi"] == pytest.approx(0.1)
    lo_a, hi_a = bootstrap_ci(x)
    assert hi_a - lo_a > 0.1  # independent intervals would overlap
    # by hand: the per-resample difference on resample_indices (the indices bootstrap_ci uses)
    y = x + np.random.default_rng(13).normal(0.05, 0.1, size=40)
    idx = resample_indices(40, 1000, seed=0)
    d = y[idx].mean(axis=1) - x[idx].mean(axis=1)
    r = paired_bootstrap(y, x)
    assert (r["lo"], r["hi"]) == pytest.approx(tuple(np.quantile(d, [0.025, 0.975])))
    assert r["diff"] == pytest.approx(y.mean() - x.mean())


def test_paired_better_on_every_item_gives_an_interval_above_zero():
    rng = np.random.default_rng(14)
    x = rng.uniform(size=30)
    r = paired_bootstrap(x + rng.uniform(0.01, 0.2, size=30), x)
    assert 0 < r["lo"] < r["diff"] < r["hi"]
    r = paired_bootstrap(x, x + rng.uniform(0.01, 0.2, size=30))
    assert r["lo"] < r["diff"] < r["hi"] < 0


def test_paired_ratio_statistic_is_recomputed_per_side_then_differenced():
    rng = np.random.default_rng(15)
    nll_a, tok = rng.uniform(5, 20, size=25), rng.integers(3, 12, size=25)
    nll_m = nll_a * rng.uniform(0.6, 0.9, size=25)  # lower NLL on every item
    stat_m = ratio_statistic(nll_m, tok, transform=np.exp)
    stat_a = ratio_statistic(nll_a, tok, transform=np.exp)
    r = paired_bootstrap(stat_m, stat_a)
    idx = resample_indices(25, 1000, seed=0)
    d = np.exp(nll_m[idx].sum(1) / tok[idx].sum(1)) - np.exp(nll_a[idx].sum(1) / tok[idx].sum(1))
    assert (r["lo"], r["hi"]) == pytest.approx(tuple(np.quantile(d, [0.025, 0.975])))
    assert r["diff"] == pytest.approx(math.exp(nll_m.sum() / tok.sum()) - math.exp(nll_a.sum() / tok.sum()))
    assert r["hi"] < 0
    with pytest.raises(ValueError, match="same items"):
        paired_bootstrap([1.0, 2.0], [1.0])
    assert math.isnan(paired_bootstrap([], [])["diff"])


def test_hierarchical_over_seeds_hand_checked():
    base = np.random.default_rng(16).uniform(size=20)
    # one seed: exactly the item-level paired bootstrap
    one = hierarchical_paired_bootstrap([(base + 0.3, base)])
    alone = paired_bootstrap(base + 0.3, base)
    assert (one["diff"], one["lo"], one["hi"]) == (alone["diff"], alone["lo"], alone["hi"])
    # three seeds whose per-item difference is constant 0, 0.1, 0.2: item resampling adds nothing,
    # so a resample is the mean of 3 seeds drawn with replacement; P(all three the 0-seed) = 1/27 > 2.5%,
    # so the interval is exactly [0, 0.2]; the point is the mean over seeds of the per-seed difference
    pairs = [(base + d, base) for d in (0.0, 0.1, 0.2)]
    r = hierarchical_paired_bootstrap(pairs, n_boot=20000)
    assert r["diff"] == pytest.approx(0.1) and r["n_seeds"] == 3 and r["n"] == [20, 20, 20]
    assert r["lo"] == pytest.approx(0.0, abs=1e-12) and r["hi"] == pytest.approx(0.2)
    # the same difference in every seed: no spread from seeds
    same = hierarchical_paired_bootstrap([(base + 0.1, base)] * 3)
    assert same["lo"] == pytest.approx(0.1) and same["hi"] == pytest.approx(0.1)
    # item noise and seed spread both widen the interval; seeds may have different items
    rng = np.random.default_rng(17)
    noisy = [(x + rng.normal(0.05, 0.1, size=len(x)), x) for x in (rng.uniform(size=n) for n in (30, 40, 50))]
    r = hierarchical_paired_bootstrap(noisy)
    assert r["lo"] < r["diff"] < r["hi"] and r["n"] == [30, 40, 50]
    assert r == hierarchical_paired_bootstrap(noisy)  # deterministic for a seed
    assert hierarchical_paired_bootstrap(noisy, seed=1) != r
