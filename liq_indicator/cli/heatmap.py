"""``liq-indicator heatmap``: the liquidation heatmap of pairs in a Freqtrade datadir, as HTML and PNG.

Reads data the way Freqtrade commands do (``--config``, ``--datadir``, ``--exchange``, ``--pairs``,
``--timeframe``, ``--timerange``; see :mod:`liq_indicator.cli.options`) and writes
``<userdir>/plot/liq-heatmap-<pair>-<tf>-<period>.html`` and ``.png``; with ``--backtest-filename``
a backtest's trades and stops are drawn on top.
"""

from __future__ import annotations

import argparse

from liq_indicator.cli.options import add_data_arguments
from liq_indicator.io.argtypes import integer, real


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the options of ``liq-indicator heatmap`` to ``parser``."""
    add_data_arguments(parser)
    b = parser.add_argument_group("backtest overlay")
    b.add_argument(
        "--backtest-filename",
        "--export-filename",
        dest="backtest_filename",
        metavar="PATH",
        help="a result of `freqtrade backtesting --export trades` (.zip or .json, or "
        "the backtest_results folder for its latest): draw entries, exits, stops",
    )
    b.add_argument("-s", "--strategy", help="strategy to take from a multi-strategy result")
    d = parser.add_argument_group("drawing")
    d.add_argument(
        "--max-times",
        type=integer(1),
        default=1500,
        help="heatmap columns at most (default 1500; each keeps its bins' maximum)",
    )
    d.add_argument(
        "--max-price-bins",
        type=integer(1),
        default=300,
        help="heatmap price bins at most (default 300)",
    )
    d.add_argument(
        "--max-candles",
        type=integer(1),
        default=1500,
        help="candles drawn in the HTML at most; longer periods merge candles keeping "
        "highs and lows (default 1500; the PNG draws at most 320)",
    )
    d.add_argument(
        "--decades",
        type=real(0, low_open=True),
        default=None,
        help="span of the log colour scale below its top, in decades (default: from "
        "the data, 1 to 4)",
    )


def run(args: argparse.Namespace) -> int:
    """Run ``liq-indicator heatmap`` with the parsed ``args``; returns the exit code."""
    import math
    import re
    import sys
    from functools import partial

    import pandas as pd

    from liq_indicator.cli.options import load_window, resolve_data_options, write_outputs
    from liq_indicator.estimator import liquidation_features, liquidation_heatmap
    from liq_indicator.io.backtest import load_trades
    from liq_indicator.io.datadir import pair_stem
    from liq_indicator.plot.figures import heatmap_figure, save_png_heatmap

    opts = resolve_data_options(args)
    all_trades = None
    if args.backtest_filename:  # read it before the (slower) computation: fail early
        all_trades = load_trades(args.backtest_filename, strategy=args.strategy)
    for pair in opts.pairs:
        window = load_window(opts, pair)
        feats = liquidation_features(window.history, **window.side)
        shown = feats[feats["date"] >= window.shown_from].reset_index(drop=True)
        lo, hi = float(shown["low"].min()), float(shown["high"].max())
        heat = liquidation_heatmap(
            window.history,
            max_price_bins=args.max_price_bins,
            price_range=(lo / 1.1, hi * 1.1),
            max_times=math.ceil(args.max_times * len(window.history) / len(shown)),
            **window.side,
        )
        trades = None
        if all_trades is not None:
            trades = all_trades[all_trades["pair"] == pair].reset_index(drop=True)
            if len(trades) == 0:
                print(f"note: {args.backtest_filename} holds no trades of {pair}", file=sys.stderr)
        first, last = pd.Timestamp(shown["date"].iloc[0]), pd.Timestamp(shown["date"].iloc[-1])
        period = (
            re.sub(r"[^0-9A-Za-z-]", "_", opts.timerange)
            if opts.timerange
            else f"{first:%Y%m%d}-{last:%Y%m%d}"
        )
        title = (
            f"{pair} {opts.timeframe} liquidation heatmap · {first:%Y-%m-%d %H:%M} → "
            f"{last:%Y-%m-%d %H:%M} UTC"
            + (f" · {len(trades)} trades" if trades is not None else "")
        )
        write_outputs(
            opts,
            f"liq-heatmap-{pair_stem(pair)}-{opts.timeframe}-{period}",
            partial(
                heatmap_figure,
                shown,
                heat,
                trades,
                title=title,
                max_candles=args.max_candles,
                decades=args.decades,
            ),
            partial(
                save_png_heatmap, shown, heat, trades=trades, title=title, decades=args.decades
            ),
        )
    return 0
