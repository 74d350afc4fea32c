"""``liq-indicator validate``: measure the map against real liquidations, out of sample.

Reads the shared data (never copied into the repository), runs the experiments of
:mod:`liq_indicator.research.accuracy` on every truth series (when, how much) and on the fill files
(where), and writes docs/VALIDATION.md with its figures under docs/img/. Every number in the
document comes from this run; the sentences are chosen by the numbers, so a rerun on other data
cannot leave a stale claim behind. A series whose files are absent is skipped and named in the
report; a file that is present but unreadable is an error.
"""

from __future__ import annotations

import argparse
import os
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from liq_indicator.cli.options import scenario_names
from liq_indicator.config import DEFAULT_PAIR
from liq_indicator.io.argtypes import choice_list, integer, real
from liq_indicator.io.shared import DATA_ENV, shared_data_dir

if TYPE_CHECKING:
    import pandas as pd

HISTORY = Path("history/binance")
"""The Binance datadir of the shared data: DEFAULT_PAIR's 5m candles from HISTORY_START."""
TRUTHWINDOW = Path("truthwindow/binance")
"""The Binance datadir of the truth window: 5m and 1h candles, 1h open interest."""
OI_4H = Path("truth/coinglass_btc_open_interest_4h_all_exchanges.csv")
HISTORY_START = "2023-01-01"
"""First day of the 5m Binance history: the daily series are scored from here (plus warm-up)."""
SHIPPED = "btc-binance"
ALL_EXCHANGES = "btc-all-exchanges"
"""The shipped preset scored on series of liquidations summed over the major exchanges."""
FILL_TOLERANCE = {"hyperliquid_2025_05": 0.0, "whalebot_2025_09": 0.003}
"""How far beyond the traded range a fill's price may lie: the whale-alert feed gives the
liquidation order's price, about 0.3% beyond the candle (research.truth.load_fills)."""


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
        "--preset",
        default=SHIPPED,
        help=f"the shipped default's preset, name or JSON path (default {SHIPPED}); its "
        "calibrated_to bars are left out of the scores",
    )
    parser.add_argument(
        "--all-exchanges-preset",
        default=ALL_EXCHANGES,
        help=f"the preset scored as the shipped one on all-exchange series, name or JSON path "
        f"(default {ALL_EXCHANGES}; 'none': the --preset one); the --preset one is scored there too",
    )
    parser.add_argument(
        "--boot",
        type=integer(20, 100_000),
        default=300,
        help="bootstrap replicates per interval (default 300)",
    )
    parser.add_argument(
        "--sim-days",
        type=real(0),
        default=0.0,
        help="days simulated per scenario for the simulator section (default 0: skipped)",
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
        "--seed", type=integer(0, 2**62), default=7, help="simulator and bootstrap seed (default 7)"
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


def _present(path: Path) -> bool:
    from liq_indicator.io.paths import is_present

    return is_present(path, "data file")


def _candles(path: Path) -> pd.DataFrame:
    from liq_indicator.io.datadir import read_candles

    return read_candles(_need(path))


def _pair_file(datadir: Path, timeframe: str, candle_type: str = "futures") -> Path:
    """DEFAULT_PAIR's ``candle_type`` file of ``timeframe`` in ``datadir``."""
    from liq_indicator.io.datadir import pair_file

    return pair_file(datadir, DEFAULT_PAIR, timeframe, candle_type)


def load_series(data: Path, preset_doc: dict[str, Any] | None) -> tuple[list[Any], list[str]]:
    """The inputs of every truth series under ``data`` whose files exist.

    Returns:
        ``(inputs, notes)``: :class:`~liq_indicator.research.accuracy.SeriesInputs` per series,
        and a sentence per series skipped for a missing file.

    Raises:
        InputError: a file that exists but cannot be read.
    """
    import pandas as pd

    from liq_indicator.research.accuracy import SeriesInputs, candle_set, oi_frame
    from liq_indicator.research.truth import SHARED_TRUTH, shared_truth

    exclude = _calibrated_window(preset_doc)
    out, notes = [], []
    hist: pd.DataFrame | None = None
    history_5m = _pair_file(data / HISTORY, "5m")

    def history() -> pd.DataFrame:
        nonlocal hist
        if hist is None:
            hist = _candles(history_5m)
        return hist

    for name in ("binance_4h", "all_1h", "binance_1d", "coinalyze_binance_1d"):
        file = data / "truth" / SHARED_TRUTH[name][0]
        if not _present(file):
            notes.append(f"{name}: {file} not found, skipped")
            continue
        truth = shared_truth(name, data)
        series_notes: list[str] = []
        if name == "all_1h":
            tw = data / TRUTHWINDOW
            needed = [_pair_file(tw, tf) for tf in ("5m", "1h")]
            needed.append(_pair_file(tw, "1h", "open_interest"))
            if not all(_present(p) for p in needed):
                notes.append(f"{name}: truthwindow candles or open interest not found, skipped")
                continue
            candles = candle_set(_candles(needed[0]), _candles(needed[1]))
            oi = _candles(needed[2])
            series_notes.append(
                "Binance candles against liquidations summed over all major exchanges: scored with "
                "the all-exchange preset (Binance's USD divided by its measured share) and with the "
                "Binance one"
            )
        else:
            if not _present(history_5m):
                notes.append(f"{name}: {history_5m} not found, skipped")
                continue
            first = max(truth.frame.index[0], pd.Timestamp(HISTORY_START, tz="UTC"))
            c5 = history()
            c5 = c5[c5["date"] >= first - pd.Timedelta("30D")]
            truth = truth.between(HISTORY_START)
            candles = candle_set(c5)
            oi = None
            if name == "binance_4h" and _present(data / OI_4H):
                oi = oi_frame(read_csv(data / OI_4H))
        ex = exclude.get(name)
        if ex is not None:
            series_notes.append(f"bars {ex[0]} .. {ex[1]} left out: the preset was fitted on them")
        out.append(SeriesInputs(truth, candles, oi, exclude=ex, notes=series_notes))
    return out, notes


def _calibrated_window(doc: dict[str, Any] | None) -> dict[str, tuple[Any, Any]]:
    """Series name -> (first_bar, last_bar) the preset was fitted on (binance_4h unless named)."""
    if not doc:
        return {}
    cal = doc.get("calibrated_to") or {}
    if not (cal.get("first_bar") or cal.get("last_bar")):
        return {}
    from liq_indicator.research.truth import SHARED_TRUTH

    named = str(cal.get("series") or cal.get("truth") or cal.get("name") or "")
    series = next(
        (
            k
            for k, (f, _) in SHARED_TRUTH.items()
            if named in (k, f) or (named and named.endswith(f))
        ),
        "binance_4h",
    )
    return {series: (cal.get("first_bar"), cal.get("last_bar"))}


def load_models(preset: str) -> tuple[list[tuple[str, Any]], dict[str, Any] | None, list[str]]:
    """The shipped default (``preset`` if it exists, else ``HeatmapConfig()``) and the design preset."""
    from liq_indicator.config import HeatmapConfig, preset_names, read_preset
    from liq_indicator.errors import ConfigError

    notes = []
    try:
        doc: dict[str, Any] | None = read_preset(preset)
        shipped = HeatmapConfig.preset(preset)
        label = f"shipped ({preset})"
    except ConfigError:
        if preset != SHIPPED:
            raise
        doc, shipped, label = None, HeatmapConfig(), "shipped (HeatmapConfig())"
        notes.append(
            f"preset {preset!r} not found: the shipped default HeatmapConfig() is scored and no "
            "calibration window is left out"
        )
    models = [(label, shipped)]
    if "design" in preset_names():
        models.append(("design", HeatmapConfig.preset("design")))
    else:
        notes.append("no 'design' preset in this build: the comparison row is missing")
    return models, doc, notes


def _scope_doc(preset: str) -> dict[str, Any] | None:
    from liq_indicator.config import read_preset

    return None if preset.lower() == "none" else read_preset(preset)


def series_models(
    models: list[tuple[str, Any]], venue: str, scope_preset: str
) -> tuple[list[tuple[str, Any]], str]:
    """The models scored on a series of ``venue`` and the label of its shipped one.

    On an all-exchange series (``venue == 'all'``) the ``scope_preset`` (the shipped default for
    USD summed over the major exchanges) is scored first and is the shipped model; the default is
    kept beside it, relabelled as the venue's own scope. Elsewhere: ``models`` as they are.
    """
    from liq_indicator.config import HeatmapConfig

    if venue != "all" or scope_preset.lower() == "none":
        return models, models[0][0]
    label = f"shipped ({Path(scope_preset).stem})"
    (first, cfg), *rest = models
    own = first.removeprefix("shipped (").removesuffix(")")
    return [
        (label, HeatmapConfig.preset(scope_preset)),
        (f"{own}, its venue's USD", cfg),
        *rest,
    ], label


def run(args: argparse.Namespace) -> int:
    """Run ``liq-indicator validate`` with the parsed ``args``; returns the exit code."""
    import pandas as pd

    from liq_indicator.cli.validate_report import fig_fills, fig_spearman, render, run_sim
    from liq_indicator.errors import InputError
    from liq_indicator.io.paths import input_dir, is_present, output_dir, output_file, writing
    from liq_indicator.research.accuracy import fill_summary, fill_windows, series_scores
    from liq_indicator.research.truth import SHARED_FILLS, shared_fills

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

    models, doc, notes = load_models(args.preset)
    inputs, skipped = load_series(data, doc)
    frames, series_notes = [], {}
    for inp in inputs:
        print(f"validate: {inp.truth.name}", flush=True)
        chosen, shipped = series_models(models, inp.truth.venue, args.all_exchanges_preset)
        scores, cant = series_scores(inp, chosen, n_boot=args.boot, seed=args.seed)
        frames.append(scores.assign(shipped=scores["model"] == shipped))
        skipped += cant
        series_notes[inp.truth.name] = inp.notes
    if not frames:
        raise InputError(
            f"no truth series found under {data}; point --data (or ${DATA_ENV}) at the shared "
            "data directory (it holds truth/, history/ and truthwindow/, see its README.md)"
        )
    scores = pd.concat(frames, ignore_index=True)
    fills: list[dict[str, Any]] = []
    history_5m = _pair_file(data / HISTORY, "5m")
    for name, file in SHARED_FILLS.items():
        if not (_present(data / "truth" / file) and _present(history_5m)):
            skipped.append(f"fills {name}: its file or the 5m history not found")
            continue
        print(f"validate: fills {name}", flush=True)
        f = shared_fills(name, data)
        hist = _candles(history_5m)
        for label, cfg in models:
            w, pf = fill_windows(f, hist, cfg, tolerance=FILL_TOLERANCE.get(name, 0.0))
            fills.append(
                {
                    "fills_file": name,
                    "model": label,
                    **fill_summary(w, pf, n_boot=args.boot, seed=args.seed),
                }
            )
    fills_df = pd.DataFrame(fills)
    fig_spearman(scores, models[0][0], image("spearman"))
    if len(fills_df):
        fig_fills(fills_df, image("fills"))
    sim_rows: list[dict[str, Any]] = []
    scenarios = list(scenario_names()) if args.sim_scenarios is None else args.sim_scenarios
    sim_note = "Skipped (`--sim-days 0`, the default)."
    if args.sim_days > 0 and scenarios:
        print(
            f"validate: simulator, {len(scenarios)} scenario(s) x {args.sim_days:g} days",
            flush=True,
        )
        sim_rows, sim_note, pic = run_sim(models, args.sim_days, scenarios, args.seed, image("sim"))
        if pic is None:
            images.pop("sim", None)
    meta = {
        "generated": pd.Timestamp.now(tz="UTC").strftime("%Y-%m-%d %H:%M UTC"),
        "seconds": time.time() - t0,
        "boot": args.boot,
        "preset": args.preset,
        "preset_doc": doc,
        "notes": notes,
        "skipped": skipped,
        "series_notes": series_notes,
        "tolerance": FILL_TOLERANCE,
        "models": [m[0] for m in models],
        "scope_preset": args.all_exchanges_preset,
        "scope_doc": _scope_doc(args.all_exchanges_preset),
    }
    text = render(scores, fills_df, sim_rows, sim_note, images, meta)
    with writing(out, "--out"):
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(text)
    print(
        f"validate: wrote {out} and {len(images)} figure(s) in {img_dir} ({time.time() - t0:.0f} s)"
    )
    return 0
