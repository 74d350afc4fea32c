"""The ``liq-indicator`` command line: one thin dispatcher over the command modules.

Each command module exposes ``add_arguments(parser)`` and ``run(args) -> int`` and keeps its heavy
imports (numba, plotly, freqtrade, aiohttp) inside ``run``.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from types import ModuleType

from liq_indicator.errors import LiqIndicatorError

# (command module, subcommand name, one-line help); a bare name is a module of liq_indicator.cli
COMMANDS: list[tuple[str, str, str]] = [
    ("features", "features", "compute the liq_ feature columns for a Freqtrade datadir pair"),
    (
        "simulate",
        "simulate",
        "write a simulated BTC perpetual market with true liquidations as a Freqtrade datadir",
    ),
    (
        "validate",
        "validate",
        "measure the map against real and simulated liquidations; write docs/VALIDATION.md",
    ),
    (
        "liq_indicator.offline.command",
        "exchange",
        "serve a Freqtrade datadir as an offline Binance futures exchange",
    ),
    (
        "heatmap",
        "heatmap",
        "draw the liquidation heatmap with candles, cascades and backtest trades",
    ),
    (
        "map",
        "map",
        "draw the liquidation map at one moment, by leverage tier, with cumulative curves",
    ),
    (
        "import_oi",
        "import-oi",
        "import Binance metrics archives as Freqtrade open_interest candles",
    ),
    ("calibrate", "calibrate", "fit the map to real liquidations; write a versioned preset"),
    ("tiers", "tiers", "fetch a venue's maintenance-margin tiers and cache them in the datadir"),
    (
        "record",
        "record",
        "record real liquidations from Binance, Bybit and OKX websockets into the datadir",
    ),
]


def _module(name: str) -> ModuleType:
    return importlib.import_module(name if "." in name else f"liq_indicator.cli.{name}")


def build_parser() -> argparse.ArgumentParser:
    """The ``liq-indicator`` parser: one subcommand per ``COMMANDS`` entry, with its module's options."""
    parser = argparse.ArgumentParser(
        prog="liq-indicator",
        description="Causal liquidation heatmap for crypto perpetual futures.",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for module_name, name, help_text in COMMANDS:
        p = sub.add_parser(name, help=help_text, description=help_text)
        p.set_defaults(_module=module_name)
        _module(module_name).add_arguments(p)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run ``liq-indicator``; returns the exit code: 2 for bad input, with one line on stderr
    naming the path or value (a bad option value is reported by argparse itself).
    """
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # argparse has printed the usage and the error (or --help)
        return exc.code if isinstance(exc.code, int) else 2
    try:
        return int(_module(args._module).run(args) or 0)
    except LiqIndicatorError as exc:  # bad input or settings: one line naming it, exit code 2
        message = " ".join(str(exc).split("\n"))
        print(f"liq-indicator {args.command}: error: {message}", file=sys.stderr)
        return 2


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
