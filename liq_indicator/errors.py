"""The package's own exception and warning types, and the one helper that issues warnings.

Every error raised on bad input names the problem (column, row, value) and the fix.
"""

from __future__ import annotations

import sys
import warnings
from types import FrameType

__all__ = ["LiqIndicatorError", "InputError", "ConfigError", "DataWarning", "warn_data"]


class LiqIndicatorError(ValueError):
    """Base class of every error this package raises on bad input or configuration."""


class InputError(LiqIndicatorError):
    """The candles (or other input frames) cannot be used as given; the message says how to fix them."""


class ConfigError(LiqIndicatorError):
    """A configuration value is out of range or inconsistent; the message names the field."""


class DataWarning(UserWarning):
    """A recoverable oddity in the input that the package repaired in a documented way."""


_PACKAGE = __name__.split(".")[0]


def warn_data(message: str, category: type[Warning] = DataWarning) -> None:
    """Warn about ``message``, attributed to the first caller outside this package.

    The warning then points at the user's line however deep inside the package it was found, so
    no call site has to count stack levels (and ``warnings`` filters by module see the caller).
    """
    frame: FrameType | None = sys._getframe(1)
    level = 2
    while frame is not None and frame.f_globals.get("__name__", "").partition(".")[0] == _PACKAGE:
        frame = frame.f_back
        level += 1
    warnings.warn(message, category, stacklevel=level)
