"""The accuracy metrics on hand-built frames with exact answers, and the report on real data."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from conftest import SHARED_DATA

from liq_indicator import HeatmapConfig
from liq_indicator.errors import InputError
from liq_indicator.research.validation import (
    adverse_range,
    direction_hit_rate,
    hourly_sum,
    on_buckets,
    oos_r2_gain,
    r2_score,
    sim_accuracy,
    spearman,
    top_overlap,
    top_share_capture,
)

TRUTH_CSV = SHARED_DATA / "truth" / "btc_liquidations_oi_1h_all_exchanges.csv"
needs_truth = pytest.mark.skipif(
    not TRUTH_CSV.exists(),
    reason=f"real liquidation data not found at {SHARED_DATA} (it sits beside the repo in CI; "
    "on a user's machine the real-data validation test is skipped)",
)


# ------------------------------------------------------------------------------------------------
# metrics


def test_spearman_on_known_ranks():
    # y ranks [1, 2, 3.5, 5, 3.5]: centred x = [-2..2], centred ranks [-2, -1, .5, 2, .5]
    # -> 8 / sqrt(10 * 9.5)
    assert spearman([1, 2, 3, 4, 5], [5, 6, 7, 8, 7]) == pytest.approx(8 / math.sqrt(95), abs=1e-15)
    assert spearman([1, 2, 3, 4], [1, 10, 100, 1000]) == pytest.approx(1.0)
    assert spearman([1, 2, 3, 4], [4, 3, 2, 1]) == pytest.approx(-1.0)


def test_spearman_drops_nan_pairs_and_rejects_constants():
    assert spearman([1, 2, np.nan, 3, 4], [2, 3, 100, 4, 5]) == pytest.approx(1.0)
    assert math.isnan(spearman([1, 1, 1, 1], [1, 2, 3, 4]))
    assert math.isnan(spearman([1, 2], [1, 2]))
    with pytest.raises(InputError, match="length"):
        spearman([1, 2, 3], [1, 2])


def test_r2_score_exact():
    # SSE = 1, SST around mean 2.5 = 5
    assert r2_score([1, 2, 3, 4], [1, 2, 3, 5]) == pytest.approx(0.8)
    assert r2_score([1, 2, 3], [1, 2, 3]) == 1.0


def test_oos_r2_gain_on_orthogonal_design():
    # y = x1 + x2 with x1, x2 zero-mean and orthogonal in both parts: the base fit is y ~ x1
    # exactly (intercept 0, slope 1), so R² base = sum x1² / (sum x1² + sum x2²) = 4 / 20
    x1 = np.array([1.0, -1, 1, -1] * 2)
    x2 = np.array([2.0, 2, -2, -2] * 2)
    fit = np.r_[np.ones(4, bool), np.zeros(4, bool)]
    g = oos_r2_gain(x1 + x2, x1, x2, fit, ~fit)
    assert g.base == pytest.approx(0.2)
    assert g.combined == pytest.approx(1.0)
    assert g.gain == pytest.approx(0.8)
    assert (g.n_fit, g.n_test) == (4, 4)
    assert g.coef == pytest.approx((0.0, 1.0, 1.0), abs=1e-12)


def test_oos_r2_gain_of_noise_is_not_positive():
    rng = np.random.default_rng(1)
    base = rng.normal(size=400)
    y = base + rng.normal(size=400) * 0.5
    noise = rng.normal(size=400)
    fit = np.arange(400) < 200
    assert oos_r2_gain(y, base, noise, fit, ~fit).gain < 0.01


def test_oos_r2_gain_refuses_overlapping_parts():
    with pytest.raises(InputError, match="overlap"):
        oos_r2_gain(
            np.arange(8.0), np.arange(8.0), np.arange(8.0), np.ones(8, bool), np.ones(8, bool)
        )


def test_top_overlap_on_a_known_set():
    est = np.arange(10.0, 0, -1)  # top 2 predicted: rows 0, 1
    real = np.array([1, 100, 50, 0, 0, 0, 0, 0, 0, 0.0])  # top 2 real: rows 1, 2
    ov = top_overlap(est, real, share=0.2)
    assert (ov.precision, ov.recall, ov.n_predicted, ov.n_real) == (0.5, 0.5, 2, 2)


def test_top_overlap_counts_ties_and_never_detects_zero():
    est = np.array([5, 5, 5, 1, 1, 1, 1, 1, 1, 1.0])
    real = np.array([0, 0, 9, 1, 1, 1, 1, 1, 1, 1.0])
    ov = top_overlap(est, real, share=0.1)  # k = 1: the three tied 5s are all predicted
    assert (ov.precision, ov.recall, ov.n_predicted) == (pytest.approx(1 / 3), 1.0, 3)
    none = top_overlap(np.zeros(10), real, share=0.1)
    assert math.isnan(none.precision) and none.recall == 0.0 and none.n_predicted == 0


def test_direction_hit_rate_skips_ties_and_respects_the_mask():
    el = [2, 0, 1, 0, 1]
    es = [1, 3, 1, 0, 2]
    rl = [5, 1, 3, 2, 3]
    rs = [1, 4, 1, 1, 1]
    # rows 2 and 3 tie in the estimate; rows 0, 1 hit; row 4 misses
    d = direction_hit_rate(el, es, rl, rs)
    assert (d.hit_rate, d.n) == (pytest.approx(2 / 3), 3)
    d = direction_hit_rate(el, es, rl, rs, mask=[True, True, True, True, False])
    assert (d.hit_rate, d.n) == (1.0, 2)
    assert math.isnan(direction_hit_rate([0], [0], [1], [2]).hit_rate)


# ------------------------------------------------------------------------------------------------
# hour tables


def test_adverse_range_exact():
    c = pd.DataFrame({"open": [100.0, 200.0], "high": [110.0, 202.0], "low": [95.0, 150.0]})
    np.testing.assert_allclose(adverse_range(c, "long"), [0.05, 0.25])
    np.testing.assert_allclose(adverse_range(c, "short"), [0.10, 0.01])
    with pytest.raises(InputError):
        adverse_range(c, "up")


def test_hourly_sum_keeps_complete_hours_only():
    frame = pd.DataFrame(
        {
            "date": pd.date_range("2025-01-01", periods=24, freq="5min", tz="UTC"),
            "x": np.arange(24.0),
        }
    )
    out = hourly_sum(frame, ["x"])
    assert out["x"].tolist() == [sum(range(12)), sum(range(12, 24))]
    partial = hourly_sum(frame.iloc[:-1], ["x"])
    assert partial["x"].tolist() == [sum(range(12))]


def test_top_share_capture_exact():
    share, chance, total = top_share_capture([0, 5, 1, 9], [10, 20, 30, 40], top_share=0.5)
    assert (share, chance, total) == (0.6, 0.5, 100.0)


def test_on_buckets_sums_into_the_global_grid():
    d = math.log1p(50 / 1e4)
    k = 2000
    inside = math.exp((k + 0.5) * d)
    vals = on_buckets(
        [inside, inside, math.exp((k + 1.5) * d), math.exp((k + 9.5) * d)], [1, 2, 4, 8], k, 3, 50
    )
    np.testing.assert_allclose(vals, [3, 4, 0])


def test_sim_accuracy_runs_on_a_short_simulation():
    from liq_indicator.sim.market import SimConfig, simulate

    result = simulate(
        3, timeframe="5m", seed=2, scenario="cascade", config=SimConfig(snapshot_every_hours=6.0)
    )
    acc = sim_accuracy(result, HeatmapConfig(), skip="1D")
    assert acc["bars"] == 48 and acc["snapshots"] >= 7
    for side in ("long", "short"):
        assert -1 <= acc[f"{side}_spearman_swept"] <= 1
        assert -1 <= acc[f"{side}_map_spearman_mean"] <= 1
        assert 0 <= acc[f"{side}_chance_est"] <= 1


# ------------------------------------------------------------------------------------------------
# the real report


@needs_truth
@pytest.mark.realdata
def test_validate_report_on_real_data(tmp_path):
    from liq_indicator.cli import main

    out = tmp_path / "VALIDATION.md"
    img = tmp_path / "img"
    argv = ["validate", "--data", str(SHARED_DATA), "--out", str(out), "--img-dir", str(img)]
    argv += ["--boot", "20", "--sim-days", "4", "--sim-scenarios", "cascade"]
    assert main(argv) == 0
    text = out.read_text()
    for heading in ("## Headline", "## When", "## How much", "## Where", "## Ground truth"):
        assert heading in text
    # every target gets a verdict, and every truth series a row
    assert text.count("**met**") + text.count("**not met**") >= 5
    for series in ("binance_4h", "all_1h", "binance_1d", "coinalyze_binance_1d"):
        assert f"| {series} |" in text
    pngs = sorted(img.glob("validation_*.png"))
    assert [p.name for p in pngs] == [
        "validation_fills.png",
        "validation_sim.png",
        "validation_spearman.png",
    ]
    assert all(p.stat().st_size < 200_000 for p in pngs)
