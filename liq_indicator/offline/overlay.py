"""The Freqtrade config overlay that points ccxt's Binance client at the offline exchange.

Freqtrade deep-merges every ``--config`` file in order, so adding the overlay as the *last*
``--config`` leaves the user's own config untouched apart from the ``exchange`` keys below:

- ``ccxt_config.urls.api``: every API family in ccxt's own ``binance().urls["api"]`` is
  redirected to the loopback server, so a family a newer ccxt adds is redirected too. The USDT-M
  families (those on ``fapi.binance.com``: ``fapiPublic*``, ``fapiPrivate*``, ``fapiData``) keep
  their Binance paths; all others (spot, margin, coin-M, options, portfolio margin) get an
  ``/unsupported/<family>`` prefix that the server answers with a logged 404, so no REST request
  can leave the machine.
  (ccxt.pro's websocket URLs are left alone: ``enable_ws`` is off, and Freqtrade opens no
  websockets for Binance futures.)
  Freqtrade merges ``ccxt_config`` into both its sync and its async ccxt client, so
  ``ccxt_async_config`` is not needed.
- ``ccxt_config.options.fetchMarkets.types = ["linear"]``: load only USDT-M markets (one
  ``exchangeInfo`` request instead of spot + coin-M ones).
- ``only_from_ccxt``: stop ``download-data`` from fetching archives from Binance's public data
  site; everything then goes through ccxt, i.e. through the server.
- ``enable_ws``: no websockets (Freqtrade does not use them for Binance futures anyway).
"""

from __future__ import annotations

import functools
import json
import os
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from liq_indicator.errors import ConfigError
from liq_indicator.io.extras import import_extra

# SERVED_APIS and UNSERVED_APIS are read from ccxt on first use (module __getattr__ below)
__all__ = [
    "SERVED_HOST",
    "WS_CCXT_CLASSES",
    "ccxt_api_urls",
    "ccxt_ws_urls",
    "exchange_overlay",
    "write_overlay",
    "ws_markets",
]

#: The Binance host whose API families the server answers (USDT-M futures).
SERVED_HOST = "fapi.binance.com"


@functools.cache
def _ccxt_apis() -> dict[str, str]:
    """The API family -> Binance URL map of ccxt's ``binance().urls["api"]``."""
    ccxt = import_extra("ccxt", "freqtrade", "the offline exchange's overlay")
    return dict(ccxt.binance().urls["api"])


def __getattr__(name: str) -> Any:
    """``SERVED_APIS`` (family -> Binance path prefix the server answers) and ``UNSERVED_APIS``
    (the other families), both read from ccxt when first asked for.
    """
    apis = {family: urlsplit(url) for family, url in _ccxt_apis().items()}
    if name == "SERVED_APIS":
        return {f: u.path for f, u in apis.items() if u.hostname == SERVED_HOST}
    if name == "UNSERVED_APIS":
        return tuple(f for f, u in apis.items() if u.hostname != SERVED_HOST)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def _check_base_url(base_url: str) -> str:
    parts = urlsplit(base_url)
    if parts.scheme != "http" or parts.hostname not in ("127.0.0.1", "localhost") or not parts.port:
        raise ConfigError(
            f"base_url {base_url!r} is not a loopback address of the offline exchange; "
            "expected 'http://127.0.0.1:<port>' as printed by `liq-indicator exchange`."
        )
    return base_url.rstrip("/")


def ccxt_api_urls(base_url: str) -> dict[str, str]:
    """Map every ccxt ``binance`` API family to a URL on the offline exchange.

    Args:
        base_url: the server's root, e.g. ``"http://127.0.0.1:8123"``.

    Returns:
        The dict to put under ccxt's ``urls.api``.

    Raises:
        ConfigError: ``base_url`` is not an ``http://`` loopback URL with a port.
        InputError: ccxt is not installed (the message says how to install it).
    """
    base = _check_base_url(base_url)
    return {
        family: base + urlsplit(url).path
        if urlsplit(url).hostname == SERVED_HOST
        else f"{base}/unsupported/{family}"
        for family, url in _ccxt_apis().items()
    }


def exchange_overlay(base_url: str) -> dict[str, Any]:
    """The Freqtrade config fragment that sends all Binance traffic to the offline exchange.

    Args:
        base_url: the server's root, e.g. ``"http://127.0.0.1:8123"``.

    Returns:
        ``{"exchange": {...}}``, ready to be dumped as an extra ``--config`` file.
    """
    return {
        # no fiat conversion: Freqtrade would ask api.coingecko.com for it
        "fiat_display_currency": "",
        "exchange": {
            "name": "binance",
            "only_from_ccxt": True,
            "enable_ws": False,
            "ccxt_config": {
                "urls": {"api": ccxt_api_urls(base_url)},
                "options": {
                    "fetchMarkets": {"types": ["linear"]},
                    "fetchCurrencies": False,
                    "fetchMargins": False,
                },
            },
        },
    }


def write_overlay(path: str | Path, base_url: str) -> Path:
    """Write :func:`exchange_overlay` as JSON, atomically (a reader never sees a partial file).

    Args:
        path: where to write; parent directories are created.
        base_url: the server's root, e.g. ``"http://127.0.0.1:8123"``.

    Returns:
        The path written.
    """
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(f".{target.name}.{os.getpid()}.tmp")
    tmp.write_text(json.dumps(exchange_overlay(base_url), indent=2) + "\n", encoding="utf-8")
    tmp.replace(target)
    return target


#: ccxt.pro class of each venue whose liquidation stream the offline exchange serves.
WS_CCXT_CLASSES = {"binance": "binanceusdm", "bybit": "bybit", "okx": "okx"}


def ccxt_ws_urls(base_url: str, venue: str) -> Any:
    """The ``urls["api"]["ws"]`` value that points a ccxt.pro client at the offline streams.

    Args:
        base_url: the server's root, e.g. ``"http://127.0.0.1:8123"``.
        venue: ``binance`` (ccxt ``binanceusdm``), ``bybit`` or ``okx``.

    Returns:
        What to put in ``exchange.urls["api"]["ws"]`` (a dict for Binance and Bybit, a string
        for OKX, as ccxt keeps them).

    Raises:
        ConfigError: an unknown venue or a ``base_url`` that is not a loopback one.
    """
    ws = "ws" + _check_base_url(base_url)[len("http") :]
    if venue == "binance":
        # ccxt inserts the stream category: .../ws -> .../market/ws/<stream>
        return {"linear": f"{ws}/ws/binance/ws", "future": f"{ws}/ws/binance/ws"}
    if venue == "bybit":
        return {"public": {"linear": f"{ws}/ws/bybit/v5/public/linear"}}
    if venue == "okx":
        return f"{ws}/ws/okx/ws/v5"
    raise ConfigError(f"the offline exchange streams {sorted(WS_CCXT_CLASSES)}, not {venue!r}")


def ws_markets(venue: str, symbols: list[str], okx_contract_size: float) -> list[dict[str, Any]]:
    """The ccxt unified markets of the offline exchange's USDT perpetuals, for ``set_markets``.

    The offline exchange serves no Bybit or OKX REST API, so a client of its streams gets its
    markets from here instead of ``load_markets``.

    Args:
        venue: ``binance``, ``bybit`` or ``okx`` (market ids differ: ``BTCUSDT``,
            ``BTC-USDT-SWAP``).
        symbols: Binance ids of the traded markets (``BTCUSDT``), as ``state()["traded"]``.
        okx_contract_size: base units per OKX contract (``sz`` counts contracts).
    """
    markets = []
    for sym in symbols:
        base, quote = sym[: -len("USDT")], "USDT"
        market_id = f"{base}-{quote}-SWAP" if venue == "okx" else sym
        markets.append(
            {
                "id": market_id,
                "lowercaseId": market_id.lower(),
                "symbol": f"{base}/{quote}:{quote}",
                "base": base,
                "quote": quote,
                "settle": quote,
                "baseId": base,
                "quoteId": quote,
                "settleId": quote,
                "type": "swap",
                "spot": False,
                "margin": False,
                "swap": True,
                "future": False,
                "option": False,
                "contract": True,
                "linear": True,
                "inverse": False,
                "active": True,
                "contractSize": okx_contract_size if venue == "okx" else 1.0,
                "precision": {"amount": None, "price": None},
                "limits": {},
                "info": {},
            }
        )
    return markets
