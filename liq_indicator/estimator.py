"""The pandas face of the liquidation map: validate -> arrays -> kernel -> named columns.

Public entry points:

* :func:`liquidation_features` - the ``liq_`` feature columns for every candle (batch).
* :class:`LiquidationEstimator` - the same, one candle at a time for live use, bit for bit equal.
* :func:`liquidation_heatmap` - the time x price matrix of pending notional, for pictures.
* :func:`liquidation_map` - the map at one moment, per bin and per leverage tier.
* :class:`MapCursor` - the map at successive moments of one frame, each step costing only new candles.

Every value at a candle is computed from that candle and earlier ones only (known at its close).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from liq_indicator.columns import feature_columns
from liq_indicator.config import HeatmapConfig
from liq_indicator.core import kernels
from liq_indicator.core.grid import bin_center, bin_lower, bin_width, price_to_bin
from liq_indicator.core.inputs import (
    MAX_PRICE,
    MAX_USD,
    REQUIRED_COLUMNS,
    SIDE_COLUMNS,
    candle_time,
    candle_times,
    coerce_dates,
    derive_inputs,
    epoch_unit,
    prepare,
    validate_candles,
)
from liq_indicator.core.maps import Heatmap, LiquidationMap
from liq_indicator.core.model import (
    PER_VENUE,
    TOTALS,
    HeatRequest,
    KernelInputs,
    KernelParams,
    MapState,
    kernel_params,
    new_state,
    no_heat,
)
from liq_indicator.errors import InputError, warn_data

__all__ = [
    "Venue",
    "LiquidationEstimator",
    "MapCursor",
    "kernel_inputs",
    "liquidation_features",
    "liquidation_heatmap",
    "liquidation_map",
]


def _run(
    params: KernelParams, state: MapState, inputs: KernelInputs, heat: HeatRequest | None = None
) -> np.ndarray:
    """The kernel over ``inputs`` from ``state``; its feature rows. Inputs are made C-contiguous,
    so every call runs the same compiled code (batch == live bit for bit).
    """
    inputs = KernelInputs(*(np.ascontiguousarray(a, dtype=np.float64) for a in inputs))
    out = np.empty((inputs.n_candles, params.columns.width))
    kernels.run(inputs, params, state, out, heat if heat is not None else no_heat())
    return out


@dataclass(frozen=True)
class Venue:
    """Another exchange's candles (and side data) for the same pair, to aggregate into one map.

    Its levels use its own maintenance-margin brackets and are liquidated by its own prices; all
    venues share one price grid, and features are measured from the reference venue's close.
    Rows are matched to the reference candles by date (same timeframe); a reference candle with
    no match on a venue adds nothing there and liquidates nothing there.
    """

    exchange: str
    candles: pd.DataFrame
    open_interest: pd.DataFrame | None = None
    mark: pd.DataFrame | None = None
    funding: pd.DataFrame | None = None


def kernel_inputs(
    candles: pd.DataFrame,
    config: HeatmapConfig,
    *,
    open_interest: pd.DataFrame | None = None,
    mark: pd.DataFrame | None = None,
    funding: pd.DataFrame | None = None,
    venues: tuple[Venue, ...] | list[Venue] = (),
    liquidations: pd.DataFrame | None = None,
) -> tuple[KernelInputs, tuple[str, ...]]:
    """The kernel's per-candle inputs of ``candles`` and of every other venue, aligned on its dates.

    What :func:`liquidation_features` feeds :func:`liq_indicator.core.kernels.run` (and the slow
    twin :func:`liq_indicator.core.reference.run`), checked and causally merged.

    Returns:
        (inputs, exchanges): per-venue arrays are ``(n, venues)``; ``exchanges`` names the venues,
        the reference (``config.exchange``) first.
    """
    ref = prepare(
        candles,
        config,
        open_interest=open_interest,
        mark=mark,
        funding=funding,
        liquidations=liquidations,
    )
    if not venues:
        return ref, (config.exchange,)
    exchanges = (config.exchange, *(v.exchange.lower() for v in venues))
    if len(set(exchanges)) != len(exchanges):
        raise InputError(
            f"venues must be distinct exchanges, got {', '.join(exchanges)} "
            f"(the reference candles are {config.exchange})"
        )
    columns = {name: [getattr(ref, name)] for name in PER_VENUE}
    for venue in venues:
        inp = prepare(
            venue.candles,
            config.replace(exchange=venue.exchange.lower()),
            open_interest=venue.open_interest,
            mark=venue.mark,
            funding=venue.funding,
        )
        pos = np.searchsorted(ref.time_s, inp.time_s)
        ok = (pos < ref.n_candles) & (ref.time_s[np.minimum(pos, ref.n_candles - 1)] == inp.time_s)
        for name, parts in columns.items():
            full = np.full((ref.n_candles, 1), 0.5 if name == "long_share" else np.nan)
            full[pos[ok]] = getattr(inp, name)[ok]
            parts.append(full)
    stacked = {name: np.hstack(parts) for name, parts in columns.items()}
    return (
        KernelInputs(
            time_s=ref.time_s,
            close=ref.close,
            **stacked,
            real_long=ref.real_long,
            real_short=ref.real_short,
        ),
        exchanges,
    )


def _features_frame(
    df: pd.DataFrame, values: np.ndarray, cfg: HeatmapConfig, venues: tuple[str, ...] = ()
) -> pd.DataFrame:
    names = feature_columns(cfg, venues)
    stale = [c for c in df.columns if isinstance(c, str) and c.startswith("liq_")]
    base = df.drop(columns=stale) if stale else df.copy(deep=False)
    feats = pd.DataFrame(values, columns=names, index=df.index, copy=False)
    if df.index.is_unique:
        return base.join(feats)  # aligned 1:1; avoids the block copy of concat
    return pd.concat([base, feats.set_axis(base.index)], axis=1)


def liquidation_features(
    candles: pd.DataFrame,
    config: HeatmapConfig | None = None,
    *,
    open_interest: pd.DataFrame | None = None,
    mark: pd.DataFrame | None = None,
    funding: pd.DataFrame | None = None,
    venues: tuple[Venue, ...] | list[Venue] = (),
    liquidations: pd.DataFrame | None = None,
) -> pd.DataFrame:
    """Estimate the liquidation map over ``candles`` and return them with ``liq_`` columns added.

    Args:
        candles: Freqtrade-style candles: ``date`` (UTC), ``open``, ``high``, ``low``,
            ``close``, ``volume`` (base currency), ascending and unique by date. Optional columns
            used when present: ``open_interest_value`` (USD) or ``open_interest_amount`` (coin),
            ``mark_high``/``mark_low``, ``taker_buy_volume``, ``funding_rate``, ``long_share``
            (your own share of new positions that are long, in [0, 1], e.g. from positioning
            ratios; it takes precedence over the taker split).
        config: model settings; :class:`HeatmapConfig` defaults when omitted.
        open_interest: Freqtrade ``open_interest`` candles, merged causally (see
            :func:`liq_indicator.core.inputs.merge_causal`).
        mark: mark-price candles of the same timeframe (liquidations trigger on mark).
        funding: Freqtrade ``funding_rate`` candles (rate in ``funding_rate`` or legacy ``open``).
        venues: other exchanges' data for the same pair (:class:`Venue`); the map then
            aggregates all venues, ``candles`` being the reference (``config.exchange``), and
            each cluster gets per-venue share columns.
        liquidations: recorded liquidations of the reference venue (``date``, ``long_usd``,
            ``short_usd`` rows, e.g. ``liq_indicator.io.liquidations.load_liquidations(...)``):
            summed per candle into ``liq_real_long_usd``/``_short_usd`` beside the map's swept
            notional, with the live accuracy columns; with ``assimilation_rate`` > 0 the map's
            inflow follows them. A candle sees only the rows inside it.

    Returns:
        A new frame: the input columns (any old ``liq_`` columns replaced) plus the columns listed
        in docs/FEATURES.md. Row ``k`` depends on rows ``0..k`` only. The input is not modified.

    Raises:
        InputError: on unusable candles (the message names the column, row and fix).
        ConfigError: on a bad config.
    """
    cfg = config or HeatmapConfig()
    names = (cfg.exchange, *(v.exchange.lower() for v in venues)) if venues else ()
    if isinstance(candles, pd.DataFrame) and len(candles) == 0:
        return _features_frame(candles, np.empty((0, len(feature_columns(cfg, names)))), cfg, names)
    inputs, exchanges = kernel_inputs(
        candles,
        cfg,
        open_interest=open_interest,
        mark=mark,
        funding=funding,
        venues=venues,
        liquidations=liquidations,
    )
    values = _run(kernel_params(cfg, exchanges), new_state(cfg, len(exchanges)), inputs)
    return _features_frame(candles, values, cfg, names)


# ------------------------------------------------------------------------------------------------
# live use


def _timestamp_seconds(value: Any) -> tuple[float, str | None]:
    """Seconds since the epoch exactly as :func:`candle_times` computes them (naive = UTC), and
    the unit an epoch number was read in (as :func:`~liq_indicator.core.inputs.coerce_dates` reads a
    column of them: the unit that puts the date in 1990-2100), or None for a datetime.
    """
    unit = None
    if isinstance(value, int | float | np.integer | np.floating) and not isinstance(value, bool):
        unit = epoch_unit(float(value))
        if unit is None:
            raise InputError(
                f"candle 'date' {value!r} is a number but no epoch unit (s, ms, us, ns) "
                "puts it in 1990-2100; pass a datetime"
            )
        value = pd.to_datetime(value, unit=unit, utc=True)
    try:
        ts = value if isinstance(value, pd.Timestamp) else pd.Timestamp(value)
    except (TypeError, ValueError) as exc:
        raise InputError(f"candle 'date' must be a datetime, got {value!r}") from exc
    if ts is pd.NaT:
        raise InputError("candle 'date' is missing")
    return candle_time(ts), unit


def _scalar(candle: Mapping[str, Any], name: str) -> float:
    value = candle[name]
    try:
        return math.nan if value is None else float(value)
    except (TypeError, ValueError) as exc:
        raise InputError(f"candle field {name!r} must be a number, got {value!r}") from exc


def _plausible(o: float, h: float, lo: float, c: float, v: float) -> bool:
    """The scalar form of validate_candles' hard checks (finite prices in (0, MAX_PRICE],
    high >= low, volume >= 0 with volume x close <= MAX_USD).
    """
    return (
        0 < o <= MAX_PRICE
        and 0 < h <= MAX_PRICE
        and 0 < lo <= MAX_PRICE
        and 0 < c <= MAX_PRICE
        and h >= lo
        and v >= 0
        and v * c <= MAX_USD
    )


class LiquidationEstimator:
    """The liquidation map for live use: feed candles one at a time with :meth:`update`.

    The result of ``update`` on candles ``0..k`` equals row ``k`` of :func:`liquidation_features`
    on the same candles, bit for bit. Memory is bounded by the grid (``2 x tiers x grid_bins``
    floats), not by history.

    Example:
        >>> est = LiquidationEstimator()
        >>> for candle in candles.to_dict("records"):  # doctest: +SKIP
        ...     features = est.update(candle)
    """

    def __init__(self, config: HeatmapConfig | None = None):
        self.config = config or HeatmapConfig()
        self._params = kernel_params(self.config)
        self._names = feature_columns(self.config)
        self._state = new_state(self.config)
        self._last_time: float | None = None
        self._last_close = math.nan
        self._warned_epoch = False
        self.candles_seen = 0

    def update(self, candle: Mapping[str, Any]) -> dict[str, float]:
        """Advance the map by one closed candle and return its features.

        Args:
            candle: mapping with ``date``, ``open``, ``high``, ``low``, ``close``, ``volume`` and
                optionally the columns :func:`liquidation_features` reads.

        Raises:
            InputError: on a bad candle or one not after the previous candle; the state is then
                left unchanged, so the caller may skip the candle and continue.
        """
        if not isinstance(candle, Mapping | pd.Series):  # a Series is not a Mapping
            raise InputError(
                f"a candle must be a mapping (dict or pandas Series) with "
                f"{', '.join(REQUIRED_COLUMNS)}, got {type(candle).__name__}"
            )
        missing = [c for c in REQUIRED_COLUMNS if c not in candle]
        if missing:
            raise InputError(
                f"candle lacks {', '.join(missing)}; pass a mapping with {', '.join(REQUIRED_COLUMNS)}"
            )
        seconds, unit = _timestamp_seconds(candle["date"])
        if unit is not None and not self._warned_epoch:
            warn_data(f"candle 'date' is an epoch number; read as {unit} since the epoch (UTC)")
            self._warned_epoch = True
        time_s = np.array([seconds])
        o, h, lo, c, v = (_scalar(candle, k) for k in ("open", "high", "low", "close", "volume"))
        if not _plausible(o, h, lo, c, v):  # rare: reuse the batch checks for their messages
            validate_candles(
                pd.DataFrame(
                    {
                        "date": [pd.Timestamp(seconds, unit="s", tz="UTC")],
                        "open": [o],
                        "high": [h],
                        "low": [lo],
                        "close": [c],
                        "volume": [v],
                    }
                )
            )
        if max(o, c) > h or min(o, c) < lo:
            warn_data("open/close outside [low, high]; the range is widened to include them")
            h, lo = max(h, o, c), min(lo, o, c)
        block = np.array([[o], [h], [lo], [c], [v]])
        cols = dict(zip(("open", "high", "low", "close", "volume"), block, strict=True))
        optional = {
            name: np.array([_scalar(candle, name)]) for name in SIDE_COLUMNS if name in candle
        }
        values = self._advance(cols, time_s, optional, candle["date"])
        return dict(zip(self._names, values[0].tolist(), strict=True))

    def update_frame(self, candles: pd.DataFrame) -> pd.DataFrame:
        """Advance the map over several closed candles; return their features.

        Takes what :func:`liquidation_features` takes (epoch-number dates included).

        Returns:
            A frame indexed like ``candles`` with the feature columns only
            (:func:`~liq_indicator.columns.feature_columns` of :attr:`config`); an
            empty frame returns no rows and leaves the state as it was.
        """
        if isinstance(candles, pd.DataFrame) and "date" in candles.columns:
            candles = candles.assign(date=coerce_dates(candles["date"]))
        cols = validate_candles(candles)
        if len(candles) == 0:
            values = np.empty((0, len(self._names)))
        else:
            time_s = candle_times(candles["date"])
            optional = {
                name: candles[name].to_numpy(dtype=np.float64, na_value=np.nan)
                for name in SIDE_COLUMNS
                if name in candles.columns
            }
            values = self._advance(cols, time_s, optional, candles["date"].iloc[0])
        return pd.DataFrame(values, index=candles.index, columns=self._names, copy=False)

    def _advance(
        self,
        cols: dict[str, np.ndarray],
        time_s: np.ndarray,
        optional: dict[str, np.ndarray],
        first_date: Any,
    ) -> np.ndarray:
        if self._last_time is not None and time_s[0] <= self._last_time:
            raise InputError(
                f"candle {first_date} is not after the previous one; live updates take each "
                "closed candle once, in order"
            )
        inputs = derive_inputs(
            cols,
            time_s,
            self.config,
            oi_value=optional.get("open_interest_value"),
            oi_amount=optional.get("open_interest_amount"),
            mark_high=optional.get("mark_high"),
            mark_low=optional.get("mark_low"),
            taker_buy_volume=optional.get("taker_buy_volume"),
            taker_ratio=optional.get("taker_long_short_ratio"),
            funding_rate=optional.get("funding_rate"),
            long_share=optional.get("long_share"),
            real_long=optional.get("real_long_usd"),
            real_short=optional.get("real_short_usd"),
        )
        values = _run(self._params, self._state, inputs)
        self._last_time = float(time_s[-1])
        self._last_close = float(cols["close"][-1])
        self.candles_seen += len(time_s)
        return values

    @property
    def totals(self) -> dict[str, float]:
        """Cumulative flows since the first candle (USD): the conservation ledger."""
        return dict(zip(TOTALS, self._state.totals.tolist(), strict=True))

    @property
    def state(self) -> MapState:
        """A copy of the map's state (:class:`~liq_indicator.core.model.MapState`): what a
        restart would have to rebuild; its size is bounded by the grid, not by history.
        """
        return MapState(*(a.copy() for a in self._state))

    def snapshot(self, price_range_pct: float = 30.0) -> LiquidationMap:
        """The current map around the last close (see :class:`LiquidationMap`)."""
        if self._last_time is None:
            raise InputError("no candle has been fed yet; call update() first")
        return _make_map(
            self.config, self._state, self._last_close, self._last_time, price_range_pct
        )


# ------------------------------------------------------------------------------------------------
# pictures: the map at one time, and over time


def _check_range_pct(price_range_pct: Any) -> float:
    if not (
        isinstance(price_range_pct, int | float | np.integer | np.floating)
        and math.isfinite(price_range_pct)
        and 0 < price_range_pct <= 1000
    ):
        raise InputError(f"price_range_pct must be a number in (0, 1000], got {price_range_pct!r}")
    return float(price_range_pct)


def _check_count(name: str, value: Any) -> int:
    if not (isinstance(value, int | np.integer) and not isinstance(value, bool) and value >= 1):
        raise InputError(f"{name} must be a whole number >= 1, got {value!r}")
    return int(value)


def _make_map(
    cfg: HeatmapConfig,
    state: MapState,
    price: float,
    time_s: float | None,
    price_range_pct: float,
    exchanges: tuple[str, ...] | None = None,
) -> LiquidationMap:
    price_range_pct = _check_range_pct(price_range_pct)
    base, values = state.tier_values()
    k_price = int(price_to_bin(price, cfg.bin_bp))
    reach = int(math.ceil(math.log1p(price_range_pct / 100.0) / bin_width(cfg.bin_bp)))
    lo = max(k_price - reach, base)
    hi = min(k_price + reach + 1, base + cfg.grid_bins)
    ks = np.arange(lo, hi)
    time = pd.Timestamp(time_s, unit="s", tz="UTC") if time_s is not None else None
    return LiquidationMap(
        time=time,
        price=float(price),
        bin_prices=bin_center(ks, cfg.bin_bp),
        bin_edges=bin_lower(np.arange(lo, hi + 1), cfg.bin_bp),
        leverages=tuple(cfg.leverages) * len(exchanges or (cfg.exchange,)),
        venues=tuple(ex for ex in (exchanges or (cfg.exchange,)) for _ in cfg.leverages),
        long_by_tier=values[0, :, lo - base : hi - base].copy(),
        short_by_tier=values[1, :, lo - base : hi - base].copy(),
    )


def liquidation_map(
    candles: pd.DataFrame,
    config: HeatmapConfig | None = None,
    *,
    at: Any = None,
    price_range_pct: float = 30.0,
    open_interest: pd.DataFrame | None = None,
    mark: pd.DataFrame | None = None,
    funding: pd.DataFrame | None = None,
    venues: tuple[Venue, ...] | list[Venue] = (),
) -> LiquidationMap:
    """The liquidation map as it stands at the close of the last candle dated ``<= at``.

    Args:
        candles: candles, as for :func:`liquidation_features`.
        config: model settings.
        at: a timestamp (or anything ``pd.Timestamp`` takes); the last candle when omitted.
        price_range_pct: half-width of the returned price range around that close.
        open_interest: side frame, as for :func:`liquidation_features`.
        mark: side frame, as for :func:`liquidation_features`.
        funding: side frame, as for :func:`liquidation_features`.
        venues: other exchanges to aggregate (see :class:`Venue`); tiers then repeat per venue.

    Raises:
        InputError: when ``at`` is before the first candle.
    """
    cursor = MapCursor(
        candles, config, open_interest=open_interest, mark=mark, funding=funding, venues=venues
    )
    if at is None:
        row = len(cursor) - 1
    else:
        row = cursor.row_dated(at)
        if row < 0:
            raise InputError(f"at={at} is before the first candle ({candles['date'].iloc[0]})")
    return cursor.map_at(row, price_range_pct)


class MapCursor:
    """The liquidation map at any candle of one frame; moving forward costs only the new candles.

    ``map_at(row)`` equals ``liquidation_map(candles.iloc[:row + 1], ...)`` bit for bit: the
    kernel runs over candles ``0..row`` only, whatever the frame holds after them. Asking rows in
    increasing order (a backtest's entries, in time order) costs one pass over the frame in total;
    asking an earlier row than the last one restarts from the first candle.

    Example:
        >>> cursor = MapCursor(candles, HeatmapConfig())        # doctest: +SKIP
        >>> cursor.map_at(cursor.row_dated("2024-03-01")).long  # doctest: +SKIP
    """

    def __init__(
        self,
        candles: pd.DataFrame,
        config: HeatmapConfig | None = None,
        *,
        open_interest: pd.DataFrame | None = None,
        mark: pd.DataFrame | None = None,
        funding: pd.DataFrame | None = None,
        venues: tuple[Venue, ...] | list[Venue] = (),
    ):
        self.config = config or HeatmapConfig()
        self._inputs, self._exchanges = kernel_inputs(
            candles,
            self.config,
            open_interest=open_interest,
            mark=mark,
            funding=funding,
            venues=venues,
        )
        if self._inputs.n_candles == 0:
            raise InputError("no candles: the map needs at least one")
        self._params = kernel_params(self.config, self._exchanges)
        self._state = new_state(self.config, len(self._exchanges))
        self._row = -1  # last candle the state has consumed

    def __len__(self) -> int:
        return self._inputs.n_candles

    def row_dated(self, at: Any) -> int:
        """Index of the last candle dated ``<= at`` (-1 when all are later); naive means UTC."""
        try:
            when = candle_time(at)
        except (TypeError, ValueError, OverflowError) as exc:
            raise InputError(
                f"at={at!r} is not a date; pass a timestamp such as '2024-03-01 12:00'"
            ) from exc
        if not math.isfinite(when):
            raise InputError(
                f"at={at!r} is not a date; pass a timestamp such as '2024-03-01 12:00'"
            )
        return int(np.searchsorted(self._inputs.time_s, when, side="right")) - 1

    def map_at(self, row: int, price_range_pct: float = 30.0) -> LiquidationMap:
        """The map at the close of candle ``row`` (0-based; negative counts from the end)."""
        n = len(self)
        if not isinstance(row, int | np.integer) or isinstance(row, bool):
            raise InputError(
                f"row must be a whole candle index, got {row!r}; use row_dated(date) for a date"
            )
        row = int(row)
        if not -n <= row < n:
            raise InputError(f"row {row} is outside the frame's {n} candles")
        row %= n
        if row < self._row:
            self._state = new_state(self.config, len(self._exchanges))
            self._row = -1
        if row > self._row:
            _run(self._params, self._state, self._inputs.rows(self._row + 1, row + 1))
            self._row = row
        return _make_map(
            self.config,
            self._state,
            float(self._inputs.close[row]),
            float(self._inputs.time_s[row]),
            price_range_pct,
            self._exchanges,
        )


def liquidation_heatmap(
    candles: pd.DataFrame,
    config: HeatmapConfig | None = None,
    *,
    max_times: int = 1500,
    max_price_bins: int = 400,
    price_range: tuple[float, float] | None = None,
    reduce: str = "max",
    open_interest: pd.DataFrame | None = None,
    mark: pd.DataFrame | None = None,
    funding: pd.DataFrame | None = None,
    venues: tuple[Venue, ...] | list[Venue] = (),
) -> Heatmap:
    """Time x price matrix of pending liquidation notional, downsampled for drawing.

    Time is cut into at most ``max_times`` equal buckets of candles; price into at most
    ``max_price_bins`` bins (neighbouring grid bins summed). With ``reduce='max'`` each cell holds
    the largest value its bins reached during the bucket, so a cluster that lived briefly is not
    lost to downsampling.

    Args:
        candles: candles, as for :func:`liquidation_features`.
        config: model settings.
        max_times: time buckets at most.
        max_price_bins: price bins at most.
        price_range: (low, high) prices to cover; the candles' range padded by 10% by default.
        reduce: 'max' or 'last'.
        open_interest: side frame, as for :func:`liquidation_features`.
        mark: side frame, as for :func:`liquidation_features`.
        funding: side frame, as for :func:`liquidation_features`.
        venues: other exchanges to aggregate (see :class:`Venue`).
    """
    if reduce not in ("max", "last"):
        raise InputError(f"reduce must be 'max' or 'last', got {reduce!r}")
    max_times = _check_count("max_times", max_times)
    max_price_bins = _check_count("max_price_bins", max_price_bins)
    cfg = config or HeatmapConfig()
    inputs, exchanges = kernel_inputs(
        candles, cfg, open_interest=open_interest, mark=mark, funding=funding, venues=venues
    )
    n = inputs.n_candles
    if n == 0:
        raise InputError("no candles: the heatmap needs at least one")
    if price_range is not None and (
        not isinstance(price_range, tuple | list) or len(price_range) != 2
    ):
        raise InputError(f"price_range must be a (low, high) pair, got {price_range!r}")
    lo_p, hi_p = price_range or (
        float(candles["low"].min()) / 1.1,
        float(candles["high"].max()) * 1.1,
    )
    if not (
        isinstance(lo_p, int | float | np.integer | np.floating)
        and isinstance(hi_p, int | float | np.integer | np.floating)
        and 0 < lo_p < hi_p <= MAX_PRICE
    ):
        raise InputError(
            f"price_range must be finite prices 0 < low < high <= {MAX_PRICE:g}, got {(lo_p, hi_p)}"
        )
    k_lo = int(price_to_bin(lo_p, cfg.bin_bp))
    k_hi = int(price_to_bin(hi_p, cfg.bin_bp)) + 1
    factor = max(1, math.ceil((k_hi - k_lo) / max_price_bins))
    k_hi = k_lo + factor * math.ceil((k_hi - k_lo) / factor)
    every = max(1, math.ceil(n / max_times))
    snap_rows = np.unique(np.r_[np.arange(every - 1, n, every), n - 1]).astype(np.int64)
    request = HeatRequest(
        snap_rows, k_lo, np.zeros((2, len(snap_rows), k_hi - k_lo)), reduce == "max"
    )
    _run(kernel_params(cfg, exchanges), new_state(cfg, len(exchanges)), inputs, request)
    heat = request.grid.reshape(2, len(snap_rows), -1, factor).sum(axis=3)
    edges = bin_lower(np.arange(k_lo, k_hi + 1, factor), cfg.bin_bp)
    times = pd.DatetimeIndex(candles["date"]).take(snap_rows)
    return Heatmap(times=times, price_edges=edges, long=heat[0], short=heat[1], reduce=reduce)
