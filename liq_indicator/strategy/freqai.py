"""The liquidation map as FreqAI features: ``%liq_*`` columns for ``feature_engineering_standard``.

FreqAI treats every column whose name starts with ``%`` as a model feature (targets start with
``&``). :func:`freqai_map_features` turns the map's columns (:func:`~liq_indicator.strategy.signals.
strategy_features`) into scale-free numbers a model can learn from across years of price change:
distances in % of price, notionals over the pair's recent traded notional, open-interest change and
funding. Every feature of row ``k`` depends on rows ``0..k`` only, and NaN never reaches the model
(FreqAI drops training rows and skips predictions on NaN): a missing cluster is "far"
(:data:`FAR_PCT`), missing open interest or funding is 0.

:class:`LiqFreqAIMixin` adds them to any FreqAI strategy, reading open interest and funding through
the DataProvider as :func:`~liq_indicator.strategy.glue.side_frames` does::

    class MyFreqAIStrategy(LiqFreqAIMixin, IStrategy):
        ...  # feature_engineering_expand_*, set_freqai_targets as usual

The map runs once per pair in ``feature_engineering_standard`` (on the base timeframe), not in the
``expand_*`` hooks, which FreqAI calls once per timeframe, period and correlated pair. Nothing here
imports Freqtrade.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from liq_indicator.config import HeatmapConfig
from liq_indicator.errors import ConfigError, InputError
from liq_indicator.strategy.glue import side_frames
from liq_indicator.strategy.signals import STRATEGY_HEATMAP, strategy_features

__all__ = [
    "FAR_PCT",
    "FREQAI_COLUMNS",
    "LiqFreqAIMixin",
    "freqai_map_features",
]

#: A cluster farther than this (% of close), or none within the map's range, reads as this far.
FAR_PCT = 10.0

#: The features :func:`freqai_map_features` adds, without the prefix.
FREQAI_COLUMNS: tuple[str, ...] = (
    "long_dist_pct",
    "short_dist_pct",
    "long_cluster_rel",
    "short_cluster_rel",
    "long_2pct_rel",
    "short_2pct_rel",
    "imbalance_2pct",
    "swept_long_rel",
    "swept_short_rel",
    "oi_change_pct",
    "funding_rate",
)


def _relative(usd: pd.Series, norm: pd.Series) -> pd.Series:
    """``log1p(usd / norm)``: a notional in units of the mean traded notional; 0 when absent."""
    return np.log1p((usd.fillna(0.0).clip(lower=0.0) / norm).astype(np.float64))


def freqai_map_features(
    candles: pd.DataFrame,
    config: HeatmapConfig = STRATEGY_HEATMAP,
    *,
    open_interest: pd.DataFrame | None = None,
    funding: pd.DataFrame | None = None,
    norm_window: int = 288,
    oi_window: int = 12,
    prefix: str = "%liq_",
) -> pd.DataFrame:
    """The map's FreqAI features of ``candles``, one row per candle (same index).

    Columns (``prefix`` + each of :data:`FREQAI_COLUMNS`):

    * ``long_dist_pct`` / ``short_dist_pct``: distance from the close to the nearest long
      (below) / short (above) cluster, % of close, capped at :data:`FAR_PCT` (also when none).
    * ``long_cluster_rel`` / ``short_cluster_rel``: that cluster's notional, and
      ``long_2pct_rel`` / ``short_2pct_rel``: the pending notional within 2% of the close, each as
      ``log1p(usd / mean traded notional of the last norm_window candles)``.
    * ``imbalance_2pct``: ``(long - short) / (long + short)`` within 2%, in [-1, 1]; 0 when empty.
    * ``swept_long_rel`` / ``swept_short_rel``: liquidations swept this candle, same units.
    * ``oi_change_pct``: open interest's change over ``oi_window`` candles, %; 0 without it.
    * ``funding_rate``: the last settled funding rate; 0 without it.

    Args:
        candles: Freqtrade candles (``date, open, high, low, close, volume``), ascending.
        config: Map settings; the strategy's map (:data:`STRATEGY_HEATMAP`) by default.
        open_interest: Freqtrade ``open_interest`` candles, or None (the map's volume mode).
        funding: Freqtrade ``funding_rate`` candles, or None.
        norm_window: Candles in the traded-notional norm (288 x 5m = one day).
        oi_window: Candles of the open-interest change (12 x 5m = one hour).
        prefix: Column prefix; FreqAI needs it to start with ``%``.

    Returns:
        A new float64 frame; ``candles`` is not modified. The first ``norm_window - 1`` rows are
        NaN in the notional features (FreqAI leaves them out of training), as the norm is not
        defined yet; from then on no NaN.

    Raises:
        ConfigError: on a ``prefix`` without ``%`` or windows < 1.
        InputError: on unusable candles (from the map).
    """
    if not (isinstance(prefix, str) and prefix.startswith("%")):
        raise ConfigError(
            f"prefix must start with '%' for FreqAI to read the columns as features, got {prefix!r}"
        )
    for name, value in (("norm_window", norm_window), ("oi_window", oi_window)):
        if not (isinstance(value, int | np.integer) and value >= 1):
            raise ConfigError(f"{name} must be an int >= 1, got {value!r}")
    if not isinstance(candles, pd.DataFrame):
        raise InputError(
            f"candles must be a pandas DataFrame in Freqtrade's layout, got {type(candles).__name__}"
        )
    if len(candles) == 0:
        return pd.DataFrame(
            {f"{prefix}{c}": pd.Series(dtype=np.float64) for c in FREQAI_COLUMNS},
            index=candles.index,
        )
    base = candles[[c for c in ("date", "open", "high", "low", "close", "volume") if c in candles]]
    mapped = strategy_features(
        base.reset_index(drop=True), config, open_interest=open_interest, funding=funding
    )
    close = mapped["close"].astype(np.float64)
    # a fixed window (no min_periods below it): the value depends on the last norm_window rows
    # only, so the features are the same whatever history precedes them
    norm = (mapped["volume"] * close).rolling(norm_window, min_periods=norm_window).mean()
    norm = norm.where(norm > 0)
    out: dict[str, pd.Series] = {}
    for side in ("long", "short"):
        dist = mapped[f"liq_{side}_cluster_dist_pct"].abs()
        out[f"{side}_dist_pct"] = dist.clip(upper=FAR_PCT).fillna(FAR_PCT)
        out[f"{side}_cluster_rel"] = _relative(mapped[f"liq_{side}_cluster_usd"], norm)
        out[f"{side}_2pct_rel"] = _relative(mapped[f"liq_{side}_2pct_usd"], norm)
    long2 = mapped["liq_long_2pct_usd"].fillna(0.0)
    short2 = mapped["liq_short_2pct_usd"].fillna(0.0)
    total = long2 + short2
    out["imbalance_2pct"] = ((long2 - short2) / total.where(total > 0)).fillna(0.0)
    for side in ("long", "short"):
        out[f"swept_{side}_rel"] = _relative(mapped[f"liq_swept_{side}_usd"], norm)
    oi = mapped["oi_value"].astype(np.float64)
    out["oi_change_pct"] = (100.0 * (oi / oi.shift(oi_window) - 1.0)).fillna(0.0)
    out["funding_rate"] = mapped["funding_rate"].astype(np.float64).fillna(0.0)
    frame = pd.DataFrame({f"{prefix}{k}": out[k].to_numpy(np.float64) for k in FREQAI_COLUMNS})
    frame.index = candles.index
    return frame


class LiqFreqAIMixin:
    """Adds :func:`freqai_map_features` to a FreqAI strategy's ``feature_engineering_standard``.

    Put it before ``IStrategy`` in the bases. The features are added after the strategy's own
    ``feature_engineering_standard`` (or IStrategy's, which adds nothing): a strategy that defines
    its own calls ``self.liq_map_features(dataframe, metadata)`` instead. Open interest and funding
    come from the DataProvider (:func:`~liq_indicator.strategy.glue.side_frames`): files in a
    backtest, the exchange live (list them in ``informative_pairs``, see
    :func:`~liq_indicator.strategy.glue.informative_pairs`); without them the map runs in volume
    mode and those two features are 0.

    The config key ``liq_freqai_map_features`` (default true) turns the features off, e.g. to
    train the same model on price alone (benchmarks/freqai_value.py).
    """

    #: the map's settings
    liq_freqai_heatmap: HeatmapConfig = STRATEGY_HEATMAP
    #: candles in the traded-notional norm (one day of 5m)
    liq_freqai_norm_window: int = 288
    #: candles of the open-interest change (one hour of 5m)
    liq_freqai_oi_window: int = 12

    dp: Any
    config: dict[str, Any]
    timeframe: str

    def liq_map_enabled(self) -> bool:
        """The config's ``liq_freqai_map_features`` (true when absent).

        Raises:
            ConfigError: when it is not a JSON boolean.
        """
        value = (getattr(self, "config", None) or {}).get("liq_freqai_map_features", True)
        if not isinstance(value, bool):
            raise ConfigError(
                f"liq_freqai_map_features must be true or false in the config, got {value!r}"
            )
        return value

    def liq_map_features(self, dataframe: pd.DataFrame, metadata: dict) -> pd.DataFrame:
        """``dataframe`` with the ``%liq_*`` features of ``metadata["pair"]`` joined on."""
        if not self.liq_map_enabled():
            return dataframe
        oi, funding = side_frames(getattr(self, "dp", None), metadata["pair"], self.timeframe)
        features = freqai_map_features(
            dataframe,
            self.liq_freqai_heatmap,
            open_interest=oi,
            funding=funding,
            norm_window=self.liq_freqai_norm_window,
            oi_window=self.liq_freqai_oi_window,
        )
        return dataframe.assign(**{c: features[c] for c in features.columns})

    def feature_engineering_standard(
        self, dataframe: pd.DataFrame, metadata: dict, **kwargs: Any
    ) -> pd.DataFrame:
        """The next class's ``feature_engineering_standard``, then :meth:`liq_map_features`."""
        parent = getattr(super(), "feature_engineering_standard", None)
        if parent is not None:
            dataframe = parent(dataframe, metadata, **kwargs)
        return self.liq_map_features(dataframe, metadata)
