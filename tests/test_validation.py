"""The accuracy metrics on hand-built frames with exact answers, and the report on real data."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from conftest import SHARED_DATA, make_candles

from liq_indicator import HeatmapConfig
from liq_indicator.errors import InputError
from liq_indicator.research.validation import (
    adverse_range,
    candidate_axes,
    direction_hit_rate,
    estimate_hourly,
    hour_table,
    hourly_sum,
    on_buckets,
    oos_r2_gain,
    r2_score,
    score_hours,
    sim_accuracy,
    spearman,
    top_overlap,
    top_share_capture,
    walk_forward_select,
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


def _truth_and_candles():
    dates = pd.date_range("2025-01-01", periods=4, freq="1h", tz="UTC")
    candles = pd.DataFrame(
        {
            "date": dates,
            "open": [100.0, 100, 100, 100],
            "high": [101.0, 110, 100, 102],
            "low": [99.0, 100, 90, 98],
            "close": [100.0, 105, 95, 100],
            "volume": [1.0, 2, 3, 4],
        }
    )
    truth = pd.DataFrame(
        {
            "date": dates,
            "liquidation_long_usd": [1.0, 2, 30, 4],
            "liquidation_short_usd": [5.0, 60, 7, 8],
            "oi_open": [1000.0, 1000, 2000, 2000],
        }
    )
    estimate = pd.DataFrame({"est_long": [0.0, 0, 9, 1], "est_short": [0.0, 9, 0, 1]}, index=dates)
    return truth, candles, estimate


def test_hour_table_baselines_and_parts():
    truth, candles, estimate = _truth_and_candles()
    t = hour_table(truth, candles, estimate, split=pd.Timestamp("2025-01-01 02:00", tz="UTC"))
    assert t["part"].tolist() == ["select", "select", "test", "test"]
    # volume in USD = volume x close; adverse range long = (open - low) / open
    np.testing.assert_allclose(t["base_vol_long"], [0.01 * 100, 0.0, 0.10 * 285, 0.02 * 400])
    np.testing.assert_allclose(t["base_oi_short"], [0.01 * 1000, 0.10 * 1000, 0.0, 0.02 * 2000])
    np.testing.assert_allclose(t["real_short"], [5, 60, 7, 8])


def test_score_hours_on_a_perfect_estimate():
    rng = np.random.default_rng(0)
    n = 200
    dates = pd.date_range("2025-01-01", periods=n, freq="1h", tz="UTC")
    real = rng.lognormal(12, 2, (2, n))
    table = pd.DataFrame(
        {
            "real_long": real[0],
            "real_short": real[1],
            "est_long": real[0] * 3,
            "est_short": real[1] * 3,
            "adv_long": rng.random(n),
            "adv_short": rng.random(n),
            "base_vol_long": rng.random(n),
            "base_vol_short": rng.random(n),
            "base_oi_long": rng.random(n),
            "base_oi_short": rng.random(n),
            "part": np.where(np.arange(n) < n // 2, "select", "test"),
        },
        index=dates,
    )
    s = score_hours(table, min_real_usd=0)
    assert s["hours_select"] == s["hours_test"] == 100
    for side in ("long", "short"):
        assert s[f"{side}_spearman_map"] == pytest.approx(1.0)
        assert s[f"{side}_top_precision_map"] == s[f"{side}_top_recall_map"] == 1.0
        assert s[f"{side}_r2_gain_vol"] > 0.9
    assert s["direction_map"] == 1.0


def test_estimate_hourly_does_not_modify_its_inputs():
    candles = make_candles(n=48, timeframe="5min", oi=False)
    oi = make_candles(n=4, timeframe="1h", oi=True)[["date", "open_interest_value"]]
    before, oi_before = candles.copy(deep=True), oi.copy(deep=True)
    out = estimate_hourly(candles, HeatmapConfig(), open_interest=oi)
    pd.testing.assert_frame_equal(candles, before)
    pd.testing.assert_frame_equal(oi, oi_before)
    assert list(out.columns) == ["est_long", "est_short"] and len(out) == 4


# ------------------------------------------------------------------------------------------------
# walk-forward selection


def test_walk_forward_select_adopts_only_clear_gains():
    def objective(c: HeatmapConfig) -> float:
        return (
            0.1 * (c.entry_price == "close")
            - abs(c.bin_bp - 5) / 1000
            + 0.001 * (c.direction_tilt == 0.1)
        )  # the tilt's gain is below min_gain

    sel = walk_forward_select(
        objective, HeatmapConfig(), candidate_axes(HeatmapConfig()), min_gain=0.004
    )
    assert sel.config.entry_price == "close"
    assert sel.config.bin_bp == 5.0  # +0.005 over 10 bp
    assert sel.config.direction_tilt == 0.0
    assert [a for a, _ in sel.changes] == ["entry_price", "bin_bp"]
    rejected = sel.trace[sel.trace["objective"].isna()]
    assert set(rejected["axis"]) <= {"position_notional"}
    assert sel.trace.groupby("axis")["chosen"].sum().eq(1).all()


def test_candidate_axes_give_valid_configs():
    base = HeatmapConfig()
    for _axis, options in candidate_axes(base):
        for _label, change in options:
            cfg = change(base)
            assert abs(sum(cfg.weights) - 1) < 1e-9


# ------------------------------------------------------------------------------------------------
# simulator figures


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
    from liq_indicator.cli.validate import load_truth_window
    from liq_indicator.research.validation import truth_window_experiment

    res = truth_window_experiment(load_truth_window(SHARED_DATA, "2026-01-16"))
    sc = res.scores
    assert len(sc) == 8 and (sc["hours_test"] > 500).all() and (sc["hours_select"] > 900).all()
    for side in ("long", "short"):
        assert sc[f"{side}_spearman_map"].between(0.3, 1).all()
        assert sc[f"{side}_spearman_vol"].between(0.5, 1).all()
        assert sc[f"{side}_r2_gain_vol"].between(-0.3, 0.6).all()
        assert sc[f"{side}_top_precision_map"].between(0.05, 1).all()
    assert sc["direction_map"].between(0.5, 1).all()
    assert res.info["warmup_hours"] == 78

    out = tmp_path / "VALIDATION.md"
    img = tmp_path / "img"
    assert (
        main(
            [
                "validate",
                "--data",
                str(SHARED_DATA),
                "--out",
                str(out),
                "--img-dir",
                str(img),
                "--sim-days",
                "4",
                "--sim-scenarios",
                "cascade",
            ]
        )
        == 0
    )
    text = out.read_text()
    for heading in (
        "## Headline",
        "## Choosing the settings",
        "## Individual fills",
        "## Ground truth",
    ):
        assert heading in text
    pngs = sorted(img.glob("validation_*.png"))
    assert len(pngs) == 5
    assert all(p.stat().st_size < 200_000 for p in pngs)
