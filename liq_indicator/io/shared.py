"""Where the shared market data lives (read-only, never copied into the repository)."""

from __future__ import annotations

import os
from pathlib import Path

__all__ = ["DATA_ENV", "shared_data_dir"]

DATA_ENV = "LIQ_INDICATOR_DATA"
"""Environment variable naming the shared data directory (default: ../shared/data beside the repo)."""


def shared_data_dir() -> Path:
    """``$LIQ_INDICATOR_DATA``, else ``../shared/data`` beside the repository (a checkout's
    ``<repo>/../shared/data``; it holds ``truthwindow/``, ``truth/`` and ``history/``).

    The folder may not exist: callers skip or fail with their own message.
    """
    env = os.environ.get(DATA_ENV)
    if env:
        return Path(env).expanduser()
    return Path(__file__).resolve().parents[3] / "shared" / "data"
