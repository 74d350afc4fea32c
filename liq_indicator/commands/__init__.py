"""Subcommands of the ``liq-indicator`` CLI.

Each module here exposes ``NAME`` (the subcommand), ``HELP`` (one line), ``add_arguments(parser)``
and ``run(args) -> int``. ``liq_indicator.cli`` lists them in ``COMMANDS`` and imports each lazily,
so ``liq-indicator --help`` stays fast and a missing optional dependency only affects its command.
"""
