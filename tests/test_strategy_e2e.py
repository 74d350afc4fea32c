"""LiqClusterStrategy under the real Freqtrade commands, offline: backtesting, lookahead-analysis,
recursive-analysis, hyperopt and plot-dataframe against the loopback Binance exchange, on a
simulated market with liquidation cascades (``liq_indicator.sim.market``, scenario 'cascade').

The analysis commands exit 0 whatever they find, so the tests read what they report: the lookahead
CSV (``has_bias``, biased signal counts) and the recursive-analysis table (relative difference of
each indicator between the strategy's start-up window and full history).
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from conftest import REPO
from helpers import ignore_sigint

pytest.importorskip("freqtrade")

from liq_indicator.io.backtest import load_trades  # noqa: E402
from liq_indicator.offline import running_exchange  # noqa: E402
from liq_indicator.risk import own_liquidation_price  # noqa: E402
from liq_indicator.sim.market import simulate  # noqa: E402
from liq_indicator.strategy.glue import parse_recursive_analysis  # noqa: E402
from liq_indicator.strategy.signals import (  # noqa: E402
    STRATEGY_HEATMAP,
    SignalParams,
    entry_signals,
    strategy_features,
    trade_levels,
)

pytestmark = pytest.mark.slow

STRATEGY = "LiqClusterStrategy"
PAIR = "BTC/USDT:USDT"
TIMERANGE = "20240108-20240125"
STARTUP = 2000  # the strategy's startup_candle_count
TICK = 0.1  # BTCUSDT price precision on the (offline) exchange


@dataclass(frozen=True)
class Workspace:
    root: Path
    datadir: Path
    args: list[str]


@pytest.fixture(scope="module")
def workspace(tmp_path_factory: pytest.TempPathFactory, clean_strategies: Path):
    root = tmp_path_factory.mktemp("liqcluster")
    datadir = root / "data" / "binance"
    simulate(24, timeframe="5m", seed=3, scenario="cascade", start="2024-01-01").write(datadir)
    for name in ("5m-futures", "1h-mark"):
        # exchange prices are multiples of the tick; unaligned ones make Freqtrade's backtest miss
        # fills at a candle's extreme by a rounding error (a force exit at an open equal to the
        # high then never fills, and lookahead-analysis reports that trade as biased)
        path = datadir / "futures" / f"BTC_USDT_USDT-{name}.feather"
        frame = pd.read_feather(path)
        frame[["open", "high", "low", "close"]] = frame[["open", "high", "low", "close"]].round(1)
        frame.to_feather(path)
    (root / "user_data").mkdir()
    pairs = root / "pairs.json"
    pairs.write_text('{"exchange": {"pair_whitelist": ["BTC/USDT:USDT"]}}')
    with running_exchange(datadir, max_seconds=900) as exchange:
        overlay = exchange.write_overlay(root / "offline.json")
        args = [
            "--config",
            str(REPO / "config.json.example"),
            "--config",
            str(pairs),
            "--config",
            str(overlay),
            "--userdir",
            str(root / "user_data"),
            "--datadir",
            str(datadir),
            "--strategy",
            STRATEGY,
            "--strategy-path",
            str(clean_strategies),
        ]
        yield Workspace(root, datadir, args)


def freqtrade(command: str, ws: Workspace, *extra: str, timeout: float = 240) -> str:
    result = subprocess.run(
        [sys.executable, "-m", "freqtrade", command, *ws.args, *extra],
        cwd=ws.root,
        capture_output=True,
        text=True,
        timeout=timeout,
        env={**os.environ, "COLUMNS": "200"},
    )
    output = result.stdout + result.stderr
    assert result.returncode == 0, f"freqtrade {command} failed:\n{output[-6000:]}"
    assert "Traceback" not in output, output[-6000:]
    return output


def _frame(datadir: Path, name: str) -> pd.DataFrame:
    return pd.read_feather(datadir / "futures" / f"BTC_USDT_USDT-{name}.feather")


@pytest.fixture(scope="module")
def backtest(workspace: Workspace) -> pd.DataFrame:
    freqtrade(
        "backtesting", workspace, "--timerange", TIMERANGE, "--export", "trades", "--cache", "none"
    )
    return load_trades(workspace.root / "user_data" / "backtest_results")


def test_backtest_makes_trades_on_both_sides(backtest: pd.DataFrame):
    assert len(backtest) >= 4
    assert backtest["is_short"].any() and (~backtest["is_short"]).any()
    # custom_roi's exits: order_filled names them target / time_limit on the order's own trade, so
    # Freqtrade's tables show them apart (no "roi" left); stops keep Freqtrade's names
    reasons = {"target", "time_limit", "stop_loss", "trailing_stop_loss", "force_exit"}
    assert set(backtest["exit_reason"]) <= reasons, set(backtest["exit_reason"])
    assert "target" in set(backtest["exit_reason"]), set(backtest["exit_reason"])
    assert set(backtest["enter_tag"]) <= {"liq_long_exhaustion", "liq_short_exhaustion"}


def test_every_stop_is_outside_the_entry_candles_clusters_and_exits_follow_the_plan(
    workspace: Workspace, backtest: pd.DataFrame
):
    # recompute the features over exactly the candles Freqtrade loaded (timerange - startup)
    candles = _frame(workspace.datadir, "5m-futures")
    first = pd.Timestamp(TIMERANGE.split("-")[0], tz="UTC") - pd.Timedelta(minutes=5 * STARTUP)
    candles = candles[candles["date"] >= first].reset_index(drop=True)
    features = strategy_features(
        candles,
        STRATEGY_HEATMAP,
        open_interest=_frame(workspace.datadir, "5m-open_interest"),
        funding=_frame(workspace.datadir, "1h-funding_rate"),
    )
    params = SignalParams()
    features = features.join(entry_signals(features, params)[["sweep_zone_pct"]])
    by_date = features.set_index("date")
    roi_exits = 0
    for trade in backtest.itertuples():
        row = by_date.loc[[trade.open_date - pd.Timedelta(minutes=5)]].reset_index()
        short = bool(trade.is_short)
        side = "short" if short else "long"
        stop = trade.stop_loss_abs
        expected = trade_levels(row, short, params, entry=[trade.open_rate])["stop"].iloc[0]
        # the plan's stop, or farther when it moved out of a dense zone beyond the cluster
        assert (stop >= expected - TICK) if short else (stop <= expected + TICK), trade
        near, far = row[f"liq_{side}_cluster_near"].iloc[0], row[f"liq_{side}_cluster_far"].iloc[0]
        if short:
            assert stop > trade.open_rate
            if np.isfinite(far) and far > trade.open_rate:
                assert stop > far > near, trade  # above the short cluster, not inside it
        else:
            assert stop < trade.open_rate
            if np.isfinite(far) and far < trade.open_rate:
                assert stop < far < near, trade  # below the long cluster, not inside it
        if trade.exit_reason in ("target", "time_limit"):
            target = trade_levels(row, short, params, entry=[trade.open_rate])["target"].iloc[0]
            held = (trade.close_date - trade.open_date) / pd.Timedelta(minutes=5)
            at_target = (
                (trade.close_rate <= target + TICK)
                if short
                else (trade.close_rate >= target - TICK)
            )
            if trade.exit_reason == "time_limit":
                assert held == params.max_hold_candles, trade
            else:  # a target exit: before the time limit, at the target
                assert held < params.max_hold_candles and at_target, trade
            roi_exits += 1
    assert roi_exits >= 1


def test_leverage_and_size_follow_the_risk_rules(backtest: pd.DataFrame):
    assert len(backtest) > 0
    wallet = 10_000.0
    closed_before = backtest.sort_values("close_date")
    for trade in backtest.itertuples():
        dist = abs(trade.open_rate - trade.stop_loss_abs)
        liq = own_liquidation_price(
            trade.open_rate, trade.leverage, bool(trade.is_short), trade.amount * trade.open_rate
        )
        assert abs(trade.open_rate - liq) >= 1.5 * dist * (1 - 1e-6), trade
        assert 1 <= trade.leverage <= 10 and trade.leverage == int(trade.leverage)
        balance = (
            wallet
            + closed_before.loc[closed_before["close_date"] <= trade.open_date, "profit_abs"].sum()
        )
        risked = trade.amount * dist / (0.0075 * balance)
        assert 0.75 <= risked <= 1.0, trade  # 0.75% of the wallet, less fees and Freqtrade's 0.99


def test_lookahead_analysis_finds_no_bias(workspace: Workspace):
    csv = workspace.root / "lookahead.csv"
    freqtrade(
        "lookahead-analysis",
        workspace,
        "--timerange",
        TIMERANGE,
        "--minimum-trade-amount",
        "3",
        "--targeted-trade-amount",
        "6",
        "--lookahead-analysis-exportfilename",
        str(csv),
    )
    report = pd.read_csv(csv)
    row = report.loc[report["strategy"] == STRATEGY].iloc[-1]
    assert row["total_signals"] >= 3
    assert not bool(row["has_bias"]), report.to_string()
    assert row["biased_entry_signals"] == 0 and row["biased_exit_signals"] == 0
    assert pd.isna(row["biased_indicators"]) or not str(row["biased_indicators"]).strip()


def test_recursive_analysis_converges_at_the_startup_count(workspace: Workspace):
    output = freqtrade(
        "recursive-analysis",
        workspace,
        "--timerange",
        TIMERANGE,
        "--startup-candle",
        "500",
        str(STARTUP),
    )
    assert "No lookahead bias on indicators found" in output
    columns, rows = parse_recursive_analysis(output)
    ours = columns.index(f"{STARTUP} (from strategy)")
    if not rows:  # no table: every indicator identical to the last digit
        assert "No variance on indicator(s) found" in output, output[-3000:]
    for indicator, cells in rows.items():
        value = cells[ours]
        match = re.fullmatch(r"(-?\d+\.\d+)%", value)
        assert match, (
            f"{indicator}: {value!r} (nan: one side 0 or NaN) at {STARTUP} startup candles"
        )
        assert abs(float(match.group(1))) < 0.5, (
            f"{indicator} differs by {value} at {STARTUP} candles"
        )


def test_hyperopt_runs(workspace: Workspace, clean_strategies: Path):
    pytest.importorskip("optuna", reason="freqtrade[hyperopt] extras are not installed")
    output = freqtrade(
        "hyperopt",
        workspace,
        "--timerange",
        TIMERANGE,
        "--hyperopt-loss",
        "SharpeHyperOptLoss",
        "--spaces",
        "buy",
        "sell",
        "-e",
        "3",
        "-j",
        "1",
        "--random-state",
        "1",
        "--min-trades",
        "1",
        "--disable-param-export",
    )
    assert "Best result" in output or "No good result found" in output
    assert (
        "static start value" not in output
    )  # no hyperoptable parameter read in populate_indicators
    assert not (clean_strategies / f"{STRATEGY}.json").exists()


def test_plot_dataframe_shows_clusters_and_sweeps(workspace: Workspace, backtest: pd.DataFrame):
    pytest.importorskip("plotly")
    # plots the backtest's trades too (the latest result in user_data/backtest_results)
    freqtrade("plot-dataframe", workspace, "--timerange", "20240120-20240122", "--pairs", PAIR)
    html = next((workspace.root / "user_data" / "plot").glob("*.html")).read_text()
    for name in (
        "liq_long_cluster_near",
        "liq_long_cluster_far",
        "liq_short_cluster_near",
        "liq_short_cluster_far",
        "liq_swept_long_usd",
        "liq_swept_short_usd",
    ):
        assert name in html


def _unwrapped(log: str) -> str:
    """Freqtrade's console handler wraps long log lines at the terminal width: join them back."""
    return " ".join(log.split())


def test_dry_run_analyses_live_candles_with_open_interest(workspace: Workspace):
    """``freqtrade trade --dry-run`` on the replayed market: start-up, live open interest through
    informative_pairs, analysis and the entry callbacks run without an exception."""
    log = workspace.root / "dry_run.log"
    with running_exchange(workspace.datadir, replay=True, max_seconds=300) as exchange:
        overlay = exchange.write_overlay(workspace.root / "replay.json")
        args = [
            a if a != str(workspace.root / "offline.json") else str(overlay) for a in workspace.args
        ]
        with log.open("w") as sink:
            proc = subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "freqtrade",
                    "trade",
                    "--dry-run",
                    *args,
                    "--db-url",
                    f"sqlite:///{workspace.root / 'dry.sqlite'}",
                ],
                cwd=workspace.root,
                stdout=sink,
                stderr=subprocess.STDOUT,
                preexec_fn=ignore_sigint,
            )
            try:
                deadline = time.monotonic() + 90
                while proc.poll() is None and time.monotonic() < deadline:
                    if "liquidation map inflow from open interest" in _unwrapped(log.read_text()):
                        break
                    time.sleep(0.5)
                time.sleep(5)  # let the first loop finish (entry callbacks, order book)
                # SIGTERM: where SIGINT is ignored (nohup, some CI runners; here too) it stops the bot
                proc.send_signal(signal.SIGTERM)
                returncode = proc.wait(timeout=30)
            finally:
                proc.kill()
        requests = exchange.state()["requests"]
    output = _unwrapped(log.read_text())
    assert "liquidation map inflow from open interest" in output, output[-4000:]
    assert "/futures/data/openInterestHist" in requests  # informative_pairs refreshes it live
    assert "Traceback" not in output and "Strategy caused the following exception" not in output
    # Freqtrade's SIGTERM handler (commands/trade_commands.py) raises KeyboardInterrupt: the worker
    # exits cleanly and main.py logs it as a SIGINT and returns 130
    assert "worker found ... calling exit" in output and "SIGINT received, aborting" in output
    assert returncode == 130


def test_a_hyperopt_result_beside_the_strategy_does_not_reach_the_tests(tmp_path: Path):
    # what the README's hyperopt leaves in user_data/strategies: the suite runs on a copy without it
    from conftest import strategy_copy

    source = tmp_path / "src"
    source.mkdir()
    (source / f"{STRATEGY}.py").write_text("# strategy\n")
    (source / f"{STRATEGY}.json").write_text('{"params": {"buy": {"x": 1}}}')
    copy = strategy_copy(tmp_path / "dest", source)
    assert sorted(p.name for p in copy.iterdir()) == [f"{STRATEGY}.py"]
    assert copy.parts[-2:] == ("user_data", "strategies")
