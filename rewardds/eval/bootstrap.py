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

Everything is vectorised numpy; resamples are drawn in chunks of at most
``_CHUNK_ELEMS`` indices so a large test set does not need ``n_boot x n``
memory at once.
"""
from __future__ import annotations

from typing import Callable, Iterator, Mapping, Sequence, Union

import numpy as np

__all__ = ["bootstrap_ci", "resample_indices", "mean_statistic", "ratio_statistic"]

Statistic = Callable[[np.ndarray], np.ndarray]
PerItem = Union[Sequence[float], np.ndarray, Statistic]

_CHUNK_ELEMS = 1 << 21  # indices per chunk (16 MiB of int64)


def _index_chunks(n: int, n_boot: int, seed: int) -> Iterator[np.ndarray]:
    """The ``(n_boot, n)`` resampled indices, in row chunks; a pure function of (n, n_boot, seed)."""
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


def bootstrap_ci(per_item: PerItem | Mapping[str, PerItem], n_boot: int = 1000, alpha: float = 0.05, seed: int = 0,
                 *, n: int | None = None):
    """Percentile bootstrap ``(lo, hi)`` interval(s), resampling items.

    ``per_item``: per-item values (interval of their mean), a statistic function
    ``stat(idx) -> (B,) values`` (then ``n``, the number of items, is needed unless
    the function came from :func:`mean_statistic`/:func:`ratio_statistic`), or a
    dict name -> either of those, giving ``{name: (lo, hi)}`` with every entry
    computed on the same resampled indices.  No items -> ``(nan, nan)``.
    """
    if not isinstance(n_boot, (int, np.integer)) or n_boot < 1:
        raise ValueError(f"n_boot must be a positive integer, got {n_boot!r}")
    if not 0.0 < alpha < 1.0:
        raise ValueError(f"alpha must be in (0, 1), got {alpha!r}")
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
