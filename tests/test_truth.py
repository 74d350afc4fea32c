"""The truth loaders of research.truth: every layout on small hand-built files, and the shared files."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from conftest import HISTORY_5M, SHARED_DATA, needs_shared_data

from liq_indicator.errors import InputError
from liq_indicator.io.datadir import read_candles
from liq_indicator.io.ohlcv import resample_ohlcv
from liq_indicator.research.metrics import spearman
from liq_indicator.research.truth import (
    SHARED_FILLS,
    SHARED_TRUTH,
    TruthSeries,
    load_fills,
    load_truth,
    shared_fills,
    shared_truth,
)

DATES_4H = ["2025-01-01 00:00:00+00:00", "2025-01-01 04:00:00+00:00", "2025-01-01 08:00:00+00:00"]


def _write(tmp_path, name: str, frame: pd.DataFrame):
    p = tmp_path / name
    if p.suffix == ".feather":
        frame.to_feather(p)
    else:
        frame.to_csv(p, index=False)
    return p


# ------------------------------------------------------------------------------------------------
# bar series: layouts
def test_generic_layout_csv_sorted_with_bar_and_us_index(tmp_path):
    frame = pd.DataFrame(
        {"date": DATES_4H[::-1], "long_usd": [3.0, 2.0, 1.0], "short_usd": [0.0, 5.0, 6.0]}
    )
    t = load_truth(_write(tmp_path, "mine.csv", frame), venue="Bybit")
    assert isinstance(t, TruthSeries)
    assert (t.name, t.venue, t.bar) == ("mine", "bybit", pd.Timedelta("4h"))
    assert t.frame.index.is_monotonic_increasing and t.frame.index.unit == "us"
    assert str(t.frame.index.tz) == "UTC"
    assert list(t.frame.columns) == ["long_usd", "short_usd"]
    assert t.frame["long_usd"].tolist() == [1.0, 2.0, 3.0]
    assert t.frame["short_usd"].dtype == np.float64


def test_generic_layout_feather_naive_dates_are_utc(tmp_path):
    frame = pd.DataFrame(
        {
            "date": pd.date_range("2025-01-01", periods=4, freq="1h"),
            "long_usd": [1.0, 2, 3, 4],
            "short_usd": [1.0, 1, 1, 1],
        }
    )
    t = load_truth(_write(tmp_path, "rec.feather", frame))
    assert t.venue == "unknown"
    assert t.bar == pd.Timedelta("1h")
    assert t.frame.index[0] == pd.Timestamp("2025-01-01", tz="UTC")


def test_coinglass_layout_venue_from_argument_or_file_name(tmp_path):
    frame = pd.DataFrame(
        {
            "date": DATES_4H,
            "liquidation_long_usd": [1.0, 2, 3],
            "liquidation_short_usd": [4.0, 5, 6],
        }
    )
    named = load_truth(_write(tmp_path, "coinglass_okx_btc.csv", frame))
    assert named.venue == "okx"
    assert named.frame["short_usd"].tolist() == [4.0, 5.0, 6.0]
    assert load_truth(_write(tmp_path, "export.csv", frame)).venue == "unknown"
    assert load_truth(tmp_path / "export.csv", venue="binance").venue == "binance"


def test_all_exchange_layout_is_venue_all(tmp_path):
    frame = pd.DataFrame(
        {
            "date": DATES_4H,
            "price_open": [1.0, 1, 1],
            "liquidation_long_usd": [1.0, 2, 3],
            "liquidation_short_usd": [1.0, 2, 3],
            "liquidation_total_usd": [2.0, 4, 6],
            "oi_open": [9.0, 9, 9],
        }
    )
    p = _write(tmp_path, "agg.csv", frame)
    assert load_truth(p).venue == "all"
    with pytest.raises(InputError, match="all major exchanges"):
        load_truth(p, venue="binance")


def test_coinalyze_layout_sums_the_venue_contracts_and_drops_incomplete_days(tmp_path):
    frame = pd.DataFrame(
        {
            "date": ["2024-01-02", "2024-01-01", "2024-01-03"],  # out of order, as in the file
            "BTC/USD - Binance_long": [1.0, 10.0, np.nan],
            "BTC/USD - Binance_short": [2.0, 20.0, np.nan],
            "BTC/USDT - Binance_long": [100.0, 1000.0, 5.0],
            "BTC/USDT - Binance_short": [200.0, 2000.0, 5.0],
            "BTC/USDT - Bybit_long": [7.0, 7.0, 7.0],
            "BTC/USDT - Bybit_short": [8.0, 8.0, 8.0],
        }
    )
    p = _write(tmp_path, "cz.csv", frame)
    b = load_truth(p, venue="Binance")
    assert b.venue == "binance"
    assert b.frame["long_usd"].tolist() == [1010.0, 101.0]  # 01-03 lacks a contract: dropped
    assert b.frame["short_usd"].tolist() == [2020.0, 202.0]
    assert b.bar == pd.Timedelta("1D")
    assert "1 days dropped" in b.source
    every = load_truth(p, venue="all")
    assert every.frame["long_usd"].tolist() == [1017.0, 108.0]
    assert load_truth(p, venue="bybit").frame["long_usd"].tolist() == [7.0, 7.0, 7.0]
    with pytest.raises(InputError, match="venue="):
        load_truth(p)
    with pytest.raises(InputError, match="no contract of venue 'okx'"):
        load_truth(p, venue="okx")


def test_between_is_half_open(tmp_path):
    frame = pd.DataFrame({"date": DATES_4H, "long_usd": [1.0, 2, 3], "short_usd": [0.0, 0, 0]})
    t = load_truth(_write(tmp_path, "t.csv", frame))
    part = t.between("2025-01-01 04:00", "2025-01-01 08:00")
    assert part.frame["long_usd"].tolist() == [2.0]
    assert (part.name, part.venue, part.bar) == (t.name, t.venue, t.bar)
    assert t.between(end=pd.Timestamp("2025-01-01 04:00", tz="UTC")).frame["long_usd"].tolist() == [
        1.0
    ]
    assert len(t.between().frame) == 3


@pytest.mark.parametrize(
    ("frame", "match"),
    [
        (pd.DataFrame({"date": DATES_4H, "long": [1, 2, 3]}), "match no liquidation layout"),
        (
            pd.DataFrame({"date": DATES_4H, "long_usd": [1, -2, 3], "short_usd": [1, 1, 1]}),
            "negative",
        ),
        (
            pd.DataFrame({"date": DATES_4H, "long_usd": [1, None, 3], "short_usd": [1, 1, 1]}),
            "missing",
        ),
        (
            pd.DataFrame({"date": [DATES_4H[0]] * 2, "long_usd": [1.0, 2], "short_usd": [1.0, 1]}),
            "more than once",
        ),
        (pd.DataFrame({"date": DATES_4H[:1], "long_usd": [1.0], "short_usd": [1.0]}), "two"),
        (
            pd.DataFrame({"date": ["not a date"] * 2, "long_usd": [1.0, 2], "short_usd": [1.0, 1]}),
            "UTC dates",
        ),
    ],
)
def test_bad_truth_files_raise_input_error_naming_the_file(tmp_path, frame, match):
    p = _write(tmp_path, "bad.csv", frame)
    with pytest.raises(InputError, match=match) as err:
        load_truth(p)
    assert "bad.csv" in str(err.value)


def test_missing_truth_file_and_unknown_shared_name(tmp_path):
    with pytest.raises(InputError, match="does not exist"):
        load_truth(tmp_path / "none.csv")
    with pytest.raises(InputError, match="binance_4h"):
        shared_truth("nope", tmp_path)
    with pytest.raises(InputError, match="does not exist"):
        shared_truth("binance_4h", tmp_path)


# ------------------------------------------------------------------------------------------------
# fills
def test_fills_layouts_and_side_labels(tmp_path):
    hl = pd.DataFrame(
        {
            "timestamp": ["2025-05-25 15:22:37.704+00:00", "2025-05-25 15:21:42.312+00:00"],
            "venue": ["hyperliquid", "hyperliquid"],
            "side": ["S", "S"],
            "size_usd": [11.7, 711.0],
            "price": [106913.0, 106925.0],
            "note": ["x", "x"],
        }
    )
    f = load_fills(_write(tmp_path, "hl.csv", hl))
    assert list(f.columns) == ["date", "side", "price", "size_usd", "venue"]
    assert f["side"].tolist() == ["short", "short"]
    assert f["size_usd"].tolist() == [711.0, 11.7]  # sorted by date
    assert f["date"].dt.unit == "us"
    mine = pd.DataFrame(
        {"date": DATES_4H[:2], "side": ["Long", "short"], "price": [1.0, 2.0], "size_usd": [3.0, 4]}
    )
    g = load_fills(_write(tmp_path, "mine.csv", mine), venue="OKX")
    assert g["side"].tolist() == ["long", "short"]
    assert g["venue"].tolist() == ["okx", "okx"]


def test_fills_order_sides_need_a_side_map(tmp_path):
    frame = pd.DataFrame(
        {"time": DATES_4H[:2], "side": ["sell", "buy"], "price": [1.0, 2.0], "size_usd": [3.0, 4]}
    )
    p = _write(tmp_path, "orders.csv", frame)
    with pytest.raises(InputError, match="side_map"):
        load_fills(p)
    f = load_fills(p, side_map={"SELL": "long", "buy": "short"})
    assert f["side"].tolist() == ["long", "short"]
    with pytest.raises(InputError, match="'long' or 'short'"):
        load_fills(p, side_map={"sell": "down", "buy": "short"})


def test_fills_bad_columns_and_values(tmp_path):
    with pytest.raises(InputError, match="size_usd"):
        load_fills(
            _write(tmp_path, "a.csv", pd.DataFrame({"date": DATES_4H, "side": ["long"] * 3}))
        )
    frame = pd.DataFrame(
        {"date": DATES_4H[:2], "side": ["long", "short"], "price": [1.0, 0.0], "size_usd": [3.0, 4]}
    )
    with pytest.raises(InputError, match="non-positive price"):
        load_fills(_write(tmp_path, "b.csv", frame))
    with pytest.raises(InputError, match="hyperliquid_2025_05"):
        shared_fills("nope", tmp_path)


# ------------------------------------------------------------------------------------------------
# the shared files
@needs_shared_data
@pytest.mark.parametrize("name", list(SHARED_TRUTH))
def test_shared_truth_loads_and_is_sane(name):
    t = shared_truth(name)
    idx = t.frame.index
    assert len(idx) > 400
    assert idx.is_unique and idx.is_monotonic_increasing and idx.unit == "us"
    assert (t.frame >= 0).all().all()
    assert (t.frame.sum() > 0).all()
    assert t.venue == SHARED_TRUTH[name][1]["venue"]
    assert t.bar in (pd.Timedelta("1h"), pd.Timedelta("4h"), pd.Timedelta("1D"))
    assert (idx.asi8 % (t.bar.value // 1000) == 0).all()  # bars on the UTC grid (us)


def _adverse_long(candles: pd.DataFrame, bar: pd.Timedelta) -> pd.Series:
    b = resample_ohlcv(candles, bar).set_index("date")
    return (b["open"] - b["low"]) / b["open"]


@pytest.mark.parametrize(
    ("name", "candles"),
    [
        ("binance_4h", HISTORY_5M),
        (
            "all_1h",
            SHARED_DATA
            / "truthwindow"
            / "binance"
            / "futures"
            / "BTC_USDT_USDT-5m-futures.feather",
        ),
    ],
)
@needs_shared_data
def test_shared_truth_dates_are_bar_starts(name, candles):
    # long liquidations follow the bar's drop from its open most closely when the truth's date is
    # read as the bar start: the same bar beats the bar before and after by a wide margin
    t = shared_truth(name)
    adv = _adverse_long(read_candles(candles), t.bar)
    rho = {}
    for shift in (-1, 0, 1):
        a = adv.reindex(t.frame.index + shift * t.bar)
        rho[shift] = spearman(a.to_numpy(), t.frame["long_usd"].to_numpy())
    assert rho[0] > 0.6
    assert rho[0] > max(rho[-1], rho[1]) + 0.2


@needs_shared_data
def test_shared_fills_sides_agree_with_the_price_move():
    candles = read_candles(HISTORY_5M).set_index("date")
    for name in SHARED_FILLS:
        f = shared_fills(name)
        assert len(f) > 50 and set(f["side"]) <= {"long", "short"}
        assert f["date"].is_monotonic_increasing and (f["size_usd"] > 0).all()
        bar = candles.reindex(f["date"].dt.floor("5min"))
        # position of the fill price in its 5m candle: longs liquidate low, shorts high
        pos = (f["price"].to_numpy() - bar["low"].to_numpy()) / (
            bar["high"].to_numpy() - bar["low"].to_numpy()
        )
        for side, sign in (("long", -1), ("short", 1)):
            sel = (f["side"] == side).to_numpy()
            if sel.sum() >= 10:
                assert sign * (np.median(pos[sel]) - 0.5) > 0.3, (name, side)
    assert set(shared_fills("whalebot_2025_09")["venue"]) == {"binance", "bybit"}
