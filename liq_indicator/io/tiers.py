"""Live maintenance-margin tiers: fetch them with ccxt, cache them in the datadir as Freqtrade does,
and register them for :func:`liq_indicator.brackets.get_brackets`.

The cache is Freqtrade's own file, ``<datadir>/futures/leverage_tiers_<stake>.json`` holding
``{"updated": <ISO time>, "data": {pair: [ccxt tier, ...]}}`` (``Exchange.cache_leverage_tiers``,
which Freqtrade writes for Bybit and OKX and reads back for up to 4 weeks). A Freqtrade datadir is
one exchange's (``user_data/data/bybit``), so the file does not name the exchange: the folder does.

Two venues need a conversion, recorded in each converted tier's ``info``:

- OKX reports a tier's bounds in contracts (``minSz``/``maxSz``); they are turned into USDT with
  the market's ``contractSize`` and the last price at the fetch (tiers are sized for that price).
- Hyperliquid has no tier endpoint (Freqtrade uses none): one tier per pair, maximum leverage from
  the market, maintenance rate half the initial margin at it (``1 / (2 * maxLeverage)``).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Mapping
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from liq_indicator.brackets import VENUES, register_tiers, table_from_ccxt
from liq_indicator.errors import ConfigError, InputError, warn_data
from liq_indicator.io.extras import import_extra
from liq_indicator.io.paths import input_dir, is_present, output_file, read_text, reading, writing

__all__ = [
    "CACHE_MAX_AGE",
    "cache_path",
    "fetch_tiers",
    "load_tiers",
    "read_cache",
    "settle_currency",
    "write_cache",
]

CACHE_MAX_AGE = timedelta(weeks=4)
"""Age after which a cache is reported stale (Freqtrade then refetches)."""


def settle_currency(exchange: str) -> str:
    """The stake/settle currency of the venue's linear perpetuals (USDC on Hyperliquid, else USDT)."""
    return "USDC" if exchange.lower() == "hyperliquid" else "USDT"


def cache_path(datadir: str | Path, stake: str = "USDT") -> Path:
    """Where Freqtrade caches the tiers of ``stake``-settled pairs in ``datadir``."""
    return Path(datadir).expanduser() / "futures" / f"leverage_tiers_{stake}.json"


def _venue(exchange: str) -> str:
    key = str(exchange).lower()
    if key not in VENUES:
        raise ConfigError(
            f"exchange {exchange!r} has no tiers here; choose one of {', '.join(VENUES)}"
        )
    return key


def _ccxt() -> Any:
    """ccxt, which fetching tiers needs (a friendly InputError when it is not installed)."""
    return import_extra("ccxt", "freqtrade", "fetching maintenance-margin tiers")


def _default_exchange(exchange: str) -> Any:
    return getattr(_ccxt(), exchange)({"options": {"defaultType": "swap"}})


#: Builds the ccxt exchange object (tests replace it: no network in tests).
make_exchange: Callable[[str], Any] = _default_exchange


def _okx_in_usdt(api: Any, pair: str, tiers: list[dict[str, Any]]) -> list[dict[str, Any]]:
    size = float(api.markets[pair].get("contractSize") or 1.0)
    price = float(api.fetch_ticker(pair)["last"])
    usd = size * price
    out = []
    for tier in tiers:
        info = dict(tier.get("info") or {})
        info["liq_indicator_notional"] = f"contracts x contractSize {size:g} x last price {price:g}"
        out.append(
            {
                **tier,
                "minNotional": float(tier["minNotional"] or 0.0) * usd,
                "maxNotional": None
                if tier["maxNotional"] is None
                else float(tier["maxNotional"]) * usd,
                "info": info,
            }
        )
    return out


def _hyperliquid_tier(api: Any, pair: str) -> list[dict[str, Any]]:
    max_lev = float(api.markets[pair]["limits"]["leverage"]["max"])
    return [
        {
            "tier": 1,
            "symbol": pair,
            "currency": "USDC",
            "minNotional": 0.0,
            "maxNotional": None,
            "maintenanceMarginRate": 0.5 / max_lev,
            "maxLeverage": max_lev,
            "info": {"liq_indicator_notional": "maxLeverage of the market; mmr 1/(2*maxLeverage)"},
        }
    ]


def fetch_tiers(exchange: str, pairs: Iterable[str]) -> dict[str, list[dict[str, Any]]]:
    """Fetch the tiers of ``pairs`` from ``exchange`` with ccxt (network).

    Returns:
        pair -> tiers in ccxt's ``fetch_leverage_tiers`` format (bounds in USDT).

    Raises:
        InputError: when the exchange cannot be reached, refuses the request (Binance serves its
            tiers only to an API key: use Freqtrade's bundled file) or does not list a pair, or
            when ccxt is not installed.
    """
    ccxt = _ccxt()
    venue = _venue(exchange)
    wanted = list(dict.fromkeys(pairs))
    if not wanted:
        raise InputError("no pairs to fetch tiers for; pass --pairs, e.g. ETH/USDT:USDT")
    api = make_exchange(venue)
    try:
        api.load_markets()
        missing = [p for p in wanted if p not in api.markets]
        if missing:
            raise InputError(
                f"{venue} lists no market {', '.join(missing)}; pairs are Freqtrade/ccxt names "
                f"such as BTC/{settle_currency(venue)}:{settle_currency(venue)}"
            )
        if venue == "hyperliquid":
            return {p: _hyperliquid_tier(api, p) for p in wanted}
        if api.has.get("fetchLeverageTiers") is True:
            fetched = api.fetch_leverage_tiers(wanted)
            return {p: list(fetched[p]) for p in wanted if p in fetched}
        tiers = {p: list(api.fetch_market_leverage_tiers(p)) for p in wanted}
        if venue == "okx":
            tiers = {p: _okx_in_usdt(api, p, t) for p, t in tiers.items()}
        return tiers
    except ccxt.AuthenticationError as exc:
        raise InputError(
            f"{venue} serves its tiers only to an API key ({exc}); for Binance, Freqtrade's "
            "bundled tier file is used when freqtrade is installed"
        ) from None
    except ccxt.BaseError as exc:
        raise InputError(f"could not fetch {venue} tiers: {type(exc).__name__}: {exc}") from None


def read_cache(datadir: str | Path, stake: str = "USDT") -> dict[str, list[dict[str, Any]]]:
    """The tiers cached in ``datadir`` for ``stake`` (empty when there is no cache).

    Warns (:class:`~liq_indicator.errors.DataWarning`) when the cache is older than
    :data:`CACHE_MAX_AGE`.

    Raises:
        InputError: when the file exists but is not a tier cache.
    """
    path = cache_path(datadir, stake)
    if not is_present(path, "tier cache"):
        return {}
    with reading(path, "tier cache"):
        body = json.loads(read_text(path, "tier cache"))
    if not (isinstance(body, dict) and isinstance(body.get("data"), dict)):
        raise InputError(
            f"tier cache {path} is not a Freqtrade leverage-tier cache ({{'updated', 'data'}}); "
            "delete it and fetch again with liq-indicator tiers"
        )
    updated = body.get("updated")
    if isinstance(updated, str):
        try:
            when = datetime.fromisoformat(updated)
        except ValueError:
            when = None
        if when is not None and when.tzinfo and when < datetime.now(UTC) - CACHE_MAX_AGE:
            warn_data(
                f"tier cache {path} was written {updated}, more than 4 weeks ago; refresh it "
                "with liq-indicator tiers"
            )
    return body["data"]


def write_cache(
    datadir: str | Path, tiers: Mapping[str, list[dict[str, Any]]], stake: str = "USDT"
) -> Path:
    """Merge ``tiers`` into the cache of ``datadir`` (other pairs kept) and return its path."""
    path = output_file(cache_path(datadir, stake), "tier cache", parents=True)
    merged = {**read_cache(datadir, stake), **tiers}
    with writing(path, "tier cache"):
        path.parent.mkdir(parents=True, exist_ok=True)
        body = {"updated": datetime.now(UTC).isoformat(), "data": merged}
        path.write_text(json.dumps(body, indent=1, default=str))
    return path


def load_tiers(
    datadir: str | Path, exchange: str | None = None, stake: str | None = None
) -> list[str]:
    """Register the tiers cached in ``datadir`` for :func:`~liq_indicator.brackets.get_brackets`.

    Args:
        datadir: The exchange's datadir (``user_data/data/bybit``).
        exchange: Whose tiers they are; default: the datadir's folder name.
        stake: Settle currency of the cache file; default the venue's (:func:`settle_currency`).

    Returns:
        The pairs registered (empty when there is no cache).

    Raises:
        InputError: on a missing datadir or a broken cache; ConfigError when the exchange is not
            one of the venues (name it) or a pair's tiers are unusable.
    """
    folder = input_dir(datadir, "datadir")
    venue = _venue(exchange or folder.name)
    data = read_cache(folder, stake or settle_currency(venue))
    source = f"the tier cache {cache_path(folder, stake or settle_currency(venue))}"
    for pair, rows in data.items():
        table_from_ccxt(venue, pair, rows, source)  # refuse an unusable table now, naming it
    register_tiers(venue, data, source)
    return sorted(data)
