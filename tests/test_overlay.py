"""LiqRiskMixin, the liquidation map as a risk overlay: its callbacks called directly on stub
trades, wallets and a DataProvider (ratio semantics, leverage clear of stop and clusters, sizing,
safe answers without data), and one short offline backtest of SampleLiqOverlay.
"""

from __future__ import annotations

import math
import os
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from conftest import REPO, make_candles

pytest.importorskip("freqtrade")

from liq_indicator.errors import InputError  # noqa: E402
from liq_indicator.risk import own_liquidation_price  # noqa: E402
from liq_indicator.strategy.overlay import LiqRiskMixin  # noqa: E402

PAIR = "BTC/USDT:USDT"
WALLET = 10_000.0
FEE = 0.0005


class Host:
    """A strategy as the mixin sees it: its own indicators, ROI table and hard stoploss."""

    timeframe = "5m"
    stoploss = -0.10
    roi = 0.04

    def populate_indicators(self, dataframe: pd.DataFrame, metadata: dict) -> pd.DataFrame:
        dataframe["host_ema"] = dataframe["close"].ewm(span=10).mean()
        return dataframe

    def informative_pairs(self) -> list:
        return [("ETH/USDT:USDT", "1h", "futures")]

    def min_roi_reached_entry(self, trade, trade_dur, current_time):
        return 0, self.roi


class Overlaid(LiqRiskMixin, Host):
    pass


class Wallets:
    def get_total_stake_amount(self) -> float:
        return WALLET


class DP:
    """DataProvider stub: backtest mode, the analysed frame up to ``upto`` rows, no side data."""

    runmode = "backtest"

    def __init__(self) -> None:
        self.frame: pd.DataFrame | None = None
        self.upto = 0

    def get_analyzed_dataframe(self, pair: str, timeframe: str):
        frame = self.frame if self.frame is not None else pd.DataFrame()
        return frame.iloc[: self.upto], None

    def get_pair_dataframe(self, pair: str, timeframe: str, candle_type: str = ""):
        return pd.DataFrame()  # no open interest or funding file: volume mode

    def get_funding_rate_timeframe(self) -> str:
        return "8h"


@dataclass
class Trade:
    open_rate: float
    open_date: pd.Timestamp
    is_short: bool = False
    leverage: float = 1.0
    id: int = 1
    pair: str = PAIR
    max_rate: float | None = None
    min_rate: float | None = None
    custom: dict = field(default_factory=dict)

    @property
    def open_date_utc(self):
        return self.open_date.to_pydatetime()

    def get_custom_data(self, key, default=None):
        return self.custom.get(key, default)

    def set_custom_data(self, key, value):
        self.custom[key] = value


def make_strategy() -> tuple[Overlaid, DP]:
    strategy = Overlaid()
    dp = DP()
    strategy.dp, strategy.wallets, strategy.config = dp, Wallets(), {"fee": FEE}
    return strategy, dp


@pytest.fixture(scope="module")
def analysed() -> tuple[Overlaid, DP, pd.DataFrame]:
    strategy, dp = make_strategy()
    candles = make_candles(3000, seed=4, vol=0.003)
    frame = strategy.populate_indicators(candles.copy(), {"pair": PAIR})
    dp.frame, dp.upto = frame, len(frame)
    return strategy, dp, frame


def stop_price(ratio: float, rate: float, leverage: float, is_short: bool) -> float:
    """Where Freqtrade puts the stop for a ``custom_stoploss`` ratio (Trade.adjust_stop_loss)."""
    return rate * (1 + ratio / leverage) if is_short else rate * (1 - ratio / leverage)


def test_features_keep_the_hosts_columns_and_leave_the_input_alone(analysed):
    strategy, _, frame = analysed
    candles = make_candles(600, seed=1)
    before = candles.copy()
    out = strategy.populate_liq_features(candles, {"pair": PAIR})
    pd.testing.assert_frame_equal(candles, before)
    assert "host_ema" in frame.columns  # the host's populate_indicators ran first
    for column in ("liq_long_cluster_far", "atr_14", "sweep_zone_pct", "overshoot_long_pct"):
        assert column in out.columns and column in frame.columns
    with pytest.raises(InputError, match="pair"):
        strategy.populate_liq_features(candles, {})


def test_informative_pairs_add_side_data_only_live(analysed):
    strategy, dp, _ = analysed
    assert strategy.informative_pairs() == [("ETH/USDT:USDT", "1h", "futures")]


@pytest.mark.parametrize("is_short", [False, True])
def test_stoploss_ratio_puts_the_stop_beyond_the_cluster_and_its_sweep_zone(analysed, is_short):
    strategy, dp, frame = analysed
    side = "short" if is_short else "long"
    checked = 0
    for upto in range(2200, 3000, 40):  # entries in time order, as a backtest makes them
        dp.upto = upto
        row = frame.iloc[upto - 1]
        rate = float(frame["open"].iloc[upto])
        date = frame["date"].iloc[upto]
        trade = Trade(rate, date, is_short=is_short, leverage=5.0, id=upto + 10_000 * is_short)
        ratio = strategy.custom_stoploss(PAIR, trade, date.to_pydatetime(), rate, 0.0, True)
        assert ratio is not None and ratio > 0
        stop = stop_price(ratio, rate, 5.0, is_short)
        assert (stop > rate) if is_short else (stop < rate)
        far, zone = float(row[f"liq_{side}_cluster_far"]), float(row["sweep_zone_pct"])
        usable = math.isfinite(far) and ((far > rate) if is_short else (far < rate))
        if usable:
            sweep = far * (1 + zone / 100) if is_short else far * (1 - zone / 100)
            beyond = max(far, sweep) if is_short else min(far, sweep)
            # beyond the far edge and the sweep zone (1e-9: float round trip of the ratio)
            assert (stop >= beyond * (1 - 1e-9)) if is_short else (stop <= beyond * (1 + 1e-9))
            zones = strategy.liq_state.maps.zones(PAIR, date.to_pydatetime(), is_short) or []
            assert not any(lo <= stop <= hi for lo, hi in zones), (stop, zones)
            checked += 1
        # the same stop at a later rate: Freqtrade's ratio is relative to the current rate
        later = rate * (1.01 if is_short else 0.99)
        again = strategy.custom_stoploss(PAIR, trade, date.to_pydatetime(), later, 0.0, False)
        if (later < stop) if is_short else (later > stop):
            assert stop_price(again, later, 5.0, is_short) == pytest.approx(stop, rel=1e-9)
    assert checked >= 5  # enough entries had a usable cluster


def test_price_through_the_stop_asks_to_exit_now(analysed):
    strategy, dp, frame = analysed
    dp.upto = 2600
    rate, date = float(frame["open"].iloc[2600]), frame["date"].iloc[2600]
    trade = Trade(rate, date, leverage=3.0, id=77)
    stop = stop_price(strategy.custom_stoploss(PAIR, trade, date, rate, 0.0, True), rate, 3, False)
    ratio = strategy.custom_stoploss(PAIR, trade, date, stop * 0.99, 0.0, False)
    assert 0 < ratio < 1e-3  # a tiny positive ratio: Freqtrade ignores 0


@pytest.mark.parametrize("is_short", [False, True])
def test_leverage_keeps_the_own_liquidation_beyond_the_stop_and_outside_clusters(is_short):
    strategy, dp = make_strategy()  # a fresh map cursor: entries in time order again
    frame = strategy.populate_indicators(make_candles(3000, seed=4, vol=0.003), {"pair": PAIR})
    dp.frame, dp.upto = frame, len(frame)
    side = "short" if is_short else "long"
    levered = 0
    for upto in range(2200, 3000, 50):
        dp.upto = upto
        rate, date = float(frame["open"].iloc[upto]), frame["date"].iloc[upto].to_pydatetime()
        lev = strategy.leverage(PAIR, date, rate, 1.0, 125.0, None, side)
        stake = strategy.custom_stake_amount(PAIR, date, rate, 9e3, 5.0, 9e3, lev, None, side)
        trade = Trade(rate, pd.Timestamp(date), is_short=is_short, leverage=lev, id=-upto)
        stop = stop_price(
            strategy.custom_stoploss(PAIR, trade, date, rate, 0.0, True), rate, lev, is_short
        )
        notional = stake * lev
        liq = own_liquidation_price(rate, lev, is_short, notional)
        assert lev == int(lev) and 1 <= lev <= strategy.liq_trade_params.max_leverage_cap
        assert abs(rate - liq) >= 1.5 * abs(rate - stop) * (1 - 1e-6)
        assert (liq > stop) if is_short else (liq < stop)
        zones = strategy.liq_state.maps.zones(PAIR, date, is_short) or []
        assert not any(lo <= liq <= hi for lo, hi in zones)
        if lev < strategy.liq_trade_params.max_leverage_cap:  # one more would break a rule
            higher = own_liquidation_price(rate, lev + 1, is_short, notional)
            assert abs(rate - higher) < 1.5 * abs(rate - stop) or any(
                lo <= higher <= hi for lo, hi in zones
            )
        levered += lev > 1
    assert levered >= 3


def test_stake_loses_the_risk_fraction_at_the_stop(analysed):
    strategy, dp, frame = analysed
    dp.upto = 2500
    rate, date = float(frame["open"].iloc[2500]), frame["date"].iloc[2500].to_pydatetime()
    stake = strategy.custom_stake_amount(PAIR, date, rate, 9e3, 5.0, 9e3, 4.0, None, "long")
    trade = Trade(rate, pd.Timestamp(date), leverage=4.0, id=5)
    stop = stop_price(strategy.custom_stoploss(PAIR, trade, date, rate, 0.0, True), rate, 4, False)
    amount = stake * 4.0 / rate
    loss = amount * (rate - stop) + FEE * amount * (rate + stop)  # price move + entry and exit fee
    # notional * (distance + 2 fee) = 0.75% of the wallet; the exit fee on the stop price is a
    # little less than on the entry
    assert loss == pytest.approx(0.0075 * WALLET, rel=2 * FEE)
    assert loss <= 0.0075 * WALLET
    # Freqtrade's max_stake caps it
    assert strategy.custom_stake_amount(PAIR, date, rate, 9e3, 5.0, 10.0, 4.0, None, "long") == 10.0


def test_without_features_the_answers_are_the_hosts_own_risk():
    strategy, dp = make_strategy()  # no analysed frame at all
    now = pd.Timestamp("2024-01-05", tz="UTC")
    trade = Trade(100.0, now, leverage=1.0)
    assert strategy.custom_stoploss(PAIR, trade, now, 100.0, 0.0, True) is None
    assert strategy.leverage(PAIR, now, 100.0, 1.0, 20.0, None, "long") == 1.0
    stake = strategy.custom_stake_amount(PAIR, now, 100.0, 9e3, 5.0, 9e3, 1.0, None, "long")
    # sized at the host's own 10% stop at 1x: 75 USDT over 10% plus two fees
    assert stake == pytest.approx(0.0075 * WALLET / (0.10 + 2 * FEE))
    # a NaN feature row (warm-up: ATR unknown) gives the same safe answers
    frame = strategy.populate_indicators(make_candles(10, seed=2), {"pair": PAIR})
    dp.frame, dp.upto = frame, len(frame)
    assert math.isnan(frame["atr_14"].iloc[-1])
    assert strategy.custom_stoploss(PAIR, Trade(100.0, now, id=9), now, 100.0, 0.0, True) is None
    assert strategy.leverage(PAIR, now, 100.0, 1.0, 20.0, None, "short") == 1.0


def test_roi_keeps_its_price_meaning_under_leverage():
    strategy, _ = make_strategy()
    now = pd.Timestamp("2024-01-05", tz="UTC")
    assert strategy.min_roi_reached_entry(Trade(1.0, now, leverage=5.0), 10, now) == (0, 0.2)
    strategy.roi = -1
    assert strategy.min_roi_reached_entry(Trade(1.0, now, leverage=5.0), 10, now) == (0, -1)
    strategy.roi, strategy.liq_roi_at_1x = 0.04, False
    assert strategy.min_roi_reached_entry(Trade(1.0, now, leverage=5.0), 10, now) == (0, 0.04)


# ------------------------------------------------------------------------------------------------
# one short offline backtest


@pytest.mark.slow
def test_sample_overlay_backtest_trades_with_the_maps_risk(tmp_path: Path, clean_strategies: Path):
    from liq_indicator.io.backtest import load_trades
    from liq_indicator.offline import running_exchange
    from liq_indicator.sim.market import simulate

    datadir = tmp_path / "data" / "binance"
    simulate(11, timeframe="5m", seed=3, scenario="cascade", start="2024-01-01").write(datadir)
    (tmp_path / "user_data").mkdir()
    pairs = tmp_path / "pairs.json"
    pairs.write_text('{"exchange": {"pair_whitelist": ["BTC/USDT:USDT"]}, "max_open_trades": 1}')
    with running_exchange(datadir, max_seconds=300) as exchange:
        overlay = exchange.write_overlay(tmp_path / "offline.json")
        result = subprocess.run(
            [
                sys.executable,
                "-m",
                "freqtrade",
                "backtesting",
                *("--config", str(REPO / "config.json.example")),
                *("--config", str(pairs), "--config", str(overlay)),
                *("--userdir", str(tmp_path / "user_data"), "--datadir", str(datadir)),
                *("--strategy-path", str(clean_strategies), "--strategy", "SampleLiqOverlay"),
                *("--timerange", "20240108-20240111", "--export", "trades", "--cache", "none"),
            ],
            cwd=tmp_path,
            capture_output=True,
            text=True,
            timeout=120,
            env={**os.environ, "COLUMNS": "200"},
        )
    output = result.stdout + result.stderr
    assert result.returncode == 0 and "Traceback" not in output, output[-5000:]
    trades = load_trades(tmp_path / "user_data" / "backtest_results")
    assert len(trades) >= 2
    assert (trades["leverage"] > 1).any()
    for trade in trades.itertuples():
        assert trade.stop_loss_abs < trade.open_rate  # SampleStrategy is long only
        liq = own_liquidation_price(
            trade.open_rate, trade.leverage, False, trade.amount * trade.open_rate
        )
        assert trade.open_rate - liq >= 1.5 * (trade.open_rate - trade.stop_loss_abs) * (1 - 1e-6)
        # 0.75% of the wallet at the stop (fees and Freqtrade's 0.99 make it a little less)
        risked = trade.amount * (trade.open_rate - trade.stop_loss_abs)
        assert risked <= 0.0075 * WALLET * 1.1
    assert np.isin(trades["exit_reason"], ["roi", "exit_signal", "stop_loss", "force_exit"]).all()
