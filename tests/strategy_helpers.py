"""Helpers shared by the strategy's tests: hand-built signal frames, the strategy class loaded the
way Freqtrade loads it, a stub DataProvider and wallet, and Freqtrade trades.

Freqtrade is imported inside the helpers that need it, so the signal tests run without it.
"""

from __future__ import annotations

import importlib.util
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pandas as pd
from conftest import REPO

CASCADE_ROW, SIGNAL_ROW = 6, 7


def long_setup(**changes) -> pd.DataFrame:
    """Eight quiet candles at 1,000 except a long cascade at row 6 and its exhaustion at row 7.

    Row 6 sweeps 50,000 USD of longs, 50x the norm (mean of 1,000 over rows 2-5); its low is 950.
    Row 7 sweeps 5,000 (10% of the peak), closes at 975: 25 above the 950 extreme, 2.5 ATRs.
    The nearest long cluster (far edge 930) is 4.1% below: no fuel nearby. Stop 930 - 0.5 ATR = 925
    (5.13% < 6%), target the short cluster's near edge 1,050: reward 75 over risk 50 = 1.5R.
    """
    n = 8
    df = pd.DataFrame(
        {
            "date": pd.date_range("2024-01-01", periods=n, freq="5min", tz="UTC"),
            "open": [1000.0] * n,
            "high": [1005.0] * n,
            "low": [995.0] * n,
            "close": [1000.0] * n,
            "volume": [1.0] * n,  # 1,000 USD traded: the floor 0.5% of it is 5, far below the norm
            "liq_swept_long_usd": [1000.0] * n,
            "liq_swept_short_usd": [1000.0] * n,
            "liq_long_cluster_price": [935.0] * n,
            "liq_long_cluster_near": [940.0] * n,
            "liq_long_cluster_far": [930.0] * n,
            "liq_long_cluster_usd": [1e6] * n,
            "liq_long_cluster_dist_pct": [6.5] * n,
            "liq_short_cluster_price": [1060.0] * n,
            "liq_short_cluster_near": [1050.0] * n,
            "liq_short_cluster_far": [1070.0] * n,
            "liq_short_cluster_usd": [1e6] * n,
            "liq_short_cluster_dist_pct": [6.0] * n,
            "atr_14": [10.0] * n,
            "funding_rate": [0.0001] * n,
            "oi_value": [1e9] * n,
        }
    )
    df.loc[CASCADE_ROW, ["open", "high", "low", "close", "liq_swept_long_usd"]] = [
        1000.0,
        1001.0,
        950.0,
        960.0,
        50_000.0,
    ]
    df.loc[SIGNAL_ROW, ["open", "high", "low", "close", "liq_swept_long_usd"]] = [
        960.0,
        976.0,
        955.0,
        975.0,
        5_000.0,
    ]
    df.loc[SIGNAL_ROW, "liq_long_cluster_dist_pct"] = (975.0 - 935.0) / 975.0 * 100
    for column, value in changes.items():
        df.loc[SIGNAL_ROW, column] = value
    return df


def mirror(df: pd.DataFrame) -> pd.DataFrame:
    """Reflect prices around 1,000 and swap the sides: a long setup becomes a short setup."""
    out = df.copy()
    ref = lambda s: 2000.0 - s  # noqa: E731
    out["open"], out["close"] = ref(df["open"]), ref(df["close"])
    out["high"], out["low"] = ref(df["low"]), ref(df["high"])
    for a, b in (("long", "short"), ("short", "long")):
        out[f"liq_swept_{a}_usd"] = df[f"liq_swept_{b}_usd"]
        for part in ("price", "near", "far"):
            out[f"liq_{a}_cluster_{part}"] = ref(df[f"liq_{b}_cluster_{part}"])
        for part in ("usd", "dist_pct"):
            out[f"liq_{a}_cluster_{part}"] = df[f"liq_{b}_cluster_{part}"]
    out["funding_rate"] = -df["funding_rate"]
    return out


STRATEGY_FILE = REPO / "user_data" / "strategies" / "LiqClusterStrategy.py"
PAIR = "BTC/USDT:USDT"
SIGNAL_DATE = pd.Timestamp("2024-01-01 00:35", tz="UTC")  # row 7 of long_setup
OPEN_DATE = SIGNAL_DATE.to_pydatetime() + timedelta(minutes=5)


def load_strategy_class(path: Path = STRATEGY_FILE):
    spec = importlib.util.spec_from_file_location(path.stem, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return getattr(module, path.stem)


def ft_call(callback, *args, **kwargs):
    """Call a strategy ``callback`` (a bound method) as Freqtrade does: every argument by keyword.

    ``args`` are read in the order of Freqtrade's own signature of the callback
    (``IStrategy.<name>``), so a test can write them positionally, as the Freqtrade docs list them.
    """
    import inspect

    from freqtrade.strategy import IStrategy

    signature = inspect.signature(getattr(IStrategy, callback.__name__))
    bound = signature.bind(None, *args, **kwargs)  # None: self
    arguments = dict(bound.arguments)
    arguments.pop("self")
    arguments.update(arguments.pop("kwargs", {}))
    return callback(**arguments)


class StubDP:
    """The DataProvider methods the strategy uses."""

    def __init__(self, analyzed, *, candles=None, runmode=None, book=None, oi=None, funding=None):
        from freqtrade.enums import RunMode

        self.analyzed = analyzed
        self.candles = candles if candles is not None else pd.DataFrame()
        self.runmode = RunMode.BACKTEST if runmode is None else runmode
        self.book = book
        self.oi = oi
        self.funding = funding
        self.sent: list[str] = []

    def get_analyzed_dataframe(self, pair, timeframe):
        return self.analyzed, datetime.now(UTC)

    def get_pair_dataframe(self, pair, timeframe=None, candle_type=""):
        if candle_type == "open_interest":
            if isinstance(self.oi, Exception):
                raise self.oi
            return self.oi if self.oi is not None else pd.DataFrame()
        if candle_type == "funding_rate":
            return self.funding if self.funding is not None else pd.DataFrame()
        return self.candles

    def get_funding_rate_timeframe(self):
        return "1h"

    def orderbook(self, pair, maximum):
        if isinstance(self.book, Exception):
            raise self.book
        return self.book

    def send_msg(self, message, *, always_send=False):
        self.sent.append(message)

    def current_whitelist(self):
        return [PAIR]


class StubWallets:
    def __init__(self, total: float = 10_000.0):
        self.total = total

    def get_total_stake_amount(self):
        return self.total


def backtest_config(**extra) -> dict:
    """The config a strategy is built with in these tests: an isolated USDT futures backtest."""
    from freqtrade.enums import RunMode

    return {
        "runmode": RunMode.BACKTEST,
        "dry_run": True,
        "trading_mode": "futures",
        "margin_mode": "isolated",
        "stake_currency": "USDT",
        **extra,
    }


def make_strategy(cls, analyzed, **dp_kwargs):
    """An instance of strategy class ``cls`` on a backtest config, a StubDP serving ``analyzed``
    (``dp_kwargs`` go to StubDP) and a 10,000 USDT StubWallets."""
    strategy = cls(backtest_config())
    strategy.dp = StubDP(analyzed, **dp_kwargs)
    strategy.wallets = StubWallets()
    strategy.minimal_roi = {int(k): v for k, v in strategy.minimal_roi.items()}  # as the resolver
    return strategy


def make_trade(is_short=False, open_rate=976.0, leverage=10.0, trade_id=1):
    """A Freqtrade LocalTrade opened on PAIR at OPEN_DATE (the candle after long_setup's signal)."""
    from freqtrade.enums import TradingMode
    from freqtrade.persistence import LocalTrade

    return LocalTrade(
        id=trade_id,
        pair=PAIR,
        open_rate=open_rate,
        amount=1.0,
        stake_amount=open_rate / leverage,
        fee_open=0.0005,
        fee_close=0.0005,
        open_date=OPEN_DATE,
        is_short=is_short,
        leverage=leverage,
        exchange="binance",
        trading_mode=TradingMode.FUTURES,
        is_open=True,
    )


def order_book(ask_qty: float, bid_qty: float, price: float = 976.0) -> dict:
    """An order book with 79 levels of ``ask_qty`` above ``price`` and of ``bid_qty`` below it."""
    asks = [[price + i, ask_qty] for i in range(1, 80)]
    bids = [[price - i, bid_qty] for i in range(1, 80)]
    return {"asks": asks, "bids": bids}
