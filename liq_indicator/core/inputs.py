"""Input checking, causal merging of side data, and the per-candle arrays the kernel consumes.

Everything the kernel reads per candle is derived here by elementwise numpy arithmetic, so the
batch path (whole columns) and the live path (one-element arrays) produce identical floats.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from liq_indicator.config import HeatmapConfig
from liq_indicator.core.model import KernelInputs
from liq_indicator.errors import InputError, warn_data

__all__ = [
    "MAX_PRICE",
    "MAX_USD",
    "REQUIRED_COLUMNS",
    "SIDE_COLUMNS",
    "KernelInputs",
    "candle_times",
    "derive_inputs",
    "funding_column",
    "infer_timeframe",
    "merge_causal",
    "merge_liquidations",
    "merge_side",
    "open_interest_usd",
    "prepare",
    "side_frame",
    "utc_us",
]

REQUIRED_COLUMNS = ("date", "open", "high", "low", "close", "volume")
PRICE_COLUMNS = ("open", "high", "low", "close")

# Plausibility bounds: no traded asset is priced above MAX_PRICE, and no candle's traded notional or
# open interest reaches MAX_USD (about ten times all the world's crypto). Values past them are
# corrupt, and would overflow float64 in the map's sums.
MAX_PRICE = 1e12
MAX_USD = 1e15


def _where(df: pd.DataFrame, mask: np.ndarray) -> str:
    """'row 12 (2024-01-01 00:55:00+00:00)' for the first True of mask."""
    i = int(np.flatnonzero(mask)[0])
    count = int(mask.sum())
    more = f" and {count - 1} more row(s)" if count > 1 else ""
    date = df["date"].iloc[i] if "date" in df.columns else "?"
    return f"row {i} ({date}){more}"


def _check_unique_columns(df: pd.DataFrame, what: str) -> None:
    dup = df.columns[df.columns.duplicated()]
    if len(dup):
        raise InputError(
            f"{what} have duplicate column(s) {', '.join(map(str, dict.fromkeys(dup)))}; "
            "keep one of each, e.g. df.loc[:, ~df.columns.duplicated()]"
        )


def utc_us(dates: Any) -> pd.DatetimeIndex:
    """``dates`` as a UTC DatetimeIndex in microseconds, naive ones taken as UTC: the one resolution
    and zone every merge and epoch conversion here works in (Freqtrade files mix [ns] and [us]).
    """
    index = pd.DatetimeIndex(dates)
    index = index.tz_localize("UTC") if index.tz is None else index.tz_convert("UTC")
    return index.as_unit("us")


def utc_timestamp(at: Any) -> pd.Timestamp:
    """One datetime (anything ``pd.Timestamp`` takes) in UTC, a naive one taken as UTC: the
    single-value twin of :func:`utc_us`.

    Example:
        >>> utc_timestamp("2024-01-01 09:00+09:00"), utc_timestamp("2024-01-01")
        (Timestamp('2024-01-01 00:00:00+0000', tz='UTC'), Timestamp('2024-01-01 00:00:00+0000', tz='UTC'))
    """
    when = pd.Timestamp(at)
    return when.tz_localize("UTC") if when.tzinfo is None else when.tz_convert("UTC")


def candle_times(dates: pd.Series | pd.DatetimeIndex) -> np.ndarray:
    """Seconds since the epoch (float64) of timezone-aware or naive (taken as UTC) datetimes."""
    return utc_us(dates).asi8 / 1e6


def candle_time(at: Any) -> float:
    """:func:`candle_times` of one datetime (anything ``pd.Timestamp`` takes), without an index."""
    return (utc_timestamp(at).value // 1000) / 1e6  # whole microseconds, as candle_times


def infer_timeframe(dates: pd.Series) -> pd.Timedelta | None:
    """The most common spacing of ``dates`` (the smallest of equally common ones; None for fewer
    than two rows), in the dates' own unit (adding it to them keeps their resolution).
    """
    if len(dates) < 2:
        return None
    index = pd.DatetimeIndex(dates)
    if index.hasnans:
        diffs = pd.Series(index).diff().dropna()
        return pd.Timedelta(diffs.mode().iloc[0])
    steps, counts = np.unique(np.diff(index.asi8), return_counts=True)
    return pd.Timedelta(np.timedelta64(int(steps[np.argmax(counts)]), index.unit))


# epoch numbers: the unit whose values put a date between 1990 and 2100
_EPOCH_UNITS = (
    ("s", 6.3e8, 4.2e9),
    ("ms", 6.3e11, 4.2e12),
    ("us", 6.3e14, 4.2e15),
    ("ns", 6.3e17, 4.2e18),
)


def _epoch_unit(values: pd.Series) -> str | None:
    v = values.dropna()
    if len(v) == 0:
        return None
    lo, hi = float(v.min()), float(v.max())
    for unit, a, b in _EPOCH_UNITS:
        if a <= lo and hi <= b:
            return unit
    return None


def epoch_unit(value: float) -> str | None:
    """The unit (s, ms, us or ns) that puts one epoch number between 1990 and 2100, else None."""
    return _epoch_unit(pd.Series([value], dtype="float64"))


def coerce_dates(dates: pd.Series, what: str = "candles") -> pd.Series:
    """Datetimes as given, or epoch numbers converted with the unit their magnitude implies
    (s, ms, us or ns; dates 1990-2100), with a DataWarning. Anything else is an InputError.
    """
    if pd.api.types.is_datetime64_any_dtype(dates):
        return dates
    if pd.api.types.is_numeric_dtype(dates) and not pd.api.types.is_bool_dtype(dates):
        unit = _epoch_unit(dates)
        if unit is not None:
            warn_data(
                f"{what} column 'date' holds epoch numbers; read as {unit} since the epoch (UTC)"
            )
            return pd.to_datetime(dates, unit=unit, utc=True)
    raise InputError(
        f"{what} column 'date' must hold datetimes, got dtype {dates.dtype}; convert it with "
        "pd.to_datetime(df['date'], unit='ms', utc=True) (or unit='s'/'ns' as your source uses)"
    )


def _check_dates(df: pd.DataFrame) -> pd.Series:
    dates = df["date"]
    if not pd.api.types.is_datetime64_any_dtype(dates):
        raise InputError(f"column 'date' must hold datetimes, got dtype {dates.dtype}")
    if dates.isna().any():
        raise InputError(
            f"column 'date' is missing at {_where(df, dates.isna().to_numpy())}; drop those rows"
        )
    if pd.DatetimeIndex(dates).tz is None:
        warn_data("column 'date' is timezone-naive; it is taken as UTC")
    t = candle_times(dates)
    step = np.diff(t)
    if (step == 0).any():
        raise InputError(
            f"duplicate candle dates at {_where(df, np.r_[False, step == 0])}; remove them with "
            "df.drop_duplicates('date', keep='last')"
        )
    if (step < 0).any():
        raise InputError(
            f"candle dates are not ascending at {_where(df, np.r_[False, step < 0])}; sort with "
            "df.sort_values('date')"
        )
    return dates


def _float_column(df: pd.DataFrame, name: str) -> np.ndarray:
    try:
        return df[name].to_numpy(dtype=np.float64, na_value=np.nan)
    except (TypeError, ValueError) as exc:
        raise InputError(f"column {name!r} must be numeric, got dtype {df[name].dtype}") from exc


def validate_candles(df: pd.DataFrame) -> dict[str, np.ndarray]:
    """Check a candle frame and return its price/volume columns as float64 arrays.

    Raises:
        InputError: on missing columns, non-datetime/duplicate/unsorted dates, missing or
            non-positive prices, high < low, or missing/negative volume.
    """
    if not isinstance(df, pd.DataFrame):
        raise InputError(f"expected a pandas DataFrame of candles, got {type(df).__name__}")
    _check_unique_columns(df, "candles")
    missing = [c for c in REQUIRED_COLUMNS if c not in df.columns]
    if missing:
        raise InputError(
            f"candles lack column(s) {', '.join(missing)}; a Freqtrade dataframe has "
            f"{', '.join(REQUIRED_COLUMNS)} (rename yours, e.g. df.rename(columns={{'timestamp': 'date'}}))"
        )
    _check_dates(df)
    cols = {c: _float_column(df, c) for c in (*PRICE_COLUMNS, "volume")}
    for c in PRICE_COLUMNS:
        bad = ~np.isfinite(cols[c])
        if bad.any():
            raise InputError(
                f"column {c!r} is NaN/inf at {_where(df, bad)}; drop those rows "
                f"(df.dropna(subset=['{c}'])) or fill them from a clean source"
            )
        bad = cols[c] <= 0
        if bad.any():
            raise InputError(
                f"column {c!r} is <= 0 at {_where(df, bad)}; prices must be positive, drop those rows"
            )
        bad = cols[c] > MAX_PRICE
        if bad.any():
            raise InputError(
                f"column {c!r} is above {MAX_PRICE:g} at {_where(df, bad)}; the price is "
                "corrupt (drop those rows) or in the wrong unit (rescale the column)"
            )
    bad = cols["high"] < cols["low"]
    if bad.any():
        raise InputError(
            f"high < low at {_where(df, bad)}; the candle is corrupt, drop or repair it"
        )
    vol = cols["volume"]
    if np.isnan(vol).any():
        raise InputError(
            f"column 'volume' is NaN at {_where(df, np.isnan(vol))}; fill with 0 (df['volume'].fillna(0))"
        )
    if (vol < 0).any():
        raise InputError(
            f"column 'volume' is negative at {_where(df, vol < 0)}; volume must be >= 0"
        )
    bad = ~(vol * cols["close"] <= MAX_USD)  # inf, or a traded notional no market has
    if bad.any():
        raise InputError(
            f"column 'volume' is inf or implausibly large (volume x close above {MAX_USD:g} "
            f"USD) at {_where(df, bad)}; the candle is corrupt, drop or repair it"
        )
    outside = (np.maximum(cols["open"], cols["close"]) > cols["high"]) | (
        np.minimum(cols["open"], cols["close"]) < cols["low"]
    )
    if outside.any():
        warn_data(
            f"open/close outside [low, high] at {_where(df, outside)}; the range is widened to "
            "include them"
        )
        cols["high"] = np.maximum(cols["high"], np.maximum(cols["open"], cols["close"]))
        cols["low"] = np.minimum(cols["low"], np.minimum(cols["open"], cols["close"]))
    return cols


# optional columns the kernel inputs are derived from, read from the candles or merged side frames
# (batch) or from one candle's mapping (live)
SIDE_COLUMNS = (
    "open_interest_value",
    "open_interest_amount",
    "mark_high",
    "mark_low",
    "taker_buy_volume",
    "taker_long_short_ratio",
    "funding_rate",
    "long_share",
    "real_long_usd",
    "real_short_usd",
)


def _optional(df: pd.DataFrame, name: str) -> np.ndarray | None:
    return _float_column(df, name) if name in df.columns else None


def _finite_or_nan(name: str, values: np.ndarray | None) -> np.ndarray | None:
    """``values`` with +-inf replaced by NaN (missing), warning once: an infinite side value is a feed
    error, and left in it would turn every later row of the map into NaN.
    """
    if values is None:
        return None
    inf = np.isinf(values)
    if not inf.any():
        return values
    warn_data(f"{int(inf.sum())} value(s) of {name!r} are infinite; they are treated as missing")
    return np.where(inf, np.nan, values)


def open_interest_usd(
    close: np.ndarray, value: np.ndarray | None = None, amount: np.ndarray | None = None
) -> np.ndarray:
    """Open interest in USD per candle, NaN where unknown; elementwise, so batch and live agree.

    ``value`` (USD, ``open_interest_value``) is used where it is given; where it is NaN, ``amount``
    (coins, ``open_interest_amount``) x close: Freqtrade's Bybit layout fills only the amount.
    Repairs, each with a DataWarning: a value under 10x its candle's close (fewer than ten coins
    open: no listed perpetual) is a coin amount mislabelled as USD and is multiplied by close; a
    value <= 0, or above MAX_USD (overflow, corrupt feed), is treated as missing.
    """
    oi = np.full(close.shape, np.nan)
    if value is None and amount is None:
        return oi
    with np.errstate(over="ignore", invalid="ignore"):
        if amount is not None:
            oi = amount * close
        if value is not None:
            usd = value.astype(np.float64, copy=True)
            coins = (usd > 0) & (usd < 10.0 * close)
            if coins.any():
                warn_data(
                    f"{int(coins.sum())} open_interest_value(s) are under 10x the price, "
                    "i.e. coin amounts; they are multiplied by close. Pass coin amounts "
                    "as open_interest_amount"
                )
                usd[coins] *= close[coins]
            oi = np.where(np.isnan(usd), oi, usd)
    # an OI of zero or below is a feed error, not a market where every position closed
    bad = ~np.isnan(oi) & ~((oi > 0) & (oi <= MAX_USD))
    if bad.any():
        warn_data(
            f"{int(bad.sum())} open-interest value(s) are <= 0, infinite or above "
            f"{MAX_USD:g} USD; they are treated as missing (the volume rule is used for "
            "those candles)"
        )
        oi[bad] = np.nan
    return oi


def derive_inputs(
    cols: dict[str, np.ndarray],
    time_s: np.ndarray,
    config: HeatmapConfig,
    *,
    oi_value: np.ndarray | None = None,
    oi_amount: np.ndarray | None = None,
    mark_high: np.ndarray | None = None,
    mark_low: np.ndarray | None = None,
    taker_buy_volume: np.ndarray | None = None,
    taker_ratio: np.ndarray | None = None,
    funding_rate: np.ndarray | None = None,
    long_share: np.ndarray | None = None,
    real_long: np.ndarray | None = None,
    real_short: np.ndarray | None = None,
) -> KernelInputs:
    """The kernel's per-candle arrays from checked columns (elementwise only: see module doc)."""
    o, h, lo, c, v = cols["open"], cols["high"], cols["low"], cols["close"], cols["volume"]
    if config.entry_price in ("hlc3", "range"):
        entry = (h + lo + c) / 3.0
    elif config.entry_price == "ohlc4":
        entry = (o + h + lo + c) / 4.0
    else:
        entry = c.copy()
    entry_low, entry_high = (lo, h) if config.entry_price == "range" else (entry, entry)
    traded_usd = v * entry
    # the map's USD is the venue's share (venue_share) of the liquidations it stands for
    scope = 1.0 / config.venue_share
    vol_inflow = traded_usd * (config.volume_share * scope)
    turnover = traded_usd * (config.turnover_share * scope)
    optional = {
        name: _finite_or_nan(name, a)
        for name, a in (
            ("open_interest_value", oi_value),
            ("open_interest_amount", oi_amount),
            ("mark_high", mark_high),
            ("mark_low", mark_low),
            ("taker_buy_volume", taker_buy_volume),
            ("taker_long_short_ratio", taker_ratio),
            ("funding_rate", funding_rate),
            ("long_share", long_share),
            ("real_long_usd", real_long),
            ("real_short_usd", real_short),
        )
    }
    (
        oi_value,
        oi_amount,
        mark_high,
        mark_low,
        taker_buy_volume,
        taker_ratio,
        funding_rate,
        given_share,
        real_long,
        real_short,
    ) = optional.values()
    oi = open_interest_usd(c, oi_value, oi_amount)
    if config.oi_scale * scope != 1.0:
        oi = oi * (config.oi_scale * scope)

    # exchanges trigger liquidations on the mark price; where no mark candle, on the traded range
    sweep_high = h.copy()
    sweep_low = lo.copy()
    if mark_high is not None:
        ok = np.isfinite(mark_high) & (mark_high > 0) & (mark_high <= MAX_PRICE)
        sweep_high[ok] = mark_high[ok]
    if mark_low is not None:
        ok = np.isfinite(mark_low) & (mark_low > 0) & (mark_low <= MAX_PRICE)
        sweep_low[ok] = mark_low[ok]

    long_share = np.full(c.shape, 0.5)
    if given_share is not None:
        # the caller's own long share of new positions (e.g. from positioning ratios), known at
        # the candle's close; NaN or outside [0, 1] rows keep 0.5
        ok = np.isfinite(given_share) & (given_share >= 0) & (given_share <= 1)
        long_share[ok] = given_share[ok]
    elif config.use_taker_split and taker_buy_volume is not None:
        ok = (v > 0) & np.isfinite(taker_buy_volume)
        long_share[ok] = taker_buy_volume[ok] / v[ok]
    elif config.use_taker_split and taker_ratio is not None:
        # taker buy / taker sell volume (Binance metrics archives): buy share = r / (1 + r)
        ok = np.isfinite(taker_ratio) & (taker_ratio >= 0)
        long_share[ok] = taker_ratio[ok] / (1.0 + taker_ratio[ok])
    if config.direction_tilt:
        long_share = long_share + config.direction_tilt * np.sign(c - o)
    if config.funding_skew and funding_rate is not None:
        skew = config.funding_skew * np.nan_to_num(funding_rate, nan=0.0) / 1e-4
        long_share = long_share + skew
    long_share = np.clip(long_share, 0.0, 1.0)

    if config.intracandle_path:
        ic_long, ic_short = intracandle_shares(o, h, lo, c)
    else:
        ic_long = np.full(c.shape, float(config.intracandle_sweep))
        ic_short = ic_long
    return KernelInputs(
        time_s,
        c,
        *(
            np.ascontiguousarray(a[:, None])
            for a in (
                sweep_high,
                sweep_low,
                entry_low,
                entry_high,
                vol_inflow,
                turnover,
                ic_long,
                ic_short,
                oi,
                long_share,
            )
        ),
        *(_recorded(a, c.shape[0]) for a in (real_long, real_short)),
    )


def _recorded(values: np.ndarray | None, n: int) -> np.ndarray:
    """Recorded USD per candle: >= 0, NaN where unknown (a negative value is a feed error)."""
    if values is None:
        return np.full(n, np.nan)
    out = np.array(values, dtype=np.float64)
    out[~(out >= 0)] = np.nan
    return out


def merge_liquidations(candle_dates: Any, liquidations: Any) -> tuple[np.ndarray, np.ndarray]:
    """Recorded liquidations summed per candle: (long USD, short USD), NaN where unknown.

    ``liquidations``: rows with ``date`` (the start of the row's own period, e.g. a recorded
    minute) and ``long_usd``/``short_usd`` (NaN for a period the recorder missed). A candle dated
    ``d`` gets the rows dated in ``[d, next candle)``, all known at its close; a candle holding a
    NaN row, or outside the recorded span, is NaN (unknown, not quiet).

    Raises:
        InputError: a frame without those columns or with bad dates.
    """
    if (
        isinstance(liquidations, pd.DataFrame)
        and "date" not in liquidations.columns
        and isinstance(liquidations.index, pd.DatetimeIndex)
    ):  # load_liquidations' bars are indexed by their start
        liquidations = liquidations.rename_axis("date").reset_index()
    frame = side_frame(liquidations, "liquidations", ("long_usd", "short_usd"))
    missing = [c for c in ("long_usd", "short_usd") if c not in frame.columns]
    if missing:
        raise InputError(
            f"liquidations frame lacks {', '.join(missing)}; pass date, long_usd, short_usd "
            "(what liq_indicator.io.liquidations.load_liquidations returns)"
        )
    starts = utc_us(candle_dates).asi8
    n = starts.shape[0]
    if n == 0 or len(frame) == 0:
        return np.full(n, np.nan), np.full(n, np.nan)
    rows = utc_us(frame["date"]).asi8
    step = np.diff(rows).min() if len(rows) > 1 else 0
    edges = np.r_[starts[1:], starts[-1] + (np.diff(starts).min() if n > 1 else step)]
    first, last = rows[0], rows[-1] + step
    out = []
    for col in ("long_usd", "short_usd"):
        v = frame[col].to_numpy(dtype=np.float64)
        sums = np.full(n, np.nan)
        lo = np.asarray(np.searchsorted(rows, starts, side="left"))
        hi = np.asarray(np.searchsorted(rows, edges, side="left"))
        cum = np.r_[0.0, np.cumsum(np.nan_to_num(v, nan=0.0))]
        flagged = (~np.isfinite(v) | (v < 0)).astype(np.int64)
        bad = np.concatenate((np.zeros(1, dtype=np.int64), np.cumsum(flagged)))
        covered = (starts >= first) & (edges <= last)
        ok = covered & (bad[hi] - bad[lo] == 0)
        sums[ok] = cum[hi[ok]] - cum[lo[ok]]
        out.append(sums)
    return out[0], out[1]


def intracandle_shares(
    o: np.ndarray, h: np.ndarray, lo: np.ndarray, c: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Per candle, the share of its price path traded before its low and before its high.

    The path is open -> low -> high -> close for a candle that closed at or above its open and
    open -> high -> low -> close otherwise, each leg weighted by its length (a flat candle: 0, 0).
    What a candle opened before its low can be liquidated by that low within the candle.
    Compiled (:func:`liq_indicator.core.kernels.path_shares`): the live path calls it per candle.
    """
    from liq_indicator.core.kernels import path_shares

    before_low = np.empty(c.shape[0])
    before_high = np.empty(c.shape[0])
    path_shares(
        np.ascontiguousarray(o, dtype=np.float64),
        np.ascontiguousarray(h, dtype=np.float64),
        np.ascontiguousarray(lo, dtype=np.float64),
        np.ascontiguousarray(c, dtype=np.float64),
        before_low,
        before_high,
    )
    return before_low, before_high


def side_frame(other: Any, name: str, columns: tuple[str, ...] | list[str] = ()) -> pd.DataFrame:
    """A side series (open interest, funding, mark, ...) checked and put in merge order.

    Dates may be datetimes in any time zone (converted to UTC; naive ones are taken as UTC with a
    DataWarning) or epoch numbers (unit from their magnitude, DataWarning). Unsorted rows are sorted
    and duplicate dates keep their last row, each with a DataWarning: merged unsorted, a later row
    would be used early. ``columns`` must be numeric.

    Raises:
        InputError: not a DataFrame, duplicate or missing columns, missing (NaT) or unparsable dates,
            or non-numeric values.
    """
    if not isinstance(other, pd.DataFrame):
        raise InputError(
            f"{name} must be a pandas DataFrame with a 'date' column, got {type(other).__name__}"
        )
    _check_unique_columns(other, name)
    missing = [c for c in ("date", *columns) if c not in other.columns]
    if missing:
        raise InputError(f"{name} frame lacks column(s) {', '.join(missing)}")
    frame = other[["date", *columns]]
    dates = coerce_dates(frame["date"], name)
    if dates.isna().any():
        raise InputError(
            f"{name} column 'date' is missing (NaT) at {_where(frame, dates.isna().to_numpy())}; "
            f"drop those rows ({name}.dropna(subset=['date']))"
        )
    index = pd.DatetimeIndex(dates)
    if index.tz is None:
        warn_data(f"{name} column 'date' is timezone-naive; it is taken as UTC")
        index = index.tz_localize("UTC")
    values = {c: _float_column(frame, c) for c in columns}
    out = pd.DataFrame({"date": index.tz_convert("UTC").as_unit("us"), **values})
    if not out["date"].is_monotonic_increasing:
        warn_data(
            f"{name} rows are not sorted by date; they are sorted before merging (unsorted, "
            "a later row would be used early)"
        )
        out = out.sort_values("date", kind="stable", ignore_index=True)
    dup = out["date"].duplicated(keep="last")
    if dup.any():
        warn_data(f"{name} has {int(dup.sum())} duplicate date(s); the last row of each is kept")
        out = out[~dup].reset_index(drop=True)
    return out


def merge_causal(
    candles: pd.DataFrame,
    other: pd.DataFrame,
    columns: dict[str, str],
    *,
    timeframe: pd.Timedelta | str | None = None,
    other_timeframe: pd.Timedelta | str | None = None,
    max_age_periods: float | None = None,
    name: str = "side frame",
) -> pd.DataFrame:
    """Attach columns of a side series (open interest, funding, ...) to candles without lookahead.

    A row of ``other`` dated ``T`` is treated as known at ``T + other_timeframe`` (a candle's
    close, as Freqtrade's ``merge_informative_pair`` does), and a candle dated ``d`` sees the latest
    such row known by its own close ``d + timeframe``. With equal timeframes this is an exact join
    on date. ``other`` is checked and sorted first (:func:`side_frame`), so its order does not matter.

    Args:
        candles: frame with a ``date`` column (ascending).
        other: frame with a ``date`` column.
        columns: ``{column in other: name in the result}``.
        timeframe: the candles' spacing; inferred from their dates when omitted.
        other_timeframe: ``other``'s spacing; inferred from its dates when omitted.
        max_age_periods: a row older than this many ``other_timeframe`` periods at the candle's
            close is stale and not used (NaN); no limit when None.
        name: what ``other`` is, for messages.

    Returns:
        A copy of ``candles`` with the new columns (NaN before the first known row, and where
        the latest row is stale); ``attrs["stale_rows"]`` counts the rows blanked as stale.
    """
    values, stale_rows = _merge_values(
        candles["date"],
        other,
        columns,
        timeframe=timeframe,
        other_timeframe=other_timeframe,
        max_age_periods=max_age_periods,
        name=name,
    )
    out = candles.copy()
    for target, column in values.items():
        out[target] = column
    out.attrs["stale_rows"] = stale_rows
    return out


def _merge_values(
    dates: pd.Series,
    other: pd.DataFrame | None,
    columns: dict[str, str],
    *,
    timeframe: pd.Timedelta | str | None = None,
    other_timeframe: pd.Timedelta | str | None = None,
    max_age_periods: float | None = None,
    name: str = "side frame",
) -> tuple[dict[str, np.ndarray], int]:
    """:func:`merge_causal`'s columns as arrays (``{name in the result: values}``) and its count
    of stale rows, without copying the candles: an as-of search on integer microseconds.
    """
    if other is None or len(other) == 0:
        return {target: np.full(len(dates), np.nan) for target in columns.values()}, 0
    right = side_frame(other, name, tuple(columns))
    tf = pd.Timedelta(timeframe) if timeframe is not None else infer_timeframe(dates)
    otf = (
        pd.Timedelta(other_timeframe)
        if other_timeframe is not None
        else infer_timeframe(right["date"])
    )
    tf = tf if tf is not None else pd.Timedelta(0)
    otf = otf if otf is not None else pd.Timedelta(0)
    # a row is known at its close; the candle sees the last row known by its own close
    left_known = (utc_us(dates) + tf).as_unit("us").asi8
    right_known = (pd.DatetimeIndex(right["date"]) + otf).as_unit("us").asi8
    pos = np.searchsorted(right_known, left_known, side="right") - 1
    found = pos >= 0
    take = np.maximum(pos, 0)
    stale = np.zeros(len(left_known), dtype=bool)
    if max_age_periods is not None and otf > pd.Timedelta(0):
        age_ns = (left_known - right_known[take]) * 1000
        stale = found & (age_ns > (otf * max_age_periods).value)
    blank = ~found | stale
    values = {}
    for source, target in columns.items():
        column = right[source].to_numpy(dtype=np.float64)[take]
        column[blank] = np.nan
        values[target] = column
    first = right[next(iter(columns))].to_numpy(dtype=np.float64)[take]
    stale_rows = int((stale & ~np.isnan(first)).sum())
    return values, stale_rows


def _columns_of(frame: Any, name: str, wanted: tuple[str, ...]) -> tuple[str, ...]:
    if not isinstance(frame, pd.DataFrame):
        raise InputError(
            f"{name} must be a pandas DataFrame with a 'date' column, got {type(frame).__name__}"
        )
    return tuple(c for c in wanted if c in frame.columns)


def merge_side(
    dates: pd.Series,
    config: HeatmapConfig,
    *,
    open_interest: pd.DataFrame | None = None,
    mark: pd.DataFrame | None = None,
    funding: pd.DataFrame | None = None,
    liquidations: pd.DataFrame | None = None,
) -> dict[str, np.ndarray]:
    """Side frames merged causally onto candle dates, as :func:`prepare` reads them.

    Open interest gives both ``open_interest_value`` and ``open_interest_amount`` when both are
    there (Bybit's layout leaves the value NaN and fills the amount), each row blanked once older
    than ``config.oi_max_age_periods`` of its timeframe, plus its ``taker_long_short_ratio`` when it
    has one; funding gives ``funding_rate``; a mark frame ``mark_high``/``mark_low``, only when it
    has the candles' timeframe; recorded liquidations ``real_long_usd``/``real_short_usd``
    (:func:`merge_liquidations`). Each value is known from its own period's close on
    (:func:`merge_causal`).

    Args:
        dates: the candles' dates (ascending); epoch numbers are converted (:func:`coerce_dates`).
        config: the map's settings (``oi_max_age_periods``).
        open_interest: Freqtrade ``open_interest`` candles, or None.
        mark: mark-price candles (``high``, ``low``), or None.
        funding: funding-rate candles (:func:`funding_column`), or None.
        liquidations: recorded liquidations (:func:`merge_liquidations`), or None.

    Returns:
        ``{side column: values per candle}`` for the columns the given frames hold (a subset of
        :data:`SIDE_COLUMNS`); empty without side frames.

    Raises:
        InputError: a side frame that is not a DataFrame, lacks its columns or has bad dates.
    """
    side: dict[str, np.ndarray] = {}
    if open_interest is None and mark is None and funding is None and liquidations is None:
        return side
    if not pd.api.types.is_datetime64_any_dtype(dates):
        dates = coerce_dates(dates)
    if open_interest is not None:
        if "taker_long_short_ratio" in _columns_of(
            open_interest, "open_interest", ("taker_long_short_ratio",)
        ):
            side.update(
                _merge_values(
                    dates,
                    open_interest,
                    {"taker_long_short_ratio": "taker_long_short_ratio"},
                    name="open_interest",
                )[0]
            )
        # both columns when both are there: Bybit's layout leaves the value NaN, the amount filled
        oi_columns = _columns_of(
            open_interest, "open_interest", ("open_interest_value", "open_interest_amount")
        )
        if not oi_columns:
            raise InputError(
                "open_interest frame needs 'open_interest_value' (USD) or 'open_interest_amount' "
                "(coin), as Freqtrade's open_interest candles have"
            )
        merged, stale_rows = _merge_values(
            dates,
            open_interest,
            {c: c for c in oi_columns},
            max_age_periods=config.oi_max_age_periods,
            name="open_interest",
        )
        side.update(merged)
        if stale_rows:
            warn_data(
                f"open interest is stale for {stale_rows} candle(s) (older than "
                "oi_max_age_periods of its timeframe); the volume rule is used there"
            )
    if liquidations is not None:
        side["real_long_usd"], side["real_short_usd"] = merge_liquidations(dates, liquidations)
    if funding is not None:
        side.update(
            _merge_values(
                dates, funding, {funding_column(funding): "funding_rate"}, name="funding"
            )[0]
        )
    if mark is not None:
        _columns_of(mark, "mark", ())
        mark = side_frame(mark, "mark", ("high", "low"))
        tf, mtf = infer_timeframe(dates), infer_timeframe(mark["date"])
        if tf is not None and mtf is not None and tf != mtf:
            warn_data(
                f"mark candles are {mtf} but candles are {tf}; the mark high/low of a coarser "
                "candle is not known at the finer close, so the traded high/low are used"
            )
        else:
            side.update(
                _merge_values(
                    dates,
                    mark,
                    {"high": "mark_high", "low": "mark_low"},
                    timeframe=tf,
                    other_timeframe=tf,
                    name="mark",
                )[0]
            )
    return side


def prepare(
    df: pd.DataFrame,
    config: HeatmapConfig,
    *,
    open_interest: pd.DataFrame | None = None,
    mark: pd.DataFrame | None = None,
    funding: pd.DataFrame | None = None,
    liquidations: pd.DataFrame | None = None,
) -> KernelInputs:
    """Validate candles (plus optional side frames) and derive the kernel's arrays.

    Columns already on ``df`` are used as they are: ``open_interest_value`` (USD) and/or
    ``open_interest_amount`` (coin), ``mark_high``/``mark_low``, ``taker_buy_volume`` (or
    ``taker_long_short_ratio``), ``funding_rate``; each value must be known at its row's close.
    Side frames given as arguments are checked, sorted and merged causally (:func:`merge_side`);
    a mark frame is used only when it has the candles' timeframe (a coarser mark high is not known
    until its own close).
    """
    if (
        isinstance(df, pd.DataFrame)
        and "date" in df.columns
        and not pd.api.types.is_datetime64_any_dtype(df["date"])
    ):
        df = df.assign(date=coerce_dates(df["date"]))
    cols = validate_candles(df)
    time_s = candle_times(df["date"])
    side = {name: _optional(df, name) for name in SIDE_COLUMNS}  # columns on the candles first
    side.update(
        merge_side(
            df["date"],
            config,
            open_interest=open_interest,
            mark=mark,
            funding=funding,
            liquidations=liquidations,
        )
    )
    return derive_inputs(
        cols,
        time_s,
        config,
        oi_value=side["open_interest_value"],
        oi_amount=side["open_interest_amount"],
        mark_high=side["mark_high"],
        mark_low=side["mark_low"],
        taker_buy_volume=side["taker_buy_volume"],
        taker_ratio=side["taker_long_short_ratio"],
        funding_rate=side["funding_rate"],
        long_share=side["long_share"],
        real_long=side["real_long_usd"],
        real_short=side["real_short_usd"],
    )


def funding_column(funding: Any, *, default: str | None = None) -> str:
    """The column of a funding frame that holds the rate: ``funding_rate``, or the legacy ``open``
    of Freqtrade's funding-rate candles.

    Args:
        funding: the funding frame.
        default: returned when neither column is there (the caller reports it); None raises.

    Raises:
        InputError: not a DataFrame, or neither column is there and no ``default`` is given.
    """
    src = _columns_of(funding, "funding", ("funding_rate", "open"))
    if src:
        return src[0]
    if default is not None:
        return default
    raise InputError(
        "funding frame needs 'funding_rate' (or Freqtrade's legacy 'open') holding the rate"
    )
