"""``liq-indicator simulate``: write a simulated BTC-perpetual market as a Freqtrade datadir."""

from __future__ import annotations

import argparse
import sys
import time
from typing import TextIO

from liq_indicator.cli.options import scenario_names
from liq_indicator.io.argtypes import integer, real, timeframe, utc_date


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the options of ``liq-indicator simulate`` to ``parser``."""
    parser.add_argument(
        "--days", type=real(0, low_open=True), default=30.0, help="length in days (default 30)"
    )
    parser.add_argument(
        "--timeframe",
        type=timeframe(multiple_of_minutes=1),
        default="5m",
        help="candle timeframe, 1m or longer (5m)",
    )
    parser.add_argument("--seed", type=integer(0, 2**63 - 1), default=0, help="random seed (0)")
    parser.add_argument(
        "--scenario",
        choices=scenario_names(),
        default="calm",
        metavar="SCENARIO",
        help="market regime, a name of liq_indicator.sim.market.SCENARIOS (default: calm)",
    )
    parser.add_argument(
        "--start",
        type=utc_date,
        default="2024-01-01",
        help="first candle open, UTC, on a candle boundary (2024-01-01)",
    )
    parser.add_argument(
        "--datadir",
        required=True,
        help="Freqtrade datadir to write, e.g. user_data/data/simulated-binance",
    )
    parser.add_argument("--quiet", action="store_true", help="no progress bar")


class _Progress:
    """A plain text progress bar on stderr (no dependency)."""

    def __init__(self, stream: TextIO, width: int = 30) -> None:
        self.stream = stream
        self.width = width
        self.t0 = time.monotonic()

    def __call__(self, done: int, total: int) -> None:
        frac = done / total if total else 1.0
        filled = int(round(frac * self.width))
        bar = "#" * filled + "." * (self.width - filled)
        elapsed = time.monotonic() - self.t0
        self.stream.write(
            f"\rsimulating [{bar}] {frac:4.0%}  {done / 1440:,.1f}/{total / 1440:,.1f} days  "
            f"{elapsed:,.1f}s"
        )
        if done >= total:
            self.stream.write("\n")
        self.stream.flush()


def run(args: argparse.Namespace) -> int:
    """Run ``liq-indicator simulate`` with the parsed ``args``; returns the exit code."""
    from liq_indicator.io.paths import output_dir
    from liq_indicator.sim.market import simulate
    from liq_indicator.style import format_usd

    output_dir(args.datadir, "--datadir")  # checked before the (long) simulation
    progress = None if args.quiet else _Progress(sys.stderr)
    res = simulate(
        args.days,
        timeframe=args.timeframe,
        seed=args.seed,
        scenario=args.scenario,
        start=args.start,
        progress=progress,
    )
    paths = res.write(args.datadir)
    liq = res.liquidations
    usd = format_usd(liq["liquidated_usd"].sum(), prefix="")
    print(
        f"simulated {res.meta['candles']} {res.timeframe} candles ({args.scenario}, seed "
        f"{args.seed}); {len(liq)} liquidations, {usd} USD"
    )
    for kind, path in paths.items():
        print(f"  {kind:<14} {path}")
    return 0
