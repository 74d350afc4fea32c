"""Argument types of the subcommands: a bad number or timeframe stops argparse itself (exit 2,
``argument --decades: -1 is not ... ``), before any data is read.

Each factory returns a function for ``add_argument(type=...)`` that raises
``argparse.ArgumentTypeError`` naming the value and what is accepted. NaN and infinities are
refused everywhere (``float("nan")`` parses, and compares false with every bound).
"""

from __future__ import annotations

import argparse
import math
import re
from collections.abc import Callable

__all__ = ["real", "integer", "timeframe", "utc_date", "choice_list"]

# Freqtrade's timeframe strings: a positive count and a unit (s, m, h, d, w, M = month)
_TIMEFRAME = re.compile(r"[1-9][0-9]*[smhdwM]")


def real(low: float | None = None, high: float | None = None, *, low_open: bool = False,
         high_open: bool = False) -> Callable[[str], float]:
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
                f"{text!r} is out of range; give a finite number{' ' + wanted if wanted else ''}")
        return value

    parse.__name__ = "number"
    return parse


def integer(low: int | None = None, high: int | None = None) -> Callable[[str], int]:
    """A whole number in [low, high]."""
    wanted = " and ".join(s for s in (f">= {low}" if low is not None else "",
                                      f"<= {high}" if high is not None else "") if s)

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
        if (low is not None and value < low) or (high is not None and value > high):
            raise argparse.ArgumentTypeError(f"{text!r} is out of range; give a whole number {wanted}")
        return value

    parse.__name__ = "integer"
    return parse


def timeframe(multiple_of_minutes: int | None = None, *, months: bool = True) -> Callable[[str], str]:
    """A Freqtrade timeframe (``5m``, ``1h``, ``1d``, ...); optionally a whole multiple of
    ``multiple_of_minutes`` minutes (which excludes seconds and months), and without months."""

    def parse(text: str) -> str:
        examples = "e.g. 5m, 15m, 1h, 4h or 1d"
        if not _TIMEFRAME.fullmatch(text) or (not months and text.endswith("M")):
            raise argparse.ArgumentTypeError(f"{text!r} is not a Freqtrade timeframe; use {examples}")
        if multiple_of_minutes is not None:
            count, unit = int(text[:-1]), text[-1]
            minutes = {"s": count / 60, "m": count, "h": 60 * count, "d": 1440 * count,
                       "w": 10080 * count}.get(unit)
            if minutes is None or minutes % multiple_of_minutes:
                raise argparse.ArgumentTypeError(
                    f"{text!r} is not a multiple of {multiple_of_minutes}m; use {examples}")
        return text

    parse.__name__ = "timeframe"
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


def choice_list(choices: tuple[str, ...] | list[str]) -> Callable[[str], list[str]]:
    """A comma-separated list whose items are all in ``choices`` (empty items are dropped)."""

    def parse(text: str) -> list[str]:
        items = [s.strip() for s in text.split(",") if s.strip()]
        unknown = [s for s in items if s not in choices]
        if unknown:
            raise argparse.ArgumentTypeError(
                f"{text!r}: {', '.join(unknown)} not known; choose from {', '.join(choices)}")
        return items

    parse.__name__ = "list"
    return parse
