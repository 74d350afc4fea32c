"""The strategy's charts in FreqUI and ``freqtrade plot-dataframe``: its ``plot_config`` and its
``plot_annotations``, in one palette (long clusters red, below price; short clusters green, above).

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

__all__ = ["COLORS", "cluster_annotations", "plot_config"]

#: RGB of each side: longs are liquidated below price (red), shorts above it (green).
COLORS: dict[str, tuple[int, int, int]] = {"long": (220, 60, 60), "short": (40, 170, 90)}


def _rgba(side: str, alpha: float | None = None) -> str:
    r, g, b = COLORS[side]
    return f"rgb({r},{g},{b})" if alpha is None else f"rgba({r},{g},{b},{alpha:g})"


def plot_config() -> dict[str, Any]:
    """A fresh ``plot_config``: each side's nearest cluster as a band from its near to its far
    edge on the price chart, and the notional swept per candle and side as bars below it.

    Names only columns of :func:`liq_indicator.strategy.signals.strategy_features`.
    """
    main: dict[str, Any] = {}
    for side in ("long", "short"):
        main[f"liq_{side}_cluster_near"] = {
            "color": _rgba(side, 0.6),
            "fill_to": f"liq_{side}_cluster_far",
            "fill_label": f"{side} cluster",
            "fill_color": _rgba(side, 0.2),
        }
        main[f"liq_{side}_cluster_far"] = {"color": _rgba(side, 0.6)}
    swept = {
        f"liq_swept_{side}_usd": {"color": _rgba(side), "type": "bar"} for side in ("long", "short")
    }
    return {"main_plot": main, "subplots": {"swept notional (USD)": swept}}


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
