"""Pictures: figure content, PNG output, FreqUI helpers, backtest-result reading and the CLI commands."""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from PIL import Image
from plot_helpers import PAIR, sample_data, sample_trade_records, write_backtest

from liq_indicator import InputError, liquidation_map
from liq_indicator.cli import main
from liq_indicator.io.backtest import TRADE_COLUMNS, load_freqtrade_config, load_trades
from liq_indicator.plot.figures import (
    downsample_candles,
    format_usd,
    heatmap_figure,
    map_figure,
    save_html,
    save_png_heatmap,
    save_png_map,
)


def colourfulness(png: Path) -> tuple[int, float]:
    """(distinct colours, pixel standard deviation) of an image."""
    img = Image.open(png).convert("RGB")
    arr = np.asarray(img, dtype=float)
    return len(img.getcolors(maxcolors=1 << 24) or ()), float(arr.std())


def traces(fig, kind: str | None = None, name: str | None = None) -> list:
    return [
        t for t in fig.data if (kind is None or t.type == kind) and (name is None or t.name == name)
    ]


def parse_usd(label: str) -> float:
    m = re.fullmatch(r"\$([0-9.]+)([kMB]?)", label)
    assert m, label
    return float(m.group(1)) * {"": 1, "k": 1e3, "M": 1e6, "B": 1e9}[m.group(2)]


@pytest.fixture(scope="module")
def data():
    return sample_data()


@pytest.fixture(scope="module")
def trades(data, tmp_path_factory):
    path = write_backtest(tmp_path_factory.mktemp("bt"), sample_trade_records(data[0]))
    return load_trades(path)


# --- small pieces ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (0, "$0"),
        (950, "$950"),
        (12_500, "$12.5k"),
        (999_700, "$1M"),
        (3e6, "$3M"),
        (25e6, "$25M"),
        (1.2e9, "$1.2B"),
        (-2e6, "$2M"),
    ],
)
def test_format_usd(value, text):
    assert format_usd(value) == text


def test_downsample_keeps_extremes_and_sums_swept():
    rows = [  # open, high, low, close over six 5m candles from 00:05: periods 00:00, 00:15, 00:30
        (10, 11, 9, 10.5),
        (10.5, 14, 10, 13),
        (13, 13.5, 12, 12.5),
        (12.5, 12.6, 7, 8),
        (8, 9, 7.5, 8.8),
        (8.8, 9.9, 8.1, 9.5),
    ]
    df = pd.DataFrame(rows, columns=["open", "high", "low", "close"])
    df.insert(0, "date", pd.date_range("2024-01-01 00:05", periods=6, freq="5min", tz="UTC"))
    df["liq_swept_long_usd"] = [0, 1, 2, 3, 4, 5.0]
    df["liq_swept_short_usd"] = [10, 0, 0, 0, 0, 20.0]
    out = downsample_candles(df, max_candles=3)
    assert out.attrs["period"] == pd.Timedelta("15min")
    # clock-aligned: 00:05-00:15 | 00:15-00:30 | 00:30-00:35 (the last candle closes 00:35)
    assert list(out["start"].dt.strftime("%H:%M")) == ["00:05", "00:15", "00:30"]
    assert list(out["end"].dt.strftime("%H:%M")) == ["00:15", "00:30", "00:35"]
    assert out[["open", "high", "low", "close"]].to_numpy().tolist() == [
        [10, 14, 9, 13],
        [13, 13.5, 7, 8.8],
        [8.8, 9.9, 8.1, 9.5],
    ]
    assert out["liq_swept_long_usd"].tolist() == [1, 9, 5]
    assert out["liq_swept_short_usd"].tolist() == [10, 0, 20]


def test_downsample_never_loses_the_extremes(data):
    _, feats, _ = data
    out = downsample_candles(feats, max_candles=37)
    assert len(out) <= 37
    assert out["high"].max() == feats["high"].max()
    assert out["low"].min() == feats["low"].min()
    assert out["open"].iloc[0] == feats["open"].iloc[0]
    assert out["close"].iloc[-1] == feats["close"].iloc[-1]
    assert out["liq_swept_long_usd"].sum() == pytest.approx(feats["liq_swept_long_usd"].sum())


# --- the heatmap figure ----------------------------------------------------------------------


def test_heatmap_figure_content(data):
    _, feats, heat = data
    fig = heatmap_figure(feats, heat, max_candles=150)
    long, short = traces(fig, "heatmap", "long pending"), traces(fig, "heatmap", "short pending")
    assert len(long) == 1 and len(short) == 1
    # the USD values behind the colours are the heatmap's, bins x times
    np.testing.assert_allclose(long[0].customdata, heat.long.T.astype(np.float32))
    np.testing.assert_allclose(short[0].customdata, heat.short.T.astype(np.float32))
    np.testing.assert_allclose(long[0].y, heat.price_edges)
    assert int(np.max(long[0].z)) == 255 or int(np.max(short[0].z)) == 255  # the top cell

    (candle,) = traces(fig, "candlestick")
    assert len(candle.x) <= 150
    assert max(candle.high) == feats["high"].max() and min(candle.low) == feats["low"].min()

    # axis ranges cover every candle
    y0, y1 = fig.layout.yaxis.range
    assert y0 < feats["low"].min() and y1 > feats["high"].max()
    x0, x1 = (pd.Timestamp(v) for v in fig.layout.xaxis.range)
    assert x0 <= feats["date"].iloc[0].tz_localize(None)
    assert x1 >= feats["date"].iloc[-1].tz_localize(None)

    # the swept panel: shorts up, longs down, nothing lost in the merge
    (up,) = [t for t in traces(fig, "bar") if t.name.startswith("shorts swept")]
    (down,) = [t for t in traces(fig, "bar") if t.name.startswith("longs swept")]
    assert up.yaxis == "y2" and down.yaxis == "y2"
    assert np.sum(up.y) == pytest.approx(feats["liq_swept_short_usd"].sum())
    assert -np.sum(down.y) == pytest.approx(feats["liq_swept_long_usd"].sum())
    assert np.all(np.asarray(down.y) <= 0)
    assert not traces(fig, "scatter")  # no trades given


def test_heatmap_colour_scale_is_logarithmic_in_usd(data):
    _, feats, heat = data
    fig = heatmap_figure(feats, heat, decades=3.0)
    for trace in traces(fig, "heatmap"):
        bar = trace.colorbar
        labels = list(bar.ticktext)
        assert len(labels) >= 3 and all(t.startswith("$") for t in labels)
        usd = np.array([parse_usd(t) for t in labels])
        # tick positions are linear in log10(USD): a log scale (255 codes over 3 decades)
        slope, icpt = np.polyfit(np.log10(usd), bar.tickvals, 1)
        assert slope == pytest.approx(254 / 3.0, rel=1e-9)
        np.testing.assert_allclose(
            np.polyval([slope, icpt], np.log10(usd)), bar.tickvals, atol=1e-6
        )
        assert "USD" in bar.title.text
        # colour codes follow log10 of each cell; cells 3 decades under the top stay clear
        top = max(heat.long.max(), heat.short.max())
        z, usd_cells = np.asarray(trace.z, dtype=float), np.asarray(trace.customdata)
        shown = usd_cells >= top / 1e3
        assert np.all(z[~shown] == 0)
        np.testing.assert_allclose(
            z[shown], 1 + (np.log10(usd_cells[shown] / top) + 3) / 3 * 254, atol=0.51
        )
    # longs and shorts are told apart: different colour scales
    long, short = traces(fig, "heatmap")
    assert long.colorscale[-1][1] != short.colorscale[-1][1]


def test_heatmap_figure_with_trades(data, trades):
    _, feats, heat = data
    fig = heatmap_figure(feats, heat, trades)
    (entries,) = traces(fig, "scatter", "entries")
    (exits,) = traces(fig, "scatter", "exits")
    assert len(entries.x) == len(trades) == 4
    np.testing.assert_allclose(entries.y, trades["open_rate"])
    np.testing.assert_allclose(exits.y, trades["close_rate"])
    assert list(entries.marker.symbol) == [
        "triangle-up",
        "triangle-down",
        "triangle-up",
        "triangle-down",
    ]
    for name, column in (
        ("stop (final)", "stop_loss_abs"),
        ("stop (initial)", "initial_stop_loss_abs"),
    ):
        (stop,) = traces(fig, "scatter", name)
        # one horizontal segment per trade, from its entry to its exit, at its stop
        ys = [y for y in stop.y if y is not None]
        assert ys == pytest.approx(np.repeat(trades[column].to_numpy(), 2))
        xs = [pd.Timestamp(x) for x in stop.x if x is not None]
        assert xs[0::2] == [t.tz_localize(None) for t in trades["open_date"]]
        assert xs[1::2] == [t.tz_localize(None) for t in trades["close_date"]]


def test_heatmap_figure_leaves_inputs_alone(data, trades):
    _, feats, heat = data
    before_f, before_t, before_h = feats.copy(), trades.copy(), heat.long.copy()
    heatmap_figure(feats, heat, trades)
    pd.testing.assert_frame_equal(feats, before_f)
    pd.testing.assert_frame_equal(trades, before_t)
    np.testing.assert_array_equal(heat.long, before_h)


def test_heatmap_figure_bad_input(data):
    candles, feats, heat = data
    with pytest.raises(InputError, match="liquidation_features"):
        heatmap_figure(candles, heat)  # no swept columns
    later = feats.assign(date=feats["date"] + pd.Timedelta(days=400))
    with pytest.raises(InputError, match="does not overlap"):
        heatmap_figure(later, heat)


# --- the map figure ---------------------------------------------------------------------------


@pytest.fixture(scope="module")
def liq_map(data):
    candles = data[0]
    return liquidation_map(candles, at=candles["date"].iloc[500], price_range_pct=12)


def test_map_figure_tiers_sum_to_bins(liq_map):
    fig = map_figure(liq_map)
    for side, total in (("long", liq_map.long), ("short", liq_map.short)):
        bars = [t for t in traces(fig, "bar") if t.name.startswith(f"{side} ")]
        assert [t.name for t in bars] == [f"{side} {lev:g}x" for lev in liq_map.leverages]
        stacked = np.sum([np.asarray(t.y) for t in bars], axis=0)
        np.testing.assert_allclose(stacked, total, rtol=1e-12)
        np.testing.assert_allclose(bars[0].x, liq_map.bin_prices)
    assert fig.layout.barmode == "stack"
    assert total.sum() > 0


def test_map_cumulative_curves_are_monotone(liq_map):
    fig = map_figure(liq_map)
    (cum_long,) = traces(fig, "scatter", "cumulative long")
    (cum_short,) = traces(fig, "scatter", "cumulative short")
    lx, ly = np.asarray(cum_long.x), np.asarray(cum_long.y)
    sx, sy = np.asarray(cum_short.x), np.asarray(cum_short.y)
    assert np.all(lx <= liq_map.price) and np.all(sx >= liq_map.price)
    assert np.all(np.diff(lx) > 0) and np.all(np.diff(sx) > 0)
    # a fall liquidates more the further it goes: the long curve grows away from price (leftwards)
    assert np.all(np.diff(ly) <= 0) and ly[0] > 0
    assert np.all(np.diff(sy) >= 0) and sy[-1] > 0
    assert ly[0] == pytest.approx(liq_map.long[liq_map.bin_prices <= liq_map.price].sum())
    assert sy[-1] == pytest.approx(liq_map.short[liq_map.bin_prices >= liq_map.price].sum())
    # the price is marked
    assert any(s.x0 == liq_map.price for s in fig.layout.shapes)


# --- inputs are never modified -------------------------------------------------------------------


def test_pictures_leave_their_inputs_alone(data, trades, liq_map, tmp_path):
    _, feats, heat = data
    before_f, before_t = feats.copy(), trades.copy()
    heat_arrays = {
        k: np.array(v, copy=True) for k, v in vars(heat).items() if isinstance(v, np.ndarray)
    }
    map_arrays = {
        k: np.array(v, copy=True) for k, v in vars(liq_map).items() if isinstance(v, np.ndarray)
    }
    assert heat_arrays and map_arrays
    downsample_candles(feats, 100)
    save_png_heatmap(feats, heat, tmp_path / "h.png", trades)
    map_figure(liq_map)
    save_png_map(liq_map, tmp_path / "m.png")
    pd.testing.assert_frame_equal(feats, before_f)
    pd.testing.assert_frame_equal(trades, before_t)
    for obj, arrays in ((heat, heat_arrays), (liq_map, map_arrays)):
        for name, before in arrays.items():
            np.testing.assert_array_equal(getattr(obj, name), before, err_msg=name)


# --- files --------------------------------------------------------------------------------------


def test_pngs_are_drawn(data, trades, liq_map, tmp_path):
    _, feats, heat = data
    heat_png = save_png_heatmap(feats, heat, tmp_path / "h.png", trades, title="test")
    map_png = save_png_map(liq_map, tmp_path / "m.png", title="test")
    for png, size in ((heat_png, (1540, 880)), (map_png, (1430, 715))):
        assert Image.open(png).size == size
        colours, spread = colourfulness(png)
        assert colours > 500 and spread > 20


def test_html_is_self_contained(data, tmp_path):
    _, feats, heat = data
    path = save_html(heatmap_figure(feats, heat), tmp_path / "h.html")
    text = path.read_text()
    assert not re.search(r"<script[^>]+src=", text)  # plotly.js is inline: opens offline
    assert "Plotly.newPlot" in text and path.stat().st_size > 3e6


def test_outputs_need_the_right_suffix_and_folder(data, liq_map, tmp_path):
    _, feats, heat = data
    with pytest.raises(InputError, match=r"must end in \.png"):
        save_png_map(liq_map, tmp_path / "m.jpg")
    with pytest.raises(InputError, match="does not exist"):
        save_html(map_figure(liq_map), tmp_path / "nowhere" / "m.html")


# --- backtest results --------------------------------------------------------------------------


def test_load_trades_zip_json_and_folder(data, tmp_path):
    records = sample_trade_records(data[0])
    zipped = write_backtest(tmp_path / "a", records)
    plain = write_backtest(tmp_path / "b", records, as_zip=False)
    for source in (zipped, plain, tmp_path / "a"):
        got = load_trades(source)
        assert len(got) == 4 and set(TRADE_COLUMNS) <= set(got.columns)
        assert str(got["open_date"].dtype).startswith("datetime64") and got["open_date"].dt.tz
        np.testing.assert_allclose(got["stop_loss_abs"], [r["stop_loss_abs"] for r in records])
        assert got["is_short"].tolist() == [False, True, False, True]
    assert len(load_trades(zipped, pair="ETH/USDT:USDT")) == 0


def test_load_trades_agrees_with_freqtrade(data, tmp_path):
    btanalysis = pytest.importorskip("freqtrade.data.btanalysis")
    path = write_backtest(tmp_path, sample_trade_records(data[0]))
    ours, theirs = load_trades(path), btanalysis.load_backtest_data(path)
    for col in ("open_date", "close_date", "is_short"):
        assert ours[col].tolist() == theirs[col].tolist()
    for col in ("open_rate", "stop_loss_abs", "initial_stop_loss_abs", "profit_ratio"):
        # rapidjson (Freqtrade's reader) may round the last digit differently from json
        np.testing.assert_allclose(ours[col], theirs[col], rtol=1e-15)


def test_load_trades_errors_name_the_problem(data, tmp_path):
    records = sample_trade_records(data[0])
    with pytest.raises(InputError, match="nope.zip' does not exist"):
        load_trades(tmp_path / "nope.zip")
    multi = write_backtest(tmp_path / "m", records, strategies=("A", "B"))
    with pytest.raises(InputError, match="2 strategies .*--strategy"):
        load_trades(multi)
    assert len(load_trades(multi, strategy="B")) == 4
    with pytest.raises(InputError, match="'C' is not in"):
        load_trades(multi, strategy="C")
    bad = tmp_path / "bad.zip"
    bad.write_bytes(b"not a zip")
    with pytest.raises(InputError, match="not a valid zip"):
        load_trades(bad)
    other = tmp_path / "other.json"
    other.write_text(json.dumps({"hello": 1}))
    with pytest.raises(InputError, match="not a Freqtrade backtest result"):
        load_trades(other)
    with pytest.raises(InputError, match="metadata file"):
        load_trades(tmp_path / "m" / "backtest-result-2024-01-05_10-00-00.meta.json")
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(InputError, match="no .last_result.json"):
        load_trades(empty)


def test_config_with_comments(tmp_path):
    pytest.importorskip("rapidjson")
    cfg = tmp_path / "config.json"
    cfg.write_text('{\n  // Freqtrade allows comments\n  "timeframe": "5m",\n}\n')
    assert load_freqtrade_config(cfg) == {"timeframe": "5m"}


# --- the command line ---------------------------------------------------------------------------


@pytest.fixture(scope="module")
def userdir(tmp_path_factory, data):
    """A Freqtrade user_data dir with data/binance/futures/BTC_USDT_USDT-5m-futures.feather."""
    root = tmp_path_factory.mktemp("ft") / "user_data"
    futures = root / "data" / "binance" / "futures"
    futures.mkdir(parents=True)
    data[0][["date", "open", "high", "low", "close", "volume"]].to_feather(
        futures / "BTC_USDT_USDT-5m-futures.feather"
    )
    write_backtest(root / "backtest_results", sample_trade_records(data[0]))
    return root


def test_cli_heatmap_default_datadir_and_names(userdir):
    # 720 candles from 2024-01-01 00:00 to 2024-01-03 11:55
    rc = main(
        [
            "heatmap",
            "--userdir",
            str(userdir),
            "--timerange",
            "20240101T1200-20240103",
            "--warmup-days",
            "0.5",
        ]
    )
    assert rc == 0
    stem = userdir / "plot" / "liq-heatmap-BTC_USDT_USDT-5m-20240101T1200-20240103"
    html, png = stem.with_suffix(".html"), stem.with_suffix(".png")
    assert html.stat().st_size > 3e6 and Image.open(png).size == (1540, 880)
    assert '"name":"entries"' not in html.read_text()
    # the display starts at the timerange, not at the warm-up
    assert '"range":["2024-01-01T12:00:00"' in html.read_text()


def test_cli_heatmap_with_config_and_backtest(userdir, tmp_path):
    cfg = tmp_path / "config.json"
    cfg.write_text(
        json.dumps(
            {
                "datadir": str(userdir / "data"),
                "timeframe": "5m",
                "exchange": {"name": "binance", "pair_whitelist": [PAIR]},
            }
        )
    )
    rc = main(
        [
            "heatmap",
            "-c",
            str(cfg),
            "--plot-dir",
            str(tmp_path / "plots"),
            "--backtest-filename",
            str(userdir / "backtest_results"),
            "--format",
            "html",
        ]
    )
    assert rc == 0
    (html,) = (tmp_path / "plots").glob("*.html")
    assert html.name == "liq-heatmap-BTC_USDT_USDT-5m-20240101-20240103.html"
    text = html.read_text()
    for name in ("entries", "exits", "stop (final)", "stop (initial)", "long pending"):
        assert f'"name":"{name}"' in text
    assert not list((tmp_path / "plots").glob("*.png"))


def test_cli_map(userdir):
    rc = main(["map", "--userdir", str(userdir), "--at", "2024-01-02T12:03", "--range-pct", "10"])
    assert rc == 0
    stem = userdir / "plot" / "liq-map-BTC_USDT_USDT-5m-20240102T1200"
    assert stem.with_suffix(".html").stat().st_size > 3e6
    assert Image.open(stem.with_suffix(".png")).size == (1430, 715)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["heatmap", "--datadir", "{tmp}/missing"], "datadir '{tmp}/missing' does not exist"),
        (
            ["heatmap", "--backtest-filename", "{tmp}/bt.zip"],
            "backtest result '{tmp}/bt.zip' does not",
        ),
        (["map", "-c", "{tmp}/config.json"], "config '{tmp}/config.json' does not exist"),
        (["map", "--at", "2025-06-01"], "after the last 5m candle"),
        (["heatmap", "--timerange", "2024-01-01"], "must look like 20240101-20240301"),
        (["heatmap", "--pairs", "ETH/USDT:USDT"], "no 5m candles for ETH/USDT:USDT"),
        (
            ["heatmap", "--timerange", "20250101-"],
            "no 5m candles of BTC/USDT:USDT in the requested",
        ),
    ],
)
def test_cli_errors_are_clear(userdir, tmp_path, capsys, args, message):
    argv = [a.format(tmp=tmp_path) for a in args] + ["--userdir", str(userdir)]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert f"liq-indicator {args[0]}: error:" in err
    assert message.format(tmp=tmp_path) in err
