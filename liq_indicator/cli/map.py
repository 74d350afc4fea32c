"""``liq-indicator map``: the liquidation map at one moment, per bin and leverage tier, as HTML and PNG.

Same data options as ``liq-indicator heatmap`` (:mod:`liq_indicator.cli.options`); the map stands
at the close of the last candle at or before ``--at`` and is built from every candle before it
(from the timerange start less the warm-up, when a timerange is given). Writes ``<userdir>/plot/liq-map-<pair>-<tf>-<yyyymmddThhmm>.html/.png``.
"""

from __future__ import annotations

import argparse

from liq_indicator.cli.options import add_data_arguments
from liq_indicator.io.argtypes import real


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the options of ``liq-indicator map`` to ``parser``."""
    parser.add_argument(
        "--at",
        metavar="TIME",
        help="the moment, UTC: 2024-06-01T12:00, 20240601T1200, epoch seconds "
        "(default: the last candle of the timerange)",
    )
    parser.add_argument(
        "--range-pct",
        type=real(0, 100, low_open=True),
        default=15.0,
        metavar="PCT",
        help="price range drawn around the price, in %% (default 15)",
    )
    add_data_arguments(parser)


def run(args: argparse.Namespace) -> int:
    """Run ``liq-indicator map`` with the parsed ``args``; returns the exit code."""
    from functools import partial

    import pandas as pd

    from liq_indicator.cli.options import (
        load_window,
        parse_moment,
        resolve_data_options,
        write_outputs,
    )
    from liq_indicator.core.inputs import infer_timeframe
    from liq_indicator.errors import InputError
    from liq_indicator.estimator import liquidation_map
    from liq_indicator.io.datadir import pair_stem
    from liq_indicator.plot.figures import map_figure, save_png_map

    opts = resolve_data_options(args)
    at = parse_moment(args.at) if args.at else None
    for pair in opts.pairs:
        window = load_window(opts, pair, until=at)
        candles = window.history
        last = pd.Timestamp(candles["date"].iloc[-1])
        tf = infer_timeframe(candles["date"]) or pd.Timedelta(0)
        if at is not None and pd.Timestamp(at) > last + tf:
            raise InputError(
                f"--at {args.at} is after the last {opts.timeframe} candle of {pair} "
                f"in the period ({last:%Y-%m-%d %H:%M} UTC)"
            )
        liq_map = liquidation_map(candles, at=at, price_range_pct=args.range_pct, **window.side)
        when = pd.Timestamp(liq_map.time)
        title = (
            f"{pair} {opts.timeframe} liquidation map at {when:%Y-%m-%d %H:%M} UTC · "
            f"price {liq_map.price:,.2f}"
        )
        write_outputs(
            opts,
            f"liq-map-{pair_stem(pair)}-{opts.timeframe}-{when:%Y%m%dT%H%M}",
            partial(map_figure, liq_map, title=title),
            partial(save_png_map, liq_map, title=title),
        )
    return 0
