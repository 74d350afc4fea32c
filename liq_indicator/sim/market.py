"""A seeded agent-based BTC-perpetual market with ground-truth liquidations.

Leveraged traders open isolated-margin positions with known entry, size and leverage; the exchange
liquidates them at the Binance formula of ``brackets.py`` when the mark price crosses their level,
and every forced order moves the price against book depth, so cascades come out of the mechanism.
The market is the project's demo data and its ground truth::

    from liq_indicator.sim.market import simulate
    res = simulate(30, timeframe="5m", seed=1, scenario="cascade")
    res.candles, res.liquidations, res.truth          # pandas frames
    res.write("user_data/data/simulated-binance")     # Freqtrade datadir + truth files

The numeric model lives in ``sim/kernels.py`` (its docstring states the equations and the order of
events inside a step); this module validates, builds the scenario schedule, runs the kernel block
by block and aggregates the 1-minute rows to candles. Writing files is ``sim/datadir.py``.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from liq_indicator.brackets import get_brackets
from liq_indicator.config import DEFAULT_PAIR, Settings
from liq_indicator.core.grid import bin_center, bin_width
from liq_indicator.core.inputs import utc_timestamp
from liq_indicator.errors import ConfigError, InputError
from liq_indicator.io.timeframes import timeframe_seconds
from liq_indicator.sim import kernels as K

__all__ = [
    "SCENARIOS",
    "Scenario",
    "SimConfig",
    "SimResult",
    "simulate",
    "timeframe_minutes",
    "MARK_TIMEFRAME",
]

MINUTES_PER_YEAR = 525_600


def timeframe_minutes(timeframe: str) -> int:
    """Minutes of a Freqtrade timeframe string (``"1m"``, ``"5m"``, ``"4h"``, ``"1d"``, ``"1w"``).

    Raises:
        ConfigError: on a malformed timeframe or a month (``"1M"``), which has no fixed length.
    """
    try:
        seconds = timeframe_seconds(timeframe)
    except InputError:
        seconds = 1  # not whole minutes: refused below
    if seconds % 60:
        raise ConfigError(
            f"timeframe {timeframe!r} is not understood; use a Freqtrade timeframe such as "
            "'1m', '5m', '15m', '1h', '4h', '1d' or '1w' (months are not supported)"
        )
    return seconds // 60


# =============================================================================================
# configuration
# =============================================================================================
@dataclass(frozen=True)
class SimConfig(Settings):
    """Every parameter of the simulated market, with its default.

    Defaults are calibrated against Binance BTCUSDT 2023-2025 (see ``docs/SIMULATOR.md``). Construct
    with keywords and change with :meth:`replace`; a bad value raises
    :class:`~liq_indicator.errors.ConfigError` naming the field.
    """

    # --- price process ---------------------------------------------------------------------
    start_price: float = 60_000.0
    """Index and last price (USDT) at the beginning of the warm-up (the first candle opens near
    it, not at it)."""
    pair: str = DEFAULT_PAIR
    """The simulated perpetual (Freqtrade's name): its Binance maintenance-margin tiers liquidate
    the agents and cap their leverage, and the datadir files carry its name. Another pair with
    its own ``start_price`` (e.g. ``1000PEPE/USDT:USDT`` near 0.007) gives a market whose
    liquidation levels follow that pair's tiers; traded prices get :func:`price_decimals` of it."""
    index_vol_annual: float = 0.49
    """Annualised volatility of the exogenous index shock at activity 1 (agents' impact and jumps
    come on top)."""
    vol_components: tuple[tuple[float, float], ...] = (
        (0.55, 45.0),
        (0.35, 1440.0),
        (0.35, 28_800.0),
    )
    """Stochastic volatility: (stationary std of log-activity, half-life in minutes) of each of the
    three AR(1) components; their sum is the log of the activity that scales volatility, volume,
    entry rate and (inversely) depth."""
    season_amplitude: float = 0.50
    """Amplitude of the daily activity cycle (peak 15:00 UTC, trough 03:00 UTC)."""
    weekend_factor: float = 0.70
    """Activity multiplier on Saturdays and Sundays (UTC)."""

    # --- order book and impact -------------------------------------------------------------
    depth_usd: float = 4.0e8
    """Book depth D (USD) at activity 1: small net orders move the log price by
    ``impact_coef * F / D``; beyond D the impact grows as the square root (deeper book levels)."""
    depth_vol_exponent: float = 0.5
    """Depth scales as ``activity ** -depth_vol_exponent`` (books thin out when volatile)."""
    impact_coef: float = 0.01
    """Impact scale: the recent unabsorbed net flow Q (USD) displaces the log price by
    ``2 * impact_coef * (sqrt(1 + |Q| / D) - 1)`` (about ``impact_coef * Q / D`` for small Q); Q
    decays with ``impact_half_life_minutes``."""
    permanent_impact_share: float = 0.5
    """Share of each impact that is permanent; the rest decays (book resilience)."""
    impact_half_life_minutes: float = 15.0
    """Half-life of the transient part of impact and of the book's memory of recent flow."""
    index_impact_share: float = 0.8
    """Share of each impact that also moves the index (spot follows by arbitrage); the rest is a
    premium of the perpetual that arbitrage removes."""
    vol_feedback: float = 0.02
    """Self-exciting volatility: the fast log-activity rises by this much per unit of 1-minute
    |return| / current volatility beyond ``vol_feedback_threshold``."""
    vol_feedback_threshold: float = 5.0
    """Size (in current 1-minute volatilities) of a move that starts exciting activity."""
    arb_perp_rate: float = 0.15
    """Fraction of the basis gap (to its target) closed per minute by moving the last price."""
    arb_index_rate: float = 0.25
    """Fraction of the basis gap closed per minute by moving the index."""
    basis_beta: float = 0.004
    """Target basis (log) per unit of long/short notional imbalance of the agents (crowded longs
    pay a premium, hence funding)."""
    mark_basis_minutes: float = 5.0
    """Averaging time of the basis term of the mark price (Binance: 5-minute moving average)."""

    # --- traders ---------------------------------------------------------------------------
    n_positions: int = 80_000
    """Scale of the trader population: entries arrive at ``n_positions`` / mean planned holding
    time per minute, raised while fewer and lowered while more positions are live. Stops, targets
    and liquidations cut holdings short, so about half this many are live with the defaults."""
    max_positions: int = 200_000
    """Hard cap of position slots; entries beyond it are dropped (and counted)."""
    hold_median_minutes: float = 2880.0
    """Median planned holding time of a 10x position (scales with ``sqrt(10 / leverage)``)."""
    hold_sigma: float = 1.2
    """Log-normal sigma of the planned holding time."""
    momentum_share: float = 0.35
    """Share of entries that follow momentum (fast vs slow EMA of price)."""
    meanrev_share: float = 0.25
    """Share of entries that fade the distance from the slow EMA; the rest are noise traders."""
    momentum_strength: float = 1.0
    """Logit slope of the momentum signal (signal in units of recent volatility, clipped to +-3)."""
    meanrev_strength: float = 1.0
    """Logit slope of the mean-reversion signal."""
    funding_sensitivity: float = 0.15
    """Logit shift per multiple of the base interest rate that the predicted funding exceeds it
    (high funding discourages longs)."""
    size_min_usd: float = 10_000.0
    """Smallest position notional (USD); sizes are Pareto distributed above it."""
    size_alpha: float = 1.05
    """Pareto tail exponent of position notional (smaller = heavier tail)."""
    size_max_usd: float = 50_000_000.0
    """Largest position notional (USD); leverage is capped by the bracket of the notional."""
    whale_notional_usd: float = 50_000.0
    """Above this notional, leverage is capped at ``max(leverage_levels) * (notional / this) **
    -whale_leverage_exponent`` (large traders use less leverage), besides the bracket's cap."""
    whale_leverage_exponent: float = 0.7
    """Exponent of that cap (0 disables it)."""
    leverage_levels: tuple[float, ...] = (1, 2, 3, 5, 10, 15, 20, 25, 50, 75, 100, 125)
    """Leverage choices."""
    leverage_weights: tuple[float, ...] = (6, 5, 6, 10, 16, 10, 14, 10, 10, 5, 5, 3)
    """Relative frequency of each leverage in normal times (many at 10-25x)."""
    leverage_weights_crowded: tuple[float, ...] = (2, 2, 3, 5, 12, 10, 16, 14, 16, 7, 9, 4)
    """Relative frequency during a scenario's leverage build-up."""
    stop_share: float = 0.5
    """Share of positions with a stop-loss."""
    stop_fraction: tuple[float, float] = (0.3, 0.9)
    """A stop sits this fraction (uniform in the range) of the way from entry to liquidation."""
    take_profit_share: float = 0.6
    """Share of positions with a take-profit order."""
    take_profit_median: float = 0.02
    """Median take-profit distance of a 10x position (fraction of entry; scales with
    ``sqrt(10 / leverage)``)."""
    take_profit_sigma: float = 0.6
    """Log-normal sigma of the take-profit distance."""
    entry_rate_vol_exponent: float = 0.7
    """Entry rate scales as ``activity ** entry_rate_vol_exponent``."""

    # --- background flow -------------------------------------------------------------------
    background_volume_usd: float = 1.0e7
    """Two-sided volume per minute (USD) of unmodelled traders at activity 1."""
    background_volume_sigma: float = 1.0
    """Stationary std of the log-noise of background volume (an AR(1) across minutes)."""
    background_volume_half_life: float = 3.0
    """Half-life (minutes) of the background-volume noise."""
    background_volume_exponent: float = 1.3
    """Background volume scales as ``activity ** background_volume_exponent``."""
    noise_net_share: float = 0.08
    """Net signed share of the background volume (its impact is part of the noise)."""

    # --- exchange --------------------------------------------------------------------------
    funding_interest: float = 0.0001
    """Interest component of the 8-hourly funding rate (Binance: 0.01%)."""
    funding_clamp: float = 0.0005
    """Clamp of (interest - premium) in the funding formula (Binance: 0.05%)."""
    premium_offset: float = -0.00045
    """Added to the last-vs-index premium for the funding formula: Binance's premium index uses
    impact bid/ask prices, which sit a few bp below the last price (funding is often just under
    0.01%)."""
    funding_cap: float = 0.003
    """Cap of the absolute funding rate."""
    funding_interval_minutes: int = 480
    """Funding is settled at UTC times that are multiples of this (8 h)."""

    # --- numerics and truth ----------------------------------------------------------------
    substeps: int = 4
    """Sub-steps per minute; each has its own shock, entries and liquidation sweep."""
    max_cascade_rounds: int = 50
    """Sweep rounds per sub-step; orders of further rounds move the next minute."""
    bin_bp: float = 10.0
    """Width (bp) of the grid.py bins of the truth map (``liq_map``) and of the kernel's trigger
    lists."""
    price_range: float = 64.0
    """The trigger lists and truth map span ``start_price / price_range .. start_price *
    price_range``; levels outside fall into the edge bins (triggers stay exact, just slower; the
    truth map clamps them to its edge bins)."""
    warmup_days: float = 7.0
    """Days simulated before ``start`` and discarded, so the market starts with a full book of
    positions (open interest and pending liquidations in steady state). Rounded up to whole
    candles and hours."""
    snapshot_every_hours: float = 24.0
    """Take the true pending-liquidation map at candle closes that are multiples of this many
    hours after the start (0 disables; ``simulate(snapshots=...)`` picks candles instead)."""

    def __post_init__(self) -> None:
        self.check_types()

        def need(ok: bool | np.bool_, name: str, rule: str) -> None:
            if not ok:
                raise ConfigError(
                    f"SimConfig.{name} = {getattr(self, name)!r} is invalid: it must be {rule}"
                )

        def finite(name: str) -> float:
            value = getattr(self, name)
            need(
                isinstance(value, int | float)
                and not isinstance(value, bool)
                and math.isfinite(value),
                name,
                "a finite number",
            )
            return float(value)

        positive = (
            "start_price",
            "index_vol_annual",
            "depth_usd",
            "impact_coef",
            "mark_basis_minutes",
            "impact_half_life_minutes",
            "vol_feedback_threshold",
            "whale_notional_usd",
            "background_volume_half_life",
            "hold_median_minutes",
            "size_min_usd",
            "size_alpha",
            "size_max_usd",
            "take_profit_median",
            "bin_bp",
            "funding_clamp",
            "funding_cap",
        )
        for name in positive:
            need(finite(name) > 0, name, "> 0")
        non_negative = (
            "season_amplitude",
            "depth_vol_exponent",
            "basis_beta",
            "hold_sigma",
            "momentum_strength",
            "meanrev_strength",
            "funding_sensitivity",
            "take_profit_sigma",
            "entry_rate_vol_exponent",
            "background_volume_usd",
            "background_volume_sigma",
            "noise_net_share",
            "funding_interest",
            "snapshot_every_hours",
            "weekend_factor",
            "vol_feedback",
            "background_volume_exponent",
            "whale_leverage_exponent",
            "warmup_days",
        )
        for name in non_negative:
            need(finite(name) >= 0, name, ">= 0")
        need(abs(finite("premium_offset")) < 0.01, "premium_offset", "within +-1%")
        for name in (
            "permanent_impact_share",
            "index_impact_share",
            "momentum_share",
            "meanrev_share",
            "stop_share",
            "take_profit_share",
        ):
            need(0.0 <= finite(name) <= 1.0, name, "between 0 and 1")
        need(
            self.momentum_share + self.meanrev_share <= 1.0,
            "meanrev_share",
            "at most 1 - momentum_share (the rest are noise traders)",
        )
        for name in ("arb_perp_rate", "arb_index_rate"):
            need(0.0 <= finite(name) < 1.0, name, "in [0, 1)")
        need(
            self.arb_perp_rate + self.arb_index_rate < 1.0,
            "arb_index_rate",
            "less than 1 - arb_perp_rate (the basis would overshoot)",
        )
        need(self.season_amplitude < 1.0, "season_amplitude", "< 1 (activity must stay positive)")
        need(self.size_max_usd > self.size_min_usd, "size_max_usd", "> size_min_usd")
        table = get_brackets("binance", self.pair)
        need(
            self.size_max_usd < table.brackets[-1].cap,
            "size_max_usd",
            f"below the largest Binance bracket cap of {self.pair} "
            f"({table.brackets[-1].cap:,.0f} USD)",
        )
        need(finite("price_range") >= 2.0, "price_range", ">= 2")
        for name in (
            "n_positions",
            "max_positions",
            "substeps",
            "max_cascade_rounds",
            "funding_interval_minutes",
        ):
            value = getattr(self, name)
            need(
                isinstance(value, int | np.integer) and not isinstance(value, bool) and value >= 1,
                name,
                "an integer >= 1",
            )
        need(self.max_positions >= self.n_positions, "max_positions", ">= n_positions")
        need(self.substeps <= 60, "substeps", "at most 60 (one per second)")
        need(
            1440 % self.funding_interval_minutes == 0,
            "funding_interval_minutes",
            "a divisor of 1440 (480 for Binance's 8 h)",
        )
        comps = self.vol_components
        need(
            isinstance(comps, tuple | list)
            and len(comps) == 3
            and all(isinstance(c, tuple | list) and len(c) == 2 for c in comps),
            "vol_components",
            "three (std, half_life_minutes) pairs",
        )
        need(
            all(math.isfinite(s) and s >= 0 and math.isfinite(h) and h > 0 for s, h in comps),
            "vol_components",
            "pairs of std >= 0 and half-life > 0",
        )
        lev = self.leverage_levels
        need(
            len(lev) >= 1 and all(math.isfinite(v) and 1 <= v <= 125 for v in lev),
            "leverage_levels",
            "a non-empty tuple of leverages in [1, 125]",
        )
        for name in ("leverage_weights", "leverage_weights_crowded"):
            w = getattr(self, name)
            need(
                len(w) == len(lev) and all(math.isfinite(v) and v >= 0 for v in w) and sum(w) > 0,
                name,
                f"{len(lev)} non-negative weights (one per leverage level) with sum > 0",
            )
        lo, hi = self.stop_fraction
        need(0.0 < lo <= hi < 1.0, "stop_fraction", "a pair 0 < low <= high < 1")


@dataclass(frozen=True)
class Scenario:
    """A market regime: exogenous schedules only; cascades still come from the mechanism.

    Attributes:
        name: Scenario name.
        description: One line for the docs and the SIMULATED.txt marker.
        vol_mult: Multiplier of the index volatility and activity.
        jumps_per_day: Rate of exogenous news jumps of the index.
        jump_scale: Laplace scale of a news jump (log return).
        trend_annual: Magnitude range of the annualised drift of trend regimes (0: none).
        cycle_days: Range of the length of one build-up-and-shock cycle (None: no cycles).
        crowd_bias: Long/short logit bias reached at the end of a build-up (+ longs, - shorts).
        crowd_levmix: Probability of drawing the crowded leverage distribution at the end of a
            build-up.
        crowd_rate: Entry-rate multiplier reached at the end of a build-up.
        shock: Range of the size (log return, signed) of the shock ending a build-up, spread over
            ``shock_minutes``.
        shock_minutes: Minutes over which the shock is spread.
        recovery: Share of the shock the index drifts back over the following day.
    """

    name: str
    description: str
    vol_mult: float = 1.0
    jumps_per_day: float = 0.15
    jump_scale: float = 0.006
    trend_annual: tuple[float, float] = (0.0, 0.0)
    cycle_days: tuple[float, float] | None = None
    crowd_bias: float = 0.0
    crowd_levmix: float = 0.0
    crowd_rate: float = 1.0
    shock: tuple[float, float] = (0.0, 0.0)
    shock_minutes: int = 5
    recovery: float = 0.8


SCENARIOS: dict[str, Scenario] = {
    "calm": Scenario(
        "calm",
        "low volatility, no trend, few news jumps, normal leverage",
        vol_mult=0.5,
        jumps_per_day=0.05,
        jump_scale=0.005,
    ),
    "trend": Scenario(
        "trend",
        "drift regimes of 2-6 weeks (mostly up), normal leverage",
        trend_annual=(0.5, 1.5),
    ),
    "cascade": Scenario(
        "cascade",
        "cycles of long leverage build-up ending in a downward shock",
        cycle_days=(5.0, 9.0),
        crowd_bias=0.9,
        crowd_levmix=0.7,
        crowd_rate=1.8,
        shock=(-0.045, -0.025),
    ),
    "squeeze": Scenario(
        "squeeze",
        "cycles of crowded, leveraged shorts ending in an upward shock",
        cycle_days=(5.0, 9.0),
        crowd_bias=-1.0,
        crowd_levmix=0.7,
        crowd_rate=1.8,
        shock=(0.025, 0.045),
    ),
}


# =============================================================================================
# result
# =============================================================================================
@dataclass
class SimResult:
    """Frames of one simulation (dates are UTC candle open times, like Freqtrade's).

    Attributes:
        candles: ``date, open, high, low, close, volume`` of the perpetual (volume in BTC).
        mark: Mark-price candles at :data:`MARK_TIMEFRAME` (1h, what Freqtrade reads), volume 0.
        funding: ``date, funding_rate`` at each 8-hourly settlement.
        oi: ``date, open_interest_amount`` (BTC), ``open_interest_value`` (USD) at each candle's
            close (like the close price).
        liquidations: One row per liquidation: ``date`` (trigger time, sub-step resolution),
            ``side``, ``liq_price`` (brackets.py formula), ``mark_price`` at the trigger,
            ``last_price``, ``fill_price`` (post-impact), ``liquidated_usd`` (qty x fill),
            ``notional_usd`` (at entry), ``qty``, ``leverage``, ``entry_price``, ``entry_date``,
            ``position_id``, ``round`` (cascade round inside the sub-step).
        truth: Per candle: liquidated USD and count per side, mark OHLC, index close, premium,
            long/short open quantity and live positions.
        liq_map: True pending-liquidation map at snapshot candles: ``date`` (the candle; state at
            its close), global grid ``bin``, ``price`` (bin centre), ``long_usd``, ``short_usd``.
        positions: Positions still open at the end (entry, size, leverage, level).
        meta: Seed, scenario, timeframe, start, days, config, counters.
    """

    candles: pd.DataFrame
    mark: pd.DataFrame
    funding: pd.DataFrame
    oi: pd.DataFrame
    liquidations: pd.DataFrame
    truth: pd.DataFrame
    liq_map: pd.DataFrame
    positions: pd.DataFrame
    meta: dict[str, Any] = field(default_factory=dict)

    @property
    def timeframe(self) -> str:
        """Candle timeframe of ``candles``, ``oi`` and ``truth``."""
        return str(self.meta["timeframe"])

    @property
    def pair(self) -> str:
        """The simulated pair (:attr:`SimConfig.pair`)."""
        return str(self.meta.get("config", {}).get("pair", DEFAULT_PAIR))

    def write(self, datadir: str | Path) -> dict[str, Path]:
        """Write the Freqtrade datadir files, the SIMULATED.txt marker and the truth files.

        See :func:`liq_indicator.sim.datadir.write_datadir`.
        """
        from liq_indicator.sim.datadir import write_datadir

        return write_datadir(self, datadir)


# =============================================================================================
# simulation
# =============================================================================================
PRICE_DECIMALS = 1
"""Traded prices are written on BTCUSDT's 0.1 USDT tick (at the default ``start_price``)."""


def price_decimals(start_price: float) -> int:
    """Decimals of the traded prices of a market starting at ``start_price``: about six
    significant digits, as Binance's ticks give (1 at 60,000 like BTCUSDT's 0.1, 2 at 3,000, 8 at
    0.007, finer than 1000PEPEUSDT's 7).

    Example:
        >>> price_decimals(60_000.0), price_decimals(3_000.0), price_decimals(0.007)
        (1, 2, 8)
    """
    return max(PRICE_DECIMALS, 5 - math.floor(math.log10(start_price)))


MARK_TIMEFRAME = "1h"
"""Freqtrade's ``mark_ohlcv_timeframe`` and ``funding_fee_timeframe`` for Binance futures."""
MARK_MINUTES = 60  # the simulated span is a whole number of these (see ``unit`` in simulate)


def _parse_start(start: str | pd.Timestamp | Any, tf_min: int) -> pd.Timestamp:
    try:
        ts = pd.Timestamp(start)
    except (ValueError, TypeError) as exc:
        raise ConfigError(f"start {start!r} is not a date; use e.g. '2024-01-01'") from exc
    if ts is pd.NaT:
        raise ConfigError("start must be a date, got NaT; use e.g. '2024-01-01'")
    ts = utc_timestamp(ts)
    epoch_min = ts.value / 60e9
    if epoch_min != int(epoch_min) or int(epoch_min) % 60 != 0:
        raise ConfigError(f"start {ts} must be on a whole UTC hour; use e.g. '{ts.floor('h')}'")
    align = tf_min if tf_min <= 1440 else 1440
    if int(epoch_min) % align != 0:
        raise ConfigError(
            f"start {ts} is not on a candle boundary of the timeframe; use "
            f"'{ts.floor(f'{align}min')}'"
        )
    if tf_min % 10080 == 0 and ts.day_of_week != 0:
        raise ConfigError(f"weekly candles start on Mondays; start {ts} is a {ts.day_name()}")
    return ts


def _schedule(scn: Scenario, n_min: int, rng: np.random.Generator) -> np.ndarray:
    """The scenario's exogenous per-minute schedule (drift, bias, leverage mix, rate, jumps, vol)."""
    sched = np.zeros((n_min, K.N_SCHED))
    sched[:, K.SCHED_RATE] = 1.0
    sched[:, K.SCHED_VOLM] = scn.vol_mult
    # sentiment: a slow AR(1) bias of the long/short choice (half-life 3 days, std 0.3)
    phi = 0.5 ** (1.0 / (3 * 1440))
    innov = rng.standard_normal(n_min) * 0.3 * math.sqrt(1 - phi * phi)
    sched[:, K.SCHED_BIAS] = K.ar1(innov, phi, rng.standard_normal() * 0.3)
    # news jumps
    n_jumps = rng.poisson(scn.jumps_per_day * n_min / 1440.0)
    at = rng.integers(0, n_min, size=n_jumps)
    size = rng.laplace(0.0, scn.jump_scale * scn.vol_mult, size=n_jumps)
    np.add.at(sched[:, K.SCHED_JUMP], at, size)
    # trend regimes
    lo, hi = scn.trend_annual
    if hi > 0:
        t = 0
        while t < n_min:
            length = int(rng.uniform(14, 45) * 1440)
            sign = 1.0 if rng.uniform() < 0.65 else -1.0
            drift = sign * rng.uniform(lo, hi)
            sched[t : t + length, K.SCHED_DRIFT] = drift / MINUTES_PER_YEAR
            sched[t : t + length, K.SCHED_BIAS] += 0.3 * sign
            t += length
    # build-up cycles ending in a shock
    if scn.cycle_days is not None:
        t = 0
        while t < n_min:
            length = int(rng.uniform(*scn.cycle_days) * 1440)
            length = min(length, n_min - t) if n_min - t < 2 * length else length
            shock_at = t + int(0.8 * length)
            if shock_at + scn.shock_minutes >= n_min:
                break
            ramp = np.linspace(0.0, 1.0, shock_at - t, endpoint=False)
            relax_len = min(360, n_min - shock_at)  # the crowd unwinds over 6 hours
            relax = np.linspace(1.0, 0.0, relax_len)
            prof = np.concatenate([ramp, relax])
            seg = slice(t, t + len(prof))
            sched[seg, K.SCHED_BIAS] += scn.crowd_bias * prof
            sched[seg, K.SCHED_LEVMIX] = np.maximum(
                sched[seg, K.SCHED_LEVMIX], scn.crowd_levmix * prof
            )
            sched[seg, K.SCHED_RATE] *= 1.0 + (scn.crowd_rate - 1.0) * prof
            shock = rng.uniform(*scn.shock)
            sched[shock_at : shock_at + scn.shock_minutes, K.SCHED_JUMP] += (
                shock / scn.shock_minutes
            )
            # the news is absorbed: the index drifts back most of the shock over the next day
            rec = slice(shock_at + scn.shock_minutes, shock_at + scn.shock_minutes + 1440)
            sched[rec, K.SCHED_DRIFT] -= scn.recovery * shock / 1440
            t += length
    return sched


def _params(cfg: SimConfig, epoch_min: int, k0: int, n_bins: int) -> K.SimParams:
    activity = [0.5 ** (1.0 / half_life) for _, half_life in cfg.vol_components]
    activity_sd = [
        std * math.sqrt(1.0 - phi * phi)
        for (std, _), phi in zip(cfg.vol_components, activity, strict=True)
    ]
    var = 0.0
    for std, _ in cfg.vol_components:
        var += std * std
    vphi = 0.5 ** (1.0 / cfg.background_volume_half_life)
    hold_mean = cfg.hold_median_minutes * math.exp(0.5 * cfg.hold_sigma**2)
    width = bin_width(cfg.bin_bp)
    return K.make_params(
        substeps=cfg.substeps,
        sigma=cfg.index_vol_annual / math.sqrt(MINUTES_PER_YEAR),
        # E[activity**2] = 1: index_vol_annual is the RMS exogenous volatility
        log_activity_shift=-var,
        activity_phi0=activity[0],
        activity_phi1=activity[1],
        activity_phi2=activity[2],
        activity_sd0=activity_sd[0],
        activity_sd1=activity_sd[1],
        activity_sd2=activity_sd[2],
        depth=cfg.depth_usd,
        depth_exp=cfg.depth_vol_exponent,
        impact=cfg.impact_coef,
        index_impact_share=cfg.index_impact_share,
        permanent_share=cfg.permanent_impact_share,
        transient_decay=1.0 - 0.5 ** (1.0 / (cfg.impact_half_life_minutes * cfg.substeps)),
        arb_perp=cfg.arb_perp_rate,
        arb_index=cfg.arb_index_rate,
        basis_beta=cfg.basis_beta,
        basis_ma_rate=1.0 / (cfg.mark_basis_minutes * cfg.substeps),
        entry_rate=cfg.n_positions / hold_mean,
        entry_rate_exp=cfg.entry_rate_vol_exponent,
        target_positions=cfg.n_positions,
        momentum_share=cfg.momentum_share,
        meanrev_share=cfg.meanrev_share,
        momentum_strength=cfg.momentum_strength,
        meanrev_strength=cfg.meanrev_strength,
        funding_sensitivity=cfg.funding_sensitivity,
        size_min=cfg.size_min_usd,
        size_alpha=cfg.size_alpha,
        size_max=cfg.size_max_usd,
        hold_median=cfg.hold_median_minutes,
        hold_sigma=cfg.hold_sigma,
        stop_share=cfg.stop_share,
        stop_frac_lo=cfg.stop_fraction[0],
        stop_frac_hi=cfg.stop_fraction[1],
        take_profit_share=cfg.take_profit_share,
        take_profit_median=cfg.take_profit_median,
        take_profit_sigma=cfg.take_profit_sigma,
        background_volume=cfg.background_volume_usd,
        background_sigma=cfg.background_volume_sigma,
        noise_net=cfg.noise_net_share,
        # trigger lists and truth map share the grid.py bins (separate fields kept for clarity)
        bin_width=width,
        bin_k0=k0,
        n_bins=n_bins,
        funding_interest=cfg.funding_interest,
        funding_clamp=cfg.funding_clamp,
        funding_cap=cfg.funding_cap,
        funding_interval=cfg.funding_interval_minutes,
        epoch_minute=epoch_min,
        season=cfg.season_amplitude,
        weekend=cfg.weekend_factor,
        max_rounds=cfg.max_cascade_rounds,
        lev_ref=10.0,
        vol_feedback=cfg.vol_feedback,
        vol_feedback_threshold=cfg.vol_feedback_threshold,
        premium_offset=cfg.premium_offset,
        volume_exp=cfg.background_volume_exponent,
        grid_bin_width=width,
        grid_k0=k0,
        grid_n_bins=n_bins,
        whale_ref=cfg.whale_notional_usd,
        whale_exp=cfg.whale_leverage_exponent,
        volume_noise_phi=vphi,
        volume_noise_sd=cfg.background_volume_sigma * math.sqrt(1.0 - vphi * vphi),
    )


def _cdf(weights: Sequence[float]) -> np.ndarray:
    w = np.asarray(weights, dtype=np.float64)
    c = np.cumsum(w / w.sum())
    c[-1] = 1.0
    return c


def _aggregate(block: np.ndarray, m: int) -> dict[str, np.ndarray]:
    """Aggregate 1-minute kernel rows into candles of ``m`` minutes (rows divisible by m)."""
    b = block.reshape(-1, m, K.N_OUT)
    return {
        "open": b[:, 0, K.O_OPEN],
        "high": b[:, :, K.O_HIGH].max(axis=1),
        "low": b[:, :, K.O_LOW].min(axis=1),
        "close": b[:, -1, K.O_CLOSE],
        "volume": b[:, :, K.O_VOLUME].sum(axis=1),
        "mark_open": b[:, 0, K.O_MOPEN],
        "mark_high": b[:, :, K.O_MHIGH].max(axis=1),
        "mark_low": b[:, :, K.O_MLOW].min(axis=1),
        "mark_close": b[:, -1, K.O_MCLOSE],
        "index_close": b[:, -1, K.O_INDEX],
        "premium": b[:, -1, K.O_PREMIUM],
        "open_interest_amount": b[:, -1, K.O_OI_QTY],
        "open_interest_value": b[:, -1, K.O_OI_VALUE],
        "liq_long_usd": b[:, :, K.O_LIQ_L].sum(axis=1),
        "liq_short_usd": b[:, :, K.O_LIQ_S].sum(axis=1),
        "liq_long_count": b[:, :, K.O_NLIQ_L].sum(axis=1).astype(np.int64),
        "liq_short_count": b[:, :, K.O_NLIQ_S].sum(axis=1).astype(np.int64),
        "oi_long_btc": b[:, -1, K.O_LONG_QTY],
        "oi_short_btc": b[:, -1, K.O_SHORT_QTY],
        "positions": b[:, -1, K.O_NLIVE].astype(np.int64),
    }


def simulate(
    days: float,
    timeframe: str = "5m",
    seed: int = 0,
    scenario: str = "calm",
    start: str | pd.Timestamp = "2024-01-01",
    config: SimConfig | None = None,
    *,
    snapshots: Sequence[int] | None = None,
    progress: Callable[[int, int], None] | None = None,
    block_minutes: int | None = None,
) -> SimResult:
    """Simulate ``days`` of the BTC perpetual and return candles, exchange data and ground truth.

    Args:
        days: Length in days (> 0). Rounded up to whole hours and whole candles.
        timeframe: Candle timeframe of ``candles``/``oi``/``truth``, ``"1m"`` or longer.
        seed: Integer seed >= 0; the same seed and arguments give the same bytes.
        scenario: One of :data:`SCENARIOS` (``calm``, ``trend``, ``cascade``, ``squeeze``).
        start: First candle open (UTC); a whole hour on a candle boundary (Monday for ``1w``).
        config: Market parameters; defaults to ``SimConfig()``.
        snapshots: Candle indices at whose close the true pending-liquidation map is taken;
            overrides ``config.snapshot_every_hours``.
        progress: Called as ``progress(minutes_done, minutes_total)`` after each block.
        block_minutes: Minutes per kernel call (results do not depend on it); default about a week.

    Returns:
        A :class:`SimResult`.

    Raises:
        ConfigError: on an invalid argument, naming it and the fix.
    """
    cfg = _checked_arguments(days, seed, scenario, config)
    tf_min = timeframe_minutes(timeframe)
    ts0 = _parse_start(start, tf_min)
    unit = math.lcm(tf_min, MARK_MINUTES)
    n_min = int(math.ceil(days * 1440 / unit - 1e-9)) * unit
    block = unit * max(1, math.ceil(10_080 / unit)) if block_minutes is None else block_minutes
    if block % unit != 0 or block <= 0:
        raise ConfigError(f"block_minutes must be a positive multiple of {unit}, got {block}")
    scn = SCENARIOS[scenario]
    epoch_min = int(ts0.value // 60_000_000_000)

    # --- schedule, parameters, state ------------------------------------------------------
    # a warm-up before ``start`` fills the book of positions; its output is discarded
    n_warm = int(math.ceil(cfg.warmup_days * 1440 / unit - 1e-9)) * unit
    n_total = n_warm + n_min
    rng = np.random.default_rng([int(seed), 0x51D])
    warm = _schedule(Scenario("warmup", "", vol_mult=scn.vol_mult, jumps_per_day=0.0), n_warm, rng)
    sched = np.concatenate([warm, _schedule(scn, n_min, rng)])
    d = bin_width(cfg.bin_bp)
    k0 = int(math.floor(math.log(cfg.start_price / cfg.price_range) / d))
    n_bins = int(math.ceil(2 * math.log(cfg.price_range) / d)) + 2
    prm = _params(cfg, epoch_min - n_warm, k0, n_bins)
    table = get_brackets("binance", cfg.pair)
    br = np.array([[b.floor, b.cap, b.mmr, b.cum, b.max_leverage] for b in table.brackets])
    lev_vals = np.asarray(cfg.leverage_levels, dtype=np.float64)
    cdf_base = _cdf(cfg.leverage_weights)
    cdf_high = _cdf(cfg.leverage_weights_crowded)
    n_candles = n_min // tf_min
    snap_flag = np.zeros(n_total, dtype=np.int8)
    if snapshots is not None:
        idx = np.asarray(list(snapshots), dtype=np.int64)
        if idx.size and (idx.min() < 0 or idx.max() >= n_candles):
            raise ConfigError(f"snapshots must be candle indices in [0, {n_candles}), got {idx}")
        snap_flag[n_warm + (idx + 1) * tf_min - 1] = 1
    elif cfg.snapshot_every_hours > 0:
        every = max(int(round(cfg.snapshot_every_hours * 60)), 1)
        ends = (np.arange(n_candles) + 1) * tf_min
        snap_flag[n_warm + ends[ends % every == 0] - 1] = 1

    sigma_1m = cfg.index_vol_annual / math.sqrt(MINUTES_PER_YEAR)
    st = K.new_state(
        cfg.max_positions, n_bins, n_total, math.log(cfg.start_price), sigma_1m**2, int(seed)
    )
    inputs = K.SimInputs(
        schedule=sched,
        lev_levels=lev_vals,
        lev_cdf_base=cdf_base,
        lev_cdf_crowded=cdf_high,
        brackets=br,
        snapshot_at=snap_flag,
    )
    ev = np.empty((max(1024, n_total // 4), K.N_EV))
    snaps = np.empty((max(256, int(snap_flag.sum()) * 512), K.N_SNAP))

    cand_parts: list[dict[str, np.ndarray]] = []
    mark_parts: list[dict[str, np.ndarray]] = []
    fund_t: list[np.ndarray] = []
    fund_v: list[np.ndarray] = []
    bounds = [*range(0, n_warm, block), *range(n_warm, n_total, block), n_total]
    ev_warm = 0
    for t0, t1 in zip(bounds[:-1], bounds[1:], strict=True):
        t1 = min(t1, n_warm) if t0 < n_warm else t1
        out = np.empty((t1 - t0, K.N_OUT))
        ev, snaps = K.run(t0, t1, inputs, prm, st, out, ev, snaps)
        if t1 <= n_warm:
            ev_warm = int(st.counters[K.K_NEV])
        else:
            cand_parts.append(_aggregate(out, tf_min))
            mark_parts.append(_aggregate(out, MARK_MINUTES))
            has_f = ~np.isnan(out[:, K.O_FUNDING])
            fund_t.append(np.flatnonzero(has_f) + t0 - n_warm)
            fund_v.append(out[has_f, K.O_FUNDING])
        if progress is not None:
            progress(t1, n_total)

    counters = st.counters
    return _assemble(
        cand_parts,
        mark_parts,
        np.concatenate(fund_t),
        np.concatenate(fund_v),
        ev[ev_warm : counters[K.K_NEV]],
        snaps[: counters[K.K_NSNAP]],
        st,
        ts0,
        tf_min,
        n_warm,
        cfg,
        meta={
            "seed": int(seed),
            "scenario": scenario,
            "scenario_description": scn.description,
            "timeframe": timeframe,
            "start": ts0.isoformat(),
            "days": float(days),
            "minutes": n_min,
            "warmup_minutes": n_warm,
            "candles": n_candles,
            "config": cfg.to_dict(),
            "dropped_entries": int(counters[K.K_DROPPED]),
            "positions_opened": int(counters[K.K_NEXT_PID]),
        },
    )


def _checked_arguments(
    days: float, seed: int, scenario: str, config: SimConfig | None
) -> SimConfig:
    """``simulate``'s scalar arguments checked; returns the config (``SimConfig()`` for None)."""
    cfg = SimConfig() if config is None else config
    if not isinstance(cfg, SimConfig):
        raise ConfigError(f"config must be a SimConfig, got {type(cfg).__name__}")
    if (
        isinstance(days, bool)
        or not isinstance(days, int | float)
        or not math.isfinite(days)
        or days <= 0
    ):
        raise ConfigError(f"days must be a number > 0, got {days!r}")
    if days > 3660:
        raise ConfigError(f"days = {days} is more than 10 years; simulate at most 3660 days")
    if isinstance(seed, bool) or not isinstance(seed, int | np.integer) or not 0 <= seed < 2**63:
        raise ConfigError(f"seed must be an integer in [0, 2**63), got {seed!r}")
    if scenario not in SCENARIOS:
        raise ConfigError(f"unknown scenario {scenario!r}; choose one of {', '.join(SCENARIOS)}")
    return cfg


def _dates(ts0: pd.Timestamp, minutes: np.ndarray) -> pd.DatetimeIndex:
    base = np.datetime64(ts0.tz_convert(None).to_datetime64(), "us")
    values = base + (np.asarray(minutes, dtype=np.float64) * 60_000_000).astype("timedelta64[us]")
    return pd.DatetimeIndex(values).tz_localize("UTC")


def _assemble(
    cand_parts: list[dict[str, np.ndarray]],
    mark_parts: list[dict[str, np.ndarray]],
    fund_t: np.ndarray,
    fund_v: np.ndarray,
    ev: np.ndarray,
    snaps: np.ndarray,
    st: K.SimState,
    ts0: pd.Timestamp,
    tf_min: int,
    n_warm: int,
    cfg: SimConfig,
    meta: dict[str, Any],
) -> SimResult:
    cand = {k: np.concatenate([p[k] for p in cand_parts]) for k in cand_parts[0]}
    mk = {k: np.concatenate([p[k] for p in mark_parts]) for k in mark_parts[0]}
    n_c = len(cand["open"])
    c_dates = _dates(ts0, np.arange(n_c) * tf_min)
    # traded prices on the exchange's tick (0.1 USDT for BTCUSDT), as real candles are: Freqtrade
    # fills a limit order at a candle's high/low only when the prices compare equal on that grid
    candles = pd.DataFrame(
        {
            "date": c_dates,
            **{
                k: np.round(cand[k], price_decimals(cfg.start_price))
                for k in ("open", "high", "low", "close")
            },
            "volume": cand["volume"],
        }
    )
    mark = pd.DataFrame(
        {
            "date": _dates(ts0, np.arange(len(mk["open"])) * MARK_MINUTES),
            "open": mk["mark_open"],
            "high": mk["mark_high"],
            "low": mk["mark_low"],
            "close": mk["mark_close"],
            "volume": np.zeros(len(mk["open"])),
        }
    )
    funding = pd.DataFrame({"date": _dates(ts0, fund_t), "funding_rate": fund_v})
    oi = pd.DataFrame(
        {
            "date": c_dates,
            "open_interest_amount": cand["open_interest_amount"],
            "open_interest_value": cand["open_interest_value"],
        }
    )
    truth_cols = (
        "liq_long_usd",
        "liq_short_usd",
        "liq_long_count",
        "liq_short_count",
        "mark_open",
        "mark_high",
        "mark_low",
        "mark_close",
        "index_close",
        "premium",
        "oi_long_btc",
        "oi_short_btc",
        "positions",
    )
    truth = pd.DataFrame({"date": c_dates, **{k: cand[k] for k in truth_cols}})

    ksub = cfg.substeps
    ev_time = ev[:, K.E_MINUTE] - n_warm + ev[:, K.E_SUB] / ksub
    liquidations = pd.DataFrame(
        {
            "date": _dates(ts0, ev_time),
            "side": np.where(ev[:, K.E_SIDE] > 0, "long", "short"),
            "liq_price": ev[:, K.E_LIQ],
            "mark_price": ev[:, K.E_MARK],
            "last_price": ev[:, K.E_LAST],
            "fill_price": ev[:, K.E_FILL],
            "liquidated_usd": ev[:, K.E_QTY] * ev[:, K.E_FILL],
            "notional_usd": ev[:, K.E_NOTIONAL],
            "qty": ev[:, K.E_QTY],
            "leverage": ev[:, K.E_LEV],
            "entry_price": ev[:, K.E_ENTRY],
            "entry_date": _dates(ts0, ev[:, K.E_ENTRY_MIN] - n_warm),
            "position_id": ev[:, K.E_PID].astype(np.int64),
            "round": ev[:, K.E_ROUND].astype(np.int64),
        }
    )
    snap_candle = (snaps[:, 0].astype(np.int64) - n_warm + 1) // tf_min - 1
    bins = snaps[:, 1].astype(np.int64)
    liq_map = pd.DataFrame(
        {
            "date": _dates(ts0, snap_candle * tf_min),
            "bin": bins,
            "price": bin_center(bins, cfg.bin_bp),
            "long_usd": snaps[:, 2],
            "short_usd": snaps[:, 3],
        }
    )
    alive = np.flatnonzero(st.slots[:, K.I_ALIVE] == 1)
    pf, pi = st.positions[alive], st.slots[alive]
    order = np.argsort(pi[:, K.I_PID], kind="stable")
    pf, pi = pf[order], pi[order]
    positions = pd.DataFrame(
        {
            "position_id": pi[:, K.I_PID],
            "side": np.where(pi[:, K.I_SIDE] > 0, "long", "short"),
            "entry_date": _dates(ts0, pi[:, K.I_ENTRY_MIN] - n_warm),
            "entry_price": pf[:, K.F_ENTRY],
            "qty": pf[:, K.F_QTY],
            "notional_usd": pf[:, K.F_NOTIONAL],
            "leverage": pf[:, K.F_LEV],
            "liq_price": pf[:, K.F_LIQ],
            "stop_or_target_below": pf[:, K.F_LO],
            "stop_or_target_above": pf[:, K.F_HI],
        }
    )
    return SimResult(candles, mark, funding, oi, liquidations, truth, liq_map, positions, meta)
