"""``liq-indicator map``: the liquidation map at one moment, per bin and leverage tier, as HTML and PNG.

Same data options as ``liq-indicator heatmap`` (:mod:`liq_indicator.cli.options`); the map stands
at the close of the last candle at or before ``--at`` and is built from every candle before it
(from the timerange start less the warm-up, when a timerange is given). Writes
``<userdir>/plot/liq-map-<pair>-<tf>-<yyyymmddThhmm>.html/.png``.

The picture marks the edges of the nearest long and short clusters (the features' ``near``/``far``)
and, with ``--trade long|short``, the stop and target the strategy's rules give a trade entered at
the price. A map built from less history than its slowest half-life is marked NOT WARMED UP.
"""

from __future__ import annotations

import argparse
from typing import Any

from liq_indicator.cli.options import add_data_arguments, add_preset_argument, preset_config
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
    parser.add_argument(
        "--map",
        choices=("default", "strategy"),
        default="default",
        help="which map: 'default' (HeatmapConfig(), the calibrated smooth map) or 'strategy' "
        "(the one LiqClusterStrategy trades on)",
    )
    add_preset_argument(parser)
    parser.add_argument(
        "--trade",
        choices=("none", "long", "short"),
        default="none",
        help="mark the stop and target the strategy's rules give a long or short entered at the "
        "price (default none)",
    )
    add_data_arguments(parser)


def run(args: argparse.Namespace) -> int:
    """Run ``liq-indicator map`` with the parsed ``args``; returns the exit code."""
    import sys
    from functools import partial

    import pandas as pd

    from liq_indicator.cli.heatmap import map_name, warm_up
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
    from liq_indicator.strategy.signals import STRATEGY_HEATMAP, strategy_features, trade_plan

    opts = resolve_data_options(args)
    strategy_map = args.map == "strategy"
    config = preset_config(args, strategy_map)  # refuses --preset with the strategy's map
    if strategy_map:
        config = STRATEGY_HEATMAP
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
        side = {k: v for k, v in window.side.items() if k != "mark" or not strategy_map}
        liq_map = liquidation_map(candles, config, at=at, price_range_pct=args.range_pct, **side)
        when = pd.Timestamp(liq_map.time)
        # the nearest clusters (and a trade's levels) at the map's candle, from the same map
        feats = strategy_features(
            candles[candles["date"] <= pd.Timestamp(liq_map.time)].reset_index(drop=True),
            config,
            open_interest=side.get("open_interest"),
            funding=side.get("funding"),
            venues=side.get("venues", ()),
        )
        row = feats.iloc[-1]
        clusters = {
            f"{s} cluster": (
                float(row[f"liq_{s}_cluster_near"]),
                float(row[f"liq_{s}_cluster_far"]),
            )
            for s in ("long", "short")
        }
        levels: dict[str, float] = {}
        if args.trade != "none":
            stop, target = trade_plan(row, args.trade == "short", entry=liq_map.price)
            levels = {f"stop ({args.trade})": stop, f"target ({args.trade})": target}
        history = when - pd.Timestamp(candles["date"].iloc[0])
        watermark = None
        if history < warm_up(config):
            watermark = "NOT WARMED UP"
            print(
                f"warning: the {pair} map at {when:%Y-%m-%d %H:%M} is built from {history} of "
                f"candles, less than its slowest half-life ({warm_up(config)}): its clusters are "
                "understated (the picture is marked). Give more --warmup-days or a later --at.",
                file=sys.stderr,
            )
        whose = map_name(config, strategy_map, preset=args.preset)
        title = (
            f"{pair} {opts.timeframe} liquidation map, {whose}, at "
            f"{when:%Y-%m-%d %H:%M} UTC · price {liq_map.price:,.2f}"
            + (" · NOT WARMED UP" if watermark else "")
        )
        marks: dict[str, Any] = {
            "title": title,
            "clusters": clusters,
            "levels": levels,
            "watermark": watermark,
        }
        write_outputs(
            opts,
            f"liq-map-{pair_stem(pair)}-{opts.timeframe}-{when:%Y%m%dT%H%M}",
            partial(map_figure, liq_map, **marks),
            partial(save_png_map, liq_map, **marks),
        )
    return 0
