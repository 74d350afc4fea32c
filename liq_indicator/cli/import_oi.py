"""``liq-indicator import-oi``: Binance metrics archives -> Freqtrade open_interest candles."""

from __future__ import annotations

import argparse

from liq_indicator.config import DEFAULT_PAIR
from liq_indicator.io.argtypes import timeframe


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the options of ``liq-indicator import-oi`` to ``parser``."""
    parser.add_argument(
        "files", nargs="+", help="BTCUSDT-metrics-YYYY-MM-DD.zip files (or their CSVs)"
    )
    parser.add_argument(
        "--datadir",
        required=True,
        help="Freqtrade datadir of the exchange, e.g. user_data/data/binance",
    )
    parser.add_argument("--pair", default=DEFAULT_PAIR, help=f"Freqtrade pair ({DEFAULT_PAIR})")
    parser.add_argument(
        "--timeframe",
        type=timeframe(multiple_of_minutes=5),
        default="5m",
        help="5m keeps every snapshot; 1h keeps those at hh:00",
    )


def run(args: argparse.Namespace) -> int:
    """Run ``liq-indicator import-oi`` with the parsed ``args``; returns the exit code."""
    from liq_indicator.io.oi_import import import_metrics

    summary = import_metrics(args.files, args.datadir, args.pair, args.timeframe)
    print(f"read {summary['rows']} snapshots, {summary['first']} -> {summary['last']}")
    for key in ("open_interest", "taker_ratio"):
        if key in summary:
            path, before, after = summary[key]
            print(f"{path}: {before} rows before, {after} after")
    return 0
