"""The live state survives a restart and stays bounded.

A bot that restarts rebuilds the liquidation map from the candles Freqtrade loads at start-up
(``startup_candle_count``): there is no saved state to lose or corrupt. These tests show that

* the rebuilt map equals the one that kept running, within the tolerance docs/STRATEGY.md states
  for the strategy's map (relative difference below 0.5%, the threshold of the recursive-analysis
  gate; a cluster's notional may exceed it now and then, when the missing old notional moves one
  of its edges by one 10 bp bin), for :class:`LiquidationEstimator` and for what
  ``populate_indicators`` computes;
* rebuilding is deterministic: twice, or in a fresh interpreter, gives bit-identical numbers;
* the live estimator's memory is flat over 500,000 candles and its state arrays do not grow.
"""

from __future__ import annotations

import gc
import json
import math
import subprocess
import sys
import tracemalloc
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from conftest import REPO, make_candles

from liq_indicator import LiquidationEstimator
from liq_indicator.strategy.signals import STRATEGY_COLUMNS, STRATEGY_HEATMAP, strategy_features

pytest.importorskip("freqtrade")

from strategy_helpers import load_strategy_class, make_strategy  # noqa: E402

PAIR = "BTC/USDT:USDT"
#: docs/STRATEGY.md: the recursive-analysis gate fails on a difference of 0.5% or more at 2,000 candles
TOLERANCE = 0.005
#: ... except a cluster's notional when an edge sits on the density threshold and moves by one bin
#: (docs/STRATEGY.md: above 0.5% at 0.3% of end points on real data)
CLUSTER_USD = ("liq_long_cluster_usd", "liq_short_cluster_usd")
ONE_BIN = math.expm1(STRATEGY_HEATMAP.bin_bp / 1e4)


@pytest.fixture(scope="module")
def strategy_class():
    return load_strategy_class()


@pytest.fixture(scope="module")
def startup(strategy_class) -> int:
    return int(strategy_class.startup_candle_count)


def rel_diff(a, b) -> np.ndarray:
    """|a - b| / max(|a|, |b|) per element; 0 where both are NaN or both 0, inf where one is NaN."""
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    scale = np.maximum(np.abs(a), np.abs(b))
    out = np.abs(a - b) / np.where(scale > 0, scale, 1.0)
    out[np.isnan(a) & np.isnan(b)] = 0.0
    out[np.isnan(a) ^ np.isnan(b)] = np.inf
    return out


def assert_close(got: pd.DataFrame, want: pd.DataFrame, columns, where: str) -> None:
    """Every column within TOLERANCE, except CLUSTER_USD on at most 1% of the rows (at least one),
    and there only where an edge of that cluster moved by one bin."""
    diffs = {c: rel_diff(got[c], want[c]) for c in columns}
    bad = {
        c: float(d.max())
        for c, d in diffs.items()
        if c not in CLUSTER_USD and not d.max() < TOLERANCE
    }
    assert not bad, f"{where}: relative difference >= {TOLERANCE:.1%}: {bad}"
    for column in set(CLUSTER_USD) & set(columns):
        over = ~(diffs[column] < TOLERANCE)
        assert over.sum() <= max(1, 0.01 * len(over)), f"{where}: {column} off at {over.sum()} rows"
        side = column.split("_")[1]
        edges = np.maximum(
            rel_diff(got[f"liq_{side}_cluster_near"], want[f"liq_{side}_cluster_near"]),
            rel_diff(got[f"liq_{side}_cluster_far"], want[f"liq_{side}_cluster_far"]),
        )
        assert (edges[over] > 0).all() and (edges[over] <= 1.01 * ONE_BIN).all(), (
            f"{where}: {column} off without its edge moving by one bin: {edges[over]}"
        )


# ------------------------------------------------------------------------------------------------
# restart: the rebuilt map equals the one that kept running


@pytest.mark.parametrize("oi", [False, True], ids=["volume", "open-interest"])
@pytest.mark.parametrize("vol", [0.0015, 0.0008], ids=["5m-vol-0.15%", "calm-0.08%"])
def test_estimator_rebuilt_from_the_startup_window_matches_the_running_one(oi, vol, startup):
    """The bot ran for 25 days, restarts, rebuilds from the last ``startup`` candles and goes on
    live for 300 candles: at every live candle both estimators give the same features. (In a calm
    market old levels survive longer, which is the harder case.)"""
    candles = make_candles(7500, seed=12, oi=oi, vol=vol)
    restart, live = len(candles) - 300, candles.iloc[-300:].to_dict("records")
    running = LiquidationEstimator(STRATEGY_HEATMAP)
    running.update_frame(candles.iloc[:restart])
    rebuilt = LiquidationEstimator(STRATEGY_HEATMAP)
    rebuilt.update_frame(candles.iloc[restart - startup : restart])
    rows_running = pd.DataFrame([running.update(c) for c in live])
    rows_rebuilt = pd.DataFrame([rebuilt.update(c) for c in live])
    assert_close(rows_rebuilt, rows_running, STRATEGY_COLUMNS, "live candles after the restart")
    if oi:
        assert rows_rebuilt["liq_oi_mode"].eq(1).all()
    # the whole map, not only the features read from it
    map_running, map_rebuilt = running.snapshot(15.0), rebuilt.snapshot(15.0)
    np.testing.assert_array_equal(map_rebuilt.bin_prices, map_running.bin_prices)
    for side in ("long", "short"):
        total_running = getattr(map_running, side).sum()
        total_rebuilt = getattr(map_rebuilt, side).sum()
        assert abs(total_rebuilt / total_running - 1) < TOLERANCE, side


def test_strategy_features_from_the_startup_window_match_long_history(strategy_class, startup):
    """``populate_indicators`` (+ entry signals) on the last ``startup`` candles, as Freqtrade
    hands them over after a restart, against the same on 25 days, at 8 end points."""
    candles = make_candles(7500, seed=12, oi=True, vol=0.0015)
    hourly = candles[candles["date"].dt.minute == 0]
    oi = hourly[["date"]].assign(
        open_interest_value=hourly["open_interest_value"].to_numpy(),
        open_interest_amount=(hourly["open_interest_value"] / hourly["close"]).to_numpy(),
    )
    funding = pd.DataFrame(
        {
            "date": candles["date"].iloc[::96].to_numpy(),
            "open": np.random.default_rng(12).normal(1e-4, 3e-4, len(candles) // 96 + 1),
        }
    )
    candles = candles.drop(columns="open_interest_value")

    def analyse(frame: pd.DataFrame) -> pd.DataFrame:
        strategy = make_strategy(strategy_class, None, oi=oi, funding=funding)
        out = strategy.populate_indicators(frame.reset_index(drop=True), {"pair": PAIR})
        return strategy.populate_entry_trend(out, {"pair": PAIR})

    full = analyse(candles)
    compared = [*STRATEGY_COLUMNS, "atr_14", "funding_rate", "oi_value"]
    assert set(compared) <= set(full.columns)
    for end in range(len(candles) - 1, len(candles) - 1 - 8 * 250, -250):
        window = analyse(candles.iloc[end + 1 - startup : end + 1])
        got, want = (
            window.iloc[[-1]].reset_index(drop=True),
            full.iloc[[end]].reset_index(drop=True),
        )
        assert got["date"].iloc[0] == want["date"].iloc[0]
        assert_close(got, want, compared, f"end point {want['date'].iloc[0]}")
        assert (
            got[["enter_long", "enter_short"]].to_numpy()
            == want[["enter_long", "enter_short"]].to_numpy()
        ).all()


def test_rebuilding_twice_is_bit_identical(startup):
    candles = make_candles(startup, seed=13, oi=True)
    first, second = LiquidationEstimator(STRATEGY_HEATMAP), LiquidationEstimator(STRATEGY_HEATMAP)
    rows_first, rows_second = first.update_frame(candles), second.update_frame(candles)
    np.testing.assert_array_equal(rows_first, rows_second)  # NaN == NaN here, every bit otherwise
    assert first.totals == second.totals
    for a, b in zip(first.state, second.state, strict=True):
        np.testing.assert_array_equal(a, b)
    features = strategy_features(candles, STRATEGY_HEATMAP)
    pd.testing.assert_frame_equal(
        features, strategy_features(candles, STRATEGY_HEATMAP), check_exact=True
    )


_FRESH_PROCESS = """
import sys
sys.path.insert(0, {tests!r})
from conftest import make_candles
from liq_indicator.strategy.signals import STRATEGY_HEATMAP, strategy_features
candles = make_candles({n}, seed=13, oi=True)
strategy_features(candles, STRATEGY_HEATMAP).to_feather({out!r})
"""


def test_a_fresh_process_rebuilds_the_same_bits(tmp_path: Path, startup):
    """A restart is a new interpreter: no hidden state (caches, thread counts) changes a bit."""
    out = tmp_path / "features.feather"
    code = _FRESH_PROCESS.format(tests=str(REPO / "tests"), n=startup, out=str(out))
    subprocess.run([sys.executable, "-c", code], check=True, timeout=120, cwd=tmp_path)
    here = strategy_features(make_candles(startup, seed=13, oi=True), STRATEGY_HEATMAP)
    there = pd.read_feather(out)
    there["date"] = there["date"].astype(here["date"].dtype)
    pd.testing.assert_frame_equal(there, here, check_exact=True)


# ------------------------------------------------------------------------------------------------
# memory: flat over a long replay


def live_chunks(n: int, size: int = 1000, seed: int = 0) -> Iterator[pd.DataFrame]:
    """``n`` 5m candles with open interest, as fresh frames of ``size`` rows (as a live feed
    delivers them: nothing shared with earlier chunks). Besides the noise, the log price swings
    by +-1.5 over 250,000 candles (a factor of 20), so the map's grid window must move."""
    rng = np.random.default_rng(seed)
    price, oi = 30_000.0, 5e9
    start = pd.Timestamp("2020-01-01", tz="UTC")
    for first in range(0, n, size):
        swing = np.diff(1.5 * np.sin(2 * np.pi * np.arange(first, first + size + 1) / 250_000))
        close = price * np.exp(np.cumsum(rng.normal(0, 0.002, size) + swing))
        open_ = np.r_[price, close[:-1]]
        wick = np.abs(rng.normal(0, 0.002, (2, size))) * np.maximum(open_, close)
        ois = oi * np.exp(np.cumsum(rng.normal(0, 0.003, size)))
        price, oi = float(close[-1]), float(ois[-1])
        yield pd.DataFrame(
            {
                "date": pd.date_range(
                    start + pd.Timedelta(minutes=5 * first), periods=size, freq="5min"
                ),
                "open": open_,
                "high": np.maximum(open_, close) + wick[0],
                "low": np.minimum(open_, close) - wick[1],
                "close": close,
                "volume": rng.lognormal(5, 1, size),
                "open_interest_value": ois,
            }
        )


def _state_bytes(est: LiquidationEstimator) -> int:
    return sum(a.nbytes for a in est.state)


def test_memory_is_flat_over_500k_candles():
    """500,000 5m candles (4.8 years; the price swings over a factor of ~20, so the grid window
    moves many times): traced Python memory and RSS sampled every 50,000 candles stay flat after
    the first 50,000, and the state arrays keep the size they had after the first candle."""
    # resident memory through psutil (installed with Freqtrade; it reads /proc on Linux, the
    # kernel's task info elsewhere), so the RSS check never passes on a missing measurement
    process = pytest.importorskip("psutil", reason="psutil measures the resident memory").Process()
    est = LiquidationEstimator(STRATEGY_HEATMAP)
    first = next(live_chunks(1, size=1, seed=99))
    est.update(first.iloc[0].to_dict())
    state_bytes = _state_bytes(est)
    est = LiquidationEstimator(STRATEGY_HEATMAP)
    traced, rss, prices, bases = [], [], [], set()
    tracemalloc.start()
    try:
        for k, chunk in enumerate(live_chunks(500_000)):
            est.update_frame(chunk)
            bases.add(int(est.state.base[0]))  # the grid window's first bin
            if k % 50 == 49:
                gc.collect()
                traced.append(tracemalloc.get_traced_memory()[0])
                rss.append(process.memory_info().rss // 1024)
                prices.append(float(chunk["close"].iloc[-1]))
    finally:
        tracemalloc.stop()
    report = json.dumps(
        {"traced_bytes": traced, "rss_kib": rss, "close": [round(p) for p in prices]}
    )
    assert est.candles_seen == 500_000
    assert _state_bytes(est) == state_bytes, report
    assert max(prices) / min(prices) > 10 and len(bases) > 5, report  # the window moved
    assert max(traced) - traced[0] < 256 * 1024, report  # < 0.6 bytes per candle
    assert len(rss) == 10 and min(rss) > 0, report  # ten real measurements
    assert max(rss) - rss[0] < 16 * 1024, report


def test_per_candle_updates_do_not_leak():
    """The live path (``update`` with one candle mapping at a time) allocates nothing that stays."""
    est = LiquidationEstimator(STRATEGY_HEATMAP)
    records = iter(
        [row for chunk in live_chunks(12_000, seed=5) for row in chunk.to_dict("records")]
    )
    for _ in range(5_000):
        est.update(next(records))
    tracemalloc.start()
    try:
        for _ in range(2_000):
            est.update(next(records))
        gc.collect()
        before = tracemalloc.get_traced_memory()[0]
        for _ in range(5_000):
            est.update(next(records))
        gc.collect()
        after = tracemalloc.get_traced_memory()[0]
    finally:
        tracemalloc.stop()
    assert after - before < 32 * 1024, f"{after - before} bytes kept over 5,000 updates"
