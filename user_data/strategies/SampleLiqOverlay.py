"""SampleLiqOverlay: Freqtrade's own SampleStrategy with the liquidation map as its risk overlay.

Entries and exits are SampleStrategy's (``freqtrade.templates.sample_strategy``, installed with
Freqtrade: RSI crosses with TEMA and Bollinger guards, long only, 5m). ``LiqRiskMixin`` replaces its
fixed 10% stop, 1x leverage and fixed stake with the map's: a stop beyond the nearest cluster and its
sweep zone, the leverage whose own liquidation stays clear of that stop and of the clusters, and a
stake that loses 0.75% of the wallet at the stop. Compare with ``--strategy SampleStrategy``
(benchmarks/overlay_comparison.py, docs/OVERLAY.md).

    freqtrade backtesting --config config.json --strategy SampleLiqOverlay --timerange 20250101-
"""

from __future__ import annotations

from freqtrade.templates.sample_strategy import SampleStrategy

from liq_indicator.strategy.overlay import LiqRiskMixin


class SampleLiqOverlay(LiqRiskMixin, SampleStrategy):
    # the map's 2,000-candle start-up window (6.9 days of 5m, docs/STRATEGY.md) over the sample's 200
    startup_candle_count = 2000
