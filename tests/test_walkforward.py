"""benchmarks/walkforward.py: window splitting, equity stitching, hyperopt-result reading, the report
renderer on a hand-built result, and one tiny real walk-forward (1 window, 2 epochs) on a simulated
datadir through the offline exchange.
"""

from __future__ import annotations

import importlib.util
import json
import math
import sys

import numpy as np
import pandas as pd
import pytest
from conftest import REPO

from liq_indicator.errors import InputError

_spec = importlib.util.spec_from_file_location(
    "walkforward", REPO / "benchmarks" / "walkforward.py"
)
wf = importlib.util.module_from_spec(_spec)  # type: ignore[arg-type]
sys.modules["walkforward"] = wf  # dataclasses look their module up by name
_spec.loader.exec_module(wf)  # type: ignore[union-attr]

UTC = "UTC"


def ts(text: str) -> pd.Timestamp:
    return pd.Timestamp(text, tz=UTC)


# --- windows -------------------------------------------------------------------------------------


def test_split_windows_tiles_the_test_months_back_to_back_ending_at_the_last_month_start():
    windows = wf.split_windows("2023-01-08", "2025-10-01", 3, 3, windows=8)
    assert [w.index for w in windows] == list(range(1, 9))
    assert windows[-1].test_end == ts("2025-10-01")
    assert windows[0].train_start == ts("2023-07-01")
    assert windows[0].train_range == "20230701-20231001"
    assert windows[0].test_range == "20231001-20240101"
    for before, after in zip(windows, windows[1:], strict=False):
        assert before.test_end == after.test_start  # no gap, no overlap out of sample
        assert after.train_start == before.train_start + pd.DateOffset(months=3)
    # every window that fits after the start; the last test window ends 2025-09-01
    everything = wf.split_windows("2023-01-08", "2025-09-30 12:00", 3, 3)
    assert len(everything) == 9 and everything[0].train_start == ts("2023-03-01")
    assert everything[-1].test_end == ts("2025-09-01")  # a partial month is left out
    uneven = wf.split_windows("2024-01-01", "2024-07-15", 2, 1)
    assert [(w.train_range, w.test_range) for w in uneven] == [
        ("20240101-20240301", "20240301-20240401"),
        ("20240201-20240401", "20240401-20240501"),
        ("20240301-20240501", "20240501-20240601"),
        ("20240401-20240601", "20240601-20240701"),
    ]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("2023-01-01", "2024-01-01", 0, 3), "must be >= 1"),
        (("2023-01-01", "2024-01-01", 3, 3, 0), "must be >= 1"),
        (("2023-01-08", "2023-07-01", 3, 3), "no 3\\+3-month window fits"),
    ],
)
def test_split_windows_bad_input(args, message):
    with pytest.raises(InputError, match=message):
        wf.split_windows(*args)


# --- equity --------------------------------------------------------------------------------------


def trades_frame(rows: list[tuple[str, float]]) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "close_date": pd.to_datetime([r[0] for r in rows], utc=True),
            "profit_abs": [r[1] for r in rows],
        }
    )


def test_daily_equity_counts_profit_on_the_close_day():
    trades = trades_frame([("2024-01-01 23:55", 100.0), ("2024-01-03 00:05", -50.0)])
    curve = wf.daily_equity(trades, ts("2024-01-01"), ts("2024-01-05"), wallet=1000.0)
    assert curve.index.tolist() == list(pd.date_range("2024-01-01", periods=4, tz=UTC))
    assert curve.tolist() == pytest.approx([1.1, 1.1, 1.05, 1.05])
    empty = wf.daily_equity(trades.iloc[:0], ts("2024-01-01"), ts("2024-01-03"))
    assert empty.tolist() == [1.0, 1.0]


def test_stitch_compounds_windows_and_the_statistics_follow():
    days = pd.date_range("2024-01-01", periods=4, tz=UTC)
    a = pd.Series([1.1, 1.2], index=days[:2])
    b = pd.Series([0.5, 1.0], index=days[2:])
    stitched = wf.stitch([a, b])
    assert stitched.tolist() == pytest.approx([1.1, 1.2, 0.6, 1.2])
    assert wf.daily_returns(stitched) == pytest.approx([0.1, 1.2 / 1.1 - 1, -0.5, 1.0])
    assert wf.max_drawdown(stitched) == pytest.approx(0.5)
    assert wf.max_drawdown(pd.Series([1.0, 1.5, 2.0])) == 0.0
    assert wf.max_drawdown(pd.Series([0.8, 1.0])) == pytest.approx(0.2)  # below the start
    with pytest.raises(InputError, match="at least one curve"):
        wf.stitch([])


def test_buy_and_hold_from_the_first_open_at_daily_closes():
    dates = pd.date_range("2024-01-01", periods=3 * 288, freq="5min", tz=UTC)
    close = np.linspace(101.0, 130.0, len(dates))
    candles = pd.DataFrame({"date": dates, "open": close - 1.0, "close": close})
    curve = wf.buy_and_hold(candles, ts("2024-01-01"), ts("2024-01-03"))
    assert curve.tolist() == pytest.approx([close[287] / 100.0, close[575] / 100.0])
    week = wf.Window(1, ts("2023-12-31"), ts("2024-01-02"), ts("2024-01-03"))
    assert wf.window_return(curve, week) == pytest.approx(close[575] / close[287] - 1)
    with pytest.raises(InputError, match="no candles between"):
        wf.buy_and_hold(candles, ts("2025-01-01"), ts("2025-01-02"))


# --- hyperopt results and parameter files ------------------------------------------------------


def epoch(loss: float, cascade: float) -> dict:
    return {
        "loss": loss,
        "params_details": {"buy": {"cascade_mult": cascade}, "sell": {"breakeven_r": 0.5}},
        "is_best": False,
    }


def test_best_params_takes_the_lowest_valid_loss(tmp_path):
    lines = [epoch(-0.2, 10.0), epoch(wf.MAX_LOSS, 99.0), epoch(-0.7, 20.0), epoch(0.3, 30.0)]
    (tmp_path / "s.fthypt").write_text("\n".join(json.dumps(e) for e in lines) + "\n")
    params, loss = wf.best_params(tmp_path)
    assert params == {"buy": {"cascade_mult": 20.0}, "sell": {"breakeven_r": 0.5}}
    assert loss == -0.7
    (tmp_path / "s.fthypt").write_text(json.dumps(epoch(wf.MAX_LOSS, 1.0)) + "\n")
    params, loss = wf.best_params(tmp_path)
    assert params == {} and math.isnan(loss)
    with pytest.raises(InputError, match="no .fthypt file"):
        wf.best_params(tmp_path / "empty")


def test_strategy_folder_is_a_copy_with_a_parameter_file_freqtrade_reads(tmp_path):
    tools = pytest.importorskip("freqtrade.optimize.hyperopt_tools")
    params = {"buy": {"cascade_mult": 20.0}, "sell": {"breakeven_r": 0.5}}
    folder = wf.strategy_folder(tmp_path / "s", params)
    assert {p.name for p in folder.iterdir()} == {
        *(p.name for p in wf.STRATEGIES.glob("*.py")),
        f"{wf.STRATEGY}.json",
    }
    loaded = tools.HyperoptTools.load_params_from_file(folder / f"{wf.STRATEGY}.json")
    assert loaded["strategy_name"] == wf.STRATEGY and loaded["params"] == params
    assert not (wf.strategy_folder(tmp_path / "clean") / f"{wf.STRATEGY}.json").exists()


# --- the report ----------------------------------------------------------------------------------


def synthetic(daily_gain: float, seed: int = 0) -> wf.WalkForward:
    """Two 1-month windows whose trades close daily at ``daily_gain`` of the wallet plus noise."""
    rng = np.random.default_rng(seed)
    plan = wf.split_windows("2024-01-01", "2024-04-01", 1, 1)
    results = []
    for w in plan:
        days = pd.date_range(w.test_start, w.test_end, freq="D", inclusive="left", tz=UTC)
        gains = wf.WALLET * (daily_gain + 0.001 * rng.standard_normal(len(days)))
        trades = pd.DataFrame({"close_date": days + pd.Timedelta(hours=12), "profit_abs": gains})
        params = {"buy": {"cascade_mult": 10.0 + w.index}, "sell": {}}
        results.append(wf.WindowResult(w, params, -0.5, trades))
    span = pd.date_range(plan[0].test_start, plan[-1].test_end, freq="D", inclusive="left", tz=UTC)
    return wf.WalkForward(
        windows=results,
        baseline=pd.Series(np.linspace(1.0, 0.9, len(span)), index=span),
        hold=pd.Series(1.0 + 0.02 * np.sin(np.arange(len(span))), index=span),
        settings={"train_months": 1, "test_months": 1, "epochs": 2, "seconds": 60.0},
        baseline_trades=7,
        defaults=pd.Series(np.linspace(0.99, 0.95, len(span)), index=span),
        defaults_trades=3,
    )


def test_report_holds_the_run_per_window_and_says_what_survives():
    result = synthetic(0.004)
    text = wf.render_report(result)
    stitched = result.stitched
    total = float(stitched.iloc[-1]) - 1
    assert f"| {total:+.1%}" in text  # the summary's total return is the stitched curve's
    assert "Something survives" in text
    for w in result.windows:
        row = (
            f"{w.window.train_start:%Y-%m-%d} .. {w.window.train_end:%Y-%m-%d} | "
            f"{w.window.test_start:%Y-%m-%d} .. {w.window.test_end:%Y-%m-%d}"
        )
        assert row in text
        assert f"window {w.window.index}: cascade_mult={10.0 + w.window.index}" in text
        assert f"{float(w.curve.iloc[-1]) - 1:+.1%}" in text
    assert f"{wf.max_drawdown(result.baseline):.1%}" in text
    assert "| LiqClusterStrategy, shipped parameters (no tuning) |        3 | -5.0%" in text
    assert "| minus the shipped parameters |" in text
    assert "tuning per window did better (" in text and "with 60 trades against 3." in text
    assert "did worse (" in wf.verdict(synthetic(-0.004))
    assert "Out-of-sample trades: 60" in text  # 29 February days + 31 March days
    assert "![walk-forward equity curves](img/walkforward_equity.png)" in text
    assert "img/" not in wf.render_report(result, image=None)


@pytest.mark.parametrize(
    ("gain", "phrase"),
    [(-0.004, "wholly below zero"), (0.0, "not distinguishable from zero")],
)
def test_verdict_says_nothing_survives_when_it_does_not(gain, phrase):
    text = wf.verdict(synthetic(gain))
    assert text.startswith("Nothing survives") and phrase in text


def test_plot_equity_writes_a_png(tmp_path):
    from PIL import Image

    wf.plot_equity(synthetic(0.001), tmp_path / "eq.png")
    assert Image.open(tmp_path / "eq.png").size == (1100, 704)


# --- one tiny real run ---------------------------------------------------------------------------


@pytest.mark.slow
def test_one_window_real_run_on_a_simulated_datadir(tmp_path):
    pytest.importorskip("optuna", reason="freqtrade[hyperopt] extras are not installed")
    from liq_indicator.sim.market import simulate

    datadir = tmp_path / "data" / "binance"
    simulate(67, timeframe="5m", seed=3, scenario="cascade", start="2023-12-25").write(datadir)
    futures = datadir / "futures"
    five = pd.read_feather(futures / "BTC_USDT_USDT-5m-futures.feather")
    hourly = (
        five.set_index("date")
        .resample("1h")
        .agg({"open": "first", "high": "max", "low": "min", "close": "last", "volume": "sum"})
    )
    hourly.reset_index().to_feather(futures / "BTC_USDT_USDT-1h-futures.feather")  # the baseline's

    result = wf.run_walkforward(
        datadir, start="2024-01-01", end="2024-03-01 12:00", train_months=1, test_months=1,
        windows=1, epochs=2, min_trades=1, jobs=1, log=sys.stdout,
    )  # fmt: skip
    (window,) = result.windows
    assert (window.window.train_range, window.window.test_range) == (
        "20240101-20240201",
        "20240201-20240301",
    )
    assert not window.trades.empty  # the cascade scenario trades in a month
    opened = window.trades["open_date"]
    assert opened.min() >= ts("2024-02-01") and opened.max() < ts("2024-03-01")  # out of sample
    # hyperopt's choice (both spaces) and its loss, or neither when no epoch had a trade
    assert bool(window.params) != math.isnan(window.train_objective)
    assert not window.params or window.params["buy"].keys() >= {"cascade_mult", "lookback"}
    assert result.defaults is not None
    assert len(result.stitched) == len(result.hold) == len(result.baseline) == 29
    assert len(result.defaults) == 29
    assert "Per window" in wf.render_report(result)
