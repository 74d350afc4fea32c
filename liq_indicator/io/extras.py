"""Optional dependencies, imported when a feature needs them, with the fix when one is missing."""

from __future__ import annotations

import importlib
from types import ModuleType

from liq_indicator.errors import InputError

__all__ = ["freqtrade_module"]


def freqtrade_module(name: str, purpose: str) -> ModuleType:
    """Import ``name`` (a module of Freqtrade) for ``purpose`` (``"reading --timerange"``).

    Raises:
        InputError: when Freqtrade is not installed, saying how to install it.
    """
    try:
        return importlib.import_module(name)
    except ImportError as exc:
        raise InputError(
            f"{purpose} uses Freqtrade, which is not installed here ({exc}); "
            "install it with pip install 'liq-indicator[freqtrade]'"
        ) from None
