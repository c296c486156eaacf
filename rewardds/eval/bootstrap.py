"""Percentile bootstrap intervals over test items.

With a few dozen test questions a ROUGE-L difference of 0.01 is noise; these
intervals say how much a metric moves when the test set is redrawn.  Items
(questions, coding tasks) are resampled with replacement, ``n_boot`` times, and
the statistic is recomputed on each resample; the interval is the
``alpha/2`` and ``1 - alpha/2`` quantiles of those values (percentile method).

Every metric of one model is computed on the SAME resampled indices (they depend
only on ``n``, ``n_boot`` and ``seed``), so the metrics stay paired: an item
drawn twice counts twice for ROUGE and for perplexity alike.  Two models scored
on the same items with the same seed get the same resamples too.

A statistic is either a sequence of per-item values (its bootstrap statistic is
the mean) or a function ``stat(idx) -> values``: ``idx`` is an integer array of
shape ``(B, n)`` (B resamples of n item indices) and the result has shape
``(B,)``.  :func:`mean_statistic` and :func:`ratio_statistic` build the common
ones; a ratio such as corpus perplexity ``exp(sum NLL / sum tokens)`` is
recomputed from the resampled items, not averaged per item.

Paired differences (:func:`paired_bootstrap`): two models scored on the same
items are compared by resampling the items ONCE per resample and recomputing
both models' statistic on those same indices; the interval is that of
``stat(model) - stat(against)``.  The shared items' difficulty cancels in the
difference, so the interval is much narrower than two overlapping
per-model intervals suggest.  Over several seeds (one pair of models per seed)
:func:`hierarchical_paired_bootstrap` resamples seeds, then items within each
drawn seed.

Everything is vectorised numpy; resamples are drawn in chunks of at most
``_CHUNK_ELEMS`` indices so a large test set does not need ``n_boot x n``
memory at once.
"""
from __future__ import annotations

from typing import Callable, Iterator, Mapping, Sequence, Union

import numpy as np

__all__ = ["bootstrap_ci", "resample_indices", "mean_statistic", "ratio_statistic", "paired_bootstrap",
           "hierarchical_paired_bootstrap"]

Statistic = Callable[[np.ndarray], np.ndarray]
PerItem = Union[Sequence[float], np.ndarray, Statistic]

_CHUNK_ELEMS = 1 << 21  # indices per chunk (16 MiB of int64)


def _index_chunks(n: int, n_boot: int, seed) -> Iterator[np.ndarray]:
    """The ``(n_boot, n)`` resampled indices, in row chunks; a pure function of (n, n_boot, seed)
    (``seed``: an int or a ``numpy.random.SeedSequence``)."""
    rng = np.random.default_rng(seed)
    rows = max(1, _CHUNK_ELEMS // max(n, 1))
    for start in range(0, n_boot, rows):
        yield rng.integers(0, n, size=(min(rows, n_boot - start), n))


def resample_indices(n: int, n_boot: int = 1000, seed: int = 0) -> np.ndarray:
    """All resampled item indices as one ``(n_boot, n)`` array (the ones :func:`bootstrap_ci` uses)."""
    return np.concatenate(list(_index_chunks(n, n_boot, seed)), axis=0)


def mean_statistic(values) -> Statistic:
    """``stat(idx)``: the mean of the per-item ``values`` over each resample."""
    arr = np.asarray(values, dtype=float)
    if arr.ndim != 1:
        raise ValueError(f"per-item values must be one-dimensional, got shape {arr.shape}")

    def stat(idx: np.ndarray) -> np.ndarray:
        return arr[idx].mean(axis=1)

    stat.n = len(arr)  # type: ignore[attr-defined]
    return stat


def ratio_statistic(numerator, denominator, transform: Callable[[np.ndarray], np.ndarray] | None = None) -> Statistic:
    """``stat(idx)``: ``transform(sum numerator / sum denominator)`` over each resample.

    E.g. corpus perplexity: ``ratio_statistic(nll_sums, token_counts, np.exp)``.
    A resample whose denominator sums to 0 gives ``nan`` (ignored by the quantiles).
    """
    num = np.asarray(numerator, dtype=float)
    den = np.asarray(denominator, dtype=float)
    if num.ndim != 1 or num.shape != den.shape:
        raise ValueError(f"numerator and denominator must be 1-D of one length, got {num.shape} and {den.shape}")

    def stat(idx: np.ndarray) -> np.ndarray:
        top, bottom = num[idx].sum(axis=1), den[idx].sum(axis=1)
        with np.errstate(divide="ignore", invalid="ignore"):
            ratio = np.where(bottom > 0, top / np.where(bottom > 0, bottom, 1.0), np.nan)
        return transform(ratio) if transform is not None else ratio

    stat.n = len(num)  # type: ignore[attr-defined]
    return stat


def _as_statistic(item: PerItem) -> tuple[Statistic, int | None]:
    if callable(item):
        return item, getattr(item, "n", None)
    stat = mean_statistic(item)
    return stat, stat.n  # type: ignore[attr-defined]


def _percentiles(values: np.ndarray, alpha: float) -> tuple[float, float]:
    finite = values[~np.isnan(values)]
    if finite.size == 0:
        return float("nan"), float("nan")
    lo, hi = np.quantile(finite, [alpha / 2, 1 - alpha / 2])
    return float(lo), float(hi)


def _check(n_boot, alpha) -> None:
    if not isinstance(n_boot, (int, np.integer)) or n_boot < 1:
        raise ValueError(f"n_boot must be a positive integer, got {n_boot!r}")
    if not 0.0 < alpha < 1.0:
        raise ValueError(f"alpha must be in (0, 1), got {alpha!r}")


def bootstrap_ci(per_item: PerItem | Mapping[str, PerItem], n_boot: int = 1000, alpha: float = 0.05, seed: int = 0,
                 *, n: int | None = None):
    """Percentile bootstrap ``(lo, hi)`` interval(s), resampling items.

    ``per_item``: per-item values (interval of their mean), a statistic function
    ``stat(idx) -> (B,) values`` (then ``n``, the number of items, is needed unless
    the function came from :func:`mean_statistic`/:func:`ratio_statistic`), or a
    dict name -> either of those, giving ``{name: (lo, hi)}`` with every entry
    computed on the same resampled indices.  No items -> ``(nan, nan)``.
    """
    _check(n_boot, alpha)
    single = not isinstance(per_item, Mapping)
    items = {"": per_item} if single else dict(per_item)
    stats: dict[str, Statistic] = {}
    for name, item in items.items():
        stat, size = _as_statistic(item)
        if size is not None:
            if n is None:
                n = size
            elif size != n:
                raise ValueError(f"statistic {name!r} has {size} items, expected {n}")
        stats[name] = stat
    if n is None:
        raise ValueError("a statistic function needs n= (the number of items)")
    if n == 0:
        out = {name: (float("nan"), float("nan")) for name in stats}
    else:
        values: dict[str, list[np.ndarray]] = {name: [] for name in stats}
        for idx in _index_chunks(n, int(n_boot), seed):
            for name, stat in stats.items():
                values[name].append(np.asarray(stat(idx), dtype=float))
        out = {name: _percentiles(np.concatenate(v), alpha) for name, v in values.items()}
    return out[""] if single else out


# --------------------------------------------------------------------------- paired differences


def _pair(model: PerItem, against: PerItem, n: int | None) -> tuple[Statistic, Statistic, int]:
    """Both sides as statistics over one item count (the items are the same, in the same order)."""
    stat_m, n_m = _as_statistic(model)
    stat_a, n_a = _as_statistic(against)
    sizes = {s for s in (n, n_m, n_a) if s is not None}
    if len(sizes) > 1:
        raise ValueError(f"paired sides must score the same items, got {n_m} and {n_a} items (n={n})")
    if not sizes:
        raise ValueError("statistic functions need n= (the number of items)")
    return stat_m, stat_a, sizes.pop()


def _point(stat: Statistic, n: int) -> float:
    """The statistic on all items once, in order: the point estimate."""
    return float(np.asarray(stat(np.arange(n)[None, :]), dtype=float)[0])


def _diffs(stat_m: Statistic, stat_a: Statistic, n: int, n_boot: int, seed) -> np.ndarray:
    """``stat_m(idx) - stat_a(idx)`` on ``n_boot`` resamples, the same ``idx`` for both sides."""
    out = [np.asarray(stat_m(idx), dtype=float) - np.asarray(stat_a(idx), dtype=float)
           for idx in _index_chunks(n, n_boot, seed)]
    return np.concatenate(out)


def paired_bootstrap(model: PerItem, against: PerItem, n_boot: int = 1000, alpha: float = 0.05, seed: int = 0,
                     *, n: int | None = None) -> dict:
    """Paired percentile bootstrap of ``stat(model) - stat(against)`` over the same ``n`` items.

    Both sides are per-item values (statistic: their mean) or statistic functions
    (:func:`mean_statistic`, :func:`ratio_statistic`, or ``stat(idx)`` with ``n=``),
    item ``i`` of one side being item ``i`` of the other.  Each of the ``n_boot``
    resamples draws ``n`` item indices with replacement (the indices of
    :func:`bootstrap_ci` for the same ``n`` and ``seed``) and recomputes BOTH
    statistics on them, so ``d_b = stat_m(idx_b) - stat_a(idx_b)``; a ratio such
    as perplexity is recomputed per side on the resample, then differenced.
    Returns ``{"diff": stat_m(all) - stat_a(all), "lo", "hi", "n"}``: lo/hi are
    the ``alpha/2`` and ``1 - alpha/2`` quantiles of the ``d_b`` (resamples with
    an undefined statistic, e.g. no scored token, are left out).  No items: nan.
    """
    _check(n_boot, alpha)
    stat_m, stat_a, n = _pair(model, against, n)
    if n == 0:
        return {"diff": float("nan"), "lo": float("nan"), "hi": float("nan"), "n": 0}
    lo, hi = _percentiles(_diffs(stat_m, stat_a, n, int(n_boot), seed), alpha)
    return {"diff": _point(stat_m, n) - _point(stat_a, n), "lo": lo, "hi": hi, "n": n}


def hierarchical_paired_bootstrap(pairs: Sequence[tuple[PerItem, PerItem]], n_boot: int = 1000,
                                  alpha: float = 0.05, seed: int = 0) -> dict:
    """Two-level paired bootstrap of the mean over seeds of the per-seed paired difference.

    ``pairs``: one ``(model, against)`` per seed, as in :func:`paired_bootstrap`
    (the two sides of a pair score the same items; seeds may have different
    items).  Point estimate: ``mean_s [stat(model_s) - stat(against_s)]``.
    Resample ``b``: draw S seeds with replacement (counts ``c_bs`` ~
    Multinomial(S, 1/S)); for every drawn copy of seed s draw its items with
    replacement (an independent draw per copy) and take that copy's paired
    difference ``d``; the resample's value is ``(1/S) sum_s sum_{copies} d``.
    The interval: percentiles of those values.  This is the standard two-stage
    (cluster, then within-cluster) bootstrap (Davison & Hinkley 1997, sec. 3.8):
    it carries both the spread between seeds (training randomness) and the
    spread over test items.  With very few seeds (2-3) the seed level is a
    coarse, discrete draw; resampling items at the second level as well keeps
    the interval from collapsing to the few seed values and errs on the wide
    side.  One seed: exactly :func:`paired_bootstrap`.  Vectorised: seed s needs
    only ``max_b c_bs`` item resamples per ``b``.  Returns ``{"diff", "lo",
    "hi", "n_seeds", "n"}`` (``n``: items per seed, a list).
    """
    _check(n_boot, alpha)
    pairs = [_pair(m, a, None) for m, a in pairs]
    sizes = [p[2] for p in pairs]
    if not pairs or min(sizes) == 0:
        return {"diff": float("nan"), "lo": float("nan"), "hi": float("nan"), "n_seeds": len(pairs), "n": sizes}
    if len(pairs) == 1:
        one = paired_bootstrap(pairs[0][0], pairs[0][1], n_boot, alpha, seed, n=sizes[0])
        return {"diff": one["diff"], "lo": one["lo"], "hi": one["hi"], "n_seeds": 1, "n": sizes}
    n_seeds = len(pairs)
    streams = np.random.SeedSequence(seed).spawn(n_seeds + 1)
    counts = np.random.default_rng(streams[0]).multinomial(n_seeds, [1.0 / n_seeds] * n_seeds, size=int(n_boot))
    total = np.zeros(int(n_boot))
    for s, (stat_m, stat_a, n) in enumerate(pairs):
        copies = int(counts[:, s].max())
        if copies == 0:
            continue
        d = _diffs(stat_m, stat_a, n, int(n_boot) * copies, streams[s + 1]).reshape(int(n_boot), copies)
        drawn = np.arange(copies)[None, :] < counts[:, s][:, None]
        total += np.where(drawn, d, 0.0).sum(axis=1)
    lo, hi = _percentiles(total / n_seeds, alpha)
    diff = float(np.mean([_point(m, n) - _point(a, n) for m, a, n in pairs]))
    return {"diff": diff, "lo": lo, "hi": hi, "n_seeds": n_seeds, "n": sizes}

