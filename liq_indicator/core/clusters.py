"""The dense-cluster rule, defined once in plain numpy.

A bin of a liquidation profile is *dense* when the sum of the profile over the ``2 * half + 1``
bins centred on it (clipped at the profile's ends, the divisor fixed) is at least ``threshold``
times ``2 * half + 1``; a cluster is a run of dense bins, trimmed to the bins that hold notional.

The estimator's kernel uses the compiled twin :func:`liq_indicator.core.kernels.nearest_cluster`
(the nearest run only; the slow-twin tests hold the two equal); the slow reference kernel and
:func:`liq_indicator.risk.dense_zones` (every run) call :func:`dense_runs` and :func:`held_span`.
"""

from __future__ import annotations

import numpy as np

__all__ = ["PEAK_TIE", "dense_runs", "held_span", "peak_bin"]

PEAK_TIE = 1e-9
"""Bins within this relative distance of a cluster's largest bin tie for its peak (the nearest
wins): a leverage band spreads its notional evenly, so many bins are equal but for rounding."""


def dense_runs(profile: np.ndarray, half: int, threshold: float) -> list[tuple[int, int]]:
    """Every run of dense bins of ``profile`` as ``(first, last)`` indices (inclusive), in order.

    Args:
        profile: notional per bin (NaN counts as 0).
        half: half-width of the box filter (``cluster_smooth_bins // 2``).
        threshold: the mean notional a box must reach (``density`` x the mean bin); no run when it
            is not > 0.

    Example:
        >>> dense_runs(np.array([0, 0, 0, 9, 9, 0, 0.0]), 0, 2.0)
        [(3, 4)]
    """
    prof = np.nan_to_num(np.asarray(profile, dtype=np.float64))
    n = len(prof)
    if not threshold > 0 or n == 0:
        return []
    cum = np.r_[0.0, np.cumsum(prof)]
    d = np.arange(n)
    box = cum[np.minimum(d + half, n - 1) + 1] - cum[np.maximum(d - half, 0)]
    dense = box >= threshold * (2 * half + 1)
    edges = np.flatnonzero(np.diff(np.r_[0, dense.astype(np.int8), 0]))
    return [(int(a), int(b) - 1) for a, b in zip(edges[::2], edges[1::2], strict=True)]


def held_span(profile: np.ndarray, first: int, last: int) -> tuple[int, int] | None:
    """A run trimmed to the bins that hold notional (``> 0``): the cluster; None when none does."""
    held = np.flatnonzero(
        np.nan_to_num(np.asarray(profile, dtype=np.float64)[first : last + 1]) > 0
    )
    return (first + int(held[0]), first + int(held[-1])) if len(held) else None


def peak_bin(profile: np.ndarray, near: int, far: int) -> int:
    """The peak of the cluster ``near .. far``: the nearest bin holding at least ``1 - PEAK_TIE``
    of the cluster's largest bin.
    """
    prof = np.nan_to_num(np.asarray(profile, dtype=np.float64)[near : far + 1])
    return near + int(np.flatnonzero(prof >= prof.max() * (1.0 - PEAK_TIE))[0])
