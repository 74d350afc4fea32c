"""Reading and writing data in Freqtrade's datadir layout (feather files only; nothing is unpickled).

A datadir of one exchange looks like ``user_data/data/binance/futures/BTC_USDT_USDT-5m-futures.feather``
with sibling candle types ``mark``, ``funding_rate`` and ``open_interest``.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np
import pandas as pd

from liq_indicator.core.inputs import utc_us
from liq_indicator.errors import InputError
from liq_indicator.io.ohlcv import resample_ohlcv
from liq_indicator.io.paths import (
    input_dir,
    input_file,
    is_folder,
    is_present,
    output_file,
    reading,
    writing,
)
from liq_indicator.io.timeframes import TIMEFRAME_PATTERN, timeframe_seconds

__all__ = [
    "DataFile",
    "PairData",
    "pair_stem",
    "pair_from_stem",
    "pair_file",
    "parse_data_file",
    "load_pair",
    "read_candles",
    "write_frame",
    "existing_dir",
    "resolve_datadir",
    "datadir_pairs",
    "futures_pair",
    "download_command",
    "epoch_ms",
    "timestamp_ms",
]

# the timeframes tried, in order, for side series whose timeframe differs from the candles'
_SIDE_TIMEFRAMES = ("5m", "15m", "1h", "4h", "8h", "1d")


def existing_dir(path: str | Path, what: str = "datadir") -> Path:
    """``path`` as a resolved, readable directory, or an InputError saying what is wrong."""
    return input_dir(path, what)


#: the characters freqtrade.misc.pair_to_filename turns into "_"
_FILENAME_CHARS = ("/", " ", ".", "@", "$", "+", ":")


def pair_stem(pair: str) -> str:
    """Freqtrade's file-name form of a pair: ``BTC/USDT:USDT`` -> ``BTC_USDT_USDT``.

    Freqtrade's own ``freqtrade.misc.pair_to_filename`` when Freqtrade is installed; without it
    the same rule (tests/test_io.py checks that both agree on every pair of Freqtrade's Binance
    leverage-tier file).
    """
    try:
        from freqtrade.misc import pair_to_filename
    except ImportError:
        for ch in _FILENAME_CHARS:
            pair = pair.replace(ch, "_")
        return pair
    return pair_to_filename(pair)


def pair_from_stem(stem: str, candle_type: str = "futures") -> str:
    """The pair a Freqtrade file stem names, the inverse of :func:`pair_stem`: ``BTC_USDT_USDT``
    -> ``BTC/USDT:USDT`` and ``1000PEPE_USDT_USDT`` -> ``1000PEPE/USDT:USDT`` (futures),
    ``BTC_USDT`` -> ``BTC/USDT`` (spot).

    The quote and settlement currencies are the last two parts (neither holds a ``_``), so a base
    whose ``_`` came from another character stays whole (``1000_PEPE_USDT_USDT`` ->
    ``1000_PEPE/USDT:USDT``; Freqtrade's own ``rebuild_pair_from_filename`` would split it as
    ``1000/PEPE:USDT_USDT``). A futures stem of two parts is read as ``BASE/QUOTE``; a stem
    without a ``_`` is returned as it is. ``pair_stem(pair_from_stem(stem)) == stem`` for every
    stem :func:`pair_stem` writes.
    """
    parts = stem.split("_")
    if candle_type != "spot" and len(parts) >= 3:
        return f"{'_'.join(parts[:-2])}/{parts[-2]}:{parts[-1]}"
    if len(parts) >= 2:
        return f"{'_'.join(parts[:-1])}/{parts[-1]}"
    return stem


# a data file of Freqtrade's layout: ``<stem>-<timeframe>-<candle type>`` under ``futures/``,
# spot candles ``<stem>-<timeframe>`` without a type (a ``-spot`` suffix is read too)
_DATA_FILE = re.compile(
    rf"^(?P<stem>.+)-(?P<tf>{TIMEFRAME_PATTERN})"
    r"(?:-(?P<kind>futures|spot|mark|index|premiumIndex|funding_rate|open_interest))?"
    r"(?P<suffix>\.feather|\.parquet)$"
)


class DataFile(NamedTuple):
    """The parts of a data file's name in Freqtrade's layout (see :func:`parse_data_file`)."""

    stem: str
    """The pair as :func:`pair_stem` writes it (``BTC_USDT_USDT``)."""
    timeframe: str
    """Freqtrade's timeframe (``5m``)."""
    candle_type: str
    """``futures``, ``spot``, ``mark``, ``index``, ``premiumIndex``, ``funding_rate`` or
    ``open_interest``."""
    suffix: str
    """``.feather`` or ``.parquet``."""


def parse_data_file(name: str) -> DataFile | None:
    """The parts of a file name ``<stem>-<timeframe>-<candle type>.<feather|parquet>``
    (``BTC_USDT_USDT-5m-futures.feather``), or of a spot one, ``<stem>-<timeframe>.<suffix>``
    (candle type ``spot``); None for any other name.
    """
    match = _DATA_FILE.match(name)
    if match is None:
        return None
    return DataFile(match["stem"], match["tf"], match["kind"] or "spot", match["suffix"])


#: quote currencies recognised in a pair written without a separator (``BTCUSDT``)
_QUOTES = ("USDT", "USDC", "BUSD", "FDUSD", "USD")


def _holds_candles(folder: Path) -> bool:
    """Whether ``folder`` is one exchange's datadir: a ``futures/`` folder or feather files in it."""
    if is_folder(folder / "futures", "datadir"):
        return True
    try:
        return any(p.suffix == ".feather" for p in folder.iterdir())
    except OSError:  # unreadable: input_dir names it when the datadir is used
        return False


def resolve_datadir(path: str | Path, exchange: str | None = None) -> Path:
    """The datadir of one exchange, from what a user may pass as ``--datadir``.

    Accepted: the exchange's own folder (``user_data/data/binance``, holding ``futures/``); the
    folder of exchange folders (``user_data/data``, as Freqtrade's ``datadir`` setting may name
    it); or the user data dir (``user_data``). Below the last two the exchange's folder is
    ``exchange`` when given, else the only exchange folder there, else ``binance``.

    Args:
        path: the folder given.
        exchange: the exchange whose folder to pick below a parent folder (case-insensitive).

    Returns:
        The folder to read; ``path`` itself when nothing below it fits (reading it then says what
        is missing).

    Raises:
        InputError: when a parent folder holds several exchange folders and ``exchange`` is None
            and none is ``binance`` (the message lists them), or a folder cannot be searched.
    """
    root = Path(path).expanduser()
    if not is_folder(root, "datadir") or _holds_candles(root):
        return root
    if exchange is None and is_folder(root / "data", "datadir") and not is_folder(root / "binance"):
        return resolve_datadir(root / "data", exchange)  # a user data dir
    if exchange is not None:
        nested = root / exchange.lower()
        if is_folder(nested, "datadir"):
            return nested
        if is_folder(root / "data" / exchange.lower(), "datadir"):
            return root / "data" / exchange.lower()
        return root
    try:
        children = sorted(p for p in root.iterdir() if p.is_dir() and _holds_candles(p))
    except OSError:
        return root
    if len(children) == 1:
        return children[0]
    if any(p.name == "binance" for p in children):
        return root / "binance"
    if children:
        names = ", ".join(p.name for p in children)
        raise InputError(
            f"{root} holds the data of several exchanges ({names}); pass one of them as "
            f"--datadir, e.g. {children[0]}"
        )
    return root


def datadir_pairs(datadir: str | Path) -> dict[str, tuple[str, ...]]:
    """The pairs whose candles ``datadir`` holds (futures, then spot), each with its timeframes
    (finest first); empty when the folder cannot be listed.
    """
    root = Path(datadir)
    found: dict[str, set[str]] = {}
    for folder, kind in ((root / "futures", "futures"), (root, "spot")):
        try:
            names = [p.name for p in folder.iterdir()]
        except OSError:
            continue
        for name in names:
            file = parse_data_file(name)
            if file and file.suffix == ".feather" and file.candle_type == kind:
                pair = pair_from_stem(file.stem, kind)
                found.setdefault(pair, set()).add(file.timeframe)

    def seconds(tf: str) -> float:
        return float("inf") if tf.endswith("M") else timeframe_seconds(tf)

    return {p: tuple(sorted(tfs, key=seconds)) for p, tfs in sorted(found.items())}


def _key(text: str) -> str:
    return re.sub(r"[^A-Z0-9]", "", text.upper())


def _similar_pairs(pair: str, known: list[str]) -> list[str]:
    """Pairs of ``known`` that ``pair`` probably meant: the same letters once separators and the
    settlement currency are left out (``BTC/USDT`` and ``btcusdt`` -> ``BTC/USDT:USDT``).
    """
    want = _key(pair)
    return [p for p in known if p != pair and want in (_key(p), _key(p.split(":")[0]))]


def futures_pair(pair: str) -> str:
    """Freqtrade's USDT-M perpetual spelling of ``pair``: ``BTC/USDT`` and ``BTCUSDT`` ->
    ``BTC/USDT:USDT`` (unchanged when it already names a settlement currency or is not understood).
    """
    text = pair.strip().upper()
    if ":" in text:
        return pair
    if "/" in text:
        base, _, quote = text.partition("/")
        return f"{base}/{quote}:{quote}" if base and quote else pair
    for quote in _QUOTES:
        if text.endswith(quote) and len(text) > len(quote) and text.isalnum():
            return f"{text[: -len(quote)]}/{quote}:{quote}"
    return pair


def download_command(pair: str, timeframe: str, exchange: str | None = None) -> str:
    """The ``freqtrade download-data`` command that fetches what the map reads for ``pair``."""
    where = f"--exchange {exchange} " if exchange else ""
    return (
        f"freqtrade download-data {where}--trading-mode futures --pairs {futures_pair(pair)} "
        f"--timeframes {timeframe} --candle-types futures mark funding_rate open_interest"
    )


def pair_file(datadir: str | Path, pair: str, timeframe: str, candle_type: str = "futures") -> Path:
    """Where Freqtrade keeps ``pair``'s ``candle_type`` candles of ``timeframe`` in ``datadir``:
    ``futures/<stem>-<timeframe>-<candle type>.feather``, spot ``<stem>-<timeframe>.feather``.
    """
    stem = pair_stem(pair)
    if candle_type == "spot":
        return Path(datadir) / f"{stem}-{timeframe}.feather"
    return Path(datadir) / "futures" / f"{stem}-{timeframe}-{candle_type}.feather"


def epoch_ms(dates: Any) -> np.ndarray:
    """Milliseconds since the epoch (int64, floored) of datetimes (a Series, an index or a list;
    naive ones taken as UTC): the timestamps of Binance's API and of recorded events.
    """
    return utc_us(dates).as_unit("ms").asi8


def timestamp_ms(when: Any) -> int:
    """:func:`epoch_ms` of one datetime (anything ``pd.Timestamp`` takes: ``"2024-01-01"``)."""
    return int(epoch_ms([pd.Timestamp(when)])[0])


def read_candles(path: str | Path) -> pd.DataFrame:
    """A Freqtrade feather file as a frame with a UTC ``date`` column.

    Raises:
        InputError: when the file is missing, not a regular readable file, not a feather file
            (truncated or corrupt), or has no ``date`` column.
    """
    p = Path(path)
    if p.suffix != ".feather":
        raise InputError(
            f"{p} is not a .feather file; liq-indicator reads Freqtrade's feather layout"
        )
    input_file(p, "candle file")
    with reading(p, "candle file"):
        df = pd.read_feather(p)
    if "date" not in df.columns:
        raise InputError(f"{p} has no 'date' column; is it a Freqtrade candle file?")
    try:
        df["date"] = pd.to_datetime(df["date"], utc=True).dt.as_unit("us")
    except (TypeError, ValueError) as exc:
        raise InputError(
            f"{p}: column 'date' cannot be read as datetimes ({exc}); download the "
            "file again with freqtrade download-data"
        ) from exc
    return df


@dataclass(frozen=True)
class PairData:
    """Candles of one pair with whatever side series the datadir holds (None when absent).

    Attributes:
        candles: the futures candles of the timeframe asked for.
        open_interest: open-interest candles (at the first timeframe found), with the taker
            ratio merged when ``import-oi`` wrote one.
        mark: mark-price candles of the same timeframe.
        funding: funding-rate candles.
        notes: what a command should tell its user about this data: the inflow mode, and a
            timeframe built from finer candles.
    """

    candles: pd.DataFrame
    open_interest: pd.DataFrame | None
    mark: pd.DataFrame | None
    funding: pd.DataFrame | None
    notes: tuple[str, ...] = ()

    @property
    def inflow_mode(self) -> str:
        """``"open interest"`` when the map's new positions come from open interest, else
        ``"volume"`` (no open-interest file, or none with a positive value).
        """
        oi = self.open_interest
        if oi is not None:
            for column in ("open_interest_value", "open_interest_amount"):
                if column in oi.columns and (pd.to_numeric(oi[column], errors="coerce") > 0).any():
                    return "open interest"
        return "volume"


def _first_existing(datadir: Path, pair: str, candle_type: str, first: str) -> Path | None:
    for tf in (first, *_SIDE_TIMEFRAMES):
        path = pair_file(datadir, pair, tf, candle_type)
        if is_present(path, "candle file"):
            return path
    return None


def _missing_candles(root: Path, pair: str, timeframe: str, path: Path) -> InputError:
    """The error for a pair's missing candle file: the pair meant, the timeframes there are, and
    the download command (with Freqtrade's spelling of the pair).
    """
    known = datadir_pairs(root)
    similar = _similar_pairs(pair, list(known))
    if similar:
        listed = " or ".join(similar)
        have = ", ".join(known[similar[0]])
        return InputError(
            f"no candles for {pair} in {root}; did you mean {listed}? (Freqtrade names "
            f"USDT-M futures BASE/QUOTE:SETTLE; it has {have} candles there)"
        )
    if pair in known:
        return InputError(
            f"no {timeframe} candles for {pair} at {path}, and none finer that divide "
            f"{timeframe}: the datadir holds {', '.join(known[pair])}; pass one of them as "
            f"--timeframe, or download {timeframe} with `{download_command(pair, timeframe)}`"
        )
    there = f" (it holds {', '.join(known)})" if known else ""
    return InputError(
        f"no {timeframe} candles for {pair} at {path}{there}; download them with "
        f"`{download_command(pair, timeframe)}` or run `liq-indicator simulate`"
    )


def _finer_source(root: Path, pair: str, timeframe: str, candle_type: str) -> Path | None:
    """The coarsest existing ``candle_type`` file of ``pair`` whose timeframe divides ``timeframe``
    (what the candles of ``timeframe`` can be built from), or None.
    """
    if timeframe.endswith("M"):
        return None
    want = timeframe_seconds(timeframe)
    for tf in reversed(datadir_pairs(root).get(pair, ())):
        if tf.endswith("M"):
            continue
        seconds = timeframe_seconds(tf)
        path = pair_file(root, pair, tf, candle_type)
        if seconds < want and want % seconds == 0 and is_present(path, "candle file"):
            return path
    return None


def _resampled(path: Path, timeframe: str) -> pd.DataFrame:
    """The candles of ``path`` aggregated to ``timeframe`` (epoch-anchored, as exchanges do); the
    last period is left out when the file ends before it closes.
    """
    fine = read_candles(path)
    per = pd.Timedelta(seconds=timeframe_seconds(timeframe))
    out = resample_ohlcv(fine, per, origin="epoch")
    if len(fine) > 1 and len(out):
        step = fine["date"].iloc[-1] - fine["date"].iloc[-2]
        if out["date"].iloc[-1] + per > fine["date"].iloc[-1] + step:
            out = out.iloc[:-1]
    return out.reset_index(drop=True)


def load_pair(datadir: str | Path, pair: str, timeframe: str, *, resample: bool = True) -> PairData:
    """Load ``pair``'s futures candles and its mark, funding and open-interest series.

    When there is no file of ``timeframe`` but one of a finer timeframe that divides it (5m for a
    15m request), the candles (and mark candles) are built from it by
    :func:`~liq_indicator.io.ohlcv.resample_ohlcv`, as the offline exchange serves them, and
    ``notes`` says so; ``resample=False`` refuses instead.

    Raises:
        InputError: when the datadir or the candle file is missing. The message names the pair
            meant when the datadir holds it under Freqtrade's spelling (``BTC/USDT`` ->
            ``BTC/USDT:USDT``), the timeframes it does hold, and the download command.
    """
    root = existing_dir(datadir)
    path = pair_file(root, pair, timeframe)
    notes: list[str] = []
    if is_present(path, "candle file"):
        candles = read_candles(path)
    else:
        source = _finer_source(root, pair, timeframe, "futures") if resample else None
        if source is None:
            raise _missing_candles(root, pair, timeframe, path)
        candles = _resampled(source, timeframe)
        notes.append(
            f"{pair}: no {timeframe} candle file; {timeframe} candles built from {source.name}"
        )
    side = {
        kind: _first_existing(root, pair, kind, timeframe)
        for kind in ("open_interest", "mark", "funding_rate")
    }
    mark_path = pair_file(root, pair, timeframe, "mark")
    if is_present(mark_path, "candle file"):
        mark = read_candles(mark_path)
    else:
        mark_source = _finer_source(root, pair, timeframe, "mark") if notes else None
        mark = _resampled(mark_source, timeframe) if mark_source is not None else None
    open_interest = read_candles(side["open_interest"]) if side["open_interest"] else None
    taker_path = side["open_interest"] and side["open_interest"].with_name(
        side["open_interest"].name.replace("-open_interest.", "-taker_ratio.")
    )
    if open_interest is not None and taker_path and is_present(taker_path, "candle file"):
        # written by `liq-indicator import-oi` beside the OI candles, on the same dates
        taker = read_candles(taker_path)
        open_interest = open_interest.merge(
            taker[["date", "taker_long_short_ratio"]], on="date", how="left"
        )
    data = PairData(
        candles=candles,
        open_interest=open_interest,
        mark=mark,
        funding=read_candles(side["funding_rate"]) if side["funding_rate"] else None,
    )
    if data.inflow_mode == "open interest":
        assert side["open_interest"] is not None
        oi_dates = open_interest["date"] if open_interest is not None else candles["date"]
        notes.append(
            f"{pair}: inflow from open interest ({side['open_interest'].name}, "
            f"{oi_dates.iloc[0]:%Y-%m-%d} .. {oi_dates.iloc[-1]:%Y-%m-%d}; volume mode outside it)"
        )
    else:
        why = (
            "its open interest holds no positive value"
            if side["open_interest"]
            else ("no open-interest file")
        )
        notes.append(f"{pair}: inflow from volume ({why}; new positions = volume x volume_share)")
    return PairData(data.candles, data.open_interest, data.mark, data.funding, tuple(notes))


#: the formats write_frame writes, by extension
WRITERS: dict[str, Callable[[pd.DataFrame, Path], object]] = {
    ".feather": lambda df, p: df.reset_index(drop=True).to_feather(p),
    ".parquet": lambda df, p: df.to_parquet(p),
    ".csv": lambda df, p: df.to_csv(p, index=False),
}


def write_frame(df: pd.DataFrame, path: str | Path) -> Path:
    """Write ``df`` as .feather, .parquet or .csv (by extension); the parent must exist.

    Raises:
        InputError: when ``path`` has another extension, is a folder, or its folder is missing
            or not writable.
    """
    p = output_file(path, "output", suffixes=tuple(WRITERS))
    with writing(p, "output"):
        WRITERS[p.suffix](df, p)
    return p
