"""How long the validation's block bootstrap takes: ``bootstrap_ci(spearman, ...)`` with 500
resamples over 500 to 20,000 bars (2,000 bars is about a year of 4h bars, the longest series the
validation scores; target: under 1 s there).

Run: ``python benchmarks/bench_metrics.py [--quick]``. Timing lives here, not in the tests;
tests/test_metrics.py checks what the bootstrap returns.
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from liq_indicator.research.metrics import bootstrap_ci, spearman


def bootstrap_times(sizes: list[int], repeat: int = 3) -> list[str]:
    """Best of ``repeat`` wall-clock seconds of a 500-resample Spearman bootstrap per size."""
    rows = ["| bars | seconds (500 resamples) | ms per resample |", "|---:|---:|---:|"]
    for n in sizes:
        rng = np.random.default_rng(6)
        x = rng.normal(size=n)
        y = x + rng.normal(size=n)
        best = float("inf")
        for _ in range(repeat):
            t = time.perf_counter()
            bootstrap_ci(spearman, x, y, n_boot=500)
            best = min(best, time.perf_counter() - t)
        rows.append(f"| {n:,} | {best:.3f} | {best / 500 * 1e3:.2f} |")
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="smaller sizes (a smoke run)")
    args = parser.parse_args()
    sizes = [500, 2000] if args.quick else [500, 2000, 5000, 20000]
    print("\n".join(bootstrap_times(sizes)))


if __name__ == "__main__":
    main()
