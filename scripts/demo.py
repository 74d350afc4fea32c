"""``make demo``: the whole job end to end, offline, on a simulated market.

1. simulate a BTC perpetual market (seeded; clearly marked as simulated, in its own datadir);
2. serve it as a Binance futures exchange on 127.0.0.1 (Freqtrade needs markets even to backtest);
3. run ``freqtrade backtesting`` of LiqClusterStrategy against it and print Freqtrade's report;
4. draw the liquidation heatmap of the period with the trades and their stops on it.

Everything is written below ``.demo/`` except the pictures, which go to ``user_data/plot/``.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import threading
import time
from pathlib import Path

import pandas as pd

REPO = Path(__file__).resolve().parents[1]
PAIR = "BTC/USDT:USDT"
STEPS = 4


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
        raise SystemExit("freqtrade is not installed in this environment: run `make demo` (it installs "
                         "the package with its freqtrade extra) or `pip install -e .[freqtrade]`")
    return str(exe)


def simulate_market(datadir: Path, days: int, seed: int, scenario: str) -> tuple[pd.Timestamp, pd.Timestamp]:
    """Write the simulated datadir; return the first and last candle dates."""
    from liq_indicator.sim.market import simulate

    shown = [0]

    def progress(done: int, total: int) -> None:
        pct = int(100 * done / total)
        if pct >= shown[0] + 25 or done == total:
            shown[0] = pct
            print(f"      simulating: {pct:3d}%", flush=True)

    result = simulate(days, timeframe="5m", seed=seed, scenario=scenario, start="2024-01-01",
                      progress=progress)
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
    demo_cfg.write_text(json.dumps({
        "max_open_trades": 1,
        "exchange": {"pair_whitelist": [PAIR]},
    }, indent=2))
    with running_exchange(datadir) as exchange:
        overlay = exchange.write_overlay(work / "config.offline.json")
        cmd = [
            _freqtrade(), "backtesting",
            "--config", str(REPO / "config.json.example"), "--config", str(overlay),
            "--config", str(demo_cfg),
            "--userdir", str(userdir), "--datadir", str(datadir),
            "--strategy", "LiqClusterStrategy", "--strategy-path", str(REPO / "user_data" / "strategies"),
            "--timerange", timerange, "--export", "trades", "--backtest-directory", str(results),
            "--cache", "none",
        ]
        with _Ticker("freqtrade backtesting"):
            done = subprocess.run(cmd, capture_output=True, text=True, check=False)
    (work / "backtesting.log").write_text(done.stderr)
    return done.returncode, done.stdout, results


def _largest_cascade(datadir: Path, start: str) -> pd.Timestamp:
    """The close of the candle before the largest long sweep of the backtest period."""
    from liq_indicator.estimator import liquidation_features
    from liq_indicator.io.datadir import load_pair

    data = load_pair(datadir, PAIR, "5m")
    feats = liquidation_features(data.candles, open_interest=data.open_interest)
    period = feats[feats["date"] >= pd.Timestamp(start, tz="UTC")]
    row = int(period["liq_swept_long_usd"].to_numpy().argmax()) + period.index[0]
    return pd.Timestamp(feats["date"].iloc[max(row - 1, 0)])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python scripts/demo.py", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--days", type=int, default=60, help="simulated days (default 60)")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--scenario", default="cascade", choices=["calm", "trend", "cascade", "squeeze"])
    parser.add_argument("--workdir", default=str(REPO / ".demo"))
    parser.add_argument("--plot-dir", default=str(REPO / "user_data" / "plot"))
    args = parser.parse_args(argv)
    work = Path(args.workdir)
    datadir = work / "user_data" / "data" / "simulated-binance"
    t_all = time.perf_counter()

    t0 = _step(1, f"simulating {args.days} days of a BTC perpetual market (seed {args.seed}, "
                  f"scenario {args.scenario}); SIMULATED data, not exchange data")
    first, last = simulate_market(datadir, args.days, args.seed, args.scenario)
    _done(t0)

    # the strategy needs startup_candle_count candles (7 days of 5m) before its first signal
    start = (first + pd.Timedelta(days=8)).strftime("%Y%m%d")
    end = (last + pd.Timedelta(days=1)).strftime("%Y%m%d")
    timerange = f"{start}-{end}"
    t0 = _step(2, f"freqtrade backtesting LiqClusterStrategy on {PAIR} 5m, {timerange}, offline "
                  "(loopback exchange on 127.0.0.1)")
    code, report, results = run_backtest(work, datadir, timerange)
    _done(t0)
    if code != 0:
        print(f"freqtrade backtesting failed (exit {code}); its log: {work / 'backtesting.log'}", file=sys.stderr)
        return code

    t0 = _step(3, "the backtest report (Freqtrade's own tables)")
    print(report.strip())

    t0 = _step(4, "the liquidation heatmap of the period, with the trades and their stops")
    from liq_indicator.cli import main as cli

    code = cli(["heatmap", "--datadir", str(datadir), "--pairs", PAIR, "--timeframe", "5m",
                "--timerange", timerange, "--backtest-filename", str(results),
                "--plot-dir", args.plot_dir, "--format", "both"])
    if code != 0:
        return code
    at = _largest_cascade(datadir, start)
    print(f"      the liquidation map just before the period's largest long cascade ({at}):")
    code = cli(["map", "--datadir", str(datadir), "--pairs", PAIR, "--timeframe", "5m",
                "--at", at.isoformat(), "--plot-dir", args.plot_dir, "--format", "both"])
    if code != 0:
        return code
    _done(t0)
    print(f"\ndemo finished in {time.perf_counter() - t_all:.0f} s; pictures in {args.plot_dir}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
