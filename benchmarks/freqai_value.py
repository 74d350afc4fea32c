"""Do the liquidation map's features add out-of-sample value to a FreqAI model? (issue #18 item 4)

The same FreqAI model (LiqFreqAIStrategy, LightGBMRegressor, config_freqai.json.example) runs twice
through ``freqtrade backtesting`` offline (the loopback exchange serves the markets): once on price
features alone (``liq_freqai_map_features: false``), once on price + the map's ``%liq_*`` features.
FreqAI's own rolling scheme keeps every prediction out of sample: train on ``train_period_days``,
predict the next ``backtest_period_days``, slide. From FreqAI's saved backtest predictions the script
measures, over the candles the model predicted (``do_predict == 1``):

* the information coefficient (Spearman rank correlation of the predicted and the realized target,
  the mean close of the next 12 candles over this close - 1), pooled and per window;
* the hit rate (sign of the prediction = sign of the realized target);
* the per-window IC difference (map - price) with a 95% t-interval over windows (the windows do
  not overlap, so they are the independent units; candles within one are not);

and, from Freqtrade's trades, the strategy's result on those predictions. Datasets: the BTC history
(2024-01 -> 2025-09, funding, no open interest: the map in volume mode) and the truth window
(2026-01 -> 2026-02, with real aggregated open interest). Writes docs/FREQAI.md.

    python benchmarks/freqai_value.py               # both datasets (about 4 minutes on 2 cores)
    python benchmarks/freqai_value.py --only truth  # the short window with open interest
    python benchmarks/freqai_value.py --no-write    # print only
"""

from __future__ import annotations

import argparse
import json
import math
import os
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from scipy import stats

from liq_indicator.config import DEFAULT_PAIR
from liq_indicator.io.backtest import load_trades
from liq_indicator.io.datadir import pair_file
from liq_indicator.io.shared import shared_data_dir
from liq_indicator.offline import running_exchange

REPO = Path(__file__).resolve().parents[1]
DOC = REPO / "docs" / "FREQAI.md"
CONFIG = REPO / "config_freqai.json.example"
STRATEGIES = REPO / "user_data" / "strategies"
PAIR = DEFAULT_PAIR
WALLET = 10_000.0


@dataclass(frozen=True)
class Dataset:
    name: str
    datadir: Path
    timerange: str
    train_days: int
    backtest_days: int
    note: str


def datasets() -> dict[str, Dataset]:
    root = shared_data_dir()
    return {
        "history": Dataset(
            "history",
            root / "history" / "binance",
            "20240101-20251001",
            30,
            14,
            "BTC 5m 2024-01 -> 2025-09, funding, no open interest (map in volume mode)",
        ),
        "truth": Dataset(
            "truth",
            root / "truthwindow" / "binance",
            "20260101-20260219",
            21,
            7,
            "BTC 5m 2026-01-01 -> 2026-02-19, funding and real aggregated open interest (1h)",
        ),
    }


def _backtest(ds: Dataset, work: Path, overlay: Path, map_features: bool) -> tuple[Path, Path]:
    identifier = f"{ds.name}-{'map' if map_features else 'price'}"
    extra = work / f"{identifier}.json"
    extra.write_text(
        json.dumps(
            {
                "freqai": {
                    "identifier": identifier,
                    "train_period_days": ds.train_days,
                    "backtest_period_days": ds.backtest_days,
                },
                "liq_freqai_map_features": map_features,
            }
        )
    )
    results = work / "user_data" / "backtest_results" / identifier
    results.mkdir(parents=True, exist_ok=True)
    args = [
        sys.executable, "-m", "freqtrade", "backtesting",
        "--config", str(CONFIG), "--config", str(extra), "--config", str(overlay),
        "--userdir", str(work / "user_data"), "--datadir", str(ds.datadir),
        "--strategy", "LiqFreqAIStrategy", "--strategy-path", str(STRATEGIES),
        "--timerange", ds.timerange, "--cache", "none", "--export", "trades",
        "--backtest-directory", str(results),
    ]  # fmt: skip
    done = subprocess.run(
        args, cwd=work, capture_output=True, text=True, env={**os.environ, "COLUMNS": "200"}
    )
    if done.returncode != 0 or "Traceback" in done.stdout + done.stderr:
        raise RuntimeError(
            f"freqtrade failed ({identifier}):\n{(done.stdout + done.stderr)[-5000:]}"
        )
    return work / "user_data" / "models" / identifier, results


def _realized(ds: Dataset, horizon: int) -> pd.Series:
    candles = pd.read_feather(pair_file(ds.datadir, PAIR, "5m"))
    close = candles["close"].astype(float)
    target = close.shift(-horizon).rolling(horizon).mean() / close - 1
    return pd.Series(target.to_numpy(), index=pd.DatetimeIndex(candles["date"]))


def _predictions(models: Path) -> pd.DataFrame:
    parts = []
    for path in sorted((models / "backtesting_predictions").glob("*_prediction.feather")):
        frame = pd.read_feather(path)[["date", "&-s_close", "do_predict"]]
        frame["window"] = path.stem
        parts.append(frame)
    return pd.concat(parts, ignore_index=True)


def _spearman(a: pd.Series, b: pd.Series) -> float:
    return float(a.rank().corr(b.rank())) if len(a) > 2 else math.nan


def measure(models: Path, results: Path, realized: pd.Series) -> tuple[dict, pd.Series]:
    pred = _predictions(models)
    pred["realized"] = realized.reindex(pd.DatetimeIndex(pred["date"])).to_numpy()
    ok = pred[(pred["do_predict"] == 1) & pred["realized"].notna()]
    per_window = ok.groupby("window").apply(
        lambda w: _spearman(w["&-s_close"], w["realized"]), include_groups=False
    )
    trades = load_trades(results)
    wins, losses = (
        trades["profit_abs"].clip(lower=0).sum(),
        -trades["profit_abs"].clip(upper=0).sum(),
    )
    row = {
        "candles": len(ok),
        "windows": len(per_window),
        "ic": _spearman(ok["&-s_close"], ok["realized"]),
        "ic_window_mean": float(per_window.mean()),
        "hit": float((np.sign(ok["&-s_close"]) == np.sign(ok["realized"])).mean()),
        "trades": len(trades),
        "profit_pct": 100 * trades["profit_abs"].sum() / WALLET,
        "pf": wins / losses if losses > 0 else math.inf,
        "fee": float(trades["fee_open"].mean()) if len(trades) else math.nan,
    }
    return row, per_window


def paired(price: pd.Series, with_map: pd.Series) -> dict:
    diff = (with_map - price).dropna()
    n = len(diff)
    half = stats.t.ppf(0.975, n - 1) * diff.std(ddof=1) / math.sqrt(n) if n > 1 else math.nan
    return {
        "n": n,
        "mean": float(diff.mean()),
        "low": float(diff.mean() - half),
        "high": float(diff.mean() + half),
        "better": int((diff > 0).sum()),
    }


def run(names: list[str]) -> list[tuple[Dataset, dict, dict, dict, float]]:
    out = []
    horizon = json.loads(CONFIG.read_text())["freqai"]["feature_parameters"]["label_period_candles"]
    for name in names:
        ds = datasets()[name]
        if not pair_file(ds.datadir, PAIR, "5m").exists():
            print(f"{name}: no data at {ds.datadir}; skipped", file=sys.stderr)
            continue
        start = time.perf_counter()
        with (
            tempfile.TemporaryDirectory() as tmp,
            running_exchange(ds.datadir, max_seconds=3600) as exchange,
        ):
            work = Path(tmp)
            overlay = exchange.write_overlay(work / "offline.json")
            realized = _realized(ds, horizon)
            rows, windows = {}, {}
            for map_features in (False, True):
                key = "map" if map_features else "price"
                models, results = _backtest(ds, work, overlay, map_features)
                rows[key], windows[key] = measure(models, results, realized)
                print(f"{name} {key}: {rows[key]}", file=sys.stderr)
        out.append((ds, rows["price"], rows["map"], paired(windows["price"], windows["map"]),
                    time.perf_counter() - start))  # fmt: skip
    return out


def report(results: list[tuple[Dataset, dict, dict, dict, float]]) -> str:
    lines = [
        "# FreqAI: do the map's features add out-of-sample value?",
        "",
        "Generated by `python benchmarks/freqai_value.py` (do not edit by hand). The same FreqAI model",
        "(`LiqFreqAIStrategy`, LightGBMRegressor, `config_freqai.json.example`) trained on price",
        "features alone and on price + the map's `%liq_*` features (`liq_indicator.strategy.freqai`),",
        "each prediction out of sample by FreqAI's own rolling train/backtest windows. Target: the",
        "mean close of the next 12 five-minute candles over this close, minus 1. IC: Spearman rank",
        "correlation of prediction and realized target over the predicted candles; hit: share of",
        "candles where their signs agree. The IC difference is per window (map - price), with a",
        "95% t-interval over the windows. Trades: Freqtrade's backtest of the strategy's rule",
        "(long above +0.2%, short below -0.2% predicted, 1x, one position, the exchange's taker fee",
        "on each side, stated per dataset).",
        "",
    ]
    for ds, price, with_map, diff, seconds in results:
        lines += [
            f"## {ds.name}: {ds.note}",
            "",
            f"Timerange {ds.timerange}, train {ds.train_days} days, predict the next "
            f"{ds.backtest_days}; {price['windows']} windows, {price['candles']:,} predicted "
            f"candles (price) / {with_map['candles']:,} (map). Fee {100 * price['fee']:.3f}% per "
            f"side. Both runs took {seconds / 60:.1f} minutes.",
            "",
            "| features | IC pooled | IC mean per window | hit rate | trades | return % | profit factor |",
            "|---|---:|---:|---:|---:|---:|---:|",
        ]
        for label, row in (("price only", price), ("price + map", with_map)):
            lines.append(
                f"| {label} | {row['ic']:+.4f} | {row['ic_window_mean']:+.4f} | "
                f"{100 * row['hit']:.1f}% | {row['trades']} | {row['profit_pct']:+.1f} | "
                f"{row['pf']:.2f} |"
            )
        verdict = (
            "adds value: the interval lies above 0"
            if diff["low"] > 0
            else "takes value away: the interval lies below 0"
            if diff["high"] < 0
            else "makes no difference the windows can tell from noise: the interval spans 0"
        )
        lines += [
            "",
            f"IC difference per window (map - price): {diff['mean']:+.4f}, 95% interval "
            f"[{diff['low']:+.4f}, {diff['high']:+.4f}] over {diff['n']} windows; the map's model "
            f"is better in {diff['better']} of them. The map {verdict}.",
            "",
        ]
    lines += [
        "## Reading it",
        "",
        "An IC of a few hundredths and a hit rate near 51% is a weak forecast of the next hour; the",
        "trade rule turns it into many short trades whose 0.1% round trip it does not cover, with",
        "or without the map. The table answers one question: whether the map's features, given to",
        "the same model on the same windows, raise that forecast's out-of-sample quality. Limits:",
        "one model (LightGBM, untuned), one target (the next hour's mean return), one pair (BTC);",
        "open interest only in the short truth window; the map's settings are the strategy's",
        "(`STRATEGY_HEATMAP`), not tuned for this use.",
        "",
    ]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", choices=sorted(datasets()), action="append")
    parser.add_argument(
        "--no-write", action="store_true", help="print, do not write docs/FREQAI.md"
    )
    args = parser.parse_args(argv)
    results = run(args.only or list(datasets()))
    if not results:
        print("no dataset found; nothing to report", file=sys.stderr)
        return 1
    text = report(results)
    print(text)
    if not args.no_write:
        DOC.write_text(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
