"""Import Binance's public daily "metrics" archives as Freqtrade ``open_interest`` candles.

Binance's API serves only the last 30 days of open interest; its public data archive keeps the
whole history as one zip per symbol and day (``BTCUSDT-metrics-2024-01-01.zip``) holding one CSV of
5-minute snapshots with the columns::

    create_time, symbol, sum_open_interest, sum_open_interest_value,
    count_toptrader_long_short_ratio, sum_toptrader_long_short_ratio,
    count_long_short_ratio, sum_taker_long_short_vol_ratio

Older files have that header line, some newer ones have none; ``create_time`` is either a
``YYYY-MM-DD HH:MM:SS`` string (UTC) or epoch milliseconds. Both are read.

Written next to the candles, in Freqtrade's layout:

* ``<datadir>/futures/BTC_USDT_USDT-5m-open_interest.feather`` - ``date, open_interest_amount,
  open_interest_value``: what ``freqtrade download-data --candle-types open_interest`` writes, merged
  with any existing file (one row per date; the archive's value wins where both have one).
* ``<datadir>/futures/BTC_USDT_USDT-5m-taker_ratio.feather`` - ``date, taker_long_short_ratio``
  (taker buy volume / taker sell volume), which the estimator turns into its long share
  ``r / (1 + r)``. Freqtrade itself ignores this file.

Only CSV text is read from the archives (nothing is unpickled or executed), and at most
:data:`MEMBER_LIMIT` bytes of it per archive: a daily file is ~30 KB, so anything near the cap is
not a metrics file (and a crafted zip could otherwise inflate to gigabytes).
"""

from __future__ import annotations

import io
import zipfile
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import pandas as pd

from liq_indicator.config import DEFAULT_PAIR
from liq_indicator.errors import InputError
from liq_indicator.io.datadir import pair_file
from liq_indicator.io.paths import (
    input_dir,
    input_file,
    is_present,
    output_dir,
    read_zip_member,
    reading,
    writing,
)
from liq_indicator.io.timeframes import timeframe_seconds

__all__ = ["METRICS_COLUMNS", "read_metrics", "import_metrics"]

METRICS_COLUMNS = [
    "create_time",
    "symbol",
    "sum_open_interest",
    "sum_open_interest_value",
    "count_toptrader_long_short_ratio",
    "sum_toptrader_long_short_ratio",
    "count_long_short_ratio",
    "sum_taker_long_short_vol_ratio",
]
OI_COLUMNS = ["date", "open_interest_amount", "open_interest_value"]
TAKER_COLUMN = "taker_long_short_ratio"
MEMBER_LIMIT = 64 * 2**20
"""Most bytes read from one archive's CSV (a Binance daily metrics CSV is ~30 KB)."""


def _parse_csv(text: str, source: str) -> pd.DataFrame:
    first = text.lstrip().split("\n", 1)[0]
    has_header = "create_time" in first
    if not has_header and len(first.split(",")) != len(METRICS_COLUMNS):
        raise InputError(
            f"{source}: not a Binance metrics file (expected {len(METRICS_COLUMNS)} "
            f"columns: {', '.join(METRICS_COLUMNS)})"
        )
    df = pd.read_csv(
        io.StringIO(text),
        header=0 if has_header else None,
        names=None if has_header else METRICS_COLUMNS,
    )
    missing = [
        c
        for c in ("create_time", "sum_open_interest", "sum_open_interest_value")
        if c not in df.columns
    ]
    if missing:
        raise InputError(f"{source}: not a Binance metrics file (missing {', '.join(missing)})")
    raw = df["create_time"]
    if pd.api.types.is_numeric_dtype(raw):
        dates = pd.to_datetime(raw, unit="ms", utc=True)
    else:
        dates = pd.to_datetime(raw, utc=True, format="mixed")
    out = pd.DataFrame(
        {
            "date": dates.dt.as_unit("us"),
            "open_interest_amount": pd.to_numeric(df["sum_open_interest"], errors="coerce"),
            "open_interest_value": pd.to_numeric(df["sum_open_interest_value"], errors="coerce"),
            TAKER_COLUMN: pd.to_numeric(df.get("sum_taker_long_short_vol_ratio"), errors="coerce"),
        }
    )
    return out


def read_metrics(paths: Iterable[str | Path]) -> pd.DataFrame:
    """Read metrics archives (.zip) or extracted CSVs into one frame sorted and unique by date.

    Raises:
        InputError: for a missing, unreadable or non-regular file, a zip that is corrupt,
            encrypted, without a CSV or inflating beyond :data:`MEMBER_LIMIT`, a file that is not
            UTF-8, or a CSV that is not a metrics file.
    """
    frames = []
    for path in paths:
        p = input_file(path, "metrics file")
        if p.suffix not in (".zip", ".csv"):
            raise InputError(f"{p.name}: expected a Binance metrics .zip or .csv")
        with reading(p, "metrics file"):
            if p.suffix == ".zip":
                with zipfile.ZipFile(p) as zf:
                    names = [n for n in zf.namelist() if n.endswith(".csv")]
                    if not names:
                        raise InputError(f"{p.name} holds no .csv file")
                    raw = read_zip_member(zf, names[0], p, limit=MEMBER_LIMIT)
            else:
                with p.open("rb") as fh:
                    raw = fh.read(MEMBER_LIMIT + 1)
                if len(raw) > MEMBER_LIMIT:
                    raise InputError(
                        f"metrics file {str(path)!r} is larger than "
                        f"{MEMBER_LIMIT / 2**20:g} MiB; it is not a daily metrics CSV"
                    )
            frames.append(_parse_csv(raw.decode("utf-8"), p.name))
    if not frames:
        raise InputError("no metrics files given")
    df = pd.concat(frames, ignore_index=True).dropna(subset=["date"])
    return (
        df.sort_values("date", kind="stable")
        .drop_duplicates("date", keep="last")
        .reset_index(drop=True)
    )


def _merge_into(path: Path, new: pd.DataFrame, columns: list[str]) -> tuple[int, int]:
    """Union ``new`` with the feather at ``path`` by date (new wins); returns (before, after) rows."""
    before = 0
    frame = new[columns]
    if is_present(path, "open-interest file"):
        input_file(path, "open-interest file")
        with reading(path, "open-interest file"):
            old = pd.read_feather(path)
        missing = [c for c in columns if c not in old.columns]
        if missing:
            raise InputError(
                f"{path} exists but lacks {', '.join(missing)}; move it aside and retry"
            )
        before = len(old)
        old["date"] = pd.to_datetime(old["date"], utc=True).dt.as_unit("us")
        frame = pd.concat([old[columns], frame], ignore_index=True)
    frame = (
        frame.sort_values("date", kind="stable")
        .drop_duplicates("date", keep="last")
        .reset_index(drop=True)
    )
    tmp = path.with_suffix(".feather.tmp")
    with writing(path, "open-interest file"):
        frame.to_feather(tmp)
        tmp.replace(path)  # atomic: a crash leaves the old file intact
    return before, len(frame)


def import_metrics(
    paths: Iterable[str | Path],
    datadir: str | Path,
    pair: str = DEFAULT_PAIR,
    timeframe: str = "5m",
) -> dict[str, Any]:
    """Convert metrics archives into ``pair``'s open-interest (and taker-ratio) files in ``datadir``.

    Args:
        paths: archive (.zip) or CSV files, any order, overlaps allowed.
        datadir: a Freqtrade datadir of one exchange (``user_data/data/binance``).
        pair: the Freqtrade pair the symbol belongs to.
        timeframe: '5m' keeps every snapshot; a coarser timeframe keeps the snapshots on its grid
            (e.g. '1h': those at hh:00).

    Returns:
        A summary: files written and their row counts before and after.
    """
    root = input_dir(datadir, "datadir")
    try:
        step = pd.Timedelta(seconds=timeframe_seconds(timeframe))
    except InputError:
        step = None
    if step is None or step < pd.Timedelta("5min") or step % pd.Timedelta("5min"):
        raise InputError(
            f"timeframe {timeframe!r} must be a multiple of 5m (the archives' spacing)"
        )
    output_dir(root / "futures", "datadir folder", parents=False)  # before reading the archives
    df = read_metrics(paths)
    on_grid = (df["date"] - df["date"].dt.floor("D")) % step == pd.Timedelta(0)
    df = df[on_grid]
    with writing(root / "futures", "datadir folder"):
        (root / "futures").mkdir(exist_ok=True)
    oi_path = pair_file(root, pair, timeframe, "open_interest")
    summary: dict[str, Any] = {"rows": len(df), "first": df["date"].min(), "last": df["date"].max()}
    summary["open_interest"] = (oi_path, *_merge_into(oi_path, df, OI_COLUMNS))
    taker = df.dropna(subset=[TAKER_COLUMN])
    if len(taker):
        taker_path = pair_file(root, pair, timeframe, "taker_ratio")
        summary["taker_ratio"] = (
            taker_path,
            *_merge_into(taker_path, taker, ["date", TAKER_COLUMN]),
        )
    return summary
