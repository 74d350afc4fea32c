"""Accuracy metrics of an estimate against real liquidations: pure functions on arrays and frames.

Shared by ``liq-indicator calibrate`` and the validation report; nothing here runs the estimator.

* **When** (bars ranked): :func:`spearman`, :func:`top_overlap`, :func:`top_precision`.
* **How much** (USD per bar): :func:`log_ratio`, :func:`no_sweep_share` with :func:`moved_bars`.
* **Per bar sums** of per-candle features: :func:`bar_sums`.
* **Uncertainty**: :func:`bootstrap_ci`, a moving-block bootstrap of any statistic over bars.
* **Where** (price bins a window crossed): :func:`emd_bp`, :func:`densest_capture`.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from liq_indicator.core.inputs import infer_timeframe
from liq_indicator.errors import InputError

__all__ = [
    "LogRatio",
    "TopOverlap",
    "bar_sums",
    "bootstrap_ci",
    "densest_capture",
    "emd_bp",
    "log_ratio",
    "moved_bars",
    "no_sweep_share",
    "spearman",
    "top_overlap",
    "top_precision",
]


def _pair(x: Any, y: Any) -> tuple[np.ndarray, np.ndarray]:
    """Both series as float arrays of one length, pairs with a NaN/inf in either dropped."""
    a = np.asarray(x, dtype=np.float64).ravel()
    b = np.asarray(y, dtype=np.float64).ravel()
    if a.shape != b.shape:
        raise InputError(f"the two series differ in length ({a.size} vs {b.size})")
    ok = np.isfinite(a) & np.isfinite(b)
    return a[ok], b[ok]


# ================================================================================================
# when: ranks
# ================================================================================================
def spearman(x: Any, y: Any) -> float:
    """Spearman rank correlation: Pearson correlation of average ranks (ties share their rank).

    Pairs with a NaN/inf in either series are dropped. Returns NaN for fewer than 3 pairs or
    when either series is constant (no ranking to compare).

    Example:
        >>> round(spearman([1, 2, 3, 4], [10, 30, 20, 40]), 12)  # 1 - 6 * 2 / (4 * 15)
        0.8
    """
    a, b = _pair(x, y)
    if a.size < 3 or a.min() == a.max() or b.min() == b.max():
        return math.nan
    # pandas' average ranks (ties share the mean of their ranks), centred
    ra = pd.Series(a).rank().to_numpy() - (a.size + 1) / 2
    rb = pd.Series(b).rank().to_numpy() - (a.size + 1) / 2
    return float(np.clip((ra @ rb) / math.sqrt((ra @ ra) * (rb @ rb)), -1.0, 1.0))


def _top_count(share: float, n: int, what: str) -> int:
    """``ceil(share * n)``, at least 1, robust to float error (``0.1 * 30`` is 3, not 4)."""
    if not 0 < share < 1:
        raise InputError(f"share must be in (0, 1), got {share}")
    if n == 0:
        raise InputError(f"no {what} to compare")
    return max(1, math.ceil(share * n - 1e-9))


@dataclass(frozen=True)
class TopOverlap:
    """Detection of the largest values: the predicted top set against the real top set."""

    precision: float
    """Share of predicted top rows that are real top rows."""
    recall: float
    """Share of real top rows that were predicted."""
    n_predicted: int
    n_real: int


def top_overlap(estimate: Any, real: Any, share: float = 0.05) -> TopOverlap:
    """Precision and recall of ``estimate``'s top ``share`` of rows as a detector of ``real``'s.

    ``k = ceil(share * n)``. The real top set is the ``k`` largest real values (ties at the
    boundary broken by position, earliest first); the predicted set is every row whose estimate
    is at least the ``k``-th largest estimate and above zero (so it can exceed ``k`` on ties, and
    an estimate of zero never counts as a detection).
    """
    e, r = _pair(estimate, real)
    n = e.size
    k = _top_count(share, n, "rows")
    real_top = np.zeros(n, dtype=bool)
    real_top[np.argsort(-r, kind="stable")[:k]] = True
    threshold = np.sort(e)[::-1][k - 1]
    pred_top = (e >= threshold) & (e > 0)
    hits = int((pred_top & real_top).sum())
    n_pred = int(pred_top.sum())
    return TopOverlap(hits / n_pred if n_pred else math.nan, hits / k, n_pred, k)


def top_precision(est: Any, real: Any, share: float = 0.05) -> float:
    """Share of ``est``'s top ``share`` of bars that are among ``real``'s top ``share``.

    The precision of :func:`top_overlap` (same tie and zero rules); NaN when the estimate is
    zero everywhere (no bar called). Chance level is about ``share``.

    Example:
        >>> top_precision([5, 1, 0, 2, 9, 3, 0, 1, 4, 2], [1, 2, 0, 1, 8, 2, 1, 0, 1, 9], 0.2)
        0.5
    """
    return top_overlap(est, real, share).precision


# ================================================================================================
# per-bar sums
# ================================================================================================
def bar_sums(
    features: pd.DataFrame,
    bar: str | pd.Timedelta,
    *,
    columns: Sequence[str] = ("liq_swept_long_usd", "liq_swept_short_usd"),
    timeframe: str | pd.Timedelta | None = None,
) -> pd.DataFrame:
    """Sum per-candle ``columns`` into bars of length ``bar``, keeping only complete bars.

    Bars are aligned as pandas ``resample`` aligns them (to midnight UTC for 1h, 4h and 1d:
    4h bars start at 00:00, 04:00, ..., as the CoinGlass 4h series does).

    Args:
        features: candle rows with a ``date`` column (candle open times), or a DatetimeIndex.
        bar: bar length, a whole number of candles (``"1h"``, ``"4h"``, ``"1D"``).
        columns: columns to sum.
        timeframe: candle length; inferred from the most common spacing when omitted.

    Returns:
        A frame indexed by bar start (``date``, UTC, unit us) with the summed columns; a bar
        missing any of its candles is dropped (a partial bar would otherwise look quiet).

    Raises:
        InputError: ``bar`` is not a whole number of candles, or a column is missing.

    Example:
        >>> f = pd.DataFrame({"date": pd.date_range("2024-01-01", periods=5, freq="30min"),
        ...                   "x": [1.0, 2.0, 3.0, 4.0, 5.0]})
        >>> bar_sums(f, "1h", columns=["x"])["x"].tolist()
        [3.0, 7.0]
    """
    dates = pd.DatetimeIndex(features["date"] if "date" in features.columns else features.index)
    missing = [c for c in columns if c not in features.columns]
    if missing:
        raise InputError(f"columns {missing} not found; have {list(features.columns)[:10]}")
    tf = pd.Timedelta(timeframe) if timeframe is not None else infer_timeframe(pd.Series(dates))
    expect = pd.Timedelta(bar) / tf
    if expect != int(expect) or expect < 1:
        raise InputError(f"{bar} is not a whole number of {tf} candles")
    values = features[list(columns)].set_axis(dates.as_unit("us"))
    g = values.resample(pd.Timedelta(bar))
    out = g.sum()
    out = out[g.size() == int(expect)]
    out.index.name = "date"
    return out


# ================================================================================================
# how much: USD
# ================================================================================================
@dataclass(frozen=True)
class LogRatio:
    """How far an estimate's USD is from the real USD, on bars where both are positive."""

    median: float
    """Median of ``log10(estimate / real)``: 0 = right on the typical bar, 1 = ten times too big."""
    slope: float
    """OLS slope of ``log10(estimate)`` on ``log10(real)``: 1 = proportional, below 1 = the
    estimate varies less than the truth (NaN for fewer than 3 bars or a constant truth)."""
    n: int
    """Bars used."""


def log_ratio(est: Any, real: Any) -> LogRatio:
    """Median log10 ratio and log-log slope of ``est`` against ``real``.

    Only bars with both values finite and above zero count (a bar the estimate left at zero is
    measured by :func:`no_sweep_share`, not here).

    Example:
        >>> log_ratio([10, 1000, 100000, 0], [1, 10, 100, 5])  # est = 10 * real**2
        LogRatio(median=2.0, slope=2.0, n=3)
    """
    e, r = _pair(est, real)
    ok = (e > 0) & (r > 0)
    le, lr = np.log10(e[ok]), np.log10(r[ok])
    n = int(ok.sum())
    if n == 0:
        return LogRatio(math.nan, math.nan, 0)
    median = float(np.median(le - lr))
    if n < 3 or lr.min() == lr.max():
        return LogRatio(median, math.nan, n)
    dr = lr - lr.mean()
    slope = float((dr * (le - le.mean())).sum() / (dr * dr).sum())
    return LogRatio(median, slope, n)


def moved_bars(bars: pd.DataFrame, side: str, *, threshold: float = 0.001) -> np.ndarray:
    """Whether each bar moved against ``side`` by at least ``threshold`` of its open.

    The adverse range is ``(open - low) / open`` for longs and ``(high - open) / open`` for
    shorts. The default 0.1% is above a 5m bar's typical tick noise and below the move of nearly
    any real 1h BTC bar, so a bar under it is one where no position could plausibly be swept;
    raise it for coarser bars or a quieter market.

    Args:
        bars: ``open``, ``high``, ``low`` per bar (the candles summed to the truth's bars).
        side: ``'long'`` or ``'short'``.
        threshold: minimum adverse range, a fraction (0.001 = 0.1%).

    Returns:
        Boolean array, one per bar.

    Example:
        >>> b = pd.DataFrame({"open": [100.0, 100.0], "high": [100.05, 101.0], "low": [99.5, 99.99]})
        >>> moved_bars(b, "long").tolist(), moved_bars(b, "short").tolist()
        ([True, False], [False, True])
    """
    if threshold < 0:
        raise InputError(f"threshold must be >= 0, got {threshold}")
    o = bars["open"].to_numpy(dtype=np.float64)
    if side == "long":
        adverse = (o - bars["low"].to_numpy(dtype=np.float64)) / o
    elif side == "short":
        adverse = (bars["high"].to_numpy(dtype=np.float64) - o) / o
    else:
        raise InputError(f"side must be 'long' or 'short', got {side!r}")
    return adverse >= threshold


def no_sweep_share(est: Any, moved: Any) -> float:
    """Share of bars with ``moved`` True whose estimate is zero (or below).

    NaN when no bar moved. Bars with a NaN estimate are left out.

    Example:
        >>> no_sweep_share([0, 5, 0, 2], [True, True, False, True])
        0.333...
    """
    e = np.asarray(est, dtype=np.float64).ravel()
    m = np.asarray(moved, dtype=bool).ravel()
    if e.shape != m.shape:
        raise InputError(f"est and moved differ in length ({e.size} vs {m.size})")
    keep = m & np.isfinite(e)
    n = int(keep.sum())
    return float((e[keep] <= 0).sum() / n) if n else math.nan


# ================================================================================================
# uncertainty
# ================================================================================================
def bootstrap_ci(
    stat: Callable[..., float],
    *arrays: Any,
    n_boot: int = 500,
    block: int | None = None,
    level: float = 0.9,
    seed: int = 0,
) -> tuple[float, float, float]:
    """A statistic of aligned per-bar arrays with a moving-block bootstrap percentile interval.

    Each replicate draws ``ceil(n / block)`` blocks of ``block`` consecutive bars (start uniform
    over the ``n - block + 1`` possible starts), joins them, cuts to ``n`` bars and applies
    ``stat`` to every array at the same rows, so bars' autocorrelation within a block and the
    arrays' pairing are kept. Replicates where ``stat`` is NaN are left out of the quantiles.

    Args:
        stat: function of the arrays (e.g. :func:`spearman`) returning a float.
        *arrays: one or more arrays of one length ``n`` (bars in time order).
        n_boot: replicates.
        block: block length in bars; ``round(n ** (1/3))`` (at least 1) when omitted.
        level: two-sided coverage of the interval.
        seed: random seed.

    Returns:
        ``(point, low, high)``: ``stat`` on the data as given and the interval's bounds (NaN
        bounds when no replicate is finite).

    Raises:
        InputError: no array, arrays of different lengths, fewer than 2 bars, or a block, level
            or replicate count out of range.

    Example:
        >>> x = np.arange(50.0)
        >>> bootstrap_ci(lambda a, b: float(np.mean(a - b)), x, x)
        (0.0, 0.0, 0.0)
    """
    if not arrays:
        raise InputError("bootstrap_ci needs at least one array")
    cols = [np.asarray(a) for a in arrays]
    n = cols[0].shape[0]
    if any(c.shape[0] != n for c in cols):
        raise InputError(f"arrays differ in length ({[c.shape[0] for c in cols]})")
    if n < 2:
        raise InputError(f"bootstrap_ci needs at least 2 bars, got {n}")
    if not 0 < level < 1:
        raise InputError(f"level must be in (0, 1), got {level}")
    if n_boot < 1:
        raise InputError(f"n_boot must be >= 1, got {n_boot}")
    b = max(1, round(n ** (1 / 3))) if block is None else int(block)
    if not 1 <= b <= n:
        raise InputError(f"block must be in [1, {n}] bars, got {block}")
    point = float(stat(*cols))
    rng = np.random.default_rng(seed)
    n_blocks = -(-n // b)
    starts = rng.integers(0, n - b + 1, size=(n_boot, n_blocks))
    rows = (starts[:, :, None] + np.arange(b)).reshape(n_boot, -1)[:, :n]
    reps = np.fromiter((stat(*(c[r] for c in cols)) for r in rows), dtype=np.float64, count=n_boot)
    reps = reps[np.isfinite(reps)]
    if reps.size == 0:
        return point, math.nan, math.nan
    lo, hi = np.quantile(reps, [(1 - level) / 2, (1 + level) / 2])
    return point, float(lo), float(hi)


# ================================================================================================
# where: price bins crossed by a window
# ================================================================================================
def _distributions(est: Any, truth: Any) -> tuple[np.ndarray, np.ndarray]:
    e = np.asarray(est, dtype=np.float64).ravel()
    t = np.asarray(truth, dtype=np.float64).ravel()
    if e.shape != t.shape:
        raise InputError(f"est and truth differ in length ({e.size} vs {t.size} bins)")
    if not (np.isfinite(e).all() and np.isfinite(t).all()) or (e < 0).any() or (t < 0).any():
        raise InputError("per-bin notionals must be finite and >= 0")
    return e, t


def emd_bp(est: Any, truth: Any, bin_bp: float) -> float:
    """Earth mover's distance between two per-bin distributions over one row of price bins, in bp.

    Both vectors are normalised to sum 1; the distance is ``sum(|cumsum(est) - cumsum(truth)|)
    * bin_bp``: the average distance, in basis points, the estimated mass must travel to match
    the real one. Bins must be consecutive and of equal width (the grid's log-spaced bins are).
    A flat vector is the uniform-spread baseline, a volume-at-price vector the volume-profile one.

    Args:
        est: estimated notional per bin (any scale).
        truth: real liquidated USD per bin, same bins.
        bin_bp: bin width in basis points.

    Returns:
        The distance in bp; NaN when either vector sums to zero (no distribution to compare:
        count such windows apart).

    Example:
        >>> emd_bp([1, 0, 0], [0, 0, 1], 10.0)
        20.0
        >>> emd_bp([1, 1, 1, 1], [0, 1, 1, 0], 10.0)
        5.0
    """
    if not bin_bp > 0:
        raise InputError(f"bin_bp must be > 0, got {bin_bp}")
    e, t = _distributions(est, truth)
    se, st = e.sum(), t.sum()
    if se <= 0 or st <= 0:
        return math.nan
    return float(np.abs(np.cumsum(e / se) - np.cumsum(t / st)).sum() * bin_bp)


def densest_capture(est: Any, truth: Any, share: float = 0.2) -> tuple[float, float]:
    """Share of the real USD that lies in the estimate's densest ``share`` of bins, and chance.

    The densest set holds ``k = ceil(share * n)`` bins: the ``k`` largest estimates. Bins tied at
    the boundary value share the remaining places equally (each counts with weight ``places /
    tied``), which is the expected capture of a random tie-break: a flat estimate, or a zero one,
    captures exactly the chance share, never more by the luck of bin order.

    Args:
        est: estimated notional per bin.
        truth: real liquidated USD per bin, same bins.
        share: the share of bins taken as densest, in (0, 1).

    Returns:
        ``(captured, chance)``: the share of ``truth``'s USD in the densest bins (NaN when truth
        sums to zero) and ``k / n``, the share a map with no information captures on average.

    Example:
        >>> densest_capture([5, 1, 1, 0, 0], [10, 0, 0, 0, 30], 0.2)
        (0.25, 0.2)
        >>> densest_capture([1, 1, 1, 1, 1], [10, 0, 0, 0, 30], 0.2)
        (0.2, 0.2)
    """
    e, t = _distributions(est, truth)
    n = e.size
    k = _top_count(share, n, "bins")
    kth = np.sort(e)[::-1][k - 1]
    above = e > kth
    tied = e == kth
    weight = above.astype(np.float64)
    weight[tied] = (k - int(above.sum())) / int(tied.sum())
    total = float(t.sum())
    captured = float(weight @ t) / total if total > 0 else math.nan
    return captured, k / n
