"""The strategy on recorded liquidations (#19 "The strategy uses them"): the cascade rule reads
``liq-indicator record``'s per-minute file when it is fresh and covers the rule's window, the
map's estimate otherwise; each switch is logged once per pair; each candle sees only the minutes
inside it; without a file nothing changes.
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from strategy_helpers import PAIR, long_setup

from liq_indicator.errors import ConfigError
from liq_indicator.io.liquidations import aggregate_minutes, events_frame, liquidations_file
from liq_indicator.strategy.glue import REAL_COLUMNS, CascadeSource, recorded_per_candle
from liq_indicator.strategy.signals import SignalParams, entry_signals, setup_frame

START = pd.Timestamp("2024-01-01", tz="UTC")
LOG = "liq_indicator.test_recorded"


def candles(n: int, start: pd.Timestamp = START) -> pd.DataFrame:
    dates = pd.date_range(start, periods=n, freq="5min", unit="us")
    price = np.full(n, 100.0)
    return pd.DataFrame(
        {
            "date": dates,
            "open": price,
            "high": price + 1,
            "low": price - 1,
            "close": price,
            "volume": np.full(n, 10.0),
            "liq_swept_long_usd": 0.0,
            "liq_swept_short_usd": 0.0,
        }
    )


def write_minutes(datadir: Path, minutes: list[tuple[pd.Timestamp, str, float]]) -> Path:
    """A recorder's per-minute file for PAIR from ``(time, side, usd)`` events (price 100)."""
    events = events_frame(
        {
            "ts": int(t.timestamp() * 1000),
            "exchange": "binance",
            "pair": PAIR,
            "side": side,
            "price": 100.0,
            "amount": usd / 100.0,
            "usd": usd,
            "received": 0,
        }
        for t, side, usd in minutes
    )
    path = liquidations_file(datadir, PAIR)
    path.parent.mkdir(parents=True, exist_ok=True)
    aggregate_minutes(events).to_feather(path)
    return path


def test_each_candle_sums_the_minutes_inside_it_and_a_later_minute_changes_nothing_earlier(
    tmp_path: Path,
):
    frame = candles(6)
    events = [
        (START + pd.Timedelta(minutes=1), "long", 1_000.0),
        (START + pd.Timedelta(minutes=4, seconds=59), "long", 500.0),  # still candle 0
        (START + pd.Timedelta(minutes=5), "short", 200.0),  # candle 1 opens
        (START + pd.Timedelta(minutes=12), "long", 50.0),
    ]
    write_minutes(tmp_path, events)
    source = CascadeSource(fresh_minutes=30, cover_candles=3)
    out = source(frame, PAIR, tmp_path, "5m", live=True)
    assert out["liq_real_long_usd"].tolist() == [1_500.0, 0.0, 50.0, 0.0, 0.0, 0.0]
    assert out["liq_real_short_usd"].tolist() == [0.0, 200.0, 0.0, 0.0, 0.0, 0.0]
    # a minute recorded later, inside candle 4: rows 0-3 stay as they were
    write_minutes(tmp_path, [*events, (START + pd.Timedelta(minutes=21), "long", 7.0)])
    later = source(frame, PAIR, tmp_path, "5m", live=True)
    pd.testing.assert_frame_equal(later.iloc[:4], out.iloc[:4])
    assert later["liq_real_long_usd"].iloc[4] == 7.0


def test_candles_before_the_recording_are_unknown_not_quiet():
    bars = pd.DataFrame(
        {"long_usd": [5.0], "short_usd": [0.0]},
        index=pd.DatetimeIndex([START + pd.Timedelta(minutes=10)]).as_unit("us"),
    )
    frame = candles(4)
    real = recorded_per_candle(bars, frame["date"], "5m")
    assert np.isnan(real["liq_real_long_usd"].iloc[:2]).all()
    assert real["liq_real_long_usd"].iloc[2] == 5.0
    assert np.isnan(real["liq_real_long_usd"].iloc[3])  # after the last bar, without quiet_until
    quiet = recorded_per_candle(
        bars, frame["date"], "5m", quiet_until=START + pd.Timedelta("20min")
    )
    assert quiet["liq_real_long_usd"].iloc[3] == 0.0


def test_switches_real_estimate_and_back_logged_once_each(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
):
    source = CascadeSource(fresh_minutes=10, cover_candles=4, log=logging.getLogger(LOG))
    frame = candles(6)  # closes at 00:30
    caplog.set_level(logging.INFO, logger=LOG)
    # no file: the estimate, silently
    out = source(frame, PAIR, tmp_path, "5m", live=True)
    assert (out["liq_cascade_real"] == 0).all() and caplog.messages == []
    # recorded from the start, last minute 00:25-00:26: fresh (4 min before the close)
    write_minutes(tmp_path, [(START, "long", 1.0), (START + pd.Timedelta("25min"), "short", 2.0)])
    for _ in range(2):
        out = source(frame, PAIR, tmp_path, "5m", live=True)
    assert (out["liq_cascade_real"] == 1).all()
    assert caplog.messages == [
        f"{PAIR}: cascades detected from recorded liquidations ({liquidations_file(tmp_path, PAIR)})"
    ]
    # two candles later nothing new was recorded: stale (the minute ended 14 min before the close)
    later = candles(8)
    for _ in range(2):
        out = source(later, PAIR, tmp_path, "5m", live=True)
    assert (out["liq_cascade_real"] == 0).all()
    assert len(caplog.messages) == 2 and "map's estimate" in caplog.messages[1]
    assert "stale" in caplog.messages[1]
    # the recorder catches up: back to the recorded ones, one more line
    write_minutes(tmp_path, [(START, "long", 1.0), (START + pd.Timedelta("36min"), "long", 3.0)])
    out = source(later, PAIR, tmp_path, "5m", live=True)
    assert (out["liq_cascade_real"] == 1).all() and len(caplog.messages) == 3
    assert caplog.messages[2] == caplog.messages[0]
    # another pair is a separate switch
    assert source.source == {PAIR: "real"}


def test_live_needs_the_rules_window_a_backtest_the_whole_frame(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
):
    # recorded from 00:10: the last 4 candles of 8 (00:15 .. 00:35) are covered, not the frame
    write_minutes(
        tmp_path,
        [
            (START + pd.Timedelta("10min"), "long", 1.0),
            (START + pd.Timedelta("39min"), "long", 1.0),
        ],
    )
    frame = candles(8)
    caplog.set_level(logging.INFO, logger=LOG)
    live = CascadeSource(fresh_minutes=10, cover_candles=4, log=logging.getLogger(LOG))
    assert (live(frame, PAIR, tmp_path, "5m", live=True)["liq_cascade_real"] == 1).all()
    short = CascadeSource(fresh_minutes=10, cover_candles=7, log=logging.getLogger(LOG))
    assert (short(frame, PAIR, tmp_path, "5m", live=True)["liq_cascade_real"] == 0).all()
    backtest = CascadeSource(fresh_minutes=10, cover_candles=4, log=logging.getLogger(LOG))
    out = backtest(frame, PAIR, tmp_path, "5m", live=False)
    assert (out["liq_cascade_real"] == 0).all()
    assert "too short" in caplog.messages[-1]
    # the columns are there for the pictures even when the estimate is in force
    assert out["liq_real_long_usd"].iloc[2] == 1.0 and np.isnan(out["liq_real_long_usd"].iloc[1])


def test_a_backtest_without_a_file_is_unaffected(tmp_path: Path):
    frame = long_setup()
    params = SignalParams(norm_window=4, lookback=3)
    plain = entry_signals(frame, params)
    out = CascadeSource()(frame, PAIR, tmp_path, "5m", live=False)
    assert set(REAL_COLUMNS) <= set(out.columns) and (out["liq_cascade_real"] == 0).all()
    assert plain["enter_long"].sum() > 0  # the fixture has a setup to lose
    pd.testing.assert_frame_equal(entry_signals(out, params), plain)
    pd.testing.assert_frame_equal(out[frame.columns], frame)


def test_the_cascade_rule_reads_the_recorded_sweeps_when_flagged():
    frame = long_setup()
    params = SignalParams(norm_window=4, lookback=3)
    assert setup_frame(frame, False, params)["cascade"].any()
    # recorded: nothing liquidated at all -> no cascade; the map's sweeps no longer count
    quiet = frame.assign(liq_real_long_usd=0.0, liq_real_short_usd=0.0, liq_cascade_real=1.0)
    assert not setup_frame(quiet, False, params)["cascade"].any()
    # recorded sweeps equal to the map's: the same setup, row for row
    same = frame.assign(
        liq_real_long_usd=frame["liq_swept_long_usd"],
        liq_real_short_usd=frame["liq_swept_short_usd"],
        liq_cascade_real=1.0,
    )
    pd.testing.assert_frame_equal(
        setup_frame(same, False, params), setup_frame(frame, False, params)
    )


def test_bad_settings_are_config_errors():
    with pytest.raises(ConfigError, match="fresh_minutes"):
        CascadeSource(fresh_minutes=-1)
