"""strategy/callbacks.py without Freqtrade: the hyperopt parameters built from one table, the
parameter values read back, and the callbacks' answers (stop ratio, ROI, leverage, stake, entry
check) on stub trades, wallets and DataProviders."""

from __future__ import annotations

import logging
import math
from dataclasses import fields
from datetime import timedelta
from types import SimpleNamespace

import pytest
from strategy_helpers import OPEN_DATE, PAIR, SIGNAL_ROW, long_setup

from liq_indicator.errors import ConfigError
from liq_indicator.risk import choose_leverage, planned_notional, stake_for_risk
from liq_indicator.strategy import callbacks as cb
from liq_indicator.strategy.signals import STRATEGY_HEATMAP, SignalParams

ROW = long_setup().iloc[SIGNAL_ROW]  # stop 925, target 1050 for a long entered at 976


class Param:
    """A stand-in for Freqtrade's IntParameter/DecimalParameter: keeps its arguments."""

    def __init__(self, low, high, *, default, space, optimize, decimals=None):
        self.low, self.high, self.decimals = low, high, decimals
        self.default = self.value = default
        self.space, self.optimize = space, optimize


class IntParam(Param):
    pass


class StubTrade:
    def __init__(self, open_rate=976.0, is_short=False, leverage=10.0):
        self.id, self.pair, self.open_rate, self.is_short, self.leverage = (
            1,
            PAIR,
            open_rate,
            is_short,
            leverage,
        )
        self.open_date = self.open_date_utc = OPEN_DATE
        self.max_rate = self.min_rate = None

    def calc_profit_ratio(self, rate):
        sign = -1.0 if self.is_short else 1.0
        return sign * (rate / self.open_rate - 1.0) * self.leverage


def from_absolute(stop, rate, is_short, leverage):  # Freqtrade's stoploss_from_absolute
    ratio = 1 - stop / rate
    return max((-ratio if is_short else ratio) * leverage, 0.0)


def live_dp(book=None):
    return SimpleNamespace(runmode="dry_run", orderbook=lambda pair, depth: book)


def make_desk(row=ROW):
    return cb.Desk(STRATEGY_HEATMAP, "5m", lambda pair, before: row, SignalParams, from_absolute)


def money(wallet=10_000.0, **changes):
    return cb.Sizing(cb.TradeParams(**changes), wallet, 0.0005, 0.05, "USDT")


# --- parameters --------------------------------------------------------------------------------


def test_parameters_come_from_one_table_with_dataclass_defaults():
    made = cb.hyperopt_parameters(IntParam, Param)
    assert list(made) == list(cb.PARAMETER_SPACES)
    for name, space in cb.PARAMETER_SPACES.items():
        p = made[name]
        owner = (
            SignalParams() if name in {f.name for f in fields(SignalParams)} else cb.TradeParams()
        )
        assert p.default == getattr(owner, name), name
        assert (p.low, p.high, p.space, p.optimize) == (
            space.low,
            space.high,
            space.space,
            space.optimize,
        )
        assert isinstance(p, IntParam) == (space.decimals is None) and p.decimals == space.decimals
        assert p.low <= p.default <= p.high, name
    assert not any(made[n].optimize for n in ("risk_per_trade", "max_leverage_cap"))


def test_hyperoptable_sets_class_attributes_and_values_read_back():
    @cb.hyperoptable(IntParam, Param)
    class Strategy:
        pass

    assert set(cb.PARAMETER_SPACES) <= set(vars(Strategy))
    strategy = Strategy()
    assert cb.parameter_values(strategy, SignalParams) == SignalParams()
    assert cb.parameter_values(strategy, cb.TradeParams) == cb.TradeParams()
    Strategy.lookback.value, Strategy.risk_per_trade.value = 9.0, 0.01  # hyperopt sets .value
    params = cb.parameter_values(strategy, SignalParams)
    assert params.lookback == 9 and isinstance(params.lookback, int)
    assert cb.parameter_values(strategy, cb.TradeParams).risk_per_trade == 0.01


# --- exits -------------------------------------------------------------------------------------


def test_stoploss_is_the_plan_stop_as_a_ratio():
    desk, trade = make_desk(), StubTrade()
    assert desk.stoploss(trade, 976.0, 0.5, 0.0, persist=False) == pytest.approx(
        (1 - 925 / 976) * 10
    )
    assert 0 < desk.stoploss(trade, 920.0, 0.5, 0.0, persist=False) <= 1e-3  # through it: exit now
    for rate in (math.nan, 0.0, -1.0):
        assert desk.stoploss(trade, rate, 0.5, 0.0, persist=False) is None
    assert make_desk(None).stoploss(StubTrade(), 976.0, 0.5, 0.0, persist=False) is None
    assert cb.stoploss_ratio(math.nan, 976.0, trade, from_absolute) is None


def test_roi_is_the_target_profit_then_the_time_limit():
    desk, trade = make_desk(), StubTrade()
    assert desk.roi(trade, 5, 5, 0.5, 72, persist=False) == pytest.approx(
        trade.calc_profit_ratio(1050.0)
    )
    assert desk.roi(trade, 5 * 72, 5, 0.5, 72, persist=False) == -1.0
    assert make_desk(None).roi(StubTrade(), 5, 5, 0.5, 72, persist=False) is None


# --- entries -----------------------------------------------------------------------------------


def test_leverage_is_choose_leverage_of_the_planned_notional():
    asked = []
    zones = lambda: asked.append(1) or []  # noqa: E731
    lev = cb.entry_leverage(925.0, 976.0, False, 125.0, money(), zones)
    notional = planned_notional(10_000.0, 0.0075, 976.0, 925.0, False, fee=0.0005)
    assert lev == choose_leverage(976.0, 925.0, False, max_leverage=10, notional=notional) == 10.0
    assert cb.entry_leverage(925.0, 976.0, False, 4.0, money(), zones) == 4.0
    assert make_desk().leverage(PAIR, "long", 976.0, 125.0, money(), zones) == 10.0
    asked.clear()
    for stop, wallet, cap in ((math.nan, 1e4, 125.0), (925.0, 0.0, 125.0), (925.0, 1e4, math.nan)):
        assert cb.entry_leverage(stop, 976.0, False, cap, money(wallet), zones) == 1.0
    assert asked == []  # the map's zones are not worked out for nothing


def test_stake_risks_the_fraction_or_skips(caplog):
    want = stake_for_risk(10_000.0, 0.0075, 976.0, 925.0, 10.0, False, fee=0.0005)
    assert cb.entry_stake(PAIR, "long", 925.0, 976.0, 10.0, 5.0, 5e3, money()) == pytest.approx(
        want
    )
    assert make_desk().stake(PAIR, "long", 976.0, 10.0, 5.0, 5e3, money()) == pytest.approx(want)
    unlevered = stake_for_risk(10_000.0, 0.0075, 976.0, 925.0, 1.0, False, fee=0.0005)
    assert cb.entry_stake(PAIR, "long", 925.0, 976.0, math.nan, 5.0, 5e3, money()) == pytest.approx(
        unlevered
    )
    with caplog.at_level(logging.WARNING):
        assert cb.entry_stake(PAIR, "short", math.nan, 976.0, 10.0, 5.0, 5e3, money()) == 0.0
        assert cb.entry_stake(PAIR, "long", 925.0, 976.0, 10.0, 5.0, 5e3, money(0.0)) == 0.0
    assert "short entry skipped, no cluster stop" in caplog.text
    assert "long entry skipped, the wallet holds 0.0 USDT" in caplog.text


def test_entry_check_is_live_only_and_refuses_stale_or_defended_paths():
    desk = make_desk()
    now = OPEN_DATE
    assert desk.confirm(None, PAIR, "long", 976.0, now, 5, 2.0)
    assert desk.confirm(SimpleNamespace(runmode="backtest"), PAIR, "long", 976.0, now, 5, 2.0)
    assert desk.confirm(live_dp(), PAIR, "long", 976.0, now, 5, 2.0)  # no book: trade on the map
    assert not desk.confirm(live_dp(), PAIR, "long", 976.0, now + timedelta(minutes=6), 5, 2.0)
    assert not make_desk(None).confirm(live_dp(), PAIR, "long", 976.0, now, 5, 2.0)
    defended = {
        "asks": [[976.0 + i, 5.0] for i in range(1, 80)],
        "bids": [[976.0 - i, 1.0] for i in range(1, 80)],
    }
    assert not desk.confirm(live_dp(defended), PAIR, "long", 976.0, now, 5, 2.0)
    assert desk.confirm(live_dp(defended), PAIR, "long", 976.0, now, 5, 6.0)


def test_trade_params_are_checked():
    with pytest.raises(ConfigError, match="risk_per_trade"):
        cb.TradeParams(risk_per_trade=1.5)


def test_no_freqtrade_import():
    source = open(cb.__file__, encoding="utf-8").read()
    assert "import freqtrade" not in source and "from freqtrade" not in source


def test_exit_reasons_tell_target_from_time_limit():
    assert cb.exit_reason("roi", 355.0, 5.0, 72) == "target"
    assert cb.exit_reason("roi", 360.0, 5.0, 72) == "time_limit"
    for kept in ("stop_loss", "trailing_stop_loss", "stoploss_on_exchange", "force_exit", None):
        assert cb.exit_reason(kept, 400.0, 5.0, 72) == kept


def test_filled_exit_orders_get_their_reason_entries_do_not():
    desk = make_desk()
    trade = StubTrade()
    trade.exit_side, trade.exit_reason = "sell", "roi"
    desk.filled(trade, SimpleNamespace(ft_order_side="buy"), OPEN_DATE, 5.0, 72)
    assert trade.exit_reason == "roi"  # an entry fill
    desk.filled(
        trade, SimpleNamespace(ft_order_side="sell"), OPEN_DATE + timedelta(hours=1), 5.0, 72
    )
    assert trade.exit_reason == "target"
    trade.exit_reason = "roi"
    desk.filled(
        trade, SimpleNamespace(ft_order_side="sell"), OPEN_DATE + timedelta(hours=6), 5.0, 72
    )
    assert trade.exit_reason == "time_limit"


def test_hyperopt_ranges_reach_the_sweep_zone():
    # the old 0-2 ATR range stayed inside the median overshoot (about 2 ATR on BTC 5m)
    assert cb.PARAMETER_SPACES["stop_buffer_atr"].high >= 8
    q = cb.PARAMETER_SPACES["stop_overshoot_q"]
    assert q.low == 0 and q.high >= 0.9 and q.space == "sell"
