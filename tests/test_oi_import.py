"""Binance metrics archives -> Freqtrade open_interest files, and their use by the estimator."""

from __future__ import annotations

import zipfile

import numpy as np
import pandas as pd
import pytest
from conftest import make_candles

from liq_indicator import HeatmapConfig, InputError, liquidation_features
from liq_indicator.cli import main
from liq_indicator.io.datadir import load_pair, pair_file
from liq_indicator.io.oi_import import METRICS_COLUMNS, import_metrics, read_metrics

HEADER = ",".join(METRICS_COLUMNS)


def metrics_rows(day: str, n: int = 288, oi0: float = 80_000.0, ms: bool = False) -> list[str]:
    times = pd.date_range(day, periods=n, freq="5min", tz="UTC")
    rows = []
    for i, t in enumerate(times):
        stamp = str(int(t.timestamp() * 1000)) if ms else t.strftime("%Y-%m-%d %H:%M:%S")
        oi = oi0 + 10 * i
        rows.append(f"{stamp},BTCUSDT,{oi},{oi * 40_000},1.1,1.2,1.3,{0.8 + 0.001 * i}")
    return rows


def write_zip(path, rows, header=True):
    text = "\n".join(([HEADER] if header else []) + rows) + "\n"
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr(path.with_suffix(".csv").name, text)
    return path


def test_header_and_headerless_archives_read_the_same(tmp_path):
    a = write_zip(
        tmp_path / "BTCUSDT-metrics-2024-01-01.zip", metrics_rows("2024-01-01"), header=True
    )
    b = write_zip(tmp_path / "b.zip", metrics_rows("2024-01-01", ms=True), header=False)
    pd.testing.assert_frame_equal(read_metrics([a]), read_metrics([b]))
    df = read_metrics([a])
    assert len(df) == 288
    assert df.date.iloc[0] == pd.Timestamp("2024-01-01", tz="UTC")
    assert df.open_interest_amount.iloc[1] == 80_010.0
    assert df.open_interest_value.iloc[1] == 80_010.0 * 40_000


def test_import_writes_freqtrade_layout_and_merges_without_duplicates(tmp_path):
    datadir = tmp_path / "binance"
    datadir.mkdir()
    day1 = write_zip(tmp_path / "d1.zip", metrics_rows("2024-01-01"))
    day2 = write_zip(tmp_path / "d2.zip", metrics_rows("2024-01-02"), header=False)
    # what `download-data` left: the last 2 hours of day 2 and 2 hours beyond
    existing = pd.DataFrame(
        {
            "date": pd.date_range("2024-01-02 22:00", periods=48, freq="5min", tz="UTC"),
            "open_interest_amount": 1.0,
            "open_interest_value": 2.0,
        }
    )
    oi_path = pair_file(datadir, "BTC/USDT:USDT", "5m", "open_interest")
    oi_path.parent.mkdir(parents=True)
    existing.to_feather(oi_path)

    summary = import_metrics([day2, day1, day1], datadir)  # any order, repeats allowed
    out = pd.read_feather(oi_path)
    assert list(out.columns) == ["date", "open_interest_amount", "open_interest_value"]
    assert out.date.is_unique and out.date.is_monotonic_increasing
    assert len(out) == 2 * 288 + 24  # two days + the 2 h only download-data had
    assert summary["open_interest"][1:] == (48, 600)
    # the archive wins where both have a value; download-data's rows beyond it are kept
    assert (
        out.set_index("date").loc[
            pd.Timestamp("2024-01-02 22:00", tz="UTC"), "open_interest_amount"
        ]
        != 1.0
    )
    assert out.open_interest_amount.iloc[-1] == 1.0
    taker = pd.read_feather(pair_file(datadir, "BTC/USDT:USDT", "5m", "taker_ratio"))
    assert taker.taker_long_short_ratio.iloc[0] == pytest.approx(0.8)


def test_hourly_import_keeps_the_snapshots_on_the_hour(tmp_path):
    datadir = tmp_path / "binance"
    datadir.mkdir()
    import_metrics(
        [write_zip(tmp_path / "d.zip", metrics_rows("2024-01-01"))], datadir, timeframe="1h"
    )
    out = pd.read_feather(pair_file(datadir, "BTC/USDT:USDT", "1h", "open_interest"))
    assert len(out) == 24 and (out.date.dt.minute == 0).all()


def test_the_taker_ratio_feeds_the_long_share(tmp_path):
    datadir = tmp_path / "binance"
    (datadir / "futures").mkdir(parents=True)
    candles = make_candles(288, seed=1, start="2024-01-01")
    candles.to_feather(pair_file(datadir, "BTC/USDT:USDT", "5m"))
    import_metrics([write_zip(tmp_path / "d.zip", metrics_rows("2024-01-01"))], datadir)
    data = load_pair(datadir, "BTC/USDT:USDT", "5m")
    assert "taker_long_short_ratio" in data.open_interest.columns
    design = HeatmapConfig.preset("design")  # a plain OI map: the split shows in what is pending
    with_ratio = liquidation_features(data.candles, design, open_interest=data.open_interest)
    plain = liquidation_features(
        data.candles,
        design,
        open_interest=data.open_interest.drop(columns="taker_long_short_ratio"),
    )
    # ratio < 1 (more taker selling): fewer longs than the 50/50 split
    assert with_ratio.liq_pending_long_usd.iloc[-1] < plain.liq_pending_long_usd.iloc[-1]
    assert np.isclose(with_ratio.liq_inflow_usd.sum(), plain.liq_inflow_usd.sum())


@pytest.mark.parametrize(
    "content,match",
    [
        (None, "does not exist"),
        ("not,a,metrics,file\n1,2,3,4\n", "not a Binance metrics file"),
    ],
)
def test_bad_archives_are_named(tmp_path, content, match):
    path = tmp_path / "x.csv"
    if content is not None:
        path.write_text(content)
    with pytest.raises(InputError, match=match):
        read_metrics([path])


def test_cli_import_oi(tmp_path, capsys):
    datadir = tmp_path / "binance"
    datadir.mkdir()
    z = write_zip(tmp_path / "d.zip", metrics_rows("2024-01-01"))
    assert main(["import-oi", str(z), "--datadir", str(datadir)]) == 0
    assert "288 snapshots" in capsys.readouterr().out
    assert main(["import-oi", str(z), "--datadir", str(tmp_path / "nope")]) == 2
    assert "nope' does not exist" in capsys.readouterr().err
