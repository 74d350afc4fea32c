"""``python -m liq_indicator.offline --datadir D [--port P] ...``: the same as ``liq-indicator exchange``."""

from __future__ import annotations

import argparse
import sys

from liq_indicator.errors import LiqIndicatorError
from liq_indicator.offline import command as exchange


def main(argv: list[str] | None = None) -> int:
    """Parse ``argv`` and serve until ``--max-seconds`` or SIGINT/SIGTERM; returns the exit code."""
    parser = argparse.ArgumentParser(
        prog="python -m liq_indicator.offline", description=exchange.HELP
    )
    exchange.add_arguments(parser)
    args = parser.parse_args(argv)
    try:
        return exchange.run(args)
    except LiqIndicatorError as exc:
        print(f"{parser.prog}: error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
