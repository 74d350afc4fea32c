"""Builders shared by the picture tests (test_plot, test_plot_browser): sample candles with
features and heatmap, Freqtrade-style exported trades, a backtest result folder."""

from __future__ import annotations

import json
import zipfile
from pathlib import Path

import pandas as pd
from conftest import make_candles

from liq_indicator import liquidation_features, liquidation_heatmap

PAIR = "BTC/USDT:USDT"
STRATEGY = "LiqClusterStrategy"


def sample_data(n: int = 720, seed: int = 3):
    """Candles with features, their heatmap, and a map at the last candle."""
    candles = make_candles(n, seed=seed, vol=0.006)
    feats = liquidation_features(candles)
    heat = liquidation_heatmap(candles, max_times=240, max_price_bins=90)
    return candles, feats, heat


def sample_trade_records(candles: pd.DataFrame) -> list[dict]:
    """Freqtrade-style exported trades (as `backtesting --export trades` writes them)."""
    out = []
    for k, (i, j, short) in enumerate(
        ((40, 120, False), (200, 260, True), (400, 520, False), (560, 640, True))
    ):
        o, c = float(candles["close"][i]), float(candles["close"][j])
        ratio = (o - c) / o if short else (c - o) / o
        initial = o * (1.04 if short else 0.96)
        out.append(
            {
                "pair": PAIR,
                "stake_amount": 100.0,
                "max_stake_amount": 100.0,
                "amount": 0.01,
                "open_date": f"{candles['date'][i]:%Y-%m-%d %H:%M:%S}+00:00",
                "close_date": f"{candles['date'][j]:%Y-%m-%d %H:%M:%S}+00:00",
                "open_rate": o,
                "close_rate": c,
                "fee_open": 0.0005,
                "fee_close": 0.0005,
                "trade_duration": (j - i) * 5,
                "profit_ratio": ratio,
                "profit_abs": ratio * 100,
                "exit_reason": "exit_signal" if k % 2 else "stop_loss",
                "initial_stop_loss_abs": initial,
                "initial_stop_loss_ratio": -0.04,
                "stop_loss_abs": initial * (0.99 if short else 1.01),
                "stop_loss_ratio": -0.03,
                "min_rate": min(o, c),
                "max_rate": max(o, c),
                "is_open": False,
                "enter_tag": "",
                "leverage": 3.0,
                "is_short": short,
                "open_timestamp": int(candles["date"][i].timestamp() * 1000),
                "close_timestamp": int(candles["date"][j].timestamp() * 1000),
                "orders": [],
                "funding_fees": 0.0,
            }
        )
    return out


def write_backtest(
    folder: Path,
    trades: list[dict],
    *,
    strategies: tuple[str, ...] = (STRATEGY,),
    as_zip: bool = True,
    stem: str = "backtest-result-2024-01-05_10-00-00",
    period: tuple[str, str] | None = None,
    period_in_meta: bool = True,
) -> Path:
    """A backtest result in Freqtrade's layout: <stem>.zip holding <stem>.json (+ config json),
    <stem>.meta.json beside it, and .last_result.json naming it. ``period`` (start, end dates)
    is written as Freqtrade does: seconds in the meta file (unless not ``period_in_meta``),
    milliseconds in the result."""
    folder.mkdir(parents=True, exist_ok=True)
    span = {}
    if period is not None:
        a, b = (int(pd.Timestamp(t, tz="UTC").timestamp()) for t in period)
        span = {"backtest_start_ts": a, "backtest_end_ts": b}
    stats = {
        "strategy": {
            name: {
                "trades": trades,
                "locks": [],
                "timeframe": "5m",
                **{k: v * 1000 for k, v in span.items()},
            }
            for name in strategies
        },
        "strategy_comparison": [{"key": name} for name in strategies],
    }
    meta_span = span if period_in_meta else {}
    (folder / f"{stem}.meta.json").write_text(
        json.dumps(
            {name: {"run_id": "x", "backtest_start_time": 0, **meta_span} for name in strategies}
        )
    )
    if as_zip:
        path = folder / f"{stem}.zip"
        with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
            zf.writestr(f"{stem}.json", json.dumps(stats))
            zf.writestr(f"{stem}_config.json", json.dumps({"timeframe": "5m"}))
    else:
        path = folder / f"{stem}.json"
        path.write_text(json.dumps(stats))
    (folder / ".last_result.json").write_text(json.dumps({"latest_backtest": path.name}))
    return path


def write_recorded(
    datadir: Path, candles: pd.DataFrame, n: int = 60, seed: int = 5
) -> pd.DataFrame:
    """Record ``n`` synthetic liquidations of PAIR into ``datadir`` the way ``liq-indicator
    record`` stores them (raw events, then the 1m file): longs at candle lows, shorts at highs,
    lognormal sizes. Returns the events written."""
    import numpy as np

    from liq_indicator.io import liquidations as store

    rng = np.random.default_rng(seed)
    rows = []
    for i in np.sort(rng.choice(len(candles), n, replace=False)):
        ts = int(candles["date"].iloc[i].value // 1_000_000) + int(rng.integers(0, 300)) * 1000
        side = "long" if rng.random() < 0.5 else "short"
        price = float(candles["low" if side == "long" else "high"].iloc[i])
        amount = float(rng.lognormal(0.0, 1.5))
        rows.append(
            {
                "ts": ts,
                "exchange": "binance",
                "pair": PAIR,
                "side": side,
                "price": price,
                "amount": amount,
                "usd": price * amount,
                "received": ts,
            }
        )
    events = store.events_frame(rows)
    store.write_events(datadir, events)
    store.rebuild_minutes(datadir, int(events["ts"].min()), int(events["ts"].max()) + 1)
    return events
