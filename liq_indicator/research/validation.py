"""How well the liquidation map matches what really got liquidated: metrics and experiments.

Three layers, all pure functions on arrays and frames (no file I/O, no plotting; the
``liq-indicator validate`` command reads the data, calls these and writes docs/VALIDATION.md):

* **Metrics** on arrays: :func:`spearman`, :func:`oos_r2_gain`, :func:`top_overlap`,
  :func:`direction_hit_rate`, :func:`top_share_capture`.
* **The simulator's ground truth**: its exact liquidations and pending map against the estimate
  (:func:`sim_accuracy`, :func:`sim_map_profiles`), the optional section of the report.

The real-data experiments (every truth series, every cell, the fills) are in
:mod:`liq_indicator.research.accuracy`.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from liq_indicator.config import HeatmapConfig
from liq_indicator.core.grid import price_to_bin
from liq_indicator.core.inputs import infer_timeframe, utc_us
from liq_indicator.errors import InputError
from liq_indicator.estimator import MapCursor, liquidation_features
from liq_indicator.io.ohlcv import OHLCV_AGG, resample_ohlcv
from liq_indicator.research.metrics import TopOverlap, _pair, bar_sums, spearman, top_overlap

__all__ = [
    "SIDES",
    "DirectionHits",
    "R2Gain",
    "TopOverlap",
    "adverse_range",
    "direction_hit_rate",
    "hourly_sum",
    "on_buckets",
    "oos_r2_gain",
    "r2_score",
    "resample_candles",
    "sim_accuracy",
    "sim_map_profiles",
    "spearman",
    "top_overlap",
    "top_share_capture",
]

SIDES = ("long", "short")


# ================================================================================================
# metrics on arrays
# ================================================================================================
def r2_score(y: Any, pred: Any) -> float:
    """Coefficient of determination ``1 - SSE / SST`` with SST around the mean of ``y`` itself
    (for an out-of-sample score: the test part's own mean, as scikit-learn's ``r2_score``).
    """
    a, b = _pair(y, pred)
    sst = float(((a - a.mean()) ** 2).sum())
    return 1.0 - float(((a - b) ** 2).sum()) / sst if sst > 0 else math.nan


def _design(*columns: np.ndarray) -> np.ndarray:
    return np.column_stack([np.ones(columns[0].shape[0]), *columns])


@dataclass(frozen=True)
class R2Gain:
    """Out-of-sample R² of ``y ~ base`` and of ``y ~ base + extra`` (ordinary least squares
    with intercept, fitted on one part and scored on another).
    """

    base: float
    combined: float
    n_fit: int
    n_test: int
    coef: tuple[float, ...] = ()
    """Intercept, base and extra coefficients of the combined fit."""

    @property
    def gain(self) -> float:
        """``combined - base``: the extra series' out-of-sample information beyond the base."""
        return self.combined - self.base


def oos_r2_gain(y: Any, base: Any, extra: Any, fit: Any, test: Any) -> R2Gain:
    """Fit ``y ~ 1 + base`` and ``y ~ 1 + base + extra`` on rows ``fit``; score both on ``test``.

    Args:
        y: the target, a numeric series (transform it, e.g. ``log1p``, first).
        base: the base predictor, of ``y``'s length.
        extra: the extra predictor, of ``y``'s length.
        fit: boolean mask of the rows to fit on (rows with a NaN anywhere are dropped).
        test: boolean mask of the rows to score on, disjoint from ``fit`` for an honest
            out-of-sample figure.

    Returns:
        :class:`R2Gain` with both R² (``r2_score`` on the test rows) and their difference.
    """
    yv, bv, ev = (np.asarray(v, dtype=np.float64).ravel() for v in (y, base, extra))
    fm = np.asarray(fit, dtype=bool).ravel()
    tm = np.asarray(test, dtype=bool).ravel()
    if not (yv.size == bv.size == ev.size == fm.size == tm.size):
        raise InputError("y, base, extra, fit and test must have one length")
    if (fm & tm).any():
        raise InputError(
            "the fit and test rows overlap; an out-of-sample score needs disjoint parts"
        )
    ok = np.isfinite(yv) & np.isfinite(bv) & np.isfinite(ev)
    fm, tm = fm & ok, tm & ok
    if fm.sum() < 4 or tm.sum() < 3:
        raise InputError(f"too few rows to fit ({int(fm.sum())}) or score ({int(tm.sum())})")
    c1, *_ = np.linalg.lstsq(_design(bv[fm]), yv[fm], rcond=None)
    c2, *_ = np.linalg.lstsq(_design(bv[fm], ev[fm]), yv[fm], rcond=None)
    r_base = r2_score(yv[tm], _design(bv[tm]) @ c1)
    r_comb = r2_score(yv[tm], _design(bv[tm], ev[tm]) @ c2)
    return R2Gain(r_base, r_comb, int(fm.sum()), int(tm.sum()), tuple(float(c) for c in c2))


@dataclass(frozen=True)
class DirectionHits:
    """How often a side call matches the side that really liquidated more."""

    hit_rate: float
    n: int


def direction_hit_rate(
    est_long: Any, est_short: Any, real_long: Any, real_short: Any, mask: Any = None
) -> DirectionHits:
    """Share of rows where ``est_long > est_short`` agrees with ``real_long > real_short``.

    Rows where the estimate ties (no call, e.g. both zero) or the real sides tie are left out, as
    are rows outside ``mask`` (e.g. hours with trivial real liquidations).
    """
    el, es, rl, rs = (
        np.asarray(v, dtype=np.float64).ravel()
        for v in (est_long, est_short, real_long, real_short)
    )
    keep = (el != es) & (rl != rs) & np.isfinite(el + es + rl + rs)
    if mask is not None:
        keep &= np.asarray(mask, dtype=bool).ravel()
    n = int(keep.sum())
    if n == 0:
        return DirectionHits(math.nan, 0)
    hits = int(((el > es) == (rl > rs))[keep].sum())
    return DirectionHits(hits / n, n)


# ================================================================================================
# hour tables: estimate vs real liquidations vs naive baselines
# ================================================================================================
def adverse_range(candles: pd.DataFrame, side: str) -> np.ndarray:
    """How far a candle moved against a side, as a fraction of its open.

    Longs: ``(open - low) / open`` (the drop from the open that liquidates longs); shorts:
    ``(high - open) / open``.
    """
    o = candles["open"].to_numpy(dtype=np.float64)
    if side == "long":
        return (o - candles["low"].to_numpy(dtype=np.float64)) / o
    if side == "short":
        return (candles["high"].to_numpy(dtype=np.float64) - o) / o
    raise InputError(f"side must be 'long' or 'short', got {side!r}")


def hourly_sum(
    frame: pd.DataFrame,
    columns: Sequence[str],
    *,
    per: str = "1h",
    timeframe: str | pd.Timedelta | None = None,
) -> pd.DataFrame:
    """:func:`~liq_indicator.research.metrics.bar_sums` with the bar length as ``per``."""
    return bar_sums(frame, per, columns=columns, timeframe=timeframe)


def _maps_at(
    candles: pd.DataFrame,
    rows: np.ndarray,
    config: HeatmapConfig,
    range_pct: float,
    open_interest: pd.DataFrame | None = None,
) -> dict[int, Any]:
    """The estimated map (a LiquidationMap) at the close of each candle in ``rows``."""
    cursor = MapCursor(candles, config, open_interest=open_interest)
    return {int(r): cursor.map_at(int(r), price_range_pct=range_pct) for r in np.unique(rows)}


# ================================================================================================
# the simulator's ground truth
# ================================================================================================
def on_buckets(prices: Any, values: Any, first: int, n: int, bucket_bp: float) -> np.ndarray:
    """Sum ``values`` into ``n`` consecutive grid buckets of ``bucket_bp`` starting at global
    bucket ``first`` (see grid.py); values outside are ignored.
    """
    k = price_to_bin(np.asarray(prices, dtype=np.float64), bucket_bp) - first
    ok = (k >= 0) & (k < n)
    return np.bincount(k[ok], weights=np.asarray(values, dtype=np.float64)[ok], minlength=n)


def top_share_capture(estimate: Any, truth: Any, top_share: float) -> tuple[float, float, float]:
    """How much of ``truth`` lies in the top buckets of ``estimate``, against chance.

    Args:
        estimate: estimated notional per bucket of a universe of buckets (e.g. those the price
            crossed).
        truth: true notional per bucket of the same universe (e.g. liquidated USD by the
            bucket of the liquidated level).
        top_share: the top buckets are those whose estimate is at least the
            ``(1 - top_share)`` quantile over the universe and above zero.

    Returns:
        (share of truth in the top buckets, share of the universe's buckets that are top: the
        share a map with no information would capture on average, truth total).
    """
    est = np.asarray(estimate, dtype=np.float64)
    tru = np.asarray(truth, dtype=np.float64)
    total = float(tru.sum())
    if est.size == 0:
        return math.nan, math.nan, 0.0
    top = (est >= np.quantile(est, 1.0 - top_share)) & (est > 0)
    share = float(tru[top].sum()) / total if total > 0 else math.nan
    return share, float(top.mean()), total


def resample_candles(candles: pd.DataFrame, per: str) -> pd.DataFrame:
    """OHLCV candles aggregated to ``per`` (open first, high max, low min, close last, volume sum)."""
    return resample_ohlcv(candles[["date", *OHLCV_AGG]], per)


def sim_accuracy(
    result: Any,
    config: HeatmapConfig | None = None,
    *,
    use_oi: bool = True,
    skip: str = "7D",
    per: str = "1h",
    bucket_bp: float = 50.0,
    range_pct: float = 15.0,
    top_share: float = 0.2,
) -> dict[str, Any]:
    """Accuracy of the estimator against a :class:`~liq_indicator.sim.market.SimResult`'s exact truth.

    * **Swept per hour** (``per``): Spearman of the estimated swept notional against the
      simulator's liquidated USD per side, beside the naive baselines (adverse range x volume, x
      open interest at the bar's open), the out-of-sample R² gain over the volume baseline (fit
      on the first half of the bars, scored on the second) and top-5% precision.
    * **Pending map**: at each truth snapshot, both maps are summed into ``bucket_bp`` buckets
      within ``range_pct`` of the close (longs below, shorts above) and rank-correlated.
    * **Top clusters**: the estimated top ``top_share`` of those buckets, and the share of the
      liquidations of the next interval (until the next snapshot; level = the position's
      liquidation price) that fall in them, among the buckets the mark price actually crossed;
      chance is the top buckets' share of those crossed buckets, and the same figure with the
      true map's top buckets is the reference of a perfect snapshot (not a ceiling: positions
      opened after the snapshot are in neither map).

    The first ``skip`` of candles is left out of every figure (both maps start empty). The
    simulator's candles should be finer than ``per`` (5m for hourly figures).

    Returns:
        Flat dict of the figures (per side where it applies) and counts.
    """
    cfg = config or HeatmapConfig()
    candles = result.candles.assign(date=utc_us(result.candles["date"]))
    tf = infer_timeframe(candles["date"])
    oi = result.oi[["date", "open_interest_value"]] if use_oi else None
    feats = liquidation_features(candles, cfg, open_interest=oi)
    truth = result.truth
    start = candles["date"].iloc[0] + pd.Timedelta(skip)
    per_candle = pd.DataFrame(
        {
            "date": candles["date"],
            "est_long": feats["liq_swept_long_usd"].to_numpy(),
            "est_short": feats["liq_swept_short_usd"].to_numpy(),
            "real_long": truth["liq_long_usd"].to_numpy(dtype=np.float64),
            "real_short": truth["liq_short_usd"].to_numpy(dtype=np.float64),
        }
    )
    hours = hourly_sum(
        per_candle, ["est_long", "est_short", "real_long", "real_short"], per=per, timeframe=tf
    )
    bars = resample_candles(candles, per).set_index("date").reindex(hours.index)
    # open interest at each bar's open: the value at the close of the bar before
    oi_close = pd.Series(
        result.oi["open_interest_value"].to_numpy(dtype=np.float64),
        index=utc_us(result.oi["date"]) + tf,
    )
    later = hours.index >= start
    oi_open = oi_close.reindex(hours.index).to_numpy()[later]
    hours, bars = hours[later], bars[later]
    out: dict[str, Any] = {"bars": len(hours), "per": per}
    half = np.arange(len(hours)) < len(hours) // 2
    vol_usd = (bars["volume"] * bars["close"]).to_numpy()
    for side in SIDES:
        real = hours[f"real_{side}"].to_numpy()
        est = hours[f"est_{side}"].to_numpy()
        adv = adverse_range(bars, side)
        out[f"{side}_spearman_swept"] = spearman(est, real)
        out[f"{side}_spearman_vol"] = spearman(adv * vol_usd, real)
        out[f"{side}_spearman_oi"] = spearman(adv * oi_open, real)
        out[f"{side}_zero_share"] = float((est <= 0).mean())
        out[f"{side}_zero_share_real"] = float((real <= 0).mean())
        g = oos_r2_gain(np.log1p(real), np.log1p(adv * vol_usd), np.log1p(est), half, ~half)
        out[f"{side}_r2_gain_vol"] = g.gain
        out[f"{side}_top_precision_map"] = top_overlap(est, real, 0.05).precision
        out[f"{side}_top_precision_vol"] = top_overlap(adv * vol_usd, real, 0.05).precision

    # maps at the truth snapshots: key every snapshot by its candle's close time
    true_map = result.liq_map
    snap_close = (utc_us(true_map["date"]) + tf).asi8
    closes = utc_us(candles["date"]) + tf
    by_close = {int(k): g for k, g in true_map.groupby(snap_close, sort=True)}
    first_close = (utc_us([start]) + tf).asi8[0]
    keys = np.array([k for k in by_close if k >= first_close], dtype=np.int64)
    rows = np.searchsorted(closes.asi8, keys)
    rows = rows[(rows < len(closes)) & (closes.asi8[np.minimum(rows, len(closes) - 1)] == keys)]
    maps = _maps_at(candles, rows, cfg, range_pct=range_pct + 5.0, open_interest=oi)
    liq = result.liquidations
    liq_t = utc_us(liq["date"])
    mark_lo = truth["mark_low"].to_numpy(dtype=np.float64)
    mark_hi = truth["mark_high"].to_numpy(dtype=np.float64)
    rho: dict[str, list[float]] = {s: [] for s in SIDES}
    cap = {
        s: {"est": 0.0, "true": 0.0, "chance": 0.0, "chance_true": 0.0, "total": 0.0} for s in SIDES
    }
    d = bucket_bp
    reach = int(math.ceil(math.log1p(range_pct / 100) / math.log1p(d / 1e4)))
    liq_side = {s: (liq["side"] == s).to_numpy() for s in SIDES}
    liq_price = liq["liq_price"].to_numpy(dtype=np.float64)
    liq_usd = liq["liquidated_usd"].to_numpy(dtype=np.float64)
    liq_ns = liq_t.asi8
    for n_i, r in enumerate(rows):
        m = maps[int(r)]
        close = float(candles["close"].iloc[r])
        t_close = closes.asi8[r]
        tm = by_close[int(t_close)]
        t_end = closes.asi8[rows[n_i + 1]] if n_i + 1 < len(rows) else closes.asi8[-1]
        nxt = slice(r + 1, int(np.searchsorted(closes.asi8, t_end, side="right")))
        in_next = (liq_ns > t_close) & (liq_ns <= t_end)
        k_close = int(price_to_bin(close, d))
        for side in SIDES:
            # buckets on the side's half: longs from close - reach up to close, shorts upwards
            first = k_close - reach if side == "long" else k_close
            est_b = on_buckets(
                m.bin_prices, m.long if side == "long" else m.short, first, reach + 1, d
            )
            true_b = on_buckets(
                tm["price"].to_numpy(), tm[f"{side}_usd"].to_numpy(), first, reach + 1, d
            )
            rho[side].append(spearman(est_b, true_b))
            if nxt.stop <= nxt.start:
                continue
            sel = in_next & liq_side[side]
            liq_b = on_buckets(liq_price[sel], liq_usd[sel], first, reach + 1, d)
            # the universe: buckets the mark price crossed during the interval
            if side == "long":
                k_far = int(price_to_bin(mark_lo[nxt].min(), d))
                crossed = slice(max(k_far - first, 0), reach + 1)
            else:
                k_far = int(price_to_bin(mark_hi[nxt].max(), d))
                crossed = slice(0, min(k_far - first, reach) + 1)
            s_est, ch_est, total = top_share_capture(est_b[crossed], liq_b[crossed], top_share)
            s_true, ch_true, _ = top_share_capture(true_b[crossed], liq_b[crossed], top_share)
            if total > 0 and np.isfinite(s_est) and np.isfinite(s_true):
                c = cap[side]
                c["est"] += s_est * total
                c["true"] += s_true * total
                c["chance"] += ch_est * total
                c["chance_true"] += ch_true * total
                c["total"] += total
    out["snapshots"] = len(rows)
    for side in SIDES:
        vals = np.asarray(rho[side], dtype=np.float64)
        out[f"{side}_map_spearman_mean"] = (
            float(np.nanmean(vals)) if np.isfinite(vals).any() else math.nan
        )
        out[f"{side}_map_spearman_median"] = (
            float(np.nanmedian(vals)) if np.isfinite(vals).any() else math.nan
        )
        c = cap[side]
        tot = c["total"]
        out[f"{side}_liquidated_usd"] = tot
        out[f"{side}_in_top_est"] = c["est"] / tot if tot > 0 else math.nan
        out[f"{side}_in_top_true"] = c["true"] / tot if tot > 0 else math.nan
        out[f"{side}_chance_est"] = c["chance"] / tot if tot > 0 else math.nan
        out[f"{side}_chance_true"] = c["chance_true"] / tot if tot > 0 else math.nan
    return out


def sim_map_profiles(
    result: Any,
    config: HeatmapConfig | None = None,
    *,
    snapshot: int = -1,
    use_oi: bool = True,
    bucket_bp: float = 50.0,
    range_pct: float = 15.0,
) -> pd.DataFrame:
    """True and estimated pending maps at one truth snapshot, in ``bucket_bp`` buckets.

    Args:
        result: a :class:`~liq_indicator.sim.market.SimResult` with a non-empty ``liq_map``.
        config: the estimator's settings (``HeatmapConfig()`` when None).
        snapshot: position among the snapshot times (``-1``: the last).
        use_oi: feed the estimator the simulated open interest (else volume inflow).
        bucket_bp: bucket width in basis points.
        range_pct: half-width of the returned price range around the close, in %.

    Returns:
        One row per bucket within ``range_pct`` of the close: ``price`` (bucket centre),
        ``est_long``, ``est_short``, ``true_long``, ``true_short`` (USD); ``attrs`` hold the
        ``close`` and ``time``.
    """
    cfg = config or HeatmapConfig()
    candles = result.candles.assign(date=utc_us(result.candles["date"]))
    tf = infer_timeframe(candles["date"])
    oi = result.oi[["date", "open_interest_value"]] if use_oi else None
    times = np.unique(utc_us(result.liq_map["date"]).asi8)
    if times.size == 0:
        raise InputError("the simulation holds no true map snapshot; simulate with snapshots")
    at = times[snapshot]
    row = int(np.searchsorted(utc_us(candles["date"]).asi8, at))
    m = _maps_at(candles, np.array([row]), cfg, range_pct=range_pct + 5.0, open_interest=oi)[row]
    tm = result.liq_map[utc_us(result.liq_map["date"]).asi8 == at]
    close = float(candles["close"].iloc[row])
    reach = int(math.ceil(math.log1p(range_pct / 100) / math.log1p(bucket_bp / 1e4)))
    first = int(price_to_bin(close, bucket_bp)) - reach
    n = 2 * reach + 1
    out = pd.DataFrame(
        {
            "price": np.exp((np.arange(first, first + n) + 0.5) * math.log1p(bucket_bp / 1e4)),
            "est_long": on_buckets(m.bin_prices, m.long, first, n, bucket_bp),
            "est_short": on_buckets(m.bin_prices, m.short, first, n, bucket_bp),
            "true_long": on_buckets(tm["price"], tm["long_usd"], first, n, bucket_bp),
            "true_short": on_buckets(tm["price"], tm["short_usd"], first, n, bucket_bp),
        }
    )
    out.attrs.update(close=close, time=pd.Timestamp(at, unit="us", tz="UTC") + tf)
    return out
