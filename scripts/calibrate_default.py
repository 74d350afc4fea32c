"""Rebuild the shipped presets: ``design`` (the first design's settings), ``btc-binance`` (the
default: the design's model with a continuous leverage distribution, range entries and same-candle
liquidations, fitted to Binance's reported BTC liquidations) and ``btc-all-exchanges``
(``btc-binance`` scaled to the liquidations summed over the major exchanges).

    python scripts/calibrate_default.py [--data ../shared/data]

``btc-binance`` is fitted on the Binance 4h liquidation bars up to ``FIT_END`` only; the later bars,
and every other truth series, stay out of sample for ``liq-indicator validate``. Volume inflow:
the shape is chosen on 5m, 1h and 4h candles together and the magnitude fitted on the 5m. Open
interest inflow: the aggregated 4h OI over all exchanges (the only OI over those dates), fitted on
the 5m candles with the volume fit's shape (how much turnover rides on the OI change, and the
magnitude). ``btc-all-exchanges``: ``venue_share`` is Binance's share of the all-exchange BTC
liquidations over the last 365 days of Coinalyze's per-exchange daily series (days holding every
contract only); no all-exchange liquidation series took part in any fit.
"""

from __future__ import annotations

import argparse
import sys
import warnings
from pathlib import Path

import pandas as pd

from liq_indicator.config import DEFAULT_PAIR, HeatmapConfig
from liq_indicator.io.datadir import pair_file
from liq_indicator.io.ohlcv import resample_ohlcv
from liq_indicator.io.presets import preset_document, write_preset
from liq_indicator.io.shared import shared_data_dir
from liq_indicator.research.calibration import calibrate, venue_share
from liq_indicator.research.truth import shared_truth

FIT_END = "2025-06-01"
WARMUP = pd.Timedelta("30D")
PRESETS = Path(__file__).resolve().parents[1] / "liq_indicator" / "data" / "presets"

DESIGN = HeatmapConfig(
    cluster_density=2.0,
    volume_share=0.10,
    entry_price="hlc3",
    leverage_edges=(),
    intracandle_sweep=0.0,
    intracandle_path=False,
    turnover_share=0.0,
    oi_scale=1.0,
    vol_target=0.0,
    timeframe_exponent=0.0,
)
"""The first design's map: five leverage spikes, entries at hlc3, 10% of volume as new positions."""

MODEL = DESIGN.replace(
    intracandle_sweep=0.5,
    entry_price="range",
    leverage_edges=(3.0, 7.0, 15.0, 35.0, 75.0, 150.0),
    cluster_density=1.3,
)
"""The calibrated model before fitting: each tier spread over a band of leverages (3x .. 150x
effective, no empty band near price), entries over the candle's range. Its map is smooth, so a
cluster is a run at least 1.3x the mean bin (2x, the design's rule for its five spikes, finds one
on a few percent of candles only)."""


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", type=Path, default=None, help="shared data directory")
    args = parser.parse_args(argv)
    warnings.simplefilter("ignore")
    data = Path(args.data) if args.data else shared_data_dir()
    truth = shared_truth("binance_4h", data).between(None, FIT_END)
    first = truth.frame.index[0]
    c5 = pd.read_feather(pair_file(data / "history/binance", DEFAULT_PAIR, "5m"))
    c5 = c5[(c5["date"] >= first - WARMUP) & (c5["date"] < pd.Timestamp(FIT_END, tz="UTC"))]
    c5 = c5.reset_index(drop=True)
    frames = {"5m": c5, "1h": resample_ohlcv(c5, "1h"), "4h": resample_ohlcv(c5, "4h")}
    oi = pd.read_csv(data / "truth/coinglass_btc_open_interest_4h_all_exchanges.csv")
    oi_frame = pd.DataFrame(
        {
            "date": pd.to_datetime(oi["date"], utc=True),
            "open_interest_value": oi["oi_close_usd"].astype(float),
        }
    )

    def progress(done: int, total: int, what: str) -> None:
        print(f"  [{done}/{total}] {what}", file=sys.stderr, flush=True)

    print("volume inflow", file=sys.stderr)
    vol = calibrate(
        truth, frames, MODEL, vol_target=True, timeframe_exponent=True, progress=progress
    )
    print("open-interest inflow", file=sys.stderr)
    oi_cal = calibrate(
        truth,
        c5,
        vol.config,
        open_interest=oi_frame,
        # turnover relative to the OI change: 0.03 .. 10 (shares must stay <= 1 before scaling)
        candidates=[
            {"turnover_share": min(r, 1.0), "oi_scale": min(1.0, 1.0 / r)}
            for r in (0.03, 0.1, 0.3, 1.0, 3.0, 10.0)
        ],
        progress=progress,
    )
    config = oi_cal.config
    span = {"first_bar": truth.frame.index[0], "last_bar": truth.frame.index[-1]}
    calibrated_to = {
        "truth": truth.source,
        "series": truth.name,
        "venue": truth.venue,
        "bar": str(truth.bar),
        **span,
        "candles": f"Binance USDT-M {DEFAULT_PAIR} 5m (shape also on 1h and 4h)",
        "open_interest": "CoinGlass aggregated BTC OI over all exchanges, 4h",
        "note": "reported liquidations: public feeds are throttled (Binance pushes at most one "
        "order per symbol per second), so this is calibrated to an undercount",
    }
    write_preset(
        PRESETS / "btc-binance.json",
        preset_document(
            config,
            name="btc-binance",
            description="Default. Continuous leverage bands 3x..150x, entries over the candle's "
            "range, half of a candle's own new positions beyond its extremes liquidated within "
            "it; inflow magnitude fitted to Binance's reported BTC liquidations.",
            calibrated_to=calibrated_to,
            fitted={"volume": vol.changes, "open_interest": oi_cal.changes},
            out_of_sample={
                "method": "walk-forward inside the fitting span (4 folds, expanding)",
                "volume_5m": vol.report,
                "open_interest_5m": oi_cal.report,
            },
        ),
    )
    vs = venue_share(
        shared_truth("coinalyze_binance_1d", data), shared_truth("coinalyze_all_1d", data)
    )
    write_preset(
        PRESETS / "btc-all-exchanges.json",
        preset_document(
            config.replace(venue_share=round(vs.share, 3)),
            name="btc-all-exchanges",
            description="btc-binance for USD summed over the major exchanges: its inflow divided "
            "by Binance's share of the all-exchange reported BTC liquidations.",
            calibrated_to={
                **calibrated_to,
                "scope": "all exchanges: btc-binance's magnitude / venue_share, Binance's share of "
                "the reported BTC liquidations summed over Binance, Bybit, OKX, Huobi, BitMEX, "
                f"Bitfinex and Deribit (Coinalyze, daily) from {vs.first.date()} to "
                f"{vs.last.date()}: share {round(vs.share, 3):.3f} ({vs.bars} days holding every "
                f"contract; longs {vs.long:.3f}, shorts {vs.short:.3f})",
            },
            fitted={"volume": vol.changes, "open_interest": oi_cal.changes},
            out_of_sample={
                "method": "btc-binance's walk-forward (the scope changes the USD only); the "
                "all-exchange 1h series is scored by liq-indicator validate"
            },
        ),
    )
    write_preset(
        PRESETS / "design.json",
        preset_document(
            DESIGN,
            name="design",
            description="The first design: five leverage spikes (5x..100x), entries at hlc3, 10% "
            "of traded volume as new positions; not calibrated (its USD is 10-35x the reported "
            "liquidations, see docs/VALIDATION.md).",
        ),
    )
    print(config, file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
