"""Names, order and documentation of every ``liq_`` feature column, in one place.

The column order is defined once, here: :func:`column_layout` gives the kernel its offsets from the
same groups :func:`feature_docs` names, in the same order (flows, then 3 per band, a cluster block
per side, growth, then per-venue cluster shares). ``docs/FEATURES.md`` is generated from
:func:`feature_docs` (``liq-indicator features --doc``), and a test keeps the two in step.
"""

from __future__ import annotations

from typing import NamedTuple

from liq_indicator.config import HeatmapConfig

__all__ = [
    "ColumnDoc",
    "ColumnLayout",
    "column_layout",
    "feature_columns",
    "feature_docs",
    "band_label",
]

PREFIX = "liq_"

# the column groups, in output order; the kernel writes them at the offsets column_layout derives
FLOW_COLUMNS = (
    "swept_long_usd",
    "swept_short_usd",
    "pending_long_usd",
    "pending_short_usd",
    "inflow_usd",
    "decayed_usd",
    "closed_usd",
    "dropped_usd",
    "oi_mode",
)
(
    C_SWEPT_LONG,
    C_SWEPT_SHORT,
    C_PENDING_LONG,
    C_PENDING_SHORT,
    C_INFLOW,
    C_DECAYED,
    C_CLOSED,
    C_DROPPED,
    C_OI_MODE,
) = range(len(FLOW_COLUMNS))
BAND_COLUMNS = ("long_{band}pct_usd", "short_{band}pct_usd", "imbalance_{band}pct")
CLUSTER_COLUMNS = (
    "cluster_price",
    "cluster_near",
    "cluster_far",
    "cluster_usd",
    "cluster_dist_pct",
)
(K_PRICE, K_NEAR, K_FAR, K_USD, K_DIST) = range(len(CLUSTER_COLUMNS))
REAL_COLUMNS = ("real_long_usd", "real_short_usd", "real_log_corr", "real_usd_ratio")
"""Recorded liquidations beside the map's (last in the matrix): NaN where none were recorded."""
(R_LONG, R_SHORT, R_CORR, R_RATIO) = range(len(REAL_COLUMNS))


class ColumnLayout(NamedTuple):
    """Offsets of each column group in the feature matrix (the kernel writes by these)."""

    bands: int
    """first band column; band ``b`` holds long, short, imbalance at ``bands + 3 * b``"""
    long_cluster: int
    """first of the long cluster's :data:`CLUSTER_COLUMNS`"""
    short_cluster: int
    """first of the short cluster's :data:`CLUSTER_COLUMNS`"""
    growth: int
    """the growth column"""
    shares: int
    """first per-venue share column (long side, then short side); none for one venue"""
    n_venue_shares: int
    """share columns per side: the number of venues when there are several, else 0"""
    real: int
    """first of the :data:`REAL_COLUMNS`"""
    width: int
    """number of columns"""


def column_layout(n_bands: int, n_venues: int = 1) -> ColumnLayout:
    """Where each group of :func:`feature_docs` starts, for ``n_bands`` bands and ``n_venues`` venues."""
    bands = len(FLOW_COLUMNS)
    long_cluster = bands + len(BAND_COLUMNS) * n_bands
    short_cluster = long_cluster + len(CLUSTER_COLUMNS)
    growth = short_cluster + len(CLUSTER_COLUMNS)
    shares = growth + 1
    per_side = n_venues if n_venues > 1 else 0
    real = shares + 2 * per_side
    return ColumnLayout(
        bands,
        long_cluster,
        short_cluster,
        growth,
        shares,
        per_side,
        real,
        real + len(REAL_COLUMNS),
    )


class ColumnDoc(NamedTuple):
    """One feature column's documentation: a row of ``liq-indicator features --doc``."""

    name: str
    meaning: str
    unit: str
    warmup: str


def band_label(pct: float) -> str:
    """'2' for 2.0, '2p5' for 2.5: a band as it appears in column names."""
    return f"{pct:g}".replace(".", "p")


def feature_docs(
    config: HeatmapConfig | None = None, venues: tuple[str, ...] = ()
) -> list[ColumnDoc]:
    """Every column :func:`liquidation_features` adds, in kernel order, with meaning/unit/warm-up.

    ``venues``: the exchanges of a multi-venue map (reference first); with two or more, each
    cluster also gets one share column per venue.
    """
    cfg = config or HeatmapConfig()
    p = PREFIX
    flow = "none (the map starts empty at the first candle and fills in over the tiers' half-lives)"
    flows = (  # (meaning, unit, warm-up) of each of FLOW_COLUMNS, in its order
        (
            "long notional liquidated by this candle (low reached its levels): cascade intensity",
            "USD",
            "none",
        ),
        ("short notional liquidated by this candle (high reached its levels)", "USD", "none"),
        ("all pending long liquidation notional on the map", "USD", flow),
        ("all pending short liquidation notional on the map", "USD", flow),
        (
            "new position notional added this candle (oi_scale x OI rise + turnover_share x traded "
            "USD, or volume x volume_share; times the volatility-targeting and candle-length "
            "multipliers)",
            "USD",
            "none",
        ),
        ("notional aged out this candle (per-tier half-lives)", "USD", "none"),
        (
            "notional closed this candle by a fall in open interest (net of liquidations) and by "
            "the turnover",
            "USD",
            "1 candle of OI",
        ),
        ("notional that fell off the live grid window this candle (far from price)", "USD", "none"),
        (
            "1 when this candle's inflow came from open interest, 0 for the volume rule",
            "flag",
            "first OI row is 0",
        ),
    )
    docs = [ColumnDoc(f"{p}{name}", *doc) for name, doc in zip(FLOW_COLUMNS, flows, strict=True)]
    for b in cfg.bands_pct:
        band = (
            (
                f"pending long notional at or above close x (1 - {b:g}%) (incl. levels already above close)",
                "USD",
                flow,
            ),
            (f"pending short notional at or below close x (1 + {b:g}%)", "USD", flow),
            (
                f"(short - long) / (short + long) within {b:g}%: +1 all above price, -1 all below, 0 if none",
                "ratio in [-1, 1]",
                flow,
            ),
        )
        docs += [
            ColumnDoc(p + name.format(band=band_label(b)), *doc)
            for name, doc in zip(BAND_COLUMNS, band, strict=True)
        ]
    for side, where in (("long", "below"), ("short", "above")):
        near = "upper" if side == "long" else "lower"
        far = "lower" if side == "long" else "upper"
        cluster = (
            (
                f"peak bin centre of the nearest significant {side} cluster {where} close (within cluster_range_pct={cfg.cluster_range_pct:g}%)",
                "price",
                "NaN when no cluster",
            ),
            (
                f"near edge of that cluster (its {near} bound, closest to price)",
                "price",
                "NaN when no cluster",
            ),
            (
                f"far edge of that cluster (its {far} bound): place stops beyond it",
                "price",
                "NaN when no cluster",
            ),
            ("notional inside that cluster", "USD", "0 when no cluster"),
            (
                "distance from close to the cluster peak, % of close (positive = away from price)",
                "%",
                "NaN when no cluster",
            ),
        )
        docs += [
            ColumnDoc(f"{p}{side}_{name}", *doc)
            for name, doc in zip(CLUSTER_COLUMNS, cluster, strict=True)
        ]
    g = band_label(cfg.growth_band_pct)
    docs.append(
        ColumnDoc(
            f"{p}growth_{g}pct_{cfg.growth_candles}",
            f"growth of pending notional within {cfg.growth_band_pct:g}% (both sides) over {cfg.growth_candles} candles: (now - then) / (now + then)",
            "ratio in [-1, 1]",
            f"NaN for the first {cfg.growth_candles} candles",
        )
    )
    if len(venues) > 1:
        for side in ("long", "short"):
            docs += [
                ColumnDoc(
                    f"{p}{side}_cluster_share_{v}",
                    f"share of the nearest {side} cluster's notional that comes from {v} (multi-venue maps only)",
                    "ratio in [0, 1]",
                    "NaN when no cluster",
                )
                for v in venues
            ]
    window = f"{cfg.real_window} candles with recorded liquidations"
    real = (
        (
            "recorded long liquidations in this candle (liquidation_features(liquidations=...), "
            "or a real_long_usd column; live: the candle's real_long_usd key)",
            "USD",
            "NaN where nothing was recorded",
        ),
        ("recorded short liquidations in this candle", "USD", "NaN where nothing was recorded"),
        (
            f"live accuracy: correlation of log(1 + swept) with log(1 + recorded), both sides, over "
            f"the last {window}",
            "correlation in [-1, 1]",
            "NaN before 10 candles with recordings",
        ),
        (
            f"live accuracy: the map's swept USD over the recorded USD, over the last {window}",
            "ratio",
            "NaN before 10 candles with recordings",
        ),
    )
    docs += [ColumnDoc(f"{p}{name}", *doc) for name, doc in zip(REAL_COLUMNS, real, strict=True)]
    return docs


def feature_columns(config: HeatmapConfig | None = None, venues: tuple[str, ...] = ()) -> list[str]:
    """Column names, in the kernel's output order."""
    return [d.name for d in feature_docs(config, venues)]


def markdown_table(config: HeatmapConfig | None = None) -> str:
    """The column documentation as a Markdown table."""
    lines = ["| column | meaning | unit | warm-up |", "|---|---|---|---|"]
    lines += [f"| `{d.name}` | {d.meaning} | {d.unit} | {d.warmup} |" for d in feature_docs(config)]
    return "\n".join(lines)
