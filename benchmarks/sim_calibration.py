"""Side-by-side statistics of the simulated market and real BTC perpetual data.

Real data (never copied into the repository) is read from ``../shared/data`` or ``--shared``:
Binance BTCUSDT 5m candles 2023-2025 and hourly liquidations + open interest summed over the major
exchanges (2025-12 .. 2026-02). Prints a Markdown table; ``--write`` replaces the table between the
``<!-- calibration:start -->`` / ``<!-- calibration:end -->`` markers of ``docs/SIMULATOR.md``.

    python benchmarks/sim_calibration.py --days 365 --seeds 0 1 2 --write

Each simulated cell is the mean over the seeds (one simulation per seed and scenario); the spread
of the annualised volatility and of the largest liquidation hour across seeds is printed under the
table, since a single year of this market varies about as much as real years do.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
import pandas as pd

from liq_indicator.config import DEFAULT_PAIR
from liq_indicator.core.inputs import funding_column
from liq_indicator.io.datadir import pair_file
from liq_indicator.io.shared import shared_data_dir
from liq_indicator.sim.market import SCENARIOS, SimResult, simulate

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_SHARED = shared_data_dir()
HISTORY = Path("history/binance")
CANDLES_5M = pair_file(HISTORY, DEFAULT_PAIR, "5m")
LIQ_1H = "truth/btc_liquidations_oi_1h_all_exchanges.csv"
START, END = "<!-- calibration:start -->", "<!-- calibration:end -->"

ROWS = [
    ("ret_std", "5m log-return std (%)", "{:.3f}"),
    ("ret_ann", "annualised volatility (%)", "{:.0f}"),
    ("ret_kurt", "5m excess kurtosis", "{:.1f}"),
    ("ret_p999", "99.9th pct of abs 5m return (%)", "{:.2f}"),
    ("acf1", "ACF abs-return, lag 1 (5m)", "{:.2f}"),
    ("acf12", "ACF abs-return, lag 12 (1h)", "{:.2f}"),
    ("acf288", "ACF abs-return, lag 288 (1d)", "{:.2f}"),
    ("vacf1", "ACF volume, lag 1", "{:.2f}"),
    ("vacf12", "ACF volume, lag 12", "{:.2f}"),
    ("vacf288", "ACF volume, lag 288", "{:.2f}"),
    ("vol_btc", "mean 5m volume (BTC)", "{:,.0f}"),
    ("vol_cv", "5m volume std / mean", "{:.2f}"),
    ("oi_usd", "mean open interest (USD bn)", "{:.2f}"),
    ("turnover", "daily volume / open interest", "{:.2f}"),
    ("liq_zero", "hours without liquidations (%)", "{:.1f}"),
    ("liq_med_oi", "median hourly liquidations / OI (bp)", "{:.2f}"),
    ("liq_mean_oi", "mean hourly liquidations / OI (bp)", "{:.2f}"),
    ("liq_p99_oi", "99th pct hourly liquidations / OI (bp)", "{:.1f}"),
    ("liq_p99_med", "99th pct / median of hourly liquidations", "{:.0f}"),
    ("liq_max_oi", "max hourly liquidations / OI (bp)", "{:.0f}"),
    ("liq_long_share", "long share of liquidated USD (%)", "{:.0f}"),
    ("funding_base", "funding events at exactly 0.01% (%)", "{:.0f}"),
]


def _acf(x: np.ndarray, lag: int) -> float:
    x = np.asarray(x, dtype=np.float64)
    x = x - x.mean()
    return float(np.dot(x[:-lag], x[lag:]) / np.dot(x, x))


def candle_stats(candles: pd.DataFrame) -> dict[str, float]:
    """Return and volume statistics of 5m candles."""
    close = candles["close"].to_numpy()
    r = np.diff(np.log(close))
    a = np.abs(r)
    v = candles["volume"].to_numpy()
    return {
        "ret_std": r.std() * 100,
        "ret_ann": r.std() * np.sqrt(288 * 365) * 100,
        "ret_kurt": float(pd.Series(r).kurt()),
        "ret_p999": float(np.quantile(a, 0.999)) * 100,
        "acf1": _acf(a, 1),
        "acf12": _acf(a, 12),
        "acf288": _acf(a, 288),
        "vacf1": _acf(v, 1),
        "vacf12": _acf(v, 12),
        "vacf288": _acf(v, 288),
        "vol_btc": float(v.mean()),
        "vol_cv": float(v.std() / v.mean()),
    }


def liquidation_stats(hourly_liq: np.ndarray, hourly_long: np.ndarray, oi: np.ndarray) -> dict:
    """Hourly liquidation statistics relative to open interest (USD)."""
    rel = hourly_liq / oi
    med = float(np.median(hourly_liq))
    return {
        "liq_zero": float(np.mean(hourly_liq == 0)) * 100,
        "liq_med_oi": float(np.median(rel)) * 1e4,
        "liq_mean_oi": float(np.mean(rel)) * 1e4,
        "liq_p99_oi": float(np.quantile(rel, 0.99)) * 1e4,
        "liq_p99_med": float(np.quantile(hourly_liq, 0.99)) / med if med > 0 else float("inf"),
        "liq_max_oi": float(rel.max()) * 1e4,
        "liq_long_share": float(hourly_long.sum() / hourly_liq.sum()) * 100,
        "oi_usd": float(np.mean(oi)) / 1e9,
    }


def real_stats(shared: Path) -> dict[str, float]:
    candles = pd.read_feather(shared / CANDLES_5M)
    out = candle_stats(candles)
    liq = pd.read_csv(shared / LIQ_1H)
    out.update(
        liquidation_stats(
            liq["liquidation_total_usd"].to_numpy(),
            liq["liquidation_long_usd"].to_numpy(),
            liq["oi_close"].to_numpy(),
        )
    )
    # turnover: Binance volume over the truth window's all-exchange OI is not comparable; use the
    # truth-window Binance 1h candles against the aggregated OI and say so in the docs
    tw = pair_file(shared / "truthwindow/binance", DEFAULT_PAIR, "1h")
    if tw.exists():
        c1h = pd.read_feather(tw)
        daily_usd = (c1h["volume"] * c1h["close"]).sum() / (len(c1h) / 24)
        out["turnover"] = daily_usd / liq["oi_close"].mean()
    fr = pd.read_feather(pair_file(shared / HISTORY, DEFAULT_PAIR, "1h", "funding_rate"))
    out["funding_base"] = float(np.mean(np.isclose(fr[funding_column(fr)], 1e-4, atol=1e-9))) * 100
    return out


def sim_stats(res: SimResult) -> dict[str, float]:
    if res.timeframe != "5m":
        raise SystemExit("calibration needs 5m candles")
    out = candle_stats(res.candles)
    t = res.truth.set_index("date")
    hourly = t[["liq_long_usd", "liq_short_usd"]].resample("1h").sum()
    oi = res.oi.set_index("date")["open_interest_value"].resample("1h").last()
    total = (hourly["liq_long_usd"] + hourly["liq_short_usd"]).to_numpy()
    out.update(liquidation_stats(total, hourly["liq_long_usd"].to_numpy(), oi.to_numpy()))
    daily_usd = (res.candles["volume"] * res.candles["close"]).sum() / (len(res.candles) / 288)
    out["turnover"] = daily_usd / res.oi["open_interest_value"].mean()
    out["funding_base"] = (
        float(np.mean(np.isclose(res.funding["funding_rate"], 1e-4, atol=1e-9))) * 100
    )
    return out


def table(columns: dict[str, dict[str, float]]) -> str:
    names = list(columns)
    lines = ["| statistic | " + " | ".join(names) + " |", "|---|" + "---:|" * len(names)]
    for key, label, fmt in ROWS:
        cells = []
        for name in names:
            value = columns[name].get(key)
            cells.append("n/a" if value is None or not np.isfinite(value) else fmt.format(value))
        lines.append(f"| {label} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--days", type=float, default=365.0)
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    ap.add_argument("--shared", type=Path, default=DEFAULT_SHARED)
    ap.add_argument("--scenarios", nargs="*", default=list(SCENARIOS))
    ap.add_argument("--write", action="store_true", help="update docs/SIMULATOR.md")
    args = ap.parse_args(argv)

    columns: dict[str, dict[str, float]] = {}
    if (args.shared / CANDLES_5M).exists() and (args.shared / LIQ_1H).exists():
        columns["real"] = real_stats(args.shared)
    else:
        print(
            f"real data not found under {args.shared}; showing the simulation only", file=sys.stderr
        )
    spread = []
    for name in args.scenarios:
        runs = []
        for seed in args.seeds:
            runs.append(sim_stats(simulate(args.days, timeframe="5m", seed=seed, scenario=name)))
            print(f"simulated {name} seed {seed}", file=sys.stderr)
        columns[f"sim {name}"] = {k: float(np.mean([r[k] for r in runs])) for k in runs[0]}
        vols = [r["ret_ann"] for r in runs]
        peaks = [r["liq_max_oi"] for r in runs]
        spread.append(
            f"{name} {min(vols):.0f}-{max(vols):.0f}% / {min(peaks):.0f}-{max(peaks):.0f} bp"
        )
    md = table(columns)
    seeds = ", ".join(str(s) for s in args.seeds)
    caption = (
        f"Simulation: {args.days:g} days of 5m candles per scenario and seed (seeds {seeds}; "
        "cells are means over the seeds), default SimConfig. Generated by "
        "`python benchmarks/sim_calibration.py --write`."
    )
    note = (
        "Across seeds (min-max), annualised volatility / largest hourly liquidations relative "
        "to OI: " + "; ".join(spread) + "."
    )
    block = f"{START}\n{caption}\n\n{md}\n\n{note}\n{END}"
    print(block)
    if args.write:
        doc = ROOT / "docs" / "SIMULATOR.md"
        text = doc.read_text()
        if START not in text or END not in text:
            raise SystemExit(f"{doc} has no calibration markers")
        head, rest = text.split(START, 1)
        _, tail = rest.split(END, 1)
        doc.write_text(head + block + tail)
    return 0


if __name__ == "__main__":
    sys.exit(main())
