"""The one settings mechanism (config.Settings) behind HeatmapConfig, SimConfig and SignalParams."""

from __future__ import annotations

import json
import math
from dataclasses import fields

import numpy as np
import pytest

from liq_indicator.config import HeatmapConfig, Settings
from liq_indicator.errors import ConfigError
from liq_indicator.sim.market import SimConfig
from liq_indicator.strategy.signals import SignalParams

CLASSES = [HeatmapConfig, SimConfig, SignalParams]


def _first(cls, kind):
    return next(
        f for f in fields(cls) if isinstance(f.default, kind) and not isinstance(f.default, bool)
    )


@pytest.mark.parametrize("cls", CLASSES, ids=lambda c: c.__name__)
def test_every_settings_class_uses_the_one_mechanism(cls):
    assert issubclass(cls, Settings)
    for name in ("check_types", "replace", "to_dict"):
        assert name not in vars(cls), f"{cls.__name__} restates Settings.{name}"


@pytest.mark.parametrize("cls", CLASSES, ids=lambda c: c.__name__)
@pytest.mark.parametrize("bad", [math.nan, math.inf, "1.0", None])
def test_a_non_finite_or_mistyped_number_names_the_field(cls, bad):
    field = _first(cls, float)
    with pytest.raises(ConfigError, match=f"{cls.__name__}.{field.name} must be a finite number"):
        cls(**{field.name: bad})


@pytest.mark.parametrize("cls", CLASSES, ids=lambda c: c.__name__)
def test_replace_names_unknown_fields_and_validates(cls):
    base = cls()
    with pytest.raises(ConfigError, match=f"unknown {cls.__name__} field\\(s\\): nonsense"):
        base.replace(nonsense=1)
    field = _first(cls, float)
    with pytest.raises(ConfigError, match=field.name):
        base.replace(**{field.name: math.nan})


@pytest.mark.parametrize("cls", CLASSES, ids=lambda c: c.__name__)
def test_to_dict_is_json_and_round_trips(cls):
    base = cls()
    data = json.loads(json.dumps(base.to_dict()))
    assert cls(**data) == base


@pytest.mark.parametrize("cls", CLASSES, ids=lambda c: c.__name__)
def test_numpy_scalars_become_python_numbers(cls):
    field = _first(cls, float)
    made = cls(**{field.name: np.float64(getattr(cls(), field.name))})
    assert type(getattr(made, field.name)) is float and made == cls()


# --- presets ---------------------------------------------------------------------------------


def test_the_default_is_the_calibrated_btc_binance_preset():
    from liq_indicator.config import preset_names, read_preset

    assert {"btc-binance", "design"} <= set(preset_names())
    assert HeatmapConfig() == HeatmapConfig.preset("btc-binance")
    doc = read_preset("btc-binance")
    assert doc["calibrated_to"]["venue"] == "binance"
    assert doc["calibrated_to"]["last_bar"] < "2025-06-01"  # later bars stay out of sample
    design = HeatmapConfig.preset("design")
    assert (design.volume_share, design.entry_price, design.leverage_edges) == (0.1, "hlc3", ())
    assert HeatmapConfig.preset("design", volume_share=0.2).volume_share == 0.2


def test_the_all_exchanges_preset_is_btc_binance_scaled_by_a_measured_venue_share():
    from liq_indicator.config import read_preset

    binance = HeatmapConfig.preset("btc-binance")
    allx = HeatmapConfig.preset("btc-all-exchanges")
    # the same model and magnitude; only the scope differs
    assert allx.replace(venue_share=1.0) == binance
    assert 0.1 < allx.venue_share < 0.6
    scope = read_preset("btc-all-exchanges")["calibrated_to"]["scope"]
    assert "Coinalyze" in scope and f"share {allx.venue_share:.3f}" in scope


def test_a_written_preset_loads_by_path_and_names_its_problems(tmp_path):
    from liq_indicator.io.presets import preset_document, write_preset

    cfg = HeatmapConfig(volume_share=0.002, intracandle_sweep=0.25)
    path = write_preset(tmp_path / "sub" / "mine.json", preset_document(cfg, name="mine"))
    assert HeatmapConfig.preset(path) == cfg == HeatmapConfig.preset(str(path))
    with pytest.raises(ConfigError, match="no preset named 'nope'.*btc-binance"):
        HeatmapConfig.preset("nope")
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    with pytest.raises(ConfigError, match="not valid JSON"):
        HeatmapConfig.preset(bad)
    bad.write_text(json.dumps({"name": "x"}))
    with pytest.raises(ConfigError, match="no 'config' object"):
        HeatmapConfig.preset(bad)
    bad.write_text(json.dumps({"format": 99, "config": {}}))
    with pytest.raises(ConfigError, match="format 99"):
        HeatmapConfig.preset(bad)
    bad.write_text(json.dumps({"config": {"volume_share": 0.1, "warp_drive": 1}}))
    with pytest.raises(ConfigError, match="unknown field.*warp_drive"):
        HeatmapConfig.preset(bad)
    bad.write_text(json.dumps({"config": {"volume_share": -1}}))
    with pytest.raises(ConfigError, match="volume_share"):
        HeatmapConfig.preset(bad)
