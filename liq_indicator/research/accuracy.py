"""Out-of-sample accuracy of the map against real liquidations: when, how much, where.

The experiments behind docs/VALIDATION.md (``liq-indicator validate``), as pure functions of
frames already loaded (no file I/O, no plotting), each returning a tidy DataFrame:

* **When and how much** (:func:`series_scores`): one truth series of liquidated USD per bar
  against the map built from 5m, 1h and 4h candles, with volume or open-interest inflow, per
  side: Spearman of the map and of the naive baselines (adverse range x traded USD, adverse range
  x open interest) with moving-block bootstrap intervals, top-5% precision, the median
  ``log10(estimate / real)`` with its interval and log-log slope, and the share of bars that
  moved against the side but swept nothing.
* **Where** (:func:`fill_windows`, :func:`fill_summary`): individual fills with prices, one
  window (an hour by default) at a time, against the map as it stood at the close of the last
  candle before the window: earth mover's distance of the map's per-bin notional from the fills'
  USD over the bins the price crossed, against a flat spread and a 7-day volume profile; the
  share of fill USD in the map's densest 20% of those bins against chance; and how far the fills
  and the nearest estimated cluster were from the close.

Out of sample: :func:`series_scores` drops the bars a preset was fitted on (``exclude``); every
other bar of every series was never seen by the fit. The map itself is causal (each candle's map
uses only earlier candles), so scoring it is honest on any bar it did not calibrate on.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from liq_indicator.config import HeatmapConfig
from liq_indicator.core.inputs import infer_timeframe, utc_timestamp, utc_us
from liq_indicator.errors import InputError
from liq_indicator.estimator import MapCursor, liquidation_features
from liq_indicator.io.ohlcv import resample_ohlcv
from liq_indicator.research.calibration import bar_table, causal_value_at
from liq_indicator.research.metrics import (
    bootstrap_ci,
    densest_capture,
    emd_bp,
    log_ratio,
    no_sweep_share,
    spearman,
    top_precision,
)
from liq_indicator.research.truth import TruthSeries

__all__ = [
    "SIDES",
    "TIMEFRAMES",
    "SeriesInputs",
    "causal_value_at",
    "candle_set",
    "fill_summary",
    "fill_windows",
    "oi_frame",
    "score_bars",
    "series_scores",
    "volume_profile",
]

SIDES = ("long", "short")
TIMEFRAMES = ("5m", "1h", "4h")
"""Candle timeframes every series is scored with (a timeframe longer than the truth's bar is
skipped: its candles cannot make the bar)."""


# ================================================================================================
# inputs
# ================================================================================================
def oi_frame(bars: pd.DataFrame, *, value: str = "oi_close_usd") -> pd.DataFrame:
    """Open interest per bar (e.g. the CoinGlass 4h export) as a Freqtrade ``open_interest`` frame.

    Args:
        bars: ``date`` (bar start, UTC) and ``value``.
        value: the column holding the open interest in USD at the bar's **close**.

    Returns:
        ``date`` (bar start, us) and ``open_interest_value``: a row dated ``T`` is known at
        ``T + bar`` (how :func:`~liq_indicator.core.inputs.merge_causal` reads it), which is when
        the bar's closing OI is known.

    Raises:
        InputError: a column is missing or a value is not a positive number.
    """
    missing = [c for c in ("date", value) if c not in bars.columns]
    if missing:
        raise InputError(f"open-interest bars lack columns {missing}; have {list(bars.columns)}")
    v = pd.to_numeric(bars[value], errors="coerce").to_numpy(dtype=np.float64)
    if not (np.isfinite(v) & (v > 0)).all():
        raise InputError(f"open-interest column {value!r} holds missing or non-positive values")
    out = pd.DataFrame(
        {"date": utc_us(pd.to_datetime(bars["date"], utc=True)), "open_interest_value": v}
    )
    return out.sort_values("date", kind="stable").reset_index(drop=True)


def candle_set(
    candles_5m: pd.DataFrame, candles_1h: pd.DataFrame | None = None
) -> dict[str, pd.DataFrame]:
    """Candles of every scored timeframe: the 5m as given, 1h given or resampled, 4h resampled.

    4h candles are cut from the 1h (from the 5m when no 1h is given), anchored at midnight UTC as
    exchanges and the 4h truth bars are.
    """
    base = candles_5m.assign(date=utc_us(candles_5m["date"])).reset_index(drop=True)
    if candles_1h is None:
        hourly = resample_ohlcv(base, "1h")
    else:
        hourly = candles_1h.assign(date=utc_us(candles_1h["date"])).reset_index(drop=True)
    # resampled frames keep the dates' zone and unit (UTC, us)
    return {"5m": base, "1h": hourly, "4h": resample_ohlcv(hourly, "4h")}


@dataclass(frozen=True)
class SeriesInputs:
    """One truth series and the candles (and open interest) to score the map on it."""

    truth: TruthSeries
    candles: Mapping[str, pd.DataFrame]
    """Timeframe (``5m``, ``1h``, ``4h``) -> that venue's candles; see :func:`candle_set`."""
    open_interest: pd.DataFrame | None = None
    """Freqtrade ``open_interest`` frame for the OI inflow cells, or None (volume only)."""
    exclude: tuple[Any, Any] | None = None
    """``(first_bar, last_bar)`` a preset was calibrated on: those bars are not scored."""
    notes: list[str] = field(default_factory=list)
    """What was done to the inputs, for the report."""


# ================================================================================================
# when and how much
# ================================================================================================
def _ci(stat: Any, *arrays: np.ndarray, n_boot: int, seed: int) -> tuple[float, float, float]:
    if arrays[0].shape[0] < 3:
        return math.nan, math.nan, math.nan
    return bootstrap_ci(stat, *arrays, n_boot=n_boot, seed=seed)


def _median_log_ratio(est: np.ndarray, real: np.ndarray) -> float:
    return log_ratio(est, real).median


def score_bars(
    table: pd.DataFrame, side: str, *, n_boot: int = 300, seed: int = 0, top_share: float = 0.05
) -> dict[str, Any]:
    """Every when/how-much figure of one side on the bars of a table (see :func:`series_scores`).

    Args:
        table: :func:`~liq_indicator.research.calibration.bar_table` rows in time order
            (``real_``, ``est_``, ``base_vol_``, ``base_oi_``, ``moved_<side>``).
        side: ``'long'`` or ``'short'``.
        n_boot: bootstrap replicates of each interval (moving blocks of ``n ** (1/3)`` bars).
        seed: bootstrap seed (the same for every statistic, so their draws are the same bars).
        top_share: share of bars taken as the top set of :func:`top_precision`.

    Returns:
        ``bars``; ``rho_<map|vol|oi>`` with ``_lo``/``_hi`` (90% interval); ``top_<map|vol|oi>``;
        ``log_ratio`` with ``_lo``/``_hi``, ``slope``, ``ratio_bars`` (bars where both are
        positive); ``no_sweep``, ``moved_bars``; ``rho_best_base`` (the better baseline's
        Spearman) and ``win`` (map >= it). ``_oi`` figures are NaN without open interest.
    """
    if side not in SIDES:
        raise InputError(f"side must be 'long' or 'short', got {side!r}")
    real = table[f"real_{side}"].to_numpy(dtype=np.float64)
    cols = {
        "map": table[f"est_{side}"].to_numpy(dtype=np.float64),
        "vol": table[f"base_vol_{side}"].to_numpy(dtype=np.float64),
        "oi": table[f"base_oi_{side}"].to_numpy(dtype=np.float64),
    }
    out: dict[str, Any] = {"bars": len(table)}
    for name, est in cols.items():
        if name == "oi" and not np.isfinite(est).any():
            out.update(rho_oi=math.nan, rho_oi_lo=math.nan, rho_oi_hi=math.nan, top_oi=math.nan)
            continue
        p, lo, hi = _ci(spearman, est, real, n_boot=n_boot, seed=seed)
        out[f"rho_{name}"], out[f"rho_{name}_lo"], out[f"rho_{name}_hi"] = p, lo, hi
        out[f"top_{name}"] = top_precision(est, real, top_share) if len(real) else math.nan
    lr = log_ratio(cols["map"], real)
    _, lo, hi = _ci(_median_log_ratio, cols["map"], real, n_boot=n_boot, seed=seed)
    out.update(
        log_ratio=lr.median, log_ratio_lo=lo, log_ratio_hi=hi, slope=lr.slope, ratio_bars=lr.n
    )
    moved = table[f"moved_{side}"].to_numpy(dtype=bool)
    out["no_sweep"] = no_sweep_share(cols["map"], moved)
    out["moved_bars"] = int(moved.sum())
    bases = [v for v in (out["rho_vol"], out["rho_oi"]) if math.isfinite(v)]
    out["rho_best_base"] = max(bases) if bases else math.nan
    out["win"] = bool(bases) and math.isfinite(out["rho_map"]) and out["rho_map"] >= max(bases)
    return out


def series_scores(
    inputs: SeriesInputs,
    models: Sequence[tuple[str, HeatmapConfig]],
    *,
    timeframes: Sequence[str] = TIMEFRAMES,
    warmup: str | pd.Timedelta = "30D",
    n_boot: int = 300,
    seed: int = 0,
) -> tuple[pd.DataFrame, list[str]]:
    """Score every (timeframe, inflow, side, model) cell of one truth series on the same bars.

    The scored bars are those every cell holds (complete bars of every timeframe's candles),
    starting ``warmup`` after the first candle (and after the first open-interest row when there
    is OI, so the OI cells are warm too), minus ``inputs.exclude``. So the cells of one series are
    comparable bar for bar.

    Args:
        inputs: the truth, candles per timeframe, optional open interest and excluded bars.
        models: ``(label, config)`` pairs, e.g. the shipped default and the design preset.
        timeframes: candle timeframes to try (those longer than the truth's bar are skipped).
        warmup: history the map is built from before the first scored bar.
        n_boot: bootstrap replicates per interval.
        seed: bootstrap seed.

    Returns:
        ``(scores, skipped)``: one row per cell (``series``, ``venue``, ``bar``, ``timeframe``,
        ``inflow``, ``side``, ``model``, ``first``, ``last`` and :func:`score_bars`' figures), and
        one sentence per cell that cannot exist (and why).

    Raises:
        InputError: no bar is left to score.
    """
    truth = inputs.truth
    skipped: list[str] = []
    inflows = ["volume"] + (["open interest"] if inputs.open_interest is not None else [])
    if inputs.open_interest is None:
        skipped.append(f"{truth.name}: no open interest over its dates, so volume inflow only")
    tables: dict[tuple[str, str, str], pd.DataFrame] = {}
    for tf in timeframes:
        if tf not in inputs.candles:
            skipped.append(f"{truth.name}: no {tf} candles")
            continue
        if pd.Timedelta(tf) > truth.bar:
            skipped.append(
                f"{truth.name}, {tf} candles: longer than its {_bar_label(truth.bar)} bars"
            )
            continue
        for inflow in inflows:
            oi = inputs.open_interest if inflow == "open interest" else None
            for label, cfg in models:
                tables[(tf, inflow, label)] = bar_table(
                    truth,
                    inputs.candles[tf],
                    cfg,
                    open_interest=oi,
                    oi_baseline=inputs.open_interest,
                )
    if not tables:
        raise InputError(
            f"{truth.name}: no cell can be scored; pass candles of a timeframe <= its bar"
        )
    index = _scored_index(tables, inputs, warmup)
    if len(index) < 3:
        raise InputError(
            f"{truth.name}: {len(index)} bars left to score after the warm-up ({warmup}) and the "
            "calibration window; pass candles covering more of the truth's dates"
        )
    rows = []
    for (tf, inflow, label), t in tables.items():
        sub = t.loc[index]
        for side in SIDES:
            rows.append(
                {
                    "series": truth.name,
                    "venue": truth.venue,
                    "bar": _bar_label(truth.bar),
                    "timeframe": tf,
                    "inflow": inflow,
                    "side": side,
                    "model": label,
                    "first": index[0],
                    "last": index[-1],
                    **score_bars(sub, side, n_boot=n_boot, seed=seed),
                }
            )
    return pd.DataFrame(rows), skipped


def _scored_index(
    tables: Mapping[Any, pd.DataFrame], inputs: SeriesInputs, warmup: str | pd.Timedelta
) -> pd.DatetimeIndex:
    """The bars every table holds, after the warm-up and outside the excluded window."""
    index = None
    for t in tables.values():
        index = t.index if index is None else index.intersection(t.index)
    assert index is not None
    starts = [pd.DatetimeIndex(c["date"]).min() for c in inputs.candles.values()]
    if inputs.open_interest is not None:
        starts.append(pd.DatetimeIndex(inputs.open_interest["date"]).min())
    first_ok = max(starts) + pd.Timedelta(warmup)
    keep = index >= first_ok
    if inputs.exclude is not None:
        lo, hi = (utc_timestamp(x) if x is not None else None for x in inputs.exclude)
        inside = np.ones(len(index), dtype=bool)
        if lo is not None:
            inside &= index >= lo
        if hi is not None:
            inside &= index <= hi
        keep &= ~inside
    index = index[keep]
    return index


def _bar_label(bar: pd.Timedelta) -> str:
    hours = bar / pd.Timedelta("1h")
    return f"{hours / 24:g}d" if hours >= 24 and hours % 24 == 0 else f"{hours:g}h"


# ================================================================================================
# where: fills
# ================================================================================================
def volume_profile(candles: pd.DataFrame, edges: np.ndarray) -> np.ndarray:
    """Traded USD per price bin, each candle's ``volume x close`` spread evenly over its range.

    Args:
        candles: ``low``, ``high``, ``close``, ``volume``.
        edges: ascending bin boundaries (``n + 1`` for ``n`` bins).

    Returns:
        USD per bin (the part of each candle's range inside the bins; a candle with no range
        puts its USD in the bin holding its close).
    """
    lo = candles["low"].to_numpy(dtype=np.float64)[:, None]
    hi = candles["high"].to_numpy(dtype=np.float64)[:, None]
    usd = (candles["volume"] * candles["close"]).to_numpy(dtype=np.float64)
    e = np.asarray(edges, dtype=np.float64)
    overlap = np.clip(np.minimum(hi, e[None, 1:]) - np.maximum(lo, e[None, :-1]), 0.0, None)
    width = (hi - lo)[:, 0]
    flat = width <= 0
    share = np.zeros_like(overlap)
    share[~flat] = overlap[~flat] / width[~flat, None]
    if flat.any():
        k = np.searchsorted(e, candles["close"].to_numpy(dtype=np.float64)[flat], side="right") - 1
        ok = (k >= 0) & (k < e.size - 1)
        share[np.flatnonzero(flat)[ok], k[ok]] = 1.0
    return usd @ share


def fill_windows(
    fills: pd.DataFrame,
    candles: pd.DataFrame,
    config: HeatmapConfig,
    *,
    window: str = "1h",
    tolerance: float = 0.0,
    profile: str = "7D",
    warmup: str = "30D",
    share: float = 0.2,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Compare fills with the map one window at a time (see the module doc).

    For each window (clock ``window`` periods holding fills) and side, the map is the one at the
    close of the last candle that closed at or before the window's start (strictly causal). The
    bins compared are the map's bins overlapping the range the candles traded in the window,
    widened by ``tolerance`` each way; a fill outside it counts in the edge bin (``clipped``).

    Args:
        fills: :func:`~liq_indicator.research.truth.load_fills` rows (``date``, ``side``,
            ``price``, ``size_usd``).
        candles: the venue's candles covering the fills and ``warmup`` + ``profile`` before.
        config: the map's settings.
        window: length of a window.
        tolerance: fraction the traded range is widened by (order prices beyond the candle).
        profile: history of the volume-profile baseline before each window.
        warmup: history the map is built from before the first window.
        share: the densest share of bins of :func:`densest_capture`.

    Returns:
        ``(windows, per_fill)``: one row per (window, side) with ``start``, ``side``, ``fills``,
        ``usd``, ``bins``, ``clipped``, ``map_empty`` (the map had nothing in the bins: scored as
        a flat spread), ``emd_map``, ``emd_uniform``, ``emd_profile`` (bp), ``capture_map``,
        ``capture_profile``, ``chance``; and one row per fill with ``side``, ``size_usd``,
        ``fill_pct`` (distance from the map's close, %) and ``cluster_pct`` (distance of the
        nearest estimated cluster of its side from that close, %; NaN when there is none).

    Raises:
        InputError: the candles do not cover the fills and the warm-up.
    """
    if fills.empty:
        raise InputError("no fills to compare")
    c = candles.assign(date=utc_us(candles["date"]))
    f = fills.assign(date=utc_us(fills["date"])).sort_values("date", kind="stable")
    win = pd.Timedelta(window)
    w_start = utc_us(f["date"].dt.floor(win))
    need = w_start.min() - pd.Timedelta(warmup) - pd.Timedelta(profile)
    c = c[(c["date"] >= need) & (c["date"] < w_start.max() + win)].reset_index(drop=True)
    if len(c) == 0 or c["date"].iloc[0] > need + pd.Timedelta("1D"):
        raise InputError(
            f"the candles do not cover {warmup} + {profile} before the first fill "
            f"({f['date'].iloc[0]}); pass candles from {need} on"
        )
    tf = infer_timeframe(c["date"]) or pd.Timedelta(0)
    c_ns = utc_us(c["date"]).asi8
    close_t = c_ns + tf.value // 1000
    win_us = win.value // 1000
    feats = liquidation_features(c, config)
    cursor = MapCursor(c, config)
    bin_bp = float(config.bin_bp)
    win_rows, fill_rows = [], []
    for start in np.unique(w_start.asi8):
        row = int(np.searchsorted(close_t, start, side="right")) - 1
        if row < 0:
            continue
        m = cursor.map_at(row, price_range_pct=10.0)
        in_win = (c_ns >= start) & (c_ns < start + win_us)
        if not in_win.any():
            continue
        sel_f = f[w_start.asi8 == start]
        lo = float(c["low"][in_win].min()) * (1 - tolerance)
        hi = float(c["high"][in_win].max()) * (1 + tolerance)
        edges = m.bin_edges
        first = max(int(np.searchsorted(edges, lo, side="right")) - 1, 0)
        last = min(int(np.searchsorted(edges, hi, side="left")), edges.size - 1)
        if last <= first:
            continue
        sub_edges = edges[first : last + 1]
        n_bins = last - first
        hist = c[(c_ns >= start - pd.Timedelta(profile).value // 1000) & (c_ns < start)]
        vp = volume_profile(hist, sub_edges)
        close = float(m.price)
        for side in SIDES:
            fs = sel_f[sel_f["side"] == side]
            if fs.empty:
                continue
            k = np.searchsorted(sub_edges, fs["price"].to_numpy(), side="right") - 1
            clipped = int(((k < 0) | (k >= n_bins)).sum())
            k = np.clip(k, 0, n_bins - 1)
            real = np.bincount(k, weights=fs["size_usd"].to_numpy(), minlength=n_bins)
            est = (m.long if side == "long" else m.short)[first:last]
            empty = not est.sum() > 0
            flat = np.ones(n_bins)
            # the flat spread over the crossed bins on the side's own side of the close (above
            # it for shorts): the trivial knowledge that levels behind the price are swept
            centre = np.sqrt(sub_edges[:-1] * sub_edges[1:])
            beyond = (centre >= close) if side == "short" else (centre <= close)
            same = beyond.astype(np.float64) if beyond.any() else flat
            est_used = flat if empty else est
            cap_map, chance = densest_capture(est_used, real, share)
            cap_vp, _ = densest_capture(vp, real, share) if vp.sum() > 0 else (math.nan, chance)
            win_rows.append(
                {
                    "start": pd.Timestamp(start, unit="us", tz="UTC"),
                    "side": side,
                    "fills": len(fs),
                    "usd": float(fs["size_usd"].sum()),
                    "bins": n_bins,
                    "clipped": clipped,
                    "map_empty": empty,
                    "emd_map": emd_bp(est_used, real, bin_bp),
                    "emd_uniform": emd_bp(flat, real, bin_bp),
                    "emd_profile": emd_bp(vp, real, bin_bp) if vp.sum() > 0 else math.nan,
                    "emd_same_side": emd_bp(same, real, bin_bp),
                    "capture_map": cap_map,
                    "capture_profile": cap_vp,
                    "chance": chance,
                }
            )
            near = float(feats[f"liq_{side}_cluster_near"].iloc[row])
            for p, usd in zip(fs["price"].to_numpy(), fs["size_usd"].to_numpy(), strict=True):
                fill_rows.append(
                    {
                        "start": pd.Timestamp(start, unit="us", tz="UTC"),
                        "side": side,
                        "size_usd": float(usd),
                        "fill_pct": abs(p / close - 1) * 100,
                        "cluster_pct": abs(near / close - 1) * 100
                        if math.isfinite(near)
                        else math.nan,
                    }
                )
    if not win_rows:
        raise InputError("no fill window could be compared (no candle closed before any window)")
    return pd.DataFrame(win_rows), pd.DataFrame(fill_rows)


def fill_summary(
    windows: pd.DataFrame, per_fill: pd.DataFrame, *, n_boot: int = 300, seed: int = 0
) -> dict[str, Any]:
    """The fill figures over all windows of :func:`fill_windows`.

    EMDs are USD-weighted means over windows with 90% moving-block bootstrap intervals over
    windows (in time order); captures are USD-weighted shares (the captured USD over all
    windows' USD) against the equally weighted chance.

    Returns:
        ``windows``, ``fills``, ``usd``, ``map_empty``, ``clipped``; ``emd_<map|uniform|profile|same_side>``
        with ``_lo``/``_hi``; ``emd_map_beats_<baseline>`` (share of windows);
        ``capture_map``, ``capture_profile``, ``chance``, ``capture_ratio`` (map / chance);
        ``fill_pct``, ``cluster_pct`` (medians over fills, USD-unweighted), ``with_cluster``.
    """
    w = windows.sort_values("start", kind="stable")
    usd = w["usd"].to_numpy(dtype=np.float64)
    out: dict[str, Any] = {
        "windows": len(w),
        "fills": int(w["fills"].sum()),
        "usd": float(usd.sum()),
        "map_empty": int(w["map_empty"].sum()),
        "clipped": int(w["clipped"].sum()),
    }

    def wmean(x: np.ndarray, weights: np.ndarray) -> float:
        ok = np.isfinite(x)
        return float(x[ok] @ weights[ok] / weights[ok].sum()) if weights[ok].sum() > 0 else math.nan

    for name in ("map", "uniform", "profile", "same_side"):
        x = w[f"emd_{name}"].to_numpy(dtype=np.float64)
        if len(x) >= 3:
            p, lo, hi = bootstrap_ci(wmean, x, usd, n_boot=n_boot, seed=seed)
        else:
            p, lo, hi = wmean(x, usd), math.nan, math.nan
        out[f"emd_{name}"], out[f"emd_{name}_lo"], out[f"emd_{name}_hi"] = p, lo, hi
    for base in ("uniform", "profile", "same_side"):
        a, b = w["emd_map"].to_numpy(), w[f"emd_{base}"].to_numpy()
        ok = np.isfinite(a) & np.isfinite(b)
        out[f"emd_map_beats_{base}"] = float((a[ok] < b[ok]).mean()) if ok.any() else math.nan
    for name in ("map", "profile"):
        out[f"capture_{name}"] = wmean(w[f"capture_{name}"].to_numpy(dtype=np.float64), usd)
    out["chance"] = wmean(w["chance"].to_numpy(dtype=np.float64), usd)
    out["capture_ratio"] = out["capture_map"] / out["chance"] if out["chance"] > 0 else math.nan
    out["fill_pct"] = float(np.median(per_fill["fill_pct"])) if len(per_fill) else math.nan
    cl = per_fill["cluster_pct"].to_numpy(dtype=np.float64)
    out["cluster_pct"] = float(np.nanmedian(cl)) if np.isfinite(cl).any() else math.nan
    out["with_cluster"] = float(np.isfinite(cl).mean()) if cl.size else math.nan
    return out
