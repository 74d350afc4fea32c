"""LiqClusterStrategy on a 3-pair whitelist (BTC, ETH and 1000PEPE, whose tiers differ a lot)
under Freqtrade's real backtest, on real Binance candles through the offline exchange: each pair
is mapped, stopped and levered with its own maintenance-margin tiers.

1000PEPE's first tier ends at 20k USDT at 0.65% maintenance margin (50x from 20k); BTC's and ETH's
at 300k at 0.4%. The timerange is the one where the three pairs' 5m files overlap
(ETH's 5m ends 2024-05-14) and each of them has setups.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from conftest import REPO, SHARED_DATA, needs_shared_data

pytest.importorskip("freqtrade")

from liq_indicator.brackets import get_brackets, liquidation_price  # noqa: E402
from liq_indicator.io.backtest import load_trades  # noqa: E402
from liq_indicator.offline import running_exchange  # noqa: E402
from liq_indicator.risk import own_liquidation_price  # noqa: E402
from liq_indicator.strategy.signals import (  # noqa: E402
    STRATEGY_HEATMAP,
    SignalParams,
    entry_signals,
    strategy_features,
    trade_levels,
)

pytestmark = [pytest.mark.slow, needs_shared_data]

FUTURES = SHARED_DATA / "history" / "binance" / "futures"
PAIRS = ("BTC/USDT:USDT", "ETH/USDT:USDT", "1000PEPE/USDT:USDT")
TIMERANGE = "20240404-20240411"
STARTUP = 2000  # the strategy's startup_candle_count
TICK = {"BTC/USDT:USDT": 0.1, "ETH/USDT:USDT": 0.01, "1000PEPE/USDT:USDT": 1e-7}
LEVERAGE_CAP = 10  # TradeParams.max_leverage_cap
SAFETY = 1.5  # TradeParams.leverage_safety


def _prefix(pair: str) -> str:
    return pair.replace("/", "_").replace(":", "_")


def _markets(path: Path) -> Path:
    """The offline exchange's markets plus 1000PEPEUSDT (Binance's filters: 7 decimals, whole
    contracts), which it does not ship.
    """
    shipped = REPO / "liq_indicator" / "offline" / "markets.json"
    info = json.loads(shipped.read_text())
    eth = next(s for s in info["symbols"] if s["symbol"] == "ETHUSDT")
    pepe = json.loads(json.dumps(eth))
    pepe.update(symbol="1000PEPEUSDT", pair="1000PEPEUSDT", baseAsset="1000PEPE")
    pepe.update(pricePrecision=7, quantityPrecision=0)
    for f in pepe["filters"]:
        if f["filterType"] == "PRICE_FILTER":
            f.update(minPrice="0.0000010", maxPrice="2", tickSize="0.0000001")
        elif f["filterType"] in ("LOT_SIZE", "MARKET_LOT_SIZE"):
            f.update(minQty="1", maxQty="800000000", stepSize="1")
        elif f["filterType"] == "MIN_NOTIONAL":
            f.update(notional="5")
    info["symbols"].append(pepe)
    path.write_text(json.dumps(info))
    return path


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory, clean_strategies: Path):
    """(datadir, trades) of the 3-pair backtest."""
    missing = [p for p in PAIRS if not (FUTURES / f"{_prefix(p)}-5m-futures.feather").exists()]
    if missing:
        pytest.skip(f"shared data lacks the 5m candles of {', '.join(missing)} at {FUTURES}")
    root = tmp_path_factory.mktemp("multipair")
    datadir = root / "data" / "binance"
    (datadir / "futures").mkdir(parents=True)
    for pair in PAIRS:  # links, not copies: the data stays in the shared folder
        for path in FUTURES.glob(f"{_prefix(pair)}-*.feather"):
            (datadir / "futures" / path.name).symlink_to(path)
    (root / "user_data").mkdir()
    pairs = root / "pairs.json"
    pairs.write_text(json.dumps({"exchange": {"pair_whitelist": list(PAIRS)}}))
    with running_exchange(
        datadir, max_seconds=600, markets_file=_markets(root / "markets.json")
    ) as exchange:
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
            "LiqClusterStrategy",
            "--strategy-path",
            str(clean_strategies),
        ]
        result = subprocess.run(
            [sys.executable, "-m", "freqtrade", "backtesting", *args]
            + ["--timerange", TIMERANGE, "--export", "trades", "--cache", "none"],
            cwd=root,
            capture_output=True,
            text=True,
            timeout=300,
            env={**os.environ, "COLUMNS": "200"},
        )
    output = result.stdout + result.stderr
    assert result.returncode == 0, output[-6000:]
    assert "Traceback" not in output, output[-6000:]
    assert "skipped, no liquidation map" not in output, output[-3000:]
    return datadir, load_trades(root / "user_data" / "backtest_results")


def _features(datadir: Path, pair: str) -> pd.DataFrame:
    """The strategy's features of ``pair`` over the candles Freqtrade loaded, on its own map."""
    prefix = datadir / "futures" / _prefix(pair)
    candles = pd.read_feather(f"{prefix}-5m-futures.feather")
    first = pd.Timestamp(TIMERANGE.split("-")[0], tz="UTC") - pd.Timedelta(minutes=5 * STARTUP)
    last = pd.Timestamp(TIMERANGE.split("-")[1], tz="UTC")
    candles = candles[(candles["date"] >= first) & (candles["date"] < last)]
    funding = pd.read_feather(f"{prefix}-1h-funding_rate.feather")
    config = STRATEGY_HEATMAP.replace(symbol=pair)
    out = strategy_features(candles.reset_index(drop=True), config, funding=funding)
    return out.join(entry_signals(out, SignalParams())[["sweep_zone_pct"]])


def test_every_pair_trades_on_its_own_map(run):
    datadir, trades = run
    assert set(trades["pair"]) == set(PAIRS), trades["pair"].value_counts()
    params = SignalParams()
    for pair, group in trades.groupby("pair"):
        by_date = _features(datadir, str(pair)).set_index("date")
        tick = TICK[str(pair)]
        for trade in group.itertuples():
            row = by_date.loc[[trade.open_date - pd.Timedelta(minutes=5)]].reset_index()
            short = bool(trade.is_short)
            planned = trade_levels(row, short, params, entry=[trade.open_rate])["stop"].iloc[0]
            # the plan's stop on the pair's own map, or farther (moved out of a dense zone)
            stop = trade.stop_loss_abs
            assert (stop >= planned - tick) if short else (stop <= planned + tick), trade


def _freqtrade_binance():
    """Freqtrade's Binance exchange, backtest mode, isolated futures, its bundled tiers loaded by
    its own code and its default liquidation buffer (offline: no markets are fetched).
    """
    import freqtrade.exchange as fx
    from freqtrade.enums import MarginMode, RunMode, TradingMode

    ex = object.__new__(fx.Binance)
    ex._config = {"dry_run": True, "runmode": RunMode.BACKTEST, "stake_currency": "USDT"}
    ex.trading_mode = TradingMode.FUTURES
    ex.margin_mode = MarginMode.ISOLATED
    ex.liquidation_buffer = 0.05
    ex._exchange_ws = None  # read by Exchange.__del__
    ex._leverage_tiers = {}
    ex._markets = {
        p: {"inverse": False, "taker": 0.0005, "limits": {"leverage": {"max": 125.0}}}
        for p in PAIRS
    }
    ex.fill_leverage_tiers()
    return ex


def test_leverage_and_own_liquidation_use_each_pairs_tiers(run):
    _, trades = run
    freqtrade = _freqtrade_binance()
    differs = 0
    for trade in trades.itertuples():
        pair, short = str(trade.pair), bool(trade.is_short)
        notional = trade.amount * trade.open_rate
        table = get_brackets("binance", pair)
        assert table.source.startswith("Freqtrade's bundled Binance tiers"), table.source
        assert trade.leverage == int(trade.leverage), trade
        assert 1 <= trade.leverage <= min(LEVERAGE_CAP, table.max_leverage(notional)), trade
        # the exchange's liquidation price with the pair's tiers is Freqtrade's own
        ours = liquidation_price(
            trade.open_rate, trade.leverage, short, notional, "binance", pair=pair
        )
        exit_at = own_liquidation_price(
            trade.open_rate, trade.leverage, short, notional, symbol=pair
        )
        theirs = freqtrade.get_liquidation_price(
            pair,
            open_rate=trade.open_rate,
            is_short=short,
            amount=trade.amount,
            stake_amount=notional,  # the tier is the notional's
            leverage=trade.leverage,
            wallet_balance=notional / trade.leverage,
        )
        assert exit_at == pytest.approx(theirs, rel=1e-9), trade
        # the stop fires first, with the strategy's safety margin, on the pair's tiers
        dist = abs(trade.open_rate - trade.stop_loss_abs)
        assert abs(trade.open_rate - exit_at) >= SAFETY * dist * (1 - 1e-6), trade
        assert (exit_at > trade.stop_loss_abs) if short else (exit_at < trade.stop_loss_abs)
        btc = liquidation_price(trade.open_rate, trade.leverage, short, notional, "binance")
        differs += not np.isclose(ours, btc, rtol=1e-9)
    # 1000PEPE's maintenance rate is not BTC's: its trades liquidate elsewhere than BTC's tiers say
    pepe = trades["pair"].str.startswith("1000PEPE").sum()
    assert differs >= pepe > 0
