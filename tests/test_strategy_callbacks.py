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


def test_strategy_desk_reads_the_strategy_at_each_call():
    @cb.hyperoptable(IntParam, Param)
    class Strategy:  # what StrategyDesk reads of a Freqtrade strategy
        heatmap_config, timeframe, oi_timeframes = STRATEGY_HEATMAP, "5m", ("1h",)
        alert_interval_s, liq_real_fresh_minutes, taker_fee = 3600.0, 30.0, 0.0005
        startup_candle_count, dp, wallets, config = 2000, None, None, {}

    strategy = Strategy()
    minutes_of = {"5m": 5, "1h": 60}.__getitem__  # Freqtrade's timeframe_to_minutes, these two
    desk, defaults = cb.StrategyDesk(strategy, from_absolute, minutes_of), SignalParams()
    stop_key = (defaults.stop_buffer_atr, defaults.stop_overshoot_q)
    assert (desk.minutes, desk.live, desk.stop_key) == (5, False, stop_key)
    assert desk.signal_row(PAIR, None) is None  # no DataProvider yet
    assert desk.money(1e3).wallet == 1e3  # no wallets yet: the fallback
    # Freqtrade sets the DataProvider, a configured timeframe and hyperopt's values after __init__
    frame, candles, asked = long_setup(), long_setup(), []

    class DataProvider:
        runmode = "dry_run"

        def get_analyzed_dataframe(self, pair, timeframe):
            asked.append(timeframe)
            return frame, OPEN_DATE

        def get_pair_dataframe(self, pair, timeframe):
            asked.append(timeframe)
            return candles

    strategy.dp = DataProvider()
    strategy.timeframe, strategy.startup_candle_count = "1h", 3
    Strategy.stop_buffer_atr.value, Strategy.stop_overshoot_q.value = 2.0, 0.5
    Strategy.lookback.value, Strategy.risk_per_trade.value = 5, 0.01
    strategy.wallets = SimpleNamespace(get_total_stake_amount=lambda: 5_000.0)
    strategy.config = {"fee": 0.001, "stake_currency": "USDT", "liquidation_buffer": 0.1}
    assert (desk.minutes, desk.live, desk.stop_key) == (60, True, (2.0, 0.5))
    changed = SignalParams(lookback=5, stop_buffer_atr=2.0, stop_overshoot_q=0.5)
    assert desk.signal_params() == desk.params() == changed
    assert desk.money(1e3) == cb.Sizing(cb.TradeParams(risk_per_trade=0.01), 5e3, 1e-3, 0.1, "USDT")
    assert desk.signal_row(PAIR, None).equals(frame.iloc[-1]) and asked == ["1h"]
    # no analysed frame remembered: the leverage check maps the last start-up window
    desk.maps.avoid_zones = lambda pair, now, is_short, window, log_once: list(window().index)
    assert desk.avoid_zones(PAIR, True, OPEN_DATE) == list(candles.index[-3:])
    assert asked == ["1h", "1h"]


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


def test_filled_names_the_orders_own_trade_not_the_callbacks_copy():
    # Freqtrade passes order_filled a deep copy of the trade; the order is passed as it is and its
    # .trade is the real one, which the backtest's tables read
    desk = make_desk()
    real, copy = StubTrade(), StubTrade()
    for t in (real, copy):
        t.exit_side, t.exit_reason = "sell", "roi"
    order = SimpleNamespace(ft_order_side="sell", trade=real)
    desk.filled(copy, order, OPEN_DATE + timedelta(hours=6), 5.0, 72)
    assert (real.exit_reason, copy.exit_reason) == ("time_limit", "time_limit")
    real.exit_reason = copy.exit_reason = "stop_loss"
    desk.filled(copy, order, OPEN_DATE + timedelta(hours=1), 5.0, 72)
    assert real.exit_reason == "stop_loss"  # a stop keeps Freqtrade's name


def test_hyperopt_ranges_reach_the_sweep_zone():
    # the old 0-2 ATR range stayed inside the median overshoot (about 2 ATR on BTC 5m)
    assert cb.PARAMETER_SPACES["stop_buffer_atr"].high >= 8
    q = cb.PARAMETER_SPACES["stop_overshoot_q"]
    assert q.low == 0 and q.high >= 0.9 and q.space == "sell"


# --- each pair's tiers ---------------------------------------------------------------------------


def test_leverage_uses_the_pairs_own_tiers():
    # a 3% stop sized to 24k USDT: BTC's first tier (0.4%) against WIF's third (2%)
    wide = money(100_000.0, max_leverage_cap=25)
    notional = planned_notional(100_000.0, 0.0075, 100.0, 97.0, False, fee=0.0005)
    levels = {}
    for pair in ("BTC/USDT:USDT", "WIF/USDT:USDT"):
        expected = choose_leverage(
            100.0, 97.0, False, max_leverage=25, notional=notional, symbol=pair
        )
        assert cb.entry_leverage(97.0, 100.0, False, 75.0, wide, lambda: [], pair=pair) == expected
        levels[pair] = expected
    assert levels["WIF/USDT:USDT"] < levels["BTC/USDT:USDT"]
    # the desk asks with the pair it is given
    desk = cb.Desk(STRATEGY_HEATMAP, "5m", lambda pair, before: ROW, SignalParams, from_absolute)
    for pair in ("BTC/USDT:USDT", "WIF/USDT:USDT"):
        lev = desk.leverage(pair, "long", 976.0, 75.0, wide, lambda: [])
        assert lev == cb.entry_leverage(925.0, 976.0, False, 75.0, wide, lambda: [], pair=pair)
    assert desk.heatmap("WIF/USDT:USDT").symbol == "WIF/USDT:USDT"
    assert desk.heatmap(PAIR).symbol == PAIR


def test_a_pair_without_tiers_is_logged_once_and_never_enters(caplog):
    desk = make_desk()
    frame = long_setup()
    caplog.set_level(logging.WARNING)
    for _ in range(2):
        out = desk.analyse(frame, "NOTIERS/USDT:USDT", None, {}, "5m")
        entries = cb.mark_entries(out.copy(), SignalParams())
        assert entries["enter_long"].sum() == entries["enter_short"].sum() == 0
        assert out["liq_long_cluster_far"].isna().all() and len(out) == len(frame)
    assert desk.leverage("NOTIERS/USDT:USDT", "long", 976.0, 20.0, money(), lambda: []) == 1.0
    notices = [r for r in caplog.records if "NOTIERS/USDT:USDT: skipped" in r.getMessage()]
    assert len(notices) == 1 and "liq-indicator tiers" in notices[0].getMessage()


@pytest.fixture
def no_registered_tiers():
    from liq_indicator.brackets import clear_registered_tiers

    clear_registered_tiers("binance")
    yield
    clear_registered_tiers("binance")


def test_live_tiers_from_freqtrades_exchange_are_registered(no_registered_tiers, caplog):
    from liq_indicator.brackets import get_brackets
    from liq_indicator.strategy.glue import LogOnce, register_exchange_tiers

    # Freqtrade's parse_leverage_tier layout: the maintenance amount as maintAmt
    tiers = {
        "FOO/USDT:USDT": [
            {
                "minNotional": 0,
                "maxNotional": 5000,
                "maintenanceMarginRate": 0.01,
                "maxLeverage": 50,
                "maintAmt": 0.0,
            },
            {
                "minNotional": 5000,
                "maxNotional": None,
                "maintenanceMarginRate": 0.02,
                "maxLeverage": 20,
                "maintAmt": 50.0,
            },
        ],
        "BAD/USDT:USDT": [
            {
                "minNotional": 10,
                "maxNotional": 5,
                "maintenanceMarginRate": 2.0,
                "maxLeverage": 0,
                "maintAmt": None,
            },
        ],
    }
    dp = SimpleNamespace(_exchange=SimpleNamespace(_leverage_tiers=tiers))
    caplog.set_level(logging.WARNING)
    assert register_exchange_tiers(dp, "binance", log_once=LogOnce()) == ["FOO/USDT:USDT"]
    table = get_brackets("binance", "FOO/USDT:USDT")
    assert [(b.cap, b.mmr, b.cum, b.max_leverage) for b in table.brackets] == [
        (5000.0, 0.01, 0.0, 50.0),
        (math.inf, 0.02, 50.0, 20.0),
    ]
    assert "loaded tiers" in table.source
    assert any("BAD/USDT:USDT" in r.getMessage() for r in caplog.records)
    # the desk maps the pair on them
    assert make_desk().heatmap("FOO/USDT:USDT").symbol == "FOO/USDT:USDT"
    # nothing to register: no exchange, no tiers, a venue without a formula
    for stub, name in ((None, "binance"), (SimpleNamespace(), "binance"), (dp, "kraken")):
        assert register_exchange_tiers(stub, name) == []
