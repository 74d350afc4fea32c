"""Walk-forward of LiqClusterStrategy: hyperopt on rolling windows, backtest the next window out of sample.

For each window ``freqtrade hyperopt`` (spaces ``buy`` and ``sell``, ``--disable-param-export``, a
temporary userdir, a copy of the strategies folder without parameter files) picks the parameters on
the training months; a ``LiqClusterStrategy.json`` holding them, beside a fresh *copy* of the strategy
file, then drives ``freqtrade backtesting`` on the following test months, out of sample. Everything
runs through the offline exchange (``liq_indicator.offline.running_exchange``) on the real BTC 5m
history in ``../shared/data/history/binance``. The test windows are stitched (each starts where the
previous one ended, compounded) and set beside buy-and-hold and BaselineStrategy over the same
months, with block-bootstrap intervals of per-day returns. ``--write-docs`` writes
docs/WALKFORWARD.md and docs/img/walkforward_equity.png; every number there comes from the run.

    python benchmarks/walkforward.py --write-docs                 # about 25 minutes on 2 cores
    python benchmarks/walkforward.py --windows 1 --epochs 2      # a smoke run

Equity is marked at trade closes only (a trade open over a day end counts when it closes), so
intra-trade drawdowns are not in the curves; buy-and-hold is marked at daily closes.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from liq_indicator.config import DEFAULT_PAIR
from liq_indicator.errors import InputError
from liq_indicator.io.backtest import load_trades
from liq_indicator.io.datadir import pair_file
from liq_indicator.io.shared import shared_data_dir
from liq_indicator.offline import running_exchange
from liq_indicator.research.metrics import bootstrap_ci
from liq_indicator.strategy.callbacks import TradeParams

REPO = Path(__file__).resolve().parents[1]
DATADIR = shared_data_dir() / "history" / "binance"
STRATEGIES = REPO / "user_data" / "strategies"
DOC = REPO / "docs" / "WALKFORWARD.md"
IMAGE = REPO / "docs" / "img" / "walkforward_equity.png"
STRATEGY = "LiqClusterStrategy"
BASELINE = "BaselineStrategy"
WALLET = 10_000.0  # config.json.example's dry_run_wallet
MAX_LOSS = 100_000  # Freqtrade's loss for an epoch that fails --min-trades (hyperopt_optimizer)


# ------------------------------------------------------------------------------------------------
# windows


@dataclass(frozen=True)
class Window:
    """One walk-forward step: hyperopt on [train_start, train_end), test on [train_end, test_end)."""

    index: int
    train_start: pd.Timestamp
    train_end: pd.Timestamp
    test_end: pd.Timestamp

    @property
    def test_start(self) -> pd.Timestamp:
        """The first instant out of sample (the training window's end)."""
        return self.train_end

    @property
    def train_range(self) -> str:
        """Freqtrade ``--timerange`` of the training months."""
        return timerange(self.train_start, self.train_end)

    @property
    def test_range(self) -> str:
        """Freqtrade ``--timerange`` of the test months."""
        return timerange(self.test_start, self.test_end)


def timerange(start: pd.Timestamp, end: pd.Timestamp) -> str:
    """Freqtrade's ``YYYYMMDD-YYYYMMDD`` (end exclusive) for two UTC midnights."""
    return f"{start:%Y%m%d}-{end:%Y%m%d}"


def split_windows(
    start: str | pd.Timestamp,
    end: str | pd.Timestamp,
    train_months: int,
    test_months: int,
    windows: int | None = None,
) -> list[Window]:
    """Rolling windows whose test parts tile the history back to back, the latest ones kept.

    The last test window ends at the first month start on or before ``end``; each earlier one ends
    where the next begins; a window is kept only when its training part starts at or after
    ``start``. Training windows overlap the previous test window (they roll by ``test_months``).

    Args:
        start: first usable instant (after the strategy's start-up candles), UTC.
        end: end of the history, UTC (exclusive).
        train_months: months of hyperopt per window (>= 1).
        test_months: months out of sample per window (>= 1).
        windows: at most this many windows (the latest); None: all that fit.

    Returns:
        The windows in time order, indexed from 1.

    Raises:
        InputError: a month count below 1, or no window fits between ``start`` and ``end``.
    """
    if train_months < 1 or test_months < 1 or (windows is not None and windows < 1):
        raise InputError(
            f"train_months, test_months and windows must be >= 1, got {train_months}, "
            f"{test_months}, {windows}"
        )
    first = pd.Timestamp(start, tz="UTC") if pd.Timestamp(start).tz is None else pd.Timestamp(start)
    last = pd.Timestamp(end, tz="UTC") if pd.Timestamp(end).tz is None else pd.Timestamp(end)
    test_end = last.normalize().replace(day=1)
    found: list[tuple[pd.Timestamp, pd.Timestamp, pd.Timestamp]] = []
    while windows is None or len(found) < windows:
        train_end = test_end - pd.DateOffset(months=test_months)
        train_start = train_end - pd.DateOffset(months=train_months)
        if train_start < first:
            break
        found.append((train_start, train_end, test_end))
        test_end = train_end
    if not found:
        raise InputError(
            f"no {train_months}+{test_months}-month window fits between {first:%Y-%m-%d} and "
            f"{last:%Y-%m-%d}: use shorter windows or a longer history"
        )
    return [Window(i + 1, a, b, c) for i, (a, b, c) in enumerate(reversed(found))]


# ------------------------------------------------------------------------------------------------
# equity curves


def daily_equity(
    trades: pd.DataFrame, start: pd.Timestamp, end: pd.Timestamp, wallet: float = WALLET
) -> pd.Series:
    """Wallet (as a multiple of the starting wallet) at each UTC day end in [start, end).

    Args:
        trades: Freqtrade trades with ``close_date`` (UTC) and ``profit_abs``.
        start: first day (UTC midnight).
        end: end (exclusive, UTC midnight).
        wallet: the starting wallet in stake currency.

    Returns:
        A float Series indexed by day (the day's start), 1.0 before any trade closes.
    """
    days = pd.date_range(start, end, freq="D", inclusive="left")
    if len(trades) == 0:
        return pd.Series(1.0, index=days)
    day = pd.to_datetime(trades["close_date"], utc=True).dt.floor("D")
    pnl = trades["profit_abs"].astype(float).groupby(day).sum()
    pnl = pnl.reindex(days, fill_value=0.0)
    return 1.0 + pnl.cumsum() / wallet


def stitch(curves: Sequence[pd.Series]) -> pd.Series:
    """Join per-window curves (each a multiple of its own starting wallet) into one compounded curve.

    Each window starts with the wallet the previous one ended with: its curve is multiplied by the
    previous window's last value.
    """
    if not curves:
        raise InputError("stitch needs at least one curve")
    parts, level = [], 1.0
    for curve in curves:
        parts.append(curve * level)
        level *= float(curve.iloc[-1])
    return pd.concat(parts)


def daily_returns(curve: pd.Series, start_value: float = 1.0) -> np.ndarray:
    """Per-day simple returns of an equity curve that started at ``start_value``."""
    values = np.concatenate([[start_value], curve.to_numpy(dtype=float)])
    return values[1:] / values[:-1] - 1.0


def max_drawdown(curve: pd.Series, start_value: float = 1.0) -> float:
    """Largest fall from a running peak, as a fraction of that peak (0 when it only rises)."""
    values = np.concatenate([[start_value], curve.to_numpy(dtype=float)])
    return float(np.max(1.0 - values / np.maximum.accumulate(values)))


def buy_and_hold(candles: pd.DataFrame, start: pd.Timestamp, end: pd.Timestamp) -> pd.Series:
    """1x long from the first open in [start, end), marked at each UTC day's last close."""
    part = candles[(candles["date"] >= start) & (candles["date"] < end)]
    if part.empty:
        raise InputError(f"no candles between {start} and {end}: the datadir does not cover them")
    close = part.set_index("date")["close"].resample("D").last().ffill()
    days = pd.date_range(start, end, freq="D", inclusive="left")
    return (close / float(part["open"].iloc[0])).reindex(days).ffill().bfill()


def window_return(curve: pd.Series, window: Window) -> float:
    """A daily equity curve's return over a window's test months (from the day before it starts)."""
    before = curve.loc[: window.test_start - pd.Timedelta(days=1)]
    level = float(before.iloc[-1]) if len(before) else 1.0
    return float(curve.loc[: window.test_end - pd.Timedelta(days=1)].iloc[-1]) / level - 1.0


def _compound(r: np.ndarray) -> float:
    return float(np.prod(1.0 + r) - 1.0)


def _excess(a: np.ndarray, b: np.ndarray) -> float:
    return _compound(a) - _compound(b)


# ------------------------------------------------------------------------------------------------
# results


@dataclass
class WindowResult:
    """What one window chose and did out of sample."""

    window: Window
    params: dict[str, dict[str, Any]]
    """The parameters hyperopt chose, by space (empty: none met --min-trades, defaults traded)."""
    train_objective: float
    """The hyperopt loss of the chosen epoch (NaN when none was valid)."""
    trades: pd.DataFrame
    """The out-of-sample trades (Freqtrade's columns)."""
    seconds: float = 0.0

    @property
    def curve(self) -> pd.Series:
        """Daily equity of the test window (multiple of its starting wallet)."""
        return daily_equity(self.trades, self.window.test_start, self.window.test_end)


@dataclass
class WalkForward:
    """A walk-forward run: per-window results and the untuned references over the same months."""

    windows: list[WindowResult]
    baseline: pd.Series
    """BaselineStrategy's daily equity over the whole out-of-sample span (one run, untuned)."""
    hold: pd.Series
    """Buy-and-hold's daily equity over the same span."""
    settings: dict[str, Any] = field(default_factory=dict)
    """How it ran (window months, epochs, loss, min trades, seconds, ...), for the report."""
    baseline_trades: int = 0
    defaults: pd.Series | None = None
    """LiqClusterStrategy with its shipped parameters (no tuning) over the same span, one run."""
    defaults_trades: int = 0

    @property
    def stitched(self) -> pd.Series:
        """The test windows' curves compounded back to back."""
        return stitch([w.curve for w in self.windows])


def _fmt_pct(x: float) -> str:
    return "-" if math.isnan(x) else f"{x:+.1%}"


def _ci(r: np.ndarray, stat: Any, *more: np.ndarray, seed: int = 0) -> tuple[float, float, float]:
    if len(r) < 2:
        return (float("nan"),) * 3
    return bootstrap_ci(stat, r, *more, n_boot=2000, level=0.9, seed=seed)


def _params_text(params: dict[str, dict[str, Any]]) -> str:
    if not params:
        return "defaults (no valid epoch)"
    flat = {k: v for space in ("buy", "sell") for k, v in params.get(space, {}).items()}
    return ", ".join(f"{k}={v}" for k, v in flat.items())


def summary_rows(result: WalkForward) -> list[dict[str, Any]]:
    """Total return with its 90% block-bootstrap interval, max drawdown and trade counts per curve."""
    rows = []
    stitched = result.stitched
    oos_trades = sum(len(w.trades) for w in result.windows)
    for label, curve, trades in (
        (f"{STRATEGY}, walk-forward out of sample", stitched, oos_trades),
        (f"{BASELINE} (EMA 20/50, 1h, untuned)", result.baseline, result.baseline_trades),
        ("buy and hold (1x long, no fees)", result.hold, 1),
        (f"{STRATEGY}, shipped parameters (no tuning)", result.defaults, result.defaults_trades),
    ):
        if curve is None:
            continue
        r = daily_returns(curve)
        point, low, high = _ci(r, _compound)
        rows.append(
            {
                "curve": label,
                "trades": trades,
                "total return": _fmt_pct(point),
                "90% interval": f"{_fmt_pct(low)} .. {_fmt_pct(high)}",
                "max drawdown": f"{max_drawdown(curve):.1%}",
            }
        )
    return rows


def excess_rows(result: WalkForward) -> list[dict[str, Any]]:
    """The walk-forward's return minus each reference's, paired by day, with a 90% interval."""
    strat = daily_returns(result.stitched)
    rows = []
    for label, curve in (
        ("minus BaselineStrategy", result.baseline),
        ("minus buy and hold", result.hold),
        ("minus the shipped parameters", result.defaults),
    ):
        if curve is None:
            continue
        point, low, high = _ci(strat, _excess, daily_returns(curve))
        rows.append(
            {
                "difference in total return": label,
                "point": _fmt_pct(point),
                "90% interval": f"{_fmt_pct(low)} .. {_fmt_pct(high)}",
            }
        )
    return rows


def window_rows(result: WalkForward) -> list[dict[str, Any]]:
    """One row per window: dates, chosen parameters, out-of-sample trades, return, max drawdown."""
    rows = []
    for w in result.windows:
        curve = w.curve
        rows.append(
            {
                "window": w.window.index,
                "train": f"{w.window.train_start:%Y-%m-%d} .. {w.window.train_end:%Y-%m-%d}",
                "test (OOS)": f"{w.window.test_start:%Y-%m-%d} .. {w.window.test_end:%Y-%m-%d}",
                "train loss": "-" if math.isnan(w.train_objective) else f"{w.train_objective:.3f}",
                "OOS trades": len(w.trades),
                "OOS return": _fmt_pct(float(curve.iloc[-1]) - 1.0),
                "OOS max DD": f"{max_drawdown(curve):.1%}",
                "buy and hold": _fmt_pct(window_return(result.hold, w.window)),
            }
        )
    return rows


def per_trade_line(result: WalkForward) -> str:
    """Mean out-of-sample profit per trade (fraction of the window's starting wallet) with a 90%
    block-bootstrap interval, as a sentence.
    """
    parts = [w.trades["profit_abs"].to_numpy(dtype=float) for w in result.windows]
    profits = np.concatenate(parts) / WALLET if parts else np.array([])
    if len(profits) < 2:
        return f"Out-of-sample trades: {len(profits)}, too few for an interval."
    point, low, high = _ci(profits, lambda a: float(np.mean(a)))
    return (
        f"Out-of-sample trades: {len(profits)}, win rate {float(np.mean(profits > 0)):.0%}, mean "
        f"profit per trade {point:+.3%} of the window's starting wallet (90% block-bootstrap "
        f"interval {low:+.3%} .. {high:+.3%})."
    )


def verdict(result: WalkForward) -> str:
    """Plain sentences on whether the walk-forward's out-of-sample result survives, and on what
    tuning did against the shipped parameters when those ran.
    """
    text = _survives(result)
    if result.defaults is None:
        return text
    strat = daily_returns(result.stitched)
    diff, low, high = _ci(strat, _excess, daily_returns(result.defaults))
    trades = sum(len(w.trades) for w in result.windows)
    if math.isnan(diff):
        return text
    if low > 0 or high < 0:
        better = "better" if low > 0 else "worse"
        return (
            f"{text} Against the shipped parameters over the same months, tuning per window did "
            f"{better} ({diff:+.1%}, 90% interval {low:+.1%} .. {high:+.1%}), with {trades} trades "
            f"against {result.defaults_trades}."
        )
    return (
        f"{text} Against the shipped parameters over the same months, tuning per window made no "
        f"clear difference ({diff:+.1%}, 90% interval {low:+.1%} .. {high:+.1%})."
    )


def _survives(result: WalkForward) -> str:
    strat = daily_returns(result.stitched)
    total, low, high = _ci(strat, _compound)
    _, b_low, _ = _ci(strat, _excess, daily_returns(result.baseline))
    _, h_low, _ = _ci(strat, _excess, daily_returns(result.hold))
    if math.isnan(total):
        return "Too few out-of-sample days to judge."
    if low > 0 and b_low > 0 and h_low > 0:
        return (
            f"Something survives: the out-of-sample return ({total:+.1%}) has a 90% interval above "
            "zero and above both buy-and-hold and the baseline."
        )
    if low > 0:
        return (
            f"The out-of-sample return ({total:+.1%}) has a 90% interval above zero, but it does not "
            "beat both buy-and-hold and the baseline with confidence: no edge is shown."
        )
    if high < 0:
        return (
            f"Nothing survives: out of sample the tuned strategy lost ({total:+.1%}, 90% interval "
            f"{low:+.1%} .. {high:+.1%}, wholly below zero)."
        )
    return (
        f"Nothing survives: the out-of-sample return ({total:+.1%}, 90% interval {low:+.1%} .. "
        f"{high:+.1%}) is not distinguishable from zero: tuning on the previous months shows no "
        "edge out of sample."
    )


def render_report(result: WalkForward, image: str | None = "img/walkforward_equity.png") -> str:
    """docs/WALKFORWARD.md from a run: settings, verdict, summary, differences, windows, picture."""
    s = result.settings
    lines = [
        "# Walk-forward of LiqClusterStrategy (generated)",
        "",
        "Generated by `python benchmarks/walkforward.py --write-docs`; every number below comes from "
        "that run. Do not edit by hand.",
        "",
        f"**{verdict(result)}**",
        "",
        "## How it ran",
        "",
        f"- Data: `{os.path.relpath(s.get('data', '?'), REPO)}`, pair {s.get('pair', DEFAULT_PAIR)}, through the offline "
        "exchange (`liq_indicator.offline`).",
        f"- {len(result.windows)} windows: hyperopt on {s.get('train_months')} months, then a "
        f"backtest of the next {s.get('test_months')} months with the chosen parameters (out of "
        "sample); the test windows tile the span back to back.",
        f"- Hyperopt: spaces `buy` `sell`, {s.get('epochs')} epochs, loss "
        f"`{s.get('loss')}`, `--min-trades {s.get('min_trades')}`, `--random-state "
        f"{s.get('seed')}`, `-j {s.get('jobs')}`, `--disable-param-export`; the chosen parameters go "
        "to the backtest as a parameter file beside a copy of the strategy.",
        "- The stitched curve compounds the windows (each starts with the wallet the previous one "
        "ended with). Equity is marked at trade closes; buy-and-hold at daily closes, 1x, no fees "
        "or funding. BaselineStrategy, and LiqClusterStrategy with its shipped parameters, run "
        "once each over the same months.",
        f"- Sizing (not tuned): {s.get('risk_per_trade', float('nan')):.2%} of the wallet lost at "
        f"a stop, leverage at most {s.get('max_leverage', '?')}x, one position at a time; "
        "buy-and-hold and the baseline hold the whole wallet, so their swings are far larger.",
        "- Intervals: 90% moving-block bootstrap (`liq_indicator.research.metrics.bootstrap_ci`, "
        "2000 replicates, block = cube root of the days) of per-day returns; the differences pair "
        "the days.",
        f"- Run time: {s.get('seconds', float('nan')) / 60:.1f} minutes on a shared 2-core machine.",
        "",
        "## Out of sample, stitched",
        "",
        pd.DataFrame(summary_rows(result)).to_markdown(index=False),
        "",
        pd.DataFrame(excess_rows(result)).to_markdown(index=False),
        "",
        per_trade_line(result),
        "",
        "## Per window",
        "",
        pd.DataFrame(window_rows(result)).to_markdown(index=False),
        "",
        "Chosen parameters:",
        "",
    ]
    for w in result.windows:
        lines.append(f"- window {w.window.index}: {_params_text(w.params)}")
    repeats = [
        b.window.index for a, b in zip(result.windows, result.windows[1:], strict=False)
        if a.params and a.params == b.params
    ]  # fmt: skip
    if repeats:
        lines += [
            "",
            f"Window(s) {', '.join(map(str, repeats))} chose exactly the previous window's "
            "parameters: with one `--random-state` every window draws the same candidates, so "
            "hyperopt picks among one pool of parameter sets, ranked on each window's months.",
        ]
    if image:
        lines += ["", "## Equity", "", f"![walk-forward equity curves]({image})"]
    return "\n".join(lines) + "\n"


def plot_equity(result: WalkForward, path: Path) -> None:
    """The stitched walk-forward, the baseline and buy-and-hold, window bounds marked, as a PNG."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.ticker import FuncFormatter, LogLocator, NullFormatter

    fig, (ax, zoom) = plt.subplots(
        2, 1, figsize=(10, 6.4), dpi=110, sharex=True, gridspec_kw={"height_ratios": [3, 2]}
    )
    for label, curve, colour, width in (
        (f"{STRATEGY} walk-forward (OOS)", result.stitched, "#1f77b4", 1.8),
        (BASELINE, result.baseline, "#ff7f0e", 1.2),
        ("buy and hold", result.hold, "#7f7f7f", 1.0),
    ):
        ax.plot(curve.index, curve.to_numpy(), label=label, color=colour, lw=width)
    stitched = result.stitched
    zoom.plot(
        stitched.index, (stitched.to_numpy() - 1.0) * 100.0, color="#1f77b4", lw=1.4,
        label="walk-forward (tuned per window)",
    )  # fmt: skip
    if result.defaults is not None:
        zoom.plot(
            result.defaults.index, (result.defaults.to_numpy() - 1.0) * 100.0, color="#2ca02c",
            lw=1.0, ls="--", label="shipped parameters, no tuning",
        )  # fmt: skip
        zoom.legend(loc="lower left", frameon=False)
    zoom.axhline(0.0, color="black", lw=0.6)
    zoom.set_ylabel(f"{STRATEGY} OOS (%)")
    for axis in (ax, zoom):
        for w in result.windows:
            axis.axvline(w.window.test_start, color="#cccccc", lw=0.8, zorder=0)
    ax.axhline(1.0, color="black", lw=0.6)
    ax.set_yscale("log")
    ax.yaxis.set_major_locator(LogLocator(base=10, subs=(1.0, 2.0, 3.0, 5.0)))
    ax.yaxis.set_major_formatter(FuncFormatter(lambda y, _: f"{y:g}x"))
    ax.yaxis.set_minor_formatter(NullFormatter())
    ax.set_ylabel("equity (log)")
    ax.set_title("Walk-forward out of sample: stitched test windows (grey lines: window starts)")
    ax.legend(loc="upper left", frameon=False)
    fig.autofmt_xdate()
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path)
    plt.close(fig)


# ------------------------------------------------------------------------------------------------
# freqtrade runs


def best_params(results_dir: Path) -> tuple[dict[str, dict[str, Any]], float]:
    """The lowest-loss valid epoch of the ``.fthypt`` file in ``results_dir``: (params, loss).

    Returns ``({}, nan)`` when no epoch met ``--min-trades`` (all at Freqtrade's MAX_LOSS).
    """
    files = sorted(results_dir.glob("*.fthypt"), key=lambda p: p.stat().st_mtime)
    if not files:
        raise InputError(f"no .fthypt file in {results_dir}: hyperopt did not run")
    best: dict[str, Any] | None = None
    for line in files[-1].read_text().splitlines():
        if not line.strip():
            continue
        epoch = json.loads(line)
        for item in epoch if isinstance(epoch, list) else [epoch]:
            loss = float(item["loss"])
            if math.isfinite(loss) and loss < MAX_LOSS and (best is None or loss < best["loss"]):
                best = item
    if best is None:
        return {}, float("nan")
    details = best["params_details"]
    return {space: dict(details.get(space, {})) for space in ("buy", "sell")}, float(best["loss"])


def strategy_folder(dest: Path, params: dict[str, dict[str, Any]] | None = None) -> Path:
    """A copy of the project's strategy files (``*.py`` only) in ``dest``, plus a parameter file.

    Freqtrade reads ``<Strategy>.json`` beside the strategy file, so a fresh copy keeps the repo's
    own parameter files (and other windows' choices) out of the run.
    """
    dest.mkdir(parents=True, exist_ok=True)
    for path in STRATEGIES.glob("*.py"):
        shutil.copy2(path, dest / path.name)
    if params:
        (dest / f"{STRATEGY}.json").write_text(
            json.dumps(
                {"strategy_name": STRATEGY, "params": params, "ft_stratparam_v": 1}, indent=2
            )
        )
    return dest


class Runner:
    """Freqtrade commands against one offline exchange, each in its own temporary userdir."""

    def __init__(self, work: Path, datadir: Path, overlay: Path, pair: str) -> None:
        self.work, self.datadir, self.overlay = work, datadir, overlay
        self.pairs = work / "pairs.json"
        self.pairs.write_text(
            json.dumps({"exchange": {"pair_whitelist": [pair]}, "max_open_trades": 1})
        )

    def __call__(self, command: str, userdir: Path, strategies: Path, *extra: str) -> str:
        """Run ``freqtrade <command>`` and return its output; raise RuntimeError when it fails."""
        (userdir).mkdir(parents=True, exist_ok=True)
        args = [
            sys.executable, "-m", "freqtrade", command,
            "--config", str(REPO / "config.json.example"),
            "--config", str(self.pairs),
            "--config", str(self.overlay),
            "--userdir", str(userdir),
            "--datadir", str(self.datadir),
            "--strategy-path", str(strategies),
            *extra,
        ]  # fmt: skip
        result = subprocess.run(
            args, cwd=self.work, capture_output=True, text=True,
            env={**os.environ, "COLUMNS": "200"},
        )  # fmt: skip
        output = result.stdout + result.stderr
        if result.returncode != 0 or "Traceback" in output:
            raise RuntimeError(f"freqtrade {command} failed:\n{output[-5000:]}")
        return output

    def backtest(self, name: str, strategy: str, strategies: Path, trange: str) -> pd.DataFrame:
        """Trades of ``freqtrade backtesting`` of ``strategy`` over ``trange``."""
        userdir = self.work / name
        self(
            "backtesting", userdir, strategies, "--strategy", strategy, "--timerange", trange,
            "--export", "trades", "--cache", "none",
        )  # fmt: skip
        return load_trades(userdir / "backtest_results", strategy=strategy)


def run_walkforward(
    datadir: Path = DATADIR,
    *,
    pair: str = DEFAULT_PAIR,
    start: str = "2023-01-08",
    end: str = "2025-10-01",
    train_months: int = 3,
    test_months: int = 3,
    windows: int | None = 8,
    epochs: int = 40,
    loss: str = "SharpeHyperOptLossDaily",
    min_trades: int = 10,
    jobs: int = 2,
    seed: int = 1,
    log: Any = sys.stderr,
) -> WalkForward:
    """Hyperopt each window's training months, backtest its test months, and the references.

    Args:
        datadir: Freqtrade datadir of the exchange (``.../binance``) with 5m and 1h candles.
        pair: the one pair traded.
        start: first day a training window may start (the strategy's 2000 start-up candles, about
            a week of 5m, must lie before it in the data).
        end: end of the history (exclusive).
        train_months, test_months, windows: see :func:`split_windows`.
        epochs: hyperopt epochs per window.
        loss: Freqtrade hyperopt loss class.
        min_trades: hyperopt's ``--min-trades``.
        jobs: hyperopt's ``-j``.
        seed: hyperopt's ``--random-state``.
        log: where progress lines go.

    Returns:
        The :class:`WalkForward` result.
    """
    started = time.monotonic()
    plan = split_windows(start, end, train_months, test_months, windows)
    span_start, span_end = plan[0].test_start, plan[-1].test_end
    candles = pd.read_feather(pair_file(datadir, pair, "5m"))
    results: list[WindowResult] = []
    with tempfile.TemporaryDirectory() as tmp, running_exchange(datadir, max_seconds=None) as ex:
        work = Path(tmp)
        run = Runner(work, datadir, ex.write_overlay(work / "offline.json"), pair)
        clean = strategy_folder(work / "clean_strategies")
        for w in plan:
            t0 = time.monotonic()
            userdir = work / f"hyperopt_{w.index}"
            run(
                "hyperopt", userdir, clean, "--strategy", STRATEGY, "--timerange", w.train_range,
                "--hyperopt-loss", loss, "--spaces", "buy", "sell", "-e", str(epochs),
                "-j", str(jobs), "--random-state", str(seed), "--min-trades", str(min_trades),
                "--disable-param-export",
            )  # fmt: skip
            if (clean / f"{STRATEGY}.json").exists():
                raise RuntimeError("hyperopt wrote a parameter file despite --disable-param-export")
            params, objective = best_params(userdir / "hyperopt_results")
            strategies = strategy_folder(work / f"strategies_{w.index}", params)
            trades = run.backtest(f"oos_{w.index}", STRATEGY, strategies, w.test_range)
            result = WindowResult(w, params, objective, trades, time.monotonic() - t0)
            results.append(result)
            print(
                f"window {w.index}: train {w.train_range} test {w.test_range}: {len(trades)} trades, "
                f"OOS {float(result.curve.iloc[-1]) - 1:+.1%} ({result.seconds:.0f} s)",
                file=log,
                flush=True,
            )
        base = run.backtest("baseline", BASELINE, clean, timerange(span_start, span_end))
        shipped = run.backtest("defaults", STRATEGY, clean, timerange(span_start, span_end))
    hold = buy_and_hold(candles, span_start, span_end)
    return WalkForward(
        windows=results,
        baseline=daily_equity(base, span_start, span_end),
        hold=hold,
        baseline_trades=len(base),
        defaults=daily_equity(shipped, span_start, span_end),
        defaults_trades=len(shipped),
        settings={
            "data": str(datadir),
            "pair": pair,
            "train_months": train_months,
            "test_months": test_months,
            "epochs": epochs,
            "loss": loss,
            "min_trades": min_trades,
            "jobs": jobs,
            "seed": seed,
            "risk_per_trade": TradeParams().risk_per_trade,
            "max_leverage": TradeParams().max_leverage_cap,
            "seconds": time.monotonic() - started,
        },
    )


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--datadir", type=Path, default=DATADIR)
    parser.add_argument("--train-months", type=int, default=3)
    parser.add_argument("--test-months", type=int, default=3)
    parser.add_argument("--windows", type=int, default=8)
    parser.add_argument("--epochs", type=int, default=40)
    parser.add_argument("--min-trades", type=int, default=10)
    parser.add_argument("--loss", default="SharpeHyperOptLossDaily")
    parser.add_argument("-j", "--jobs", type=int, default=2)
    parser.add_argument("--write-docs", action="store_true", help="write docs/WALKFORWARD.md + PNG")
    args = parser.parse_args(argv)
    result = run_walkforward(
        args.datadir,
        train_months=args.train_months,
        test_months=args.test_months,
        windows=args.windows,
        epochs=args.epochs,
        loss=args.loss,
        min_trades=args.min_trades,
        jobs=args.jobs,
    )
    if args.write_docs:
        plot_equity(result, IMAGE)
        DOC.write_text(render_report(result))
        print(f"wrote {DOC} and {IMAGE}", file=sys.stderr)
    else:
        print(render_report(result, image=None))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
