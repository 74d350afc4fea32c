"""LiqClusterStrategy: trade BTC/USDT:USDT perpetuals, long and short, after liquidation cascades.

Enters after a cascade has exhausted, stops beyond the nearest same-side liquidation cluster,
takes profit at the nearest opposite cluster, picks the leverage whose own liquidation stays clear
of the stop and of the clusters, and risks a fixed fraction of the wallet. The rules live in
``liq_indicator``: ``strategy.signals`` (setups, levels), ``strategy.trade_state`` (plans, their
memo and persistence, staleness), ``strategy.glue`` (side data, venues, map zones, order book,
alerts), ``strategy.frequi`` (charts) and ``risk``. This class holds the settings and answers
Freqtrade's callbacks with them. See docs/STRATEGY.md.

    freqtrade backtesting --config config.json --strategy LiqClusterStrategy --timerange 20240101-
"""

from __future__ import annotations

import logging
import math
from dataclasses import fields
from datetime import datetime
from typing import Any

import pandas as pd
from freqtrade.persistence import Trade
from freqtrade.strategy import (
    DecimalParameter,
    IntParameter,
    IStrategy,
    stoploss_from_absolute,
    timeframe_to_minutes,
)

from liq_indicator import risk
from liq_indicator.strategy import frequi, glue, signals
from liq_indicator.strategy.trade_state import (
    TradePlan,
    TradePlans,
    liquidation_buffer,
    signal_is_stale,
    total_wallet,
)

logger = logging.getLogger(__name__)
P = signals.SignalParams()  # the defaults of the hyperoptable signal parameters below


class LiqClusterStrategy(IStrategy):
    INTERFACE_VERSION = 3
    timeframe = "5m"
    can_short = True
    # 2,000 x 5m = 6.9 days: the map (half-lives <= 18 h) converges within it (docs/STRATEGY.md)
    startup_candle_count = 2000
    process_only_new_candles = True
    # exits: stop (custom_stoploss), target and time limit (custom_roi). Each such callback costs
    # a Freqtrade deep copy of the trade per open trade per candle, so there is no third one
    minimal_roi = {"0": 100.0}
    stoploss = -0.30  # hard backstop (fraction of margin), used only if the custom stop fails
    use_custom_stoploss = True
    use_custom_roi = True
    use_exit_signal = False  # the exits are price levels
    trailing_stop = False
    # the stop rests on the exchange (stop-market, moved when it tightens): it fires without the bot
    order_types = {"entry": "limit", "exit": "limit", "stoploss": "market",
                   "stoploss_on_exchange": True, "stoploss_on_exchange_interval": 60}
    heatmap_config = signals.STRATEGY_HEATMAP
    oi_timeframes = ("1h",)  # then the strategy's timeframe; live refreshes the first one
    alert_interval_s = 3600.0
    taker_fee = 0.0005  # Binance USDT-M taker fee; the sizing charges it twice (entry and exit)
    plot_config = frequi.plot_config()

    # entry (defaults: SignalParams)
    cascade_mult = DecimalParameter(5.0, 60.0, default=P.cascade_mult, decimals=1, space="buy")
    lookback = IntParameter(2, 24, default=P.lookback, space="buy")
    exhaust_ratio = DecimalParameter(0.05, 0.8, default=P.exhaust_ratio, decimals=2, space="buy")
    rebound_atr = DecimalParameter(0.25, 3.0, default=P.rebound_atr, decimals=2, space="buy")
    fuel_dist_pct = DecimalParameter(0.5, 4.0, default=P.fuel_dist_pct, decimals=1, space="buy")
    fuel_ratio = DecimalParameter(0.25, 4.0, default=P.fuel_ratio, decimals=2, space="buy")
    min_rr = DecimalParameter(0.3, 3.0, default=P.min_rr, decimals=1, space="buy")
    max_stop_pct = DecimalParameter(1.0, 10.0, default=P.max_stop_pct, decimals=1, space="buy")
    funding_max = DecimalParameter(0.0001, 0.002, default=P.funding_max, decimals=4, space="buy")
    oi_max_change = DecimalParameter(0.0, 0.1, default=P.oi_max_change, decimals=3, space="buy")
    # stop and exit (breakeven_r 0: no break-even move)
    stop_buffer_atr = DecimalParameter(0.0, 2, default=P.stop_buffer_atr, decimals=2, space="sell")
    max_hold_candles = IntParameter(12, 288, default=P.max_hold_candles, space="sell")
    breakeven_r = DecimalParameter(0.0, 3.0, default=0.0, decimals=1, space="sell")
    # risk (not optimised by default)
    risk_per_trade = DecimalParameter(0.0025, 0.02, default=0.0075, decimals=4, space="buy",
                                      optimize=False)
    max_leverage_cap = IntParameter(1, 25, default=10, space="buy", optimize=False)
    leverage_safety = DecimalParameter(1.0, 3.0, default=1.5, decimals=1, space="buy",
                                       optimize=False)
    book_defended_ratio = DecimalParameter(1.0, 5.0, default=2.0, decimals=1, space="buy",
                                           optimize=False)

    def __init__(self, config: dict) -> None:
        super().__init__(config)
        self.dp = getattr(self, "dp", None)  # Freqtrade attaches the DataProvider after __init__
        self.log_once = glue.LogOnce(logger)
        self.alerts = glue.AlertLimiter(self.alert_interval_s)
        self.maps = glue.SignalMaps(self.heatmap_config, timeframe_to_minutes(self.timeframe))
        self.plans = TradePlans(self._signal_row, lambda: self.signal_params, self.log_once)

    @property
    def minutes(self) -> int:  # read each time: Freqtrade sets a configured timeframe after __init__
        return timeframe_to_minutes(self.timeframe)

    @property
    def signal_params(self) -> signals.SignalParams:
        """The values of the hyperoptable SignalParams fields, as SignalParams."""
        return signals.SignalParams(**{n: type(getattr(P, n))(getattr(self, n).value)
                                       for n in SIGNAL_PARAMETERS})

    def bot_start(self, **kwargs) -> None:  # a bad setting stops the bot (ConfigError)
        glue.check_venue_names(self.config.get("liq_venues", []), self.heatmap_config)

    def informative_pairs(self) -> list[tuple[str, str, Any]]:
        if self.dp is None or not glue.is_live(self.dp):  # backtests read side data from files
            return []
        pairs, funding_tf = self.dp.current_whitelist(), self.dp.get_funding_rate_timeframe()
        return [(p, self.oi_timeframes[0], "open_interest") for p in pairs] + [
            (p, funding_tf, "funding_rate") for p in pairs]

    def populate_indicators(self, dataframe: pd.DataFrame, metadata: dict) -> pd.DataFrame:
        pair = metadata["pair"]
        oi, funding = glue.side_frames(self.dp, pair, self.timeframe,
                                       oi_timeframes=self.oi_timeframes, log_once=self.log_once)
        venues = glue.venue_frames(
            self.config.get("datadir"), self.config.get("liq_venues", []), pair, self.timeframe,
            dataframe["date"].iloc[-1], max_lag=pd.Timedelta(minutes=3 * self.minutes),
            config=self.heatmap_config, log_once=self.log_once) if len(dataframe) else []
        frame = signals.strategy_features(dataframe, self.heatmap_config, open_interest=oi,
                                          funding=funding, atr_window=P.atr_window, venues=venues)
        self.maps.remember(pair, dataframe, venues, open_interest=oi, funding=funding)
        if glue.is_live(self.dp):  # (hyperopt flags parameters read here: only live reads them)
            self.alerts.check(self.dp, pair, frame, self.signal_params)
        return frame

    def populate_entry_trend(self, dataframe: pd.DataFrame, metadata: dict) -> pd.DataFrame:
        entries = signals.entry_signals(dataframe, self.signal_params)
        for column in ("enter_long", "enter_short", "enter_tag"):
            dataframe[column] = entries[column]
        return dataframe

    def populate_exit_trend(self, dataframe: pd.DataFrame, metadata: dict) -> pd.DataFrame:
        dataframe["exit_long"] = 0
        dataframe["exit_short"] = 0
        return dataframe

    # --- the trade plan: stop and target from the signal candle's map ----------------------

    def _signal_row(self, pair: str, before: datetime | None) -> pd.Series | None:
        dp = self.dp
        analyzed = None if dp is None else dp.get_analyzed_dataframe(pair, self.timeframe)[0]
        return glue.signal_row(analyzed, self.minutes, before)

    def _plan(self, trade: Trade) -> TradePlan | None:
        persist = glue.is_live(self.dp)
        return self.plans.plan(trade, self.stop_buffer_atr.value, persist=persist)

    def _fee(self) -> float:
        return float(self.config.get("fee") or self.taker_fee)

    def avoid_zones(self, pair: str, is_short: bool, current_time: datetime) -> list[tuple]:
        """Dense same-side clusters of the signal candle's map: the leverage check avoids them."""
        def window() -> pd.DataFrame:  # without the analysed frame: the last start-up window
            candles = self.dp.get_pair_dataframe(pair, self.timeframe)
            return candles.iloc[-self.startup_candle_count:]
        return self.maps.avoid_zones(pair, current_time, is_short, window, self.log_once)

    # --- callbacks (custom_stoploss and custom_roi run per open trade per candle: lean) ------

    def custom_stoploss(self, pair: str, trade: Trade, current_time: datetime, current_rate: float,
                        current_profit: float, after_fill: bool, **kwargs) -> float | None:
        plan = self._plan(trade)
        if plan is None:
            return None
        stop = self.plans.tighten(trade, plan, float(self.breakeven_r.value),
                                  persist=glue.is_live(self.dp))
        if not (current_rate > 0):  # no usable price (NaN, 0): keep the stop where it is
            return None
        leverage = trade.leverage or 1.0
        ratio = stoploss_from_absolute(stop, current_rate, trade.is_short, leverage)
        return 1e-4 * leverage if ratio <= 0 else ratio  # price through the stop: exit now

    def custom_roi(self, pair: str, trade: Trade, current_time: datetime, trade_duration: int,
                   entry_tag: str | None, side: str, **kwargs) -> float | None:
        plan = self._plan(trade)  # target and time limit in one callback
        target = plan.target if plan is not None else math.nan
        profit = trade.calc_profit_ratio(target) if math.isfinite(target) else math.nan
        limit = int(self.max_hold_candles.value)
        return signals.exit_roi(profit, trade_duration, self.minutes, limit)

    def leverage(self, pair: str, current_time: datetime, current_rate: float,
                 proposed_leverage: float, max_leverage: float, entry_tag: str | None, side: str,
                 **kwargs) -> float:
        # 1.0 when no leverage can be worked out: the stake callback then sizes, or skips, the trade
        short = side == "short"
        stop = self.plans.entry(pair, short, current_rate)[0]
        wallet = total_wallet(self.wallets, 1000.0)
        if not (math.isfinite(stop) and wallet > 0 and max_leverage >= 1):
            return 1.0
        cap = max(1.0, min(float(self.max_leverage_cap.value), float(max_leverage)))
        notional = risk.planned_notional(wallet, float(self.risk_per_trade.value), current_rate,
                                         stop, short, fee=self._fee())  # what the stake opens
        return risk.choose_leverage(current_rate, stop, short, max_leverage=cap, notional=notional,
                                    safety=float(self.leverage_safety.value),
                                    avoid=self.avoid_zones(pair, short, current_time),
                                    liquidation_buffer=liquidation_buffer(self.config))

    def custom_stake_amount(self, pair: str, current_time: datetime, current_rate: float,
                            proposed_stake: float, min_stake: float | None, max_stake: float,
                            leverage: float, entry_tag: str | None, side: str, **kwargs) -> float:
        # 0 skips the trade; never raise here, or Freqtrade stakes the proposed amount unsized
        stop = self.plans.entry(pair, side == "short", current_rate)[0]
        wallet = total_wallet(self.wallets, proposed_stake)
        if not (math.isfinite(stop) and wallet > 0):
            why = (f"no cluster stop at rate {current_rate} (signal candle unavailable or stop on "
                   "the wrong side)" if not math.isfinite(stop) else f"the wallet holds {wallet} "
                   f"{self.config.get('stake_currency', '')}: no stake risks a fraction of it")
            logger.warning("%s: %s entry skipped, %s", pair, side, why)
            return 0.0
        lev = float(leverage) if leverage >= 1 else 1.0  # NaN or < 1: size as unleveraged
        return risk.stake_for_risk(wallet, float(self.risk_per_trade.value), current_rate, stop,
                                   lev, side == "short", min_stake=min_stake, max_stake=max_stake,
                                   fee=self._fee())

    def confirm_trade_entry(self, pair: str, order_type: str, amount: float, rate: float,
                            time_in_force: str, current_time: datetime, entry_tag: str | None,
                            side: str, **kwargs) -> bool:
        # live only: no entry on a stale signal candle, nor on a path defended by thick orders
        if self.dp is None or not glue.is_live(self.dp):
            return True
        _, target, signal_date = self.plans.entry(pair, side == "short", rate)
        if signal_date is None or signal_is_stale(signal_date, current_time, self.minutes):
            self.log_once(f"stale:{pair}:{signal_date}", f"{pair}: {side} entry skipped, its "
                          "signal candle is stale", logging.WARNING)
            return False
        ratio = float(self.book_defended_ratio.value)
        return not glue.defended_entry(self.dp, pair, rate, target, side == "short", ratio=ratio,
                                       log_once=self.log_once)

    def plot_annotations(self, pair: str, start_date: datetime, end_date: datetime,
                         dataframe: pd.DataFrame, **kwargs) -> list[dict]:
        return frequi.cluster_annotations(dataframe, start_date, end_date)


#: The hyperoptable parameters that are SignalParams fields.
SIGNAL_PARAMETERS = tuple(f.name for f in fields(signals.SignalParams)
                          if isinstance(getattr(LiqClusterStrategy, f.name, None),
                                        DecimalParameter | IntParameter))
