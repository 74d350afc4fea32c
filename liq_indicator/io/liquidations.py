"""Recorded liquidations on disk: raw events by day, 1m candles beside Freqtrade's, and loaders.

Layout, inside one exchange's Freqtrade datadir (``user_data/data/binance``):

* ``futures/<PAIR>-1m-liquidations.feather`` (e.g. ``BTC_USDT_USDT-1m-liquidations.feather``),
  next to the candles: one row per minute **with at least one liquidation** (a minute without a
  row was either recorded and quiet, or not recorded: see the gaps file). Columns
  (:data:`MINUTE_COLUMNS`): ``date`` (minute start, UTC), ``long_usd``/``short_usd`` (USD of long
  / short positions force-closed), ``long_count``/``short_count``, ``long_amount``/
  ``short_amount`` (base currency), ``long_vwap``/``short_vwap`` (USD-weighted price),
  ``long_high``/``long_low``/``short_high``/``short_low`` (NaN for a side without events).
* ``liquidations/date=YYYY-MM-DD/*.parquet``: the raw events (:data:`EVENT_COLUMNS`), one part
  file per flush, merged into one file per day once the day is over (:func:`compact_day`).
* ``liquidations/gaps.csv``: the periods the recorder knows it missed (``start``, ``end``,
  ``pair`` or ``*``, ``reason``).

Every write goes to a temporary file renamed over the target (a reader never sees half a file),
part files are named by their content (writing the same batch twice writes one file), and the
minute rows are recomputed from the raw events (:func:`rebuild_minutes`), never added to, so
re-running a flush after a crash changes nothing. Readers drop duplicate events.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterable
from pathlib import Path

import numpy as np
import pandas as pd

from liq_indicator.core.inputs import utc_timestamp
from liq_indicator.errors import InputError
from liq_indicator.io.datadir import pair_file, pair_from_stem, timestamp_ms
from liq_indicator.io.paths import input_file, reading, writing
from liq_indicator.io.timeframes import timeframe_seconds

__all__ = [
    "EVENT_COLUMNS",
    "GAP_COLUMNS",
    "MINUTE_COLUMNS",
    "aggregate_minutes",
    "append_gaps",
    "compact_day",
    "events_frame",
    "liquidations_file",
    "load_gaps",
    "load_liquidations",
    "raw_dir",
    "read_events",
    "rebuild_minutes",
    "resample_liquidations",
    "write_events",
]

_MINUTE_MS = 60_000
_DAY_MS = 86_400_000

#: Raw event columns: ``ts`` (exchange time, ms since the epoch, UTC), ``exchange``, ``pair``
#: (ccxt symbol, ``BTC/USDT:USDT``), ``side`` (the position liquidated: ``long``/``short``),
#: ``price``, ``amount`` (base currency), ``usd`` (price x amount), ``received`` (local ms).
EVENT_COLUMNS = ("ts", "exchange", "pair", "side", "price", "amount", "usd", "received")
#: What makes two events the same one (a resent or re-read event is kept once).
_EVENT_KEY = ["ts", "exchange", "pair", "side", "price", "amount"]
#: The columns of a ``*-1m-liquidations.feather`` file.
MINUTE_COLUMNS = (
    "date",
    "long_usd",
    "short_usd",
    "long_count",
    "short_count",
    "long_amount",
    "short_amount",
    "long_vwap",
    "short_vwap",
    "long_high",
    "long_low",
    "short_high",
    "short_low",
)
_SUMS = ("long_usd", "short_usd", "long_count", "short_count", "long_amount", "short_amount")
#: The columns of ``liquidations/gaps.csv``.
GAP_COLUMNS = ("start", "end", "pair", "reason")


def liquidations_file(datadir: str | Path, pair: str) -> Path:
    """``<datadir>/futures/<PAIR>-1m-liquidations.feather``, beside ``pair``'s candles."""
    return pair_file(datadir, pair, "1m", "liquidations")


def raw_dir(datadir: str | Path) -> Path:
    """The folder of the raw events and the gaps file: ``<datadir>/liquidations``."""
    return Path(datadir) / "liquidations"


def events_frame(rows: Iterable[dict[str, object]] = ()) -> pd.DataFrame:
    """Event dicts (keys :data:`EVENT_COLUMNS`) as a frame with the stored dtypes."""
    frame = pd.DataFrame(list(rows), columns=list(EVENT_COLUMNS))
    return frame.astype(
        {
            "ts": "int64",
            "exchange": "str",
            "pair": "str",
            "side": "str",
            "price": "float64",
            "amount": "float64",
            "usd": "float64",
            "received": "int64",
        }
    )


def _atomic_write(path: Path, write: object, what: str) -> None:
    """Call ``write(tmp)`` then rename ``tmp`` over ``path`` (a reader sees old or new, not half)."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    with writing(path, what):
        path.parent.mkdir(parents=True, exist_ok=True)
        try:
            write(tmp)  # type: ignore[operator]
            os.replace(tmp, path)
        finally:
            tmp.unlink(missing_ok=True)


def _day_folder(datadir: str | Path, day_ms: int) -> Path:
    day = pd.Timestamp(day_ms, unit="ms").strftime("%Y-%m-%d")
    return raw_dir(datadir) / f"date={day}"


def write_events(datadir: str | Path, events: pd.DataFrame) -> list[Path]:
    """Store raw events as parquet, one part file per UTC day and hour they fall in.

    A part's name is the hash of its content, so writing the same batch again writes nothing new.

    Args:
        datadir: the exchange's datadir.
        events: rows of :data:`EVENT_COLUMNS` (see :func:`events_frame`).

    Returns:
        The part files written (or already present).

    Raises:
        InputError: the folder cannot be written (full disk, permissions).
    """
    if events.empty:
        return []
    ev = events_frame(events.to_dict("records")).sort_values(_EVENT_KEY, kind="stable")
    hour = ev["ts"] // 3_600_000
    written = []
    for h, part in ev.groupby(hour, sort=True):
        part = part.reset_index(drop=True)
        digest = hashlib.sha256(
            pd.util.hash_pandas_object(part, index=False).to_numpy().tobytes()
        ).hexdigest()[:16]
        hh = pd.Timestamp(int(h) * 3_600_000, unit="ms").strftime("%H")
        path = _day_folder(datadir, int(h) * 3_600_000) / f"part-{hh}-{digest}.parquet"
        if not path.exists():
            _atomic_write(path, lambda p, part=part: part.to_parquet(p, index=False), "events")
        written.append(path)
    return written


def _read_parquet(path: Path) -> pd.DataFrame:
    with reading(path, "liquidation events file"):
        return pd.read_parquet(path)


def read_events(
    datadir: str | Path, start_ms: int | None = None, end_ms: int | None = None
) -> pd.DataFrame:
    """The raw events with ``start_ms <= ts < end_ms`` (None: open), duplicates dropped, sorted.

    Only the day folders and hour parts that can hold such events are read.

    Raises:
        InputError: a part file cannot be read (it is named).
    """
    root = raw_dir(datadir)
    if not root.is_dir():
        return events_frame()
    lo_day = None if start_ms is None else start_ms // _DAY_MS * _DAY_MS
    hi_day = None if end_ms is None else end_ms
    frames = []
    for folder in sorted(root.glob("date=*")):
        try:
            day_ms = timestamp_ms(folder.name[5:])  # naive: UTC
        except ValueError:
            continue
        if (lo_day is not None and day_ms < lo_day) or (hi_day is not None and day_ms >= hi_day):
            continue
        for path in sorted(folder.glob("*.parquet")):
            if path.name.startswith("part-") and (start_ms is not None or end_ms is not None):
                h0 = day_ms + int(path.name[5:7]) * 3_600_000
                if (start_ms is not None and h0 + 3_600_000 <= start_ms) or (
                    end_ms is not None and h0 >= end_ms
                ):
                    continue
            frames.append(_read_parquet(path))
    if not frames:
        return events_frame()
    ev = events_frame(pd.concat(frames, ignore_index=True).to_dict("records"))
    if start_ms is not None:
        ev = ev[ev["ts"] >= start_ms]
    if end_ms is not None:
        ev = ev[ev["ts"] < end_ms]
    ev = ev.drop_duplicates(_EVENT_KEY).sort_values(["ts", *_EVENT_KEY[1:]], kind="stable")
    return ev.reset_index(drop=True)


def compact_day(datadir: str | Path, day: str | pd.Timestamp) -> Path | None:
    """Merge a finished day's part files into one ``day-<hash>.parquet`` (duplicates dropped).

    Safe to repeat and to interrupt: the merged file is in place before the parts are removed,
    and readers drop the duplicates in between. Returns the merged file, None for no events.
    """
    start = utc_timestamp(day).normalize()
    start_ms = timestamp_ms(start)
    folder = _day_folder(datadir, start_ms)
    files = sorted(folder.glob("*.parquet")) if folder.is_dir() else []
    if not files or (len(files) == 1 and files[0].name.startswith("day-")):
        return files[0] if files else None
    ev = read_events(datadir, start_ms, start_ms + _DAY_MS)
    digest = hashlib.sha256(
        pd.util.hash_pandas_object(ev, index=False).to_numpy().tobytes()
    ).hexdigest()[:16]
    target = folder / f"day-{digest}.parquet"
    _atomic_write(target, lambda p: ev.to_parquet(p, index=False), "events")
    for path in files:
        if path != target:
            path.unlink(missing_ok=True)
    return target


def aggregate_minutes(events: pd.DataFrame) -> pd.DataFrame:
    """One pair's events as 1m rows (:data:`MINUTE_COLUMNS`), minutes with events only.

    Args:
        events: rows of :data:`EVENT_COLUMNS` of one pair.

    Returns:
        Sorted by ``date`` (minute start, UTC, unit us); a side without events in a minute has
        0 USD, count and amount, and NaN prices.
    """
    if events.empty:
        return _empty_minutes()
    minute = (events["ts"].to_numpy(np.int64) // _MINUTE_MS) * _MINUTE_MS
    out = pd.DataFrame(index=pd.Index(np.unique(minute), name="minute"))
    for side in ("long", "short"):
        sel = (events["side"] == side).to_numpy()
        ev = pd.DataFrame(
            {
                "minute": minute[sel],
                "usd": events["usd"].to_numpy(np.float64)[sel],
                "amount": events["amount"].to_numpy(np.float64)[sel],
                "price": events["price"].to_numpy(np.float64)[sel],
            }
        )
        g = ev.groupby("minute")
        agg = pd.DataFrame(
            {
                f"{side}_usd": g["usd"].sum(),
                f"{side}_count": g["usd"].size().astype(np.int64),
                f"{side}_amount": g["amount"].sum(),
                f"{side}_high": g["price"].max(),
                f"{side}_low": g["price"].min(),
            }
        )
        out = out.join(agg)
        for col in (f"{side}_usd", f"{side}_amount"):
            out[col] = out[col].fillna(0.0)
        out[f"{side}_count"] = out[f"{side}_count"].fillna(0).astype(np.int64)
        with np.errstate(invalid="ignore", divide="ignore"):
            out[f"{side}_vwap"] = np.where(
                out[f"{side}_amount"] > 0, out[f"{side}_usd"] / out[f"{side}_amount"], np.nan
            )
    out = out.reset_index()
    out.insert(0, "date", pd.to_datetime(out.pop("minute"), unit="ms", utc=True).dt.as_unit("us"))
    return out[list(MINUTE_COLUMNS)]


def _empty_minutes() -> pd.DataFrame:
    frame = pd.DataFrame({c: pd.Series(dtype=np.float64) for c in MINUTE_COLUMNS})
    frame["date"] = pd.Series(pd.DatetimeIndex([], tz="UTC").as_unit("us"))
    for side in ("long", "short"):
        frame[f"{side}_count"] = frame[f"{side}_count"].astype(np.int64)
    return frame


def _read_minutes(path: Path) -> pd.DataFrame:
    input_file(path, "liquidations file")
    with reading(path, "liquidations file"):
        frame = pd.read_feather(path)
    missing = [c for c in MINUTE_COLUMNS if c not in frame.columns]
    if missing:
        raise InputError(
            f"{path} lacks the columns {missing}; it is not a file written by "
            "liq-indicator record (expected columns: " + ", ".join(MINUTE_COLUMNS) + ")"
        )
    frame["date"] = pd.to_datetime(frame["date"], utc=True).dt.as_unit("us")
    return frame[list(MINUTE_COLUMNS)]


def rebuild_minutes(datadir: str | Path, start_ms: int, end_ms: int) -> list[Path]:
    """Recompute the minute rows of ``[start_ms, end_ms)`` of every pair from the raw events.

    Rows of that period are replaced (a minute whose events vanished loses its row), rows outside
    it are kept; each file is rewritten atomically. Idempotent: running it twice writes the same.

    Returns:
        The minute files written.
    """
    lo = start_ms // _MINUTE_MS * _MINUTE_MS
    hi = -(-end_ms // _MINUTE_MS) * _MINUTE_MS
    ev = read_events(datadir, lo, hi)
    lo_t = pd.Timestamp(lo, unit="ms", tz="UTC")
    hi_t = pd.Timestamp(hi, unit="ms", tz="UTC")
    paths = []
    for pair in sorted(set(ev["pair"])):
        path = liquidations_file(datadir, pair)
        fresh = aggregate_minutes(ev[ev["pair"] == pair])
        if path.exists():
            old = _read_minutes(path)
            old = old[(old["date"] < lo_t) | (old["date"] >= hi_t)]
            fresh = pd.concat([old, fresh], ignore_index=True) if len(old) else fresh
        fresh = fresh.sort_values("date", kind="stable").reset_index(drop=True)
        _atomic_write(path, lambda p, f=fresh: f.to_feather(p), "liquidations file")
        paths.append(path)
    return paths


def append_gaps(datadir: str | Path, gaps: pd.DataFrame) -> Path:
    """Add periods the recorder missed to ``liquidations/gaps.csv`` (rewritten atomically).

    Args:
        datadir: the exchange's datadir.
        gaps: rows of :data:`GAP_COLUMNS`; ``start``/``end`` UTC timestamps, ``pair`` a pair or
            ``*`` (all pairs of the exchange).
    """
    path = raw_dir(datadir) / "gaps.csv"
    old = load_gaps(datadir)
    new = gaps[list(GAP_COLUMNS)].copy()
    for col in ("start", "end"):
        new[col] = pd.to_datetime(new[col], utc=True).dt.as_unit("us")
    both = pd.concat([old, new], ignore_index=True) if len(old) else new
    both = both.drop_duplicates(list(GAP_COLUMNS)).sort_values(["start", "pair"], kind="stable")
    _atomic_write(path, lambda p: both.to_csv(p, index=False), "gaps file")
    return path


def load_gaps(datadir: str | Path) -> pd.DataFrame:
    """The periods recorded as missed (:data:`GAP_COLUMNS`); empty when there is no gaps file."""
    path = raw_dir(datadir) / "gaps.csv"
    if not path.exists():
        frame = pd.DataFrame({c: pd.Series(dtype="str") for c in GAP_COLUMNS})
        for col in ("start", "end"):
            frame[col] = pd.Series(pd.DatetimeIndex([], tz="UTC").as_unit("us"))
        return frame
    with reading(path, "gaps file"):
        frame = pd.read_csv(path, dtype={"pair": "str", "reason": "str"})
    for col in ("start", "end"):
        frame[col] = pd.to_datetime(frame[col], utc=True, format="ISO8601").dt.as_unit("us")
    return frame[list(GAP_COLUMNS)]


def resample_liquidations(
    minutes: pd.DataFrame, timeframe: str, gaps: pd.DataFrame | None = None, pair: str = "*"
) -> pd.DataFrame:
    """Aggregate 1m liquidation rows into ``timeframe`` bars (indexed by bar start, UTC).

    Every bar from the first to the last row is present: bars without events hold zeros (the
    minute file has rows only for minutes with events). Bars that overlap a gap of ``pair`` (or
    of ``*``) hold NaN in every column: nothing is known there.

    Args:
        minutes: rows of :data:`MINUTE_COLUMNS`.
        timeframe: Freqtrade timeframe, e.g. ``"5m"``, ``"1h"``.
        gaps: rows of :data:`GAP_COLUMNS` (see :func:`load_gaps`); None: no gaps.
        pair: the pair the rows belong to, to pick its gaps.

    Returns:
        Columns as :data:`MINUTE_COLUMNS` without ``date``; sums for USD, counts and amounts,
        the USD-weighted price, max of highs and min of lows.
    """
    bar = pd.Timedelta(seconds=timeframe_seconds(timeframe))
    frame = minutes.set_index("date")
    starts = frame.index.floor(bar)
    g = frame.groupby(starts)
    out = g[list(_SUMS)].sum()
    for side in ("long", "short"):
        out[f"{side}_high"] = g[f"{side}_high"].max()
        out[f"{side}_low"] = g[f"{side}_low"].min()
        with np.errstate(invalid="ignore", divide="ignore"):
            out[f"{side}_vwap"] = np.where(
                out[f"{side}_amount"] > 0, out[f"{side}_usd"] / out[f"{side}_amount"], np.nan
            )
    if len(out):
        full = pd.date_range(out.index[0], out.index[-1], freq=bar, unit="us")
        out = out.reindex(full)
        out[list(_SUMS)] = out[list(_SUMS)].fillna(0.0)
    out.index.name = "date"
    for side in ("long", "short"):
        out[f"{side}_count"] = out[f"{side}_count"].astype(np.float64)
    if gaps is not None and len(gaps) and len(out):
        mine = gaps[(gaps["pair"] == pair) | (gaps["pair"] == "*")]
        for start, end in zip(mine["start"], mine["end"], strict=True):
            hit = (out.index < end) & (out.index + bar > start)
            out.loc[hit, :] = np.nan
    return out[[c for c in MINUTE_COLUMNS if c != "date"]]


def load_liquidations(
    path: str | Path, timeframe: str = "1m", *, pair: str | None = None, gaps: bool = True
) -> pd.DataFrame:
    """Read recorded liquidations at ``timeframe``.

    Args:
        path: a ``*-1m-liquidations.feather`` file, or an exchange's datadir (then ``pair`` names
            the file: ``<datadir>/futures/<PAIR>-1m-liquidations.feather``).
        timeframe: the bar to resample to (``"1m"`` keeps minutes but fills quiet ones with 0).
        pair: the pair, when ``path`` is a datadir; also picks the pair's gaps.
        gaps: set the bars overlapping a recorded gap to NaN (the gaps file sits in the datadir's
            ``liquidations/`` folder).

    Returns:
        Bars indexed by start (UTC), as :func:`resample_liquidations`.

    Raises:
        InputError: no such file, or a file without the recorder's columns.
    """
    p = Path(path).expanduser()
    if p.is_dir():
        if pair is None:
            raise InputError(
                f"{p} is a folder; pass pair= (--pair) to read its <PAIR>-1m-liquidations.feather, "
                "or the file itself"
            )
        p = liquidations_file(p, pair)
    elif p.suffix != ".feather":
        raise InputError(
            f"{p} is not a .feather file; recorded liquidations are *-1m-liquidations.feather"
        )
    minutes = _read_minutes(p)
    datadir = p.parent.parent if p.parent.name == "futures" else p.parent
    pair_name = pair or pair_from_stem(p.name.split("-1m-liquidations")[0])
    gap_rows = load_gaps(datadir) if gaps else None
    return resample_liquidations(minutes, timeframe, gap_rows, pair_name)
