"""The estimator: exact small cases, causality, batch == live, conservation, the slow twin, bad input."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from conftest import make_candles, needs_shared_data

from liq_indicator import (
    ConfigError,
    DataWarning,
    HeatmapConfig,
    InputError,
    LiquidationEstimator,
    MapCursor,
    Venue,
    liquidation_features,
    liquidation_heatmap,
    liquidation_map,
    liquidation_price,
)
from liq_indicator.columns import feature_columns
from liq_indicator.core import reference
from liq_indicator.core.grid import bin_center, bin_lower, bin_upper, bin_width
from liq_indicator.core.inputs import prepare
from liq_indicator.core.model import kernel_params, new_state, no_heat

ONE_TIER = HeatmapConfig.preset(
    "design",
    leverages=(10.0,),
    weights=(1.0,),
    half_life_hours=(1.0,),
    volume_share=1.0,
    entry_price="close",
    bands_pct=(5.0, 10.0),
    growth_band_pct=10.0,
    growth_candles=1,
)


def frame(rows, start="2024-01-01", step="1min", **extra):
    """Candles from (open, high, low, close, volume) tuples."""
    df = pd.DataFrame(rows, columns=["open", "high", "low", "close", "volume"], dtype=float)
    df.insert(0, "date", pd.date_range(start, periods=len(rows), freq=step, tz="UTC"))
    for k, v in extra.items():
        df[k] = v
    return df


# --- the liquidation-price formula ----------------------------------------------------------


def test_binance_formula_matches_the_issue_check():
    # 1 BTC 10x long at 67,000: (6,700 + 0 - 67,000) / (0.004 - 1) = 60,542.17
    assert liquidation_price(67_000, 10, False, 67_000) == pytest.approx(60_542.1686747, abs=1e-6)


def test_binance_short_and_higher_bracket():
    # short: (6,700 + 0 + 67,000) / (0.004 + 1)
    assert liquidation_price(67_000, 10, True, 67_000) == pytest.approx(73_700 / 1.004, rel=1e-12)
    # 10 BTC at 67,000 = 670k notional: bracket 2 (MMR 0.5%, cum 300)
    q, ep = 10.0, 67_000.0
    expected = (q * ep / 10 + 300 - q * ep) / (q * 0.005 - q)
    assert liquidation_price(ep, 10, False, q * ep) == pytest.approx(expected, rel=1e-12)


def test_bybit_formula():
    # Bybit tier 1 MMR 0.5%: LP = EP - (IM - MM) / Q = 67,000 - (6,700 - 335)
    assert liquidation_price(67_000, 10, False, 67_000, exchange="bybit") == pytest.approx(60_635.0)


def test_unknown_exchange_is_a_config_error():
    with pytest.raises(ConfigError, match="choose one of"):
        liquidation_price(100, 10, False, exchange="kraken")


# --- exact small cases ----------------------------------------------------------------------


def _level_bin(price, lev, short, cfg=ONE_TIER):
    lp = liquidation_price(price, lev, short, cfg.position_notional)
    return int(math.floor(math.log(lp) / bin_width(cfg.bin_bp)))


def test_one_candle_places_both_sides_at_the_formula_bins():
    out = liquidation_features(frame([(100, 100, 100, 100, 10)]), ONE_TIER).iloc[0]
    assert out.liq_inflow_usd == 1000.0  # volume 10 x price 100 x share 1
    assert out.liq_pending_long_usd == 500.0 and out.liq_pending_short_usd == 500.0
    k_long = _level_bin(100, 10, False)
    assert out.liq_long_cluster_price == pytest.approx(bin_center(k_long, 10), rel=1e-12)
    assert out.liq_long_cluster_near == pytest.approx(bin_upper(k_long, 10), rel=1e-12)
    assert out.liq_long_cluster_far == pytest.approx(bin_lower(k_long, 10), rel=1e-12)
    assert out.liq_long_cluster_usd == 500.0
    assert out.liq_long_cluster_dist_pct == pytest.approx(100 - bin_center(k_long, 10), rel=1e-12)
    k_short = _level_bin(100, 10, True)
    assert out.liq_short_cluster_near == pytest.approx(bin_lower(k_short, 10), rel=1e-12)
    # 10x long liquidates 9.64% below: inside the 10% band, outside the 5% band; short at +9.56%
    assert (out.liq_long_10pct_usd, out.liq_long_5pct_usd) == (500.0, 0.0)
    assert (out.liq_short_10pct_usd, out.liq_short_5pct_usd) == (500.0, 0.0)
    assert out.liq_imbalance_10pct == 0.0
    assert math.isnan(out.liq_growth_10pct_1)


def test_sweep_takes_the_level_when_the_low_reaches_it():
    df = frame([(100, 100, 100, 100, 10), (100, 100, 90, 95, 0)])
    out = liquidation_features(df, ONE_TIER).iloc[1]
    f = 2 ** (-1 / 60)  # one minute of a one-hour half-life
    assert out.liq_swept_long_usd == pytest.approx(500 * f, rel=1e-12)
    assert out.liq_swept_short_usd == 0.0
    assert out.liq_pending_long_usd == 0.0
    assert out.liq_pending_short_usd == pytest.approx(500 * f, rel=1e-12)


def test_new_positions_open_after_the_sweep_within_a_candle():
    # the 100x long of a candle opening at 100 sits 0.6% lower, inside this candle's own range:
    # it is not swept by the candle that created it, only by the next one reaching it
    cfg = ONE_TIER.replace(leverages=(100.0,))
    df = frame([(100, 100, 95, 100, 10), (100, 100, 99.6, 100, 0), (100, 100, 95, 97, 0)])
    out = liquidation_features(df, cfg)
    assert out.liq_swept_long_usd.tolist()[:2] == [0.0, 0.0]
    assert out.liq_swept_long_usd.iloc[2] > 0


def _one_candle_map(cfg, row):
    df = frame([row])
    m = liquidation_map(df, cfg, price_range_pct=80)
    return m, liquidation_features(df, cfg).iloc[0]


def test_a_leverage_band_spreads_evenly_over_its_liquidation_prices():
    # one band 5x..20x, one entry price: the longs lie between the 5x and the 20x liquidation prices,
    # evenly in log price (each full bin holds the same), and sum to the long inflow
    cfg = ONE_TIER.replace(leverage_edges=(5.0, 20.0), leverages=(10.0,))
    m, out = _one_candle_map(cfg, (100, 100, 100, 100, 10))
    far, near = (liquidation_price(100, lev, False, cfg.position_notional) for lev in (5, 20))
    held = m.long > 0
    assert m.long.sum() == pytest.approx(500.0, rel=1e-12) == out.liq_pending_long_usd
    assert m.bin_edges[:-1][held].min() <= far < m.bin_edges[1:][held].min()
    assert m.bin_edges[:-1][held].max() <= near < m.bin_edges[1:][held].max()
    inner = m.long[held][1:-1]
    assert len(inner) > 50 and np.allclose(inner, inner[0], rtol=1e-9)
    assert m.long[held][0] <= inner[0] and m.long[held][-1] <= inner[0]


def test_range_entries_spread_the_levels_over_the_candle_range():
    cfg = ONE_TIER.replace(entry_price="range")
    m, out = _one_candle_map(cfg, (100, 110, 90, 100, 10))
    lo, hi = (liquidation_price(p, 10, False, cfg.position_notional) for p in (90, 110))
    held = m.long > 0
    assert m.bin_edges[:-1][held].min() <= lo < m.bin_edges[1:][held].min()
    assert m.bin_edges[:-1][held].max() <= hi < m.bin_edges[1:][held].max()
    # the USD of the volume is valued at hlc3, as in the other entry modes
    assert out.liq_inflow_usd == pytest.approx(10 * 100.0, rel=1e-12)


@pytest.mark.parametrize("share", [0.0, 0.5, 1.0])
def test_a_share_of_a_candles_own_positions_liquidates_within_it(share):
    # 100x longs opened evenly over 95..105 liquidate 0.6% below their entry; those whose level
    # lies at or above the candle's low (95) are swept by it: share x that part, at once
    cfg = ONE_TIER.replace(leverages=(100.0,), entry_price="range", intracandle_sweep=share)
    m, out = _one_candle_map(cfg, (100, 105, 95, 100, 10))
    ratio = liquidation_price(100, 100, False, cfg.position_notional) / 100
    beyond = (math.log(105) - math.log(95 / ratio)) / (math.log(105) - math.log(95))
    bin_share = bin_width(cfg.bin_bp) / (math.log(105) - math.log(95))  # rounding to bin centres
    assert out.liq_swept_long_usd == pytest.approx(
        share * 500 * beyond, abs=share * 500 * bin_share
    )
    assert out.liq_pending_long_usd + out.liq_swept_long_usd == pytest.approx(500.0, rel=1e-12)
    if share == 0.0:
        assert out.liq_swept_long_usd == 0.0


def test_the_path_shares_follow_the_legs_of_the_candle():
    from liq_indicator.core.inputs import intracandle_shares

    # up: open 100 -> low 96 -> high 110 -> close 108: legs 4, 14, 2 of 20
    # down: open 100 -> high 103 -> low 90 -> close 95: legs 3, 13, 5 of 21; flat: nothing
    o, h, lo, c = (
        np.array(v, dtype=float) for v in ([100, 100, 5], [110, 103, 5], [96, 90, 5], [108, 95, 5])
    )
    before_low, before_high = intracandle_shares(o, h, lo, c)
    np.testing.assert_allclose(before_low, [4 / 20, 16 / 21, 0.0])
    np.testing.assert_allclose(before_high, [18 / 20, 3 / 21, 0.0])
    # in the map: a down candle's own longs beyond its low go at the path share, not 0.5
    cfg = ONE_TIER.replace(leverages=(100.0,), entry_price="range", intracandle_path=True)
    share = liquidation_features(frame([(100, 105, 95, 96, 10)]), cfg).iloc[0].liq_swept_long_usd
    half = (
        liquidation_features(
            frame([(100, 105, 95, 96, 10)]),
            cfg.replace(intracandle_path=False, intracandle_sweep=0.5),
        )
        .iloc[0]
        .liq_swept_long_usd
    )
    path_low = (5 + 10) / (5 + 10 + 1)
    assert share == pytest.approx(half * path_low / 0.5, rel=1e-9)


def test_turnover_opens_and_closes_while_open_interest_stays_flat():
    cfg = ONE_TIER.replace(turnover_share=0.5, half_life_hours=(1e6,))
    rows = [(100, 100, 100, 100, 10)] * 3
    oi = [1000.0, 1000.0, 1000.0]
    out = liquidation_features(frame(rows, open_interest_value=oi), cfg)
    # candle 0: volume rule (no previous OI); then 0.5 x 1000 USD traded opens, as much closes
    assert out.liq_inflow_usd.tolist()[1:] == [500.0, 500.0]
    # 500 closed out of ~1000 pending (a 1e6-hour half-life ages it a hair)
    assert out.liq_closed_usd.iloc[1] == pytest.approx(500.0, rel=1e-6)
    assert out.liq_pending_long_usd.iloc[2] + out.liq_pending_short_usd.iloc[2] == pytest.approx(
        1000.0, rel=1e-6
    )


def test_oi_scale_scales_every_flow_of_the_open_interest_mode():
    rows = [(100, 101, 99, 100, 10), (100, 102, 97, 98, 10), (98, 99, 95, 96, 10)] * 20
    oi = np.linspace(5e4, 8e4, len(rows))
    df = frame(rows, step="5min", open_interest_value=oi)
    cfg = HeatmapConfig(turnover_share=0.01, oi_scale=0.2)
    a = liquidation_features(df, cfg)
    # the first candle has no previous OI (volume rule): scale volume_share with the rest
    triple = dict(turnover_share=0.03, oi_scale=0.6, volume_share=3 * cfg.volume_share)
    b = liquidation_features(df, cfg.replace(**triple))
    for col in ("liq_swept_long_usd", "liq_swept_short_usd", "liq_pending_long_usd"):
        np.testing.assert_allclose(b[col], 3 * a[col], rtol=1e-9, atol=1e-9)


@pytest.mark.parametrize("with_oi", [False, True], ids=["volume", "open_interest"])
def test_venue_share_divides_every_usd_figure_and_changes_nothing_else(with_oi):
    rows = [(100, 101, 99, 100, 10), (100, 102, 97, 98, 10), (98, 99, 95, 96, 10)] * 20
    extra = {"open_interest_value": np.linspace(5e4, 8e4, len(rows))} if with_oi else {}
    df = frame(rows, step="5min", **extra)
    cfg = HeatmapConfig(turnover_share=0.01, oi_scale=0.2)
    a = liquidation_features(df, cfg)
    b = liquidation_features(df, cfg.replace(venue_share=0.25))
    usd = [c for c in a.columns if c.endswith("_usd")]
    assert {"liq_swept_long_usd", "liq_pending_short_usd", "liq_inflow_usd"} <= set(usd)
    pd.testing.assert_frame_equal(b[list(df.columns)], a[list(df.columns)])
    for col in a.columns.difference(df.columns):
        if col in usd:
            np.testing.assert_allclose(b[col], 4 * a[col], rtol=1e-9, atol=1e-9, err_msg=col)
        else:  # distances, ratios, flags: the scope changes the USD only
            np.testing.assert_allclose(b[col], a[col], rtol=1e-9, atol=1e-12, err_msg=col)
    with pytest.raises(ConfigError, match="venue_share"):
        HeatmapConfig(venue_share=1.5)
    with pytest.raises(ConfigError, match="venue_share"):
        HeatmapConfig(venue_share=0.0)


def test_a_long_share_column_sets_the_split_and_bad_rows_keep_half():
    rows = [(100, 100, 100, 100, 10)] * 3
    out = liquidation_features(
        frame(rows, long_share=[0.8, np.nan, 1.7], taker_buy_volume=[1.0, 1.0, 1.0]), ONE_TIER
    )
    # 0.8 beats the taker split (which would say 0.1); NaN and 1.7 rows are ignored: 0.5
    inflow = out.liq_inflow_usd.to_numpy()
    assert out.liq_pending_long_usd.iloc[0] == pytest.approx(0.8 * inflow[0], rel=1e-12)
    f = 2 ** (-1 / 60)  # one minute of ONE_TIER's one-hour half-life
    long = out.liq_pending_long_usd.to_numpy()
    assert long[1] == pytest.approx(long[0] * f + 0.5 * inflow[1], rel=1e-12)
    assert long[2] == pytest.approx(long[1] * f + 0.5 * inflow[2], rel=1e-12)
    short = liquidation_features(frame(rows, long_share=[0.8, np.nan, 1.7]), ONE_TIER)
    assert short.liq_pending_short_usd.iloc[0] == pytest.approx(0.2 * inflow[0], rel=1e-12)


def test_leverage_edges_must_fit_the_tiers():
    with pytest.raises(ConfigError, match="one more than leverages"):
        HeatmapConfig(leverages=(10.0, 20.0), weights=(0.5, 0.5), half_life_hours=(1.0, 1.0))
    with pytest.raises(ConfigError, match="liquidates at or beyond entry"):
        HeatmapConfig(exchange="hyperliquid", leverage_edges=(90, 100, 110, 120, 130, 140))
    with pytest.raises(ConfigError, match="intracandle_sweep"):
        HeatmapConfig(intracandle_sweep=1.5)


def test_decay_halves_after_one_half_life_in_wall_clock_time():
    for step in ("1min", "1h"):
        n = 61 if step == "1min" else 2
        rows = [(100, 100, 100, 100, 10)] + [(100, 100, 100, 100, 0)] * (n - 1)
        out = liquidation_features(frame(rows, step=step), ONE_TIER).iloc[-1]
        assert out.liq_pending_long_usd == pytest.approx(250.0, rel=1e-12)


def test_open_interest_inflow_and_proportional_close_out():
    df = frame([(100, 100, 100, 100, 0)] * 4, open_interest_value=[1000.0, 3000.0, 2400.0, 2400.0])
    cfg = ONE_TIER.replace(half_life_hours=(1e12,))  # no decay to speak of
    out = liquidation_features(df, cfg)
    assert out.liq_oi_mode.tolist() == [0.0, 1.0, 1.0, 1.0]  # first row has no previous OI
    assert out.liq_inflow_usd.tolist() == [0.0, 2000.0, 0.0, 0.0]
    # OI fell 600 of 3000 with nothing swept: 20% of every level closes
    assert out.liq_closed_usd.iloc[2] == pytest.approx(0.2 * 2000.0, rel=1e-9)
    assert out.liq_pending_long_usd.iloc[2] == pytest.approx(800.0, rel=1e-9)


def test_oi_fall_pays_for_liquidations_first():
    cfg = ONE_TIER.replace(half_life_hours=(1e12,))
    df = frame(
        [(100, 100, 100, 100, 0), (100, 100, 100, 100, 0), (100, 100, 90, 100, 0)],
        open_interest_value=[1000.0, 3000.0, 2200.0],
    )
    out = liquidation_features(df, cfg).iloc[2]
    assert out.liq_swept_long_usd == pytest.approx(1000.0, rel=1e-9)
    # OI fell 800, all of it explained by the 1000 swept: nothing closes voluntarily
    assert out.liq_closed_usd == 0.0
    assert out.liq_pending_short_usd == pytest.approx(1000.0, rel=1e-9)


def test_nan_open_interest_falls_back_to_volume_for_that_row():
    df = frame([(100, 100, 100, 100, 1)] * 4, open_interest_value=[np.nan, 1000.0, np.nan, 1100.0])
    out = liquidation_features(df, ONE_TIER)
    assert out.liq_oi_mode.tolist() == [0.0, 0.0, 0.0, 0.0]
    assert out.liq_inflow_usd.tolist() == [100.0] * 4


def test_mark_prices_trigger_the_sweep_when_given():
    rows = [(100, 100, 100, 100, 10), (100, 100, 90, 95, 0)]
    df = frame(rows, mark_low=[100.0, 92.0], mark_high=[100.0, 100.0])
    assert liquidation_features(df, ONE_TIER).liq_swept_long_usd.iloc[1] == 0.0
    assert (
        liquidation_features(
            df.drop(columns=["mark_low", "mark_high"]), ONE_TIER
        ).liq_swept_long_usd.iloc[1]
        > 0
    )


# --- properties -----------------------------------------------------------------------------


def _conserved(est_or_totals, pending):
    t = est_or_totals
    rhs = pending + t["swept_long"] + t["swept_short"] + t["decayed"] + t["closed"] + t["dropped"]
    return t["inflow"], rhs


@pytest.mark.parametrize("oi", [False, True])
def test_conservation(oi):
    df = make_candles(3000, seed=3, oi=oi)
    est = LiquidationEstimator()
    rows = est.update_frame(df)
    pending = rows["liq_pending_long_usd"].iloc[-1] + rows["liq_pending_short_usd"].iloc[-1]
    inflow, rhs = _conserved(est.totals, pending)
    assert inflow > 0
    assert rhs == pytest.approx(inflow, rel=1e-9)
    # the per-candle columns add up to the same ledger
    out = liquidation_features(df)
    flows = (
        out[
            [
                "liq_swept_long_usd",
                "liq_swept_short_usd",
                "liq_decayed_usd",
                "liq_closed_usd",
                "liq_dropped_usd",
            ]
        ]
        .to_numpy()
        .sum()
    )
    assert out.liq_inflow_usd.sum() == pytest.approx(flows + pending, rel=1e-9)


def test_conservation_across_a_recentre():
    # price doubles twice: the window recentres and far levels are dropped, still conserved
    df = make_candles(2000, seed=5, vol=0.002)
    df[["open", "high", "low", "close"]] *= np.exp(np.linspace(0, math.log(4), len(df)))[:, None]
    out = liquidation_features(df)
    assert out.liq_dropped_usd.sum() > 0
    pending = out.liq_pending_long_usd.iloc[-1] + out.liq_pending_short_usd.iloc[-1]
    flows = (
        out[
            [
                "liq_swept_long_usd",
                "liq_swept_short_usd",
                "liq_decayed_usd",
                "liq_closed_usd",
                "liq_dropped_usd",
            ]
        ]
        .to_numpy()
        .sum()
    )
    assert out.liq_inflow_usd.sum() == pytest.approx(flows + pending, rel=1e-9)


@pytest.mark.parametrize("oi", [False, True])
def test_causality_prefixes_equal_the_full_run(oi):
    df = make_candles(1200, seed=7, oi=oi)
    full = liquidation_features(df)
    for k in (1, 2, 13, 100, 577, 1199):
        pd.testing.assert_frame_equal(
            liquidation_features(df.iloc[:k]), full.iloc[:k], check_exact=True
        )


def test_future_candles_do_not_change_the_past():
    df = make_candles(600, seed=8)
    full = liquidation_features(df)
    changed = df.copy()
    changed.loc[400:, ["open", "high", "low", "close"]] *= 0.5  # a crash in the future
    pd.testing.assert_frame_equal(
        liquidation_features(changed).iloc[:400], full.iloc[:400], check_exact=True
    )


@pytest.mark.parametrize("oi", [False, True])
def test_batch_equals_live_bit_for_bit(oi):
    df = make_candles(400, seed=9, oi=oi)
    batch = liquidation_features(df)[feature_columns()].to_numpy()
    est = LiquidationEstimator()
    live = np.array([list(est.update(row).values()) for row in df.to_dict("records")])
    assert np.array_equal(batch, live, equal_nan=True)
    est2 = LiquidationEstimator()
    chunks = np.vstack([est2.update_frame(df.iloc[a : a + 37]) for a in range(0, len(df), 37)])
    assert np.array_equal(batch, chunks, equal_nan=True)


def _same_map(a, b):
    assert (a.time, a.price, a.leverages, a.venues) == (b.time, b.price, b.leverages, b.venues)
    for name in ("bin_prices", "bin_edges", "long_by_tier", "short_by_tier"):
        assert np.array_equal(getattr(a, name), getattr(b, name)), name


@pytest.mark.parametrize("oi", [False, True])
def test_map_cursor_equals_the_map_of_the_prefix(oi):
    # bit for bit, in any order of rows: forward steps resume the state, a step back restarts it
    df = make_candles(900, seed=12, oi=oi)
    cursor = MapCursor(df)
    for row in (0, 1, 250, 251, 600, 120, 899, -1, 5):
        _same_map(
            cursor.map_at(row, 20.0),
            liquidation_map(df.iloc[: row % len(df) + 1], price_range_pct=20.0),
        )
    assert cursor.row_dated(df["date"].iloc[250]) == 250
    assert cursor.row_dated(df["date"].iloc[250] + pd.Timedelta(minutes=4)) == 250
    assert cursor.row_dated(df["date"].iloc[250].tz_convert(None)) == 250  # naive: UTC
    assert cursor.row_dated(str(df["date"].iloc[250] - pd.Timedelta(seconds=1))) == 249
    assert cursor.row_dated(df["date"].iloc[0] - pd.Timedelta(minutes=1)) == -1
    with pytest.raises(InputError, match="outside"):
        cursor.map_at(900)


def test_map_cursor_ignores_the_future_and_aggregates_venues():
    ref, other = _two_venues()
    crashed = ref.copy()
    crashed.loc[500:, ["open", "high", "low", "close"]] *= 0.5  # a crash after the asked row
    a = MapCursor(ref, venues=[Venue("bybit", other)])
    b = MapCursor(crashed, venues=[Venue("bybit", other)])
    _same_map(a.map_at(499), b.map_at(499))
    _same_map(a.map_at(499), liquidation_map(ref.iloc[:500], venues=[Venue("bybit", other)]))


def test_inputs_are_not_modified():
    df = make_candles(300, seed=10, oi=True)
    before = df.copy(deep=True)
    liquidation_features(df)
    liquidation_heatmap(df)
    liquidation_map(df)
    LiquidationEstimator().update_frame(df)
    pd.testing.assert_frame_equal(df, before, check_exact=True)


def test_live_rejects_a_candle_that_is_not_newer_and_keeps_its_state():
    df = make_candles(20, seed=11)
    est = LiquidationEstimator()
    est.update_frame(df.iloc[:10])
    with pytest.raises(InputError, match="not after the previous"):
        est.update(df.iloc[5].to_dict())
    rest = est.update_frame(df.iloc[10:])
    assert np.array_equal(
        rest, liquidation_features(df)[feature_columns()].to_numpy()[10:], equal_nan=True
    )


# --- the slow twin --------------------------------------------------------------------------


def _edge_frames():
    yield "random", make_candles(250, seed=1)
    yield "random_oi", make_candles(250, seed=2, oi=True)
    df = make_candles(250, seed=3, oi=True)
    df.loc[40:90, "open_interest_value"] = np.nan
    yield "nan_oi", df
    df = make_candles(250, seed=4)
    for col in ("open", "high", "low"):
        df.loc[50:120, col] = df.loc[50:120, "close"]
    df.loc[50:120, "volume"] = 0.0
    yield "flat_zero_volume", df
    df = make_candles(250, seed=5)
    df.loc[100, "low"] = df.loc[100, "close"] * 0.3
    df.loc[180, "high"] = df.loc[180, "close"] * 2.5
    yield "huge_wicks", df
    yield "single_row", make_candles(1, seed=6)
    df = make_candles(250, seed=7)
    df.loc[125:, "date"] = df.loc[125:, "date"] + pd.Timedelta(days=30)
    yield "gap", df


def _twin(inputs, cfg, exchanges=None):
    """Features and totals of the slow reference kernel, run from an empty map."""
    params = kernel_params(cfg, exchanges)
    state = new_state(cfg, params.n_venues)
    out = np.empty((inputs.n_candles, params.columns.width))
    reference.run(inputs, params, state, out, no_heat())
    return out, est_totals(state)


def est_totals(state):
    return dict(
        zip(
            ("inflow", "swept_long", "swept_short", "decayed", "closed", "dropped"),
            state.totals.tolist(),
            strict=True,
        )
    )


@pytest.mark.parametrize(
    "name,df", list(_edge_frames()), ids=lambda x: x if isinstance(x, str) else ""
)
@pytest.mark.parametrize(
    "cfg",
    [
        HeatmapConfig(),
        HeatmapConfig.preset("design"),
        HeatmapConfig.preset("design", grid_bins=512, bin_bp=25, cluster_smooth_bins=1),
        HeatmapConfig(turnover_share=0.05, oi_scale=0.3, intracandle_sweep=0.4),
        HeatmapConfig(intracandle_path=True),
        HeatmapConfig(vol_target=1.0, vol_half_life_hours=0.5, vol_ref_pct=5.0),
        HeatmapConfig(timeframe_exponent=0.3),
    ],
    ids=["default", "design", "coarse", "turnover", "path", "vol_target", "timeframe"],
)
def test_kernel_matches_the_plain_python_twin(name, df, cfg):
    inputs = prepare(df, cfg)
    expected, totals = _twin(inputs, cfg)
    est = LiquidationEstimator(cfg)
    got = est.update_frame(df)
    assert got.shape == expected.shape
    np.testing.assert_allclose(
        got, expected, rtol=1e-9, atol=1e-6, equal_nan=True, err_msg=f"case {name}, config {cfg}"
    )
    for key, value in totals.items():
        assert est.totals[key] == pytest.approx(value, rel=1e-9, abs=1e-6), (name, key)


# --- pictures' data -------------------------------------------------------------------------


def test_map_snapshot_equals_the_feature_totals():
    df = make_candles(800, seed=12)
    m = liquidation_map(df, at=df.date.iloc[500], price_range_pct=95)
    row = liquidation_features(df).iloc[500]
    assert m.time == df.date.iloc[500]
    assert m.long.sum() == pytest.approx(row.liq_pending_long_usd, rel=1e-9)
    assert m.short.sum() == pytest.approx(row.liq_pending_short_usd, rel=1e-9)
    assert m.long_by_tier.shape == (5, len(m.bin_prices))
    assert m.cumulative_long.max() == pytest.approx(m.long[m.bin_prices <= m.price].sum(), rel=1e-9)


def test_heatmap_last_column_equals_the_final_map():
    df = make_candles(700, seed=13)
    hm = liquidation_heatmap(df, reduce="last", max_times=50, price_range=(10_000, 90_000))
    assert hm.long.shape == (len(hm.times), len(hm.price_edges) - 1)
    assert hm.times[-1] == df.date.iloc[-1]
    row = liquidation_features(df).iloc[-1]
    assert hm.long[-1].sum() == pytest.approx(row.liq_pending_long_usd, rel=1e-9)
    hmax = liquidation_heatmap(df, reduce="max", max_times=50, price_range=(10_000, 90_000))
    assert (hmax.long >= hm.long - 1e-6).all()
    assert (hmax.long > hm.long + 1).any()  # something lived between snapshots


# --- bad input ------------------------------------------------------------------------------


def _bad(mutate):
    df = make_candles(30, seed=14)
    out = mutate(df)
    return df if out is None else out


@pytest.mark.parametrize(
    "mutate,match",
    [
        (lambda d: d.drop(columns=["volume"]), "lack column"),
        (lambda d: d.assign(date=d.date.astype(str) + " UTC?"), "must hold datetimes"),
        (
            lambda d: d.__setitem__("close", d.close.where(d.index != 7, 0.0)),
            "'close' is <= 0 at row 7",
        ),
        (lambda d: d.__setitem__("open", d.open.where(d.index != 3, np.nan)), "'open' is NaN"),
        (
            lambda d: d.__setitem__("low", d.low.where(d.index != 4, d.high * 1.1)),
            "high < low at row 4",
        ),
        (
            lambda d: d.__setitem__("volume", d.volume.where(d.index != 5, -1.0)),
            "'volume' is negative",
        ),
        (lambda d: d.iloc[::-1].reset_index(drop=True), "not ascending"),
        (
            lambda d: pd.concat([d, d.iloc[[10]]]).sort_values("date").reset_index(drop=True),
            "duplicate candle dates",
        ),
    ],
)
def test_bad_candles_raise_input_error_naming_the_fix(mutate, match):
    with pytest.raises(InputError, match=match):
        liquidation_features(_bad(mutate))


@pytest.mark.parametrize(
    "changes,match",
    [
        ({"bin_bp": 0}, "bin_bp"),
        ({"weights": (0.5, 0.5, 0.0, 0.0, 0.1)}, "sum to 1"),
        ({"leverages": (5.0, 10.0)}, "equal length"),
        ({"entry_price": "vwap"}, "entry_price"),
        ({"exchange": "kraken"}, "choose one of"),
        ({"bands_pct": (5.0, 2.0)}, "increasing"),
        ({"growth_band_pct": 3.0}, "growth_band_pct"),
        ({"cluster_smooth_bins": 4}, "odd"),
    ],
)
def test_bad_config_raises_config_error(changes, match):
    with pytest.raises(ConfigError, match=match):
        HeatmapConfig().replace(**changes)


def test_empty_input_gives_an_empty_result_with_all_columns():
    empty = make_candles(5).iloc[:0]
    out = liquidation_features(empty)
    assert len(out) == 0
    assert set(feature_columns()) <= set(out.columns)


# --- real data ------------------------------------------------------------------------------


@needs_shared_data
def test_real_history_causal_and_finite(real_5m):
    df = real_5m.iloc[-20_000:].reset_index(drop=True)
    full = liquidation_features(df)
    for k in (1, 999, 7_777, 19_999):
        pd.testing.assert_frame_equal(
            liquidation_features(df.iloc[:k]), full.iloc[:k], check_exact=True
        )
    values = full[
        [c for c in feature_columns() if not any(k in c for k in ("cluster", "growth", "real_"))]
    ]
    assert np.isfinite(values.to_numpy()).all()
    assert full.liq_long_cluster_usd.gt(0).mean() > 0.5  # clusters are found most of the time


def test_side_frames_with_another_datetime_resolution_merge_causally():
    df = make_candles(48, seed=15, timeframe="1h")
    oi = pd.DataFrame(
        {
            "date": df.date.astype("datetime64[ns, UTC]"),
            "open_interest_value": np.linspace(1e9, 2e9, len(df)),
        }
    )
    funding = pd.DataFrame(
        {
            "date": pd.date_range("2024-01-01", periods=6, freq="8h", tz="UTC").as_unit("ns"),
            "open": [1e-4] * 6,
        }
    )
    out = liquidation_features(
        df.assign(date=df.date.astype("datetime64[us, UTC]")),
        HeatmapConfig.preset("design"),  # inflow = the OI rise alone
        open_interest=oi,
        funding=funding,
    )
    # equal timeframes join exactly: the OI of a candle's own hour drives it from the second row
    assert out.liq_oi_mode.tolist() == [0.0] + [1.0] * 47
    assert out.liq_inflow_usd.iloc[1] == pytest.approx(1e9 / 47, rel=1e-9)


# --- several venues on one map --------------------------------------------------------------


def _two_venues(seed=20, n=600, drop=()):
    ref = make_candles(n, seed=seed, oi=True)
    other = ref.copy()
    other[["open", "high", "low", "close"]] *= 1.0004  # a small basis between venues
    other["volume"] *= 0.6
    other["open_interest_value"] *= 0.5
    other = other.drop(index=list(drop)).reset_index(drop=True)
    return ref, other


def test_two_venues_add_up_to_the_single_venue_maps():
    ref, other = _two_venues()
    both = liquidation_features(ref, venues=[Venue("bybit", other)])
    alone_ref = liquidation_features(ref)
    alone_other = liquidation_features(other, HeatmapConfig(exchange="bybit"))
    # pending and swept notional are additive across venues (each venue has its own levels)
    for col in (
        "liq_pending_long_usd",
        "liq_pending_short_usd",
        "liq_swept_long_usd",
        "liq_inflow_usd",
    ):
        np.testing.assert_allclose(
            both[col], alone_ref[col] + alone_other[col], rtol=1e-9, atol=1e-6
        )
    shares = both[["liq_long_cluster_share_binance", "liq_long_cluster_share_bybit"]]
    found = both.liq_long_cluster_usd > 0
    assert found.mean() > 0.5
    np.testing.assert_allclose(shares[found].sum(axis=1), 1.0, rtol=1e-9)
    assert shares[~found].isna().all().all()
    # bybit opens 60% of binance's notional: its share is below a half
    assert 0.2 < shares[found].liq_long_cluster_share_bybit.median() < 0.5


def test_a_venue_missing_candles_adds_nothing_there():
    ref, other = _two_venues(drop=range(100, 160))
    both = liquidation_features(ref, venues=[Venue("bybit", other)])
    alone = liquidation_features(ref)
    rows = slice(101, 160)  # (row 100 still sees bybit's OI from row 99: none; row 160 resumes)
    np.testing.assert_allclose(
        both.liq_inflow_usd.iloc[rows], alone.liq_inflow_usd.iloc[rows], rtol=1e-12
    )


def test_venues_must_be_distinct():
    ref, other = _two_venues(n=50)
    with pytest.raises(InputError, match="distinct"):
        liquidation_features(ref, venues=[Venue("binance", other)])


@pytest.mark.parametrize("drop", [(), tuple(range(30, 70))])
def test_two_venue_kernel_matches_the_twin(drop):
    ref, other = _two_venues(seed=21, n=220, drop=drop)
    cfg = HeatmapConfig()
    from liq_indicator.estimator import kernel_inputs

    inputs, exchanges = kernel_inputs(ref, cfg, venues=[Venue("bybit", other)])
    expected, _ = _twin(inputs, cfg, exchanges)
    got = liquidation_features(ref, cfg, venues=[Venue("bybit", other)])[
        feature_columns(cfg, exchanges)
    ]
    np.testing.assert_allclose(got.to_numpy(), expected, rtol=1e-9, atol=1e-6, equal_nan=True)


def test_cli_features_aggregates_exchanges_from_sibling_datadirs(tmp_path, capsys):
    from liq_indicator.cli import main
    from liq_indicator.io.datadir import pair_file

    ref, other = _two_venues(n=120)
    for name, df in (("binance", ref), ("bybit", other)):
        path = pair_file(tmp_path / name, "BTC/USDT:USDT", "5m")
        path.parent.mkdir(parents=True)
        df.drop(columns="open_interest_value").to_feather(path)
    out = tmp_path / "f.feather"
    assert (
        main(
            [
                "features",
                "--datadir",
                str(tmp_path / "binance"),
                "--exchanges",
                "binance",
                "bybit",
                "--output",
                str(out),
            ]
        )
        == 0
    )
    assert "liq_long_cluster_share_bybit" in pd.read_feather(out).columns
    assert (
        main(["features", "--datadir", str(tmp_path / "binance"), "--exchanges", "binance", "okx"])
        == 2
    )
    assert "does not exist" in capsys.readouterr().err


def test_stale_side_data_is_not_carried_forward():
    df = make_candles(48, seed=16, timeframe="1h")
    oi = pd.DataFrame({"date": df.date.iloc[:20], "open_interest_value": np.linspace(1e9, 2e9, 20)})
    with pytest.warns(DataWarning, match="stale for 26 candle"):
        out = liquidation_features(df, open_interest=oi)
    # candle h sees the OI of its own hour; candles 20 and 21 still see hour 19's (1 and 2 periods
    # old); from candle 22 it is stale and the volume rule takes over
    assert out.liq_oi_mode.tolist() == [0.0] + [1.0] * 21 + [0.0] * 26
    assert (out.liq_inflow_usd.iloc[22:] > 0).all()
    # (without the inflow's multipliers, so that the turnover rule can be checked as written)
    loose_cfg = HeatmapConfig(oi_max_age_periods=1000, timeframe_exponent=0.0, vol_target=0.0)
    loose = liquidation_features(df, loose_cfg, open_interest=oi)
    assert loose.liq_oi_mode.iloc[22:].eq(1.0).all()
    # a frozen OI: no rise, only the turnover of the traded volume
    traded = df.volume * (df.high + df.low + df.close) / 3
    np.testing.assert_allclose(
        loose.liq_inflow_usd.iloc[22:], loose_cfg.turnover_share * traded.iloc[22:], rtol=1e-12
    )


@pytest.mark.parametrize("keep_max", [True, False], ids=["max", "last"])
def test_heatmap_matches_the_plain_python_twin(keep_max):
    from liq_indicator.core import kernels
    from liq_indicator.core.model import HeatRequest

    df = make_candles(300, seed=9, oi=True)
    cfg = HeatmapConfig()
    inputs = prepare(df, cfg)
    params = kernel_params(cfg)
    k_lo = int(np.floor(np.log(df["low"].min() / 1.2) / bin_width(cfg.bin_bp)))
    rows = np.array([9, 50, 51, 140, 299], dtype=np.int64)
    grids = []
    for run in (kernels.run, reference.run):
        heat = HeatRequest(rows, k_lo, np.zeros((2, len(rows), 600)), keep_max)
        run(inputs, params, new_state(cfg), np.empty((300, params.columns.width)), heat)
        grids.append(heat.grid)
    assert grids[0].max() > 0
    np.testing.assert_allclose(grids[0], grids[1], rtol=1e-9, atol=1e-6)


@pytest.mark.parametrize("seed", range(20))
def test_compiled_cluster_rule_is_the_plain_rule(seed):
    from liq_indicator.core.clusters import dense_runs, held_span
    from liq_indicator.core.kernels import nearest_cluster

    rng = np.random.default_rng(seed)
    prof = np.where(rng.random(60) < 0.4, rng.lognormal(0, 1.5, 60), 0.0)
    half = int(rng.integers(0, 3))
    thr = float(prof.mean() * rng.uniform(0.5, 3))
    found = np.zeros(4)
    nearest_cluster(prof, np.cumsum(prof), len(prof), half, thr, found)
    runs = dense_runs(prof, half, thr)
    span = held_span(prof, *runs[0]) if runs else None
    assert (found[1], found[2]) == ((span[0], span[1]) if span else (-1.0, -1.0)), (seed, half, thr)


# --- recorded liquidations ----------------------------------------------------------------------


def _with_recorded(df, seed, gaps=True):
    """``df`` with recorded liquidations per candle (columns), some candles unrecorded (NaN)."""
    rng = np.random.default_rng(seed)
    out = df.copy()
    out["real_long_usd"] = rng.lognormal(8, 2, len(df))
    out["real_short_usd"] = rng.lognormal(8, 2, len(df)) * (rng.random(len(df)) > 0.3)
    if gaps:
        out.loc[out.index[10:25], ["real_long_usd", "real_short_usd"]] = np.nan
    return out


@pytest.mark.parametrize("rate,band", [(0.0, 0.0), (0.1, 0.0), (0.1, 2.0)])
@pytest.mark.parametrize(
    "name,df", [("random", make_candles(250, seed=31)), ("oi", make_candles(250, seed=32, oi=True))]
)
def test_recorded_liquidations_match_the_twin(name, df, rate, band):
    cfg = HeatmapConfig(assimilation_rate=rate, real_window=40, reconcile_band_pct=band)
    frame = _with_recorded(df, seed=5)
    inputs = prepare(frame, cfg)
    expected, totals = _twin(inputs, cfg)
    est = LiquidationEstimator(cfg)
    got = est.update_frame(frame)
    np.testing.assert_allclose(got, expected, rtol=1e-9, atol=1e-6, equal_nan=True, err_msg=name)
    for key, value in totals.items():
        assert est.totals[key] == pytest.approx(value, rel=1e-9, abs=1e-6), (name, key)
    real = got[["liq_real_long_usd", "liq_real_short_usd", "liq_real_log_corr"]]
    assert real.iloc[10:25, :2].isna().all().all() and real.iloc[-1].notna().all()


def test_recorded_liquidations_live_equals_batch_and_only_the_past_counts():
    cfg = HeatmapConfig(assimilation_rate=0.1, real_window=30, reconcile_band_pct=2.0)
    frame = _with_recorded(make_candles(200, seed=33), seed=6)
    batch = liquidation_features(frame, cfg)[feature_columns(cfg)].to_numpy()
    est = LiquidationEstimator(cfg)
    live = np.array([list(est.update(r).values()) for r in frame.to_dict("records")])
    assert np.array_equal(batch, live, equal_nan=True)
    changed = frame.copy()
    changed.loc[changed.index[150:], "real_long_usd"] *= 50  # the future's recordings
    later = liquidation_features(changed, cfg)[feature_columns(cfg)].to_numpy()
    assert np.array_equal(batch[:150], later[:150], equal_nan=True)
    assert not np.array_equal(batch[150:], later[150:], equal_nan=True)


def test_recorded_rows_are_summed_per_candle_and_gaps_stay_unknown():
    from liq_indicator.core.inputs import merge_liquidations

    dates = pd.date_range("2024-01-01", periods=4, freq="5min", tz="UTC")
    minutes = pd.DataFrame(
        {
            "date": pd.date_range("2024-01-01 00:05", periods=10, freq="1min", tz="UTC"),
            "long_usd": [1.0] * 10,
            "short_usd": [2.0] * 5 + [np.nan] + [2.0] * 4,
        }
    )
    long_usd, short_usd = merge_liquidations(dates, minutes)
    # candle 0 precedes the recording, 1 holds minutes 5-9, 2 minutes 10-14 (one missed), 3 after it
    assert np.isnan(long_usd[0]) and np.isnan(long_usd[3])
    assert long_usd[1:3].tolist() == [5.0, 5.0]
    assert short_usd[1] == 10.0 and np.isnan(short_usd[2])
    # load_liquidations' layout (bars indexed by their start) reads the same
    again = merge_liquidations(dates, minutes.set_index("date"))
    np.testing.assert_array_equal(again[0], long_usd)


def test_assimilation_brings_a_wrong_magnitude_back_toward_the_truth():
    from liq_indicator.sim.market import simulate

    sim = simulate(8, seed=2, scenario="calm")
    truth = pd.DataFrame(
        {
            "date": sim.truth["date"],
            "long_usd": sim.truth["liq_long_usd"],
            "short_usd": sim.truth["liq_short_usd"],
        }
    )

    def error(rate):  # median |log10(est / real)| per hour over the last four days
        cfg = HeatmapConfig(volume_share=HeatmapConfig().volume_share * 10, assimilation_rate=rate)
        f = liquidation_features(sim.candles, cfg, liquidations=truth).set_index("date")
        h = f.filter(like="_usd").resample("1h").sum()
        h = h[h.index >= h.index[0] + pd.Timedelta("4D")]
        est = h["liq_swept_long_usd"] + h["liq_swept_short_usd"]
        real = h["liq_real_long_usd"] + h["liq_real_short_usd"]
        ok = (est > 0) & (real > 0)
        return float(np.median(np.abs(np.log10(est[ok] / real[ok]))))

    assert error(0.05) < 0.75 * error(0.0)


# --- volatility targeting -------------------------------------------------------------------


def test_realised_volatility_for_calibration_is_the_maps_own(candles):
    """research's realised volatility steps the kernel's own average: at every candle it equals
    the variance the map's state carries after that candle."""
    from liq_indicator.research.calibration import realised_vol_pct

    cfg = HeatmapConfig(vol_half_life_hours=2.0)
    frame = candles.iloc[:300]
    vol = realised_vol_pct(frame, cfg.vol_half_life_hours)["vol_pct"].to_numpy()
    est = LiquidationEstimator(cfg)
    carried = []
    for _, row in frame.iterrows():
        est.update(row)
        carried.append(math.sqrt(est.state.vol[0] * 86_400.0) * 100.0)
    assert np.isnan(vol[0]) and vol[1] > 0
    np.testing.assert_allclose(vol[1:], carried[1:], rtol=1e-12)


def _zigzag(n: int, r: float, minutes: int = 5) -> pd.DataFrame:
    """Candles whose close alternates by a log return of +-r: realised variance r^2 per candle."""
    close = 100.0 * np.exp(r * (np.arange(n) % 2))
    open_ = np.r_[close[0], close[:-1]]
    return pd.DataFrame(
        {
            "date": pd.date_range("2024-01-01", periods=n, freq=f"{minutes}min", tz="UTC"),
            "open": open_,
            "high": np.maximum(open_, close),
            "low": np.minimum(open_, close),
            "close": close,
            "volume": np.full(n, 50.0),
        }
    )


@pytest.mark.parametrize(("r", "gamma"), [(0.001, 1.0), (0.004, 1.0), (0.001, 0.5), (1e-5, 2.0)])
def test_volatility_targeting_scales_the_inflow_by_the_realised_volatility(r, gamma):
    df = _zigzag(600, r)
    half_life_h = 12.0
    on = HeatmapConfig(vol_target=gamma, vol_ref_pct=2.0, vol_half_life_hours=half_life_h)
    with_f = liquidation_features(df, on)["liq_inflow_usd"].to_numpy()
    without = liquidation_features(df, on.replace(vol_target=0.0))["liq_inflow_usd"].to_numpy()
    ratio = with_f / without
    warm = int(half_life_h * 12)  # candles before a half-life of returns has been seen
    np.testing.assert_array_equal(ratio[:warm], 1.0)
    daily_pct = r * math.sqrt(288) * 100.0  # r per 5 minutes, as a daily standard deviation
    expected = min(max((2.0 / daily_pct) ** gamma, 0.25), 4.0)
    np.testing.assert_allclose(ratio[warm + 1 :], expected, rtol=1e-9)


def test_volatility_targeting_is_off_at_zero_bit_for_bit():
    df = make_candles(400, seed=21)
    base = liquidation_features(df, HeatmapConfig(vol_target=0.0))
    other = liquidation_features(df, HeatmapConfig(vol_target=0.0, vol_ref_pct=9.0))
    pd.testing.assert_frame_equal(base, other, check_exact=True)


@pytest.mark.parametrize(("minutes", "beta"), [(60, 0.055), (240, 0.3), (5, 0.5), (1, -0.2)])
def test_the_candle_length_correction_scales_the_inflow(minutes, beta):
    df = _zigzag(50, 0.002, minutes=minutes)
    df.loc[30:, "date"] += pd.Timedelta(days=2)  # a gap does not change the candle length
    on = HeatmapConfig(timeframe_exponent=beta)
    ratio = (
        liquidation_features(df, on)["liq_inflow_usd"].to_numpy()
        / liquidation_features(df, on.replace(timeframe_exponent=0.0))["liq_inflow_usd"].to_numpy()
    )
    assert ratio[0] == 1.0  # no spacing seen yet
    np.testing.assert_allclose(ratio[1:], (minutes / 5) ** -beta, rtol=1e-12)
