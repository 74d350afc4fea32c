"""The liquidation map as a risk overlay for any Freqtrade strategy: :class:`LiqRiskMixin`.

Put the mixin first in the bases of a strategy and it keeps the strategy's entries and exits but
answers three of Freqtrade's callbacks from the map::

    from freqtrade.templates.sample_strategy import SampleStrategy
    from liq_indicator.strategy.overlay import LiqRiskMixin

    class SampleLiqOverlay(LiqRiskMixin, SampleStrategy):
        pass

* ``custom_stoploss``: the stop beyond the far edge of the nearest same-side cluster and its sweep
  zone (a causal quantile of the pair's past overshoots beyond swept edges), floored by ATR and
  moved out of every dense zone of the signal candle's map
  (:func:`~liq_indicator.strategy.signals.trade_plan`). Without a cluster the stop is
  ``fallback_stop_atr`` ATRs away; without features (no signal candle, NaN ATR) the strategy's own
  ``stoploss`` stays in force.
* ``leverage``: the highest whole leverage up to ``max_leverage_cap`` whose own (buffered)
  liquidation price lies at least ``leverage_safety`` stop distances from entry and outside every
  dense same-side cluster (:func:`~liq_indicator.risk.choose_leverage`); 1x without a stop.
* ``custom_stake_amount``: the margin that loses ``risk_per_trade`` of the wallet (fees included)
  at that stop (:func:`~liq_indicator.risk.stake_for_risk`); without a map stop, at the strategy's
  own ``stoploss`` at 1x.

The features come from ``populate_liq_features`` (the mixin's ``populate_indicators`` calls it
after the strategy's own; call it yourself if your strategy's ``populate_indicators`` is defined in
a class placed before the mixin). Open interest and funding come through the DataProvider (a
missing file is not fatal, unlike behind ``@informative``): the map runs in volume mode without
open interest. The host's ``minimal_roi`` is kept in price terms (``liq_roi_at_1x``): a 4% ROI
exits at a 4% move whatever leverage the overlay picked, as it did at 1x; set it False to keep
Freqtrade's margin-relative ROI. A ``custom_stoploss``, ``leverage`` or ``custom_stake_amount`` of
the host is replaced (the mixin does not call it). Settings are class attributes (``liq_*``).

Freqtrade is imported only when a callback needs ``stoploss_from_absolute``: the package imports
without it, and the mixin is testable with stub trades, wallets and DataProviders.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Hashable
from datetime import datetime
from typing import Any

import pandas as pd

from liq_indicator.config import HeatmapConfig
from liq_indicator.errors import InputError
from liq_indicator.io import timeframes
from liq_indicator.strategy.callbacks import (
    Sizing,
    TradeParams,
    entry_leverage,
    entry_stake,
    plan_zones,
    sizing,
    stoploss_ratio,
)
from liq_indicator.strategy.glue import (
    LogOnce,
    SignalMaps,
    analysed_signal_row,
    informative_pairs,
    is_live,
    side_frames,
)
from liq_indicator.strategy.signals import (
    STRATEGY_HEATMAP,
    SignalParams,
    strategy_features,
    sweep_zone,
)
from liq_indicator.strategy.trade_state import TradePlans, stop_settings

__all__ = ["LIQ_OVERLAY_COLUMNS", "LiqRiskMixin", "OverlayState", "from_absolute"]

logger = logging.getLogger(__name__)

#: Columns the overlay adds besides the map's ``liq_`` columns (``atr_<window>`` too).
LIQ_OVERLAY_COLUMNS = (
    "overshoot_long_pct",
    "overshoot_short_pct",
    "sweep_zone_pct",
    "funding_rate",
    "oi_value",
)


def from_absolute(stop: float, rate: float, is_short: bool, leverage: float) -> float:
    """Freqtrade's ``stoploss_from_absolute`` (imported on first use, so the package does not
    need Freqtrade): the stop price as a ratio to ``rate`` times ``leverage``, 0 once through it.
    """
    from freqtrade.strategy import stoploss_from_absolute

    return float(stoploss_from_absolute(stop, rate, is_short, leverage))


class OverlayState:
    """What the mixin keeps between callbacks: the analysed frames' maps, the trade plans, the
    one-time log. Made on first use per strategy instance (:attr:`LiqRiskMixin.liq_state`).

    Args:
        heatmap: the map the overlay reads.
        timeframe: the strategy's timeframe.
        signal_row: ``(pair, before) -> row`` of the analysed frame (see :class:`TradePlans`).
        params: the stop's settings.
    """

    def __init__(
        self,
        heatmap: HeatmapConfig,
        timeframe: str,
        signal_row: Any,
        params: SignalParams,
    ) -> None:
        self.log_once = LogOnce(logger)
        self.maps = SignalMaps(heatmap, timeframes.timeframe_minutes(timeframe))
        self.params = params
        self.plans = TradePlans(signal_row, lambda: params, self.log_once, zones=self.plan_zones)
        self.key: Hashable = stop_settings(params)

    def plan_zones(self, pair: str, is_short: bool, signal_date: Any) -> list[tuple[float, float]]:
        """Dense same-side zones of the signal candle's map (:func:`callbacks.plan_zones`)."""
        return plan_zones(self.maps, self.log_once, pair, is_short, signal_date)

    def stop(self, pair: str, is_short: bool, rate: float) -> float:
        """The map stop of an entry at ``rate`` on the pair's last analysed candle; NaN without."""
        return float(self.plans.entry(pair, is_short, rate)[0])


def hard_stop(rate: float, stoploss: float, is_short: bool) -> float:
    """The strategy's own ``stoploss`` (a ratio, e.g. -0.10) as a price at 1x from ``rate``."""
    distance = abs(float(stoploss))
    return rate * (1.0 + distance) if is_short else rate * (1.0 - distance)


class LiqRiskMixin:
    """Stops, leverage and stake of any Freqtrade strategy from the liquidation map (module
    docstring). Place it before the strategy in the bases: ``class S(LiqRiskMixin, MyStrategy)``.

    Attributes:
        liq_heatmap_config: the map (the strategy's map by default).
        liq_signal_params: the stop's settings (buffers, sweep-zone quantile and window).
        liq_trade_params: risk per trade, leverage cap and safety.
        liq_oi_timeframes: open-interest timeframes tried before the strategy's.
        liq_taker_fee: fee per side when the config has none (sizing charges it twice).
        liq_roi_at_1x: keep ``minimal_roi`` in price terms under the overlay's leverage.
    """

    liq_heatmap_config: HeatmapConfig = STRATEGY_HEATMAP
    liq_signal_params: SignalParams = SignalParams()
    liq_trade_params: TradeParams = TradeParams()
    liq_oi_timeframes: tuple[str, ...] = ("1h",)
    liq_taker_fee: float = 0.0005
    liq_roi_at_1x: bool = True

    # what IStrategy provides (typing only)
    dp: Any
    config: dict
    wallets: Any
    timeframe: str
    stoploss: float

    # --- state ------------------------------------------------------------------------------

    @property
    def liq_state(self) -> OverlayState:
        """The mixin's state (the analysed frames' maps, the trade plans, the one-time log), made
        on first use: ``strategy.liq_state.maps.zones(pair, date, is_short)`` are the dense zones
        the stop and the leverage check avoided at a signal candle.
        """
        state = self.__dict__.get("_liq_state")
        if state is None:
            state = OverlayState(
                self.liq_heatmap_config,
                self.timeframe,
                self._liq_signal_row,
                self.liq_signal_params,
            )
            self.__dict__["_liq_state"] = state
        return state

    def _liq_signal_row(self, pair: str, before: datetime | None) -> pd.Series | None:
        minutes = timeframes.timeframe_minutes(self.timeframe)
        return analysed_signal_row(getattr(self, "dp", None), pair, self.timeframe, minutes, before)

    def _liq_sizing(self, fallback_wallet: float) -> Sizing:
        return sizing(
            self.liq_trade_params,
            getattr(self, "wallets", None),
            getattr(self, "config", {}) or {},
            self.liq_taker_fee,
            fallback_wallet,
        )

    # --- features ---------------------------------------------------------------------------

    def populate_liq_features(self, dataframe: pd.DataFrame, metadata: dict) -> pd.DataFrame:
        """The map's features (:func:`~liq_indicator.strategy.signals.strategy_features`) and
        ``sweep_zone_pct`` added to ``dataframe`` (its own columns kept), open interest and
        funding from the DataProvider; the frame is remembered for the leverage and stop zones.

        Args:
            dataframe: the strategy's frame (candles and its own indicators).
            metadata: Freqtrade's metadata (``pair``).

        Returns:
            The frame with the overlay's columns.

        Raises:
            InputError: when ``metadata`` names no pair.
        """
        pair = metadata.get("pair") if isinstance(metadata, dict) else None
        if not pair:
            raise InputError(
                "populate_liq_features needs Freqtrade's metadata with a 'pair' "
                "(call it as self.populate_liq_features(dataframe, metadata))"
            )
        state = self.liq_state
        dp = getattr(self, "dp", None)
        oi, funding = side_frames(
            dp, pair, self.timeframe, oi_timeframes=self.liq_oi_timeframes, log_once=state.log_once
        )
        frame = strategy_features(
            dataframe,
            self.liq_heatmap_config,
            open_interest=oi,
            funding=funding,
            atr_window=self.liq_signal_params.atr_window,
        )
        frame["sweep_zone_pct"] = sweep_zone(frame, self.liq_signal_params)
        state.maps.remember(pair, dataframe, (), open_interest=oi, funding=funding)
        return frame

    def populate_indicators(self, dataframe: pd.DataFrame, metadata: dict) -> pd.DataFrame:
        """The strategy's own ``populate_indicators``, then :meth:`populate_liq_features`."""
        frame = super().populate_indicators(dataframe, metadata)  # type: ignore[misc]
        return self.populate_liq_features(frame, metadata)

    def informative_pairs(self) -> list[tuple[str, str, Any]]:
        """The strategy's informative pairs and, live, each pair's open interest and funding."""
        own = list(super().informative_pairs())  # type: ignore[misc]
        return own + informative_pairs(getattr(self, "dp", None), self.liq_oi_timeframes[0])

    # --- callbacks --------------------------------------------------------------------------

    def custom_stoploss(
        self,
        pair: str,
        trade: Any,
        current_time: datetime,
        current_rate: float,
        current_profit: float,
        after_fill: bool,
        **kwargs: Any,
    ) -> float | None:
        """The trade's map stop as Freqtrade's ratio (to ``current_rate``, times the leverage);
        None (the strategy's ``stoploss`` stays) when there is no map stop.
        """
        state = self.liq_state
        live = is_live(getattr(self, "dp", None))
        stop = state.plans.stop(trade, state.key, 0.0, persist=live)
        return stoploss_ratio(stop, current_rate, trade, from_absolute)

    def leverage(
        self,
        pair: str,
        current_time: datetime,
        current_rate: float,
        proposed_leverage: float,
        max_leverage: float,
        entry_tag: str | None,
        side: str,
        **kwargs: Any,
    ) -> float:
        """The highest whole leverage whose own liquidation is ``leverage_safety`` stop distances
        away and outside the dense same-side clusters; 1.0 without a map stop.
        """
        state = self.liq_state
        is_short = side == "short"
        stop = state.stop(pair, is_short, current_rate)

        def avoid() -> list[tuple[float, float]]:
            return state.maps.avoid_zones(pair, current_time, is_short, _no_candles, state.log_once)

        return entry_leverage(
            stop, current_rate, is_short, max_leverage, self._liq_sizing(1e3), avoid
        )

    def custom_stake_amount(
        self,
        pair: str,
        current_time: datetime,
        current_rate: float,
        proposed_stake: float,
        min_stake: float | None,
        max_stake: float,
        leverage: float,
        entry_tag: str | None,
        side: str,
        **kwargs: Any,
    ) -> float:
        """The margin that loses ``risk_per_trade`` of the wallet at the map stop (at the
        strategy's own ``stoploss`` at 1x without one), never above ``proposed_stake``'s wallet
        share Freqtrade allows (``max_stake``).
        """
        state = self.liq_state
        is_short = side == "short"
        stop = state.stop(pair, is_short, current_rate)
        if not math.isfinite(stop):
            stop, leverage = hard_stop(current_rate, self.stoploss, is_short), 1.0
            state.log_once(
                f"overlay-nostop:{pair}",
                f"{pair}: no map stop for an entry (features missing); sized at the strategy's "
                f"own stoploss {self.stoploss} at 1x",
                logging.WARNING,
            )
        money = self._liq_sizing(proposed_stake)
        return entry_stake(pair, side, stop, current_rate, leverage, min_stake, max_stake, money)

    def min_roi_reached_entry(
        self, trade: Any, trade_dur: int, current_time: datetime
    ) -> tuple[int | None, float | None]:
        """Freqtrade's ROI entry, scaled by the trade's leverage when ``liq_roi_at_1x`` (the ROI
        table then means the same price move as at 1x; -1, exit now, is kept).
        """
        entry, roi = super().min_roi_reached_entry(trade, trade_dur, current_time)  # type: ignore[misc]
        if not self.liq_roi_at_1x or roi is None or roi == -1:
            return entry, roi
        return entry, roi * float(getattr(trade, "leverage", 1.0) or 1.0)


def _no_candles() -> pd.DataFrame:
    """The leverage check's fallback map input: none (``avoid_zones`` then logs and avoids
    nothing) when the pair's analysed frame is unknown.
    """
    raise InputError("no analysed frame remembered for the pair; populate_liq_features not run")
