"""What a Freqtrade strategy keeps about its trades: each trade's plan (stop, target, initial stop)
computed once from its signal candle, the memo that lets leverage, stake and first stop of one entry
share that computation, the plan's persistence on the trade (so a restarted bot reads it back), the
break-even move, and the rules on stale signal candles, the wallet and Freqtrade's settings.

Nothing here imports Freqtrade: a trade is used through the attributes and methods a strategy sees
(``id``, ``pair``, ``open_date``, ``open_rate``, ``is_short``, ``min_rate``/``max_rate``,
``get_custom_data``/``set_custom_data``), so it is testable with Freqtrade's ``LocalTrade`` or a stub::

    plans = TradePlans(signal_row, lambda: params, LogOnce(logger))
    stop, target, signal_date = plans.entry(pair, is_short, rate)   # leverage, stake, entry checks
    stop = plans.stop(trade, params.stop_buffer_atr, breakeven_r, persist=is_live(dp))  # exits
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable, Hashable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import pandas as pd

from liq_indicator.risk import FREQTRADE_LIQUIDATION_BUFFER, breakeven_stop, tighten_stop
from liq_indicator.strategy.glue import LogOnce
from liq_indicator.strategy.signals import SignalParams, trade_plan

__all__ = [
    "CUSTOM_DATA_KEYS",
    "TradePlan",
    "TradePlans",
    "liquidation_buffer",
    "signal_is_stale",
    "stop_settings",
    "total_wallet",
]

#: The custom-data keys a live trade carries its plan under (read back after a restart).
CUSTOM_DATA_KEYS = ("liq_stop", "liq_target", "liq_initial_stop", "liq_signal_date")

#: Entries whose levels the memo keeps; entries come in time order, so older keys are done with.
MEMO_SIZE = 64


@dataclass
class TradePlan:
    """One trade's exits: ``stop`` (moves only to tighten), ``target``, and ``initial_stop``
    (the stop at entry, which defines R for the break-even move).
    """

    stop: float
    target: float
    initial_stop: float


class TradePlans:
    """The plans of a strategy's trades, kept in memory and, live, on the trades themselves.

    ``levels`` memoises (stop, target) per entry; ``plan`` gives a trade's plan, made once from its
    signal candle; ``tighten`` applies the break-even rule to it.
    """

    def __init__(
        self,
        signal_row: Callable[[str, datetime | None], Any],
        params: Callable[[], SignalParams],
        log_once: LogOnce | None = None,
        zones: Callable[[str, bool, Any], Sequence[Sequence[float]]] | None = None,
    ) -> None:
        """No plan yet; plans are made from the signal candles ``signal_row`` returns.

        Args:
            signal_row: ``(pair, before) -> row``: the signal candle of an entry at ``before``
                (the last analysed one when None), e.g. :func:`~liq_indicator.strategy.glue.signal_row`
                on the strategy's analysed frame; None when there is none.
            params: the signal parameters in force (read when a plan is made).
            log_once: where "no plan" notices go.
            zones: ``(pair, is_short, signal date) -> [(low, high), ...]``: the dense same-side
                zones of the signal candle's map; a plan's stop moves out of them
                (:func:`~liq_indicator.strategy.signals.trade_plan`). None: not checked.
        """
        self.signal_row = signal_row
        self.params = params
        self.log_once = log_once or LogOnce()
        self.zones = zones
        # (trade id, open date, stop buffer) -> plan: hyperopt replays trades with the same id and
        # date under other parameters, and the stop buffer is the only hyperoptable input of a plan
        self._plans: dict[tuple, TradePlan] = {}
        # (pair, signal date, side, entry, stop settings) -> (stop, target)
        self._levels: dict[tuple, tuple[float, float]] = {}

    def levels(
        self, pair: str, row: Any, is_short: bool, entry: float, params: SignalParams
    ) -> tuple[float, float]:
        """(stop, target) of a trade entered at ``entry`` on the signal candle ``row``
        (:func:`~liq_indicator.strategy.signals.trade_plan`); NaNs when the row is missing or the
        stop is not on the losing side of ``entry``. Leverage, stake and the first stop of one entry
        ask for the same key: it is computed once.
        """
        if row is None or not (entry > 0):
            return math.nan, math.nan
        key = (pair, row["date"], is_short, float(entry), stop_settings(params))
        levels = self._levels.get(key)
        if levels is None:
            if len(self._levels) >= MEMO_SIZE:
                self._levels.clear()
            avoid = () if self.zones is None else self.zones(pair, is_short, row["date"])
            levels = self._levels[key] = trade_plan(
                row, is_short, params, entry=float(entry), avoid=avoid
            )
        return levels

    def entry(
        self, pair: str, is_short: bool, rate: float, before: datetime | None = None
    ) -> tuple[float, float, Any]:
        """(stop, target, signal date) of an entry at ``rate`` on the pair's signal candle (the
        last one, or the last closed by ``before``); NaN, NaN when there is no plan, and the date
        None when there is no signal candle.
        """
        row = self.signal_row(pair, before)
        stop, target = self.levels(pair, row, is_short, rate, self.params())
        return stop, target, None if row is None else row["date"]

    def plan(self, trade: Any, stop_buffer: Hashable, *, persist: bool) -> TradePlan | None:
        """The trade's plan, made once and kept; None when no plan can be made (the strategy's hard
        stoploss then applies, logged once per trade).

        Args:
            trade: a Freqtrade trade.
            stop_buffer: the stop's hyperoptable settings in force, e.g. the buffer or
                ``(stop_buffer_atr, stop_overshoot_q)`` (part of the key, see ``__init__``).
            persist: read the plan from, and write it to, the trade's custom data (live: a
                restarted bot reads it back; backtests never restart, and Freqtrade's in-memory
                custom-data store scans every record on each write).
        """
        key = (trade.id, trade.open_date, stop_buffer)
        plan = self._plans.get(key)
        if plan is not None:
            return plan
        if persist:
            plan = _read_plan(trade)
            if plan is not None:
                self._plans[key] = plan
                return plan
        stop, target, signal_date = self.entry(
            trade.pair, trade.is_short, float(trade.open_rate), trade.open_date_utc
        )
        if not math.isfinite(stop):
            self.log_once(
                f"noplan:{trade.id}",
                f"{trade.pair} trade {trade.id}: no cluster stop "
                "(signal candle unavailable); the hard stoploss applies",
                logging.WARNING,
            )
            return None
        if persist:
            for name, value in zip(
                CUSTOM_DATA_KEYS, (stop, target, stop, str(signal_date)), strict=True
            ):
                trade.set_custom_data(name, value)
        plan = self._plans[key] = TradePlan(stop, target, stop)
        return plan

    def stop(
        self, trade: Any, stop_buffer: Hashable, breakeven_r: float, *, persist: bool
    ) -> float:
        """The trade's stop now: its :meth:`plan`'s, moved by :meth:`tighten`; NaN without a plan."""
        plan = self.plan(trade, stop_buffer, persist=persist)
        return math.nan if plan is None else self.tighten(trade, plan, breakeven_r, persist=persist)

    def target(self, trade: Any, stop_buffer: Hashable, *, persist: bool) -> float:
        """The trade's target: its :meth:`plan`'s; NaN without a plan (or a target)."""
        plan = self.plan(trade, stop_buffer, persist=persist)
        return math.nan if plan is None else plan.target

    @staticmethod
    def tighten(trade: Any, plan: TradePlan, breakeven_r: float, *, persist: bool) -> float:
        """Move ``plan.stop`` to break-even once price went ``breakeven_r`` R in the trade's favour
        (:func:`~liq_indicator.risk.breakeven_stop`; never loosened, ``breakeven_r <= 0`` disables
        it), and return the stop.
        """
        if breakeven_r > 0:
            best = trade.min_rate if trade.is_short else trade.max_rate
            moved = breakeven_stop(
                float(trade.open_rate),
                plan.initial_stop,
                float(best or trade.open_rate),
                trade.is_short,
                trigger_r=breakeven_r,
            )
            stop = tighten_stop(plan.stop, moved, trade.is_short)
            if stop != plan.stop:
                plan.stop = stop
                if persist:
                    trade.set_custom_data("liq_stop", stop)
        return plan.stop


def stop_settings(params: SignalParams) -> tuple[float, ...]:
    """The settings a plan's stop depends on (a memo key): the buffers and the sweep zone's."""
    return (
        params.stop_buffer_atr,
        params.stop_min_buffer_pct,
        params.stop_overshoot_q,
        params.overshoot_window,
        params.overshoot_min_events,
    )


def _read_plan(trade: Any) -> TradePlan | None:
    stop = trade.get_custom_data("liq_stop")
    if stop is None:
        return None
    target = trade.get_custom_data("liq_target")
    return TradePlan(
        float(stop),
        float(target) if target is not None else math.nan,
        float(trade.get_custom_data("liq_initial_stop", stop)),
    )


def signal_is_stale(signal_date: Any, now: datetime, timeframe_minutes: float) -> bool:
    """True when the signal candle dated ``signal_date`` closed more than one candle before ``now``.

    After an outage Freqtrade may act on an old signal (its own check allows 2 candles plus
    ``outdated_offset``, and forced entries bypass it); an entry should then be skipped.
    """
    candle = pd.Timedelta(minutes=timeframe_minutes)
    return now - (pd.Timestamp(signal_date).to_pydatetime() + candle) > candle


def total_wallet(wallets: Any, fallback: float) -> float:
    """The wallet's total stake amount (``wallets.get_total_stake_amount()``), or ``fallback``
    when there are no wallets (e.g. a callback called from a plot).
    """
    try:
        return float(wallets.get_total_stake_amount())
    except Exception:  # noqa: BLE001 - no wallets: the caller's fallback
        return float(fallback)


def liquidation_buffer(config: Mapping[str, Any]) -> float:
    """Freqtrade's ``liquidation_buffer`` setting; its default when the config lacks it (Freqtrade
    fills it in when it loads a config, hand-made configs may not have it).
    """
    return float(config.get("liquidation_buffer", FREQTRADE_LIQUIDATION_BUFFER))
