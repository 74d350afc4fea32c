"""``liq-indicator tiers``: fetch a venue's maintenance-margin tiers and cache them in the datadir."""

from __future__ import annotations

import argparse

from liq_indicator.brackets import VENUES


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the options of ``liq-indicator tiers`` to ``parser``."""
    parser.add_argument("--exchange", required=True, choices=VENUES, help="venue to ask")
    parser.add_argument(
        "--pairs",
        nargs="+",
        required=True,
        help="Freqtrade/ccxt pairs, e.g. ETH/USDT:USDT (Hyperliquid: ETH/USDC:USDC)",
    )
    parser.add_argument(
        "--datadir",
        default=None,
        help="the exchange's Freqtrade datadir (default user_data/data/<exchange>); the tiers go "
        "to <datadir>/futures/leverage_tiers_<stake>.json, Freqtrade's own cache",
    )


def run(args: argparse.Namespace) -> int:
    """Run ``liq-indicator tiers`` with the parsed ``args``; returns the exit code."""
    from liq_indicator.brackets import table_from_ccxt
    from liq_indicator.io.paths import output_file
    from liq_indicator.io.tiers import cache_path, fetch_tiers, settle_currency, write_cache

    datadir = args.datadir or f"user_data/data/{args.exchange}"
    stake = settle_currency(args.exchange)
    output_file(cache_path(datadir, stake), "tier cache", parents=True)  # before any network
    tiers = fetch_tiers(args.exchange, args.pairs)
    for pair, rows in tiers.items():
        table = table_from_ccxt(args.exchange, pair, rows, "fetched")
        first = table.brackets[0]
        print(
            f"{pair}: {len(table.brackets)} tiers; first up to {first.cap:,.0f} USDT at "
            f"{first.mmr:.2%} maintenance, {first.max_leverage:g}x"
        )
    path = write_cache(datadir, tiers, stake)
    print(f"wrote {path}; load it with liq_indicator.io.tiers.load_tiers({str(datadir)!r})")
    return 0
