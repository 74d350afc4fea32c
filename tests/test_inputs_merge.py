"""core.inputs.merge_side: the one causal merge of side frames that the map (prepare) and the
strategy's features (strategy_features) both read."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest
from conftest import make_candles

from liq_indicator import HeatmapConfig, liquidation_features
from liq_indicator.core.inputs import merge_side
from liq_indicator.errors import DataWarning, InputError
from liq_indicator.strategy.signals import STRATEGY_HEATMAP, strategy_features

NAN = np.nan


def test_merge_side_exact_on_a_hand_built_frame():
    # 1h candles 00:00..08:00; a row is known at its own period's close, a candle sees what is
    # known by its close (d + 1h)
    dates = pd.Series(pd.date_range("2024-01-02", periods=9, freq="1h", tz="UTC"))
    oi = pd.DataFrame(
        {
            "date": pd.to_datetime(
                ["2024-01-01 22:00", "2024-01-02 00:00", "2024-01-02 02:00"], utc=True
            ),
            "open_interest_value": [1.0, 2.0, 3.0],  # 2h rows: known at 00:00, 02:00, 04:00
            "taker_long_short_ratio": [0.5, 1.0, 1.5],
        }
    )
    funding = pd.DataFrame(
        {  # 8h rows, the rate in the legacy 'open': known at 00:00 and 08:00
            "date": pd.to_datetime(["2024-01-01 16:00", "2024-01-02 00:00"], utc=True),
            "open": [1e-4, -2e-4],
        }
    )
    with pytest.warns(DataWarning, match="open interest is stale for 1 candle"):
        side = merge_side(dates, HeatmapConfig(), open_interest=oi, funding=funding)
    assert sorted(side) == ["funding_rate", "open_interest_value", "taker_long_short_ratio"]
    # the 02:00 row (known 04:00) is two periods old at 08:00 (still used), older at 09:00
    np.testing.assert_array_equal(side["open_interest_value"], [1, 2, 2, 3, 3, 3, 3, 3, NAN])
    # the taker ratio has no age limit
    np.testing.assert_array_equal(
        side["taker_long_short_ratio"], [0.5, 1, 1, 1.5, 1.5, 1.5, 1.5, 1.5, 1.5]
    )
    np.testing.assert_array_equal(side["funding_rate"], [1e-4] * 7 + [-2e-4] * 2)


def test_merge_side_without_side_frames_is_empty_and_checks_its_frames():
    dates = make_candles(10)["date"]
    assert merge_side(dates, HeatmapConfig()) == {}
    with pytest.raises(InputError, match="needs 'open_interest_value'"):
        merge_side(dates, HeatmapConfig(), open_interest=pd.DataFrame({"date": dates}))
    with pytest.raises(InputError, match="funding frame needs 'funding_rate'"):
        merge_side(dates, HeatmapConfig(), funding=pd.DataFrame({"date": dates}))


def test_the_map_and_the_strategy_read_the_same_merge():
    candles = make_candles(600, oi=False)
    hourly = candles[candles["date"].dt.minute == 0]
    oi = hourly[["date"]].assign(
        open_interest_value=np.linspace(4e9, 5e9, len(hourly)), taker_long_short_ratio=1.2
    )
    funding = pd.DataFrame({"date": candles["date"].iloc[::96].to_numpy(), "open": 0.0003})
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # nothing here is stale, naive or unsorted
        side = merge_side(candles["date"], STRATEGY_HEATMAP, open_interest=oi, funding=funding)
        by_frames = liquidation_features(
            candles, STRATEGY_HEATMAP, open_interest=oi, funding=funding
        )
        by_columns = liquidation_features(candles.assign(**side), STRATEGY_HEATMAP)
        strat = strategy_features(candles, open_interest=oi, funding=funding, keep=None)
    liq = [c for c in by_frames.columns if c.startswith("liq_")]
    pd.testing.assert_frame_equal(by_frames[liq], by_columns[liq])
    pd.testing.assert_frame_equal(strat[liq], by_frames[liq])
    np.testing.assert_array_equal(strat["funding_rate"], side["funding_rate"])
    np.testing.assert_array_equal(strat["oi_value"], side["open_interest_value"])
