"""``make demo``: the whole job end to end, offline, on a simulated market.

1. simulate a BTC perpetual market (seeded; clearly marked as simulated, in its own datadir);
2. serve it as a Binance futures exchange on 127.0.0.1 (Freqtrade needs markets even to backtest);
3. run ``freqtrade backtesting`` of LiqClusterStrategy against it and print Freqtrade's report;
4. draw the liquidation heatmap of the period, on the map the strategy trades on, with the trades,
   their stops, targets and cluster edges; and the map at one trade's entry.

Everything is written below ``.demo/`` except the pictures, which go to ``user_data/plot/demo/``
as ``SIMULATED-liq-*`` files, watermarked and titled SIMULATED (never mistaken for real ones).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import pandas as pd

from liq_indicator.config import DEFAULT_PAIR as PAIR
from liq_indicator.sim.market import SCENARIOS

REPO = Path(__file__).resolve().parents[1]
STEPS = 4


def _shipped_strategies(work: Path) -> Path:
    """A copy of the strategy files without any hyperopt result: Freqtrade reads a
    ``<Strategy>.json`` beside the strategy file, so after the README's hyperopt the demo would
    otherwise trade those parameters instead of the shipped ones."""
    import shutil

    target = work / "strategies"
    shutil.rmtree(target, ignore_errors=True)
    target.mkdir(parents=True)
    for path in (REPO / "user_data" / "strategies").glob("*.py"):
        shutil.copy2(path, target / path.name)
    return target


def _step(i: int, text: str) -> float:
    print(f"\n[{i}/{STEPS}] {text}", flush=True)
    return time.perf_counter()


def _done(t0: float, text: str = "done") -> None:
    print(f"      {text} in {time.perf_counter() - t0:.1f} s", flush=True)


class _Ticker:
    """Prints the elapsed time every few seconds while a long step runs."""

    def __init__(self, label: str, every: float = 5.0):
        self.label, self.every = label, every
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        t0 = time.perf_counter()
        while not self._stop.wait(self.every):
            print(f"      ... {self.label}: {time.perf_counter() - t0:.0f} s", flush=True)

    def __enter__(self) -> _Ticker:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()


def _freqtrade() -> str:
    exe = Path(sys.executable).with_name("freqtrade")
    if not exe.exists():
        raise SystemExit(
            "freqtrade is not installed in this environment: run `make demo` (it installs "
            "the package with its freqtrade extra) or `pip install -e .[freqtrade]`"
        )
    return str(exe)


def simulate_market(
    datadir: Path, days: int, seed: int, scenario: str
) -> tuple[pd.Timestamp, pd.Timestamp]:
    """Write the simulated datadir; return the first and last candle dates."""
    from liq_indicator.sim.market import simulate

    shown = [0]

    def progress(done: int, total: int) -> None:
        pct = int(100 * done / total)
        if pct >= shown[0] + 25 or done == total:
            shown[0] = pct
            print(f"      simulating: {pct:3d}%", flush=True)

    result = simulate(
        days, timeframe="5m", seed=seed, scenario=scenario, start="2024-01-01", progress=progress
    )
    result.write(datadir)
    n_liq = len(result.liquidations)
    print(f"      {len(result.candles):,} candles, {n_liq:,} true liquidations -> {datadir}")
    dates = result.candles["date"]
    return pd.Timestamp(dates.iloc[0]), pd.Timestamp(dates.iloc[-1])


def run_backtest(work: Path, datadir: Path, timerange: str) -> tuple[int, str, Path]:
    """Run freqtrade backtesting offline; return (exit code, report text, results folder)."""
    from liq_indicator.offline import running_exchange

    userdir = work / "user_data"
    results = userdir / "backtest_results"
    for sub in ("backtest_results", "logs", "data"):
        (userdir / sub).mkdir(parents=True, exist_ok=True)
    demo_cfg = work / "config.demo.json"
    demo_cfg.write_text(
        json.dumps(
            {
                "max_open_trades": 1,
                "exchange": {"pair_whitelist": [PAIR]},
            },
            indent=2,
        )
    )
    with running_exchange(datadir) as exchange:
        overlay = exchange.write_overlay(work / "config.offline.json")
        cmd = [
            _freqtrade(),
            "backtesting",
            "--config",
            str(REPO / "config.json.example"),
            "--config",
            str(overlay),
            "--config",
            str(demo_cfg),
            "--userdir",
            str(userdir),
            "--datadir",
            str(datadir),
            "--strategy",
            "LiqClusterStrategy",
            "--strategy-path",
            str(_shipped_strategies(work)),
            "--timerange",
            timerange,
            "--export",
            "trades",
            "--backtest-directory",
            str(results),
            "--cache",
            "none",
        ]
        with _Ticker("freqtrade backtesting"):
            done = subprocess.run(cmd, capture_output=True, text=True, check=False)
    (work / "backtesting.log").write_text(done.stderr)
    return done.returncode, done.stdout, results


#: what the demo's pictures say about themselves: titles, watermark and file names
MARK = "SIMULATED"


def draw_pictures(datadir: Path, start: str, results: Path, plot_dir: Path) -> list[Path]:
    """The heatmap of the backtest period (from ``start``) on the strategy's map with the
    backtest's trades, stops, targets and cluster edges, and the map at the signal candle of the
    most profitable trade (its clusters, stop and target marked), as HTML and PNG, all marked
    SIMULATED."""
    from liq_indicator.estimator import liquidation_heatmap, liquidation_map
    from liq_indicator.io.backtest import load_trades
    from liq_indicator.io.datadir import load_pair, pair_stem
    from liq_indicator.plot.figures import (
        heatmap_figure,
        map_figure,
        save_html,
        save_png_heatmap,
        save_png_map,
        trades_in_period,
    )
    from liq_indicator.strategy.frequi import trade_levels_at_entry
    from liq_indicator.strategy.signals import STRATEGY_HEATMAP, strategy_features

    data = load_pair(datadir, PAIR, "5m")
    side: dict[str, Any] = {"open_interest": data.open_interest, "funding": data.funding}
    # the map the strategy trades on, so its stops and targets sit where it saw the clusters
    feats = strategy_features(data.candles, STRATEGY_HEATMAP, **side)
    shown = feats[feats["date"] >= pd.Timestamp(start, tz="UTC")].reset_index(drop=True)
    lo, hi = float(shown["low"].min()), float(shown["high"].max())
    # as `liq-indicator heatmap`: about 1500 columns over the shown period, 300 price bins
    heat = liquidation_heatmap(
        data.candles,
        STRATEGY_HEATMAP,
        **side,
        max_price_bins=300,
        price_range=(lo / 1.1, hi * 1.1),
        max_times=-(-1500 * len(feats) // len(shown)),
    )
    first, last = shown["date"].iloc[0], shown["date"].iloc[-1]
    trades = trade_levels_at_entry(
        load_trades(results, pair=PAIR, period=(first, last + pd.Timedelta(minutes=5))), feats
    )
    drawn = len(trades_in_period(trades, first, last + pd.Timedelta(minutes=5)))
    title = (
        f"{MARK} {PAIR} 5m liquidation heatmap, strategy map · {first:%Y-%m-%d} → "
        f"{last:%Y-%m-%d} (simulated dates) · {drawn} trades"
    )
    stem = plot_dir / f"{MARK}-liq-heatmap-{pair_stem(PAIR)}-5m-{first:%Y%m%d}-{last:%Y%m%d}"
    plot_dir.mkdir(parents=True, exist_ok=True)
    written = [
        save_html(
            heatmap_figure(shown, heat, trades, title=title, watermark=MARK),
            stem.with_suffix(".html"),
        ),
        save_png_heatmap(
            shown, heat, stem.with_suffix(".png"), trades=trades, title=title, watermark=MARK
        ),
    ]

    # the map at the signal candle of the best trade: what the strategy saw when it entered
    marks: dict = {}
    if len(trades):
        best = trades.loc[trades["profit_ratio"].idxmax()]
        at = pd.Timestamp(best["open_date"]) - pd.Timedelta(minutes=5)
        kind = "short" if best["is_short"] else "long"
        print(f"      the map at the signal candle of the best trade (a {kind}, {at}):")
        row = feats[feats["date"] <= at].iloc[-1]
        marks = {
            "clusters": {
                f"{s} cluster": (row[f"liq_{s}_cluster_near"], row[f"liq_{s}_cluster_far"])
                for s in ("long", "short")
            },
            "levels": {
                f"stop ({kind})": float(best["initial_stop_loss_abs"]),
                f"target ({kind})": float(best["target_rate"]),
            },
        }
    else:  # no trade: the close of the candle before the largest long sweep of the period
        row_i = int(shown["liq_swept_long_usd"].to_numpy().argmax())
        at = pd.Timestamp(shown["date"].iloc[max(row_i - 1, 0)])
        print(f"      the map just before the period's largest long cascade ({at}):")
    history = data.candles[data.candles["date"] <= at].reset_index(drop=True)
    liq_map = liquidation_map(
        history, STRATEGY_HEATMAP, at=at.to_pydatetime(), price_range_pct=15.0, **side
    )
    when = pd.Timestamp(liq_map.time)
    title = (
        f"{MARK} {PAIR} 5m liquidation map, strategy map, at {when:%Y-%m-%d %H:%M} "
        f"(simulated) · price {liq_map.price:,.2f}"
    )
    stem = plot_dir / f"{MARK}-liq-map-{pair_stem(PAIR)}-5m-{when:%Y%m%dT%H%M}"
    written += [
        save_html(
            map_figure(liq_map, title=title, watermark=MARK, **marks), stem.with_suffix(".html")
        ),
        save_png_map(liq_map, stem.with_suffix(".png"), title=title, watermark=MARK, **marks),
    ]
    for path in written:
        print(f"      wrote {path} ({path.stat().st_size / 1e6:.1f} MB)")
    return written


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python scripts/demo.py",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--days", type=int, default=60, help="simulated days (default 60)")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--scenario", default="cascade", choices=list(SCENARIOS))
    parser.add_argument("--workdir", default=str(REPO / ".demo"))
    parser.add_argument("--plot-dir", default=str(REPO / "user_data" / "plot" / "demo"))
    args = parser.parse_args(argv)
    work = Path(args.workdir)
    datadir = work / "user_data" / "data" / "simulated-binance"
    t_all = time.perf_counter()

    t0 = _step(
        1,
        f"simulating {args.days} days of a BTC perpetual market (seed {args.seed}, "
        f"scenario {args.scenario}); SIMULATED data, not exchange data",
    )
    first, last = simulate_market(datadir, args.days, args.seed, args.scenario)
    _done(t0)

    # the strategy needs startup_candle_count candles (7 days of 5m) before its first signal
    start = (first + pd.Timedelta(days=8)).strftime("%Y%m%d")
    end = (last + pd.Timedelta(days=1)).strftime("%Y%m%d")
    timerange = f"{start}-{end}"
    t0 = _step(
        2,
        f"freqtrade backtesting LiqClusterStrategy on {PAIR} 5m, {timerange}, offline "
        "(loopback exchange on 127.0.0.1)",
    )
    code, report, results = run_backtest(work, datadir, timerange)
    _done(t0)
    if code != 0:
        print(
            f"freqtrade backtesting failed (exit {code}); its log: {work / 'backtesting.log'}",
            file=sys.stderr,
        )
        return code

    t0 = _step(3, "the backtest report (Freqtrade's own tables)")
    print(report.strip())

    t0 = _step(
        4,
        "the liquidation heatmap of the period on the strategy's map, with the trades, their "
        "stops, targets and cluster edges (pictures marked SIMULATED)",
    )
    draw_pictures(datadir, start, results, Path(args.plot_dir))
    _done(t0)
    print(f"\ndemo finished in {time.perf_counter() - t_all:.0f} s; pictures in {args.plot_dir}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
