"""``liq-indicator record``: record real liquidations from the exchanges' websocket feeds.

Runs :class:`liq_indicator.record.recorder.Recorder` until Ctrl-C / SIGTERM (or ``--max-seconds``):
per venue, raw events as parquet by day under ``<datadir>/<venue>/liquidations/`` and per-minute
files ``futures/<PAIR>-1m-liquidations.feather`` beside the candles; what it missed (connection
lost, recorder not running, disk floor) in ``liquidations/gaps.csv``; a health line per minute.
"""

from __future__ import annotations

import argparse
from pathlib import Path

VENUES = ("binance", "bybit", "okx")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the options of ``liq-indicator record`` to ``parser``."""
    from liq_indicator.io.argtypes import duration, real

    parser.add_argument(
        "--exchanges",
        nargs="+",
        choices=VENUES,
        default=["binance"],
        help="venues to record (default binance)",
    )
    parser.add_argument(
        "--pairs",
        nargs="*",
        default=[],
        help="ccxt pairs (BTC/USDT:USDT ...); none: Binance's and OKX's whole market (Bybit needs "
        "pairs)",
    )
    parser.add_argument(
        "--datadir",
        type=Path,
        default=Path("user_data/data"),
        help="Freqtrade data folder holding one folder per exchange (default user_data/data)",
    )
    parser.add_argument(
        "--max-seconds",
        type=duration(),
        default=None,
        help="stop after this long (90m, 24h, 7d; default: until Ctrl-C or SIGTERM)",
    )
    parser.add_argument(
        "--flush-seconds",
        type=real(0, low_open=True),
        default=10.0,
        help="seconds between writes, the most a crash can lose (default 10)",
    )
    parser.add_argument(
        "--min-free-mb",
        type=real(0),
        default=500.0,
        help="stop with a clear message when the disk has less free space (default 500 MB)",
    )
    parser.add_argument(
        "--offline",
        default=None,
        metavar="URL",
        help="record from a loopback exchange (liq-indicator exchange) at URL instead of the "
        "venues (tests, demos)",
    )


def run(args: argparse.Namespace) -> int:
    """Run ``liq-indicator record`` with the parsed ``args``; returns the exit code."""
    import asyncio
    import logging

    from liq_indicator.io.paths import output_dir
    from liq_indicator.record.recorder import Recorder, RecorderSettings, make_exchange

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    datadirs = {v: output_dir(Path(args.datadir) / v, f"{v} datadir") for v in args.exchanges}
    ws = {}
    markets = {}
    if args.offline:
        from liq_indicator.offline.overlay import ccxt_ws_urls, ws_markets
        from liq_indicator.offline.server import OKX_CONTRACT_SIZE

        symbols = [p.split(":")[0].replace("/", "") for p in args.pairs] or ["BTCUSDT"]
        for v in args.exchanges:
            ws[v] = ccxt_ws_urls(args.offline.rstrip("/"), v)
            markets[v] = ws_markets(v, symbols, OKX_CONTRACT_SIZE)
    exchanges = {
        v: make_exchange(v, ws_urls=ws.get(v), markets=markets.get(v)) for v in args.exchanges
    }
    settings = RecorderSettings(flush_seconds=args.flush_seconds, min_free_mb=args.min_free_mb)
    recorder = Recorder(datadirs, exchanges, pairs=args.pairs, settings=settings)
    try:
        written = asyncio.run(recorder.run(max_seconds=args.max_seconds))
    except KeyboardInterrupt:
        written = recorder.written
    for venue in args.exchanges:
        print(f"{venue}: {written[venue]} liquidation(s) written to {datadirs[venue]}")
    return 0
