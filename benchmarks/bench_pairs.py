"""Many pairs at once: ``liq-indicator features --all`` on 50 pairs x 1 year of 5m candles, one
process against ``--jobs N`` (loky), and a cold against a warm cache.

The candles are synthetic (``synthetic.random_walk``, a different seed and price level per pair,
with 8-hourly funding) and written to a temporary Freqtrade datadir; the pairs are real Binance
USDT perpetuals (majors first, then Freqtrade's Binance tier file) so each uses its own tiers.
Each run is a fresh ``liq-indicator`` process, so its wall time includes start-up and, with
``--jobs``, starting the workers. Figures go to docs/SCALING.md by hand.

Run: ``python benchmarks/bench_pairs.py [--pairs 50] [--days 365] [--jobs 2]``.
"""

from __future__ import annotations

import argparse
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from liq_indicator.config import HeatmapConfig
from liq_indicator.errors import ConfigError
from liq_indicator.io.argtypes import timeframe as timeframe_type
from liq_indicator.io.datadir import pair_file
from liq_indicator.io.timeframes import timeframe_minutes

sys.path.insert(0, str(Path(__file__).resolve().parent))
from synthetic import random_walk  # noqa: E402

MAJORS = (
    "BTC ETH SOL XRP DOGE BNB ADA AVAX LINK DOT TRX LTC BCH NEAR UNI APT ARB OP SUI FIL ATOM "
    "ETC INJ AAVE TIA SEI WLD XLM HBAR ICP"
).split()


def candidate_pairs() -> list[str]:
    """Majors first, then every USDT perpetual of Freqtrade's Binance tier file."""
    pairs = [f"{base}/USDT:USDT" for base in MAJORS]
    try:
        import json

        import freqtrade

        tiers = Path(freqtrade.__file__).parent / "exchange" / "binance_leverage_tiers.json"
        pairs += sorted(p for p in json.loads(tiers.read_text()) if p.endswith("/USDT:USDT"))
    except ImportError:
        pass
    return list(dict.fromkeys(pairs))


def pairs_with_tiers(n: int) -> list[str]:
    """The first ``n`` candidate pairs whose own tiers this package knows."""
    found = []
    for pair in candidate_pairs():
        try:
            HeatmapConfig(symbol=pair)
        except ConfigError:
            continue
        found.append(pair)
        if len(found) == n:
            break
    return found


def write_datadir(root: Path, pairs: list[str], days: float, timeframe: str) -> int:
    """Synthetic candles and 8h funding of every pair in ``root``; returns candles per pair."""
    minutes = int(timeframe_minutes(timeframe))
    n = int(days * 1440 / minutes)
    for seed, pair in enumerate(pairs):
        candles = random_walk(n, freq=f"{minutes}min", seed=seed)
        scale = 10.0 ** (seed % 7 - 3)  # price levels from 0.04 to 40,000
        candles[["open", "high", "low", "close"]] *= scale
        candles["volume"] /= scale
        path = pair_file(root, pair, timeframe)
        path.parent.mkdir(parents=True, exist_ok=True)
        candles.to_feather(path)
        funding = candles[["date"]].iloc[:: 480 // minutes].reset_index(drop=True)
        funding["open"] = np.random.default_rng(seed).normal(1e-4, 5e-5, len(funding))
        funding.to_feather(pair_file(root, pair, "8h", "funding_rate"))
    return n


def run(argv: list[str]) -> tuple[float, float, str]:
    """Wall seconds, CPU seconds (user + system, every process) and stdout of
    ``liq-indicator features`` with ``argv`` in a fresh process."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-m", "liq_indicator.cli", "features", *argv],
        capture_output=True,
        text=True,
        check=False,
    )
    seconds = time.perf_counter() - t0
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    if done.returncode != 0:
        raise SystemExit(f"liq-indicator features {' '.join(argv)} failed:\n{done.stderr}")
    return seconds, cpu, done.stdout


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--pairs", type=int, default=50)
    parser.add_argument("--days", type=float, default=365.0)
    parser.add_argument("--timeframe", type=timeframe_type(1), default="5m")
    parser.add_argument("--jobs", type=int, default=os.cpu_count() or 2)
    args, _ = parser.parse_known_args()  # run_all.py passes every benchmark the same options

    pairs = pairs_with_tiers(args.pairs)
    if len(pairs) < args.pairs:
        print(f"only {len(pairs)} pairs have tiers; benchmarking those")
    with tempfile.TemporaryDirectory(prefix="bench-pairs-") as tmp:
        root = Path(tmp) / "binance"
        n = write_datadir(root, pairs, args.days, args.timeframe)
        common = ["--datadir", str(root), "--all", "--timeframe", args.timeframe]
        cache = ["--cache-dir", str(Path(tmp) / "cache")]
        runs = [
            ("one process, no cache", ["--jobs", "1", "--no-cache"]),
            (f"--jobs {args.jobs}, no cache", ["--jobs", str(args.jobs), "--no-cache"]),
            (
                f"--jobs {args.jobs}, cold cache (computes, writes the cache)",
                ["--jobs", str(args.jobs), *cache],
            ),
            (
                f"--jobs {args.jobs}, warm cache (every pair a hit)",
                ["--jobs", str(args.jobs), *cache],
            ),
            ("one process, warm cache", ["--jobs", "1", *cache]),
        ]
        print(
            f"{len(pairs)} pairs x {n:,} {args.timeframe} candles ({args.days:g} days) = "
            f"{len(pairs) * n:,} candles; {os.cpu_count()} cores\n"
        )
        print("| run | wall s | CPU s | candles / s | speed-up over one process | load before |")
        print("|---|---|---|---|---|---|")
        base = None
        for label, extra in runs:
            load = os.getloadavg()[0]
            seconds, cpu, out = run([*common, *extra])
            summary = out.strip().splitlines()[-1]
            if f"{len(pairs)} pairs" not in summary or " 0 failed" not in summary:
                raise SystemExit(f"unexpected summary: {summary}")
            if "warm" in label and f"{len(pairs)} from the cache" not in summary:
                label += f" (not all hits: {summary.split(': ', 1)[1]})"
            base = base or seconds
            print(
                f"| {label} | {seconds:.1f} | {cpu:.1f} | {len(pairs) * n / seconds:,.0f} | "
                f"{base / seconds:.2f}x | {load:.1f} |"
            )
    return 0


if __name__ == "__main__":
    sys.exit(main())
