"""Real liquidations to measure the map against: bar series of liquidated USD and individual fills.

Every loader returns one layout whatever the source, so the calibration and the validation report
read any truth the same way:

* :class:`TruthSeries` (:func:`load_truth`, :func:`shared_truth`): liquidated USD per bar,
  indexed by the bar's **start** (UTC), columns ``long_usd`` and ``short_usd`` (longs = long
  positions force-closed).
* :func:`load_fills` (:func:`shared_fills`): individual liquidations with ``date``, ``side`` (the
  position liquidated), ``price``, ``size_usd`` and ``venue``.

Date conventions, checked against Binance candles (``history/`` 5m for the long history,
``truthwindow/`` for the 1h window): the Spearman correlation of a bar's long liquidations with
its adverse move ``(open - low) / open`` (and of short liquidations with ``(high - open) / open``)
peaks when the file's date is read as the bar **start**, at every shared series:

==================================================  =======  =====  =======
file (Spearman of long liquidations; shorts alike)  end      start  early
==================================================  =======  =====  =======
coinglass_binance_btc_liquidations_4h (1,927 bars)  0.27     0.77   0.20
coinglass_binance_btc_liquidations_1d (863 days)    0.20     0.69   0.19
coinalyze ..._1d_by_exchange, Binance (629 days)    0.17     0.68   0.20
btc_liquidations_oi_1h_all_exchanges (1,855 h)      0.40     0.76   0.31
==================================================  =======  =====  =======

(columns: the file's date read as the bar's end, as its start, and as the start of the bar one
before). The daily files' days are UTC days (a 24h window starting 4h or 8h off midnight
correlates less: 0.57-0.61 against 0.69). The 1h all-exchange file's ``price_open`` matches the
Binance 1h open of the same hour (median gap 4.6 bp, against 21 bp one hour off). So no loader
shifts dates. Exchanges' public liquidation streams are throttled (Binance and OKX push at most one
order per symbol per second), so every reported series undercounts: compare shapes and ranks
first, and calibrate USD magnitudes to one named series.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from liq_indicator.core.inputs import infer_timeframe, utc_timestamp, utc_us
from liq_indicator.errors import InputError
from liq_indicator.io.paths import input_file, reading
from liq_indicator.io.shared import shared_data_dir

__all__ = [
    "FILL_SIDES",
    "SHARED_FILLS",
    "SHARED_TRUTH",
    "TruthSeries",
    "load_fills",
    "load_truth",
    "recorded_truth",
    "shared_fills",
    "shared_truth",
]

_GENERIC = ("date", "long_usd", "short_usd")
_COINGLASS = ("date", "liquidation_long_usd", "liquidation_short_usd")
_ALL_1H = ("price_open", "liquidation_total_usd", "oi_open")  # besides _COINGLASS
_COINALYZE_PREFIXES = ("BTC/USD - ", "BTC/USDT - ")
_EXCHANGES = ("binance", "bybit", "okx", "huobi", "bitmex", "bitfinex", "deribit", "hyperliquid")
_LAYOUTS = (
    "'date,long_usd,short_usd' (your own recorder; CSV or feather), "
    "'date,liquidation_long_usd,liquidation_short_usd' (CoinGlass export), the 1h all-exchange "
    "CoinGlass file (plus price_*, liquidation_total_usd, oi_*) or the Coinalyze per-exchange file "
    "('BTC/USDT - Binance_long', ...)"
)


@dataclass(frozen=True)
class TruthSeries:
    """Really liquidated USD per bar, as a venue reported it."""

    name: str
    """Short label of the series (e.g. ``binance_4h``)."""
    venue: str
    """Where the liquidations happened: ``binance``, ``bybit``, ``okx``, ``all`` (summed over the
    major exchanges) or ``unknown``."""
    bar: pd.Timedelta
    """Bar length (the most common spacing of the dates)."""
    frame: pd.DataFrame
    """Indexed by bar start (UTC DatetimeIndex, unit us, sorted, unique; bars the source lacks are
    absent, not zero); columns ``long_usd`` (long positions force-closed) and ``short_usd``,
    float, >= 0."""
    source: str
    """The file it came from, and what was done to it."""

    def between(self, start: Any = None, end: Any = None) -> TruthSeries:
        """The bars starting in ``[start, end)`` (either bound may be None: open).

        Args:
            start: first bar start kept (anything ``pd.Timestamp`` reads; naive = UTC).
            end: bars starting at or after it are dropped.

        Returns:
            A new :class:`TruthSeries` with the same name, venue, bar and source.
        """
        idx = self.frame.index
        keep = np.ones(len(idx), dtype=bool)
        if start is not None:
            keep &= idx >= utc_timestamp(start)
        if end is not None:
            keep &= idx < utc_timestamp(end)
        return TruthSeries(self.name, self.venue, self.bar, self.frame[keep], self.source)


def _read_table(path: Path, what: str) -> pd.DataFrame:
    p = input_file(path, what)
    with reading(p, what):
        if p.suffix == ".feather":
            return pd.read_feather(p)
        return pd.read_csv(p)


def _dates(values: Any, path: Path, column: str) -> pd.DatetimeIndex:
    try:
        return utc_us(pd.to_datetime(values, utc=True, format="ISO8601"))
    except (TypeError, ValueError) as exc:
        raise InputError(
            f"{path}: column {column!r} cannot be read as UTC dates ({exc}); write ISO 8601 "
            "times such as 2025-01-31 20:00:00+00:00"
        ) from None


def _venue_from_name(path: Path) -> str:
    stem = path.stem.lower()
    return next((ex for ex in _EXCHANGES if ex in stem), "unknown")


def _coinalyze(raw: pd.DataFrame, path: Path, venue: str | None) -> tuple[pd.DataFrame, str, str]:
    """Sum one exchange's contracts (or all) of the Coinalyze per-exchange layout."""
    contracts: dict[str, list[str]] = {}
    for col in raw.columns:
        if col.startswith(_COINALYZE_PREFIXES) and col.endswith(("_long", "_short")):
            exchange = col.split(" - ", 1)[1].rsplit("_", 1)[0].lower()
            contracts.setdefault(exchange, []).append(col)
    if venue is None:
        raise InputError(
            f"{path} holds liquidations per exchange ({', '.join(sorted(contracts))}); pass "
            "venue= one of them or 'all'"
        )
    v = venue.lower()
    if v != "all" and v not in contracts:
        raise InputError(
            f"{path} has no contract of venue {venue!r}; choose one of "
            f"{', '.join(sorted(contracts))} or 'all'"
        )
    cols = [c for ex, cs in contracts.items() if v in ("all", ex) for c in cs]
    longs = [c for c in cols if c.endswith("_long")]
    shorts = [c for c in cols if c.endswith("_short")]
    values = raw[cols].apply(pd.to_numeric, errors="coerce")
    # a day missing any of the venue's contracts would undercount: dropped, not zero-filled
    complete = values.notna().all(axis=1).to_numpy()
    frame = pd.DataFrame(
        {
            "date": raw["date"].to_numpy()[complete],
            "long_usd": values[longs].sum(axis=1).to_numpy()[complete],
            "short_usd": values[shorts].sum(axis=1).to_numpy()[complete],
        }
    )
    note = (
        f"Coinalyze, {v}: sum of {len(longs)} contracts ({', '.join(c[: -len('_long')] for c in longs)})"
        f"; {int((~complete).sum())} days dropped (a contract missing)"
    )
    return frame, v, note


def load_truth(
    path: str | Path, *, venue: str | None = None, name: str | None = None
) -> TruthSeries:
    """Read a file of liquidated USD per bar into a :class:`TruthSeries`.

    The layout is recognised by its columns:

    * ``date, long_usd, short_usd`` (CSV or feather): a user's own series, e.g. what a
      liquidation recorder writes. ``date`` must be the bar **start** in UTC (naive = UTC).
    * ``date, liquidation_long_usd, liquidation_short_usd``: a CoinGlass export (the shared
      Binance 4h and 1d files). The venue is ``venue``, else the exchange the file name names,
      else ``unknown``.
    * the same plus ``price_*``, ``liquidation_total_usd`` and ``oi_*``: the shared 1h file
      summed over the major exchanges (venue ``all``).
    * ``date`` and ``BTC/USD - <Exchange>_long|_short``, ``BTC/USDT - ...``: the Coinalyze daily
      file per exchange and contract. ``venue`` is required: the named exchange's contracts
      (coin- and USDT-margined) are summed, or every contract for ``'all'``; a day on which any
      of them is missing is dropped.

    Dates are taken as bar starts (checked for the shared files, see the module docstring), rows
    are sorted by date, and the bar length is the most common spacing.

    Args:
        path: a ``.csv`` or ``.feather`` file.
        venue: the venue to read or record (see above).
        name: label of the series; the file's stem when omitted.

    Returns:
        The series.

    Raises:
        InputError: the file is missing or unreadable, matches no layout (the message lists them),
            has duplicate dates, fewer than two rows, or a negative or missing value.
    """
    p = Path(path).expanduser()
    raw = _read_table(p, "truth file")
    cols = set(raw.columns)
    if cols >= set(_GENERIC):
        frame = raw[list(_GENERIC)]
        venue_out, note = (venue or "unknown").lower(), f"{p.name} (long_usd/short_usd layout)"
    elif cols >= set(_COINGLASS):
        frame = raw[list(_COINGLASS)].set_axis(list(_GENERIC), axis=1)
        if cols >= set(_ALL_1H):
            if venue is not None and venue.lower() != "all":
                raise InputError(
                    f"{p} holds liquidations summed over all major exchanges; pass venue='all' "
                    f"or none, not {venue!r}"
                )
            venue_out, note = "all", f"{p.name} (CoinGlass, summed over major exchanges)"
        else:
            venue_out = (venue or _venue_from_name(p)).lower()
            note = f"{p.name} (CoinGlass export)"
    elif "date" in cols and any(str(c).startswith(_COINALYZE_PREFIXES) for c in cols):
        frame, venue_out, detail = _coinalyze(raw, p, venue)
        note = f"{p.name} ({detail})"
    else:
        raise InputError(
            f"{p} has columns {sorted(map(str, raw.columns))[:8]}, which match no liquidation "
            f"layout; expected {_LAYOUTS}"
        )
    dates = _dates(frame["date"], p, "date")
    values = frame[["long_usd", "short_usd"]].apply(pd.to_numeric, errors="coerce")
    values = values.astype(np.float64).set_axis(dates)
    bad = values.isna().any(axis=1) | (values < 0).any(axis=1)
    if bad.any():
        first = values.index[bad.to_numpy()][0]
        raise InputError(
            f"{p}: {int(bad.sum())} rows with a missing or negative liquidated USD (first at "
            f"{first}); liquidated USD must be numbers >= 0"
        )
    if dates.has_duplicates:
        dup = dates[dates.duplicated()][0]
        raise InputError(f"{p}: date {dup} appears more than once; keep one row per bar")
    values = values.sort_index()
    if len(values) < 2:
        raise InputError(f"{p} holds {len(values)} bar(s); a series needs at least two")
    bar = infer_timeframe(pd.Series(values.index))
    values.index.name = "date"
    return TruthSeries(name or p.stem, venue_out, pd.Timedelta(bar), values, note)


SHARED_TRUTH: dict[str, tuple[str, dict[str, Any]]] = {
    "binance_4h": ("coinglass_binance_btc_liquidations_4h.csv", {"venue": "binance"}),
    "binance_1d": ("coinglass_binance_btc_liquidations_1d.csv", {"venue": "binance"}),
    "all_1h": ("btc_liquidations_oi_1h_all_exchanges.csv", {"venue": "all"}),
    "coinalyze_binance_1d": ("coinalyze_btc_liquidations_1d_by_exchange.csv", {"venue": "binance"}),
    "coinalyze_bybit_1d": ("coinalyze_btc_liquidations_1d_by_exchange.csv", {"venue": "bybit"}),
    "coinalyze_okx_1d": ("coinalyze_btc_liquidations_1d_by_exchange.csv", {"venue": "okx"}),
    "coinalyze_all_1d": ("coinalyze_btc_liquidations_1d_by_exchange.csv", {"venue": "all"}),
}
"""The shared BTC truth series: name -> (file name under ``<data>/truth``, :func:`load_truth`
keyword arguments)."""


def _shared_file(data_dir: str | Path | None, file: str) -> Path:
    return (
        Path(data_dir if data_dir is not None else shared_data_dir()).expanduser() / "truth" / file
    )


def shared_truth(name: str, data_dir: str | Path | None = None) -> TruthSeries:
    """One of the shared truth series (:data:`SHARED_TRUTH`) by name.

    Args:
        name: a key of :data:`SHARED_TRUTH`, e.g. ``binance_4h``.
        data_dir: the shared data folder holding ``truth/``;
            :func:`~liq_indicator.io.shared.shared_data_dir` when omitted.

    Raises:
        InputError: an unknown name (the message lists the known ones) or a missing file.
    """
    if name not in SHARED_TRUTH:
        raise InputError(f"unknown truth series {name!r}; choose one of {', '.join(SHARED_TRUTH)}")
    file, kwargs = SHARED_TRUTH[name]
    return load_truth(_shared_file(data_dir, file), name=name, **kwargs)


FILL_SIDES: dict[str, str] = {"long": "long", "short": "short", "l": "long", "s": "short"}
"""Side labels read as the liquidated position (case-insensitive). ``S`` is the Hyperliquid
export's label: checked against Binance 5m candles, its 468 fills sit at the top of their candle
(median position 0.85 of the low-to-high range) after a 0.8% rise over the 30 minutes before, so
they are short positions squeezed out. Order sides (``buy``/``sell``, Hyperliquid's native
``B``/``A``) are not accepted by default: whether they name the liquidation order or the position
differs between sources, so pass ``side_map`` for them."""

_FILL_DATE = ("date", "timestamp", "time")
_FILL_VENUE = ("venue", "exchange")


def load_fills(
    path: str | Path, *, venue: str | None = None, side_map: Mapping[str, str] | None = None
) -> pd.DataFrame:
    """Read individual liquidations (one row per fill) into one layout.

    Reads the shared Hyperliquid export (``timestamp, venue, side, size_usd, price, note``), the
    shared whale-alert feed (``timestamp, exchange, symbol, side, price, size_usd``) and any CSV or
    feather with a ``date``/``timestamp``/``time`` column, ``side``, ``price`` and ``size_usd``
    (and optionally ``venue``/``exchange``).

    Known limits of the shared files: the whale-alert feed (Binance and Bybit, $50k and more) gives
    the liquidation **order** price, not the fill price: checked against Binance 5m candles, long
    liquidations sit a median 0.3% below their candle's low and short ones 0.3-0.5% above its
    high (the exchange's order is priced beyond the market to fill at once; its timestamps are
    right: no shift of -12h..+12h brings the prices inside the candles). Use those prices with a
    tolerance of that size, or as an upper bound of the distance travelled. The Hyperliquid fills
    are fill prices (62% inside the Binance candle of the same 5 minutes; Hyperliquid's own price
    differs slightly).

    Args:
        path: a ``.csv`` or ``.feather`` file.
        venue: the venue of every row when the file has no venue column (``unknown`` if omitted);
            overrides nothing when the file has one.
        side_map: labels of the file's ``side`` column -> ``'long'``/``'short'`` (the position
            liquidated), checked before :data:`FILL_SIDES`.

    Returns:
        Sorted by date: ``date`` (UTC, unit us), ``side`` ('long': a long position force-closed),
        ``price``, ``size_usd`` (float, > 0), ``venue`` (lower case).

    Raises:
        InputError: missing columns (named), unknown side labels, or missing, non-positive
            prices or sizes.
    """
    p = Path(path).expanduser()
    raw = _read_table(p, "fills file")
    date_col = next((c for c in _FILL_DATE if c in raw.columns), None)
    missing = [c for c in ("side", "price", "size_usd") if c not in raw.columns]
    if date_col is None or missing:
        raise InputError(
            f"{p} lacks {(['date'] if date_col is None else []) + missing}; a fills file needs "
            "date (or timestamp), side, price, size_usd and optionally venue"
        )
    labels = {**FILL_SIDES, **{k.lower(): v for k, v in (side_map or {}).items()}}
    side_raw = raw["side"].astype(str).str.strip().str.lower()
    unknown = sorted(set(side_raw) - set(labels))
    if unknown:
        raise InputError(
            f"{p}: side labels {unknown[:5]} are not known; pass side_map= mapping each to 'long' "
            "or 'short' (the position that was liquidated)"
        )
    bad_map = sorted(set(labels.values()) - {"long", "short"})
    if bad_map:
        raise InputError(f"side_map values must be 'long' or 'short', got {bad_map}")
    venue_col = next((c for c in _FILL_VENUE if c in raw.columns), None)
    out = pd.DataFrame(
        {
            "date": _dates(raw[date_col], p, date_col),
            "side": side_raw.map(labels).to_numpy(),
            "price": pd.to_numeric(raw["price"], errors="coerce").to_numpy(dtype=np.float64),
            "size_usd": pd.to_numeric(raw["size_usd"], errors="coerce").to_numpy(dtype=np.float64),
            "venue": (
                raw[venue_col].astype(str).str.lower().to_numpy()
                if venue_col is not None
                else np.full(len(raw), (venue or "unknown").lower())
            ),
        }
    )
    for col in ("price", "size_usd"):
        v = out[col].to_numpy()
        bad = ~(np.isfinite(v) & (v > 0))
        if bad.any():
            raise InputError(
                f"{p}: {int(bad.sum())} rows with a missing or non-positive {col} (first at row "
                f"{int(np.flatnonzero(bad)[0])}); every fill needs a positive {col}"
            )
    return out.sort_values("date", kind="stable").reset_index(drop=True)


SHARED_FILLS: dict[str, str] = {
    "hyperliquid_2025_05": "btc_liquidation_events_hyperliquid_2025-05.csv",
    "whalebot_2025_09": "whalebot_btc_liquidations_2025-09-17_19.csv",
}
"""The shared files of individual liquidations: name -> file name under ``<data>/truth``."""


def shared_fills(name: str, data_dir: str | Path | None = None) -> pd.DataFrame:
    """One of the shared fill files (:data:`SHARED_FILLS`) read by :func:`load_fills`.

    Raises:
        InputError: an unknown name (the message lists the known ones) or a missing file.
    """
    if name not in SHARED_FILLS:
        raise InputError(f"unknown fills file {name!r}; choose one of {', '.join(SHARED_FILLS)}")
    return load_fills(_shared_file(data_dir, SHARED_FILLS[name]))


def recorded_truth(
    path: str | Path,
    bar: str = "1h",
    *,
    pair: str | None = None,
    venue: str | None = None,
) -> TruthSeries:
    """Liquidations recorded by ``liq-indicator record`` as a :class:`TruthSeries` of ``bar``.

    Args:
        path: a ``<PAIR>-1m-liquidations.feather`` file, or an exchange's datadir with ``pair``.
        bar: the bar to sum the minutes into (a bar overlapping a recorded gap is left out: it is
            unknown, not quiet).
        pair: the pair, when ``path`` is a datadir.
        venue: the exchange; by default the datadir's folder name.
    """
    from liq_indicator.io.liquidations import load_liquidations

    p = Path(path).expanduser()
    bars = load_liquidations(p, bar, pair=pair, gaps=True)
    frame = bars[["long_usd", "short_usd"]].dropna().astype(np.float64)
    frame.index = utc_us(frame.index)
    datadir = p if p.is_dir() else (p.parent.parent if p.parent.name == "futures" else p.parent)
    return TruthSeries(
        name=f"recorded {p.name}",
        venue=(venue or datadir.name).lower(),
        bar=pd.Timedelta(bar),
        frame=frame,
        source=f"{p} (recorded; {len(bars) - len(frame)} bar(s) in gaps left out)",
    )
