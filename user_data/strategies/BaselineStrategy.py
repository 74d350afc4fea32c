"""BaselineStrategy: a plain EMA cross on 1h candles, long and short, 1x leverage.

The yardstick for LiqClusterStrategy in docs/STRATEGY.md: no liquidation map, nothing tuned. Long
when EMA(20) crosses above EMA(50), short when it crosses below; the opposite cross exits, a 10%
stop is the only other exit.
"""

from __future__ import annotations

import pandas as pd
from freqtrade.strategy import IStrategy


class BaselineStrategy(IStrategy):
    INTERFACE_VERSION = 3

    timeframe = "1h"
    can_short = True
    startup_candle_count = 200
    process_only_new_candles = True

    minimal_roi = {"0": 100.0}
    stoploss = -0.10
    trailing_stop = False
    use_exit_signal = True

    fast = 20
    slow = 50

    def populate_indicators(self, dataframe: pd.DataFrame, metadata: dict) -> pd.DataFrame:
        for span in (self.fast, self.slow):
            dataframe[f"ema_{span}"] = dataframe["close"].ewm(span=span, adjust=False).mean()
        return dataframe

    def _diff(self, dataframe: pd.DataFrame) -> pd.Series:
        return dataframe[f"ema_{self.fast}"] - dataframe[f"ema_{self.slow}"]

    def populate_entry_trend(self, dataframe: pd.DataFrame, metadata: dict) -> pd.DataFrame:
        diff = self._diff(dataframe)
        up = (diff > 0) & (diff.shift(1) <= 0)
        down = (diff < 0) & (diff.shift(1) >= 0)
        dataframe["enter_long"] = up.astype(int)
        dataframe["enter_short"] = down.astype(int)
        return dataframe

    def populate_exit_trend(self, dataframe: pd.DataFrame, metadata: dict) -> pd.DataFrame:
        diff = self._diff(dataframe)
        dataframe["exit_long"] = ((diff < 0) & (diff.shift(1) >= 0)).astype(int)
        dataframe["exit_short"] = ((diff > 0) & (diff.shift(1) <= 0)).astype(int)
        return dataframe

    def leverage(self, **kwargs) -> float:  # Freqtrade passes its arguments by keyword
        return 1.0
