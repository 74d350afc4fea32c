"""Synthetic BTC-like candles for the benchmarks (fat-tailed random walk; not the simulator)."""

from __future__ import annotations

import numpy as np
import pandas as pd


def random_walk(
    n: int,
    *,
    freq: str = "1min",
    start: str = "2023-01-01",
    seed: int = 0,
    ret_scale: float = 0.0007,
    wick_scale: float = 0.0005,
    volume_mu: float = 3.0,
) -> pd.DataFrame:
    """``n`` candles from 40,000: Student-t(3) returns x ``ret_scale``, normal wicks x
    ``wick_scale``, log-normal volume around ``exp(volume_mu)``."""
    rng = np.random.default_rng(seed)
    ret = rng.standard_t(3, n) * ret_scale
    close = 40_000 * np.exp(np.cumsum(ret))
    open_ = np.r_[40_000, close[:-1]]
    wick = np.abs(rng.normal(0, wick_scale, (2, n))) * close
    return pd.DataFrame(
        {
            "date": pd.date_range(start, periods=n, freq=freq, tz="UTC"),
            "open": open_,
            "high": np.maximum(open_, close) + wick[0],
            "low": np.minimum(open_, close) - wick[1],
            "close": close,
            "volume": rng.lognormal(volume_mu, 1, n),
        }
    )
