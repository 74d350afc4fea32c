"""`--exchanges` on the picture commands: one map from sibling datadirs."""

from __future__ import annotations

import pytest
from conftest import make_candles

from liq_indicator.cli import main
from liq_indicator.io.datadir import pair_file


@pytest.fixture
def two_datadirs(tmp_path):
    ref = make_candles(600, seed=50)
    for name, df in (("binance", ref), ("bybit", ref.assign(volume=ref.volume * 0.4))):
        path = pair_file(tmp_path / "data" / name, "BTC/USDT:USDT", "5m")
        path.parent.mkdir(parents=True)
        df.to_feather(path)
    (tmp_path / "plot").mkdir()
    return tmp_path


@pytest.mark.parametrize("command,extra", [("heatmap", []), ("map", ["--at", "2024-01-02T12:00"])])
def test_picture_commands_aggregate_exchanges(two_datadirs, command, extra, capsys):
    args = [
        command,
        "--datadir",
        str(two_datadirs / "data" / "binance"),
        "--exchanges",
        "binance",
        "bybit",
        "--plot-dir",
        str(two_datadirs / "plot"),
        "--format",
        "png",
        *extra,
    ]
    assert main(args) == 0, capsys.readouterr().err
    assert len(list((two_datadirs / "plot").glob(f"liq-{command}-*.png"))) == 1


def test_a_missing_venue_is_named(two_datadirs, capsys):
    args = [
        "heatmap",
        "--datadir",
        str(two_datadirs / "data" / "binance"),
        "--exchanges",
        "binance",
        "okx",
        "--plot-dir",
        str(two_datadirs / "plot"),
    ]
    assert main(args) == 2
    assert "okx" in capsys.readouterr().err
