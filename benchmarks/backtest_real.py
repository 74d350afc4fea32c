"""LiqClusterStrategy on the real BTC/USDT:USDT history, beside buy-and-hold and a plain baseline.

Runs real ``freqtrade backtesting`` offline (the loopback exchange of ``liq_indicator.offline``
serves the markets) on ``../shared/data/history/binance`` (5m candles 2023-01 -> 2025-09, 1h
funding), and measures how far the strategy's features computed from the start-up window are from
those computed from full history. Prints markdown tables; ``--write-docs`` puts them into
docs/STRATEGY.md between the ``<!-- backtest-real -->`` / ``<!-- convergence-real -->`` markers.

    python benchmarks/backtest_real.py                 # everything (about 5 minutes on 2 cores)
    python benchmarks/backtest_real.py --only convergence
    python benchmarks/backtest_real.py --write-docs

The real data has no open interest: the map runs in volume mode throughout.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import re
import subprocess
import sys
import tempfile
import time
import zipfile
from pathlib import Path

import numpy as np
import pandas as pd

from liq_indicator import HeatmapConfig
from liq_indicator.config import DEFAULT_PAIR
from liq_indicator.io.datadir import pair_file
from liq_indicator.io.shared import shared_data_dir
from liq_indicator.offline import running_exchange
from liq_indicator.strategy.glue import parse_recursive_analysis
from liq_indicator.strategy.signals import STRATEGY_COLUMNS, STRATEGY_HEATMAP, strategy_features

REPO = Path(__file__).resolve().parents[1]
DATADIR = shared_data_dir() / "history" / "binance"
STRATEGIES = REPO / "user_data" / "strategies"
DOC = REPO / "docs" / "STRATEGY.md"
PAIR = DEFAULT_PAIR
TIMERANGE = "20230108-20251001"  # the first week of 2023 is the start-up window
STARTUP = 2000


# ------------------------------------------------------------------------------------------------
# freqtrade runs


def _freqtrade(command: str, workdir: Path, overlay: Path, *extra: str) -> str:
    pairs = workdir / "pairs.json"
    pairs.write_text(json.dumps({"exchange": {"pair_whitelist": [PAIR]}, "max_open_trades": 1}))
    args = [
        sys.executable,
        "-m",
        "freqtrade",
        command,
        "--config",
        str(REPO / "config.json.example"),
        "--config",
        str(pairs),
        "--config",
        str(overlay),
        "--userdir",
        str(workdir / "user_data"),
        "--datadir",
        str(DATADIR),
        "--strategy-path",
        str(STRATEGIES),
        *extra,
    ]
    result = subprocess.run(
        args, cwd=workdir, capture_output=True, text=True, env={**os.environ, "COLUMNS": "200"}
    )
    output = result.stdout + result.stderr
    if result.returncode != 0 or "Traceback" in output:
        raise RuntimeError(f"freqtrade {command} failed:\n{output[-5000:]}")
    return output


def _latest_stats(results_dir: Path, strategy: str) -> tuple[dict, pd.DataFrame]:
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


def _row(label: str, trades: pd.DataFrame, stats: dict, note: str) -> dict:
    profit = trades["profit_abs"] if len(trades) else pd.Series(dtype=float)
    gains, losses = profit[profit > 0].sum(), -profit[profit < 0].sum()
    return {
        "strategy": label,
        "trades": len(trades),
        "win rate": f"{(profit > 0).mean():.1%}" if len(trades) else "-",
        "profit factor": f"{gains / losses:.2f}" if losses > 0 else "-",
        "total return": f"{stats['profit_total']:+.1%}",
        "max drawdown": f"{stats['max_drawdown_account']:.1%}",
        "note": note,
    }


def _buy_and_hold(timerange: str) -> dict:
    candles = pd.read_feather(pair_file(DATADIR, PAIR, "5m"))
    start, end = (pd.Timestamp(x, tz="UTC") for x in timerange.split("-"))
    close = candles.loc[(candles["date"] >= start) & (candles["date"] < end), "close"]
    drawdown = 1 - close / close.cummax()
    return {
        "strategy": "buy and hold (1x long)",
        "trades": 1,
        "win rate": "-",
        "profit factor": "-",
        "total return": f"{close.iloc[-1] / close.iloc[0] - 1:+.1%}",
        "max drawdown": f"{drawdown.max():.1%}",
        "note": "whole wallet, no fees or funding",
    }


def _per_year(trades: pd.DataFrame) -> pd.DataFrame:
    trades = trades.assign(
        year=pd.to_datetime(trades["open_date"], utc=True).dt.year,
        side=np.where(trades["is_short"], "short", "long"),
    )
    grouped = trades.groupby(["year", "side"])["profit_abs"]
    table = pd.DataFrame(
        {
            "trades": grouped.size(),
            "win rate": grouped.apply(lambda p: f"{(p > 0).mean():.0%}"),
            "profit USDT": grouped.sum().round(0),
        }
    )
    return table.reset_index()


def run_backtests(timerange: str) -> tuple[str, str]:
    """(results table, per-year table of LiqClusterStrategy) in markdown."""
    rows = []
    with tempfile.TemporaryDirectory() as tmp, running_exchange(DATADIR, max_seconds=3600) as ex:
        work = Path(tmp)
        (work / "user_data").mkdir()
        overlay = ex.write_overlay(work / "offline.json")
        per_year = ""
        for strategy, note in (
            ("LiqClusterStrategy", "0.75% risk per trade, leverage <= 10x, long+short, 5m"),
            ("BaselineStrategy", "EMA 20/50 cross on 1h, 1x, long+short, whole wallet"),
        ):
            started = time.monotonic()
            _freqtrade(
                "backtesting",
                work,
                overlay,
                "--strategy",
                strategy,
                "--timerange",
                timerange,
                "--export",
                "trades",
                "--cache",
                "none",
            )
            stats, trades = _latest_stats(work / "user_data" / "backtest_results", strategy)
            print(
                f"{strategy}: {len(trades)} trades in {time.monotonic() - started:.0f} s",
                file=sys.stderr,
            )
            rows.append(_row(strategy, trades, stats, note))
            if strategy == "LiqClusterStrategy" and len(trades):
                per_year = _per_year(trades).to_markdown(index=False)
                exits = trades["exit_reason"].value_counts().to_dict()
                print(f"exit reasons: {exits}", file=sys.stderr)
    rows.append(_buy_and_hold(timerange))
    return pd.DataFrame(rows).to_markdown(index=False), per_year


# ------------------------------------------------------------------------------------------------
# convergence


def _rel(a: float, b: float) -> float:
    if (math.isnan(a) and math.isnan(b)) or a == b:
        return 0.0
    if math.isnan(a) or math.isnan(b) or a == 0:
        return math.inf
    return abs(b - a) / abs(a)


def convergence(window: int = STARTUP, points: int = 300, seed: int = 0) -> str:
    """Features from the last ``window`` (+1) candles vs from full history, at random end points.

    For each column the table gives the median, the 99th percentile and the largest relative
    difference, and the share of end points where it exceeds 0.5% (what ``recursive-analysis``
    flags), for the strategy's map and for the default map.
    """
    candles = pd.read_feather(pair_file(DATADIR, PAIR, "5m"))
    funding = pd.read_feather(pair_file(DATADIR, PAIR, "1h", "funding_rate"))
    ends = np.sort(np.random.default_rng(seed).integers(20 * 288, len(candles), points))
    columns = [*STRATEGY_COLUMNS, "atr_14", "funding_rate"]
    out = []
    for label, config in (
        ("strategy map (half-lives 18/12/8/4/2 h)", STRATEGY_HEATMAP),
        ("default map (336/168/72/36/12 h)", HeatmapConfig()),
    ):
        full = strategy_features(candles, config, funding=funding)
        diffs = {c: [] for c in columns}
        for end in ends:
            part = strategy_features(
                candles.iloc[end - window : end + 1], config, funding=funding
            ).iloc[-1]
            ref = full.iloc[end]
            for c in columns:
                diffs[c].append(_rel(float(ref[c]), float(part[c])))
        for c in columns:
            d = np.asarray(diffs[c])
            out.append(
                {
                    "map": label,
                    "column": c,
                    "median": f"{np.median(d):.2e}",
                    "p99": f"{np.quantile(d, 0.99, method='higher'):.2e}",
                    "max": f"{d.max():.2e}",
                    "> 0.5%": f"{(d > 0.005).mean():.1%}",
                }
            )
    return pd.DataFrame(out).to_markdown(index=False)


def recursive_real(
    timeranges: tuple[str, ...] = ("20240301-20240310", "20250601-20250610", "20250920-20250930"),
) -> str:
    """``freqtrade recursive-analysis`` on real data: the largest |difference| per startup count."""
    rows = []
    with tempfile.TemporaryDirectory() as tmp, running_exchange(DATADIR, max_seconds=3600) as ex:
        work = Path(tmp)
        (work / "user_data").mkdir()
        overlay = ex.write_overlay(work / "offline.json")
        for timerange in timeranges:
            output = _freqtrade(
                "recursive-analysis",
                work,
                overlay,
                "--strategy",
                "LiqClusterStrategy",
                "--timerange",
                timerange,
                "--startup-candle",
                "500",
                "1000",
                str(STARTUP),
            )
            header, table = parse_recursive_analysis(output)
            for i, column in enumerate(header):
                values = [cells[i] for cells in table.values()]
                worst = max(
                    values,
                    key=lambda v: (
                        math.inf
                        if "nan" in v
                        else abs(float(v.rstrip("%") or 0))
                        if v not in ("-", "")
                        else 0.0
                    ),
                    default="-",
                )
                worst_name = next((k for k, cells in table.items() if cells[i] == worst), "-")
                rows.append(
                    {
                        "timerange": timerange,
                        "startup candles": column,
                        "columns >= 0.001% off": sum(
                            v not in ("-", "") and float(v.rstrip("%")) != 0
                            for v in values
                            if "nan" not in v
                        ),
                        "largest difference": f"{worst} ({worst_name})" if table else "none",
                    }
                )
            if "No lookahead bias on indicators found" not in output:
                rows.append(
                    {
                        "timerange": timerange,
                        "startup candles": "-",
                        "columns >= 0.001% off": "-",
                        "largest difference": "LOOKAHEAD IN INDICATORS",
                    }
                )
    return pd.DataFrame(rows).to_markdown(index=False)


def lookahead_real(timerange: str = "20250101-20250401") -> str:
    with tempfile.TemporaryDirectory() as tmp, running_exchange(DATADIR, max_seconds=3600) as ex:
        work = Path(tmp)
        (work / "user_data").mkdir()
        overlay = ex.write_overlay(work / "offline.json")
        csv = work / "lookahead.csv"
        _freqtrade(
            "lookahead-analysis",
            work,
            overlay,
            "--strategy",
            "LiqClusterStrategy",
            "--timerange",
            timerange,
            "--minimum-trade-amount",
            "10",
            "--targeted-trade-amount",
            "20",
            "--lookahead-analysis-exportfilename",
            str(csv),
        )
        report = pd.read_csv(csv).drop(columns=["filename"])
    report.insert(0, "timerange", timerange)
    return report.to_markdown(index=False)


# ------------------------------------------------------------------------------------------------


def _replace_section(text: str, marker: str, body: str) -> str:
    pattern = re.compile(rf"(<!-- {marker}:start -->\n).*?(<!-- {marker}:end -->)", re.S)
    if not pattern.search(text):
        raise SystemExit(f"docs/STRATEGY.md has no <!-- {marker}:start/end --> markers")
    return pattern.sub(lambda m: m.group(1) + body.rstrip() + "\n" + m.group(2), text)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--only",
        choices=("backtest", "convergence", "recursive", "lookahead"),
        action="append",
        help="run only these parts (repeatable)",
    )
    parser.add_argument("--timerange", default=TIMERANGE)
    parser.add_argument("--write-docs", action="store_true", help="update docs/STRATEGY.md")
    args = parser.parse_args(argv)
    if not pair_file(DATADIR, PAIR, "5m").exists():
        print(f"real data not found under {DATADIR}; nothing to do", file=sys.stderr)
        return 0
    parts = args.only or ["backtest", "convergence", "recursive", "lookahead"]
    sections: dict[str, str] = {}
    if "backtest" in parts:
        table, per_year = run_backtests(args.timerange)
        sections["backtest-real"] = (
            f"Timerange {args.timerange} (5m candles; start-up from the "
            f"first week), wallet 10,000 USDT, fee 0.05% per side.\n\n"
            f"{table}\n\nLiqClusterStrategy by year and side:\n\n{per_year}\n"
        )
    if "convergence" in parts:
        sections["convergence-real"] = convergence()
    if "recursive" in parts:
        sections["recursive-real"] = recursive_real()
    if "lookahead" in parts:
        sections["lookahead-real"] = lookahead_real()
    for marker, body in sections.items():
        print(f"\n## {marker}\n\n{body}")
    if args.write_docs:
        text = DOC.read_text()
        for marker, body in sections.items():
            text = _replace_section(text, marker, body)
        DOC.write_text(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
