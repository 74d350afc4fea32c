"""Estimator speed and memory: throughput vs candles and grid size, live latency, memory.

Run with ``make bench`` (or ``python benchmarks/bench_estimator.py``); prints Markdown tables.
Timings are best-of-3 wall clock on one core after numba compilation (compilation is cached on disk
by ``cache=True``, so only a fresh install pays it once).
"""

from __future__ import annotations

import argparse
import gc
import resource
import sys
import time
import tracemalloc

import numpy as np
import pandas as pd
from synthetic import random_walk

from liq_indicator import HeatmapConfig, LiquidationEstimator, liquidation_features
from liq_indicator.config import DEFAULT_PAIR
from liq_indicator.io.datadir import pair_file
from liq_indicator.io.shared import shared_data_dir

REAL_5M = pair_file(shared_data_dir() / "history/binance", DEFAULT_PAIR, "5m")
TRUTH = shared_data_dir() / "truthwindow/binance"


def truth_window(repeat: int = 15) -> list[str]:
    """All features on the real 5m truth window with its 1h open interest (issue #15's target:
    <= 10 ms), best of ``repeat``, split into input preparation (checks + causal OI merge) and
    kernel."""
    import warnings

    from liq_indicator.core.inputs import prepare
    from liq_indicator.core.model import kernel_params, new_state
    from liq_indicator.errors import DataWarning
    from liq_indicator.estimator import _run

    candles_path = pair_file(TRUTH, DEFAULT_PAIR, "5m")
    if not candles_path.exists():
        return [f"(no {candles_path}; skipped)"]
    candles = pd.read_feather(candles_path)
    oi = pd.read_feather(pair_file(TRUTH, DEFAULT_PAIR, "1h", "open_interest"))
    cfg = HeatmapConfig()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DataWarning)
        liquidation_features(candles, open_interest=oi)
        total = best_of(lambda: liquidation_features(candles, open_interest=oi), repeat)
        prep = best_of(lambda: prepare(candles, cfg, open_interest=oi), repeat)
        inputs = prepare(candles, cfg, open_interest=oi)
        params = kernel_params(cfg)
        kernel = best_of(lambda: _run(params, new_state(cfg), inputs), repeat)
    return [
        "| candles (5m, with 1h OI) | all features (ms) | prepare (ms) | kernel (ms) |",
        "|---:|---:|---:|---:|",
        f"| {len(candles):,} | {total * 1e3:.1f} | {prep * 1e3:.1f} | {kernel * 1e3:.1f} |",
    ]


def synthetic(n: int, seed: int = 0) -> pd.DataFrame:
    """A random walk of ``n`` 1m candles with fat tails, BTC-like prices and volumes."""
    return random_walk(n, seed=seed)


def best_of(fn, repeat: int = 3) -> float:
    times = []
    for _ in range(repeat):
        gc.collect()
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return min(times)


def throughput(sizes: list[int]) -> list[str]:
    liquidation_features(synthetic(1000))  # compile / load the cache
    rows = ["| candles (1m) | seconds | µs / candle | candles / s |", "|---:|---:|---:|---:|"]
    for n in sizes:
        df = synthetic(n)
        s = best_of(lambda df=df: liquidation_features(df))
        rows.append(f"| {n:,} | {s:.3f} | {s / n * 1e6:.2f} | {n / s:,.0f} |")
    if REAL_5M.exists():
        real = pd.read_feather(REAL_5M)
        s = best_of(lambda: liquidation_features(real))
        rows.append(
            f"| {len(real):,} real 5m (2023-01 → 2025-09) | {s:.3f} | {s / len(real) * 1e6:.2f} | {len(real) / s:,.0f} |"
        )
    return rows


def grid_sizes(n: int) -> list[str]:
    df = synthetic(n)
    rows = [
        f"| bin (bp) | window bins | seconds for {n:,} candles | µs / candle |",
        "|---:|---:|---:|---:|",
    ]
    for bp, bins in ((20.0, 1024), (10.0, 2048), (5.0, 4096), (2.5, 8192)):
        cfg = HeatmapConfig(bin_bp=bp, grid_bins=bins)
        liquidation_features(df.iloc[:100], cfg)
        s = best_of(lambda cfg=cfg: liquidation_features(df, cfg))
        rows.append(f"| {bp:g} | {bins} | {s:.3f} | {s / n * 1e6:.2f} |")
    return rows


def live_latency(history: list[int], probe: int = 5000) -> list[str]:
    rows = [
        "| candles already seen | µs / update (median) | µs / update (p99) |",
        "|---:|---:|---:|",
    ]
    for h in history:
        df = synthetic(h + probe, seed=1)
        est = LiquidationEstimator()
        est.update_frame(df.iloc[:h])
        records = df.iloc[h:].to_dict("records")
        lat = np.empty(len(records))
        for i, rec in enumerate(records):
            t = time.perf_counter()
            est.update(rec)
            lat[i] = time.perf_counter() - t
        rows.append(f"| {h:,} | {np.median(lat) * 1e6:.1f} | {np.quantile(lat, 0.99) * 1e6:.1f} |")
    return rows


def live_memory(n: int = 200_000, every: int = 40_000) -> list[str]:
    """Live use: one update() per candle; traced memory sampled every ``every`` candles."""
    records = synthetic(n, seed=2).to_dict("records")
    est = LiquidationEstimator()
    est.update(records[0])
    gc.collect()
    tracemalloc.start()
    base = tracemalloc.get_traced_memory()[0]
    rows = [
        "| candles fed (one update() each) | traced Python memory growth (KiB) |",
        "|---:|---:|",
    ]
    for a in range(1, n, every):
        for rec in records[a : a + every]:
            est.update(rec)
        gc.collect()
        rows.append(
            f"| {min(a + every, n):,} | {(tracemalloc.get_traced_memory()[0] - base) / 1024:.1f} |"
        )
    tracemalloc.stop()
    state = sum(a.nbytes for a in est.state)
    rows.append(
        f"\nstate arrays: {state / 1024:.0f} KiB (2 sides x 5 tiers x 2048 bins), independent of history"
    )
    return rows


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="smaller sizes (a smoke run)")
    args = parser.parse_args()
    sizes = [10_000, 100_000] if args.quick else [10_000, 100_000, 525_600, 1_000_000]
    print("## Truth window (all features with open interest, best of 15)\n")
    print("\n".join(truth_window()))
    print("\n## Throughput (all features, batch)\n")
    print("\n".join(throughput(sizes)))
    print("\n## Grid size\n")
    print("\n".join(grid_sizes(50_000 if args.quick else 525_600)))
    print("\n## Live update latency\n")
    print("\n".join(live_latency([1_000, 100_000] if args.quick else [1_000, 100_000, 500_000])))
    print("\n## Live memory\n")
    print("\n".join(live_memory(40_000, 10_000) if args.quick else live_memory()))
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(
        f"\npeak RSS of this benchmark process: {peak:.0f} MiB (dominated by the 1M-candle input/output frames)"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
