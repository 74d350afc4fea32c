"""What we tried: every model change of issue #16 measured out of sample, the losers included.

An ablation study of the map's modelling choices (docs/MODEL_CHANGES.md, written by
``scripts/ablation.py``). Each :class:`Variant` is one configuration (plus, for some, a side input:
funding or the caller's own long share); it is scored against real liquidations per bar on
bars it was never fitted on:

* a **ladder** from the first design to the shipped default, one change per rung (leverage
  bands, range entries, same-candle liquidations), each rung compared with the rung below;
* **removals**: the default with one of its changes taken out, compared with the default;
* **alternatives and extras**: other values of the default's choices and the changes the default
  does not contain (direction tilt, funding skew, a long share from positioning ratios),
  compared with the default;
* **open-interest inflow**: how much turnover rides on the change in OI.

Out of sample twice over: the map is causal (each candle's map uses only earlier candles), and
each variant's USD magnitude (one multiplier of its inflow; the map is linear in it) is fitted on
the fitting bars of a series only (:attr:`AblationSeries.fit_end`, or the first half of the bars)
and the figures are those of the remaining bars. The multiplier is fitted on the first timeframe
(5m) and applied to every timeframe, as the shipped preset is, so a coarse timeframe's USD error
is the model's, not a refit's.

Verdicts: a variant's *gain* is the mean difference of the map's Spearman rank correlation with
the real liquidations (over every scored cell: series x timeframe x side) between the
configuration with the change and the one without it, on the same bars. A change wins when its
gain exceeds :data:`TIE_RHO`, loses below ``-TIE_RHO``, and ties in between; whether it is kept
is read from the default's configuration, so a dropped change that wins (or a kept one that
loses) is reported as a finding, not hidden.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from liq_indicator.config import HeatmapConfig
from liq_indicator.core.inputs import merge_causal, utc_timestamp, utc_us
from liq_indicator.errors import InputError
from liq_indicator.research.accuracy import score_bars
from liq_indicator.research.calibration import bar_table, magnitude
from liq_indicator.research.metrics import bootstrap_ci, spearman
from liq_indicator.research.truth import TruthSeries

__all__ = [
    "GROUPS",
    "LONG_SHARE_COLUMNS",
    "TIE_RHO",
    "AblationSeries",
    "Variant",
    "ablation_scores",
    "ablation_summary",
    "ablation_variants",
    "balance",
    "long_share_frame",
    "render_model_changes",
]

SIDES = ("long", "short")
TIE_RHO = 0.005
"""A mean Spearman difference within +-this is a tie: smaller than the figures' rounding and far
inside any bootstrap interval of one cell."""
LONG_SHARE_COLUMNS = {
    "global account": "global_account_long_percent",
    "top position": "top_position_long_percent",
}
"""Source of the ``long_share`` column of the long-share variants: label -> column (percent) of
the Binance long/short ratios file."""
GROUPS = {
    "ladder": "From the design to the default, one change per rung (compared with the rung above)",
    "removal": "The default with one change taken out (compared with the default)",
    "alternative": "Other values and the extras the default does not contain (compared with the default)",
    "open interest": "Open-interest inflow (compared with the default's turnover)",
}
"""The variant groups in report order, with the sentence heading each."""


@dataclass(frozen=True)
class Variant:
    """One configuration of the map to score, and what it is compared with."""

    name: str
    """Short label (unique)."""
    group: str
    """One of :data:`GROUPS`."""
    config: HeatmapConfig
    """The map's settings (magnitude refitted, so its inflow share does not matter)."""
    reference: str | None
    """Name of the variant it is compared with (None: the base of the ladder)."""
    change: str
    """The change being judged, in words."""
    removes: bool = False
    """True when the variant takes the change *out* of its reference (its gain is then the
    reference's Spearman minus its own)."""
    kept: bool = False
    """The change is in the shipped default."""
    inflow: str = "volume"
    """``'volume'`` or ``'open interest'``."""
    funding: bool = False
    """The map is given the series' funding rates (merged causally by the package)."""
    long_share: str | None = None
    """A key of :data:`LONG_SHARE_COLUMNS`: the candles carry that ratio as ``long_share``."""


@dataclass(frozen=True)
class AblationSeries:
    """One truth series with the inputs to score every variant on it."""

    truth: TruthSeries
    candles: Mapping[str, pd.DataFrame]
    """Timeframe -> candles (the first one fits the magnitude), from a warm-up before the truth."""
    fit_end: Any = None
    """Bars before this are the fitting span, the rest are scored; None: the first half of the
    bars fits and the second half is scored."""
    open_interest: pd.DataFrame | None = None
    """Freqtrade ``open_interest`` frame for the OI variants (None: they are skipped)."""
    funding: pd.DataFrame | None = None
    """Funding-rate frame (``date`` and ``funding_rate`` or legacy ``open``) for the funding
    variants (None: they are skipped)."""
    long_share: pd.DataFrame | None = None
    """:func:`long_share_frame` rows for the long-share variants (None: they are skipped)."""
    warmup: str = "30D"
    """History the map is built from before the first bar used (fit or score)."""
    notes: list[str] = field(default_factory=list)
    """What was done to the inputs, for the report."""


def long_share_frame(ratios: pd.DataFrame) -> pd.DataFrame:
    """The long share of every :data:`LONG_SHARE_COLUMNS` ratio as fractions, one column per label.

    Args:
        ratios: the Binance long/short ratios file (``date`` and the percent columns).

    Returns:
        ``date`` (UTC, us) and one column per label in [0, 1]; a row dated ``T`` is known at
        ``T + bar`` (merged with :func:`~liq_indicator.core.inputs.merge_causal`).

    Raises:
        InputError: a column is missing.
    """
    missing = [c for c in ("date", *LONG_SHARE_COLUMNS.values()) if c not in ratios.columns]
    if missing:
        raise InputError(f"long/short ratios lack columns {missing}; have {list(ratios.columns)}")
    out = pd.DataFrame({"date": utc_us(pd.to_datetime(ratios["date"], utc=True))})
    for label, col in LONG_SHARE_COLUMNS.items():
        out[label] = pd.to_numeric(ratios[col], errors="coerce").to_numpy(dtype=np.float64) / 100.0
    return out


def ablation_variants(default: HeatmapConfig, design: HeatmapConfig) -> list[Variant]:
    """The variants of the study, built from the shipped default and the design preset.

    Whether each change is ``kept`` is read from ``default`` (not asserted), so the verdicts stay
    true when the default changes.
    """
    bands, ic, entry = default.leverage_edges, default.intracandle_sweep, default.entry_price
    edges_top = (*bands[:-1], 200.0) if bands else (3.0, 7.0, 15.0, 35.0, 75.0, 200.0)
    edges_low = (5.0, *bands[1:]) if bands and bands[1] > 5.0 else bands
    v: list[Variant] = []

    def add(
        name: str, group: str, cfg: HeatmapConfig, ref: str | None, change: str, **kw: Any
    ) -> None:
        v.append(Variant(name, group, cfg, ref, change, **kw))

    rung1 = design
    rung2 = rung1.replace(leverage_edges=bands or (3.0, 7.0, 15.0, 35.0, 75.0, 150.0))
    rung3 = rung2.replace(entry_price="range")
    add(
        "design",
        "ladder",
        rung1,
        None,
        "the first design: five leverage spikes, hlc3 entries",
        kept=False,
    )
    add(
        "+ leverage bands", "ladder", rung2, "design", "continuous leverage bands", kept=bool(bands)
    )
    add(
        "+ range entries",
        "ladder",
        rung3,
        "+ leverage bands",
        "entries over the candle's range",
        kept=entry == "range",
    )
    path = default.intracandle_path
    same_candle = (
        "same-candle liquidations (share from each candle's path)"
        if path
        else f"same-candle liquidations (intracandle_sweep {ic:g})"
    )
    has_same_candle = path or ic > 0
    add("default", "ladder", default, "+ range entries", same_candle, kept=has_same_candle)
    add(
        "default - leverage bands",
        "removal",
        default.replace(leverage_edges=()),
        "default",
        "continuous leverage bands",
        removes=True,
        kept=bool(bands),
    )
    add(
        "default - range entries",
        "removal",
        default.replace(entry_price="hlc3"),
        "default",
        "entries over the candle's range",
        removes=True,
        kept=entry == "range",
    )
    add(
        "default - same-candle",
        "removal",
        default.replace(intracandle_path=False, intracandle_sweep=0.0),
        "default",
        "same-candle liquidations",
        removes=True,
        kept=has_same_candle,
    )
    gamma, beta = default.vol_target, default.timeframe_exponent
    for name, off, what, on in (
        (
            "volatility targeting",
            {"vol_target": 0.0},
            f"(inflow x (reference / realised volatility)^{gamma:g})",
            gamma > 0,
        ),
        (
            "candle-length correction",
            {"timeframe_exponent": 0.0},
            f"(inflow x (candle length / 5m)^-{beta:g})",
            beta != 0,
        ),
    ):
        add(
            f"default - {name}",
            "removal",
            default.replace(**off),
            "default",
            f"{name} {what}",
            removes=True,
            kept=on,
        )
    for alt in (0.25, 0.5, 1.0):
        if path or alt != ic:
            add(
                f"intracandle {alt:g}",
                "alternative",
                default.replace(intracandle_path=False, intracandle_sweep=alt),
                "default",
                f"a fixed same-candle share {alt:g} instead of "
                + ("the path's" if path else f"{ic:g}"),
                kept=not path and alt == ic,
            )
    if not path:
        add(
            "same-candle by path",
            "alternative",
            default.replace(intracandle_path=True),
            "default",
            "same-candle share from the candle's path (open-low-high-close legs) "
            f"instead of {ic:g}",
            kept=False,
        )
    if edges_top != bands:
        add(
            "top edge 200x",
            "alternative",
            default.replace(leverage_edges=edges_top),
            "default",
            "leverage bands up to 200x",
        )
    if edges_low != bands:
        add(
            "bottom edge 5x",
            "alternative",
            default.replace(leverage_edges=edges_low),
            "default",
            "leverage bands from 5x",
        )
    add(
        "direction tilt 0.1",
        "alternative",
        default.replace(direction_tilt=0.1),
        "default",
        "long share +-0.1 on up/down candles",
        kept=default.direction_tilt > 0,
    )
    for skew in (0.05, -0.05):
        add(
            f"funding skew {skew:+g}/bp",
            "alternative",
            default.replace(funding_skew=skew),
            "default",
            f"long share {skew:+g} per bp of funding",
            funding=True,
            kept=default.funding_skew == skew,
        )
    for label in LONG_SHARE_COLUMNS:
        add(
            f"long share: {label}",
            "alternative",
            default,
            "default",
            f"long share from Binance's {label} long/short ratio",
            long_share=label,
        )
    ratio = default.turnover_share / default.oi_scale
    add(
        "OI: default turnover",
        "open interest",
        default,
        None,
        f"turnover on top of the change in OI (turnover/OI scale {ratio:.3g})",
        inflow="open interest",
        kept=default.turnover_share > 0,
    )
    add(
        "OI: change in OI only",
        "open interest",
        default.replace(turnover_share=0.0),
        "OI: default turnover",
        "turnover on top of the change in OI",
        removes=True,
        inflow="open interest",
        kept=default.turnover_share > 0,
    )
    big = max(ratio, 0.1) * 10
    add(
        "OI: turnover-dominated",
        "open interest",
        default.replace(turnover_share=min(default.oi_scale * big, 1.0)),
        "OI: default turnover",
        f"turnover {big / max(ratio, 1e-12):.3g}x the default's relative to OI (turnover-dominated)",
        inflow="open interest",
    )
    return v


# ================================================================================================
# scoring
# ================================================================================================
def _candles_for(series: AblationSeries, variant: Variant, tf: str) -> pd.DataFrame | None:
    """The candles of one cell with the variant's long share merged causally; None when the
    series lacks the input the variant needs (its open interest and funding go to
    :func:`~liq_indicator.research.calibration.bar_table`).
    """
    c = series.candles[tf]
    if variant.inflow == "open interest":
        if series.open_interest is None:
            return None
        # start at the first OI row, so no candle uses the volume rule: the map stays linear in
        # (oi_scale, turnover_share) and the fitted multiplier is exact
        first = pd.DatetimeIndex(series.open_interest["date"]).min()
        c = c[pd.DatetimeIndex(c["date"]) >= first].reset_index(drop=True)
    if variant.funding and series.funding is None:
        return None
    if variant.long_share is not None:
        if series.long_share is None:
            return None
        c = merge_causal(
            c, series.long_share, {variant.long_share: "long_share"}, name="long share"
        )
        if not np.isfinite(c["long_share"].to_numpy()).any():
            return None
    return c


def balance(table: pd.DataFrame) -> float:
    """Long/short balance error: median log10(est_long / est_short) minus median
    log10(real_long / real_short), over bars where all four are positive (NaN when none).

    Positive: the map leans to longs more than the real liquidations do. Independent of the
    magnitude (a multiplier cancels).
    """
    el, es = (
        table["est_long"].to_numpy(dtype=np.float64),
        table["est_short"].to_numpy(dtype=np.float64),
    )
    rl, rs = (
        table["real_long"].to_numpy(dtype=np.float64),
        table["real_short"].to_numpy(dtype=np.float64),
    )
    ok = (el > 0) & (es > 0) & (rl > 0) & (rs > 0)
    if not ok.any():
        return math.nan
    return float(np.median(np.log10(el[ok] / es[ok])) - np.median(np.log10(rl[ok] / rs[ok])))


def _rho_diff(a: np.ndarray, b: np.ndarray, real: np.ndarray) -> float:
    return spearman(a, real) - spearman(b, real)


def ablation_scores(
    series: Sequence[AblationSeries],
    variants: Sequence[Variant],
    *,
    n_boot: int = 200,
    seed: int = 0,
) -> tuple[pd.DataFrame, list[str]]:
    """Score every variant on every series, timeframe and side, out of sample.

    Per series, every variant's bar table is built over the fitting and scored bars; the bars
    used are those every table holds, from ``warmup`` after the latest start of the candles and
    open interest (so every cell of a series is scored on the same bars). Each variant's
    multiplier is fitted on the first timeframe's fitting bars and applied to every timeframe.

    Args:
        series: the truth series and their inputs.
        variants: :func:`ablation_variants` (names unique; each reference named among them).
        n_boot: bootstrap replicates of the paired Spearman difference with the reference.
        seed: bootstrap seed.

    Returns:
        ``(scores, skipped)``: one row per (series, variant, timeframe, side) with ``group``,
        ``inflow``, ``fit_bars``, ``bars``, ``multiplier`` and :func:`score_bars`' figures
        (``rho_map``, ``rho_best_base``, ``top_map``, ``log_ratio``, ``no_sweep``, ...), plus
        ``balance`` (:func:`balance`, the same on both sides) and ``d_rho`` with ``d_rho_lo`` /
        ``d_rho_hi`` (Spearman minus the reference's on the same bars, 90% paired moving-block
        interval; NaN without a reference); and one sentence per (series, variant) skipped.

    Raises:
        InputError: duplicate names, an unknown reference, or a series with too few bars.
    """
    names = [v.name for v in variants]
    if len(set(names)) != len(names):
        raise InputError(f"variant names must be unique, got {names}")
    unknown = {v.reference for v in variants if v.reference is not None} - set(names)
    if unknown:
        raise InputError(f"variants reference unknown variant(s) {sorted(unknown)}")
    rows: list[dict[str, Any]] = []
    skipped: list[str] = []
    for s in series:
        if not s.candles:
            raise InputError(f"{s.truth.name}: no candles")
        tables = _series_tables(s, variants, skipped)
        if tables:
            rows += _score_series(s, variants, tables, n_boot=n_boot, seed=seed)
    return pd.DataFrame(rows), skipped


def _series_tables(
    s: AblationSeries, variants: Sequence[Variant], skipped: list[str]
) -> dict[tuple[str, str], pd.DataFrame]:
    """(variant, timeframe) -> bar table with both baselines, for the variants whose inputs exist."""
    tables: dict[tuple[str, str], pd.DataFrame] = {}
    for v in variants:
        cells = {tf: _candles_for(s, v, tf) for tf in s.candles}
        if any(c is None for c in cells.values()):
            skipped.append(f"{s.truth.name}: '{v.name}' skipped, its input is not available there")
            continue
        oi = s.open_interest if v.inflow == "open interest" else None
        funding = s.funding if v.funding else None
        for tf, c in cells.items():
            assert c is not None
            tables[(v.name, tf)] = bar_table(
                s.truth,
                c,
                v.config,
                open_interest=oi,
                funding=funding,
                oi_baseline=s.open_interest,
            )
    return tables


def _score_series(
    s: AblationSeries,
    variants: Sequence[Variant],
    tables: dict[tuple[str, str], pd.DataFrame],
    *,
    n_boot: int,
    seed: int,
) -> list[dict[str, Any]]:
    """The rows of :func:`ablation_scores` for one series."""
    tfs = list(s.candles)
    index = _common_index(tables.values(), s)
    fit = _fit_mask(index, s.fit_end)
    if fit.sum() < 3 or (~fit).sum() < 3:
        raise InputError(
            f"{s.truth.name}: {int(fit.sum())} fitting and {int((~fit).sum())} scored bars after "
            f"the warm-up ({s.warmup}); pass candles covering more of the truth's dates"
        )
    done = [v for v in variants if (v.name, tfs[0]) in tables]
    scaled: dict[tuple[str, str], pd.DataFrame] = {}
    mult: dict[str, float] = {}
    for v in done:
        # fitted on the first timeframe's fitting bars only, applied to every timeframe
        mult[v.name] = magnitude(tables[(v.name, tfs[0])].loc[index], fit)
        for tf in tfs:
            t = tables[(v.name, tf)].loc[index][~fit].copy()
            for side in SIDES:
                t[f"est_{side}"] = t[f"est_{side}"] * mult[v.name]
            scaled[(v.name, tf)] = t
    rows = []
    for v in done:
        for tf in tfs:
            t = scaled[(v.name, tf)]
            bal = balance(t)
            ref = scaled.get((v.reference, tf)) if v.reference is not None else None
            for side in SIDES:
                d = (math.nan, math.nan, math.nan)
                if ref is not None:
                    d = bootstrap_ci(
                        _rho_diff,
                        t[f"est_{side}"].to_numpy(),
                        ref[f"est_{side}"].to_numpy(),
                        t[f"real_{side}"].to_numpy(),
                        n_boot=n_boot,
                        seed=seed,
                    )
                rows.append(
                    {
                        "series": s.truth.name,
                        "variant": v.name,
                        "group": v.group,
                        "inflow": v.inflow,
                        "timeframe": tf,
                        "side": side,
                        "fit_bars": int(fit.sum()),
                        "first": t.index[0],
                        "last": t.index[-1],
                        "multiplier": mult[v.name],
                        **score_bars(t, side, n_boot=n_boot, seed=seed),
                        "balance": bal,
                        "d_rho": d[0],
                        "d_rho_lo": d[1],
                        "d_rho_hi": d[2],
                    }
                )
    return rows


def _common_index(tables: Any, s: AblationSeries) -> pd.DatetimeIndex:
    index: pd.DatetimeIndex | None = None
    for t in tables:
        index = t.index if index is None else index.intersection(t.index)
    assert index is not None
    starts = [pd.DatetimeIndex(c["date"]).min() for c in s.candles.values()]
    if s.open_interest is not None:
        starts.append(pd.DatetimeIndex(s.open_interest["date"]).min())
    return index[index >= max(starts) + pd.Timedelta(s.warmup)]


def _fit_mask(index: pd.DatetimeIndex, fit_end: Any) -> np.ndarray:
    if fit_end is None:
        mask = np.zeros(len(index), dtype=bool)
        mask[: len(index) // 2] = True
        return mask
    return np.asarray(index < utc_timestamp(fit_end))


# ================================================================================================
# verdicts and the report
# ================================================================================================
def ablation_summary(scores: pd.DataFrame, variants: Sequence[Variant]) -> pd.DataFrame:
    """One row per scored variant: its figures averaged over every cell and the verdict.

    Returns:
        Indexed by variant name, in ``variants`` order: ``group``, ``change``, ``reference``, ``kept``,
        ``cells``; means over cells of ``rho_map``, ``rho_best_base``, ``top_map``,
        ``abs_log_ratio``, ``no_sweep``, ``abs_balance``; ``d_rho`` (mean Spearman difference
        with the reference), ``gain`` (the change's effect: ``d_rho``, or ``-d_rho`` for a
        removal), ``cells_up`` / ``cells_down`` (cells whose paired 90% interval lies wholly above
        / below zero, in the change's direction), ``outcome`` (``'wins'``, ``'loses'``, ``'ties'``
        or ``''`` without a reference), ``verdict`` (``'kept'`` / ``'dropped'``) and ``finding``
        (True when a kept change loses or a dropped one wins out of sample); ``gain_<series>``
        per series (NaN where the variant was not scored on it).
    """
    rows = []
    for v in variants:
        g = scores[scores["variant"] == v.name]
        if g.empty:
            continue
        sign = -1.0 if v.removes else 1.0
        d = g["d_rho"].to_numpy(dtype=np.float64)
        has_ref = v.reference is not None and np.isfinite(d).any()
        gain = sign * float(np.nanmean(d)) if has_ref else math.nan
        lo, hi = sign * g["d_rho_lo"].to_numpy(), sign * g["d_rho_hi"].to_numpy()
        up = int((np.minimum(lo, hi) > 0).sum())
        down = int((np.maximum(lo, hi) < 0).sum())
        outcome = ""
        if has_ref:
            outcome = "wins" if gain > TIE_RHO else "loses" if gain < -TIE_RHO else "ties"
        by_series = {
            f"gain_{name}": sign * float(np.nanmean(gs["d_rho"])) if has_ref else math.nan
            for name, gs in g.groupby("series", sort=False)
        }
        rows.append(
            {
                "variant": v.name,
                "group": v.group,
                "change": v.change,
                "reference": v.reference,
                "kept": v.kept,
                "cells": len(g),
                "rho_map": float(g["rho_map"].mean()),
                "rho_best_base": float(g["rho_best_base"].mean()),
                "top_map": float(g["top_map"].mean()),
                "abs_log_ratio": float(g["log_ratio"].abs().mean()),
                "no_sweep": float(g["no_sweep"].mean()),
                "abs_balance": float(g["balance"].abs().mean()),
                "d_rho": float(np.nanmean(d)) if has_ref else math.nan,
                "gain": gain,
                "cells_up": up,
                "cells_down": down,
                "outcome": outcome,
                "verdict": "kept" if v.kept else "dropped" if v.reference is not None else "base",
                "finding": (v.kept and outcome == "loses") or (not v.kept and outcome == "wins"),
                **by_series,
            }
        )
    return pd.DataFrame(rows).set_index("variant")


def _f(x: float, digits: int = 3, sign: bool = False) -> str:
    if not math.isfinite(x):
        return "n/a"
    return f"{x:+.{digits}f}" if sign else f"{x:.{digits}f}"


def _verdict_sentence(name: str, r: pd.Series) -> str:
    if not r["outcome"]:
        return f"**{name}** ({r['change']}) is the base its group is compared with."
    what = r["change"]
    by = f"mean Spearman {_f(r['gain'], sign=True)}; {r['cells_up']} of {r['cells']} cells better, {r['cells_down']} worse beyond their 90% interval"
    if r["verdict"] == "kept":
        if r["outcome"] == "wins":
            return f"**{name}**: {what} wins out of sample ({by}); kept."
        if r["outcome"] == "ties":
            return (
                f"**{name}**: {what} is within +-{TIE_RHO:g} of no change on the mean ({by}); kept."
            )
        return f"**{name}**: FINDING: {what} is in the default but loses out of sample ({by})."
    if r["outcome"] == "wins":
        return f"**{name}**: FINDING: {what} is not in the default but wins out of sample ({by})."
    if r["outcome"] == "ties":
        return (
            f"**{name}**: {what} is within +-{TIE_RHO:g} of no change on the mean ({by}); dropped."
        )
    return f"**{name}**: {what} loses out of sample ({by}); dropped."


def _usd_clause(summary: pd.DataFrame, r: pd.Series) -> str:
    """How the variant's USD error and no-sweep share compare with its reference's."""
    ref = _reference_of(summary, r)
    if ref is None:
        return ""
    return (
        f" Mean abs log10 ratio {_f(r['abs_log_ratio'], 2)} vs {_f(ref['abs_log_ratio'], 2)}, "
        f"no-sweep {_f(r['no_sweep'], 3)} vs {_f(ref['no_sweep'], 3)}, abs balance "
        f"{_f(r['abs_balance'], 2)} vs {_f(ref['abs_balance'], 2)} (this variant vs its comparison)."
    )


def _reference_of(summary: pd.DataFrame, r: pd.Series) -> pd.Series | None:
    ref = r.get("reference")
    if not isinstance(ref, str) or ref not in summary.index:
        return None
    return summary.loc[ref]


def render_model_changes(
    scores: pd.DataFrame,
    summary: pd.DataFrame,
    series: Sequence[AblationSeries],
    *,
    skipped: Sequence[str] = (),
    runtime_s: float | None = None,
) -> str:
    """docs/MODEL_CHANGES.md from :func:`ablation_scores` and :func:`ablation_summary`.

    Every figure comes from ``scores``/``summary``; each verdict sentence is chosen by them.
    """
    out = [
        "# Model changes: what we tried and what it did, out of sample",
        "",
        "Generated by `scripts/ablation.py` (liq_indicator.research.ablation); do not edit by hand. "
        "Issue #16 item 1: every model change is kept only if it wins out of sample; this page "
        "lists every change tried, the losers included.",
        "",
        "## How it is measured",
        "",
    ]
    for s in series:
        sub = scores[scores["series"] == s.truth.name]
        if sub.empty:
            continue
        fit = (
            "bars before " + str(pd.Timestamp(s.fit_end).date())
            if s.fit_end is not None
            else "the first half of the bars"
        )
        out.append(
            f"- **{s.truth.name}** ({s.truth.venue}): magnitude fitted on {fit} "
            f"({int(sub['fit_bars'].iloc[0])} bars), scored on {int(sub['bars'].iloc[0])} bars "
            f"{sub['first'].min():%Y-%m-%d %H:%M} .. {sub['last'].max():%Y-%m-%d %H:%M} UTC; candles "
            f"{', '.join(s.candles)}. " + " ".join(s.notes)
        )
    out += [
        "",
        "Each variant's USD magnitude is one multiplier of its inflow fitted on the fitting bars of "
        f"the first timeframe ({scores['timeframe'].iloc[0]}) and applied to every timeframe, as the shipped "
        "preset is; the map is causal. Per cell (series x timeframe x side): Spearman of the map's "
        "swept USD per bar with the real liquidations (and of the better naive baseline, adverse "
        "range x traded USD or x open interest), top-5% precision, median log10(estimate / real), "
        "the share of bars that moved against the side by 0.1% or more but swept nothing, and the "
        "long/short balance error (median log10(est long / est short) minus median "
        "log10(real long / real short); 0 = right balance). The judged figure is the Spearman "
        f"difference with the comparison variant on the same bars: a change wins when its mean "
        f"over cells exceeds {TIE_RHO:g}, loses below -{TIE_RHO:g}; cells better / worse count the "
        "cells whose paired 90% moving-block interval excludes zero. A mean over cells (Spearman "
        "map, ...) compares variants only at equal cell counts: the long-share variants have no "
        "ratios over all_1h. Reported USD undercounts "
        "(public feeds are throttled), so the magnitudes are fitted to the reported series.",
        "",
        "## Verdicts",
        "",
    ]
    findings = summary[summary["finding"]]
    if len(findings):
        out.append(
            f"{len(findings)} result(s) disagree with the default: "
            + "; ".join(
                f"{n} ({r['outcome']}, gain {_f(r['gain'], sign=True)})"
                for n, r in findings.iterrows()
            )
            + ". They are findings for the lead, listed below as FINDING."
        )
    else:
        out.append("Every kept change wins or ties out of sample and no dropped one wins.")
    out.append("")
    for group, heading in GROUPS.items():
        g = summary[summary["group"] == group]
        if g.empty:
            continue
        out += [f"### {heading}", ""]
        out += [
            f"- {_verdict_sentence(str(n), r)}{_usd_clause(summary, r)}" for n, r in g.iterrows()
        ]
        per = [c for c in summary.columns if c.startswith("gain_")]
        out += [
            "",
            "| variant | verdict | outcome | cells | gain (mean dSpearman) | "
            + "".join(f"gain {c.removeprefix('gain_')} | " for c in per)
            + "Spearman map | better baseline | top-5% | abs log ratio | no-sweep | abs balance |",
            "|---|---|---|---|---|" + "---|" * len(per) + "---|---|---|---|---|---|",
        ]
        for n, r in g.iterrows():
            out.append(
                f"| {n} | {r['verdict']} | {r['outcome'] or '-'} | {r['cells']} | {_f(r['gain'], sign=True)} | "
                + "".join(f"{_f(r[c], sign=True)} | " for c in per)
                + f"{_f(r['rho_map'])} | {_f(r['rho_best_base'])} | {_f(r['top_map'], 2)} | "
                f"{_f(r['abs_log_ratio'], 2)} | {_f(r['no_sweep'], 3)} | {_f(r['abs_balance'], 2)} |"
            )
        out.append("")
    out += [
        "## Every cell",
        "",
        "Spearman with its 90% interval, dSpearman against the comparison variant with its paired "
        "interval, the better baseline's Spearman, top-5% precision, median log10 ratio, no-sweep "
        "share, balance error and the fitted multiplier of the variant's inflow.",
        "",
    ]
    for (name, inflow), g in scores.groupby(["series", "inflow"], sort=False):
        out += [
            f"### {name}, {inflow} inflow",
            "",
            "| variant | tf | side | Spearman map | dSpearman | baseline | top-5% | log ratio | "
            "no-sweep | balance | multiplier |",
            "|---|---|---|---|---|---|---|---|---|---|---|",
        ]
        for _, r in g.iterrows():
            d = (
                f"{_f(r['d_rho'], sign=True)} [{_f(r['d_rho_lo'], sign=True)}, {_f(r['d_rho_hi'], sign=True)}]"
                if math.isfinite(r["d_rho"])
                else "-"
            )
            out.append(
                f"| {r['variant']} | {r['timeframe']} | {r['side']} | {_f(r['rho_map'])} "
                f"[{_f(r['rho_map_lo'])}, {_f(r['rho_map_hi'])}] | {d} | {_f(r['rho_best_base'])} | "
                f"{_f(r['top_map'], 2)} | {_f(r['log_ratio'], 2, sign=True)} | {_f(r['no_sweep'], 3)} | "
                f"{_f(r['balance'], 2, sign=True)} | {r['multiplier']:.3g} |"
            )
        out.append("")
    if skipped:
        out += ["## Not scored", ""] + [f"- {x}" for x in skipped] + [""]
    if runtime_s is not None:
        out += [f"Run time: {runtime_s:.0f} s.", ""]
    return "\n".join(out)
