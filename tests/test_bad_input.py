"""The bad-input matrix: every row is an input and its outcome, a clear InputError of the package's
own type or a documented recovery (listed in the README under "Bad input")."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest
from conftest import make_candles

from liq_indicator import (
    ConfigError,
    DataWarning,
    HeatmapConfig,
    InputError,
    LiquidationEstimator,
    MapCursor,
    feature_columns,
    liquidation_features,
    liquidation_heatmap,
    liquidation_map,
)

BASE = make_candles(300, seed=30, oi=True)
CLEAN = liquidation_features(BASE)
ALWAYS_DEFINED = [
    c
    for c in feature_columns()
    if not any(
        k in c
        for k in ("cluster_price", "cluster_near", "cluster_far", "dist_pct", "growth", "real_")
    )
]


def at(df, rows, col, value):
    df = df.copy()
    df.loc[rows, col] = value
    return df


def finite(out):
    return np.isfinite(out[ALWAYS_DEFINED].to_numpy()).all()


ERRORS = [
    ("nan price", lambda d: at(d, 10, "close", np.nan), "'close' is NaN/inf at row 10"),
    ("zero price", lambda d: at(d, 11, "low", 0.0), "'low' is <= 0 at row 11"),
    ("negative price", lambda d: at(d, 12, "open", -5.0), "'open' is <= 0 at row 12"),
    ("high < low", lambda d: at(d, 13, "high", d.low[13] * 0.9), "high < low at row 13"),
    ("negative volume", lambda d: at(d, 14, "volume", -1.0), "'volume' is negative at row 14"),
    ("nan volume", lambda d: at(d, 15, "volume", np.nan), "fillna"),
    (
        "duplicate dates",
        lambda d: pd.concat([d.iloc[:20], d.iloc[19:]]).reset_index(drop=True),
        "drop_duplicates",
    ),
    (
        "unsorted dates",
        lambda d: d.iloc[[*range(0, 50), 60, *range(50, 60), *range(61, 300)]].reset_index(
            drop=True
        ),
        "sort_values",
    ),
    ("missing column", lambda d: d.drop(columns=["high"]), "lack column"),
    (
        "text dates",
        lambda d: d.assign(date=d.date.dt.strftime("%d/%m %H:%M")),
        "must hold datetimes",
    ),
    (
        "string prices",
        lambda d: d.assign(close=d.close.map(lambda x: f"{x:.1f} USDT")),
        "must be numeric",
    ),
    ("not a frame", lambda d: d.to_dict("list"), "expected a pandas DataFrame"),
    ("None as frame", lambda d: None, "expected a pandas DataFrame"),
    (
        "inf volume",
        lambda d: at(d, 16, "volume", np.inf),
        "'volume' is inf or implausibly large .* at row 16",
    ),
    (
        "overflowing volume",
        lambda d: at(d, 17, "volume", 1e300),
        "'volume' is inf or implausibly large .* at row 17",
    ),
    (
        "overflowing price",
        lambda d: at(at(d, 18, "high", 1e300), 18, "close", 1e299),
        "'high' is above 1e\\+12 at row 18",
    ),
    ("duplicate columns", lambda d: pd.concat([d, d[["close"]]], axis=1), "duplicate column"),
]


@pytest.mark.parametrize("name,mutate,match", ERRORS, ids=[e[0] for e in ERRORS])
def test_unusable_input_raises_input_error(name, mutate, match):
    with pytest.raises(InputError, match=match):
        liquidation_features(mutate(BASE))


def no_oi(d):
    return d.drop(columns="open_interest_value")


OI = BASE[["date", "open_interest_value"]]
# side frames that cannot be merged without guessing: InputError naming the frame and the fix
SIDE_ERRORS = [
    (
        "OI frame is a dict",
        dict(open_interest=OI.to_dict("list")),
        "open_interest must be a pandas DataFrame",
    ),
    (
        "OI frame with a NaT date",
        dict(open_interest=at(OI, 5, "date", pd.NaT)),
        "open_interest column 'date' is missing \\(NaT\\) at row 5",
    ),
    (
        "OI frame with text dates",
        dict(open_interest=OI.assign(date=OI.date.dt.strftime("%d/%m"))),
        "open_interest column 'date' must hold datetimes",
    ),
    (
        "OI frame with duplicate columns",
        dict(open_interest=pd.concat([OI, OI[["open_interest_value"]]], axis=1)),
        "open_interest have duplicate column",
    ),
    (
        "OI frame with text values",
        dict(open_interest=OI.assign(open_interest_value="1e9 USD")),
        "'open_interest_value' must be numeric",
    ),
    ("funding frame without a rate", dict(funding=OI), "funding frame needs 'funding_rate'"),
    ("mark frame is None-like list", dict(mark=[1, 2]), "mark must be a pandas DataFrame"),
]


@pytest.mark.parametrize("name,side,match", SIDE_ERRORS, ids=[e[0] for e in SIDE_ERRORS])
def test_unusable_side_frames_raise_input_error(name, side, match):
    with pytest.raises(InputError, match=match):
        liquidation_features(no_oi(BASE), **side)


def _same_as_clean(out):
    pd.testing.assert_frame_equal(
        out[feature_columns()], CLEAN[feature_columns()], check_exact=True
    )


RECOVERIES = [
    # (name, mutate, warns, check)
    (
        "epoch seconds",
        lambda d: d.assign(
            date=d.date.astype("int64") // 10**9
            if d.date.dt.unit == "ns"
            else d.date.astype("int64") // 10**6
        ),
        True,
        _same_as_clean,
    ),
    (
        "epoch milliseconds",
        lambda d: d.assign(date=(d.date - pd.Timestamp(0, tz="UTC")) // pd.Timedelta("1ms")),
        True,
        _same_as_clean,
    ),
    (
        "epoch nanoseconds",
        lambda d: d.assign(date=(d.date - pd.Timestamp(0, tz="UTC")) // pd.Timedelta("1ns")),
        True,
        _same_as_clean,
    ),
    (
        "timezone-naive dates (taken as UTC)",
        lambda d: d.assign(date=d.date.dt.tz_localize(None)),
        True,
        _same_as_clean,
    ),
    (
        "extra columns pass through",
        lambda d: d.assign(rsi=50.0, note="x"),
        False,
        lambda out: (_same_as_clean(out), out.rsi.eq(50.0).all() and out.note.eq("x").all()),
    ),
    (
        "integer dtypes",
        lambda d: d.assign(
            **{c: d[c].round().astype("int64") for c in ("open", "high", "low", "close", "volume")}
        ),
        False,
        finite,
    ),
    (
        "open/close outside the range (range widened)",
        lambda d: at(d, 20, "open", d.high[20] * 1.01),
        True,
        finite,
    ),
    # volume mode: a zero-volume candle opens nothing, and flat at the last close it sweeps nothing
    (
        "gaps: Freqtrade's flat zero-volume candles",
        lambda d: no_oi(
            at(
                at(d, range(100, 140), "volume", 0.0),
                range(100, 140),
                ["open", "high", "low"],
                d.close[99],
            ).assign(close=lambda x: x.close.where(~x.index.isin(range(100, 140)), d.close[99]))
        ),
        False,
        lambda out: (
            finite(out)
            and out.liq_inflow_usd[100:140].eq(0).all()
            and out.liq_inflow_usd[99] > 0
            and (out.liq_swept_long_usd[101:140] + out.liq_swept_short_usd[101:140]).eq(0).all()
            and out.liq_pending_long_usd[100:140].is_monotonic_decreasing
        ),
    ),
    (
        "gaps: missing rows (decay follows the clock)",
        lambda d: d.drop(index=range(100, 160)).reset_index(drop=True),
        False,
        finite,
    ),
    ("a single candle", lambda d: d.iloc[:1], False, lambda out: len(out) == 1 and finite(out)),
    (
        "a 99% wick sweeps every long level",
        lambda d: at(d, 200, "low", d.close[200] * 0.01),
        False,
        # everything pending before (less 5 minutes of decay) is swept, and part of that candle's
        # own new longs (those opened before the wick); the rest of them remain
        lambda out: (
            0.99 * out.liq_pending_long_usd[199]
            <= out.liq_swept_long_usd[200]
            <= out.liq_pending_long_usd[199] + out.liq_inflow_usd[200]
            and out.liq_pending_long_usd[200] > 0
        ),
    ),
    (
        "OI jumps to zero and back (zeros treated as missing)",
        lambda d: at(d, range(150, 153), "open_interest_value", 0.0),
        True,
        lambda out: (
            out.liq_oi_mode[150:154].tolist() == [0.0, 0.0, 0.0, 0.0]
            and out.liq_closed_usd[150] == 0.0
        ),
    ),
    (
        "OI in coins labelled as USD (multiplied by close)",
        lambda d: d.assign(open_interest_value=d.open_interest_value / d.close),
        True,
        lambda out: np.allclose(out.liq_inflow_usd[1:], CLEAN.liq_inflow_usd[1:], rtol=1e-9),
    ),
    (
        "OI missing before its first sample",
        lambda d: at(d, range(0, 100), "open_interest_value", np.nan),
        False,
        lambda out: out.liq_oi_mode[:101].eq(0).all() and out.liq_oi_mode[101:].eq(1).all(),
    ),
    # a non-finite or overflowing OI is a feed error: missing there (volume rule), never NaN later
    (
        "OI inf (treated as missing)",
        lambda d: at(d, 150, "open_interest_value", np.inf),
        True,
        lambda out: out.liq_oi_mode[150:152].tolist() == [0.0, 0.0] and finite(out),
    ),
    (
        "OI overflowing (treated as missing)",
        lambda d: at(d, 150, "open_interest_value", 1e300),
        True,
        lambda out: out.liq_oi_mode[150:152].tolist() == [0.0, 0.0] and finite(out),
    ),
    (
        "OI amount x close overflowing (treated as missing)",
        lambda d: at(
            no_oi(d).assign(open_interest_amount=d.open_interest_value / d.close),
            150,
            "open_interest_amount",
            1e306,
        ),
        True,
        lambda out: out.liq_oi_mode[150:152].tolist() == [0.0, 0.0] and finite(out),
    ),
    (
        "Bybit layout: amount only, value all NaN",
        lambda d: d.assign(
            open_interest_amount=d.open_interest_value / d.close, open_interest_value=np.nan
        ),
        False,
        lambda out: (
            np.allclose(out.liq_inflow_usd, CLEAN.liq_inflow_usd, rtol=1e-9)
            and out.liq_oi_mode[1:].eq(1).all()
        ),
    ),
]


@pytest.mark.parametrize("name,mutate,warns,check", RECOVERIES, ids=[r[0] for r in RECOVERIES])
def test_recoverable_input_is_repaired_as_documented(name, mutate, warns, check):
    df = mutate(BASE)
    before = df.copy()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        out = liquidation_features(df)
    data_warnings = [w for w in caught if issubclass(w.category, DataWarning)]
    assert bool(data_warnings) == warns, [str(w.message) for w in data_warnings]
    result = check(out)  # a check returns a truth value, or None when it asserts itself
    verdict = result[-1] if isinstance(result, tuple) else result
    assert verdict is None or bool(verdict), name
    pd.testing.assert_frame_equal(df, before)  # the caller's frame is never modified


def test_live_update_rejects_a_bad_candle_and_carries_on():
    est = LiquidationEstimator()
    rows = BASE.to_dict("records")
    for r in rows[:50]:
        est.update(r)
    bad = dict(rows[50], high=rows[50]["low"] * 0.5)
    with pytest.raises(InputError, match="high < low"):
        est.update(bad)
    rest = [list(est.update(r).values()) for r in rows[50:]]
    assert np.array_equal(np.array(rest), CLEAN[feature_columns()].to_numpy()[50:], equal_nan=True)


# ------------------------------------------------------------------------------------------------
# side frames (open interest, funding, mark) in any order, zone or date unit: merged as if sorted,
# in UTC, so a later row is never used early


def _shuffled(frame: pd.DataFrame) -> pd.DataFrame:
    return frame.sample(frac=1.0, random_state=7).reset_index(drop=True)


FUNDING = pd.DataFrame(
    {
        "date": pd.date_range("2023-12-31 16:00", periods=5, freq="8h", tz="UTC"),
        "funding_rate": [1e-4, 3e-4, -2e-4, 5e-4, 1e-4],
    }
)
MARK = BASE[["date", "open", "high", "low", "close"]].assign(
    high=lambda m: m.high * 1.001, low=lambda m: m.low * 0.999
)
SIDE = dict(open_interest=OI, funding=FUNDING, mark=MARK)
SKEWED = HeatmapConfig(funding_skew=0.05)
SIDE_CLEAN = liquidation_features(no_oi(BASE), SKEWED, **SIDE)

SIDE_RECOVERIES = [
    # (name, side frames, DataWarning expected)
    ("unsorted open interest", dict(SIDE, open_interest=_shuffled(OI)), True),
    ("unsorted funding", dict(SIDE, funding=_shuffled(FUNDING)), True),
    ("unsorted mark", dict(SIDE, mark=_shuffled(MARK)), True),
    (
        "open interest in another time zone",
        dict(SIDE, open_interest=OI.assign(date=OI.date.dt.tz_convert("Asia/Tokyo"))),
        False,
    ),
    (
        "funding in another time zone",
        dict(SIDE, funding=FUNDING.assign(date=FUNDING.date.dt.tz_convert("America/New_York"))),
        False,
    ),
    (
        "timezone-naive open interest (taken as UTC)",
        dict(SIDE, open_interest=OI.assign(date=OI.date.dt.tz_localize(None))),
        True,
    ),
    (
        "epoch-millisecond open interest dates",
        dict(
            SIDE,
            open_interest=OI.assign(
                date=(OI.date - pd.Timestamp(0, tz="UTC")) // pd.Timedelta("1ms")
            ),
        ),
        True,
    ),
    (
        "duplicate open-interest dates (last kept)",
        dict(SIDE, open_interest=pd.concat([OI.iloc[:40].assign(open_interest_value=1.0), OI])),
        True,
    ),
]


@pytest.mark.parametrize("name,side,warns", SIDE_RECOVERIES, ids=[r[0] for r in SIDE_RECOVERIES])
def test_side_frames_merge_as_if_sorted_and_in_utc(name, side, warns):
    copies = {k: v.copy() for k, v in side.items()}
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        out = liquidation_features(no_oi(BASE), SKEWED, **side)
    assert any(issubclass(w.category, DataWarning) for w in caught) == warns, [
        str(w.message) for w in caught
    ]
    _same(out, SIDE_CLEAN)
    for k, v in side.items():
        pd.testing.assert_frame_equal(v, copies[k])  # never modified


def _same(out, ref):
    pd.testing.assert_frame_equal(out[feature_columns()], ref[feature_columns()], check_exact=True)


def test_unsorted_open_interest_is_not_used_before_it_is_known():
    # OI jumps at row 102: candle 100 must not see it, whatever the order of the OI frame
    oi = OI.copy()
    oi.loc[102:, "open_interest_value"] *= 3
    shuffled = _shuffled(oi)
    with pytest.warns(DataWarning, match="not sorted"):
        out = liquidation_features(no_oi(BASE), open_interest=shuffled)
    before = liquidation_features(no_oi(BASE).iloc[:102], open_interest=oi.iloc[:102])
    _same(out.iloc[:102], before)
    assert (
        out.liq_inflow_usd[102] > 10 * out.liq_inflow_usd[101]
    )  # the jump lands at its own candle


def test_stale_check_holds_for_an_unsorted_open_interest_frame():
    oi = OI.iloc[:100]  # the feed stops at row 99: rows past 100 + 2 periods use the volume rule
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DataWarning)
        out = liquidation_features(no_oi(BASE), open_interest=_shuffled(oi))
    assert out.liq_oi_mode[1:100].eq(1).all() and out.liq_oi_mode[102:].eq(0).all()


# ------------------------------------------------------------------------------------------------
# live == batch for every repaired input, and the live entry points' own errors

LIVE_SAME = [
    (
        "epoch-second dates",
        lambda d: d.assign(date=(d.date - pd.Timestamp(0, tz="UTC")) // pd.Timedelta("1s")),
    ),
    (
        "epoch-millisecond dates",
        lambda d: d.assign(date=(d.date - pd.Timestamp(0, tz="UTC")) // pd.Timedelta("1ms")),
    ),
    (
        "OI in coins labelled as USD",
        lambda d: d.assign(open_interest_value=d.open_interest_value / d.close),
    ),
    (
        "OI inf and zero",
        lambda d: at(at(d, 120, "open_interest_value", np.inf), 121, "open_interest_value", 0.0),
    ),
    (
        "Bybit layout",
        lambda d: d.assign(
            open_interest_amount=d.open_interest_value / d.close, open_interest_value=np.nan
        ),
    ),
]


@pytest.mark.parametrize("name,mutate", LIVE_SAME, ids=[r[0] for r in LIVE_SAME])
def test_live_update_and_update_frame_equal_batch(name, mutate):
    df = mutate(BASE)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DataWarning)
        batch = liquidation_features(df)[feature_columns()].to_numpy()
        est = LiquidationEstimator()
        live = np.array([list(est.update(r).values()) for r in df.to_dict("records")])
        framed = LiquidationEstimator()
        halves = np.vstack([framed.update_frame(df.iloc[:150]), framed.update_frame(df.iloc[150:])])
    assert np.array_equal(batch, live, equal_nan=True)
    assert np.array_equal(batch, halves, equal_nan=True)


def test_live_epoch_dates_warn_once():
    est = LiquidationEstimator()
    rows = BASE.assign(date=(BASE.date - pd.Timestamp(0, tz="UTC")) // pd.Timedelta("1ms")).to_dict(
        "records"
    )
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        for r in rows[:20]:
            est.update(r)
    assert [str(w.message) for w in caught if issubclass(w.category, DataWarning)] == [
        "candle 'date' is an epoch number; read as ms since the epoch (UTC)"
    ]


LIVE_ERRORS = [
    ("update(None)", lambda e: e.update(None), "a candle must be a mapping"),
    ("update(a list)", lambda e: e.update([1, 2, 3]), "a candle must be a mapping"),
    (
        "update with a text date",
        lambda e: e.update(dict(BASE.iloc[0], date="garbage")),
        "must be a datetime",
    ),
    (
        "update with an epoch out of range",
        lambda e: e.update(dict(BASE.iloc[0], date=12345)),
        "no epoch unit",
    ),
    (
        "update with inf volume",
        lambda e: e.update(dict(BASE.iloc[0], volume=np.inf)),
        "'volume' is inf",
    ),
    ("update_frame(None)", lambda e: e.update_frame(None), "expected a pandas DataFrame"),
]


@pytest.mark.parametrize("name,call,match", LIVE_ERRORS, ids=[r[0] for r in LIVE_ERRORS])
def test_live_entry_points_raise_input_error_and_keep_state(name, call, match):
    est = LiquidationEstimator()
    for r in BASE.iloc[:10].to_dict("records"):
        est.update(r)
    before = est.snapshot()
    with pytest.raises(InputError, match=match):
        call(est)
    after = est.snapshot()
    assert est.candles_seen == 10 and np.array_equal(before.long_by_tier, after.long_by_tier)


def test_update_frame_of_no_candles_returns_no_rows_and_keeps_state():
    est = LiquidationEstimator()
    est.update_frame(BASE.iloc[:10])
    rows = est.update_frame(BASE.iloc[:0])
    assert rows.shape == (0, len(feature_columns())) and est.candles_seen == 10
    nxt = est.update_frame(BASE.iloc[10:20])
    assert np.array_equal(nxt, CLEAN[feature_columns()].to_numpy()[10:20], equal_nan=True)


# ------------------------------------------------------------------------------------------------
# the picture and map entry points, and the config

API_ERRORS = [
    (
        "heatmap max_times=0",
        lambda: liquidation_heatmap(BASE, max_times=0),
        "max_times must be a whole number >= 1",
    ),
    (
        "heatmap max_price_bins=-1",
        lambda: liquidation_heatmap(BASE, max_price_bins=-1),
        "max_price_bins must be",
    ),
    (
        "heatmap price_range to inf",
        lambda: liquidation_heatmap(BASE, price_range=(1, np.inf)),
        "price_range must be finite",
    ),
    (
        "heatmap price_range nan",
        lambda: liquidation_heatmap(BASE, price_range=(np.nan, 5.0)),
        "price_range must be finite",
    ),
    (
        "heatmap price_range scalar",
        lambda: liquidation_heatmap(BASE, price_range=5.0),
        "price_range must be a \\(low, high\\) pair",
    ),
    (
        "map price_range_pct nan",
        lambda: liquidation_map(BASE, price_range_pct=np.nan),
        "price_range_pct must be",
    ),
    (
        "map price_range_pct 0",
        lambda: liquidation_map(BASE, price_range_pct=0),
        "price_range_pct must be",
    ),
    ("map at garbage", lambda: liquidation_map(BASE, at="garbage"), "at='garbage' is not a date"),
    ("cursor map_at(5.5)", lambda: MapCursor(BASE).map_at(5.5), "row must be a whole candle index"),
    (
        "cursor map_at(True)",
        lambda: MapCursor(BASE).map_at(True),
        "row must be a whole candle index",
    ),
    ("snapshot price_range_pct inf", lambda: _fed().snapshot(np.inf), "price_range_pct must be"),
]


def _fed() -> LiquidationEstimator:
    est = LiquidationEstimator()
    est.update_frame(BASE.iloc[:5])
    return est


@pytest.mark.parametrize("name,call,match", API_ERRORS, ids=[r[0] for r in API_ERRORS])
def test_picture_and_map_arguments_raise_input_error(name, call, match):
    with pytest.raises(InputError, match=match):
        call()


CONFIG_ERRORS = [
    (
        "NaN weight",
        dict(weights=(np.nan, 0.25, 0.30, 0.20, 0.15)),
        "weights must be a tuple of finite numbers",
    ),
    (
        "inf half-life",
        dict(half_life_hours=(336.0, 168.0, 72.0, 36.0, np.inf)),
        "half_life_hours must be a tuple of finite",
    ),
    ("NaN bin width", dict(bin_bp=np.nan), "bin_bp must be a finite number"),
    ("text volume share", dict(volume_share="0.1"), "volume_share must be a finite number"),
    ("NaN tilt", dict(direction_tilt=np.nan), "direction_tilt must be a finite number"),
    ("int for a switch", dict(use_taker_split=1), "use_taker_split must be True or False"),
    ("number for the exchange", dict(exchange=1), "exchange must be a string"),
]


@pytest.mark.parametrize("name,changes,match", CONFIG_ERRORS, ids=[r[0] for r in CONFIG_ERRORS])
def test_non_finite_or_mistyped_settings_raise_config_error(name, changes, match):
    with pytest.raises(ConfigError, match=match):
        HeatmapConfig(**changes)
