"""Speed of the market simulator: one year of 5m candles per scenario, in seconds.

    python benchmarks/bench_sim.py [--days 365] [--scenarios calm cascade]

Compilation is excluded (a one-day warm-up call first; the kernels are cached on disk anyway).
Prints wall and CPU seconds; the target is under 30 s for a year on one core.
"""

from __future__ import annotations

import argparse
import sys
import time

from liq_indicator.sim.market import SCENARIOS, simulate


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--days", type=float, default=365.0)
    ap.add_argument("--timeframe", default="5m")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--scenarios", nargs="*", default=list(SCENARIOS))
    args = ap.parse_args(argv)

    simulate(1, timeframe=args.timeframe, seed=args.seed)  # compile / load the cache
    print(
        f"{'scenario':<10} {'days':>6} {'wall s':>8} {'cpu s':>8} {'candles':>9} "
        f"{'liquidations':>13} {'positions':>11}"
    )
    for name in args.scenarios:
        wall, cpu = time.perf_counter(), time.process_time()
        res = simulate(args.days, timeframe=args.timeframe, seed=args.seed, scenario=name)
        wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
        print(
            f"{name:<10} {args.days:>6g} {wall:>8.1f} {cpu:>8.1f} {len(res.candles):>9,} "
            f"{len(res.liquidations):>13,} {res.meta['positions_opened']:>11,}"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
