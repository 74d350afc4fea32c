"""Shared fixtures: synthetic candles, and the real data in ../shared/data when it is there."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from liq_indicator.io.shared import shared_data_dir

REPO = Path(__file__).resolve().parents[1]


def strategy_copy(dest_root: Path, source: Path | None = None) -> Path:
    """The project's strategy files (``*.py`` only) copied to ``dest_root/user_data/strategies``.

    Freqtrade reads a hyperopt result ``<Strategy>.json`` that sits beside the strategy file, so the
    README's hyperopt (which writes one into ``user_data/strategies``) would otherwise change what
    every Freqtrade run of the test suite trades.
    """
    import shutil

    source = source or REPO / "user_data" / "strategies"
    target = dest_root / "user_data" / "strategies"
    target.mkdir(parents=True, exist_ok=True)
    for path in source.glob("*.py"):
        shutil.copy2(path, target / path.name)
    return target


@pytest.fixture(scope="session")
def clean_strategies(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A copy of the strategies folder without any hyperopt parameter file (see strategy_copy)."""
    return strategy_copy(tmp_path_factory.mktemp("clean"))


SHARED_DATA = shared_data_dir()  # $LIQ_INDICATOR_DATA or ../shared/data
HISTORY_5M = SHARED_DATA / "history" / "binance" / "futures" / "BTC_USDT_USDT-5m-futures.feather"

needs_shared_data = pytest.mark.skipif(
    not HISTORY_5M.exists(),
    reason=f"real market data not found at {SHARED_DATA} (it sits beside the repo in CI; "
    "on a user's machine these tests are skipped)",
)


def make_candles(
    n: int = 500,
    seed: int = 0,
    price: float = 30_000.0,
    timeframe: str = "5min",
    vol: float = 0.004,
    start: str = "2024-01-01",
    oi: bool = False,
) -> pd.DataFrame:
    """A random-walk candle frame in Freqtrade's layout (optionally with open_interest_value)."""
    rng = np.random.default_rng(seed)
    ret = rng.normal(0, vol, n) * np.where(rng.random(n) < 0.02, 5, 1)
    close = price * np.exp(np.cumsum(ret))
    open_ = np.r_[price, close[:-1]]
    wick = np.abs(rng.normal(0, vol, (2, n))) * np.maximum(open_, close)
    frame = pd.DataFrame(
        {
            "date": pd.date_range(start, periods=n, freq=timeframe, tz="UTC"),
            "open": open_,
            "high": np.maximum(open_, close) + wick[0],
            "low": np.minimum(open_, close) - wick[1],
            "close": close,
            "volume": rng.lognormal(5, 1, n),
        }
    )
    if oi:
        frame["open_interest_value"] = 5e9 * np.exp(np.cumsum(rng.normal(0, 0.003, n)))
    return frame


@pytest.fixture
def candles() -> pd.DataFrame:
    return make_candles()


@pytest.fixture(scope="session")
def real_5m() -> pd.DataFrame:
    if not HISTORY_5M.exists():
        pytest.skip(f"real market data not found at {SHARED_DATA}")
    return pd.read_feather(HISTORY_5M)
