"""Compiled kernels of the market simulator: float64/int64 arrays in, arrays out; no pandas.

One kernel, :func:`run`, advances the market over a block of 1-minute steps and writes one row per
minute. ``liq_indicator.sim.market`` calls it block after block on the same explicit state, so the result
does not depend on the block size (tested).

The market (all prices USDT, ``x`` = log index price, ``p`` = log last price of the perpetual):

* Index: ``x`` moves by an exogenous shock ``sigma * act * z`` (stochastic volatility ``act`` from
  three AR(1) log-components, a daily season and a weekend factor), the scenario's drift and jumps.
* Perpetual: ``p`` moves with the index, plus the impact of every market order against book depth
  ``D``. Impact is a function of the recent unabsorbed net flow ``Q`` (USD, decaying as the book
  refills): ``I(Q) = 2 impact (sqrt(1 + |Q| / D) - 1)``, linear (``impact * Q / D``) for small
  flows and square-root for flows beyond the depth; an order moves the price by
  ``I(Q + F) - I(Q)``, so it does not matter how orders are grouped into rounds. A share ``keep``
  of each move is permanent, the rest decays with a half-life (book resilience: cascades leave
  wicks). A share ``perm`` also moves the index (spot follows the perpetual by arbitrage).
  Arbitrage pulls the basis ``p - x`` towards ``basis_beta * imbalance`` (crowded longs -> premium).
* Volatility is self-exciting: a 1-minute move beyond ``vfb_thr`` times the current volatility
  raises the fast activity component (and thins the book).
* Mark: Binance's ``median(index * (1 + funding * t_left / 8h), index + MA5(last - index), last)``.
* Funding every 8 h: ``avg_premium + clamp(interest - avg_premium, +-clamp)``, capped.
* Agents: isolated-margin positions with entry, size, leverage; momentum, mean-reversion and noise
  entries; take-profit and stop on the last price, time exits; liquidation on the mark at the
  Binance formula (``brackets.py``); every exit is a market order with impact.

Modelling order inside one sub-step: arbitrage relaxation, exogenous shock, noise and new-entry
orders (one net impact; new positions fill at the post-impact price), then the sweep: liquidations
on the mark, then stops/targets on the last price, each round's forced orders move the price, and
the sweep repeats until a round triggers nothing. Every mark the sweep checks is part of the minute's
mark OHLC, so a position is liquidated in exactly the first minute whose mark low (long) or high
(short) crosses its level.

Positions live in slots; a slot is in up to five doubly linked lists: liquidation level by price
bin (longs, shorts), lower and upper last-price trigger by price bin, and expiry by minute. The
trigger bins are finer than the grid.py bins of the truth map (1 bp by default). A sweep only
walks the bins between the old and the new price, so its cost does not grow with the number of
live positions.
"""

from __future__ import annotations

import math
from typing import NamedTuple, get_type_hints

import numpy as np
from numba import njit

__all__ = [
    "SimInputs",
    "SimParams",
    "SimState",
    "ar1",
    "make_params",
    "new_state",
    "run",
    "seed_rng",
    "N_EV",
    "N_OUT",
    "N_SCHED",
    "N_SNAP",
]


# =============================================================================================
# the kernel's interface: inputs, parameters and state as NamedTuples (numba passes them by value;
# the arrays inside are shared, so the state's arrays are modified in place)
# =============================================================================================
class SimParams(NamedTuple):
    """Market parameters of one run, built by ``sim.market`` from a ``SimConfig``.

    Log prices and 1-minute steps throughout; USD amounts are notional. Use :func:`make_params`,
    which gives every field its declared type (numba compiles one version per field type).
    """

    substeps: int  # sub-steps per minute
    sigma: float  # exogenous 1-minute log volatility of the index at activity 1
    log_activity_shift: float  # added to the summed log components so that E[activity**2] = 1
    activity_phi0: float  # AR(1) coefficients of the three log-activity components
    activity_phi1: float
    activity_phi2: float
    activity_sd0: float  # their innovation standard deviations
    activity_sd1: float
    activity_sd2: float
    depth: float  # book depth (USD) at activity 1
    depth_exp: float  # depth = depth / activity ** depth_exp
    impact: float  # impact coefficient of the curve I(Q)
    index_impact_share: float  # share of each perpetual move the index follows (arbitrage)
    permanent_share: float  # share of each move that stays; the rest decays
    transient_decay: float  # per sub-step decay of the transient impact and of the flow Q
    arb_perp: float  # per-minute pull of the perpetual towards the basis target
    arb_index: float  # per-minute pull of the index towards it
    basis_beta: float  # basis target per unit of long/short imbalance
    basis_ma_rate: float  # per sub-step rate of the mark's basis average
    entry_rate: float  # new positions per minute at activity 1 and a full book
    entry_rate_exp: float  # entry rate ~ activity ** entry_rate_exp
    target_positions: float  # live positions the entry rate steers towards
    momentum_share: float  # share of entries following momentum
    meanrev_share: float  # share following mean reversion (the rest: noise)
    momentum_strength: float
    meanrev_strength: float
    funding_sensitivity: float  # crowding away from the side that pays funding
    size_min: float  # Pareto notional (USD): minimum, tail exponent, maximum
    size_alpha: float
    size_max: float
    hold_median: float  # planned holding (minutes at leverage lev_ref): median, log sigma
    hold_sigma: float
    stop_share: float  # share of positions with a stop
    stop_frac_lo: float  # the stop sits this fraction of the way to the liquidation level
    stop_frac_hi: float
    take_profit_share: float
    take_profit_median: float  # relative distance at leverage lev_ref
    take_profit_sigma: float
    background_volume: float  # USD per minute at activity 1
    background_sigma: float  # log sigma of the background volume
    noise_net: float  # net share of the background volume that is directional
    bin_width: float  # log width of the trigger-list bins
    bin_k0: int  # first bin of the trigger lists
    n_bins: int
    funding_interest: float
    funding_clamp: float
    funding_cap: float
    funding_interval: int  # minutes
    epoch_minute: int  # minutes since 1970 of simulation minute 0
    season: float  # amplitude of the daily activity cycle
    weekend: float  # activity factor on Saturdays and Sundays
    max_rounds: int  # sweep rounds per sub-step before the rest is carried to the next minute
    lev_ref: float  # leverage at which hold_median and take_profit_median apply
    vol_feedback: float  # self-exciting volatility: kick per unit of surprise
    vol_feedback_threshold: float  # surprise (in realised 1-minute sigmas) that excites
    premium_offset: float  # premium index below the last price (impact bid/ask)
    volume_exp: float  # background volume ~ activity ** volume_exp
    grid_bin_width: float  # log width of the truth map's bins (grid.py)
    grid_k0: int
    grid_n_bins: int
    whale_ref: float  # notional (USD) beyond which leverage is capped
    whale_exp: float
    volume_noise_phi: float  # AR(1) of the background volume's log noise
    volume_noise_sd: float


def make_params(**values: float) -> SimParams:
    """:class:`SimParams` with every field converted to its declared type (``int`` or ``float``)."""
    types = get_type_hints(SimParams)
    return SimParams(**{k: types[k](v) for k, v in values.items()})


class SimInputs(NamedTuple):
    """What the scenario fixes for the whole run (read-only in the kernel)."""

    schedule: np.ndarray  # (n_total, N_SCHED) per-minute scenario schedule, SCHED_* columns
    lev_levels: np.ndarray  # leverage levels a new position draws from
    lev_cdf_base: np.ndarray  # their cumulative distribution in normal times
    lev_cdf_crowded: np.ndarray  # ... and when crowded (probability schedule[t, SCHED_LEVMIX])
    brackets: np.ndarray  # (n, 5): notional floor, cap, mmr, cum, max leverage
    snapshot_at: np.ndarray  # int8[n_total]: 1 where the pending map is taken at the minute's end


class SimState(NamedTuple):
    """Everything that carries from one minute to the next (:func:`new_state`)."""

    rng: np.ndarray  # uint64[4]: xoshiro256** state
    market: np.ndarray  # float64[N_MARKET]: scalar market state, M_* offsets
    counters: np.ndarray  # int64[N_COUNTERS]: counts and watermarks, K_* offsets
    positions: np.ndarray  # float64[cap, N_POS]: entry, qty, notional, leverage, levels (F_*)
    slots: np.ndarray  # int64[cap, N_SLOT]: each slot's list links (C_*) and int fields (I_*)
    free_slots: np.ndarray  # int64[cap]: stack of free slots, counters[K_NFREE] of them
    bin_heads: np.ndarray  # int64[4, n_bins]: first slot of each bin, per price list (L_*)
    expiry_heads: np.ndarray  # int64[n_total + 1]: first slot whose time exit is at that minute


# --- per-minute scenario schedule (SimInputs.schedule columns) ------------------------------------
SCHED_DRIFT, SCHED_BIAS, SCHED_LEVMIX, SCHED_RATE, SCHED_JUMP, SCHED_VOLM = 0, 1, 2, 3, 4, 5
N_SCHED = 6

# --- per-minute output ---------------------------------------------------------------------------
O_OPEN, O_HIGH, O_LOW, O_CLOSE, O_VOLUME = 0, 1, 2, 3, 4
O_MOPEN, O_MHIGH, O_MLOW, O_MCLOSE, O_INDEX = 5, 6, 7, 8, 9
O_OI_QTY, O_OI_VALUE, O_LIQ_L, O_LIQ_S, O_NLIQ_L, O_NLIQ_S = 10, 11, 12, 13, 14, 15
O_FUNDING, O_PREMIUM, O_NLIVE, O_LONG_QTY, O_SHORT_QTY = 16, 17, 18, 19, 20
N_OUT = 21

# --- liquidation event record ------------------------------------------------------------------
E_MINUTE, E_SUB, E_ROUND, E_SIDE, E_ENTRY, E_QTY, E_NOTIONAL = 0, 1, 2, 3, 4, 5, 6
E_LEV, E_LIQ, E_MARK, E_LAST, E_FILL, E_ENTRY_MIN, E_PID = 7, 8, 9, 10, 11, 12, 13
N_EV = 14

# --- snapshot record: minute, global bin, long USD, short USD ------------------------------------
N_SNAP = 4

# --- SimState.positions columns ------------------------------------------------------------------
F_ENTRY, F_QTY, F_NOTIONAL, F_LEV, F_LIQ, F_LO, F_HI = 0, 1, 2, 3, 4, 5, 6
N_POS = 7
# --- SimState.slots columns: list links first (one row per slot keeps them in one or two cache
# lines): next, previous and key (bin or minute) for each of the five lists, then the position
L_LLIQ, L_SLIQ, L_LO, L_HI, L_EXP = (
    0,
    1,
    2,
    3,
    4,
)  # long/short liquidation, lower/upper trigger, expiry
C_NXT, C_PRV, C_KEY = 0, 5, 10
I_SIDE, I_ENTRY_MIN, I_PID, I_ALIVE = 15, 16, 17, 18
N_SLOT = 19

# --- SimState.market: log prices, averages, activity components, open interest, flows -------------
M_LOG_INDEX, M_LOG_LAST, M_BASIS_MA, M_EMA_FAST, M_EMA_SLOW, M_VAR = 0, 1, 2, 3, 4, 5
M_ACT0, M_ACT1, M_ACT2, M_PREM_SUM, M_PREM_N, M_CARRIED_FLOW = 6, 7, 8, 9, 10, 11
M_LONG_QTY, M_SHORT_QTY, M_LONG_NOTIONAL, M_SHORT_NOTIONAL = 12, 13, 14, 15
M_TRANSIENT, M_VOLUME_NOISE, M_FLOW = 16, 17, 18
N_MARKET = 19
# --- SimState.counters: next position id, live positions, free slots, the four price lists'
# watermarks (K_WM + list), events, dropped entries, snapshot rows, minutes done
K_NEXT_PID, K_NLIVE, K_NFREE, K_WM = 0, 1, 2, 3
K_NEV, K_DROPPED, K_NSNAP, K_DONE = 7, 8, 9, 10
N_COUNTERS = 11

LIQ_FLOOR = (
    1e-6  # a long whose level is below 1e-6 x entry (1x: rounding dust) cannot be liquidated
)
MAX_NEW = 512  # cap of new entries per sub-step (far above any rate used)
EMA_FAST, EMA_SLOW, VAR_ALPHA = 1.0 / 15.0, 1.0 / 240.0, 1.0 / 120.0


# =============================================================================================
# random numbers: xoshiro256** with explicit state (uint64[4]), seeded by splitmix64
# =============================================================================================
@njit(cache=True)
def _splitmix(x):
    x = x + np.uint64(0x9E3779B97F4A7C15)
    z = x
    z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
    z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    return x, z ^ (z >> np.uint64(31))


@njit(cache=True)
def seed_rng(seed: int) -> np.ndarray:
    """xoshiro256** state from an integer seed (splitmix64 expansion)."""
    s = np.empty(4, dtype=np.uint64)
    x = np.uint64(seed)
    for i in range(4):
        x, z = _splitmix(x)
        s[i] = z
    return s


@njit(cache=True)
def _rotl(x, k):
    return (x << np.uint64(k)) | (x >> np.uint64(64 - k))


@njit(cache=True)
def _next(s):
    result = _rotl(s[1] * np.uint64(5), 7) * np.uint64(9)
    t = s[1] << np.uint64(17)
    s[2] ^= s[0]
    s[3] ^= s[1]
    s[1] ^= s[2]
    s[0] ^= s[3]
    s[2] ^= t
    s[3] = _rotl(s[3], 45)
    return result


@njit(cache=True)
def _uniform(s):
    """Uniform on [0, 1) with 53 random bits."""
    return float(_next(s) >> np.uint64(11)) * (1.0 / 9007199254740992.0)


@njit(cache=True)
def _normal(s):
    u1 = 1.0 - _uniform(s)  # (0, 1]
    u2 = _uniform(s)
    return math.sqrt(-2.0 * math.log(u1)) * math.cos(2.0 * math.pi * u2)


@njit(cache=True)
def _poisson(s, lam):
    if lam <= 0.0:
        return 0
    if lam > 30.0:
        k = int(round(lam + math.sqrt(lam) * _normal(s)))
        return max(k, 0)
    limit = math.exp(-lam)
    k = 0
    prod = _uniform(s)
    while prod > limit:
        k += 1
        prod *= _uniform(s)
    return k


@njit(cache=True)
def ar1(innov: np.ndarray, phi: float, x0: float) -> np.ndarray:
    """``x[i] = phi * x[i-1] + innov[i]`` with ``x[-1] = x0``."""
    out = np.empty_like(innov)
    x = x0
    for i in range(innov.shape[0]):
        x = phi * x + innov[i]
        out[i] = x
    return out


# =============================================================================================
# state
# =============================================================================================
def new_state(cap: int, n_bins: int, n_minutes: int, x0: float, var0: float, seed: int) -> SimState:
    """Fresh simulator state for ``cap`` position slots (plain numpy, see :func:`run`).

    ``x0`` is the log start price, ``var0`` the initial variance of 1-minute log returns, ``seed``
    the random generator's seed.
    """
    market = np.zeros(N_MARKET)
    market[M_LOG_INDEX] = x0
    market[M_LOG_LAST] = x0
    market[M_EMA_FAST] = x0
    market[M_EMA_SLOW] = x0
    market[M_VAR] = var0
    counters = np.zeros(N_COUNTERS, dtype=np.int64)
    counters[K_NFREE] = cap
    counters[K_WM + L_LLIQ] = -1  # long liquidations: highest bin that may hold a level
    counters[K_WM + L_SLIQ] = n_bins  # short liquidations: lowest bin
    counters[K_WM + L_LO] = -1  # lower trigger: highest bin
    counters[K_WM + L_HI] = n_bins  # upper trigger: lowest bin
    slots = np.full((cap, N_SLOT), -1, dtype=np.int64)
    slots[:, I_ALIVE] = 0
    return SimState(
        rng=seed_rng(int(seed)),
        market=market,
        counters=counters,
        positions=np.zeros((cap, N_POS)),
        slots=slots,
        free_slots=np.arange(cap - 1, -1, -1, dtype=np.int64),  # pop from the end: slot 0 first
        bin_heads=np.full((4, n_bins), -1, dtype=np.int64),
        expiry_heads=np.full(n_minutes + 1, -1, dtype=np.int64),
    )


# The helpers and steps below take the state's arrays one by one, never the NamedTuples: ``run``
# unpacks those once. Reading an array field of a NamedTuple (``st.slots``) costs a reference
# count; read inside the per-position loops, that made a run 5-12% slower. For the same reason
# every list head is indexed ``heads[row, key]`` (no row view per call): ``bin_heads`` has one row
# per price list (``L_*``), and the steps see ``expiry_heads`` as one row, ``(1, n_total + 1)``.
@njit(cache=True, inline="always")
def _list_insert(heads, row, slots, li, slot, b):
    h = heads[row, b]
    slots[slot, C_NXT + li] = h
    slots[slot, C_PRV + li] = -1
    if h != -1:
        slots[h, C_PRV + li] = slot
    heads[row, b] = slot
    slots[slot, C_KEY + li] = b


@njit(cache=True, inline="always")
def _list_remove(heads, row, slots, li, slot):
    b = slots[slot, C_KEY + li]
    if b < 0:
        return
    before = slots[slot, C_PRV + li]
    after = slots[slot, C_NXT + li]
    if before != -1:
        slots[before, C_NXT + li] = after
    else:
        heads[row, b] = after
    if after != -1:
        slots[after, C_PRV + li] = before
    slots[slot, C_KEY + li] = -1


@njit(cache=True, inline="always")
def _bin(price, d, k0, n_bins):
    """Window index ``floor(ln p / d) - k0`` of a log-spaced bin of ``price``, clamped."""
    k = int(np.floor(np.log(price) / d)) - k0
    if k < 0:
        return 0
    if k >= n_bins:
        return n_bins - 1
    return k


@njit(cache=True, inline="always")
def _close(slot, market, counters, positions, slots, free_slots, bin_heads, expiry_heads):
    """Remove a position from every list and the open interest; free its slot."""
    for li in range(4):
        _list_remove(bin_heads, li, slots, li, slot)
    _list_remove(expiry_heads, 0, slots, L_EXP, slot)
    if slots[slot, I_SIDE] > 0:
        market[M_LONG_QTY] -= positions[slot, F_QTY]
        market[M_LONG_NOTIONAL] -= positions[slot, F_NOTIONAL]
    else:
        market[M_SHORT_QTY] -= positions[slot, F_QTY]
        market[M_SHORT_NOTIONAL] -= positions[slot, F_NOTIONAL]
    slots[slot, I_ALIVE] = 0
    free_slots[counters[K_NFREE]] = slot
    counters[K_NFREE] += 1
    counters[K_NLIVE] -= 1


@njit(cache=True, inline="always")
def _liq_price(entry, notional, lev, side, br):
    """Binance isolated-margin liquidation price, operation for operation as brackets.py."""
    j = 0
    for i in range(br.shape[0]):
        if br[i, 0] <= notional < br[i, 1]:
            j = i
            break
    mmr = br[j, 2]
    cum = br[j, 3]
    qty = notional / entry
    margin = notional / lev
    s = float(side)
    price = (margin + cum - s * qty * entry) / (qty * mmr - s * qty)
    return max(price, 0.0)


@njit(cache=True, inline="always")
def _max_lev(notional, br):
    for i in range(br.shape[0]):
        if br[i, 0] <= notional < br[i, 1]:
            return br[i, 4]
    return br[br.shape[0] - 1, 4]


@njit(cache=True, inline="always")
def _curve(q, depth, coef):
    """Impact of a cumulative flow ``q``: ``2 coef (sqrt(1 + |q|/depth) - 1)``, signed."""
    a = abs(q) / depth
    v = 2.0 * coef * a / (math.sqrt(1.0 + a) + 1.0)  # the same, without cancellation
    return v if q >= 0.0 else -v


@njit(cache=True, inline="always")
def _impact(flow, depth, coef, market):
    """Log-price impact of a net market order, on the book's recent unabsorbed flow.

    The impact is a function of the cumulative flow (decaying with the book's refill), so
    splitting an order changes nothing; it is linear (``coef * flow / depth``) while that flow is
    small against the depth and grows as its square root beyond (deeper levels of the book).
    """
    q0 = market[M_FLOW]
    q1 = q0 + flow
    market[M_FLOW] = q1
    return _curve(q1, depth, coef) - _curve(q0, depth, coef)


@njit(cache=True, inline="always")
def _move_price(flow, depth, prm, market):
    """Apply a net market order's impact (a share to the index, a share transient); new last price."""
    imp = _impact(flow, depth, prm.impact, market)
    market[M_LOG_LAST] += imp
    market[M_LOG_INDEX] += prm.index_impact_share * imp
    market[M_TRANSIENT] += (1.0 - prm.permanent_share) * imp
    return math.exp(market[M_LOG_LAST])


@njit(cache=True, inline="always")
def _mark(market, fund_est, t_left):
    index = math.exp(market[M_LOG_INDEX])
    last = math.exp(market[M_LOG_LAST])
    a = index * (1.0 + fund_est * t_left)
    b = index + market[M_BASIS_MA]
    # median of three
    if a > b:
        a, b = b, a
    if last <= a:
        return a
    if last >= b:
        return b
    return last


@njit(cache=True, inline="always")
def _scan_down(
    li,
    thresh,
    col,
    mark_b,
    market,
    counters,
    positions,
    slots,
    free_slots,
    bin_heads,
    expiry_heads,
    hit,
    n_hit,
):
    """Close every position of list ``li`` with level ``>= thresh`` (bins ``mark_b..watermark``)."""
    wm = K_WM + li
    b = counters[wm]
    while b >= mark_b:
        slot = bin_heads[li, b]
        while slot != -1:
            after = slots[slot, C_NXT + li]
            if positions[slot, col] >= thresh:
                hit[n_hit] = slot
                n_hit += 1
                _close(
                    slot, market, counters, positions, slots, free_slots, bin_heads, expiry_heads
                )
            slot = after
        b -= 1
    if mark_b < counters[wm]:
        counters[wm] = mark_b
    return n_hit


@njit(cache=True, inline="always")
def _scan_up(
    li,
    thresh,
    col,
    mark_b,
    market,
    counters,
    positions,
    slots,
    free_slots,
    bin_heads,
    expiry_heads,
    hit,
    n_hit,
):
    """Close every position of list ``li`` with level ``<= thresh`` (bins ``watermark..mark_b``)."""
    wm = K_WM + li
    b = counters[wm]
    while b <= mark_b:
        slot = bin_heads[li, b]
        while slot != -1:
            after = slots[slot, C_NXT + li]
            if positions[slot, col] <= thresh:
                hit[n_hit] = slot
                n_hit += 1
                _close(
                    slot, market, counters, positions, slots, free_slots, bin_heads, expiry_heads
                )
            slot = after
        b += 1
    if mark_b > counters[wm]:
        counters[wm] = mark_b
    return n_hit


# =============================================================================================
# the steps of one minute (the kernel below calls them in this order)
# =============================================================================================
@njit(cache=True, inline="always")
def _activity(t, em, prm, schedule, market, rng):
    """Volatility state and activity of minute ``t`` (``em``: minutes since 1970)."""
    market[M_ACT0] = prm.activity_phi0 * market[M_ACT0] + prm.activity_sd0 * _normal(rng)
    market[M_ACT1] = prm.activity_phi1 * market[M_ACT1] + prm.activity_sd1 * _normal(rng)
    market[M_ACT2] = prm.activity_phi2 * market[M_ACT2] + prm.activity_sd2 * _normal(rng)
    mod = em % 1440
    season = 1.0 + prm.season * math.cos(2.0 * math.pi * (mod - 900.0) / 1440.0)
    weekday = ((em // 1440) + 3) % 7  # 1970-01-01 was a Thursday; Monday = 0
    if weekday >= 5:
        season *= prm.weekend
    log_act = market[M_ACT0] + market[M_ACT1] + market[M_ACT2] + prm.log_activity_shift
    return math.exp(log_act) * season * schedule[t, SCHED_VOLM]


@njit(cache=True, inline="always")
def _funding(em, prm, market, minute):
    """Funding estimate from the premium averaged since the last funding time.

    At a funding time (every ``funding_interval`` minutes of UTC time) it is written to the
    minute's row and the average restarts; other rows get NaN.
    """
    if market[M_PREM_N] > 0.0:
        avg = market[M_PREM_SUM] / market[M_PREM_N]
        fund_est = avg + min(max(prm.funding_interest - avg, -prm.funding_clamp), prm.funding_clamp)
        fund_est = min(max(fund_est, -prm.funding_cap), prm.funding_cap)
    else:
        fund_est = prm.funding_interest
    if em % prm.funding_interval == 0:
        minute[O_FUNDING] = fund_est
        market[M_PREM_SUM] = 0.0
        market[M_PREM_N] = 0.0
    else:
        minute[O_FUNDING] = np.nan
    return fund_est


@njit(cache=True, inline="always")
def _open_minute(market, minute):
    """Start the minute: its open, and the running values the sub-steps update (kept in locals of
    :func:`run`, written to the row by :func:`_close_minute`).

    Returns:
        ``(last, mark_ohlc, liq_sums)``: the open, the mark's OHLC before any sweep (no open, an
        empty range, the close at the last price) and zero liquidations (see :func:`_sweep`).
    """
    last = math.exp(market[M_LOG_LAST])
    minute[O_OPEN] = last
    return last, (np.nan, -np.inf, np.inf, last), (0.0, 0.0, 0.0, 0.0)


@njit(cache=True, inline="always")
def _time_exits(
    t,
    ksub,
    last,
    rng,
    market,
    counters,
    positions,
    slots,
    free_slots,
    bin_heads,
    expiry_heads,
    exit_flow,
):
    """Close the positions whose time exit is this minute; each exit's market order lands in a
    random sub-step of ``exit_flow`` (like the entries), after the flow carried from last minute.
    Returns their volume (coins).
    """
    volume = 0.0
    exit_flow[:] = 0.0
    exit_flow[0] = market[M_CARRIED_FLOW]
    market[M_CARRIED_FLOW] = 0.0
    slot = expiry_heads[0, t]
    while slot != -1:
        after = slots[slot, C_NXT + L_EXP]
        q = positions[slot, F_QTY]
        exit_flow[int(_uniform(rng) * ksub)] -= slots[slot, I_SIDE] * q * last
        volume += q
        _close(slot, market, counters, positions, slots, free_slots, bin_heads, expiry_heads)
        slot = after
    return volume


@njit(cache=True, inline="always")
def _signals(t, act, fund_est, prm, schedule, market, n_live, rng):
    """The agents' signals, known at the minute's start, and the minute's entry rate and volume.

    Returns:
        ``(momentum, mean_reversion, imbalance, funding_tilt, entry_rate, background_volume)``.
    """
    vol_h = math.sqrt(market[M_VAR]) + 1e-6
    mom = (market[M_EMA_FAST] - market[M_EMA_SLOW]) / (vol_h * 11.0)
    mom = min(max(mom, -3.0), 3.0)
    mr = -(market[M_LOG_LAST] - market[M_EMA_SLOW]) / (vol_h * 15.5)
    mr = min(max(mr, -3.0), 3.0)
    tot_not = market[M_LONG_NOTIONAL] + market[M_SHORT_NOTIONAL]
    imbalance = (market[M_LONG_NOTIONAL] - market[M_SHORT_NOTIONAL]) / (tot_not + 1e6)
    fund_tilt = prm.funding_sensitivity * (fund_est - prm.funding_interest) / prm.funding_interest
    fill = n_live / prm.target_positions
    rate = prm.entry_rate * schedule[t, SCHED_RATE] * act**prm.entry_rate_exp
    rate *= min(max(2.0 - fill, 0.05), 3.0)
    # background volume of the minute (two-sided; log-normal around activity ** volume_exp)
    market[M_VOLUME_NOISE] = prm.volume_noise_phi * market[
        M_VOLUME_NOISE
    ] + prm.volume_noise_sd * _normal(rng)
    bg_minute = (
        prm.background_volume
        * act**prm.volume_exp
        * math.exp(market[M_VOLUME_NOISE] - 0.5 * prm.background_sigma**2)
    )
    return mom, mr, imbalance, fund_tilt, rate, bg_minute


@njit(cache=True, inline="always")
def _relax_and_shock(t, sub, ksub, sigma, imbalance, prm, schedule, market, rng):
    """A sub-step's price moves before any order: the transient impact decays (book resilience),
    arbitrage pulls the basis towards its target, then the exogenous index move.
    """
    rev = market[M_TRANSIENT] * prm.transient_decay
    market[M_TRANSIENT] -= rev
    market[M_FLOW] -= market[M_FLOW] * prm.transient_decay
    market[M_LOG_LAST] -= rev
    market[M_LOG_INDEX] -= prm.index_impact_share * rev
    dev = (market[M_LOG_LAST] - market[M_LOG_INDEX]) - prm.basis_beta * imbalance
    market[M_LOG_LAST] -= prm.arb_perp / ksub * dev
    market[M_LOG_INDEX] += prm.arb_index / ksub * dev
    dx = schedule[t, SCHED_DRIFT] / ksub + sigma / math.sqrt(float(ksub)) * _normal(rng)
    if sub == 0:
        dx += schedule[t, SCHED_JUMP]
    market[M_LOG_INDEX] += dx
    market[M_LOG_LAST] += dx
    return math.exp(market[M_LOG_LAST])


@njit(cache=True, inline="always")
def _draw_entries(
    t,
    n_new,
    flow,
    mom,
    mr,
    fund_tilt,
    lev_top,
    size_tail,
    prm,
    schedule,
    lev_levels,
    lev_cdf_base,
    lev_cdf_crowded,
    brackets,
    rng,
    new_side,
    new_not,
    new_lev,
):
    """Side, notional and leverage of ``n_new`` new positions; returns ``flow`` plus their orders
    (USD, buys positive), added one by one.
    """
    if n_new == 0:
        return flow
    n_lev = lev_levels.shape[0]
    for j in range(n_new):
        ku = _uniform(rng)
        if ku < prm.momentum_share:
            sig = prm.momentum_strength * mom
        elif ku < prm.momentum_share + prm.meanrev_share:
            sig = prm.meanrev_strength * mr
        else:
            sig = 0.0
        logit = schedule[t, SCHED_BIAS] + sig - fund_tilt
        side = 1 if _uniform(rng) < 1.0 / (1.0 + math.exp(-logit)) else -1
        notional = prm.size_min * (1.0 - _uniform(rng) * size_tail) ** (-1.0 / prm.size_alpha)
        crowded = _uniform(rng) < schedule[t, SCHED_LEVMIX]
        cdf = lev_cdf_crowded if crowded else lev_cdf_base
        u = _uniform(rng)
        k = 0
        while k < n_lev - 1 and u >= cdf[k]:
            k += 1
        lev = min(lev_levels[k], _max_lev(notional, brackets))
        if notional > prm.whale_ref:
            # large positions use less leverage: cap ~ (notional / ref) ** -exp
            whale_cap = math.floor(lev_top * (notional / prm.whale_ref) ** -prm.whale_exp)
            lev = max(min(lev, whale_cap), 1.0)
        new_side[j] = side
        new_not[j] = notional
        new_lev[j] = lev
        flow += side * notional
    return flow


@njit(cache=True, inline="always")
def _open_positions(
    t,
    n_new,
    entry,
    volume,
    new_side,
    new_not,
    new_lev,
    prm,
    n_total,
    brackets,
    rng,
    market,
    counters,
    positions,
    slots,
    free_slots,
    bin_heads,
    expiry_heads,
):
    """Open the drawn positions at ``entry`` (the post-impact price): levels, stop, target, expiry.
    Returns ``volume`` plus theirs (coins).
    """
    d, k0, n_bins = prm.bin_width, prm.bin_k0, prm.n_bins
    for j in range(n_new):
        if counters[K_NFREE] == 0:
            counters[K_DROPPED] += 1
            continue
        counters[K_NFREE] -= 1
        slot = free_slots[counters[K_NFREE]]
        counters[K_NLIVE] += 1
        side = new_side[j]
        notional = new_not[j]
        lev = new_lev[j]
        qty = notional / entry
        volume += qty
        liq = _liq_price(entry, notional, lev, side, brackets)
        positions[slot, F_ENTRY] = entry
        positions[slot, F_QTY] = qty
        positions[slot, F_NOTIONAL] = notional
        positions[slot, F_LEV] = lev
        positions[slot, F_LIQ] = liq
        slots[slot, I_SIDE] = side
        slots[slot, I_ENTRY_MIN] = t
        slots[slot, I_PID] = counters[K_NEXT_PID]
        slots[slot, I_ALIVE] = 1
        counters[K_NEXT_PID] += 1
        scale = math.sqrt(prm.lev_ref / lev)
        # stop: a fraction of the way to the liquidation level (or 50% for 1x longs)
        lo_trig = 0.0
        hi_trig = np.inf
        if _uniform(rng) < prm.stop_share:
            frac = prm.stop_frac_lo + (prm.stop_frac_hi - prm.stop_frac_lo) * _uniform(rng)
            dist = abs(entry - liq) / entry if liq > LIQ_FLOOR * entry else 0.5
            if side > 0:
                lo_trig = entry * (1.0 - frac * dist)
            else:
                hi_trig = entry * (1.0 + frac * dist)
        if _uniform(rng) < prm.take_profit_share:
            tp = prm.take_profit_median * scale * math.exp(prm.take_profit_sigma * _normal(rng))
            tp = min(max(tp, 0.0005), 0.5)
            if side > 0:
                hi_trig = entry * (1.0 + tp)
            else:
                lo_trig = entry * (1.0 - tp)
        positions[slot, F_LO] = lo_trig
        positions[slot, F_HI] = hi_trig
        hold = prm.hold_median * scale * math.exp(prm.hold_sigma * _normal(rng))
        expiry = t + 1 + int(hold)
        if expiry <= n_total:
            _list_insert(expiry_heads, 0, slots, L_EXP, slot, min(expiry, n_total))
        if side > 0:
            market[M_LONG_QTY] += qty
            market[M_LONG_NOTIONAL] += notional
            if liq > LIQ_FLOOR * entry:
                b = _bin(liq, d, k0, n_bins)
                _list_insert(bin_heads, L_LLIQ, slots, L_LLIQ, slot, b)
                counters[K_WM + L_LLIQ] = max(counters[K_WM + L_LLIQ], b)
        else:
            market[M_SHORT_QTY] += qty
            market[M_SHORT_NOTIONAL] += notional
            b = _bin(liq, d, k0, n_bins)
            _list_insert(bin_heads, L_SLIQ, slots, L_SLIQ, slot, b)
            counters[K_WM + L_SLIQ] = min(counters[K_WM + L_SLIQ], b)
        if lo_trig > 0.0:
            b = _bin(lo_trig, d, k0, n_bins)
            _list_insert(bin_heads, L_LO, slots, L_LO, slot, b)
            counters[K_WM + L_LO] = max(counters[K_WM + L_LO], b)
        if hi_trig < np.inf:
            b = _bin(hi_trig, d, k0, n_bins)
            _list_insert(bin_heads, L_HI, slots, L_HI, slot, b)
            counters[K_WM + L_HI] = min(counters[K_WM + L_HI], b)
    return volume


@njit(cache=True, inline="always")
def _record_liquidations(t, sub, rnd, n_liq, mark, last, counters, positions, slots, hit, events):
    """Append the round's liquidations (``hit[:n_liq]``) to ``events``; fill price comes later."""
    for j in range(n_liq):
        s2 = hit[j]
        e = counters[K_NEV]
        events[e, E_MINUTE] = t
        events[e, E_SUB] = sub
        events[e, E_ROUND] = rnd
        events[e, E_SIDE] = slots[s2, I_SIDE]
        events[e, E_ENTRY] = positions[s2, F_ENTRY]
        events[e, E_QTY] = positions[s2, F_QTY]
        events[e, E_NOTIONAL] = positions[s2, F_NOTIONAL]
        events[e, E_LEV] = positions[s2, F_LEV]
        events[e, E_LIQ] = positions[s2, F_LIQ]
        events[e, E_MARK] = mark
        events[e, E_LAST] = last
        events[e, E_ENTRY_MIN] = slots[s2, I_ENTRY_MIN]
        events[e, E_PID] = slots[s2, I_PID]
        counters[K_NEV] += 1


@njit(cache=True, inline="always")
def _sweep(
    t,
    sub,
    t_left,
    fund_est,
    depth,
    hi,
    lo,
    volume,
    mark_ohlc,
    liq_sums,
    prm,
    market,
    counters,
    positions,
    slots,
    free_slots,
    bin_heads,
    expiry_heads,
    hit,
    events,
):
    """Liquidations on the mark, then stops/targets on the last price, round after round until a
    round triggers nothing; each round's forced orders move the price.

    ``mark_ohlc`` (open, high, low, close of the mark) and ``liq_sums`` (liquidated USD of longs and
    shorts, their counts) are the minute's so far; scalars, not the output row, so they stay in
    registers.

    Returns:
        ``(hi, lo, volume, mark_ohlc, liq_sums)`` updated: the minute's high and low of the last
        price and its volume so far, the mark's OHLC and the liquidation sums.
    """
    m_open, m_high, m_low, mark = mark_ohlc
    liq_long, liq_short, n_long, n_short = liq_sums
    d, k0, n_bins = prm.bin_width, prm.bin_k0, prm.n_bins
    max_rounds = prm.max_rounds
    rnd = 0
    while True:
        mark = _mark(market, fund_est, t_left)
        last = math.exp(market[M_LOG_LAST])
        if np.isnan(m_open):
            m_open = mark
        m_high = max(m_high, mark)
        m_low = min(m_low, mark)
        n_hit = 0
        mb = _bin(mark, d, k0, n_bins)
        # longs are liquidated when mark <= level, shorts when mark >= level
        n_hit = _scan_down(
            L_LLIQ,
            mark,
            F_LIQ,
            mb,
            market,
            counters,
            positions,
            slots,
            free_slots,
            bin_heads,
            expiry_heads,
            hit,
            n_hit,
        )
        n_hit = _scan_up(
            L_SLIQ,
            mark,
            F_LIQ,
            mb,
            market,
            counters,
            positions,
            slots,
            free_slots,
            bin_heads,
            expiry_heads,
            hit,
            n_hit,
        )
        n_liq = n_hit  # hits [0, n_liq) are liquidations, the rest stops/targets
        lb = _bin(last, d, k0, n_bins)
        n_hit = _scan_down(
            L_LO,
            last,
            F_LO,
            lb,
            market,
            counters,
            positions,
            slots,
            free_slots,
            bin_heads,
            expiry_heads,
            hit,
            n_hit,
        )
        n_hit = _scan_up(
            L_HI,
            last,
            F_HI,
            lb,
            market,
            counters,
            positions,
            slots,
            free_slots,
            bin_heads,
            expiry_heads,
            hit,
            n_hit,
        )
        if n_hit == 0:
            break
        flow = 0.0
        for j in range(n_hit):
            s2 = hit[j]
            flow -= slots[s2, I_SIDE] * positions[s2, F_QTY] * last
        ev0 = counters[K_NEV]
        _record_liquidations(
            t, sub, rnd, n_liq, mark, last, counters, positions, slots, hit, events
        )
        if rnd >= max_rounds - 1:
            # too many rounds in one sub-step: the last round's orders move the next minute
            market[M_CARRIED_FLOW] += flow
            fill_price = last
        else:
            fill_price = _move_price(flow, depth, prm, market)  # forced orders fill post-impact
            hi = max(hi, fill_price)
            lo = min(lo, fill_price)
        for j in range(n_hit):
            volume += positions[hit[j], F_QTY]
        for e in range(ev0, counters[K_NEV]):
            events[e, E_FILL] = fill_price
            usd = events[e, E_QTY] * fill_price
            if events[e, E_SIDE] > 0:
                liq_long += usd
                n_long += 1.0
            else:
                liq_short += usd
                n_short += 1.0
        if rnd >= max_rounds - 1:
            break
        rnd += 1
    return hi, lo, volume, (m_open, m_high, m_low, mark), (liq_long, liq_short, n_long, n_short)


@njit(cache=True, inline="always")
def _close_minute(t, prm, market, n_live, positions, slots, mark_ohlc, liq_sums, minute):
    """The minute's closing prices, the mark's OHLC and the liquidations, premium, the agents'
    averages, volatility feedback and the open interest (re-summed exactly once a day against
    floating drift).
    """
    minute[O_MOPEN], minute[O_MHIGH], minute[O_MLOW], minute[O_MCLOSE] = mark_ohlc
    minute[O_LIQ_L], minute[O_LIQ_S], minute[O_NLIQ_L], minute[O_NLIQ_S] = liq_sums
    last = math.exp(market[M_LOG_LAST])
    index = math.exp(market[M_LOG_INDEX])
    minute[O_CLOSE] = last
    minute[O_INDEX] = index
    prem = last / index - 1.0
    minute[O_PREMIUM] = prem
    # premium index: Binance measures it at impact bid/ask, a few bp below the last price
    market[M_PREM_SUM] += prem + prm.premium_offset
    market[M_PREM_N] += 1.0
    # EMAs of the log price and of the squared 1-minute return (the agents' signals)
    ret = math.log(last / minute[O_OPEN])
    # a move far beyond the recent realised volatility excites activity (self-exciting
    # volatility); measured against realised, not exogenous, volatility so it cannot run away
    surprise = abs(ret) / (math.sqrt(market[M_VAR]) + 1e-12)
    if surprise > prm.vol_feedback_threshold:
        kick = prm.vol_feedback * (surprise - prm.vol_feedback_threshold)
        market[M_ACT0] = min(market[M_ACT0] + kick, 1.5)
    market[M_VAR] += VAR_ALPHA * (ret * ret - market[M_VAR])
    market[M_EMA_FAST] += EMA_FAST * (market[M_LOG_LAST] - market[M_EMA_FAST])
    market[M_EMA_SLOW] += EMA_SLOW * (market[M_LOG_LAST] - market[M_EMA_SLOW])
    if t % 1440 == 1439:
        lq = 0.0
        sq = 0.0
        ln = 0.0
        sn = 0.0
        for s2 in range(positions.shape[0]):
            if slots[s2, I_ALIVE] == 1:
                if slots[s2, I_SIDE] > 0:
                    lq += positions[s2, F_QTY]
                    ln += positions[s2, F_NOTIONAL]
                else:
                    sq += positions[s2, F_QTY]
                    sn += positions[s2, F_NOTIONAL]
        market[M_LONG_QTY] = lq
        market[M_SHORT_QTY] = sq
        market[M_LONG_NOTIONAL] = ln
        market[M_SHORT_NOTIONAL] = sn
    oi_qty = max(market[M_LONG_QTY], 0.0) + max(market[M_SHORT_QTY], 0.0)
    minute[O_OI_QTY] = oi_qty
    minute[O_OI_VALUE] = oi_qty * last
    minute[O_NLIVE] = n_live
    minute[O_LONG_QTY] = max(market[M_LONG_QTY], 0.0)
    minute[O_SHORT_QTY] = max(market[M_SHORT_QTY], 0.0)


@njit(cache=True)
def _grown(buffer, n_used, extra):
    """A copy of ``buffer`` with twice its rows plus ``extra``; its first ``n_used`` rows kept."""
    grown = np.empty((2 * buffer.shape[0] + extra, buffer.shape[1]))
    grown[:n_used] = buffer[:n_used]
    return grown


@njit(cache=True)
def _snapshot(t, prm, counters, positions, slots, snap_long, snap_short, snapshots):
    """Append the pending-liquidation map (notional per grid bin and side) at the minute's end;
    returns ``snapshots``, reallocated larger when it could fill.
    """
    g_bins, gk0 = prm.grid_n_bins, prm.grid_k0
    if snapshots.shape[0] - counters[K_NSNAP] < g_bins:
        snapshots = _grown(snapshots, counters[K_NSNAP], g_bins)
    snap_long[:] = 0.0
    snap_short[:] = 0.0
    for s2 in range(positions.shape[0]):
        if slots[s2, I_ALIVE] == 1 and positions[s2, F_LIQ] > LIQ_FLOOR * positions[s2, F_ENTRY]:
            b = _bin(positions[s2, F_LIQ], prm.grid_bin_width, gk0, g_bins)
            if slots[s2, I_SIDE] > 0:
                snap_long[b] += positions[s2, F_NOTIONAL]
            else:
                snap_short[b] += positions[s2, F_NOTIONAL]
    for b in range(g_bins):
        if snap_long[b] > 0.0 or snap_short[b] > 0.0:
            k = counters[K_NSNAP]
            snapshots[k, 0] = t
            snapshots[k, 1] = b + gk0
            snapshots[k, 2] = snap_long[b]
            snapshots[k, 3] = snap_short[b]
            counters[K_NSNAP] += 1
    return snapshots


# =============================================================================================
# the kernel
# =============================================================================================
@njit(cache=True)
def run(t0, t1, inputs, prm, st, out, events, snapshots):
    """Advance the market over minutes ``[t0, t1)``; write ``out[t - t0]`` for each minute.

    Args:
        t0: First minute of the block (0 = simulation start; the run has
            ``inputs.schedule.shape[0]`` minutes).
        t1: End of the block (exclusive).
        inputs: :class:`SimInputs` (schedule, leverage distributions, brackets, snapshot minutes).
        prm: :class:`SimParams`.
        st: :class:`SimState` (:func:`new_state`), modified in place.
        out: ``(t1 - t0, N_OUT)`` output rows (``O_*`` columns).
        events: Liquidation-event buffer (``E_*`` columns).
        snapshots: Snapshot buffer (minute, global bin, long USD, short USD).

    Returns:
        ``(events, snapshots)``: the buffers, reallocated larger when they filled; counts in
        ``st.counters[K_NEV]`` and ``st.counters[K_NSNAP]``.
    """
    # unpacked once: the steps take plain arrays (see the note above _list_insert)
    schedule, lev_levels, lev_cdf_base, lev_cdf_crowded = (
        inputs.schedule,
        inputs.lev_levels,
        inputs.lev_cdf_base,
        inputs.lev_cdf_crowded,
    )
    brackets, snapshot_at = inputs.brackets, inputs.snapshot_at
    rng, market, counters, positions = st.rng, st.market, st.counters, st.positions
    slots, free_slots, bin_heads = st.slots, st.free_slots, st.bin_heads
    expiry_heads = st.expiry_heads.reshape((1, st.expiry_heads.shape[0]))
    n_total = schedule.shape[0]
    cap = positions.shape[0]
    ksub = prm.substeps
    exit_flow = np.zeros(ksub)
    new_side = np.empty(MAX_NEW, dtype=np.int64)
    new_not = np.empty(MAX_NEW)
    new_lev = np.empty(MAX_NEW)
    hit = np.empty(cap, dtype=np.int64)
    snap_long = np.zeros(prm.grid_n_bins)
    snap_short = np.zeros(prm.grid_n_bins)
    f_int = prm.funding_interval
    lev_top = lev_levels.max()
    # share of the Pareto tail below size_max (draws are truncated there)
    size_tail = 1.0 - (prm.size_min / prm.size_max) ** prm.size_alpha

    for t in range(t0, t1):
        minute = out[t - t0]
        em = prm.epoch_minute + t
        act = _activity(t, em, prm, schedule, market, rng)
        sigma = prm.sigma * act
        depth = prm.depth / act**prm.depth_exp
        fund_est = _funding(em, prm, market, minute)
        last, mark_ohlc, liq_sums = _open_minute(market, minute)
        hi = last
        lo = last
        volume = _time_exits(
            t,
            ksub,
            last,
            rng,
            market,
            counters,
            positions,
            slots,
            free_slots,
            bin_heads,
            expiry_heads,
            exit_flow,
        )
        mom, mr, imbalance, fund_tilt, rate, bg_minute = _signals(
            t, act, fund_est, prm, schedule, market, counters[K_NLIVE], rng
        )

        # sub-steps: relaxation and shock, noise and new-entry orders (one net impact; new
        # positions fill at the post-impact price), then the sweep
        for sub in range(ksub):
            last = _relax_and_shock(t, sub, ksub, sigma, imbalance, prm, schedule, market, rng)
            # noise traders: two-sided background volume with a small net flow
            bg = bg_minute / ksub
            flow = prm.noise_net * bg * _normal(rng)
            volume += bg / last
            flow += exit_flow[sub]
            n_new = min(_poisson(rng, rate / ksub), MAX_NEW)
            flow = _draw_entries(
                t,
                n_new,
                flow,
                mom,
                mr,
                fund_tilt,
                lev_top,
                size_tail,
                prm,
                schedule,
                lev_levels,
                lev_cdf_base,
                lev_cdf_crowded,
                brackets,
                rng,
                new_side,
                new_not,
                new_lev,
            )
            last = _move_price(flow, depth, prm, market)
            hi = max(hi, last)
            lo = min(lo, last)
            volume = _open_positions(
                t,
                n_new,
                last,
                volume,
                new_side,
                new_not,
                new_lev,
                prm,
                n_total,
                brackets,
                rng,
                market,
                counters,
                positions,
                slots,
                free_slots,
                bin_heads,
                expiry_heads,
            )
            # mark's basis average (Binance: 5-minute moving average of last - index)
            index = math.exp(market[M_LOG_INDEX])
            market[M_BASIS_MA] += prm.basis_ma_rate * ((last - index) - market[M_BASIS_MA])
            t_left = (f_int - (em % f_int) - sub / ksub) / f_int
            if events.shape[0] - counters[K_NEV] < cap + 1:
                events = _grown(events, counters[K_NEV], cap)  # room for every position
            hi, lo, volume, mark_ohlc, liq_sums = _sweep(
                t,
                sub,
                t_left,
                fund_est,
                depth,
                hi,
                lo,
                volume,
                mark_ohlc,
                liq_sums,
                prm,
                market,
                counters,
                positions,
                slots,
                free_slots,
                bin_heads,
                expiry_heads,
                hit,
                events,
            )

        minute[O_HIGH] = hi
        minute[O_LOW] = lo
        minute[O_VOLUME] = volume
        _close_minute(
            t, prm, market, counters[K_NLIVE], positions, slots, mark_ohlc, liq_sums, minute
        )
        if snapshot_at[t] == 1:
            snapshots = _snapshot(
                t, prm, counters, positions, slots, snap_long, snap_short, snapshots
            )
        counters[K_DONE] = t + 1
    return events, snapshots
