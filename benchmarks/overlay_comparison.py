"""The liquidation map as a risk overlay: two strategies with and without ``LiqRiskMixin``.

Runs real ``freqtrade backtesting`` offline (the loopback exchange of ``liq_indicator.offline``
serves the markets) on ``../shared/data/history/binance`` for Freqtrade's own SampleStrategy (5m)
and the project's BaselineStrategy (EMA cross, 1h), each as it ships and with the overlay
(SampleLiqOverlay, BaselineLiqOverlay), and writes docs/OVERLAY.md: return, max drawdown, stop-outs,
liquidations, trades and the backtest's wall time with the overlay over without. Every number in
the file comes from the run.

    python benchmarks/overlay_comparison.py                        # the default periods, docs written
    python benchmarks/overlay_comparison.py --sample-timerange 20250101-20250201 --no-write

The real history has no open interest: the map runs in volume mode throughout.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
import zipfile
from pathlib import Path

import pandas as pd

from liq_indicator.config import DEFAULT_PAIR
from liq_indicator.io.datadir import pair_file
from liq_indicator.io.shared import shared_data_dir
from liq_indicator.offline import running_exchange

REPO = Path(__file__).resolve().parents[1]
DATADIR = shared_data_dir() / "history" / "binance"
STRATEGIES = REPO / "user_data" / "strategies"
DOC = REPO / "docs" / "OVERLAY.md"
PAIR = DEFAULT_PAIR
# 5m: 21 months; the overlay's backtest takes a few minutes on this 2-core machine
SAMPLE_TIMERANGE = "20240101-20251001"
# 1h: 24,000 candles over the whole history are cheap
BASELINE_TIMERANGE = "20230201-20251001"
STOP_REASONS = ("stop_loss", "stoploss_on_exchange", "trailing_stop_loss")
PAIRS = (
    ("SampleStrategy", "SampleLiqOverlay", "Freqtrade's SampleStrategy (RSI/TEMA/BB, long only)"),
    ("BaselineStrategy", "BaselineLiqOverlay", "the project's EMA 20/50 baseline (long+short)"),
)


def _strategy_path(strategy: str) -> Path:
    """Where Freqtrade finds ``strategy``: SampleStrategy among Freqtrade's own templates (as
    installed), the others in the project's user_data/strategies.
    """
    if strategy == "SampleStrategy":
        import freqtrade.templates

        return Path(freqtrade.templates.__file__).parent
    return STRATEGIES


def _freqtrade(workdir: Path, overlay: Path, strategy: str, timerange: str) -> float:
    """Run one backtest; its wall time in seconds."""
    settings = workdir / "pairs.json"
    settings.write_text(json.dumps({"exchange": {"pair_whitelist": [PAIR]}, "max_open_trades": 1}))
    args = [
        sys.executable,
        "-m",
        "freqtrade",
        "backtesting",
        "--config",
        str(REPO / "config.json.example"),
        "--config",
        str(settings),
        "--config",
        str(overlay),
        "--userdir",
        str(workdir / "user_data"),
        "--datadir",
        str(DATADIR),
        "--strategy-path",
        str(_strategy_path(strategy)),
        "--strategy",
        strategy,
        "--timerange",
        timerange,
        "--export",
        "trades",
        "--cache",
        "none",
    ]
    started, load = time.monotonic(), os.getloadavg()[0]
    result = subprocess.run(
        args, cwd=workdir, capture_output=True, text=True, env={**os.environ, "COLUMNS": "200"}
    )
    elapsed = time.monotonic() - started
    output = result.stdout + result.stderr
    if result.returncode != 0 or "Traceback" in output:
        raise RuntimeError(f"freqtrade backtesting {strategy} failed:\n{output[-5000:]}")
    LOADS.append((load, os.getloadavg()[0]))
    return elapsed


#: (1-minute load average before, after) of each backtest: other work on the machine slows it
LOADS: list[tuple[float, float]] = []


def _latest(results_dir: Path, strategy: str) -> tuple[dict, pd.DataFrame]:
    latest = json.loads((results_dir / ".last_result.json").read_text())["latest_backtest"]
    with zipfile.ZipFile(results_dir / latest) as archive:
        name = next(
            n
            for n in archive.namelist()
            if n.endswith(".json") and "_config" not in n and not n.endswith("meta.json")
        )
        data = json.loads(archive.read(name))
    stats = data["strategy"][strategy]
    return stats, pd.DataFrame(stats["trades"])


def summary(strategy: str, stats: dict, trades: pd.DataFrame, seconds: float) -> dict:
    """One table row of a backtest: its statistics and the counts read from its trades."""
    reasons = trades["exit_reason"] if len(trades) else pd.Series(dtype=str)
    lev = trades["leverage"] if len(trades) else pd.Series(dtype=float)
    profit = trades["profit_abs"] if len(trades) else pd.Series(dtype=float)
    gains, losses = profit[profit > 0].sum(), -profit[profit < 0].sum()
    return {
        "strategy": strategy,
        "trades": len(trades),
        "return": stats["profit_total"],
        "max drawdown": stats["max_drawdown_account"],
        "profit factor": gains / losses if losses > 0 else float("nan"),
        "stop-outs": int(reasons.isin(STOP_REASONS).sum()),
        "liquidations": int((reasons == "liquidation").sum()),
        "median leverage": float(lev.median()) if len(lev) else float("nan"),
        "median stake": float(trades["stake_amount"].median()) if len(trades) else float("nan"),
        "median notional": (
            float((trades["stake_amount"] * trades["leverage"]).median())
            if len(trades)
            else float("nan")
        ),
        "seconds": seconds,
        "exits": reasons.value_counts().to_dict(),
    }


def run(timeranges: dict[str, str]) -> list[tuple[dict, dict, str, str]]:
    """Each pair's (without, with, description, timerange)."""
    out = []
    with tempfile.TemporaryDirectory() as tmp, running_exchange(DATADIR, max_seconds=7200) as ex:
        work = Path(tmp)
        (work / "user_data").mkdir()
        overlay = ex.write_overlay(work / "offline.json")
        for plain, wrapped, text in PAIRS:
            timerange = timeranges[plain]
            rows = []
            for strategy in (plain, wrapped):
                seconds = _freqtrade(work, overlay, strategy, timerange)
                stats, trades = _latest(work / "user_data" / "backtest_results", strategy)
                row = summary(strategy, stats, trades, seconds)
                print(f"{strategy} {timerange}: {row}", file=sys.stderr)
                rows.append(row)
            out.append((rows[0], rows[1], text, timerange))
    return out


def _fmt(row: dict, ratio: str) -> dict:
    return {
        "strategy": row["strategy"],
        "return": f"{row['return']:+.1%}",
        "max drawdown": f"{row['max drawdown']:.1%}",
        "profit factor": f"{row['profit factor']:.2f}",
        "stop-outs": row["stop-outs"],
        "liquidations": row["liquidations"],
        "trades": row["trades"],
        "median leverage": f"{row['median leverage']:.0f}x",
        "median margin (USDT)": f"{row['median stake']:,.0f}",
        "median notional (USDT)": f"{row['median notional']:,.0f}",
        "backtest s": f"{row['seconds']:.0f}",
        "time ratio": ratio,
    }


def report(results: list[tuple[dict, dict, str, str]]) -> str:
    """docs/OVERLAY.md from the runs."""
    rows, notes = [], []
    for plain, wrapped, text, timerange in results:
        rows.append(_fmt(plain, "1.00"))
        rows.append(_fmt(wrapped, f"{wrapped['seconds'] / plain['seconds']:.2f}"))
        notes.append(
            f"- **{plain['strategy']}**, {text}, {timerange}: exits without the overlay "
            f"{plain['exits']}, with it {wrapped['exits']}. Profit factor, which does not depend "
            f"on position size, {plain['profit factor']:.2f} without and "
            f"{wrapped['profit factor']:.2f} with the overlay; the median position is "
            f"{wrapped['median notional'] / plain['median notional']:.2f} times as large."
        )
    table = pd.DataFrame(rows).to_markdown(index=False)
    return f"""# The liquidation map as a risk overlay (generated)

Generated by `python benchmarks/overlay_comparison.py` ({platform.python_version()}, 2-core
machine); every number below comes from that run. Do not edit by hand.

`LiqRiskMixin` (`liq_indicator/strategy/overlay.py`) keeps a strategy's entries and exits and
answers three of Freqtrade's callbacks from the liquidation map: `custom_stoploss` (beyond the
nearest same-side cluster and its sweep zone, out of every dense zone), `leverage` (the highest
whole leverage up to 10x whose own liquidation is 1.5 stop distances away and outside the
clusters), `custom_stake_amount` (0.75% of the wallet lost at the stop, fees included). The
strategy's `minimal_roi` keeps its meaning as a price move (scaled by the leverage).

Real `freqtrade backtesting` of BTC/USDT:USDT (Binance USDT-M, `../shared/data/history`), offline
exchange, wallet 10,000 USDT, one open trade, fee 0.05% per side. Without the overlay both strategies
stake the whole wallet at 1x with a 10% stop (their own settings). The history has no open interest:
the map runs in volume mode. "time ratio" is the backtest's wall time with the overlay over without
(including the map's features: the map is computed over the whole timerange plus the start-up
window). The machine was shared: the 1-minute load average around the backtests ranged from
{min(min(x) for x in LOADS):.1f} to {max(max(x) for x in LOADS):.1f} on 2 cores, so the time ratios
are rough.

{table}

{chr(10).join(notes)}

Read with care: the overlay changes the size of every trade (risk-based instead of whole wallet), so
return and drawdown differ by exposure as much as by the stop: a smaller loss with the overlay is
mostly a smaller position, and the profit factor tells whether the stop itself helped. Stop-outs count Freqtrade's
`stop_loss`, `stoploss_on_exchange` and `trailing_stop_loss` exits; liquidations its `liquidation`
exits.
"""


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sample-timerange", default=SAMPLE_TIMERANGE)
    parser.add_argument("--baseline-timerange", default=BASELINE_TIMERANGE)
    parser.add_argument("--no-write", action="store_true", help="print, do not write docs")
    args = parser.parse_args(argv)
    if not pair_file(DATADIR, PAIR, "5m").exists():
        print(f"real data not found under {DATADIR}; nothing to do", file=sys.stderr)
        return 0
    results = run(
        {"SampleStrategy": args.sample_timerange, "BaselineStrategy": args.baseline_timerange}
    )
    text = report(results)
    print(text)
    if not args.no_write:
        DOC.write_text(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
