"""``liq-indicator exchange`` (and ``python -m liq_indicator.offline``): serve a Freqtrade datadir as an offline Binance USDT-M exchange.

Prints ``offline exchange listening on http://127.0.0.1:<port>`` and ``admin token: <TOKEN>`` (the
``X-Admin-Token`` header value of ``/_admin/*`` requests) once it accepts connections and, with
``--overlay PATH``, writes the Freqtrade config overlay there first (atomically, so a script may
wait for the file to appear). Runs until ``--max-seconds`` or SIGINT/SIGTERM; requests in flight
then get at most a few seconds.
"""

from __future__ import annotations

import argparse
from pathlib import Path

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
        type=float,
        default=1.0,
        help="replay: seconds of data published per wall-clock second (default 1)",
    )
    parser.add_argument(
        "--replay-lead",
        type=float,
        default=3600.0,
        metavar="SECONDS",
        help="replay: seconds of data still to come at startup (default 3600)",
    )
    parser.add_argument(
        "--max-seconds",
        type=float,
        default=3600.0,
        help="shut down by itself after this many seconds (default 3600)",
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
    server = ExchangeServer(
        args.datadir,
        replay=args.replay,
        speed=args.speed,
        replay_lead=args.replay_lead,
        admin_token=args.admin_token,
    )

    def ready(url: str) -> None:
        if args.overlay is not None:
            write_overlay(args.overlay, url)
        print(f"offline exchange listening on {url}", flush=True)
        print(f"admin token: {server.admin_token}", flush=True)

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
