"""The strategy aggregates other exchanges from sibling datadirs and falls back when they are absent
or stale."""

from __future__ import annotations

import logging

import numpy as np
import pandas as pd
import pytest
from conftest import make_candles

pytest.importorskip("freqtrade")
from strategy_helpers import PAIR, StubDP, backtest_config, load_strategy_class  # noqa: E402

from liq_indicator.errors import ConfigError  # noqa: E402
from liq_indicator.io.datadir import pair_file  # noqa: E402
from liq_indicator.strategy.glue import LogOnce, venue_frames  # noqa: E402


def write(datadir, df):
    path = pair_file(datadir, PAIR, "5m")
    path.parent.mkdir(parents=True, exist_ok=True)
    df.to_feather(path)


@pytest.fixture
def markets(tmp_path):
    ref = make_candles(2500, seed=40)
    other = ref.assign(
        volume=ref.volume * 0.5,
        close=ref.close * 1.0003,
        high=ref.high * 1.0003,
        low=ref.low * 1.0003,
        open=ref.open * 1.0003,
    )
    write(tmp_path / "binance", ref)
    return tmp_path, ref, other


def strategy_for(tmp_path, ref, venues):
    cls = load_strategy_class()
    strategy = cls(backtest_config(datadir=str(tmp_path / "binance"), liq_venues=venues))
    strategy.dp = StubDP(ref)
    return strategy


def test_the_strategy_map_aggregates_a_fresh_sibling_venue(markets):
    tmp_path, ref, other = markets
    write(tmp_path / "bybit", other)
    alone = strategy_for(tmp_path, ref, []).populate_indicators(ref.copy(), {"pair": PAIR})
    both = strategy_for(tmp_path, ref, ["bybit"]).populate_indicators(ref.copy(), {"pair": PAIR})
    assert both.liq_swept_long_usd.sum() > alone.liq_swept_long_usd.sum() * 1.2


@pytest.mark.parametrize("state", ["absent", "stale"])
def test_the_strategy_falls_back_to_its_own_exchange(markets, state, caplog):
    tmp_path, ref, other = markets
    if state == "stale":
        write(tmp_path / "bybit", other.iloc[:2000])  # ends 500 candles before the bot's data
    alone = strategy_for(tmp_path, ref, []).populate_indicators(ref.copy(), {"pair": PAIR})
    with caplog.at_level(logging.WARNING):
        fallback = strategy_for(tmp_path, ref, ["bybit"]).populate_indicators(
            ref.copy(), {"pair": PAIR}
        )
    pd.testing.assert_frame_equal(fallback, alone)


def test_venue_frames_logs_each_reason_once(markets, caplog):
    tmp_path, ref, other = markets
    log_once = LogOnce(logging.getLogger("venues-test"))
    with caplog.at_level(logging.WARNING, logger="venues-test"):
        for _ in range(3):
            assert (
                venue_frames(
                    tmp_path / "binance",
                    ["bybit"],
                    PAIR,
                    "5m",
                    ref.date.iloc[-1],
                    max_lag=pd.Timedelta("15min"),
                    log_once=log_once,
                )
                == []
            )
    assert sum("venue bybit" in r.message and "left out" in r.message for r in caplog.records) == 1


def _nan_close(df):
    return df.assign(close=df.close.where(df.index != 2400))


def _high_below_low(df, row=2400):
    return df.assign(high=np.where(df.index == row, df.low - 1.0, df.high))


# a sibling venue's file the map would reject: (name, how the candles are spoilt, words of the notice)
BAD_VENUE_DATA = [
    ("no-rows", lambda df: df.iloc[:0], "holds no candles"),
    ("nan-close", _nan_close, "'close' is NaN"),
    ("high-below-low", _high_below_low, "high < low"),
    ("duplicate-date", lambda df: pd.concat([df, df.iloc[[-1]]]), "duplicate candle dates"),
    ("unreadable-date", lambda df: df.assign(date="not a date"), "cannot be read as datetimes"),
]


@pytest.mark.parametrize(
    ("spoil", "words"),
    [case[1:] for case in BAD_VENUE_DATA],
    ids=[case[0] for case in BAD_VENUE_DATA],
)
def test_a_bad_sibling_venue_is_left_out_and_logged_once(markets, spoil, words, caplog):
    """README: other venues absent or stale -> left out, logged once; the map falls back to the
    bot's own exchange. A venue file the map would reject is left out the same way instead of
    raising out of populate_indicators on every candle."""
    tmp_path, ref, other = markets
    write(tmp_path / "bybit", spoil(other).reset_index(drop=True))
    alone = strategy_for(tmp_path, ref, []).populate_indicators(ref.copy(), {"pair": PAIR})
    strategy = strategy_for(tmp_path, ref, ["bybit"])
    with caplog.at_level(logging.WARNING):
        frames = [strategy.populate_indicators(ref.copy(), {"pair": PAIR}) for _ in range(3)]
    for frame in frames:
        pd.testing.assert_frame_equal(frame, alone)
    notices = [r.message for r in caplog.records if "venue bybit" in r.message]
    assert len(notices) == 1, notices
    assert words in notices[0] and str(tmp_path / "bybit") in notices[0], notices[0]


def test_a_corrupt_venue_file_is_left_out(markets, caplog):
    tmp_path, ref, other = markets
    path = pair_file(tmp_path / "bybit", PAIR, "5m")
    path.parent.mkdir(parents=True)
    path.write_bytes(b"not a feather file")
    alone = strategy_for(tmp_path, ref, []).populate_indicators(ref.copy(), {"pair": PAIR})
    with caplog.at_level(logging.WARNING):
        frame = strategy_for(tmp_path, ref, ["bybit"]).populate_indicators(
            ref.copy(), {"pair": PAIR}
        )
    pd.testing.assert_frame_equal(frame, alone)
    assert sum("venue bybit" in r.message and "left out" in r.message for r in caplog.records) == 1


def test_a_venue_with_unusable_open_interest_is_left_out(markets, caplog):
    tmp_path, ref, other = markets
    write(tmp_path / "bybit", other)
    bad_oi = other[["date"]].assign(oi=1.0)  # neither open_interest_value nor _amount
    bad_oi.to_feather(pair_file(tmp_path / "bybit", PAIR, "5m", "open_interest"))
    alone = strategy_for(tmp_path, ref, []).populate_indicators(ref.copy(), {"pair": PAIR})
    with caplog.at_level(logging.WARNING):
        frame = strategy_for(tmp_path, ref, ["bybit"]).populate_indicators(
            ref.copy(), {"pair": PAIR}
        )
    pd.testing.assert_frame_equal(frame, alone)
    notices = [r.message for r in caplog.records if "venue bybit" in r.message]
    assert len(notices) == 1 and "open_interest" in notices[0], notices


def test_each_venue_problem_is_logged_once_however_the_file_grows(markets, caplog):
    tmp_path, ref, other = markets
    log_once = LogOnce(logging.getLogger("venues-test"))

    def load(df):
        write(tmp_path / "bybit", df.reset_index(drop=True))
        return venue_frames(
            tmp_path / "binance",
            ["bybit"],
            PAIR,
            "5m",
            ref.date.iloc[-1],
            max_lag=pd.Timedelta("15min"),
            log_once=log_once,
        )

    with caplog.at_level(logging.WARNING, logger="venues-test"):
        assert load(_nan_close(other)) == []
        assert load(_nan_close(other.iloc[1:])) == []  # the same problem at another row number
        assert load(_high_below_low(other)) == []  # another problem: one more notice
        assert len(load(other)) == 1  # repaired: the venue is back
    notices = [r.message for r in caplog.records]
    assert len(notices) == 2 and "'close' is NaN" in notices[0] and "high < low" in notices[1], (
        notices
    )


@pytest.mark.parametrize(
    "venues",
    [["okx"], ["binance"], ["bybit", "Bybit"], "bybit"],
    ids=["no-brackets", "own-exchange", "twice", "not-a-list"],
)
def test_a_bad_liq_venues_setting_stops_the_bot_at_start(markets, venues):
    tmp_path, ref, other = markets
    strategy = strategy_for(tmp_path, ref, venues)
    with pytest.raises(ConfigError, match="liq_venues"):
        strategy.bot_start()
    strategy_for(tmp_path, ref, ["bybit"]).bot_start()  # a good setting passes
