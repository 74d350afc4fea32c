"""The Freqtrade-style data and output options of ``liq-indicator heatmap`` and ``map``.

Data is read the way Freqtrade commands read it (``--config``, ``--datadir``, ``--exchange``,
``--pairs``, ``--timeframe``, ``--timerange``), with Freqtrade's own functions where it has one:
``TimeRange.parse_timerange`` for ``--timerange``, ``deep_merge_dicts`` for several ``--config``
files, ``pair_to_filename`` for file names. Freqtrade is imported only when such an option is given.
"""

from __future__ import annotations

import argparse
import importlib
import re
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from liq_indicator.config import DEFAULT_PAIR
from liq_indicator.io.argtypes import real, timeframe

__all__ = [
    "DataOptions",
    "Window",
    "add_data_arguments",
    "load_window",
    "parse_moment",
    "parse_timerange",
    "resolve_data_options",
    "scenario_names",
    "write_outputs",
]

DEFAULT_EXCHANGE = "binance"
DEFAULT_TIMEFRAME = "5m"


class _LazyNames(Sequence[str]):
    """The keys of ``module.attr``, imported the first time they are asked for: argparse asks
    only when the option is given (``in``) or wrong (the list), so building the parser imports
    nothing heavy (give the argument a ``metavar``, or argparse lists the choices at once).
    """

    def __init__(self, module: str, attr: str) -> None:
        self._where = (module, attr)
        self._names: tuple[str, ...] | None = None

    def _load(self) -> tuple[str, ...]:
        if self._names is None:
            self._names = tuple(getattr(importlib.import_module(self._where[0]), self._where[1]))
        return self._names

    def __getitem__(self, i):  # type: ignore[no-untyped-def]
        return self._load()[i]

    def __len__(self) -> int:
        return len(self._load())

    def __iter__(self) -> Iterator[str]:
        return iter(self._load())

    def __contains__(self, name: object) -> bool:
        return name in self._load()


def scenario_names() -> Sequence[str]:
    """The simulator's scenario names, :data:`liq_indicator.sim.market.SCENARIOS`, read when used."""
    return _LazyNames("liq_indicator.sim.market", "SCENARIOS")


def add_preset_argument(parser: Any) -> None:
    """``--preset``: the preset of the default map (``map`` and ``heatmap``)."""
    parser.add_argument(
        "--preset",
        default=None,
        metavar="NAME|FILE",
        help="draw the map of this preset instead of HeatmapConfig() (the btc-binance preset): a "
        "shipped name (btc-binance, btc-all-exchanges: USD summed over the major exchanges, "
        "design) or a JSON file written by 'liq-indicator calibrate'; not with the strategy's map",
    )


def preset_config(args: argparse.Namespace, strategy_map: bool) -> Any:
    """The default map's HeatmapConfig: ``--preset``'s, else ``HeatmapConfig()``.

    Raises:
        InputError: ``--preset`` together with the strategy's map (which has its own settings).
        ConfigError: an unknown preset name or a file that is not a preset.
    """
    from liq_indicator.config import HeatmapConfig
    from liq_indicator.errors import InputError

    if args.preset is None:
        return HeatmapConfig()
    if strategy_map:
        raise InputError(
            "--preset sets the default map, but the strategy's map is drawn (--map strategy, "
            "--strategy or --backtest-filename); pass --map default with --preset, or drop --preset"
        )
    return HeatmapConfig.preset(args.preset)


def add_data_arguments(parser: argparse.ArgumentParser) -> None:
    """The Freqtrade-style data options (and output options) of ``heatmap`` and ``map``."""
    g = parser.add_argument_group("data (as in Freqtrade)")
    g.add_argument(
        "-c",
        "--config",
        action="append",
        metavar="PATH",
        help="Freqtrade config file(s): datadir, exchange.name, exchange.pair_whitelist, "
        "timeframe, timerange and user_data_dir are read from it; options given "
        "here win. May be repeated (later files win).",
    )
    g.add_argument(
        "--userdir",
        "--user-data-dir",
        dest="userdir",
        metavar="PATH",
        help="Freqtrade user data dir (default: the config's user_data_dir, else "
        "user_data); plots go to its plot/ folder",
    )
    g.add_argument(
        "-d",
        "--datadir",
        "--data-dir",
        dest="datadir",
        metavar="PATH",
        help="datadir of one exchange, e.g. user_data/data/binance (default: "
        "<userdir>/data/<exchange>); a folder holding <exchange>/ is accepted too",
    )
    g.add_argument(
        "--exchange", help=f"exchange name (default: the config's, else {DEFAULT_EXCHANGE})"
    )
    g.add_argument(
        "--exchanges",
        nargs="+",
        metavar="EXCHANGE",
        help="aggregate several exchanges into one map: the first is the reference, the "
        "others are read from sibling datadirs (user_data/data/<exchange>)",
    )
    g.add_argument(
        "-p",
        "--pairs",
        nargs="+",
        metavar="PAIR",
        help=f"pairs, e.g. {DEFAULT_PAIR} (default: the config's pair_whitelist, "
        f"else {DEFAULT_PAIR})",
    )
    g.add_argument(
        "-i",
        "--timeframe",
        type=timeframe(),
        help=f"candle timeframe (default: the config's, else {DEFAULT_TIMEFRAME})",
    )
    g.add_argument(
        "--timerange",
        help="period to draw, Freqtrade's format: 20240101-20240301, "
        "20240101-, -20240301, 20240101T1200-... (UTC, inclusive)",
    )
    g.add_argument(
        "--warmup-days",
        type=real(0),
        default=14.0,
        metavar="DAYS",
        help="days of candles before the timerange used to fill the map (it starts "
        "empty; default 14, the slowest tier's half-life)",
    )
    o = parser.add_argument_group("output")
    o.add_argument(
        "--plot-dir", metavar="PATH", help="where to write the files (default: <userdir>/plot)"
    )
    o.add_argument(
        "--format",
        choices=("html", "png", "both"),
        default="both",
        help="interactive HTML (plotly, self-contained), static PNG, or both (default)",
    )


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


def _timerange(text: str) -> Any:
    """Freqtrade's ``TimeRange`` of ``text``; an InputError with the accepted forms when it is not one."""
    from liq_indicator.errors import InputError
    from liq_indicator.io.extras import freqtrade_module

    TimeRange = freqtrade_module("freqtrade.configuration", "--timerange").TimeRange  # noqa: N806
    try:
        return TimeRange.parse_timerange(text)
    except Exception as exc:  # Freqtrade's ConfigurationError
        reason = " ".join(str(exc).split())
        raise InputError(
            f"--timerange {text!r} must look like 20240101-20240301 (either side may "
            "be left out: 20240101- or -20240301; each side yyyymmdd, yyyymmddThhmm, "
            f"yyyymmddThhmmss or epoch seconds, UTC): {reason}"
        ) from None


def parse_timerange(text: str | None) -> tuple[datetime | None, datetime | None]:
    """Freqtrade's ``--timerange`` syntax, read by Freqtrade's ``TimeRange.parse_timerange``:
    ``START-STOP`` with either side optional; each side is yyyymmdd, yyyymmddThhmm,
    yyyymmddThhmmss or epoch seconds/milliseconds, in UTC.

    Raises:
        InputError: when ``text`` is not a timerange, or Freqtrade is not installed.
    """
    if not text:
        return None, None
    tr = _timerange(text)
    start = datetime.fromtimestamp(tr.startts, tz=UTC) if tr.starttype else None
    stop = datetime.fromtimestamp(tr.stopts, tz=UTC) if tr.stoptype else None
    return start, stop


_TIMERANGE_SIDE = re.compile(r"\d{8}(T\d{4}(\d{2})?)?|\d{10}|\d{13}")


def parse_moment(text: str) -> datetime:
    """A moment given on the command line: one side of Freqtrade's timerange formats, or any
    ISO date (UTC when no zone is given).

    Raises:
        InputError: when ``text`` is neither.
    """
    import pandas as pd

    from liq_indicator.core.inputs import utc_timestamp
    from liq_indicator.errors import InputError

    if _TIMERANGE_SIDE.fullmatch(text):
        start, _ = parse_timerange(f"{text}-")
        assert start is not None
        return start
    try:
        ts = pd.Timestamp(text)
    except (ValueError, TypeError):
        raise InputError(
            f"cannot read time {text!r}; use e.g. 2024-06-01T12:00 or 20240601T1200 (UTC)"
        ) from None
    if ts is pd.NaT:
        raise InputError(f"cannot read time {text!r}")
    return utc_timestamp(ts).to_pydatetime()


_REGEX_CHARS = re.compile(r"[*?\[\]()|+^$\\]")


def resolve_data_options(args: argparse.Namespace) -> DataOptions:
    """Command line first, then the Freqtrade config(s), then Freqtrade's defaults.

    Raises:
        InputError: for a missing or unreadable config, a bad timeframe or timerange in it, a
            missing user data dir, or a plot folder that cannot be written.
    """
    from liq_indicator.errors import InputError
    from liq_indicator.io.backtest import load_freqtrade_config
    from liq_indicator.io.datadir import resolve_datadir
    from liq_indicator.io.paths import is_present, output_dir

    config: dict[str, Any] = {}
    if args.config:  # Freqtrade's rule: later files win, key by key
        from liq_indicator.io.extras import freqtrade_module

        deep_merge_dicts = freqtrade_module("freqtrade.misc", "--config").deep_merge_dicts
        for path in args.config:
            config = deep_merge_dicts(load_freqtrade_config(path), config)
    exchange_cfg = config.get("exchange")
    if not isinstance(exchange_cfg, dict):
        exchange_cfg = {}
    listed_exchanges = [e.lower() for e in (getattr(args, "exchanges", None) or ())]
    exchange = (
        (listed_exchanges[0] if listed_exchanges else None)
        or args.exchange
        or exchange_cfg.get("name")
        or DEFAULT_EXCHANGE
    )
    userdir = Path(args.userdir or config.get("user_data_dir") or "user_data").expanduser()
    if args.datadir or config.get("datadir"):
        # the exchange's folder, or a folder of exchange folders like Freqtrade's user_data/data
        datadir = resolve_datadir(args.datadir or config["datadir"], exchange)
    else:
        datadir = userdir / "data" / exchange
    if args.pairs:
        pairs = tuple(args.pairs)
    else:
        listed = [p for p in exchange_cfg.get("pair_whitelist") or () if isinstance(p, str)]
        literal = [p for p in listed if not _REGEX_CHARS.search(p)]
        if listed and not literal:
            raise InputError(
                f"the config's pair_whitelist holds only patterns ({listed}); "
                "name the pairs with --pairs"
            )
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
        raise InputError(
            f"user data dir {str(userdir)!r} does not exist; create it with "
            "`freqtrade create-userdir` or pass --userdir"
        )
    plot_dir = Path(args.plot_dir).expanduser() if args.plot_dir else userdir / "plot"
    output_dir(plot_dir, "--plot-dir" if args.plot_dir else "plot folder", parents=False)
    return DataOptions(
        userdir=userdir,
        datadir=datadir,
        exchange=exchange,
        pairs=pairs,
        timeframe=tf,
        timerange=timerange,
        start=start,
        stop=stop,
        warmup_days=args.warmup_days,
        plot_dir=plot_dir,
        formats=("html", "png") if args.format == "both" else (args.format,),
        venues=tuple(e for e in listed_exchanges[1:] if e != exchange),
    )


@dataclass(frozen=True)
class Window:
    """One pair's candles: ``history`` (with warm-up) to compute from, ``shown`` to draw."""

    history: Any
    side: dict[str, Any]
    shown_from: Any


def load_window(opts: DataOptions, pair: str, until: datetime | None = None) -> Window:
    """Load ``pair`` from the datadir, cut to the timerange plus the warm-up before it, and print
    the data's notes (inflow mode, candles built from a finer timeframe).

    Args:
        opts: the resolved data options.
        pair: the pair to load.
        until: the last moment wanted (``map --at``); None: the timerange's end.

    Raises:
        InputError: when the data is missing, the timerange holds no candles, or ``until`` lies
            before the data or the timerange starts.
    """
    import pandas as pd

    from liq_indicator.errors import InputError
    from liq_indicator.estimator import Venue
    from liq_indicator.io.datadir import load_pair

    data = load_pair(opts.datadir, pair, opts.timeframe)
    others = [
        (name, load_pair(opts.datadir.parent / name, pair, opts.timeframe)) for name in opts.venues
    ]
    for name, other in [("", data), *others]:
        for note in other.notes:
            print(f"note: {name + ': ' if name else ''}{note}", flush=True)
    candles = data.candles
    dates = candles["date"]
    stop = pd.Timestamp(opts.stop) if opts.stop else None
    if until is not None:
        if len(dates) and pd.Timestamp(until) < dates.iloc[0]:
            raise InputError(
                f"--at {pd.Timestamp(until):%Y-%m-%d %H:%M} UTC is before the first "
                f"{opts.timeframe} candle of {pair} ({dates.iloc[0]:%Y-%m-%d %H:%M} UTC); the "
                f"datadir holds {dates.iloc[0]:%Y-%m-%d %H:%M} .. {dates.iloc[-1]:%Y-%m-%d %H:%M}"
                " UTC: pass a later --at"
            )
        if opts.start is not None and pd.Timestamp(until) < pd.Timestamp(opts.start):
            raise InputError(
                f"--at {pd.Timestamp(until):%Y-%m-%d %H:%M} UTC is before the start of "
                f"--timerange {opts.timerange}; pass an --at inside it, or widen the timerange"
            )
        stop = min(stop, pd.Timestamp(until)) if stop is not None else pd.Timestamp(until)
    start = pd.Timestamp(opts.start) if opts.start else dates.iloc[0]
    first = start - pd.Timedelta(days=opts.warmup_days) if opts.start else start
    keep = (dates >= first) & ((dates <= stop) if stop is not None else True)
    history = candles[keep].reset_index(drop=True)
    if not (history["date"] >= start).any():
        have = (
            f"{dates.iloc[0]:%Y-%m-%d %H:%M} .. {dates.iloc[-1]:%Y-%m-%d %H:%M}"
            if len(dates)
            else "none"
        )
        raise InputError(
            f"no {opts.timeframe} candles of {pair} in the requested period "
            f"({opts.timerange or 'all'}); the datadir holds {have} UTC"
        )
    # side files may store dates at another resolution (us vs ns); merge_asof needs one dtype
    side = {
        name: None if frame is None else frame.assign(date=frame["date"].astype(dates.dtype))
        for name, frame in (
            ("open_interest", data.open_interest),
            ("mark", data.mark),
            ("funding", data.funding),
        )
    }
    if others:  # other exchanges, cut to the same window (the map matches their rows by date)
        side["venues"] = [
            Venue(
                name,
                d.candles[
                    (d.candles["date"] >= history["date"].iloc[0])
                    & (d.candles["date"] <= history["date"].iloc[-1])
                ].reset_index(drop=True),
                d.open_interest,
                d.mark,
                d.funding,
            )
            for name, d in others
        ]
    return Window(history=history, side=side, shown_from=start)


def write_outputs(
    opts: DataOptions, stem: str, html_figure: Callable[[], Any], png_writer: Callable[[Path], Path]
) -> list[Path]:
    """Write ``<plot_dir>/<stem>.html`` (from the figure ``html_figure()`` builds) and
    ``<stem>.png`` (``png_writer(path)``) as ``opts.formats`` asks; print each path.
    """
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
