"""``freqtrade backtesting`` wall time of LiqClusterStrategy against Freqtrade's own sample strategy.

Both run in one invocation of this script, on the same machine and the same real data (Binance
BTC/USDT:USDT 5m, one year, from ``../shared/data/history/binance``), offline through the loopback
exchange of ``liq_indicator.offline``, with ``--cache none``. The sample strategy is copied from the
installed Freqtrade (``freqtrade/templates/sample_strategy.py``) into a temporary strategies folder
at run time; it is never part of this repository. Target: LiqClusterStrategy within 1.5x.

Reported: each backtest's wall time, split into phases by the timestamps of Freqtrade's own log
lines; ``populate_indicators`` alone (in process, on the candles the backtest loads: the timerange
plus the strategy's start-up candles). When the ratio is above the target, the time is attributed:

* an ablation: the same backtest without Freqtrade's deep copy of the trade before each strategy
  callback that receives it (``strategy_wrapper.py``), through a launcher that patches the running
  process only, nothing on disk. The saving is what the copies cost.
* an accounting run: the same backtest with the copies counted and timed, and each strategy
  callback timed (calls, seconds), so the copies can be checked against ``custom_stoploss`` and
  ``custom_roi`` calls (one per open trade per candle, each).

``--profile`` adds a cProfile of LiqClusterStrategy's backtest (top functions by cumulative time;
the profiler inflates Python-heavy code, so the ablation seconds are the ones to quote).

    python benchmarks/bench_freqtrade.py                      # about 3 minutes on 2 cores
    python benchmarks/bench_freqtrade.py --repeat 3 --profile
"""

from __future__ import annotations

import argparse
import importlib.util
import io
import json
import logging
import os
import pstats
import re
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import pandas as pd

from liq_indicator.config import DEFAULT_PAIR
from liq_indicator.io.datadir import pair_file
from liq_indicator.io.shared import shared_data_dir

REPO = Path(__file__).resolve().parents[1]
DATADIR = shared_data_dir() / "history" / "binance"
STRATEGIES = REPO / "user_data" / "strategies"
OURS = "LiqClusterStrategy"
PAIR = DEFAULT_PAIR
TIMERANGE = "20240101-20250101"
TARGET = 1.5

# Freqtrade log lines that open each phase of a backtest
PHASES = (
    ("configure + load data", r"freqtrade\.configuration\.load_config - INFO - Using config"),
    ("indicators + signals", r"Dataload complete\. Calculating indicators"),
    ("backtest loop + report", r"Backtesting with data from"),
)
LOG_TIME = re.compile(r"^(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3}) - ")

# Runs freqtrade in this process after optional patches (argv[1]: comma-separated patch names).
# The patches only remove or count a cost; they change nothing on disk.
LAUNCHER = """
import atexit, collections, functools, json, runpy, sys, time
patches = set(filter(None, sys.argv[1].split(",")))
import freqtrade.strategy.strategy_wrapper as wrapper
if "no_trade_copy" in patches:  # Freqtrade deep-copies the trade before each user callback
    wrapper.deepcopy = lambda obj: obj
if "account" in patches:  # count and time the copies and the strategy's callbacks
    spent = collections.defaultdict(float)
    calls = collections.Counter()

    def timed(name, f):
        @functools.wraps(f)
        def run(*args, **kwargs):
            t = time.perf_counter()
            try:
                return f(*args, **kwargs)
            finally:
                spent[name] += time.perf_counter() - t
                calls[name] += 1
        return run

    wrapper.deepcopy = timed("deepcopy(trade)", wrapper.deepcopy)
    import freqtrade.resolvers.strategy_resolver as resolver
    load = resolver.StrategyResolver.load_strategy

    def load_timed(*args, **kwargs):
        strategy = load(*args, **kwargs)
        for name in ("custom_stoploss", "custom_roi", "custom_exit", "leverage",
                     "custom_stake_amount", "confirm_trade_entry", "populate_indicators",
                     "populate_entry_trend", "populate_exit_trend"):
            if name in type(strategy).__dict__:
                setattr(type(strategy), name, timed(name, type(strategy).__dict__[name]))
        return strategy

    resolver.StrategyResolver.load_strategy = staticmethod(load_timed)
    atexit.register(lambda: print("ACCOUNT " + json.dumps(
        {k: [calls[k], spent[k]] for k in spent}), file=sys.stderr))
sys.argv = ["freqtrade", *sys.argv[2:]]
runpy.run_module("freqtrade", run_name="__main__", alter_sys=True)
"""


@dataclass
class Run:
    seconds: float
    output: str
    started: datetime
    ended: datetime

    def phases(self) -> dict[str, float]:
        """Seconds per phase: Python start-up (before the first config line), then from each
        phase's first log line to the next one's (the last phase to the process's end)."""
        marks: list[tuple[str, datetime]] = [("python start-up + imports", self.started)]
        for line in self.output.splitlines():
            match = LOG_TIME.match(line)
            if not match:
                continue
            for name, pattern in PHASES:
                if name not in dict(marks) and re.search(pattern, line):
                    marks.append((name, datetime.strptime(match.group(1), "%Y-%m-%d %H:%M:%S,%f")))
        ends = [at for _, at in marks[1:]] + [self.ended]
        return {
            name: (end - at).total_seconds() for (name, at), end in zip(marks, ends, strict=True)
        }

    def trades(self) -> str:
        match = re.search(r"│\s*TOTAL\s*│\s*(\d+)\s*│", self.output)
        return match.group(1) if match else "?"


def sample_strategy_dir(root: Path) -> tuple[Path, str]:
    """Copy Freqtrade's sample strategy into ``root`` and return (folder, class name)."""
    import freqtrade.templates

    source = Path(freqtrade.templates.__file__).parent / "sample_strategy.py"
    folder = root / "sample_strategies"
    folder.mkdir()
    shutil.copy(source, folder / source.name)
    name = re.search(r"^class (\w+)\(IStrategy\)", source.read_text(), re.M).group(1)
    return folder, name


def backtest(
    work: Path,
    overlay: Path,
    strategy: str,
    strategy_path: Path,
    *,
    patches: str = "",
    profile: Path | None = None,
) -> Run:
    pairs = work / "pairs.json"
    pairs.write_text(json.dumps({"exchange": {"pair_whitelist": [PAIR]}, "max_open_trades": 1}))
    args = [
        "backtesting",
        "--config",
        str(REPO / "config.json.example"),
        "--config",
        str(pairs),
        "--config",
        str(overlay),
        "--userdir",
        str(work / "user_data"),
        "--datadir",
        str(DATADIR),
        "--strategy-path",
        str(strategy_path),
        "--strategy",
        strategy,
        "--timerange",
        TIMERANGE,
        "--cache",
        "none",
        "--export",
        "none",
    ]
    if profile is not None:
        cmd = [sys.executable, "-m", "cProfile", "-o", str(profile), "-m", "freqtrade", *args]
    elif patches:
        cmd = [sys.executable, "-c", LAUNCHER, patches, *args]
    else:
        cmd = [sys.executable, "-m", "freqtrade", *args]
    started = datetime.now()
    t = time.perf_counter()
    result = subprocess.run(
        cmd, cwd=work, capture_output=True, text=True, env={**os.environ, "COLUMNS": "200"}
    )
    seconds = time.perf_counter() - t
    ended = datetime.now()
    output = result.stdout + result.stderr
    if result.returncode != 0 or "Traceback" in output:
        raise RuntimeError(f"freqtrade backtesting {strategy} failed:\n{output[-5000:]}")
    return Run(seconds, output, started, ended)


# ------------------------------------------------------------------------------------------------
# populate_indicators alone


class _DP:
    """The DataProvider calls a strategy's populate_indicators makes in a backtest."""

    runmode = "backtest"

    def __init__(self, funding: pd.DataFrame) -> None:
        self.funding = funding

    def get_pair_dataframe(self, pair, timeframe=None, candle_type=""):
        if candle_type == "funding_rate":
            return self.funding
        return pd.DataFrame()  # no open interest in the real history

    def get_funding_rate_timeframe(self) -> str:
        return "1h"


def populate_indicators_seconds(path: Path, name: str, repeat: int = 3) -> tuple[float, int]:
    """Best wall time of ``populate_indicators`` on the candles the backtest loads, and their count."""
    spec = importlib.util.spec_from_file_location(f"bench_{path.stem}", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    strategy = getattr(module, name)(
        {
            "runmode": "backtest",
            "dry_run": True,
            "trading_mode": "futures",
            "margin_mode": "isolated",
            "stake_currency": "USDT",
        }
    )
    strategy.dp = _DP(pd.read_feather(pair_file(DATADIR, PAIR, "1h", "funding_rate")))
    candles = pd.read_feather(pair_file(DATADIR, PAIR, "5m"))
    start, end = (pd.Timestamp(x, tz="UTC") for x in TIMERANGE.split("-"))
    start -= pd.Timedelta(minutes=5 * int(strategy.startup_candle_count))
    candles = candles[(candles["date"] >= start) & (candles["date"] < end)].reset_index(drop=True)
    strategy.populate_indicators(candles.copy(), {"pair": PAIR})  # warm-up (numba cache, imports)
    best = float("inf")
    for _ in range(repeat):
        frame = candles.copy()
        t = time.perf_counter()
        strategy.populate_indicators(frame, {"pair": PAIR})
        best = min(best, time.perf_counter() - t)
    return best, len(candles)


# ------------------------------------------------------------------------------------------------


def md(rows: list[dict]) -> str:
    cols = list(rows[0])
    return "\n".join(
        [
            "| " + " | ".join(cols) + " |",
            "|" + "|".join("---:" if i else "---" for i in range(len(cols))) + "|",
            *("| " + " | ".join(str(r[c]) for c in cols) + " |" for r in rows),
        ]
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--repeat", type=int, default=1, help="backtests per strategy (best is kept)"
    )
    parser.add_argument(
        "--profile", action="store_true", help="cProfile LiqClusterStrategy's backtest"
    )
    parser.add_argument("--no-ablation", action="store_true", help="skip the attribution runs")
    args, _ = parser.parse_known_args()  # run_all.py passes its own arguments through
    if not pair_file(DATADIR, PAIR, "5m").exists():
        print(f"real data not found at {DATADIR}; skipped", file=sys.stderr)
        return 0
    from liq_indicator.offline import running_exchange

    logging.disable(logging.WARNING)  # the strategy's one-time notices during the in-process timing
    with tempfile.TemporaryDirectory() as tmp, running_exchange(DATADIR, max_seconds=3600) as ex:
        work = Path(tmp)
        (work / "user_data").mkdir()
        overlay = ex.write_overlay(work / "offline.json")
        sample_dir, sample = sample_strategy_dir(work)
        folders = {OURS: STRATEGIES, sample: sample_dir}
        backtest(work, overlay, sample, sample_dir)  # throw-away: bytecode and disk caches warm
        best: dict[str, Run] = {}
        for _ in range(max(1, args.repeat)):
            for name, folder in folders.items():  # alternating, so machine drift hits both
                run = backtest(work, overlay, name, folder)
                if name not in best or run.seconds < best[name].seconds:
                    best[name] = run
        ratio = best[OURS].seconds / best[sample].seconds
        indicators = {
            name: populate_indicators_seconds(
                next(folder.glob("*.py")) if name == sample else folder / f"{OURS}.py", name
            )
            for name, folder in folders.items()
        }

        no_copy: Run | None = None
        account: dict[str, list] = {}
        if ratio > TARGET and not args.no_ablation:
            no_copy = backtest(work, overlay, OURS, STRATEGIES, patches="no_trade_copy")
            run = backtest(work, overlay, OURS, STRATEGIES, patches="account")
            line = next(x for x in run.output.splitlines() if x.startswith("ACCOUNT "))
            account = json.loads(line[len("ACCOUNT ") :])
        profile_text = ""
        if args.profile:
            prof = work / "ours.prof"
            backtest(work, overlay, OURS, STRATEGIES, profile=prof)
            buf = io.StringIO()
            pstats.Stats(str(prof), stream=buf).sort_stats("cumulative").print_stats(
                r"backtest_loop|strategy_wrapper|deepcopy|LiqClusterStrategy|glue|trade_state|callbacks|"
                r"estimator|signals|risk|_enter_trade|should_exit|min_roi|stoploss"
            )
            profile_text = buf.getvalue()

    print(
        f"`freqtrade backtesting` of BTC/USDT:USDT 5m, timerange {TIMERANGE}, real Binance candles, "
        f"offline, `--cache none`, one pair, max_open_trades 1, best of {max(1, args.repeat)}; "
        f"{os.cpu_count()} CPUs.\n"
    )
    rows = []
    for name in (sample, OURS):
        run = best[name]
        ind_s, ind_n = indicators[name]
        phase = run.phases()
        rows.append(
            {
                "strategy": name,
                "trades": run.trades(),
                "wall s": f"{run.seconds:.1f}",
                **{f"{k} s": f"{v:.1f}" for k, v in phase.items()},
                "populate_indicators alone s": f"{ind_s:.2f} ({ind_n:,} candles)",
            }
        )
    print(md(rows))
    verdict = "within" if ratio <= TARGET else "ABOVE"
    print(f"\nratio {OURS} / {sample}: **{ratio:.2f}x** ({verdict} the {TARGET}x target)")
    if no_copy is not None:
        base, sample_s = best[OURS].seconds, best[sample].seconds
        print(
            f"\nWithout Freqtrade's `deepcopy(trade)` before each callback (same trades: "
            f"{no_copy.trades()}): {no_copy.seconds:.1f} s, **{no_copy.seconds / sample_s:.2f}x** the "
            f"sample strategy; the copies cost {base - no_copy.seconds:.1f} s of {base:.1f} s.\n"
        )
        print("Accounting run (callbacks and copies timed in process; the timers add a little):\n")
        rows = [
            {
                "in LiqClusterStrategy's backtest": name,
                "calls": f"{n:,}",
                "seconds": f"{sec:.2f}",
                "us per call": f"{sec / max(n, 1) * 1e6:,.0f}",
            }
            for name, (n, sec) in sorted(account.items(), key=lambda kv: -kv[1][1])
        ]
        print(md(rows))
    if profile_text:
        print("\ncProfile of LiqClusterStrategy's backtest (cumulative; profiler-inflated):\n")
        print("```\n" + profile_text.strip() + "\n```")
    return 0


if __name__ == "__main__":
    sys.exit(main())
