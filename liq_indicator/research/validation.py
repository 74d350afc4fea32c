"""How well the liquidation map matches what really got liquidated: metrics and experiments.

Three layers, all pure functions on arrays and frames (no file I/O, no plotting; the
``liq-indicator validate`` command reads the data, calls these and writes docs/VALIDATION.md):

* **Metrics** on arrays: :func:`spearman`, :func:`oos_r2_gain`, :func:`top_overlap`,
  :func:`direction_hit_rate`.
* **Hour tables**: the estimator's swept notional per hour beside real liquidations and two naive
  baselines (:func:`estimate_hourly`, :func:`hour_table`, :func:`score_hours`), and the
  walk-forward choice of settings (:func:`walk_forward_select`).
* **Other truths**: individual liquidation fills against the estimated clusters
  (:func:`fill_cluster_stats`) and the simulator's exact liquidations and pending map
  (:func:`sim_accuracy`).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from liq_indicator.config import HeatmapConfig
from liq_indicator.core.grid import price_to_bin
from liq_indicator.core.inputs import merge_causal
from liq_indicator.errors import ConfigError, InputError
from liq_indicator.estimator import MapCursor, liquidation_features
from liq_indicator.io.ohlcv import OHLCV_AGG, resample_ohlcv
from liq_indicator.research.metrics import TopOverlap, _pair, bar_sums, spearman, top_overlap

__all__ = [
    "CELLS",
    "SIDES",
    "DirectionHits",
    "R2Gain",
    "Selection",
    "TopOverlap",
    "TruthWindow",
    "TruthWindowResult",
    "WindowRunner",
    "adverse_range",
    "candidate_axes",
    "direction_hit_rate",
    "estimate_hourly",
    "fill_cluster_stats",
    "hour_table",
    "hourly_sum",
    "on_buckets",
    "oos_r2_gain",
    "r2_score",
    "score_hours",
    "resample_candles",
    "sim_accuracy",
    "sim_map_profiles",
    "spearman",
    "top_overlap",
    "top_share_capture",
    "truth_window_experiment",
    "walk_forward_select",
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


def _with_us_dates(frame: pd.DataFrame) -> pd.DataFrame:
    """A shallow copy whose ``date`` column has microsecond unit.

    Freqtrade feathers come in ns while pandas 3 reads newer files in us, and
    ``merge_causal`` (inputs.py) fails on mixed units; one unit for all frames avoids it.
    """
    out = frame.copy(deep=False)
    out["date"] = pd.DatetimeIndex(out["date"]).as_unit("us")
    return out


def estimate_hourly(
    candles: pd.DataFrame,
    config: HeatmapConfig | None = None,
    *,
    open_interest: pd.DataFrame | None = None,
) -> pd.DataFrame:
    """Run the estimator over ``candles`` and sum its swept notional per complete hour.

    Returns:
        Frame indexed by hour with ``est_long``, ``est_short`` (USD).
    """
    oi = _with_us_dates(open_interest) if open_interest is not None else None
    feats = liquidation_features(_with_us_dates(candles), config, open_interest=oi)
    hours = hourly_sum(feats, ["liq_swept_long_usd", "liq_swept_short_usd"])
    return hours.rename(
        columns={"liq_swept_long_usd": "est_long", "liq_swept_short_usd": "est_short"}
    )


def hour_table(
    truth: pd.DataFrame, candles_1h: pd.DataFrame, estimate: pd.DataFrame, split: pd.Timestamp
) -> pd.DataFrame:
    """One row per hour held by all three inputs: real liquidations, estimate and baselines.

    Args:
        truth: ``date``, ``liquidation_long_usd``, ``liquidation_short_usd``, ``oi_open`` (USD
            open interest at the hour's open).
        candles_1h: hourly candles (``date``, OHLC, ``volume`` in coin).
        estimate: output of :func:`estimate_hourly`.
        split: first hour of the later (test) part.

    Returns:
        Indexed by hour: ``real_<side>``, ``est_<side>``, ``adv_<side>``, ``base_vol_<side>``
        (adverse range x volume in USD), ``base_oi_<side>`` (adverse range x open interest at the
        hour's open), ``vol_usd``, ``oi_usd`` and ``part`` ('select' before ``split``, else 'test').
    """
    t = truth.set_index(pd.DatetimeIndex(truth["date"]).as_unit("us"))
    c = candles_1h.set_index(pd.DatetimeIndex(candles_1h["date"]).as_unit("us"))
    e = estimate.set_axis(pd.DatetimeIndex(estimate.index).as_unit("us"))
    idx = t.index.intersection(c.index).intersection(e.index)
    t, c, e = t.loc[idx], c.loc[idx], e.loc[idx]
    out = pd.DataFrame(index=idx)
    out["vol_usd"] = c["volume"].to_numpy() * c["close"].to_numpy()
    out["oi_usd"] = t["oi_open"].to_numpy(dtype=np.float64)
    for side in SIDES:
        out[f"real_{side}"] = t[f"liquidation_{side}_usd"].to_numpy(dtype=np.float64)
        out[f"est_{side}"] = e[f"est_{side}"].to_numpy()
        adv = adverse_range(c, side)
        out[f"adv_{side}"] = adv
        out[f"base_vol_{side}"] = adv * out["vol_usd"].to_numpy()
        out[f"base_oi_{side}"] = adv * out["oi_usd"].to_numpy()
    out["part"] = np.where(idx < split, "select", "test")
    return out


def score_hours(
    table: pd.DataFrame, *, top_share: float = 0.05, min_real_usd: float = 1e6
) -> dict[str, Any]:
    """Every accuracy figure of one estimate on the test part of an hour table.

    R² gains are fitted on the 'select' part and scored on the 'test' part, on
    ``log1p`` of USD values (NaN when the table has no 'select' part); every other figure uses
    the test part only.

    Returns:
        A flat dict: ``hours_select``, ``hours_test``, and per side ``<side>_...``:
        ``spearman_map``, ``spearman_vol``, ``spearman_oi``, ``spearman_combined`` (the
        ``base_vol + map`` fit from the select part, ranked on the test part), ``zero_share``
        (hours with no estimated sweep), ``r2_vol``, ``r2_vol_map``, ``r2_gain_vol``,
        ``r2_gain_oi``, ``top_precision_map``, ``top_recall_map``, ``top_precision_vol``,
        ``top_recall_vol``, ``top_precision_oi``, ``top_recall_oi``; and the direction figures
        ``direction_map``/``direction_candle`` (same hours: estimate non-zero on either side and
        real long + short >= ``min_real_usd``), ``direction_n``.
    """
    fit = (table["part"] == "select").to_numpy()
    test = (table["part"] == "test").to_numpy()
    tt = table[test]
    can_fit = fit.sum() >= 4
    out: dict[str, Any] = {"hours_select": int(fit.sum()), "hours_test": int(test.sum())}
    for side in SIDES:
        y = np.log1p(table[f"real_{side}"].to_numpy())
        est = np.log1p(table[f"est_{side}"].to_numpy())
        real_t = tt[f"real_{side}"].to_numpy()
        out[f"{side}_spearman_map"] = spearman(tt[f"est_{side}"], real_t)
        out[f"{side}_spearman_vol"] = spearman(tt[f"base_vol_{side}"], real_t)
        out[f"{side}_spearman_oi"] = spearman(tt[f"base_oi_{side}"], real_t)
        out[f"{side}_zero_share"] = float((tt[f"est_{side}"] <= 0).mean())
        for name in ("vol", "oi"):
            if not can_fit:  # whole-window scoring: nothing to fit on
                for key in (f"r2_{name}", f"r2_{name}_map", f"r2_gain_{name}", "spearman_combined"):
                    out[f"{side}_{key}"] = math.nan
                continue
            base = np.log1p(table[f"base_{name}_{side}"].to_numpy())
            g = oos_r2_gain(y, base, est, fit, test)
            out[f"{side}_r2_{name}"] = g.base
            out[f"{side}_r2_{name}_map"] = g.combined
            out[f"{side}_r2_gain_{name}"] = g.gain
            if name == "vol":
                pred = _design(base[test], est[test]) @ np.asarray(g.coef)
                out[f"{side}_spearman_combined"] = spearman(pred, real_t)
        for name, col in (
            ("map", f"est_{side}"),
            ("vol", f"base_vol_{side}"),
            ("oi", f"base_oi_{side}"),
        ):
            ov = top_overlap(tt[col], real_t, top_share)
            out[f"{side}_top_precision_{name}"] = ov.precision
            out[f"{side}_top_recall_{name}"] = ov.recall
    real_total = tt["real_long"].to_numpy() + tt["real_short"].to_numpy()
    called = (tt["est_long"].to_numpy() + tt["est_short"].to_numpy()) > 0
    mask = called & (real_total >= min_real_usd)
    d_map = direction_hit_rate(
        tt["est_long"], tt["est_short"], tt["real_long"], tt["real_short"], mask
    )
    d_candle = direction_hit_rate(
        tt["adv_long"], tt["adv_short"], tt["real_long"], tt["real_short"], mask
    )
    out["direction_map"] = d_map.hit_rate
    out["direction_candle"] = d_candle.hit_rate
    out["direction_n"] = d_map.n
    out["direction_n_candle"] = d_candle.n
    return out


# ================================================================================================
# walk-forward choice of settings
# ================================================================================================
HIGHER_TIER = 125.0
"""Leverage of the optional extra tier tried by the selection (allowed by Binance up to a
300k USDT position)."""


def _tilt(weights: Sequence[float], leverages: Sequence[float], power: float) -> tuple[float, ...]:
    w = (
        np.asarray(weights, dtype=np.float64)
        * (np.asarray(leverages, dtype=np.float64) / 10.0) ** power
    )
    return _exact(w / w.sum())


def _with_extra_tier(cfg: HeatmapConfig) -> HeatmapConfig:
    if HIGHER_TIER in cfg.leverages:
        return cfg
    # 10% of new notional, taken pro rata from the other tiers; half-life shorter than the
    # highest tier's in proportion to leverage (12 h at 100x -> 9.6 h at 125x)
    weights = tuple(w * 0.9 for w in cfg.weights) + (0.1,)
    half = min(cfg.half_life_hours) * max(cfg.leverages) / HIGHER_TIER
    return cfg.replace(
        leverages=(*cfg.leverages, HIGHER_TIER),
        weights=_exact(weights),
        half_life_hours=(*cfg.half_life_hours, round(half, 6)),
    )


def _exact(weights: Sequence[float]) -> tuple[float, ...]:
    w = [round(float(x), 12) for x in weights]
    w[-1] = round(1.0 - sum(w[:-1]), 12)
    return tuple(w)


Option = tuple[str, Callable[[HeatmapConfig], HeatmapConfig]]


def candidate_axes(base: HeatmapConfig) -> list[tuple[str, list[Option]]]:
    """The small grid the walk-forward selection searches, axis by axis.

    Each axis lists (label, change) options; the first option of every axis is "keep as is".
    Changes are functions of the current config so they compose (a weight tilt applies to
    whichever tiers are in use).
    """

    def keep(c: HeatmapConfig) -> HeatmapConfig:
        return c

    def scale_half(f: float) -> Callable[[HeatmapConfig], HeatmapConfig]:
        return lambda c: c.replace(half_life_hours=tuple(h * f for h in c.half_life_hours))

    def tilt(p: float) -> Callable[[HeatmapConfig], HeatmapConfig]:
        return lambda c: c.replace(weights=_tilt(c.weights, c.leverages, p))

    def set_(**kw: Any) -> Callable[[HeatmapConfig], HeatmapConfig]:
        return lambda c: c.replace(**kw)

    return [
        ("tiers", [("5x..100x", keep), (f"+ a {HIGHER_TIER:g}x tier", _with_extra_tier)]),
        (
            "leverage weights",
            [
                ("as is", keep),
                ("tilted to high (x (lev/10)^0.5)", tilt(0.5)),
                ("tilted to low (x (lev/10)^-0.5)", tilt(-0.5)),
            ],
        ),
        ("half-lives", [("x1", keep), ("x0.5", scale_half(0.5)), ("x2", scale_half(2.0))]),
        (
            "entry_price",
            [(base.entry_price, keep)]
            + [
                (e, set_(entry_price=e))
                for e in ("hlc3", "close", "ohlc4")
                if e != base.entry_price
            ],
        ),
        (
            "bin_bp",
            [(f"{base.bin_bp:g}", keep)]
            + [(f"{b:g}", set_(bin_bp=b)) for b in (5.0, 10.0, 20.0) if b != base.bin_bp],
        ),
        (
            "direction_tilt",
            [(f"{base.direction_tilt:g}", keep)]
            + [
                (f"{t:g}", set_(direction_tilt=t))
                for t in (0.0, 0.1, 0.25)
                if t != base.direction_tilt
            ],
        ),
        (
            "position_notional",
            [(f"{base.position_notional:,.0f}", keep)]
            + [
                (f"{p:,.0f}", set_(position_notional=p))
                for p in (10_000.0, 500_000.0)
                if p != base.position_notional
            ],
        ),
        (
            "volume_share",
            [(f"{base.volume_share:g}", keep)]
            + [
                (f"{v:g}", set_(volume_share=v)) for v in (0.05, 0.1, 0.2) if v != base.volume_share
            ],
        ),
    ]


@dataclass
class Selection:
    """Outcome of :func:`walk_forward_select`."""

    config: HeatmapConfig
    """The chosen settings."""
    trace: pd.DataFrame
    """One row per evaluated option: axis, option, objective (NaN: invalid), chosen."""
    changes: list[tuple[str, str]] = field(default_factory=list)
    """(axis, option) adopted, in order."""


def walk_forward_select(
    objective: Callable[[HeatmapConfig], float],
    base: HeatmapConfig,
    axes: list[tuple[str, list[Option]]],
    *,
    min_gain: float = 0.005,
) -> Selection:
    """One pass of coordinate ascent over ``axes`` starting from ``base``.

    For each axis in order, every option is applied to the current config and scored with
    ``objective`` (computed by the caller on the selection part only); the best is adopted when it
    beats the current score by at least ``min_gain``, which keeps noise-level differences at the
    current setting. Options the config rejects (e.g. a leverage the bracket does not allow) are
    recorded with a NaN score and skipped.
    """
    current = base
    score = objective(current)
    rows: list[dict[str, Any]] = [
        {"axis": "start", "option": "defaults", "objective": score, "chosen": True}
    ]
    changes: list[tuple[str, str]] = []
    for axis, options in axes:
        scored: list[tuple[str, HeatmapConfig | None, float]] = []
        for label, change in options:
            try:
                cand = change(current)
            except ConfigError:
                scored.append((label, None, math.nan))
                continue
            scored.append((label, cand, score if cand == current else objective(cand)))
        valid: list[tuple[str, HeatmapConfig, float]] = [
            (lab, c, v) for lab, c, v in scored if c is not None
        ]
        best = max(valid, key=lambda s: s[2])
        adopt = best[1] != current and best[2] >= score + min_gain
        for label, tried, value in scored:
            chosen = (tried == best[1]) if adopt else (tried == current)
            rows.append({"axis": axis, "option": label, "objective": value, "chosen": bool(chosen)})
        if adopt:
            current, score = best[1], best[2]
            changes.append((axis, best[0]))
    return Selection(current, pd.DataFrame(rows), changes)


# ================================================================================================
# the truth window: every cell, defaults and the walk-forward choice
# ================================================================================================
CELLS: tuple[tuple[str, str], ...] = (
    ("1h", "volume"),
    ("1h", "open interest"),
    ("5m", "volume"),
    ("5m", "open interest"),
)
"""(candle timeframe, inflow mode) combinations the truth window is scored in."""


@dataclass(frozen=True)
class TruthWindow:
    """The frames of the real-liquidation window and where it is split."""

    candles_1h: pd.DataFrame
    candles_5m: pd.DataFrame
    open_interest: pd.DataFrame
    truth: pd.DataFrame
    """Hourly real liquidations: ``date``, ``liquidation_long_usd``, ``liquidation_short_usd``,
    ``oi_open``."""
    split: pd.Timestamp
    """First hour of the test part; settings are chosen and regressions fitted before it."""

    def candles(self, timeframe: str) -> pd.DataFrame:
        """The candles of ``timeframe`` ('1h' or '5m')."""
        return {"1h": self.candles_1h, "5m": self.candles_5m}[timeframe]


class WindowRunner:
    """Hour tables of the truth window per config and cell, computed once each."""

    def __init__(self, window: TruthWindow):
        self.window = window
        self._cache: dict[tuple[HeatmapConfig, str, str], pd.DataFrame] = {}

    def table(self, config: HeatmapConfig, timeframe: str, mode: str) -> pd.DataFrame:
        """The hour table (:func:`hour_table`) of ``config`` in one (timeframe, inflow mode) cell."""
        key = (config, timeframe, mode)
        if key not in self._cache:
            w = self.window
            oi = w.open_interest if mode == "open interest" else None
            est = estimate_hourly(w.candles(timeframe), config, open_interest=oi)
            self._cache[key] = hour_table(w.truth, w.candles_1h, est, w.split)
        return self._cache[key]

    def objective(self, config: HeatmapConfig) -> float:
        """Mean Spearman (map vs real, both sides, every cell) on the selection part only."""
        values = []
        for tf, mode in CELLS:
            t = self.table(config, tf, mode)
            t = t[t["part"] == "select"]
            values += [spearman(t[f"est_{s}"], t[f"real_{s}"]) for s in SIDES]
        return float(np.mean(values))


@dataclass
class TruthWindowResult:
    """Everything the report shows about the real-liquidation window."""

    selection: Selection
    scores: pd.DataFrame
    """One row per (config, timeframe, mode) with :func:`score_hours` figures on the test part."""
    whole: pd.DataFrame
    """The defaults scored on every truth hour (nothing is fitted or chosen there)."""
    runner: WindowRunner
    info: dict[str, Any]


def truth_window_experiment(
    window: TruthWindow, base: HeatmapConfig | None = None, *, min_gain: float = 0.005
) -> TruthWindowResult:
    """Choose settings on the selection part, then score defaults and choice on the test part.

    Returns:
        :class:`TruthWindowResult`; ``info`` holds the hours, split and warm-up.
    """
    base = base or HeatmapConfig()
    runner = WindowRunner(window)
    selection = walk_forward_select(runner.objective, base, candidate_axes(base), min_gain=min_gain)
    rows, whole = [], []
    for label, cfg in (("defaults", base), ("chosen", selection.config)):
        for tf, mode in CELLS:
            t = runner.table(cfg, tf, mode)
            rows.append({"config": label, "timeframe": tf, "mode": mode, **score_hours(t)})
            if label == "defaults":
                all_hours = t.assign(part="test")
                whole.append(
                    {"config": label, "timeframe": tf, "mode": mode, **score_hours(all_hours)}
                )
    truth_dates = pd.DatetimeIndex(window.truth["date"])
    first_candle = pd.DatetimeIndex(window.candles_1h["date"])[0]
    t1h = runner.table(base, "1h", "volume")
    t5m = runner.table(base, "5m", "volume")
    info = {
        "first_truth": truth_dates.min(),
        "last_truth": truth_dates.max(),
        "split": window.split,
        "first_candle": first_candle,
        "warmup_hours": (truth_dates.min() - first_candle) / pd.Timedelta("1h"),
        "first_5m": pd.DatetimeIndex(window.candles_5m["date"])[0],
        "last_5m_hour": t5m.index.max(),
        "hours_1h": len(t1h),
        "hours_5m": len(t5m),
        "first_oi": pd.DatetimeIndex(window.open_interest["date"]).min(),
    }
    return TruthWindowResult(selection, pd.DataFrame(rows), pd.DataFrame(whole), runner, info)


# ================================================================================================
# individual fills against the estimated clusters
# ================================================================================================
def _prior_rows(candle_dates: pd.Series, timeframe: pd.Timedelta, times: pd.Series) -> np.ndarray:
    """Index of the last candle that closed at or before each time (-1: none)."""
    close = (pd.DatetimeIndex(candle_dates).as_unit("us") + timeframe).asi8
    t = pd.DatetimeIndex(times).as_unit("us").asi8
    return np.searchsorted(close, t, side="right") - 1


def _maps_at(
    candles: pd.DataFrame, rows: np.ndarray, config: HeatmapConfig, range_pct: float
) -> dict[int, Any]:
    """The estimated map (a LiquidationMap) at the close of each candle in ``rows``."""
    cursor = MapCursor(candles, config)
    return {int(r): cursor.map_at(int(r), price_range_pct=range_pct) for r in np.unique(rows)}


def _density(m: Any, side: str, prices: np.ndarray, half_width_pct: float) -> np.ndarray:
    """Estimated pending notional of ``side`` within +-half_width_pct of each price."""
    values = m.long if side == "long" else m.short if side == "short" else m.long + m.short
    cum = np.r_[0.0, np.cumsum(values)]
    lo = np.searchsorted(m.bin_prices, prices * (1 - half_width_pct / 100), side="left")
    hi = np.searchsorted(m.bin_prices, prices * (1 + half_width_pct / 100), side="right")
    return cum[hi] - cum[lo]


def fill_cluster_stats(
    fills: pd.DataFrame,
    candles: pd.DataFrame,
    config: HeatmapConfig | None = None,
    *,
    side: str = "short",
    warmup: str = "30D",
    placebo: int = 200,
    half_width_pct: float = 0.25,
    seed: int = 0,
) -> dict[str, Any]:
    """Do real liquidation fills happen where the map (as it stood before them) put notional?

    For every fill the map is taken at the close of the last candle that closed before the fill
    (strictly causal), and compared with ``placebo`` random prices per fill drawn uniformly from

    * ``range``: the range the market traded in the fill's hour, and
    * ``same side``: the part of that range on the fill's side of the map's close (between the
      close and the hour's high for a fill above it, the hour's low for one below), which removes
      the trivial part of the answer: levels behind the price path are already swept, so any
      fill at a new extreme beats a random price on the other side of the close.

    Figures: the share of fills inside the nearest estimated ``side`` cluster
    (``liq_<side>_cluster_near .. _far``) against the placebo prices' share; and the map's
    notional within +-``half_width_pct`` of the fill price as a percentile among the placebo
    prices' (0.5 = no better than random; ties count half), for the ``side`` map and for long +
    short.

    Args:
        fills: ``timestamp`` (UTC), ``price``, ``size_usd``.
        candles: candles covering the fills and ``warmup`` before the first one.
        config: the map's settings (``HeatmapConfig()`` when None).
        side: 'long' or 'short': the map side the fills are compared with.
        warmup: history before the first fill's hour the map is built from (a ``pd.Timedelta`` string).
        placebo: random prices drawn per fill.
        half_width_pct: half-width of the price window whose notional is compared, in %.
        seed: seed of the placebo draws.

    Returns:
        Dict of counts, shares and mean percentiles (count-weighted, and ``_usd``: USD-weighted),
        keyed ``<figure>_<placebo>`` with placebo ``range`` or ``same_side``; ``rows`` holds the
        candle row of the map each fill was compared with and ``maps`` those maps by row.
    """
    cfg = config or HeatmapConfig()
    if side not in ("long", "short"):
        raise InputError(f"side must be 'long' or 'short', got {side!r}")
    times = pd.to_datetime(fills["timestamp"], utc=True, format="ISO8601")
    first, last = times.min(), times.max()
    c = _with_us_dates(candles)
    c = c[(c["date"] >= first.floor("h") - pd.Timedelta(warmup)) & (c["date"] <= last)].reset_index(
        drop=True
    )
    if len(c) == 0 or c["date"].iloc[0] > first - pd.Timedelta(warmup) + pd.Timedelta("1D"):
        raise InputError(f"the candles do not cover {warmup} before the first fill ({first})")
    tf = pd.Series(c["date"]).diff().mode().iloc[0]
    rows = _prior_rows(c["date"], tf, times)
    feats = liquidation_features(c, cfg)
    maps = _maps_at(c, rows, cfg, range_pct=10.0)
    hour = pd.DatetimeIndex(times.dt.floor("h")).as_unit("us")
    hourly = c.set_index("date")[["high", "low"]].resample("1h").agg({"high": "max", "low": "min"})
    hour_lo = hourly["low"].reindex(hour).to_numpy()
    hour_hi = hourly["high"].reindex(hour).to_numpy()
    close = c["close"].to_numpy()[rows]
    price = fills["price"].to_numpy(dtype=np.float64)
    usd = fills["size_usd"].to_numpy(dtype=np.float64)
    lo_same = np.where(price >= close, close, np.minimum(hour_lo, price))
    hi_same = np.where(price >= close, np.maximum(hour_hi, price), close)
    bounds = {
        "range": (np.minimum(hour_lo, price), np.maximum(hour_hi, price)),
        "same_side": (lo_same, hi_same),
    }
    near = feats[f"liq_{side}_cluster_near"].to_numpy()[rows]
    far = feats[f"liq_{side}_cluster_far"].to_numpy()[rows]
    edge_lo, edge_hi = np.fmin(near, far), np.fmax(near, far)
    has_cluster = np.isfinite(edge_lo)
    inside = has_cluster & (price >= edge_lo) & (price <= edge_hi)
    w = usd / usd.sum()
    rng = np.random.default_rng(seed)
    # where each fill sits within the range of the candle it happened in (0 = low, 1 = high)
    during = np.minimum(rows + 1, len(c) - 1)
    c_lo, c_hi = c["low"].to_numpy()[during], c["high"].to_numpy()[during]
    position = (price - c_lo) / np.where(c_hi > c_lo, c_hi - c_lo, np.nan)
    by_hour = pd.Series(usd).groupby(np.asarray(hour)).sum()
    out: dict[str, Any] = {
        "fills": int(price.size),
        "usd": float(usd.sum()),
        "hours": int(pd.Series(hour).nunique()),
        "map_times": int(np.unique(rows).size),
        "first": first,
        "last": last,
        "warmup": warmup,
        "side": side,
        "top_hour": pd.Timestamp(by_hour.idxmax()),
        "top_hour_usd_share": float(by_hour.max() / usd.sum()),
        "position_in_candle": float(np.nanmedian(position)),
        "fills_with_cluster": float(has_cluster.mean()),
        "fills_in_cluster": float(inside.mean()),
        "usd_in_cluster": float(w @ inside),
        "cluster_distance_pct": (
            float(
                np.median(
                    np.where(price >= close, edge_lo, edge_hi)[has_cluster]
                    / close[has_cluster]
                    * 100
                    - 100
                )
            )
            if has_cluster.any()
            else math.nan
        ),
        "fill_distance_pct": float(np.median(price / close * 100 - 100)),
        "rows": rows,
        "maps": maps,
    }
    for name, (lo, hi) in bounds.items():
        fake = lo[:, None] + (hi - lo)[:, None] * rng.random((price.size, placebo))
        fake_inside = has_cluster[:, None] & (fake >= edge_lo[:, None]) & (fake <= edge_hi[:, None])
        out[f"placebo_in_cluster_{name}"] = float(fake_inside.mean())
        for key, s in (("side", side), ("both", "both")):
            pct = np.empty(price.size)
            for i in range(price.size):
                m = maps[int(rows[i])]
                d_real = _density(m, s, price[i : i + 1], half_width_pct)[0]
                d_fake = _density(m, s, fake[i], half_width_pct)
                pct[i] = (d_fake < d_real).mean() + 0.5 * (d_fake == d_real).mean()
            out[f"percentile_{key}_{name}"] = float(pct.mean())
            out[f"percentile_{key}_{name}_usd"] = float(w @ pct)
            # fills of one map time are not independent: count the map times that beat 0.5
            per_time = pd.Series(pct).groupby(rows).mean()
            out[f"map_times_above_half_{key}_{name}"] = int((per_time > 0.5).sum())
    return out


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
    candles = _with_us_dates(result.candles)
    tf = pd.Series(candles["date"]).diff().mode().iloc[0]
    oi = _with_us_dates(result.oi) if use_oi else None
    frame = (
        merge_causal(candles, oi, {"open_interest_value": "open_interest_value"})
        if use_oi
        else candles
    )
    feats = liquidation_features(frame, cfg)
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
        index=pd.DatetimeIndex(result.oi["date"]).as_unit("us") + tf,
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
    snap_close = (pd.DatetimeIndex(true_map["date"]).as_unit("us") + tf).asi8
    closes = pd.DatetimeIndex(candles["date"]).as_unit("us") + tf
    by_close = {int(k): g for k, g in true_map.groupby(snap_close, sort=True)}
    first_close = (pd.DatetimeIndex([start]).as_unit("us") + tf).asi8[0]
    keys = np.array([k for k in by_close if k >= first_close], dtype=np.int64)
    rows = np.searchsorted(closes.asi8, keys)
    rows = rows[(rows < len(closes)) & (closes.asi8[np.minimum(rows, len(closes) - 1)] == keys)]
    maps = _maps_at(frame, rows, cfg, range_pct=range_pct + 5.0)
    liq = result.liquidations
    liq_t = pd.DatetimeIndex(liq["date"]).as_unit("us")
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
    candles = _with_us_dates(result.candles)
    tf = pd.Series(candles["date"]).diff().mode().iloc[0]
    frame = (
        merge_causal(
            candles, _with_us_dates(result.oi), {"open_interest_value": "open_interest_value"}
        )
        if use_oi
        else candles
    )
    times = np.unique(pd.DatetimeIndex(result.liq_map["date"]).as_unit("us").asi8)
    if times.size == 0:
        raise InputError("the simulation holds no true map snapshot; simulate with snapshots")
    at = times[snapshot]
    row = int(np.searchsorted(pd.DatetimeIndex(candles["date"]).as_unit("us").asi8, at))
    m = _maps_at(frame, np.array([row]), cfg, range_pct=range_pct + 5.0)[row]
    tm = result.liq_map[pd.DatetimeIndex(result.liq_map["date"]).as_unit("us").asi8 == at]
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
