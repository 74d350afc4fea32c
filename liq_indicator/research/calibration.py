"""Walk-forward calibration of the map's few free parameters to a real liquidation series.

What is fitted, and how (``liq-indicator calibrate`` runs :func:`calibrate`):

* **Shape** - a small grid of candidates (:func:`candidate_grid`): the share of a candle's own new
  positions liquidated within it (``intracandle_sweep``, or per candle from its path:
  ``intracandle_path``) and, with open interest, how much traded volume turns positions over on
  top of the OI change (``turnover_share``). Chosen by the mean Spearman rank correlation of the
  estimated swept notional with the real liquidations per bar, long and short, on the fitting
  bars; with several candle timeframes a near tie (:data:`RANK_TIE`) goes to the candidate whose
  USD agrees best across them.
* **Magnitude** - one multiplier of the inflow (``volume_share``; with open interest
  ``oi_scale`` and ``turnover_share`` together), in closed form: the map's swept USD is linear in
  its inflow, so the multiplier is ``10 ** -median(log10(estimate / real))`` over the fitting bars
  of both sides (bars where both are positive).

* **Volatility targeting** (with ``vol_target=True``) - the exponent ``vol_target`` of the
  inflow's volatility multiplier, in closed form: the slope of the fitting bars' log10(estimate /
  real) on the log10 of the realised volatility known at each bar's start
  (:func:`realised_vol_pct`), both sides pooled, added to the base's exponent and clipped to
  0 .. 2; ``vol_ref_pct`` is the median realised volatility of the fitting candles. The map is
  then rebuilt with it (first candle frame only) before the magnitude is fitted.

* **Venue share** (:func:`venue_share`) - not fitted to the map at all: the share of a larger
  scope's reported liquidations (e.g. all exchanges) that the candles' venue carries, measured on
  a per-exchange series over its last ``days``; it sets ``HeatmapConfig.venue_share``, so a map
  calibrated to one venue gives the USD of the larger scope.

* **Candle-length correction** (with ``timeframe_exponent=True`` and several candle timeframes)
  - the exponent ``timeframe_exponent``: minus the slope of the log10 of each timeframe's fitted
  multiplier on the log10 of its candle length over 5 minutes, added to the base's; fitted on
  every bar with the final shape (it does not change the first timeframe's out-of-sample figures
  when that is 5m, and the walk-forward reports the first timeframe's).

Walk-forward: the bars the truth and the candles share are cut into ``folds + 1`` consecutive
blocks; block ``k`` (k >= 1) is scored with the shape and magnitude fitted on blocks ``0 .. k-1``.
The out-of-sample figures are those of the scored blocks only. The map is causal, so the estimate
of a candidate is computed once over all candles and only the fitting is repeated. The returned
configuration is fitted on every bar (what a user runs from now on); its out-of-sample report is
that of the walk-forward.

Caveat for every USD figure: exchanges' public liquidation feeds are throttled (Binance and OKX
push at most one order per symbol per second), so the reported series undercounts; a preset is
calibrated to the *reported* series it names.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from liq_indicator.config import HeatmapConfig
from liq_indicator.core.inputs import candle_times, infer_timeframe, utc_us
from liq_indicator.core.kernels import realised_variance
from liq_indicator.errors import InputError
from liq_indicator.estimator import liquidation_features
from liq_indicator.io.ohlcv import resample_ohlcv
from liq_indicator.research.metrics import (
    bar_sums,
    log_ratio,
    moved_bars,
    no_sweep_share,
    spearman,
    top_precision,
)
from liq_indicator.research.truth import TruthSeries

__all__ = [
    "SIDES",
    "Calibration",
    "bar_table",
    "calibrate",
    "RANK_TIE",
    "candidate_grid",
    "causal_value_at",
    "fold_blocks",
    "magnitude",
    "realised_vol_pct",
    "score_table",
    "VenueShare",
    "venue_share",
]

SIDES = ("long", "short")


def _candle_bars(candles: pd.DataFrame, bar: pd.Timedelta) -> pd.DataFrame:
    """OHLC and USD volume of the candles summed to the truth's bars (complete bars only),
    indexed by bar start; the candles' dates are UTC in us, as :func:`bar_table` makes them.
    """
    tf = infer_timeframe(candles["date"])
    frame = candles[["date", "open", "high", "low", "close"]].assign(
        vol_usd=candles["volume"] * candles["close"], n_candles=1
    )
    out = resample_ohlcv(frame, bar, extra={"vol_usd": "sum", "n_candles": "sum"})
    out = out.set_index("date")
    return out[out.pop("n_candles") == int(bar / tf)]


def bar_table(
    truth: TruthSeries,
    candles: pd.DataFrame,
    config: HeatmapConfig,
    *,
    open_interest: pd.DataFrame | None = None,
    funding: pd.DataFrame | None = None,
    oi_baseline: pd.DataFrame | None = None,
) -> pd.DataFrame:
    """One row per bar held by the truth and by complete candles: real and estimated USD, baselines.

    Args:
        truth: the real liquidations (bars of any whole number of candles).
        candles: the venue's candles (Freqtrade layout), starting early enough to warm the map up.
        config: the map's settings.
        open_interest: Freqtrade ``open_interest`` candles (OI inflow), or None (volume inflow).
        funding: Freqtrade ``funding_rate`` candles for the map's funding skew, or None.
        oi_baseline: the open interest of the range x OI baseline, when it is not
            ``open_interest`` (a volume-inflow map scored against an OI baseline).

    Returns:
        Indexed by bar start: ``real_<side>``, ``est_<side>`` (the map's swept USD summed over the
        bar's candles; each candle's map uses only the past), ``base_vol_<side>`` (adverse range
        x traded USD), ``base_oi_<side>`` (adverse range x the open interest known at the bar's open, NaN
        without OI), ``moved_<side>`` (the bar moved against the side by >= 0.1%) and the bar's
        ``open``, ``high``, ``low``, ``vol_usd``.
    """
    c = candles.assign(date=utc_us(candles["date"]))
    feats = liquidation_features(c, config, open_interest=open_interest, funding=funding)
    est = bar_sums(feats, truth.bar)
    bars = _candle_bars(c, truth.bar)
    real = truth.frame.set_axis(utc_us(truth.frame.index))
    idx = real.index.intersection(est.index).intersection(bars.index)
    if len(idx) == 0:
        raise InputError(
            f"the candles ({c['date'].iloc[0]} .. {c['date'].iloc[-1]}) share no complete "
            f"{truth.bar} bar with the truth '{truth.name}' ({real.index[0]} .. {real.index[-1]}); "
            "pass candles covering the truth's dates"
        )
    b = bars.loc[idx]
    out = pd.DataFrame(index=idx)
    for col in ("open", "high", "low", "vol_usd"):
        out[col] = b[col].to_numpy()
    oi_open = np.full(len(idx), np.nan)
    base_oi = open_interest if oi_baseline is None else oi_baseline
    if base_oi is not None and "open_interest_value" in base_oi.columns:
        oi_open = causal_value_at(base_oi, "open_interest_value", idx)
    for side in SIDES:
        out[f"real_{side}"] = real.loc[idx, f"{side}_usd"].to_numpy(dtype=np.float64)
        out[f"est_{side}"] = est.loc[idx, f"liq_swept_{side}_usd"].to_numpy()
        adv = (
            (b["open"] - b["low"]) / b["open"]
            if side == "long"
            else (b["high"] - b["open"]) / b["open"]
        ).to_numpy()
        out[f"base_vol_{side}"] = adv * b["vol_usd"].to_numpy()
        out[f"base_oi_{side}"] = adv * oi_open
        out[f"moved_{side}"] = moved_bars(b, side)
    return out


@dataclass(frozen=True)
class VenueShare:
    """A venue's share of a larger scope's reported liquidations (see :func:`venue_share`)."""

    share: float
    """Sum of the venue's long and short USD over the window / the same sum of the scope's."""
    first: pd.Timestamp
    """First bar of the window."""
    last: pd.Timestamp
    """Last bar of the window."""
    bars: int
    """Bars both series hold inside the window."""
    long: float
    """The long side's share alone."""
    short: float
    """The short side's share alone."""


def venue_share(part: TruthSeries, whole: TruthSeries, *, days: float = 365.0) -> VenueShare:
    """The share of ``whole``'s reported liquidated USD that ``part`` carries.

    Measured over the last ``days`` of the bars both hold (shares drift: Binance carried 27% of
    the Coinalyze all-exchange BTC liquidations in 2022 and 35-38% in 2024), both sides pooled.

    Args:
        part: the venue's series (e.g. ``coinalyze_binance_1d``).
        whole: the larger scope's series over the same bars (e.g. ``coinalyze_all_1d``).
        days: length of the window, ending at the last common bar.

    Raises:
        InputError: no common bar, nothing liquidated in the window, or ``part`` larger than
            ``whole`` (not a part of it).
    """
    common = part.frame.index.intersection(whole.frame.index)
    if len(common) == 0:
        raise InputError(
            f"{part.name} and {whole.name} share no bar; pass series over the same dates"
        )
    window = common[common > common[-1] - pd.Timedelta(days=days)]
    p = part.frame.loc[window]
    w = whole.frame.loc[window]
    sides = {s: (float(p[f"{s}_usd"].sum()), float(w[f"{s}_usd"].sum())) for s in SIDES}
    num = sum(a for a, _ in sides.values())
    den = sum(b for _, b in sides.values())
    if not den > 0:
        raise InputError(
            f"{whole.name} reports nothing liquidated over {window[0]} .. {window[-1]}"
        )
    if num > den:
        raise InputError(
            f"{part.name} reports more than {whole.name} over the window; is it part of it?"
        )
    return VenueShare(
        share=num / den,
        first=window[0],
        last=window[-1],
        bars=len(window),
        long=sides["long"][0] / sides["long"][1] if sides["long"][1] > 0 else math.nan,
        short=sides["short"][0] / sides["short"][1] if sides["short"][1] > 0 else math.nan,
    )


def causal_value_at(frame: pd.DataFrame, column: str, times: Any) -> np.ndarray:
    """The latest ``column`` value of ``frame`` known at each of ``times`` (NaN when none).

    A row dated ``T`` is known at ``T + spacing`` (its period's close; spacing = the most common
    gap of ``frame``'s dates), the convention of Freqtrade's side frames.
    """
    dates = utc_us(frame["date"])
    tf = infer_timeframe(pd.Series(dates)) or pd.Timedelta(0)
    known = (dates + tf).asi8
    order = np.argsort(known, kind="stable")
    vals = frame[column].to_numpy(dtype=np.float64)[order]
    pos = np.searchsorted(known[order], utc_us(times).asi8, side="right") - 1
    return np.where(pos >= 0, vals[np.maximum(pos, 0)], np.nan)


def realised_vol_pct(candles: pd.DataFrame, half_life_hours: float) -> pd.DataFrame:
    """Realised daily volatility (%) known at each candle's close, measured by the map's own
    volatility-targeting step (:func:`liq_indicator.core.kernels.realised_variance`: a weighted
    mean of squared close-to-close log returns per second, exponential with half-life
    ``half_life_hours`` of wall clock), times one day, square-rooted.

    Returns:
        ``date`` (the candles') and ``vol_pct``; a side frame for :func:`causal_value_at`.
    """
    dates = utc_us(candles["date"])
    ln_close = np.log(candles["close"].to_numpy(dtype=np.float64))
    var = realised_variance(ln_close, candle_times(dates), half_life_hours * 3600.0)
    return pd.DataFrame({"date": dates, "vol_pct": np.sqrt(var * 86_400.0) * 100.0})


def _vol_slope(table: pd.DataFrame, vol_at_bar: np.ndarray, rows: np.ndarray) -> float:
    """Slope of log10(estimate / real) on log10(realised volatility at the bar's start) over
    ``rows``, both sides pooled (bars where all three are positive).
    """
    xs, ys = [], []
    for s in SIDES:
        est = table[f"est_{s}"].to_numpy()[rows]
        real = table[f"real_{s}"].to_numpy()[rows]
        vol = vol_at_bar[rows]
        ok = (est > 0) & (real > 0) & (vol > 0)
        xs.append(np.log10(vol[ok]))
        ys.append(np.log10(est[ok] / real[ok]))
    x, y = np.concatenate(xs), np.concatenate(ys)
    if len(x) < 10 or np.ptp(x) == 0:
        raise InputError("too few bars with liquidations to fit the volatility targeting")
    return float(np.polyfit(x, y, 1)[0])


def _candle_seconds(candles: pd.DataFrame) -> float:
    """The most common spacing of ``candles``' dates, in seconds."""
    tf = infer_timeframe(candles["date"])
    if tf is None:
        raise InputError("a candle frame of one row has no candle length")
    return tf.total_seconds()


def _timeframe_fit(
    truth: TruthSeries,
    frames: Mapping[str, pd.DataFrame],
    config: HeatmapConfig,
    first_table: pd.DataFrame,
    open_interest: pd.DataFrame | None,
) -> tuple[float, float]:
    """The candle-length exponent fitted on every bar the frames share (each timeframe's map
    with ``config``), and the factor it changes the first frame's estimate by.
    """
    tables = [first_table]
    for frame in list(frames.values())[1:]:
        tables.append(bar_table(truth, frame, config, open_interest=open_interest))
    index = tables[0].index
    for t in tables[1:]:
        index = index.intersection(t.index)
    seconds = np.array([_candle_seconds(f) for f in frames.values()])
    if np.ptp(seconds) == 0:
        raise InputError("the candle frames have one length; the correction needs several")
    logs = [math.log10(magnitude(t.loc[index])) for t in tables]
    slope = float(np.polyfit(np.log10(seconds / 300.0), logs, 1)[0])
    beta = round(min(max(config.timeframe_exponent - slope, -1.0), 1.0), 3)
    change = beta - config.timeframe_exponent
    return beta, (seconds[0] / 300.0) ** -change


def magnitude(table: pd.DataFrame, rows: np.ndarray | None = None) -> float:
    """The multiplier of the estimate that makes its median log10 ratio to the truth 0.

    Pooled over both sides, on ``rows`` (all when None) where estimate and truth are positive.
    """
    t = table if rows is None else table[rows]
    est = np.concatenate([t[f"est_{s}"].to_numpy() for s in SIDES])
    real = np.concatenate([t[f"real_{s}"].to_numpy() for s in SIDES])
    lr = log_ratio(est, real)
    if lr.n == 0:
        raise InputError(
            "no bar where both the estimate and the truth are positive; nothing to fit"
        )
    return float(10.0 ** (-lr.median))


def _rank_score(table: pd.DataFrame, rows: np.ndarray) -> float:
    t = table[rows]
    return float(np.nanmean([spearman(t[f"est_{s}"], t[f"real_{s}"]) for s in SIDES]))


def fold_blocks(n: int, folds: int) -> list[np.ndarray]:
    """``folds + 1`` consecutive blocks of ``range(n)`` (as equal as possible), as index arrays."""
    if not (isinstance(folds, int) and folds >= 1):
        raise InputError(f"folds must be a whole number >= 1, got {folds!r}")
    if n < 2 * (folds + 1):
        raise InputError(
            f"{n} bars are too few for {folds} walk-forward folds; pass more data or fewer folds"
        )
    return [b.astype(np.int64) for b in np.array_split(np.arange(n), folds + 1)]


RANK_TIE = 0.002
"""Candidates whose mean Spearman is within this of the best tie; with several candle timeframes
the tie goes to the one whose fitted USD multiplier varies least across them."""


def candidate_grid(base: HeatmapConfig, open_interest: bool) -> list[dict[str, Any]]:
    """The shape candidates tried: changes to ``base`` (magnitude is fitted separately): the
    same-candle share (0, 0.25, 0.5, or from each candle's path), and with open interest the
    turnover relative to the OI change (0.03 .. 10; shares stay <= 1 before scaling).
    """
    same_candle: list[dict[str, Any]] = [
        {"intracandle_path": False, "intracandle_sweep": ic} for ic in (0.0, 0.25, 0.5)
    ]
    same_candle.append({"intracandle_path": True})
    if not open_interest:
        return same_candle
    return [
        {**ic, "turnover_share": min(r, 1.0), "oi_scale": min(1.0, 1.0 / r)}
        for ic in same_candle
        for r in (0.03, 0.1, 0.3, 1.0, 3.0, 10.0)
    ]


def _significant(x: float, digits: int = 3) -> float:
    """``x`` rounded to ``digits`` significant digits (a fitted multiplier is not known better)."""
    return float(f"{x:.{digits - 1}e}")


def _scaled(config: HeatmapConfig, factor: float, open_interest: bool) -> HeatmapConfig:
    """``config`` with its inflow multiplied by ``factor`` (the map is linear in it)."""
    if open_interest:
        turnover = _significant(config.turnover_share * factor)
        if turnover > 1:
            raise InputError(
                f"the fit asks for turnover_share {turnover:.3g} > 1: the estimate is far below "
                "the truth; check that the truth and the candles are the same market"
            )
        return config.replace(
            oi_scale=_significant(config.oi_scale * factor), turnover_share=turnover
        )
    share = _significant(config.volume_share * factor)
    if share > 1:
        raise InputError(
            f"the fit asks for volume_share {share:.3g} > 1: the estimate is far below the truth; "
            "check that the truth and the candles are the same market"
        )
    return config.replace(volume_share=share)


def score_table(table: pd.DataFrame, *, top_share: float = 0.05) -> dict[str, float]:
    """Every figure of one estimate on ``table``'s rows (see :func:`bar_table`), per side."""
    out: dict[str, float] = {"bars": float(len(table))}
    for s in SIDES:
        est, real = table[f"est_{s}"], table[f"real_{s}"]
        lr = log_ratio(est, real)
        out[f"{s}_spearman_map"] = spearman(est, real)
        out[f"{s}_spearman_vol"] = spearman(table[f"base_vol_{s}"], real)
        out[f"{s}_spearman_oi"] = spearman(table[f"base_oi_{s}"], real)
        out[f"{s}_top_map"] = top_precision(est, real, top_share)
        out[f"{s}_top_vol"] = top_precision(table[f"base_vol_{s}"], real, top_share)
        out[f"{s}_log_ratio"] = lr.median
        out[f"{s}_slope"] = lr.slope
        out[f"{s}_no_sweep"] = no_sweep_share(est, table[f"moved_{s}"])
    return out


@dataclass(frozen=True)
class Calibration:
    """What :func:`calibrate` found."""

    config: HeatmapConfig
    """The settings fitted on every bar."""
    changes: dict[str, Any]
    """The fitted fields (shape and magnitude) and their values."""
    oos: pd.DataFrame
    """The scored bars of the walk-forward (a :func:`bar_table` with the fold's fitted scale
    applied to ``est_*``), plus ``fold``."""
    folds: pd.DataFrame = field(repr=False)
    """One row per fold: its test bars, the shape chosen and the multiplier fitted before it."""
    report: dict[str, float] = field(repr=False)
    """:func:`score_table` of ``oos``."""


def _candidate_tables(
    truth: TruthSeries,
    frames: dict[str, pd.DataFrame],
    base: HeatmapConfig,
    grid: list[dict[str, Any]],
    open_interest: pd.DataFrame | None,
    progress: Callable[[int, int, str], None] | None,
) -> list[list[pd.DataFrame]]:
    """``tables[frame][candidate]``: each candidate's :func:`bar_table` on each candle frame,
    cut to the bars they all hold.
    """
    all_tables: list[list[pd.DataFrame]] = [[] for _ in frames]
    done, total = 0, len(grid) * len(frames)
    for f, (label, frame) in enumerate(frames.items()):
        for change in grid:
            cfg = base.replace(**change)
            all_tables[f].append(bar_table(truth, frame, cfg, open_interest=open_interest))
            done += 1
            if progress is not None:
                what = ", ".join(f"{a}={b}" for a, b in change.items())
                progress(done, total, what if len(frames) == 1 else f"{label}: {what}")
    index = all_tables[0][0].index
    for per_frame in all_tables:
        for t in per_frame:
            index = index.intersection(t.index)
    return [[t.loc[index] for t in per_frame] for per_frame in all_tables]


def _choose(all_tables: list[list[pd.DataFrame]], rows: np.ndarray) -> int:
    """The candidate with the best mean rank score on ``rows`` over the frames; a tie (within
    :data:`RANK_TIE`) goes to the one whose USD agrees best across the frames (the smallest
    spread of log10 multipliers).
    """
    scores = np.mean(
        [[_rank_score(t, rows) for t in per_frame] for per_frame in all_tables], axis=0
    )
    best = int(np.nanargmax(scores))
    if len(all_tables) == 1:
        return best
    tied = [k for k in range(len(scores)) if scores[k] >= scores[best] - RANK_TIE]
    spread = {
        k: float(np.ptp([math.log10(magnitude(per[k], rows)) for per in all_tables])) for k in tied
    }
    return min(tied, key=lambda k: (spread[k], -scores[k]))


def calibrate(
    truth: TruthSeries,
    candles: pd.DataFrame | Mapping[str, pd.DataFrame],
    base: HeatmapConfig | None = None,
    *,
    open_interest: pd.DataFrame | None = None,
    folds: int = 4,
    candidates: Iterable[dict[str, Any]] | None = None,
    vol_target: bool = False,
    timeframe_exponent: bool = False,
    progress: Callable[[int, int, str], None] | None = None,
) -> Calibration:
    """Fit the map's shape and magnitude to ``truth`` walk-forward (see the module doc).

    Args:
        truth: real liquidations per bar, of the venue whose candles are given.
        candles: that venue's candles, from some weeks before the truth starts (warm-up); or
            several timeframes of them by name (``{"5m": ..., "1h": ...}``): the shape is then
            chosen by the mean rank score over them, the magnitude is fitted on the first, and the
            out-of-sample figures are the first's.
        base: the settings whose other fields are kept (``HeatmapConfig()`` when None).
        open_interest: Freqtrade ``open_interest`` candles to calibrate the OI inflow; None
            calibrates the volume inflow.
        folds: walk-forward folds (each scored block is fitted on everything before it).
        candidates: shape candidates (dicts of field changes); :func:`candidate_grid` by default.
        vol_target: also fit the volatility targeting (``vol_target``, ``vol_ref_pct``) after
            the shape, before the magnitude (see the module doc).
        timeframe_exponent: with several timeframes in ``candles``, also fit the candle-length
            correction (see the module doc).
        progress: called ``progress(done, total, what)`` after each candidate's map is built.

    Returns:
        A :class:`Calibration`.
    """
    base = base or HeatmapConfig()
    use_oi = open_interest is not None
    grid = list(candidates) if candidates is not None else candidate_grid(base, use_oi)
    if not grid:
        raise InputError("no candidates to try")
    frames = dict(candles) if isinstance(candles, Mapping) else {"candles": candles}
    if not frames:
        raise InputError("no candles to calibrate on")
    all_tables = _candidate_tables(truth, frames, base, grid, open_interest, progress)
    index = all_tables[0][0].index
    tables = all_tables[0]

    def choose(rows: np.ndarray) -> int:
        return _choose(all_tables, rows)

    first = next(iter(frames.values()))
    vol = realised_vol_pct(first, base.vol_half_life_hours) if vol_target else None
    vol_at_bar = causal_value_at(vol, "vol_pct", index) if vol is not None else None

    def targeted(best: int, fit: np.ndarray) -> tuple[pd.DataFrame, dict[str, Any]]:
        """The chosen candidate's table, rebuilt with the volatility targeting fitted on
        ``fit`` (the table itself, and no change, without ``vol_target``).
        """
        if vol is None or vol_at_bar is None:
            return tables[best], {}
        gamma = base.vol_target + _vol_slope(tables[best], vol_at_bar, fit)
        until = index[fit][-1]
        ref = float(np.nanmedian(vol.loc[vol["date"] < until, "vol_pct"]))
        change = {"vol_target": round(min(max(gamma, 0.0), 2.0), 2), "vol_ref_pct": round(ref, 2)}
        cfg = base.replace(**grid[best], **change)
        table = bar_table(truth, first, cfg, open_interest=open_interest).loc[index]
        return table, change

    blocks = fold_blocks(len(index), folds)
    scored, rows = [], []
    for k in range(1, len(blocks)):
        fit = np.zeros(len(index), dtype=bool)
        fit[np.concatenate(blocks[:k])] = True
        best = choose(fit)
        table, vol_change = targeted(best, fit)
        scale = magnitude(table, fit)
        test = table.iloc[blocks[k]].copy()
        for s in SIDES:
            test[f"est_{s}"] = test[f"est_{s}"] * scale
        test["fold"] = k
        scored.append(test)
        rows.append(
            {
                "fold": k,
                "first_bar": index[blocks[k][0]],
                "last_bar": index[blocks[k][-1]],
                "fit_bars": int(fit.sum()),
                "test_bars": len(blocks[k]),
                "shape": {**grid[best], **vol_change},
                "multiplier": scale,
            }
        )
    everything = np.ones(len(index), dtype=bool)
    best = choose(everything)
    table, vol_change = targeted(best, everything)
    shaped = base.replace(**grid[best], **vol_change)
    scale = magnitude(table, everything)
    if timeframe_exponent and len(frames) > 1:
        beta, first_factor = _timeframe_fit(truth, frames, shaped, table, open_interest)
        vol_change["timeframe_exponent"] = beta
        shaped = shaped.replace(timeframe_exponent=beta)
        scale /= first_factor
    final = _scaled(shaped, scale, use_oi)
    fitted = {
        name: getattr(final, name)
        for name in (*grid[best], *vol_change, "volume_share", "oi_scale", "turnover_share")
    }
    oos = pd.concat(scored)
    report = score_table(oos)
    if not all(math.isfinite(report[f"{s}_spearman_map"]) for s in SIDES):
        raise InputError("the out-of-sample bars have no variation to rank; pass more data")
    return Calibration(final, fitted, oos, pd.DataFrame(rows), report)
