"""LiqFreqAIStrategy: a small FreqAI regressor on the next hour's return, with the liquidation map's
``%liq_*`` features beside plain price features.

Run it with ``config_freqai.json.example`` (``--freqaimodel LightGBMRegressor``; needs Freqtrade's
``freqai`` extra). The target ``&-s_close`` is the mean close of the next ``label_period_candles``
candles over this close, minus 1. Price features come from ``feature_engineering_expand_*``
(returns, range, volume, RSI-like position over each period of ``indicator_periods_candles``,
on each of ``include_timeframes``); the map's come from ``LiqFreqAIMixin`` in
``feature_engineering_standard`` (once, on the base timeframe; open interest and funding through
the DataProvider). ``"liq_freqai_map_features": false`` in the config trains the same model on
price alone. Long when the predicted return clears ``entry_threshold``, short below its negative;
exit when the prediction turns. An example of the features, not a strategy with an edge: see
docs/FREQAI.md.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from freqtrade.strategy import DecimalParameter, IStrategy

from liq_indicator.strategy.freqai import LiqFreqAIMixin
from liq_indicator.strategy.glue import informative_pairs


class LiqFreqAIStrategy(LiqFreqAIMixin, IStrategy):
    INTERFACE_VERSION = 3

    timeframe = "5m"
    can_short = True
    # the longest price window (48 x 1h) and the map features' one-day norm (288 x 5m)
    startup_candle_count = 600
    process_only_new_candles = True

    minimal_roi = {"0": 0.05, "120": -1}  # out after 2 h (120 minutes) whatever happens
    stoploss = -0.03
    use_exit_signal = True

    entry_threshold = DecimalParameter(0.0005, 0.01, default=0.002, space="buy", optimize=True)

    def informative_pairs(self):
        # live: each pair's open interest and funding for the map (none in backtests)
        return informative_pairs(self.dp, "1h")

    def feature_engineering_expand_all(
        self, dataframe: pd.DataFrame, period: int, metadata: dict, **kwargs
    ) -> pd.DataFrame:
        close = dataframe["close"]
        change = close.diff()
        gain = change.clip(lower=0).rolling(period).mean()
        loss = (-change.clip(upper=0)).rolling(period).mean()
        dataframe["%-rsi-period"] = 100 * gain / (gain + loss)
        dataframe["%-roc-period"] = close.pct_change(period, fill_method=None)
        dataframe["%-range-period"] = (
            dataframe["high"].rolling(period).max() - dataframe["low"].rolling(period).min()
        ) / close
        dataframe["%-close_z-period"] = (close - close.rolling(period).mean()) / close.rolling(
            period
        ).std()
        dataframe["%-relative_volume-period"] = (
            dataframe["volume"] / dataframe["volume"].rolling(period).mean()
        )
        return dataframe

    def feature_engineering_expand_basic(
        self, dataframe: pd.DataFrame, metadata: dict, **kwargs
    ) -> pd.DataFrame:
        dataframe["%-pct-change"] = dataframe["close"].pct_change(fill_method=None)
        dataframe["%-body"] = (dataframe["close"] - dataframe["open"]) / dataframe["open"]
        return dataframe

    def feature_engineering_standard(
        self, dataframe: pd.DataFrame, metadata: dict, **kwargs
    ) -> pd.DataFrame:
        hour = dataframe["date"].dt.hour
        dataframe["%-hour_sin"] = np.sin(2 * np.pi * hour / 24)
        dataframe["%-hour_cos"] = np.cos(2 * np.pi * hour / 24)
        return self.liq_map_features(dataframe, metadata)

    def set_freqai_targets(self, dataframe: pd.DataFrame, metadata: dict, **kwargs) -> pd.DataFrame:
        horizon = self.freqai_info["feature_parameters"]["label_period_candles"]
        future_mean = dataframe["close"].shift(-horizon).rolling(horizon).mean()
        dataframe["&-s_close"] = future_mean / dataframe["close"] - 1
        return dataframe

    def populate_indicators(self, dataframe: pd.DataFrame, metadata: dict) -> pd.DataFrame:
        return self.freqai.start(dataframe, metadata, self)

    def populate_entry_trend(self, dataframe: pd.DataFrame, metadata: dict) -> pd.DataFrame:
        ok = dataframe["do_predict"] == 1
        threshold = self.entry_threshold.value
        dataframe.loc[ok & (dataframe["&-s_close"] > threshold), ["enter_long", "enter_tag"]] = (
            1,
            "freqai_long",
        )
        dataframe.loc[ok & (dataframe["&-s_close"] < -threshold), ["enter_short", "enter_tag"]] = (
            1,
            "freqai_short",
        )
        return dataframe

    def populate_exit_trend(self, dataframe: pd.DataFrame, metadata: dict) -> pd.DataFrame:
        ok = dataframe["do_predict"] == 1
        dataframe.loc[ok & (dataframe["&-s_close"] < 0), "exit_long"] = 1
        dataframe.loc[ok & (dataframe["&-s_close"] > 0), "exit_short"] = 1
        return dataframe

    def leverage(self, **kwargs) -> float:  # Freqtrade passes its arguments by keyword
        return 1.0
