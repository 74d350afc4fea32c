"""``liq-indicator calibrate``: fit the map to real liquidations and write a named, versioned preset.

Reads a truth series (a file of liquidated USD per bar, or a shared series by name) and a
Freqtrade datadir pair's candles (and its open interest with ``--open-interest``), fits the map's
few free parameters walk-forward with :func:`liq_indicator.research.calibration.calibrate`,
writes the preset JSON (what it was calibrated to, the fitted values, the out-of-sample report)
and prints the out-of-sample report. ``HeatmapConfig.preset(path)`` loads the preset.

USD figures are relative to the reported series named: exchanges' public liquidation feeds are
throttled, so every reported series undercounts, and a preset says which one it was fitted to.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO

from liq_indicator.config import DEFAULT_PAIR
from liq_indicator.io.argtypes import integer, real, timeframe, utc_date
from liq_indicator.io.shared import DATA_ENV

if TYPE_CHECKING:
    import pandas as pd

    from liq_indicator.config import HeatmapConfig
    from liq_indicator.io.datadir import PairData
    from liq_indicator.research.calibration import Calibration
    from liq_indicator.research.truth import TruthSeries

__all__ = ["add_arguments", "run", "preset_version", "format_report", "Progress"]

CAVEAT = (
    "USD is relative to the reported series: exchanges' public liquidation feeds are throttled "
    "(Binance and OKX push at most one order per symbol per second), so it undercounts."
)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the options of ``liq-indicator calibrate`` to ``parser``."""
    parser.add_argument(
        "--truth",
        required=True,
        metavar="FILE_OR_NAME",
        help="real liquidations: a CSV/feather file (date,long_usd,short_usd per bar, bar start "
        "in UTC, or a CoinGlass/Coinalyze export) or a shared series name such as binance_4h "
        f"(read from ${DATA_ENV} or ../shared/data)",
    )
    parser.add_argument(
        "--truth-bar",
        type=timeframe(multiple_of_minutes=1),
        default="1h",
        help="for liquidations recorded by `liq-indicator record` (*-1m-liquidations.feather): "
        "the bar to sum them into (default 1h)",
    )
    parser.add_argument(
        "--venue",
        default=None,
        help="the venue the truth file reports (binance, bybit, okx, all); required for "
        "per-exchange files, recorded in the preset",
    )
    parser.add_argument(
        "--datadir",
        required=True,
        help="Freqtrade datadir, e.g. user_data/data/binance (or user_data/data with --exchange)",
    )
    parser.add_argument(
        "--exchange",
        default="binance",
        help="exchange of the candles: its maintenance-margin brackets (binance)",
    )
    parser.add_argument("--pair", default=DEFAULT_PAIR, help=f"Freqtrade pair ({DEFAULT_PAIR})")
    parser.add_argument(
        "--timeframe", type=timeframe(multiple_of_minutes=1), default="5m", help="candles (5m)"
    )
    parser.add_argument(
        "--open-interest",
        action="store_true",
        help="calibrate the open-interest inflow with the pair's open_interest candles "
        "(default: the volume inflow)",
    )
    parser.add_argument(
        "--base",
        default=None,
        metavar="PRESET_OR_FILE",
        help="settings whose other fields are kept: a shipped preset name or a preset file "
        "(default: the package's defaults)",
    )
    parser.add_argument(
        "--folds", type=integer(1, 100), default=4, help="walk-forward folds (default 4)"
    )
    parser.add_argument(
        "--start", type=utc_date, default=None, help="first truth bar used, UTC (default: all)"
    )
    parser.add_argument(
        "--warmup-days",
        type=real(0),
        default=30.0,
        help="days of candles before the first truth bar that warm the map up (default 30)",
    )
    parser.add_argument(
        "--name",
        default=None,
        help="preset name (default: <pair-stem>-<exchange>-<timeframe>, plus -oi with "
        "--open-interest)",
    )
    parser.add_argument(
        "--out",
        default=None,
        metavar="PATH.json",
        help="preset file to write (default: ./<name>.json); an existing preset of the same "
        "name there is replaced by the next version",
    )
    parser.add_argument(
        "--vol-target",
        action="store_true",
        help="also fit the volatility targeting (vol_target, vol_ref_pct): the slope of the "
        "map's log USD error on log realised volatility over the fitting bars (default: keep "
        "the base's)",
    )
    parser.add_argument("--quiet", action="store_true", help="no progress on stderr")


# ------------------------------------------------------------------------------------------------
# progress


class Progress:
    """Progress of the fit on a stream: a bar redrawn in place on a terminal, plain lines otherwise.

    Called as ``progress(done, total, what)`` after each candidate's map (the ``progress``
    callback of :func:`~liq_indicator.research.calibration.calibrate`).
    """

    def __init__(self, stream: TextIO, width: int = 20, *, tty: bool | None = None) -> None:
        self.stream = stream
        self.width = width
        self.tty = stream.isatty() if tty is None else tty
        self.t0 = time.monotonic()
        self._shown = 0

    def start(self, total: int, what: str) -> None:
        """Show the empty bar (the first map, with compilation, is the slowest)."""
        self(0, total, what)

    def __call__(self, done: int, total: int, what: str) -> None:
        """Report that ``done`` of ``total`` candidate maps are built, the last being ``what``."""
        elapsed = time.monotonic() - self.t0
        if not self.tty:
            if done:
                self.stream.write(f"calibrate: map {done}/{total} {what} ({elapsed:.0f} s)\n")
            self.stream.flush()
            return
        filled = round(self.width * done / total) if total else self.width
        text = f"[{'#' * filled}{'.' * (self.width - filled)}] {done}/{total} {what} {elapsed:.0f}s"
        self.stream.write("\r" + text + " " * max(0, self._shown - len(text)))
        self._shown = len(text)
        if done >= total:
            self.stream.write("\n")
        self.stream.flush()


# ------------------------------------------------------------------------------------------------
# inputs


def _load_truth(text: str, venue: str | None, bar: str = "1h") -> TruthSeries:
    """A truth file (a recorded one summed into ``bar``s), else a shared series of that name."""
    from liq_indicator.errors import InputError
    from liq_indicator.io.paths import is_present
    from liq_indicator.io.shared import shared_data_dir
    from liq_indicator.research.truth import SHARED_TRUTH, load_truth, shared_truth

    if text.endswith("-1m-liquidations.feather"):  # what liq-indicator record writes
        from liq_indicator.research.truth import recorded_truth

        return recorded_truth(text, bar, venue=venue)
    if is_present(Path(text).expanduser(), "truth file") or Path(text).suffix:
        return load_truth(text, venue=venue)
    if text not in SHARED_TRUTH:
        raise InputError(
            f"--truth {text!r} is neither a file nor a shared series; pass a CSV/feather file "
            f"(date,long_usd,short_usd) or one of {', '.join(SHARED_TRUTH)}"
        )
    truth = shared_truth(text, shared_data_dir())
    if venue is not None and venue.lower() != truth.venue:
        raise InputError(
            f"the shared series {text} reports venue {truth.venue!r}, not {venue!r}; drop --venue "
            "or choose the series of that venue"
        )
    return truth


def _datadir(datadir: str, exchange: str) -> Path:
    """``datadir``, or its ``<exchange>`` folder when it is Freqtrade's ``user_data/data``."""
    from liq_indicator.io.paths import input_dir, is_folder

    root = input_dir(datadir, "--datadir")
    sub = root / exchange
    if root.name.lower() != exchange.lower() and is_folder(sub / "futures", "--datadir"):
        return sub
    return root


def _bar_text(bar: pd.Timedelta) -> str:
    """``4h``, ``1d``, ``5m``: a bar length as Freqtrade writes timeframes."""
    seconds = int(bar.total_seconds())
    for unit, size in (("d", 86_400), ("h", 3_600), ("m", 60)):
        if seconds % size == 0:
            return f"{seconds // size}{unit}"
    return f"{seconds}s"


def _when(t: Any) -> str:
    import pandas as pd

    return pd.Timestamp(t).strftime("%Y-%m-%d %H:%M")


def _window(
    truth: TruthSeries, data: PairData, args: argparse.Namespace, where: str
) -> tuple[TruthSeries, pd.DataFrame, pd.DataFrame | None]:
    """The truth bars that complete candles cover after the warm-up, and the candles (and open
    interest) cut to them plus the warm-up.

    Raises:
        InputError: the truth's bars are not whole candles, or truth and candles share no bar.
    """
    import pandas as pd

    from liq_indicator.errors import InputError
    from liq_indicator.io.timeframes import timeframe_seconds

    tf = pd.Timedelta(seconds=timeframe_seconds(args.timeframe))
    bar = truth.bar
    if bar < tf or bar % tf != pd.Timedelta(0):
        raise InputError(
            f"the truth's {_bar_text(bar)} bars are not a whole number of {args.timeframe} "
            f"candles; pass --timeframe of {_bar_text(bar)} or finer"
        )
    warmup = pd.Timedelta(days=args.warmup_days)
    candles = data.candles
    dates = pd.DatetimeIndex(candles["date"]).as_unit("us")
    t_index = truth.frame.index
    first = max(t_index[0], dates[0] + warmup)
    sizes = pd.Series(1, index=dates).resample(bar).size()
    complete = sizes.index[sizes.to_numpy() == int(bar / tf)]
    usable = t_index[(t_index >= first)].intersection(complete)
    if len(usable) == 0:
        raise InputError(
            f"the {args.timeframe} candles of {args.pair} in {where} ({_when(dates[0])} .. "
            f"{_when(dates[-1])}) share no complete {_bar_text(bar)} bar with the truth "
            f"{truth.name} ({_when(t_index[0])} .. {_when(t_index[-1])}) after a "
            f"{args.warmup_days:g}-day warm-up; download candles covering the truth's dates "
            "(starting --warmup-days before it) or pass another --truth"
        )
    truth = truth.between(usable[0], usable[-1] + bar)
    lo, hi = usable[0] - warmup, usable[-1] + bar
    keep = (dates >= lo) & (dates < hi)
    cut = candles[keep].reset_index(drop=True)
    oi = None
    if args.open_interest:
        assert data.open_interest is not None
        o = data.open_interest
        od = pd.DatetimeIndex(o["date"]).as_unit("us")
        # the last OI sample at or before the first candle is kept: it is known then
        before = od[od <= lo]
        start = before[-1] if len(before) else lo
        oi = o[(od >= start) & (od < hi)].reset_index(drop=True)
        if oi.empty:
            raise InputError(
                f"the open interest of {args.pair} in {where} ({_when(od[0])} .. "
                f"{_when(od[-1])}) does not cover {_when(lo)} .. {_when(hi)}; download it with "
                "`freqtrade download-data --candle-types open_interest` for those dates"
            )
    return truth, cut, oi


# ------------------------------------------------------------------------------------------------
# preset and report


def preset_version(path: Path, name: str) -> tuple[int, dict[str, Any] | None]:
    """The version to write at ``path`` and the preset already there (None when there is none).

    The version is one more than that of a preset of the same ``name`` at ``path``, else 1.

    Raises:
        InputError: ``path`` exists but is not a preset (it is not overwritten).
    """
    from liq_indicator.config import read_preset
    from liq_indicator.errors import ConfigError, InputError
    from liq_indicator.io.paths import is_present

    if not is_present(path, "--out"):
        return 1, None
    try:
        old = read_preset(path)
    except ConfigError as exc:
        raise InputError(
            f"--out {path} exists and is not a preset ({exc}); choose another --out or remove it"
        ) from None
    if old.get("name") != name:
        return 1, old
    version = old.get("version", 0)
    return (version + 1 if isinstance(version, int) else 1), old


def _fold_rows(cal: Calibration) -> list[dict[str, Any]]:
    """The per-fold table: what was fitted before each scored block and how the block scored."""
    from liq_indicator.research.calibration import SIDES, score_table

    rows = []
    for rec in cal.folds.to_dict("records"):
        s = score_table(cal.oos[cal.oos["fold"].to_numpy() == rec["fold"]])
        rows.append(
            {
                **rec,
                **{
                    f"{side}_{key}": s[f"{side}_{key}"]
                    for side in SIDES
                    for key in ("spearman_map", "spearman_vol", "log_ratio")
                },
            }
        )
    return rows


def _num(value: float, fmt: str) -> str:
    import math

    return "-" if value is None or not math.isfinite(value) else format(value, fmt)


def format_report(report: dict[str, float], *, open_interest: bool) -> str:
    """The out-of-sample report (a :func:`~liq_indicator.research.calibration.score_table`) as a
    small text table, one column per side.
    """
    lines: list[tuple[str, str, str]] = [
        ("Spearman, map", "spearman_map", "+.3f"),
        ("Spearman, range x volume", "spearman_vol", "+.3f"),
    ]
    if open_interest:
        lines.append(("Spearman, range x OI", "spearman_oi", "+.3f"))
    lines += [
        ("top-5% precision, map", "top_map", ".3f"),
        ("top-5% precision, range x volume", "top_vol", ".3f"),
        ("median log10(estimate / real)", "log_ratio", "+.3f"),
        ("slope of log estimate on log real", "slope", ".3f"),
        ("moved bars with no sweep", "no_sweep", ".1%"),
    ]
    width = max(len(label) for label, _, _ in lines)
    out = [f"  {'':<{width}}  {'long':>8}  {'short':>8}"]
    for label, key, fmt in lines:
        cells = [_num(report[f"{side}_{key}"], fmt) for side in ("long", "short")]
        out.append(f"  {label:<{width}}  {cells[0]:>8}  {cells[1]:>8}")
    return "\n".join(out)


def _format_folds(rows: list[dict[str, Any]]) -> str:
    out = [
        "  fold  test bars  from              to                multiplier  Spearman L/S   "
        "log10 ratio L/S  shape"
    ]
    for r in rows:
        shape = ", ".join(f"{k}={v:g}" for k, v in r["shape"].items())
        out.append(
            f"  {r['fold']:>4}  {r['test_bars']:>9}  {_when(r['first_bar']):<16}  "
            f"{_when(r['last_bar']):<16}  {r['multiplier']:>10.4g}  "
            f"{_num(r['long_spearman_map'], '+.2f'):>5} {_num(r['short_spearman_map'], '+.2f'):>5}  "
            f"{_num(r['long_log_ratio'], '+.2f'):>7} {_num(r['short_log_ratio'], '+.2f'):>7}  "
            f"{shape}"
        )
    return "\n".join(out)


def _has_preset_option() -> bool:
    """Whether ``liq-indicator features`` takes ``--preset`` (mentioned in the usage hint if so)."""
    from liq_indicator.cli import features

    p = argparse.ArgumentParser(add_help=False)
    features.add_arguments(p)
    return any("--preset" in a.option_strings for a in p._actions)


def _base(args: argparse.Namespace) -> HeatmapConfig:
    from liq_indicator.config import HeatmapConfig

    base = HeatmapConfig.preset(args.base) if args.base else HeatmapConfig()
    return base.replace(exchange=args.exchange.lower())


# ------------------------------------------------------------------------------------------------
# the command


def run(args: argparse.Namespace) -> int:
    """Run ``liq-indicator calibrate`` with the parsed ``args``; returns the exit code."""
    from liq_indicator.errors import InputError
    from liq_indicator.io.datadir import load_pair, pair_file, pair_stem
    from liq_indicator.io.paths import output_file, writing
    from liq_indicator.io.presets import preset_document, write_preset
    from liq_indicator.research.calibration import calibrate, candidate_grid, fold_blocks

    t0 = time.monotonic()
    inflow = "open interest" if args.open_interest else "volume"
    name = args.name or (
        f"{pair_stem(args.pair)}-{args.exchange.lower()}-{args.timeframe}"
        + ("-oi" if args.open_interest else "")
    )
    out = Path(args.out).expanduser() if args.out else Path(f"{name}.json")
    # everything that can be checked is checked before the fit
    output_file(out, "--out", suffixes=(".json",), parents=True)
    version, old = preset_version(out, name)
    base = _base(args)
    truth = _load_truth(args.truth, args.venue, args.truth_bar)
    if args.start is not None:
        truth = truth.between(args.start)
        if truth.frame.empty:
            raise InputError(
                f"the truth {truth.name} has no bar from --start {args.start}; its bars end "
                "before it, pass an earlier --start"
            )
    datadir = _datadir(args.datadir, args.exchange)
    data = load_pair(datadir, args.pair, args.timeframe)
    if args.open_interest and data.open_interest is None:
        raise InputError(
            f"--open-interest: no open interest for {args.pair} at "
            f"{pair_file(datadir, args.pair, args.timeframe, 'open_interest')}; download it with "
            f"`freqtrade download-data --trading-mode futures --pairs {args.pair} --candle-types "
            "open_interest` (Binance serves 30 days) or import Binance archives with "
            "`liq-indicator import-oi`"
        )
    truth, candles, oi = _window(truth, data, args, str(datadir))
    n_bars = len(truth.frame)
    fold_blocks(n_bars, args.folds)  # too few bars: fail before the fit

    total = len(candidate_grid(base, args.open_interest))
    print(
        f"calibrate: {n_bars} {_bar_text(truth.bar)} bars of {truth.name} ({truth.venue}), "
        f"{_when(truth.frame.index[0])} .. {_when(truth.frame.index[-1])}; {len(candles)} "
        f"{args.timeframe} candles of {args.pair}, {inflow} inflow; {total} candidates, "
        f"{args.folds} folds",
        flush=True,
    )
    progress = None if args.quiet else Progress(sys.stderr)
    if progress is not None:
        progress.start(total, "building the candidates' maps")
    cal = calibrate(
        truth,
        candles,
        base,
        open_interest=oi,
        folds=args.folds,
        vol_target=args.vol_target,
        progress=progress,
    )
    folds = _fold_rows(cal)
    calibrated_to = {
        "truth": truth.source,
        "series": truth.name,
        "venue": truth.venue,
        "bar": _bar_text(truth.bar),
        "first_bar": truth.frame.index[0],
        "last_bar": truth.frame.index[-1],
        "bars": n_bars,
        "candles": {
            "exchange": args.exchange.lower(),
            "pair": args.pair,
            "timeframe": args.timeframe,
        },
        "inflow": inflow,
        "folds": args.folds,
        "warmup_days": args.warmup_days,
        "base": args.base or "defaults",
        "note": CAVEAT,
    }
    doc = preset_document(
        cal.config,
        name=name,
        version=version,
        description=(
            f"Fitted by liq-indicator calibrate to {truth.name} ({truth.venue}, "
            f"{_bar_text(truth.bar)} bars) with {args.exchange.lower()} {args.pair} "
            f"{args.timeframe} candles, {inflow} inflow."
        ),
        calibrated_to=calibrated_to,
        fitted=cal.changes,
        out_of_sample={
            "method": f"walk-forward, {args.folds} folds, expanding window",
            **cal.report,
            "folds": folds,
        },
    )
    with writing(out, "preset file"):
        out.parent.mkdir(parents=True, exist_ok=True)  # checked creatable before the fit
    path = write_preset(out, doc)

    oos_bars = int(cal.report["bars"])
    print(
        f"\nout of sample: {oos_bars} of {n_bars} bars, each scored with the shape and "
        f"magnitude fitted on the bars before it ({args.folds} folds)"
    )
    print(format_report(cal.report, open_interest=args.open_interest))
    print("\nfolds:")
    print(_format_folds(folds if len(folds) <= 12 else [*folds[:5], *folds[-5:]]))
    if len(folds) > 12:
        print(f"  ({len(folds) - 10} more folds in the preset file)")
    print(f"\nfitted on all {n_bars} bars:")
    for key, value in cal.changes.items():
        was = getattr(base, key)
        note = "unchanged" if value == was else f"base {was:g}"
        print(f"  {key:<18} {value:<12.6g} ({note})")
    print(f"  {CAVEAT}")
    replaced = ""
    if old is not None:
        replaced = f", replacing {old.get('name')!r} version {old.get('version')}"
    print(f"\nwrote preset {name!r} version {version} to {path}{replaced}")
    print("use it in Python:")
    print("  from liq_indicator.config import HeatmapConfig")
    print(f'  config = HeatmapConfig.preset("{path}")')
    if _has_preset_option():
        print(f"or: liq-indicator features --preset {path} ...")
    print(f"({time.monotonic() - t0:.0f} s)")
    return 0
