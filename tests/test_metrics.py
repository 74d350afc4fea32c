"""The accuracy metrics of research.metrics on hand-computed cases and synthetic data."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from liq_indicator.errors import InputError
from liq_indicator.research import validation
from liq_indicator.research.metrics import (
    LogRatio,
    bar_sums,
    bootstrap_ci,
    densest_capture,
    emd_bp,
    log_ratio,
    moved_bars,
    no_sweep_share,
    spearman,
    top_overlap,
    top_precision,
)


# ------------------------------------------------------------------------------------------------
# ranks
def test_spearman_matches_pandas_with_ties():
    rng = np.random.default_rng(3)
    for _ in range(20):
        a = rng.integers(0, 6, 40).astype(float)  # many ties
        b = a + rng.integers(0, 4, 40)
        want = pd.Series(a).corr(pd.Series(b), method="spearman")
        assert spearman(a, b) == pytest.approx(want, abs=1e-12)


def test_spearman_is_invariant_to_permuting_pairs_and_monotone_maps():
    rng = np.random.default_rng(4)
    x, y = rng.normal(size=200), rng.normal(size=200)
    p = rng.permutation(200)
    assert spearman(x[p], y[p]) == pytest.approx(spearman(x, y), abs=1e-12)
    assert spearman(np.exp(x), y**3) == pytest.approx(spearman(x, y), abs=1e-12)


def test_validation_keeps_the_moved_names():
    assert validation.spearman is spearman
    assert validation.top_overlap is top_overlap


def test_top_precision_counts_hits_of_the_top_share():
    # n = 10, k = 2: estimate's top {4, 0}, real top {9, 4}: one hit of two calls
    est = [5, 1, 0, 2, 9, 3, 0, 1, 4, 2]
    real = [1, 2, 0, 1, 8, 2, 1, 0, 1, 9]
    assert top_precision(est, real, 0.2) == 0.5
    assert top_precision(real, real, 0.2) == 1.0
    assert math.isnan(top_precision(np.zeros(10), real, 0.2))


def test_top_set_size_ignores_float_error():
    # 0.1 * 30 = 3.0000000000000004 in floats: the top 10% of 30 rows is 3 rows, not 4
    assert top_overlap(np.arange(30.0), np.arange(30.0), 0.1).n_real == 3
    truth = np.r_[np.zeros(27), 1.0, 1.0, 1.0]
    assert densest_capture(np.arange(30.0), truth, 0.1) == (1.0, 0.1)


# ------------------------------------------------------------------------------------------------
# bar sums
def _candles(n: int, freq: str = "5min", start: str = "2024-01-01") -> pd.DataFrame:
    return pd.DataFrame(
        {
            "date": pd.date_range(start, periods=n, freq=freq, tz="UTC"),
            "liq_swept_long_usd": np.arange(n, dtype=float),
            "liq_swept_short_usd": np.ones(n),
        }
    )


def test_bar_sums_keeps_complete_bars_only():
    f = _candles(48 + 47)  # 4h of 5m candles, and a 4h bar missing its last candle
    out = bar_sums(f, "4h")
    assert list(out.index) == [pd.Timestamp("2024-01-01", tz="UTC")]
    assert out["liq_swept_long_usd"].iloc[0] == sum(range(48))
    assert out["liq_swept_short_usd"].iloc[0] == 48
    assert out.index.unit == "us"
    assert out.index.name == "date"


def test_bar_sums_aligns_4h_bars_to_midnight_and_days_to_utc_days():
    f = _candles(12 * 30, start="2024-01-01 02:00")  # 02:00 .. next day 07:55
    out = bar_sums(f, "4h")
    assert list(out.index.hour) == [4, 8, 12, 16, 20, 0, 4]  # the first 00:00 bar is partial
    day = bar_sums(_candles(24 * 3, freq="1h", start="2024-01-01 12:00"), "1D")
    # 2024-01-01 12:00 .. 01-04 11:00: two whole UTC days
    assert list(day.index) == list(pd.date_range("2024-01-02", periods=2, freq="D", tz="UTC"))
    assert day["liq_swept_long_usd"].iloc[0] == sum(range(12, 36))


def test_bar_sums_reads_a_datetime_index_and_equals_hourly_sum():
    f = _candles(36)
    by_index = bar_sums(f.set_index("date"), "1h")
    pd.testing.assert_frame_equal(by_index, bar_sums(f, "1h"))
    pd.testing.assert_frame_equal(
        validation.hourly_sum(f, ["liq_swept_long_usd", "liq_swept_short_usd"]), by_index
    )


def test_bar_sums_rejects_a_bar_that_is_not_whole_candles():
    with pytest.raises(InputError, match="whole number"):
        bar_sums(_candles(30, freq="7min"), "1h")
    with pytest.raises(InputError, match="not found"):
        bar_sums(_candles(30), "1h", columns=["nope"])


# ------------------------------------------------------------------------------------------------
# USD
def test_log_ratio_on_a_power_law():
    real = np.array([1e5, 1e6, 1e7, 1e8])
    assert log_ratio(10 * real**0.5, real) == LogRatio(
        pytest.approx(np.median(1 - 0.5 * np.log10(real))), pytest.approx(0.5), 4
    )
    # proportional: slope 1, median = the constant
    lr = log_ratio(25 * real, real)
    assert lr.median == pytest.approx(math.log10(25))
    assert lr.slope == pytest.approx(1.0)


def test_log_ratio_uses_bars_with_both_positive_only():
    lr = log_ratio([0, 10, 100, 1000, np.nan, 5], [7, 1, 10, 100, 3, 0])
    assert lr.n == 3
    assert lr.median == pytest.approx(1.0)
    assert math.isnan(log_ratio([1, 2], [0, 0]).median)
    assert math.isnan(log_ratio([1, 2, 3], [5, 5, 5]).slope)  # constant truth: no slope


def test_moved_bars_threshold_and_sides():
    bars = pd.DataFrame(
        {"open": [100.0, 100, 100], "high": [100.2, 100.05, 100.12], "low": [99.95, 99.8, 99.88]}
    )
    assert moved_bars(bars, "long").tolist() == [False, True, True]
    assert moved_bars(bars, "short").tolist() == [True, False, True]
    assert moved_bars(bars, "short", threshold=0.0015).tolist() == [True, False, False]
    with pytest.raises(InputError, match="side"):
        moved_bars(bars, "up")


def test_no_sweep_share():
    assert no_sweep_share([0, 3, 0, 0], [True, True, True, False]) == pytest.approx(2 / 3)
    assert no_sweep_share([0, 3, np.nan], [True, True, True]) == 0.5
    assert math.isnan(no_sweep_share([0, 0], [False, False]))
    with pytest.raises(InputError, match="length"):
        no_sweep_share([0, 1], [True])


# ------------------------------------------------------------------------------------------------
# bootstrap
def _ar1(rng: np.random.Generator, n: int, phi: float) -> np.ndarray:
    e = rng.normal(size=n)
    x = np.empty(n)
    x[0] = e[0]
    for i in range(1, n):
        x[i] = phi * x[i - 1] + e[i]
    return x


def test_bootstrap_ci_covers_the_true_mean_at_about_its_level():
    # autocorrelated bars (AR(1), phi 0.5): the block bootstrap should cover the true mean 0
    # about 90% of the time; an i.i.d. bootstrap (block 1) would be too narrow
    rng = np.random.default_rng(11)
    covered = []
    for rep in range(200):
        x = _ar1(rng, 400, 0.5)
        _, lo, hi = bootstrap_ci(np.mean, x, n_boot=300, block=20, seed=rep)
        covered.append(lo <= 0 <= hi)
    assert 0.80 <= np.mean(covered) <= 0.97


def test_bootstrap_ci_keeps_pairs_and_is_reproducible():
    rng = np.random.default_rng(5)
    x = rng.normal(size=300)
    y = x + 0.5 * rng.normal(size=300)
    point, lo, hi = bootstrap_ci(spearman, x, y, seed=1)
    assert point == spearman(x, y)
    assert 0.75 < lo < point < hi < 0.95  # pairs kept together: rho stays far from 0
    assert bootstrap_ci(spearman, x, y, seed=1) == (point, lo, hi)
    assert bootstrap_ci(spearman, x, y, seed=2) != (point, lo, hi)


def test_bootstrap_ci_rejects_bad_arguments():
    with pytest.raises(InputError, match="length"):
        bootstrap_ci(spearman, [1, 2, 3], [1, 2])
    with pytest.raises(InputError, match="block"):
        bootstrap_ci(np.mean, [1.0, 2.0, 3.0], block=4)
    with pytest.raises(InputError, match="level"):
        bootstrap_ci(np.mean, [1.0, 2.0, 3.0], level=1.0)
    with pytest.raises(InputError, match="at least one"):
        bootstrap_ci(np.mean)


def test_bootstrap_ci_nan_replicates_are_left_out():
    # a constant series has no Spearman: point and bounds are NaN, no error
    point, lo, hi = bootstrap_ci(spearman, np.ones(50), np.arange(50.0))
    assert math.isnan(point) and math.isnan(lo) and math.isnan(hi)


# ------------------------------------------------------------------------------------------------
# per-bin fill metrics
def test_emd_bp_hand_computed():
    assert emd_bp([1, 0, 0], [0, 0, 1], 10.0) == pytest.approx(20.0)
    assert emd_bp([0, 0, 2], [0, 0, 7], 10.0) == 0.0  # scale does not matter
    # half the mass moves one bin: 0.5 * 25 bp
    assert emd_bp([1, 1, 0], [0, 2, 0], 25.0) == pytest.approx(12.5)
    assert emd_bp([1, 1, 1, 1], [0, 1, 1, 0], 10.0) == pytest.approx(5.0)


def test_emd_bp_is_symmetric_and_mirror_invariant():
    rng = np.random.default_rng(7)
    a, b = rng.random(30), rng.random(30)
    assert emd_bp(a, b, 5.0) == pytest.approx(emd_bp(b, a, 5.0))
    assert emd_bp(a[::-1], b[::-1], 5.0) == pytest.approx(emd_bp(a, b, 5.0))


def test_emd_bp_empty_distribution_and_bad_input():
    assert math.isnan(emd_bp([0, 0], [1, 0], 10.0))
    with pytest.raises(InputError, match="length"):
        emd_bp([1, 0], [1, 0, 0], 10.0)
    with pytest.raises(InputError, match=">= 0"):
        emd_bp([1, -1], [1, 0], 10.0)
    with pytest.raises(InputError, match="bin_bp"):
        emd_bp([1, 0], [1, 0], 0.0)


def test_densest_capture_hand_computed():
    # 10 bins, k = 2: estimate's densest bins 3 and 7 hold 30 + 10 of 100
    truth = np.array([5, 5, 0, 30, 0, 20, 10, 10, 10, 10.0])
    est = np.array([1, 1, 1, 9, 1, 1, 1, 8, 1, 1.0])
    assert densest_capture(est, truth) == (pytest.approx(0.4), 0.2)
    # ties at the boundary share the places: bin 3 and half of each of bins 5 and 7
    est2 = np.array([0, 0, 0, 9, 0, 4, 0, 4, 0, 0.0])
    assert densest_capture(est2, truth)[0] == pytest.approx((30 + 0.5 * 20 + 0.5 * 10) / 100)


def test_densest_capture_flat_or_zero_estimate_is_exactly_chance():
    rng = np.random.default_rng(8)
    truth = rng.random(37) * 1e6
    for est in (np.ones(37), np.zeros(37)):
        captured, chance = densest_capture(est, truth, 0.2)
        assert chance == 8 / 37
        assert captured == pytest.approx(chance)


def test_densest_capture_permutation_invariant():
    rng = np.random.default_rng(9)
    est, truth = rng.random(50), rng.random(50)
    p = rng.permutation(50)
    assert densest_capture(est[p], truth[p]) == pytest.approx(densest_capture(est, truth))
    assert math.isnan(densest_capture(est, np.zeros(50))[0])
    with pytest.raises(InputError, match="share"):
        densest_capture(est, truth, 1.0)
