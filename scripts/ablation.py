"""Write docs/MODEL_CHANGES.md: every model change of issue #16 measured out of sample.

    python scripts/ablation.py [--data ../shared/data] [--out docs/MODEL_CHANGES.md] [--boot 200]

Binance 4h liquidations (bars from ``FIT_END`` on; the shipped preset was fitted before it, and so
is each variant's magnitude here) on Binance 5m/1h/4h candles with volume inflow and the CoinGlass
aggregated 4h OI; and the all-exchange 1h liquidations of the truth window (magnitude fitted on its
first half, scored on the second) on the truthwindow candles and 1h OI. See
:mod:`liq_indicator.research.ablation`.
"""

from __future__ import annotations

import argparse
import sys
import time
import warnings
from pathlib import Path

import pandas as pd

from liq_indicator.config import DEFAULT_PAIR, HeatmapConfig
from liq_indicator.io.datadir import pair_file
from liq_indicator.io.shared import shared_data_dir
from liq_indicator.research.ablation import (
    AblationSeries,
    ablation_scores,
    ablation_summary,
    ablation_variants,
    long_share_frame,
    render_model_changes,
)
from liq_indicator.research.accuracy import candle_set, oi_frame
from liq_indicator.research.truth import shared_truth

FIT_END = "2025-06-01"
"""End of the shipped preset's fitting span (scripts/calibrate_default.py)."""
LAST_BAR = "2025-09-30 20:00"
WARMUP = pd.Timedelta("30D")
HIST = Path("history/binance")
TW = Path("truthwindow/binance")


def load(data: Path) -> list[AblationSeries]:
    """The two series' inputs from the shared data directory."""
    truth = shared_truth("binance_4h", data).between(None, LAST_BAR)
    first = truth.frame.index[0]
    c5 = pd.read_feather(pair_file(data / HIST, DEFAULT_PAIR, "5m"))
    c5 = c5[c5["date"] >= first - WARMUP].reset_index(drop=True)
    oi = oi_frame(pd.read_csv(data / "truth/coinglass_btc_open_interest_4h_all_exchanges.csv"))
    funding = pd.read_feather(pair_file(data / HIST, DEFAULT_PAIR, "1h", "funding_rate"))
    ratios = long_share_frame(pd.read_csv(data / "truth/binance_btcusdt_long_short_ratios_4h.csv"))
    binance = AblationSeries(
        truth,
        candle_set(c5),
        fit_end=FIT_END,
        open_interest=oi,
        funding=funding,
        long_share=ratios,
        notes=[
            "Open interest: CoinGlass aggregated over all exchanges, 4h (the only OI over these dates)."
        ],
    )
    all_1h = shared_truth("all_1h", data)
    tw5 = pd.read_feather(pair_file(data / TW, DEFAULT_PAIR, "5m"))
    tw1 = pd.read_feather(pair_file(data / TW, DEFAULT_PAIR, "1h"))
    tw_oi = pd.read_feather(pair_file(data / TW, DEFAULT_PAIR, "1h", "open_interest"))
    tw_funding = pd.read_feather(pair_file(data / TW, DEFAULT_PAIR, "1h", "funding_rate"))
    window = AblationSeries(
        all_1h,
        {k: v for k, v in candle_set(tw5, tw1).items() if k != "4h"},
        fit_end=None,
        open_interest=tw_oi,
        funding=tw_funding,
        notes=[
            "Binance candles against liquidations summed over all major exchanges (the magnitude "
            "absorbs Binance's share); 4h candles are longer than its bars; no long/short ratios "
            "over these dates."
        ],
    )
    return [binance, window]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", type=Path, default=None, help="shared data directory")
    parser.add_argument("--out", type=Path, default=Path("docs/MODEL_CHANGES.md"))
    parser.add_argument("--boot", type=int, default=200, help="bootstrap replicates (default 200)")
    args = parser.parse_args(argv)
    warnings.simplefilter("ignore")
    t0 = time.time()
    data = Path(args.data) if args.data else shared_data_dir()
    series = load(data)
    variants = ablation_variants(
        HeatmapConfig.preset("btc-binance"), HeatmapConfig.preset("design")
    )
    scores, skipped = ablation_scores(series, variants, n_boot=args.boot)
    summary = ablation_summary(scores, variants)
    text = render_model_changes(
        scores, summary, series, skipped=skipped, runtime_s=time.time() - t0
    )
    args.out.write_text(text, encoding="utf-8")
    cols = ["verdict", "outcome", "gain", "rho_map", "abs_log_ratio", "no_sweep", "abs_balance"]
    print(summary[cols].to_string(float_format=lambda x: f"{x:.3f}"), file=sys.stderr)
    print(f"wrote {args.out} in {time.time() - t0:.0f} s", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
