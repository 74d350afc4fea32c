"""The map as pictures read it: one moment (:class:`LiquidationMap`) and over time (:class:`Heatmap`).

Plain dataclasses of numpy arrays, importable without numba (the plots and the strategy's zone
checks read them); :mod:`liq_indicator.estimator` builds them.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["Heatmap", "LiquidationMap"]


@dataclass(frozen=True)
class LiquidationMap:
    """Pending liquidation notional at one moment, per price bin and leverage tier.

    Attributes:
        time: the candle (close) the map stands at.
        price: the close it is measured from.
        bin_prices: centre price of each bin (ascending).
        bin_edges: bin boundaries (``len(bin_prices) + 1``).
        leverages: leverage of each tier.
        venues: exchange of each tier (all the same for a one-venue map).
        long_by_tier, short_by_tier: USD per [tier, bin].
    """

    time: pd.Timestamp | None
    price: float
    bin_prices: np.ndarray
    bin_edges: np.ndarray
    leverages: tuple[float, ...]
    venues: tuple[str, ...]
    long_by_tier: np.ndarray
    short_by_tier: np.ndarray

    @property
    def long(self) -> np.ndarray:
        """Long liquidation notional per bin (USD)."""
        return self.long_by_tier.sum(axis=0)

    @property
    def short(self) -> np.ndarray:
        """Short liquidation notional per bin (USD)."""
        return self.short_by_tier.sum(axis=0)

    @property
    def cumulative_long(self) -> np.ndarray:
        """Long notional liquidated if price fell to each bin: summed from price downwards
        (0 above price).
        """
        below = np.where(self.bin_prices <= self.price, self.long, 0.0)
        return np.cumsum(below[::-1])[::-1] * (self.bin_prices <= self.price)

    @property
    def cumulative_short(self) -> np.ndarray:
        """Short notional liquidated if price rose to each bin: summed from price upwards."""
        above = np.where(self.bin_prices >= self.price, self.short, 0.0)
        return np.cumsum(above) * (self.bin_prices >= self.price)


@dataclass(frozen=True)
class Heatmap:
    """Pending liquidation notional over time: the picture commercial heatmaps draw.

    Attributes:
        times: date of the candle each column stands at (the last candle of its bucket).
        price_edges: bin boundaries, ascending (``n_bins + 1``).
        long, short: USD per [time, bin] (``max`` reduction: the largest value the bin held during
            the bucket; ``last``: its value at the bucket's last candle).
        reduce: 'max' or 'last'.
    """

    times: pd.DatetimeIndex
    price_edges: np.ndarray
    long: np.ndarray
    short: np.ndarray
    reduce: str

    @property
    def bin_prices(self) -> np.ndarray:
        """Geometric centre of each price bin."""
        return np.sqrt(self.price_edges[:-1] * self.price_edges[1:])

    @property
    def total(self) -> np.ndarray:
        """Long plus short USD per [time, bin]."""
        return self.long + self.short
