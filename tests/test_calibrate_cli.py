"""``liq-indicator calibrate``: recovers a known magnitude from synthetic truth, writes a preset that
``HeatmapConfig.preset`` loads, versions it, shows its progress, and stops bad input with exit 2.

The synthetic truth is the map's own swept USD per hour (for the first shape candidate, on the same
candles the command reads) times a known factor and lognormal noise, so the fitted inflow must be
the base's times that factor, within the noise's error on a median.
"""

from __future__ import annotations

import io
import json
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from conftest import SHARED_DATA, make_candles, needs_shared_data

from liq_indicator.cli import main
from liq_indicator.cli.calibrate import Progress, format_report
from liq_indicator.config import HeatmapConfig, read_preset
from liq_indicator.estimator import liquidation_features
from liq_indicator.io.datadir import pair_file
from liq_indicator.research.calibration import candidate_grid
from liq_indicator.research.metrics import bar_sums

PAIR = "BTC/USDT:USDT"
START = pd.Timestamp("2024-01-01", tz="UTC")
DAYS = 12
WARMUP_DAYS = 2
FACTOR = 0.2  # real liquidations = FACTOR x the base map's swept USD (times noise)
NOISE = 0.3  # sd of the natural log of the multiplicative noise


def _write_market(root: Path, *, oi: bool = False) -> tuple[Path, pd.DataFrame]:
    """A 5m datadir of DAYS days (with an open_interest file when ``oi``); returns it and the candles."""
    datadir = root / "binance"
    (datadir / "futures").mkdir(parents=True)
    candles = make_candles(n=DAYS * 288, seed=11, start=str(START.date()), oi=oi)
    candles[["date", "open", "high", "low", "close", "volume"]].to_feather(
        pair_file(datadir, PAIR, "5m")
    )
    if oi:
        frame = pd.DataFrame(
            {
                "date": candles["date"],
                "open_interest_amount": candles["open_interest_value"] / candles["close"],
                "open_interest_value": candles["open_interest_value"],
            }
        )
        frame.to_feather(pair_file(datadir, PAIR, "5m", "open_interest"))
    return datadir, candles


def _write_truth(path: Path, candles: pd.DataFrame, *, seed: int = 5) -> pd.DataFrame:
    """Hourly ``date,long_usd,short_usd`` from the warm-up's end: FACTOR x the first candidate's
    swept USD x lognormal noise."""
    shape = candidate_grid(HeatmapConfig(), False)[0]
    feats = liquidation_features(candles, HeatmapConfig().replace(**shape))
    est = bar_sums(feats, "1h")
    est = est[est.index >= START + pd.Timedelta(days=WARMUP_DAYS)]
    rng = np.random.default_rng(seed)
    noise = rng.lognormal(0.0, NOISE, (len(est), 2))
    truth = pd.DataFrame(
        {
            "date": est.index.strftime("%Y-%m-%d %H:%M:%S+00:00"),
            "long_usd": est["liq_swept_long_usd"].to_numpy() * FACTOR * noise[:, 0],
            "short_usd": est["liq_swept_short_usd"].to_numpy() * FACTOR * noise[:, 1],
        }
    )
    truth.to_csv(path, index=False)
    return truth


@pytest.fixture
def market(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, Path]:
    monkeypatch.chdir(tmp_path)  # the default --out is ./<name>.json
    datadir, candles = _write_market(tmp_path)
    truth = tmp_path / "my_liquidations.csv"
    _write_truth(truth, candles)
    return {"datadir": datadir, "truth": truth, "root": tmp_path}


def _args(market: dict[str, Path], *extra: str) -> list[str]:
    return [
        "calibrate",
        "--truth",
        str(market["truth"]),
        "--venue",
        "binance",
        "--datadir",
        str(market["datadir"]),
        "--warmup-days",
        str(WARMUP_DAYS),
        *extra,
    ]


# ------------------------------------------------------------------------------------------------
# end to end on synthetic data


def test_calibrate_recovers_the_factor_and_writes_a_loadable_preset(market, capsys):
    assert main(_args(market)) == 0
    out, err = capsys.readouterr()
    path = market["root"] / "BTC_USDT_USDT-binance-5m.json"  # the default name and place
    assert path.is_file(), out

    base = HeatmapConfig()
    config = HeatmapConfig.preset(str(path))
    shape = candidate_grid(base, False)[0]
    for key, value in shape.items():
        assert getattr(config, key) == value
    # the median of 2 x 240 lognormal(0, 0.3) draws is within ~1.5% of 1 (one sd)
    assert config.volume_share == pytest.approx(base.volume_share * FACTOR, rel=0.05)

    doc = read_preset(str(path))
    assert (doc["name"], doc["version"]) == ("BTC_USDT_USDT-binance-5m", 1)
    to = doc["calibrated_to"]
    hours = (DAYS - WARMUP_DAYS) * 24
    assert (to["series"], to["venue"], to["bar"], to["bars"]) == (
        "my_liquidations",
        "binance",
        "1h",
        hours,
    )
    assert to["inflow"] == "volume" and to["folds"] == 4
    assert to["candles"] == {"exchange": "binance", "pair": PAIR, "timeframe": "5m"}
    assert pd.Timestamp(to["first_bar"]) == START + pd.Timedelta(days=WARMUP_DAYS)
    assert pd.Timestamp(to["last_bar"]) == START + pd.Timedelta(days=DAYS) - pd.Timedelta("1h")
    assert doc["fitted"]["volume_share"] == pytest.approx(config.volume_share)

    oos = doc["out_of_sample"]
    folds = oos["folds"]
    assert [f["fold"] for f in folds] == [1, 2, 3, 4]
    assert sum(f["test_bars"] for f in folds) == oos["bars"]
    assert folds[-1]["fit_bars"] + folds[-1]["test_bars"] == hours
    # the truth is the map's own estimate times noise: it ranks far better than range x volume
    for side in ("long", "short"):
        assert oos[f"{side}_spearman_map"] > 0.8
        assert oos[f"{side}_spearman_map"] > oos[f"{side}_spearman_vol"]
        assert abs(oos[f"{side}_log_ratio"]) < 0.1
        assert all(f[f"{side}_spearman_map"] > 0.7 for f in folds)

    # the printed report, the fitted value and how to use the preset
    assert "Spearman, map" in out and "range x volume" in out and "range x OI" not in out
    assert f"{oos['long_spearman_map']:+.3f}" in out
    assert f"{config.volume_share:.6g}" in out
    assert f'HeatmapConfig.preset("{path.name}")' in out
    assert "throttled" in out
    # progress: one plain line per candidate (stderr is not a terminal here)
    total = len(candidate_grid(base, False))
    lines = [ln for ln in err.splitlines() if ln.startswith("calibrate: map ")]
    assert [ln.split()[2] for ln in lines] == [f"{k}/{total}" for k in range(1, total + 1)]


def test_a_second_run_writes_the_next_version(market, capsys):
    out_path = market["root"] / "presets" / "mine.json"
    args = _args(market, "--name", "mine", "--out", str(out_path), "--quiet")
    assert main(args) == 0
    first = read_preset(str(out_path))
    assert main(args) == 0
    out, err = capsys.readouterr()
    second = read_preset(str(out_path))
    assert (first["version"], second["version"]) == (1, 2)
    assert second["config"] == first["config"]
    assert "replacing 'mine' version 1" in out
    assert err == ""  # --quiet
    # another name at the same path starts again at 1
    assert main([*args[:-5], "--name", "other", "--out", str(out_path), "--quiet"]) == 0
    assert read_preset(str(out_path))["version"] == 1


def test_open_interest_inflow(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    datadir, candles = _write_market(tmp_path, oi=True)
    truth = tmp_path / "t.csv"
    _write_truth(truth, candles[["date", "open", "high", "low", "close", "volume"]])
    argv = ["calibrate", "--truth", str(truth), "--datadir", str(tmp_path), "--open-interest"]
    assert main([*argv, "--warmup-days", str(WARMUP_DAYS), "--quiet"]) == 0
    out = capsys.readouterr().out
    # --datadir user_data/data: the exchange's folder below it
    doc = read_preset(str(tmp_path / "BTC_USDT_USDT-binance-5m-oi.json"))
    assert doc["calibrated_to"]["inflow"] == "open interest"
    assert doc["calibrated_to"]["venue"] == "unknown"  # no --venue for a user's file
    assert math.isfinite(doc["out_of_sample"]["long_spearman_oi"])
    assert "range x OI" in out
    config = HeatmapConfig.preset(str(tmp_path / "BTC_USDT_USDT-binance-5m-oi.json"))
    assert config.oi_scale == doc["fitted"]["oi_scale"]


def test_progress_bar_on_a_terminal():
    stream = io.StringIO()
    bar = Progress(stream, width=8, tty=True)
    bar.start(4, "building")
    bar(1, 4, "intracandle_sweep=0.25")
    text = stream.getvalue()
    assert text.startswith("\r[........] 0/4 building")
    assert "\r[##......] 1/4 intracandle_sweep=0.25" in text
    assert not text.endswith("\n")
    bar(4, 4, "intracandle_sweep=0.5")
    assert stream.getvalue().endswith("\n")
    assert "[########] 4/4" in stream.getvalue()


def test_report_table_marks_missing_figures():
    report = {
        f"{side}_{key}": 0.5
        for side in ("long", "short")
        for key in (
            "spearman_map",
            "spearman_vol",
            "spearman_oi",
            "top_map",
            "top_vol",
            "log_ratio",
            "slope",
            "no_sweep",
        )
    }
    report["short_slope"] = math.nan
    text = format_report(report, open_interest=True)
    slope = next(ln for ln in text.splitlines() if "slope" in ln)
    assert slope.split()[-2:] == ["0.500", "-"]
    assert "50.0%" in text and "range x OI" in text


# ------------------------------------------------------------------------------------------------
# bad input: exit 2 with one line naming the problem


def _error(argv: list[str], capsys) -> str:
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.startswith("liq-indicator calibrate: error: "), err
    assert "Traceback" not in err
    return err


def test_no_overlap_of_truth_and_candles(market, capsys):
    late = market["root"] / "late.csv"
    pd.DataFrame(
        {
            "date": pd.date_range("2025-03-01", periods=48, freq="1h", tz="UTC"),
            "long_usd": 1e6,
            "short_usd": 1e6,
        }
    ).to_csv(late, index=False)
    err = _error([*_args(market)[:2], str(late), *_args(market)[3:]], capsys)
    assert "share no complete 1h bar" in err and "late" in err
    assert not list(market["root"].glob("*.json"))  # nothing written


def test_unknown_shared_name(market, capsys):
    err = _error(
        ["calibrate", "--truth", "binance_9h", "--datadir", str(market["datadir"])], capsys
    )
    assert "'binance_9h'" in err and "binance_4h" in err


def test_missing_open_interest_file(market, capsys):
    err = _error([*_args(market), "--open-interest"], capsys)
    assert "BTC_USDT_USDT-5m-open_interest.feather" in err
    assert "freqtrade download-data" in err and "open_interest" in err


def test_too_few_bars_for_the_folds(market, capsys):
    err = _error([*_args(market), "--start", "2024-01-12", "--folds", "20"], capsys)
    assert "24 bars are too few for 20 walk-forward folds" in err


def test_start_after_the_truth(market, capsys):
    err = _error([*_args(market), "--start", "2030-01-01"], capsys)
    assert "--start 2030-01-01" in err


def test_bad_truth_file(market, capsys):
    bad = market["root"] / "bad.csv"
    bad.write_text("time,longs,shorts\n2024-01-03,1,2\n")
    err = _error([*_args(market)[:2], str(bad), *_args(market)[3:]], capsys)
    assert "bad.csv" in err and "long_usd" in err


def test_truth_bars_finer_than_the_candles(market, capsys):
    fine = market["root"] / "fine.csv"
    pd.DataFrame(
        {
            "date": pd.date_range("2024-01-05", periods=30, freq="1min", tz="UTC"),
            "long_usd": 1.0,
            "short_usd": 1.0,
        }
    ).to_csv(fine, index=False)
    err = _error([*_args(market)[:2], str(fine), *_args(market)[3:]], capsys)
    assert "1m bars are not a whole number of 5m candles" in err


def test_out_that_is_not_a_preset_is_kept(market, capsys):
    other = market["root"] / "notes.json"
    other.write_text(json.dumps({"mine": 1}))
    err = _error([*_args(market), "--out", str(other)], capsys)
    assert "notes.json" in err and "not a preset" in err
    assert json.loads(other.read_text()) == {"mine": 1}


@pytest.mark.parametrize(
    ("extra", "named"),
    [
        (["--datadir", "no_such_dir"], "no_such_dir"),
        (["--out", "a_folder"], "a_folder"),
        (["--out", "preset.txt"], "preset.txt"),
        (["--base", "no_such_preset"], "no_such_preset"),
    ],
)
def test_bad_paths_and_names(market, capsys, extra, named):
    (market["root"] / "a_folder").mkdir()
    err = _error([*_args(market), *extra], capsys)
    assert named in err


@pytest.mark.parametrize(
    ("option", "value"),
    [("--folds", "0"), ("--folds", "1.5"), ("--warmup-days", "nan"), ("--timeframe", "5x")],
)
def test_bad_option_values(option, value, capsys):
    argv = ["calibrate", "--truth", "t.csv", "--datadir", "d", f"{option}={value}"]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert f"argument {option}" in err and repr(value) in err


# ------------------------------------------------------------------------------------------------
# real data


@needs_shared_data
def test_binance_4h_out_of_sample(tmp_path, capsys):
    if not (SHARED_DATA / "truth" / "coinglass_binance_btc_liquidations_4h.csv").exists():
        pytest.skip(f"the Binance 4h truth is not in {SHARED_DATA / 'truth'}")
    out = tmp_path / "btc.json"
    argv = ["calibrate", "--truth", "binance_4h", "--datadir", str(SHARED_DATA / "history")]
    assert main([*argv, "--start", "2025-06-01", "--out", str(out), "--quiet"]) == 0
    doc = read_preset(str(out))
    oos = doc["out_of_sample"]
    assert doc["calibrated_to"]["series"] == "binance_4h"
    assert doc["calibrated_to"]["venue"] == "binance"
    assert oos["bars"] > 500
    for side in ("long", "short"):
        # the target of issue #16: the map ranks at least as well as range x volume
        assert oos[f"{side}_spearman_map"] >= oos[f"{side}_spearman_vol"], side
        assert abs(oos[f"{side}_log_ratio"]) <= 0.3, side
        assert oos[f"{side}_no_sweep"] <= 0.1, side
    HeatmapConfig.preset(str(out))  # loads


@pytest.mark.parametrize("g", [0.8, -0.3])
def test_volatility_targeting_is_fitted_as_the_slope_on_realised_volatility(g):
    """Truth = the map's swept USD x (realised volatility at the bar's start)^-g, no noise: the
    map's log error then rises with log volatility by exactly g, which the fit adds to the base's
    exponent (clipped to 0 .. 2), and the map is rebuilt with it before the magnitude fit."""
    from liq_indicator.research.calibration import calibrate, causal_value_at, realised_vol_pct
    from liq_indicator.research.truth import TruthSeries

    candles = make_candles(n=DAYS * 288, seed=11, start=str(START.date()))
    base = HeatmapConfig(vol_target=0.5, vol_half_life_hours=24.0)
    shape = candidate_grid(base, False)[0]
    est = bar_sums(liquidation_features(candles, base.replace(**shape)), "1h")
    est = est[est.index >= START + pd.Timedelta(days=WARMUP_DAYS)]
    vol = causal_value_at(realised_vol_pct(candles, 24.0), "vol_pct", est.index)
    frame = pd.DataFrame(
        {
            "long_usd": est["liq_swept_long_usd"].to_numpy() * vol**-g,
            "short_usd": est["liq_swept_short_usd"].to_numpy() * vol**-g,
        },
        index=est.index,
    )
    truth = TruthSeries("synthetic", "binance", pd.Timedelta("1h"), frame, "constructed")
    cal = calibrate(truth, candles, base, candidates=[shape], vol_target=True)
    assert cal.changes["vol_target"] == pytest.approx(min(max(0.5 + g, 0.0), 2.0), abs=0.011)
    assert cal.config.vol_target == cal.changes["vol_target"]
    median_vol = float(np.nanmedian(realised_vol_pct(candles, 24.0)["vol_pct"]))
    assert cal.changes["vol_ref_pct"] == pytest.approx(median_vol, rel=0.05)
    # each fold fitted it on its own past only
    assert all("vol_target" in f for f in cal.folds["shape"])


def test_the_candle_length_correction_makes_the_timeframes_agree():
    """Truth = the 5m map's own swept USD: the 1h and 4h maps of the same candles sweep other
    amounts. The fitted exponent is minus the slope of each timeframe's log multiplier on log
    candle length, so after it the multipliers' spread across timeframes shrinks, and the 5m
    multiplier (its correction is 1) is unchanged."""
    from liq_indicator.io.ohlcv import resample_ohlcv
    from liq_indicator.research.calibration import bar_table, calibrate, magnitude
    from liq_indicator.research.truth import TruthSeries

    candles = make_candles(n=DAYS * 288, seed=11, start=str(START.date()))
    frames = {
        "5m": candles,
        "1h": resample_ohlcv(candles, "1h"),
        "4h": resample_ohlcv(candles, "4h"),
    }
    base = HeatmapConfig(timeframe_exponent=0.0, vol_target=0.0)
    shape = candidate_grid(base, False)[0]
    est = bar_sums(liquidation_features(candles, base.replace(**shape)), "4h")
    est = est[est.index >= START + pd.Timedelta(days=WARMUP_DAYS)]
    frame = pd.DataFrame(
        {"long_usd": est["liq_swept_long_usd"], "short_usd": est["liq_swept_short_usd"]}
    )
    truth = TruthSeries("synthetic", "binance", pd.Timedelta("4h"), frame, "constructed")
    cal = calibrate(truth, frames, base, candidates=[shape], timeframe_exponent=True, folds=2)

    def spread(cfg: HeatmapConfig) -> float:
        logs = [math.log10(magnitude(bar_table(truth, f, cfg))) for f in frames.values()]
        return float(np.ptp(logs))

    beta = cal.changes["timeframe_exponent"]
    assert beta == cal.config.timeframe_exponent and beta != 0.0
    assert spread(cal.config) < 0.5 * spread(base.replace(**shape))
    assert magnitude(bar_table(truth, candles, cal.config)) == pytest.approx(1.0, abs=0.01)
