"""Rendering speed and file sizes: a year of 5m candles -> liquidation heatmap HTML + PNG, and a map.

Run with ``make bench`` (or ``python benchmarks/bench_plot.py``); prints a Markdown table. Wall clock,
one run each, after a warm-up that compiles the kernel (numba's cache makes that a one-off per
install). ``--quick`` draws a month instead of a year.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import pandas as pd
from synthetic import random_walk

from liq_indicator import liquidation_features, liquidation_heatmap, liquidation_map
from liq_indicator.plot.figures import (
    heatmap_figure,
    map_figure,
    save_html,
    save_png_heatmap,
    save_png_map,
)


def synthetic_5m(days: float, seed: int = 0) -> pd.DataFrame:
    """A random walk of 5m candles with fat tails and BTC-like prices and volumes."""
    return random_walk(
        int(days * 288),
        freq="5min",
        start="2024-01-01",
        seed=seed,
        ret_scale=0.0017,
        wick_scale=0.0012,
        volume_mu=5.0,
    )


def timed(fn, *args, **kwargs):
    t = time.perf_counter()
    out = fn(*args, **kwargs)
    return out, time.perf_counter() - t


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a month instead of a year")
    args, _ = parser.parse_known_args()  # run_all.py passes its own options through
    days = 30 if args.quick else 365
    candles = synthetic_5m(days)
    liquidation_features(candles.head(2000))  # compile (or load the cache) outside the timings
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp)
        feats, t_feat = timed(liquidation_features, candles)
        heat, t_heat = timed(liquidation_heatmap, candles, max_times=1500, max_price_bins=300)
        fig, t_fig = timed(heatmap_figure, feats, heat, title="bench")
        html, t_html = timed(save_html, fig, out / "heatmap.html")
        png, t_png = timed(save_png_heatmap, feats, heat, out / "heatmap.png", title="bench")
        rows += [
            ("liquidation_features", t_feat, None),
            (f"liquidation_heatmap ({heat.long.shape[0]} x {heat.long.shape[1]})", t_heat, None),
            ("heatmap_figure (plotly)", t_fig, None),
            ("save_html (plotly.js embedded)", t_html, html.stat().st_size),
            ("save_png_heatmap (matplotlib)", t_png, png.stat().st_size),
        ]
        lmap, t_map = timed(liquidation_map, candles, price_range_pct=15)
        mfig, t_mfig = timed(map_figure, lmap)
        mhtml, t_mhtml = timed(save_html, mfig, out / "map.html")
        mpng, t_mpng = timed(save_png_map, lmap, out / "map.png")
        rows += [
            ("liquidation_map (at the last candle)", t_map, None),
            ("map_figure + save_html", t_mfig + t_mhtml, mhtml.stat().st_size),
            ("save_png_map", t_mpng, mpng.stat().st_size),
        ]
    total = t_heat + t_fig + t_html + t_png
    print(f"{len(candles):,} synthetic 5m candles ({days} days)\n")
    print("| step | seconds | file size |")
    print("|---|---:|---:|")
    for name, seconds, size in rows:
        print(f"| {name} | {seconds:.2f} | {'' if size is None else f'{size / 1e6:.1f} MB'} |")
    print(f"\nheatmap, HTML + PNG, after the features: {total:.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
