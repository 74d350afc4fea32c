"""The package's own exception and warning types.

Every error raised on bad input names the problem (column, row, value) and the fix.
"""

from __future__ import annotations

__all__ = ["LiqIndicatorError", "InputError", "ConfigError", "DataWarning"]


class LiqIndicatorError(ValueError):
    """Base class of every error this package raises on bad input or configuration."""


class InputError(LiqIndicatorError):
    """The candles (or other input frames) cannot be used as given; the message says how to fix them."""


class ConfigError(LiqIndicatorError):
    """A configuration value is out of range or inconsistent; the message names the field."""


class DataWarning(UserWarning):
    """A recoverable oddity in the input that the package repaired in a documented way."""
