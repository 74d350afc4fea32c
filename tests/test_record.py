"""The liquidation recorder: side conventions, and end to end against the offline exchange's streams."""

from __future__ import annotations

import asyncio
import json
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from liq_indicator.errors import ConfigError, InputError
from liq_indicator.io import liquidations as store
from liq_indicator.offline import running_exchange
from liq_indicator.offline.overlay import ccxt_ws_urls, ws_markets
from liq_indicator.offline.server import OKX_CONTRACT_SIZE
from liq_indicator.record import (
    DiskFloorError,
    Recorder,
    RecorderSettings,
    liquidated_side,
    make_exchange,
    to_events,
)
from tests.conftest import SHARED_DATA, needs_shared_data

PAIR = "BTC/USDT:USDT"


@pytest.mark.parametrize(
    ("venue", "side", "expected"),
    [
        ("binance", "SELL", "long"),  # the liquidation order sells: a long is closed
        ("binance", "BUY", "short"),
        ("okx", "sell", "long"),
        ("okx", "buy", "short"),
        ("bybit", "Buy", "long"),  # Bybit names the position: Buy = a long was liquidated
        ("bybit", "Sell", "short"),
    ],
)
def test_side_is_the_position_liquidated(venue: str, side: str, expected: str) -> None:
    assert liquidated_side(venue, side) == expected


def test_unknown_side_or_venue_is_refused() -> None:
    with pytest.raises(InputError, match="known venues"):
        liquidated_side("kraken", "buy")
    with pytest.raises(InputError, match="sides buy/sell"):
        liquidated_side("binance", "long")


def test_okx_messages_with_several_fills_keep_them_all() -> None:
    info = {
        "instId": "BTC-USDT-SWAP",
        "details": [
            {"side": "sell", "sz": "3", "bkPx": "100", "ts": "1000"},
            {"side": "buy", "sz": "5", "bkPx": "110", "ts": "2000"},
        ],
    }
    liq = {"info": info, "symbol": PAIR, "contractSize": 0.01, "contracts": 3.0, "price": 100.0}
    events = to_events("okx", [liq], received_ms=7)
    assert [(e["side"], e["amount"], e["usd"], e["ts"]) for e in events] == [
        ("long", pytest.approx(0.03), pytest.approx(3.0), 1000),
        ("short", pytest.approx(0.05), pytest.approx(5.5), 2000),
    ]


def test_bybit_needs_pairs() -> None:
    with pytest.raises(ConfigError, match="Bybit has no whole-market"):
        Recorder({"bybit": Path(".")}, {"bybit": object()}, pairs=())


@pytest.mark.parametrize(
    ("changes", "match"),
    [
        ({"min_free_mb": float("nan")}, r"RecorderSettings\.min_free_mb must be a finite number"),
        ({"flush_seconds": "10"}, r"RecorderSettings\.flush_seconds must be a finite number"),
        ({"min_free_mb": -1.0}, r"RecorderSettings\.min_free_mb must be >= 0, got -1\.0"),
        ({"settle_seconds": -0.5}, r"RecorderSettings\.settle_seconds must be >= 0"),
        ({"stall_seconds": 0}, r"RecorderSettings\.stall_seconds must be > 0 seconds"),
        ({"backoff_max": True}, r"RecorderSettings\.backoff_max must be a finite number"),
    ],
)
def test_bad_recorder_settings_name_the_field(changes: dict, match: str) -> None:
    with pytest.raises(ConfigError, match=match):
        RecorderSettings(**changes)
    with pytest.raises(ConfigError, match=match):
        RecorderSettings().replace(**changes)


def test_recorder_settings_are_the_package_settings() -> None:
    settings = RecorderSettings(flush_seconds=5, min_free_mb=np.float64(0.0))
    assert settings.to_dict()["flush_seconds"] == 5 and type(settings.min_free_mb) is float
    assert settings.replace(stall_seconds=30.0).stall_seconds == 30.0
    with pytest.raises(ConfigError, match="unknown RecorderSettings field"):
        settings.replace(flush_secs=1.0)


def test_recording_without_ccxt_names_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    from liq_indicator.offline import overlay

    monkeypatch.setitem(sys.modules, "ccxt", None)  # as if ccxt were not installed
    overlay._ccxt_apis.cache_clear()  # read from ccxt on first use: forget an earlier read
    install = r"needs ccxt, which is not installed.*pip install 'liq-indicator\[freqtrade\]'"
    with pytest.raises(InputError, match=rf"recording liquidations {install}"):
        make_exchange("binance")
    with pytest.raises(InputError, match=rf"the offline exchange's overlay {install}"):
        overlay.ccxt_api_urls("http://127.0.0.1:9")
    overlay._ccxt_apis.cache_clear()


def _candles(root: Path, start: pd.Timestamp, days: int) -> Path:
    futures = root / "futures"
    futures.mkdir(parents=True)
    dates = pd.date_range(start.floor("D"), periods=days * 288, freq="5min", unit="ms")
    close = np.full(len(dates), 100_000.0)
    pd.DataFrame(
        {"date": dates, "open": close, "high": close, "low": close, "close": close, "volume": 1.0}
    ).to_feather(futures / "BTC_USDT_USDT-5m-futures.feather")
    return root


def _fills(n: int, seed: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    start = pd.Timestamp("2025-05-25 15:00", tz="UTC")
    offsets = np.sort(rng.integers(0, 3 * 3_600_000, n))
    return pd.DataFrame(
        {
            "date": start + pd.to_timedelta(offsets, unit="ms"),
            "side": rng.choice(["long", "short"], n),
            "price": np.round(rng.uniform(95_000, 105_000, n), 1),
            "size_usd": np.round(rng.lognormal(8, 1.5, n), 2),
        }
    )


async def _record(url: str, ex, datadirs: dict[str, Path], n: int, drop_at: int) -> Recorder:
    exchanges = {
        v: make_exchange(
            v, ws_urls=ccxt_ws_urls(url, v), markets=ws_markets(v, ["BTCUSDT"], OKX_CONTRACT_SIZE)
        )
        for v in datadirs
    }
    settings = RecorderSettings(
        flush_seconds=0.2,
        health_seconds=0.5,
        min_free_mb=0,
        backoff_initial=0.1,
        settle_seconds=0.2,
        stall_seconds=3.0,
    )
    rec = Recorder(datadirs, exchanges, pairs=[PAIR], settings=settings)

    async def watch() -> None:
        dropped = False
        for _ in range(600):
            await asyncio.sleep(0.05)
            got = {v: rec.received[v] for v in datadirs}
            if not dropped and min(got.values()) >= drop_at:
                assert await asyncio.to_thread(ex.drop_websockets) >= 1
                dropped = True
            if dropped and min(got.values()) >= n:
                break
        rec.stop()

    await asyncio.gather(rec.run(max_seconds=40), watch())
    return rec


IN_FLIGHT = 3
"""Events a dropped connection may lose: one in flight when the socket closes (as on a real
exchange) is gone; the recorder cannot know which, so it logs the downtime as a gap."""


def _check_venue(datadir: Path, fills: pd.DataFrame, venue: str) -> None:
    events = store.read_events(datadir)
    assert len(fills) - IN_FLIGHT <= len(events) <= len(fills), venue
    assert set(events["exchange"]) == {venue}
    want = fills.assign(ts=fills["date"].astype("int64") // 1000)
    # every recorded event is one of the fills, with its side and USD (nothing invented or doubled)
    joined = events.merge(want, on=["ts", "price"], how="left", validate="one_to_one")
    assert joined["size_usd"].notna().all(), venue
    assert (joined["side_x"] == joined["side_y"]).all(), venue
    np.testing.assert_allclose(joined["usd"], joined["size_usd"], rtol=1e-9)
    # the 1m file equals the recorded events summed per minute, and resamples to any bar
    minutes = store.load_liquidations(store.liquidations_file(datadir, PAIR), "1h", gaps=False)
    got = events.assign(date=pd.to_datetime(events["ts"], unit="ms", utc=True))
    per_hour = (
        got.groupby([got["date"].dt.floor("1h"), "side"])["usd"]
        .sum()
        .unstack(fill_value=0)
        .reindex(columns=["long", "short"], fill_value=0.0)
    )
    per_hour = per_hour.reindex(pd.DatetimeIndex(minutes.index).tz_convert("UTC"), fill_value=0.0)
    np.testing.assert_allclose(minutes["long_usd"], per_hour["long"].to_numpy(), rtol=1e-9)
    np.testing.assert_allclose(minutes["short_usd"], per_hour["short"].to_numpy(), rtol=1e-9)
    gaps = store.load_gaps(datadir)  # the drop: an error, a silent reconnect, or a stalled watch
    assert gaps["reason"].isin(["connection lost", "stream restarted"]).sum() >= 1, venue


def _run_end_to_end(tmp_path: Path, fills: pd.DataFrame) -> Recorder:
    venues = ("binance", "bybit", "okx")
    served = _candles(tmp_path / "served", fills["date"].min(), days=2)
    datadirs = {v: tmp_path / "user_data" / "data" / v for v in venues}
    with running_exchange(served, max_seconds=120, liquidations=fills, liquidation_rate=400) as ex:
        rec = asyncio.run(_record(ex.url, ex, datadirs, len(fills), drop_at=len(fills) // 3))
    for v in venues:
        _check_venue(datadirs[v], fills, v)
    return rec


def test_recorder_records_every_fill_of_three_venues_across_a_dropped_connection(
    tmp_path: Path,
) -> None:
    fills = _fills(300, seed=3)
    rec = _run_end_to_end(tmp_path, fills)
    assert "binance: " in rec.health_line("binance", 1.0)


class _SilentlyReconnecting:
    """A venue whose server closes the socket between two batches: ccxt raises nothing then,
    it drops the client and the next watch dials a new one (seen in CI on the real stack)."""

    def __init__(self) -> None:
        self.clients: dict[str, object] = {"wss://x": object()}
        self.markets: dict[str, dict[str, float]] = {}
        self.calls = 0

    async def watch_liquidations_for_symbols(self, symbols: object = None) -> list[dict]:
        self.calls += 1
        await asyncio.sleep(0.01)
        if self.calls == 3:
            self.clients["wss://x"] = object()  # a new connection, no exception on the way
        liq = {"symbol": PAIR, "timestamp": 60_000 * self.calls, "side": "sell"}
        return [{**liq, "price": 100.0 + self.calls, "contracts": 1.0, "info": {"S": "SELL"}}]

    async def close(self) -> None:
        return None


def _record_until(d: Path, ex: _SilentlyReconnecting, calls: int, **settings: float) -> None:
    """Record ``ex`` into ``d`` until it has been watched ``calls`` times, then stop."""
    chosen = RecorderSettings(**{"min_free_mb": 0, "backoff_initial": 0.05, **settings})
    rec = Recorder({"binance": d}, {"binance": ex}, pairs=[PAIR], settings=chosen)

    async def go() -> None:
        async def stop_later() -> None:
            while ex.calls < calls:
                await asyncio.sleep(0.01)
            rec.stop()

        await asyncio.gather(rec.run(max_seconds=10), stop_later())

    asyncio.run(go())


def test_a_reconnect_without_an_error_is_still_written_as_a_gap(tmp_path: Path) -> None:
    d = tmp_path / "binance"
    _record_until(d, _SilentlyReconnecting(), 5)
    gaps = store.load_gaps(d)
    assert gaps["reason"].tolist() == ["connection lost"]
    assert len(store.read_events(d)) >= 4  # the batches on both sides of the reconnect are kept


class _Down(_SilentlyReconnecting):
    async def watch_liquidations_for_symbols(self, symbols: object = None) -> list[dict]:
        import ccxt

        self.calls += 1
        raise ccxt.NetworkError("connection refused")


class _Stalling(_SilentlyReconnecting):
    """Its second watch never returns (a socket that died without ccxt noticing)."""

    def __init__(self) -> None:
        super().__init__()
        self.closed = 0

    async def watch_liquidations_for_symbols(self, symbols: object = None) -> list[dict]:
        if self.calls == 1 and self.closed == 0:
            self.calls += 1
            await asyncio.sleep(3600)
        return await super().watch_liquidations_for_symbols(symbols)

    async def close_ws_clients(self) -> None:
        self.closed += 1


def test_a_watch_that_stalls_is_restarted_on_new_connections(tmp_path: Path) -> None:
    d = tmp_path / "binance"
    ex = _Stalling()
    _record_until(d, ex, 6, stall_seconds=0.3)
    assert ex.closed == 1
    assert store.load_gaps(d)["reason"].tolist() == ["stream restarted"]
    assert len(store.read_events(d)) >= 4  # recording went on after the restart


def test_a_stop_while_the_stream_is_down_writes_the_downtime_as_a_gap(tmp_path: Path) -> None:
    d = tmp_path / "binance"
    _record_until(d, _Down(), 2)
    assert store.load_gaps(d)["reason"].tolist() == ["connection lost"]


@needs_shared_data
def test_recorder_replays_the_real_hyperliquid_fills(tmp_path: Path) -> None:
    from liq_indicator.research.truth import load_fills

    fills = load_fills(SHARED_DATA / "truth" / "btc_liquidation_events_hyperliquid_2025-05.csv")
    # fills of one side, price and millisecond would be one event to the store (same key)
    fills = fills.drop_duplicates(["date", "side", "price", "size_usd"]).reset_index(drop=True)
    _run_end_to_end(tmp_path, fills[["date", "side", "price", "size_usd"]])


class _OneBatch:
    """A ccxt.pro client stand-in: its whole-market stream delivers ``batch`` once, then nothing."""

    def __init__(self, batch: list[dict]) -> None:
        self.batch = batch

    async def watch_liquidations_for_symbols(self, symbols: list[str] | None) -> list[dict]:
        if self.batch:
            batch, self.batch = self.batch, []
            return batch
        await asyncio.Event().wait()  # quiet until the recorder stops
        return []

    async def close(self) -> None:
        pass


def test_a_restart_writes_the_downtime_as_a_gap_and_rewrites_nothing(tmp_path: Path) -> None:
    d = tmp_path / "binance"
    ev = store.events_frame(
        [
            {
                "ts": 60_000 * i,
                "exchange": "binance",
                "pair": PAIR,
                "side": "long",
                "price": 10.0,
                "amount": 1.0,
                "usd": 10.0,
                "received": 0,
            }
            for i in range(3)
        ]
    )
    store.write_events(d, ev)
    store.rebuild_minutes(d, 0, 180_000)
    before = store.liquidations_file(d, PAIR).read_bytes()
    (store.raw_dir(d) / "recorder.json").write_text(json.dumps({"until_ms": 1_000}))
    # the same three liquidations arrive again after the restart (Binance: the order sells)
    again = [
        {
            "symbol": PAIR,
            "timestamp": 60_000 * i,
            "price": 10.0,
            "contracts": 1.0,
            "info": {"S": "SELL"},
        }
        for i in range(3)
    ]
    rec = Recorder({"binance": d}, {"binance": _OneBatch(again)}, clock=lambda: 61.0)
    assert asyncio.run(rec.run(max_seconds=0.5)) == {"binance": 3}
    assert rec.received["binance"] == 3
    assert store.liquidations_file(d, PAIR).read_bytes() == before
    assert len(store.read_events(d)) == 3
    gaps = store.load_gaps(d)
    assert gaps["reason"].tolist() == ["recorder not running"]
    assert gaps["end"].iloc[0] - gaps["start"].iloc[0] == pd.Timedelta(seconds=60)


def test_the_disk_floor_stops_the_recorder_with_a_clear_error(tmp_path: Path) -> None:
    d = tmp_path / "binance"
    rec = Recorder(
        {"binance": d}, {"binance": _OneBatch([])}, settings=RecorderSettings(min_free_mb=1e15)
    )
    with pytest.raises(DiskFloorError, match="recording stopped"):
        asyncio.run(rec.run(max_seconds=30))
    assert store.load_gaps(d)["reason"].str.startswith("disk space floor").all()


def test_the_record_command_writes_the_minutes_beside_the_candles(tmp_path: Path) -> None:
    from liq_indicator.cli import main

    fills = _fills(40, seed=5)
    served = _candles(tmp_path / "served", fills["date"].min(), days=2)
    root = tmp_path / "user_data" / "data"
    with running_exchange(served, max_seconds=60, liquidations=fills, liquidation_rate=400) as ex:
        code = main(
            [
                "record",
                "--offline",
                ex.url,
                "--exchanges",
                "binance",
                "--pairs",
                PAIR,
                "--datadir",
                str(root),
                "--max-seconds",
                "4",
                "--flush-seconds",
                "0.2",
                "--min-free-mb",
                "0",
            ]
        )
    assert code == 0
    events = store.read_events(root / "binance")
    assert 0 < len(events) <= len(fills)
    minutes = store.load_liquidations(
        store.liquidations_file(root / "binance", PAIR), "1m", gaps=False
    )
    assert minutes["long_usd"].sum() + minutes["short_usd"].sum() == pytest.approx(
        events["usd"].sum()
    )


def test_recorded_minutes_are_a_truth_series_without_the_gaps(tmp_path: Path) -> None:
    from liq_indicator.research.truth import recorded_truth

    datadir = tmp_path / "binance"
    t0 = pd.Timestamp("2025-05-25 15:00", tz="UTC").value // 1_000_000
    rows = [
        {
            "ts": t0 + k * 600_000,
            "exchange": "binance",
            "pair": PAIR,
            "side": side,
            "price": 100.0,
            "amount": 1.0,
            "usd": 100.0,
            "received": t0,
        }
        for k, side in enumerate(
            ["long", "short", "long", "long", "short", "short", "long", "long"]
        )
    ]
    store.write_events(datadir, store.events_frame(rows))
    store.rebuild_minutes(datadir, t0, t0 + 3 * 3_600_000)
    store.append_gaps(
        datadir,
        pd.DataFrame(
            [
                {
                    "start": pd.Timestamp("2025-05-25 16:10", tz="UTC"),
                    "end": pd.Timestamp("2025-05-25 16:20", tz="UTC"),
                    "pair": "*",
                    "reason": "connection lost",
                }
            ]
        ),
    )
    truth = recorded_truth(store.liquidations_file(datadir, PAIR), "1h")
    assert truth.venue == "binance" and truth.bar == pd.Timedelta("1h")
    # hour 15: 6 events of 100 (3 long at :00 :20 :30, ...); hour 16 overlaps the gap: left out
    assert list(truth.frame.index.hour) == [15]
    assert truth.frame.iloc[0].tolist() == [300.0, 300.0]


def test_the_exchange_reads_fills_to_replay_and_names_bad_ones(tmp_path: Path) -> None:
    from liq_indicator.errors import InputError
    from liq_indicator.offline.command import read_fills

    good = tmp_path / "fills.csv"
    _fills(5, seed=1).rename(columns={"date": "timestamp"}).to_csv(good, index=False)
    fills = read_fills(good)
    assert list(fills.columns) == ["date", "side", "price", "size_usd"]
    assert fills["date"].is_monotonic_increasing and len(fills) == 5
    bad = tmp_path / "bad.csv"
    bad.write_text("timestamp,side,price,size_usd\n2025-05-25T15:00:00Z,S,100,5\n")
    with pytest.raises(InputError, match="use long/short"):
        read_fills(bad)
    bad.write_text("timestamp,price\n2025-05-25T15:00:00Z,100\n")
    with pytest.raises(InputError, match="lacks side, size_usd"):
        read_fills(bad)
