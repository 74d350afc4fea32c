"""Many pairs' features, in parallel through joblib, each on its own tiers, cached.

The engine of ``liq-indicator features --pairs/--all`` and of any study that needs several
pairs: :func:`compute_pairs` runs :func:`run_pair` for each :class:`PairTask` through joblib
(loky processes, or a Dask or Ray cluster through joblib's own backends); :func:`pair_features`
is one pair's frame, read back from the :class:`~liq_indicator.io.cache.FeatureCache` when the
settings, the code and the input files are unchanged.
"""

from __future__ import annotations

import time
import warnings
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import pandas as pd

    from liq_indicator.config import HeatmapConfig
    from liq_indicator.io.cache import CacheKey, FeatureCache

__all__ = [
    "BACKENDS",
    "PairResult",
    "PairTask",
    "compute_pairs",
    "inflow_note",
    "inflow_share",
    "load_datadir_tiers",
    "pair_features",
    "pairs_in_datadir",
    "read_pairs_file",
    "run_pair",
]

#: the joblib backends accepted, and what each needs installed
BACKENDS = {"loky": "", "dask": 'pip install "dask[distributed]"', "ray": 'pip install "ray"'}


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

    File names are turned back into pairs by :func:`~liq_indicator.io.datadir.pair_from_stem`
    (``BTC_USDT_USDT`` -> ``BTC/USDT:USDT``), in the order of the file names.

    Raises:
        InputError: when the datadir cannot be read.
    """
    from liq_indicator.io.datadir import existing_dir, pair_from_stem, parse_data_file
    from liq_indicator.io.paths import is_folder

    folder = existing_dir(datadir) / "futures"
    if not is_folder(folder, "datadir"):
        return []
    files = (parse_data_file(p.name) for p in folder.iterdir())
    wanted = ("futures", timeframe, ".feather")
    stems = sorted(f.stem for f in files if f and (f.candle_type, f.timeframe, f.suffix) == wanted)
    return [pair_from_stem(s) for s in stems]


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
