"""The estimator's configuration: one frozen, validated dataclass with a documented default per field."""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, fields, replace
from importlib import resources
from pathlib import Path
from typing import Any, Self

import numpy as np

from liq_indicator.brackets import DEFAULT_PAIR, liquidation_ratio, tier_leverages
from liq_indicator.errors import ConfigError

__all__ = [
    "DEFAULT_PAIR",
    "ENTRY_PRICES",
    "PRESET_FORMAT",
    "HeatmapConfig",
    "Settings",
    "preset_names",
    "read_preset",
]

PRESET_FORMAT = 1
"""Version of the preset file layout (``format`` in the JSON) this package reads and writes."""

ENTRY_PRICES = ("hlc3", "close", "ohlc4", "range")


def _plain(value: Any) -> Any:
    """Python floats/ints for numpy scalars, tuples for lists, recursively."""
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, tuple | list | np.ndarray):
        return tuple(_plain(v) for v in value)
    return value


def _finite_numbers(value: Any) -> bool:
    """A finite real number (not a bool), or a tuple/list of them, nested."""
    if isinstance(value, tuple | list):
        return all(_finite_numbers(v) for v in value)
    return (
        isinstance(value, int | float | np.integer | np.floating)
        and not isinstance(value, bool)
        and math.isfinite(value)
    )


def _jsonable(value: Any) -> Any:
    return [_jsonable(v) for v in value] if isinstance(value, tuple) else value


class Settings:
    """The one mechanism behind the package's frozen settings dataclasses (:class:`HeatmapConfig`,
    ``SimConfig``, ``SignalParams``, ``RecorderSettings``): a type check of every field against its
    default's kind, a validated :meth:`replace` that names unknown fields, and a JSON-able
    :meth:`to_dict`.

    A subclass's ``__post_init__`` calls :meth:`check_types` first and then checks its own ranges,
    so those checks never meet NaN (which passes every negated comparison) or a string (which
    raises a bare TypeError). Each bad value raises :class:`~liq_indicator.errors.ConfigError`
    naming ``Class.field``.
    """

    def check_types(self) -> None:
        """Every field of its default's kind: finite real numbers (or tuples of them, nested),
        bools, strings; numpy scalars become Python numbers and lists tuples.
        """
        name = type(self).__name__
        for f in fields(self):  # type: ignore[arg-type]
            value, default = getattr(self, f.name), f.default
            if isinstance(default, bool):
                ok, kind = isinstance(value, bool | np.bool_), "True or False"
            elif isinstance(default, str):
                ok, kind = isinstance(value, str), "a string"
            elif isinstance(default, tuple):
                ok, kind = (
                    isinstance(value, tuple | list) and _finite_numbers(value),
                    "a tuple of finite numbers",
                )
            else:
                ok, kind = (
                    _finite_numbers(value) and not isinstance(value, tuple | list),
                    "a finite number",
                )
            if not ok:
                raise ConfigError(f"{name}.{f.name} must be {kind}, got {value!r}")
            plain = bool(value) if isinstance(default, bool) else _plain(value)
            if plain is not value:
                object.__setattr__(self, f.name, plain)

    def replace(self, **changes: Any) -> Self:
        """A copy with ``changes`` applied (validated); an unknown field is a ConfigError."""
        unknown = set(changes) - {f.name for f in fields(self)}  # type: ignore[arg-type]
        if unknown:
            raise ConfigError(
                f"unknown {type(self).__name__} field(s): {', '.join(sorted(unknown))}"
            )
        return replace(self, **changes)  # type: ignore[type-var]

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-able dict of every field (tuples become lists)."""
        return {f.name: _jsonable(getattr(self, f.name)) for f in fields(self)}  # type: ignore[arg-type]


@dataclass(frozen=True)
class HeatmapConfig(Settings):
    """Every modelling choice of the liquidation map, with its default.

    The defaults are the ``btc-binance`` preset (``liq_indicator/data/presets/btc-binance.json``,
    rebuilt by ``scripts/calibrate_default.py``): the inflow's magnitude (``volume_share``,
    ``turnover_share``, ``oi_scale``) fitted walk-forward to Binance's reported BTC liquidations,
    which undercount (public feeds are throttled). The first design's settings are the ``design``
    preset: ``HeatmapConfig.preset("design")``. For another pair or venue, calibrate your own
    (``liq-indicator calibrate``) and load it with :meth:`preset`.

    Construct with keywords and change with :meth:`replace`; values are checked on construction
    and a bad one raises :class:`~liq_indicator.errors.ConfigError` naming the field.
    """

    # --- grid -------------------------------------------------------------------------------
    bin_bp: float = 10.0
    """Width of one price bin in basis points of price (log-spaced grid, so scale-invariant)."""
    grid_bins: int = 2048
    """Bins in the live window around price. The window recentres when price comes within a
    quarter of it from an edge; levels that fall off (far from any price seen lately) are counted
    as ``dropped``. 2048 bins of 10 bp span x/2.8 .. x*2.8 around the centre."""

    # --- inflow of new positions -------------------------------------------------------------
    volume_share: float = 0.00561
    """Volume mode (no open interest): fraction of traded notional assumed to open new positions."""
    entry_price: str = "range"
    """Price at which a candle's new positions are assumed opened: 'hlc3', 'close' or 'ohlc4' (one
    point), or 'range': spread evenly (in log price) over the candle's low .. high, a
    volume-at-price proxy for a candle whose trades happened all over its range."""
    intracandle_sweep: float = 0.5
    """Share of a candle's new positions whose liquidation price lies beyond the candle's own low
    (longs) or high (shorts) that are liquidated within that candle: the ones opened before the
    extreme. 0 = new positions survive their own candle (right for fine candles); 0.5 = nothing
    known of the order of prices inside the candle. Matters for coarse (1h, 4h) candles."""
    intracandle_path: bool = True
    """True: the same-candle share is, per candle, the share of its price path traded before its
    low (for longs) or before its high (for shorts), the path being open -> low -> high -> close
    for a candle that closed up and open -> high -> low -> close for one that closed down, each leg
    weighted by its length; ``intracandle_sweep`` is then not used."""
    turnover_share: float = 0.00842
    """Open-interest mode: fraction of traded notional that opens new positions on top of the rise
    in OI, matched by as much closed proportionally (OI can stay flat while positions turn over).
    0 = OI changes only."""
    oi_scale: float = 0.000842
    """Open-interest mode: multiplier on the OI flows, for OI that is not the venue's own (an
    aggregate over exchanges) or of which only part is leveraged. Calibrated per venue: the
    default was fitted with OI aggregated over all exchanges (the only OI history there is), where
    the turnover of traded volume, not the OI change, carries the ranking (turnover_share is 10x
    oi_scale). With one exchange's OI, recalibrate (``liq-indicator calibrate --open-interest``)."""

    venue_share: float = 1.0
    """Share of the liquidations whose USD the map should give that the candles' venue carries:
    the inflow magnitude (``volume_share``, ``turnover_share``, ``oi_scale``) is divided by it.
    1 = the venue's own reported liquidations (what a preset is calibrated to). The
    ``btc-all-exchanges`` preset is ``btc-binance`` with Binance's measured share of the
    all-exchange reported BTC liquidations (``scripts/calibrate_default.py``: the last 365 days of
    Coinalyze's per-exchange daily series), for USD summed over the major exchanges."""

    vol_target: float = 0.6
    """Volatility targeting: new positions' notional per unit of inflow (traded USD, or OI and
    turnover) is multiplied by ``(vol_ref_pct / realised volatility) ** vol_target`` (clipped to
    0.25 .. 4): traders who size for a fixed risk open more notional, at the same leverage, when
    the market is calm. Realised volatility: an exponentially weighted mean of the squared
    close-to-close log returns per second (half-life ``vol_half_life_hours``), used once a
    half-life of candles has been seen (1 before). 0 = off. Fitted by ``liq-indicator calibrate``:
    the slope of the map's log USD error on log realised volatility over the fitting span (0.6
    for the default; the ``design`` preset has 0)."""
    vol_ref_pct: float = 2.56
    """Daily volatility (%, one standard deviation of daily log returns) at which the volatility
    multiplier is 1: the fitting span's median for a fitted preset."""
    vol_half_life_hours: float = 72.0
    """Half-life of the realised-volatility average (hours of wall clock)."""
    timeframe_exponent: float = 0.055
    """Candle-length correction: the inflow is multiplied by ``(candle length / 5 minutes) **
    -timeframe_exponent`` (the length: the shortest spacing of the candles seen so far; 1 before
    the second candle). A coarse candle's map sweeps somewhat more USD than a fine one's from the
    same trading (one path per candle instead of many); fitted by ``liq-indicator calibrate`` on
    several timeframes of the same candles (``scripts/calibrate_default.py``: 5m, 1h and 4h;
    0.055 for the default, 0 for ``design``). 0 = off; 5m candles are unaffected whatever its
    value."""

    oi_max_age_periods: float = 2.0
    """Open interest merged from a side frame counts as stale once it is older than this many of
    its own periods (after the time it was known): those candles then use the volume rule, as
    candles before the first OI sample do, instead of a frozen OI that would add nothing."""

    # --- long/short split -------------------------------------------------------------------
    direction_tilt: float = 0.0
    """Added to the long share on up candles and subtracted on down candles (0 = plain 50/50)."""
    use_taker_split: bool = True
    """When a ``taker_buy_volume`` column is present, the long share is taker-buy / volume."""
    funding_skew: float = 0.0
    """Change in long share per basis point of funding rate, when a ``funding_rate`` column is
    present (positive funding = longs crowded = more longs opened). 0 disables it."""

    # --- leverage tiers ---------------------------------------------------------------------
    leverages: tuple[float, ...] = (5.0, 10.0, 25.0, 50.0, 100.0)
    """Leverage of each tier."""
    leverage_edges: tuple[float, ...] = (3.0, 7.0, 15.0, 35.0, 75.0, 150.0)
    """Empty: every tier's positions sit at exactly its leverage (five spikes). Otherwise one more
    edge than tiers, increasing: tier ``t`` covers the leverages ``leverage_edges[t] ..
    leverage_edges[t + 1]`` and its notional is spread evenly (in log price) over the liquidation
    prices between them, a piecewise-continuous leverage distribution with no empty band. Edges
    are effective leverage (a position that is under water liquidates nearer than its nominal
    leverage says), so they may exceed the exchange's cap, up to where maintenance margin alone
    liquidates at entry."""
    weights: tuple[float, ...] = (0.10, 0.25, 0.30, 0.20, 0.15)
    """Share of new notional opened at each tier (must sum to 1)."""
    half_life_hours: tuple[float, ...] = (336.0, 168.0, 72.0, 36.0, 12.0)
    """Wall-clock half-life of each tier's levels (high leverage ages faster: stopped out,
    topped up or closed). Applied per elapsed second, so 1m and 1h candles give the same decay."""

    # --- liquidation price ------------------------------------------------------------------
    exchange: str = "binance"
    """Whose maintenance-margin tiers and liquidation formula to use: 'binance', 'bybit', 'okx' or
    'hyperliquid' (:func:`liq_indicator.brackets.available_exchanges`)."""
    symbol: str = DEFAULT_PAIR
    """The pair (Freqtrade's name, e.g. ``ETH/USDT:USDT``) whose tiers are used: registered or
    cached ones first, then Freqtrade's bundled Binance file, then the package's tables."""
    position_notional: float = 10_000.0
    """Typical single-position notional in USDT; selects the maintenance-margin bracket."""

    # --- recorded liquidations --------------------------------------------------------------
    real_window: int = 288
    """Candles (with recorded liquidations) over which the live accuracy columns are measured."""
    assimilation_rate: float = 0.0
    """Where recorded liquidations are given, after each candle the map's inflow multiplier moves
    by this fraction of log(recorded / swept) (clipped to +-1 per candle), so the map's USD follows
    the recorded series. 0 = off (the calibrated magnitude stays)."""

    reconcile_band_pct: float = 0.0
    """With assimilation: the pending levels within this band (% of price) just beyond a candle's
    low (longs) or high (shorts) are scaled like the inflow, by the side's own recorded / swept
    ratio of the candle (clipped), where the recording shows the map is off. 0 = off."""

    # --- features ---------------------------------------------------------------------------
    bands_pct: tuple[float, ...] = (1.0, 2.0, 5.0, 10.0)
    """Distance bands (% of close) for the pending-notional and imbalance columns."""
    cluster_range_pct: float = 15.0
    """How far from close (%) the nearest significant cluster is searched for."""
    cluster_smooth_bins: int = 5
    """Width (bins, odd) of the box filter applied before cluster detection; merges neighbours."""
    cluster_density: float = 1.3
    """A bin belongs to a cluster when its smoothed notional is at least this multiple of the
    mean notional per bin within ``cluster_range_pct`` on both sides of price. The calibrated map
    is smooth (leverage bands, range entries), so 1.3; the design's five spikes used 2."""
    growth_band_pct: float = 2.0
    """Band (one of ``bands_pct``) whose pending notional (both sides) the growth column tracks."""
    growth_candles: int = 12
    """Look-back (candles) of the growth column."""

    def __post_init__(self) -> None:
        self.check_types()
        self._check_values()
        self._check_tiers()
        self._check_bands_and_reach()

    def _check_values(self) -> None:
        """The scalar settings, each on its own."""

        def positive(name: str) -> None:
            value = getattr(self, name)
            if not (isinstance(value, int | float) and math.isfinite(value) and value > 0):
                raise ConfigError(
                    f"HeatmapConfig.{name} must be a finite number > 0, got {value!r}"
                )

        for name in (
            "bin_bp",
            "volume_share",
            "position_notional",
            "cluster_range_pct",
            "cluster_density",
            "growth_band_pct",
            "oi_max_age_periods",
            "oi_scale",
            "vol_ref_pct",
            "vol_half_life_hours",
        ):
            positive(name)
        if not (isinstance(self.real_window, int) and 10 <= self.real_window <= 100_000):
            raise ConfigError(
                f"HeatmapConfig.real_window must be an int in [10, 100000], got {self.real_window!r}"
            )
        if not (0 <= self.reconcile_band_pct <= 20):
            raise ConfigError(
                f"HeatmapConfig.reconcile_band_pct must be in [0, 20], got {self.reconcile_band_pct}"
            )
        for name, low, top in (
            ("assimilation_rate", 0.0, 1.0),
            ("intracandle_sweep", 0.0, 1.0),
            ("turnover_share", 0.0, 1.0),
            ("volume_share", 0.0, 1.0),
            ("direction_tilt", 0.0, 0.5),
            ("vol_target", 0.0, 2.0),
            ("timeframe_exponent", -1.0, 1.0),
            ("venue_share", 1e-3, 1.0),
        ):
            value = getattr(self, name)
            if not (low <= value <= top):
                raise ConfigError(
                    f"HeatmapConfig.{name} must be in [{low:g}, {top:g}], got {value}"
                )
        if self.bin_bp > 500:
            raise ConfigError(f"HeatmapConfig.bin_bp={self.bin_bp} is too coarse; use <= 500 bp")
        if not (isinstance(self.grid_bins, int) and 256 <= self.grid_bins <= 1 << 16):
            raise ConfigError(
                f"HeatmapConfig.grid_bins must be an int in [256, 65536], got {self.grid_bins!r}"
            )
        if self.entry_price not in ENTRY_PRICES:
            raise ConfigError(
                f"HeatmapConfig.entry_price must be one of {ENTRY_PRICES}, got {self.entry_price!r}"
            )
        if not math.isfinite(self.funding_skew):
            raise ConfigError("HeatmapConfig.funding_skew must be finite")

    def _check_tiers(self) -> None:
        """The leverage tiers: lengths, ranges, weights, and the exchange's cap for the position."""
        n = len(self.leverages)
        if n == 0 or len(self.weights) != n or len(self.half_life_hours) != n:
            raise ConfigError(
                "HeatmapConfig.leverages, weights and half_life_hours must be non-empty and of equal "
                f"length, got {len(self.leverages)}, {len(self.weights)}, {len(self.half_life_hours)}"
            )
        if any(not (1 <= lev <= 200) for lev in self.leverages):
            raise ConfigError(f"HeatmapConfig.leverages must be in [1, 200], got {self.leverages}")
        if any(w < 0 for w in self.weights) or abs(sum(self.weights) - 1) > 1e-9:
            raise ConfigError(
                f"HeatmapConfig.weights must be >= 0 and sum to 1, got {self.weights}"
            )
        if any(not (math.isfinite(h) and h > 0) for h in self.half_life_hours):
            raise ConfigError(
                f"HeatmapConfig.half_life_hours must be > 0, got {self.half_life_hours}"
            )
        edges = self.leverage_edges
        if edges and (
            len(edges) != n + 1
            or any(b <= a for a, b in zip(edges, edges[1:], strict=False))
            or edges[0] < 1
        ):
            raise ConfigError(
                f"HeatmapConfig.leverage_edges must be empty or {n + 1} increasing values >= 1 "
                f"(one more than leverages), got {edges}; with other leverages pass their edges "
                "too, or leverage_edges=() for one leverage per tier"
            )
        # raises on an unknown exchange or pair, or when even the lowest level is past the
        # maintenance limit; tiers above the pair's maximum are capped, not refused (model.py)
        self._tier_levels()

    def _tier_levels(self) -> tuple[tuple[float, ...], tuple[float, ...]]:
        """(farthest, nearest) leverage of each tier on this config's own venue, capped by its tiers."""
        return tier_leverages(
            self.leverages,
            self.leverage_edges,
            self.position_notional,
            math.log1p(self.bin_bp / 1e4),
            exchange=self.exchange,
            pair=self.symbol,
        )

    def _check_bands_and_reach(self) -> None:
        """The bands and the cluster search, and whether the grid reaches every level they need."""
        if not self.bands_pct or any(not (0 < b <= self.cluster_range_pct) for b in self.bands_pct):
            raise ConfigError(
                f"HeatmapConfig.bands_pct must be non-empty, each in (0, cluster_range_pct="
                f"{self.cluster_range_pct}], got {self.bands_pct}"
            )
        if list(self.bands_pct) != sorted(set(self.bands_pct)):
            raise ConfigError(f"HeatmapConfig.bands_pct must be increasing, got {self.bands_pct}")
        if self.growth_band_pct not in self.bands_pct:
            raise ConfigError(
                f"HeatmapConfig.growth_band_pct={self.growth_band_pct} must be one of bands_pct {self.bands_pct}"
            )
        if not (
            isinstance(self.cluster_smooth_bins, int)
            and self.cluster_smooth_bins >= 1
            and self.cluster_smooth_bins % 2 == 1
        ):
            raise ConfigError(
                f"HeatmapConfig.cluster_smooth_bins must be an odd int >= 1, got {self.cluster_smooth_bins!r}"
            )
        if not (isinstance(self.growth_candles, int) and 1 <= self.growth_candles <= 10_000):
            raise ConfigError(
                f"HeatmapConfig.growth_candles must be an int in [1, 10000], got {self.growth_candles!r}"
            )
        reach = math.log1p(self.cluster_range_pct / 100) / math.log1p(self.bin_bp / 1e4)
        if reach + self.cluster_smooth_bins > self.grid_bins / 4:
            raise ConfigError(
                f"cluster_range_pct={self.cluster_range_pct} needs {reach:.0f} bins but grid_bins/4 = "
                f"{self.grid_bins // 4}; raise grid_bins or bin_bp"
            )
        lowest = min(self._tier_levels()[0])
        worst = liquidation_ratio(
            lowest, False, self.position_notional, exchange=self.exchange, pair=self.symbol
        )
        if worst <= 0 or -math.log(worst) / math.log1p(self.bin_bp / 1e4) > self.grid_bins / 4:
            raise ConfigError(
                f"the lowest tier ({lowest:g}x) liquidates too far from entry for "
                f"grid_bins={self.grid_bins} at bin_bp={self.bin_bp}; raise grid_bins"
            )

    @classmethod
    def preset(cls, name_or_path: str | Path, **changes: Any) -> HeatmapConfig:
        """The settings of a named preset shipped with the package (:func:`preset_names`) or of a
        preset file written by ``liq-indicator calibrate``, with ``changes`` applied.

        Raises:
            ConfigError: unknown name, unreadable or malformed file, or a bad setting in it.
        """
        fields_in_file = read_preset(name_or_path)["config"]
        unknown = set(fields_in_file) - {f.name for f in fields(cls)}
        if unknown:
            raise ConfigError(
                f"preset {name_or_path!s} sets unknown field(s) {', '.join(sorted(unknown))}; "
                "it was written by a newer liq-indicator, upgrade"
            )
        return cls(**{**fields_in_file, **changes})


def _preset_dir() -> Any:
    return resources.files("liq_indicator") / "data" / "presets"


def preset_names() -> list[str]:
    """Names of the presets shipped with the package (``liq_indicator/data/presets/*.json``)."""
    return sorted(
        p.name.removesuffix(".json") for p in _preset_dir().iterdir() if p.name.endswith(".json")
    )


def read_preset(name_or_path: str | Path) -> dict[str, Any]:
    """The whole preset document: ``format``, ``name``, ``version``, ``description``,
    ``calibrated_to``, ``out_of_sample`` and ``config`` (the :class:`HeatmapConfig` fields).

    ``name_or_path``: a shipped preset's name, or the path of a preset JSON file.

    Raises:
        ConfigError: unknown name, unreadable file, not a preset, or a newer format.
    """
    text = str(name_or_path)
    if text in preset_names():
        raw = (_preset_dir() / f"{text}.json").read_text(encoding="utf-8")
    else:
        path = Path(text)
        if not path.is_file():
            raise ConfigError(
                f"no preset named {text!r} and no such file; shipped presets: "
                f"{', '.join(preset_names())}, or pass the path of a JSON file written by "
                "'liq-indicator calibrate'"
            )
        try:
            raw = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise ConfigError(f"cannot read preset file {path}: {exc}") from exc
    try:
        doc = json.loads(raw)
    except json.JSONDecodeError as exc:
        raise ConfigError(f"preset {text} is not valid JSON ({exc})") from exc
    if not (isinstance(doc, dict) and isinstance(doc.get("config"), dict)):
        raise ConfigError(
            f"preset {text} has no 'config' object; is it a file written by 'liq-indicator calibrate'?"
        )
    if doc.get("format", PRESET_FORMAT) != PRESET_FORMAT:
        raise ConfigError(
            f"preset {text} has format {doc.get('format')!r}; this liq-indicator reads format "
            f"{PRESET_FORMAT}"
        )
    return doc
