"""Trading claims of the liquidation-map sources, as computations one can test.

Two claims, pure functions on frames and arrays (no file I/O, no plotting;
``benchmarks/trading_claims.py`` runs them on the real history and writes docs/CLAIMS.md):

* **Stops outside clusters survive sweeps.** For one set of entries, a stop beyond the far edge of
  the nearest same-side cluster (:func:`cluster_levels`, i.e. :func:`liq_indicator.strategy.signals.trade_levels`,
  exactly what the strategy places) against volatility stops of the same median distance
  (:func:`atr_stop`, :func:`rank_matched_stop`): how often each is touched within a horizon, and what
  a simple exit rule earns after fees (:func:`simulate_trades`).
* **Entries after cascade exhaustion.** Forward returns (:func:`forward_returns`) after the events of
  :func:`exhaustion_events` against all candles, cascade onsets (:func:`cascade_onsets`) and the first
  touch of a cluster (:func:`first_touches`), de-duplicated within the horizon (:func:`dedupe`).

Timing, everywhere: an event or signal at candle ``t`` uses features known at ``t``'s close (the
features of :func:`liq_indicator.liquidation_features` are causal); the trade enters at the open of
candle ``t + 1``. Positions (``positions``) are integer row numbers of the signal candle.

Confidence intervals are percentile intervals of a block bootstrap (:func:`bootstrap_ci`): blocks
(e.g. calendar weeks, :func:`week_blocks`) are resampled whole, so overlapping trades and clustered
events inside a block keep their dependence.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from liq_indicator.errors import ConfigError, InputError
from liq_indicator.risk import target_price
from liq_indicator.strategy.signals import (
    SignalParams,
    cascade_intensity,
    entry_signals,
    setup_frame,
    sweep_zone,
    trade_levels,
)

__all__ = [
    "CI",
    "DEFAULT_PARAMS",
    "TAKER_FEE",
    "atr_multiple_for_median",
    "atr_stop",
    "bootstrap_ci",
    "bootstrap_diff_ci",
    "bootstrap_means",
    "cascade_onsets",
    "cluster_levels",
    "dedupe",
    "exhaustion_events",
    "first_touches",
    "fixed_r_target",
    "forward_returns",
    "in_range",
    "net_return",
    "opposite_cluster_target",
    "positions",
    "rank_matched_stop",
    "simulate_trades",
    "strategy_entries",
    "week_blocks",
]

#: Binance USDT-M taker fee per side (fraction of notional).
TAKER_FEE = 0.0005

#: The strategy's shipped thresholds.
DEFAULT_PARAMS = SignalParams()


def _side(is_short: bool) -> str:
    return "short" if is_short else "long"


# ------------------------------------------------------------------------------------------------
# events (boolean Series on the frame's index; True at the signal candle)


def exhaustion_events(
    frame: pd.DataFrame, is_short: bool, params: SignalParams = DEFAULT_PARAMS
) -> pd.Series:
    """Cascade exhaustion as the strategy detects it: conditions 1 and 2 of
    :mod:`liq_indicator.strategy.signals` (a cascade within ``lookback`` candles, and this candle swept at most
    ``exhaust_ratio`` of its peak and closed ``rebound_atr`` ATRs off the extreme), without the fuel,
    stop-size and context filters. ``frame`` as built by :func:`~liq_indicator.strategy.signals.strategy_features`.
    """
    setup = setup_frame(frame, is_short, params)
    return (setup["cascade"] & setup["exhausted"]).rename(f"exhaustion_{_side(is_short)}")


def strategy_entries(
    frame: pd.DataFrame, is_short: bool, params: SignalParams = DEFAULT_PARAMS
) -> pd.Series:
    """The strategy's entry signals (all five conditions; :func:`~liq_indicator.strategy.signals.entry_signals`)."""
    signals = entry_signals(frame, params)
    return (
        signals["enter_short" if is_short else "enter_long"]
        .astype(bool)
        .rename(f"strategy_{_side(is_short)}")
    )


def cascade_onsets(
    frame: pd.DataFrame, is_short: bool, params: SignalParams = DEFAULT_PARAMS
) -> pd.Series:
    """The first candle of a cascade: swept notional >= ``cascade_mult`` x its norm, and the candle
    before was not a cascade candle (entering *during* the cascade, the opposite of waiting for it to
    exhaust).
    """
    side = _side(is_short)
    intensity = cascade_intensity(frame, side, params.norm_window, params.norm_floor)
    cascade = intensity >= params.cascade_mult
    return (cascade & ~cascade.shift(1, fill_value=False)).rename(f"cascade_onset_{side}")


def first_touches(frame: pd.DataFrame, is_short: bool) -> pd.Series:
    """Price first reaching the nearest same-side cluster's near edge.

    Long side: candle ``t``'s low reaches ``liq_long_cluster_near`` of candle ``t - 1`` (the edge
    known before ``t`` opened), and candle ``t - 1`` did not touch the edge of ``t - 2`` (only the
    first candle of a run of touches counts). Short side: the high reaches ``liq_short_cluster_near``.
    Known at ``t``'s close, so a trade on it enters at ``t + 1``'s open like every other event here.
    """
    side = _side(is_short)
    near = frame[f"liq_{side}_cluster_near"].shift(1)
    touch = (frame["high"] >= near) if is_short else (frame["low"] <= near)
    return (touch & ~touch.shift(1, fill_value=False)).rename(f"first_touch_{side}")


def positions(mask: pd.Series | np.ndarray, start: int = 0) -> np.ndarray:
    """Row numbers (>= ``start``) where ``mask`` is True; NaN counts as False."""
    values = np.asarray(pd.Series(mask).fillna(False).to_numpy(dtype=bool))
    out = np.flatnonzero(values)
    return out[out >= start]


def dedupe(pos: Sequence[int] | np.ndarray, gap: int) -> np.ndarray:
    """Keep an event only if it comes at least ``gap`` rows after the last kept one (greedy, in order).

    With ``gap = h``, the forward returns over ``h`` candles of the kept events do not overlap: an
    event at ``t`` holds candles ``t+1 .. t+h`` and the next kept one starts at ``t' >= t + h``.

    Example:
        >>> dedupe([3, 4, 5, 9, 10, 20], 5).tolist()
        [3, 9, 20]
    """
    if gap < 1:
        raise ConfigError(f"gap must be >= 1, got {gap}")
    arr = np.asarray(pos, dtype=np.int64)
    if arr.size and np.any(np.diff(arr) < 0):
        raise InputError("positions must be sorted ascending; use np.sort(positions) first")
    kept: list[int] = []
    last = -(1 << 62)
    for p in arr.tolist():
        if p - last >= gap:
            kept.append(p)
            last = p
    return np.asarray(kept, dtype=np.int64)


def in_range(pos: Sequence[int] | np.ndarray, n: int, horizon: int) -> np.ndarray:
    """The positions whose trade (entry at ``t + 1``, ``horizon`` candles) ends inside ``n`` rows."""
    arr = np.asarray(pos, dtype=np.int64)
    return arr[(arr >= 0) & (arr + horizon <= n - 1)]


def week_blocks(dates: pd.Series | pd.DatetimeIndex | np.ndarray) -> np.ndarray:
    """Bootstrap block of each date: whole calendar weeks (Monday 00:00 UTC), as integers."""
    stamps = pd.DatetimeIndex(pd.to_datetime(np.asarray(dates), utc=True))
    days = (stamps - pd.Timestamp("1970-01-05", tz="UTC")) // pd.Timedelta(days=1)  # a Monday
    return np.asarray(days, dtype=np.int64) // 7


# ------------------------------------------------------------------------------------------------
# returns


def _ohlc(candles: pd.DataFrame) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    missing = [c for c in ("open", "high", "low", "close") if c not in candles.columns]
    if missing:
        raise InputError(f"candles lack column(s) {', '.join(missing)}")
    return tuple(candles[c].to_numpy(dtype=np.float64) for c in ("open", "high", "low", "close"))


def _check_positions(pos: np.ndarray, n: int, horizon: int) -> None:
    if horizon < 1:
        raise ConfigError(f"horizon must be >= 1 candle, got {horizon}")
    if pos.size and (pos.min() < 0 or pos.max() + horizon > n - 1):
        raise InputError(
            f"a signal position needs {horizon} candles after it (entry at t+1, exit by t+{horizon}) "
            f"inside the {n} rows; filter them with claims.in_range(positions, len(candles), {horizon})"
        )


def forward_returns(
    candles: pd.DataFrame, pos: Sequence[int] | np.ndarray, horizon: int, is_short: bool = False
) -> np.ndarray:
    """Return of a trade entered at the open of ``t + 1`` and closed at the close of ``t + horizon``,
    signed for the side (a short earns when price falls); before fees, as a fraction.

    Raises:
        InputError: when a position has fewer than ``horizon`` candles after it.

    Example: open[t+1] = 100, close[t+h] = 103 gives +0.03 long and -0.03 short.
    """
    open_, _, _, close = _ohlc(candles)
    arr = np.asarray(pos, dtype=np.int64)
    _check_positions(arr, len(open_), horizon)
    ret = close[arr + horizon] / open_[arr + 1] - 1.0
    return -ret if is_short else ret


def net_return(entry: Any, exit_price: Any, is_short: bool, fee: float = TAKER_FEE) -> np.ndarray:
    """Trade return per unit of entry notional after a ``fee`` on the entry and on the exit notional.

    ``sign * (exit - entry) / entry - fee * (1 + exit / entry)``.

    Example: a long from 100 to 102 with 0.05% per side: 0.02 - 0.0005 * 2.02 = 0.01899.
    """
    e = np.asarray(entry, dtype=np.float64)
    x = np.asarray(exit_price, dtype=np.float64)
    gross = (e - x) / e if is_short else (x - e) / e
    return gross - fee * (1.0 + x / e)


# ------------------------------------------------------------------------------------------------
# stops and targets


def cluster_levels(
    frame: pd.DataFrame,
    pos: Sequence[int] | np.ndarray,
    is_short: bool,
    params: SignalParams = DEFAULT_PARAMS,
) -> pd.DataFrame:
    """The strategy's trade plan for a trade signalled at each position: entry at the next open, stop
    beyond the nearest same-side cluster's far edge and its sweep zone (the ``stop_overshoot_q``
    quantile of past overshoots over the whole ``frame``, floored by the ATR buffer; 3 ATR without
    a usable cluster) and target at the opposite cluster's near edge (2R without one), from the signal
    candle's features: :func:`liq_indicator.strategy.signals.trade_levels` with ``entry = open[t + 1]``.

    Returns:
        Columns ``entry``, ``stop``, ``target``, ``stop_pct``, ``atr`` (of the signal candle), and
        ``has_cluster`` (the stop is beyond a cluster, not the ATR fallback); one row per position.
    """
    arr = np.asarray(pos, dtype=np.int64)
    if arr.size and arr.max() + 1 >= len(frame):
        raise InputError(
            "a signal position has no next candle to enter on; drop the last row's signals"
        )
    rows = frame.iloc[arr].reset_index(drop=True)
    if "sweep_zone_pct" not in rows.columns:  # the rolling quantile needs the whole frame
        rows["sweep_zone_pct"] = sweep_zone(frame, params)[arr]
    entry = frame["open"].to_numpy(dtype=np.float64)[arr + 1]
    levels = trade_levels(rows, is_short, params, entry=entry)
    far = rows[f"liq_{_side(is_short)}_cluster_far"].to_numpy(dtype=np.float64)
    has_cluster = np.isfinite(far) & ((far > entry) if is_short else (far < entry))
    return pd.DataFrame(
        {
            "entry": entry,
            "stop": levels["stop"].to_numpy(),
            "target": levels["target"].to_numpy(),
            "stop_pct": levels["stop_pct"].to_numpy(),
            "atr": rows[f"atr_{params.atr_window}"].to_numpy(dtype=np.float64),
            "has_cluster": has_cluster,
        }
    )


def atr_multiple_for_median(stop_frac: Any, atr_frac: Any) -> float:
    """The ATR multiple ``k`` whose stops ``k * atr`` have the same median distance as ``stop_frac``:
    ``median(stop distance) / median(atr / entry)`` (both as fractions of entry; NaNs ignored).

    Example:
        >>> atr_multiple_for_median([0.02, 0.03, 0.04], [0.01, 0.01, 0.02])
        3.0
    """
    num = float(np.nanmedian(np.asarray(stop_frac, dtype=np.float64)))
    den = float(np.nanmedian(np.asarray(atr_frac, dtype=np.float64)))
    if not (num > 0 and den > 0):
        raise InputError(f"need positive stop distances and ATRs, got medians {num} and {den}")
    return num / den


def atr_stop(entry: Any, atr: Any, is_short: bool, k: float) -> np.ndarray:
    """A stop ``k`` ATRs from ``entry`` on the losing side."""
    e = np.asarray(entry, dtype=np.float64)
    a = np.asarray(atr, dtype=np.float64)
    return e + k * a if is_short else e - k * a


def rank_matched_stop(entry: Any, atr: Any, is_short: bool, stop_frac: Any) -> np.ndarray:
    """Volatility stops with exactly the distance distribution of ``stop_frac``: the trade with the
    k-th smallest ``atr / entry`` gets the k-th smallest distance (ties in entry order).

    Separates *where* the cluster puts a stop from *how far* its stops are: same distances,
    reassigned by volatility alone.

    Example:
        >>> rank_matched_stop([100.0, 100.0, 100.0], [3.0, 1.0, 2.0], False, [0.05, 0.01, 0.02]).tolist()
        [95.0, 99.0, 98.0]
    """
    e = np.asarray(entry, dtype=np.float64)
    a = np.asarray(atr, dtype=np.float64)
    d = np.asarray(stop_frac, dtype=np.float64)
    if (
        not (e.shape == a.shape == d.shape)
        or not np.all(np.isfinite(d))
        or not np.all(np.isfinite(a / e))
    ):
        raise InputError("entry, atr and stop_frac must be finite arrays of one length")
    dist = np.empty_like(d)
    dist[np.argsort(a / e, kind="stable")] = np.sort(d)
    return e * (1.0 + dist) if is_short else e * (1.0 - dist)


def fixed_r_target(entry: Any, stop: Any, is_short: bool, r_multiple: float = 2.0) -> np.ndarray:
    """The target ``r_multiple`` times the stop distance from entry on the winning side."""
    e = np.asarray(entry, dtype=np.float64)
    risk = np.abs(e - np.asarray(stop, dtype=np.float64))
    return e - r_multiple * risk if is_short else e + r_multiple * risk


def opposite_cluster_target(
    frame: pd.DataFrame,
    pos: Sequence[int] | np.ndarray,
    is_short: bool,
    entry: Any,
    stop: Any,
    fallback_rr: float = 2.0,
) -> np.ndarray:
    """The strategy's target for any stop: the opposite cluster's near edge at the signal candle, or
    ``fallback_rr`` times this stop's distance without one (:func:`liq_indicator.risk.target_price`).
    """
    arr = np.asarray(pos, dtype=np.int64)
    near = frame[f"liq_{_side(not is_short)}_cluster_near"].to_numpy(dtype=np.float64)[arr]
    return np.asarray(
        target_price(
            np.asarray(entry, dtype=np.float64),
            np.asarray(stop, dtype=np.float64),
            is_short,
            near,
            fallback_rr=fallback_rr,
        )
    )


# ------------------------------------------------------------------------------------------------
# trade simulation


def _first_true(cond: np.ndarray) -> np.ndarray:
    """Index of the first True per row; the row length when there is none."""
    first = cond.argmax(axis=1)
    return np.where(cond.any(axis=1), first, cond.shape[1])


def simulate_trades(
    candles: pd.DataFrame,
    pos: Sequence[int] | np.ndarray,
    is_short: bool,
    stop: Any,
    target: Any | None,
    horizon: int,
    *,
    fee: float = TAKER_FEE,
    chunk: int = 4096,
) -> pd.DataFrame:
    """Trades signalled at ``pos``: entry at the open of ``t + 1``, exit at the stop, the target or the
    close of ``t + horizon``, whichever comes first.

    Modelling assumptions:

    * A long's stop fills when a candle's low reaches it, at the stop price, or at the candle's open
      if the candle opened beyond it (a gap fills worse); the target fills when the high reaches it,
      at the target or at a better open. Shorts mirror this.
    * When stop and target are both reached within one candle, the stop is assumed first
      (pessimistic: the order inside a candle is unknown).
    * The entry candle counts: its range after the open can reach the stop or the target.
    * Fees: ``fee`` on the entry and on the exit notional (:func:`net_return`); no slippage, no funding.

    Args:
        candles: Frame with ``open, high, low, close`` (row ``t`` = signal candle).
        pos: Signal positions (row numbers); each needs ``horizon`` candles after it (:func:`in_range`).
        is_short: True for shorts.
        stop: Stop price per position (below the entry open for a long).
        target: Target price per position, NaN (or None for all) for no target.
        horizon: Maximum holding, in candles (``t + 1 .. t + horizon``).
        fee: Fee per side, fraction of notional.
        chunk: Positions simulated at once (memory: ``chunk x horizon`` floats per array).

    Returns:
        One row per position: ``entry``, ``stop``, ``target``, ``exit``, ``reason`` ('stop', 'target',
        'time'), ``held`` (candles, 1 .. horizon), ``stop_touch`` (candle 1 .. horizon at which the stop
        was first touched, the target ignored; 0 if never), ``stop_frac`` (stop distance over entry),
        ``gross`` and ``net`` (return per unit notional) and ``r`` (``net / (stop_frac + 2 fee)``: in
        units of the planned loss at the stop including fees, as the strategy sizes trades).

    Raises:
        InputError: a stop on the wrong side of the entry (or NaN), or a position too near the end.
    """
    open_, high, low, close = _ohlc(candles)
    arr = np.asarray(pos, dtype=np.int64)
    _check_positions(arr, len(open_), horizon)
    entry = open_[arr + 1]
    stop_a = np.broadcast_to(np.asarray(stop, dtype=np.float64), arr.shape).copy()
    tgt_a = (
        np.full(arr.shape, np.nan)
        if target is None
        else np.broadcast_to(np.asarray(target, dtype=np.float64), arr.shape).copy()
    )
    with np.errstate(invalid="ignore"):
        ok = (stop_a > entry) if is_short else (stop_a < entry)
    if not np.all(ok):
        bad = int(np.flatnonzero(~ok)[0])
        raise InputError(
            f"stop {stop_a[bad]} of position {arr[bad]} is not on the losing side of the "
            f"entry {entry[bad]} (open of the next candle); drop such trades first"
        )
    n_pos = arr.size
    k_stop = np.empty(n_pos, dtype=np.int64)
    k_tgt = np.empty(n_pos, dtype=np.int64)
    o_stop = np.empty(n_pos)
    o_tgt = np.empty(n_pos)
    steps = np.arange(horizon)
    for a in range(0, n_pos, chunk):
        b = min(a + chunk, n_pos)
        rows = arr[a:b, None] + 1 + steps
        s = stop_a[a:b, None]
        t = tgt_a[a:b, None]
        with np.errstate(invalid="ignore"):  # NaN target: never reached
            if is_short:
                hit_s, hit_t = high[rows] >= s, low[rows] <= t
            else:
                hit_s, hit_t = low[rows] <= s, high[rows] >= t
        k_stop[a:b] = _first_true(hit_s)
        k_tgt[a:b] = _first_true(hit_t)
        o_stop[a:b] = open_[arr[a:b] + 1 + np.minimum(k_stop[a:b], horizon - 1)]
        o_tgt[a:b] = open_[arr[a:b] + 1 + np.minimum(k_tgt[a:b], horizon - 1)]
    by_stop = (k_stop < horizon) & (k_stop <= k_tgt)  # same candle: the stop first
    by_tgt = (k_tgt < horizon) & ~by_stop
    if is_short:
        stop_fill, tgt_fill = np.maximum(o_stop, stop_a), np.minimum(o_tgt, tgt_a)
    else:
        stop_fill, tgt_fill = np.minimum(o_stop, stop_a), np.maximum(o_tgt, tgt_a)
    time_fill = close[arr + horizon]
    exit_price = np.where(by_stop, stop_fill, np.where(by_tgt, tgt_fill, time_fill))
    reason = np.where(by_stop, "stop", np.where(by_tgt, "target", "time"))
    held = np.where(by_stop, k_stop + 1, np.where(by_tgt, k_tgt + 1, horizon))
    stop_frac = np.abs(stop_a - entry) / entry
    net = net_return(entry, exit_price, is_short, fee)
    gross = (entry - exit_price) / entry if is_short else (exit_price - entry) / entry
    return pd.DataFrame(
        {
            "pos": arr,
            "entry": entry,
            "stop": stop_a,
            "target": tgt_a,
            "exit": exit_price,
            "reason": reason,
            "held": held,
            "stop_touch": np.where(k_stop < horizon, k_stop + 1, 0),
            "stop_frac": stop_frac,
            "gross": gross,
            "net": net,
            "r": net / (stop_frac + 2.0 * fee),
        }
    )


# ------------------------------------------------------------------------------------------------
# bootstrap


@dataclass(frozen=True)
class CI:
    """A mean with its bootstrap confidence interval."""

    mean: float
    low: float
    high: float
    n: int
    """Observations behind the mean."""

    def fmt(self, scale: float = 1.0, digits: int = 1, sign: bool = True) -> str:
        """``'+1.2 [-0.3, +2.8]'`` after multiplying by ``scale``."""
        if self.n == 0 or not math.isfinite(self.mean):
            return "–"
        f = f"{{:{'+' if sign else ''}.{digits}f}}"
        return (
            f"{f.format(self.mean * scale)} [{f.format(self.low * scale)}, "
            f"{f.format(self.high * scale)}]"
        )

    @property
    def excludes_zero(self) -> bool:
        """Whether the interval lies wholly on one side of zero (False when empty)."""
        return self.n > 0 and (self.low > 0 or self.high < 0)


def bootstrap_means(
    groups: Sequence[tuple[Any, Any]], *, n_boot: int = 2000, seed: int = 0
) -> np.ndarray:
    """Block-bootstrap means of several groups resampled together.

    The blocks of all groups are pooled; each replicate draws as many blocks as the pool holds, with
    replacement, and every group's mean is its sum over the drawn blocks divided by its count (so a
    group's mean and the others' come from the same drawn weeks; differences of groups keep their
    common shocks). A group absent from all drawn blocks gets NaN in that replicate.

    Args:
        groups: ``(values, blocks)`` pairs; ``blocks`` is an integer block id per value, or None for
            one block per value (an i.i.d. bootstrap; then no other group may be given). NaN values
            are dropped.
        n_boot: Replicates.
        seed: Random seed.

    Returns:
        Array ``(n_boot, len(groups))`` of replicate means.
    """
    if n_boot < 1:
        raise ConfigError(f"n_boot must be >= 1, got {n_boot}")
    prepared = []
    for values, blocks in groups:
        v = np.asarray(values, dtype=np.float64)
        ids = (
            np.arange(v.size, dtype=np.int64)
            if blocks is None
            else np.asarray(blocks, dtype=np.int64)
        )
        if blocks is None and len(groups) > 1:
            raise ConfigError("groups resampled together need block ids (e.g. claims.week_blocks)")
        if ids.shape != v.shape:
            raise InputError(f"values and blocks differ in length ({v.size} vs {ids.size})")
        keep = np.isfinite(v)
        prepared.append((v[keep], ids[keep]))
    pool = (
        np.unique(np.concatenate([b for _, b in prepared])) if prepared else np.array([], np.int64)
    )
    if pool.size == 0:
        return np.full((n_boot, len(groups)), np.nan)
    sums = np.zeros((len(prepared), pool.size))
    counts = np.zeros((len(prepared), pool.size))
    for g, (v, ids) in enumerate(prepared):
        idx = np.searchsorted(pool, ids)
        np.add.at(sums[g], idx, v)
        np.add.at(counts[g], idx, 1.0)
    rng = np.random.default_rng(seed)
    out = np.empty((n_boot, len(prepared)))
    step = max(1, 4_000_000 // pool.size)
    for a in range(0, n_boot, step):
        b = min(a + step, n_boot)
        draws = rng.integers(0, pool.size, size=(b - a, pool.size))
        flat = (np.arange(b - a)[:, None] * pool.size + draws).ravel()
        weight = np.bincount(flat, minlength=(b - a) * pool.size).reshape(b - a, pool.size)
        weight = weight.astype(np.float64)  # how often each block is drawn, per replicate
        with np.errstate(invalid="ignore", divide="ignore"):
            out[a:b] = (weight @ sums.T) / (weight @ counts.T)
    return out


def _interval(mean: float, reps: np.ndarray, n: int, level: float) -> CI:
    if not 0 < level < 1:
        raise ConfigError(f"level must be in (0, 1), got {level}")
    reps = reps[np.isfinite(reps)]
    if n == 0 or reps.size == 0:
        return CI(float(mean), math.nan, math.nan, n)
    lo, hi = np.quantile(reps, [(1 - level) / 2, (1 + level) / 2])
    return CI(float(mean), float(lo), float(hi), n)


def bootstrap_ci(
    values: Any, blocks: Any = None, *, level: float = 0.95, n_boot: int = 2000, seed: int = 0
) -> CI:
    """Mean of ``values`` (NaNs dropped) with a percentile block-bootstrap interval.

    Args:
        values: Observations.
        blocks: Block id per observation (e.g. :func:`week_blocks` of the signal dates), or None for
            an i.i.d. bootstrap (only for observations that do not overlap).
        level: Coverage of the interval.
        n_boot: Replicates.
        seed: Random seed.

    Example:
        >>> bootstrap_ci([2.0, 2.0, 2.0])
        CI(mean=2.0, low=2.0, high=2.0, n=3)
    """
    v = np.asarray(values, dtype=np.float64)
    finite = v[np.isfinite(v)]
    mean = float(finite.mean()) if finite.size else math.nan
    reps = bootstrap_means([(v, blocks)], n_boot=n_boot, seed=seed)[:, 0]
    return _interval(mean, reps, int(finite.size), level)


def bootstrap_diff_ci(
    a: Any,
    a_blocks: Any,
    b: Any,
    b_blocks: Any,
    *,
    level: float = 0.95,
    n_boot: int = 2000,
    seed: int = 0,
) -> CI:
    """``mean(a) - mean(b)`` for two groups observed over the same calendar (e.g. events against all
    candles), both resampled by the same drawn blocks. ``n`` is the size of ``a``.

    For paired observations (two stops on the same trades) use :func:`bootstrap_ci` of the
    per-trade differences instead.
    """
    av = np.asarray(a, dtype=np.float64)
    bv = np.asarray(b, dtype=np.float64)
    reps = bootstrap_means([(av, a_blocks), (bv, b_blocks)], n_boot=n_boot, seed=seed)
    diff = reps[:, 0] - reps[:, 1]
    mean = (
        float(np.nanmean(av) - np.nanmean(bv))
        if np.isfinite(av).any() and np.isfinite(bv).any()
        else math.nan
    )
    return _interval(mean, diff, int(np.isfinite(av).sum()), level)
