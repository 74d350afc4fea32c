"""Compiled kernels of the liquidation map: float64 arrays in, arrays out; no pandas.

One kernel, :func:`run`, advances an explicit state over a block of candles and writes one row of
features per candle. The batch path calls it once over all candles; the live path calls it once per
candle on the same state, so both execute the same floating-point operations in the same order and
agree bit for bit. Its arguments are the NamedTuples of :mod:`liq_indicator.core.model` (inputs,
parameters, state, heatmap request); :func:`liq_indicator.core.reference.run` is its slow twin with
the same signature.

Each candle goes through the steps below, in this order (one njit function each):

0. :func:`_start` - the first candle centres the window on it.
1. :func:`_decay` - wall-clock decay per tier since the previous candle.
2. :func:`_keep_centred` - recentre the window when price nears an edge.
3. :func:`_sweep` - liquidate the levels the candle's range reached.
4. :func:`_close_out` - a fall in open interest closes positions proportionally.
5a. :func:`_vol_multiplier`, :func:`_timeframe_multiplier` - volatility targeting and the
    candle-length correction scale the inflow.
5. :func:`_inflow` - new positions open at the candle's entry prices.
5b. :func:`_resweep` - a share of them liquidates within the candle.
6. :func:`_features` - flows, bands, nearest clusters and growth, measured from the close.
6b. :func:`_recorded` - recorded liquidations, live accuracy, assimilation.
6c. :func:`_reconcile` - the levels next to the candle's extremes follow the recording.
7. :func:`_snapshot` - the heatmap columns requested.
"""

from __future__ import annotations

import math
from typing import NamedTuple

import numpy as np
from numba import njit

from liq_indicator.columns import (
    C_CLOSED,
    C_DECAYED,
    C_DROPPED,
    C_INFLOW,
    C_OI_MODE,
    C_PENDING_LONG,
    C_PENDING_SHORT,
    C_SWEPT_LONG,
    C_SWEPT_SHORT,
    K_DIST,
    K_FAR,
    K_NEAR,
    K_PRICE,
    K_USD,
)
from liq_indicator.core.clusters import PEAK_TIE
from liq_indicator.core.model import (
    T_CLOSED,
    T_DECAYED,
    T_DROPPED,
    T_INFLOW,
    T_SWEPT_LONG,
    T_SWEPT_SHORT,
)

__all__ = ["run", "nearest_cluster", "path_shares", "RENORM_BELOW"]


class Scratch(NamedTuple):
    """Work arrays of the steps (contents meaningless between candles), allocated by :func:`run`."""

    lwin: np.ndarray
    """(n_prof,): the long profile in window order"""
    lprof: np.ndarray
    """(n_prof,): tier-summed long USD by distance below price (bins)"""
    sprof: np.ndarray
    """(n_prof,): tier-summed short USD by distance above price (first n_short used)"""
    lcum: np.ndarray
    """(n_prof,): running sum of ``lprof``"""
    scum: np.ndarray
    """(n_prof,): running sum of ``sprof``"""
    found: np.ndarray
    """(4,): the nearest cluster found (peak, near, far, notional)"""
    share: np.ndarray
    """(venues,): a cluster's notional per venue"""
    swept_v: np.ndarray
    """(venues,): USD swept per venue this candle"""
    oi_known: np.ndarray
    """(venues,) bool: open interest known now and at the previous candle"""
    decay_f: np.ndarray
    """(tiers,): decay factors of the last time step"""
    new_top: np.ndarray
    """(tiers,) int64: the highest long bin this candle's inflow wrote (-1: none)"""
    new_bot: np.ndarray
    """(tiers,) int64: the lowest short bin this candle's inflow wrote (grid_bins: none)"""
    last_dt: np.ndarray
    """(1,): the time step ``decay_f`` was computed for"""
    vol_w: np.ndarray
    """(2,): a time step and the realised-variance average's weight for it"""


RENORM_BELOW = 1e-100
"""A tier's lazy scale is folded back into its bins when it falls below this."""

_LN2 = math.log(2.0)

# fused multiply-add is the only licence taken: batch and live run the same machine code (inputs
# are always C-contiguous float64), so they still agree bit for bit. The steps are inlined into
# run (numba IR inlining): called as functions, their many array arguments cost reference counts
# on every candle.
_FAST = {"contract"}


@njit(cache=True)
def path_shares(o, h, lo, c, before_low, before_high):
    """Per candle, the share of its path (open -> low -> high -> close when it closed at or above
    its open, open -> high -> low -> close otherwise, legs weighted by length) traded before its
    low and before its high, into ``before_low`` / ``before_high`` (0 for a flat candle).
    """
    for i in range(c.shape[0]):
        up = c[i] >= o[i]
        first = o[i] - lo[i] if up else h[i] - o[i]
        middle = h[i] - lo[i]
        last = h[i] - c[i] if up else c[i] - lo[i]
        total = first + middle + last
        if not total > 0.0:
            before_low[i] = 0.0
            before_high[i] = 0.0
        elif up:
            before_low[i] = first / total
            before_high[i] = (first + middle) / total
        else:
            before_low[i] = (first + middle) / total
            before_high[i] = first / total


@njit(cache=True, inline="always")
def _tier_total(sums, t):
    """Raw notional of one tier, both sides; the running sums may round a hair below zero."""
    return max(sums[0, t] + sums[1, t], 0.0)


@njit(cache=True, inline="always")
def _start(raw, base, prev_time, k_close, time_s):
    """0. The first candle: centre the window on its close."""
    base[0] = k_close - raw.shape[2] // 2
    prev_time[0] = time_s


@njit(cache=True, inline="always")
def _decay(decay_rate, scale, sums, dt, decay_f, last_dt):
    """1. Age every tier by ``dt`` seconds (one multiply of its lazy scale); return the USD aged out.

    ``decay_f`` caches the factors of ``last_dt[0]`` (candles are usually evenly spaced).
    """
    decayed = 0.0
    if dt > 0.0:
        if dt != last_dt[0]:
            for t in range(decay_f.shape[0]):
                decay_f[t] = math.exp(-decay_rate[t] * dt)
            last_dt[0] = dt
        for t in range(decay_f.shape[0]):
            f = decay_f[t]
            decayed += _tier_total(sums, t) * scale[t] * (1.0 - f)
            scale[t] *= f
    return decayed


@njit(cache=True)
def _recentre(raw, scale, sums, tops, base, totals, new_base):
    """Shift the window so that its bin 0 is global bin ``new_base``; count what falls off."""
    shift = new_base - base[0]
    n_sides, n_tiers, width = raw.shape
    for s in range(n_sides):
        for t in range(n_tiers):
            row = raw[s, t]
            lost = 0.0
            if shift > 0:
                for j in range(min(shift, width)):
                    lost += row[j]
                for j in range(width - shift):
                    row[j] = row[j + shift]
                for j in range(max(width - shift, 0), width):
                    row[j] = 0.0
            else:
                back = -shift
                for j in range(max(width - back, 0), width):
                    lost += row[j]
                for j in range(width - 1, back - 1, -1):
                    row[j] = row[j - back]
                for j in range(min(back, width)):
                    row[j] = 0.0
            totals[T_DROPPED] += lost * scale[t]
            sums[s, t] -= lost
    base[0] = new_base
    for v in range(tops.shape[1]):
        top = tops[0, v] - shift
        tops[0, v] = min(top, width - 1) if top >= 0 else -1
        bot = tops[1, v] - shift
        tops[1, v] = max(bot, 0) if bot < width else width


@njit(cache=True, inline="always")
def _keep_centred(raw, scale, sums, tops, base, totals, k_close):
    """2. Keep price in the middle half of the window; return the USD that fell off."""
    width = raw.shape[2]
    before = totals[T_DROPPED]
    j_close = k_close - base[0]
    if j_close < width // 4 or j_close >= width - width // 4:
        _recentre(raw, scale, sums, tops, base, totals, k_close - width // 2)
    return totals[T_DROPPED] - before


@njit(cache=True, inline="always")
def _sweep_long(raw, scale, sums, tops, tier_venue, v, j_thr):
    """Liquidate venue ``v``'s long levels in window bins >= j_thr; return the notional swept."""
    width = raw.shape[2]
    top = tops[0, v]
    lo = max(j_thr, 0)
    if top < lo:
        return 0.0
    swept = 0.0
    for t in range(raw.shape[1]):
        if tier_venue[t] != v:
            continue
        row = raw[0, t]
        part = 0.0
        for j in range(lo, min(top, width - 1) + 1):
            part += row[j]
            row[j] = 0.0
        sums[0, t] -= part
        swept += part * scale[t]
    tops[0, v] = lo - 1
    if lo - 1 < 0:  # the venue's side is empty: drop accumulated rounding in the running sums
        for t in range(raw.shape[1]):
            if tier_venue[t] == v:
                sums[0, t] = 0.0
    return swept


@njit(cache=True, inline="always")
def _sweep_short(raw, scale, sums, tops, tier_venue, v, j_thr):
    """Liquidate venue ``v``'s short levels in window bins <= j_thr; return the notional swept."""
    width = raw.shape[2]
    bot = tops[1, v]
    hi = min(j_thr, width - 1)
    if bot > hi:
        return 0.0
    swept = 0.0
    for t in range(raw.shape[1]):
        if tier_venue[t] != v:
            continue
        row = raw[1, t]
        part = 0.0
        for j in range(max(bot, 0), hi + 1):
            part += row[j]
            row[j] = 0.0
        sums[1, t] -= part
        swept += part * scale[t]
    tops[1, v] = hi + 1
    if hi + 1 >= width:
        for t in range(raw.shape[1]):
            if tier_venue[t] == v:
                sums[1, t] = 0.0
    return swept


@njit(cache=True, inline="always")
def _sweep(sweep_high, sweep_low, i, delta, tier_venue, raw, scale, sums, tops, base, swept_v):
    """3. Sweep: a long level is liquidated when the low reaches its bin centre, a short level when
    the high does, each venue by its own prices. Assumption: within a candle the sweep happens
    before the candle's new positions open (they cannot be liquidated by the same candle's range).
    ``sweep_high[i, v]``/``sweep_low[i, v]``: venue ``v``'s prices. Writes each venue's
    swept USD into ``swept_v``; returns (long, short) swept.
    """
    b0 = base[0]
    swept_l = 0.0
    swept_s = 0.0
    for v in range(swept_v.shape[0]):
        swept_v[v] = 0.0
        low = sweep_low[i, v]
        if not math.isnan(low):
            j_thr = int(math.ceil(math.log(low) / delta - 0.5)) - b0
            part = _sweep_long(raw, scale, sums, tops, tier_venue, v, j_thr)
            swept_l += part
            swept_v[v] += part
        high = sweep_high[i, v]
        if not math.isnan(high):
            j_thr = int(math.floor(math.log(high) / delta - 0.5)) - b0
            part = _sweep_short(raw, scale, sums, tops, tier_venue, v, j_thr)
            swept_s += part
            swept_v[v] += part
    return swept_l, swept_s


@njit(cache=True, inline="always")
def _resweep(
    sweep_high,
    sweep_low,
    ic_long,
    ic_short,
    i,
    delta,
    tier_venue,
    raw,
    scale,
    sums,
    new_top,
    new_bot,
    base,
):
    """5b. Same-candle liquidations: a share (``ic_long[i, v]``, ``ic_short[i, v]``) of the
    notional the candle itself opened beyond its own low (longs) or high (shorts) is liquidated
    within it (those positions opened before the extreme). Older levels there were swept in step
    3, so only this candle's inflow is touched: per tier, the bins up to ``new_top[t]`` (longs) or
    from ``new_bot[t]`` (shorts) that :func:`_inflow` wrote. Returns (long, short) swept.
    """
    width = raw.shape[2]
    b0 = base[0]
    swept_l = 0.0
    swept_s = 0.0
    for v in range(int(tier_venue[-1]) + 1):
        low = sweep_low[i, v]
        frac = ic_long[i, v]
        if frac > 0.0 and not math.isnan(low):
            lo = max(int(math.ceil(math.log(low) / delta - 0.5)) - b0, 0)
            for t in range(raw.shape[1]):
                if tier_venue[t] != v:
                    continue
                top = min(new_top[t], width - 1)
                if top < lo:
                    continue
                row = raw[0, t]
                part = 0.0
                for j in range(lo, top + 1):
                    x = row[j] * frac
                    row[j] -= x
                    part += x
                sums[0, t] -= part
                swept_l += part * scale[t]
        high = sweep_high[i, v]
        frac = ic_short[i, v]
        if frac > 0.0 and not math.isnan(high):
            hi = min(int(math.floor(math.log(high) / delta - 0.5)) - b0, width - 1)
            for t in range(raw.shape[1]):
                if tier_venue[t] != v:
                    continue
                bot = max(new_bot[t], 0)
                if bot > hi:
                    continue
                row = raw[1, t]
                part = 0.0
                for j in range(bot, hi + 1):
                    x = row[j] * frac
                    row[j] -= x
                    part += x
                sums[1, t] -= part
                swept_s += part * scale[t]
    return swept_l, swept_s


@njit(cache=True, inline="always")
def _reconcile(
    raw, scale, sums, base, tier_venue, low, high, delta, n_band, rate, rec_l, rec_s, sw_l, sw_s
):
    """6c. Where the recording shows the map is off on a side, the reference venue's pending
    levels within ``n_band`` bins beyond the candle's low (longs) or high (shorts), the next ones
    price would reach, are scaled by exp(rate x log(recorded / swept)) of that side (clipped to
    +-1 in the log). Nothing without recorded and swept USD on the side.
    """
    width = raw.shape[2]
    b0 = base[0]
    for side in range(2):
        rec = rec_l if side == 0 else rec_s
        swept = sw_l if side == 0 else sw_s
        if not (rec > 0.0 and swept > 0.0):
            continue
        f = math.exp(rate * min(max(math.log(rec / swept), -1.0), 1.0))
        if side == 0:
            j_thr = int(math.ceil(math.log(low) / delta - 0.5)) - b0  # first bin the low swept
            lo_j = max(j_thr - n_band, 0)
            hi_j = min(j_thr - 1, width - 1)
        else:
            j_thr = int(math.floor(math.log(high) / delta - 0.5)) - b0  # last bin the high swept
            lo_j = max(j_thr + 1, 0)
            hi_j = min(j_thr + n_band, width - 1)
        for t in range(raw.shape[1]):
            if tier_venue[t] != 0:
                continue
            row = raw[side, t]
            part = 0.0
            for j in range(lo_j, hi_j + 1):
                part += row[j]
                row[j] *= f
            sums[side, t] += part * (f - 1.0)


@njit(cache=True, inline="always")
def _recorded(
    rec_long, rec_short, swept_l, swept_s, real_ring, real_count, real_pos, log_gain, rate, row, r0
):
    """6b. Recorded liquidations: their columns, the live accuracy over the last candles that had
    them (correlation of log(1 + USD), both sides; swept over recorded USD), and assimilation:
    ``log_gain`` moves by ``rate`` x log(recorded / swept), clipped to +-1 per candle, for the
    next candles' inflow.
    """
    row[r0] = rec_long
    row[r0 + 1] = rec_short
    width = real_ring.shape[1]
    if not (math.isnan(rec_long) or math.isnan(rec_short)):
        p = real_pos[0]
        real_ring[0, p] = swept_l
        real_ring[1, p] = swept_s
        real_ring[2, p] = rec_long
        real_ring[3, p] = rec_short
        real_pos[0] = (p + 1) % width
        if real_count[0] < width:
            real_count[0] += 1
        est = swept_l + swept_s
        rec = rec_long + rec_short
        if rate > 0.0 and est > 0.0 and rec > 0.0:
            step = min(max(math.log(rec / est), -1.0), 1.0)
            log_gain[0] = min(max(log_gain[0] + rate * step, -20.0), 20.0)
    m = real_count[0]
    if m < 10:
        row[r0 + 2] = np.nan
        row[r0 + 3] = np.nan
        return
    first = real_pos[0] - m  # oldest first (deterministic order)
    sx = 0.0
    sy = 0.0
    se = 0.0
    sr = 0.0
    for k in range(m):
        idx = (first + k) % width
        for side in range(2):
            sx += math.log1p(real_ring[side, idx])
            sy += math.log1p(real_ring[2 + side, idx])
            se += real_ring[side, idx]
            sr += real_ring[2 + side, idx]
    mx = sx / (2 * m)
    my = sy / (2 * m)
    cxy = 0.0
    cxx = 0.0
    cyy = 0.0
    for k in range(m):
        idx = (first + k) % width
        for side in range(2):
            dx = math.log1p(real_ring[side, idx]) - mx
            dy = math.log1p(real_ring[2 + side, idx]) - my
            cxy += dx * dy
            cxx += dx * dx
            cyy += dy * dy
    row[r0 + 2] = cxy / math.sqrt(cxx * cyy) if cxx > 0.0 and cyy > 0.0 else np.nan
    row[r0 + 3] = se / sr if sr > 0.0 else np.nan


@njit(cache=True, inline="always")
def _close_out(oi_in, turnover, i, tier_venue, raw, scale, sums, prev_oi, swept_v, oi_known):
    """4. Open interest: a fall first pays for this candle's liquidations on that venue (they reduce
    OI too); the rest, plus the venue's turnover (positions closed to make room for as many
    opened), closes the venue's positions proportionally at every level. Sets ``oi_known[v]`` (OI
    known now and at the previous candle); returns the USD closed.
    """
    closed = 0.0
    for v in range(oi_known.shape[0]):
        before = prev_oi[v]
        oi = oi_in[i, v]
        oi_known[v] = not (math.isnan(oi) or math.isnan(before)) and before > 0.0
        if oi_known[v]:
            voluntary = max((before - oi) - swept_v[v], 0.0) + turnover[i, v]
            if voluntary > 0.0:
                frac = min(voluntary / before, 1.0)
                for t in range(scale.shape[0]):
                    if tier_venue[t] == v:
                        closed += _tier_total(sums, t) * scale[t] * frac
                        scale[t] *= 1.0 - frac
    # fold tiny lazy scales (long decay, a full close-out) back into the bins before the inflow
    # divides by them
    for t in range(scale.shape[0]):
        if scale[t] < RENORM_BELOW:
            f = scale[t]
            for s in range(2):
                for j in range(raw.shape[2]):
                    raw[s, t, j] *= f
                sums[s, t] *= f
            scale[t] = 1.0
    return closed


@njit(cache=True, inline="always")
def _deposit(raw, s, t, a, b, x, delta, b0):
    """Add ``x`` spread evenly over the log prices ``a .. b`` (``a <= b``) to the window row
    ``raw[s, t]`` (bin ``j`` holds global bin ``b0 + j``; levels beyond an edge go to the edge
    bin). Each bin gets ``x`` times the share of ``a .. b`` it covers; a point (``a == b``) goes
    to one bin. Returns (lowest, highest) window bin written.
    """
    width = raw.shape[2]
    g_a = int(math.floor(a / delta))
    g_b = int(math.floor(b / delta))
    if g_b <= g_a:
        j = min(max(g_a - b0, 0), width - 1)
        raw[s, t, j] += x
        return j, j
    per = x / (b - a)
    inc = per * delta
    j_lo = min(max(g_a - b0, 0), width - 1)
    j_hi = min(max(g_b - b0, 0), width - 1)
    raw[s, t, j_lo] += per * ((g_a + 1) * delta - a)
    # the whole bins between, in window bins i0 .. i1; those beyond an edge go to the edge bin
    i0 = g_a + 1 - b0
    i1 = g_b - 1 - b0
    if i1 >= i0:
        n_below = min(i1, -1) - i0 + 1
        if n_below > 0:
            raw[s, t, 0] += n_below * inc
        n_above = i1 - max(i0, width) + 1
        if n_above > 0:
            raw[s, t, width - 1] += n_above * inc
        # unsigned indices (in range by the clamps): numba drops the negative-index checks and
        # vectorises, without the reference counting a slice view would cost on every call
        lo = np.uint64(max(i0, 0))
        for k in range(lo, np.uint64(min(i1, width - 1) + 1)):
            raw[s, t, k] += inc
    raw[s, t, j_hi] += per * (b - g_b * delta)
    return j_lo, j_hi


@njit(cache=True, inline="always")
def _inflow(
    oi_in,
    vol_inflow,
    turnover,
    entry_low,
    entry_high,
    long_share,
    i,
    tier_venue,
    weights,
    ln_ratio_long,
    ln_ratio_short,
    ln_near_long,
    ln_near_short,
    delta,
    raw,
    scale,
    sums,
    tops,
    base,
    prev_oi,
    oi_known,
    new_top,
    new_bot,
    gain,
):
    """5. Inflow: the rise in OI plus the turnover when OI is known on this and the previous
    candle, else the volume rule, times ``gain`` (what assimilation has learnt; 1 without);
    opened evenly over the entry prices, split long/short and over the tiers, each tier spread
    over the liquidation prices of its leverages. Returns (USD, venues on OI).
    """
    b0 = base[0]
    inflow = 0.0
    n_oi = 0
    for t in range(new_top.shape[0]):  # the bins this candle writes, per tier (for _resweep)
        new_top[t] = -1
        new_bot[t] = raw.shape[2]
    for v in range(oi_known.shape[0]):
        oi = oi_in[i, v]
        if oi_known[v]:
            x_v = max(oi - prev_oi[v], 0.0) + turnover[i, v]
            n_oi += 1
        else:
            x_v = vol_inflow[i, v]
        x_v *= gain
        prev_oi[v] = oi
        e_lo = entry_low[i, v]
        e_hi = entry_high[i, v]
        if not (x_v > 0.0) or math.isnan(e_lo) or math.isnan(e_hi):
            continue
        inflow += x_v
        ln_lo = math.log(e_lo)
        ln_hi = math.log(e_hi)
        ls = long_share[i, v]
        for t in range(scale.shape[0]):
            if tier_venue[t] != v:
                continue
            x = x_v * weights[t]
            if x <= 0.0:
                continue
            val = x * ls / scale[t]
            _, j = _deposit(
                raw, 0, t, ln_lo + ln_ratio_long[t], ln_hi + ln_near_long[t], val, delta, b0
            )
            new_top[t] = j
            sums[0, t] += val
            if ls > 0.0 and j > tops[0, v]:
                tops[0, v] = j
            val = x * (1.0 - ls) / scale[t]
            j, _ = _deposit(
                raw, 1, t, ln_lo + ln_near_short[t], ln_hi + ln_ratio_short[t], val, delta, b0
            )
            new_bot[t] = j
            sums[1, t] += val
            if ls < 1.0 and j < tops[1, v]:
                tops[1, v] = j
    return inflow, n_oi


@njit(cache=True, inline="always")
def _vol_update(vol, ln_close, dt, half_life_s, vol_w):
    """Realised variance: ``vol[0]``, an exponentially weighted mean (half-life ``half_life_s``
    of wall clock) of the squared close-to-close log returns per second, ``vol[1]`` the seconds of
    returns seen, ``vol[2]`` the last log close. ``vol_w`` caches the average's weight for the
    time step ``vol_w[0]`` (candles are usually evenly spaced). The one implementation: the map's
    volatility targeting and :func:`realised_variance` both step it.
    """
    prev = vol[2]
    vol[2] = ln_close
    if dt > 0.0 and not math.isnan(prev):
        r = ln_close - prev
        x = r * r / dt
        if vol[1] == 0.0:
            vol[0] = x
        else:
            if dt != vol_w[0]:
                vol_w[1] = 1.0 - math.exp(-_LN2 * dt / half_life_s)
                vol_w[0] = dt
            vol[0] += vol_w[1] * (x - vol[0])
        vol[1] += dt


@njit(cache=True, inline="always")
def _vol_multiplier(vol, ln_close, dt, exponent, ref_var, half_life_s, vol_w):
    """5a. Volatility targeting: ``(ref_var / realised variance) ** (exponent / 2)``, clipped to
    0.25 .. 4, once a half-life of returns has been seen (1 before, and when ``exponent`` is 0).
    ``vol`` (see :class:`~liq_indicator.core.model.MapState`) takes this candle's close-to-close
    log return first (:func:`_vol_update`): the multiplier uses prices up to the candle's close.
    """
    if exponent == 0.0:
        vol[2] = ln_close
        return 1.0
    _vol_update(vol, ln_close, dt, half_life_s, vol_w)
    if vol[1] < half_life_s or not vol[0] > 0.0:
        return 1.0
    return min(max((ref_var / vol[0]) ** (0.5 * exponent), 0.25), 4.0)


@njit(cache=True)
def realised_variance(ln_close, time_s, half_life_s):
    """The map's realised variance per second known at each candle's close (:func:`_vol_update`
    over the candles from a fresh state); NaN before the first return.
    """
    n = ln_close.shape[0]
    out = np.full(n, np.nan)
    vol = np.array([0.0, 0.0, np.nan])
    vol_w = np.full(2, -1.0)
    for i in range(n):
        dt = time_s[i] - time_s[i - 1] if i > 0 else 0.0
        _vol_update(vol, ln_close[i], dt, half_life_s, vol_w)
        if vol[1] > 0.0:
            out[i] = vol[0]
    return out


@njit(cache=True, inline="always")
def _timeframe_multiplier(vol, dt, exponent):
    """5a. Candle-length correction: ``(shortest spacing seen / 300 s) ** -exponent`` (1 before a
    spacing is seen, and when ``exponent`` is 0); recomputed only when the shortest spacing
    changes (``vol[3]``, ``vol[4]``).
    """
    if exponent == 0.0:
        return 1.0
    if dt > 0.0 and (vol[3] == 0.0 or dt < vol[3]):
        vol[3] = dt
        vol[4] = (dt / 300.0) ** -exponent
    return vol[4]


@njit(cache=True, fastmath=_FAST, inline="always")
def _profiles(raw, scale, n_prof, n_short, j_close, lwin, lprof, sprof, lcum, scum):
    """Tier-summed profiles around price: ``lprof[d]`` long USD ``d`` bins below price's bin,
    ``sprof[d]`` short USD ``d`` above (``n_prof`` / ``n_short`` bins), and their running sums.

    Built forward over the window (vectorised: unsigned indices, in range because price stays in
    the window's middle half, need no negative-index checks), the long side then read back
    reversed.
    """
    j0 = np.uint64(j_close - (n_prof - 1))
    jc = np.uint64(j_close)
    st = scale[0]
    for m in range(np.uint64(n_prof)):
        lwin[m] = raw[0, 0, j0 + m] * st
    for m in range(np.uint64(n_short)):
        sprof[m] = raw[1, 0, jc + m] * st
    for t in range(1, scale.shape[0]):
        st = scale[t]
        for m in range(np.uint64(n_prof)):
            lwin[m] += raw[0, t, j0 + m] * st
        for m in range(np.uint64(n_short)):
            sprof[m] += raw[1, t, jc + m] * st
    # the two running sums in one loop: each chains one addition's latency per bin, and side by
    # side the two chains overlap (same additions in the same order as two loops)
    cum_l = 0.0
    cum_s = 0.0
    for d in range(n_short):
        lprof[d] = lwin[n_prof - 1 - d]
        cum_l += lprof[d]
        lcum[d] = cum_l
        cum_s += sprof[d]
        scum[d] = cum_s
    for d in range(n_short, n_prof):
        lprof[d] = lwin[n_prof - 1 - d]
        cum_l += lprof[d]
        lcum[d] = cum_l


@njit(cache=True, inline="always")
def _past_price(raw, scale, tops, tier_venue, j_close):
    """USD of levels already past price (a long level above the close, a short one below): the
    nearest of all, so every band includes them. Returns (long, short).
    """
    long_past = 0.0
    short_past = 0.0
    for t in range(scale.shape[0]):
        top = tops[0, tier_venue[t]]
        if top > j_close:
            part = 0.0
            for j in range(j_close + 1, top + 1):
                part += raw[0, t, j]
            long_past += part * scale[t]
        bot = tops[1, tier_venue[t]]
        if bot < j_close:
            part = 0.0
            for j in range(bot, j_close):
                part += raw[1, t, j]
            short_past += part * scale[t]
    return long_past, short_past


@njit(cache=True, inline="always")
def nearest_cluster(prof, cum, n_prof, half, thr, out):
    """The dense-cluster rule, compiled: the nearest dense run in ``prof[:n_prof]`` (index 0 =
    price's bin, rising = away from price); ``cum`` is the running sum of ``prof``.

    A bin ``d`` is dense when the sum of ``prof`` over ``[d - half, d + half]`` (clipped to the
    profile) is at least ``thr * (2 * half + 1)``. The run is trimmed to the bins that hold notional.
    Writes (peak d, near d, far d, notional) into out[0:4]; d = -1 when there is none. The plain
    definition is :func:`liq_indicator.core.clusters.dense_runs` (tests hold the two equal).
    """
    out[0] = -1.0
    out[1] = -1.0
    out[2] = -1.0
    out[3] = 0.0
    if thr <= 0.0:
        return
    need = thr * (2 * half + 1)
    start = -1
    stop = -1
    for d in range(n_prof):
        hi = cum[min(d + half, n_prof - 1)]
        box = hi - cum[d - half - 1] if d - half - 1 >= 0 else hi
        dense = box >= need
        if dense and start < 0:
            start = d
        if start >= 0:
            if dense:
                stop = d
            else:
                break
    if start < 0:
        return
    # trimmed to the bins that hold notional; its notional from the running sum (one subtraction,
    # not a serial sum over the run: the run is often 30-60 bins long, on every candle)
    near = start
    while near <= stop and not prof[near] > 0.0:
        near += 1
    if near > stop:
        return
    far = stop
    while not prof[far] > 0.0:
        far -= 1
    notional = cum[far] - cum[near - 1] if near > 0 else cum[far]
    best = 0.0
    for d in range(np.uint64(near), np.uint64(far + 1)):
        best = max(best, prof[d])
    peak = -1
    # the peak: the nearest bin within PEAK_TIE of the largest (a leverage band spreads evenly, so
    # many bins are equal but for rounding; the tolerance makes the choice not depend on it)
    for d in range(near, far + 1):
        if prof[d] >= best * (1.0 - PEAK_TIE):
            peak = d
            break
    out[0] = peak
    out[1] = near
    out[2] = far
    out[3] = notional


@njit(cache=True, inline="always")
def _cluster_columns(
    c_side,
    c_share,
    n_shares,
    delta,
    tier_venue,
    raw,
    scale,
    close,
    k_close,
    j_close,
    side,
    found,
    share,
    row,
):
    """The nearest cluster's columns on one side (0: long, below price; 1: short, above), from
    column ``c_side`` (and ``n_shares`` venue shares from ``c_share``).
    """
    sign = -1 if side == 0 else 1
    if found[0] < 0.0:
        row[c_side + K_PRICE] = np.nan
        row[c_side + K_NEAR] = np.nan
        row[c_side + K_FAR] = np.nan
        row[c_side + K_USD] = 0.0
        row[c_side + K_DIST] = np.nan
        for v in range(n_shares):
            row[c_share + v] = np.nan
        return
    near_d = int(found[1])
    far_d = int(found[2])
    row[c_side + K_PRICE] = math.exp((k_close + sign * found[0] + 0.5) * delta)
    # edges: the bound of the nearest bin facing price, the bound of the farthest away
    row[c_side + K_NEAR] = math.exp((k_close + sign * near_d + (1.0 if side == 0 else 0.0)) * delta)
    row[c_side + K_FAR] = math.exp((k_close + sign * far_d + (0.0 if side == 0 else 1.0)) * delta)
    row[c_side + K_USD] = found[3]
    row[c_side + K_DIST] = -sign * (close - row[c_side + K_PRICE]) / close * 100.0
    if n_shares:  # each venue's share of the cluster's notional
        for v in range(n_shares):
            share[v] = 0.0
        for t in range(scale.shape[0]):
            part = 0.0
            for d in range(near_d, far_d + 1):
                part += raw[side, t, j_close + sign * d]
            share[tier_venue[t]] += part * scale[t]
        for v in range(n_shares):
            row[c_share + v] = share[v] / found[3]


@njit(cache=True, inline="always")
def _features(
    params,
    raw,
    scale,
    sums,
    tops,
    base,
    ring,
    ring_count,
    ring_pos,
    close,
    ln_close,
    k_close,
    scratch,
    row,
):
    """6. Pending totals, bands, nearest clusters and growth, measured from the close (the flows
    are written by :func:`run`).
    """
    delta, tier_venue, columns = params.delta, params.tier_venue, params.columns
    band_ln_lo, band_ln_hi = params.band_ln_lo, params.band_ln_hi
    n_prof, n_short, smooth_half = params.n_prof, params.n_short, params.smooth_half
    density, growth_band, growth_n = params.density, params.growth_band, params.growth_n
    lwin, lprof, sprof, lcum, scum, found, share = scratch[:7]
    j_close = k_close - base[0]
    pend_l = 0.0
    pend_s = 0.0
    for t in range(scale.shape[0]):
        pend_l += sums[0, t] * scale[t]
        pend_s += sums[1, t] * scale[t]
    row[C_PENDING_LONG] = max(pend_l, 0.0)
    row[C_PENDING_SHORT] = max(pend_s, 0.0)

    _profiles(raw, scale, n_prof, n_short, j_close, lwin, lprof, sprof, lcum, scum)
    long_past, short_past = _past_price(raw, scale, tops, tier_venue, j_close)
    near_growth = 0.0
    c = columns.bands
    for b in range(band_ln_lo.shape[0]):
        d_lo = k_close - int(math.floor((ln_close + band_ln_lo[b]) / delta))
        d_hi = int(math.floor((ln_close + band_ln_hi[b]) / delta)) - k_close
        bl = long_past + lcum[min(d_lo, n_prof - 1)]
        bs = short_past + scum[min(d_hi, n_short - 1)]
        row[c] = bl
        row[c + 1] = bs
        row[c + 2] = (bs - bl) / (bs + bl) if bs + bl > 0.0 else 0.0
        c += 3
        if b == growth_band:
            near_growth = bl + bs

    # significance: a cluster must be `density` times denser than the mean bin within the search
    # range on both sides of price
    thr = density * (lcum[n_prof - 1] + scum[n_short - 1]) / (n_prof + n_short)
    n_shares = columns.n_venue_shares
    nearest_cluster(lprof, lcum, n_prof, smooth_half, thr, found)
    _cluster_columns(
        columns.long_cluster,
        columns.shares,
        n_shares,
        delta,
        tier_venue,
        raw,
        scale,
        close,
        k_close,
        j_close,
        0,
        found,
        share,
        row,
    )
    nearest_cluster(sprof, scum, n_short, smooth_half, thr, found)
    _cluster_columns(
        columns.short_cluster,
        columns.shares + n_shares,
        n_shares,
        delta,
        tier_venue,
        raw,
        scale,
        close,
        k_close,
        j_close,
        1,
        found,
        share,
        row,
    )

    # growth of near-price pending notional over growth_n candles, in [-1, 1]
    pos = ring_pos[0]
    if ring_count[0] >= growth_n:
        old = ring[pos]
        tot = near_growth + old
        row[columns.growth] = (near_growth - old) / tot if tot > 0.0 else 0.0
    else:
        row[columns.growth] = np.nan
        ring_count[0] += 1
    ring[pos] = near_growth
    ring_pos[0] = (pos + 1) % growth_n


@njit(cache=True, inline="always")
def _snapshot(raw, scale, base, heat_rows, heat_lo, grid, keep_max, i, snap_i):
    """7. Heatmap: the pending map at the candles in ``heat.rows`` (or, with ``keep_max``, the
    bin-wise maximum over each bucket of candles ending at those rows). Returns the next snapshot.
    Called only while snapshots remain (``snap_i < len(heat.rows)``): :func:`run` tests that first,
    so the usual no-heatmap run does not assemble this step's arguments on every candle.
    """
    n_snap = heat_rows.shape[0]
    b0 = base[0]
    width = raw.shape[2]
    lo = max(heat_lo, b0)
    hi = min(heat_lo + grid.shape[2], b0 + width)
    if keep_max or heat_rows[snap_i] == i:
        for s in range(2):
            for g in range(lo, hi):
                acc = 0.0
                for t in range(scale.shape[0]):
                    acc += raw[s, t, g - b0] * scale[t]
                if keep_max:
                    if acc > grid[s, snap_i, g - heat_lo]:
                        grid[s, snap_i, g - heat_lo] = acc
                else:
                    grid[s, snap_i, g - heat_lo] = acc
    while snap_i < n_snap and heat_rows[snap_i] == i:
        snap_i += 1
    return snap_i


@njit(cache=True)
def run(inputs, params, state, out, heat):
    """Advance the map over every candle of ``inputs`` and write its features into ``out``.

    Args:
        inputs: :class:`~liq_indicator.core.model.KernelInputs` (C-contiguous float64).
        params: :class:`~liq_indicator.core.model.KernelParams`.
        state: :class:`~liq_indicator.core.model.MapState`, advanced in place.
        out: ``(n, params.columns.width)`` float64, one row of features per candle, in the order of
            :func:`liq_indicator.columns.feature_columns`.
        heat: :class:`~liq_indicator.core.model.HeatRequest` (``no_heat()`` for none).
    """
    raw = state.raw
    n_tiers = state.scale.shape[0]
    n_venues = state.tops.shape[1]
    n_prof = params.n_prof
    # scratch arrays of the steps, allocated here: the loop below runs without the runtime
    scratch = Scratch(
        np.zeros(n_prof),  # lwin
        np.zeros(n_prof),  # lprof
        np.zeros(n_prof),  # sprof
        np.zeros(n_prof),  # lcum
        np.zeros(n_prof),  # scum
        np.zeros(4),  # found
        np.zeros(n_venues),  # share
        np.zeros(n_venues),  # swept_v
        np.zeros(n_venues, dtype=np.bool_),  # oi_known
        np.ones(n_tiers),  # decay_f
        np.full(n_tiers, -1, dtype=np.int64),  # new_top
        np.full(n_tiers, raw.shape[2], dtype=np.int64),  # new_bot
        np.full(1, -1.0),  # last_dt
        np.full(2, -1.0),  # vol_w
    )
    _candles(inputs, params, state, out, heat, scratch)


# Without numba's reference-counting runtime (``_nrt=False``): the loop allocates nothing, and
# with the runtime every array handed to an inlined step is counted in and out on every candle
# (atomic operations that took about a third of the kernel's time). Arrays keep their owners:
# ``run`` holds the scratch arrays, the caller the rest, for the whole call.
@njit(cache=True, _nrt=False)  # type: ignore[call-overload]  # (numba's own option, unstubbed)
def _candles(inputs, params, state, out, heat, scratch):
    """The per-candle loop of :func:`run`."""
    # unpacked once: the steps take plain arrays (_features takes the profile's own)
    swept_v, oi_known, decay_f, new_top, new_bot, last_dt, vol_w = scratch[7:]
    (
        time_s,
        closes,
        sweep_high,
        sweep_low,
        entry_low,
        entry_high,
        vol_inflow,
        turnover,
        ic_long,
        ic_short,
        oi,
        long_share,
        real_long,
        real_short,
    ) = inputs
    raw, scale, sums, tops, base, prev_time, prev_oi, ring, ring_count, ring_pos, totals = state[
        :11
    ]
    real_ring, real_count, real_pos, log_gain, vol = state[11:]
    vol_target, vol_ref_var, vol_half_life_s = (
        params.vol_target,
        params.vol_ref_var,
        params.vol_half_life_s,
    )
    timeframe_exponent = params.timeframe_exponent
    assimilation = params.assimilation
    reconcile_bins = params.reconcile_bins
    r0 = params.columns.real
    heat_rows, heat_lo, grid, keep_max = heat
    delta, tier_venue, ln_ratio_long, ln_ratio_short, ln_near_long, ln_near_short = params[:6]
    weights, decay_rate = params.weights, params.decay_rate
    n = closes.shape[0]
    n_venues = tops.shape[1]
    snap_i = 0
    n_snap = heat_rows.shape[0]
    for i in range(n):
        close = closes[i]
        ln_close = math.log(close)
        k_close = int(math.floor(ln_close / delta))
        if math.isnan(prev_time[0]):
            _start(raw, base, prev_time, k_close, time_s[i])
        dt = time_s[i] - prev_time[0]
        decayed = _decay(decay_rate, scale, sums, dt, decay_f, last_dt)
        vol_f = _vol_multiplier(vol, ln_close, dt, vol_target, vol_ref_var, vol_half_life_s, vol_w)
        vol_f *= _timeframe_multiplier(vol, dt, timeframe_exponent)
        dropped = _keep_centred(raw, scale, sums, tops, base, totals, k_close)
        swept_l, swept_s = _sweep(
            sweep_high, sweep_low, i, delta, tier_venue, raw, scale, sums, tops, base, swept_v
        )
        closed = _close_out(
            oi, turnover, i, tier_venue, raw, scale, sums, prev_oi, swept_v, oi_known
        )
        inflow, n_oi = _inflow(
            oi,
            vol_inflow,
            turnover,
            entry_low,
            entry_high,
            long_share,
            i,
            tier_venue,
            weights,
            ln_ratio_long,
            ln_ratio_short,
            ln_near_long,
            ln_near_short,
            delta,
            raw,
            scale,
            sums,
            tops,
            base,
            prev_oi,
            oi_known,
            new_top,
            new_bot,
            math.exp(log_gain[0]) * vol_f,
        )
        more_l, more_s = _resweep(
            sweep_high,
            sweep_low,
            ic_long,
            ic_short,
            i,
            delta,
            tier_venue,
            raw,
            scale,
            sums,
            new_top,
            new_bot,
            base,
        )
        swept_l += more_l
        swept_s += more_s
        totals[T_INFLOW] += inflow
        totals[T_SWEPT_LONG] += swept_l
        totals[T_SWEPT_SHORT] += swept_s
        totals[T_DECAYED] += decayed
        totals[T_CLOSED] += closed
        prev_time[0] = time_s[i]

        row = out[i]
        row[C_SWEPT_LONG] = swept_l
        row[C_SWEPT_SHORT] = swept_s
        row[C_INFLOW] = inflow
        row[C_DECAYED] = decayed
        row[C_CLOSED] = closed
        row[C_DROPPED] = dropped
        row[C_OI_MODE] = n_oi / n_venues
        _features(
            params,
            raw,
            scale,
            sums,
            tops,
            base,
            ring,
            ring_count,
            ring_pos,
            close,
            ln_close,
            k_close,
            scratch,
            row,
        )
        _recorded(
            real_long[i],
            real_short[i],
            swept_l,
            swept_s,
            real_ring,
            real_count,
            real_pos,
            log_gain,
            assimilation,
            row,
            r0,
        )
        if reconcile_bins > 0 and assimilation > 0.0:
            _reconcile(
                raw,
                scale,
                sums,
                base,
                tier_venue,
                sweep_low[i, 0],
                sweep_high[i, 0],
                delta,
                reconcile_bins,
                assimilation,
                real_long[i],
                real_short[i],
                swept_l,
                swept_s,
            )
        if snap_i < n_snap:
            snap_i = _snapshot(raw, scale, base, heat_rows, heat_lo, grid, keep_max, i, snap_i)
