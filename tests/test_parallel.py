"""Many pairs at once: ``liq-indicator features --pairs/--all --jobs N`` and its cache
(liq_indicator/cli/features.py, liq_indicator/io/cache.py)."""

from __future__ import annotations

import json
import os
import sys
from datetime import UTC, datetime
from pathlib import Path

import pandas as pd
import pytest
from conftest import SHARED_DATA, make_candles, needs_shared_data

from liq_indicator.cli import main
from liq_indicator.config import DEFAULT_PAIR, HeatmapConfig
from liq_indicator.io.cache import FeatureCache
from liq_indicator.io.datadir import pair_file, read_candles
from liq_indicator.research.pairs import (
    PairTask,
    compute_pairs,
    pair_features,
    pairs_in_datadir,
    read_pairs_file,
)

#: pair names of the synthetic datadir; the tasks built here use BTC's tiers for each (the tests
#: are about running and caching, not about tiers), the command uses each pair's own
PAIRS = ("BTC/USDT:USDT", "ETH/USDT:USDT", "SOL/USDT:USDT")


@pytest.fixture(autouse=True)
def _cache_in_tmp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The default cache folder is a scratch one (nothing written under ~/.cache)."""
    monkeypatch.setenv("LIQ_INDICATOR_CACHE", str(tmp_path / "default-cache"))


@pytest.fixture
def datadir(tmp_path: Path) -> Path:
    """A Freqtrade datadir with 400 5m candles of each of PAIRS, each its own random walk."""
    root = tmp_path / "data" / "binance"
    for seed, pair in enumerate(PAIRS):
        path = pair_file(root, pair, "5m")
        path.parent.mkdir(parents=True, exist_ok=True)
        make_candles(400, seed=seed, price=100.0 * 10**seed).to_feather(path)
    return root


def _tasks(datadir: Path, out: Path | None, cache: FeatureCache | None, **config) -> list[PairTask]:
    if out is not None:
        out.mkdir(exist_ok=True)
    return [
        PairTask(
            pair,
            "5m",
            HeatmapConfig(**config),
            (datadir.resolve(),),
            cache=cache,
            output=out / f"{i}.feather" if out is not None else None,
        )
        for i, pair in enumerate(PAIRS)
    ]


def test_parallel_results_equal_serial_bit_for_bit(datadir: Path, tmp_path: Path):
    serial = list(compute_pairs(_tasks(datadir, tmp_path / "serial", None), jobs=1))
    parallel = list(compute_pairs(_tasks(datadir, tmp_path / "parallel", None), jobs=2))
    assert [r.pair for r in serial] == [r.pair for r in parallel] == list(PAIRS)  # task order
    assert all(r.error is None and r.rows == 400 for r in serial + parallel), serial + parallel
    for a, b in zip(serial, parallel, strict=True):
        assert a.output is not None and b.output is not None
        assert a.output.read_bytes() == b.output.read_bytes()
        pd.testing.assert_frame_equal(pd.read_feather(a.output), pd.read_feather(b.output))
    first, second = (pd.read_feather(r.output) for r in serial[:2])
    assert not first["liq_long_cluster_dist_pct"].equals(second["liq_long_cluster_dist_pct"])


def test_the_cache_hits_and_misses_on_a_changed_config_or_changed_candles(
    datadir: Path, tmp_path: Path
):
    cache = FeatureCache.at(tmp_path / "cache")
    task = _tasks(datadir, None, cache)[1]
    fresh, state = pair_features(task)
    assert state == "miss"
    again, state = pair_features(task)
    assert state == "hit"
    pd.testing.assert_frame_equal(again, fresh, check_exact=True)
    uncached, state = pair_features(PairTask(task.pair, "5m", task.config, task.datadirs))
    assert state == "off"
    pd.testing.assert_frame_equal(uncached, fresh, check_exact=True)

    changed = PairTask(
        task.pair, "5m", task.config.replace(growth_candles=6), task.datadirs, cache=cache
    )
    assert pair_features(changed)[1] == "miss"
    assert pair_features(changed)[1] == "hit"

    path = pair_file(datadir, task.pair, "5m")
    longer = make_candles(450, seed=1, price=1000.0)
    longer.to_feather(path)
    os.utime(path, ns=(path.stat().st_atime_ns, path.stat().st_mtime_ns + 1_000_000_000))
    refreshed, state = pair_features(task)
    assert state == "miss" and len(refreshed) == 450
    # the entry of the old candles (same pair and settings) is gone; the other config's stays
    assert len(list(cache.root.glob("ETH_USDT_USDT-5m-*.feather"))) == 2
    assert pair_features(task)[1] == "hit"


def test_a_new_side_series_misses(datadir: Path, tmp_path: Path):
    cache = FeatureCache.at(tmp_path / "cache")
    task = _tasks(datadir, None, cache)[0]
    assert pair_features(task)[1] == "miss"
    candles = read_candles(pair_file(datadir, task.pair, "5m"))
    funding = candles[["date"]].iloc[::96].assign(open=1e-4)
    funding.to_feather(pair_file(datadir, task.pair, "5m", "funding_rate"))
    assert pair_features(task)[1] == "miss"


def test_command_runs_pairs_in_parallel_and_reads_the_cache_back(
    datadir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
):
    argv = ["features", "--datadir", str(datadir), "--pairs", DEFAULT_PAIR, "--jobs", "2"]
    argv += ["--cache-dir", str(tmp_path / "cache"), "--output-dir", str(tmp_path / "out")]
    assert main(argv) == 0
    first = capsys.readouterr().out
    assert "cache miss" in first and "1 computed, 0 from the cache, 0 failed" in first, first
    written = tmp_path / "out" / "BTC_USDT_USDT-5m-features.feather"
    computed = pd.read_feather(written)
    written.unlink()
    assert main(argv) == 0
    second = capsys.readouterr().out
    assert "cache hit" in second and "0 computed, 1 from the cache" in second, second
    pd.testing.assert_frame_equal(pd.read_feather(written), computed, check_exact=True)
    assert main([*argv, "--no-cache"]) == 0
    assert "cache off" in capsys.readouterr().out


def test_a_failing_pair_does_not_stop_the_others(
    datadir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
):
    broken = pair_file(datadir, "XRP/USDT:USDT", "5m")
    broken.write_bytes(b"not a feather file")
    argv = ["features", "--datadir", str(datadir), "--jobs", "2", "--no-cache"]
    argv += ["--pairs", "NOPE/USDT:USDT", DEFAULT_PAIR, "XRP/USDT:USDT"]
    assert main([*argv, "--output-dir", str(tmp_path / "out")]) == 1
    out, err = capsys.readouterr()
    assert "3 pairs" in out and "1 computed" in out and "2 failed" in out, out
    assert "liq-indicator features: NOPE/USDT:USDT: error: " in err, err
    # no tiers or no candles, whichever is checked first
    assert "NOPE/USDT:USDT" in err.split("NOPE/USDT:USDT: error: ")[1].splitlines()[0], err
    assert "liq-indicator features: XRP/USDT:USDT: error: " in err, err
    assert "XRP_USDT_USDT-5m-futures.feather" in err and "Traceback" not in err, err
    assert [p.name for p in (tmp_path / "out").iterdir()] == ["BTC_USDT_USDT-5m-features.feather"]


def test_all_lists_every_pair_of_the_timeframe(datadir: Path):
    make_candles(50, timeframe="1h").to_feather(pair_file(datadir, "DOGE/USDT:USDT", "1h"))
    assert pairs_in_datadir(datadir, "5m") == sorted(PAIRS)
    assert pairs_in_datadir(datadir, "1h") == ["DOGE/USDT:USDT"]
    assert pairs_in_datadir(datadir, "4h") == []


def test_all_without_candles_of_the_timeframe_exits_2(
    datadir: Path, capsys: pytest.CaptureFixture[str]
):
    assert main(["features", "--datadir", str(datadir), "--all", "--timeframe", "4h"]) == 2
    assert "--all: no 4h futures candles" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("text", "pairs"),
    [
        ('["BTC/USDT:USDT", "ETH/USDT:USDT"]', ["BTC/USDT:USDT", "ETH/USDT:USDT"]),
        (
            json.dumps({"exchange": {"name": "binance", "pair_whitelist": ["SOL/USDT:USDT"]}}),
            ["SOL/USDT:USDT"],
        ),
        ("# whitelist\nBTC/USDT:USDT\n\nETH/USDT:USDT, SOL/USDT:USDT  # alts\n", list(PAIRS)),
    ],
    ids=["json list", "freqtrade config", "text"],
)
def test_pairs_file_formats(tmp_path: Path, text: str, pairs: list[str]):
    path = tmp_path / "pairs"
    path.write_text(text)
    assert read_pairs_file(path) == pairs


@pytest.mark.parametrize(
    ("text", "message"),
    [("", "lists no pair"), ("[1, 2]", "expected a JSON list"), ("{oops", "not valid JSON")],
)
def test_bad_pairs_file_exits_2(
    datadir: Path, tmp_path: Path, text: str, message: str, capsys: pytest.CaptureFixture[str]
):
    path = tmp_path / "pairs.json"
    path.write_text(text)
    assert main(["features", "--datadir", str(datadir), "--pairs-file", str(path)]) == 2
    err = capsys.readouterr().err
    assert message in err and "pairs.json" in err, err


@pytest.mark.parametrize(
    "args",
    [
        ["--all", "--jobs", "0"],
        ["--all", "--jobs=-2"],
        ["--all", "--jobs", "1.5"],
        ["--all", "--jobs", "all"],
        ["--all", "--backend", "spark"],
        ["--pair", "ETH/USDT:USDT", "--pairs", DEFAULT_PAIR],
        ["--all", "--pairs-file", "x"],
    ],
)
def test_bad_jobs_backend_or_pair_options_exit_2(
    datadir: Path, args: list[str], capsys: pytest.CaptureFixture[str]
):
    assert main(["features", "--datadir", str(datadir), *args]) == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err and "error: argument " in err, err


def test_output_with_several_pairs_exits_2(
    datadir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
):
    out = tmp_path / "one.feather"
    assert main(["features", "--datadir", str(datadir), "--all", "--output", str(out)]) == 2
    assert "for several pairs use --output-dir" in capsys.readouterr().err
    assert not out.exists()


@pytest.mark.parametrize(
    ("backend", "module", "install"),
    [
        ("dask", "distributed", 'pip install "dask[distributed]"'),
        ("ray", "ray", 'pip install "ray"'),
    ],
)
def test_a_backend_that_is_not_installed_exits_2_naming_the_install(
    datadir: Path,
    backend: str,
    module: str,
    install: str,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
):
    monkeypatch.setitem(sys.modules, module, None)  # as if not installed, installed or not
    argv = ["features", "--datadir", str(datadir), "--all", "--backend", backend, "--no-cache"]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.startswith("liq-indicator features: error: --backend ") and install in err, err


@needs_shared_data
def test_every_real_pair_is_computed_or_named(tmp_path: Path, capsys: pytest.CaptureFixture[str]):
    """The shared Binance datadir, 1h: every pair with 1h candles either gets all its rows or is
    named on stderr (a pair without tiers), and the exit code says which."""
    datadir = SHARED_DATA / "history" / "binance"
    pairs = pairs_in_datadir(datadir, "1h")
    assert DEFAULT_PAIR in pairs and len(pairs) >= 5
    argv = ["features", "--datadir", str(datadir), "--all", "--timeframe", "1h", "--jobs", "2"]
    code = main([*argv, "--cache-dir", str(tmp_path / "cache"), "--output-dir", str(tmp_path)])
    out, err = capsys.readouterr()
    failed = {p for p in pairs if f"liq-indicator features: {p}: error: " in err}
    assert code == (1 if failed else 0), out + err
    assert DEFAULT_PAIR not in failed, err
    for pair in set(pairs) - failed:
        written = tmp_path / f"{pair.replace('/', '_').replace(':', '_')}-1h-features.feather"
        candles = read_candles(pair_file(datadir, pair, "1h"))
        assert len(pd.read_feather(written)) == len(candles), pair


def test_the_default_cache_serves_several_pairs_and_one_pair_only_when_asked(
    datadir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
):
    default = tmp_path / "default-cache"  # LIQ_INDICATOR_CACHE, set by _cache_in_tmp
    assert main(["features", "--datadir", str(datadir), "--pair", DEFAULT_PAIR]) == 0
    assert not default.exists()
    assert main(["features", "--datadir", str(datadir), "--pairs", DEFAULT_PAIR]) == 0
    assert [p.name[:14] for p in default.iterdir()] == ["BTC_USDT_USDT-"]
    one = ["features", "--datadir", str(datadir), "--cache-dir", str(default), "--output"]
    assert main([*one, str(tmp_path / "one.csv")]) == 0
    capsys.readouterr()
    assert len(pd.read_csv(tmp_path / "one.csv")) == 400


@pytest.fixture
def _forget_tiers():
    from liq_indicator.brackets import clear_registered_tiers

    yield
    clear_registered_tiers()


@pytest.mark.usefixtures("_forget_tiers")
def test_the_datadirs_tier_cache_is_used_in_the_workers_and_misses_the_cache(
    datadir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
):
    argv = ["features", "--datadir", str(datadir), "--pairs", DEFAULT_PAIR, "ETH/USDT:USDT"]
    argv += ["--jobs", "2", "--cache-dir", str(tmp_path / "c"), "--output-dir", str(tmp_path)]
    assert main(argv) == 0
    shipped = pd.read_feather(tmp_path / "BTC_USDT_USDT-5m-features.feather")
    tier = {"minNotional": 0, "maxNotional": 1e12, "maintenanceMarginRate": 0.006}
    tier |= {"maxLeverage": 150, "info": {"cum": "0"}}
    cache = {"updated": datetime.now(UTC).isoformat(), "data": {DEFAULT_PAIR: [tier]}}
    (datadir / "futures" / "leverage_tiers_USDT.json").write_text(json.dumps(cache))
    capsys.readouterr()
    assert main(argv) == 0
    out = capsys.readouterr().out
    assert "2 computed, 0 from the cache" in out, out  # the new tiers miss for every pair
    cached = pd.read_feather(tmp_path / "BTC_USDT_USDT-5m-features.feather")
    assert not cached["liq_long_cluster_dist_pct"].equals(shipped["liq_long_cluster_dist_pct"])
    in_process, _ = pair_features(
        PairTask(DEFAULT_PAIR, "5m", HeatmapConfig(symbol=DEFAULT_PAIR), (datadir.resolve(),))
    )
    pd.testing.assert_frame_equal(cached, in_process, check_exact=True)  # workers used them too
