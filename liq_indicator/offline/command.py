"""``liq-indicator exchange`` (and ``python -m liq_indicator.offline``): serve a Freqtrade datadir as an offline Binance USDT-M exchange.

Prints ``offline exchange listening on http://127.0.0.1:<port>`` and ``admin token: <TOKEN>`` (the
``X-Admin-Token`` header value of ``/_admin/*`` requests) once it accepts connections and, with
``--overlay PATH``, writes the Freqtrade config overlay there first (atomically, so a script may
wait for the file to appear); with ``--replay``, a line saying which data time is "now" and
when the data runs out. Runs until SIGINT/SIGTERM, or ``--max-seconds``; requests in flight then
get at most a few seconds. ``--speed`` must be 1: Freqtrade's bot runs on the wall clock (see
docs/OFFLINE.md).
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from liq_indicator.io.argtypes import duration, real

HELP = "serve a Freqtrade datadir as an offline (127.0.0.1-only) Binance USDT-M futures exchange"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Add this command's options to ``parser``."""
    parser.add_argument(
        "--datadir",
        type=Path,
        required=True,
        help="Freqtrade datadir of Binance data, e.g. user_data/data/binance (reads its futures/)",
    )
    parser.add_argument(
        "--host", default="127.0.0.1", help="must be 127.0.0.1 (the default) or localhost"
    )
    parser.add_argument(
        "--port", type=int, default=0, help="TCP port; 0 (default) picks a free one"
    )
    parser.add_argument(
        "--admin-token",
        metavar="TOKEN",
        help="secret that /_admin/* requests send as header X-Admin-Token (default: a random one, "
        "printed at start-up)",
    )
    parser.add_argument(
        "--overlay",
        type=Path,
        metavar="PATH",
        help="write the Freqtrade config overlay (exchange.ccxt_config.urls) to PATH",
    )
    parser.add_argument(
        "--replay",
        action="store_true",
        help="dry-run mode: shift the data so it unfolds with the wall clock from now on",
    )
    parser.add_argument(
        "--speed",
        type=real(0, low_open=True),
        default=1.0,
        help="replay: seconds of data per wall-clock second; only 1 (the default) is accepted: "
        "a Freqtrade bot runs on the wall clock and would skip candles at any other speed (for "
        "fast runs over history use freqtrade backtesting against this exchange without --replay)",
    )
    parser.add_argument(
        "--replay-lead",
        type=duration(),
        default=86_400.0,
        metavar="DURATION",
        help="replay: data still to come at startup, i.e. how long the dry run lasts (at least "
        "this, at most 8 h more: the shift keeps funding times aligned): seconds or 90m, 24h, "
        "7d, 1w (default 1d); the data before it is the bot's history",
    )
    parser.add_argument(
        "--max-seconds",
        type=duration(),
        default=None,
        metavar="DURATION",
        help="shut down by itself after this long: seconds or 90m, 24h, 7d (default: run until "
        "Ctrl-C or SIGTERM)",
    )
    parser.add_argument(
        "--liquidations",
        type=Path,
        default=None,
        metavar="FILE",
        help="also serve Binance forceOrder, Bybit allLiquidation and OKX liquidation-orders "
        "websocket streams replaying these fills (CSV or feather: date or timestamp, side = "
        "the position liquidated, long/short, price, size_usd), for liq-indicator record --offline",
    )
    parser.add_argument(
        "--log-level",
        default="INFO",
        choices=["DEBUG", "INFO", "WARNING", "ERROR"],
        help="log level of the server (DEBUG logs every request)",
    )


def run(args: argparse.Namespace) -> int:
    """Serve until ``--max-seconds`` have passed or SIGINT/SIGTERM arrives; returns 0."""
    import asyncio
    import logging
    import signal

    from liq_indicator.errors import ConfigError
    from liq_indicator.offline.overlay import write_overlay
    from liq_indicator.offline.server import ExchangeServer, check_loopback_host, check_port, serve

    check_loopback_host(args.host)  # fail before loading any data
    check_port(args.port)
    if args.speed != 1:
        raise ConfigError(
            f"--speed {args.speed:g}: a Freqtrade bot runs on the wall clock and fetches candles "
            "only at its own candle boundaries, so a faster (or slower) replay makes it skip (or "
            "wait for) candles; replay at --speed 1 for freqtrade trade --dry-run (--replay-lead 7d "
            "lasts a week), or run freqtrade backtesting against this exchange without --replay "
            "to go through history fast"
        )
    if args.overlay is not None and (
        args.overlay.is_dir() or any(p.exists() and not p.is_dir() for p in args.overlay.parents)
    ):
        raise ConfigError(
            f"--overlay {str(args.overlay)!r} is a folder or lies under a file; "
            "pass a file path such as offline.json"
        )
    logging.basicConfig(
        level=args.log_level, format="%(asctime)s %(name)s %(levelname)s %(message)s"
    )
    fills = read_fills(args.liquidations) if args.liquidations is not None else None
    server = ExchangeServer(
        args.datadir,
        replay=args.replay,
        speed=args.speed,
        replay_lead=args.replay_lead,
        admin_token=args.admin_token,
        liquidations=fills,
    )

    def ready(url: str) -> None:
        if args.overlay is not None:
            write_overlay(args.overlay, url)
        print(f"offline exchange listening on {url}", flush=True)
        print(f"admin token: {server.admin_token}", flush=True)
        if server.replay:
            print(server.replay_summary(), flush=True)
        stops = f"after {args.max_seconds:g} s" if args.max_seconds else "on Ctrl-C or SIGTERM"
        print(f"stops {stops}", flush=True)

    async def main() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        await serve(
            server,
            host=args.host,
            port=args.port,
            max_seconds=args.max_seconds,
            stop=stop,
            on_ready=ready,
        )

    asyncio.run(main())
    return 0


def read_fills(path: Path) -> Any:
    """Liquidation fills to replay: ``date`` (or ``timestamp``), ``side`` (the position
    liquidated: ``long``/``short``), ``price``, ``size_usd``; CSV or feather.

    Raises:
        InputError: unreadable file, missing columns or other side labels (the message says what
            to pass; ``liq_indicator.research.truth.load_fills`` reads other layouts).
    """
    import pandas as pd

    from liq_indicator.errors import InputError
    from liq_indicator.io.paths import input_file, reading

    p = input_file(path, "liquidations file")
    with reading(p, "liquidations file"):
        frame = pd.read_feather(p) if p.suffix == ".feather" else pd.read_csv(p)
    if "date" not in frame.columns and "timestamp" in frame.columns:
        frame = frame.rename(columns={"timestamp": "date"})
    missing = [c for c in ("date", "side", "price", "size_usd") if c not in frame.columns]
    if missing:
        raise InputError(
            f"liquidations file {p} lacks {', '.join(missing)}; pass date, side (long/short: the "
            "position liquidated), price, size_usd (liq_indicator.research.truth.load_fills reads "
            "the Hyperliquid and whale-alert layouts into that form)"
        )
    sides = set(frame["side"].astype(str).str.lower())
    if not sides <= {"long", "short"}:
        raise InputError(
            f"liquidations file {p}: side holds {sorted(sides - {'long', 'short'})}; use long/short "
            "(the position liquidated)"
        )
    return pd.DataFrame(
        {
            "date": pd.to_datetime(frame["date"], utc=True, format="ISO8601"),
            "side": frame["side"].astype(str).str.lower(),
            "price": frame["price"].astype(float),
            "size_usd": frame["size_usd"].astype(float),
        }
    ).sort_values("date", kind="stable")
