"""Exchange maintenance-margin brackets (as data) and the isolated-margin liquidation-price formulas.

The bracket tables live in ``liq_indicator/data/brackets.json``; this module only reads them.

Binance USDT-M, isolated margin (one-way mode, no other positions in the isolated wallet)::

    LP = (WB + cum - s*Q*EP) / (Q*MMR - s*Q)        s = +1 long, -1 short

where WB is the isolated wallet balance (the initial margin ``Q*EP/leverage`` unless given), Q the
position size in coin, EP the entry price, and (MMR, cum) the bracket of the position's notional.
The maintenance margin is charged on the mark price *at liquidation*, hence ``Q*MMR`` in the
denominator.

Bybit linear, isolated margin::

    LP = EP - s * (IM - MM) / Q,    IM = Q*EP/leverage,  MM = Q*EP*MMR - mm_deduction

Bybit charges maintenance margin on the position value at entry. Fees to close and extra margin are
ignored by both (an estimate of where the *crowd* is liquidated does not know them).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources

import numpy as np

from liq_indicator.errors import ConfigError

DEFAULT_PAIR = "BTC/USDT:USDT"
"""The pair every default of the package means (Freqtrade's name of Binance's BTC perpetual);
``liq_indicator.config.DEFAULT_PAIR`` is the same object."""

__all__ = [
    "DEFAULT_PAIR",
    "Bracket",
    "BracketTable",
    "available_exchanges",
    "get_brackets",
    "liquidation_price",
    "liquidation_ratio",
]


@dataclass(frozen=True)
class Bracket:
    """One maintenance-margin bracket.

    Attributes:
        floor: Lowest position notional (USDT) of the bracket, inclusive.
        cap: Highest position notional (USDT) of the bracket, exclusive.
        mmr: Maintenance margin rate (fraction, 0.004 = 0.40%).
        cum: Maintenance amount in USDT (Binance ``cum``, Bybit ``mmDeduction``).
        max_leverage: Highest leverage the exchange allows in this bracket.
    """

    floor: float
    cap: float
    mmr: float
    cum: float
    max_leverage: float


@dataclass(frozen=True)
class BracketTable:
    """The brackets of one symbol on one exchange, and which formula that exchange uses."""

    exchange: str
    symbol: str
    formula: str
    brackets: tuple[Bracket, ...]
    source: str

    def lookup(self, notional: float) -> Bracket:
        """The bracket that applies to a position of ``notional`` USDT.

        Raises:
            ConfigError: if the notional is negative or above the last bracket's cap.
        """
        if not np.isfinite(notional) or notional < 0:
            raise ConfigError(f"position notional must be a finite number >= 0, got {notional!r}")
        for bracket in self.brackets:
            if bracket.floor <= notional < bracket.cap:
                return bracket
        raise ConfigError(
            f"position notional {notional:,.0f} USDT is above the largest {self.exchange} bracket "
            f"of {self.symbol} (cap {self.brackets[-1].cap:,.0f}); use a smaller notional"
        )


@lru_cache(maxsize=1)
def _raw_tables() -> dict:
    text = resources.files("liq_indicator").joinpath("data/brackets.json").read_text()
    return json.loads(text)


def available_exchanges() -> tuple[str, ...]:
    """Exchanges whose bracket tables ship with the package."""
    return tuple(k for k in _raw_tables() if not k.startswith("_"))


def get_brackets(exchange: str = "binance", symbol: str = DEFAULT_PAIR) -> BracketTable:
    """Load the bracket table of ``symbol`` on ``exchange``.

    Raises:
        ConfigError: if the exchange or symbol has no shipped table.
    """
    tables = _raw_tables()
    key = exchange.lower()
    if key not in available_exchanges():
        raise ConfigError(
            f"no maintenance-margin brackets for exchange {exchange!r}; "
            f"choose one of {', '.join(available_exchanges())}"
        )
    entry = tables[key]
    if symbol not in entry["symbols"]:
        raise ConfigError(
            f"no {key} brackets for symbol {symbol!r}; shipped: {', '.join(entry['symbols'])}"
        )
    rows = tuple(Bracket(**row) for row in entry["symbols"][symbol])
    return BracketTable(key, symbol, entry["formula"], rows, entry["source"])


def liquidation_price(
    entry_price: float,
    leverage: float,
    is_short: bool,
    notional: float | None = None,
    *,
    exchange: str = "binance",
    symbol: str = DEFAULT_PAIR,
    wallet_balance: float | None = None,
) -> float:
    """Liquidation price of one isolated-margin position.

    Args:
        entry_price: Average entry price (USDT).
        leverage: Leverage of the position (> 0).
        is_short: True for a short position.
        notional: Position notional in USDT (``amount * entry_price``); selects the bracket.
            Defaults to 1 coin at ``entry_price``.
        exchange: ``"binance"`` or ``"bybit"``.
        symbol: Symbol of the bracket table.
        wallet_balance: Isolated margin in USDT; defaults to the initial margin ``notional/leverage``.

    Returns:
        The price (USDT) at which the exchange liquidates the position; 0.0 where the formula gives
        a non-positive price (a long that cannot be liquidated, e.g. 1x with extra margin).

    Raises:
        ConfigError: on non-positive price or leverage, or a notional outside the table.

    Example:
        >>> round(liquidation_price(67_000, 10, False, 67_000), 2)  # 1 BTC 10x long on Binance
        60542.17
    """
    if not (np.isfinite(entry_price) and entry_price > 0):
        raise ConfigError(f"entry_price must be > 0, got {entry_price!r}")
    if not (np.isfinite(leverage) and leverage > 0):
        raise ConfigError(f"leverage must be > 0, got {leverage!r}")
    table = get_brackets(exchange, symbol)
    notional = float(entry_price) if notional is None else float(notional)
    bracket = table.lookup(notional)
    qty = notional / entry_price
    margin = notional / leverage if wallet_balance is None else float(wallet_balance)
    side = -1.0 if is_short else 1.0
    if table.formula == "binance":
        price = (margin + bracket.cum - side * qty * entry_price) / (qty * bracket.mmr - side * qty)
    elif table.formula == "bybit":
        maint = qty * entry_price * bracket.mmr - bracket.cum
        price = entry_price - side * (margin - maint) / qty
    else:  # pragma: no cover - data error
        raise ConfigError(f"unknown liquidation formula {table.formula!r} in brackets.json")
    return max(float(price), 0.0)


def liquidation_ratio(
    leverage: float,
    is_short: bool,
    notional: float,
    *,
    exchange: str = "binance",
    symbol: str = DEFAULT_PAIR,
) -> float:
    """Liquidation price divided by entry price for a position of ``notional`` USDT.

    For a fixed bracket both formulas are linear in the entry price, so a map of many positions with
    the same notional and leverage needs one ratio per (leverage, side): ``LP = EP * ratio``.
    """
    reference = 1.0  # any entry price gives the same ratio once the notional fixes the bracket
    return (
        liquidation_price(reference, leverage, is_short, notional, exchange=exchange, symbol=symbol)
        / reference
    )
