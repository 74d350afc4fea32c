"""Names and documentation of every ``liq_`` feature column, in one place.

``docs/FEATURES.md`` is generated from :func:`feature_docs` (``liq-indicator features --doc``), and a
test keeps the two in step.
"""

from __future__ import annotations

from typing import NamedTuple

from liq_indicator.config import HeatmapConfig

__all__ = ["ColumnDoc", "feature_columns", "feature_docs", "band_label"]

PREFIX = "liq_"


class ColumnDoc(NamedTuple):
    name: str
    meaning: str
    unit: str
    warmup: str


def band_label(pct: float) -> str:
    """'2' for 2.0, '2p5' for 2.5: a band as it appears in column names."""
    return f"{pct:g}".replace(".", "p")


def feature_docs(config: HeatmapConfig | None = None, venues: tuple[str, ...] = ()) -> list[ColumnDoc]:
    """Every column :func:`liquidation_features` adds, in kernel order, with meaning/unit/warm-up.

    ``venues``: the exchanges of a multi-venue map (reference first); with two or more, each
    cluster also gets one share column per venue.
    """
    cfg = config or HeatmapConfig()
    p = PREFIX
    flow = "none (the map starts empty at the first candle and fills in over the tiers' half-lives)"
    docs = [
        ColumnDoc(f"{p}swept_long_usd", "long notional liquidated by this candle (low reached its levels): cascade intensity", "USD", "none"),
        ColumnDoc(f"{p}swept_short_usd", "short notional liquidated by this candle (high reached its levels)", "USD", "none"),
        ColumnDoc(f"{p}pending_long_usd", "all pending long liquidation notional on the map", "USD", flow),
        ColumnDoc(f"{p}pending_short_usd", "all pending short liquidation notional on the map", "USD", flow),
        ColumnDoc(f"{p}inflow_usd", "new position notional added this candle (OI rise, or volume x volume_share)", "USD", "none"),
        ColumnDoc(f"{p}decayed_usd", "notional aged out this candle (per-tier half-lives)", "USD", "none"),
        ColumnDoc(f"{p}closed_usd", "notional closed this candle by a fall in open interest (net of liquidations)", "USD", "1 candle of OI"),
        ColumnDoc(f"{p}dropped_usd", "notional that fell off the live grid window this candle (far from price)", "USD", "none"),
        ColumnDoc(f"{p}oi_mode", "1 when this candle's inflow came from open interest, 0 for the volume rule", "flag", "first OI row is 0"),
    ]
    for b in cfg.bands_pct:
        lab = band_label(b)
        docs += [
            ColumnDoc(f"{p}long_{lab}pct_usd", f"pending long notional at or above close x (1 - {b:g}%) (incl. levels already above close)", "USD", flow),
            ColumnDoc(f"{p}short_{lab}pct_usd", f"pending short notional at or below close x (1 + {b:g}%)", "USD", flow),
            ColumnDoc(f"{p}imbalance_{lab}pct", f"(short - long) / (short + long) within {b:g}%: +1 all above price, -1 all below, 0 if none", "ratio in [-1, 1]", flow),
        ]
    for side, where in (("long", "below"), ("short", "above")):
        near = "upper" if side == "long" else "lower"
        far = "lower" if side == "long" else "upper"
        docs += [
            ColumnDoc(f"{p}{side}_cluster_price", f"peak bin centre of the nearest significant {side} cluster {where} close (within cluster_range_pct={cfg.cluster_range_pct:g}%)", "price", "NaN when no cluster"),
            ColumnDoc(f"{p}{side}_cluster_near", f"near edge of that cluster (its {near} bound, closest to price)", "price", "NaN when no cluster"),
            ColumnDoc(f"{p}{side}_cluster_far", f"far edge of that cluster (its {far} bound): place stops beyond it", "price", "NaN when no cluster"),
            ColumnDoc(f"{p}{side}_cluster_usd", "notional inside that cluster", "USD", "0 when no cluster"),
            ColumnDoc(f"{p}{side}_cluster_dist_pct", "distance from close to the cluster peak, % of close (positive = away from price)", "%", "NaN when no cluster"),
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
                ColumnDoc(f"{p}{side}_cluster_share_{v}", f"share of the nearest {side} cluster's notional that comes from {v} (multi-venue maps only)", "ratio in [0, 1]", "NaN when no cluster")
                for v in venues
            ]
    return docs


def feature_columns(config: HeatmapConfig | None = None, venues: tuple[str, ...] = ()) -> list[str]:
    """Column names, in the kernel's output order."""
    return [d.name for d in feature_docs(config, venues)]


def markdown_table(config: HeatmapConfig | None = None) -> str:
    """The column documentation as a Markdown table."""
    lines = ["| column | meaning | unit | warm-up |", "|---|---|---|---|"]
    lines += [f"| `{d.name}` | {d.meaning} | {d.unit} | {d.warmup} |" for d in feature_docs(config)]
    return "\n".join(lines)
