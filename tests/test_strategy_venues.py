"""The strategy aggregates other exchanges from sibling datadirs and falls back when they are absent
or stale."""

from __future__ import annotations

import logging

import pandas as pd
import pytest
from conftest import make_candles

pytest.importorskip("freqtrade")
from freqtrade.enums import RunMode  # noqa: E402
from test_strategy import PAIR, StubDP, load_strategy_class  # noqa: E402

from liq_indicator.datadir import pair_file  # noqa: E402
from liq_indicator.freqtrade_glue import LogOnce, venue_frames  # noqa: E402


def write(datadir, df):
    path = pair_file(datadir, PAIR, "5m")
    path.parent.mkdir(parents=True, exist_ok=True)
    df.to_feather(path)


@pytest.fixture
def markets(tmp_path):
    ref = make_candles(2500, seed=40)
    other = ref.assign(volume=ref.volume * 0.5, close=ref.close * 1.0003, high=ref.high * 1.0003,
                       low=ref.low * 1.0003, open=ref.open * 1.0003)
    write(tmp_path / "binance", ref)
    return tmp_path, ref, other


def strategy_for(tmp_path, ref, venues):
    cls = load_strategy_class()
    strategy = cls({"runmode": RunMode.BACKTEST, "dry_run": True, "trading_mode": "futures",
                    "margin_mode": "isolated", "stake_currency": "USDT",
                    "datadir": str(tmp_path / "binance"), "liq_venues": venues})
    strategy.dp = StubDP(ref)
    return strategy


def test_the_strategy_map_aggregates_a_fresh_sibling_venue(markets):
    tmp_path, ref, other = markets
    write(tmp_path / "bybit", other)
    alone = strategy_for(tmp_path, ref, []).populate_indicators(ref.copy(), {"pair": PAIR})
    both = strategy_for(tmp_path, ref, ["bybit"]).populate_indicators(ref.copy(), {"pair": PAIR})
    assert (both.liq_swept_long_usd.sum() > alone.liq_swept_long_usd.sum() * 1.2)


@pytest.mark.parametrize("state", ["absent", "stale"])
def test_the_strategy_falls_back_to_its_own_exchange(markets, state, caplog):
    tmp_path, ref, other = markets
    if state == "stale":
        write(tmp_path / "bybit", other.iloc[:2000])  # ends 500 candles before the bot's data
    alone = strategy_for(tmp_path, ref, []).populate_indicators(ref.copy(), {"pair": PAIR})
    with caplog.at_level(logging.WARNING):
        fallback = strategy_for(tmp_path, ref, ["bybit"]).populate_indicators(ref.copy(), {"pair": PAIR})
    pd.testing.assert_frame_equal(fallback, alone)


def test_venue_frames_logs_each_reason_once(markets, caplog):
    tmp_path, ref, other = markets
    log_once = LogOnce(logging.getLogger("venues-test"))
    with caplog.at_level(logging.WARNING, logger="venues-test"):
        for _ in range(3):
            assert venue_frames(tmp_path / "binance", ["okx"], PAIR, "5m", ref.date.iloc[-1],
                                max_lag=pd.Timedelta("15min"), log_once=log_once) == []
    assert sum("venue okx left out" in r.message for r in caplog.records) == 1
