"""LiqClusterStrategy: trade USDT perpetuals (every whitelisted pair on its own map and tiers),
long and short, after liquidation cascades.

Enters after a cascade has exhausted, stops beyond the nearest same-side liquidation cluster,
takes profit at the nearest opposite cluster, picks the leverage whose own liquidation stays clear
of the stop and of the clusters, and risks a fixed fraction of the wallet. The rules live in
``liq_indicator.strategy`` (``callbacks.StrategyDesk``, a ``Desk`` that reads the strategy's
settings and parameters, answers the callbacks below) and ``liq_indicator.risk``; this class
holds the settings and delegates. The hyperoptable parameters and their ranges:
``callbacks.PARAMETER_SPACES``. See docs/STRATEGY.md.

    freqtrade backtesting --config config.json --strategy LiqClusterStrategy --timerange 20240101-
"""

from __future__ import annotations

import logging
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

from liq_indicator.strategy import callbacks as cb
from liq_indicator.strategy import frequi, glue, signals

logger = logging.getLogger(__name__)


@cb.hyperoptable(IntParameter, DecimalParameter)  # as class attributes: cascade_mult, lookback, ...
class LiqClusterStrategy(IStrategy):
    INTERFACE_VERSION = 3
    timeframe = "5m"
    can_short = True
    # 2,000 x 5m = 6.9 days: the map (half-lives <= 18 h) converges within it (docs/STRATEGY.md)
    startup_candle_count = 2000
    process_only_new_candles = True
    # exits: stop (custom_stoploss), target and time limit (custom_roi). Each such callback costs
    # a Freqtrade deep copy of the trade per open trade per candle, so there is no third one;
    # order_filled (once per fill) names the two custom_roi exits "target" and "time_limit"
    minimal_roi = {"0": 100.0}
    stoploss = -0.30  # hard backstop (fraction of margin), used only if the custom stop fails
    use_custom_stoploss = True
    use_custom_roi = True
    use_exit_signal = False  # the exits are price levels
    trailing_stop = False
    # the stop rests on the exchange (stop-market, moved when it tightens): it fires without the bot
    order_types = {
        "entry": "limit",
        "exit": "limit",
        "stoploss": "market",
        "stoploss_on_exchange": True,
        "stoploss_on_exchange_interval": 60,
    }
    heatmap_config = signals.STRATEGY_HEATMAP
    oi_timeframes = ("1h",)  # then the strategy's timeframe; live refreshes the first one
    alert_interval_s = 3600.0
    # recorded liquidations (liq-indicator record) replace the map's estimate in the cascade rule
    # while their last minute is at most this old at the candle's close (docs/STRATEGY.md)
    liq_real_fresh_minutes = 30.0
    taker_fee = 0.0005  # Binance USDT-M taker fee; the sizing charges it twice (entry and exit)
    # the recorded-liquidation columns are always in the frame (NaN where nothing was recorded)
    plot_config = frequi.plot_config(frequi.RECORDED_COLUMNS)

    def __init__(self, config: dict) -> None:
        super().__init__(config)
        self.dp = getattr(self, "dp", None)  # Freqtrade attaches the DataProvider after __init__
        # the desk reads dp, the timeframe and hyperopt's values from this object at each call
        self.desk = cb.StrategyDesk(self, stoploss_from_absolute, timeframe_to_minutes, log=logger)
        self.maps, self.alerts, self.log_once = self.desk.maps, self.desk.alerts, self.desk.log_once

    def bot_start(self, **kwargs) -> None:  # a bad setting stops the bot (ConfigError)
        glue.check_venue_names(self.config.get("liq_venues", []), self.heatmap_config)
        if self.desk.live:  # the tiers Freqtrade's exchange loaded; backtests: its bundled file
            exchange = self.config.get("exchange", {}).get("name", "")
            glue.register_exchange_tiers(self.dp, exchange, log_once=self.log_once)

    def informative_pairs(self) -> list[tuple[str, str, Any]]:
        return glue.informative_pairs(self.dp, self.oi_timeframes[0])

    def populate_indicators(self, dataframe: pd.DataFrame, metadata: dict) -> pd.DataFrame:
        return self.desk.analyse(dataframe, metadata["pair"], self.dp, self.config, self.timeframe)

    def populate_entry_trend(self, dataframe: pd.DataFrame, metadata: dict) -> pd.DataFrame:
        return cb.mark_entries(dataframe, self.desk.signal_params())

    def populate_exit_trend(self, dataframe: pd.DataFrame, metadata: dict) -> pd.DataFrame:
        dataframe["exit_long"], dataframe["exit_short"] = 0, 0  # the exits are price levels
        return dataframe

    # --- callbacks (custom_stoploss and custom_roi run per open trade per candle: lean) ------

    # Freqtrade passes every argument by keyword: each callback names the ones it uses (and
    # custom_stoploss names after_fill: Freqtrade calls it after a fill only when it does)

    def custom_stoploss(
        self, trade: Trade, current_rate: float, after_fill: bool, **kwargs
    ) -> float | None:
        breakeven, live = self.breakeven_r.value, self.desk.live
        return self.desk.stoploss(trade, current_rate, self.desk.stop_key, breakeven, persist=live)

    def custom_roi(self, trade: Trade, trade_duration: int, **kwargs) -> float | None:
        key, limit, live = self.desk.stop_key, self.max_hold_candles.value, self.desk.live
        return self.desk.roi(trade, trade_duration, self.desk.minutes, key, limit, persist=live)

    def order_filled(self, trade: Trade, order: Any, current_time: datetime, **kwargs) -> None:
        # once per fill: the custom_roi exits become "target" or "time_limit" instead of "roi"
        minutes, limit = self.desk.minutes, self.max_hold_candles.value
        self.desk.filled(trade, order, current_time, minutes, limit)

    def leverage(
        self,
        pair: str,
        current_time: datetime,
        current_rate: float,
        max_leverage: float,
        side: str,
        **kwargs,
    ) -> float:
        avoid = lambda: self.desk.avoid_zones(pair, side == "short", current_time)  # noqa: E731
        money = self.desk.money(1e3)
        return self.desk.leverage(pair, side, current_rate, max_leverage, money, avoid)

    def custom_stake_amount(
        self,
        pair: str,
        current_rate: float,
        proposed_stake: float,
        min_stake: float | None,
        max_stake: float,
        leverage: float,
        side: str,
        **kwargs,
    ) -> float:
        money = self.desk.money(proposed_stake)
        return self.desk.stake(pair, side, current_rate, leverage, min_stake, max_stake, money)

    def confirm_trade_entry(
        self, pair: str, rate: float, current_time: datetime, side: str, **kwargs
    ) -> bool:
        ratio = self.book_defended_ratio.value
        return self.desk.confirm(self.dp, pair, side, rate, current_time, self.desk.minutes, ratio)

    def plot_annotations(
        self, start_date: datetime, end_date: datetime, dataframe: pd.DataFrame, **kwargs
    ) -> list[dict]:
        return frequi.cluster_annotations(dataframe, start_date, end_date)
