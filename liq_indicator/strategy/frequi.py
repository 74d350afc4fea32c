"""The strategy's charts in FreqUI and ``freqtrade plot-dataframe``: its ``plot_config`` and its
``plot_annotations``, in the heatmap's palette (:mod:`liq_indicator.style`: long clusters blue,
below price; short clusters orange, above), and :func:`trade_levels_at_entry`, the stop, target
and cluster edges of a backtest's trades that ``liq-indicator heatmap`` draws.

Pure pandas, no Freqtrade or plotting import::

    from liq_indicator.strategy import frequi

    class MyStrategy(IStrategy):
        plot_config = frequi.plot_config()

        def plot_annotations(self, pair, start_date, end_date, dataframe, **kwargs):
            return frequi.cluster_annotations(dataframe, start_date, end_date)
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any

import numpy as np
import pandas as pd

from liq_indicator.style import CUM_LONG_COLOR, CUM_SHORT_COLOR, LONG_COLOR, SHORT_COLOR, rgb

__all__ = [
    "COLORS",
    "LEVEL_COLUMNS",
    "RECORDED_COLUMNS",
    "cluster_annotations",
    "plot_config",
    "trade_levels_at_entry",
]

#: RGB of each side, the heatmap's (``liq_indicator.style.LONG_COLOR`` / ``SHORT_COLOR``):
#: longs are liquidated below price (blue), shorts above it (orange).
COLORS: dict[str, tuple[int, int, int]] = {"long": rgb(LONG_COLOR), "short": rgb(SHORT_COLOR)}

#: Recorded USD liquidated per candle and side (NaN where nothing was recorded), the columns
#: ``liquidation_features(..., liquidations=...)`` adds; :func:`plot_config` draws them when present.
RECORDED_COLUMNS = ("liq_real_long_usd", "liq_real_short_usd")
#: Lighter shades of the two sides for the recorded bars (the map's cumulative curves' colours).
_RECORDED_RGB = {"long": rgb(CUM_LONG_COLOR), "short": rgb(CUM_SHORT_COLOR)}

#: The columns :func:`trade_levels_at_entry` adds (``liq_indicator.plot.figures`` draws them).
LEVEL_COLUMNS = (
    "target_rate",
    "stop_cluster_near",
    "stop_cluster_far",
    "target_cluster_near",
    "target_cluster_far",
)


def _rgba(side: str, alpha: float | None = None) -> str:
    r, g, b = COLORS[side]
    return f"rgb({r},{g},{b})" if alpha is None else f"rgba({r},{g},{b},{alpha:g})"


def plot_config(columns: Iterable[str] | None = None) -> dict[str, Any]:
    """A fresh ``plot_config``: each side's nearest cluster as its near and far edges on the price
    chart (step lines that break where there is no cluster), and the notional swept per candle and
    side as bars below it; with recorded liquidations, the recorded USD per candle and side as
    bars beside the swept ones (same panel and axis: the estimate next to what happened).

    The recorded bars are named only when ``columns`` holds :data:`RECORDED_COLUMNS`: Freqtrade's
    ``plot-dataframe`` skips a missing column with a log line, and FreqUI draws the panel without
    it, both silently showing "nothing recorded" where nothing *was* recorded. A strategy that
    reads recorded liquidations passes its dataframe's columns (``plot_config`` may be a property)
    or ``RECORDED_COLUMNS``. The recorded columns are NaN where nothing was recorded, so bars
    (plotly and FreqUI alike) appear only where liquidations were.

    No ``fill_to`` band: plotly fills between two lines across their gaps, so a band from a cluster
    at 56k to the next one at 70k ten days later would be drawn as one huge wedge. FreqUI fills the
    clusters with :func:`cluster_annotations` (one box per stretch) instead. The ``plotly`` entry
    is applied by ``freqtrade plot-dataframe`` only.

    Args:
        columns: the dataframe's columns; None: the estimate's columns only.

    Names only columns of :func:`liq_indicator.strategy.signals.strategy_features`, and the
    recorded ones when ``columns`` holds them.
    """
    main: dict[str, Any] = {}
    for side in ("long", "short"):
        for edge, width in (("near", 2), ("far", 1)):
            main[f"liq_{side}_cluster_{edge}"] = {
                "color": _rgba(side, 0.9 if edge == "near" else 0.55),
                "plotly": {
                    "connectgaps": False,
                    "line": {
                        "color": _rgba(side, 0.9 if edge == "near" else 0.55),
                        "shape": "hv",
                        "width": width,
                    },
                },
            }
    swept: dict[str, Any] = {
        f"liq_swept_{side}_usd": {"color": _rgba(side), "type": "bar"} for side in ("long", "short")
    }
    have = set(columns) if columns is not None else set()
    recorded = [c for c in RECORDED_COLUMNS if c in have]
    if not recorded:
        return {"main_plot": main, "subplots": {"swept notional (USD)": swept}}
    for column in recorded:
        r, g, b = _RECORDED_RGB["long" if "_long_" in column else "short"]
        swept[column] = {"color": f"rgb({r},{g},{b})", "type": "bar"}
    return {
        "main_plot": main,
        "subplots": {"liquidations: swept (estimate) vs recorded (USD)": swept},
    }


def cluster_annotations(
    frame: pd.DataFrame,
    start: datetime | pd.Timestamp | None = None,
    end: datetime | pd.Timestamp | None = None,
    *,
    max_areas: int = 120,
    sides: Iterable[str] = ("long", "short"),
) -> list[dict[str, Any]]:
    """FreqUI area annotations for the nearest clusters: one box per stretch of candles over which
    the cluster's edges stay put (``plot_annotations`` in the strategy returns these).

    Args:
        frame: The analyzed dataframe (``date`` and the ``liq_*_cluster_near/far`` columns).
        start: The chart's first time; the frame's first when None.
        end: The chart's last time; the frame's last when None.
        max_areas: The most recent boxes kept per side.
        sides: 'long' (red boxes below price) and/or 'short' (green boxes above).

    Returns:
        Freqtrade ``AreaAnnotationType`` dicts (``type``, ``label``, ``start``, ``end``,
        ``y_start``, ``y_end``, ``color``); ``frame`` is not modified.
    """
    if frame is None or len(frame) == 0:
        return []
    dates = pd.DatetimeIndex(frame["date"])
    keep = np.ones(len(frame), dtype=bool)
    if start is not None:
        keep &= dates >= pd.Timestamp(start)
    if end is not None:
        keep &= dates <= pd.Timestamp(end)
    sub = frame.loc[keep]
    if len(sub) == 0:
        return []
    d = pd.DatetimeIndex(sub["date"])
    step = d.to_series().diff().median()
    step = step if isinstance(step, pd.Timedelta) and not pd.isna(step) else pd.Timedelta(0)
    out: list[dict[str, Any]] = []
    for side in sides:
        near = sub[f"liq_{side}_cluster_near"].to_numpy(dtype=np.float64)
        far = sub[f"liq_{side}_cluster_far"].to_numpy(dtype=np.float64)
        boxes = []
        i = 0
        while i < len(sub):
            if not (np.isfinite(near[i]) and np.isfinite(far[i])):
                i += 1
                continue
            j = i
            while j + 1 < len(sub) and near[j + 1] == near[i] and far[j + 1] == far[i]:
                j += 1
            boxes.append(
                {
                    "type": "area",
                    "label": f"{side} cluster",
                    "start": d[i].to_pydatetime(),
                    "end": (d[j] + step).to_pydatetime(),
                    "y_start": float(min(near[i], far[i])),
                    "y_end": float(max(near[i], far[i])),
                    "color": _rgba(side, 0.25),
                }
            )
            i = j + 1
        out.extend(boxes[-max_areas:])
    return out


def trade_levels_at_entry(
    trades: pd.DataFrame,
    features: pd.DataFrame,
    params: Any = None,
) -> pd.DataFrame:
    """Each trade's target and the edges of the clusters its stop and target were set from, as
    the strategy saw them on its signal candle (the last candle closed at the trade's open).

    Freqtrade's results hold each trade's stops but not its target nor the clusters behind them;
    this recomputes them with :func:`liq_indicator.strategy.signals.trade_plan` (same rules).

    Args:
        trades: :func:`liq_indicator.io.backtest.load_trades` output (``open_date``,
            ``open_rate``, ``is_short``).
        features: :func:`liq_indicator.strategy.signals.strategy_features` of the pair's candles,
            computed on the map the strategy trades on (``STRATEGY_HEATMAP``).
        params: :class:`~liq_indicator.strategy.signals.SignalParams` (the shipped defaults when
            None); a hyperopted strategy's own values give its exact targets.

    Returns:
        A copy of ``trades`` with :data:`LEVEL_COLUMNS`: ``target_rate``, ``stop_cluster_near/far``
        (a long's nearest long cluster below, a short's nearest short cluster above) and
        ``target_cluster_near/far`` (the opposite side's). NaN where the signal candle is not in
        ``features`` or had no such cluster.
    """
    from liq_indicator.core.inputs import infer_timeframe
    from liq_indicator.strategy.signals import SignalParams, trade_plan

    params = SignalParams() if params is None else params
    out = trades.copy()
    for col in LEVEL_COLUMNS:
        out[col] = np.nan
    if len(out) == 0 or len(features) == 0:
        return out
    tf = infer_timeframe(features["date"]) or pd.Timedelta(0)
    closes = pd.DatetimeIndex(pd.to_datetime(features["date"], utc=True)) + tf
    opens = pd.DatetimeIndex(pd.to_datetime(out["open_date"], utc=True))
    # the signal candle: the last one closed at or before the entry
    rows = closes.searchsorted(opens, side="right") - 1
    for k, (i, short, entry) in enumerate(
        zip(rows, out["is_short"].astype(bool), out["open_rate"], strict=True)
    ):
        if i < 0 or opens[k] - closes[i] > tf:
            continue
        row = features.iloc[i]
        side, other = ("short", "long") if short else ("long", "short")
        _, target = trade_plan(row, bool(short), params, entry=float(entry))
        out.iloc[k, out.columns.get_indexer(list(LEVEL_COLUMNS))] = [
            target,
            row[f"liq_{side}_cluster_near"],
            row[f"liq_{side}_cluster_far"],
            row[f"liq_{other}_cluster_near"],
            row[f"liq_{other}_cluster_far"],
        ]
    return out
