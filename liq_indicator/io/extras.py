"""Optional dependencies, imported when a feature needs them, with the fix when one is missing.

Every missing optional package raises :class:`~liq_indicator.errors.InputError` through this
module, naming the package and the extra that installs it (``pip install
'liq-indicator[freqtrade]'``): like an unusable input file, it is something about the
environment the call was given, not a value of the package's settings (ConfigError).
"""

from __future__ import annotations

import importlib
import importlib.util
from types import ModuleType

from liq_indicator.errors import InputError

__all__ = ["freqtrade_module", "import_extra", "require"]


def _missing(modules: list[str], extra: str, purpose: str, why: str = "") -> InputError:
    return InputError(
        f"{purpose} needs {', '.join(modules)}, which is not installed here{why}; "
        f"install it with pip install 'liq-indicator[{extra}]'"
    )


def import_extra(name: str, extra: str, purpose: str) -> ModuleType:
    """Import the optional module ``name`` (``"ccxt.pro"``) that ``purpose`` needs.

    Raises:
        InputError: when it is not installed, naming its package and the ``extra`` that installs
            it (``pip install 'liq-indicator[extra]'``).
    """
    package = name.partition(".")[0]
    try:
        importlib.import_module(package)  # first: a submodule imported before would not notice
        return importlib.import_module(name)
    except ImportError as exc:
        raise _missing([package], extra, purpose, f" ({exc})") from None


def freqtrade_module(name: str, purpose: str) -> ModuleType:
    """Import ``name`` (a module of Freqtrade) for ``purpose`` (``"reading --timerange"``).

    Raises:
        InputError: when Freqtrade is not installed, saying how to install it.
    """
    return import_extra(name, "freqtrade", purpose)


def _installed(module: str) -> bool:
    package = module.partition(".")[0]
    try:
        return all(
            importlib.util.find_spec(m) is not None for m in dict.fromkeys((package, module))
        )
    except (ImportError, ValueError):  # a dotted name whose package is missing; no __spec__
        return False


def require(modules: tuple[str, ...], extra: str, purpose: str) -> None:
    """Check that the optional ``modules`` ``purpose`` needs are installed, without importing them.

    Raises:
        InputError: naming the missing modules and the extra that installs them
            (``pip install 'liq-indicator[extra]'``).
    """
    missing = [m for m in modules if not _installed(m)]
    if missing:
        raise _missing(missing, extra, purpose)
