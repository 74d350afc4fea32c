"""A loopback Binance USDT-M futures exchange that serves a Freqtrade datadir.

Freqtrade loads markets from the exchange even to backtest, so without internet every command
fails with "Could not load markets". :class:`ExchangeServer` answers the public USDT-M endpoints
that ccxt and Freqtrade call, from the files of a Freqtrade datadir
(``<datadir>/futures/BTC_USDT_USDT-5m-futures.feather`` and friends):

=================================  ==========================================================
``/fapi/v1/ping``, ``/time``       liveness; ``serverTime`` is the wall clock
``/fapi/v1/exchangeInfo``          the markets shipped in ``markets.json`` (BTC, ETH, SOL, BNB,
                                   XRP against USDT), with Binance's filters and precisions
``/fapi/v1/klines``                ``*-futures`` files
``/fapi/v1/markPriceKlines``       ``*-mark`` files (falling back to the futures candles)
``/fapi/v1/indexPriceKlines``      ``*-index`` files (falling back to mark, then futures)
``/fapi/v1/premiumIndexKlines``    ``*-premiumIndex`` files
``/fapi/v1/fundingRate``           ``*-funding_rate`` files (``funding_rate`` or legacy ``open``)
``/futures/data/openInterestHist`` ``*-open_interest`` files, periods 5m .. 1d
``/fapi/v1/openInterest``          the latest open interest
``/fapi/v1/depth``                 an order book synthesised around the last price
``/fapi/v1/ticker/24hr``,          tickers computed from the candles of the last 24 hours
``ticker/price``, ``bookTicker``,
``premiumIndex``
=================================  ==========================================================

Candle requests honour ``startTime``/``endTime``/``limit`` as Binance does (start only: the first
``limit`` candles from ``startTime``; otherwise the last ``limit`` up to ``endTime`` or now). An
interval without a file of its own is aggregated from the coarsest file that divides it (5m -> 1h).
Anything else gets a Binance-style ``{"code": ..., "msg": ...}`` body with a 4xx status, and a log line.

**Replay mode** (``replay=True``, for ``freqtrade trade --dry-run``): all timestamps are shifted so
that the data's end lies ``replay_lead`` seconds ahead of the wall clock, and only what has happened
by "now" is published, as on the real exchange: closed candles plus the candle that is forming,
which is served flat at its open (a candle that just opened) because Freqtrade drops the last
candle as incomplete. "Now" advances with the wall clock, ``speed`` times as fast (a Freqtrade
bot runs on the wall clock, so for ``trade --dry-run`` only speed 1 is right, and the CLI allows
only that; other speeds serve clients that follow the served time). The shift is a
whole multiple of 8 hours (or of the longest timeframe on disk), so candles, funding times
(00/08/16 UTC) and resampling buckets stay aligned.

**Liquidation streams** (``liquidations=``, a frame of fills as
:func:`liq_indicator.research.truth.load_fills` returns): websockets under ``/ws/<venue>/...`` speak
Binance USDT-M ``forceOrder`` (``!forceOrder@arr`` or ``<symbol>@forceOrder``), Bybit
``allLiquidation.<symbol>`` and OKX ``liquidation-orders`` as ccxt.pro expects them, each venue
replaying the fills in order at ``liquidation_rate`` events per second, with its own side
convention (Binance and OKX: the liquidation order's side, a SELL closes a long; Bybit: the
position's side). The fills keep their own timestamps. Unlike a real exchange, a venue's replay
waits while nobody is subscribed, so a client that reconnects misses nothing;
:meth:`ExchangeServer.drop_websockets` cuts every connection (a dropped-connection test).
:func:`liq_indicator.offline.overlay.ccxt_ws_urls` points ccxt.pro at them.

**Failure injection** (for reliability tests): :class:`Fault` objects passed to the constructor,
added through :meth:`ExchangeServer.add_fault`, or posted as JSON to ``/_admin/faults`` make the
server answer with 5xx/4xx errors, hang (client timeouts), drop the open-interest feed or stop
publishing candles for a while. ``GET /_admin/state`` reports the replay clock, active faults and
request counts per path (paths it does not serve are counted together under ``"(unknown)"``).

**Admin access**: every ``/_admin/*`` request must carry the header ``X-Admin-Token`` with the
server's token (:attr:`ExchangeServer.admin_token`, printed at start-up by the CLI) or gets a 403,
and a POST body must be ``Content-Type: application/json`` (else 415), so a web page open in a
browser cannot inject faults with a "simple" cross-origin request. Every request whose ``Host``
header is not a loopback name (``127.0.0.1``, ``localhost``, ``[::1]``, any port) gets a 403:
a DNS-rebinding page cannot talk to the server under a name of its own.

**Unreadable files** (corrupt, or not in Freqtrade's layout) are skipped with a warning naming
them, as if absent; only when no futures candles are left is it an error.

The server never listens on anything but 127.0.0.1. Use :func:`running_exchange` to run it on a
background thread, or ``python -m liq_indicator.offline`` / ``liq-indicator exchange`` to run it in
the foreground; :mod:`liq_indicator.offline.overlay` builds the Freqtrade config that points at it.
"""

from __future__ import annotations

import asyncio
import contextlib
import copy
import hmac
import itertools
import json
import logging
import math
import numbers
import re
import secrets
import socket
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import asdict, dataclass, fields
from decimal import Decimal
from importlib import resources
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pandas as pd
import pyarrow as pa

from liq_indicator.core.inputs import funding_column
from liq_indicator.errors import ConfigError, InputError
from liq_indicator.io.datadir import epoch_ms, pair_stem, parse_data_file
from liq_indicator.io.extras import require
from liq_indicator.io.ohlcv import OHLCV_AGG, resample_ohlcv
from liq_indicator.io.timeframes import timeframe_seconds
from liq_indicator.offline.overlay import exchange_overlay, write_overlay

try:
    from aiohttp import hdrs, web
except ImportError:  # an optional dependency: say which extra installs it
    require(("aiohttp",), "freqtrade", "the offline exchange")
    raise

__all__ = [
    "ADMIN_TOKEN_HEADER",
    "LOOPBACK_HOST",
    "MAX_FAULT_DELAY_S",
    "UNKNOWN_PATH",
    "ExchangeServer",
    "Fault",
    "RunningExchange",
    "check_loopback_host",
    "check_port",
    "running_exchange",
    "serve",
]

logger = logging.getLogger(__name__)

LOOPBACK_HOST = "127.0.0.1"
#: ``Host`` header values the server answers (DNS-rebinding defence): loopback names, any port.
_LOOPBACK_HOST_HEADER = re.compile(r"^(?:127\.0\.0\.1|localhost|\[::1\])(?::[0-9]{1,5})?$", re.I)
#: The header that carries the admin token on ``/_admin/*`` requests.
ADMIN_TOKEN_HEADER = "X-Admin-Token"
#: The longest a ``"delay"`` fault may hold a request (seconds): longer than any client timeout
#: worth testing, short enough that a held request never outlives a test run.
MAX_FAULT_DELAY_S = 120.0
#: The request-counter key of every path the server does not serve (one key, so that a client
#: probing random paths cannot grow the counters without bound).
UNKNOWN_PATH = "(unknown)"
#: The fastest replay (data seconds per wall-clock second): a week of data in under a second.
_MAX_SPEED = 1e6
#: Seconds a shutdown waits for in-flight requests before cancelling them.
_SHUTDOWN_TIMEOUT_S = 2.0

_MINUTE_MS = 60_000
_HOUR_MS = 60 * _MINUTE_MS
_DAY_MS = 24 * _HOUR_MS
_FUNDING_INTERVAL_MS = 8 * _HOUR_MS

#: Kline intervals served. All are whole minutes aligned to the Unix epoch, so a coarser one can be
#: aggregated from a finer file. (Binance's 3d/1w/1M candles have other anchors; they are not served.)
INTERVAL_MS: dict[str, int] = {
    tf: timeframe_seconds(tf) * 1000
    for tf in ("1m", "3m", "5m", "15m", "30m", "1h", "2h", "4h", "6h", "8h", "12h", "1d")
}
#: Periods of ``/futures/data/openInterestHist``.
OPEN_INTEREST_PERIODS = ("5m", "15m", "30m", "1h", "2h", "4h", "6h", "12h", "1d")
#: ``limit`` values ``/fapi/v1/depth`` accepts.
DEPTH_LIMITS = (5, 10, 20, 50, 100, 500, 1000)

#: Which file kinds a kline endpoint may read, in order of preference.
_KLINE_SOURCES: dict[str, tuple[str, ...]] = {
    "futures": ("futures",),
    "mark": ("mark", "futures"),
    "index": ("index", "mark", "futures"),
    "premiumIndex": ("premiumIndex",),
}
#: The units of the timeframes read from disk: minutes, hours and days are aligned to the epoch
#: (as INTERVAL_MS); weeks and months have other anchors, and Binance futures have no seconds.
_FILE_UNITS = ("m", "h", "d")


# --------------------------------------------------------------------------------------------
# Errors and faults
# --------------------------------------------------------------------------------------------


class BinanceError(Exception):
    """An error answered to the client as Binance does: an HTTP status and ``{"code", "msg"}``."""

    def __init__(self, status: int, code: int, msg: str) -> None:
        super().__init__(msg)
        self.status = status
        self.code = code
        self.msg = msg

    def response(self) -> web.Response:
        """The aiohttp response carrying this error."""
        return web.json_response({"code": self.code, "msg": self.msg}, status=self.status)


FaultKind = Literal["error", "delay", "drop_open_interest", "stall_candles"]
_FAULT_KINDS: tuple[str, ...] = ("error", "delay", "drop_open_interest", "stall_candles")


@dataclass(frozen=True)
class Fault:
    """One injected failure, active from when it is added until ``seconds`` or ``count`` run out.

    Kinds:

    - ``"error"``: matching requests are answered with HTTP ``status`` and a Binance error body
      (5xx: code -1001 "Internal error", 418/429: code -1003 "Too many requests").
    - ``"delay"``: matching requests are held ``delay`` seconds before being answered normally;
      longer than the client's timeout (ccxt: 10 s) it is a timeout.
    - ``"drop_open_interest"``: ``openInterestHist`` answers ``[]``, as when the feed is gone.
    - ``"stall_candles"`` (replay mode only): nothing new is published (candles, funding rates,
      open interest stay as they were when the fault was added); when the fault ends, the backlog
      appears at once, as after an exchange outage.
    """

    kind: FaultKind
    #: Only requests whose path starts with this (e.g. ``"/fapi/v1/klines"``); None: all but admin.
    path: str | None = None
    #: Only requests for this Binance symbol (e.g. ``"BTCUSDT"``); None: every symbol.
    symbol: str | None = None
    #: Active for this many seconds after being added; None: until cleared.
    seconds: float | None = None
    #: Affect at most this many requests; None: unlimited. Not used by ``stall_candles``.
    count: int | None = None
    #: HTTP status of an ``"error"`` fault (400-599).
    status: int = 503
    #: Seconds a ``"delay"`` fault holds each request.
    delay: float = 15.0

    def __post_init__(self) -> None:
        if not isinstance(self.kind, str) or self.kind not in _FAULT_KINDS:
            raise ConfigError(f"Fault.kind {self.kind!r} is not one of {', '.join(_FAULT_KINDS)}.")
        if self.path is not None and not (isinstance(self.path, str) and self.path.startswith("/")):
            raise ConfigError(
                f"Fault.path {self.path!r} must be a string starting with '/', e.g. "
                "'/fapi/v1/klines', or null for every path."
            )
        if self.symbol is not None and not isinstance(self.symbol, str):
            raise ConfigError(
                f"Fault.symbol {self.symbol!r} must be a Binance symbol string such as 'BTCUSDT', "
                "or null for every symbol."
            )
        if self.seconds is not None and not (
            _is_real(self.seconds) and 0 < self.seconds < math.inf
        ):
            raise ConfigError(
                f"Fault.seconds must be a finite number > 0, or null for 'until cleared'; "
                f"got {self.seconds!r}."
            )
        if self.count is not None and not (_is_int(self.count) and self.count >= 1):
            raise ConfigError(
                f"Fault.count must be a whole number >= 1, or null for unlimited; got {self.count!r}."
            )
        if self.kind == "stall_candles" and self.count is not None:
            raise ConfigError("Fault.count does not apply to 'stall_candles'; use seconds.")
        if not (_is_int(self.status) and 400 <= self.status <= 599):
            raise ConfigError(
                f"Fault.status must be an HTTP error status, a whole number 400-599; got {self.status!r}."
            )
        if not (_is_real(self.delay) and 0 < self.delay <= MAX_FAULT_DELAY_S):
            raise ConfigError(
                f"Fault.delay must be a number of seconds > 0 and <= {MAX_FAULT_DELAY_S:g}; got "
                f"{self.delay!r} (a longer hold is a timeout for every client anyway)."
            )

    @classmethod
    def from_json(cls, body: object) -> Fault:
        """Build a fault from a decoded JSON object, e.g. ``{"kind": "error", "status": 502}``.

        Raises:
            ConfigError: not an object, an unknown field, or an invalid value.
        """
        known = {f.name for f in fields(cls)}
        if not isinstance(body, dict) or "kind" not in body:
            raise ConfigError(
                'a fault must be a JSON object with a "kind", e.g. {"kind": "error"}.'
            )
        unknown = sorted(set(body) - known)
        if unknown:
            raise ConfigError(f"unknown fault field(s) {unknown}; known: {sorted(known)}.")
        return cls(**body)


def _is_int(x: object) -> bool:
    """An integer that is not a bool (JSON ``true`` is not a count)."""
    return isinstance(x, numbers.Integral) and not isinstance(x, bool)


def _is_real(x: object) -> bool:
    """An int or float that is not a bool (NaN fails every range check that follows)."""
    return isinstance(x, numbers.Real) and not isinstance(x, bool)


@dataclass
class _ActiveFault:
    id: int
    fault: Fault
    added_at: float  # server clock, seconds
    remaining: int | None
    frozen_cutoff_ms: int | None  # stall_candles: the publication cutoff when it was added

    def matches(self, path: str, symbol: str | None) -> bool:
        f = self.fault
        return (f.path is None or path.startswith(f.path)) and (
            f.symbol is None or f.symbol == symbol
        )


# --------------------------------------------------------------------------------------------
# Data: the files of a Freqtrade datadir as numpy arrays
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Series:
    """One time series: ascending open times (ms, data time) and named float columns."""

    interval_ms: int
    dates: np.ndarray
    values: Mapping[str, np.ndarray]


def _read_series(path: Path, kind: str, interval_ms: int) -> _Series:
    """Read one Freqtrade data file into a :class:`_Series` (sorted, de-duplicated, no NaN rows).

    Raises:
        InputError: the file cannot be read, is not in Freqtrade's layout, or has no usable row.
    """
    try:
        frame = pd.read_feather(path) if path.suffix == ".feather" else pd.read_parquet(path)
    except (OSError, ValueError, TypeError, pa.ArrowException) as exc:
        reason = " ".join(str(exc).split())  # one line: pyarrow's messages span several
        raise InputError(
            f"{path}: unreadable ({type(exc).__name__}: {reason}); re-download it with freqtrade "
            "download-data or remove it."
        ) from exc
    if "date" not in frame.columns:
        raise InputError(
            f"{path}: no 'date' column; expected Freqtrade's layout (date, open, ...). Remove the "
            "file or re-download it with freqtrade download-data."
        )
    if kind == "funding_rate":
        # Freqtrade >= 2026 stores (date, funding_rate); older files keep the rate in "open".
        source = {"funding_rate": funding_column(frame, default="open")}
    elif kind == "open_interest":
        source = {c: c for c in ("open_interest_amount", "open_interest_value")}
    else:
        source = {c: c for c in ("open", "high", "low", "close", "volume")}
        if "volume" not in frame.columns:
            frame = frame.assign(volume=0.0)
    missing = sorted(set(source.values()) - set(frame.columns))
    if missing:
        raise InputError(
            f"{path}: missing column(s) {missing} for a {kind} file; remove it or re-download it "
            "with freqtrade download-data."
        )
    try:
        frame = frame.assign(date=pd.to_datetime(frame["date"], utc=True))
        frame = frame.sort_values("date", kind="stable").drop_duplicates("date", keep="last")
        values = frame[list(source.values())].astype("float64")
    except (ValueError, TypeError, OverflowError) as exc:
        reason = " ".join(str(exc).split())
        raise InputError(
            f"{path}: dates or values that are not timestamps/numbers ({reason}); remove the file "
            "or re-download it with freqtrade download-data."
        ) from exc
    # Open interest may lack one of its two columns (Freqtrade allows that); other kinds need all.
    keep = values.notna().any(axis=1) if kind == "open_interest" else values.notna().all(axis=1)
    keep &= frame["date"].notna()
    if not keep.any():
        raise InputError(f"{path}: no row with a date and values; remove it or re-download it.")
    if not keep.all():
        logger.warning("%s: ignoring %d row(s) with missing values", path, int((~keep).sum()))
    dates = epoch_ms(frame.loc[keep, "date"])
    columns = {name: values.loc[keep, col].to_numpy() for name, col in source.items()}
    return _Series(interval_ms, dates, columns)


def _aggregate_ohlcv(src: _Series, interval_ms: int) -> _Series:
    """Aggregate candles into ``interval_ms`` buckets counted from the epoch, as Binance does."""
    frame = pd.DataFrame({"date": pd.to_datetime(src.dates, unit="ms"), **src.values})
    out = resample_ohlcv(frame, pd.Timedelta(milliseconds=interval_ms), origin="epoch")
    dates = epoch_ms(out["date"])
    return _Series(interval_ms, dates, {k: out[k].to_numpy() for k in OHLCV_AGG})


def _subsample(src: _Series, interval_ms: int) -> _Series:
    """Keep the snapshots taken on ``interval_ms`` boundaries (open interest is a level, not a flow)."""
    keep = src.dates % interval_ms == 0
    return _Series(interval_ms, src.dates[keep], {k: a[keep] for k, a in src.values.items()})


class _DataStore:
    """The data files of ``<datadir>/futures`` for the shipped markets, loaded lazily and cached.

    A file that cannot be read is skipped with a warning naming it (once) and treated as absent,
    so one bad file never takes the other pairs down; :attr:`skipped` lists them.
    """

    def __init__(self, futures_dir: Path, prefixes: Mapping[str, str]) -> None:
        """``prefixes`` maps Freqtrade's file prefix (``BTC_USDT_USDT``) to the Binance symbol.

        Raises:
            ConfigError: ``futures_dir`` cannot be listed.
        """
        self._files: dict[tuple[str, str], dict[int, Path]] = {}
        self._cache: dict[tuple[str, str, int], _Series | None] = {}
        self._lock = threading.RLock()  # series() recurses to aggregate from a finer file
        #: Files skipped as unreadable, with the reason.
        self.skipped: dict[Path, str] = {}
        try:
            paths = sorted(futures_dir.iterdir())
        except OSError as exc:
            raise ConfigError(f"cannot list {futures_dir}: {exc}; check its permissions.") from exc
        for path in paths:
            file = parse_data_file(path.name)
            if file is None or file.candle_type == "spot" or file.timeframe[-1] not in _FILE_UNITS:
                continue
            symbol = prefixes.get(file.stem)
            if symbol is None:
                logger.debug("%s: not one of the shipped markets; ignored", path.name)
                continue
            interval = timeframe_seconds(file.timeframe) * 1000
            self._files.setdefault((symbol, file.candle_type), {})[interval] = path

    def intervals(self, symbol: str, kind: str) -> list[int]:
        """Intervals (ms) with a file of their own, ascending."""
        return sorted(self._files.get((symbol, kind), {}))

    def max_interval_ms(self) -> int:
        """The longest interval of any file (0 when there are none)."""
        return max((i for files in self._files.values() for i in files), default=0)

    def finest(self, symbol: str, kind: str) -> _Series | None:
        """The series of the shortest interval on disk that can be read, or None."""
        for interval in self.intervals(symbol, kind):
            series = self.series(symbol, kind, interval)
            if series is not None:
                return series
        return None

    def series(self, symbol: str, kind: str, interval_ms: int) -> _Series | None:
        """The series at ``interval_ms``: its own file, else aggregated from the coarsest readable
        file that divides it; None when neither exists.
        """
        key = (symbol, kind, interval_ms)
        with self._lock:
            if key not in self._cache:
                self._cache[key] = self._build(symbol, kind, interval_ms)
            return self._cache[key]

    def _build(self, symbol: str, kind: str, interval_ms: int) -> _Series | None:
        files = self._files.get((symbol, kind), {})
        if interval_ms in files:
            series = self._load(files[interval_ms], symbol, kind, interval_ms)
            if series is not None:
                return series
        if kind == "funding_rate":
            return None
        finer = sorted((i for i in files if i < interval_ms and interval_ms % i == 0), reverse=True)
        for source in finer:
            src = self.series(symbol, kind, source)
            if src is not None:
                if kind == "open_interest":
                    return _subsample(src, interval_ms)
                return _aggregate_ohlcv(src, interval_ms)
        return None

    def _load(self, path: Path, symbol: str, kind: str, interval_ms: int) -> _Series | None:
        """Read ``path``; an unreadable file is dropped from the store with a warning."""
        try:
            return _read_series(path, kind, interval_ms)
        except InputError as exc:
            logger.warning("skipping %s", exc)
            self.skipped[path] = str(exc)
            self._files[(symbol, kind)].pop(interval_ms, None)
            return None


# --------------------------------------------------------------------------------------------
# Request helpers
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _MarketSpec:
    """The filters of one market that shape synthesised order books."""

    symbol: str
    tick: Decimal
    step: Decimal
    min_qty: Decimal

    @classmethod
    def from_info(cls, info: Mapping[str, Any]) -> _MarketSpec:
        filters = {f["filterType"]: f for f in info["filters"]}
        lot = filters["LOT_SIZE"]
        return cls(
            info["symbol"],
            Decimal(filters["PRICE_FILTER"]["tickSize"]),
            Decimal(lot["stepSize"]),
            Decimal(lot["minQty"]),
        )


def _fmt(x: float) -> str:
    """A number as Binance sends it: a plain decimal string, shortest exact form, no exponent."""
    return np.format_float_positional(x, trim="-")


def _int_param(
    query: Mapping[str, str],
    name: str,
    *,
    default: int | None = None,
    lo: int | None = None,
    hi: int | None = None,
) -> int | None:
    raw = query.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise BinanceError(
            400,
            -1100,
            f"Illegal characters found in parameter '{name}'; legal range is '^[0-9]{{1,20}}$'.",
        ) from None
    if (lo is not None and value < lo) or (hi is not None and value > hi):
        bounds = f"{lo if lo is not None else '-inf'}..{hi if hi is not None else 'inf'}"
        raise BinanceError(
            400, -1130, f"Data sent for parameter '{name}' is not valid (range {bounds})."
        )
    return value


def _time_range(query: Mapping[str, str]) -> tuple[int | None, int | None]:
    start = _int_param(query, "startTime", lo=0)
    end = _int_param(query, "endTime", lo=0)
    if start is not None and end is not None and start > end:
        raise BinanceError(400, -1023, "Start time is greater than end time.")
    return start, end


def _binance_status_error(status: int, detail: str) -> BinanceError:
    if status in (418, 429):
        return BinanceError(status, -1003, f"Too many requests; {detail}")
    if status >= 500:
        return BinanceError(
            status,
            -1001,
            f"Internal error; unable to process your request. Please try again. ({detail})",
        )
    return BinanceError(
        status, -1000, f"An unknown error occurred while processing the request. ({detail})"
    )


def _load_exchange_info(markets_file: str | Path | None) -> dict[str, Any]:
    if markets_file is None:
        text = resources.files(__package__).joinpath("markets.json").read_text(encoding="utf-8")
        source = "liq_indicator/offline/markets.json"
    else:
        source = str(markets_file)
        try:
            text = Path(markets_file).read_text(encoding="utf-8")
        except OSError as exc:
            raise ConfigError(f"cannot read markets file {source}: {exc}") from exc
    info = json.loads(text)
    if not isinstance(info, dict) or not info.get("symbols"):
        raise ConfigError(f"{source}: expected Binance exchangeInfo JSON with a 'symbols' list.")
    return info


# --------------------------------------------------------------------------------------------
# The exchange
# --------------------------------------------------------------------------------------------


_CLOSING = web.AppKey("closing", asyncio.Event)


def _check_host_header(request: web.Request) -> None:
    """403 unless the ``Host`` header is a loopback name: a page that rebinds its own domain to
    127.0.0.1 (DNS rebinding) still sends its own name, and is turned away.
    """
    host = request.headers.get(hdrs.HOST, "")
    if not _LOOPBACK_HOST_HEADER.fullmatch(host):
        raise BinanceError(
            403,
            -1002,
            f"Host header {host!r} is not a loopback name; the offline exchange answers only "
            "requests addressed to 127.0.0.1, localhost or [::1] (any port), e.g. "
            "http://127.0.0.1:<port>.",
        )


def _required(query: Mapping[str, str], name: str) -> str:
    """A mandatory query parameter, or Binance's own -1102 error."""
    raw = query.get(name)
    if not raw:
        raise BinanceError(
            400, -1102, f"Mandatory parameter '{name}' was not sent, was empty/null, or malformed."
        )
    return raw


class ExchangeServer:
    """Binance USDT-M public market data served from a Freqtrade datadir (see the module docs).

    Build the aiohttp app with :meth:`app` and run it with :func:`serve`, or use
    :func:`running_exchange`, which does both on a background thread.
    """

    #: Notional (USDT) of the smallest level of a synthesised order book.
    BOOK_LEVEL_NOTIONAL = 2_000.0

    def __init__(
        self,
        datadir: str | Path,
        *,
        replay: bool = False,
        speed: float = 1.0,
        replay_lead: float = 3600.0,
        faults: Iterable[Fault] = (),
        markets_file: str | Path | None = None,
        clock: Callable[[], float] = time.time,
        admin_token: str | None = None,
        liquidations: pd.DataFrame | None = None,
        liquidation_rate: float = 200.0,
    ) -> None:
        """An offline exchange over the Binance futures files of ``datadir`` (nothing served yet).

        Args:
            datadir: a Freqtrade datadir of Binance data, e.g. ``user_data/data/binance``; the
                files are read from its ``futures/`` folder.
            replay: publish the data as if it were happening now (see the module docs).
            speed: replay only: how many seconds of data are published per wall-clock second.
            replay_lead: replay only: seconds of data still to come when the server starts; at
                ``speed`` it lasts ``replay_lead / speed`` wall-clock seconds, after which no new
                candles appear (a warning is logged).
            faults: faults active from the start (see :class:`Fault`).
            markets_file: Binance ``exchangeInfo`` JSON to serve instead of the shipped markets.
            clock: the wall clock in seconds since the epoch; injectable for tests.
            admin_token: the secret every ``/_admin/*`` request must send in the
                ``X-Admin-Token`` header; None: a random one (see :attr:`admin_token`).
            liquidations: fills to replay on the websocket streams: ``date``, ``side`` (the
                position liquidated, ``long``/``short``), ``price``, ``size_usd`` and optionally
                ``pair`` (``BTC/USDT:USDT``; default the first traded market).
            liquidation_rate: fills pushed per second on each venue's stream.

        Raises:
            ConfigError: no futures candles for a shipped market, replay settings that do not fit
                the data, or an ``admin_token`` that cannot be sent as a header.
            InputError: the only futures candles are in files that cannot be read.
        """
        futures_dir = Path(datadir) / "futures"
        if not futures_dir.is_dir():
            raise ConfigError(
                f"{futures_dir} is not a directory; --datadir must be a Freqtrade datadir of Binance "
                "futures data, e.g. user_data/data/binance holding futures/BTC_USDT_USDT-5m-futures.feather."
            )
        if not 0 < speed <= _MAX_SPEED:
            raise ConfigError(f"speed must be > 0 and <= {_MAX_SPEED:g}, got {speed!r}.")
        if admin_token is None:
            admin_token = secrets.token_urlsafe(16)
        elif not (isinstance(admin_token, str) and re.fullmatch(r"[\x21-\x7e]+", admin_token)):
            raise ConfigError(
                f"admin_token {admin_token!r} must be non-empty printable ASCII without spaces (it "
                "travels in an HTTP header); omit it for a random one."
            )
        #: The secret that ``/_admin/*`` requests send in the ``X-Admin-Token`` header.
        self.admin_token: str = admin_token
        self._exchange_info = _load_exchange_info(markets_file)
        symbols = self._exchange_info["symbols"]
        self._specs = {s["symbol"]: _MarketSpec.from_info(s) for s in symbols}
        prefixes = {
            pair_stem(f"{s['baseAsset']}/{s['quoteAsset']}:{s['marginAsset']}"): s["symbol"]
            for s in symbols
        }
        self._store = _DataStore(futures_dir, prefixes)
        finest = {sym: self._store.finest(sym, "futures") for sym in self._specs}
        futures = {sym: s for sym, s in finest.items() if s is not None and len(s.dates)}
        self._traded = list(futures)
        if not self._traded and self._store.skipped:
            raise InputError(
                f"{futures_dir} holds no readable futures candles: "
                + "; ".join(self._store.skipped.values())
            )
        if not self._traded:
            raise ConfigError(
                f"{futures_dir} holds no futures candles for any of {', '.join(prefixes)}; expected "
                "files named like BTC_USDT_USDT-5m-futures.feather (run freqtrade download-data)."
            )
        self._clock = clock
        self._lock = threading.Lock()
        self._requests: Counter[str] = Counter()
        self._errors: Counter[str] = Counter()
        self._faults: list[_ActiveFault] = []
        self._fault_ids = itertools.count(1)
        self._warned: set[tuple[object, ...]] = set()
        self.replay = replay
        self.speed = speed
        self.shift_ms = 0
        self._wall0_ms = int(clock() * 1000)
        # Data time when every traded market has candles: from the latest first to the earliest end.
        self._data_start_ms = max(int(s.dates[0]) for s in futures.values())
        self._data_end_ms = min(int(s.dates[-1]) + s.interval_ms for s in futures.values())
        self._spans = {
            sym: (int(s.dates[0]), int(s.dates[-1]) + s.interval_ms) for sym, s in futures.items()
        }
        if replay:
            self.shift_ms = self._replay_shift(replay_lead)
            if speed != 1:
                logger.warning(
                    "replay at %g x the wall clock: a Freqtrade bot runs on the wall clock and "
                    "fetches candles only at its own candle boundaries, so it would skip or wait "
                    "for candles; use speed 1 for freqtrade trade --dry-run",
                    speed,
                )
        for fault in faults:
            self.add_fault(fault)
        self._liq = _liquidation_rows(liquidations, self._traded[0], set(self._traded))
        if not 0 < liquidation_rate <= _MAX_SPEED:
            raise ConfigError(
                f"liquidation_rate must be > 0 and <= {_MAX_SPEED:g} fills per second, got "
                f"{liquidation_rate!r}."
            )
        self._liq_interval = 1.0 / liquidation_rate
        self._ws_cursor: Counter[str] = Counter()
        self._ws_epoch = 0
        self._sockets: set[web.WebSocketResponse] = set()

    def _replay_shift(self, replay_lead: float) -> int:
        """The shift (ms, a multiple of the alignment) that puts the data end ``replay_lead`` ahead."""
        if not 0 < replay_lead < math.inf:
            raise ConfigError(
                f"replay_lead must be a finite number > 0 seconds, got {replay_lead!r}."
            )
        align = max(_FUNDING_INTERVAL_MS, self._store.max_interval_ms())
        first = self._data_start_ms
        if self._data_end_ms <= first:
            ends = min(self._spans, key=lambda sym: self._spans[sym][1])
            starts = max(self._spans, key=lambda sym: self._spans[sym][0])
            day = "%Y-%m-%d"
            raise ConfigError(
                "replay needs a period where every market of the datadir has candles, and there "
                f"is none: {ends} ends {pd.Timestamp(self._spans[ends][1], unit='ms'):{day}}, "
                f"before {starts} starts {pd.Timestamp(self._spans[starts][0], unit='ms'):{day}}. "
                "Serve a datadir holding only the pairs the bot trades."
            )
        if self._data_end_ms - replay_lead * 1000 - align <= first:  # float: 1e308 s is refused too
            longest = max(0.0, (self._data_end_ms - first - align) / 1000)
            raise ConfigError(
                f"replay needs more data than replay_lead ({replay_lead:g} s) plus the "
                f"{align // _HOUR_MS} h alignment; the futures candles cover only "
                f"{(self._data_end_ms - first) / 1000:g} s. Lower replay_lead (this data allows "
                f"at most {longest:g} s = {longest / 86_400:.1f} days, less the strategy's "
                "start-up candles, which must lie before 'now') or add data."
            )
        target = self._data_end_ms - int(replay_lead * 1000)
        # ceil((wall0 - target) / align) * align: "now" maps to at most replay_lead before the end
        return -((target - self._wall0_ms) // align) * align

    def replay_summary(self) -> str | None:
        """Replay mode: one line saying which data time is "now", how much history lies before it
        and when (wall clock, UTC) the data runs out; None outside replay mode.
        """
        if not self.replay:
            return None
        now_data = self._wall0_ms - self.shift_ms
        ends_wall = self._wall0_ms + (self._data_end_ms - now_data) / self.speed
        fmt = "%Y-%m-%d %H:%M"
        return (
            f"replay: 'now' is the data's {pd.Timestamp(now_data, unit='ms'):{fmt}} UTC, with "
            f"{(now_data - self._data_start_ms) / _DAY_MS:.1f} days of history before it; the "
            f"data runs out at {pd.Timestamp(ends_wall, unit='ms'):{fmt}} UTC wall clock "
            f"(in {(ends_wall - self._wall0_ms) / _HOUR_MS:.1f} h), after which no new candles "
            "appear"
        )

    # -- clock and faults ---------------------------------------------------------------------

    def _now_ms(self) -> int:
        return int(self._clock() * 1000)

    def visible_until_ms(self, path: str = "", symbol: str | None = None) -> int | None:
        """Replay mode: the served time up to which data has been published (None: everything).

        Active ``stall_candles`` faults matching ``path``/``symbol`` hold it where it was when
        they were added.
        """
        if not self.replay:
            return None
        cutoff = self._wall0_ms + int((self._now_ms() - self._wall0_ms) * self.speed)
        frozen = [
            a.frozen_cutoff_ms
            for a in self._active_faults("stall_candles", path, symbol, consume=False)
            if a.frozen_cutoff_ms is not None
        ]
        cutoff = min([cutoff, *frozen])
        if cutoff - self.shift_ms > self._data_end_ms:
            self._warn_once(
                ("replay-end",),
                "replay reached the end of the data; no new candles will appear (stop the bot, "
                "or restart the exchange with a longer --replay-lead)",
            )
        return cutoff

    def add_fault(self, fault: Fault) -> int:
        """Activate ``fault`` now and return its id (for :meth:`state`).

        Raises:
            ConfigError: a ``stall_candles`` fault outside replay mode.
        """
        if fault.kind == "stall_candles" and not self.replay:
            raise ConfigError(
                "the 'stall_candles' fault needs replay mode (replay=True / --replay)."
            )
        frozen = self.visible_until_ms() if fault.kind == "stall_candles" else None
        with self._lock:
            active = _ActiveFault(next(self._fault_ids), fault, self._clock(), fault.count, frozen)
            self._faults.append(active)
        logger.warning("fault #%d injected: %s", active.id, fault)
        return active.id

    def clear_faults(self) -> int:
        """Remove all faults; returns how many were active."""
        with self._lock:
            n = len(self._faults)
            self._faults.clear()
        if n:
            logger.warning("cleared %d fault(s)", n)
        return n

    def _active_faults(
        self, kind: str, path: str, symbol: str | None, *, consume: bool
    ) -> list[_ActiveFault]:
        """Faults of ``kind`` matching the request; ``consume`` counts the request against them."""
        with self._lock:
            self._prune_faults()
            hits = [a for a in self._faults if a.fault.kind == kind and a.matches(path, symbol)]
            if consume:
                for a in hits:
                    if a.remaining is not None:
                        a.remaining -= 1
            return hits

    def _prune_faults(self) -> None:
        """Drop faults whose time or count ran out; call with ``self._lock`` held."""
        now = self._clock()
        self._faults = [
            a
            for a in self._faults
            if (a.fault.seconds is None or now - a.added_at < a.fault.seconds)
            and (a.remaining is None or a.remaining > 0)
        ]

    def state(self) -> dict[str, Any]:
        """Replay clock, active faults and request/error counts per path (also ``GET /_admin/state``)."""
        with self._lock:
            self._prune_faults()
            faults = [
                {"id": a.id, **asdict(a.fault), "remaining": a.remaining} for a in self._faults
            ]
            requests, errors = dict(self._requests), dict(self._errors)
        return {
            "replay": self.replay,
            "speed": self.speed,
            "shift_ms": self.shift_ms,
            "visible_until": self.visible_until_ms(),
            "markets": sorted(self._specs),
            "traded": sorted(self._traded),
            "faults": faults,
            "requests": requests,
            "errors": errors,
            "liquidations": len(self._liq),
            "liquidations_sent": dict(self._ws_cursor),
            "websockets": len(self._sockets),
        }

    def _warn_once(self, key: tuple[object, ...], msg: str, *args: object) -> None:
        with self._lock:
            if key in self._warned:
                return
            self._warned.add(key)
        logger.warning(msg, *args)

    # -- the app -------------------------------------------------------------------------------

    #: Path -> handler method of the market-data routes (all GET).
    _ROUTES: dict[str, str] = {
        "/fapi/v1/ping": "_ping",
        "/fapi/v1/time": "_time",
        "/fapi/v1/exchangeInfo": "_exchange_info_handler",
        "/fapi/v1/klines": "_klines",
        "/fapi/v1/markPriceKlines": "_mark_price_klines",
        "/fapi/v1/indexPriceKlines": "_index_price_klines",
        "/fapi/v1/premiumIndexKlines": "_premium_index_klines",
        "/fapi/v1/fundingRate": "_funding_rate",
        "/fapi/v1/premiumIndex": "_premium_index",
        "/fapi/v1/openInterest": "_open_interest",
        "/futures/data/openInterestHist": "_open_interest_hist",
        "/fapi/v1/depth": "_depth",
        "/fapi/v1/ticker/24hr": "_ticker_24hr",
        "/fapi/v1/ticker/price": "_ticker_price",
        "/fapi/v2/ticker/price": "_ticker_price",
        "/fapi/v1/ticker/bookTicker": "_book_ticker",
    }
    _KNOWN_PATHS = frozenset([*_ROUTES, "/_admin/state", "/_admin/faults"])

    def app(self) -> web.Application:
        """The aiohttp application: market-data routes, admin routes and the error middleware."""
        app = web.Application(middlewares=[self._middleware])
        for path, name in self._ROUTES.items():
            app.router.add_get(path, getattr(self, name))
        app.router.add_get("/_admin/state", self._admin_state)
        app.router.add_post("/_admin/faults", self._admin_add_fault)
        app.router.add_delete("/_admin/faults", self._admin_clear_faults)
        app.router.add_get("/ws/{venue}/{tail:.*}", self._websocket)
        # Set on shutdown: requests held by a "delay" fault are answered at once instead of
        # keeping the server up for the rest of their delay.
        app[_CLOSING] = asyncio.Event()

        async def closing(app: web.Application) -> None:
            app[_CLOSING].set()
            await self.drop_websockets()

        app.on_shutdown.append(closing)
        return app

    @web.middleware
    async def _middleware(
        self, request: web.Request, handler: Callable[[web.Request], Any]
    ) -> web.StreamResponse:
        path = request.path
        # Count served paths by name, all others under one key: a client probing random paths
        # must not grow the counters (and the memory) without bound.
        key = path if path in self._KNOWN_PATHS else UNKNOWN_PATH
        with self._lock:
            self._requests[key] += 1
        try:
            _check_host_header(request)
            if path.startswith("/_admin/"):
                self._check_admin(request)
            else:
                await self._apply_request_faults(request)
            response = await handler(request)
        except BinanceError as exc:
            response = exc.response()
        except web.HTTPException as exc:
            if exc.status < 400:
                raise
            response = self._http_error(request, exc.status).response()
        except Exception:
            logger.exception("offline exchange: internal error on %s", request.path_qs)
            response = _binance_status_error(500, "offline exchange bug; see its log").response()
        if response.status >= 400:
            with self._lock:
                self._errors[key] += 1
            logger.warning(
                "%s %s -> %d %s",
                request.method,
                request.path_qs,
                response.status,
                getattr(response, "text", ""),
            )
        else:
            logger.debug("%s %s -> %d", request.method, request.path_qs, response.status)
        return response

    def _check_admin(self, request: web.Request) -> None:
        """403 without the right ``X-Admin-Token``; 415 for a POST body that is not JSON.

        Together they turn away what a web page can send cross-origin without a CORS preflight
        (no custom headers, ``text/plain`` bodies), on top of the secret itself.
        """
        given = request.headers.get(ADMIN_TOKEN_HEADER, "")
        if not hmac.compare_digest(
            given.encode("utf-8", "surrogateescape"), self.admin_token.encode()
        ):
            raise BinanceError(
                403,
                -1002,
                f"{request.path} needs the header {ADMIN_TOKEN_HEADER} with the admin token printed "
                "at start-up ('admin token: ...', or ExchangeServer.admin_token); "
                + ("it was wrong." if given else "it was missing."),
            )
        if request.method == "POST" and request.content_type != "application/json":
            raise BinanceError(
                415,
                -1000,
                f"POST {request.path} needs Content-Type: application/json, got "
                f"{request.content_type!r}.",
            )

    def _http_error(self, request: web.Request, status: int) -> BinanceError:
        if "signature" in request.query or "X-MBX-APIKEY" in request.headers:
            return BinanceError(
                401,
                -2015,
                "Invalid API-key, IP, or permissions for action: the offline exchange serves public "
                "market data only; run Freqtrade with dry_run: true.",
            )
        if request.path.startswith("/unsupported/"):
            family = request.path.split("/")[2]
            return BinanceError(
                404,
                -5000,
                f"ccxt API family '{family}' is not served by the offline exchange, which answers "
                "Binance USDT-M (fapi) public market data only.",
            )
        return BinanceError(
            status,
            -5000,
            f"Path {request.path}, Method {request.method} is invalid on the offline exchange.",
        )

    async def _apply_request_faults(self, request: web.Request) -> None:
        symbol = request.query.get("symbol") or request.query.get("pair")
        for active in self._active_faults("delay", request.path, symbol, consume=True):
            logger.warning(
                "fault #%d: holding %s for %g s", active.id, request.path_qs, active.fault.delay
            )
            closing = request.app[_CLOSING]
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(closing.wait(), active.fault.delay)
            if closing.is_set():
                raise _binance_status_error(503, "the offline exchange is shutting down")
        errors = self._active_faults("error", request.path, symbol, consume=True)
        if errors:
            raise _binance_status_error(errors[0].fault.status, f"injected fault #{errors[0].id}")

    # -- liquidation websockets ---------------------------------------------------------------

    async def drop_websockets(self) -> int:
        """Close every open websocket (as a network failure would); returns how many.

        Pushes in flight are finished first, so no fill is counted as sent that a client did not
        get; a venue's replay then waits until a client subscribes again.
        """
        self._ws_epoch += 1
        sockets = list(self._sockets)
        for ws in sockets:
            await ws.close(code=1006, message=b"dropped by the offline exchange")
        if sockets:
            logger.warning("dropped %d websocket connection(s)", len(sockets))
        return len(sockets)

    async def _websocket(self, request: web.Request) -> web.StreamResponse:
        venue = request.match_info["venue"]
        if venue not in _WS_VENUES:
            raise BinanceError(404, -5000, f"no websocket venue {venue!r}; serve {_WS_VENUES}")
        ws = web.WebSocketResponse(heartbeat=None)
        await ws.prepare(request)
        self._sockets.add(ws)
        subs: set[str] = set()
        pusher: asyncio.Task[None] | None = None
        try:
            async for msg in ws:
                if msg.type != web.WSMsgType.TEXT:
                    continue
                reply, new = _ws_control(venue, msg.data)
                if reply is not None:
                    await ws.send_str(reply)
                subs |= new
                if subs and pusher is None:
                    pusher = asyncio.create_task(self._push(venue, ws, subs, self._ws_epoch))
        finally:
            if pusher is not None:
                pusher.cancel()
            self._sockets.discard(ws)
        return ws

    async def _push(
        self, venue: str, ws: web.WebSocketResponse, subs: set[str], epoch: int
    ) -> None:
        """Send ``venue``'s fills from its cursor on, those ``subs`` asked for, until closed."""
        while not ws.closed and epoch == self._ws_epoch:
            i = self._ws_cursor[venue]
            if i >= len(self._liq):
                await asyncio.sleep(0.05)
                continue
            row = self._liq[i]
            if "*" in subs or row[1] in subs:
                try:
                    await ws.send_str(json.dumps(_ws_message(venue, row)))
                except (ConnectionError, RuntimeError):  # the client went away: not sent
                    return
            self._ws_cursor[venue] = i + 1
            await asyncio.sleep(self._liq_interval)

    # -- parameters ----------------------------------------------------------------------------

    def _symbol(self, query: Mapping[str, str], name: str = "symbol") -> str:
        raw = _required(query, name)
        if raw not in self._specs:
            raise BinanceError(400, -1121, "Invalid symbol.")
        return raw

    def _symbols(self, query: Mapping[str, str]) -> list[str]:
        """The ``symbol`` parameter, or every market with candles when it is absent."""
        return [self._symbol(query)] if "symbol" in query else list(self._traded)

    @staticmethod
    def _interval(query: Mapping[str, str], name: str, allowed: Iterable[str]) -> int:
        raw = _required(query, name)
        if raw not in allowed:
            raise BinanceError(
                400,
                -1120,
                f"Invalid {name} {raw!r}; the offline exchange serves {', '.join(allowed)}.",
            )
        return INTERVAL_MS[raw]

    # -- selection -----------------------------------------------------------------------------

    def _rows(
        self,
        series: _Series,
        cutoff: int | None,
        start: int | None,
        end: int | None,
        limit: int,
    ) -> tuple[int, int, bool]:
        """The row range ``[lo, hi)`` Binance would answer, and whether row ``hi - 1`` is a candle
        still forming at ``cutoff``.

        Binance: with ``startTime``, the first ``limit`` rows from it (up to ``endTime``); without,
        the last ``limit`` rows up to ``endTime`` or now. Times are served times (data + shift).
        """
        dates, shift = series.dates, self.shift_ms
        hi = len(dates) if cutoff is None else int(np.searchsorted(dates, cutoff - shift, "right"))
        if end is not None:
            hi = min(hi, int(np.searchsorted(dates, end - shift, "right")))
        if start is not None:
            lo = min(int(np.searchsorted(dates, start - shift, "left")), hi)
            hi = min(hi, lo + limit)
        else:
            lo = max(0, hi - limit)
        forming = (
            cutoff is not None
            and hi > lo
            and int(dates[hi - 1]) + series.interval_ms > cutoff - shift
        )
        return lo, hi, forming

    @staticmethod
    def _ohlcv(series: _Series, lo: int, hi: int, forming: bool) -> tuple[np.ndarray, ...]:
        """open, high, low, close, volume of rows ``[lo, hi)``; a forming last candle is flat at
        its open with no volume, as a candle that has just opened.
        """
        o, h, low, c, v = (
            series.values[k][lo:hi].copy() for k in ("open", "high", "low", "close", "volume")
        )
        if forming:
            h[-1] = low[-1] = c[-1] = o[-1]
            v[-1] = 0.0
        return o, h, low, c, v

    def _candles(self, symbol: str, kind: str, interval_ms: int) -> _Series | None:
        """Candles of ``kind`` at ``interval_ms``, falling back as in ``_KLINE_SOURCES``."""
        for source in _KLINE_SOURCES[kind]:
            series = self._store.series(symbol, source, interval_ms)
            if series is not None:
                if source != kind:
                    self._warn_once(
                        ("fallback", symbol, kind, interval_ms),
                        "no %s candles for %s at %d min on disk; serving %s candles instead",
                        kind,
                        symbol,
                        interval_ms // _MINUTE_MS,
                        source,
                    )
                return series
        self._warn_once(
            ("missing", symbol, kind, interval_ms),
            "no %s candles for %s at %d min (nor a finer file to aggregate); answering []",
            kind,
            symbol,
            interval_ms // _MINUTE_MS,
        )
        return None

    def _last_candle(self, symbol: str, kind: str, path: str) -> tuple[float, int] | None:
        """(close, served open time) of the latest published candle of the finest ``kind`` series."""
        for source in _KLINE_SOURCES[kind]:
            series = self._store.finest(symbol, source)
            if series is None:
                continue
            lo, hi, forming = self._rows(series, self.visible_until_ms(path, symbol), None, None, 1)
            if hi > lo:
                close = self._ohlcv(series, lo, hi, forming)[3][-1]
                return float(close), int(series.dates[lo]) + self.shift_ms
        return None

    def _last_price(self, symbol: str, path: str) -> float:
        last = self._last_candle(symbol, "futures", path)
        if last is None:
            raise BinanceError(
                400,
                -1000,
                f"No candles for {symbol} published yet in the offline datadir; no price to quote.",
            )
        return last[0]

    def _last_value(self, symbol: str, kind: str, column: str, path: str) -> float | None:
        series = self._store.finest(symbol, kind)
        if series is None:
            return None
        lo, hi, _ = self._rows(series, self.visible_until_ms(path, symbol), None, None, 1)
        return float(series.values[column][lo]) if hi > lo else None

    # -- handlers: general ---------------------------------------------------------------------

    async def _ping(self, request: web.Request) -> web.Response:
        return web.json_response({})

    async def _time(self, request: web.Request) -> web.Response:
        return web.json_response({"serverTime": self._now_ms()})

    async def _exchange_info_handler(self, request: web.Request) -> web.Response:
        info = copy.deepcopy(self._exchange_info)
        info["serverTime"] = self._now_ms()
        return web.json_response(info)

    # -- handlers: candles ---------------------------------------------------------------------

    async def _klines(self, request: web.Request) -> web.Response:
        return self._kline_response(request, "futures")

    async def _mark_price_klines(self, request: web.Request) -> web.Response:
        return self._kline_response(request, "mark")

    async def _index_price_klines(self, request: web.Request) -> web.Response:
        return self._kline_response(request, "index")

    async def _premium_index_klines(self, request: web.Request) -> web.Response:
        return self._kline_response(request, "premiumIndex")

    def _kline_response(self, request: web.Request, kind: str) -> web.Response:
        q = request.query
        symbol = self._symbol(q, "pair" if kind == "index" else "symbol")
        interval_ms = self._interval(q, "interval", INTERVAL_MS)
        start, end = _time_range(q)
        limit = _int_param(q, "limit", default=500, lo=1, hi=1500)
        assert limit is not None
        series = self._candles(symbol, kind, interval_ms)
        if series is None:
            return web.json_response([])
        lo, hi, forming = self._rows(
            series, self.visible_until_ms(request.path, symbol), start, end, limit
        )
        opens = series.dates[lo:hi] + self.shift_ms
        o, h, low, c, v = self._ohlcv(series, lo, hi, forming)
        rows: list[list[Any]] = []
        for i in range(hi - lo):
            t = int(opens[i])
            if kind == "futures":
                quote = float(v[i] * c[i])
                # Volume-derived fields Binance also sends; the datadir has no trade-level data.
                trades, taker_base, taker_quote = (
                    int(quote // 10_000),
                    _fmt(v[i] / 2),
                    _fmt(quote / 2),
                )
                volume, quote_volume = _fmt(v[i]), _fmt(quote)
            else:
                trades, taker_base, taker_quote, volume, quote_volume = 0, "0", "0", "0", "0"
            rows.append(
                [t, _fmt(o[i]), _fmt(h[i]), _fmt(low[i]), _fmt(c[i]), volume,
                 t + interval_ms - 1, quote_volume, trades, taker_base, taker_quote, "0"]
            )  # fmt: skip
        return web.json_response(rows)

    # -- handlers: funding and open interest ---------------------------------------------------

    async def _funding_rate(self, request: web.Request) -> web.Response:
        q = request.query
        symbol = self._symbol(q)
        start, end = _time_range(q)
        limit = _int_param(q, "limit", default=100, lo=1, hi=1000)
        assert limit is not None
        series = self._store.finest(symbol, "funding_rate")
        if series is None:
            self._warn_once(
                ("missing", symbol, "funding_rate"),
                "no funding_rate file for %s; answering []",
                symbol,
            )
            return web.json_response([])
        lo, hi, _ = self._rows(
            series, self.visible_until_ms(request.path, symbol), start, end, limit
        )
        mark = self._store.finest(symbol, "mark") or self._store.finest(symbol, "futures")
        rows = []
        for i in range(lo, hi):
            row = {
                "symbol": symbol,
                "fundingTime": int(series.dates[i]) + self.shift_ms,
                "fundingRate": f"{series.values['funding_rate'][i]:.8f}",
            }
            if mark is not None:  # mark price at the funding time: open of the candle starting then
                j = int(np.searchsorted(mark.dates, series.dates[i], "right")) - 1
                if j >= 0:
                    row["markPrice"] = _fmt(
                        mark.values["open" if mark.dates[j] == series.dates[i] else "close"][j]
                    )
            rows.append(row)
        return web.json_response(rows)

    async def _open_interest_hist(self, request: web.Request) -> web.Response:
        q = request.query
        symbol = self._symbol(q)
        period_ms = self._interval(q, "period", OPEN_INTEREST_PERIODS)
        start, end = _time_range(q)
        limit = _int_param(q, "limit", default=30, lo=1, hi=500)
        assert limit is not None
        if self._active_faults("drop_open_interest", request.path, symbol, consume=True):
            return web.json_response([])
        series = self._store.series(symbol, "open_interest", period_ms)
        if series is None:
            self._warn_once(
                ("missing", symbol, "open_interest", period_ms),
                "no open_interest file for %s that serves %d min; answering []",
                symbol,
                period_ms // _MINUTE_MS,
            )
            return web.json_response([])
        lo, hi, _ = self._rows(
            series, self.visible_until_ms(request.path, symbol), start, end, limit
        )
        amount, value = series.values["open_interest_amount"], series.values["open_interest_value"]
        return web.json_response(
            [
                {
                    "symbol": symbol,
                    "sumOpenInterest": None if np.isnan(amount[i]) else _fmt(amount[i]),
                    "sumOpenInterestValue": None if np.isnan(value[i]) else _fmt(value[i]),
                    "timestamp": int(series.dates[i]) + self.shift_ms,
                }
                for i in range(lo, hi)
            ]
        )

    async def _open_interest(self, request: web.Request) -> web.Response:
        symbol = self._symbol(request.query)
        amount = self._last_value(symbol, "open_interest", "open_interest_amount", request.path)
        if amount is None or np.isnan(amount):
            raise BinanceError(400, -1000, f"No open interest for {symbol} in the offline datadir.")
        return web.json_response(
            {"openInterest": _fmt(amount), "symbol": symbol, "time": self._now_ms()}
        )

    # -- handlers: order book and tickers ------------------------------------------------------

    def _book(
        self, symbol: str, price: float, depth: int
    ) -> tuple[list[list[str]], list[list[str]]]:
        """A deterministic order book: one-tick spread with the bid at or just below ``price``,
        one tick between levels, uneven sizes of at least ``BOOK_LEVEL_NOTIONAL`` per level.
        """
        spec = self._specs[symbol]
        best_bid = math.floor(price / float(spec.tick) + 1e-9)
        lots = max(
            math.ceil(self.BOOK_LEVEL_NOTIONAL / price / float(spec.step)),
            int(spec.min_qty / spec.step),
        )
        bids, asks = [], []
        for i in range(depth):
            qty = str(lots * (1 + (7 * i + 3) % 10) * spec.step)
            if best_bid - i > 0:
                bids.append([str((best_bid - i) * spec.tick), qty])
            asks.append([str((best_bid + 1 + i) * spec.tick), qty])
        return bids, asks

    async def _depth(self, request: web.Request) -> web.Response:
        q = request.query
        symbol = self._symbol(q)
        limit = _int_param(q, "limit", default=500)
        if limit not in DEPTH_LIMITS:
            raise BinanceError(
                400,
                -1130,
                f"Data sent for parameter 'limit' is not valid (one of {list(DEPTH_LIMITS)}).",
            )
        bids, asks = self._book(symbol, self._last_price(symbol, request.path), limit)
        now = self._now_ms()
        return web.json_response(
            {"lastUpdateId": now, "E": now, "T": now, "bids": bids, "asks": asks}
        )

    def _stats_24h(self, symbol: str, path: str) -> dict[str, Any]:
        series = self._store.finest(symbol, "futures")
        cutoff = self.visible_until_ms(path, symbol)
        hi = 0 if series is None else self._rows(series, cutoff, None, None, 1)[1]
        if series is None or hi == 0:  # a listed market without data: as the other price endpoints
            raise BinanceError(
                400, -1000, f"No candles for {symbol} published yet in the offline datadir."
            )
        close_time = int(series.dates[hi - 1]) + series.interval_ms + self.shift_ms
        window = max(1, _DAY_MS // series.interval_ms)
        lo, hi, forming = self._rows(series, cutoff, None, None, window)
        o, h, low, c, v = self._ohlcv(series, lo, hi, forming)
        volume = float(v.sum())
        quote = float((v * c).sum())
        change = float(c[-1] - o[0])
        return {
            "symbol": symbol,
            "priceChange": _fmt(change),
            "priceChangePercent": f"{100 * change / o[0]:.3f}",
            "weightedAvgPrice": _fmt(quote / volume if volume else c[-1]),
            "lastPrice": _fmt(c[-1]),
            "lastQty": str(self._specs[symbol].min_qty),
            "openPrice": _fmt(o[0]),
            "highPrice": _fmt(h.max()),
            "lowPrice": _fmt(low.min()),
            "volume": _fmt(volume),
            "quoteVolume": _fmt(quote),
            "openTime": close_time - _DAY_MS,
            "closeTime": close_time - 1,
            "firstId": 0,
            "lastId": int(quote // 10_000),
            "count": int(quote // 10_000),
        }

    async def _ticker_24hr(self, request: web.Request) -> web.Response:
        stats = [self._stats_24h(s, request.path) for s in self._symbols(request.query)]
        return web.json_response(stats[0] if "symbol" in request.query else stats)

    async def _ticker_price(self, request: web.Request) -> web.Response:
        now = self._now_ms()
        prices = [
            {"symbol": s, "price": _fmt(self._last_price(s, request.path)), "time": now}
            for s in self._symbols(request.query)
        ]
        return web.json_response(prices[0] if "symbol" in request.query else prices)

    async def _book_ticker(self, request: web.Request) -> web.Response:
        now = self._now_ms()
        tickers = []
        for s in self._symbols(request.query):
            bids, asks = self._book(s, self._last_price(s, request.path), 1)
            tickers.append(
                {
                    "symbol": s,
                    "bidPrice": bids[0][0],
                    "bidQty": bids[0][1],
                    "askPrice": asks[0][0],
                    "askQty": asks[0][1],
                    "time": now,
                    "lastUpdateId": now,
                }
            )
        return web.json_response(tickers[0] if "symbol" in request.query else tickers)

    async def _premium_index(self, request: web.Request) -> web.Response:
        now = self._now_ms()
        served_now = self.visible_until_ms(request.path) or now
        next_funding = (served_now // _FUNDING_INTERVAL_MS + 1) * _FUNDING_INTERVAL_MS
        entries = []
        for s in self._symbols(request.query):
            mark = self._last_candle(s, "mark", request.path)
            index = self._last_candle(s, "index", request.path)
            if mark is None or index is None:
                raise BinanceError(
                    400, -1000, f"No candles for {s} published yet in the offline datadir."
                )
            rate = self._last_value(s, "funding_rate", "funding_rate", request.path)
            entries.append(
                {
                    "symbol": s,
                    "markPrice": _fmt(mark[0]),
                    "indexPrice": _fmt(index[0]),
                    "estimatedSettlePrice": _fmt(index[0]),
                    # Without a funding file, Binance's baseline rate (the interest rate, no premium).
                    "lastFundingRate": f"{0.0001 if rate is None else rate:.8f}",
                    "interestRate": "0.00010000",
                    "nextFundingTime": next_funding,
                    "time": now,
                }
            )
        return web.json_response(entries[0] if "symbol" in request.query else entries)

    # -- handlers: admin -----------------------------------------------------------------------

    async def _admin_state(self, request: web.Request) -> web.Response:
        return web.json_response(self.state())

    async def _admin_add_fault(self, request: web.Request) -> web.Response:
        try:
            fault = Fault.from_json(await request.json())
            fault_id = self.add_fault(fault)
        except (ValueError, TypeError) as exc:  # ConfigError is a ValueError; bad JSON too
            raise BinanceError(400, -1130, f"invalid fault: {exc}") from exc
        return web.json_response({"id": fault_id}, status=201)

    async def _admin_clear_faults(self, request: web.Request) -> web.Response:
        return web.json_response({"cleared": self.clear_faults()})


# --------------------------------------------------------------------------------------------
# Running it
# --------------------------------------------------------------------------------------------


#: The venues whose liquidation streams are served under ``/ws/<venue>/``.
_WS_VENUES = ("binance", "bybit", "okx")
#: Contract size (base units) of every OKX swap on the offline exchange (``sz`` is in contracts).
OKX_CONTRACT_SIZE = 0.01

#: A fill to replay: (ts ms, Binance symbol id, side liquidated, price, amount in base units).
_Fill = tuple[int, str, str, float, float]


def _liquidation_rows(fills: pd.DataFrame | None, default: str, known: set[str]) -> list[_Fill]:
    """The fills as replay rows, sorted by time; checks the columns and the pairs."""
    if fills is None:
        return []
    missing = [c for c in ("date", "side", "price", "size_usd") if c not in fills.columns]
    if missing:
        raise InputError(
            f"liquidations lack the columns {missing}; pass fills as load_fills returns them "
            "(date, side, price, size_usd, optionally pair)"
        )
    if "pair" in fills.columns:
        ids = [str(p).split(":")[0].replace("/", "") for p in fills["pair"]]
    else:
        ids = [default] * len(fills)
    unknown = sorted(set(ids) - known)
    if unknown:
        raise InputError(
            f"liquidations of {unknown[:3]} have no candles on the offline exchange; serve a "
            f"datadir with them or drop those rows (traded: {sorted(known)})"
        )
    sides = fills["side"].astype(str).to_numpy()
    if not set(sides) <= {"long", "short"}:
        raise InputError("liquidations' side must be 'long' or 'short' (the position liquidated)")
    ts = epoch_ms(pd.to_datetime(fills["date"], utc=True))
    price = fills["price"].to_numpy(np.float64)
    amount = fills["size_usd"].to_numpy(np.float64) / price
    rows = list(zip(ts.tolist(), ids, sides.tolist(), price.tolist(), amount.tolist(), strict=True))
    return sorted(rows, key=lambda r: r[0])


def _ws_control(venue: str, text: str) -> tuple[str | None, set[str]]:
    """The reply to a client's control message and the symbol ids it subscribes (``*``: all)."""
    if text == "ping":  # OKX's text ping
        return "pong", set()
    try:
        msg = json.loads(text)
    except ValueError:
        return None, set()
    if not isinstance(msg, dict):
        return None, set()
    if venue == "binance" and msg.get("method") == "SUBSCRIBE":
        subs = {
            "*" if p == "!forceOrder@arr" else str(p).split("@")[0].upper()
            for p in msg.get("params", [])
        }
        return json.dumps({"result": None, "id": msg.get("id")}), subs
    if venue == "bybit" and msg.get("op") in ("subscribe", "ping"):
        op = msg["op"]
        reply: dict[str, Any] = {
            "success": True,
            "ret_msg": "pong" if op == "ping" else "",
            "conn_id": "offline",
        }
        reply.update({"req_id": msg.get("req_id"), "op": op})
        subs = {str(a).split(".", 1)[1] for a in msg.get("args") or [] if "." in str(a)}
        return json.dumps(reply), subs
    if venue == "okx" and msg.get("op") == "subscribe":
        args = msg.get("args") or []
        reply = {"event": "subscribe", "arg": args[0] if args else {}, "connId": "offline"}
        return json.dumps(reply), {"*"}
    return None, set()


def _ws_message(venue: str, row: _Fill) -> dict[str, Any]:
    """One fill in ``venue``'s stream format (side conventions in the module docs)."""
    ts, sym, side, price, amount = row
    if venue == "binance":  # the order's side: a SELL closes a long
        qty = repr(amount)
        order: dict[str, Any] = {
            "s": sym,
            "S": "SELL" if side == "long" else "BUY",
            "o": "LIMIT",
            "f": "IOC",
        }
        order.update({"q": qty, "p": repr(price), "ap": repr(price), "X": "FILLED"})
        order.update({"l": qty, "z": qty, "T": ts})
        return {"e": "forceOrder", "E": ts, "o": order}
    if venue == "bybit":  # the position's side: Buy = a long was liquidated
        data = {"T": ts, "s": sym, "S": "Buy" if side == "long" else "Sell", "v": repr(amount)}
        data["p"] = repr(price)
        return {"topic": f"allLiquidation.{sym}", "type": "snapshot", "ts": ts, "data": [data]}
    base, quote = sym[: -len("USDT")], "USDT"
    detail: dict[str, Any] = {"bkLoss": "0", "bkPx": repr(price), "ccy": "", "posSide": side}
    detail.update(
        {"side": "sell" if side == "long" else "buy", "sz": repr(amount / OKX_CONTRACT_SIZE)}
    )
    detail["ts"] = str(ts)
    inst: dict[str, Any] = {
        "instFamily": f"{base}-{quote}",
        "instId": f"{base}-{quote}-SWAP",
        "instType": "SWAP",
    }
    inst.update({"uly": f"{base}-{quote}", "details": [detail]})
    return {"arg": {"channel": "liquidation-orders", "instType": "SWAP"}, "data": [inst]}


def check_loopback_host(host: str) -> str:
    """Return the address to bind for ``host``: 127.0.0.1, the only one allowed.

    Raises:
        ConfigError: ``host`` is anything but ``127.0.0.1`` or ``localhost``.
    """
    if host in (LOOPBACK_HOST, "localhost"):
        return LOOPBACK_HOST
    raise ConfigError(
        f"refusing to listen on {host!r}: the offline exchange binds 127.0.0.1 only, so that "
        "nothing outside this machine can reach it. Use --host 127.0.0.1 (the default)."
    )


def check_port(port: int) -> int:
    """Return ``port`` if it is a TCP port number (0-65535; 0 picks a free one).

    Raises:
        ConfigError: anything else.
    """
    if not (_is_int(port) and 0 <= port <= 65535):
        raise ConfigError(
            f"port {port!r} is not a TCP port; pass 1-65535, or 0 for a free one (--port 0)."
        )
    return int(port)


async def serve(
    server: ExchangeServer,
    *,
    host: str = LOOPBACK_HOST,
    port: int = 0,
    max_seconds: float | None = None,
    stop: asyncio.Event | None = None,
    on_ready: Callable[[str], None] | None = None,
) -> None:
    """Serve ``server`` on ``host:port`` until ``stop`` is set or ``max_seconds`` have passed.

    Args:
        server: the exchange to serve.
        host: must be 127.0.0.1 (or ``localhost``); see :func:`check_loopback_host`.
        port: TCP port; 0 picks a free one.
        max_seconds: shut down by itself after this long; None: only when ``stop`` is set.
        stop: an event that ends serving when set.
        on_ready: called with the base URL (``http://127.0.0.1:<port>``) once it accepts connections.

    A shutdown (``stop``, ``max_seconds``) answers requests held by a ``"delay"`` fault with a 503
    at once and waits at most ``_SHUTDOWN_TIMEOUT_S`` for other requests in flight.

    Raises:
        ConfigError: a non-loopback ``host``, a port outside 0-65535 or already in use, or
            ``max_seconds`` not a finite number > 0.
    """
    bind_host = check_loopback_host(host)
    check_port(port)
    if max_seconds is not None and not 0 < max_seconds < math.inf:
        raise ConfigError(
            f"max_seconds must be a finite number > 0, got {max_seconds!r}; use None for no limit."
        )
    stop = stop or asyncio.Event()
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    runner = web.AppRunner(
        server.app(), access_log=None, handle_signals=False, shutdown_timeout=_SHUTDOWN_TIMEOUT_S
    )
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((bind_host, port))
        except OSError as exc:
            raise ConfigError(
                f"cannot listen on {bind_host} port {port}: {exc.strerror or exc}; pick another "
                "--port, or 0 for a free one."
            ) from exc
        await runner.setup()
        await web.SockSite(runner, sock).start()
        url = f"http://{bind_host}:{sock.getsockname()[1]}"
        logger.info(
            "offline exchange serving %s on %s (%s)",
            ", ".join(sorted(server.state()["traded"])),
            url,
            f"replay x{server.speed:g}" if server.replay else "static",
        )
        if server.replay:
            logger.info("%s", server.replay_summary())
        if on_ready is not None:
            on_ready(url)
        try:
            await asyncio.wait_for(stop.wait(), max_seconds)
        except TimeoutError:
            logger.info("offline exchange: max_seconds (%g s) reached, shutting down", max_seconds)
        else:
            logger.info("offline exchange on %s stopped", url)
    finally:
        await runner.cleanup()
        sock.close()


class RunningExchange:
    """An :class:`ExchangeServer` served on a background thread; see :func:`running_exchange`."""

    def __init__(
        self, server: ExchangeServer, *, port: int = 0, max_seconds: float | None = None
    ) -> None:
        self.server = server
        self.url = ""
        self._port = port
        self._max_seconds = max_seconds
        self._ready = threading.Event()
        self._error: BaseException | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop: asyncio.Event | None = None
        self._thread = threading.Thread(target=self._run, name="offline-exchange", daemon=True)

    @property
    def port(self) -> int:
        """The TCP port the server listens on."""
        return int(self.url.rsplit(":", 1)[1])

    @property
    def admin_token(self) -> str:
        """The ``X-Admin-Token`` value ``/_admin/*`` requests need; see :class:`ExchangeServer`."""
        return self.server.admin_token

    def start(self, timeout: float = 30.0) -> None:
        """Start serving; returns once the server accepts connections.

        Raises:
            ConfigError, OSError: what :func:`serve` raised on startup.
            TimeoutError: not ready within ``timeout`` seconds.
        """
        self._thread.start()
        if not self._ready.wait(timeout):
            raise TimeoutError(f"the offline exchange did not start within {timeout:g} s")
        if self._error is not None:
            raise self._error

    def stop(self, timeout: float = 10.0) -> None:
        """Stop serving and wait for the thread to finish (idempotent)."""
        loop, stop = self._loop, self._stop
        if loop is not None and stop is not None and not loop.is_closed():
            try:
                loop.call_soon_threadsafe(stop.set)
            except RuntimeError:  # the loop closed in between: already stopped
                pass
        self._thread.join(timeout)

    def overlay(self) -> dict[str, Any]:
        """The Freqtrade config fragment pointing at this server (see :mod:`.overlay`)."""
        return exchange_overlay(self.url)

    def write_overlay(self, path: str | Path) -> Path:
        """Write :meth:`overlay` as JSON to ``path``; returns the path."""
        return write_overlay(path, self.url)

    def add_fault(self, fault: Fault) -> int:
        """Inject ``fault`` now; returns its id. See :meth:`ExchangeServer.add_fault`."""
        return self.server.add_fault(fault)

    def clear_faults(self) -> int:
        """Remove all faults; returns how many were active."""
        return self.server.clear_faults()

    def state(self) -> dict[str, Any]:
        """Replay clock, faults and request counts; see :meth:`ExchangeServer.state`."""
        return self.server.state()

    def drop_websockets(self, timeout: float = 10.0) -> int:
        """Close every open websocket now; see :meth:`ExchangeServer.drop_websockets`."""
        if self._loop is None:
            return 0
        future = asyncio.run_coroutine_threadsafe(self.server.drop_websockets(), self._loop)
        return future.result(timeout)

    def _run(self) -> None:
        try:
            asyncio.run(self._main())
        except BaseException as exc:  # reported to start(); the thread must not die silently
            if self._ready.is_set():
                logger.exception("offline exchange thread failed")
            else:
                self._error = exc
        finally:
            self._ready.set()

    async def _main(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._stop = asyncio.Event()

        def ready(url: str) -> None:
            self.url = url
            self._ready.set()

        await serve(
            self.server,
            port=self._port,
            max_seconds=self._max_seconds,
            stop=self._stop,
            on_ready=ready,
        )


@contextlib.contextmanager
def running_exchange(
    datadir: str | Path,
    *,
    replay: bool = False,
    speed: float = 1.0,
    replay_lead: float = 3600.0,
    port: int = 0,
    max_seconds: float | None = 3600.0,
    faults: Iterable[Fault] = (),
    markets_file: str | Path | None = None,
    admin_token: str | None = None,
    liquidations: pd.DataFrame | None = None,
    liquidation_rate: float = 200.0,
) -> Iterator[RunningExchange]:
    """Serve ``datadir`` as an offline Binance USDT-M exchange on 127.0.0.1 for a ``with`` block.

    Example::

        with running_exchange("user_data/data/binance") as ex:
            ex.write_overlay("overlay.json")   # freqtrade ... --config config.json --config overlay.json

    Args: as :class:`ExchangeServer`, plus ``port`` (0: a free one) and ``max_seconds`` (the
    server stops by itself after this long even if the block is still running; None: never).

    Yields:
        The :class:`RunningExchange` (``.url``, ``.port``, ``.admin_token``, ``.overlay()``,
        fault injection).
    """
    server = ExchangeServer(
        datadir,
        replay=replay,
        speed=speed,
        replay_lead=replay_lead,
        faults=faults,
        markets_file=markets_file,
        admin_token=admin_token,
        liquidations=liquidations,
        liquidation_rate=liquidation_rate,
    )
    handle = RunningExchange(server, port=port, max_seconds=max_seconds)
    handle.start()
    try:
        yield handle
    finally:
        handle.stop()
