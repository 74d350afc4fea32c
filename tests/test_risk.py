"""risk.py: exact stops, targets, own liquidation (against Freqtrade's own code), leverage, stake."""

from __future__ import annotations

import math
from types import SimpleNamespace

import numpy as np
import pytest

from liq_indicator import ConfigError, InputError, liquidation_price
from liq_indicator.risk import (
    FREQTRADE_LIQUIDATION_BUFFER,
    breakeven_stop,
    choose_leverage,
    dense_zones,
    own_liquidation_price,
    planned_notional,
    reward_risk,
    stake_for_risk,
    stop_beyond_cluster,
    stop_distance,
    stop_outside_zones,
    target_price,
    tighten_stop,
)

# --- stop beyond the cluster -----------------------------------------------------------------


def test_long_stop_is_half_an_atr_below_the_far_edge():
    # far edge 95, ATR 1: buffer max(0.5 * 1, 0.1% of 95 = 0.095) = 0.5
    assert stop_beyond_cluster(100.0, False, 95.0, 1.0) == 94.5


def test_short_stop_is_above_the_far_edge():
    # far edge 105, ATR 2: buffer max(1.0, 0.105) = 1.0
    assert stop_beyond_cluster(100.0, True, 105.0, 2.0) == 106.0


def test_minimum_buffer_keeps_the_stop_outside_when_atr_is_tiny():
    # ATR 0.01: buffer max(0.005, 0.1% of 95 = 0.095) = 0.095
    assert stop_beyond_cluster(100.0, False, 95.0, 0.01) == pytest.approx(94.905, abs=1e-12)
    # even with no ATR buffer at all the stop is strictly beyond the edge
    assert stop_beyond_cluster(100.0, True, 105.0, 1.0, buffer_atr=0.0) == pytest.approx(105.105)


@pytest.mark.parametrize("far", [math.nan, 101.0, 100.0, -5.0])
def test_no_usable_cluster_falls_back_to_atr(far):
    # NaN, or an edge not below price for a long: 3 ATR below price
    assert stop_beyond_cluster(100.0, False, far, 2.0) == 94.0


def test_short_fallback_and_arrays():
    stops = stop_beyond_cluster(
        np.array([100.0, 100.0]), True, np.array([np.nan, 103.0]), np.array([1.0, 1.0])
    )
    np.testing.assert_allclose(stops, [103.0, 103.5])


def test_stop_is_nan_without_atr():
    assert math.isnan(stop_beyond_cluster(100.0, False, 95.0, math.nan))


def test_stop_never_inside_the_cluster_on_random_inputs():
    rng = np.random.default_rng(7)
    price = rng.uniform(10, 1e5, 1000)
    far = price * rng.uniform(0.85, 0.999, 1000)
    vol = price * rng.uniform(0, 0.01, 1000)
    stops = stop_beyond_cluster(price, False, far, vol, buffer_atr=rng.uniform(0, 2))
    assert (stops < far).all()
    far_s = price * rng.uniform(1.001, 1.15, 1000)
    assert (stop_beyond_cluster(price, True, far_s, vol) > far_s).all()


def test_bad_stop_settings_raise():
    with pytest.raises(ConfigError, match="min_buffer_pct"):
        stop_beyond_cluster(100.0, False, 95.0, 1.0, min_buffer_pct=0.0)
    with pytest.raises(ConfigError, match="fallback_atr"):
        stop_beyond_cluster(100.0, False, 95.0, 1.0, fallback_atr=0.0)


# --- targets, distances ----------------------------------------------------------------------


def test_target_at_the_opposite_cluster_or_fallback_multiple():
    assert target_price(100.0, 95.0, False, 108.0) == 108.0
    assert target_price(100.0, 95.0, False, math.nan) == 110.0  # 2R
    assert target_price(100.0, 95.0, False, 99.0) == 110.0  # a "target" below a long's entry
    assert target_price(100.0, 104.0, True, 90.0) == 90.0
    assert target_price(100.0, 104.0, True, math.nan, fallback_rr=1.5) == 94.0


def test_distances_and_reward_risk():
    assert stop_distance(100.0, 98.0, False) == pytest.approx(0.02)
    assert stop_distance(100.0, 103.0, True) == pytest.approx(0.03)
    assert stop_distance(100.0, 101.0, False) < 0
    assert reward_risk(100.0, 95.0, 110.0, False) == pytest.approx(2.0)
    assert reward_risk(100.0, 104.0, 94.0, True) == pytest.approx(1.5)
    assert math.isnan(reward_risk(100.0, 101.0, 110.0, False))


# --- own liquidation: the exchange formula plus Freqtrade's buffer ----------------------------


def test_own_liquidation_price_exact():
    # 1 BTC 10x long at 67,000: LP 60,542.1686747; buffer 5% of (67,000 - LP) = 322.8915663
    assert own_liquidation_price(67_000, 10, False, 67_000) == pytest.approx(
        60_865.0602410, abs=1e-6
    )
    # short: LP = 73,700 / 1.004 = 73,406.3745020; buffer 5% of (LP - 67,000) = 320.3187251
    assert own_liquidation_price(67_000, 10, True, 67_000) == pytest.approx(
        73_086.0557769, abs=1e-6
    )
    # no buffer: the exchange's price
    assert own_liquidation_price(
        67_000, 10, False, 67_000, liquidation_buffer=0.0
    ) == pytest.approx(liquidation_price(67_000, 10, False, 67_000))


@pytest.mark.parametrize(
    ("lev", "is_short", "buffer"), [(10, False, 0.05), (3, True, 0.05), (25, False, 0.1)]
)
def test_own_liquidation_matches_freqtrade(lev, is_short, buffer):
    pytest.importorskip("freqtrade")
    from freqtrade.enums import MarginMode, TradingMode
    from freqtrade.exchange import Binance, Exchange

    entry, amount = 67_000.0, 0.5
    stake = amount * entry / lev
    fake = SimpleNamespace(
        trading_mode=TradingMode.FUTURES,
        margin_mode=MarginMode.ISOLATED,
        _config={"dry_run": True, "runmode": "backtest"},
        liquidation_buffer=buffer,
        # Binance BTCUSDT bracket 1 (0-300k USDT): MMR 0.4 %, maintenance amount 0
        get_maintenance_ratio_and_amt=lambda pair, value: (0.004, 0.0),
    )
    fake.dry_run_liquidation_price = lambda **kw: Binance.dry_run_liquidation_price(fake, **kw)
    theirs = Exchange.get_liquidation_price(
        fake,
        "BTC/USDT:USDT",
        open_rate=entry,
        is_short=is_short,
        amount=amount,
        stake_amount=stake,
        leverage=lev,
        wallet_balance=stake,
        open_trades=[],
    )
    ours = own_liquidation_price(entry, lev, is_short, amount * entry, liquidation_buffer=buffer)
    assert ours == pytest.approx(theirs, rel=1e-12)


def test_bad_liquidation_buffer_raises():
    with pytest.raises(ConfigError, match="liquidation_buffer"):
        own_liquidation_price(100.0, 5, False, 1000.0, liquidation_buffer=1.0)


# --- leverage --------------------------------------------------------------------------------


def _liq_dist(lev: float, is_short: bool) -> float:
    """Buffered liquidation distance (fraction of entry) in bracket 1 (MMR 0.4 %, cum 0)."""
    ratio = (1 / lev + 1) / 1.004 if is_short else (1 / lev - 1) / (0.004 - 1)
    return abs(ratio - 1) * 0.95


def test_leverage_for_a_3pct_stop():
    # needs a buffered liquidation >= 1.5 x 3% = 4.5% away: 20x gives 4.388%, 19x 4.639%
    assert _liq_dist(20, False) < 0.045 <= _liq_dist(19, False)
    assert choose_leverage(100.0, 97.0, False, max_leverage=20, notional=5_000) == 19.0
    assert _liq_dist(20, True) < 0.045 <= _liq_dist(19, True)
    assert choose_leverage(100.0, 103.0, True, max_leverage=25, notional=5_000) == 19.0


def test_leverage_for_a_10pct_stop_and_the_cap():
    # 15% needed: 7x gives 13.24%, 6x 15.51%
    assert _liq_dist(7, False) < 0.15 <= _liq_dist(6, False)
    assert choose_leverage(100.0, 90.0, False, max_leverage=20, notional=5_000) == 6.0
    assert choose_leverage(100.0, 99.0, False, max_leverage=5, notional=5_000) == 5.0
    assert choose_leverage(100.0, 99.0, False, max_leverage=5.9, notional=5_000) == 5.0


def test_leverage_avoids_cluster_zones():
    # 19x liquidates (buffered) at 95.36, 18x at 95.08, 17x at 94.77
    assert 100 * (1 - _liq_dist(19, False)) == pytest.approx(95.36145, abs=1e-5)
    assert 100 * (1 - _liq_dist(18, False)) == pytest.approx(95.08255, abs=1e-5)
    assert 100 * (1 - _liq_dist(17, False)) == pytest.approx(94.77085, abs=1e-5)
    lev = choose_leverage(100.0, 97.0, False, max_leverage=20, notional=5_000, avoid=[(95.0, 95.5)])
    assert lev == 17.0
    liq = own_liquidation_price(100.0, lev, False, 5_000)
    assert not 95.0 <= liq <= 95.5 and 100 - liq >= 1.5 * 3.0


def test_leverage_falls_to_one_when_nothing_qualifies():
    # a 70% stop: even 1x (liquidation near 0 for a long) is fine, a short at 1x liquidates at +99%
    assert choose_leverage(100.0, 30.0, False, max_leverage=10, notional=1_000) == 1.0
    assert choose_leverage(100.0, 170.0, True, max_leverage=10, notional=1_000) == 1.0


def test_leverage_bad_input_raises():
    with pytest.raises(InputError, match="losing side"):
        choose_leverage(100.0, 101.0, False, max_leverage=10, notional=1_000)
    with pytest.raises(ConfigError, match="max_leverage"):
        choose_leverage(100.0, 99.0, False, max_leverage=0.5, notional=1_000)
    with pytest.raises(ConfigError, match="safety"):
        choose_leverage(100.0, 99.0, False, max_leverage=5, notional=1_000, safety=0.9)


# --- stake -----------------------------------------------------------------------------------


def test_stake_risks_the_fraction():
    # 1% of 10,000 = 100 USDT over a 2% stop: 5,000 notional, 1,000 margin at 5x
    assert stake_for_risk(10_000, 0.01, 100.0, 98.0, 5, False) == pytest.approx(1_000.0)
    # fees: 2 x 0.05% added to the 2% distance -> 100 / 0.021 / 5
    assert stake_for_risk(10_000, 0.01, 100.0, 98.0, 5, False, fee=0.0005) == pytest.approx(
        952.3809524
    )
    # short, 0.5% risk, 4% stop at 10x: 50 / 0.04 / 10
    assert stake_for_risk(10_000, 0.005, 100.0, 104.0, 10, True) == pytest.approx(125.0)


def test_planned_notional_is_the_stake_times_leverage():
    # 1% of 10,000 = 100 USDT over a 2% stop: 5,000 notional; fees widen the distance to 2.1%
    assert planned_notional(10_000, 0.01, 100.0, 98.0, False) == pytest.approx(5_000.0)
    assert planned_notional(10_000, 0.01, 100.0, 98.0, False, fee=0.0005) == pytest.approx(
        100 / 0.021
    )
    assert planned_notional(10_000, 0.005, 100.0, 104.0, True) == pytest.approx(1_250.0)
    for lev in (1.0, 5.0, 10.0):
        assert stake_for_risk(
            10_000, 0.01, 100.0, 98.0, lev, False, fee=0.0005
        ) * lev == pytest.approx(planned_notional(10_000, 0.01, 100.0, 98.0, False, fee=0.0005))
    with pytest.raises(InputError, match="losing side"):
        planned_notional(10_000, 0.01, 100.0, 101.0, False)
    with pytest.raises(InputError, match="wallet"):
        planned_notional(0.0, 0.01, 100.0, 98.0, False)


def test_liquidation_buffer_default_is_freqtrades():
    """The one literal (risk.FREQTRADE_LIQUIDATION_BUFFER) is Freqtrade's own default, as its config
    schema declares it (Freqtrade fills it into every config it loads)."""
    schema = pytest.importorskip("freqtrade.config_schema.config_schema")
    assert (
        FREQTRADE_LIQUIDATION_BUFFER
        == schema.CONF_SCHEMA["properties"]["liquidation_buffer"]["default"]
    )


def test_stake_is_clamped():
    assert stake_for_risk(10_000, 0.01, 100.0, 98.0, 5, False, min_stake=2_000) == 2_000.0
    assert stake_for_risk(10_000, 0.01, 100.0, 98.0, 5, False, max_stake=500.0) == 500.0


def test_stake_bad_input_raises():
    with pytest.raises(InputError, match="losing side"):
        stake_for_risk(10_000, 0.01, 100.0, 101.0, 5, False)
    with pytest.raises(ConfigError, match="risk_fraction"):
        stake_for_risk(10_000, 1.5, 100.0, 98.0, 5, False)
    with pytest.raises(InputError, match="leverage"):
        stake_for_risk(10_000, 0.01, 100.0, 98.0, 0.5, False)


# --- tightening ------------------------------------------------------------------------------


def test_tighten_only_tightens():
    assert tighten_stop(95.0, 97.0, False) == 97.0
    assert tighten_stop(95.0, 93.0, False) == 95.0
    assert tighten_stop(105.0, 103.0, True) == 103.0
    assert tighten_stop(105.0, 107.0, True) == 105.0
    assert tighten_stop(95.0, math.nan, False) == 95.0
    assert tighten_stop(None, 95.0, False) == 95.0


def test_breakeven_after_one_r():
    assert breakeven_stop(100.0, 95.0, 104.9, False) == 95.0
    assert breakeven_stop(100.0, 95.0, 105.0, False) == 100.0
    assert breakeven_stop(100.0, 95.0, 110.0, False, trigger_r=2.0, lock_r=0.5) == 102.5
    assert breakeven_stop(100.0, 104.0, 96.0, True) == 100.0
    assert breakeven_stop(100.0, 104.0, 97.0, True) == 104.0
    assert breakeven_stop(100.0, 95.0, 200.0, False, trigger_r=0.0) == 95.0  # disabled
    # an already tighter stop is never loosened
    assert breakeven_stop(100.0, 101.0, 110.0, False) == 101.0


# --- dense zones -----------------------------------------------------------------------------


def test_dense_zones_exact():
    prices = np.arange(1.0, 11.0)
    profile = np.r_[0, 0, 0, 9, 9, 0, 0, 0, 0, 0.0]  # mean 1.8: bins >= 3.6 are dense
    assert dense_zones(prices, profile, smooth_bins=1) == [(4.0, 5.0)]
    two = np.r_[5, 0, 0, 0, 0, 0, 0, 0, 6, 6.0]  # mean 1.7
    assert dense_zones(prices, two, smooth_bins=1) == [(1.0, 1.0), (9.0, 10.0)]
    assert dense_zones(prices, np.zeros(10)) == []
    assert dense_zones(prices, np.ones(10)) == []  # flat: nothing is twice the mean


def test_dense_zones_bad_input():
    with pytest.raises(InputError, match="1-d"):
        dense_zones(np.arange(3.0), np.arange(4.0))
    with pytest.raises(ConfigError, match="odd"):
        dense_zones(np.arange(3.0), np.arange(3.0), smooth_bins=2)


# --- the sweep zone and the zones beyond the nearest cluster ------------------------------------


def test_stop_clears_the_overshoot_band_floored_by_atr():
    # band 2% of the edge 95 (1.9) beats 0.5 ATR (0.5): stop 93.1; a band inside the floor: 94.5
    assert stop_beyond_cluster(100.0, False, 95.0, 1.0, overshoot_pct=2.0) == pytest.approx(93.1)
    assert stop_beyond_cluster(100.0, False, 95.0, 1.0, overshoot_pct=0.1) == pytest.approx(94.5)
    assert stop_beyond_cluster(100.0, True, 105.0, 1.0, overshoot_pct=2.0) == pytest.approx(107.1)
    # unknown band (NaN): the floors alone; arrays mix both
    got = stop_beyond_cluster(
        np.array([100.0, 100.0]),
        False,
        np.array([95.0, 95.0]),
        np.array([1.0, 1.0]),
        overshoot_pct=np.array([np.nan, 4.0]),
    )
    np.testing.assert_allclose(got, [94.5, 95.0 * 0.96])
    # the ATR fallback (no cluster) ignores the band
    assert stop_beyond_cluster(100.0, False, np.nan, 1.0, overshoot_pct=2.0) == pytest.approx(97.0)
    with pytest.raises(InputError, match="overshoot_pct"):
        stop_beyond_cluster(100.0, False, 95.0, 1.0, overshoot_pct=-1.0)


def test_stop_moves_past_every_zone_it_lands_in():
    zones = [(93.0, 95.0), (91.5, 92.5), (80.0, 81.0)]
    assert stop_outside_zones(94.5, False, zones, buffer_pct=1.0) == pytest.approx(90.585)
    assert stop_outside_zones(96.0, False, zones) == 96.0  # outside: unchanged
    assert stop_outside_zones(106.0, True, [(105.0, 107.0)], buffer_pct=1.0) == pytest.approx(
        108.07
    )
    assert math.isnan(stop_outside_zones(math.nan, False, zones))
    with pytest.raises(ConfigError, match="buffer_pct"):
        stop_outside_zones(94.5, False, zones, buffer_pct=0.0)
