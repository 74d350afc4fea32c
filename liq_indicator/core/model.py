"""The map kernel's named interface: its inputs, parameters, state and heatmap request.

:func:`liq_indicator.core.kernels.run` and its slow twin :func:`liq_indicator.core.reference.run`
take exactly these four NamedTuples (numba compiles NamedTuples of arrays and scalars as they are).
This module builds them from a :class:`~liq_indicator.config.HeatmapConfig`; it imports neither
numba nor pandas.
"""

from __future__ import annotations

import math
from typing import NamedTuple

import numpy as np

from liq_indicator.brackets import liquidation_ratio, tier_leverages
from liq_indicator.columns import ColumnLayout, column_layout
from liq_indicator.config import HeatmapConfig
from liq_indicator.core.grid import bin_width

__all__ = [
    "PER_VENUE",
    "TOTALS",
    "HeatRequest",
    "KernelInputs",
    "KernelParams",
    "MapState",
    "kernel_params",
    "new_state",
    "no_heat",
]

TOTALS = ("inflow", "swept_long", "swept_short", "decayed", "closed", "dropped")
"""The conservation ledger :attr:`MapState.totals` keeps, in its order (USD since the first candle)."""
T_INFLOW, T_SWEPT_LONG, T_SWEPT_SHORT, T_DECAYED, T_CLOSED, T_DROPPED = range(len(TOTALS))


class KernelInputs(NamedTuple):
    """Per-candle float64 arrays, all of one length ``n``.

    ``time_s``, ``close``, ``real_long`` and ``real_short`` are ``(n,)`` (the reference venue); the
    others (:data:`PER_VENUE`) ``(n, venues)``, NaN where a venue has no candle.
    """

    time_s: np.ndarray
    """candle time in seconds (any fixed origin; only differences are used)"""
    close: np.ndarray
    """close of the reference venue; features are measured from it"""
    sweep_high: np.ndarray
    """price that triggers a venue's short levels (mark high, else traded high)"""
    sweep_low: np.ndarray
    """price that triggers a venue's long levels (mark low, else traded low)"""
    entry_low: np.ndarray
    """lowest price at which the venue's new positions open (NaN: none open)"""
    entry_high: np.ndarray
    """highest such price: new notional is spread evenly in log price over entry_low ..
    entry_high (equal: one entry price)"""
    vol_inflow: np.ndarray
    """new notional (USD) under the volume rule"""
    turnover: np.ndarray
    """notional (USD) opened and, as much, closed on top of the OI change where OI is known"""
    intracandle_long: np.ndarray
    """share of the candle's new longs beyond its own low liquidated within it"""
    intracandle_short: np.ndarray
    """share of the candle's new shorts beyond its own high liquidated within it"""
    oi: np.ndarray
    """open interest in USD, NaN where unknown"""
    long_share: np.ndarray
    """fraction of new notional that is long, in [0, 1]"""
    real_long: np.ndarray
    """(n,): recorded long liquidations in the candle (USD) of the reference venue; NaN: none"""
    real_short: np.ndarray
    """(n,): the same for shorts"""

    @property
    def n_candles(self) -> int:
        """Number of candles (rows)."""
        return int(self.close.shape[0])

    def rows(self, start: int, stop: int) -> KernelInputs:
        """Candles ``start .. stop - 1`` (views, no copy)."""
        return KernelInputs(*(a[start:stop] for a in self))


PER_VENUE = KernelInputs._fields[2:-2]
"""The :class:`KernelInputs` fields that are ``(n, venues)``."""


class KernelParams(NamedTuple):
    """Constants derived once from a config (:func:`kernel_params`); tiers repeat per venue."""

    delta: float
    """log width of one grid bin"""
    tier_venue: np.ndarray
    """venue index of each tier (int64)"""
    ln_ratio_long: np.ndarray
    """ln(liquidation price / entry price) of a long, per tier, with its venue's brackets, at the
    tier's lowest leverage (farthest from entry)"""
    ln_ratio_short: np.ndarray
    """the same for a short"""
    ln_near_long: np.ndarray
    """the same at the tier's highest leverage (equal to ``ln_ratio_long`` for a spike tier)"""
    ln_near_short: np.ndarray
    """the same for a short"""
    weights: np.ndarray
    """share of a venue's new notional opened at each tier (summing to 1 per venue)"""
    decay_rate: np.ndarray
    """ln 2 / half-life in seconds, per tier"""
    band_ln_lo: np.ndarray
    """ln(1 - band) per band"""
    band_ln_hi: np.ndarray
    """ln(1 + band) per band"""
    n_prof: int
    """bins searched below price (price's bin included) for bands and clusters"""
    n_short: int
    """bins searched above price (<= n_prof)"""
    smooth_half: int
    """half-width of the cluster rule's box filter"""
    density: float
    """cluster threshold as a multiple of the mean bin within the search range"""
    growth_band: int
    """index of the band the growth column tracks"""
    growth_n: int
    """growth look-back in candles"""
    columns: ColumnLayout
    """where each column group starts in the feature matrix"""
    real_window: int
    """candles with recorded liquidations the accuracy columns look back over"""
    assimilation: float
    """rate at which the inflow multiplier follows log(recorded / swept)"""
    reconcile_bins: int
    """bins beyond a candle's extreme whose levels assimilation scales (0: none)"""
    vol_target: float
    """exponent of the inflow's volatility multiplier (0: off)"""
    vol_ref_var: float
    """variance of log returns per second at which the multiplier is 1"""
    vol_half_life_s: float
    """half-life of the realised variance average, seconds"""
    timeframe_exponent: float
    """exponent of the candle-length correction (0: off)"""

    @property
    def n_venues(self) -> int:
        """Number of venues."""
        return int(self.tier_venue[-1]) + 1


class MapState(NamedTuple):
    """The map between two kernel calls; arrays owned by the caller and modified in place.

    Feeding the candles in one call or in many gives the same state bit for bit.
    """

    raw: np.ndarray
    """(2, tiers, grid_bins): pending notional of window bin ``j`` divided by ``scale[tier]``
    (side 0 = long levels, 1 = short levels); window bin ``j`` is global grid bin ``base + j``"""
    scale: np.ndarray
    """(tiers,): lazy multiplier shared by both sides of a tier. Decay and the proportional OI
    close-out are uniform across a tier's levels, so they touch one number, not the whole grid;
    folded back into ``raw`` before it underflows"""
    sums: np.ndarray
    """(2, tiers): running sum of ``raw`` (for the flow accounting)"""
    tops: np.ndarray
    """(2, venues) int64: ``tops[0, v]`` the highest window bin that may hold venue ``v``'s long
    notional (-1: none); ``tops[1, v]`` the lowest that may hold its short notional (grid_bins: none)"""
    base: np.ndarray
    """(1,) int64: the global bin of window bin 0"""
    prev_time: np.ndarray
    """(1,): time of the previous candle (NaN before the first: the window is then centred on it)"""
    prev_oi: np.ndarray
    """(venues,): open interest of each venue at the previous candle (NaN: unknown)"""
    ring: np.ndarray
    """(growth_n,): the last ``growth_n`` values of near-price pending notional"""
    ring_count: np.ndarray
    """(1,) int64: how many of ``ring`` are filled (up to growth_n)"""
    ring_pos: np.ndarray
    """(1,) int64: where the next value goes in ``ring``"""
    totals: np.ndarray
    """(6,): the cumulative :data:`TOTALS` (USD)"""
    real_ring: np.ndarray
    """(4, real_window): swept long, swept short, recorded long, recorded short of the last
    candles with recorded liquidations"""
    real_count: np.ndarray
    """(1,) int64: how many of ``real_ring`` are filled"""
    real_pos: np.ndarray
    """(1,) int64: where the next candle goes in ``real_ring``"""
    log_gain: np.ndarray
    """(1,): log of the inflow multiplier assimilation has learnt (0: none)"""
    vol: np.ndarray
    """(5,): realised variance of log returns per second (weighted mean), seconds of returns seen,
    the log of the previous close (NaN before the first candle), the shortest candle spacing seen
    (seconds; 0: none yet) and the candle-length multiplier it gives"""

    def tier_values(self) -> tuple[int, np.ndarray]:
        """(global bin of window bin 0, pending USD per [side, tier, window bin])."""
        return int(self.base[0]), self.raw * self.scale[None, :, None]


class HeatRequest(NamedTuple):
    """Which snapshots of the map the kernel writes into ``grid`` while it runs."""

    rows: np.ndarray
    """candle rows (int64, ascending, unique) at which a snapshot column ends"""
    lo: int
    """global bin of ``grid``'s first column"""
    grid: np.ndarray
    """(2, len(rows), bins): pending USD per side, snapshot and bin, written by the kernel"""
    keep_max: bool
    """True: each snapshot holds the bin-wise maximum over the candles since the previous one
    (a cluster that formed and was swept in between still shows); False: the value at its row"""


def no_heat() -> HeatRequest:
    """A request for no heatmap."""
    return HeatRequest(np.zeros(0, dtype=np.int64), 0, np.zeros((2, 0, 1)), False)


def kernel_params(cfg: HeatmapConfig, exchanges: tuple[str, ...] | None = None) -> KernelParams:
    """Parameters for ``cfg``; with several venues, one set of tiers per venue, each with that
    exchange's tiers for ``cfg.symbol`` (the first venue is the reference: ``cfg.exchange``).

    Each venue's own tiers cap the map's (:func:`~liq_indicator.brackets.tier_leverages`): a spike
    tier above the pair's maximum leverage for ``cfg.position_notional`` sits at that maximum, and
    leverage-band edges are clipped to where the venue's maintenance margin still liquidates at
    least one grid bin before entry.
    """
    exchanges = exchanges or (cfg.exchange,)
    delta = bin_width(cfg.bin_bp)

    def ratios(exchange: str, short: bool, near: bool) -> list[float]:
        levels = tier_leverages(
            cfg.leverages,
            cfg.leverage_edges,
            cfg.position_notional,
            delta,
            exchange=exchange,
            pair=cfg.symbol,
        )[int(near)]
        return [
            liquidation_ratio(lev, short, cfg.position_notional, exchange=exchange, pair=cfg.symbol)
            for lev in levels
        ]

    n_lev = len(cfg.leverages)
    bands = np.asarray(cfg.bands_pct, dtype=np.float64) / 100.0
    reach = -math.log(1.0 - min(cfg.cluster_range_pct / 100.0, 0.99))
    decay = math.log(2.0) / (np.asarray(cfg.half_life_hours, dtype=np.float64) * 3600.0)
    return KernelParams(
        delta=delta,
        tier_venue=np.repeat(np.arange(len(exchanges), dtype=np.int64), n_lev),
        ln_ratio_long=np.log([r for ex in exchanges for r in ratios(ex, False, False)]),
        ln_ratio_short=np.log([r for ex in exchanges for r in ratios(ex, True, False)]),
        ln_near_long=np.log([r for ex in exchanges for r in ratios(ex, False, True)]),
        ln_near_short=np.log([r for ex in exchanges for r in ratios(ex, True, True)]),
        weights=np.tile(np.asarray(cfg.weights, dtype=np.float64), len(exchanges)),
        decay_rate=np.tile(decay, len(exchanges)),
        band_ln_lo=np.log1p(-np.minimum(bands, 0.99)),
        band_ln_hi=np.log1p(bands),
        n_prof=int(math.ceil(reach / delta)) + 1,
        n_short=int(math.ceil(math.log1p(cfg.cluster_range_pct / 100.0) / delta)) + 1,
        smooth_half=cfg.cluster_smooth_bins // 2,
        density=float(cfg.cluster_density),
        growth_band=list(cfg.bands_pct).index(cfg.growth_band_pct),
        growth_n=int(cfg.growth_candles),
        columns=column_layout(len(cfg.bands_pct), len(exchanges)),
        real_window=int(cfg.real_window),
        assimilation=float(cfg.assimilation_rate),
        reconcile_bins=int(math.ceil(math.log1p(cfg.reconcile_band_pct / 100.0) / delta)),
        vol_target=float(cfg.vol_target),
        vol_ref_var=(cfg.vol_ref_pct / 100.0) ** 2 / 86_400.0,
        vol_half_life_s=float(cfg.vol_half_life_hours) * 3600.0,
        timeframe_exponent=float(cfg.timeframe_exponent),
    )


def new_state(cfg: HeatmapConfig, n_venues: int = 1) -> MapState:
    """An empty map for ``cfg`` (the first candle centres the window)."""
    n_tiers = len(cfg.leverages) * n_venues
    return MapState(
        raw=np.zeros((2, n_tiers, cfg.grid_bins)),
        scale=np.ones(n_tiers),
        sums=np.zeros((2, n_tiers)),
        tops=np.zeros((2, n_venues), dtype=np.int64),
        base=np.zeros(1, dtype=np.int64),
        prev_time=np.full(1, np.nan),
        prev_oi=np.full(n_venues, np.nan),
        ring=np.zeros(cfg.growth_candles),
        ring_count=np.zeros(1, dtype=np.int64),
        ring_pos=np.zeros(1, dtype=np.int64),
        totals=np.zeros(len(TOTALS)),
        real_ring=np.zeros((4, cfg.real_window)),
        real_count=np.zeros(1, dtype=np.int64),
        real_pos=np.zeros(1, dtype=np.int64),
        log_gain=np.zeros(1),
        vol=np.array([0.0, 0.0, np.nan, 0.0, 1.0]),
    )
