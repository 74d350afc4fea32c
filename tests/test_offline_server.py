"""liq_indicator.offline.server without its optional dependency: one line naming the extra."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from liq_indicator.cli import main


def test_exchange_without_aiohttp_names_the_extra_to_install(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
):
    monkeypatch.setitem(sys.modules, "aiohttp", None)  # as if aiohttp were not installed
    monkeypatch.delitem(sys.modules, "liq_indicator.offline.server", raising=False)
    assert main(["exchange", "--datadir", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("liq-indicator exchange: error: the offline exchange needs aiohttp"), err
    assert "pip install 'liq-indicator[freqtrade]'" in err and "Traceback" not in err, err
