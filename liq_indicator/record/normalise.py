"""Venue messages -> one event layout (:data:`liq_indicator.io.liquidations.EVENT_COLUMNS`).

Side conventions differ by venue, and a wrong one swaps longs and shorts silently:

* Binance USDT-M ``forceOrder`` and OKX ``liquidation-orders`` report the side of the
  **liquidation order**: a SELL order closes a long, so ``sell`` -> ``long`` liquidated.
* Bybit ``allLiquidation`` reports the side of the **position**: ``Buy`` -> a long was liquidated.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from liq_indicator.errors import InputError

__all__ = ["SIDE_CONVENTION", "liquidated_side", "to_events"]

#: What a venue's ``side`` field names: the liquidation ``order`` or the liquidated ``position``.
SIDE_CONVENTION = {"binance": "order", "okx": "order", "bybit": "position"}


def liquidated_side(venue: str, side: str) -> str:
    """The position liquidated (``long``/``short``) from a venue's reported ``side``.

    Raises:
        InputError: an unknown venue or side label.
    """
    convention = SIDE_CONVENTION.get(venue)
    s = str(side).strip().lower()
    if convention is None or s not in ("buy", "sell"):
        raise InputError(
            f"cannot read liquidation side {side!r} of venue {venue!r}; known venues "
            f"{sorted(SIDE_CONVENTION)}, sides buy/sell"
        )
    is_buy = s == "buy"
    # an order closes the opposite position; a position side names it directly
    long_liquidated = (not is_buy) if convention == "order" else is_buy
    return "long" if long_liquidated else "short"


def _event(
    venue: str, pair: str, ts: Any, side: Any, price: Any, amount: Any, received: int
) -> dict[str, Any] | None:
    try:
        p, a, t = float(price), float(amount), int(ts)
    except (TypeError, ValueError):
        return None
    if not (p > 0 and a > 0):
        return None
    return {
        "ts": t,
        "exchange": venue,
        "pair": pair,
        "side": liquidated_side(venue, side),
        "price": p,
        "amount": a,
        "usd": p * a,
        "received": received,
    }


def to_events(
    venue: str,
    liquidations: Iterable[Mapping[str, Any]],
    received_ms: int,
    contract_sizes: Mapping[str, float] | None = None,
) -> list[dict[str, Any]]:
    """Ccxt liquidation structures of ``venue`` as events (malformed ones are dropped).

    Sides are read from the venue's own message (``info``), amounts in base units
    (contracts x contract size). OKX packs several fills into one message; ccxt keeps only the
    first, so they are read from ``info["details"]`` here.

    Args:
        venue: ``binance``, ``bybit`` or ``okx``.
        liquidations: what ``watch_liquidations*`` returned.
        received_ms: local receive time (ms), stored with each event.
        contract_sizes: pair -> base units per contract, from the client's markets (ccxt leaves
            ``contractSize`` empty in OKX's stream structures); else the structure's, else 1.
    """
    out = []
    for liq in liquidations:
        info = liq.get("info") or {}
        pair = str(liq.get("symbol"))
        size = (contract_sizes or {}).get(pair) or liq.get("contractSize") or 1.0
        if venue == "okx" and isinstance(info.get("details"), list):
            for d in info["details"]:
                filled = float(d.get("sz", "nan")) * float(size)
                ev = _event(venue, pair, d.get("ts"), d.get("side"), d.get("bkPx"), filled, 0)
                if ev is not None:
                    ev["received"] = received_ms
                    out.append(ev)
            continue
        side = info.get("S", liq.get("side"))
        contracts = liq.get("contracts")
        amount: float | None = None if contracts is None else float(contracts) * float(size)
        ev = _event(venue, pair, liq.get("timestamp"), side, liq.get("price"), amount, received_ms)
        if ev is not None:
            out.append(ev)
    return out
