"""BaselineLiqOverlay: the project's EMA 20/50 baseline with the liquidation map as its risk overlay.

Entries and exits are BaselineStrategy's (EMA cross on 1h, long and short). ``LiqRiskMixin``
replaces its 10% stop, 1x leverage and whole-wallet stake with the map's: a stop beyond the nearest
cluster and its sweep zone, the leverage whose own liquidation stays clear of that stop and of the
clusters, and a stake that loses 0.75% of the wallet at the stop. Compare with
``--strategy BaselineStrategy`` (benchmarks/overlay_comparison.py, docs/OVERLAY.md).
"""

from __future__ import annotations

import sys
from pathlib import Path

from liq_indicator.strategy.overlay import LiqRiskMixin

sys.path.insert(
    0, str(Path(__file__).resolve().parent)
)  # BaselineStrategy.py sits beside this file
from BaselineStrategy import BaselineStrategy  # noqa: E402


class BaselineLiqOverlay(LiqRiskMixin, BaselineStrategy):
    # 200 x 1h: the map's longest half-life (18 h) leaves 2**(-11) of what is older
    startup_candle_count = 200
