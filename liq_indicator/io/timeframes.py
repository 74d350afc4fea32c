"""Freqtrade timeframe strings (``5m``, ``1h``, ``1d``, ...): the one parser of the package.

A timeframe is a positive count and a unit: ``s`` seconds, ``m`` minutes, ``h`` hours, ``d`` days,
``w`` weeks, ``M`` months (Freqtrade's, and ccxt's, spelling). Months have no fixed length, so
only :func:`parse_timeframe` accepts them; everything that needs a duration refuses them.
No pandas import: the command line checks timeframes while it builds its parser.
"""

from __future__ import annotations

import re

from liq_indicator.errors import InputError

__all__ = [
    "TIMEFRAME_EXAMPLES",
    "TIMEFRAME_PATTERN",
    "UNIT_SECONDS",
    "parse_timeframe",
    "suggest_timeframe",
    "timeframe_seconds",
    "timeframe_minutes",
]

#: The regular expression of a timeframe, for patterns that hold one (Freqtrade's file names).
TIMEFRAME_PATTERN = r"([1-9][0-9]*)([smhdwM])"
_TIMEFRAME = re.compile(TIMEFRAME_PATTERN)
#: Seconds of each unit of fixed length (``"h"`` -> 3600; months have none).
UNIT_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86_400, "w": 604_800}
TIMEFRAME_EXAMPLES = "e.g. 5m, 15m, 1h, 4h or 1d"
#: Other spellings of a unit (pandas' ``5min``/``1H``/``15T``, words) -> Freqtrade's letter.
_UNIT_ALIASES = {
    **dict.fromkeys(("sec", "secs", "second", "seconds", "S"), "s"),
    **dict.fromkeys(("min", "mins", "minute", "minutes", "t", "T"), "m"),
    **dict.fromkeys(("hr", "hrs", "hour", "hours", "H"), "h"),
    **dict.fromkeys(("day", "days", "D"), "d"),
    **dict.fromkeys(("wk", "wks", "week", "weeks", "W"), "w"),
    **dict.fromkeys(("mo", "mon", "month", "months", "ME", "MS"), "M"),
}
_SPELLED = re.compile(r"([1-9][0-9]*)\s*([A-Za-z]+)")


def suggest_timeframe(text: str) -> str | None:
    """Freqtrade's spelling of a timeframe written another way (``"5min"`` -> ``"5m"``,
    ``"1H"`` -> ``"1h"``, ``"4 hours"`` -> ``"4h"``); None when there is no obvious one.
    """
    match = _SPELLED.fullmatch(str(text).strip())
    if match is None:
        return None
    unit = _UNIT_ALIASES.get(match[2]) or _UNIT_ALIASES.get(match[2].lower())
    suggestion = f"{match[1]}{unit}" if unit else None
    return suggestion if suggestion != text else None


def parse_timeframe(timeframe: str) -> tuple[int, str]:
    """``"15m"`` -> ``(15, "m")``.

    Raises:
        InputError: when ``timeframe`` is not a count >= 1 followed by one of s, m, h, d, w, M.
    """
    match = _TIMEFRAME.fullmatch(str(timeframe))
    if match is None:
        suggestion = suggest_timeframe(timeframe)
        hint = f"did you mean {suggestion!r}? " if suggestion else ""
        raise InputError(
            f"{timeframe!r} is not a Freqtrade timeframe; {hint}use {TIMEFRAME_EXAMPLES}"
        )
    return int(match[1]), match[2]


def timeframe_seconds(timeframe: str) -> int:
    """Seconds of one candle of ``timeframe`` (``"5m"`` -> 300).

    Raises:
        InputError: on a malformed timeframe or a month (``"1M"``), which has no fixed length.
    """
    count, unit = parse_timeframe(timeframe)
    if unit == "M":
        raise InputError(f"{timeframe!r}: months have no fixed length; use {TIMEFRAME_EXAMPLES}")
    return count * UNIT_SECONDS[unit]


def timeframe_minutes(timeframe: str) -> float:
    """Minutes of one candle of ``timeframe`` (``"1h"`` -> 60; ``"30s"`` -> 0.5).

    Raises:
        InputError: as :func:`timeframe_seconds`.
    """
    return timeframe_seconds(timeframe) / 60
