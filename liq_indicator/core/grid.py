"""The global log-spaced price grid shared by the estimator, the simulator and the plots.

Bin ``k`` covers prices ``[exp(k*d), exp((k+1)*d))`` with ``d = ln(1 + bin_bp/1e4)``; its
representative price is the geometric centre ``exp((k+0.5)*d)``. The grid is anchored at price 1 and
never moves, so every map of the same ``bin_bp`` shares bins, whatever the price or the history
length, and a relative distance of ``n`` bins means the same percentage at 16k and at 124k.
"""

from __future__ import annotations

import numpy as np

__all__ = ["bin_width", "price_to_bin", "bin_center", "bin_lower", "bin_upper"]


def bin_width(bin_bp: float) -> float:
    """Log width ``d`` of one bin of ``bin_bp`` basis points."""
    return float(np.log1p(bin_bp / 1e4))


def price_to_bin(price, bin_bp: float):
    """Global bin index (int64) of ``price`` (scalar or array, > 0)."""
    return np.floor(np.log(price) / bin_width(bin_bp)).astype(np.int64)


def bin_center(k, bin_bp: float):
    """Geometric centre price of global bin ``k``."""
    return np.exp((np.asarray(k, dtype=np.float64) + 0.5) * bin_width(bin_bp))


def bin_lower(k, bin_bp: float):
    """Lower edge price of global bin ``k``."""
    return np.exp(np.asarray(k, dtype=np.float64) * bin_width(bin_bp))


def bin_upper(k, bin_bp: float):
    """Upper edge price of global bin ``k``."""
    return np.exp((np.asarray(k, dtype=np.float64) + 1.0) * bin_width(bin_bp))
