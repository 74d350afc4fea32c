"""The bad-input matrix: every row is an input and its outcome, a clear InputError of the package's
own type or a documented recovery (listed in the README under "Bad input")."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest
from conftest import make_candles

from liq_indicator import (
    DataWarning,
    InputError,
    LiquidationEstimator,
    feature_columns,
    liquidation_features,
)

BASE = make_candles(300, seed=30, oi=True)
CLEAN = liquidation_features(BASE)
ALWAYS_DEFINED = [c for c in feature_columns()
                  if not any(k in c for k in ("cluster_price", "cluster_near", "cluster_far", "dist_pct", "growth"))]


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
    ("duplicate dates", lambda d: pd.concat([d.iloc[:20], d.iloc[19:]]).reset_index(drop=True), "drop_duplicates"),
    ("unsorted dates", lambda d: d.iloc[[*range(0, 50), 60, *range(50, 60), *range(61, 300)]].reset_index(drop=True), "sort_values"),
    ("missing column", lambda d: d.drop(columns=["high"]), "lack column"),
    ("text dates", lambda d: d.assign(date=d.date.dt.strftime("%d/%m %H:%M")), "must hold datetimes"),
    ("string prices", lambda d: d.assign(close=d.close.map(lambda x: f"{x:.1f} USDT")), "must be numeric"),
    ("not a frame", lambda d: d.to_dict("list"), "expected a pandas DataFrame"),
]


@pytest.mark.parametrize("name,mutate,match", ERRORS, ids=[e[0] for e in ERRORS])
def test_unusable_input_raises_input_error(name, mutate, match):
    with pytest.raises(InputError, match=match):
        liquidation_features(mutate(BASE))


def _same_as_clean(out):
    pd.testing.assert_frame_equal(out[feature_columns()], CLEAN[feature_columns()], check_exact=True)


RECOVERIES = [
    # (name, mutate, warns, check)
    ("epoch seconds", lambda d: d.assign(date=d.date.astype("int64") // 10**9 if d.date.dt.unit == "ns" else d.date.astype("int64") // 10**6),
     True, _same_as_clean),
    ("epoch milliseconds", lambda d: d.assign(date=(d.date - pd.Timestamp(0, tz="UTC")) // pd.Timedelta("1ms")),
     True, _same_as_clean),
    ("epoch nanoseconds", lambda d: d.assign(date=(d.date - pd.Timestamp(0, tz="UTC")) // pd.Timedelta("1ns")),
     True, _same_as_clean),
    ("timezone-naive dates (taken as UTC)", lambda d: d.assign(date=d.date.dt.tz_localize(None)), True, _same_as_clean),
    ("extra columns pass through", lambda d: d.assign(rsi=50.0, note="x"), False,
     lambda out: (_same_as_clean(out), out.rsi.eq(50.0).all() and out.note.eq("x").all())),
    ("integer dtypes", lambda d: d.assign(**{c: d[c].round().astype("int64") for c in ("open", "high", "low", "close", "volume")}),
     False, finite),
    ("open/close outside the range (range widened)", lambda d: at(d, 20, "open", d.high[20] * 1.01), True, finite),
    ("gaps: Freqtrade's flat zero-volume candles", lambda d: at(at(d, range(100, 140), "volume", 0.0), range(100, 140), ["open", "high", "low"], d.close[99]).assign(
        close=lambda x: x.close.where(~x.index.isin(range(100, 140)), d.close[99])), False, finite),
    ("gaps: missing rows (decay follows the clock)", lambda d: d.drop(index=range(100, 160)).reset_index(drop=True), False, finite),
    ("a single candle", lambda d: d.iloc[:1], False, lambda out: len(out) == 1 and finite(out)),
    ("a 99% wick sweeps every long level", lambda d: at(d, 200, "low", d.close[200] * 0.01), False,
     # everything pending before (less 5 minutes of decay) is swept; that candle's own new longs remain
     lambda out: 0.99 * out.liq_pending_long_usd[199] <= out.liq_swept_long_usd[200] <= out.liq_pending_long_usd[199]),
    ("OI jumps to zero and back (zeros treated as missing)", lambda d: at(d, range(150, 153), "open_interest_value", 0.0), True,
     lambda out: out.liq_oi_mode[150:154].tolist() == [0.0, 0.0, 0.0, 0.0] and out.liq_closed_usd[150] == 0.0),
    ("OI in coins labelled as USD (multiplied by close)", lambda d: d.assign(open_interest_value=d.open_interest_value / d.close), True,
     lambda out: np.allclose(out.liq_inflow_usd[1:], CLEAN.liq_inflow_usd[1:], rtol=1e-9)),
    ("OI missing before its first sample", lambda d: at(d, range(0, 100), "open_interest_value", np.nan), False,
     lambda out: out.liq_oi_mode[:101].eq(0).all() and out.liq_oi_mode[101:].eq(1).all()),
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
