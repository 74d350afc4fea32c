"""liq_indicator.io: the one timeframe parser, OHLCV aggregation, pair file names, the shared data
folder, and a command line that builds its parser without the heavy imports."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from conftest import SHARED_DATA, make_candles, needs_shared_data

from liq_indicator.errors import InputError
from liq_indicator.io.datadir import (
    datadir_pairs,
    epoch_ms,
    pair_file,
    pair_from_stem,
    pair_stem,
    parse_data_file,
    timestamp_ms,
)
from liq_indicator.io.ohlcv import resample_ohlcv
from liq_indicator.io.shared import DATA_ENV, shared_data_dir
from liq_indicator.io.timeframes import parse_timeframe, timeframe_minutes, timeframe_seconds


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("1s", 1),
        ("30s", 30),
        ("1m", 60),
        ("5m", 300),
        ("15m", 900),
        ("1h", 3600),
        ("4h", 14_400),
        ("1d", 86_400),
        ("1w", 604_800),
        ("12h", 43_200),
    ],
)
def test_timeframe_seconds(text, seconds):
    assert timeframe_seconds(text) == seconds
    assert timeframe_minutes(text) == seconds / 60


@pytest.mark.parametrize(
    "text", ["", "m", "0m", "05m", "-5m", "5", "5x", "1hour", "5 m", "1.5h", "5M5"]
)
def test_bad_timeframes_are_named(text):
    with pytest.raises(InputError, match="is not a Freqtrade timeframe"):
        parse_timeframe(text)


def test_a_month_parses_but_has_no_length():
    assert parse_timeframe("1M") == (1, "M")
    with pytest.raises(InputError, match="months have no fixed length"):
        timeframe_seconds("1M")


def _reduceat_reference(frame: pd.DataFrame, per_ms: int) -> pd.DataFrame:
    """Buckets counted from the epoch: first open, max high, min low, last close, summed volume."""
    ms = frame["date"].dt.as_unit("ms").astype("int64").to_numpy()
    buckets = ms - ms % per_ms
    starts = np.flatnonzero(np.r_[True, buckets[1:] != buckets[:-1]])
    ends = np.r_[starts[1:], len(ms)] - 1
    return pd.DataFrame(
        {
            "date": pd.to_datetime(buckets[starts], unit="ms", utc=True),
            "open": frame["open"].to_numpy()[starts],
            "high": np.maximum.reduceat(frame["high"].to_numpy(), starts),
            "low": np.minimum.reduceat(frame["low"].to_numpy(), starts),
            "close": frame["close"].to_numpy()[ends],
            "volume": np.add.reduceat(frame["volume"].to_numpy(), starts),
        }
    )


@pytest.mark.parametrize("per", ["15min", "1h", "4h", "24h"])
def test_resample_ohlcv_keeps_every_extreme_and_skips_gaps(per):
    candles = make_candles(2000, seed=3, start="2024-01-01 00:35")
    candles = candles.drop(index=range(400, 700)).reset_index(drop=True)  # a gap of 25 hours
    got = resample_ohlcv(candles, per, origin="epoch")
    want = _reduceat_reference(candles, int(pd.Timedelta(per).total_seconds() * 1000))
    pd.testing.assert_frame_equal(
        got[want.columns].assign(date=got["date"].dt.as_unit("ms")),
        want.assign(date=want["date"].dt.as_unit("ms")),
        rtol=1e-12,
    )
    assert list(got.columns) == ["date", "open", "high", "low", "close", "volume"]


def test_resample_ohlcv_extra_columns():
    candles = make_candles(24, seed=1).assign(swept=1.0)
    got = resample_ohlcv(candles.drop(columns="volume"), "1h", extra={"swept": "sum"})
    assert list(got.columns) == ["date", "open", "high", "low", "close", "swept"]
    assert got["swept"].tolist() == [12.0, 12.0]


def _freqtrade_binance_pairs() -> list[str]:
    ft = pytest.importorskip("freqtrade")
    tiers = Path(ft.__file__).parent / "exchange" / "binance_leverage_tiers.json"
    return sorted(json.loads(tiers.read_text()))


def test_pair_stem_is_freqtrades_pair_to_filename(monkeypatch):
    """With Freqtrade its own function; without it the fallback, equal on every Binance pair."""
    from freqtrade.misc import pair_to_filename

    pairs = _freqtrade_binance_pairs() + ["BTC/USDT", "1000PEPE/USDT:USDT", "A.B/C@D $E+F:G"]
    assert len(pairs) > 300
    want = [pair_to_filename(p) for p in pairs]
    assert [pair_stem(p) for p in pairs] == want
    monkeypatch.setitem(sys.modules, "freqtrade.misc", None)  # as if Freqtrade were not installed
    assert [pair_stem(p) for p in pairs] == want
    assert pair_file("d", "BTC/USDT:USDT", "5m") == Path(
        "d/futures/BTC_USDT_USDT-5m-futures.feather"
    )


@pytest.mark.parametrize(
    ("stem", "candle_type", "pair"),
    [
        ("BTC_USDT_USDT", "futures", "BTC/USDT:USDT"),
        ("1000PEPE_USDT_USDT", "futures", "1000PEPE/USDT:USDT"),
        ("1000PEPE_USDT_USDT", "mark", "1000PEPE/USDT:USDT"),
        # quote and settlement are the last two parts: a base with "_" stays whole (Freqtrade's
        # rebuild_pair_from_filename, and research.pairs before, gave "1000/PEPE:USDT_USDT")
        ("1000_PEPE_USDT_USDT", "futures", "1000_PEPE/USDT:USDT"),
        ("BTC_USDT_USDT-250328", "futures", "BTC/USDT:USDT-250328"),  # a dated future
        ("BTC_USDT", "spot", "BTC/USDT"),
        ("BTC_USDT", "futures", "BTC/USDT"),
        ("BTCUSDT", "futures", "BTCUSDT"),
    ],
)
def test_pair_from_stem_inverts_pair_stem(stem, candle_type, pair):
    assert pair_from_stem(stem, candle_type) == pair
    assert pair_stem(pair) == stem


def test_pair_from_stem_inverts_every_binance_futures_pair():
    pairs = [p for p in _freqtrade_binance_pairs() if ":" in p]
    assert len(pairs) > 300
    assert [pair_from_stem(pair_stem(p)) for p in pairs] == pairs


@pytest.mark.parametrize(
    ("name", "parts"),
    [
        ("BTC_USDT_USDT-5m-futures.feather", ("BTC_USDT_USDT", "5m", "futures", ".feather")),
        ("1000PEPE_USDT_USDT-8h-mark.feather", ("1000PEPE_USDT_USDT", "8h", "mark", ".feather")),
        (
            "ETH_USDT_USDT-1h-funding_rate.parquet",
            ("ETH_USDT_USDT", "1h", "funding_rate", ".parquet"),
        ),
        ("BTC_USDT-1M-spot.feather", ("BTC_USDT", "1M", "spot", ".feather")),
        ("BTC_USDT-5m.feather", ("BTC_USDT", "5m", "spot", ".feather")),  # Freqtrade's spot name
        ("BTC_USDT_USDT-0m-futures.feather", None),  # not a timeframe
        ("BTC_USDT_USDT-5min-futures.feather", None),
        ("BTC_USDT_USDT-1m-liquidations.feather", None),  # not a candle type
        ("BTC_USDT_USDT-5m-futures.csv", None),
    ],
)
def test_parse_data_file(name, parts):
    got = parse_data_file(name)
    assert (tuple(got) if got is not None else None) == parts


@needs_shared_data
def test_datadir_pairs_of_the_shared_history():
    pairs = datadir_pairs(SHARED_DATA / "history" / "binance")
    assert pairs["1000PEPE/USDT:USDT"] == ("5m", "15m", "1h")
    assert pairs["BTC/USDT:USDT"] == ("5m", "1h")


@pytest.mark.parametrize(
    ("pair", "candle_type"),
    [
        ("BTC/USDT", "spot"),
        ("BTC/USDT:USDT", "futures"),
        ("BTC/USDT:USDT", "mark"),
        ("1000PEPE/USDT:USDT", "funding_rate"),
    ],
)
def test_pair_file_is_where_freqtrade_writes(tmp_path, pair, candle_type):
    from freqtrade.data.history.datahandlers.featherdatahandler import FeatherDataHandler
    from freqtrade.enums import CandleType

    path = FeatherDataHandler._pair_data_filename(tmp_path, pair, "5m", CandleType(candle_type))
    assert pair_file(tmp_path, pair, "5m", candle_type) == path
    assert tuple(parse_data_file(path.name)) == (pair_stem(pair), "5m", candle_type, ".feather")
    if candle_type in ("spot", "futures"):  # candles: found by datadir_pairs
        path.parent.mkdir(parents=True, exist_ok=True)
        make_candles(3).to_feather(path)
        assert datadir_pairs(tmp_path) == {pair: ("5m",)}


def test_pairs_in_datadir_reads_stems_as_datadir_pairs_does(tmp_path):
    from liq_indicator.research.pairs import pairs_in_datadir

    for pair in ("BTC/USDT:USDT", "1000PEPE/USDT:USDT", "1000_PEPE/USDT:USDT"):
        path = pair_file(tmp_path, pair, "5m")
        path.parent.mkdir(exist_ok=True)
        make_candles(3).to_feather(path)
    make_candles(3).to_feather(pair_file(tmp_path, "ETH/USDT:USDT", "15m"))
    want = ["1000PEPE/USDT:USDT", "1000_PEPE/USDT:USDT", "BTC/USDT:USDT"]
    assert pairs_in_datadir(tmp_path, "5m") == want
    assert sorted(p for p, tfs in datadir_pairs(tmp_path).items() if "5m" in tfs) == want


@pytest.mark.parametrize("pair", ["BTC/USDT:USDT", "BTC/USDT", "1000_PEPE/USDT:USDT"])
def test_a_liquidations_file_read_by_path_gets_its_pairs_gaps(tmp_path, pair):
    """The pair read from the file name picks the same gaps as the pair passed (a stem of two or
    four parts was left unconverted before, so its gaps were ignored)."""
    from liq_indicator.io import liquidations as store

    t0 = timestamp_ms("2025-05-25 15:00")
    rows = [
        {
            "ts": t0 + k * 600_000,
            "exchange": "binance",
            "pair": pair,
            "side": "long",
            "price": 100.0,
            "amount": 1.0,
            "usd": 100.0,
            "received": t0,
        }
        for k in range(12)
    ]
    store.write_events(tmp_path, store.events_frame(rows))
    store.rebuild_minutes(tmp_path, t0, t0 + 2 * 3_600_000)
    gap = {"start": "2025-05-25 16:10", "end": "2025-05-25 16:20", "reason": "connection lost"}
    store.append_gaps(tmp_path, pd.DataFrame([{**gap, "pair": pair}]))
    by_pair = store.load_liquidations(tmp_path, "1h", pair=pair)
    by_path = store.load_liquidations(store.liquidations_file(tmp_path, pair), "1h")
    assert by_pair["long_usd"].tolist()[0] == 600.0 and np.isnan(by_pair["long_usd"].iloc[1])
    pd.testing.assert_frame_equal(by_path, by_pair)


@pytest.mark.parametrize(
    "dates",
    [
        pd.Series(
            pd.to_datetime(["2024-01-01 00:00:00.0019999", "2025-06-30 23:59:00.0000000"], utc=True)
        ),
        pd.Series(
            pd.to_datetime(["2024-01-01 00:00:00.0019999", "2025-06-30 23:59:00.0000000"])
        ),  # naive
        pd.Series(pd.date_range("2024-01-01", periods=5, freq="5min", tz="UTC", unit="us")),
        pd.Series(pd.date_range("2024-01-01", periods=5, freq="5min", tz="Asia/Tokyo")),
    ],
)
def test_epoch_ms_is_pandas_milliseconds(dates):
    want = pd.to_datetime(dates, utc=True).dt.as_unit("ms").astype("int64").to_numpy()
    got = epoch_ms(dates)
    assert got.dtype == np.int64
    np.testing.assert_array_equal(got, want)
    np.testing.assert_array_equal(epoch_ms(pd.DatetimeIndex(dates)), want)
    assert timestamp_ms(dates.iloc[0]) == want[0]


def test_timestamp_ms_of_a_day():
    assert timestamp_ms("2024-01-01") == 1_704_067_200_000
    assert timestamp_ms(pd.Timestamp("2024-01-01 01:00", tz="Europe/Berlin")) == 1_704_067_200_000


@pytest.mark.parametrize(
    ("start", "end"),
    [
        (1_704_067_200, 1_735_689_600),  # seconds (.meta.json)
        (1_704_067_200_000, 1_735_689_600_000),  # milliseconds (the result)
        (1_704_067_200_000_000, 1_735_689_600_000_000),  # microseconds: was read as ms, overflowing
    ],
)
def test_result_period_reads_each_epoch_unit(tmp_path, start, end):
    from liq_indicator.io.backtest import result_period

    meta = {"S": {"backtest_start_ts": start, "backtest_end_ts": end}}
    (tmp_path / "r.meta.json").write_text(json.dumps(meta))
    assert result_period(tmp_path / "r.json") == (
        pd.Timestamp("2024-01-01", tz="UTC"),
        pd.Timestamp("2025-01-01", tz="UTC"),
    )


def test_result_period_without_a_plausible_timestamp_is_unknown(tmp_path):
    from liq_indicator.io.backtest import result_period

    meta = {"S": {"backtest_start_ts": 12_345, "backtest_end_ts": 1_735_689_600}}  # 1970: no
    (tmp_path / "r.meta.json").write_text(json.dumps(meta))
    (tmp_path / "r.json").write_text(json.dumps({"strategy": {}}))
    assert result_period(tmp_path / "r.json") is None


def test_shared_data_dir_honours_the_environment(monkeypatch, tmp_path):
    monkeypatch.setenv(DATA_ENV, str(tmp_path))
    assert shared_data_dir() == tmp_path
    monkeypatch.delenv(DATA_ENV)
    assert shared_data_dir() == Path(__file__).resolve().parents[2] / "shared" / "data"


def test_building_the_command_line_imports_nothing_heavy():
    """`liq-indicator --help` must not wait for numba, pandas, plotly, matplotlib or Freqtrade
    (the timing itself is in benchmarks/bench_cli.py)."""
    heavy = ["numba", "pandas", "plotly", "matplotlib", "freqtrade", "aiohttp", "ccxt"]
    code = (
        "import sys; from liq_indicator.cli import build_parser; build_parser(); "
        f"print([m for m in {heavy!r} if m in sys.modules])"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True
    )
    assert done.stdout.strip() == "[]", done.stdout


@pytest.mark.parametrize(
    ("function", "module"),
    [
        ("heatmap_figure", "plotly"),
        ("map_figure", "plotly"),
        ("save_html", "plotly"),
        ("save_png_heatmap", "matplotlib"),
        ("save_png_map", "matplotlib"),
    ],
)
def test_a_missing_plot_extra_names_the_install_command(monkeypatch, function, module):
    import importlib.util
    import inspect

    from liq_indicator.errors import InputError
    from liq_indicator.plot import figures

    real = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util, "find_spec", lambda name, *a: None if name == module else real(name, *a)
    )
    with pytest.raises(
        InputError, match=rf"{function} needs {module}.*pip install 'liq-indicator\[plot\]'"
    ):
        fn = getattr(figures, function)
        required = [
            p
            for p in inspect.signature(fn).parameters.values()
            if p.default is p.empty and p.kind == p.POSITIONAL_OR_KEYWORD
        ]
        fn(*[None] * len(required))  # the check comes before anything reads the arguments


def test_resample_takes_freqtrade_timeframes_as_well_as_pandas_periods():
    candles = make_candles(300, seed=4)
    for freqtrade, pandas_period in (("15m", "15min"), ("1h", "1h"), ("4h", "4h"), ("1d", "1D")):
        pd.testing.assert_frame_equal(
            resample_ohlcv(candles, freqtrade), resample_ohlcv(candles, pandas_period)
        )
    with pytest.raises(InputError, match="months have no fixed length"):
        resample_ohlcv(candles, "1M")
