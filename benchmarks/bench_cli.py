"""How long ``liq-indicator --help`` takes (target: <= 0.3 s): the console script in a fresh process,
the median of ``--runs`` runs, and the modules that building the parser imports.

Run: ``python benchmarks/bench_cli.py [--runs 7]``. Timing lives here, not in the tests;
tests/test_io.py checks only that no heavy module is imported.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time
from pathlib import Path

CLI = Path(sys.executable).with_name("liq-indicator")
HEAVY = (
    "numba",
    "pandas",
    "numpy",
    "pyarrow",
    "plotly",
    "matplotlib",
    "freqtrade",
    "aiohttp",
    "ccxt",
)


def wall_seconds(argv: list[str], runs: int) -> list[float]:
    """Wall-clock seconds of ``runs`` fresh processes running ``argv``."""
    out = []
    for _ in range(runs):
        t0 = time.perf_counter()
        subprocess.run(argv, capture_output=True, check=True)
        out.append(time.perf_counter() - t0)
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=7)
    args = parser.parse_args(argv)
    baseline = wall_seconds([sys.executable, "-c", "pass"], args.runs)
    helps = wall_seconds([str(CLI), "--help"], args.runs)
    code = (
        "import sys; from liq_indicator.cli import build_parser; build_parser(); "
        f"print(' '.join(m for m in {HEAVY!r} if m in sys.modules))"
    )
    loaded = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout.split()
    print(f"python -c pass:          median {statistics.median(baseline):.3f} s")
    print(
        f"liq-indicator --help:    median {statistics.median(helps):.3f} s "
        f"(min {min(helps):.3f}, max {max(helps):.3f}, {args.runs} runs; target <= 0.3 s)"
    )
    print(f"imported by the parser:  {', '.join(loaded) or 'none of ' + ', '.join(HEAVY)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
