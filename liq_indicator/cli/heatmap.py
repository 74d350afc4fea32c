"""``liq-indicator heatmap``: the liquidation heatmap of pairs in a Freqtrade datadir, as HTML and PNG.

Reads data the way Freqtrade commands do (``--config``, ``--datadir``, ``--exchange``, ``--pairs``,
``--timeframe``, ``--timerange``; see :mod:`liq_indicator.cli.options`) and writes
``<userdir>/plot/liq-heatmap-<pair>-<tf>-<period>.html`` and ``.png``; with ``--backtest-filename``
a backtest's trades are drawn on top, each with its stop, its target and the cluster edges they
were set from, on the map the strategy trades on (``STRATEGY_HEATMAP``). ``--strategy NAME``
draws the map strategy NAME trades on (its ``heatmap_config``), with or without a backtest.

Liquidations recorded by ``liq-indicator record`` are drawn as bubbles over the estimated map: by
default the datadir's ``futures/<PAIR>-1m-liquidations.feather`` when there is one (a note says
so), ``--liquidations PATH`` for another file or datadir, ``--no-liquidations`` for none.

The map starts empty and fills over its slowest tier's half-life: the part of the picture drawn
before that much history is shaded and a warning names it.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from liq_indicator.cli.options import add_data_arguments, add_preset_argument, preset_config
from liq_indicator.io.argtypes import integer, real

MAPS = ("auto", "strategy", "default")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the options of ``liq-indicator heatmap`` to ``parser``."""
    add_data_arguments(parser)
    b = parser.add_argument_group("backtest overlay")
    b.add_argument(
        "--backtest-filename",
        "--export-filename",
        dest="backtest_filename",
        metavar="PATH",
        help="a result of `freqtrade backtesting --export trades` (.zip or .json, or the "
        "backtest_results folder: its newest result covering the drawn period): draw entries, "
        "exits, stops, targets and the cluster edges behind them",
    )
    b.add_argument(
        "-s",
        "--strategy",
        metavar="NAME",
        help="draw the map strategy NAME trades on (LiqClusterStrategy: STRATEGY_HEATMAP; "
        "another: its heatmap_config or liq_config attribute), and take NAME's trades from a "
        "multi-strategy result",
    )
    b.add_argument(
        "--strategy-path",
        metavar="PATH",
        help="folder holding the --strategy file (default: <userdir>/strategies)",
    )
    r = parser.add_argument_group("recorded liquidations")
    x = r.add_mutually_exclusive_group()
    x.add_argument(
        "--liquidations",
        metavar="PATH",
        help="recorded liquidations to draw as bubbles (area ~ USD): a "
        "<PAIR>-1m-liquidations.feather file (one pair) or the datadir holding "
        "futures/<PAIR>-1m-liquidations.feather (default: the datadir's file of each pair, "
        "when `liq-indicator record` wrote one)",
    )
    x.add_argument(
        "--no-liquidations",
        action="store_true",
        help="draw no recorded liquidations, even when the datadir holds some",
    )
    d = parser.add_argument_group("drawing")
    d.add_argument(
        "--map",
        choices=MAPS,
        default="auto",
        help="which map: 'strategy' (the one LiqClusterStrategy trades on: short half-lives, "
        "sharp clusters), 'default' (HeatmapConfig(), the calibrated smooth map); 'auto' "
        "(default): with --strategy NAME the map NAME trades on, else LiqClusterStrategy's with "
        "--backtest-filename, else the default",
    )
    add_preset_argument(d)
    d.add_argument(
        "--scale",
        choices=("clusters", "full"),
        default="clusters",
        help="colour scale: 'clusters' (default) leaves the thinner 80%% of cells clear so "
        "clusters stay apart over weeks; 'full' colours nearly every non-empty cell",
    )
    d.add_argument(
        "--price-axis",
        choices=("auto", "log", "linear"),
        default="auto",
        help="price axis (default auto: logarithmic when the high is twice the low or more)",
    )
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
        "the data and --scale)",
    )


def warm_up(config: Any) -> Any:
    """How much history the map needs before it is drawn as warm: its slowest tier's half-life
    (by then every tier holds at least half of its steady-state notional), a ``pd.Timedelta``.
    """
    import pandas as pd

    return pd.Timedelta(hours=max(config.half_life_hours))


def cold_until(history_start: Any, shown_start: Any, config: Any) -> Any:
    """The time until which a map built from ``history_start`` is still warming up, or None when
    it is warm at ``shown_start``.
    """
    import pandas as pd

    warm = pd.Timestamp(history_start) + warm_up(config)
    return warm if warm > pd.Timestamp(shown_start) else None


def map_name(
    config: Any, strategy: bool, name: str | None = None, preset: str | None = None
) -> str:
    """How a title names the map: whose it is (``name``: that strategy's; ``preset``: the
    ``--preset`` drawn) and its half-lives.
    """
    hl = config.half_life_hours
    span = f"half-lives {min(hl):g}-{max(hl):g} h"
    if strategy:
        return f"{name} map ({span})" if name else f"strategy map ({span})"
    if preset is not None:
        return f"{Path(preset).stem} map ({span})"
    return f"default map ({span})"


def strategy_heatmap(name: str, strategy_path: Any) -> Any:
    """The map strategy ``name`` trades on, a :class:`~liq_indicator.config.HeatmapConfig`.

    LiqClusterStrategy's is ``liq_indicator.strategy.signals.STRATEGY_HEATMAP`` (no import of the
    strategy file needed); any other strategy class is imported from the ``*.py`` file in
    ``strategy_path`` that defines it and must carry a ``heatmap_config`` (or ``liq_config``)
    class attribute holding a HeatmapConfig.

    Raises:
        InputError: no file in ``strategy_path`` defines the class, the file fails to import, or
            the class carries no HeatmapConfig; each message names the fix.
    """
    import importlib.util
    import re
    from pathlib import Path

    from liq_indicator.config import HeatmapConfig
    from liq_indicator.errors import InputError
    from liq_indicator.strategy.signals import STRATEGY_HEATMAP

    if name == "LiqClusterStrategy":
        return STRATEGY_HEATMAP
    folder = Path(strategy_path)
    pattern = re.compile(rf"^class\s+{re.escape(name)}\b", re.M)
    files = sorted(folder.glob("*.py")) if folder.is_dir() else []
    source = next((p for p in files if pattern.search(p.read_text(errors="replace"))), None)
    if source is None:
        raise InputError(
            f"no strategy {name!r} in {folder}/*.py: pass --strategy-path with the folder holding "
            "its file, or draw --map default"
        )
    spec = importlib.util.spec_from_file_location(f"_liq_heatmap_{name}", source)
    module = importlib.util.module_from_spec(spec)  # type: ignore[arg-type]
    try:
        spec.loader.exec_module(module)  # type: ignore[union-attr]
    except Exception as exc:  # the user's code: any failure is reported as bad input
        raise InputError(
            f"could not import strategy {name!r} from {source}: {exc!r}; fix the file (or install "
            "what it imports, e.g. freqtrade), or draw --map default"
        ) from exc
    cls = getattr(module, name, None)
    for attr in ("heatmap_config", "liq_config"):
        value = getattr(cls, attr, None)
        if isinstance(value, HeatmapConfig):
            return value
    raise InputError(
        f"strategy {name!r} ({source}) has no map: give the class a heatmap_config attribute "
        "(e.g. heatmap_config = HeatmapConfig.preset('design')), or draw --map strategy "
        "(LiqClusterStrategy's map) or --map default"
    )


def recorded_liquidations(
    pair: str,
    datadir: Any,
    timeframe: str,
    first: Any,
    end: Any,
    path: str | None = None,
    off: bool = False,
    pairs: int = 1,
) -> tuple[Any, str | None]:
    """The liquidations recorded for ``pair`` to draw, and the line that says what was drawn.

    Args:
        pair: the pair drawn.
        datadir: the exchange's datadir (where ``liq-indicator record`` writes).
        timeframe: the candles' timeframe (the recorded minutes are summed to it).
        first: the first drawn candle's time.
        end: the drawn period's end (the last candle's close).
        path: ``--liquidations``: a file or a datadir; None: the datadir's file when present.
        off: ``--no-liquidations``.
        pairs: how many pairs are drawn (a single file cannot serve several).

    Returns:
        (``load_liquidations`` frame, note) or (None, None) when none is drawn.

    Raises:
        InputError: an explicit file or datadir without the pair's file, a file for several
            pairs, or a file that is not the recorder's.
    """
    from pathlib import Path

    import numpy as np
    import pandas as pd

    from liq_indicator.errors import InputError
    from liq_indicator.io.liquidations import liquidations_file, load_liquidations
    from liq_indicator.style import format_usd

    if off:
        return None, None
    if path is None:
        source = liquidations_file(datadir, pair)
        if not source.exists():
            return None, None
    else:
        source = Path(path).expanduser()
        if source.is_dir():
            source = liquidations_file(source, pair)
        elif pairs > 1:
            raise InputError(
                f"--liquidations {path} is one file but {pairs} pairs are drawn; pass the datadir "
                "holding futures/<PAIR>-1m-liquidations.feather, or one --pairs"
            )
    frame = load_liquidations(source, timeframe, pair=pair)
    dates = frame.index
    shown = frame[(dates >= pd.Timestamp(first)) & (dates < pd.Timestamp(end))]
    known = shown.dropna(how="all")
    span = (
        f"it holds {dates[0]:%Y-%m-%d %H:%M} .. {dates[-1]:%Y-%m-%d %H:%M} UTC"
        if len(dates)
        else "it is empty"
    )
    if not len(known):
        return frame, (
            f"warning: {pair}: the recorded liquidations in {source} hold nothing in the drawn "
            f"period ({span}); none drawn"
        )
    gaps = len(shown) - len(known)
    n = int(np.nansum(known[["long_count", "short_count"]].to_numpy()))
    note = (
        f"note: {pair}: drawing the liquidations recorded in {source} as bubbles: {n} "
        f"liquidations, longs {format_usd(float(known['long_usd'].sum()))}, shorts "
        f"{format_usd(float(known['short_usd'].sum()))} in the drawn period ({span}"
        + (f"; {gaps} {timeframe} candles fall in recording gaps" if gaps else "")
        + "); --no-liquidations to leave them out"
    )
    return frame, note


def run(args: argparse.Namespace) -> int:
    """Run ``liq-indicator heatmap`` with the parsed ``args``; returns the exit code."""
    import math
    import re
    import sys
    from functools import partial

    import pandas as pd

    from liq_indicator.cli.options import load_window, resolve_data_options, write_outputs
    from liq_indicator.core.inputs import infer_timeframe
    from liq_indicator.estimator import liquidation_heatmap
    from liq_indicator.io.backtest import load_trades, resolve_backtest_file
    from liq_indicator.io.datadir import pair_stem
    from liq_indicator.plot.figures import heatmap_figure, save_png_heatmap, trades_in_period
    from liq_indicator.strategy.frequi import trade_levels_at_entry
    from liq_indicator.strategy.signals import STRATEGY_HEATMAP, strategy_features

    opts = resolve_data_options(args)
    if args.backtest_filename:  # a missing file fails before the (slower) computation
        resolve_backtest_file(args.backtest_filename)
    by_name = args.map == "auto" and bool(args.strategy)  # the map that strategy trades on
    strategy_map = (
        by_name or args.map == "strategy" or (args.map == "auto" and bool(args.backtest_filename))
    )
    config = preset_config(args, strategy_map)
    if by_name:
        config = strategy_heatmap(args.strategy, args.strategy_path or opts.userdir / "strategies")
    elif strategy_map:
        config = STRATEGY_HEATMAP
    for pair in opts.pairs:
        window = load_window(opts, pair)
        history = window.history
        side = {k: v for k, v in window.side.items() if k != "mark" or not strategy_map}
        if strategy_map:  # exactly the strategy's features (it reads no mark prices)
            feats = strategy_features(
                history,
                config,
                open_interest=side.get("open_interest"),
                funding=side.get("funding"),
                venues=side.get("venues", ()),
            )
        else:
            from liq_indicator.estimator import liquidation_features

            feats = liquidation_features(history, config, **side)
        shown = feats[feats["date"] >= window.shown_from].reset_index(drop=True)
        first, last = pd.Timestamp(shown["date"].iloc[0]), pd.Timestamp(shown["date"].iloc[-1])
        lo, hi = float(shown["low"].min()), float(shown["high"].max())
        heat = liquidation_heatmap(
            history,
            config,
            max_price_bins=args.max_price_bins,
            price_range=(lo / 1.1, hi * 1.1),
            max_times=math.ceil(args.max_times * len(history) / len(shown)),
            **side,
        )
        trades, counted = None, ""
        if args.backtest_filename:
            tf = infer_timeframe(feats["date"]) or pd.Timedelta(0)
            all_trades = load_trades(
                args.backtest_filename, strategy=args.strategy, period=(first, last + tf)
            )
            trades = all_trades[all_trades["pair"] == pair].reset_index(drop=True)
            drawn = len(trades_in_period(trades, first, last + tf))
            source = all_trades.attrs.get("source", args.backtest_filename)
            if len(trades) == 0:
                print(f"note: {source} holds no trades of {pair}", file=sys.stderr)
            elif drawn == 0:
                print(
                    f"warning: none of the {len(trades)} {pair} trades in {source} "
                    f"({trades['open_date'].min():%Y-%m-%d} .. "
                    f"{trades['close_date'].max():%Y-%m-%d}) falls in the drawn period; "
                    "pass --timerange covering them",
                    file=sys.stderr,
                )
            trades = trade_levels_at_entry(trades, feats) if strategy_map else trades
            counted = f" · {drawn} trades" + (
                f" (of {len(trades)})" if drawn != len(trades) else ""
            )
        tf_shown = infer_timeframe(shown["date"]) or pd.Timedelta(0)
        recorded, note = recorded_liquidations(
            pair,
            opts.datadir,
            opts.timeframe,
            first,
            last + tf_shown,
            path=args.liquidations,
            off=args.no_liquidations,
            pairs=len(opts.pairs),
        )
        if note:
            print(note, file=sys.stderr if note.startswith("warning") else sys.stdout)
        # after the trades: a bad backtest file is the one error line, not after a warning
        cold = cold_until(history["date"].iloc[0], first, config)
        if cold is not None:
            print(
                f"warning: the {pair} map has {first - history['date'].iloc[0]} of history "
                f"before {first:%Y-%m-%d %H:%M}; it warms up over {warm_up(config)} (its slowest "
                f"half-life), so until {cold:%Y-%m-%d %H:%M} UTC its clusters are understated "
                "(shaded in the picture). Give more --warmup-days or a later --timerange start.",
                file=sys.stderr,
            )
        period = (
            re.sub(r"[^0-9A-Za-z-]", "_", opts.timerange)
            if opts.timerange
            else f"{first:%Y%m%d}-{last:%Y%m%d}"
        )
        whose = map_name(config, strategy_map, args.strategy if by_name else None, args.preset)
        title = (
            f"{pair} {opts.timeframe} liquidation heatmap, {whose} · "
            f"{first:%Y-%m-%d %H:%M} → {last:%Y-%m-%d %H:%M} UTC{counted}"
        )
        drawing = {
            "title": title,
            "decades": args.decades,
            "scale": args.scale,
            "price_axis": args.price_axis,
            "cold_until": cold,
            "liquidations": recorded,
        }
        write_outputs(
            opts,
            f"liq-heatmap-{pair_stem(pair)}-{opts.timeframe}-{period}",
            partial(heatmap_figure, shown, heat, trades, max_candles=args.max_candles, **drawing),
            partial(save_png_heatmap, shown, heat, trades=trades, **drawing),
        )
    return 0
