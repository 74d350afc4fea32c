"""What the Freqtrade strategy's callbacks answer, so that
``user_data/strategies/LiqClusterStrategy.py`` only delegates: the hyperoptable parameters (ranges
defined once in :data:`PARAMETER_SPACES`, defaults from :class:`SignalParams` and
:class:`TradeParams`), the entry columns, and a :class:`Desk` keeping what the strategy needs
between callbacks (the analysed frames' maps, the trade plans, alerts) and answering them.

Nothing here imports Freqtrade: its parameter classes, ``stoploss_from_absolute`` and
``timeframe_to_minutes`` are handed in by the strategy, its DataProvider, config and wallets are
passed at each call (or read from the strategy at each call, :class:`StrategyDesk`), and a trade is
used through the attributes a strategy sees, so all of it is testable with stubs::

    @hyperoptable(IntParameter, DecimalParameter)  # Freqtrade finds them as class attributes
    class MyStrategy(IStrategy):
        def __init__(self, config):
            super().__init__(config)
            self.desk = StrategyDesk(self, stoploss_from_absolute, timeframe_to_minutes)

        def custom_stake_amount(self, pair, current_time, current_rate, proposed_stake, ...):
            money = self.desk.money(proposed_stake)
            return self.desk.stake(pair, side, current_rate, leverage, min_stake, max_stake, money)
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable, Hashable, Mapping, Sequence
from dataclasses import dataclass, fields
from datetime import datetime
from typing import Any, NamedTuple, TypeVar

import pandas as pd

from liq_indicator.config import HeatmapConfig, Settings
from liq_indicator.errors import ConfigError
from liq_indicator.io import timeframes
from liq_indicator.risk import choose_leverage, planned_notional, stake_for_risk
from liq_indicator.strategy.glue import (
    REAL_COLUMNS,
    AlertLimiter,
    CascadeSource,
    LogOnce,
    SignalMaps,
    analysed_signal_row,
    defended_entry,
    is_live,
    side_frames,
    venue_frames,
)
from liq_indicator.strategy.signals import (
    STRATEGY_COLUMNS,
    SignalParams,
    entry_signals,
    exit_roi,
    strategy_features,
)
from liq_indicator.strategy.trade_state import (
    TradePlans,
    liquidation_buffer,
    signal_is_stale,
    total_wallet,
)

__all__ = [
    "PARAMETER_SPACES",
    "Desk",
    "Sizing",
    "Space",
    "StrategyDesk",
    "TradeParams",
    "entry_leverage",
    "entry_stake",
    "exit_reason",
    "hyperopt_parameters",
    "hyperoptable",
    "mark_entries",
    "parameter_values",
    "sizing",
    "stoploss_ratio",
]

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class TradeParams(Settings):
    """The strategy's settings besides :class:`SignalParams`: break-even, sizing, leverage and the
    live order-book check; defaults as the strategy ships them.
    """

    breakeven_r: float = 0.0
    """Move the stop to entry once price went this many R in the trade's favour (0: never)."""
    risk_per_trade: float = 0.0075
    """Fraction of the wallet lost at the stop (entry and exit fees included)."""
    max_leverage_cap: int = 10
    """The strategy's leverage cap (the exchange's applies too)."""
    leverage_safety: float = 1.5
    """Own liquidation at least this many stop distances from entry."""
    book_defended_ratio: float = 2.0
    """Live: skip an entry whose path to the target holds this many times the opposite depth."""

    def __post_init__(self) -> None:
        self.check_types()
        if not 0 < self.risk_per_trade < 1:
            raise ConfigError(
                f"TradeParams.risk_per_trade must be in (0, 1), got {self.risk_per_trade}"
            )
        if not (self.max_leverage_cap >= 1 and self.leverage_safety >= 1):
            raise ConfigError(
                "TradeParams.max_leverage_cap and leverage_safety must be >= 1, got "
                f"{self.max_leverage_cap}, {self.leverage_safety}"
            )


class Space(NamedTuple):
    """A hyperopt range: ``decimals`` None for an integer parameter; ``optimize`` False keeps the
    parameter out of hyperopt (Freqtrade still loads it from a parameter file).
    """

    low: float
    high: float
    decimals: int | None
    space: str
    optimize: bool = True


#: The hyperoptable parameters: name -> range. Each is a field of SignalParams or TradeParams,
#: whose default it takes.
PARAMETER_SPACES: dict[str, Space] = {
    # entry
    "cascade_mult": Space(5.0, 60.0, 1, "buy"),
    "lookback": Space(2, 24, None, "buy"),
    "exhaust_ratio": Space(0.05, 0.8, 2, "buy"),
    "rebound_atr": Space(0.25, 3.0, 2, "buy"),
    "fuel_dist_pct": Space(0.5, 4.0, 1, "buy"),
    "fuel_ratio": Space(0.25, 4.0, 2, "buy"),
    "min_rr": Space(0.3, 3.0, 1, "buy"),
    "max_stop_pct": Space(1.0, 10.0, 1, "buy"),
    "funding_max": Space(0.0001, 0.002, 4, "buy"),
    "oi_max_change": Space(0.0, 0.1, 3, "buy"),
    # stop and exit (breakeven_r 0: no break-even move). The stop clears the sweep zone, a
    # quantile of the pair's past overshoots (stop_overshoot_q 0: off), floored by stop_buffer_atr
    # ATRs: on Binance BTC 5m the median overshoot is about 2 ATR, its 90th percentile 7-8 ATR
    "stop_overshoot_q": Space(0.0, 0.95, 2, "sell"),
    "stop_buffer_atr": Space(0.0, 12.0, 1, "sell"),
    "max_hold_candles": Space(12, 288, None, "sell"),
    "breakeven_r": Space(0.0, 3.0, 1, "sell"),
    # risk (not optimised by default)
    "risk_per_trade": Space(0.0025, 0.02, 4, "buy", optimize=False),
    "max_leverage_cap": Space(1, 25, None, "buy", optimize=False),
    "leverage_safety": Space(1.0, 3.0, 1, "buy", optimize=False),
    "book_defended_ratio": Space(1.0, 5.0, 1, "buy", optimize=False),
}

_DEFAULTS: dict[str, Any] = {**SignalParams().to_dict(), **TradeParams().to_dict()}


def hyperopt_parameters(
    int_parameter: Callable[..., Any], decimal_parameter: Callable[..., Any]
) -> dict[str, Any]:
    """One hyperopt parameter per :data:`PARAMETER_SPACES` entry, with its dataclass default.

    Args:
        int_parameter: Freqtrade's ``IntParameter`` (or a stand-in taking the same arguments).
        decimal_parameter: Freqtrade's ``DecimalParameter`` (likewise).
    """
    made = {}
    for name, s in PARAMETER_SPACES.items():
        common = {"default": _DEFAULTS[name], "space": s.space, "optimize": s.optimize}
        made[name] = (
            int_parameter(int(s.low), int(s.high), **common)
            if s.decimals is None
            else decimal_parameter(s.low, s.high, decimals=s.decimals, **common)
        )
    return made


Strategy = TypeVar("Strategy", bound=type)


def hyperoptable(
    int_parameter: Callable[..., Any], decimal_parameter: Callable[..., Any]
) -> Callable[[Strategy], Strategy]:
    """Class decorator: :func:`hyperopt_parameters` as class attributes, where Freqtrade's hyperopt
    looks for them (``detect_all_parameters`` scans the class's attributes).
    """

    def attach(cls: Strategy) -> Strategy:
        for name, parameter in hyperopt_parameters(int_parameter, decimal_parameter).items():
            setattr(cls, name, parameter)
        return cls

    return attach


P = TypeVar("P", bound=Settings)


def parameter_values(strategy: Any, kind: type[P]) -> P:
    """``kind`` (SignalParams or TradeParams) with the current value of each of its fields that is
    a hyperopt parameter of ``strategy`` (``strategy.<name>.value``, cast to the field's type).
    """
    default = kind()
    return kind(
        **{
            f.name: type(getattr(default, f.name))(getattr(strategy, f.name).value)
            for f in fields(kind)  # type: ignore[arg-type]
            if f.name in PARAMETER_SPACES
        }
    )


class Sizing(NamedTuple):
    """What leverage and stake read: the :class:`TradeParams` in force, the wallet's total stake
    amount, the fee charged per side, Freqtrade's ``liquidation_buffer`` and the stake currency
    (for messages).
    """

    params: TradeParams
    wallet: float
    fee: float
    liquidation_buffer: float
    currency: str


def sizing(
    params: TradeParams, wallets: Any, config: Mapping[str, Any], taker_fee: float, fallback: float
) -> Sizing:
    """The :class:`Sizing` of a strategy: ``wallets`` (``fallback`` when there are none, see
    :func:`~liq_indicator.strategy.trade_state.total_wallet`), the config's ``fee`` or
    ``taker_fee``, its ``liquidation_buffer`` and ``stake_currency``.
    """
    return Sizing(
        params,
        total_wallet(wallets, fallback),
        float(config.get("fee") or taker_fee),
        liquidation_buffer(config),
        str(config.get("stake_currency", "")),
    )


def mark_entries(frame: pd.DataFrame, params: SignalParams) -> pd.DataFrame:
    """``populate_entry_trend``: ``enter_long``, ``enter_short``, ``enter_tag`` and
    ``sweep_zone_pct`` (the stop's sweep zone, read back from the signal candle by the trade plan)
    of :func:`~liq_indicator.strategy.signals.entry_signals` set on ``frame``, which is returned.
    """
    entries = entry_signals(frame.drop(columns="sweep_zone_pct", errors="ignore"), params)
    for column in ("enter_long", "enter_short", "enter_tag", "sweep_zone_pct"):
        frame[column] = entries[column]
    return frame


#: The names :func:`exit_reason` gives the two exits of ``custom_roi``.
TARGET_EXIT, TIME_EXIT = "target", "time_limit"


def exit_reason(
    reason: str | None, minutes_open: float, timeframe_minutes: float, max_hold_candles: int
) -> str | None:
    """The exit reason a filled exit should carry: Freqtrade reports both ``custom_roi`` exits
    (:func:`~liq_indicator.strategy.signals.exit_roi`) as ``roi``; this tells them apart,
    ``"time_limit"`` once the trade is ``max_hold_candles`` old (the rule ``exit_roi`` applies),
    ``"target"`` before. Any other reason is returned as it is: the stops keep Freqtrade's
    ``stop_loss`` / ``trailing_stop_loss`` / ``stoploss_on_exchange``, which its
    ``StoplossGuard`` protection counts.

    Called from ``order_filled`` (once per filled order: no cost per candle).

    Example:
        >>> exit_reason("roi", 10.0, 5.0, 72), exit_reason("roi", 360.0, 5.0, 72)
        ('target', 'time_limit')
    """
    if reason != "roi":
        return reason
    return TIME_EXIT if minutes_open >= max_hold_candles * timeframe_minutes else TARGET_EXIT


def stoploss_ratio(
    stop: float,
    rate: float,
    trade: Any,
    from_absolute: Callable[[float, float, bool, float], float],
) -> float | None:
    """The stop price as Freqtrade's ``custom_stoploss`` ratio at the trade's leverage
    (``from_absolute`` is Freqtrade's ``stoploss_from_absolute``). None (the stop stays where it
    is) for a NaN stop (no plan) or no usable ``rate``; a tiny positive ratio (exit now) once
    price is through the stop.
    """
    if not (math.isfinite(stop) and rate > 0):
        return None
    leverage = trade.leverage or 1.0
    ratio = from_absolute(stop, rate, trade.is_short, leverage)
    return 1e-4 * leverage if ratio <= 0 else ratio


def entry_leverage(
    stop: float,
    rate: float,
    is_short: bool,
    max_leverage: float,
    money: Sizing,
    avoid: Callable[[], list[tuple[float, float]]],
    *,
    exchange: str = "binance",
    pair: str | None = None,
) -> float:
    """The leverage of an entry at ``rate`` with its stop at ``stop``:
    :func:`~liq_indicator.risk.choose_leverage` for the position the stake will open
    (:func:`~liq_indicator.risk.planned_notional`), capped by ``max_leverage_cap`` and
    ``max_leverage``, its liquidation clear of the zones ``avoid()`` returns (asked only when
    needed), with the maintenance-margin tiers of ``pair`` on ``exchange`` (BTC's when None).
    1.0 when no leverage can be worked out (no stop, no wallet, no exchange maximum):
    :func:`entry_stake` then sizes, or skips, the trade.
    """
    if not (math.isfinite(stop) and money.wallet > 0 and max_leverage >= 1):
        return 1.0
    params = money.params
    cap = max(1.0, min(float(params.max_leverage_cap), float(max_leverage)))
    notional = planned_notional(
        money.wallet, params.risk_per_trade, rate, stop, is_short, fee=money.fee
    )
    return choose_leverage(
        rate,
        stop,
        is_short,
        max_leverage=cap,
        notional=notional,
        safety=params.leverage_safety,
        avoid=avoid(),
        liquidation_buffer=money.liquidation_buffer,
        exchange=exchange,
        **({} if pair is None else {"symbol": pair}),
    )


def entry_stake(
    pair: str,
    side: str,
    stop: float,
    rate: float,
    leverage: float,
    min_stake: float | None,
    max_stake: float,
    money: Sizing,
) -> float:
    """The margin that loses ``risk_per_trade`` of the wallet at the stop
    (:func:`~liq_indicator.risk.stake_for_risk`; a NaN or < 1 leverage sizes as unleveraged).
    0 (skip the trade, logged) without a stop or a positive wallet; it never raises, or Freqtrade
    would stake the proposed amount unsized.
    """
    if not (math.isfinite(stop) and money.wallet > 0):
        why = (
            f"no cluster stop at rate {rate} (signal candle unavailable or stop on the wrong side)"
            if not math.isfinite(stop)
            else f"the wallet holds {money.wallet} "
            f"{money.currency}: no stake risks a fraction of it"
        )
        logger.warning("%s: %s entry skipped, %s", pair, side, why)
        return 0.0
    lev = float(leverage) if leverage >= 1 else 1.0
    return stake_for_risk(
        money.wallet,
        money.params.risk_per_trade,
        rate,
        stop,
        lev,
        side == "short",
        min_stake=min_stake,
        max_stake=max_stake,
        fee=money.fee,
    )


def _unmapped(candles: pd.DataFrame) -> pd.DataFrame:
    """``candles`` with every column the strategy reads present and NaN (a pair without tiers):
    no setup condition holds on NaN, so the pair never enters.
    """
    atr_column = f"atr_{SignalParams().atr_window}"
    extra = (
        *STRATEGY_COLUMNS,
        atr_column,
        "overshoot_long_pct",
        "overshoot_short_pct",
        "funding_rate",
        "oi_value",
        *REAL_COLUMNS,
    )
    return candles.assign(**dict.fromkeys(extra, float("nan")))


class Desk:
    """What a strategy keeps between Freqtrade's callbacks (one-time log, alert limiter, the
    analysed frames' maps, the trade plans) and the callbacks' answers. Freqtrade's own objects
    (DataProvider, config, wallets) and the parameter values in force are passed in at each call.

    Args:
        heatmap: the map the strategy trades on.
        timeframe: the strategy's timeframe (at construction; calls pass the current one).
        signal_row: ``(pair, before) -> row`` (see :class:`~.trade_state.TradePlans`).
        params: the signal parameters in force (read when a plan is made, and live for alerts).
        from_absolute: Freqtrade's ``stoploss_from_absolute``.
        log: the strategy's logger (one-time notices).
        oi_timeframes: open-interest timeframes to try before ``timeframe``.
        alert_interval_s: at most one alert per pair and kind in this many seconds.
        real_fresh_minutes: recorded liquidations count as fresh while their last minute ends at
            most this long before the last candle's close (:class:`~.glue.CascadeSource`).
    """

    def __init__(
        self,
        heatmap: HeatmapConfig,
        timeframe: str,
        signal_row: Callable[[str, datetime | None], Any],
        params: Callable[[], SignalParams],
        from_absolute: Callable[[float, float, bool, float], float],
        *,
        log: logging.Logger = logger,
        oi_timeframes: Sequence[str] = ("1h",),
        alert_interval_s: float = 3600.0,
        real_fresh_minutes: float = 30.0,
    ) -> None:
        self.log_once = LogOnce(log)
        # live, the cascade rule reads the norm's window and at most the look-back's hyperopt top
        cover = SignalParams().norm_window + int(PARAMETER_SPACES["lookback"].high) + 1
        self.cascades = CascadeSource(real_fresh_minutes, cover, log)
        self.alerts = AlertLimiter(alert_interval_s)
        self.maps = SignalMaps(heatmap, timeframes.timeframe_minutes(timeframe))
        self.plans = TradePlans(signal_row, params, self.log_once, zones=self._plan_zones)
        self.params = params
        self.from_absolute = from_absolute
        self.oi_timeframes = tuple(oi_timeframes)

    def _plan_zones(self, pair: str, is_short: bool, signal_date: Any) -> list[tuple[float, float]]:
        return plan_zones(self.maps, self.log_once, pair, is_short, signal_date)

    def heatmap(self, pair: str) -> HeatmapConfig | None:
        """The map of ``pair``: the strategy's settings with the pair's own maintenance-margin
        tiers (:func:`~liq_indicator.strategy.glue.pair_heatmap`: registered tiers, e.g. those
        Freqtrade's exchange loaded, else Freqtrade's bundled Binance file). None when the pair
        has no tiers: logged once, and the pair is skipped (no features, no entries).
        """
        try:
            return self.maps.config_for(pair)
        except ConfigError as exc:
            self.log_once(
                f"no-tiers:{pair}",
                f"{pair}: skipped, no liquidation map without its tiers ({exc})",
                logging.WARNING,
            )
            return None

    def analyse(
        self, candles: pd.DataFrame, pair: str, dp: Any, config: Mapping[str, Any], timeframe: str
    ) -> pd.DataFrame:
        """``populate_indicators``: side data (:func:`~liq_indicator.strategy.glue.side_frames`),
        other venues (``config["liq_venues"]`` next to ``config["datadir"]``, at most 3 candles
        behind), the strategy's features and the recorded liquidations
        (:class:`~liq_indicator.strategy.glue.CascadeSource`: the cascade rule's source); the
        frame is remembered for the leverage check, and, live only, alerts are sent (``params()``
        is read only then: hyperopt flags parameters read while indicators are computed). The map
        uses the pair's own tiers (:meth:`heatmap`); a pair without tiers gets the strategy's
        columns all NaN, so it never enters.
        """
        heatmap = self.heatmap(pair)
        if heatmap is None:
            return _unmapped(candles)
        oi, funding = side_frames(
            dp, pair, timeframe, oi_timeframes=self.oi_timeframes, log_once=self.log_once
        )
        max_lag = pd.Timedelta(minutes=3 * timeframes.timeframe_minutes(timeframe))
        venues = (
            venue_frames(
                config.get("datadir"),
                config.get("liq_venues", []),
                pair,
                timeframe,
                candles["date"].iloc[-1],
                max_lag=max_lag,
                config=heatmap,
                log_once=self.log_once,
            )
            if len(candles)
            else []
        )
        frame = strategy_features(
            candles,
            heatmap,
            open_interest=oi,
            funding=funding,
            atr_window=SignalParams().atr_window,
            venues=venues,
        )
        # recorded liquidations, when fresh, replace the estimate in the cascade rule
        frame = self.cascades(frame, pair, config.get("datadir"), timeframe, live=is_live(dp))
        self.maps.remember(pair, candles, venues, config=heatmap, open_interest=oi, funding=funding)
        if is_live(dp):
            self.alerts.check(dp, pair, frame, self.params())
        return frame

    def stoploss(
        self, trade: Any, rate: float, stop_buffer: Hashable, breakeven_r: float, *, persist: bool
    ) -> float | None:
        """``custom_stoploss``: the trade's stop (:meth:`TradePlans.stop`) as Freqtrade's ratio
        (:func:`stoploss_ratio`). ``stop_buffer``: the stop's hyperoptable settings in force (a
        plan's key, e.g. ``(stop_buffer_atr, stop_overshoot_q)``).
        """
        stop = self.plans.stop(trade, stop_buffer, float(breakeven_r), persist=persist)
        return stoploss_ratio(stop, rate, trade, self.from_absolute)

    def roi(
        self,
        trade: Any,
        minutes_open: float,
        timeframe_minutes: float,
        stop_buffer: Hashable,
        max_hold_candles: int,
        *,
        persist: bool,
    ) -> float | None:
        """``custom_roi``: the trade's profit ratio at its plan's target, or -1 at the time limit
        (:func:`~liq_indicator.strategy.signals.exit_roi`).
        """
        target = self.plans.target(trade, stop_buffer, persist=persist)
        profit = trade.calc_profit_ratio(target) if math.isfinite(target) else math.nan
        return exit_roi(profit, minutes_open, timeframe_minutes, int(max_hold_candles))

    def filled(
        self, trade: Any, order: Any, now: datetime, timeframe_minutes: float, max_hold: int
    ) -> None:
        """``order_filled``: a filled exit of the whole position gets its :func:`exit_reason`
        (``target`` or ``time_limit`` instead of ``roi``). Entries and other exits are left alone.

        The reason is written on the order's own trade (``order.trade``), not on ``trade``:
        Freqtrade hands every strategy callback a deep copy of the trade (``strategy_wrapper``),
        so a reason set on the copy is lost and the backtest tables still say ``roi``. ``order``
        is passed as it is, and its ``trade`` is the real one (the backtest's ``LocalTrade``, the
        database row live). Without it (a stub), ``trade`` itself is changed.
        """
        if getattr(order, "ft_order_side", None) != getattr(trade, "exit_side", object()):
            return
        minutes = (pd.Timestamp(now) - pd.Timestamp(trade.open_date_utc)).total_seconds() / 60.0
        reason = exit_reason(trade.exit_reason, minutes, timeframe_minutes, int(max_hold))
        if reason == trade.exit_reason:
            return
        trade.exit_reason = reason
        real = getattr(order, "trade", None)
        if real is not None and real is not trade:
            real.exit_reason = reason

    def leverage(
        self,
        pair: str,
        side: str,
        rate: float,
        max_leverage: float,
        money: Sizing,
        avoid: Callable[[], list[tuple[float, float]]],
    ) -> float:
        """``leverage``: :func:`entry_leverage` with the stop of the pair's last signal candle and
        the pair's own tiers (1.0 for a pair without tiers, logged once: it is not traded).
        """
        stop = self.plans.entry(pair, side == "short", rate)[0]
        heatmap = self.heatmap(pair)
        if heatmap is None:
            return 1.0
        return entry_leverage(
            stop,
            rate,
            side == "short",
            max_leverage,
            money,
            avoid,
            exchange=heatmap.exchange,
            pair=heatmap.symbol,
        )

    def stake(
        self,
        pair: str,
        side: str,
        rate: float,
        leverage: float,
        min_stake: float | None,
        max_stake: float,
        money: Sizing,
    ) -> float:
        """``custom_stake_amount``: :func:`entry_stake` with the stop of the pair's last signal
        candle.
        """
        stop = self.plans.entry(pair, side == "short", rate)[0]
        return entry_stake(pair, side, stop, rate, leverage, min_stake, max_stake, money)

    def confirm(
        self,
        dp: Any,
        pair: str,
        side: str,
        rate: float,
        now: datetime,
        timeframe_minutes: float,
        book_ratio: float,
    ) -> bool:
        """``confirm_trade_entry``, live only (True otherwise): no entry on a stale signal candle
        (:func:`~liq_indicator.strategy.trade_state.signal_is_stale`; none at all counts as
        stale), nor on a path to the plan's target defended by thick orders
        (:func:`~liq_indicator.strategy.glue.defended_entry` at ``book_ratio``).
        """
        if dp is None or not is_live(dp):
            return True
        _, target, signal_date = self.plans.entry(pair, side == "short", rate)
        if signal_date is None or signal_is_stale(signal_date, now, timeframe_minutes):
            self.log_once(
                f"stale:{pair}:{signal_date}",
                f"{pair}: {side} entry skipped, its signal candle is stale",
                logging.WARNING,
            )
            return False
        return not defended_entry(
            dp, pair, rate, target, side == "short", ratio=float(book_ratio), log_once=self.log_once
        )


class StrategyDesk(Desk):
    """The :class:`Desk` of a Freqtrade strategy, reading what it needs from the strategy itself.

    Its settings (``heatmap_config``, ``timeframe``, ``oi_timeframes``, ``alert_interval_s``,
    ``liq_real_fresh_minutes``) are read once, here. The DataProvider ``dp``, ``timeframe``,
    ``wallets``, ``config``, ``taker_fee``, ``startup_candle_count`` and the hyperopt parameters
    (``strategy.<name>.value``, see :func:`hyperoptable`) are read at each call: Freqtrade sets the
    DataProvider, a configured timeframe and hyperopt's values after the strategy's ``__init__``.

    Args:
        strategy: the Freqtrade strategy (an ``IStrategy`` decorated with :func:`hyperoptable`).
        from_absolute: Freqtrade's ``stoploss_from_absolute``.
        timeframe_minutes: Freqtrade's ``timeframe_to_minutes``.
        log: the strategy's logger (one-time notices).
    """

    def __init__(
        self,
        strategy: Any,
        from_absolute: Callable[[float, float, bool, float], float],
        timeframe_minutes: Callable[[str], float],
        *,
        log: logging.Logger = logger,
    ) -> None:
        self.strategy = strategy
        self._timeframe_minutes = timeframe_minutes
        super().__init__(
            strategy.heatmap_config,
            strategy.timeframe,
            self.signal_row,
            self.signal_params,
            from_absolute,
            log=log,
            oi_timeframes=strategy.oi_timeframes,
            alert_interval_s=strategy.alert_interval_s,
            real_fresh_minutes=strategy.liq_real_fresh_minutes,
        )

    @property
    def minutes(self) -> float:
        """Minutes of one candle of the strategy's current timeframe."""
        return self._timeframe_minutes(self.strategy.timeframe)

    @property
    def live(self) -> bool:
        """True when the strategy's DataProvider runs live or dry-run (:func:`~.glue.is_live`)."""
        return is_live(self.strategy.dp)

    @property
    def stop_key(self) -> tuple[float, float]:
        """The hyperoptable settings a trade's stop uses, ``(stop_buffer_atr, stop_overshoot_q)``:
        the plan key :meth:`Desk.stoploss` and :meth:`Desk.roi` take.
        """
        return self.strategy.stop_buffer_atr.value, self.strategy.stop_overshoot_q.value

    def signal_params(self) -> SignalParams:
        """The :class:`SignalParams` in force (:func:`parameter_values` of the strategy)."""
        return parameter_values(self.strategy, SignalParams)

    def money(self, fallback: float) -> Sizing:
        """The :class:`Sizing` in force: :func:`sizing` of the strategy's :class:`TradeParams`,
        wallets, config and ``taker_fee`` (``fallback``: the wallet when it has no wallets).
        """
        strategy = self.strategy
        params = parameter_values(strategy, TradeParams)
        return sizing(params, strategy.wallets, strategy.config, strategy.taker_fee, fallback)

    def signal_row(self, pair: str, before: datetime | None) -> pd.Series | None:
        """The pair's signal candle in the strategy's analysed frame
        (:func:`~.glue.analysed_signal_row`; None without a DataProvider).
        """
        strategy = self.strategy
        return analysed_signal_row(strategy.dp, pair, strategy.timeframe, self.minutes, before)

    def avoid_zones(
        self, pair: str, is_short: bool, current_time: datetime
    ) -> list[tuple[float, float]]:
        """Dense same-side clusters of the signal candle's map (without the analysed frame: of
        the last ``startup_candle_count`` candles the DataProvider holds): the leverage check
        avoids them (:meth:`~.glue.SignalMaps.avoid_zones`).
        """

        def window() -> pd.DataFrame:
            candles = self.strategy.dp.get_pair_dataframe(pair, self.strategy.timeframe)
            return candles.iloc[-self.strategy.startup_candle_count :]

        return self.maps.avoid_zones(pair, current_time, is_short, window, self.log_once)


def plan_zones(
    maps: Any, log_once: Any, pair: str, is_short: bool, signal_date: Any
) -> list[tuple[float, float]]:
    """The dense same-side zones of the signal candle's map (a plan's stop stays out of them);
    none when the pair's analysed frame is unknown or the map fails (logged once). ``maps`` is a
    :class:`~liq_indicator.strategy.glue.SignalMaps`; shared by the strategy's ``Desk`` and the
    risk overlay.
    """
    try:
        when = pd.Timestamp(signal_date) + maps.candle
        return maps.zones(pair, when.to_pydatetime(), is_short) or []
    except Exception as exc:  # noqa: BLE001 - the stop beyond the nearest cluster still holds
        log_once(
            f"planzones:{pair}",
            f"{pair}: map zones unavailable for the stop ({exc}); stop beyond the nearest "
            "cluster only",
            logging.WARNING,
        )
        return []
