"""An offline, loopback-only Binance USDT-M exchange for running Freqtrade without internet.

Freqtrade needs exchange markets even to backtest. :func:`running_exchange` serves a Freqtrade
datadir as Binance's public futures API on 127.0.0.1, and :func:`exchange_overlay` builds the
config fragment (``exchange.ccxt_config.urls``) that points Freqtrade at it::

    from liq_indicator.offline import running_exchange

    with running_exchange("user_data/data/binance") as ex:
        ex.write_overlay("offline.json")
        # freqtrade backtesting --config config.json --config offline.json ...

From a shell: ``liq-indicator exchange --datadir user_data/data/binance --overlay offline.json``
(or ``python -m liq_indicator.offline ...``). ``--replay`` publishes the data as if it were
happening now, for ``freqtrade trade --dry-run``. See :mod:`liq_indicator.offline.server`.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from liq_indicator.offline.overlay import exchange_overlay, write_overlay
    from liq_indicator.offline.server import (
        ExchangeServer,
        Fault,
        RunningExchange,
        running_exchange,
        serve,
    )

__all__ = [
    "ExchangeServer",
    "Fault",
    "RunningExchange",
    "exchange_overlay",
    "running_exchange",
    "serve",
    "write_overlay",
]

# where each name lives: imported on first use, so that `liq-indicator --help` (which lists the
# `exchange` command of offline/command.py) does not load aiohttp, pandas and the server
_HOME = {"exchange_overlay": "overlay", "write_overlay": "overlay"}


def __getattr__(name: str) -> Any:
    if name not in __all__:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    module = importlib.import_module(f"{__name__}.{_HOME.get(name, 'server')}")
    return getattr(module, name)
