"""``liq-indicator heatmap``: the liquidation heatmap of pairs in a Freqtrade datadir, as HTML and PNG.

Reads data the way Freqtrade commands do (``--config``, ``--datadir``, ``--exchange``, ``--pairs``,
``--timeframe``, ``--timerange``) and writes ``<userdir>/plot/liq-heatmap-<pair>-<tf>-<period>.html``
and ``.png``; with ``--backtest-filename`` a backtest's trades and stops are drawn on top. The data
options and their resolution live here and are shared by ``liq-indicator map``.
"""

from __future__ import annotations

import argparse
import math
import re
import sys
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from liq_indicator.cli.argtypes import integer, real, timeframe

NAME = "heatmap"
HELP = "draw the liquidation heatmap (time x price) with candles, cascades and backtest trades"

DEFAULT_PAIR = "BTC/USDT:USDT"
DEFAULT_EXCHANGE = "binance"
DEFAULT_TIMEFRAME = "5m"


# ------------------------------------------------------------------------------------------------
# data options shared with `liq-indicator map`


def add_data_arguments(parser: argparse.ArgumentParser) -> None:
    """The Freqtrade-style data options (and output options) of ``heatmap`` and ``map``."""
    g = parser.add_argument_group("data (as in Freqtrade)")
    g.add_argument("-c", "--config", action="append", metavar="PATH",
                   help="Freqtrade config file(s): datadir, exchange.name, exchange.pair_whitelist, "
                        "timeframe, timerange and user_data_dir are read from it; options given "
                        "here win. May be repeated (later files win).")
    g.add_argument("--userdir", "--user-data-dir", dest="userdir", metavar="PATH",
                   help="Freqtrade user data dir (default: the config's user_data_dir, else "
                        "user_data); plots go to its plot/ folder")
    g.add_argument("-d", "--datadir", "--data-dir", dest="datadir", metavar="PATH",
                   help="datadir of one exchange, e.g. user_data/data/binance (default: "
                        "<userdir>/data/<exchange>); a folder holding <exchange>/ is accepted too")
    g.add_argument("--exchange", help=f"exchange name (default: the config's, else {DEFAULT_EXCHANGE})")
    g.add_argument("--exchanges", nargs="+", metavar="EXCHANGE",
                   help="aggregate several exchanges into one map: the first is the reference, the "
                        "others are read from sibling datadirs (user_data/data/<exchange>)")
    g.add_argument("-p", "--pairs", nargs="+", metavar="PAIR",
                   help=f"pairs, e.g. {DEFAULT_PAIR} (default: the config's pair_whitelist, "
                        f"else {DEFAULT_PAIR})")
    g.add_argument("-i", "--timeframe", type=timeframe(),
                   help=f"candle timeframe (default: the config's, else {DEFAULT_TIMEFRAME})")
    g.add_argument("--timerange", help="period to draw, Freqtrade's format: 20240101-20240301, "
                                       "20240101-, -20240301, 20240101T1200-... (UTC, inclusive)")
    g.add_argument("--warmup-days", type=real(0), default=14.0, metavar="DAYS",
                   help="days of candles before the timerange used to fill the map (it starts "
                        "empty; default 14, the slowest tier's half-life)")
    o = parser.add_argument_group("output")
    o.add_argument("--plot-dir", metavar="PATH",
                   help="where to write the files (default: <userdir>/plot)")
    o.add_argument("--format", choices=("html", "png", "both"), default="both",
                   help="interactive HTML (plotly, self-contained), static PNG, or both (default)")


@dataclass(frozen=True)
class DataOptions:
    """The data options after merging command line, config and Freqtrade's defaults."""

    userdir: Path
    datadir: Path
    exchange: str
    pairs: tuple[str, ...]
    timeframe: str
    timerange: str | None
    start: datetime | None
    stop: datetime | None
    warmup_days: float
    plot_dir: Path
    formats: tuple[str, ...]
    venues: tuple[str, ...] = ()


_TIMERANGE_FORMATS = ((r"\d{8}", "%Y%m%d"), (r"\d{8}T\d{4}", "%Y%m%dT%H%M"),
                      (r"\d{8}T\d{6}", "%Y%m%dT%H%M%S"), (r"\d{10}", None), (r"\d{13}", None))


def _parse_moment(text: str, what: str) -> datetime:
    for pattern, fmt in _TIMERANGE_FORMATS:
        if re.fullmatch(pattern, text):
            if fmt is None:  # epoch seconds (10 digits) or milliseconds (13)
                seconds = int(text) // 1000 if len(text) == 13 else int(text)
                return datetime.fromtimestamp(seconds, tz=UTC)
            return datetime.strptime(text, fmt).replace(tzinfo=UTC)
    raise ValueError(f"{what} {text!r}")


def parse_timerange(text: str | None) -> tuple[datetime | None, datetime | None]:
    """Freqtrade's ``--timerange`` syntax: ``START-STOP`` with either side optional; each side is
    yyyymmdd, yyyymmddThhmm, yyyymmddThhmmss or epoch seconds/milliseconds, in UTC."""
    from liq_indicator.errors import InputError

    if not text:
        return None, None
    parts = text.split("-")
    if len(parts) != 2 or not any(parts):
        raise InputError(f"--timerange {text!r} must look like 20240101-20240301 (either side may "
                         "be left out: 20240101- or -20240301)")
    try:
        start = _parse_moment(parts[0], "start") if parts[0] else None
        stop = _parse_moment(parts[1], "stop") if parts[1] else None
    except ValueError as exc:
        raise InputError(f"--timerange {text!r}: cannot read the {exc}; use yyyymmdd, "
                         "yyyymmddThhmm or epoch seconds") from None
    if start and stop and start > stop:
        raise InputError(f"--timerange {text!r} starts after it stops")
    return start, stop


def parse_moment(text: str) -> datetime:
    """A moment given on the command line: Freqtrade's timerange formats or any ISO date, UTC
    when no zone is given."""
    import pandas as pd

    from liq_indicator.errors import InputError

    try:
        return _parse_moment(text, "time")
    except ValueError:
        pass
    try:
        ts = pd.Timestamp(text)
    except (ValueError, TypeError):
        raise InputError(f"cannot read time {text!r}; use e.g. 2024-06-01T12:00 or "
                         "20240601T1200 (UTC)") from None
    if ts is pd.NaT:
        raise InputError(f"cannot read time {text!r}")
    ts = ts.tz_localize("UTC") if ts.tz is None else ts.tz_convert("UTC")
    return ts.to_pydatetime()


def _merge(base: dict[str, Any], extra: dict[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for key, value in extra.items():
        out[key] = _merge(out[key], value) if isinstance(value, dict) and isinstance(
            out.get(key), dict) else value
    return out


_REGEX_CHARS = re.compile(r"[*?\[\]()|+^$\\]")


def resolve_data_options(args: argparse.Namespace) -> DataOptions:
    """Command line first, then the Freqtrade config(s), then Freqtrade's defaults.

    Raises:
        InputError: for a missing or unreadable config, a bad timeframe or timerange in it, a
            missing user data dir, or a plot folder that cannot be written.
    """
    from liq_indicator.errors import InputError
    from liq_indicator.io.backtest import load_freqtrade_config
    from liq_indicator.io.paths import is_folder, is_present, output_dir

    config: dict[str, Any] = {}
    for path in args.config or ():
        config = _merge(config, load_freqtrade_config(path))
    exchange_cfg = config.get("exchange") if isinstance(config.get("exchange"), dict) else {}
    listed_exchanges = [e.lower() for e in (getattr(args, "exchanges", None) or ())]
    exchange = (listed_exchanges[0] if listed_exchanges else None) or args.exchange \
        or exchange_cfg.get("name") or DEFAULT_EXCHANGE
    userdir = Path(args.userdir or config.get("user_data_dir") or "user_data").expanduser()
    if args.datadir or config.get("datadir"):
        datadir = Path(args.datadir or config["datadir"]).expanduser()
        nested = datadir / exchange
        if is_folder(nested, "datadir") and not is_folder(datadir / "futures", "datadir"):
            datadir = nested  # a folder of exchange folders, like Freqtrade's user_data/data
    else:
        datadir = userdir / "data" / exchange
    if args.pairs:
        pairs = tuple(args.pairs)
    else:
        listed = [p for p in exchange_cfg.get("pair_whitelist") or () if isinstance(p, str)]
        literal = [p for p in listed if not _REGEX_CHARS.search(p)]
        if listed and not literal:
            raise InputError(f"the config's pair_whitelist holds only patterns ({listed}); "
                             "name the pairs with --pairs")
        pairs = tuple(literal) or (DEFAULT_PAIR,)
    timerange = args.timerange or config.get("timerange")
    start, stop = parse_timerange(timerange)
    tf = args.timeframe or config.get("timeframe") or DEFAULT_TIMEFRAME
    if not args.timeframe:  # the command line's was checked by argparse; a config's is checked here
        try:
            timeframe()(str(tf))
        except argparse.ArgumentTypeError as exc:
            raise InputError(f"config timeframe: {exc}") from None
    if not args.plot_dir and not is_present(userdir, "user data dir"):
        raise InputError(f"user data dir {str(userdir)!r} does not exist; create it with "
                         "`freqtrade create-userdir` or pass --userdir")
    plot_dir = Path(args.plot_dir).expanduser() if args.plot_dir else userdir / "plot"
    output_dir(plot_dir, "--plot-dir" if args.plot_dir else "plot folder", parents=False)
    return DataOptions(
        userdir=userdir, datadir=datadir, exchange=exchange, pairs=pairs,
        timeframe=tf,
        timerange=timerange, start=start, stop=stop, warmup_days=args.warmup_days,
        plot_dir=plot_dir, formats=("html", "png") if args.format == "both" else (args.format,),
        venues=tuple(e for e in listed_exchanges[1:] if e != exchange),
    )


@dataclass(frozen=True)
class Window:
    """One pair's candles: ``history`` (with warm-up) to compute from, ``shown`` to draw."""

    history: Any
    side: dict[str, Any]
    shown_from: Any


def load_window(opts: DataOptions, pair: str, until: datetime | None = None) -> Window:
    """Load ``pair`` from the datadir, cut to the timerange plus the warm-up before it.

    Raises:
        InputError: when the data is missing or the timerange holds no candles.
    """
    import pandas as pd

    from liq_indicator.errors import InputError
    from liq_indicator.estimator import Venue
    from liq_indicator.io.datadir import load_pair

    data = load_pair(opts.datadir, pair, opts.timeframe)
    others = [(name, load_pair(opts.datadir.parent / name, pair, opts.timeframe)) for name in opts.venues]
    candles = data.candles
    dates = candles["date"]
    stop = pd.Timestamp(opts.stop) if opts.stop else None
    if until is not None:
        stop = min(stop, pd.Timestamp(until)) if stop is not None else pd.Timestamp(until)
    start = pd.Timestamp(opts.start) if opts.start else dates.iloc[0]
    first = start - pd.Timedelta(days=opts.warmup_days) if opts.start else start
    keep = (dates >= first) & ((dates <= stop) if stop is not None else True)
    history = candles[keep].reset_index(drop=True)
    if not (history["date"] >= start).any():
        have = f"{dates.iloc[0]:%Y-%m-%d %H:%M} .. {dates.iloc[-1]:%Y-%m-%d %H:%M}" if len(dates) else "none"
        raise InputError(f"no {opts.timeframe} candles of {pair} in the requested period "
                         f"({opts.timerange or 'all'}); the datadir holds {have} UTC")
    # side files may store dates at another resolution (us vs ns); merge_asof needs one dtype
    side = {name: None if frame is None else frame.assign(date=frame["date"].astype(dates.dtype))
            for name, frame in (("open_interest", data.open_interest), ("mark", data.mark),
                                ("funding", data.funding))}
    if others:  # other exchanges, cut to the same window (the map matches their rows by date)
        side["venues"] = [
            Venue(name, d.candles[(d.candles["date"] >= history["date"].iloc[0])
                                  & (d.candles["date"] <= history["date"].iloc[-1])].reset_index(drop=True),
                  d.open_interest, d.mark, d.funding)
            for name, d in others
        ]
    return Window(history=history, side=side, shown_from=start)


def pair_stem(pair: str) -> str:
    """Freqtrade's file-name form of a pair: BTC/USDT:USDT -> BTC_USDT_USDT."""
    return re.sub(r"[/ .@$+:]", "_", pair)


def write_outputs(opts: DataOptions, stem: str, html_figure: Callable[[], Any],
                  png_writer: Callable[[Path], Path]) -> list[Path]:
    """Write ``<plot_dir>/<stem>.html`` (from the figure ``html_figure()`` builds) and
    ``<stem>.png`` (``png_writer(path)``) as ``opts.formats`` asks; print each path."""
    from liq_indicator.io.paths import writing
    from liq_indicator.plot.figures import save_html

    with writing(opts.plot_dir, "plot folder"):
        opts.plot_dir.mkdir(exist_ok=True)
    written = []
    if "html" in opts.formats:
        figure, path = html_figure(), opts.plot_dir / f"{stem}.html"
        with writing(path, "picture"):
            written.append(save_html(figure, path))
    if "png" in opts.formats:
        path = opts.plot_dir / f"{stem}.png"
        with writing(path, "picture"):
            written.append(png_writer(path))
    for path in written:
        print(f"wrote {path} ({path.stat().st_size / 1e6:.1f} MB)")
    return written


# ------------------------------------------------------------------------------------------------
# the command


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_data_arguments(parser)
    b = parser.add_argument_group("backtest overlay")
    b.add_argument("--backtest-filename", "--export-filename", dest="backtest_filename",
                   metavar="PATH",
                   help="a result of `freqtrade backtesting --export trades` (.zip or .json, or "
                        "the backtest_results folder for its latest): draw entries, exits, stops")
    b.add_argument("-s", "--strategy", help="strategy to take from a multi-strategy result")
    d = parser.add_argument_group("drawing")
    d.add_argument("--max-times", type=integer(1), default=1500,
                   help="heatmap columns at most (default 1500; each keeps its bins' maximum)")
    d.add_argument("--max-price-bins", type=integer(1), default=300,
                   help="heatmap price bins at most (default 300)")
    d.add_argument("--max-candles", type=integer(1), default=1500,
                   help="candles drawn in the HTML at most; longer periods merge candles keeping "
                        "highs and lows (default 1500; the PNG draws at most 320)")
    d.add_argument("--decades", type=real(0, low_open=True), default=None,
                   help="span of the log colour scale below its top, in decades (default: from "
                        "the data, 1 to 4)")


def run(args: argparse.Namespace) -> int:
    from functools import partial

    import pandas as pd

    from liq_indicator.estimator import liquidation_features, liquidation_heatmap
    from liq_indicator.io.backtest import load_trades
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
            window.history, max_price_bins=args.max_price_bins, price_range=(lo / 1.1, hi * 1.1),
            max_times=math.ceil(args.max_times * len(window.history) / len(shown)), **window.side)
        trades = None
        if all_trades is not None:
            trades = all_trades[all_trades["pair"] == pair].reset_index(drop=True)
            if len(trades) == 0:
                print(f"note: {args.backtest_filename} holds no trades of {pair}", file=sys.stderr)
        first, last = pd.Timestamp(shown["date"].iloc[0]), pd.Timestamp(shown["date"].iloc[-1])
        period = (re.sub(r"[^0-9A-Za-z-]", "_", opts.timerange) if opts.timerange
                  else f"{first:%Y%m%d}-{last:%Y%m%d}")
        title = (f"{pair} {opts.timeframe} liquidation heatmap · {first:%Y-%m-%d %H:%M} → "
                 f"{last:%Y-%m-%d %H:%M} UTC"
                 + (f" · {len(trades)} trades" if trades is not None else ""))
        write_outputs(
            opts, f"liq-heatmap-{pair_stem(pair)}-{opts.timeframe}-{period}",
            partial(heatmap_figure, shown, heat, trades, title=title,
                    max_candles=args.max_candles, decades=args.decades),
            partial(save_png_heatmap, shown, heat, trades=trades, title=title,
                    decades=args.decades),
        )
    return 0
