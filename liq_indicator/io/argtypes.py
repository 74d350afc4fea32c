"""Argument types of the commands: a bad number or timeframe stops argparse itself (exit 2,
``argument --decades: -1 is not ... ``), before any data is read.

They live in :mod:`liq_indicator.io` so that every command line of the package (``liq-indicator``
and ``python -m liq_indicator.offline``) checks its options the same way.

Each factory returns a function for ``add_argument(type=...)`` that raises
``argparse.ArgumentTypeError`` naming the value and what is accepted. NaN and infinities are
refused everywhere (``float("nan")`` parses, and compares false with every bound).
"""

from __future__ import annotations

import argparse
import math
from collections.abc import Callable, Sequence

from liq_indicator.errors import InputError
from liq_indicator.io.timeframes import (
    TIMEFRAME_EXAMPLES,
    UNIT_SECONDS,
    parse_timeframe,
    timeframe_minutes,
)

__all__ = ["real", "integer", "timeframe", "duration", "utc_date", "choice_list"]


def real(
    low: float | None = None,
    high: float | None = None,
    *,
    low_open: bool = False,
    high_open: bool = False,
) -> Callable[[str], float]:
    """A finite float in [low, high] (``low_open``/``high_open``: that end excluded)."""
    lo = "" if low is None else f"{'>' if low_open else '>='} {low:g}"
    hi = "" if high is None else f"{'<' if high_open else '<='} {high:g}"
    wanted = " and ".join(s for s in (lo, hi) if s)

    def parse(text: str) -> float:
        try:
            value = float(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
        bad_low = low is not None and (value <= low if low_open else value < low)
        bad_high = high is not None and (value >= high if high_open else value > high)
        if not math.isfinite(value) or bad_low or bad_high:
            raise argparse.ArgumentTypeError(
                f"{text!r} is out of range; give a finite number{' ' + wanted if wanted else ''}"
            )
        return value

    parse.__name__ = "number"
    return parse


def integer(low: int | None = None, high: int | None = None) -> Callable[[str], int]:
    """A whole number in [low, high]."""
    wanted = " and ".join(
        s
        for s in (f">= {low}" if low is not None else "", f"<= {high}" if high is not None else "")
        if s
    )

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
        if (low is not None and value < low) or (high is not None and value > high):
            raise argparse.ArgumentTypeError(
                f"{text!r} is out of range; give a whole number {wanted}"
            )
        return value

    parse.__name__ = "integer"
    return parse


def timeframe(
    multiple_of_minutes: int | None = None, *, months: bool = True
) -> Callable[[str], str]:
    """A Freqtrade timeframe (``5m``, ``1h``, ``1d``, ...); optionally a whole multiple of
    ``multiple_of_minutes`` minutes (which excludes seconds and months), and without months.
    """

    def parse(text: str) -> str:
        try:
            _, unit = parse_timeframe(text)
        except InputError as exc:
            raise argparse.ArgumentTypeError(str(exc)) from None
        if not months and unit == "M":
            raise argparse.ArgumentTypeError(
                f"{text!r} is not a Freqtrade timeframe; use {TIMEFRAME_EXAMPLES}"
            )
        if multiple_of_minutes is not None and (
            unit == "M" or timeframe_minutes(text) % multiple_of_minutes
        ):
            raise argparse.ArgumentTypeError(
                f"{text!r} is not a multiple of {multiple_of_minutes}m; use {TIMEFRAME_EXAMPLES}"
            )
        return text

    parse.__name__ = "timeframe"
    return parse


def duration(limit_s: float | None = None) -> Callable[[str], float]:
    """A length of time > 0, as seconds: a number (``3600``) or a count with a unit ``s``, ``m``,
    ``h``, ``d`` or ``w`` (``90m``, ``24h``, ``7d``, ``1w``); at most ``limit_s`` seconds.
    """

    def parse(text: str) -> float:
        number, unit = text.strip(), "s"
        if number[-1:] in UNIT_SECONDS:
            number, unit = number[:-1], number[-1]
        try:
            seconds = float(number) * UNIT_SECONDS[unit]
        except ValueError:
            raise argparse.ArgumentTypeError(
                f"{text!r} is not a duration; give seconds or a count with a unit: 3600, 90m, "
                "24h, 7d, 1w"
            ) from None
        if not (math.isfinite(seconds) and seconds > 0) or (
            limit_s is not None and seconds > limit_s
        ):
            most = f" and at most {limit_s:g} s" if limit_s is not None else ""
            raise argparse.ArgumentTypeError(
                f"{text!r} is out of range; give a finite duration > 0{most} (e.g. 24h, 7d)"
            )
        return seconds

    parse.__name__ = "duration"
    return parse


def utc_date(text: str) -> str:
    """A date or time pandas reads (``2026-01-16``, ``2026-01-16T12:00``); returned as given."""
    import pandas as pd

    try:
        ok = pd.Timestamp(text) is not pd.NaT
    except (ValueError, TypeError, OverflowError):
        ok = False
    if not ok:
        raise argparse.ArgumentTypeError(f"{text!r} is not a date; use e.g. 2026-01-16 (UTC)")
    return text


def choice_list(choices: Sequence[str]) -> Callable[[str], list[str]]:
    """A comma-separated list whose items are all in ``choices`` (empty items are dropped)."""

    def parse(text: str) -> list[str]:
        items = [s.strip() for s in text.split(",") if s.strip()]
        unknown = [s for s in items if s not in choices]
        if unknown:
            raise argparse.ArgumentTypeError(
                f"{text!r}: {', '.join(unknown)} not known; choose from {', '.join(choices)}"
            )
        return items

    parse.__name__ = "list"
    return parse
