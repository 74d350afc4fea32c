"""LiqClusterStrategy keeps running through exchange faults: ``freqtrade trade --dry-run`` against
the loopback Binance exchange in replay mode, with faults injected through its admin endpoint
while the bot runs (one bot run, about five minutes; 1m candles so that Freqtrade refreshes
every minute). Everything stays on 127.0.0.1: the exchange, the bot's API server (used to force
trades and to read the analysed dataframes) and the config (no fiat conversion, which would call
coingecko.com).

The market: a simulated BTC perpetual ('cascade' scenario) served for BTC/USDT:USDT and, as a copy,
for ETH/USDT:USDT, whose open-interest feed ends at least six hours before "now" (a stale feed).

The run, phase by phase (``Run.marks`` holds the log offset where each begins):

start     BTC's open-interest feed answers ``[]`` (``drop_open_interest``): the bot starts in volume
          mode for BTC; ETH's map uses its stale open interest.
recover   The OI fault is cleared (``DELETE /_admin/faults``); ETH's candles stall
          (``stall_candles`` for 200 s); a BTC long is forced.
faults    65 s of HTTP 503 on ``/fapi/v1/klines``, 502 on ``/futures/data`` and 6-second hangs on
          ``/fapi/v1/depth`` (ccxt's timeout is set to 3 s): errors and timeouts across a candle
          boundary. They expire by themselves.
stalled   An ETH long is forced while ETH's candles stall: the strategy refuses it (its signal
          candle is stale), and Freqtrade's own guard ("Outdated history") blocks ETH's signals.
          Then the stall ends and the backlog arrives at once.
trades    The BTC trade is force-exited and an ETH short forced; then SIGTERM (a bot started
          from nohup or a CI runner ignores SIGINT, so SIGINT could hang the test). The bot is
          started with SIGINT ignored, as it is there.

Afterwards: no exception escaped a strategy callback, both analysed dataframes hold exactly the
exchange's candles (no gap, no placeholder left by the stall) and features equal to a recomputation
from those candles, and the sqlite database holds every trade the log reports.

Two guards are tested at the end: stale open interest falls back to the volume rule (live and in
a unit test), and an entry on a stale signal candle is refused.
"""

from __future__ import annotations

import base64
import json
import math
import os
import re
import secrets
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.error import HTTPError, URLError
from urllib.request import Request, urlopen

import numpy as np
import pandas as pd
import pytest
from conftest import REPO, make_candles, strategy_copy
from helpers import ignore_sigint

pytest.importorskip("freqtrade")

from freqtrade.enums import RunMode  # noqa: E402
from strategy_helpers import ft_call, load_strategy_class, long_setup, make_strategy, order_book  # noqa: E402

from liq_indicator.offline import Fault, running_exchange  # noqa: E402
from liq_indicator.sim.market import simulate  # noqa: E402
from liq_indicator.strategy.signals import STRATEGY_COLUMNS, STRATEGY_HEATMAP, strategy_features  # noqa: E402

PAIRS = ("BTC/USDT:USDT", "ETH/USDT:USDT")
MINUTE = 60.0
STALL_S = 600.0  # ETH's stall, ended by the test once an entry was tried on the stale candle (an
# upper bound only: Freqtrade calls a 1m pair outdated after 2 candles + outdated_offset 1 min)
FAULT_S = 65.0  # errors and hangs: always spans a candle boundary
REPLAY_LEAD_S = 3600.0
ETH_OI_STALE = pd.Timedelta(hours=6)  # at least this old at "now"
FREQTRADE_ENV = {**os.environ, "COLUMNS": "500"}  # Freqtrade logs through rich, which wraps at 80

# What must never appear in the bot's log: an exception out of a callback or of populate_*.
ESCAPED = (
    "Strategy caused the following exception",
    "Unexpected error",
    "Unable to analyze candle",
)
LOG_LINE = re.compile(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d+ - ", re.M)


def tracebacks(log: str) -> list[str]:
    """Every traceback block of a Freqtrade log (up to the next log line)."""
    blocks = []
    for start in (m.start() for m in re.finditer("Traceback", log)):
        nxt = LOG_LINE.search(log, start)
        blocks.append(log[start : nxt.start() if nxt else len(log)])
    return blocks


# ------------------------------------------------------------------------------------------------
# the run


@dataclass
class Run:
    root: Path
    datadir: Path
    log: str = ""
    marks: dict[str, int] = field(default_factory=dict)  # phase -> log offset where it begins
    times: dict[str, float] = field(default_factory=dict)  # phase -> wall clock
    frames: dict[str, dict[str, pd.DataFrame]] = field(
        default_factory=dict
    )  # phase -> pair -> frame
    api: dict[str, Any] = field(default_factory=dict)  # answers of the bot's API
    exchange: dict[str, Any] = field(
        default_factory=dict
    )  # the exchange's /_admin/state at the end
    shift_ms: int = 0
    returncode: int | None = None
    alive_before_stop: bool = False

    def phase(self, name: str, until: str | None = None) -> str:
        """The log lines of phase ``name`` (up to the start of ``until``, or to the end)."""
        end = self.marks[until] if until else len(self.log)
        return self.log[self.marks[name] : end]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _write_market(datadir: Path) -> None:
    """Three days of 1m candles (BTC, and the same as ETH) with 1m open interest and funding; ETH's
    open interest ends ETH_OI_STALE before the earliest "now" the replay can pick."""
    simulate(3, timeframe="1m", seed=5, scenario="cascade", start="2024-01-01").write(datadir)
    futures = datadir / "futures"
    for path in list(futures.glob("BTC_USDT_USDT-*")):
        shutil.copy(path, futures / path.name.replace("BTC_USDT_USDT", "ETH_USDT_USDT"))
    end = pd.read_feather(futures / "BTC_USDT_USDT-1m-futures.feather")["date"].iloc[-1]
    # replay: "now" lies between (end - lead - 8 h) and (end - lead)
    cut = end - pd.Timedelta(seconds=REPLAY_LEAD_S) - pd.Timedelta(hours=8) - ETH_OI_STALE
    oi_path = futures / "ETH_USDT_USDT-1m-open_interest.feather"
    oi = pd.read_feather(oi_path)
    oi[oi["date"] <= cut].reset_index(drop=True).to_feather(oi_path)


class Bot:
    """The bot's REST API (basic auth, loopback) and its log."""

    def __init__(self, port: int, log: Path):
        self.base = f"http://127.0.0.1:{port}/api/v1/"
        self.auth = "Basic " + base64.b64encode(b"live:faults").decode()
        self.log_path = log

    def call(self, path: str, method: str = "GET", body: Any = None) -> tuple[int | None, Any]:
        data = None if body is None else json.dumps(body).encode()
        request = Request(
            self.base + path,
            data=data,
            method=method,
            headers={"Authorization": self.auth, "Content-Type": "application/json"},
        )
        try:
            with urlopen(request, timeout=20) as response:
                return response.status, json.loads(response.read())
        except HTTPError as err:
            return err.code, err.read().decode(errors="replace")
        except (URLError, TimeoutError, ConnectionError) as err:
            return None, repr(err)

    def frame(self, pair: str) -> pd.DataFrame | None:
        """The analysed dataframe of ``pair`` (all rows), dates as UTC timestamps."""
        status, body = self.call(f"pair_candles?pair={pair}&timeframe=1m")
        if status != 200 or not body.get("data"):
            return None
        frame = pd.DataFrame(body["data"], columns=body["columns"])
        frame["date"] = pd.to_datetime(frame["__date_ts"], unit="ms", utc=True)
        numeric = [c for c in frame.columns if c not in ("date", "enter_tag", "exit_tag")]
        frame[numeric] = frame[numeric].apply(pd.to_numeric, errors="coerce")
        return frame

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")


#: the loopback exchange's admin secret for this run (sent as X-Admin-Token on /_admin/*)
ADMIN_TOKEN = secrets.token_urlsafe(16)


def _admin(url: str, method: str, body: Any = None) -> Any:
    data = None if body is None else json.dumps(body).encode()
    request = Request(
        url + "/_admin/faults",
        data=data,
        method=method,
        headers={"Content-Type": "application/json", "X-Admin-Token": ADMIN_TOKEN},
    )
    with urlopen(request, timeout=10) as response:
        return json.loads(response.read())


def _wait(what: str, check: Callable[[], Any], timeout: float, bot: Bot, every: float = 1.0) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = check()
        if value is not None and value is not False:
            return value
        time.sleep(every)
    raise AssertionError(
        f"timed out after {timeout:.0f} s waiting for {what}:\n{bot.log()[-6000:]}"
    )


def _filled_or_retried(bot: Bot, pair: str, side: str, trade_id: int) -> Callable[[], bool]:
    """A ``_wait`` check: trade ``trade_id`` filled. The strategy rightly refuses an entry whose
    signal candle is stale, which happens when ``forceenter`` lands just after a candle closed and
    before the bot analysed it; each such refusal repeats the call."""
    refused = bot.log().count(f"{pair}: {side} entry skipped")

    def check() -> bool:
        nonlocal refused
        log = bot.log()
        if f"fulfilled for Trade(id={trade_id}," in log:
            return True
        if log.count(f"{pair}: {side} entry skipped") > refused:
            refused = log.count(f"{pair}: {side} entry skipped")
            bot.call("forceenter", "POST", {"pair": pair, "side": side})
        return False

    return check


def _last_closed() -> pd.Timestamp:
    """Open time of the latest closed 1m candle (the replay keeps Freqtrade's clock and candle
    boundaries aligned with the wall clock)."""
    return pd.Timestamp.now(tz="UTC").floor("1min") - pd.Timedelta(minutes=1)


def _caught_up(bot: Bot, pair: str, newer_than: pd.Timestamp | None = None) -> pd.DataFrame | None:
    frame = bot.frame(pair)
    if frame is None:
        return None
    last = frame["date"].iloc[-1]
    fresh = last >= _last_closed() and (newer_than is None or last > newer_than)
    return frame if fresh else None


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> Run:
    root = tmp_path_factory.mktemp("live_faults")
    rec = Run(root=root, datadir=root / "data" / "binance")
    _write_market(rec.datadir)
    (root / "user_data").mkdir()
    port = _free_port()
    (root / "live.json").write_text(
        json.dumps(
            {
                "timeframe": "1m",
                "fiat_display_currency": "",  # no coingecko.com: nothing leaves 127.0.0.1
                "exchange": {
                    "pair_whitelist": list(PAIRS),
                    "outdated_offset": 1,
                    "ccxt_config": {"timeout": 3000},
                },
                "entry_pricing": {"price_side": "other"},  # a limit order at the ask fills at once
                "exit_pricing": {"price_side": "other"},
                "api_server": {
                    "enabled": True,
                    "listen_ip_address": "127.0.0.1",
                    "listen_port": port,
                    "username": "live",
                    "password": "faults",
                    "jwt_secret_key": os.urandom(16).hex(),
                    "ws_token": os.urandom(8).hex(),
                },
                "force_entry_enable": True,
                "internals": {"process_throttle_secs": 2, "heartbeat_interval": 0},
            }
        )
    )
    log = root / "freqtrade.log"
    bot = Bot(port, log)

    def mark(name: str) -> None:
        rec.marks[name] = len(bot.log())
        rec.times[name] = time.time()

    def snapshot(name: str) -> None:
        rec.frames[name] = {pair: bot.frame(pair) for pair in PAIRS}

    started = time.monotonic()
    with running_exchange(
        rec.datadir,
        replay=True,
        replay_lead=REPLAY_LEAD_S,
        max_seconds=900,
        faults=[Fault("drop_open_interest", symbol="BTCUSDT")],
        admin_token=ADMIN_TOKEN,
    ) as ex:
        rec.shift_ms = ex.server.shift_ms
        overlay = ex.write_overlay(root / "offline.json")
        with log.open("w") as sink:
            proc = subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "freqtrade",
                    "trade",
                    "--dry-run",
                    "--config",
                    str(REPO / "config.json.example"),
                    "--config",
                    str(overlay),
                    "--config",
                    str(root / "live.json"),
                    "--userdir",
                    str(root / "user_data"),
                    "--datadir",
                    str(rec.datadir),
                    "--strategy",
                    "LiqClusterStrategy",
                    "--strategy-path",
                    str(strategy_copy(root)),
                    "--db-url",
                    f"sqlite:///{root / 'dry.sqlite'}",
                ],
                cwd=root,
                env=FREQTRADE_ENV,
                stdout=sink,
                stderr=subprocess.STDOUT,
                preexec_fn=ignore_sigint,
            )
            try:
                mark("start")
                _wait(
                    "both pairs analysed",
                    lambda: all(bot.frame(p) is not None for p in PAIRS),
                    120,
                    bot,
                )
                _wait(
                    "the volume-mode notice for BTC",
                    lambda: "BTC/USDT:USDT: no open-interest" in bot.log(),
                    30,
                    bot,
                )
                snapshot("start")

                mark("recover")
                rec.api["cleared"] = _admin(ex.url, "DELETE")
                rec.api["stall"] = _admin(
                    ex.url,
                    "POST",
                    {"kind": "stall_candles", "symbol": "ETHUSDT", "seconds": STALL_S},
                )
                retry = _filled_or_retried(bot, PAIRS[0], "long", 1)
                rec.api["enter_btc"] = bot.call(
                    "forceenter", "POST", {"pair": PAIRS[0], "side": "long"}
                )
                _wait("the fill of the BTC long", retry, 60, bot)

                mark("faults")
                rec.api["faults"] = [
                    _admin(ex.url, "POST", body)
                    for body in (
                        {
                            "kind": "error",
                            "status": 503,
                            "path": "/fapi/v1/klines",
                            "seconds": FAULT_S,
                        },
                        {
                            "kind": "error",
                            "status": 502,
                            "path": "/futures/data",
                            "seconds": FAULT_S,
                        },
                        {
                            "kind": "delay",
                            "delay": 6.0,
                            "path": "/fapi/v1/depth",
                            "seconds": FAULT_S,
                        },
                    )
                ]
                time.sleep(FAULT_S + 0.5)
                rec.api["faults_left"] = [f["kind"] for f in ex.state()["faults"]]

                def btc_in_oi_mode() -> pd.DataFrame | None:
                    frame = _caught_up(bot, PAIRS[0])
                    return (
                        frame if frame is not None and frame["liq_oi_mode"].iloc[-1] == 1 else None
                    )

                frame = _wait("BTC analysed again, in open-interest mode", btc_in_oi_mode, 150, bot)
                rec.frames["after_faults"] = {PAIRS[0]: frame}

                mark("stalled")
                # the stall lasts until the test ends it, so a slow machine cannot let it lapse
                # before the entry below is tried
                _wait(
                    "Freqtrade to call ETH outdated",
                    lambda: (
                        "Outdated history for pair ETH/USDT:USDT"
                        in bot.log()[rec.marks["recover"] :]
                    ),
                    150,
                    bot,
                )
                rec.frames["stalled"] = {PAIRS[1]: bot.frame(PAIRS[1])}
                # an entry attempted while ETH stalls (its last candle is minutes old by now)
                rec.times["enter_eth_stalled"] = time.time()
                rec.api["enter_eth_stalled"] = bot.call(
                    "forceenter", "POST", {"pair": PAIRS[1], "side": "long"}
                )
                time.sleep(3 * 2.0)  # a few bot loops (process_throttle_secs) on the stale candle
                rec.api["stall_ended"] = _admin(ex.url, "DELETE")
                stalled_last = rec.frames["stalled"][PAIRS[1]]["date"].iloc[-1]
                _wait(
                    "ETH caught up after the stall",
                    lambda: _caught_up(bot, PAIRS[1], stalled_last),
                    150,
                    bot,
                )

                mark("trades")
                rec.api["exit_btc"] = bot.call(
                    "forceexit", "POST", {"tradeid": "1", "ordertype": "market"}
                )
                rec.api["enter_eth"] = bot.call(
                    "forceenter", "POST", {"pair": PAIRS[1], "side": "short"}
                )
                _wait(
                    "both orders filled",
                    lambda: (
                        "fulfilled for Trade(id=2," in bot.log()
                        and re.search(
                            r"_SELL has been fulfilled for Trade\(id=1,.*is_short=False", bot.log()
                        )
                    ),
                    60,
                    bot,
                )
                # one more candle for both pairs, so the final frames come from a fresh analysis
                newest = max(rec.frames["after_faults"][PAIRS[0]]["date"].iloc[-1], stalled_last)
                _wait(
                    "a fresh analysis of both pairs",
                    lambda: all(_caught_up(bot, p, newest) is not None for p in PAIRS),
                    90,
                    bot,
                )
                snapshot("final")
                rec.api["trades"] = bot.call("trades")  # closed trades
                rec.api["status"] = bot.call("status")  # open trades
                rec.alive_before_stop = proc.poll() is None
                mark("stop")
            finally:
                proc.send_signal(signal.SIGTERM)
                try:
                    rec.returncode = proc.wait(timeout=40)
                finally:
                    proc.kill()
        rec.exchange = ex.state()
    rec.log = log.read_text(errors="replace")
    rec.times["total"] = time.monotonic() - started
    for phase, frames in rec.frames.items():  # kept beside the log for a look after a failure
        for pair, frame in frames.items():
            if frame is not None:
                frame.to_feather(root / f"{phase}-{pair.split('/')[0]}.feather")
    return rec


def _db_trades(run: Run) -> pd.DataFrame:
    with sqlite3.connect(run.root / "dry.sqlite") as db:
        return pd.read_sql_query(
            "SELECT id, pair, is_open, is_short, amount, open_rate, close_rate, exit_reason, "
            "enter_tag, open_date, close_date FROM trades ORDER BY id",
            db,
        )


_FILLED = re.compile(
    r"(?P<type>[A-Z_]+)_(?P<side>BUY|SELL) has been fulfilled for Trade\(id=(?P<id>\d+), "
    r"pair=(?P<pair>[^,]+), amount=(?P<amount>[\d.]+), is_short=(?P<short>True|False), "
    r"leverage=[\d.]+, open_rate=(?P<rate>[\d.]+)"
)


# ------------------------------------------------------------------------------------------------
# the bot survived and nothing escaped


@pytest.mark.slow
def test_the_bot_ran_through_every_fault_and_stopped_cleanly(run: Run):
    assert run.alive_before_stop, run.log[-4000:]
    # Freqtrade's SIGTERM handler (commands/trade_commands.py) raises KeyboardInterrupt: the worker
    # exits cleanly and main.py logs it as a SIGINT and returns 130
    stop = run.phase("stop")
    assert "worker found ... calling exit" in stop and "SIGINT received, aborting" in stop, stop[
        -3000:
    ]
    assert run.returncode == 130
    assert run.api["cleared"] == {"cleared": 1}
    errors = run.exchange["errors"]
    assert errors.get("/fapi/v1/klines", 0) > 0, errors  # the 503s were served ...
    assert errors.get("/futures/data/openInterestHist", 0) + errors.get("/fapi/v1/klines", 0) > 1
    faults = run.phase("faults", "stalled")
    assert re.search(r"503|ExchangeNotAvailable|Internal error", faults), faults[
        -3000:
    ]  # ... and seen
    assert re.search(r"RequestTimeout|timed out|Timeout", faults), faults[-3000:]


@pytest.mark.slow
def test_no_exception_escaped_the_strategy(run: Run):
    assert "liquidation map inflow from open interest" in run.log  # the strategy's log is there
    for needle in ESCAPED:
        assert needle not in run.log, run.log[max(0, run.log.find(needle) - 2000) :][:4000]
    # Freqtrade's own exchange layer may log a traceback while the exchange times out (placing the
    # on-exchange stop, which it retries next loop); none may pass through the strategy's code
    ours = [b for b in tracebacks(run.log) if "user_data/strategies" in b or "liq_indicator" in b]
    assert not ours, ours[0][:4000]
    own = [
        line
        for line in run.log.splitlines()
        if re.search(r" - (LiqClusterStrategy|liq_indicator[.\w]*) - (ERROR|CRITICAL) - ", line)
    ]
    assert not own, own


# ------------------------------------------------------------------------------------------------
# degraded and recovered


@pytest.mark.slow
def test_missing_open_interest_runs_in_volume_mode_then_recovers(run: Run):
    start = run.frames["start"]["BTC/USDT:USDT"]
    assert len(start) > 0
    assert start["liq_oi_mode"].eq(0).all() and start["oi_value"].isna().all()
    assert (
        "BTC/USDT:USDT: no open-interest data; the liquidation map runs in volume mode"
        in run.phase("start", "recover")
    )
    after = run.frames["after_faults"]["BTC/USDT:USDT"]
    assert after["liq_oi_mode"].iloc[-1] == 1 and np.isfinite(after["oi_value"].iloc[-1])
    assert "BTC/USDT:USDT: liquidation map inflow from open interest" in run.phase("recover")


@pytest.mark.slow
def test_candles_catch_up_after_errors_and_timeouts(run: Run):
    after = run.frames["after_faults"]["BTC/USDT:USDT"]
    start = run.frames["start"]["BTC/USDT:USDT"]
    assert len(after) > 1 and after["date"].iloc[-1] > start["date"].iloc[-1]
    assert (after["date"].diff().iloc[1:] == pd.Timedelta(minutes=1)).all()  # no gap left behind
    assert run.api["faults_left"] == ["stall_candles"], run.api["faults_left"]  # they expired


@pytest.mark.slow
def test_stalled_candles_block_entries_and_heal(run: Run):
    stalled = run.phase("recover", "trades")
    assert run.api["stall_ended"] == {"cleared": 1}  # the stall held until the test ended it
    assert "Outdated history for pair ETH/USDT:USDT" in stalled, stalled[-3000:]
    # an ETH entry was attempted during the stall, and refused on its stale signal candle
    status, body = run.api["enter_eth_stalled"]
    assert status != 200 and "Failed to enter position for ETH/USDT:USDT" in str(body), (
        status,
        body,
    )
    assert "ETH/USDT:USDT: long entry skipped, its signal candle is stale" in run.phase(
        "stalled", "trades"
    )
    trades = _db_trades(run)
    assert len(trades) > 0  # the BTC trade of the same window is there: the query sees trades
    opened = pd.to_datetime(trades["open_date"], utc=True)
    during = (opened >= pd.Timestamp(run.times["recover"], unit="s", tz="UTC")) & (
        opened < pd.Timestamp(run.times["trades"], unit="s", tz="UTC")
    )
    assert (during & (trades["pair"] == "BTC/USDT:USDT")).any(), trades
    assert not (during & (trades["pair"] == "ETH/USDT:USDT")).any(), trades
    final = run.frames["final"]["ETH/USDT:USDT"]
    assert final["date"].iloc[-1] > run.frames["stalled"]["ETH/USDT:USDT"]["date"].iloc[-1]


@pytest.mark.slow
@pytest.mark.parametrize("pair", PAIRS)
def test_the_map_is_not_corrupted(run: Run, pair: str):
    """The final analysed dataframe holds exactly the exchange's candles, one per minute (the
    placeholder candle the stall left is replaced by the real one), and its features equal a
    recomputation from those candles and the open interest the exchange served."""
    frame = run.frames["final"][pair]
    assert len(frame) > 1 and (frame["date"].diff().iloc[1:] == pd.Timedelta(minutes=1)).all()
    shift = pd.Timedelta(milliseconds=run.shift_ms)
    stem = pair.split("/")[0] + "_USDT_USDT"
    served = pd.read_feather(run.datadir / "futures" / f"{stem}-1m-futures.feather")
    served = served.assign(date=served["date"] + shift).set_index("date")
    ohlcv = ["open", "high", "low", "close", "volume"]
    np.testing.assert_array_equal(
        frame[ohlcv].to_numpy(), served.loc[frame["date"], ohlcv].to_numpy()
    )
    oi = pd.read_feather(run.datadir / "futures" / f"{stem}-1m-open_interest.feather")
    oi = oi[oi["date"].dt.minute == 0].assign(date=lambda d: d["date"] + shift)  # the 1h feed
    oi = oi[oi["date"] <= frame["date"].iloc[-1]].reset_index(drop=True)
    again = strategy_features(frame[["date", *ohlcv]], STRATEGY_HEATMAP, open_interest=oi)
    for column in [*STRATEGY_COLUMNS, "atr_14", "oi_value"]:
        np.testing.assert_allclose(
            frame[column], again[column], rtol=1e-9, atol=1e-6, err_msg=column
        )


@pytest.mark.slow
def test_open_trades_keep_their_stop_on_the_exchange(run: Run):
    # a stop-market order rests on the exchange for every open trade, so it holds while the bot
    # cannot reach the exchange
    with sqlite3.connect(run.root / "dry.sqlite") as db:
        orders = pd.read_sql_query(
            "SELECT ft_trade_id, ft_order_side, ft_is_open, order_type, stop_price FROM orders", db
        )
    trades = _db_trades(run)
    open_ids = set(trades.loc[trades["is_open"].astype(bool), "id"])
    stops = orders[(orders["ft_order_side"] == "stoploss") & orders["ft_is_open"].astype(bool)]
    assert open_ids, trades
    assert open_ids <= set(stops["ft_trade_id"]), (orders, trades)
    assert (stops["stop_price"] > 0).all()


@pytest.mark.slow
def test_the_database_holds_every_trade(run: Run):
    fills = [m.groupdict() for m in _FILLED.finditer(run.log)]
    entries = {int(f["id"]): f for f in fills if (f["side"] == "SELL") == (f["short"] == "True")}
    exits = {int(f["id"]) for f in fills if (f["side"] == "SELL") != (f["short"] == "True")}
    db = _db_trades(run).set_index("id")
    assert set(db.index) == set(entries), (db, entries)
    assert {1, 2} <= set(entries)  # the two forced trades at least
    for trade_id, fill in entries.items():
        row = db.loc[trade_id]
        assert row["pair"] == fill["pair"] and bool(row["is_short"]) == (fill["short"] == "True")
        assert math.isclose(row["amount"], float(fill["amount"]))
        assert math.isclose(row["open_rate"], float(fill["rate"]))
        assert bool(row["is_open"]) == (trade_id not in exits)
    assert db.loc[1, "exit_reason"] == "force_exit" and not db.loc[1, "is_open"]
    assert db.loc[2, "pair"] == "ETH/USDT:USDT" and db.loc[2, "is_short"] and db.loc[2, "is_open"]
    status, closed = run.api["trades"]
    assert status == 200 and closed["total_trades"] == (~db["is_open"].astype(bool)).sum()
    status, open_trades = run.api["status"]
    assert status == 200 and sorted(t["trade_id"] for t in open_trades) == sorted(
        db.index[db["is_open"].astype(bool)]
    )


@pytest.mark.slow
def test_nothing_left_loopback(run: Run):
    assert "coingecko" not in run.log
    assert re.search(r"Starting HTTP Server at 127\.0\.0\.1:\d+", run.log)
    assert set(re.findall(r"https?://([\w.-]+)", run.log)) <= {"127.0.0.1"}


# ------------------------------------------------------------------------------------------------
# staleness guards: stale open interest and a stale signal candle


@pytest.mark.slow
def test_stale_open_interest_live_falls_back_to_volume_mode(run: Run):
    eth = run.frames["final"]["ETH/USDT:USDT"]
    stale_from = eth["date"].iloc[-1] - ETH_OI_STALE + pd.Timedelta(hours=2)
    stale = eth.loc[eth["date"] >= stale_from, "liq_oi_mode"]
    assert len(stale) >= 4 * 60  # the last four hours at least
    assert stale.eq(0).all()
    assert (
        eth.loc[eth["date"] < stale_from - pd.Timedelta(hours=4), "liq_oi_mode"].eq(1).any()
    )  # was on OI


def test_stale_open_interest_falls_back_to_volume_mode():
    candles = make_candles(576, seed=21)  # two days of 5m candles
    hourly = candles[candles["date"].dt.minute == 0]
    oi = hourly[["date"]].assign(open_interest_value=np.linspace(5e9, 6e9, len(hourly)))
    oi = oi[
        oi["date"] <= candles["date"].iloc[-1] - pd.Timedelta(hours=8)
    ]  # the feed stopped 8 h ago
    frame = strategy_features(candles, STRATEGY_HEATMAP, open_interest=oi)
    fresh = frame["date"] < oi["date"].iloc[-1] + pd.Timedelta(hours=2)
    assert frame.loc[fresh, "liq_oi_mode"].iloc[-1] == 1
    stale = frame.loc[frame["date"] >= oi["date"].iloc[-1] + pd.Timedelta(hours=4), "liq_oi_mode"]
    assert len(stale) >= 4 * 12  # the last four hours of 5m candles at least
    assert stale.eq(0).all()


def test_entry_is_refused_on_a_stale_signal_candle():
    strategy_class = load_strategy_class()
    frame = long_setup()  # the signal candle closes at 2024-01-01 00:40
    book = order_book(1.0, 1.0)
    strategy = make_strategy(strategy_class, frame, runmode=RunMode.DRY_RUN, book=book)
    an_hour_late = datetime(2024, 1, 1, 1, 40, tzinfo=UTC)

    def confirm(now: datetime) -> bool:
        order = ("BTC/USDT:USDT", "limit", 1.0, 976.0, "GTC", now, "liq_long_exhaustion", "long")
        return ft_call(strategy.confirm_trade_entry, *order)

    assert confirm(an_hour_late) is False
    assert confirm(an_hour_late - timedelta(hours=1)) is True
