"""The map's FreqAI features (liq_indicator.strategy.freqai) and LiqFreqAIStrategy under the real
Freqtrade commands, offline: a FreqAI backtest with a tiny LightGBM model, with and without the map's
features, and lookahead-analysis, against the loopback Binance exchange on a simulated market.

The end-to-end tests need Freqtrade's ``freqai`` extra (lightgbm, datasieve, xgboost: the package's
``freqai`` extra) and skip without it.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from conftest import REPO, make_candles

from liq_indicator.errors import ConfigError
from liq_indicator.strategy.freqai import (
    FAR_PCT,
    FREQAI_COLUMNS,
    LiqFreqAIMixin,
    freqai_map_features,
)
from liq_indicator.strategy.signals import strategy_features

NAMES = [f"%liq_{c}" for c in FREQAI_COLUMNS]


@pytest.fixture(scope="module")
def candles_oi() -> pd.DataFrame:
    return make_candles(1200, seed=4, oi=True)


def _oi_frame(candles: pd.DataFrame) -> pd.DataFrame:
    return candles[["date", "open_interest_value"]].copy()


def test_features_are_named_finite_after_the_norm_window_and_leave_the_input_alone(candles_oi):
    before = candles_oi.copy()
    features = freqai_map_features(candles_oi, open_interest=_oi_frame(candles_oi))
    pd.testing.assert_frame_equal(candles_oi, before)
    assert list(features.columns) == NAMES
    assert features.index.equals(candles_oi.index)
    assert np.isfinite(features.iloc[287:].to_numpy()).all()
    assert features["%liq_long_dist_pct"].between(0, FAR_PCT).all()
    assert features["%liq_imbalance_2pct"].between(-1, 1).all()
    assert (features["%liq_oi_change_pct"].iloc[300:] != 0).any()


def test_features_follow_the_map_columns(candles_oi):
    oi = _oi_frame(candles_oi)
    features = freqai_map_features(candles_oi, open_interest=oi, norm_window=10, oi_window=3)
    base = candles_oi[["date", "open", "high", "low", "close", "volume"]]
    mapped = strategy_features(base, open_interest=oi)
    k = 500
    row = mapped.iloc[k]
    norm = (mapped["volume"] * mapped["close"]).iloc[k - 9 : k + 1].mean()
    long2, short2 = row["liq_long_2pct_usd"], row["liq_short_2pct_usd"]
    got = features.iloc[k]
    assert got["%liq_long_2pct_rel"] == pytest.approx(np.log1p(long2 / norm))
    assert got["%liq_imbalance_2pct"] == pytest.approx((long2 - short2) / (long2 + short2))
    assert got["%liq_swept_short_rel"] == pytest.approx(np.log1p(row["liq_swept_short_usd"] / norm))
    expected_oi = 100 * (mapped["oi_value"].iloc[k] / mapped["oi_value"].iloc[k - 3] - 1)
    assert got["%liq_oi_change_pct"] == pytest.approx(expected_oi)
    dist = row["liq_short_cluster_dist_pct"]
    assert got["%liq_short_dist_pct"] == pytest.approx(
        min(abs(dist), FAR_PCT) if np.isfinite(dist) else FAR_PCT
    )


def test_features_are_causal(candles_oi):
    oi = _oi_frame(candles_oi)
    full = freqai_map_features(candles_oi, open_interest=oi)
    cut = 700
    head = freqai_map_features(candles_oi.iloc[:cut], open_interest=oi.iloc[:cut])
    pd.testing.assert_frame_equal(head, full.iloc[:cut])


def test_without_side_data_open_interest_and_funding_read_zero():
    features = freqai_map_features(make_candles(400, seed=1))
    assert (features["%liq_oi_change_pct"] == 0).all()
    assert (features["%liq_funding_rate"] == 0).all()


def test_the_map_settings_are_the_second_argument_as_everywhere():
    """``freqai_map_features(candles, config)`` like ``liquidation_features(candles, config)``."""
    from liq_indicator.strategy.signals import STRATEGY_HEATMAP

    candles = make_candles(400, seed=1)
    other = STRATEGY_HEATMAP.replace(volume_share=STRATEGY_HEATMAP.volume_share * 4)
    assert freqai_map_features(candles, STRATEGY_HEATMAP).equals(freqai_map_features(candles))
    assert freqai_map_features(candles, other).equals(freqai_map_features(candles, config=other))
    assert not freqai_map_features(candles, other).equals(freqai_map_features(candles))


def test_bad_prefix_and_window_raise_config_errors(candles_oi):
    with pytest.raises(ConfigError, match="start with '%'"):
        freqai_map_features(candles_oi, prefix="liq_")
    with pytest.raises(ConfigError, match="norm_window must be an int >= 1"):
        freqai_map_features(candles_oi, norm_window=0)


class _Parent:
    def feature_engineering_standard(self, dataframe, metadata, **kwargs):
        return dataframe.assign(**{"%-own": 1.0})


class _Strategy(LiqFreqAIMixin, _Parent):
    timeframe = "5m"

    def __init__(self, config, dp=None):
        self.config = config
        self.dp = dp


class _DP:
    def __init__(self, oi):
        self.oi = oi
        self.asked: list[tuple[str, str]] = []

    def get_pair_dataframe(self, pair, timeframe=None, candle_type=""):
        self.asked.append((timeframe, candle_type))
        return self.oi if candle_type == "open_interest" else pd.DataFrame()

    def get_funding_rate_timeframe(self):
        return "1h"


def test_mixin_reads_open_interest_through_the_dataprovider_and_can_be_turned_off(candles_oi):
    candles = candles_oi.drop(columns="open_interest_value")
    oi = _oi_frame(candles_oi)
    dp = _DP(oi)
    meta = {"pair": "BTC/USDT:USDT"}
    out = _Strategy({}, dp).feature_engineering_standard(candles, meta)
    assert ("1h", "open_interest") in dp.asked
    assert "%-own" in out.columns and set(NAMES) <= set(out.columns)
    expected = freqai_map_features(candles, open_interest=oi)
    pd.testing.assert_frame_equal(out[NAMES], expected)
    off = _Strategy({"liq_freqai_map_features": False}, dp).feature_engineering_standard(
        candles, meta
    )
    assert not any(c.startswith("%liq_") for c in off.columns) and "%-own" in off.columns
    with pytest.raises(ConfigError, match="liq_freqai_map_features must be true or false"):
        _Strategy({"liq_freqai_map_features": "yes"}, dp).feature_engineering_standard(
            candles, meta
        )


# ------------------------------------------------------------------------------------------------
# end to end: Freqtrade + FreqAI, offline


STRATEGY = "LiqFreqAIStrategy"
TIMERANGE = "20240110-20240116"

# lookahead-analysis exits 0 whatever it finds and reports only the first differing row per
# column; this hook (run in the freqtrade process) records every row where a cut run's indicators
# differ from the full run's, so the test can tell FreqAI's own edge effect from a leak
_LOOKAHEAD_HOOK = """
import json, sys
from freqtrade.optimize.analysis import lookahead
SINK = sys.argv[1]
original = lookahead.LookaheadAnalysis.analyze_indicators
def analyze_indicators(self, full_vars, cut_vars, pair):
    cut = cut_vars.indicators[pair]
    diff = full_vars.indicators[pair].loc[cut.index].compare(cut)
    with open(SINK, "a") as sink:
        sink.write(json.dumps({"rows": [int(i) for i in diff.index], "last": int(cut.index[-1]),
                               "columns": sorted({c[0] for c in diff.columns})}) + "\\n")
    return original(self, full_vars, cut_vars, pair)
lookahead.LookaheadAnalysis.analyze_indicators = analyze_indicators
from freqtrade.main import main
sys.exit(main(sys.argv[2:]))
"""


@dataclass(frozen=True)
class Workspace:
    root: Path
    args: list[str]


@pytest.fixture(scope="module")
def workspace(tmp_path_factory: pytest.TempPathFactory, clean_strategies: Path):
    pytest.importorskip("freqtrade")
    # the model class itself: FreqAI's base model imports xgboost too, so lightgbm alone is not enough
    for module in ("lightgbm", "datasieve", "freqtrade.freqai.prediction_models.LightGBMRegressor"):
        pytest.importorskip(
            module,
            reason="Freqtrade's freqai extra is not installed (pip install -e '.[freqai]'; "
            "make test installs the freqtrade, plot and dev extras only)",
        )
    from liq_indicator.offline import running_exchange
    from liq_indicator.sim.market import simulate

    root = tmp_path_factory.mktemp("freqai")
    datadir = root / "data" / "binance"
    simulate(16, timeframe="5m", seed=3, scenario="cascade", start="2024-01-01").write(datadir)
    path = datadir / "futures" / "BTC_USDT_USDT-5m-futures.feather"
    frame = pd.read_feather(path)
    frame[["open", "high", "low", "close"]] = frame[["open", "high", "low", "close"]].round(1)
    frame.to_feather(path)
    hourly = (
        frame.set_index("date")
        .resample("1h")
        .agg({"open": "first", "high": "max", "low": "min", "close": "last", "volume": "sum"})
        .reset_index()
    )
    hourly.to_feather(datadir / "futures" / "BTC_USDT_USDT-1h-futures.feather")
    small = root / "small.json"  # a tiny model on short windows: two trainings in the timerange
    small.write_text(
        json.dumps(
            {
                "freqai": {
                    "train_period_days": 7,
                    "backtest_period_days": 3,
                    "model_training_parameters": {"n_estimators": 30},
                }
            }
        )
    )
    (root / "user_data").mkdir()
    with running_exchange(datadir, max_seconds=600) as exchange:
        overlay = exchange.write_overlay(root / "offline.json")
        args = [
            "--config", str(REPO / "config_freqai.json.example"),
            "--config", str(small),
            "--config", str(overlay),
            "--userdir", str(root / "user_data"),
            "--datadir", str(datadir),
            "--strategy", STRATEGY,
            "--strategy-path", str(clean_strategies),
            "--timerange", TIMERANGE,
        ]  # fmt: skip
        yield Workspace(root, args)


def _run(ws: Workspace, argv: list[str], timeout: float = 120) -> str:
    result = subprocess.run(
        [sys.executable, *argv],
        cwd=ws.root,
        capture_output=True,
        text=True,
        timeout=timeout,
        env={**os.environ, "COLUMNS": "200"},
    )
    output = result.stdout + result.stderr
    assert result.returncode == 0, output[-6000:]
    assert "Traceback" not in output, output[-6000:]
    return output


def _backtest(ws: Workspace, identifier: str, map_features: bool) -> list[str]:
    extra = ws.root / f"{identifier}.json"
    extra.write_text(
        json.dumps({"freqai": {"identifier": identifier}, "liq_freqai_map_features": map_features})
    )
    _run(
        ws, ["-m", "freqtrade", "backtesting", *ws.args, "--config", str(extra), "--cache", "none"]
    )
    models = ws.root / "user_data" / "models" / identifier
    metadata = sorted(models.glob("sub-train-*/*_metadata.json"))
    assert len(metadata) == 2  # the two training windows of the timerange
    features = json.loads(metadata[-1].read_text())["training_features_list"]
    predictions = sorted((models / "backtesting_predictions").glob("*.feather"))
    assert len(predictions) == 2
    frame = pd.concat([pd.read_feather(p) for p in predictions])
    assert frame["&-s_close"].notna().all() and (frame["do_predict"] == 1).mean() > 0.9
    return features


@pytest.mark.slow
def test_freqai_backtest_trains_on_the_map_features_or_without_them(workspace: Workspace):
    with_map = _backtest(workspace, "with-map", True)
    price_only = _backtest(workspace, "price-only", False)
    assert set(NAMES) <= set(with_map)
    assert not any(f.startswith("%liq_") for f in price_only)
    assert set(with_map) - set(price_only) == set(NAMES)


@pytest.mark.slow
def test_lookahead_analysis_finds_no_biased_signal(workspace: Workspace):
    hook, diffs, csv = (workspace.root / n for n in ("hook.py", "diffs.jsonl", "lookahead.csv"))
    hook.write_text(_LOOKAHEAD_HOOK)
    _run(
        workspace,
        [
            str(hook),
            str(diffs),
            "lookahead-analysis",
            *workspace.args,
            "--minimum-trade-amount",
            "3",
            "--targeted-trade-amount",
            "5",
            "--lookahead-analysis-exportfilename",
            str(csv),
        ],  # fmt: skip
        timeout=240,
    )
    row = pd.read_csv(csv).iloc[-1]
    assert row["total_signals"] >= 3
    assert row["biased_entry_signals"] == 0 and row["biased_exit_signals"] == 0
    # has_bias is True here for one reason only, FreqAI's: a backtest window predicts the candles
    # before its end (date < stop), so the one candle at a cut run's end is never predicted and
    # FreqAI fills it with 0. Every other candle of every cut run, predictions included, equals
    # the full run's: the features and the retrained models saw nothing of the future
    records = [json.loads(line) for line in diffs.read_text().splitlines()]
    assert len(records) >= 2 * 3
    for record in records:
        assert set(record["rows"]) <= {record["last"]}, record
