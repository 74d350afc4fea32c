"""Optional dependencies, imported when a feature needs them, with the fix when one is missing."""

from __future__ import annotations

import importlib
import importlib.util
from types import ModuleType

from liq_indicator.errors import InputError

__all__ = ["freqtrade_module", "require"]


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


def require(modules: tuple[str, ...], extra: str, purpose: str) -> None:
    """Check that the optional ``modules`` ``purpose`` needs are installed, without importing them.

    Raises:
        InputError: naming the missing modules and the extra that installs them
            (``pip install 'liq-indicator[extra]'``).
    """
    missing = [m for m in modules if importlib.util.find_spec(m) is None]
    if missing:
        raise InputError(
            f"{purpose} needs {', '.join(missing)}, which is not installed here; "
            f"install it with pip install 'liq-indicator[{extra}]'"
        )
