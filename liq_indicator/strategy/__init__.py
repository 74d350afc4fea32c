"""The Freqtrade strategies' room.

Seven modules:

* ``signals``: the setups, their stop and target levels, exits and alerts (pure pandas);
* ``trade_state``: each trade's plan made once, its memo and persistence, the staleness rule;
* ``glue``: Freqtrade's DataProvider, other venues' files (through ``liq_indicator.io``), the map's
  zones at a signal candle, the order book, alerts;
* ``frequi``: the strategy's ``plot_config`` and ``plot_annotations``;
* ``callbacks``: the hyperopt parameters (one table) and the answers the strategy's callbacks
  delegate to (``Desk``, and ``StrategyDesk``, which reads them from the strategy itself);
* ``freqai``: the map as FreqAI features (``freqai_map_features``, ``LiqFreqAIMixin``);
* ``overlay``: the map as a risk overlay for any strategy (``LiqRiskMixin``: stop, leverage,
  stake).

None of them imports Freqtrade at import time (the strategies in ``user_data/strategies/`` talk
to it): ``overlay`` imports ``freqtrade.strategy.stoploss_from_absolute`` only when a callback
first needs it. The names below are imported on first use, so ``import
liq_indicator.strategy.frequi`` stays light::

    from liq_indicator.strategy import SignalParams, entry_signals, strategy_features
"""

from __future__ import annotations

from importlib import import_module
from typing import Any

#: name -> module of this package that defines it
_EXPORTS = {
    "STRATEGY_COLUMNS": "signals",
    "STRATEGY_HEATMAP": "signals",
    "SignalParams": "signals",
    "entry_signals": "signals",
    "setup_frame": "signals",
    "strategy_features": "signals",
    "trade_levels": "signals",
    "trade_plan": "signals",
    "TradePlan": "trade_state",
    "TradePlans": "trade_state",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(import_module(f"{__name__}.{module}"), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *_EXPORTS})
