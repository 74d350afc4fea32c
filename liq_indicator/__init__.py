"""liq-indicator: a causal liquidation-heatmap indicator for crypto perpetual futures.

>>> from liq_indicator import liquidation_features
>>> features = liquidation_features(candles)  # doctest: +SKIP
"""

from importlib.metadata import version

from liq_indicator.brackets import get_brackets, liquidation_price
from liq_indicator.columns import feature_columns, feature_docs
from liq_indicator.config import HeatmapConfig
from liq_indicator.core.inputs import merge_causal
from liq_indicator.errors import ConfigError, DataWarning, InputError, LiqIndicatorError
from liq_indicator.estimator import (
    Heatmap,
    LiquidationEstimator,
    LiquidationMap,
    MapCursor,
    Venue,
    liquidation_features,
    liquidation_heatmap,
    liquidation_map,
)
from liq_indicator.risk import (
    choose_leverage,
    own_liquidation_price,
    stake_for_risk,
    stop_beyond_cluster,
)
from liq_indicator.strategy.signals import (
    STRATEGY_HEATMAP,
    SignalParams,
    entry_signals,
    strategy_features,
    trade_levels,
)

__all__ = [
    "STRATEGY_HEATMAP",
    "ConfigError",
    "DataWarning",
    "Heatmap",
    "HeatmapConfig",
    "InputError",
    "LiqIndicatorError",
    "SignalParams",
    "LiquidationEstimator",
    "LiquidationMap",
    "MapCursor",
    "Venue",
    "feature_columns",
    "feature_docs",
    "get_brackets",
    "liquidation_features",
    "liquidation_heatmap",
    "liquidation_map",
    "liquidation_price",
    "merge_causal",
    "choose_leverage",
    "entry_signals",
    "own_liquidation_price",
    "stake_for_risk",
    "stop_beyond_cluster",
    "strategy_features",
    "trade_levels",
]
__version__ = version("liq-indicator")
