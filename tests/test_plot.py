"""Pictures: figure content, PNG output, FreqUI helpers, backtest-result reading and the CLI commands."""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from PIL import Image
from plot_helpers import PAIR, sample_data, sample_trade_records, write_backtest, write_recorded

from liq_indicator import InputError, liquidation_map
from liq_indicator.cli import main
from liq_indicator.io.backtest import (
    TRADE_COLUMNS,
    load_freqtrade_config,
    load_trades,
    result_period,
)
from liq_indicator.plot.figures import (
    SCALES,
    SWEPT_BARS,
    downsample_candles,
    heatmap_figure,
    map_figure,
    save_html,
    save_png_heatmap,
    save_png_map,
)
from liq_indicator.style import format_usd


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


def test_format_usd_for_log_lines():
    """The strategy's log line writes ``12.3M USD``: the same label without the dollar sign."""
    assert [format_usd(v, prefix="") for v in (12.3e6, 2.5e6, 0.0)] == ["12.3M", "2.5M", "0"]
    assert format_usd(float("nan")) == "-" and format_usd(float("inf"), prefix="") == "-"


def test_one_palette_for_pictures_and_freqtrade_charts():
    """FreqUI's colours and the report read the colours of liq_indicator.style."""
    from liq_indicator import style
    from liq_indicator.strategy import frequi

    assert style.rgb(style.CUM_SHORT_COLOR) == (255, 217, 138)
    recorded = frequi.plot_config(frequi.RECORDED_COLUMNS)["subplots"]
    colours = {c: conf["color"] for panel in recorded.values() for c, conf in panel.items()}
    assert colours["liq_real_long_usd"] == "rgb({},{},{})".format(*style.rgb(style.CUM_LONG_COLOR))


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
    # one legend entry per kind of marker: both entry sides, winning and losing exits
    (longs,) = traces(fig, "scatter", "entry long")
    (shorts,) = traces(fig, "scatter", "entry short")
    assert (longs.marker.symbol, shorts.marker.symbol) == ("triangle-up", "triangle-down")
    assert len(longs.x) + len(shorts.x) == len(trades) == 4
    is_short = trades["is_short"].to_numpy()
    np.testing.assert_allclose(longs.y, trades["open_rate"][~is_short])
    np.testing.assert_allclose(shorts.y, trades["open_rate"][is_short])
    win = (trades["profit_ratio"] > 0).to_numpy()
    exits = {t.name: t for t in traces(fig, "scatter") if t.name.startswith("exit")}
    for name, mask in (("exit win", win), ("exit loss", ~win)):
        assert (name in exits) == bool(mask.any())
        if mask.any():
            np.testing.assert_allclose(exits[name].y, trades["close_rate"][mask])
    assert all(t.showlegend is not False for t in (longs, shorts, *exits.values()))
    assert not traces(fig, "scatter", "target")  # no target column: none drawn
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
    for name in ("entry long", "exit win", "stop (final)", "stop (initial)", "target"):
        assert f'"name":"{name}"' in text
    assert not list((tmp_path / "plots").glob("*.png"))


def test_cli_map(userdir):
    rc = main(["map", "--userdir", str(userdir), "--at", "2024-01-02T12:03", "--range-pct", "10"])
    assert rc == 0
    stem = userdir / "plot" / "liq-map-BTC_USDT_USDT-5m-20240102T1200"
    assert stem.with_suffix(".html").stat().st_size > 3e6
    assert Image.open(stem.with_suffix(".png")).size == (1430, 715)
    default_html = stem.with_suffix(".html").read_text()
    assert "default map" in default_html


def test_cli_map_draws_a_named_preset_and_refuses_it_with_the_strategy_map(userdir, capsys):
    argv = ["map", "--userdir", str(userdir), "--at", "2024-01-02T12:03", "--format", "html"]
    assert main([*argv, "--preset", "btc-all-exchanges"]) == 0
    html = (userdir / "plot" / "liq-map-BTC_USDT_USDT-5m-20240102T1200.html").read_text()
    assert "btc-all-exchanges map" in html and "default map" not in html
    capsys.readouterr()
    assert main([*argv, "--preset", "design", "--map", "strategy"]) == 2
    assert "--preset sets the default map" in capsys.readouterr().err
    assert main([*argv, "--preset", "nope"]) == 2
    assert "no preset named 'nope'" in capsys.readouterr().err


def test_cli_heatmap_strategy_draws_the_map_that_strategy_trades_on(userdir, tmp_path, capsys):
    from liq_indicator.cli.heatmap import strategy_heatmap
    from liq_indicator.config import HeatmapConfig
    from liq_indicator.strategy.signals import STRATEGY_HEATMAP

    folder = tmp_path / "strategies"
    folder.mkdir()
    (folder / "mine.py").write_text(
        "from liq_indicator.config import HeatmapConfig\n"
        "class Mine:\n"
        "    heatmap_config = HeatmapConfig.preset('design', half_life_hours=(30, 20, 10, 5, 3))\n"
        "class Plain:\n"
        "    timeframe = '5m'\n"
    )
    assert strategy_heatmap("LiqClusterStrategy", folder) is STRATEGY_HEATMAP
    mine = strategy_heatmap("Mine", folder)
    assert isinstance(mine, HeatmapConfig) and mine.half_life_hours == (30, 20, 10, 5, 3)
    with pytest.raises(InputError, match="'Plain' .* has no map: give the class a heatmap_config"):
        strategy_heatmap("Plain", folder)
    with pytest.raises(InputError, match="no strategy 'Absent' in .*--strategy-path"):
        strategy_heatmap("Absent", folder)

    base = ["heatmap", "--userdir", str(userdir), "--timerange", "20240102-20240103"]
    for name, half_lives in (("LiqClusterStrategy", "2-18 h"), ("Mine", "3-30 h")):
        plots = tmp_path / name
        argv = [*base, "--strategy", name, "--strategy-path", str(folder), "--format", "html"]
        assert main([*argv, "--plot-dir", str(plots)]) == 0
        (html,) = plots.glob("*.html")
        assert f"{name} map (half-lives {half_lives})" in html.read_text()
    assert main([*base, "--strategy", "Plain", "--strategy-path", str(folder)]) == 2
    assert "has no map" in capsys.readouterr().err
    # --map strategy is LiqClusterStrategy's map whichever strategy's trades are taken
    argv = [*base, "--strategy", "Plain", "--map", "strategy", "--format", "html"]
    assert main([*argv, "--plot-dir", str(tmp_path / "plain")]) == 0
    (html,) = (tmp_path / "plain").glob("*.html")
    assert "strategy map (half-lives 2-18 h)" in html.read_text()


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


# --- the strategy's story: stops, targets, cluster edges (#20) ----------------------------------


@pytest.fixture(scope="module")
def levelled(trades):
    """The sample trades with hand-set targets and cluster edges (as trade_levels_at_entry adds)."""
    out = trades.copy()
    sign = np.where(out["is_short"], -1.0, 1.0)
    out["target_rate"] = out["open_rate"] * (1 + 0.05 * sign)
    out["stop_cluster_near"] = out["open_rate"] * (1 - 0.02 * sign)
    out["stop_cluster_far"] = out["open_rate"] * (1 - 0.03 * sign)
    out["target_cluster_near"] = out["open_rate"] * (1 + 0.05 * sign)
    out["target_cluster_far"] = out["open_rate"] * (1 + 0.06 * sign)
    return out


def test_trade_targets_and_cluster_edges_from_entry_to_exit(data, levelled):
    _, feats, heat = data
    fig = heatmap_figure(feats, heat, levelled)
    opens = [t.tz_localize(None) for t in levelled["open_date"]]
    closes = [t.tz_localize(None) for t in levelled["close_date"]]
    (target,) = traces(fig, "scatter", "target")
    assert [y for y in target.y if y is not None] == pytest.approx(
        np.repeat(levelled["target_rate"].to_numpy(), 2)
    )
    xs = [pd.Timestamp(x) for x in target.x if x is not None]
    assert xs[0::2] == opens and xs[1::2] == closes
    for name, near, far in (
        ("cluster edges: beyond the stop", "stop_cluster_near", "stop_cluster_far"),
        ("cluster edges: at the target", "target_cluster_near", "target_cluster_far"),
    ):
        boxes = traces(fig, "scatter", name)
        assert boxes and sum(t.showlegend is not False for t in boxes) == 1
        ys = sorted(y for t in boxes for y in t.y if y is not None)
        want = sorted(np.r_[np.repeat(levelled[near], 3), np.repeat(levelled[far], 2)])
        assert ys == pytest.approx(want)
    # a bracket per trade at its entry, from its lowest to its highest level
    (bracket,) = traces(fig, "scatter", "trade (stop to target)")
    lows = [y for y in bracket.y[0::3]]
    levels = levelled[["stop_loss_abs", "initial_stop_loss_abs", "target_rate", "open_rate"]]
    assert lows == pytest.approx(levels.min(axis=1).tolist())
    # the price axis holds every stop and target
    y0, y1 = fig.layout.yaxis.range
    assert y0 < levels.min().min() and y1 > levels.max().max()


def test_trade_levels_at_entry_follow_the_strategy_rules(data):
    from liq_indicator.plot.figures import TRADE_LEVEL_COLUMNS
    from liq_indicator.strategy.frequi import LEVEL_COLUMNS, trade_levels_at_entry
    from liq_indicator.strategy.signals import STRATEGY_HEATMAP, strategy_features, trade_plan

    assert LEVEL_COLUMNS == TRADE_LEVEL_COLUMNS  # the strategy's names are the picture's
    candles = data[0]
    feats = strategy_features(candles, STRATEGY_HEATMAP)
    records = sample_trade_records(candles)
    trades = load_trades(write_backtest(Path(candles.attrs.get("tmp", "/tmp")) / "lv", records))
    before = trades.copy()
    out = trade_levels_at_entry(trades, feats)
    pd.testing.assert_frame_equal(trades, before)
    # sample trades open at the close of candle i, i.e. at candle i's date + 5m? no: at its date,
    # so the signal candle is the one before (closed at the entry)
    for k, row in out.iterrows():
        i = int(np.flatnonzero(feats["date"] == row["open_date"])[0]) - 1
        sig = feats.iloc[i]
        side, other = ("short", "long") if row["is_short"] else ("long", "short")
        _, target = trade_plan(sig, bool(row["is_short"]), entry=row["open_rate"])
        assert row["target_rate"] == pytest.approx(target, nan_ok=True), k
        assert row["stop_cluster_far"] == pytest.approx(sig[f"liq_{side}_cluster_far"], nan_ok=True)
        assert row["target_cluster_near"] == pytest.approx(
            sig[f"liq_{other}_cluster_near"], nan_ok=True
        )
    assert np.isfinite(out["target_rate"]).any()
    # a trade before the features' first candle gets no levels
    early = trades.assign(open_date=trades["open_date"] - pd.Timedelta(days=30))
    assert trade_levels_at_entry(early, feats)[list(LEVEL_COLUMNS)].isna().all().all()


def test_swept_panel_is_the_same_whatever_the_candle_count(data):
    # the PNG draws fewer candles than the HTML; the swept panel must not change with them
    _, feats, heat = data
    many, few = (
        heatmap_figure(feats, heat, max_candles=1500),
        heatmap_figure(feats, heat, max_candles=60),
    )
    for fig_a, fig_b in ((many, few),):
        bars_a = [t for t in traces(fig_a, "bar")]
        bars_b = [t for t in traces(fig_b, "bar")]
        assert [t.name for t in bars_a] == [t.name for t in bars_b]
        for a, b in zip(bars_a, bars_b, strict=True):
            np.testing.assert_array_equal(a.y, b.y)
            assert len(a.y) <= SWEPT_BARS
    assert len(traces(many, "candlestick")[0].x) > len(traces(few, "candlestick")[0].x)


def test_cluster_scale_leaves_the_thin_cells_clear(data):
    _, feats, heat = data
    shares = {}
    for scale in SCALES:
        fig = heatmap_figure(feats, heat, scale=scale)
        z = np.concatenate([np.asarray(t.z).ravel() for t in traces(fig, "heatmap")])
        usd = np.concatenate([np.asarray(t.customdata).ravel() for t in traces(fig, "heatmap")])
        shares[scale] = (z > 0).sum() / (usd > 0).sum()
        if scale == "clusters":  # floor: the 80th percentile, 0.5 to 4 decades under the top
            top, cells = usd.max(), usd[usd > 0]
            span = np.log10(top) - np.percentile(np.log10(cells), 80.0)
            floor = top / 10 ** min(max(span, 0.5), 4.0)
            np.testing.assert_array_equal(z > 0, usd >= floor * (1 + 1e-6))
    assert shares["full"] > 0.95
    assert shares["clusters"] < 0.5 * shares["full"]
    with pytest.raises(InputError, match="scale must be one of"):
        heatmap_figure(feats, heat, scale="loud")


def test_price_axis_turns_logarithmic_for_wide_ranges(data):
    _, feats, heat = data
    assert heatmap_figure(feats, heat).layout.yaxis.type == "linear"  # a few % of range
    fig = heatmap_figure(feats, heat, price_axis="log")
    lo, hi = feats["low"].min(), feats["high"].max()
    y0, y1 = fig.layout.yaxis.range
    assert fig.layout.yaxis.type == "log" and 10**y0 < lo and 10**y1 > hi
    doubled = feats.copy()
    ramp = np.linspace(1.0, 3.0, len(doubled))
    for col in ("open", "high", "low", "close"):
        doubled[col] = doubled[col] * ramp
    wide = liquidation_heatmap_of(doubled)
    assert heatmap_figure(doubled, wide).layout.yaxis.type == "log"


def liquidation_heatmap_of(frame):
    from liq_indicator import liquidation_heatmap

    return liquidation_heatmap(
        frame[["date", "open", "high", "low", "close", "volume"]], max_times=60
    )


def test_cold_map_is_shaded_and_watermark_drawn(data, tmp_path):
    _, feats, heat = data
    start = feats["date"].iloc[0].tz_localize(None)
    cold = feats["date"].iloc[100]
    fig = heatmap_figure(feats, heat, cold_until=cold, watermark="SIMULATED")
    (shade,) = [s for s in fig.layout.shapes if s.name == "warming up"]
    assert pd.Timestamp(shade.x0) == start and pd.Timestamp(shade.x1) == cold.tz_localize(None)
    texts = [a.text for a in fig.layout.annotations]
    assert any("warming up" in t for t in texts) and "SIMULATED" in texts
    # a map warm before the first candle: no shade
    warm = heatmap_figure(feats, heat, cold_until=feats["date"].iloc[0] - pd.Timedelta(hours=1))
    assert not [s for s in warm.layout.shapes if s.name == "warming up"]
    plain, marked = tmp_path / "plain.png", tmp_path / "marked.png"
    save_png_heatmap(feats, heat, plain)
    save_png_heatmap(feats, heat, marked, cold_until=cold, watermark="SIMULATED")
    a = np.asarray(Image.open(plain).convert("RGB"), dtype=int)
    b = np.asarray(Image.open(marked).convert("RGB"), dtype=int)
    assert (np.abs(a - b).sum(axis=2) > 30).mean() > 0.02  # the shade and watermark show


def test_map_marks_clusters_stop_and_target(liq_map, tmp_path):
    p = liq_map.price
    clusters = {"long cluster": (p * 0.97, p * 0.96), "short cluster": (p * 1.02, np.nan)}
    levels = {"stop (long)": p * 0.955, "target (long)": p * 1.03}
    fig = map_figure(liq_map, clusters=clusters, levels=levels, watermark="NOT WARMED UP")
    shapes = {s.name: s for s in fig.layout.shapes if s.name}
    assert set(shapes) == {"long cluster", "stop (long)", "target (long)"}  # NaN edge skipped
    assert (shapes["long cluster"].x0, shapes["long cluster"].x1) == pytest.approx(
        (p * 0.96, p * 0.97)
    )
    assert shapes["stop (long)"].x0 == pytest.approx(p * 0.955)
    assert shapes["target (long)"].line.color != shapes["stop (long)"].line.color
    assert "NOT WARMED UP" in [a.text for a in fig.layout.annotations]
    png = save_png_map(liq_map, tmp_path / "m.png", clusters=clusters, levels=levels)
    assert colourfulness(png)[0] > 500


# --- FreqUI / plot-dataframe --------------------------------------------------------------------


def test_plot_config_draws_no_wedges_in_the_heatmap_colours():
    from liq_indicator.strategy.frequi import COLORS, plot_config
    from liq_indicator.style import LONG_COLOR, SHORT_COLOR

    for side, hexa in (("long", LONG_COLOR), ("short", SHORT_COLOR)):
        assert "#{:02x}{:02x}{:02x}".format(*COLORS[side]) == hexa
    main_plot = plot_config()["main_plot"]
    assert not any("fill_to" in conf for conf in main_plot.values())
    for conf in main_plot.values():
        assert conf["plotly"]["connectgaps"] is False and conf["plotly"]["line"]["shape"] == "hv"


def test_plot_dataframe_breaks_the_cluster_lines_where_there_is_none():
    plotting = pytest.importorskip("freqtrade.plot.plotting")
    from liq_indicator.strategy.frequi import plot_config

    n = 60
    dates = pd.date_range("2024-01-01", periods=n, freq="5min", tz="UTC")
    near = np.r_[np.full(20, 56_000.0), np.full(20, np.nan), np.full(20, 70_000.0)]
    frame = pd.DataFrame(
        {"date": dates, "open": 60e3, "high": 61e3, "low": 59e3, "close": 60e3, "volume": 1.0}
    )
    for side in ("long", "short"):
        frame[f"liq_{side}_cluster_near"] = near
        frame[f"liq_{side}_cluster_far"] = near * 0.99
    frame["liq_swept_long_usd"] = frame["liq_swept_short_usd"] = 0.0
    fig = plotting.generate_candlestick_graph(
        "BTC/USDT:USDT", frame, pd.DataFrame(), plot_config=plot_config()
    )
    cluster = [t for t in fig.data if t.name and "cluster" in t.name]
    assert len(cluster) == 4
    for t in cluster:
        assert t.fill in (None, "none") and t.connectgaps is False and t.line.shape == "hv"


# --- backtest results: the one covering the picture ---------------------------------------------


def test_folder_form_picks_the_result_covering_the_period(data, tmp_path):
    records = sample_trade_records(data[0])
    folder = tmp_path / "bt"
    older = write_backtest(
        folder,
        records,
        stem="backtest-result-2024-01-05_10-00-00",
        period=("2024-01-01", "2024-01-04"),
    )
    write_backtest(  # written last: the folder's latest, another period
        folder,
        records[:1],
        stem="backtest-result-2024-06-01_10-00-00",
        period=("2024-05-01", "2024-06-01"),
        period_in_meta=False,
    )
    assert result_period(older) == (
        pd.Timestamp("2024-01-01", tz="UTC"),
        pd.Timestamp("2024-01-04", tz="UTC"),
    )
    assert len(load_trades(folder)) == 1  # no period: the latest, as Freqtrade
    with pytest.warns(UserWarning, match="covers 2024-05-01 .. 2024-06-01, not the drawn period"):
        got = load_trades(folder, period=("2024-01-02", "2024-01-03"))
    assert len(got) == 4 and got.attrs["source"] == str(older)
    assert len(load_trades(folder, period=("2024-05-10", "2024-05-11"))) == 1
    with pytest.raises(InputError, match="no backtest result in .* covers the drawn period"):
        load_trades(folder, period=("2023-01-01", "2023-02-01"))


def test_cli_title_counts_the_drawn_trades_and_warns_of_warm_up(userdir, tmp_path, capsys):
    plots = tmp_path / "p"
    rc = main(
        [
            "heatmap",
            "--userdir",
            str(userdir),
            "--plot-dir",
            str(plots),
            "--timerange",
            "20240102T1200-20240103",
            "--warmup-days",
            "0.25",
            "--backtest-filename",
            str(userdir / "backtest_results"),
            "--format",
            "html",
        ]
    )
    assert rc == 0
    err = capsys.readouterr().err
    assert "warms up over 0 days 18:00:00" in err and "shaded in the picture" in err
    text = next(plots.glob("*.html")).read_text()
    # trades at candles 40..640 (5m from 2024-01-01): those open after 2024-01-02 12:00 are
    # the ones at 400..520 and 560..640
    assert "· 2 trades (of 4)" in text and "strategy map (half-lives 2-18 h)" in text
    assert "map warming up until" in text


def test_cli_map_marks_clusters_and_a_trade(userdir, tmp_path, capsys):
    plots = tmp_path / "m"
    rc = main(
        [
            "map",
            "--userdir",
            str(userdir),
            "--plot-dir",
            str(plots),
            "--at",
            "2024-01-01T06:00",
            "--map",
            "strategy",
            "--trade",
            "long",
            "--format",
            "html",
        ]
    )
    assert rc == 0
    assert "less than its slowest half-life (0 days 18:00:00)" in capsys.readouterr().err
    text = next(plots.glob("*.html")).read_text()
    for name in ("long cluster", "stop (long)", "target (long)", "NOT WARMED UP"):
        assert name in text


# --- recorded liquidations as bubbles (#19) -----------------------------------------------------


@pytest.fixture(scope="module")
def recorded(data, tmp_path_factory):
    """Events recorded into a datadir, and the 5m bars load_liquidations reads back."""
    from liq_indicator.io.liquidations import load_liquidations

    datadir = tmp_path_factory.mktemp("rec") / "binance"
    events = write_recorded(datadir, data[0])
    return events, load_liquidations(datadir, "5m", pair=PAIR)


def test_heatmap_bubbles_have_area_proportional_to_usd(data, recorded):
    from liq_indicator.style import LONG_COLOR, SHORT_COLOR

    _, feats, heat = data
    events, bars = recorded
    fig = heatmap_figure(feats, heat, liquidations=bars)  # 720 candles: one bubble per 5m candle
    refs = set()
    for side, colour in (("long", LONG_COLOR), ("short", SHORT_COLOR)):
        (bub,) = traces(fig, "scatter", f"{side}s liquidated (recorded)")
        mine = events[events["side"] == side]
        assert bub.mode == "markers" and bub.marker.color == colour
        assert bub.marker.sizemode == "area" and bub.showlegend is not False
        refs.add(bub.marker.sizeref)
        size = np.asarray(bub.marker.size, dtype=float)
        # area ~ USD: the sizes are the USD of each candle, nothing lost or invented
        assert size.sum() == pytest.approx(mine["usd"].sum())
        np.testing.assert_allclose(size, bub.customdata)
        # a candle with one liquidation: its bubble sits at that liquidation's price
        minute = mine["ts"] // 300_000
        single = mine[minute.map(minute.value_counts()) == 1]
        times = pd.DatetimeIndex(pd.to_datetime(single["ts"], unit="ms"))
        mid = times.floor("5min") + pd.Timedelta("150s")
        got = pd.Series(np.asarray(bub.y, dtype=float), index=pd.DatetimeIndex(bub.x))
        np.testing.assert_allclose(got.loc[mid].to_numpy(), single["price"].to_numpy())
        # hover: side, USD and count of each bubble
        k = int(np.argmax(size))
        assert f"{side}s liquidated (recorded): {format_usd(size[k])} in " in bub.text[k]
        assert re.search(r"in \d+ liquidations?<br>volume-weighted price", bub.text[k])
    assert len(refs) == 1  # one scale for both sides: their bubbles compare
    # the largest bubble is BUBBLE_MAX_PX wide (plotly: diameter = sqrt(size / sizeref))
    from liq_indicator.plot.figures import BUBBLE_MAX_PX

    biggest = events.groupby([events["ts"] // 300_000, events["side"]])["usd"].sum().max()
    assert np.sqrt(2 * biggest / refs.pop()) == pytest.approx(BUBBLE_MAX_PX)
    # the swept panel shows the recorded USD beside the estimate's bars, on the same axis
    (rec_short,) = [t for t in traces(fig, "scatter") if t.name.startswith("shorts recorded per")]
    assert rec_short.yaxis == "y2" and np.all(np.asarray(rec_short.y) > 0)
    assert np.sum(rec_short.y) == pytest.approx(events.loc[events["side"] == "short", "usd"].sum())


def test_merged_candles_merge_their_bubbles(data, recorded):
    _, feats, heat = data
    events, bars = recorded
    fig = heatmap_figure(feats, heat, liquidations=bars, max_candles=40)
    (bub,) = traces(fig, "scatter", "longs liquidated (recorded)")
    longs = events[events["side"] == "long"]
    assert np.sum(bub.marker.size) == pytest.approx(longs["usd"].sum())
    assert len(bub.x) < len(longs)  # several candles' liquidations in one bubble
    # each bubble's price is the USD-weighted price of what it merged: within their range
    assert longs["price"].min() <= min(bub.y) and max(bub.y) <= longs["price"].max()


def test_recording_gaps_and_quiet_candles_draw_no_bubble(data, recorded):
    _, feats, heat = data
    events, bars = recorded
    hole = bars.copy()
    busy = hole.index[hole["long_usd"] > 0]
    hole.loc[busy[: len(busy) // 2], :] = np.nan  # as load_liquidations marks a recording gap
    fig = heatmap_figure(feats, heat, liquidations=hole)
    (bub,) = traces(fig, "scatter", "longs liquidated (recorded)")
    assert len(bub.x) == len(busy) - len(busy) // 2
    none = heatmap_figure(feats, heat, liquidations=bars.iloc[:0])
    assert not [t for t in traces(none, "scatter") if "recorded" in t.name]
    with pytest.raises(InputError, match="load_liquidations"):
        heatmap_figure(feats, heat, liquidations=bars.drop(columns="long_vwap"))


def test_png_draws_the_bubbles(data, recorded, tmp_path):
    from liq_indicator.style import LONG_COLOR, SHORT_COLOR

    _, feats, heat = data
    plain = save_png_heatmap(feats, heat, tmp_path / "plain.png")
    bubbly = save_png_heatmap(feats, heat, tmp_path / "bubbles.png", liquidations=recorded[1])

    before, after = (np.asarray(Image.open(p).convert("RGB"), dtype=int) for p in (plain, bubbly))
    changed = np.abs(after - before).max(axis=2) > 40
    for colour in (LONG_COLOR, SHORT_COLOR):  # the bubbles' fills, drawn at 80% opacity
        rgb = np.array([int(colour[i : i + 2], 16) for i in (1, 3, 5)])
        assert (changed & (np.abs(after - rgb).max(axis=2) <= 60)).sum() > 300


def test_cli_heatmap_draws_the_recorded_file_and_says_so(data, tmp_path, capsys):
    from liq_indicator.io.liquidations import liquidations_file

    root = tmp_path / "user_data"
    datadir = root / "data" / "binance"
    (datadir / "futures").mkdir(parents=True)
    data[0][["date", "open", "high", "low", "close", "volume"]].to_feather(
        datadir / "futures" / "BTC_USDT_USDT-5m-futures.feather"
    )
    write_recorded(datadir, data[0])
    base = ["heatmap", "--userdir", str(root), "--timerange", "20240102-", "--format", "html"]

    def drawn(*extra: str) -> tuple[str, str]:
        plots = tmp_path / f"p{len(list(tmp_path.glob('p*')))}"
        assert main([*base, "--plot-dir", str(plots), *extra]) == 0
        return next(plots.glob("*.html")).read_text(), capsys.readouterr().out

    text, out = drawn()
    assert f"drawing the liquidations recorded in {liquidations_file(datadir, PAIR)}" in out
    assert '"name":"longs liquidated (recorded)"' in text
    text, out = drawn("--no-liquidations")
    assert "recorded" not in out and "liquidated (recorded)" not in text
    other = tmp_path / "elsewhere" / "binance"
    write_recorded(other, data[0], n=5, seed=9)
    text, out = drawn("--liquidations", str(other))
    assert f"recorded in {liquidations_file(other, PAIR)}" in out
    assert "liquidated (recorded)" in text
    assert main([*base, "--liquidations", str(tmp_path / "none.feather")]) == 2
    assert "none.feather" in capsys.readouterr().err


def test_plot_config_adds_recorded_bars_only_when_the_columns_exist():
    from liq_indicator.strategy.frequi import RECORDED_COLUMNS, plot_config

    assert plot_config() == plot_config(["liq_swept_long_usd", "date"])
    (panel,) = plot_config(RECORDED_COLUMNS)["subplots"].values()
    assert [panel[c]["type"] for c in RECORDED_COLUMNS] == ["bar", "bar"]
    # beside the estimate's swept bars, on one axis, in lighter shades of the same sides
    assert {"liq_swept_long_usd", "liq_swept_short_usd"} <= set(panel)
    assert panel["liq_real_long_usd"]["color"] != panel["liq_swept_long_usd"]["color"]
    (only_long,) = plot_config(["liq_real_long_usd"])["subplots"].values()
    assert "liq_real_short_usd" not in only_long


def test_plot_dataframe_draws_recorded_bars_only_where_something_was_recorded():
    plotting = pytest.importorskip("freqtrade.plot.plotting")
    from liq_indicator.strategy.frequi import plot_config

    n = 40
    frame = pd.DataFrame(
        {
            "date": pd.date_range("2024-01-01", periods=n, freq="5min", tz="UTC"),
            "open": 60e3,
            "high": 61e3,
            "low": 59e3,
            "close": 60e3,
            "volume": 1.0,
        }
    )
    for side in ("long", "short"):
        frame[f"liq_{side}_cluster_near"] = frame[f"liq_{side}_cluster_far"] = np.nan
        frame[f"liq_swept_{side}_usd"] = 1e5
    frame["liq_real_long_usd"] = np.where(np.arange(n) % 7 == 0, 5e5, np.nan)
    frame["liq_real_short_usd"] = np.nan
    fig = plotting.generate_candlestick_graph(
        PAIR, frame, pd.DataFrame(), plot_config=plot_config(frame.columns)
    )
    (real,) = [t for t in fig.data if t.name == "liq_real_long_usd"]
    (swept,) = [t for t in fig.data if t.name == "liq_swept_long_usd"]
    assert real.type == "bar" and real.yaxis == swept.yaxis  # beside the estimate
    assert np.isfinite(np.asarray(real.y, dtype=float)).sum() == 6  # bars only where recorded
