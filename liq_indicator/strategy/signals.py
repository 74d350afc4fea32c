"""Trading signals from the liquidation map: entries after a cascade has exhausted, exits at the
opposite cluster or after a time limit, and alert conditions. Pure pandas; no Freqtrade import.

The long setup (shorts mirror it after a short squeeze), evaluated at the close of candle ``t``:

1. **Cascade.** Within the last ``lookback`` candles (``t - lookback .. t - 1``) a candle swept long
   notional at least ``cascade_mult`` times its own recent norm (the mean swept notional of the
   ``norm_window`` candles before it, floored by ``norm_floor`` of the mean traded notional so a
   quiet day does not make every sweep a cascade).
2. **Exhaustion.** Candle ``t`` swept at most ``exhaust_ratio`` of the cascade's peak candle, and
   closed at least ``rebound_atr`` ATRs above the lowest low since the window began (the wick: the
   cascade's extreme was absorbed).
3. **Fuel spent.** No long cluster holding at least ``fuel_ratio`` times the cascade's peak lies
   within ``fuel_dist_pct`` % below the close: otherwise the next leg of the cascade is loaded.
4. **A trade worth taking.** The stop beyond the nearest long cluster (:func:`trade_levels`) is at
   most ``max_stop_pct`` % away and the target (the nearest short cluster above) pays at least
   ``min_rr`` times the risk.
5. **Context.** Funding below ``funding_max`` (longs are not crowded) and open interest not up more
   than ``oi_max_change`` over the window (the cascade flushed positions rather than new ones
   piling in). Missing funding or open interest passes the filter.

Every input of candle ``t`` is known at its close, so the signal is causal; Freqtrade enters at the
next candle's open.

**Recorded liquidations.** On rows where ``liq_cascade_real`` is 1 (set by
:class:`~liq_indicator.strategy.glue.CascadeSource` when recorded liquidations are fresh), steps 1
and 2 read ``liq_real_long_usd`` / ``liq_real_short_usd`` instead of ``liq_swept_*``: the norm, the
cascade's peak and the signal candle's sweep all come from the recorded series, so no norm
averages the two scales. The floor stays a fraction of traded notional, a market quantity of
neither source. Step 3 compares the map's cluster with the map's own peak sweep, on either row.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, fields
from typing import Any

import numpy as np
import pandas as pd

from liq_indicator.config import HeatmapConfig, Settings
from liq_indicator.core.inputs import merge_side, open_interest_usd
from liq_indicator.errors import ConfigError, DataWarning, InputError
from liq_indicator.estimator import Venue, liquidation_features
from liq_indicator.risk import (
    reward_risk,
    stop_beyond_cluster,
    stop_distance,
    stop_outside_zones,
    target_price,
)
from liq_indicator.style import format_usd

__all__ = [
    "STRATEGY_COLUMNS",
    "OVERSHOOT_HORIZON",
    "OVERSHOOT_REACH",
    "STRATEGY_HEATMAP",
    "SignalParams",
    "alert_messages",
    "atr",
    "cascade_intensity",
    "cascade_sweeps",
    "entry_signals",
    "exit_roi",
    "overshoot_quantile",
    "setup_frame",
    "strategy_features",
    "sweep_overshoots",
    "sweep_zone",
    "trade_levels",
    "trade_plan",
]

#: The map the strategy trades on: the ``design`` preset's model (five leverage spikes: the
#: strategy's cluster rules were built and tested on its clusters; moving the strategy to the
#: calibrated map is issue #18) with half-lives of 18/12/8/4/2 hours instead of 336/168/72/36/12. Freqtrade live loads at most ~2,500 candles at start (Binance futures: 5
#: calls of 499), and a level's weight after N hours is 2**(-N/H): with H <= 18 h, what is older
#: than the 2,000-candle (6.9-day) start-up window weighs 2**(-9.3) = 0.16% at most, so the features
#: computed from the start-up window match those from full history (see docs/STRATEGY.md).
STRATEGY_HEATMAP = HeatmapConfig.preset("design", half_life_hours=(18.0, 12.0, 8.0, 4.0, 2.0))

#: The ``liq_`` columns the strategy keeps (and reads); the others are dropped from its dataframe.
STRATEGY_COLUMNS: tuple[str, ...] = (
    "liq_swept_long_usd",
    "liq_swept_short_usd",
    "liq_long_cluster_price",
    "liq_long_cluster_near",
    "liq_long_cluster_far",
    "liq_long_cluster_usd",
    "liq_long_cluster_dist_pct",
    "liq_short_cluster_price",
    "liq_short_cluster_near",
    "liq_short_cluster_far",
    "liq_short_cluster_usd",
    "liq_short_cluster_dist_pct",
    "liq_long_2pct_usd",
    "liq_short_2pct_usd",
    "liq_oi_mode",
)

#: A swept far edge's overshoot is how far price ran past it within this many candles from the
#: candle that reached it (12 x 5m = one hour) ...
OVERSHOOT_HORIZON = 12
#: ... counting edges reached within this many candles after they were the nearest cluster's far
#: edge (144 x 5m = 12 h). Both stay well inside the 2,000-candle start-up window with the
#: quantile's window (:attr:`SignalParams.overshoot_window`), so live and backtest agree.
OVERSHOOT_REACH = 144


@dataclass(frozen=True)
class SignalParams(Settings):
    """Thresholds of the setup, the stop and the exit; defaults as the strategy ships them."""

    norm_window: int = 288
    """Candles in the swept-notional norm (288 x 5m = one day)."""
    norm_floor: float = 0.005
    """The norm is at least this fraction of the mean traded notional per candle."""
    cascade_mult: float = 20.0
    """A cascade candle sweeps at least this multiple of the norm."""
    lookback: int = 6
    """The cascade must lie within this many candles before the signal candle."""
    exhaust_ratio: float = 0.25
    """The signal candle sweeps at most this fraction of the cascade's peak candle."""
    rebound_atr: float = 1.0
    """Close at least this many ATRs off the cascade's extreme."""
    fuel_dist_pct: float = 1.5
    """A same-side cluster within this distance (% of close) is fuel still waiting ..."""
    fuel_ratio: float = 1.0
    """... when it holds at least this multiple of the cascade's peak swept notional."""
    atr_window: int = 14
    """Candles of the average true range (simple mean, so it converges in finite time)."""
    stop_overshoot_q: float = 0.9
    """Stop beyond the cluster's far edge by this quantile of the pair's recent sweep overshoots
    (:func:`overshoot_quantile`; 0: off) ..."""
    overshoot_window: int = 1440
    """... over the overshoots that became known in the last this many candles (1440 x 5m = 5
    days) ..."""
    overshoot_min_events: int = 5
    """... when at least this many are known (else the ATR and % floors alone apply) ..."""
    stop_buffer_atr: float = 0.5
    """... and by at least this many ATRs ..."""
    stop_min_buffer_pct: float = 0.1
    """... and at least this % of price."""
    fallback_stop_atr: float = 3.0
    """Stop distance in ATRs when there is no same-side cluster within range."""
    max_stop_pct: float = 6.0
    """Skip setups whose stop is farther than this (% of close)."""
    min_rr: float = 1.0
    """Skip setups whose target pays less than this multiple of the risk."""
    fallback_rr: float = 2.0
    """Target at this multiple of the risk when there is no opposite cluster."""
    funding_max: float = 0.0005
    """Skip longs when funding >= this (0.05% per 8 h), shorts when funding <= -this."""
    oi_max_change: float = 0.02
    """Skip longs (shorts) when open interest rose more than this fraction over the window."""
    max_hold_candles: int = 72
    """Exit after this many candles (72 x 5m = 6 h) if neither stop nor target was hit."""
    alert_dist_pct: float = 2.0
    """Alerts: clusters within this distance of price ..."""
    alert_growth: float = 0.5
    """... that appeared or grew by at least this fraction over ``lookback`` candles."""

    def __post_init__(self) -> None:
        self.check_types()
        for name in (
            "norm_window",
            "lookback",
            "atr_window",
            "max_hold_candles",
            "overshoot_window",
            "overshoot_min_events",
        ):
            value = getattr(self, name)
            if not (isinstance(value, int | np.integer) and value >= 1):
                raise ConfigError(f"SignalParams.{name} must be an int >= 1, got {value!r}")
        for f in fields(self):
            value = getattr(self, f.name)
            if not math.isfinite(value) or value < 0:
                raise ConfigError(
                    f"SignalParams.{f.name} must be a finite number >= 0, got {value!r}"
                )
        if not 0 < self.exhaust_ratio <= 1:
            raise ConfigError(
                f"SignalParams.exhaust_ratio must be in (0, 1], got {self.exhaust_ratio}"
            )
        if not self.stop_overshoot_q < 1:
            raise ConfigError(
                f"SignalParams.stop_overshoot_q must be in [0, 1) (a quantile; 0 turns it off), "
                f"got {self.stop_overshoot_q}"
            )
        if not self.stop_min_buffer_pct > 0 or not self.fallback_stop_atr > 0:
            raise ConfigError("SignalParams.stop_min_buffer_pct and fallback_stop_atr must be > 0")


# ------------------------------------------------------------------------------------------------
# features


def atr(df: pd.DataFrame, window: int = 14) -> pd.Series:
    """Average true range: the simple mean of the true range over ``window`` candles.

    A simple mean (not Wilder's recursive smoothing) depends on the last ``window`` candles only,
    so it is identical however much history precedes them. NaN for the first ``window - 1`` rows.
    """
    prev_close = df["close"].shift(1)
    true_range = pd.concat(
        [df["high"] - df["low"], (df["high"] - prev_close).abs(), (df["low"] - prev_close).abs()],
        axis=1,
    ).max(axis=1)
    return true_range.rolling(window, min_periods=window).mean()


def strategy_features(
    candles: pd.DataFrame,
    config: HeatmapConfig = STRATEGY_HEATMAP,
    *,
    open_interest: pd.DataFrame | None = None,
    funding: pd.DataFrame | None = None,
    atr_window: int = 14,
    keep: tuple[str, ...] | None = STRATEGY_COLUMNS,
    venues: Sequence[Venue] = (),
) -> pd.DataFrame:
    """Everything the strategy's ``populate_indicators`` adds, in one call.

    Adds the liquidation features (only ``keep`` of them; all when None), ``atr_<window>``,
    ``overshoot_long_pct`` / ``overshoot_short_pct`` (:func:`sweep_overshoots`), ``funding_rate`` (the last settled rate, causally merged; NaN without funding data) and
    ``oi_value`` (open interest in USD, causally merged and read as the map reads it; NaN without
    it). The side data is merged once (:func:`~liq_indicator.core.inputs.merge_side`) and serves
    both the map and these columns.

    Args:
        candles: Freqtrade candles (``date, open, high, low, close, volume``).
        config: Map settings; :data:`STRATEGY_HEATMAP` by default.
        open_interest: Freqtrade ``open_interest`` candles, or None (volume mode).
        funding: Freqtrade ``funding_rate`` candles (rate in ``open``), or None.
        atr_window: ATR window.
        keep: ``liq_`` columns to keep.
        venues: other exchanges aggregated into the map (see :class:`~liq_indicator.Venue`).

    Returns:
        A new frame; ``candles`` is not modified.
    """
    open_interest = None if open_interest is None or len(open_interest) == 0 else open_interest
    funding = None if funding is None or len(funding) == 0 else funding
    side = (
        merge_side(candles["date"], config, open_interest=open_interest, funding=funding)
        # without a ``date`` column there is nothing to merge onto: the map reports it
        if isinstance(candles, pd.DataFrame) and "date" in candles.columns
        else {}
    )
    # the map reads merged side columns as they are (core.inputs.prepare): no second merge
    out = liquidation_features(
        candles.assign(**side) if side else candles, config, venues=list(venues)
    )
    for name in side:  # the output keeps the candles' own columns, as without side data
        if name in candles.columns:
            out[name] = candles[name]
        else:
            del out[name]
    if keep is not None:
        out = out.drop(
            columns=[
                c
                for c in out.columns
                if isinstance(c, str) and c.startswith("liq_") and c not in keep
            ]
        )
    out[f"atr_{atr_window}"] = atr(out, atr_window)
    for is_short in (False, True):
        overshoot = sweep_overshoots(out, is_short)
        out[overshoot.name] = overshoot
    if funding is not None:
        out["funding_rate"] = side["funding_rate"]
    elif "funding_rate" not in out.columns:
        out["funding_rate"] = np.nan
    if open_interest is None:
        out["oi_value"] = np.nan
    else:
        with warnings.catch_warnings():
            warnings.simplefilter(
                "ignore", DataWarning
            )  # the map, reading the same columns, warned
            out["oi_value"] = open_interest_usd(
                out["close"].to_numpy(dtype=np.float64),
                side.get("open_interest_value"),
                side.get("open_interest_amount"),
            )
    return out


def sweep_overshoots(
    df: pd.DataFrame,
    is_short: bool,
    *,
    reach: int = OVERSHOOT_REACH,
    horizon: int = OVERSHOOT_HORIZON,
) -> pd.Series:
    """How far price ran past each swept far edge of the nearest same-side cluster, in % of the
    edge, on the row where that became known (NaN elsewhere).

    An edge is the far edge (``liq_long_cluster_far`` for longs) on the first row of each run of
    equal values: the nearest cluster's edge once it appears. It is *swept* by the first candle
    ``k`` within the next ``reach`` candles whose low reaches it (high, for shorts). Its overshoot
    is the distance from the edge to the lowest low (highest high) of candles ``k .. k + horizon
    - 1``, known at the close of ``k + horizon - 1``: the value sits on that row, so the series is
    causal. Two edges known on one row keep the larger overshoot.

    Args:
        df: Frame with ``low``, ``high`` and the side's ``liq_<side>_cluster_far``.
        is_short: True for short clusters (edges above price, swept upwards).
        reach: Candles after an edge appears within which it counts as swept.
        horizon: Candles, from the sweeping one, over which the overshoot is measured.

    Returns:
        Overshoot in % of the edge price (>= 0), on ``df``'s index.

    Example:
        >>> frame = pd.DataFrame({"low": [99.0, 96.0, 94.0, 95.5], "high": [101.0] * 4,
        ...                       "liq_long_cluster_far": [95.0, 95.0, np.nan, np.nan]})
        >>> sweep_overshoots(frame, False, horizon=2).round(6).tolist()   # 95 -> 94: 1.05% past, known at row 3
        [nan, nan, nan, 1.052632]
    """
    side = "short" if is_short else "long"
    _need(df, ["low", "high", f"liq_{side}_cluster_far"])
    if reach < 1 or horizon < 1:
        raise ConfigError(f"reach and horizon must be >= 1 candle, got {reach}, {horizon}")
    far = df[f"liq_{side}_cluster_far"].to_numpy(dtype=np.float64)
    extreme = df["high" if is_short else "low"].to_numpy(dtype=np.float64)
    n = len(far)
    out = np.full(n, np.nan)
    prev = np.r_[np.nan, far[:-1]]
    anchors = np.flatnonzero(np.isfinite(far) & (far > 0) & (far != prev))
    if anchors.size == 0 or n < horizon:
        return pd.Series(out, index=df.index, name=f"overshoot_{side}_pct")
    # the most adverse price over candles k .. k + horizon - 1, for every k with a full window
    windows = np.lib.stride_tricks.sliding_window_view(extreme, horizon)
    worst = windows.max(axis=1) if is_short else windows.min(axis=1)
    steps = np.arange(1, reach + 1)
    for a in range(0, anchors.size, 4096):  # chunks: memory is chunk x reach
        anc = anchors[a : a + 4096]
        rows = anc[:, None] + steps
        valid = rows < n
        rows = np.minimum(rows, n - 1)
        edge = far[anc][:, None]
        with np.errstate(invalid="ignore"):
            hit = valid & ((extreme[rows] >= edge) if is_short else (extreme[rows] <= edge))
        touched = hit.any(axis=1)
        k = rows[np.arange(anc.size), hit.argmax(axis=1)]
        keep = touched & (k + horizon - 1 < n)
        k, edge_k = k[keep], far[anc][keep]
        over = ((worst[k] - edge_k) if is_short else (edge_k - worst[k])) / edge_k * 100.0
        known = k + horizon - 1
        # an edge swept once counts once; two on one row keep the larger (fmax ignores NaN)
        np.fmax.at(out, known, np.maximum(over, 0.0))
    return pd.Series(out, index=df.index, name=f"overshoot_{side}_pct")


def overshoot_quantile(
    df: pd.DataFrame, q: float, window: int = 1440, min_events: int = 5
) -> pd.Series:
    """The ``q`` quantile of the pair's sweep overshoots known in the last ``window`` rows (this
    one included), long and short pooled: the sweep zone a stop beyond a cluster should clear.

    Reads ``overshoot_long_pct`` and ``overshoot_short_pct`` (:func:`sweep_overshoots`, as
    :func:`strategy_features` adds them). Causal: row ``t`` uses only overshoots known at its
    close. The quantile interpolates linearly (``numpy.quantile``'s default). Measured per pair, in
    % of price, so it means the same on a volatile altcoin as on BTC.

    Args:
        df: Frame with the two overshoot columns.
        q: Quantile in [0, 1); 0 turns the sweep zone off (all NaN).
        window: Rows looked back over.
        min_events: NaN while fewer overshoots are known in the window.

    Returns:
        The quantile in % of price, NaN where unknown, on ``df``'s index.

    Example:
        >>> frame = pd.DataFrame({"overshoot_long_pct": [1.0, np.nan, 3.0],
        ...                       "overshoot_short_pct": [np.nan, 2.0, np.nan]})
        >>> overshoot_quantile(frame, 0.5, window=2, min_events=1).tolist()
        [1.0, 1.5, 2.5]
    """
    _need(df, ["overshoot_long_pct", "overshoot_short_pct"])
    if not 0 <= q < 1 or window < 1 or min_events < 1:
        raise ConfigError(
            f"need 0 <= q < 1, window >= 1 and min_events >= 1, got {q}, {window}, {min_events}"
        )
    if q == 0:
        return pd.Series(np.nan, index=df.index, name="overshoot_q_pct")
    both = np.column_stack(
        [
            df["overshoot_long_pct"].to_numpy(dtype=np.float64),
            df["overshoot_short_pct"].to_numpy(dtype=np.float64),
        ]
    ).ravel()  # long, short of row 0, long, short of row 1, ...: 2 * window values = window rows
    rolled = pd.Series(both).rolling(2 * window, min_periods=min_events).quantile(q)
    return pd.Series(rolled.to_numpy()[1::2], index=df.index, name="overshoot_q_pct")


def cascade_intensity(
    df: pd.DataFrame, side: str, norm_window: int = 288, norm_floor: float = 0.005
) -> pd.Series:
    """Swept notional of ``side`` ('long'/'short') over its norm: the mean swept notional of the
    ``norm_window`` candles before this one, floored at ``norm_floor`` x their mean traded notional
    (``volume * close``). NaN until the window is half full.
    """
    swept = df[f"liq_swept_{side}_usd"]
    turnover = df["volume"] * df["close"]
    minp = max(1, norm_window // 2)
    norm = swept.rolling(norm_window, min_periods=minp).mean().shift(1)
    floor = norm_floor * turnover.rolling(norm_window, min_periods=minp).mean().shift(1)
    return swept / np.maximum(norm, floor)


def cascade_sweeps(
    df: pd.DataFrame,
    side: str,
    norm_window: int = 288,
    norm_floor: float = 0.005,
    lookback: int = 6,
) -> tuple[pd.Series, pd.Series, pd.Series]:
    """``(swept, intensity, peak)`` of ``side`` as the cascade rule reads them: the map's
    ``liq_swept_<side>_usd``, except on rows flagged ``liq_cascade_real`` where the recorded
    ``liq_real_<side>_usd`` is read. Each source's intensity (:func:`cascade_intensity`) and
    peak (the largest sweep of the ``lookback`` candles before) are computed on that source
    alone, then picked row by row, so a norm or a peak never mixes the two.
    """
    column = f"liq_swept_{side}_usd"
    swept = df[column]
    intensity = cascade_intensity(df, side, norm_window, norm_floor)
    peak = swept.shift(1).rolling(lookback, min_periods=1).max()
    real_column = f"liq_real_{side}_usd"
    if "liq_cascade_real" not in df.columns or real_column not in df.columns:
        return swept, intensity, peak
    real = df["liq_cascade_real"].fillna(0.0).to_numpy(dtype=np.float64) > 0
    if not real.any():
        return swept, intensity, peak
    recorded = df.assign(**{column: df[real_column]})
    r_swept = recorded[column]
    r_intensity = cascade_intensity(recorded, side, norm_window, norm_floor)
    r_peak = r_swept.shift(1).rolling(lookback, min_periods=1).max()
    return (
        r_swept.where(real, swept),
        r_intensity.where(real, intensity),
        r_peak.where(real, peak),
    )


def _need(df: pd.DataFrame, columns: list[str]) -> None:
    missing = [c for c in columns if c not in df.columns]
    if missing:
        raise InputError(
            f"frame lacks column(s) {', '.join(missing)}; build it with "
            "liq_indicator.strategy.signals.strategy_features(candles)"
        )


def trade_levels(
    df: pd.DataFrame,
    is_short: bool,
    params: SignalParams = SignalParams(),
    entry: pd.Series | np.ndarray | None = None,
) -> pd.DataFrame:
    """Stop, target and reward/risk of a trade opened at each row (entry = close unless given).

    Stop: :func:`liq_indicator.risk.stop_beyond_cluster` beyond the nearest same-side cluster's far
    edge and its sweep zone (the ``stop_overshoot_q`` quantile of :func:`overshoot_quantile`, when
    ``df`` has the overshoot columns); target: :func:`liq_indicator.risk.target_price` at the
    nearest opposite cluster's near edge. A ``sweep_zone_pct`` column, when ``df`` has one (as
    :func:`entry_signals` returns it), is the sweep zone as it stands: on a subset of rows the
    rolling quantile cannot be recomputed.

    Returns:
        Columns ``stop``, ``target``, ``stop_pct`` (distance, % of entry) and ``rr``.
    """
    side, other = ("short", "long") if is_short else ("long", "short")
    atr_col = f"atr_{params.atr_window}"
    _need(df, ["close", atr_col, f"liq_{side}_cluster_far", f"liq_{other}_cluster_near"])
    price = (
        df["close"].to_numpy(dtype=np.float64)
        if entry is None
        else np.asarray(entry, dtype=np.float64)
    )
    stop = stop_beyond_cluster(
        price,
        is_short,
        df[f"liq_{side}_cluster_far"].to_numpy(dtype=np.float64),
        df[atr_col].to_numpy(dtype=np.float64),
        buffer_atr=params.stop_buffer_atr,
        min_buffer_pct=params.stop_min_buffer_pct,
        fallback_atr=params.fallback_stop_atr,
        overshoot_pct=(
            df["sweep_zone_pct"].to_numpy(dtype=np.float64)
            if "sweep_zone_pct" in df.columns
            else sweep_zone(df, params)
        ),
    )
    target = target_price(
        price,
        stop,
        is_short,
        df[f"liq_{other}_cluster_near"].to_numpy(dtype=np.float64),
        fallback_rr=params.fallback_rr,
    )
    return pd.DataFrame(
        {
            "stop": stop,
            "target": target,
            "stop_pct": stop_distance(price, stop, is_short) * 100.0,
            "rr": reward_risk(price, stop, target, is_short),
        },
        index=df.index,
    )


def sweep_zone(df: pd.DataFrame, params: SignalParams = SignalParams()) -> np.ndarray:
    """The sweep zone of each row, % of price: :func:`overshoot_quantile` at the params'
    ``stop_overshoot_q``, or NaN when it is 0 or ``df`` lacks the overshoot columns (a frame not
    built by :func:`strategy_features`).
    """
    if params.stop_overshoot_q == 0 or "overshoot_long_pct" not in df.columns:
        return np.full(len(df), np.nan)
    return overshoot_quantile(
        df, params.stop_overshoot_q, params.overshoot_window, params.overshoot_min_events
    ).to_numpy()


def setup_frame(
    df: pd.DataFrame, is_short: bool, params: SignalParams = SignalParams()
) -> pd.DataFrame:
    """Each condition of the setup as a boolean column (for tests, plots and tuning), plus
    ``signal``, their conjunction. See the module docstring for the conditions.
    """
    side = "short" if is_short else "long"
    _need(
        df,
        [
            "open",
            "high",
            "low",
            "close",
            "volume",
            f"liq_swept_{side}_usd",
            f"liq_{side}_cluster_usd",
            f"liq_{side}_cluster_dist_pct",
            f"atr_{params.atr_window}",
        ],
    )
    look = params.lookback
    swept, intensity, peak = cascade_sweeps(df, side, params.norm_window, params.norm_floor, look)
    is_cascade = (intensity >= params.cascade_mult).astype(float)
    recent = is_cascade.shift(1).rolling(look, min_periods=1).max() > 0
    collapsed = swept <= params.exhaust_ratio * peak
    # fuel: the map's cluster against the map's own peak sweep (one scale), whatever the source
    map_peak = df[f"liq_swept_{side}_usd"].shift(1).rolling(look, min_periods=1).max()
    atr_now = df[f"atr_{params.atr_window}"]
    if is_short:
        extreme = df["high"].rolling(look + 1, min_periods=1).max()
        rebound = (extreme - df["close"]) >= params.rebound_atr * atr_now
    else:
        extreme = df["low"].rolling(look + 1, min_periods=1).min()
        rebound = (df["close"] - extreme) >= params.rebound_atr * atr_now
    fuel = (df[f"liq_{side}_cluster_dist_pct"] <= params.fuel_dist_pct) & (
        df[f"liq_{side}_cluster_usd"] >= params.fuel_ratio * map_peak
    )
    levels = trade_levels(df, is_short, params)
    worth = (
        (levels["stop_pct"] > 0)
        & (levels["stop_pct"] <= params.max_stop_pct)
        & (levels["rr"] >= params.min_rr)
    )
    funding = (
        df["funding_rate"] if "funding_rate" in df.columns else pd.Series(np.nan, index=df.index)
    )
    crowded = (funding <= -params.funding_max) if is_short else (funding >= params.funding_max)
    oi = df["oi_value"] if "oi_value" in df.columns else pd.Series(np.nan, index=df.index)
    oi_change = oi / oi.shift(look + 1) - 1.0
    oi_piling = oi_change > params.oi_max_change
    out = pd.DataFrame(
        {
            "cascade": recent,
            "exhausted": collapsed & rebound,
            "fuel_spent": ~fuel,
            "worth": worth,
            "context_ok": ~crowded & ~oi_piling,
        },
        index=df.index,
    )
    out["signal"] = out.all(axis=1)
    return out


def entry_signals(df: pd.DataFrame, params: SignalParams = SignalParams()) -> pd.DataFrame:
    """``enter_long``, ``enter_short`` (0/1), ``enter_tag`` and ``sweep_zone_pct`` (the stop's
    sweep zone, :func:`sweep_zone`, which :func:`trade_plan` reads from the signal candle) for each
    candle.

    A candle with both setups (possible only in a whipsaw that swept both sides) gets neither.
    """
    if "sweep_zone_pct" not in df.columns:
        df = df.assign(sweep_zone_pct=sweep_zone(df, params))  # once for both sides
    long_ = setup_frame(df, False, params)["signal"]
    short = setup_frame(df, True, params)["signal"]
    both = long_ & short
    long_, short = long_ & ~both, short & ~both
    # numpy's stub refuses None as a np.where value; here it is the object array's "no tag"
    tag = pd.Series(
        np.where(long_, "liq_long_exhaustion", np.where(short, "liq_short_exhaustion", None)),  # type: ignore[call-overload]
        index=df.index,
        dtype=object,
    )
    return pd.DataFrame(
        {
            "enter_long": long_.astype(int),
            "enter_short": short.astype(int),
            "enter_tag": tag,
            "sweep_zone_pct": df["sweep_zone_pct"],
        },
        index=df.index,
    )


def exit_roi(
    target_profit: float, minutes_open: float, timeframe_minutes: float, max_hold_candles: int
) -> float | None:
    """What ``custom_roi`` returns: the exit at the target and the time limit as one ROI.

    ``-1`` (exit now, at any price) once the trade has been open ``max_hold_candles`` candles;
    otherwise ``target_profit``, the profit ratio at the target price, so the trade exits when
    price reaches the target (a backtest fills at the target itself); None without a target, or
    when the target is not a profit.

    Example:
        >>> exit_roi(0.05, 10.0, 5.0, 72), exit_roi(0.05, 360.0, 5.0, 72)
        (0.05, -1.0)
    """
    if minutes_open >= max_hold_candles * timeframe_minutes:
        return -1.0
    if math.isfinite(target_profit) and target_profit > 0:
        return float(target_profit)
    return None


def trade_plan(
    row: Any,
    is_short: bool,
    params: SignalParams = SignalParams(),
    entry: float | None = None,
    avoid: Sequence[Sequence[float]] = (),
) -> tuple[float, float]:
    """(stop, target) of one trade entered at ``entry`` on the signal candle ``row``.

    The one-row form of :func:`trade_levels` (same rules, same numbers) for a strategy's callbacks;
    ``row`` is anything indexable by column name (a ``pd.Series``, a dict); its ``sweep_zone_pct``
    (from :func:`entry_signals`), when it has one, is the stop's sweep zone. ``entry`` defaults to
    the row's close. A stop that lands inside one of the ``avoid`` zones (the dense same-side zones
    of the signal candle's map, beyond the nearest cluster) moves past it
    (:func:`~liq_indicator.risk.stop_outside_zones`, by the same floor of ``stop_min_buffer_pct``).
    NaNs when the stop is not on the losing side of ``entry`` (or is missing).
    """
    side, other = ("short", "long") if is_short else ("long", "short")
    price = float(row["close"] if entry is None else entry)
    try:
        zone = float(row["sweep_zone_pct"])
    except (KeyError, IndexError, TypeError, ValueError):
        zone = math.nan
    stop = stop_beyond_cluster(
        price,
        is_short,
        float(row[f"liq_{side}_cluster_far"]),
        float(row[f"atr_{params.atr_window}"]),
        buffer_atr=params.stop_buffer_atr,
        min_buffer_pct=params.stop_min_buffer_pct,
        fallback_atr=params.fallback_stop_atr,
        overshoot_pct=zone if params.stop_overshoot_q > 0 else math.nan,
    )
    if avoid:
        stop = stop_outside_zones(stop, is_short, avoid, buffer_pct=params.stop_min_buffer_pct)
    if not (price > 0 and math.isfinite(stop) and (stop > price if is_short else stop < price)):
        return math.nan, math.nan
    target = target_price(
        price,
        stop,
        is_short,
        float(row[f"liq_{other}_cluster_near"]),
        fallback_rr=params.fallback_rr,
    )
    return stop, target


def alert_messages(
    df: pd.DataFrame, params: SignalParams = SignalParams()
) -> list[tuple[str, str]]:
    """Alert conditions at the last row: ``[(key, text), ...]`` (the key is for rate limiting).

    * ``cascade_long`` / ``cascade_short``: the last candle is a cascade candle (swept notional
      >= ``cascade_mult`` x its norm) and the one before was not: a cascade starts.
    * ``cluster_long`` / ``cluster_short``: the nearest cluster lies within ``alert_dist_pct`` of
      price and appeared, or grew by at least ``alert_growth``, over ``lookback`` candles.
    """
    if len(df) < 2:
        return []
    out: list[tuple[str, str]] = []
    last = df.iloc[-1]
    for side in ("long", "short"):
        swept, intensity, _ = cascade_sweeps(
            df.iloc[-(params.norm_window + 2) :], side, params.norm_window, params.norm_floor
        )
        now, before = intensity.iloc[-1], intensity.iloc[-2]
        if now >= params.cascade_mult and not before >= params.cascade_mult:
            real = float(last.get("liq_cascade_real", 0.0) or 0.0) > 0
            out.append(
                (
                    f"cascade_{side}",
                    f"{side} liquidation cascade: {format_usd(swept.iloc[-1], prefix='')} USD "
                    f"{'liquidated (recorded)' if real else 'swept'} ({now:,.0f}x norm) at "
                    f"{last['close']:,.2f}",
                )
            )
        dist = last[f"liq_{side}_cluster_dist_pct"]
        usd = float(last[f"liq_{side}_cluster_usd"])
        back = df.iloc[max(0, len(df) - 1 - params.lookback)]
        was = (
            float(back[f"liq_{side}_cluster_usd"])
            if np.isfinite(back[f"liq_{side}_cluster_usd"])
            else 0.0
        )
        if (
            np.isfinite(dist)
            and dist <= params.alert_dist_pct
            and usd > (1 + params.alert_growth) * was
        ):
            where = "below" if side == "long" else "above"
            out.append(
                (
                    f"cluster_{side}",
                    f"{side} liquidation cluster {where} price: {format_usd(usd, prefix='')} USD at "
                    f"{last[f'liq_{side}_cluster_near']:,.2f}-{last[f'liq_{side}_cluster_far']:,.2f} "
                    f"({dist:.2f}% away, was {format_usd(was, prefix='')})",
                )
            )
    return out
