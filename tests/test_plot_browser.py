"""The HTML pictures render in a real headless browser (Chromium from Debian's packages).

When ``/usr/bin/chromium`` is missing the test installs it with ``apt-get install -y chromium`` if it
runs as root, and is skipped with the reason otherwise. Two checks per page: a probe script reports
what plotly drew (traces, heatmap images, candles, the decoded hover data) through ``--dump-dom``,
and a screenshot must be a picture (thousands of colours, blue long and orange short regions).
The pictures of #20 (a backtest's stops, targets and cluster edges on the strategy's map, the
warm-up shade, the map with its marks) are screenshot too, and must show the stop's magenta and the
target's lime; set ``LIQ_INDICATOR_SCREENSHOTS`` to a folder to keep the screenshots.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from plot_helpers import sample_data, sample_trade_records, write_backtest, write_recorded

from liq_indicator import liquidation_map
from liq_indicator.io.backtest import load_trades
from liq_indicator.plot.figures import heatmap_figure, map_figure, save_html
from liq_indicator.style import LONG_COLOR, SHORT_COLOR, STOP_COLOR, TARGET_COLOR

pytestmark = pytest.mark.slow

CHROMIUM = Path("/usr/bin/chromium")
PROBE = """<script>
window.addEventListener('load', function () { setTimeout(function () {
  var gd = document.querySelector('.plotly-graph-div');
  var fd = (gd && gd._fullData) || [];
  var heat = fd.filter(function (t) { return t.type === 'heatmap'; });
  var cd = heat.length ? heat[0].customdata : null;
  document.body.setAttribute('data-probe', JSON.stringify({
    traces: fd.map(function (t) { return t.type + ':' + t.name; }),
    heatmapImages: document.querySelectorAll('g.hm image').length,
    candles: document.querySelectorAll('g.trace.boxes path').length,
    bars: document.querySelectorAll('g.trace.bars path').length,
    hoverRows: cd ? cd.length : -1,
    hoverCols: cd && cd[0] ? cd[0].length : -1
  }));
}, 300); });
</script>"""


def find_chromium() -> Path:
    found = shutil.which("chromium")
    if found:
        return Path(found)
    if CHROMIUM.exists():
        return CHROMIUM
    if not hasattr(os, "geteuid") or os.geteuid() != 0 or not shutil.which("apt-get"):
        pytest.skip(
            "Chromium is not installed (/usr/bin/chromium) and this test may install it "
            "only as root with apt-get; run `apt-get install -y chromium` to include it"
        )
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    install = ["apt-get", "install", "-y", "-q", "chromium"]
    if subprocess.run(install, env=env, capture_output=True, timeout=900).returncode != 0:
        subprocess.run(["apt-get", "update", "-q"], env=env, capture_output=True, timeout=300)
        done = subprocess.run(install, env=env, capture_output=True, text=True, timeout=900)
        if done.returncode != 0:
            pytest.fail(f"apt-get install chromium failed:\n{done.stderr[-2000:]}")
    return CHROMIUM


@pytest.fixture(scope="module")
def chromium() -> Path:
    return find_chromium()


def browse(chromium: Path, page: Path, tmp: Path, *extra: str) -> subprocess.CompletedProcess:
    cmd = [
        str(chromium),
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        f"--user-data-dir={tmp / 'profile'}",
        "--window-size=1400,900",
        "--virtual-time-budget=10000",
        *extra,
        page.resolve().as_uri(),
    ]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=120, check=False)


def probe(chromium: Path, html: Path, tmp: Path) -> dict:
    page = tmp / f"probe-{html.name}"
    page.write_text(html.read_text().replace("</body>", PROBE + "</body>"))
    done = browse(chromium, page, tmp, "--dump-dom")
    assert done.returncode == 0, done.stderr[-2000:]
    marker = 'data-probe="'
    start = done.stdout.index(marker) + len(marker)
    raw = done.stdout[start : done.stdout.index('"', start)]
    return json.loads(raw.replace("&quot;", '"').replace("&amp;", "&"))


def screenshot(chromium: Path, html: Path, tmp: Path, min_colours: int) -> np.ndarray:
    shot = tmp / f"{html.stem}.png"
    done = browse(chromium, html, tmp, f"--screenshot={shot}")
    assert done.returncode == 0 and shot.exists(), done.stderr[-2000:]
    keep = os.environ.get("LIQ_INDICATOR_SCREENSHOTS")
    if keep:
        shutil.copy(shot, Path(keep) / f"browser_{html.stem}.png")
    img = Image.open(shot).convert("RGB")
    assert img.size == (1400, 900)
    arr = np.asarray(img, dtype=int)
    colours = len(img.getcolors(maxcolors=1 << 24) or ())
    assert colours > min_colours and arr.std() > 25, (colours, arr.std())  # not blank
    return arr


def share(arr: np.ndarray, hue: str) -> float:
    r, b = arr[..., 0], arr[..., 2]
    mask = (b > r + 60) if hue == "blue" else (r > b + 60)
    return float(mask.mean())


def test_heatmap_html_renders(chromium, tmp_path):
    candles, feats, heat = sample_data()
    trades = load_trades(write_backtest(tmp_path / "bt", sample_trade_records(candles)))
    html = save_html(
        heatmap_figure(feats, heat, trades, title="browser test"), tmp_path / "heatmap.html"
    )
    seen = probe(chromium, html, tmp_path)
    assert seen["traces"][:3] == [
        "heatmap:long pending",
        "heatmap:short pending",
        "candlestick:price",
    ]
    assert {"scatter:entry long", "scatter:entry short", "scatter:stop (final)"} <= set(
        seen["traces"]
    )
    assert seen["heatmapImages"] == 2
    assert seen["candles"] > 100 and seen["bars"] > 100
    # the hover data arrived whole: bins x times, decoded from the embedded typed array
    assert (seen["hoverRows"], seen["hoverCols"]) == (heat.long.shape[1], heat.long.shape[0])
    arr = screenshot(chromium, html, tmp_path, min_colours=2000)  # a heatmap's gradients
    assert share(arr, "blue") > 0.03 and share(arr, "orange") > 0.03  # longs and shorts drawn


def test_map_html_renders(chromium, tmp_path):
    candles, _, _ = sample_data()
    liq_map = liquidation_map(candles, price_range_pct=12)
    html = save_html(map_figure(liq_map, title="browser test"), tmp_path / "map.html")
    seen = probe(chromium, html, tmp_path)
    assert "scatter:cumulative long" in seen["traces"] and "bar:long 10x" in seen["traces"]
    assert seen["bars"] > 10
    arr = screenshot(chromium, html, tmp_path, min_colours=500)  # flat bars, anti-aliased
    assert share(arr, "blue") > 0.005 and share(arr, "orange") > 0.005


def near_colour(arr: np.ndarray, hexa: str, tol: int = 40) -> float:
    """Share of pixels within ``tol`` (per channel) of the colour ``#rrggbb``."""
    rgb = np.array([int(hexa[i : i + 2], 16) for i in (1, 3, 5)])
    return float((np.abs(arr - rgb).max(axis=2) <= tol).mean())


def test_strategy_story_pictures_render(chromium, tmp_path):
    """#20: each trade's stop and target from entry to exit with its cluster edges, the warm-up
    shade, a watermark; the map with the nearest clusters, a stop and a target."""
    candles, feats, heat = sample_data()
    trades = load_trades(write_backtest(tmp_path / "bt", sample_trade_records(candles)))
    sign = np.where(trades["is_short"], -1.0, 1.0)
    trades["target_rate"] = trades["open_rate"] * (1 + 0.03 * sign)
    trades["stop_cluster_near"] = trades["open_rate"] * (1 - 0.02 * sign)
    trades["stop_cluster_far"] = trades["open_rate"] * (1 - 0.03 * sign)
    trades["target_cluster_near"] = trades["open_rate"] * (1 + 0.03 * sign)
    trades["target_cluster_far"] = trades["open_rate"] * (1 + 0.04 * sign)
    fig = heatmap_figure(
        feats,
        heat,
        trades,
        title="browser test: stops, targets, cluster edges",
        cold_until=feats["date"].iloc[60],
        watermark="SIMULATED",
    )
    html = save_html(fig, tmp_path / "story_heatmap.html")
    seen = probe(chromium, html, tmp_path)
    assert {
        "scatter:target",
        "scatter:cluster edges: beyond the stop",
        "scatter:cluster edges: at the target",
        "scatter:exit win",
    } <= set(seen["traces"])
    arr = screenshot(chromium, html, tmp_path, min_colours=2000)
    assert near_colour(arr, STOP_COLOR) > 5e-4 and near_colour(arr, TARGET_COLOR) > 5e-4

    liq_map = liquidation_map(candles, price_range_pct=12)
    p = liq_map.price
    html = save_html(
        map_figure(
            liq_map,
            title="browser test: map marks",
            clusters={"long cluster": (p * 0.97, p * 0.96), "short cluster": (p * 1.03, p * 1.04)},
            levels={"stop (long)": p * 0.955, "target (long)": p * 1.03},
        ),
        tmp_path / "story_map.html",
    )
    arr = screenshot(chromium, html, tmp_path, min_colours=500)
    assert near_colour(arr, STOP_COLOR) > 2e-4 and near_colour(arr, TARGET_COLOR) > 2e-4


def test_heatmap_with_recorded_liquidations_renders(chromium, tmp_path):
    """#19: the recorded liquidations as bubbles over the estimated map (the CoinGlass picture
    with the estimate beside it); the screenshot is docs/img/browser_heatmap_liquidations.png."""
    from liq_indicator.io.liquidations import load_liquidations

    candles, feats, heat = sample_data()
    datadir = tmp_path / "binance"
    write_recorded(datadir, candles, n=90)
    recorded = load_liquidations(datadir, "5m", pair="BTC/USDT:USDT")
    fig = heatmap_figure(
        feats,
        heat,
        liquidations=recorded,
        title="BTC/USDT:USDT 5m: recorded liquidations (bubbles, area ~ USD) over the estimated map",
        watermark="SIMULATED",
    )
    html = save_html(fig, tmp_path / "heatmap_liquidations.html")
    seen = probe(chromium, html, tmp_path)
    assert {
        "scatter:longs liquidated (recorded)",
        "scatter:shorts liquidated (recorded)",
    } <= set(seen["traces"])
    arr = screenshot(chromium, html, tmp_path, min_colours=2000)
    # the bubbles' fills (80% opaque, white rim) over the map, in both sides' colours
    assert near_colour(arr, LONG_COLOR, tol=50) > 5e-4
    assert near_colour(arr, SHORT_COLOR, tol=50) > 5e-4
