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
from conftest import make_candles

from liq_indicator.errors import InputError
from liq_indicator.io.datadir import pair_file, pair_stem
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
