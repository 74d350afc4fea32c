"""LiqClusterStrategy: trade BTC/USDT:USDT perpetuals, long and short, after liquidation cascades.

Enters after a cascade has exhausted (not on its first candle), puts the stop beyond the nearest
same-side liquidation cluster, takes profit at the nearest opposite cluster, picks the leverage
whose own liquidation stays clear of the stop and of the clusters, and sizes the position to risk a
fixed fraction of the wallet. The logic lives in the ``liq_indicator`` package (``signals``,
``risk``, ``freqtrade_glue``); this class only wires it into Freqtrade. See docs/STRATEGY.md.

    freqtrade backtesting --config config.json --strategy LiqClusterStrategy --timerange 20240101-
"""

from __future__ import annotations

import logging
import math
from datetime import datetime, timedelta
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

from liq_indicator.risk import breakeven_stop, choose_leverage, stake_for_risk, tighten_stop
from liq_indicator.strategy.glue import (
    AlertLimiter,
    LogOnce,
    SignalMaps,
    book_path,
    check_venue_names,
    cluster_annotations,
    is_live,
    map_zones,
    side_frames,
    signal_row,
    venue_frames,
)
from liq_indicator.strategy.signals import (
    STRATEGY_HEATMAP,
    SignalParams,
    entry_signals,
    exit_roi,
    strategy_features,
    trade_plan,
)

logger = logging.getLogger(__name__)


class LiqClusterStrategy(IStrategy):
    INTERFACE_VERSION = 3

    timeframe = "5m"
    can_short = True
    # 2,000 x 5m = 6.9 days: the strategy's map (half-lives <= 18 h) converges within it
    # (docs/STRATEGY.md). Binance futures serves 499 candles per call: 5 calls at start-up.
    startup_candle_count = 2000
    process_only_new_candles = True

    # exits: stop (custom_stoploss), target and time limit (custom_roi). Each of these callbacks
    # costs a Freqtrade deep copy of the trade per open trade per candle, so there is no third one
    minimal_roi = {"0": 100.0}
    stoploss = -0.30  # hard backstop (fraction of margin), used only if the custom stop fails
    use_custom_stoploss = True
    use_custom_roi = True
    use_exit_signal = False  # no exit signals: the exits are price levels, see custom_roi
    trailing_stop = False

    # the stop lives on the exchange (a stop-market order, moved when the cluster stop tightens):
    # it still fires when the bot cannot reach the exchange's API
    order_types = {
        "entry": "limit",
        "exit": "limit",
        "stoploss": "market",
        "stoploss_on_exchange": True,
        "stoploss_on_exchange_interval": 60,
    }

    heatmap_config = STRATEGY_HEATMAP
    oi_timeframes = ("1h",)  # then the strategy's timeframe; live refreshes the first one
    alert_interval_s = 3600.0
    taker_fee = 0.0005  # Binance USDT-M taker fee; the sizing charges it twice (entry and exit)

    # --- entry (hyperoptable) -------------------------------------------------------------
    cascade_mult = DecimalParameter(5.0, 60.0, default=20.0, decimals=1, space="buy")
    lookback = IntParameter(2, 24, default=6, space="buy")
    exhaust_ratio = DecimalParameter(0.05, 0.8, default=0.25, decimals=2, space="buy")
    rebound_atr = DecimalParameter(0.25, 3.0, default=1.0, decimals=2, space="buy")
    fuel_dist_pct = DecimalParameter(0.5, 4.0, default=1.5, decimals=1, space="buy")
    fuel_ratio = DecimalParameter(0.25, 4.0, default=1.0, decimals=2, space="buy")
    min_rr = DecimalParameter(0.3, 3.0, default=1.0, decimals=1, space="buy")
    max_stop_pct = DecimalParameter(1.0, 10.0, default=6.0, decimals=1, space="buy")
    funding_max = DecimalParameter(0.0001, 0.002, default=0.0005, decimals=4, space="buy")
    oi_max_change = DecimalParameter(0.0, 0.1, default=0.02, decimals=3, space="buy")
    # --- stop and exit (hyperoptable) -----------------------------------------------------
    stop_buffer_atr = DecimalParameter(0.0, 2.0, default=0.5, decimals=2, space="sell")
    max_hold_candles = IntParameter(12, 288, default=72, space="sell")
    breakeven_r = DecimalParameter(0.0, 3.0, default=0.0, decimals=1, space="sell")
    # --- risk (parameters, not optimised by default) --------------------------------------
    risk_per_trade = DecimalParameter(0.0025, 0.02, default=0.0075, decimals=4, space="buy",
                                      optimize=False)
    max_leverage_cap = IntParameter(1, 25, default=10, space="buy", optimize=False)
    leverage_safety = DecimalParameter(1.0, 3.0, default=1.5, decimals=1, space="buy",
                                       optimize=False)
    book_defended_ratio = DecimalParameter(1.0, 5.0, default=2.0, decimals=1, space="buy",
                                           optimize=False)

    plot_config = {
        "main_plot": {
            "liq_long_cluster_near": {"color": "rgba(220,60,60,0.6)", "fill_to": "liq_long_cluster_far",
                                      "fill_label": "long cluster", "fill_color": "rgba(220,60,60,0.2)"},
            "liq_long_cluster_far": {"color": "rgba(220,60,60,0.6)"},
            "liq_short_cluster_near": {"color": "rgba(40,170,90,0.6)", "fill_to": "liq_short_cluster_far",
                                       "fill_label": "short cluster", "fill_color": "rgba(40,170,90,0.2)"},
            "liq_short_cluster_far": {"color": "rgba(40,170,90,0.6)"},
        },
        "subplots": {
            "swept notional (USD)": {
                "liq_swept_long_usd": {"color": "rgb(220,60,60)", "type": "bar"},
                "liq_swept_short_usd": {"color": "rgb(40,170,90)", "type": "bar"},
            },
        },
    }

    def __init__(self, config: dict) -> None:
        super().__init__(config)
        self.dp = getattr(self, "dp", None)  # Freqtrade attaches the DataProvider after __init__
        self._side: dict[str, tuple[pd.DataFrame | None, pd.DataFrame | None]] = {}
        self._alerts = AlertLimiter(self.alert_interval_s)
        self._log_once = LogOnce(logger)
        self._maps = SignalMaps(self.heatmap_config, timeframe_to_minutes(self.timeframe))
        # (trade id, open date, stop buffer) -> [stop, target, initial stop]
        self._plans: dict[tuple, list[float]] = {}
        # (pair, signal date, side, entry, stop buffer) -> (stop, target): leverage, stake and the
        # first stop of one entry share one computation
        self._levels_memo: dict[tuple, tuple[float, float]] = {}

    # ------------------------------------------------------------------------------------
    # parameters and data

    @property
    def signal_params(self) -> SignalParams:
        """The hyperoptable values as the package's :class:`SignalParams`."""
        return SignalParams(
            cascade_mult=float(self.cascade_mult.value),
            lookback=int(self.lookback.value),
            exhaust_ratio=float(self.exhaust_ratio.value),
            rebound_atr=float(self.rebound_atr.value),
            fuel_dist_pct=float(self.fuel_dist_pct.value),
            fuel_ratio=float(self.fuel_ratio.value),
            min_rr=float(self.min_rr.value),
            max_stop_pct=float(self.max_stop_pct.value),
            funding_max=float(self.funding_max.value),
            oi_max_change=float(self.oi_max_change.value),
            stop_buffer_atr=float(self.stop_buffer_atr.value),
            max_hold_candles=int(self.max_hold_candles.value),
        )

    def bot_start(self, **kwargs) -> None:
        # a bad "liq_venues" setting stops the bot at start-up (Freqtrade reports the ConfigError)
        # instead of failing the analysis of every candle
        check_venue_names(self.config.get("liq_venues", []), self.heatmap_config)

    def informative_pairs(self) -> list[tuple[str, str, Any]]:
        # live only: keep open interest and funding refreshed (backtests read them from the datadir)
        if self.dp is None or not is_live(self.dp):
            return []
        pairs = self.dp.current_whitelist()
        funding_tf = self.dp.get_funding_rate_timeframe()
        return ([(p, self.oi_timeframes[0], "open_interest") for p in pairs]
                + [(p, funding_tf, "funding_rate") for p in pairs])

    def populate_indicators(self, dataframe: pd.DataFrame, metadata: dict) -> pd.DataFrame:
        pair = metadata["pair"]
        oi, funding = side_frames(self.dp, pair, self.timeframe, oi_timeframes=self.oi_timeframes,
                                  log_once=self._log_once)
        self._side[pair] = (oi, funding)
        # other exchanges (config "liq_venues": ["bybit"]) from sibling datadirs; absent, stale or
        # unusable ones are left out (logged once), down to this exchange alone
        venues = venue_frames(self.config.get("datadir"), self.config.get("liq_venues", []), pair,
                              self.timeframe, dataframe["date"].iloc[-1],
                              max_lag=3 * pd.Timedelta(timeframe_to_minutes(self.timeframe), "min"),
                              config=self.heatmap_config,
                              log_once=self._log_once) if len(dataframe) else []
        frame = strategy_features(dataframe, self.heatmap_config, open_interest=oi, funding=funding,
                                  atr_window=SignalParams().atr_window, venues=venues)
        self._maps.remember(pair, dataframe, venues, open_interest=oi, funding=funding)
        if is_live(self.dp):  # (hyperopt flags parameters read here, so only live reads them)
            self._alerts.check(self.dp, pair, frame, self.signal_params)
        return frame

    def populate_entry_trend(self, dataframe: pd.DataFrame, metadata: dict) -> pd.DataFrame:
        signals = entry_signals(dataframe, self.signal_params)
        dataframe["enter_long"] = signals["enter_long"]
        dataframe["enter_short"] = signals["enter_short"]
        dataframe["enter_tag"] = signals["enter_tag"]
        return dataframe

    def populate_exit_trend(self, dataframe: pd.DataFrame, metadata: dict) -> pd.DataFrame:
        dataframe["exit_long"] = 0
        dataframe["exit_short"] = 0
        return dataframe

    # ------------------------------------------------------------------------------------
    # the trade plan: stop and target from the signal candle's map

    def _signal_row(self, pair: str, before: datetime | None = None) -> pd.Series | None:
        if self.dp is None:
            return None
        analyzed, _ = self.dp.get_analyzed_dataframe(pair, self.timeframe)
        return signal_row(analyzed, timeframe_to_minutes(self.timeframe), before)

    def _levels(self, pair: str, row: pd.Series | None, is_short: bool,
                entry: float) -> tuple[float, float]:
        """(stop, target) for a trade entered at ``entry`` on the signal candle ``row``; NaNs when
        the row is missing or the stop is not on the losing side of ``entry``."""
        if row is None or not (entry > 0):
            return math.nan, math.nan
        key = (pair, row["date"], is_short, float(entry), self.stop_buffer_atr.value)
        levels = self._levels_memo.get(key)
        if levels is None:
            if len(self._levels_memo) >= 64:  # entries come in time order: old keys are done
                self._levels_memo.clear()
            levels = trade_plan(row, is_short, self.signal_params, entry=float(entry))
            self._levels_memo[key] = levels
        return levels

    def _trade_plan(self, trade: Trade) -> list[float] | None:
        """The trade's [stop, target, initial stop], computed once from its signal candle and kept
        in memory, and live also on the trade (custom data, so it survives a restart). None when no
        plan can be made (the hard stoploss then applies)."""
        # hyperopt replays trades with the same id and date under other parameters
        key = (trade.id, trade.open_date, self.stop_buffer_atr.value)
        plan = self._plans.get(key)
        if plan is not None:
            return plan
        stop = trade.get_custom_data("liq_stop") if is_live(self.dp) else None
        if stop is not None:
            target = trade.get_custom_data("liq_target")
            plan = [float(stop), float(target) if target is not None else math.nan,
                    float(trade.get_custom_data("liq_initial_stop", stop))]
            self._plans[key] = plan
            return plan
        row = self._signal_row(trade.pair, trade.open_date_utc)
        stop, target = self._levels(trade.pair, row, trade.is_short, float(trade.open_rate))
        if not math.isfinite(stop):
            self._log_once(f"noplan:{trade.id}", f"{trade.pair} trade {trade.id}: no cluster stop "
                           "(signal candle unavailable); the hard stoploss applies", logging.WARNING)
            return None
        if is_live(self.dp):  # a restarted bot reads the plan back; backtests never restart (and
            # Freqtrade's in-memory custom-data store scans every record on each write)
            trade.set_custom_data("liq_stop", stop)
            trade.set_custom_data("liq_initial_stop", stop)
            trade.set_custom_data("liq_target", target)
            trade.set_custom_data("liq_signal_date", str(row["date"]))
        plan = self._plans[key] = [stop, target, stop]
        return plan

    # ------------------------------------------------------------------------------------
    # callbacks (custom_stoploss and custom_roi run on every candle of every open trade: lean)

    def custom_stoploss(self, pair: str, trade: Trade, current_time: datetime, current_rate: float,
                        current_profit: float, after_fill: bool, **kwargs) -> float | None:
        plan = self._trade_plan(trade)
        if plan is None:
            return None
        stop = plan[0]
        trigger = self.breakeven_r.value
        if trigger > 0:
            best = trade.min_rate if trade.is_short else trade.max_rate
            moved = breakeven_stop(float(trade.open_rate), plan[2], float(best or trade.open_rate),
                                   trade.is_short, trigger_r=float(trigger))
            new_stop = tighten_stop(stop, moved, trade.is_short)
            if new_stop != stop:
                plan[0] = stop = new_stop
                if is_live(self.dp):
                    trade.set_custom_data("liq_stop", new_stop)
        if not (current_rate > 0):  # no usable price (NaN, 0): keep the stop where it is
            return None
        leverage = trade.leverage or 1.0
        ratio = stoploss_from_absolute(stop, current_rate, is_short=trade.is_short, leverage=leverage)
        if ratio <= 0:
            # price is already through the stop: ask for the tightest stop so the trade exits now
            ratio = 1e-4 * leverage
        return ratio

    def custom_roi(self, pair: str, trade: Trade, current_time: datetime, trade_duration: int,
                   entry_tag: str | None, side: str, **kwargs) -> float | None:
        # target and time limit in one callback (see exit_roi): backtests fill at the cluster
        plan = self._trade_plan(trade)
        target = plan[1] if plan is not None else math.nan
        profit = trade.calc_profit_ratio(target) if math.isfinite(target) else math.nan
        return exit_roi(profit, trade_duration, timeframe_to_minutes(self.timeframe),
                        int(self.max_hold_candles.value))

    def _plan_entry(self, pair: str, rate: float, side: str) -> tuple[float, float]:
        return self._levels(pair, self._signal_row(pair), side == "short", rate)

    def _wallet(self, fallback: float) -> float:
        try:
            return float(self.wallets.get_total_stake_amount())
        except Exception:  # noqa: BLE001 - no wallets (e.g. called from a plot)
            return float(fallback)

    def _no_entry(self, pair: str, side: str, why: str) -> float:
        """Log why an entry gets no stake and return 0 (Freqtrade then skips the trade)."""
        logger.warning("%s: %s entry skipped, %s", pair, side, why)
        return 0.0

    def leverage(self, pair: str, current_time: datetime, current_rate: float,
                 proposed_leverage: float, max_leverage: float, entry_tag: str | None, side: str,
                 **kwargs) -> float:
        # 1.0 whenever no leverage can be worked out (no stop, no usable wallet or exchange
        # maximum): the stake callback then sizes, or skips, the trade
        stop, _ = self._plan_entry(pair, current_rate, side)
        wallet = self._wallet(1000.0)
        if not (math.isfinite(stop) and wallet > 0 and max_leverage >= 1):
            return 1.0
        cap = max(1.0, min(float(self.max_leverage_cap.value), float(max_leverage)))
        is_short = side == "short"
        dist = abs(current_rate - stop) / current_rate
        notional = wallet * float(self.risk_per_trade.value) / dist
        avoid = self._zones(pair, is_short, current_time)
        return choose_leverage(current_rate, stop, is_short, max_leverage=cap, notional=notional,
                               safety=float(self.leverage_safety.value), avoid=avoid,
                               liquidation_buffer=float(self.config.get("liquidation_buffer", 0.05)))

    def _zones(self, pair: str, is_short: bool, current_time: datetime) -> list[tuple[float, float]]:
        """All dense same-side clusters of the signal candle's map (the leverage check avoids them):
        the map populate_indicators computed the features from; without it (no analysed frame
        kept), the map over the last start-up window of candles."""
        try:
            zones = self._maps.zones(pair, current_time, is_short)
            if zones is not None:
                return zones
            candles = self.dp.get_pair_dataframe(pair, self.timeframe)
            candles = candles.iloc[-self.startup_candle_count:]
            oi, funding = self._side.get(pair, (None, None))
            return map_zones(candles, self.heatmap_config, is_short, open_interest=oi, funding=funding)
        except Exception as exc:  # noqa: BLE001 - fall back to the stop/liquidation rule alone
            self._log_once(f"zones:{pair}", f"{pair}: map zones unavailable ({exc}); leverage "
                           "only checks the stop distance", logging.WARNING)
            return []

    def custom_stake_amount(self, pair: str, current_time: datetime, current_rate: float,
                            proposed_stake: float, min_stake: float | None, max_stake: float,
                            leverage: float, entry_tag: str | None, side: str, **kwargs) -> float:
        # 0 skips the trade (Freqtrade's validate_stake_amount): never raise here, or Freqtrade
        # falls back to the proposed stake and the risk sizing is bypassed
        stop, _ = self._plan_entry(pair, current_rate, side)
        if not math.isfinite(stop):
            return self._no_entry(pair, side, f"no cluster stop at rate {current_rate} (signal "
                                  "candle unavailable or stop on the wrong side)")
        wallet = self._wallet(proposed_stake)
        if not wallet > 0:
            return self._no_entry(pair, side, f"the wallet holds {wallet} {self.config.get('stake_currency', '')}"
                                  ": no stake risks a fraction of it")
        lev = float(leverage) if leverage >= 1 else 1.0  # NaN or < 1: size as unleveraged
        fee = float(self.config.get("fee") or self.taker_fee)
        return stake_for_risk(wallet, float(self.risk_per_trade.value), current_rate, stop, lev,
                              side == "short", min_stake=min_stake, max_stake=max_stake, fee=fee)

    def confirm_trade_entry(self, pair: str, order_type: str, amount: float, rate: float,
                            time_in_force: str, current_time: datetime, entry_tag: str | None,
                            side: str, **kwargs) -> bool:
        # live only: skip entries on a stale signal candle (after an outage Freqtrade may act on
        # an old signal; its own check allows 2 candles + outdated_offset, and forced entries
        # bypass it), and entries whose path to the target is defended by thick resting orders
        if self.dp is None or not is_live(self.dp):
            return True
        row = self._signal_row(pair)
        candle = timedelta(minutes=timeframe_to_minutes(self.timeframe))
        if row is None or current_time - (pd.Timestamp(row["date"]).to_pydatetime() + candle) > candle:
            self._log_once(f"stale:{pair}:{None if row is None else row['date']}",
                           f"{pair}: {side} entry skipped, its signal candle is stale", logging.WARNING)
            return False
        _, target = self._plan_entry(pair, rate, side)
        if not math.isfinite(target):
            return True
        try:
            book = self.dp.orderbook(pair, 1000)
        except Exception as exc:  # noqa: BLE001 - without a book, trade on the map alone
            self._log_once(f"book:{pair}", f"{pair}: order book unavailable ({exc}); entry allowed")
            return True
        path = book_path(book, rate, target, side == "short", ratio=float(self.book_defended_ratio.value))
        if path.defended:
            logger.info("%s: %s entry skipped, path to %.2f defended (%.0f vs %.0f USD within %.2f%%)",
                        pair, side, target, path.path_usd, path.support_usd, path.band_pct)
            return False
        return True

    def plot_annotations(self, pair: str, start_date: datetime, end_date: datetime,
                         dataframe: pd.DataFrame, **kwargs) -> list[dict]:
        return cluster_annotations(dataframe, start_date, end_date)
