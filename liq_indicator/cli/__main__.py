"""``python -m liq_indicator.cli ...``: the same as ``liq-indicator ...``."""

import sys

from liq_indicator.cli import main

sys.exit(main())
