"""brackets.py and io/tiers.py: tiers for any pair and venue, the four formulas against Freqtrade's
own code, the pair's caps on the map's tiers, and the tiers command (no network: a fake ccxt)."""

from __future__ import annotations

import json
import math
import sys
import warnings
from importlib import resources
from typing import Any

import numpy as np
import pandas as pd
import pytest

from liq_indicator import brackets
from liq_indicator.brackets import (
    VENUES,
    available_exchanges,
    clear_registered_tiers,
    get_brackets,
    liquidation_price,
    max_effective_leverage,
    register_tiers,
    tier_leverages,
)
from liq_indicator.cli import main
from liq_indicator.config import HeatmapConfig
from liq_indicator.core.grid import bin_width
from liq_indicator.core.model import kernel_params
from liq_indicator.errors import ConfigError, DataWarning, InputError
from liq_indicator.io import tiers as io_tiers

PAIRS = [
    f"{base}/USDT:USDT"
    for base in (
        "BTC", "ETH", "SOL", "XRP", "DOGE", "1000PEPE", "WIF", "BNB", "ADA", "AVAX",
        "LINK", "LTC", "DOT", "TRX", "SUI", "ARB", "OP", "NEAR", "APT", "FIL",
    )
]  # fmt: skip
ENTRY = {"BTC": 67_000.0, "ETH": 3_100.0, "1000PEPE": 0.0123, "DOGE": 0.17, "WIF": 2.1}


@pytest.fixture(autouse=True)
def _no_registered_tiers():
    clear_registered_tiers()
    yield
    clear_registered_tiers()


def _entry(pair: str) -> float:
    return ENTRY.get(pair.split("/")[0], 13.7)


def _positions(pair: str) -> list[tuple[float, float]]:
    """(notional, leverage) in the first, second and fourth tiers: mid-tier and at its floor, at
    10x (or the tier's maximum if lower) and at the tier's maximum leverage."""
    table = get_brackets("binance", pair=pair)
    out = []
    for b in (table.brackets[0], table.brackets[1], table.brackets[3]):
        for notional in ((b.floor + b.cap) / 2, max(b.floor, 1_000.0)):
            out += [(notional, min(10.0, b.max_leverage)), (notional, b.max_leverage)]
    return out


# --- Freqtrade's own Exchange objects, offline ----------------------------------------------


def _freqtrade(name: str, tiers: dict[str, list[dict]] | None = None, max_lev: float = 50.0):
    """Freqtrade's exchange class ``name``, dry-run backtest mode, isolated futures; markets and
    tiers given (Binance: its bundled tier file, loaded by its own code)."""
    pytest.importorskip("freqtrade")
    import freqtrade.exchange as fx
    from freqtrade.enums import MarginMode, RunMode, TradingMode

    ex = object.__new__(getattr(fx, name))
    ex._config = {"dry_run": True, "runmode": RunMode.BACKTEST, "stake_currency": "USDT"}
    ex.trading_mode = TradingMode.FUTURES
    ex.margin_mode = MarginMode.ISOLATED
    ex.liquidation_buffer = 0.0
    ex._exchange_ws = None  # read by Exchange.__del__
    ex._leverage_tiers = {}
    names = set(tiers or {}) | set(PAIRS) | {p.replace("USDT", "USDC") for p in PAIRS}
    ex._markets = {
        p: {"inverse": False, "taker": 0.0005, "limits": {"leverage": {"max": max_lev}}}
        for p in names
    }
    if tiers is None:
        ex.fill_leverage_tiers()  # Binance.load_leverage_tiers: the bundled file in dry run
    else:
        ex._leverage_tiers = {p: [ex.parse_leverage_tier(t) for t in ts] for p, ts in tiers.items()}
    return ex


def _theirs(ex, pair, entry, lev, short, notional, stake=None):
    return ex.get_liquidation_price(
        pair,
        open_rate=entry,
        is_short=short,
        amount=notional / entry,
        stake_amount=notional if stake is None else stake,  # the tier is the notional's
        leverage=lev,
        wallet_balance=notional / lev,
    )


def _venue_tiers(venue: str) -> dict[str, list[dict]]:
    """Tiers in ccxt's format for a venue without a bundled file: Binance's bounds, rates and
    leverages, with the venue's own maintenance amount (Bybit mmDeduction; OKX none)."""
    bundled = json.loads(brackets.freqtrade_tier_file().read_text())
    out = {}
    for pair in PAIRS:
        rows = []
        for t in bundled[pair]:
            info = {"mmDeduction": str(t["info"]["cum"])} if venue == "bybit" else {"mmr": "x"}
            rows.append({k: t[k] for k in ("tier", "symbol", "currency", "minNotional",
                                           "maxNotional", "maintenanceMarginRate", "maxLeverage")}
                        | {"info": info})  # fmt: skip
        out[pair] = rows
    return out


@pytest.mark.parametrize("pair", PAIRS)
def test_binance_agrees_with_freqtrade_on_its_bundled_tiers(pair):
    ex = _freqtrade("Binance")
    entry = _entry(pair)
    for notional, lev in _positions(pair):
        for short in (False, True):
            ours = liquidation_price(entry, lev, short, notional, "binance", pair=pair)
            theirs = _theirs(ex, pair, entry, lev, short, notional)
            assert ours == pytest.approx(theirs, rel=1e-9, abs=0), (notional, lev, short)


@pytest.mark.parametrize("venue", ["bybit", "okx"])
def test_bybit_and_okx_agree_with_freqtrade_on_given_tiers(venue):
    tiers = _venue_tiers(venue)
    register_tiers(venue, tiers, "test tiers")
    ex = _freqtrade(venue.capitalize(), tiers)
    compared = 0
    for pair in PAIRS:
        entry = _entry(pair)
        for notional, lev in _positions(pair):
            bracket = get_brackets(venue, pair).lookup(notional)
            for short in (False, True):
                ours = liquidation_price(entry, lev, short, notional, venue, pair=pair)
                theirs = _theirs(ex, pair, entry, lev, short, notional)
                # Freqtrade's Bybit formula omits the maintenance deduction (0 in first tiers)
                gap = (1 if short else -1) * bracket.cum / (notional / entry)
                assert ours == pytest.approx(theirs + gap, rel=1e-9, abs=0), (pair, notional, lev)
                compared += bracket.cum == 0 or venue == "okx"
    assert compared >= 20 * 2 * 4  # at least every first-tier position agrees exactly


def test_hyperliquid_agrees_with_freqtrade():
    for base, max_lev in (("BTC", 40.0), ("ETH", 25.0), ("DOGE", 10.0)):
        pair = f"{base}/USDC:USDC"
        ex = _freqtrade("Hyperliquid", {}, max_lev=max_lev)
        entry = _entry(pair)
        for notional, lev in ((5_000.0, 3.0), (250_000.0, max_lev), (1e8, 1.0)):
            for short in (False, True):
                ours = liquidation_price(entry, lev, short, notional, "hyperliquid", pair=pair)
                theirs = _theirs(ex, pair, entry, lev, short, notional, stake=notional / lev)
                assert ours == pytest.approx(max(theirs, 0.0), rel=1e-9, abs=0)


def test_freqtrades_bot_call_agrees_where_the_stake_is_in_the_notionals_tier():
    # Freqtrade's bot passes the stake (the margin) as the tier's notional: the same tier as the
    # exchange's below the first cap, a lower one for leveraged positions above it
    ex = _freqtrade("Binance")
    ours = liquidation_price(3_100.0, 10, False, 250_000.0, "binance", pair="ETH/USDT:USDT")
    assert ours == pytest.approx(
        _theirs(ex, "ETH/USDT:USDT", 3_100.0, 10, False, 250_000.0, stake=25_000.0), rel=1e-12
    )
    above = liquidation_price(3_100.0, 10, False, 500_000.0, "binance", pair="ETH/USDT:USDT")
    assert above != _theirs(ex, "ETH/USDT:USDT", 3_100.0, 10, False, 500_000.0, stake=50_000.0)


# --- where tiers come from --------------------------------------------------------------------


def test_every_venue_is_available_and_the_pair_keyword_is_the_symbol_keyword():
    assert available_exchanges() == VENUES == ("binance", "bybit", "okx", "hyperliquid")
    by_pair = liquidation_price(2.0, 20, True, 8_000, exchange="binance", pair="WIF/USDT:USDT")
    assert by_pair == liquidation_price(2.0, 20, True, 8_000, symbol="WIF/USDT:USDT")


def test_altcoin_tiers_come_from_freqtrades_file():
    pytest.importorskip("freqtrade")
    wif = get_brackets("binance", pair="WIF/USDT:USDT")
    assert (wif.brackets[0].cap, wif.brackets[0].mmr, wif.brackets[0].max_leverage) == (
        5_000.0, 0.01, 75.0,
    )  # fmt: skip
    assert wif.brackets[1].cum == 25.0 and "binance_leverage_tiers.json" in wif.source
    # WIF's second tier: 1.5 % maintenance, ETH's first: 0.4 %, so WIF liquidates nearer
    assert liquidation_price(2.0, 20, False, 8_000, pair="WIF/USDT:USDT") > liquidation_price(
        2.0, 20, False, 8_000, pair="ETH/USDT:USDT"
    )


def test_btc_from_freqtrade_equals_the_shipped_table(monkeypatch):
    pytest.importorskip("freqtrade")
    from_freqtrade = get_brackets("binance").brackets
    monkeypatch.setattr(brackets, "_freqtrade_tiers", lambda: {})
    monkeypatch.setattr(brackets, "_TABLES", {})
    shipped = get_brackets("binance")
    assert shipped.brackets == from_freqtrade
    shipped_file = resources.files("liq_indicator").joinpath("data/brackets.json")
    assert shipped.source == json.loads(shipped_file.read_text())["binance"]["source"]
    with pytest.raises(
        ConfigError, match=r"'ETH/USDT:USDT'.*liq-indicator tiers.*install freqtrade"
    ):
        get_brackets("binance", pair="ETH/USDT:USDT")


def test_an_unknown_pair_names_the_pair_and_the_fix():
    with pytest.raises(
        ConfigError, match=r"bybit .* 'WIF/USDT:USDT'.*liq-indicator tiers --exchange bybit"
    ):
        liquidation_price(2.0, 10, False, 1_000, "bybit", pair="WIF/USDT:USDT")
    with pytest.raises(ConfigError, match="choose one of binance, bybit, okx, hyperliquid"):
        get_brackets("kraken")
    with pytest.raises(ConfigError, match="liq-indicator tiers --exchange okx"):
        HeatmapConfig(exchange="okx")


def test_a_bad_position_is_an_input_error_and_an_unreachable_notional_a_setting():
    """Values of the position at hand are InputError; a notional beyond the venue's tiers stays
    ConfigError: for a map it is ``position_notional``, a setting."""
    with pytest.raises(InputError, match="entry_price must be > 0, got 0"):
        liquidation_price(0.0, 10, False, 1_000)
    with pytest.raises(InputError, match="entry_price must be > 0, got nan"):
        liquidation_price(math.nan, 10, False, 1_000)
    with pytest.raises(InputError, match="leverage must be > 0, got -5"):
        liquidation_price(100.0, -5, False, 1_000)
    with pytest.raises(InputError, match="position notional must be a finite number >= 0"):
        liquidation_price(100.0, 10, False, -1.0)
    with pytest.raises(InputError, match="position notional must be a finite number >= 0"):
        get_brackets("binance").lookup(math.inf)
    table = get_brackets("bybit")  # BTC's tiers end at a finite cap
    with pytest.raises(ConfigError, match="is above the largest bybit bracket"):
        table.lookup(table.brackets[-1].cap * 2)


def test_registered_tiers_come_first_and_bad_ones_are_refused():
    rows = [
        {"minNotional": 0, "maxNotional": 10_000, "maintenanceMarginRate": 0.02,
         "maxLeverage": 25, "info": {"cum": "0"}},
        {"minNotional": 10_000, "maxNotional": None, "maintenanceMarginRate": 0.05,
         "maxLeverage": 10, "info": {"cum": "300"}},
    ]  # fmt: skip
    register_tiers("binance", {"BTC/USDT:USDT": rows}, "a test cache")
    table = get_brackets("binance")
    assert table.source == "a test cache" and table.brackets[1].cum == 300.0
    assert math.isinf(table.brackets[1].cap) and table.max_leverage(50_000) == 10.0
    register_tiers("binance", {"BAD/USDT:USDT": [{**rows[0], "minNotional": 5}]}, "broken")
    with pytest.raises(ConfigError, match="BAD/USDT:USDT from broken are not usable"):
        get_brackets("binance", pair="BAD/USDT:USDT")


def test_hyperliquid_settles_in_usdc_and_its_margin_is_half_the_max_leverage_margin():
    table = get_brackets("hyperliquid")  # the default pair, BTC/USDT:USDT, is BTC/USDC:USDC there
    assert table.symbol == "BTC/USDC:USDC"
    (only,) = table.brackets
    assert only.mmr == pytest.approx(1 / (2 * only.max_leverage)) and math.isinf(only.cap)
    # 10x long with 1/80 maintenance: LP = EP - (EP/10 - EP/80) / (1 - 1/80)
    assert liquidation_price(100.0, 10, False, 1_000, "hyperliquid") == pytest.approx(
        100 - (10 - 100 / 80) / (1 - 1 / 80), rel=1e-12
    )


# --- the pair's tiers cap the map's ---------------------------------------------------------


def test_tiers_above_the_pairs_maximum_are_capped_not_refused():
    pytest.importorskip("freqtrade")
    cfg = HeatmapConfig(
        symbol="WIF/USDT:USDT", position_notional=8_000.0, leverage_edges=(),
        leverages=(5.0, 10.0, 25.0, 50.0, 100.0),
    )  # fmt: skip
    far, near = tier_leverages(
        cfg.leverages, (), cfg.position_notional, bin_width(cfg.bin_bp), pair=cfg.symbol
    )
    assert far == near == (5.0, 10.0, 25.0, 50.0, 50.0)  # WIF allows 50x at 8,000 USDT
    params = kernel_params(cfg)
    expected = [
        math.log(liquidation_price(1.0, lev, False, 8_000, pair="WIF/USDT:USDT")) for lev in far
    ]
    np.testing.assert_allclose(params.ln_ratio_long, expected, rtol=1e-12)
    assert HeatmapConfig(leverages=(5.0, 10.0, 25.0, 50.0, 200.0))  # BTC: 200x -> 150x, no error


def test_band_edges_are_clipped_per_venue_to_strictly_before_entry():
    cfg = HeatmapConfig()
    delta = bin_width(cfg.bin_bp)
    top = max_effective_leverage(cfg.position_notional, delta, exchange="hyperliquid")
    assert 40 < top < cfg.leverage_edges[-1]  # BTC on Hyperliquid: 1.25 % maintenance
    params = kernel_params(cfg, ("binance", "hyperliquid"))
    own, hyper = slice(0, 5), slice(5, 10)
    np.testing.assert_array_equal(params.ln_near_long[own], kernel_params(cfg).ln_near_long)
    assert np.all(params.ln_near_long[hyper] <= -delta * (1 - 1e-9))
    assert np.all(params.ln_near_short[hyper] >= delta * (1 - 1e-9))
    # the clipped top edge is one bin from entry on the side that binds
    distance = min(
        params.ln_near_long[hyper].max() / -delta, params.ln_near_short[hyper].min() / delta
    )
    assert distance == pytest.approx(1.0, rel=1e-9)
    assert HeatmapConfig(exchange="hyperliquid").exchange == "hyperliquid"
    with pytest.raises(ConfigError, match="liquidates at or beyond entry"):
        HeatmapConfig(
            exchange="hyperliquid", leverage_edges=(90.0, 100.0, 110.0, 120.0, 130.0, 140.0)
        )


def test_the_default_btc_map_is_unchanged_by_the_caps():
    cfg = HeatmapConfig()
    far, near = tier_leverages(
        cfg.leverages, cfg.leverage_edges, cfg.position_notional, bin_width(cfg.bin_bp)
    )
    assert far + near[-1:] == cfg.leverage_edges
    bybit = tier_leverages(
        cfg.leverages,
        cfg.leverage_edges,
        cfg.position_notional,
        bin_width(cfg.bin_bp),
        exchange="bybit",
    )
    assert bybit == (far, near)


# --- live tiers: fetch, cache, load (a fake ccxt exchange) ----------------------------------


class FakeCcxt:
    def __init__(self, name: str):
        self.name = name
        self.has = {"fetchLeverageTiers": name == "bybit", "fetchMarketLeverageTiers": True}
        self.markets: dict[str, Any] = {}
        self.calls: list[str] = []

    def load_markets(self):
        settle = "USDC" if self.name == "hyperliquid" else "USDT"
        self.markets = {
            f"{b}/{settle}:{settle}": {"contractSize": 0.1, "limits": {"leverage": {"max": 20}}}
            for b in ("ETH", "WIF")
        }

    def fetch_leverage_tiers(self, symbols):
        self.calls.append("all")
        return {
            s: [
                {"minNotional": 0.0, "maxNotional": 200_000.0, "maintenanceMarginRate": 0.005,
                 "maxLeverage": 100.0, "info": {"mmDeduction": "0"}},
                {"minNotional": 200_000.0, "maxNotional": 1e6, "maintenanceMarginRate": 0.01,
                 "maxLeverage": 50.0, "info": {"mmDeduction": "1000"}},
            ]
            for s in symbols
        }  # fmt: skip

    def fetch_market_leverage_tiers(self, symbol):
        self.calls.append(symbol)
        return [
            {"minNotional": 0.0, "maxNotional": 500.0, "maintenanceMarginRate": 0.004, "maxLeverage": 100.0, "info": {}},
            {"minNotional": 500.0, "maxNotional": 3_000.0, "maintenanceMarginRate": 0.006, "maxLeverage": 75.0, "info": {}},
        ]  # fmt: skip

    def fetch_ticker(self, symbol):
        return {"last": 2_000.0}


@pytest.fixture
def fake_ccxt(monkeypatch):
    made: dict[str, FakeCcxt] = {}

    def make(name):
        made[name] = FakeCcxt(name)
        return made[name]

    monkeypatch.setattr(io_tiers, "make_exchange", make)
    return made


def test_the_tiers_command_caches_bybit_tiers_the_way_freqtrade_does(tmp_path, fake_ccxt, capsys):
    datadir = tmp_path / "bybit"
    assert (
        main(
            ["tiers", "--exchange", "bybit", "--pairs", "ETH/USDT:USDT", "--datadir", str(datadir)]
        )
        == 0
    )
    assert "ETH/USDT:USDT: 2 tiers" in capsys.readouterr().out
    path = datadir / "futures" / "leverage_tiers_USDT.json"
    body = json.loads(path.read_text())
    assert set(body) == {"updated", "data"} and list(body["data"]) == ["ETH/USDT:USDT"]
    # a second pair is merged into the cache, the first kept
    assert (
        main(
            ["tiers", "--exchange", "bybit", "--pairs", "WIF/USDT:USDT", "--datadir", str(datadir)]
        )
        == 0
    )
    assert io_tiers.load_tiers(datadir) == [
        "ETH/USDT:USDT",
        "WIF/USDT:USDT",
    ]  # folder names the venue
    table = get_brackets("bybit", pair="ETH/USDT:USDT")
    assert table.brackets[1].cum == 1_000.0 and str(path) in table.source
    assert HeatmapConfig(exchange="bybit", symbol="WIF/USDT:USDT").symbol == "WIF/USDT:USDT"
    freqtrade = pytest.importorskip("freqtrade.exchange")
    ft = object.__new__(freqtrade.Exchange)
    ft._config = {"datadir": datadir}
    ft._exchange_ws = None
    assert (
        ft.load_cached_leverage_tiers("USDT") == body["data"] | json.loads(path.read_text())["data"]
    )


def test_okx_bounds_become_usdt_and_hyperliquid_gets_one_tier(tmp_path, fake_ccxt):
    okx = io_tiers.fetch_tiers("okx", ["ETH/USDT:USDT"])["ETH/USDT:USDT"]
    assert [t["maxNotional"] for t in okx] == [500 * 0.1 * 2_000.0, 3_000 * 0.1 * 2_000.0]
    assert fake_ccxt["okx"].calls == ["ETH/USDT:USDT"]
    (hl,) = io_tiers.fetch_tiers("hyperliquid", ["WIF/USDC:USDC"])["WIF/USDC:USDC"]
    assert (hl["maxLeverage"], hl["maintenanceMarginRate"], hl["maxNotional"]) == (
        20.0,
        0.025,
        None,
    )
    io_tiers.write_cache(tmp_path, {"WIF/USDC:USDC": [hl]}, "USDC")
    assert io_tiers.load_tiers(tmp_path, "hyperliquid") == ["WIF/USDC:USDC"]
    assert get_brackets("hyperliquid", pair="WIF/USDT:USDT").max_leverage(1e6) == 20.0


def test_the_tiers_command_refuses_unknown_pairs_and_a_bad_cache(tmp_path, fake_ccxt, capsys):
    assert (
        main(
            ["tiers", "--exchange", "okx", "--pairs", "NOPE/USDT:USDT", "--datadir", str(tmp_path)]
        )
        == 2
    )
    assert "okx lists no market NOPE/USDT:USDT" in capsys.readouterr().err
    (tmp_path / "futures").mkdir()
    (tmp_path / "futures" / "leverage_tiers_USDT.json").write_text("[1, 2]")
    with pytest.raises(Exception, match="not a Freqtrade leverage-tier cache"):
        io_tiers.load_tiers(tmp_path, "okx")


def test_fetching_tiers_without_ccxt_names_the_extra(tmp_path, monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, "ccxt", None)  # as if ccxt were not installed
    install = r"needs ccxt, which is not installed.*pip install 'liq-indicator\[freqtrade\]'"
    with pytest.raises(InputError, match=rf"fetching maintenance-margin tiers {install}"):
        io_tiers.fetch_tiers("bybit", ["ETH/USDT:USDT"])
    with pytest.raises(InputError, match=install):
        io_tiers.make_exchange("bybit")
    argv = ["tiers", "--exchange", "bybit", "--pairs", "ETH/USDT:USDT", "--datadir", str(tmp_path)]
    assert main(argv) == 2
    assert "pip install 'liq-indicator[freqtrade]'" in capsys.readouterr().err


def test_a_stale_tier_cache_warns_at_the_callers_line(tmp_path):
    datadir = tmp_path / "bybit"
    path = io_tiers.write_cache(datadir, {})
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a fresh cache: no warning
        assert io_tiers.load_tiers(datadir) == []
    body = json.loads(path.read_text())
    body["updated"] = (pd.Timestamp.now(tz="UTC") - pd.Timedelta(weeks=5)).isoformat()
    path.write_text(json.dumps(body))
    # read two calls deep inside the package, attributed to this line all the same
    with pytest.warns(DataWarning, match="more than 4 weeks ago; refresh it") as caught:
        assert io_tiers.load_tiers(datadir) == []
    assert [w.filename for w in caught] == [__file__]
