"""Pictures of the liquidation map: interactive plotly figures and static matplotlib PNGs.

Plotting only: nothing here reads a file; the ``save_*`` functions write their one output file.

* :func:`heatmap_figure` / :func:`save_png_heatmap` - time x price: pending liquidation notional per
  bin (longs in blue, shorts in orange, log colour scale in USD), candles on top, and below them the
  notional swept per period (the cascades), optionally a backtest's trades: each trade's stop and
  target from entry to exit, and the cluster edges they were set from; optionally the liquidations
  recorded by ``liq-indicator record`` as bubbles (area ~ USD) over the estimated map.
* :func:`map_figure` / :func:`save_png_map` - the map at one moment: per-bin bars stacked by
  leverage tier, the cumulative long curve below price and the cumulative short curve above it,
  optionally the nearest clusters' edges and a trade's stop and target.

Both pictures can carry a ``watermark`` (e.g. ``SIMULATED``); the heatmap shades the stretch where
the map has not warmed up (``cold_until``).

FreqUI's ``plot_config`` and ``plot_annotations`` for a strategy are :mod:`liq_indicator.strategy.frequi`.

The palette and USD labels are the package's one palette, :mod:`liq_indicator.style`. plotly
and matplotlib are imported inside the functions that need them, and the map dataclasses come
from ``core.maps``, so importing this module loads neither plotting library nor numba.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
import pandas as pd

from liq_indicator.core.inputs import infer_timeframe
from liq_indicator.core.maps import Heatmap, LiquidationMap
from liq_indicator.errors import InputError
from liq_indicator.io.extras import require
from liq_indicator.io.ohlcv import resample_ohlcv
from liq_indicator.style import (
    BACKGROUND,
    CANDLE_DOWN,
    CANDLE_UP,
    COLD_SHADE,
    CUM_LONG_COLOR,
    CUM_SHORT_COLOR,
    GRID,
    LONG_COLOR,
    LONG_SCALE,
    LONG_TIER_COLORS,
    SHORT_COLOR,
    SHORT_SCALE,
    SHORT_TIER_COLORS,
    STOP_COLOR,
    TARGET_COLOR,
    TEXT,
    WARN_COLOR,
    format_usd,
)

SWEPT_COLUMNS = ("liq_swept_long_usd", "liq_swept_short_usd")
#: bars of the swept panel at most, in both renderers (so the HTML and the PNG sum the same period)
SWEPT_BARS = 320
#: optional trade columns drawn when present (see ``liq_indicator.strategy.frequi.trade_levels_at_entry``):
#: the target, and the near/far edges of the cluster beyond the stop and of the one at the target
TRADE_LEVEL_COLUMNS = (
    "target_rate",
    "stop_cluster_near",
    "stop_cluster_far",
    "target_cluster_near",
    "target_cluster_far",
)
#: colour scales: ``clusters`` leaves the thinner cells clear so that clusters stand apart,
#: ``full`` shows nearly every non-empty cell
SCALES = ("clusters", "full")
#: share of the non-empty cells left clear by the ``clusters`` scale (its floor's percentile)
CLUSTER_FLOOR_PCT = 80.0
#: ``price_axis="auto"`` turns logarithmic when the highest high is this many times the lowest low
LOG_PRICE_RATIO = 2.0

if TYPE_CHECKING:  # pragma: no cover
    from types import ModuleType

    import plotly.graph_objects as go
    from matplotlib.artist import Artist
    from matplotlib.axes import Axes
    from matplotlib.colors import LinearSegmentedColormap
    from matplotlib.lines import Line2D
    from matplotlib.ticker import FuncFormatter

__all__ = [
    "BUBBLE_MAX_AREA",
    "BUBBLE_MAX_PX",
    "RECORDED_COLUMNS",
    "SCALES",
    "SWEPT_BARS",
    "TRADE_LEVEL_COLUMNS",
    "downsample_candles",
    "heatmap_figure",
    "map_figure",
    "save_html",
    "save_png_heatmap",
    "save_png_map",
    "trades_in_period",
]


def _nice_step(span: float, n: int = 3) -> float:
    """A 1-2-5 step that cuts ``span`` into about ``n`` parts."""
    if not span > 0:
        return 1.0
    raw = span / n
    mag = 10.0 ** math.floor(math.log10(raw))
    return next(m * mag for m in (1, 2, 5, 10) if m * mag >= raw)


def _log_ticks(vmin: float, vmax: float) -> np.ndarray:
    """USD values for a logarithmic colour bar: decades, or 1-2-5 when the span is narrow."""
    lo, hi = math.floor(math.log10(vmin)), math.ceil(math.log10(vmax))
    mult = (1, 2, 5) if hi - lo <= 3 else (1,)
    ticks = np.array([m * 10.0**e for e in range(lo, hi + 1) for m in mult])
    return ticks[(ticks >= vmin * 0.999) & (ticks <= vmax * 1.001)]


# ------------------------------------------------------------------------------------------------
# shared preparation (pure, tested through the figures)


def _check_candles(candles: pd.DataFrame) -> None:
    missing = [c for c in ("date", "open", "high", "low", "close") if c not in candles.columns]
    if missing:
        raise InputError(f"candles lack column(s) {missing}; pass Freqtrade-style candles")
    if len(candles) == 0:
        raise InputError("no candles to draw")


def _naive_utc(dates: Any) -> pd.DatetimeIndex:
    """UTC datetimes without a zone (plotly.js ignores offsets; every axis here says UTC)."""
    idx = pd.DatetimeIndex(dates)
    return idx.tz_convert("UTC").tz_localize(None) if idx.tz is not None else idx


def _timeframe(candles: pd.DataFrame) -> pd.Timedelta:
    return infer_timeframe(candles["date"]) or pd.Timedelta(minutes=5)


# display candle periods tried, shortest first: merged candles line up with the clock
_PERIODS = tuple(
    pd.Timedelta(p)
    for p in (
        "1min",
        "3min",
        "5min",
        "15min",
        "30min",
        "1h",
        "2h",
        "4h",
        "6h",
        "8h",
        "12h",
        "1D",
        "2D",
        "3D",
        "7D",
    )
)


def _display_period(
    t0: pd.Timestamp, t1: pd.Timestamp, tf: pd.Timedelta, max_candles: int
) -> pd.Timedelta:
    """The shortest clock period, a multiple of ``tf``, giving at most ``max_candles`` periods."""
    span = t1 - t0
    for period in _PERIODS:
        if period >= tf and period % tf == pd.Timedelta(0) and span / period <= max_candles - 1:
            return period
    return tf * math.ceil(span / tf / max(max_candles - 1, 1))


def downsample_candles(candles: pd.DataFrame, max_candles: int) -> pd.DataFrame:
    """Merge candles into at most ``max_candles`` display candles of one clock period.

    The period is the shortest of 5m, 15m, 30m, 1h, 2h, 4h, 6h, 8h, 12h, 1d, ... (a multiple of the
    candles' timeframe) that fits. Each display candle takes the first open, the highest high, the
    lowest low and the last close of its period, so no extreme is lost; ``liq_swept_*`` columns are
    summed (the notional swept during the period). Columns ``start``/``end`` bound each period
    (clipped to the candles); ``attrs['period']`` and ``attrs['timeframe']`` say what was merged.
    """
    _check_candles(candles)
    if max_candles < 1:
        raise InputError(f"max_candles must be >= 1, got {max_candles}")
    tf = _timeframe(candles)
    dates = _naive_utc(candles["date"])
    t0, t1 = dates[0], dates[-1] + tf
    period = _display_period(t0, t1, tf, max_candles)
    swept = [c for c in SWEPT_COLUMNS if c in candles.columns]
    columns = {c: candles[c].to_numpy() for c in ("open", "high", "low", "close", *swept)}
    # clock periods from the epoch (as dates.floor would), any other from the first candle
    frame = resample_ohlcv(
        pd.DataFrame({"date": dates, **columns}),
        period,
        extra=dict.fromkeys(swept, "sum"),
        origin="epoch" if period in _PERIODS else "start",
    )
    start = pd.DatetimeIndex(frame.pop("date"))
    frame.insert(0, "start", start.where(start >= t0, t0))
    frame.insert(1, "end", (start + period).where(start + period <= t1, t1))
    frame.attrs["period"] = period
    frame.attrs["timeframe"] = tf
    return frame.reset_index(drop=True)


def _heat_edges(heatmap: Heatmap, tf: pd.Timedelta) -> pd.DatetimeIndex:
    """Time edges of the heatmap's columns: column i ends at the close of its last candle."""
    right = _naive_utc(heatmap.times) + tf
    if len(right) >= 2:
        first = right[0] - (right[1] - right[0])
    else:
        first = right[0] - tf
    return pd.DatetimeIndex([first]).append(right)


def _crop_heatmap(
    heatmap: Heatmap, tf: pd.Timedelta, t0: pd.Timestamp, t1: pd.Timestamp
) -> tuple[pd.DatetimeIndex, np.ndarray, np.ndarray]:
    """Edges and [time, bin] long/short of the columns overlapping [t0, t1]."""
    edges = _heat_edges(heatmap, tf)
    keep = np.asarray((edges[1:] > t0) & (edges[:-1] < t1))
    if not keep.any():
        raise InputError(
            f"the heatmap ({heatmap.times[0]} .. {heatmap.times[-1]}) does not overlap the candles "
            f"({t0} .. {t1}); compute both from the same frame"
        )
    idx = np.flatnonzero(keep)
    return edges[idx[0] : idx[-1] + 2], heatmap.long[idx], heatmap.short[idx]


def _colour_range(
    long: np.ndarray, short: np.ndarray, decades: float | None, scale: str = "clusters"
) -> tuple[float, float]:
    """(floor, top) USD of the shared log colour scale. ``top`` is the largest cell. ``floor`` is
    ``decades`` below it or, when None, a percentile of the non-empty cells: the
    :data:`CLUSTER_FLOOR_PCT` th for the ``clusters`` scale (kept within 0.5 to 4 decades below the
    top), the 1st for ``full`` (1 to 4 decades). Cells under the floor are drawn clear.
    """
    if scale not in SCALES:
        raise InputError(f"scale must be one of {SCALES}, got {scale!r}")
    top = float(max(long.max(initial=0.0), short.max(initial=0.0)))
    if not top > 0:
        return 1.0, 10.0
    if decades is None:
        cells = np.concatenate([long[long > 0], short[short > 0]])
        pct, least = (CLUSTER_FLOOR_PCT, 0.5) if scale == "clusters" else (1.0, 1.0)
        span = math.log10(top) - float(np.percentile(np.log10(cells), pct))
        decades = min(max(span, least), 4.0)
    return top / 10.0**decades, top


def _log_price(lo: float, hi: float, price_axis: str) -> bool:
    if price_axis not in ("auto", "log", "linear"):
        raise InputError(f"price_axis must be 'auto', 'log' or 'linear', got {price_axis!r}")
    return price_axis == "log" or (price_axis == "auto" and lo > 0 and hi / lo >= LOG_PRICE_RATIO)


def _usd_codes(values: np.ndarray, vmin: float, vmax: float) -> np.ndarray:
    """USD -> uint8 colour codes: 0 below ``vmin`` (clear), 1..255 linear in log10 up to vmax.
    255 levels are finer than the eye needs and keep the HTML a quarter the size of float32.
    """
    codes = np.zeros(values.shape, dtype=np.uint8)
    shown = values >= vmin
    frac = (np.log10(values[shown]) - math.log10(vmin)) / (math.log10(vmax) - math.log10(vmin))
    codes[shown] = 1 + np.rint(np.clip(frac, 0.0, 1.0) * 254).astype(np.uint8)
    return codes


def _usd_code_position(usd: np.ndarray, vmin: float, vmax: float) -> np.ndarray:
    """Where USD values fall on the 0..255 code axis (for colour-bar ticks)."""
    return 1 + (np.log10(usd) - math.log10(vmin)) / (math.log10(vmax) - math.log10(vmin)) * 254


def _swept_label(frame: pd.DataFrame) -> str:
    period, tf = frame.attrs["period"], frame.attrs["timeframe"]
    return (
        f"swept per candle ({_duration(tf)})" if period == tf else f"swept per {_duration(period)}"
    )


def _duration(td: pd.Timedelta) -> str:
    minutes = int(td.total_seconds() // 60)
    if minutes % 1440 == 0:
        return f"{minutes // 1440}d"
    if minutes % 60 == 0:
        return f"{minutes // 60}h"
    if minutes > 120:
        return f"{minutes // 60}h{minutes % 60:02d}"
    return f"{minutes}m"


def _trade_frame(trades: pd.DataFrame | None, t0: pd.Timestamp, t1: pd.Timestamp) -> pd.DataFrame:
    """The trades that overlap the drawn period, dates naive UTC."""
    if trades is None or len(trades) == 0:
        return pd.DataFrame()
    need = ("open_date", "close_date", "open_rate", "close_rate")
    missing = [c for c in need if c not in trades.columns]
    if missing:
        raise InputError(
            f"trades lack column(s) {missing}; load them with liq_indicator.io.backtest.load_trades"
        )
    tr = trades.copy()
    tr["open_date"] = _naive_utc(pd.to_datetime(tr["open_date"], utc=True))
    tr["close_date"] = _naive_utc(pd.to_datetime(tr["close_date"], utc=True))
    for col in ("stop_loss_abs", "initial_stop_loss_abs", "profit_ratio"):
        if col not in tr.columns:
            tr[col] = np.nan
    if "is_short" not in tr.columns:
        tr["is_short"] = False
    tr["is_short"] = tr["is_short"].fillna(False).astype(bool)
    for col in TRADE_LEVEL_COLUMNS:
        if col not in tr.columns:
            tr[col] = np.nan
    return tr[(tr["close_date"] >= t0) & (tr["open_date"] <= t1)].reset_index(drop=True)


def trades_in_period(trades: pd.DataFrame | None, start: Any, end: Any) -> pd.DataFrame:
    """The trades a heatmap of ``start`` .. ``end`` draws: those open at some time in the period.

    Args:
        trades: :func:`liq_indicator.io.backtest.load_trades` output (or None).
        start: The period's first time (tz-aware or naive UTC).
        end: The period's last time.

    Returns:
        Those rows, dates naive UTC (empty when there are none).
    """
    return _trade_frame(trades, _naive_utc([start])[0], _naive_utc([end])[0])


def _segments(tr: pd.DataFrame, column: str) -> tuple[list, list]:
    """x, y of one polyline holding a horizontal segment per trade (None between trades)."""
    xs: list = []
    ys: list = []
    for o, c, s in zip(tr["open_date"], tr["close_date"], tr[column], strict=True):
        if pd.notna(s) and s > 0:
            xs += [o, c, None]
            ys += [float(s), float(s), None]
    return xs, ys


def _brackets(tr: pd.DataFrame) -> tuple[list, list]:
    """x, y of a vertical line per trade at its entry, from its stop to its target (or entry)."""
    xs: list = []
    ys: list = []
    for row in tr.itertuples(index=False):
        ends = [
            v
            for v in (row.stop_loss_abs, row.initial_stop_loss_abs, row.target_rate, row.open_rate)
            if pd.notna(v) and v > 0
        ]
        if len(ends) >= 2:
            xs += [row.open_date, row.open_date, None]
            ys += [float(min(ends)), float(max(ends)), None]
    return xs, ys


def _cluster_boxes(tr: pd.DataFrame, near: str, far: str) -> tuple[list, list]:
    """x, y of closed outlines (None between them), one per trade: the cluster's edges from the
    trade's entry to its exit.
    """
    xs: list = []
    ys: list = []
    for o, c, a, b in zip(tr["open_date"], tr["close_date"], tr[near], tr[far], strict=True):
        if pd.notna(a) and pd.notna(b):
            xs += [o, c, c, o, o, None]
            ys += [float(a), float(a), float(b), float(b), float(a), None]
    return xs, ys


def _price(v: float) -> str:
    return f"{v:,.2f}" if pd.notna(v) else "?"


def _trade_text(tr: pd.DataFrame) -> list[str]:
    out = []
    for row in tr.itertuples(index=False):
        side = "short" if row.is_short else "long"
        profit = f"{row.profit_ratio:+.2%}" if pd.notna(row.profit_ratio) else "?"
        lines = [
            f"{side} {profit} ({getattr(row, 'exit_reason', '')})",
            f"entry {row.open_rate:,.2f} exit {row.close_rate:,.2f}",
            f"stop {_price(row.stop_loss_abs)} (initial {_price(row.initial_stop_loss_abs)})",
        ]
        if pd.notna(row.target_rate):
            lines.append(f"target {_price(row.target_rate)}")
        if pd.notna(row.stop_cluster_near):
            lines.append(
                f"cluster beyond the stop {_price(row.stop_cluster_near)} .. "
                f"{_price(row.stop_cluster_far)}"
            )
        if pd.notna(row.target_cluster_near):
            lines.append(
                f"cluster at the target {_price(row.target_cluster_near)} .. "
                f"{_price(row.target_cluster_far)}"
            )
        out.append("<br>".join(lines))
    return out


# ------------------------------------------------------------------------------------------------
# recorded liquidations (bubbles)

#: what a recorded-liquidations frame must hold per side (``liq_indicator.io.liquidations``)
RECORDED_COLUMNS = ("long_usd", "short_usd", "long_count", "short_count", "long_vwap", "short_vwap")
#: the largest bubble's diameter in pixels (plotly) / area in points squared (matplotlib)
BUBBLE_MAX_PX = 34.0
BUBBLE_MAX_AREA = 700.0
#: bubbles are drawn at least this wide (px), so that a $100 fill beside a $10M one stays visible
BUBBLE_MIN_PX = 3.0


def _recorded_bubbles(
    liquidations: pd.DataFrame | None, t0: pd.Timestamp, t1: pd.Timestamp, period: pd.Timedelta
) -> pd.DataFrame:
    """Recorded liquidations merged into the display candles' periods, one row per period and side
    with something recorded: ``time`` (the period's middle, naive UTC), ``side``, ``usd``,
    ``count``, ``price`` (the USD-weighted price), ``high``/``low`` (NaN when not recorded).

    Periods in a recording gap (NaN rows, :func:`liq_indicator.io.liquidations.load_liquidations`)
    and quiet periods (0 USD) give no bubble.
    """
    cols = ["side", "time", "usd", "count", "price", "high", "low"]
    if liquidations is None or len(liquidations) == 0:
        return pd.DataFrame(columns=cols)
    frame = liquidations.reset_index() if "date" not in liquidations.columns else liquidations
    missing = [c for c in ("date", *RECORDED_COLUMNS) if c not in frame.columns]
    if missing:
        raise InputError(
            f"recorded liquidations lack column(s) {missing}; read them with "
            "liq_indicator.io.liquidations.load_liquidations"
        )
    dates = _naive_utc(pd.to_datetime(frame["date"], utc=True))
    inside = np.asarray((dates >= t0) & (dates < t1))
    key = dates.floor(period) if period in _PERIODS else t0 + (dates - t0) // period * period
    out = []
    for side in ("long", "short"):
        usd = frame[f"{side}_usd"].to_numpy(dtype=float)
        price = frame[f"{side}_vwap"].to_numpy(dtype=float)
        ok = inside & np.isfinite(usd) & (usd > 0) & np.isfinite(price) & (price > 0)
        if not ok.any():
            continue
        part = pd.DataFrame(
            {
                "key": np.asarray(key)[ok],
                "usd": usd[ok],
                "amount": usd[ok] / price[ok],  # the VWAP of merged periods: sum USD / sum amount
                "count": frame[f"{side}_count"].to_numpy(dtype=float)[ok],
                "high": frame.get(f"{side}_high", pd.Series(np.nan, index=frame.index)).to_numpy(
                    dtype=float
                )[ok],
                "low": frame.get(f"{side}_low", pd.Series(np.nan, index=frame.index)).to_numpy(
                    dtype=float
                )[ok],
            }
        )
        g = part.groupby("key", sort=True).agg(
            usd=("usd", "sum"),
            amount=("amount", "sum"),
            count=("count", "sum"),
            high=("high", "max"),
            low=("low", "min"),
        )
        start = pd.DatetimeIndex(g.index)
        start = start.where(start >= t0, t0)
        end = (pd.DatetimeIndex(g.index) + period).where(
            pd.DatetimeIndex(g.index) + period <= t1, t1
        )
        out.append(
            pd.DataFrame(
                {
                    "side": side,
                    "time": start + (end - start) / 2,
                    "usd": g["usd"].to_numpy(),
                    "count": g["count"].to_numpy(),
                    "price": (g["usd"] / g["amount"]).to_numpy(),
                    "high": g["high"].to_numpy(),
                    "low": g["low"].to_numpy(),
                }
            )
        )
    if not out:
        return pd.DataFrame(columns=cols)
    return pd.concat(out, ignore_index=True)[cols]


def _bubble_text(rows: pd.DataFrame) -> list[str]:
    out = []
    for row in rows.itertuples(index=False):
        n = int(row.count)
        lines = [
            f"{row.side}s liquidated (recorded): {format_usd(row.usd)} in {n} "
            f"liquidation{'s' if n != 1 else ''}",
            f"volume-weighted price {row.price:,.2f}",
        ]
        if np.isfinite(row.low) and np.isfinite(row.high):
            lines.append(f"range {row.low:,.2f} .. {row.high:,.2f}")
        out.append("<br>".join(lines))
    return out


def _add_plotly_recorded_swept(fig: go.Figure, recorded: pd.DataFrame, label: str) -> None:
    """The recorded USD per swept period as diamonds in the swept panel (shorts up, longs down),
    beside the estimate's bars.
    """
    import plotly.graph_objects as go

    period = label.replace("swept ", "")
    for side, colour, sign in (("short", CUM_SHORT_COLOR, 1.0), ("long", CUM_LONG_COLOR, -1.0)):
        rows = recorded[recorded["side"] == side]
        if len(rows) == 0:
            continue
        fig.add_trace(
            go.Scatter(
                x=rows["time"],
                y=sign * rows["usd"].to_numpy(),
                customdata=rows["usd"].to_numpy(),
                mode="markers",
                name=f"{side}s recorded {period}",
                marker={
                    "symbol": "diamond",
                    "size": 6,
                    "color": colour,
                    "line": {"color": BACKGROUND, "width": 0.5},
                },
                hovertemplate=f"{side}s recorded %{{customdata:$.3s}}<extra></extra>",
            ),
            row=2,
            col=1,
        )


def _add_plotly_bubbles(fig: go.Figure, bubbles: pd.DataFrame) -> None:
    """A marker trace per side at (time, volume-weighted price), marker area proportional to USD
    (``sizemode='area'``, one ``sizeref`` for both sides so that their bubbles compare).
    """
    import plotly.graph_objects as go

    top = float(bubbles["usd"].max())
    sizeref = 2.0 * top / BUBBLE_MAX_PX**2  # plotly's rule: the largest is BUBBLE_MAX_PX wide
    for side, colour in (("long", LONG_COLOR), ("short", SHORT_COLOR)):
        rows = bubbles[bubbles["side"] == side]
        if len(rows) == 0:
            continue
        fig.add_trace(
            go.Scatter(
                x=rows["time"],
                y=rows["price"],
                mode="markers",
                name=f"{side}s liquidated (recorded)",
                text=_bubble_text(rows),
                customdata=rows["usd"].to_numpy(),
                hovertemplate="%{x|%Y-%m-%d %H:%M} UTC<br>%{text}<extra></extra>",
                marker={
                    "size": rows["usd"].to_numpy(),
                    "sizemode": "area",
                    "sizeref": sizeref,
                    "sizemin": BUBBLE_MIN_PX,
                    "color": colour,
                    "opacity": 0.8,
                    "line": {"color": "#ffffff", "width": 1},
                },
                meta={"recorded": True},
            ),
            row=1,
            col=1,
        )


# ------------------------------------------------------------------------------------------------
# plotly


def _base_layout(fig: go.Figure, title: str | None, height: int) -> None:
    fig.update_layout(
        template="plotly_dark",
        paper_bgcolor=BACKGROUND,
        plot_bgcolor=BACKGROUND,
        font={"color": TEXT, "size": 12},
        title={"text": title or "", "x": 0.01, "xanchor": "left"},
        height=height,
        margin={"l": 70, "r": 150, "t": 70, "b": 50},
        legend={
            "orientation": "h",
            "x": 0.0,
            "y": 1.0,
            "yanchor": "bottom",
            "bgcolor": "rgba(0,0,0,0)",
        },
        hovermode="closest",
    )
    fig.update_xaxes(gridcolor=GRID, zeroline=False)
    fig.update_yaxes(gridcolor=GRID, zeroline=False)


def _colorbar(label: str, vmin: float, vmax: float, y: float) -> dict:
    ticks = _log_ticks(vmin, vmax)
    return {
        "title": {"text": label, "side": "right"},
        "tickvals": _usd_code_position(ticks, vmin, vmax).tolist(),
        "ticktext": [format_usd(t) for t in ticks],
        "x": 1.01,
        "xanchor": "left",
        "y": y,
        "yanchor": "middle",
        "len": 0.36,
        "thickness": 14,
    }


def _plotly_scale(stops: tuple[tuple[float, str], ...]) -> list[list]:
    """Colour codes 1..255 span the stops; code 0 (under the floor) is transparent."""
    first = 1.0 / 255.0
    return [[0.0, "rgba(0,0,0,0)"]] + [[first + p * (1.0 - first), c] for p, c in stops]


def _heatmap_inputs(
    candles: pd.DataFrame, heatmap: Heatmap, max_candles: int, decades: float | None, scale: str
) -> tuple:
    """What both heatmap renderers draw: merged candles, the swept panel's bars (at most
    :data:`SWEPT_BARS`, the same in both renderers), the heatmap cropped to the candles, and the
    colour range.
    """
    _check_candles(candles)
    missing = [c for c in SWEPT_COLUMNS if c not in candles.columns]
    if missing:
        raise InputError(f"candles lack {missing}; pass the frame liquidation_features() returns")
    bars = downsample_candles(candles, max_candles)
    swept = downsample_candles(candles, SWEPT_BARS)
    tf = bars.attrs["timeframe"]
    edges, long, short = _crop_heatmap(heatmap, tf, bars["start"].iloc[0], bars["end"].iloc[-1])
    vmin, vmax = _colour_range(long, short, decades, scale)
    return bars, swept, edges, long, short, vmin, vmax


def _price_range(
    bars: pd.DataFrame, log: bool, tr: pd.DataFrame | None = None, limits: Any = None
) -> tuple[float, float]:
    """The price axis: the candles and the drawn trades' stops and targets (within ``limits``,
    the heatmap's price edges), padded by 4%.
    """
    lo, hi = float(bars["low"].min()), float(bars["high"].max())
    if tr is not None and len(tr):
        cols = ["stop_loss_abs", "initial_stop_loss_abs", "target_rate"]
        levels = tr[cols].to_numpy(dtype=float).ravel()
        levels = levels[np.isfinite(levels) & (levels > 0)]
        if limits is not None:
            levels = levels[(levels >= limits[0]) & (levels <= limits[-1])]
        lo, hi = min(lo, levels.min(initial=lo)), max(hi, levels.max(initial=hi))
    if log:
        return lo / (hi / lo) ** 0.04, hi * (hi / lo) ** 0.04
    pad = (hi - lo) * 0.04 or hi * 0.01
    return lo - pad, hi + pad


def _cold_end(cold_until: Any, t0: pd.Timestamp, t1: pd.Timestamp) -> pd.Timestamp | None:
    """Where the warming-up shade ends inside [t0, t1]; None when nothing of it is drawn."""
    if cold_until is None:
        return None
    end = _naive_utc([pd.Timestamp(cold_until)])[0]
    return min(end, t1) if end > t0 else None


def _cold_label(cold_until: Any) -> str:
    return f"map warming up until {pd.Timestamp(cold_until):%Y-%m-%d %H:%M}: clusters understated"


def heatmap_figure(
    candles: pd.DataFrame,
    heatmap: Heatmap,
    trades: pd.DataFrame | None = None,
    *,
    title: str | None = None,
    max_candles: int = 1500,
    decades: float | None = None,
    scale: str = "clusters",
    price_axis: str = "auto",
    cold_until: Any = None,
    watermark: str | None = None,
    height: int = 900,
    liquidations: pd.DataFrame | None = None,
) -> go.Figure:
    """The liquidation heatmap as an interactive plotly figure.

    Args:
        candles: the candles drawn, with the ``liq_swept_long_usd``/``liq_swept_short_usd`` columns
            of :func:`liquidation_features` (the lower panel).
        heatmap: :func:`liquidation_heatmap` of these candles (or of a longer frame holding them:
            columns outside the candles' period are left out).
        trades: optional trades (:func:`liq_indicator.io.backtest.load_trades`): entries, exits,
            each trade's final and initial stop from entry to exit and, when the trades hold the
            :data:`TRADE_LEVEL_COLUMNS` (``frequi.trade_levels_at_entry``), its target and the
            edges of the clusters beyond the stop and at the target.
        title: figure title.
        max_candles: display candles at most; longer frames are merged keeping highs and lows.
        decades: span of the log colour scale below its largest cell (smaller cells are left
            clear); by default set by ``scale``.
        scale: ``clusters`` (default): the floor is the 80th percentile of the non-empty cells
            (0.5 to 4 decades below the top), so only the denser fifth is coloured and clusters
            stay apart over weeks; ``full``: the 1st percentile (1 to 4 decades), nearly every
            non-empty cell coloured.
        price_axis: ``log``, ``linear`` or ``auto`` (log when the high is twice the low or more).
        cold_until: the time until which the map has not warmed up; that stretch is shaded and
            labelled.
        watermark: large text across the picture (e.g. ``SIMULATED``).
        height: figure height in pixels.
        liquidations: recorded liquidations
            (:func:`liq_indicator.io.liquidations.load_liquidations`: indexed or keyed by
            ``date``, with ``long_usd``/``short_usd``, ``*_count``, ``*_vwap`` and optionally
            ``*_high``/``*_low``), drawn over the estimated map as bubbles at (time,
            volume-weighted price) with area proportional to USD, longs blue, shorts orange,
            merged into the display candles' periods; and per swept period as diamonds beside
            the swept bars. Recording gaps (NaN rows) and quiet periods draw nothing.

    Returns:
        A figure with two heatmap traces (``long pending``/``short pending``; ``z`` holds uint8
        colour codes linear in log10 USD, ``customdata`` the USD values), a candlestick, two swept
        bar traces (at most :data:`SWEPT_BARS` periods) and, with trades, ``entry long``,
        ``entry short``, ``exit win``, ``exit loss``, ``stop (final)``, ``stop (initial)`` and,
        when known, ``target`` and ``cluster edges``. With recorded liquidations, the bubble
        traces ``longs liquidated (recorded)`` / ``shorts liquidated (recorded)`` (``marker.size``
        the USD, ``sizemode='area'``) and the swept panel's ``longs recorded per ...`` /
        ``shorts recorded per ...``, for the sides with something recorded in the period.

    Raises:
        InputError: when the candles lack OHLC or swept columns, or do not overlap the heatmap,
            or ``liquidations`` lacks the recorded columns.
    """
    require(("plotly",), "plot", "heatmap_figure")
    import plotly.graph_objects as go
    from plotly.subplots import make_subplots

    bars, swept, edges, long, short, vmin, vmax = _heatmap_inputs(
        candles, heatmap, max_candles, decades, scale
    )
    t0, t1 = bars["start"].iloc[0], bars["end"].iloc[-1]
    mid = bars["start"] + (bars["end"] - bars["start"]) / 2
    swept_mid = swept["start"] + (swept["end"] - swept["start"]) / 2

    fig = make_subplots(
        rows=2, cols=1, shared_xaxes=True, row_heights=[0.78, 0.22], vertical_spacing=0.03
    )
    for side, values, stops, y in (
        ("long", long, LONG_SCALE, 0.28),
        ("short", short, SHORT_SCALE, 0.74),
    ):
        usd = np.ascontiguousarray(values.T, dtype=np.float32)
        fig.add_trace(
            go.Heatmap(
                x=edges,
                y=heatmap.price_edges,
                z=_usd_codes(usd, vmin, vmax),
                customdata=usd,
                zmin=0,
                zmax=255,
                colorscale=_plotly_scale(stops),
                colorbar=_colorbar(f"{side} liquidations pending (USD / bin)", vmin, vmax, y),
                name=f"{side} pending",
                meta={"usd_range": [vmin, vmax]},
                hovertemplate=(
                    f"%{{x|%Y-%m-%d %H:%M}} UTC<br>price %{{y:,.0f}}<br>{side} "
                    "liquidations pending %{customdata:$.3s}<extra></extra>"
                ),
            ),
            row=1,
            col=1,
        )
    fig.add_trace(
        go.Candlestick(
            x=mid,
            open=bars["open"],
            high=bars["high"],
            low=bars["low"],
            close=bars["close"],
            name="price",
            increasing={"line": {"color": CANDLE_UP, "width": 1}, "fillcolor": CANDLE_UP},
            decreasing={"line": {"color": CANDLE_DOWN, "width": 1}, "fillcolor": CANDLE_DOWN},
            whiskerwidth=0,
        ),
        row=1,
        col=1,
    )

    label = _swept_label(swept)
    long_sw = swept["liq_swept_long_usd"].to_numpy(dtype=float)
    short_sw = swept["liq_swept_short_usd"].to_numpy(dtype=float)
    fig.add_trace(
        go.Bar(
            x=swept_mid,
            y=short_sw,
            name=f"shorts {label}",
            marker_color=SHORT_COLOR,
            marker_line_width=0,
            hovertemplate="shorts swept %{y:$.3s}<extra></extra>",
        ),
        row=2,
        col=1,
    )
    fig.add_trace(
        go.Bar(
            x=swept_mid,
            y=-long_sw,
            customdata=long_sw,
            name=f"longs {label}",
            marker_color=LONG_COLOR,
            marker_line_width=0,
            hovertemplate="longs swept %{customdata:$.3s}<extra></extra>",
        ),
        row=2,
        col=1,
    )

    recorded = _recorded_bubbles(liquidations, t0, t1, bars.attrs["period"])
    if len(recorded):
        _add_plotly_bubbles(fig, recorded)
    recorded_swept = _recorded_bubbles(liquidations, t0, t1, swept.attrs["period"])
    _add_plotly_recorded_swept(fig, recorded_swept, label)

    tr = _trade_frame(trades, t0, t1)
    if len(tr):
        _add_plotly_trades(fig, tr)

    _base_layout(fig, title, height)
    fig.update_layout(barmode="relative", bargap=0.0, xaxis_rangeslider_visible=False)
    if len(tr):  # the trades' legend entries take a second row above the plot
        fig.update_layout(margin={"t": 110}, title={"y": 0.985, "yanchor": "top"})
    log = _log_price(float(bars["low"].min()), float(bars["high"].max()), price_axis)
    y0, y1 = _price_range(bars, log, tr, heatmap.price_edges)
    fig.update_yaxes(
        type="log" if log else "linear",
        range=[math.log10(y0), math.log10(y1)] if log else [y0, y1],
        title_text="price (log)" if log else "price",
        tickformat=",.0f",
        row=1,
        col=1,
    )
    top = float(max(long_sw.max(initial=0.0), short_sw.max(initial=0.0)))
    top = max(top, float(recorded_swept["usd"].max()) if len(recorded_swept) else 0.0) or 1.0
    step = _nice_step(top, 2)
    ticks = np.arange(-math.floor(top / step), math.floor(top / step) + 1) * step
    fig.update_yaxes(
        range=[-top * 1.08, top * 1.08],
        tickvals=ticks.tolist(),
        ticktext=[format_usd(t) if t else "0" for t in ticks],
        title_text="swept (USD)",
        row=2,
        col=1,
    )
    fig.update_xaxes(range=[t0, t1], row=1, col=1)
    fig.update_xaxes(range=[t0, t1], title_text="UTC", row=2, col=1)
    fig.add_annotation(
        text="▲ shorts liquidated  ▼ longs liquidated"
        + ("  ◆ recorded" if len(recorded_swept) else ""),
        xref="x2 domain",
        yref="y2 domain",
        x=0.005,
        y=0.98,
        showarrow=False,
        xanchor="left",
        yanchor="top",
        font={"size": 11, "color": TEXT},
    )
    cold = _cold_end(cold_until, t0, t1)
    if cold is not None:
        fig.add_vrect(
            x0=t0,
            x1=cold,
            row=1,
            col=1,
            fillcolor=COLD_SHADE,
            opacity=0.28,
            line={"color": WARN_COLOR, "width": 1, "dash": "dot"},
            layer="above",
            name="warming up",
            annotation={
                "text": "⚠ " + _cold_label(cold_until),
                "font": {"color": WARN_COLOR, "size": 12},
                "bgcolor": BACKGROUND,
            },
            annotation_position="top left",
        )
    _add_watermark(fig, watermark)
    return fig


def _add_watermark(fig: go.Figure, watermark: str | None) -> None:
    if watermark:
        fig.add_annotation(
            text=watermark,
            name="watermark",
            xref="paper",
            yref="paper",
            x=0.5,
            y=0.6,
            showarrow=False,
            textangle=-18,
            opacity=0.22,
            font={"size": 96, "color": WARN_COLOR},
        )


def _add_plotly_trades(fig: go.Figure, tr: pd.DataFrame) -> None:
    """Each trade: a bracket at its entry from stop to target, its stops (final solid, initial
    dotted) and target from entry to exit, the edges of the clusters they were set from (dashed
    boxes in the side's colour), and entry / exit markers with one legend entry per kind.
    """
    import plotly.graph_objects as go

    text = _trade_text(tr)

    def line(xs: list, ys: list, name: str, **style: Any) -> None:
        if xs:
            fig.add_trace(
                go.Scatter(x=xs, y=ys, mode="lines", name=name, hoverinfo="skip", **style),
                row=1,
                col=1,
            )

    long_cl, short_cl = tr[~tr["is_short"]], tr[tr["is_short"]]
    for near, far, name in (
        ("stop_cluster_near", "stop_cluster_far", "cluster edges: beyond the stop"),
        ("target_cluster_near", "target_cluster_far", "cluster edges: at the target"),
    ):
        # a long's stop sits beyond a long cluster (blue), its target at a short cluster (orange)
        for part, side_colour in (
            (long_cl, CUM_LONG_COLOR if near.startswith("stop") else CUM_SHORT_COLOR),
            (short_cl, CUM_SHORT_COLOR if near.startswith("stop") else CUM_LONG_COLOR),
        ):
            xs, ys = _cluster_boxes(part, near, far)
            line(
                xs,
                ys,
                name,
                legendgroup=name,
                showlegend=not any(t.name == name for t in fig.data),
                line={"color": side_colour, "width": 1.3, "dash": "dash"},
            )
    xs, ys = _brackets(tr)
    line(xs, ys, "trade (stop to target)", line={"color": "rgba(255,255,255,0.55)", "width": 1})
    for column, name, colour, dash in (
        ("stop_loss_abs", "stop (final)", STOP_COLOR, "solid"),
        ("initial_stop_loss_abs", "stop (initial)", STOP_COLOR, "dot"),
        ("target_rate", "target", TARGET_COLOR, "solid"),
    ):
        xs, ys = _segments(tr, column)
        line(xs, ys, name, line={"color": colour, "width": 2.5, "dash": dash})
    text_arr = np.asarray(text, dtype=object)
    win = (tr["profit_ratio"].fillna(0) > 0).to_numpy()
    short = tr["is_short"].to_numpy()
    for mask, name, symbol in (
        (~short, "entry long", "triangle-up"),
        (short, "entry short", "triangle-down"),
    ):
        if mask.any():
            fig.add_trace(
                go.Scatter(
                    x=tr["open_date"][mask],
                    y=tr["open_rate"][mask],
                    mode="markers",
                    name=name,
                    text=text_arr[mask].tolist(),
                    hovertemplate="entry %{x|%Y-%m-%d %H:%M}<br>%{text}<extra></extra>",
                    marker={
                        "symbol": symbol,
                        "size": 12,
                        "color": "#ffffff",
                        "line": {"color": "#000000", "width": 1},
                    },
                ),
                row=1,
                col=1,
            )
    for mask, name, colour in ((win, "exit win", CANDLE_UP), (~win, "exit loss", CANDLE_DOWN)):
        if mask.any():
            fig.add_trace(
                go.Scatter(
                    x=tr["close_date"][mask],
                    y=tr["close_rate"][mask],
                    mode="markers",
                    name=name,
                    text=text_arr[mask].tolist(),
                    hovertemplate="exit %{x|%Y-%m-%d %H:%M}<br>%{text}<extra></extra>",
                    marker={
                        "symbol": "x",
                        "size": 11,
                        "color": colour,
                        "line": {"color": "#000000", "width": 1},
                    },
                ),
                row=1,
                col=1,
            )


def _by_leverage(liq_map: LiquidationMap) -> tuple[list[float], np.ndarray, np.ndarray]:
    """Tiers summed per leverage (a multi-venue map repeats each leverage once per venue; the
    venue split is in the features' per-venue share columns).
    """
    levs = list(dict.fromkeys(liq_map.leverages))
    index = np.array([levs.index(lev) for lev in liq_map.leverages])

    def fold(by_tier: np.ndarray) -> np.ndarray:
        out = np.zeros((len(levs), by_tier.shape[1]))
        np.add.at(out, index, by_tier)
        return out

    return levs, fold(liq_map.long_by_tier), fold(liq_map.short_by_tier)


def _marks(
    clusters: Mapping[str, tuple[float, float]] | None, levels: Mapping[str, float] | None
) -> tuple[list[tuple[str, float, float, str]], list[tuple[str, float, str]]]:
    """Finite cluster spans (label, low, high, colour) and levels (label, price, colour)."""
    spans = []
    for label, (a, b) in (clusters or {}).items():
        if np.isfinite(a) and np.isfinite(b):
            colour = CUM_SHORT_COLOR if label.startswith("short") else CUM_LONG_COLOR
            spans.append((label, float(min(a, b)), float(max(a, b)), colour))
    lines = []
    for label, price in (levels or {}).items():
        if np.isfinite(price):
            colour = (
                STOP_COLOR
                if label.startswith("stop")
                else TARGET_COLOR
                if label.startswith("target")
                else TEXT
            )
            lines.append((label, float(price), colour))
    return spans, lines


def map_figure(
    liq_map: LiquidationMap,
    *,
    title: str | None = None,
    clusters: Mapping[str, tuple[float, float]] | None = None,
    levels: Mapping[str, float] | None = None,
    watermark: str | None = None,
    height: int = 650,
) -> go.Figure:
    """The liquidation map at one moment as an interactive plotly figure.

    Bars: pending notional per price bin, stacked by leverage tier (longs blue, shorts orange).
    Lines (right axis): the cumulative long notional that a fall to each price would liquidate,
    and the cumulative short notional a rise would. A vertical line marks the price.

    Args:
        liq_map: :func:`liquidation_map` output.
        title: figure title.
        clusters: label -> (near, far) edges of a cluster, drawn as a dashed span (blue for labels
            starting with ``long``, orange for ``short``), e.g. the features'
            ``liq_long_cluster_near/far``; non-finite edges are skipped.
        levels: label -> price, drawn as a vertical line (magenta for labels starting with
            ``stop``, lime for ``target``), e.g. a trade's stop and target.
        watermark: large text across the picture (e.g. ``SIMULATED``, ``NOT WARMED UP``).
        height: figure height in pixels.

    Returns:
        A figure with one bar trace per side and tier (``long 10x`` ...), the traces
        ``cumulative long`` (prices at or below the price, ascending) and ``cumulative short``,
        and one shape per cluster edge pair and level (named by its label).
    """
    require(("plotly",), "plot", "map_figure")
    import plotly.graph_objects as go
    from plotly.subplots import make_subplots

    fig = make_subplots(specs=[[{"secondary_y": True}]])
    prices = liq_map.bin_prices
    widths = np.diff(liq_map.bin_edges)
    levs, long_by, short_by = _by_leverage(liq_map)
    for side, by_tier, colors in (
        ("long", long_by, LONG_TIER_COLORS),
        ("short", short_by, SHORT_TIER_COLORS),
    ):
        for k, (lev, values) in enumerate(zip(levs, by_tier, strict=True)):
            fig.add_trace(
                go.Bar(
                    x=prices,
                    y=values,
                    width=widths,
                    name=f"{side} {lev:g}x",
                    legendgroup=side,
                    marker_color=colors[k % len(colors)],
                    marker_line_width=0,
                    hovertemplate=f"%{{x:,.0f}}<br>{side} {lev:g}x %{{y:$.3s}}<extra></extra>",
                ),
                secondary_y=False,
            )
    below = prices <= liq_map.price
    above = prices >= liq_map.price
    fig.add_trace(
        go.Scatter(
            x=prices[below],
            y=liq_map.cumulative_long[below],
            name="cumulative long",
            mode="lines",
            line={"color": CUM_LONG_COLOR, "width": 2.5},
            hovertemplate="fall to %{x:,.0f}: longs liquidated %{y:$.3s}<extra></extra>",
        ),
        secondary_y=True,
    )
    fig.add_trace(
        go.Scatter(
            x=prices[above],
            y=liq_map.cumulative_short[above],
            name="cumulative short",
            mode="lines",
            line={"color": CUM_SHORT_COLOR, "width": 2.5},
            hovertemplate="rise to %{x:,.0f}: shorts liquidated %{y:$.3s}<extra></extra>",
        ),
        secondary_y=True,
    )
    fig.add_vline(
        x=liq_map.price,
        line={"color": "#ffffff", "width": 1.5, "dash": "dash"},
        annotation_text=f"price {liq_map.price:,.0f}",
        annotation_position="top",
        annotation_font_color="#ffffff",
    )
    spans, lines = _marks(clusters, levels)
    for k, (label, lo, hi, colour) in enumerate(spans):
        fig.add_vrect(
            x0=lo,
            x1=hi,
            name=label,
            fillcolor=colour,
            opacity=0.14,
            line={"color": colour, "width": 1.5, "dash": "dash"},
            layer="below",
            annotation={"text": label, "font": {"color": colour, "size": 11}},
            annotation_position="top left" if k % 2 == 0 else "bottom left",
        )
    for k, (label, price, colour) in enumerate(lines):
        fig.add_vline(
            x=price,
            name=label,
            line={"color": colour, "width": 2.5},
            annotation_text=f"{label} {price:,.0f}",
            annotation_position="top right" if k % 2 == 0 else "bottom right",
            annotation_font_color=colour,
        )
    _add_watermark(fig, watermark)
    _base_layout(fig, title, height)
    fig.update_layout(
        barmode="stack",
        bargap=0.0,
        margin={"r": 80, "b": 110},
        legend={
            "orientation": "h",
            "traceorder": "normal",
            "x": 0.5,
            "xanchor": "center",
            "y": -0.12,
            "yanchor": "top",
        },
    )
    fig.update_xaxes(
        title_text="price",
        tickformat=",.0f",
        range=[float(liq_map.bin_edges[0]), float(liq_map.bin_edges[-1])],
    )
    per_bin = float((liq_map.long + liq_map.short).max(initial=0.0)) or 1.0
    cum = (
        float(
            max(liq_map.cumulative_long.max(initial=0.0), liq_map.cumulative_short.max(initial=0.0))
        )
        or 1.0
    )
    for top, secondary, label in (
        (per_bin, False, "pending per bin (USD)"),
        (cum, True, "cumulative (USD)"),
    ):
        ticks = np.arange(0, top * 1.05, _nice_step(top, 4))
        fig.update_yaxes(
            range=[0, top * 1.05],
            tickvals=ticks.tolist(),
            ticktext=[format_usd(t) if t else "0" for t in ticks],
            title_text=label,
            secondary_y=secondary,
            showgrid=not secondary,
        )
    return fig


def save_html(fig: go.Figure, path: str | Path) -> Path:
    """Write ``fig`` as one self-contained HTML file (plotly.js embedded: opens offline)."""
    require(("plotly",), "plot", "save_html")
    p = _output_path(path, ".html")
    html = fig.to_html(
        include_plotlyjs=True,
        full_html=True,
        config={"scrollZoom": True, "displaylogo": False, "responsive": True},
    )
    style = f"<style>body {{ background: {BACKGROUND}; margin: 0; }}</style>"
    p.write_text(html.replace("<head>", "<head>" + style, 1), encoding="utf-8")
    return p


def _output_path(path: str | Path, suffix: str) -> Path:
    p = Path(path)
    if p.suffix.lower() != suffix:
        raise InputError(f"output {str(p)!r} must end in {suffix}")
    if not p.parent.is_dir():
        raise InputError(f"output folder {str(p.parent)!r} does not exist")
    return p


# ------------------------------------------------------------------------------------------------
# matplotlib (static PNG for reports)


def _mpl_cmap(stops: tuple[tuple[float, str], ...], name: str) -> LinearSegmentedColormap:
    from matplotlib.colors import LinearSegmentedColormap

    return LinearSegmentedColormap.from_list(name, list(stops))


def _style_axes(ax: Axes) -> None:
    ax.set_facecolor(BACKGROUND)
    ax.tick_params(colors=TEXT, labelsize=9)
    for spine in ax.spines.values():
        spine.set_color(GRID)
    ax.grid(color=GRID, linewidth=0.6, alpha=0.8)
    ax.set_axisbelow(True)


def _rects(
    ax: Axes,
    x0: np.ndarray,
    x1: np.ndarray,
    y0: np.ndarray,
    y1: np.ndarray,
    colors: Any,
    zorder: float = 2,
) -> None:
    """Filled rectangles as one collection (much faster than ``ax.bar`` for thousands)."""
    from matplotlib.collections import PolyCollection

    verts = np.stack([np.c_[x0, y0], np.c_[x0, y1], np.c_[x1, y1], np.c_[x1, y0]], axis=1)
    # matplotlib's stub asks a Sequence, but an (n, 4, 2) array is PolyCollection's fast path
    ax.add_collection(
        PolyCollection(
            verts,  # type: ignore[arg-type]
            facecolors=colors,
            edgecolors="none",
            zorder=zorder,
        ),
        autolim=False,
    )


def _usd_formatter() -> FuncFormatter:
    from matplotlib.ticker import FuncFormatter

    return FuncFormatter(lambda v, _pos: format_usd(v) if v else "0")


def _price_formatter() -> FuncFormatter:
    from matplotlib.ticker import FuncFormatter

    return FuncFormatter(lambda v, _pos: f"{v:,.0f}")


def save_png_heatmap(
    candles: pd.DataFrame,
    heatmap: Heatmap,
    path: str | Path,
    trades: pd.DataFrame | None = None,
    *,
    title: str | None = None,
    max_candles: int = 320,
    decades: float | None = None,
    scale: str = "clusters",
    price_axis: str = "auto",
    cold_until: Any = None,
    watermark: str | None = None,
    size: tuple[float, float] = (14.0, 8.0),
    dpi: int = 110,
    liquidations: pd.DataFrame | None = None,
) -> Path:
    """The liquidation heatmap as a static PNG (matplotlib), same content as :func:`heatmap_figure`
    (same arguments; the swept panel sums the same periods; recorded liquidations are bubbles of
    area proportional to USD, the largest :data:`BUBBLE_MAX_AREA` points squared).

    ``max_candles`` is lower than for the interactive figure: on paper a candle narrower than about
    three pixels is only noise. Highs and lows are kept when candles are merged.
    """
    require(("matplotlib",), "plot", "save_png_heatmap")
    import matplotlib.dates as mdates
    from matplotlib.colors import LogNorm
    from matplotlib.figure import Figure
    from matplotlib.lines import Line2D
    from matplotlib.patches import Patch
    from matplotlib.ticker import MaxNLocator, NullFormatter

    p = _output_path(path, ".png")
    bars, swept, edges, long, short, vmin, vmax = _heatmap_inputs(
        candles, heatmap, max_candles, decades, scale
    )
    t0, t1 = bars["start"].iloc[0], bars["end"].iloc[-1]
    log = _log_price(float(bars["low"].min()), float(bars["high"].max()), price_axis)
    norm = LogNorm(vmin=vmin, vmax=vmax)
    cmaps = {
        "long": _mpl_cmap(LONG_SCALE, "liq_long"),
        "short": _mpl_cmap(SHORT_SCALE, "liq_short"),
    }

    fig = Figure(figsize=size, dpi=dpi, facecolor=BACKGROUND)  # no pyplot: no global state
    grid = fig.add_gridspec(
        2,
        2,
        height_ratios=[4, 1],
        width_ratios=[60, 1],
        hspace=0.06,
        wspace=0.02,
        left=0.07,
        right=0.9,
        top=0.9,
        bottom=0.08,
    )
    ax = fig.add_subplot(grid[0, 0])
    ax2 = fig.add_subplot(grid[1, 0], sharex=ax)
    for a in (ax, ax2):
        _style_axes(a)
    x_edges = mdates.date2num(edges.to_pydatetime())
    if log:
        ax.set_yscale("log")
    meshes = {}
    for side, values in (("long", long), ("short", short)):
        masked = np.ma.masked_less(values.T, vmin)
        meshes[side] = ax.pcolormesh(
            x_edges,
            heatmap.price_edges,
            masked,
            cmap=cmaps[side],
            norm=norm,
            shading="flat",
            rasterized=True,
        )

    x0 = mdates.date2num(bars["start"].to_numpy())
    x1 = mdates.date2num(bars["end"].to_numpy())
    xm, width = (x0 + x1) / 2, (x1 - x0) * 0.7
    up = (bars["close"] >= bars["open"]).to_numpy()
    colors = np.where(up, CANDLE_UP, CANDLE_DOWN)
    lw_wick = 0.8 if len(bars) > 150 else 1.0
    ax.vlines(xm, bars["low"], bars["high"], colors=colors.tolist(), linewidth=lw_wick, zorder=3)
    body = (bars["close"] - bars["open"]).to_numpy()
    min_body = (bars["high"].max() - bars["low"].min()) * 0.0015
    body = np.where(np.abs(body) < min_body, np.where(up, min_body, -min_body), body)
    open_ = bars["open"].to_numpy()
    _rects(ax, xm - width / 2, xm + width / 2, open_, open_ + body, colors, zorder=3)

    legend = [
        Patch(color=LONG_SCALE[3][1], label="long liquidations pending"),
        Patch(color=SHORT_SCALE[3][1], label="short liquidations pending"),
        Line2D([], [], color=CANDLE_UP, lw=2, label="price"),
    ]
    recorded = _recorded_bubbles(liquidations, t0, t1, bars.attrs["period"])
    if len(recorded):
        legend += _mpl_bubbles(ax, recorded, mdates)
    tr = _trade_frame(trades, t0, t1)
    if len(tr):
        legend += _mpl_trades(ax, tr, mdates)

    ax.set_ylim(*_price_range(bars, log, tr, heatmap.price_edges))
    ax.set_xlim(mdates.date2num(t0), mdates.date2num(t1))
    ax.yaxis.set_major_formatter(_price_formatter())
    if log:
        ax.yaxis.set_minor_formatter(NullFormatter())
    ax.set_ylabel("price (log)" if log else "price", color=TEXT)
    cold = _cold_end(cold_until, t0, t1)
    if cold is not None:
        ax.axvspan(
            mdates.date2num(t0),
            mdates.date2num(cold),
            facecolor=COLD_SHADE,
            alpha=0.28,
            hatch="//",
            edgecolor=WARN_COLOR,
            linewidth=0,
            zorder=4.5,
        )
        ax.text(
            0.005,
            0.985,
            "⚠ " + _cold_label(cold_until),
            transform=ax.transAxes,
            color=WARN_COLOR,
            fontsize=9.5,
            va="top",
            zorder=6,
            bbox={"facecolor": BACKGROUND, "edgecolor": WARN_COLOR, "alpha": 0.9, "pad": 2},
        )
    ax.tick_params(labelbottom=False)
    ax.legend(
        handles=legend,
        loc="lower left",
        bbox_to_anchor=(0.0, 1.0),
        ncol=min(len(legend), 6),
        frameon=False,
        fontsize=9,
        labelcolor=TEXT,
        borderaxespad=0.2,
    )

    label = _swept_label(swept)
    sx0 = mdates.date2num(swept["start"].to_numpy())
    sx1 = mdates.date2num(swept["end"].to_numpy())
    zero = np.zeros(len(swept))
    _rects(ax2, sx0, sx1, zero, swept["liq_swept_short_usd"].to_numpy(), SHORT_COLOR)
    _rects(ax2, sx0, sx1, zero, -swept["liq_swept_long_usd"].to_numpy(), LONG_COLOR)
    ax2.axhline(0, color=GRID, linewidth=0.8)
    top = float(swept[list(SWEPT_COLUMNS)].to_numpy().max(initial=0.0))
    recorded_swept = _recorded_bubbles(liquidations, t0, t1, swept.attrs["period"])
    for side, colour, sign in (("short", CUM_SHORT_COLOR, 1.0), ("long", CUM_LONG_COLOR, -1.0)):
        rows = recorded_swept[recorded_swept["side"] == side]
        if len(rows):
            ax2.scatter(
                mdates.date2num(rows["time"].to_numpy()),
                sign * rows["usd"].to_numpy(dtype=float),
                marker="D",
                s=14,
                color=colour,
                edgecolors=BACKGROUND,
                linewidths=0.4,
                zorder=4,
                label=f"{side}s recorded",
            )
            top = max(top, float(rows["usd"].max()))
    top = top or 1.0
    ax2.set_ylim(-top * 1.1, top * 1.1)
    ax2.yaxis.set_major_formatter(_usd_formatter())
    ax2.yaxis.set_major_locator(MaxNLocator(5, symmetric=True))
    ax2.set_ylabel(label, color=TEXT, fontsize=9)
    ax2.text(
        0.005,
        0.95,
        "▲ shorts liquidated   ▼ longs liquidated"
        + ("   ◆ recorded" if len(recorded_swept) else ""),
        transform=ax2.transAxes,
        color=TEXT,
        fontsize=8.5,
        va="top",
        zorder=5,
        bbox={"facecolor": BACKGROUND, "edgecolor": "none", "alpha": 0.8, "pad": 1.5},
    )
    locator = mdates.AutoDateLocator(minticks=5, maxticks=12)
    ax2.xaxis.set_major_locator(locator)
    ax2.xaxis.set_major_formatter(mdates.ConciseDateFormatter(locator))
    ax2.set_xlabel("UTC", color=TEXT, fontsize=9)

    cgrid = grid[0, 1].subgridspec(2, 1, hspace=0.12)
    for k, side in enumerate(("short", "long")):
        cax = fig.add_subplot(cgrid[k, 0])
        cb = fig.colorbar(meshes[side], cax=cax)
        cb.set_ticks(_log_ticks(vmin, vmax).tolist())
        cb.ax.yaxis.set_major_formatter(_usd_formatter())
        cb.ax.yaxis.set_minor_formatter(NullFormatter())
        cb.ax.tick_params(colors=TEXT, labelsize=8)
        cb.outline.set_edgecolor(GRID)
        cb.set_label(f"{side}s pending (USD / bin)", color=TEXT, fontsize=9)
    if title:
        fig.suptitle(title, color=TEXT, fontsize=13, x=0.07, ha="left", y=0.985)
    _mpl_watermark(fig, watermark)
    fig.savefig(p, facecolor=BACKGROUND)
    return p


def _mpl_bubbles(ax: Axes, bubbles: pd.DataFrame, mdates: ModuleType) -> list[Line2D]:
    """The matplotlib twin of :func:`_add_plotly_bubbles`; returns the legend handles."""
    from matplotlib.lines import Line2D

    top = float(bubbles["usd"].max())
    min_area = BUBBLE_MIN_PX**2
    handles = []
    for side, colour in (("long", LONG_COLOR), ("short", SHORT_COLOR)):
        rows = bubbles[bubbles["side"] == side]
        if len(rows) == 0:
            continue
        area = np.maximum(rows["usd"].to_numpy(dtype=float) / top * BUBBLE_MAX_AREA, min_area)
        ax.scatter(
            mdates.date2num(rows["time"].to_numpy()),
            rows["price"].to_numpy(dtype=float),
            s=area,
            color=colour,
            alpha=0.8,
            edgecolors="#ffffff",
            linewidths=0.7,
            zorder=4.6,
        )
        handles.append(
            Line2D(
                [],
                [],
                marker="o",
                ls="",
                markersize=8,
                color=colour,
                markeredgecolor="#ffffff",
                label=f"{side}s liquidated (recorded; area ~ USD)",
            )
        )
    return handles


def _mpl_watermark(fig: Any, watermark: str | None) -> None:
    if watermark:
        fig.text(
            0.5,
            0.55,
            watermark,
            ha="center",
            va="center",
            rotation=18,
            fontsize=80,
            fontweight="bold",
            color=WARN_COLOR,
            alpha=0.2,
            zorder=10,
        )


def _mpl_trades(ax: Axes, tr: pd.DataFrame, mdates: ModuleType) -> list[Line2D]:
    """The matplotlib twin of :func:`_add_plotly_trades`; returns the legend handles."""
    from matplotlib.lines import Line2D

    o = mdates.date2num(tr["open_date"].to_numpy())
    c = mdates.date2num(tr["close_date"].to_numpy())
    short = tr["is_short"].to_numpy()
    handles: list[Line2D] = []
    drew_cluster = False
    for near, far, stop_side in (
        ("stop_cluster_near", "stop_cluster_far", True),
        ("target_cluster_near", "target_cluster_far", False),
    ):
        a = tr[near].to_numpy(dtype=float)
        b = tr[far].to_numpy(dtype=float)
        ok = np.isfinite(a) & np.isfinite(b)
        # a long's stop sits beyond a long cluster (blue), its target at a short cluster (orange)
        blue = ok & (short != stop_side)
        for mask, colour in ((blue, CUM_LONG_COLOR), (ok & ~blue, CUM_SHORT_COLOR)):
            if mask.any():
                drew_cluster = True
                ax.hlines(
                    np.r_[a[mask], b[mask]],
                    np.r_[o[mask], o[mask]],
                    np.r_[c[mask], c[mask]],
                    colors=colour,
                    linestyles="--",
                    linewidth=1.1,
                    zorder=4,
                )
                ax.vlines(
                    np.r_[o[mask], c[mask]],
                    np.r_[a[mask], a[mask]],
                    np.r_[b[mask], b[mask]],
                    colors=colour,
                    linestyles="--",
                    linewidth=1.1,
                    zorder=4,
                )
    xs, ys = _brackets(tr)
    for k in range(0, len(xs), 3):
        x = mdates.date2num(xs[k])
        ax.vlines(x, ys[k], ys[k + 1], colors="#ffffff", alpha=0.55, linewidth=0.9, zorder=4)
    levels: tuple[tuple[str, str, Literal[":", "-"]], ...] = (
        ("initial_stop_loss_abs", STOP_COLOR, ":"),
        ("stop_loss_abs", STOP_COLOR, "-"),
        ("target_rate", TARGET_COLOR, "-"),
    )
    for column, colour, style in levels:
        s = tr[column].to_numpy(dtype=float)
        ok = np.isfinite(s) & (s > 0)
        ax.hlines(s[ok], o[ok], c[ok], colors=colour, linestyles=style, linewidth=2.2, zorder=4)
    for mask, marker in ((~short, "^"), (short, "v")):
        ax.scatter(
            o[mask],
            tr["open_rate"][mask],
            marker=marker,
            s=52,
            color="#ffffff",
            edgecolors="#000000",
            linewidths=0.7,
            zorder=5,
        )
    win = (tr["profit_ratio"].fillna(0) > 0).to_numpy()
    ax.scatter(
        c,
        tr["close_rate"],
        marker="X",
        s=52,
        color=np.where(win, CANDLE_UP, CANDLE_DOWN),
        edgecolors="#000000",
        linewidths=0.7,
        zorder=5,
    )
    handles += [
        Line2D([], [], marker="^", ls="", color="#ffffff", label="entry long"),
        Line2D([], [], marker="v", ls="", color="#ffffff", label="entry short"),
        Line2D([], [], marker="X", ls="", color=CANDLE_UP, label="exit win"),
        Line2D([], [], marker="X", ls="", color=CANDLE_DOWN, label="exit loss"),
        Line2D([], [], color=STOP_COLOR, lw=2.2, label="stop (dotted: initial)"),
    ]
    if np.isfinite(tr["target_rate"].to_numpy(dtype=float)).any():
        handles.append(Line2D([], [], color=TARGET_COLOR, lw=2.2, label="target"))
    if drew_cluster:
        handles.append(Line2D([], [], color=CUM_LONG_COLOR, lw=1.1, ls="--", label="cluster edges"))
    return handles


def save_png_map(
    liq_map: LiquidationMap,
    path: str | Path,
    *,
    title: str | None = None,
    clusters: Mapping[str, tuple[float, float]] | None = None,
    levels: Mapping[str, float] | None = None,
    watermark: str | None = None,
    size: tuple[float, float] = (13.0, 6.5),
    dpi: int = 110,
) -> Path:
    """The liquidation map at one moment as a static PNG, same content as :func:`map_figure`
    (same ``clusters``, ``levels`` and ``watermark``).
    """
    require(("matplotlib",), "plot", "save_png_map")
    from matplotlib import patheffects
    from matplotlib.figure import Figure
    from matplotlib.lines import Line2D
    from matplotlib.patches import Patch

    p = _output_path(path, ".png")
    fig = Figure(figsize=size, dpi=dpi, facecolor=BACKGROUND)
    ax = fig.add_subplot()
    fig.subplots_adjust(left=0.07, right=0.91, top=0.86, bottom=0.1)
    _style_axes(ax)
    prices = liq_map.bin_prices
    left = liq_map.bin_edges[:-1]
    widths = np.diff(liq_map.bin_edges)
    handles: list[Artist] = []
    bottom = np.zeros(len(prices))  # shorts stack on longs where a bin holds both, as in plotly
    levs, long_by, short_by = _by_leverage(liq_map)
    for side, by_tier, colors in (
        ("long", long_by, LONG_TIER_COLORS),
        ("short", short_by, SHORT_TIER_COLORS),
    ):
        for k, (lev, values) in enumerate(zip(levs, by_tier, strict=True)):
            color = colors[k % len(colors)]
            _rects(ax, left, left + widths, bottom, bottom + values, color)
            bottom = bottom + values
            handles.append(Patch(color=color, label=f"{side} {lev:g}x"))
    ax.set_ylim(0, float((liq_map.long + liq_map.short).max(initial=0.0)) * 1.08 or 1.0)
    ax.yaxis.set_major_formatter(_usd_formatter())
    ax.set_ylabel("pending per bin (USD)", color=TEXT)
    ax.set_xlabel("price", color=TEXT)
    ax.xaxis.set_major_formatter(_price_formatter())
    ax.set_xlim(liq_map.bin_edges[0], liq_map.bin_edges[-1])

    ax_cum = ax.twinx()
    ax_cum.tick_params(colors=TEXT, labelsize=9)
    below, above = prices <= liq_map.price, prices >= liq_map.price
    outline = [patheffects.withStroke(linewidth=4.2, foreground=BACKGROUND)]
    ax_cum.plot(
        prices[below],
        liq_map.cumulative_long[below],
        color=CUM_LONG_COLOR,
        lw=2.2,
        path_effects=outline,
    )
    ax_cum.plot(
        prices[above],
        liq_map.cumulative_short[above],
        color=CUM_SHORT_COLOR,
        lw=2.2,
        path_effects=outline,
    )
    top = max(liq_map.cumulative_long.max(initial=0.0), liq_map.cumulative_short.max(initial=0.0))
    ax_cum.set_ylim(0, float(top) * 1.08 or 1.0)
    ax_cum.yaxis.set_major_formatter(_usd_formatter())
    ax_cum.set_ylabel("cumulative (USD)", color=TEXT)
    for spine in ax_cum.spines.values():
        spine.set_color(GRID)
    ax.axvline(liq_map.price, color="#ffffff", lw=1.2, ls="--")
    ax.text(
        liq_map.price,
        1.01,
        f"price {liq_map.price:,.0f}",
        transform=ax.get_xaxis_transform(),
        color="#ffffff",
        ha="center",
        va="bottom",
        fontsize=9,
    )
    handles += [
        Line2D([], [], color=CUM_LONG_COLOR, lw=2.2, label="cumulative long (fall to)"),
        Line2D([], [], color=CUM_SHORT_COLOR, lw=2.2, label="cumulative short (rise to)"),
    ]
    spans, lines = _marks(clusters, levels)
    for k, (label, lo, hi, colour) in enumerate(spans):
        ax.axvspan(lo, hi, facecolor=colour, alpha=0.12, zorder=1)
        for edge in (lo, hi):
            ax.axvline(edge, color=colour, lw=1.4, ls="--", zorder=4)
        ax.text(
            lo,
            0.97 - 0.06 * (k % 2),
            f" {label}",
            transform=ax.get_xaxis_transform(),
            color=colour,
            fontsize=8.5,
            va="top",
            zorder=6,
        )
    for k, (label, price, colour) in enumerate(lines):
        ax.axvline(price, color=colour, lw=2.2, zorder=4)
        ax.text(
            price,
            0.85 - 0.06 * (k % 2),
            f" {label} {price:,.0f}",
            transform=ax.get_xaxis_transform(),
            color=colour,
            fontsize=8.5,
            va="top",
            zorder=6,
            bbox={"facecolor": BACKGROUND, "edgecolor": "none", "alpha": 0.7, "pad": 1},
        )
    ax.legend(
        handles=handles,
        loc="upper center",
        ncol=6,
        frameon=False,
        fontsize=8.5,
        labelcolor=TEXT,
        bbox_to_anchor=(0.5, -0.09),
    )
    fig.subplots_adjust(bottom=0.2)
    if title:
        fig.suptitle(title, color=TEXT, fontsize=13, x=0.07, ha="left", y=0.97)
    _mpl_watermark(fig, watermark)
    fig.savefig(p, facecolor=BACKGROUND)
    return p
