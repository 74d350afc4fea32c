"""claims.py on small hand-built frames with exact values: stop hits on known paths, fees, forward
returns, bootstrap intervals, event detection and de-duplication; and the trade simulation against
a slow loop on random candles."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from conftest import make_candles
from strategy_helpers import CASCADE_ROW, SIGNAL_ROW
from strategy_helpers import long_setup as strategy_long_setup

from liq_indicator import ConfigError, InputError
from liq_indicator.research.claims import (
    CI,
    TAKER_FEE,
    atr_multiple_for_median,
    atr_stop,
    bootstrap_ci,
    bootstrap_diff_ci,
    bootstrap_means,
    cascade_onsets,
    cluster_levels,
    dedupe,
    exhaustion_events,
    first_touches,
    fixed_r_target,
    forward_returns,
    in_range,
    net_return,
    opposite_cluster_target,
    positions,
    rank_matched_stop,
    simulate_trades,
    strategy_entries,
    week_blocks,
)
from liq_indicator.strategy.signals import SignalParams

FEE = TAKER_FEE


def path(rows: list[tuple[float, float, float, float]]) -> pd.DataFrame:
    """Candles from (open, high, low, close) tuples, 5 minutes apart."""
    o, h, lo, c = (list(x) for x in zip(*rows, strict=True))
    return pd.DataFrame(
        {
            "date": pd.date_range("2024-01-01", periods=len(rows), freq="5min", tz="UTC"),
            "open": o,
            "high": h,
            "low": lo,
            "close": c,
            "volume": 1.0,
        }
    )


# signal at row 0; the long enters at row 1's open (100) with its stop at 95 and target at 110
LONG_PATH = path(
    [
        (99, 100, 98, 100),  # 0: signal candle (its close is not the entry)
        (100, 101, 98, 99),  # 1: entry at 100
        (99, 100, 96, 97),  # 2
        (97, 98, 94.5, 96),  # 3: low 94.5 <= 95: stopped at 95
        (96, 112, 95.5, 111),  # 4: would have reached the target
        (111, 112, 110, 111),  # 5
    ]
)


# --- stops, targets, fees ------------------------------------------------------------------


def test_stop_hit_on_a_known_path():
    trade = simulate_trades(LONG_PATH, [0], False, stop=95.0, target=110.0, horizon=5).iloc[0]
    assert trade["entry"] == 100.0
    assert trade["reason"] == "stop"
    assert trade["held"] == 3 and trade["stop_touch"] == 3
    assert trade["exit"] == 95.0
    assert trade["gross"] == pytest.approx(-0.05)
    # fees: 0.05% of the entry notional and of the exit notional (95% of it)
    assert trade["net"] == pytest.approx(-0.05 - FEE * 1.95)
    # R: the loss over the planned loss including both fees
    assert trade["r"] == pytest.approx((-0.05 - FEE * 1.95) / (0.05 + 2 * FEE))
    assert trade["stop_frac"] == pytest.approx(0.05)


def test_stop_not_hit_within_a_shorter_horizon_exits_at_the_close():
    trade = simulate_trades(LONG_PATH, [0], False, stop=95.0, target=110.0, horizon=2).iloc[0]
    assert trade["reason"] == "time" and trade["held"] == 2 and trade["stop_touch"] == 0
    assert trade["exit"] == 97.0  # close of row 2 = t + horizon
    assert trade["net"] == pytest.approx(-0.03 - FEE * 1.97)


def test_target_hit_first():
    trade = simulate_trades(LONG_PATH, [0], False, stop=94.0, target=110.0, horizon=5).iloc[0]
    assert trade["reason"] == "target" and trade["held"] == 4 and trade["exit"] == 110.0
    assert trade["stop_touch"] == 0
    assert trade["net"] == pytest.approx(0.10 - FEE * 2.10)


def test_stop_and_target_in_one_candle_count_as_the_stop():
    candles = path([(100, 100, 100, 100), (100, 100.5, 99.5, 100), (100, 106, 94, 100)])
    trade = simulate_trades(candles, [0], False, stop=95.0, target=105.0, horizon=2).iloc[0]
    assert trade["reason"] == "stop" and trade["exit"] == 95.0 and trade["held"] == 2


def test_a_gap_through_the_stop_fills_at_the_open():
    candles = path([(100, 100, 100, 100), (100, 101, 99, 99), (93, 94, 92, 93)])
    trade = simulate_trades(candles, [0], False, stop=95.0, target=None, horizon=2).iloc[0]
    assert trade["reason"] == "stop" and trade["exit"] == 93.0


def test_the_entry_candle_can_stop_the_trade():
    candles = path([(100, 100, 100, 100), (100, 100, 94, 96), (96, 97, 95, 96)])
    trade = simulate_trades(candles, [0], False, stop=95.0, target=None, horizon=2).iloc[0]
    assert trade["reason"] == "stop" and trade["held"] == 1 and trade["stop_touch"] == 1


def test_short_mirror():
    mirrored = LONG_PATH.assign(
        open=200 - LONG_PATH["open"],
        close=200 - LONG_PATH["close"],
        high=200 - LONG_PATH["low"],
        low=200 - LONG_PATH["high"],
    )
    trade = simulate_trades(mirrored, [0], True, stop=105.0, target=90.0, horizon=5).iloc[0]
    assert trade["reason"] == "stop" and trade["held"] == 3 and trade["exit"] == 105.0
    assert trade["gross"] == pytest.approx(-0.05)
    assert trade["net"] == pytest.approx(-0.05 - FEE * 2.05)


def test_expectancy_after_fees():
    # one winner (+10% at the target) and one loser (-5% at the stop), 0.05% per side
    trades = simulate_trades(
        pd.concat([LONG_PATH, LONG_PATH], ignore_index=True),
        [0, 6],
        False,
        stop=[94.0, 95.0],
        target=[110.0, 110.0],
        horizon=5,
    )
    assert trades["reason"].tolist() == ["target", "stop"]
    expected = ((0.10 - FEE * 2.10) + (-0.05 - FEE * 1.95)) / 2
    assert trades["net"].mean() == pytest.approx(expected)
    assert trades["net"].mean() == pytest.approx(0.025 - FEE * 2.025)
    assert net_return(100.0, 102.0, False, FEE) == pytest.approx(0.01899)
    assert net_return(100.0, 102.0, True, FEE) == pytest.approx(-0.02 - 0.00101)


def test_bad_trades_fail_loudly():
    with pytest.raises(InputError, match="losing side"):
        simulate_trades(LONG_PATH, [0], False, stop=101.0, target=None, horizon=3)
    with pytest.raises(InputError, match="losing side"):
        simulate_trades(LONG_PATH, [0], False, stop=np.nan, target=None, horizon=3)
    with pytest.raises(InputError, match="in_range"):
        simulate_trades(LONG_PATH, [1], False, stop=90.0, target=None, horizon=5)
    with pytest.raises(ConfigError):
        simulate_trades(LONG_PATH, [0], False, stop=90.0, target=None, horizon=0)


def test_inputs_are_not_modified():
    candles = LONG_PATH.copy()
    stop = np.array([95.0])
    simulate_trades(candles, [0], False, stop=stop, target=np.array([110.0]), horizon=5)
    pd.testing.assert_frame_equal(candles, LONG_PATH)
    assert stop.tolist() == [95.0]


def slow_simulation(
    candles: pd.DataFrame, t: int, is_short: bool, stop: float, target: float, horizon: int
) -> tuple[str, float, int, int]:
    """The same exit rule, one candle at a time."""
    touch, result = 0, None
    for k in range(1, horizon + 1):
        row = candles.iloc[t + k]
        stop_hit = row["high"] >= stop if is_short else row["low"] <= stop
        tgt_hit = row["low"] <= target if is_short else row["high"] >= target
        if stop_hit and not touch:
            touch = k
        if result is None and stop_hit:
            result = ("stop", max(row["open"], stop) if is_short else min(row["open"], stop), k)
        elif result is None and tgt_hit:
            result = (
                "target",
                min(row["open"], target) if is_short else max(row["open"], target),
                k,
            )
    if result is None:
        result = ("time", candles["close"].iloc[t + horizon], horizon)
    return (*result, touch)


@pytest.mark.parametrize("seed", range(4))
@pytest.mark.parametrize("is_short", [False, True])
def test_simulation_matches_a_slow_loop(seed: int, is_short: bool):
    candles = make_candles(400, seed=seed, vol=0.004)
    rng = np.random.default_rng(seed)
    horizon = 30
    pos = in_range(np.sort(rng.choice(390, 40, replace=False)), len(candles), horizon)
    entry = candles["open"].to_numpy()[pos + 1]
    sign = 1 if is_short else -1
    stop = entry * (1 + sign * rng.uniform(0.002, 0.03, pos.size))
    target = entry * (1 - sign * rng.uniform(0.002, 0.03, pos.size))
    fast = simulate_trades(candles, pos, is_short, stop, target, horizon, chunk=7)
    for i, t in enumerate(pos):
        reason, exit_price, held, touch = slow_simulation(
            candles, int(t), is_short, stop[i], target[i], horizon
        )
        row = fast.iloc[i]
        assert (row["reason"], row["held"], row["stop_touch"]) == (reason, held, touch), (seed, t)
        assert row["exit"] == pytest.approx(exit_price), (seed, t)


def test_atr_stops_with_the_same_median_distance():
    k = atr_multiple_for_median([0.02, 0.03, 0.04], [0.01, 0.01, 0.02])
    assert k == 3.0
    assert atr_stop([100.0, 200.0], [1.0, 2.0], False, k).tolist() == [97.0, 194.0]
    assert atr_stop([100.0], [1.0], True, k).tolist() == [103.0]
    with pytest.raises(InputError):
        atr_multiple_for_median([0.0, 0.0], [0.01, 0.01])


def test_rank_matched_stops_keep_the_distances():
    stops = rank_matched_stop([100.0, 100.0, 100.0], [3.0, 1.0, 2.0], True, [0.05, 0.01, 0.02])
    assert stops.tolist() == pytest.approx([105.0, 101.0, 102.0])
    assert fixed_r_target([100.0], [95.0], False, 2.0).tolist() == [110.0]
    assert fixed_r_target([100.0], [105.0], True, 2.0).tolist() == [90.0]


# --- the strategy's stop on a hand-built feature frame --------------------------------------

P = SignalParams(norm_window=4, lookback=3)


def long_setup() -> pd.DataFrame:
    """The strategy tests' eight-candle long setup (tests/strategy_helpers.long_setup: a cascade at
    row 6, its exhaustion at row 7) plus row 8, the entry candle of the row-7 signal: it opens at 970
    and still sweeps 40% of the peak, so it is not an exhaustion candle itself."""
    df = strategy_long_setup()
    entry = df.iloc[[0]].assign(date=df["date"].iloc[-1] + pd.Timedelta("5min"))
    df = pd.concat([df, entry], ignore_index=True)
    df.loc[8, ["open", "high", "low", "close", "liq_swept_long_usd"]] = [
        970.0,
        980.0,
        965.0,
        978.0,
        20_000.0,
    ]
    return df


def test_events_on_a_hand_built_cascade():
    df = long_setup()
    assert positions(exhaustion_events(df, False, P)).tolist() == [SIGNAL_ROW]
    assert positions(cascade_onsets(df, False, P)).tolist() == [CASCADE_ROW]
    assert positions(strategy_entries(df, False, P)).tolist() == [SIGNAL_ROW]
    assert not exhaustion_events(df, True, P).any()
    assert positions(exhaustion_events(df, False, P), start=SIGNAL_ROW + 1).size == 0


def test_first_touch_of_the_cluster():
    df = long_setup()
    df["low"] = [995.0, 995.0, 939.0, 938.0, 995.0, 941.0, 935.0, 995.0, 995.0]
    # row 2 reaches the near edge 940 of row 1; row 3 continues the run; row 6 touches again
    assert positions(first_touches(df, False)).tolist() == [2, 6]
    df["high"] = [1005.0] * 8 + [1050.0]
    assert positions(first_touches(df, True)).tolist() == [8]


def test_cluster_levels_are_the_strategys_stop():
    df = long_setup()
    levels = cluster_levels(df, [SIGNAL_ROW], False, P).iloc[0]
    assert levels["entry"] == 970.0  # the next candle's open, not the signal candle's close
    # 0.5 ATR = 5 beyond the far edge 930 (more than 0.1% of it)
    assert levels["stop"] == 925.0 and levels["target"] == 1050.0 and levels["has_cluster"]
    assert levels["stop_pct"] == pytest.approx(45 / 970 * 100)
    short = cluster_levels(df, [SIGNAL_ROW], True, P).iloc[0]
    assert short["stop"] == 1075.0 and short["target"] == 940.0
    # a wider stop: the target stays at the opposite cluster, 2R only without one
    assert opposite_cluster_target(df, [SIGNAL_ROW], False, [970.0], [900.0]).tolist() == [1050.0]
    df.loc[SIGNAL_ROW, "liq_short_cluster_near"] = np.nan
    assert opposite_cluster_target(df, [SIGNAL_ROW], False, [970.0], [900.0]).tolist() == [1110.0]
    with pytest.raises(InputError, match="next candle"):
        cluster_levels(df, [8], False, P)


# --- forward returns and de-duplication -----------------------------------------------------


def test_forward_returns_enter_at_the_next_open():
    candles = path(
        [
            (100, 100, 100, 100),
            (100, 105, 99, 102),
            (102, 104, 101, 103),
            (103, 104, 95, 96),
            (96, 97, 95, 97),
        ]
    )
    assert forward_returns(candles, [0], 1).tolist() == pytest.approx([0.02])
    assert forward_returns(candles, [0], 2).tolist() == pytest.approx([0.03])
    assert forward_returns(candles, [0, 1], 3).tolist() == pytest.approx([-0.04, 97 / 102 - 1])
    assert forward_returns(candles, [0], 2, is_short=True).tolist() == pytest.approx([-0.03])
    with pytest.raises(InputError, match="in_range"):
        forward_returns(candles, [2], 3)
    assert in_range([0, 1, 2], len(candles), 3).tolist() == [0, 1]


def test_dedupe_keeps_non_overlapping_events():
    assert dedupe([3, 4, 5, 9, 10, 20], 5).tolist() == [3, 9, 20]
    assert dedupe([3, 4, 5], 1).tolist() == [3, 4, 5]
    assert dedupe([], 4).tolist() == []
    kept = dedupe(np.arange(0, 100, 3), 12)
    assert np.all(np.diff(kept) >= 12)  # holding t+1 .. t+12 never overlaps the next kept event
    assert kept.tolist() == list(range(0, 100, 12))
    with pytest.raises(InputError):
        dedupe([5, 3], 2)
    with pytest.raises(ConfigError):
        dedupe([1], 0)


def test_week_blocks():
    dates = pd.to_datetime(
        ["2024-01-07 23:55", "2024-01-08 00:00", "2024-01-14 23:59", "2024-01-15 00:00"], utc=True
    )
    blocks = week_blocks(dates)
    assert blocks[1] == blocks[2] and blocks[0] == blocks[1] - 1 and blocks[3] == blocks[1] + 1


# --- bootstrap ---------------------------------------------------------------------------------


def test_bootstrap_ci_of_a_constant_series_is_the_constant():
    ci = bootstrap_ci([0.3] * 50, n_boot=200)
    assert (ci.mean, ci.low, ci.high, ci.n) == (
        pytest.approx(0.3),
        pytest.approx(0.3),
        pytest.approx(0.3),
        50,
    )
    ci = bootstrap_ci([0.3] * 50, blocks=np.arange(50) // 7, n_boot=200)
    assert ci.low <= ci.mean <= ci.high and ci.high - ci.low == pytest.approx(0.0, abs=1e-12)


def test_bootstrap_ci_contains_the_mean_and_shrinks_with_n():
    rng = np.random.default_rng(0)
    small = bootstrap_ci(rng.normal(1.0, 1.0, 100), n_boot=1000)
    large = bootstrap_ci(rng.normal(1.0, 1.0, 10_000), n_boot=1000)
    assert small.low < small.mean < small.high and large.low < large.mean < large.high
    assert large.high - large.low < (small.high - small.low) / 5
    assert large.excludes_zero and not bootstrap_ci(rng.normal(0, 1, 100), n_boot=500).excludes_zero


def test_block_bootstrap_is_wider_for_dependent_data():
    # 50 blocks of 40 identical values: 50 independent draws, not 2,000
    rng = np.random.default_rng(1)
    values = np.repeat(rng.normal(0, 1, 50), 40)
    blocks = np.repeat(np.arange(50), 40)
    naive = bootstrap_ci(values, n_boot=1000)
    block = bootstrap_ci(values, blocks, n_boot=1000)
    assert block.high - block.low > 4 * (naive.high - naive.low)


def test_bootstrap_diff_ci():
    blocks = np.repeat(np.arange(20), 5)
    a = np.full(100, 2.0)
    b = np.full(100, 0.5)
    d = bootstrap_diff_ci(a, blocks, b, blocks, n_boot=300)
    assert (d.mean, d.low, d.high) == (pytest.approx(1.5), pytest.approx(1.5), pytest.approx(1.5))
    # common shocks cancel: the same weekly noise in both groups leaves the difference exact
    noise = np.repeat(np.random.default_rng(2).normal(0, 1, 20), 5)
    d = bootstrap_diff_ci(a + noise, blocks, b + noise, blocks, n_boot=300)
    assert d.low == pytest.approx(1.5) and d.high == pytest.approx(1.5)
    reps = bootstrap_means([(a, blocks), (b[:10], blocks[:10])], n_boot=50)
    assert reps.shape == (50, 2) and np.isnan(reps[:, 1]).any()  # b absent from some draws
    with pytest.raises(ConfigError):
        bootstrap_means([(a, None), (b, None)])


def test_ci_formatting():
    assert CI(0.0123, 0.01, 0.015, 10).fmt(100, 1) == "+1.2 [+1.0, +1.5]"
    assert CI(0.5, 0.4, 0.6, 10).fmt(100, 0, sign=False) == "50 [40, 60]"
    assert CI(float("nan"), float("nan"), float("nan"), 0).fmt() == "–"
    assert bootstrap_ci([]).n == 0
