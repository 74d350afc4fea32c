"""Reading and writing data in Freqtrade's datadir layout (feather files only; nothing is unpickled).

A datadir of one exchange looks like ``user_data/data/binance/futures/BTC_USDT_USDT-5m-futures.feather``
with sibling candle types ``mark``, ``funding_rate`` and ``open_interest``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from liq_indicator.errors import InputError
from liq_indicator.io.paths import input_dir, input_file, is_present, output_file, reading, writing

__all__ = [
    "PairData",
    "pair_stem",
    "pair_file",
    "load_pair",
    "read_candles",
    "write_frame",
    "existing_dir",
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


def pair_file(datadir: str | Path, pair: str, timeframe: str, candle_type: str = "futures") -> Path:
    """Where Freqtrade keeps ``pair``'s ``candle_type`` candles of ``timeframe`` in ``datadir``."""
    stem = pair_stem(pair)
    sub = "futures" if ":" in pair or candle_type != "spot" else ""
    return Path(datadir) / sub / f"{stem}-{timeframe}-{candle_type}.feather"


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
    """Candles of one pair with whatever side series the datadir holds (None when absent)."""

    candles: pd.DataFrame
    open_interest: pd.DataFrame | None
    mark: pd.DataFrame | None
    funding: pd.DataFrame | None


def _first_existing(datadir: Path, pair: str, candle_type: str, first: str) -> Path | None:
    for tf in (first, *_SIDE_TIMEFRAMES):
        path = pair_file(datadir, pair, tf, candle_type)
        if is_present(path, "candle file"):
            return path
    return None


def load_pair(datadir: str | Path, pair: str, timeframe: str) -> PairData:
    """Load ``pair``'s futures candles and its mark, funding and open-interest series.

    Raises:
        InputError: when the datadir or the candle file is missing (the message says how to get it).
    """
    root = existing_dir(datadir)
    path = pair_file(root, pair, timeframe)
    if not is_present(path, "candle file"):
        raise InputError(
            f"no {timeframe} candles for {pair} at {path}; download them with `freqtrade download-data "
            f"--trading-mode futures --pairs {pair} --timeframes {timeframe} --candle-types futures mark "
            "funding_rate open_interest` or run `liq-indicator simulate`"
        )
    side = {
        kind: _first_existing(root, pair, kind, timeframe)
        for kind in ("open_interest", "mark", "funding_rate")
    }
    mark_path = pair_file(root, pair, timeframe, "mark")
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
    return PairData(
        candles=read_candles(path),
        open_interest=open_interest,
        mark=read_candles(mark_path) if is_present(mark_path, "candle file") else None,
        funding=read_candles(side["funding_rate"]) if side["funding_rate"] else None,
    )


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
