"""Exchange maintenance-margin tiers (as data) and the isolated-margin liquidation-price formulas.

Where a pair's tiers come from, first found wins (:func:`get_brackets`):

1. tiers registered in this process (:func:`register_tiers`): a live fetch or a datadir cache read
   by :mod:`liq_indicator.io.tiers` (ccxt's ``fetch_leverage_tiers`` format, the file Freqtrade
   itself writes, ``<datadir>/futures/leverage_tiers_<stake>.json``);
2. for Binance, Freqtrade's bundled tier file (``freqtrade/exchange/binance_leverage_tiers.json``,
   about 900 pairs, what Freqtrade's backtests and dry runs use) when Freqtrade is installed;
3. the tables shipped in ``liq_indicator/data/brackets.json`` (BTC on Binance and Bybit, a few
   Hyperliquid pairs).

The formulas are Freqtrade's ``dry_run_liquidation_price`` of each venue (isolated margin, one-way,
wallet = the position's own margin WB, ``s`` = +1 long, -1 short, Q coins at entry EP, (MMR, cum)
the tier of the position's notional)::

    binance      LP = (WB + cum - s*Q*EP) / (Q*MMR - s*Q)
    bybit        LP = EP - s * (WB - (Q*EP*MMR - cum)) / Q
    okx          LP = (EP - s*WB/Q) / (1 - s*(MMR + taker_fee))
    hyperliquid  LP = EP - s * (WB - Q*EP*MMR) / Q / (1 - s*MMR),   MMR = 1 / (2 * max leverage)

Binance charges maintenance margin on the mark price *at liquidation* (``Q*MMR`` in the
denominator); Bybit on the position value at entry, less its deduction (``mmDeduction``; Freqtrade
omits the deduction, which is 0 in every first tier); OKX as Freqtrade's generic formula, with the
taker fee of closing; Hyperliquid's maintenance margin is half the initial margin at the pair's
maximum leverage, whatever the size (Freqtrade uses no tiers there). Fees to close (except OKX's)
and extra margin are ignored (an estimate of where the *crowd* is liquidated does not know them).
The tier is chosen by the position's notional, as the exchanges do (Freqtrade's own bot looks it up
with the stake, i.e. the margin, which picks a lower tier for leveraged positions above the first).
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources, util
from pathlib import Path
from typing import Any

import numpy as np

from liq_indicator.errors import ConfigError, InputError

DEFAULT_PAIR = "BTC/USDT:USDT"
"""The pair every default of the package means (Freqtrade's name of Binance's BTC perpetual);
``liq_indicator.config.DEFAULT_PAIR`` is the same object."""

VENUES = ("binance", "bybit", "okx", "hyperliquid")
"""Exchanges with a liquidation formula, in :func:`available_exchanges` order."""

__all__ = [
    "DEFAULT_PAIR",
    "VENUES",
    "Bracket",
    "BracketTable",
    "available_exchanges",
    "clear_registered_tiers",
    "freqtrade_tier_file",
    "get_brackets",
    "liquidation_price",
    "liquidation_ratio",
    "max_effective_leverage",
    "register_tiers",
    "table_from_ccxt",
    "tier_leverages",
]


@dataclass(frozen=True)
class Bracket:
    """One maintenance-margin bracket (tier).

    Attributes:
        floor: Lowest position notional (USDT) of the bracket, inclusive.
        cap: Highest position notional (USDT) of the bracket, exclusive (``inf``: unbounded).
        mmr: Maintenance margin rate (fraction, 0.004 = 0.40%).
        cum: Maintenance amount in USDT (Binance ``cum``, Bybit ``mmDeduction``; 0 on OKX and
            Hyperliquid, whose formulas have none).
        max_leverage: Highest leverage the exchange allows in this bracket.
    """

    floor: float
    cap: float
    mmr: float
    cum: float
    max_leverage: float


@dataclass(frozen=True)
class BracketTable:
    """The brackets of one pair on one exchange, and which formula that exchange uses.

    Attributes:
        exchange: Lower-case exchange name (one of :data:`VENUES`).
        symbol: The pair the table is for (as found: ``BTC/USDC:USDC`` on Hyperliquid).
        formula: Liquidation formula: ``binance``, ``bybit``, ``okx`` or ``hyperliquid``.
        brackets: The tiers, by increasing notional.
        source: Where the tiers come from.
        taker_fee: Fee rate the ``okx`` formula adds to the maintenance rate (0 elsewhere).
    """

    exchange: str
    symbol: str
    formula: str
    brackets: tuple[Bracket, ...]
    source: str
    taker_fee: float = 0.0

    @property
    def pair(self) -> str:
        """The pair (same as ``symbol``)."""
        return self.symbol

    def lookup(self, notional: float) -> Bracket:
        """The bracket that applies to a position of ``notional`` USDT.

        Raises:
            InputError: if the notional is not a finite number >= 0.
            ConfigError: if it is above the last bracket's cap (for a map, ``position_notional``
                is the setting to lower).
        """
        if not np.isfinite(notional) or notional < 0:
            raise InputError(f"position notional must be a finite number >= 0, got {notional!r}")
        for bracket in self.brackets:
            if bracket.floor <= notional < bracket.cap:
                return bracket
        raise ConfigError(
            f"position notional {notional:,.0f} USDT is above the largest {self.exchange} bracket "
            f"of {self.symbol} (cap {self.brackets[-1].cap:,.0f}); use a smaller notional"
        )

    def max_leverage(self, notional: float) -> float:
        """Highest leverage the exchange allows a position of ``notional`` USDT of this pair."""
        return self.lookup(notional).max_leverage


# --- where tiers come from -------------------------------------------------------------------

_REGISTERED: dict[str, dict[str, tuple[list[Mapping[str, Any]], str]]] = {}
_TABLES: dict[tuple[str, str], BracketTable] = {}


@lru_cache(maxsize=1)
def _raw_tables() -> dict[str, Any]:
    text = resources.files("liq_indicator").joinpath("data/brackets.json").read_text()
    return json.loads(text)


def freqtrade_tier_file() -> Path | None:
    """Freqtrade's bundled Binance tier file, or None when Freqtrade is not installed.

    Found through the installed package's location; none of Freqtrade's modules is imported.
    """
    spec = util.find_spec("freqtrade")
    if spec is None or not spec.submodule_search_locations:
        return None
    for folder in spec.submodule_search_locations:
        path = Path(folder) / "exchange" / "binance_leverage_tiers.json"
        if path.is_file():
            return path
    return None


@lru_cache(maxsize=1)
def _freqtrade_tiers() -> dict[str, list[dict[str, Any]]]:
    path = freqtrade_tier_file()
    if path is None:
        return {}
    return json.loads(path.read_text())


def available_exchanges() -> tuple[str, ...]:
    """Exchanges with a liquidation formula: binance, bybit, okx, hyperliquid.

    Each has tiers for the pairs of :func:`get_brackets`'s sources; others raise there.
    """
    return VENUES


def _venue(exchange: str) -> str:
    key = str(exchange).lower()
    if key not in VENUES:
        raise ConfigError(
            f"no liquidation formula for exchange {exchange!r}; choose one of {', '.join(VENUES)}"
        )
    return key


def _number(value: Any, default: float) -> float:
    if value is None or value == "":
        return default
    return float(value)


def _ccxt_cum(exchange: str, tier: Mapping[str, Any]) -> float:
    info = tier.get("info") or {}
    if exchange == "binance":
        return _number(info.get("cum"), 0.0)
    if exchange == "bybit":
        return _number(info.get("mmDeduction"), 0.0)
    return 0.0  # OKX and Hyperliquid: their formulas (Freqtrade's) have no maintenance amount


def table_from_ccxt(
    exchange: str, pair: str, tiers: Sequence[Mapping[str, Any]], source: str
) -> BracketTable:
    """A :class:`BracketTable` from one pair's tiers in ccxt's ``fetch_leverage_tiers`` format.

    ``floor``/``cap`` are ``minNotional``/``maxNotional`` (None: unbounded), ``mmr`` is
    ``maintenanceMarginRate``, ``cum`` Binance's ``info.cum`` or Bybit's ``info.mmDeduction`` (0
    for OKX and Hyperliquid), ``max_leverage`` is ``maxLeverage``. On Hyperliquid a tier without a
    maintenance rate gets half the initial margin at its maximum leverage.

    Raises:
        ConfigError: if the tiers are empty, unordered or hold a non-positive rate or leverage.
    """
    venue = _venue(exchange)
    rows: list[Bracket] = []
    for tier in sorted(tiers, key=lambda t: _number(t.get("minNotional"), 0.0)):
        max_lev = _number(tier.get("maxLeverage"), math.nan)
        default_mmr = 0.5 / max_lev if venue == "hyperliquid" else math.nan
        rows.append(
            Bracket(
                floor=_number(tier.get("minNotional"), 0.0),
                cap=_number(tier.get("maxNotional"), math.inf),
                mmr=_number(tier.get("maintenanceMarginRate"), default_mmr),
                cum=_ccxt_cum(venue, tier),
                max_leverage=max_lev,
            )
        )
    _check_rows(venue, pair, rows, source)
    return _table(venue, pair, tuple(rows), source)


def _check_rows(exchange: str, pair: str, rows: Sequence[Bracket], source: str) -> None:
    bad = (
        not rows
        or rows[0].floor != 0
        or any(not (0 < b.mmr < 1 and b.max_leverage >= 1 and b.cap > b.floor) for b in rows)
        or any(b.floor != a.cap for a, b in zip(rows, rows[1:], strict=False))
    )
    if bad:
        raise ConfigError(
            f"the {exchange} tiers of {pair} from {source} are not usable (need tiers from notional "
            "0 up, each starting where the previous ends, 0 < maintenance rate < 1, leverage >= 1); "
            f"fetch them again with liq-indicator tiers --exchange {exchange} --pairs {pair}"
        )


def _table(exchange: str, pair: str, rows: tuple[Bracket, ...], source: str) -> BracketTable:
    entry = _raw_tables().get(exchange, {})
    formula = entry.get("formula", exchange)
    taker = float(entry.get("taker_fee", 0.0)) if formula == "okx" else 0.0
    return BracketTable(exchange, pair, formula, rows, source, taker)


def register_tiers(
    exchange: str, tiers: Mapping[str, Sequence[Mapping[str, Any]]], source: str
) -> None:
    """Make ``tiers`` (ccxt ``fetch_leverage_tiers`` format, pair -> tiers) the first source of
    :func:`get_brackets` for ``exchange`` in this process (a later call adds or replaces pairs).

    :mod:`liq_indicator.io.tiers` calls this for a live fetch or a datadir cache.

    Raises:
        ConfigError: on an unknown exchange.
    """
    venue = _venue(exchange)
    into = _REGISTERED.setdefault(venue, {})
    for pair, rows in tiers.items():
        into[str(pair)] = (list(rows), source)
    for key in [k for k in _TABLES if k[0] == venue]:
        del _TABLES[key]


def clear_registered_tiers(exchange: str | None = None) -> None:
    """Forget tiers registered with :func:`register_tiers` (of one exchange, or all)."""
    for venue in [exchange.lower()] if exchange else list(_REGISTERED):
        _REGISTERED.pop(venue, None)
    _TABLES.clear()


def _candidates(exchange: str, pair: str) -> list[str]:
    """``pair``, then the same base in the venue's settle currency.

    BTC/USDT:USDT is found as BTC/USDC:USDC on Hyperliquid.
    """
    settle = _raw_tables().get(exchange, {}).get("settle")
    names = [pair]
    if settle and "/" in pair:
        base = pair.split("/", 1)[0]
        names.append(f"{base}/{settle}:{settle}")
    return names


def _find(exchange: str, pair: str) -> BracketTable | None:
    registered = _REGISTERED.get(exchange, {})
    if pair in registered:
        tiers, source = registered[pair]
        return table_from_ccxt(exchange, pair, tiers, source)
    if exchange == "binance" and pair in _freqtrade_tiers():
        return table_from_ccxt(
            exchange,
            pair,
            _freqtrade_tiers()[pair],
            f"Freqtrade's bundled Binance tiers ({freqtrade_tier_file()})",
        )
    entry = _raw_tables().get(exchange, {})
    if pair in entry.get("symbols", {}):
        rows = tuple(
            Bracket(**{**row, "cap": math.inf if row["cap"] is None else row["cap"]})
            for row in entry["symbols"][pair]
        )
        return _table(exchange, pair, rows, entry["source"])
    return None


def get_brackets(
    exchange: str = "binance", symbol: str = DEFAULT_PAIR, *, pair: str | None = None
) -> BracketTable:
    """The maintenance-margin tiers of a pair on an exchange (sources in the module docstring).

    Args:
        exchange: One of :data:`VENUES` (any case).
        symbol: Freqtrade/ccxt pair name, e.g. ``"ETH/USDT:USDT"``.
        pair: Same as ``symbol`` (takes precedence when given).

    Raises:
        ConfigError: on an unknown exchange, or a pair none of the sources has tiers for (the
            message says how to get them).
    """
    venue = _venue(exchange)
    pair = str(pair if pair is not None else symbol)
    for name in _candidates(venue, pair):
        key = (venue, name)
        if key not in _TABLES:
            found = _find(venue, name)
            if found is None:
                continue
            _TABLES[key] = found
        return _TABLES[key]
    hint = (
        " or install freqtrade (its bundled Binance tiers cover about 900 pairs)"
        if venue == "binance" and not _freqtrade_tiers()
        else ""
    )
    raise ConfigError(
        f"no {venue} maintenance-margin tiers for pair {pair!r}; fetch and cache them with "
        f"liq-indicator tiers --exchange {venue} --pairs {pair} --datadir <datadir>, then load "
        f"them with liq_indicator.io.tiers.load_tiers(<datadir>){hint}"
    )


# --- the formulas ----------------------------------------------------------------------------


def _price(
    table: BracketTable,
    bracket: Bracket,
    entry: float,
    qty: float,
    margin: float,
    side: float,
) -> float:
    """The venue's liquidation price, unclipped (may be <= 0 or beyond entry)."""
    if table.formula == "binance":
        return (margin + bracket.cum - side * qty * entry) / (qty * bracket.mmr - side * qty)
    if table.formula == "bybit":
        maint = qty * entry * bracket.mmr - bracket.cum
        return entry - side * (margin - maint) / qty
    if table.formula == "okx":
        return (entry - side * margin / qty) / (1.0 - side * (bracket.mmr + table.taker_fee))
    if table.formula == "hyperliquid":
        available = margin - qty * entry * bracket.mmr
        return entry - side * available / qty / (1.0 - side * bracket.mmr)
    raise ConfigError(
        f"unknown liquidation formula {table.formula!r} in brackets.json"
    )  # pragma: no cover


def _pair_arg(symbol: str, pair: str | None) -> str:
    return str(pair if pair is not None else symbol)


def liquidation_price(
    entry_price: float,
    leverage: float,
    is_short: bool,
    notional: float | None = None,
    exchange: str = "binance",
    pair: str | None = None,
    *,
    symbol: str = DEFAULT_PAIR,
    wallet_balance: float | None = None,
) -> float:
    """Liquidation price of one isolated-margin position, as the exchange (and Freqtrade) computes it.

    Args:
        entry_price: Average entry price (USDT).
        leverage: Leverage of the position (> 0).
        is_short: True for a short position.
        notional: Position notional in USDT (``amount * entry_price``); selects the tier.
            Defaults to 1 coin at ``entry_price``.
        exchange: ``"binance"``, ``"bybit"``, ``"okx"`` or ``"hyperliquid"``.
        pair: The pair whose tiers apply, e.g. ``"ETH/USDT:USDT"`` (default: BTC).
        symbol: Older name of ``pair`` (used when ``pair`` is not given).
        wallet_balance: Isolated margin in USDT; defaults to the initial margin ``notional/leverage``.

    Returns:
        The price (USDT) at which the exchange liquidates the position; 0.0 where the formula gives
        a non-positive price (a long that cannot be liquidated, e.g. 1x with extra margin).

    Raises:
        InputError: on a non-positive price or leverage, or a negative notional.
        ConfigError: on an unknown exchange or pair, or a notional above its tiers.

    Example:
        >>> round(liquidation_price(67_000, 10, False, 67_000), 2)  # 1 BTC 10x long on Binance
        60542.17
        >>> round(liquidation_price(3_000, 10, False, 3_000, "binance", pair="ETH/USDT:USDT"), 2)
        2710.84
    """
    if not (np.isfinite(entry_price) and entry_price > 0):
        raise InputError(f"entry_price must be > 0, got {entry_price!r}")
    if not (np.isfinite(leverage) and leverage > 0):
        raise InputError(f"leverage must be > 0, got {leverage!r}")
    table = get_brackets(exchange, _pair_arg(symbol, pair))
    notional = float(entry_price) if notional is None else float(notional)
    bracket = table.lookup(notional)
    qty = notional / entry_price
    margin = notional / leverage if wallet_balance is None else float(wallet_balance)
    side = -1.0 if is_short else 1.0
    return max(float(_price(table, bracket, float(entry_price), qty, margin, side)), 0.0)


def liquidation_ratio(
    leverage: float,
    is_short: bool,
    notional: float,
    *,
    exchange: str = "binance",
    symbol: str = DEFAULT_PAIR,
    pair: str | None = None,
) -> float:
    """Liquidation price divided by entry price for a position of ``notional`` USDT.

    For a fixed tier every formula is linear in the entry price, so a map of many positions with
    the same notional and leverage needs one ratio per (leverage, side): ``LP = EP * ratio``.
    """
    reference = 1.0  # any entry price gives the same ratio once the notional fixes the tier
    return (
        liquidation_price(
            reference, leverage, is_short, notional, exchange, _pair_arg(symbol, pair)
        )
        / reference
    )


def max_effective_leverage(
    notional: float,
    min_distance: float,
    *,
    exchange: str = "binance",
    symbol: str = DEFAULT_PAIR,
    pair: str | None = None,
) -> float:
    """Highest leverage whose liquidation price lies at least ``min_distance`` (log of price)
    from entry on both sides, with the venue's maintenance margin for ``notional``.

    Beyond it maintenance margin alone liquidates the position at (or past) entry. Every formula's
    ratio ``LP / EP`` is affine in ``1 / leverage`` for a fixed tier, so the bound is exact.

    Raises:
        ConfigError: if ``min_distance`` is not > 0, or as :func:`get_brackets`.
    """
    if not (math.isfinite(min_distance) and min_distance > 0):
        raise ConfigError(f"min_distance must be > 0, got {min_distance!r}")
    table = get_brackets(exchange, _pair_arg(symbol, pair))
    bracket = table.lookup(notional)
    qty = notional  # entry 1: qty == notional
    worst = 0.0  # the largest 1/leverage either side needs
    for side, target in ((1.0, math.exp(-min_distance)), (-1.0, math.exp(min_distance))):
        at0 = _price(table, bracket, 1.0, qty, 0.0, side)
        slope = _price(table, bracket, 1.0, qty, notional, side) - at0  # per unit of 1/leverage
        worst = max(worst, (target - at0) / slope)
    return math.inf if worst <= 0 else 1.0 / worst


def tier_leverages(
    leverages: Sequence[float],
    edges: Sequence[float],
    notional: float,
    min_distance: float,
    *,
    exchange: str = "binance",
    symbol: str = DEFAULT_PAIR,
    pair: str | None = None,
) -> tuple[tuple[float, ...], tuple[float, ...]]:
    """The leverages a map's tiers use on one venue: (farthest, nearest) per tier.

    A pair's tiers cap the model's. Spike tiers (``edges`` empty) sit at their leverage, capped to
    the pair's maximum leverage for ``notional``. Leverage bands run from ``edges[t]`` to
    ``edges[t + 1]``: edges are *effective* leverage (an under-water position liquidates nearer
    than its nominal leverage says), so they may exceed the pair's maximum, but each is clipped to
    :func:`max_effective_leverage` (liquidation at least ``min_distance`` before entry); a band
    wholly above it becomes a spike there. Every tier or band is thus capped by its own venue's
    tiers in a multi-venue map.

    Raises:
        ConfigError: as :func:`get_brackets`, or when even the lowest edge or tier is past the
            maintenance limit (nothing of the map would be left).
    """
    which = _pair_arg(symbol, pair)
    top = max_effective_leverage(notional, min_distance, exchange=exchange, pair=which)
    lowest = edges[0] if edges else min(leverages)
    if lowest >= top:
        raise ConfigError(
            f"leverage {lowest:g}x liquidates at or beyond entry with {exchange}'s maintenance "
            f"margin for {which} at {notional:,.0f} USDT (at most {top:.3g}x); lower the leverages "
            "or position_notional"
        )
    if not edges:
        cap = min(get_brackets(exchange, which).max_leverage(notional), top)
        spikes = tuple(min(float(lev), cap) for lev in leverages)
        return spikes, spikes
    clipped = [min(float(edge), top) for edge in edges]
    return tuple(clipped[:-1]), tuple(clipped[1:])
