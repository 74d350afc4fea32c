"""Tests for research.ablation: the plumbing on synthetic frames, and a real-data smoke test."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from conftest import SHARED_DATA, make_candles, needs_shared_data

from liq_indicator import HeatmapConfig
from liq_indicator.errors import InputError
from liq_indicator.research.ablation import (
    TIE_RHO,
    AblationSeries,
    Variant,
    ablation_scores,
    ablation_summary,
    ablation_variants,
    balance,
    long_share_frame,
    render_model_changes,
)
from liq_indicator.research.accuracy import candle_set
from tests.helpers import synthetic_truth

DEFAULT = HeatmapConfig.preset("btc-binance")
DESIGN = HeatmapConfig.preset("design")


def _series(days: int = 8, seed: int = 3, **kw) -> AblationSeries:
    c = make_candles(n=288 * days, seed=seed, start="2024-01-01")
    return AblationSeries(synthetic_truth(c), candle_set(c), warmup="1D", **kw)


# ------------------------------------------------------------------------------------------------
# balance and inputs


def test_balance_is_the_difference_of_median_log_ratios_and_ignores_magnitude():
    t = pd.DataFrame(
        {
            "est_long": [2.0, 4.0, 8.0, 1.0],
            "est_short": [1.0, 1.0, 1.0, 0.0],  # the last bar is left out (a zero)
            "real_long": [1.0, 1.0, 1.0, 5.0],
            "real_short": [1.0, 1.0, 1.0, 5.0],
        }
    )
    assert balance(t) == pytest.approx(np.log10(4.0))
    scaled = t.assign(est_long=t["est_long"] * 7, est_short=t["est_short"] * 7)
    assert balance(scaled) == pytest.approx(balance(t))
    assert math.isnan(balance(t.assign(est_short=0.0)))


def test_long_share_frame_turns_percentages_into_fractions_and_names_missing_columns():
    raw = pd.DataFrame(
        {
            "date": ["2024-01-01 00:00:00+00:00"],
            "global_account_long_percent": [60.0],
            "top_position_long_percent": [45.0],
        }
    )
    out = long_share_frame(raw)
    assert out["global account"].iloc[0] == pytest.approx(0.6)
    assert out["top position"].iloc[0] == pytest.approx(0.45)
    with pytest.raises(InputError, match="top_position_long_percent"):
        long_share_frame(raw.drop(columns="top_position_long_percent"))


# ------------------------------------------------------------------------------------------------
# variants


def test_variants_read_what_is_kept_from_the_default():
    variants = {v.name: v for v in ablation_variants(DEFAULT, DESIGN)}
    assert variants["+ leverage bands"].kept == bool(DEFAULT.leverage_edges)
    assert variants["+ range entries"].kept == (DEFAULT.entry_price == "range")
    assert variants["default - same-candle"].kept == (DEFAULT.intracandle_sweep > 0)
    assert not variants["direction tilt 0.1"].kept
    # with the design as the default, none of the ladder's changes is kept
    as_design = {v.name: v for v in ablation_variants(DESIGN, DESIGN)}
    assert not as_design["+ range entries"].kept and not as_design["default - same-candle"].kept


def test_every_removal_differs_from_the_default_in_one_field():
    default = DEFAULT.to_dict()
    for v in ablation_variants(DEFAULT, DESIGN):
        if v.group == "removal":
            changed = {k for k, x in v.config.to_dict().items() if x != default[k]}
            # the same-candle rule is one concept in two fields (a fixed share, or by path)
            if changed <= {"intracandle_path", "intracandle_sweep"}:
                changed = {"same-candle"}
            assert len(changed) == 1, (v.name, changed)
            assert v.removes and v.reference == "default"


def test_every_reference_names_a_variant_and_names_are_unique():
    variants = ablation_variants(DEFAULT, DESIGN)
    names = [v.name for v in variants]
    assert len(set(names)) == len(names)
    assert {v.reference for v in variants if v.reference} <= set(names)


# ------------------------------------------------------------------------------------------------
# scoring


def test_the_magnitude_is_refitted_so_half_the_inflow_scores_the_same():
    s = _series(fit_end="2024-01-05")
    base = Variant("a", "alternative", DEFAULT, None, "base")
    half = Variant(
        "b", "alternative", DEFAULT.replace(volume_share=DEFAULT.volume_share / 2), "a", "half"
    )
    scores, skipped = ablation_scores([s], [base, half], n_boot=20)
    assert skipped == []
    assert len(scores) == 2 * 3 * 2  # variants x timeframes x sides
    a, b = (scores[scores["variant"] == n].reset_index(drop=True) for n in "ab")
    assert (b["multiplier"] / a["multiplier"]).to_numpy() == pytest.approx(2.0, rel=1e-9)
    for col in ("rho_map", "log_ratio", "no_sweep", "balance"):
        assert b[col].to_numpy() == pytest.approx(a[col].to_numpy(), abs=1e-9)
    assert b["d_rho"].to_numpy() == pytest.approx(0.0, abs=1e-12)
    assert a["d_rho"].isna().all()
    # scored only from the fit end on; every cell on the same bars
    assert (scores["first"] >= pd.Timestamp("2024-01-05", tz="UTC")).all()
    assert scores["bars"].nunique() == 1 and scores["fit_bars"].iloc[0] == 6 * 3  # Jan 2..4


def test_the_multiplier_fits_the_first_timeframe_on_the_fitting_bars():
    s = _series(fit_end="2024-01-05")
    scores, _ = ablation_scores([s], [Variant("a", "ladder", DEFAULT, None, "base")], n_boot=20)
    # fitted on 5m: its median log ratio is near 0 out of sample too, the others are the model's
    five = scores[scores["timeframe"] == "5m"]
    assert five["log_ratio"].abs().max() < 0.3
    assert scores["multiplier"].nunique() == 1


def test_a_variant_without_its_input_is_skipped_and_named():
    s = _series()
    variants = [
        Variant("a", "ladder", DEFAULT, None, "base"),
        Variant("ls", "alternative", DEFAULT, "a", "long share", long_share="global account"),
        Variant("oi", "open interest", DEFAULT, None, "oi", inflow="open interest"),
    ]
    scores, skipped = ablation_scores([s], variants, n_boot=20)
    assert set(scores["variant"]) == {"a"}
    assert len(skipped) == 2 and any("'ls'" in x for x in skipped)


def test_a_long_share_column_reaches_the_map():
    c = make_candles(n=288 * 8, seed=5, start="2024-01-01")
    dates = pd.date_range("2023-12-01", "2024-01-10", freq="4h", tz="UTC")
    ratios = pd.DataFrame({"date": dates, "global account": 0.95, "top position": 0.05})
    s = AblationSeries(synthetic_truth(c), candle_set(c), long_share=ratios, warmup="1D")
    variants = [
        Variant("a", "ladder", DEFAULT, None, "base"),
        Variant("long", "alternative", DEFAULT, "a", "", long_share="global account"),
        Variant("short", "alternative", DEFAULT, "a", "", long_share="top position"),
    ]
    scores, _ = ablation_scores([s], variants, n_boot=20)
    bal = scores.groupby("variant")["balance"].mean()
    assert bal["long"] > bal["a"] + 0.5 > bal["short"] + 1.0


def test_bad_variant_lists_and_short_series_are_refused():
    s = _series()
    a = Variant("a", "ladder", DEFAULT, None, "base")
    with pytest.raises(InputError, match="unique"):
        ablation_scores([s], [a, a])
    with pytest.raises(InputError, match="unknown"):
        ablation_scores([s], [a, Variant("b", "ladder", DEFAULT, "zzz", "x")])
    with pytest.raises(InputError, match="scored bars"):
        ablation_scores([_series(fit_end="2030-01-01")], [a], n_boot=20)


# ------------------------------------------------------------------------------------------------
# verdicts and the report


def _scores(rows: list[tuple[str, float]]) -> pd.DataFrame:
    """Score rows with a given d_rho per variant (two cells each), intervals +-0.01."""
    out = []
    for name, d in rows:
        for side in ("long", "short"):
            out.append(
                {
                    "series": "s",
                    "variant": name,
                    "inflow": "volume",
                    "timeframe": "5m",
                    "side": side,
                    "fit_bars": 10,
                    "bars": 10,
                    "first": pd.Timestamp("2024-01-01", tz="UTC"),
                    "last": pd.Timestamp("2024-01-02", tz="UTC"),
                    "multiplier": 1.0,
                    "rho_map": 0.8,
                    "rho_map_lo": 0.7,
                    "rho_map_hi": 0.9,
                    "rho_best_base": 0.7,
                    "top_map": 0.5,
                    "log_ratio": 0.1,
                    "no_sweep": 0.0,
                    "balance": 0.0,
                    "d_rho": d,
                    "d_rho_lo": d - 0.01,
                    "d_rho_hi": d + 0.01,
                }
            )
    return pd.DataFrame(out)


def test_verdicts_follow_the_sign_of_the_change_and_flag_disagreements():
    cfg = DEFAULT
    variants = [
        Variant("base", "ladder", cfg, None, "base"),
        Variant("kept win", "ladder", cfg, "base", "x", kept=True),
        Variant("kept removal", "removal", cfg, "base", "y", removes=True, kept=True),
        Variant("dropped win", "alternative", cfg, "base", "z"),
        Variant("tie", "alternative", cfg, "base", "w"),
    ]
    scores = _scores(
        [
            ("base", math.nan),
            ("kept win", 0.05),
            ("kept removal", 0.05),
            ("dropped win", 0.03),
            ("tie", TIE_RHO / 2),
        ]
    )
    s = ablation_summary(scores, variants)
    assert s.loc["base", "verdict"] == "base" and s.loc["base", "outcome"] == ""
    assert s.loc["kept win", "outcome"] == "wins" and not s.loc["kept win", "finding"]
    # taking a kept change out *improved* the ranks: the change loses, a finding
    assert s.loc["kept removal", "gain"] == pytest.approx(-0.05)
    assert s.loc["kept removal", "outcome"] == "loses" and s.loc["kept removal", "finding"]
    assert s.loc["kept removal", "cells_down"] == 2
    assert s.loc["dropped win", "finding"] and s.loc["dropped win", "verdict"] == "dropped"
    assert s.loc["tie", "outcome"] == "ties" and not s.loc["tie", "finding"]
    series = [AblationSeries(synthetic_truth(make_candles(n=300)), {"5m": make_candles(n=300)})]
    text = render_model_changes(scores.assign(series="synthetic"), s, series)
    for name in ("kept win", "kept removal", "dropped win", "tie"):
        assert f"| {name} |" in text
    assert text.count("FINDING:") == 2
    assert "+0.050" in text and "-0.050" in text


# ------------------------------------------------------------------------------------------------
# real data


@needs_shared_data
def test_real_binance_4h_ablation_is_out_of_sample_and_sane():
    from liq_indicator.io.datadir import read_candles
    from liq_indicator.research.truth import shared_truth

    hist = read_candles(SHARED_DATA / "history/binance/futures/BTC_USDT_USDT-5m-futures.feather")
    truth = shared_truth("binance_4h", SHARED_DATA).between("2025-04-01", "2025-07-31")
    c = hist[(hist["date"] >= "2025-03-01") & (hist["date"] < "2025-08-01")]
    cs = candle_set(c)
    s = AblationSeries(truth, {"5m": cs["5m"], "1h": cs["1h"]}, fit_end="2025-06-01")
    variants = [
        v for v in ablation_variants(DEFAULT, DESIGN) if v.name in ("design", "+ leverage bands")
    ]
    scores, skipped = ablation_scores([s], variants, n_boot=20)
    assert skipped == [] and len(scores) == 2 * 2 * 2
    assert (scores["first"] >= pd.Timestamp("2025-06-01", tz="UTC")).all()
    assert scores["bars"].iloc[0] > 300 and scores["fit_bars"].iloc[0] > 200
    assert (scores["rho_map"] > 0.3).all()
    assert np.isfinite(scores["multiplier"]).all() and (scores["multiplier"] > 0).all()
    assert scores.loc[scores["variant"] == "+ leverage bands", "d_rho"].notna().all()
