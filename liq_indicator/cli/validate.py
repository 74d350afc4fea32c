"""``liq-indicator validate``: measure the map against real and simulated liquidations.

Reads the shared data (never copied into the repository), runs the experiments of
:mod:`liq_indicator.research.validation` and writes docs/VALIDATION.md with its figures under docs/img/.
Every number in the document comes from this run; the narrative sentences are chosen by the
numbers, so a rerun on other data cannot leave a stale claim behind.
"""

from __future__ import annotations

import argparse
import os
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from liq_indicator.cli.options import scenario_names
from liq_indicator.io.argtypes import choice_list, integer, real, utc_date
from liq_indicator.io.shared import DATA_ENV, shared_data_dir

if TYPE_CHECKING:
    import pandas as pd

TRUTHWINDOW = Path("truthwindow/binance/futures")
HOURLY_TRUTH = Path("truth/btc_liquidations_oi_1h_all_exchanges.csv")
FILLS = Path("truth/btc_liquidation_events_hyperliquid_2025-05.csv")
HISTORY_5M = Path("history/binance/futures/BTC_USDT_USDT-5m-futures.feather")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the options of ``liq-indicator validate`` to ``parser``."""
    parser.add_argument(
        "--data",
        type=Path,
        default=None,
        help=f"shared data directory (default: ${DATA_ENV} or ../shared/data beside the repo)",
    )
    parser.add_argument(
        "--out",
        type=Path,
        default=Path("docs/VALIDATION.md"),
        help="Markdown report to write (default: docs/VALIDATION.md)",
    )
    parser.add_argument(
        "--img-dir",
        type=Path,
        default=Path("docs/img"),
        help="directory for the PNG figures (default: docs/img)",
    )
    parser.add_argument(
        "--split",
        type=utc_date,
        default="2026-01-16",
        help="first UTC day of the test part; settings are chosen before it (default: 2026-01-16)",
    )
    parser.add_argument(
        "--sim-days",
        type=real(0),
        default=60.0,
        help="days simulated per scenario for the ground-truth section (0 skips it; default 60)",
    )
    parser.add_argument(
        "--sim-scenarios",
        type=choice_list(scenario_names()),
        default=None,
        metavar="NAMES",
        help="comma-separated simulator scenarios (default: all of "
        "liq_indicator.sim.market.SCENARIOS)",
    )
    parser.add_argument(
        "--seed", type=integer(0, 2**62), default=7, help="simulator and placebo seed (default 7)"
    )


# ------------------------------------------------------------------------------------------------
# loading


def _need(path: Path) -> Path:
    from liq_indicator.errors import InputError
    from liq_indicator.io.paths import input_file, is_present

    if not is_present(path, "data file"):
        raise InputError(
            f"{path} not found; point --data (or ${DATA_ENV}) at the shared data directory "
            "(it holds truthwindow/, truth/ and history/, see its README.md)"
        )
    return input_file(path, "data file")


def read_csv(path: Path) -> pd.DataFrame:
    """A CSV of the shared data; a missing, unreadable or malformed one is an InputError naming it."""
    import pandas as pd

    from liq_indicator.io.paths import reading

    _need(path)
    with reading(path, "data file"):
        return pd.read_csv(path)


def load_truth_window(data: Path, split: str) -> Any:
    """The real truth window under ``data`` (see :class:`~liq_indicator.research.validation.TruthWindow`).

    Raises:
        InputError: naming a missing or unreadable file and where to point ``--data``.
    """
    import pandas as pd

    from liq_indicator.io.datadir import read_candles
    from liq_indicator.research.validation import TruthWindow

    d = data / TRUTHWINDOW
    truth = read_csv(data / HOURLY_TRUTH)
    truth["date"] = pd.to_datetime(truth["date"], utc=True)
    return TruthWindow(
        candles_1h=read_candles(_need(d / "BTC_USDT_USDT-1h-futures.feather")),
        candles_5m=read_candles(_need(d / "BTC_USDT_USDT-5m-futures.feather")),
        open_interest=read_candles(_need(d / "BTC_USDT_USDT-1h-open_interest.feather")),
        truth=truth[["date", "liquidation_long_usd", "liquidation_short_usd", "oi_open"]],
        split=pd.Timestamp(split, tz="UTC"),
    )


def run(args: argparse.Namespace) -> int:
    """Run ``liq-indicator validate`` with the parsed ``args``; returns the exit code."""
    import pandas as pd

    from liq_indicator.cli.validate_report import (
        fig_fills,
        fig_scatter,
        fig_spearman,
        fig_timeline,
        render,
        run_sim,
    )
    from liq_indicator.config import HeatmapConfig
    from liq_indicator.errors import InputError
    from liq_indicator.io.datadir import read_candles
    from liq_indicator.io.paths import input_dir, is_present, output_dir, output_file, writing
    from liq_indicator.research.validation import fill_cluster_stats, truth_window_experiment

    t0 = time.time()
    data = (args.data or shared_data_dir()).expanduser()
    if not is_present(data, "data directory"):
        raise InputError(f"data directory {str(data)!r} not found; pass --data or set ${DATA_ENV}")
    input_dir(data, "data directory")
    # fail now, not after minutes of work: both outputs must be writable
    output_dir(args.img_dir, "--img-dir")
    output_file(args.out, "--out", parents=True)
    img_dir: Path = args.img_dir
    out: Path = args.out
    img_rel = Path(os.path.relpath(img_dir, out.parent if str(out.parent) else "."))
    images: dict[str, str] = {}

    def image(key: str) -> Path:
        images[key] = (img_rel / f"validation_{key}.png").as_posix()
        return img_dir / f"validation_{key}.png"

    print(f"validate: truth window from {data}", flush=True)
    window = load_truth_window(data, args.split)
    res = truth_window_experiment(window)
    chosen = res.selection.config
    fig_spearman(res.scores, image("spearman"))
    head = res.runner.table(chosen, "5m", "volume")
    fig_scatter(
        head, "chosen settings, 5m candles, volume inflow: test-part hours", image("scatter")
    )
    fig_timeline(
        head,
        window.split,
        "real vs estimated liquidations per day (chosen settings, 5m candles, volume inflow)",
        image("timeline"),
    )

    fills_res = None
    meta: dict[str, Any] = {}
    if is_present(data / FILLS, "data file") and is_present(data / HISTORY_5M, "data file"):
        print("validate: Hyperliquid fills", flush=True)
        fills = read_csv(data / FILLS)
        hist = read_candles(data / HISTORY_5M)
        fills_res = fill_cluster_stats(fills, hist, chosen, side="short", seed=args.seed)
        fig_fills(fills, fills_res, image("fills"))
    else:
        meta["fills_note"] = f"{data / FILLS} or {data / HISTORY_5M} not found"

    sim_rows: list[dict[str, Any]] = []
    scenarios = list(scenario_names()) if args.sim_scenarios is None else args.sim_scenarios
    if args.sim_days > 0 and scenarios:
        print(
            f"validate: simulator, {len(scenarios)} scenario(s) x {args.sim_days:g} days",
            flush=True,
        )
        sim_rows, sim_note, pic = run_sim(
            [("defaults", HeatmapConfig()), ("chosen", chosen)],
            args.sim_days,
            scenarios,
            args.seed,
            image("sim"),
        )
        if pic is None:
            images.pop("sim", None)
    else:
        sim_note = "Skipped (`--sim-days 0`)."

    meta.update(
        generated=pd.Timestamp.now(tz="UTC").strftime("%Y-%m-%d %H:%M UTC"),
        seconds=time.time() - t0,
    )
    text = render(res, fills_res, sim_rows, sim_note, images, meta)
    with writing(out, "--out"):
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(text)
    print(
        f"validate: wrote {out} and {len(images)} figure(s) in {img_dir} ({time.time() - t0:.0f} s)"
    )
    return 0
