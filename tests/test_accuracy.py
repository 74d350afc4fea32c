"""research.accuracy: the validation experiments' plumbing on small synthetic frames, and a short
real-data run (skipped without the shared data)."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from conftest import SHARED_DATA, make_candles, needs_shared_data

from liq_indicator import HeatmapConfig
from liq_indicator.errors import InputError
from liq_indicator.research.accuracy import (
    SeriesInputs,
    candle_set,
    causal_value_at,
    fill_summary,
    fill_windows,
    oi_frame,
    score_bars,
    series_scores,
    volume_profile,
)
from liq_indicator.research.calibration import bar_table
from liq_indicator.research.truth import TruthSeries
from tests.helpers import synthetic_truth

# ------------------------------------------------------------------------------------------------
# inputs


def test_oi_frame_keeps_bar_starts_and_the_closing_value():
    bars = pd.DataFrame(
        {
            "date": ["2025-01-01 04:00:00+00:00", "2025-01-01 00:00:00+00:00"],
            "oi_close_usd": [2.0, 1.0],
        }
    )
    out = oi_frame(bars)
    assert out["open_interest_value"].tolist() == [1.0, 2.0]
    assert out["date"].iloc[0] == pd.Timestamp("2025-01-01", tz="UTC")
    assert str(out["date"].dtype) == "datetime64[us, UTC]"


def test_oi_frame_rejects_missing_columns_and_bad_values():
    with pytest.raises(InputError, match="oi_close_usd"):
        oi_frame(pd.DataFrame({"date": ["2025-01-01"], "oi": [1.0]}))
    with pytest.raises(InputError, match="non-positive"):
        oi_frame(pd.DataFrame({"date": ["2025-01-01", "2025-01-02"], "oi_close_usd": [1.0, 0.0]}))


def test_causal_value_at_waits_for_the_rows_close():
    f = pd.DataFrame(
        {"date": pd.date_range("2025-01-01", periods=3, freq="4h", tz="UTC"), "v": [1.0, 2.0, 3.0]}
    )
    at = pd.DatetimeIndex(
        ["2025-01-01 00:00", "2025-01-01 04:00", "2025-01-01 07:59", "2025-01-02"], tz="UTC"
    )
    got = causal_value_at(f, "v", at)
    assert math.isnan(got[0])  # the first row is known only at 04:00
    assert got[1:].tolist() == [1.0, 1.0, 3.0]


def test_candle_set_resamples_to_midnight_anchored_bars():
    c = make_candles(n=288 * 2, start="2024-01-01 00:00")
    cs = candle_set(c)
    assert list(cs) == ["5m", "1h", "4h"]
    assert len(cs["1h"]) == 48 and len(cs["4h"]) == 12
    assert cs["4h"]["date"].dt.hour.tolist()[:6] == [0, 4, 8, 12, 16, 20]
    assert cs["4h"]["high"].iloc[0] == c["high"].iloc[:48].max()


def test_volume_profile_spreads_a_candle_over_its_range():
    c = pd.DataFrame(
        {
            "low": [100.0, 104.0],
            "high": [110.0, 104.0],
            "close": [105.0, 104.0],
            "volume": [2.0, 1.0],
        }
    )
    vp = volume_profile(c, np.array([100.0, 105.0, 110.0, 115.0]))
    # 210 USD half and half; the flat candle's 104 USD in the bin holding 104
    assert vp.tolist() == pytest.approx([105.0 + 104.0, 105.0, 0.0])


# ------------------------------------------------------------------------------------------------
# when and how much


def _table(n: int = 60, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    real = rng.lognormal(15, 1, n)
    idx = pd.date_range("2025-01-01", periods=n, freq="4h", tz="UTC")
    t = pd.DataFrame(index=idx)
    for s in ("long", "short"):
        t[f"real_{s}"] = real
        t[f"est_{s}"] = real * 10.0
        t[f"base_vol_{s}"] = real * rng.lognormal(0, 1, n)
        t[f"base_oi_{s}"] = np.nan
        t[f"moved_{s}"] = np.arange(n) % 2 == 0
    return t


def test_score_bars_on_a_proportional_estimate():
    t = _table()
    t.loc[t.index[0], "est_long"] = 0.0  # a moved bar the map left at zero
    out = score_bars(t, "long", n_boot=50)
    assert out["rho_map"] > out["rho_vol"]
    assert out["win"] is True
    assert out["log_ratio"] == pytest.approx(1.0)
    assert out["log_ratio_lo"] == pytest.approx(1.0) and out["log_ratio_hi"] == pytest.approx(1.0)
    assert out["slope"] == pytest.approx(1.0)
    assert out["no_sweep"] == pytest.approx(1 / 30)
    assert math.isnan(out["rho_oi"]) and out["rho_best_base"] == out["rho_vol"]
    assert out["rho_map_lo"] <= out["rho_map"] <= out["rho_map_hi"]


def test_score_bars_loses_to_a_better_baseline():
    t = _table()
    t["base_oi_short"] = t["real_short"]  # a perfect OI baseline
    t["est_short"] = t["base_vol_short"]
    out = score_bars(t, "short", n_boot=20)
    assert out["rho_oi"] == pytest.approx(1.0)
    assert out["win"] is False


def test_series_scores_drops_the_calibration_window_and_scores_every_cell_on_one_set_of_bars():
    c = make_candles(n=288 * 8, seed=3, start="2024-01-01")
    oi = oi_frame(
        candle_set(c)["4h"].assign(oi_close_usd=lambda f: 5e9 + f["close"])[
            ["date", "oi_close_usd"]
        ]
    )
    truth = synthetic_truth(c, "4h")
    exclude = ("2024-01-05 00:00", "2024-01-06 20:00")
    inputs = SeriesInputs(truth, candle_set(c), oi, exclude=exclude)
    cfg = HeatmapConfig()
    scores, skipped = series_scores(
        inputs,
        [("a", cfg), ("b", cfg.replace(volume_share=cfg.volume_share / 2))],
        warmup="1D",
        n_boot=20,
    )
    assert len(scores) == 3 * 2 * 2 * 2  # timeframes x inflows x sides x models
    assert scores["bars"].nunique() == 1 and scores["first"].nunique() == 1
    n = scores["bars"].iloc[0]
    # 8 days of 4h bars, less 1 day of warm-up and the 12 bars of the calibration window
    assert n == 8 * 6 - 6 - 12
    assert scores["first"].iloc[0] >= pd.Timestamp("2024-01-02", tz="UTC")
    assert skipped == []
    # the model's magnitude moves the log ratio only: half the inflow, log10(0.5) lower
    a = scores[
        (scores["model"] == "a") & (scores["timeframe"] == "5m") & (scores["inflow"] == "volume")
    ]
    b = scores[
        (scores["model"] == "b") & (scores["timeframe"] == "5m") & (scores["inflow"] == "volume")
    ]
    assert (b["log_ratio"].to_numpy() - a["log_ratio"].to_numpy()) == pytest.approx(
        np.log10(0.5), abs=1e-9
    )
    assert (b["rho_map"].to_numpy() == a["rho_map"].to_numpy()).all()


def test_series_scores_skips_candles_longer_than_the_bar_and_says_why():
    c = make_candles(n=288 * 4, seed=4)
    inputs = SeriesInputs(synthetic_truth(c, "1h"), candle_set(c), None)
    scores, skipped = series_scores(inputs, [("a", HeatmapConfig())], warmup="1D", n_boot=10)
    assert sorted(scores["timeframe"].unique()) == ["1h", "5m"]
    assert set(scores["inflow"]) == {"volume"}
    assert any("4h candles" in s for s in skipped) and any("open interest" in s for s in skipped)


def test_series_scores_refuses_when_nothing_is_left():
    c = make_candles(n=288 * 2, seed=5)
    inputs = SeriesInputs(synthetic_truth(c, "4h"), candle_set(c), None)
    with pytest.raises(InputError, match="bars left to score"):
        series_scores(inputs, [("a", HeatmapConfig())], warmup="30D")


def test_the_oi_baseline_uses_only_the_oi_known_at_the_bars_open():
    c = make_candles(n=288 * 3, seed=6)
    truth = synthetic_truth(c, "4h")
    bars = candle_set(c)["4h"]
    # OI per 4h bar whose closing value jumps: a baseline peeking one bar ahead would rank it
    oi = oi_frame(
        bars.assign(oi_close_usd=np.arange(1, len(bars) + 1) * 1e9)[["date", "oi_close_usd"]]
    )
    inputs = SeriesInputs(truth, {"5m": candle_set(c)["5m"]}, oi)
    scores, _ = series_scores(
        inputs, [("a", HeatmapConfig())], timeframes=("5m",), warmup="1D", n_boot=10
    )
    t = bar_table(truth, c, HeatmapConfig(), open_interest=oi)
    i = t.index[10]
    o = t.loc[i, "open"]
    # the value known at bar i's open is the close of bar i-1: 10e9 (rows dated 0..9 are closed)
    expect = (o - t.loc[i, "low"]) / o * 10e9
    assert t.loc[i, "base_oi_long"] == pytest.approx(expect)
    # a volume-inflow map scored against the same OI baseline
    v = bar_table(truth, c, HeatmapConfig(), oi_baseline=oi)
    assert v.loc[i, "base_oi_long"] == pytest.approx(expect)
    assert np.isfinite(scores["rho_oi"]).all()


# ------------------------------------------------------------------------------------------------
# where


def _fills(c: pd.DataFrame, hours: list[int], side: str, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    rows = []
    for h in hours:
        w = c[c["date"].dt.floor("h") == c["date"].iloc[0].floor("h") + pd.Timedelta(hours=h)]
        for _ in range(5):
            k = int(rng.integers(len(w)))
            rows.append(
                {
                    "date": w["date"].iloc[k] + pd.Timedelta("1min"),
                    "side": side,
                    "price": float(w["high"].iloc[k] if side == "short" else w["low"].iloc[k]),
                    "size_usd": float(rng.uniform(1e4, 1e5)),
                    "venue": "binance",
                }
            )
    return pd.DataFrame(rows)


def test_fill_windows_scores_each_window_against_the_map_before_it():
    c = make_candles(n=288 * 40, seed=7, vol=0.002)
    fills = _fills(c, [24 * 38 + 3, 24 * 38 + 9], "short")
    before = (c.copy(), fills.copy())
    windows, per_fill = fill_windows(fills, c, HeatmapConfig(), warmup="30D", profile="7D")
    pd.testing.assert_frame_equal(c, before[0])
    pd.testing.assert_frame_equal(fills, before[1])
    assert len(windows) == 2 and (windows["side"] == "short").all()
    assert windows["fills"].tolist() == [5, 5]
    assert windows["usd"].sum() == pytest.approx(fills["size_usd"].sum())
    assert (windows["clipped"] == 0).all()  # fills at candle highs lie inside the traded range
    assert ((windows["chance"] > 0.19) & (windows["chance"] < 0.5)).all()
    assert (
        np.isfinite(windows[["emd_map", "emd_uniform", "emd_profile", "emd_same_side"]]).all().all()
    )
    assert len(per_fill) == 10 and (per_fill["fill_pct"] >= 0).all()
    s = fill_summary(windows, per_fill, n_boot=20)
    assert s["windows"] == 2 and s["fills"] == 10
    assert s["capture_ratio"] == pytest.approx(s["capture_map"] / s["chance"])


def test_fill_windows_is_causal_later_candles_change_nothing():
    c = make_candles(n=288 * 40, seed=8, vol=0.002)
    fills = _fills(c, [24 * 38 + 5], "long")
    a, _ = fill_windows(fills, c, HeatmapConfig())
    wild = c.copy()
    start = fills["date"].min().floor("h")
    later = wild["date"] >= start + pd.Timedelta("1h")
    wild.loc[later, ["open", "high", "low", "close"]] *= 0.5
    b, _ = fill_windows(fills, wild, HeatmapConfig())
    pd.testing.assert_frame_equal(a, b)


def test_fill_windows_needs_warm_up_history():
    c = make_candles(n=288 * 5, seed=9)
    with pytest.raises(InputError, match="do not cover"):
        fill_windows(_fills(c, [30], "short"), c, HeatmapConfig())


# ------------------------------------------------------------------------------------------------
# real data


@needs_shared_data
def test_real_binance_4h_and_whalebot_fills_score_sanely():
    from liq_indicator.io.datadir import read_candles
    from liq_indicator.research.truth import shared_fills, shared_truth

    hist = read_candles(SHARED_DATA / "history/binance/futures/BTC_USDT_USDT-5m-futures.feather")
    truth = shared_truth("binance_4h", SHARED_DATA).between("2025-03-01", "2025-05-01")
    c = hist[(hist["date"] >= "2025-01-15") & (hist["date"] < "2025-05-01")]
    oi = oi_frame(
        pd.read_csv(SHARED_DATA / "truth/coinglass_btc_open_interest_4h_all_exchanges.csv")
    )
    scores, _ = series_scores(
        SeriesInputs(truth, candle_set(c), oi), [("default", HeatmapConfig())], n_boot=30
    )
    assert len(scores) == 12
    assert scores["bars"].iloc[0] > 300
    # liquidations follow adverse moves: every ranking is clearly positive
    assert (scores[["rho_map", "rho_vol", "rho_oi"]] > 0.3).all().all()
    assert (scores["rho_map_lo"] <= scores["rho_map"]).all() and (
        scores["rho_map"] <= scores["rho_map_hi"]
    ).all()
    fills = shared_fills("whalebot_2025_09", SHARED_DATA)
    windows, per_fill = fill_windows(fills, hist, HeatmapConfig(), tolerance=0.003)
    s = fill_summary(windows, per_fill, n_boot=30)
    assert s["fills"] + 0 <= len(fills) and s["windows"] >= 10
    assert 0 < s["chance"] < 0.5 and s["emd_uniform"] > 0


# --- venue share (the all-exchange preset's scale) ----------------------------------------------


def _series(name: str, venue: str, long: list[float], short: list[float]) -> TruthSeries:
    index = pd.date_range("2024-01-01", periods=len(long), freq="1D", tz="UTC").as_unit("us")
    frame = pd.DataFrame({"long_usd": long, "short_usd": short}, index=index)
    return TruthSeries(name, venue, pd.Timedelta("1D"), frame, "synthetic")


def test_venue_share_pools_both_sides_over_the_last_days_of_common_bars():
    from liq_indicator.research.calibration import venue_share

    part = _series("b", "binance", [1.0, 1.0, 2.0, 3.0], [0.0, 1.0, 1.0, 1.0])
    whole = _series("all", "all", [10.0, 4.0, 4.0, 6.0], [1.0, 4.0, 4.0, 4.0])
    whole = TruthSeries("all", "all", whole.bar, whole.frame.drop(whole.frame.index[2]), "x")
    vs = venue_share(part, whole, days=2.5)  # common bars 0, 1, 3; the last 2.5 days: 1 and 3
    assert vs.bars == 2 and vs.first == part.frame.index[1] and vs.last == part.frame.index[3]
    assert vs.share == pytest.approx((1 + 3 + 1 + 1) / (4 + 6 + 4 + 4))
    assert (vs.long, vs.short) == (pytest.approx(4 / 10), pytest.approx(2 / 8))
    with pytest.raises(InputError, match="more than"):
        venue_share(whole, part)
    with pytest.raises(InputError, match="share no bar"):
        venue_share(part, TruthSeries("x", "all", part.bar, part.frame.iloc[:0], "x"))


def test_all_exchange_series_are_scored_with_the_all_exchange_preset_first():
    from liq_indicator.cli.validate import series_models

    models = [
        ("shipped (btc-binance)", HeatmapConfig()),
        ("design", HeatmapConfig.preset("design")),
    ]
    assert series_models(models, "binance", "btc-all-exchanges") == (
        models,
        "shipped (btc-binance)",
    )
    chosen, shipped = series_models(models, "all", "btc-all-exchanges")
    assert shipped == "shipped (btc-all-exchanges)" == chosen[0][0]
    assert chosen[0][1] == HeatmapConfig.preset("btc-all-exchanges")
    assert chosen[1] == ("btc-binance, its venue's USD", models[0][1]) and chosen[2] == models[1]
    assert series_models(models, "all", "none") == (models, "shipped (btc-binance)")


def test_bar_table_merges_funding_as_the_map_does():
    c = make_candles(n=288 * 3, seed=8)
    truth = synthetic_truth(c, "4h")
    funding = pd.DataFrame(
        {"date": c["date"].iloc[::96].to_numpy(), "open": np.linspace(-3e-4, 3e-4, 9)}
    )
    cfg = HeatmapConfig(funding_skew=0.05)
    t = bar_table(truth, c, cfg, funding=funding)
    ref = bar_table(truth, c.assign(funding_rate=_merged_funding(c, funding)), cfg)
    pd.testing.assert_frame_equal(t, ref)
    assert not t["est_long"].equals(bar_table(truth, c, cfg)["est_long"])


def _merged_funding(c: pd.DataFrame, funding: pd.DataFrame) -> np.ndarray:
    """The 8h rate known at each 5m candle's close, by hand: a row dated T is known at T + 8h."""
    known = funding["date"] + pd.Timedelta("8h")
    close = c["date"] + pd.Timedelta("5min")
    pos = np.searchsorted(known.to_numpy(), close.to_numpy(), side="right") - 1
    return np.where(pos >= 0, funding["open"].to_numpy()[np.maximum(pos, 0)], np.nan)
