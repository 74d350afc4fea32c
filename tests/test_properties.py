"""Properties of the estimator on arbitrary valid candles (hypothesis)."""

from __future__ import annotations

import math
import warnings

import numpy as np
import pandas as pd
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from liq_indicator import (
    DataWarning,
    HeatmapConfig,
    LiquidationEstimator,
    feature_columns,
    liquidation_features,
)
from liq_indicator.brackets import liquidation_ratio
from liq_indicator.core.grid import bin_width
from liq_indicator.core.inputs import merge_causal

SETTINGS = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
ALWAYS_DEFINED = [
    c
    for c in feature_columns()
    if not any(
        k in c
        for k in ("cluster_price", "cluster_near", "cluster_far", "dist_pct", "growth", "real_")
    )
]


@st.composite
def candle_frames(draw, max_rows: int = 60):
    n = draw(st.integers(1, max_rows))
    rets = draw(st.lists(st.floats(-0.2, 0.2), min_size=n, max_size=n))
    wicks = draw(st.lists(st.tuples(st.floats(0, 0.3), st.floats(0, 0.3)), min_size=n, max_size=n))
    vols = draw(st.lists(st.one_of(st.just(0.0), st.floats(0, 1e4)), min_size=n, max_size=n))
    gaps = draw(
        st.lists(st.sampled_from([60, 300, 300, 300, 3600, 86_400 * 3]), min_size=n, max_size=n)
    )
    price = draw(st.floats(1e-3, 1e6))
    close = price * np.exp(np.cumsum(rets))
    open_ = np.r_[price, close[:-1]]
    hi_w, lo_w = np.array(wicks).T
    df = pd.DataFrame(
        {
            "date": pd.Timestamp("2024-01-01", tz="UTC")
            + pd.to_timedelta(np.cumsum(gaps), unit="s"),
            "open": open_,
            "high": np.maximum(open_, close) * (1 + hi_w),
            "low": np.minimum(open_, close) * (1 - lo_w * 0.99),
            "close": close,
            "volume": vols,
        }
    )
    if draw(st.booleans()):
        oi = np.array(
            draw(
                st.lists(st.one_of(st.just(math.nan), st.floats(1e3, 1e10)), min_size=n, max_size=n)
            )
        )
        df["open_interest_value"] = oi
    if draw(st.booleans()):  # the caller's own long share, NaN and out-of-range rows included
        df["long_share"] = draw(
            st.lists(st.one_of(st.just(math.nan), st.floats(-0.5, 1.5)), min_size=n, max_size=n)
        )
    return df


@SETTINGS
@given(candle_frames())
def test_batch_equals_incremental(df):
    batch = liquidation_features(df)[feature_columns()].to_numpy()
    est = LiquidationEstimator()
    live = np.array([list(est.update(r).values()) for r in df.to_dict("records")])
    assert np.array_equal(batch, live, equal_nan=True)


@SETTINGS
@given(candle_frames(), st.data())
def test_causal_prefix(df, data):
    k = data.draw(st.integers(1, len(df)))
    pd.testing.assert_frame_equal(
        liquidation_features(df.iloc[:k]), liquidation_features(df).iloc[:k], check_exact=True
    )


@SETTINGS
@given(candle_frames())
def test_conservation_and_finite_outputs(df):
    out = liquidation_features(df)
    values = out[ALWAYS_DEFINED].to_numpy()
    assert np.isfinite(values).all()
    assert (out[[c for c in ALWAYS_DEFINED if c.endswith("_usd")]].to_numpy() >= 0).all()
    imb = out.filter(like="imbalance").to_numpy()
    assert ((imb >= -1) & (imb <= 1)).all()
    growth = out.filter(like="growth").to_numpy()
    assert (np.isnan(growth) | ((growth >= -1) & (growth <= 1))).all()
    found = out.liq_long_cluster_usd > 0
    assert np.isfinite(
        out.loc[found, ["liq_long_cluster_price", "liq_long_cluster_far"]].to_numpy()
    ).all()
    assert (out.loc[found, "liq_long_cluster_far"] <= out.loc[found, "liq_long_cluster_near"]).all()
    pending = out.liq_pending_long_usd.iloc[-1] + out.liq_pending_short_usd.iloc[-1]
    flows = (
        out[
            [
                "liq_swept_long_usd",
                "liq_swept_short_usd",
                "liq_decayed_usd",
                "liq_closed_usd",
                "liq_dropped_usd",
            ]
        ]
        .to_numpy()
        .sum()
    )
    inflow = out.liq_inflow_usd.sum()
    assert math.isclose(inflow, flows + pending, rel_tol=1e-9, abs_tol=1e-6 * max(inflow, 1.0))


@st.composite
def bin_interior_frames(draw, max_rows: int = 40):
    """Candles whose prices all sit well inside grid bins (10 bp), away from bin edges and centres."""
    n = draw(st.integers(1, max_rows))
    delta = bin_width(HeatmapConfig().bin_bp)
    steps = np.cumsum(draw(st.lists(st.integers(-40, 40), min_size=n, max_size=n)))
    k0 = draw(st.integers(-2000, 12000))

    def price(k, frac):
        return np.exp((k0 + k + np.asarray(frac)) * delta)

    # a bin's edges (fraction 0) and its centre (0.5, where the sweep rule compares) are the
    # boundaries a rounding error could cross: stay clear of both
    fr = st.lists(st.one_of(st.floats(0.1, 0.4), st.floats(0.6, 0.9)), min_size=n, max_size=n)
    # the distance bands are measured from the close, and a flat candle's levels sit at the close times
    # each tier's liquidation ratio: keep those prices clear of bin edges too
    cfg = HeatmapConfig()
    ratios = [
        liquidation_ratio(
            lev, short, cfg.position_notional, exchange=cfg.exchange, symbol=cfg.symbol
        )
        for lev in cfg.leverages
        for short in (False, True)
    ]
    offsets = [math.log1p(s * b / 100.0) / delta % 1.0 for b in cfg.bands_pct for s in (-1, 1)]
    offsets += [math.log(r) / delta % 1.0 for r in ratios]

    def clear_of_bands(f: float) -> bool:
        return all(min((f + o) % 1.0, 1.0 - (f + o) % 1.0) > 0.02 for o in offsets)

    close_fr = st.lists(
        st.one_of(st.floats(0.1, 0.4), st.floats(0.6, 0.9)).filter(clear_of_bands),
        min_size=n,
        max_size=n,
    )
    close = price(steps, draw(close_fr))
    open_ = np.r_[price(0, 0.25), close[:-1]]
    up = price(
        steps + np.array(draw(st.lists(st.integers(0, 30), min_size=n, max_size=n))), draw(fr)
    )
    down = price(
        steps - np.array(draw(st.lists(st.integers(0, 30), min_size=n, max_size=n))), draw(fr)
    )
    return pd.DataFrame(
        {
            "date": pd.date_range("2024-01-01", periods=n, freq="5min", tz="UTC"),
            "open": open_,
            "high": np.maximum.reduce([open_, close, up]),
            "low": np.minimum.reduce([open_, close, down]),
            "close": close,
            # subnormal volumes (5e-324) carry no relative precision: a ratio of them is noise
            "volume": np.array(
                draw(
                    st.lists(st.one_of(st.just(0.0), st.floats(1e-9, 1e4)), min_size=n, max_size=n)
                )
            ),
        }
    )


@settings(
    max_examples=60,
    deadline=None,
    # keeping every price clear of bin edges and band offsets rejects many draws by design
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)
@given(bin_interior_frames(), st.integers(-3000, 3000))
def test_relative_features_invariant_to_price_scale(df, m):
    # Scaling by a whole number of bins moves every level by exactly m bins. The invariance holds
    # up to grid quantisation: a level landing within rounding of a bin edge could flip bins, so
    # the candles here keep their prices inside bins (see bin_interior_frames).
    c = math.exp(m * bin_width(HeatmapConfig().bin_bp))
    scaled = df.copy()
    scaled[["open", "high", "low", "close"]] *= c
    a, b = liquidation_features(df), liquidation_features(scaled)
    relative = [
        n for n in feature_columns() if "imbalance" in n or "dist_pct" in n or "growth" in n
    ]
    np.testing.assert_allclose(b[relative].to_numpy(), a[relative].to_numpy(), rtol=1e-6, atol=1e-9)
    usd = [n for n in feature_columns() if n.endswith("_usd") and "real_" not in n]
    scale = max(float(a[usd].to_numpy().max()), 1.0)
    np.testing.assert_allclose(
        b[usd].to_numpy(), a[usd].to_numpy() * c, rtol=1e-6, atol=1e-9 * scale * c
    )
    np.testing.assert_allclose(
        b.liq_long_cluster_far.to_numpy(), a.liq_long_cluster_far.to_numpy() * c, rtol=1e-6
    )


# ------------------------------------------------------------------------------------------------
# side frames: unsorted, in other time zones, with epoch dates, and with 0, negative, inf or
# overflowing values. Whatever they hold, the map stays finite, uses no row before it is known,
# does not depend on their order, and the live path (columns merged onto candles) equals batch.

SIDE_VALUES = st.one_of(
    st.floats(1e3, 1e10),
    st.just(0.0),
    st.floats(-1e9, -1.0),
    st.just(math.inf),
    st.just(-math.inf),
    st.just(math.nan),
    st.just(1e300),
)


@st.composite
def side_frames(draw, candles: pd.DataFrame, column: str, values=SIDE_VALUES):
    """A side series over the candles' span: its own spacing, shuffled or not, in any zone or
    as epoch milliseconds."""
    start, end = candles["date"].iloc[0], candles["date"].iloc[-1]
    step = pd.Timedelta(seconds=draw(st.sampled_from([300, 3600, 8 * 3600])))
    step = max(step, (end - start) / 60)  # at most ~60 rows: candle gaps may span months
    offset = pd.Timedelta(seconds=draw(st.integers(-3 * 3600, 3600)))
    dates = pd.date_range(start + offset, max(end, start + offset), freq=step)
    frame = pd.DataFrame(
        {"date": dates, column: draw(st.lists(values, min_size=len(dates), max_size=len(dates)))}
    )
    if draw(st.booleans()):
        frame = frame.iloc[draw(st.permutations(range(len(frame))))].reset_index(drop=True)
    zone = draw(st.sampled_from(["UTC", "Asia/Tokyo", "America/New_York", "naive", "epoch-ms"]))
    if zone == "naive":
        frame["date"] = frame["date"].dt.tz_localize(None)
    elif zone == "epoch-ms":
        frame["date"] = (frame["date"] - pd.Timestamp(0, tz="UTC")) // pd.Timedelta("1ms")
    else:
        frame["date"] = frame["date"].dt.tz_convert(zone)
    return frame


@st.composite
def candles_with_sides(draw):
    df = draw(candle_frames(max_rows=50))
    if "open_interest_value" in df.columns and draw(st.booleans()):
        df["open_interest_value"] = draw(st.lists(SIDE_VALUES, min_size=len(df), max_size=len(df)))
    if draw(
        st.booleans()
    ):  # a market with no trades at all (inf or overflowing volume is rejected)
        df["volume"] = 0.0
    oi = draw(
        side_frames(df, draw(st.sampled_from(["open_interest_value", "open_interest_amount"])))
    )
    funding = draw(
        side_frames(
            df,
            "funding_rate",
            st.one_of(st.floats(-0.01, 0.01), st.just(math.inf), st.just(math.nan)),
        )
    )
    return (
        df.drop(columns=[c for c in df.columns if c.startswith("open_interest")])
        if draw(st.booleans())
        else df,
        oi,
        funding,
    )


def _quiet(fn, *args, **kwargs):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DataWarning)
        return fn(*args, **kwargs)


SIDE_CFG = HeatmapConfig(funding_skew=0.05)


@SETTINGS
@given(candles_with_sides())
def test_side_frames_keep_the_map_finite_and_order_free(case):
    df, oi, funding = case
    out = _quiet(liquidation_features, df, SIDE_CFG, open_interest=oi, funding=funding)
    assert np.isfinite(out[ALWAYS_DEFINED].to_numpy()).all()
    reordered = _quiet(
        liquidation_features, df, SIDE_CFG, open_interest=oi.iloc[::-1], funding=funding.iloc[::-1]
    )
    pd.testing.assert_frame_equal(
        out[feature_columns()], reordered[feature_columns()], check_exact=True
    )


def _utc_dates(frame: pd.DataFrame) -> pd.DatetimeIndex:
    """The UTC dates of a side frame's rows, in the frame's own order."""
    dates = frame["date"]
    if pd.api.types.is_numeric_dtype(dates):
        return pd.DatetimeIndex(pd.to_datetime(dates, unit="ms", utc=True))
    index = pd.DatetimeIndex(dates)
    return index.tz_localize("UTC") if index.tz is None else index.tz_convert("UTC")


@SETTINGS
@given(candles_with_sides(), st.data())
def test_side_rows_not_yet_known_change_nothing(case, data):
    df, oi, funding = case
    k = data.draw(st.integers(0, len(df) - 1))
    # a side row dated T is known from T + its own period: one dated at or after candle k's close
    # is unknown at rows <= k whatever the periods, so changing it may move nothing there
    step = df["date"].diff().mode().iloc[0] if len(df) > 1 else pd.Timedelta(0)
    close_k = df["date"].iloc[k] + step
    base = _quiet(liquidation_features, df, SIDE_CFG, open_interest=oi, funding=funding)
    col = oi.columns[1]

    def unknown(frame: pd.DataFrame) -> np.ndarray:
        # one candle has no timeframe: the merge then takes the side frame's as equal (an exact
        # join on date), so a row dated at the candle is known at its close; only later ones aren't
        dates = _utc_dates(frame)
        return np.asarray(dates > close_k if len(df) == 1 else dates >= close_k)

    oi2 = oi.assign(**{col: np.where(unknown(oi), oi[col] * 7 + 1e6, oi[col])})
    funding2 = funding.assign(funding_rate=np.where(unknown(funding), 0.009, funding.funding_rate))
    moved = _quiet(liquidation_features, df, SIDE_CFG, open_interest=oi2, funding=funding2)
    pd.testing.assert_frame_equal(
        base[feature_columns()].iloc[: k + 1],
        moved[feature_columns()].iloc[: k + 1],
        check_exact=True,
    )


@SETTINGS
@given(candles_with_sides())
def test_live_with_merged_side_columns_equals_batch(case):
    df, oi, funding = case
    cfg = SIDE_CFG
    batch = _quiet(liquidation_features, df, cfg, open_interest=oi, funding=funding)[
        feature_columns()
    ]
    col = oi.columns[1]
    frame = _quiet(merge_causal, df, oi, {col: col}, max_age_periods=cfg.oi_max_age_periods)
    frame = _quiet(merge_causal, frame, funding, {"funding_rate": "funding_rate"})
    est = LiquidationEstimator(cfg)
    live = np.array([list(_quiet(est.update, r).values()) for r in frame.to_dict("records")])
    assert np.array_equal(batch.to_numpy(), live, equal_nan=True)
