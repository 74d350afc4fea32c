"""``liq-indicator features``: the liq_ columns of one pair, or of many pairs in parallel, from a
Freqtrade datadir.

One pair (``--pair``) prints the last rows or writes ``--output``. Several pairs (``--pairs``,
``--pairs-file``, ``--all``) run through joblib: ``--jobs N`` local processes (loky), or a Dask
or Ray cluster through joblib's own backends (``--backend dask|ray``). Each pair uses its own
maintenance-margin tiers (``HeatmapConfig(symbol=pair)``); a pair that fails (no candles, no
tiers, bad data) is reported and the others carry on, and the exit code is 1. Results are cached
(:mod:`liq_indicator.io.cache`): a second run with the same settings and candles reads them back.
"""

from __future__ import annotations

import argparse
import sys
import time
import warnings
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from liq_indicator.config import DEFAULT_PAIR
from liq_indicator.io.argtypes import timeframe

if TYPE_CHECKING:
    import pandas as pd

    from liq_indicator.config import HeatmapConfig
    from liq_indicator.io.cache import CacheKey, FeatureCache

__all__ = [
    "BACKENDS",
    "PairTask",
    "PairResult",
    "compute_pairs",
    "load_datadir_tiers",
    "pair_features",
    "pairs_in_datadir",
    "read_pairs_file",
    "run_pair",
]

#: the joblib backends ``--backend`` accepts, and what each needs installed
BACKENDS = {"loky": "", "dask": 'pip install "dask[distributed]"', "ray": 'pip install "ray"'}


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


# ------------------------------------------------------------------------------------------------
# one pair


@dataclass(frozen=True)
class PairTask:
    """Everything a worker needs to compute one pair (picklable, with absolute paths).

    Attributes:
        pair: Freqtrade pair, e.g. ``ETH/USDT:USDT``.
        timeframe: candle timeframe, e.g. ``5m``.
        config: the model settings (``symbol`` the pair's own tier table).
        datadirs: the reference exchange's datadir first, then the other venues'.
        venues: exchange names of ``datadirs[1:]`` (empty for one exchange).
        cache: where results are cached, or None.
        output: the feather file to write, or None.
    """

    pair: str
    timeframe: str
    config: HeatmapConfig
    datadirs: tuple[Path, ...]
    venues: tuple[str, ...] = ()
    cache: FeatureCache | None = None
    output: Path | None = None


@dataclass(frozen=True)
class PairResult:
    """What happened to one pair.

    Attributes:
        pair: the pair.
        rows: rows of its features (0 when it failed).
        columns: columns of its features.
        seconds: wall-clock seconds in the worker (loading, computing or reading the cache, writing).
        cache: ``"hit"``, ``"miss"`` or ``"off"``.
        output: the file written, or None.
        error: the message of the error that stopped it, or None.
        warnings: the data warnings raised while computing it (workers cannot show them).
    """

    pair: str
    rows: int
    columns: int
    seconds: float
    cache: str
    output: Path | None = None
    error: str | None = None
    oi_share: float = float("nan")
    """Share of candles whose inflow came from open interest (the rest: the volume rule)."""
    warnings: tuple[str, ...] = ()


def _cache_key(task: PairTask) -> CacheKey:
    from liq_indicator.io.cache import CacheKey, input_fingerprint, settings_hash

    settings = {
        "config": task.config.to_dict(),
        "timeframe": task.timeframe,
        "datadirs": [str(d) for d in task.datadirs],
        "venues": list(task.venues),
    }
    return CacheKey(
        task.pair,
        task.timeframe,
        settings_hash(settings),
        input_fingerprint(task.datadirs, task.pair),
    )


def load_datadir_tiers(datadirs: Sequence[Path], exchanges: Sequence[str]) -> None:
    """Register the tiers cached in each datadir by ``liq-indicator tiers`` (Freqtrade's
    ``futures/leverage_tiers_<stake>.json``) for its exchange, in this process; a datadir without
    such a file keeps the shipped tiers.

    Raises:
        InputError: a broken tier cache. ConfigError: unusable tiers in it.
    """
    from liq_indicator.io.paths import is_present
    from liq_indicator.io.tiers import cache_path, load_tiers, settle_currency

    for datadir, exchange in zip(datadirs, exchanges, strict=True):
        if is_present(cache_path(datadir, settle_currency(exchange)), "tier cache"):
            load_tiers(datadir, exchange)


def _compute(task: PairTask) -> pd.DataFrame:
    from liq_indicator.estimator import Venue, liquidation_features
    from liq_indicator.io.datadir import load_pair

    # a worker is a fresh process: the datadirs' tier caches are registered here again
    load_datadir_tiers(task.datadirs, (task.config.exchange, *task.venues))
    data = [load_pair(d, task.pair, task.timeframe) for d in task.datadirs]
    ref = data[0]
    venues = [
        Venue(e, d.candles, d.open_interest, d.mark, d.funding)
        for e, d in zip(task.venues, data[1:], strict=True)
    ]
    return liquidation_features(
        ref.candles,
        task.config,
        open_interest=ref.open_interest,
        mark=ref.mark,
        funding=ref.funding,
        venues=venues,
    )


def pair_features(task: PairTask) -> tuple[pd.DataFrame, str]:
    """The features of ``task.pair``, read from the cache when they are there.

    Returns:
        The frame and ``"hit"``, ``"miss"`` (computed and stored) or ``"off"`` (no cache).

    Raises:
        InputError: missing or unreadable candles, or an unreadable cache entry.
        ConfigError: no maintenance-margin tiers for the pair.
    """
    if task.cache is None:
        return _compute(task), "off"
    key = _cache_key(task)
    cached = task.cache.read(key)
    if cached is not None:
        return cached, "hit"
    frame = _compute(task)
    task.cache.put(key, frame)
    return frame, "miss"


def _feather_shape(path: Path) -> tuple[int, int]:
    """(rows, columns) of a feather file, from its record batches (memory-mapped, no frame built)."""
    import pyarrow as pa

    with pa.memory_map(str(path)) as source:
        reader = pa.ipc.open_file(source)
        rows = sum(reader.get_batch(i).num_rows for i in range(reader.num_record_batches))
        return rows, len(reader.schema)


def run_pair(task: PairTask) -> PairResult:
    """Compute (or read from the cache) one pair and write ``task.output``; never raises on bad
    input or settings: the error's message is returned in :attr:`PairResult.error`.
    """
    import shutil

    from liq_indicator.errors import LiqIndicatorError
    from liq_indicator.io.datadir import write_frame
    from liq_indicator.io.paths import writing

    t0 = time.perf_counter()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            hit = None
            if task.cache is not None:
                key = _cache_key(task)
                hit = task.cache.get(key)
            if hit is not None:  # a hit is copied, not parsed
                rows, columns = _feather_shape(hit)
                oi_share = _oi_share_of_file(hit)
                if task.output is not None:
                    with writing(task.output, "output"):
                        shutil.copyfile(hit, task.output)
                state = "hit"
            else:
                frame = _compute(task)
                if task.cache is not None:
                    task.cache.put(key, frame)
                if task.output is not None:
                    write_frame(frame, task.output)
                rows, columns = frame.shape
                oi_share = inflow_share(frame)
                state = "off" if task.cache is None else "miss"
        except LiqIndicatorError as exc:
            return PairResult(
                task.pair,
                0,
                0,
                time.perf_counter() - t0,
                "off" if task.cache is None else "miss",
                error=" ".join(str(exc).split()),
                warnings=tuple(str(w.message) for w in caught),
            )
    return PairResult(
        task.pair,
        rows,
        columns,
        time.perf_counter() - t0,
        state,
        output=task.output,
        warnings=tuple(str(w.message) for w in caught),
        oi_share=oi_share,
    )


# ------------------------------------------------------------------------------------------------
# many pairs


@contextmanager
def _parallel(backend: str, jobs: int) -> Iterator[None]:
    """Joblib's ``parallel_config`` for ``backend``; dask and ray connect to their cluster.

    Raises:
        InputError: when the backend's package is not installed (naming the pip command).
    """
    from joblib import parallel_config  # type: ignore[import-untyped]

    from liq_indicator.errors import InputError

    def missing(exc: ImportError) -> InputError:
        return InputError(
            f"--backend {backend} needs {backend} installed ({exc}): {BACKENDS[backend]}; "
            "or use --backend loky (local processes)"
        )

    if backend == "dask":
        try:
            from distributed import Client  # type: ignore[import-not-found, unused-ignore]
        except ImportError as exc:
            raise missing(exc) from None
        # the scheduler named by DASK_SCHEDULER_ADDRESS (dask config), else a local cluster
        with Client() as _client, parallel_config(backend="dask", n_jobs=jobs):
            yield
    elif backend == "ray":
        try:
            from ray.util.joblib import register_ray  # type: ignore[import-not-found, unused-ignore]
        except ImportError as exc:
            raise missing(exc) from None
        register_ray()  # ray.init() on first use: RAY_ADDRESS, else a local cluster
        with parallel_config(backend="ray", n_jobs=jobs):
            yield
    else:
        with parallel_config(backend="loky", n_jobs=jobs):
            yield


def compute_pairs(
    tasks: Sequence[PairTask], *, jobs: int = 1, backend: str = "loky"
) -> Iterator[PairResult]:
    """Run :func:`run_pair` on every task: cache hits here first (a copy each), then the rest
    through joblib, yielding their results in task order as they complete.

    Args:
        tasks: one per pair (distinct outputs).
        jobs: tasks run at once; -1 = every core (loky) or every worker (dask, ray). With loky,
            never more processes than tasks to compute, and one runs them in this process.
        backend: ``"loky"``, ``"dask"`` or ``"ray"`` (see :data:`BACKENDS`).

    Raises:
        InputError: an unknown backend, or one whose package is not installed.
    """
    from joblib import Parallel, cpu_count, delayed

    from liq_indicator.errors import InputError

    if backend not in BACKENDS:
        raise InputError(f"unknown backend {backend!r}; choose one of {', '.join(BACKENDS)}")
    with _parallel(backend, jobs):  # checks that the backend is there, even if all hit
        pending = []
        for task in tasks:
            if task.cache is not None and task.cache.get(_cache_key(task)) is not None:
                yield run_pair(task)  # starting a worker would cost more than the copy
            else:
                pending.append(task)
        if backend == "loky":
            jobs = min(cpu_count() if jobs == -1 else jobs, len(pending))
        if jobs == 1:
            yield from (run_pair(t) for t in pending)
        elif pending:
            calls = (delayed(run_pair)(t) for t in pending)
            # Ray's joblib backend cannot stream results: they arrive together at the end
            streamed = "list" if backend == "ray" else "generator"
            yield from Parallel(n_jobs=jobs, return_as=streamed)(calls)


def pairs_in_datadir(datadir: str | Path, timeframe: str) -> list[str]:
    """Every pair with futures candles of ``timeframe`` in ``datadir``, sorted.

    File names are turned back into pairs the way Freqtrade does (``BTC_USDT_USDT`` ->
    ``BTC/USDT:USDT``: the first ``_`` is the ``/``, the second the ``:``).

    Raises:
        InputError: when the datadir cannot be read.
    """
    from liq_indicator.io.datadir import existing_dir
    from liq_indicator.io.paths import is_folder

    folder = existing_dir(datadir) / "futures"
    if not is_folder(folder, "datadir"):
        return []
    suffix = f"-{timeframe}-futures.feather"
    stems = sorted(p.name[: -len(suffix)] for p in folder.iterdir() if p.name.endswith(suffix))
    return [s.replace("_", "/", 1).replace("_", ":", 1) for s in stems]


def read_pairs_file(path: str | Path) -> list[str]:
    """The pairs listed in ``path``: a JSON list of pairs (Freqtrade's ``--pairs-file``), a
    Freqtrade config (its ``exchange.pair_whitelist``), or text with one pair per line (blank
    lines and ``#`` comments skipped; commas and spaces also separate pairs).

    Raises:
        InputError: unreadable file, malformed JSON, or no pair in it.
    """
    import json

    from liq_indicator.errors import InputError
    from liq_indicator.io.paths import read_text

    text = read_text(path, "--pairs-file")
    stripped = text.lstrip()
    if stripped.startswith(("[", "{")):
        try:
            doc = json.loads(text)
        except json.JSONDecodeError as exc:
            raise InputError(f"--pairs-file {str(path)!r} is not valid JSON ({exc})") from None
        found = doc.get("exchange", {}).get("pair_whitelist") if isinstance(doc, dict) else doc
        if not (isinstance(found, list) and all(isinstance(p, str) for p in found)):
            raise InputError(
                f"--pairs-file {str(path)!r}: expected a JSON list of pairs or a Freqtrade "
                "config with exchange.pair_whitelist"
            )
        pairs = [p.strip() for p in found if p.strip()]
    else:
        lines = (line.split("#", 1)[0] for line in text.splitlines())
        pairs = [p for line in lines for p in line.replace(",", " ").split()]
    if not pairs:
        raise InputError(f"--pairs-file {str(path)!r} lists no pair")
    return pairs


def inflow_share(frame: pd.DataFrame) -> float:
    """Share of ``frame``'s candles whose inflow came from open interest (``liq_oi_mode``)."""
    if "liq_oi_mode" not in frame.columns or len(frame) == 0:
        return float("nan")
    return float(frame["liq_oi_mode"].mean())


def _oi_share_of_file(path: Path) -> float:
    import pyarrow.feather as pf

    try:
        return inflow_share(pf.read_table(path, columns=["liq_oi_mode"]).to_pandas())
    except (KeyError, ValueError, OSError):  # an entry from before the column: unknown
        return float("nan")


def inflow_note(oi_share: float) -> str:
    """Which inflow mode ran, in words: what every command says once per pair."""
    if oi_share != oi_share:
        return "inflow unknown"
    if oi_share <= 0:
        return "inflow from volume (no open interest)"
    if oi_share >= 1:
        return "inflow from open interest"
    return f"inflow from open interest on {oi_share:.0%} of candles, volume elsewhere"


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
