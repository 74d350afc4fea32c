"""The report of ``liq-indicator validate``: docs/VALIDATION.md's text and figures, and the simulator
section's runs. Imported by :func:`liq_indicator.cli.validate.run` only (it loads pandas and
matplotlib).
"""

from __future__ import annotations

import math
from dataclasses import fields
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from liq_indicator.io.shared import DATA_ENV
from liq_indicator.plot.style import GREY, LONG_COLOR, SHORT_COLOR, format_usd

# ------------------------------------------------------------------------------------------------
# formatting


def _f(x: Any, nd: int = 3) -> str:
    return "–" if x is None or (isinstance(x, float) and not math.isfinite(x)) else f"{x:.{nd}f}"


def _s(x: Any, nd: int = 3) -> str:
    return "–" if x is None or (isinstance(x, float) and not math.isfinite(x)) else f"{x:+.{nd}f}"


def _p(x: Any) -> str:
    return (
        "–" if x is None or (isinstance(x, float) and not math.isfinite(x)) else f"{100 * x:.0f}%"
    )


def _table(header: list[str], rows: list[list[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(r) + " |" for r in rows]
    return "\n".join(lines)


def _day(ts: Any) -> str:
    return pd.Timestamp(ts).strftime("%Y-%m-%d %H:%M")


def _config_diff(base: Any, cfg: Any) -> list[str]:
    out = []
    for f in fields(cfg):
        a, b = getattr(base, f.name), getattr(cfg, f.name)
        if a != b:
            out.append(f"{f.name}={b!r}")
    return out


def _cell(row: pd.Series) -> list[str]:
    return [row["config"], row["timeframe"], row["mode"]]


# ------------------------------------------------------------------------------------------------
# figures


def _plt() -> Any:
    from liq_indicator.errors import InputError

    try:
        import matplotlib
    except ImportError as exc:  # pragma: no cover - the plot extra is part of `make` installs
        raise InputError(
            "the validate command draws figures with matplotlib; pip install 'liq-indicator[plot]'"
        ) from exc
    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    plt.rcParams.update(
        {"font.size": 8, "axes.titlesize": 9, "axes.spines.top": False, "axes.spines.right": False}
    )
    return plt


def _save(fig: Any, path: Path) -> Path:
    from liq_indicator.io.paths import writing

    with writing(path, "figure"):
        path.parent.mkdir(parents=True, exist_ok=True)
        fig.savefig(path, dpi=100, bbox_inches="tight")
    import matplotlib.pyplot as plt

    plt.close(fig)
    return path


def fig_spearman(scores: pd.DataFrame, path: Path) -> Path:
    """Spearman per (candles, inflow) cell, map (defaults, chosen) beside the baselines; to ``path``."""
    plt = _plt()
    fig, axes = plt.subplots(1, 2, figsize=(10, 3.4), sharey=True)
    cells = scores[scores["config"] == "chosen"][["timeframe", "mode"]].to_numpy().tolist()
    series = [
        ("map, defaults", "defaults", "spearman_map", "#9ec9ff"),
        ("map, chosen", "chosen", "spearman_map", LONG_COLOR),
        ("range x volume", "chosen", "spearman_vol", GREY),
        ("range x OI", "chosen", "spearman_oi", "#c8ccd2"),
        ("range x volume + map (fit)", "chosen", "spearman_combined", "#3cb371"),
    ]
    width = 0.16
    for ax, side in zip(axes, ("long", "short"), strict=True):
        x = np.arange(len(cells))
        for i, (label, cfg, key, color) in enumerate(series):
            vals = [
                scores[
                    (scores["config"] == cfg)
                    & (scores["timeframe"] == tf)
                    & (scores["mode"] == mode)
                ][f"{side}_{key}"].iloc[0]
                for tf, mode in cells
            ]
            ax.bar(x + (i - 2) * width, vals, width, label=label, color=color)
        ax.set_xticks(x, [f"{tf}\n{mode}" for tf, mode in cells])
        ax.set_ylim(0.4, 0.95)
        ax.set_title(f"{side}s: Spearman vs real liquidations (test part)")
        ax.grid(axis="y", alpha=0.3)
    axes[0].set_ylabel("Spearman rank correlation")
    handles, labels = axes[0].get_legend_handles_labels()
    fig.legend(handles, labels, fontsize=7, loc="lower center", ncol=5, bbox_to_anchor=(0.5, -0.06))
    return _save(fig, path)


def fig_scatter(table: pd.DataFrame, title: str, path: Path) -> Path:
    """Real liquidations per test-part hour vs the estimate and vs range x volume (log); to ``path``."""
    plt = _plt()
    t = table[table["part"] == "test"]
    fig, axes = plt.subplots(2, 2, figsize=(8, 6.4))
    for r, side in enumerate(("long", "short")):
        color = LONG_COLOR if side == "long" else SHORT_COLOR
        y = np.log10(1 + t[f"real_{side}"])
        for c, (col, label) in enumerate(
            (
                (f"est_{side}", "estimated swept notional"),
                (f"base_vol_{side}", "adverse range x volume (USD)"),
            )
        ):
            ax = axes[r, c]
            ax.scatter(np.log10(1 + t[col]), y, s=4, alpha=0.35, color=color, linewidths=0)
            ax.set_xlabel(f"log10(1 + {label})")
            ax.set_ylabel(f"log10(1 + real {side} liquidations, USD)")
            ax.grid(alpha=0.3)
    fig.suptitle(title, fontsize=9)
    fig.tight_layout()
    return _save(fig, path)


def fig_timeline(table: pd.DataFrame, split: pd.Timestamp, title: str, path: Path) -> Path:
    """Daily real vs scaled estimated liquidations per side, the split marked; saved to ``path``."""
    plt = _plt()
    daily = table.drop(columns="part").resample("1D").sum(min_count=1)
    sel = table[table["part"] == "select"]
    fig, axes = plt.subplots(2, 1, figsize=(10, 4.6), sharex=True)
    for ax, side in zip(axes, ("long", "short"), strict=True):
        color = LONG_COLOR if side == "long" else SHORT_COLOR
        scale = sel[f"real_{side}"].sum() / max(sel[f"est_{side}"].sum(), 1.0)
        ax.bar(
            daily.index,
            daily[f"real_{side}"] / 1e6,
            width=0.8,
            color=GREY,
            alpha=0.6,
            label=f"real {side} liquidations (all exchanges)",
        )
        ax.plot(
            daily.index,
            daily[f"est_{side}"] * scale / 1e6,
            color=color,
            lw=1.4,
            label=f"estimated swept x {scale:.2g} (scale fitted on the selection part)",
        )
        ax.axvline(split, color="k", lw=0.8, ls="--")
        ax.set_ylabel("USD m per day")
        ax.legend(fontsize=7, loc="upper left")
        ax.grid(alpha=0.3)
    axes[0].set_title(title)
    axes[1].annotate(
        "selection | test",
        (split, 0.95),
        xycoords=("data", "axes fraction"),
        ha="center",
        fontsize=7,
    )
    return _save(fig, path)


def fig_fills(fills: pd.DataFrame, res: dict[str, Any], path: Path) -> Path:
    """The map at the map time followed by the most fill USD, beside those fills; saved to ``path``."""
    plt = _plt()
    rows = res["rows"]
    usd = fills["size_usd"].to_numpy()
    row = int(pd.Series(usd).groupby(rows).sum().idxmax())  # the map time followed by the most USD
    m = res["maps"][row]
    sel = rows == row
    fig, (ax, ax2) = plt.subplots(1, 2, figsize=(9, 4.2), sharey=True, width_ratios=(2, 1))
    h = np.diff(m.bin_edges)
    ax.barh(
        m.bin_prices, m.short / 1e6, height=h, color=SHORT_COLOR, label="estimated short levels"
    )
    ax.barh(m.bin_prices, -m.long / 1e6, height=h, color=LONG_COLOR, label="estimated long levels")
    ax.set_xlabel("estimated pending notional (USD m per bin; longs to the left)")
    ax.set_ylabel("price")
    ax.legend(fontsize=7, loc="lower right")
    price = fills["price"].to_numpy()[sel]
    edges = m.bin_edges[(m.bin_edges >= price.min() * 0.998) & (m.bin_edges <= price.max() * 1.002)]
    ax2.hist(
        price, bins=edges, weights=usd[sel] / 1e6, orientation="horizontal", color="k", alpha=0.6
    )
    ax2.set_xlabel("real Hyperliquid fills (USD m per bin)")
    for a in (ax, ax2):
        a.axhline(m.price, color="k", lw=0.8, ls="--")
        a.grid(alpha=0.3)
    lo, hi = fills["price"].min(), fills["price"].max()
    ax.set_ylim(min(lo, m.price) * 0.99, max(hi, m.price) * 1.012)
    closed = m.time + pd.Timedelta("5min")  # LiquidationMap.time is the candle's open time
    fig.suptitle(
        f"estimated map at {closed:%Y-%m-%d %H:%M} UTC (close of a Binance 5m candle, dashed) and the "
        f"{int(sel.sum())} Hyperliquid liquidation fills of the next 5 minutes",
        fontsize=9,
    )
    fig.tight_layout()
    return _save(fig, path)


def fig_sim(prof: pd.DataFrame, title: str, path: Path) -> Path:
    """True vs estimated pending map of one simulator snapshot; saved to ``path``."""
    plt = _plt()
    fig, axes = plt.subplots(1, 2, figsize=(9, 3.8), sharey=True)
    for ax, kind in zip(axes, ("true", "est"), strict=True):
        lo, sh = prof[f"{kind}_long"], prof[f"{kind}_short"]
        total = max((lo + sh).sum(), 1.0)
        h = np.diff(np.log(prof["price"])).mean() * prof["price"]
        ax.barh(prof["price"], -lo / total, height=h, color=LONG_COLOR)
        ax.barh(prof["price"], sh / total, height=h, color=SHORT_COLOR)
        ax.axhline(prof.attrs["close"], color="k", lw=0.8, ls="--")
        ax.set_title(
            "true pending map (simulator)"
            if kind == "true"
            else "estimated map (no knowledge of positions)"
        )
        ax.set_xlabel("share of the map's notional (longs to the left)")
    axes[0].set_ylabel("price")
    fig.suptitle(title, fontsize=9)
    fig.tight_layout()
    return _save(fig, path)


# ------------------------------------------------------------------------------------------------
# the report


def _headline(res: Any) -> list[str]:
    """Sentences chosen by the numbers (test part, chosen settings)."""
    sc = res.scores
    ch = sc[sc["config"] == "chosen"]
    lines = []
    wins = []
    for _, r in ch.iterrows():
        for side in ("long", "short"):
            wins.append(
                (
                    r[f"{side}_spearman_map"] - r[f"{side}_spearman_vol"],
                    r["timeframe"],
                    r["mode"],
                    side,
                    r[f"{side}_spearman_map"],
                    r[f"{side}_spearman_vol"],
                )
            )
    n_win = sum(w[0] > 0 for w in wins)
    best = max(wins)
    worst = min(wins)
    lines.append(
        f"* **Ranking on its own.** With the chosen settings the map out-ranks the range x volume baseline "
        f"in {n_win} of {len(wins)} (timeframe, inflow, side) cells of the test part. Best: "
        f"{best[1]} {best[2]} {best[3]}s, {best[4]:.3f} vs {best[5]:.3f}; worst: {worst[1]} {worst[2]} "
        f"{worst[3]}s, {worst[4]:.3f} vs {worst[5]:.3f}."
    )
    gains = [
        (r[f"{s}_r2_gain_vol"], r["timeframe"], r["mode"], s)
        for _, r in ch.iterrows()
        for s in ("long", "short")
    ]
    n_pos = sum(g[0] > 0 for g in gains)
    lines.append(
        f"* **Information beyond the baseline.** Adding the map's swept notional to the range x volume "
        f"regression (fitted on the selection part) changes the test-part R² by "
        f"{min(g[0] for g in gains):+.3f} to {max(g[0] for g in gains):+.3f}; positive in {n_pos} of {len(gains)} cells."
    )
    comb = [
        (r[f"{s}_spearman_combined"], r[f"{s}_spearman_vol"])
        for _, r in ch.iterrows()
        for s in ("long", "short")
    ]
    n_c = sum(a > b for a, b in comb)
    lines.append(
        f"* **Baseline + map** (the fitted combination) ranks better than the baseline alone in {n_c} of {len(comb)} cells."
    )
    prec = [
        (r[f"{s}_top_precision_map"], r[f"{s}_top_precision_vol"])
        for _, r in ch.iterrows()
        for s in ("long", "short")
    ]
    n_p = sum(a > b for a, b in prec)
    lines.append(
        f"* **Cascades (top 5% of hours).** The map's precision beats the range x volume baseline in "
        f"{n_p} of {len(prec)} cells (chance: 5%)."
    )
    dirs = [(r["direction_map"], r["direction_candle"], r["direction_n"]) for _, r in ch.iterrows()]
    n_d = sum(a > b for a, b, _ in dirs)
    lines.append(
        f"* **Direction.** The side with the larger estimated sweep is the side that liquidated more in "
        f"{min(d[0] for d in dirs):.0%}–{max(d[0] for d in dirs):.0%} of the hours it makes a call, "
        f"against {min(d[1] for d in dirs):.0%}–{max(d[1] for d in dirs):.0%} for the candle's own shape "
        f"(larger adverse move) on the same hours; the map is ahead in {n_d} of {len(dirs)} cells."
    )
    # where it loses
    loses = [w for w in wins if w[0] <= 0]
    if loses:
        by_tf = {tf: [w for w in loses if w[1] == tf] for tf in ("1h", "5m")}
        parts = [f"{len(v)} of 4 {tf} cells" for tf, v in by_tf.items() if v]
        lines.append(
            f"* **Where it loses.** The map ranks below range x volume in {', '.join(parts)}."
        )
    oi_vs_vol = [
        (
            r[f"{s}_spearman_map"],
            ch[(ch["timeframe"] == r["timeframe"]) & (ch["mode"] == "volume")][
                f"{s}_spearman_map"
            ].iloc[0],
        )
        for _, r in ch[ch["mode"] == "open interest"].iterrows()
        for s in ("long", "short")
    ]
    n_oi = sum(a < b for a, b in oi_vs_vol)
    if n_oi:
        lines.append(
            f"  Open-interest inflow ranks worse than volume inflow in {n_oi} of {len(oi_vs_vol)} "
            "(timeframe, side) pairs: the hourly, all-exchange OI changes make a poorer record of "
            "where positions opened than traded volume does."
        )
    zeros = [r[f"{s}_zero_share"] for _, r in ch.iterrows() for s in ("long", "short")]
    lines.append(
        f"  In {min(zeros):.0%}–{max(zeros):.0%} of the test hours the map sweeps nothing on a side "
        "(price did not reach any estimated level), while some real liquidation happens in nearly "
        "every hour: those hours tie at the bottom of its ranking, and that is what costs it against "
        "the baselines, which are never zero when price moves."
    )
    return lines


def render(
    res: Any,
    fills_res: dict[str, Any] | None,
    sim_rows: list[dict[str, Any]] | None,
    sim_note: str,
    images: dict[str, str],
    meta: dict[str, Any],
) -> str:
    """docs/VALIDATION.md's Markdown from the validation results, the fills and simulator sections.

    Args:
        res: the real-data validation (``scores``, ``whole``, ``selection``, ``info``).
        fills_res: the fills comparison, or None when its data is missing (``meta['fills_note']``).
        sim_rows: one row per (scenario, settings, inflow) of :func:`run_sim`, or None when skipped.
        sim_note: the simulator section's text (its setup, or why it was skipped).
        images: figure name -> path relative to the report, for the figures drawn.
        meta: ``generated`` (date) and ``seconds`` of the run, optional ``fills_note``.
    """
    from liq_indicator.config import HeatmapConfig

    base = HeatmapConfig()
    info = res.info
    sc = res.scores
    chosen_diff = _config_diff(base, res.selection.config) or ["(none: the defaults were kept)"]
    out: list[str] = []
    w = out.append
    w("# Validation: the map against what really got liquidated\n")
    w(
        f"Generated by `liq-indicator validate` (`make validate`) on {meta['generated']} in {meta['seconds']:.0f} s. "
        "Every number and figure below comes from that run on the shared data (`../shared/data`, never "
        "copied into this repository); sentences that compare numbers are chosen by the numbers. "
        "Where the estimator loses, the tables say so.\n"
    )
    w("## Headline (test part, settings chosen before it)\n")
    w(
        f"Real hourly liquidations summed over the major exchanges, {_day(info['first_truth'])} → "
        f"{_day(info['last_truth'])} UTC. Settings were chosen on the **selection part** (before "
        f"{info['split']:%Y-%m-%d}) and every figure in this section is measured on the **test part** "
        f"(from {info['split']:%Y-%m-%d}; 5m candles end {_day(info['last_5m_hour'])}, so the 5m rows have fewer hours). "
        "What is compared is an hour's estimated swept notional with the same hour's real liquidations: the "
        "estimate uses that hour's candles (the map itself only the past), as the baselines use that hour's range, "
        "so this measures how well the map explains a move's liquidations, not a forecast of them.\n"
    )
    out.extend(_headline(res))
    w("")
    w(
        f"Chosen settings (walk-forward, see below): `{', '.join(chosen_diff)}`; every other field at its default.\n"
    )
    if "spearman" in images:
        w(f"![Spearman per cell]({images['spearman']})\n")

    w("### Rank correlation with real liquidations (Spearman, test part)\n")
    rows = []
    for _, r in sc.iterrows():
        rows.append(
            _cell(r)
            + [str(r["hours_test"])]
            + [
                x
                for s in ("long", "short")
                for x in (
                    f"**{_f(r[f'{s}_spearman_map'])}**",
                    _f(r[f"{s}_spearman_vol"]),
                    _f(r[f"{s}_spearman_oi"]),
                    _f(r[f"{s}_spearman_combined"]),
                    _p(r[f"{s}_zero_share"]),
                )
            ]
        )
    w(
        _table(
            [
                "settings",
                "candles",
                "inflow",
                "hours",
                "long: map",
                "long: range×vol",
                "long: range×OI",
                "long: range×vol + map",
                "long: map = 0",
                "short: map",
                "short: range×vol",
                "short: range×OI",
                "short: range×vol + map",
                "short: map = 0",
            ],
            rows,
        )
    )
    w(
        "\n*map = 0*: share of hours in which the map swept nothing (all such hours tie at the bottom of its ranking). "
        "*range×vol + map*: the regression of the next table, fitted on the selection part, used as a ranking.\n"
    )

    w("### Incremental information: out-of-sample R² (log1p–log1p regression)\n")
    rows = []
    for _, r in sc.iterrows():
        rows.append(
            _cell(r)
            + [
                x
                for s in ("long", "short")
                for x in (
                    _f(r[f"{s}_r2_vol"]),
                    _f(r[f"{s}_r2_vol_map"]),
                    f"**{_s(r[f'{s}_r2_gain_vol'])}**",
                    _s(r[f"{s}_r2_gain_oi"]),
                )
            ]
        )
    w(
        _table(
            [
                "settings",
                "candles",
                "inflow",
                "long: R² range×vol",
                "long: + map",
                "long: gain",
                "long: gain over range×OI",
                "short: R² range×vol",
                "short: + map",
                "short: gain",
                "short: gain over range×OI",
            ],
            rows,
        )
    )
    w(
        "\nOLS of log1p(real) on log1p(baseline) [+ log1p(estimated swept)] fitted on the selection part; "
        "R² on the test part around the test part's own mean.\n"
    )

    w("### Cascade hours: the top 5% of hours (precision / recall, test part)\n")
    rows = []
    for _, r in sc.iterrows():
        rows.append(
            _cell(r)
            + [
                x
                for s in ("long", "short")
                for x in (
                    f"{_f(r[f'{s}_top_precision_map'], 2)} / {_f(r[f'{s}_top_recall_map'], 2)}",
                    f"{_f(r[f'{s}_top_precision_vol'], 2)} / {_f(r[f'{s}_top_recall_vol'], 2)}",
                    f"{_f(r[f'{s}_top_precision_oi'], 2)} / {_f(r[f'{s}_top_recall_oi'], 2)}",
                )
            ]
        )
    w(
        _table(
            [
                "settings",
                "candles",
                "inflow",
                "long: map",
                "long: range×vol",
                "long: range×OI",
                "short: map",
                "short: range×vol",
                "short: range×OI",
            ],
            rows,
        )
    )
    w(
        "\nPredicted: hours whose estimate is at least the k-th largest (k = 5% of the test hours) and above "
        "zero; real: the k hours with the most real liquidations of that side. A detector with no information "
        "scores 0.05.\n"
    )

    w("### Direction: which side liquidated more (test part)\n")
    rows = [
        _cell(r)
        + [str(r["direction_n"]), f"**{_p(r['direction_map'])}**", _p(r["direction_candle"])]
        for _, r in sc.iterrows()
    ]
    w(_table(["settings", "candles", "inflow", "hours", "map", "candle shape"], rows))
    w(
        "\nHours where the map swept something on either side and real long + short liquidations were at least "
        "$1M. *map*: the side with the larger estimated sweep; *candle shape*: the side with the larger adverse "
        "move ((open − low) vs (high − open)), which is also the call of both naive baselines. Same hours for both.\n"
    )

    if "scatter" in images:
        w(f"![estimate vs real, test part]({images['scatter']})\n")
    if "timeline" in images:
        w(f"![daily real vs estimated]({images['timeline']})\n")

    w("## Data and method\n")
    w(
        f"* **Truth**: `truth/btc_liquidations_oi_1h_all_exchanges.csv`, hourly long and short liquidated notional "
        f"(USD) summed over the major exchanges (a CoinGlass export), {_day(info['first_truth'])} → "
        f"{_day(info['last_truth'])}. Aggregate figures only are reported here."
    )
    w(
        f"* **Candles**: Binance BTCUSDT perpetual 1h ({info['hours_1h']} scored hours) and 5m candles (summed per "
        f"complete hour; {info['hours_5m']} scored hours, to {_day(info['last_5m_hour'])}). Sweeps trigger on the "
        "traded high/low (the mark candles stop before the window ends)."
    )
    w(
        f"* **Inflow modes**: *volume* (no open interest; new notional = volume × price × volume_share) and *open "
        f"interest* (`open_interest=` the aggregated OI candles, from {_day(info['first_oi'])}; before that the "
        "estimator falls back to volume, and at 5m the hourly OI arrives as one step per hour)."
    )
    halves = ", ".join(
        f"{lev:g}x {info['warmup_hours'] / h:.1f}"
        for lev, h in zip(base.leverages, base.half_life_hours, strict=True)
    )
    w(
        f"* **Warm-up**: the estimator starts on the first candle, {_day(info['first_candle'])}, "
        f"{info['warmup_hours']:.0f} h before the first truth hour (no earlier candles join the window). In "
        f"half-lives of the default tiers that is {halves}, so the first selection weeks see the long-lived tiers "
        f"still filling; the test part starts {(info['split'] - info['first_candle']) / pd.Timedelta('1D'):.0f} "
        "days after the first candle."
    )
    w(
        "* **Baselines** (same hours, same 1h candles): *range×vol* = adverse range × volume in USD; *range×OI* = "
        "adverse range × open interest at the hour's open (`oi_open` of the truth file). Adverse range: longs "
        "(open − low) / open, shorts (high − open) / open. (The full range (high − low) / open is the same for "
        "both sides and ranked worse on the selection part, so it is not used.)"
    )
    w(
        "* **Split**: one walk-forward split. Settings are chosen and regressions fitted on the selection part; "
        "every headline figure is measured on the test part only. Nothing is picked by its score on the whole window.\n"
    )

    w("## Choosing the settings (selection part only)\n")
    w(
        f"Objective: mean Spearman of the map's swept notional with real liquidations over both sides and all four "
        f"(candles, inflow) cells, on the {int(sc['hours_select'].max())} selection-part hours. One pass of coordinate "
        "ascent over the axes below, in this order, starting from the defaults; an option is adopted only if it raises "
        "the objective by at least 0.005 (smaller differences are noise at this sample size). '–': rejected by "
        "HeatmapConfig (a 500k USDT position allows at most 100x, so it conflicts with a 125x tier).\n"
    )
    tr = res.selection.trace
    rows = [
        [r["axis"], r["option"], _f(r["objective"]), "✔" if r["chosen"] else ""]
        for _, r in tr.iterrows()
    ]
    w(_table(["axis", "option", "objective (selection part)", "kept"], rows))
    w(
        "\nIn volume mode every flow is proportional to `volume_share`, so it cannot change a rank correlation; "
        "it only matters in open-interest mode before the first OI value. Leverage weights, half-lives and the "
        "direction tilt barely move the ranking: which hours sweep anything at all is set by the nearest tier "
        "(the highest leverage), and that is what the map's ranking mostly measures.\n"
    )

    w("### The defaults on every truth hour\n")
    w(
        "No fitting and no choice is involved, so the defaults can be scored on the whole window (the team's earlier "
        "measurement of a plain map on this window: Spearman 0.73 map vs 0.81 range×vol for longs).\n"
    )
    rows = []
    for _, r in res.whole.iterrows():
        rows.append(
            [r["timeframe"], r["mode"], str(r["hours_test"])]
            + [
                x
                for s in ("long", "short")
                for x in (
                    _f(r[f"{s}_spearman_map"]),
                    _f(r[f"{s}_spearman_vol"]),
                    _f(r[f"{s}_spearman_oi"]),
                    _p(r[f"{s}_zero_share"]),
                )
            ]
        )
    w(
        _table(
            [
                "candles",
                "inflow",
                "hours",
                "long: map",
                "long: range×vol",
                "long: range×OI",
                "long: map = 0",
                "short: map",
                "short: range×vol",
                "short: range×OI",
                "short: map = 0",
            ],
            rows,
        )
    )
    w("")

    out.extend(_fills_section(fills_res, images, meta))
    out.extend(_sim_section(sim_rows, sim_note, images))
    w("## Reproduce\n")
    w(
        "```bash\nmake validate          # = liq-indicator validate --data ../shared/data "
        "--out docs/VALIDATION.md --img-dir docs/img\n```\n"
    )
    w(
        f"Options: `--split` (first day of the test part), `--sim-days`, `--sim-scenarios`, `--seed`; the data "
        f"directory can also be given as `${DATA_ENV}`. The metric functions are in `liq_indicator/research/validation.py` "
        "and tested on hand-built frames in `tests/test_validation.py`.\n"
    )
    return "\n".join(out)


def _fills_section(
    fills_res: dict[str, Any] | None, images: dict[str, str], meta: dict[str, Any]
) -> list[str]:
    """The report's section on the Hyperliquid fills (or why it was skipped)."""
    out: list[str] = []
    w = out.append
    w("## Individual fills: do real liquidations happen where the map put them?\n")
    if fills_res is None:
        w(f"Skipped: {meta.get('fills_note', 'data not found')}.\n")
    else:
        f = fills_res
        w(
            f"`truth/btc_liquidation_events_hyperliquid_2025-05.csv`: {f['fills']} liquidation fills on **Hyperliquid** "
            f"({format_usd(f['usd'])}, {_day(f['first'])} → {_day(f['last'])}, {f['hours']} distinct hours, {f['map_times']} "
            f"distinct 5-minute map times), against the map estimated from **Binance** 5m candles (volume mode; "
            f"{f['warmup']} warm-up; chosen settings). Every fill is compared with the map at the close of the last "
            "5m candle that closed before it. The source marks every fill 'S'. The fills sit near the tops of the "
            f"Binance 5m candles they happen in (median position {f['position_in_candle']:.2f} of the candle's "
            f"low-to-high range) and {f['top_hour_usd_share']:.0%} of the notional falls in one rising hour "
            f"({_day(f['top_hour'])}), so they are read as **short** liquidations and compared with the short side "
            "of the map.\n"
        )
        rows = []
        for name, label in (
            ("range", "uniform in the hour's traded range"),
            (
                "same_side",
                "uniform between the map's close and the hour's extreme on the fill's side",
            ),
        ):
            rows.append(
                [
                    label,
                    _f(f[f"percentile_side_{name}"], 2),
                    _f(f[f"percentile_side_{name}_usd"], 2),
                    f"{f[f'map_times_above_half_side_{name}']} / {f['map_times']}",
                    _f(f[f"percentile_both_{name}"], 2),
                    _p(f[f"placebo_in_cluster_{name}"]),
                ]
            )
        w(
            _table(
                [
                    "placebo prices",
                    "short-map notional ±0.25%: percentile (fills)",
                    "same, USD-weighted",
                    "map times above 0.5",
                    "long+short map: percentile",
                    "placebo inside nearest short cluster",
                ],
                rows,
            )
        )
        w(
            f"\nPercentile: where the map's notional within ±0.25% of the fill price ranks among 200 placebo prices "
            "per fill (0.5 = no better than random). "
            f"Fills inside the nearest estimated short cluster: {_p(f['fills_in_cluster'])} "
            f"(USD-weighted {_p(f['usd_in_cluster'])}). The nearest 'significant' short cluster sat a median "
            f"{f['cluster_distance_pct']:.1f}% above the close, while the fills "
            f"happened a median {f['fill_distance_pct']:+.2f}% from the close, in the thinner band in between; so the cluster "
            "feature said nothing about these fills, and whatever information there is sits in the finer map (the "
            "percentiles above). Caveats: another venue, two days, "
            "one squeeze; fills of one 5-minute map time are not independent, hence the count of map times.\n"
        )
        if "fills" in images:
            w(f"![map and fills]({images['fills']})\n")
    return out


def _sim_section(
    sim_rows: list[dict[str, Any]] | None, sim_note: str, images: dict[str, str]
) -> list[str]:
    """The report's section on the simulator's ground truth (or the note on why it was skipped)."""
    out: list[str] = []
    w = out.append
    w("## Ground truth: the simulator\n")
    if not sim_rows:
        w(f"{sim_note}\n")
    else:
        w(sim_note + "\n")
        rows = []
        for r in sim_rows:
            rows.append(
                [r["scenario"], r["config"], r["mode"], str(r["bars"])]
                + [
                    x
                    for s in ("long", "short")
                    for x in (
                        f"**{_f(r[f'{s}_spearman_swept'])}**",
                        _f(r[f"{s}_spearman_vol"]),
                        _s(r[f"{s}_r2_gain_vol"]),
                        f"{_f(r[f'{s}_top_precision_map'], 2)} / {_f(r[f'{s}_top_precision_vol'], 2)}",
                    )
                ]
            )
        w("### Swept notional per hour vs the simulator's liquidations\n")
        w(
            _table(
                [
                    "scenario",
                    "settings",
                    "inflow",
                    "hours",
                    "long: map",
                    "long: range×vol",
                    "long: R² gain",
                    "long: top-5% precision map / range×vol",
                    "short: map",
                    "short: range×vol",
                    "short: R² gain",
                    "short: top-5% precision map / range×vol",
                ],
                rows,
            )
        )
        w("\nR² gain: fitted on the first half of the scored hours, measured on the second.\n")
        w(
            "### Pending map vs the true pending map; liquidations inside the estimated top clusters\n"
        )
        rows = []
        for r in sim_rows:
            rows.append(
                [r["scenario"], r["config"], r["mode"], str(r["snapshots"])]
                + [
                    x
                    for s in ("long", "short")
                    for x in (
                        _f(r[f"{s}_map_spearman_mean"]),
                        f"**{_p(r[f'{s}_in_top_est'])}**",
                        _p(r[f"{s}_in_top_true"]),
                        _p(r[f"{s}_chance_est"]),
                    )
                ]
            )
        w(
            _table(
                [
                    "scenario",
                    "settings",
                    "inflow",
                    "snapshots",
                    "long: map ρ",
                    "long: in est. top",
                    "long: in true top",
                    "long: chance",
                    "short: map ρ",
                    "short: in est. top",
                    "short: in true top",
                    "short: chance",
                ],
                rows,
            )
        )
        w(
            "\n*map ρ*: Spearman between the estimated and the true pending map over 0.5% price buckets within 15% "
            "of the close (longs below, shorts above), averaged over snapshots. *in est. top*: share of the "
            "liquidated notional of the next interval (until the next snapshot) whose level lies in the estimated "
            "top 20% of buckets, among the buckets the mark price crossed; *in true top*: the same with the true "
            "map's top buckets (a perfect picture of the positions open at the snapshot; positions opened later are in "
            "neither map, so it is a reference, not a ceiling, and the estimate can exceed it); "
            "*chance*: the top buckets' share of the crossed buckets.\n"
        )
        if "sim" in images:
            w(f"![true vs estimated map]({images['sim']})\n")
    return out


# ------------------------------------------------------------------------------------------------


def run_sim(
    cfgs: list[tuple[str, Any]], days: float, scenarios: list[str], seed: int, img: Path | None
) -> tuple[list[dict[str, Any]], str, Path | None]:
    """Score ``cfgs`` (label, HeatmapConfig) against simulated markets, one per scenario.

    Returns:
        The rows of :func:`render`'s simulator tables, the section's note, and the path of the
        'cascade' map figure (written to ``img``; None when ``img`` is None or no cascade ran).
    """
    from liq_indicator.research.validation import sim_accuracy, sim_map_profiles
    from liq_indicator.sim.market import SimConfig, simulate

    rows: list[dict[str, Any]] = []
    picture = None
    skip = f"{min(7.0, days / 4):g}D"
    sim_cfg = SimConfig().replace(snapshot_every_hours=4.0)
    for k, scn in enumerate(scenarios):
        result = simulate(days, timeframe="5m", seed=seed + k, scenario=scn, config=sim_cfg)
        for label, cfg in cfgs:
            for mode, use_oi in (("open interest", True), ("volume", False)):
                acc = sim_accuracy(result, cfg, use_oi=use_oi, skip=skip)
                rows.append({"scenario": scn, "config": label, "mode": mode, **acc})
        if img is not None and picture is None and scn == "cascade":
            prof = sim_map_profiles(result, cfgs[-1][1], snapshot=-1)
            picture = fig_sim(
                prof,
                f"simulator, scenario 'cascade', seed {seed + k}: map at "
                f"{prof.attrs['time']:%Y-%m-%d %H:%M} (chosen settings, open-interest inflow)",
                img,
            )
    zero = [r[f"{side}_zero_share_real"] for r in rows for side in ("long", "short")]
    note = (
        f"`liq_indicator.sim.market`: {len(scenarios)} scenario(s) ({', '.join(scenarios)}) of {days:g} days each, "
        f"5m candles, seeds {seed}..{seed + len(scenarios) - 1}, true map every 4 h; the first {skip} are left "
        "out (both maps start empty). The estimator sees only the candles (and, in open-interest mode, the "
        "simulated open interest); the simulator knows every position. Caveat: the simulator liquidates with "
        "the same Binance bracket formula the estimator assumes, so this section measures what the estimator "
        "can recover about *who holds what*, not whether the formula is right. And the simulated market is "
        f"quieter than the real one: {min(zero):.0%}–{max(zero):.0%} of its hours have no liquidation on a side "
        "(real data: almost none), which favours a map that is zero when nothing is reached."
    )
    return rows, note, picture
