"""``liq-indicator features``: compute the liq_ columns for a pair in a Freqtrade datadir."""

from __future__ import annotations

import argparse

from liq_indicator.config import DEFAULT_PAIR
from liq_indicator.io.argtypes import timeframe


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the options of ``liq-indicator features`` to ``parser``."""
    parser.add_argument(
        "--doc",
        action="store_true",
        help="print the Markdown documentation of every column and exit",
    )
    parser.add_argument(
        "--datadir", help="Freqtrade datadir of one exchange, e.g. user_data/data/binance"
    )
    parser.add_argument(
        "--exchanges",
        nargs="+",
        metavar="EXCHANGE",
        help="aggregate these exchanges into one map (the first is the reference); "
        "their datadirs are siblings of --datadir, e.g. user_data/data/bybit",
    )
    parser.add_argument("--pair", default=DEFAULT_PAIR, help=f"Freqtrade pair ({DEFAULT_PAIR})")
    parser.add_argument("--timeframe", type=timeframe(), default="5m", help="candle timeframe (5m)")
    parser.add_argument("--output", help="write the features here (.feather, .csv or .parquet)")


def run(args: argparse.Namespace) -> int:
    """Run ``liq-indicator features`` with the parsed ``args``; returns the exit code."""
    from liq_indicator.columns import markdown_table

    if args.doc:
        print("# Feature columns\n")
        print(
            "Every column `liquidation_features` adds (default `HeatmapConfig`; names with a band or "
            "look-back change with the config). Each value at a candle is known at that candle's close.\n"
        )
        print(markdown_table())
        return 0
    from liq_indicator.errors import InputError
    from liq_indicator.estimator import liquidation_features
    from liq_indicator.io.datadir import load_pair

    if not args.datadir:
        raise InputError(
            "--datadir is required (a Freqtrade datadir such as user_data/data/binance)"
        )
    from pathlib import Path

    from liq_indicator.config import HeatmapConfig
    from liq_indicator.estimator import Venue
    from liq_indicator.io.datadir import WRITERS
    from liq_indicator.io.paths import output_file

    if args.output:  # checked before the computation: fail early
        output_file(args.output, "--output", suffixes=tuple(WRITERS))

    datadir = Path(args.datadir)
    exchanges = [e.lower() for e in (args.exchanges or [])]
    if exchanges and datadir.name.lower() in exchanges:
        datadir = datadir.parent  # --datadir user_data/data/binance --exchanges binance bybit
    dirs = [datadir / e for e in exchanges] if exchanges else [datadir]
    data = [load_pair(d, args.pair, args.timeframe) for d in dirs]
    ref = data[0]
    venues = [
        Venue(e, d.candles, d.open_interest, d.mark, d.funding)
        for e, d in zip(exchanges[1:], data[1:], strict=True)
    ]
    cfg = HeatmapConfig(exchange=exchanges[0]) if exchanges else HeatmapConfig()
    out = liquidation_features(
        ref.candles,
        cfg,
        open_interest=ref.open_interest,
        mark=ref.mark,
        funding=ref.funding,
        venues=venues,
    )
    if args.output:
        from liq_indicator.io.datadir import write_frame

        write_frame(out, args.output)
        print(f"wrote {len(out)} rows x {out.shape[1]} columns to {args.output}")
    else:
        print(out.filter(like="liq_").tail(5).T.to_string())
    return 0
