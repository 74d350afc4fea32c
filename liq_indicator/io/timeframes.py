"""Freqtrade timeframe strings (``5m``, ``1h``, ``1d``, ...): the one parser of the package.

A timeframe is a positive count and a unit: ``s`` seconds, ``m`` minutes, ``h`` hours, ``d`` days,
``w`` weeks, ``M`` months (Freqtrade's, and ccxt's, spelling). Months have no fixed length, so
only :func:`parse_timeframe` accepts them; everything that needs a duration refuses them.
No pandas import: the command line checks timeframes while it builds its parser.
"""

from __future__ import annotations

import re

from liq_indicator.errors import InputError

__all__ = ["TIMEFRAME_EXAMPLES", "parse_timeframe", "timeframe_seconds", "timeframe_minutes"]

_TIMEFRAME = re.compile(r"([1-9][0-9]*)([smhdwM])")
_UNIT_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86_400, "w": 604_800}
TIMEFRAME_EXAMPLES = "e.g. 5m, 15m, 1h, 4h or 1d"


def parse_timeframe(timeframe: str) -> tuple[int, str]:
    """``"15m"`` -> ``(15, "m")``.

    Raises:
        InputError: when ``timeframe`` is not a count >= 1 followed by one of s, m, h, d, w, M.
    """
    match = _TIMEFRAME.fullmatch(str(timeframe))
    if match is None:
        raise InputError(f"{timeframe!r} is not a Freqtrade timeframe; use {TIMEFRAME_EXAMPLES}")
    return int(match[1]), match[2]


def timeframe_seconds(timeframe: str) -> int:
    """Seconds of one candle of ``timeframe`` (``"5m"`` -> 300).

    Raises:
        InputError: on a malformed timeframe or a month (``"1M"``), which has no fixed length.
    """
    count, unit = parse_timeframe(timeframe)
    if unit == "M":
        raise InputError(f"{timeframe!r}: months have no fixed length; use {TIMEFRAME_EXAMPLES}")
    return count * _UNIT_SECONDS[unit]


def timeframe_minutes(timeframe: str) -> float:
    """Minutes of one candle of ``timeframe`` (``"1h"`` -> 60; ``"30s"`` -> 0.5).

    Raises:
        InputError: as :func:`timeframe_seconds`.
    """
    return timeframe_seconds(timeframe) / 60
