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

import numpy as np
from numba import njit

__all__ = ["run", "ar1", "seed_rng", "new_state", "N_PARAMS", "N_OUT", "N_EV", "N_SCHED", "N_SNAP"]

# --- parameter vector --------------------------------------------------------------------------
P_SUBSTEPS, P_SIGMA, P_HCORR = 0, 1, 2
P_PHI0, P_PHI1, P_PHI2, P_SD0, P_SD1, P_SD2 = 3, 4, 5, 6, 7, 8
P_DEPTH, P_DEPTH_EXP, P_IMPACT, P_PERM = 9, 10, 11, 12
P_ARB_PERP, P_ARB_INDEX, P_BASIS_BETA, P_BASIS_MA = 13, 14, 15, 16
P_RATE, P_RATE_EXP, P_N_TARGET = 17, 18, 19
P_W_MOM, P_W_MR, P_K_MOM, P_K_MR, P_FUND_SENS = 20, 21, 22, 23, 24
P_SIZE_MIN, P_SIZE_ALPHA, P_SIZE_MAX = 25, 26, 27
P_HOLD_MED, P_HOLD_SIG = 28, 29
P_P_SL, P_SL_LO, P_SL_HI, P_P_TP, P_TP_MED, P_TP_SIG = 30, 31, 32, 33, 34, 35
P_BG_VOL, P_BG_SIG, P_NOISE_NET = 36, 37, 38
P_BIN_D, P_BIN_K0, P_NBINS = 39, 40, 41
P_F_INTEREST, P_F_CLAMP, P_F_CAP, P_F_INTERVAL = 42, 43, 44, 45
P_EPOCH_MIN, P_SEASON, P_WEEKEND, P_MAX_ROUNDS = 46, 47, 48, 49
P_LEV_REF, P_KEEP, P_TR_DECAY, P_VFB, P_VFB_THR, P_PREM_OFF, P_VOL_EXP = 50, 51, 52, 53, 54, 55, 56
P_GBIN_D, P_GBIN_K0, P_GNBINS = 57, 58, 59  # grid.py bins of the truth map
P_WHALE_REF, P_WHALE_EXP, P_VN_PHI, P_VN_SD = 60, 61, 62, 63
N_PARAMS = 64

# --- per-minute scenario schedule ----------------------------------------------------------------
S_DRIFT, S_BIAS, S_LEVMIX, S_RATE, S_JUMP, S_VOLM = 0, 1, 2, 3, 4, 5
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

# --- position columns ----------------------------------------------------------------------------
F_ENTRY, F_QTY, F_NOTIONAL, F_LEV, F_LIQ, F_LO, F_HI = 0, 1, 2, 3, 4, 5, 6
N_PF = 7
# int columns of a slot, its list links first (one row per slot keeps them in one or two cache
# lines): next, previous and key (bin or minute) for each of the five lists, then the position
L_LLIQ, L_SLIQ, L_LO, L_HI, L_EXP = 0, 1, 2, 3, 4  # long/short liquidation, lower/upper trigger,
N_LISTS = 5  # expiry
C_NXT, C_PRV, C_KEY = 0, 5, 10
I_SIDE, I_ENTRY_MIN, I_PID, I_ALIVE = 15, 16, 17, 18
N_PL = 19

# --- scalar state ------------------------------------------------------------------------------
S_X, S_P, S_BASIS_MA, S_EMA_F, S_EMA_S, S_VAR = 0, 1, 2, 3, 4, 5
S_H0, S_H1, S_H2, S_PREM_SUM, S_PREM_N, S_CARRY = 6, 7, 8, 9, 10, 11
S_LQTY, S_SQTY, S_LNOT, S_SNOT, S_TR, S_VN, S_Q = 12, 13, 14, 15, 16, 17, 18
N_FS = 19
# int state: next pid, live count, free-stack size, watermarks of the four lists, events, dropped,
# snapshot rows, minutes done
K_PID, K_NLIVE, K_NFREE, K_WM0, K_WM1, K_WM2, K_WM3, K_NEV, K_DROPPED, K_NSNAP = range(10)
K_DONE = 10
N_IS = 11

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
def new_state(cap: int, n_bins: int, n_minutes: int, x0: float, var0: float) -> dict:
    """Fresh simulator state for ``cap`` position slots (plain numpy, see :func:`run`).

    ``x0`` is the log start price, ``var0`` the initial variance of 1-minute log returns.
    """
    fs = np.zeros(N_FS)
    fs[S_X] = x0
    fs[S_P] = x0
    fs[S_EMA_F] = x0
    fs[S_EMA_S] = x0
    fs[S_VAR] = var0
    ist = np.zeros(N_IS, dtype=np.int64)
    ist[K_NFREE] = cap
    ist[K_WM0] = -1  # long-liq: highest bin that may hold a level
    ist[K_WM1] = n_bins  # short-liq: lowest bin
    ist[K_WM2] = -1  # lower trigger: highest bin
    ist[K_WM3] = n_bins  # upper trigger: lowest bin
    pf = np.zeros((cap, N_PF))
    pl = np.full((cap, N_PL), -1, dtype=np.int64)
    pl[:, I_ALIVE] = 0
    free = np.arange(cap - 1, -1, -1, dtype=np.int64)  # pop from the end: slot 0 first
    head = np.full((4, n_bins), -1, dtype=np.int64)
    ehead = np.full(n_minutes + 1, -1, dtype=np.int64)
    return {"fs": fs, "ist": ist, "pf": pf, "pl": pl, "free": free, "head": head, "ehead": ehead}


@njit(cache=True)
def _list_insert(headrow, pl, li, slot, b):
    h = headrow[b]
    pl[slot, C_NXT + li] = h
    pl[slot, C_PRV + li] = -1
    if h != -1:
        pl[h, C_PRV + li] = slot
    headrow[b] = slot
    pl[slot, C_KEY + li] = b


@njit(cache=True)
def _list_remove(headrow, pl, li, slot):
    b = pl[slot, C_KEY + li]
    if b < 0:
        return
    before = pl[slot, C_PRV + li]
    after = pl[slot, C_NXT + li]
    if before != -1:
        pl[before, C_NXT + li] = after
    else:
        headrow[b] = after
    if after != -1:
        pl[after, C_PRV + li] = before
    pl[slot, C_KEY + li] = -1


@njit(cache=True)
def _bin(price, d, k0, n_bins):
    """Window index ``floor(ln p / d) - k0`` of a log-spaced bin of ``price``, clamped."""
    k = int(np.floor(np.log(price) / d)) - k0
    if k < 0:
        return 0
    if k >= n_bins:
        return n_bins - 1
    return k


@njit(cache=True)
def _close(slot, fs, ist, pf, pl, free, head, ehead):
    """Remove a position from every list and the open interest; free its slot."""
    for li in range(4):
        _list_remove(head[li], pl, li, slot)
    _list_remove(ehead, pl, L_EXP, slot)
    if pl[slot, I_SIDE] > 0:
        fs[S_LQTY] -= pf[slot, F_QTY]
        fs[S_LNOT] -= pf[slot, F_NOTIONAL]
    else:
        fs[S_SQTY] -= pf[slot, F_QTY]
        fs[S_SNOT] -= pf[slot, F_NOTIONAL]
    pl[slot, I_ALIVE] = 0
    free[ist[K_NFREE]] = slot
    ist[K_NFREE] += 1
    ist[K_NLIVE] -= 1


@njit(cache=True)
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


@njit(cache=True)
def _max_lev(notional, br):
    for i in range(br.shape[0]):
        if br[i, 0] <= notional < br[i, 1]:
            return br[i, 4]
    return br[br.shape[0] - 1, 4]


@njit(cache=True)
def _curve(q, depth, coef):
    """Impact of a cumulative flow ``q``: ``2 coef (sqrt(1 + |q|/depth) - 1)``, signed."""
    a = abs(q) / depth
    v = 2.0 * coef * a / (math.sqrt(1.0 + a) + 1.0)  # the same, without cancellation
    return v if q >= 0.0 else -v


@njit(cache=True)
def _impact(flow, depth, coef, fs):
    """Log-price impact of a net market order, on the book's recent unabsorbed flow.

    The impact is a function of the cumulative flow (decaying with the book's refill), so
    splitting an order changes nothing; it is linear (``coef * flow / depth``) while that flow is
    small against the depth and grows as its square root beyond (deeper levels of the book).
    """
    q0 = fs[S_Q]
    q1 = q0 + flow
    fs[S_Q] = q1
    return _curve(q1, depth, coef) - _curve(q0, depth, coef)


@njit(cache=True)
def _mark(fs, fund_est, t_left):
    index = math.exp(fs[S_X])
    last = math.exp(fs[S_P])
    a = index * (1.0 + fund_est * t_left)
    b = index + fs[S_BASIS_MA]
    # median of three
    if a > b:
        a, b = b, a
    if last <= a:
        return a
    if last >= b:
        return b
    return last


@njit(cache=True)
def _scan_down(
    li, wm_key, thresh, col, mark_b, fs, ist, pf, pl, free, head, ehead, out_slots, n_out
):
    """Close every position of list ``li`` with level ``>= thresh`` (bins ``mark_b..watermark``)."""
    b = ist[wm_key]
    while b >= mark_b:
        slot = head[li, b]
        while slot != -1:
            after = pl[slot, C_NXT + li]
            if pf[slot, col] >= thresh:
                out_slots[n_out] = slot
                n_out += 1
                _close(slot, fs, ist, pf, pl, free, head, ehead)
            slot = after
        b -= 1
    if mark_b < ist[wm_key]:
        ist[wm_key] = mark_b
    return n_out


@njit(cache=True)
def _scan_up(li, wm_key, thresh, col, mark_b, fs, ist, pf, pl, free, head, ehead, out_slots, n_out):
    """Close every position of list ``li`` with level ``<= thresh`` (bins ``watermark..mark_b``)."""
    b = ist[wm_key]
    while b <= mark_b:
        slot = head[li, b]
        while slot != -1:
            after = pl[slot, C_NXT + li]
            if pf[slot, col] <= thresh:
                out_slots[n_out] = slot
                n_out += 1
                _close(slot, fs, ist, pf, pl, free, head, ehead)
            slot = after
        b += 1
    if mark_b > ist[wm_key]:
        ist[wm_key] = mark_b
    return n_out


# =============================================================================================
# the kernel
# =============================================================================================
@njit(cache=True)
def run(
    t0,
    t1,
    n_total,
    prm,
    sched,
    lev_vals,
    lev_cdf_base,
    lev_cdf_high,
    br,
    snap_flag,
    rng,
    fs,
    ist,
    pf,
    pl,
    free,
    head,
    ehead,
    out,
    ev,
    snaps,
):
    """Advance the market over minutes ``[t0, t1)``; write ``out[t - t0]`` for each minute.

    Args:
        t0, t1: Minute range (0 = simulation start). ``n_total``: minutes in the whole run.
        prm: Parameter vector (``P_*`` offsets). ``sched``: ``(n_total, N_SCHED)`` scenario schedule.
        lev_vals, lev_cdf_base, lev_cdf_high: Leverage levels and two cumulative distributions;
            a new position draws from the high one with probability ``sched[t, S_LEVMIX]``.
        br: ``(n, 5)`` brackets (floor, cap, mmr, cum, max_leverage).
        snap_flag: ``int8[n_total]``, 1 where the pending-liquidation map is taken at minute end.
        rng, fs, ist, pf, pl, free, head, ehead: state (:func:`new_state`), modified in place.
        out: ``(t1 - t0, N_OUT)`` output rows. ev, snaps: event and snapshot buffers.

    Returns:
        ``(ev, snaps)``: the buffers, reallocated larger when they filled; counts in
        ``ist[K_NEV]`` and ``ist[K_NSNAP]``.
    """
    cap = pf.shape[0]
    ksub = int(prm[P_SUBSTEPS])
    d = prm[P_BIN_D]
    k0 = int(prm[P_BIN_K0])
    n_bins = int(prm[P_NBINS])
    f_int = int(prm[P_F_INTERVAL])
    epoch0 = int(prm[P_EPOCH_MIN])
    max_rounds = int(prm[P_MAX_ROUNDS])
    sq_k = math.sqrt(float(ksub))
    n_lev = lev_vals.shape[0]
    lev_top = lev_vals.max()
    size_tail = 1.0 - (prm[P_SIZE_MIN] / prm[P_SIZE_MAX]) ** prm[P_SIZE_ALPHA]

    exit_flow = np.zeros(ksub)
    new_side = np.empty(MAX_NEW, dtype=np.int64)
    new_not = np.empty(MAX_NEW)
    new_lev = np.empty(MAX_NEW)
    hit = np.empty(cap, dtype=np.int64)
    gd = prm[P_GBIN_D]
    gk0 = int(prm[P_GBIN_K0])
    g_bins = int(prm[P_GNBINS])
    snap_l = np.zeros(g_bins)
    snap_s = np.zeros(g_bins)

    for t in range(t0, t1):
        row = t - t0
        em = epoch0 + t
        # ---- volatility state and activity --------------------------------------------------
        fs[S_H0] = prm[P_PHI0] * fs[S_H0] + prm[P_SD0] * _normal(rng)
        fs[S_H1] = prm[P_PHI1] * fs[S_H1] + prm[P_SD1] * _normal(rng)
        fs[S_H2] = prm[P_PHI2] * fs[S_H2] + prm[P_SD2] * _normal(rng)
        mod = em % 1440
        season = 1.0 + prm[P_SEASON] * math.cos(2.0 * math.pi * (mod - 900.0) / 1440.0)
        weekday = ((em // 1440) + 3) % 7  # 1970-01-01 was a Thursday; Monday = 0
        if weekday >= 5:
            season *= prm[P_WEEKEND]
        act = math.exp(fs[S_H0] + fs[S_H1] + fs[S_H2] + prm[P_HCORR]) * season * sched[t, S_VOLM]
        sigma = prm[P_SIGMA] * act
        depth = prm[P_DEPTH] / act ** prm[P_DEPTH_EXP]

        # ---- funding (every f_int minutes of UTC time, from the last 8 h of premium) ---------
        if fs[S_PREM_N] > 0.0:
            avg = fs[S_PREM_SUM] / fs[S_PREM_N]
            fund_est = avg + min(max(prm[P_F_INTEREST] - avg, -prm[P_F_CLAMP]), prm[P_F_CLAMP])
            fund_est = min(max(fund_est, -prm[P_F_CAP]), prm[P_F_CAP])
        else:
            fund_est = prm[P_F_INTEREST]
        if em % f_int == 0:
            out[row, O_FUNDING] = fund_est
            fs[S_PREM_SUM] = 0.0
            fs[S_PREM_N] = 0.0
        else:
            out[row, O_FUNDING] = np.nan

        last = math.exp(fs[S_P])
        out[row, O_OPEN] = last
        hi = last
        lo = last
        m_open = np.nan
        m_hi = -np.inf
        m_lo = np.inf
        mark = last
        volume = 0.0
        liq_l = 0.0
        liq_s = 0.0
        n_l = 0
        n_s = 0

        # ---- time exits due this minute (market orders, each in a random sub-step) ----------
        exit_flow[:] = 0.0
        exit_flow[0] = fs[S_CARRY]
        fs[S_CARRY] = 0.0
        slot = ehead[t]
        while slot != -1:
            after = pl[slot, C_NXT + L_EXP]
            q = pf[slot, F_QTY]
            # each time exit lands in a random sub-step, like the entries
            exit_flow[int(_uniform(rng) * ksub)] -= pl[slot, I_SIDE] * q * last
            volume += q
            _close(slot, fs, ist, pf, pl, free, head, ehead)
            slot = after

        # ---- agents' signals (known at the minute's start) ---------------------------------
        vol_h = math.sqrt(fs[S_VAR]) + 1e-6
        mom = (fs[S_EMA_F] - fs[S_EMA_S]) / (vol_h * 11.0)
        mom = min(max(mom, -3.0), 3.0)
        mr = -(fs[S_P] - fs[S_EMA_S]) / (vol_h * 15.5)
        mr = min(max(mr, -3.0), 3.0)
        tot_not = fs[S_LNOT] + fs[S_SNOT]
        imbalance = (fs[S_LNOT] - fs[S_SNOT]) / (tot_not + 1e6)
        fund_tilt = prm[P_FUND_SENS] * (fund_est - prm[P_F_INTEREST]) / prm[P_F_INTEREST]
        fill = ist[K_NLIVE] / prm[P_N_TARGET]
        rate = prm[P_RATE] * sched[t, S_RATE] * act ** prm[P_RATE_EXP]
        rate *= min(max(2.0 - fill, 0.05), 3.0)

        # background volume of the minute (two-sided; log-normal around activity ** vol_exp)
        fs[S_VN] = prm[P_VN_PHI] * fs[S_VN] + prm[P_VN_SD] * _normal(rng)
        bg_minute = (
            prm[P_BG_VOL] * act ** prm[P_VOL_EXP] * math.exp(fs[S_VN] - 0.5 * prm[P_BG_SIG] ** 2)
        )
        for sub in range(ksub):
            # the transient part of past impact decays (book resilience)
            rev = fs[S_TR] * prm[P_TR_DECAY]
            fs[S_TR] -= rev
            fs[S_Q] -= fs[S_Q] * prm[P_TR_DECAY]
            fs[S_P] -= rev
            fs[S_X] -= prm[P_PERM] * rev
            # arbitrage pulls the basis towards its target
            dev = (fs[S_P] - fs[S_X]) - prm[P_BASIS_BETA] * imbalance
            fs[S_P] -= prm[P_ARB_PERP] / ksub * dev
            fs[S_X] += prm[P_ARB_INDEX] / ksub * dev
            # exogenous index move
            dx = sched[t, S_DRIFT] / ksub + sigma / sq_k * _normal(rng)
            if sub == 0:
                dx += sched[t, S_JUMP]
            fs[S_X] += dx
            fs[S_P] += dx
            last = math.exp(fs[S_P])
            # noise traders: two-sided background volume with a small net flow
            bg = bg_minute / ksub
            flow = prm[P_NOISE_NET] * bg * _normal(rng)
            volume += bg / last
            flow += exit_flow[sub]
            # new leveraged entries, decided on the minute-start signals
            n_new = min(_poisson(rng, rate / ksub), MAX_NEW)
            for j in range(n_new):
                ku = _uniform(rng)
                if ku < prm[P_W_MOM]:
                    sig = prm[P_K_MOM] * mom
                elif ku < prm[P_W_MOM] + prm[P_W_MR]:
                    sig = prm[P_K_MR] * mr
                else:
                    sig = 0.0
                logit = sched[t, S_BIAS] + sig - fund_tilt
                side = 1 if _uniform(rng) < 1.0 / (1.0 + math.exp(-logit)) else -1
                notional = prm[P_SIZE_MIN] * (1.0 - _uniform(rng) * size_tail) ** (
                    -1.0 / prm[P_SIZE_ALPHA]
                )
                cdf = lev_cdf_high if _uniform(rng) < sched[t, S_LEVMIX] else lev_cdf_base
                u = _uniform(rng)
                k = 0
                while k < n_lev - 1 and u >= cdf[k]:
                    k += 1
                lev = min(lev_vals[k], _max_lev(notional, br))
                if notional > prm[P_WHALE_REF]:
                    # large positions use less leverage: cap ~ (notional / ref) ** -exp
                    lev = max(
                        min(
                            lev,
                            math.floor(
                                lev_top * (notional / prm[P_WHALE_REF]) ** -prm[P_WHALE_EXP]
                            ),
                        ),
                        1.0,
                    )
                new_side[j] = side
                new_not[j] = notional
                new_lev[j] = lev
                flow += side * notional
            imp = _impact(flow, depth, prm[P_IMPACT], fs)
            fs[S_P] += imp
            fs[S_X] += prm[P_PERM] * imp
            fs[S_TR] += (1.0 - prm[P_KEEP]) * imp
            last = math.exp(fs[S_P])
            hi = max(hi, last)
            lo = min(lo, last)
            # open the new positions at the post-impact price
            for j in range(n_new):
                if ist[K_NFREE] == 0:
                    ist[K_DROPPED] += 1
                    continue
                ist[K_NFREE] -= 1
                slot = free[ist[K_NFREE]]
                ist[K_NLIVE] += 1
                side = new_side[j]
                notional = new_not[j]
                lev = new_lev[j]
                entry = last
                qty = notional / entry
                volume += qty
                liq = _liq_price(entry, notional, lev, side, br)
                pf[slot, F_ENTRY] = entry
                pf[slot, F_QTY] = qty
                pf[slot, F_NOTIONAL] = notional
                pf[slot, F_LEV] = lev
                pf[slot, F_LIQ] = liq
                pl[slot, I_SIDE] = side
                pl[slot, I_ENTRY_MIN] = t
                pl[slot, I_PID] = ist[K_PID]
                pl[slot, I_ALIVE] = 1
                ist[K_PID] += 1
                scale = math.sqrt(prm[P_LEV_REF] / lev)
                # stop: a fraction of the way to the liquidation level (or 50% for 1x longs)
                lo_trig = 0.0
                hi_trig = np.inf
                if _uniform(rng) < prm[P_P_SL]:
                    frac = prm[P_SL_LO] + (prm[P_SL_HI] - prm[P_SL_LO]) * _uniform(rng)
                    dist = abs(entry - liq) / entry if liq > LIQ_FLOOR * entry else 0.5
                    if side > 0:
                        lo_trig = entry * (1.0 - frac * dist)
                    else:
                        hi_trig = entry * (1.0 + frac * dist)
                if _uniform(rng) < prm[P_P_TP]:
                    tp = prm[P_TP_MED] * scale * math.exp(prm[P_TP_SIG] * _normal(rng))
                    tp = min(max(tp, 0.0005), 0.5)
                    if side > 0:
                        hi_trig = entry * (1.0 + tp)
                    else:
                        lo_trig = entry * (1.0 - tp)
                pf[slot, F_LO] = lo_trig
                pf[slot, F_HI] = hi_trig
                hold = prm[P_HOLD_MED] * scale * math.exp(prm[P_HOLD_SIG] * _normal(rng))
                expiry = t + 1 + int(hold)
                if expiry <= n_total:
                    _list_insert(ehead, pl, L_EXP, slot, min(expiry, n_total))
                if side > 0:
                    fs[S_LQTY] += qty
                    fs[S_LNOT] += notional
                    if liq > LIQ_FLOOR * entry:
                        b = _bin(liq, d, k0, n_bins)
                        _list_insert(head[L_LLIQ], pl, L_LLIQ, slot, b)
                        ist[K_WM0] = max(ist[K_WM0], b)
                else:
                    fs[S_SQTY] += qty
                    fs[S_SNOT] += notional
                    b = _bin(liq, d, k0, n_bins)
                    _list_insert(head[L_SLIQ], pl, L_SLIQ, slot, b)
                    ist[K_WM1] = min(ist[K_WM1], b)
                if lo_trig > 0.0:
                    b = _bin(lo_trig, d, k0, n_bins)
                    _list_insert(head[L_LO], pl, L_LO, slot, b)
                    ist[K_WM2] = max(ist[K_WM2], b)
                if hi_trig < np.inf:
                    b = _bin(hi_trig, d, k0, n_bins)
                    _list_insert(head[L_HI], pl, L_HI, slot, b)
                    ist[K_WM3] = min(ist[K_WM3], b)

            # mark's basis average (Binance: 5-minute moving average of last - index)
            index = math.exp(fs[S_X])
            fs[S_BASIS_MA] += prm[P_BASIS_MA] * ((last - index) - fs[S_BASIS_MA])
            t_left = (f_int - (em % f_int) - sub / ksub) / f_int

            # ---- sweep: liquidations on the mark, then stops/targets on the last price -------
            if ev.shape[0] - ist[K_NEV] < cap + 1:
                grown = np.empty((2 * ev.shape[0] + cap, N_EV))
                grown[: ist[K_NEV]] = ev[: ist[K_NEV]]
                ev = grown
            rnd = 0
            while True:
                mark = _mark(fs, fund_est, t_left)
                last = math.exp(fs[S_P])
                if np.isnan(m_open):
                    m_open = mark
                m_hi = max(m_hi, mark)
                m_lo = min(m_lo, mark)
                n_hit = 0
                mb = _bin(mark, d, k0, n_bins)
                # longs are liquidated when mark <= level, shorts when mark >= level
                n_hit = _scan_down(
                    L_LLIQ, K_WM0, mark, F_LIQ, mb, fs, ist, pf, pl, free, head, ehead, hit, n_hit
                )
                n_hit = _scan_up(
                    L_SLIQ, K_WM1, mark, F_LIQ, mb, fs, ist, pf, pl, free, head, ehead, hit, n_hit
                )
                n_liq = n_hit  # hits [0, n_liq) are liquidations, the rest stops/targets
                lb = _bin(last, d, k0, n_bins)
                n_hit = _scan_down(
                    L_LO, K_WM2, last, F_LO, lb, fs, ist, pf, pl, free, head, ehead, hit, n_hit
                )
                n_hit = _scan_up(
                    L_HI, K_WM3, last, F_HI, lb, fs, ist, pf, pl, free, head, ehead, hit, n_hit
                )
                if n_hit == 0:
                    break
                flow = 0.0
                for j in range(n_hit):
                    s2 = hit[j]
                    flow -= pl[s2, I_SIDE] * pf[s2, F_QTY] * last
                ev0 = ist[K_NEV]
                for j in range(n_liq):
                    s2 = hit[j]
                    e = ist[K_NEV]
                    ev[e, E_MINUTE] = t
                    ev[e, E_SUB] = sub
                    ev[e, E_ROUND] = rnd
                    ev[e, E_SIDE] = pl[s2, I_SIDE]
                    ev[e, E_ENTRY] = pf[s2, F_ENTRY]
                    ev[e, E_QTY] = pf[s2, F_QTY]
                    ev[e, E_NOTIONAL] = pf[s2, F_NOTIONAL]
                    ev[e, E_LEV] = pf[s2, F_LEV]
                    ev[e, E_LIQ] = pf[s2, F_LIQ]
                    ev[e, E_MARK] = mark
                    ev[e, E_LAST] = last
                    ev[e, E_ENTRY_MIN] = pl[s2, I_ENTRY_MIN]
                    ev[e, E_PID] = pl[s2, I_PID]
                    ist[K_NEV] += 1
                if rnd >= max_rounds - 1:
                    # too many rounds in one sub-step: the last round's orders move the next minute
                    fs[S_CARRY] += flow
                    fill_price = last
                else:
                    imp = _impact(flow, depth, prm[P_IMPACT], fs)
                    fs[S_P] += imp
                    fs[S_X] += prm[P_PERM] * imp
                    fs[S_TR] += (1.0 - prm[P_KEEP]) * imp
                    fill_price = math.exp(fs[S_P])  # forced orders fill at the post-impact price
                    hi = max(hi, fill_price)
                    lo = min(lo, fill_price)
                for j in range(n_hit):
                    volume += pf[hit[j], F_QTY]
                for e in range(ev0, ist[K_NEV]):
                    ev[e, E_FILL] = fill_price
                    usd = ev[e, E_QTY] * fill_price
                    if ev[e, E_SIDE] > 0:
                        liq_l += usd
                        n_l += 1
                    else:
                        liq_s += usd
                        n_s += 1
                if rnd >= max_rounds - 1:
                    break
                rnd += 1

        # ---- minute close ------------------------------------------------------------------
        last = math.exp(fs[S_P])
        index = math.exp(fs[S_X])
        out[row, O_HIGH] = hi
        out[row, O_LOW] = lo
        out[row, O_CLOSE] = last
        out[row, O_VOLUME] = volume
        out[row, O_MOPEN] = m_open
        out[row, O_MHIGH] = m_hi
        out[row, O_MLOW] = m_lo
        out[row, O_MCLOSE] = mark
        out[row, O_INDEX] = index
        out[row, O_LIQ_L] = liq_l
        out[row, O_LIQ_S] = liq_s
        out[row, O_NLIQ_L] = n_l
        out[row, O_NLIQ_S] = n_s
        prem = last / index - 1.0
        out[row, O_PREMIUM] = prem
        # premium index: Binance measures it at impact bid/ask, a few bp below the last price
        fs[S_PREM_SUM] += prem + prm[P_PREM_OFF]
        fs[S_PREM_N] += 1.0
        # EMAs of the log price and of the squared 1-minute return (the agents' signals)
        ret = math.log(last / out[row, O_OPEN])
        # a move far beyond the recent realised volatility excites activity (self-exciting
        # volatility); measured against realised, not exogenous, volatility so it cannot run away
        surprise = abs(ret) / (math.sqrt(fs[S_VAR]) + 1e-12)
        if surprise > prm[P_VFB_THR]:
            fs[S_H0] = min(fs[S_H0] + prm[P_VFB] * (surprise - prm[P_VFB_THR]), 1.5)
        fs[S_VAR] += VAR_ALPHA * (ret * ret - fs[S_VAR])
        fs[S_EMA_F] += EMA_FAST * (fs[S_P] - fs[S_EMA_F])
        fs[S_EMA_S] += EMA_SLOW * (fs[S_P] - fs[S_EMA_S])
        if t % 1440 == 1439:
            # re-sum the open interest exactly once a day (removes floating drift)
            lq = 0.0
            sq = 0.0
            ln = 0.0
            sn = 0.0
            for s2 in range(cap):
                if pl[s2, I_ALIVE] == 1:
                    if pl[s2, I_SIDE] > 0:
                        lq += pf[s2, F_QTY]
                        ln += pf[s2, F_NOTIONAL]
                    else:
                        sq += pf[s2, F_QTY]
                        sn += pf[s2, F_NOTIONAL]
            fs[S_LQTY] = lq
            fs[S_SQTY] = sq
            fs[S_LNOT] = ln
            fs[S_SNOT] = sn
        oi_qty = max(fs[S_LQTY], 0.0) + max(fs[S_SQTY], 0.0)
        out[row, O_OI_QTY] = oi_qty
        out[row, O_OI_VALUE] = oi_qty * last
        out[row, O_NLIVE] = ist[K_NLIVE]
        out[row, O_LONG_QTY] = max(fs[S_LQTY], 0.0)
        out[row, O_SHORT_QTY] = max(fs[S_SQTY], 0.0)

        # ---- pending-liquidation map at the minute's end -----------------------------------
        if snap_flag[t] == 1:
            if snaps.shape[0] - ist[K_NSNAP] < g_bins:
                grown_s = np.empty((2 * snaps.shape[0] + g_bins, N_SNAP))
                grown_s[: ist[K_NSNAP]] = snaps[: ist[K_NSNAP]]
                snaps = grown_s
            snap_l[:] = 0.0
            snap_s[:] = 0.0
            for s2 in range(cap):
                if pl[s2, I_ALIVE] == 1 and pf[s2, F_LIQ] > LIQ_FLOOR * pf[s2, F_ENTRY]:
                    b = _bin(pf[s2, F_LIQ], gd, gk0, g_bins)
                    if pl[s2, I_SIDE] > 0:
                        snap_l[b] += pf[s2, F_NOTIONAL]
                    else:
                        snap_s[b] += pf[s2, F_NOTIONAL]
            for b in range(g_bins):
                if snap_l[b] > 0.0 or snap_s[b] > 0.0:
                    k = ist[K_NSNAP]
                    snaps[k, 0] = t
                    snaps[k, 1] = b + gk0
                    snaps[k, 2] = snap_l[b]
                    snaps[k, 3] = snap_s[b]
                    ist[K_NSNAP] += 1
        ist[K_DONE] = t + 1
    return ev, snaps
