"""``liq-indicator features``: the liq_ columns of one pair, or of many pairs in parallel, from a
Freqtrade datadir.

One pair (``--pair``) prints the last rows or writes ``--output``. Several pairs (``--pairs``,
``--pairs-file``, ``--all``) run through joblib: ``--jobs N`` local processes (loky), or a Dask
or Ray cluster through joblib's own backends (``--backend dask|ray``). Each pair uses its own
maintenance-margin tiers (``HeatmapConfig(symbol=pair)``); a pair that fails (no candles, no
tiers, bad data) is reported and the others carry on, and the exit code is 1. Results are cached
(:mod:`liq_indicator.io.cache`): a second run with the same settings and candles reads them back.
The engine is :mod:`liq_indicator.research.pairs` (studies over many pairs use it too).
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable
from pathlib import Path

from liq_indicator.config import DEFAULT_PAIR
from liq_indicator.io.argtypes import timeframe
from liq_indicator.research.pairs import (
    BACKENDS,
    PairResult,
    PairTask,
    compute_pairs,
    inflow_note,
    inflow_share,
    load_datadir_tiers,
    pair_features,
    pairs_in_datadir,
    read_pairs_file,
)

__all__ = ["add_arguments", "run"]


def _jobs(text: str) -> int:
    """``--jobs``: -1 (every core, or every worker of the cluster) or a whole number >= 1."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if value == 0 or value < -1:
        raise argparse.ArgumentTypeError(
            f"{text!r} is out of range; give a whole number >= 1, or -1 for every core"
        )
    return value


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the options of ``liq-indicator features`` to ``parser``."""
    parser.add_argument(
        "--doc",
        action="store_true",
        help="print the Markdown documentation of every column and exit",
    )
    parser.add_argument(
        "--datadir", help="Freqtrade datadir of one exchange, e.g. user_data/data/binance"
    )
    parser.add_argument(
        "--exchanges",
        nargs="+",
        metavar="EXCHANGE",
        help="aggregate these exchanges into one map (the first is the reference); "
        "their datadirs are siblings of --datadir, e.g. user_data/data/bybit",
    )
    which = parser.add_mutually_exclusive_group()
    which.add_argument("--pair", default=DEFAULT_PAIR, help=f"one Freqtrade pair ({DEFAULT_PAIR})")
    which.add_argument("--pairs", nargs="+", metavar="PAIR", help="several pairs, in parallel")
    which.add_argument(
        "--pairs-file",
        help="the pairs: a JSON list (as freqtrade download-data reads), a Freqtrade config "
        "(its exchange.pair_whitelist) or a text file with one pair per line",
    )
    which.add_argument(
        "--all",
        action="store_true",
        help="every pair with futures candles of --timeframe in the datadir",
    )
    parser.add_argument("--timeframe", type=timeframe(), default="5m", help="candle timeframe (5m)")
    parser.add_argument(
        "--output", help="one pair: write the features here (.feather, .csv or .parquet)"
    )
    parser.add_argument(
        "--output-dir",
        help="write each pair's features to <stem>-<timeframe>-features.feather in this folder",
    )
    parser.add_argument(
        "--jobs",
        type=_jobs,
        help="pairs computed at once: 1 (default with loky) .. N, or -1 for every core "
        "(the default with dask and ray: every worker of the cluster)",
    )
    parser.add_argument(
        "--backend",
        choices=tuple(BACKENDS),
        default="loky",
        help="joblib backend: loky (local processes, default), dask (a Dask cluster: "
        "DASK_SCHEDULER_ADDRESS, else a local one) or ray (RAY_ADDRESS, else a local one)",
    )
    parser.add_argument(
        "--cache-dir",
        help="cache of computed features (default $LIQ_INDICATOR_CACHE or "
        "~/.cache/liq-indicator/features; used for several pairs, or for one when given)",
    )
    parser.add_argument("--no-cache", action="store_true", help="neither read nor write the cache")


def _summary(r: PairResult, timeframe: str) -> str:
    if r.error is not None:
        return f"{r.pair:<22} {timeframe:>4}  FAILED  {r.seconds:7.2f} s  {r.error}"
    where = f"  -> {r.output}" if r.output else ""
    return (
        f"{r.pair:<22} {timeframe:>4}  {r.rows:>9,} rows  {r.seconds:7.2f} s  cache {r.cache}"
        f"  {inflow_note(r.oi_share)}{where}"
    )


# ------------------------------------------------------------------------------------------------
# the command


def _datadirs(args: argparse.Namespace) -> tuple[list[Path], list[str]]:
    """(the datadirs, the exchanges) of ``--datadir`` and ``--exchanges``."""
    from liq_indicator.io.datadir import resolve_datadir
    from liq_indicator.io.paths import input_dir

    datadir = Path(args.datadir)
    exchanges = [e.lower() for e in (args.exchanges or [])]
    if exchanges and datadir.name.lower() in exchanges:
        datadir = datadir.parent  # --datadir user_data/data/binance --exchanges binance bybit
    if exchanges:
        return [input_dir(datadir / e, "datadir") for e in exchanges], exchanges
    # the exchange's folder, or user_data/data or user_data above it (as heatmap accepts)
    return [resolve_datadir(input_dir(datadir, "datadir"))], exchanges


def _pairs(args: argparse.Namespace, datadir: Path) -> list[str]:
    from liq_indicator.errors import InputError

    if args.pairs:
        pairs = list(args.pairs)
    elif args.pairs_file:
        pairs = read_pairs_file(args.pairs_file)
    elif args.all:
        pairs = pairs_in_datadir(datadir, args.timeframe)
        if not pairs:
            raise InputError(
                f"--all: no {args.timeframe} futures candles in {str(datadir)!r}; download some "
                "with freqtrade download-data, or choose another --timeframe"
            )
    else:
        pairs = [args.pair]
    return list(dict.fromkeys(pairs))  # each pair once (two tasks must not write one file)


def run(args: argparse.Namespace) -> int:
    """Run ``liq-indicator features`` with the parsed ``args``; returns the exit code (1 when
    some of several pairs failed, each named on stderr).
    """
    from liq_indicator.columns import markdown_table

    if args.doc:
        print("# Feature columns\n")
        print(
            "Every column `liquidation_features` adds (default `HeatmapConfig`; names with a band or "
            "look-back change with the config). Each value at a candle is known at that candle's close.\n"
        )
        print(markdown_table())
        return 0
    from liq_indicator.errors import InputError

    if not args.datadir:
        raise InputError(
            "--datadir is required (a Freqtrade datadir such as user_data/data/binance)"
        )
    from liq_indicator.io.datadir import WRITERS
    from liq_indicator.io.paths import output_dir, output_file

    many = bool(args.pairs or args.pairs_file or args.all or args.output_dir)
    # checked before any computation: fail early
    if args.output and many:
        raise InputError(
            f"--output {args.output!r} names one file; for several pairs use --output-dir"
        )
    if args.output:
        output_file(args.output, "--output", suffixes=tuple(WRITERS))
    if args.output_dir:
        output_dir(args.output_dir, "--output-dir")
    dirs, exchanges = _datadirs(args)
    pairs = _pairs(args, dirs[0])
    cache = None
    if not args.no_cache and (many or args.cache_dir):
        from liq_indicator.io.cache import FeatureCache

        cache = FeatureCache.at(args.cache_dir)
    if args.output_dir:
        from liq_indicator.io.datadir import pair_stem
        from liq_indicator.io.paths import writing

        out_dir = Path(args.output_dir).expanduser()
        with writing(out_dir, "--output-dir"):
            out_dir.mkdir(parents=True, exist_ok=True)
        out_dir = out_dir.resolve()

    from liq_indicator.config import HeatmapConfig

    load_datadir_tiers(dirs, exchanges or ["binance"])

    def task(pair: str) -> PairTask:
        return PairTask(
            pair,
            args.timeframe,
            HeatmapConfig(exchange=exchanges[0] if exchanges else "binance", symbol=pair),
            tuple(dirs),
            tuple(exchanges[1:]),
            cache,
            out_dir / f"{pair_stem(pair)}-{args.timeframe}-features.feather"
            if args.output_dir
            else None,
        )

    if not many:  # one pair: its errors are the command's (exit 2)
        out, _ = pair_features(task(pairs[0]))
        print(f"note: {pairs[0]}: {inflow_note(inflow_share(out))}", file=sys.stderr)
        if args.output:
            from liq_indicator.io.datadir import write_frame

            write_frame(out, args.output)
            print(f"wrote {len(out)} rows x {out.shape[1]} columns to {args.output}")
        else:
            shown = out.set_index("date") if "date" in out.columns else out
            print(shown.filter(like="liq_").tail(5).T.to_string())  # columns: candle dates
        return 0
    return _run_many(args, pairs, task)


def _run_many(args: argparse.Namespace, pairs: list[str], task: Callable[[str], PairTask]) -> int:
    """Build the tasks (a pair without tiers fails here), run them, print one line per pair."""
    from liq_indicator.errors import ConfigError

    jobs = args.jobs if args.jobs is not None else (1 if args.backend == "loky" else -1)
    t0 = time.perf_counter()
    tasks, results = [], []
    for pair in pairs:
        try:
            tasks.append(task(pair))
        except ConfigError as exc:
            results.append(PairResult(pair, 0, 0, 0.0, "off", error=" ".join(str(exc).split())))
    failed = list(results)
    for r in failed:
        _report(r, args.timeframe)
    for r in compute_pairs(tasks, jobs=jobs, backend=args.backend):
        _report(r, args.timeframe)
        results.append(r)
    bad = [r for r in results if r.error is not None]
    hits = sum(r.cache == "hit" for r in results if r.error is None)
    print(
        f"{len(results)} pairs in {time.perf_counter() - t0:.2f} s (--jobs {jobs}, "
        f"{args.backend}): {len(results) - len(bad) - hits} computed, {hits} from the cache, "
        f"{len(bad)} failed"
    )
    return 1 if bad else 0


def _report(r: PairResult, timeframe: str) -> None:
    print(_summary(r, timeframe), flush=True)
    for message in r.warnings:
        print(f"liq-indicator features: {r.pair}: warning: {message}", file=sys.stderr)
    if r.error is not None:
        print(f"liq-indicator features: {r.pair}: error: {r.error}", file=sys.stderr)
