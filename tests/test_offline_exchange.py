"""The offline Binance USDT-M exchange: endpoint shapes, Binance query semantics, replay, faults,
and real Freqtrade runs (backtesting, analyses, download-data, plot-dataframe, dry-run) against it.

All data is synthetic (a seeded random walk written in Freqtrade's feather layout into tmp dirs).
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.error import URLError

import numpy as np
import pandas as pd
import pytest
from helpers import http_json

from liq_indicator.errors import ConfigError
from liq_indicator.offline import (
    ExchangeServer,
    Fault,
    RunningExchange,
    exchange_overlay,
    running_exchange,
    serve,
)
from liq_indicator.offline.__main__ import main as offline_main
from liq_indicator.offline.overlay import SERVED_APIS, UNSERVED_APIS
from liq_indicator.offline.server import UNKNOWN_PATH

FIXTURES = Path(__file__).parent / "fixtures" / "offline"
BASE_CONFIG = FIXTURES / "config.json"
STRATEGIES = FIXTURES / "strategies"
STRATEGY = "OfflineProbeStrategy"

MINUTE_MS = 60_000
HOUR_MS = 60 * MINUTE_MS
START = pd.Timestamp("2025-01-01", tz="UTC")
SHIPPED = {"BTCUSDT", "ETHUSDT", "SOLUSDT", "BNBUSDT", "XRPUSDT"}


# --------------------------------------------------------------------------------------------
# Synthetic data and helpers
# --------------------------------------------------------------------------------------------


def _write_pair(
    futures_dir: Path,
    pair: str,
    *,
    timeframe: str,
    periods: int,
    price: float,
    decimals: int,
    seed: int,
    funding_layout: str,
) -> None:
    """Write candles, 1h mark, 8-hourly funding and 5m/1h open interest for one pair."""
    rng = np.random.default_rng(seed)
    dates = pd.date_range(START, periods=periods, freq=pd.Timedelta(timeframe.replace("m", "min")))
    close = np.round(price * np.exp(np.cumsum(rng.normal(0, 0.002, periods))), decimals)
    open_ = np.r_[price, close[:-1]]
    wicks = np.round(np.abs(rng.normal(0, price * 0.001, (2, periods))), decimals)
    candles = pd.DataFrame(
        {
            "date": dates,
            "open": open_,
            "high": np.round(np.maximum(open_, close) + wicks[0], decimals),
            "low": np.round(np.minimum(open_, close) - wicks[1], decimals),
            "close": close,
            "volume": np.round(rng.uniform(50, 500, periods), 3),
        }
    )
    candles.to_feather(futures_dir / f"{pair}-{timeframe}-futures.feather")
    hourly = (
        candles.resample("1h", on="date")
        .agg({"open": "first", "high": "max", "low": "min", "close": "last", "volume": "sum"})
        .reset_index()
    )
    hourly.assign(volume=0.0).to_feather(futures_dir / f"{pair}-1h-mark.feather")
    funding = hourly.loc[hourly["date"].dt.hour % 8 == 0, ["date"]].reset_index(drop=True)
    rates = np.round(rng.normal(1e-4, 5e-5, len(funding)), 8)
    if funding_layout == "legacy":  # the rate in "open", as older Freqtrade stores it
        funding = funding.assign(open=rates, high=0.0, low=0.0, close=0.0, volume=0.0)
    else:
        funding = funding.assign(funding_rate=rates)
    funding.to_feather(futures_dir / f"{pair}-1h-funding_rate.feather")
    snaps = candles[candles["date"].dt.minute % 5 == 0].reset_index(drop=True)
    amount = 80_000 + np.cumsum(rng.normal(0, 50, len(snaps)))
    oi = pd.DataFrame(
        {
            "date": snaps["date"],
            "open_interest_amount": amount,
            "open_interest_value": amount * snaps["close"],
        }
    )
    oi.to_feather(futures_dir / f"{pair}-5m-open_interest.feather")
    oi[oi["date"].dt.minute == 0].reset_index(drop=True).to_feather(
        futures_dir / f"{pair}-1h-open_interest.feather"
    )


def _read(datadir: Path, name: str) -> pd.DataFrame:
    return pd.read_feather(datadir / "futures" / name)


def _ms(ts: pd.Timestamp) -> int:
    return int(ts.timestamp() * 1000)


def _request(
    base: str,
    path: str,
    *,
    method: str = "GET",
    body: Any = None,
    headers: dict[str, str] | None = None,
    timeout: float = 10.0,
    **params: Any,
) -> tuple[int, Any]:
    """(HTTP status, decoded JSON body) of one request to the offline exchange (query: ``params``)."""
    data = None if body is None else json.dumps(body).encode()
    return http_json(
        base + path, method=method, data=data, headers=headers, timeout=timeout, params=params
    )


def _admin(ex: RunningExchange, method: str, path: str, body: Any = None) -> tuple[int, Any]:
    """An authorised ``/_admin`` request: the admin token header and a JSON body."""
    headers = {"X-Admin-Token": ex.admin_token, "Content-Type": "application/json"}
    return _request(ex.url, path, method=method, body=body, headers=headers)


class FakeClock:
    """A wall clock that only moves when told to."""

    def __init__(self, t: float) -> None:
        self.t = t

    def __call__(self) -> float:
        return self.t


@pytest.fixture(scope="module")
def datadir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """7 days of 5m BTC (legacy funding layout) and ETH (current funding layout)."""
    root = tmp_path_factory.mktemp("offline") / "data" / "binance"
    futures = root / "futures"
    futures.mkdir(parents=True)
    common = {"timeframe": "5m", "periods": 7 * 288}
    _write_pair(
        futures,
        "BTC_USDT_USDT",
        price=60_000.0,
        decimals=1,
        seed=1,
        funding_layout="legacy",
        **common,
    )
    _write_pair(
        futures,
        "ETH_USDT_USDT",
        price=3_000.0,
        decimals=2,
        seed=2,
        funding_layout="current",
        **common,
    )
    return root


@pytest.fixture(scope="module")
def exchange(datadir: Path) -> Iterator[RunningExchange]:
    with running_exchange(datadir, max_seconds=900) as ex:
        yield ex


# --------------------------------------------------------------------------------------------
# Endpoints
# --------------------------------------------------------------------------------------------


def test_exchange_info_lists_the_shipped_usdt_perpetuals(exchange: RunningExchange) -> None:
    status, info = _request(exchange.url, "/fapi/v1/exchangeInfo")
    assert status == 200
    assert {s["symbol"] for s in info["symbols"]} == SHIPPED
    btc = next(s for s in info["symbols"] if s["symbol"] == "BTCUSDT")
    filters = {f["filterType"]: f for f in btc["filters"]}
    assert (btc["contractType"], btc["marginAsset"], btc["status"]) == (
        "PERPETUAL",
        "USDT",
        "TRADING",
    )
    assert filters["PRICE_FILTER"]["tickSize"] == "0.10"
    assert filters["LOT_SIZE"]["stepSize"] == "0.001"
    assert filters["MIN_NOTIONAL"]["notional"] == "100"
    assert abs(info["serverTime"] - time.time() * 1000) < 60_000


def test_klines_from_start_time_respect_limit_and_match_the_file(
    exchange: RunningExchange, datadir: Path
) -> None:
    src = _read(datadir, "BTC_USDT_USDT-5m-futures.feather")
    start = _ms(src["date"][10])
    status, rows = _request(
        exchange.url,
        "/fapi/v1/klines",
        symbol="BTCUSDT",
        interval="5m",
        startTime=start - 1,
        limit=7,
    )
    assert status == 200
    assert [r[0] for r in rows] == [start + i * 5 * MINUTE_MS for i in range(7)]
    assert all(len(r) == 12 and r[6] == r[0] + 5 * MINUTE_MS - 1 for r in rows)
    values = np.array([[float(x) for x in r[1:6]] for r in rows])
    expected = src.loc[10:16, ["open", "high", "low", "close", "volume"]].to_numpy()
    np.testing.assert_array_equal(values, expected)


def test_klines_without_start_are_the_latest_up_to_end_time(
    exchange: RunningExchange, datadir: Path
) -> None:
    src = _read(datadir, "BTC_USDT_USDT-5m-futures.feather")
    _, latest = _request(exchange.url, "/fapi/v1/klines", symbol="BTCUSDT", interval="5m")
    assert len(latest) == 500 and latest[-1][0] == _ms(src["date"].iloc[-1])
    end = _ms(src["date"][100])
    _, rows = _request(
        exchange.url, "/fapi/v1/klines", symbol="BTCUSDT", interval="5m", endTime=end, limit=3
    )
    assert [r[0] for r in rows] == [_ms(src["date"][i]) for i in (98, 99, 100)]
    _, window = _request(
        exchange.url,
        "/fapi/v1/klines",
        symbol="BTCUSDT",
        interval="5m",
        startTime=_ms(src["date"][5]),
        endTime=_ms(src["date"][8]),
    )
    assert len(window) == 4
    _, future = _request(
        exchange.url, "/fapi/v1/klines", symbol="BTCUSDT", interval="5m", startTime=end * 2
    )
    assert future == []


def test_coarser_klines_are_aggregated_from_the_finer_file(
    exchange: RunningExchange, datadir: Path
) -> None:
    src = _read(datadir, "BTC_USDT_USDT-5m-futures.feather")
    hourly = src.resample("1h", on="date").agg(
        {"open": "first", "high": "max", "low": "min", "close": "last", "volume": "sum"}
    )
    _, rows = _request(
        exchange.url, "/fapi/v1/klines", symbol="BTCUSDT", interval="1h", startTime=0, limit=24
    )
    assert [r[0] for r in rows] == [_ms(d) for d in hourly.index[:24]]
    got = np.array([[float(x) for x in r[1:6]] for r in rows])
    np.testing.assert_allclose(got, hourly.iloc[:24].to_numpy(), rtol=1e-12)


def test_mark_klines_come_from_the_mark_file(exchange: RunningExchange, datadir: Path) -> None:
    mark = _read(datadir, "BTC_USDT_USDT-1h-mark.feather")
    _, rows = _request(
        exchange.url, "/fapi/v1/markPriceKlines", symbol="BTCUSDT", interval="1h", limit=2
    )
    assert [float(r[4]) for r in rows] == mark["close"].iloc[-2:].tolist()
    assert all(r[5] == "0" for r in rows)


@pytest.mark.parametrize(
    ("symbol", "pair"), [("BTCUSDT", "BTC_USDT_USDT"), ("ETHUSDT", "ETH_USDT_USDT")]
)
def test_funding_rate_history_reads_both_file_layouts(
    exchange: RunningExchange, datadir: Path, symbol: str, pair: str
) -> None:
    src = _read(datadir, f"{pair}-1h-funding_rate.feather")
    rates = src["open" if "open" in src.columns else "funding_rate"]
    status, rows = _request(
        exchange.url, "/fapi/v1/fundingRate", symbol=symbol, startTime=0, limit=5
    )
    assert status == 200
    assert [r["fundingTime"] for r in rows] == [_ms(d) for d in src["date"][:5]]
    assert [float(r["fundingRate"]) for r in rows] == pytest.approx(rates[:5].tolist(), abs=5e-9)
    assert set(rows[0]) == {"symbol", "fundingTime", "fundingRate", "markPrice"}


@pytest.mark.parametrize(
    ("period", "step_ms"), [("5m", 5 * MINUTE_MS), ("15m", 15 * MINUTE_MS), ("1h", HOUR_MS)]
)
def test_open_interest_history_serves_each_period(
    exchange: RunningExchange, datadir: Path, period: str, step_ms: int
) -> None:
    src = _read(datadir, "BTC_USDT_USDT-5m-open_interest.feather").set_index("date")
    status, rows = _request(
        exchange.url, "/futures/data/openInterestHist", symbol="BTCUSDT", period=period, limit=4
    )
    assert status == 200 and len(rows) == 4
    stamps = [r["timestamp"] for r in rows]
    assert all(t % step_ms == 0 for t in stamps) and np.all(np.diff(stamps) == step_ms)
    expected = src.loc[pd.to_datetime(stamps, unit="ms", utc=True), "open_interest_amount"]
    assert [float(r["sumOpenInterest"]) for r in rows] == expected.tolist()


def test_order_book_surrounds_the_last_close(exchange: RunningExchange, datadir: Path) -> None:
    last_close = _read(datadir, "BTC_USDT_USDT-5m-futures.feather")["close"].iloc[-1]
    status, book = _request(exchange.url, "/fapi/v1/depth", symbol="BTCUSDT", limit=5)
    assert status == 200
    bids = [float(p) for p, _ in book["bids"]]
    asks = [float(p) for p, _ in book["asks"]]
    assert len(bids) == len(asks) == 5
    assert bids == sorted(bids, reverse=True) and asks == sorted(asks)
    assert bids[0] <= last_close < asks[0] and asks[0] - bids[0] == pytest.approx(0.1)
    assert all(float(q) >= 0.001 for _, q in book["bids"] + book["asks"])
    assert _request(exchange.url, "/fapi/v1/depth", symbol="BTCUSDT", limit=7)[1]["code"] == -1130


def test_tickers_describe_the_last_day(exchange: RunningExchange, datadir: Path) -> None:
    src = _read(datadir, "BTC_USDT_USDT-5m-futures.feather").iloc[-288:]
    _, day = _request(exchange.url, "/fapi/v1/ticker/24hr", symbol="BTCUSDT")
    assert float(day["lastPrice"]) == src["close"].iloc[-1]
    assert float(day["openPrice"]) == src["open"].iloc[0]
    assert (
        float(day["highPrice"]) == src["high"].max() and float(day["lowPrice"]) == src["low"].min()
    )
    assert float(day["volume"]) == pytest.approx(src["volume"].sum())
    _, every = _request(exchange.url, "/fapi/v1/ticker/24hr")
    assert {t["symbol"] for t in every} == {"BTCUSDT", "ETHUSDT"}  # the markets with data
    _, book = _request(exchange.url, "/fapi/v1/ticker/bookTicker", symbol="BTCUSDT")
    assert float(book["bidPrice"]) < float(book["askPrice"])
    _, price = _request(exchange.url, "/fapi/v1/ticker/price", symbol="ETHUSDT")
    assert set(price) == {"symbol", "price", "time"}
    _, premium = _request(exchange.url, "/fapi/v1/premiumIndex", symbol="BTCUSDT")
    assert premium["nextFundingTime"] % (8 * HOUR_MS) == 0
    assert {"markPrice", "indexPrice", "lastFundingRate", "interestRate"} <= set(premium)
    assert _request(exchange.url, "/fapi/v1/ping") == (200, {})
    assert "openInterest" in _request(exchange.url, "/fapi/v1/openInterest", symbol="BTCUSDT")[1]


@pytest.mark.parametrize(
    ("path", "params", "status", "code"),
    [
        ("/fapi/v1/nope", {}, 404, -5000),
        ("/fapi/v1/klines", {"interval": "5m"}, 400, -1102),
        ("/fapi/v1/klines", {"symbol": "DOGEUSDT", "interval": "5m"}, 400, -1121),
        ("/fapi/v1/klines", {"symbol": "BTCUSDT", "interval": "1w"}, 400, -1120),
        ("/fapi/v1/klines", {"symbol": "BTCUSDT", "interval": "5m", "limit": 1501}, 400, -1130),
        ("/fapi/v1/klines", {"symbol": "BTCUSDT", "interval": "5m", "limit": "x"}, 400, -1100),
        (
            "/fapi/v1/klines",
            {"symbol": "BTCUSDT", "interval": "5m", "startTime": 2, "endTime": 1},
            400,
            -1023,
        ),
        ("/unsupported/public/time", {}, 404, -5000),
        ("/fapi/v1/order", {"symbol": "BTCUSDT", "signature": "ab"}, 401, -2015),
    ],
)
def test_errors_are_binance_style_4xx_and_counted(
    exchange: RunningExchange, path: str, params: dict[str, Any], status: int, code: int
) -> None:
    # Paths the server does not serve are counted under one key (bounded memory).
    key = path if path == "/fapi/v1/klines" else UNKNOWN_PATH
    errors_before = exchange.state()["errors"].get(key, 0)
    got_status, body = _request(exchange.url, path, **params)
    assert (got_status, body["code"]) == (status, code)
    assert isinstance(body["msg"], str) and body["msg"]
    assert exchange.state()["errors"][key] == errors_before + 1


def test_ccxt_binance_client_works_through_the_overlay(exchange: RunningExchange) -> None:
    import ccxt

    ccxt_config = exchange.overlay()["exchange"]["ccxt_config"]
    options = {**ccxt_config["options"], "defaultType": "swap"}  # what Freqtrade sets for futures
    api = ccxt.binance({**ccxt_config, "options": options})
    markets = api.load_markets()
    assert set(markets) == {f"{s[:-4]}/USDT:USDT" for s in SHIPPED}
    assert markets["BTC/USDT:USDT"]["precision"] == {
        "amount": 0.001,
        "price": 0.1,
        "base": 1e-08,
        "quote": 1e-08,
    }
    assert abs(api.fetch_time() - time.time() * 1000) < 60_000
    candles = api.fetch_ohlcv("BTC/USDT:USDT", "5m", since=_ms(START), limit=3)
    assert [c[0] for c in candles] == [_ms(START) + i * 5 * MINUTE_MS for i in range(3)]
    assert len(api.fetch_ohlcv("BTC/USDT:USDT", "1h", limit=5, params={"price": "mark"})) == 5
    book = api.fetch_order_book("BTC/USDT:USDT", 5)
    assert book["bids"][0][0] < book["asks"][0][0]
    assert api.fetch_ticker("BTC/USDT:USDT")["last"] > 0
    assert len(api.fetch_funding_rate_history("BTC/USDT:USDT", since=_ms(START), limit=3)) == 3
    oi = api.fetch_open_interest_history("BTC/USDT:USDT", "1h", since=_ms(START), limit=3)
    assert [o["timestamp"] for o in oi] == [_ms(START) + i * HOUR_MS for i in range(3)]


def test_overlay_routes_every_ccxt_binance_api_to_loopback() -> None:
    import ccxt

    families = set(ccxt.binance().urls["api"])
    assert families == set(SERVED_APIS) | set(UNSERVED_APIS)
    urls = exchange_overlay("http://127.0.0.1:9")["exchange"]["ccxt_config"]["urls"]["api"]
    assert all(u.startswith("http://127.0.0.1:9/") for u in urls.values())
    with pytest.raises(ConfigError, match="loopback"):
        exchange_overlay("https://fapi.binance.com")


# --------------------------------------------------------------------------------------------
# Loopback only, the CLI and auto shutdown
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("host", ["0.0.0.0", "192.168.1.10", "::", "example.com"])
def test_non_loopback_host_is_refused(datadir: Path, host: str) -> None:
    server = ExchangeServer(datadir)
    with pytest.raises(ConfigError, match="127.0.0.1 only"):
        asyncio.run(serve(server, host=host, max_seconds=1))


def test_server_is_unreachable_from_other_interfaces(exchange: RunningExchange) -> None:
    probe = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        probe.connect(("10.255.255.255", 1))  # UDP: picks the outgoing interface, sends nothing
        address = probe.getsockname()[0]
    except OSError:
        address = "127.0.0.1"
    finally:
        probe.close()
    if address.startswith("127."):
        pytest.skip("this machine has no non-loopback IPv4 interface to probe from")
    assert exchange.url.startswith("http://127.0.0.1:")
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection((address, exchange.port), timeout=5).close()


def test_cli_refuses_non_loopback_host(datadir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert offline_main(["--datadir", str(datadir), "--host", "0.0.0.0"]) == 2
    assert "refusing to listen on '0.0.0.0'" in capsys.readouterr().err


def test_cli_serves_writes_the_overlay_and_stops_by_itself(datadir: Path, tmp_path: Path) -> None:
    overlay = tmp_path / "offline.json"
    cmd = [sys.executable, "-m", "liq_indicator.offline", "--datadir", str(datadir)]
    proc = subprocess.Popen(
        [*cmd, "--overlay", str(overlay), "--max-seconds", "3"],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        deadline = time.monotonic() + 30
        while not overlay.exists() and proc.poll() is None and time.monotonic() < deadline:
            time.sleep(0.1)
        base = json.loads(overlay.read_text())["exchange"]["ccxt_config"]["urls"]["api"][
            "fapiPublic"
        ]
        assert re.fullmatch(r"http://127\.0\.0\.1:\d+/fapi/v1", base)
        assert _request(base.removesuffix("/fapi/v1"), "/fapi/v1/ping") == (200, {})
        output, _ = proc.communicate(timeout=30)
    finally:
        proc.kill()
    assert proc.returncode == 0
    assert "offline exchange listening on http://127.0.0.1:" in output
    assert re.search(r"^admin token: [A-Za-z0-9_-]{16,}$", output, re.M)
    assert "max_seconds (3 s) reached" in output


def test_datadir_without_futures_candles_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="not a directory"):
        ExchangeServer(tmp_path)
    (tmp_path / "futures").mkdir()
    with pytest.raises(ConfigError, match="no futures candles"):
        ExchangeServer(tmp_path)


# --------------------------------------------------------------------------------------------
# Replay
# --------------------------------------------------------------------------------------------


def test_replay_publishes_candles_as_the_clock_advances(datadir: Path) -> None:
    src = _read(datadir, "BTC_USDT_USDT-5m-futures.feather")
    clock = FakeClock(1_800_000_123.4)
    server = ExchangeServer(datadir, replay=True, replay_lead=3600, clock=clock)
    assert server.shift_ms % (8 * HOUR_MS) == 0
    data_end = _ms(src["date"].iloc[-1]) + 5 * MINUTE_MS + server.shift_ms
    assert 3600_000 <= data_end - clock.t * 1000 < 3600_000 + 8 * HOUR_MS
    ex = RunningExchange(server)
    ex.start()
    try:
        params = {"symbol": "BTCUSDT", "interval": "5m", "limit": 3}
        _, rows = _request(ex.url, "/fapi/v1/klines", **params)
        now = clock.t * 1000
        forming, closed = rows[-1], rows[-2]
        assert forming[0] <= now < forming[0] + 5 * MINUTE_MS and closed[6] < now
        # The forming candle is one that has just opened: flat at its open, no volume.
        assert forming[1] == forming[2] == forming[3] == forming[4] and forming[5] == "0"
        i = int(
            np.searchsorted(
                src["date"], pd.Timestamp(closed[0] - server.shift_ms, unit="ms", tz="UTC")
            )
        )
        assert float(closed[4]) == src["close"][i]
        clock.t += 300
        _, later = _request(ex.url, "/fapi/v1/klines", **params)
        assert later[-1][0] == forming[0] + 5 * MINUTE_MS
        assert (
            float(later[-2][4]) == src["close"][i + 1]
        )  # the formerly forming candle, now complete
        _, funding = _request(ex.url, "/fapi/v1/fundingRate", symbol="BTCUSDT")
        assert funding[-1]["fundingTime"] <= clock.t * 1000
        _, book = _request(ex.url, "/fapi/v1/depth", symbol="BTCUSDT", limit=5)
        assert float(book["bids"][0][0]) <= float(later[-1][1]) < float(book["asks"][0][0])
    finally:
        ex.stop()


def test_replay_speed_publishes_faster_than_the_wall_clock(datadir: Path) -> None:
    clock = FakeClock(1_800_000_000.0)
    server = ExchangeServer(datadir, replay=True, speed=60, clock=clock)
    before = server.visible_until_ms()
    clock.t += 5
    assert server.visible_until_ms() - before == 300_000


def test_replay_lead_longer_than_the_data_is_refused(datadir: Path) -> None:
    with pytest.raises(ConfigError, match="replay needs more data"):
        ExchangeServer(datadir, replay=True, replay_lead=7 * 86_400)


# --------------------------------------------------------------------------------------------
# Failure injection
# --------------------------------------------------------------------------------------------


def test_error_fault_fails_matching_requests_count_times(datadir: Path) -> None:
    fault = Fault("error", path="/fapi/v1/klines", status=503, count=2)
    with running_exchange(datadir, faults=[fault]) as ex:
        params = {"symbol": "BTCUSDT", "interval": "5m", "limit": 1}
        answers = [_request(ex.url, "/fapi/v1/klines", **params) for _ in range(3)]
        assert [status for status, _ in answers] == [503, 503, 200]
        assert answers[0][1]["code"] == -1001
        assert _request(ex.url, "/fapi/v1/time")[0] == 200  # other paths are unaffected
        assert ex.state()["faults"] == []  # used up


def test_admin_endpoint_injects_and_clears_faults(datadir: Path) -> None:
    with running_exchange(datadir) as ex:
        status, created = _admin(
            ex, "POST", "/_admin/faults", {"kind": "error", "status": 429, "symbol": "ETHUSDT"}
        )
        assert status == 201 and created["id"] >= 1
        eth = _request(ex.url, "/fapi/v1/ticker/price", symbol="ETHUSDT")
        assert (eth[0], eth[1]["code"]) == (429, -1003)
        assert _request(ex.url, "/fapi/v1/ticker/price", symbol="BTCUSDT")[0] == 200
        assert _admin(ex, "GET", "/_admin/state")[1]["faults"][0]["symbol"] == "ETHUSDT"
        assert _admin(ex, "DELETE", "/_admin/faults") == (200, {"cleared": 1})
        assert _request(ex.url, "/fapi/v1/ticker/price", symbol="ETHUSDT")[0] == 200
        for bad in (
            {"kind": "meteor"},
            {"kind": "error", "colour": "red"},
            {"kind": "error", "status": 200},
            [1],
        ):
            assert _admin(ex, "POST", "/_admin/faults", bad)[0] == 400


def test_delay_fault_makes_clients_time_out(datadir: Path) -> None:
    with running_exchange(datadir, faults=[Fault("delay", delay=1.0, count=2)]) as ex:
        with pytest.raises((TimeoutError, URLError)):
            _request(ex.url, "/fapi/v1/time", timeout=0.3)
        started = time.monotonic()
        assert _request(ex.url, "/fapi/v1/time")[0] == 200
        assert time.monotonic() - started >= 1.0  # the fault's own delay: a lower bound
        assert ex.state()["faults"] == []  # both uses spent: later requests are not delayed


def test_drop_open_interest_fault_empties_the_feed(datadir: Path) -> None:
    with running_exchange(datadir, faults=[Fault("drop_open_interest")]) as ex:
        params = {"symbol": "BTCUSDT", "period": "5m", "limit": 3}
        assert _request(ex.url, "/futures/data/openInterestHist", **params) == (200, [])
        ex.clear_faults()
        assert len(_request(ex.url, "/futures/data/openInterestHist", **params)[1]) == 3


def test_stall_fault_withholds_candles_then_releases_the_backlog(datadir: Path) -> None:
    clock = FakeClock(1_800_000_000.0)
    server = ExchangeServer(datadir, replay=True, clock=clock)
    ex = RunningExchange(server)
    ex.start()
    try:
        params = {"symbol": "BTCUSDT", "interval": "5m", "limit": 2}
        first = _request(ex.url, "/fapi/v1/klines", **params)[1][-1][0]
        ex.add_fault(Fault("stall_candles", seconds=900))
        clock.t += 600
        assert _request(ex.url, "/fapi/v1/klines", **params)[1][-1][0] == first
        clock.t += 600
        assert _request(ex.url, "/fapi/v1/klines", **params)[1][-1][0] == first + 20 * MINUTE_MS
    finally:
        ex.stop()
    with pytest.raises(ConfigError, match="needs replay mode"):
        ExchangeServer(datadir).add_fault(Fault("stall_candles"))


# --------------------------------------------------------------------------------------------
# Freqtrade against the offline exchange
# --------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def freqtrade_args(
    exchange: RunningExchange, datadir: Path, tmp_path_factory: pytest.TempPathFactory
) -> list[str]:
    """The config/userdir/datadir/strategy arguments shared by the Freqtrade commands."""
    root = tmp_path_factory.mktemp("freqtrade")
    (root / "user_data").mkdir()
    overlay = exchange.write_overlay(root / "offline.json")
    return [
        "--config", str(BASE_CONFIG), "--config", str(overlay),
        "--userdir", str(root / "user_data"), "--datadir", str(datadir),
    ]  # fmt: skip


#: Freqtrade logs through rich, which wraps lines at 80 columns when not on a terminal.
FREQTRADE_ENV = {**os.environ, "COLUMNS": "500"}


def _freqtrade(*args: str, cwd: Path, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(
        [sys.executable, "-m", "freqtrade", *args],
        cwd=cwd,
        env=FREQTRADE_ENV,
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    assert result.returncode == 0, (
        f"freqtrade {args[0]} failed:\n{result.stdout[-3000:]}\n{result.stderr[-5000:]}"
    )
    return result


STRATEGY_ARGS = ["--strategy", STRATEGY, "--strategy-path", str(STRATEGIES)]


@pytest.mark.slow
def test_freqtrade_backtesting_runs_offline_and_exports(
    exchange: RunningExchange, freqtrade_args: list[str], tmp_path: Path
) -> None:
    markets_loaded = exchange.state()["requests"].get("/fapi/v1/exchangeInfo", 0)
    _freqtrade(
        "backtesting", *freqtrade_args, *STRATEGY_ARGS,
        "--timerange", "20250102-20250107", "--export", "trades", "--cache", "none",
        "--backtest-directory", str(tmp_path), cwd=tmp_path,
    )  # fmt: skip
    assert list(tmp_path.glob("backtest-result-*.zip"))
    assert exchange.state()["requests"]["/fapi/v1/exchangeInfo"] > markets_loaded


@pytest.mark.slow
def test_freqtrade_lookahead_analysis_runs_offline(
    freqtrade_args: list[str], tmp_path: Path
) -> None:
    result = _freqtrade(
        "lookahead-analysis", *freqtrade_args, *STRATEGY_ARGS,
        "--timerange", "20250102-20250105", "--minimum-trade-amount", "1", "--targeted-trade-amount", "3",
        cwd=tmp_path,
    )  # fmt: skip
    assert "Lookahead Analysis" in result.stdout + result.stderr


@pytest.mark.slow
def test_freqtrade_recursive_analysis_runs_offline(
    freqtrade_args: list[str], tmp_path: Path
) -> None:
    result = _freqtrade(
        "recursive-analysis", *freqtrade_args, *STRATEGY_ARGS,
        "--timerange", "20250103-20250105", "--startup-candle", "20", "100",
        cwd=tmp_path,
    )  # fmt: skip
    assert "Start checking for recursive bias" in result.stdout + result.stderr


@pytest.mark.slow
def test_freqtrade_plot_dataframe_runs_offline(freqtrade_args: list[str], tmp_path: Path) -> None:
    result = _freqtrade(
        "plot-dataframe", *freqtrade_args, *STRATEGY_ARGS,
        "--timerange", "20250103-20250104", "--no-trades",
        cwd=tmp_path,
    )  # fmt: skip
    assert "1 plots generated" in result.stdout + result.stderr


@pytest.mark.slow
def test_freqtrade_download_data_round_trips_the_datadir(
    exchange: RunningExchange, datadir: Path, tmp_path: Path
) -> None:
    (tmp_path / "user_data").mkdir()
    overlay = exchange.write_overlay(tmp_path / "offline.json")
    target = tmp_path / "downloaded" / "binance"
    _freqtrade(
        "download-data", "--config", str(BASE_CONFIG), "--config", str(overlay),
        "--userdir", str(tmp_path / "user_data"), "--datadir", str(target),
        "--pairs", "BTC/USDT:USDT", "--timeframes", "5m", "--timerange", "20250103-20250105",
        "--candle-types", "futures", "funding_rate", "open_interest",
        cwd=tmp_path,
    )  # fmt: skip
    for name, columns in [
        ("BTC_USDT_USDT-5m-futures.feather", ["open", "high", "low", "close", "volume"]),
        ("BTC_USDT_USDT-5m-open_interest.feather", ["open_interest_amount", "open_interest_value"]),
    ]:
        got = _read(target, name)
        want = _read(datadir, name).set_index("date").loc[got["date"], columns]
        assert len(got) >= 576  # two days of 5m rows
        np.testing.assert_allclose(got[columns].to_numpy(), want.to_numpy(), rtol=1e-12)
    funding = _read(target, "BTC_USDT_USDT-1h-funding_rate.feather")
    src = _read(datadir, "BTC_USDT_USDT-1h-funding_rate.feather").set_index("date")
    np.testing.assert_allclose(funding["funding_rate"], src.loc[funding["date"], "open"], atol=5e-9)


@pytest.mark.slow
def test_freqtrade_dry_run_trades_on_replayed_candles(tmp_path: Path) -> None:
    datadir = tmp_path / "data" / "binance"
    (datadir / "futures").mkdir(parents=True)
    _write_pair(
        datadir / "futures", "BTC_USDT_USDT",
        timeframe="1m", periods=1440, price=60_000.0, decimals=1, seed=3, funding_layout="current",
    )  # fmt: skip
    (tmp_path / "user_data").mkdir()
    dry_config = tmp_path / "dry.json"
    dry_config.write_text(
        json.dumps(
            {
                "timeframe": "1m",
                "offline_probe": {"always_enter": True},
                "entry_pricing": {"price_side": "other"},  # a limit order at the ask fills at once
                "exit_pricing": {"price_side": "other"},
            }
        )
    )
    log = tmp_path / "freqtrade.log"
    analysed = re.compile(r"offline-probe analysed BTC/USDT:USDT up to candle (\S+)")
    with running_exchange(datadir, replay=True, max_seconds=300) as ex:
        overlay = ex.write_overlay(tmp_path / "offline.json")
        with log.open("w") as sink:
            proc = subprocess.Popen(
                [
                    sys.executable, "-m", "freqtrade", "trade", "--dry-run",
                    "--config", str(BASE_CONFIG), "--config", str(overlay), "--config", str(dry_config),
                    *STRATEGY_ARGS, "--userdir", str(tmp_path / "user_data"), "--datadir", str(datadir),
                    "--db-url", f"sqlite:///{tmp_path / 'dry.sqlite'}",
                ],
                cwd=tmp_path, env=FREQTRADE_ENV, stdout=sink, stderr=subprocess.STDOUT,
            )  # fmt: skip
            try:
                # A new 1m candle is published at the next minute boundary: <= 60 s after startup.
                deadline = time.monotonic() + 90
                while proc.poll() is None and time.monotonic() < deadline:
                    if len(set(analysed.findall(log.read_text()))) >= 2:
                        break
                    time.sleep(0.5)
                # SIGTERM, not SIGINT: SIGINT is ignored under nohup and on some CI runners.
                proc.send_signal(signal.SIGTERM)
                returncode = proc.wait(timeout=30)
            finally:
                proc.kill()
        state = ex.state()
    output = log.read_text()
    candles = sorted({pd.Timestamp(c) for c in analysed.findall(output)})
    assert len(candles) >= 2, f"no new candle was processed:\n{output[-4000:]}"
    assert candles[1] - candles[0] == pd.Timedelta(minutes=1)
    assert "Long signal found" in output and "LIMIT_BUY has been fulfilled" in output
    # A clean stop: Freqtrade's `trade` turns SIGTERM into a KeyboardInterrupt (commands/
    # trade_commands.py), so the worker exits and cleans up, and main() logs "SIGINT received"
    # and exits 130 by design.
    assert "worker found ... calling exit" in output and "Cleaning up modules" in output
    assert "SIGINT received" in output and returncode == 130
    assert {"/fapi/v1/exchangeInfo", "/fapi/v1/time", "/fapi/v1/klines", "/fapi/v1/depth"} <= set(
        state["requests"]
    )
    assert state["errors"] == {}


# --------------------------------------------------------------------------------------------
# The live log of a dry run: one line per computed candle per pair


def test_the_live_log_confirms_each_candle_once_per_pair(caplog: pytest.LogCaptureFixture) -> None:
    import logging

    from liq_indicator.strategy.glue import AlertLimiter, CandleLog
    from liq_indicator.strategy.signals import SignalParams

    dates = pd.date_range("2026-01-01", periods=3, freq="5min", tz="UTC")
    frame = pd.DataFrame(
        {
            "date": dates,
            "close": [60_000.0, 60_100.0, 60_200.0],
            "liq_long_cluster_price": [58_000.0] * 3,
            "liq_long_cluster_dist_pct": [-3.65] * 3,
            "liq_long_cluster_usd": [12.3e6] * 3,
            "liq_short_cluster_price": [np.nan] * 3,
            "liq_swept_long_usd": [0.0, 0.0, 2.5e6],
            "liq_swept_short_usd": [0.0] * 3,
            "liq_oi_mode": [1.0] * 3,
        }
    )
    log = CandleLog()
    with caplog.at_level(logging.INFO, logger="liq_indicator.strategy.glue"):
        first = log("BTC/USDT:USDT", frame.iloc[:2])
        assert log("BTC/USDT:USDT", frame.iloc[:2]) is None  # the same candle analysed again
        assert log("ETH/USDT:USDT", frame.iloc[:2]) is not None  # per pair
        third = log("BTC/USDT:USDT", frame)
        assert log("BTC/USDT:USDT", frame.iloc[:1]) is None  # an older candle is not news
        volume = log("SOL/USDT:USDT", frame.drop(columns="liq_oi_mode").assign(oi_value=np.nan))
    lines = [r.getMessage() for r in caplog.records]
    assert lines == [first, lines[1], third, volume] and len(lines) == 4
    assert first == (
        "BTC/USDT:USDT: liquidation map at 2026-01-01 00:05 (open-interest inflow): close "
        "60,100.00; long cluster 58,000.00 (-3.65%, 12.3M USD); no short cluster; swept "
        "long/short 0/0 USD"
    )
    assert "at 2026-01-01 00:10" in third and "swept long/short 2.5M/0 USD" in third
    assert volume is not None and "(volume inflow)" in volume

    class LiveDp:
        runmode = "dry_run"

    class BacktestDp:
        runmode = "backtest"

    limiter = AlertLimiter()
    with caplog.at_level(logging.INFO, logger="liq_indicator.strategy.glue"):
        caplog.clear()
        limiter.check(BacktestDp(), "BTC/USDT:USDT", frame, SignalParams())
        assert caplog.records == []  # backtests do not log every candle
        limiter.check(LiveDp(), "BTC/USDT:USDT", frame.iloc[:1], SignalParams())
    assert [r.getMessage()[:40] for r in caplog.records] == [first[:40]]
