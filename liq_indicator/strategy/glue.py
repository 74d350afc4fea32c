"""Helpers between the liquidation map and a Freqtrade strategy: side data through the
DataProvider with fallbacks, other venues from sibling datadirs (read through
:mod:`liq_indicator.io.datadir`), the signal candle of a trade and its map, the order-book path
check and rate-limited alerts. The trade plans live in :mod:`~liq_indicator.strategy.trade_state`,
the charts in :mod:`~liq_indicator.strategy.frequi`.

Nothing here imports Freqtrade: the DataProvider is used through the few methods a strategy sees
(``get_pair_dataframe``, ``get_analyzed_dataframe``, ``send_msg``, ``runmode``), so the helpers are
testable with a stub and usable from any strategy::

    from liq_indicator.strategy.glue import side_frames
    oi, funding = side_frames(self.dp, metadata["pair"], self.timeframe)
"""

from __future__ import annotations

import logging
import math
import re
import time
import warnings
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from liq_indicator.brackets import (
    available_exchanges,
    get_brackets,
    register_tiers,
    table_from_ccxt,
)
from liq_indicator.config import HeatmapConfig
from liq_indicator.core.inputs import coerce_dates, prepare
from liq_indicator.core.maps import LiquidationMap
from liq_indicator.errors import ConfigError, DataWarning, InputError
from liq_indicator.estimator import MapCursor, Venue, liquidation_map
from liq_indicator.io import timeframes
from liq_indicator.io.datadir import PairData, load_pair
from liq_indicator.io.liquidations import liquidations_file, load_liquidations
from liq_indicator.risk import dense_zones
from liq_indicator.strategy.signals import SignalParams, alert_messages
from liq_indicator.style import format_usd

__all__ = [
    "AlertLimiter",
    "REAL_COLUMNS",
    "BookPath",
    "CandleLog",
    "CascadeSource",
    "LogOnce",
    "SignalMaps",
    "analysed_signal_row",
    "book_path",
    "check_venue_names",
    "defended_entry",
    "informative_pairs",
    "is_live",
    "map_zones",
    "pair_heatmap",
    "recorded_per_candle",
    "parse_recursive_analysis",
    "register_exchange_tiers",
    "side_frames",
    "signal_row",
    "snapshot_zones",
    "venue_frames",
]

logger = logging.getLogger(__name__)

#: Freqtrade run modes (``RunMode`` values) in which orders meet a real or dry-run order book.
LIVE_MODES = ("live", "dry_run")


def is_live(dp: Any) -> bool:
    """True when the DataProvider runs live or dry-run (False in backtests, hyperopt, analysis)."""
    mode = getattr(getattr(dp, "runmode", None), "value", getattr(dp, "runmode", None))
    return mode in LIVE_MODES


def informative_pairs(dp: Any, oi_timeframe: str) -> list[tuple[str, str, str]]:
    """What ``informative_pairs`` asks Freqtrade to refresh, live only: each whitelisted pair's
    open interest at ``oi_timeframe`` and funding rate at the exchange's funding timeframe.
    Backtests read side data from files: none there.
    """
    if dp is None or not is_live(dp):
        return []
    pairs, funding_tf = dp.current_whitelist(), dp.get_funding_rate_timeframe()
    return [(p, oi_timeframe, "open_interest") for p in pairs] + [
        (p, funding_tf, "funding_rate") for p in pairs
    ]


@dataclass
class LogOnce:
    """Logs each distinct key once per process (e.g. 'no open interest for BTC/USDT:USDT')."""

    log: logging.Logger = logger
    seen: set[str] = field(default_factory=set)

    def __call__(self, key: str, message: str, level: int = logging.INFO) -> None:
        """Log ``message`` at ``level`` the first time ``key`` comes; later calls do nothing."""
        if key not in self.seen:
            self.seen.add(key)
            self.log.log(level, message)


_LOG_ONCE = LogOnce()


def _fetch(dp: Any, pair: str, timeframe: str, candle_type: str) -> pd.DataFrame | None:
    try:
        frame = dp.get_pair_dataframe(pair, timeframe, candle_type=candle_type)
    except Exception as exc:  # noqa: BLE001 - a missing side series must never stop the bot
        logger.debug("no %s %s data for %s: %s", timeframe, candle_type, pair, exc)
        return None
    if frame is None or len(frame) == 0:
        return None
    return frame


def _has_open_interest(frame: pd.DataFrame) -> bool:
    """True when ``frame`` has some open interest: a positive ``open_interest_value`` (USD) or,
    as Freqtrade's Bybit layout has with an all-NaN value column, ``open_interest_amount`` (coin).
    """
    for column in ("open_interest_value", "open_interest_amount"):
        if column in frame.columns:
            values = pd.to_numeric(frame[column], errors="coerce").to_numpy(dtype=np.float64)
            if (values > 0).any():
                return True
    return False


def side_frames(
    dp: Any,
    pair: str,
    timeframe: str,
    *,
    oi_timeframes: Sequence[str] = ("1h", "5m"),
    funding_timeframe: str | None = None,
    log_once: LogOnce = _LOG_ONCE,
) -> tuple[pd.DataFrame | None, pd.DataFrame | None]:
    """Open-interest and funding-rate candles of ``pair`` from the DataProvider, or None each.

    Open interest is tried at each of ``oi_timeframes`` in order, then at ``timeframe``; the first
    non-empty series wins. 1h comes first by default: live, Binance serves 500 open-interest
    candles per request, which at 1h cover the strategy's whole start-up window (at 5m only 41 h
    of it), and backtests should see what live sees. A missing series (no file in a backtest, no endpoint live) is not an
    error: the estimator then runs in volume mode, which is logged once per pair. (Freqtrade's
    ``@informative`` decorator would instead fail on a missing open-interest file.)

    Args:
        dp: The strategy's ``self.dp``.
        pair: e.g. ``"BTC/USDT:USDT"``.
        timeframe: The strategy's timeframe.
        oi_timeframes: Open-interest timeframes to try, in order, before ``timeframe``.
        funding_timeframe: Funding-rate timeframe; the exchange's (``dp.get_funding_rate_timeframe``)
            by default.
        log_once: Where the one-time notices go.

    Returns:
        ``(open_interest, funding)`` frames in Freqtrade's layout, None where absent.
    """
    if dp is None:
        return None, None
    oi = None
    for tf in dict.fromkeys((*oi_timeframes, timeframe)):
        oi = _fetch(dp, pair, tf, "open_interest")
        if oi is not None and not _has_open_interest(oi):
            log_once(
                f"oi-unusable:{pair}:{tf}",
                f"{pair}: the {tf} open-interest candles hold no "
                "positive open_interest_value or open_interest_amount; not used",
                logging.WARNING,
            )
            oi = None
        if oi is not None:
            break
    if oi is None:
        log_once(
            f"no-oi:{pair}",
            f"{pair}: no open-interest data; the liquidation map runs in "
            "volume mode (new positions = volume x volume_share)",
            logging.WARNING,
        )
    else:
        log_once(f"oi:{pair}", f"{pair}: liquidation map inflow from open interest")
    if funding_timeframe is None:
        try:
            funding_timeframe = dp.get_funding_rate_timeframe()
        except Exception:  # noqa: BLE001 - no exchange (e.g. a plot without one)
            funding_timeframe = "1h"
    funding = _fetch(dp, pair, funding_timeframe, "funding_rate")
    if funding is None:
        log_once(f"no-funding:{pair}", f"{pair}: no funding-rate data; the funding filter passes")
    return oi, funding


def venue_frames(
    datadir: str | Any,
    exchanges: Sequence[str],
    pair: str,
    timeframe: str,
    last_date: pd.Timestamp,
    *,
    max_lag: pd.Timedelta,
    config: HeatmapConfig | None = None,
    log_once: LogOnce = _LOG_ONCE,
) -> list[Venue]:
    """Other exchanges' data for ``pair`` from sibling Freqtrade datadirs, for a multi-venue map.

    ``datadir`` is the bot's own (``user_data/data/binance``); venue ``bybit`` is read from
    ``user_data/data/bybit``, as ``freqtrade download-data --exchange bybit`` writes it. A venue whose
    files are missing or unreadable, whose data the map would reject (no candles, a NaN price,
    high < low, duplicate dates, ...: checked here exactly as the map checks it, under ``config``),
    or whose last candle is more than ``max_lag`` older than ``last_date``, is left out (logged
    once per venue and problem), so the map falls back to the venues that are there, down to the
    bot's own exchange alone. Live, these files are only as fresh as the last ``download-data`` run:
    refresh them (e.g. every few minutes from cron) or the venue counts as stale.

    Raises:
        ConfigError: on a bad ``exchanges`` setting (see :func:`check_venue_names`): a setting,
            not data, so it is not skipped.
    """
    if not exchanges or datadir is None:
        return []
    config = config or HeatmapConfig()
    check_venue_names(exchanges, config)
    root = Path(datadir).parent
    venues: list[Venue] = []
    for exchange in exchanges:
        try:
            data = load_pair(root / exchange, pair, timeframe)
            _check_venue(data, config.replace(exchange=exchange.lower()), root / exchange)
        except (InputError, OSError) as exc:  # io turns a parser's errors into InputError
            # one notice per venue and kind of problem (row numbers and dates change as the file grows)
            problem = re.sub(r"\d+", "#", f"{type(exc).__name__}: {exc}")
            log_once(
                f"venue-bad:{exchange}:{pair}:{problem}",
                f"{pair}: venue {exchange} "
                f"({root / exchange}) left out of the liquidation map: {exc}",
                logging.WARNING,
            )
            continue
        lag = last_date - data.candles["date"].iloc[-1]
        if lag > max_lag:
            log_once(
                f"venue-stale:{exchange}:{pair}",
                f"{pair}: venue {exchange} left out of the "
                f"liquidation map: its data ends {lag} before the current candle (refresh it "
                f"with freqtrade download-data --exchange {exchange})",
                logging.WARNING,
            )
            continue
        log_once(f"venue:{exchange}:{pair}", f"{pair}: liquidation map aggregates {exchange}")
        venues.append(Venue(exchange, data.candles, data.open_interest, data.mark, data.funding))
    return venues


def check_venue_names(exchanges: Any, config: HeatmapConfig) -> None:
    """Check the strategy's ``liq_venues`` setting: a list of distinct exchange names with a
    bracket table, none of them the map's own exchange (``config.exchange``).

    Raises:
        ConfigError: naming the bad entry and the names that are accepted.
    """
    known = available_exchanges()
    if isinstance(exchanges, str) or not isinstance(exchanges, Sequence):
        raise ConfigError(
            f'liq_venues must be a list of exchange names (e.g. ["bybit"]), got {exchanges!r}'
        )
    seen: set[str] = set()
    for name in exchanges:
        if not isinstance(name, str) or name.lower() not in known:
            raise ConfigError(
                f"liq_venues entry {name!r} is not an exchange the map has brackets "
                f"for; use one of {', '.join(known)}"
            )
        if name.lower() == config.exchange or name.lower() in seen:
            raise ConfigError(
                f"liq_venues lists {name!r} twice or as the map's own exchange "
                f"({config.exchange}); list each other exchange once"
            )
        try:  # a venue whose tiers for the pair are unknown (e.g. okx before `liq-indicator tiers`)
            get_brackets(name.lower(), config.symbol)
        except ConfigError as exc:
            raise ConfigError(f"liq_venues entry {name!r}: {exc}") from exc
        seen.add(name.lower())


def _check_venue(data: PairData, config: HeatmapConfig, datadir: Any) -> None:
    """Raise the map's own InputError if it would reject this venue's data (the check is the map's
    input preparation itself, so the two cannot drift apart).
    """
    if len(data.candles) == 0:
        raise InputError(
            f"its candle file in {datadir} holds no candles; download them again with "
            "freqtrade download-data"
        )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DataWarning)  # the map run itself warns about repairs
        prepare(
            data.candles,
            config,
            open_interest=data.open_interest,
            mark=data.mark,
            funding=data.funding,
        )


def signal_row(
    analyzed: pd.DataFrame, timeframe_minutes: float, before: datetime | pd.Timestamp | None = None
) -> pd.Series | None:
    """The candle a trade was decided on: the last row of ``analyzed`` that closed at or before
    ``before`` (a trade's open date), or the last row when ``before`` is None. None if there is none.
    """
    if analyzed is None or len(analyzed) == 0:
        return None
    if before is None:
        return analyzed.iloc[-1]
    when = pd.Timestamp(before)
    if when.tzinfo is None:
        when = when.tz_localize("UTC")
    if analyzed["date"].iloc[-1] + pd.Timedelta(minutes=timeframe_minutes) <= when:
        return analyzed.iloc[-1]  # the usual case: the trade opened after the last analysed candle
    closes = pd.DatetimeIndex(analyzed["date"]) + pd.Timedelta(minutes=timeframe_minutes)
    ok = np.flatnonzero(closes <= when)
    return analyzed.iloc[int(ok[-1])] if len(ok) else None


def analysed_signal_row(
    dp: Any,
    pair: str,
    timeframe: str,
    timeframe_minutes: float,
    before: datetime | pd.Timestamp | None = None,
) -> pd.Series | None:
    """:func:`signal_row` on the pair's analysed frame (``dp.get_analyzed_dataframe``); None
    without a DataProvider.
    """
    analyzed = None if dp is None else dp.get_analyzed_dataframe(pair, timeframe)[0]
    return signal_row(analyzed, timeframe_minutes, before)


def map_zones(
    candles: pd.DataFrame,
    config: HeatmapConfig,
    is_short: bool,
    *,
    price_range_pct: float = 30.0,
    density: float | None = None,
    open_interest: pd.DataFrame | None = None,
    mark: pd.DataFrame | None = None,
    funding: pd.DataFrame | None = None,
) -> list[tuple[float, float]]:
    """Dense zones of the same-side map at the last candle of ``candles`` (``(low, high)`` prices).

    A long's own liquidation lies below it, so long clusters are returned for a long and short
    clusters for a short (see :func:`liq_indicator.risk.dense_zones`). ``candles`` should span the
    strategy's start-up window, over which the map converges. ``open_interest``, ``mark`` and
    ``funding``: side frames, as for :func:`~liq_indicator.estimator.liquidation_map` (funding
    only when ``config.funding_skew`` uses it; an empty frame counts as none).
    """
    side = _map_side(config, open_interest=open_interest, mark=mark, funding=funding)
    snap = liquidation_map(candles, config=config, price_range_pct=price_range_pct, **side)
    return snapshot_zones(snap, config, is_short, density=density)


def snapshot_zones(
    snap: LiquidationMap, config: HeatmapConfig, is_short: bool, *, density: float | None = None
) -> list[tuple[float, float]]:
    """Dense zones of one side of ``snap`` with the estimator's cluster rule (see :func:`map_zones`)."""
    values = snap.short if is_short else snap.long
    return dense_zones(
        snap.bin_prices,
        values,
        density=density or config.cluster_density,
        smooth_bins=config.cluster_smooth_bins,
    )


def _map_side(
    config: HeatmapConfig,
    *,
    open_interest: pd.DataFrame | None,
    mark: pd.DataFrame | None,
    funding: pd.DataFrame | None,
) -> dict[str, pd.DataFrame]:
    """The side frames the map of ``config`` reads, by keyword (empty ones, and funding when
    ``funding_skew`` is 0, left out).
    """
    if not config.funding_skew:
        funding = None  # funding only moves the map through funding_skew
    side = {"open_interest": open_interest, "mark": mark, "funding": funding}
    return {k: v for k, v in side.items() if v is not None and len(v)}


def pair_heatmap(config: HeatmapConfig, pair: str) -> HeatmapConfig:
    """``config`` for ``pair``: the same settings with the pair's own maintenance-margin tiers
    (``symbol=pair``), so its levels sit where the pair's positions liquidate.

    Raises:
        ConfigError: when no tiers are known for the pair on ``config.exchange`` (the message says
            how to fetch them), or the settings do not fit its tiers.
    """
    return config if config.symbol == pair else config.replace(symbol=pair)


def _freqtrade_tier(exchange: str, tier: Mapping[str, Any]) -> dict[str, Any]:
    """One tier of Freqtrade's ``Exchange._leverage_tiers`` (``minNotional``, ``maxNotional``,
    ``maintenanceMarginRate``, ``maxLeverage``, ``maintAmt``) in ccxt's layout, the maintenance
    amount under the key :func:`~liq_indicator.brackets.table_from_ccxt` reads for the venue.
    """
    amount = tier.get("maintAmt")
    key = {"binance": "cum", "bybit": "mmDeduction"}.get(exchange)
    info = {key: amount} if key and amount is not None else {}
    if isinstance(tier.get("info"), Mapping):
        info = {**tier["info"], **info}
    return {
        "minNotional": tier.get("minNotional"),
        "maxNotional": tier.get("maxNotional"),
        "maintenanceMarginRate": tier.get("maintenanceMarginRate"),
        "maxLeverage": tier.get("maxLeverage"),
        "info": info,
    }


def register_exchange_tiers(
    dp: Any,
    exchange: str,
    pairs: Sequence[str] | None = None,
    *,
    log_once: LogOnce = _LOG_ONCE,
) -> list[str]:
    """Register the tiers Freqtrade's exchange has loaded (``dp._exchange._leverage_tiers``, which
    ``Exchange.get_maintenance_ratio_and_amt`` reads) for ``pairs`` (all loaded ones when None), so
    the map and the leverage check use exactly the tiers Freqtrade liquidates with
    (:func:`~liq_indicator.brackets.register_tiers`).

    Nothing is registered (and nothing raised) without a DataProvider, an exchange or loaded tiers,
    or for an exchange the map has no formula for: :func:`~liq_indicator.brackets.get_brackets`
    then falls back to Freqtrade's bundled Binance file. Pairs whose loaded tiers are unusable are
    left out (logged once each).

    Returns:
        The pairs registered.
    """
    name = str(exchange or "").lower()
    loaded = getattr(getattr(dp, "_exchange", None), "_leverage_tiers", None)
    if not isinstance(loaded, Mapping) or not loaded or name not in available_exchanges():
        return []
    wanted = list(loaded) if pairs is None else [p for p in pairs if p in loaded]
    source = f"Freqtrade's {name} exchange (loaded tiers)"
    good: dict[str, list[dict[str, Any]]] = {}
    for pair in wanted:
        rows = [_freqtrade_tier(name, t) for t in loaded[pair] if isinstance(t, Mapping)]
        try:
            table_from_ccxt(name, pair, rows, source)  # checked first: a bad table is not used
        except ConfigError as exc:
            log_once(
                f"tiers-bad:{name}:{pair}",
                f"{pair}: the tiers Freqtrade's exchange loaded are not usable ({exc})",
                logging.WARNING,
            )
            continue
        good[pair] = rows
    if good:
        register_tiers(name, good, source)
        log_once(
            f"tiers:{name}",
            f"liquidation map and leverage checks use the tiers Freqtrade loaded from {name} "
            f"({len(good)} pairs)",
        )
    return list(good)


class SignalMaps:
    """The map at a strategy's signal candles, from the very frame ``populate_indicators`` analysed.

    ``remember`` stores a pair's candles and side data (cheap: references); ``zones`` then gives the
    dense same-side zones at the last candle closed by ``current_time``: the map whose features
    produced the signal, so a leverage check avoids the same clusters the stop was placed beyond.
    Entries come in time order in a backtest, so a :class:`~liq_indicator.estimator.MapCursor` per
    pair walks the frame once in total; live, each new frame is walked once, at its first entry.
    """

    def __init__(self, config: HeatmapConfig, timeframe_minutes: float):
        self.config = config
        self.candle = pd.Timedelta(minutes=timeframe_minutes)
        # pair -> (candles, side frames, venues); the pair's cursor is made at its first entry
        self._frames: dict[str, tuple[pd.DataFrame, dict, list]] = {}
        self._cursors: dict[str, MapCursor] = {}
        # pair -> its own map settings (``config`` with the pair's tiers, :func:`pair_heatmap`)
        self._configs: dict[str, HeatmapConfig] = {}

    def config_for(self, pair: str) -> HeatmapConfig:
        """The map settings of ``pair``: those it was remembered with, else :func:`pair_heatmap`
        of :attr:`config` (the pair's own tiers).

        Raises:
            ConfigError: when no tiers are known for the pair (see :func:`pair_heatmap`).
        """
        found = self._configs.get(pair)
        if found is None:
            found = self._configs[pair] = pair_heatmap(self.config, pair)
        return found

    def remember(
        self,
        pair: str,
        candles: pd.DataFrame,
        venues: list | tuple = (),
        *,
        config: HeatmapConfig | None = None,
        open_interest: pd.DataFrame | None = None,
        mark: pd.DataFrame | None = None,
        funding: pd.DataFrame | None = None,
    ) -> None:
        """Keep ``pair``'s analysed candles, side frames and venues (references); drop its old map.
        ``config``: the map settings the frame was analysed with (default: :meth:`config_for`);
        ``open_interest``, ``mark``, ``funding``: its side frames, as for :func:`map_zones`.
        """
        config = config or self.config_for(pair)
        self._configs[pair] = config
        side = _map_side(config, open_interest=open_interest, mark=mark, funding=funding)
        self._frames[pair] = (candles, side, list(venues))
        self._cursors.pop(pair, None)  # the previous frame's map is done with

    def zones(
        self, pair: str, current_time: datetime, is_short: bool
    ) -> list[tuple[float, float]] | None:
        """Zones at the signal candle of an entry at ``current_time``; None when the pair's frame
        is unknown or holds no closed candle by then.
        """
        if pair not in self._frames:
            return None
        config = self.config_for(pair)
        cursor = self._cursors.get(pair)
        if cursor is None:
            candles, side, venues = self._frames[pair]
            cursor = self._cursors[pair] = MapCursor(candles, config, venues=venues, **side)
        row = cursor.row_dated(pd.Timestamp(current_time) - self.candle)
        if row < 0:
            return None
        return snapshot_zones(cursor.map_at(row), config, is_short)

    def avoid_zones(
        self,
        pair: str,
        current_time: datetime,
        is_short: bool,
        candles: Callable[[], pd.DataFrame],
        log_once: LogOnce = _LOG_ONCE,
    ) -> list[tuple[float, float]]:
        """All dense same-side zones a leverage check should avoid: :meth:`zones` at the signal
        candle; without it (no frame remembered, or none closed by then), the map over
        ``candles()`` (e.g. the last start-up window) with the pair's remembered side data. On any
        error: none (logged once per pair), so leverage only checks the stop distance.
        """
        try:
            zones = self.zones(pair, current_time, is_short)
            if zones is not None:
                return zones
            side = self._frames[pair][1] if pair in self._frames else {}
            return map_zones(candles(), self.config_for(pair), is_short, **side)
        except Exception as exc:  # noqa: BLE001 - fall back to the stop/liquidation rule alone
            log_once(
                f"zones:{pair}",
                f"{pair}: map zones unavailable ({exc}); leverage only checks the stop distance",
                logging.WARNING,
            )
            return []


#: The columns :class:`CascadeSource` adds: the recorded USD of long / short positions
#: force-closed within each candle, and 1.0 on the rows whose cascade rule reads them (0.0: the
#: map's ``liq_swept_*`` estimate).
REAL_COLUMNS = ("liq_real_long_usd", "liq_real_short_usd", "liq_cascade_real")


def recorded_per_candle(
    bars: pd.DataFrame, dates: pd.Series, timeframe: str, quiet_until: pd.Timestamp | None = None
) -> pd.DataFrame:
    """Recorded liquidations summed per candle, on the candles' ``dates``: causal, a candle's
    value is the sum of the recorded minutes inside it (``[date, date + timeframe)``), known at its
    close.

    Args:
        bars: :func:`~liq_indicator.io.liquidations.load_liquidations` at ``timeframe`` (bars
            indexed by start; NaN over a recorded gap).
        dates: the candles' open times (UTC).
        timeframe: the candles' timeframe (the bars must be at it).
        quiet_until: candles after the last bar that close by this time hold 0 (the recorder was
            running and saw nothing: its file has rows only for minutes with an event); None:
            NaN there.

    Returns:
        ``liq_real_long_usd`` and ``liq_real_short_usd`` on ``dates``' index; NaN before the first
        recorded minute, over gaps and (without ``quiet_until``) after the last one.
    """
    when = pd.DatetimeIndex(coerce_dates(dates)).as_unit("us")
    index = pd.DatetimeIndex(bars.index).as_unit("us")
    out = pd.DataFrame(
        {
            f"liq_real_{side}_usd": bars[f"{side}_usd"].set_axis(index).reindex(when)
            for side in ("long", "short")
        }
    )
    if quiet_until is not None and len(index):
        candle = pd.Timedelta(minutes=timeframes.timeframe_minutes(timeframe))
        after = (when > index[-1]) & (when + candle <= quiet_until)
        out.loc[after, :] = 0.0
    return out.set_axis(dates.index)


class CascadeSource:
    """Per pair, where the strategy's cascade rule reads swept notional: the recorded
    liquidations (``liq-indicator record``'s ``<datadir>/futures/<PAIR>-1m-liquidations.feather``)
    when they are fresh and cover what the rule reads, else the map's estimate (``liq_swept_*``).
    Each switch (and a first choice of the recorded ones, or of the estimate beside an unusable
    file) is logged once, per pair.

    Fresh: the file's last minute ends at most ``fresh_minutes`` before the last candle's close.
    Covered: its first minute is at or before the first candle the rule reads: live, the last
    ``cover_candles`` (the cascade norm's window and the look-back); in a backtest (not live)
    the whole analysed frame, so a backtest uses recorded liquidations only when they cover its
    period, start-up candles included. Either way each candle sees only the minutes inside it
    (:func:`recorded_per_candle`), and the choice holds for the whole frame, so a norm never
    averages the two sources.

    Args:
        fresh_minutes: the freshness limit.
        cover_candles: candles the rule reads back from the last one, live.
        log: where the switches go.
    """

    def __init__(
        self, fresh_minutes: float = 30.0, cover_candles: int = 313, log: logging.Logger = logger
    ):
        if not (math.isfinite(fresh_minutes) and fresh_minutes >= 0) or cover_candles < 1:
            raise ConfigError(
                f"recorded liquidations: need fresh_minutes >= 0 and cover_candles >= 1, got "
                f"{fresh_minutes!r} and {cover_candles!r}"
            )
        self.fresh = pd.Timedelta(minutes=fresh_minutes)
        self.cover_candles = int(cover_candles)
        self.log = log
        #: pair -> "real" or "estimate", the source of the pair's last analysed frame
        self.source: dict[str, str] = {}
        self._cache: dict[tuple[str, str], tuple[tuple[int, int], pd.DataFrame, pd.Timestamp]] = {}

    def _bars(self, path: Path, pair: str, timeframe: str) -> tuple[pd.DataFrame, pd.Timestamp]:
        """The file's bars at ``timeframe`` and the end of its last minute (read again only when
        the file changed: live, once per flush of the recorder).
        """
        stat = path.stat()
        stamp = (stat.st_mtime_ns, stat.st_size)
        key = (str(path), timeframe)
        hit = self._cache.get(key)
        if hit is not None and hit[0] == stamp:
            return hit[1], hit[2]
        minutes = load_liquidations(path, "1m", pair=pair, gaps=False)
        if len(minutes) == 0:
            raise InputError(f"{path} holds no recorded minute")
        end = minutes.index[-1] + pd.Timedelta(minutes=1)
        bars = load_liquidations(path, timeframe, pair=pair)
        self._cache[key] = (stamp, bars, end)
        return bars, end

    def __call__(
        self, frame: pd.DataFrame, pair: str, datadir: Any, timeframe: str, *, live: bool
    ) -> pd.DataFrame:
        """``frame`` (the strategy's features) with :data:`REAL_COLUMNS` added: the recorded USD
        per candle (NaN without a usable file) and the flag of the source in force.
        """
        out = frame.assign(
            liq_real_long_usd=np.nan, liq_real_short_usd=np.nan, liq_cascade_real=0.0
        )
        if len(frame) == 0:
            return out
        dates = coerce_dates(frame["date"])
        candle = pd.Timedelta(minutes=timeframes.timeframe_minutes(timeframe))
        close = dates.iloc[-1] + candle
        path = None if datadir is None else liquidations_file(datadir, pair)
        why = "no recorded file"
        if path is not None and path.is_file():
            try:
                bars, end = self._bars(path, pair, timeframe)
            except (InputError, OSError) as exc:
                why = f"unreadable ({exc})"
            else:
                real = recorded_per_candle(bars, frame["date"], timeframe, quiet_until=close)
                out["liq_real_long_usd"] = real["liq_real_long_usd"]
                out["liq_real_short_usd"] = real["liq_real_short_usd"]
                first = dates.iloc[0 if not live else max(0, len(dates) - self.cover_candles)]
                lag = close - end
                if lag > self.fresh:
                    why = f"stale: the last recorded minute ends {lag} before the candle's close"
                elif bars.index[0] > first:
                    why = (
                        f"too short: recorded from {bars.index[0]:%Y-%m-%d %H:%M}, the cascade "
                        f"rule reads from {first:%Y-%m-%d %H:%M}"
                    )
                else:
                    why = ""
                    out["liq_cascade_real"] = 1.0
        self._switch(pair, "estimate" if why else "real", why, path)
        return out

    def _switch(self, pair: str, source: str, why: str, path: Path | None) -> None:
        before = self.source.get(pair)
        self.source[pair] = source
        if source == before or (before is None and why == "no recorded file"):
            return  # no change, or the usual start without a recorder: silent
        if source == "real":
            self.log.info("%s: cascades detected from recorded liquidations (%s)", pair, path)
        else:
            self.log.info(
                "%s: cascades detected from the map's estimate (recorded liquidations: %s)",
                pair,
                why,
            )


@dataclass(frozen=True)
class BookPath:
    """Resting liquidity between price and a target, against the same depth on the other side.

    Attributes:
        path_usd: notional resting in the way (asks up to the target for a long, bids down to it
            for a short), within ``band_pct``.
        support_usd: notional on the other side within the same distance from price.
        band_pct: the distance compared (% of price): the target's, capped by the visible book.
        defended: True when ``path_usd >= ratio * support_usd``.
    """

    path_usd: float
    support_usd: float
    band_pct: float
    defended: bool


def book_path(
    orderbook: Mapping[str, Any], price: float, target: float, is_short: bool, *, ratio: float = 2.0
) -> BookPath:
    """Is the way from ``price`` to ``target`` defended by thick resting orders, or hollow?

    For a long the path is the asks between price and the target; it is compared with the bids
    within the same distance below price. The distance is cut to what both sides of the book show
    (a depth-limited book must not make one side look thin). A hollow path lets price travel to
    the opposite cluster; a defended one (``path >= ratio * support``) tends to stop it.

    Args:
        orderbook: ``{"bids": [[price, amount], ...], "asks": [...]}`` as ``dp.orderbook`` returns.
        price: Reference price (the entry rate).
        target: Take-profit price.
        is_short: True for a short.
        ratio: Path-to-support ratio from which the path counts as defended.
    """
    bids, asks = _book_side(orderbook, "bids"), _book_side(orderbook, "asks")
    if not (price > 0 and math.isfinite(target)) or len(bids) == 0 or len(asks) == 0:
        return BookPath(0.0, 0.0, 0.0, False)
    reach_up = (asks[:, 0].max() - price) / price
    reach_down = (price - bids[:, 0].min()) / price
    band = min(abs(target - price) / price, reach_up, reach_down)
    up = asks[(asks[:, 0] >= price) & (asks[:, 0] <= price * (1 + band))]
    down = bids[(bids[:, 0] <= price) & (bids[:, 0] >= price * (1 - band))]
    up_usd = float((up[:, 0] * up[:, 1]).sum())
    down_usd = float((down[:, 0] * down[:, 1]).sum())
    path, support = (down_usd, up_usd) if is_short else (up_usd, down_usd)
    return BookPath(path, support, band * 100.0, bool(path > 0 and path >= ratio * support))


def defended_entry(
    dp: Any,
    pair: str,
    rate: float,
    target: float,
    is_short: bool,
    *,
    ratio: float = 2.0,
    log_once: LogOnce = _LOG_ONCE,
) -> bool:
    """True when the order book (``dp.orderbook(pair, 1000)``) defends the way from ``rate`` to
    ``target`` (:func:`book_path`); the skipped entry is logged. False without a target or without
    a book (a failed fetch is logged once per pair): the entry then trades on the map alone.
    """
    if not math.isfinite(target):
        return False
    try:
        book = dp.orderbook(pair, 1000)
    except Exception as exc:  # noqa: BLE001 - without a book, trade on the map alone
        log_once(f"book:{pair}", f"{pair}: order book unavailable ({exc}); entry allowed")
        return False
    path = book_path(book, rate, target, is_short, ratio=ratio)
    if path.defended:
        logger.info(
            "%s: %s entry skipped, path to %.2f defended (%.0f vs %.0f USD within %.2f%%)",
            pair,
            "short" if is_short else "long",
            target,
            path.path_usd,
            path.support_usd,
            path.band_pct,
        )
    return path.defended


def _book_side(orderbook: Any, side: str) -> np.ndarray:
    """``[[price, amount], ...]`` of one side of a ccxt order book (entries may carry a third
    field, e.g. an order count), rows with a non-finite or non-positive price or amount dropped;
    empty when the book or the side is missing.
    """
    levels = orderbook.get(side) if isinstance(orderbook, Mapping) else None
    rows = [level[:2] for level in levels or () if isinstance(level, Sequence) and len(level) >= 2]
    book = np.asarray(rows, dtype=np.float64).reshape(-1, 2)
    return book[np.isfinite(book).all(axis=1) & (book > 0).all(axis=1)]


@dataclass
class CandleLog:
    """One INFO line per computed candle per pair: the live log's confirmation that the map ran.

    Freqtrade analyses a pair once per new candle, but may call ``populate_indicators`` again for
    the same candle (a reload, a second timeframe); the line is written only when the pair's last
    candle is newer than the one last logged. The line names the inflow mode of that candle (open
    interest or volume, from ``liq_oi_mode`` or ``oi_value``), the nearest clusters and the
    liquidations swept.
    """

    log: logging.Logger = logger
    last: dict[str, pd.Timestamp] = field(default_factory=dict)

    def __call__(self, pair: str, frame: pd.DataFrame) -> str | None:
        """Log ``frame``'s last candle for ``pair`` unless it was logged already; returns the line."""
        if frame is None or len(frame) == 0 or "date" not in frame.columns:
            return None
        row = frame.iloc[-1]
        when = pd.Timestamp(row["date"])
        seen = self.last.get(pair)
        if seen is not None and when <= seen:
            return None
        self.last[pair] = when

        def num(column: str) -> float:
            try:
                return float(row.get(column, math.nan))
            except (TypeError, ValueError):
                return math.nan

        def usd(column: str) -> str:
            return format_usd(num(column), prefix="")  # "12.3M" ("-": none); the line adds USD

        mode = num("liq_oi_mode")
        if not math.isfinite(mode):
            mode = 1.0 if math.isfinite(num("oi_value")) else 0.0
        sides = []
        for side in ("long", "short"):
            price = num(f"liq_{side}_cluster_price")
            sides.append(
                f"{side} cluster {price:,.2f} ({num(f'liq_{side}_cluster_dist_pct'):+.2f}%, "
                f"{usd(f'liq_{side}_cluster_usd')} USD)"
                if math.isfinite(price)
                else f"no {side} cluster"
            )
        line = (
            f"{pair}: liquidation map at {when:%Y-%m-%d %H:%M} "
            f"({'open-interest' if mode > 0 else 'volume'} inflow): close {num('close'):,.2f}; "
            f"{'; '.join(sides)}; swept long/short {usd('liq_swept_long_usd')}/"
            f"{usd('liq_swept_short_usd')} USD"
        )
        self.log.info("%s", line)
        return line


class AlertLimiter:
    """Sends :func:`liq_indicator.strategy.signals.alert_messages` through ``dp.send_msg``, at most once per
    ``interval_s`` seconds per (pair, alert kind), and logs each new computed candle once per pair
    (:class:`CandleLog`). Does nothing outside live/dry-run.
    """

    def __init__(self, interval_s: float = 3600.0, clock: Callable[[], float] = time.monotonic):
        self.interval_s = float(interval_s)
        self._clock = clock
        self._last: dict[tuple[str, str], float] = {}
        #: the one-line-per-candle confirmation of the live log
        self.candle_log = CandleLog()

    def allow(self, pair: str, key: str) -> bool:
        """True (and the slot is taken) when ``key`` for ``pair`` was not sent within the interval."""
        now = self._clock()
        last = self._last.get((pair, key))
        if last is not None and now - last < self.interval_s:
            return False
        self._last[(pair, key)] = now
        return True

    def check(self, dp: Any, pair: str, frame: pd.DataFrame, params: SignalParams) -> list[str]:
        """Log the last candle of ``frame`` (once per candle, :class:`CandleLog`), evaluate the
        alerts at it and send the allowed ones.
        """
        if dp is None or not is_live(dp):
            return []
        self.candle_log(pair, frame)
        if len(frame) < 2:
            return []
        sent = []
        tail = frame.iloc[-(params.norm_window + params.lookback + 2) :]
        for key, text in alert_messages(tail, params):
            if self.allow(pair, key):
                message = f"{pair}: {text}"
                dp.send_msg(message)
                sent.append(message)
        return sent


def parse_recursive_analysis(output: str) -> tuple[list[str], dict[str, list[str]]]:
    """The table ``freqtrade recursive-analysis`` prints, as ``(headers, {indicator: cells})``.

    The command exits 0 whatever it finds and exports nothing, so its printed table is the result.
    Headers are the start-up candle counts (the strategy's marked ``"<n> (from strategy)"``); cells
    are relative differences such as ``"-0.012%"``, ``"nan%"`` (one side 0 or NaN) or ``"-"``.
    Returns ``([], {})`` when no table was printed (no indicator differed at all).
    """
    lines = output.splitlines()
    start = next((i for i, line in enumerate(lines) if "Recursive Analysis" in line), None)
    if start is None:
        return [], {}
    headers: list[str] = []
    rows: dict[str, list[str]] = {}
    for line in lines[start + 1 :]:
        text = line.strip()
        if "┃" in text and "Indicators" in text:
            headers = [c.strip() for c in text.strip("┃").split("┃")][1:]
        elif text.startswith("│"):
            cells = [c.strip() for c in text.strip("│").split("│")]
            rows[cells[0]] = cells[1:]
        elif text.startswith("└"):
            break
    return headers, rows
