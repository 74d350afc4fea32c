"""Compiled kernels of the liquidation map: float64 arrays in, arrays out; no pandas.

One kernel, :func:`run`, advances an explicit state over a block of candles and writes one row of
features per candle. The batch path calls it once over all candles; the live path calls it once per
candle on the same state, so both execute the same floating-point operations in the same order and
agree bit for bit.

State layout (all arrays are owned by the caller and modified in place):

* ``raw[side, tier, j]`` - pending notional of window bin ``j`` divided by ``scale[tier]``
  (side 0 = long levels, 1 = short levels). Bin ``j`` is global grid bin ``base + j``. A tier is
  one leverage on one venue (``tier_venue[tier]``); several venues share one grid.
* ``scale[tier]`` - lazy multiplier shared by both sides of a tier: decay and the proportional
  open-interest close-out are uniform across a tier's levels, so they touch one number, not the
  whole grid. Renormalised into ``raw`` before it underflows.
* ``sums[side, tier]`` - running sum of ``raw`` (for the flow accounting).
* ``istate`` - [initialised, base, ring_count, ring_pos].
* ``tops[0, venue]`` - highest window bin that may hold the venue's long notional (-1: none);
  ``tops[1, venue]`` the lowest that may hold its short notional (W: none).
* ``fstate`` - [prev_time_s, prev_oi of each venue].
* ``ring`` - last ``growth_candles`` values of near-price pending notional.
* ``totals`` - cumulative [inflow, swept_long, swept_short, decayed, closed, dropped] (USD).
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit

__all__ = ["run", "n_features", "RENORM_BELOW"]

RENORM_BELOW = 1e-100
"""A tier's lazy scale is folded back into its bins when it falls below this."""

# column offsets of the feature matrix (see n_features)
C_SWEPT_L, C_SWEPT_S, C_PEND_L, C_PEND_S = 0, 1, 2, 3
C_INFLOW, C_DECAYED, C_CLOSED, C_DROPPED, C_OI_MODE = 4, 5, 6, 7, 8
C_BANDS = 9  # then 3 per band: long, short, imbalance
CLUSTER_COLS = 5  # peak, near edge, far edge, notional, distance %


def n_features(n_bands: int, n_venues: int = 1) -> int:
    """Number of feature columns :func:`run` writes (per-venue cluster shares only when > 1 venue)."""
    return C_BANDS + 3 * n_bands + 2 * CLUSTER_COLS + 1 + (2 * n_venues if n_venues > 1 else 0)


@njit(cache=True)
def _tier_total(sums, t):
    """Raw notional of one tier, both sides; the running sums may round a hair below zero."""
    return max(sums[0, t] + sums[1, t], 0.0)


@njit(cache=True)
def _recentre(raw, scale, sums, istate, tops, totals, new_base):
    """Shift the window so that its element 0 is global bin ``new_base``; count what falls off."""
    shift = new_base - istate[1]
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
            totals[5] += lost * scale[t]
            sums[s, t] -= lost
    istate[1] = new_base
    for v in range(tops.shape[1]):
        top = tops[0, v] - shift
        tops[0, v] = min(top, width - 1) if top >= 0 else -1
        bot = tops[1, v] - shift
        tops[1, v] = max(bot, 0) if bot < width else width


@njit(cache=True)
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


@njit(cache=True)
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


@njit(cache=True)
def _nearest_cluster(prof, n_prof, half, thr, out):
    """Find the nearest dense run in ``prof[:n_prof]`` (index 0 = price's bin, rising = away).

    A bin is dense when the mean of ``prof`` over ``[d - half, d + half]`` is at least ``thr``.
    The run is trimmed to the bins that hold notional. Writes (peak d, near d, far d, notional)
    into out[0:4]; d = -1 when there is none.
    """
    out[0] = -1.0
    out[1] = -1.0
    out[2] = -1.0
    out[3] = 0.0
    if thr <= 0.0:
        return
    need = thr * (2 * half + 1)
    box = 0.0
    for e in range(0, min(half, n_prof - 1) + 1):
        box += prof[e]
    start = -1
    stop = -1
    for d in range(n_prof):
        if d > 0:
            enter = d + half
            if enter < n_prof:
                box += prof[enter]
            leave = d - half - 1
            if leave >= 0:
                box -= prof[leave]
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
    near = -1
    far = -1
    peak = -1
    best = 0.0
    notional = 0.0
    for d in range(start, stop + 1):
        v = prof[d]
        if v > 0.0:
            if near < 0:
                near = d
            far = d
            notional += v
            if v > best:
                best = v
                peak = d
    if near < 0:
        return
    out[0] = peak
    out[1] = near
    out[2] = far
    out[3] = notional


@njit(cache=True)
def run(
    time_s, close, sweep_high, sweep_low, entry, vol_inflow, oi, long_share,
    delta, tier_venue, ln_ratio_long, ln_ratio_short, weights, decay_rate,
    band_ln_lo, band_ln_hi, n_prof, n_short, smooth_half, density, growth_band, growth_n,
    raw, scale, sums, istate, tops, fstate, ring, totals,
    out, snap_rows, snap_lo, heat, heat_max,
):
    """Advance the map over candles ``0..n-1`` of the inputs and write features into ``out``.

    Args (per candle; ``(n,)`` or ``(n, venues)``, float64):
        time_s (n,): candle time in seconds (any fixed origin; only differences are used).
        close (n,): close of the reference venue; features are measured from it.
        sweep_high, sweep_low (n, V): prices that trigger a venue's short / long levels (mark
            high/low or traded); NaN where the venue has no candle (its levels then stay).
        entry (n, V): price at which the venue's new positions open (NaN: none open).
        vol_inflow (n, V): new notional under the volume rule.
        oi (n, V): open interest in USD, NaN where unknown.
        long_share (n, V): fraction of new notional that is long, in [0, 1].
    Params:
        delta: log bin width; tier_venue[tier]: the venue of each tier; ln_ratio_long/short[tier]:
        ln(liquidation price / entry price) with the venue's brackets; weights[tier] (summing to 1
        per venue); decay_rate[tier]: ln 2 / half-life in seconds; band_ln_lo/hi[band]:
        ln(1 -/+ band); n_prof / n_short: bins searched below / above price (incl. price's
        bin) for the bands and clusters (n_short <= n_prof); smooth_half: half-width of the box
        filter; density: cluster threshold multiple; growth_band: index of the growth band;
        growth_n: growth look-back in candles.
    State: see the module docstring. Outputs: ``out[n, n_features]``; ``heat[2, n_snap, bins]``
    receives the pending map at the candles listed (ascending, unique) in ``snap_rows`` for global
    bins ``snap_lo ..`` (``heat_max``: the maximum over the candles since the previous snapshot).
    """
    n = close.shape[0]
    n_tiers = raw.shape[1]
    width = raw.shape[2]
    n_venues = tops.shape[1]
    n_bands = band_ln_lo.shape[0]
    c_long = C_BANDS + 3 * n_bands
    c_short = c_long + CLUSTER_COLS
    c_growth = c_short + CLUSTER_COLS
    c_share = c_growth + 1
    lprof = np.zeros(n_prof)
    lwin = np.zeros(n_prof)
    sprof = np.zeros(n_prof)
    lcum = np.zeros(n_prof)
    scum = np.zeros(n_prof)
    found = np.zeros(4)
    share = np.zeros(n_venues)
    swept_v = np.zeros(n_venues)
    oi_known = np.zeros(n_venues, dtype=np.bool_)
    decay_f = np.ones(n_tiers)
    last_dt = -1.0
    snap_i = 0
    n_snap = snap_rows.shape[0]
    heat_bins = heat.shape[2]

    for i in range(n):
        ln_close = math.log(close[i])
        k_close = int(math.floor(ln_close / delta))

        # 0. first candle: centre the window on it
        if istate[0] == 0:
            istate[0] = 1
            istate[1] = k_close - width // 2
            for v in range(n_venues):
                tops[0, v] = -1
                tops[1, v] = width
                fstate[1 + v] = np.nan
            fstate[0] = time_s[i]

        # 1. decay: wall-clock time since the previous candle, per tier
        dt = time_s[i] - fstate[0]
        decayed = 0.0
        if dt > 0.0:
            if dt != last_dt:
                for t in range(n_tiers):
                    decay_f[t] = math.exp(-decay_rate[t] * dt)
                last_dt = dt
            for t in range(n_tiers):
                f = decay_f[t]
                decayed += _tier_total(sums, t) * scale[t] * (1.0 - f)
                scale[t] *= f

        # 2. keep price in the middle half of the window
        dropped_before = totals[5]
        j_close = k_close - istate[1]
        if j_close < width // 4 or j_close >= width - width // 4:
            _recentre(raw, scale, sums, istate, tops, totals, k_close - width // 2)
            j_close = k_close - istate[1]

        # 3. sweep: a long level is liquidated when the low reaches its bin centre, a short level
        #    when the high does, each venue by its own prices. Assumption: within a candle the
        #    sweep happens before the candle's new positions open (they cannot be liquidated by
        #    the same candle's range).
        swept_l = 0.0
        swept_s = 0.0
        for v in range(n_venues):
            swept_v[v] = 0.0
            if not math.isnan(sweep_low[i, v]):
                j_thr = int(math.ceil(math.log(sweep_low[i, v]) / delta - 0.5)) - istate[1]
                part = _sweep_long(raw, scale, sums, tops, tier_venue, v, j_thr)
                swept_l += part
                swept_v[v] += part
            if not math.isnan(sweep_high[i, v]):
                j_thr = int(math.floor(math.log(sweep_high[i, v]) / delta - 0.5)) - istate[1]
                part = _sweep_short(raw, scale, sums, tops, tier_venue, v, j_thr)
                swept_s += part
                swept_v[v] += part

        # 4. open interest: a fall first pays for this candle's liquidations on that venue (they
        #    reduce OI too); the rest closes the venue's positions proportionally at every level.
        closed = 0.0
        for v in range(n_venues):
            prev_oi = fstate[1 + v]
            oi_known[v] = not (math.isnan(oi[i, v]) or math.isnan(prev_oi)) and prev_oi > 0.0
            if oi_known[v] and oi[i, v] < prev_oi:
                voluntary = (prev_oi - oi[i, v]) - swept_v[v]
                if voluntary > 0.0:
                    frac = min(voluntary / prev_oi, 1.0)
                    for t in range(n_tiers):
                        if tier_venue[t] == v:
                            closed += _tier_total(sums, t) * scale[t] * frac
                            scale[t] *= 1.0 - frac

        # fold tiny lazy scales (long decay, a full close-out) back into the bins before the
        # inflow divides by them
        for t in range(n_tiers):
            if scale[t] < RENORM_BELOW:
                f = scale[t]
                for s in range(2):
                    for j in range(width):
                        raw[s, t, j] *= f
                    sums[s, t] *= f
                scale[t] = 1.0

        # 5. inflow: rise in OI when known on this and the previous candle, else the volume rule
        inflow = 0.0
        n_oi = 0
        for v in range(n_venues):
            if oi_known[v]:
                x_v = max(oi[i, v] - fstate[1 + v], 0.0)
                n_oi += 1
            else:
                x_v = vol_inflow[i, v]
            fstate[1 + v] = oi[i, v]
            if not (x_v > 0.0) or math.isnan(entry[i, v]):
                continue
            inflow += x_v
            ln_entry = math.log(entry[i, v])
            ls = long_share[i, v]
            for t in range(n_tiers):
                if tier_venue[t] != v:
                    continue
                x = x_v * weights[t]
                if x <= 0.0:
                    continue
                j = int(math.floor((ln_entry + ln_ratio_long[t]) / delta)) - istate[1]
                j = min(max(j, 0), width - 1)
                val = x * ls / scale[t]
                raw[0, t, j] += val
                sums[0, t] += val
                if ls > 0.0 and j > tops[0, v]:
                    tops[0, v] = j
                j = int(math.floor((ln_entry + ln_ratio_short[t]) / delta)) - istate[1]
                j = min(max(j, 0), width - 1)
                val = x * (1.0 - ls) / scale[t]
                raw[1, t, j] += val
                sums[1, t] += val
                if ls < 1.0 and j < tops[1, v]:
                    tops[1, v] = j

        totals[0] += inflow
        totals[1] += swept_l
        totals[2] += swept_s
        totals[3] += decayed
        totals[4] += closed
        fstate[0] = time_s[i]

        # 6. features, measured from the close
        row = out[i]
        row[C_SWEPT_L] = swept_l
        row[C_SWEPT_S] = swept_s
        pend_l = 0.0
        pend_s = 0.0
        for t in range(n_tiers):
            pend_l += sums[0, t] * scale[t]
            pend_s += sums[1, t] * scale[t]
        row[C_PEND_L] = max(pend_l, 0.0)
        row[C_PEND_S] = max(pend_s, 0.0)
        row[C_INFLOW] = inflow
        row[C_DECAYED] = decayed
        row[C_CLOSED] = closed
        row[C_DROPPED] = totals[5] - dropped_before
        row[C_OI_MODE] = n_oi / n_venues

        # profiles: lprof[d] = long notional d bins below price's bin, sprof[d] = short d bins
        # above. Built forward over the window slice (vectorisable), then read back reversed.
        j_close = k_close - istate[1]
        j0 = j_close - (n_prof - 1)
        for m in range(n_prof):
            lwin[m] = 0.0
            sprof[m] = 0.0
        for t in range(n_tiers):
            st = scale[t]
            rl = raw[0, t, j0:j_close + 1]
            rs = raw[1, t, j_close:j_close + n_prof]
            for m in range(n_prof):
                lwin[m] += rl[m] * st
                sprof[m] += rs[m] * st
        cum_l = 0.0
        cum_s = 0.0
        for d in range(n_prof):
            lprof[d] = lwin[n_prof - 1 - d]
            cum_l += lprof[d]
            cum_s += sprof[d]
            lcum[d] = cum_l
            scum[d] = cum_s
        # levels already past price (a long level above the close, a short one below) are the
        # nearest of all: every band includes them
        long_past = 0.0
        short_past = 0.0
        for t in range(n_tiers):
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

        near_growth = 0.0
        for b in range(n_bands):
            d_lo = k_close - int(math.floor((ln_close + band_ln_lo[b]) / delta))
            d_hi = int(math.floor((ln_close + band_ln_hi[b]) / delta)) - k_close
            bl = long_past + lcum[min(d_lo, n_prof - 1)]
            bs = short_past + scum[min(d_hi, n_prof - 1)]
            c = C_BANDS + 3 * b
            row[c] = bl
            row[c + 1] = bs
            row[c + 2] = (bs - bl) / (bs + bl) if bs + bl > 0.0 else 0.0
            if b == growth_band:
                near_growth = bl + bs

        # significance: a cluster must be `density` times denser than the mean bin within the
        # search range on both sides of price
        thr = density * (lcum[n_prof - 1] + scum[n_short - 1]) / (n_prof + n_short)
        # the nearest cluster on each side: side 0 searches lprof below price, side 1 sprof above
        for side in range(2):
            c_side = c_long if side == 0 else c_short
            sign = -1 if side == 0 else 1
            if side == 0:
                _nearest_cluster(lprof, n_prof, smooth_half, thr, found)
            else:
                _nearest_cluster(sprof, n_short, smooth_half, thr, found)
            if found[0] < 0.0:
                row[c_side] = np.nan
                row[c_side + 1] = np.nan
                row[c_side + 2] = np.nan
                row[c_side + 3] = 0.0
                row[c_side + 4] = np.nan
                for v in range(n_venues if n_venues > 1 else 0):
                    row[c_share + side * n_venues + v] = np.nan
                continue
            near_d = int(found[1])
            far_d = int(found[2])
            row[c_side] = math.exp((k_close + sign * found[0] + 0.5) * delta)
            # edges: the bound of the nearest bin facing price, the bound of the farthest away
            row[c_side + 1] = math.exp((k_close + sign * near_d + (1.0 if side == 0 else 0.0)) * delta)
            row[c_side + 2] = math.exp((k_close + sign * far_d + (0.0 if side == 0 else 1.0)) * delta)
            row[c_side + 3] = found[3]
            row[c_side + 4] = -sign * (close[i] - row[c_side]) / close[i] * 100.0
            if n_venues > 1:  # each venue's share of the cluster's notional
                for v in range(n_venues):
                    share[v] = 0.0
                for t in range(n_tiers):
                    part = 0.0
                    for d in range(near_d, far_d + 1):
                        part += raw[side, t, j_close + sign * d]
                    share[tier_venue[t]] += part * scale[t]
                for v in range(n_venues):
                    row[c_share + side * n_venues + v] = share[v] / found[3]

        # growth of near-price pending notional over growth_n candles, in [-1, 1]
        pos = istate[3]
        if istate[2] >= growth_n:
            old = ring[pos]
            tot = near_growth + old
            row[c_growth] = (near_growth - old) / tot if tot > 0.0 else 0.0
        else:
            row[c_growth] = np.nan
            istate[2] += 1
        ring[pos] = near_growth
        istate[3] = (pos + 1) % growth_n

        # 7. heatmap: the pending map at the candles in snap_rows ("last"), or the bin-wise maximum
        #    over each bucket of candles ending at those rows ("max": a cluster that formed and was
        #    swept between two snapshots still shows)
        if snap_i < n_snap:
            base = istate[1]
            lo = max(snap_lo, base)
            hi = min(snap_lo + heat_bins, base + width)
            if heat_max or snap_rows[snap_i] == i:
                for s in range(2):
                    for g in range(lo, hi):
                        acc = 0.0
                        for t in range(n_tiers):
                            acc += raw[s, t, g - base] * scale[t]
                        if heat_max:
                            if acc > heat[s, snap_i, g - snap_lo]:
                                heat[s, snap_i, g - snap_lo] = acc
                        else:
                            heat[s, snap_i, g - snap_lo] = acc
            while snap_i < n_snap and snap_rows[snap_i] == i:
                snap_i += 1
