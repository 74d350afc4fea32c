"""The offline exchange under hostile or broken input: admin access from web pages (token,
content type, DNS rebinding), fault fields out of range, random paths, markets without data,
shutdown with requests in flight, unreadable data files and unusable ports.

All data is synthetic (``conftest.make_candles`` written in Freqtrade's feather layout).
"""

from __future__ import annotations

import asyncio
import json
import logging
import math
import re
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor, wait
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient, TestServer
from conftest import make_candles
from helpers import http_json as _request

from liq_indicator.cli import main as cli_main
from liq_indicator.errors import ConfigError, InputError
from liq_indicator.offline import ExchangeServer, Fault, RunningExchange, running_exchange, serve
from liq_indicator.offline.__main__ import main as offline_main
from liq_indicator.offline.server import MAX_FAULT_DELAY_S, UNKNOWN_PATH

TOKEN = "test-admin-token-0123456789"
FUTURES_5M = "{pair}-5m-futures.feather"


def _admin_headers(token: str = TOKEN) -> dict[str, str]:
    return {"X-Admin-Token": token, "Content-Type": "application/json"}


def _write_futures(futures: Path, pair: str, seed: int) -> None:
    make_candles(600, seed=seed, start="2025-01-01").to_feather(
        futures / FUTURES_5M.format(pair=pair)
    )


@pytest.fixture(scope="module")
def datadir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Two days of 5m BTC and ETH candles; SOL, BNB and XRP are listed but have no data."""
    root = tmp_path_factory.mktemp("robust") / "binance"
    (root / "futures").mkdir(parents=True)
    _write_futures(root / "futures", "BTC_USDT_USDT", seed=1)
    _write_futures(root / "futures", "ETH_USDT_USDT", seed=2)
    return root


@pytest.fixture(scope="module")
def exchange(datadir: Path) -> Iterator[RunningExchange]:
    with running_exchange(datadir, max_seconds=600, admin_token=TOKEN) as ex:
        yield ex


@pytest.fixture(autouse=True)
def _no_faults_left(request: pytest.FixtureRequest) -> Iterator[None]:
    yield
    if "exchange" in request.fixturenames:
        request.getfixturevalue("exchange").clear_faults()


# --------------------------------------------------------------------------------------------
# Admin access: token, content type, Host header
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("method", "path"),
    [("GET", "/_admin/state"), ("POST", "/_admin/faults"), ("DELETE", "/_admin/faults")],
)
@pytest.mark.parametrize("token", [None, "wrong", TOKEN[:-1], TOKEN + "x", "é"])
def test_admin_requests_without_the_right_token_are_forbidden(
    exchange: RunningExchange, method: str, path: str, token: str | None
) -> None:
    exchange.add_fault(Fault("error", path="/fapi/v1/depth"))
    headers = {"Content-Type": "application/json"}
    if token is not None:
        headers["X-Admin-Token"] = token.encode().decode("latin-1")  # raw bytes on the wire
    body = json.dumps({"kind": "error"}).encode() if method == "POST" else None
    status, answer = _request(exchange.url + path, method=method, data=body, headers=headers)
    assert status == 403 and "X-Admin-Token" in answer["msg"]
    assert [f["path"] for f in exchange.state()["faults"]] == ["/fapi/v1/depth"]  # untouched


def test_a_cross_origin_form_post_cannot_inject_a_fault(exchange: RunningExchange) -> None:
    """What a web page may send without a CORS preflight: text/plain, no custom header."""
    body = json.dumps({"kind": "delay", "delay": 100}).encode()
    page = {"Content-Type": "text/plain", "Origin": "http://evil.example"}
    assert (
        _request(exchange.url + "/_admin/faults", method="POST", data=body, headers=page)[0] == 403
    )
    # Even with the token, a body that is not declared JSON is refused.
    status, answer = _request(
        exchange.url + "/_admin/faults",
        method="POST",
        data=body,
        headers={**_admin_headers(), "Content-Type": "text/plain"},
    )
    assert status == 415 and "application/json" in answer["msg"]
    assert exchange.state()["faults"] == []


def test_the_token_opens_the_admin_endpoints(exchange: RunningExchange) -> None:
    assert exchange.admin_token == TOKEN
    body = json.dumps({"kind": "error", "path": "/fapi/v1/depth"}).encode()
    headers = {**_admin_headers(), "Content-Type": "application/json; charset=utf-8"}
    status, created = _request(
        exchange.url + "/_admin/faults", method="POST", data=body, headers=headers
    )
    assert status == 201
    status, state = _request(exchange.url + "/_admin/state", headers=_admin_headers())
    assert status == 200 and [f["id"] for f in state["faults"]] == [created["id"]]


@pytest.mark.parametrize(
    "host", ["evil.example", "evil.example:8080", "127.0.0.1.evil.example", "127.0.0.2", "::1", ""]
)
@pytest.mark.parametrize("path", ["/fapi/v1/ping", "/_admin/state"])
def test_requests_addressed_to_a_foreign_host_are_forbidden(
    exchange: RunningExchange, host: str, path: str
) -> None:
    """DNS rebinding: a page served from evil.example, re-pointed at 127.0.0.1, still sends
    ``Host: evil.example``."""
    status, answer = _request(exchange.url + path, headers={**_admin_headers(), "Host": host})
    assert status == 403 and "loopback" in answer["msg"]


@pytest.mark.parametrize(
    "host", ["127.0.0.1", "127.0.0.1:{port}", "localhost:9", "LOCALHOST", "[::1]:1"]
)
def test_loopback_host_names_are_served(exchange: RunningExchange, host: str) -> None:
    headers = {**_admin_headers(), "Host": host.format(port=exchange.port)}
    assert _request(exchange.url + "/fapi/v1/ping", headers=headers) == (200, {})
    assert _request(exchange.url + "/_admin/state", headers=headers)[0] == 200


def test_the_default_admin_token_is_random(datadir: Path) -> None:
    tokens = {ExchangeServer(datadir).admin_token for _ in range(2)}
    assert len(tokens) == 2 and all(re.fullmatch(r"[A-Za-z0-9_-]{20,}", t) for t in tokens)


@pytest.mark.parametrize("token", ["", "two words", "tab\there", "é-token"])
def test_an_admin_token_that_cannot_travel_in_a_header_is_refused(
    datadir: Path, token: str
) -> None:
    with pytest.raises(ConfigError, match="admin_token"):
        ExchangeServer(datadir, admin_token=token)


def test_cli_takes_and_prints_the_admin_token(
    datadir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = ["--datadir", str(datadir), "--admin-token", TOKEN, "--max-seconds", "0.3"]
    assert offline_main(argv) == 0
    assert f"admin token: {TOKEN}\n" in capsys.readouterr().out


# --------------------------------------------------------------------------------------------
# Fault fields
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ('{"kind": "delay", "delay": Infinity}', "delay"),
        ('{"kind": "delay", "delay": NaN}', "delay"),
        ('{"kind": "delay", "delay": 1e308}', "delay"),
        (f'{{"kind": "delay", "delay": {MAX_FAULT_DELAY_S + 1}}}', "delay"),
        ('{"kind": "delay", "delay": "5"}', "delay"),
        ('{"kind": "delay", "delay": true}', "delay"),
        ('{"kind": "error", "path": 5}', "path"),
        ('{"kind": "error", "path": ["/fapi"]}', "path"),
        ('{"kind": "error", "symbol": 5}', "symbol"),
        ('{"kind": "error", "count": 1.5}', "count"),
        ('{"kind": "error", "count": true}', "count"),
        ('{"kind": "error", "count": "2"}', "count"),
        ('{"kind": "error", "status": 503.5}', "status"),
        ('{"kind": "error", "status": "503"}', "status"),
        ('{"kind": "error", "seconds": Infinity}', "seconds"),
        ('{"kind": "error", "seconds": "10"}', "seconds"),
    ],
)
def test_invalid_fault_fields_are_a_400_naming_the_field(
    exchange: RunningExchange, body: str, field: str
) -> None:
    status, answer = _request(
        exchange.url + "/_admin/faults", method="POST", data=body.encode(), headers=_admin_headers()
    )
    assert status == 400 and f"Fault.{field}" in answer["msg"]
    assert exchange.state()["faults"] == []


@pytest.mark.parametrize("delay", [math.inf, 1e308, MAX_FAULT_DELAY_S * 2])
def test_a_fault_cannot_hold_requests_for_ever(delay: float) -> None:
    with pytest.raises(ConfigError, match=rf"Fault\.delay .*<= {MAX_FAULT_DELAY_S:g}"):
        Fault("delay", delay=delay)


def test_the_longest_allowed_delay_is_accepted(exchange: RunningExchange) -> None:
    body = json.dumps({"kind": "delay", "delay": MAX_FAULT_DELAY_S, "path": "/nowhere"}).encode()
    status, _ = _request(
        exchange.url + "/_admin/faults", method="POST", data=body, headers=_admin_headers()
    )
    assert status == 201 and exchange.state()["faults"][0]["delay"] == MAX_FAULT_DELAY_S


# --------------------------------------------------------------------------------------------
# Bounded request counters, markets without data
# --------------------------------------------------------------------------------------------


def test_random_paths_do_not_grow_the_request_counters(datadir: Path) -> None:
    server = ExchangeServer(datadir)
    n = 10_000

    async def probe() -> list[int]:
        async with TestClient(TestServer(server.app())) as client:
            statuses = []
            for i in range(n):
                async with client.get(f"/probe/{i}") as response:
                    statuses.append(response.status)
            return statuses

    statuses = asyncio.run(probe())
    assert set(statuses) == {404}
    state = server.state()
    assert state["requests"] == {UNKNOWN_PATH: n}
    assert state["errors"] == {UNKNOWN_PATH: n}


@pytest.mark.parametrize("symbol", ["SOLUSDT", "XRPUSDT"])
def test_24h_ticker_of_a_listed_market_without_data_is_a_binance_error(
    exchange: RunningExchange, symbol: str
) -> None:
    status, answer = _request(f"{exchange.url}/fapi/v1/ticker/24hr?symbol={symbol}")
    assert (status, answer["code"]) == (400, -1000)
    assert symbol in answer["msg"] and "No candles" in answer["msg"]


# --------------------------------------------------------------------------------------------
# Shutdown with requests in flight
# --------------------------------------------------------------------------------------------


def test_stop_answers_a_held_request_and_returns_within_seconds(datadir: Path) -> None:
    held_s = 100.0
    ex = RunningExchange(ExchangeServer(datadir, faults=[Fault("delay", delay=held_s)]))
    ex.start()
    with ThreadPoolExecutor(1) as pool:
        held = pool.submit(_request, ex.url + "/fapi/v1/time", timeout=60)
        deadline = time.monotonic() + 10
        while not ex.state()["requests"].get("/fapi/v1/time") and time.monotonic() < deadline:
            time.sleep(0.02)
        assert ex.state()["requests"]["/fapi/v1/time"] == 1  # the request is being held
        started = time.monotonic()
        ex.stop(timeout=30)
        stopped = time.monotonic() - started
        done, _ = wait([held], timeout=5)
        assert done, "the held request was not answered on shutdown"
        status, answer = held.result()
    # answered by the shutdown, not after the fault's delay (a behaviour bound, not a speed target)
    assert stopped < held_s / 4
    assert status == 503 and "shutting down" in answer["msg"]


def test_cli_exits_promptly_on_sigterm_with_a_request_in_flight(datadir: Path) -> None:
    proc = subprocess.Popen(
        [sys.executable, "-m", "liq_indicator.offline", "--datadir", str(datadir),
         "--admin-token", TOKEN, "--max-seconds", "300"],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )  # fmt: skip
    with ThreadPoolExecutor(1) as pool:
        try:
            assert proc.stdout is not None
            lines = iter(proc.stdout.readline, "")  # the log goes to the same pipe
            line = next(x for x in lines if "listening on" in x)
            url = line.strip().rsplit(" ", 1)[-1]
            fault = json.dumps({"kind": "delay", "delay": MAX_FAULT_DELAY_S}).encode()
            assert _request(url + "/_admin/faults", method="POST", data=fault,
                            headers=_admin_headers())[0] == 201  # fmt: skip
            held = pool.submit(_request, url + "/fapi/v1/ping", timeout=60)
            time.sleep(0.5)
            started = time.monotonic()
            proc.send_signal(signal.SIGTERM)
            returncode = proc.wait(timeout=30)
            stopped = time.monotonic() - started
        finally:
            proc.kill()
        assert held.result(timeout=5)[0] == 503
    assert returncode == 0 and stopped < MAX_FAULT_DELAY_S / 4  # did not wait out the delay


# --------------------------------------------------------------------------------------------
# Unreadable data files
# --------------------------------------------------------------------------------------------


@pytest.fixture
def broken_datadir(tmp_path: Path) -> Path:
    """BTC fine; ETH's candles are garbage; BTC's mark and funding files are stray layouts."""
    futures = tmp_path / "binance" / "futures"
    futures.mkdir(parents=True)
    _write_futures(futures, "BTC_USDT_USDT", seed=1)
    (futures / FUTURES_5M.format(pair="ETH_USDT_USDT")).write_bytes(b"not a feather file\n" * 10)
    stray = make_candles(10).rename(columns={"date": "when"})
    stray.to_feather(futures / "BTC_USDT_USDT-1h-mark.feather")
    (futures / "BTC_USDT_USDT-8h-funding_rate.feather").write_bytes(b"\x00" * 64)
    return tmp_path / "binance"


def test_a_corrupt_candle_file_is_skipped_with_a_warning(
    broken_datadir: Path, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.WARNING, logger="liq_indicator.offline.server"):
        server = ExchangeServer(broken_datadir)
    assert server.state()["traded"] == ["BTCUSDT"]
    warned = [
        r.getMessage() for r in caplog.records if "ETH_USDT_USDT-5m-futures" in r.getMessage()
    ]
    assert warned and "unreadable" in warned[0]


def test_stray_or_corrupt_side_files_fall_back_instead_of_failing(
    broken_datadir: Path, caplog: pytest.LogCaptureFixture
) -> None:
    with (
        caplog.at_level(logging.WARNING, logger="liq_indicator.offline.server"),
        running_exchange(broken_datadir) as ex,
    ):
        query = "symbol=BTCUSDT&interval=1h&limit=3"
        status, mark = _request(f"{ex.url}/fapi/v1/markPriceKlines?{query}")
        futures = _request(f"{ex.url}/fapi/v1/klines?{query}")[1]
        funding = _request(f"{ex.url}/fapi/v1/fundingRate?symbol=BTCUSDT")
    assert status == 200 and len(mark) == 3
    assert [row[:5] for row in mark] == [row[:5] for row in futures]  # the futures fallback
    assert funding == (200, [])
    log = caplog.text
    assert "BTC_USDT_USDT-1h-mark.feather: no 'date' column" in log
    assert "BTC_USDT_USDT-8h-funding_rate.feather: unreadable" in log
    assert "internal error" not in log


def test_only_corrupt_candles_is_an_input_error_naming_the_file(tmp_path: Path) -> None:
    futures = tmp_path / "futures"
    futures.mkdir()
    (futures / FUTURES_5M.format(pair="BTC_USDT_USDT")).write_bytes(b"garbage")
    with pytest.raises(InputError, match=r"no readable futures candles.*BTC_USDT_USDT-5m-futures"):
        ExchangeServer(tmp_path)


def test_cli_reports_corrupt_only_data_in_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    futures = tmp_path / "futures"
    futures.mkdir()
    (futures / FUTURES_5M.format(pair="BTC_USDT_USDT")).write_bytes(b"ARROW1" + b"\xff" * 100)
    assert cli_main(["exchange", "--datadir", str(tmp_path), "--max-seconds", "1"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "BTC_USDT_USDT-5m-futures.feather" in err
    assert "Traceback" not in err


# --------------------------------------------------------------------------------------------
# Ports and other settings
# --------------------------------------------------------------------------------------------


def test_cli_port_in_use_exits_2_naming_the_port(
    datadir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        code = cli_main(["exchange", "--datadir", str(datadir), "--port", str(port),
                         "--max-seconds", "1"])  # fmt: skip
    err = capsys.readouterr().err
    assert code == 2 and f"port {port}" in err and err.count("\n") == 1


@pytest.mark.parametrize("port", ["-1", "65536", "99999999"])
def test_cli_port_out_of_range_exits_2_naming_the_port(
    datadir: Path, capsys: pytest.CaptureFixture[str], port: str
) -> None:
    assert cli_main(["exchange", "--datadir", str(datadir), "--port", port]) == 2
    err = capsys.readouterr().err
    assert f"port {port}" in err and err.count("\n") == 1


def test_port_in_use_from_python_is_a_config_error(datadir: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        with pytest.raises(ConfigError, match=f"port {port}"), running_exchange(datadir, port=port):
            pass


@pytest.mark.parametrize(
    "settings",
    [
        {"speed": math.inf},
        {"speed": 1e308},
        {"speed": math.nan},
        {"replay": True, "replay_lead": math.inf},
        {"replay": True, "replay_lead": 1e308},
    ],
)
def test_non_finite_replay_settings_are_refused(datadir: Path, settings: dict[str, Any]) -> None:
    with pytest.raises(ConfigError, match="speed|replay"):
        ExchangeServer(datadir, **settings)


@pytest.mark.parametrize("max_seconds", [math.inf, math.nan, -1.0])
def test_non_finite_max_seconds_is_refused(datadir: Path, max_seconds: float) -> None:
    with pytest.raises(ConfigError, match="max_seconds"):
        asyncio.run(serve(ExchangeServer(datadir), max_seconds=max_seconds))


# --------------------------------------------------------------------------------------------
# replay for a dry run: the wall-clock speed, its length, what it says at start


def test_cli_refuses_a_replay_speed_freqtrade_cannot_follow(
    datadir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = [
        "exchange",
        "--datadir",
        str(datadir),
        "--replay",
        "--speed",
        "10",
        "--max-seconds",
        "1",
    ]
    assert cli_main(argv) == 2
    err = capsys.readouterr().err
    assert "--speed 10" in err and "wall clock" in err and "freqtrade backtesting" in err, err
    assert err.count("\n") == 1


def test_replay_lead_and_max_seconds_take_durations() -> None:
    from liq_indicator.cli import build_parser

    args = build_parser().parse_args(
        ["exchange", "--datadir", "d", "--replay-lead", "7d", "--max-seconds", "1w"]
    )
    assert (args.replay_lead, args.max_seconds) == (7 * 86_400, 7 * 86_400)
    defaults = build_parser().parse_args(["exchange", "--datadir", "d"])
    # a day of dry run by default, served until Ctrl-C or SIGTERM
    assert (defaults.replay_lead, defaults.max_seconds, defaults.speed) == (86_400, None, 1.0)


def test_replay_says_when_the_data_runs_out(datadir: Path) -> None:
    wall = 1_800_000_000.0
    server = ExchangeServer(datadir, replay=True, replay_lead=6 * 3600, clock=lambda: wall)
    line = server.replay_summary()
    assert line is not None
    ends_in = float(re.search(r"in ([0-9.]+) h\)", line)[1])  # type: ignore[index]
    # the shift is a whole 8 h, so the data ends between lead and lead + 8 h from now
    assert 6 <= ends_in < 6 + 8, line
    history = float(re.search(r"with ([0-9.]+) days of history", line)[1])  # type: ignore[index]
    assert abs(history + ends_in / 24 - 600 * 5 / 1440) < 0.1, line  # together: the whole data
    assert ExchangeServer(datadir).replay_summary() is None


def test_a_replay_lead_beyond_the_data_names_the_longest_allowed(datadir: Path) -> None:
    longest = 600 * 300 - 8 * 3600  # the data's span less the 8 h alignment of the shift
    with pytest.raises(ConfigError, match=rf"allows at most {longest} s = 1\.8 days"):
        ExchangeServer(datadir, replay=True, replay_lead=3 * 86_400)
    ExchangeServer(datadir, replay=True, replay_lead=longest - 1)  # the figure named is right


def test_markets_that_never_overlap_are_named_for_a_replay(tmp_path: Path) -> None:
    futures = tmp_path / "binance" / "futures"
    futures.mkdir(parents=True)
    make_candles(300, start="2024-01-01").to_feather(
        futures / FUTURES_5M.format(pair="BTC_USDT_USDT")
    )
    make_candles(300, start="2024-03-01").to_feather(
        futures / FUTURES_5M.format(pair="ETH_USDT_USDT")
    )
    with pytest.raises(
        ConfigError, match="BTCUSDT ends 2024-01-02, before ETHUSDT starts 2024-03-01"
    ):
        ExchangeServer(futures.parent, replay=True, replay_lead=3600)
    ExchangeServer(futures.parent)  # served without replay: each market has its own span
