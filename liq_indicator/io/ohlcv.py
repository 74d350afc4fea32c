"""OHLCV candles to a coarser period: the one aggregation of the package (pandas ``resample``)."""

from __future__ import annotations

import re
from collections.abc import Mapping

import pandas as pd

from liq_indicator.io.timeframes import TIMEFRAME_PATTERN, timeframe_seconds

__all__ = ["OHLCV_AGG", "resample_ohlcv"]

#: How each candle column combines into a coarser candle.
OHLCV_AGG: dict[str, str] = {
    "open": "first",
    "high": "max",
    "low": "min",
    "close": "last",
    "volume": "sum",
}


def resample_ohlcv(
    candles: pd.DataFrame,
    per: str | pd.Timedelta,
    *,
    extra: Mapping[str, str] | None = None,
    origin: str = "start_day",
) -> pd.DataFrame:
    """``candles`` (a ``date`` column and OHLCV) aggregated to periods of ``per``.

    Args:
        candles: Freqtrade's layout, sorted by ``date``; columns of :data:`OHLCV_AGG` that are
            missing are left out of the result.
        per: the period: a Freqtrade timeframe (``"15m"``, ``"4h"``; months refused), or
            anything else ``DataFrame.resample`` takes (``"15min"``, a Timedelta).
        extra: further columns and their pandas aggregation (``{"liq_swept_long_usd": "sum"}``).
        origin: where the periods are anchored, as in ``resample`` (``"epoch"``: multiples of
            ``per`` since 1970, as exchanges do).

    Returns:
        A frame with ``date`` (each period's start) and the aggregated columns; a period without
        candles (or with a column that aggregates to NaN) is dropped.
    """
    # a Freqtrade timeframe first: "15m" is 15 minutes (to pandas, 15 months)
    if isinstance(per, str) and re.fullmatch(TIMEFRAME_PATTERN, per):
        per = pd.Timedelta(seconds=timeframe_seconds(per))
    agg = {c: how for c, how in OHLCV_AGG.items() if c in candles.columns}
    agg.update(extra or {})
    frame = candles.set_index("date")[list(agg)].resample(per, origin=origin).agg(agg)
    return frame.dropna().reset_index()
