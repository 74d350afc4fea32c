"""The long-running recorder: liquidation streams -> disk, surviving drops, restarts and full disks.

One task per stream (Binance and OKX: one whole-market or multi-pair stream; Bybit: one per
pair, it has no whole-market stream). Each task calls ccxt.pro's ``watch_liquidations*`` in a
loop; a failure is logged, retried with exponential backoff, and the time the stream was down is
written to the gaps file. Every ``flush_seconds`` the events are written (raw parquet first, then
the 1m files recomputed from it, see :mod:`liq_indicator.io.liquidations`), so a crash loses at
most one flush and a restart re-records nothing twice. The time the recorder was not running
(from the last flush of the previous run to this start) is written as a gap too. Below
``min_free_mb`` of free disk it flushes, writes a gap and stops with an error.

ccxt resolves a watch call with the one message that woke it; messages arriving before the next
call are only in its cache (``exchange.liquidations``), so events are taken from that cache by
identity, not from the return value.
"""

from __future__ import annotations

import asyncio
import json
import logging
import shutil
import time
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

import pandas as pd

from liq_indicator.config import Settings
from liq_indicator.errors import ConfigError
from liq_indicator.io import liquidations as store
from liq_indicator.io.extras import import_extra
from liq_indicator.record.normalise import SIDE_CONVENTION, to_events

__all__ = ["DiskFloorError", "Recorder", "RecorderSettings", "make_exchange"]

logger = logging.getLogger(__name__)

#: ccxt.pro class of each venue.
CCXT_CLASSES = {"binance": "binanceusdm", "bybit": "bybit", "okx": "okx"}
_STATE_FILE = "recorder.json"


class DiskFloorError(ConfigError):
    """Free disk space fell below the recorder's floor; it stopped after a last flush."""


@dataclass(frozen=True)
class RecorderSettings(Settings):
    """How the recorder flushes, reports and retries.

    Construct with keywords and change with :meth:`replace`; a bad value (NaN, a string, out of
    range) raises :class:`~liq_indicator.errors.ConfigError` naming the field.
    """

    flush_seconds: float = 10.0
    """Seconds between writes to disk (the most a crash can lose)."""
    health_seconds: float = 60.0
    """Seconds between health lines (events per second, seconds with an event, gaps)."""
    min_free_mb: float = 500.0
    """Stop (after a last flush and a gap row) when the datadir's disk has less free space."""
    backoff_initial: float = 1.0
    """First wait before a reconnect, seconds; doubled after each failure."""
    backoff_max: float = 60.0
    """Longest wait between reconnects, seconds."""
    settle_seconds: float = 2.0
    """A reconnect counts as done when the new watch call stays up this long (or delivers)."""
    stall_seconds: float = 300.0
    """A watch that delivers nothing for this long is restarted on fresh connections: a socket
    can die without ccxt noticing (seen once in CI: one venue's watch never returned after a
    dropped connection). A quiet market costs one brief reconnect per period; only the restart
    itself is written as a gap ("stream restarted"), not the quiet time before it."""

    def __post_init__(self) -> None:
        self.check_types()  # finite numbers only, so the checks below never meet NaN or a string
        for name in (
            "flush_seconds",
            "health_seconds",
            "backoff_initial",
            "backoff_max",
            "stall_seconds",
        ):
            if not getattr(self, name) > 0:
                raise ConfigError(
                    f"RecorderSettings.{name} must be > 0 seconds, got {getattr(self, name)!r}"
                )
        for name in ("min_free_mb", "settle_seconds"):
            if getattr(self, name) < 0:
                raise ConfigError(
                    f"RecorderSettings.{name} must be >= 0, got {getattr(self, name)!r}"
                )


def make_exchange(
    venue: str, *, ws_urls: Any = None, markets: Sequence[Mapping[str, Any]] | None = None
) -> Any:
    """A ccxt.pro client of ``venue``'s USDT perpetuals.

    Args:
        venue: ``binance`` (USDT-M), ``bybit`` or ``okx``.
        ws_urls: replaces ``urls["api"]["ws"]`` (e.g. the offline exchange's,
            :func:`liq_indicator.offline.overlay.ccxt_ws_urls`).
        markets: unified markets to use instead of ``load_markets`` (no REST call then).

    Raises:
        ConfigError: an unknown venue.
        InputError: ccxt is not installed (the message says how to install it).
    """
    if venue not in CCXT_CLASSES:
        raise ConfigError(f"--exchanges: {venue!r} is not one of {', '.join(CCXT_CLASSES)}")
    ccxtpro = import_extra("ccxt.pro", "freqtrade", "recording liquidations")
    options: dict[str, Any] = {"liquidationsLimit": 100_000}
    if venue != "okx":
        options["defaultType"] = "swap"
    exchange = getattr(ccxtpro, CCXT_CLASSES[venue])({"enableRateLimit": True, "options": options})
    if ws_urls is not None:
        exchange.urls["api"]["ws"] = ws_urls
    if markets is not None:
        exchange.set_markets(list(markets))
    return exchange


async def _close_sockets(exchange: Any) -> None:
    """Close ``exchange``'s websocket clients (ccxt dials new ones on the next watch)."""
    close = getattr(exchange, "close_ws_clients", None)
    if close is not None:
        try:
            await close()
        except Exception as exc:  # a dead socket may fail to close: it is dropped either way
            logger.info("closing websockets: %s", exc)
    clients = getattr(exchange, "clients", None)
    if isinstance(clients, dict):
        clients.clear()


def _clients(exchange: Any) -> dict[str, Any]:
    """An exchange's open websocket clients, by URL (held, so identity comparisons stay valid)."""
    return dict(getattr(exchange, "clients", None) or {})


@dataclass
class _Health:
    events: int = 0
    seconds: set[tuple[str, int]] = field(default_factory=set)
    per_second: Counter[tuple[str, int]] = field(default_factory=Counter)
    gaps: int = 0


class Recorder:
    """Records liquidations of several venues into their Freqtrade datadirs.

    Args:
        datadirs: venue -> that exchange's datadir (``user_data/data/binance``).
        exchanges: venue -> ccxt.pro client (:func:`make_exchange`).
        pairs: ccxt symbols (``BTC/USDT:USDT``) to record; empty: Binance's and OKX's whole
            market (Bybit needs pairs).
        settings: see :class:`RecorderSettings`.
        clock: seconds since the epoch; injectable for tests.

    Raises:
        ConfigError: Bybit without pairs, or a venue without a datadir.
    """

    def __init__(
        self,
        datadirs: Mapping[str, Path],
        exchanges: Mapping[str, Any],
        pairs: Sequence[str] = (),
        settings: RecorderSettings | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        missing = sorted(set(exchanges) - set(datadirs))
        if missing:
            raise ConfigError(f"no datadir for {missing}")
        if "bybit" in exchanges and not pairs:
            raise ConfigError(
                "Bybit has no whole-market liquidation stream; pass --pairs (e.g. "
                "BTC/USDT:USDT ETH/USDT:USDT) to record Bybit"
            )
        self.datadirs = {v: Path(d) for v, d in datadirs.items()}
        self.exchanges = dict(exchanges)
        self.pairs = list(pairs)
        self.settings = settings or RecorderSettings()
        self._clock = clock
        self._buffer: dict[str, list[dict[str, Any]]] = {v: [] for v in exchanges}
        self._gaps: dict[str, list[dict[str, Any]]] = {v: [] for v in exchanges}
        self._seen: dict[str, dict[int, Any]] = {v: {} for v in exchanges}
        self._health = {v: _Health() for v in exchanges}
        self._stop = asyncio.Event()
        self._error: BaseException | None = None
        #: Events taken from the streams so far, per venue (written, or waiting for the next flush).
        self.received: Counter[str] = Counter()
        #: Events written so far, per venue.
        self.written: Counter[str] = Counter()
        #: Gap rows written so far, per venue.
        self.gap_rows: Counter[str] = Counter()

    # -- running ---------------------------------------------------------------------------

    def stop(self) -> None:
        """Ask :meth:`run` to flush and return (call from the recorder's event loop)."""
        self._stop.set()

    async def run(self, max_seconds: float | None = None) -> Counter[str]:
        """Record until :meth:`stop`, ``max_seconds``, or a fatal error; returns events written.

        Raises:
            DiskFloorError: the disk fell below the floor (after the last flush).
            ConfigError: a stream the venue refuses (bad pair, unsupported).
        """
        self._stop = asyncio.Event()
        start_ms = self._now_ms()
        for venue in self.exchanges:
            self._note_downtime(venue, start_ms)
        self._check_disk()
        tasks = [asyncio.ensure_future(self._stream(v, s)) for v, s in self._streams()]
        tasks.append(asyncio.ensure_future(self._flusher()))
        tasks.append(asyncio.ensure_future(self._reporter()))
        try:
            await asyncio.wait_for(self._stop.wait(), max_seconds)
        except TimeoutError:
            pass
        finally:
            for t in tasks:
                t.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            self._flush()
            for ex in self.exchanges.values():
                await ex.close()
        if self._error is not None:
            raise self._error
        return self.written

    def _streams(self) -> list[tuple[str, Callable[[], Any]]]:
        out: list[tuple[str, Callable[[], Any]]] = []
        for venue, ex in self.exchanges.items():
            if venue == "bybit":
                for pair in self.pairs:
                    out.append((venue, partial(ex.watch_liquidations, pair)))
            else:
                out.append((venue, partial(ex.watch_liquidations_for_symbols, self.pairs or None)))
        return out

    async def _stream(self, venue: str, call: Callable[[], Any]) -> None:
        import ccxt.pro as ccxtpro

        s = self.settings
        delay = s.backoff_initial
        down_since: int | None = None
        reconnect_at = 0
        ex = self.exchanges[venue]
        # The websocket clients seen at the last batch. ccxt drops a connection the server closed
        # while no watch was pending without raising (the next watch simply dials again): a changed
        # client object is that silent reconnect, and its downtime is written as a gap too.
        clients: dict[str, Any] | None = None
        last_ms = self._now_ms()
        while not self._stop.is_set():
            try:
                task = asyncio.ensure_future(call())
                if down_since is not None:
                    done, _ = await asyncio.wait({task}, timeout=s.settle_seconds)
                    if not (done and task.exception() is not None):  # it stayed up: back
                        self._gap(venue, down_since, reconnect_at, "connection lost")
                        logger.info(
                            "%s: stream back after %.1f s",
                            venue,
                            (reconnect_at - down_since) / 1000,
                        )
                        down_since = None
                try:
                    batch = await asyncio.wait_for(task, s.stall_seconds)
                except TimeoutError:  # wait_for cancelled the watch: start over on new sockets
                    logger.warning(
                        "%s: no data for %g s; restarting the stream on new connections",
                        venue,
                        s.stall_seconds,
                    )
                    stalled = self._now_ms()
                    await _close_sockets(ex)
                    self._gap(venue, stalled, self._now_ms(), "stream restarted")
                    clients = None
                    continue
                delay = s.backoff_initial
                now_clients = _clients(ex)
                if clients is not None and any(
                    now_clients.get(url) is not c for url, c in clients.items()
                ):
                    self._gap(venue, last_ms, self._now_ms(), "connection lost")
                    logger.info(
                        "%s: stream reconnected (the server closed it between batches)", venue
                    )
                clients = now_clients
                last_ms = self._now_ms()
                self._drain(venue, batch)
            except asyncio.CancelledError:
                if down_since is not None:  # stopped while still down: the downtime is a gap
                    self._gap(venue, down_since, self._now_ms(), "connection lost")
                raise
            except (ccxtpro.BadSymbol, ccxtpro.NotSupported, ccxtpro.ArgumentsRequired) as exc:
                self._error = ConfigError(f"{venue} refuses the liquidation stream: {exc}")
                self._stop.set()
                return
            except Exception as exc:  # network loss, exchange errors: retry
                if down_since is None:
                    down_since = self._now_ms()
                clients = None  # the reconnect below is expected and logged on its own
                logger.warning("%s: stream failed (%s); reconnecting in %g s", venue, exc, delay)
                try:
                    await asyncio.wait_for(self._stop.wait(), delay)
                    self._gap(venue, down_since, self._now_ms(), "connection lost")
                    return
                except TimeoutError:
                    pass
                reconnect_at = self._now_ms()
                delay = min(delay * 2, s.backoff_max)
        return

    def _drain(self, venue: str, batch: Any) -> None:
        """Take the events ccxt cached since the last drain (by identity), else the batch."""
        cache = getattr(self.exchanges[venue], "liquidations", None)
        items = list(cache) if cache is not None else list(batch or [])
        seen = self._seen[venue]
        new = [o for o in items if id(o) not in seen]
        self._seen[venue] = {id(o): o for o in items}  # keeps them alive: ids stay unique
        markets = getattr(self.exchanges[venue], "markets", None) or {}
        sizes = {sym: float(m.get("contractSize") or 1.0) for sym, m in markets.items()}
        events = to_events(venue, new, self._now_ms(), sizes)
        self._buffer[venue].extend(events)
        self.received[venue] += len(events)
        h = self._health[venue]
        h.events += len(events)
        for ev in events:
            key = (ev["pair"], ev["ts"] // 1000)
            h.seconds.add(key)
            h.per_second[key] += 1

    # -- gaps, flushing, health --------------------------------------------------------------

    def _now_ms(self) -> int:
        return int(self._clock() * 1000)

    def _gap(self, venue: str, start_ms: int, end_ms: int, reason: str) -> None:
        self._gaps[venue].append(
            {
                "start": pd.Timestamp(start_ms, unit="ms", tz="UTC"),
                "end": pd.Timestamp(max(end_ms, start_ms), unit="ms", tz="UTC"),
                "pair": "*",
                "reason": reason,
            }
        )
        self._health[venue].gaps += 1

    def _note_downtime(self, venue: str, now_ms: int) -> None:
        """A gap from the previous run's last flush to now, if there was a previous run."""
        path = store.raw_dir(self.datadirs[venue]) / _STATE_FILE
        try:
            last = int(json.loads(path.read_text(encoding="utf-8"))["until_ms"])
        except (OSError, ValueError, KeyError, TypeError):
            return
        if now_ms > last:
            self._gap(venue, last, now_ms, "recorder not running")
            logger.warning(
                "%s: recorder was not running for %.0f s (since %s); written as a gap",
                venue,
                (now_ms - last) / 1000,
                pd.Timestamp(last, unit="ms", tz="UTC"),
            )

    def _check_disk(self) -> None:
        for venue, d in self.datadirs.items():
            probe = d
            while not probe.exists() and probe != probe.parent:
                probe = probe.parent
            free_mb = shutil.disk_usage(probe).free / 1e6
            if free_mb < self.settings.min_free_mb:
                now = self._now_ms()
                self._gap(venue, now, now, "disk space floor: recorder stopped")
                self._error = DiskFloorError(
                    f"only {free_mb:.0f} MB free on the disk of {d} (floor "
                    f"{self.settings.min_free_mb:g} MB); recording stopped. Free space or lower "
                    "--min-free-mb, then start it again (the downtime is logged as a gap)"
                )
                logger.error("%s", self._error)
                self._stop.set()
                return

    def _flush(self) -> None:
        now = self._now_ms()
        for venue, d in self.datadirs.items():
            events = self._buffer[venue]
            if events:
                frame = store.events_frame(events)
                store.write_events(d, frame)
                store.rebuild_minutes(d, int(frame["ts"].min()), int(frame["ts"].max()) + 1)
                self.written[venue] += len(events)
                self._buffer[venue] = []
            if self._gaps[venue]:
                store.append_gaps(d, pd.DataFrame(self._gaps[venue]))
                self.gap_rows[venue] += len(self._gaps[venue])
                self._gaps[venue] = []
            state = store.raw_dir(d) / _STATE_FILE
            state.parent.mkdir(parents=True, exist_ok=True)
            tmp = state.with_name(f".{state.name}.tmp")
            tmp.write_text(json.dumps({"until_ms": now}), encoding="utf-8")
            tmp.replace(state)

    async def _flusher(self) -> None:
        last_day = self._now_ms() // 86_400_000
        while True:
            await asyncio.sleep(self.settings.flush_seconds)
            self._check_disk()
            self._flush()
            day = self._now_ms() // 86_400_000
            if day != last_day:  # a day is over: merge its part files
                for d in self.datadirs.values():
                    store.compact_day(d, pd.Timestamp(last_day * 86_400_000, unit="ms", tz="UTC"))
                last_day = day

    def health_line(self, venue: str, seconds: float) -> str:
        """One line: events per second, seconds with an event, the most in one pair-second."""
        h = self._health[venue]
        busiest = max(h.per_second.values(), default=0)
        cap = (
            " (venue pushes at most 1 per pair-second)" if SIDE_CONVENTION[venue] == "order" else ""
        )
        return (
            f"{venue}: {h.events} events in {seconds:.0f} s ({h.events / seconds:.2f}/s), "
            f"{len(h.seconds)} pair-seconds with an event, at most {busiest} in one{cap}; "
            f"{h.gaps} gap(s); {self.written[venue]} written"
        )

    async def _reporter(self) -> None:
        while True:
            await asyncio.sleep(self.settings.health_seconds)
            for venue in self.exchanges:
                logger.info("%s", self.health_line(venue, self.settings.health_seconds))
                self._health[venue] = _Health()
