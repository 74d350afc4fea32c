"""`make demo` end to end, shortened: simulate -> offline freqtrade backtest -> pictures."""

from __future__ import annotations

import subprocess
import sys

import pytest
from conftest import REPO


@pytest.mark.slow
def test_demo_runs_end_to_end(tmp_path):
    plots = tmp_path / "plot"
    done = subprocess.run(
        [
            sys.executable,
            str(REPO / "scripts" / "demo.py"),
            "--days",
            "30",  # 20 days of the seeded market hold no trade: nothing to draw on the map
            "--workdir",
            str(tmp_path / "demo"),
            "--plot-dir",
            str(plots),
        ],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert (
        "SIMULATED"
        in (
            tmp_path / "demo" / "user_data" / "data" / "simulated-binance" / "SIMULATED.txt"
        ).read_text()
    )
    assert "BACKTESTING REPORT" in done.stdout and "LiqClusterStrategy" in done.stdout
    names = sorted(p.name for p in plots.iterdir())
    # marked as simulated: by name (never mistaken for a real `liq-heatmap-*`), title, watermark
    assert any(n.startswith("SIMULATED-liq-heatmap-") and n.endswith(".png") for n in names), names
    assert any(n.startswith("SIMULATED-liq-map-") and n.endswith(".png") for n in names), names
    assert all(n.startswith("SIMULATED-") for n in names), names
    assert all((plots / n).stat().st_size > 20_000 for n in names)
    for html in plots.glob("*.html"):
        text = html.read_text()
        assert '"text":"SIMULATED"' in text and "SIMULATED BTC" in text
    heatmap = next(plots.glob("SIMULATED-liq-heatmap-*.html")).read_text()
    # drawn on the strategy's map, with the trades' targets and cluster edges
    assert "strategy map" in heatmap and '"name":"target"' in heatmap
    assert '"name":"cluster edges: beyond the stop"' in heatmap
