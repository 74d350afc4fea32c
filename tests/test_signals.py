"""signals.py on small hand-built frames: each condition of the setup, the mirror short, causality."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from conftest import make_candles, needs_shared_data
from strategy_helpers import CASCADE_ROW, SIGNAL_ROW, long_setup, mirror

from liq_indicator import ConfigError, InputError, liquidation_features
from liq_indicator.strategy.signals import (
    STRATEGY_COLUMNS,
    STRATEGY_HEATMAP,
    SignalParams,
    alert_messages,
    atr,
    cascade_intensity,
    entry_signals,
    exit_roi,
    overshoot_quantile,
    setup_frame,
    strategy_features,
    sweep_overshoots,
    trade_levels,
    trade_plan,
)

# norm over 4 candles, cascade window 3, ATR column given directly (atr_14 = 10)
P = SignalParams(norm_window=4, lookback=3)


# --- the setup, condition by condition ------------------------------------------------------


def test_intensity_exact():
    df = long_setup()
    intensity = cascade_intensity(df, "long", norm_window=4, norm_floor=0.005)
    assert math.isnan(intensity.iloc[0]) and math.isnan(intensity.iloc[1])  # under half a window
    assert intensity.iloc[5] == pytest.approx(1.0)
    assert intensity.iloc[CASCADE_ROW] == pytest.approx(50.0)
    # row 7: norm = mean(1000, 1000, 1000, 50000) = 13,250
    assert intensity.iloc[SIGNAL_ROW] == pytest.approx(5_000 / 13_250)


def test_intensity_floor_for_quiet_days():
    df = long_setup()
    df["liq_swept_long_usd"] = 0.0
    df.loc[CASCADE_ROW, "liq_swept_long_usd"] = 50.0
    # the norm is 0: the floor 0.5% of 1,000 USD turnover = 5 makes it 10x, not infinite
    assert cascade_intensity(df, "long", 4, 0.005).iloc[CASCADE_ROW] == pytest.approx(10.0)


def test_long_setup_fires_on_the_exhaustion_candle_only():
    df = long_setup()
    frame = setup_frame(df, False, P)
    assert frame["signal"].tolist() == [False] * 7 + [True]
    assert not frame.loc[CASCADE_ROW, "signal"]  # the cascade candle itself: first touch
    signals = entry_signals(df, P)
    assert signals["enter_long"].tolist() == [0] * 7 + [1]
    assert signals["enter_short"].sum() == 0
    assert signals.loc[SIGNAL_ROW, "enter_tag"] == "liq_long_exhaustion"


def test_levels_exact():
    levels = trade_levels(long_setup(), False, P).iloc[SIGNAL_ROW]
    assert levels["stop"] == 925.0
    assert levels["target"] == 1050.0
    assert levels["stop_pct"] == pytest.approx(50 / 975 * 100)
    assert levels["rr"] == pytest.approx(1.5)


@pytest.mark.parametrize(
    ("changes", "failing"),
    [
        ({"liq_swept_long_usd": 20_000.0}, "exhausted"),  # 40% of the peak: still cascading
        ({"close": 958.0}, "exhausted"),  # 0.8 ATR off the extreme
        ({"liq_long_cluster_dist_pct": 1.0}, "fuel_spent"),  # 1e6 >= the 50,000 peak, 1% below
        ({"liq_long_cluster_far": 900.0}, "worth"),  # stop 895: 8.2% away
        ({"liq_short_cluster_near": 1010.0}, "worth"),  # 35 over 50: 0.7R
        ({"funding_rate": 0.0006}, "context_ok"),  # longs crowded
        ({"oi_value": 1.05e9}, "context_ok"),  # OI up 5% through the cascade
    ],
)
def test_each_condition_blocks(changes, failing):
    frame = setup_frame(long_setup(**changes), False, P)
    assert not frame.loc[SIGNAL_ROW, failing]
    assert not frame.loc[SIGNAL_ROW, "signal"]
    others = [c for c in frame.columns if c not in (failing, "signal")]
    assert frame.loc[SIGNAL_ROW, others].all()


def test_no_cascade_no_signal():
    df = long_setup()
    df.loc[CASCADE_ROW, "liq_swept_long_usd"] = 15_000.0  # 15x < 20x
    frame = setup_frame(df, False, P)
    assert not frame.loc[SIGNAL_ROW, "cascade"] and not frame["signal"].any()


def test_cascade_older_than_lookback_is_ignored():
    df = long_setup()
    assert setup_frame(df, False, P.replace(lookback=1))["signal"].iloc[SIGNAL_ROW]
    df.loc[CASCADE_ROW, "liq_swept_long_usd"] = 1000.0
    df.loc[CASCADE_ROW - 1, "liq_swept_long_usd"] = 50_000.0  # two candles back
    assert not setup_frame(df, False, P.replace(lookback=1))["signal"].iloc[SIGNAL_ROW]


def test_missing_context_passes():
    df = long_setup(funding_rate=np.nan, oi_value=np.nan)
    assert setup_frame(df, False, P).loc[SIGNAL_ROW, "signal"]
    assert setup_frame(df.drop(columns=["funding_rate", "oi_value"]), False, P).loc[
        SIGNAL_ROW, "signal"
    ]


def test_short_mirrors_long():
    df = mirror(long_setup())
    signals = entry_signals(df, P)
    assert signals["enter_short"].tolist() == [0] * 7 + [1]
    assert signals["enter_long"].sum() == 0
    assert signals.loc[SIGNAL_ROW, "enter_tag"] == "liq_short_exhaustion"
    levels = trade_levels(df, True, P).iloc[SIGNAL_ROW]
    assert (
        levels["stop"] == 1075.0
        and levels["target"] == 950.0
        and levels["rr"] == pytest.approx(1.5)
    )
    # and its funding filter mirrors too
    crowded = mirror(long_setup(funding_rate=0.0006))
    assert entry_signals(crowded, P)["enter_short"].sum() == 0


def test_both_sides_at_once_gives_neither():
    df = long_setup()
    short = mirror(long_setup())
    # graft the short cascade onto the long frame's short columns: a whipsaw both ways
    df["liq_swept_short_usd"] = short["liq_swept_short_usd"]
    df["high"] = np.maximum(df["high"], [1005.0] * 6 + [1050.0, 1045.0])
    df.loc[SIGNAL_ROW, "close"] = 1000.0
    df["liq_short_cluster_near"], df["liq_long_cluster_near"] = 1110.0, 890.0
    wide = P.replace(max_stop_pct=8.0)  # both stops are 7.5% away
    long_ok = setup_frame(df, False, wide)["signal"].iloc[SIGNAL_ROW]
    short_ok = setup_frame(df, True, wide)["signal"].iloc[SIGNAL_ROW]
    assert long_ok and short_ok
    signals = entry_signals(df, wide)
    assert signals.loc[SIGNAL_ROW, ["enter_long", "enter_short"]].tolist() == [0, 0]


def test_signals_are_causal_and_inputs_untouched():
    df = long_setup()
    before = df.copy()
    full = entry_signals(df, P)
    pd.testing.assert_frame_equal(df, before)
    for k in range(1, len(df)):
        head = entry_signals(df.iloc[: k + 1], P)
        pd.testing.assert_frame_equal(head, full.iloc[: k + 1])


def test_missing_columns_say_how_to_fix():
    with pytest.raises(InputError, match="strategy_features"):
        setup_frame(long_setup().drop(columns=["atr_14"]), False, P)


def test_params_are_validated():
    with pytest.raises(ConfigError, match="lookback"):
        SignalParams(lookback=0)
    with pytest.raises(ConfigError, match="exhaust_ratio"):
        SignalParams(exhaust_ratio=0.0)
    with pytest.raises(ConfigError, match="cascade_mult"):
        SignalParams(cascade_mult=-1.0)


# --- exits and alerts -----------------------------------------------------------------------


def test_exit_roi():
    assert exit_roi(0.05, 10.0, 5.0, 72) == 0.05
    assert exit_roi(0.05, 355.0, 5.0, 72) == 0.05
    assert exit_roi(0.05, 360.0, 5.0, 72) == -1.0  # 72 candles of 5 minutes: exit at any price
    assert exit_roi(math.nan, 10.0, 5.0, 72) is None  # no target
    assert exit_roi(-0.01, 10.0, 5.0, 72) is None  # a target that is not a profit
    assert exit_roi(math.nan, 60.0, 1.0, 60) == -1.0


def test_trade_plan_is_trade_levels_of_one_row():
    for frame, is_short in ((long_setup(), False), (mirror(long_setup()), True)):
        levels = trade_levels(frame, is_short)
        planned = 0
        for i in range(len(frame)):
            stop, target = trade_plan(frame.iloc[i], is_short)
            if levels["stop_pct"].iloc[i] > 0:
                assert (stop, target) == (levels["stop"].iloc[i], levels["target"].iloc[i])
                planned += 1
            else:  # no stop on the losing side of the close: no plan
                assert math.isnan(stop) and math.isnan(target)
        assert planned >= 1
        # at a given entry price, with a dict as the row
        entry = 1024.0 if is_short else 976.0
        expected = trade_levels(frame.iloc[[SIGNAL_ROW]], is_short, entry=[entry]).iloc[0]
        assert trade_plan(frame.iloc[SIGNAL_ROW].to_dict(), is_short, entry=entry) == (
            expected["stop"],
            expected["target"],
        )
    row = long_setup().iloc[SIGNAL_ROW].to_dict()
    assert all(math.isnan(v) for v in trade_plan(dict(row, atr_14=math.nan), False))  # no ATR


def test_alerts_on_cascade_start_and_cluster_growth():
    df = long_setup().iloc[: CASCADE_ROW + 1].copy()
    df.loc[CASCADE_ROW, "liq_long_cluster_dist_pct"] = 1.5
    df.loc[CASCADE_ROW, "liq_long_cluster_usd"] = 2e6  # doubled within the lookback
    keys = [key for key, _ in alert_messages(df, P)]
    assert keys == ["cascade_long", "cluster_long"]
    assert alert_messages(df.iloc[:CASCADE_ROW], P) == []


# --- features on candles --------------------------------------------------------------------


def test_atr_is_a_simple_mean_of_true_range():
    df = pd.DataFrame(
        {"high": [11.0, 12.0, 15.0], "low": [9.0, 10.0, 12.0], "close": [10.0, 11.0, 14.0]}
    )
    # true ranges: 2, max(2, 2, 0) = 2, max(3, 4, 1) = 4
    assert atr(df, 2).tolist()[1:] == [2.0, 3.0]
    assert math.isnan(atr(df, 2).iloc[0])


def test_strategy_features_columns_and_side_data():
    candles = make_candles(600, oi=False)
    oi = candles[["date"]].assign(open_interest_value=5e9)
    funding = pd.DataFrame({"date": candles["date"].iloc[::96].to_numpy(), "open": 0.0001})
    out = strategy_features(candles, open_interest=oi, funding=funding)
    liq = [c for c in out.columns if c.startswith("liq_")]
    assert sorted(liq) == sorted(STRATEGY_COLUMNS)
    assert out["oi_value"].iloc[-1] == 5e9 and out["funding_rate"].iloc[-1] == 0.0001
    assert out["liq_oi_mode"].iloc[-1] == 1.0
    assert out["atr_14"].notna().sum() == 600 - 13
    bare = strategy_features(candles)
    assert bare["oi_value"].isna().all() and bare["liq_oi_mode"].eq(0).all()
    # same map as the package's features under the strategy's config
    ref = liquidation_features(candles, STRATEGY_HEATMAP)
    pd.testing.assert_series_equal(bare["liq_long_cluster_far"], ref["liq_long_cluster_far"])


def test_strategy_features_accepts_mixed_datetime_units():
    candles = make_candles(300)
    candles["date"] = candles["date"].astype("datetime64[ns, UTC]")
    funding = pd.DataFrame(
        {
            "date": candles["date"].iloc[::96].astype("datetime64[us, UTC]").to_numpy(),
            "open": 0.0002,
        }
    )
    assert strategy_features(candles, funding=funding)["funding_rate"].iloc[-1] == 0.0002


@needs_shared_data
@pytest.mark.realdata
def test_real_history_gives_both_sides_a_few_times_a_day(real_5m):
    part = real_5m.iloc[-60 * 288 :].reset_index(drop=True)  # the last 60 days
    signals = entry_signals(strategy_features(part), SignalParams())
    per_day = signals[["enter_long", "enter_short"]].sum() / 60
    assert (per_day > 0.1).all() and (per_day < 20).all()


def test_strategy_features_reads_bybit_layout_open_interest():
    """Freqtrade's Bybit open-interest candles fill only ``open_interest_amount`` (coins); the
    value column is there but all NaN. The OI filter reads amount x close, as for a frame with
    the amount alone; where a value is given it wins."""
    candles = make_candles(600, oi=False)
    amount = np.linspace(1.0e5, 1.2e5, len(candles))
    bybit = candles[["date"]].assign(open_interest_value=np.nan, open_interest_amount=amount)
    out = strategy_features(candles, open_interest=bybit)
    np.testing.assert_allclose(out["oi_value"], amount * candles["close"], rtol=1e-12)
    amount_only = strategy_features(
        candles, open_interest=bybit.drop(columns="open_interest_value")
    )
    np.testing.assert_array_equal(out["oi_value"], amount_only["oi_value"])
    mixed = bybit.assign(open_interest_value=np.where(np.arange(len(bybit)) < 300, 7e9, np.nan))
    got = strategy_features(candles, open_interest=mixed)["oi_value"].to_numpy()
    assert (got[:300] == 7e9).all()
    np.testing.assert_allclose(got[300:], (amount * candles["close"])[300:], rtol=1e-12)


# --- inputs are never modified (bottleneck's input_modification_test) ------------------------


def test_strategy_features_does_not_modify_its_inputs():
    candles = make_candles(600, oi=False)
    hourly = candles[candles["date"].dt.minute == 0]
    oi = hourly[["date"]].assign(
        open_interest_value=np.nan,
        open_interest_amount=np.linspace(1e5, 2e5, len(hourly)),
        taker_long_short_ratio=1.1,
    )
    funding = pd.DataFrame(
        {
            "date": candles["date"].iloc[::96].astype("datetime64[ns, UTC]").to_numpy(),
            "open": 0.0001,
        }
    )
    with_columns = candles.assign(funding_rate=0.0002, open_interest_value=4e9)
    for frame, side in (
        (candles, {}),
        (candles, {"open_interest": oi, "funding": funding}),
        (with_columns, {"open_interest": oi, "funding": funding}),
    ):
        before = {
            "candles": frame.copy(deep=True),
            **{k: v.copy(deep=True) for k, v in side.items()},
        }
        out = strategy_features(
            frame, open_interest=side.get("open_interest"), funding=side.get("funding")
        )
        assert out is not frame
        pd.testing.assert_frame_equal(frame, before["candles"], check_exact=True)
        for name, value in side.items():
            pd.testing.assert_frame_equal(value, before[name], check_exact=True)
    # the side columns the map read are not left on the output (the candles' own ones are kept)
    out = strategy_features(with_columns, open_interest=oi, funding=funding)
    assert "open_interest_amount" not in out.columns and "taker_long_short_ratio" not in out.columns
    assert (out["open_interest_value"] == 4e9).all() and out["funding_rate"].iloc[-1] == 0.0001


@pytest.mark.parametrize("is_short", [False, True])
def test_setup_frame_does_not_modify_its_input(is_short):
    df = mirror(long_setup()) if is_short else long_setup()
    before = df.copy(deep=True)
    frame = setup_frame(df, is_short, P)
    assert frame["signal"].iloc[SIGNAL_ROW]
    pd.testing.assert_frame_equal(df, before, check_exact=True)
    levels = trade_levels(df, is_short, P)
    assert levels.index.equals(df.index)
    pd.testing.assert_frame_equal(df, before, check_exact=True)


# --- the sweep zone: overshoots past swept far edges, their rolling quantile ---------------------


def _sweep_frame() -> pd.DataFrame:
    """Long edge 95 from row 0 (swept at row 2, low 94 then 93.5: 1.5789% past it, known at row
    3 with horizon 2); short edge 110 from row 4 (swept at row 5, high 111 then 110.5: 0.9091%,
    known at row 6); a second long edge 90 at row 6 that is never reached.
    """
    return pd.DataFrame(
        {
            "low": [99.0, 96.0, 94.0, 93.5, 98.0, 99.0, 100.0, 100.0],
            "high": [101.0, 101.0, 100.0, 99.0, 105.0, 111.0, 110.5, 101.0],
            "liq_long_cluster_far": [95.0, 95.0, np.nan, np.nan, np.nan, np.nan, 90.0, 90.0],
            "liq_short_cluster_far": [np.nan] * 4 + [110.0, np.nan, np.nan, np.nan],
        }
    )


def test_sweep_overshoots_exact_on_a_hand_built_frame():
    df = _sweep_frame()
    long_ = sweep_overshoots(df, False, horizon=2)
    short = sweep_overshoots(df, True, horizon=2)
    expected_long = np.full(8, np.nan)
    expected_long[3] = (95.0 - 93.5) / 95.0 * 100
    expected_short = np.full(8, np.nan)
    expected_short[6] = (111.0 - 110.0) / 110.0 * 100
    np.testing.assert_allclose(long_.to_numpy(), expected_long, rtol=1e-12)
    np.testing.assert_allclose(short.to_numpy(), expected_short, rtol=1e-12)
    # an edge reached only after `reach` candles is not a sweep of that cluster
    assert sweep_overshoots(df, False, reach=1, horizon=2).isna().all()


def test_sweep_overshoots_keep_the_larger_of_two_edges_swept_together():
    df = pd.DataFrame(
        {
            "low": [100.0, 100.0, 90.0, 95.0],
            "high": [101.0] * 4,
            "liq_long_cluster_far": [
                96.0,
                94.0,
                np.nan,
                np.nan,
            ],  # two edges, one candle sweeps both
        }
    )
    got = sweep_overshoots(df, False, horizon=1)
    assert got.iloc[2] == pytest.approx((96.0 - 90.0) / 96.0 * 100)
    assert got.drop(index=2).isna().all()


def test_overshoot_quantile_exact_and_pooled():
    df = pd.DataFrame(
        {
            "overshoot_long_pct": [1.0, np.nan, 3.0, np.nan, 0.5],
            "overshoot_short_pct": [np.nan, 2.0, np.nan, 4.0, np.nan],
        }
    )
    got = overshoot_quantile(df, 0.75, window=3, min_events=2)
    known = [[1.0], [1.0, 2.0], [1.0, 2.0, 3.0], [2.0, 3.0, 4.0], [3.0, 4.0, 0.5]]
    expected = [np.nan] + [np.quantile(k, 0.75) for k in known[1:]]
    np.testing.assert_allclose(got.to_numpy(), expected, rtol=1e-12)
    assert overshoot_quantile(df, 0.0).isna().all()  # 0: off
    with pytest.raises(ConfigError, match="0 <= q < 1"):
        overshoot_quantile(df, 1.0)


def test_sweep_zone_is_causal():
    # the overshoots and their quantile at row t are the same whatever follows t
    rng = np.random.default_rng(5)
    n = 400
    close = 100 * np.exp(np.cumsum(rng.normal(0, 0.004, n)))
    df = pd.DataFrame(
        {
            "low": close * (1 - rng.uniform(0, 0.006, n)),
            "high": close * (1 + rng.uniform(0, 0.006, n)),
            "liq_long_cluster_far": np.repeat(close[::20] * 0.99, 20),
            "liq_short_cluster_far": np.repeat(close[::25] * 1.01, 25),
        }
    )
    for side in (False, True):
        df[sweep_overshoots(df, side).name] = sweep_overshoots(df, side)
    assert df["overshoot_long_pct"].notna().sum() >= 3
    full = overshoot_quantile(df, 0.9, window=100, min_events=2)
    for cut in (150, 260, 333):
        head = df.iloc[:cut].drop(columns=["overshoot_long_pct", "overshoot_short_pct"])
        for side in (False, True):
            part = sweep_overshoots(head, side)
            np.testing.assert_array_equal(part.to_numpy(), df[part.name].iloc[:cut].to_numpy())
            head[part.name] = part
        np.testing.assert_array_equal(
            overshoot_quantile(head, 0.9, window=100, min_events=2).to_numpy(),
            full.iloc[:cut].to_numpy(),
        )


def test_stop_clears_the_sweep_zone_floored_by_atr():
    df = long_setup()
    zone = pd.Series(np.nan, index=df.index)
    zone.iloc[SIGNAL_ROW] = 3.0  # 3% of the far edge
    with_zone = df.assign(sweep_zone_pct=zone)
    far = df["liq_long_cluster_far"].iloc[SIGNAL_ROW]
    stop = trade_levels(with_zone, False, P)["stop"].iloc[SIGNAL_ROW]
    assert stop == pytest.approx(far * 0.97)
    # a zone inside the ATR floor leaves the floor: 0.5 ATR
    zone.iloc[SIGNAL_ROW] = 0.01
    floor = trade_levels(df.assign(sweep_zone_pct=zone), False, P)["stop"].iloc[SIGNAL_ROW]
    assert floor == pytest.approx(far - 0.5 * df["atr_14"].iloc[SIGNAL_ROW])
    # the one-row plan reads the same zone from the signal candle
    row = with_zone.assign(sweep_zone_pct=3.0).iloc[SIGNAL_ROW]
    assert trade_plan(row, False, P)[0] == pytest.approx(far * 0.97)
    assert trade_plan(row, False, SignalParams(stop_overshoot_q=0.0))[0] == pytest.approx(floor)


def test_plan_stop_moves_out_of_a_dense_zone_beyond_the_cluster():
    row = long_setup().iloc[SIGNAL_ROW]
    stop, _ = trade_plan(row, False, P)
    zone = (stop - 5.0, stop + 1.0)
    moved, _ = trade_plan(row, False, P, avoid=[zone])
    assert moved == pytest.approx(zone[0] * (1 - P.stop_min_buffer_pct / 100))
    assert moved < zone[0]


def test_entry_signals_carry_the_sweep_zone_and_it_filters_setups():
    df = long_setup()
    entries = entry_signals(df, P)
    assert "sweep_zone_pct" in entries.columns
    assert entries["sweep_zone_pct"].isna().all()  # the hand-built frame has no overshoot columns


@needs_shared_data
def test_overshoots_on_real_history_are_past_the_old_buffer():
    from liq_indicator.io.shared import shared_data_dir

    path = shared_data_dir() / "history" / "binance" / "futures"
    candles = pd.read_feather(path / "BTC_USDT_USDT-5m-futures.feather").iloc[-20_000:]
    frame = strategy_features(candles.reset_index(drop=True))
    events = np.r_[frame["overshoot_long_pct"].dropna(), frame["overshoot_short_pct"].dropna()]
    assert len(events) >= 100
    old_buffer_pct = 0.5 * frame["atr_14"] / frame["close"] * 100
    # the finding: the old 0.5 ATR buffer lies inside a typical sweep's overshoot
    assert np.median(events) > np.nanmedian(old_buffer_pct)
    zone = overshoot_quantile(frame, 0.9)
    assert zone.iloc[5000:].notna().mean() > 0.5
    assert (zone.dropna() >= 0).all()


def test_signals_mean_the_same_on_a_doge_sized_market():
    """Every threshold is relative to the pair (its own swept norm, traded notional, cascade
    peak, ATR, % of price): the same market at DOGE's price and volume gives the same signals.
    """
    from strategy_helpers import long_setup

    from liq_indicator.strategy.signals import alert_messages, entry_signals

    btc = long_setup()
    price_k, size_k = 0.15 / 1000.0, 1e-3  # price ~1000 -> 0.15, notional a thousandth
    doge = btc.copy()
    for c in doge.columns:
        if (
            c in ("open", "high", "low", "close")
            or (c.startswith(("liq_", "atr_")) and c.endswith(("_price", "_near", "_far")))
            or c.startswith("atr_")
        ):
            doge[c] = btc[c] * price_k
        elif c.endswith("_usd") or c == "oi_value":
            doge[c] = btc[c] * size_k
        elif c == "volume":
            doge[c] = btc[c] * size_k / price_k  # coins: notional / price
    params = P
    a, b = entry_signals(btc, params), entry_signals(doge, params)
    assert a["enter_long"].sum() >= 1
    pd.testing.assert_frame_equal(
        a[["enter_long", "enter_short", "enter_tag"]], b[["enter_long", "enter_short", "enter_tag"]]
    )
    assert [k for k, _ in alert_messages(btc, params)] == [
        k for k, _ in alert_messages(doge, params)
    ]
