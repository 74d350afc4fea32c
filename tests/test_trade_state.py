"""strategy/trade_state.py with a stub trade: plans made once, kept, persisted and read back; the
entry memo; the break-even move; the staleness, wallet and liquidation-buffer rules."""

from __future__ import annotations

import logging
import math
from datetime import UTC, datetime, timedelta

import pandas as pd
import pytest
from strategy_helpers import OPEN_DATE, PAIR, SIGNAL_ROW, long_setup

from liq_indicator.risk import FREQTRADE_LIQUIDATION_BUFFER
from liq_indicator.strategy.glue import LogOnce
from liq_indicator.strategy.signals import SignalParams, trade_plan
from liq_indicator.strategy.trade_state import (
    CUSTOM_DATA_KEYS,
    TradePlan,
    TradePlans,
    liquidation_buffer,
    signal_is_stale,
    total_wallet,
)

ROW = long_setup().iloc[SIGNAL_ROW]  # stop 925, target 1050 for a long entered at 976


class StubTrade:
    """The trade attributes and custom-data methods a strategy's callbacks use."""

    def __init__(self, trade_id=1, open_rate=976.0, is_short=False, max_rate=None, min_rate=None):
        self.id, self.pair, self.open_rate, self.is_short = trade_id, PAIR, open_rate, is_short
        self.open_date = self.open_date_utc = OPEN_DATE
        self.max_rate, self.min_rate = max_rate, min_rate
        self.data: dict[str, object] = {}

    def get_custom_data(self, key, default=None):
        return self.data.get(key, default)

    def set_custom_data(self, key, value):
        self.data[key] = value


class Rows:
    """A signal_row callable that counts its calls."""

    def __init__(self, row=ROW):
        self.row, self.calls = row, 0

    def __call__(self, pair, before):
        self.calls += 1
        return self.row


def make_plans(rows=None, params=None):
    rows = rows or Rows()
    params = params or SignalParams()
    return TradePlans(rows, lambda: params, LogOnce(logging.getLogger("trade-state-test"))), rows


def test_entry_levels_are_trade_plan_and_memoised():
    plans, rows = make_plans()
    assert plans.entry(PAIR, False, 976.0) == (925.0, 1050.0, ROW["date"])
    assert plans.levels(PAIR, ROW, False, 976.0, SignalParams()) == trade_plan(
        ROW, False, entry=976.0
    )
    # the memo holds the result: a changed row under the same key gives the first answer
    moved = ROW.copy()
    moved["liq_long_cluster_far"] = 900.0
    assert plans.levels(PAIR, moved, False, 976.0, SignalParams()) == (925.0, 1050.0)
    # another stop buffer is another key (hyperopt epochs)
    assert plans.levels(PAIR, moved, False, 976.0, SignalParams(stop_buffer_atr=1.0))[0] == 890.0


def test_entry_without_a_signal_candle_or_a_price_has_no_levels():
    plans, _ = make_plans(Rows(None))
    stop, target, date = plans.entry(PAIR, False, 976.0)
    assert math.isnan(stop) and math.isnan(target) and date is None
    plans, _ = make_plans()
    for rate in (math.nan, 0.0, -1.0):
        stop, target, date = plans.entry(PAIR, False, rate)
        assert math.isnan(stop) and math.isnan(target) and date == ROW["date"]


def test_memo_stays_bounded_and_right():
    plans, _ = make_plans()
    for k in range(200):
        entry = 960.0 + k / 10
        assert plans.levels(PAIR, ROW, False, entry, SignalParams()) == trade_plan(
            ROW, False, entry=entry
        )
    assert plans.levels(PAIR, ROW, False, 976.0, SignalParams()) == (925.0, 1050.0)


def test_plan_is_made_once_and_kept():
    plans, rows = make_plans()
    trade = StubTrade()
    plan = plans.plan(trade, 0.5, persist=False)
    assert plan == TradePlan(925.0, 1050.0, 925.0) and rows.calls == 1
    rows.row = None  # the signal candle is gone (a later frame): the plan stays
    assert plans.plan(trade, 0.5, persist=False) is plan and rows.calls == 1
    assert trade.data == {}  # not persisted in a backtest


def test_plan_is_persisted_live_and_read_back_after_a_restart():
    plans, _ = make_plans()
    trade = StubTrade()
    plans.plan(trade, 0.5, persist=True)
    assert trade.data == dict(
        zip(CUSTOM_DATA_KEYS, (925.0, 1050.0, 925.0, str(ROW["date"])), strict=True)
    )
    restarted, rows = make_plans(Rows(None))  # no signal candle after the restart
    assert restarted.plan(trade, 0.5, persist=True) == TradePlan(925.0, 1050.0, 925.0)
    assert rows.calls == 0
    del trade.data["liq_target"]  # a plan written before targets were kept
    assert math.isnan(make_plans(Rows(None))[0].plan(trade, 0.5, persist=True).target)


def test_no_plan_is_logged_once(caplog):
    plans, _ = make_plans(Rows(None))
    with caplog.at_level(logging.WARNING, logger="trade-state-test"):
        assert plans.plan(StubTrade(), 0.5, persist=True) is None
        assert plans.plan(StubTrade(), 0.5, persist=True) is None
    assert len(caplog.records) == 1 and "hard stoploss applies" in caplog.records[0].message


def test_plans_of_other_stop_buffers_are_apart():
    plans, _ = make_plans(params=SignalParams(stop_buffer_atr=1.0))
    assert plans.plan(StubTrade(), 1.0, persist=False).stop == 920.0


def test_stop_and_target_of_a_trade_follow_its_plan():
    plans, _ = make_plans()
    trade = StubTrade(max_rate=1027.0)  # +1R
    assert plans.target(trade, 0.5, persist=False) == 1050.0
    assert plans.stop(trade, 0.5, 0.0, persist=False) == 925.0
    assert plans.stop(trade, 0.5, 1.0, persist=False) == 976.0  # break-even, kept in the plan
    assert plans.stop(trade, 0.5, 0.0, persist=False) == 976.0
    none, _ = make_plans(Rows(None))
    assert math.isnan(none.stop(StubTrade(), 0.5, 1.0, persist=False))
    assert math.isnan(none.target(StubTrade(), 0.5, persist=False))


def test_breakeven_moves_the_stop_once_and_never_back():
    plan = TradePlan(925.0, 1050.0, 925.0)
    trade = StubTrade(max_rate=1020.0)
    assert TradePlans.tighten(trade, plan, 1.0, persist=True) == 925.0  # +0.86R: not yet
    trade.max_rate = 1027.0  # +1R
    assert TradePlans.tighten(trade, plan, 1.0, persist=True) == 976.0
    assert plan.stop == 976.0 and trade.data == {"liq_stop": 976.0}
    trade.max_rate = 990.0
    assert TradePlans.tighten(trade, plan, 1.0, persist=True) == 976.0
    assert (
        TradePlans.tighten(
            StubTrade(max_rate=2000.0), TradePlan(925.0, 1050.0, 925.0), 0.0, persist=True
        )
        == 925.0
    )  # 0: off
    short = StubTrade(open_rate=1024.0, is_short=True, min_rate=970.0)
    assert TradePlans.tighten(short, TradePlan(1075.0, 950.0, 1075.0), 1.0, persist=False) == 1024.0
    assert short.data == {}


def test_a_signal_candle_is_stale_one_candle_after_its_close():
    date = pd.Timestamp("2024-01-01 00:35", tz="UTC")  # closes 00:40
    at = datetime(2024, 1, 1, 0, 45, tzinfo=UTC)
    assert not signal_is_stale(date, at, 5.0)
    assert signal_is_stale(date, at + timedelta(seconds=1), 5.0)
    assert signal_is_stale(date, at + timedelta(hours=1), 5.0)


def test_wallet_and_liquidation_buffer_fall_back():
    class Wallets:
        def get_total_stake_amount(self):
            return 1234.0

    assert total_wallet(Wallets(), 1.0) == 1234.0
    assert total_wallet(None, 1000.0) == 1000.0
    assert liquidation_buffer({}) == FREQTRADE_LIQUIDATION_BUFFER
    assert liquidation_buffer({"liquidation_buffer": 0.1}) == 0.1


def test_no_freqtrade_import():
    import liq_indicator.strategy.trade_state as module

    source = open(module.__file__, encoding="utf-8").read()
    assert "import freqtrade" not in source and "from freqtrade" not in source


def test_plan_stops_stay_out_of_the_signal_candles_zones():
    stop, _ = trade_plan(ROW, False, SignalParams(), entry=976.0)
    asked = []

    def zones(pair, is_short, date):
        asked.append((pair, is_short, date))
        return [(stop - 10.0, stop + 2.0)]

    plans = TradePlans(Rows(), SignalParams, zones=zones)
    moved, _ = plans.levels(PAIR, ROW, False, 976.0, SignalParams())
    assert moved < stop - 10.0
    assert asked == [(PAIR, False, ROW["date"])]
    plans.levels(PAIR, ROW, False, 976.0, SignalParams())
    assert len(asked) == 1  # memoised with the plan


def test_plans_of_other_sweep_zone_settings_are_apart():
    row = ROW.copy()
    row["sweep_zone_pct"] = 8.0
    plans = TradePlans(lambda pair, before: row, SignalParams)
    wide = plans.levels(PAIR, row, False, 976.0, SignalParams())[0]
    off = plans.levels(PAIR, row, False, 976.0, SignalParams(stop_overshoot_q=0.0))[0]
    assert off == trade_plan(ROW, False, SignalParams(), entry=976.0)[0]
    assert wide == pytest.approx(row["liq_long_cluster_far"] * 0.92)
