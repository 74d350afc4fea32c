"""Trade risk from the liquidation map: stops beyond clusters, leverage, position size, targets.

Pure functions on floats (the stop, target and reward/risk helpers also take numpy arrays, so the
signal code can use them on whole columns). Nothing here imports Freqtrade; the strategy in
``user_data/strategies/LiqClusterStrategy.py`` only feeds them numbers and hands the results back.

Sign conventions: prices in quote currency (USDT), distances as fractions of the entry price
(0.02 = 2%), ``is_short`` False for a long. A long's stop and liquidation lie below its entry and its
target above; a short mirrors this.

Errors: a bad value of the trade at hand (a price, a stop on the wrong side, the wallet, an
overshoot, arrays that do not match) is an :class:`~liq_indicator.errors.InputError`; a bad
setting (a buffer, a multiple, a cap, a risk fraction) a :class:`~liq_indicator.errors.ConfigError`.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from typing import Any, TypeVar

import numpy as np

from liq_indicator.brackets import DEFAULT_PAIR, liquidation_price
from liq_indicator.core.clusters import dense_runs, held_span
from liq_indicator.errors import ConfigError, InputError

__all__ = [
    "breakeven_stop",
    "choose_leverage",
    "dense_zones",
    "own_liquidation_price",
    "planned_notional",
    "reward_risk",
    "stake_for_risk",
    "stop_beyond_cluster",
    "stop_distance",
    "stop_outside_zones",
    "target_price",
    "tighten_stop",
]

ArrayLike = TypeVar("ArrayLike", float, np.ndarray)

#: Freqtrade's default ``liquidation_buffer`` (config key of the same name): the bot exits a
#: position once price has covered ``1 - buffer`` of the way from entry to the exchange's
#: liquidation price (``freqtrade/exchange/exchange.py``, ``get_liquidation_price``).
FREQTRADE_LIQUIDATION_BUFFER = 0.05


def _out(value: np.ndarray, scalar: bool) -> Any:
    # Any: the caller's ArrayLike, a float when every input was a scalar (mypy cannot tie the two)
    return float(value) if scalar else value


def stop_beyond_cluster(
    price: ArrayLike,
    is_short: bool,
    cluster_far: ArrayLike,
    atr: ArrayLike,
    *,
    buffer_atr: float = 0.5,
    min_buffer_pct: float = 0.1,
    fallback_atr: float = 3.0,
    overshoot_pct: ArrayLike | float = math.nan,
) -> ArrayLike:
    """The stop price beyond the far edge of the nearest same-side cluster and its sweep zone.

    A long's stop goes below the far (lower) edge of the nearest long-liquidation cluster under
    price, by a volatility buffer; a short's above the far (upper) edge of the nearest short
    cluster over price. Stops inside a cluster get hunted: the cascade that sweeps the cluster runs
    through the stop, so the stop sits where the fuel has already burnt. A sweep that reaches the
    far edge runs on past it (on Binance BTC 5m, 2023-2025: a median 0.5%, 90th percentile 1.9%
    within the hour, docs/CLAIMS.md), so the buffer is
    ``max(overshoot_pct% of the edge, buffer_atr * atr, min_buffer_pct% of the edge)``: past the
    overshoot band (e.g. a quantile of the pair's past overshoots,
    :func:`liq_indicator.strategy.signals.overshoot_quantile`; NaN: none known, the floors alone
    apply), floored by the ATR, and never zero, so the stop is never inside the cluster. Without a
    cluster (NaN edge, or an edge on the wrong side of ``price``) the stop is
    ``fallback_atr * atr`` from ``price``.

    Args:
        price: Reference price (close of the signal candle, or the entry price).
        is_short: True for a short.
        cluster_far: ``liq_long_cluster_far`` (long) or ``liq_short_cluster_far`` (short).
        atr: Average true range at the signal candle (price units, > 0).
        buffer_atr: Buffer beyond the edge, in ATRs.
        min_buffer_pct: Smallest buffer, % of the edge price (> 0).
        fallback_atr: Stop distance in ATRs when there is no usable cluster.
        overshoot_pct: The sweep zone beyond the edge, % of the edge price (>= 0; NaN: unknown).

    Returns:
        The stop price (same shape as the inputs). NaN where ``atr`` or ``price`` is NaN.

    Raises:
        ConfigError: on a non-positive ``min_buffer_pct`` or a negative ATR multiple.
        InputError: on a negative ``overshoot_pct``.

    Example:
        >>> stop_beyond_cluster(100.0, False, 95.0, 1.0)   # 0.5 ATR below the far edge 95
        94.5
        >>> stop_beyond_cluster(100.0, False, 95.0, 1.0, overshoot_pct=2.0)   # 2% of 95 below it
        93.1
    """
    if not min_buffer_pct > 0:
        raise ConfigError(
            f"min_buffer_pct must be > 0 so a stop is never inside a cluster, got {min_buffer_pct}"
        )
    if buffer_atr < 0 or fallback_atr <= 0:
        raise ConfigError(
            f"buffer_atr must be >= 0 and fallback_atr > 0, got {buffer_atr}, {fallback_atr}"
        )
    scalar = (
        np.ndim(price) == 0
        and np.ndim(cluster_far) == 0
        and np.ndim(atr) == 0
        and np.ndim(overshoot_pct) == 0
    )
    p = np.asarray(price, dtype=np.float64)
    far = np.asarray(cluster_far, dtype=np.float64)
    vol = np.asarray(atr, dtype=np.float64)
    over = np.asarray(overshoot_pct, dtype=np.float64)
    if np.any(over < 0):
        raise InputError("overshoot_pct must be >= 0 (or NaN: unknown)")
    sign = 1.0 if is_short else -1.0  # direction of the stop from price
    usable = np.isfinite(far) & (far > 0) & ((far > p) if is_short else (far < p))
    edge = np.where(usable, far, p)
    buffer = np.maximum(buffer_atr * vol, min_buffer_pct / 100.0 * edge)
    buffer = np.fmax(buffer, over / 100.0 * edge)  # fmax: an unknown overshoot adds nothing
    with np.errstate(invalid="ignore"):
        stop = np.where(usable, far + sign * buffer, p + sign * fallback_atr * vol)
    stop = np.where(np.isfinite(p) & np.isfinite(vol), stop, np.nan)
    if not is_short:
        stop = np.where(stop > 0, stop, np.nan)  # a stop at or below zero is no stop
    return _out(stop, scalar)


def stop_distance(entry: ArrayLike, stop: ArrayLike, is_short: bool) -> ArrayLike:
    """Adverse distance from ``entry`` to ``stop`` as a fraction of ``entry`` (<= 0: wrong side)."""
    scalar = np.ndim(entry) == 0 and np.ndim(stop) == 0
    e = np.asarray(entry, dtype=np.float64)
    s = np.asarray(stop, dtype=np.float64)
    return _out((s - e) / e if is_short else (e - s) / e, scalar)


def stop_outside_zones(
    stop: float,
    is_short: bool,
    zones: Iterable[Sequence[float]],
    *,
    buffer_pct: float = 0.1,
) -> float:
    """Move a stop out of every liquidation zone it falls into, to the zone's far side.

    A stop inside a cluster is where that cluster's sweep runs through it. A long's stop inside a
    zone ``(low, high)`` moves to ``low`` minus ``buffer_pct`` % of ``low`` (a short's to ``high``
    plus the same), and again while the moved stop lands in another zone. NaN stays NaN.

    Args:
        stop: The stop price (e.g. :func:`stop_beyond_cluster`'s).
        is_short: True for a short (the stop moves up).
        zones: ``(low, high)`` price pairs (e.g. :func:`dense_zones` of the signal candle's map).
        buffer_pct: Distance beyond a zone's far side, % of that side's price (> 0).

    Returns:
        The stop, outside every zone.

    Raises:
        ConfigError: on a ``buffer_pct`` <= 0.

    Example:
        >>> stop_outside_zones(94.5, False, [(93.0, 95.0), (90.0, 91.0)], buffer_pct=1.0)
        92.07
    """
    if not buffer_pct > 0:
        raise ConfigError(f"buffer_pct must be > 0 so a stop leaves the zone, got {buffer_pct}")
    spans = sorted(
        ((min(z[0], z[1]), max(z[0], z[1])) for z in zones),
        key=lambda z: z[0],
        reverse=not is_short,
    )
    if not math.isfinite(stop):
        return stop
    for lo, hi in spans:  # nearest first in the stop's direction of travel
        if lo <= stop <= hi:
            stop = hi * (1.0 + buffer_pct / 100.0) if is_short else lo * (1.0 - buffer_pct / 100.0)
    return float(stop) if stop > 0 else math.nan


def target_price(
    entry: ArrayLike,
    stop: ArrayLike,
    is_short: bool,
    opposite_near: ArrayLike,
    *,
    fallback_rr: float = 2.0,
) -> ArrayLike:
    """Take-profit price: the near edge of the nearest opposite-side cluster.

    A long takes profit where the nearest short-liquidation cluster above begins
    (``liq_short_cluster_near``): that is where a squeeze would be fuelled and where price tends to
    be pulled. Without such a cluster (NaN, or not beyond ``entry``), the target is ``fallback_rr``
    times the stop distance from entry.

    Example:
        >>> target_price(100.0, 95.0, False, 108.0)
        108.0
        >>> target_price(100.0, 95.0, False, float("nan"))   # 2R
        110.0
    """
    scalar = np.ndim(entry) == 0 and np.ndim(stop) == 0 and np.ndim(opposite_near) == 0
    e = np.asarray(entry, dtype=np.float64)
    s = np.asarray(stop, dtype=np.float64)
    near = np.asarray(opposite_near, dtype=np.float64)
    usable = np.isfinite(near) & ((near < e) if is_short else (near > e))
    risk = np.abs(e - s)
    fallback = e - fallback_rr * risk if is_short else e + fallback_rr * risk
    return _out(np.where(usable, near, fallback), scalar)


def reward_risk(entry: ArrayLike, stop: ArrayLike, target: ArrayLike, is_short: bool) -> ArrayLike:
    """Reward over risk, ``|target - entry| / |entry - stop|`` signed by direction (NaN if risk <= 0)."""
    scalar = np.ndim(entry) == 0 and np.ndim(stop) == 0 and np.ndim(target) == 0
    e = np.asarray(entry, dtype=np.float64)
    risk = stop_distance(e, np.asarray(stop, dtype=np.float64), is_short) * e
    t = np.asarray(target, dtype=np.float64)
    reward = (e - t) if is_short else (t - e)
    with np.errstate(divide="ignore", invalid="ignore"):
        rr = np.where(risk > 0, reward / risk, np.nan)
    return _out(rr, scalar)


def own_liquidation_price(
    entry: float,
    leverage: float,
    is_short: bool,
    notional: float,
    *,
    liquidation_buffer: float = FREQTRADE_LIQUIDATION_BUFFER,
    exchange: str = "binance",
    symbol: str = DEFAULT_PAIR,
) -> float:
    """Where Freqtrade force-exits our own isolated position: the exchange's liquidation price moved
    towards entry by ``liquidation_buffer`` of the entry-liquidation distance.

    Freqtrade (``Exchange.get_liquidation_price``) computes ``buffer = |entry - LP| * liquidation_buffer``
    and exits at ``LP + buffer`` for a long (``LP - buffer`` for a short). The exchange formula is
    :func:`liq_indicator.liquidation_price` (isolated margin, wallet = initial margin).
    Freqtrade picks the maintenance bracket by the position's stake rather than its notional; the
    two agree in Binance's first BTCUSDT bracket (up to 300k USDT notional).

    Example:
        >>> round(own_liquidation_price(67_000, 10, False, 67_000), 2)   # 60,542.17 + 5% of 6,457.83
        60865.06
    """
    if not 0 <= liquidation_buffer < 1:
        raise ConfigError(f"liquidation_buffer must be in [0, 1), got {liquidation_buffer}")
    lp = liquidation_price(entry, leverage, is_short, notional, exchange=exchange, symbol=symbol)
    buffer = abs(entry - lp) * liquidation_buffer
    return max(lp - buffer if is_short else lp + buffer, 0.0)


def _inside(price: float, zones: Iterable[Sequence[float]]) -> bool:
    for zone in zones:
        lo, hi = min(zone[0], zone[1]), max(zone[0], zone[1])
        if lo <= price <= hi:
            return True
    return False


def choose_leverage(
    entry: float,
    stop: float,
    is_short: bool,
    *,
    max_leverage: float,
    notional: float,
    safety: float = 1.5,
    avoid: Iterable[Sequence[float]] = (),
    liquidation_buffer: float = FREQTRADE_LIQUIDATION_BUFFER,
    exchange: str = "binance",
    symbol: str = DEFAULT_PAIR,
) -> float:
    """The highest whole leverage up to ``max_leverage`` whose own liquidation is safely beyond the stop.

    A leverage qualifies when Freqtrade's buffered liquidation price (:func:`own_liquidation_price`)

    * lies beyond the stop with margin: its distance from entry is at least ``safety`` times the
      stop's (a stop that slips in a cascade still fills before liquidation), and
    * is not inside any of the ``avoid`` zones (estimated liquidation clusters, ``(low, high)``
      price pairs): a crowd liquidating there would drag our liquidation with it.

    Leverage is searched in whole steps (Binance takes integer leverage; Freqtrade floors it).

    Args:
        entry: Entry price.
        stop: Stop price (below entry for a long).
        is_short: True for a short.
        max_leverage: Cap (the strategy's and the exchange's, whichever is lower), >= 1.
        notional: Planned position notional (USDT); selects the maintenance bracket.
        safety: Required ratio of liquidation distance to stop distance (>= 1).
        avoid: Price zones the liquidation price must not fall into.
        liquidation_buffer: Freqtrade's ``liquidation_buffer``.
        exchange: Exchange of the bracket table.
        symbol: Pair of the bracket table.

    Returns:
        The leverage (a whole number >= 1). 1.0 when no leverage qualifies (then the stop is too
        far for any leverage and the caller should not trade; :func:`stop_distance` tells why).

    Raises:
        InputError: on a stop on the wrong side of entry.
        ConfigError: on ``max_leverage < 1`` or ``safety < 1``.

    Example:
        >>> choose_leverage(100.0, 97.0, False, max_leverage=20, notional=5_000)   # 3% stop
        19.0
        >>> choose_leverage(100.0, 90.0, False, max_leverage=20, notional=5_000)   # 10% stop
        6.0
    """
    dist = stop_distance(entry, stop, is_short)
    if not (math.isfinite(dist) and dist > 0):
        raise InputError(
            f"stop {stop} is not on the losing side of entry {entry} for a "
            f"{'short' if is_short else 'long'}"
        )
    if not max_leverage >= 1:
        raise ConfigError(f"max_leverage must be >= 1, got {max_leverage}")
    if not safety >= 1:
        raise ConfigError(f"safety must be >= 1, got {safety}")
    zones = [tuple(z) for z in avoid]
    for lev in range(int(math.floor(max_leverage)), 0, -1):
        liq = own_liquidation_price(
            entry,
            float(lev),
            is_short,
            notional,
            liquidation_buffer=liquidation_buffer,
            exchange=exchange,
            symbol=symbol,
        )
        liq_dist = (liq - entry) / entry if is_short else (entry - liq) / entry
        if liq_dist >= safety * dist and not _inside(liq, zones):
            return float(lev)
    return 1.0


def planned_notional(
    wallet: float,
    risk_fraction: float,
    entry: float,
    stop: float,
    is_short: bool,
    *,
    fee: float = 0.0,
) -> float:
    """Position notional (quote currency) that loses ``risk_fraction`` of ``wallet`` at the stop.

    ``wallet * risk_fraction / (stop distance + 2 * fee)``: the stop distance as a fraction of
    ``entry``, plus the entry and the exit fee on the notional. The leverage check sizes the
    maintenance bracket with it, and :func:`stake_for_risk` divides it by the leverage, so both
    see the same position.

    Raises:
        InputError: on a wallet <= 0 or a stop that is not on the losing side of entry.
        ConfigError: on a risk fraction outside (0, 1).

    Example:
        >>> planned_notional(10_000, 0.01, 100.0, 98.0, False)   # 100 USDT at risk over a 2% stop
        5000.0
    """
    if not 0 < risk_fraction < 1:
        raise ConfigError(f"risk_fraction must be in (0, 1), got {risk_fraction}")
    if not wallet > 0:
        raise InputError(f"wallet must be > 0, got {wallet}")
    dist = stop_distance(entry, stop, is_short)
    if not (math.isfinite(dist) and dist > 0):
        raise InputError(f"stop {stop} is not on the losing side of entry {entry}")
    return float(wallet * risk_fraction / (dist + 2.0 * fee))


def stake_for_risk(
    wallet: float,
    risk_fraction: float,
    entry: float,
    stop: float,
    leverage: float,
    is_short: bool,
    *,
    min_stake: float | None = None,
    max_stake: float = math.inf,
    fee: float = 0.0,
) -> float:
    """Margin (Freqtrade's stake) that loses ``risk_fraction`` of ``wallet`` if the stop is hit.

    ``stake = notional / leverage`` with the notional of :func:`planned_notional` (the stop distance
    plus entry and exit fee), clamped to ``[min_stake, max_stake]``. Clamping up
    to ``min_stake`` risks more than asked; Freqtrade's own minimum is a few USDT of margin, so this
    only matters for tiny wallets.

    Raises:
        InputError: on a leverage < 1, or as :func:`planned_notional`.
        ConfigError: as :func:`planned_notional`.

    Example:
        >>> stake_for_risk(10_000, 0.01, 100.0, 98.0, 5, False)   # 100 USDT at risk over a 2% stop
        1000.0
    """
    if not leverage >= 1:
        raise InputError(f"leverage must be >= 1, got {leverage}")
    stake = planned_notional(wallet, risk_fraction, entry, stop, is_short, fee=fee) / leverage
    if min_stake is not None:
        stake = max(stake, min_stake)
    return float(min(stake, max_stake))


def tighten_stop(current: float | None, candidate: float, is_short: bool) -> float:
    """The tighter of two stops (higher for a long, lower for a short); a NaN candidate is ignored."""
    if current is None or not math.isfinite(current):
        return candidate
    if not math.isfinite(candidate):
        return current
    return min(current, candidate) if is_short else max(current, candidate)


def breakeven_stop(
    entry: float,
    stop: float,
    best_price: float,
    is_short: bool,
    *,
    trigger_r: float = 1.0,
    lock_r: float = 0.0,
) -> float:
    """Move the stop to entry (plus ``lock_r`` R) once price has gone ``trigger_r`` R in favour.

    R is the initial stop distance. Returns ``stop`` unchanged before the trigger and never a looser
    stop. ``trigger_r <= 0`` disables the move.

    Example:
        >>> breakeven_stop(100.0, 95.0, 105.0, False)    # +1R reached: stop to entry
        100.0
        >>> breakeven_stop(100.0, 95.0, 104.0, False)
        95.0
    """
    risk = abs(entry - stop)
    if trigger_r <= 0 or not (math.isfinite(best_price) and risk > 0):
        return stop
    excursion = (entry - best_price) if is_short else (best_price - entry)
    if excursion < trigger_r * risk:
        return stop
    moved = entry - lock_r * risk if is_short else entry + lock_r * risk
    return tighten_stop(stop, moved, is_short)


def dense_zones(
    bin_prices: np.ndarray,
    notional: np.ndarray,
    *,
    density: float = 2.0,
    smooth_bins: int = 5,
) -> list[tuple[float, float]]:
    """Price zones where a liquidation profile is dense: every run of bins whose box-smoothed
    notional is at least ``density`` times the mean bin, as ``(low, high)`` bin-centre pairs.

    The estimator's cluster rule (:mod:`liq_indicator.core.clusters`: box sum, runs trimmed to the
    bins holding notional) applied to a whole profile (e.g. ``liquidation_map(...).long``), so a
    leverage check can avoid all clusters, not only the nearest. One difference, by design: the
    threshold is the mean of the profile given, where the kernel's is the mean over both sides'
    search ranges.

    Raises:
        InputError: when ``bin_prices`` and ``notional`` are not 1-d arrays of one length.
        ConfigError: on a ``smooth_bins`` that is not an odd int >= 1.

    Example:
        >>> dense_zones(np.arange(1.0, 11.0), np.r_[0, 0, 0, 9, 9, 0, 0, 0, 0, 0.0], smooth_bins=1)
        [(4.0, 5.0)]
    """
    prices = np.asarray(bin_prices, dtype=np.float64)
    values = np.asarray(notional, dtype=np.float64)
    if prices.shape != values.shape or prices.ndim != 1:
        raise InputError("bin_prices and notional must be 1-d arrays of one length")
    if len(values) == 0 or not np.nansum(values) > 0:
        return []
    if smooth_bins < 1 or smooth_bins % 2 == 0:
        raise ConfigError(f"smooth_bins must be an odd int >= 1, got {smooth_bins}")
    spans = (
        held_span(values, *run)
        for run in dense_runs(values, smooth_bins // 2, float(density * np.nanmean(values)))
    )
    return [
        (float(prices[a]), float(prices[b]))
        for a, b in (span for span in spans if span is not None)
    ]
