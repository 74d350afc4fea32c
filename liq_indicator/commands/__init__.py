"""Subcommands of the ``liq-indicator`` CLI.

Each module here exposes ``NAME`` (the subcommand), ``HELP`` (one line), ``add_arguments(parser)``
and ``run(args) -> int``. ``liq_indicator.cli`` lists them in ``COMMANDS``. Each keeps its heavy imports (numba, plotly,
freqtrade, aiohttp) inside ``run``, so ``liq-indicator --help`` stays fast and a missing optional
dependency only affects its own command. ``argtypes`` holds the option types they share (a bad
number or timeframe stops argparse); every path goes through ``liq_indicator.paths``.
"""
