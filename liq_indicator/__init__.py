"""liq-indicator: a causal liquidation-heatmap indicator for crypto perpetual futures.

>>> from liq_indicator import liquidation_features
>>> features = liquidation_features(candles)  # doctest: +SKIP
"""

from .brackets import get_brackets, liquidation_price
from .columns import feature_columns, feature_docs
from .config import HeatmapConfig
from .errors import ConfigError, DataWarning, InputError, LiqIndicatorError
from .estimator import (
    Heatmap,
    LiquidationEstimator,
    LiquidationMap,
    Venue,
    liquidation_features,
    liquidation_heatmap,
    liquidation_map,
)
from .inputs import merge_causal

__all__ = [
    "ConfigError",
    "DataWarning",
    "Heatmap",
    "HeatmapConfig",
    "InputError",
    "LiqIndicatorError",
    "LiquidationEstimator",
    "LiquidationMap",
    "Venue",
    "feature_columns",
    "feature_docs",
    "get_brackets",
    "liquidation_features",
    "liquidation_heatmap",
    "liquidation_map",
    "liquidation_price",
    "merge_causal",
]
__version__ = "0.1.0"
