"""The strategy's callbacks called directly, with a stub DataProvider and Freqtrade's own trade object.

Freqtrade swallows exceptions in callbacks and ignores None/0/NaN stops, so a broken callback would
only show up as a missing stop: every callback is exercised here on a known signal candle.
"""

from __future__ import annotations

import logging
import math
from datetime import timedelta

import numpy as np
import pandas as pd
import pytest
from conftest import make_candles
from strategy_helpers import (
    OPEN_DATE,
    PAIR,
    SIGNAL_DATE,
    SIGNAL_ROW,
    STRATEGY_FILE,
    StubWallets,
    backtest_config,
    ft_call,
    load_strategy_class,
    long_setup,
    make_strategy,
    make_trade,
    mirror,
    order_book,
)

freqtrade = pytest.importorskip("freqtrade")

from freqtrade.enums import RunMode  # noqa: E402
from freqtrade.ft_types.plot_annotation_type import AnnotationTypeTA  # noqa: E402
from freqtrade.persistence.custom_data import CustomDataWrapper  # noqa: E402
from freqtrade.strategy import stoploss_from_absolute  # noqa: E402

from liq_indicator.risk import own_liquidation_price, stake_for_risk  # noqa: E402
from liq_indicator.strategy import frequi  # noqa: E402
from liq_indicator.strategy.glue import book_path, map_zones  # noqa: E402


@pytest.fixture(autouse=True)
def _memory_custom_data():
    CustomDataWrapper.use_db = False
    CustomDataWrapper.reset_custom_data()
    yield
    CustomDataWrapper.reset_custom_data()
    CustomDataWrapper.use_db = True


@pytest.fixture(scope="module")
def strategy_class():
    return load_strategy_class()


# --- the stop --------------------------------------------------------------------------------


def test_custom_stoploss_places_the_cluster_stop(strategy_class):
    strategy = make_strategy(strategy_class, long_setup(), runmode=RunMode.DRY_RUN)
    trade = make_trade()
    ratio = ft_call(strategy.custom_stoploss, PAIR, trade, OPEN_DATE, 976.0, 0.0, after_fill=True)
    # stop 925 = far edge 930 - 0.5 ATR (10), relative to 976 at 10x
    assert ratio == pytest.approx(stoploss_from_absolute(925.0, 976.0, False, 10.0))
    assert ratio == pytest.approx((1 - 925 / 976) * 10)
    assert trade.get_custom_data("liq_stop") == 925.0
    assert trade.get_custom_data("liq_target") == 1050.0
    # Freqtrade turns the ratio back into exactly that price
    trade.adjust_stop_loss(trade.open_rate, strategy.stoploss, initial=True)
    trade.adjust_stop_loss(976.0, ratio, allow_refresh=True)
    assert trade.stop_loss == pytest.approx(925.0)


def test_custom_stoploss_short(strategy_class):
    strategy = make_strategy(strategy_class, mirror(long_setup()), runmode=RunMode.DRY_RUN)
    trade = make_trade(is_short=True, open_rate=1024.0, leverage=5.0)
    ratio = ft_call(strategy.custom_stoploss, PAIR, trade, OPEN_DATE, 1024.0, 0.0, after_fill=True)
    assert ratio == pytest.approx((1075 / 1024 - 1) * 5)
    assert trade.get_custom_data("liq_target") == 950.0


def test_stop_is_kept_on_the_trade_and_only_tightens(strategy_class, monkeypatch):
    strategy = make_strategy(strategy_class, long_setup())
    monkeypatch.setattr(strategy.breakeven_r, "value", 1.0)  # parameters are class attributes
    trade = make_trade()
    trade.adjust_stop_loss(trade.open_rate, strategy.stoploss, initial=True)
    stops = []
    # later candles: the map moves (a nearer cluster appears) but the stop stays the entry map's
    moved = pd.concat(
        [
            long_setup(),
            long_setup()
            .iloc[[-1]]
            .assign(date=SIGNAL_DATE + pd.Timedelta(minutes=30), liq_long_cluster_far=970.0),
        ],
        ignore_index=True,
    )
    for step, (rate, high) in enumerate(
        [(976.0, 976.0), (990.0, 1000.0), (1020.0, 1030.0), (1000.0, 1030.0)]
    ):
        trade.max_rate = max(trade.max_rate or rate, high)
        if step == 1:
            strategy.dp.analyzed = moved
        ratio = ft_call(
            strategy.custom_stoploss, PAIR, trade, OPEN_DATE, rate, 0.0, after_fill=step == 0
        )
        assert ratio is not None and math.isfinite(ratio) and ratio > 0
        trade.adjust_stop_loss(rate, ratio, allow_refresh=step == 0)
        stops.append(trade.stop_loss)
    assert stops[0] == pytest.approx(925.0) and stops[1] == pytest.approx(925.0)
    # +1R (976 + 51 = 1027) reached at step 2: breakeven
    assert stops[2] == pytest.approx(976.0) and stops[3] == pytest.approx(976.0)
    assert all(b >= a for a, b in zip(stops, stops[1:], strict=False))


def test_plan_survives_a_restart_through_custom_data(strategy_class):
    first = make_strategy(strategy_class, long_setup(), runmode=RunMode.DRY_RUN)
    trade = make_trade()
    ft_call(first.custom_stoploss, PAIR, trade, OPEN_DATE, 976.0, 0.0, after_fill=True)
    # a new bot process: no in-memory plan, no analyzed history of the entry candle
    restarted = make_strategy(strategy_class, pd.DataFrame(), runmode=RunMode.DRY_RUN)
    ratio = ft_call(
        restarted.custom_stoploss, PAIR, trade, OPEN_DATE, 1000.0, 0.0, after_fill=False
    )
    assert ratio == pytest.approx(stoploss_from_absolute(925.0, 1000.0, False, 10.0))
    assert ft_call(restarted.custom_roi, PAIR, trade, OPEN_DATE, 5, None, "long") == pytest.approx(
        trade.calc_profit_ratio(1050.0)
    )


def test_hyperopt_epochs_do_not_share_plans(strategy_class, monkeypatch):
    strategy = make_strategy(strategy_class, long_setup())
    ft_call(strategy.custom_stoploss, PAIR, make_trade(), OPEN_DATE, 976.0, 0.0, after_fill=True)
    CustomDataWrapper.reset_custom_data()  # what Freqtrade does before each backtest
    monkeypatch.setattr(strategy.stop_buffer_atr, "value", 1.0)  # the next epoch's value
    trade = make_trade()  # same id and open date as in the previous epoch
    ratio = ft_call(strategy.custom_stoploss, PAIR, trade, OPEN_DATE, 976.0, 0.0, after_fill=True)
    assert ratio == pytest.approx(stoploss_from_absolute(920.0, 976.0, False, 10.0))  # 930 - 1 ATR


def test_backtests_keep_the_plan_in_memory_only(strategy_class):
    # same stop as live, but no custom data: a backtest never restarts, and Freqtrade's in-memory
    # custom-data store scans every record on each write (quadratic in trades)
    live = make_strategy(strategy_class, long_setup(), runmode=RunMode.DRY_RUN)
    backtest = make_strategy(strategy_class, long_setup())
    live_ratio = ft_call(
        live.custom_stoploss, PAIR, make_trade(trade_id=1), OPEN_DATE, 976.0, 0.0, after_fill=True
    )
    trade = make_trade(trade_id=2)
    assert (
        ft_call(backtest.custom_stoploss, PAIR, trade, OPEN_DATE, 976.0, 0.0, after_fill=True)
        == live_ratio
    )
    assert trade.get_all_custom_data() == []
    assert ft_call(backtest.custom_roi, PAIR, trade, OPEN_DATE, 5, None, "long") == pytest.approx(
        trade.calc_profit_ratio(1050.0)
    )


def test_stop_through_price_asks_for_an_immediate_exit(strategy_class):
    strategy = make_strategy(strategy_class, long_setup())
    trade = make_trade(open_rate=976.0)
    ft_call(strategy.custom_stoploss, PAIR, trade, OPEN_DATE, 976.0, 0.0, after_fill=True)
    ratio = ft_call(strategy.custom_stoploss, PAIR, trade, OPEN_DATE, 920.0, 0.0, after_fill=False)
    assert 0 < ratio <= 1e-3


def test_entry_below_the_cluster_falls_back_to_atr(strategy_class):
    strategy = make_strategy(strategy_class, long_setup(), runmode=RunMode.DRY_RUN)
    trade = make_trade(open_rate=920.0)  # opened below the cluster's far edge (930): it was swept
    ratio = ft_call(strategy.custom_stoploss, PAIR, trade, OPEN_DATE, 920.0, 0.0, after_fill=True)
    assert ratio == pytest.approx(
        (1 - 890 / 920) * 10
    )  # 3 ATR below entry, still below the cluster
    assert trade.get_custom_data("liq_stop") == 890.0


def test_no_signal_candle_keeps_the_hard_stop(strategy_class):
    strategy = make_strategy(strategy_class, pd.DataFrame())
    trade = make_trade()
    assert (
        ft_call(strategy.custom_stoploss, PAIR, trade, OPEN_DATE, 976.0, 0.0, after_fill=True)
        is None
    )
    assert ft_call(strategy.custom_roi, PAIR, trade, OPEN_DATE, 5, None, "long") is None
    # the time limit holds without a plan too
    assert ft_call(strategy.custom_roi, PAIR, trade, OPEN_DATE, 5 * 72, None, "long") == -1.0


# --- exits -----------------------------------------------------------------------------------


def test_custom_roi_is_the_target_profit(strategy_class):
    strategy = make_strategy(strategy_class, long_setup())
    trade = make_trade()
    roi = ft_call(strategy.custom_roi, PAIR, trade, OPEN_DATE, 5, "liq_long_exhaustion", "long")
    assert roi == pytest.approx(trade.calc_profit_ratio(1050.0))
    assert trade.calc_close_rate_for_roi(roi) == pytest.approx(1050.0, rel=1e-9)
    # Freqtrade exits when the candle's best price is beyond it, not before
    assert (
        strategy.should_exit(
            trade,
            1000.0,
            OPEN_DATE + timedelta(minutes=10),
            enter=False,
            exit_=False,
            low=990.0,
            high=1049.0,
        )
        == []
    )
    exits = strategy.should_exit(
        trade,
        1000.0,
        OPEN_DATE + timedelta(minutes=10),
        enter=False,
        exit_=False,
        low=990.0,
        high=1051.0,
    )
    assert [e.exit_type.value for e in exits] == ["roi"]


def test_custom_roi_short_target(strategy_class):
    strategy = make_strategy(strategy_class, mirror(long_setup()))
    trade = make_trade(is_short=True, open_rate=1024.0, leverage=5.0)
    roi = ft_call(strategy.custom_roi, PAIR, trade, OPEN_DATE, 5, None, "short")
    assert trade.calc_close_rate_for_roi(roi) == pytest.approx(950.0, rel=1e-9)


def test_custom_roi_time_limit(strategy_class, monkeypatch):
    strategy = make_strategy(strategy_class, long_setup())
    trade = make_trade()
    assert (
        ft_call(strategy.custom_roi, PAIR, trade, OPEN_DATE, 5 * 71, None, "long") > 0
    )  # the target
    assert (
        ft_call(strategy.custom_roi, PAIR, trade, OPEN_DATE, 5 * 72, None, "long") == -1.0
    )  # 72 candles
    monkeypatch.setattr(strategy.max_hold_candles, "value", 12)  # hyperopt's value is read
    assert ft_call(strategy.custom_roi, PAIR, trade, OPEN_DATE, 5 * 12, None, "long") == -1.0
    # Freqtrade exits at once, whatever the price
    late = OPEN_DATE + timedelta(minutes=5 * 12)
    exits = strategy.should_exit(
        trade, 960.0, late, enter=False, exit_=False, low=955.0, high=965.0
    )
    assert [e.exit_type.value for e in exits] == ["roi"]


# --- leverage and size -----------------------------------------------------------------------


def test_leverage_keeps_own_liquidation_beyond_the_stop(strategy_class):
    strategy = make_strategy(strategy_class, long_setup())
    lev = ft_call(
        strategy.leverage, PAIR, OPEN_DATE, 976.0, 1.0, 125.0, "liq_long_exhaustion", "long"
    )
    # stop 925 is 5.23% away; 10x (the cap) liquidates 9.16% away with the buffer: >= 1.5 x 5.23%
    assert lev == 10.0
    notional = 10_000 * 0.0075 / (51 / 976)
    liq = own_liquidation_price(976.0, lev, False, notional)
    assert (976.0 - liq) >= 1.5 * (976.0 - 925.0)
    # exchange cap below the strategy's
    assert ft_call(strategy.leverage, PAIR, OPEN_DATE, 976.0, 1.0, 4.0, None, "long") == 4.0


def test_leverage_avoids_a_cluster_at_its_liquidation(strategy_class):
    strategy = make_strategy(strategy_class, long_setup())
    notional = 10_000 * 0.0075 / (51 / 976)
    liq10 = own_liquidation_price(976.0, 10, False, notional)
    strategy.desk.avoid_zones = lambda pair, is_short, current_time: [(liq10 - 1.0, liq10 + 1.0)]
    lev = ft_call(strategy.leverage, PAIR, OPEN_DATE, 976.0, 1.0, 125.0, None, "long")
    assert lev == 9.0


def test_leverage_zones_from_the_map(strategy_class):
    # without an analysed frame kept (e.g. a strategy object that never ran populate_indicators):
    # the map over the last start-up window of the DataProvider's candles
    candles = make_candles(2500, price=1000.0, vol=0.002)
    strategy = make_strategy(strategy_class, long_setup(), candles=candles)
    entry = candles["date"].iloc[-1] + pd.Timedelta(minutes=5)
    zones = strategy.desk.avoid_zones(PAIR, False, entry)
    assert zones and all(lo <= hi for lo, hi in zones)
    assert zones == map_zones(candles.iloc[-2000:], strategy.heatmap_config, False)


def test_leverage_zones_are_the_signal_candles_map(strategy_class):
    # after populate_indicators: the zones of the map the features came from, at the candle
    # before the entry, whatever candles the frame holds after it
    candles = make_candles(3000, price=1000.0, vol=0.002)
    strategy = make_strategy(strategy_class, long_setup(), candles=pd.DataFrame())
    strategy.populate_indicators(candles.copy(), {"pair": PAIR})
    for row in (2400, 2000, 2999):  # backwards too (a new backtest, a hyperopt epoch)
        entry = candles["date"].iloc[row] + pd.Timedelta(minutes=5)
        for is_short in (False, True):
            expected = map_zones(candles.iloc[: row + 1], strategy.heatmap_config, is_short)
            assert strategy.desk.avoid_zones(PAIR, is_short, entry) == expected
            assert expected
    before_first = candles["date"].iloc[0]
    assert strategy.maps.zones(PAIR, before_first, False) is None


def test_map_zones_take_the_side_frames_by_name():
    """open_interest / mark / funding by keyword (a misspelt one is a TypeError, not ignored);
    an empty side frame counts as none, and SignalMaps.remember keeps them for its zones."""
    from liq_indicator.config import HeatmapConfig
    from liq_indicator.strategy.glue import SignalMaps

    candles = make_candles(800, price=1000.0, vol=0.002, oi=True)
    oi = candles[["date", "open_interest_value"]]
    base = candles.drop(columns="open_interest_value")
    config = HeatmapConfig()
    volume_mode = map_zones(base, config, False)
    with_oi = map_zones(base, config, False, open_interest=oi, mark=None, funding=None)
    assert with_oi != volume_mode
    assert map_zones(base, config, False, open_interest=oi.iloc[:0]) == volume_mode
    with pytest.raises(TypeError, match="open_intrest"):
        map_zones(base, config, False, open_intrest=oi)
    maps = SignalMaps(config, 5.0)
    maps.remember(PAIR, base, open_interest=oi)
    entry = base["date"].iloc[-1] + pd.Timedelta(minutes=5)
    assert maps.zones(PAIR, entry, False) == with_oi


def test_leverage_without_a_stop_is_one(strategy_class):
    strategy = make_strategy(strategy_class, pd.DataFrame())
    assert ft_call(strategy.leverage, PAIR, OPEN_DATE, 976.0, 1.0, 125.0, None, "long") == 1.0


def _stake(strategy, min_stake=5.0, max_stake=5_000.0, leverage=10.0, side="long"):
    """custom_stake_amount at 976 with a proposed stake of 100, as Freqtrade calls it."""
    args = (PAIR, OPEN_DATE, 976.0, 100.0, min_stake, max_stake, leverage, None, side)
    return ft_call(strategy.custom_stake_amount, *args)


def test_stake_risks_the_configured_fraction(strategy_class):
    strategy = make_strategy(strategy_class, long_setup())
    stake = _stake(strategy)
    assert stake == pytest.approx(
        stake_for_risk(10_000, 0.0075, 976.0, 925.0, 10.0, False, fee=0.0005)
    )
    # 75 USDT at risk over 5.23% + 0.1% fees: 1,407 notional, 140.7 margin at 10x
    assert stake == pytest.approx(75 / (51 / 976 + 0.001) / 10)
    assert _stake(strategy, max_stake=100.0) == 100.0
    assert _stake(strategy, min_stake=500.0) == 500.0


def test_stake_without_a_stop_is_zero(strategy_class):
    strategy = make_strategy(strategy_class, pd.DataFrame())
    assert _stake(strategy) == 0.0


# --- callbacks on inputs that must not raise: the documented safe value instead -------------
# (Freqtrade swallows a callback's exception and uses its own default: for the stake that is the
# proposed stake, which bypasses the risk sizing)

NO_WALLET = [0.0, -50.0, math.nan]


@pytest.mark.parametrize("wallet", NO_WALLET, ids=["zero", "negative", "nan"])
def test_stake_with_no_wallet_skips_the_trade(strategy_class, wallet, caplog):
    strategy = make_strategy(strategy_class, long_setup())
    strategy.wallets = StubWallets(wallet)
    with caplog.at_level(logging.WARNING):
        stake = _stake(strategy)
    assert stake == 0.0  # Freqtrade's validate_stake_amount turns 0 into "no trade"
    assert f"long entry skipped, the wallet holds {wallet}" in caplog.text


def test_stake_without_a_stop_is_logged(strategy_class, caplog):
    strategy = make_strategy(strategy_class, pd.DataFrame())
    with caplog.at_level(logging.WARNING):
        assert _stake(strategy, side="short") == 0.0
    assert "short entry skipped, no cluster stop" in caplog.text


@pytest.mark.parametrize("leverage", [math.nan, 0.0])
def test_stake_with_an_unusable_leverage_is_sized_unleveraged(strategy_class, leverage):
    strategy = make_strategy(strategy_class, long_setup())
    stake = _stake(strategy, leverage=leverage)
    assert stake == pytest.approx(
        stake_for_risk(10_000, 0.0075, 976.0, 925.0, 1.0, False, fee=0.0005)
    )


@pytest.mark.parametrize("wallet", NO_WALLET, ids=["zero", "negative", "nan"])
def test_leverage_with_no_wallet_is_one(strategy_class, wallet):
    strategy = make_strategy(strategy_class, long_setup())
    strategy.wallets = StubWallets(wallet)
    assert ft_call(strategy.leverage, PAIR, OPEN_DATE, 976.0, 1.0, 125.0, None, "long") == 1.0


@pytest.mark.parametrize(
    ("rate", "max_leverage"), [(math.nan, 125.0), (0.0, 125.0), (976.0, math.nan)]
)
def test_leverage_without_a_usable_rate_or_exchange_maximum_is_one(
    strategy_class, rate, max_leverage
):
    strategy = make_strategy(strategy_class, long_setup())
    assert (
        ft_call(strategy.leverage, PAIR, OPEN_DATE, 976.0, 1.0, 125.0, None, "long") == 10.0
    )  # usable: 10x
    assert ft_call(strategy.leverage, PAIR, OPEN_DATE, rate, 1.0, max_leverage, None, "long") == 1.0


@pytest.mark.parametrize("rate", [math.nan, 0.0, -1.0])
def test_custom_stoploss_without_a_usable_rate_keeps_the_stop(strategy_class, rate):
    strategy = make_strategy(strategy_class, long_setup())
    trade = make_trade()
    assert (
        ft_call(strategy.custom_stoploss, PAIR, trade, OPEN_DATE, 976.0, 0.0, after_fill=True) > 0
    )  # a plan
    assert (
        ft_call(strategy.custom_stoploss, PAIR, trade, OPEN_DATE, rate, 0.0, after_fill=True)
        is None
    )


def test_custom_roi_without_a_signal_candle_keeps_only_the_time_limit(strategy_class):
    strategy = make_strategy(strategy_class, pd.DataFrame())
    trade = make_trade()
    assert ft_call(strategy.custom_roi, PAIR, trade, OPEN_DATE, 10, None, "long") is None
    assert ft_call(strategy.custom_roi, PAIR, trade, OPEN_DATE, 72 * 5, None, "long") == -1.0


def test_confirm_entry_without_an_analysed_frame_is_refused(strategy_class, caplog):
    strategy = make_strategy(
        strategy_class, pd.DataFrame(), runmode=RunMode.DRY_RUN, book=order_book(1.0, 1.0)
    )
    with caplog.at_level(logging.WARNING):
        assert (
            ft_call(
                strategy.confirm_trade_entry,
                PAIR,
                "limit",
                1.0,
                976.0,
                "GTC",
                OPEN_DATE,
                None,
                "long",
            )
            is False
        )
    assert "long entry skipped, its signal candle is stale" in caplog.text


def test_staleness_follows_a_timeframe_set_after_init(strategy_class):
    """Freqtrade sets a configured timeframe on the strategy after constructing it (the live-faults
    run trades 1m): the stale-candle rule must read it then, not at __init__."""
    args = (PAIR, "limit", 1.0, 976.0, "GTC", OPEN_DATE, "liq_long_exhaustion", "long")
    strategy = make_strategy(
        strategy_class, long_setup(), runmode=RunMode.DRY_RUN, book=order_book(1.0, 1.0)
    )
    assert (
        ft_call(strategy.confirm_trade_entry, *args) is True
    )  # 5m: the signal candle closed at OPEN_DATE
    strategy.timeframe = "1m"
    assert (
        ft_call(
            strategy.confirm_trade_entry, *args[:5], OPEN_DATE + timedelta(minutes=4), *args[6:]
        )
        is False
    )


def test_confirm_entry_reads_books_with_extra_fields_or_none(strategy_class):
    """ccxt book entries may carry a third field (e.g. an order count); a missing book is no book."""
    args = (PAIR, "limit", 1.0, 976.0, "GTC", OPEN_DATE, "liq_long_exhaustion", "long")
    plain = order_book(5.0, 1.0)
    counted = {side: [[price, qty, 3] for price, qty in levels] for side, levels in plain.items()}
    assert len(counted["asks"]) * 3 % 2 == 1  # an odd count of numbers: no reshape can pair them
    for book, expected in ((plain, False), (counted, False), (None, True), ({}, True)):
        strategy = make_strategy(strategy_class, long_setup(), runmode=RunMode.DRY_RUN, book=book)
        assert ft_call(strategy.confirm_trade_entry, *args) is expected, book
    path = book_path(counted, 976.0, 1050.0, False)
    assert path == book_path(plain, 976.0, 1050.0, False) and path.path_usd > 0


def test_populate_indicators_on_an_empty_frame(strategy_class, tmp_path):
    strategy = make_strategy(strategy_class, None)
    strategy.config.update(datadir=str(tmp_path / "binance"), liq_venues=["bybit"])
    frame = strategy.populate_indicators(make_candles(10).iloc[:0], {"pair": PAIR})
    frame = strategy.populate_entry_trend(frame, {"pair": PAIR})
    assert len(frame) == 0 and {"liq_long_cluster_far", "atr_14", "enter_long"} <= set(
        frame.columns
    )


# --- live-only entry check, data fallbacks, alerts, plots ------------------------------------


def test_confirm_entry_checks_the_book_live_only(strategy_class):
    args = (PAIR, "limit", 1.0, 976.0, "GTC", OPEN_DATE, "liq_long_exhaustion", "long")
    defended = make_strategy(
        strategy_class, long_setup(), runmode=RunMode.DRY_RUN, book=order_book(5.0, 1.0)
    )
    assert ft_call(defended.confirm_trade_entry, *args) is False
    hollow = make_strategy(
        strategy_class, long_setup(), runmode=RunMode.DRY_RUN, book=order_book(1.0, 1.0)
    )
    assert ft_call(hollow.confirm_trade_entry, *args) is True
    backtest = make_strategy(
        strategy_class, long_setup(), runmode=RunMode.BACKTEST, book=order_book(5.0, 1.0)
    )
    assert ft_call(backtest.confirm_trade_entry, *args) is True
    broken = make_strategy(
        strategy_class, long_setup(), runmode=RunMode.LIVE, book=RuntimeError("down")
    )
    assert ft_call(broken.confirm_trade_entry, *args) is True


def test_populate_indicators_without_oi_falls_back_once(strategy_class, caplog):
    candles = make_candles(400)
    strategy = make_strategy(strategy_class, None, oi=RuntimeError("no file"))
    with caplog.at_level(logging.WARNING):
        frame = strategy.populate_indicators(candles.copy(), {"pair": PAIR})
        strategy.populate_indicators(candles.copy(), {"pair": PAIR})
    assert caplog.text.count("volume mode") == 1
    assert frame["liq_oi_mode"].eq(0).all() and "atr_14" in frame.columns
    frame = strategy.populate_entry_trend(frame, {"pair": PAIR})
    frame = strategy.populate_exit_trend(frame, {"pair": PAIR})
    assert {"enter_long", "enter_short", "enter_tag", "exit_long", "exit_short"} <= set(
        frame.columns
    )


def test_populate_indicators_reads_bybit_layout_open_interest(strategy_class, caplog):
    """Freqtrade's Bybit layout: open_interest_amount filled, open_interest_value all NaN. The
    OI filter's oi_value is amount x close, and the map runs on open interest, as with the value."""
    candles = make_candles(400)
    amount = np.linspace(1e5, 1.1e5, len(candles))
    bybit = candles[["date"]].assign(open_interest_value=np.nan, open_interest_amount=amount)
    binance = candles[["date"]].assign(open_interest_value=amount * candles["close"].to_numpy())
    with caplog.at_level(logging.INFO):
        frame = make_strategy(strategy_class, None, oi=bybit).populate_indicators(
            candles.copy(), {"pair": PAIR}
        )
    assert "inflow from open interest" in caplog.text
    np.testing.assert_allclose(frame["oi_value"], amount * candles["close"], rtol=1e-12)
    want = make_strategy(strategy_class, None, oi=binance).populate_indicators(
        candles.copy(), {"pair": PAIR}
    )
    pd.testing.assert_frame_equal(frame, want, rtol=1e-9)


def test_populate_indicators_without_usable_oi_says_volume_mode(strategy_class, caplog):
    candles = make_candles(400)
    empty_oi = candles[["date"]].assign(open_interest_value=np.nan, open_interest_amount=np.nan)
    strategy = make_strategy(strategy_class, None, oi=empty_oi)
    with caplog.at_level(logging.INFO):
        frame = strategy.populate_indicators(candles.copy(), {"pair": PAIR})
    assert "no open-interest data; the liquidation map runs in volume mode" in caplog.text
    assert "inflow from open interest" not in caplog.text
    assert frame["liq_oi_mode"].eq(0).all() and frame["oi_value"].isna().all() and len(frame) == 400


def test_populate_indicators_uses_oi_and_funding(strategy_class):
    candles = make_candles(400)
    oi = candles[["date"]].assign(open_interest_amount=1e5, open_interest_value=3e9)
    funding = pd.DataFrame({"date": candles["date"].iloc[::96].to_numpy(), "open": 0.0003})
    strategy = make_strategy(strategy_class, None, oi=oi, funding=funding)
    frame = strategy.populate_indicators(candles.copy(), {"pair": PAIR})
    assert frame["liq_oi_mode"].iloc[-1] == 1.0
    assert frame["funding_rate"].iloc[-1] == 0.0003


def test_alerts_are_sent_live_and_rate_limited(strategy_class):
    frame = long_setup().iloc[:SIGNAL_ROW].copy()  # ends on the cascade candle
    strategy = make_strategy(strategy_class, None, runmode=RunMode.DRY_RUN)
    params = strategy.desk.signal_params().replace(norm_window=4, lookback=3)
    first = strategy.alerts.check(strategy.dp, PAIR, frame, params)
    again = strategy.alerts.check(strategy.dp, PAIR, frame, params)
    assert len(first) == 1 and "cascade" in first[0] and again == []
    assert strategy.dp.sent == first
    quiet = make_strategy(strategy_class, None, runmode=RunMode.BACKTEST)
    assert quiet.alerts.check(quiet.dp, PAIR, frame, params) == []


def test_informative_pairs_live_only(strategy_class):
    assert make_strategy(strategy_class, None).informative_pairs() == []
    live = make_strategy(strategy_class, None, runmode=RunMode.DRY_RUN).informative_pairs()
    assert (PAIR, "1h", "open_interest") in live and (PAIR, "1h", "funding_rate") in live


def test_plot_annotations_are_valid_freqtrade_annotations(strategy_class):
    strategy = make_strategy(strategy_class, None)
    frame = long_setup()
    frame.loc[4:, "liq_long_cluster_far"] = 920.0  # the long cluster moves once: two boxes
    areas = ft_call(
        strategy.plot_annotations, PAIR, frame["date"].iloc[0], frame["date"].iloc[-1], frame
    )
    for area in areas:
        AnnotationTypeTA.validate_python(area)
    long_boxes = [a for a in areas if a["label"] == "long cluster"]
    assert [(b["y_start"], b["y_end"]) for b in long_boxes] == [(930.0, 940.0), (920.0, 940.0)]
    assert len([a for a in areas if a["label"] == "short cluster"]) == 1


def test_plot_config_names_existing_columns(strategy_class):
    frame = make_strategy(strategy_class, None).populate_indicators(
        make_candles(300), {"pair": PAIR}
    )
    config = strategy_class.plot_config
    names = list(config["main_plot"]) + [c for sub in config["subplots"].values() for c in sub]
    names += [v["fill_to"] for v in config["main_plot"].values() if "fill_to" in v]
    assert set(names) <= set(frame.columns)


def test_frequi_helpers_make_fresh_configs_and_leave_the_frame_alone(strategy_class):
    assert strategy_class.plot_config == frequi.plot_config(frequi.RECORDED_COLUMNS)
    first = frequi.plot_config()
    first["main_plot"].clear()
    assert frequi.plot_config()["main_plot"]  # a fresh dict each time: no shared state
    frame = long_setup()
    frame.loc[4:, "liq_long_cluster_far"] = 920.0
    before = frame.copy(deep=True)
    assert len(frequi.cluster_annotations(frame)) == 3
    pd.testing.assert_frame_equal(frame, before, check_exact=True)


def test_interface(strategy_class):
    assert strategy_class.INTERFACE_VERSION == 3
    assert strategy_class.can_short and strategy_class.use_custom_stoploss
    assert strategy_class.stoploss < 0 and np.isfinite(strategy_class.stoploss)
    source = STRATEGY_FILE.read_text()
    assert "from ." not in source  # relative imports fail in Freqtrade's loader


def test_hyperopt_finds_the_parameters_as_class_attributes(strategy_class):
    from freqtrade.strategy.hyper import detect_all_parameters

    from liq_indicator.strategy.callbacks import PARAMETER_SPACES
    from liq_indicator.strategy.signals import SignalParams

    found = detect_all_parameters(strategy_class)
    assert {n: s for s, params in found.items() for n in params} == {
        n: space.space for n, space in PARAMETER_SPACES.items()
    }
    assert strategy_class.cascade_mult.value == SignalParams().cascade_mult


def test_parse_recursive_analysis_table():
    from liq_indicator.strategy.glue import parse_recursive_analysis

    printed = """noise
                    Recursive Analysis
┏━━━━━━━━━━━━━━━━━━━━━━━┳━━━━━━━━━┳━━━━━━━━━━━━━━━━━━━━━━┓
┃            Indicators ┃     500 ┃ 2000 (from strategy) ┃
┡━━━━━━━━━━━━━━━━━━━━━━━╇━━━━━━━━━╇━━━━━━━━━━━━━━━━━━━━━━┩
│     liq_long_2pct_usd │ -0.474% │              -0.000% │
│ liq_short_cluster_usd │    nan% │                    - │
└───────────────────────┴─────────┴──────────────────────┘
more noise │ not a row │"""
    headers, rows = parse_recursive_analysis(printed)
    assert headers == ["500", "2000 (from strategy)"]
    assert rows == {
        "liq_long_2pct_usd": ["-0.474%", "-0.000%"],
        "liq_short_cluster_usd": ["nan%", "-"],
    }
    assert parse_recursive_analysis("No variance on indicator(s) found") == ([], {})


def test_freqtrade_loads_the_strategy_with_its_stop_called_after_fills():
    """Freqtrade calls custom_stoploss right after a fill only when its signature names
    ``after_fill`` (the resolver reads it): the callbacks' short signatures must keep it."""
    from freqtrade.resolvers import StrategyResolver

    config = backtest_config(
        strategy="LiqClusterStrategy",
        strategy_path=str(STRATEGY_FILE.parent),
        user_data_dir=STRATEGY_FILE.parents[1],
        stake_amount="unlimited",
        exchange={"name": "binance", "pair_whitelist": [PAIR]},
        pairlists=[{"method": "StaticPairList"}],
        entry_pricing={},
        exit_pricing={},
    )
    strategy = StrategyResolver.load_strategy(config)
    assert type(strategy).__name__ == "LiqClusterStrategy"
    assert strategy._ft_stop_uses_after_fill is True
