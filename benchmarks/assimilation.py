"""Does assimilation bring a wrong map magnitude back toward the truth? (issue #19)

On the simulator, where every liquidation is known: 20 days of a calm market, the map started 10x
too high and 10x too low (``volume_share``), fed the true liquidations per candle, with several
``assimilation_rate`` values, with and without ``reconcile_band_pct``. Prints the median
log10(map swept / true liquidated) per hour over the last 10 days and its median absolute value.

    python benchmarks/assimilation.py
"""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd

from liq_indicator import HeatmapConfig, liquidation_features
from liq_indicator.sim.market import simulate


def main() -> int:
    warnings.simplefilter("ignore")
    sim = simulate(20, seed=2, scenario="calm")
    truth = pd.DataFrame(
        {
            "date": sim.truth["date"],
            "long_usd": sim.truth["liq_long_usd"],
            "short_usd": sim.truth["liq_short_usd"],
        }
    )
    print(
        "| start | assimilation_rate | reconcile_band_pct | median log10(map / true) | median abs |"
    )
    print("|---|---:|---:|---:|---:|")
    base = HeatmapConfig().volume_share
    runs = [(r, 0.0) for r in (0.0, 0.01, 0.05, 0.2)] + [(0.05, 1.0), (0.05, 3.0)]
    for label, share in (("10x too high", base * 10), ("10x too low", base / 10)):
        for rate, band in runs:
            cfg = HeatmapConfig(volume_share=share, assimilation_rate=rate, reconcile_band_pct=band)
            f = liquidation_features(sim.candles, cfg, liquidations=truth).set_index("date")
            h = f.filter(like="_usd").resample("1h").sum()
            h = h[h.index >= h.index[0] + pd.Timedelta("10D")]
            est = h["liq_swept_long_usd"] + h["liq_swept_short_usd"]
            real = h["liq_real_long_usd"] + h["liq_real_short_usd"]
            ok = (est > 0) & (real > 0)
            lr = np.log10(est[ok] / real[ok])
            print(
                f"| {label} | {rate:g} | {band:g} | {np.median(lr):+.2f} | "
                f"{np.median(np.abs(lr)):.2f} |"
            )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
