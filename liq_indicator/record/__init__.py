"""The liquidation recorder: ccxt.pro liquidation streams -> raw events and 1m files on disk.

:mod:`.normalise` turns each venue's messages into one event layout (the position liquidated,
whatever side convention the venue uses); :mod:`.recorder` runs the streams with reconnects,
flushes to :mod:`liq_indicator.io.liquidations`, logs a health line and the gaps.
"""

from __future__ import annotations

from liq_indicator.record.normalise import SIDE_CONVENTION, liquidated_side, to_events
from liq_indicator.record.recorder import DiskFloorError, Recorder, RecorderSettings, make_exchange

__all__ = [
    "SIDE_CONVENTION",
    "DiskFloorError",
    "Recorder",
    "RecorderSettings",
    "liquidated_side",
    "make_exchange",
    "to_events",
]
