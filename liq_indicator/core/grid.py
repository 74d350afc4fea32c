"""The global log-spaced price grid shared by the estimator, the simulator and the plots.

Bin ``k`` covers prices ``[exp(k*d), exp((k+1)*d))`` with ``d = ln(1 + bin_bp/1e4)``; its
representative price is the geometric centre ``exp((k+0.5)*d)``. The grid is anchored at price 1 and
never moves, so every map of the same ``bin_bp`` shares bins, whatever the price or the history
length, and a relative distance of ``n`` bins means the same percentage at 16k and at 124k.
"""

from __future__ import annotations

from typing import Any, overload

import numpy as np
from numpy.typing import ArrayLike, NDArray

#: one price or one bin index: a Python or numpy scalar (the functions then return a numpy scalar)
Scalar = float | np.integer[Any] | np.floating[Any]

__all__ = ["bin_width", "price_to_bin", "bin_center", "bin_lower", "bin_upper"]


def bin_width(bin_bp: float) -> float:
    """Log width ``d`` of one bin of ``bin_bp`` basis points."""
    return float(np.log1p(bin_bp / 1e4))


@overload
def price_to_bin(price: Scalar, bin_bp: float) -> np.int64: ...
@overload
def price_to_bin(price: ArrayLike, bin_bp: float) -> NDArray[np.int64]: ...
def price_to_bin(price: ArrayLike, bin_bp: float) -> np.int64 | NDArray[np.int64]:
    """Global bin index (int64) of ``price`` (scalar or array, > 0)."""
    return np.floor(np.log(price) / bin_width(bin_bp)).astype(np.int64)


@overload
def bin_center(k: Scalar, bin_bp: float) -> np.float64: ...
@overload
def bin_center(k: ArrayLike, bin_bp: float) -> NDArray[np.float64]: ...
def bin_center(k: ArrayLike, bin_bp: float) -> np.float64 | NDArray[np.float64]:
    """Geometric centre price of global bin ``k``."""
    return np.exp((np.asarray(k, dtype=np.float64) + 0.5) * bin_width(bin_bp))


@overload
def bin_lower(k: Scalar, bin_bp: float) -> np.float64: ...
@overload
def bin_lower(k: ArrayLike, bin_bp: float) -> NDArray[np.float64]: ...
def bin_lower(k: ArrayLike, bin_bp: float) -> np.float64 | NDArray[np.float64]:
    """Lower edge price of global bin ``k``."""
    return np.exp(np.asarray(k, dtype=np.float64) * bin_width(bin_bp))


@overload
def bin_upper(k: Scalar, bin_bp: float) -> np.float64: ...
@overload
def bin_upper(k: ArrayLike, bin_bp: float) -> NDArray[np.float64]: ...
def bin_upper(k: ArrayLike, bin_bp: float) -> np.float64 | NDArray[np.float64]:
    """Upper edge price of global bin ``k``."""
    return np.exp((np.asarray(k, dtype=np.float64) + 1.0) * bin_width(bin_bp))
