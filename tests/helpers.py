"""Helpers shared by several test modules (no test module imports another)."""

from __future__ import annotations

import json
import signal
from typing import Any
from urllib.error import HTTPError
from urllib.parse import urlencode
from urllib.request import Request, urlopen

import numpy as np
import pandas as pd

from liq_indicator.research.truth import TruthSeries


def http_json(
    url: str,
    *,
    method: str = "GET",
    data: bytes | None = None,
    headers: dict[str, str] | None = None,
    timeout: float = 10.0,
    params: dict[str, Any] | None = None,
) -> tuple[int, Any]:
    """(HTTP status, decoded JSON body) of one request; an HTTP error status is returned, not raised."""
    if params:
        url = f"{url}?{urlencode(params)}"
    request = Request(url, data=data, method=method, headers=headers or {})
    try:
        with urlopen(request, timeout=timeout) as response:
            return response.status, json.loads(response.read())
    except HTTPError as err:
        return err.code, json.loads(err.read())


def ignore_sigint() -> None:
    """In the bot's process before exec: SIGINT ignored, as under nohup or some CI runners."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)


def synthetic_truth(candles: pd.DataFrame, bar: str = "4h", seed: int = 1) -> TruthSeries:
    """A truth series that follows each bar's adverse move (plus noise), as real ones do."""
    g = candles.set_index("date").resample(bar)
    o, h, lo = g["open"].first(), g["high"].max(), g["low"].min()
    rng = np.random.default_rng(seed)
    frame = pd.DataFrame(
        {
            "long_usd": 1e8 * (o - lo) / o * rng.lognormal(0, 0.3, len(o)),
            "short_usd": 1e8 * (h - o) / o * rng.lognormal(0, 0.3, len(o)),
        }
    )
    frame.index = pd.DatetimeIndex(o.index).as_unit("us")
    frame.index.name = "date"
    return TruthSeries("synthetic", "binance", pd.Timedelta(bar), frame, "test")
