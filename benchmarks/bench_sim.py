"""Speed of the market simulator: one year of 5m candles per scenario, in seconds.

    python benchmarks/bench_sim.py [--days 365] [--scenarios calm cascade] [--repeat 3]

Compilation is excluded (a one-day warm-up call first; the kernels are cached on disk anyway).
Prints wall and CPU seconds, each the best of ``--repeat`` runs (on a shared machine compare
versions back to back); the target is under 30 s for a year on one core.
"""

from __future__ import annotations

import argparse
import math
import sys
import time

from liq_indicator.sim.market import SCENARIOS, simulate


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--days", type=float, default=365.0)
    ap.add_argument("--timeframe", default="5m")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--scenarios", nargs="*", default=list(SCENARIOS))
    ap.add_argument("--repeat", type=int, default=1, help="runs per scenario; the best is shown")
    args = ap.parse_args(argv)

    simulate(1, timeframe=args.timeframe, seed=args.seed)  # compile / load the cache
    print(
        f"{'scenario':<10} {'days':>6} {'wall s':>8} {'cpu s':>8} {'candles':>9} "
        f"{'liquidations':>13} {'positions':>11}"
    )
    for name in args.scenarios:
        wall = cpu = math.inf
        for _ in range(max(args.repeat, 1)):
            wall0, cpu0 = time.perf_counter(), time.process_time()
            res = simulate(args.days, timeframe=args.timeframe, seed=args.seed, scenario=name)
            wall = min(wall, time.perf_counter() - wall0)
            cpu = min(cpu, time.process_time() - cpu0)
        print(
            f"{name:<10} {args.days:>6g} {wall:>8.2f} {cpu:>8.2f} {len(res.candles):>9,} "
            f"{len(res.liquidations):>13,} {res.meta['positions_opened']:>11,}"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
