"""liq-indicator: a causal liquidation-heatmap indicator for crypto perpetual futures.

>>> from liq_indicator import liquidation_features
>>> features = liquidation_features(candles)  # doctest: +SKIP

The names below are imported on first use (PEP 562), so ``import liq_indicator`` loads neither
numba nor pandas; the strategy layer lives in :mod:`liq_indicator.strategy`, the risk helpers in
:mod:`liq_indicator.risk`.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from liq_indicator.brackets import get_brackets, liquidation_price
    from liq_indicator.columns import feature_columns, feature_docs
    from liq_indicator.config import HeatmapConfig
    from liq_indicator.core.inputs import merge_causal
    from liq_indicator.core.maps import Heatmap, LiquidationMap
    from liq_indicator.errors import ConfigError, DataWarning, InputError, LiqIndicatorError
    from liq_indicator.estimator import (
        LiquidationEstimator,
        MapCursor,
        Venue,
        liquidation_features,
        liquidation_heatmap,
        liquidation_map,
    )

_HOME = {
    "get_brackets": "liq_indicator.brackets",
    "liquidation_price": "liq_indicator.brackets",
    "feature_columns": "liq_indicator.columns",
    "feature_docs": "liq_indicator.columns",
    "HeatmapConfig": "liq_indicator.config",
    "merge_causal": "liq_indicator.core.inputs",
    "Heatmap": "liq_indicator.core.maps",
    "LiquidationMap": "liq_indicator.core.maps",
    "ConfigError": "liq_indicator.errors",
    "DataWarning": "liq_indicator.errors",
    "InputError": "liq_indicator.errors",
    "LiqIndicatorError": "liq_indicator.errors",
    "LiquidationEstimator": "liq_indicator.estimator",
    "MapCursor": "liq_indicator.estimator",
    "Venue": "liq_indicator.estimator",
    "liquidation_features": "liq_indicator.estimator",
    "liquidation_heatmap": "liq_indicator.estimator",
    "liquidation_map": "liq_indicator.estimator",
}

__all__ = [
    "ConfigError",
    "DataWarning",
    "Heatmap",
    "HeatmapConfig",
    "InputError",
    "LiqIndicatorError",
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
]


def __getattr__(name: str) -> Any:
    if name == "__version__":
        from importlib.metadata import version

        value: Any = version("liq-indicator")
    elif name in _HOME:
        value = getattr(import_module(_HOME[name]), name)
    else:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted([*globals(), *__all__, "__version__"])
