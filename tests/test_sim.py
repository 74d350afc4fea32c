"""The market simulator: determinism, exact liquidation mechanics, file layout, truth bookkeeping."""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from conftest import needs_shared_data

from liq_indicator.brackets import liquidation_price
from liq_indicator.cli import main as cli_main
from liq_indicator.core.grid import price_to_bin
from liq_indicator.errors import ConfigError
from liq_indicator.sim.datadir import PAIR, datadir_paths
from liq_indicator.sim.market import SCENARIOS, SimConfig, simulate, timeframe_minutes


@pytest.fixture(scope="module")
def cascade_1m():
    """Three days of 1m candles with cascades: many liquidations at minute resolution."""
    return simulate(3, timeframe="1m", seed=7, scenario="cascade", snapshots=[4319])


@pytest.fixture(scope="module")
def calm_5m():
    return simulate(2, timeframe="5m", seed=1, scenario="calm")


def _hashes(root: Path) -> dict[str, str]:
    return {
        p.relative_to(root).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }


# --- determinism -----------------------------------------------------------------------------
def test_same_seed_writes_same_bytes_and_other_seed_differs(tmp_path):
    a = simulate(2, timeframe="15m", seed=5, scenario="squeeze").write(tmp_path / "a")
    b = simulate(2, timeframe="15m", seed=5, scenario="squeeze").write(tmp_path / "b")
    simulate(2, timeframe="15m", seed=6, scenario="squeeze").write(tmp_path / "c")
    ha, hb, hc = _hashes(tmp_path / "a"), _hashes(tmp_path / "b"), _hashes(tmp_path / "c")
    assert len(ha) == len(a) == 9
    assert ha == hb
    assert (
        ha["futures/BTC_USDT_USDT-15m-futures.feather"]
        != hc["futures/BTC_USDT_USDT-15m-futures.feather"]
    )
    assert ha["sim_truth/liquidations.feather"] != hc["sim_truth/liquidations.feather"]
    assert b["futures"].name == "BTC_USDT_USDT-15m-futures.feather"


def test_block_size_does_not_change_the_market():
    one = simulate(2, timeframe="5m", seed=3, scenario="cascade")
    many = simulate(2, timeframe="5m", seed=3, scenario="cascade", block_minutes=180)
    pd.testing.assert_frame_equal(one.candles, many.candles, check_exact=True)
    pd.testing.assert_frame_equal(one.liquidations, many.liquidations, check_exact=True)
    pd.testing.assert_frame_equal(one.truth, many.truth, check_exact=True)


# --- liquidation mechanics ---------------------------------------------------------------------
def test_every_liquidation_price_is_the_brackets_formula(cascade_1m):
    liq = cascade_1m.liquidations
    assert len(liq) > 1000
    assert (liq["side"] == "long").any() and (liq["side"] == "short").any()
    for row in liq.itertuples():
        expected = liquidation_price(
            row.entry_price, row.leverage, row.side == "short", row.notional_usd, exchange="binance"
        )
        assert row.liq_price == expected, row
    pos = cascade_1m.positions
    for row in pos.iloc[:: max(len(pos) // 2000, 1)].itertuples():
        expected = liquidation_price(
            row.entry_price, row.leverage, row.side == "short", row.notional_usd, exchange="binance"
        )
        assert row.liq_price == expected, row


def test_liquidated_in_exactly_the_first_minute_the_mark_crosses(cascade_1m):
    res = cascade_1m
    mark_low = res.truth["mark_low"].to_numpy()
    mark_high = res.truth["mark_high"].to_numpy()
    start = res.truth["date"].iloc[0]
    minute = ((res.liquidations["date"] - start) // pd.Timedelta("1min")).to_numpy()
    entry = ((res.liquidations["entry_date"] - start) // pd.Timedelta("1min")).to_numpy()
    liq = res.liquidations
    is_long = (liq["side"] == "long").to_numpy()
    level = liq["liq_price"].to_numpy()
    mark = liq["mark_price"].to_numpy()
    # at the trigger the mark is at or beyond the level, and inside that minute's mark range
    assert np.all(np.where(is_long, mark <= level, mark >= level))
    assert np.all((mark_low[minute] <= mark) & (mark <= mark_high[minute]))
    # in every full minute between entry and liquidation the mark stayed on the safe side
    for m, e, lv, lg in zip(minute, entry, level, is_long, strict=True):
        lo = max(e + 1, 0)
        if lo < m:
            if lg:
                assert mark_low[lo:m].min() > lv
            else:
                assert mark_high[lo:m].max() < lv
    # and a position still open never saw the mark cross its level after its entry minute
    pos = res.positions
    p_entry = ((pos["entry_date"] - start) // pd.Timedelta("1min")).to_numpy()
    suffix_min = np.minimum.accumulate(mark_low[::-1])[::-1]
    suffix_max = np.maximum.accumulate(mark_high[::-1])[::-1]
    first = np.clip(p_entry + 1, 0, len(mark_low) - 1)
    live = p_entry + 1 < len(mark_low)
    longs = (pos["side"] == "long").to_numpy() & live & (pos["liq_price"] > 1e-3).to_numpy()
    shorts = (pos["side"] == "short").to_numpy() & live
    assert np.all(suffix_min[first[longs]] > pos["liq_price"].to_numpy()[longs])
    assert np.all(suffix_max[first[shorts]] < pos["liq_price"].to_numpy()[shorts])


def test_truth_per_candle_sums_equal_the_event_list(cascade_1m, calm_5m):
    for res in (cascade_1m, calm_5m):
        tf = pd.Timedelta(minutes=timeframe_minutes(res.timeframe))
        liq = res.liquidations
        start = res.truth["date"].iloc[0]
        candle = (liq["date"] - start) // tf
        for side in ("long", "short"):
            mine = liq[liq["side"] == side]
            by = mine.groupby(candle[liq["side"] == side])["liquidated_usd"]
            usd = np.zeros(len(res.truth))
            cnt = np.zeros(len(res.truth), dtype=np.int64)
            usd[by.sum().index.to_numpy()] = by.sum().to_numpy()
            cnt[by.size().index.to_numpy()] = by.size().to_numpy()
            np.testing.assert_allclose(res.truth[f"liq_{side}_usd"], usd, rtol=1e-12, atol=1e-6)
            np.testing.assert_array_equal(res.truth[f"liq_{side}_count"], cnt)
        assert (liq["liquidated_usd"] > 0).all()


def test_pending_map_snapshot_equals_open_positions(cascade_1m):
    res = cascade_1m
    snap = res.liq_map[res.liq_map["date"] == res.truth["date"].iloc[-1]]
    assert len(snap) > 50
    pos = res.positions[res.positions["liq_price"] > 1e-6 * res.positions["entry_price"]]
    bins = price_to_bin(pos["liq_price"].to_numpy(), 10.0)
    for side, col in (("long", "long_usd"), ("short", "short_usd")):
        mine = pos["side"] == side
        expected = pd.Series(pos.loc[mine, "notional_usd"].to_numpy(), index=bins[mine.to_numpy()])
        expected = expected.groupby(level=0).sum()
        got = snap.set_index("bin")[col]
        got = got[got > 0]
        np.testing.assert_array_equal(got.index.to_numpy(), expected.index.to_numpy())
        np.testing.assert_allclose(got.to_numpy(), expected.to_numpy(), rtol=1e-9)


def test_open_interest_is_the_open_positions(cascade_1m):
    res = cascade_1m
    last_oi = res.oi["open_interest_amount"].iloc[-1]
    np.testing.assert_allclose(last_oi, res.positions["qty"].sum(), rtol=1e-9)
    np.testing.assert_allclose(
        res.oi["open_interest_value"].iloc[-1] / last_oi,
        res.candles["close"].iloc[-1],
        rtol=0,
        atol=0.05 + 1e-9,
    )


def test_cascade_scenario_has_larger_liquidation_clusters_than_calm():
    def biggest_hour(res):
        t = res.truth.set_index("date")
        hourly = (t["liq_long_usd"] + t["liq_short_usd"]).resample("1h").sum()
        oi = res.oi.set_index("date")["open_interest_value"].resample("1h").last()
        return float((hourly / oi).max())

    for seed in (0, 1, 2):
        calm = biggest_hour(simulate(6, timeframe="15m", seed=seed, scenario="calm"))
        cascade = biggest_hour(simulate(6, timeframe="15m", seed=seed, scenario="cascade"))
        assert cascade > 1.5 * calm, (seed, calm, cascade)


# --- candles and files -------------------------------------------------------------------------
def test_ohlc_consistency_and_dates(calm_5m, cascade_1m):
    for res in (calm_5m, cascade_1m):
        step = pd.Timedelta(minutes=timeframe_minutes(res.timeframe))
        for frame in (res.candles, res.mark):
            o, h, lo, c = (frame[k].to_numpy() for k in ("open", "high", "low", "close"))
            assert np.isfinite(np.stack([o, h, lo, c])).all()
            assert (lo <= np.minimum(o, c)).all() and (h >= np.maximum(o, c)).all()
            assert (frame["volume"] >= 0).all()
        assert (res.candles["volume"] > 0).all()
        assert str(res.candles["date"].dt.tz) == "UTC"
        assert (res.candles["date"].diff().iloc[1:] == step).all()
        assert (res.mark["date"].diff().iloc[1:] == pd.Timedelta("1h")).all()
        assert len(res.mark) * 60 == len(res.candles) * timeframe_minutes(res.timeframe)
        f = res.funding
        assert ((f["date"].dt.hour % 8 == 0) & (f["date"].dt.minute == 0)).all()
        assert (f["funding_rate"].abs() <= SimConfig().funding_cap).all()


def test_freqtrade_loads_the_written_files(tmp_path, calm_5m):
    pytest.importorskip("freqtrade")
    from freqtrade.data.history import load_pair_history
    from freqtrade.enums import CandleType

    datadir = tmp_path / "binance"
    paths = calm_5m.write(datadir)
    assert paths == datadir_paths(datadir, "5m")
    fut = load_pair_history(
        PAIR, "5m", datadir, candle_type=CandleType.FUTURES, data_format="feather"
    )
    assert len(fut) == len(calm_5m.candles)
    np.testing.assert_array_equal(fut["close"].to_numpy(), calm_5m.candles["close"].to_numpy())
    mark = load_pair_history(
        PAIR, "1h", datadir, candle_type=CandleType.MARK, data_format="feather"
    )
    np.testing.assert_array_equal(mark["close"].to_numpy(), calm_5m.mark["close"].to_numpy())
    fr = load_pair_history(
        PAIR, "1h", datadir, candle_type=CandleType.FUNDING_RATE, data_format="feather"
    )
    np.testing.assert_array_equal(
        fr["funding_rate"].to_numpy(), calm_5m.funding["funding_rate"].to_numpy()
    )
    oi = load_pair_history(
        PAIR, "5m", datadir, candle_type=CandleType.OPEN_INTEREST, data_format="feather"
    )
    np.testing.assert_array_equal(
        oi["open_interest_value"].to_numpy(), calm_5m.oi["open_interest_value"].to_numpy()
    )


def test_open_interest_and_funding_file_layout(tmp_path, calm_5m):
    paths = calm_5m.write(tmp_path)
    oi = pd.read_feather(paths["open_interest"])
    assert list(oi.columns) == ["date", "open_interest_amount", "open_interest_value"]
    assert str(oi["date"].dtype) == "datetime64[us, UTC]"
    assert (oi["open_interest_amount"] > 0).all()
    np.testing.assert_allclose(
        # OI is valued at the exact simulated close; candles show it on the 0.1 USDT tick
        oi["open_interest_value"] / oi["open_interest_amount"],
        calm_5m.candles["close"],
        rtol=0,
        atol=0.05 + 1e-9,
    )
    fr = pd.read_feather(paths["funding_rate"])
    assert list(fr.columns) == ["date", "open", "high", "low", "close", "volume"]
    assert (fr[["high", "low", "close", "volume"]] == 0).all().all()
    assert (fr["date"].diff().iloc[1:] == pd.Timedelta("8h")).all()
    marker = paths["marker"].read_text()
    assert "SIMULATED DATA - NOT EXCHANGE DATA" in marker
    assert "seed:                  1" in marker and "calm" in marker


def test_refuses_to_overwrite_real_looking_data(tmp_path, calm_5m):
    fut = tmp_path / "futures"
    fut.mkdir()
    (fut / "BTC_USDT_USDT-5m-futures.feather").write_bytes(b"real")
    with pytest.raises(ConfigError, match="SIMULATED.txt"):
        calm_5m.write(tmp_path)


def test_cli_writes_the_datadir(tmp_path, capsys):
    code = cli_main(
        [
            "simulate",
            "--days",
            "1",
            "--timeframe",
            "1h",
            "--seed",
            "4",
            "--scenario",
            "trend",
            "--datadir",
            str(tmp_path),
            "--quiet",
        ]
    )
    assert code == 0
    for path in datadir_paths(tmp_path, "1h").values():
        assert path.is_file(), path
    candles = pd.read_feather(tmp_path / "futures" / "BTC_USDT_USDT-1h-futures.feather")
    assert len(candles) == 24
    assert "liquidations" in capsys.readouterr().out


def test_cli_reports_bad_arguments(tmp_path, capsys):
    code = cli_main(
        ["simulate", "--days", "1", "--timeframe", "7x", "--datadir", str(tmp_path), "--quiet"]
    )
    assert code == 2
    assert "timeframe" in capsys.readouterr().err


# --- validation --------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"n_positions": 0}, "n_positions"),
        ({"impact_coef": -1.0}, "impact_coef"),
        ({"momentum_share": 0.8, "meanrev_share": 0.5}, "meanrev_share"),
        ({"leverage_weights": (1.0, 2.0)}, "leverage_weights"),
        ({"size_max_usd": 5e9}, "size_max_usd"),
        ({"stop_fraction": (0.5, 0.2)}, "stop_fraction"),
    ],
)
def test_config_rejects_bad_values(kwargs, match):
    with pytest.raises(ConfigError, match=match):
        SimConfig(**kwargs)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"days": 0}, "days"),
        ({"days": 1, "timeframe": "1M"}, "timeframe"),
        ({"days": 1, "scenario": "crash"}, "scenario"),
        ({"days": 1, "start": "2024-01-01 00:30"}, "whole UTC hour"),
        ({"days": 1, "timeframe": "4h", "start": "2024-01-01 02:00"}, "candle boundary"),
        ({"days": 7, "timeframe": "1w", "start": "2024-01-02"}, "Monday"),
        ({"days": 1, "seed": -1}, "seed"),
    ],
)
def test_simulate_rejects_bad_arguments(kwargs, match):
    with pytest.raises(ConfigError, match=match):
        simulate(**kwargs)


def test_scenarios_are_the_documented_four():
    assert set(SCENARIOS) == {"calm", "trend", "cascade", "squeeze"}


# --- against real data -------------------------------------------------------------------------
@pytest.mark.realdata
@needs_shared_data
def test_volatility_and_volume_are_of_the_real_order(real_5m: pd.DataFrame):
    real = real_5m
    real_std = np.diff(np.log(real["close"].to_numpy())).std()
    res = simulate(20, timeframe="5m", seed=0, scenario="trend")
    sim_std = np.diff(np.log(res.candles["close"].to_numpy())).std()
    assert 0.5 < sim_std / real_std < 2.0
    assert 1 / 3 < res.candles["volume"].mean() / real["volume"].mean() < 3


def test_traded_prices_sit_on_the_tick(calm_5m):
    prices = calm_5m.candles[["open", "high", "low", "close"]].to_numpy()
    np.testing.assert_array_equal(prices, np.round(prices, 1))


def test_a_second_pair_liquidates_on_its_own_tiers_and_shares_the_datadir(tmp_path):
    from liq_indicator.brackets import get_brackets, liquidation_price
    from liq_indicator.io.datadir import load_pair
    from liq_indicator.sim.market import SimConfig, simulate

    pepe = "1000PEPE/USDT:USDT"
    cfg = SimConfig(pair=pepe, start_price=0.007, size_max_usd=5e6)
    res = simulate(1, seed=1, scenario="cascade", config=cfg)
    btc = simulate(1, seed=1, scenario="cascade")
    assert res.pair == pepe and btc.pair == "BTC/USDT:USDT"
    liq = res.liquidations.iloc[:50]
    assert len(liq) > 0
    # each liquidation level is the pair's own formula and tiers, not BTC's
    theirs = [
        liquidation_price(r.entry_price, r.leverage, r.side == "short", r.notional_usd, pair=pepe)
        for r in liq.itertuples()
    ]
    assert np.allclose(liq["liq_price"], theirs, rtol=1e-9)
    assert (
        res.liquidations["leverage"].max() <= get_brackets("binance", pepe).brackets[0].max_leverage
    )
    assert btc.liquidations["leverage"].max() > res.liquidations["leverage"].max()
    # prices on a tick fine enough for the pair (not BTC's 0.1)
    assert res.candles["close"].nunique() > 100
    # both pairs in one datadir, each readable, the truth apart
    btc.write(tmp_path)
    paths = res.write(tmp_path)
    assert paths["truth"].parent != tmp_path / "sim_truth"
    for sim, pair in ((btc, "BTC/USDT:USDT"), (res, pepe)):
        data = load_pair(tmp_path, pair, "5m")
        assert np.allclose(data.candles["close"], sim.candles["close"])
