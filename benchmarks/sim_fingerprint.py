"""Fingerprint of the market simulator's output: a hash of every frame, for kernel refactors.

    python benchmarks/sim_fingerprint.py > after.json
    PYTHONPATH=/path/to/old/checkout python benchmarks/sim_fingerprint.py > before.json
    diff before.json after.json        # no output: bit-identical

Four scenarios, and two of them again with other block sizes (the result must not depend on the
block size). A change meant to be speed-only must leave every hash as it was.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys

import numpy as np
import pandas as pd

from liq_indicator.sim.market import simulate

FRAMES = ("candles", "mark", "funding", "oi", "liquidations", "truth", "liq_map", "positions")
# (scenario, days, seed, block_minutes); None = simulate's default block (about a week)
CASES = (
    ("calm", 20, 0, None),
    ("trend", 20, 1, None),
    ("cascade", 30, 2, None),
    ("squeeze", 30, 3, None),
    ("cascade", 30, 2, 1440),
    ("squeeze", 30, 3, 4320),
    ("calm", 20, 0, 300),
)


def frame_hash(df: pd.DataFrame) -> str:
    """SHA-256 (16 hex digits) of the column names and the bytes of every column."""
    h = hashlib.sha256()
    for col in df.columns:
        h.update(str(col).encode())
        values = np.ascontiguousarray(df[col].to_numpy())
        h.update(repr(values.tolist()).encode() if values.dtype == object else values.tobytes())
    return h.hexdigest()[:16]


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="only the first case (a smoke test)")
    args = ap.parse_args(argv)
    out = {}
    for scenario, days, seed, block in CASES[:1] if args.quick else CASES:
        res = simulate(days, seed=seed, scenario=scenario, block_minutes=block)
        hashes = {name: frame_hash(getattr(res, name)) for name in FRAMES}
        meta = json.dumps(res.meta, sort_keys=True, default=str).encode()
        hashes["meta"] = hashlib.sha256(meta).hexdigest()[:16]
        out[f"{scenario}/{days}d/seed{seed}/block{block}"] = hashes
    json.dump(out, sys.stdout, indent=1, sort_keys=True)
    print()
    return 0


if __name__ == "__main__":
    sys.exit(main())
