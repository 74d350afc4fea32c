"""A slow, obvious, plain-Python twin of :func:`liq_indicator.core.kernels.run`, used only by tests.

Same signature as the kernel: ``run(inputs, params, state, out, heat)`` with the NamedTuples of
:mod:`liq_indicator.core.model`. It keeps every level as a real USD amount in a dict keyed by global
grid bin (no lazy scaling, no window arrays, no running sums), applies each step of the model
literally, and recomputes every feature and heatmap column from scratch. It starts from an empty
map only, and leaves in ``state`` the final levels (scale 1), window base and totals. The fast
kernel must match it to rounding on random and edge inputs.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence

import numpy as np

from liq_indicator.core.clusters import dense_runs, held_span, peak_bin
from liq_indicator.core.model import TOTALS, HeatRequest, KernelInputs, KernelParams, MapState

__all__ = ["run"]


def run(
    inputs: KernelInputs, params: KernelParams, state: MapState, out: np.ndarray, heat: HeatRequest
) -> None:
    """The kernel's features (into ``out``) and heatmap (into ``heat.grid``), computed the slow way.

    Raises:
        ValueError: ``state`` is not an empty map (the twin does not resume).
    """
    if not np.isnan(state.prev_time[0]):
        raise ValueError("the reference kernel starts from an empty map (new_state)")
    p = params
    n_tiers = len(p.weights)
    n_venues = p.n_venues
    venue = [int(v) for v in p.tier_venue]
    (
        sweep_high,
        sweep_low,
        entry_low,
        entry_high,
        vol_inflow,
        turnover,
        ic_long,
        ic_short,
        oi_in,
        long_share,
        real_long,
        real_short,
    ) = (np.asarray(a, dtype=np.float64) for a in inputs[2:])
    n_bands = len(p.band_ln_lo)
    W = state.raw.shape[2]
    snap_i = 0
    # [side][tier] -> {bin: usd}
    levels: list[list[dict[int, float]]] = [[{} for _ in range(n_tiers)] for _ in range(2)]
    base: int | None = None
    prev_t = math.nan  # set at the first candle
    prev_oi = [math.nan] * n_venues
    history: list[float] = []
    recorded: list[tuple[float, float, float, float]] = []  # swept l, s, recorded l, s
    log_gain = 0.0
    var_s = 0.0  # realised variance of log returns per second (weighted mean)
    seen_s = 0.0  # seconds of returns in it
    prev_close = math.nan
    min_dt = 0.0  # the shortest candle spacing seen
    totals = dict(inflow=0.0, swept_long=0.0, swept_short=0.0, decayed=0.0, closed=0.0, dropped=0.0)

    def all_levels() -> Iterator[tuple[int, int, dict[int, float]]]:
        for s in range(2):
            for t in range(n_tiers):
                yield s, t, levels[s][t]

    for i in range(inputs.n_candles):
        t_i = float(inputs.time_s[i])
        close = float(inputs.close[i])  # the reference venue's
        k_close = math.floor(math.log(close) / p.delta)
        if base is None:
            base = k_close - W // 2
            prev_t = t_i

        # decay
        decayed = 0.0
        dt = t_i - prev_t
        if dt > 0:
            for _, t, lv in all_levels():
                f = math.exp(-p.decay_rate[t] * dt)
                for k in lv:
                    decayed += lv[k] * (1 - f)
                    lv[k] *= f

        # volatility targeting: the inflow multiplier, from returns up to this candle's close
        vol_f = 1.0
        if p.vol_target != 0.0:
            if dt > 0 and prev_close > 0:
                x = (math.log(close) - math.log(prev_close)) ** 2 / dt
                w = 1.0 - math.exp(-math.log(2.0) * dt / p.vol_half_life_s)
                var_s = x if seen_s == 0 else var_s + w * (x - var_s)
                seen_s += dt
            if seen_s >= p.vol_half_life_s and var_s > 0:
                vol_f = min(max((p.vol_ref_var / var_s) ** (p.vol_target / 2), 0.25), 4.0)
        prev_close = close
        if dt > 0 and (min_dt == 0 or dt < min_dt):
            min_dt = dt
        if p.timeframe_exponent != 0.0 and min_dt > 0:
            vol_f *= (min_dt / 300.0) ** -p.timeframe_exponent

        # recentre
        dropped = 0.0
        j = k_close - base
        if j < W // 4 or j >= W - W // 4:
            base = k_close - W // 2
            for _, _, lv in all_levels():
                for k in [k for k in lv if not (base <= k < base + W)]:
                    dropped += lv.pop(k)

        # sweep, each venue by its own prices (NaN: the venue has no candle here)
        swept_l = swept_s = 0.0
        swept_v = [0.0] * n_venues
        for v in range(n_venues):
            if not math.isnan(sweep_low[i, v]):
                g = math.ceil(math.log(sweep_low[i, v]) / p.delta - 0.5)
                part = sum(
                    levels[0][t].pop(k)
                    for t in range(n_tiers)
                    if venue[t] == v
                    for k in list(levels[0][t])
                    if k >= g
                )
                swept_l += part
                swept_v[v] += part
            if not math.isnan(sweep_high[i, v]):
                g = math.floor(math.log(sweep_high[i, v]) / p.delta - 0.5)
                part = sum(
                    levels[1][t].pop(k)
                    for t in range(n_tiers)
                    if venue[t] == v
                    for k in list(levels[1][t])
                    if k <= g
                )
                swept_s += part
                swept_v[v] += part

        # open interest close-out, per venue
        closed = 0.0
        known = []
        for v in range(n_venues):
            oi = float(oi_in[i, v])
            oi_known = not (math.isnan(oi) or math.isnan(prev_oi[v])) and prev_oi[v] > 0
            known.append(oi_known)
            if oi_known:
                voluntary = max((prev_oi[v] - oi) - swept_v[v], 0.0) + turnover[i, v]
                if voluntary > 0:
                    frac = min(voluntary / prev_oi[v], 1.0)
                    for _, t, lv in all_levels():
                        if venue[t] != v:
                            continue
                        for k in lv:
                            closed += lv[k] * frac
                            lv[k] *= 1 - frac

        # inflow, per venue
        inflow = 0.0
        for v in range(n_venues):
            oi = float(oi_in[i, v])
            x_v = (
                max(oi - prev_oi[v], 0.0) + float(turnover[i, v])
                if known[v]
                else float(vol_inflow[i, v])
            ) * (math.exp(log_gain) * vol_f)
            prev_oi[v] = oi
            if not (x_v > 0) or math.isnan(entry_low[i, v]) or math.isnan(entry_high[i, v]):
                continue
            inflow += x_v
            ln_lo, ln_hi = math.log(entry_low[i, v]), math.log(entry_high[i, v])
            ls = float(long_share[i, v])
            for t in range(n_tiers):
                if venue[t] != v:
                    continue
                x = x_v * p.weights[t]
                if x <= 0:
                    continue
                # liquidation log prices: entries low .. high, leverages far .. near
                for s_, a, b, share in (
                    (0, ln_lo + p.ln_ratio_long[t], ln_hi + p.ln_near_long[t], ls),
                    (1, ln_lo + p.ln_near_short[t], ln_hi + p.ln_ratio_short[t], 1 - ls),
                ):
                    for k, part in _spread(a, b, p.delta):
                        k = min(max(k, base), base + W - 1)
                        levels[s_][t][k] = levels[s_][t].get(k, 0.0) + x * share * part

        # same-candle liquidations: a share of what this candle opened beyond its own extremes
        for v in range(n_venues):
            f_long, f_short = float(ic_long[i, v]), float(ic_short[i, v])
            if f_long > 0 and not math.isnan(sweep_low[i, v]):
                g = math.ceil(math.log(sweep_low[i, v]) / p.delta - 0.5)
                for t in range(n_tiers):
                    if venue[t] == v:
                        for k in levels[0][t]:
                            if k >= g:
                                swept_l += levels[0][t][k] * f_long
                                levels[0][t][k] *= 1 - f_long
            if f_short > 0 and not math.isnan(sweep_high[i, v]):
                g = math.floor(math.log(sweep_high[i, v]) / p.delta - 0.5)
                for t in range(n_tiers):
                    if venue[t] == v:
                        for k in levels[1][t]:
                            if k <= g:
                                swept_s += levels[1][t][k] * f_short
                                levels[1][t][k] *= 1 - f_short
        totals["inflow"] += inflow
        totals["swept_long"] += swept_l
        totals["swept_short"] += swept_s
        totals["decayed"] += decayed
        totals["closed"] += closed
        totals["dropped"] += dropped
        prev_t = t_i

        # features
        def side_total(s: int) -> float:
            return sum(sum(lv.values()) for lv in levels[s])

        def at(s: int, k: int) -> float:
            return sum(levels[s][t].get(k, 0.0) for t in range(n_tiers))

        lprof = [at(0, k_close - d) for d in range(p.n_prof)]
        sprof = [at(1, k_close + d) for d in range(p.n_prof)]
        long_past = sum(v for lv in levels[0] for k, v in lv.items() if k > k_close)
        short_past = sum(v for lv in levels[1] for k, v in lv.items() if k < k_close)
        row = [
            swept_l,
            swept_s,
            max(side_total(0), 0.0),
            max(side_total(1), 0.0),
            inflow,
            decayed,
            closed,
            dropped,
            sum(known) / n_venues,
        ]
        near_growth = 0.0
        ln_close = math.log(close)
        for b in range(n_bands):
            d_lo = k_close - math.floor((ln_close + p.band_ln_lo[b]) / p.delta)
            d_hi = math.floor((ln_close + p.band_ln_hi[b]) / p.delta) - k_close
            bl = long_past + sum(lprof[: min(d_lo, p.n_prof - 1) + 1])
            bs = short_past + sum(sprof[: min(d_hi, p.n_prof - 1) + 1])
            row += [bl, bs, (bs - bl) / (bs + bl) if bs + bl > 0 else 0.0]
            if b == p.growth_band:
                near_growth = bl + bs
        thr = p.density * (sum(lprof) + sum(sprof[: p.n_short])) / (p.n_prof + p.n_short)
        shares = []
        for s, prof, n in ((0, lprof, p.n_prof), (1, sprof, p.n_short)):
            found = _cluster(prof[:n], p.smooth_half, thr, s, k_close, close, p.delta)
            row += found[0]
            if n_venues > 1:  # venue shares of the cluster's bins
                bins = found[1]
                by_venue = [
                    sum(
                        levels[s][t].get(k, 0.0)
                        for t in range(n_tiers)
                        if venue[t] == v
                        for k in bins
                    )
                    for v in range(n_venues)
                ]
                shares += [b / found[0][3] if bins else math.nan for b in by_venue]
        if len(history) >= p.growth_n:
            old = history[-p.growth_n]
            row.append((near_growth - old) / (near_growth + old) if near_growth + old > 0 else 0.0)
        else:
            row.append(math.nan)
        row += shares
        history.append(near_growth)
        # recorded liquidations: the columns, the accuracy over the last real_window candles that
        # had them, and assimilation of log(recorded / swept) into the next candles' inflow
        r_l, r_s = float(real_long[i]), float(real_short[i])
        if not (math.isnan(r_l) or math.isnan(r_s)):
            recorded.append((swept_l, swept_s, r_l, r_s))
            if p.assimilation > 0 and swept_l + swept_s > 0 and r_l + r_s > 0:
                step = min(max(math.log((r_l + r_s) / (swept_l + swept_s)), -1.0), 1.0)
                log_gain = min(max(log_gain + p.assimilation * step, -20.0), 20.0)
        last = recorded[-p.real_window :]
        corr = ratio = math.nan
        if len(last) >= 10:
            xs = [math.log1p(e) for a in last for e in a[:2]]
            ys = [math.log1p(r) for a in last for r in a[2:]]
            mx, my = sum(xs) / len(xs), sum(ys) / len(ys)
            cxy = sum((x - mx) * (y - my) for x, y in zip(xs, ys, strict=True))
            cxx = sum((x - mx) ** 2 for x in xs)
            cyy = sum((y - my) ** 2 for y in ys)
            corr = cxy / math.sqrt(cxx * cyy) if cxx > 0 and cyy > 0 else math.nan
            rec = sum(a[2] + a[3] for a in last)
            ratio = sum(a[0] + a[1] for a in last) / rec if rec > 0 else math.nan
        row += [r_l, r_s, corr, ratio]
        out[i] = row
        # reconciliation: the reference venue's levels next to the candle's extremes follow the
        # side's recorded / swept ratio
        if p.assimilation > 0 and p.reconcile_bins > 0:
            n_b = p.reconcile_bins
            for s_, rec, swept, price in (
                (0, r_l, swept_l, sweep_low[i, 0]),
                (1, r_s, swept_s, sweep_high[i, 0]),
            ):
                if not (rec > 0 and swept > 0):
                    continue
                f = math.exp(p.assimilation * min(max(math.log(rec / swept), -1.0), 1.0))
                if s_ == 0:
                    g = math.ceil(math.log(price) / p.delta - 0.5)
                    ks = range(max(g - n_b, base), min(g - 1, base + W - 1) + 1)
                else:
                    g = math.floor(math.log(price) / p.delta - 0.5)
                    ks = range(max(g + 1, base), min(g + n_b, base + W - 1) + 1)
                for t in range(n_tiers):
                    if venue[t] == 0:
                        for k in ks:
                            if k in levels[s_][t]:
                                levels[s_][t][k] *= f

        # heatmap: every bin of the grid inside the window, at the snapshot rows (or their bucket max)
        if snap_i < len(heat.rows):
            if heat.keep_max or heat.rows[snap_i] == i:
                for s in range(2):
                    for k in range(max(heat.lo, base), min(heat.lo + heat.grid.shape[2], base + W)):
                        value = at(s, k)
                        cell = heat.grid[s, snap_i, k - heat.lo]
                        heat.grid[s, snap_i, k - heat.lo] = (
                            max(cell, value) if heat.keep_max else value
                        )
            if heat.rows[snap_i] == i:
                snap_i += 1

    if base is not None:  # the final map, in the kernel's state layout
        state.base[0] = base
        state.prev_time[0] = prev_t
        state.scale[:] = 1.0
        state.raw[:] = 0.0
        for s, t, lv in all_levels():
            for k, value in lv.items():
                state.raw[s, t, k - base] = value
        state.sums[:] = state.raw.sum(axis=2)
        state.prev_oi[:] = prev_oi
    state.totals[:] = [totals[k] for k in TOTALS]


def _spread(a: float, b: float, delta: float) -> list[tuple[int, float]]:
    """(global bin, share) of the log prices ``a .. b`` each bin covers; a point is one bin."""
    first, last = math.floor(a / delta), math.floor(b / delta)
    if last <= first:
        return [(first, 1.0)]
    return [
        (k, (min(b, (k + 1) * delta) - max(a, k * delta)) / (b - a)) for k in range(first, last + 1)
    ]


def _cluster(
    prof: Sequence[float],
    half: int,
    thr: float,
    side: int,
    k_close: int,
    close: float,
    delta: float,
) -> tuple[list[float], list[int]]:
    """The nearest dense run (:func:`~liq_indicator.core.clusters.dense_runs`), trimmed."""
    none: tuple[list[float], list[int]] = ([math.nan, math.nan, math.nan, 0.0, math.nan], [])
    runs = dense_runs(np.asarray(prof), half, thr)
    span = held_span(np.asarray(prof), *runs[0]) if runs else None
    if span is None:
        return none
    near, far = span
    held = [d for d in range(near, far + 1) if prof[d] > 0]
    peak = peak_bin(np.asarray(prof), near, far)
    notional = sum(prof[d] for d in held)
    sign = -1 if side == 0 else 1
    kp, kn, kf = k_close + sign * peak, k_close + sign * near, k_close + sign * far
    price = math.exp((kp + 0.5) * delta)
    if side == 0:
        near_p, far_p = math.exp((kn + 1) * delta), math.exp(kf * delta)
        dist = (close - price) / close * 100
    else:
        near_p, far_p = math.exp(kn * delta), math.exp((kf + 1) * delta)
        dist = (price - close) / close * 100
    bins = [k_close + sign * d for d in range(near, far + 1)]
    return [price, near_p, far_p, notional, dist], bins
